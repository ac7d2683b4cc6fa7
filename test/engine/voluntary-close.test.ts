/**
 * Issue 14, D3 and D4: a trader's own close. D3 — an order that only reduces a position is never refused for
 * margin or available balance (a cross account under water, another market's loss, the backstop with a negative
 * fund). D4 — no voluntary order ever draws on the insurance fund: a close fills at prices up to the holder's
 * bankruptcy price and no further (the taker stops, a resting maker beyond it is cancelled, 'marginCheck'), and
 * its fee is capped at what the closing lots leave above bankruptcy.
 *
 * Markets are the harness's BTCUSDT (taker 0.05 %, maker 0.02 %, 0.4 % maintenance bracket) and ETHUSDT (maker
 * rebate 0.01 %). Money at 8 decimals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Engine } from '../../src/engine/engine.ts';
import { BACKSTOP_ACCOUNT } from '../../src/engine/liquidation.ts';
import {
  BTCUSDT,
  checkInvariants,
  ETHUSDT,
  engineProblems,
  engineWithMarkets,
  ok,
  rejected,
} from './harness.ts';
import { amt, avail, bal, cancels, deposit, fills, limit, of, position } from './scenario-kit.ts';

const T = { timeout: 30_000 };

const mark = (e: Engine, symbol: string, price: string) => ok(e, { type: 'setMarkPrice', symbol, price });
const lev = (e: Engine, account: string, leverage: string, symbol = 'BTCUSDT') =>
  ok(e, { type: 'setLeverage', account, symbol, leverage });
const cross = (e: Engine, account: string, symbol = 'BTCUSDT') =>
  ok(e, { type: 'setMarginMode', account, symbol, mode: 'cross' });
const fund = (e: Engine, amount: string) => ok(e, { type: 'fundInsurance', asset: 'USDT', amount });

/** BTCUSDT and ETHUSDT at 20,000 / 1,000, and a well-funded market maker `mk` at 1x. */
function venue(): Engine {
  const e = engineWithMarkets(BTCUSDT, ETHUSDT);
  mark(e, 'BTCUSDT', '20000');
  mark(e, 'ETHUSDT', '1000');
  deposit(e, 'mk', '10000000');
  lev(e, 'mk', '1');
  lev(e, 'mk', '1', 'ETHUSDT');
  return e;
}

/** `tr`: 1,000 USDT, cross 50x, long 1 BTC at 20,000 (taker fee 10: main 990). */
function crossLong(e: Engine): void {
  deposit(e, 'tr', '1000');
  cross(e, 'tr');
  lev(e, 'tr', '50');
  limit(e, 'mk', 'BTCUSDT', 'sell', '1', '20000');
  limit(e, 'tr', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' });
  assert.equal(bal(e, 'tr:main:USDT'), amt('990'));
}

function noDraws(r: { events: { type: string }[] }): void {
  assert.deepEqual(
    r.events.filter((ev) => ev.type === 'insuranceDraw'),
    [],
  );
}

describe('D3: a risk-reducing order is never refused for margin', () => {
  test(
    'cross 50x long 1 BTC at 20,000, mark 19,300 (equity 290 > maintenance, available < 0): a reduce-only IOC sell of 1 at 19,300 fills and closes',
    T,
    () => {
      const e = venue();
      crossLong(e);
      mark(e, 'BTCUSDT', '19300');
      assert.ok(avail(e, 'tr') < 0n, 'the loss and initial margin exceed the balance');
      assert.ok(position(e, 'tr', 'BTCUSDT'), 'not liquidated: equity 290 is above maintenance');
      limit(e, 'mk', 'BTCUSDT', 'buy', '1', '19300');
      // Before the fix: INSUFFICIENT_MARGIN "order needs 0 USDT, available 0".
      const r = limit(e, 'tr', 'BTCUSDT', 'sell', '1', '19300', { timeInForce: 'IOC', reduceOnly: true });
      assert.deepEqual(fills(r), [['mk', '19300', '1']]);
      assert.equal(position(e, 'tr', 'BTCUSDT'), undefined);
      // 990 − 700 loss − 9.65 fee
      assert.equal(bal(e, 'tr:main:USDT'), amt('280.35'));
      noDraws(r);
      assert.deepEqual(engineProblems(e), []);
    },
  );

  test(
    'the same close as a plain (not reduce-only) sell of exactly the position size: it only closes, so it needs no margin either',
    T,
    () => {
      const e = venue();
      crossLong(e);
      mark(e, 'BTCUSDT', '19300');
      limit(e, 'mk', 'BTCUSDT', 'buy', '1', '19300');
      const r = limit(e, 'tr', 'BTCUSDT', 'sell', '1', '19300', { timeInForce: 'IOC' });
      assert.deepEqual(fills(r), [['mk', '19300', '1']]);
      assert.equal(position(e, 'tr', 'BTCUSDT'), undefined);
    },
  );

  test(
    'a losing cross BTC long (mark 19,200, available < 0) does not block closing an unrelated isolated 10x ETH long of 1 at 1,000',
    T,
    () => {
      const e = venue();
      deposit(e, 'tr', '1200');
      lev(e, 'tr', '10', 'ETHUSDT');
      limit(e, 'mk', 'ETHUSDT', 'sell', '1', '1000');
      limit(e, 'tr', 'ETHUSDT', 'buy', '1', '1000', { timeInForce: 'IOC' }); // bucket 100, fee 0.5
      cross(e, 'tr');
      lev(e, 'tr', '50');
      limit(e, 'mk', 'BTCUSDT', 'sell', '1', '20000');
      limit(e, 'tr', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' }); // fee 10: main 1,089.5
      mark(e, 'BTCUSDT', '19200'); // available 1,089.5 − 800 − 384 < 0; equity 289.5 above maintenance
      assert.ok(avail(e, 'tr') < 0n);
      assert.ok(position(e, 'tr', 'BTCUSDT'));
      limit(e, 'mk', 'ETHUSDT', 'buy', '1', '1000');
      // Before the fix: INSUFFICIENT_MARGIN.
      const r = limit(e, 'tr', 'ETHUSDT', 'sell', '1', '1000', { timeInForce: 'IOC', reduceOnly: true });
      assert.deepEqual(fills(r, 2), [['mk', '1000', '1']]);
      assert.equal(position(e, 'tr', 'ETHUSDT'), undefined);
      // The bucket's 100 less the 0.5 fee went back to main.
      assert.equal(bal(e, 'tr:main:USDT'), amt('1189'));
      assert.deepEqual(engineProblems(e), []);
    },
  );

  test(
    'a flip still needs margin for its opening part: under water, selling 2 against a long of 1 is INSUFFICIENT_MARGIN',
    T,
    () => {
      const e = venue();
      crossLong(e);
      mark(e, 'BTCUSDT', '19300');
      limit(e, 'mk', 'BTCUSDT', 'buy', '2', '19300');
      rejected(
        e,
        {
          type: 'placeOrder',
          account: 'tr',
          symbol: 'BTCUSDT',
          side: 'sell',
          orderType: 'limit',
          size: '2',
          price: '19300',
          timeInForce: 'IOC',
        },
        'INSUFFICIENT_MARGIN',
      );
    },
  );

  test(
    'a reduce-only ask resting at 19,300 is hit after the mark fell to 19,300 and the account went under water: it fills',
    T,
    () => {
      const e = venue();
      crossLong(e);
      const placed = limit(e, 'tr', 'BTCUSDT', 'sell', '1', '19300', { reduceOnly: true });
      assert.equal(of(placed, 'trade').length, 0);
      mark(e, 'BTCUSDT', '19300');
      assert.ok(avail(e, 'tr') < 0n);
      const r = limit(e, 'mk', 'BTCUSDT', 'buy', '1', '19300', { timeInForce: 'IOC' });
      assert.deepEqual(fills(r), [['tr', '19300', '1']]);
      assert.equal(position(e, 'tr', 'BTCUSDT'), undefined);
      // 990 − 700 − 3.86 maker fee
      assert.equal(bal(e, 'tr:main:USDT'), amt('286.14'));
      noDraws(r);
    },
  );

  test(
    'under water (mark 19,300), a reduce-only ask of 1 at 19,500 is amended to 0.5 at 19,400, then filled',
    T,
    () => {
      const e = venue();
      crossLong(e);
      const placed = limit(e, 'tr', 'BTCUSDT', 'sell', '1', '19500', { reduceOnly: true });
      mark(e, 'BTCUSDT', '19300');
      assert.ok(avail(e, 'tr') < 0n);
      ok(e, {
        type: 'amendOrder',
        account: 'tr',
        symbol: 'BTCUSDT',
        orderId: placed.orderId!,
        price: '19400',
        size: '0.5',
      });
      const r = limit(e, 'mk', 'BTCUSDT', 'buy', '1', '19400', { timeInForce: 'IOC' });
      assert.deepEqual(fills(r), [['tr', '19400', '0.5']]);
      assert.equal(position(e, 'tr', 'BTCUSDT')!.contracts, '0.5');
    },
  );

  test(
    'the backstop unwinds a long of 1 taken over at 19,600 with a negative fund: mark 19,000, it sells 0.5 at 19,000 (fund → below zero), then the other 0.5',
    T,
    () => {
      const e = venue();
      fund(e, '50');
      deposit(e, 'a', '1000');
      lev(e, 'a', '50');
      limit(e, 'mk', 'BTCUSDT', 'sell', '1', '20000');
      limit(e, 'a', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' }); // bucket 400
      // Empty book: at 19,650 the position is liquidated and the backstop takes it at its bankruptcy price.
      const liq = mark(e, 'BTCUSDT', '19650');
      assert.ok(of(liq, 'liquidation').some((l) => l.stage === 'backstop'));
      const bs = position(e, BACKSTOP_ACCOUNT, 'BTCUSDT');
      assert.equal(bs?.side, 'long');
      assert.equal(bs?.contracts, '1');
      mark(e, 'BTCUSDT', '19000');
      assert.ok(avail(e, BACKSTOP_ACCOUNT) < 0n);
      limit(e, 'mk', 'BTCUSDT', 'buy', '1', '19000');
      const sell = (size: string) =>
        limit(e, BACKSTOP_ACCOUNT, 'BTCUSDT', 'sell', size, '19000', {
          timeInForce: 'IOC',
          reduceOnly: true,
        });
      // Before the fix both were INSUFFICIENT_MARGIN: the backstop could not get out.
      assert.deepEqual(fills(sell('0.5')), [['mk', '19000', '0.5']]);
      assert.ok(e.insuranceFund('USDT') < 0n, 'the fund is in deficit');
      assert.deepEqual(fills(sell('0.5')), [['mk', '19000', '0.5']]);
      assert.equal(position(e, BACKSTOP_ACCOUNT, 'BTCUSDT'), undefined);
      assert.deepEqual(engineProblems(e), []);
    },
  );
});

describe('D4: a voluntary close never draws on the insurance fund', () => {
  /** Fund 10,000; `A` 1,000 USDT, isolated 50x long 1 BTC at 20,000 (bucket 400, bankrupt at 19,600); B 1x. */
  function isoLong(): Engine {
    const e = venue();
    fund(e, '10000');
    deposit(e, 'A', '1000');
    lev(e, 'A', '50');
    limit(e, 'mk', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'A', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' });
    assert.equal(bal(e, 'A:isolated:BTCUSDT'), amt('400'));
    deposit(e, 'B', '100000');
    lev(e, 'B', '1');
    return e;
  }

  test(
    'A’s bucket 400 (bankrupt at 19,600) sells 1 at 19,000 IOC reduce-only into B’s bid: no fill (marginCheck), the fund keeps 10,000, B’s bid rests',
    T,
    () => {
      const e = isoLong();
      limit(e, 'B', 'BTCUSDT', 'buy', '1', '19000');
      // Before the fix: filled, the fund paid 600 of A's 1,000 loss and A paid no taker fee.
      const r = limit(e, 'A', 'BTCUSDT', 'sell', '1', '19000', { timeInForce: 'IOC', reduceOnly: true });
      assert.equal(of(r, 'trade').length, 0);
      assert.deepEqual(cancels(r), [[r.orderId!, '1', 'marginCheck']]);
      noDraws(r);
      assert.equal(e.insuranceFund('USDT'), amt('10000'));
      assert.equal(bal(e, 'A:isolated:BTCUSDT'), amt('400'));
      assert.equal(position(e, 'B', 'BTCUSDT'), undefined);
      assert.equal(e.markets.get('BTCUSDT')!.book.bestPrice('buy'), 190_000);
      checkInvariants(e);
    },
  );

  test(
    'A sells 1 at 19,600, exactly its bankruptcy price: it fills, the bucket pays the whole 400 loss, the fee is capped at 0, no draw',
    T,
    () => {
      const e = isoLong();
      limit(e, 'B', 'BTCUSDT', 'buy', '1', '19600');
      const r = limit(e, 'A', 'BTCUSDT', 'sell', '1', '19600', { timeInForce: 'IOC', reduceOnly: true });
      assert.deepEqual(fills(r), [['B', '19600', '1']]);
      assert.equal(of(r, 'trade')[0]!.takerFee, 0n);
      noDraws(r);
      assert.equal(e.insuranceFund('USDT'), amt('10000'));
      assert.equal(bal(e, 'A:isolated:BTCUSDT'), 0n);
      checkInvariants(e);
    },
  );

  test(
    'the taker stops at the bankruptcy price: A sells 1 into bids of 0.4 at 19,700 and 0.6 at 19,000 — 0.4 fills, the rest is cancelled',
    T,
    () => {
      const e = isoLong();
      limit(e, 'B', 'BTCUSDT', 'buy', '0.4', '19700');
      limit(e, 'B', 'BTCUSDT', 'buy', '0.6', '19000');
      const r = limit(e, 'A', 'BTCUSDT', 'sell', '1', '19000', { timeInForce: 'IOC', reduceOnly: true });
      assert.deepEqual(fills(r), [['B', '19700', '0.4']]);
      assert.deepEqual(cancels(r), [[r.orderId!, '0.6', 'marginCheck']]);
      noDraws(r);
      assert.equal(position(e, 'A', 'BTCUSDT')!.contracts, '0.6');
      // The remaining 0.6 keep their own share of the bucket: 240.
      assert.equal(bal(e, 'A:isolated:BTCUSDT'), amt('240'));
    },
  );

  test(
    'a resting reduce-only ask of A at 19,000 (beyond bankruptcy) is cancelled when B’s buy reaches it; B’s IOC finds nothing else',
    T,
    () => {
      const e = isoLong();
      limit(e, 'A', 'BTCUSDT', 'sell', '1', '19000', { reduceOnly: true });
      // Before the fix: B bought at 19,000 and the fund paid 600 of A's loss.
      const r = limit(e, 'B', 'BTCUSDT', 'buy', '1', '19000', { timeInForce: 'IOC' });
      assert.equal(of(r, 'trade').length, 0);
      assert.deepEqual(
        cancels(r).map(([, size, reason]) => [size, reason]),
        [
          ['1', 'marginCheck'],
          ['1', 'ioc'],
        ],
      );
      noDraws(r);
      assert.equal(e.insuranceFund('USDT'), amt('10000'));
      assert.equal(bal(e, 'A:isolated:BTCUSDT'), amt('400'));
    },
  );

  test(
    'a partial close of 1 of a 50x long of 2 (bucket 800) at 19,600, its bankruptcy price: the fee is capped at 0, so the remaining 1 keeps its 400',
    T,
    () => {
      const e = venue();
      deposit(e, 'A', '2000');
      lev(e, 'A', '50');
      limit(e, 'mk', 'BTCUSDT', 'sell', '2', '20000');
      limit(e, 'A', 'BTCUSDT', 'buy', '2', '20000', { timeInForce: 'IOC' });
      assert.equal(bal(e, 'A:isolated:BTCUSDT'), amt('800'));
      limit(e, 'mk', 'BTCUSDT', 'buy', '1', '19600');
      const r = limit(e, 'A', 'BTCUSDT', 'sell', '1', '19600', { timeInForce: 'IOC', reduceOnly: true });
      assert.deepEqual(fills(r), [['mk', '19600', '1']]);
      // Before the fix the 9.80 fee came out of the remaining lot's collateral: 390.20.
      assert.equal(of(r, 'trade')[0]!.takerFee, 0n);
      assert.equal(bal(e, 'A:isolated:BTCUSDT'), amt('400'));
    },
  );

  test(
    'cross 50x long 1 BTC at 20,000 (main 990) sells 1 at 18,000: the loss 2,000 exceeds the pool, no fill, no draw; at 19,100 it fills',
    T,
    () => {
      const e = venue();
      fund(e, '10000');
      crossLong(e);
      limit(e, 'mk', 'BTCUSDT', 'buy', '1', '18000');
      // Before the fix: filled, and the fund paid 1,010.
      const r = limit(e, 'tr', 'BTCUSDT', 'sell', '1', '18000', { timeInForce: 'IOC', reduceOnly: true });
      assert.equal(of(r, 'trade').length, 0);
      noDraws(r);
      assert.equal(e.insuranceFund('USDT'), amt('10000'));
      limit(e, 'mk', 'BTCUSDT', 'buy', '1', '19100');
      const r2 = limit(e, 'tr', 'BTCUSDT', 'sell', '1', '19100', { timeInForce: 'IOC', reduceOnly: true });
      assert.deepEqual(fills(r2), [['mk', '19100', '1']]);
      // 990 − 900 − 9.55
      assert.equal(bal(e, 'tr:main:USDT'), amt('80.45'));
    },
  );

  test(
    'cross: a close may not spend the equity the account’s other losing positions need — BTC long 1 and ETH long 10 at 1,000 (mark 900, −1,000), main 1,985: BTC may not be sold at 19,000',
    T,
    () => {
      const e = venue();
      fund(e, '10000');
      deposit(e, 'tr', '2000');
      cross(e, 'tr');
      cross(e, 'tr', 'ETHUSDT');
      lev(e, 'tr', '50');
      lev(e, 'tr', '50', 'ETHUSDT');
      limit(e, 'mk', 'BTCUSDT', 'sell', '1', '20000');
      limit(e, 'tr', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' }); // fee 10
      limit(e, 'mk', 'ETHUSDT', 'sell', '10', '1000');
      limit(e, 'tr', 'ETHUSDT', 'buy', '10', '1000', { timeInForce: 'IOC' }); // fee 5: main 1,985
      mark(e, 'ETHUSDT', '900'); // equity 985
      assert.ok(position(e, 'tr', 'ETHUSDT'));
      limit(e, 'mk', 'BTCUSDT', 'buy', '1', '19000');
      // The 1,000 loss fits in main (1,985) but not in the equity (985): the ETH long would be left with nothing.
      const r = limit(e, 'tr', 'BTCUSDT', 'sell', '1', '19000', { timeInForce: 'IOC', reduceOnly: true });
      assert.equal(of(r, 'trade').length, 0);
      assert.deepEqual(cancels(r), [[r.orderId!, '1', 'marginCheck']]);
      noDraws(r);
    },
  );

  test(
    'cross: a solvent account closes at the mark even when its cash alone cannot pay the loss — BTC long 1 at 20,000 and ETH short 10 at 1,000 (main 1,985); ETH 600 (+4,000), BTC 18,500 (−1,500), 1,000 withdrawn (cash 985): the sell at 18,500 fills, ETH realizes what the cash lacks, no draw',
    T,
    () => {
      const e = venue();
      fund(e, '10000');
      deposit(e, 'tr', '2000');
      cross(e, 'tr');
      cross(e, 'tr', 'ETHUSDT');
      lev(e, 'tr', '50');
      lev(e, 'tr', '50', 'ETHUSDT');
      limit(e, 'mk', 'BTCUSDT', 'sell', '1', '20000');
      limit(e, 'tr', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' }); // fee 10
      limit(e, 'mk', 'ETHUSDT', 'buy', '10', '1000');
      limit(e, 'tr', 'ETHUSDT', 'sell', '10', '1000', { timeInForce: 'IOC' }); // fee 5: main 1,985
      mark(e, 'ETHUSDT', '600');
      mark(e, 'BTCUSDT', '18500');
      // The ETH profit counts toward what is free (unrealized profit nets the losses in cross): 1,000 goes out,
      // leaving cash 985, less than the BTC loss.
      ok(e, { type: 'withdraw', account: 'tr', asset: 'USDT', amount: '1000' });
      limit(e, 'mk', 'BTCUSDT', 'buy', '1', '18500');
      const r = limit(e, 'tr', 'BTCUSDT', 'sell', '1', '18500', { timeInForce: 'IOC', reduceOnly: true });
      assert.deepEqual(fills(r), [['mk', '18500', '1']]);
      noDraws(r);
      assert.equal(e.insuranceFund('USDT'), amt('10000'));
      // Loss 1,500 + fee 9.25 = 1,509.25 against cash 985: ETH realizes the 524.25 missing, its entry moves from
      // 1,000 to 947.575, and the pool is empty.
      assert.equal(bal(e, 'tr:main:USDT'), 0n);
      assert.equal(position(e, 'tr', 'ETHUSDT')!.entryPrice, '947.575');
      assert.deepEqual(engineProblems(e), []);
    },
  );
});
