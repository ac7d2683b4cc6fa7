/**
 * Chart series from committed events, over a real socket: mark and last candles that roll over at the minute boundary
 * (REST and the `candles.<SYMBOL>.<timeframe>` stream), the insurance fund's history after a liquidation fed it (REST
 * and `insurance.<ASSET>`), and the liquidation feeds — public `liquidations.<SYMBOL>` (what GET liquidations lists)
 * and the admin's `liquidations.all` with account ids, refused to a trade key.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sign } from '../../src/service/auth.ts';
import { BTCUSDT, type ErrorJson, Harness, KEYS, type KeyName, type LiquidationJson } from './helpers.ts';
import { type Item, type Msg, WsTestClient } from './wsclient.ts';

const T = { timeout: 60_000 };
type Row = [number, string, string, string, string, string];

async function login(h: Harness, url: string, as: KeyName): Promise<WsTestClient> {
  const ws = await WsTestClient.connect(url);
  const ts = h.nextTimestamp();
  const r = await ws.request('login', {
    key: KEYS[as].key,
    timestamp: ts,
    signature: sign(KEYS[as].secret, ts, 'GET', '/ws'),
  });
  assert.equal(r.success, true, JSON.stringify(r));
  return ws;
}

const on = (ws: WsTestClient, topic: string): Msg[] => ws.messages.filter((m) => m.topic === topic);

/** Everything published before now has reached the socket once a ping sent now is answered. */
async function settle(ws: WsTestClient): Promise<void> {
  assert.equal((await ws.request('ping')).success, true);
}

describe('chart series', () => {
  test(
    'candles roll over at the minute boundary: mark (volume 0) and last (traded size), REST and stream',
    T,
    async () => {
      const h = await Harness.open();
      const clients: WsTestClient[] = [];
      try {
        const url = await h.listen();
        await h.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
        for (const account of ['alice', 'bob'])
          await h.ok('POST', '/api/v1/admin/deposit', 'admin', { account, asset: 'USDT', amount: '100000' });
        // T0 on a 5-minute boundary, ahead of the clock: the command times below are ours.
        const T0 = Math.ceil(h.clock.t / 300_000) * 300_000 + 300_000;
        const at = (ms: number) => {
          h.clock.t = T0 + ms;
        };
        const mark = (price: string) =>
          h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price });
        const trade = async (price: string, amount: string) => {
          await h.ok('POST', '/api/v1/orders', 'bob', {
            symbol: 'BTCUSDT',
            side: 'sell',
            type: 'limit',
            amount,
            price,
          });
          await h.ok('POST', '/api/v1/orders', 'alice', {
            symbol: 'BTCUSDT',
            side: 'buy',
            type: 'limit',
            amount,
            price,
          });
        };

        at(0);
        const ws = await WsTestClient.connect(url);
        clients.push(ws);
        assert.equal((await ws.request('subscribe', ['candles.BTCUSDT.1m'])).success, true);
        for (const [topic, code] of [
          ['candles.BTCUSDT.2m', 'INVALID_REQUEST'],
          ['candles.BTCUSDT', 'INVALID_REQUEST'],
          ['candles.NOPE.1m', 'UNKNOWN_MARKET'],
        ] as const) {
          const r = await ws.request('subscribe', [topic]);
          assert.equal(r.success, false, topic);
          assert.equal(r.error.code, code, `${topic}: ${r.error.message}`);
        }

        at(10_000);
        await mark('20000');
        at(20_000);
        await mark('20100');
        await trade('20050', '0.5');
        at(30_000);
        await mark('19900');
        at(59_999);
        await mark('19950');
        at(60_000); // the next minute
        await mark('20200');
        await trade('20150', '0.25');

        const get = async (q: string) => {
          const r = await h.call<Row[]>('GET', `/api/v1/candles/BTCUSDT?${q}`);
          assert.equal(r.status, 200, r.text);
          return r.json;
        };
        assert.deepEqual(await get(`timeframe=1m&price=mark&since=${T0}`), [
          [T0, '20000', '20100', '19900', '19950', '0'],
          [T0 + 60_000, '20200', '20200', '20200', '20200', '0'],
        ]);
        assert.deepEqual(await get(`timeframe=1m&price=last&since=${T0}`), [
          [T0, '20050', '20050', '20050', '20050', '0.5'],
          [T0 + 60_000, '20150', '20150', '20150', '20150', '0.25'],
        ]);
        // Seconds: each mark its own candle here (no two in one second), the 59.999 s one in second 59.
        assert.deepEqual(
          (await get(`timeframe=1s&since=${T0}`)).map((r) => [r[0] - T0, r[4]]),
          [
            [10_000, '20000'],
            [20_000, '20100'],
            [30_000, '19900'],
            [59_000, '19950'],
            [60_000, '20200'],
          ],
        );
        assert.deepEqual(await get(`timeframe=5m&since=${T0}`), [
          [T0, '20000', '20200', '19900', '20200', '0'],
        ]);
        assert.deepEqual(await get('timeframe=1h&price=last&limit=1'), [
          [T0 - (T0 % 3_600_000), '20050', '20150', '20050', '20150', '0.75'],
        ]);
        assert.deepEqual(
          await get('limit=1'),
          [[T0 + 60_000, '20200', '20200', '20200', '20200', '0']],
          'newest',
        );
        assert.deepEqual(await get(`since=${T0 + 60_000}`), [
          [T0 + 60_000, '20200', '20200', '20200', '20200', '0'],
        ]);
        assert.deepEqual(
          await get(`since=${T0}&limit=1`),
          [[T0, '20000', '20100', '19900', '19950', '0']],
          'first after',
        );

        // The stream: one message per mark command (the trades moved no mark), the current candle in each.
        await settle(ws);
        const msgs = on(ws, 'candles.BTCUSDT.1m');
        assert.equal(msgs.length, 5);
        assert.deepEqual(
          msgs.map((m) => m.data[0]),
          [
            [T0, '20000', '20000', '20000', '20000', '0'],
            [T0, '20000', '20100', '20000', '20100', '0'],
            [T0, '20000', '20100', '19900', '19900', '0'],
            [T0, '20000', '20100', '19900', '19950', '0'],
            [T0 + 60_000, '20200', '20200', '20200', '20200', '0'],
          ],
        );
        assert.ok(msgs.every((m, i) => i === 0 || m.seq > msgs[i - 1]!.seq));
        assert.equal(msgs[4]!.time, T0 + 60_000, "the command's time");

        assert.equal((await h.call<ErrorJson>('GET', '/api/v1/candles/NOPE')).json.code, 'UNKNOWN_MARKET');
        assert.equal((await h.call('GET', '/api/v1/candles/BTCUSDT?timeframe=2m')).status, 400);
        assert.equal((await h.call('GET', '/api/v1/candles/BTCUSDT?price=index')).status, 400);
      } finally {
        for (const c of clients) c.terminate();
        await h.cleanup();
      }
    },
  );

  test(
    'a liquidation feeds the insurance fund: its history and stream; the liquidation feeds, public and admin',
    T,
    async () => {
      const h = await Harness.open();
      const clients: WsTestClient[] = [];
      try {
        const url = await h.listen();
        await h.setupMarket();
        const pub = await WsTestClient.connect(url);
        const admin = await login(h, url, 'admin');
        const alice = await login(h, url, 'alice');
        clients.push(pub, admin, alice);
        assert.equal(
          (await pub.request('subscribe', ['insurance.USDT', 'liquidations.BTCUSDT'])).success,
          true,
        );
        assert.equal((await admin.request('subscribe', ['liquidations.all'])).success, true);
        const refused = await alice.request('subscribe', ['liquidations.all']);
        assert.equal(refused.success, false);
        assert.equal(refused.error.code, 'FORBIDDEN');
        assert.equal((await pub.request('subscribe', ['liquidations.all'])).error.code, 'UNAUTHORIZED');
        assert.equal((await pub.request('subscribe', ['insurance.XYZ'])).error.code, 'UNKNOWN_ASSET');
        // alice's own liquidations stay the private topic.
        assert.equal((await alice.request('subscribe', ['liquidations'])).success, true);

        const history = async () => {
          const r = await h.call<{ time: number; seq: number; balance: string }[]>(
            'GET',
            '/api/v1/insurance/USDT/history',
          );
          assert.equal(r.status, 200, r.text);
          return r.json;
        };
        assert.deepEqual(await history(), [], 'nothing moved the fund yet');
        const funded = await h.ok<{ seq: number }>('POST', '/api/v1/admin/insurance', 'admin', {
          asset: 'USDT',
          amount: '50000',
        });
        assert.deepEqual(await history(), [{ time: h.clock.t, seq: funded.seq, balance: '50000' }]);

        // bob: long 1 at 60,000, 50x; alice bids below; the mark falls to 58,600 → liquidated into her bids.
        await h.ok('POST', '/api/v1/leverage', 'bob', { symbol: 'BTCUSDT', leverage: '50' });
        await h.ok('POST', '/api/v1/orders', 'alice', {
          symbol: 'BTCUSDT',
          side: 'sell',
          type: 'limit',
          price: '60000',
          amount: '1',
        });
        await h.ok('POST', '/api/v1/orders', 'bob', {
          symbol: 'BTCUSDT',
          side: 'buy',
          type: 'limit',
          price: '60000',
          amount: '1',
        });
        await h.ok('POST', '/api/v1/orders', 'alice', {
          symbol: 'BTCUSDT',
          side: 'buy',
          type: 'limit',
          price: '58500',
          amount: '2',
        });
        const crash = await h.ok<{ seq: number }>('POST', '/api/v1/admin/mark-price', 'admin', {
          symbol: 'BTCUSDT',
          price: '58600',
        });

        const fund = (await h.call<{ balance: string }>('GET', '/api/v1/insurance/USDT')).json.balance;
        assert.notEqual(fund, '50000', 'the liquidation moved the fund');
        const points = await history();
        assert.equal(points.length, 2, 'one point per command that changed the fund');
        assert.deepEqual(points[1], { time: h.clock.t, seq: crash.seq, balance: fund });
        assert.deepEqual((await h.call<unknown[]>('GET', '/api/v1/insurance/USDT/history?limit=1')).json, [
          points[1],
        ]);
        assert.equal(
          (await h.call<ErrorJson>('GET', '/api/v1/insurance/XYZ/history')).json.code,
          'UNKNOWN_ASSET',
        );

        await settle(pub);
        await settle(admin);
        // The fund's stream: one message per point.
        assert.deepEqual(
          on(pub, 'insurance.USDT').map((m) => [m.seq, m.data]),
          points.map((p) => [p.seq, [p]]),
        );
        // The public feed: exactly what GET liquidations lists (newest first there, in order here).
        const listed = (await h.call<LiquidationJson[]>('GET', '/api/v1/liquidations/BTCUSDT')).json;
        assert.ok(listed.length >= 1);
        const streamed = on(pub, 'liquidations.BTCUSDT').flatMap((m) => m.data as Item[]);
        assert.deepEqual(streamed, [...listed].reverse());
        assert.ok(
          streamed.every((x) => !('account' in x)),
          'no account ids',
        );
        assert.ok(on(pub, 'liquidations.BTCUSDT').every((m) => m.seq === crash.seq));
        // The admin's feed: the same stages, with the liquidated account (and its silo).
        const all = on(admin, 'liquidations.all').flatMap((m) => m.data as Item[]);
        assert.deepEqual(
          all,
          streamed.map((x) => ({ ...x, account: 'bob', silo: null })),
        );
      } finally {
        for (const c of clients) c.terminate();
        await h.cleanup();
      }
    },
  );
});
