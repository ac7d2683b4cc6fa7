/**
 * Realised volatility of an index, RiskMetrics-style, in fixed point (WAD = 1e18) so that a replay computes the
 * same figure bit for bit: on each index update at least `sampleMs` after the last sample, the log return
 * r = ln(P / P_prev) is annualised by the time it took (r² × year / Δt, a variance rate, so irregular spacing counts
 * fairly) and folded into an exponentially weighted average, variance ← λ·variance + (1 − λ)·r²·year/Δt. The first
 * sample seeds the average. Volatility is √variance.
 *
 * And the dynamic-margin factor it drives: factor = clamp(vol / referenceVol, 1, maxFactor), on a 1e-4 grid rounded
 * up (a requirement), moved from the current factor by at most `maxStep` per review.
 */
import { ceilDiv } from './fixed.ts';
import { SECONDS_PER_YEAR, WAD } from './options/black76.ts';
import { lnWad, sqrtWad } from './options/fixedmath.ts';
import { RATE_ONE } from './rates.ts';

const YEAR_MS = BigInt(SECONDS_PER_YEAR) * 1000n;
/** The factor's grid: 1e-4 at RATE_DP. */
export const FACTOR_GRID = RATE_ONE / 10_000n;

export interface EwmaConfig {
  /** Decay per sample, RATE_DP (RiskMetrics' daily 0.94). */
  lambda: bigint;
  /** The least time between two samples, ms: updates closer than this are not sampled. */
  sampleMs: number;
}

export interface EwmaState {
  /** The last sampled price (any fixed scale, the same every time) and when; null before the first. */
  price: bigint | null;
  time: number;
  /** Annualised variance, WAD. */
  variance: bigint;
  /** Returns folded in so far. */
  samples: number;
}

export function emptyEwma(): EwmaState {
  return { price: null, time: 0, variance: 0n, samples: 0 };
}

/** Folds the index at `time` into `s` if it is at least `sampleMs` after the last sample; returns whether it did. */
export function observe(cfg: EwmaConfig, s: EwmaState, price: bigint, time: number): boolean {
  if (price <= 0n) return false;
  if (s.price === null) {
    s.price = price;
    s.time = time;
    return true;
  }
  const dt = time - s.time;
  if (dt < cfg.sampleMs || dt <= 0) return false;
  const r = lnWad((price * WAD) / s.price);
  // r² × year / Δt at WAD, rounded down (a tenth of a wei of variance is far below any rate grid).
  const rate = (r * r * YEAR_MS) / (WAD * BigInt(dt));
  s.variance = s.samples === 0 ? rate : (cfg.lambda * s.variance + (RATE_ONE - cfg.lambda) * rate) / RATE_ONE;
  s.samples++;
  s.price = price;
  s.time = time;
  return true;
}

/** Annualised volatility, WAD (√variance, rounded down). */
export function annualVol(s: EwmaState): bigint {
  return sqrtWad(s.variance);
}

/** clamp(vol / referenceVol, 1, maxFactor) at RATE_DP, rounded up to the 1e-4 grid. */
export function volFactor(vol: bigint, referenceVol: bigint, maxFactor: bigint): bigint {
  const raw = ceilDiv(vol * RATE_ONE, referenceVol);
  const grid = ceilDiv(raw, FACTOR_GRID) * FACTOR_GRID;
  return grid < RATE_ONE ? RATE_ONE : grid > maxFactor ? maxFactor : grid;
}

/** From `current` toward `target`, by at most `maxStep`. */
export function stepToward(current: bigint, target: bigint, maxStep: bigint): bigint {
  if (target > current + maxStep) return current + maxStep;
  if (target < current - maxStep) return current - maxStep;
  return target;
}
