/**
 * The shard router (src/service/shard) in front of two real shards — ordinary services on temp SQLite journals, one
 * owning BTC*, the other ETH* — over real sockets: orders routed by their market, explicit `x-rf-shard`, unknown
 * markets, writes that name no shard, aggregated balances and lists, the WebSocket book relayed per shard, a follower's
 * 307 and a refused URL on the way to a leader, cross-shard transfers through the router (settled, reverted by the
 * target, a retry a duplicate), and a shard down (503 naming it, partial aggregates, a transfer to it held and
 * finished by the resume loop once it is back).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ringfence } from '../../clients/ccxt/src/ringfence.ts';
import { RingfenceClient } from '../../src/client/client.ts';
import { sign, signedHeaders } from '../../src/service/auth.ts';
import { type Running, startServer } from '../../src/service/serve.ts';
import { type RunningRouter, startRouter } from '../../src/service/shard/router.ts';
import { type RouterConfig, routerConfig } from '../../src/service/shard/router-config.ts';
import { ETHUSDT } from '../engine/harness.ts';
import { BTCUSDT, type Fields, KEYS, type KeyName, nextTs, tempDir, testConfig } from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

const T = { timeout: 30_000 };
const ROUTER_KEY = { key: 'router-key-1', secret: 'router-secret-0123456789abcdef0123456789' };

interface Res {
  status: number;
  json: Fields & Fields[];
  headers: Headers;
}

/** A request to `base` (signed as `as` when given), with a 5 s deadline. */
async function call(
  base: string,
  method: string,
  path: string,
  o: { as?: KeyName; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Res> {
  const text = o.body === undefined ? '' : JSON.stringify(o.body);
  const headers: Record<string, string> = o.body === undefined ? {} : { 'content-type': 'application/json' };
  if (o.as)
    Object.assign(headers, signedHeaders(KEYS[o.as].key, KEYS[o.as].secret, method, path, text, nextTs()));
  Object.assign(headers, o.headers ?? {});
  const r = await fetch(base + path, {
    method,
    headers,
    ...(o.body === undefined ? {} : { body: text }),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: r.status, json: (await r.json()) as Fields & Fields[], headers: r.headers };
}

async function ok(
  base: string,
  method: string,
  path: string,
  o: Parameters<typeof call>[3] = {},
): Promise<Res> {
  const r = await call(base, method, path, o);
  assert.equal(r.status, 200, `${method} ${path} → ${r.status} ${JSON.stringify(r.json)}`);
  return r;
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A stand-in follower: every HTTP request is answered 307 to the leader, as server.ts does on a standby. */
async function fakeFollower(leader: string): Promise<{ url: string; server: Server; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    res.writeHead(307, { location: leader + req.url, 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'NOT_LEADER', message: 'standby' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits: () => hits };
}

/** A shard's service config: the test keys and the router's admin key, its name and markets. */
function shardConfig(dir: string, name: string, markets: string[], port: number) {
  return testConfig(dir, {
    port,
    keys: [...Object.values(KEYS), { ...ROUTER_KEY, scopes: ['admin'] }],
    shard: { name, markets },
  });
}

/** Polls until `check` holds (every 100 ms, at most `ms`). */
async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function loginArgs(as: KeyName) {
  const timestamp = nextTs();
  return { key: KEYS[as].key, timestamp, signature: sign(KEYS[as].secret, timestamp, 'GET', '/ws') };
}

describe('shard router', () => {
  const dirs: (() => void)[] = [];
  let ethDir = '';
  let btc: Running;
  let eth: Running;
  let router: RunningRouter;
  let follower: Awaited<ReturnType<typeof fakeFollower>>;
  let base: string;

  before(async () => {
    const open = async (name: string, markets: string[]) => {
      const d = tempDir();
      dirs.push(d.cleanup);
      if (name === 'eth') ethDir = d.dir;
      return startServer(shardConfig(d.dir, name, markets, 0));
    };
    btc = await open('btc', ['BTC*']);
    eth = await open('eth', ['ETH*']);
    follower = await fakeFollower(btc.url);
    const cfg: RouterConfig = routerConfig({
      host: '127.0.0.1',
      port: 0,
      shards: [
        // A dead URL, then a standby, then the leader: the router reaches the leader through both.
        {
          name: 'btc',
          urls: [`http://127.0.0.1:${await deadPort()}`, follower.url, btc.url],
          markets: ['BTC*'],
        },
        { name: 'eth', urls: [eth.url], markets: ['ETH*'] },
      ],
      key: ROUTER_KEY,
      requestTimeoutMs: 3_000,
    });
    router = await startRouter(cfg);
    base = router.url;
    // Markets are created through the router: the body's symbol picks the shard.
    await ok(base, 'POST', '/api/v1/admin/markets', { as: 'admin', body: BTCUSDT });
    await ok(base, 'POST', '/api/v1/admin/markets', { as: 'admin', body: ETHUSDT });
    await ok(base, 'POST', '/api/v1/admin/mark-price', {
      as: 'admin',
      body: { symbol: 'BTCUSDT', price: '60000' },
    });
    await ok(base, 'POST', '/api/v1/admin/mark-price', {
      as: 'admin',
      body: { symbol: 'ETHUSDT', price: '3000' },
    });
    for (const [shard, amount] of [
      ['btc', '100000'],
      ['eth', '50000'],
    ] as const)
      for (const account of ['alice', 'bob'])
        await ok(base, 'POST', '/api/v1/admin/deposit', {
          as: 'admin',
          body: { account, asset: 'USDT', amount },
          headers: { 'x-rf-shard': shard },
        });
  });

  after(async () => {
    await router?.close();
    await new Promise<void>((r) => (follower ? follower.server.close(() => r()) : r()));
    await btc?.close();
    await eth?.close();
    for (const c of dirs) c();
  });

  test('markets live on their own shard; the router lists both, each tagged', T, async () => {
    const onBtc = await ok(btc.url, 'GET', '/api/v1/markets');
    const onEth = await ok(eth.url, 'GET', '/api/v1/markets');
    assert.deepEqual(
      onBtc.json.map((m) => m.symbol),
      ['BTCUSDT'],
      'BTCUSDT created on the btc shard only',
    );
    assert.deepEqual(
      onEth.json.map((m) => m.symbol),
      ['ETHUSDT'],
      'ETHUSDT created on the eth shard only',
    );
    const all = await ok(base, 'GET', '/api/v1/markets');
    assert.deepEqual(
      all.json.map((m) => [m.symbol, m.shard]),
      [
        ['BTCUSDT', 'btc'],
        ['ETHUSDT', 'eth'],
      ],
      'merged markets, tagged',
    );
    const t = await ok(base, 'GET', '/api/v1/tickers/ETHUSDT');
    assert.equal(t.headers.get('x-rf-shard'), 'eth', 'a ticker comes from its shard');
    assert.equal(t.json.markPrice, '3000', 'the eth shard’s mark');
    assert.ok(follower.hits() > 0, 'writes to btc went through the standby’s 307');
  });

  test('orders go to the shard of their symbol; reads without one are merged', T, async () => {
    const b = await ok(base, 'POST', '/api/v1/orders', {
      as: 'alice',
      body: { symbol: 'BTCUSDT', side: 'buy', type: 'limit', price: '59000', amount: '0.1' },
    });
    assert.equal(b.headers.get('x-rf-shard'), 'btc', 'BTCUSDT → btc');
    const e = await ok(base, 'POST', '/api/v1/orders', {
      as: 'alice',
      body: { symbol: 'ETHUSDT', side: 'buy', type: 'limit', price: '2900', amount: '1' },
    });
    assert.equal(e.headers.get('x-rf-shard'), 'eth', 'ETHUSDT → eth');
    // Each shard holds only its own order.
    const onEth = await ok(eth.url, 'GET', '/api/v1/orders', { as: 'alice' });
    assert.deepEqual(
      onEth.json.map((o) => o.symbol),
      ['ETHUSDT'],
      'the eth shard has the ETH order only',
    );
    // Through the router: both, tagged.
    const all = await ok(base, 'GET', '/api/v1/orders', { as: 'alice' });
    assert.deepEqual(
      all.json.map((o) => [o.symbol, o.shard]).sort(),
      [
        ['BTCUSDT', 'btc'],
        ['ETHUSDT', 'eth'],
      ],
      'open orders of both shards',
    );
    assert.equal(all.headers.get('x-rf-partial'), null, 'every shard answered');
    // A symbol in the query routes the read to one shard.
    const one = await ok(base, 'GET', '/api/v1/orders?symbol=ETHUSDT', { as: 'alice' });
    assert.deepEqual(
      [one.json.length, one.headers.get('x-rf-shard')],
      [1, 'eth'],
      'symbol query → one shard',
    );
    // Cancel by id: ids are per shard, so the symbol (or the shard) says where.
    const id = e.json.id as string;
    const noWhere = await call(base, 'DELETE', `/api/v1/orders/${id}`, { as: 'alice' });
    assert.deepEqual(
      [noWhere.status, noWhere.json.code],
      [400, 'SHARD_REQUIRED'],
      'a cancel without a symbol',
    );
    assert.match(String(noWhere.json.message), /x-rf-shard/, 'the message names the header');
    const canceled = await ok(base, 'DELETE', `/api/v1/orders/${id}`, {
      as: 'alice',
      headers: { 'x-rf-shard': 'eth' },
    });
    assert.equal(canceled.json.status, 'canceled', 'canceled on the shard named');
  });

  test('balances: totals per asset and the per-shard breakdown', T, async () => {
    const r = await ok(base, 'GET', '/api/v1/balance', { as: 'bob' });
    assert.equal(r.json.account, 'bob', 'the account');
    assert.deepEqual(r.json.total, { USDT: '150000' }, '100000 on btc + 50000 on eth');
    const shards = r.json.shards as Record<string, { asset: string; total: string }[]>;
    assert.deepEqual(
      Object.fromEntries(Object.entries(shards).map(([s, rows]) => [s, rows.map((x) => x.total)])),
      { btc: ['100000'], eth: ['50000'] },
      'each shard’s own balance',
    );
    assert.deepEqual(r.json.partial, [], 'nothing missing');
  });

  test('explicit shard, unknown market, unknown shard, cross-shard combo, signed ?shard', T, async () => {
    const explicit = await ok(base, 'GET', '/api/v1/positions', {
      as: 'alice',
      headers: { 'x-rf-shard': 'btc' },
    });
    assert.equal(explicit.headers.get('x-rf-shard'), 'btc', 'the header wins');
    const pub = await ok(base, 'GET', '/api/v1/insurance?shard=eth');
    assert.equal(pub.headers.get('x-rf-shard'), 'eth', 'an unsigned request may name its shard in the query');
    const unknown = await call(base, 'POST', '/api/v1/orders', {
      as: 'alice',
      body: { symbol: 'SOLUSDT', side: 'buy', type: 'limit', price: '100', amount: '1' },
    });
    assert.deepEqual([unknown.status, unknown.json.code], [404, 'UNKNOWN_MARKET'], 'no shard owns SOLUSDT');
    assert.match(String(unknown.json.message), /SOLUSDT/, 'the message names the market');
    const noShard = await call(base, 'GET', '/api/v1/orders', {
      as: 'alice',
      headers: { 'x-rf-shard': 'sol' },
    });
    assert.deepEqual([noShard.status, noShard.json.code], [404, 'UNKNOWN_SHARD'], 'an unknown shard name');
    const combo = await call(base, 'POST', '/api/v1/combo', {
      as: 'alice',
      body: {
        silo: 's1',
        legs: [
          { symbol: 'BTCUSDT', side: 'buy', size: '0.1', price: '61000' },
          { symbol: 'ETHUSDT', side: 'sell', size: '1', price: '2900' },
        ],
      },
    });
    assert.deepEqual([combo.status, combo.json.code], [400, 'CROSS_SHARD_COMBO'], 'legs in two shards');
    const deposit = await call(base, 'POST', '/api/v1/admin/deposit', {
      as: 'admin',
      body: { account: 'alice', asset: 'USDT', amount: '1' },
    });
    assert.deepEqual(
      [deposit.status, deposit.json.code],
      [400, 'SHARD_REQUIRED'],
      'a deposit names no market',
    );
    const signedQuery = await call(base, 'GET', '/api/v1/orders?shard=btc', { as: 'alice' });
    assert.deepEqual([signedQuery.status, signedQuery.json.code], [400, 'INVALID_REQUEST'], 'signed ?shard');
    // The shard verifies the signature: a tampered one is refused there, relayed as is.
    const forged = await call(base, 'GET', '/api/v1/balance', {
      headers: {
        'x-rf-key': KEYS.alice.key,
        'x-rf-timestamp': String(Date.now()),
        'x-rf-signature': 'ab'.repeat(32),
      },
    });
    assert.deepEqual(
      [forged.status, forged.json.code],
      [401, 'UNAUTHORIZED'],
      'a bad signature, refused by a shard',
    );
    const me = await ok(base, 'GET', '/api/v1/me', { as: 'alice' });
    assert.equal(me.json.account, 'alice', 'GET me from any shard');
  });

  test(
    'WebSocket: a login on every shard, each book from its own shard, deltas relayed with the shard',
    T,
    async () => {
      const ws = await WsTestClient.connect(`${base.replace(/^http/, 'ws')}/ws`);
      try {
        const login = await ws.request('login', loginArgs('bob'));
        assert.equal(login.success, true, `login: ${JSON.stringify(login)}`);
        assert.deepEqual((login.data as Fields).shards, ['btc', 'eth'], 'logged in on both shards');
        const sub = await ws.request('subscribe', ['orderbook.BTCUSDT', 'orderbook.ETHUSDT', 'orders']);
        assert.equal(sub.success, true, `subscribe: ${JSON.stringify(sub)}`);
        const snapBtc = await ws.next((m) => m.topic === 'orderbook.BTCUSDT' && m.type === 'snapshot');
        const snapEth = await ws.next((m) => m.topic === 'orderbook.ETHUSDT' && m.type === 'snapshot');
        assert.equal((snapBtc as unknown as Fields).shard, 'btc', 'the BTC book from btc');
        assert.equal((snapEth as unknown as Fields).shard, 'eth', 'the ETH book from eth');
        const bad = await ws.request('subscribe', ['orderbook.SOLUSDT']);
        assert.deepEqual([bad.success, bad.error.code], [false, 'UNKNOWN_MARKET'], 'no shard owns SOLUSDT');
        // An order entered over the router's socket lands on eth; its book delta and the private order event come back.
        const placed = await ws.request('order.place', {
          symbol: 'ETHUSDT',
          side: 'sell',
          type: 'limit',
          price: '3100',
          amount: '2',
        });
        assert.equal(placed.success, true, `order.place: ${JSON.stringify(placed)}`);
        assert.equal((placed as unknown as Fields).shard, 'eth', 'answered by eth');
        const delta = await ws.next((m) => m.topic === 'orderbook.ETHUSDT' && m.type === 'delta');
        assert.equal((delta as unknown as Fields).shard, 'eth', 'the delta from eth');
        const mine = await ws.next((m) => m.topic === 'orders' && (m as unknown as Fields).shard === 'eth');
        assert.ok(mine, 'the private orders stream relayed from eth');
        // An op naming no market goes to the shard the message names.
        const id = String((placed.data as Fields).id);
        const answer = ws.next((m) => m.id === 'get-1');
        ws.send({ op: 'order.get', id: 'get-1', shard: 'eth', args: { orderId: id } });
        const got = (await answer) as unknown as Fields;
        assert.deepEqual(
          [got.success, got.shard, (got.data as Fields).symbol],
          [true, 'eth', 'ETHUSDT'],
          `order.get on the shard named: ${JSON.stringify(got)}`,
        );
        const noSymbol = await ws.request('order.cancelAll', {});
        assert.deepEqual(
          [noSymbol.success, noSymbol.error.code],
          [false, 'SHARD_REQUIRED'],
          'cancelAll names no market',
        );
      } finally {
        ws.close();
      }
    },
  );

  test(
    'the typed client through the router: tickers of every shard, a request sent to a named shard',
    T,
    async () => {
      const alice = new RingfenceClient({ baseUrl: base, credentials: KEYS.alice, timeoutMs: 5_000 });
      const tickers = (await alice.tickers()) as unknown as Fields[];
      assert.deepEqual(
        tickers.map((t) => [t.symbol, t.shard, t.markPrice]),
        [
          ['BTCUSDT', 'btc', '60000'],
          ['ETHUSDT', 'eth', '3000'],
        ],
        'tickers merged',
      );
      const silos = (await alice.silos(undefined, { shard: 'eth' })) as unknown as Fields[];
      assert.ok(Array.isArray(silos), 'an account read sent to eth');
      assert.equal((await alice.ticker('BTCUSDT')).symbol, 'BTCUSDT', 'a market read routed by its symbol');
      // A cross-shard transfer through the client, there and back: each settled, both listed with their shard.
      const there = await alice.transfer({
        transferId: 'client-there',
        fromShard: 'btc',
        toShard: 'eth',
        asset: 'USDT',
        amount: '10',
      });
      const back = await alice.transfer({
        transferId: 'client-back',
        fromShard: 'eth',
        toShard: 'btc',
        asset: 'USDT',
        amount: '10',
      });
      assert.deepEqual([there.status, back.status], ['settled', 'settled'], 'both settled');
      const listed = (await alice.transfers()) as unknown as Fields[];
      const mine = listed.filter((t) => String(t.transferId).startsWith('client-'));
      assert.deepEqual(
        mine.map((t) => [t.transferId, t.shard, t.status]).sort(),
        [
          ['client-back', 'btc', 'credited'],
          ['client-back', 'eth', 'settled'],
          ['client-there', 'btc', 'settled'],
          ['client-there', 'eth', 'credited'],
        ],
        `each shard lists its side: ${JSON.stringify(mine)}`,
      );

      // ccxt's unified transfer: accounts are shard names; fetchTransfers shows each transfer once.
      const ex = new ringfence({
        apiKey: KEYS.alice.key,
        secret: KEYS.alice.secret,
        urls: { api: { rest: base } },
        timeout: 10_000,
      });
      const moved = await ex.transfer('USDT', 5, 'btc', 'eth', { transferId: 'ccxt-1' });
      assert.deepEqual(
        [moved.id, moved.status, moved.currency, moved.amount, moved.fromAccount, moved.toAccount],
        ['ccxt-1', 'ok', 'USDT', 5, 'btc', 'eth'],
        `ccxt transfer: ${JSON.stringify(moved)}`,
      );
      await ex.transfer('USDT', 5, 'eth', 'btc', { transferId: 'ccxt-2' }); // back: later tests count eth's USDT
      const history = await ex.fetchTransfers('USDT');
      assert.deepEqual(
        history.map((t) => [t.id, t.status, t.fromAccount]).filter(([id]) => String(id).startsWith('c')),
        [
          ['client-there', 'ok', 'btc'],
          ['client-back', 'ok', 'eth'],
          ['ccxt-1', 'ok', 'btc'],
          ['ccxt-2', 'ok', 'eth'],
        ],
        'each transfer once, oldest first',
      );
    },
  );

  test('GET /api/v1/shards: names, patterns, health', T, async () => {
    const r = await ok(base, 'GET', '/api/v1/shards');
    assert.deepEqual(
      r.json.map((s) => [s.name, s.markets, s.status, s.consistent]),
      [
        ['btc', ['BTC*'], 'ok', true],
        ['eth', ['ETH*'], 'ok', true],
      ],
      'both shards up, each saying it is the shard the router thinks',
    );
  });

  test(
    'cross-shard transfers: settled, a retry a duplicate, reverted when the target refuses',
    T,
    async () => {
      const totals = async () => {
        const b = await ok(base, 'GET', '/api/v1/balance', { as: 'bob' });
        const shards = b.json.shards as Record<string, { asset: string; total: string }[]>;
        return Object.fromEntries(
          Object.entries(shards).map(([s, rows]) => [s, rows.find((x) => x.asset === 'USDT')?.total]),
        );
      };
      assert.deepEqual(await totals(), { btc: '100000', eth: '50000' }, 'before');
      const body = {
        fromShard: 'btc',
        toShard: 'eth',
        asset: 'USDT',
        amount: '2500',
        transferId: 'tr-bob-1',
      };
      const t = await ok(base, 'POST', '/api/v1/transfers', { as: 'bob', body });
      assert.deepEqual(
        [t.json.transferId, t.json.status, t.json.account, t.headers.get('x-rf-shard')],
        ['tr-bob-1', 'settled', 'bob', 'btc'],
        `settled: ${JSON.stringify(t.json)}`,
      );
      assert.deepEqual(await totals(), { btc: '97500', eth: '52500' }, 'moved once');
      const again = await ok(base, 'POST', '/api/v1/transfers', { as: 'bob', body });
      assert.equal(again.json.status, 'settled', 'a retry answers the transfer’s state');
      assert.deepEqual(await totals(), { btc: '97500', eth: '52500' }, 'and moves nothing');
      const list = await ok(base, 'GET', '/api/v1/transfers', { as: 'bob' });
      assert.deepEqual(
        list.json.map((x) => [x.transferId, x.shard, x.status]).sort(),
        [
          ['tr-bob-1', 'btc', 'settled'],
          ['tr-bob-1', 'eth', 'credited'],
        ],
        'both sides, each from its shard',
      );
      const poor = await call(base, 'POST', '/api/v1/transfers', {
        as: 'bob',
        body: { ...body, amount: '1000000', transferId: 'tr-bob-2' },
      });
      assert.deepEqual(
        [poor.status, poor.json.code],
        [422, 'INSUFFICIENT_BALANCE'],
        'the source’s refusal relayed',
      );
      const wrong = await call(base, 'POST', '/api/v1/transfers', {
        as: 'bob',
        body: { ...body, transferId: 'tr-bob-3' },
        headers: { 'x-rf-shard': 'eth' },
      });
      assert.equal(wrong.status, 400, 'x-rf-shard naming another source');
      // BTC exists on btc (BTCUSDT's base) but not on eth: eth refuses it for good, so btc returns it.
      const dep = await call(base, 'POST', '/api/v1/admin/deposit', {
        as: 'admin',
        body: { account: 'bob', asset: 'BTC', amount: '1' },
        headers: { 'x-rf-shard': 'btc' },
      });
      if (dep.status === 200) {
        const r = await ok(base, 'POST', '/api/v1/transfers', {
          as: 'bob',
          body: { fromShard: 'btc', toShard: 'eth', asset: 'BTC', amount: '0.5', transferId: 'tr-bob-btc' },
        });
        assert.equal(r.json.status, 'reverted', `refused by the target: ${JSON.stringify(r.json)}`);
        const b = await ok(base, 'GET', '/api/v1/balance', { as: 'bob' });
        assert.equal((b.json.total as Record<string, string>).BTC, '1', 'the BTC is back on btc');
      }
    },
  );

  test(
    'a shard down: 503 naming it for its markets, partial aggregates, the other shard unaffected',
    T,
    async () => {
      const ws = await WsTestClient.connect(`${base.replace(/^http/, 'ws')}/ws`);
      await ws.request('subscribe', ['orderbook.ETHUSDT']);
      await eth.close();
      // The client's stream from eth is gone: the router closes its socket rather than leave it silently short.
      const closed = await ws.waitClosed(5_000);
      assert.match(closed.reason, /eth/, `closed naming the shard: ${JSON.stringify(closed)}`);

      const order = await call(base, 'POST', '/api/v1/orders', {
        as: 'alice',
        body: { symbol: 'ETHUSDT', side: 'buy', type: 'limit', price: '2900', amount: '1' },
      });
      assert.deepEqual(
        [order.status, order.json.code, order.json.shard],
        [503, 'SHARD_UNAVAILABLE', 'eth'],
        'eth down',
      );
      assert.match(String(order.json.message), /eth/, 'the message names it');
      const bal = await ok(base, 'GET', '/api/v1/balance', { as: 'bob' });
      assert.deepEqual(
        [bal.json.partial, bal.json.total],
        [['eth'], { USDT: '97500' }],
        'what btc said, eth missing',
      );
      const pos = await ok(base, 'GET', '/api/v1/orders', { as: 'alice' });
      assert.equal(pos.headers.get('x-rf-partial'), 'eth', 'a list names the missing shard in x-rf-partial');
      const b = await ok(base, 'GET', '/api/v1/orderbook/BTCUSDT');
      assert.equal(b.headers.get('x-rf-shard'), 'btc', 'btc still answers');
      const shards = await ok(base, 'GET', '/api/v1/shards');
      await new Promise((r) => setTimeout(r, 1_100)); // past the status cache
      const fresh = await ok(base, 'GET', '/api/v1/shards');
      assert.deepEqual(
        fresh.json.map((s) => [s.name, s.status]),
        [
          ['btc', 'ok'],
          ['eth', 'unavailable'],
        ],
        `eth reported down (before the cache expired: ${JSON.stringify(shards.json.map((s) => s.status))})`,
      );

      // A transfer to the shard that is down: held on btc when the answer's deadline passes…
      const held = await ok(base, 'POST', '/api/v1/transfers', {
        as: 'alice',
        body: {
          fromShard: 'btc',
          toShard: 'eth',
          asset: 'USDT',
          amount: '1000',
          transferId: 'tr-alice-held',
        },
      });
      assert.equal(held.json.status, 'held', `held while eth is down: ${JSON.stringify(held.json)}`);
      // …and finished by the router's resume loop once eth is back (same journal, same port).
      eth = await startServer(shardConfig(ethDir, 'eth', ['ETH*'], Number(new URL(eth.url).port)));
      await until(
        async () => {
          const l = await call(base, 'GET', '/api/v1/transfers', { as: 'alice' });
          return (
            l.status === 200 && l.json.some((x) => x.transferId === 'tr-alice-held' && x.status === 'settled')
          );
        },
        10_000,
        'the held transfer settled after eth came back',
      );
      const later = await ok(base, 'GET', '/api/v1/balance', { as: 'alice' });
      const now = later.json.shards as Record<string, { asset: string; total: string }[]>;
      assert.equal(now.eth?.find((x) => x.asset === 'USDT')?.total, '51000', 'credited on eth');
    },
  );
});
