/**
 * Scenarios of the strategy risk models (issue 18): the `maxLoss` model (Derive SRM in ringfence's equity
 * convention), the `strategy` model's recogniser and rules, the `scenario` model capped at max loss, grouping by
 * expiry, inverse legs, the payoff profile and the parameter parser. Legs are BTC options with core's `ringfence` per-leg requirements (strategy-fixtures.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../../src/core/fixed.ts';
import {
  DEFAULT_STRATEGY_MARGIN,
  type PortfolioLeg,
  parseStrategyMarginParams,
  payoffProfile,
  type StrategyModelId,
  strategyMargin,
  strategyMarginParamsToJson,
} from '../../src/core/strategy/index.ts';
import { groupLegs } from '../../src/core/strategy/legs.ts';
import { groupMaxLoss } from '../../src/core/strategy/max-loss.ts';
import { scenarioRisk } from '../../src/core/strategy/scenario.ts';
import { EXPIRY_1, EXPIRY_2, linear, option, w } from './strategy-fixtures.ts';

const T = { timeout: 20_000 };
const run = (model: StrategyModelId, legs: PortfolioLeg[]) =>
  strategyMargin(model, legs, DEFAULT_STRATEGY_MARGIN);

/** Short 100k / long 110k BTC call spread for 2,000 credit (3,000 received, 1,000 paid), marks as given. */
const callSpread = (shortMark: number | string = 3000, longMark: number | string = 1000) => [
  option({ type: 'call', strike: 100_000, size: -1, entry: 3000, mark: shortMark }),
  option({ type: 'call', strike: 110_000, size: 1, entry: 1000, mark: longMark }),
];

describe('maxLoss model: a defined-risk silo needs its max loss', T, () => {
  test(
    'short 100k/110k BTC call spread for 2,000 credit: maxLoss 8,000, IM 8,000, MM 8,000, worst at 110k',
    T,
    () => {
      const legs = callSpread();
      const r = run('maxLoss', legs);
      assert.equal(r.maxLoss, w(8000));
      assert.equal(r.initialMargin, w(8000));
      assert.equal(r.maintenanceMargin, w(8000));
      assert.ok(r.standaloneInitialMargin > w(8000), 'the short call alone needs more');
      assert.deepEqual(r.worst, { kind: 'price', underlying: 'BTC', expiry: EXPIRY_1, price: w(110_000) });
      assert.equal(r.strategies.length, 1);
      assert.equal(r.strategies[0]!.type, 'vertical');
      assert.equal(r.strategies[0]!.direction, 'credit');
    },
  );

  test(
    'the spread moves 3,500 against the silo: requirement falls to 4,500 and 8,000 collateral still holds',
    T,
    () => {
      const r = run('maxLoss', callSpread(9000, 3500)); // u = −6,000 + 2,500
      assert.equal(r.maintenanceMargin, w(4500));
      assert.ok(w(8000) - w(3500) >= r.maintenanceMargin, 'equity 4,500 ≥ MM');
    },
  );

  test(
    "the spread moves in the silo's favour: the requirement stays the max loss (gains are not lent back)",
    T,
    () => {
      const r = run('maxLoss', callSpread(500, 100));
      assert.equal(r.maintenanceMargin, w(8000));
    },
  );

  test(
    'an iron condor 90/95k P, 105/110k C for 1,800 credit: maxLoss 3,200 under maxLoss and strategy',
    T,
    () => {
      const legs = [
        option({ type: 'put', strike: 90_000, size: 1, entry: 400 }),
        option({ type: 'put', strike: 95_000, size: -1, entry: 1300 }),
        option({ type: 'call', strike: 105_000, size: -1, entry: 1200 }),
        option({ type: 'call', strike: 110_000, size: 1, entry: 300 }),
      ];
      const m = run('maxLoss', legs);
      assert.equal(m.maxLoss, w(3200));
      assert.equal(m.initialMargin, w(3200));
      const s = run('strategy', legs);
      assert.equal(s.strategies.length, 1);
      assert.equal(s.strategies[0]!.type, 'ironCondor');
      assert.equal(s.strategies[0]!.maxLoss, w(3200));
      assert.equal(s.initialMargin, w(3200));
      assert.equal(s.maintenanceMargin, w(3200));
      const profile = payoffProfile(legs)[0]!;
      assert.deepEqual(profile.breakevens, [w(93_200), w(106_800)]);
      assert.equal(profile.maxGain, w(1800));
      assert.equal(profile.maxLossPayoff, w(5000));
    },
  );

  test(
    'a naked short call is unbounded: maxLoss null, the unpaired charge 1.2 × forward applies, standalone binds',
    T,
    () => {
      const legs = [option({ type: 'call', strike: 110_000, size: -1, entry: 1000 })];
      const r = run('maxLoss', legs);
      assert.equal(r.maxLoss, null);
      assert.equal(r.initialMargin, r.standaloneInitialMargin, 'standalone is far below 1.2 × 100k');
      assert.deepEqual(r.worst, { kind: 'standalone' });
      const g = groupMaxLoss(legs, groupLegs(legs).groups[0]!, DEFAULT_STRATEGY_MARGIN);
      assert.equal(g.unbounded, true);
      assert.equal(g.unpairedIM, w(120_000));
      assert.equal(g.unpairedMM, w(110_000));
      assert.equal(r.strategies[0]!.type, 'naked');
      assert.equal(r.strategies[0]!.maxLoss, null);
    },
  );

  test(
    'short 1.01 × 100k call against long 1 × 110k: max loss 101 − credit plus 1.2·100k·0.01 = 1,200, worst +∞',
    T,
    () => {
      const legs = [
        option({ type: 'call', strike: 100_000, size: '-1.01', entry: 3000 }),
        option({ type: 'call', strike: 110_000, size: 1, entry: 1000 }),
      ];
      const r = run('maxLoss', legs);
      // pnl(110k) = −1.01·(10,000 − 3,000) − 1,000 = −8,070; slope −0.01 → unpaired 1.2·100,000·0.01.
      assert.equal(r.initialMargin, w(8070) + w(1200));
      assert.equal(r.maintenanceMargin, w(8070) + w(1100));
      assert.equal(r.maxLoss, null);
      assert.deepEqual(r.worst, { kind: 'infinity', underlying: 'BTC', expiry: EXPIRY_1 });
    },
  );

  test('a short box for 9,900 credit on a 10,000 box: max loss 100, never more than that', T, () => {
    const legs = [
      option({ type: 'call', strike: 100_000, size: -1, entry: 6000 }),
      option({ type: 'call', strike: 110_000, size: 1, entry: 2000 }),
      option({ type: 'put', strike: 100_000, size: 1, entry: 2000 }),
      option({ type: 'put', strike: 110_000, size: -1, entry: 7900 }),
    ];
    const r = run('maxLoss', legs);
    assert.equal(r.maxLoss, w(100));
    assert.equal(r.initialMargin, w(100));
    const s = run('strategy', legs);
    assert.equal(s.strategies[0]!.type, 'box');
    assert.equal(s.strategies[0]!.direction, 'credit');
    assert.equal(s.initialMargin, w(100));
  });
});

describe('groups: one per (underlying, expiry); delta-one legs join the earliest expiry', T, () => {
  test("two expiries do not offset: maxLoss is the sum of each expiry's worst loss", T, () => {
    const legs = [...callSpread(), ...callSpread().map((l) => ({ ...l, expiry: EXPIRY_2, id: `${l.id}-2` }))];
    const r = run('maxLoss', legs);
    assert.equal(r.maxLoss, w(16_000));
    assert.equal(r.initialMargin, w(16_000));
  });

  test(
    'a perpetual and a later future join the earliest option group; an earlier future forms its own',
    T,
    () => {
      const legs = [
        option({ type: 'call', strike: 100_000, size: -1, entry: 3000, expiry: EXPIRY_2 }),
        option({ type: 'call', strike: 100_000, size: -1, entry: 3000, expiry: EXPIRY_1, id: 'near' }),
        linear({ size: 1, entry: 100_000 }),
        linear({ kind: 'future', expiry: EXPIRY_2, size: 1, entry: 100_000 }),
        linear({ kind: 'future', expiry: EXPIRY_1 - 1, size: 1, entry: 100_000 }),
      ];
      const g = groupLegs(legs).groups;
      assert.deepEqual(
        g.map((x) => [x.expiry, x.legs]),
        [
          [EXPIRY_1, [1, 3, 2]],
          [EXPIRY_2, [0]],
          [undefined, [4]],
        ],
      );
    },
  );

  test('a lone long perpetual: max loss is its entry notional, the worst price 0 with no expiry', T, () => {
    const r = run('maxLoss', [linear({ size: '0.5', entry: 100_000 })]);
    assert.equal(r.maxLoss, w(50_000));
    assert.deepEqual(r.worst, { kind: 'standalone' });
    const m = groupMaxLoss(
      [linear({ size: '0.5', entry: 100_000 })],
      groupLegs([linear({ size: '0.5', entry: 100_000 })]).groups[0]!,
      DEFAULT_STRATEGY_MARGIN,
    );
    assert.equal(m.price, 0n);
    assert.equal(m.unbounded, false);
  });
});

describe('strategy model: covered calls, straddles, splits', T, () => {
  test("a covered call against a perpetual needs only the perpetual's requirement", T, () => {
    const legs = [
      linear({ size: 1, entry: 100_000 }),
      option({ type: 'call', strike: 110_000, size: -1, entry: 2000 }),
    ];
    const s = run('strategy', legs);
    assert.equal(s.strategies.length, 1);
    const cc = s.strategies[0]!;
    assert.equal(cc.type, 'coveredCall');
    assert.deepEqual(cc.legs, [
      { leg: 1, size: w(1) },
      { leg: 0, size: w(1) },
    ]);
    assert.equal(s.initialMargin, legs[0]!.initialMargin);
    assert.equal(s.maintenanceMargin, legs[0]!.maintenanceMargin);
    assert.equal(cc.maxLoss, w(98_000), 'the perpetual can fall to 0; the premium kept');
    const m = run('maxLoss', legs);
    assert.equal(m.maxLoss, w(98_000));
    assert.equal(m.initialMargin, m.standaloneInitialMargin, 'max loss 98,000 is above the standalone sum');
  });

  test('a covered put: short put against a short perpetual; leftover perpetual size stays naked', T, () => {
    const legs = [
      linear({ size: -2, entry: 100_000 }),
      option({ type: 'put', strike: 90_000, size: -1, entry: 1500 }),
    ];
    const s = run('strategy', legs);
    assert.deepEqual(
      s.strategies.map((x) => [x.type, x.legs]),
      [
        [
          'coveredPut',
          [
            { leg: 1, size: w(1) },
            { leg: 0, size: w(1) },
          ],
        ],
        ['naked', [{ leg: 0, size: w(1) }]],
      ],
    );
    assert.equal(s.initialMargin, legs[0]!.initialMargin, "the perpetual's requirement split in two shares");
  });

  test(
    'short 2 × 100k calls against 1 × 110k: a vertical and a naked call; the split leg pays its requirement once',
    T,
    () => {
      const legs = [
        option({ type: 'call', strike: 100_000, size: -2, entry: 3000 }),
        option({ type: 'call', strike: 110_000, size: 1, entry: 1000 }),
      ];
      const s = run('strategy', legs);
      assert.deepEqual(
        s.strategies.map((x) => x.type),
        ['vertical', 'naked'],
      );
      const naked = s.strategies[1]!;
      assert.equal(naked.initialMargin, legs[0]!.initialMargin / 2n);
      assert.equal(s.strategies[0]!.initialMargin, w(8000));
      assert.ok(s.initialMargin <= s.standaloneInitialMargin);
    },
  );

  test(
    'a short strangle charges the greater side + the other premium, capped at the standalone sum',
    T,
    () => {
      const call = option({ type: 'call', strike: 110_000, size: -1, entry: 1000 });
      const put = option({ type: 'put', strike: 90_000, size: -1, entry: 800 });
      const s = run('strategy', [call, put]);
      assert.equal(s.strategies[0]!.type, 'strangle');
      const greater = call.initialMargin >= put.initialMargin ? call : put;
      const other = greater === call ? put : call;
      assert.equal(s.initialMargin, greater.initialMargin + other.markPrice);
      assert.deepEqual(s.worst, { kind: 'standalone' });
    },
  );

  test('a long straddle is the standalone sum (0: longs need nothing beyond the premium paid)', T, () => {
    const s = run('strategy', [
      option({ type: 'call', strike: 100_000, size: 1, entry: 3000 }),
      option({ type: 'put', strike: 100_000, size: 1, entry: 3000 }),
    ]);
    assert.equal(s.strategies[0]!.type, 'straddle');
    assert.equal(s.strategies[0]!.direction, 'debit');
    assert.equal(s.initialMargin, 0n);
  });

  test('an iron butterfly: short 100k straddle with 95k/105k wings', T, () => {
    const s = run('strategy', [
      option({ type: 'put', strike: 95_000, size: 1, entry: 1000 }),
      option({ type: 'put', strike: 100_000, size: -1, entry: 3000 }),
      option({ type: 'call', strike: 100_000, size: -1, entry: 3000 }),
      option({ type: 'call', strike: 105_000, size: 1, entry: 1000 }),
    ]);
    assert.equal(s.strategies.length, 1);
    assert.equal(s.strategies[0]!.type, 'ironButterfly');
    assert.equal(s.initialMargin, w(1000), '5,000 wide less 4,000 credit');
  });
});

describe('inverse legs stand alone under every model', T, () => {
  const inverse = option({
    type: 'call',
    strike: 120_000,
    size: -1,
    entry: '0.01',
    settle: 'inverse',
    id: 'BTC-INV-120000-C',
  });
  for (const model of ['maxLoss', 'strategy', 'scenario'] as const) {
    test(
      `${model}: a call spread plus a short inverse call — the inverse leg's own requirement is added`,
      T,
      () => {
        const spread = run(model, callSpread());
        const both = run(model, [...callSpread(), inverse]);
        assert.equal(both.initialMargin, spread.initialMargin + inverse.initialMargin);
        assert.equal(both.maintenanceMargin, spread.maintenanceMargin + inverse.maintenanceMargin);
        assert.equal(both.maxLoss, null);
        const last = both.strategies[both.strategies.length - 1]!;
        assert.equal(last.type, 'naked');
        assert.deepEqual(last.legs, [{ leg: 2, size: w(1) }]);
      },
    );
  }
});

describe('scenario model delegates to the scenario grid, capped at max loss', T, () => {
  const grid = (legs: PortfolioLeg[]) => scenarioRisk(legs, DEFAULT_STRATEGY_MARGIN.scenario);

  test(
    "the call spread's grid asks less than its 8,000 max loss: figures and worst case are scenarioRisk's",
    T,
    () => {
      const legs = callSpread();
      const r = run('scenario', legs);
      const direct = grid(legs);
      assert.ok(direct.initialMargin < w(8000), 'under the cap');
      assert.equal(r.initialMargin, direct.initialMargin);
      assert.equal(r.maintenanceMargin, direct.maintenanceMargin);
      assert.deepEqual(r.worst, direct.worst);
      assert.equal(r.maxLoss, w(8000));
      assert.equal(r.strategies[0]!.type, 'vertical');
    },
  );

  /** The worked example's iron condor (docs/strategy-margin.md), 24 days out: the grid asks more than it can lose. */
  const condor = (years = String(24 / 365)) => [
    option({ type: 'put', strike: 85_000, size: 1, entry: 500, iv: '0.48', years }),
    option({ type: 'put', strike: 90_000, size: -1, entry: 1000, iv: '0.44', years }),
    option({ type: 'call', strike: 110_000, size: -1, entry: 1200, iv: '0.42', years }),
    option({ type: 'call', strike: 115_000, size: 1, entry: 600, iv: '0.43', years }),
  ];

  test(
    'iron condor 85/90k P, 110/115k C for 1,100 credit, 24 days out: the grid asks more than 3,900 → IM = MM = 3,900, worst at 0',
    T,
    () => {
      const legs = condor();
      assert.ok(grid(legs).maintenanceMargin > w(3900), 'the grid alone is above the max loss');
      const r = run('scenario', legs);
      assert.equal(r.maxLoss, w(3900));
      assert.equal(r.initialMargin, w(3900));
      assert.equal(r.maintenanceMargin, w(3900));
      assert.deepEqual(r.worst, { kind: 'price', underlying: 'BTC', expiry: EXPIRY_1, price: 0n });
    },
  );

  test('the condor 1,000 in loss at marks: the cap is the max loss less that loss, 2,900', T, () => {
    const legs = condor().map((l) => (l.strike === w(90_000) ? { ...l, markPrice: w(2000) } : l));
    const r = run('scenario', legs);
    assert.ok(grid(legs).maintenanceMargin > w(2900));
    assert.equal(r.maintenanceMargin, w(2900));
    assert.equal(r.initialMargin, w(2900));
  });

  test('a naked short call is unbounded: no cap, the grid and its contingency stand', T, () => {
    const legs = [option({ type: 'call', strike: 110_000, size: -1, entry: 1000 })];
    const r = run('scenario', legs);
    const direct = grid(legs);
    assert.equal(r.maintenanceMargin, direct.maintenanceMargin);
    assert.equal(r.initialMargin, direct.initialMargin);
    assert.deepEqual(r.worst, direct.worst);
  });

  test(
    'per underlying: the BTC condor is capped at 3,900, a naked ETH call beside it keeps its grid figure',
    T,
    () => {
      const eth = option({
        underlying: 'ETH',
        type: 'call',
        strike: 4000,
        size: -10,
        entry: 100,
        forward: 3500,
      });
      const r = run('scenario', [...condor(), eth]);
      const ethAlone = grid([eth]);
      assert.equal(r.maintenanceMargin, w(3900) + ethAlone.maintenanceMargin);
      assert.equal(r.initialMargin, w(3900) + ethAlone.initialMargin);
    },
  );

  test(
    'two expiries of one underlying, both bounded: the cap is the sum of the groups, worst at the larger group',
    T,
    () => {
      const later = condor().map((l) => ({ ...l, expiry: EXPIRY_2, id: `${l.id}-2`, size: l.size * 2n }));
      const r = run('scenario', [...condor(), ...later]);
      assert.ok(grid([...condor(), ...later]).maintenanceMargin > w(11_700), 'the grid asks more');
      assert.equal(r.maxLoss, w(11_700));
      assert.equal(r.maintenanceMargin, w(11_700));
      assert.deepEqual(r.worst, { kind: 'price', underlying: 'BTC', expiry: EXPIRY_2, price: 0n });
    },
  );
});

describe('payoff profile', T, () => {
  test('the call spread: break-even 102,000, max gain 2,000, points at 0, the strikes and beyond', T, () => {
    const [p] = payoffProfile(callSpread());
    assert.equal(p!.maxLoss, w(8000));
    assert.equal(p!.maxLossPayoff, w(10_000));
    assert.equal(p!.maxGain, w(2000));
    assert.deepEqual(p!.breakevens, [w(102_000)]);
    assert.deepEqual(
      p!.points.map((x) => [x.price, x.pnl]),
      [
        [0n, w(2000)],
        [w(100_000), w(2000)],
        [w(110_000), w(-8000)],
        [w(137_500), w(-8000)],
        [w(165_000), w(-8000)],
        [w(220_000), w(-8000)],
      ],
    );
  });

  test('a long call: max gain unbounded, max loss the premium, break-even strike + premium', T, () => {
    const [p] = payoffProfile([option({ type: 'call', strike: 100_000, size: '0.5', entry: 3000 })]);
    assert.equal(p!.maxGain, null);
    assert.equal(p!.maxLoss, w(1500));
    assert.deepEqual(p!.breakevens, [w(103_000)]);
  });

  test('a short straddle: unbounded loss, two break-evens', T, () => {
    const [p] = payoffProfile([
      option({ type: 'call', strike: 100_000, size: -1, entry: 3000 }),
      option({ type: 'put', strike: 100_000, size: -1, entry: 2500 }),
    ]);
    assert.equal(p!.maxLoss, null);
    assert.equal(p!.maxGain, w(5500));
    assert.deepEqual(p!.breakevens, [w(94_500), w(105_500)]);
  });
});

describe('parameters', T, () => {
  test('defaults are Derive mainnet 1.2 / 1.1; the JSON form reads back to the same values', T, () => {
    const p = parseStrategyMarginParams({}, 'strategyMargin');
    assert.equal(p.unpairedIMScale, w('1.2'));
    assert.equal(p.unpairedMMScale, w('1.1'));
    assert.deepEqual(parseStrategyMarginParams(strategyMarginParamsToJson(p), 'x'), p);
    const q = parseStrategyMarginParams({ unpairedIMScale: '1.4', unpairedMMScale: '1.2' }, 'x');
    assert.equal(q.unpairedIMScale, w('1.4'));
  });

  test(
    'unknown fields, bad decimals, out-of-range scales, MM above IM and bad scenario rows name the field',
    T,
    () => {
      const field = (json: unknown) => {
        try {
          parseStrategyMarginParams(json, 'sm');
        } catch (e) {
          assert.ok(e instanceof InputError, String(e));
          return e.field;
        }
        assert.fail('accepted');
      };
      assert.equal(field({ unpaired: '1' }), 'sm.unpaired');
      assert.equal(field({ unpairedIMScale: 'abc' }), 'sm.unpairedIMScale');
      assert.equal(field({ unpairedIMScale: '3.5' }), 'sm.unpairedIMScale');
      assert.equal(field({ unpairedMMScale: '0.9' }), 'sm.unpairedMMScale');
      assert.equal(field({ unpairedIMScale: '1.1', unpairedMMScale: '1.2' }), 'sm.unpairedMMScale');
      assert.equal(field([]), 'sm');
      assert.match(field({ scenario: { default: { priceRange: 'x' } } }), /^sm\.scenario/);
    },
  );
});

describe('leg checks', T, () => {
  test('malformed legs are refused (RangeError naming the leg)', T, () => {
    const good = callSpread()[0]!;
    assert.throws(() => run('maxLoss', [{ ...good, size: 0n }]), /size must be positive/);
    assert.throws(() => run('maxLoss', [{ ...good, expiry: undefined }]), /needs an expiry/);
    assert.throws(
      () => run('maxLoss', [{ ...linear({ size: 1, entry: 1 }), expiry: 5 }]),
      /perpetual has no expiry/,
    );
  });
});
