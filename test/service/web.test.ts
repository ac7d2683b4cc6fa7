/**
 * What the web app needs from the service: its files at `/` (built by `npm ci` / `npm test` into dist/web) with a
 * same-origin Content-Security-Policy and no catch-all (an unknown path is still the API's JSON 404), `GET me` to know
 * who the key is, and the admin `ops` stream that keeps the operator's journal and service figures live.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { sign } from '../../src/service/auth.ts';
import { webRoot } from '../../src/service/web.ts';
import { Harness, KEYS } from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

const T = { timeout: 20_000 };
const built = webRoot();

describe('the web app’s files', {
  skip: built === null ? 'dist/web not built (npm run build:web)' : false,
}, () => {
  test(
    'GET / is the app, with a same-origin CSP; its assets are immutable; an unknown path stays a JSON 404',
    T,
    async () => {
      const h = await Harness.open();
      try {
        const index = await h.call('GET', '/');
        assert.equal(index.status, 200);
        assert.match(String(index.headers['content-type']), /text\/html/);
        assert.match(index.text, /<div id="app">/);
        const csp = String(index.headers['content-security-policy']);
        assert.match(csp, /default-src 'self'/);
        assert.match(csp, /connect-src 'self' ws: wss:/);
        assert.equal(index.headers['cache-control'], 'no-cache');
        const asset = /src="(\/assets\/[^"]+\.js)"/.exec(index.text)?.[1];
        assert.ok(asset && existsSync(`${built}${asset.slice(1)}`), 'the page names a built script');
        const js = await h.call('GET', asset);
        assert.equal(js.status, 200);
        assert.match(String(js.headers['cache-control']), /immutable/);
        const missing = await h.call<{ code: string }>('GET', '/no-such-page');
        assert.equal(missing.status, 404);
        assert.equal(missing.json.code, 'NOT_FOUND');
      } finally {
        await h.cleanup();
      }
    },
  );

  test('"webApp": false serves no app', T, async () => {
    const h = await Harness.open({ webApp: false });
    try {
      assert.equal((await h.call('GET', '/')).status, 404);
    } finally {
      await h.cleanup();
    }
  });
});

describe('GET /api/v1/me', () => {
  test(
    'a trader key is its account and scopes; an admin key bound to none says so; unsigned is 401',
    T,
    async () => {
      const h = await Harness.open();
      try {
        assert.deepEqual(await h.ok('GET', '/api/v1/me', 'alice'), {
          key: KEYS.alice.key,
          account: 'alice',
          scopes: ['read', 'trade'],
          admin: false,
          vault: null,
        });
        assert.deepEqual(await h.ok('GET', '/api/v1/me', 'admin'), {
          key: KEYS.admin.key,
          account: null,
          scopes: ['admin'],
          admin: true,
          vault: null,
        });
        assert.deepEqual((await h.ok('GET', '/api/v1/me', 'aliceTrade')).scopes, ['trade']);
        assert.equal((await h.call('GET', '/api/v1/me')).status, 401);
      } finally {
        await h.cleanup();
      }
    },
  );
});

describe('the admin `ops` stream', () => {
  test('an admin gets {journal, stats} at once and again every second; a trader is refused', T, async () => {
    const h = await Harness.open();
    try {
      const url = await h.listen();
      const login = async (as: 'admin' | 'alice') => {
        const ws = await WsTestClient.connect(url);
        const ts = h.nextTimestamp();
        const r = await ws.request('login', {
          key: KEYS[as].key,
          timestamp: ts,
          signature: sign(KEYS[as].secret, ts, 'GET', '/ws'),
        });
        assert.equal(r.success, true);
        return ws;
      };
      const admin = await login('admin');
      assert.equal((await admin.request('subscribe', ['ops'])).success, true);
      const first = await admin.next((m) => m.topic === 'ops');
      const item = first.data[0] as unknown as {
        journal: Record<string, unknown>;
        stats: Record<string, unknown>;
      };
      assert.equal(item.journal.store, 'sqlite');
      assert.equal(typeof item.journal.committedSeq, 'number');
      assert.equal(typeof item.stats.commandsPerSecond, 'number');
      assert.equal(item.stats.wsClients, 1);
      await admin.next((m) => m.topic === 'ops' && m !== first, 3_000);
      const alice = await login('alice');
      const refused = await alice.request('subscribe', ['ops']);
      assert.equal(refused.success, false);
      assert.equal((refused.error as { code: string }).code, 'FORBIDDEN');
      admin.ws.close();
      alice.ws.close();
    } finally {
      await h.cleanup();
    }
  });
});
