/**
 * The ccxt exchange class (clients/ccxt) against a real `ringfence serve` (a child process on a SQLite journal):
 * a script written the way a ccxt user writes one — load markets, isolated mode and leverage, a limit order, fetch
 * it, a fill, the position with its liquidation price, add margin and see the liquidation price move, cancel, the
 * balance — and every unified structure checked against ccxt's documented shapes (ccxt-structures.ts). Errors come
 * back as ccxt's error classes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DuplicateOrderId, InsufficientFunds, type Order, OrderNotFound, type Position } from 'ccxt';
import { ringfence } from '../../clients/ccxt/src/ringfence.ts';
import { call, type Serve, startServe, stopServe, writeConfig } from '../service/ha-kit.ts';
import { BTCUSDT, KEYS, tempDir } from '../service/helpers.ts';
import {
  checkBalance,
  checkMarket,
  checkOHLCV,
  checkOrder,
  checkOrderBook,
  checkPosition,
  checkTicker,
  checkTrade,
} from './ccxt-structures.ts';

const SYMBOL = 'BTC/USDT:USDT';

describe('ccxt: the ringfence exchange class against ringfence serve', { timeout: 120_000 }, () => {
  const td = tempDir();
  let server: Serve;
  const exchange = (key: { key: string; secret: string }) =>
    new ringfence({
      apiKey: key.key,
      secret: key.secret,
      urls: { api: { rest: server.url } },
      timeout: 10_000,
    });

  before(async () => {
    const config = writeConfig(td.dir, { keys: [KEYS.admin, KEYS.alice, KEYS.bob], journal: {} });
    server = await startServe('serve', config, `${td.dir}/journal.db`, 'leader');
    for (const [path, body] of [
      ['/api/v1/admin/markets', BTCUSDT],
      ['/api/v1/admin/mark-price', { symbol: 'BTCUSDT', price: '60000' }],
      ['/api/v1/admin/deposit', { account: 'alice', asset: 'USDT', amount: '100000' }],
      ['/api/v1/admin/deposit', { account: 'bob', asset: 'USDT', amount: '100000' }],
    ] as const) {
      const r = await call(server.url, 'POST', path, body);
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }
  });
  after(async () => {
    if (server) await stopServe(server, 'SIGTERM');
    td.cleanup();
  });

  test('a ccxt user’s script: markets, isolated 10x, a limit order filled, the position and its liquidation price, add margin, cancel, balance', {
    timeout: 60_000,
  }, async () => {
    const alice = exchange(KEYS.alice);
    const bob = exchange(KEYS.bob);

    const markets = await alice.loadMarkets();
    const market = markets[SYMBOL];
    assert.ok(market, `${SYMBOL} among ${Object.keys(markets).join(', ')}`);
    for (const m of Object.values(markets)) checkMarket(m);
    assert.equal(market.id, 'BTCUSDT');
    assert.equal(alice.marketId(SYMBOL), 'BTCUSDT');

    await alice.setMarginMode('isolated', SYMBOL);
    await alice.setLeverage(10, SYMBOL);

    // Alice bids 0.1 at 59,990; bob sells 0.1 at market into it.
    const placed = await alice.createOrder(SYMBOL, 'limit', 'buy', 0.1, 59_990, { clientOrderId: 'ccxt-a1' });
    checkOrder(placed, SYMBOL);
    assert.equal(placed.status, 'open');
    assert.equal(typeof placed.timestamp, 'number');
    assert.equal(placed.clientOrderId, 'ccxt-a1');
    assert.equal(placed.price, 59_990);
    const fetched = await alice.fetchOrder(placed.id!, SYMBOL);
    checkOrder(fetched, SYMBOL);
    assert.equal(fetched.id, placed.id);
    assert.deepEqual(
      (await alice.fetchOpenOrders(SYMBOL)).map((o) => o.id),
      [placed.id],
    );
    const byClient = await alice.fetchOrder('', SYMBOL, { clientOrderId: 'ccxt-a1' });
    assert.equal(byClient.id, placed.id);

    const book = await alice.fetchOrderBook(SYMBOL);
    checkOrderBook(book, SYMBOL);
    assert.deepEqual(book.bids[0], [59_990, 0.1]);

    const taker = await bob.createOrder(SYMBOL, 'market', 'sell', 0.1);
    checkOrder(taker, SYMBOL);
    assert.equal(taker.status, 'closed');
    assert.equal(taker.filled, 0.1);
    assert.equal(taker.average, 59_990);
    assert.equal(taker.trades.length, 1);
    checkTrade(taker.trades[0]!, SYMBOL, market.contractSize!);

    const ticker = await alice.fetchTicker(SYMBOL);
    checkTicker(ticker, SYMBOL);
    assert.equal(ticker.last, 59_990);
    assert.equal(ticker.markPrice, 60_000);
    const trades = await alice.fetchTrades(SYMBOL);
    assert.equal(trades.length, 1);
    for (const t of trades) checkTrade(t, SYMBOL, market.contractSize!);
    const mine = await alice.fetchMyTrades(SYMBOL);
    assert.equal(mine.length, 1);
    checkTrade(mine[0]!, SYMBOL, market.contractSize!);
    assert.equal(mine[0]!.order, placed.id);
    assert.equal(mine[0]!.takerOrMaker, 'maker');

    // The position, isolated at 10x, with its liquidation price below the entry.
    const [position] = await alice.fetchPositions([SYMBOL]);
    assert.ok(position);
    checkPosition(position, SYMBOL);
    assert.equal(position.side, 'long');
    assert.equal(position.contracts, 0.1);
    assert.equal(position.entryPrice, 59_990);
    assert.equal(position.marginMode, 'isolated');
    assert.equal(position.leverage, 10);
    const liq = position.liquidationPrice!;
    assert.ok(liq > 50_000 && liq < 59_990, `liquidation price ${liq}`);
    assert.equal(position.collateral, 599.9, 'initial margin at 10x: 5,999 / 10');

    // Add 200 USDT of margin: more collateral, the liquidation price moves away from the mark.
    const added = await alice.addMargin(SYMBOL, 200);
    assert.equal(added.type, 'add');
    assert.equal(added.amount, 200);
    assert.equal(added.code, 'USDT');
    assert.equal(added.status, 'ok');
    assert.equal(added.total, 799.9);
    const after: Position = await alice.fetchPosition(SYMBOL);
    assert.equal(after.collateral, 799.9);
    assert.ok(after.liquidationPrice! < liq - 1_000, `liquidation ${liq} → ${after.liquidationPrice}`);
    const reduced = await alice.reduceMargin(SYMBOL, 50);
    assert.equal(reduced.total, 749.9);

    // A resting order amended, then canceled; cancelAll on an empty book.
    const rest = await alice.createOrder(SYMBOL, 'limit', 'buy', 0.05, 55_000, { postOnly: true });
    assert.equal(rest.postOnly, true);
    const edited = await alice.editOrder(rest.id!, SYMBOL, 'limit', 'buy', 0.04, 55_500);
    checkOrder(edited, SYMBOL);
    assert.equal(edited.price, 55_500);
    // The service's amend sets what is left of the order (docs/clients.md): nothing had filled, so 0.04 remains.
    assert.equal(edited.remaining, 0.04);
    const canceled = await alice.cancelOrder(rest.id!, SYMBOL);
    assert.equal(canceled.id, rest.id);
    assert.equal(canceled.status, 'canceled');
    assert.deepEqual(await alice.fetchOpenOrders(SYMBOL), []);
    assert.deepEqual(await alice.cancelAllOrders(SYMBOL), []);

    const balance = await alice.fetchBalance();
    checkBalance(balance, 'USDT');
    assert.ok(balance.USDT!.used! >= 749.9, 'the isolated collateral is used, not free');
    assert.ok(
      Math.abs(balance.USDT!.total! - (100_000 - 0.1 * 59_990 * 0.0002)) < 1,
      `total ${balance.USDT!.total}`,
    );

    // Errors are ccxt's classes.
    await assert.rejects(alice.fetchOrder('999999', SYMBOL), OrderNotFound);
    await assert.rejects(alice.createOrder(SYMBOL, 'limit', 'buy', 100, 59_000), InsufficientFunds);
    await alice.createOrder(SYMBOL, 'limit', 'buy', 0.01, 50_000, { clientOrderId: 'dup' });
    await assert.rejects(
      alice.createOrder(SYMBOL, 'limit', 'buy', 0.01, 50_000, { clientOrderId: 'dup' }),
      DuplicateOrderId,
    );
  });

  test('watch*: the order book (snapshot, then deltas), trades, this account’s fills and positions over the WebSocket', {
    timeout: 30_000,
  }, async () => {
    const alice = exchange(KEYS.alice);
    const bob = exchange(KEYS.bob);
    try {
      await alice.loadMarkets();
      const first = await alice.watchOrderBook(SYMBOL);
      checkOrderBook(first, SYMBOL);
      const nonce = first.nonce!;
      // The next book, trade, fill and position updates, awaited together; then the order that causes them.
      const nextBook = alice.watchOrderBook(SYMBOL);
      const nextTrades = alice.watchTrades(SYMBOL);
      const nextFills = alice.watchMyTrades(SYMBOL);
      const nextPositions = alice.watchPositions([SYMBOL]);
      await new Promise((r) => setTimeout(r, 300)); // the subscriptions land before the order
      await alice.createOrder(SYMBOL, 'limit', 'sell', 0.02, 60_500);
      const book = await nextBook;
      assert.ok(book.nonce! > nonce, 'a later seq');
      assert.deepEqual(
        book.asks.find((l) => l[0] === 60_500),
        [60_500, 0.02],
      );
      await bob.createOrder(SYMBOL, 'market', 'buy', 0.02);
      const trades = await nextTrades;
      assert.equal(trades.at(-1)!.price, 60_500);
      checkTrade(trades.at(-1)!, SYMBOL, alice.market(SYMBOL).contractSize!);
      const fills = await nextFills;
      assert.equal(fills.at(-1)!.side, 'sell');
      assert.equal(fills.at(-1)!.takerOrMaker, 'maker');
      const positions = await nextPositions;
      const p = positions.find((x) => x.symbol === SYMBOL)!;
      checkPosition(p, SYMBOL);
      assert.equal(p.contracts, 0.08, 'long 0.1, 0.02 sold');
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  test('watchOrders: an order accepted, amended, partly filled and canceled, folded from the orders stream', {
    timeout: 30_000,
  }, async () => {
    const alice = exchange(KEYS.alice);
    const bob = exchange(KEYS.bob);
    try {
      await alice.loadMarkets();
      /** `act`, then the order as the stream's next updates show it once `ok` holds (watched from before `act`). */
      const after = async (id: () => string, act: () => Promise<unknown>, ok: (o: Order) => boolean) => {
        let next = alice.watchOrders(SYMBOL);
        // watch* resolves on the next update after it is waiting: let it start waiting before the update is made.
        await new Promise((r) => setTimeout(r, 20));
        await act();
        for (;;) {
          const o = (await next).find((x) => x.id === id());
          if (o && ok(o)) return o;
          next = alice.watchOrders(SYMBOL);
        }
      };
      void alice.watchOrders(SYMBOL); // subscribed (and logged in) before the first order
      await new Promise((r) => setTimeout(r, 300));
      let id = '';
      const open = await after(
        () => id,
        async () => {
          id = (await alice.createOrder(SYMBOL, 'limit', 'sell', 0.03, 61_000)).id!;
        },
        (o) => o.status === 'open',
      );
      checkOrder(open, SYMBOL);
      assert.equal(open.amount, 0.03);
      const amended = await after(
        () => id,
        () => alice.editOrder(id, SYMBOL, 'limit', 'sell', 0.02, 60_900),
        (o) => o.price === 60_900,
      );
      assert.equal(amended.remaining, 0.02);
      assert.equal(amended.amount, 0.02, 'nothing filled before: the amend made it an order of 0.02');
      const partly = await after(
        () => id,
        () => bob.createOrder(SYMBOL, 'limit', 'buy', 0.01, 60_900, { timeInForce: 'IOC' }),
        (o) => o.filled === 0.01,
      );
      assert.equal(partly.remaining, 0.01);
      assert.equal(partly.average, 60_900);
      assert.equal(partly.status, 'open');
      const done = await after(
        () => id,
        () => alice.cancelOrder(id, SYMBOL),
        (o) => o.status === 'canceled',
      );
      checkOrder(done, SYMBOL);
      assert.equal(done.filled, 0.01);
      assert.equal(done.remaining, 0.01);
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  test('market data: leverage tiers, funding rate and history, OHLCV of trades and of the mark', {
    timeout: 30_000,
  }, async () => {
    const ex = exchange(KEYS.alice);
    await ex.loadMarkets();
    const tiers = await ex.fetchLeverageTiers([SYMBOL]);
    const t = tiers[SYMBOL]!;
    assert.ok(t.length >= 2, 'tiered');
    for (const [i, tier] of t.entries()) {
      assert.equal(tier.tier, i + 1);
      assert.equal(tier.currency, 'USDT');
      for (const k of ['minNotional', 'maintenanceMarginRate', 'maxLeverage'] as const)
        assert.equal(typeof tier[k], 'number', k);
      if (i > 0) assert.equal(tier.minNotional, t[i - 1]!.maxNotional, 'brackets meet');
    }
    const fr = await ex.fetchFundingRate(SYMBOL);
    assert.equal(fr.symbol, SYMBOL);
    assert.equal(typeof fr.markPrice, 'number');
    assert.ok(fr.fundingTimestamp === undefined || typeof fr.fundingTimestamp === 'number');
    assert.ok(Array.isArray(await ex.fetchFundingRateHistory(SYMBOL)));
    assert.ok(Array.isArray(await ex.fetchFundingHistory(SYMBOL)));
    const trades = await ex.fetchOHLCV(SYMBOL, '1m');
    assert.ok(trades.length >= 1, 'a candle from the trade');
    checkOHLCV(trades);
    const marks = await ex.fetchMarkOHLCV(SYMBOL, '1m');
    checkOHLCV(marks);
    assert.ok(marks.length >= 1);
    assert.equal(marks.at(-1)![4], 60_000, 'the mark candle closes at the mark');
  });
});
