/**
 * Margin mode, leverage and isolated margin transfers. Reference position throughout: a 1 BTC long at 20,000 on
 * BTCUSDT (notional 20,000 USDT; 50x → 400 IM; taker fee 0.05% → 10). Amounts are USDT at 8 decimals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Engine } from '../../src/engine/engine.ts';
import { BTCUSDT, checkInvariants, engineWithMarkets, ok, rejected } from './harness.ts';
import { amt, avail, bal, deposit, limit, moves, of, position } from './scenario-kit.ts';

/** bob (10x isolated, deep pockets) offers `size` at `price` and `who` lifts it. */
function openLong(e: Engine, who: string, size = '1', price = '20000'): void {
  if (!e.accounts.has('bob')) deposit(e, 'bob', '1000000');
  limit(e, 'bob', 'BTCUSDT', 'sell', size, price);
  limit(e, who, 'BTCUSDT', 'buy', size, price, { timeInForce: 'IOC' });
}

function lev(e: Engine, account: string, leverage: string) {
  return ok(e, { type: 'setLeverage', account, symbol: 'BTCUSDT', leverage });
}

describe('margin mode', () => {
  test('a position is isolated by default: setting isolated again is accepted as a no-op with no events and creates nothing', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    const r = ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'isolated' });
    assert.deepEqual(r.events, []);
    assert.equal(e.accounts.get('alice')!.positions.size, 0);
    checkInvariants(e);
  });

  test('alice switches BTCUSDT to cross while flat (marginModeSet), cross again is a no-op, and back to isolated', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    const r = ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' });
    assert.deepEqual(r.events, [
      { type: 'marginModeSet', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' },
    ]);
    assert.deepEqual(
      ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' }).events,
      [],
    );
    const back = ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'isolated' });
    assert.deepEqual(back.events, [
      { type: 'marginModeSet', account: 'alice', symbol: 'BTCUSDT', mode: 'isolated' },
    ]);
    checkInvariants(e);
  });

  test('with an open order the mode cannot change (POSITION_OPEN), re-setting the current mode is still a no-op; after cancel it can', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    const o = limit(e, 'alice', 'BTCUSDT', 'buy', '0.01', '19000');
    rejected(
      e,
      { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' },
      'POSITION_OPEN',
    );
    assert.deepEqual(
      ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'isolated' }).events,
      [],
    );
    ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: o.orderId! });
    ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' });
    checkInvariants(e);
  });

  test('with an open position the mode cannot change in either direction (POSITION_OPEN); once closed it can', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '10000');
    deposit(e, 'carol', '10000');
    ok(e, { type: 'setMarginMode', account: 'carol', symbol: 'BTCUSDT', mode: 'cross' });
    openLong(e, 'alice');
    openLong(e, 'carol');
    rejected(
      e,
      { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' },
      'POSITION_OPEN',
    );
    rejected(
      e,
      { type: 'setMarginMode', account: 'carol', symbol: 'BTCUSDT', mode: 'isolated' },
      'POSITION_OPEN',
    );
    // bob bids 2 at 20,000; both close into it
    limit(e, 'bob', 'BTCUSDT', 'buy', '2', '20000');
    limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000', { timeInForce: 'IOC' });
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20000', { timeInForce: 'IOC' });
    ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' });
    ok(e, { type: 'setMarginMode', account: 'carol', symbol: 'BTCUSDT', mode: 'isolated' });
    checkInvariants(e);
  });

  test('a mode other than isolated/cross is INVALID_COMMAND; unknown market and account are rejected', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    rejected(
      e,
      { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'portfolio' as 'cross' },
      'INVALID_COMMAND',
    );
    rejected(
      e,
      { type: 'setMarginMode', account: 'alice', symbol: 'DOGEUSDT', mode: 'cross' },
      'UNKNOWN_MARKET',
    );
    rejected(
      e,
      { type: 'setMarginMode', account: 'nobody', symbol: 'BTCUSDT', mode: 'cross' },
      'UNKNOWN_ACCOUNT',
    );
    checkInvariants(e);
  });
});

describe('leverage', () => {
  test('while flat: 50x is set with no money moving; 126x is above BTCUSDT’s 125x cap (LEVERAGE_TOO_HIGH); 0 and junk are INVALID_COMMAND', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    const r = lev(e, 'alice', '50');
    assert.deepEqual(r.events, [
      { type: 'leverageSet', account: 'alice', symbol: 'BTCUSDT', leverage: 5000n },
    ]);
    lev(e, 'alice', '125');
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '126' },
      'LEVERAGE_TOO_HIGH',
    );
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '0' },
      'INVALID_COMMAND',
    );
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: 'lots' },
      'INVALID_COMMAND',
    );
    checkInvariants(e);
  });

  test('isolated 50x long 1 BTC at 20,000: lowering to 25x moves 400 USDT main → bucket (800 = 20,000/25); raising back to 50x returns it', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '50');
    openLong(e, 'alice');
    assert.equal(bal(e, 'alice:main:USDT'), amt('590')); // 1000 − 400 IM − 10 fee
    const down = lev(e, 'alice', '25');
    assert.deepEqual(moves(down), [['alice:main:USDT', 'alice:isolated:BTCUSDT', '400', 'leverageChange']]);
    assert.deepEqual(of(down, 'leverageSet'), [
      { type: 'leverageSet', account: 'alice', symbol: 'BTCUSDT', leverage: 2500n },
    ]);
    assert.equal(of(down, 'position')[0]!.collateral, amt('800'));
    assert.equal(bal(e, 'alice:main:USDT'), amt('190'));
    assert.equal(position(e, 'alice', 'BTCUSDT')!.leverage, '25');
    assert.equal(position(e, 'alice', 'BTCUSDT')!.collateral, '800');
    const up = lev(e, 'alice', '50');
    assert.deepEqual(moves(up), [['alice:isolated:BTCUSDT', 'alice:main:USDT', '400', 'leverageChange']]);
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('400'));
    assert.equal(bal(e, 'alice:main:USDT'), amt('590'));
    checkInvariants(e);
  });

  test('lowering leverage is INSUFFICIENT_BALANCE when alice’s free balance cannot fund the larger bucket', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '410'); // exactly 400 IM + 10 fee
    lev(e, 'alice', '50');
    openLong(e, 'alice');
    assert.equal(bal(e, 'alice:main:USDT'), 0n);
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '25' },
      'INSUFFICIENT_BALANCE',
    );
    deposit(e, 'alice', '399.99999999');
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '25' },
      'INSUFFICIENT_BALANCE',
    );
    deposit(e, 'alice', '0.00000001');
    lev(e, 'alice', '25');
    assert.equal(bal(e, 'alice:main:USDT'), 0n);
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('800'));
    checkInvariants(e);
  });

  test('raising leverage is INSUFFICIENT_MARGIN when the smaller bucket would fall below IM at mark: 25x long, mark 19,500 → 50x would leave 400 − 500 loss < 390', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '25');
    openLong(e, 'alice');
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19500' });
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '50' },
      'INSUFFICIENT_MARGIN',
    );
    // 30x: 666.66666667 − 500 = 166.67 < 19,500 / 30 = 650
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '30' },
      'INSUFFICIENT_MARGIN',
    );
    // back at 20,000 the 400 bucket exactly covers 400 IM at mark: accepted
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
    const r = lev(e, 'alice', '50');
    assert.deepEqual(moves(r), [['alice:isolated:BTCUSDT', 'alice:main:USDT', '400', 'leverageChange']]);
    checkInvariants(e);
  });

  test('LEVERAGE_TOO_HIGH above the tier’s max: a 3 BTC long (60,000 notional, bracket 2: 100x) cannot go to 101x; 2.5 BTC (50,000) still allows 125x, 2.501 does not', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '100');
    openLong(e, 'alice', '3'); // 600 IM + 30 fee
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('600'));
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '101' },
      'LEVERAGE_TOO_HIGH',
    );
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '125' },
      'LEVERAGE_TOO_HIGH',
    );
    // setting the same 100x is accepted and moves nothing
    assert.deepEqual(moves(lev(e, 'alice', '100')), []);
    // an order that would grow a 125x position past 50,000 notional is refused the same way
    deposit(e, 'dave', '1000');
    lev(e, 'dave', '125');
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'dave',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '2.501',
        price: '20000',
      },
      'LEVERAGE_TOO_HIGH',
    );
    const r = limit(e, 'dave', 'BTCUSDT', 'buy', '2.5', '20000'); // 50,000 / 125 = 400 IM + 25 fee
    assert.deepEqual(moves(r), [['dave:main:USDT', 'dave:reserved:USDT', '425', 'orderReserve']]);
    checkInvariants(e);
  });

  test('leverage cannot change while the market has an open order (POSITION_OPEN: reserves were sized at the old leverage)', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    const o = limit(e, 'alice', 'BTCUSDT', 'buy', '0.01', '19000');
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '20' },
      'POSITION_OPEN',
    );
    ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: o.orderId! });
    lev(e, 'alice', '20');
    checkInvariants(e);
  });

  test('design: changing leverage re-sizes the bucket to exactly IM at entry, so margin added by hand goes back to main (even at the same leverage)', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '50');
    openLong(e, 'alice');
    ok(e, { type: 'addMargin', account: 'alice', symbol: 'BTCUSDT', amount: '100' });
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('500'));
    const r = lev(e, 'alice', '50');
    assert.deepEqual(moves(r), [['alice:isolated:BTCUSDT', 'alice:main:USDT', '100', 'leverageChange']]);
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('400'));
    checkInvariants(e);
  });

  test('cross 50x long: 10x needs 1,600 more IM than the 590 available (INSUFFICIENT_MARGIN); 25x takes 400 of it and moves no money; 100x frees IM', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' });
    lev(e, 'alice', '50');
    openLong(e, 'alice');
    assert.equal(avail(e, 'alice'), amt('590')); // 990 main − 400 IM
    rejected(
      e,
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '10' },
      'INSUFFICIENT_MARGIN',
    );
    const r = lev(e, 'alice', '25');
    assert.deepEqual(moves(r), []);
    assert.equal(avail(e, 'alice'), amt('190')); // 990 − 800
    lev(e, 'alice', '100');
    assert.equal(avail(e, 'alice'), amt('790')); // 990 − 200
    checkInvariants(e);
  });
});

describe('isolated margin transfers', () => {
  test('alice adds 100 USDT to her 50x long: bucket 500, and the read model’s liquidation price moves down from 19,689.9 to 19,589.8', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '50');
    openLong(e, 'alice');
    // ringfence conventions: maintenance 0.4% + 0.05% fee to close, at the worse of entry and liquidation price,
    // long rounded up to the tick. Entry basis binds: P·(1 − 0.0005) = 20,000 − M + 80 (MM at entry).
    // M = 400: P = 19,680 / 0.9995 = 19,689.84… → 19,689.9
    assert.equal(position(e, 'alice', 'BTCUSDT')!.liquidationPrice, '19689.9');
    const r = ok(e, { type: 'addMargin', account: 'alice', symbol: 'BTCUSDT', amount: '100' });
    assert.deepEqual(moves(r), [['alice:main:USDT', 'alice:isolated:BTCUSDT', '100', 'addMargin']]);
    assert.equal(of(r, 'position')[0]!.collateral, amt('500'));
    // M = 500: P = 19,580 / 0.9995 = 19,589.79… → 19,589.8
    const view = position(e, 'alice', 'BTCUSDT')!;
    assert.equal(view.collateral, '500');
    assert.equal(view.liquidationPrice, '19589.8');
    assert.equal(bal(e, 'alice:main:USDT'), amt('490'));
    checkInvariants(e);
  });

  test('alice can remove what she added (maxRemovable 100 at mark 20,000) but not 0.00000001 more; the liquidation price returns to 19,689.9', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '50');
    openLong(e, 'alice');
    rejected(
      e,
      { type: 'removeMargin', account: 'alice', symbol: 'BTCUSDT', amount: '0.00000001' },
      'INSUFFICIENT_MARGIN',
    );
    ok(e, { type: 'addMargin', account: 'alice', symbol: 'BTCUSDT', amount: '100' });
    assert.equal(e.maxRemovable(e.accounts.get('alice')!.positions.get('BTCUSDT')!), amt('100'));
    rejected(
      e,
      { type: 'removeMargin', account: 'alice', symbol: 'BTCUSDT', amount: '100.00000001' },
      'INSUFFICIENT_MARGIN',
    );
    const r = ok(e, { type: 'removeMargin', account: 'alice', symbol: 'BTCUSDT', amount: '100' });
    assert.deepEqual(moves(r), [['alice:isolated:BTCUSDT', 'alice:main:USDT', '100', 'removeMargin']]);
    assert.equal(position(e, 'alice', 'BTCUSDT')!.liquidationPrice, '19689.9');
    checkInvariants(e);
  });

  test('unrealized profit is not removable: bucket 500, mark 21,000 → IM at mark 420, so only 80 can come out', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    lev(e, 'alice', '50');
    openLong(e, 'alice');
    ok(e, { type: 'addMargin', account: 'alice', symbol: 'BTCUSDT', amount: '100' });
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '21000' });
    rejected(
      e,
      { type: 'removeMargin', account: 'alice', symbol: 'BTCUSDT', amount: '80.00000001' },
      'INSUFFICIENT_MARGIN',
    );
    ok(e, { type: 'removeMargin', account: 'alice', symbol: 'BTCUSDT', amount: '80' });
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('420'));
    checkInvariants(e);
  });

  test('adding more than the available balance is INSUFFICIENT_BALANCE; cross positions are NOT_ISOLATED; a flat isolated market has nothing to add to', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    deposit(e, 'carol', '10000');
    lev(e, 'alice', '50');
    openLong(e, 'alice');
    rejected(
      e,
      { type: 'addMargin', account: 'alice', symbol: 'BTCUSDT', amount: '590.00000001' },
      'INSUFFICIENT_BALANCE',
    );
    ok(e, { type: 'setMarginMode', account: 'carol', symbol: 'BTCUSDT', mode: 'cross' });
    openLong(e, 'carol');
    rejected(e, { type: 'addMargin', account: 'carol', symbol: 'BTCUSDT', amount: '1' }, 'NOT_ISOLATED');
    rejected(e, { type: 'removeMargin', account: 'carol', symbol: 'BTCUSDT', amount: '1' }, 'NOT_ISOLATED');
    deposit(e, 'dave', '1000');
    rejected(e, { type: 'addMargin', account: 'dave', symbol: 'BTCUSDT', amount: '1' }, 'NOT_ISOLATED'); // no position at all
    lev(e, 'dave', '20'); // now dave has a (flat, isolated) position record
    rejected(e, { type: 'addMargin', account: 'dave', symbol: 'BTCUSDT', amount: '1' }, 'INVALID_COMMAND');
    rejected(e, { type: 'addMargin', account: 'alice', symbol: 'BTCUSDT', amount: '-1' }, 'INVALID_AMOUNT');
    checkInvariants(e);
  });
});
