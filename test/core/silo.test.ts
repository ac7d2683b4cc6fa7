/** Silo risk models (src/core/silo.ts): the netted scenario grid, its floor and cap, the Σδ bound, and the parser. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { InputError } from '../../src/core/fixed.ts';
import { RATE_ONE } from '../../src/core/rates.ts';
import {
  DEFAULT_NETTING,
  type NettingParams,
  nettedRequirement,
  parseNetting,
  prepareNetting,
  type SiloLeg,
  siloRequirement,
} from '../../src/core/silo.ts';

const T = { timeout: 10_000 };
const rate = (s: string) => parseNetting({ floor: s }, 'n').floor;
const withRho = (rho: string, extra: Partial<NettingParams> = {}): NettingParams => ({
  ...parseNetting({ correlations: [{ a: 'BTC', b: 'ETH', rho }] }, 'netting'),
  ...extra,
});
const long = (base: string, requirement: bigint, market?: string): SiloLeg => ({
  base,
  sign: 1,
  requirement,
  ...(market ? { market } : {}),
});
const short = (base: string, requirement: bigint, market?: string): SiloLeg => ({
  ...long(base, requirement, market),
  sign: -1,
});

describe('netted requirement: stories', () => {
  test(
    'a single leg netted requires exactly its standalone requirement (its range is where its loss equals it)',
    T,
    () => {
      for (const leg of [long('BTC', 400n), short('ETH', 1_234_567n), long('SOL', 1n)]) {
        assert.equal(nettedRequirement([leg], DEFAULT_NETTING), leg.requirement);
      }
    },
  );

  test(
    'long BTC perpetual 100 + short BTC future 100 (same base, ρ 0.95) → worst loss 10, lifted to the floor 50 of 200',
    T,
    () => {
      // Driver the perpetual, falling: perp loses 100; the future moves 0.95 of its range down (a short gains 95) plus
      // an adverse residual 0.05 × 100 = 5 → 100 − 95 + 5 = 10. Floor 0.25 × 200 = 50 wins.
      const legs = [long('BTC', 100n, 'BTCUSDT'), short('BTC', 100n, 'BTC-0327')];
      assert.equal(nettedRequirement(legs, DEFAULT_NETTING), 50n);
      assert.equal(nettedRequirement(legs, { ...DEFAULT_NETTING, floor: 0n }), 10n);
    },
  );

  test('long BTC 300 + short ETH 100 at ρ 0.8 → 240 instead of 400', T, () => {
    // Scenarios at the largest fraction f = 1 (loss is linear in f, so it decides):
    //   BTC falls its range:  BTC −300; ETH moves 0.8 down (short gains 80) plus residual 0.2 × 100 = 20 → 300 − 80 + 20 = 240
    //   BTC rises:            BTC +300; ETH 0.8 up (short loses 80) + 20                                 → −300 + 80 + 20 = −200
    //   ETH rises its range:  ETH −100; BTC 0.8 up (long gains 240) + residual 0.2 × 300 = 60             → 100 − 240 + 60 = −80
    //   ETH falls:            ETH +100; BTC 0.8 down (long loses 240) + 60                                → −100 + 240 + 60 = 200
    // Worst 240; floor 0.25 × 400 = 100; cap 400 → 240.
    assert.equal(nettedRequirement([long('BTC', 300n), short('ETH', 100n)], withRho('0.8')), 240n);
  });

  test(
    'uncorrelated legs (no correlation listed: ρ 0) require the standalone sum, whatever their sides',
    T,
    () => {
      for (const legs of [
        [long('BTC', 300n), short('ETH', 100n)],
        [long('BTC', 300n), long('ETH', 100n), short('SOL', 7n)],
      ]) {
        assert.equal(
          nettedRequirement(legs, DEFAULT_NETTING),
          legs.reduce((a, l) => a + l.requirement, 0n),
        );
      }
    },
  );

  test('a perfectly hedged pair (ρ 1, equal requirements) falls to the floor, rounded up', T, () => {
    const legs = [long('BTC', 101n), short('ETH', 100n)];
    // Worst loss 1 (the 101 − 100 mismatch); floor 0.25 × 201 = 50.25 → 51.
    assert.equal(nettedRequirement(legs, withRho('1')), 51n);
    assert.equal(nettedRequirement(legs, withRho('1', { floor: 0n })), 1n);
  });

  test(
    'siloRequirement: standalone is the plain sum; netted nets IM and MM separately and shows both sums',
    T,
    () => {
      const legs = [
        { base: 'BTC', sign: 1 as const, initialMargin: 300n, maintenanceMargin: 30n },
        { base: 'ETH', sign: -1 as const, initialMargin: 100n, maintenanceMargin: 10n },
      ];
      assert.deepEqual(siloRequirement('standalone', legs), {
        initialMargin: 400n,
        maintenanceMargin: 40n,
        standaloneInitialMargin: 400n,
        standaloneMaintenanceMargin: 40n,
      });
      assert.deepEqual(siloRequirement('netted', legs, withRho('0.8')), {
        initialMargin: 240n,
        maintenanceMargin: 24n,
        standaloneInitialMargin: 400n,
        standaloneMaintenanceMargin: 40n,
      });
    },
  );
});

const arbLeg = fc.record({
  base: fc.constantFrom('BTC', 'ETH', 'SOL'),
  market: fc.constantFrom('perp', 'future'),
  sign: fc.constantFrom(1 as const, -1 as const),
  requirement: fc.bigInt({ min: 0n, max: 10n ** 12n }),
});
const arbRate = (min: bigint) => fc.bigInt({ min, max: RATE_ONE });
const arbParams = fc.record({
  floor: arbRate(0n),
  sameBase: arbRate(-RATE_ONE),
  correlations: fc.tuple(arbRate(-RATE_ONE), arbRate(-RATE_ONE), arbRate(-RATE_ONE)).map(([x, y, z]) => [
    { a: 'BTC', b: 'ETH', rho: x },
    { a: 'SOL', b: 'BTC', rho: y },
    { a: 'ETH', b: 'SOL', rho: z },
  ]),
  grid: fc.array(arbRate(1n), { minLength: 1, maxLength: 4 }),
});
const toLeg = (l: { base: string; market: string; sign: 1 | -1; requirement: bigint }): SiloLeg => ({
  ...l,
  market: `${l.base}-${l.market}`,
});
const total = (legs: readonly SiloLeg[]) => legs.reduce((a, l) => a + l.requirement, 0n);

/** The spec's scenario grid, literally: every driver market, direction and fraction, leg by leg. */
function referenceNetted(legs: readonly SiloLeg[], params: NettingParams): bigint {
  const sum = total(legs);
  const rho = (k: SiloLeg, j: SiloLeg) => {
    if ((k.market ?? k.base) === (j.market ?? j.base)) return RATE_ONE;
    if (k.base === j.base) return params.sameBase;
    const c = params.correlations.find(
      (c) => (c.a === k.base && c.b === j.base) || (c.a === j.base && c.b === k.base),
    );
    return c?.rho ?? 0n;
  };
  let worst = 0n;
  for (const k of legs) {
    for (const d of [1n, -1n]) {
      for (const f of params.grid) {
        let loss = 0n;
        for (const j of legs) {
          const r = rho(k, j);
          loss += j.requirement * (-BigInt(j.sign) * d * f * r + (RATE_ONE - (r < 0n ? -r : r)) * f);
        }
        if (loss > worst) worst = loss;
      }
    }
  }
  const ceil = (n: bigint, d: bigint) => (n + d - 1n) / d;
  const floored = ceil(params.floor * sum, RATE_ONE);
  const w = ceil(worst, RATE_ONE * RATE_ONE);
  const lifted = floored > w ? floored : w;
  return lifted < sum ? lifted : sum;
}

describe('netted requirement: properties', () => {
  test('equals the scenario grid evaluated literally, scenario by scenario and leg by leg', {
    timeout: 60_000,
  }, () => {
    fc.assert(
      fc.property(fc.array(arbLeg, { minLength: 1, maxLength: 6 }), arbParams, (raw, params) => {
        const legs = raw.map(toLeg);
        assert.equal(nettedRequirement(legs, params), referenceNetted(legs, params));
      }),
      { numRuns: 300 },
    );
  });

  test('prepared once, one market moved: the same as netting the moved legs from scratch', {
    timeout: 60_000,
  }, () => {
    fc.assert(
      fc.property(
        fc.array(arbLeg, { minLength: 1, maxLength: 6 }),
        arbParams,
        fc.nat(),
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        (raw, params, pick, moved) => {
          const legs = raw.map(toLeg);
          const market = legs[pick % legs.length]!.market!;
          const after = legs.map((l) => (l.market === market ? { ...l, requirement: moved } : l));
          const prepared = prepareNetting(legs, params);
          assert.equal(prepared.requirement(), nettedRequirement(legs, params));
          assert.equal(
            prepared.withMarket(
              market,
              after.filter((l) => l.market === market),
            ),
            nettedRequirement(after, params),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('never below ceil(floor × sum), never above the sum', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.array(arbLeg, { minLength: 1, maxLength: 6 }), arbParams, (raw, params) => {
        const legs = raw.map(toLeg);
        const n = nettedRequirement(legs, params);
        const sum = total(legs);
        assert.ok(n <= sum, `${n} above the sum ${sum}`);
        const floor = (params.floor * sum + RATE_ONE - 1n) / RATE_ONE;
        assert.ok(n >= floor, `${n} below the floor ${floor}`);
      }),
      { numRuns: 300 },
    );
  });

  test('Σδ bound: legs whose requirements move by at most δ_i move the netted figure by at most Σ δ_i', {
    timeout: 60_000,
  }, () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(arbLeg, fc.bigInt({ min: -(10n ** 11n), max: 10n ** 11n })), {
          minLength: 1,
          maxLength: 6,
        }),
        arbParams,
        (raw, params) => {
          const before = raw.map(([l]) => toLeg(l));
          const after = raw.map(([l, d]) => {
            const r = l.requirement + d;
            return toLeg({ ...l, requirement: r < 0n ? 0n : r });
          });
          let sumDelta = 0n;
          before.forEach((b, i) => {
            const d = after[i]!.requirement - b.requirement;
            sumDelta += d < 0n ? -d : d;
          });
          const change = nettedRequirement(after, params) - nettedRequirement(before, params);
          assert.ok((change < 0n ? -change : change) <= sumDelta, `moved ${change} > Σδ ${sumDelta}`);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('parseNetting', () => {
  test('defaults: floor 0.25, sameBase 0.95, no correlations, grid [1/3, 2/3, 1] (rounded up)', T, () => {
    const p = parseNetting({}, 'netting');
    assert.equal(p.floor, RATE_ONE / 4n);
    assert.equal(p.sameBase, (RATE_ONE * 95n) / 100n);
    assert.deepEqual(p.correlations, []);
    assert.deepEqual(p.grid, [3333333334n, 6666666667n, RATE_ONE]);
    assert.deepEqual(p, { ...DEFAULT_NETTING, grid: [...DEFAULT_NETTING.grid] });
  });

  test('decimal strings, negative correlations allowed', T, () => {
    const p = parseNetting(
      {
        floor: '0.5',
        sameBase: '0.9',
        correlations: [{ a: 'BTC', b: 'ETH', rho: '-0.3' }],
        grid: ['0.5', '1'],
      },
      'netting',
    );
    assert.equal(p.floor, rate('0.5'));
    assert.equal(p.correlations[0]!.rho, -rate('0.3'));
    assert.deepEqual(p.grid, [RATE_ONE / 2n, RATE_ONE]);
  });

  const bad: [string, unknown, RegExp][] = [
    ['not an object', [], /^netting: must be an object/],
    ['unknown field', { flor: '0.2' }, /^netting\.flor: unknown field/],
    ['floor above 1', { floor: '1.5' }, /^netting\.floor: must be in \[0, 1\]/],
    ['negative floor', { floor: '-0.1' }, /^netting\.floor: must not be negative/],
    ['exponent', { sameBase: '1e-1' }, /^netting\.sameBase: .* not a plain decimal/],
    [
      'rho below -1',
      { correlations: [{ a: 'BTC', b: 'ETH', rho: '-1.01' }] },
      /^netting\.correlations\[0\]\.rho: must be in \[-1, 1\]/,
    ],
    [
      'rho missing',
      { correlations: [{ a: 'BTC', b: 'ETH' }] },
      /^netting\.correlations\[0\]\.rho: must be a decimal string/,
    ],
    [
      'unknown correlation field',
      { correlations: [{ a: 'BTC', b: 'ETH', rho: '0.1', x: 1 }] },
      /correlations\[0\]\.x: unknown field/,
    ],
    [
      'a base with itself',
      { correlations: [{ a: 'BTC', b: 'BTC', rho: '0.1' }] },
      /correlations\[0\]\.b: must differ/,
    ],
    [
      'a pair twice (either order)',
      {
        correlations: [
          { a: 'BTC', b: 'ETH', rho: '0.1' },
          { a: 'ETH', b: 'BTC', rho: '0.2' },
        ],
      },
      /correlations\[1\]: the pair ETH\/BTC is listed twice/,
    ],
    ['empty grid', { grid: [] }, /^netting\.grid: must be an array/],
    ['zero in the grid', { grid: ['0'] }, /^netting\.grid\[0\]: must be greater than zero/],
    ['grid above 1', { grid: ['1.1'] }, /^netting\.grid\[0\]: must be in \[0, 1\]/],
  ];
  for (const [name, input, re] of bad) {
    test(`refuses ${name}, naming the field`, T, () => {
      assert.throws(
        () => parseNetting(input, 'netting'),
        (e) => e instanceof InputError && re.test(e.message),
      );
    });
  }
});
