/**
 * Per-market liquidation index: the positions of a market ordered by the price at which they must be looked at,
 * so that a mark update visits only the positions it crossed (a B+ tree range, O(log n + k)).
 *
 * What is indexed is a trigger price per position:
 * - isolated: its liquidation price (or, with auto-add margin on, the earlier price where auto-add fires);
 * - cross: a per-account price-distance bound — the account's margin surplus is split across its cross positions,
 *   and each position's trigger is the price at which its own loss (and maintenance growth) would use up its share.
 *   While every mark stays on the safe side of its trigger, the total loss is below the surplus, so the account is
 *   safe; once one is crossed the account is checked exactly and its triggers are recomputed.
 * A trigger is a bound, not a verdict: every candidate is checked exactly before anything happens to it.
 *
 * Key space. Linear contracts are keyed by price. Inverse contracts are keyed by y = −K / price, in which their
 * PnL (and funding) is linear and which orders the same way as price.
 *
 * Funding moves every position's equity without moving the mark, and re-keying all of them at each funding time
 * would be a scan. Instead the market keeps `drift`, a running, never-decreasing bound on the price-equivalent of
 * all funding paid so far (in key units, doubled to cover maintenance slope up to 50%). A long is keyed at
 * trigger − drift(at indexing) and is a candidate when key ≥ mark − drift(now): the funding it paid since it was
 * indexed shifts its effective trigger up by at most drift(now) − drift(at). Shorts mirror it. Funding it received
 * makes it a false positive, which the exact check discards (and re-keys). So a funding time is O(1) plus the
 * positions its drift actually brings into range.
 */
import { ceilDiv, pow10 } from '../core/fixed.ts';
import { FUNDING_INDEX_DP } from '../core/funding.ts';
import type { Instrument } from '../core/instrument.ts';
import type { Position } from './account.ts';
import { type BigTree, bigTree } from './btree.ts';

const SERIAL_BITS = 32n;
const SERIAL_SPAN = 1n << SERIAL_BITS;
/** Inverse key numerator: y = −INVERSE_K / priceUnits keeps ~18 significant digits for any sane price. */
const INVERSE_K = pow10(36);

let serials = 0;
/** A unique tiebreak per indexed position (uniqueness only: candidates are re-sorted deterministically). */
export function nextSerial(): number {
  serials = (serials + 1) % 2 ** 32;
  return serials;
}

export class LiquidationIndex {
  /** Running bound on funding drift, key units; see the module comment. */
  drift = 0n;
  private readonly longs: BigTree<Position> = bigTree();
  private readonly shorts: BigTree<Position> = bigTree();
  /** Positions filed (each keeps its own composite key in `liqKey`: a Map here, deleted from and re-set on every
   * re-file, degraded badly on Node 20 past ~45k entries). */
  private filedCount = 0;
  /**
   * Positions whose state changed since they were filed (a fill, a transfer): re-filed before this market's next
   * sweep, so a position that trades ten times between two mark updates is re-keyed once. Whether a change made a
   * position due at once is checked exactly when it happens (engine: `touchIsolated`, `touchCross`).
   */
  readonly stale = new Set<Position>();

  constructor(private readonly inst: Instrument) {}

  get size(): number {
    return this.filedCount;
  }

  /** Key of a price: the price itself (linear) or −K/price rounded down (inverse; order-preserving, see module). */
  keyOf(price: bigint): bigint {
    if (this.inst.kind === 'linear') return price;
    if (price <= 0n) return -(INVERSE_K * 2n); // below any real price
    return -ceilDiv(INVERSE_K, price);
  }

  /**
   * Adds to `drift` the key-unit equivalent of a funding index move (settle units × 10^FUNDING_INDEX_DP per whole
   * unit of size), doubled and rounded up (a bound may only over-state).
   */
  addFundingMove(indexDelta: bigint): void {
    const d = indexDelta < 0n ? -indexDelta : indexDelta;
    if (d === 0n) return;
    const i = this.inst;
    const den = pow10(FUNDING_INDEX_DP + i.settleDp) * i.multiplier;
    // Linear: settle per whole unit → price units: × 10^priceDp × 10^multiplierDp / multiplier.
    // Inverse: coin per whole contract → y units: × K / (multiplier / 10^multiplierDp) / 10^priceDp.
    const num =
      i.kind === 'linear'
        ? d * pow10(i.priceDp + i.multiplierDp)
        : (d * INVERSE_K * pow10(i.multiplierDp)) / pow10(i.priceDp) + 1n;
    this.drift += 2n * ceilDiv(num, den);
  }

  /**
   * Files `p` under trigger `price` (null: a long that cannot be liquidated above 0 / a short never by price).
   * Returns whether the mark has already reached it (the market needs a sweep now).
   */
  put(p: Position, price: bigint | null): boolean {
    this.remove(p);
    const long = p.sign > 0;
    const trigger = price === null ? (long ? this.keyOf(0n) : this.neverKey()) : this.keyOf(price);
    const key = long ? trigger - this.drift : trigger + this.drift;
    const composite = key * SERIAL_SPAN + BigInt(p.liqSerial);
    (long ? this.longs : this.shorts).set(composite, p);
    p.liqKey = composite;
    p.liqLong = long;
    this.filedCount += 1;
    const mark = p.market.mark;
    if (mark === null) return false;
    const m = this.keyOf(mark);
    return long ? trigger >= m : trigger <= m;
  }

  remove(p: Position): void {
    if (p.liqKey === null) return;
    (p.liqLong ? this.longs : this.shorts).delete(p.liqKey);
    p.liqKey = null;
    this.filedCount -= 1;
  }

  /** Filed, or waiting to be re-filed. */
  has(p: Position): boolean {
    return p.liqKey !== null || this.stale.has(p);
  }

  /** Positions whose trigger the mark has reached (with the funding allowance), removed from the index. */
  takeCrossed(mark: bigint): Position[] {
    const m = this.keyOf(mark);
    const out: Position[] = [];
    const longFrom = (m - this.drift) * SERIAL_SPAN;
    const maxL = this.longs.maxKey();
    if (maxL !== undefined && maxL >= longFrom)
      this.longs.forRange(longFrom, maxL, true, (_k, p) => {
        out.push(p);
      });
    const shortTo = (m + this.drift + 1n) * SERIAL_SPAN;
    const minS = this.shorts.minKey();
    if (minS !== undefined && minS < shortTo)
      this.shorts.forRange(minS, shortTo, false, (_k, p) => {
        out.push(p);
      });
    for (const p of out) this.remove(p);
    return out;
  }

  /**
   * Where a side's walk toward liquidation starts for a mark: its key with the funding allowance, the boundary
   * `takeCrossed` compares against (a long filed above it, a short below it, is a candidate now).
   */
  walkFrom(long: boolean, mark: bigint): bigint {
    const m = this.keyOf(mark);
    return long ? m - this.drift : m + this.drift;
  }

  /**
   * One side's filed positions by the distance of their key from `from` (a key as `walkFrom` gives), nearest first,
   * walking outward both ways at once. Lazy, on the tree's own iterators: taking the first k costs O(log n + k) and
   * never copies the tree. A read: the index must not change while the walk is in progress. The order is the
   * triggers' (see the module comment: a bound, not the liquidation price itself).
   */
  *nearest(long: boolean, from: bigint): Generator<Position, void, undefined> {
    const tree = long ? this.longs : this.shorts;
    if (tree.minKey() === undefined) return;
    const start = from * SERIAL_SPAN;
    const up = tree.entries(start);
    const down = tree.entriesReversed(start - 1n);
    let u = up.next();
    let d = down.next();
    for (;;) {
      const a: [bigint, Position] | null = u.done ? null : u.value;
      const b: [bigint, Position] | null = d.done ? null : d.value;
      // Composite keys: the serial below SERIAL_SPAN only breaks ties between equal trigger keys.
      if (a !== null && (b === null || a[0] - start <= start - b[0])) {
        yield a[1];
        u = up.next();
      } else if (b !== null) {
        yield b[1];
        d = down.next();
      } else return;
    }
  }

  /** A key no mark reaches: above every price (linear) or y = 0, the limit as price → ∞ (inverse). */
  private neverKey(): bigint {
    return this.inst.kind === 'linear' ? 1n << 200n : 0n;
  }
}
