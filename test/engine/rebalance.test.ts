/**
 * The collateral rebalancing agent, as stories. A trader holds a 50x BTC long in silo `btc` (500 USDT), a 5x ETH short
 * in silo `eth` (8,000) and spare cash in silo `cash` (1,000), plus a silo `solo` that is not opted in, and free
 * balance in main. With `btc` receiving from `eth` and `cash` at a trigger of 0.8:
 * - BTC slides: the first mark at which btc's maintenance / equity reaches 0.8, collateral moves in from the giver
 *   with the most to spare, enough to bring the ratio to the target; the mark before had not reached it;
 * - givers keep their floor (initial margin × 1.1); with nothing to spare the receiver is parked, the agent tries
 *   again at maintenance, and the box is liquidated as any other — main, `solo` and the givers untouched by the loss;
 * - per-move and per-day limits hold, and the day rolls over;
 * - bad settings are refused and change nothing; the settings, the day's counter and a parked receiver survive a
 *   snapshot, and a restored engine moves exactly what the original does.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDecimal } from '../../src/core/fixed.ts';
import { parseRate } from '../../src/core/rates.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { restoreEngine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { silosOf } from '../../src/engine/readmodel.ts';
import { giverFloor } from '../../src/engine/rebalance.ts';
import { snapshotEngine } from '../../src/engine/snapshot.ts';
import type { Command, EngineEvent } from '../../src/engine/types.ts';
import { BTCUSD, BTCUSDT, type Cmd, ETHUSDT, engineWithMarkets, ok, rejected, t } from './harness.ts';

const T = { timeout: 30_000 };
const usdt = (v: string) => parseDecimal(v, 'v', { dp: 8, signed: true });
const rate = (v: string) => parseRate(v, 'v');
const of = <K extends EngineEvent['type']>(events: EngineEvent[], type: K) =>
  events.filter((ev): ev is Extract<EngineEvent, { type: K }> => ev.type === type);

/** The trader's four silos and 10,000 free, against a 1x market maker; marks BTC 20,000, ETH 2,000. */
function venue(): Engine {
  const e = engineWithMarkets(BTCUSDT, ETHUSDT);
  ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
  ok(e, { type: 'setMarkPrice', symbol: 'ETHUSDT', price: '2000' });
  ok(e, { type: 'deposit', account: 'mm', asset: 'USDT', amount: '10000000' });
  ok(e, { type: 'setLeverage', account: 'mm', symbol: 'BTCUSDT', leverage: '1' });
  ok(e, { type: 'setLeverage', account: 'mm', symbol: 'ETHUSDT', leverage: '1' });
  ok(e, { type: 'fundInsurance', asset: 'USDT', amount: '100000' });
  ok(e, { type: 'deposit', account: 'tr', asset: 'USDT', amount: '20000' });
  for (const [silo, amount] of [
    ['btc', '500'],
    ['eth', '8000'],
    ['cash', '1000'],
    ['solo', '3000'],
  ] as const) {
    ok(e, { type: 'createSilo', account: 'tr', silo, asset: 'USDT', riskModel: 'standalone' });
    ok(e, { type: 'transferCollateral', account: 'tr', from: 'free', to: silo, amount });
  }
  ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'btc' });
  ok(e, { type: 'setLeverage', account: 'tr', symbol: 'ETHUSDT', leverage: '5', silo: 'eth' });
  ok(e, { type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '10', silo: 'solo' });
  trade(e, 'BTCUSDT', 'buy', '1', '20000', 'btc');
  trade(e, 'ETHUSDT', 'sell', '10', '2000', 'eth');
  trade(e, 'BTCUSDT', 'buy', '0.5', '20000', 'solo');
  return e;
}

function trade(
  e: Engine,
  symbol: string,
  side: 'buy' | 'sell',
  size: string,
  price: string,
  silo: string,
): void {
  const other = side === 'buy' ? 'sell' : 'buy';
  ok(e, { type: 'placeOrder', account: 'mm', symbol, side: other, orderType: 'limit', size, price });
  ok(e, { type: 'placeOrder', account: 'tr', symbol, side, orderType: 'limit', size, price, silo });
}

const settings = (extra: Partial<Extract<Cmd, { type: 'setRebalancing' }>> = {}): Cmd => ({
  type: 'setRebalancing',
  account: 'tr',
  asset: 'USDT',
  enabled: true,
  givers: ['eth', 'cash'],
  receivers: ['btc'],
  trigger: '0.8',
  target: '0.4',
  ...extra,
});

const view = (e: Engine, id: string) => silosOf(e, 'tr').find((s) => s.id === id)!;
const bucket = (e: Engine, id: string) => e.accounts.get('tr')!.silos.get(id)!.bucket.balance;
const main = (e: Engine) => e.accounts.get('tr')!.wallets.get('USDT')!.main.balance;
const btcMark = (e: Engine, price: number) =>
  ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: String(price) });
/** maintenance / equity ≥ trigger, as the engine decides it. */
const reached = (mm: bigint, equity: bigint, trigger: string) =>
  equity <= 0n || mm * 10n ** 10n >= rate(trigger) * equity;

describe('collateral rebalancing between a trader’s own silos', () => {
  test(
    'long 1 BTC at 20,000, 50x, in silo btc (480 after fees): BTC slides from 19,900; at the first mark where btc’s ratio reaches 0.8 the agent moves in from eth (most to spare) what brings it to 0.4 — solo, main and cash untouched',
    T,
    () => {
      const e = venue();
      const set = ok(e, settings());
      assert.deepEqual(of(set.events, 'rebalancingSet'), [
        {
          type: 'rebalancingSet',
          account: 'tr',
          asset: 'USDT',
          enabled: true,
          givers: ['eth', 'cash'],
          receivers: ['btc'],
          trigger: rate('0.8'),
          target: rate('0.4'),
          buffer: rate('0.1'),
          maxPerMove: 0n,
          maxPerDay: 0n,
        },
      ]);
      const solo = bucket(e, 'solo');
      const cash = bucket(e, 'cash');
      const free = main(e);
      let fired: { price: number; events: EngineEvent[]; after: ReturnType<typeof view> } | null = null;
      let before = view(e, 'btc');
      for (let price = 19_900; price >= 19_600; price--) {
        const { events } = btcMark(e, price);
        assert.deepEqual(of(events, 'liquidationStarted'), [], `liquidated at ${price}`);
        if (of(events, 'collateralRebalanced').length > 0) {
          assert.equal(fired, null, 'one move');
          fired = { price, events, after: view(e, 'btc') };
          assert.ok(!reached(before.maintenanceMargin, before.equity, '0.8'), `due before ${price}`);
        }
        before = view(e, 'btc');
        assert.equal(bucket(e, 'solo'), solo, 'solo is not opted in');
        assert.equal(bucket(e, 'cash'), cash, 'eth has more to spare than cash');
        assert.equal(main(e), free, 'the free balance is no giver');
      }
      assert.ok(fired !== null, 'the agent moved collateral');
      const [mv, ...more] = of(fired.events, 'collateralRebalanced');
      assert.equal(more.length, 0);
      assert.equal(mv!.from, 'eth');
      assert.equal(mv!.to, 'btc');
      assert.equal(mv!.reason, 'trigger');
      assert.ok(mv!.marginRatio >= rate('0.8'), `ratio ${mv!.marginRatio}`);
      // Moved so that btc's ratio is the target: the smallest equity with maintenance / equity ≤ 0.4.
      const { after } = fired;
      const need = (after.maintenanceMargin * 10n ** 10n + rate('0.4') - 1n) / rate('0.4');
      assert.equal(after.equity, need, 'equity = ⌈maintenance / 0.4⌉ right after the move');
      // eth's floor: its initial margin (10 × 2,000 / 5 = 4,000) × 1.1, and it keeps at least that.
      assert.equal(mv!.giverFloor, giverFloor(view(e, 'eth').initialMargin, rate('0.1')));
      assert.ok(view(e, 'eth').equity >= mv!.giverFloor);
      const transfers = of(fired.events, 'transfer').filter((x) => x.reason === 'rebalance');
      assert.deepEqual(
        transfers.map((x) => [x.from, x.to, x.amount]),
        [['tr:silo:eth', 'tr:silo:btc', mv!.amount]],
      );
      assert.deepEqual(e.ledger.verify().problems, []);
    },
  );

  test(
    'nothing to spare: the receiver is parked (no move, no event at every mark), the agent tries again at maintenance, then btc is liquidated as any box — its loss reaches no other silo and not main',
    T,
    () => {
      const e = venue();
      // eth keeps 4,450 (its floor is 4,400: initial margin 4,000 × 1.1), so it can give 50 at most; cash gives 10.
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'eth', to: 'free', amount: '3540' });
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'cash', to: 'free', amount: '990' });
      ok(e, settings({ buffer: '0.1' }));
      const moves: { price: number; ev: Extract<EngineEvent, { type: 'collateralRebalanced' }> }[] = [];
      let liquidatedAt: number | null = null;
      const solo = bucket(e, 'solo');
      const free = main(e);
      for (let price = 19_900; price >= 19_000 && liquidatedAt === null; price -= 2) {
        const { events } = btcMark(e, price);
        for (const ev of of(events, 'collateralRebalanced')) moves.push({ price, ev });
        if (of(events, 'liquidationStarted').length > 0) liquidatedAt = price;
        assert.equal(bucket(e, 'solo'), solo);
        assert.equal(main(e), free);
      }
      assert.ok(liquidatedAt !== null, 'btc was liquidated once the givers had nothing');
      assert.ok(moves.length >= 1, 'the agent moved what the givers could spare');
      assert.ok(
        moves.every((m) => m.ev.from === 'eth' || m.ev.from === 'cash'),
        'only the givers give',
      );
      // One look at the trigger took all they could spare (eth first: 50 > 10); parked after it, nothing more moved.
      assert.deepEqual(
        moves.map((m) => [m.price, m.ev.from, m.ev.reason]),
        [
          [moves[0]!.price, 'eth', 'trigger'],
          [moves[0]!.price, 'cash', 'trigger'],
        ],
      );
      assert.ok(moves[0]!.ev.amount <= usdt('50') && moves[1]!.ev.amount <= usdt('10'), 'within the floors');
      assert.ok(e.accounts.get('tr')!.silos.get('btc')!.rebalanceParked || view(e, 'btc').legs.length === 0);
      // Every giver kept its floor.
      for (const id of ['eth', 'cash']) {
        const v = view(e, id);
        assert.ok(v.equity >= giverFloor(v.initialMargin, rate('0.1')), `${id} below its floor`);
      }
      assert.deepEqual(e.ledger.verify().problems, []);
    },
  );

  test('per-move and per-day limits: 50 per move, 120 a day; the next UTC day allows more', T, () => {
    const e = venue();
    ok(e, settings({ maxPerMove: '50', maxPerDay: '120' }));
    const moved: bigint[] = [];
    for (let price = 19_900; price >= 19_500; price -= 5) {
      const { events } = btcMark(e, price);
      for (const ev of of(events, 'collateralRebalanced')) moved.push(ev.amount);
      if (of(events, 'liquidationStarted').length > 0) break;
    }
    assert.ok(moved.length >= 1, 'something moved');
    assert.ok(
      moved.every((x) => x <= usdt('50')),
      `moves ${moved}`,
    );
    const total = moved.reduce((s, x) => s + x, 0n);
    assert.ok(total <= usdt('120'), `a day's total ${total}`);
    const r = e.accounts.get('tr')!.rebalancing.get('USDT')!;
    assert.equal(r.movedToday, total);
    // A day later the counter starts again (a command then rolls it over when the agent looks).
    const later = t() + 86_400_000;
    const cmd = { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19400', time: later } as Command;
    const res = e.apply(cmd);
    assert.ok(res.ok, 'a mark the next day');
    assert.ok(r.movedToday <= usdt('50'), `new day counter ${r.movedToday}`);
  });

  test('bad settings are refused and change nothing', T, () => {
    const e = venue();
    rejected(e, settings({ givers: ['nope'] }), 'UNKNOWN_SILO');
    rejected(e, settings({ givers: [] }), 'INVALID_COMMAND');
    rejected(e, settings({ receivers: ['btc', 'btc'] }), 'INVALID_COMMAND');
    rejected(e, settings({ trigger: '1' }), 'INVALID_COMMAND');
    rejected(e, settings({ target: '0.8' }), 'INVALID_COMMAND');
    rejected(e, settings({ buffer: '-0.1' }), 'INVALID_COMMAND');
    rejected(e, settings({ maxPerDay: 'x' }), 'INVALID_AMOUNT');
    rejected(e, settings({ asset: 'DOGE' }), 'UNKNOWN_ASSET');
    rejected(e, { ...settings(), account: 'nobody' } as Cmd, 'UNKNOWN_ACCOUNT');
    ok(e, { type: 'createMarket', market: BTCUSD });
    ok(e, { type: 'createSilo', account: 'tr', silo: 'coin', asset: 'BTC', riskModel: 'standalone' });
    rejected(e, settings({ givers: ['coin'] }), 'ASSET_MISMATCH');
  });

  test(
    'turned off: the silos are filed without the trigger and nothing moves; closing a giver takes it out of the settings',
    T,
    () => {
      const e = venue();
      ok(e, settings());
      ok(e, { ...settings(), enabled: false } as Cmd);
      assert.equal(e.accounts.get('tr')!.rebalancing.size, 0);
      for (let price = 19_900; price >= 19_700; price -= 10)
        assert.deepEqual(of(btcMark(e, price).events, 'collateralRebalanced'), []);
      ok(e, settings());
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'cash', to: 'free', amount: '1000' });
      ok(e, { type: 'closeSilo', account: 'tr', silo: 'cash' });
      assert.deepEqual(e.accounts.get('tr')!.rebalancing.get('USDT')!.givers, ['eth']);
    },
  );

  test(
    'a snapshot keeps the settings, the day’s counter and a parked receiver: the restored engine moves what the original does',
    T,
    () => {
      const e = venue();
      ok(e, { type: 'transferCollateral', account: 'tr', from: 'eth', to: 'free', amount: '3540' });
      ok(e, settings({ maxPerMove: '40' }));
      for (let price = 19_900; price >= 19_760; price -= 4) btcMark(e, price);
      const r = restoreEngine(snapshotEngine(e));
      assert.equal(stateHash(r), stateHash(e));
      for (let price = 19_756; price >= 19_000; price -= 4) {
        const time = t();
        const cmd = { type: 'setMarkPrice', symbol: 'BTCUSDT', price: String(price), time } as Command;
        const a = e.apply(cmd);
        const b = r.apply(cmd);
        assert.deepEqual(b, a, `at ${price}`);
      }
      assert.equal(stateHash(r), stateHash(e));
    },
  );
});
