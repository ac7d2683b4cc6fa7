/**
 * What an index move costs with N silos holding BTC as collateral (docs/multi-asset-collateral.md), the holder index
 * against checking every holder, in the same run.
 *
 *   npm run bench -- collateral [--silos 20000] [--quotes 400]
 *
 * BTCUSDT (three oracle sources, mark = index) prices BTC held in USDT silos. N traders each hold one silo with
 * 0.01 BTC and 100 USDT and one 10x BTCUSDT leg of 0.01 (half long, half short) against a maker. The first quote
 * after they open files every silo (its legs and its holding): reported apart. Then quiet quotes (±0.1) alternate
 * in blocks with the same quotes each followed by what the engine did before the holder index — an exact check of
 * every holder (`touchCross`, the re-check a touched silo gets) and the re-filing it causes on the next quote: the
 * peer. Both through the product's code.
 */

import { collateralAsset } from '../src/engine/collateral.ts';
import type { Engine } from '../src/engine/engine.ts';
import { touchCross } from '../src/engine/liquidation.ts';
import { engineWithPositions, must, T0, TimedQuotes } from './fixture.ts';
import { fmtInt, intArg, parseArgs, round, say, summarize } from './lib.ts';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  const n = intArg(a, 'silos', 20_000);
  const quotes = intArg(a, 'quotes', 400);
  const e = engineWithPositions(0, () => {});
  const time = T0 + 1_000;
  const cmd = (c: Record<string, unknown>) => must(e, { ...c, time } as never);
  cmd({ type: 'setCollateralAsset', asset: 'BTC', settle: 'USDT', dp: 8, priceMarket: 'BTCUSDT' });
  cmd({ type: 'deposit', account: 'maker', asset: 'USDT', amount: '100000000' });
  cmd({ type: 'setLeverage', account: 'maker', symbol: 'BTCUSDT', leverage: '2' });
  for (let i = 0; i < n; i++) {
    const id = `h${i}`;
    cmd({ type: 'deposit', account: id, asset: 'USDT', amount: '1000' });
    cmd({ type: 'deposit', account: id, asset: 'BTC', amount: '0.1' });
    cmd({ type: 'createSilo', account: id, silo: 'box', asset: 'USDT', riskModel: 'standalone' });
    cmd({ type: 'transferCollateral', account: id, from: 'free', to: 'box', asset: 'BTC', amount: '0.01' });
    cmd({ type: 'transferCollateral', account: id, from: 'free', to: 'box', amount: '100' });
    cmd({ type: 'setLeverage', account: id, symbol: 'BTCUSDT', leverage: '10', silo: 'box' });
    const long = i % 2 === 0;
    const price = '60000';
    cmd({
      type: 'placeOrder',
      account: 'maker',
      symbol: 'BTCUSDT',
      side: long ? 'sell' : 'buy',
      orderType: 'limit',
      size: '0.01',
      price,
    });
    cmd({
      type: 'placeOrder',
      account: id,
      symbol: 'BTCUSDT',
      side: long ? 'buy' : 'sell',
      orderType: 'limit',
      size: '0.01',
      price,
      silo: 'box',
    });
    if ((i + 1) % 5_000 === 0) say(`  silos opened: ${fmtInt(i + 1)}`);
  }
  const c = collateralAsset(e, 'BTC', 'USDT')!;
  const silos = [...c.holders];
  const q = new TimedQuotes(e, time);
  const quote = (price: string): number => q.quote(price);
  const checkAll = (en: Engine): number => {
    const s = process.hrtime.bigint();
    for (const silo of silos) touchCross(en, silo.account, silo.asset, silo);
    return Number(process.hrtime.bigint() - s);
  };
  const firstNs = quote('60000');
  const indexed: number[] = [];
  const every: number[] = [];
  // Blocks of quotes, alternating: a block under the holder index, then a block in which every quote is followed by
  // an exact check of every holder — which leaves every leg and holding to be re-filed, as the old design did on
  // each quote: the next quote pays for that re-filing, so it is counted in the peer's block (its first quote pays
  // the holder-index block's nothing). The first quote of a holder-index block pays for the peer's last check: not
  // counted. Warmed alike: the first pair of blocks is not counted.
  const BLOCK = 20;
  const blocks = Math.max(2, Math.ceil(quotes / BLOCK)) + 1;
  for (let b = 0; b < blocks; b++) {
    const keep = b > 0;
    for (let i = 0; i <= BLOCK; i++) {
      const ns = quote(i % 2 === 0 ? '60000.1' : '60000');
      if (keep && i > 0) indexed.push(ns);
    }
    for (let i = 0; i < BLOCK; i++) {
      const ns = quote(i % 2 === 0 ? '60000.1' : '60000') + checkAll(e);
      if (keep) every.push(ns);
    }
  }
  const us = (ns: number) => round(ns / 1_000, 1);
  const x = summarize(Float64Array.from(indexed));
  const y = summarize(Float64Array.from(every));
  say(`${fmtInt(c.holders.size)} silos holding BTC, ${fmtInt(c.index.size)} in the holder index`);
  say(`first quote after opening (files every silo): ${round(firstNs / 1e6, 1)} ms`);
  say(`quote, holder index: p50 ${us(x.p50)} µs, p99 ${us(x.p99)} µs, mean ${us(x.mean)} µs`);
  say(
    `quote + every holder checked: p50 ${us(y.p50)} µs, p99 ${us(y.p99)} µs, mean ${us(y.mean)} µs (${round(y.mean / x.mean, 0)}x)`,
  );
  return {
    silos: c.holders.size,
    filed: c.index.size,
    firstQuoteMs: round(firstNs / 1e6, 1),
    quoteUs: { p50: us(x.p50), p99: us(x.p99), mean: us(x.mean) },
    everyHolderUs: { p50: us(y.p50), p99: us(y.p99), mean: us(y.mean) },
    ratio: round(y.mean / x.mean, 1),
  };
}
