/**
 * Service hardening (issue 15): each defect found by an outside attack, pinned as a scenario that failed before the
 * fix — `__proto__` names, slot exhaustion over WebSocket, slowloris, credentials in logs, key enumeration, error
 * bodies outside the contract, 429 without Retry-After, cost-blind limits — and the operator settings (trustProxy,
 * key reload with allow-lists and expiry, /metrics and /docs exposure, snapshots). Sockets that must look like
 * another client connect from 127.0.0.2 (still loopback). Every wait has a deadline.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { ConfigError, defaultConfig, type KeyConfig } from '../../src/service/config.ts';
import { openStore, redactUrl } from '../../src/service/store.ts';
import { BTCUSDT, Harness, KEYS, tempDir } from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

const T = { timeout: 30_000 };
const POSITION = {
  symbol: 'BTCUSDT',
  side: 'long',
  size: '1',
  entryPrice: '20000',
  markPrice: '20000',
  leverage: '10',
};
const ATTACKER = '127.0.0.2';

/** The `host:port` a Harness listens on. */
function portOf(h: Harness): number {
  const a = h.app.server.address();
  if (typeof a !== 'object' || a === null) throw new Error('not listening');
  return a.port;
}

/** Every raw socket opened, destroyed before each server closes (a failing test must not hang the close). */
const opened = new Set<Socket>();
const destroyRaw = () => {
  for (const s of opened) s.destroy();
  opened.clear();
};

/** A raw TCP client: what it received, and when the server closed it. */
class Raw {
  data = '';
  closed = false;
  private waiters: (() => void)[] = [];
  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.data += d;
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  static open(port: number, localAddress = '127.0.0.1'): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, localAddress });
      opened.add(s);
      const timer = setTimeout(() => reject(new Error('connect timed out')), 3_000);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(new Raw(s));
      });
      s.once('error', reject);
    });
  }
  write(text: string): void {
    this.socket.write(text);
  }
  /** Resolves when `pred` holds (checked on every event), rejects after `ms`. */
  until(pred: (r: Raw) => boolean, ms: number, what: string): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${ms} ms waiting for ${what}: ${this.data}`)),
        ms,
      );
      const check = () => {
        if (pred(this)) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }
  /** Status and parsed JSON body of the first response. */
  response(): { status: number; json: Record<string, unknown> | null; headers: string } {
    const m = /^HTTP\/1\.1 (\d{3})/.exec(this.data);
    const split = this.data.indexOf('\r\n\r\n');
    let json: Record<string, unknown> | null = null;
    try {
      json = JSON.parse(this.data.slice(split + 4)) as Record<string, unknown>;
    } catch {
      json = null;
    }
    return { status: m ? Number(m[1]) : 0, json, headers: this.data.slice(0, split) };
  }
  destroy(): void {
    this.socket.destroy();
  }
}

describe('defect 1: names looked up by user input are own properties only', () => {
  let h: Harness;
  before(async () => {
    h = await Harness.open();
    await h.setupMarket();
  });
  after(() => {
    destroyRaw();
    return h.cleanup();
  });

  for (const venue of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    test(`POST /calc with venue "${venue}" → 400 INVALID_INPUT, not 500`, T, async () => {
      const r = await h.call('POST', '/api/v1/calc', { venue, positions: [POSITION] });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 'INVALID_INPUT');
      assert.match(r.json.message, /unknown venue/);
    });
  }

  test('`ringfence calc` with venue "__proto__" exits 2 (bad input), not 1 (internal error)', T, async () => {
    let err = '';
    const io = {
      stdout: () => {},
      stderr: (s: string) => {
        err += s;
      },
      readStdin: () => JSON.stringify({ venue: '__proto__', positions: [POSITION] }),
    };
    assert.equal(await main(['calc', '--json'], io), 2, err);
    assert.doesNotMatch(err, /internal error/);
  });

  test(
    'markets, accounts, assets and key ids named __proto__/constructor are simply unknown',
    T,
    async () => {
      for (const url of [
        '/api/v1/markets/__proto__',
        '/api/v1/markets/constructor',
        '/api/v1/orderbook/toString',
      ]) {
        const r = await h.call('GET', url);
        assert.equal(r.status, 404, `${url}: ${r.text}`);
        assert.equal(r.json.code, 'UNKNOWN_MARKET');
      }
      const asset = await h.call('GET', '/api/v1/insurance/constructor');
      assert.equal(asset.json.code, 'UNKNOWN_ASSET');
      const noOrders = await h.ok<unknown[]>('GET', '/api/v1/orders?account=__proto__', 'admin');
      assert.deepEqual(noOrders, []);
      const key = await h.call('GET', '/api/v1/balance', undefined, {
        headers: {
          'x-rf-key': '__proto__',
          'x-rf-timestamp': String(h.clock.t),
          'x-rf-signature': 'a'.repeat(64),
        },
      });
      assert.equal(key.status, 401);
    },
  );
});

describe('defect 3: one IP cannot take every WebSocket slot', () => {
  let h: Harness;
  let url: string;
  before(async () => {
    h = await Harness.open({
      ws: {
        ...defaultConfig().ws,
        maxClients: 20,
        maxClientsPerIp: 3,
        loginTimeoutMs: 300,
        idleTimeoutMs: 600,
      },
    });
    await h.setupMarket();
    url = await h.listen();
  });
  after(() => {
    destroyRaw();
    return h.cleanup();
  });

  test('3 sockets per IP: the 4th from 127.0.0.2 gets 1013; another address still connects', T, async () => {
    const mine = await Promise.all(
      [1, 2, 3].map(() => WsTestClient.connect(url, { localAddress: ATTACKER })),
    );
    for (const c of mine) await c.request('subscribe', ['trades.BTCUSDT']);
    const fourth = await WsTestClient.connect(url, { localAddress: ATTACKER });
    assert.equal((await fourth.waitClosed()).code, 1013);
    const other = await WsTestClient.connect(url);
    const pong = await other.request('ping');
    assert.equal(pong.success, true);
    other.close();
    for (const c of mine) c.close();
    await Promise.all(mine.map((c) => c.waitClosed()));
  });

  test(
    'login deadline: a socket that neither logs in nor subscribes is closed (1008); one that subscribed stays',
    T,
    async () => {
      const silent = await WsTestClient.connect(url);
      const reader = await WsTestClient.connect(url);
      await reader.request('subscribe', ['mark.BTCUSDT']);
      const closed = await silent.waitClosed(3_000);
      assert.equal(closed.code, 1008);
      assert.match(closed.reason, /log in or subscribe/);
      assert.equal(reader.closed, null, 'the subscriber is still connected');
      reader.close();
    },
  );

  test(
    'idle timeout: a logged-in socket with no subscriptions that sends nothing is closed (1008)',
    T,
    async () => {
      const c = await WsTestClient.connect(url);
      const ts = h.nextTimestamp();
      const login = await c.request('login', {
        key: KEYS.alice.key,
        timestamp: ts,
        signature: h.sign('alice', 'GET', '/ws', '', ts)['x-rf-signature'],
      });
      assert.equal(login.success, true, JSON.stringify(login));
      const closed = await c.waitClosed(3_000);
      assert.equal(closed.code, 1008);
      assert.match(closed.reason, /idle/);
    },
  );
});

describe('defect 4: slow clients cannot hold HTTP connections (slowloris)', () => {
  let h: Harness;
  let port: number;
  before(async () => {
    h = await Harness.open({
      http: { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300, maxConnectionsPerIp: 5 },
    });
    await h.setupMarket();
    await h.listen();
    port = portOf(h);
  });
  after(() => {
    destroyRaw();
    return h.cleanup();
  });

  test(
    'a partial header is answered 408 {code, message} and closed within the headers timeout',
    T,
    async () => {
      const r = await Raw.open(port);
      r.write('GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      const t0 = performance.now();
      await r.until((x) => x.closed, 3_000, 'the server to close a slow header');
      assert.ok(performance.now() - t0 < 2_500, 'closed in time');
      const res = r.response();
      assert.equal(res.status, 408, r.data);
      assert.equal(res.json?.code, 'REQUEST_TIMEOUT');
    },
  );

  test('a body that trickles in is cut off at the request timeout', T, async () => {
    const r = await Raw.open(port);
    r.write(
      'POST /api/v1/calc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"po',
    );
    const timer = setInterval(() => r.write(' '), 100);
    try {
      await r.until((x) => x.closed, 3_000, 'the server to close a slow body');
    } finally {
      clearInterval(timer);
    }
    assert.equal(r.response().status, 408, r.data);
  });

  test('an idle keep-alive connection is closed after the keep-alive timeout', T, async () => {
    const r = await Raw.open(port);
    r.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await r.until((x) => x.data.includes('"status"'), 3_000, 'the health answer');
    await r.until((x) => x.closed, 3_000, 'the idle keep-alive socket to close');
  });

  test(
    'an open WebSocket is not cut by the HTTP timeouts (they bound requests, not upgraded sockets)',
    T,
    async () => {
      const c = await WsTestClient.connect(`ws://127.0.0.1:${port}/ws`);
      await c.request('subscribe', ['trades.BTCUSDT']);
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(c.closed, null);
      assert.equal((await c.request('ping')).success, true);
      c.close();
      await c.waitClosed();
    },
  );

  test(
    '5 connections per address: the 6th from 127.0.0.2 gets 503 TOO_MANY_CONNECTIONS; 127.0.0.1 is served',
    T,
    async () => {
      const held = await Promise.all([1, 2, 3, 4, 5].map(() => Raw.open(port, ATTACKER)));
      // Let the server count them before the next one arrives.
      for (const s of held) s.write('GET /health HTTP/1.1\r\nHost: x\r\n');
      const sixth = await Raw.open(port, ATTACKER);
      await sixth.until((x) => x.closed, 3_000, 'the 6th connection to be refused');
      const res = sixth.response();
      assert.equal(res.status, 503, sixth.data);
      assert.equal(res.json?.code, 'TOO_MANY_CONNECTIONS');
      const ok = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(ok.status, 200);
      for (const s of held) s.destroy();
    },
  );
});

describe('defect 5: PostgreSQL credentials never reach a log line or an error', () => {
  const URLS = [
    'postgres://ringfence@127.0.0.1:1/rf?password=hunter2secret',
    'postgresql://ringfence:hunter2secret@127.0.0.1:1/rf',
    'postgres://ringfence@127.0.0.1:1/rf?sslpassword=hunter2secret&sslmode=disable',
    'postgres://ringfence@127.0.0.1:1/rf?password=hunter2%2Fsecret',
  ];
  test('redactUrl masks the user-info password and ?password= / ?sslpassword=', T, () => {
    for (const u of URLS) {
      const r = redactUrl(u);
      assert.doesNotMatch(r, /hunter2/, r);
      assert.match(r, /127\.0\.0\.1:1/, 'the host stays readable');
    }
  });

  test('a failed connection names the URL without its password', T, async () => {
    for (const u of URLS) {
      const e = await openStore(u).then(
        () => assert.fail('connected to port 1'),
        (err: Error) => err,
      );
      assert.doesNotMatch(e.message, /hunter2/, e.message);
    }
  });

  test(
    '`ringfence serve` with ?password= logs neither the password at start-up nor in its error',
    T,
    async () => {
      let out = '';
      const io = {
        stdout: (s: string) => {
          out += s;
        },
        stderr: (s: string) => {
          out += s;
        },
        readStdin: () => '',
      };
      const code = await main(['serve', '--journal', URLS[0]!, '--port', '0'], io);
      assert.notEqual(code, 0);
      assert.match(out, /starting/);
      assert.doesNotMatch(out, /hunter2/, out);
    },
  );
});

describe('defect 6: key ids cannot be enumerated', () => {
  let h: Harness;
  before(async () => {
    h = await Harness.open();
  });
  after(() => {
    destroyRaw();
    return h.cleanup();
  });

  test('an unknown key and a wrong signature for an existing key get the same 401 body', T, async () => {
    const ts = h.nextTimestamp();
    const headers = (key: string) => ({
      'x-rf-key': key,
      'x-rf-timestamp': String(ts),
      'x-rf-signature': 'b'.repeat(64),
    });
    const missing = await h.call('GET', '/api/v1/balance', undefined, { headers: headers('nobody-key-1') });
    const existing = await h.call('GET', '/api/v1/balance', undefined, { headers: headers(KEYS.alice.key) });
    assert.equal(missing.status, 401);
    assert.equal(existing.status, 401);
    assert.deepEqual(missing.json, existing.json);
  });
});

describe('defect 7: every error follows {code, message}', () => {
  let h: Harness;
  let port: number;
  before(async () => {
    h = await Harness.open();
    await h.listen();
    port = portOf(h);
  });
  after(() => {
    destroyRaw();
    return h.cleanup();
  });

  test('a 300-character path parameter → 414 URI_TOO_LONG', T, async () => {
    const r = await h.call('GET', `/api/v1/markets/${'A'.repeat(300)}`);
    assert.equal(r.status, 414);
    assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message']);
    assert.equal(r.json.code, 'URI_TOO_LONG');
  });

  test('bad percent-encoding in the path → 400 INVALID_REQUEST', T, async () => {
    const r = await h.call('GET', '/api/v1/markets/%E0%A4%A');
    assert.equal(r.status, 400);
    assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message']);
    assert.equal(r.json.code, 'INVALID_REQUEST');
  });

  test(
    'Node’s own 400 (malformed request line) and 431 (headers too large) carry a JSON body',
    T,
    async () => {
      const a = await Raw.open(port);
      a.write('GARBAGE\r\n\r\n');
      await a.until((x) => x.closed, 3_000, 'a 400');
      assert.equal(a.response().status, 400, a.data);
      assert.deepEqual(a.response().json, { code: 'INVALID_REQUEST', message: 'malformed HTTP request' });
      const b = await Raw.open(port);
      b.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
      await b.until((x) => x.closed, 3_000, 'a 431');
      assert.equal(b.response().status, 431, b.data);
      assert.equal(b.response().json?.code, 'HEADERS_TOO_LARGE');
    },
  );
});

describe('defect 8: 429 says when to retry', () => {
  test('Retry-After (seconds) on a per-IP and on a per-key 429', T, async () => {
    const h = await Harness.open({
      publicRateLimit: { burst: 2, perSecond: 0.5 },
      rateLimit: { burst: 1, perSecond: 0.25 },
    });
    try {
      await h.call('GET', '/api/v1/markets');
      await h.call('GET', '/api/v1/markets');
      const ip = await h.call('GET', '/api/v1/markets');
      assert.equal(ip.status, 429);
      assert.equal(ip.headers['retry-after'], '2');
      await h.call('GET', '/api/v1/balance', undefined, { as: 'alice' });
      const key = await h.call('GET', '/api/v1/balance', undefined, { as: 'alice' });
      assert.equal(key.status, 429);
      assert.equal(key.headers['retry-after'], '4');
    } finally {
      await h.cleanup();
    }
  });
});

describe('defect 9: limits charge by cost', () => {
  test(
    'a /calc of 40 positions costs 41 tokens: with a burst of 50 the second one is refused',
    T,
    async () => {
      const h = await Harness.open({ publicRateLimit: { burst: 50, perSecond: 1 } });
      try {
        const body = { positions: Array.from({ length: 40 }, () => POSITION) };
        assert.equal((await h.call('POST', '/api/v1/calc', body)).status, 200);
        const second = await h.call('POST', '/api/v1/calc', body);
        assert.equal(second.status, 429, second.text);
        // A small one still fits in what is left (9 tokens).
        assert.equal((await h.call('POST', '/api/v1/calc', { positions: [POSITION] })).status, 200);
      } finally {
        await h.cleanup();
      }
    },
  );

  test(
    'oversized bodies (413) count against the IP: after the burst, 429, and the IP’s GETs are limited too',
    T,
    async () => {
      const h = await Harness.open({ publicRateLimit: { burst: 3, perSecond: 0.01 }, bodyLimit: 1_024 });
      try {
        const big = JSON.stringify({ positions: [{ symbol: 'x'.repeat(2_000) }] });
        for (let i = 0; i < 3; i++)
          assert.equal((await h.call('POST', '/api/v1/calc', undefined, { raw: big })).status, 413);
        const fourth = await h.call('POST', '/api/v1/calc', undefined, { raw: big });
        assert.equal(fourth.status, 429);
        assert.equal((await h.call('GET', '/api/v1/markets')).status, 429);
      } finally {
        await h.cleanup();
      }
    },
  );
});

describe('behind a proxy: trustProxy', () => {
  const flood = async (h: Harness, xff: string) => {
    const r = await h.call('GET', '/api/v1/markets', undefined, { headers: { 'x-forwarded-for': xff } });
    return r.status;
  };
  test(
    'with trustProxy naming the proxy, each X-Forwarded-For client has its own bucket; without it, the proxy’s is shared',
    T,
    async () => {
      const trusted = await Harness.open({
        publicRateLimit: { burst: 2, perSecond: 0.01 },
        trustProxy: ['127.0.0.1'],
      });
      const plain = await Harness.open({ publicRateLimit: { burst: 2, perSecond: 0.01 } });
      try {
        for (const ip of ['203.0.113.1', '203.0.113.1']) assert.equal(await flood(trusted, ip), 200);
        assert.equal(await flood(trusted, '203.0.113.1'), 429);
        assert.equal(
          await flood(trusted, '203.0.113.2'),
          200,
          'another client behind the proxy is not limited',
        );
        for (const ip of ['203.0.113.1', '203.0.113.2']) assert.equal(await flood(plain, ip), 200);
        assert.equal(await flood(plain, '203.0.113.3'), 429, 'untrusted: the header is ignored');
      } finally {
        await trusted.cleanup();
        await plain.cleanup();
      }
    },
  );
});

describe('key management without a restart', () => {
  test(
    'a reload revokes a removed key at once (REST 401, its WebSocket session closed); unchanged keys keep working',
    T,
    async () => {
      let list: KeyConfig[] = Object.values(KEYS);
      const h = await Harness.open({}, undefined, undefined, { loadKeys: () => list });
      try {
        await h.setupMarket();
        const url = await h.listen();
        const ws = await WsTestClient.connect(url);
        const ts = h.nextTimestamp();
        const login = await ws.request('login', {
          key: KEYS.bob.key,
          timestamp: ts,
          signature: h.sign('bob', 'GET', '/ws', '', ts)['x-rf-signature'],
        });
        assert.equal(login.success, true);
        await ws.request('subscribe', ['orders']);
        list = list.filter((k) => k.key !== KEYS.bob.key);
        const r = await h.ok<{ keys: number; revoked: string[] }>(
          'POST',
          '/api/v1/admin/keys/reload',
          'admin',
        );
        assert.deepEqual(r, { keys: 4, revoked: [KEYS.bob.key] });
        assert.equal((await h.call('GET', '/api/v1/balance', undefined, { as: 'bob' })).status, 401);
        assert.equal((await ws.waitClosed()).code, 1008);
        assert.equal((await h.call('GET', '/api/v1/balance', undefined, { as: 'alice' })).status, 200);
      } finally {
        await h.cleanup();
      }
    },
  );

  test('a bad key file is refused and the keys in force stay', T, async () => {
    const h = await Harness.open({}, undefined, undefined, {
      loadKeys: () => {
        throw new ConfigError('ringfence.json: /keys/0/secret: too short');
      },
    });
    try {
      const r = await h.call('POST', '/api/v1/admin/keys/reload', undefined, { as: 'admin' });
      assert.equal(r.status, 400);
      assert.match(r.json.message, /keys not reloaded: .*too short/);
      assert.equal((await h.call('GET', '/api/v1/balance', undefined, { as: 'alice' })).status, 200);
    } finally {
      await h.cleanup();
    }
  });

  test('a key with an IP allow-list works only from it; an expired key stops working', T, async () => {
    const h = await Harness.open({
      trustProxy: ['127.0.0.1'],
      keys: [
        { ...KEYS.alice, allowIps: ['10.0.0.0/8', '2001:db8::/32'] },
        { ...KEYS.bob, expiresAt: new Date(Date.now() + 60_000).toISOString() },
      ],
    });
    try {
      const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });
      const ok = await h.call('GET', '/api/v1/balance', undefined, { as: 'alice', ...from('10.1.2.3') });
      assert.equal(ok.status, 200, ok.text);
      const no = await h.call('GET', '/api/v1/balance', undefined, { as: 'alice', ...from('192.0.2.7') });
      assert.equal(no.status, 401);
      assert.match(no.json.message, /not allowed from this address/);
      assert.equal((await h.call('GET', '/api/v1/balance', undefined, { as: 'bob' })).status, 200);
      h.clock.advance(61_000);
      const expired = await h.call('GET', '/api/v1/balance', undefined, { as: 'bob' });
      assert.equal(expired.status, 401);
      assert.match(expired.json.message, /expired/);
    } finally {
      await h.cleanup();
    }
  });
});

describe('/metrics and /docs exposure', () => {
  test('bound to a non-loopback address: not public by default, open to an admin key', T, async () => {
    const h = await Harness.open({ host: '0.0.0.0' });
    try {
      for (const url of ['/metrics', '/docs/json']) {
        assert.equal((await h.call('GET', url)).status, 401, url);
        assert.equal((await h.call('GET', url, undefined, { as: 'admin' })).status, 200, url);
        assert.equal((await h.call('GET', url, undefined, { as: 'alice' })).status, 403, url);
      }
    } finally {
      await h.cleanup();
    }
  });

  test('off: 404; public: open', T, async () => {
    const h = await Harness.open({ host: '0.0.0.0', metrics: 'off', docs: 'public' });
    try {
      assert.equal((await h.call('GET', '/metrics', undefined, { as: 'admin' })).status, 404);
      assert.equal((await h.call('GET', '/docs/json')).status, 200);
    } finally {
      await h.cleanup();
    }
  });
});

describe('snapshots in the service', () => {
  test(
    'journal.snapshotEvery 5: after 12 commands a restart starts from the snapshot at seq 10',
    T,
    async () => {
      const td = tempDir();
      try {
        const over = { journal: { ...defaultConfig().journal, snapshotEvery: 5 } };
        const a = await Harness.open(over, td.dir);
        await a.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
        for (let i = 0; i < 11; i++)
          await a.ok('POST', '/api/v1/admin/deposit', 'admin', {
            account: 'alice',
            asset: 'USDT',
            amount: '1',
          });
        assert.equal(a.service.engine.seq, 12);
        const hash = a.hash();
        await a.cleanup();
        const b = await Harness.open(over, td.dir);
        try {
          const health = (
            await b.call<{ recovery: { snapshotSeq: number | null; replayed: number } }>('GET', '/health')
          ).json;
          assert.deepEqual(health.recovery, { snapshotSeq: 10, replayed: 2 });
          assert.equal(b.hash(), hash);
        } finally {
          await b.cleanup();
        }
      } finally {
        td.cleanup();
      }
    },
  );

  test('POST /admin/snapshot takes one now; recovery starts from it', T, async () => {
    const td = tempDir();
    try {
      const over = { journal: { ...defaultConfig().journal, snapshotEvery: 0 } };
      const a = await Harness.open(over, td.dir);
      await a.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
      await a.ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'alice', asset: 'USDT', amount: '5' });
      const snap = await a.ok<{ seq: number; stateHash: string }>('POST', '/api/v1/admin/snapshot', 'admin');
      assert.equal(snap.seq, 2);
      assert.equal((await a.call('POST', '/api/v1/admin/snapshot', undefined, { as: 'alice' })).status, 403);
      await a.ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'bob', asset: 'USDT', amount: '5' });
      await a.cleanup();
      const b = await Harness.open(over, td.dir);
      try {
        const health = (await b.call<{ recovery: { snapshotSeq: number | null } }>('GET', '/health')).json;
        assert.equal(health.recovery.snapshotSeq, 2);
        assert.equal(b.service.engine.seq, 3);
      } finally {
        await b.cleanup();
      }
    } finally {
      td.cleanup();
    }
  });
});

describe('defect 10: market configs the engine cannot run are refused', () => {
  let h: Harness;
  before(async () => {
    h = await Harness.open();
  });
  after(() => h.cleanup());

  const ORACLE = {
    sources: [{ name: 'a', weight: 1 }],
    stalenessMs: 60_000,
    maxDeviation: '0.05',
    minSources: 1,
    maxJump: '0.5',
    markMethod: 'index',
  };
  const refused = async (name: string, market: Record<string, unknown>, re: RegExp) => {
    const seq = h.service.engine.seq;
    const r = await h.call('POST', '/api/v1/admin/markets', market, { as: 'admin' });
    assert.equal(r.status, 400, `${name}: ${r.text}`);
    assert.equal(r.json.code, 'INVALID_COMMAND');
    assert.match(r.json.message, re);
    assert.equal(h.service.engine.seq, seq, 'nothing journaled');
    assert.equal(h.service.engine.markets.has(market.symbol as string), false);
  };

  test('tick 1e-18 (no price of 1 or more could ever be set) → 400 naming tickSize', T, async () => {
    await refused(
      'tick 1e-18',
      { ...BTCUSDT, symbol: 'TINYTICK', tickSize: '0.000000000000000001' },
      /tickSize/,
    );
  });

  test(
    'oracle.minSources 3 with 1 configured source (the market would stay paused forever) → 400',
    T,
    async () => {
      await refused(
        'minSources',
        { ...BTCUSDT, symbol: 'ORC1', oracle: { ...ORACLE, minSources: 3 } },
        /minSources/,
      );
    },
  );

  test('two oracle sources with the same name → 400', T, async () => {
    const sources = [
      { name: 'a', weight: 1 },
      { name: 'a', weight: 2 },
    ];
    await refused(
      'dup sources',
      { ...BTCUSDT, symbol: 'ORC2', oracle: { ...ORACLE, sources, minSources: 2 } },
      /unique/,
    );
  });

  test('a tick of 1e-14 (prices up to ~1.4) and minSources = sources are still accepted', T, async () => {
    await h.ok('POST', '/api/v1/admin/markets', 'admin', {
      ...BTCUSDT,
      symbol: 'SMALLTICK',
      tickSize: '0.00000000000001',
    });
    await h.ok('POST', '/api/v1/admin/markets', 'admin', { ...BTCUSDT, symbol: 'ORC3', oracle: ORACLE });
  });
});

describe('defect 10: closing a market', () => {
  test(
    'POST /admin/markets/BTCUSDT/close: reduce-only from then on (new risk 409 MARKET_CLOSED), alice’s resting bid canceled',
    T,
    async () => {
      const h = await Harness.open();
      try {
        await h.setupMarket();
        const bid = await h.ok<{ id: string }>('POST', '/api/v1/orders', 'alice', {
          symbol: 'BTCUSDT',
          side: 'buy',
          type: 'limit',
          price: '59000',
          amount: '0.1',
        });
        assert.equal(
          (await h.call('POST', '/api/v1/admin/markets/BTCUSDT/close', undefined, { as: 'alice' })).status,
          403,
        );
        const closed = await h.ok<{ reduceOnly: boolean; active: boolean }>(
          'POST',
          '/api/v1/admin/markets/BTCUSDT/close',
          'admin',
        );
        assert.equal(closed.reduceOnly, true);
        assert.equal(
          (await h.call('GET', `/api/v1/orders/${bid.id}`, undefined, { as: 'alice' })).status,
          404,
        );
        const r = await h.call(
          'POST',
          '/api/v1/orders',
          { symbol: 'BTCUSDT', side: 'buy', type: 'limit', price: '59000', amount: '0.1' },
          { as: 'bob' },
        );
        assert.equal(r.status, 409, r.text);
        assert.equal(r.json.code, 'MARKET_CLOSED');
        const view = await h.call<{ reduceOnly: boolean }>('GET', '/api/v1/markets/BTCUSDT');
        assert.equal(view.json.reduceOnly, true);
      } finally {
        await h.cleanup();
      }
    },
  );
});

describe('defect 2: clientOrderId makes order placement idempotent', () => {
  const ORDER = { symbol: 'BTCUSDT', side: 'buy', type: 'limit', price: '59000', amount: '0.1' };

  test(
    'a retried POST /orders with the same clientOrderId → 409 DUPLICATE_CLIENT_ORDER_ID with the original id; read and cancel by clientOrderId; the refusal survives a restart',
    T,
    async () => {
      const td = tempDir();
      try {
        const a = await Harness.open({}, td.dir);
        await a.setupMarket();
        const first = await a.ok<{ id: string }>('POST', '/api/v1/orders', 'alice', {
          ...ORDER,
          clientOrderId: 'retry-1',
        });
        const seq = a.service.engine.seq;
        const dup = await a.call<{ code: string; message: string; orderId: string }>(
          'POST',
          '/api/v1/orders',
          { ...ORDER, clientOrderId: 'retry-1' },
          { as: 'alice' },
        );
        assert.equal(dup.status, 409, dup.text);
        assert.equal(dup.json.code, 'DUPLICATE_CLIENT_ORDER_ID');
        assert.equal(dup.json.orderId, first.id);
        assert.match(dup.json.message, new RegExp(`open order ${first.id}\\b`));
        assert.equal(a.service.engine.seq, seq, 'nothing journaled');
        const read = await a.ok<{ id: string; clientOrderId: string }>(
          'GET',
          '/api/v1/orders/client/retry-1',
          'alice',
        );
        assert.equal(read.id, first.id);
        assert.equal(
          (await a.call('GET', '/api/v1/orders/client/retry-1', undefined, { as: 'bob' })).status,
          404,
        );
        await a.cleanup();

        const b = await Harness.open({}, td.dir);
        try {
          const again = await b.call<{ code: string; orderId: string }>(
            'POST',
            '/api/v1/orders',
            { ...ORDER, clientOrderId: 'retry-1' },
            { as: 'alice' },
          );
          assert.equal(again.json.code, 'DUPLICATE_CLIENT_ORDER_ID', 'after recovery too');
          assert.equal(again.json.orderId, first.id);
          const canceled = await b.ok<{ id: string; status: string }>(
            'DELETE',
            '/api/v1/orders/client/retry-1',
            'alice',
          );
          assert.deepEqual([canceled.id, canceled.status], [first.id, 'canceled']);
          assert.equal(
            (await b.call('GET', '/api/v1/orders/client/retry-1', undefined, { as: 'alice' })).status,
            404,
          );
          const fresh = await b.ok<{ id: string }>('POST', '/api/v1/orders', 'alice', {
            ...ORDER,
            clientOrderId: 'retry-1',
          });
          assert.notEqual(fresh.id, first.id, 'the id is free once the order is no longer open');
        } finally {
          await b.cleanup();
        }
      } finally {
        td.cleanup();
      }
    },
  );

  test(
    'over WebSocket: order.place duplicate answers the original id; order.get and order.cancel take a clientOrderId',
    T,
    async () => {
      const h = await Harness.open();
      try {
        await h.setupMarket();
        const c = await WsTestClient.connect(await h.listen());
        const ts = h.nextTimestamp();
        await c.request('login', {
          key: KEYS.alice.key,
          timestamp: ts,
          signature: h.sign('alice', 'GET', '/ws', '', ts)['x-rf-signature'],
        });
        const placed = await c.request('order.place', { ...ORDER, clientOrderId: 'ws-1' });
        assert.equal(placed.success, true, JSON.stringify(placed));
        const id = placed.data.id as string;
        const dup = await c.request('order.place', { ...ORDER, clientOrderId: 'ws-1' });
        assert.equal(dup.success, false);
        assert.equal(dup.error.code, 'DUPLICATE_CLIENT_ORDER_ID');
        assert.equal((dup.error as { orderId?: string }).orderId, id);
        const got = await c.request('order.get', { clientOrderId: 'ws-1' });
        assert.equal(got.data.id, id);
        const both = await c.request('order.cancel', { orderId: id, clientOrderId: 'ws-1' });
        assert.equal(both.error.code, 'INVALID_REQUEST');
        const canceled = await c.request('order.cancel', { clientOrderId: 'ws-1' });
        assert.equal(canceled.success, true, JSON.stringify(canceled));
        assert.equal(canceled.data.id, id);
        assert.equal((await c.request('order.get', { clientOrderId: 'ws-1' })).error.code, 'UNKNOWN_ORDER');
        c.close();
      } finally {
        await h.cleanup();
      }
    },
  );
});

describe('defect 10: delisting a closed, flat market', () => {
  test(
    'POST /admin/markets/BTCUSDT/delist: 409 MARKET_NOT_FLAT while open, 409 POSITION_OPEN while alice long 0.1 / bob short 0.1; 200 once both close at 60,000; the market, its history and alice’s fills go, and BTCUSDT can be created again; the state survives a restart',
    T,
    async () => {
      const td = tempDir();
      try {
        const a = await Harness.open({}, td.dir);
        const order = (as: 'alice' | 'bob', side: string, reduceOnly = false) =>
          a.ok('POST', '/api/v1/orders', as, {
            symbol: 'BTCUSDT',
            side,
            type: 'limit',
            price: '60000',
            amount: '0.1',
            ...(reduceOnly ? { reduceOnly } : {}),
          });
        const delist = () =>
          a.call('POST', '/api/v1/admin/markets/BTCUSDT/delist', undefined, { as: 'admin' });
        await a.setupMarket();
        await order('bob', 'sell');
        await order('alice', 'buy');
        assert.equal((await a.ok<unknown[]>('GET', '/api/v1/my-trades', 'alice')).length, 1);
        assert.equal(
          (await a.call('POST', '/api/v1/admin/markets/BTCUSDT/delist', undefined, { as: 'alice' })).status,
          403,
        );
        let r = await delist();
        assert.deepEqual([r.status, r.json.code], [409, 'MARKET_NOT_FLAT'], r.text);
        await a.ok('POST', '/api/v1/admin/markets/BTCUSDT/close', 'admin');
        r = await delist();
        assert.deepEqual([r.status, r.json.code], [409, 'POSITION_OPEN'], r.text);
        await order('bob', 'buy', true);
        await order('alice', 'sell', true);
        const done = await a.ok<{ seq: number; symbol: string; delisted: boolean }>(
          'POST',
          '/api/v1/admin/markets/BTCUSDT/delist',
          'admin',
        );
        assert.deepEqual([done.symbol, done.delisted], ['BTCUSDT', true]);
        assert.equal((await a.call('GET', '/api/v1/markets/BTCUSDT')).status, 404);
        assert.deepEqual(
          await a.ok('GET', '/api/v1/my-trades', 'alice'),
          [],
          'fills of a delisted market go',
        );
        assert.deepEqual(await a.ok('GET', '/api/v1/positions', 'alice'), []);
        const seq = a.service.engine.seq;
        await a.cleanup();

        const b = await Harness.open({}, td.dir);
        try {
          assert.equal(b.service.engine.seq, seq, 'recovered to the same seq');
          assert.equal(b.service.engine.markets.has('BTCUSDT'), false, 'still delisted after recovery');
          await b.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
          assert.deepEqual(await b.ok('GET', '/api/v1/trades/BTCUSDT', 'alice'), []);
          assert.equal(
            (await b.ok<{ reduceOnly: boolean }>('GET', '/api/v1/markets/BTCUSDT', 'alice')).reduceOnly,
            false,
          );
        } finally {
          await b.cleanup();
        }
      } finally {
        td.cleanup();
      }
    },
  );
});
