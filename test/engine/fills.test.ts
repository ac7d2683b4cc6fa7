/**
 * What a fill does to positions and money: increase (average entry), reduce (realized PnL, pro-rata margin
 * release), close, flip, fees and rebates, PnL through the market's clearing account, linear and inverse
 * contracts, and a close past bankruptcy refused rather than drawing the insurance fund. Expected values are
 * worked by hand in the comments. BTCUSDT: taker 0.05%, maker 0.02%; ETHUSDT: maker −0.01% (rebate); BTCUSD
 * inverse: 1 USD contracts, taker 0.075%, maker −0.025%, settled in BTC. Money at 8 decimals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Engine } from '../../src/engine/engine.ts';
import { BTCUSD, BTCUSDT, checkInvariants, ETHUSDT, engineWithMarkets, ok } from './harness.ts';
import { amt, bal, deposit, limit, moves, type Ok, of, position } from './scenario-kit.ts';

const lev = (e: Engine, account: string, leverage: string, symbol = 'BTCUSDT') =>
  ok(e, { type: 'setLeverage', account, symbol, leverage });
const movesOf = (r: Ok, who: string) =>
  moves(r).filter(([from, to]) => from.startsWith(`${who}:`) || to.startsWith(`${who}:`));

function venue(...markets: (typeof BTCUSDT)[]): Engine {
  const e = engineWithMarkets(...(markets.length ? markets : [BTCUSDT]));
  for (const a of ['bob', 'carol', 'dave', 'erin']) deposit(e, a, '1000000');
  return e;
}

describe('increase', () => {
  test('alice buys 1 BTC at 20,000 then 2 at 20,000.1: average entry 20,000.06666667 for her long (rounded up), 20,000.06666666 for bob’s short (down)', () => {
    const e = venue();
    deposit(e, 'alice', '100000');
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    limit(e, 'bob', 'BTCUSDT', 'sell', '2', '20000.1');
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '2', '20000.1');
    // (1 × 20,000 + 2 × 20,000.1) / 3 = 60,000.2 / 3 = 20,000.0666…
    assert.equal(position(e, 'alice', 'BTCUSDT')!.entryPrice, '20000.06666667');
    assert.equal(position(e, 'bob', 'BTCUSDT')!.entryPrice, '20000.06666666');
    // IM at 10x on each fill: 2,000 + 2 × 20,000.1 / 10 = 4,000.02 → bucket 6,000.02
    assert.deepEqual(movesOf(r, 'alice'), [
      ['alice:main:USDT', 'alice:reserved:USDT', '4020.0201', 'orderReserve'], // 4,000.02 + 20.0001 fee
      ['alice:reserved:USDT', 'alice:isolated:BTCUSDT', '4000.02', 'initialMargin'],
      ['alice:reserved:USDT', 'fees:USDT', '20.0001', 'fee'],
    ]);
    const p = position(e, 'alice', 'BTCUSDT')!;
    assert.equal(p.contracts, '3');
    assert.equal(p.collateral, '6000.02');
    assert.equal(of(r, 'position').find((x) => x.account === 'alice')!.entryPrice, 2_000_006_666_667n);
    checkInvariants(e);
  });
});

describe('reduce and close', () => {
  test('alice (10x long 2 at 20,000, bucket 4,000) sells 0.5 at 21,000: +500 realized exactly, 5.25 fee, 1,000 of margin + 494.75 net profit go to main, 3,000 stays', () => {
    const e = venue();
    deposit(e, 'alice', '10000');
    limit(e, 'bob', 'BTCUSDT', 'sell', '2', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '2', '20000'); // 4,000 IM + 20 fee → main 5,980
    limit(e, 'carol', 'BTCUSDT', 'buy', '2', '21000');
    const r = limit(e, 'alice', 'BTCUSDT', 'sell', '0.5', '21000', { timeInForce: 'IOC' });
    // PnL 0.5 × (21,000 − 20,000) = 500; fee 0.5 × 21,000 × 0.0005 = 5.25; the closed quarter's share of the
    // bucket is 4,000 × 0.5/2 = 1,000 → release 1,000 + 500 − 5.25 = 1,494.75
    assert.deepEqual(movesOf(r, 'alice'), [
      ['clearing:BTCUSDT', 'alice:isolated:BTCUSDT', '500', 'realizedPnl'],
      ['alice:isolated:BTCUSDT', 'fees:USDT', '5.25', 'fee'],
      ['alice:isolated:BTCUSDT', 'alice:main:USDT', '1494.75', 'marginRelease'],
    ]);
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('3000'));
    assert.equal(bal(e, 'alice:main:USDT'), amt('7474.75'));
    const p = position(e, 'alice', 'BTCUSDT')!;
    assert.equal(p.contracts, '1.5');
    assert.equal(p.entryPrice, '20000');
    assert.equal(p.realizedPnl, '500');
    // close the rest: PnL 1,500, fee 15.75, the whole bucket goes home: 3,000 + 1,500 − 15.75 = 4,484.25
    const c = limit(e, 'alice', 'BTCUSDT', 'sell', '1.5', '21000', { timeInForce: 'IOC' });
    assert.deepEqual(movesOf(c, 'alice'), [
      ['clearing:BTCUSDT', 'alice:isolated:BTCUSDT', '1500', 'realizedPnl'],
      ['alice:isolated:BTCUSDT', 'fees:USDT', '15.75', 'fee'],
      ['alice:isolated:BTCUSDT', 'alice:main:USDT', '4484.25', 'marginRelease'],
    ]);
    assert.deepEqual(
      of(c, 'position').find((x) => x.account === 'alice'),
      {
        type: 'position',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: null,
        size: 0n,
        entryPrice: 0n,
        collateral: 0n,
        realizedPnl: amt('2000'),
      },
    );
    assert.equal(position(e, 'alice', 'BTCUSDT'), undefined);
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), 0n);
    assert.equal(bal(e, 'alice:main:USDT'), amt('11959')); // 10,000 − 20 − 5.25 − 15.75 + 2,000
    checkInvariants(e);
  });

  test('reducing half of a solvent losing 50x long at mark keeps the other half’s 400 of collateral: same liquidation price (19,689.9), nothing extracted', () => {
    // Regression: the bucket used to be split AFTER the closed half's loss was taken from it, so the remaining
    // BTC kept only 245.075 against a −300 uPnL (bankrupt) while 245.075 went to main.
    const e = venue();
    deposit(e, 'alice', '10000');
    lev(e, 'alice', '50');
    limit(e, 'bob', 'BTCUSDT', 'sell', '2', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '2', '20000'); // bucket 800
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19700' });
    assert.equal(position(e, 'alice', 'BTCUSDT')!.liquidationPrice, '19689.9');
    limit(e, 'carol', 'BTCUSDT', 'buy', '1', '19700');
    const r = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '19700', { timeInForce: 'IOC' });
    // PnL −300, fee 19,700 × 0.0005 = 9.85; closed half's share 400 → release 400 − 300 − 9.85 = 90.15
    assert.deepEqual(movesOf(r, 'alice'), [
      ['alice:isolated:BTCUSDT', 'clearing:BTCUSDT', '300', 'realizedPnl'],
      ['alice:isolated:BTCUSDT', 'fees:USDT', '9.85', 'fee'],
      ['alice:isolated:BTCUSDT', 'alice:main:USDT', '90.15', 'marginRelease'],
    ]);
    const p = position(e, 'alice', 'BTCUSDT')!;
    assert.equal(p.collateral, '400');
    assert.equal(p.unrealizedPnl, '-300');
    assert.equal(p.liquidationPrice, '19689.9');
    // Maintenance on ringfence's 'worse' basis, the one the liquidation price is solved on: max(80 at entry + 9.85 fee
    // to close at mark, 88.65 at mark) = 89.85; 89.85 / (400 − 300).
    assert.equal(p.marginRatio, '0.8985');
    checkInvariants(e);
  });

  test('flip: alice (10x long 1 at 20,000) sells 3 at 19,000: the long closes (−1,000, its 1,000 left goes home) and a fresh 2 BTC short opens at 19,000 with 3,800 IM', () => {
    const e = venue();
    deposit(e, 'alice', '10000');
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000'); // bucket 2,000, main 7,990
    limit(e, 'dave', 'BTCUSDT', 'buy', '3', '19000');
    const r = limit(e, 'alice', 'BTCUSDT', 'sell', '3', '19000');
    // reserve covers the 2 opening lots only: 3,800 IM + 19 fee. The fee is on all 3: 28.5, so 9.5 comes from main.
    assert.deepEqual(movesOf(r, 'alice'), [
      ['alice:main:USDT', 'alice:reserved:USDT', '3819', 'orderReserve'],
      ['alice:isolated:BTCUSDT', 'clearing:BTCUSDT', '1000', 'realizedPnl'],
      ['alice:isolated:BTCUSDT', 'alice:main:USDT', '1000', 'marginRelease'],
      ['alice:reserved:USDT', 'alice:isolated:BTCUSDT', '3800', 'initialMargin'],
      ['alice:reserved:USDT', 'fees:USDT', '19', 'fee'],
      ['alice:main:USDT', 'fees:USDT', '9.5', 'fee'],
    ]);
    const p = position(e, 'alice', 'BTCUSDT')!;
    assert.equal(p.side, 'short');
    assert.equal(p.contracts, '2');
    assert.equal(p.entryPrice, '19000');
    assert.equal(p.collateral, '3800');
    assert.equal(p.realizedPnl, '-1000');
    assert.equal(bal(e, 'alice:main:USDT'), amt('5161.5')); // 7,990 − 3,819 + 1,000 − 9.5
    checkInvariants(e);
  });
});

describe('fees', () => {
  test('ETHUSDT maker rebate: alice takes bob’s 10 ETH at 1,000: she pays 5 (0.05%), bob receives 1 (0.01%) out of it, the fee account keeps 4', () => {
    const e = venue(ETHUSDT);
    deposit(e, 'alice', '10000');
    limit(e, 'bob', 'ETHUSDT', 'sell', '10', '1000'); // reserves 1,000 IM + 5 worst-case fee
    const r = limit(e, 'alice', 'ETHUSDT', 'buy', '10', '1000');
    const t = of(r, 'trade')[0]!;
    assert.equal(t.takerFee, amt('5'));
    assert.equal(t.makerFee, amt('-1'));
    assert.deepEqual(movesOf(r, 'bob'), [
      ['bob:reserved:USDT', 'bob:isolated:ETHUSDT', '1000', 'initialMargin'],
      ['fees:USDT', 'bob:main:USDT', '1', 'rebate'],
      ['bob:reserved:USDT', 'bob:main:USDT', '5', 'orderRelease'],
    ]);
    assert.deepEqual(
      movesOf(r, 'alice').filter((m) => m[3] === 'fee'),
      [['alice:reserved:USDT', 'fees:USDT', '5', 'fee']],
    );
    assert.equal(bal(e, 'fees:USDT'), amt('4'));
    assert.equal(bal(e, 'bob:main:USDT'), amt('999001')); // 1,000,000 − 1,000 IM − 5 reserved + 5 back + 1 rebate
    checkInvariants(e);
  });

  test('realized PnL flows through the clearing account: alice sells bob’s 20,000 BTC to carol at 21,000 (clearing −1,000 = bob’s open loss), bob buys back from carol (clearing 0)', () => {
    const e = venue();
    deposit(e, 'alice', '10000');
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000'); // fees 10 + 4
    assert.equal(bal(e, 'clearing:BTCUSDT'), 0n, 'opening moves no PnL');
    limit(e, 'carol', 'BTCUSDT', 'buy', '1', '21000');
    limit(e, 'alice', 'BTCUSDT', 'sell', '1', '21000'); // fees 10.5 + 4.2
    assert.equal(bal(e, 'clearing:BTCUSDT'), amt('-1000'));
    assert.equal(position(e, 'bob', 'BTCUSDT')!.unrealizedPnl, '-1000');
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '21000');
    limit(e, 'bob', 'BTCUSDT', 'buy', '1', '21000'); // fees 10.5 + 4.2
    assert.equal(bal(e, 'clearing:BTCUSDT'), 0n);
    assert.equal(bal(e, 'fees:USDT'), amt('43.4'));
    assert.deepEqual(
      ['alice', 'bob', 'carol'].map((a) => e.accounts.get(a)!.positions.get('BTCUSDT')!.realizedPnl),
      [amt('1000'), amt('-1000'), 0n],
    );
    assert.equal(bal(e, 'alice:main:USDT'), amt('10979.5')); // 10,000 + 1,000 − 10 − 10.5
    assert.equal(e.markets.get('BTCUSDT')!.openInterestLots, 0);
    checkInvariants(e);
  });
});

describe('inverse contracts (BTCUSD, settled in BTC)', () => {
  test('alice longs 1,000 USD contracts at 20,000 and sells at 24,000: PnL 1,000 × (1/20,000 − 1/24,000) = 0.00833333 BTC (rounded down); bob’s short pays 0.00833334; the 1 satoshi stays in clearing', () => {
    const e = engineWithMarkets(BTCUSD);
    for (const a of ['alice', 'bob', 'carol']) deposit(e, a, '1', 'BTC');
    lev(e, 'bob', '2', 'BTCUSD'); // so his short survives the move
    // notional 1,000 / 20,000 = 0.05 BTC: alice 10x → 0.005 IM + 0.0000375 taker fee; bob 2x → 0.025 IM, rebate 0.0000125
    limit(e, 'bob', 'BTCUSD', 'sell', '1000', '20000');
    const open = limit(e, 'alice', 'BTCUSD', 'buy', '1000', '20000');
    assert.deepEqual(movesOf(open, 'alice'), [
      ['alice:main:BTC', 'alice:reserved:BTC', '0.0050375', 'orderReserve'],
      ['alice:reserved:BTC', 'alice:isolated:BTCUSD', '0.005', 'initialMargin'],
      ['alice:reserved:BTC', 'fees:BTC', '0.0000375', 'fee'],
    ]);
    assert.deepEqual(movesOf(open, 'bob'), [
      ['bob:reserved:BTC', 'bob:isolated:BTCUSD', '0.025', 'initialMargin'],
      ['fees:BTC', 'bob:main:BTC', '0.0000125', 'rebate'],
      ['bob:reserved:BTC', 'bob:main:BTC', '0.0000375', 'orderRelease'],
    ]);
    assert.equal(bal(e, 'fees:BTC'), amt('0.000025'));

    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSD', price: '24000' });
    // notional at 24,000: 1,000 / 24,000 = 0.041666666… → 0.04166667 (up); taker fee 0.075% → 0.00003125000025 → 0.00003126 (up);
    // maker rebate 0.025% → 0.0000104166675 → 0.00001041 (down)
    limit(e, 'carol', 'BTCUSD', 'buy', '1000', '24000');
    const close = limit(e, 'alice', 'BTCUSD', 'sell', '1000', '24000', { timeInForce: 'IOC' });
    // 1,000 × 4,000 / (20,000 × 24,000) = 0.0083333… BTC → 0.00833333 to the long
    assert.deepEqual(movesOf(close, 'alice'), [
      ['clearing:BTCUSD', 'alice:isolated:BTCUSD', '0.00833333', 'realizedPnl'],
      ['alice:isolated:BTCUSD', 'fees:BTC', '0.00003126', 'fee'],
      ['alice:isolated:BTCUSD', 'alice:main:BTC', '0.01330207', 'marginRelease'], // 0.005 + 0.00833333 − 0.00003126
    ]);
    assert.equal(bal(e, 'alice:main:BTC'), amt('1.00826457')); // 1 − 0.0050375 + 0.01330207
    assert.equal(position(e, 'alice', 'BTCUSD'), undefined);
    assert.equal(e.accounts.get('alice')!.positions.get('BTCUSD')!.realizedPnl, amt('0.00833333'));

    // bob buys back from carol at 24,000: the short's PnL −0.0083333… rounds down to −0.00833334
    limit(e, 'carol', 'BTCUSD', 'sell', '1000', '24000');
    const back = limit(e, 'bob', 'BTCUSD', 'buy', '1000', '24000', { timeInForce: 'IOC' });
    assert.deepEqual(movesOf(back, 'bob'), [
      ['bob:isolated:BTCUSD', 'clearing:BTCUSD', '0.00833334', 'realizedPnl'],
      ['bob:isolated:BTCUSD', 'fees:BTC', '0.00003126', 'fee'],
      ['bob:isolated:BTCUSD', 'bob:main:BTC', '0.0166354', 'marginRelease'], // 0.025 − 0.00833334 − 0.00003126
    ]);
    assert.equal(
      bal(e, 'clearing:BTCUSD'),
      1n,
      'rounding leaves one satoshi with the house, never creates one',
    );
    // fees: 0.0000375 − 0.0000125 + 2 × (0.00003126 − 0.00001041)
    assert.equal(bal(e, 'fees:BTC'), amt('0.0000667'));
    assert.equal(e.markets.get('BTCUSD')!.openInterestLots, 0);
    checkInvariants(e);
  });
});

describe('insurance fund', () => {
  test('alice’s 50x long (bucket 400, bankrupt at 19,600) may not close at 19,500 — a voluntary close never draws on the insurance fund (issue 14, D4): refused at match time; at 19,600 the bucket pays the whole 400 loss and no fee; her main balance and her ETH bucket are untouched', () => {
    const e = venue(BTCUSDT, ETHUSDT);
    deposit(e, 'alice', '2000');
    lev(e, 'alice', '50');
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000'); // bucket 400, fee 10
    limit(e, 'erin', 'ETHUSDT', 'sell', '10', '1000');
    limit(e, 'alice', 'ETHUSDT', 'buy', '10', '1000'); // 10x: bucket 1,000, fee 5
    assert.equal(bal(e, 'alice:main:USDT'), amt('585'));
    // The mark stays at 20,000 (at 19,500 the liquidation engine would close her first): she tries a low bid.
    limit(e, 'carol', 'BTCUSDT', 'buy', '1', '19500');
    const r = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '19500', { timeInForce: 'IOC' });
    // loss 500 > 400 in the bucket: the fill would be the fund's — refused, nothing moves
    assert.deepEqual(of(r, 'trade'), []);
    assert.deepEqual(of(r, 'insuranceDraw'), []);
    assert.deepEqual(
      of(r, 'orderCanceled').map((c) => c.reason),
      ['marginCheck'],
    );
    assert.equal(bal(e, 'insurance:USDT'), 0n);
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), amt('400'));
    // At 19,600, her bankruptcy price, the close goes through: the bucket pays 400, the fee is capped at nothing.
    limit(e, 'dave', 'BTCUSDT', 'buy', '1', '19600');
    const c = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '19600', { timeInForce: 'IOC' });
    assert.deepEqual(
      moves(c).filter(
        ([from, to]) => from.startsWith('alice:') || to.startsWith('alice:') || from.startsWith('insurance'),
      ),
      [['alice:isolated:BTCUSDT', 'clearing:BTCUSDT', '400', 'realizedPnl']],
    );
    assert.deepEqual(of(c, 'insuranceDraw'), []);
    assert.equal(bal(e, 'insurance:USDT'), 0n);
    assert.equal(bal(e, 'alice:isolated:BTCUSDT'), 0n);
    assert.equal(bal(e, 'alice:main:USDT'), amt('585'));
    assert.equal(bal(e, 'alice:isolated:ETHUSDT'), amt('1000'));
    assert.equal(e.accounts.get('alice')!.positions.get('BTCUSDT')!.realizedPnl, amt('-400'));
    // bob's short from 20,000 is +400 at 19,600: exactly what clearing now holds for him
    assert.equal(bal(e, 'clearing:BTCUSDT'), amt('400'));
    checkInvariants(e);
  });
});
