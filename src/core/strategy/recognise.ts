/**
 * The strategy recogniser (issue 18, options-margin.md §3b): finds the standard strategies in each group's legs.
 * Greedy, in priority order, over the legs in canonical order (so invariant to the order they were given in):
 *   box → iron condor / iron butterfly → butterfly → vertical → covered call / covered put → straddle / strangle
 *   → naked.
 * Legs at one (type, side, strike) pool their sizes; a strategy takes an exact bigint quantity of the pool, so a leg
 * may be split across strategies. Every search order is fixed below; ties go to the lower strike.
 *
 * Cost: it runs on every re-check of a `strategy` silo, so the book is indexed — pools by strike index with running
 * totals, and "nearest open strike" answered by skip lists over each (type, side) ladder. Pools only ever shrink,
 * which is what makes those skips safe and lets the searches stop early without changing what they find.
 */
import type { GroupedLegs, LegGroup } from './legs.ts';
import type { PortfolioLeg, RecognisedStrategy, StrategyType } from './types.ts';

/** A recognised strategy before the rules price it. */
export type Recognised = Omit<RecognisedStrategy, 'initialMargin' | 'maintenanceMargin' | 'maxLoss'>;

type OptionSlot = 'call' | 'put';
type Side = 1 | -1;
type Part = { leg: number; size: bigint };
type Take = readonly [Pool, bigint];

const SIDES = [1, -1] as const;
const minOf = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const cmpBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** The open sizes of one (slot, side, strike), legs in canonical order; `total` kept as they are taken. */
class Pool {
  readonly legs: number[] = [];
  readonly left: bigint[] = [];
  total = 0n;
  /** Entries before `head` are used up (they are taken in order). */
  private head = 0;

  constructor(
    private readonly ladder: Ladder | null,
    private readonly at: number,
  ) {}

  add(leg: number, size: bigint): void {
    this.legs.push(leg);
    this.left.push(size);
    this.total += size;
  }

  /** Takes up to q, legs in canonical order, appending the parts. */
  take(q: bigint, parts: Part[]): void {
    for (let i = this.head; i < this.legs.length && q > 0n; i++) {
      const left = this.left[i]!;
      const n = left < q ? left : q;
      if (n === 0n) continue;
      this.left[i] = left - n;
      this.total -= n;
      q -= n;
      parts.push({ leg: this.legs[i]!, size: n });
    }
    while (this.head < this.legs.length && this.left[this.head] === 0n) this.head++;
    if (this.total === 0n) this.ladder?.close(this.at);
  }
}

/**
 * One (option type, side) over the type's strikes (ascending): the pool at each strike index and the open ones.
 * `up[i]` / `down[i + 1]` point at a candidate open index at or above / at or below i (a union-find with path
 * compression): a closed index points past itself, so each search skips closed runs in near-constant time.
 */
class Ladder {
  readonly pools: (Pool | undefined)[];
  private readonly up: Int32Array;
  private readonly down: Int32Array;

  constructor(readonly n: number) {
    this.pools = new Array<Pool | undefined>(n).fill(undefined);
    this.up = new Int32Array(n + 1);
    this.down = new Int32Array(n + 1);
    for (let i = 0; i <= n; i++) {
      this.up[i] = i;
      this.down[i] = i;
    }
  }

  qty(i: number): bigint {
    return this.pools[i]?.total ?? 0n;
  }

  /** Marks index i as having nothing open (it never reopens). */
  close(i: number): void {
    this.up[i] = i + 1;
    this.down[i + 1] = i;
  }

  /** The first open index ≥ i, or n. */
  next(i: number): number {
    return find(this.up, i);
  }

  /** The last open index ≤ i, or −1. */
  prev(i: number): number {
    return find(this.down, i + 1) - 1;
  }
}

/** Root of i in a skip array (a fixed point), compressing the path to it. */
function find(to: Int32Array, i: number): number {
  let r = i;
  while (to[r] !== r) r = to[r]!;
  while (to[i] !== r) {
    const next = to[i]!;
    to[i] = r;
    i = next;
  }
  return r;
}

/** The open quantities of one group: per option type its strikes and a ladder per side; the delta-one pools. */
class Book {
  readonly strikes: Record<OptionSlot, bigint[]>;
  /** Strikes held in both types, ascending, as [call index, put index]: the only ones a box or straddle can use. */
  readonly common: [number, number][] = [];
  private readonly ladders: Record<OptionSlot, Record<Side, Ladder>>;
  private readonly linears: Record<Side, Pool> = { 1: new Pool(null, 0), [-1]: new Pool(null, 0) };

  constructor(legs: readonly PortfolioLeg[], group: LegGroup) {
    const seen = { call: new Set<bigint>(), put: new Set<bigint>() };
    for (const i of group.legs) {
      const leg = legs[i]!;
      if (leg.kind === 'option') seen[leg.type!].add(leg.strike ?? 0n);
    }
    this.strikes = { call: [...seen.call].sort(cmpBig), put: [...seen.put].sort(cmpBig) };
    const index = { call: indexOf(this.strikes.call), put: indexOf(this.strikes.put) };
    const ladder = (t: OptionSlot) => ({
      1: new Ladder(this.strikes[t].length),
      [-1]: new Ladder(this.strikes[t].length),
    });
    this.ladders = { call: ladder('call'), put: ladder('put') };
    for (const i of group.legs) {
      const leg = legs[i]!;
      if (leg.kind !== 'option') {
        this.linears[leg.sign].add(i, leg.size);
        continue;
      }
      const t = leg.type!;
      const at = index[t].get(leg.strike ?? 0n)!;
      const l = this.ladders[t][leg.sign];
      let pool = l.pools[at];
      if (pool === undefined) {
        pool = new Pool(l, at);
        l.pools[at] = pool;
      }
      pool.add(i, leg.size);
    }
    for (const t of ['call', 'put'] as const)
      for (const side of SIDES) {
        const l = this.ladders[t][side];
        for (let i = 0; i < l.n; i++) if (l.qty(i) === 0n) l.close(i);
      }
    this.strikes.call.forEach((k, c) => {
      const p = index.put.get(k);
      if (p !== undefined) this.common.push([c, p]);
    });
  }

  ladder(t: OptionSlot, side: Side): Ladder {
    return this.ladders[t][side];
  }

  /** The pool at strike index i (an empty one when nothing was ever there: taking 0 from it is a no-op). */
  pool(t: OptionSlot, side: Side, i: number): Pool {
    return this.ladders[t][side].pools[i] ?? EMPTY;
  }

  qty(t: OptionSlot, side: Side, i: number): bigint {
    return this.ladders[t][side].qty(i);
  }

  linear(side: Side): Pool {
    return this.linears[side];
  }

  /** Strike indexes of `t` with open quantity on `side`: nearest below i, nearest above i, nearest overall (≠ i);
   * −1 when none. */
  below(t: OptionSlot, side: Side, i: number): number {
    return this.ladders[t][side].prev(i - 1);
  }
  above(t: OptionSlot, side: Side, i: number): number {
    const l = this.ladders[t][side];
    const j = l.next(i + 1);
    return j < l.n ? j : -1;
  }
  nearest(t: OptionSlot, side: Side, i: number): number {
    const lo = this.below(t, side, i);
    const hi = this.above(t, side, i);
    if (lo < 0) return hi;
    if (hi < 0) return lo;
    const ks = this.strikes[t];
    const k = ks[i]!;
    return ks[hi]! - k < k - ks[lo]! ? hi : lo;
  }

  /** Everything still open, canonical order. */
  rest(rank: Int32Array): Part[] {
    const parts: Part[] = [];
    const pools: Pool[] = [this.linears[1], this.linears[-1]];
    for (const t of ['call', 'put'] as const)
      for (const side of SIDES)
        for (const p of this.ladders[t][side].pools) if (p !== undefined) pools.push(p);
    for (const p of pools)
      p.legs.forEach((leg, i) => {
        if (p.left[i]! > 0n) parts.push({ leg, size: p.left[i]! });
      });
    return parts.sort((a, b) => rank[a.leg]! - rank[b.leg]!);
  }
}

const EMPTY = new Pool(null, 0);

function indexOf(ks: readonly bigint[]): Map<bigint, number> {
  return new Map(ks.map((k, i) => [k, i]));
}

class Recogniser {
  readonly out: Recognised[] = [];
  private readonly book: Book;

  constructor(
    private readonly legs: readonly PortfolioLeg[],
    private readonly group: LegGroup,
    private readonly rank: Int32Array,
  ) {
    this.book = new Book(legs, group);
  }

  /** Takes every wanted quantity and records the strategy (parts in canonical leg order). */
  private emit(type: StrategyType, direction: Recognised['direction'], takes: readonly Take[]): void {
    const parts: Part[] = [];
    for (const [pool, q] of takes) pool.take(q, parts);
    parts.sort((a, b) => this.rank[a.leg]! - this.rank[b.leg]!);
    const s: Recognised = { type, direction, underlying: this.group.underlying, legs: parts };
    if (this.group.expiry !== undefined) s.expiry = this.group.expiry;
    this.out.push(s);
  }

  /** Long box +C(K1) −C(K2) −P(K1) +P(K2) (debit), short box the reverse (credit); K1 < K2 ascending. Only strikes
   * held in both types can carry one. */
  boxes(): void {
    const b = this.book;
    const ks = b.common;
    for (let i = 0; i < ks.length; i++) {
      const [c1, p1] = ks[i]!;
      for (let j = i + 1; j < ks.length; j++) {
        // K1's pools only shrink: once neither direction has both there, no later K2 can pair with it.
        if (!this.boxFoot(c1, p1, 1) && !this.boxFoot(c1, p1, -1)) break;
        const [c2, p2] = ks[j]!;
        for (const d of SIDES) {
          const e = -d as Side;
          const want = [
            b.pool('call', d, c1),
            b.pool('call', e, c2),
            b.pool('put', e, p1),
            b.pool('put', d, p2),
          ];
          const q = want.reduce((m, p) => minOf(m, p.total), want[0]!.total);
          if (q > 0n)
            this.emit(
              'box',
              d > 0 ? 'debit' : 'credit',
              want.map((p) => [p, q] as const),
            );
        }
      }
    }
  }

  private boxFoot(c: number, p: number, d: Side): boolean {
    return this.book.qty('call', d, c) > 0n && this.book.qty('put', -d as Side, p) > 0n;
  }

  /**
   * Iron condor / butterfly: bodies put K2 ≤ call K3 on one side, wings (the nearest open strikes) put K1 < K2 and
   * call K4 > K3 on the other. Credit (short bodies) first, then debit; bodies from the inside out.
   */
  ironCondors(): void {
    const b = this.book;
    const puts = b.strikes.put;
    const calls = b.strikes.call;
    for (const body of [-1, 1] as const) {
      const wing = -body as Side;
      for (let p2 = puts.length - 1; p2 >= 0; p2--) {
        const k2 = puts[p2]!;
        let c3 = 0;
        while (c3 < calls.length && calls[c3]! < k2) c3++;
        for (; c3 < calls.length; c3++) {
          // Pools only shrink: an empty put body, or no wing below K2 / above K3, stays so for every later K3.
          if (b.qty('put', body, p2) === 0n || b.below('put', wing, p2) < 0) break;
          if (b.above('call', wing, c3) < 0) break;
          for (;;) {
            const p1 = b.below('put', wing, p2);
            const c4 = b.above('call', wing, c3);
            if (p1 < 0 || c4 < 0) break;
            const want = [
              b.pool('put', wing, p1),
              b.pool('put', body, p2),
              b.pool('call', body, c3),
              b.pool('call', wing, c4),
            ];
            const q = want.reduce((m, p) => minOf(m, p.total), want[0]!.total);
            if (q === 0n) break;
            this.emit(
              k2 === calls[c3] ? 'ironButterfly' : 'ironCondor',
              body < 0 ? 'credit' : 'debit',
              want.map((p) => [p, q] as const),
            );
          }
        }
      }
    }
  }

  /** Same type K1 < K2 < K3, +n/−2n/+n (long, debit) or −n/+2n/−n (short, credit); nearest wings (broken allowed). */
  butterflies(): void {
    const b = this.book;
    for (const t of ['call', 'put'] as const)
      for (let k2 = 0; k2 < b.strikes[t].length; k2++)
        for (const body of [-1, 1] as const) {
          const wing = -body as Side;
          for (;;) {
            const k1 = b.below(t, wing, k2);
            const k3 = b.above(t, wing, k2);
            if (k1 < 0 || k3 < 0) break;
            const q = minOf(minOf(b.qty(t, body, k2) / 2n, b.qty(t, wing, k1)), b.qty(t, wing, k3));
            if (q === 0n) break;
            this.emit('butterfly', body < 0 ? 'debit' : 'credit', [
              [b.pool(t, wing, k1), q],
              [b.pool(t, body, k2), 2n * q],
              [b.pool(t, wing, k3), q],
            ]);
          }
        }
  }

  /** Each short paired with the nearest long of its type (another strike; the lower on a tie). Credit when the short
   * strike is the one that pays first (a call's lower, a put's higher); directions are by structure, not premium. */
  verticals(): void {
    const b = this.book;
    for (const t of ['call', 'put'] as const)
      for (let k = 0; k < b.strikes[t].length; k++)
        for (;;) {
          const short = b.qty(t, -1, k);
          const l = short > 0n ? b.nearest(t, 1, k) : -1;
          if (l < 0) break;
          const q = minOf(short, b.qty(t, 1, l));
          const credit = t === 'call' ? k < l : k > l;
          this.emit('vertical', credit ? 'credit' : 'debit', [
            [b.pool(t, -1, k), q],
            [b.pool(t, 1, l), q],
          ]);
        }
  }

  /** Short calls (ascending strike) against long delta-one legs; short puts (descending) against short ones. */
  covered(): void {
    const b = this.book;
    const cover = (t: OptionSlot, side: Side, k: number) => {
      const q = minOf(b.qty(t, -1, k), b.linear(side).total);
      if (q > 0n)
        this.emit(t === 'call' ? 'coveredCall' : 'coveredPut', 'credit', [
          [b.pool(t, -1, k), q],
          [b.linear(side), q],
        ]);
    };
    for (let k = 0; k < b.strikes.call.length; k++) cover('call', 1, k);
    for (let k = b.strikes.put.length - 1; k >= 0; k--) cover('put', -1, k);
  }

  /** Same-strike call + put pairs of one side (straddles), then the rest paired highest put with lowest call. */
  straddles(): void {
    const b = this.book;
    for (const side of [-1, 1] as const) {
      const direction = side < 0 ? 'credit' : 'debit';
      for (const [c, p] of b.common) {
        const q = minOf(b.qty('call', side, c), b.qty('put', side, p));
        if (q > 0n)
          this.emit('straddle', direction, [
            [b.pool('call', side, c), q],
            [b.pool('put', side, p), q],
          ]);
      }
      const calls = b.ladder('call', side);
      const puts = b.ladder('put', side);
      for (;;) {
        const p = puts.prev(puts.n - 1);
        const c = calls.next(0);
        if (p < 0 || c >= calls.n) break;
        const q = minOf(calls.qty(c), puts.qty(p));
        this.emit(b.strikes.put[p] === b.strikes.call[c] ? 'straddle' : 'strangle', direction, [
          [b.pool('call', side, c), q],
          [b.pool('put', side, p), q],
        ]);
      }
    }
  }

  naked(): void {
    for (const part of this.book.rest(this.rank)) this.out.push(nakedOf(this.legs, part));
  }
}

function nakedOf(legs: readonly PortfolioLeg[], part: Part): Recognised {
  const leg = legs[part.leg]!;
  const s: Recognised = {
    type: 'naked',
    direction: leg.sign > 0 ? 'long' : 'short',
    underlying: leg.underlying,
    legs: [part],
  };
  if (leg.expiry !== undefined) s.expiry = leg.expiry;
  return s;
}

/** Every group's strategies in group order, then each inverse leg as naked. */
export function recognise(legs: readonly PortfolioLeg[], grouped: GroupedLegs): Recognised[] {
  const rank = new Int32Array(legs.length);
  grouped.order.forEach((leg, r) => {
    rank[leg] = r;
  });
  const out: Recognised[] = [];
  for (const g of grouped.groups) {
    const r = new Recogniser(legs, g, rank);
    r.boxes();
    r.ironCondors();
    r.butterflies();
    r.verticals();
    r.covered();
    r.straddles();
    r.naked();
    out.push(...r.out);
  }
  for (const i of grouped.inverse) out.push(nakedOf(legs, { leg: i, size: legs[i]!.size }));
  return out;
}
