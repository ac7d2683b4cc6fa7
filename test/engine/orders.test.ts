/**
 * Order entry and matching on BTCUSDT (tick 0.1 = 1 tick, lot 0.001 BTC = 1 lot; book depth is in ticks and lots:
 * 20,000 → 200,000 ticks, 1 BTC → 1,000 lots). Everyone trades at the default 10x isolated unless a test says
 * otherwise, with deep pockets so margin never interferes here (risk.test.ts covers that).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Engine } from '../../src/engine/engine.ts';
import type { MarketConfig } from '../../src/engine/types.ts';
import { BTCUSD, BTCUSDT, checkInvariants, ETHUSDT, engineWithMarkets, ok, rejected } from './harness.ts';
import { amt, bal, cancels, deposit, fills, limit, market, moves, of, position } from './scenario-kit.ts';

const TRADERS = ['alice', 'bob', 'carol', 'dave', 'erin'];

function venue(...extra: MarketConfig[]): Engine {
  const e = engineWithMarkets(BTCUSDT, ...extra);
  for (const a of TRADERS) deposit(e, a, '1000000');
  return e;
}

const depth = (e: Engine, n = 10, sym = 'BTCUSDT') => e.markets.get(sym)!.book.depth(n);

describe('matching: price-time priority', () => {
  test('bob then carol offer 1 BTC at 20,000 and dave 1 at 19,999.9; alice buys 2.5: dave first (price), then bob before carol (time)', () => {
    const e = venue();
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'dave', 'BTCUSDT', 'sell', '1', '19999.9');
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '2.5', '20000');
    assert.deepEqual(fills(r), [
      ['dave', '19999.9', '1'],
      ['bob', '20000', '1'],
      ['carol', '20000', '0.5'],
    ]);
    assert.deepEqual(cancels(r), []);
    assert.deepEqual(depth(e), { bids: [], asks: [[200_000, 500]] });
    assert.equal(position(e, 'alice', 'BTCUSDT')!.contracts, '2.5');
    checkInvariants(e);
  });

  test('when bob’s 1 BTC at 20,000 fills completely the level shows only carol’s 1 BTC behind it, and a FOK for 1.5 is FOK_NOT_FILLED', () => {
    // Regression: a fully filled maker was zeroed before leaving the book, so its lots stayed in the level total
    // (depth 2 BTC here) and a FOK for 1.5 passed its liquidity check, then filled 1 and was cancelled.
    const e = venue();
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20000');
    assert.deepEqual(fills(limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000')), [['bob', '20000', '1']]);
    assert.deepEqual(depth(e), { bids: [], asks: [[200_000, 1000]] });
    assert.equal(e.markets.get('BTCUSDT')!.book.lotsAt('sell', 200_000), 1000);
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'dave',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '1.5',
        price: '20000',
        timeInForce: 'FOK',
      },
      'FOK_NOT_FILLED',
    );
    e.markets.get('BTCUSDT')!.book.checkInvariants();
    checkInvariants(e);
  });

  test('a limit GTC that does not cross rests (orderAccepted, no trade); L2 depth aggregates levels best first', () => {
    const e = venue();
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '19000');
    assert.deepEqual(of(r, 'orderAccepted'), [
      {
        type: 'orderAccepted',
        orderId: r.orderId!,
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        price: amt('19000'),
        size: 1000n,
        timeInForce: 'GTC',
        reduceOnly: false,
      },
    ]);
    assert.deepEqual(of(r, 'trade'), []);
    limit(e, 'bob', 'BTCUSDT', 'buy', '0.5', '19000');
    limit(e, 'carol', 'BTCUSDT', 'buy', '0.2', '19500');
    limit(e, 'dave', 'BTCUSDT', 'sell', '0.3', '21000');
    limit(e, 'erin', 'BTCUSDT', 'sell', '0.7', '20500');
    assert.deepEqual(depth(e), {
      bids: [
        [195_000, 200],
        [190_000, 1500],
      ],
      asks: [
        [205_000, 700],
        [210_000, 300],
      ],
    });
    assert.deepEqual(depth(e, 1), { bids: [[195_000, 200]], asks: [[205_000, 700]] });
    checkInvariants(e);
  });

  test('dave sells 1.6 into three bids: trade events carry price, size, both order ids, both fees (taker 0.05%, maker 0.02%)', () => {
    const e = venue();
    const a = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '19000');
    const b = limit(e, 'bob', 'BTCUSDT', 'buy', '0.5', '19000');
    const c = limit(e, 'carol', 'BTCUSDT', 'buy', '0.2', '19500');
    const r = limit(e, 'dave', 'BTCUSDT', 'sell', '1.6', '19000');
    const base = {
      type: 'trade',
      symbol: 'BTCUSDT',
      takerOrderId: r.orderId!,
      taker: 'dave',
      takerSide: 'sell',
    } as const;
    assert.deepEqual(of(r, 'trade'), [
      // 0.2 × 19,500 = 3,900: taker 1.95, maker 0.78
      {
        ...base,
        price: amt('19500'),
        size: 200n,
        makerOrderId: c.orderId!,
        maker: 'carol',
        takerFee: amt('1.95'),
        makerFee: amt('0.78'),
      },
      // 1 × 19,000: taker 9.5, maker 3.8
      {
        ...base,
        price: amt('19000'),
        size: 1000n,
        makerOrderId: a.orderId!,
        maker: 'alice',
        takerFee: amt('9.5'),
        makerFee: amt('3.8'),
      },
      // 0.4 × 19,000 = 7,600: taker 3.8, maker 1.52
      {
        ...base,
        price: amt('19000'),
        size: 400n,
        makerOrderId: b.orderId!,
        maker: 'bob',
        takerFee: amt('3.8'),
        makerFee: amt('1.52'),
      },
    ]);
    assert.deepEqual(depth(e), { bids: [[190_000, 100]], asks: [] });
    assert.equal(bal(e, 'fees:USDT'), amt('21.35')); // 1.95 + 9.5 + 3.8 + 0.78 + 3.8 + 1.52
    checkInvariants(e);
  });
});

describe('time in force', () => {
  test('IOC: alice buys 2 but only 1 is offered: 1 fills, the other 1 is cancelled (ioc), nothing rests and her reserve is fully released', () => {
    const e = venue();
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '2', '20000', { timeInForce: 'IOC' });
    assert.deepEqual(fills(r), [['bob', '20000', '1']]);
    assert.deepEqual(cancels(r), [[r.orderId!, '1', 'ioc']]);
    assert.deepEqual(depth(e), { bids: [], asks: [] });
    assert.equal(bal(e, 'alice:reserved:USDT'), 0n);
    assert.equal(e.accounts.get('alice')!.orders.size, 0);
    checkInvariants(e);
  });

  test('FOK is all or nothing: 2 BTC against 1.5 offered is FOK_NOT_FILLED and changes nothing; 1.5 up to 20,001 fills completely', () => {
    const e = venue();
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'carol', 'BTCUSDT', 'sell', '0.5', '20001');
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '2',
        price: '20001',
        timeInForce: 'FOK',
      },
      'FOK_NOT_FILLED',
    );
    // the limit excludes carol's level
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '1.5',
        price: '20000.9',
        timeInForce: 'FOK',
      },
      'FOK_NOT_FILLED',
    );
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '1.5', '20001', { timeInForce: 'FOK' });
    assert.deepEqual(fills(r), [
      ['bob', '20000', '1'],
      ['carol', '20001', '0.5'],
    ]);
    assert.deepEqual(cancels(r), []);
    checkInvariants(e);
  });

  test('FOK with self-trade prevention cancelTaker does not count liquidity behind the taker’s own order: FOK_NOT_FILLED, not a partial fill', () => {
    // Regression: the FOK check used to skip alice's own ask and count carol's behind it; matching then filled
    // bob's 1 BTC, stopped at alice's ask (cancelTaker) and cancelled the rest — a half-filled FOK.
    const e = venue();
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000.5');
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20001');
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '2',
        price: '20001',
        timeInForce: 'FOK',
      },
      'FOK_NOT_FILLED',
    );
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '2',
        price: '20001',
        timeInForce: 'FOK',
        stp: 'cancelBoth',
      },
      'FOK_NOT_FILLED',
    );
    // with cancelMaker her own ask is cancelled and skipped, so bob's and carol's 2 BTC do fill it
    const askId = [...e.accounts.get('alice')!.orders.keys()][0]!;
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '2', '20001', { timeInForce: 'FOK', stp: 'cancelMaker' });
    assert.deepEqual(fills(r), [
      ['bob', '20000', '1'],
      ['carol', '20001', '1'],
    ]);
    assert.deepEqual(cancels(r), [[askId, '1', 'selfTrade']]);
    assert.deepEqual(depth(e), { bids: [], asks: [] });
    checkInvariants(e);
  });

  test('post-only rests when it would not cross and is POST_ONLY_WOULD_TAKE (nothing changes) when it would', () => {
    const e = venue();
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
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
        timeInForce: 'PO',
      },
      'POST_ONLY_WOULD_TAKE',
    );
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '19999.9', { timeInForce: 'PO' });
    assert.equal(of(r, 'orderAccepted')[0]!.timeInForce, 'PO');
    assert.deepEqual(depth(e), { bids: [[199_999, 1000]], asks: [[200_000, 1000]] });
    checkInvariants(e);
  });
});

describe('market orders and price bands', () => {
  test('mark 20,000, market band 5%: alice’s market buy of 3 fills 20,500 and 21,000 but not 21,000.1; the last 1 is cancelled (priceBand)', () => {
    const e = venue();
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20500');
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '21000');
    limit(e, 'dave', 'BTCUSDT', 'sell', '1', '21000.1');
    const r = market(e, 'alice', 'BTCUSDT', 'buy', '3');
    // the order's limit is the band edge: floor(20,000 × 1.05) = 21,000
    assert.equal(of(r, 'orderAccepted')[0]!.price, amt('21000'));
    assert.equal(of(r, 'orderAccepted')[0]!.timeInForce, 'IOC');
    assert.deepEqual(fills(r), [
      ['bob', '20500', '1'],
      ['carol', '21000', '1'],
    ]);
    assert.deepEqual(cancels(r), [[r.orderId!, '1', 'priceBand']]);
    assert.deepEqual(depth(e), { bids: [], asks: [[210_001, 1000]] });
    checkInvariants(e);
  });

  test('a market sell fills down to mark × 0.95 = 19,000 and no lower', () => {
    const e = venue();
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
    limit(e, 'bob', 'BTCUSDT', 'buy', '1', '19000');
    limit(e, 'carol', 'BTCUSDT', 'buy', '1', '18999.9');
    const r = market(e, 'alice', 'BTCUSDT', 'sell', '2');
    assert.deepEqual(fills(r), [['bob', '19000', '1']]);
    assert.deepEqual(cancels(r), [[r.orderId!, '1', 'priceBand']]);
    checkInvariants(e);
  });

  test('with no mark, no last trade and an empty book a market order is NO_REFERENCE_PRICE; with an offer, the best ask is the reference', () => {
    const e = venue();
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'market',
        size: '1',
      },
      'NO_REFERENCE_PRICE',
    );
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    // a sell needs a bid (or mark/last) to protect it: still none
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'market',
        size: '1',
      },
      'NO_REFERENCE_PRICE',
    );
    const r = market(e, 'alice', 'BTCUSDT', 'buy', '1');
    assert.equal(of(r, 'orderAccepted')[0]!.price, amt('21000'));
    assert.deepEqual(fills(r), [['bob', '20000', '1']]);
    checkInvariants(e);
  });

  test('limit prices must lie within mark × (1 ± 20%): buy 24,000.1 and sell 15,999.9 are PRICE_BAND; 24,000 and 16,000 are accepted; without a reference there is no band', () => {
    const e = venue();
    limit(e, 'carol', 'BTCUSDT', 'buy', '0.001', '100000'); // no mark and no trade yet: no band
    ok(e, { type: 'cancelAll', account: 'carol' });
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '0.001',
        price: '24000.1',
      },
      'PRICE_BAND',
    );
    const buy = limit(e, 'alice', 'BTCUSDT', 'buy', '0.001', '24000');
    ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: buy.orderId! });
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'bob',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'limit',
        size: '0.001',
        price: '15999.9',
      },
      'PRICE_BAND',
    );
    limit(e, 'bob', 'BTCUSDT', 'sell', '0.001', '16000');
    checkInvariants(e);
  });

  test('market orders take no price and are IOC or FOK only (INVALID_COMMAND)', () => {
    const e = venue();
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'market',
        size: '1',
        price: '20000',
      },
      'INVALID_COMMAND',
    );
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'market',
        size: '1',
        timeInForce: 'GTC',
      },
      'INVALID_COMMAND',
    );
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'market',
        size: '1',
        timeInForce: 'PO',
      },
      'INVALID_COMMAND',
    );
    checkInvariants(e);
  });
});

describe('reduce-only', () => {
  function aliceLong1(e: Engine): void {
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
  }

  test('REDUCE_ONLY_WOULD_INCREASE when flat, on the same side, or larger than the position; a reduce-only sell of exactly 1 rests and reserves nothing', () => {
    const e = venue();
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'limit',
        size: '1',
        price: '21000',
        reduceOnly: true,
      },
      'REDUCE_ONLY_WOULD_INCREASE',
    );
    aliceLong1(e);
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '0.1',
        price: '19000',
        reduceOnly: true,
      },
      'REDUCE_ONLY_WOULD_INCREASE',
    );
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'limit',
        size: '1.001',
        price: '21000',
        reduceOnly: true,
      },
      'REDUCE_ONLY_WOULD_INCREASE',
    );
    const r = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '21000', { reduceOnly: true });
    assert.deepEqual(moves(r), []);
    assert.equal(of(r, 'orderAccepted')[0]!.reduceOnly, true);
    checkInvariants(e);
  });

  test('a resting reduce-only sell of 1 whose position shrank to 0.4 fills only 0.4 and is then cancelled (reduceOnly); the buyer moves on to erin (design: capped lazily, at match time)', () => {
    const e = venue();
    aliceLong1(e);
    const ro = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '21000', { reduceOnly: true });
    limit(e, 'erin', 'BTCUSDT', 'sell', '1', '21000');
    limit(e, 'carol', 'BTCUSDT', 'buy', '0.6', '20000');
    limit(e, 'alice', 'BTCUSDT', 'sell', '0.6', '20000', { timeInForce: 'IOC' });
    assert.equal(position(e, 'alice', 'BTCUSDT')!.contracts, '0.4');
    // the book still shows alice's full 1 BTC until a taker reaches it
    assert.deepEqual(depth(e).asks, [[210_000, 2000]]);
    const r = limit(e, 'dave', 'BTCUSDT', 'buy', '1', '21000');
    assert.deepEqual(fills(r), [
      ['alice', '21000', '0.4'],
      ['erin', '21000', '0.6'],
    ]);
    assert.deepEqual(cancels(r), [[ro.orderId!, '0.6', 'reduceOnly']]);
    assert.equal(position(e, 'alice', 'BTCUSDT'), undefined);
    assert.deepEqual(depth(e).asks, [[210_000, 400]]);
    checkInvariants(e);
  });

  test('a resting reduce-only sell whose position was closed elsewhere is cancelled (reduceOnly) without trading when reached', () => {
    const e = venue();
    aliceLong1(e);
    const ro = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '21000', { reduceOnly: true });
    limit(e, 'carol', 'BTCUSDT', 'buy', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000', { timeInForce: 'IOC' });
    limit(e, 'erin', 'BTCUSDT', 'sell', '1', '21000');
    const r = limit(e, 'dave', 'BTCUSDT', 'buy', '1', '21000');
    assert.deepEqual(cancels(r), [[ro.orderId!, '1', 'reduceOnly']]);
    assert.deepEqual(fills(r), [['erin', '21000', '1']]);
    assert.equal(position(e, 'alice', 'BTCUSDT'), undefined);
    checkInvariants(e);
  });

  test('FOK counts a shrunk reduce-only maker only for what it can still close: 1 shown, 0.4 reachable → FOK_NOT_FILLED', () => {
    // Regression: the FOK check counted the reduce-only order's full 1 BTC; matching then filled 0.4, cancelled
    // the maker (reduceOnly) and left the FOK 0.6 short.
    const e = venue();
    aliceLong1(e);
    limit(e, 'alice', 'BTCUSDT', 'sell', '1', '21000', { reduceOnly: true });
    limit(e, 'carol', 'BTCUSDT', 'buy', '0.6', '20000');
    limit(e, 'alice', 'BTCUSDT', 'sell', '0.6', '20000', { timeInForce: 'IOC' });
    rejected(
      e,
      {
        type: 'placeOrder',
        account: 'dave',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '1',
        price: '21000',
        timeInForce: 'FOK',
      },
      'FOK_NOT_FILLED',
    );
    const r = limit(e, 'dave', 'BTCUSDT', 'buy', '0.4', '21000', { timeInForce: 'FOK' });
    assert.deepEqual(fills(r), [['alice', '21000', '0.4']]);
    checkInvariants(e);
  });
});

describe('cancel, cancel-all, amend', () => {
  test('alice cancels one order: orderCanceled (user) and its 1,909.5 reserve comes back; cancelling it again, or bob cancelling hers, is UNKNOWN_ORDER', () => {
    const e = venue(BTCUSD);
    const o = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '19000'); // 1,900 IM (10x) + 9.5 fee
    assert.equal(bal(e, 'alice:reserved:USDT'), amt('1909.5'));
    rejected(
      e,
      { type: 'cancelOrder', account: 'bob', symbol: 'BTCUSDT', orderId: o.orderId! },
      'UNKNOWN_ORDER',
    );
    rejected(
      e,
      { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSD', orderId: o.orderId! },
      'UNKNOWN_ORDER',
    );
    const r = ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: o.orderId! });
    assert.deepEqual(cancels(r), [[o.orderId!, '1', 'user']]);
    assert.deepEqual(moves(r), [['alice:reserved:USDT', 'alice:main:USDT', '1909.5', 'orderRelease']]);
    assert.equal(bal(e, 'alice:main:USDT'), amt('1000000'));
    rejected(
      e,
      { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: o.orderId! },
      'UNKNOWN_ORDER',
    );
    assert.deepEqual(depth(e), { bids: [], asks: [] });
    checkInvariants(e);
  });

  test('cancel-all for BTCUSDT cancels only BTCUSDT orders (oldest first); cancel-all without a symbol cancels the rest', () => {
    const e = venue(ETHUSDT);
    const a = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '19000');
    const x = limit(e, 'alice', 'ETHUSDT', 'buy', '10', '1000');
    const b = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '21000');
    limit(e, 'bob', 'BTCUSDT', 'buy', '1', '19000');
    rejected(e, { type: 'cancelAll', account: 'alice', symbol: 'DOGEUSDT' }, 'UNKNOWN_MARKET');
    const r = ok(e, { type: 'cancelAll', account: 'alice', symbol: 'BTCUSDT' });
    assert.deepEqual(cancels(r), [
      [a.orderId!, '1', 'user'],
      [b.orderId!, '1', 'user'],
    ]);
    assert.deepEqual(depth(e), { bids: [[190_000, 1000]], asks: [] }, "bob's bid stays");
    const all = ok(e, { type: 'cancelAll', account: 'alice' });
    assert.deepEqual(cancels(all, 2), [[x.orderId!, '10', 'user']]);
    assert.equal(bal(e, 'alice:reserved:USDT'), 0n);
    assert.equal(e.accounts.get('alice')!.orders.size, 0);
    checkInvariants(e);
  });

  test('amend down at the same price keeps priority: bob cuts his 1 BTC ask to 0.5 and still fills before carol', () => {
    const e = venue();
    const b = limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000'); // reserve 2,000 + 10
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20000');
    const r = ok(e, {
      type: 'amendOrder',
      account: 'bob',
      symbol: 'BTCUSDT',
      orderId: b.orderId!,
      size: '0.5',
    });
    assert.deepEqual(of(r, 'orderAmended'), [
      {
        type: 'orderAmended',
        orderId: b.orderId!,
        account: 'bob',
        symbol: 'BTCUSDT',
        price: amt('20000'),
        size: 500n,
        priorityKept: true,
      },
    ]);
    assert.deepEqual(moves(r), [['bob:reserved:USDT', 'bob:main:USDT', '1005', 'orderRelease']]);
    const t = limit(e, 'alice', 'BTCUSDT', 'buy', '0.5', '20000');
    assert.deepEqual(fills(t), [['bob', '20000', '0.5']]);
    checkInvariants(e);
  });

  test('amend up loses priority: bob grows his ask to 2 BTC (reserving 2,010 more) and carol now fills first', () => {
    const e = venue();
    const b = limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20000');
    const r = ok(e, {
      type: 'amendOrder',
      account: 'bob',
      symbol: 'BTCUSDT',
      orderId: b.orderId!,
      size: '2',
    });
    assert.equal(of(r, 'orderAmended')[0]!.priorityKept, false);
    assert.deepEqual(moves(r), [['bob:main:USDT', 'bob:reserved:USDT', '2010', 'orderReserve']]);
    const t = limit(e, 'alice', 'BTCUSDT', 'buy', '1.5', '20000');
    assert.deepEqual(fills(t), [
      ['carol', '20000', '1'],
      ['bob', '20000', '0.5'],
    ]);
    checkInvariants(e);
  });

  test('a price change loses priority even when the price comes back: bob moves to 20,000.1 and back to 20,000 and is now behind carol', () => {
    const e = venue();
    const b = limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20000');
    assert.equal(
      of(
        ok(e, {
          type: 'amendOrder',
          account: 'bob',
          symbol: 'BTCUSDT',
          orderId: b.orderId!,
          price: '20000.1',
        }),
        'orderAmended',
      )[0]!.priorityKept,
      false,
    );
    ok(e, { type: 'amendOrder', account: 'bob', symbol: 'BTCUSDT', orderId: b.orderId!, price: '20000' });
    const t = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
    assert.deepEqual(fills(t), [['carol', '20000', '1']]);
    checkInvariants(e);
  });

  test('an amend that would cross is INVALID_PRICE; no change is accepted with no events; an empty amend is INVALID_COMMAND; unknown ids are UNKNOWN_ORDER', () => {
    const e = venue();
    limit(e, 'alice', 'BTCUSDT', 'buy', '1', '19999.9');
    const b = limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    rejected(
      e,
      { type: 'amendOrder', account: 'bob', symbol: 'BTCUSDT', orderId: b.orderId!, price: '19999.9' },
      'INVALID_PRICE',
    );
    rejected(
      e,
      { type: 'amendOrder', account: 'bob', symbol: 'BTCUSDT', orderId: b.orderId!, price: '19000' },
      'INVALID_PRICE',
    );
    rejected(
      e,
      { type: 'amendOrder', account: 'bob', symbol: 'BTCUSDT', orderId: b.orderId! },
      'INVALID_COMMAND',
    );
    rejected(
      e,
      { type: 'amendOrder', account: 'bob', symbol: 'BTCUSDT', orderId: 999, size: '1' },
      'UNKNOWN_ORDER',
    );
    rejected(
      e,
      { type: 'amendOrder', account: 'carol', symbol: 'BTCUSDT', orderId: b.orderId!, size: '0.5' },
      'UNKNOWN_ORDER',
    );
    assert.deepEqual(
      ok(e, {
        type: 'amendOrder',
        account: 'bob',
        symbol: 'BTCUSDT',
        orderId: b.orderId!,
        size: '1',
        price: '20000',
      }).events,
      [],
    );
    checkInvariants(e);
  });
});

describe('self-trade prevention', () => {
  test('cancelTaker (default): alice’s buy meets her own ask and is cancelled (selfTrade) after filling bob’s 1 ahead of it; her ask stays', () => {
    const e = venue();
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    const ask = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000');
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '2', '20000');
    assert.deepEqual(fills(r), [['bob', '20000', '1']]);
    assert.deepEqual(cancels(r), [[r.orderId!, '1', 'selfTrade']]);
    assert.ok(e.accounts.get('alice')!.orders.has(ask.orderId!));
    assert.deepEqual(depth(e), { bids: [], asks: [[200_000, 1000]] });
    checkInvariants(e);
  });

  test('cancelMaker: alice’s own ask is cancelled (selfTrade) and her buy fills bob’s ask behind it', () => {
    const e = venue();
    const ask = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000', { stp: 'cancelMaker' });
    assert.deepEqual(cancels(r), [[ask.orderId!, '1', 'selfTrade']]);
    assert.deepEqual(fills(r), [['bob', '20000', '1']]);
    assert.deepEqual(depth(e), { bids: [], asks: [] });
    checkInvariants(e);
  });

  test('cancelBoth: alice’s ask and her buy are both cancelled (selfTrade), nothing trades, bob’s ask stays', () => {
    const e = venue();
    const ask = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
    const r = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000', { stp: 'cancelBoth' });
    assert.deepEqual(cancels(r), [
      [ask.orderId!, '1', 'selfTrade'],
      [r.orderId!, '1', 'selfTrade'],
    ]);
    assert.deepEqual(fills(r), []);
    assert.deepEqual(depth(e), { bids: [], asks: [[200_000, 1000]] });
    assert.equal(bal(e, 'alice:reserved:USDT'), 0n);
    checkInvariants(e);
  });
});

describe('order validation', () => {
  test('UNKNOWN_MARKET, UNKNOWN_ACCOUNT and bad side / type / time in force are rejected with nothing changed', () => {
    const e = venue();
    const base = {
      type: 'placeOrder',
      account: 'alice',
      symbol: 'BTCUSDT',
      side: 'buy',
      orderType: 'limit',
      size: '1',
      price: '20000',
    } as const;
    rejected(e, { ...base, symbol: 'DOGEUSDT' }, 'UNKNOWN_MARKET');
    rejected(e, { ...base, account: 'nobody' }, 'UNKNOWN_ACCOUNT');
    rejected(e, { ...base, side: 'long' as 'buy' }, 'INVALID_COMMAND');
    rejected(e, { ...base, orderType: 'stop' as 'limit' }, 'INVALID_COMMAND');
    rejected(e, { ...base, timeInForce: 'GTD' as 'GTC' }, 'INVALID_COMMAND');
    checkInvariants(e);
  });

  const LOT5: MarketConfig = { ...BTCUSDT, symbol: 'BTCUSDT-L5', lotSize: '0.005' };
  for (const [what, size, sym] of [
    ['zero', '0', 'BTCUSDT'],
    ['negative', '-1', 'BTCUSDT'],
    ['NaN', 'NaN', 'BTCUSDT'],
    ['a NaN number', Number.NaN, 'BTCUSDT'],
    ['more decimals than the lot (0.0001)', '0.0001', 'BTCUSDT'],
    ['not a multiple of a 0.005 lot (0.001)', '0.001', 'BTCUSDT-L5'],
    ['above the 1,000,000 largest order', '1000000.001', 'BTCUSDT'],
  ] as const) {
    test(`a size that is ${what} is INVALID_QUANTITY`, () => {
      const e = venue(LOT5);
      rejected(
        e,
        {
          type: 'placeOrder',
          account: 'alice',
          symbol: sym,
          side: 'buy',
          orderType: 'limit',
          size: size as string,
          price: '20000',
        },
        'INVALID_QUANTITY',
      );
      checkInvariants(e);
    });
  }

  for (const [what, price, sym] of [
    ['not on the 0.1 tick (20,000.05)', '20000.05', 'BTCUSDT'],
    ['not on BTCUSD’s 0.5 tick (20,000.3)', '20000.3', 'BTCUSD'],
    ['zero', '0', 'BTCUSDT'],
    ['negative', '-20000', 'BTCUSDT'],
    ['not a number', 'abc', 'BTCUSDT'],
  ] as const) {
    test(`a price that is ${what} is INVALID_PRICE`, () => {
      const e = venue(BTCUSD);
      rejected(
        e,
        {
          type: 'placeOrder',
          account: 'alice',
          symbol: sym,
          side: 'buy',
          orderType: 'limit',
          size: '1',
          price,
        },
        'INVALID_PRICE',
      );
      checkInvariants(e);
    });
  }
});
