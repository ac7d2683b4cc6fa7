/**
 * Bounded in-memory histories of committed events, for the REST endpoints that list recent activity: public trades,
 * liquidations and funding rates per market; fills, liquidation events and funding payments per account. Each list
 * keeps its newest `capacity` entries; per-account lists are kept for at most `maxAccounts` accounts, the least
 * recently active forgotten first. The journal holds the complete history; this is a cache that restarts empty.
 *
 * Entries are the engine's events as committed (one shared object per event, however many lists hold it); they are
 * formatted only when read, so a busy market pays nothing per trade for histories nobody asks for.
 */
import { notional } from '../core/margin.ts';
import type { Engine } from '../engine/engine.ts';
import type { Market } from '../engine/market.ts';
import type { EngineEvent } from '../engine/types.ts';
import {
  eventId,
  type FillView,
  fillOf,
  fmtMoney,
  fmtPrice,
  fmtRate,
  fmtSize,
  type PublicTradeView,
  publicTrade,
  type WireEvent,
  wireEvent,
} from './codec.ts';
import type { ServiceConfig } from './config.ts';

/** A fixed-capacity ring: push is O(1), `latest(n)` returns the newest first. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ring capacity must be ≥ 1');
    this.items = new Array<T | undefined>(capacity);
  }

  push(v: T): void {
    this.items[this.head] = v;
    this.head = (this.head + 1) % this.capacity;
    if (this.count < this.capacity) this.count += 1;
  }

  get size(): number {
    return this.count;
  }

  /** Keeps only the entries `keep` accepts, in their order (a delisted market's entries leave every list). */
  retain(keep: (v: T) => boolean): void {
    const kept = this.latest(this.count, keep).reverse();
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
    for (const v of kept) this.push(v);
  }

  /** Up to `n` newest entries, newest first, optionally filtered (the filter sees at most `capacity` entries). */
  latest(n: number, keep?: (v: T) => boolean): T[] {
    const out: T[] = [];
    for (let i = 1; i <= this.count && out.length < n; i++) {
      const v = this.items[(this.head - i + this.capacity) % this.capacity] as T;
      if (!keep || keep(v)) out.push(v);
    }
    return out;
  }
}

/** Rings keyed by a string, at most `maxKeys` of them (least recently pushed to evicted first). */
export class KeyedRings<T> {
  private readonly rings = new Map<string, Ring<T>>();
  constructor(
    readonly capacity: number,
    readonly maxKeys: number,
  ) {}

  push(key: string, v: T): void {
    let r = this.rings.get(key);
    if (r) this.rings.delete(key);
    else {
      r = new Ring<T>(this.capacity);
      if (this.rings.size >= this.maxKeys) {
        const oldest = this.rings.keys().next().value;
        if (oldest !== undefined) this.rings.delete(oldest);
      }
    }
    this.rings.set(key, r);
    r.push(v);
  }

  latest(key: string, n: number, keep?: (v: T) => boolean): T[] {
    return this.rings.get(key)?.latest(n, keep) ?? [];
  }

  delete(key: string): void {
    this.rings.delete(key);
  }

  /** Filters every ring; a ring left empty is dropped. */
  retain(keep: (v: T) => boolean): void {
    for (const [key, r] of this.rings) {
      r.retain(keep);
      if (r.size === 0) this.rings.delete(key);
    }
  }
}

/** One committed event: the command's seq and time, and the event's index within it (its id is `seq-index`). */
export interface Entry<E extends EngineEvent = EngineEvent> {
  seq: number;
  index: number;
  time: number;
  ev: E;
}

type Ev<T extends EngineEvent['type']> = Extract<EngineEvent, { type: T }>;

export interface PublicLiquidation {
  id: string;
  symbol: string;
  timestamp: number;
  /** The liquidated position's side. */
  side: 'long' | 'short';
  contracts: string;
  price: string;
  /** Notional in the settle asset. */
  quoteValue: string;
  stage: 'book' | 'backstop' | 'adl';
  mode: 'isolated' | 'cross';
}

export interface FundingRateRecord {
  symbol: string;
  fundingRate: string;
  price: string;
  timestamp: number;
  paused: boolean;
}

export interface FundingPayment {
  id: string;
  symbol: string;
  /** Positive: paid by the position; negative: received. */
  amount: string;
  /** What the bucket could not pay (covered by the insurance fund). */
  shortfall: string;
  timestamp: number;
  /** The named silo whose leg paid or received it; null: a default position. */
  silo: string | null;
}

export type AccountEvent = WireEvent & { id: string; timestamp: number };

/** The liquidation-related events an account's history and stream carry. */
export type AccountLiquidationEvent = Ev<
  'liquidationStarted' | 'liquidation' | 'adl' | 'autoAddMargin' | 'insuranceDraw'
>;

/** An account's view of one of its liquidation events: ADL never names the liquidated account. */
export function accountEventView(e: Engine, x: Entry<AccountLiquidationEvent>): AccountEvent {
  const w = wireEvent(e, x.ev);
  if (x.ev.type === 'adl') delete (w as Record<string, unknown>).liquidated;
  return { ...w, id: eventId(x.seq, x.index), timestamp: x.time };
}

const MAX_MARKETS = 256; // the engine's bound

export class Histories {
  readonly trades: KeyedRings<Entry<Ev<'trade'>>>;
  readonly liquidations: KeyedRings<Entry<Ev<'liquidation'>>>;
  readonly fundingRates: KeyedRings<Entry<Ev<'fundingRate'>>>;
  /** The same trade entry in the taker's and the maker's list (an account never trades with itself). */
  readonly fills: KeyedRings<Entry<Ev<'trade'>>>;
  readonly accountLiquidations: KeyedRings<Entry<AccountLiquidationEvent>>;
  readonly fundingPayments: KeyedRings<Entry<Ev<'fundingPaid'>>>;

  constructor(h: ServiceConfig['history']) {
    this.trades = new KeyedRings(h.tradesPerMarket, MAX_MARKETS);
    this.liquidations = new KeyedRings(h.liquidationsPerMarket, MAX_MARKETS);
    this.fundingRates = new KeyedRings(h.fundingPerMarket, MAX_MARKETS);
    this.fills = new KeyedRings(h.perAccount, h.maxAccounts);
    this.accountLiquidations = new KeyedRings(h.perAccount, h.maxAccounts);
    this.fundingPayments = new KeyedRings(h.perAccount, h.maxAccounts);
  }

  /**
   * A delisted market's entries go: views format them with the market's scales, which no longer resolve (and a
   * market created later under the same symbol may use other ones).
   */
  forgetMarket(symbol: string): void {
    this.trades.delete(symbol);
    this.liquidations.delete(symbol);
    this.fundingRates.delete(symbol);
    this.fills.retain((x) => x.ev.symbol !== symbol);
    this.accountLiquidations.retain((x) => x.ev.symbol !== symbol);
    this.fundingPayments.retain((x) => x.ev.symbol !== symbol);
  }

  tradeViews(e: Engine, symbol: string, limit: number): PublicTradeView[] {
    const m = e.markets.get(symbol)!;
    return this.trades
      .latest(symbol, limit)
      .map((x) => publicTrade(m, x.ev, eventId(x.seq, x.index), x.time));
  }

  fillViews(e: Engine, account: string, limit: number, symbol?: string): FillView[] {
    return this.fills
      .latest(account, limit, (x) => symbol === undefined || x.ev.symbol === symbol)
      .map((x) =>
        fillOf(
          e.markets.get(x.ev.symbol)!,
          x.ev,
          eventId(x.seq, x.index),
          x.time,
          x.ev.taker === account ? 'taker' : 'maker',
        ),
      );
  }

  liquidationViews(e: Engine, symbol: string, limit: number): PublicLiquidation[] {
    const m = e.markets.get(symbol)!;
    return this.liquidations.latest(symbol, limit).map((x) => publicLiquidation(m, x));
  }

  fundingRateViews(e: Engine, symbol: string, limit: number): FundingRateRecord[] {
    const m = e.markets.get(symbol)!;
    return this.fundingRates.latest(symbol, limit).map(({ ev }) => fundingRateView(m, ev));
  }

  accountLiquidationViews(e: Engine, account: string, limit: number, symbol?: string): AccountEvent[] {
    return this.accountLiquidations
      .latest(account, limit, (x) => symbol === undefined || x.ev.symbol === symbol)
      .map((x) => accountEventView(e, x));
  }

  fundingPaymentViews(e: Engine, account: string, limit: number, symbol?: string): FundingPayment[] {
    return this.fundingPayments
      .latest(account, limit, (x) => symbol === undefined || x.ev.symbol === symbol)
      .map(({ seq, index, time, ev }) => {
        const m = e.markets.get(ev.symbol)!;
        return {
          id: eventId(seq, index),
          symbol: ev.symbol,
          amount: fmtMoney(m, ev.amount),
          shortfall: fmtMoney(m, ev.shortfall),
          timestamp: time,
          silo: ev.silo ?? null,
        };
      });
  }
}

/** A liquidation stage as the public list and the `liquidations.<SYMBOL>` stream show it (no account ids). */
export function publicLiquidation(
  m: Market,
  { seq, index, time, ev }: Entry<Ev<'liquidation'>>,
): PublicLiquidation {
  return {
    id: eventId(seq, index),
    symbol: ev.symbol,
    timestamp: time,
    side: ev.side,
    contracts: fmtSize(m, ev.size),
    price: fmtPrice(m, ev.price),
    quoteValue: fmtMoney(m, notional(m.inst, ev.size, ev.price, 'ceil')),
    stage: ev.stage,
    mode: ev.mode,
  };
}

export function fundingRateView(m: Market, ev: Ev<'fundingRate'>): FundingRateRecord {
  return {
    symbol: ev.symbol,
    fundingRate: fmtRate(ev.rate),
    price: fmtPrice(m, ev.price),
    timestamp: ev.time,
    paused: ev.paused,
  };
}
