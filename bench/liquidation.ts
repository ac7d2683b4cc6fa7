/**
 * Liquidation detection and cascade cost.
 *
 *   npm run bench -- liquidation [--sizes 10000,100000,1000000] [--ticks 2000] [--cascade 210000]
 *
 * 1. Per-tick cost of a mark update (an oracleQuote that moves the mark ±0.33 %, crossing no one) with N open
 *    isolated positions (leverage 2–49x), next to what an unindexed engine does on every tick: check every
 *    position exactly (funding-adjusted collateral + uPnL against maintenance on the engine's basis), measured in
 *    the same run. Targets: 1M within 3× of 10k; at 1M ≥ 100× faster than the scan.
 * 2. A cascade: one 30 % gap (two of three oracle sources jump) liquidates every long above ~3.3x at once (book
 *    empty, the backstop takes each position at its bankruptcy price, the fund pays the gap); time per liquidation.
 */
import { triggerMaintenance, unrealizedPnl } from '../src/core/margin.ts';
import type { Engine } from '../src/engine/engine.ts';
import { bucketAfterFunding, positionInput } from '../src/engine/risk.ts';
import { engineWithPositions, must, T0 } from './fixture.ts';
import { fmtInt, intArg, maybeGc, memoryMiB, parseArgs, round, say, summarize } from './lib.ts';

interface TickFigures {
  positions: number;
  tickUs: { p50: number; p99: number; mean: number };
  scanMs: number;
  ratio: number;
}

function tickCost(n: number, ticks: number): TickFigures {
  const t0 = process.hrtime.bigint();
  const e = engineWithPositions(n, (d) => say(`  opening positions: ${fmtInt(d)}`));
  const m = e.markets.get('BTCUSDT')!;
  say(
    `${fmtInt(m.openPositions)} open positions in ${round(Number(process.hrtime.bigint() - t0) / 1e9, 1)} s, ${fmtInt(memoryMiB().heapUsed)} MiB heap`,
  );
  // Positions changed by their fills are re-filed lazily, before their market's next sweep: the first mark update
  // files all N (a one-off, reported), every later one only what it crosses.
  let time = T0 + 1_000;
  const f0 = process.hrtime.bigint();
  must(e, { type: 'oracleQuote', time, symbol: 'BTCUSDT', source: 'a', price: '60000' });
  say(
    `  first sweep files ${fmtInt(m.liqIndex.size)} positions in ${round(Number(process.hrtime.bigint() - f0) / 1e6, 1)} ms`,
  );
  maybeGc();
  const lat = new Float64Array(ticks);
  let liquidations = 0;
  for (let i = 0; i < ticks; i++) {
    const price = (60000 + ((i * 37) % 400) - 200).toFixed(1);
    time += 100;
    const s = process.hrtime.bigint();
    const r = e.apply({
      type: 'oracleQuote',
      time,
      symbol: 'BTCUSDT',
      source: ['a', 'b', 'c'][i % 3]!,
      price,
    });
    lat[i] = Number(process.hrtime.bigint() - s);
    if (!r.ok) throw new Error(r.message);
    for (const ev of r.events) if (ev.type === 'liquidationStarted') liquidations++;
  }
  if (liquidations > 0) throw new Error(`the quiet ticks liquidated ${liquidations} positions`);
  const tick = summarize(lat);
  const scanNs = fullScan(e);
  const us = (ns: number) => round(ns / 1000, 2);
  const f: TickFigures = {
    positions: m.openPositions,
    tickUs: { p50: us(tick.p50), p99: us(tick.p99), mean: us(tick.mean) },
    scanMs: round(scanNs / 1e6, 1),
    ratio: round(scanNs / tick.mean),
  };
  say(
    `  ${fmtInt(f.positions)} positions: mark update p50 ${f.tickUs.p50} µs, p99 ${f.tickUs.p99} µs, mean ${f.tickUs.mean} µs; ` +
      `exact full scan ${f.scanMs} ms → ${fmtInt(f.ratio)}× the indexed update`,
  );
  return f;
}

/** What detection costs without an index: every position checked exactly at the mark, once per tick. */
function fullScan(e: Engine): number {
  const m = e.markets.get('BTCUSDT')!;
  const positions = [...m.positions].filter((p) => p.sign !== 0);
  const mark = m.mark!;
  let below = 0;
  const reps = positions.length > 200_000 ? 1 : 3;
  const s0 = process.hrtime.bigint();
  for (let k = 0; k < reps; k++) {
    for (const p of positions) {
      const pos = positionInput(p);
      const equity = bucketAfterFunding(p) + unrealizedPnl(m.inst, pos, mark);
      if (equity < triggerMaintenance(m.inst, e.conventions, pos, mark)) below++;
    }
  }
  if (below > 0) throw new Error('the scan found liquidatable positions the engine left alone');
  return Number(process.hrtime.bigint() - s0) / reps;
}

function cascade(n: number): Record<string, number> {
  const e = engineWithPositions(n, (d) => say(`  opening positions: ${fmtInt(d)}`));
  let time = T0 + 2_000;
  must(e, { type: 'fundInsurance', time, asset: 'USDT', amount: '1000000000' });
  must(e, { type: 'oracleQuote', time, symbol: 'BTCUSDT', source: 'c', price: '60000' }); // files every position
  maybeGc();
  const m = e.markets.get('BTCUSDT')!;
  const before = m.openPositions;
  time += 100;
  must(e, { type: 'oracleQuote', time, symbol: 'BTCUSDT', source: 'a', price: '42000' });
  const s = process.hrtime.bigint();
  const r = e.apply({
    type: 'oracleQuote',
    time: time + 100,
    symbol: 'BTCUSDT',
    source: 'b',
    price: '42000',
  });
  const ns = Number(process.hrtime.bigint() - s);
  if (!r.ok) throw new Error(r.message);
  let liquidated = 0;
  for (const ev of r.events) if (ev.type === 'liquidationStarted') liquidated++;
  const v = e.ledger.verify();
  if (!v.ok) throw new Error(v.problems.join('; '));
  const out = {
    openBefore: before,
    liquidated,
    events: r.events.length,
    totalMs: round(ns / 1e6, 1),
    usPerLiquidation: round(ns / 1000 / Math.max(1, liquidated), 2),
  };
  say(
    `  30 % gap over ${fmtInt(before)} positions: ${fmtInt(liquidated)} liquidated in ${out.totalMs} ms ` +
      `(${out.usPerLiquidation} µs each, ${fmtInt(out.events)} events); ledger conserved`,
  );
  return out;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  const sizes = (a.get('sizes') ?? '10000,100000,1000000').split(',').map(Number);
  const ticks = intArg(a, 'ticks', 2_000);
  const cascadeN = intArg(a, 'cascade', 210_000);
  const figures: TickFigures[] = [];
  say('per-tick cost with nothing crossed:');
  for (const n of sizes) {
    figures.push(tickCost(n, ticks));
    maybeGc();
  }
  const small = figures[0]!;
  const large = figures[figures.length - 1]!;
  // The median is the tick's own cost; the mean also carries garbage-collection pauses, which grow with the heap
  // (1M positions are ~2 GB of engine state), not with the positions a tick visits. Both are reported.
  const growth = round(large.tickUs.p50 / small.tickUs.p50, 2);
  const growthMean = round(large.tickUs.mean / small.tickUs.mean, 2);
  say(
    `  ${fmtInt(large.positions)} vs ${fmtInt(small.positions)} positions: median tick ${growth}×, mean ${growthMean}× (target ≤ 3×); ` +
      `${fmtInt(large.ratio)}× faster than the full scan (target ≥ 100×)`,
  );
  say('cascade:');
  const c = cascade(cascadeN);
  return { ticks: figures, growth, growthMean, cascade: c };
}
