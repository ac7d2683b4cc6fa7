/**
 * The TypeScript client (clients/ts) against a real listening service: its route table matches the service's
 * OpenAPI document both ways (every route it calls exists with that method and signing; every public and account
 * route is called by it), and a trading round trip — markets, a resting order read back, a fill, positions, a
 * cancel, the balance — with the service's errors surfacing as ApiError with its codes.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  ApiError,
  type RingfenceClient as Client,
  RingfenceClient,
  ROUTES,
  webCryptoHmac,
} from '../../clients/ts/src/client.ts';
import { Harness, KEYS } from '../service/helpers.ts';

const T = { timeout: 60_000 };

/**
 * Routes of the document the client need not cover: venue administration (it has only the operator reads the web
 * app uses and the venue writes the live demo makes), and the service's own ops/docs.
 */
const UNCOVERED = (path: string) =>
  path.startsWith('/api/v1/admin/') || path === '/metrics' || path.startsWith('/docs');

/** fastify's `:name` as OpenAPI's `{name}`. */
const openApiPath = (template: string) => template.replace(/:([A-Za-z]+)/g, '{$1}');

interface OpenApiDoc {
  paths: Record<string, Record<string, { security?: unknown[] }>>;
}

describe('TypeScript client', () => {
  let h: Harness;
  let base: string;
  let alice: Client;
  let bob: Client;
  /** Alice again, signing with node:crypto instead of WebCrypto. */
  let aliceNode: Client;

  before(async () => {
    // A shard (of one): its shard and transfer routes are in the OpenAPI document too.
    h = await Harness.open({ shard: { name: 'btc', markets: ['BTC*'] } });
    const ws = await h.listen();
    base = ws.replace(/^ws:/, 'http:').replace(/\/ws$/, '');
    // The harness's service clock stands still unless moved; signatures are checked against it, so it follows the
    // wall clock the client signs with (and the fetch option is exercised on the way).
    const follow: typeof fetch = (input, init) => {
      h.clock.t = Math.max(h.clock.t, Date.now());
      return fetch(input, init);
    };
    alice = new RingfenceClient({ baseUrl: base, credentials: KEYS.alice, fetch: follow, timeoutMs: 5_000 });
    bob = new RingfenceClient({ baseUrl: `${base}/`, credentials: KEYS.bob, fetch: follow });
    const hmac = (secret: string, message: string) =>
      createHmac('sha256', secret).update(message).digest('hex');
    aliceNode = new RingfenceClient({ baseUrl: base, credentials: KEYS.alice, fetch: follow, hmac });
    await h.setupMarket();
  });
  after(async () => {
    await h?.cleanup();
  });

  test('the route table and the OpenAPI document agree both ways', T, async () => {
    const r = await fetch(`${base}/docs/json`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(r.status, 200);
    const doc = (await r.json()) as OpenApiDoc;

    for (const [name, spec] of Object.entries(ROUTES)) {
      const op = doc.paths[openApiPath(spec.path)]?.[spec.method.toLowerCase()];
      assert.ok(op, `${name}: ${spec.method} ${spec.path} is not in the service's OpenAPI document`);
      assert.equal(
        (op.security?.length ?? 0) > 0,
        spec.signed,
        `${name}: the service ${spec.signed ? 'does not require' : 'requires'} a signature`,
      );
      const method = (RingfenceClient.prototype as unknown as Record<string, unknown>)[name];
      assert.equal(typeof method, 'function', `${name}: a route without its client method`);
    }

    const covered = new Set(Object.values(ROUTES).map((s) => `${s.method} ${openApiPath(s.path)}`));
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (UNCOVERED(path)) continue;
      for (const method of Object.keys(ops)) {
        const key = `${method.toUpperCase()} ${path}`;
        if (!covered.has(key)) missing.push(key);
      }
    }
    assert.deepEqual(missing, [], 'routes of the service the client does not call');
  });

  test('markets, a resting order read back, a fill, positions, a cancel, the balance', T, async () => {
    const markets = await alice.markets();
    const btc = markets.find((m) => m.symbol === 'BTCUSDT');
    assert.ok(btc, 'BTCUSDT listed');
    assert.equal(btc.lotSize, '0.001');
    assert.equal((await alice.market('BTCUSDT')).symbol, 'BTCUSDT');
    assert.equal((await alice.markPrice('BTCUSDT')).markPrice, '60000');

    const me = await alice.me();
    assert.deepEqual([me.account, me.admin], ['alice', false]);
    // Another `hmac` signs the same bytes the same way.
    assert.equal(await webCryptoHmac('s', 'm'), createHmac('sha256', 's').update('m').digest('hex'));
    assert.equal((await aliceNode.me()).account, 'alice');

    const placed = await alice.placeOrder({
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      amount: '0.5',
      price: '59000',
      clientOrderId: 'client-test-1',
    });
    assert.equal(placed.status, 'open');
    assert.equal(placed.filled, '0');
    const resting = await alice.order(placed.id);
    assert.deepEqual([resting.id, resting.remaining, resting.price], [placed.id, '0.5', '59000']);
    assert.equal((await alice.orderByClientId('client-test-1')).id, placed.id);
    assert.deepEqual(
      (await alice.orders({ symbol: 'BTCUSDT' })).map((o) => o.id),
      [placed.id],
    );
    const book = await alice.orderBook('BTCUSDT', { limit: 5 });
    assert.deepEqual(book.bids[0], ['59000', '0.5']);

    // Bob sells into it: alice long 0.2, bob short 0.2.
    const taker = await bob.placeOrder({
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'limit',
      amount: '0.2',
      price: '59000',
    });
    assert.deepEqual([taker.status, taker.filled], ['closed', '0.2']);
    const [long] = await alice.positions({ symbol: 'BTCUSDT' });
    assert.ok(long);
    assert.deepEqual([long.side, long.contracts, long.entryPrice], ['long', '0.2', '59000']);
    assert.equal((await bob.positions())[0]?.side, 'short');
    assert.equal((await alice.myTrades())[0]?.orderId, placed.id);
    assert.equal((await alice.trades('BTCUSDT'))[0]?.amount, '0.2');

    const canceled = await alice.cancelOrder(placed.id);
    assert.deepEqual([canceled.id, canceled.status, canceled.remaining], [placed.id, 'canceled', '0.3']);
    assert.deepEqual(await alice.orders(), []);

    const balance = await alice.balance();
    assert.equal(balance.account, 'alice');
    assert.ok(balance.total.USDT !== undefined, 'a USDT balance');
    assert.ok(Number(balance.used.USDT) > 0, 'the position holds margin');
  });

  test("the service's errors are ApiErrors with its code", T, async () => {
    await assert.rejects(alice.order('999999'), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.deepEqual([e.status, e.code], [404, 'UNKNOWN_ORDER']);
      assert.deepEqual((e.body as { code: string }).code, 'UNKNOWN_ORDER');
      return true;
    });
    await assert.rejects(alice.ticker('NOPE'), { name: 'ApiError', code: 'UNKNOWN_MARKET' });
    // A body the schema refuses: 400 before the engine sees it.
    await assert.rejects(
      alice.placeOrder({ symbol: 'BTCUSDT', side: 'buy', type: 'limit', amount: '-1', price: '1' }),
      { name: 'ApiError', status: 400 },
    );

    // Signing: a wrong secret is refused by the service; no key at all, before anything is sent.
    const wrong = new RingfenceClient({ baseUrl: base, credentials: { key: KEYS.alice.key, secret: 'x' } });
    await assert.rejects(wrong.balance(), { name: 'ApiError', status: 401 });
    const anonymous = new RingfenceClient({ baseUrl: base });
    await assert.rejects(anonymous.me(), { name: 'ApiError', status: 401, code: 'UNAUTHORIZED' });
    assert.equal((await anonymous.health()).status, 'ok');

    // No service there at all.
    const nowhere = new RingfenceClient({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 2_000 });
    await assert.rejects(nowhere.markets(), { name: 'ApiError', status: 0, code: 'NETWORK' });
    // No answer in time: a fetch that waits until it is aborted.
    const silent: typeof fetch = (_input, init) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      );
    const slow = new RingfenceClient({ baseUrl: base, fetch: silent, timeoutMs: 50 });
    await assert.rejects(slow.markets(), { name: 'ApiError', status: 0, code: 'TIMEOUT' });
  });
});
