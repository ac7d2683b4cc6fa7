/**
 * Golden cases of strategy margin (../shared/reference/options-margin.md §3a, §3b and the GOLDEN CASES table):
 * - Derive SRM per expiry (OPT-DRV-SRM-*) through the reference `deriveSrmExpiryMargin`, marks from core Black-76 at
 *   the case's forward/vol/time, DERIVE_CONFIG_TEST parameters, compared as Derive's tests do (trunc-equal);
 * - CBOE / broker strategy rules (OPT-CBOE-*) through the recogniser and the `strategy` model: legs sized
 *   100 × contracts, each leg's own requirement its Reg-T naked requirement, entry = mark = premium. With
 *   entry-relative figures the model's requirement is the broker's net call for funds (max loss less the net
 *   credit); the premium-free `maxLossPayoff` is the gross figure.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDecimal } from '../../src/core/fixed.ts';
import { black76, yearsFromSeconds } from '../../src/core/options/black76.ts';
import { regTNakedRequirement } from '../../src/core/options/margin.ts';
import { DERIVE_CONFIG_TEST } from '../../src/core/options/margin-params.ts';
import { type DeriveSrmOption, deriveSrmExpiryMargin } from '../../src/core/strategy/derive-srm.ts';
import {
  DEFAULT_STRATEGY_MARGIN,
  type PortfolioLeg,
  payoffProfile,
  type StrategyMarginResult,
  strategyMargin,
} from '../../src/core/strategy/index.ts';

const T = { timeout: 20_000 };
const WAD = 10n ** 18n;
const w = (s: string | number) => parseDecimal(String(s), 'test', { dp: 18, signed: true });
const show = (x: bigint) => (Number(x) / 1e18).toFixed(4);

function near(got: bigint, expected: string | number, tol: string, what: string): void {
  const d = got - w(expected);
  assert.ok((d < 0n ? -d : d) <= w(tol), `${what}: got ${show(got)}, expected ${expected} ± ${tol}`);
}

// ---------------------------------------------------------------------------------------------------------
// Derive SRM

type Opt = [strike: number, amount: string, type: 'call' | 'put'];

function srmOptions(opts: readonly Opt[], forward: bigint, seconds: number, vol: string): DeriveSrmOption[] {
  const years = yearsFromSeconds(seconds);
  return opts.map(([k, amount, type]) => {
    const b = black76({ forward, strike: w(k), years, vol: w(vol) });
    return { type, strike: w(k), amount: w(amount), mark: type === 'call' ? b.call : b.put };
  });
}

function srm(
  opts: readonly Opt[],
  spot: string,
  forward: string,
  seconds: number,
  vol: string,
  spec = DERIVE_CONFIG_TEST,
) {
  const e = { options: srmOptions(opts, w(forward), seconds, vol), spot: w(spot), forward: w(forward) };
  return {
    im: deriveSrmExpiryMargin(e, spec, true).margin,
    mm: deriveSrmExpiryMargin(e, spec, false).margin,
  };
}

/** Solidity's int(margin / 1e18): truncation toward zero. */
const trunc = (x: bigint) => Number(x / WAD);

describe('Derive SRM, better of isolated and max loss per expiry (OPT-DRV-SRM-*)', T, () => {
  const vol0 = 91 * 86_400;
  test(
    'OPT-DRV-SRM-1: S = F = 1500, vol 0 — call spread 100, unpaired 1.01× 122 (scale 1.4), zero strike 400',
    T,
    () => {
      const spread = srm(
        [
          [1500, '-1', 'call'],
          [1600, '1', 'call'],
        ],
        '1500',
        '1500',
        vol0,
        '0',
      );
      near(spread.im, -100, '0.000000001', 'short 1500C + long 1600C');
      const p14 = { ...DERIVE_CONFIG_TEST, unpairedIMScale: '1.4', unpairedMMScale: '1.2' };
      const unpaired = srm(
        [
          [1500, '-1.01', 'call'],
          [1600, '1', 'call'],
        ],
        '1500',
        '1500',
        vol0,
        '0',
        p14,
      );
      near(unpaired.im, -122, '0.000000001', 'max loss 101 + 1.4·1500·0.01 = 21');
      const zero = srm(
        [
          [0, '-1', 'call'],
          [400, '1', 'call'],
        ],
        '1500',
        '1500',
        vol0,
        '0',
      );
      near(zero.im, -400, '0.000000001', 'short 0C + long 400C');
    },
  );

  const T0 = 10 * 86_400 + 8 * 3_600;
  const T1 = 17 * 86_400 + 8 * 3_600;
  const F0 = '2002.83305';
  const F1 = '2004.7545';
  const cases: [string, string, Opt[], number, string, number, number][] = [
    ['OPT-DRV-SRM-PF-1', 'short ITM 1500C', [[1500, '-1', 'call']], T0, F0, -802, -652],
    ['OPT-DRV-SRM-PF-2', 'short OTM 1100P', [[1100, '-1', 'put']], T0, F0, -200, -150],
    ['OPT-DRV-SRM-PF-3', 'short 2× ITM 3000P', [[3000, '-2', 'put']], T0, F0, -2594, -2294],
    [
      'OPT-DRV-SRM-VERT-1',
      'short 1800C / long 2000C: max loss binds',
      [
        [1800, '-1', 'call'],
        [2000, '1', 'call'],
      ],
      T0,
      F0,
      -200,
      -200,
    ],
    [
      'OPT-DRV-SRM-VERT-2',
      'long 2500P / short 3000P: max loss binds',
      [
        [2500, '1', 'put'],
        [3000, '-1', 'put'],
      ],
      T0,
      F0,
      -500,
      -500,
    ],
    [
      'OPT-DRV-SRM-VERT-3',
      'short 2300C / long 4000C: isolated binds',
      [
        [2300, '-1', 'call'],
        [4000, '1', 'call'],
      ],
      T0,
      F0,
      -203,
      -153,
    ],
    [
      'OPT-DRV-SRM-VERT-4',
      'long 1200P / short 2000P: isolated binds',
      [
        [1200, '1', 'put'],
        [2000, '-1', 'put'],
      ],
      T0,
      F0,
      -365,
      -215,
    ],
    [
      'OPT-DRV-SRM-UNPAIRED-1',
      'short 1.01× 1100C / long 1200C: 101 + unpaired',
      [
        [1100, '-1.01', 'call'],
        [1200, '1', 'call'],
      ],
      T0,
      F0,
      -125,
      -123,
    ],
    ['OPT-DRV-SRM-ZERO-1', 'short 100P: max loss (strike) binds', [[100, '-1', 'put']], T1, F1, -100, -100],
    [
      'OPT-DRV-SRM-BOX-1',
      'short box 1000/2000',
      [
        [1000, '-1', 'call'],
        [1000, '1', 'put'],
        [2000, '1', 'call'],
        [2000, '-1', 'put'],
      ],
      T0,
      F0,
      -1000,
      -1000,
    ],
    [
      'OPT-DRV-SRM-BOX-2',
      'long box 1000/2000: nothing',
      [
        [1000, '1', 'call'],
        [1000, '-1', 'put'],
        [2000, '-1', 'call'],
        [2000, '1', 'put'],
      ],
      T0,
      F0,
      0,
      0,
    ],
  ];
  for (const [id, what, opts, seconds, forward, im, mm] of cases) {
    test(`${id}: ${what}; spot 2000, vol 0.5 → IM ${im}, MM ${mm} (trunc)`, T, () => {
      const got = srm(opts, '2000', forward, seconds, '0.5');
      assert.deepEqual([trunc(got.im), trunc(got.mm)], [im, mm], `IM ${show(got.im)} MM ${show(got.mm)}`);
    });
  }

  test(
    "the premium-free max loss of the payoff profile is Derive's max-loss form (VERT-1/2, BOX-1, ZERO-1)",
    T,
    () => {
      const legsOf = (opts: readonly Opt[]) =>
        opts.map(([k, amount, type], i) =>
          leg(`${i}`, type, w(k), w(amount), 0n, w('2000'), { initialMargin: 0n, maintenanceMargin: 0n }),
        );
      const gross = (opts: readonly Opt[]) => payoffProfile(legsOf(opts))[0]!.maxLossPayoff;
      assert.equal(gross(cases[3]![2]), w(200));
      assert.equal(gross(cases[4]![2]), w(500));
      assert.equal(gross(cases[9]![2]), w(1000));
      assert.equal(gross(cases[8]![2]), w(100));
      assert.equal(gross(cases[10]![2]), 0n);
    },
  );
});

// ---------------------------------------------------------------------------------------------------------
// CBOE / broker rules through the recogniser

const EXPIRY = Date.UTC(2026, 2, 20);

function leg(
  id: string,
  type: 'call' | 'put',
  strike: bigint,
  signedSize: bigint,
  premium: bigint,
  forward: bigint,
  req: { initialMargin: bigint; maintenanceMargin: bigint },
): PortfolioLeg {
  return {
    id,
    underlying: 'XYZ',
    kind: 'option',
    settle: 'linear',
    type,
    strike,
    expiry: EXPIRY,
    sign: signedSize < 0n ? -1 : 1,
    size: signedSize < 0n ? -signedSize : signedSize,
    entryPrice: premium,
    markPrice: premium,
    forward,
    ...req,
  };
}

/** One equity option position: `contracts` signed, 100 shares each, its own requirement the Reg-T naked one. */
function cboe(
  type: 'call' | 'put',
  strike: number,
  contracts: number,
  premium: string,
  stock: number,
): PortfolioLeg {
  const side = contracts < 0 ? 'short' : 'long';
  const req = regTNakedRequirement({
    type,
    side,
    contracts: w(Math.abs(contracts)),
    underlyingPrice: w(stock),
    strike: w(strike),
    premium: w(premium),
  });
  const id = `${type === 'call' ? 'C' : 'P'}${strike}${side === 'short' ? 'S' : 'L'}`;
  return leg(id, type, w(strike), w(100 * contracts), w(premium), w(stock), {
    initialMargin: req,
    maintenanceMargin: req,
  });
}

const strategyOf = (legs: PortfolioLeg[]): StrategyMarginResult =>
  strategyMargin('strategy', legs, DEFAULT_STRATEGY_MARGIN);

function one(r: StrategyMarginResult, type: string, direction: string) {
  assert.equal(r.strategies.length, 1, `one strategy, got ${r.strategies.map((s) => s.type).join(', ')}`);
  assert.equal(r.strategies[0]!.type, type);
  assert.equal(r.strategies[0]!.direction, direction);
  return r.strategies[0]!;
}

describe('CBOE naked short options (Reg-T)', T, () => {
  test(
    'OPT-CBOE-NAKED-1: short 200P @1.20, stock 209 → $3,400, call for funds $3,280; a naked strategy',
    T,
    () => {
      const put = cboe('put', 200, -1, '1.20', 209);
      near(put.initialMargin, 3400, '0.000001', 'requirement');
      const r = strategyOf([put]);
      one(r, 'naked', 'short');
      near(r.initialMargin, 3400, '0.000001', 'strategy model');
      near(r.initialMargin - w(120), 3280, '0.000001', 'less proceeds');
    },
  );
  test(
    'OPT-CBOE-NAKED-2: short 30C @.05 S 26.38 → 269 ($1); short 80P @2 S 95 → 1000; short 120C @8.4 S 128.5 → 3410',
    T,
    () => {
      near(cboe('call', 30, -1, '0.05', 26.38).initialMargin, 269, '0.5', 'OTM call');
      near(cboe('put', 80, -1, '2', 95).initialMargin, 1000, '0.000001', 'OTM put');
      near(cboe('call', 120, -1, '8.4', 128.5).initialMargin, 3410, '0.000001', 'ITM call');
    },
  );
});

describe('CBOE verticals', T, () => {
  test(
    'OPT-CBOE-VERT-1: long 120P @0.80 / short 125P @1.24 → spread $500 gross, $456 net of the $44 credit',
    T,
    () => {
      const legs = [cboe('put', 120, 1, '0.80', 124), cboe('put', 125, -1, '1.24', 124)];
      const r = strategyOf(legs);
      const s = one(r, 'vertical', 'credit');
      near(s.maxLoss!, 456, '0.000000001', 'max loss from entry');
      near(r.initialMargin, 456, '0.000000001', 'strategy IM = 500 + 80 long − 124 proceeds');
      near(payoffProfile(legs)[0]!.maxLossPayoff!, 500, '0.000000001', 'gross');
    },
  );
  test(
    'OPT-CBOE-VERT-2: 425/430P credit → 360; 120/125C ITM credit → 40; 250/240P debit → 205 (the debit)',
    T,
    () => {
      const credit = strategyOf([cboe('put', 425, 1, '6.4', 428), cboe('put', 430, -1, '7.8', 428)]);
      one(credit, 'vertical', 'credit');
      near(credit.initialMargin, 360, '0.000000001', 'put credit spread');
      const itm = strategyOf([cboe('call', 120, -1, '8.4', 128.5), cboe('call', 125, 1, '3.8', 128.5)]);
      one(itm, 'vertical', 'credit');
      near(itm.initialMargin, 40, '0.000000001', 'ITM call credit spread');
      const debit = strategyOf([cboe('put', 250, 1, '3', 252), cboe('put', 240, -1, '0.95', 252)]);
      one(debit, 'vertical', 'debit');
      near(debit.initialMargin, 205, '0.000000001', 'put debit spread');
    },
  );
});

describe("CBOE short straddle / strangle: greater side + the other side's premium", T, () => {
  test('OPT-CBOE-STRANGLE-1: S 45, short 47C @2.10 (910) and 43P @1.20 (820) → 910 + 120 = $1,030', T, () => {
    const call = cboe('call', 47, -1, '2.10', 45);
    const put = cboe('put', 43, -1, '1.20', 45);
    near(call.initialMargin, 910, '0.000000001', 'call side');
    near(put.initialMargin, 820, '0.000000001', 'put side');
    const r = strategyOf([put, call]);
    const s = one(r, 'strangle', 'credit');
    assert.equal(s.maxLoss, null, 'a short call is unbounded');
    near(r.initialMargin, 1030, '0.000000001', 'requirement');
    near(r.maintenanceMargin, 1030, '0.000000001', 'MM from the MMs (equal here)');
  });
  test('OPT-CBOE-STRADDLE-1: S 92.63, short 90C @7.00 / 90P @3.70 → 2,552.60 + 370 ≈ $2,923 (±$1)', T, () => {
    const r = strategyOf([cboe('call', 90, -1, '7.00', 92.63), cboe('put', 90, -1, '3.70', 92.63)]);
    one(r, 'straddle', 'credit');
    near(r.initialMargin, 2923, '1', 'requirement');
  });
});

describe('CBOE iron condors', T, () => {
  test('OPT-CBOE-IC-1: IB 10× 160/170P 180/190C → $10,000 gross; tasty 2× 50/53P 67/70C → $600', T, () => {
    const ib = [
      cboe('put', 160, 10, '0', 175),
      cboe('put', 170, -10, '0', 175),
      cboe('call', 180, -10, '0', 175),
      cboe('call', 190, 10, '0', 175),
    ];
    const r = strategyOf(ib);
    one(r, 'ironCondor', 'credit');
    near(payoffProfile(ib)[0]!.maxLossPayoff!, 10_000, '0.000001', 'IB gross');
    near(r.initialMargin, 10_000, '0.000001', 'no premium: requirement = gross');
    const tasty = [
      cboe('put', 50, 2, '0', 60),
      cboe('put', 53, -2, '0', 60),
      cboe('call', 67, -2, '0', 60),
      cboe('call', 70, 2, '0', 60),
    ];
    one(strategyOf(tasty), 'ironCondor', 'credit');
    near(payoffProfile(tasty)[0]!.maxLossPayoff!, 600, '0.000001', 'tasty gross');
  });
  test(
    'OPT-CBOE-IC-1: margin-estimator SPY 567/572P 602/607C @4.78/5.61/5.23/3.68 → $262 net of the $238 credit',
    T,
    () => {
      const spy = [
        cboe('put', 567, 1, '4.78', 587),
        cboe('put', 572, -1, '5.61', 587),
        cboe('call', 602, -1, '5.23', 587),
        cboe('call', 607, 1, '3.68', 587),
      ];
      const r = strategyOf(spy);
      const s = one(r, 'ironCondor', 'credit');
      near(s.maxLoss!, 262, '0.000001', 'max loss from entry');
      near(r.initialMargin, 262, '0.000001', 'requirement');
    },
  );
});

describe('CBOE butterflies', T, () => {
  test('OPT-CBOE-FLY-1: long 4× 40/50×8/60C @12.50/6.00/1.50 → $800, the net debit', T, () => {
    const r = strategyOf([
      cboe('call', 40, 4, '12.50', 52),
      cboe('call', 50, -8, '6.00', 52),
      cboe('call', 60, 4, '1.50', 52),
    ]);
    one(r, 'butterfly', 'debit');
    near(r.initialMargin, 800, '0.000001', 'net debit');
  });
  test('OPT-CBOE-FLY-1: short 3× 75/80×6/85P → $1,500 gross (5 wide × 3)', T, () => {
    const legs = [cboe('put', 75, -3, '0', 80), cboe('put', 80, 6, '0', 80), cboe('put', 85, -3, '0', 80)];
    const r = strategyOf(legs);
    one(r, 'butterfly', 'credit');
    near(payoffProfile(legs)[0]!.maxLossPayoff!, 1500, '0.000001', 'gross');
    near(r.initialMargin, 1500, '0.000001', 'no premium: requirement = gross');
  });
  test(
    'OPT-CBOE-FLY-1: broken-wing 545/550×2/565C @12.4/8.8/2.0 → $1,000 max loss − $320 credit = $680',
    T,
    () => {
      const legs = [
        cboe('call', 545, 1, '12.4', 550),
        cboe('call', 550, -2, '8.8', 550),
        cboe('call', 565, 1, '2.0', 550),
      ];
      const r = strategyOf(legs);
      one(r, 'butterfly', 'debit');
      near(payoffProfile(legs)[0]!.maxLossPayoff!, 1000, '0.000001', 'gross');
      near(r.initialMargin, 680, '0.000001', 'net');
    },
  );
});
