/** Funding golden cases (HL-30, DYD-3, DYD-4, BIN-8) and the index/mark guards. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDecimal } from '../../src/core/fixed.ts';
import {
  capFor,
  EIGHT_HOURS_MS,
  fundingIndexDelta,
  fundingOwed,
  fundingRate8h,
  impactNotional,
  intervalRate,
  premiumIndex,
  weightedAveragePremium,
} from '../../src/core/funding.ts';
import { computeIndex, weightedMedian } from '../../src/core/index-price.ts';
import {
  binanceMark,
  clampIntoBook,
  emaValue,
  emptyEma,
  hyperliquidMark,
  median,
  updateEma,
} from '../../src/core/mark-price.ts';
import { buildInstrument } from '../../src/core/presets.ts';
import { RATE_DP } from '../../src/core/rates.ts';

const rate = (s: string) => parseDecimal(s, 'rate', { dp: RATE_DP, signed: true });
const px = (s: string) => parseDecimal(s, 'price', { dp: 8 });
const USDT = (s: string) => parseDecimal(s, 'usdt', { dp: 8, signed: true });

test('HL-30 impact bid 10,100 over oracle 10,000: premium 1%, clamp −0.05%, funding rate 0.95% (8h formula)', () => {
  const p = premiumIndex(px('10100'), null, px('10000'));
  assert.equal(p, rate('0.01'));
  assert.equal(fundingRate8h(p, rate('0.0001')), rate('0.0095'));
  // Hyperliquid pays an eighth of it every hour, far under its 4%/h cap.
  const hourly = intervalRate(p, {
    interestRate: rate('0.0001'),
    clamp: rate('0.0005'),
    cap: { kind: 'perHour', cap: rate('0.04') },
    intervalMs: 3_600_000,
  });
  assert.equal(hourly, rate('0.0011875'));
});

test('HL cap: a 50% premium pays at most 4% in an hour', () => {
  const r = intervalRate(rate('0.5'), {
    interestRate: 0n,
    clamp: rate('0.0005'),
    cap: { kind: 'perHour', cap: rate('0.04') },
    intervalMs: 3_600_000,
  });
  assert.equal(r, rate('0.04'));
});

test('DYD-3 BTC-USD large-cap IMF 5%, MMF 3%: 8-hour cap 600% × (5% − 3%) = 12%', () => {
  const cap = capFor({
    interestRate: 0n,
    clamp: 0n,
    cap: { kind: 'marginSpread', multiple: rate('6'), imf: rate('0.05'), mmf: rate('0.03') },
    intervalMs: EIGHT_HOURS_MS,
  });
  assert.equal(cap, rate('0.12'));
});

test('DYD-4 impact notional at 10% IMF is 5,000 USDC; BIN-8 at 5% IMR it is 4,000 USDT', () => {
  assert.equal(impactNotional(USDT('500'), rate('0.1')), USDT('5000'));
  assert.equal(impactNotional(USDT('200'), rate('0.05')), USDT('4000'));
});

test('Binance cap ±0.75 × MMR 0.4% = ±0.3% per interval', () => {
  const p = {
    interestRate: rate('0.0001'),
    clamp: rate('0.0005'),
    cap: { kind: 'mmrMultiple' as const, k: rate('0.75'), mmr: rate('0.004') },
    intervalMs: EIGHT_HOURS_MS,
  };
  assert.equal(intervalRate(rate('-0.02'), p), rate('-0.003'));
  assert.equal(intervalRate(rate('0.00002'), p), rate('0.0001'));
});

test('time-weighted premium: later samples weigh more (1..n)', () => {
  assert.equal(weightedAveragePremium([rate('0.001'), rate('0.004')]), rate('0.003'));
});

test('funding on a 10 BTC long at 10,000 with 0.01%: longs pay 10 USDT, the short receives 10', () => {
  const inst = buildInstrument({
    symbol: 'BTCUSDT',
    kind: 'linear',
    base: 'BTC',
    quote: 'USDT',
    tickSize: '0.1',
    lotSize: '0.001',
    multiplier: '1',
    settleDp: 8,
    maxLeverage: '100',
    risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.005', maxLeverage: '100' }] },
  });
  const d = fundingIndexDelta(inst, px('10000'), rate('0.0001'));
  assert.equal(fundingOwed(inst, 1, 10_000n, 0n, d), USDT('10'));
  assert.equal(fundingOwed(inst, -1, 10_000n, 0n, d), -USDT('10'));
});

test('index: weighted median; a stale source is dropped; a lone outlier beyond 5% gets weight zero', () => {
  assert.equal(
    weightedMedian([
      { price: 1n, weight: 3 },
      { price: 2n, weight: 1 },
      { price: 3n, weight: 1 },
    ]),
    1n,
  );
  const cfg = { stalenessMs: 10_000, maxDeviation: rate('0.05'), minSources: 2 };
  const q = (source: string, p: string, time: number, weight = 1) => ({ source, price: px(p), time, weight });
  const r = computeIndex(
    [q('a', '100', 1000), q('b', '101', 1000), q('c', '130', 1000), q('d', '99', 0 - 20_000)],
    1000,
    cfg,
  );
  assert.equal(r.validity, 'valid');
  assert.deepEqual(r.stale, ['d']);
  assert.deepEqual(r.outliers, ['c']);
  assert.equal(r.price, px('100.5'));
});

test('index: several sources deviating means the market moved — plain median of all; too few fresh sources is invalid', () => {
  const cfg = { stalenessMs: 10_000, maxDeviation: rate('0.01'), minSources: 2 };
  const q = (source: string, p: string) => ({
    source,
    price: px(p),
    time: 0,
    weight: source === 'a' ? 5 : 1,
  });
  const moved = computeIndex([q('a', '100'), q('b', '110'), q('c', '111')], 0, cfg);
  assert.equal(moved.price, px('110'));
  const thin = computeIndex([q('a', '100')], 0, cfg);
  assert.equal(thin.validity, 'insufficientSources');
  assert.equal(thin.price, null);
});

test('mark: Binance median of funding-basis, MA-basis and last; the last trade is clamped into the book', () => {
  assert.equal(clampIntoBook(px('120'), px('99'), px('101')), px('101'));
  const m = binanceMark({
    index: px('100'),
    lastFundingRate: rate('0.001'),
    msUntilFunding: 4 * 3_600_000,
    intervalMs: EIGHT_HOURS_MS,
    basisAverage: px('0.2'),
    last: px('101'),
  });
  assert.equal(m, px('100.2'));
  assert.equal(median([3n, 1n, 2n]), 2n);
});

test('mark: Hyperliquid median of oracle+EMA basis, book median and external; EMA is exact and bounded by its samples', () => {
  let e = emptyEma();
  e = updateEma(e, px('1'), 1000, 150_000);
  e = updateEma(e, px('3'), 1000, 150_000);
  const v = emaValue(e)!;
  assert.ok(v > px('1') && v < px('3'));
  assert.equal(
    hyperliquidMark({
      index: px('100'),
      emaBasis: px('1'),
      bookMedian: px('102'),
      external: px('100.5'),
      bookMedianEma: null,
    }),
    px('101'),
  );
});
