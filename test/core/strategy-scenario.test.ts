/**
 * ringfence's scenario model (src/core/strategy/scenario.ts) as scenarios: what a silo's legs need when the forward
 * moves ±16 % in 4 % buckets with the vol up / same / down, plus the extended table and the contingencies.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InputError, parseDecimal } from '../../src/core/fixed.ts';
import { black76, yearsFromSeconds } from '../../src/core/options/black76.ts';
import {
  DEFAULT_SCENARIO_PARAMS,
  extendedFactor,
  parseScenarioParams,
  type ScenarioParamsByUnderlying,
  scenarioGrid,
  scenarioParamsToJson,
  scenarioRisk,
  shockedVols,
} from '../../src/core/strategy/scenario.ts';
import { optionRiskArray, scanningRisk } from '../../src/core/strategy/span.ts';
import type { PortfolioLeg } from '../../src/core/strategy/types.ts';

const T = { timeout: 60_000 };
const WAD = 10n ** 18n;
const w = (s: string) => parseDecimal(s, 'test', { dp: 18, signed: true });
const EXPIRY = Date.UTC(2025, 1, 28, 8);
const P = DEFAULT_SCENARIO_PARAMS;

interface OptionSpec {
  type: 'call' | 'put';
  strike: string;
  sign: 1 | -1;
  size?: string;
  forward?: string;
  iv?: string;
  days?: number;
  underlying?: string;
}

/** A linear option leg marked at Black-76 on its forward and iv. */
function option(o: OptionSpec): PortfolioLeg {
  const forward = w(o.forward ?? '100000');
  const iv = w(o.iv ?? '0.6');
  const years = yearsFromSeconds((o.days ?? 30) * 86_400);
  const r = black76({ forward, strike: w(o.strike), years, vol: iv });
  const mark = o.type === 'call' ? r.call : r.put;
  return {
    id: `${o.underlying ?? 'BTC'}-${o.strike}-${o.type === 'call' ? 'C' : 'P'}`,
    underlying: o.underlying ?? 'BTC',
    kind: 'option',
    settle: 'linear',
    type: o.type,
    strike: w(o.strike),
    expiry: EXPIRY,
    sign: o.sign,
    size: w(o.size ?? '1'),
    entryPrice: mark,
    markPrice: mark,
    forward,
    iv,
    years,
    initialMargin: 0n,
    maintenanceMargin: 0n,
  };
}

function perpetual(sign: 1 | -1, size: string, price: string, underlying = 'BTC'): PortfolioLeg {
  return {
    id: `${underlying}-PERP`,
    underlying,
    kind: 'perpetual',
    settle: 'linear',
    sign,
    size: w(size),
    entryPrice: w(price),
    markPrice: w(price),
    forward: w(price),
    initialMargin: 0n,
    maintenanceMargin: 0n,
  };
}

/** Expiry payoff of the option legs at settlement price s (WAD money). */
function payoffAt(legs: readonly PortfolioLeg[], s: bigint): bigint {
  let v = 0n;
  for (const l of legs) {
    const k = l.strike as bigint;
    const intrinsic = l.type === 'call' ? (s > k ? s - k : 0n) : k > s ? k - s : 0n;
    v += (BigInt(l.sign) * l.size * intrinsic) / WAD;
  }
  return v;
}

/** The plain max loss from mark: mark value − the lowest expiry payoff (at 0 or a strike; bounded legs only). */
function maxLossFromMark(legs: readonly PortfolioLeg[]): bigint {
  const markValue = legs.reduce((t, l) => t + (BigInt(l.sign) * l.size * l.markPrice) / WAD, 0n);
  const prices = [0n, ...legs.map((l) => l.strike as bigint)];
  const lowest = prices.map((s) => payoffAt(legs, s)).reduce((a, b) => (a < b ? a : b));
  return markValue - lowest;
}

describe('scenario model: single legs', () => {
  test("a long call's worst loss is at most its mark (it can lose only its premium)", T, () => {
    for (const strike of ['80000', '100000', '130000'])
      for (const days of [1, 7, 30, 180]) {
        const leg = option({ type: 'call', strike, sign: 1, days });
        const r = scenarioRisk([leg], P);
        assert.ok(r.maintenanceMargin <= leg.markPrice, `K ${strike}, ${days} d`);
        assert.equal(r.groups[0]?.nakedShortCharge, 0n);
      }
  });

  test('short 1 BTC 100k call, forward 95k, iv 0.6: worst cell is +16 % vol up', T, () => {
    const leg = option({ type: 'call', strike: '100000', sign: -1, forward: '95000', days: 30 });
    const r = scenarioRisk([leg], P);
    assert.deepEqual(r.worst, {
      kind: 'scenario',
      underlying: 'BTC',
      move: w('0.16'),
      vol: 'up',
      extended: false,
    });
    const g = r.groups[0];
    assert.ok(g !== undefined);
    // MM = worst loss + 1 % of the 95k forward for the naked short; IM = ⌈MM × 1.25⌉.
    assert.equal(g.nakedShortCharge, w('950'));
    assert.equal(r.maintenanceMargin, g.worstLoss + w('950'));
    assert.equal(r.initialMargin, (r.maintenanceMargin * 125n + 99n) / 100n);
    // The +16 % vol-up revaluation, independently: B76(110,200, 100k, 30 d, 0.6·1.5) − mark.
    const up = black76({
      forward: w('110200'),
      strike: w('100000'),
      years: leg.years as bigint,
      vol: w('0.9'),
    });
    assert.equal(g.worstLoss, up.call - leg.markPrice);
  });

  test(
    'a short perpetual: worst is +16 %; the +500 % extended cell counts only 35 % of its +16 % loss',
    T,
    () => {
      const r = scenarioRisk([perpetual(-1, '2', '100000')], P);
      assert.equal(r.maintenanceMargin, w('32000')); // 2 × 16 % × 100k, no option → no contingency
      const ext = r.cells.find((c) => c.extended && c.move === w('5'));
      assert.equal(ext?.pnl, w('-11200')); // 2 × 500 % × 100k × 0.35 × 0.16/5
    },
  );

  test('vol shocks: up is floored at 50 %, down at 0; a 1-hour option is shocked as a 1-day one', T, () => {
    const years = yearsFromSeconds(30 * 86_400);
    assert.equal(shockedVols(P.default, w('0.2'), years).up, w('0.5')); // 0.2 × 1.5 = 0.3 < 0.5
    const hour = shockedVols(P.default, w('0.6'), yearsFromSeconds(3600));
    const day = shockedVols(P.default, w('0.6'), yearsFromSeconds(86_400));
    assert.deepEqual(hour, day);
    const steep = { ...P.default, volRangeDown: w('1') };
    assert.equal(shockedVols(steep, w('0.6'), yearsFromSeconds(86_400)).down, 0n);
  });

  test('the grid: 27 standard cells then 8 extended, vol up; extended factors 0.35 × 0.16/|move|', T, () => {
    const g = scenarioGrid(P.default);
    assert.equal(g.length, 35);
    assert.equal(g.filter((c) => c.extended).length, 8);
    assert.equal(extendedFactor(P.default, w('0.5')), w('0.112'));
    assert.equal(extendedFactor(P.default, w('-0.66')), 84848484848484849n); // rounded up
  });
});

describe('scenario model: strategies and portfolios', () => {
  test(
    "an iron condor's worst loss never exceeds its max loss from mark (vs a plain expiry-payoff calc)",
    T,
    () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 70, max: 95 }),
          fc.integer({ min: 1, max: 10 }),
          fc.integer({ min: 105, max: 130 }),
          fc.integer({ min: 1, max: 10 }),
          fc.integer({ min: 20, max: 150 }),
          fc.integer({ min: 1, max: 120 }),
          fc.integer({ min: 1, max: 5 }),
          (putK, putW, callK, callW, ivPct, days, size) => {
            const k = (x: number) => String(x * 1000);
            const common = { iv: String(ivPct / 100), days, size: String(size) };
            const legs = [
              option({ ...common, type: 'put', strike: k(putK - putW), sign: 1 }),
              option({ ...common, type: 'put', strike: k(putK), sign: -1 }),
              option({ ...common, type: 'call', strike: k(callK), sign: -1 }),
              option({ ...common, type: 'call', strike: k(callK + callW), sign: 1 }),
            ];
            const g = scenarioRisk(legs, P).groups[0];
            assert.ok(g !== undefined);
            const bound = maxLossFromMark(legs);
            // 100 wei: the floor of each leg's P&L and Black-76's own last-digit rounding
            assert.ok(g.worstLoss <= bound + 100n, `worst ${g.worstLoss} > max loss from mark ${bound}`);
          },
        ),
        { numRuns: 40, seed: 18 },
      );
    },
  );

  test(
    'a covered call: the long perpetual offsets the short call, and pays the 1 % offsetting-future charge',
    T,
    () => {
      const call = option({ type: 'call', strike: '110000', sign: -1 });
      const perp = perpetual(1, '1', '100000');
      const both = scenarioRisk([call, perp], P);
      const alone = scenarioRisk([call], P).maintenanceMargin + scenarioRisk([perp], P).maintenanceMargin;
      assert.equal(both.groups[0]?.futureCharge, w('1000'));
      assert.ok(both.maintenanceMargin < alone, `${both.maintenanceMargin} vs ${alone}`);
    },
  );

  test('underlyings never offset: a long BTC perp and a short ETH perp need what each needs alone', T, () => {
    const btc = perpetual(1, '1', '100000');
    const eth = perpetual(-1, '30', '3300', 'ETH');
    const both = scenarioRisk([btc, eth], P);
    assert.equal(
      both.maintenanceMargin,
      scenarioRisk([btc], P).maintenanceMargin + scenarioRisk([eth], P).maintenanceMargin,
    );
    assert.deepEqual(
      both.groups.map((g) => g.underlying),
      ['BTC', 'ETH'],
    );
  });

  test('an inverse leg stands alone: its own requirement is summed in, it joins no scenario', T, () => {
    const inverse: PortfolioLeg = {
      ...option({ type: 'put', strike: '90000', sign: -1 }),
      id: 'BTC-90000-P-inverse',
      settle: 'inverse',
      initialMargin: w('0.15'),
      maintenanceMargin: w('0.1'),
    };
    const call = option({ type: 'call', strike: '110000', sign: -1 });
    const r = scenarioRisk([call, inverse], P);
    const alone = scenarioRisk([call], P);
    assert.equal(r.initialMargin, alone.initialMargin + w('0.15'));
    assert.equal(r.maintenanceMargin, alone.maintenanceMargin + w('0.1'));
    assert.deepEqual(scenarioRisk([inverse], P).worst, { kind: 'standalone' });
  });

  test('legs in any order give the same figure (and the same cells and binding cell)', T, () => {
    const legs = [
      option({ type: 'put', strike: '85000', sign: 1 }),
      option({ type: 'put', strike: '95000', sign: -1, size: '2' }),
      option({ type: 'call', strike: '95000', sign: 1 }),
      option({ type: 'call', strike: '115000', sign: -1, days: 90 }),
      option({ type: 'call', strike: '3500', sign: -1, forward: '3300', underlying: 'ETH', size: '10' }),
      perpetual(1, '0.5', '100000'),
      perpetual(-1, '4', '3300', 'ETH'),
    ];
    const ref = scenarioRisk(legs, P);
    let seed = 7;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 12; i++) {
      const shuffled = [...legs].sort(() => rand() - 0.5);
      const r = scenarioRisk(shuffled, P);
      assert.equal(r.initialMargin, ref.initialMargin);
      assert.equal(r.maintenanceMargin, ref.maintenanceMargin);
      assert.deepEqual(r.worst, ref.worst);
      assert.deepEqual(r.cells, ref.cells);
    }
    assert.deepEqual(scenarioRisk([...legs].reverse(), P).groups, ref.groups);
  });

  test(
    'cost: 35 cells × legs of Black-76 in bigint, for 2, 10 and 50 legs (logged, not asserted)',
    T,
    (t) => {
      for (const n of [2, 10, 50]) {
        const legs = Array.from({ length: n }, (_, i) =>
          option({
            type: i % 2 === 0 ? 'call' : 'put',
            strike: String(60_000 + 2_000 * i),
            sign: i % 3 === 0 ? 1 : -1,
            days: 7 + 30 * (i % 4),
          }),
        );
        scenarioRisk(legs, P); // warm-up
        const runs = 5;
        const start = process.hrtime.bigint();
        for (let k = 0; k < runs; k++) scenarioRisk(legs, P);
        const us = Number((process.hrtime.bigint() - start) / BigInt(runs) / 1000n);
        t.diagnostic(
          `scenarioRisk ${n} legs: ${(us / 1000).toFixed(2)} ms per call (${n * 35} revaluations)`,
        );
      }
    },
  );
});

describe('SPAN option risk array', () => {
  test(
    'a long 100k call, scan range 8k, vol scan 5 points: worst is down 3/3 with vol down, never above its premium',
    T,
    () => {
      const call = {
        type: 'call' as const,
        strike: w('100000'),
        forward: w('100000'),
        years: yearsFromSeconds(30 * 86_400),
        vol: w('0.6'),
        size: WAD,
        priceScanRange: w('8000'),
        volScanRange: w('0.05'),
      };
      const premium = black76({
        forward: call.forward,
        strike: call.strike,
        years: call.years,
        vol: call.vol,
      }).call;
      const losses = optionRiskArray(call);
      const { risk, scenario } = scanningRisk(losses);
      assert.equal(scenario, 14); // price down 3/3, vol down
      assert.ok(risk > 0n && risk <= premium);
      const short = optionRiskArray({ ...call, size: -WAD });
      for (const [i, l] of losses.entries()) assert.ok(l + (short[i] as bigint) <= 1n); // mirror images, to the wei
    },
  );
});

describe('scenario parameters', () => {
  test('defaults round-trip through the published JSON form', T, () => {
    const json = scenarioParamsToJson(P);
    assert.equal(json.default?.priceRange, '0.16');
    assert.deepEqual(json.default?.extendedMoves, ['-0.66', '-0.33', '0.5', '1', '2', '3', '4', '5']);
    assert.deepEqual(parseScenarioParams(JSON.parse(JSON.stringify(json)), 'scenario'), P);
    assert.deepEqual(parseScenarioParams({}, 'scenario'), P);
  });

  test('a row for one underlying inherits the fields it omits from the default row', T, () => {
    const p: ScenarioParamsByUnderlying = parseScenarioParams(
      { default: { priceRange: '0.2' }, ETH: { buckets: 5, imFactor: '1.5' } },
      'scenario',
    );
    assert.equal(p.default.priceRange, w('0.2'));
    assert.equal(p.ETH?.priceRange, w('0.2'));
    assert.equal(p.ETH?.buckets, 5);
    assert.equal(p.ETH?.imFactor, w('1.5'));
    assert.equal(p.ETH?.volRangeUp, P.default.volRangeUp);
  });

  test('parser refusals name the field', T, () => {
    const refuses = (json: unknown, field: string) =>
      assert.throws(
        () => parseScenarioParams(json, 'scenario'),
        (e: unknown) => e instanceof InputError && e.field === field,
        field,
      );
    refuses([], 'scenario');
    refuses({ BTC: 'x' }, 'scenario.BTC');
    refuses({ BTC: { priceRange: '1.5' } }, 'scenario.BTC.priceRange');
    refuses({ BTC: { priceRange: '-0.1' } }, 'scenario.BTC.priceRange');
    refuses({ default: { buckets: 0 } }, 'scenario.default.buckets');
    refuses({ default: { buckets: 2.5 } }, 'scenario.default.buckets');
    refuses({ default: { dteFloorDays: '1' } }, 'scenario.default.dteFloorDays');
    refuses({ ETH: { extendedMoves: ['0.5', '0'] } }, 'scenario.ETH.extendedMoves[1]');
    refuses({ ETH: { extendedMoves: ['-1'] } }, 'scenario.ETH.extendedMoves[0]');
    refuses({ ETH: { imFactor: '0.9' } }, 'scenario.ETH.imFactor');
    refuses({ ETH: { volRangeUp: '1e3' } }, 'scenario.ETH.volRangeUp');
    refuses({ ETH: { priceRnage: '0.1' } }, 'scenario.ETH.priceRnage');
    refuses({ 'BTC USD': {} }, 'scenario.BTC USD');
    refuses(JSON.parse('{"__proto__": {"priceRange": "0.5"}}'), 'scenario.__proto__');
  });
});
