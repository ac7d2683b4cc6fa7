/**
 * `scenarioUpperBound` (src/core/strategy/index.ts): the scenario model's requirement bounded without the grid — the
 * max-loss cap of every bounded underlying plus the inverse legs' own figures — so the engine's liquidation re-check
 * can file a silo whose equity clears it as safe without pricing the grid. The property: whenever the bound exists,
 * the scenario model's IM and MM never exceed it (random silos over two underlyings and two expiries, perpetuals,
 * futures, inverse legs, marks and entries unrelated to each other); it exists exactly when every group is bounded.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_STRATEGY_MARGIN,
  type PortfolioLeg,
  scenarioUpperBound,
  strategyMargin,
  strategyRequirement,
} from '../../src/core/strategy/index.ts';
import { groupLegs } from '../../src/core/strategy/legs.ts';
import { maxLossModel } from '../../src/core/strategy/max-loss.ts';
import { EXPIRY_1, EXPIRY_2, linear, option, WAD, w } from './strategy-fixtures.ts';

const T = { timeout: 120_000 };
const P = DEFAULT_STRATEGY_MARGIN;
const DOLLAR = WAD;
const CENT = WAD / 100n;

const underlyingArb = fc.constantFrom('BTC', 'ETH');

const optionArb = fc.record({
  underlying: underlyingArb,
  expiry: fc.constantFrom(EXPIRY_1, EXPIRY_2),
  type: fc.constantFrom<'call' | 'put'>('call', 'put'),
  settle: fc.constantFrom<'linear' | 'inverse'>('linear', 'linear', 'linear', 'inverse'),
  strike: fc.integer({ min: 1, max: 40 }).map((k) => k * 5_000),
  sign: fc.constantFrom<1 | -1>(1, -1),
  size: fc.integer({ min: 1, max: 500 }),
  entry: fc.integer({ min: 0, max: 30_000 }),
  mark: fc.integer({ min: 0, max: 30_000 }),
  forward: fc.integer({ min: 50_000, max: 150_000 }),
  ivPct: fc.integer({ min: 5, max: 200 }),
  days: fc.integer({ min: 0, max: 120 }),
  mm: fc.integer({ min: 0, max: 40_000 }),
  imExtra: fc.integer({ min: 0, max: 20_000 }),
});

const deltaOneArb = fc.record({
  underlying: underlyingArb,
  future: fc.boolean(),
  sign: fc.constantFrom<1 | -1>(1, -1),
  size: fc.integer({ min: 1, max: 500 }),
  entry: fc.integer({ min: 50_000, max: 150_000 }),
  mark: fc.integer({ min: 50_000, max: 150_000 }),
});

const siloArb = fc.record({
  options: fc.array(optionArb, { minLength: 1, maxLength: 7 }),
  deltaOne: fc.array(deltaOneArb, { maxLength: 2 }),
});

type Silo = typeof siloArb extends fc.Arbitrary<infer V> ? V : never;

function legsOf(s: Silo): PortfolioLeg[] {
  const legs: PortfolioLeg[] = s.options.map((o, i) => ({
    id: `O${i}`,
    underlying: o.underlying,
    kind: 'option',
    settle: o.settle,
    type: o.type,
    strike: BigInt(o.strike) * DOLLAR,
    expiry: o.expiry,
    sign: o.sign,
    size: BigInt(o.size) * CENT,
    entryPrice: BigInt(o.entry) * DOLLAR,
    markPrice: BigInt(o.mark) * DOLLAR,
    forward: BigInt(o.forward) * DOLLAR,
    iv: BigInt(o.ivPct) * CENT,
    years: (BigInt(o.days) * WAD) / 365n,
    maintenanceMargin: BigInt(o.mm) * DOLLAR,
    initialMargin: BigInt(o.mm + o.imExtra) * DOLLAR,
  }));
  for (const [i, d] of s.deltaOne.entries())
    legs.push(
      linear({
        id: `D${i}`,
        underlying: d.underlying,
        kind: d.future ? 'future' : 'perpetual',
        ...(d.future ? { expiry: EXPIRY_2 } : {}),
        size: `${d.sign < 0 ? '-' : ''}${(d.size / 100).toFixed(2)}`,
        entry: d.entry,
        mark: d.mark,
      }),
    );
  return legs;
}

/** Every (underlying, expiry) group bounded: what the bound's existence should mean. */
const allBounded = (legs: readonly PortfolioLeg[]): boolean =>
  maxLossModel(legs, groupLegs(legs), P).groups.every((g) => !g.unbounded);

describe('scenarioUpperBound: the scenario requirement bounded without the grid', T, () => {
  test(
    'random silos (2 underlyings, 2 expiries, perpetuals, futures, inverse legs; marks apart from entries): scenario IM and MM ≤ the bound whenever it exists, and it exists exactly when every group is bounded',
    T,
    () => {
      let bounded = 0;
      fc.assert(
        fc.property(siloArb, (s) => {
          const legs = legsOf(s);
          const bound = scenarioUpperBound(legs, P);
          assert.equal(bound !== null, allBounded(legs), 'exists ⇔ every group bounded');
          if (bound === null) return;
          bounded++;
          const r = strategyRequirement('scenario', legs, P);
          assert.ok(
            r.maintenanceMargin <= bound.maintenanceMargin,
            `MM ${r.maintenanceMargin} > ${bound.maintenanceMargin}`,
          );
          assert.ok(r.initialMargin <= bound.initialMargin, `IM ${r.initialMargin} > ${bound.initialMargin}`);
          assert.ok(bound.initialMargin >= bound.maintenanceMargin);
        }),
        { numRuns: 300, seed: 20_261_812 },
      );
      assert.ok(bounded > 50, `only ${bounded} bounded silos drawn`);
    },
  );

  test(
    'a short 1 BTC iron condor 90/95/105/110k: the bound is the max-loss form, exactly what the scenario model asks once the cap binds',
    T,
    () => {
      const legs = [
        option({ type: 'put', strike: 90_000, size: 1, entry: 300 }),
        option({ type: 'put', strike: 95_000, size: -1, entry: 1_000 }),
        option({ type: 'call', strike: 105_000, size: -1, entry: 1_000 }),
        option({ type: 'call', strike: 110_000, size: 1, entry: 300 }),
      ];
      const bound = scenarioUpperBound(legs, P);
      // Max loss 5,000 − 1,400 credit; marks at entry (u = 0).
      assert.deepEqual(bound, { initialMargin: w(3_600), maintenanceMargin: w(3_600) });
      const r = strategyMargin('scenario', legs, P);
      assert.equal(r.worst.kind, 'price', 'the cap binds');
      assert.equal(r.maintenanceMargin, bound?.maintenanceMargin);
    },
  );

  test('a naked short call has no bound (its loss is unbounded: the grid alone knows its figure)', T, () => {
    assert.equal(
      scenarioUpperBound([option({ type: 'call', strike: 110_000, size: -1, entry: 1_000 })], P),
      null,
    );
  });

  test('an inverse leg adds its own requirement to the bound, as the scenario model adds it', T, () => {
    const spread = [
      option({ type: 'call', strike: 100_000, size: -1, entry: 2_000 }),
      option({ type: 'call', strike: 110_000, size: 1, entry: 500 }),
    ];
    const inverse = option({ type: 'put', strike: 90_000, size: 1, entry: 0.01, settle: 'inverse' });
    const without = scenarioUpperBound(spread, P);
    const withInverse = scenarioUpperBound([...spread, inverse], P);
    assert.ok(without !== null && withInverse !== null);
    assert.equal(withInverse.maintenanceMargin, without.maintenanceMargin + inverse.maintenanceMargin);
    assert.equal(withInverse.initialMargin, without.initialMargin + inverse.initialMargin);
  });

  test(
    'a linear option without an iv gets no bound: the grid reports the missing input, as before',
    T,
    () => {
      const { iv: _, ...noIv } = option({ type: 'put', strike: 90_000, size: 1, entry: 300 });
      assert.equal(scenarioUpperBound([noIv], P), null);
      assert.throws(() => strategyRequirement('scenario', [noIv], P), RangeError);
    },
  );
});
