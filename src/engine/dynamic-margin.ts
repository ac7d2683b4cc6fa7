/**
 * Volatility-adjusted margin (MarketConfig.dynamicMargin; docs/dynamic-margin.md). The market's index feeds an EWMA
 * of log returns (core/volatility.ts); at each review time the factor clamp(vol / referenceVol, 1, maxFactor) is
 * approached by at most one step. A cut applies at once; a raise is announced and applies `noticeMs` later — never
 * before, so no position's ability to stay open changes without the notice. The factor scales the market's whole
 * risk rule (core/risk-scale.ts): `market.inst` is the base instrument scaled, so every requirement in the engine,
 * the read models and the calculator follows it without knowing about it.
 *
 * The liquidation index. A raise moves every position's trigger toward the mark. Instead of re-keying them all when
 * it applies (a scan), the notice period is the re-filing window: from the announcement every position of the market
 * is filed under the instrument at the pending factor — a requirement never below the one in force, so its key is
 * never late for the factor in force, only early (the exact check then finds it healthy and files it again, as
 * funding's drift does) — and a cursor marks the positions filed before the announcement for re-filing, a share on
 * each clock command: at least `REFILE_PER_COMMAND`, more when the notice's remaining seconds need it to finish. When the raise applies, the index is already keyed for it; whatever the cursor
 * has not reached yet (a notice too short for the market's size) is marked then. A cut needs nothing: old keys are
 * early. A restored engine files everything from scratch under the same rule.
 */
import { InputError, parseDecimal } from '../core/fixed.ts';
import type { Instrument } from '../core/instrument.ts';
import { WAD } from '../core/options/black76.ts';
import { RATE_DP, RATE_ONE } from '../core/rates.ts';
import { scaleInstrument } from '../core/risk-scale.ts';
import { annualVol, type EwmaState, emptyEwma, observe, stepToward, volFactor } from '../core/volatility.ts';
import type { Position } from './account.ts';
import type { Market } from './market.ts';
import type { EngineState } from './state.ts';
import type { DynamicMarginSpec } from './types.ts';

/** Positions marked for re-filing per clock command while a raise is pending. */
export const REFILE_PER_COMMAND = 256;
const HOUR = 3_600_000;

export class DynamicMargin {
  readonly referenceVol: bigint;
  readonly maxFactor: bigint;
  readonly maxStep: bigint;
  readonly lambda: bigint;
  readonly reviewMs: number;
  readonly noticeMs: number;
  readonly sampleMs: number;
  readonly minSamples: number;
  ewma: EwmaState = emptyEwma();
  /** In force, RATE_DP (≥ 1). */
  factor = RATE_ONE;
  /** An announced raise and when it applies. */
  pending: { factor: bigint; effectiveAt: number } | null = null;
  /** The next review time (a multiple of reviewMs). */
  nextReview = 0;
  /** The volatility at the last review (WAD), for reads. */
  lastVol = 0n;
  /** The instrument positions are filed under: at the pending factor while a raise is pending. */
  filing: Instrument | null = null;
  /** The re-filing cursor over the market's positions while a raise is pending (a cache: not stored). */
  refile: Iterator<Position> | null = null;
  /** How many positions the cursor has yet to visit (an upper bound: positions opened since are filed anyway). */
  refileLeft = 0;

  constructor(spec: DynamicMarginSpec) {
    const rate = (v: unknown, field: string) =>
      parseDecimal(v, `dynamicMargin.${field}`, { dp: RATE_DP, positive: true, maxAbs: 100n * RATE_ONE });
    this.referenceVol = parseDecimal(spec.referenceVol, 'dynamicMargin.referenceVol', {
      dp: 18,
      positive: true,
      maxAbs: 100n * WAD,
    });
    this.maxFactor = rate(spec.maxFactor, 'maxFactor');
    if (this.maxFactor < RATE_ONE) throw new InputError('dynamicMargin.maxFactor', 'must be at least 1');
    if (this.maxFactor > 10n * RATE_ONE)
      throw new InputError('dynamicMargin.maxFactor', 'must be at most 10');
    this.maxStep = rate(spec.maxStep, 'maxStep');
    this.lambda = rate(spec.lambda ?? '0.94', 'lambda');
    if (this.lambda >= RATE_ONE) throw new InputError('dynamicMargin.lambda', 'must be below 1');
    const ms = (v: number | undefined, dflt: number, field: string, min: number) => {
      const x = v ?? dflt;
      if (!Number.isSafeInteger(x) || x < min || x > 366 * 24 * HOUR)
        throw new InputError(`dynamicMargin.${field}`, `must be an integer number of ms in [${min}, 1 year]`);
      return x;
    };
    this.reviewMs = ms(spec.reviewMs, HOUR, 'reviewMs', 1_000);
    this.noticeMs = ms(spec.noticeMs, HOUR, 'noticeMs', 0);
    this.sampleMs = ms(spec.sampleMs, 60_000, 'sampleMs', 1);
    const n = spec.minSamples ?? 30;
    if (!Number.isSafeInteger(n) || n < 1 || n > 1_000_000)
      throw new InputError('dynamicMargin.minSamples', 'must be an integer in [1, 1000000]');
    this.minSamples = n;
  }

  /** The first review after `time`. */
  start(time: number): void {
    this.nextReview = (Math.floor(time / this.reviewMs) + 1) * this.reviewMs;
  }
}

/** An index update: sampled into the EWMA (see core/volatility.ts). */
export function observeIndex(m: Market, index: bigint, time: number): void {
  const d = m.dynamicMargin!;
  observe({ lambda: d.lambda, sampleMs: d.sampleMs }, d.ewma, index, time);
}

/** Reviews and raises due by `time`, in time order (runScheduled); then this command's share of re-filing. */
export function runDynamicMargin(e: EngineState, m: Market, time: number): void {
  const d = m.dynamicMargin!;
  for (let guard = 0; guard < 10_000; guard++) {
    const raise = d.pending?.effectiveAt ?? Number.POSITIVE_INFINITY;
    const at = Math.min(d.nextReview, raise);
    if (at > time) break;
    // A review at the raise's own time comes first: it may withdraw it.
    if (raise < d.nextReview) applyRaise(e, m);
    else {
      review(e, m, d.nextReview);
      d.nextReview += d.reviewMs;
    }
  }
  if (d.refile !== null && d.pending !== null) markForRefile(e, d, refileShare(d, time));
}

/**
 * This command's share of the re-filing: at least REFILE_PER_COMMAND, and enough that the notice's remaining seconds,
 * at one clock command a second, finish the market (a notice short for its size spreads the work instead of leaving
 * it to the command that applies the raise).
 */
function refileShare(d: DynamicMargin, time: number): number {
  const secondsLeft = Math.max(1, Math.floor((d.pending!.effectiveAt - time) / 1_000));
  return Math.max(REFILE_PER_COMMAND, Math.ceil(d.refileLeft / secondsLeft));
}

function review(e: EngineState, m: Market, at: number): void {
  const d = m.dynamicMargin!;
  d.lastVol = annualVol(d.ewma);
  if (d.ewma.samples < d.minSamples) return;
  const target = volFactor(d.lastVol, d.referenceVol, d.maxFactor);
  // One raise at a time: while one is pending the factor is not stepped again (the EWMA keeps learning); a raise the
  // volatility no longer supports — the target back at or below the factor in force — is withdrawn before it applies.
  if (d.pending !== null) {
    if (target <= d.factor) {
      const p = d.pending;
      d.pending = null;
      d.filing = null;
      d.refile = null;
      event(e, m, 'withdrawn', p.factor, d.factor, p.effectiveAt, d.lastVol);
    }
    return;
  }
  const next = stepToward(d.factor, target, d.maxStep);
  if (next > d.factor) {
    d.pending = { factor: next, effectiveAt: at + d.noticeMs };
    d.filing = scaleInstrument(m.baseInst, next);
    d.refile = m.positions.values();
    d.refileLeft = m.positions.size;
    event(e, m, 'announced', next, d.factor, at + d.noticeMs, d.lastVol);
  } else if (next < d.factor) {
    // A cut lowers every requirement: at once, and the index's keys (filed for more) stay early, never late.
    const previous = d.factor;
    setFactor(m, next);
    event(e, m, 'applied', next, previous, at, d.lastVol);
  }
}

function applyRaise(e: EngineState, m: Market): void {
  const d = m.dynamicMargin!;
  const p = d.pending!;
  // Whatever the notice did not reach is marked now (each is re-filed under the new factor before the next sweep).
  if (d.refile !== null) markForRefile(e, d, Number.POSITIVE_INFINITY);
  const previous = d.factor;
  d.pending = null;
  setFactor(m, p.factor);
  event(e, m, 'applied', p.factor, previous, p.effectiveAt, d.lastVol);
  // Positions the raise put below maintenance are liquidated in this command (their keys are already there).
  e.sweepMarkets.add(m);
}

function setFactor(m: Market, factor: bigint): void {
  const d = m.dynamicMargin!;
  d.factor = factor;
  m.inst = scaleInstrument(m.baseInst, factor);
  d.filing = d.pending !== null ? scaleInstrument(m.baseInst, d.pending.factor) : null;
}

/** Marks up to `n` more of the market's positions for re-filing (stage 5 re-files them under `filing`). */
function markForRefile(e: EngineState, d: DynamicMargin, n: number): void {
  const it = d.refile!;
  for (let i = 0; i < n; i++) {
    const r = it.next();
    if (r.done) {
      d.refile = null;
      d.refileLeft = 0;
      return;
    }
    d.refileLeft--;
    if (r.value.sign !== 0) e.liqDirty.add(r.value);
  }
  if (d.refileLeft <= 0) d.refile = null; // every position there was at the announcement has been reached
}

function event(
  e: EngineState,
  m: Market,
  status: 'announced' | 'applied' | 'withdrawn',
  factor: bigint,
  previous: bigint,
  effectiveAt: number,
  vol: bigint,
): void {
  e.events.push({ type: 'marginFactor', symbol: m.symbol, status, factor, previous, effectiveAt, vol });
}

/** Restores the factor and a pending raise (snapshot): the instruments follow; re-filing is the index rebuild's. */
export function restoreFactor(m: Market, factor: bigint, pending: DynamicMargin['pending']): void {
  const d = m.dynamicMargin!;
  d.pending = pending;
  setFactor(m, factor);
}

/** The instrument a position of `m` is filed under (the one in force unless a raise is pending). */
export function filingInstrument(m: Market): Instrument {
  return m.dynamicMargin?.filing ?? m.inst;
}
