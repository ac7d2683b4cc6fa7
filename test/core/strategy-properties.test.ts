/**
 * Properties of the strategy risk models over random silos of linear options on one underlying and expiry (plus an
 * optional perpetual): the max-loss and strategy requirements never exceed the legs' standalone sum; the reported
 * max loss bounds the true loss at expiry on a fine price grid and is reached at the reported worst price; every
 * figure is invariant to the order of the legs; the scenario model never asks more than a bounded silo can lose;
 * and a silo funded with exactly its max loss is never below maintenance (maxLoss and scenario) at any marks
 * consistent with the payoff (marks that are an average of payoffs at expiry).
 * The loss at expiry is recomputed here independently, exactly (rational, scaled by WAD²).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_STRATEGY_MARGIN,
  type PortfolioLeg,
  type StrategyMarginResult,
  type StrategyModelId,
  strategyMargin,
  strategyRequirement,
} from '../../src/core/strategy/index.ts';
import { groupLegs } from '../../src/core/strategy/legs.ts';
import { groupMaxLoss } from '../../src/core/strategy/max-loss.ts';
import { EXPIRY_1, WAD } from './strategy-fixtures.ts';

const T = { timeout: 120_000 };
const RUNS = { numRuns: 200, seed: 20_260_618 };
const DOLLAR = WAD;
const CENT = WAD / 100n;

// ---------------------------------------------------------------------------------------------------------
// Generators: whole-dollar strikes and prices, sizes in 0.01 units (so the mark averages below are exact).

const optionArb = fc.record({
  type: fc.constantFrom<'call' | 'put'>('call', 'put'),
  strike: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 40 }).map((k) => k * 5_000),
  ),
  sign: fc.constantFrom<1 | -1>(1, -1),
  size: fc.integer({ min: 1, max: 500 }),
  entry: fc.integer({ min: 0, max: 30_000 }),
  mm: fc.integer({ min: 0, max: 40_000 }),
  imExtra: fc.integer({ min: 0, max: 20_000 }),
});

const perpArb = fc.record({
  sign: fc.constantFrom<1 | -1>(1, -1),
  size: fc.integer({ min: 1, max: 500 }),
  entry: fc.integer({ min: 50_000, max: 150_000 }),
  mm: fc.integer({ min: 0, max: 20_000 }),
  imExtra: fc.integer({ min: 0, max: 10_000 }),
});

const siloArb = fc.record({
  options: fc.array(optionArb, { minLength: 1, maxLength: 7 }),
  perp: fc.option(perpArb, { nil: undefined }),
});

type Silo = typeof siloArb extends fc.Arbitrary<infer V> ? V : never;

function legsOf(s: Silo): PortfolioLeg[] {
  const legs: PortfolioLeg[] = s.options.map((o, i) => ({
    id: `O${i}`,
    underlying: 'BTC',
    kind: 'option',
    settle: 'linear',
    type: o.type,
    strike: BigInt(o.strike) * DOLLAR,
    expiry: EXPIRY_1,
    sign: o.sign,
    size: BigInt(o.size) * CENT,
    entryPrice: BigInt(o.entry) * DOLLAR,
    markPrice: BigInt(o.entry) * DOLLAR,
    forward: 100_000n * DOLLAR,
    iv: WAD / 2n,
    years: WAD / 4n,
    maintenanceMargin: BigInt(o.mm) * DOLLAR,
    initialMargin: BigInt(o.mm + o.imExtra) * DOLLAR,
  }));
  if (s.perp) {
    const p = s.perp;
    legs.push({
      id: 'PERP',
      underlying: 'BTC',
      kind: 'perpetual',
      settle: 'linear',
      sign: p.sign,
      size: BigInt(p.size) * CENT,
      entryPrice: BigInt(p.entry) * DOLLAR,
      markPrice: BigInt(p.entry) * DOLLAR,
      forward: BigInt(p.entry) * DOLLAR,
      maintenanceMargin: BigInt(p.mm) * DOLLAR,
      initialMargin: BigInt(p.mm + p.imExtra) * DOLLAR,
    });
  }
  return legs;
}

const run = (model: StrategyModelId, legs: readonly PortfolioLeg[]) =>
  strategyMargin(model, legs, DEFAULT_STRATEGY_MARGIN);

// ---------------------------------------------------------------------------------------------------------
// Independent expiry P&L (exact, × WAD²)

function value(l: PortfolioLeg, s: bigint): bigint {
  if (l.kind !== 'option') return s;
  const intrinsic = l.type === 'call' ? s - l.strike! : l.strike! - s;
  return intrinsic > 0n ? intrinsic : 0n;
}

const exactPnl = (legs: readonly PortfolioLeg[], s: bigint): bigint =>
  legs.reduce((sum, l) => sum + BigInt(l.sign) * l.size * (value(l, s) - l.entryPrice), 0n);

const netUpSlope = (legs: readonly PortfolioLeg[]): bigint =>
  legs.reduce(
    (sum, l) => sum + (l.kind !== 'option' || l.type === 'call' ? BigInt(l.sign) * l.size : 0n),
    0n,
  );

function grid(legs: readonly PortfolioLeg[]): bigint[] {
  const top = legs.reduce(
    (m, l) => (l.strike !== undefined && l.strike > m ? l.strike : m),
    150_000n * DOLLAR,
  );
  return Array.from({ length: 500 }, (_, j) => (3n * top * BigInt(j)) / 499n);
}

// ---------------------------------------------------------------------------------------------------------

describe('strategy models: properties over random one-expiry silos', T, () => {
  test('maxLoss and strategy requirements never exceed the standalone sums; IM ≥ MM', T, () => {
    fc.assert(
      fc.property(siloArb, (s) => {
        const legs = legsOf(s);
        for (const model of ['maxLoss', 'strategy'] as const) {
          const r = run(model, legs);
          assert.ok(r.initialMargin <= r.standaloneInitialMargin, `${model} IM`);
          assert.ok(r.maintenanceMargin <= r.standaloneMaintenanceMargin, `${model} MM`);
          assert.ok(r.initialMargin >= r.maintenanceMargin, `${model} IM ≥ MM`);
        }
      }),
      RUNS,
    );
  });

  test(
    'reported maxLoss ≥ the exact loss at every point of a 500-point grid (0 … 3× the top strike), equal at the worst price',
    T,
    () => {
      fc.assert(
        fc.property(siloArb, (s) => {
          const legs = legsOf(s);
          const r = run('maxLoss', legs);
          const g = groupMaxLoss(legs, groupLegs(legs).groups[0]!, DEFAULT_STRATEGY_MARGIN);
          assert.equal(r.maxLoss === null, netUpSlope(legs) < 0n, 'unbounded exactly when net short at +∞');
          const topStrike = legs.reduce(
            (m, l) => (l.strike !== undefined && l.strike > m ? l.strike : m),
            0n,
          );
          for (const x of grid(legs)) {
            // Bounded: over every price. Unbounded: the finite part still bounds every strike-range price.
            if (r.maxLoss === null && x > topStrike) continue;
            assert.ok(g.loss * WAD >= -exactPnl(legs, x), `loss at ${x / WAD}`);
          }
          const atWorst = exactPnl(legs, g.price);
          const ceilLoss = atWorst < 0n ? (-atWorst + WAD - 1n) / WAD : 0n; // ⌈exact loss⌉ in wei
          assert.equal(g.loss, ceilLoss, 'the worst price gives the reported loss');
          if (r.maxLoss !== null) assert.equal(r.maxLoss, g.loss);
        }),
        RUNS,
      );
    },
  );

  test(
    'every figure, the worst case and the recognised strategies are invariant to the order of the legs',
    T,
    () => {
      const comparable = (r: StrategyMarginResult, legs: readonly PortfolioLeg[]) => ({
        ...r,
        strategies: r.strategies.map((x) => ({
          ...x,
          legs: x.legs.map((p) => ({ ...p, leg: legs[p.leg]!.id })),
        })),
      });
      fc.assert(
        fc.property(
          siloArb.chain((s) => {
            const n = legsOf(s).length;
            return fc.tuple(
              fc.constant(s),
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
            );
          }),
          ([s, perm]) => {
            const legs = legsOf(s);
            const shuffled = perm.map((i) => legs[i]!);
            for (const model of ['maxLoss', 'strategy', 'scenario'] as const)
              assert.deepEqual(
                comparable(run(model, shuffled), shuffled),
                comparable(run(model, legs), legs),
                model,
              );
          },
        ),
        { ...RUNS, numRuns: 100 },
      );
    },
  );

  test(
    'strategyRequirement (the re-check) equals strategyMargin (the read) in every figure it reports, marks moved',
    T,
    () => {
      const movesArb = fc.array(fc.integer({ min: -20_000, max: 20_000 }), { minLength: 8, maxLength: 8 });
      fc.assert(
        fc.property(siloArb, movesArb, (s, moves) => {
          const legs = legsOf(s).map((l, i) => {
            const mark = l.markPrice + BigInt(moves[i]!) * DOLLAR;
            return { ...l, markPrice: mark > 0n ? mark : 0n };
          });
          for (const model of ['maxLoss', 'strategy', 'scenario'] as const) {
            const full = run(model, legs);
            const { maxLoss: _maxLoss, strategies: _strategies, ...requirement } = full;
            assert.deepEqual(strategyRequirement(model, legs, DEFAULT_STRATEGY_MARGIN), requirement, model);
          }
        }),
        RUNS,
      );
    },
  );

  test(
    'scenario never asks more than a bounded silo can lose: IM and MM ≤ max(0, L + min(u, 0)), marks moved',
    T,
    () => {
      const movesArb = fc.array(fc.integer({ min: -20_000, max: 20_000 }), { minLength: 8, maxLength: 8 });
      let capped = 0;
      fc.assert(
        fc.property(siloArb, movesArb, (s, moves) => {
          const legs = legsOf(s).map((l, i) => {
            const mark = l.markPrice + BigInt(moves[i]!) * DOLLAR;
            return { ...l, markPrice: mark > 0n ? mark : 0n };
          });
          const r = run('scenario', legs);
          if (r.maxLoss === null) return;
          const g = groupMaxLoss(legs, groupLegs(legs).groups[0]!, DEFAULT_STRATEGY_MARGIN);
          const form = g.loss + (g.markPnl < 0n ? g.markPnl : 0n);
          const cap = form > 0n ? form : 0n;
          assert.ok(r.maintenanceMargin <= cap, `MM ${r.maintenanceMargin} > ${cap}`);
          assert.ok(r.initialMargin <= cap, `IM ${r.initialMargin} > ${cap}`);
          assert.ok(r.initialMargin >= r.maintenanceMargin, 'IM ≥ MM');
          if (r.worst.kind === 'price') {
            capped++;
            assert.equal(r.maintenanceMargin, cap, 'a price worst case: the cap binds');
          }
        }),
        RUNS,
      );
      assert.ok(capped > 0, 'no run where the cap binds');
    },
  );

  test('the recognised strategies take every leg exactly once (split legs add up to their size)', T, () => {
    fc.assert(
      fc.property(siloArb, (s) => {
        const legs = legsOf(s);
        const taken = legs.map(() => 0n);
        for (const x of run('strategy', legs).strategies) for (const p of x.legs) taken[p.leg]! += p.size;
        assert.deepEqual(
          taken,
          legs.map((l) => l.size),
        );
      }),
      RUNS,
    );
  });

  test(
    'funding exactly maxLoss keeps equity ≥ MM (maxLoss and scenario models) at any marks that average the payoff over expiry prices',
    T,
    () => {
      const marksArb = fc.array(
        fc.record({ price: fc.integer({ min: 0, max: 600_000 }), weight: fc.integer({ min: 1, max: 4 }) }),
        { minLength: 1, maxLength: 3 },
      );
      fc.assert(
        fc.property(siloArb, marksArb, (s, dist) => {
          const base = legsOf(s);
          if (run('maxLoss', base).maxLoss === null) return;
          // A distribution with weights out of 4 over whole-dollar prices: every mark is an exact WAD.
          const total = dist.reduce((a, d) => a + d.weight, 0);
          const points = dist.map((d) => ({ s: BigInt(d.price) * DOLLAR, q: BigInt(d.weight) }));
          const legs = base.map((l) => {
            const sum = points.reduce((a, p) => a + p.q * value(l, p.s), 0n);
            return { ...l, markPrice: sum / BigInt(total) };
          });
          const collateral = run('maxLoss', base).maxLoss!;
          const exactU = legs.reduce(
            (a, l) => a + BigInt(l.sign) * l.size * (l.markPrice - l.entryPrice),
            0n,
          );
          const floorU = exactU >= 0n ? exactU / WAD : -((-exactU + WAD - 1n) / WAD);
          for (const model of ['maxLoss', 'scenario'] as const) {
            const r = run(model, legs);
            assert.ok(
              collateral + floorU >= r.maintenanceMargin,
              `${model}: equity ${collateral + floorU} < MM ${r.maintenanceMargin}`,
            );
          }
        }),
        RUNS,
      );
    },
  );
});
