/**
 * Stop-loss / take-profit orders through the service (issue 20): `POST /api/v1/orders` and WebSocket `order.place`
 * take `stopLossPrice` or `takeProfitPrice`; open-order views and answers carry `triggerPrice`, `stopLossPrice`,
 * `takeProfitPrice` and `triggered`; the `orders` stream carries `orderAccepted` with those fields and
 * `orderTriggered` when the mark reaches one. BTCUSDT at 60,000; alice long 1 BTC against bob.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sign } from '../../src/service/auth.ts';
import { type ErrorJson, type Fields, Harness, type OpenOrder, type OrderResult } from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

const T = { timeout: 20_000 };

describe('trigger orders over REST and WebSocket', () => {
  let h: Harness;
  let wsUrl: string;
  const clients: WsTestClient[] = [];
  const login = async (as: 'alice' | 'bob') => {
    const c = await WsTestClient.connect(wsUrl);
    clients.push(c);
    const timestamp = h.nextTimestamp();
    const key = as === 'alice' ? 'alice-key-1' : 'bob-key-001';
    const secret = `${as}-secret-0123456789abcdef0123456789`;
    const r = await c.request('login', { key, timestamp, signature: sign(secret, timestamp, 'GET', '/ws') });
    assert.equal(r.success, true, JSON.stringify(r));
    return c;
  };
  const stopLoss = { symbol: 'BTCUSDT', side: 'sell', type: 'market', amount: '1', stopLossPrice: '59000' };

  before(async () => {
    h = await Harness.open();
    await h.setupMarket();
    wsUrl = await h.listen();
    await h.ok('POST', '/api/v1/orders', 'bob', {
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'limit',
      price: '60000',
      amount: '1',
    });
    await h.ok('POST', '/api/v1/orders', 'alice', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '60000',
      amount: '1',
    });
  });
  after(async () => {
    for (const c of clients) c.terminate();
    await h.cleanup();
  });

  test(
    'refused, changing nothing: a stop-loss the mark has passed (409 WOULD_TRIGGER_IMMEDIATELY), both prices or reduceOnly false (400)',
    T,
    async () => {
      const before = h.hash();
      const cases: [Fields, number, string][] = [
        [{ ...stopLoss, stopLossPrice: '60000' }, 409, 'WOULD_TRIGGER_IMMEDIATELY'],
        [
          { ...stopLoss, stopLossPrice: undefined, takeProfitPrice: '59000' },
          409,
          'WOULD_TRIGGER_IMMEDIATELY',
        ],
        [{ ...stopLoss, takeProfitPrice: '61000' }, 400, 'INVALID_REQUEST'],
        [{ ...stopLoss, reduceOnly: false }, 400, 'INVALID_REQUEST'],
        [{ ...stopLoss, stopLossPrice: 'abc' }, 400, 'INVALID_REQUEST'],
      ];
      for (const [body, status, code] of cases) {
        const r = await h.call<ErrorJson>('POST', '/api/v1/orders', body, { as: 'alice' });
        assert.equal(r.status, status, r.text);
        assert.equal(r.json.code, code, r.text);
      }
      assert.equal(h.hash(), before);
    },
  );

  test(
    'alice places a sell stop-loss at 59,000 (market) and a take-profit at 61,000 (limit 61,500): open, triggered false, listed with their trigger fields; the take-profit cancels by clientOrderId; amending the stop is refused (409 TRIGGER_NOT_AMENDABLE)',
    T,
    async () => {
      const sl = await h.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
        ...stopLoss,
        clientOrderId: 'sl-1',
      });
      assert.equal(sl.status, 'open');
      assert.equal(sl.type, 'market');
      assert.equal(sl.price, null);
      assert.equal(sl.reduceOnly, true);
      assert.equal(sl.triggerPrice, '59000');
      assert.equal(sl.stopLossPrice, '59000');
      assert.equal(sl.takeProfitPrice, null);
      assert.equal(sl.triggered, false);
      const tp = await h.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'sell',
        type: 'limit',
        price: '61500',
        amount: '1',
        takeProfitPrice: '61000',
        clientOrderId: 'tp-1',
      });
      const open = await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'alice');
      assert.deepEqual(
        open.map((o) => [
          o.id,
          o.type,
          o.price,
          o.status,
          o.triggerPrice,
          o.stopLossPrice,
          o.takeProfitPrice,
          o.triggered,
        ]),
        [
          [sl.id, 'market', null, 'open', '59000', '59000', null, false],
          [tp.id, 'limit', '61500', 'open', '61000', null, '61000', false],
        ],
      );
      const byClient = await h.ok<OpenOrder>('GET', '/api/v1/orders/client/sl-1', 'alice');
      assert.equal(byClient.id, sl.id);
      const amend = await h.call<ErrorJson>(
        'PATCH',
        `/api/v1/orders/${sl.id}`,
        { amount: '0.5' },
        { as: 'alice' },
      );
      assert.equal(amend.status, 409);
      assert.equal(amend.json.code, 'TRIGGER_NOT_AMENDABLE');
      const canceled = await h.ok<Fields>('DELETE', '/api/v1/orders/client/tp-1', 'alice');
      assert.equal(canceled.status, 'canceled');
      assert.deepEqual(
        (await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'alice')).map((o) => o.id),
        [sl.id],
      );
      // A plain order's view carries the trigger fields as null / false.
      const plain = await h.ok<OrderResult>('POST', '/api/v1/orders', 'bob', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '50000',
        amount: '0.1',
      });
      const bobs = await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'bob');
      const view = bobs.find((o) => o.id === plain.id)!;
      assert.deepEqual(
        [view.triggerPrice, view.stopLossPrice, view.takeProfitPrice, view.triggered],
        [null, null, null, false],
      );
      await h.ok('DELETE', `/api/v1/orders/${plain.id}`, 'bob');
    },
  );

  test(
    'the mark falls to 58,800: the orders stream carries orderTriggered (trigger 59,000, mark 58,800) and the fill against bob’s bid at 58,900; alice is flat and the book mirror matches the engine',
    T,
    async () => {
      const c = await login('alice');
      assert.equal((await c.request('subscribe', ['orders'])).success, true);
      const sl = (await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'alice'))[0]!;
      await h.ok('POST', '/api/v1/orders', 'bob', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '58900',
        amount: '1',
      });
      await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '59100' });
      await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '58800' });
      const m = await c.next((x) => x.topic === 'orders' && x.data.some((d) => d.type === 'orderTriggered'));
      const trig = m.data.find((d) => d.type === 'orderTriggered')!;
      assert.equal(trig.orderId, sl.id);
      assert.equal(trig.triggerPrice, '59000');
      assert.equal(trig.stopLossPrice, '59000');
      assert.equal(trig.markPrice, '58800');
      assert.equal(trig.triggered, true);
      assert.equal(trig.size, '1');
      const filled = m.data.find((d) => d.type === 'orderFilled');
      assert.equal(filled?.orderId, sl.id);
      assert.equal(filled?.price, '58900');
      assert.deepEqual(await h.ok('GET', '/api/v1/orders', 'alice'), []);
      assert.deepEqual(await h.ok('GET', '/api/v1/positions', 'alice'), []);
      assert.deepEqual(h.service.mirror.verifyAgainst(h.service.engine), []);
    },
  );

  test(
    'WebSocket order.place takes takeProfitPrice and answers as REST; the orders stream shows it accepted with its trigger fields; it fires with no position to reduce: canceled (reduceOnly)',
    T,
    async () => {
      const c = await login('alice');
      assert.equal((await c.request('subscribe', ['orders'])).success, true);
      const placed = await c.request('order.place', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'market',
        amount: '0.5',
        takeProfitPrice: '58000',
      });
      assert.equal(placed.success, true, JSON.stringify(placed));
      assert.equal(placed.data.takeProfitPrice, '58000');
      assert.equal(placed.data.triggered, false);
      const acc = await c.next(
        (x) =>
          x.topic === 'orders' &&
          x.data.some((d) => d.type === 'orderAccepted' && d.orderId === placed.data.id),
      );
      const ev = acc.data.find((d) => d.type === 'orderAccepted')!;
      assert.deepEqual(
        [
          ev.triggerKind,
          ev.triggerPrice,
          ev.takeProfitPrice,
          ev.stopLossPrice,
          ev.triggered,
          ev.price,
          ev.orderType,
        ],
        ['takeProfit', '58000', '58000', null, false, null, 'market'],
      );
      await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '57900' });
      const gone = await c.next(
        (x) =>
          x.topic === 'orders' &&
          x.data.some((d) => d.type === 'orderCanceled' && d.orderId === placed.data.id),
      );
      assert.equal(gone.data.find((d) => d.type === 'orderCanceled')!.reason, 'reduceOnly');
      assert.deepEqual(h.service.mirror.verifyAgainst(h.service.engine), []);
    },
  );

  test(
    'alice long 0.5 BTC with a sell stop-limit (stop 57,500, limit 57,400) and no bid: the mark at 57,450 triggers it and it rests in the book — open, triggered true, in the public order book',
    T,
    async () => {
      await h.ok('POST', '/api/v1/orders', 'bob', {
        symbol: 'BTCUSDT',
        side: 'sell',
        type: 'limit',
        price: '57900',
        amount: '0.5',
      });
      await h.ok('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '57900',
        amount: '0.5',
      });
      const stop = await h.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'sell',
        type: 'limit',
        price: '57400',
        amount: '0.5',
        stopLossPrice: '57500',
      });
      await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '57450' });
      const [o] = await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'alice');
      assert.deepEqual(
        [o!.id, o!.type, o!.price, o!.remaining, o!.status, o!.triggered, o!.stopLossPrice],
        [stop.id, 'limit', '57400', '0.5', 'open', true, '57500'],
      );
      const book = await h.call<{ asks: [string, string][] }>('GET', '/api/v1/orderbook/BTCUSDT');
      assert.deepEqual(book.json.asks, [['57400', '0.5']]);
      assert.deepEqual(h.service.mirror.verifyAgainst(h.service.engine), []);
    },
  );
});
