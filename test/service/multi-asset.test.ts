/**
 * Multi-asset collateral through the service: the admin accepts BTC in USDT silos (POST admin/collateral-assets),
 * anyone reads the terms (GET collateral-assets); alice moves BTC into a silo (POST silos/transfer with `asset`), goes
 * long BTCUSDT at 50x on it, and GET silos shows the holding, its value after the haircut, and the liquidation price
 * it implies; when the index falls past it her `silos` stream carries the conversion before the liquidation, and her
 * free balances are untouched.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Static } from 'typebox';
import { sign } from '../../src/service/auth.ts';
import type * as S from '../../src/service/schemas.ts';
import { oracleBtcusdt } from '../engine/harness.ts';
import { type Fields, Harness, KEYS } from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

const T = { timeout: 30_000 };
type SiloJson = Static<typeof S.SiloViewSchema>;

const MARKET = oracleBtcusdt();

describe('multi-asset collateral over the API', () => {
  let h: Harness;
  let ws: WsTestClient;
  let base: string;
  const quote = (price: string) =>
    h.ok('POST', '/api/v1/admin/oracle', 'admin', { symbol: 'BTCUSDT', source: 'feed', price });
  const btcSilo = async () => h.ok<SiloJson>('GET', '/api/v1/silos/btc', 'alice');

  before(async () => {
    h = await Harness.open();
    const wsUrl = await h.listen();
    base = wsUrl.replace('ws://', 'http://').replace(/\/ws$/, '');
    await h.ok('POST', '/api/v1/admin/markets', 'admin', MARKET);
    await quote('20000');
    await h.ok('POST', '/api/v1/admin/insurance', 'admin', { asset: 'USDT', amount: '100000' });
    await h.ok('POST', '/api/v1/admin/deposit', 'admin', {
      account: 'bob',
      asset: 'USDT',
      amount: '1000000',
    });
    await h.ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'alice', asset: 'USDT', amount: '1000' });
    ws = await WsTestClient.connect(wsUrl);
    h.clock.t = Math.max(h.clock.t, Date.now());
    const ts = Date.now();
    const login = await ws.request('login', {
      key: KEYS.alice.key,
      timestamp: ts,
      signature: sign(KEYS.alice.secret, ts, 'GET', '/ws'),
    });
    assert.equal(login.success, true, JSON.stringify(login));
    assert.equal((await ws.request('subscribe', ['silos'])).success, true, 'subscribed');
  });
  after(async () => {
    ws.terminate();
    await h.cleanup();
  });

  test(
    'the admin accepts BTC in USDT silos; anyone reads the terms; a trading key cannot set them',
    T,
    async () => {
      const set = await h.ok<{ seq: number; collateralAssets: Fields[] }>(
        'POST',
        '/api/v1/admin/collateral-assets',
        'admin',
        { asset: 'BTC', settle: 'USDT', dp: 8, priceMarket: 'BTCUSDT' },
      );
      assert.equal(set.collateralAssets.length, 1, 'one accepted asset');
      const pub = (await (await fetch(`${base}/api/v1/collateral-assets`)).json()) as Fields[];
      assert.deepEqual(
        pub[0],
        {
          asset: 'BTC',
          settle: 'USDT',
          dp: 8,
          priceMarket: 'BTCUSDT',
          price: '20000',
          haircuts: [{ upTo: null, ratio: '0.95' }],
          conversionPenalty: '0.05',
          enabled: true,
          holders: 0,
        },
        'the terms, with the index now',
      );
      const refused = await h.call(
        'POST',
        '/api/v1/admin/collateral-assets',
        { asset: 'BTC', settle: 'USDT', priceMarket: 'BTCUSDT' },
        { as: 'alice' },
      );
      assert.equal(refused.status, 403, 'admin only');
    },
  );

  test(
    'alice moves 0.0211 BTC into silo btc, goes long 1 BTC at 50x; the read shows the holding',
    T,
    async () => {
      await h.ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'alice', asset: 'BTC', amount: '1' });
      await h.ok('POST', '/api/v1/silos', 'alice', { silo: 'btc', asset: 'USDT', riskModel: 'standalone' });
      const moved = await h.ok<Fields>('POST', '/api/v1/silos/transfer', 'alice', {
        from: 'free',
        to: 'btc',
        asset: 'BTC',
        amount: '0.0211',
      });
      assert.equal(moved.currency, 'BTC', 'the transfer is in BTC');
      await h.ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'free', to: 'btc', amount: '10' });
      await h.ok('POST', '/api/v1/leverage', 'alice', { symbol: 'BTCUSDT', leverage: '50', silo: 'btc' });
      const order = { symbol: 'BTCUSDT', type: 'limit', price: '20000', amount: '1' };
      await h.ok('POST', '/api/v1/orders', 'admin', { ...order, side: 'sell', account: 'bob' });
      await h.ok('POST', '/api/v1/orders', 'alice', { ...order, side: 'buy', silo: 'btc' });
      const s = await btcSilo();
      assert.deepEqual(
        s.holdings,
        [
          {
            asset: 'BTC',
            amount: '0.0211',
            priceMarket: 'BTCUSDT',
            price: '20000',
            grossValue: '422',
            value: '400.9',
          },
        ],
        'the holding',
      );
      assert.equal(s.equity, '400.9', 'equity counts it after the haircut');
      assert.equal(s.liquidationPrices.BTCUSDT, '19695.1', 'the liquidation price with the BTC revalued');
    },
  );

  test(
    'the index falls past it: the BTC is converted, then the leg liquidated; free balances untouched',
    T,
    async () => {
      const free = async () =>
        ((await h.ok<{ free: Record<string, string> }>('GET', '/api/v1/balance', 'alice')).free ??
          {}) as Record<string, string>;
      const before = await free();
      await quote('19695');
      const conv = await ws.next(
        (m) => m.topic === 'silos' && m.data.some((d) => (d as Fields).type === 'collateralConverted'),
        10_000,
      );
      const ev = conv.data.find((d) => (d as Fields).type === 'collateralConverted') as Fields;
      assert.deepEqual(
        [ev.silo, ev.asset, ev.amount, ev.reason],
        ['btc', 'BTC', '0.0211', 'liquidation'],
        'all of it, for the liquidation',
      );
      assert.deepEqual((await btcSilo()).holdings, [], 'nothing held after');
      assert.deepEqual(await free(), before, 'free balances untouched');
    },
  );
});
