/**
 * Per-market index of untriggered trigger orders (stop-loss / take-profit, commands/orders.ts placeTrigger), so that
 * a mark update visits only the trigger orders it crossed (a B+ tree range, O(log n + k)).
 *
 * Two trees: `rising` holds the orders that fire when the mark rises to their trigger price or above (a sell
 * take-profit, a buy stop-loss), `falling` those that fire when it falls to it or below (a sell stop-loss, a buy
 * take-profit). Keys are composite bigints, trigger ticks then order id, so ties are broken by order sequence and
 * the firing order is deterministic: rising ones lowest trigger first, falling ones highest first — the order in
 * which a moving price reaches them — each price's orders oldest first.
 *
 * A cache of state: the orders themselves (with their `trigger`) are the account's open orders, snapshotted and
 * hashed there; a restore files them again (snapshot.ts).
 */
import type { Order, OrderTrigger } from './account.ts';
import { type BigTree, bigTree } from './btree.ts';

/** Order ids are safe integers: below 2^53. */
const ID_SPAN = 1n << 53n;
/** Above every trigger price (at most MAX_PRICE_TICKS = 2^47 ticks, market.ts): falling keys count down from it. */
const TICKS_SPAN = 1n << 48n;

/** Whether a trigger order fires on a rising mark (mark ≥ trigger) rather than a falling one (mark ≤ trigger). */
export function firesOnRise(side: 'buy' | 'sell', kind: OrderTrigger['kind']): boolean {
  // A sell take-profit and a buy stop-loss wait for the price to rise; a sell stop-loss and a buy take-profit for
  // it to fall.
  return (side === 'sell') === (kind === 'takeProfit');
}

/** Whether `mark` has reached a trigger at `ticks` (price units = ticks × tickSize) in its direction. */
export function reached(rising: boolean, ticks: number, tickSize: bigint, mark: bigint): boolean {
  const price = BigInt(ticks) * tickSize;
  return rising ? mark >= price : mark <= price;
}

export class TriggerIndex {
  private readonly rising: BigTree<Order> = bigTree();
  private readonly falling: BigTree<Order> = bigTree();
  private count = 0;

  constructor(private readonly tickSize: bigint) {}

  /** Untriggered trigger orders filed. */
  get size(): number {
    return this.count;
  }

  add(o: Order): void {
    const t = o.trigger!;
    const rising = firesOnRise(o.side, t.kind);
    if (!(rising ? this.rising : this.falling).set(this.keyOf(o, rising), o))
      throw new Error(`bug: trigger order ${o.id} filed twice`);
    this.count += 1;
  }

  remove(o: Order): void {
    const rising = firesOnRise(o.side, o.trigger!.kind);
    if ((rising ? this.rising : this.falling).delete(this.keyOf(o, rising))) this.count -= 1;
  }

  /**
   * The orders `mark` has reached, removed from the index, in firing order: the rising ones (trigger ≤ mark) lowest
   * trigger first, then the falling ones (trigger ≥ mark) highest first; ties oldest first. Visits only those.
   */
  takeCrossed(mark: bigint): Order[] {
    const out: Order[] = [];
    if (this.count === 0) return out;
    const push = (_k: bigint, o: Order) => {
      out.push(o);
    };
    // Rising: ticks ≤ ⌊mark / tick⌋. Falling (keyed by MAX − ticks): ticks ≥ ⌈mark / tick⌉.
    const upTo = mark / this.tickSize;
    const minR = this.rising.minKey();
    if (minR !== undefined && minR < (upTo + 1n) * ID_SPAN)
      this.rising.forRange(minR, (upTo + 1n) * ID_SPAN, false, push);
    const downTo = (mark + this.tickSize - 1n) / this.tickSize;
    const minF = this.falling.minKey();
    const fallEnd = (TICKS_SPAN - downTo + 1n) * ID_SPAN;
    if (minF !== undefined && minF < fallEnd) this.falling.forRange(minF, fallEnd, false, push);
    for (const o of out) this.remove(o);
    return out;
  }

  /** Every filed order, in firing order as `takeCrossed` would give them (tests, expiry). */
  orders(): Order[] {
    const out: Order[] = [];
    const push = (_k: bigint, o: Order) => {
      out.push(o);
    };
    const all = (t: BigTree<Order>) => {
      const min = t.minKey();
      if (min !== undefined) t.forRange(min, (TICKS_SPAN + 1n) * ID_SPAN, false, push);
    };
    all(this.rising);
    all(this.falling);
    return out;
  }

  private keyOf(o: Order, rising: boolean): bigint {
    const ticks = BigInt(o.trigger!.priceTicks);
    return (rising ? ticks : TICKS_SPAN - ticks) * ID_SPAN + BigInt(o.id);
  }
}
