/**
 * Golden cases: the venues' own worked examples (reference §9), reproduced by the core formulas to the venue's
 * rounding. Each test is named after the case it pins; expected figures are the published ones unless marked
 * [derived], in which case the comment says how they follow from published inputs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { div, formatDecimal, InputError, parseDecimal } from '../../src/core/fixed.ts';
import type { Instrument } from '../../src/core/instrument.ts';
import {
  type BucketPosition,
  bankruptcyPrice,
  bankruptcyPriceExact,
  crossBankruptcyPrice,
  crossLiquidationPrice,
  initialMarginAtLeverage,
  initialMarginAtRate,
  liquidationPrice,
  type MarginConventions,
  maintenanceMargin,
  notional,
  type PositionInput,
  positionRisk,
  ratesAt,
  solvePrice,
  unrealizedPnl,
} from '../../src/core/margin.ts';
import {
  buildConventions,
  buildInstrument,
  type MarketSpec,
  PRESETS,
  venue,
} from '../../src/core/presets.ts';
import { LEVERAGE_ONE, parseLeverage, parseRate, RATE_DP, RATE_ONE } from '../../src/core/rates.ts';
import { calc, type PositionResult } from '../../src/core/scenario.ts';
import { bracketTiers, hyperliquidTiers, ratesFor, stepTiers, type Tier } from '../../src/core/tiers.ts';

// ---------------------------------------------------------------------------------------------------------
// Helpers: read decimals at each field's own scale, print them back the same way.

const market = (venueId: string, symbol: string): Instrument => {
  const inst = venue(venueId).markets.get(symbol);
  assert.ok(inst, `${venueId} has ${symbol}`);
  return inst;
};
const px = (inst: Instrument, s: string) => parseDecimal(s, 'price', { dp: inst.priceDp });
const qty = (inst: Instrument, s: string) => parseDecimal(s, 'size', { dp: inst.sizeDp });
const money = (inst: Instrument, s: string) =>
  parseDecimal(s, 'money', { dp: inst.settleDp, signed: true, maxAbs: 10n ** 40n });
const rate = (s: string) => parseRate(s, 'rate');
const lev = (s: string) => parseLeverage(s, 'leverage');
const showPx = (inst: Instrument, v: bigint | null) => (v === null ? null : formatDecimal(v, inst.priceDp));
const showMoney = (inst: Instrument, v: bigint) => formatDecimal(v, inst.settleDp);
/** A price as the venue prints it, at exactly `dp` decimals (the tick's), e.g. "3174.60". */
const showAt = (inst: Instrument, v: bigint | null, dp: number) =>
  v === null ? null : formatDecimal(div(v, 10n ** BigInt(inst.priceDp - dp), 'trunc'), dp, true);
/** A tier's deduction in settle units (it is stored at settleDp + RATE_DP). */
const showDeduction = (inst: Instrument, t: Tier) => formatDecimal(t.deductionRaw, inst.settleDp + RATE_DP);
const tiersOf = (inst: Instrument): Tier[] => {
  assert.equal(inst.risk.kind, 'tiers');
  return inst.risk.kind === 'tiers' ? inst.risk.tiers : [];
};
const long = (size: bigint, entryPrice: bigint): PositionInput => ({ side: 'long', size, entryPrice });
const short = (size: bigint, entryPrice: bigint): PositionInput => ({ side: 'short', size, entryPrice });

/** Maintenance at the mark, nothing else: dYdX-style conventions with the given price rounding. */
const markBasis = (priceRounding: MarginConventions['priceRounding']): MarginConventions => ({
  mmBasis: 'mark',
  priceRounding,
  feeToCloseInMaintenance: false,
  feeInBankruptcy: false,
  takerFeeRate: 0n,
  removableCountsProfit: false,
  transferFloorRate: 0n,
});

// ---------------------------------------------------------------------------------------------------------

describe('Binance USDⓈ-M / COIN-M', () => {
  const btc = market('binance-usdm', 'BTCUSDT');

  test('BIN-3 level 3 maintenance amount = 250,000 × (1% − 0.5%) + 50 = 1,300 USDT', () => {
    assert.equal(showDeduction(btc, tiersOf(btc)[2]!), '1300');
    // The same recursion from a hand-written three-level table.
    const tiers = bracketTiers(
      [
        { cap: money(btc, '50000'), mmr: rate('0.004'), maxLeverage: lev('125') },
        { cap: money(btc, '250000'), mmr: rate('0.005'), maxLeverage: lev('100') },
        { cap: money(btc, '1000000'), mmr: rate('0.01'), maxLeverage: lev('50') },
      ],
      btc.settleDp,
      { deduction: 'derived' },
    );
    assert.deepEqual(
      tiers.map((t) => showDeduction(btc, t)),
      ['0', '50', '1300'],
    );
  });

  test('BIN-4 a 264,000 USDT position takes MMR 1%; a 500,000 USDT one takes maintenance amount 1,300 USDT', () => {
    const at264k = ratesFor(btc.risk, money(btc, '264000'), { size: 0n, sizeDp: btc.sizeDp });
    assert.equal(at264k.mmr, rate('0.01'));
    const at500k = ratesFor(btc.risk, money(btc, '500000'), { size: 0n, sizeDp: btc.sizeDp });
    assert.equal(formatDecimal(at500k.deductionRaw, btc.settleDp + RATE_DP), '1300');
    // The same lookups from positions: 10 BTC @ 26,400 and 10 BTC @ 50,000.
    assert.equal(ratesAt(btc, qty(btc, '10'), px(btc, '26400')).mmr, rate('0.01'));
    // [derived] MM = 500,000 × 1% − 1,300 = 3,700 USDT.
    assert.equal(showMoney(btc, maintenanceMargin(btc, qty(btc, '10'), px(btc, '50000'))), '3700');
  });

  test('BIN-7 COIN-M: 100 contracts × 100 USD @ 25,000 -> notional 0.4 BTC, MM 0.0016 BTC at 0.4%', () => {
    const coinM = buildInstrument({
      symbol: 'BTCUSD_PERP',
      kind: 'inverse',
      base: 'BTC',
      quote: 'USD',
      tickSize: '0.1',
      lotSize: '1',
      multiplier: '100',
      settleDp: 8,
      maxLeverage: '125',
      risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.004', maxLeverage: '125' }] },
    });
    const size = qty(coinM, '100');
    const mark = px(coinM, '25000');
    assert.equal(showMoney(coinM, notional(coinM, size, mark, 'ceil')), '0.4');
    assert.equal(showMoney(coinM, notional(coinM, size, mark, 'floor')), '0.4');
    assert.equal(ratesAt(coinM, size, mark).tier, 0);
    assert.equal(showMoney(coinM, maintenanceMargin(coinM, size, mark)), '0.0016');
  });

  test('BIN-9 every BTCUSDT cum derived by the recursion equals the published column', () => {
    const published = [
      '0',
      '50',
      '1300',
      '16300',
      '266300',
      '1266300',
      '2516300',
      '5016300',
      '25016300',
      '100016300',
    ];
    assert.deepEqual(
      tiersOf(btc).map((t) => showDeduction(btc, t)),
      published,
    );
    const eth = market('binance-usdm', 'ETHUSDT');
    assert.deepEqual(
      tiersOf(eth).map((t) => showDeduction(eth, t)),
      ['0', '15', '365', '5365', '35365', '135365', '260365', '510365', '2510365'],
    );
  });

  test('BIN-9 a mis-copied cum is refused at load, naming the tier', () => {
    const input = [
      {
        cap: money(btc, '50000'),
        mmr: rate('0.004'),
        maxLeverage: lev('125'),
        publishedDeduction: money(btc, '0'),
      },
      {
        cap: money(btc, '250000'),
        mmr: rate('0.005'),
        maxLeverage: lev('100'),
        publishedDeduction: money(btc, '50'),
      },
      {
        cap: money(btc, '1000000'),
        mmr: rate('0.01'),
        maxLeverage: lev('50'),
        publishedDeduction: money(btc, '1301'),
      },
    ];
    assert.throws(
      () => bracketTiers(input, btc.settleDp, { deduction: 'derived' }),
      (e: unknown) => e instanceof InputError && e.field === 'tiers[2].deduction',
    );
  });
});

describe('Bybit', () => {
  const linear = market('bybit-linear', 'BTCUSDT');
  const linearConv = venue('bybit-linear').conventions;
  const inverse = market('bybit-inverse', 'BTCUSD');
  // BYB-5/6 are the classic account's *cross* formula: the fee to close is in both prices there only.
  const inverseConv = venue('bybit-inverse').crossConventions;

  test('BYB-1 long 1 BTC @ 20,000, 50x, MMR 0.5% -> IM 400, MM 100, liquidation 19,700', () => {
    const pos = long(qty(linear, '1'), px(linear, '20000'));
    const im = initialMarginAtLeverage(notional(linear, pos.size, pos.entryPrice, 'ceil'), lev('50'));
    assert.equal(showMoney(linear, im), '400');
    assert.equal(showMoney(linear, maintenanceMargin(linear, pos.size, pos.entryPrice)), '100');
    const lp = liquidationPrice({ inst: linear, conv: linearConv, pos, collateral: im });
    assert.equal(showPx(linear, lp), '19700');
  });

  test('BYB-2 short 1 BTC @ 20,000, 50x, plus 3,000 USDT added -> liquidation 23,300', () => {
    const pos = short(qty(linear, '1'), px(linear, '20000'));
    const im = initialMarginAtLeverage(notional(linear, pos.size, pos.entryPrice, 'ceil'), lev('50'));
    assert.equal(showMoney(linear, im), '400');
    const lp = liquidationPrice({
      inst: linear,
      conv: linearConv,
      pos,
      collateral: im + money(linear, '3000'),
    });
    assert.equal(showPx(linear, lp), '23300');
  });

  test('BYB-4 long 1 BTC @ 10,000, 50x -> bankruptcy 10,000 × (1 − 2%) = 9,800', () => {
    const pos = long(qty(linear, '1'), px(linear, '10000'));
    const im = initialMarginAtLeverage(notional(linear, pos.size, pos.entryPrice, 'ceil'), lev('50'));
    assert.equal(showMoney(linear, im), '200');
    assert.equal(
      showPx(linear, bankruptcyPrice({ inst: linear, conv: linearConv, pos, collateral: im })),
      '9800',
    );
  });

  test('BYB-5 inverse cross, balance 0.5 BTC, long 10,000 contracts @ 8,000 -> bankruptcy 1.00075 × 10000 / 1.75 = 5718.57', () => {
    const pos = long(qty(inverse, '10000'), px(inverse, '8000'));
    const li = { inst: inverse, conv: inverseConv, pos, collateral: money(inverse, '0.5') };
    const exact = bankruptcyPriceExact(li);
    assert.ok(exact);
    // Shown at 0.01, half-up: 5718.5714… -> 5718.57.
    const cents = div(exact.num, exact.den * 10n ** BigInt(inverse.priceDp - 2), 'halfUp');
    assert.equal(formatDecimal(cents, 2, true), '5718.57');
    // [derived] On the 0.5 tick a long's bankruptcy price rounds up: 5719.
    assert.equal(showPx(inverse, bankruptcyPrice(li)), '5719');
    // The same through the cross-bucket entry point with this as the only position.
    const bucket: BucketPosition[] = [{ inst: inverse, pos, mark: pos.entryPrice }];
    assert.equal(showPx(inverse, crossBankruptcyPrice(inverseConv, li.collateral, bucket, 0)), '5719');
  });

  test('BYB-6 same inputs, MMR 0.5% + taker 0.075% -> cross liquidation 5739.5 (raw ≈ 5739.07 rounded up to the 0.5 tick)', () => {
    const pos = long(qty(inverse, '10000'), px(inverse, '8000'));
    const wallet = money(inverse, '0.5');
    const bucket: BucketPosition[] = [{ inst: inverse, pos, mark: pos.entryPrice }];
    assert.equal(showPx(inverse, crossLiquidationPrice(inverseConv, wallet, bucket, 0)), '5739.5');
    // The unrounded solution lies in (5739, 5739.5]: the venue's 5739.08 and ours differ only in where the fee is
    // valued (its bankruptcy price vs the liquidation price), well inside one tick.
    const mmAtEntry = maintenanceMargin(inverse, pos.size, pos.entryPrice);
    assert.equal(showMoney(inverse, mmAtEntry), '0.00625');
    const raw = solvePrice(inverse, pos, (wallet - mmAtEntry) * RATE_ONE, inverseConv.takerFeeRate);
    assert.ok(raw);
    assert.ok(raw.num > px(inverse, '5739') * raw.den && raw.num <= px(inverse, '5739.5') * raw.den);
  });

  test('BYB-8 every BTCUSDT deduction derived by the recursion equals the published one', () => {
    const published = [
      '0',
      '1200',
      '3020',
      '4300',
      '5820',
      '8460',
      '15460',
      '20500',
      '46000',
      '66000',
      '80000',
      '160000',
      '300000',
      '452000',
      '502000',
      '777000',
      '837000',
      '967000',
      '1107000',
      '1482000',
    ];
    assert.deepEqual(
      tiersOf(linear).map((t) => showDeduction(linear, t)),
      published,
    );
    // Tier 1 IMR is 1/max leverage = 1%.
    assert.equal(tiersOf(linear)[0]!.imr, rate('0.01'));
  });
});

describe('BitMEX', () => {
  const xbt = market('bitmex-inverse', 'XBTUSD');

  test('BMX-2 a 180 XBT position is in the base limit: MM 0.50% (0.90 XBT), IM 1.00%', () => {
    const r = ratesFor(xbt.risk, money(xbt, '180'), { size: 0n, sizeDp: 0 });
    assert.equal(r.mmr, rate('0.005'));
    assert.equal(r.imr, rate('0.01'));
    // 9,000,000 contracts of 1 USD at 50,000 are worth 180 XBT.
    const size = qty(xbt, '9000000');
    const mark = px(xbt, '50000');
    assert.equal(showMoney(xbt, notional(xbt, size, mark, 'ceil')), '180');
    assert.equal(showMoney(xbt, maintenanceMargin(xbt, size, mark)), '0.9');
  });

  test('BMX-2 another 50 XBT takes it to 230 XBT, one step over 200: MM 1.00%, IM 1.50%', () => {
    const r = ratesFor(xbt.risk, money(xbt, '230'), { size: 0n, sizeDp: 0 });
    assert.equal(r.mmr, rate('0.01'));
    assert.equal(r.imr, rate('0.015'));
    assert.equal(r.tier, 1);
  });

  test('BMX-2 the base limit is "< 200 XBT": 199.99999999 is the base step, exactly 200 is step one', () => {
    const tiers = stepTiers({
      baseLimit: money(xbt, '200'),
      step: money(xbt, '150'),
      baseMmr: rate('0.005'),
      baseImr: rate('0.01'),
      stepRate: rate('0.005'),
      steps: 3,
    });
    const rule = { kind: 'tiers', tiers } as const;
    const ctx = { size: 0n, sizeDp: 0 };
    assert.equal(ratesFor(rule, money(xbt, '199.99999999'), ctx).tier, 0);
    assert.equal(ratesFor(rule, money(xbt, '200'), ctx).tier, 1);
    assert.equal(ratesFor(rule, money(xbt, '349.99999999'), ctx).mmr, rate('0.01'));
    assert.equal(ratesFor(rule, money(xbt, '350'), ctx).imr, rate('0.02'));
    assert.equal(ratesFor(rule, money(xbt, '100000'), ctx).mmr, rate('0.02'));
    assert.ok(tiers.every((t) => t.deductionRaw === 0n));
  });
});

describe('Hyperliquid', () => {
  test('HL-31 maintenance rate is half the initial rate at max leverage: 20x -> 2.5%, 50x -> 1%', () => {
    const [t20] = hyperliquidTiers([{ cap: null, maxLeverage: lev('20') }], 6);
    const [t50] = hyperliquidTiers([{ cap: null, maxLeverage: lev('50') }], 6);
    assert.equal(t20!.mmr, rate('0.025'));
    assert.equal(t50!.mmr, rate('0.01'));
    assert.equal(t20!.imr, rate('0.05'));
  });

  test('HL-31 3x -> 1/6 rounded up at RATE_DP: 0.1666666667, shown as 16.67%', () => {
    const [t3] = hyperliquidTiers([{ cap: null, maxLeverage: lev('3') }], 6);
    assert.equal(t3!.mmr, 1_666_666_667n);
    // Rounded up: six of them cover the whole notional, six of one unit less do not.
    assert.ok(6n * t3!.mmr >= RATE_ONE && 6n * (t3!.mmr - 1n) < RATE_ONE);
    assert.equal(formatDecimal(div(t3!.mmr, 10n ** BigInt(RATE_DP - 4), 'halfUp'), 2, true), '16.67');
    assert.equal(t3!.maxLeverage, 3n * LEVERAGE_ONE);
  });

  test('HL BTC tier 2 deduction = 150,000,000 × (1/40 − 1/80) = 1,875,000 USDC', () => {
    const btc = market('hyperliquid', 'BTC');
    const [t1, t2] = tiersOf(btc);
    assert.equal(t1!.mmr, rate('0.0125'));
    assert.equal(t2!.mmr, rate('0.025'));
    assert.equal(showDeduction(btc, t1!), '0');
    assert.equal(showDeduction(btc, t2!), '1875000');
    // [derived] 2,000 BTC @ 100,000 = 200M notional: 200M × 2.5% − 1.875M = 3,125,000; continuous at the 150M cap.
    assert.equal(showMoney(btc, maintenanceMargin(btc, qty(btc, '2000'), px(btc, '100000'))), '3125000');
    assert.equal(showMoney(btc, maintenanceMargin(btc, qty(btc, '1500'), px(btc, '100000'))), '1875000');
    assert.equal(
      showMoney(btc, maintenanceMargin(btc, qty(btc, '1500.00001'), px(btc, '100000'))),
      '1875000.025',
    );
  });
});

describe('dYdX v4', () => {
  const usdcLinear = (
    symbol: string,
    base: string,
    tick: string,
    lot: string,
    imf: string,
    fraction: string,
  ): MarketSpec => ({
    symbol,
    kind: 'linear',
    base,
    quote: 'USDC',
    tickSize: tick,
    lotSize: lot,
    multiplier: '1',
    settleDp: 6,
    maxLeverage: '20',
    risk: { kind: 'fraction', imf, maintenanceFraction: fraction, oiLowerCap: '0', oiUpperCap: '0' },
  });
  // IMF 10% × maintenance fraction 50% = MMF 5%; STRK: 20% × 50% = 10%.
  const eth = buildInstrument(usdcLinear('ETH-USD', 'ETH', '0.01', '0.001', '0.1', '0.5'));
  const strk = buildInstrument(usdcLinear('STRK-USD', 'STRK', '0.0001', '1', '0.2', '0.5'));
  const conv = markBasis('nearest');

  test('DYD-1 isolated short 3 ETH @ 3,000, MMF 5%, equity 1,000 -> liquidation 10000 / 3.15 ≈ 3174.60', () => {
    assert.equal(ratesAt(eth, qty(eth, '3'), px(eth, '3000')).mmr, rate('0.05'));
    const pos = short(qty(eth, '3'), px(eth, '3000'));
    const collateral = money(eth, '1000');
    const lp = liquidationPrice({ inst: eth, conv, pos, collateral });
    assert.equal(showAt(eth, lp, 2), '3174.60');
    assert.ok(lp !== null);
    // Remaining equity there ≈ 476.2 (= 3 × 3174.6 × 5%), and it matches maintenance to within one tick of value.
    const equity = collateral + unrealizedPnl(eth, pos, lp);
    assert.equal(showMoney(eth, equity), '476.2');
    const mm = maintenanceMargin(eth, pos.size, lp);
    assert.equal(showMoney(eth, mm), '476.19');
    const oneTickOfValue = money(eth, '0.03'); // 3 ETH × 0.01
    assert.ok(equity - mm <= oneTickOfValue && mm - equity <= oneTickOfValue);
  });

  test('DYD-2 cross: short 1.5 ETH @ 3,000 (MMF 5%) + long 1,000 STRK @ 1.75 (MMF 10%), equity 1,000 -> 3380.95', () => {
    const bucket: BucketPosition[] = [
      { inst: eth, pos: short(qty(eth, '1.5'), px(eth, '3000')), mark: px(eth, '3000') },
      { inst: strk, pos: long(qty(strk, '1000'), px(strk, '1.75')), mark: px(strk, '1.75') },
    ];
    // MMR_o = 1000 × 1.75 × 10% = 175.
    assert.equal(
      showMoney(strk, positionRisk(strk, bucket[1]!.pos, bucket[1]!.mark, conv).maintenanceMargin),
      '175',
    );
    // p' = (1000 + 4500 − 175) / 1.575 = 3380.952…
    assert.equal(showAt(eth, crossLiquidationPrice(conv, money(eth, '1000'), bucket, 0), 2), '3380.95');
  });
});

describe('Deribit', () => {
  const btc = market('deribit-linear', 'BTC_USDC-PERPETUAL');
  const price = px(btc, '100000');

  const im = (size: string) => {
    const s = qty(btc, size);
    return initialMarginAtRate(notional(btc, s, price, 'ceil'), ratesAt(btc, s, price).imr);
  };

  test('DRB-1 BTC_USDC @ 100,000, size 0 -> IM% 2%, IM 0 USDC; MM% 1%', () => {
    assert.equal(ratesAt(btc, 0n, price).imr, rate('0.02'));
    assert.equal(ratesAt(btc, 0n, price).mmr, rate('0.01'));
    assert.equal(showMoney(btc, im('0')), '0');
  });

  test('DRB-1 size 25 BTC (2,500,000 USDC) -> IM% 2.125%, IM 53,125 USDC', () => {
    assert.equal(ratesAt(btc, qty(btc, '25'), price).imr, rate('0.02125'));
    assert.equal(showMoney(btc, notional(btc, qty(btc, '25'), price, 'ceil')), '2500000');
    assert.equal(showMoney(btc, im('25')), '53125');
  });

  test('DRB-1 size 350 BTC (35,000,000 USDC) -> IM% 3.75%, IM 1,312,500 USDC', () => {
    assert.equal(ratesAt(btc, qty(btc, '350'), price).imr, rate('0.0375'));
    assert.equal(showMoney(btc, im('350')), '1312500');
  });

  test('DRB-1 size 25 BTC -> MM% 1.125%, MM 28,125 USDC', () => {
    assert.equal(ratesAt(btc, qty(btc, '25'), price).mmr, rate('0.01125'));
    assert.equal(showMoney(btc, maintenanceMargin(btc, qty(btc, '25'), price)), '28125');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Issue 26: each preset reproduces its venue's own figures. Cases run through `calc` (the contract users check
// numbers with); a figure marked [derived] follows from the venue's published formula and the stated inputs.

/** The first position of a calc scenario. */
const calc1 = (
  venueId: string,
  p: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): PositionResult => calc({ venue: venueId, ...extra, positions: [p] }).positions[0]!;
const calcError = (input: unknown): InputError => {
  try {
    calc(input);
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  assert.fail('expected an InputError');
};

describe('Bybit inverse: isolated follows the isolated convention, the fee to close is cross-only', () => {
  const inv = (side: string, more: Record<string, unknown> = {}) => ({
    symbol: 'BTCUSD',
    side,
    size: '10000',
    entryPrice: '8000',
    leverage: '50',
    ...more,
  });

  test('isolated long 10,000 contracts @ 8,000, 50x -> bankruptcy 8,000 × 50/51 = 7,843.14 rounded up to 7,843.5', {
    timeout: 10_000,
  }, () => {
    assert.equal(calc1('bybit-inverse', inv('long')).bankruptcyPrice, '7843.5');
  });

  test('isolated short 10,000 contracts @ 8,000, 50x -> bankruptcy 8,000 × 50/49 = 8,163.27 rounded down to 8,163', {
    timeout: 10_000,
  }, () => {
    assert.equal(calc1('bybit-inverse', inv('short')).bankruptcyPrice, '8163');
  });

  test('[derived] isolated long: 10000 × (1/8000 − 1/LP) = −(0.025 − 0.00625) -> LP 7,881.77, rounded up to 7,882', {
    timeout: 10_000,
  }, () => {
    const r = calc1('bybit-inverse', inv('long'));
    assert.deepEqual(
      [r.initialMargin, r.maintenanceMargin, r.liquidationPrice],
      ['0.025', '0.00625', '7882'],
    );
  });

  test('[derived] isolated short: LP 10000 / (1.25 − 0.01875) = 8,121.83, rounded down to 8,121.5', {
    timeout: 10_000,
  }, () => {
    assert.equal(calc1('bybit-inverse', inv('short')).liquidationPrice, '8121.5');
  });

  test('[derived] isolated long with 0.01 BTC added: LP = 10000 / (1.25 + 0.025 − 0.00625 + 0.01) = 7,820.14, up to 7,820.5', {
    timeout: 10_000,
  }, () => {
    assert.equal(calc1('bybit-inverse', inv('long', { extraMargin: '0.01' })).liquidationPrice, '7820.5');
  });

  test('BYB-6 the cross formula keeps the fee to close: 0.5 BTC wallet, long 10,000 @ 8,000 -> 5,739.5, bankruptcy 5,719', {
    timeout: 10_000,
  }, () => {
    const r = calc1('bybit-inverse', inv('long', { leverage: undefined }), {
      mode: 'cross',
      walletBalance: '0.5',
    });
    assert.deepEqual([r.liquidationPrice, r.bankruptcyPrice], ['5739.5', '5719']);
  });

  test('bybit-inverse-uta: long @ 8,000, 50x, 0.01 BTC extra -> 10000 × 1.005 / (1.25 + 0.025 + 0.01/1.00055), up to 7,821.5', {
    timeout: 10_000,
  }, () => {
    // [derived] 10050 / 1.2849945 = 7,821.04 -> 7,821.5 (maintenance at the liquidation price, extra net of fee).
    assert.equal(calc1('bybit-inverse-uta', inv('long', { extraMargin: '0.01' })).liquidationPrice, '7821.5');
    // Without extra margin: 10050 / 1.275 = 7,882.35 -> 7,882.5, where the classic isolated form gives 7,882.
    assert.equal(calc1('bybit-inverse-uta', inv('long')).liquidationPrice, '7882.5');
  });
});

describe('BitMEX: initial margin on entry cost', () => {
  test('long 10,000 XBTUSD @ 8,000, 10x, mark 10,000 -> IM 10,000 / 8,000 / 10 = 0.125 XBT (0.1 at mark)', {
    timeout: 10_000,
  }, () => {
    const r = calc1('bitmex-inverse', {
      symbol: 'XBTUSD',
      side: 'long',
      size: '10000',
      entryPrice: '8000',
      markPrice: '10000',
      leverage: '10',
    });
    assert.equal(r.notional, '1');
    assert.equal(r.initialMargin, '0.125');
  });
});

describe('Hyperliquid: maxLeverage sets maintenance, every §4.3 group, prices unrounded', () => {
  const btc = (more: Record<string, unknown> = {}) => ({
    symbol: 'BTC',
    side: 'long',
    size: '1',
    entryPrice: '100000',
    leverage: '40',
    ...more,
  });

  test('HL-31 BTC given maxLeverage 50 -> MMR 1% (not the preset 40x rate of 1.25%)', {
    timeout: 10_000,
  }, () => {
    assert.equal(calc1('hyperliquid', btc()).maintenanceRate, '0.0125');
    const r = calc1('hyperliquid', btc({ maxLeverage: '50' }));
    assert.equal(r.maintenanceRate, '0.01');
    assert.equal(r.maintenanceMargin, '1000');
  });

  test('HL-31 any other symbol with maxLeverage 20 is one tier at 2.5%; with 3 at 1/6 (16.67%)', {
    timeout: 10_000,
  }, () => {
    const p = { symbol: 'NEWCOIN', side: 'short', size: '100', entryPrice: '2', leverage: '3' };
    assert.equal(calc1('hyperliquid', { ...p, maxLeverage: '20' }).maintenanceRate, '0.025');
    assert.equal(calc1('hyperliquid', { ...p, maxLeverage: '3' }).maintenanceRate, '0.1666666667');
    const e = calcError({ venue: 'hyperliquid', positions: [p] });
    assert.equal(e.field, 'positions[0].symbol');
    assert.match(e.message, /any other symbol with "maxLeverage"/);
  });

  test("§4.3 every listed asset is a market, with its group's tiers and deduction", {
    timeout: 10_000,
  }, () => {
    const groups: [string[], string, string, string][] = [
      [['BTC'], '150000000', '0.0125', '0.025'],
      [['ETH'], '100000000', '0.02', '0.0333333334'],
      [['SOL'], '70000000', '0.025', '0.05'],
      [['XRP'], '40000000', '0.025', '0.05'],
      [
        [
          'AAVE',
          'ADA',
          'APT',
          'AVAX',
          'BCH',
          'CRV',
          'DOGE',
          'ENA',
          'FARTCOIN',
          'HYPE',
          'kBONK',
          'kPEPE',
          'LINK',
        ],
        '20000000',
        '0.05',
        '0.1',
      ],
      [['LTC', 'NEAR', 'PUMP', 'SUI', 'TRUMP', 'UNI', 'WLD', 'ZEC'], '20000000', '0.05', '0.1'],
      [
        ['ARB', 'BNB', 'DOT', 'JUP', 'kSHIB', 'MKR', 'ONDO', 'PAXG', 'TON', 'TRX', 'XPL'],
        '3000000',
        '0.05',
        '0.1',
      ],
    ];
    for (const [symbols, cap, mmr1, mmr2] of groups) {
      for (const sym of symbols) {
        const inst = market('hyperliquid', sym);
        const [t1, t2] = tiersOf(inst);
        assert.equal(showMoney(inst, t1!.cap!), cap, sym);
        assert.deepEqual(
          [formatDecimal(t1!.mmr, RATE_DP), formatDecimal(t2!.mmr, RATE_DP)],
          [mmr1, mmr2],
          sym,
        );
      }
    }
    // [derived] 10x/5x groups: tier 2 deduction = 20M × (10% − 5%) = 1,000,000; 3M × 5% = 150,000.
    assert.equal(
      showDeduction(market('hyperliquid', 'DOGE'), tiersOf(market('hyperliquid', 'DOGE'))[1]!),
      '1000000',
    );
    assert.equal(
      showDeduction(market('hyperliquid', 'TRX'), tiersOf(market('hyperliquid', 'TRX'))[1]!),
      '150000',
    );
  });

  test('[derived] liq_price = 100,000 − 1,250 / 1 / (1 − 1.25%) = 98,734.17721519, reported unrounded', {
    timeout: 10_000,
  }, () => {
    assert.equal(calc1('hyperliquid', btc()).liquidationPrice, '98734.17721519');
    // Short DOGE 10,000 @ 0.2, 10x (MMR 5%): 0.2 + 100 / 10,000 / 1.05 = 0.20952381.
    const doge = calc1('hyperliquid', {
      symbol: 'DOGE',
      side: 'short',
      size: '10000',
      entryPrice: '0.2',
      leverage: '10',
    });
    assert.equal(doge.liquidationPrice, '0.20952381');
  });
});

describe('dYdX: maxLeverage sets the IMF', () => {
  test('ETH-USD given maxLeverage 10 -> IMF 1/10 = 10%, MMF = 10% × 0.6 = 6% (preset: 5% / 3%)', {
    timeout: 10_000,
  }, () => {
    const p = { symbol: 'ETH-USD', side: 'short', size: '3', entryPrice: '3000', margin: '1000' };
    assert.equal(calc1('dydx', p).maintenanceRate, '0.03');
    const r = calc1('dydx', { ...p, maxLeverage: '10' });
    assert.equal(r.maintenanceRate, '0.06');
    assert.equal(r.maintenanceMargin, '540');
  });
});

describe('maxLeverage elsewhere bounds the leverage', () => {
  test('binance-usdm BTCUSDT with maxLeverage 20: 50x is refused, maintenance is unchanged', {
    timeout: 10_000,
  }, () => {
    const p = { symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '20000', maxLeverage: '20' };
    assert.equal(
      calcError({ venue: 'binance-usdm', positions: [{ ...p, leverage: '50' }] }).field,
      'positions[0].leverage',
    );
    assert.equal(calc1('binance-usdm', { ...p, leverage: '20' }).maintenanceRate, '0.004');
  });
});

describe('custom tiers carry a maintenance deduction', () => {
  const custom = (tiers: unknown[]) => ({
    symbol: 'XUSDT',
    side: 'long',
    size: '10',
    entryPrice: '50000',
    leverage: '20',
    tickSize: '0.1',
    tiers,
  });

  test('BIN-3 via calc: levels 2–3 with cum 50 and 1,300 -> 10 @ 50,000: MM = 500,000 × 1% − 1,300 = 3,700', {
    timeout: 10_000,
  }, () => {
    const r = calc1(
      'binance-usdm',
      custom([
        { cap: '250000', mmr: '0.005', maxLeverage: '100', deduction: '50' },
        { cap: '1000000', mmr: '0.01', maxLeverage: '50', deduction: '1300' },
      ]),
    );
    assert.equal(r.maintenanceMargin, '3700');
  });

  test('a deduction that contradicts the caps is refused, naming the tier: 1,301 vs 1,300 derived', {
    timeout: 10_000,
  }, () => {
    const e = calcError({
      venue: 'binance-usdm',
      positions: [
        custom([
          { cap: '250000', mmr: '0.005', maxLeverage: '100', deduction: '50' },
          { cap: '1000000', mmr: '0.01', maxLeverage: '50', deduction: '1301' },
        ]),
      ],
    });
    assert.equal(e.field, 'positions[0].tiers[1].deduction');
    assert.match(e.message, /1301 disagrees with 1300 derived from the caps/);
  });

  test('okx margins the whole position at its tier rate: a deduction there is refused', {
    timeout: 10_000,
  }, () => {
    const e = calcError({
      venue: 'okx',
      positions: [custom([{ cap: null, mmr: '0.005', maxLeverage: '100', deduction: '50' }])],
    });
    assert.equal(e.field, 'positions[0].tiers[0].deduction');
  });
});

describe('OKX USDT swaps, isolated (§7.1)', () => {
  const ada = (more: Record<string, unknown> = {}) => ({
    symbol: 'ADA-USDT-SWAP',
    side: 'long',
    size: '1000',
    entryPrice: '0.5',
    leverage: '20',
    ...more,
  });

  test('[derived] long 1,000 contracts (10,000 ADA) @ 0.5, 20x -> IM 250, LP (0.5 − 0.025) / (1 − (0.5% + 0.05%)) = 0.47763', {
    timeout: 10_000,
  }, () => {
    const r = calc1('okx', ada());
    assert.deepEqual([r.notional, r.initialMargin, r.liquidationPrice], ['5000', '250', '0.47763']);
  });

  test('initial margin stays on entry value when the mark moves: mark 0.45 -> IM 250 (225 at mark)', {
    timeout: 10_000,
  }, () => {
    assert.equal(calc1('okx', ada({ markPrice: '0.45' })).initialMargin, '250');
  });

  test('a position takerFee replaces the fee rate in maintenance: 0.02% -> LP 0.475 / 0.9948 = 0.47748', {
    timeout: 10_000,
  }, () => {
    assert.equal(calc1('okx', ada({ takerFee: '0.0002' })).liquidationPrice, '0.47748');
  });

  test('a position past the built-in table (1,500 contracts) is refused, not guessed', {
    timeout: 10_000,
  }, () => {
    assert.equal(calcError({ venue: 'okx', positions: [ada({ size: '1501' })] }).field, 'positions[0].size');
  });
});

describe('Gate USDT futures (docs/venues/gate.md)', () => {
  const btc = (more: Record<string, unknown> = {}) => ({
    symbol: 'BTC_USDT',
    side: 'long',
    size: '10',
    entryPrice: '100000',
    leverage: '50',
    ...more,
  });

  test("Gate's initial-margin example: 100 USDT at 50x -> 100/50 + 100 × 0.075% = 2.075 USDT", {
    timeout: 10_000,
  }, () => {
    const r = calc1('gate', btc());
    assert.deepEqual([r.notional, r.initialMargin, r.collateral], ['100', '2.075', '2.075']);
  });

  test("[derived] Gate's formula: long LP = (100,000 − 2.075 / 0.0001 / 10) / (1 − (0.3% + 0.075%)) = 98,293.6", {
    timeout: 10_000,
  }, () => {
    // 97,925 / 0.99625 = 98,293.601… -> 98,293.6 at the 0.1 tick.
    assert.equal(calc1('gate', btc()).liquidationPrice, '98293.6');
    // Short with the same margin: (100,000 + 2,075) / 1.00375 = 101,693.648… -> 101,693.6.
    assert.equal(calc1('gate', btc({ side: 'short' })).liquidationPrice, '101693.6');
  });

  test('the BTC_USDT ladder deductions follow the recursion: 0, 250, 750; beyond 1,500,000 USDT is refused', {
    timeout: 10_000,
  }, () => {
    const inst = market('gate', 'BTC_USDT');
    assert.deepEqual(
      tiersOf(inst).map((t) => showDeduction(inst, t)),
      ['0', '250', '750'],
    );
    const e = calcError({ venue: 'gate', positions: [btc({ size: '200000', leverage: '10' })] });
    assert.equal(e.field, 'positions[0].size');
  });
});

describe('takerFee: only where the venue counts the fee', () => {
  test('binance-usdm counts no fee: a takerFee is refused', { timeout: 10_000 }, () => {
    const e = calcError({
      venue: 'binance-usdm',
      positions: [{ symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '20000', takerFee: '0.0004' }],
    });
    assert.equal(e.field, 'positions[0].takerFee');
    assert.match(e.message, /counts no taker fee/);
  });

  test('bybit-inverse: refused in isolated (no fee there), honoured in cross', { timeout: 10_000 }, () => {
    const p = { symbol: 'BTCUSDT', side: 'long', size: '10000', entryPrice: '8000', takerFee: '0.0006' };
    const bp = { ...p, symbol: 'BTCUSD' };
    assert.equal(calcError({ venue: 'bybit-inverse', positions: [bp] }).field, 'positions[0].takerFee');
    const r = calc1('bybit-inverse', bp, { mode: 'cross', walletBalance: '0.5' });
    // [derived] 1.0006 × 10000 / 1.75 = 5,717.71 -> 5,718 at the 0.5 tick, rounded up.
    assert.equal(r.bankruptcyPrice, '5718');
  });
});

describe('the ringfence preset (the engine default) keeps its conventions', () => {
  test('maintenance at the worse basis, fee in maintenance and bankruptcy, conservative rounding, IM at mark', {
    timeout: 10_000,
  }, () => {
    const c = buildConventions(PRESETS.ringfence!.conventions);
    assert.deepEqual(
      [c.mmBasis, c.priceRounding, c.feeToCloseInMaintenance, c.feeInBankruptcy, c.imBasis],
      ['worse', 'conservative', true, true, undefined],
    );
    assert.equal(venue('ringfence').crossConventions.mmBasis, 'worse');
  });
});
