/**
 * A catalogue of malformed and refused inputs: bad JSON, wrong types, NaN and infinities, huge numbers, too many
 * decimals, unknown fields, unknown markets, bad paths and queries, and requests the engine refuses on state.
 * Every one is answered 4xx with `{code, message}` (the expected code where it is fixed), and the engine's state
 * hash and the journal are unchanged afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BTCUSDT, Harness, type KeyName } from './helpers.ts';

interface Case {
  name: string;
  method?: string;
  url?: string;
  /** JSON body, or `raw` text. */
  body?: unknown;
  raw?: string;
  as?: KeyName | null;
  /** Extra request headers (sent as is). */
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const CALC_POSITION = {
  symbol: 'BTCUSDT',
  side: 'long',
  size: '1',
  entryPrice: '20000',
  markPrice: '20000',
  leverage: '10',
};
const calcVenue = (venue: string): Case => ({
  name: `calc venue ${JSON.stringify(venue)} (an Object.prototype name)`,
  url: '/api/v1/calc',
  as: null,
  body: { venue, positions: [CALC_POSITION] },
  status: 400,
  code: 'INVALID_INPUT',
});

const ORDER = { symbol: 'BTCUSDT', side: 'buy', type: 'limit', price: '59000', amount: '0.1' };
const order = (patch: Record<string, unknown>, drop: string[] = []): Record<string, unknown> => {
  const o: Record<string, unknown> = { ...ORDER, ...patch };
  for (const k of drop) delete o[k];
  return o;
};
const MARKET = BTCUSDT as unknown as Record<string, unknown>;

const bad = (name: string, body: Record<string, unknown>, code = 'INVALID_REQUEST', status = 400): Case => ({
  name,
  body,
  status,
  code,
});

const CASES: Case[] = [
  // Names that exist on Object.prototype are unknown names, never a 500 (issue 15)
  calcVenue('__proto__'),
  calcVenue('constructor'),
  calcVenue('toString'),
  {
    name: 'market named __proto__',
    method: 'GET',
    url: '/api/v1/markets/__proto__',
    as: null,
    status: 404,
    code: 'UNKNOWN_MARKET',
  },
  {
    name: 'book of market constructor',
    method: 'GET',
    url: '/api/v1/orderbook/constructor',
    as: null,
    status: 404,
    code: 'UNKNOWN_MARKET',
  },
  {
    name: 'API key id __proto__',
    method: 'GET',
    url: '/api/v1/balance',
    as: null,
    headers: {
      'x-rf-key': '__proto__',
      'x-rf-timestamp': String(Date.now()),
      'x-rf-signature': 'a'.repeat(64),
    },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  // Errors the router raises before any hook keep the {code, message} shape (issue 15)
  {
    name: '300-character path parameter',
    method: 'GET',
    url: `/api/v1/markets/${'A'.repeat(300)}`,
    as: null,
    status: 414,
    code: 'URI_TOO_LONG',
  },
  {
    name: 'bad percent-encoding in the path',
    method: 'GET',
    url: '/api/v1/markets/%E0%A4%A',
    as: null,
    status: 400,
    code: 'INVALID_REQUEST',
  },
  // Malformed JSON and wrong top-level shapes
  { name: 'truncated JSON', raw: '{"symbol":"BTCUSDT"', status: 400, code: 'INVALID_JSON' },
  { name: 'not JSON at all', raw: 'buy 1 BTC', status: 400, code: 'INVALID_JSON' },
  { name: 'trailing comma', raw: '{"symbol":"BTCUSDT",}', status: 400, code: 'INVALID_JSON' },
  {
    name: 'NaN literal',
    raw: '{"symbol":"BTCUSDT","side":"buy","type":"limit","price":NaN,"amount":"1"}',
    status: 400,
    code: 'INVALID_JSON',
  },
  {
    name: 'Infinity literal',
    raw: '{"symbol":"BTCUSDT","side":"buy","type":"limit","price":"1","amount":Infinity}',
    status: 400,
    code: 'INVALID_JSON',
  },
  {
    name: '__proto__ pollution',
    raw: '{"__proto__":{"admin":true},"symbol":"BTCUSDT"}',
    status: 400,
    code: 'INVALID_JSON',
  },
  {
    name: 'constructor.prototype pollution',
    raw: '{"constructor":{"prototype":{"x":1}}}',
    status: 400,
    code: 'INVALID_JSON',
  },
  { name: 'empty body', raw: '', status: 400, code: 'INVALID_REQUEST' },
  { name: 'null body', raw: 'null', status: 400, code: 'INVALID_REQUEST' },
  { name: 'array body', raw: '[]', status: 400, code: 'INVALID_REQUEST' },
  { name: 'string body', raw: '"order"', status: 400, code: 'INVALID_REQUEST' },
  { name: 'number body', raw: '42', status: 400, code: 'INVALID_REQUEST' },
  // Wrong types
  bad('amount as a JSON number', order({ amount: 0.1 })),
  bad('price as a JSON number', order({ price: 59000 })),
  bad('amount null', order({ amount: null })),
  bad('amount array', order({ amount: ['0.1'] })),
  bad('amount object', order({ amount: { value: '0.1' } })),
  bad('symbol as a number', order({ symbol: 42 })),
  bad('side in capitals', order({ side: 'BUY' })),
  bad('unknown order type', order({ type: 'stop' })),
  bad('reduceOnly as a string', order({ reduceOnly: 'true' })),
  bad('unknown time in force', order({ timeInForce: 'GTD' })),
  bad('unknown self-trade prevention', order({ stp: 'none' })),
  bad('clientOrderId too long', order({ clientOrderId: 'x'.repeat(65) })),
  bad('clientOrderId with spaces', order({ clientOrderId: 'my order' })),
  bad('missing amount', order({}, ['amount'])),
  bad('missing side', order({}, ['side'])),
  bad('limit order without a price', order({}, ['price'])),
  bad('postOnly with IOC', order({ postOnly: true, timeInForce: 'IOC' })),
  // Decimals
  bad('amount "NaN"', order({ amount: 'NaN' })),
  bad('amount "Infinity"', order({ amount: 'Infinity' })),
  bad('amount with an exponent', order({ amount: '1e-3' })),
  bad('negative amount', order({ amount: '-0.1' })),
  bad('amount with a leading space', order({ amount: ' 0.1' })),
  bad('price with a thousands separator', order({ price: '59,000' })),
  bad('hex price', order({ price: '0xE678' })),
  bad('empty price', order({ price: '' })),
  bad('price ".5"', order({ price: '.5' })),
  bad('price "5."', order({ price: '5.' })),
  bad('more than 18 decimals', order({ amount: '0.1000000000000000001' })),
  bad('more than 30 integer digits', order({ price: '1'.repeat(31) })),
  bad('zero amount', order({ amount: '0' }), 'INVALID_QUANTITY'),
  bad('amount finer than the lot', order({ amount: '0.0001' }), 'INVALID_QUANTITY'),
  bad('amount with more decimals than the lot', order({ amount: '0.1000001' }), 'INVALID_QUANTITY'),
  bad('amount beyond the largest order', order({ amount: '99999999999' }), 'INVALID_QUANTITY'),
  bad('price off the tick', order({ price: '59000.05' }), 'INVALID_PRICE'),
  bad('price beyond the price range', order({ price: '9'.repeat(30) }), 'INVALID_PRICE'),
  bad('zero price', order({ price: '0' }), 'INVALID_PRICE'),
  bad('price outside the band', order({ price: '90000' }), 'PRICE_BAND'),
  bad('market order with a price', order({ type: 'market' }), 'INVALID_COMMAND'),
  // Unknown fields and markets
  bad('unknown field', order({ foo: 1 })),
  bad('unknown field: leverage on an order', order({ leverage: '20' })),
  bad('unknown market', order({ symbol: 'DOGEUSDT' }), 'UNKNOWN_MARKET', 404),
  bad('symbol with forbidden characters', order({ symbol: 'BTC USDT' })),
  // Refused on state
  bad('reduce-only without a position', order({ reduceOnly: true }), 'REDUCE_ONLY_WOULD_INCREASE', 409),
  bad('post-only that would take', order({ price: '60100', postOnly: true }), 'POST_ONLY_WOULD_TAKE', 409),
  bad(
    'FOK that cannot fill',
    order({ price: '60100', amount: '5', timeInForce: 'FOK' }),
    'FOK_NOT_FILLED',
    409,
  ),
  bad('order beyond the margin', order({ price: '60000', amount: '50' }), 'INSUFFICIENT_MARGIN', 422),
  // Other routes: paths, queries, margin, admin
  { name: 'bad order id', method: 'DELETE', url: '/api/v1/orders/abc', status: 400, code: 'INVALID_REQUEST' },
  { name: 'order id 0', method: 'DELETE', url: '/api/v1/orders/0', status: 400, code: 'INVALID_REQUEST' },
  {
    name: 'huge order id',
    method: 'DELETE',
    url: `/api/v1/orders/${'9'.repeat(20)}`,
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'unknown order id',
    method: 'DELETE',
    url: '/api/v1/orders/12345',
    status: 404,
    code: 'UNKNOWN_ORDER',
  },
  {
    name: 'cancel-all on an unknown market',
    method: 'DELETE',
    url: '/api/v1/orders?symbol=NOPE',
    status: 404,
    code: 'UNKNOWN_MARKET',
  },
  {
    name: 'amend with nothing to change',
    method: 'PATCH',
    url: '/api/v1/orders/1',
    body: {},
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'amend with an unknown field',
    method: 'PATCH',
    url: '/api/v1/orders/1',
    body: { qty: '1' },
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'unknown market in the path',
    method: 'GET',
    url: '/api/v1/orderbook/NOPE',
    as: null,
    status: 404,
    code: 'UNKNOWN_MARKET',
  },
  {
    name: 'unknown market ticker',
    method: 'GET',
    url: '/api/v1/tickers/NOPE',
    as: null,
    status: 404,
    code: 'UNKNOWN_MARKET',
  },
  {
    name: 'bad symbol in the path',
    method: 'GET',
    url: '/api/v1/markets/BTC%20USDT',
    as: null,
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'limit 0',
    method: 'GET',
    url: '/api/v1/trades/BTCUSDT?limit=0',
    as: null,
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'limit not a number',
    method: 'GET',
    url: '/api/v1/trades/BTCUSDT?limit=abc',
    as: null,
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'limit too large',
    method: 'GET',
    url: '/api/v1/trades/BTCUSDT?limit=100000',
    as: null,
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'unknown query parameter',
    method: 'GET',
    url: '/api/v1/trades/BTCUSDT?foo=1',
    as: null,
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'repeated query parameter',
    method: 'GET',
    url: '/api/v1/positions?symbol=A&symbol=B',
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'unknown market in a query',
    method: 'GET',
    url: '/api/v1/positions?symbol=NOPE',
    status: 404,
    code: 'UNKNOWN_MARKET',
  },
  { name: 'unknown route', method: 'GET', url: '/api/v1/nothing', as: null, status: 404, code: 'NOT_FOUND' },
  {
    name: 'add margin without a position',
    method: 'POST',
    url: '/api/v1/margin/add',
    body: { symbol: 'BTCUSDT', amount: '10' },
    status: 409,
    code: 'NOT_ISOLATED',
  },
  {
    name: 'add margin: zero',
    method: 'POST',
    url: '/api/v1/margin/add',
    body: { symbol: 'BTCUSDT', amount: '0' },
    status: 409,
    code: 'NOT_ISOLATED',
  },
  {
    name: 'leverage above the maximum',
    method: 'POST',
    url: '/api/v1/leverage',
    body: { symbol: 'BTCUSDT', leverage: '1000' },
    status: 422,
    code: 'LEVERAGE_TOO_HIGH',
  },
  {
    name: 'leverage zero',
    method: 'POST',
    url: '/api/v1/leverage',
    body: { symbol: 'BTCUSDT', leverage: '0' },
    status: 400,
    code: 'INVALID_COMMAND',
  },
  {
    name: 'leverage with 3 decimals',
    method: 'POST',
    url: '/api/v1/leverage',
    body: { symbol: 'BTCUSDT', leverage: '10.555' },
    status: 400,
    code: 'INVALID_COMMAND',
  },
  {
    name: 'unknown margin mode',
    method: 'POST',
    url: '/api/v1/margin-mode',
    body: { symbol: 'BTCUSDT', marginMode: 'portfolio' },
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'deposit of an unknown asset',
    method: 'POST',
    url: '/api/v1/admin/deposit',
    as: 'admin',
    body: { account: 'alice', asset: 'XYZ', amount: '1' },
    status: 404,
    code: 'UNKNOWN_ASSET',
  },
  {
    name: 'deposit with 9 decimals of USDT',
    method: 'POST',
    url: '/api/v1/admin/deposit',
    as: 'admin',
    body: { account: 'alice', asset: 'USDT', amount: '1.123456789' },
    status: 400,
    code: 'INVALID_AMOUNT',
  },
  {
    name: 'deposit of a huge amount',
    method: 'POST',
    url: '/api/v1/admin/deposit',
    as: 'admin',
    body: { account: 'alice', asset: 'USDT', amount: '9'.repeat(30) },
    status: 400,
    code: 'INVALID_AMOUNT',
  },
  {
    name: 'deposit to a malformed account id',
    method: 'POST',
    url: '/api/v1/admin/deposit',
    as: 'admin',
    body: { account: 'a b', asset: 'USDT', amount: '1' },
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'withdraw more than the balance',
    method: 'POST',
    url: '/api/v1/admin/withdraw',
    as: 'admin',
    body: { account: 'alice', asset: 'USDT', amount: '1000000' },
    status: 422,
    code: 'INSUFFICIENT_BALANCE',
  },
  {
    name: 'withdraw from an unknown account',
    method: 'POST',
    url: '/api/v1/admin/withdraw',
    as: 'admin',
    body: { account: 'nobody', asset: 'USDT', amount: '1' },
    status: 404,
    code: 'UNKNOWN_ACCOUNT',
  },
  {
    name: 'market that exists',
    method: 'POST',
    url: '/api/v1/admin/markets',
    as: 'admin',
    body: MARKET,
    status: 409,
    code: 'MARKET_EXISTS',
  },
  {
    name: 'market with decreasing tier caps',
    method: 'POST',
    url: '/api/v1/admin/markets',
    as: 'admin',
    body: {
      ...MARKET,
      symbol: 'NEWUSDT',
      risk: {
        kind: 'brackets',
        tiers: [
          { cap: '100', mmr: '0.01', maxLeverage: '50' },
          { cap: '50', mmr: '0.02', maxLeverage: '25' },
        ],
      },
    },
    status: 400,
    code: 'INVALID_COMMAND',
  },
  {
    name: 'market with an unknown nested field',
    method: 'POST',
    url: '/api/v1/admin/markets',
    as: 'admin',
    body: {
      ...MARKET,
      symbol: 'NEWUSDT',
      risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.01', maxLeverage: '50', extra: 1 }] },
    },
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'market with settleDp 19',
    method: 'POST',
    url: '/api/v1/admin/markets',
    as: 'admin',
    body: { ...MARKET, symbol: 'NEWUSDT', settleDp: 19 },
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'market without risk rule',
    method: 'POST',
    url: '/api/v1/admin/markets',
    as: 'admin',
    body: { ...MARKET, symbol: 'NEWUSDT', risk: undefined },
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'oracle quote for a market without an oracle',
    method: 'POST',
    url: '/api/v1/admin/oracle',
    as: 'admin',
    body: { symbol: 'BTCUSDT', source: 'a', price: '60000' },
    status: 400,
    code: 'INVALID_COMMAND',
  },
  {
    name: 'negative mark price',
    method: 'POST',
    url: '/api/v1/admin/mark-price',
    as: 'admin',
    body: { symbol: 'BTCUSDT', price: '-5' },
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'mark price off the tick',
    method: 'POST',
    url: '/api/v1/admin/mark-price',
    as: 'admin',
    body: { symbol: 'BTCUSDT', price: '60000.01' },
    status: 400,
    code: 'INVALID_PRICE',
  },
  {
    name: 'calc: unknown venue',
    method: 'POST',
    url: '/api/v1/calc',
    as: null,
    body: { venue: 'nope', positions: [{ symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '1' }] },
    status: 400,
    code: 'INVALID_INPUT',
  },
  {
    name: 'calc: unknown market',
    method: 'POST',
    url: '/api/v1/calc',
    as: null,
    body: { positions: [{ symbol: 'NOPE', side: 'long', size: '1', entryPrice: '1' }] },
    status: 404,
    code: 'UNKNOWN_MARKET',
  },
  {
    name: 'calc: too many decimals',
    method: 'POST',
    url: '/api/v1/calc',
    as: null,
    body: { positions: [{ symbol: 'BTCUSDT', side: 'long', size: '1.0001', entryPrice: '60000' }] },
    status: 400,
    code: 'TOO_MANY_DECIMALS',
  },
  {
    name: 'calc: NaN size',
    method: 'POST',
    url: '/api/v1/calc',
    as: null,
    body: { positions: [{ symbol: 'BTCUSDT', side: 'long', size: 'NaN', entryPrice: '60000' }] },
    status: 400,
    code: 'INVALID_INPUT',
  },
  {
    name: 'calc: unknown field',
    method: 'POST',
    url: '/api/v1/calc',
    as: null,
    body: { positions: [{ symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '60000', colour: 'red' }] },
    status: 400,
    code: 'INVALID_INPUT',
  },
  {
    name: 'calc: no positions',
    method: 'POST',
    url: '/api/v1/calc',
    as: null,
    body: { positions: [] },
    status: 400,
    code: 'INVALID_REQUEST',
  },
];

describe('malformed input catalogue', () => {
  let h: Harness;
  let hash: string;
  let seq: number;
  before(async () => {
    h = await Harness.open();
    await h.setupMarket();
    // A resting ask for the post-only and FOK cases.
    await h.ok('POST', '/api/v1/orders', 'bob', { ...ORDER, side: 'sell', price: '60100', amount: '0.5' });
    await h.service.journal.flush();
    hash = h.hash();
    seq = h.service.engine.seq;
  });
  after(() => h.cleanup());

  test(`the catalogue has at least 50 cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 50);
    assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, 'names are unique');
  });

  for (const c of CASES) {
    test(c.name, async () => {
      const method = c.method ?? 'POST';
      const url = c.url ?? '/api/v1/orders';
      const as = c.as === undefined ? 'alice' : c.as;
      const r = await h.call(method, url, c.body, {
        ...(as ? { as } : {}),
        ...(c.raw !== undefined ? { raw: c.raw } : {}),
        ...(c.headers ? { headers: c.headers } : {}),
      });
      assert.ok(r.status >= 400 && r.status < 500, `${c.name}: status ${r.status} ${r.text}`);
      assert.equal(r.status, c.status, `${c.name}: ${r.text}`);
      assert.equal(r.json?.code, c.code, `${c.name}: ${r.text}`);
      assert.equal(typeof r.json.message, 'string');
      assert.ok(r.json.message.length > 0);
      assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message']);
      assert.equal(h.hash(), hash, `${c.name} changed the engine state`);
    });
  }

  test('nothing was journaled', async () => {
    await h.service.journal.flush();
    assert.equal(h.service.engine.seq, seq);
    assert.equal(h.service.journal.store.lastSeq(), seq);
    assert.deepEqual(h.service.mirror.verifyAgainst(h.service.engine), []);
  });
});
