/**
 * Issue 14, money safety in liquidation: D5 (cross ADL with an empty fund), D6 (cross triggers and pending funding),
 * C6 (the partial-liquidation fee and the remainder). Each reproduction runs on a fresh engine with the default
 * conventions (ringfence's: maintenance at the worse of entry and mark with the taker fee to close in it,
 * bankruptcy leaving the fee to close) and the harness's BTCUSDT / ETHUSDT (brackets 0.4 % / 0.5 % / 1 % …,
 * taker 0.05 %), liquidation fee 0.5 %. Amounts are USDT at 8 decimals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine } from '../../src/engine/engine.ts';
import type { Command, MarketConfig } from '../../src/engine/types.ts';
import {
  BTCUSDT,
  type Cmd,
  checkInvariants,
  ETHUSDT,
  engineProblems,
  engineWithMarkets,
  ok,
  rejected,
} from './harness.ts';
import { amt, avail, bal, deposit, limit, type Ok, of, position } from './scenario-kit.ts';

const TIMEOUT = { timeout: 30_000 };

function sound(e: Engine): void {
  checkInvariants(e);
  assert.deepEqual(engineProblems(e), []);
}

const mark = (e: Engine, symbol: string, price: string) => ok(e, { type: 'setMarkPrice', symbol, price });

// ---------------------------------------------------------------------------------------------------------------
describe('D5: a cross account pays with its own profits before the fund or ADL counterparties do', () => {
  /**
   * tr deposits 800 (789 after taker fees): cross long 1 BTC at 20,000 (50x) and short 2 ETH at 1,000 (10x), both
   * against mk (1x cross). ETH → 800: +400 unrealized. BTC → 18,000: the cross bankruptcy price of BTC, counting the
   * ETH profit, is 18,820.5 — a loss of 1,179.5 against 789 of cash.
   */
  function crossTrader(fund: string): Engine {
    const e = engineWithMarkets(BTCUSDT, ETHUSDT);
    if (fund !== '0') {
      deposit(e, 'funder', fund);
      ok(e, { type: 'fundInsurance', asset: 'USDT', amount: fund });
    }
    mark(e, 'BTCUSDT', '20000');
    mark(e, 'ETHUSDT', '1000');
    deposit(e, 'mk', '10000000');
    deposit(e, 'tr', '800');
    for (const s of ['BTCUSDT', 'ETHUSDT']) {
      ok(e, { type: 'setMarginMode', account: 'tr', symbol: s, mode: 'cross' });
      ok(e, { type: 'setMarginMode', account: 'mk', symbol: s, mode: 'cross' });
      ok(e, { type: 'setLeverage', account: 'mk', symbol: s, leverage: '1' });
    }
    ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50' });
    ok(e, { type: 'setLeverage', account: 'tr', symbol: 'ETHUSDT', leverage: '10' });
    limit(e, 'mk', 'BTCUSDT', 'sell', '1', '20000');
    limit(e, 'tr', 'BTCUSDT', 'buy', '1', '20000', { timeInForce: 'IOC' });
    limit(e, 'mk', 'ETHUSDT', 'buy', '2', '1000');
    limit(e, 'tr', 'ETHUSDT', 'sell', '2', '1000', { timeInForce: 'IOC' });
    assert.equal(bal(e, 'tr:main:USDT'), amt('789'));
    assert.deepEqual(of(mark(e, 'ETHUSDT', '800'), 'liquidationStarted'), []);
    sound(e);
    return e;
  }

  test(
    'empty fund: BTC 20,000 → 18,000 — ETH realizes 390.5 of its +400 at the mark (entry 1,000 → 804.75), ADL at 18,820.5 draws nothing, the fund ends at 0; after depositing 200 and closing ETH the trader can withdraw 208.7 (not 599.2)',
    TIMEOUT,
    () => {
      const e = crossTrader('0');
      const r = mark(e, 'BTCUSDT', '18000');
      assert.deepEqual(
        of(r, 'adl').map((a) => [a.account, a.price]),
        [['mk', amt('18820.5')]],
      );
      assert.deepEqual(
        of(r, 'liquidation').map((l) => [l.stage, l.price, l.fee]),
        [['adl', amt('18820.5'), 0n]],
      );
      assert.deepEqual(of(r, 'insuranceDraw'), []);
      assert.equal(e.insuranceFund('USDT'), 0n);
      const eth = position(e, 'tr', 'ETHUSDT')!;
      assert.deepEqual(
        [eth.side, eth.contracts, eth.entryPrice, eth.realizedPnl, eth.unrealizedPnl],
        ['short', '2', '804.75', '390.5', '9.5'],
      );
      assert.equal(bal(e, 'tr:main:USDT'), 0n);
      sound(e);
      // What is left of the 1,000 put in: 200 + the 9.5 of ETH profit not needed − 0.8 taker fee to close.
      deposit(e, 'tr', '200');
      limit(e, 'mk', 'ETHUSDT', 'sell', '2', '800');
      limit(e, 'tr', 'ETHUSDT', 'buy', '2', '800', { timeInForce: 'IOC', reduceOnly: true });
      assert.equal(position(e, 'tr', 'ETHUSDT'), undefined);
      assert.equal(avail(e, 'tr'), amt('208.7'));
      rejected(
        e,
        { type: 'withdraw', account: 'tr', asset: 'USDT', amount: '208.70000001' },
        'INSUFFICIENT_BALANCE',
      );
      ok(e, { type: 'withdraw', account: 'tr', asset: 'USDT', amount: '208.7' });
      assert.equal(e.insuranceFund('USDT'), 0n);
      sound(e);
    },
  );

  test(
    'fund 10,000 and no bid: the backstop takes BTC over at 18,820.5 and the ETH profit, not the fund, pays the 390.5 beyond the cash (no insuranceDraw)',
    TIMEOUT,
    () => {
      const e = crossTrader('10000');
      const r = mark(e, 'BTCUSDT', '18000');
      assert.deepEqual(
        of(r, 'liquidation').map((l) => [l.stage, l.price]),
        [['backstop', amt('18820.5')]],
      );
      assert.deepEqual(of(r, 'insuranceDraw'), []);
      assert.equal(position(e, 'tr', 'ETHUSDT')!.realizedPnl, '390.5');
      // The fund holds BTC long 1 at 18,820.5 (worth 18,000 at the mark): its loss is the takeover's, not a draw.
      assert.equal(e.insuranceFund('USDT'), amt('10000'));
      sound(e);
    },
  );

  test(
    'the ADL counterparty too: q (cross, 285.75 cash) short 1 BTC at 18,500 and long 10 ETH at 1,000 (ETH → 1,200); an isolated long opened at 19,800 (20x) gaps to 17,000 with an empty fund; q closes at its bankruptcy price 18,819.5, a loss of 319.5: ETH realizes the 33.75 the cash lacks, no draw',
    TIMEOUT,
    () => {
      const e = engineWithMarkets(BTCUSDT, ETHUSDT);
      mark(e, 'BTCUSDT', '18500');
      mark(e, 'ETHUSDT', '1000');
      deposit(e, 'mk', '10000000');
      deposit(e, 'q', '300');
      for (const s of ['BTCUSDT', 'ETHUSDT']) {
        ok(e, { type: 'setMarginMode', account: 'q', symbol: s, mode: 'cross' });
        ok(e, { type: 'setMarginMode', account: 'mk', symbol: s, mode: 'cross' });
        ok(e, { type: 'setLeverage', account: 'mk', symbol: s, leverage: '1' });
      }
      ok(e, { type: 'setLeverage', account: 'q', symbol: 'BTCUSDT', leverage: '125' });
      ok(e, { type: 'setLeverage', account: 'q', symbol: 'ETHUSDT', leverage: '100' });
      limit(e, 'mk', 'BTCUSDT', 'buy', '1', '18500');
      limit(e, 'q', 'BTCUSDT', 'sell', '1', '18500', { timeInForce: 'IOC' });
      limit(e, 'mk', 'ETHUSDT', 'sell', '10', '1000');
      limit(e, 'q', 'ETHUSDT', 'buy', '10', '1000', { timeInForce: 'IOC' });
      assert.equal(bal(e, 'q:main:USDT'), amt('285.75'));
      mark(e, 'ETHUSDT', '1200');
      assert.deepEqual(of(mark(e, 'BTCUSDT', '19800'), 'liquidationStarted'), []);
      deposit(e, 'L', '2000');
      ok(e, { type: 'setLeverage', account: 'L', symbol: 'BTCUSDT', leverage: '20' });
      limit(e, 'mk', 'BTCUSDT', 'sell', '1', '19800');
      limit(e, 'L', 'BTCUSDT', 'buy', '1', '19800', { timeInForce: 'IOC' });
      sound(e);
      const r = mark(e, 'BTCUSDT', '17000');
      assert.deepEqual(
        of(r, 'adl').map((a) => [a.account, a.price]),
        [['q', amt('18819.5')]],
      );
      assert.deepEqual(of(r, 'insuranceDraw'), []);
      const eth = position(e, 'q', 'ETHUSDT')!;
      assert.deepEqual([eth.entryPrice, eth.realizedPnl], ['1003.375', '33.75']);
      assert.equal(bal(e, 'q:main:USDT'), 0n);
      assert.ok(e.insuranceFund('USDT') >= 0n);
      sound(e);
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------
describe('D6: cross triggers and the displayed cross liquidation price count pending funding once', () => {
  const HOUR = 3_600_000;
  const T0 = 1_699_999_200_000; // a whole hour: the market funds first at T0 + 1 h
  /** 2 % per 8 h paid by shorts (interest −2 %, clamp 2 %, no cap): 0.25 % an hour, 7.5 USDT per ETH at 3,000. */
  const FUNDED: MarketConfig = {
    ...ETHUSDT,
    funding: {
      intervalMs: HOUR,
      interestRate: '-0.02',
      clamp: '0.02',
      cap: { kind: 'none' },
      impactMargin: '200',
    },
  };

  test(
    'cross short 1.5 ETH at 3,000, 10x, 500 deposited; 8 hourly fundings leave 90 pending; a mark of 3,230 re-files the trigger; the account is below maintenance from 3,257.18 (equity 21.98 < 21.985965) and is liquidated there, not at 3,316.9; positionsOf shows it (3,257.17–3,257.18, not 3,316.9)',
    TIMEOUT,
    () => {
      const e = new Engine();
      let now = T0;
      const run = (cmd: Cmd): Ok => {
        const r = e.apply({ ...cmd, time: now } as Command);
        if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
        sound(e);
        return r;
      };
      run({ type: 'createMarket', market: FUNDED });
      run({ type: 'setMarkPrice', symbol: 'ETHUSDT', price: '3000' });
      run({ type: 'deposit', account: 'mk', asset: 'USDT', amount: '1000000' });
      run({ type: 'deposit', account: 'tr', asset: 'USDT', amount: '500' });
      run({ type: 'setMarginMode', account: 'tr', symbol: 'ETHUSDT', mode: 'cross' });
      run({ type: 'setLeverage', account: 'tr', symbol: 'ETHUSDT', leverage: '10' });
      run({ type: 'setLeverage', account: 'mk', symbol: 'ETHUSDT', leverage: '1' });
      const order = (account: string, side: 'buy' | 'sell', tif: 'GTC' | 'IOC') =>
        run({
          type: 'placeOrder',
          account,
          symbol: 'ETHUSDT',
          side,
          orderType: 'limit',
          size: '1.5',
          price: '3000',
          timeInForce: tif,
        });
      order('mk', 'buy', 'GTC');
      order('tr', 'sell', 'IOC');
      for (let h = 1; h <= 8; h++) {
        now = T0 + h * HOUR;
        run({ type: 'tick' });
      }
      const view = () => position(e, 'tr', 'ETHUSDT')!;
      assert.equal(view().pendingFunding, '90');
      assert.equal(bal(e, 'tr:main:USDT'), amt('497.75'));
      // Equity at P = 497.75 − 1.5 × (P − 3,000) − 90; maintenance = 1.5 × P × (0.4 % + 0.05 % fee to close).
      // The displayed price is the first failing mark or one tick before it (conservative rounding).
      const shown = (): number => Number(view().liquidationPrice);
      assert.ok(shown() >= 3257.17 && shown() <= 3257.18, `shown ${view().liquidationPrice}`);
      const step = (price: string) => {
        now += 1;
        return run({ type: 'setMarkPrice', symbol: 'ETHUSDT', price });
      };
      for (const price of ['3230', '3257.17']) {
        assert.deepEqual(of(step(price), 'liquidationStarted'), [], `no liquidation at ${price}`);
        assert.ok(shown() >= 3257.17 && shown() <= 3257.18, `shown ${view().liquidationPrice} at ${price}`);
      }
      assert.deepEqual(of(step('3257.18'), 'liquidationStarted'), [
        {
          type: 'liquidationStarted',
          account: 'tr',
          symbol: 'ETHUSDT',
          mode: 'cross',
          mark: amt('3257.18'),
          equity: amt('21.98'),
          maintenance: amt('21.985965'),
        },
      ]);
    },
  );

  test(
    'the displayed cross price counts the other cross positions’ funding and maintenance as the trigger does: long 1 BTC (50x) beside the funded short, both cross',
    TIMEOUT,
    () => {
      const e = new Engine();
      let now = T0;
      const run = (cmd: Cmd): Ok => {
        const r = e.apply({ ...cmd, time: now } as Command);
        if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
        return r;
      };
      run({ type: 'createMarket', market: FUNDED });
      run({ type: 'createMarket', market: BTCUSDT });
      run({ type: 'setMarkPrice', symbol: 'ETHUSDT', price: '3000' });
      run({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
      run({ type: 'deposit', account: 'mk', asset: 'USDT', amount: '1000000' });
      run({ type: 'deposit', account: 'tr', asset: 'USDT', amount: '1000' });
      for (const symbol of ['ETHUSDT', 'BTCUSDT']) {
        run({ type: 'setMarginMode', account: 'tr', symbol, mode: 'cross' });
        run({ type: 'setLeverage', account: 'mk', symbol, leverage: '1' });
      }
      run({ type: 'setLeverage', account: 'tr', symbol: 'ETHUSDT', leverage: '10' });
      run({ type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50' });
      const pair = (symbol: string, side: 'buy' | 'sell', size: string, price: string) => {
        const base = { type: 'placeOrder', symbol, orderType: 'limit', size, price } as const;
        run({ ...base, account: 'mk', side: side === 'buy' ? 'sell' : 'buy' });
        run({ ...base, account: 'tr', side, timeInForce: 'IOC' });
      };
      pair('ETHUSDT', 'sell', '1.5', '3000');
      pair('BTCUSDT', 'buy', '1', '20000');
      for (let h = 1; h <= 8; h++) {
        now = T0 + h * HOUR;
        run({ type: 'tick' });
      }
      assert.equal(position(e, 'tr', 'ETHUSDT')!.pendingFunding, '90');
      // Walk BTC down a tick at a time from the displayed price's safe side: the first mark that liquidates is the
      // displayed one or one tick past it.
      const shown = position(e, 'tr', 'BTCUSDT')!.liquidationPrice!;
      const start = Math.round(Number(shown) * 10) + 3;
      let first: number | null = null;
      for (let ticks = start; ticks > start - 10; ticks--) {
        now += 1;
        const r = run({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: (ticks / 10).toFixed(1) });
        if (of(r, 'liquidationStarted').length > 0) {
          first = ticks;
          break;
        }
      }
      assert.ok(first !== null, `not liquidated near the shown ${shown}`);
      const shownTicks = Math.round(Number(shown) * 10);
      assert.ok(
        first === shownTicks || first === shownTicks - 1,
        `shown ${shown}, liquidated at ${first / 10}`,
      );
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------
describe('C6: the partial-liquidation fee never bankrupts the remainder, and the fund never pays its own fee back', () => {
  /** dan: long 2 BTC at 60,000 with 50x (bucket 2,400; bankrupt at 58,829.5); mm bids 5 at 58,950; fund 100,000. */
  function dan(partial: 'restore' | 'full'): Engine {
    const e = engineWithMarkets({ ...BTCUSDT, liquidation: { partial } });
    deposit(e, 'funder', '100000');
    ok(e, { type: 'fundInsurance', asset: 'USDT', amount: '100000' });
    deposit(e, 'mm', '10000000');
    mark(e, 'BTCUSDT', '60000');
    deposit(e, 'dan', '20000');
    ok(e, { type: 'setLeverage', account: 'dan', symbol: 'BTCUSDT', leverage: '50' });
    limit(e, 'mm', 'BTCUSDT', 'sell', '2', '60000');
    limit(e, 'dan', 'BTCUSDT', 'buy', '2', '60000', { timeInForce: 'IOC' });
    assert.equal(bal(e, 'dan:isolated:BTCUSDT'), amt('2400'));
    limit(e, 'mm', 'BTCUSDT', 'buy', '5', '58950');
    sound(e);
    return e;
  }

  test(
    "'restore', mark 59,104.5: one book stage of 1.567 at 58,950 whose fee is only what the fill made above what the 0.433 left needs at 58,829.5 (235.08691325, not 461.87325), no draw; the 0.433 keeps 519.56308675 and stays above maintenance ('full': fee 300, no draw)",
    TIMEOUT,
    () => {
      const e = dan('restore');
      const r = mark(e, 'BTCUSDT', '59104.5');
      assert.deepEqual(
        of(r, 'liquidation').map((l) => [l.stage, l.size, l.price, l.bankruptcyPrice, l.fee, l.remaining]),
        [['book', 1567n, amt('58950'), amt('58829.5'), amt('235.08691325'), 433n]],
      );
      assert.deepEqual(of(r, 'insuranceDraw'), []);
      assert.equal(bal(e, 'dan:isolated:BTCUSDT'), amt('519.56308675'));
      assert.equal(e.insuranceFund('USDT'), amt('100235.08691325'));
      sound(e); // (engineProblems: not left below maintenance)
      // The same with 'full': all 2 at 58,950, the fee is the 300 left, no draw.
      const f = dan('full');
      const rf = mark(f, 'BTCUSDT', '59104.5');
      assert.deepEqual(
        of(rf, 'liquidation').map((l) => [l.stage, l.size, l.price, l.fee]),
        [['book', 2000n, amt('58950'), amt('300')]],
      );
      assert.deepEqual(of(rf, 'insuranceDraw'), []);
      sound(f);
    },
  );

  test(
    'cross: short 0.301 BTC at 20,000 and 0.01 ETH at 1,000 (100x, 1,500 deposited), empty fund, ETH offered at 1,000.1; BTC gaps to 25,088 → ADL at 24,960.8 whose fee (3.7392) leaves the ETH short its maintenance (0.045): ETH is not left bankrupt to buy back at 1,000.1 with the fund paying out of that fee',
    TIMEOUT,
    () => {
      const e = engineWithMarkets(BTCUSDT, ETHUSDT);
      mark(e, 'BTCUSDT', '20000');
      mark(e, 'ETHUSDT', '1000');
      deposit(e, 'mm', '10000000');
      deposit(e, 't', '1500');
      for (const s of ['BTCUSDT', 'ETHUSDT']) {
        ok(e, { type: 'setMarginMode', account: 't', symbol: s, mode: 'cross' });
        ok(e, { type: 'setLeverage', account: 'mm', symbol: s, leverage: '2' });
        ok(e, { type: 'setLeverage', account: 't', symbol: s, leverage: '100' });
      }
      limit(e, 'mm', 'BTCUSDT', 'buy', '0.301', '20000');
      limit(e, 't', 'BTCUSDT', 'sell', '0.301', '20000', { timeInForce: 'IOC' });
      limit(e, 'mm', 'ETHUSDT', 'buy', '0.01', '1000');
      limit(e, 't', 'ETHUSDT', 'sell', '0.01', '1000', { timeInForce: 'IOC' });
      limit(e, 'mm', 'ETHUSDT', 'sell', '1', '1000.1');
      sound(e);
      const r = mark(e, 'BTCUSDT', '25088');
      assert.deepEqual(
        of(r, 'liquidation').map((l) => [l.symbol, l.stage, l.price, l.fee]),
        [['BTCUSDT', 'adl', amt('24960.8'), amt('3.7392')]],
      );
      assert.deepEqual(of(r, 'insuranceDraw'), []);
      assert.equal(bal(e, 't:main:USDT'), amt('0.045'));
      assert.equal(position(e, 't', 'ETHUSDT')!.maintenanceMargin, '0.045');
      assert.equal(e.insuranceFund('USDT'), amt('3.7392'));
      sound(e);
    },
  );
});
