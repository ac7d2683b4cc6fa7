/**
 * Volatility-adjusted margin through the service: a market created with `dynamicMargin` shows the factor in force,
 * an announced raise and its time in GET markets; the `marginFactor` events go out on the market's `mark` topic; and
 * a `"live"` calc preview of an open position agrees with the position read before the raise, during its notice and
 * after it applies (the live venue follows the market's instrument as the factor replaces it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MarketConfig } from '../../src/engine/types.ts';
import { dynamicBtcusdt } from '../engine/harness.ts';
import { type Fields, Harness, type PositionJson } from './helpers.ts';

const T = { timeout: 30_000 };
const FIGURES = ['liquidationPrice', 'initialMargin', 'maintenanceMargin', 'marginRatio'] as const;
const figures = (x: Record<string, unknown>) => Object.fromEntries(FIGURES.map((k) => [k, x[k]]));

const MARKET: MarketConfig = dynamicBtcusdt({
  reviewMs: 60_000,
  noticeMs: 60_000,
  sampleMs: 1_000,
  minSamples: 5,
});

interface DynamicView {
  factor: string;
  pendingFactor: string | null;
  effectiveAt: number | null;
  vol: string;
  nextReview: number;
}

describe('dynamic margin over the API', () => {
  let h: Harness;
  const market = async () => {
    const ms = await h.ok<
      (Fields & { dynamicMargin?: DynamicView; tiers: { maintenanceMarginRate: string }[] })[]
    >('GET', '/api/v1/markets', 'alice');
    return ms.find((m) => m.symbol === 'BTCUSDT')!;
  };
  const quote = async (price: string) => {
    const r = await h.service.submit({ type: 'oracleQuote', symbol: 'BTCUSDT', source: 'feed', price });
    assert.ok(r.ok, r.ok ? '' : r.message);
  };
  const position = async () => {
    const ps = await h.ok<PositionJson[]>('GET', '/api/v1/positions', 'alice');
    return ps.find((p) => p.symbol === 'BTCUSDT')!;
  };
  const preview = async (p: PositionJson) => {
    const r = await h.call<{ positions: Record<string, unknown>[] }>('POST', '/api/v1/calc', {
      venue: 'live',
      positions: [
        {
          symbol: p.symbol,
          side: p.side,
          size: p.contracts,
          entryPrice: p.entryPrice,
          markPrice: p.markPrice,
          leverage: p.leverage,
          margin: p.collateral,
        },
      ],
    });
    assert.equal(r.status, 200, r.text);
    return r.json.positions[0]!;
  };

  before(async () => {
    h = await Harness.open();
    // Start on a review boundary so the schedule below is exact.
    h.clock.t = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
    await h.ok('POST', '/api/v1/admin/markets', 'admin', MARKET);
    await quote('20000');
    for (const account of ['alice', 'bob'])
      await h.ok('POST', '/api/v1/admin/deposit', 'admin', { account, asset: 'USDT', amount: '100000' });
    await h.ok('POST', '/api/v1/leverage', 'alice', { symbol: 'BTCUSDT', leverage: '20' });
    const order = { symbol: 'BTCUSDT', type: 'limit', price: '20000', amount: '1' };
    await h.ok('POST', '/api/v1/orders', 'admin', { ...order, side: 'sell', account: 'bob' });
    await h.ok('POST', '/api/v1/orders', 'admin', {
      ...order,
      side: 'buy',
      timeInForce: 'IOC',
      account: 'alice',
    });
  });
  after(() => h.cleanup());

  test(
    'a stormy minute is announced as a raise to 1.5; it applies a minute later; the live preview follows the read throughout',
    T,
    async () => {
      const start = (await market()).dynamicMargin!;
      assert.deepEqual([start.factor, start.pendingFactor, start.effectiveAt], ['1', null, null]);
      const t0 = start.nextReview - 60_000;
      // ±1.5% a second for the minute before the review.
      for (let i = 1; i < 60; i++) {
        h.clock.t = t0 + i * 1_000;
        await quote(i % 2 === 0 ? '20000' : '20300');
      }
      h.clock.t = start.nextReview;
      await h.service.submit({ type: 'tick' });
      const announced = (await market()).dynamicMargin!;
      assert.deepEqual(
        [announced.factor, announced.pendingFactor, announced.effectiveAt],
        ['1', '1.5', start.nextReview + 60_000],
      );
      assert.ok(Number(announced.vol) > 0.6, `vol ${announced.vol}`);
      let p = await position();
      assert.deepEqual(figures(await preview(p)), figures(p), 'during the notice');
      const before = (await market()).tiers[0]!.maintenanceMarginRate;
      h.clock.t = start.nextReview + 60_000;
      await h.service.submit({ type: 'tick' });
      const applied = await market();
      // The review at the raise's own time came first (the storm still in the estimate: the raise stands), then it
      // applied.
      assert.deepEqual([applied.dynamicMargin!.factor, applied.dynamicMargin!.pendingFactor], ['1.5', null]);
      assert.equal(
        Number(applied.tiers[0]!.maintenanceMarginRate),
        Number(before) * 1.5,
        'the tiers shown are the scaled ones',
      );
      p = await position();
      assert.deepEqual(figures(await preview(p)), figures(p), 'after the raise');
    },
  );
});
