/**
 * closeMarket (issue 15): an admin closes a market to new risk. Only reduce-only orders are accepted afterwards;
 * resting orders that are not reduce-only are canceled (reason marketClosing); positions stay and can be closed.
 * The state survives a snapshot and restore. BTCUSDT at 20,000; alice long 1 BTC against bob's short 1.
 *
 * delistMarket: once closed and flat (no position, no resting order) the market is removed — its clearing and
 * funding-pool residue to fees, its flat positions and their ledger accounts dropped — so its slot (MAX_MARKETS) and
 * its symbol are free again. Refused before that, changing nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, MAX_MARKETS } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { restoreEngine, snapshotEngine } from '../../src/engine/snapshot.ts';
import type { Command, MarketConfig } from '../../src/engine/types.ts';
import { BTCUSDT, checkInvariants, engineProblems, engineWithMarkets, ok, rejected, t } from './harness.ts';
import { bal, cancels, deposit, limit, of } from './scenario-kit.ts';

const T = { timeout: 10_000 };

function venue(): Engine {
  const e = engineWithMarkets(BTCUSDT);
  for (const a of ['alice', 'bob', 'carol']) deposit(e, a, '1000000');
  ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
  limit(e, 'bob', 'BTCUSDT', 'sell', '1', '20000');
  limit(e, 'alice', 'BTCUSDT', 'buy', '1', '20000');
  return e;
}

describe('closeMarket: no new risk, reduce-only', () => {
  test(
    'alice long 1 BTC with a bid of 1 at 19,000 and a reduce-only ask of 1 at 21,000: closing cancels the bid (marketClosing), keeps the ask',
    T,
    () => {
      const e = venue();
      const bid = limit(e, 'alice', 'BTCUSDT', 'buy', '1', '19000').orderId!;
      const ask = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '21000', { reduceOnly: true }).orderId!;
      const r = ok(e, { type: 'closeMarket', symbol: 'BTCUSDT' });
      assert.deepEqual(cancels(r), [[bid, '1', 'marketClosing']]);
      assert.deepEqual([...e.accounts.get('alice')!.orders.keys()], [ask]);
      assert.equal(e.markets.get('BTCUSDT')!.reduceOnly, true);
      checkInvariants(e);
    },
  );

  test(
    'after closing: carol cannot open (MARKET_CLOSED); alice sells 1 reduce-only to bob’s reduce-only bid, and both are flat',
    T,
    () => {
      const e = venue();
      ok(e, { type: 'closeMarket', symbol: 'BTCUSDT' });
      rejected(
        e,
        {
          type: 'placeOrder',
          account: 'carol',
          symbol: 'BTCUSDT',
          side: 'buy',
          orderType: 'limit',
          size: '1',
          price: '19000',
        },
        'MARKET_CLOSED',
      );
      rejected(
        e,
        {
          type: 'placeOrder',
          account: 'alice',
          symbol: 'BTCUSDT',
          side: 'buy',
          orderType: 'limit',
          size: '1',
          price: '19000',
        },
        'MARKET_CLOSED',
      );
      limit(e, 'bob', 'BTCUSDT', 'buy', '1', '20000', { reduceOnly: true });
      limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000', { reduceOnly: true });
      assert.equal(e.accounts.get('alice')!.positions.get('BTCUSDT')!.sign, 0);
      assert.equal(e.accounts.get('bob')!.positions.get('BTCUSDT')!.sign, 0);
      assert.equal(e.markets.get('BTCUSDT')!.openInterestLots, 0);
      checkInvariants(e);
    },
  );

  test('closing twice is MARKET_CLOSED; an unknown market is UNKNOWN_MARKET; both change nothing', T, () => {
    const e = venue();
    rejected(e, { type: 'closeMarket', symbol: 'NOPE' }, 'UNKNOWN_MARKET');
    ok(e, { type: 'closeMarket', symbol: 'BTCUSDT' });
    rejected(e, { type: 'closeMarket', symbol: 'BTCUSDT' }, 'MARKET_CLOSED');
  });

  test(
    'a snapshot keeps the closed state (same hash) and the restored engine still refuses new risk',
    T,
    () => {
      const e = venue();
      const open = restoreEngine(snapshotEngine(e));
      assert.equal(open.markets.get('BTCUSDT')!.reduceOnly, false);
      ok(e, { type: 'closeMarket', symbol: 'BTCUSDT' });
      assert.notEqual(stateHash(e), stateHash(open), 'closing changes the state hash');
      const r = restoreEngine(snapshotEngine(e));
      assert.equal(stateHash(r), stateHash(e));
      rejected(
        r,
        {
          type: 'placeOrder',
          account: 'carol',
          symbol: 'BTCUSDT',
          side: 'sell',
          orderType: 'market',
          size: '1',
        },
        'MARKET_CLOSED',
      );
    },
  );
});

/** alice (long 1) and bob (short 1) close out at 20,000 through reduce-only orders: the market is flat. */
function flatten(e: Engine): void {
  limit(e, 'bob', 'BTCUSDT', 'buy', '1', '20000', { reduceOnly: true });
  limit(e, 'alice', 'BTCUSDT', 'sell', '1', '20000', { reduceOnly: true });
}

function assertSound(e: Engine): void {
  checkInvariants(e);
  assert.deepEqual(engineProblems(e), []);
}

describe('delistMarket: a closed, flat market gives back its slot and symbol', () => {
  test(
    'refused while open (MARKET_NOT_FLAT), while alice’s reduce-only ask of 1 at 21,000 rests (MARKET_NOT_FLAT), while alice long 1 / bob short 1 (POSITION_OPEN); accepted once both are flat',
    T,
    () => {
      const e = venue();
      rejected(e, { type: 'delistMarket', symbol: 'NOPE' }, 'UNKNOWN_MARKET');
      rejected(e, { type: 'delistMarket', symbol: 'BTCUSDT' }, 'MARKET_NOT_FLAT');
      // carol never trades, but setting her leverage gives her a (flat) BTCUSDT position with a bucket.
      ok(e, { type: 'setLeverage', account: 'carol', symbol: 'BTCUSDT', leverage: '20' });
      ok(e, { type: 'closeMarket', symbol: 'BTCUSDT' });
      const ask = limit(e, 'alice', 'BTCUSDT', 'sell', '1', '21000', { reduceOnly: true }).orderId!;
      rejected(e, { type: 'delistMarket', symbol: 'BTCUSDT' }, 'MARKET_NOT_FLAT');
      ok(e, { type: 'cancelOrder', account: 'alice', symbol: 'BTCUSDT', orderId: ask });
      rejected(e, { type: 'delistMarket', symbol: 'BTCUSDT' }, 'POSITION_OPEN');
      flatten(e);
      assertSound(e);
      const r = ok(e, { type: 'delistMarket', symbol: 'BTCUSDT' });
      assert.deepEqual(of(r, 'marketDelisted'), [{ type: 'marketDelisted', symbol: 'BTCUSDT' }]);
      assert.equal(e.markets.has('BTCUSDT'), false);
      for (const a of ['alice', 'bob', 'carol'])
        assert.equal(e.accounts.get(a)!.positions.has('BTCUSDT'), false);
      const labels = e.ledger.accounts().map((l) => l.label);
      for (const gone of [
        'clearing:BTCUSDT',
        'funding:BTCUSDT',
        'alice:isolated:BTCUSDT',
        'bob:isolated:BTCUSDT',
        'carol:isolated:BTCUSDT',
      ])
        assert.equal(labels.includes(gone), false, `${gone} removed`);
      assert.ok(
        labels.includes('fees:USDT') && labels.includes('alice:main:USDT'),
        'the asset’s accounts stay',
      );
      assertSound(e);
      assert.equal(stateHash(restoreEngine(snapshotEngine(e))), stateHash(e), 'and it snapshots cleanly');
      // Gone means gone: the symbol is unknown to every command, and cannot be delisted twice.
      rejected(e, { type: 'delistMarket', symbol: 'BTCUSDT' }, 'UNKNOWN_MARKET');
      rejected(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' }, 'UNKNOWN_MARKET');
    },
  );

  test(
    'USDC at 2 dp: bob short 0.001 at 20,000.0 covers at 20,000.1 (PnL −0.0001 → −0.01, alice’s +0.0001 → 0.00): the 0.01 left in clearing goes to fees:USDC on delisting',
    T,
    () => {
      const CENTS: MarketConfig = { ...BTCUSDT, symbol: 'BTCUSDC', quote: 'USDC', settleDp: 2 };
      const e = engineWithMarkets(CENTS);
      for (const a of ['alice', 'bob']) deposit(e, a, '1000', 'USDC');
      ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDC', price: '20000' });
      limit(e, 'bob', 'BTCUSDC', 'sell', '0.001', '20000');
      limit(e, 'alice', 'BTCUSDC', 'buy', '0.001', '20000');
      ok(e, { type: 'closeMarket', symbol: 'BTCUSDC' });
      limit(e, 'bob', 'BTCUSDC', 'buy', '0.001', '20000.1', { reduceOnly: true });
      limit(e, 'alice', 'BTCUSDC', 'sell', '0.001', '20000.1', { reduceOnly: true });
      assertSound(e);
      assert.equal(bal(e, 'clearing:BTCUSDC'), 1n, 'one cent of rounding residue');
      const fees = bal(e, 'fees:USDC');
      const r = ok(e, { type: 'delistMarket', symbol: 'BTCUSDC' });
      assert.deepEqual(
        of(r, 'transfer').map((x) => [x.from, x.to, x.amount, x.reason]),
        [['clearing:BTCUSDC', 'fees:USDC', 1n, 'delistResidue']],
      );
      assert.equal(bal(e, 'fees:USDC'), fees + 1n);
      assert.equal(e.ledger.netDeposits('USDC'), 200_000n, 'no money created or lost');
      assertSound(e);
    },
  );

  test(
    'a dated future settled at expiry (alice long 1 / bob short 1 at 20,000, mark 20,000) is delisted without closeMarket',
    T,
    () => {
      const E = t() + 3_600_000;
      const e = engineWithMarkets({ ...BTCUSDT, symbol: 'BTC-FUT', expiry: E });
      for (const a of ['alice', 'bob']) deposit(e, a, '1000000');
      ok(e, { type: 'setMarkPrice', symbol: 'BTC-FUT', price: '20000' });
      limit(e, 'bob', 'BTC-FUT', 'sell', '1', '20000');
      limit(e, 'alice', 'BTC-FUT', 'buy', '1', '20000');
      rejected(e, { type: 'delistMarket', symbol: 'BTC-FUT' }, 'MARKET_NOT_FLAT');
      const settled = e.apply({ type: 'tick', time: E });
      assert.ok(settled.ok && of(settled, 'marketSettled').length === 1, 'settled at expiry');
      assert.equal(e.apply({ type: 'delistMarket', symbol: 'BTC-FUT', time: E + 1 }).ok, true);
      assert.equal(e.markets.size, 0);
      assertSound(e);
    },
  );

  test(`${MAX_MARKETS} markets: a ${MAX_MARKETS + 1}th is LIMIT_EXCEEDED; once BTCUSDT is closed, flattened and delisted a new one fits, and BTCUSDT can be created and traded again`, {
    timeout: 60_000,
  }, () => {
    const e = venue();
    for (let i = 1; i < MAX_MARKETS; i++)
      ok(e, { type: 'createMarket', market: { ...BTCUSDT, symbol: `M${i}` } });
    assert.equal(e.markets.size, MAX_MARKETS);
    const extra: MarketConfig = { ...BTCUSDT, symbol: 'EXTRA' };
    rejected(e, { type: 'createMarket', market: extra }, 'LIMIT_EXCEEDED');
    ok(e, { type: 'closeMarket', symbol: 'BTCUSDT' });
    flatten(e);
    ok(e, { type: 'delistMarket', symbol: 'BTCUSDT' });
    assert.equal(e.markets.size, MAX_MARKETS - 1);
    ok(e, { type: 'createMarket', market: extra });
    rejected(e, { type: 'createMarket', market: { ...BTCUSDT, symbol: 'AGAIN' } }, 'LIMIT_EXCEEDED');
    // Make room again and bring BTCUSDT back: a fresh market, fresh positions, trading as before.
    ok(e, { type: 'closeMarket', symbol: 'EXTRA' });
    ok(e, { type: 'delistMarket', symbol: 'EXTRA' });
    ok(e, { type: 'createMarket', market: BTCUSDT });
    const m = e.markets.get('BTCUSDT')!;
    assert.equal(m.reduceOnly, false);
    assert.equal(m.positions.size, 0);
    assert.equal(bal(e, 'clearing:BTCUSDT'), 0n);
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
    limit(e, 'carol', 'BTCUSDT', 'sell', '2', '20000');
    limit(e, 'alice', 'BTCUSDT', 'buy', '2', '20000');
    assert.equal(e.accounts.get('alice')!.positions.get('BTCUSDT')!.lots, 2000);
    assert.equal(m.openInterestLots, 2000);
    assertSound(e);
  });

  test(
    'snapshot + restore: closed and flat (before delisting) and after it hash the same, and the restored engines go on identically',
    T,
    () => {
      const e = venue();
      ok(e, { type: 'closeMarket', symbol: 'BTCUSDT' });
      flatten(e);
      const before = restoreEngine(snapshotEngine(e));
      assert.equal(stateHash(before), stateHash(e));
      const delist: Command = { type: 'delistMarket', symbol: 'BTCUSDT', time: t() };
      assert.equal(e.apply(delist).ok, true);
      assert.equal(before.apply(delist).ok, true);
      assert.equal(stateHash(before), stateHash(e), 'delisting on the restored engine hashes the same');
      const after = restoreEngine(snapshotEngine(e));
      assert.equal(stateHash(after), stateHash(e));
      assert.equal(after.markets.has('BTCUSDT'), false);
      // The same commands afterwards (BTCUSDT re-created and traded) give the same state on all three.
      const next: Command[] = [
        { type: 'createMarket', market: BTCUSDT, time: t() },
        { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000', time: t() },
        ...(['carol', 'bob'] as const).map(
          (account, i): Command => ({
            type: 'placeOrder',
            account,
            symbol: 'BTCUSDT',
            side: i === 0 ? 'sell' : 'buy',
            orderType: 'limit',
            size: '1',
            price: '20000',
            time: t(),
          }),
        ),
      ];
      for (const c of next) for (const x of [e, before, after]) assert.equal(x.apply(c).ok, true, c.type);
      assert.equal(stateHash(before), stateHash(e));
      assert.equal(stateHash(after), stateHash(e));
      assertSound(after);
    },
  );

  test(
    'journal replay: the commands that closed, flattened, delisted and re-created BTCUSDT, applied to a fresh engine, give the same hash',
    T,
    () => {
      const log: Command[] = [];
      const e = new Engine();
      const run = (c: Omit<Command, 'time'>) => {
        const cmd = { ...c, time: t() } as Command;
        log.push(cmd);
        const r = e.apply(cmd);
        assert.equal(r.ok, true, `${c.type}: ${r.ok ? '' : r.message}`);
      };
      const order = (account: string, side: 'buy' | 'sell', reduceOnly = false) =>
        run({
          type: 'placeOrder',
          account,
          symbol: 'BTCUSDT',
          side,
          orderType: 'limit',
          size: '1',
          price: '20000',
          ...(reduceOnly ? { reduceOnly } : {}),
        } as Omit<Command, 'time'>);
      run({ type: 'createMarket', market: BTCUSDT } as Omit<Command, 'time'>);
      for (const account of ['alice', 'bob'])
        run({ type: 'deposit', account, asset: 'USDT', amount: '1000000' } as Omit<Command, 'time'>);
      run({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' } as Omit<Command, 'time'>);
      order('bob', 'sell');
      order('alice', 'buy');
      run({ type: 'closeMarket', symbol: 'BTCUSDT' } as Omit<Command, 'time'>);
      order('bob', 'buy', true);
      order('alice', 'sell', true);
      run({ type: 'delistMarket', symbol: 'BTCUSDT' } as Omit<Command, 'time'>);
      run({ type: 'createMarket', market: BTCUSDT } as Omit<Command, 'time'>);
      const replayed = new Engine();
      for (const c of log) assert.equal(replayed.apply(c).ok, true, c.type);
      assert.equal(stateHash(replayed), stateHash(e));
      assertSound(replayed);
    },
  );
});
