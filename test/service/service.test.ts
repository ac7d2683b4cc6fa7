/**
 * The service core: the committed book mirror equals the engine's book under random order flow; the scheduled
 * tick goes through the journal; command time never goes backwards; a failed journal commit answers 503 (writes and
 * account reads alike) and the service recovers from the store; whenever the book is rebuilt (recovery, a publishing
 * error) order-book subscribers get a fresh snapshot; liquidation events reach histories, private streams and
 * metrics (from the real engine, and synthetic ones for every event kind, including ADL without the liquidated
 * account's id).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineEvent } from '../../src/engine/types.ts';
import { SqliteJournalStore } from '../../src/journal/sqlite.ts';
import type { JournalRecord } from '../../src/journal/store.ts';
import { privateKey, type Subscriber } from '../../src/service/hub.ts';
import { Rng } from '../../src/sim/rng.ts';
import {
  type AccountEventJson,
  type Fields,
  Harness,
  type LiquidationJson,
  type OpenOrder,
  type OrderBookJson,
  type PositionJson,
} from './helpers.ts';
import { type Msg, WsTestClient } from './wsclient.ts';

/** Collects what a hub topic delivers. */
function listener(id: number): Subscriber & { got: { topic: string; data: Record<string, unknown>[] }[] } {
  const got: { topic: string; data: Record<string, unknown>[] }[] = [];
  return {
    id,
    got,
    deliver(text: string) {
      got.push(JSON.parse(text));
      return true;
    },
  };
}

describe('book mirror', () => {
  test('equals the engine’s book after random order flow, and REST serves it', async () => {
    const h = await Harness.open();
    try {
      await h.setupMarket();
      const rng = new Rng(7);
      const accounts = ['alice', 'bob'] as const;
      for (let i = 0; i < 300; i++) {
        const as = rng.pick(accounts);
        const roll = rng.next();
        if (roll < 0.6) {
          const side = rng.chance(0.5) ? 'buy' : 'sell';
          const price = String(59_500 + rng.int(0, 100) * 10);
          const tif = rng.pick(['GTC', 'GTC', 'IOC', 'PO', 'FOK'] as const);
          await h.call(
            'POST',
            '/api/v1/orders',
            {
              symbol: 'BTCUSDT',
              side,
              type: 'limit',
              price,
              amount: `0.0${rng.int(1, 9)}`,
              timeInForce: tif,
            },
            { as },
          );
        } else if (roll < 0.7) {
          await h.call(
            'POST',
            '/api/v1/orders',
            { symbol: 'BTCUSDT', side: rng.chance(0.5) ? 'buy' : 'sell', type: 'market', amount: '0.02' },
            { as },
          );
        } else {
          const open = await h.ok<OpenOrder[]>('GET', '/api/v1/orders', as);
          if (open.length === 0) continue;
          const o = rng.pick(open);
          if (roll < 0.85) await h.call('DELETE', `/api/v1/orders/${o.id}`, undefined, { as });
          else
            await h.call(
              'PATCH',
              `/api/v1/orders/${o.id}`,
              rng.chance(0.5) ? { amount: '0.01' } : { price: String(59_500 + rng.int(0, 100) * 10) },
              { as },
            );
        }
        if (i % 50 === 0)
          assert.deepEqual(h.service.mirror.verifyAgainst(h.service.engine), [], `after step ${i}`);
      }
      assert.deepEqual(h.service.mirror.verifyAgainst(h.service.engine), []);
      const depth = h.service.engine.markets.get('BTCUSDT')!.book.depth(10_000);
      const book = (await h.call<OrderBookJson>('GET', '/api/v1/orderbook/BTCUSDT?limit=10000')).json;
      const m = h.service.engine.markets.get('BTCUSDT')!;
      const fmt = (l: [number, number][]) =>
        l.map(([p, s]) => [m.fmtPrice(m.price(p)), m.fmtSize(m.size(s))]);
      assert.deepEqual(book.bids, fmt(depth.bids));
      assert.deepEqual(book.asks, fmt(depth.asks));
      assert.ok(h.service.history.trades.latest('BTCUSDT', 1_000).length > 0, 'the flow traded');
    } finally {
      await h.cleanup();
    }
  });
});

describe('scheduling and time', () => {
  test('the tick is an engine command through the journal, once per interval', async () => {
    const h = await Harness.open({ tickIntervalMs: 20 });
    try {
      h.service.startTicks();
      const seq0 = h.service.engine.seq;
      await new Promise((r) => setTimeout(r, 200));
      await h.service.journal.flush();
      const ticks = h.service.engine.seq - seq0;
      assert.ok(ticks >= 3, `ticks: ${ticks}`);
      assert.equal(h.service.journal.store.lastSeq(), h.service.engine.seq, 'every tick is journaled');
      const metrics = (await h.call('GET', '/metrics')).text;
      assert.match(metrics, /ringfence_commands_total\{type="tick",result="accepted"\} \d+/);
      h.service.stopTicks();
    } finally {
      await h.cleanup();
    }
  });

  test('a clock that steps back never makes a command go back in time', async () => {
    const h = await Harness.open();
    try {
      await h.setupMarket();
      const last = h.service.engine.lastTime;
      h.clock.advance(-60_000);
      const r = await h.service.submit({ type: 'tick' });
      assert.equal(r.ok, true);
      assert.equal(r.time, last);
    } finally {
      await h.cleanup();
    }
  });
});

/** SQLite underneath; `failNext` makes the next append throw (a full disk, a lost connection). */
class FlakyStore extends SqliteJournalStore {
  static failNext = false;
  override append(records: readonly JournalRecord[]): void {
    if (FlakyStore.failNext) {
      FlakyStore.failNext = false;
      throw new Error('disk full');
    }
    super.append(records);
  }
}

describe('journal failure', () => {
  test('a failed commit answers 503, the service recovers from the store and carries on', async () => {
    const h = await Harness.open({}, undefined, (path) => async () => new FlakyStore(path));
    try {
      await h.setupMarket();
      await h.ok('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '59000',
        amount: '0.1',
      });
      const committed = h.service.engine.seq;
      const hash = h.hash();
      FlakyStore.failNext = true;
      const r = await h.call(
        'POST',
        '/api/v1/orders',
        { symbol: 'BTCUSDT', side: 'buy', type: 'limit', price: '58000', amount: '0.1' },
        { as: 'alice' },
      );
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json.code, 'UNAVAILABLE');
      await waitFor(() => h.service.degraded === null);
      // The failed command is gone (never acknowledged); everything acknowledged survived.
      assert.equal(h.service.engine.seq, committed);
      assert.equal(h.hash(), hash);
      const orders = (await h.ok('GET', '/api/v1/orders', 'alice')) as { price: string }[];
      assert.deepEqual(
        orders.map((o) => o.price),
        ['59000'],
      );
      assert.deepEqual(h.service.mirror.verifyAgainst(h.service.engine), []);
      const again = await h.ok('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '57000',
        amount: '0.1',
      });
      assert.equal(again.status, 'open');
      assert.equal(again.seq, committed + 1);
      assert.equal((await h.call<Fields>('GET', '/health')).json.status, 'ok');
    } finally {
      await h.cleanup();
    }
  });
});

describe('degraded reads', () => {
  test('while the service recovers, account reads answer 503 as writes do, instead of state that may be rolled back', async () => {
    let gate: Promise<void> | null = null;
    let release = () => {};
    const h = await Harness.open({}, undefined, (path) => async () => {
      if (gate) await gate;
      return new FlakyStore(path);
    });
    try {
      await h.setupMarket();
      const order = { symbol: 'BTCUSDT', side: 'buy', type: 'limit', price: '59000', amount: '0.1' };
      const placed = await h.ok('POST', '/api/v1/orders', 'alice', order);
      // The store cannot be reopened until the test says so: the service stays degraded meanwhile.
      gate = new Promise<void>((r) => {
        release = r;
      });
      FlakyStore.failNext = true;
      const failed = await h.call('POST', '/api/v1/orders', { ...order, price: '58000' }, { as: 'alice' });
      assert.equal(failed.status, 503, failed.text);
      assert.ok(h.service.degraded);
      const write = await h.call('POST', '/api/v1/orders', { ...order, price: '57000' }, { as: 'alice' });
      assert.equal(write.status, 503);
      assert.equal(write.json.code, 'UNAVAILABLE');
      for (const url of [
        '/api/v1/orders',
        `/api/v1/orders/${placed.id}`,
        '/api/v1/positions',
        '/api/v1/balance',
        '/api/v1/my-trades',
        '/api/v1/my-liquidations',
        '/api/v1/funding-history',
        '/api/v1/balance?account=bob',
      ]) {
        const r = await h.call('GET', url, undefined, { as: url.includes('account=') ? 'admin' : 'alice' });
        assert.equal(r.status, 503, `${url}: ${r.text}`);
        assert.deepEqual(r.json, write.json, 'the same error as the trading routes');
      }
      // Authentication still comes first; public data (committed events only) is still served.
      assert.equal((await h.call('GET', '/api/v1/balance')).status, 401);
      assert.equal((await h.call('GET', '/api/v1/orderbook/BTCUSDT')).status, 200);
      assert.equal((await h.call<Fields>('GET', '/health')).json.status, 'degraded');
      release();
      await waitFor(() => h.service.degraded === null);
      const orders = await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'alice');
      assert.deepEqual(
        orders.map((o) => o.price),
        ['59000'],
      );
    } finally {
      release();
      await h.cleanup();
    }
  });
});

describe('order-book subscribers after a rebuild', () => {
  const isResync = (m: Msg) => m.topic === 'orderbook.BTCUSDT' && m.type === 'snapshot' && m.resync === true;

  /** Subscribes `n` clients to the BTCUSDT book (and trades) and waits for their first snapshots. */
  async function subscribers(h: Harness, n: number): Promise<WsTestClient[]> {
    const url = await h.listen();
    const out: WsTestClient[] = [];
    for (let i = 0; i < n; i++) {
      const c = await WsTestClient.connect(url);
      out.push(c);
      assert.equal((await c.request('subscribe', ['orderbook.BTCUSDT', 'trades.BTCUSDT'])).success, true);
      const first = await c.next((m) => m.topic === 'orderbook.BTCUSDT' && m.type === 'snapshot');
      assert.equal(first.resync, undefined, 'the subscribe snapshot is not a resync');
    }
    return out;
  }

  async function sameAsRest(h: Harness, snap: Msg): Promise<void> {
    const rest = (await h.call<OrderBookJson>('GET', '/api/v1/orderbook/BTCUSDT')).json;
    assert.deepEqual(snap.data.bids, rest.bids);
    assert.deepEqual(snap.data.asks, rest.asks);
  }

  test('after recovering from a failed commit, every book subscriber gets a fresh snapshot, then deltas after it', async () => {
    const h = await Harness.open({}, undefined, (path) => async () => new FlakyStore(path));
    let clients: WsTestClient[] = [];
    try {
      await h.setupMarket();
      await h.ok('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '59000',
        amount: '0.1',
      });
      clients = await subscribers(h, 2);
      FlakyStore.failNext = true;
      const r = await h.call(
        'POST',
        '/api/v1/orders',
        { symbol: 'BTCUSDT', side: 'sell', type: 'limit', price: '61000', amount: '0.3' },
        { as: 'bob' },
      );
      assert.equal(r.status, 503, r.text);
      await waitFor(() => h.service.degraded === null);
      for (const c of clients) {
        const snap = await c.next(isResync);
        assert.equal(snap.seq, h.service.engine.seq);
        assert.deepEqual(snap.data.asks, [], 'the lost order is not in the book');
        assert.deepEqual(snap.data.bids, [['59000', '0.1']]);
        await sameAsRest(h, snap);
        assert.equal(c.messages.filter((m) => m.resync).length, 1, 'one resync, on the book topic only');
      }
      const next = await h.ok('POST', '/api/v1/orders', 'bob', {
        symbol: 'BTCUSDT',
        side: 'sell',
        type: 'limit',
        price: '61000',
        amount: '0.2',
      });
      for (const c of clients) {
        const delta = await c.next((m) => m.topic === 'orderbook.BTCUSDT' && m.type === 'delta');
        assert.equal(delta.seq, next.seq);
        assert.ok(delta.seq > (await c.next(isResync)).seq);
        assert.deepEqual(delta.data.asks, [['61000', '0.2']]);
      }
    } finally {
      for (const c of clients) c.terminate();
      await h.cleanup();
    }
  });

  test('a publishing error rebuilds the book from the engine and resyncs subscribers; deliveries are counted', async () => {
    const h = await Harness.open();
    let clients: WsTestClient[] = [];
    try {
      await h.setupMarket();
      clients = await subscribers(h, 1);
      const c = clients[0]!;
      // A bug in publishing: the command is durable and acknowledged, but its delta never went out.
      const mirror = h.service.mirror;
      const apply = mirror.apply.bind(mirror);
      mirror.apply = () => {
        mirror.apply = apply;
        throw new Error('publishing bug');
      };
      const placed = await h.ok('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '59000',
        amount: '0.1',
      });
      const snap = await c.next(isResync);
      assert.equal(snap.seq, placed.seq);
      assert.deepEqual(snap.data.bids, [['59000', '0.1']]);
      await sameAsRest(h, snap);
      assert.deepEqual(h.service.mirror.verifyAgainst(h.service.engine), []);
      assert.equal(c.messages.filter((m) => m.type === 'delta').length, 0);

      const metrics = (await h.call('GET', '/metrics')).text;
      const delivered = /^ringfence_ws_messages_delivered_total (\d+)$/m.exec(metrics);
      assert.ok(delivered, 'ringfence_ws_messages_delivered_total is exported');
      assert.ok(Number(delivered[1]) >= 1);
      assert.equal(Number(delivered[1]), h.service.hub.delivered);
    } finally {
      for (const c of clients) c.terminate();
      await h.cleanup();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 3_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('liquidation events', () => {
  test('every kind is routed to its account, histories and metrics (synthetic, one command)', async () => {
    const h = await Harness.open();
    try {
      await h.setupMarket();
      const s = h.service;
      const subs = new Map<string, ReturnType<typeof listener>>();
      let n = 1_000;
      for (const [topic, account] of [
        ['liquidations', 'bob'],
        ['liquidations', 'alice'],
        ['marginCalls', 'bob'],
      ] as const) {
        const l = listener(n++);
        subs.set(`${topic}@${account}`, l);
        s.hub.subscribe(privateKey(topic, account), l);
      }
      const P = 100_000_000n; // 8 decimals
      const events: EngineEvent[] = [
        { type: 'marginCall', account: 'bob', symbol: 'BTCUSDT', marginRatio: 9_000_000_000n },
        {
          type: 'liquidationStarted',
          account: 'bob',
          symbol: 'BTCUSDT',
          mode: 'isolated',
          mark: 55_000n * P,
          equity: 10n * P,
          maintenance: 50n * P,
        },
        {
          type: 'liquidation',
          account: 'bob',
          symbol: 'BTCUSDT',
          mode: 'isolated',
          side: 'long',
          size: 200n,
          price: 54_900n * P,
          mark: 55_000n * P,
          bankruptcyPrice: 54_800n * P,
          stage: 'backstop',
          fee: 5n * P,
          remaining: 0n,
        },
        {
          type: 'adl',
          account: 'alice',
          symbol: 'BTCUSDT',
          side: 'short',
          size: 100n,
          price: 54_800n * P,
          liquidated: 'bob',
          rank: 1,
        },
        {
          type: 'autoAddMargin',
          account: 'alice',
          symbol: 'BTCUSDT',
          amount: 12n * P,
          marginRatio: 8_000_000_000n,
        },
        { type: 'insuranceDraw', asset: 'USDT', account: 'bob', symbol: 'BTCUSDT', amount: 3n * P },
      ];
      s.publish({ seq: s.published + 1, time: h.clock.t, events });

      const bob = subs.get('liquidations@bob')!.got;
      assert.equal(bob.length, 1, 'one message per command and account');
      assert.deepEqual(
        bob[0]!.data.map((d) => d.type),
        ['liquidationStarted', 'liquidation', 'insuranceDraw'],
      );
      const liq = bob[0]!.data[1]!;
      assert.deepEqual(
        {
          size: liq.size,
          price: liq.price,
          bankruptcyPrice: liq.bankruptcyPrice,
          fee: liq.fee,
          stage: liq.stage,
        },
        { size: '0.2', price: '54900', bankruptcyPrice: '54800', fee: '5', stage: 'backstop' },
      );
      const alice = subs.get('liquidations@alice')!.got[0]!.data;
      assert.deepEqual(
        alice.map((d) => d.type),
        ['adl', 'autoAddMargin'],
      );
      assert.equal(alice[0]!.liquidated, undefined, 'ADL never names the liquidated account');
      assert.equal(JSON.stringify(alice).includes('bob'), false);
      assert.equal(alice[1]!.marginRatio, '0.8');
      assert.equal(subs.get('marginCalls@bob')!.got[0]!.data[0]!.marginRatio, '0.9');

      const pub = (await h.call<LiquidationJson[]>('GET', '/api/v1/liquidations/BTCUSDT')).json;
      assert.equal(pub.length, 1);
      assert.deepEqual(
        {
          side: pub[0]!.side,
          contracts: pub[0]!.contracts,
          price: pub[0]!.price,
          quoteValue: pub[0]!.quoteValue,
          stage: pub[0]!.stage,
        },
        { side: 'long', contracts: '0.2', price: '54900', quoteValue: '10980', stage: 'backstop' },
      );
      assert.equal(JSON.stringify(pub).includes('bob'), false, 'public liquidations carry no account');
      const mine = await h.ok<AccountEventJson[]>('GET', '/api/v1/my-liquidations', 'bob');
      assert.deepEqual(
        mine.map((d) => d.type),
        ['insuranceDraw', 'liquidation', 'liquidationStarted'],
      );
      const theirs = await h.ok<AccountEventJson[]>('GET', '/api/v1/my-liquidations', 'alice');
      assert.deepEqual(
        theirs.map((d) => d.type),
        ['autoAddMargin', 'adl'],
      );
      const metrics = (await h.call('GET', '/metrics')).text;
      assert.match(metrics, /ringfence_liquidations_total\{symbol="BTCUSDT",stage="backstop"\} 1/);
    } finally {
      await h.cleanup();
    }
  });

  test('a mark move liquidates through the real engine: histories, stream, insurance fund', async () => {
    const h = await Harness.open();
    try {
      await h.setupMarket();
      const l = listener(1);
      h.service.hub.subscribe(privateKey('liquidations', 'bob'), l);
      await h.call('POST', '/api/v1/admin/insurance', { asset: 'USDT', amount: '50000' }, { as: 'admin' });
      await h.ok('POST', '/api/v1/leverage', 'bob', { symbol: 'BTCUSDT', leverage: '50' });
      await h.ok('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'sell',
        type: 'limit',
        price: '60000',
        amount: '1',
      });
      await h.ok('POST', '/api/v1/orders', 'bob', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '60000',
        amount: '1',
      });
      const pos = (await h.ok<PositionJson[]>('GET', '/api/v1/positions', 'bob'))[0]!;
      // Bids for the liquidation order to hit.
      await h.ok('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '58500',
        amount: '2',
      });
      await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '58600' });
      assert.ok(
        Number(pos.liquidationPrice) > 58_600,
        `liquidation price ${pos.liquidationPrice} is above the new mark`,
      );
      const mine = await h.ok<AccountEventJson[]>('GET', '/api/v1/my-liquidations', 'bob');
      const types = mine.map((d) => d.type);
      assert.ok(types.includes('liquidationStarted'), JSON.stringify(types));
      assert.ok(types.includes('liquidation'));
      const pub = (await h.call<LiquidationJson[]>('GET', '/api/v1/liquidations/BTCUSDT')).json;
      assert.ok(pub.length >= 1);
      assert.ok(l.got.length >= 1, 'the private stream carried it');
      assert.deepEqual(
        h.service.mirror.verifyAgainst(h.service.engine),
        [],
        'liquidation fills kept the mirror exact',
      );
      const metrics = (await h.call('GET', '/metrics')).text;
      assert.match(metrics, /ringfence_liquidations_total\{symbol="BTCUSDT",stage="\w+"\} [1-9]/);
      // Only admin keys reach the backstop account.
      assert.ok(Array.isArray(await h.ok('GET', '/api/v1/positions?account=%40insurance', 'admin')));
      assert.equal(
        (await h.call('GET', '/api/v1/positions?account=%40insurance', undefined, { as: 'bob' })).status,
        403,
      );
    } finally {
      await h.cleanup();
    }
  });
});
