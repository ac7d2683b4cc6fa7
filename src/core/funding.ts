/**
 * Funding: premium index, funding rate with clamp and cap, and the payment for a position.
 *
 *   premium   = (max(0, impactBid − index) − max(0, index − impactAsk)) / index
 *   rate (8h) = avgPremium + clamp(interest − avgPremium, −0.05%, +0.05%)          (Binance, Hyperliquid)
 *   cap       = ±k × MMR (Binance), 4%/h (Hyperliquid), 600% × (IMF − MMF) per 8h (dYdX)
 *   charged per interval = rate × interval / 8h (Hyperliquid pays 1/8 of the 8h rate every hour)
 *   payment   = size × price × rate (linear, in quote) or size × multiplier / price × rate (inverse, in coin);
 *               longs pay a positive rate, shorts receive it.
 * Rates are at RATE_DP; every division rounds toward zero here and the engine decides who absorbs residue.
 */
import { ceilDiv, div, maxBig, minBig } from './fixed.ts';
import type { Instrument } from './instrument.ts';
import { notional } from './margin.ts';
import { RATE_ONE } from './rates.ts';

export const EIGHT_HOURS_MS = 8 * 3600 * 1000;
/** ±0.05%: the clamp around the interest rate (Binance and Hyperliquid). */
export const DEFAULT_CLAMP = RATE_ONE / 2000n;

export function premiumIndex(impactBid: bigint | null, impactAsk: bigint | null, index: bigint): bigint {
  if (index <= 0n) throw new RangeError('index must be positive');
  const up = impactBid !== null && impactBid > index ? impactBid - index : 0n;
  const down = impactAsk !== null && impactAsk < index ? index - impactAsk : 0n;
  return div((up - down) * RATE_ONE, index, 'trunc');
}

/** Time-weighted average with weights 1..n (Binance: later samples count more). */
export function weightedAveragePremium(samples: readonly bigint[]): bigint {
  if (samples.length === 0) return 0n;
  let num = 0n;
  let den = 0n;
  samples.forEach((p, i) => {
    num += p * BigInt(i + 1);
    den += BigInt(i + 1);
  });
  return div(num, den, 'trunc');
}

export type FundingCap =
  | { kind: 'mmrMultiple'; k: bigint; mmr: bigint }
  | { kind: 'perHour'; cap: bigint }
  | { kind: 'marginSpread'; multiple: bigint; imf: bigint; mmf: bigint }
  | { kind: 'none' };

export interface FundingParams {
  interestRate: bigint;
  clamp: bigint;
  cap: FundingCap;
  intervalMs: number;
}

/** The 8-hour-equivalent rate before the cap. */
export function fundingRate8h(avgPremium: bigint, interest: bigint, clamp = DEFAULT_CLAMP): bigint {
  return avgPremium + minBig(maxBig(interest - avgPremium, -clamp), clamp);
}

/** The rate charged for one interval, capped. */
export function intervalRate(avgPremium: bigint, p: FundingParams): bigint {
  const r8 = fundingRate8h(avgPremium, p.interestRate, p.clamp);
  let r = div(r8 * BigInt(p.intervalMs), BigInt(EIGHT_HOURS_MS), 'trunc');
  const limit = capFor(p);
  if (limit !== null) r = minBig(maxBig(r, -limit), limit);
  return r;
}

/** Cap on the interval's rate, RATE_DP, or null for none. */
export function capFor(p: FundingParams): bigint | null {
  const c = p.cap;
  switch (c.kind) {
    case 'none':
      return null;
    case 'mmrMultiple': // ±k × MMR per interval (Binance)
      return (c.k * c.mmr) / RATE_ONE;
    case 'perHour': // e.g. 4% per hour (Hyperliquid)
      return div(c.cap * BigInt(p.intervalMs), 3_600_000n, 'trunc');
    case 'marginSpread': // 600% × (IMF − MMF) per 8h (dYdX), pro rata to the interval
      return div(
        ((c.multiple * (c.imf - c.mmf)) / RATE_ONE) * BigInt(p.intervalMs),
        BigInt(EIGHT_HOURS_MS),
        'trunc',
      );
  }
}

/** Impact notional: 200 USDT / IMR at max leverage (Binance) or 500 USDC / IMF (dYdX). */
export function impactNotional(marginAmount: bigint, imr: bigint): bigint {
  return ceilDiv(marginAmount * RATE_ONE, imr);
}

/**
 * Funding per unit of size (one lot-scale unit, i.e. 10^-sizeDp) as an exact rational would be awkward; instead
 * the engine keeps a cumulative index in settle units × FUNDING_INDEX_SCALE per whole unit of size.
 * indexDelta = price × rate per whole unit (linear) or multiplier / price × rate (inverse).
 */
export const FUNDING_INDEX_DP = 18;

export function fundingIndexDelta(inst: Instrument, price: bigint, rate: bigint): bigint {
  // Value of one whole unit of size (10^sizeDp units) at `price`, at settleDp + FUNDING_INDEX_DP, times rate.
  const one = 10n ** BigInt(inst.sizeDp);
  const scale = 10n ** BigInt(FUNDING_INDEX_DP);
  const valueScaled = notional(inst, one * scale, price, 'trunc'); // exact enough: scale keeps 18 extra digits
  return div(valueScaled * rate, RATE_ONE, 'trunc');
}

/** What a position owes (> 0) or is owed (< 0) for an index move, in settle units. Payments round up, receipts down. */
export function fundingOwed(
  inst: Instrument,
  sign: 1 | -1,
  size: bigint,
  indexFrom: bigint,
  indexTo: bigint,
): bigint {
  const perUnitDelta = indexTo - indexFrom;
  const raw = BigInt(sign) * size * perUnitDelta; // settle × 10^(FUNDING_INDEX_DP + sizeDp)
  const den = 10n ** BigInt(FUNDING_INDEX_DP + inst.sizeDp);
  return raw >= 0n ? ceilDiv(raw, den) : -(-raw / den);
}
