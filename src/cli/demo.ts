/**
 * `ringfence demo`, what `npm start` runs until the simulation lands: the same positions under isolated and
 * cross margin through the calculator, so the difference isolation makes is visible at a glance.
 */
import { calc } from '../core/scenario.ts';
import type { CliIO } from './calc.ts';
import { formatResult } from './calc.ts';

const positions = [
  { symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '100000', markPrice: '97000', leverage: '50' },
  { symbol: 'ETHUSDT', side: 'short', size: '10', entryPrice: '3500', markPrice: '3400', leverage: '2' },
];

export function runDemo(io: CliIO): number {
  io.stdout('ringfence demo: one account, a 50x BTC long and a 2x ETH short, BTC marked 3% down.\n\n');
  io.stdout('Isolated: each position carries its own collateral and liquidation price.\n');
  io.stdout(formatResult(calc({ venue: 'ringfence', mode: 'isolated', positions })));
  io.stdout(
    '\nCross: the same positions share one wallet of 37,500 USDT (the isolated collaterals summed).\n',
  );
  io.stdout(formatResult(calc({ venue: 'ringfence', mode: 'cross', walletBalance: '37500', positions })));
  io.stdout(
    '\nIsolated, the 50x long is past its liquidation price and can lose only its own 1,940 USDT; the ETH short is\n' +
      'untouched. Cross, nothing is liquidated yet, but all 37,500 USDT stand behind the BTC long: a fall to its\n' +
      'cross liquidation price takes the ETH collateral with it.\n',
  );
  io.stdout(
    '\nTry your own: echo \'{"venue":"bybit-linear","positions":[{"symbol":"BTCUSDT","side":"long","size":"1","entryPrice":"20000","leverage":"50"}]}\' | npx ringfence calc\n',
  );
  return 0;
}
