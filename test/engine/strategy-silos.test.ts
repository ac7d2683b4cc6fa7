/**
 * Strategy silos (issue 18) as stories: a named silo under `maxLoss`, `strategy` or `scenario` is margined on its
 * strategy's real risk (core strategyMargin over its legs), closes a leg only when it can carry what is left, is
 * liquidated as a whole, settles an expiry's legs together, and keeps its parameters (setStrategyMargin) through
 * snapshots and the state hash. The venue: strategy-silos-kit.ts (no fees; BTC 100,000, IV 60%, 7 days).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_STRATEGY_MARGIN } from '../../src/core/strategy/index.ts';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { siloAvailable } from '../../src/engine/silos.ts';
import { restoreEngine, snapshotEngine } from '../../src/engine/snapshot.ts';
import type { Command } from '../../src/engine/types.ts';
import { BTCUSDT, type Cmd } from './harness.ts';
import { EXPIRY, fmt, leg, option, PERP, STRATEGIES, usdt, Venue, WINDOW_MS } from './strategy-silos-kit.ts';

const T = { timeout: 60_000 };

/** Alice's credit call spread (short 100k, long 110k) in a `model` silo holding exactly its max loss. */
function fundedSpread(model: 'maxLoss' | 'strategy' | 'scenario' = 'maxLoss'): { v: Venue; maxLoss: bigint } {
  const v = new Venue();
  v.createSilo(model, '30000');
  v.open(STRATEGIES.creditCallSpread);
  const maxLoss = v.read().maxLoss!;
  v.fundTo(maxLoss);
  return { v, maxLoss };
}

describe('strategy silos: the models margin a silo on its strategy', T, () => {
  test(
    'createSilo takes maxLoss, strategy and scenario (siloCreated unchanged in shape); an unknown model is refused INVALID_COMMAND',
    T,
    () => {
      const v = new Venue();
      for (const model of ['maxLoss', 'strategy', 'scenario'] as const) {
        const r = v.ok({
          type: 'createSilo',
          account: 'alice',
          silo: model,
          asset: 'USDT',
          riskModel: model,
        });
        assert.deepEqual(r.events, [
          { type: 'siloCreated', account: 'alice', silo: model, asset: 'USDT', riskModel: model },
        ]);
      }
      const msg = v.refused(
        { type: 'createSilo', account: 'alice', silo: 'x', asset: 'USDT', riskModel: 'portfolio' as never },
        'INVALID_COMMAND',
      );
      assert.match(msg, /maxLoss, strategy, scenario/);
    },
  );

  test(
    'short 100k / long 110k BTC call spread in a maxLoss silo: initial margin = maintenance = max loss = 10,000 − the credit, far below the legs alone',
    T,
    () => {
      const v = new Venue();
      v.createSilo('maxLoss', '30000');
      v.open(STRATEGIES.creditCallSpread);
      const r = v.read();
      const credit =
        usdt(v.read().legs.find((l) => l.symbol === option(100_000, 'C'))!.entryPrice!) -
        usdt(r.legs.find((l) => l.symbol === option(110_000, 'C'))!.entryPrice!);
      assert.equal(r.maxLoss, usdt('10000') - credit);
      assert.equal(r.initialMargin, r.maxLoss);
      assert.equal(r.maintenanceMargin, r.maxLoss);
      assert.ok(r.standaloneInitialMargin > 2n * r.initialMargin, 'the naked short alone needs far more');
      assert.equal(r.strategy, 'vertical');
      assert.equal(r.strategies[0]!.direction, 'credit');
      assert.deepEqual(
        r.strategies[0]!.legs.map((l) => l.symbol).sort(),
        [option(100_000, 'C'), option(110_000, 'C')].sort(),
      );
      assert.deepEqual(r.worst?.kind, 'price');
    },
  );

  test(
    'the same iron condor under each model: all need its max loss (the scenario grid asks more, capped there: its worst case the settlement price), none more than standalone',
    T,
    () => {
      for (const model of ['maxLoss', 'strategy', 'scenario'] as const) {
        const v = new Venue();
        v.createSilo(model, '60000');
        v.open(STRATEGIES.ironCondor);
        const r = v.read();
        assert.equal(r.strategy, 'ironCondor', model);
        assert.ok(r.maxLoss !== null && r.maxLoss > 0n);
        assert.equal(r.initialMargin, r.maxLoss, model);
        if (model === 'scenario') assert.equal(r.worst?.kind, 'price');
        assert.ok(r.initialMargin <= r.standaloneInitialMargin, model);
        assert.equal(r.liquidationPrices[option(95_000, 'P')], null);
      }
    },
  );

  test(
    'a spread funded with exactly its max loss gives nothing more back: transferring out one more cent is refused',
    T,
    () => {
      const { v, maxLoss } = fundedSpread();
      assert.equal(v.silo().bucket.balance, maxLoss);
      assert.equal(v.read().maxRemovable, 0n);
      v.refused(
        { type: 'transferCollateral', account: 'alice', from: 'box', to: 'free', amount: '0.01' },
        'INSUFFICIENT_MARGIN',
      );
    },
  );
});

describe('strategy silos: closing a leg', T, () => {
  test(
    'closing the long 110k call of a spread funded with its max loss would leave a naked call: CLOSE_RAISES_REQUIREMENT naming the leg and both figures, nothing changes',
    T,
    () => {
      const { v, maxLoss } = fundedSpread();
      const long = option(110_000, 'C');
      const msg = v.refused(
        {
          type: 'placeOrder',
          account: 'alice',
          symbol: long,
          side: 'sell',
          orderType: 'limit',
          price: v.quote(long, 'sell'),
          size: '1',
          silo: 'box',
        },
        'CLOSE_RAISES_REQUIREMENT',
      );
      assert.match(msg, new RegExp(long));
      assert.match(msg, new RegExp(`from ${fmt(maxLoss).replace('.', '\\.')} USDT`));
      // Reduce-only is no way around it.
      v.refused(
        {
          type: 'placeOrder',
          account: 'alice',
          symbol: long,
          side: 'sell',
          orderType: 'market',
          size: '1',
          reduceOnly: true,
          silo: 'box',
        },
        'CLOSE_RAISES_REQUIREMENT',
      );
    },
  );

  test(
    'closing the short leg first, then the long one, is accepted (each close lowers the requirement)',
    T,
    () => {
      const { v } = fundedSpread();
      const short = v.take(leg('buy', 100_000, 'C'));
      assert.ok(short.ok, short.ok ? '' : short.message);
      assert.ok(v.read().initialMargin < v.silo().bucket.balance);
      const r = v.take(leg('sell', 110_000, 'C'));
      assert.ok(r.ok, r.ok ? '' : r.message);
      assert.equal(v.read().legs.length, 0);
    },
  );

  test(
    'a resting close that became unsafe is cancelled when it would fill (marginCheck), not filled',
    T,
    () => {
      const v = new Venue();
      v.createSilo('maxLoss', '30000');
      v.open(STRATEGIES.creditCallSpread);
      const long = option(110_000, 'C');
      // While the silo holds plenty, Alice rests an order to sell her long call 10 above the mark...
      const price = v.offMark(long, 100);
      const placed = v.ok({
        type: 'placeOrder',
        account: 'alice',
        symbol: long,
        side: 'sell',
        orderType: 'limit',
        price,
        size: '1',
        silo: 'box',
      });
      // ...then takes the surplus out (a close reserves nothing), leaving exactly the spread's max loss.
      v.fundTo(v.read().maxLoss!);
      const r = v.ok({
        type: 'placeOrder',
        account: 'mm',
        symbol: long,
        side: 'buy',
        orderType: 'limit',
        price,
        size: '1',
        timeInForce: 'IOC',
      });
      assert.ok(!r.events.some((ev) => ev.type === 'trade'), 'no fill');
      assert.ok(
        r.events.some(
          (ev) => ev.type === 'orderCanceled' && ev.orderId === placed.orderId && ev.reason === 'marginCheck',
        ),
        JSON.stringify(r.events.map((ev) => ev.type)),
      );
      assert.equal(v.silo().positions.get(long)!.lots, 100);
    },
  );

  test(
    'an order that does not raise the requirement is never refused for margin: buying back part of a naked call in a silo already short of margin',
    T,
    () => {
      const v = new Venue();
      v.createSilo('maxLoss', '30000');
      const call = option(110_000, 'C');
      v.open([leg('sell', 110_000, 'C', '2')]);
      v.fundTo(v.read().initialMargin);
      v.spot('104000');
      assert.ok(siloAvailable(v.e, v.silo()) < 0n, 'the calls rose against Alice: nothing available');
      const back = v.take({ symbol: call, side: 'buy', size: '1' });
      assert.ok(back.ok, back.ok ? '' : `${back.code} ${back.message}`);
    },
  );
});

describe('strategy silos: liquidation', T, () => {
  test(
    'a short strangle in a strategy silo is liquidated as a whole (both legs to the backstop in one command) without touching the free balance or another silo',
    T,
    () => {
      const v = new Venue();
      v.createSilo('maxLoss', '30000', 'other');
      v.open(STRATEGIES.creditCallSpread, 'other');
      v.createSilo('strategy', '40000');
      v.open(STRATEGIES.shortStrangle);
      v.fundTo(v.read().initialMargin);
      const free = v.free();
      const other = v.silo('other').bucket.balance;
      const fund = v.e.insuranceFund('USDT');
      let hit = null;
      for (const spot of ['104000', '108000', '112000', '116000', '120000', '124000', '128000']) {
        const r = v.spot(spot);
        if (r.events.some((ev) => ev.type === 'liquidationStarted')) {
          hit = r;
          break;
        }
      }
      assert.ok(hit, 'the strangle was liquidated');
      const stages = hit.events.filter((ev) => ev.type === 'liquidation');
      assert.deepEqual(
        stages.map((ev) => ev.type === 'liquidation' && [ev.symbol, ev.stage, ev.silo, ev.remaining]).sort(),
        [
          [option(110_000, 'C'), 'backstop', 'box', 0n],
          [option(90_000, 'P'), 'backstop', 'box', 0n],
        ].sort(),
      );
      assert.equal(v.read().legs.length, 0, 'no leg left behind: never unpaired');
      assert.equal(v.free(), free, 'the free balance is untouched');
      assert.equal(v.silo('other').bucket.balance, other, 'the other silo is untouched');
      assert.equal(v.silo('other').positions.get(option(100_000, 'C'))!.lots, 100);
      // The fund gained the fees, and paid at most what the silo could not.
      const draws = hit.events.filter((ev) => ev.type === 'insuranceDraw');
      for (const d of draws) assert.equal(d.type === 'insuranceDraw' && d.silo, 'box');
      assert.ok(
        v.e.insuranceFund('USDT') >=
          fund - draws.reduce((s, d) => s + (d.type === 'insuranceDraw' ? d.amount : 0n), 0n),
      );
    },
  );

  test(
    'whole-silo liquidation pays the gains first: a crashed bull put spread with a naked call draws nothing from the fund while the silo can pay',
    T,
    () => {
      const v = new Venue();
      v.createSilo('strategy', '40000');
      v.open([...STRATEGIES.creditPutSpread, leg('sell', 105_000, 'C')]);
      v.fundTo(v.read().initialMargin);
      let liquidated = false;
      for (let s = 101_000; s <= 140_000 && !liquidated; s += 1_000) {
        const r = v.spot(String(s));
        liquidated = r.events.some((ev) => ev.type === 'liquidationStarted');
        if (liquidated) {
          const closed = r.events
            .filter((ev) => ev.type === 'liquidation')
            .map((ev) => ev.type === 'liquidation' && ev.symbol);
          assert.equal(closed.length, 3, 'every leg in the same step');
          assert.ok(!r.events.some((ev) => ev.type === 'insuranceDraw'), 'caught at maintenance: no draw');
        }
      }
      assert.ok(liquidated);
      assert.equal(v.read().legs.length, 0);
    },
  );

  test(
    'a covered call whose cover is a perpetual that does not drive the options: the engine re-checks it at the first mark of that perpetual that breaks it',
    T,
    () => {
      const v = new Venue();
      // A second BTC perpetual: the options' forward is BTCUSDT's mark, so only this market's mark moves the cover.
      const perp2 = { ...BTCUSDT, symbol: 'BTCPERP2', takerFee: '0', makerFee: '0' };
      v.ok({ type: 'createMarket', market: perp2 });
      v.ok({ type: 'setMarkPrice', symbol: 'BTCPERP2', price: '100000' });
      v.ok({ type: 'setMarginMode', account: 'mm', symbol: 'BTCPERP2', mode: 'cross' });
      v.createSilo('strategy', '30000');
      v.open([{ symbol: 'BTCPERP2', side: 'buy', size: '1' }, leg('sell', 110_000, 'C')]);
      assert.equal(v.read().strategy, 'coveredCall');
      v.fundTo(v.read().initialMargin);
      let first: number | null = null;
      for (let price = 99_000; price > 50_000; price -= 1_000) {
        const r = v.ok({ type: 'setMarkPrice', symbol: 'BTCPERP2', price: String(price) });
        const started = r.events.some((ev) => ev.type === 'liquidationStarted' && ev.account === 'alice');
        if (started) {
          first = price;
          break;
        }
        const s = v.read();
        assert.ok(s.equity >= s.maintenanceMargin, `left below maintenance at ${price}`);
      }
      assert.ok(first !== null, 'liquidated on the cover’s own marks');
      assert.equal(v.read().legs.length, 0);
    },
  );
});

describe('strategy silos: expiry', T, () => {
  test(
    'expiry settles every leg of the expiry together: a spread funded with its max loss, settling above both strikes, loses exactly its max loss and draws nothing',
    T,
    () => {
      const { v, maxLoss } = fundedSpread();
      const fund = v.e.insuranceFund('USDT');
      // Held above both strikes through the settlement window, then past expiry.
      v.spot('120000', EXPIRY - WINDOW_MS - 60_000 - v.now);
      v.vol('0.6');
      const r = v.ok({ type: 'tick' }, EXPIRY + 1_000 - v.now);
      assert.equal(r.events.filter((ev) => ev.type === 'marketSettled').length, 14);
      assert.ok(!r.events.some((ev) => ev.type === 'insuranceDraw' || ev.type === 'liquidationStarted'));
      assert.equal(v.silo().bucket.balance, 0n, 'the silo paid its max loss, to the unit');
      assert.equal(v.e.insuranceFund('USDT'), fund);
      assert.ok(maxLoss > 0n);
    },
  );
});

describe('strategy silos: parameters, snapshots, the hash', T, () => {
  test(
    'setStrategyMargin refuses an unknown field or a bad value by name and changes nothing; a valid change re-prices a naked call under maxLoss',
    T,
    () => {
      const v = new Venue();
      v.createSilo('maxLoss', '40000');
      v.open([leg('sell', 110_000, 'C')]);
      assert.match(
        v.refused({ type: 'setStrategyMargin', params: { unpaired: '1.5' } }, 'INVALID_COMMAND'),
        /params\.unpaired/,
      );
      assert.match(
        v.refused({ type: 'setStrategyMargin', params: { unpairedIMScale: '9' } }, 'INVALID_COMMAND'),
        /unpairedIMScale/,
      );
      const before = v.read().initialMargin;
      const hash = stateHash(v.e);
      v.ok({ type: 'setStrategyMargin', params: { unpairedIMScale: '1.5' } });
      assert.equal(v.e.strategyMargin.unpairedIMScale, 15n * 10n ** 17n);
      assert.equal(v.e.strategyMargin.unpairedMMScale, DEFAULT_STRATEGY_MARGIN.unpairedMMScale, 'kept');
      assert.notEqual(stateHash(v.e), hash);
      assert.ok(v.read().initialMargin >= before);
    },
  );

  test(
    'a snapshot of strategy silos (and changed parameters) restores to the same hash and behaves the same',
    T,
    () => {
      const v = new Venue();
      v.createSilo('maxLoss', '30000');
      v.open(STRATEGIES.ironCondor);
      v.createSilo('scenario', '60000', 'scen');
      v.open(STRATEGIES.longCallButterfly, 'scen');
      const plain = restoreEngine(snapshotEngine(v.e));
      assert.equal(stateHash(plain), stateHash(v.e), 'default parameters: not stored, same hash');
      v.ok({
        type: 'setStrategyMargin',
        params: { unpairedMMScale: '1.05', scenario: { default: { priceRange: '0.2' } } },
      });
      const copy = restoreEngine(snapshotEngine(v.e));
      assert.equal(stateHash(copy), stateHash(v.e));
      assert.deepEqual(copy.strategyMargin, v.e.strategyMargin);
      const next: Cmd[] = [
        { type: 'setMarkPrice', symbol: PERP, price: '93000' },
        {
          type: 'volQuote',
          underlying: PERP,
          expiry: EXPIRY,
          smile: { kind: 'strikes', ivs: { '100000': '0.9' } },
        },
        { type: 'setMarkPrice', symbol: PERP, price: '88000' },
      ];
      for (const [i, cmd] of next.entries()) {
        const c = { ...cmd, time: v.now + 10 + i } as Command;
        assert.deepEqual(copy.apply(c), v.e.apply(c), `command ${i}`);
      }
      assert.equal(stateHash(copy), stateHash(v.e));
    },
  );

  test('an engine that never set the parameters hashes as before (no strategyMargin line)', T, () => {
    const e = new Engine();
    assert.equal(e.strategyMargin, DEFAULT_STRATEGY_MARGIN);
    const copy = restoreEngine(snapshotEngine(e));
    assert.equal(copy.strategyMargin, DEFAULT_STRATEGY_MARGIN);
  });
});
