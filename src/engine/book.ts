/**
 * Limit order book: price-time priority over integer ticks and integer lots.
 *
 * Layout. Each side keeps its price levels in a doubly linked list from the best level down (`best`, then
 * `worse`), plus a Map<priceTicks, Level> for O(1) lookup of an existing level on add. Where a NEW level goes is
 * found by binary search over a sorted Float64Array of the side's level keys (best last), inserted with a
 * memmove of plain doubles — levels are bounded by `maxLevelsPerSide`, and the common cases (a new best level,
 * the best level emptying) touch only the end of that array. So best()/bestPrice()/nextAfter() are O(1), and
 * remove()/reduce() are O(1) plus, when a non-best level empties, O(log levels) and a short memmove.
 *
 * Each level is an intrusive doubly linked FIFO through the orders' `prev`/`next`, with the owning level in
 * `order.level`.
 *
 * Determinism: no floats beyond safe-integer arithmetic, no clock, no randomness; iteration order is fully
 * defined by (price priority, insertion order). The book never reorders orders within a level.
 *
 * Contract with the engine: prices are safe integers in 1..2^47 ticks, lots safe integers in 1..2^50.
 * Misuse that indicates an engine bug (adding an order already resting, removing one that is not in this book,
 * non-integer or non-positive sizes, growing an order via reduce) throws and changes nothing.
 */

export type BookSide = 'buy' | 'sell';

export interface BookOrder {
  /** Engine-assigned, unique, increasing. */
  readonly id: number;
  readonly accountId: number;
  readonly side: BookSide;
  readonly priceTicks: number;
  /** Mutated by the book only via its methods (reduce); the matcher calls reduce()/remove() after a fill. */
  remainingLots: number;
  /** Intrusive FIFO links and owning level, managed by the book. Initialise to null. */
  prev: BookOrder | null;
  next: BookOrder | null;
  level: unknown;
}

/** One price level: a FIFO of resting orders at the same price, linked to its better/worse neighbour levels. */
class Level {
  totalLots = 0;
  count = 0;
  head: BookOrder | null = null;
  tail: BookOrder | null = null;
  /** Neighbouring levels on the same side in price priority (better = closer to the spread). */
  better: Level | null = null;
  worse: Level | null = null;
  constructor(
    readonly priceTicks: number,
    readonly owner: SideBook,
  ) {}
}

/** Below this many elements a hand-written shift beats TypedArray#copyWithin's call overhead. */
const SHIFT_LOOP_MAX = 16;

/**
 * One side of the book. Levels form a doubly linked list from `best` through `worse`. To find where a NEW level
 * goes, the side also keeps its levels' signed keys (bids: +price, asks: −price) sorted ascending in a
 * Float64Array, so the best level's key is last: binary search plus a memmove of plain doubles (no pointer
 * moves, no write barriers), which stays cheap even at 10,000 levels.
 */
class SideBook {
  keys: Float64Array;
  n = 0;
  best: Level | null = null;
  readonly byPrice = new Map<number, Level>();
  readonly sign: 1 | -1;
  constructor(
    readonly side: BookSide,
    readonly cap: number,
  ) {
    this.sign = side === 'buy' ? 1 : -1;
    this.keys = new Float64Array(Math.min(cap, 64));
  }

  /** First index whose key is greater than `k`. */
  private upper(k: number): number {
    const keys = this.keys;
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! > k) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Links a new level (whose price is not present) in place. The caller enforces the level cap. */
  insert(level: Level): void {
    const k = this.sign * level.priceTicks;
    let keys = this.keys;
    const n = this.n;
    if (n === keys.length) {
      const grown = new Float64Array(Math.min(this.cap, Math.max(64, n * 2)));
      grown.set(keys);
      this.keys = keys = grown;
    }
    const best = this.best;
    if (best === null || k > keys[n - 1]!) {
      // new best level: the common case
      keys[n] = k;
      level.worse = best;
      if (best !== null) best.better = level;
      this.best = level;
    } else {
      const i = this.upper(k);
      if (n - i <= SHIFT_LOOP_MAX) for (let j = n; j > i; j--) keys[j] = keys[j - 1]!;
      else keys.copyWithin(i + 1, i, n);
      keys[i] = k;
      // keys[i + 1] is the next better level (it exists: k is not the best)
      const better = this.byPrice.get(this.sign * keys[i + 1]!)!;
      const worse = better.worse;
      level.better = better;
      level.worse = worse;
      better.worse = level;
      if (worse !== null) worse.better = level;
    }
    this.n = n + 1;
    this.byPrice.set(level.priceTicks, level);
  }

  /** Unlinks an (empty) level. */
  delete(level: Level): void {
    const better = level.better;
    const worse = level.worse;
    const n = this.n - 1;
    if (better === null) {
      // the best level: its key is the last one
      this.best = worse;
    } else {
      const keys = this.keys;
      const i = this.upper(this.sign * level.priceTicks) - 1;
      if (n - i <= SHIFT_LOOP_MAX) for (let j = i; j < n; j++) keys[j] = keys[j + 1]!;
      else keys.copyWithin(i, i + 1, n + 1);
      better.worse = worse;
    }
    if (worse !== null) worse.better = better;
    level.better = null;
    level.worse = null;
    this.n = n;
    this.byPrice.delete(level.priceTicks);
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const isPositiveSafeInt = (x: number): boolean => Number.isSafeInteger(x) && x > 0;

export class OrderBook {
  readonly maxLevelsPerSide: number;
  private readonly bids: SideBook;
  private readonly asks: SideBook;
  private nOrders = 0;

  constructor(opts: { maxLevelsPerSide: number }) {
    if (!isPositiveSafeInt(opts.maxLevelsPerSide)) {
      throw new RangeError(`book: maxLevelsPerSide must be a positive integer, got ${opts.maxLevelsPerSide}`);
    }
    this.maxLevelsPerSide = opts.maxLevelsPerSide;
    this.bids = new SideBook('buy', opts.maxLevelsPerSide);
    this.asks = new SideBook('sell', opts.maxLevelsPerSide);
  }

  private sideOf(side: BookSide): SideBook {
    return side === 'buy' ? this.bids : this.asks;
  }

  /** The level an order rests in, checking it belongs to this book. */
  private levelOf(o: BookOrder): Level {
    const level = o.level;
    if (!(level instanceof Level) || (level.owner !== this.bids && level.owner !== this.asks)) {
      throw new Error(`book: order ${o.id} is not resting in this book`);
    }
    return level;
  }

  /**
   * Rest an order at the back of its price level. Returns false (and changes nothing) if a new level would
   * exceed maxLevelsPerSide. Throws (and changes nothing) if the order is already resting, its price or lots are
   * not positive safe integers, or the level's total would exceed 2^53 − 1 lots.
   */
  add(o: BookOrder): boolean {
    if (o.level !== null) throw new Error(`book: order ${o.id} is already resting`);
    const price = o.priceTicks;
    const lots = o.remainingLots;
    if (!isPositiveSafeInt(price))
      throw new RangeError(`book: order ${o.id} has invalid priceTicks ${price}`);
    if (!isPositiveSafeInt(lots))
      throw new RangeError(`book: order ${o.id} has invalid remainingLots ${lots}`);
    const s = this.sideOf(o.side);
    let level = s.byPrice.get(price);
    if (level === undefined) {
      if (s.n >= this.maxLevelsPerSide) return false;
      level = new Level(price, s);
      s.insert(level);
    } else if (level.totalLots > MAX_SAFE - lots) {
      throw new RangeError(`book: level ${price} on ${o.side} would exceed 2^53-1 lots`);
    }
    const tail = level.tail;
    o.prev = tail;
    o.next = null;
    if (tail === null) level.head = o;
    else tail.next = o;
    level.tail = o;
    o.level = level;
    level.totalLots += lots;
    level.count++;
    this.nOrders++;
    return true;
  }

  /** O(1) removal (cancel or fully filled); an emptied level is dropped. The order's remainingLots is left as is. */
  remove(o: BookOrder): void {
    const level = this.levelOf(o);
    const prev = o.prev;
    const next = o.next;
    if (prev === null) level.head = next;
    else prev.next = next;
    if (next === null) level.tail = prev;
    else next.prev = prev;
    o.prev = null;
    o.next = null;
    o.level = null;
    level.totalLots -= o.remainingLots;
    this.nOrders--;
    if (--level.count === 0) level.owner.delete(level);
  }

  /**
   * Set a resting order's remaining lots to a smaller positive value, keeping time priority (equal is a no-op).
   * Throws (and changes nothing) if newRemainingLots is not a positive safe integer or exceeds the current value.
   */
  reduce(o: BookOrder, newRemainingLots: number): void {
    const level = this.levelOf(o);
    if (!isPositiveSafeInt(newRemainingLots) || newRemainingLots > o.remainingLots) {
      throw new RangeError(
        `book: cannot reduce order ${o.id} from ${o.remainingLots} to ${newRemainingLots} lots (must be 1..current)`,
      );
    }
    level.totalLots -= o.remainingLots - newRemainingLots;
    o.remainingLots = newRemainingLots;
  }

  /** Oldest order at the best price of a side (highest buy / lowest sell), or null. O(1). */
  best(side: BookSide): BookOrder | null {
    const level = this.sideOf(side).best;
    return level === null ? null : level.head;
  }

  /** Best price of a side in ticks, or null when the side is empty. O(1). */
  bestPrice(side: BookSide): number | null {
    const level = this.sideOf(side).best;
    return level === null ? null : level.priceTicks;
  }

  /**
   * Next order after `o` in price-time priority on the same side (same level FIFO, then the head of the
   * next-worse level), or null. O(1).
   */
  nextAfter(o: BookOrder): BookOrder | null {
    if (o.next !== null) return o.next;
    const worse = this.levelOf(o).worse;
    return worse === null ? null : worse.head;
  }

  /**
   * Lots available to a taker of `takerSide` at prices up to (buy taker: asks <= limitTicks) or down to (sell
   * taker: bids >= limitTicks) the limit, optionally excluding one account's orders (self-trade). Walks best
   * first and stops as soon as `needLots` is reached, so the result is min(available, needLots): enough
   * liquidity exists iff the result equals needLots. Does not mutate the book.
   */
  liquidityUpTo(takerSide: BookSide, limitTicks: number, needLots: number, excludeAccount?: number): number {
    if (needLots <= 0) return 0;
    const buyTaker = takerSide === 'buy';
    let total = 0;
    for (let level = (buyTaker ? this.asks : this.bids).best; level !== null; level = level.worse) {
      if (buyTaker ? level.priceTicks > limitTicks : level.priceTicks < limitTicks) break;
      if (excludeAccount === undefined) {
        total += level.totalLots;
        if (total >= needLots) return needLots;
      } else {
        for (let o = level.head; o !== null; o = o.next) {
          if (o.accountId === excludeAccount) continue;
          total += o.remainingLots;
          if (total >= needLots) return needLots;
        }
      }
    }
    return total;
  }

  /** Aggregated L2 depth: up to `levels` levels per side, best first, as [priceTicks, totalLots]. */
  depth(levels: number): { bids: [number, number][]; asks: [number, number][] } {
    return { bids: depthOf(this.bids, levels), asks: depthOf(this.asks, levels) };
  }

  levelCount(side: BookSide): number {
    return this.sideOf(side).n;
  }

  orderCount(): number {
    return this.nOrders;
  }

  /** Total resting lots at one price on one side (0 when there is no such level). */
  lotsAt(side: BookSide, priceTicks: number): number {
    return this.sideOf(side).byPrice.get(priceTicks)?.totalLots ?? 0;
  }

  /**
   * Every resting order in deterministic price-time order: bids best-first, then asks best-first, each level
   * oldest first. The book must not be mutated while iterating.
   */
  *orders(): Generator<BookOrder, void, undefined> {
    for (let level = this.bids.best; level !== null; level = level.worse) {
      for (let o = level.head; o !== null; o = o.next) yield o;
    }
    for (let level = this.asks.best; level !== null; level = level.worse) {
      for (let o = level.head; o !== null; o = o.next) yield o;
    }
  }

  /** Throws on any broken internal invariant. For tests and debugging; O(orders + levels). */
  checkInvariants(): void {
    const fail = (msg: string): never => {
      throw new Error(`book invariant: ${msg}`);
    };
    let orders = 0;
    for (const s of [this.bids, this.asks]) {
      const n = s.n;
      if (n > this.maxLevelsPerSide) fail(`${s.side} has ${n} levels > cap`);
      if (n > s.keys.length) fail(`${s.side} key count ${n} beyond capacity`);
      if (n !== s.byPrice.size) fail(`${s.side} key count ${n} != map size ${s.byPrice.size}`);
      if ((n === 0) !== (s.best === null)) fail(`${s.side} best/emptiness mismatch`);
      if (s.best !== null && s.best.better !== null) fail(`${s.side} best level has a better level`);
      // walk best → worst: the i-th level must match keys[n - 1 - i]
      let i = n - 1;
      let better: Level | null = null;
      for (let level = s.best; level !== null; level = level.worse, i--) {
        const p = level.priceTicks;
        if (i < 0) fail(`${s.side} more linked levels than keys`);
        if (s.keys[i] !== s.sign * p) fail(`${s.side} level ${p} does not match key ${s.keys[i]} at ${i}`);
        if (i < n - 1 && !(s.keys[i]! < s.keys[i + 1]!))
          fail(`${s.side} keys not strictly ascending at ${i}`);
        if (!isPositiveSafeInt(p)) fail(`${s.side} level price ${p} not a positive safe integer`);
        if (level.owner !== s) fail(`${s.side} level ${p} has the wrong owner`);
        if (level.better !== better) fail(`${s.side} level ${p} better link broken`);
        if (s.byPrice.get(p) !== level) fail(`${s.side} level ${p} missing from map`);
        if (level.count <= 0 || level.head === null || level.tail === null)
          fail(`${s.side} level ${p} empty`);
        if (level.head!.prev !== null) fail(`${s.side} level ${p} head has prev`);
        if (level.tail!.next !== null) fail(`${s.side} level ${p} tail has next`);
        let count = 0;
        let lots = 0;
        let prev: BookOrder | null = null;
        for (let o = level.head; o !== null; o = o.next) {
          count++;
          if (count > level.count) fail(`${s.side} level ${p} list longer than count ${level.count}`);
          if (o.prev !== prev) fail(`order ${o.id} prev link broken`);
          if (o.level !== level) fail(`order ${o.id} level pointer wrong`);
          if (o.side !== s.side) fail(`order ${o.id} side ${o.side} on ${s.side}`);
          if (o.priceTicks !== p) fail(`order ${o.id} price ${o.priceTicks} in level ${p}`);
          if (!isPositiveSafeInt(o.remainingLots)) fail(`order ${o.id} remainingLots ${o.remainingLots}`);
          lots += o.remainingLots;
          prev = o;
        }
        if (prev !== level.tail) fail(`${s.side} level ${p} tail mismatch`);
        if (count !== level.count) fail(`${s.side} level ${p} count ${level.count} != ${count}`);
        if (lots !== level.totalLots) fail(`${s.side} level ${p} totalLots ${level.totalLots} != ${lots}`);
        orders += count;
        better = level;
      }
      if (i !== -1) fail(`${s.side} ${i + 1} keys without a linked level`);
    }
    if (orders !== this.nOrders) fail(`orderCount ${this.nOrders} != ${orders}`);
  }
}

function depthOf(s: SideBook, max: number): [number, number][] {
  const out: [number, number][] = [];
  for (let level = s.best; level !== null && out.length < max; level = level.worse) {
    out.push([level.priceTicks, level.totalLots]);
  }
  return out;
}
