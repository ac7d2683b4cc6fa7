/**
 * Deposits, withdrawals and the double-entry ledger: money enters and leaves only through `external`, balances
 * always sum to net deposits, and what can be withdrawn is the account's *available* balance — main less cross
 * initial margin, cross unrealized loss and open-order requirements (unrealized profit never adds to it).
 * Money amounts are USDT or BTC at 8 decimals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Ledger, LedgerError } from '../../src/engine/ledger.ts';
import { BTCUSD, BTCUSDT, checkInvariants, engineWithMarkets, ok, rejected } from './harness.ts';
import { amt, avail, bal, balance, deposit, limit, moves } from './scenario-kit.ts';

describe('ledger: deposits and withdrawals', () => {
  test('alice deposits 1,000 USDT and withdraws 250: main 750, external −750, verify() proves balances sum to net deposits', () => {
    const e = engineWithMarkets(BTCUSDT);
    const d = deposit(e, 'alice', '1000');
    assert.deepEqual(moves(d), [['external:USDT', 'alice:main:USDT', '1000', 'deposit']]);
    const w = ok(e, { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '250' });
    assert.deepEqual(moves(w), [['alice:main:USDT', 'external:USDT', '250', 'withdraw']]);
    assert.equal(bal(e, 'alice:main:USDT'), amt('750'));
    assert.equal(bal(e, 'external:USDT'), amt('-750'));
    assert.equal(e.ledger.netDeposits('USDT'), amt('750'));
    assert.deepEqual(e.ledger.verify(), { ok: true, problems: [] });
    assert.deepEqual(balance(e, 'alice'), { asset: 'USDT', free: '750', used: '0', total: '750' });
    checkInvariants(e);
  });

  test('two accounts, two assets: USDT and BTC are conserved separately and each sums to zero with external', () => {
    const e = engineWithMarkets(BTCUSDT, BTCUSD);
    deposit(e, 'alice', '1000');
    deposit(e, 'alice', '0.5', 'BTC');
    deposit(e, 'bob', '2500.12345678');
    ok(e, { type: 'withdraw', account: 'alice', asset: 'BTC', amount: '0.12345678' });
    ok(e, { type: 'withdraw', account: 'bob', asset: 'USDT', amount: '0.00000001' });
    assert.equal(bal(e, 'alice:main:BTC'), amt('0.37654322'));
    assert.equal(bal(e, 'bob:main:USDT'), amt('2500.12345677'));
    assert.equal(e.ledger.netDeposits('USDT'), amt('3500.12345677'));
    assert.equal(e.ledger.netDeposits('BTC'), amt('0.37654322'));
    assert.ok(e.ledger.verify().ok);
    checkInvariants(e);
  });

  test('withdrawing 0.00000001 more than the balance is INSUFFICIENT_BALANCE; withdrawing exactly all of it leaves 0', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '100');
    rejected(
      e,
      { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '100.00000001' },
      'INSUFFICIENT_BALANCE',
    );
    ok(e, { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '100' });
    assert.equal(bal(e, 'alice:main:USDT'), 0n);
    assert.equal(e.ledger.netDeposits('USDT'), 0n);
    rejected(
      e,
      { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '0.00000001' },
      'INSUFFICIENT_BALANCE',
    );
    checkInvariants(e);
  });

  test('verify() catches money created out of thin air and a balance below zero that may not go negative', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '10');
    const main = e.ledger.accounts().find((l) => l.label === 'alice:main:USDT')!;
    main.balance += 1n; // tamper: one unit appears from nowhere
    const v = e.ledger.verify();
    assert.equal(v.ok, false);
    assert.deepEqual(v.problems, ['USDT: balances sum to 1, not zero (money created or lost)']);
    main.balance = -1n; // and a main balance below zero
    assert.ok(e.ledger.verify().problems.includes('alice:main:USDT is negative: -1'));
  });

  test('the ledger itself refuses to overdraw a main account, to move a negative amount or across assets; external may go negative', () => {
    const l = new Ledger();
    const ext = l.systemAccount('external', 'USDT');
    const main = l.open('main', 'USDT', 'x:main:USDT');
    const btc = l.open('main', 'BTC', 'x:main:BTC');
    l.transfer(ext, main, 5n, 'deposit');
    assert.equal(ext.balance, -5n);
    assert.throws(() => l.transfer(main, ext, 6n, 'withdraw'), LedgerError);
    assert.throws(() => l.transfer(ext, main, -1n, 'deposit'), LedgerError);
    assert.throws(() => l.transfer(main, btc, 1n, 'deposit'), LedgerError);
    assert.equal(main.balance, 5n, 'failed transfers moved nothing');
    assert.deepEqual(l.verify(), { ok: true, problems: [] });
  });
});

describe('ledger: what can be withdrawn', () => {
  test('alice cross-long 1 BTC at 20,000 (50x): 400 IM is locked, 590 of her 990 is withdrawable', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    deposit(e, 'bob', '10000');
    ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' });
    ok(e, { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '50' });
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' });
    // main = 1000 − 10 taker fee (20,000 × 0.0005) = 990; cross IM at last 20,000 / 50 = 400 → available 590
    assert.equal(bal(e, 'alice:main:USDT'), amt('990'));
    assert.equal(avail(e, 'alice'), amt('590'));
    assert.deepEqual(balance(e, 'alice'), { asset: 'USDT', free: '590', used: '400', total: '990' });
    rejected(
      e,
      { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '590.00000001' },
      'INSUFFICIENT_BALANCE',
    );
    checkInvariants(e);
  });

  test('an unrealized loss reduces what alice can withdraw: mark 19,900 → 990 − 100 loss − 398 IM = 492', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    deposit(e, 'bob', '10000');
    ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' });
    ok(e, { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '50' });
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' });
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19900' });
    assert.equal(avail(e, 'alice'), amt('492'));
    rejected(
      e,
      { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '492.00000001' },
      'INSUFFICIENT_BALANCE',
    );
    ok(e, { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '492' });
    assert.equal(bal(e, 'alice:main:USDT'), amt('498'));
    assert.equal(avail(e, 'alice'), 0n);
    checkInvariants(e);
  });

  test('an unrealized profit does not increase it: mark 20,100 → 990 − 402 IM at mark = 588 (the +100 is not withdrawable)', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    deposit(e, 'bob', '10000');
    ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' });
    ok(e, { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '50' });
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' });
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20100' });
    assert.equal(avail(e, 'alice'), amt('588'));
    rejected(
      e,
      { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '588.00000001' },
      'INSUFFICIENT_BALANCE',
    );
    ok(e, { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '588' });
    assert.deepEqual(balance(e, 'alice'), { asset: 'USDT', free: '0', used: '402', total: '402' });
    checkInvariants(e);
  });

  test('open orders hold back what they need: a cross buy (399.75 requirement) and an isolated buy (399.75 reserved) each cut the withdrawable amount; cancel gives it back', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    deposit(e, 'carol', '1000');
    ok(e, { type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' });
    ok(e, { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '50' });
    ok(e, { type: 'setLeverage', account: 'carol', symbol: 'BTCUSDT', leverage: '50' });
    // 1 BTC at 19,500 / 50 = 390 IM + 19,500 × 0.0005 = 9.75 worst-case taker fee = 399.75 → 1000 − 399.75 = 600.25
    const cross = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '19500');
    assert.deepEqual(moves(cross), [], 'a cross order moves no money: its requirement is counted');
    assert.equal(bal(e, 'alice:main:USDT'), amt('1000'));
    assert.equal(avail(e, 'alice'), amt('600.25'));
    rejected(
      e,
      { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '600.25000001' },
      'INSUFFICIENT_BALANCE',
    );
    const iso = limit(e, 'carol', 'BTCUSDT', 'buy', '1', '19500');
    assert.deepEqual(moves(iso), [['carol:main:USDT', 'carol:reserved:USDT', '399.75', 'orderReserve']]);
    assert.equal(avail(e, 'carol'), amt('600.25'));
    rejected(
      e,
      { type: 'withdraw', account: 'carol', asset: 'USDT', amount: '600.25000001' },
      'INSUFFICIENT_BALANCE',
    );
    ok(e, { type: 'cancelAll', account: 'alice' });
    ok(e, { type: 'cancelAll', account: 'carol' });
    assert.equal(avail(e, 'alice'), amt('1000'));
    assert.equal(avail(e, 'carol'), amt('1000'));
    ok(e, { type: 'withdraw', account: 'carol', asset: 'USDT', amount: '1000' });
    checkInvariants(e);
  });

  test('an isolated bucket is never withdrawable: alice 50x isolated long keeps 400 in her bucket, only main can leave', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1000');
    deposit(e, 'bob', '10000');
    ok(e, { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '50' });
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('400'));
    assert.equal(avail(e, 'alice'), amt('590'));
    rejected(
      e,
      { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '590.00000001' },
      'INSUFFICIENT_BALANCE',
    );
    ok(e, { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '590' });
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('400'));
    checkInvariants(e);
  });
});

describe('ledger: bad input changes nothing', () => {
  test('an asset no market settles in is UNKNOWN_ASSET for deposit and withdraw; an unknown account is UNKNOWN_ACCOUNT', () => {
    const e = engineWithMarkets(BTCUSDT, BTCUSD);
    deposit(e, 'alice', '10');
    rejected(e, { type: 'deposit', account: 'alice', asset: 'DOGE', amount: '10' }, 'UNKNOWN_ASSET');
    rejected(e, { type: 'deposit', account: 'newbie', asset: 'DOGE', amount: '10' }, 'UNKNOWN_ASSET');
    rejected(e, { type: 'withdraw', account: 'alice', asset: 'DOGE', amount: '1' }, 'UNKNOWN_ASSET');
    rejected(e, { type: 'withdraw', account: 'nobody', asset: 'USDT', amount: '1' }, 'UNKNOWN_ACCOUNT');
    // BTC is a known asset (BTCUSD settles in it) but alice holds none
    rejected(e, { type: 'withdraw', account: 'alice', asset: 'BTC', amount: '1' }, 'INSUFFICIENT_BALANCE');
    rejected(e, { type: 'deposit', account: 'bad id!', asset: 'USDT', amount: '10' }, 'INVALID_COMMAND');
    checkInvariants(e);
  });

  for (const [what, amount] of [
    ['NaN', 'NaN'],
    ['an exponent', '1e5'],
    ['a negative amount', '-5'],
    ['too many decimals for USDT (9)', '1.000000001'],
    ['zero', '0'],
    ['zero with decimals', '0.00000000'],
    ['an empty string', ''],
    ['a leading space', ' 5'],
    ['hex', '0x10'],
    ['a NaN number', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['null', null],
  ] as const) {
    test(`${what} (${String(amount) || '""'}) is INVALID_AMOUNT for deposit and withdraw, and creates no account`, () => {
      const e = engineWithMarkets(BTCUSDT);
      deposit(e, 'alice', '10');
      rejected(
        e,
        { type: 'deposit', account: 'alice', asset: 'USDT', amount: amount as string },
        'INVALID_AMOUNT',
      );
      rejected(
        e,
        { type: 'deposit', account: 'newbie', asset: 'USDT', amount: amount as string },
        'INVALID_AMOUNT',
      );
      rejected(
        e,
        { type: 'withdraw', account: 'alice', asset: 'USDT', amount: amount as string },
        'INVALID_AMOUNT',
      );
      assert.equal(e.accounts.has('newbie'), false);
      assert.equal(bal(e, 'alice:main:USDT'), amt('10'));
      checkInvariants(e);
    });
  }

  test('trailing zeros beyond 8 decimals carry no information and are accepted: 1.000000010 USDT = 1.00000001', () => {
    const e = engineWithMarkets(BTCUSDT);
    deposit(e, 'alice', '1.000000010');
    assert.equal(bal(e, 'alice:main:USDT'), amt('1.00000001'));
    checkInvariants(e);
  });
});
