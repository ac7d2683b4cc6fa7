/**
 * A market maker that keeps a ladder of resting orders around the price, so that liquidation orders (reduce-only
 * IOCs) meet a book.
 *
 * The ladder sits on a fixed grid of `stepTicks`: anchored at the price rounded to the grid, `levels` bids below
 * and `levels` asks above, each `levelLots`. Re-quoting is proportional to what changed: when the anchor moves by
 * j grid steps only min(j, levels) orders per side move (amended to the new far end), and an order that was filled
 * is re-placed or topped up; when nothing moved and nothing filled, re-quoting sends nothing.
 *
 * The side moving away from the other goes first (asks when the price rises), so an amended order never crosses
 * the maker's own other side. The maker learns about fills and cancels from the engine's events (`onTrade`,
 * `onCanceled`), never by reading the book.
 */
import type { ApplyResult, Command } from '../engine/types.ts';

export interface MakerSpec {
  symbol: string;
  account: string;
  stepTicks: number;
  levels: number;
  levelLots: number;
  /** Formats a price in ticks and a size in lots as command decimals. */
  price: (ticks: number) => string;
  size: (lots: number) => string;
}

interface Slot {
  orderId: number;
  priceTicks: number;
  lots: number;
}

export type Apply = (cmd: Command) => ApplyResult;

const PRICE_CACHE = 4096;

/** The level (1..levels) whose price is `anchor + delta × level` for `price`, or 0 when no level has that price. */
function levelOf(price: number, anchor: number, delta: number, levels: number): number {
  const level = (price - anchor) / delta;
  return Number.isInteger(level) && level >= 1 && level <= levels ? level : 0;
}

export class MarketMaker {
  private readonly bids: Slot[];
  private readonly asks: Slot[];
  private readonly byOrder = new Map<number, Slot>();
  private anchor = -1;
  /** Slots that lost lots or their order since the last re-quote. */
  private dirty = true;
  private readonly levelSize: string;
  /** Scratch of `side` (one entry per level; `movable` holds at most the side's slots). */
  private readonly taken: Uint8Array;
  private readonly movable: (Slot | null)[];
  private readonly prices = new Map<number, string>();

  constructor(readonly spec: MakerSpec) {
    if (!(spec.stepTicks >= 1 && spec.levels >= 1 && spec.levels <= 50 && spec.levelLots >= 1))
      throw new Error(`market maker ${spec.symbol}: bad ladder`);
    const slot = (): Slot => ({ orderId: 0, priceTicks: 0, lots: 0 });
    this.bids = Array.from({ length: spec.levels }, slot);
    this.asks = Array.from({ length: spec.levels }, slot);
    this.levelSize = spec.size(spec.levelLots);
    this.taken = new Uint8Array(spec.levels);
    this.movable = new Array<Slot | null>(spec.levels).fill(null);
  }

  /** A fill of one of this maker's orders (the trade event's maker order id and size in lots). */
  onTrade(orderId: number, lots: number): void {
    const s = this.byOrder.get(orderId);
    if (!s) return;
    s.lots -= lots;
    if (s.lots <= 0) this.clear(s);
    this.dirty = true;
  }

  onCanceled(orderId: number): void {
    const s = this.byOrder.get(orderId);
    if (s) this.clear(s);
    this.dirty = true;
  }

  private clear(s: Slot): void {
    this.byOrder.delete(s.orderId);
    s.orderId = 0;
    s.lots = 0;
  }

  /** Moves the ladder to `priceTicks`; sends only the commands that the move or earlier fills require. */
  requote(priceTicks: number, time: number, apply: Apply): void {
    const step = this.spec.stepTicks;
    const anchor = Math.max(step * (this.spec.levels + 1), Math.round(priceTicks / step) * step);
    if (anchor === this.anchor && !this.dirty) return;
    const up = anchor >= this.anchor;
    this.anchor = anchor;
    this.dirty = false;
    if (up) {
      this.side('sell', this.asks, anchor, time, apply);
      this.side('buy', this.bids, anchor, time, apply);
    } else {
      this.side('buy', this.bids, anchor, time, apply);
      this.side('sell', this.asks, anchor, time, apply);
    }
  }

  private side(side: 'buy' | 'sell', slots: Slot[], anchor: number, time: number, apply: Apply): void {
    const { stepTicks: step, levels, levelLots } = this.spec;
    const dir = side === 'buy' ? -1 : 1;
    // Desired prices, nearest first: level i (1..levels) at anchor + dir × step × i. An order already resting at one
    // of them stays there (topped up if it was partly filled); the other slots move to, or are placed at, the
    // prices still missing. `taken[i - 1]` marks level i as held; `movable` lists the other slots in order (both
    // scratch, reused: this runs every minute on every market).
    const taken = this.taken.fill(0);
    const movable = this.movable;
    let moving = 0;
    for (const s of slots) {
      const level = s.orderId !== 0 ? levelOf(s.priceTicks, anchor, dir * step, levels) : 0;
      if (level !== 0 && taken[level - 1] === 0) {
        taken[level - 1] = 1;
        if (s.lots < levelLots) this.amend(s, s.priceTicks, time, apply);
      } else movable[moving++] = s;
    }
    let level = 1;
    for (let j = 0; j < moving; j++) {
      const s = movable[j]!;
      while (level <= levels && taken[level - 1] !== 0) level++;
      if (level > levels) break;
      taken[level - 1] = 1;
      const target = anchor + dir * step * level;
      if (s.orderId !== 0) this.amend(s, target, time, apply);
      else this.place(s, side, target, time, apply);
    }
    movable.fill(null);
  }

  private amend(s: Slot, target: number, time: number, apply: Apply): void {
    const { account, symbol } = this.spec;
    const size = this.levelSize;
    const r = apply(
      target !== s.priceTicks
        ? { type: 'amendOrder', time, account, symbol, orderId: s.orderId, price: this.price(target), size }
        : { type: 'amendOrder', time, account, symbol, orderId: s.orderId, size },
    );
    if (!r.ok) this.dirty = true;
    else if (s.orderId !== 0) {
      // (An amend that finds the level full cancels the order instead; its event has cleared the slot.)
      s.priceTicks = target;
      s.lots = this.spec.levelLots;
    }
  }

  /** `spec.price`, remembered: the ladder's prices recur as the price wanders (bounded; cleared when full). */
  private price(ticks: number): string {
    let p = this.prices.get(ticks);
    if (p === undefined) {
      if (this.prices.size >= PRICE_CACHE) this.prices.clear();
      p = this.spec.price(ticks);
      this.prices.set(ticks, p);
    }
    return p;
  }

  private place(s: Slot, side: 'buy' | 'sell', target: number, time: number, apply: Apply): void {
    const r = apply({
      type: 'placeOrder',
      time,
      account: this.spec.account,
      symbol: this.spec.symbol,
      side,
      orderType: 'limit',
      price: this.price(target),
      size: this.levelSize,
      // Post-only: a quote never takes (it would not be a quote, and the slot could not track it).
      timeInForce: 'PO',
    });
    const rested =
      r.ok &&
      r.orderId !== undefined &&
      !r.events.some((e) => e.type === 'orderCanceled' && e.orderId === r.orderId);
    if (rested) {
      s.orderId = r.orderId!;
      s.priceTicks = target;
      s.lots = this.spec.levelLots;
      this.byOrder.set(s.orderId, s);
    } else this.dirty = true;
  }
}
