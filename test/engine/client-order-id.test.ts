/**
 * clientOrderId is unique among an account's open orders (issue 15): a client retrying a place after a timeout must
 * not get a second order. The engine refuses the duplicate with DUPLICATE_CLIENT_ORDER_ID naming the original
 * order (and changes nothing); the id is free again once that order is no longer open (filled, canceled); other
 * accounts may use the same id; and the index survives a snapshot and restore (it is rebuilt from the open orders).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { restoreEngine, snapshotEngine } from '../../src/engine/snapshot.ts';
import type { Command } from '../../src/engine/types.ts';
import { BTCUSDT, engineWithMarkets, ok, rejected, t } from './harness.ts';
import { deposit } from './scenario-kit.ts';

const T = { timeout: 10_000 };

function venue(): Engine {
  const e = engineWithMarkets(BTCUSDT);
  for (const a of ['alice', 'bob']) deposit(e, a, '1000000');
  ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
  return e;
}

const bid = (account: string, price: string, clientOrderId?: string, size = '1') =>
  ({
    type: 'placeOrder',
    account,
    symbol: 'BTCUSDT',
    side: 'buy',
    orderType: 'limit',
    size,
    price,
    ...(clientOrderId !== undefined ? { clientOrderId } : {}),
  }) as const;

/** The index is exactly the open orders that carry a clientOrderId (it is a cache of them). */
function assertIndexed(e: Engine): void {
  for (const a of e.accounts.values()) {
    const derived = [...a.orders.values()]
      .filter((o) => o.clientOrderId !== null)
      .map((o) => [o.clientOrderId, o.id] as const)
      .sort();
    const index = [...a.clientOrders].map(([k, o]) => [k, o.id] as const).sort();
    assert.deepEqual(index, derived, `${a.id}: clientOrderId index`);
  }
}

const orderIdOf = (r: ReturnType<typeof ok>): number => {
  const ev = r.events.find((x) => x.type === 'orderAccepted');
  assert.ok(ev && ev.type === 'orderAccepted');
  return ev.orderId;
};

describe('clientOrderId: unique among the account’s open orders', () => {
  test(
    'alice bids 1 BTC at 19,900 as "retry-1"; the same place again is DUPLICATE_CLIENT_ORDER_ID naming the first order, and nothing changes',
    T,
    () => {
      const e = venue();
      const first = orderIdOf(ok(e, bid('alice', '19900', 'retry-1')));
      rejected(e, bid('alice', '19900', 'retry-1'), 'DUPLICATE_CLIENT_ORDER_ID');
      const r = e.apply({ ...bid('alice', '19800', 'retry-1'), time: t() } as Command);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.message, new RegExp(`open order ${first}\\b`));
      assert.equal(e.accounts.get('alice')!.orders.size, 1);
    },
  );

  test('bob may use "retry-1" too; orders without a clientOrderId never collide', T, () => {
    const e = venue();
    ok(e, bid('alice', '19900', 'retry-1'));
    ok(e, bid('bob', '19900', 'retry-1'));
    ok(e, bid('alice', '19900'));
    ok(e, bid('alice', '19900'));
    assert.equal(e.accounts.get('alice')!.orders.size, 3);
  });

  test(
    'once alice’s "a" is canceled, and once her "b" is filled by bob’s sell of 1 BTC at 19,900, both ids are free again',
    T,
    () => {
      const e = venue();
      const a = orderIdOf(ok(e, bid('alice', '19800', 'a')));
      ok(e, bid('alice', '19900', 'b'));
      ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: a });
      ok(e, bid('alice', '19800', 'a'));
      ok(e, {
        type: 'placeOrder',
        account: 'bob',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'limit',
        size: '1',
        price: '19900',
      });
      ok(e, bid('alice', '19900', 'b'));
      assertIndexed(e);
    },
  );

  test('a taker that fills completely never rests: its clientOrderId stays free', T, () => {
    const e = venue();
    ok(e, {
      type: 'placeOrder',
      account: 'bob',
      symbol: 'BTCUSDT',
      side: 'sell',
      orderType: 'limit',
      size: '2',
      price: '20000',
    });
    ok(e, bid('alice', '20000', 'take-1'));
    assert.equal(e.accounts.get('alice')!.orders.size, 0);
    ok(e, bid('alice', '20000', 'take-1'));
  });

  test(
    'after a snapshot and restore the index is rebuilt from the open orders: the duplicate is still refused, a freed id still accepted',
    T,
    () => {
      const e = venue();
      ok(e, bid('alice', '19900', 'keep'));
      const gone = orderIdOf(ok(e, bid('alice', '19800', 'gone')));
      ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: gone });
      const r = restoreEngine(snapshotEngine(e));
      assert.equal(stateHash(r), stateHash(e));
      rejected(r, bid('alice', '19900', 'keep'), 'DUPLICATE_CLIENT_ORDER_ID');
      ok(r, bid('alice', '19800', 'gone'));
      assertIndexed(r);
    },
  );
});
