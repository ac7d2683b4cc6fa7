/**
 * The shard router's pure parts: its config (strict, overlapping patterns refused), market patterns, which shard a
 * request goes to, exact decimal sums, merging shards' answers, and joining WebSocket answers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Decimal as D } from 'decimal.js';
import fc from 'fast-check';
import { ConfigError } from '../../src/service/config.ts';
import { merge, type ShardAnswer } from '../../src/service/shard/aggregate.ts';
import { addDecimals } from '../../src/service/shard/decimal.ts';
import { ShardMap } from '../../src/service/shard/patterns.ts';
import { type Route, resolveRoute } from '../../src/service/shard/resolve.ts';
import { withoutShardQuery } from '../../src/service/shard/router.ts';
import { parseRouterFile, routerConfig } from '../../src/service/shard/router-config.ts';
import type { UpstreamResponse } from '../../src/service/shard/upstream.ts';
import { joinAnswers } from '../../src/service/shard/ws-mux.ts';
import { splitTopics, topicSymbol } from '../../src/service/shard/ws-topics.ts';

const T = { timeout: 10_000 };
const KEY = { key: 'router-key-1', secret: 'router-secret-0123456789abcdef0123456789' };
const shard = (name: string, markets: string[]) => ({ name, urls: [`http://127.0.0.1:1`], markets });

function loads(router: unknown): string | null {
  try {
    routerConfig(parseRouterFile({ router }, 'router.json'));
    return null;
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
}

/** Enough digits for any two decimals the shards send (30 integer + 18 fractional). */
const Decimal = D.clone({ precision: 100 });

describe('router config', () => {
  test('a valid config, defaults filled', T, () => {
    const c = routerConfig(
      parseRouterFile({
        router: { shards: [shard('btc', ['BTC*']), shard('eth', ['ETH*', 'STETH'])], key: KEY },
      }),
    );
    assert.deepEqual([c.host, c.port, c.requestTimeoutMs], ['127.0.0.1', 8080, 10_000], 'defaults');
  });

  test('refused, naming the path: unknown fields, bad names, overlaps, duplicates', T, () => {
    const base = { shards: [shard('btc', ['BTC*'])], key: KEY };
    const cases: [unknown, RegExp][] = [
      [{ ...base, extra: 1 }, /router\.json: \/router: .*extra/],
      [{ ...base, shards: [{ ...shard('btc', ['BTC*']), url: 'x' }] }, /\/router\/shards\/0.*url/],
      [{ ...base, shards: [shard('BTC', ['BTC*'])] }, /\/router\/shards\/0\/name/],
      [{ ...base, shards: [shard('btc', ['BTC*']), shard('btc', ['ETH*'])] }, /duplicate shard name/],
      [
        { ...base, shards: [shard('btc', ['BTC*']), shard('x', ['BTCUSDT'])] },
        /BTCUSDT overlaps BTC\* of shard btc/,
      ],
      [
        { ...base, shards: [shard('btc', ['BTC*']), shard('x', ['BT*'])] },
        /BT\* overlaps BTC\* of shard btc/,
      ],
      [{ ...base, shards: [shard('btc', ['BTC*']), shard('all', ['*'])] }, /not a market pattern/],
      [
        { ...base, shards: [shard('btc', ['BTCUSD']), shard('x', ['BTCUSD*'])] },
        /overlaps BTCUSD of shard btc/,
      ],
      [{ ...base, shards: [shard('btc', ['BTC*', 'BTCUSDT'])] }, /same shard/],
      [{ ...base, shards: [shard('btc', ['B*TC'])] }, /not a market pattern/],
      [
        { ...base, shards: [{ ...shard('btc', ['BTC*']), urls: ['ftp://x'] }] },
        /\/router\/shards\/0\/urls\/0/,
      ],
      [{ shards: base.shards }, /\/router.*key/],
    ];
    for (const [cfg, re] of cases) {
      const msg = loads(cfg);
      assert.ok(msg !== null, `refused: ${JSON.stringify(cfg)}`);
      assert.match(msg, re, `message for ${JSON.stringify(cfg)}`);
    }
    assert.match(
      String(
        (() => {
          try {
            parseRouterFile({ shards: [] }, 'f');
          } catch (e) {
            return (e as Error).message;
          }
        })(),
      ),
      /f: \//,
      'no router section',
    );
  });
});

describe('market patterns', () => {
  test('ownerOf', T, () => {
    const m = new ShardMap([shard('btc', ['BTC*']), shard('eth', ['ETH-*', 'ETHUSDT'])]);
    assert.deepEqual(
      ['BTCUSDT', 'BTCUSDT-20250131-100000-C', 'ETHUSDT', 'ETH-PERP', 'ETHBTC', 'SOL'].map((s) =>
        m.ownerOf(s),
      ),
      ['btc', 'btc', 'eth', 'eth', null, null],
      'owners',
    );
  });
});

describe('which shard a request goes to', () => {
  const map = new ShardMap([shard('btc', ['BTC*']), shard('eth', ['ETH*'])]);
  const names = new Set(['btc', 'eth']);
  const route = (
    method: string,
    url: string,
    o: { body?: unknown; header?: string; signed?: boolean } = {},
  ): Route => {
    const qi = url.indexOf('?');
    return resolveRoute(
      {
        method,
        path: qi < 0 ? url : url.slice(0, qi),
        query: new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1)),
        shardHeader: o.header,
        signed: o.signed ?? true,
        body: o.body,
      },
      map,
      names,
    );
  };
  const where = (r: Route) => (r.kind === 'shard' ? r.shard : r.kind === 'error' ? r.code : r.kind);

  test('by the market named: body, query, path, legs, underlying', T, () => {
    assert.equal(where(route('POST', '/api/v1/orders', { body: { symbol: 'ETHUSDT' } })), 'eth', 'body');
    assert.equal(where(route('DELETE', '/api/v1/orders/7?symbol=BTCUSDT')), 'btc', 'query');
    assert.equal(where(route('GET', '/api/v1/orderbook/ETHUSDT')), 'eth', 'path');
    assert.equal(where(route('GET', '/api/v1/candles/BTCUSDT?tf=1m')), 'btc', 'candles');
    assert.equal(where(route('POST', '/api/v1/admin/markets/ETHUSDT/close')), 'eth', 'admin path');
    assert.equal(where(route('GET', '/api/v1/option-chain/BTCUSDT')), 'btc', 'option chain');
    assert.equal(
      where(route('POST', '/api/v1/admin/vol', { body: { underlying: 'ETHUSDT' } })),
      'eth',
      'underlying',
    );
    const legs = { silo: 's', legs: [{ symbol: 'BTCUSDT' }, { symbol: 'BTCUSDT-X' }] };
    assert.equal(where(route('POST', '/api/v1/combo', { body: legs })), 'btc', 'one-shard combo');
    const cross = { silo: 's', legs: [{ symbol: 'BTCUSDT' }, { symbol: 'ETHUSDT' }] };
    assert.equal(where(route('POST', '/api/v1/combo', { body: cross })), 'CROSS_SHARD_COMBO', 'cross combo');
    assert.equal(where(route('GET', '/api/v1/orderbook/SOL')), 'UNKNOWN_MARKET', 'unknown');
    assert.equal(where(route('GET', '/api/v1/orderbook/BTC%55SDT')), 'btc', 'percent-decoded');
  });

  test('explicit shard wins; aggregated reads; transfers; SHARD_REQUIRED', T, () => {
    assert.equal(
      where(route('POST', '/api/v1/orders', { body: { symbol: 'ETHUSDT' }, header: 'btc' })),
      'btc',
      'the header wins',
    );
    assert.equal(where(route('GET', '/api/v1/orders', { header: 'sol' })), 'UNKNOWN_SHARD', 'unknown shard');
    assert.equal(where(route('GET', '/api/v1/orders?shard=eth')), 'INVALID_REQUEST', 'signed ?shard');
    const q = route('GET', '/api/v1/insurance?shard=eth', { signed: false });
    assert.deepEqual([where(q), q.kind === 'shard' && q.stripShardQuery], ['eth', true], 'unsigned ?shard');
    assert.equal(where(route('GET', '/api/v1/balance')), 'fanout', 'balance');
    assert.equal(where(route('GET', '/api/v1/my-trades')), 'fanout', 'my-trades');
    assert.equal(where(route('GET', '/api/v1/me')), 'any', 'me');
    assert.equal(
      where(route('POST', '/api/v1/transfers', { body: { fromShard: 'btc' } })),
      'transfer',
      'transfer',
    );
    assert.equal(
      where(route('POST', '/api/v1/transfers', { body: { fromShard: 'btc' }, header: 'eth' })),
      'INVALID_REQUEST',
      'a header naming another source',
    );
    const r = route('POST', '/api/v1/admin/deposit', { body: { account: 'a' } });
    assert.equal(where(r), 'SHARD_REQUIRED', 'deposit');
    assert.match(
      r.kind === 'error' ? r.message : '',
      /x-rf-shard.*btc, eth/,
      'names the header and the shards',
    );
    assert.equal(where(route('GET', '/api/v1/orders/5')), 'SHARD_REQUIRED', 'an order id alone');
  });

  test('the shard query is taken out of an unsigned URL only', T, () => {
    assert.equal(withoutShardQuery('/a?shard=x'), '/a', 'alone');
    assert.equal(withoutShardQuery('/a?limit=5&shard=x&b=1'), '/a?limit=5&b=1', 'among others');
    assert.equal(withoutShardQuery('/a?shardy=1'), '/a?shardy=1', 'another name');
  });
});

describe('merging', () => {
  const res = (status: number, json: unknown): UpstreamResponse => ({
    status,
    headers: {},
    body: Buffer.from(JSON.stringify(json)),
    origin: 'http://x',
  });
  const bal = (rows: [string, string][]) => ({
    account: 'a',
    balances: rows.map(([asset, total]) => ({ asset, free: total, used: '0', total })),
  });

  test('balances summed exactly, a missing shard named; a refusal relayed; none → 503', T, () => {
    const answers: ShardAnswer[] = [
      {
        shard: 'btc',
        res: res(
          200,
          bal([
            ['USDT', '0.1'],
            ['BTC', '1'],
          ]),
        ),
        failure: null,
      },
      { shard: 'eth', res: res(200, bal([['USDT', '0.2']])), failure: null },
      { shard: 'sol', res: res(503, { code: 'UNAVAILABLE' }), failure: null },
    ];
    const m = merge('balance', false, null, answers);
    const b = m.body as { total: Record<string, string>; partial: string[] };
    assert.deepEqual([m.status, b.total, b.partial], [200, { BTC: '1', USDT: '0.3' }, ['sol']], 'merged');
    const refused = merge('list', false, null, [
      answers[0]!,
      { shard: 'eth', res: res(401, {}), failure: null },
    ]);
    assert.deepEqual([refused.status, refused.relayed?.shard], [401, 'eth'], 'a 401 is the answer');
    const none = merge('list', false, null, [answers[2]!]);
    assert.equal(none.status, 503, 'nobody answered');
  });

  test('newest-first lists interleave by timestamp and keep the limit', T, () => {
    const m = merge('list', true, 3, [
      { shard: 'a', res: res(200, [{ timestamp: 9 }, { timestamp: 5 }, { timestamp: 1 }]), failure: null },
      { shard: 'b', res: res(200, [{ timestamp: 7 }, { timestamp: 6 }]), failure: null },
    ]);
    assert.deepEqual(
      (m.body as { timestamp: number; shard: string }[]).map((x) => `${x.shard}${x.timestamp}`),
      ['a9', 'b7', 'b6'],
      'merged newest first',
    );
    const transfers = merge('list', true, null, [
      { shard: 'a', res: res(200, [{ createdAt: 3 }]), failure: null },
      { shard: 'b', res: res(200, [{ createdAt: 4 }]), failure: null },
    ]);
    assert.deepEqual(
      (transfers.body as { shard: string }[]).map((x) => x.shard),
      ['b', 'a'],
      'transfer records by createdAt',
    );
  });

  test('addDecimals agrees with decimal.js', T, () => {
    const dec = fc
      .tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.integer({ min: 0, max: 18 }))
      .map(([neg, v, scale]) => {
        const s = v.toString().padStart(scale + 1, '0');
        const t = scale === 0 ? s : `${s.slice(0, -scale)}.${s.slice(-scale)}`;
        return neg && v !== 0n ? `-${t}` : t;
      });
    fc.assert(
      fc.property(dec, dec, (a, b) => {
        assert.equal(new Decimal(addDecimals(a, b)).eq(new Decimal(a).plus(b)), true, `${a} + ${b}`);
      }),
      { includeErrorInReport: true },
    );
  });
});

describe('WebSocket routing and answers', () => {
  test('topics: by market, else every shard', T, () => {
    const map = new ShardMap([shard('btc', ['BTC*']), shard('eth', ['ETH*'])]);
    assert.equal(topicSymbol('candles.BTCUSDT.1m'), 'BTCUSDT', 'candles');
    assert.equal(topicSymbol('insurance.USDT'), null, 'insurance');
    const s = splitTopics(['orderbook.BTCUSDT', 'orders', 'liquidations.alice', 'trades.ETHUSDT'], map, [
      'btc',
      'eth',
    ]);
    assert.ok('byShard' in s, 'split');
    assert.deepEqual(
      Object.fromEntries(s.byShard),
      {
        btc: ['orderbook.BTCUSDT', 'orders', 'liquidations.alice'],
        eth: ['orders', 'liquidations.alice', 'trades.ETHUSDT'],
      },
      'by shard',
    );
    const bad = splitTopics(['orderbook.SOL'], map, ['btc', 'eth']);
    assert.ok('error' in bad && bad.error.code === 'UNKNOWN_MARKET', 'unknown market');
  });

  test(
    'answers joined: one shard relayed, several merged, the first refusal wins, a login partial',
    T,
    () => {
      const yes = (topics: string[]) => ({ op: 'subscribe', id: 'r1', success: true, data: { topics } });
      const no = {
        op: 'subscribe',
        id: 'r1',
        success: false,
        error: { code: 'UNAUTHORIZED', message: 'login first' },
      };
      assert.deepEqual(joinAnswers('subscribe', 7, new Map([['btc', yes(['a'])]])), {
        op: 'subscribe',
        id: 7,
        success: true,
        data: { topics: ['a'] },
        shard: 'btc',
      });
      assert.deepEqual(
        joinAnswers(
          'subscribe',
          7,
          new Map([
            ['btc', yes(['a', 'o'])],
            ['eth', yes(['o'])],
          ]),
        ),
        {
          op: 'subscribe',
          id: 7,
          success: true,
          data: { topics: ['a', 'o'] },
        },
      );
      const refused = joinAnswers(
        'subscribe',
        7,
        new Map<string, Record<string, unknown>>([
          ['btc', yes(['o'])],
          ['eth', no],
        ]),
      );
      assert.deepEqual([refused.success, refused.shard], [false, 'eth'], 'a refusal');
      const login = joinAnswers(
        'login',
        1,
        new Map<string, Record<string, unknown>>([
          ['btc', { op: 'login', success: true, data: { account: 'a' } }],
          ['eth', { ...no, op: 'login' }],
        ]),
      );
      assert.deepEqual(login.data, { account: 'a', shards: ['btc'], partial: ['eth'] }, 'login partial');
    },
  );
});
