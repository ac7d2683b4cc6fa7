/**
 * Cost of one mark update with N open positions, next to a full scan of them in the same run.
 *
 *   npm run bench -- mark-tick [--positions 1000000] [--ticks 2000]
 *
 * A mark update is an `oracleQuote` command: index recomputed from the sources, basis and premium sampled from
 * the book, mark derived, pause/resume checked. It touches no position (funding and margin are lazy), so its cost
 * must not grow with N (the first one also files every position in the liquidation index, and is reported apart). The baseline is what an unindexed engine does per tick: revalue every position (uPnL and
 * maintenance margin at the new mark).
 */
import { maintenanceMargin, unrealizedPnl } from '../src/core/margin.ts';
import { engineWithPositions, T0 } from './fixture.ts';
import { fmtInt, intArg, memoryMiB, parseArgs, round, say, summarize } from './lib.ts';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  const n = intArg(a, 'positions', 1_000_000);
  const ticks = intArg(a, 'ticks', 2_000);
  const t0 = process.hrtime.bigint();
  const e = engineWithPositions(n, (d) => say(`  opening positions: ${fmtInt(d)}`));
  const m = e.markets.get('BTCUSDT')!;
  say(
    `${fmtInt(m.openPositions)} open positions in ${round(Number(process.hrtime.bigint() - t0) / 1e9, 1)} s, ${fmtInt(memoryMiB().heapUsed)} MiB heap`,
  );

  const lat = new Float64Array(ticks);
  let time = T0 + 1_000;
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
  }
  // The first update files every position opened since the last sweep (the index is filed lazily, before a
  // market's next sweep): a one-off cost, reported apart from the steady state.
  const firstMs = lat[0]! / 1e6;
  const tick = summarize(lat.subarray(1));

  // Baseline: revalue every position at the new mark.
  const positions = [...m.positions].filter((p) => p.sign !== 0);
  const mark = m.mark!;
  const scans = 3;
  let sink = 0n;
  const s0 = process.hrtime.bigint();
  for (let k = 0; k < scans; k++) {
    for (const p of positions) {
      sink += unrealizedPnl(
        m.inst,
        { side: p.sign > 0 ? 'long' : 'short', size: p.size, entryPrice: p.entryPrice },
        mark,
      );
      sink += maintenanceMargin(m.inst, p.size, mark);
    }
  }
  const scanNs = Number(process.hrtime.bigint() - s0) / scans;
  const us = (ns: number) => round(ns / 1000, 2);
  say(
    `first mark update (files the ${fmtInt(positions.length)} positions in the liquidation index): ${round(firstMs, 1)} ms`,
  );
  say(
    `mark update with ${fmtInt(positions.length)} positions, steady state: p50 ${us(tick.p50)} µs, p99 ${us(tick.p99)} µs, mean ${us(tick.mean)} µs`,
  );
  say(
    `full scan of the positions per tick: ${round(scanNs / 1e6, 1)} ms → ${fmtInt(scanNs / tick.mean)}x the mark update (sink ${sink % 10n})`,
  );
  return {
    positions: positions.length,
    firstMarkUpdateMs: round(firstMs, 1),
    markUpdateUs: { p50: us(tick.p50), p99: us(tick.p99), mean: us(tick.mean) },
    fullScanMs: round(scanNs / 1e6, 1),
    ratio: round(scanNs / tick.mean),
  };
}
