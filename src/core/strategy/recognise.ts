/**
 * The strategy recogniser (issue 18, options-margin.md §3b): finds the standard strategies in each group's legs.
 * Greedy, in priority order, over the legs in canonical order (so invariant to the order they were given in):
 *   box → iron condor / iron butterfly → butterfly → vertical → covered call / covered put → straddle / strangle
 *   → naked.
 * Legs at one (type, side, strike) pool their sizes; a strategy takes an exact bigint quantity of the pool, so a leg
 * may be split across strategies. Every search order is fixed below; ties go to the lower strike.
 */
import type { GroupedLegs, LegGroup } from './legs.ts';
import type { PortfolioLeg, RecognisedStrategy, StrategyType } from './types.ts';

/** A recognised strategy before the rules price it. */
export type Recognised = Omit<RecognisedStrategy, 'initialMargin' | 'maintenanceMargin' | 'maxLoss'>;

type Slot = 'call' | 'put' | 'linear';
type Side = 1 | -1;
type Part = { leg: number; size: bigint };
type Want = readonly [Slot, Side, bigint, bigint]; // slot, side, strike, quantity

const minOf = (xs: readonly bigint[]): bigint => xs.reduce((m, x) => (x < m ? x : m));

/** The open quantities of one group, by (slot, side, strike), legs in canonical order within each. */
class Book {
  private readonly pools = new Map<string, { leg: number; left: bigint }[]>();
  readonly strikes: Record<'call' | 'put', bigint[]> = { call: [], put: [] };

  constructor(legs: readonly PortfolioLeg[], group: LegGroup) {
    const seen = { call: new Set<bigint>(), put: new Set<bigint>() };
    for (const i of group.legs) {
      const leg = legs[i]!;
      const slot: Slot = leg.kind === 'option' ? leg.type! : 'linear';
      const strike = leg.strike ?? 0n;
      const key = Book.key(slot, leg.sign, strike);
      const pool = this.pools.get(key) ?? [];
      pool.push({ leg: i, left: leg.size });
      this.pools.set(key, pool);
      if (slot !== 'linear') seen[slot].add(strike);
    }
    for (const t of ['call', 'put'] as const) this.strikes[t] = [...seen[t]].sort((a, b) => (a < b ? -1 : 1));
  }

  private static key(slot: Slot, side: Side, strike: bigint): string {
    return `${slot}|${side}|${strike}`;
  }

  qty(slot: Slot, side: Side, strike = 0n): bigint {
    let q = 0n;
    for (const e of this.pools.get(Book.key(slot, side, strike)) ?? []) q += e.left;
    return q;
  }

  /** Takes q from a pool, legs in canonical order. */
  take(slot: Slot, side: Side, strike: bigint, q: bigint): Part[] {
    const parts: Part[] = [];
    for (const e of this.pools.get(Book.key(slot, side, strike)) ?? []) {
      if (q === 0n) break;
      const n = e.left < q ? e.left : q;
      if (n === 0n) continue;
      e.left -= n;
      q -= n;
      parts.push({ leg: e.leg, size: n });
    }
    return parts;
  }

  /** Everything still open, canonical order. */
  rest(): Part[] {
    const parts: Part[] = [];
    for (const pool of this.pools.values())
      for (const e of pool) if (e.left > 0n) parts.push({ leg: e.leg, size: e.left });
    return parts;
  }

  /** Strikes of `slot` with open quantity on `side`: nearest below k, nearest above k, nearest overall (≠ k). */
  below(slot: 'call' | 'put', side: Side, k: bigint): bigint | undefined {
    return this.strikes[slot].filter((s) => s < k && this.qty(slot, side, s) > 0n).pop();
  }
  above(slot: 'call' | 'put', side: Side, k: bigint): bigint | undefined {
    return this.strikes[slot].find((s) => s > k && this.qty(slot, side, s) > 0n);
  }
  nearest(slot: 'call' | 'put', side: Side, k: bigint): bigint | undefined {
    const lo = this.below(slot, side, k);
    const hi = this.above(slot, side, k);
    if (lo === undefined) return hi;
    if (hi === undefined) return lo;
    return hi - k < k - lo ? hi : lo;
  }
}

class Recogniser {
  readonly out: Recognised[] = [];
  private readonly book: Book;

  constructor(
    private readonly legs: readonly PortfolioLeg[],
    private readonly group: LegGroup,
    private readonly rank: ReadonlyMap<number, number>,
  ) {
    this.book = new Book(legs, group);
  }

  /** Takes every wanted quantity and records the strategy (parts in canonical leg order). */
  private emit(type: StrategyType, direction: Recognised['direction'], wants: readonly Want[]): void {
    const parts = wants.flatMap(([slot, side, k, q]) => this.book.take(slot, side, k, q));
    parts.sort((a, b) => this.rank.get(a.leg)! - this.rank.get(b.leg)!);
    const s: Recognised = { type, direction, underlying: this.group.underlying, legs: parts };
    if (this.group.expiry !== undefined) s.expiry = this.group.expiry;
    this.out.push(s);
  }

  private allStrikes(): bigint[] {
    return [...new Set([...this.book.strikes.call, ...this.book.strikes.put])].sort((a, b) =>
      a < b ? -1 : 1,
    );
  }

  /** Long box +C(K1) −C(K2) −P(K1) +P(K2) (debit), short box the reverse (credit); K1 < K2 ascending. */
  boxes(): void {
    const ks = this.allStrikes();
    for (let i = 0; i < ks.length; i++)
      for (let j = i + 1; j < ks.length; j++)
        for (const d of [1, -1] as const) {
          const [k1, k2] = [ks[i]!, ks[j]!];
          const want: [Slot, Side, bigint][] = [
            ['call', d, k1],
            ['call', -d as Side, k2],
            ['put', -d as Side, k1],
            ['put', d, k2],
          ];
          const q = minOf(want.map(([s, side, k]) => this.book.qty(s, side, k)));
          if (q > 0n)
            this.emit(
              'box',
              d > 0 ? 'debit' : 'credit',
              want.map(([s, side, k]) => [s, side, k, q]),
            );
        }
  }

  /**
   * Iron condor / butterfly: bodies put K2 ≤ call K3 on one side, wings (the nearest open strikes) put K1 < K2 and
   * call K4 > K3 on the other. Credit (short bodies) first, then debit; bodies from the inside out.
   */
  ironCondors(): void {
    for (const body of [-1, 1] as const) {
      const wing = -body as Side;
      for (const k2 of [...this.book.strikes.put].reverse())
        for (const k3 of this.book.strikes.call) {
          if (k3 < k2) continue;
          for (;;) {
            const k1 = this.book.below('put', wing, k2);
            const k4 = this.book.above('call', wing, k3);
            if (k1 === undefined || k4 === undefined) break;
            const want: [Slot, Side, bigint][] = [
              ['put', wing, k1],
              ['put', body, k2],
              ['call', body, k3],
              ['call', wing, k4],
            ];
            const q = minOf(want.map(([s, side, k]) => this.book.qty(s, side, k)));
            if (q === 0n) break;
            const type = k2 === k3 ? 'ironButterfly' : 'ironCondor';
            this.emit(
              type,
              body < 0 ? 'credit' : 'debit',
              want.map(([s, side, k]) => [s, side, k, q]),
            );
          }
        }
    }
  }

  /** Same type K1 < K2 < K3, +n/−2n/+n (long, debit) or −n/+2n/−n (short, credit); nearest wings (broken allowed). */
  butterflies(): void {
    for (const t of ['call', 'put'] as const)
      for (const k2 of this.book.strikes[t])
        for (const body of [-1, 1] as const) {
          const wing = -body as Side;
          for (;;) {
            const k1 = this.book.below(t, wing, k2);
            const k3 = this.book.above(t, wing, k2);
            if (k1 === undefined || k3 === undefined) break;
            const q = minOf([
              this.book.qty(t, body, k2) / 2n,
              this.book.qty(t, wing, k1),
              this.book.qty(t, wing, k3),
            ]);
            if (q === 0n) break;
            this.emit('butterfly', body < 0 ? 'debit' : 'credit', [
              [t, wing, k1, q],
              [t, body, k2, 2n * q],
              [t, wing, k3, q],
            ]);
          }
        }
  }

  /** Each short paired with the nearest long of its type (another strike; the lower on a tie). Credit when the short
   * strike is the one that pays first (a call's lower, a put's higher); directions are by structure, not premium. */
  verticals(): void {
    for (const t of ['call', 'put'] as const)
      for (const k of this.book.strikes[t])
        for (;;) {
          const short = this.book.qty(t, -1, k);
          const l = short > 0n ? this.book.nearest(t, 1, k) : undefined;
          if (l === undefined) break;
          const q = minOf([short, this.book.qty(t, 1, l)]);
          const credit = t === 'call' ? k < l : k > l;
          this.emit('vertical', credit ? 'credit' : 'debit', [
            [t, -1, k, q],
            [t, 1, l, q],
          ]);
        }
  }

  /** Short calls (ascending strike) against long delta-one legs; short puts (descending) against short ones. */
  covered(): void {
    const cover = (t: 'call' | 'put', side: Side, ks: readonly bigint[]) => {
      for (const k of ks) {
        const q = minOf([this.book.qty(t, -1, k), this.book.qty('linear', side)]);
        if (q > 0n)
          this.emit(t === 'call' ? 'coveredCall' : 'coveredPut', 'credit', [
            [t, -1, k, q],
            ['linear', side, 0n, q],
          ]);
      }
    };
    cover('call', 1, this.book.strikes.call);
    cover('put', -1, [...this.book.strikes.put].reverse());
  }

  /** Same-strike call + put pairs of one side (straddles), then the rest paired highest put with lowest call. */
  straddles(): void {
    for (const side of [-1, 1] as const) {
      const direction = side < 0 ? 'credit' : 'debit';
      for (const k of this.allStrikes()) {
        const q = minOf([this.book.qty('call', side, k), this.book.qty('put', side, k)]);
        if (q > 0n)
          this.emit('straddle', direction, [
            ['call', side, k, q],
            ['put', side, k, q],
          ]);
      }
      for (;;) {
        const p = [...this.book.strikes.put].reverse().find((k) => this.book.qty('put', side, k) > 0n);
        const c = this.book.strikes.call.find((k) => this.book.qty('call', side, k) > 0n);
        if (p === undefined || c === undefined) break;
        const q = minOf([this.book.qty('call', side, c), this.book.qty('put', side, p)]);
        this.emit(p === c ? 'straddle' : 'strangle', direction, [
          ['call', side, c, q],
          ['put', side, p, q],
        ]);
      }
    }
  }

  naked(): void {
    for (const part of this.book.rest().sort((a, b) => this.rank.get(a.leg)! - this.rank.get(b.leg)!))
      this.out.push(nakedOf(this.legs, part));
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
  const rank = new Map(grouped.order.map((leg, r) => [leg, r]));
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
