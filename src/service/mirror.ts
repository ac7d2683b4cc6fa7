/**
 * The committed view of each market: its aggregated order book (L2), last trade, mark and index prices, built only
 * from events of commands the journal has committed. The engine runs ahead of the disk by the open batch, so its
 * own book may show orders that a crash would lose; streams and order-book snapshots are served from this mirror
 * instead, so nothing a client sees can be undone by a recovery, and a snapshot's `seq` lines up exactly with the
 * deltas that follow it.
 *
 * Built from the engine once (right after recovery, when the engine is exactly the committed state), then kept by
 * `apply(events)` per committed command. Book rules, from the engine's event contract:
 * - a resting order leaves by `orderCanceled` (with its remaining size) or by trades against it as maker (`trade`
 *   events carry the maker's price and the size); `orderAmended` moves or resizes it;
 * - an incoming order announces itself with `orderAccepted`; after its command it rests with whatever neither
 *   traded (as taker) nor was cancelled — only GTC and post-only orders can rest at all. A stop-loss / take-profit
 *   (`orderAccepted` with a `triggerPrice`) waits outside the book: it is incoming only once `orderTriggered` says
 *   so, and a cancel before that finds no resting order to remove.
 * `verifyAgainst(engine)` checks the mirror equals the engine's book (tests; and whenever nothing is pending).
 */
import type { Engine } from '../engine/engine.ts';
import type { Market } from '../engine/market.ts';
import type { EngineEvent, OrderSide } from '../engine/types.ts';

interface RestingOrder {
  side: OrderSide;
  price: bigint;
  remaining: bigint;
}

interface Incoming {
  side: OrderSide;
  price: bigint;
  remaining: bigint;
  canRest: boolean;
  done: boolean;
}

export class BookLevels {
  readonly levels = new Map<bigint, bigint>();
  private sorted: bigint[] | null = null;
  constructor(readonly side: OrderSide) {}

  /** Adds `delta` (may be negative) at `price`; returns the level's new total. */
  add(price: bigint, delta: bigint): bigint {
    const before = this.levels.get(price) ?? 0n;
    const after = before + delta;
    if (after < 0n) throw new Error(`book mirror: level ${price} would go negative`);
    if (after === 0n) this.levels.delete(price);
    else this.levels.set(price, after);
    if ((before === 0n) !== (after === 0n)) this.sorted = null;
    return after;
  }

  /** Up to `n` levels, best first (bids high to low, asks low to high). */
  top(n: number): [bigint, bigint][] {
    if (this.sorted === null) {
      const keys = [...this.levels.keys()];
      keys.sort((a, b) => (a === b ? 0 : a < b ? -1 : 1));
      if (this.side === 'buy') keys.reverse();
      this.sorted = keys;
    }
    const out: [bigint, bigint][] = [];
    for (const p of this.sorted) {
      if (out.length >= n) break;
      out.push([p, this.levels.get(p)!]);
    }
    return out;
  }

  best(): [bigint, bigint] | null {
    return this.top(1)[0] ?? null;
  }
}

export class MarketMirror {
  readonly bids = new BookLevels('buy');
  readonly asks = new BookLevels('sell');
  readonly orders = new Map<number, RestingOrder>();
  last: bigint | null = null;
  mark: bigint | null = null;
  index: bigint | null = null;
  /** Time (ms) of the last committed change. */
  time = 0;
  constructor(readonly symbol: string) {}

  side(s: OrderSide): BookLevels {
    return s === 'buy' ? this.bids : this.asks;
  }
}

/** Levels whose totals changed in one command: [price, new total] (0 = level gone). */
export interface BookDelta {
  symbol: string;
  bids: Map<bigint, bigint>;
  asks: Map<bigint, bigint>;
}

export class Mirror {
  readonly markets = new Map<string, MarketMirror>();
  /** The seq of the last command applied to the mirror. */
  seq = 0;

  /** Builds the mirror from an engine holding exactly the committed state (nothing pending). */
  static fromEngine(e: Engine): Mirror {
    const mirror = new Mirror();
    mirror.seq = e.seq;
    for (const m of e.markets.values()) {
      const mm = new MarketMirror(m.symbol);
      for (const o of m.book.orders()) {
        const price = m.price(o.priceTicks);
        const size = m.size(o.remainingLots);
        mm.orders.set(o.id, { side: o.side, price, remaining: size });
        mm.side(o.side).add(price, size);
      }
      mm.last = m.last;
      mm.mark = m.mark;
      mm.index = m.oracle?.index ?? null;
      mm.time = e.lastTime;
      mirror.markets.set(m.symbol, mm);
    }
    return mirror;
  }

  /** Applies one committed command's events; returns the book levels it changed, per market. */
  apply(seq: number, time: number, events: readonly EngineEvent[]): Map<string, BookDelta> {
    if (seq <= this.seq) throw new Error(`book mirror: seq ${seq} applied after ${this.seq}`);
    this.seq = seq;
    const deltas = new Map<string, BookDelta>();
    const incoming = new Map<number, Incoming & { symbol: string }>();
    const touch = (symbol: string, side: OrderSide, price: bigint, total: bigint) => {
      let d = deltas.get(symbol);
      if (!d) {
        d = { symbol, bids: new Map(), asks: new Map() };
        deltas.set(symbol, d);
      }
      (side === 'buy' ? d.bids : d.asks).set(price, total);
    };
    const removeSize = (mm: MarketMirror, id: number, size: bigint) => {
      const o = mm.orders.get(id);
      if (!o) return false;
      const take = size < o.remaining ? size : o.remaining;
      o.remaining -= take;
      touch(mm.symbol, o.side, o.price, mm.side(o.side).add(o.price, -take));
      if (o.remaining === 0n) mm.orders.delete(id);
      return true;
    };
    for (const ev of events) {
      switch (ev.type) {
        case 'marketCreated':
          this.markets.set(ev.symbol, new MarketMirror(ev.symbol));
          break;
        case 'marketDelisted':
          // Flat, so its book is empty: nothing to publish, the mirror just forgets it.
          this.markets.delete(ev.symbol);
          deltas.delete(ev.symbol);
          break;
        case 'orderAccepted':
          // A stop-loss / take-profit waiting for its price is in no book: it enters (as incoming) when it fires.
          if (ev.triggerPrice !== undefined) break;
          incoming.set(ev.orderId, {
            symbol: ev.symbol,
            side: ev.side,
            price: ev.price,
            remaining: ev.size,
            canRest: ev.timeInForce === 'GTC' || ev.timeInForce === 'PO',
            done: false,
          });
          break;
        case 'orderTriggered':
          incoming.set(ev.orderId, {
            symbol: ev.symbol,
            side: ev.side,
            price: ev.price,
            remaining: ev.size,
            canRest: ev.timeInForce === 'GTC',
            done: false,
          });
          break;
        case 'trade': {
          const mm = this.market(ev.symbol);
          removeSize(mm, ev.makerOrderId, ev.size);
          const t = incoming.get(ev.takerOrderId);
          if (t) t.remaining -= ev.size;
          mm.last = ev.price;
          break;
        }
        case 'orderCanceled': {
          const t = incoming.get(ev.orderId);
          if (t && !t.done) t.done = true;
          else removeSize(this.market(ev.symbol), ev.orderId, ev.remaining);
          break;
        }
        case 'orderAmended': {
          const mm = this.market(ev.symbol);
          const o = mm.orders.get(ev.orderId);
          if (!o) break;
          touch(mm.symbol, o.side, o.price, mm.side(o.side).add(o.price, -o.remaining));
          o.price = ev.price;
          o.remaining = ev.size;
          touch(mm.symbol, o.side, o.price, mm.side(o.side).add(o.price, o.remaining));
          break;
        }
        case 'markPrice':
          this.market(ev.symbol).mark = ev.price;
          break;
        case 'indexPrice':
          if (ev.price !== null) this.market(ev.symbol).index = ev.price;
          break;
        default:
          break;
      }
    }
    for (const [id, t] of incoming) {
      if (t.done || !t.canRest || t.remaining <= 0n) continue;
      const mm = this.market(t.symbol);
      mm.orders.set(id, { side: t.side, price: t.price, remaining: t.remaining });
      touch(mm.symbol, t.side, t.price, mm.side(t.side).add(t.price, t.remaining));
    }
    for (const ev of events) {
      const mm = 'symbol' in ev ? this.markets.get(ev.symbol) : undefined;
      if (mm) mm.time = time;
    }
    return deltas;
  }

  market(symbol: string): MarketMirror {
    const mm = this.markets.get(symbol);
    if (!mm) throw new Error(`book mirror: unknown market ${symbol}`);
    return mm;
  }

  /** Differences between the mirror's book and the engine's (empty when equal). Compare only with nothing pending. */
  verifyAgainst(e: Engine): string[] {
    const problems: string[] = [];
    for (const m of e.markets.values()) {
      const mm = this.markets.get(m.symbol);
      if (!mm) {
        problems.push(`${m.symbol}: missing from the mirror`);
        continue;
      }
      for (const side of ['buy', 'sell'] as const) {
        const want = engineLevels(m, side);
        const got = mm.side(side).levels;
        if (want.size !== got.size)
          problems.push(`${m.symbol} ${side}: ${got.size} levels, engine ${want.size}`);
        for (const [p, s] of want) {
          if (got.get(p) !== s) problems.push(`${m.symbol} ${side} ${p}: ${got.get(p) ?? 0n}, engine ${s}`);
        }
      }
    }
    return problems;
  }
}

function engineLevels(m: Market, side: OrderSide): Map<bigint, bigint> {
  const out = new Map<bigint, bigint>();
  for (const o of m.book.orders()) {
    if (o.side !== side) continue;
    const p = m.price(o.priceTicks);
    out.set(p, (out.get(p) ?? 0n) + m.size(o.remainingLots));
  }
  return out;
}
