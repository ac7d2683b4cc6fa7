/**
 * Pre-trade and match-time risk. An isolated order reserves, from free balance, initial margin at its limit price
 * + the loss it would book at once against the mark + the worst-case taker fee on the lots it opens; the reserve
 * is released on cancel and consumed on fill. A cross order moves no money but counts the same requirement
 * against available balance. BTCUSDT: taker 0.05%, maker 0.02%. Amounts are USDT at 8 decimals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Engine } from '../../src/engine/engine.ts';
import { BTCUSDT, checkInvariants, engineWithMarkets, ok, rejected } from './harness.ts';
import { amt, avail, bal, cancels, deposit, fills, fmt, limit, moves, type Ok } from './scenario-kit.ts';

function venue(): Engine {
  const e = engineWithMarkets(BTCUSDT);
  for (const a of ['bob', 'carol', 'dave', 'erin']) deposit(e, a, '1000000');
  return e;
}

const lev = (e: Engine, account: string, leverage: string) =>
  ok(e, { type: 'setLeverage', account, symbol: 'BTCUSDT', leverage });
const cross = (e: Engine, account: string) =>
  ok(e, { type: 'setMarginMode', account, symbol: 'BTCUSDT', mode: 'cross' });
/** Only alice's money movements. */
const hers = (r: Ok) => moves(r).filter(([from, to]) => from.startsWith('alice:') || to.startsWith('alice:'));

describe('isolated order reserves', () => {
  test('alice’s 50x limit buy of 1 BTC at 20,000 reserves 410 USDT (400 IM + 10 worst-case taker fee); cancelling releases exactly 410', () => {
    const e = venue();
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '50');
    const o = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    assert.deepEqual(moves(o), [['alice:main:USDT', 'alice:reserved:USDT', '410', 'orderReserve']]);
    assert.equal(bal(e, 'alice:reserved:USDT'), amt('410'));
    assert.equal(avail(e, 'alice'), amt('590'));
    const c = ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: o.orderId! });
    assert.deepEqual(moves(c), [['alice:reserved:USDT', 'alice:main:USDT', '410', 'orderRelease']]);
    assert.equal(bal(e, 'alice:main:USDT'), amt('1000'));
    checkInvariants(e);
  });

  test('a buy above mark also reserves the loss it books at once: 1 BTC at 20,100, mark 20,000 → 402 + 10.05 + 100 = 512.05; filled at bob’s 20,000 it commits 400 + 10 and returns 102.05', () => {
    const e = venue();
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '50');
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20100');
    assert.deepEqual(hers(r), [
      ['alice:main:USDT', 'alice:reserved:USDT', '512.05', 'orderReserve'],
      ['alice:reserved:USDT', 'alice:isolated:BTCUSDT', '400', 'initialMargin'],
      ['alice:reserved:USDT', 'fees:USDT', '10', 'fee'],
      ['alice:reserved:USDT', 'alice:main:USDT', '102.05', 'orderRelease'],
    ]);
    assert.equal(bal(e, 'alice:reserved:USDT'), 0n);
    assert.equal(bal(e, 'alice:main:USDT'), amt('590'));
    checkInvariants(e);
  });

  test('filled as a maker alice pays 0.02% (4 USDT) of the 10 reserved for a taker fee: 6 comes back', () => {
    const e = venue();
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '50');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    const r = limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    assert.deepEqual(hers(r), [
      ['alice:reserved:USDT', 'alice:isolated:BTCUSDT', '400', 'initialMargin'],
      ['alice:reserved:USDT', 'fees:USDT', '4', 'fee'],
      ['alice:reserved:USDT', 'alice:main:USDT', '6', 'orderRelease'],
    ]);
    assert.equal(bal(e, 'alice:main:USDT'), amt('596'));
    checkInvariants(e);
  });

  test('a partial fill consumes the reserve pro rata: 0.4 of 1 BTC takes 164 of 410 (160 IM + 1.6 maker fee, 2.4 back); cancelling the rest releases 246', () => {
    const e = venue();
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '50');
    const o = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    const r = limit(e, 'bob', 'BTCUSDT', 'sell', '0.4', '20000');
    assert.deepEqual(hers(r), [
      ['alice:reserved:USDT', 'alice:isolated:BTCUSDT', '160', 'initialMargin'],
      ['alice:reserved:USDT', 'fees:USDT', '1.6', 'fee'],
      ['alice:reserved:USDT', 'alice:main:USDT', '2.4', 'orderRelease'],
    ]);
    assert.equal(bal(e, 'alice:reserved:USDT'), amt('246'));
    const c = ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: o.orderId! });
    assert.deepEqual(moves(c), [['alice:reserved:USDT', 'alice:main:USDT', '246', 'orderRelease']]);
    assert.equal(bal(e, 'alice:main:USDT'), amt('838.4')); // 1000 − 160 − 1.6
    checkInvariants(e);
  });

  test('INSUFFICIENT_MARGIN changes nothing: 409.99999999 USDT cannot back the 410 a 50x 1 BTC buy at 20,000 needs; 410 can', () => {
    const e = venue();
    deposit(e, 'alice', '409.99999999');
    lev(e, 'alice', '50');
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '1',
        price: '20000',
      },
      'INSUFFICIENT_MARGIN',
    );
    deposit(e, 'alice', '0.00000001');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    assert.equal(bal(e, 'alice:main:USDT'), 0n);
    checkInvariants(e);
  });
});

describe('cross order requirements', () => {
  test('alice’s cross order counts against available without moving money: 410 for 1 BTC at 20,000 (50x); 1.5 more (615) is INSUFFICIENT_MARGIN, 1.4 (574) fits', () => {
    const e = venue();
    deposit(e, 'alice', '1000');
    cross(e, 'alice');
    lev(e, 'alice', '50');
    const a = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    assert.deepEqual(moves(a), []);
    assert.equal(e.accounts.get('alice')!.wallets.get('USDT')!.crossOrderRequirement, amt('410'));
    assert.equal(avail(e, 'alice'), amt('590'));
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '1.5',
        price: '20000',
      },
      'INSUFFICIENT_MARGIN',
    );
    limit(e, 'alice', 'BTCUSDT', 'buy', '1.4', '20000'); // 560 IM + 14 fee
    assert.equal(avail(e, 'alice'), amt('16'));
    // carol sells 1 into alice's first order: the 410 requirement becomes 400 IM, alice pays a 4 maker fee from main
    const r = limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20000');
    assert.deepEqual(hers(r), [['alice:main:USDT', 'fees:USDT', '4', 'fee']]);
    assert.equal(e.accounts.get('alice')!.wallets.get('USDT')!.crossOrderRequirement, amt('574'));
    assert.equal(avail(e, 'alice'), amt('22')); // 996 − 400 IM − 574
    checkInvariants(e);
  });
});

describe('orders that reduce risk', () => {
  test('alice’s 50x long is below IM after mark falls to 19,800 (400 − 200 loss < 396) and she has nothing free: closing orders are still accepted, reserving nothing; a flip is INSUFFICIENT_MARGIN', () => {
    const e = venue();
    deposit(e, 'alice', '410');
    lev(e, 'alice', '50');
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19800' });
    assert.equal(avail(e, 'alice'), 0n);
    const close = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '19800');
    assert.deepEqual(moves(close), []);
    const ro = limit(e, 'alice', 'BTCUSDT', 'sell', '0.5', '19900', { reduceOnly: true });
    assert.deepEqual(moves(ro), []);
    // selling 2 would open a 1 BTC short: 396 IM + 9.9 fee that alice does not have
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'limit',
        size: '2',
        price: '19800',
      },
      'INSUFFICIENT_MARGIN',
    );
    // carol lifts the 19,800 offer: −200 PnL and a 3.96 maker fee come out of the 400 bucket, 196.04 goes home
    const r = limit(e, 'carol', 'BTCUSDT', 'buy', '1', '19800');
    assert.deepEqual(hers(r), [
      ['alice:isolated:BTCUSDT', 'clearing:BTCUSDT', '200', 'realizedPnl'],
      ['alice:isolated:BTCUSDT', 'fees:USDT', '3.96', 'fee'],
      ['alice:isolated:BTCUSDT', 'alice:main:USDT', '196.04', 'marginRelease'],
    ]);
    checkInvariants(e);
  });
});

describe('margin checks at match time', () => {
  test('alice’s resting sell at 21,000 was placed to close her long (nothing reserved); she closes elsewhere and withdraws all, so when dave lifts 21,000 it is cancelled (marginCheck) and dave fills erin’s ask behind it', () => {
    const e = venue();
    deposit(e, 'alice', '2010'); // 10x: 2,000 IM + 10 taker fee
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    const stale = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '21000');
    assert.deepEqual(moves(stale), [], 'a closing order reserves nothing');
    limit(e, 'erin', 'BTCUSDT', 'sell', '1', '21000');
    limit(e, 'carol', 'BTCUSDT', 'buy', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000', { timeInForce: 'IOC' }); // flat: 2,000 − 10 fee = 1,990 back
    ok(e, { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '1990' });
    const r = limit(e, 'dave', 'BTCUSDT', 'buy', '1', '21000');
    assert.deepEqual(cancels(r), [[stale.orderId!, '1', 'marginCheck']]);
    assert.deepEqual(fills(r), [['erin', '21000', '1']]);
    assert.equal(e.accounts.get('alice')!.orders.size, 0);
    checkInvariants(e);
  });

  // alice (cross, 10x) shorts 1 at 20,000, then rests a buy of 2 at 19,000 that would close 1 and open 1, so it
  // carries a 1,909.5 requirement (1,900 IM + 9.5 fee). She closes the short elsewhere; now the resting buy
  // would open 2: 3,800 IM + 7.6 maker fee = 3,807.6, of which 1,898.1 beyond its requirement.
  function crossStale(e: Engine, keepAvailable: string): Ok {
    deposit(e, 'alice', '10000');
    cross(e, 'alice');
    limit(e, 'bob', 'BTCUSDT', 'buy', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000'); // main 9,990
    const stale = limit(e, 'alice', 'BTCUSDT', 'buy', '2', '19000');
    assert.equal(e.accounts.get('alice')!.orders.get(stale.orderId!)!.reserved, amt('1909.5'));
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' }); // flat, main 9,980
    assert.equal(avail(e, 'alice'), amt('8070.5')); // 9,980 − 1,909.5
    const out = amt('8070.5') - amt(keepAvailable);
    ok(e, { type: 'withdraw', account: 'alice', asset: 'USDT', amount: fmt(out) });
    limit(e, 'erin', 'BTCUSDT', 'buy', '2', '19000');
    return stale;
  }

  test('a cross maker whose lifted requirement (1,909.5) no longer covers the 3,807.6 its fill needs, with nothing else available, is cancelled (marginCheck); bob fills erin instead', () => {
    // Regression: the check added the share back to available a second time, so this fill went through and
    // left alice holding 3,800 of cross IM on 1,901.9 USDT (available −1,898.1).
    const e = venue();
    const stale = crossStale(e, '0');
    const r = limit(e, 'bob', 'BTCUSDT', 'sell', '2', '19000', { timeInForce: 'IOC' });
    assert.deepEqual(cancels(r), [[stale.orderId!, '2', 'marginCheck']]);
    assert.deepEqual(fills(r), [['erin', '19000', '2']]);
    assert.equal(avail(e, 'alice'), amt('1909.5'));
    checkInvariants(e);
  });

  test('the same cross maker fills when exactly the missing 1,898.1 is available, leaving alice with available 0', () => {
    const e = venue();
    crossStale(e, '1898.1');
    const r = limit(e, 'bob', 'BTCUSDT', 'sell', '2', '19000', { timeInForce: 'IOC' });
    assert.deepEqual(fills(r), [['alice', '19000', '2']]);
    assert.deepEqual(cancels(r), []);
    assert.equal(bal(e, 'alice:main:USDT'), amt('3800')); // 1,909.5 + 1,898.1 − 7.6 fee
    assert.equal(avail(e, 'alice'), 0n); // 3,800 − 3,800 IM
    checkInvariants(e);
  });
});
