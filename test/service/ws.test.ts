/**
 * Through a real socket (port 0): REST over HTTP, the WebSocket streams (public book/trades/mark; private orders,
 * fills, positions, liquidations), signed login, WebSocket order entry, backpressure (a stalled client is dropped,
 * the engine keeps going), rate limits on WebSocket messages, and graceful shutdown.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sign, signedHeaders } from '../../src/service/auth.ts';
import { type Running, startServer } from '../../src/service/serve.ts';
import {
  type BalancesJson,
  BTCUSDT,
  Clock,
  type ErrorJson,
  type Fields,
  KEYS,
  type KeyName,
  type MarketJson,
  type OrderBookJson,
  type OrderResult,
  tempDir,
  testConfig,
} from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

let lastTs = 0;
const ts = () => {
  lastTs = Math.max(Date.now(), lastTs + 1);
  return lastTs;
};

class Http {
  constructor(readonly base: string) {}
  async call<T = ErrorJson>(
    method: string,
    path: string,
    as?: KeyName,
    body?: unknown,
  ): Promise<{ status: number; json: T }> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (as) Object.assign(headers, signedHeaders(KEYS[as].key, KEYS[as].secret, method, path, text, ts()));
    const r = await fetch(this.base + path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: text }),
    });
    return { status: r.status, json: (await r.json()) as T };
  }
  async ok<T = Fields>(method: string, path: string, as?: KeyName, body?: unknown): Promise<T> {
    const r = await this.call<T>(method, path, as, body);
    if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  }
}

function loginArgs(as: KeyName, timestamp = ts()) {
  return { key: KEYS[as].key, timestamp, signature: sign(KEYS[as].secret, timestamp, 'GET', '/ws') };
}

/** Applies order-book deltas to a snapshot (price → size; "0" removes). */
function applyBook(book: Map<string, string>, levels: [string, string][]): void {
  for (const [p, s] of levels) {
    if (s === '0') book.delete(p);
    else book.set(p, s);
  }
}

describe('over a real socket', () => {
  let run: Running;
  let http: Http;
  let wsUrl: string;
  const clients: WsTestClient[] = [];
  const td = tempDir();
  const connect = async () => {
    const c = await WsTestClient.connect(wsUrl);
    clients.push(c);
    return c;
  };

  before(async () => {
    run = await startServer(
      testConfig(td.dir, { ws: { ...testConfig(td.dir).ws, maxBufferedBytes: 64 * 1024 } }),
    );
    http = new Http(run.url);
    wsUrl = `${run.url.replace('http', 'ws')}/ws`;
    await http.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
    await http.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '60000' });
    for (const account of ['alice', 'bob'])
      await http.ok('POST', '/api/v1/admin/deposit', 'admin', { account, asset: 'USDT', amount: '100000' });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    await run.close();
    td.cleanup();
  });

  test('REST over HTTP: public and signed requests, errors in the same shape', async () => {
    const markets = await http.ok<MarketJson[]>('GET', '/api/v1/markets');
    assert.equal(markets[0]!.symbol, 'BTCUSDT');
    const bal = await http.ok<BalancesJson>('GET', '/api/v1/balance', 'alice');
    assert.deepEqual(bal.free, { USDT: '100000' });
    const r = await http.call('POST', '/api/v1/orders', 'alice', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      amount: '0.1',
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'INVALID_REQUEST');
    const raw = await fetch(`${run.url}/api/v1/calc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"positions":',
    });
    assert.equal(raw.status, 400);
    assert.equal(((await raw.json()) as { code: string }).code, 'INVALID_JSON');
  });

  test('public streams: book snapshot then deltas that rebuild the book, trades, mark', async () => {
    const c = await connect();
    const sub = await c.request('subscribe', ['orderbook.BTCUSDT', 'trades.BTCUSDT', 'mark.BTCUSDT']);
    assert.equal(sub.success, true);
    const snap = await c.next((m) => m.topic === 'orderbook.BTCUSDT' && m.type === 'snapshot');
    const bids = new Map<string, string>(snap.data.bids as [string, string][]);
    const asks = new Map<string, string>(snap.data.asks as [string, string][]);
    let seq = snap.seq;

    await http.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'limit',
      price: '60500',
      amount: '0.4',
    });
    await http.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '59500',
      amount: '0.3',
    });
    const taken = await http.ok<OrderResult>('POST', '/api/v1/orders', 'bob', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '60500',
      amount: '0.1',
    });
    await http.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '60100' });

    const trade = await c.next((m) => m.topic === 'trades.BTCUSDT');
    assert.deepEqual(
      { side: trade.data[0]!.side, price: trade.data[0]!.price, amount: trade.data[0]!.amount },
      { side: 'buy', price: '60500', amount: '0.1' },
    );
    assert.equal(trade.seq, taken.seq);
    assert.equal(JSON.stringify(trade).includes('alice'), false, 'no account ids in public trades');
    const mark = await c.next((m) => m.topic === 'mark.BTCUSDT');
    assert.deepEqual(
      { type: mark.data[0]!.type, price: mark.data[0]!.price },
      { type: 'markPrice', price: '60100' },
    );

    const deltas = c.messages.filter((m) => m.topic === 'orderbook.BTCUSDT' && m.type === 'delta');
    assert.equal(deltas.length, 3);
    for (const d of deltas) {
      assert.ok(d.seq > seq, 'deltas follow the snapshot in seq order');
      seq = d.seq;
      applyBook(bids, d.data.bids as [string, string][]);
      applyBook(asks, d.data.asks as [string, string][]);
    }
    const rest = await http.ok<OrderBookJson>('GET', '/api/v1/orderbook/BTCUSDT');
    assert.deepEqual([...bids], rest.bids);
    assert.deepEqual([...asks], rest.asks);
    assert.deepEqual(rest.asks, [['60500', '0.3']]);
  });

  test('subscription errors: unknown topic or market, private without login', async () => {
    const c = await connect();
    for (const [topics, code] of [
      [['orderbook.NOPE'], 'UNKNOWN_MARKET'],
      [['orderbook'], 'UNKNOWN_MARKET'],
      [['candles.BTCUSDT'], 'INVALID_REQUEST'],
      [['orders'], 'UNAUTHORIZED'],
      ['orders', 'INVALID_REQUEST'],
    ] as const) {
      const r = await c.request('subscribe', topics);
      assert.equal(r.success, false);
      assert.equal(r.error.code, code, JSON.stringify(r));
    }
    c.send('{nope');
    assert.equal((await c.next((m) => m.error?.code === 'INVALID_JSON')).success, false);
    c.send({ op: 'subscribe', args: ['trades.BTCUSDT'], extra: 1 });
    assert.equal(
      (await c.next((m) => m.error?.code === 'INVALID_REQUEST' && m.id === undefined)).success,
      false,
    );
    const unknown = await c.request('teleport');
    assert.equal(unknown.error.code, 'INVALID_REQUEST');
    assert.equal((await c.request('ping')).success, true);
  });

  test('login: tampered, expired and replayed logins are refused', async () => {
    const c = await connect();
    const good = loginArgs('alice');
    const tampered = { ...good, signature: sign(KEYS.alice.secret, good.timestamp, 'GET', '/wss') };
    assert.equal((await c.request('login', tampered)).error.code, 'UNAUTHORIZED');
    const old = Date.now() - 60_000;
    assert.equal((await c.request('login', loginArgs('alice', old))).error.code, 'UNAUTHORIZED');
    assert.equal((await c.request('login', { ...good, key: KEYS.bob.key })).error.code, 'UNAUTHORIZED');
    const ok = await c.request('login', good);
    assert.equal(ok.success, true);
    assert.equal(ok.data.account, 'alice');
    const c2 = await connect();
    assert.equal((await c2.request('login', good)).error.code, 'UNAUTHORIZED', 'a login cannot be replayed');
  });

  test('private streams reach only their account; another account’s topic is forbidden', async () => {
    const alice = await connect();
    const bob = await connect();
    await alice.request('login', loginArgs('alice'));
    await bob.request('login', loginArgs('bob'));
    const topics = ['orders', 'fills', 'positions', 'marginCalls', 'liquidations'];
    assert.equal((await alice.request('subscribe', topics)).success, true);
    assert.equal((await bob.request('subscribe', ['orders', 'fills'])).success, true);
    assert.equal((await alice.request('subscribe', ['orders.bob'])).error.code, 'FORBIDDEN');

    const resting = await http.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'limit',
      price: '60200',
      amount: '0.2',
    });
    await http.ok<OrderResult>('POST', '/api/v1/orders', 'bob', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '60200',
      amount: '0.2',
    });

    const accepted = await alice.next(
      (m) =>
        m.topic === 'orders' && m.data.some((d) => d.type === 'orderAccepted' && d.orderId === resting.id),
    );
    assert.equal(accepted.seq, resting.seq);
    const fill = await alice.next((m) => m.topic === 'fills');
    assert.deepEqual(
      { orderId: fill.data[0]!.orderId, takerOrMaker: fill.data[0]!.takerOrMaker, side: fill.data[0]!.side },
      { orderId: resting.id, takerOrMaker: 'maker', side: 'sell' },
    );
    const filled = await alice.next(
      (m) => m.topic === 'orders' && m.data.some((d) => d.type === 'orderFilled'),
    );
    assert.ok(filled);
    const pos = await alice.next((m) => m.topic === 'positions' && m.data.some((d) => d.type === 'position'));
    assert.equal(pos.data.find((d) => d.type === 'position')!.account, 'alice');
    const bobFill = await bob.next((m) => m.topic === 'fills');
    assert.equal(bobFill.data[0]!.takerOrMaker, 'taker');
    // Nothing of bob's reached alice, nothing of alice's reached bob.
    for (const m of alice.messages.filter((x) => x.topic && x.topic !== 'fills')) {
      for (const d of m.data ?? [])
        if (d.account !== undefined) assert.equal(d.account, 'alice', JSON.stringify(d));
    }
    for (const m of bob.messages.filter((x) => x.topic === 'orders')) {
      for (const d of m.data) if (d.account !== undefined) assert.equal(d.account, 'bob');
    }
    // Admin keys may watch any account.
    const admin = await connect();
    await admin.request('login', loginArgs('admin'));
    assert.equal((await admin.request('subscribe', ['orders.bob'])).success, true);
  });

  test('cancel-all for an account that never funded: nothing to cancel, the same answer over WebSocket and REST', async () => {
    const admin = await connect();
    await admin.request('login', loginArgs('admin'));
    const ws = await admin.request('order.cancelAll', { account: 'nobody' });
    assert.equal(ws.success, true, JSON.stringify(ws));
    assert.deepEqual(ws.data.canceled, []);
    const rest = await http.ok<{ canceled: unknown[] }>('DELETE', '/api/v1/orders?account=nobody', 'admin');
    assert.deepEqual(rest.canceled, []);
  });

  test('order entry over the WebSocket', async () => {
    const c = await connect();
    assert.equal(
      (
        await c.request('order.place', {
          symbol: 'BTCUSDT',
          side: 'buy',
          type: 'limit',
          price: '59000',
          amount: '0.1',
        })
      ).error.code,
      'UNAUTHORIZED',
    );
    await c.request('login', loginArgs('alice'));
    const placed = await c.request('order.place', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '59000',
      amount: '0.1',
      clientOrderId: 'ws-1',
    });
    assert.equal(placed.success, true, JSON.stringify(placed));
    assert.equal(placed.data.status, 'open');
    const id = placed.data.id;
    const amended = await c.request('order.amend', { orderId: id, price: '59100' });
    assert.equal(amended.success, true, JSON.stringify(amended));
    // The same answers as REST (one implementation behind both).
    assert.deepEqual(
      { status: amended.data.status, price: amended.data.price, remaining: amended.data.remaining },
      { status: 'open', price: '59100', remaining: '0.1' },
    );
    const canceled = await c.request('order.cancel', { orderId: id });
    assert.equal(canceled.data.status, 'canceled');
    assert.equal(canceled.data.remaining, '0.1');
    assert.equal((await c.request('order.cancel', { orderId: id })).error.code, 'UNKNOWN_ORDER');
    const bad = await c.request('order.place', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '59000.05',
      amount: '0.1',
    });
    assert.equal(bad.error.code, 'INVALID_PRICE');
    const extra = await c.request('order.place', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '59000',
      amount: '0.1',
      foo: 1,
    });
    assert.equal(extra.error.code, 'INVALID_REQUEST');
    await c.request('order.place', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '58000',
      amount: '0.1',
    });
    const all = await c.request('order.cancelAll', { symbol: 'BTCUSDT' });
    const list = all.data.canceled as Record<string, unknown>[];
    assert.ok(list.length >= 1);
    assert.deepEqual(Object.keys(list[0]!).sort(), ['id', 'remaining', 'seq', 'status', 'symbol']);
    // Another account's order cannot be touched.
    const bobs = await http.ok<OrderResult>('POST', '/api/v1/orders', 'bob', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '58500',
      amount: '0.1',
    });
    assert.equal((await c.request('order.cancel', { orderId: bobs.id })).error.code, 'UNKNOWN_ORDER');
    assert.equal(
      (await c.request('order.cancel', { orderId: bobs.id, account: 'bob' })).error.code,
      'FORBIDDEN',
    );
    // A read-only key cannot trade.
    const ro = await connect();
    await ro.request('login', loginArgs('aliceRead'));
    assert.equal(
      (
        await ro.request('order.place', {
          symbol: 'BTCUSDT',
          side: 'buy',
          type: 'limit',
          price: '59000',
          amount: '0.1',
        })
      ).error.code,
      'FORBIDDEN',
    );
  });

  test('a stalled client is dropped; the engine and other clients carry on', async () => {
    const slow = await connect();
    const fast = await connect();
    await slow.request('subscribe', ['trades.BTCUSDT']);
    await fast.request('subscribe', ['mark.BTCUSDT']);
    // The client stops reading: its kernel buffers fill, then the server-side buffer grows past the bound.
    const sock = (slow.ws as unknown as { _socket: { pause(): void } })._socket;
    sock.pause();
    const payload = 'x'.repeat(256 * 1024);
    const dropsBefore = await dropped();
    let slowest = 0;
    let drops = dropsBefore;
    for (let i = 0; i < 200 && drops === dropsBefore; i++) {
      const t0 = performance.now();
      run.service.hub.publish('trades.BTCUSDT', () => ({ topic: 'trades.BTCUSDT', pad: payload }));
      slowest = Math.max(slowest, performance.now() - t0);
      // One message per event-loop turn, as commits arrive: healthy readers drain between them.
      await new Promise((r) => setImmediate(r));
      drops = run.service.metrics ? await dropped() : 0;
    }
    assert.ok(slowest < 100, `publishing never waits for a socket (slowest ${slowest.toFixed(1)} ms)`);
    assert.equal(drops, dropsBefore + 1, 'the slow client (and only it) was dropped');
    assert.equal(fast.closed, null);
    // The engine still answers, and the healthy client still gets its stream.
    const t1 = performance.now();
    await http.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '60050' });
    assert.ok(performance.now() - t1 < 1_000);
    const m = await fast.next((x) => x.topic === 'mark.BTCUSDT' && x.data[0]!.price === '60050');
    assert.ok(m);
    const health = await http.ok('GET', '/health');
    assert.equal(health.status, 'ok');
  });

  async function dropped(): Promise<number> {
    const text = await (await fetch(`${run.url}/metrics`)).text();
    const m = /ringfence_ws_dropped_total\{reason="slow"\} (\d+)/.exec(text);
    return m ? Number(m[1]) : 0;
  }
});

describe('graceful shutdown', () => {
  test('WebSocket clients are told, in-flight commands commit, the journal closes', async () => {
    const td = tempDir();
    const run = await startServer(testConfig(td.dir));
    try {
      const http = new Http(run.url);
      await http.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
      const c = await WsTestClient.connect(`${run.url.replace('http', 'ws')}/ws`);
      await c.request('subscribe', ['trades.BTCUSDT']);
      // A write in flight while shutdown starts still completes and is durable.
      const inflight = http.call<{ seq: number }>('POST', '/api/v1/admin/deposit', 'admin', {
        account: 'zed',
        asset: 'USDT',
        amount: '5',
      });
      await new Promise((r) => setTimeout(r, 20));
      await run.close();
      const closed = await c.waitClosed();
      assert.equal(closed.code, 1001);
      const r = await inflight;
      assert.equal(r.status, 200);
      await assert.rejects(fetch(`${run.url}/health`));
      const { SqliteJournalStore } = await import('../../src/journal/sqlite.ts');
      const store = new SqliteJournalStore(testConfig(td.dir).journalUrl, { readonly: true });
      assert.equal(store.lastSeq(), r.json.seq);
      store.close();
    } finally {
      await run.close();
      td.cleanup();
    }
  });
});

describe('WebSocket rate limits', () => {
  /** Resolves once `c` has received `n` messages in all. */
  async function received(c: WsTestClient, n: number): Promise<void> {
    const t0 = Date.now();
    while (c.messages.length < n) {
      if (Date.now() - t0 > 3_000) throw new Error(`${c.messages.length} of ${n} messages`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const codes = (c: WsTestClient) =>
    c.messages.map((m) => (m.success === false ? m.error.code : `${m.op} ok`));

  test('messages are charged before parsing, to one bucket per IP across its connections, then to the key', async () => {
    const td = tempDir();
    const clock = new Clock();
    const burst = 12;
    const run = await startServer(testConfig(td.dir, { publicRateLimit: { burst, perSecond: 1 } }), {
      now: clock.now,
    });
    const clients: WsTestClient[] = [];
    try {
      const url = `${run.url.replace('http', 'ws')}/ws`;
      for (let i = 0; i < 3; i++) clients.push(await WsTestClient.connect(url));
      const [trader, junk, pinger] = clients as [WsTestClient, WsTestClient, WsTestClient];
      assert.equal((await trader.request('login', loginArgs('alice'))).success, true);
      // Two more connections from the same address: malformed messages and pings, 30 each.
      for (let i = 0; i < 30; i++) {
        junk.send('{nope');
        pinger.send({ op: 'ping' });
      }
      await received(junk, 30);
      await received(pinger, 30);
      const served = [...codes(junk), ...codes(pinger)].filter((c) => c !== 'RATE_LIMITED');
      // One bucket for the address (which also paid for the upgrades and the login), not one per connection.
      assert.ok(served.length <= burst - 1, `${served.length} served: ${served.join(', ')}`);
      assert.ok(codes(junk).includes('INVALID_JSON'));
      assert.ok(codes(junk).includes('RATE_LIMITED'), 'malformed messages are limited too');
      assert.ok(codes(pinger).includes('RATE_LIMITED'));
      const limited = junk.messages.find((m) => m.error?.code === 'RATE_LIMITED')!;
      assert.equal(limited.op, 'error');
      assert.match(limited.error.message, /rate limit exceeded/);
      // The logged-in connection pays from its key's bucket, untouched by the address's.
      assert.equal((await trader.request('ping')).success, true);
      assert.equal((await trader.request('subscribe', ['orders'])).success, true);
      // Refilled, the address is served again.
      clock.advance(burst * 1_000);
      assert.equal((await pinger.request('ping')).success, true);
    } finally {
      for (const c of clients) c.terminate();
      await run.close();
      td.cleanup();
    }
  });
});
