/**
 * Auto-add margin for a named silo, as stories: a netted BTC/ETH pair opted in at 0.8 is topped up from main before
 * a move can liquidate it; with nothing free it raises one margin call and is then liquidated at its own trigger;
 * a deposit after the call tops it up at once; restoreInitialMargin brings equity back to initial margin exactly;
 * refusals change nothing; the setting survives a snapshot.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDecimal } from '../../src/core/fixed.ts';
import { parseRate } from '../../src/core/rates.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { silosOf } from '../../src/engine/readmodel.ts';
import { restoreEngine, snapshotEngine } from '../../src/engine/snapshot.ts';
import type { EngineEvent } from '../../src/engine/types.ts';
import { BTCUSD, BTCUSDT, ETHUSDT, engineWithMarkets, ok, rejected } from './harness.ts';

const TIMEOUT = { timeout: 20_000 };
const usdt = (v: string) => parseDecimal(v, 'v', { dp: 8, signed: true });
const rate = (v: string) => parseRate(v, 'v');

/**
 * The trader's netted pair: long 1 BTC at 20,000 and short 10 ETH at 2,000, 50x each, ρ(BTC, ETH) = 0.8, in a silo
 * funded with 500 (480 after two taker fees; netted initial margin 200, maintenance 45). `traderMain` is deposited
 * first; what is not in the silo stays free in main.
 */
function pairVenue(traderMain: string): Engine {
  const e = engineWithMarkets(BTCUSDT, ETHUSDT, BTCUSD);
  ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
  ok(e, { type: 'setMarkPrice', symbol: 'ETHUSDT', price: '2000' });
  ok(e, { type: 'deposit', account: 'mm', asset: 'USDT', amount: '1000000' });
  ok(e, { type: 'setLeverage', account: 'mm', symbol: 'BTCUSDT', leverage: '1' });
  ok(e, { type: 'setLeverage', account: 'mm', symbol: 'ETHUSDT', leverage: '1' });
  ok(e, { type: 'fundInsurance', asset: 'USDT', amount: '100000' });
  ok(e, { type: 'deposit', account: 'tr', asset: 'USDT', amount: traderMain });
  ok(e, { type: 'setNetting', correlations: [{ a: 'BTC', b: 'ETH', rho: '0.8' }] });
  ok(e, { type: 'createSilo', account: 'tr', silo: 'pair', asset: 'USDT', riskModel: 'netted' });
  ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'pair', amount: '500' });
  ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'pair' });
  ok(e, { type: 'setLeverage', account: 'tr', symbol: 'ETHUSDT', leverage: '50', silo: 'pair' });
  for (const [symbol, side, size, price] of [
    ['BTCUSDT', 'buy', '1', '20000'],
    ['ETHUSDT', 'sell', '10', '2000'],
  ] as const) {
    const other = side === 'buy' ? 'sell' : 'buy';
    ok(e, { type: 'placeOrder', account: 'mm', symbol, side: other, orderType: 'limit', size, price });
    ok(e, { type: 'placeOrder', account: 'tr', symbol, side, orderType: 'limit', size, price, silo: 'pair' });
  }
  return e;
}

const pair = (e: Engine) => silosOf(e, 'tr').find((s) => s.id === 'pair')!;
const mainOf = (e: Engine) => e.accounts.get('tr')!.wallets.get('USDT')!.main.balance;
const mark = (e: Engine, symbol: string, price: string) => ok(e, { type: 'setMarkPrice', symbol, price });
const of = <T extends EngineEvent['type']>(events: EngineEvent[], type: T) =>
  events.filter((ev): ev is Extract<EngineEvent, { type: T }> => ev.type === type);

/** BTC walks down 1 USDT a step from `from` to `to`; returns each step's price and events. */
function btcWalk(e: Engine, from: number, to: number): { price: number; events: EngineEvent[] }[] {
  const steps: { price: number; events: EngineEvent[] }[] = [];
  for (let p = from; p >= to; p--) steps.push({ price: p, events: mark(e, 'BTCUSDT', String(p)).events });
  return steps;
}

describe('auto-add margin on a named silo', () => {
  test(
    'a netted pair opted in at 0.8 (addInitialMargin): BTC sliding from 19,800 to 19,700 would liquidate it; instead main tops it up with its initial margin once, the moment maintenance / equity reaches 0.8',
    TIMEOUT,
    () => {
      const e = pairVenue('10000');
      const set = ok(e, {
        type: 'setAutoAddMargin',
        account: 'tr',
        silo: 'pair',
        enabled: true,
        trigger: '0.8',
      });
      assert.deepEqual(of(set.events, 'autoAddMarginSet'), [
        {
          type: 'autoAddMarginSet',
          account: 'tr',
          symbol: '',
          silo: 'pair',
          enabled: true,
          policy: 'addInitialMargin',
          trigger: rate('0.8'),
        },
      ]);
      mark(e, 'ETHUSDT', '2020');
      mark(e, 'BTCUSDT', '19800'); // equity 80 against a maintenance of ~45.2: ratio ~0.57
      const main = mainOf(e);
      let fired: { price: number; ev: Extract<EngineEvent, { type: 'autoAddMargin' }> } | null = null;
      let before = pair(e);
      for (const { price, events } of btcWalk(e, 19799, 19700)) {
        assert.deepEqual(of(events, 'liquidationStarted'), [], `liquidated at ${price}`);
        const adds = of(events, 'autoAddMargin');
        if (adds.length > 0) {
          assert.equal(fired, null, 'one top-up');
          fired = { price, ev: adds[0]! };
          // Never late: the step before was still short of the trigger, this one reached it.
          assert.ok(before.maintenanceMargin * 10n < before.equity * 8n, `already due before ${price}`);
        }
        before = pair(e);
      }
      assert.ok(fired !== null, 'auto-add fired');
      const { price, ev } = fired;
      // Maintenance ~45.2 / 0.8 = ~56.5 of equity: BTC 19,776 leaves 56 (19,777 leaves 57).
      assert.equal(price, 19776);
      assert.equal(ev.silo, 'pair');
      assert.ok(ev.marginRatio >= rate('0.8') && ev.marginRatio < rate('0.82'), `ratio ${ev.marginRatio}`);
      assert.ok(ev.symbol === 'BTCUSDT' || ev.symbol === 'ETHUSDT');
      // The silo's initial margin under its model (~200 at these marks), out of main and into the silo only.
      assert.ok(ev.amount > usdt('199') && ev.amount < usdt('201'), `amount ${ev.amount}`);
      assert.equal(mainOf(e), main - ev.amount);
      const after = pair(e);
      assert.equal(e.accounts.get('tr')!.silos.get('pair')!.bucket.balance, usdt('480') + ev.amount);
      assert.equal(after.equity, usdt('480') + ev.amount - usdt('200') - usdt('300'), 'ETH −200, BTC −300');
      assert.equal(e.accounts.get('tr')!.positions.get('pair/BTCUSDT')!.lots, 1000, 'both legs stay');
      assert.equal(e.accounts.get('tr')!.positions.get('pair/ETHUSDT')!.lots, 1000);
      assert.ok(e.ledger.verify().ok);
    },
  );

  test(
    'a gap straight through maintenance (BTC 19,800 → 19,500: equity −20) is topped up first and not liquidated',
    TIMEOUT,
    () => {
      const e = pairVenue('10000');
      ok(e, { type: 'setAutoAddMargin', account: 'tr', silo: 'pair', enabled: true });
      mark(e, 'ETHUSDT', '2020');
      mark(e, 'BTCUSDT', '19800');
      const r = mark(e, 'BTCUSDT', '19500');
      assert.deepEqual(of(r.events, 'liquidationStarted'), []);
      const [add] = of(r.events, 'autoAddMargin');
      assert.ok(add && add.silo === 'pair' && add.marginRatio === rate('100'), 'no equity left: ratio 100');
      assert.ok(pair(e).equity > pair(e).maintenanceMargin);
    },
  );

  test(
    'with nothing free in main: one margin call (naming the silo), none on later ticks, then liquidation at its own trigger, main untouched',
    TIMEOUT,
    () => {
      const e = pairVenue('500'); // all of it in the silo
      ok(e, { type: 'setAutoAddMargin', account: 'tr', silo: 'pair', enabled: true, trigger: '0.8' });
      mark(e, 'ETHUSDT', '2020');
      mark(e, 'BTCUSDT', '19800');
      assert.equal(mainOf(e), 0n);
      const lp = pair(e).liquidationPrices.BTCUSDT!; // ~19,765.2 with ETH held at 2,020
      const steps = btcWalk(e, 19799, 19700);
      const calls = steps.flatMap((s) => of(s.events, 'marginCall').map((ev) => ({ price: s.price, ev })));
      assert.equal(calls.length, 1, 'one call, not one per tick');
      assert.equal(calls[0]!.price, 19776, 'raised where auto-add would have fired');
      assert.equal(calls[0]!.ev.silo, 'pair');
      assert.ok(calls[0]!.ev.marginRatio >= rate('0.8'));
      assert.deepEqual(
        steps.flatMap((s) => of(s.events, 'autoAddMargin')),
        [],
        'nothing to add',
      );
      const started = steps.filter((s) => of(s.events, 'liquidationStarted').length > 0);
      assert.equal(started.length, 1);
      // The first whole-dollar mark at or below the silo's liquidation price.
      assert.equal(BigInt(started[0]!.price) * 100_000_000n, (lp / 100_000_000n) * 100_000_000n);
      assert.equal(of(started[0]!.events, 'liquidationStarted')[0]!.silo, 'pair');
      assert.equal(mainOf(e), 0n, 'main paid nothing');
      assert.ok(e.ledger.verify().ok);
    },
  );

  test(
    'a deposit after the margin call frees money: the silo is topped up in that command with what is available',
    TIMEOUT,
    () => {
      const e = pairVenue('500');
      ok(e, { type: 'setAutoAddMargin', account: 'tr', silo: 'pair', enabled: true, trigger: '0.8' });
      mark(e, 'ETHUSDT', '2020');
      mark(e, 'BTCUSDT', '19800');
      const called = mark(e, 'BTCUSDT', '19770'); // equity 50, maintenance ~45.2: ratio ~0.9, above maintenance
      assert.equal(of(called.events, 'marginCall').length, 1);
      assert.equal(e.accounts.get('tr')!.silos.get('pair')!.marginCalled, true);
      const r = ok(e, { type: 'deposit', account: 'tr', asset: 'USDT', amount: '50' });
      assert.deepEqual(
        of(r.events, 'autoAddMargin').map((ev) => [ev.silo, ev.amount]),
        [['pair', usdt('50')]],
        'all of the 50 (less than the initial margin it wanted)',
      );
      assert.equal(mainOf(e), 0n);
      assert.equal(e.accounts.get('tr')!.silos.get('pair')!.marginCalled, false);
    },
  );

  test("restoreInitialMargin tops equity up to the silo's initial margin exactly", TIMEOUT, () => {
    const e = pairVenue('10000');
    ok(e, {
      type: 'setAutoAddMargin',
      account: 'tr',
      silo: 'pair',
      enabled: true,
      policy: 'restoreInitialMargin',
      trigger: '0.8',
    });
    mark(e, 'ETHUSDT', '2020');
    mark(e, 'BTCUSDT', '19800');
    const main = mainOf(e);
    const r = mark(e, 'BTCUSDT', '19760');
    const [add] = of(r.events, 'autoAddMargin');
    assert.ok(add, 'topped up');
    const v = pair(e);
    assert.equal(v.equity, v.initialMargin, 'equity back at initial margin under the netted model');
    assert.equal(add.amount, v.initialMargin - usdt('40'), 'from an equity of 40');
    assert.equal(mainOf(e), main - add.amount);
  });

  test(
    'a standalone silo with one BTC long (50x, 490 in it) walking down a dollar a tick: topped up at the first tick where maintenance / equity reaches 0.8, never later',
    TIMEOUT,
    () => {
      const e = pairVenue('10000');
      ok(e, { type: 'createSilo', account: 'tr', silo: 'solo', asset: 'USDT', riskModel: 'standalone' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'solo', amount: '500' });
      ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'solo' });
      ok(e, {
        type: 'placeOrder',
        account: 'mm',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'limit',
        size: '1',
        price: '20000',
      });
      ok(e, {
        type: 'placeOrder',
        account: 'tr',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '1',
        price: '20000',
        silo: 'solo',
      });
      ok(e, { type: 'setAutoAddMargin', account: 'tr', silo: 'solo', enabled: true, trigger: '0.8' });
      const solo = () => silosOf(e, 'tr').find((s) => s.id === 'solo')!;
      let before = solo();
      let fired = 0;
      for (const { price, events } of btcWalk(e, 19999, 19500)) {
        assert.deepEqual(
          of(events, 'liquidationStarted').filter((ev) => ev.silo === 'solo'),
          [],
          `liquidated at ${price}`,
        );
        const adds = of(events, 'autoAddMargin').filter((ev) => ev.silo === 'solo');
        const now = solo();
        if (adds.length > 0) {
          fired++;
          assert.equal(adds[0]!.symbol, 'BTCUSDT');
          assert.ok(before.maintenanceMargin * 10n < before.equity * 8n, `already due before ${price}`);
          assert.ok(
            adds[0]!.marginRatio >= rate('0.8') && adds[0]!.marginRatio < rate('0.81'),
            `ratio at ${price}`,
          );
        } else assert.ok(now.maintenanceMargin * 10n < now.equity * 8n, `left at its trigger at ${price}`);
        before = now;
      }
      assert.equal(fired, 1, 'one top-up of its initial margin carries it through 19,500');
    },
  );

  test(
    'refusals change nothing: unknown silo, no symbol and no silo, bad trigger or policy, non-boolean enabled; disabling stops the top-ups',
    TIMEOUT,
    () => {
      const e = pairVenue('10000');
      const base = { type: 'setAutoAddMargin', account: 'tr', enabled: true } as const;
      rejected(e, { ...base, silo: 'nope' }, 'UNKNOWN_SILO');
      rejected(e, { ...base }, 'UNKNOWN_MARKET');
      rejected(e, { ...base, account: 'nobody', silo: 'pair' }, 'UNKNOWN_ACCOUNT');
      rejected(e, { ...base, silo: 'pair', trigger: '1' }, 'INVALID_COMMAND');
      rejected(e, { ...base, silo: 'pair', trigger: '0' }, 'INVALID_COMMAND');
      rejected(e, { ...base, silo: 'pair', trigger: 'x' }, 'INVALID_COMMAND');
      rejected(
        e,
        { ...base, silo: 'pair', policy: 'doubleDown' as unknown as 'addInitialMargin' },
        'INVALID_COMMAND',
      );
      rejected(e, { ...base, silo: 'pair', enabled: 'yes' as unknown as boolean }, 'INVALID_COMMAND');
      ok(e, { ...base, silo: 'pair' });
      ok(e, { ...base, silo: 'pair', enabled: false });
      mark(e, 'ETHUSDT', '2020');
      mark(e, 'BTCUSDT', '19800');
      const main = mainOf(e);
      const r = mark(e, 'BTCUSDT', '19700');
      assert.deepEqual(of(r.events, 'autoAddMargin'), [], 'off: nothing added');
      assert.equal(of(r.events, 'liquidationStarted').length, 1, 'liquidated as without auto-add');
      assert.equal(mainOf(e), main);
    },
  );

  test('the setting and a pending margin call survive a snapshot: same hash, same behaviour', TIMEOUT, () => {
    const e = pairVenue('500');
    ok(e, { type: 'setAutoAddMargin', account: 'tr', silo: 'pair', enabled: true, trigger: '0.8' });
    mark(e, 'ETHUSDT', '2020');
    mark(e, 'BTCUSDT', '19800');
    mark(e, 'BTCUSDT', '19770');
    assert.equal(e.accounts.get('tr')!.silos.get('pair')!.marginCalled, true);
    const copy = restoreEngine(snapshotEngine(e));
    assert.equal(stateHash(copy), stateHash(e));
    assert.deepEqual(copy.accounts.get('tr')!.silos.get('pair')!.autoAdd, {
      policy: 'addInitialMargin',
      trigger: rate('0.8'),
    });
    const time = 1_800_000_000_000;
    const cmds = [
      { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19768', time },
      { type: 'deposit', account: 'tr', asset: 'USDT', amount: '30', time: time + 1 },
      { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19740', time: time + 2 },
    ] as const;
    for (const c of cmds) assert.deepEqual(copy.apply(c), e.apply(c));
    assert.equal(stateHash(copy), stateHash(e));
  });
});
