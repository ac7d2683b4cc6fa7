/**
 * Combo orders through the service: bob quotes a 100k/110k call spread on a linear BTC chain; alice, in a `maxLoss`
 * silo, buys it with one signed POST /api/v1/combo and gets every leg's fills back; the legs are her silo's positions;
 * an unsigned request is refused; a leg too thin refuses the whole combo (409 FOK_NOT_FILLED) and changes nothing;
 * a silo too small for the combo is refused (422 INSUFFICIENT_MARGIN); a malformed body never reaches the engine; the
 * endpoint is in the OpenAPI document. Over WebSocket, `combo.place` takes the same body and answers the same.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { optionSymbol } from '../../src/engine/commands/options.ts';
import { BTCUSDT, type ErrorJson, type Fields, Harness, KEYS, type PositionJson } from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

const T = { timeout: 30_000 };

/** 08:00 UTC thirty days from now: an expiry the service's wall clock has not reached. */
const EXPIRY = (() => {
  const d = new Date(Date.now() + 30 * 86_400_000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 8);
})();
const C100 = optionSymbol('BTC', 'USDT', 'linear', EXPIRY, '100000', 'call');
const C110 = optionSymbol('BTC', 'USDT', 'linear', EXPIRY, '110000', 'call');

interface ComboJson {
  id: string;
  seq: number;
  clientComboId: string | null;
  silo: string;
  status: string;
  legs: {
    orderId: string;
    symbol: string;
    side: string;
    price: string;
    amount: string;
    average: string;
    cost: string;
    fee: { cost: string; currency: string };
    trades: { price: string; amount: string; orderId: string; takerOrMaker: string }[];
  }[];
}

const spread = (size: string) => [
  { symbol: C100, side: 'buy', size, price: '2500' },
  { symbol: C110, side: 'sell', size, price: '500' },
];

/** The chain at 55%, 100,000 USDT each; bob asks 1 C100 at 2,000 and bids 1 C110 at 700; alice's silo `spread`. */
async function venue(h: Harness): Promise<void> {
  await h.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
  await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '90000' });
  await h.ok('POST', '/api/v1/admin/option-chain', 'admin', {
    underlying: 'BTCUSDT',
    settle: 'linear',
    expiries: [EXPIRY],
    strikes: ['100000', '110000'],
    types: ['call'],
    tickSize: '0.1',
    lotSize: '0.01',
  });
  await h.ok('POST', '/api/v1/admin/vol', 'admin', {
    underlying: 'BTCUSDT',
    expiry: EXPIRY,
    smile: { kind: 'strikes', ivs: { '100000': '0.55', '110000': '0.55' } },
  });
  for (const account of ['alice', 'bob'])
    await h.ok('POST', '/api/v1/admin/deposit', 'admin', { account, asset: 'USDT', amount: '100000' });
  await h.ok('POST', '/api/v1/orders', 'bob', {
    symbol: C100,
    side: 'sell',
    type: 'limit',
    amount: '1',
    price: '2000',
  });
  await h.ok('POST', '/api/v1/orders', 'bob', {
    symbol: C110,
    side: 'buy',
    type: 'limit',
    amount: '1',
    price: '700',
  });
  await h.ok('POST', '/api/v1/silos', 'alice', { silo: 'spread', asset: 'USDT', riskModel: 'maxLoss' });
  await h.ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'free', to: 'spread', amount: '2000' });
}

describe('combo orders over REST', T, () => {
  let h: Harness;

  before(async () => {
    h = await Harness.open();
    await venue(h);
  });
  after(async () => {
    await h.cleanup();
  });

  test('an unsigned combo is refused; a malformed one never reaches the engine', T, async () => {
    const before = h.hash();
    const unsigned = await h.call<ErrorJson>('POST', '/api/v1/combo', {
      silo: 'spread',
      legs: spread('0.1'),
    });
    assert.equal(unsigned.status, 401, unsigned.text);
    const oneLeg = await h.call<ErrorJson>(
      'POST',
      '/api/v1/combo',
      { silo: 'spread', legs: spread('0.1').slice(0, 1) },
      { as: 'alice' },
    );
    assert.equal(oneLeg.status, 400, oneLeg.text);
    const numeric = await h.call<ErrorJson>(
      'POST',
      '/api/v1/combo',
      { silo: 'spread', legs: [{ ...spread('0.1')[0], size: 0.1 }, spread('0.1')[1]] },
      { as: 'alice' },
    );
    assert.equal(numeric.status, 400, numeric.text);
    assert.equal(h.hash(), before);
  });

  test('a leg too thin → 409 FOK_NOT_FILLED naming it, and nothing changed', T, async () => {
    const before = h.hash();
    const r = await h.call<ErrorJson>(
      'POST',
      '/api/v1/combo',
      { silo: 'spread', legs: spread('2') },
      { as: 'alice' },
    );
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.code, 'FOK_NOT_FILLED');
    assert.match(r.json.message, /^leg 1 .*the book holds 1 at that limit or better/);
    assert.equal(h.hash(), before);
  });

  test('a silo too small for the combo → 422 INSUFFICIENT_MARGIN with the figures', T, async () => {
    await h.ok('POST', '/api/v1/silos', 'alice', { silo: 'tiny', asset: 'USDT', riskModel: 'maxLoss' });
    await h.ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'free', to: 'tiny', amount: '10' });
    const before = h.hash();
    const r = await h.call<ErrorJson>(
      'POST',
      '/api/v1/combo',
      { silo: 'tiny', legs: spread('1') },
      { as: 'alice' },
    );
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.code, 'INSUFFICIENT_MARGIN');
    assert.match(r.json.message, /initial margin from 0 USDT to [\d.]+ USDT; available after it would be -/);
    assert.equal(h.hash(), before);
  });

  test(
    'alice buys the spread with one signed request: both legs filled at the book, her silo holds them',
    T,
    async () => {
      const c = await h.ok<ComboJson>('POST', '/api/v1/combo', 'alice', {
        silo: 'spread',
        legs: spread('1'),
        clientComboId: 'spread-1',
      });
      assert.equal(c.status, 'filled');
      assert.equal(c.silo, 'spread');
      assert.equal(c.clientComboId, 'spread-1');
      assert.deepEqual(
        c.legs.map((l) => [l.symbol, l.side, l.price, l.amount, l.average, l.trades.length]),
        [
          [C100, 'buy', '2500', '1', '2000', 1],
          [C110, 'sell', '500', '1', '700', 1],
        ],
      );
      assert.deepEqual(
        c.legs.map((l) => [l.cost, l.fee.cost, l.fee.currency]),
        [
          ['2000', '0.6', 'USDT'],
          ['700', '0.21', 'USDT'],
        ],
      );
      for (const l of c.legs) assert.equal(l.trades[0]!.orderId, l.orderId);
      assert.ok(Number(c.id) < Number(c.legs[0]!.orderId));
      const positions = await h.ok<PositionJson[]>('GET', '/api/v1/positions', 'alice');
      const legs = positions.filter((p) => (p as PositionJson & Fields).silo === 'spread');
      assert.deepEqual(legs.map((p) => [p.symbol, p.side]).sort(), [
        [C100, 'long'],
        [C110, 'short'],
      ]);
    },
  );

  test('the combo endpoint is in the OpenAPI document', T, async () => {
    const doc = await h.call<{ paths: Record<string, { post?: Fields }> }>('GET', '/docs/json');
    assert.equal(doc.status, 200);
    assert.ok(doc.json.paths['/api/v1/combo']?.post, 'POST /api/v1/combo documented');
  });
});

describe('combo orders over WebSocket', T, () => {
  let h: Harness;
  let c: WsTestClient;

  before(async () => {
    h = await Harness.open();
    await venue(h);
    c = await WsTestClient.connect(await h.listen());
  });
  after(async () => {
    c.close();
    await h.cleanup();
  });

  test(
    'combo.place: refused before a login; a malformed or too thin combo changes nothing; alice buys the spread and gets what POST combo answers, and the orders stream carries comboFilled',
    T,
    async () => {
      const unauthorized = await c.request('combo.place', { silo: 'spread', legs: spread('1') });
      assert.equal(unauthorized.error.code, 'UNAUTHORIZED');
      const ts = h.nextTimestamp();
      const signature = h.sign('alice', 'GET', '/ws', '', ts)['x-rf-signature'];
      assert.equal(
        (await c.request('login', { key: KEYS.alice.key, timestamp: ts, signature })).success,
        true,
      );
      assert.equal((await c.request('subscribe', ['orders'])).success, true);

      const before = h.hash();
      const oneLeg = await c.request('combo.place', { silo: 'spread', legs: spread('1').slice(0, 1) });
      assert.equal(oneLeg.error.code, 'INVALID_REQUEST');
      const extra = await c.request('combo.place', { silo: 'spread', legs: spread('1'), foo: 1 });
      assert.equal(extra.error.code, 'INVALID_REQUEST');
      const thin = await c.request('combo.place', { silo: 'spread', legs: spread('2') });
      assert.equal(thin.error.code, 'FOK_NOT_FILLED');
      assert.match(thin.error.message, /^leg 1 .*the book holds 1 at that limit or better/);
      assert.equal(h.hash(), before, 'nothing changed');

      const r = await c.request('combo.place', {
        silo: 'spread',
        legs: spread('1'),
        clientComboId: 'ws-spread',
      });
      assert.equal(r.success, true, JSON.stringify(r));
      const combo = r.data as unknown as ComboJson;
      assert.deepEqual(
        [combo.status, combo.silo, combo.clientComboId, typeof combo.seq],
        ['filled', 'spread', 'ws-spread', 'number'],
      );
      assert.deepEqual(
        combo.legs.map((l) => [l.symbol, l.side, l.price, l.amount, l.average, l.cost, l.fee.cost]),
        [
          [C100, 'buy', '2500', '1', '2000', '2000', '0.6'],
          [C110, 'sell', '500', '1', '700', '700', '0.21'],
        ],
      );
      // The same fields as POST combo's answer (one implementation behind both).
      assert.deepEqual(Object.keys(combo).sort(), [
        'clientComboId',
        'id',
        'legs',
        'seq',
        'silo',
        'status',
        'timestamp',
      ]);
      const stream = await c.next(
        (m) => m.topic === 'orders' && Array.isArray(m.data) && m.data.some((x) => x.type === 'comboFilled'),
      );
      const done = stream.data.find((x) => x.type === 'comboFilled')!;
      assert.deepEqual([done.comboId, done.clientComboId, done.silo], [combo.id, 'ws-spread', 'spread']);
      const positions = await h.ok<PositionJson[]>('GET', '/api/v1/positions', 'alice');
      const legs = positions.filter((p) => (p as PositionJson & Fields).silo === 'spread');
      assert.deepEqual(legs.map((p) => [p.symbol, p.side]).sort(), [
        [C100, 'long'],
        [C110, 'short'],
      ]);
    },
  );
});
