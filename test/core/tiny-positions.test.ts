/**
 * Positions worth a few settle units, fully collateralised at 1x. Their margin balance never falls below their value,
 * so in exact terms they are never below maintenance; but the liquidation test compares whole units — maintenance
 * rounded up (one unit at any positive price), margin balance rounded down — and fails where the position is worth
 * under one unit: a linear long near zero, an inverse short at prices without end. The liquidation price must say
 * so, as the engine's exact check liquidates there.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDecimal } from '../../src/core/fixed.ts';
import {
  bankruptcyPrice,
  conservativeRounding,
  isLiquidatable,
  liquidationPrice,
  liquidationTrigger,
  type MarginConventions,
  notional,
  type PositionInput,
  triggerMaintenance,
  unrealizedPnl,
} from '../../src/core/margin.ts';
import { buildInstrument, PRESETS, venue } from '../../src/core/presets.ts';

const markNoFee = (priceRounding: MarginConventions['priceRounding']): MarginConventions => ({
  mmBasis: 'mark',
  priceRounding,
  feeToCloseInMaintenance: false,
  feeInBankruptcy: false,
  takerFeeRate: 0n,
  removableCountsProfit: false,
  transferFloorRate: 0n,
});
const binanceBrackets = PRESETS['binance-usdm']!.markets.find((m) => m.symbol === 'BTCUSDT')!.risk;

describe('a 1 USDT linear long (0.0001 BTC × 0.1 at 100,000, settleDp 6) backed by 1 USDT', () => {
  const inst = buildInstrument({
    symbol: 'BTCUSDT-TINY',
    kind: 'linear',
    base: 'BTC',
    quote: 'USDT',
    tickSize: '0.01',
    lotSize: '0.0001',
    multiplier: '0.1',
    settleDp: 6,
    maxLeverage: '125',
    risk: binanceBrackets,
  });
  const px = (s: string) => parseDecimal(s, 'price', { dp: inst.priceDp });
  const pos: PositionInput = {
    side: 'long',
    size: parseDecimal('0.0001', 'size', { dp: inst.sizeDp }),
    entryPrice: px('100000'),
  };
  const collateral = notional(inst, pos.size, pos.entryPrice, 'ceil');

  test('under 0.10 it is worth under a micro-USDT: margin balance 0 < maintenance 1 unit → liquidation price 0.10', {
    timeout: 10_000,
  }, () => {
    assert.equal(collateral, 1_000_000n);
    const li = { inst, conv: markNoFee('conservative'), pos, collateral };
    assert.equal(liquidationPrice(li), px('0.10'));
    assert.equal(liquidationTrigger(li), px('0.09'));
    // At 0.09: PnL −999,999.1 units floors to −1,000,000, balance 0; maintenance 0.0000036 USDT rounds up to 1 unit.
    assert.equal(unrealizedPnl(inst, pos, px('0.09')), -1_000_000n);
    assert.ok(isLiquidatable(inst, pos, collateral, px('0.09')));
    assert.ok(!isLiquidatable(inst, pos, collateral, px('0.10')));
    // Never bankrupt, and no exact root for a venue's 'nearest' display.
    assert.equal(bankruptcyPrice(li), null);
    assert.equal(liquidationPrice({ ...li, conv: markNoFee('nearest') }), null);
  });

  test('one micro-USDT more keeps a unit of balance at every price → never liquidated', {
    timeout: 10_000,
  }, () => {
    const li = { inst, conv: markNoFee('conservative'), pos, collateral: collateral + 1n };
    assert.equal(liquidationPrice(li), null);
    assert.ok(!isLiquidatable(inst, pos, collateral + 1n, px('0.01')));
  });
});

describe('a 1 USD inverse short (1 contract at 100,000, tick 0.5) backed by its 1,000 satoshi', () => {
  const inst = buildInstrument({
    symbol: 'BTCUSD-TINY',
    kind: 'inverse',
    base: 'BTC',
    quote: 'USD',
    tickSize: '0.5',
    lotSize: '1',
    multiplier: '1',
    settleDp: 8,
    maxLeverage: '100',
    risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.005', maxLeverage: '100' }] },
  });
  const px = (s: string) => parseDecimal(s, 'price', { dp: inst.priceDp });
  const pos: PositionInput = { side: 'short', size: 1n, entryPrice: px('100000') };
  const collateral = notional(inst, pos.size, pos.entryPrice, 'ceil');

  test('above 100,000,000 it is worth under a satoshi → liquidation price 100,000,000, not never', {
    timeout: 10_000,
  }, () => {
    assert.equal(collateral, 1000n);
    const li = { inst, conv: markNoFee('conservative'), pos, collateral };
    assert.equal(liquidationPrice(li), px('100000000'));
    assert.equal(liquidationTrigger(li), px('100000000.5'));
    assert.ok(isLiquidatable(inst, pos, collateral, px('100000000.5')));
    assert.ok(!isLiquidatable(inst, pos, collateral, px('100000000')));
    assert.equal(bankruptcyPrice(li), null);
  });

  test('one satoshi more keeps a unit of balance at every price → never liquidated', {
    timeout: 10_000,
  }, () => {
    const li = { inst, conv: markNoFee('conservative'), pos, collateral: collateral + 1n };
    assert.equal(liquidationPrice(li), null);
    assert.ok(!isLiquidatable(inst, pos, collateral + 1n, px('1000000000000')));
  });
});

test('BitMEX XBTUSD (step brackets, fee to close in maintenance): a fully collateralised 100-contract short at 50,000 is liquidated only where it is worth under a satoshi', {
  timeout: 10_000,
}, () => {
  const { conventions, markets } = venue('bitmex-inverse');
  const conv = conservativeRounding(conventions);
  const inst = markets.get('XBTUSD')!;
  const px = (s: string) => parseDecimal(s, 'price', { dp: inst.priceDp });
  const pos: PositionInput = { side: 'short', size: 100n, entryPrice: px('50000') };
  const collateral = notional(inst, pos.size, pos.entryPrice, 'ceil'); // 200,000 satoshi
  const fails = (mark: bigint, c = collateral) =>
    c + unrealizedPnl(inst, pos, mark) < triggerMaintenance(inst, conv, pos, mark);
  const li = { inst, conv, pos, collateral };
  const lp = liquidationPrice(li);
  assert.ok(lp !== null, 'the whole-unit test fails at prices without end');
  const trigger = liquidationTrigger(li)!;
  assert.equal(trigger, lp + inst.tickSize);
  assert.ok(fails(trigger));
  assert.ok(!fails(lp));
  // Worth under a satoshi there: 100 USD / price < 1e-8 BTC.
  assert.ok(trigger > px('10000000000'));
  for (const mark of [pos.entryPrice, px('1000000'), lp / 2n, lp - inst.tickSize]) assert.ok(!fails(mark));
  // A satoshi more, and balance keeps a unit where maintenance is one.
  assert.equal(liquidationPrice({ ...li, collateral: collateral + 1n }), null);
});
