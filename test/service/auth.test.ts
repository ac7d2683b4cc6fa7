/**
 * Security: signed requests (tampering, replay, expiry), scopes, account isolation, rate limits and body limits.
 * Every refused request leaves the engine's state hash unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sign } from '../../src/service/auth.ts';
import { Harness, KEYS, type OpenOrder } from './helpers.ts';

const ORDER = { symbol: 'BTCUSDT', side: 'buy', type: 'limit', price: '59000', amount: '0.1' };

describe('signed requests', () => {
  let h: Harness;
  before(async () => {
    h = await Harness.open();
    await h.setupMarket();
  });
  after(() => h.cleanup());

  /** Sends raw headers and body, expects `status` and `code`, and the state hash unchanged. */
  async function refused(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    status: number,
    code: string,
  ): Promise<void> {
    const before = h.hash();
    const r = await h.app.inject({
      method: method as 'POST',
      url,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { payload: body } : {}),
    });
    assert.equal(r.statusCode, status, `${method} ${url}: ${r.body}`);
    const json = JSON.parse(r.body);
    assert.equal(json.code, code, r.body);
    assert.equal(typeof json.message, 'string');
    assert.equal(h.hash(), before, 'a refused request changes nothing');
  }

  test('missing headers, unknown key, wrong secret', async () => {
    const body = JSON.stringify(ORDER);
    await refused('POST', '/api/v1/orders', {}, body, 401, 'UNAUTHORIZED');
    await refused('GET', '/api/v1/positions', {}, undefined, 401, 'UNAUTHORIZED');
    const ts = h.nextTimestamp();
    await refused(
      'POST',
      '/api/v1/orders',
      {
        'x-rf-key': 'nobody-key',
        'x-rf-timestamp': String(ts),
        'x-rf-signature': sign('x'.repeat(32), ts, 'POST', '/api/v1/orders', body),
      },
      body,
      401,
      'UNAUTHORIZED',
    );
    await refused(
      'POST',
      '/api/v1/orders',
      {
        'x-rf-key': KEYS.alice.key,
        'x-rf-timestamp': String(ts),
        'x-rf-signature': sign(KEYS.bob.secret, ts, 'POST', '/api/v1/orders', body),
      },
      body,
      401,
      'UNAUTHORIZED',
    );
  });

  test('tampered body, path, query, method, timestamp or signature', async () => {
    const body = JSON.stringify(ORDER);
    const headers = h.sign('alice', 'POST', '/api/v1/orders', body);
    await refused('POST', '/api/v1/orders', headers, body.replace('0.1', '0.2'), 401, 'UNAUTHORIZED');
    await refused('POST', '/api/v1/orders', headers, body.replace('59000', '59000.0'), 401, 'UNAUTHORIZED');
    await refused('POST', '/api/v1/orders', headers, `${body} `, 401, 'UNAUTHORIZED');
    const cancel = h.sign('alice', 'DELETE', '/api/v1/orders?symbol=BTCUSDT');
    await refused('DELETE', '/api/v1/orders?symbol=ETHUSDT', cancel, undefined, 401, 'UNAUTHORIZED');
    await refused('DELETE', '/api/v1/orders', cancel, undefined, 401, 'UNAUTHORIZED');
    const get = h.sign('alice', 'GET', '/api/v1/orders');
    await refused('DELETE', '/api/v1/orders', get, undefined, 401, 'UNAUTHORIZED');
    const ts = Number(headers['x-rf-timestamp']);
    await refused(
      'POST',
      '/api/v1/orders',
      { ...headers, 'x-rf-timestamp': String(ts + 1) },
      body,
      401,
      'UNAUTHORIZED',
    );
    const sig = headers['x-rf-signature']!;
    const flipped = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
    await refused(
      'POST',
      '/api/v1/orders',
      { ...headers, 'x-rf-signature': flipped },
      body,
      401,
      'UNAUTHORIZED',
    );
    await refused(
      'POST',
      '/api/v1/orders',
      { ...headers, 'x-rf-signature': 'zz' },
      body,
      401,
      'UNAUTHORIZED',
    );
    await refused(
      'POST',
      '/api/v1/orders',
      { ...headers, 'x-rf-timestamp': '1e12' },
      body,
      401,
      'UNAUTHORIZED',
    );
    await refused(
      'POST',
      '/api/v1/orders',
      { ...headers, 'x-rf-key': KEYS.bob.key },
      body,
      401,
      'UNAUTHORIZED',
    );
    // The untampered request still works (none of the above consumed its signature).
    const r = await h.app.inject({
      method: 'POST',
      url: '/api/v1/orders',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: body,
    });
    assert.equal(r.statusCode, 200, r.body);
  });

  test('a replayed request is refused and changes nothing', async () => {
    const body = JSON.stringify({ ...ORDER, price: '58000' });
    const headers = {
      ...h.sign('alice', 'POST', '/api/v1/orders', body),
      'content-type': 'application/json',
    };
    const first = await h.app.inject({ method: 'POST', url: '/api/v1/orders', headers, payload: body });
    assert.equal(first.statusCode, 200);
    const orders = (await h.ok('GET', '/api/v1/orders', 'alice')).length;
    await refused('POST', '/api/v1/orders', headers, body, 401, 'UNAUTHORIZED');
    assert.equal((await h.ok('GET', '/api/v1/orders', 'alice')).length, orders, 'no second order');
    // Reads are replay-protected too.
    const get = h.sign('alice', 'GET', '/api/v1/balance');
    assert.equal(
      (await h.app.inject({ method: 'GET', url: '/api/v1/balance', headers: get })).statusCode,
      200,
    );
    await refused('GET', '/api/v1/balance', get, undefined, 401, 'UNAUTHORIZED');
  });

  test('expired and future timestamps', async () => {
    const window = h.config.recvWindowMs;
    const body = JSON.stringify(ORDER);
    for (const ts of [h.clock.t - window - 1, h.clock.t + window + 1, 0]) {
      const headers = h.sign('alice', 'POST', '/api/v1/orders', body, ts);
      await refused('POST', '/api/v1/orders', headers, body, 401, 'UNAUTHORIZED');
    }
    // A request signed now but delivered after the window is refused too.
    const late = h.sign('alice', 'GET', '/api/v1/orders?symbol=BTCUSDT', '', h.clock.t);
    h.clock.advance(window + 1);
    await refused('GET', '/api/v1/orders?symbol=BTCUSDT', late, undefined, 401, 'UNAUTHORIZED');
  });

  test('scopes: read-only cannot trade, trade-only cannot read, neither can administer', async () => {
    const body = JSON.stringify(ORDER);
    await refused(
      'POST',
      '/api/v1/orders',
      h.sign('aliceRead', 'POST', '/api/v1/orders', body),
      body,
      403,
      'FORBIDDEN',
    );
    await refused(
      'DELETE',
      '/api/v1/orders',
      h.sign('aliceRead', 'DELETE', '/api/v1/orders'),
      undefined,
      403,
      'FORBIDDEN',
    );
    await refused(
      'GET',
      '/api/v1/positions',
      h.sign('aliceTrade', 'GET', '/api/v1/positions'),
      undefined,
      403,
      'FORBIDDEN',
    );
    const dep = JSON.stringify({ account: 'alice', asset: 'USDT', amount: '1000000' });
    await refused(
      'POST',
      '/api/v1/admin/deposit',
      h.sign('alice', 'POST', '/api/v1/admin/deposit', dep),
      dep,
      403,
      'FORBIDDEN',
    );
    const mark = JSON.stringify({ symbol: 'BTCUSDT', price: '1' });
    await refused(
      'POST',
      '/api/v1/admin/mark-price',
      h.sign('aliceTrade', 'POST', '/api/v1/admin/mark-price', mark),
      mark,
      403,
      'FORBIDDEN',
    );
    // And each scope does what it grants.
    assert.equal((await h.call('GET', '/api/v1/positions', undefined, { as: 'aliceRead' })).status, 200);
    assert.equal(
      (await h.call('POST', '/api/v1/orders', { ...ORDER, price: '57000' }, { as: 'aliceTrade' })).status,
      200,
    );
  });

  test('another account’s data and orders are out of reach', async () => {
    const bobOrder = await h.ok('POST', '/api/v1/orders', 'bob', { ...ORDER, side: 'sell', price: '65000' });
    const id = bobOrder.id;
    const before = h.hash();
    const cases: [string, string, unknown][] = [
      ['DELETE', `/api/v1/orders/${id}`, undefined],
      ['DELETE', `/api/v1/orders/${id}?symbol=BTCUSDT`, undefined],
      ['PATCH', `/api/v1/orders/${id}`, { amount: '0.05' }],
      ['PATCH', `/api/v1/orders/${id}`, { symbol: 'BTCUSDT', price: '64000' }],
      ['GET', `/api/v1/orders/${id}`, undefined],
    ];
    for (const [method, url, body] of cases) {
      const r = await h.call(method, url, body, { as: 'alice' });
      assert.equal(r.status, 404, `${method} ${url}: ${r.text}`);
      assert.equal(r.json.code, 'UNKNOWN_ORDER');
    }
    // Naming another account is forbidden for non-admin keys, on reads and writes alike.
    const named: [string, string, unknown][] = [
      ['GET', '/api/v1/positions?account=bob', undefined],
      ['GET', '/api/v1/balance?account=bob', undefined],
      ['GET', '/api/v1/orders?account=bob', undefined],
      ['GET', '/api/v1/my-trades?account=bob', undefined],
      ['GET', '/api/v1/funding-history?account=bob', undefined],
      ['GET', '/api/v1/my-liquidations?account=bob', undefined],
      ['DELETE', '/api/v1/orders?account=bob', undefined],
      ['DELETE', `/api/v1/orders/${id}?account=bob`, undefined],
      ['POST', '/api/v1/orders', { ...ORDER, account: 'bob' }],
      ['POST', '/api/v1/margin/add', { symbol: 'BTCUSDT', amount: '1', account: 'bob' }],
      ['POST', '/api/v1/leverage', { symbol: 'BTCUSDT', leverage: '2', account: 'bob' }],
      ['POST', '/api/v1/orders', { ...ORDER, account: '@insurance' }],
    ];
    for (const [method, url, body] of named) {
      const r = await h.call(method, url, body, { as: 'alice' });
      assert.equal(r.status, 403, `${method} ${url}: ${r.text}`);
      assert.equal(r.json.code, 'FORBIDDEN');
    }
    assert.equal(h.hash(), before);
    // Bob's order is untouched; alice's own listing never shows it.
    assert.equal((await h.ok('GET', `/api/v1/orders/${id}`, 'bob')).remaining, '0.1');
    const mine = await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'alice');
    assert.ok(mine.every((o) => o.id !== id));
    // Admin keys act for any account and must say which.
    assert.equal((await h.ok('GET', `/api/v1/orders/${id}?account=bob`, 'admin')).id, id);
    const noAccount = await h.call('GET', '/api/v1/positions', undefined, { as: 'admin' });
    assert.equal(noAccount.status, 400);
  });

  test('unauthenticated requests learn nothing: auth is checked before the body', async () => {
    await refused('POST', '/api/v1/orders', {}, '{not json', 401, 'UNAUTHORIZED');
    await refused('POST', '/api/v1/orders', {}, JSON.stringify({ bogus: 1 }), 401, 'UNAUTHORIZED');
  });
});

describe('limits', () => {
  test('per-key token bucket, per-IP bucket, body size, media type', async () => {
    const h = await Harness.open({
      rateLimit: { burst: 3, perSecond: 1 },
      publicRateLimit: { burst: 2, perSecond: 1 },
      bodyLimit: 1_024,
    });
    try {
      for (let i = 0; i < 3; i++)
        assert.equal((await h.call('GET', '/api/v1/balance', undefined, { as: 'alice' })).status, 200);
      const limited = await h.call('GET', '/api/v1/balance', undefined, { as: 'alice' });
      assert.equal(limited.status, 429);
      assert.equal(limited.json.code, 'RATE_LIMITED');
      // Another key has its own bucket.
      assert.equal((await h.call('GET', '/api/v1/balance', undefined, { as: 'bob' })).status, 200);
      h.clock.advance(1_000);
      assert.equal((await h.call('GET', '/api/v1/balance', undefined, { as: 'alice' })).status, 200);

      assert.equal((await h.call('GET', '/api/v1/markets')).status, 200);
      assert.equal((await h.call('GET', '/api/v1/markets')).status, 200);
      const ip = await h.call('GET', '/api/v1/markets');
      assert.equal(ip.status, 429);
      assert.equal(ip.json.code, 'RATE_LIMITED');
      h.clock.advance(5_000);

      const before = h.hash();
      const big = await h.call(
        'POST',
        '/api/v1/orders',
        { ...ORDER, clientOrderId: 'x', pad: 'y'.repeat(2_000) },
        { as: 'bob' },
      );
      assert.equal(big.status, 413);
      assert.equal(big.json.code, 'PAYLOAD_TOO_LARGE');
      const text = await h.call('POST', '/api/v1/orders', undefined, {
        as: 'bob',
        raw: 'side=buy',
        contentType: 'text/plain',
      });
      assert.equal(text.status, 415);
      assert.equal(text.json.code, 'UNSUPPORTED_MEDIA_TYPE');
      assert.equal(h.hash(), before);
    } finally {
      await h.cleanup();
    }
  });
});
