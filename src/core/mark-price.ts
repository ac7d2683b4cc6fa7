/**
 * Mark price methods. Liquidations trigger on the mark, so it is built from the index and resists a single
 * manipulated trade:
 *  - Binance: median(index × (1 + last funding rate × time to funding / interval), index + moving average of
 *    (book mid − index), last trade);
 *  - Hyperliquid: median(index + EMA of (book mid − index), median(best bid, best ask, last trade), external mark);
 *    with only two inputs present, an EMA of median(bid, ask, last) joins them.
 * The last trade always enters clamped into [best bid, best ask]. The EMA is fixed-point (`decay = τ/(τ + Δt)`, a
 * deterministic stand-in for exp(−Δt/τ)), so replays reproduce every mark exactly.
 */
import { div } from './fixed.ts';
import { RATE_ONE } from './rates.ts';

export function median(values: readonly bigint[]): bigint {
  if (values.length === 0) throw new RangeError('median of nothing');
  const s = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2n;
}

/** The last trade clamped into the book: median(bid, ask, last) when both sides exist. */
export function clampIntoBook(last: bigint | null, bid: bigint | null, ask: bigint | null): bigint | null {
  if (last === null) return bid !== null && ask !== null ? (bid + ask) / 2n : null;
  if (bid !== null && last < bid) return bid;
  if (ask !== null && last > ask) return ask;
  return last;
}

export interface Ema {
  num: bigint;
  den: bigint;
}

export const emptyEma = (): Ema => ({ num: 0n, den: 0n });

/** Time-weighted EMA update with time constant `tauMs`; `dtMs` is the time the sample stood. */
export function updateEma(e: Ema, sample: bigint, dtMs: number, tauMs: number): Ema {
  const dt = BigInt(Math.max(1, dtMs));
  const tau = BigInt(tauMs);
  const decay = div(tau * RATE_ONE, tau + dt, 'floor');
  return { num: (e.num * decay) / RATE_ONE + sample * dt, den: (e.den * decay) / RATE_ONE + dt };
}

export function emaValue(e: Ema): bigint | null {
  return e.den === 0n ? null : div(e.num, e.den, 'trunc');
}

export interface BinanceMarkInput {
  index: bigint;
  lastFundingRate: bigint;
  msUntilFunding: number;
  intervalMs: number;
  /** Moving average of (mid − index), null if no samples. */
  basisAverage: bigint | null;
  /** Last trade clamped into the book, or null. */
  last: bigint | null;
}

export function binanceMark(i: BinanceMarkInput): bigint {
  const p1 =
    i.index +
    div(i.index * i.lastFundingRate * BigInt(i.msUntilFunding), RATE_ONE * BigInt(i.intervalMs), 'trunc');
  const p2 = i.index + (i.basisAverage ?? 0n);
  return median(i.last === null ? [p1, p2, i.index] : [p1, p2, i.last]);
}

export interface HyperliquidMarkInput {
  index: bigint;
  emaBasis: bigint | null;
  bookMedian: bigint | null;
  external: bigint | null;
  /** EMA of the book median, used when only two inputs exist. */
  bookMedianEma: bigint | null;
}

export function hyperliquidMark(i: HyperliquidMarkInput): bigint {
  const inputs = [i.index + (i.emaBasis ?? 0n)];
  if (i.bookMedian !== null) inputs.push(i.bookMedian);
  if (i.external !== null) inputs.push(i.external);
  if (inputs.length === 2 && i.bookMedianEma !== null) inputs.push(i.bookMedianEma);
  return median(inputs);
}
