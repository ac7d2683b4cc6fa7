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
import { buildInstrument, type MarketSpec, venue } from '../../src/core/presets.ts';
import { LEVERAGE_ONE, parseLeverage, parseRate, RATE_DP, RATE_ONE } from '../../src/core/rates.ts';
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
  const inverseConv = venue('bybit-inverse').conventions;

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
