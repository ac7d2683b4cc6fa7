/**
 * The indexed recogniser (src/core/strategy/recognise.ts) against a plain one: the same greedy passes, written the
 * obvious way — every quantity a scan of the pool, every "nearest open strike" a scan of the strikes. The indexed
 * one must find exactly the same strategies, in the same order, with the same parts, on random books crowded enough
 * to exercise what the index does: several legs in one (type, side, strike) pool, many strikes, two expiries,
 * delta-one covers and inverse legs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type GroupedLegs, groupLegs, type LegGroup } from '../../src/core/strategy/legs.ts';
import { type Recognised, recognise } from '../../src/core/strategy/recognise.ts';
import type { PortfolioLeg, StrategyType } from '../../src/core/strategy/types.ts';
import { EXPIRY_1, EXPIRY_2, WAD } from './strategy-fixtures.ts';

const T = { timeout: 120_000 };

// ---------------------------------------------------------------------------------------------------------
// The plain recogniser (the oracle)

type Slot = 'call' | 'put' | 'linear';
type Side = 1 | -1;
type Part = { leg: number; size: bigint };
type Want = readonly [Slot, Side, bigint, bigint];

const asc = (xs: Iterable<bigint>): bigint[] => [...new Set(xs)].sort((a, b) => (a < b ? -1 : 1));
const least = (xs: readonly bigint[]): bigint => xs.reduce((m, x) => (x < m ? x : m));

function plainRecognise(legs: readonly PortfolioLeg[], grouped: GroupedLegs): Recognised[] {
  const rank = new Map(grouped.order.map((leg, r) => [leg, r]));
  const byRank = (a: Part, b: Part) => rank.get(a.leg)! - rank.get(b.leg)!;
  const out: Recognised[] = [];
  for (const g of grouped.groups) out.push(...plainGroup(legs, g, byRank));
  for (const i of grouped.inverse) out.push(naked(legs, { leg: i, size: legs[i]!.size }));
  return out;
}

function naked(legs: readonly PortfolioLeg[], part: Part): Recognised {
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

function plainGroup(
  legs: readonly PortfolioLeg[],
  g: LegGroup,
  byRank: (a: Part, b: Part) => number,
): Recognised[] {
  const open = g.legs.map((i) => ({ i, left: legs[i]!.size }));
  const slotOf = (l: PortfolioLeg): Slot => (l.kind === 'option' ? l.type! : 'linear');
  const inPool = (slot: Slot, side: Side, k: bigint) =>
    open.filter(
      ({ i }) => slotOf(legs[i]!) === slot && legs[i]!.sign === side && (legs[i]!.strike ?? 0n) === k,
    );
  const qty = (slot: Slot, side: Side, k = 0n) => inPool(slot, side, k).reduce((a, e) => a + e.left, 0n);
  const strikes = (t: 'call' | 'put') =>
    asc(g.legs.filter((i) => legs[i]!.type === t).map((i) => legs[i]!.strike!));
  const calls = strikes('call');
  const puts = strikes('put');
  const all = asc([...calls, ...puts]);
  const ks = { call: calls, put: puts };
  const below = (t: 'call' | 'put', side: Side, k: bigint) =>
    ks[t].filter((s) => s < k && qty(t, side, s) > 0n).pop();
  const above = (t: 'call' | 'put', side: Side, k: bigint) =>
    ks[t].find((s) => s > k && qty(t, side, s) > 0n);
  const out: Recognised[] = [];
  const emit = (type: StrategyType, direction: Recognised['direction'], wants: readonly Want[]) => {
    const parts: Part[] = [];
    for (const [slot, side, k, want] of wants) {
      let q = want;
      for (const e of inPool(slot, side, k)) {
        const n = e.left < q ? e.left : q;
        if (n === 0n) continue;
        e.left -= n;
        q -= n;
        parts.push({ leg: e.i, size: n });
      }
    }
    const s: Recognised = { type, direction, underlying: g.underlying, legs: parts.sort(byRank) };
    if (g.expiry !== undefined) s.expiry = g.expiry;
    out.push(s);
  };
  // Boxes.
  for (let i = 0; i < all.length; i++)
    for (let j = i + 1; j < all.length; j++)
      for (const d of [1, -1] as const) {
        const e = -d as Side;
        const w: [Slot, Side, bigint][] = [
          ['call', d, all[i]!],
          ['call', e, all[j]!],
          ['put', e, all[i]!],
          ['put', d, all[j]!],
        ];
        const q = least(w.map(([s, side, k]) => qty(s, side, k)));
        if (q > 0n)
          emit(
            'box',
            d > 0 ? 'debit' : 'credit',
            w.map(([s, side, k]) => [s, side, k, q]),
          );
      }
  // Iron condors / butterflies.
  for (const body of [-1, 1] as const) {
    const wing = -body as Side;
    for (const k2 of [...puts].reverse())
      for (const k3 of calls) {
        if (k3 < k2) continue;
        for (;;) {
          const k1 = below('put', wing, k2);
          const k4 = above('call', wing, k3);
          if (k1 === undefined || k4 === undefined) break;
          const w: [Slot, Side, bigint][] = [
            ['put', wing, k1],
            ['put', body, k2],
            ['call', body, k3],
            ['call', wing, k4],
          ];
          const q = least(w.map(([s, side, k]) => qty(s, side, k)));
          if (q === 0n) break;
          emit(
            k2 === k3 ? 'ironButterfly' : 'ironCondor',
            body < 0 ? 'credit' : 'debit',
            w.map(([s, side, k]) => [s, side, k, q]),
          );
        }
      }
  }
  // Butterflies.
  for (const t of ['call', 'put'] as const)
    for (const k2 of ks[t])
      for (const body of [-1, 1] as const) {
        const wing = -body as Side;
        for (;;) {
          const k1 = below(t, wing, k2);
          const k3 = above(t, wing, k2);
          if (k1 === undefined || k3 === undefined) break;
          const q = least([qty(t, body, k2) / 2n, qty(t, wing, k1), qty(t, wing, k3)]);
          if (q === 0n) break;
          emit('butterfly', body < 0 ? 'debit' : 'credit', [
            [t, wing, k1, q],
            [t, body, k2, 2n * q],
            [t, wing, k3, q],
          ]);
        }
      }
  // Verticals: the nearest long, the lower on a tie.
  for (const t of ['call', 'put'] as const)
    for (const k of ks[t])
      for (;;) {
        const short = qty(t, -1, k);
        if (short === 0n) break;
        const lo = below(t, 1, k);
        const hi = above(t, 1, k);
        const l = lo === undefined ? hi : hi === undefined ? lo : hi - k < k - lo ? hi : lo;
        if (l === undefined) break;
        const q = least([short, qty(t, 1, l)]);
        emit('vertical', (t === 'call' ? k < l : k > l) ? 'credit' : 'debit', [
          [t, -1, k, q],
          [t, 1, l, q],
        ]);
      }
  // Covered calls (ascending) and puts (descending).
  const cover = (t: 'call' | 'put', side: Side, order: readonly bigint[]) => {
    for (const k of order) {
      const q = least([qty(t, -1, k), qty('linear', side)]);
      if (q > 0n)
        emit(t === 'call' ? 'coveredCall' : 'coveredPut', 'credit', [
          [t, -1, k, q],
          ['linear', side, 0n, q],
        ]);
    }
  };
  cover('call', 1, calls);
  cover('put', -1, [...puts].reverse());
  // Straddles, then strangles: highest put with lowest call.
  for (const side of [-1, 1] as const) {
    const direction = side < 0 ? 'credit' : 'debit';
    for (const k of all) {
      const q = least([qty('call', side, k), qty('put', side, k)]);
      if (q > 0n)
        emit('straddle', direction, [
          ['call', side, k, q],
          ['put', side, k, q],
        ]);
    }
    for (;;) {
      const p = [...puts].reverse().find((k) => qty('put', side, k) > 0n);
      const c = calls.find((k) => qty('call', side, k) > 0n);
      if (p === undefined || c === undefined) break;
      const q = least([qty('call', side, c), qty('put', side, p)]);
      emit(p === c ? 'straddle' : 'strangle', direction, [
        ['call', side, c, q],
        ['put', side, p, q],
      ]);
    }
  }
  for (const e of open) if (e.left > 0n) out.push(naked(legs, { leg: e.i, size: e.left }));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Crowded random books

const legArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant<'option'>('option'),
      type: fc.constantFrom<'call' | 'put'>('call', 'put'),
      strike: fc.integer({ min: 0, max: 9 }),
      expiry: fc.constantFrom(EXPIRY_1, EXPIRY_2),
      sign: fc.constantFrom<1 | -1>(1, -1),
      size: fc.integer({ min: 1, max: 6 }),
      inverse: fc.integer({ min: 0, max: 9 }).map((n) => n === 0), // mostly linear: the groups are the index's work
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom<'perpetual' | 'future'>('perpetual', 'future'),
      sign: fc.constantFrom<1 | -1>(1, -1),
      size: fc.integer({ min: 1, max: 6 }),
      inverse: fc.boolean(),
    }),
  },
);

type LegSpec = typeof legArb extends fc.Arbitrary<infer V> ? V : never;

function legsOf(specs: readonly LegSpec[]): PortfolioLeg[] {
  return specs.map((s, i) => {
    const base = {
      id: `L${i % 7}`, // repeated ids: the canonical order falls through to the figures
      underlying: 'BTC',
      settle: s.inverse ? ('inverse' as const) : ('linear' as const),
      sign: s.sign,
      size: (BigInt(s.size) * WAD) / 2n,
      entryPrice: 1_000n * WAD,
      markPrice: 1_000n * WAD,
      forward: 100_000n * WAD,
      initialMargin: BigInt(i) * WAD,
      maintenanceMargin: BigInt(i) * WAD,
    };
    if (s.kind !== 'option') {
      const leg: PortfolioLeg = { ...base, kind: s.kind };
      if (s.kind === 'future') leg.expiry = EXPIRY_2;
      return leg;
    }
    return {
      ...base,
      kind: 'option',
      type: s.type,
      strike: BigInt(80_000 + 5_000 * s.strike) * WAD,
      expiry: s.expiry,
    };
  });
}

describe('recognise: the indexed recogniser finds what the plain one does', T, () => {
  test(
    'random crowded books (up to 60 legs, 10 strikes, two expiries, covers, inverse legs): identical',
    T,
    () => {
      fc.assert(
        fc.property(fc.array(legArb, { minLength: 1, maxLength: 60 }), (specs) => {
          const legs = legsOf(specs);
          const grouped = groupLegs(legs);
          assert.deepEqual(recognise(legs, grouped), plainRecognise(legs, grouped));
        }),
        { numRuns: 300, seed: 20_260_619 },
      );
    },
  );
});
