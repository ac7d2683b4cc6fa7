/**
 * Liquidation detection and cascade cost.
 *
 *   npm run bench -- liquidation [--sizes 10000,100000,1000000] [--ticks 2000] [--warmup 1000] [--cascade 210000]
 *                               [--deadline 900]
 *
 * Every size, and the cascade, runs in its own child process (a fresh node, killed after --deadline seconds), so no
 * size runs on code or a heap warmed by another; the parent collects each child's JSON line. A child is this bench
 * with the internal argument --child-size N or --child-cascade N.
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
import { benchChild, fmtInt, intArg, maybeGc, memoryMiB, parseArgs, round, say, summarize } from './lib.ts';

interface TickFigures {
  positions: number;
  tickUs: { p50: number; p99: number; mean: number };
  scanMs: number;
  ratio: number;
}

function tickCost(n: number, ticks: number, warmup: number): TickFigures {
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
  // The first `warmup` ticks are untimed and the same count at every size, so each size's timed ticks run on
  // equally warm code (opening more positions warms the opening path, not the tick's).
  for (let i = -warmup; i < ticks; i++) {
    const price = (60000 + ((((i * 37) % 400) + 400) % 400) - 200).toFixed(1);
    time += 100;
    const s = process.hrtime.bigint();
    const r = e.apply({
      type: 'oracleQuote',
      time,
      symbol: 'BTCUSDT',
      source: ['a', 'b', 'c'][(i + 3 * warmup) % 3]!,
      price,
    });
    if (i >= 0) lat[i] = Number(process.hrtime.bigint() - s);
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

/** One child's figures without the harness's `bench` key. */
async function inChild(args: string[], deadlineS: number): Promise<Record<string, unknown>> {
  const { bench: _name, ...figures } = await benchChild('liquidation', args, deadlineS * 1000, '    ');
  return figures;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  const ticks = intArg(a, 'ticks', 2_000);
  const warmup = intArg(a, 'warmup', 1_000);
  const childSize = a.get('child-size');
  if (childSize !== undefined) return { ...tickCost(intArg(a, 'child-size', 0), ticks, warmup) };
  if (a.get('child-cascade') !== undefined) return cascade(intArg(a, 'child-cascade', 0));
  const sizes = (a.get('sizes') ?? '10000,100000,1000000').split(',').map(Number);
  const cascadeN = intArg(a, 'cascade', 210_000);
  const deadlineS = intArg(a, 'deadline', 900);
  const figures: TickFigures[] = [];
  say('per-tick cost with nothing crossed (each size in its own process):');
  for (const n of sizes) {
    const childArgs = ['--child-size', String(n), '--ticks', String(ticks), '--warmup', String(warmup)];
    const f = await inChild(childArgs, deadlineS);
    figures.push(f as unknown as TickFigures);
  }
  const small = figures[0]!;
  const large = figures[figures.length - 1]!;
  // The median is the tick's own cost; the mean also carries garbage-collection pauses, which grow with the heap
  // (1M positions are ~2 GB of engine state), not with the positions a tick visits. Both are reported.
  const growth = round(large.tickUs.p50 / small.tickUs.p50, 2);
  const growthMean = round(large.tickUs.mean / small.tickUs.mean, 2);
  // (each size's first sweep, which files all its positions, is reported by its child above, not in these)
  say(
    `  ${fmtInt(large.positions)} vs ${fmtInt(small.positions)} positions: median tick ${growth}×, mean ${growthMean}× (target ≤ 3×); ` +
      `${fmtInt(large.ratio)}× faster than the full scan (target ≥ 100×)`,
  );
  say('cascade (its own process):');
  const c = await inChild(['--child-cascade', String(cascadeN)], deadlineS);
  return { ticks: figures, growth, growthMean, cascade: c, warmupTicks: warmup, deadlineS };
}
