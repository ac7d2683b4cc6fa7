/**
 * The operator reads through a real in-process service: three traders go long 1 BTC at 60,000 at 50x, 25x and 10x
 * against a maker's short; the mark falls to 59,600 — GET positions shows each one's liquidation price and how far
 * the mark is from it, the `positions` stream carries the same view, and the venue's risk screen
 * (`/admin/risk/closest`) lists the 50x first with the very price GET positions shows, then the 25x, the 10x, the
 * short. An oracle market with a source excluded as an outlier and one never quoted reads source by source, then goes
 * stale with time; the journal reports its store, seqs, commit latency and snapshot; the stats count commands and
 * rejections. Reads change nothing; a key without the admin scope gets 403.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sign } from '../../src/service/auth.ts';
import { BTCUSDT, type Fields, Harness, KEYS, type PositionJson } from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

const T = { timeout: 30_000 };

interface RiskRow {
  account: string;
  symbol: string;
  side: string;
  marginMode: string;
  silo: string | null;
  contracts: string;
  entryPrice: string;
  markPrice: string;
  liquidationPrice: string;
  liquidationDistancePercent: string;
  marginRatio: string | null;
  collateral: string;
}

/** floor((mark − lp) / mark × 100, 2 dp) for a long (sign −1: a short), from the decimal strings (1 dp prices). */
function distance(mark: string, lp: string, sign = 1): string {
  const u = (s: string) => BigInt(Math.round(Number(s) * 10));
  const num = BigInt(sign) * (u(mark) - u(lp)) * 10_000n;
  const den = u(mark);
  let q = num / den;
  if (num % den !== 0n && num < 0n) q -= 1n;
  const neg = q < 0n;
  const m = neg ? -q : q;
  return `${neg ? '-' : ''}${m / 100n}.${String(m % 100n).padStart(2, '0')}`;
}

describe('operator reads: liquidation distance, closest to liquidation, oracle, journal, stats', () => {
  let h: Harness;
  let ws: WsTestClient;

  before(async () => {
    h = await Harness.open();
    await h.setupMarket();
    for (const account of ['carol', 'dave'])
      await h.ok('POST', '/api/v1/admin/deposit', 'admin', { account, asset: 'USDT', amount: '100000' });
    ws = await WsTestClient.connect(await h.listen());
    const ts = h.nextTimestamp();
    const login = await ws.request('login', {
      key: KEYS.alice.key,
      timestamp: ts,
      signature: sign(KEYS.alice.secret, ts, 'GET', '/ws'),
    });
    assert.equal(login.success, true, JSON.stringify(login));
    assert.equal((await ws.request('subscribe', ['positions'])).success, true);
  });
  after(async () => {
    ws.terminate();
    await h.cleanup();
  });

  test(
    'three longs at 50x, 25x and 10x; the positions stream carries the view GET positions shows',
    T,
    async () => {
      for (const [account, leverage] of [
        ['alice', '50'],
        ['carol', '25'],
        ['bob', '10'],
      ] as const)
        await h.ok('POST', '/api/v1/leverage', 'admin', { symbol: 'BTCUSDT', leverage, account });
      await h.ok('POST', '/api/v1/orders', 'admin', {
        symbol: 'BTCUSDT',
        side: 'sell',
        type: 'limit',
        amount: '3',
        price: '60000',
        account: 'dave',
      });
      for (const account of ['alice', 'carol', 'bob'])
        await h.ok('POST', '/api/v1/orders', 'admin', {
          symbol: 'BTCUSDT',
          side: 'buy',
          type: 'limit',
          amount: '1',
          price: '60000',
          account,
        });
      const [rest] = await h.ok<PositionJson[]>('GET', '/api/v1/positions', 'alice');
      assert.equal(rest!.markPrice, '60000');
      assert.equal(rest!.liquidationDistancePercent, distance('60000', rest!.liquidationPrice!));

      const msg = await ws.next(
        (m) => m.topic === 'positions' && m.data.some((d) => d.type === 'position' && d.side === 'long'),
      );
      const item = msg.data.find((d) => d.type === 'position')!;
      assert.equal(item.liquidationPrice, rest!.liquidationPrice);
      assert.equal(item.liquidationDistancePercent, rest!.liquidationDistancePercent);
      assert.deepEqual(item.view, rest, 'the same view as GET positions');
    },
  );

  test(
    'the mark falls to 59,600: closest lists the 50x first at the price GET positions shows, then 25x, 10x, the short',
    T,
    async () => {
      await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '59600' });
      const hash = h.hash();
      const pos = new Map<string, PositionJson>();
      for (const account of ['alice', 'bob', 'carol', 'dave']) {
        const [p] = await h.ok<PositionJson[]>('GET', `/api/v1/positions?account=${account}`, 'admin');
        pos.set(account, p!);
      }
      const alice = pos.get('alice')!;
      assert.equal(alice.contracts, '1', 'alice is still open');
      assert.equal(alice.liquidationDistancePercent, distance('59600', alice.liquidationPrice!));
      const dave = pos.get('dave')!;
      assert.equal(dave.side, 'short');
      assert.equal(dave.liquidationDistancePercent, distance('59600', dave.liquidationPrice!, -1));

      const rows = await h.ok<RiskRow[]>('GET', '/api/v1/admin/risk/closest', 'admin');
      assert.deepEqual(
        rows.map((r) => [r.account, r.side]),
        [
          ['alice', 'long'],
          ['carol', 'long'],
          ['bob', 'long'],
          ['dave', 'short'],
        ],
      );
      for (const r of rows) {
        const p = pos.get(r.account)!;
        assert.deepEqual(
          [
            r.symbol,
            r.marginMode,
            r.silo,
            r.contracts,
            r.entryPrice,
            r.markPrice,
            r.collateral,
            r.marginRatio,
          ],
          [
            p.symbol,
            p.marginMode,
            p.silo,
            p.contracts,
            p.entryPrice,
            p.markPrice,
            p.collateral,
            p.marginRatio,
          ],
        );
        assert.equal(r.liquidationPrice, p.liquidationPrice, `${r.account}: the price GET positions shows`);
        assert.equal(r.liquidationDistancePercent, p.liquidationDistancePercent);
      }
      const two = await h.ok<RiskRow[]>('GET', '/api/v1/admin/risk/closest?limit=2&symbol=BTCUSDT', 'admin');
      assert.deepEqual(
        two.map((r) => r.account),
        ['alice', 'carol'],
      );

      // The silo read carries the same figure per leg.
      const silos = await h.ok<{ id: string; liquidationDistancePercent: Record<string, string | null> }[]>(
        'GET',
        '/api/v1/silos',
        'alice',
      );
      const box = silos.find((s) => s.id === 'isolated:BTCUSDT')!;
      assert.deepEqual(box.liquidationDistancePercent, { BTCUSDT: alice.liquidationDistancePercent });
      assert.equal(h.hash(), hash, 'reads change nothing');
    },
  );

  test('closest: limit 1..200, a known symbol; 403 without the admin scope, 401 unsigned', T, async () => {
    for (const q of ['limit=0', 'limit=201', 'limit=x', 'other=1'])
      assert.equal(
        (await h.call('GET', `/api/v1/admin/risk/closest?${q}`, undefined, { as: 'admin' })).status,
        400,
        q,
      );
    const unknown = await h.call('GET', '/api/v1/admin/risk/closest?symbol=NOPEUSDT', undefined, {
      as: 'admin',
    });
    assert.deepEqual([unknown.status, unknown.json.code], [404, 'UNKNOWN_MARKET']);
    for (const url of [
      '/api/v1/admin/risk/closest',
      '/api/v1/admin/oracle',
      '/api/v1/admin/oracle/BTCUSDT',
      '/api/v1/admin/journal',
      '/api/v1/admin/stats',
    ]) {
      const r = await h.call('GET', url, undefined, { as: 'alice' });
      assert.deepEqual([r.status, r.json.code], [403, 'FORBIDDEN'], url);
      assert.equal((await h.call('GET', url)).status, 401, url);
    }
  });

  test(
    'oracle: two sources used, one excluded as an outlier, one never quoted; 11 s later every quote is stale',
    T,
    async () => {
      await h.ok('POST', '/api/v1/admin/markets', 'admin', {
        ...BTCUSDT,
        symbol: 'BTCORA',
        oracle: {
          sources: [
            { name: 'binance', weight: 2 },
            { name: 'okx', weight: 1 },
            { name: 'bybit', weight: 1 },
            { name: 'kraken', weight: 1 },
          ],
          stalenessMs: 10_000,
          maxDeviation: '0.05',
          minSources: 2,
          maxJump: '0.1',
          markMethod: 'index',
        },
        funding: {
          intervalMs: 28_800_000,
          interestRate: '0.0001',
          cap: { kind: 'none' },
          impactMargin: '200',
        },
      });
      for (const [source, price] of [
        ['binance', '60000'],
        ['okx', '60010'],
        ['bybit', '66000'],
      ])
        await h.ok('POST', '/api/v1/admin/oracle', 'admin', { symbol: 'BTCORA', source, price });
      const quoted = h.clock.t;
      const o = await h.ok<Fields & { sources: Fields[] }>('GET', '/api/v1/admin/oracle/BTCORA', 'admin');
      assert.equal(o.symbol, 'BTCORA');
      assert.equal(o.oracle, true);
      assert.equal(o.status, 'valid');
      assert.equal(o.reason, 'excluded bybit');
      // The weighted median of binance (2) and okx (1): 60,000; the mark is the index.
      assert.equal(o.indexPrice, '60000');
      assert.equal(o.markPrice, '60000');
      assert.equal(o.markMethod, 'index');
      assert.equal(o.fundingRate, '0');
      assert.equal(typeof o.nextFundingTime, 'number');
      assert.deepEqual(o.paused, []);
      assert.deepEqual(
        o.sources.map((s) => [s.name, s.weight, s.price, s.time === null ? null : 'time', s.status]),
        [
          ['binance', 2, '60000', 'time', 'used'],
          ['okx', 1, '60010', 'time', 'used'],
          ['bybit', 1, '66000', 'time', 'outlier'],
          ['kraken', 1, null, null, 'missing'],
        ],
      );

      h.clock.advance(11_000);
      const later = await h.ok<Fields & { sources: Fields[] }>('GET', '/api/v1/admin/oracle/BTCORA', 'admin');
      assert.equal(later.status, 'stale');
      assert.deepEqual(
        later.sources.map((s) => s.status),
        ['stale', 'stale', 'stale', 'missing'],
      );
      assert.ok(
        (later.sources[0]!.ageMs as number) >= h.clock.t - quoted,
        'age measured on the service clock',
      );

      const all = await h.ok<Fields[]>('GET', '/api/v1/admin/oracle', 'admin');
      assert.deepEqual(
        all.map((x) => [x.symbol, x.oracle, x.status]),
        [
          ['BTCUSDT', false, 'valid'],
          ['BTCORA', true, 'stale'],
        ],
      );
      assert.deepEqual(all[0]!.sources, []);
    },
  );

  test(
    'journal: sqlite, applied = durable once committed, commit latency, the last snapshot',
    T,
    async () => {
      const j = await h.ok<Fields>('GET', '/api/v1/admin/journal', 'admin');
      assert.equal(j.store, 'sqlite');
      assert.equal(j.seq, h.service.engine.seq);
      assert.equal(j.committedSeq, j.seq);
      assert.equal(j.pending, 0);
      assert.equal(j.degraded, false);
      assert.equal(j.reason, null);
      assert.equal(j.lastSnapshot, null);
      assert.ok((j.commits as number) > 0, 'commits counted');
      for (const f of ['lastCommitMs', 'commitP50Ms', 'commitP99Ms'])
        assert.ok(typeof j[f] === 'number' && (j[f] as number) >= 0, f);
      assert.ok((j.commitP50Ms as number) <= (j.commitP99Ms as number), 'p50 ≤ p99');

      const snap = await h.ok<Fields>('POST', '/api/v1/admin/snapshot', 'admin');
      const after = await h.ok<Fields>('GET', '/api/v1/admin/journal', 'admin');
      assert.deepEqual(after.lastSnapshot, { seq: snap.seq, time: snap.time });
    },
  );

  test(
    'stats: commands and rejections counted, a rate over 10 s, the WebSocket client, memory',
    T,
    async () => {
      const before = await h.ok<Fields>('GET', '/api/v1/admin/stats', 'admin');
      // 1,000 BTC is past the 50x tier (alice's leverage): rejected by the engine, a command and a rejection.
      const r = await h.call(
        'POST',
        '/api/v1/orders',
        { symbol: 'BTCUSDT', side: 'buy', type: 'limit', amount: '1000', price: '59600' },
        { as: 'alice' },
      );
      assert.equal(r.json.code, 'LEVERAGE_TOO_HIGH');
      const s = await h.ok<Fields>('GET', '/api/v1/admin/stats', 'admin');
      assert.equal(s.commandsTotal, (before.commandsTotal as number) + 1);
      assert.equal(s.rejectsTotal, (before.rejectsTotal as number) + 1);
      assert.ok((s.httpRequestsTotal as number) >= (before.httpRequestsTotal as number) + 2, 'HTTP counted');
      assert.ok((s.commandsPerSecond as number) > 0, 'commands in the last 10 s');
      assert.equal(s.wsClients, 1);
      assert.ok((s.uptimeSeconds as number) >= 0, 'uptime');
      assert.ok((s.eventLoopLagMs as number) >= 0, 'event-loop lag');
      assert.ok((s.rssBytes as number) > 0 && (s.heapUsedBytes as number) > 0, 'memory');
    },
  );

  test('the routes are in the OpenAPI document', T, async () => {
    const doc = await h.call<{ paths: Record<string, { get?: Fields }> }>('GET', '/docs/json');
    for (const path of [
      '/api/v1/admin/risk/closest',
      '/api/v1/admin/oracle',
      '/api/v1/admin/oracle/{symbol}',
      '/api/v1/admin/journal',
      '/api/v1/admin/stats',
    ])
      assert.ok(doc.json.paths[path]?.get, path);
  });
});
