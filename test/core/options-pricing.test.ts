/**
 * Options pricing in fixed point: the reference's golden cases for Black-76, Greeks, SVI and settlement
 * (../shared/reference/options-margin.md §1, GOLDEN CASES), a plain float Black-76 over the grid, and
 * properties (put-call parity, monotonicity in strike and vol, implied vol round trip).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  Black76Chain,
  black76,
  discountFactor,
  impliedVol,
  inverseView,
  optionPayoff,
  settlementWindowForward,
  sviVol,
  yearsFromSeconds,
} from '../../src/core/options/black76.ts';
import { expWad, lnWad, normCdfWad, normPdfWad, sqrtWad, WAD } from '../../src/core/options/fixedmath.ts';
import { cumnormFloat, pdfFloat } from './float-reference.ts';

const T = { timeout: 30_000 };
/** A decimal string as WAD (exact to 18 places; digits beyond are cut). */
function w(s: string): bigint {
  const neg = s.startsWith('-');
  const [int = '0', frac = ''] = (neg ? s.slice(1) : s).split('.');
  const v = BigInt(int) * WAD + BigInt(frac.slice(0, 18).padEnd(18, '0'));
  return neg ? -v : v;
}
/** WAD to a float, for comparisons against float references only. */
const f = (x: bigint): number => Number(x) / 1e18;
const DAY = 86_400;

function near(got: bigint, expected: bigint, tolWei: bigint, what: string): void {
  const d = got > expected ? got - expected : expected - got;
  assert.ok(d <= tolWei, `${what}: got ${got}, expected ${expected} (±${tolWei} wei), off by ${d}`);
}
function nearF(got: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(got - expected) <= tol, `${what}: got ${got}, expected ${expected} ± ${tol}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Float reference: textbook Black-76 with Hart's double-precision normal CDF (West, "Better approximations to
// cumulative normal functions", the algorithm lyra-utils ports). Used only as a check, never by the engine.

function black76Float(F: number, K: number, t: number, vol: number) {
  const v = vol * Math.sqrt(t);
  const d1 = (Math.log(F / K) + 0.5 * v * v) / v;
  const d2 = d1 - v;
  const pdf = pdfFloat(d1);
  return {
    call: F * cumnormFloat(d1) - K * cumnormFloat(d2),
    put: K * cumnormFloat(-d2) - F * cumnormFloat(-d1),
    callDelta: cumnormFloat(d1),
    gamma: pdf / (F * v),
    vega: F * pdf * Math.sqrt(t),
    theta: (-F * pdf * vol) / (2 * Math.sqrt(t)),
  };
}

// ---------------------------------------------------------------------------------------------------------------

describe('fixed-point exp, ln, √, N and φ against 40-digit values (mpmath)', () => {
  test('N(x) and φ(x) within 2 wei at tails, centre and shoulders', T, () => {
    const cases: [string, string, string][] = [
      ['-7.5', '0.0000000000000319089167291089622776', '0.000000000000243432053302900982587'],
      ['-3.2', '0.00068713793791584845511770358913', '0.00238408820146484255100396737618'],
      ['-1', '0.158655253931457051414767454368', '0.241970724519143349797830192936'],
      ['0', '0.5', '0.398942280401432677939946059934'],
      ['0.3', '0.617911422188952637306528963121', '0.381387815460524085608030509504'],
      ['1.5', '0.93319279873114193399550595902', '0.129517595665891727614099557955'],
      ['2.75', '0.997020236764945443245705753014', '0.00909356250159105277005487276455'],
      ['6.1', '0.999999999469657673705117026267', '0.00000000331788424354729427784909'],
    ];
    for (const [x, cdf, pdf] of cases) {
      near(normCdfWad(w(x)), w(cdf), 2n, `N(${x})`);
      near(normPdfWad(w(x)), w(pdf), 2n, `φ(${x})`);
    }
    assert.equal(normCdfWad(w('10')), WAD, 'N is 1 beyond 10');
    assert.equal(normCdfWad(w('-10')), 0n, 'N is 0 below −10');
  });

  test(
    'e^x within 2 wei (relative 1e-18 for large results); 0 below −42.14; RangeError above 135.306',
    T,
    () => {
      const cases: [string, string][] = [
        ['-41', '0.000000000000000001562882189334988768'],
        ['-5.5', '0.004086771438464066993464702684720768'],
        ['-0.001', '0.999000499833374991668055357167656'],
        ['0.05', '1.051271096376024039697517636335645'],
        ['1', '2.718281828459045235360287471352662'],
        ['3.7', '40.44730436006739052889418923903913'],
        ['40', '235385266837019985.4078999107490348'],
      ];
      for (const [x, e] of cases) near(expWad(w(x)), w(e), 2n + w(e) / 10n ** 18n, `exp(${x})`);
      const e135 = expWad(w('135'));
      nearF(Number(e135) / 1e18 / 4.263389948314721e58, 1, 1e-15, 'exp(135)');
      assert.equal(expWad(w('-42.2')), 0n);
      assert.throws(() => expWad(w('135.31')), RangeError);
    },
  );

  test('ln x within 2 wei down to 1 wei and up to 1e30; √ is floor(√x) exactly; bad inputs throw', T, () => {
    const cases: [bigint, string][] = [
      [1n, '-41.44653167389282231232384618431856'],
      [w('0.2'), '-1.609437912434100374600759333226188'],
      [WAD, '0'],
      [2n * WAD, '0.6931471805599453094172321214581766'],
      [w('1234.5678'), '7.118476228297786292508792536387082'],
      [10n ** 48n, '69.07755278982137052053974364053093'],
    ];
    for (const [x, l] of cases) near(lnWad(x), w(l), 2n, `ln(${x} wei)`);
    assert.equal(sqrtWad(2n * WAD), 1_414213562373095048n);
    assert.equal(sqrtWad(w('0.25')), w('0.5'));
    assert.equal(sqrtWad(0n), 0n);
    assert.throws(() => lnWad(0n), RangeError);
    assert.throws(() => sqrtWad(-1n), RangeError);
    assert.throws(() => lnWad(1n << 256n), RangeError);
  });
});

describe('golden: Black-76 prices (lyra-utils Black76.t.sol benchmarks, OPT-B76-LYRA-*)', () => {
  // [id, seconds, vol, F, K, D, call, put, callDelta/D]; tolerance 1e-9 on prices, 1e-12 on delta (the reference's).
  const cases: [string, number, string, string, string, string, string, string, string][] = [
    [
      'OPT-B76-LYRA-0',
      7 * DAY,
      '1',
      '1500',
      '1500',
      '1',
      '82.805080668634559515',
      '82.805080668634559515',
      '0.5276016935562116',
    ],
    [
      'OPT-B76-LYRA-1',
      30 * DAY,
      '0.25',
      '1000',
      '1200',
      '0.9991784198737006',
      '0.137082128426579297',
      '199.972766103166719631',
      '0.006071372605597036',
    ],
    [
      'OPT-B76-LYRA-2',
      2 * DAY,
      '0.75',
      '1000',
      '700',
      '0.9998904169635637',
      '299.967125089526177817',
      '0.00000000045708468',
      '0.999999999944921',
    ],
    [
      'OPT-B76-LYRA-3',
      365 * DAY,
      '25',
      '1000',
      '700',
      '0.9801986733067553',
      '980.198673306755267731',
      '686.139071314728653306',
      '1',
    ],
    [
      'OPT-B76-LYRA-4',
      365 * DAY,
      '5',
      '1000',
      '700',
      '0.9801986733067553',
      '970.034553583819047162',
      '675.974951591792546424',
      '0.9949346359666408',
    ],
    ['OPT-B76-LYRA-7', 365 * DAY, '4', '1000', '0', '0.99', '990', '0', '1'],
    ['OPT-B76-LYRA-8', 365 * DAY, '4', '0', '1000', '0.99', '0', '990', '0'],
  ];
  for (const [id, secs, vol, F, K, D, call, put, delta] of cases) {
    test(`${id}: F=${F} K=${K} σ=${vol} T=${secs / DAY}d D=${D} → call ${call}, put ${put}`, T, () => {
      const r = black76({
        forward: w(F),
        strike: w(K),
        years: yearsFromSeconds(secs),
        vol: w(vol),
        discount: w(D),
      });
      near(r.call, w(call), 10n ** 9n, `${id} call`);
      near(r.put, w(put), 10n ** 9n, `${id} put`);
      const expectedDelta = (w(delta) * w(D)) / WAD;
      near(r.callDelta, expectedDelta, 10n ** 6n, `${id} callDelta`);
      assert.equal(r.callDelta - r.putDelta, w(D), 'Δcall − Δput = D exactly');
    });
  }

  test(
    'OPT-B76-ANN-1: 1 day is 0.00273972602739726 y and 12 weeks 0.230136986301369863 y (365-day year)',
    T,
    () => {
      near(yearsFromSeconds(DAY), w('0.00273972602739726'), 1000n, '1 day');
      near(yearsFromSeconds(12 * 7 * DAY), w('0.230136986301369863'), 1000n, '12 weeks');
      assert.throws(() => yearsFromSeconds(-1), RangeError);
      assert.throws(() => yearsFromSeconds(1.5), RangeError);
    },
  );

  test('the kernel is bit-exact: LYRA-0 gives the same wei on every machine (a replay check)', T, () => {
    const r = black76({ forward: w('1500'), strike: w('1500'), years: yearsFromSeconds(7 * DAY), vol: WAD });
    assert.deepEqual(r, {
      call: 82805080668634501490n,
      put: 82805080668634501490n,
      callDelta: 527601693556211500n,
      putDelta: -472398306443788500n,
      gamma: 1915909990595746n,
      vega: 82672828361323307798n,
      theta: -2155398739420214913613n,
    });
  });
});

describe('golden: Hull Ex. 15.6 as Black-76 on the forward (OPT-BS-HULL-1, OPT-GREEKS-HULL-1)', () => {
  // S=42, K=40, r=10%, σ=20%, T=0.5: F = S·e^(rT), D = e^(−rT).
  const D = discountFactor(w('0.1'), w('0.5'));
  const F = (42n * WAD * WAD) / D;
  const r = black76({ forward: F, strike: w('40'), years: w('0.5'), vol: w('0.2'), discount: D });

  test(
    'call 4.7594223929, put 0.8085993729 within 1e-9 (Black-Scholes = Black-76 on F = S·e^(rT))',
    T,
    () => {
      near(r.call, w('4.759422392871535'), 10n ** 9n, 'call');
      near(r.put, w('0.8085993729000958'), 10n ** 9n, 'put');
    },
  );

  test(
    'spot Greeks from forward Greeks: Δ 0.779131, Γ 0.049963, vega 0.088134/pt, Θ −0.012491/day (±6e-6)',
    T,
    () => {
      const spotDelta = f(r.callDelta) / f(D); // ∂C/∂S = ∂C/∂F · e^(rT)
      const spotGamma = f(r.gamma) / f(D) ** 2;
      // Black-Scholes Θ holds S fixed: Θ_BS = Θ_F − r·F·∂C/∂F.
      const thetaBs = f(r.theta) - 0.1 * f(F) * f(r.callDelta);
      nearF(spotDelta, 0.779131, 6e-6, 'delta');
      nearF(spotGamma, 0.049963, 6e-6, 'gamma');
      nearF(f(r.vega) / 100, 0.088134, 6e-6, 'vega per vol point');
      nearF(thetaBs / 365, -0.012491, 6e-6, 'theta per day');
    },
  );
});

describe('golden: Greeks (OPT-GREEKS-B76-1, OPT-GREEKS-INV-1)', () => {
  test(
    'OPT-GREEKS-B76-1: F=K=1500, 7d, σ=1 → Δ 0.5276016935562116, Γ 0.0019159, vega 82.6728, Θ −5.9052/day',
    T,
    () => {
      const r = black76({
        forward: w('1500'),
        strike: w('1500'),
        years: yearsFromSeconds(7 * DAY),
        vol: WAD,
      });
      near(r.callDelta, w('0.5276016935562116'), 10n ** 6n, 'call delta');
      assert.equal(r.putDelta, r.callDelta - WAD);
      near(r.gamma, w('0.0019159'), 10n ** 11n, 'gamma');
      near(r.vega, w('82.6728'), 10n ** 15n, 'vega per 1.00 vol');
      near(r.theta / 365n, w('-5.9052'), 10n ** 15n, 'theta per day');
    },
  );

  test(
    'OPT-GREEKS-INV-1: inverse call S=F=60,000 K=65,000 30d σ=0.6 → BS Δ 0.35222601, mark 0.03729780 BTC, price-adjusted Δ 0.31492821',
    T,
    () => {
      const years = yearsFromSeconds(30 * DAY);
      const input = { forward: w('60000'), strike: w('65000'), years, vol: w('0.6') };
      const r = black76(input);
      const inv = inverseView(r, input.forward);
      near(r.callDelta, w('0.35222601'), 10n ** 12n, 'BS delta');
      near(inv.callCoin, w('0.03729780'), 10n ** 12n, 'mark in BTC');
      near(inv.callDeltaAdjusted, w('0.31492821'), 10n ** 12n, 'price-adjusted delta');
      // S·∂(V/S)/∂S by a central difference of h = 1 USD agrees.
      const coinAt = (s: bigint) => inverseView(black76({ ...input, forward: s }), s).callCoin;
      const fd = ((coinAt(input.forward + WAD) - coinAt(input.forward - WAD)) * 60_000n) / 2n;
      near(fd, inv.callDeltaAdjusted, 10n ** 12n, 'finite difference');
    },
  );
});

describe('golden: raw SVI vols (OPT-SVI-LYRA-1/2, OPT-SVI-DRV-CLAMP-1) within 1e-12', () => {
  const strikes = ['1500', '1800', '2100', '2400'];
  const sets: [string, [string, string, string, string, string, string], string, string[]][] = [
    [
      'OPT-SVI-LYRA-1',
      [
        '0.038356164383561646',
        '0.027616438356164386',
        '0.041424657534246574',
        '0.003452054794520548',
        '0.001726027397260274',
        '0.000345205479452055',
      ],
      '1805',
      ['0.9597244734120128', '0.8513856076969522', '0.939244986304054', '1.0133571334275668'],
    ],
    [
      'OPT-SVI-LYRA-2',
      [
        '0.2465753424657534',
        '0.17753424657534247',
        '0.17753424657534247',
        '0.05917808219178082',
        '0.02958904109589041',
        '0.0216986301369863',
      ],
      '1830',
      ['0.9356728218442784', '0.8687530747337932', '0.8966269017413266', '0.9512721744218694'],
    ],
  ];
  for (const [id, [tau, a, b, rho, m, sigma], fwd, vols] of sets) {
    test(`${id}: F=${fwd}, K=${strikes.join('/')} → ${vols.join(' ')}`, T, () => {
      const p = { a: w(a), b: w(b), rho: w(rho), m: w(m), sigma: w(sigma), forward: w(fwd), tau: w(tau) };
      strikes.forEach((k, i) => {
        near(sviVol(p, w(k)), w(vols[i] ?? ''), 10n ** 6n, `${id} K=${k}`);
      });
    });
  }

  test(
    'OPT-SVI-DRV-CLAMP-1: Derive PMRM_2 test_18, K=4000 → 0.8795543651099665; K=4200 needs the |k| clamp → 0.8833255402190362',
    T,
    () => {
      const p = {
        a: w('0.007565004123347051'),
        b: w('0.056657535290617424'),
        rho: w('-0.550126934432354304'),
        m: w('-0.063306755636129112'),
        sigma: w('0.04832319830307816'),
        forward: w('2682.9997436016715'),
        tau: w('0.02520674784373'),
      };
      near(sviVol(p, w('4000')), w('0.8795543651099665'), 10n ** 6n, 'K=4000');
      near(sviVol(p, w('4200')), w('0.8833255402190362'), 10n ** 6n, 'K=4200 (clamped)');
      assert.equal(sviVol(p, 0n), 0n, 'strike 0 has no vol');
    },
  );
});

describe('golden: settlement, linear and inverse', () => {
  test(
    'OPT-DRB-SETTLE-1: long inverse call K=100,000 bought at 0.05 BTC, delivery 125,000 → pays 0.2 BTC, profit 0.15 BTC',
    T,
    () => {
      const pay = optionPayoff('call', 'inverse', w('100000'), w('125000'));
      assert.equal(pay, w('0.2'));
      assert.equal(pay - w('0.05'), w('0.15'));
    },
  );

  test(
    'OPT-DRB-SETTLE-2: long inverse put K=10,000 bought at 0.05 BTC, delivery 5,000 → pays 1 BTC, profit 0.95 BTC',
    T,
    () => {
      const pay = optionPayoff('put', 'inverse', w('10000'), w('5000'));
      assert.equal(pay, WAD);
      assert.equal(pay - w('0.05'), w('0.95'));
    },
  );

  test(
    'OPT-SETTLE-LIN-INV-1: call K=100,000 settles at 125,000 → 25,000 USDC linear, 0.2 BTC inverse (= 25,000/125,000)',
    T,
    () => {
      const linear = optionPayoff('call', 'linear', w('100000'), w('125000'));
      const inverse = optionPayoff('call', 'inverse', w('100000'), w('125000'));
      assert.equal(linear, w('25000'));
      assert.equal(inverse, w('0.2'));
      assert.equal((inverse * w('125000')) / WAD, linear);
      assert.equal(optionPayoff('put', 'linear', w('100000'), w('125000')), 0n, 'the put expires worthless');
      assert.equal(
        optionPayoff('call', 'inverse', w('100000'), w('90000')),
        0n,
        'an OTM inverse call pays nothing',
      );
      assert.throws(() => optionPayoff('put', 'inverse', w('100000'), 0n), RangeError);
    },
  );

  test(
    'OPT-DRV-SETTLE-1: 20 min before expiry, 10-min TWAP 1950 and forward 1975 → underlying mark 1966.67',
    T,
    () => {
      const mark = settlementWindowForward({
        twapSoFar: w('1950'),
        elapsedSeconds: 600,
        forward: w('1975'),
        remainingSeconds: 1200,
      });
      near(mark, w('1966.666666666666666666'), 10n ** 9n, 'mark');
      const at = (e: number, r: number) =>
        settlementWindowForward({
          twapSoFar: w('1950'),
          elapsedSeconds: e,
          forward: w('1975'),
          remainingSeconds: r,
        });
      assert.equal(at(0, 1800), w('1975'), 'before the window: the forward');
      assert.equal(at(1800, 0), w('1950'), 'at expiry: the TWAP, i.e. the settlement price');
    },
  );
});

describe('a strike chain re-priced on a vol update', () => {
  test(
    'Black76Chain gives, wei for wei, what black76 gives strike by strike (1,000 strikes, 30 days)',
    T,
    () => {
      const F = w('60000');
      const years = yearsFromSeconds(30 * DAY);
      const strikes = Array.from({ length: 1000 }, (_, i) => BigInt(20_000 + i * 100) * WAD);
      const vols = strikes.map((_, i) => w('0.45') + BigInt(i) * 10n ** 15n);
      const chain = new Black76Chain(F, years, strikes).price(vols);
      strikes.forEach((k, i) => {
        assert.deepEqual(chain[i], black76({ forward: F, strike: k, years, vol: vols[i] ?? 0n }), `K=${k}`);
      });
      const discounted = new Black76Chain(F, years, strikes.slice(0, 50), w('0.99')).price(vols.slice(0, 50));
      discounted.forEach((r, i) => {
        assert.deepEqual(
          r,
          black76({ forward: F, strike: strikes[i] ?? 0n, years, vol: vols[i] ?? 0n, discount: w('0.99') }),
        );
      });
    },
  );
});

describe('black76 edge rules (as lyra-utils): no time, no vol, zero strike or forward, huge total vol', () => {
  test('at expiry the price is intrinsic and the Greeks are 0; at the money the delta is ½', T, () => {
    const itm = black76({ forward: w('110'), strike: w('100'), years: 0n, vol: w('0.5') });
    assert.deepEqual(itm, {
      call: w('10'),
      put: 0n,
      callDelta: WAD,
      putDelta: 0n,
      gamma: 0n,
      vega: 0n,
      theta: 0n,
    });
    const otm = black76({ forward: w('90'), strike: w('100'), years: w('1'), vol: 0n });
    assert.equal(otm.call, 0n);
    assert.equal(otm.put, w('10'));
    assert.equal(otm.callDelta, 0n);
    const atm = black76({ forward: w('100'), strike: w('100'), years: 0n, vol: w('0.5') });
    assert.equal(atm.callDelta, WAD / 2n);
  });

  test('bounds are enforced with RangeError: negative inputs, vol above 100, zero discount', T, () => {
    const ok = { forward: w('100'), strike: w('100'), years: w('1'), vol: w('0.5') };
    assert.throws(() => black76({ ...ok, vol: -1n }), RangeError);
    assert.throws(() => black76({ ...ok, forward: -1n }), RangeError);
    assert.throws(() => black76({ ...ok, vol: w('101') }), RangeError);
    assert.throws(() => black76({ ...ok, discount: 0n }), RangeError);
    assert.throws(() => black76({ ...ok, years: w('101') }), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Fixed point vs the float reference over the grid.

const GRID_VOLS = [0.05, 0.1, 0.2, 0.35, 0.55, 0.8, 1.2, 2, 3];
const GRID_MONEYNESS = [0.2, 0.3, 0.5, 0.7, 0.85, 0.95, 1, 1.05, 1.2, 1.5, 2, 3, 5];
const GRID_SECONDS = [3600, 6 * 3600, DAY, 7 * DAY, 30 * DAY, 91 * DAY, 365 * DAY, 730 * DAY];
const FORWARD = 60_000;
/** Prices below this fraction of F are "negligible": the float reference itself loses digits there. */
const PRICE_FLOOR = 1e-7;

describe('fixed point vs float Black-76 over IV 5–300%, K/F 0.2–5, 1 hour–2 years', () => {
  test(
    `price relative error ≤ 1e-9 where price ≥ ${PRICE_FLOOR}·F, else absolute ≤ 1e-13·F; Greeks likewise`,
    T,
    () => {
      let worstPrice = 0;
      let checked = 0;
      for (const vol of GRID_VOLS) {
        for (const mny of GRID_MONEYNESS) {
          for (const secs of GRID_SECONDS) {
            const years = yearsFromSeconds(secs);
            const K = FORWARD * mny;
            const r = black76({
              forward: w(String(FORWARD)),
              strike: w(String(K)),
              years,
              vol: w(String(vol)),
            });
            const ref = black76Float(FORWARD, K, f(years), vol);
            const label = `σ=${vol} K/F=${mny} T=${secs}s`;
            for (const [name, got, exp] of [
              ['call', f(r.call), ref.call],
              ['put', f(r.put), ref.put],
            ] as const) {
              if (exp >= PRICE_FLOOR * FORWARD) {
                const rel = Math.abs(got - exp) / exp;
                worstPrice = Math.max(worstPrice, rel);
                assert.ok(rel <= 1e-9, `${label} ${name}: ${got} vs float ${exp} (rel ${rel})`);
                checked++;
              } else {
                nearF(got, exp, 1e-13 * FORWARD, `${label} ${name} (negligible)`);
              }
            }
            nearF(f(r.callDelta), ref.callDelta, 1e-12, `${label} delta`);
            // Gamma, vega, theta: relative 1e-9 where the Greek is above 1e-12 of its ATM scale, else absolute.
            const sqrtT = Math.sqrt(f(years));
            const scales = {
              gamma: 1 / (FORWARD * vol * sqrtT),
              vega: FORWARD * sqrtT,
              theta: (FORWARD * vol) / sqrtT,
            };
            for (const name of ['gamma', 'vega', 'theta'] as const) {
              const got = f(r[name]);
              const exp = ref[name];
              const tol = Math.max(1e-9 * Math.abs(exp), 1e-12 * scales[name] + 2e-18);
              nearF(got, exp, tol, `${label} ${name}`);
            }
          }
        }
      }
      assert.ok(checked > 1000, `grid covered ${checked} non-negligible prices`);
      assert.ok(worstPrice < 1e-9);
      console.log(`grid: ${checked} prices, worst relative error ${worstPrice}`);
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Properties.

/** A market: F in [1, 1e6], K/F in [0.2, 5], 1 hour to 2 years, vol 5%–300%. */
const market = fc.record({
  forward: fc.bigInt({ min: WAD, max: 1_000_000n * WAD }),
  moneynessBp: fc.integer({ min: 2_000, max: 50_000 }),
  seconds: fc.integer({ min: 3600, max: 730 * DAY }),
  volBp: fc.integer({ min: 500, max: 30_000 }),
});
const strikeOf = (m: { forward: bigint; moneynessBp: number }) =>
  (m.forward * BigInt(m.moneynessBp)) / 10_000n;
const volOf = (bp: number) => (BigInt(bp) * WAD) / 10_000n;
/** Approximation error bound of a price: ~1e-20 of (F + K) plus the final rounding. */
const priceTol = (F: bigint, K: bigint) => (F + K) / 10n ** 20n + 2n;

describe('properties', () => {
  test('put-call parity: C − P = D·(F − K) to 2 wei, with and without discounting', T, () => {
    fc.assert(
      fc.property(market, fc.integer({ min: 9_000, max: 10_000 }), (m, dBp) => {
        const D = (BigInt(dBp) * WAD) / 10_000n;
        const K = strikeOf(m);
        const r = black76({
          forward: m.forward,
          strike: K,
          years: yearsFromSeconds(m.seconds),
          vol: volOf(m.volBp),
          discount: D,
        });
        const parity = (D * (m.forward - K)) / WAD;
        near(r.call - r.put, parity, 2n, 'parity');
      }),
      { numRuns: 300 },
    );
  });

  test('the call is non-increasing in strike (and the put non-decreasing)', T, () => {
    fc.assert(
      fc.property(market, fc.integer({ min: 1, max: 5_000 }), (m, stepBp) => {
        const base = { forward: m.forward, years: yearsFromSeconds(m.seconds), vol: volOf(m.volBp) };
        const k1 = strikeOf(m);
        const k2 = k1 + (k1 * BigInt(stepBp)) / 100_000n + 1n;
        const a = black76({ ...base, strike: k1 });
        const b = black76({ ...base, strike: k2 });
        const tol = priceTol(m.forward, k2);
        assert.ok(b.call <= a.call + tol, `C(${k2}) = ${b.call} > C(${k1}) = ${a.call}`);
        assert.ok(b.put + tol >= a.put, `P(${k2}) = ${b.put} < P(${k1}) = ${a.put}`);
      }),
      { numRuns: 300 },
    );
  });

  test('call and put are non-decreasing in vol', T, () => {
    fc.assert(
      fc.property(market, fc.integer({ min: 1, max: 10_000 }), (m, extraBp) => {
        const base = { forward: m.forward, strike: strikeOf(m), years: yearsFromSeconds(m.seconds) };
        const a = black76({ ...base, vol: volOf(m.volBp) });
        const b = black76({ ...base, vol: volOf(m.volBp + extraBp) });
        const tol = priceTol(m.forward, base.strike);
        assert.ok(b.call + tol >= a.call, `call fell with vol: ${a.call} → ${b.call}`);
        assert.ok(b.put + tol >= a.put, `put fell with vol: ${a.put} → ${b.put}`);
      }),
      { numRuns: 300 },
    );
  });

  test(
    'impliedVol(black76(σ)) = σ within 1e-9 where vega ≥ 1e-6, and always re-prices to the premium',
    T,
    () => {
      fc.assert(
        fc.property(market, fc.boolean(), (m, isCall) => {
          const K = strikeOf(m);
          const years = yearsFromSeconds(m.seconds);
          const vol = volOf(m.volBp);
          const r = black76({ forward: m.forward, strike: K, years, vol });
          const premium = isCall ? r.call : r.put;
          const iv = impliedVol(isCall ? 'call' : 'put', premium, m.forward, K, years);
          if (iv === null) {
            // Only a premium that rounds to intrinsic or the upper bound has no vol; then vega is negligible.
            assert.ok(r.vega < 10n ** 12n, `no IV for a premium with vega ${r.vega}`);
            return;
          }
          if (r.vega >= 10n ** 12n) near(iv, vol, 10n ** 9n, 'implied vol');
          const again = black76({ forward: m.forward, strike: K, years, vol: iv });
          near(isCall ? again.call : again.put, premium, priceTol(m.forward, K) + 2n, 're-priced premium');
        }),
        { numRuns: 200 },
      );
    },
  );

  test('impliedVol refuses impossible premiums: below intrinsic, at the forward, or at expiry', T, () => {
    const F = w('100');
    const K = w('90');
    assert.equal(impliedVol('call', w('9'), F, K, w('0.5')), null, 'below intrinsic 10');
    assert.equal(impliedVol('call', F, F, K, w('0.5')), null, 'a call worth the forward');
    assert.equal(impliedVol('call', w('12'), F, K, 0n), null, 'no time left');
    assert.equal(impliedVol('call', w('10'), F, K, w('0.5')), 0n, 'exactly intrinsic: zero vol');
  });
});
