/**
 * Time series built from committed events, for charts: OHLCV candles per market (from committed mark prices and from
 * committed trades) and the insurance fund's balance per asset over time. Like the histories (history.ts) they are
 * bounded in-memory rings that restart empty; the journal has everything.
 *
 * Times are the engine command's time (the service stamps every command; events carry no clock of their own), so a
 * candle's bucket is the command's, and a replay of the same log builds the same candles.
 */
import { formatDecimal } from '../core/fixed.ts';
import type { Market } from '../engine/market.ts';
import type { EngineState } from '../engine/state.ts';
import { insuranceFund } from '../engine/state.ts';
import { fmtPrice, fmtSize } from './codec.ts';
import type { ServiceConfig } from './config.ts';
import { KeyedRings, Ring } from './history.ts';

export const TIMEFRAMES = {
  '1s': 1_000,
  '1m': 60_000,
  '5m': 300_000,
  '15m': 900_000,
  '1h': 3_600_000,
} as const;
export type Timeframe = keyof typeof TIMEFRAMES;
const TF_LIST = Object.keys(TIMEFRAMES) as Timeframe[];
export const isTimeframe = (s: string): s is Timeframe => Object.hasOwn(TIMEFRAMES, s);

/** mark: from committed mark prices (volume 0); last: from committed trades. */
export type CandlePrice = 'mark' | 'last';

/** One candle; the newest of a series is updated in place until its period ends. */
interface Candle {
  /** Start of the period, ms (a multiple of the timeframe). */
  t: number;
  o: bigint;
  h: bigint;
  l: bigint;
  c: bigint;
  /** Traded size (last) in the market's size units; 0 for mark candles. */
  v: bigint;
}

/** ccxt's OHLCV row: [timeMs, open, high, low, close, volume], prices and volume as decimal strings. */
export type CandleRow = [number, string, string, string, string, string];

class Series {
  readonly ring: Ring<Candle>;
  current: Candle | null = null;
  constructor(capacity: number) {
    this.ring = new Ring(capacity);
  }

  /** O(1): extends the current candle, or opens the next one (periods without a price have no candle). */
  add(time: number, ms: number, price: bigint, volume: bigint): void {
    const t = time - (time % ms);
    const c = this.current;
    if (c !== null && c.t === t) {
      if (price > c.h) c.h = price;
      if (price < c.l) c.l = price;
      c.c = price;
      c.v += volume;
      return;
    }
    // Command times never go backwards (the engine refuses it), so a new bucket is always a later one.
    const next: Candle = { t, o: price, h: price, l: price, c: price, v: volume };
    this.current = next;
    this.ring.push(next);
  }
}

/** Per market: one series per price kind and timeframe. */
type MarketSeries = Record<CandlePrice, Series[]>;

export function candleRow(m: Market, c: Candle): CandleRow {
  return [c.t, fmtPrice(m, c.o), fmtPrice(m, c.h), fmtPrice(m, c.l), fmtPrice(m, c.c), fmtSize(m, c.v)];
}

export class Candles {
  private readonly markets = new Map<string, MarketSeries>();
  constructor(readonly capacity: number) {}

  private of(symbol: string): MarketSeries {
    let s = this.markets.get(symbol);
    if (!s) {
      const make = () => TF_LIST.map(() => new Series(this.capacity));
      s = { mark: make(), last: make() };
      this.markets.set(symbol, s);
    }
    return s;
  }

  /** A committed price (a mark, or a trade with its size): every timeframe's current candle, O(1) each. */
  add(kind: CandlePrice, symbol: string, time: number, price: bigint, volume = 0n): void {
    const series = this.of(symbol)[kind];
    for (let i = 0; i < TF_LIST.length; i++) series[i]!.add(time, TIMEFRAMES[TF_LIST[i]!], price, volume);
  }

  /** The current (newest) candle of a series, formatted; null before the first price. */
  current(m: Market, kind: CandlePrice, tf: Timeframe): CandleRow | null {
    const c = this.markets.get(m.symbol)?.[kind][TF_LIST.indexOf(tf)]?.current ?? null;
    return c === null ? null : candleRow(m, c);
  }

  /**
   * Oldest first: with `since`, the first `limit` candles starting at or after it; without, the newest `limit`.
   * (A candle whose period contains `since` but starts before it is left out, as ccxt's `since` does.)
   */
  view(m: Market, kind: CandlePrice, tf: Timeframe, limit: number, since?: number): CandleRow[] {
    const s = this.markets.get(m.symbol)?.[kind][TF_LIST.indexOf(tf)];
    if (!s) return [];
    let rows: Candle[];
    if (since === undefined) rows = s.ring.latest(limit).reverse();
    else {
      rows = s.ring.latest(s.ring.size, (c) => c.t >= since).reverse();
      if (rows.length > limit) rows.length = limit;
    }
    return rows.map((c) => candleRow(m, c));
  }

  /** A delisted market's candles go (a later market of that symbol may have other scales). */
  forget(symbol: string): void {
    this.markets.delete(symbol);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The insurance fund over time

export interface InsurancePoint {
  time: number;
  seq: number;
  balance: bigint;
}

const MAX_ASSETS = 256;
/** What nearly every command changes in the fund: nothing (no array allocated on the publish path). */
const NO_POINTS: (InsurancePoint & { asset: string })[] = [];
const INSURANCE_PREFIX = 'insurance:';

/**
 * The fund's balance per asset, followed from committed `transfer` events (every change of the fund is a ledger
 * transfer from or to `insurance:<ASSET>`), and one point per committed command that changed it. The balance is
 * never read from the engine while publishing (the engine may already hold later commands not yet durable); it is
 * taken from the engine only when the engine is exactly the committed state: at start and after a recovery.
 */
export class InsuranceHistory {
  readonly points: KeyedRings<InsurancePoint>;
  private readonly balances = new Map<string, bigint>();
  /** Assets whose fund moved in the command being routed. */
  private readonly moved = new Set<string>();
  private readonly before = new Map<string, bigint>();

  constructor(capacity: number) {
    this.points = new KeyedRings(capacity, MAX_ASSETS);
  }

  /** Takes every fund's balance from the engine (only when it holds exactly the committed state). */
  reset(e: EngineState): void {
    this.balances.clear();
    for (const asset of e.assets.keys()) this.balances.set(asset, insuranceFund(e, asset));
  }

  /** A committed transfer: moves the followed balance when it touches a fund. */
  transfer(asset: string, from: string, to: string, amount: bigint): void {
    const out = from.startsWith(INSURANCE_PREFIX) && from.length === INSURANCE_PREFIX.length + asset.length;
    const into = to.startsWith(INSURANCE_PREFIX) && to.length === INSURANCE_PREFIX.length + asset.length;
    if (!out && !into) return;
    const was = this.balances.get(asset) ?? 0n;
    if (!this.moved.has(asset)) {
      this.moved.add(asset);
      this.before.set(asset, was);
    }
    this.balances.set(asset, was + (into ? amount : 0n) - (out ? amount : 0n));
  }

  /** The end of a command: one point per fund it changed (a round trip to the same balance is none). */
  commit(seq: number, time: number): (InsurancePoint & { asset: string })[] {
    if (this.moved.size === 0) return NO_POINTS;
    const out: (InsurancePoint & { asset: string })[] = [];
    for (const asset of this.moved) {
      const balance = this.balances.get(asset)!;
      if (balance === this.before.get(asset)) continue;
      const p = { time, seq, balance };
      this.points.push(asset, p);
      out.push({ ...p, asset });
    }
    this.moved.clear();
    this.before.clear();
    return out;
  }

  /** Oldest first, the newest `limit`. */
  view(asset: string, dp: number, limit: number): InsuranceJson[] {
    return this.points
      .latest(asset, limit)
      .reverse()
      .map((p) => insuranceJson(p, dp));
  }
}

export interface InsuranceJson {
  time: number;
  seq: number;
  balance: string;
}

export const insuranceJson = (p: InsurancePoint, dp: number): InsuranceJson => ({
  time: p.time,
  seq: p.seq,
  balance: formatDecimal(p.balance, dp),
});

export function seriesOf(h: ServiceConfig['history']): { candles: Candles; insurance: InsuranceHistory } {
  return { candles: new Candles(h.candles), insurance: new InsuranceHistory(h.insurancePerAsset) };
}
