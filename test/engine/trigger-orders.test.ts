/**
 * Stop-loss / take-profit trigger orders (issue 20), fired by the mark. BTCUSDT at 20,000; alice holds a position
 * against bob, carol makes the book the trigger orders fill against.
 *
 * A trigger order is placeOrder with `stopLossPrice` or `takeProfitPrice`: reduce-only, untriggered it rests in the
 * market's trigger index (not the book), reserves nothing and is one of the account's open orders. When a mark
 * reaches its price — after that mark's liquidation sweep — it becomes a live reduce-only order with the same id
 * (`orderTriggered`, then the usual trade / cancel events), or is canceled with a reason when it could not be placed
 * then (nothing to reduce: `reduceOnly`).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Order } from '../../src/engine/account.ts';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { restoreEngine, snapshotEngine } from '../../src/engine/snapshot.ts';
import { TriggerIndex } from '../../src/engine/trigger-index.ts';
import type { Command } from '../../src/engine/types.ts';
import { BTCUSDT, type Cmd, engineProblems, engineWithMarkets, ok, rejected } from './harness.ts';
import { cancels, deposit, fills, limit, type Ok, of } from './scenario-kit.ts';

const T = { timeout: 20_000 };

function mark(e: Engine, price: string): Ok {
  return ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price });
}

/** alice `side` 1 BTC at 20,000 (isolated, 10x) against bob; carol funded to make the book. */
function venue(side: 'long' | 'short' | null = 'long'): Engine {
  const e = engineWithMarkets(BTCUSDT);
  for (const a of ['alice', 'bob', 'carol']) deposit(e, a, '1000000');
  mark(e, '20000');
  if (side !== null) {
    limit(e, 'bob', 'BTCUSDT', side === 'long' ? 'sell' : 'buy', '1', '20000');
    limit(e, 'alice', 'BTCUSDT', side === 'long' ? 'buy' : 'sell', '1', '20000');
  }
  return e;
}

type Trigger = { stopLossPrice?: string; takeProfitPrice?: string };

function triggerCmd(
  side: 'buy' | 'sell',
  trig: Trigger,
  x: Partial<Extract<Cmd, { type: 'placeOrder' }>> = {},
): Cmd {
  return {
    type: 'placeOrder',
    account: 'alice',
    symbol: 'BTCUSDT',
    side,
    orderType: 'market',
    size: '1',
    ...trig,
    ...x,
  } as Cmd;
}

function place(
  e: Engine,
  side: 'buy' | 'sell',
  trig: Trigger,
  x: Partial<Extract<Cmd, { type: 'placeOrder' }>> = {},
) {
  return ok(e, triggerCmd(side, trig, x));
}

const lots = (e: Engine, account: string): [string | null, string] => {
  const p = e.accounts.get(account)!.positions.get('BTCUSDT');
  return [p?.side ?? null, p ? String(p.size) : '0'];
};

const healthy = (e: Engine) => assert.deepEqual(engineProblems(e), []);

describe('trigger orders: placing', () => {
  test(
    'alice long 1 BTC places a sell stop-loss at 19,500: accepted untriggered, reduce-only, reserving nothing, one of her open orders but in no book',
    T,
    () => {
      const e = venue();
      const r = place(e, 'sell', { stopLossPrice: '19500' });
      const [acc] = of(r, 'orderAccepted');
      assert.equal(acc!.triggerKind, 'stopLoss');
      assert.equal(acc!.triggerPrice, 1_950_000_000_000n);
      assert.equal(acc!.orderType, 'market');
      assert.equal(acc!.reduceOnly, true);
      assert.equal(acc!.timeInForce, 'IOC');
      const o = e.accounts.get('alice')!.orders.get(r.orderId!)!;
      assert.deepEqual(o.trigger, {
        kind: 'stopLoss',
        priceTicks: 195_000,
        orderType: 'market',
        triggered: false,
      });
      assert.equal(o.reserved, 0n);
      assert.equal(o.level, null);
      assert.equal(e.markets.get('BTCUSDT')!.book.orderCount(), 0);
      assert.equal(e.markets.get('BTCUSDT')!.triggers.size, 1);
      healthy(e);
    },
  );

  test(
    'a sell stop-loss at or above the mark, a sell take-profit at or below it, a buy stop-loss at or below it: WOULD_TRIGGER_IMMEDIATELY, nothing changes',
    T,
    () => {
      const e = venue();
      rejected(e, triggerCmd('sell', { stopLossPrice: '20000' }), 'WOULD_TRIGGER_IMMEDIATELY');
      rejected(e, triggerCmd('sell', { stopLossPrice: '20100' }), 'WOULD_TRIGGER_IMMEDIATELY');
      rejected(e, triggerCmd('sell', { takeProfitPrice: '20000' }), 'WOULD_TRIGGER_IMMEDIATELY');
      rejected(e, triggerCmd('buy', { stopLossPrice: '19900' }), 'WOULD_TRIGGER_IMMEDIATELY');
      rejected(e, triggerCmd('buy', { takeProfitPrice: '20000.1' }), 'WOULD_TRIGGER_IMMEDIATELY');
      assert.equal(e.accounts.get('alice')!.orders.size, 0);
      healthy(e);
    },
  );

  test(
    'refused, changing nothing: both prices, reduceOnly false, FOK or post-only, a price on a market one, an off-tick trigger, no mark yet',
    T,
    () => {
      const e = venue();
      rejected(
        e,
        triggerCmd('sell', { stopLossPrice: '19500', takeProfitPrice: '21000' }),
        'INVALID_COMMAND',
      );
      rejected(e, triggerCmd('sell', { stopLossPrice: '19500' }, { reduceOnly: false }), 'INVALID_COMMAND');
      rejected(e, triggerCmd('sell', { stopLossPrice: '19500' }, { timeInForce: 'FOK' }), 'INVALID_COMMAND');
      rejected(
        e,
        triggerCmd(
          'sell',
          { stopLossPrice: '19500' },
          { orderType: 'limit', price: '19400', timeInForce: 'PO' },
        ),
        'INVALID_COMMAND',
      );
      rejected(e, triggerCmd('sell', { stopLossPrice: '19500' }, { price: '19400' }), 'INVALID_COMMAND');
      rejected(e, triggerCmd('sell', { stopLossPrice: '19500.05' }), 'INVALID_PRICE');
      const fresh = engineWithMarkets(BTCUSDT);
      deposit(fresh, 'alice', '1000');
      rejected(fresh, triggerCmd('sell', { stopLossPrice: '19500' }), 'NO_REFERENCE_PRICE');
    },
  );

  test(
    'no position is needed to place one (as on venues); its clientOrderId is unique among the open orders; it cannot be amended before it triggers',
    T,
    () => {
      const e = venue(null);
      const r = place(e, 'sell', { stopLossPrice: '19500' }, { clientOrderId: 'sl-1' });
      rejected(
        e,
        triggerCmd('sell', { stopLossPrice: '19400' }, { clientOrderId: 'sl-1' }),
        'DUPLICATE_CLIENT_ORDER_ID',
      );
      rejected(
        e,
        { type: 'amendOrder', account: 'alice', symbol: 'BTCUSDT', orderId: r.orderId!, size: '0.5' },
        'TRIGGER_NOT_AMENDABLE',
      );
      assert.equal(e.accounts.get('alice')!.clientOrders.get('sl-1')!.id, r.orderId);
      healthy(e);
    },
  );
});

describe('trigger orders: firing at the mark', () => {
  test(
    'long 1 BTC, sell stop-loss at 19,500: mark 19,600 does nothing; mark 19,400 triggers it and the reduce-only market sell fills against carol’s bid at 19,450: flat',
    T,
    () => {
      const e = venue();
      const sl = place(e, 'sell', { stopLossPrice: '19500' }).orderId!;
      const bid = limit(e, 'carol', 'BTCUSDT', 'buy', '2', '19450').orderId!;
      const quiet = mark(e, '19600');
      assert.deepEqual(
        quiet.events.map((ev) => ev.type),
        ['markPrice'],
      );
      const r = mark(e, '19400');
      const [trig] = of(r, 'orderTriggered');
      assert.ok(trig);
      assert.equal(trig.orderId, sl);
      assert.equal(trig.account, 'alice');
      assert.equal(trig.triggerKind, 'stopLoss');
      assert.equal(trig.triggerPrice, 1_950_000_000_000n);
      assert.equal(trig.markPrice, 1_940_000_000_000n);
      assert.equal(trig.size, 1_000n); // 1 BTC (sizes at 3 dp)
      const [trade] = of(r, 'trade');
      assert.equal(trade!.takerOrderId, sl);
      assert.equal(trade!.makerOrderId, bid);
      assert.deepEqual(fills(r), [['carol', '19450', '1']]);
      const types = r.events.map((ev) => ev.type);
      assert.ok(types.indexOf('markPrice') < types.indexOf('orderTriggered'));
      assert.ok(types.indexOf('orderTriggered') < types.indexOf('trade'));
      assert.deepEqual(lots(e, 'alice'), [null, '0']);
      assert.equal(e.accounts.get('alice')!.orders.size, 0);
      assert.equal(e.markets.get('BTCUSDT')!.triggers.size, 0);
      healthy(e);
    },
  );

  test(
    'long 1 BTC, sell take-profit at 20,500: mark 20,400 nothing; mark 20,600 fills against a bid at 20,550',
    T,
    () => {
      const e = venue();
      const tp = place(e, 'sell', { takeProfitPrice: '20500' }).orderId!;
      limit(e, 'carol', 'BTCUSDT', 'buy', '1', '20550');
      assert.equal(of(mark(e, '20400'), 'orderTriggered').length, 0);
      const r = mark(e, '20600');
      assert.equal(of(r, 'orderTriggered')[0]!.orderId, tp);
      assert.deepEqual(fills(r), [['carol', '20550', '1']]);
      assert.deepEqual(lots(e, 'alice'), [null, '0']);
      healthy(e);
    },
  );

  test(
    'short 1 BTC, buy stop-loss at 20,500 and buy take-profit at 19,500: mark 20,600 fires the stop-loss against an ask at 20,650 (flat); mark 19,400 later fires the take-profit with nothing left to reduce: canceled (reduceOnly)',
    T,
    () => {
      const e = venue('short');
      const sl = place(e, 'buy', { stopLossPrice: '20500' }).orderId!;
      const tp = place(e, 'buy', { takeProfitPrice: '19500' }).orderId!;
      limit(e, 'carol', 'BTCUSDT', 'sell', '1', '20650');
      const up = mark(e, '20600');
      assert.deepEqual(
        of(up, 'orderTriggered').map((ev) => ev.orderId),
        [sl],
      );
      assert.deepEqual(fills(up), [['carol', '20650', '1']]);
      assert.deepEqual(lots(e, 'alice'), [null, '0']);
      const down = mark(e, '19400');
      assert.equal(of(down, 'orderTriggered').length, 0);
      assert.deepEqual(cancels(down), [[tp, '1', 'reduceOnly']]);
      assert.equal(e.accounts.get('alice')!.orders.size, 0);
      healthy(e);
    },
  );

  test(
    'a stop-loss larger than the position fires capped at the position (0.4 BTC of a 1 BTC order); a stop-limit with no bid at its limit rests in the book, triggered, and amends like any order',
    T,
    () => {
      const e = venue(null);
      limit(e, 'bob', 'BTCUSDT', 'sell', '0.4', '20000');
      limit(e, 'alice', 'BTCUSDT', 'buy', '0.4', '20000');
      const stop = place(e, 'sell', { stopLossPrice: '19500' }, { orderType: 'limit', price: '19450' })
        .orderId!;
      limit(e, 'carol', 'BTCUSDT', 'buy', '1', '19300');
      const r = mark(e, '19400');
      const [trig] = of(r, 'orderTriggered');
      assert.equal(trig!.size, 400n);
      assert.equal(trig!.price, 1_945_000_000_000n);
      assert.equal(of(r, 'trade').length, 0);
      const o = e.accounts.get('alice')!.orders.get(stop)!;
      assert.equal(o.trigger!.triggered, true);
      assert.notEqual(o.level, null);
      ok(e, { type: 'amendOrder', account: 'alice', symbol: 'BTCUSDT', orderId: stop, price: '19500' });
      assert.deepEqual(lots(e, 'alice'), ['long', '400']);
      limit(e, 'carol', 'BTCUSDT', 'buy', '0.4', '19500');
      assert.deepEqual(lots(e, 'alice'), [null, '0']);
      assert.equal(e.accounts.get('alice')!.orders.size, 0);
      healthy(e);
    },
  );

  test(
    'a sell stop-loss placed with no position fires with nothing to reduce: canceled with reason reduceOnly',
    T,
    () => {
      const e = venue(null);
      const sl = place(e, 'sell', { stopLossPrice: '19500' }).orderId!;
      limit(e, 'carol', 'BTCUSDT', 'buy', '1', '19450');
      const r = mark(e, '19400');
      assert.equal(of(r, 'orderTriggered').length, 0);
      assert.equal(of(r, 'trade').length, 0);
      assert.deepEqual(cancels(r), [[sl, '1', 'reduceOnly']]);
      assert.equal(e.accounts.get('alice')!.orders.size, 0);
      healthy(e);
    },
  );

  test(
    'long 1 BTC at 50x, sell stop-loss at 19,650 below its liquidation price: mark 19,600 crosses both — liquidation first, which cancels the stop (reason liquidation); it never triggers',
    T,
    () => {
      const e = engineWithMarkets(BTCUSDT);
      for (const a of ['alice', 'bob', 'carol']) deposit(e, a, '1000000');
      mark(e, '20000');
      ok(e, { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '50' });
      limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
      limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
      const sl = place(e, 'sell', { stopLossPrice: '19650' }).orderId!;
      limit(e, 'carol', 'BTCUSDT', 'buy', '1', '19550');
      const r = mark(e, '19600');
      const types = r.events.map((ev) => ev.type);
      assert.ok(types.includes('liquidationStarted'), types.join());
      assert.equal(of(r, 'orderTriggered').length, 0);
      const cancel = of(r, 'orderCanceled').find((c) => c.orderId === sl);
      assert.equal(cancel?.reason, 'liquidation');
      assert.ok(types.indexOf('liquidationStarted') < r.events.indexOf(cancel!));
      healthy(e);
    },
  );

  test(
    'canceled by id or by cancel-all, a stop-loss never fires; closeMarket keeps it (reduce-only); delist waits for it',
    T,
    () => {
      const e = venue();
      const a = place(e, 'sell', { stopLossPrice: '19500' }).orderId!;
      const b = place(e, 'sell', { stopLossPrice: '19400' }, { clientOrderId: 'b' }).orderId!;
      const c = place(e, 'sell', { takeProfitPrice: '21000' }).orderId!;
      assert.deepEqual(
        cancels(ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: a })),
        [[a, '1', 'user']],
      );
      ok(e, { type: 'closeMarket', symbol: 'BTCUSDT' });
      assert.deepEqual([...e.accounts.get('alice')!.orders.keys()], [b, c]);
      rejected(e, { type: 'delistMarket', symbol: 'BTCUSDT' }, 'MARKET_NOT_FLAT');
      assert.deepEqual(cancels(ok(e, { type: 'cancelAll', account: 'alice' })), [
        [b, '1', 'user'],
        [c, '1', 'user'],
      ]);
      assert.equal(e.accounts.get('alice')!.clientOrders.size, 0);
      assert.equal(of(mark(e, '19000'), 'orderTriggered').length, 0);
      healthy(e);
    },
  );
});

describe('trigger orders: state', () => {
  test(
    'untriggered stop-losses and take-profits resting: snapshot/restore and a replay of the journal give the same state hash, and the same events when the mark then crosses them',
    T,
    () => {
      const log: Command[] = [];
      const e = new Engine();
      let time = 1_800_000_000_000;
      const run = (c: Cmd): Ok => {
        const cmd = { ...c, time: ++time } as Command;
        log.push(cmd);
        const r = e.apply(cmd);
        assert.ok(r.ok, r.ok ? '' : r.message);
        return r;
      };
      run({ type: 'createMarket', market: BTCUSDT });
      for (const a of ['alice', 'bob', 'carol'])
        run({ type: 'deposit', account: a, asset: 'USDT', amount: '1000000' });
      run({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
      run({
        type: 'placeOrder',
        account: 'bob',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'limit',
        size: '2',
        price: '20000',
      });
      run({
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '2',
        price: '20000',
      });
      run(triggerCmd('sell', { stopLossPrice: '19500' }, { clientOrderId: 'sl' }));
      run(
        triggerCmd('sell', { takeProfitPrice: '21000' }, { orderType: 'limit', price: '20900', size: '0.5' }),
      );
      run(triggerCmd('buy', { stopLossPrice: '20100' }, { account: 'bob', size: '0.7' }));
      run({
        type: 'placeOrder',
        account: 'carol',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '3',
        price: '19450',
      });
      assert.equal(e.markets.get('BTCUSDT')!.triggers.size, 3);

      const restored = restoreEngine(snapshotEngine(e));
      assert.equal(stateHash(restored), stateHash(e));
      assert.equal(restored.markets.get('BTCUSDT')!.triggers.size, 3);
      const fresh = new Engine(); // the journal replayed
      for (const c of log) assert.ok(fresh.apply(c).ok);
      assert.equal(stateHash(fresh), stateHash(e));

      const next = { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19400', time: ++time } as Command;
      const want = JSON.stringify(e.apply(next), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
      for (const other of [restored, fresh]) {
        const got = JSON.stringify(other.apply(next), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
        assert.equal(got, want);
        assert.equal(stateHash(other), stateHash(e));
      }
      assert.ok(want.includes('orderTriggered'));
      healthy(e);
      healthy(restored);
    },
  );
});

describe('trigger index: a mark update visits only the trigger orders it crossed', () => {
  const TICK = 10_000_000n; // 0.1 at 8 dp
  const order = (id: number, side: 'buy' | 'sell', kind: 'stopLoss' | 'takeProfit', ticks: number) =>
    ({
      id,
      side,
      trigger: { kind, priceTicks: ticks, orderType: 'market', triggered: false },
    }) as unknown as Order;

  test(
    '10,000 sell stop-losses from 10,000 to 19,999 and 10,000 sell take-profits above 20,000: a mark of 19,997.5 takes the 2 it reached, highest first',
    T,
    () => {
      const idx = new TriggerIndex(TICK);
      let id = 1;
      for (let p = 10_000; p < 20_000; p++) idx.add(order(id++, 'sell', 'stopLoss', p * 10));
      for (let p = 20_001; p < 30_001; p++) idx.add(order(id++, 'sell', 'takeProfit', p * 10));
      assert.equal(idx.size, 20_000);
      // mark 19,997.5: stop-losses at 19,999, 19,998 (≥ mark) fire; 19,997 does not. No take-profit (all above).
      const taken = idx.takeCrossed(1_999_750_000_000n);
      assert.deepEqual(
        taken.map((o) => o.trigger!.priceTicks),
        [199_990, 199_980],
      );
      assert.equal(idx.size, 19_998);
      // Again at the same mark: nothing left to visit.
      assert.deepEqual(idx.takeCrossed(1_999_750_000_000n), []);
      // A rise to 20,003: take-profits at 20,001 .. 20,003, lowest first.
      assert.deepEqual(
        idx.takeCrossed(2_000_300_000_000n).map((o) => o.trigger!.priceTicks),
        [200_010, 200_020, 200_030],
      );
      assert.equal(idx.size, 19_995);
    },
  );

  test(
    'ties at one price fire oldest first; buy stop-losses wait for a rise, buy take-profits for a fall',
    T,
    () => {
      const idx = new TriggerIndex(TICK);
      idx.add(order(7, 'buy', 'stopLoss', 200_100));
      idx.add(order(3, 'buy', 'stopLoss', 200_100));
      idx.add(order(5, 'buy', 'takeProfit', 199_000));
      idx.add(order(9, 'sell', 'takeProfit', 200_100));
      assert.deepEqual(idx.takeCrossed(2_000_000_000_000n), []);
      assert.deepEqual(
        idx.takeCrossed(2_001_000_000_000n).map((o) => o.id),
        [3, 7, 9],
      );
      assert.deepEqual(
        idx.takeCrossed(1_990_000_000_000n).map((o) => o.id),
        [5],
      );
      assert.equal(idx.size, 0);
    },
  );

  test(
    'in the engine: 150 stop-losses of three accounts resting, a mark update that reaches three (one each) looks at exactly those three',
    T,
    () => {
      const e = venue(null);
      for (const a of ['alice', 'bob', 'carol'])
        for (let i = 0; i < 50; i++)
          place(e, 'sell', { stopLossPrice: String(15_000 + i * 10) }, { account: a });
      const m = e.markets.get('BTCUSDT')!;
      assert.equal(m.triggers.size, 150);
      // 15,490 is the highest; mark 15,485 reaches alice's, bob's and carol's 15,490: three cancels (no positions).
      const r = mark(e, '15485');
      assert.equal(of(r, 'orderCanceled').length, 3);
      assert.equal(m.triggers.size, 147);
      healthy(e);
    },
  );
});
