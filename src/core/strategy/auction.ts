/**
 * Derive's Dutch auction for liquidating a whole portfolio (../shared/reference/options-margin.md §4, DutchAuction),
 * in WAD fixed point. Signed money: MM < 0 means the portfolio is under maintenance; MtM is its mark-to-market.
 *
 * - A solvent auction (MtM > 0) bids (MtM − reserved cash)·d for the whole portfolio, d falling linearly from
 *   startingMtMPercentage to fastAuctionCutoffPercentage over the fast auction, then to 0 over the slow one — a
 *   declining share of MtM, not MtM minus a discount.
 * - It liquidates toward buffer margin BM = MM + (MM − MtM)·bufferMarginPercentage ≥ 0; a bidder may take at most
 *   f = BM / (BM − MtM·d − reserved·(1 − d)) of the portfolio.
 * - An insolvent auction's bid moves linearly from min(MtM, 0) to MM over insolventAuctionLength (negative: the
 *   security module pays the liquidator).
 * - A solvent auction's start fee is f(d = 1)·|MtM|·liquidatorFeeRate.
 */
import { ceilDiv, floorDiv, maxBig, minBig, parseDecimal } from '../fixed.ts';
import { WAD } from '../options/fixedmath.ts';

const d = (s: string): bigint => parseDecimal(s, 'auction params', { dp: 18 });

export interface DutchAuctionParams {
  startingMtMPercentage: bigint;
  fastAuctionCutoffPercentage: bigint;
  /** Seconds. */
  fastAuctionLength: number;
  slowAuctionLength: number;
  insolventAuctionLength: number;
  liquidatorFeeRate: bigint;
  bufferMarginPercentage: bigint;
}

/** Deploy-script values (scripts/config-mainnet.sol), §4. */
export const DERIVE_AUCTION_DEPLOY: DutchAuctionParams = {
  startingMtMPercentage: d('0.95'),
  fastAuctionCutoffPercentage: d('0.7'),
  fastAuctionLength: 15 * 60,
  slowAuctionLength: 12 * 3600,
  insolventAuctionLength: 60 * 60,
  liquidatorFeeRate: d('0.1'),
  bufferMarginPercentage: d('0.15'),
};

function checkSeconds(name: string, t: number): bigint {
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError(`auction: ${name} must be an integer ≥ 0`);
  return BigInt(t);
}

/**
 * The discount percentage d at `elapsed` seconds into a solvent auction (WAD, rounded down: the bid never exceeds
 * the schedule).
 */
export function auctionDiscount(elapsed: number, p: DutchAuctionParams): bigint {
  const t = checkSeconds('elapsed', elapsed);
  const fast = checkSeconds('fastAuctionLength', p.fastAuctionLength);
  const slow = checkSeconds('slowAuctionLength', p.slowAuctionLength);
  const start = p.startingMtMPercentage;
  const cut = p.fastAuctionCutoffPercentage;
  if (t < fast) return start - ceilDiv((start - cut) * t, fast);
  if (t >= fast + slow) return 0n;
  return cut - ceilDiv(cut * (t - fast), slow);
}

/** BM = MM + (MM − MtM)·bufferMarginPercentage, rounded toward −∞ (the larger shortfall). */
export function bufferMargin(mm: bigint, mtm: bigint, bufferPct: bigint): bigint {
  return mm + floorDiv((mm - mtm) * bufferPct, WAD);
}

/**
 * The largest fraction of the portfolio a bidder may take (WAD, in [0, 1]), rounded up so that taking it restores
 * buffer margin: f = BM′ / (BM′ − MtM·d − reserved·(1 − d)), BM′ = min(BM, 0). 0 when BM ≥ 0 (nothing to sell).
 */
export function maxProportion(mtm: bigint, bm: bigint, discount: bigint, reservedCash = 0n): bigint {
  const b = minBig(bm, 0n);
  if (b === 0n) return 0n;
  const denom = b * WAD - mtm * discount - reservedCash * (WAD - discount); // WAD²
  if (denom >= 0n) return WAD; // the portfolio's bid value cannot cover the shortfall: all of it
  return minBig(WAD, ceilDiv(-b * WAD * WAD, -denom));
}

/** Solvent bid for the whole portfolio: (MtM − reserved)·d, rounded down. */
export function solventBid(mtm: bigint, discount: bigint, reservedCash = 0n): bigint {
  return floorDiv((mtm - reservedCash) * discount, WAD);
}

/** What a bidder taking `fraction` of the portfolio at `bid` (for the whole) pays, rounded down. */
export function bidderPays(fraction: bigint, bid: bigint): bigint {
  return floorDiv(fraction * bid, WAD);
}

/** Insolvent bid at `elapsed` seconds: min(MtM, 0) + (MM − min(MtM, 0))·elapsed/length, MM at the end. */
export function insolventBid(mm: bigint, mtm: bigint, elapsed: number, length: number): bigint {
  const t = checkSeconds('elapsed', elapsed);
  const len = checkSeconds('insolventAuctionLength', length);
  const m = minBig(mtm, 0n);
  if (t >= len) return mm;
  return m + floorDiv((mm - m) * t, len);
}

/** The fee a solvent auction pays the security module at its start: f(d = 1)·|MtM|·liquidatorFeeRate. */
export function auctionStartFee(mtm: bigint, bm: bigint, feeRate: bigint, reservedCash = 0n): bigint {
  const f = maxProportion(mtm, bm, WAD, reservedCash);
  const abs = maxBig(mtm, -mtm);
  return floorDiv(f * abs * feeRate, WAD * WAD);
}
