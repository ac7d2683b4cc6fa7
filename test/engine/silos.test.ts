/**
 * Named silos as stories: a hedged pair in one netted silo, the same pair in two standalone silos, hedge mode on one
 * market, and the silo commands' refusals (each of which changes nothing).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Unpackr } from 'msgpackr';
import { parseDecimal } from '../../src/core/fixed.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { silosOf } from '../../src/engine/readmodel.ts';
import { restoreEngine, snapshotEngine } from '../../src/engine/snapshot.ts';
import type { Command, EngineEvent, SiloCloseOrder } from '../../src/engine/types.ts';
import { BTCUSD, BTCUSDT, ETHUSDT, engineWithMarkets, ok, rejected, t } from './harness.ts';

const TIMEOUT = { timeout: 20_000 };
const usdt = (v: string) => parseDecimal(v, 'v', { dp: 8, signed: true });

/** Marks, a deep maker (1x isolated on both markets), an insurance fund, and a trader with money in main. */
function venue(traderMain = '10000'): Engine {
  const e = engineWithMarkets(BTCUSDT, ETHUSDT, BTCUSD);
  ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
  ok(e, { type: 'setMarkPrice', symbol: 'ETHUSDT', price: '2000' });
  ok(e, { type: 'deposit', account: 'mm', asset: 'USDT', amount: '1000000' });
  ok(e, { type: 'setLeverage', account: 'mm', symbol: 'BTCUSDT', leverage: '1' });
  ok(e, { type: 'setLeverage', account: 'mm', symbol: 'ETHUSDT', leverage: '1' });
  ok(e, { type: 'fundInsurance', asset: 'USDT', amount: '100000' });
  ok(e, { type: 'deposit', account: 'tr', asset: 'USDT', amount: traderMain });
  return e;
}

/** The maker rests the other side, the trader takes it from `silo`. */
function trade(e: Engine, silo: string, symbol: string, side: 'buy' | 'sell', size: string, price: string) {
  ok(e, {
    type: 'placeOrder',
    account: 'mm',
    symbol,
    side: side === 'buy' ? 'sell' : 'buy',
    orderType: 'limit',
    size,
    price,
  });
  return ok(e, { type: 'placeOrder', account: 'tr', symbol, side, orderType: 'limit', size, price, silo });
}

function leg(e: Engine, silo: string, symbol: string) {
  return e.accounts.get('tr')!.positions.get(`${silo}/${symbol}`);
}

function mainOf(e: Engine, account = 'tr'): bigint {
  return e.accounts.get(account)!.wallets.get('USDT')!.main.balance;
}

function liquidations(events: EngineEvent[]) {
  return events.filter((ev) => ev.type === 'liquidationStarted' || ev.type === 'liquidation');
}

/** Long 1 BTC at 20,000 and short 10 ETH at 2,000 (50x each: 400 initial margin a leg, 10 taker fee a leg). */
function openPair(e: Engine, btcSilo: string, ethSilo: string) {
  ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: btcSilo });
  ok(e, { type: 'setLeverage', account: 'tr', symbol: 'ETHUSDT', leverage: '50', silo: ethSilo });
  trade(e, btcSilo, 'BTCUSDT', 'buy', '1', '20000');
  trade(e, ethSilo, 'ETHUSDT', 'sell', '10', '2000');
}

/** BTC and ETH fall 10% together, a 1% step at a time (BTC first, then ETH). Returns every event. */
function jointFall(e: Engine, time = t() + 1_000): EngineEvent[] {
  const events: EngineEvent[] = [];
  const apply = (cmd: Command) => {
    const r = e.apply(cmd);
    assert.ok(r.ok, r.ok ? '' : r.message);
    events.push(...r.events);
  };
  for (let i = 1; i <= 10; i++) {
    apply({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: String(20000 - 200 * i), time: time + 2 * i });
    apply({ type: 'setMarkPrice', symbol: 'ETHUSDT', price: String(2000 - 20 * i), time: time + 2 * i + 1 });
  }
  return events;
}

describe('named silos', () => {
  test(
    'a BTC/ETH pair (long BTC, short ETH, rho 0.8) in one netted silo of 500 opens on 200 of netted initial margin and rides out a joint 10% fall',
    TIMEOUT,
    () => {
      const e = venue();
      ok(e, { type: 'setNetting', correlations: [{ a: 'BTC', b: 'ETH', rho: '0.8' }] });
      ok(e, { type: 'createSilo', account: 'tr', silo: 'pair', asset: 'USDT', riskModel: 'netted' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'pair', amount: '500' });
      const mainBefore = mainOf(e);
      openPair(e, 'pair', 'pair');
      const [view] = silosOf(e, 'tr').filter((s) => s.id === 'pair');
      // Each leg alone needs 400 (IM) and 90 (MM: 0.4% of notional + the closing fee); the worst joint scenario costs
      // 0.4 of a leg, the floor 0.25 of the sum.
      assert.equal(view!.standaloneInitialMargin, usdt('800'));
      assert.equal(view!.initialMargin, usdt('200'));
      assert.equal(view!.standaloneMaintenanceMargin, usdt('180'));
      assert.equal(view!.maintenanceMargin, usdt('45'));
      assert.equal(view!.collateral, usdt('480'), 'two taker fees of 10 came out of the silo');
      const events = jointFall(e);
      assert.deepEqual(liquidations(events), [], 'the hedge carries the silo');
      assert.equal(leg(e, 'pair', 'BTCUSDT')!.lots, 1000);
      assert.equal(leg(e, 'pair', 'ETHUSDT')!.lots, 1000);
      const [after] = silosOf(e, 'tr').filter((s) => s.id === 'pair');
      assert.equal(after!.equity, usdt('480'), 'the long lost 2,000, the short gained 2,000');
      assert.equal(mainOf(e), mainBefore, 'main never moved');
    },
  );

  test(
    'when the hedge breaks (BTC down, ETH up) the netted silo is liquidated leg by leg, and its loss stops at the silo: main untouched',
    TIMEOUT,
    () => {
      const e = venue();
      ok(e, { type: 'setNetting', correlations: [{ a: 'BTC', b: 'ETH', rho: '0.8' }] });
      ok(e, { type: 'createSilo', account: 'tr', silo: 'pair', asset: 'USDT', riskModel: 'netted' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'pair', amount: '500' });
      openPair(e, 'pair', 'pair');
      const main = mainOf(e);
      // 480 of equity: −200 and −200 leave 80 above a netted maintenance of ~45; another −100 on BTC breaks it.
      const quiet = [
        ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19800' }),
        ok(e, { type: 'setMarkPrice', symbol: 'ETHUSDT', price: '2020' }),
      ];
      for (const r of quiet) assert.deepEqual(liquidations(r.events), []);
      const r = ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19700' });
      const started = r.events.filter((ev) => ev.type === 'liquidationStarted');
      assert.equal(started.length, 1);
      assert.ok(started[0]!.type === 'liquidationStarted' && started[0]!.silo === 'pair');
      assert.equal(leg(e, 'pair', 'BTCUSDT')!.sign, 0);
      assert.equal(leg(e, 'pair', 'ETHUSDT')!.sign, 0);
      assert.equal(mainOf(e), main, 'main paid nothing');
      assert.ok(e.ledger.verify().ok);
    },
  );

  test(
    'the same pair with the same 500 in a standalone silo is refused its second leg (800 of initial margin)',
    TIMEOUT,
    () => {
      const e = venue();
      ok(e, { type: 'createSilo', account: 'tr', silo: 'pair', asset: 'USDT', riskModel: 'standalone' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'pair', amount: '500' });
      ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'pair' });
      ok(e, { type: 'setLeverage', account: 'tr', symbol: 'ETHUSDT', leverage: '50', silo: 'pair' });
      trade(e, 'pair', 'BTCUSDT', 'buy', '1', '20000');
      ok(e, {
        type: 'placeOrder',
        account: 'mm',
        symbol: 'ETHUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '10',
        price: '2000',
      });
      rejected(
        e,
        {
          type: 'placeOrder',
          account: 'tr',
          symbol: 'ETHUSDT',
          side: 'sell',
          orderType: 'limit',
          size: '10',
          price: '2000',
          silo: 'pair',
        },
        'INSUFFICIENT_MARGIN',
      );
    },
  );

  test(
    'the same pair in two standalone silos of 500 each: the joint fall liquidates the BTC silo; the ETH silo and main are untouched',
    TIMEOUT,
    () => {
      const e = venue();
      ok(e, { type: 'createSilo', account: 'tr', silo: 'btc', asset: 'USDT', riskModel: 'standalone' });
      ok(e, { type: 'createSilo', account: 'tr', silo: 'eth', asset: 'USDT', riskModel: 'standalone' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'btc', amount: '500' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'eth', amount: '500' });
      openPair(e, 'btc', 'eth');
      const mainBefore = mainOf(e);
      const ethBucket = e.accounts.get('tr')!.silos.get('eth')!.bucket;
      const ethBefore = ethBucket.balance;
      const events = jointFall(e);
      const started = events.filter((ev) => ev.type === 'liquidationStarted');
      assert.equal(started.length, 1);
      assert.equal(started[0]!.type === 'liquidationStarted' && started[0]!.silo, 'btc');
      // 490 of equity against ~90 of maintenance: the long fails near 19,600, which the fall of 200 a step reaches.
      assert.equal(leg(e, 'btc', 'BTCUSDT')!.sign, 0, 'the BTC leg is gone');
      assert.equal(leg(e, 'eth', 'ETHUSDT')!.lots, 1000, 'the ETH leg stays');
      assert.equal(ethBucket.balance, ethBefore, 'the ETH silo paid nothing');
      assert.equal(mainOf(e), mainBefore, "the owner's main paid nothing");
      for (const ev of events)
        if (ev.type === 'transfer') {
          assert.ok(
            !ev.from.startsWith('tr:main') && !ev.to.startsWith('tr:main'),
            `main moved: ${JSON.stringify(ev, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`,
          );
          assert.ok(!ev.from.startsWith('tr:silo:eth'), 'the ETH silo paid');
        }
    },
  );

  test(
    'hedge mode: long and short 1 BTC in two silos of 500 each keep their own liquidation prices; a fall to 19,500 liquidates the long only',
    TIMEOUT,
    () => {
      const e = venue();
      ok(e, { type: 'createSilo', account: 'tr', silo: 'L', asset: 'USDT', riskModel: 'standalone' });
      ok(e, { type: 'createSilo', account: 'tr', silo: 'S', asset: 'USDT', riskModel: 'standalone' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'L', amount: '500' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'S', amount: '500' });
      ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'L' });
      ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'S' });
      trade(e, 'L', 'BTCUSDT', 'buy', '1', '20000');
      trade(e, 'S', 'BTCUSDT', 'sell', '1', '20000');
      assert.equal(leg(e, 'L', 'BTCUSDT')!.sign, 1);
      assert.equal(leg(e, 'S', 'BTCUSDT')!.sign, -1);
      const views = new Map(silosOf(e, 'tr').map((s) => [s.id, s]));
      const lpLong = views.get('L')!.liquidationPrices.BTCUSDT!;
      const lpShort = views.get('S')!.liquidationPrices.BTCUSDT!;
      // 490 of equity, maintenance 0.4% of notional plus the closing fee: the long fails near 19,598, the short near 20,400.
      assert.ok(lpLong > usdt('19590') && lpLong < usdt('19600'), `long ${lpLong}`);
      assert.ok(lpShort > usdt('20390') && lpShort < usdt('20410'), `short ${lpShort}`);
      const r = ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19500' });
      const started = r.events.filter((ev) => ev.type === 'liquidationStarted');
      assert.equal(started.length, 1);
      assert.ok(started[0]!.type === 'liquidationStarted' && started[0]!.silo === 'L');
      assert.equal(leg(e, 'L', 'BTCUSDT')!.sign, 0);
      assert.equal(leg(e, 'S', 'BTCUSDT')!.lots, 1000, 'the short is not touched');
    },
  );

  test(
    'transferCollateral: a silo gives back at most equity − initial margin; refusals (unknown silo, closeSilo with a leg or an order open, asset mismatch) change nothing',
    TIMEOUT,
    () => {
      const e = venue();
      rejected(
        e,
        { type: 'transferCollateral', account: 'tr', from: 'free', to: 'nope', amount: '1' },
        'UNKNOWN_SILO',
      );
      rejected(e, { type: 'closeSilo', account: 'tr', silo: 'nope' }, 'UNKNOWN_SILO');
      rejected(
        e,
        { type: 'createSilo', account: 'tr', silo: 'bad id', asset: 'USDT', riskModel: 'netted' },
        'INVALID_COMMAND',
      );
      // "free" is what transferCollateral calls the free balance: no silo may take that name.
      rejected(
        e,
        { type: 'createSilo', account: 'tr', silo: 'free', asset: 'USDT', riskModel: 'netted' },
        'INVALID_COMMAND',
      );
      rejected(
        e,
        { type: 'createSilo', account: 'tr', silo: 's', asset: 'DOGE', riskModel: 'netted' },
        'UNKNOWN_ASSET',
      );
      ok(e, { type: 'createSilo', account: 'tr', silo: 's', asset: 'USDT', riskModel: 'standalone' });
      rejected(
        e,
        { type: 'createSilo', account: 'tr', silo: 's', asset: 'USDT', riskModel: 'netted' },
        'SILO_EXISTS',
      );
      rejected(
        e,
        { type: 'transferCollateral', account: 'tr', from: 'free', to: 's', amount: '10000.00000001' },
        'INSUFFICIENT_BALANCE',
      );
      rejected(
        e,
        { type: 'transferCollateral', account: 'tr', from: 'free', to: 's', asset: 'BTC', amount: '1' },
        'ASSET_MISMATCH',
      );
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 's', amount: '500' });
      rejected(
        e,
        {
          type: 'placeOrder',
          account: 'tr',
          symbol: 'BTCUSD',
          side: 'buy',
          orderType: 'limit',
          size: '1',
          price: '20000',
          silo: 's',
        },
        'ASSET_MISMATCH',
      );
      ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 's' });
      trade(e, 's', 'BTCUSDT', 'buy', '1', '20000');
      // Bucket 490 after the fee; initial margin 400 at the mark: 90 may leave, not a unit more.
      rejected(
        e,
        { type: 'transferCollateral', account: 'tr', from: 's', to: 'free', amount: '90.00000001' },
        'INSUFFICIENT_MARGIN',
      );
      rejected(e, { type: 'closeSilo', account: 'tr', silo: 's' }, 'POSITION_OPEN');
      const mainBefore = mainOf(e);
      ok(e, { type: 'transferCollateral', account: 'tr', from: 's', to: 'free', amount: '90' });
      assert.equal(mainOf(e), mainBefore + usdt('90'));
      // Close the leg (sell back at 20,000), rest an order, then closeSilo is refused until it is canceled.
      trade(e, 's', 'BTCUSDT', 'sell', '1', '20000');
      assert.equal(leg(e, 's', 'BTCUSDT')!.sign, 0);
      const placed = ok(e, {
        type: 'placeOrder',
        account: 'tr',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '0.1',
        price: '19000',
        silo: 's',
      });
      rejected(e, { type: 'closeSilo', account: 'tr', silo: 's' }, 'POSITION_OPEN');
      ok(e, { type: 'cancelOrder', account: 'tr', symbol: 'BTCUSDT', orderId: placed.orderId! });
      const left = e.accounts.get('tr')!.silos.get('s')!.bucket.balance;
      const main = mainOf(e);
      const r = ok(e, { type: 'closeSilo', account: 'tr', silo: 's' });
      assert.ok(r.events.some((ev) => ev.type === 'siloClosed'));
      assert.equal(mainOf(e), main + left, 'what was left in the silo went home');
      assert.equal(e.accounts.get('tr')!.silos.size, 0);
      assert.ok(e.ledger.verify().ok);
      // The id is free again, and a fresh silo of that id starts empty.
      ok(e, { type: 'createSilo', account: 'tr', silo: 's', asset: 'USDT', riskModel: 'netted' });
      assert.equal(e.accounts.get('tr')!.silos.get('s')!.bucket.balance, 0n);
    },
  );

  test(
    "a gap through a silo's bankruptcy price: long 1 BTC (50x, 490 left in the silo) and the mark jumps from 20,000 to 18,000 with no bids — the backstop takes the leg at ~19,510, the silo is emptied, main untouched",
    TIMEOUT,
    () => {
      const e = venue();
      ok(e, { type: 'createSilo', account: 'tr', silo: 'g', asset: 'USDT', riskModel: 'netted' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'g', amount: '500' });
      const lev = ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'g' });
      assert.ok(
        lev.events.some((ev) => ev.type === 'leverageSet' && ev.silo === 'g'),
        'the event names the silo',
      );
      trade(e, 'g', 'BTCUSDT', 'buy', '1', '20000');
      const main = mainOf(e);
      const r = ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '18000' });
      const stages = r.events.filter((ev) => ev.type === 'liquidation');
      assert.equal(stages.length, 1);
      const st = stages[0]!;
      assert.ok(st.type === 'liquidation' && st.stage === 'backstop' && st.silo === 'g');
      assert.ok(
        st.type === 'liquidation' && st.price >= usdt('19500') && st.price <= usdt('19520'),
        'at the bankruptcy price',
      );
      assert.equal(leg(e, 'g', 'BTCUSDT')!.sign, 0);
      assert.equal(
        e.accounts.get('@insurance')!.positions.get('BTCUSDT')!.lots,
        1000,
        'the backstop holds the long',
      );
      assert.ok(e.accounts.get('tr')!.silos.get('g')!.bucket.balance < usdt('1'), 'the silo paid its loss');
      assert.equal(mainOf(e), main, 'main paid nothing');
      assert.ok(e.ledger.verify().ok);
    },
  );

  test(
    'a snapshot of silos with legs and resting orders restores to the same state hash and behaves the same',
    TIMEOUT,
    () => {
      const e = venue();
      ok(e, { type: 'setNetting', correlations: [{ a: 'BTC', b: 'ETH', rho: '0.8' }] });
      ok(e, { type: 'createSilo', account: 'tr', silo: 'pair', asset: 'USDT', riskModel: 'netted' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'pair', amount: '500' });
      openPair(e, 'pair', 'pair');
      ok(e, {
        type: 'placeOrder',
        account: 'tr',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '0.01',
        price: '19000',
        silo: 'pair',
      });
      const copy = restoreEngine(snapshotEngine(e));
      assert.equal(stateHash(copy), stateHash(e));
      const time = t() + 1_000;
      const a = jointFall(e, time);
      const b = jointFall(copy, time);
      assert.deepEqual(b, a);
      assert.equal(stateHash(copy), stateHash(e));
    },
  );

  describe('close order of a liquidated silo', () => {
    /**
     * A standalone silo of 600 (588 after two taker fees): long 1 BTC at 20,000 and long 2 ETH at 2,000, both 50x.
     * ETH falls to 1,800 (−400, the silo still healthy at 188 against ~108), then BTC to 19,900 (−100): 88 of equity
     * against ~90 (BTC) + ~18 (ETH) of maintenance. BTC has the larger requirement, ETH the larger loss.
     * Returns the symbols of the liquidation stages, in order.
     */
    function twoLosingLegs(closeOrder?: SiloCloseOrder): string[] {
      const e = venue();
      ok(e, {
        type: 'createSilo',
        account: 'tr',
        silo: 'two',
        asset: 'USDT',
        riskModel: 'standalone',
        ...(closeOrder !== undefined ? { closeOrder } : {}),
      });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'two', amount: '600' });
      ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'two' });
      ok(e, { type: 'setLeverage', account: 'tr', symbol: 'ETHUSDT', leverage: '50', silo: 'two' });
      trade(e, 'two', 'BTCUSDT', 'buy', '1', '20000');
      trade(e, 'two', 'ETHUSDT', 'buy', '2', '2000');
      const quiet = ok(e, { type: 'setMarkPrice', symbol: 'ETHUSDT', price: '1800' });
      assert.deepEqual(liquidations(quiet.events), [], 'a loss of 400 leaves the silo healthy');
      const r = ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19900' });
      assert.ok(r.events.some((ev) => ev.type === 'liquidationStarted' && ev.silo === 'two'));
      assert.ok(e.ledger.verify().ok);
      return r.events.flatMap((ev) => (ev.type === 'liquidation' ? [ev.symbol] : []));
    }

    test(
      'two losing legs (BTC: maintenance ~90, loss 100; ETH: maintenance ~18, loss 400): largestRequirement closes BTC first, largestLoss closes ETH first',
      TIMEOUT,
      () => {
        const byDefault = twoLosingLegs();
        assert.equal(byDefault[0], 'BTCUSDT', 'the default: the largest maintenance first');
        assert.deepEqual(twoLosingLegs('largestRequirement'), byDefault, 'the default, named');
        const byLoss = twoLosingLegs('largestLoss');
        assert.equal(byLoss[0], 'ETHUSDT', 'the most negative unrealized PnL first');
        assert.ok(
          byLoss.includes('BTCUSDT'),
          'closing ETH alone (at most 88 left against ~90) is not enough: BTC follows',
        );
      },
    );

    test(
      'createSilo with closeOrder "smallestFirst" is refused INVALID_COMMAND naming the field, and changes nothing',
      TIMEOUT,
      () => {
        const e = venue();
        const bad = {
          type: 'createSilo',
          account: 'tr',
          silo: 's',
          asset: 'USDT',
          riskModel: 'standalone',
          closeOrder: 'smallestFirst' as SiloCloseOrder,
        } as const;
        rejected(e, bad, 'INVALID_COMMAND');
        const r = e.apply({ ...bad, time: t() });
        assert.ok(!r.ok && r.message.includes('closeOrder'), 'the message names the field');
        assert.equal(e.accounts.get('tr')!.silos.size, 0);
        const r2 = ok(e, { ...bad, closeOrder: 'largestLoss' });
        assert.deepEqual(
          r2.events.find((ev) => ev.type === 'siloCreated'),
          {
            type: 'siloCreated',
            account: 'tr',
            silo: 's',
            asset: 'USDT',
            riskModel: 'standalone',
            closeOrder: 'largestLoss',
          },
        );
        const d = ok(e, { ...bad, silo: 'd', closeOrder: undefined });
        const created = d.events.find((ev) => ev.type === 'siloCreated');
        assert.ok(created && !('closeOrder' in created), 'the default is left out of the event');
        const views = new Map(silosOf(e, 'tr').map((v) => [v.id, v.closeOrder]));
        assert.deepEqual(
          [views.get('s'), views.get('d'), views.get('cross:USDT')],
          ['largestLoss', 'largestRequirement', 'largestRequirement'],
        );
      },
    );

    test(
      'a snapshot keeps each silo’s close order: mostRiskPerUnit and largestLoss restore as chosen, the default stays out of the row',
      TIMEOUT,
      () => {
        const e = venue();
        ok(e, { type: 'setNetting', correlations: [{ a: 'BTC', b: 'ETH', rho: '0.8' }] });
        ok(e, {
          type: 'createSilo',
          account: 'tr',
          silo: 'r',
          asset: 'USDT',
          riskModel: 'netted',
          closeOrder: 'mostRiskPerUnit',
        });
        ok(e, {
          type: 'createSilo',
          account: 'tr',
          silo: 'l',
          asset: 'USDT',
          riskModel: 'standalone',
          closeOrder: 'largestLoss',
        });
        ok(e, { type: 'createSilo', account: 'tr', silo: 'd', asset: 'USDT', riskModel: 'standalone' });
        ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: 'r', amount: '500' });
        openPair(e, 'r', 'r');
        const bytes = snapshotEngine(e);
        const copy = restoreEngine(bytes);
        const unpackr = new Unpackr({ useRecords: false, int64AsType: 'bigint', useBigIntExtension: true });
        const { accounts } = unpackr.unpack(bytes) as { accounts: { id: string; silos?: unknown[][] }[] };
        const rows = accounts.find((a) => a.id === 'tr')!.silos!;
        assert.deepEqual(
          rows.map((row) => [row[0], row.length, row[7]]),
          [
            ['r', 8, 'mostRiskPerUnit'],
            ['l', 8, 'largestLoss'],
            ['d', 5, undefined],
          ],
          'a default silo is stored as before',
        );
        assert.equal(stateHash(copy), stateHash(e));
        const silos = copy.accounts.get('tr')!.silos;
        assert.deepEqual(
          [...silos.values()].map((s) => [s.id, s.closeOrder]),
          [
            ['r', 'mostRiskPerUnit'],
            ['l', 'largestLoss'],
            ['d', 'largestRequirement'],
          ],
        );
        // The hash sees the choice: the same commands with the default give another hash.
        const plain = venue();
        ok(plain, { type: 'createSilo', account: 'tr', silo: 'd', asset: 'USDT', riskModel: 'standalone' });
        const chosen = venue();
        ok(chosen, {
          type: 'createSilo',
          account: 'tr',
          silo: 'd',
          asset: 'USDT',
          riskModel: 'standalone',
          closeOrder: 'largestLoss',
        });
        assert.notEqual(stateHash(chosen), stateHash(plain));
        const time = t() + 1_000;
        assert.deepEqual(jointFall(copy, time), jointFall(e, time), 'and it behaves the same');
        assert.equal(stateHash(copy), stateHash(e));
      },
    );
  });
});
