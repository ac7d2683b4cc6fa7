/**
 * Binance options' mark implied volatility from the order book's bid and ask IVs.
 *
 * Source: Binance support FAQ "Options Mark Price and Position Limits" [PUB S-BNB], quoted in
 * ../shared/reference/options-margin.md §1.3: the mark is Black-Scholes with
 *   IV = { max[min(IV_bid, cap), floor] + max[min(IV_ask, cap), floor] } · 0.5.
 * Binance publishes no cap/floor values ("might be adjusted without notification"), so they are inputs.
 * Golden case OPT-BNB-MARKIV-1: bid 0.45, ask 1.30, cap 1.20, floor 0.30 → 0.825.
 */
import { maxBig, minBig } from '../fixed.ts';

export interface IvBounds {
  /** Highest IV either side may contribute, WAD (1.2 = 120%). */
  cap: bigint;
  /** Lowest IV either side may contribute, WAD. */
  floor: bigint;
}

/** One side's IV held inside [floor, cap] — a missing or absurd quote cannot drag the mark outside the band. */
const clampIv = (iv: bigint, b: IvBounds): bigint => maxBig(minBig(iv, b.cap), b.floor);

/**
 * Mark IV (WAD) as the mean of the clamped bid and ask IVs. The halving rounds down to the wei: a mark is no
 * requirement, and a 1e-18 vol difference is far below any quote's precision; deterministic either way.
 */
export function markIvFromQuotes(bidIv: bigint, askIv: bigint, bounds: IvBounds): bigint {
  if (bidIv < 0n || askIv < 0n) throw new RangeError('markIvFromQuotes: IVs must not be negative');
  if (bounds.floor < 0n || bounds.floor > bounds.cap)
    throw new RangeError('markIvFromQuotes: need 0 ≤ floor ≤ cap');
  return (clampIv(bidIv, bounds) + clampIv(askIv, bounds)) / 2n;
}
