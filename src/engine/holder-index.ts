/**
 * The silos holding one collateral asset, ordered by the index price at or below which each must be looked at
 * (collateral.ts): an index update visits only the holders whose holding it has taken too far down — a B+ tree range,
 * O(log n + k) — as the liquidation index does for positions by mark.
 *
 * A holder's key comes from its silo's filing (liquidation.ts fileCrossKeys): the silo's margin surplus is split into
 * shares across its legs and its holdings, each leg filed at the mark where its loss uses up its share, each holding
 * here at the index where the fall of its value does. While every price stays on the safe side of its key, the
 * silo's total loss is below its surplus. A key is a bound, not a verdict: the silo is checked exactly when taken.
 */
import type { Silo } from './account.ts';
import { type BigTree, bigTree } from './btree.ts';

const SERIAL_SPAN = 1n << 32n;
/** A key every index price reaches: the holder is looked at on every move of the index. */
export const EVERY_MOVE = 1n << 200n;

export class HolderIndex {
  private readonly tree: BigTree<Silo> = bigTree();
  /** Each filed silo's composite key (price × SERIAL_SPAN + serial). */
  private readonly keys = new Map<Silo, bigint>();
  private readonly serials = new Map<Silo, bigint>();
  private nextSerial = 0n;
  /** Holders whose silo changed since they were filed: re-filed before the index is next looked at. */
  readonly stale = new Set<Silo>();

  /** Files `silo` to be looked at once the index is at or below `price`. */
  put(silo: Silo, price: bigint): void {
    this.remove(silo);
    let serial = this.serials.get(silo);
    if (serial === undefined) {
      serial = this.nextSerial++ % SERIAL_SPAN;
      this.serials.set(silo, serial);
    }
    const key = price * SERIAL_SPAN + serial;
    this.tree.set(key, silo);
    this.keys.set(silo, key);
  }

  /** Out of the index (its serial is forgotten too when `forget`: the silo is gone). */
  remove(silo: Silo, forget = false): void {
    const key = this.keys.get(silo);
    if (key !== undefined) {
      this.tree.delete(key);
      this.keys.delete(silo);
    }
    if (forget) {
      this.serials.delete(silo);
      this.stale.delete(silo);
    }
  }

  has(silo: Silo): boolean {
    return this.keys.has(silo);
  }

  /** The index price at or below which `silo` is looked at (null: not filed). */
  priceOf(silo: Silo): bigint | null {
    const key = this.keys.get(silo);
    return key === undefined ? null : key / SERIAL_SPAN;
  }

  /** The holders whose key the index `price` has reached (key ≥ price), removed from the index. */
  takeCrossed(price: bigint): Silo[] {
    const from = price * SERIAL_SPAN;
    const max = this.tree.maxKey();
    if (max === undefined || max < from) return [];
    const out: Silo[] = [];
    this.tree.forRange(from, max, true, (_k, s) => {
      out.push(s);
    });
    for (const s of out) this.remove(s);
    return out;
  }

  get size(): number {
    return this.keys.size;
  }
}
