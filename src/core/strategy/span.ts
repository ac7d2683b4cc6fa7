/**
 * CME SPAN's scanning risk (../shared/reference/options-margin.md §3c "CME SPAN"), in WAD fixed point.
 *
 * CME conventions: a risk array is the loss of one position over the look-ahead in each of 16 scenarios, losses
 * positive and gains negative. Scenarios 1–14 move the price 0, ±1/3, ±2/3, ±3/3 of the price scan range, each
 * with the vol up and down one vol scan range; 15–16 move it ± extremeMultiple × the range with the vol unchanged
 * and count coverFraction of the loss (2× / 35 % is the textbook figure; clearing houses set their own — gap).
 * Scanning risk is the largest summed loss. Intra-commodity spread, delivery, short-option-minimum and inter-
 * commodity credits are not modelled here.
 */
import { ceilDiv, parseDecimal } from '../fixed.ts';
import { black76 } from '../options/black76.ts';
import { WAD } from '../options/fixedmath.ts';

export interface SpanScenario {
  /** 1-based, CME's numbering. */
  number: number;
  /** Price move in thirds of the scan range (±9 thirds is 3 ranges). */
  priceThirds: number;
  /** Vol move in scan ranges: +1, −1, or 0 for the extremes. */
  vol: 1 | -1 | 0;
  /** The share of the loss that counts, WAD. */
  weight: bigint;
}

export interface SpanParams {
  /** Extreme move as a multiple of the price scan range (2). */
  extremeMultiple: number;
  /** Share of the extreme move's loss counted (0.35). */
  coverFraction: bigint;
}

export const SPAN_TEXTBOOK: SpanParams = {
  extremeMultiple: 2,
  coverFraction: parseDecimal('0.35', 'span', { dp: 18 }),
};

/** The 16 scenarios in CME order: (0, ±1/3, ±2/3, ±3/3 price; up move before down) × (vol up, vol down), extremes. */
export function spanScenarios(p: SpanParams = SPAN_TEXTBOOK): SpanScenario[] {
  const out: SpanScenario[] = [];
  for (const thirds of [0, 1, -1, 2, -2, 3, -3])
    for (const vol of [1, -1] as const)
      out.push({ number: out.length + 1, priceThirds: thirds, vol, weight: WAD });
  const x = p.extremeMultiple * 3;
  out.push({ number: 15, priceThirds: x, vol: 0, weight: p.coverFraction });
  out.push({ number: 16, priceThirds: -x, vol: 0, weight: p.coverFraction });
  return out;
}

/** loss = −gain·weight, rounded up (a loss counts in full to the wei). */
function loss(gain: bigint, weight: bigint): bigint {
  return ceilDiv(-gain * weight, WAD * WAD);
}

/**
 * A futures position's risk array: gain = size·move, move = thirds/3 × priceScanRange (size signed, WAD units;
 * priceScanRange in money per unit, WAD).
 */
export function futureRiskArray(
  priceScanRange: bigint,
  size: bigint,
  p: SpanParams = SPAN_TEXTBOOK,
): bigint[] {
  return spanScenarios(p).map((s) => {
    const gainTimes3 = size * priceScanRange * BigInt(s.priceThirds); // WAD², ×3
    return ceilDiv(-gainTimes3 * s.weight, 3n * WAD * WAD);
  });
}

export interface SpanOption {
  type: 'call' | 'put';
  strike: bigint;
  forward: bigint;
  years: bigint;
  vol: bigint;
  /** Signed units, WAD. */
  size: bigint;
  /** Money per unit, WAD. */
  priceScanRange: bigint;
  /** Absolute vol points, WAD (0.05 = 5 vol points). */
  volScanRange: bigint;
}

/** An option position's risk array, revalued by Black-76 (D = 1) at each scenario's price and vol. */
export function optionRiskArray(o: SpanOption, p: SpanParams = SPAN_TEXTBOOK): bigint[] {
  const value = (forward: bigint, vol: bigint): bigint => {
    const r = black76({ forward, strike: o.strike, years: o.years, vol });
    return o.type === 'call' ? r.call : r.put;
  };
  const now = value(o.forward, o.vol);
  return spanScenarios(p).map((s) => {
    const f = o.forward + (o.priceScanRange * BigInt(s.priceThirds)) / 3n;
    const v = o.vol + BigInt(s.vol) * o.volScanRange;
    const gain = o.size * (value(f < 0n ? 0n : f, v < 0n ? 0n : v) - now); // WAD²
    return loss(gain, s.weight);
  });
}

/** Element-wise sum of risk arrays (a portfolio's array). */
export function sumRiskArrays(arrays: readonly (readonly bigint[])[]): bigint[] {
  const n = arrays[0]?.length ?? 16;
  if (arrays.some((a) => a.length !== n)) throw new RangeError('sumRiskArrays: arrays differ in length');
  return Array.from({ length: n }, (_, i) => arrays.reduce((t, a) => t + (a[i] as bigint), 0n));
}

/** Scanning risk: the largest loss (at least 0) and the 1-based scenario it comes from (the first on a tie). */
export function scanningRisk(array: readonly bigint[]): { risk: bigint; scenario: number } {
  let worst = 0;
  for (let i = 1; i < array.length; i++) if ((array[i] as bigint) > (array[worst] as bigint)) worst = i;
  const top = array[worst] ?? 0n;
  return { risk: top > 0n ? top : 0n, scenario: worst + 1 };
}
