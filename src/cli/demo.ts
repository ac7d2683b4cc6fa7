/**
 * `ringfence demo`, what `npm start` runs: the default simulation on the embedded data — a seeded population of
 * 5,000 traders through a month of real BTC/USD minutes (and two synthetic, correlated markets with shocks of their
 * own) under every margin policy, side by side; prints the table and where the HTML report is.
 * `ringfence demo --calc` prints the earlier worked example instead: the same positions under isolated and cross
 * margin through the calculator.
 */
import { calc } from '../core/scenario.ts';
import { CsvError } from '../sim/csv.ts';
import { SimulateError } from '../sim/simulate.ts';
import type { CliIO } from './calc.ts';
import { formatResult } from './calc.ts';
import {
  DEFAULT_REPORT,
  describeRun,
  exitCode,
  hybridNotes,
  optionsNotes,
  renderSummaryTable,
  simulate,
  summaryTable,
} from './simulate.ts';

/** The demo's population: enough for every policy to show its character, small enough to finish in seconds. */
export const DEMO_TRADERS = 5_000;

const positions = [
  { symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '100000', markPrice: '97000', leverage: '50' },
  { symbol: 'ETHUSDT', side: 'short', size: '10', entryPrice: '3500', markPrice: '3400', leverage: '2' },
];

function calcDemo(io: CliIO): number {
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

export async function runDemo(io: CliIO, opts: { calc?: boolean; tty?: boolean } = {}): Promise<number> {
  if (opts.calc) return calcDemo(io);
  io.stdout(
    'ringfence demo: the same seeded traders and the same price path under each margin policy.\n' +
      '(`ringfence simulate --help` for your own data, population and policies; `ringfence demo --calc` for the calculator.)\n\n',
  );
  const started = Date.now();
  try {
    const out = await simulate({ report: DEFAULT_REPORT }, opts.tty === true, { traders: DEMO_TRADERS });
    io.stdout(describeRun(out.summary));
    io.stdout(`\n${renderSummaryTable(summaryTable(out.summary))}`);
    const notes = hybridNotes(out.summary);
    if (notes) io.stdout(`\n${notes}`);
    const options = optionsNotes(out.summary);
    if (options) io.stdout(`\n${options}`);
    io.stdout(
      '\nliquidations: buckets found below maintenance; collateral lost: what those liquidations took from traders;\n' +
        'contagion: traders who had a position closed that was not itself underwater (cross: the rest of the\n' +
        'account pays for, and is sold to cover, the position that failed).\n',
    );
    io.stdout(`\nreport: ${out.reportPath} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    return exitCode(out.summary);
  } catch (e) {
    if (e instanceof SimulateError || e instanceof CsvError) {
      io.stderr(`ringfence demo: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
