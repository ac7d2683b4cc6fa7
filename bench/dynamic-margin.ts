/**
 * What a dynamic-margin raise costs the engine with N open positions (docs/dynamic-margin.md), next to re-keying
 * every position at once, in the same run.
 *
 *   npm run bench -- dynamic-margin [--positions 200000] [--notice-s 600]
 *
 * BTCUSDT with `dynamicMargin` (1-minute reviews, a notice of `--notice-s` seconds) and N isolated positions. A
 * minute of stormy quotes (one a second) gets a raise announced at the next review; then one quote a second through
 * the notice (±10 a second, rough enough that the raise still holds when it applies). Each of those commands marks
 * its share of the positions for re-filing under the pending factor (at least 256, more when the notice is short for
 * N) and re-files them before its sweep: its cost is reported (p50, p99, mean), next to the quiet quotes before the
 * announcement (the same command without re-filing). The command that applies the raise re-files whatever the notice
 * did not reach and sweeps: reported apart. Baseline: rebuilding the whole liquidation index once (what re-keying
 * every position at the raise would cost), timed on the same engine afterwards.
 */

import { REFILE_PER_COMMAND } from '../src/engine/dynamic-margin.ts';
import type { MarketConfig } from '../src/engine/types.ts';
import { engineWithPositions, FUNDED_MARKET, T0, TimedQuotes } from './fixture.ts';
import { fmtInt, intArg, parseArgs, round, say, summarize } from './lib.ts';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  const n = intArg(a, 'positions', 200_000);
  const noticeS = intArg(a, 'notice-s', 600);
  const market: MarketConfig = {
    ...FUNDED_MARKET,
    dynamicMargin: {
      referenceVol: '0.3',
      maxFactor: '2',
      maxStep: '0.25',
      reviewMs: 60_000,
      noticeMs: noticeS * 1_000,
      sampleMs: 1_000,
      minSamples: 10,
    },
  };
  const e = engineWithPositions(n, (d) => say(`  opening positions: ${fmtInt(d)}`), market);
  const m = e.markets.get('BTCUSDT')!;
  const d = m.dynamicMargin!;
  const quotes = new TimedQuotes(e, T0 + 1_000);
  const quote = (price: string): number => quotes.quote(price);
  // Files every position (the first update after opening them, as in mark-tick), then quiet quotes to time.
  quote('60000');
  // A quiet review interval first (its review keeps the factor at 1): the same command without re-filing.
  const quiet: number[] = [];
  const calmUntil = d.nextReview;
  while (quotes.now + 1_000 <= calmUntil) quiet.push(quote(quiet.length % 2 === 0 ? '60000.1' : '60000'));
  if (d.factor !== 10_000_000_000n) throw new Error('bench: the quiet minute moved the factor');
  // A stormy minute: ±1.5% a second, up to the review.
  while (quotes.now + 1_000 < d.nextReview) quote(quotes.now % 2_000 === 0 ? '60000' : '60900');
  quote('60000'); // the review: a raise announced
  const pending = d.pending as { effectiveAt: number } | null;
  if (pending === null) throw new Error('bench: no raise was announced');
  const effectiveAt = pending.effectiveAt;
  const notice: number[] = [];
  // Through the notice the market stays rough enough (±10 a second is ~90% a year) that the raise still holds when it
  // applies: a calm notice would have the review at the same time cut it straight back.
  while (quotes.now + 1_000 < effectiveAt) notice.push(quote(notice.length % 2 === 0 ? '60010' : '60000'));
  const reachedAll = d.refile === null;
  const applyNs = quote('60000');
  if (d.factor === 10_000_000_000n)
    throw new Error(
      `bench: the raise did not apply (pending ${JSON.stringify(d.pending, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}, now ${quotes.now}, effectiveAt ${effectiveAt})`,
    );
  // Baseline: every position re-keyed at once.
  const s0 = process.hrtime.bigint();
  e.rebuildLiquidationIndex();
  const rebuildMs = Number(process.hrtime.bigint() - s0) / 1e6;
  const us = (ns: number) => round(ns / 1_000, 1);
  const q = summarize(Float64Array.from(quiet.slice(1)));
  const r = summarize(Float64Array.from(notice));
  say(
    `${fmtInt(m.openPositions)} positions; notice ${noticeS} s (${notice.length} quotes); factor now ${Number(d.factor) / 1e10}`,
  );
  say(`quote before the raise: p50 ${us(q.p50)} µs, p99 ${us(q.p99)} µs, mean ${us(q.mean)} µs`);
  say(
    `quote during the notice (each re-files its share, at least ${REFILE_PER_COMMAND}): p50 ${us(r.p50)} µs, p99 ${us(r.p99)} µs, mean ${us(r.mean)} µs`,
  );
  say(
    `the command applying the raise: ${round(applyNs / 1e6, 2)} ms (the notice reached every position: ${reachedAll})`,
  );
  say(
    `re-keying every position at once: ${round(rebuildMs, 1)} ms (${fmtInt((rebuildMs * 1e6) / r.mean)}x a notice quote)`,
  );
  return {
    positions: m.openPositions,
    noticeS,
    noticeQuotes: notice.length,
    quietQuoteUs: { p50: us(q.p50), p99: us(q.p99), mean: us(q.mean) },
    noticeQuoteUs: { p50: us(r.p50), p99: us(r.p99), mean: us(r.mean) },
    applyMs: round(applyNs / 1e6, 2),
    noticeReachedAll: reachedAll,
    rebuildIndexMs: round(rebuildMs, 1),
  };
}
