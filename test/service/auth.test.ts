/**
 * Security: signed requests (tampering, replay, expiry), scopes, account isolation, rate limits (per key, per IP,
 * failed authentications) and body limits, and the per-key replay cache. Every refused request leaves the engine's
 * state hash unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KeyRing, ReplayGuard, type SignedRequest, sign } from '../../src/service/auth.ts';
import type { ApiError } from '../../src/service/errors.ts';
import { Harness, KEYS, type KeyName, type OpenOrder } from './helpers.ts';

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

describe('failed authentication', () => {
  test('a flood of bad signatures from one IP gets 429 after its burst; good keys from that IP still pass', async () => {
    const h = await Harness.open({ publicRateLimit: { burst: 3, perSecond: 1 } });
    try {
      await h.setupMarket();
      const before = h.hash();
      const codes: string[] = [];
      for (let i = 0; i < 200; i++) {
        const r = await h.call('GET', '/api/v1/balance', undefined, {
          headers: {
            'x-rf-key': KEYS.alice.key,
            'x-rf-timestamp': String(h.nextTimestamp()),
            'x-rf-signature': 'ab'.repeat(32),
          },
        });
        codes.push(`${r.status} ${r.json.code}`);
      }
      assert.deepEqual(codes.slice(0, 3), Array(3).fill('401 UNAUTHORIZED'));
      assert.deepEqual(codes.slice(3), Array(197).fill('429 RATE_LIMITED'));
      // Unsigned and unknown-key attempts are failed authentications too.
      assert.equal((await h.call('POST', '/api/v1/orders', ORDER)).status, 429);
      assert.equal(h.hash(), before);
      // A correctly signed request is charged to its key only; unsigned requests share the spent IP bucket.
      assert.equal((await h.call('GET', '/api/v1/balance', undefined, { as: 'alice' })).status, 200);
      assert.equal((await h.call('GET', '/api/v1/markets')).status, 429);
      h.clock.advance(1_000);
      assert.equal((await h.call('GET', '/api/v1/balance')).status, 401, 'a token came back');
      assert.equal((await h.call('GET', '/api/v1/balance')).status, 429, 'and went on that 401');
    } finally {
      await h.cleanup();
    }
  });
});

describe('replay cache', () => {
  const T0 = 1_700_000_000_000;
  const request = (as: KeyName, ts: number, url: string): SignedRequest => ({
    key: KEYS[as].key,
    timestamp: String(ts),
    signature: sign(KEYS[as].secret, ts, 'GET', url),
    method: 'GET',
    url,
    body: '',
    ip: '127.0.0.1',
  });
  const code = (f: () => unknown): string => {
    try {
      f();
      return 'OK';
    } catch (e) {
      return (e as ApiError).code;
    }
  };

  test('a request refused by the rate limit is not recorded: resent after the bucket refills, it is accepted once', async () => {
    const h = await Harness.open({ rateLimit: { burst: 1, perSecond: 1 } });
    try {
      assert.equal((await h.call('GET', '/api/v1/balance', undefined, { as: 'alice' })).status, 200);
      const headers = h.sign('alice', 'GET', '/api/v1/orders');
      const send = async () => {
        const r = await h.app.inject({ method: 'GET', url: '/api/v1/orders', headers });
        return `${r.statusCode} ${r.statusCode === 200 ? '' : JSON.parse(r.body).code}`;
      };
      assert.equal(await send(), '429 RATE_LIMITED');
      h.clock.advance(1_000); // a token back, well within the receive window
      assert.equal(await send(), '200 ');
      h.clock.advance(1_000);
      assert.equal(await send(), '401 UNAUTHORIZED', 'once accepted, it is a replay');
    } finally {
      await h.cleanup();
    }
  });

  test('each key has its own cache, holding only what its rate limit let through, expired as time passes', () => {
    const window = 1_000;
    let now = T0;
    const ring = new KeyRing([KEYS.alice, KEYS.bob], { burst: 5, perSecond: 10 }, window, now);
    const alice = ring.replayGuard(KEYS.alice.key)!;
    const bob = ring.replayGuard(KEYS.bob.key)!;
    assert.notEqual(alice, bob);
    assert.equal(alice.maxEntries, ReplayGuard.capFor({ burst: 5, perSecond: 10 }, window));
    // Far over the limit in one instant: only the accepted burst is recorded.
    const results = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const c = code(() => ring.verify(request('alice', now, `/api/v1/orders?i=${i}`), now));
      results.set(c, (results.get(c) ?? 0) + 1);
    }
    assert.deepEqual(
      [...results],
      [
        ['OK', 5],
        ['RATE_LIMITED', 195],
      ],
    );
    assert.equal(alice.size, 5);
    // At its full sustained rate for ten windows, with timestamps anywhere in the window: alice never fills her
    // cache, and bob's requests are neither refused nor mixed into hers.
    let peak = 0;
    for (let i = 0; i < 100; i++) {
      now += 100;
      const ts = now + (((i * 7) % 21) - 10) * 100;
      assert.equal(
        code(() => ring.verify(request('alice', ts, `/api/v1/balance?i=${i}`), now)),
        'OK',
      );
      peak = Math.max(peak, alice.size);
      if (i % 10 === 0)
        assert.equal(
          code(() => ring.verify(request('bob', now, `/api/v1/balance?i=${i}`), now)),
          'OK',
        );
    }
    assert.ok(peak <= alice.maxEntries && peak <= 21, `peak ${peak} of ${alice.maxEntries}`);
    assert.ok(bob.size <= 2, `bob holds only his own (${bob.size})`);

    // A timestamp at the far future edge is kept exactly as long as the request could otherwise be accepted.
    now += 10 * window;
    const future = request('alice', now + window, '/api/v1/positions');
    assert.equal(
      code(() => ring.verify(future, now)),
      'OK',
    );
    assert.equal(alice.size, 1, 'everything older expired on the way');
    now += 2 * window;
    assert.equal(
      code(() => ring.verify(future, now)),
      'UNAUTHORIZED',
    );
    assert.equal(alice.size, 1);
    now += 1;
    assert.equal(
      code(() => ring.verify(request('alice', now, '/api/v1/orders'), now)),
      'OK',
    );
    assert.equal(alice.size, 1, 'the future-dated entry left as soon as its timestamp did');
    assert.equal(
      code(() => ring.verify(future, now)),
      'UNAUTHORIZED',
      'and it is refused as expired',
    );
  });

  test('expiry agrees with a plain model for timestamps anywhere in the window; a full cache refuses with 429', () => {
    const window = 1_000;
    const g = new ReplayGuard(window, 1_000_000);
    const model = new Map<string, number>();
    let x = 12_345;
    const rand = (n: number) => {
      x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
      return (x >>> 8) % n;
    };
    let now = T0;
    for (let i = 0; i < 3_000; i++) {
      now += rand(25);
      for (const [id, expires] of model) if (expires < now) model.delete(id);
      const old = `s${rand(i + 1)}`;
      assert.equal(g.has(old, now), model.has(old), `${old} at step ${i}`);
      const ts = now - window + rand(2 * window + 1);
      g.record(`s${i}`, ts, now);
      model.set(`s${i}`, ts + window);
      assert.equal(g.size, model.size);
    }
    assert.ok(model.size > 50, `the run kept a real backlog (${model.size})`);

    const small = new ReplayGuard(window, 3);
    for (const id of ['a', 'b', 'c']) small.record(id, T0, T0);
    assert.equal(
      code(() => small.record('d', T0, T0)),
      'RATE_LIMITED',
    );
    assert.equal(small.has('d', T0), false, 'a refused signature is not recorded');
    assert.equal(
      code(() => small.record('d', T0 + window + 1, T0 + window + 1)),
      'OK',
    );
    assert.equal(small.size, 1);
  });
});
