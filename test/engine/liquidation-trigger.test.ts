/**
 * Issue 14, D1 and D2: the engine starts a liquidation at the first mark at which the position's margin balance is
 * below its maintenance — the test `calc` applies — and the liquidation price `positionsOf` shows is the last tick
 * before it, so no mark on its safe side is ever liquidatable.
 *
 * Every reproduction runs on a fresh `Engine` with the default conventions (ringfence's: maintenance at the worse of
 * entry and mark with the taker fee to close in it, prices rounded toward liquidation) and the default preset's
 * inverse BTCUSD: BitMEX-style step risk limits (0.5 % maintenance up to 200 BTC, +0.5 % per 150 BTC above), 1-USD
 * contracts, 0.5 tick, money in BTC at 8 decimals. `calc` is asked about the same position with the same preset.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { calc } from '../../src/core/scenario.ts';
import { Engine } from '../../src/engine/engine.ts';
import { presetMarket } from './differential-kit.ts';
import { ok } from './harness.ts';
import { bal, deposit, limit, type Ok, of, position } from './scenario-kit.ts';

const mark = (e: Engine, price: string) => ok(e, { type: 'setMarkPrice', symbol: 'BTCUSD', price });
const started = (r: Ok) => of(r, 'liquidationStarted').filter((l) => l.account === 'tr');

/** A fresh engine with the default preset's BTCUSD, the mark at `price`, and a 1x cross market maker. */
function btcusd(price: string): Engine {
  const e = new Engine();
  ok(e, { type: 'createMarket', market: presetMarket('ringfence', 'BTCUSD') });
  mark(e, price);
  deposit(e, 'mk', '1000000', 'BTC');
  ok(e, { type: 'setMarginMode', account: 'mk', symbol: 'BTCUSD', mode: 'cross' });
  ok(e, { type: 'setLeverage', account: 'mk', symbol: 'BTCUSD', leverage: '1' });
  return e;
}

/** `tr` (isolated, at `leverage`, `funds` deposited) opens `side` `size` contracts at `price` against mk. */
function open(e: Engine, funds: string, leverage: string, side: 'buy' | 'sell', size: string, price: string) {
  deposit(e, 'tr', funds, 'BTC');
  ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSD', leverage });
  limit(e, 'mk', 'BTCUSD', side === 'buy' ? 'sell' : 'buy', size, price);
  const r = limit(e, 'tr', 'BTCUSD', side, size, price, { timeInForce: 'IOC' });
  assert.equal(of(r, 'trade').length, 1);
}

/** calc's view of tr's isolated position at `markPrice` (collateral: the bucket as it stands). */
function calcAt(e: Engine, side: 'long' | 'short', size: string, entry: string, markPrice: string) {
  const margin = (Number(bal(e, 'tr:isolated:BTCUSD')) / 1e8).toFixed(8);
  const r = calc({
    venue: 'ringfence',
    positions: [{ symbol: 'BTCUSD', side, size, entryPrice: entry, markPrice, margin }],
  });
  return r.positions[0]!;
}

describe('D1: a step bracket boundary is where a long inverse position is liquidated', () => {
  // tr: long 2,188,557 contracts at 1,607.5 = 1,361.5 BTC, 13x (bucket 104.728 BTC). Falling, the notional crosses
  // 1,400 BTC (the cap of the 9th step) at 1,563.25: maintenance jumps from 63.7 to 70.7 BTC while the margin balance
  // is 66.0, so the first failing mark is 1,563 — the boundary, not the 9th step's own solution further down.
  test('long 2,188,557 @ 1,607.5 at 13x: shown 1,563.5; 1,563.5 passes, 1,563 liquidates (was shown 1,559, liquidated at 1,559.5: 9 ticks late)', () => {
    const e = btcusd('1607.5');
    open(e, '1000', '13', 'buy', '2188557', '1607.5');
    assert.equal(bal(e, 'tr:isolated:BTCUSD'), 10_472_817_323n);
    assert.equal(position(e, 'tr', 'BTCUSD')!.liquidationPrice, '1563.5');
    const safe = calcAt(e, 'long', '2188557', '1607.5', '1563.5');
    const due = calcAt(e, 'long', '2188557', '1607.5', '1563');
    assert.deepEqual(
      [safe.liquidatable, safe.marginBalance, safe.maintenanceMargin],
      [false, '66.41380477', '63.69001823'],
    );
    assert.deepEqual(
      [due.liquidatable, due.marginBalance, due.maintenanceMargin],
      [true, '65.96601826', '70.71153455'],
    );
    assert.deepEqual(started(mark(e, '1563.5')), []);
    const r = mark(e, '1563');
    assert.deepEqual(
      started(r).map((l) => [l.mark, l.equity, l.maintenance]),
      [[156_300_000_000n, 6_596_601_826n, 7_071_153_455n]],
    );
  });

  // The other side of a step: a short inverse at 100x just under the first cap (9,999,000 contracts at 50,000 =
  // 199.98 BTC). A fall in price grows its notional past 200 BTC at 49,995, where maintenance doubles (0.55 % →
  // 1.05 % with the fee) while the profit is a few hundredths: the test fails on the favourable side of the entry,
  // from 49,995 down to 49,975. The engine liquidates there too, and shows that stretch (49,974.5: the last tick
  // before it coming from below), since no single price can describe both sides and nothing may be on its safe side.
  test('short 9,999,000 @ 50,000 at 100x: a fall to 49,995 crosses the 200 BTC step and liquidates; shown 49,974.5', () => {
    const e = btcusd('50000');
    open(e, '10', '100', 'sell', '9999000', '50000');
    assert.equal(position(e, 'tr', 'BTCUSD')!.liquidationPrice, '49974.5');
    assert.equal(calcAt(e, 'short', '9999000', '50000', '49974.5').liquidatable, false);
    assert.equal(calcAt(e, 'short', '9999000', '50000', '49975').liquidatable, true);
    assert.equal(calcAt(e, 'short', '9999000', '50000', '49995.5').liquidatable, false);
    assert.equal(calcAt(e, 'short', '9999000', '50000', '49995').liquidatable, true);
    assert.deepEqual(started(mark(e, '49995.5')), []);
    assert.deepEqual(
      started(mark(e, '49995')).map((l) => l.mark),
      [4_999_500_000_000n],
    );
  });
});

describe('D2: a small inverse position is liquidated where whole-satoshi rounding says, not where the exact solution does', () => {
  // tr: long 15 contracts at 62,250, 41x: bucket 588 sats. One satoshi of PnL spans about 8.6 ticks here. The exact
  // solution is 61,101.5 (rounded up), but with PnL rounded down and maintenance up, 61,103.5 already fails
  // (135 < 136 sats) and 61,104 passes (136 = 136).
  test('long 15 @ 62,250 at 41x: shown 61,104; 61,104 passes, 61,103.5 liquidates (was shown 61,101.5, liquidated at 61,102)', () => {
    const e = btcusd('62250');
    open(e, '1', '41', 'buy', '15', '62250');
    assert.equal(bal(e, 'tr:isolated:BTCUSD'), 588n);
    assert.equal(position(e, 'tr', 'BTCUSD')!.liquidationPrice, '61104');
    const safe = calcAt(e, 'long', '15', '62250', '61104');
    const due = calcAt(e, 'long', '15', '62250', '61103.5');
    assert.deepEqual(
      [safe.liquidatable, safe.marginBalance, safe.maintenanceMargin],
      [false, '0.00000136', '0.00000136'],
    );
    assert.deepEqual(
      [due.liquidatable, due.marginBalance, due.maintenanceMargin],
      [true, '0.00000135', '0.00000136'],
    );
    assert.deepEqual(started(mark(e, '61104')), []);
    assert.deepEqual(
      started(mark(e, '61103.5')).map((l) => [l.mark, l.equity, l.maintenance]),
      [[6_110_350_000_000n, 135n, 136n]],
    );
  });

  // The same position in cross margin, the account's only one: the cross price is solved by the same code, with the
  // wallet as collateral. A wallet of 600 sats after fees.
  test('cross: long 15 @ 62,250 with 601 sats deposited shows the tick before the first failing mark, and liquidates at that mark', () => {
    const e = btcusd('62250');
    deposit(e, 'tr', '0.00000601', 'BTC');
    ok(e, { type: 'setMarginMode', account: 'tr', symbol: 'BTCUSD', mode: 'cross' });
    ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSD', leverage: '41' });
    limit(e, 'mk', 'BTCUSD', 'sell', '15', '62250');
    limit(e, 'tr', 'BTCUSD', 'buy', '15', '62250', { timeInForce: 'IOC' });
    const wallet = bal(e, 'tr:main:BTC');
    const shown = position(e, 'tr', 'BTCUSD')!.liquidationPrice!;
    const cross = (markPrice: string) =>
      calc({
        venue: 'ringfence',
        mode: 'cross',
        walletBalance: (Number(wallet) / 1e8).toFixed(8),
        positions: [{ symbol: 'BTCUSD', side: 'long', size: '15', entryPrice: '62250', markPrice }],
      }).bucket!.liquidatable;
    const next = String(Number(shown) - 0.5);
    assert.equal(cross(shown), false, `shown ${shown} must pass`);
    assert.equal(cross(next), true, `${next}, one tick past the shown ${shown}, must fail`);
    // No tick between the shown price and the entry fails.
    for (let p = Number(shown); p <= 62250; p += 0.5) assert.equal(cross(String(p)), false, `at ${p}`);
    assert.deepEqual(started(mark(e, shown)), []);
    assert.deepEqual(
      started(mark(e, next)).map((l) => l.mark),
      [BigInt(Math.round(Number(next) * 1e8))],
    );
  });
});
