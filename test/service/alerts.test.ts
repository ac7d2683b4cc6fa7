/**
 * Margin-ratio alerts (the private `alerts` stream, GET/PUT /api/v1/alerts): alice is long 1 BTC at 20,000, 20x
 * isolated, with levels [0.5, 0.8]; the mark falls step by step and the stream says "up 0.5", then "up 0.8"; a ratio
 * just under 0.8 (inside the hysteresis) says nothing; the mark recovers and it says "down 0.8", then "down 0.5".
 * Every kind of box is followed (the cross bucket, an isolated position, a named silo), each only when one of its
 * markets moved; an account nobody follows is never computed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sign } from '../../src/service/auth.ts';
import { ConfigError, loadConfig } from '../../src/service/config.ts';
import { privateKey, type Subscriber } from '../../src/service/hub.ts';
import { ETHUSDT } from '../engine/harness.ts';
import { BTCUSDT, type ErrorJson, type Fields, Harness, KEYS, type PositionJson } from './helpers.ts';
import { type Item, type Msg, WsTestClient } from './wsclient.ts';

const T = { timeout: 60_000 };
interface Box {
  id: string;
  equity: string;
  maintenanceMargin: string;
  marginRatio: string | null;
}

const boxOf = async (h: Harness, id: string): Promise<Box> =>
  (await h.ok<Box[]>('GET', '/api/v1/silos', 'alice')).find((b) => b.id === id)!;

/**
 * The mark of `symbol` at which box `id`'s margin ratio is r. Within a risk tier a box's equity and maintenance are
 * straight lines in one market's mark (maintenance: the tier's rate on the mark plus the closing fee), so two reads —
 * at `p1`, then back at `p0` — fit them (test arithmetic only: the service computes with the engine's read model).
 */
async function ratioMarks(
  h: Harness,
  id: string,
  symbol: string,
  p0: number,
  p1: number,
  tick: number,
): Promise<(r: number) => string> {
  await mark(h, symbol, String(p1));
  const b1 = await boxOf(h, id);
  await mark(h, symbol, String(p0));
  const b0 = await boxOf(h, id);
  const [e0, m0] = [Number(b0.equity), Number(b0.maintenanceMargin)];
  const de = (Number(b1.equity) - e0) / (p1 - p0);
  const dm = (Number(b1.maintenanceMargin) - m0) / (p1 - p0);
  // m0 + dm·x = r·(e0 + de·x), x = P − p0
  return (r) => (Math.round((p0 + (r * e0 - m0) / (dm - r * de)) / tick) * tick).toFixed(2);
}

async function open(): Promise<Harness> {
  const h = await Harness.open();
  await h.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
  await h.ok('POST', '/api/v1/admin/markets', 'admin', ETHUSDT);
  await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '20000' });
  await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'ETHUSDT', price: '2000' });
  await h.ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'alice', asset: 'USDT', amount: '10000' });
  await h.ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'bob', asset: 'USDT', amount: '1000000' });
  return h;
}

/** Bob rests the other side at `price`; `who` takes it (in `silo` when given). */
async function trade(
  h: Harness,
  who: 'alice',
  symbol: string,
  side: 'buy' | 'sell',
  amount: string,
  price: string,
  silo?: string,
): Promise<void> {
  const other = side === 'buy' ? 'sell' : 'buy';
  await h.ok('POST', '/api/v1/orders', 'bob', { symbol, side: other, type: 'limit', amount, price });
  await h.ok('POST', '/api/v1/orders', who, {
    symbol,
    side,
    type: 'limit',
    amount,
    price,
    ...(silo ? { silo } : {}),
  });
}

const mark = (h: Harness, symbol: string, price: string) =>
  h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol, price });

async function login(h: Harness, url: string, as: 'alice' | 'admin' = 'alice'): Promise<WsTestClient> {
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

/** The marginAlert items received so far, in order. */
const alertsOf = (ws: WsTestClient): Item[] =>
  ws.messages
    .filter((m) => m.topic === 'alerts')
    .flatMap((m) => (m.data as Item[]).filter((d) => d.type === 'marginAlert'));

/** Everything published before now has reached the socket once a ping sent now is answered (one socket, in order). */
async function settle(ws: WsTestClient): Promise<void> {
  const r = await ws.request('ping');
  assert.equal(r.success, true);
}

describe('margin-ratio alerts', () => {
  test(
    'long 1 BTC 20x isolated, levels [0.5, 0.8]: mark falls → up 0.5, up 0.8; recovers → down 0.8, down 0.5',
    T,
    async () => {
      const h = await open();
      const clients: WsTestClient[] = [];
      try {
        const url = await h.listen();
        await h.ok('POST', '/api/v1/leverage', 'alice', { symbol: 'BTCUSDT', leverage: '20' });
        await trade(h, 'alice', 'BTCUSDT', 'buy', '1', '20000');
        const set = await h.ok<{ levels: string[]; hysteresis: string }>('PUT', '/api/v1/alerts', 'alice', {
          levels: ['0.5', '0.8'],
        });
        assert.deepEqual(set, { levels: ['0.5', '0.8'], hysteresis: '0.02' });

        const ws = await login(h, url);
        clients.push(ws);
        const sub = await ws.request('subscribe', ['alerts']);
        assert.equal(sub.success, true, JSON.stringify(sub));
        const snap = await ws.next((m) => m.topic === 'alerts' && (m.data as Item[])[0]?.type === 'snapshot');
        const s0 = (snap.data as Item[])[0]! as { levels: string[]; alerts: Item[] };
        assert.deepEqual(s0.levels, ['0.5', '0.8']);
        assert.equal(s0.alerts.length, 1);
        const first = s0.alerts[0]!;
        assert.equal(first.box, 'isolated:BTCUSDT');
        assert.equal(first.symbol, 'BTCUSDT');
        assert.equal(first.marginMode, 'isolated');
        assert.equal(first.silo, null);
        assert.equal(first.level, null, 'a fresh 20x long is below every level');
        assert.equal(first.markPrice, '20000');

        assert.equal(first.marginRatio, (await boxOf(h, 'isolated:BTCUSDT')).marginRatio);
        const at = await ratioMarks(h, 'isolated:BTCUSDT', 'BTCUSDT', 20_000, 19_900, 0.1);

        // Falling: just above the 0.5 mark nothing; past it "up 0.5"; then past 0.8 "up 0.8".
        await mark(h, 'BTCUSDT', (Number(at(0.5)) + 5).toFixed(1));
        await settle(ws);
        assert.deepEqual(alertsOf(ws), []);
        await mark(h, 'BTCUSDT', at(0.52));
        const up5 = await ws.next(
          (m) => m.topic === 'alerts' && (m.data as Item[]).some((d) => d.type === 'marginAlert'),
        );
        assert.equal(up5.topic, 'alerts');
        assert.equal(typeof up5.seq, 'number');
        const a1 = alertsOf(ws)[0]!;
        const pos = (await h.ok<PositionJson[]>('GET', '/api/v1/positions', 'alice'))[0]!;
        assert.deepEqual(a1, {
          type: 'marginAlert',
          symbol: 'BTCUSDT',
          marginMode: 'isolated',
          silo: null,
          box: 'isolated:BTCUSDT',
          level: '0.5',
          marginRatio: pos.marginRatio,
          direction: 'up',
          markPrice: at(0.52).replace(/\.?0+$/, ''),
          liquidationPrice: pos.liquidationPrice,
        });
        // Sitting around the level (inside the 2 % hysteresis) does not flap.
        await mark(h, 'BTCUSDT', at(0.495));
        await mark(h, 'BTCUSDT', at(0.51));
        await settle(ws);
        assert.equal(alertsOf(ws).length, 1);
        await mark(h, 'BTCUSDT', at(0.85));
        await ws.next(() => alertsOf(ws).length >= 2);
        assert.deepEqual(
          alertsOf(ws).map((a) => [a.direction, a.level]),
          [
            ['up', '0.5'],
            ['up', '0.8'],
          ],
        );
        const liquidatable = Number(alertsOf(ws)[1]!.liquidationPrice);
        assert.ok(liquidatable < Number(at(0.85)), 'still above its liquidation price');

        // Recovering: 0.79 is inside the hysteresis (recovered only under 0.8 × 0.98 = 0.784); 0.7 is out of it.
        await mark(h, 'BTCUSDT', at(0.79));
        await settle(ws);
        assert.equal(alertsOf(ws).length, 2);
        await mark(h, 'BTCUSDT', at(0.7));
        await ws.next(() => alertsOf(ws).length >= 3);
        await mark(h, 'BTCUSDT', '20000');
        await ws.next(() => alertsOf(ws).length >= 4);
        assert.deepEqual(
          alertsOf(ws).map((a) => [a.direction, a.level]),
          [
            ['up', '0.5'],
            ['up', '0.8'],
            ['down', '0.8'],
            ['down', '0.5'],
          ],
        );
        // A jump across both levels is two crossings, in order.
        await mark(h, 'BTCUSDT', at(0.9));
        await ws.next(() => alertsOf(ws).length >= 6);
        assert.deepEqual(
          alertsOf(ws)
            .slice(4)
            .map((a) => [a.direction, a.level]),
          [
            ['up', '0.5'],
            ['up', '0.8'],
          ],
        );
        // Every alert message is the standard envelope.
        for (const m of ws.messages.filter((x: Msg) => x.topic === 'alerts')) {
          assert.equal(typeof m.seq, 'number');
          assert.equal(typeof m.time, 'number');
          assert.ok(Array.isArray(m.data));
        }

        // New levels: the subscriber gets a fresh snapshot against them, no alert.
        await h.ok('PUT', '/api/v1/alerts', 'alice', { levels: ['0.95'] });
        const resync = await ws.next(
          (m) =>
            m.topic === 'alerts' &&
            (m.data as Item[])[0]?.type === 'snapshot' &&
            (m.data as Item[])[0]?.resync === true,
        );
        const s1 = (resync.data as Item[])[0]! as { levels: string[]; alerts: Item[] };
        assert.deepEqual(s1.levels, ['0.95']);
        assert.equal(s1.alerts[0]!.level, null);
        assert.equal(alertsOf(ws).length, 6);
      } finally {
        for (const c of clients) c.terminate();
        await h.cleanup();
      }
    },
  );

  test(
    'every kind of box is followed, each only when one of its markets moved; nobody following costs nothing',
    T,
    async () => {
      const h = await open();
      try {
        // alice: ETH cross, BTC isolated, and a named silo "pair" with a BTC leg.
        await h.ok('POST', '/api/v1/margin-mode', 'alice', { symbol: 'ETHUSDT', marginMode: 'cross' });
        await trade(h, 'alice', 'ETHUSDT', 'buy', '5', '2000');
        await trade(h, 'alice', 'BTCUSDT', 'buy', '0.1', '20000');
        await h.ok('POST', '/api/v1/silos', 'alice', {
          silo: 'pair',
          asset: 'USDT',
          riskModel: 'standalone',
        });
        await h.ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'free', to: 'pair', amount: '500' });
        await trade(h, 'alice', 'BTCUSDT', 'buy', '0.01', '20000', 'pair');

        // Nobody follows anyone: marks move, nothing is computed.
        for (const p of ['19990', '20010', '20000']) await mark(h, 'BTCUSDT', p);
        await mark(h, 'ETHUSDT', '1999');
        assert.equal(h.service.alerts.evaluated, 0, 'no subscriber: no box computed');
        assert.equal(h.service.alerts.watching, 0);

        // alice follows (a stand-in for a socket: what the gateway does on subscribe).
        const got: Msg[] = [];
        const s: Subscriber = {
          id: 1,
          deliver: (text) => {
            got.push(JSON.parse(text) as Msg);
            return true;
          },
        };
        const key = privateKey('alerts', 'alice');
        h.service.hub.subscribe(key, s);
        const snap = h.service.alertSnapshot('alice') as { data: { alerts: Item[] }[] };
        assert.deepEqual(
          snap.data[0]!.alerts.map((a) => [a.box, a.symbol, a.marginMode, a.silo]),
          [
            ['cross:USDT', 'ETHUSDT', 'cross', null],
            ['isolated:BTCUSDT', 'BTCUSDT', 'isolated', null],
            ['pair', 'BTCUSDT', 'cross', 'pair'],
          ],
        );
        const silos = await h.ok<Box[]>('GET', '/api/v1/silos', 'alice');
        for (const a of snap.data[0]!.alerts)
          assert.equal(
            a.marginRatio,
            silos.find((b) => b.id === a.box)!.marginRatio,
            `${a.box}: GET silos' ratio`,
          );

        // A BTC mark: the two boxes holding BTC, not the cross one; an ETH mark: the cross box alone.
        let before = h.service.alerts.evaluated;
        await mark(h, 'BTCUSDT', '20001');
        assert.equal(h.service.alerts.evaluated - before, 2);
        before = h.service.alerts.evaluated;
        await mark(h, 'ETHUSDT', '2001');
        assert.equal(h.service.alerts.evaluated - before, 1);
        // bob's orders and marks of a market alice does not hold cost nothing either.
        before = h.service.alerts.evaluated;
        await h.ok('POST', '/api/v1/orders', 'bob', {
          symbol: 'BTCUSDT',
          side: 'buy',
          type: 'limit',
          amount: '1',
          price: '15000',
        });
        assert.equal(h.service.alerts.evaluated - before, 0);

        // The cross box crosses its level when ETH falls: its alert names it.
        const r0 = Number((await boxOf(h, 'cross:USDT')).marginRatio);
        await h.ok('PUT', '/api/v1/alerts', 'alice', { levels: [(r0 * 2).toFixed(4)] });
        const at = await ratioMarks(h, 'cross:USDT', 'ETHUSDT', 2001, 1990, 0.01);
        const drop = at(r0 * 2.2);
        await mark(h, 'ETHUSDT', drop);
        const items = got.filter((m) => m.topic === 'alerts').flatMap((m) => m.data as Item[]);
        const up = items.filter((d) => d.type === 'marginAlert');
        assert.equal(up.length, 1, JSON.stringify(items));
        assert.equal(up[0]!.box, 'cross:USDT');
        assert.equal(up[0]!.symbol, 'ETHUSDT');
        assert.equal(up[0]!.marginMode, 'cross');
        assert.equal(up[0]!.direction, 'up');

        // The last subscriber leaves: alice is no longer followed, marks cost nothing again.
        h.service.hub.unsubscribe(key, s);
        h.service.alerts.unwatch('alice');
        before = h.service.alerts.evaluated;
        await mark(h, 'ETHUSDT', '2000');
        await mark(h, 'BTCUSDT', '20000');
        assert.equal(h.service.alerts.evaluated - before, 0);
      } finally {
        await h.cleanup();
      }
    },
  );

  test('a socket that subscribes is followed; when it closes, no longer', T, async () => {
    const h = await open();
    try {
      const url = await h.listen();
      await trade(h, 'alice', 'BTCUSDT', 'buy', '0.1', '20000');
      const ws = await login(h, url);
      assert.equal((await ws.request('subscribe', ['alerts'])).success, true);
      assert.equal(h.service.alerts.isWatched('alice'), true);
      const before = h.service.alerts.evaluated;
      await mark(h, 'BTCUSDT', '19999');
      assert.equal(h.service.alerts.evaluated - before, 1);
      assert.equal((await ws.request('unsubscribe', ['alerts'])).success, true);
      assert.equal(h.service.alerts.isWatched('alice'), false);
      assert.equal((await ws.request('subscribe', ['alerts'])).success, true);
      ws.terminate();
      const deadline = Date.now() + 3_000;
      while (h.service.alerts.isWatched('alice') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(h.service.alerts.isWatched('alice'), false, 'a closed socket stops the following');
    } finally {
      await h.cleanup();
    }
  });

  test(
    'levels: GET answers the default; PUT refuses bad levels (and changes nothing); scopes',
    T,
    async () => {
      const h = await open();
      try {
        const get = () => h.ok<{ levels: string[] }>('GET', '/api/v1/alerts', 'alice');
        assert.deepEqual((await get()).levels, ['0.5', '0.8', '0.9']);
        for (const levels of [
          [],
          ['0.8', '0.5'],
          ['0.5', '0.5'],
          ['1.5'],
          ['0'],
          ['0.1', '0.2', '0.3', '0.4', '0.5', '0.6'],
          ['abc'],
          ['0.12345678901'],
        ]) {
          const r = await h.call<ErrorJson>('PUT', '/api/v1/alerts', { levels }, { as: 'alice' });
          assert.equal(r.status, 400, `${JSON.stringify(levels)} → ${r.text}`);
          assert.equal(r.json.code, 'INVALID_REQUEST');
        }
        assert.deepEqual((await get()).levels, ['0.5', '0.8', '0.9'], 'refusals changed nothing');
        assert.deepEqual(
          (await h.ok<Fields>('PUT', '/api/v1/alerts', 'alice', { levels: ['0.25', '1'] })).levels,
          ['0.25', '1'],
        );
        assert.deepEqual((await get()).levels, ['0.25', '1']);
        assert.deepEqual(
          (await h.ok<{ levels: string[] }>('GET', '/api/v1/alerts', 'bob')).levels,
          ['0.5', '0.8', '0.9'],
          'per account',
        );
        // An admin names the account.
        assert.deepEqual(
          (await h.ok<{ levels: string[] }>('GET', '/api/v1/alerts?account=alice', 'admin')).levels,
          ['0.25', '1'],
        );
        assert.equal(
          (await h.call('PUT', '/api/v1/alerts', { levels: ['0.5'] }, { as: 'aliceRead' })).status,
          403,
        );
        assert.equal((await h.call('GET', '/api/v1/alerts', undefined, { as: 'aliceTrade' })).status, 403);
        assert.equal((await h.call('GET', '/api/v1/alerts')).status, 401);
        assert.equal(
          (await h.call('PUT', '/api/v1/alerts', { levels: ['0.5'], account: 'bob' }, { as: 'alice' }))
            .status,
          403,
        );
      } finally {
        await h.cleanup();
      }
    },
  );

  test('config: alerts.levels and alerts.hysteresis are validated; history.candles and insurancePerAsset bounded', () => {
    const load = (overrides: object) => loadConfig({ env: {}, overrides: overrides as never });
    assert.deepEqual(load({}).alerts, { levels: ['0.5', '0.8', '0.9'], hysteresis: '0.02' });
    assert.equal(load({}).history.candles, 1_000);
    assert.equal(load({}).history.insurancePerAsset, 1_000);
    assert.deepEqual(load({ alerts: { levels: ['0.7'] } }).alerts.levels, ['0.7']);
    assert.throws(
      () => load({ alerts: { levels: ['0.8', '0.5'] } }),
      (e) => e instanceof ConfigError && /alerts\.levels\[1\].*increasing/.test(e.message),
    );
    assert.throws(() => load({ alerts: { levels: ['1.2'] } }), ConfigError);
    assert.throws(() => load({ alerts: { levels: [] } }), ConfigError);
    assert.throws(() => load({ alerts: { hysteresis: '0.6' } }), /alerts\.hysteresis/);
    assert.throws(() => load({ alerts: { level: ['0.5'] } }), /level/);
    assert.throws(() => load({ history: { candles: 0 } }), ConfigError);
    assert.throws(() => load({ history: { insurancePerAsset: 1_000_000 } }), ConfigError);
  });
});
