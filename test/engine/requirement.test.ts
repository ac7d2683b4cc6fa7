/** A crossing taker's margin is sized at the prices it will actually fill at, where those need more margin. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BTCUSDT, checkInvariants, engineWithMarkets, ok, rejected } from './harness.ts';
import { amt, bal } from './scenario-kit.ts';

test('a linear sell at 15,000 crossing a bid at 20,000 reserves IM at 20,000 (its fill price), not at 15,000', () => {
  const e = engineWithMarkets(BTCUSDT);
  ok(e, { type: 'deposit', account: 'bob', asset: 'USDT', amount: '100000' });
  ok(e, { type: 'deposit', account: 'alice', asset: 'USDT', amount: '2100' });
  ok(e, {
    type: 'placeOrder',
    account: 'bob',
    symbol: 'BTCUSDT',
    side: 'buy',
    orderType: 'limit',
    price: '20000',
    size: '1',
  });
  // At 10x, 1 BTC filled at 20,000 needs 2,000 IM + 10 taker fee; sized at the 15,000 limit it would look like 1,507.5.
  ok(e, { type: 'deposit', account: 'carol', asset: 'USDT', amount: '1600' });
  rejected(
    e,
    {
      type: 'placeOrder',
      account: 'carol',
      symbol: 'BTCUSDT',
      side: 'sell',
      orderType: 'limit',
      price: '15000',
      size: '1',
    },
    'INSUFFICIENT_MARGIN',
  );
  ok(e, {
    type: 'placeOrder',
    account: 'alice',
    symbol: 'BTCUSDT',
    side: 'sell',
    orderType: 'limit',
    price: '15000',
    size: '1',
  });
  assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('2000'));
  assert.equal(bal(e, 'alice:reserved:USDT'), 0n);
  checkInvariants(e);
});
