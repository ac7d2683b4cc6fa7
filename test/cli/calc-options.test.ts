/** `ringfence calc` with options (issue 17's fixed contract): pricing, Greeks and per-leg margin per venue. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from './run.ts';

const T = { timeout: 20_000 };
const calc = (input: unknown, args: string[] = ['--json']) =>
  runCli(['calc', ...args], JSON.stringify(input));
const calcJson = async (input: unknown) => {
  const r = await calc(input);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
};
const refused = async (input: unknown, field: RegExp) => {
  const r = await calc(input);
  assert.equal(r.code, 2, r.out);
  assert.match(r.err, field);
  return r.err;
};

const VALUATION = '2026-12-01T08:00:00Z';
/** Short 1 BTC 100,000 call, 24 days out, BTC forward 95,000, 55% vol; sold at 2,000. */
const shortCall = (extra: Record<string, unknown> = {}) => ({
  kind: 'option',
  underlying: 'BTC',
  settle: 'linear',
  type: 'call',
  strike: '100000',
  expiry: '2026-12-25T08:00:00Z',
  side: 'short',
  size: '1',
  entryPrice: '2000',
  underlyingPrice: '95000',
  iv: '0.55',
  ...extra,
});
const scenario = (positions: unknown[], extra: Record<string, unknown> = {}) => ({
  valuationTime: VALUATION,
  positions,
  ...extra,
});

/** Black-76 of the short call in floats (../shared/reference/verify_options_golden.py `b76`, T = 24/365). */
const REF_MARK = 3339.0917795716086;
const REF_DELTA = 0.38469248572662684;

const OPTION_FIELDS = [
  'markPrice',
  'iv',
  'delta',
  'gamma',
  'vega',
  'theta',
  'initialMargin',
  'maintenanceMargin',
] as const;

describe('calc options: the contract', () => {
  test(
    'a short call: every contract field is a decimal string, Greeks signed × size, existing fields kept',
    T,
    async () => {
      const r = await calcJson(scenario([shortCall()]));
      const p = r.positions[0];
      for (const k of OPTION_FIELDS) {
        assert.equal(typeof p[k], 'string', k);
        assert.match(p[k], /^-?\d+(\.\d+)?$/, `${k} = ${p[k]}`);
      }
      assert.equal(p.symbol, 'BTC_USDT-25DEC26-100000-C');
      assert.equal(p.kind, 'option');
      assert.equal(p.settleAsset, 'USDT');
      assert.equal(p.iv, '0.55');
      // A short call: delta and gamma and vega negative, theta positive (time works for the seller).
      assert.ok(Number(p.delta) < 0 && Number(p.gamma) < 0 && Number(p.vega) < 0 && Number(p.theta) > 0);
      // The fields an option has no use for are null, not made up.
      for (const k of ['leverage', 'maintenanceRate', 'tier', 'liquidationPrice', 'bankruptcyPrice'])
        assert.equal(p[k], null, k);
      assert.ok(Math.abs(Number(p.markPrice) - REF_MARK) < 1e-9, `mark ${p.markPrice} vs ${REF_MARK}`);
      assert.ok(Math.abs(Number(p.delta) + REF_DELTA) < 1e-12, `delta ${p.delta}`);
      assert.deepEqual(Object.keys(r.greeks), ['BTC']);
      for (const k of ['delta', 'gamma', 'vega', 'theta']) assert.equal(r.greeks.BTC[k], p[k]);
    },
  );

  test(
    'a long and a short of the same option: Greeks cancel in the scenario, the long needs no margin',
    T,
    async () => {
      const r = await calcJson(scenario([shortCall(), shortCall({ side: 'long' })]));
      const [short, long] = r.positions;
      assert.equal(long.delta, short.delta.replace(/^-/, ''));
      assert.deepEqual([long.initialMargin, long.maintenanceMargin], ['0', '0']);
      for (const k of ['delta', 'gamma', 'vega', 'theta']) assert.equal(r.greeks.BTC[k], '0', k);
    },
  );

  test('the short call at 100,000 under each venue: the venue’s own per-leg rule', T, async () => {
    // Mark 3,339.0917795716… (rounded up to the settle asset's decimals); OTM 5,000 of 95,000 = 5.26%.
    const expected: Record<string, [string, string, string]> = {
      // Deribit (bit.com USD form): max(0.15·95,000 − 5,000, 0.10·95,000) + mark; MM 0.075·95,000 + mark.
      'deribit-linear': ['USDC', '12839.09178', '10464.09178'],
      // OKX: max(0.1, 0.15 − 5.26%)·95,000 + mark; MM 0.03·95,000 + mark.
      okx: ['USDT', '12839.09177958', '6189.09177958'],
      // Derive mainnet: max(0.15 − 5.26%, 0.13)·95,000 + mark; MM 0.09·95,000 + mark.
      derive: ['USDC', '15689.09178', '11889.09178'],
      // ringfence: the largest of the three, IM and MM each.
      ringfence: ['USDT', '15689.09177958', '11889.09177958'],
    };
    for (const [venue, [asset, im, mm]] of Object.entries(expected)) {
      const p = (await calcJson(scenario([shortCall()], { venue }))).positions[0];
      assert.deepEqual([p.settleAsset, p.initialMargin, p.maintenanceMargin], [asset, im, mm], venue);
    }
    const dflt = (await calcJson(scenario([shortCall()]))).positions[0];
    assert.equal(dflt.initialMargin, '15689.09177958', 'ringfence is the default');
  });

  test('markPrice in → IV out: the IV comes back, and so do the Greeks', T, async () => {
    const byIv = (await calcJson(scenario([shortCall()]))).positions[0];
    const { iv: _iv, ...withoutIv } = shortCall();
    const byMark = (await calcJson(scenario([{ ...withoutIv, markPrice: byIv.markPrice }]))).positions[0];
    assert.equal(byMark.markPrice, byIv.markPrice);
    assert.ok(Math.abs(Number(byMark.iv) - 0.55) < 1e-12, `iv ${byMark.iv}`);
    assert.ok(Math.abs(Number(byMark.delta) - Number(byIv.delta)) < 1e-12);
    assert.equal(byMark.initialMargin, byIv.initialMargin);
  });

  test('inverse vs linear: the same option in coin is the USD figures ÷ the forward', T, async () => {
    const venue = 'deribit-linear';
    const linear = (await calcJson(scenario([shortCall()], { venue }))).positions[0];
    const inverse = (
      await calcJson(scenario([shortCall({ settle: 'inverse', entryPrice: '0.02' })], { venue }))
    ).positions[0];
    assert.equal(inverse.symbol, 'BTC-25DEC26-100000-C');
    assert.equal(inverse.settleAsset, 'BTC');
    const F = 95_000;
    assert.ok(Math.abs(Number(inverse.markPrice) * F - Number(linear.markPrice)) < 1e-9);
    // Deribit's coin formula: max(0.15 − 5,000/95,000, 0.10) + mark = 0.1 + mark; MM 0.075 + mark (BTC).
    assert.ok(Math.abs(Number(inverse.initialMargin) - (0.1 + Number(inverse.markPrice))) <= 1e-8);
    assert.ok(Math.abs(Number(inverse.maintenanceMargin) - (0.075 + Number(inverse.markPrice))) <= 1e-8);
    assert.ok(Math.abs(Number(inverse.initialMargin) * F - Number(linear.initialMargin)) < 0.001);
    // Greeks are Black-76's on the forward for both (delta in BTC, vega and theta in USD).
    assert.equal(inverse.delta, linear.delta);
    assert.equal(inverse.notional, '1');
    assert.equal(linear.notional, '95000');
  });
});

describe('calc options: inputs refused, naming the field', () => {
  test('valuationTime missing → an error naming it (never the wall clock)', T, async () => {
    const { valuationTime: _v, ...noTime } = scenario([shortCall()]);
    await refused(noTime, /valuationTime: is required when a position or leg is an option/);
  });
  test('valuationTime without any option, or not ISO-8601 → refused', T, async () => {
    await refused(
      {
        valuationTime: VALUATION,
        positions: [{ symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '20000' }],
      },
      /valuationTime: applies to options only/,
    );
    await refused(
      scenario([shortCall()], { valuationTime: '2026-12-01 08:00' }),
      /valuationTime: must be an ISO-8601/,
    );
    await refused(
      scenario([shortCall()], { valuationTime: '2026-02-30T08:00:00Z' }),
      /valuationTime: .*calendar/,
    );
  });
  test('an option under a perpetual-only venue → an error naming the venue', T, async () => {
    await refused(
      scenario([shortCall()], { venue: 'binance-usdm' }),
      /venue: binance-usdm has no option margin rules/,
    );
  });
  test('a perpetual under derive (options only) → an error naming the position’s symbol', T, async () => {
    await refused(
      scenario([shortCall(), { symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '95000' }], {
        venue: 'derive',
      }),
      /positions\[1\]\.symbol: venue derive has option rules only/,
    );
  });
  test(
    'iv and markPrice together: the mark and the IV as given, neither derived from the other',
    T,
    async () => {
      const out = await calcJson(scenario([shortCall({ markPrice: '3000' })]));
      assert.equal(out.positions[0].markPrice, '3000');
      assert.equal(out.positions[0].iv, '0.55');
    },
  );
  test('neither iv nor markPrice, or a price no vol can give → refused', T, async () => {
    const { iv: _iv, ...noIv } = shortCall();
    await refused(scenario([noIv]), /positions\[0\]\.iv: is required/);
    await refused(
      scenario([{ ...noIv, markPrice: '96000' }]),
      /positions\[0\]\.markPrice: no volatility gives this price/,
    );
  });
  test('an expiry before valuationTime, a bad type, an unknown field → refused', T, async () => {
    await refused(
      scenario([shortCall({ expiry: '2026-11-27T08:00:00Z' })]),
      /positions\[0\]\.expiry: is before/,
    );
    await refused(
      scenario([shortCall({ type: 'straddle' })]),
      /positions\[0\]\.type: must be "call" or "put"/,
    );
    await refused(scenario([shortCall({ leverage: '10' })]), /positions\[0\]\.leverage: unknown field/);
    await refused(
      scenario([shortCall()], { mode: 'cross', walletBalance: '1000' }),
      /mode: positions\[0\] is an option/,
    );
  });
});

describe('calc options: in silos and boxes', () => {
  test(
    'an isolated short: its box holds the premium plus the deposit, and a small deposit is liquidatable',
    T,
    async () => {
      const dflt = (await calcJson(scenario([shortCall()]))).positions[0];
      // Default deposit: initial margin less the 2,000 premium received.
      assert.equal(dflt.collateral, '13689.09177958');
      assert.equal(dflt.marginBalance, dflt.initialMargin);
      assert.equal(dflt.liquidatable, false);
      const thin = (await calcJson(scenario([shortCall({ margin: '5000' })]))).positions[0];
      assert.equal(thin.marginBalance, '7000');
      assert.equal(thin.liquidatable, true, '7,000 of cash < 11,889 maintenance');
    },
  );
  test(
    'a silo with a short call and a BTC perpetual: option legs are standalone, even netted',
    T,
    async () => {
      const perp = { symbol: 'BTCUSDT', side: 'long', size: '0.4', entryPrice: '95000' };
      const silo = (riskModel: string) => ({
        valuationTime: VALUATION,
        silos: [{ id: 'covered', riskModel, collateral: '20000', legs: [shortCall(), perp] }],
      });
      const standalone = (await calcJson(silo('standalone'))).silos[0];
      const netted = (await calcJson(silo('netted'))).silos[0];
      const option = standalone.legs[0];
      // 15,689.09… (the option's ringfence IM) + 1,900 (0.4 BTC at 20x).
      assert.deepEqual([option.initialMargin, standalone.legs[1].initialMargin], ['15689.09177958', '1900']);
      assert.equal(standalone.initialMargin, '17589.09177958');
      // The perpetual alone in its netted part nets to its own requirement; the option adds on top, un-netted.
      assert.equal(netted.initialMargin, standalone.initialMargin);
      // Equity counts the premium received (the requirement already charges the option's mark).
      assert.equal(standalone.equity, '22000');
      assert.deepEqual(Object.keys(standalone.liquidationPrices), ['BTCUSDT']);
      assert.equal(option.collateral, null);
    },
  );
  test('the text table shows the options with their Greeks and the scenario Greeks', T, async () => {
    const r = await calc(scenario([shortCall()]), []);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /BTC_USDT-25DEC26-100000-C\s+short/);
    assert.match(r.out, /greeks BTC \(options\): delta -0\.38/);
  });
});
