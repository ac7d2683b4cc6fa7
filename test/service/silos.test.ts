/**
 * Silos through the service, over a real socket: alice boxes a BTC/ETH pair in a netted silo — create it, fund it
 * from her free balance, trade both legs in it — and reads it back as a whole (/silos) and leg by leg (/positions,
 * each position naming its silo); a transfer out beyond what the silo can give is refused and changes nothing; a silo
 * with legs cannot be closed, a flat one can and hands its collateral back; the `silos` and `positions` streams follow;
 * the calculator takes silos too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { calc } from '../../src/core/scenario.ts';
import { sign } from '../../src/service/auth.ts';
import { privateKey } from '../../src/service/hub.ts';
import { calcCost } from '../../src/service/routes/public.ts';
import { ETHUSDT } from '../engine/harness.ts';
import {
  type BalancesJson,
  BTCUSDT,
  type ErrorJson,
  type Fields,
  Harness,
  KEYS,
  type KeyName,
  type OpenOrder,
  type OrderResult,
  type PositionJson,
  signedFetch,
} from './helpers.ts';
import { type Item, WsTestClient } from './wsclient.ts';

const T = { timeout: 30_000 };

interface SiloJson {
  id: string;
  kind: string;
  asset: string;
  riskModel: string;
  collateral: string;
  equity: string;
  initialMargin: string;
  maintenanceMargin: string;
  standaloneInitialMargin: string;
  standaloneMaintenanceMargin: string;
  marginRatio: string | null;
  maxRemovable: string;
  legs: PositionJson[];
  liquidationPrices: Record<string, string | null>;
}

describe('silos over REST and WebSocket', () => {
  let h: Harness;
  let base: string;
  let ws: WsTestClient;

  /** A signed request over HTTP; the service's clock is brought to the wall clock the signature is made with. */
  const api = async <T = Fields>(method: string, path: string, as: KeyName, body?: unknown) => {
    h.clock.t = Math.max(h.clock.t, Date.now());
    const r = await signedFetch(base, method, path, as, body);
    return r as { status: number; json: T & Fields };
  };
  const ok = async <T = Fields>(method: string, path: string, as: KeyName, body?: unknown): Promise<T> => {
    const r = await api<T>(method, path, as, body);
    assert.equal(r.status, 200, `${method} ${path} → ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  /** Bob rests the other side at `price`; alice takes it (in `silo` when given). */
  const trade = async (
    symbol: string,
    side: 'buy' | 'sell',
    amount: string,
    price: string,
    silo?: string,
  ) => {
    await ok('POST', '/api/v1/orders', 'bob', {
      symbol,
      side: side === 'buy' ? 'sell' : 'buy',
      type: 'limit',
      amount,
      price,
    });
    return ok<OrderResult & { silo: string | null }>('POST', '/api/v1/orders', 'alice', {
      symbol,
      side,
      type: 'limit',
      amount,
      price,
      ...(silo !== undefined ? { silo } : {}),
    });
  };
  const pair = async () => (await ok<SiloJson>('GET', '/api/v1/silos/pair', 'alice')) as SiloJson;

  before(async () => {
    h = await Harness.open();
    const wsUrl = await h.listen();
    base = wsUrl.replace('ws://', 'http://').replace(/\/ws$/, '');
    await ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
    await ok('POST', '/api/v1/admin/markets', 'admin', ETHUSDT);
    await ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '20000' });
    await ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'ETHUSDT', price: '2000' });
    await ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'alice', asset: 'USDT', amount: '10000' });
    await ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'bob', asset: 'USDT', amount: '1000000' });
    ws = await WsTestClient.connect(wsUrl);
    h.clock.t = Math.max(h.clock.t, Date.now());
    const ts = Date.now();
    const login = await ws.request('login', {
      key: KEYS.alice.key,
      timestamp: ts,
      signature: sign(KEYS.alice.secret, ts, 'GET', '/ws'),
    });
    assert.equal(login.success, true, JSON.stringify(login));
    assert.equal((await ws.request('subscribe', ['silos', 'positions'])).success, true);
  });
  after(async () => {
    ws.terminate();
    await h.cleanup();
  });

  test('admin sets the netting table (rho BTC/ETH 0.8); anyone reads it', T, async () => {
    const set = await ok<Fields>('POST', '/api/v1/admin/netting', 'admin', {
      correlations: [{ a: 'BTC', b: 'ETH', rho: '0.8' }],
    });
    assert.deepEqual(set.correlations, [{ a: 'BTC', b: 'ETH', rho: '0.8' }]);
    assert.equal(set.floor, '0.25', 'fields not sent keep their value');
    const pub = await fetch(`${base}/api/v1/netting`);
    assert.equal(pub.status, 200);
    assert.deepEqual(((await pub.json()) as Fields).correlations, [{ a: 'BTC', b: 'ETH', rho: '0.8' }]);
    const bad = await api('POST', '/api/v1/admin/netting', 'alice', { floor: '0.5' });
    assert.equal(bad.status, 403, 'a trading key cannot set it');
  });

  test('alice creates a netted silo "pair" and moves 500 USDT into it from her free balance', T, async () => {
    const created = await ok<SiloJson & { seq: number }>('POST', '/api/v1/silos', 'alice', {
      silo: 'pair',
      asset: 'USDT',
      riskModel: 'netted',
    });
    assert.equal(created.id, 'pair');
    assert.equal(created.kind, 'named');
    assert.equal(created.riskModel, 'netted');
    assert.equal(created.collateral, '0');
    assert.deepEqual(created.legs, []);

    const again = await api<ErrorJson>('POST', '/api/v1/silos', 'alice', {
      silo: 'pair',
      asset: 'USDT',
      riskModel: 'standalone',
    });
    assert.equal(again.status, 409);
    assert.equal(again.json.code, 'SILO_EXISTS');
    const free = await api<ErrorJson>('POST', '/api/v1/silos', 'alice', {
      silo: 'free',
      asset: 'USDT',
      riskModel: 'standalone',
    });
    assert.deepEqual(
      [free.status, free.json.code],
      [400, 'INVALID_REQUEST'],
      '"free" names the free balance',
    );

    const moved = await ok<Fields & { silos: SiloJson[] }>('POST', '/api/v1/silos/transfer', 'alice', {
      from: 'free',
      to: 'pair',
      amount: '500',
    });
    assert.deepEqual(
      {
        currency: moved.currency,
        amount: moved.amount,
        fromAccount: moved.fromAccount,
        toAccount: moved.toAccount,
        status: moved.status,
      },
      { currency: 'USDT', amount: '500', fromAccount: 'free', toAccount: 'pair', status: 'ok' },
    );
    assert.equal(moved.silos.length, 1);
    assert.equal(moved.silos[0]!.collateral, '500');
    const bal = await ok<BalancesJson>('GET', '/api/v1/balance', 'alice');
    assert.deepEqual(
      { free: bal.free.USDT, used: bal.used.USDT, total: bal.total.USDT },
      { free: '9500', used: '500', total: '10000' },
      'the silo is alice’s money, but not free',
    );

    const created_ = await ws.next(
      (m) => m.topic === 'silos' && m.data.some((d) => d.type === 'siloCreated'),
    );
    assert.deepEqual(created_.data[0], {
      type: 'siloCreated',
      account: 'alice',
      silo: 'pair',
      asset: 'USDT',
      riskModel: 'netted',
    });
    const funded = await ws.next(
      (m) => m.topic === 'silos' && m.data.some((d) => d.type === 'siloCollateral'),
    );
    assert.deepEqual(funded.data[0], {
      type: 'siloCollateral',
      account: 'alice',
      silo: 'pair',
      asset: 'USDT',
      amount: '500',
      reason: 'collateralTransfer',
    });
  });

  test(
    'long 1 BTC and short 10 ETH at 50x in the silo: 200 of netted IM against 800 standalone',
    T,
    async () => {
      for (const symbol of ['BTCUSDT', 'ETHUSDT']) {
        const lev = await ok<Fields>('POST', '/api/v1/leverage', 'alice', {
          symbol,
          leverage: '50',
          silo: 'pair',
        });
        assert.equal(lev.silo, 'pair');
        assert.equal(lev.position, null, 'no leg yet');
      }
      const btc = await trade('BTCUSDT', 'buy', '1', '20000', 'pair');
      assert.equal(btc.status, 'closed');
      assert.equal(btc.silo, 'pair');
      await trade('ETHUSDT', 'sell', '10', '2000', 'pair');
      // And a default (isolated) long of 0.1 BTC beside it: the same market in two boxes.
      const plain = await trade('BTCUSDT', 'buy', '0.1', '20000');
      assert.equal(plain.silo, null);

      const s = await pair();
      assert.deepEqual(
        {
          collateral: s.collateral,
          initialMargin: s.initialMargin,
          standaloneInitialMargin: s.standaloneInitialMargin,
          maintenanceMargin: s.maintenanceMargin,
          standaloneMaintenanceMargin: s.standaloneMaintenanceMargin,
          maxRemovable: s.maxRemovable,
        },
        {
          collateral: '480', // two taker fees of 10 came out of the silo
          initialMargin: '200',
          standaloneInitialMargin: '800',
          maintenanceMargin: '45',
          standaloneMaintenanceMargin: '180',
          maxRemovable: '280', // 480 − 200 of initial margin
        },
      );
      assert.deepEqual(
        s.legs.map((l) => [l.symbol, l.side, l.contracts, l.silo]),
        [
          ['BTCUSDT', 'long', '1', 'pair'],
          ['ETHUSDT', 'short', '10', 'pair'],
        ],
      );
      assert.deepEqual(Object.keys(s.liquidationPrices).sort(), ['BTCUSDT', 'ETHUSDT']);
      const btcLiq = Number(s.liquidationPrices.BTCUSDT);
      const ethLiq = Number(s.liquidationPrices.ETHUSDT);
      assert.ok(btcLiq > 0 && btcLiq < 20000, `the long is liquidated below its mark (${btcLiq})`);
      assert.ok(ethLiq > 2000, `the short above its mark (${ethLiq})`);

      const all = await ok<SiloJson[]>('GET', '/api/v1/silos', 'alice');
      assert.deepEqual(
        all.map((x) => [x.id, x.kind]),
        [
          ['cross:USDT', 'cross'],
          ['isolated:BTCUSDT', 'isolated'],
          ['pair', 'named'],
        ],
      );
      assert.deepEqual(all[2], s, 'the list and the single read agree');
      assert.deepEqual(all[0]!.legs, [], 'nothing in cross');
      assert.deepEqual(
        all[1]!.legs.map((l) => [l.symbol, l.contracts, l.marginMode, l.silo]),
        [['BTCUSDT', '0.1', 'isolated', null]],
      );
      const iso = await ok<SiloJson>('GET', '/api/v1/silos/isolated:BTCUSDT', 'alice');
      assert.deepEqual(iso, all[1]);
      const none = await api<ErrorJson>('GET', '/api/v1/silos/nope', 'alice');
      assert.equal(none.status, 404);
      assert.equal(none.json.code, 'UNKNOWN_SILO');

      const positions = await ok<PositionJson[]>('GET', '/api/v1/positions', 'alice');
      assert.deepEqual(positions.map((p) => [p.symbol, p.side, p.contracts, p.silo]).sort(), [
        ['BTCUSDT', 'long', '0.1', null],
        ['BTCUSDT', 'long', '1', 'pair'],
        ['ETHUSDT', 'short', '10', 'pair'],
      ]);
      const leg = positions.find((p) => p.silo === 'pair' && p.symbol === 'BTCUSDT')!;
      assert.equal(leg.liquidationPrice, s.liquidationPrices.BTCUSDT, 'a leg shows its silo’s trigger');

      // The streams: each leg's position event names its silo; the default position's says null.
      const legEvent = await ws.next(
        (m) => m.topic === 'silos' && m.data.some((d) => d.type === 'position' && d.symbol === 'ETHUSDT'),
      );
      assert.equal(legEvent.data.find((d) => d.type === 'position')!.silo, 'pair');
      const fee = legEvent.data.find((d) => d.type === 'siloCollateral') as Item | undefined;
      assert.deepEqual(fee && [fee.amount, fee.reason], ['-10', 'fee'], 'the taker fee left the silo');
      const plainEvent = await ws.next(
        (m) =>
          m.topic === 'positions' &&
          m.data.some((d) => d.type === 'position' && d.symbol === 'BTCUSDT' && d.silo === null),
      );
      assert.equal(plainEvent.data.find((d) => d.type === 'position')!.size, '0.1');
    },
  );

  test(
    'a transfer out beyond maxRemovable is refused (422, the limit named) and changes nothing',
    T,
    async () => {
      const hash = h.hash();
      const refused = await api<ErrorJson>('POST', '/api/v1/silos/transfer', 'alice', {
        from: 'pair',
        to: 'free',
        amount: '400',
      });
      assert.equal(refused.status, 422);
      assert.equal(refused.json.code, 'INSUFFICIENT_MARGIN');
      assert.equal(refused.json.message, 'at most 280 USDT can leave silo pair');
      const unknown = await api<ErrorJson>('POST', '/api/v1/silos/transfer', 'alice', {
        from: 'free',
        to: 'elsewhere',
        amount: '1',
      });
      assert.deepEqual([unknown.status, unknown.json.code], [404, 'UNKNOWN_SILO']);
      const mismatch = await api<ErrorJson>('POST', '/api/v1/silos/transfer', 'alice', {
        from: 'free',
        to: 'pair',
        asset: 'BTC',
        amount: '1',
      });
      assert.deepEqual([mismatch.status, mismatch.json.code], [409, 'ASSET_MISMATCH']);
      const malformed = await api<ErrorJson>('POST', '/api/v1/silos/transfer', 'alice', {
        from: 'free',
        to: 'cross:USDT',
        amount: '1',
      });
      assert.deepEqual([malformed.status, malformed.json.code], [400, 'INVALID_REQUEST']);
      assert.equal(h.hash(), hash, 'nothing changed');
      assert.equal((await pair()).collateral, '480');

      const back = await ok<Fields & { silos: SiloJson[] }>('POST', '/api/v1/silos/transfer', 'alice', {
        from: 'pair',
        to: 'free',
        amount: '280',
      });
      assert.equal(back.silos[0]!.maxRemovable, '0');
      await ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'free', to: 'pair', amount: '280' });
    },
  );

  test(
    'the rebalancing agent: alice names "spare" as giver and "pair" as receiver; she reads the settings back, a bad list is refused without effect, the silos stream carries the setting, and off is off',
    T,
    async () => {
      await ok('POST', '/api/v1/silos', 'alice', { silo: 'spare', asset: 'USDT', riskModel: 'standalone' });
      await ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'free', to: 'spare', amount: '100' });
      const set = await ok<Fields & { rebalancing: Fields[] }>('POST', '/api/v1/silos/rebalancing', 'alice', {
        asset: 'USDT',
        enabled: true,
        givers: ['spare'],
        receivers: ['pair'],
        trigger: '0.8',
        maxPerDay: '250',
      });
      const view = {
        asset: 'USDT',
        givers: ['spare'],
        receivers: ['pair'],
        trigger: '0.8',
        target: '0.4',
        buffer: '0.1',
        maxPerMove: '0',
        maxPerDay: '250',
        holdings: 'move',
        movedToday: '0',
        parked: [],
      };
      const { day, ...rest } = set.rebalancing[0]!;
      assert.deepEqual(rest, view);
      assert.match(String(day), /^\d{4}-\d{2}-\d{2}$/);
      assert.deepEqual(await ok('GET', '/api/v1/silos/rebalancing', 'alice'), set.rebalancing);
      // Each silo read says its role.
      const roles = (await ok<(Fields & { rebalancing: Fields | null })[]>('GET', '/api/v1/silos', 'alice'))
        .filter((s) => s.kind === 'named')
        .map((s) => [s.id, s.rebalancing]);
      assert.deepEqual(roles, [
        ['pair', { giver: false, receiver: true, parked: false }],
        ['spare', { giver: true, receiver: false, parked: false }],
      ]);
      const pushed = await ws.next(
        (m) => m.topic === 'silos' && m.data.some((d) => d.type === 'rebalancingSet'),
      );
      const item = pushed.data.find((d) => d.type === 'rebalancingSet')!;
      assert.deepEqual(
        [item.givers, item.receivers, item.trigger, item.maxPerDay],
        [['spare'], ['pair'], '0.8', '250'],
      );

      const hash = h.hash();
      const unknown = await api<ErrorJson>('POST', '/api/v1/silos/rebalancing', 'alice', {
        asset: 'USDT',
        enabled: true,
        givers: ['elsewhere'],
        receivers: ['pair'],
      });
      assert.deepEqual([unknown.status, unknown.json.code], [404, 'UNKNOWN_SILO']);
      const badTarget = await api<ErrorJson>('POST', '/api/v1/silos/rebalancing', 'alice', {
        asset: 'USDT',
        enabled: true,
        givers: ['spare'],
        receivers: ['pair'],
        trigger: '0.5',
        target: '0.6',
      });
      assert.deepEqual([badTarget.status, badTarget.json.code], [400, 'INVALID_COMMAND']);
      assert.equal(h.hash(), hash, 'nothing changed');
      assert.deepEqual(
        (await ok('GET', '/api/v1/silos/rebalancing', 'bob')) as unknown,
        [],
        'bob never opted in',
      );

      await ok('POST', '/api/v1/silos/rebalancing', 'alice', { asset: 'USDT', enabled: false });
      assert.deepEqual((await ok('GET', '/api/v1/silos/rebalancing', 'alice')) as unknown, []);
      await ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'spare', to: 'free', amount: '100' });
      await ok('DELETE', '/api/v1/silos/spare', 'alice');
      await ws.next(
        (m) => m.topic === 'silos' && m.data.some((d) => d.type === 'siloClosed' && d.silo === 'spare'),
      );
    },
  );

  test(
    'closeSilo: refused while a leg or an order is open; once flat the collateral returns to free',
    T,
    async () => {
      const withLegs = await api<ErrorJson>('DELETE', '/api/v1/silos/pair', 'alice');
      assert.equal(withLegs.status, 409);
      assert.equal(withLegs.json.code, 'POSITION_OPEN');
      assert.match(withLegs.json.message, /silo pair still holds/);

      // Flatten both legs in the silo, then rest one order in it: still not closable.
      await trade('BTCUSDT', 'sell', '1', '20000', 'pair');
      await trade('ETHUSDT', 'buy', '10', '2000', 'pair');
      const resting = await ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        amount: '0.01',
        price: '19000',
        silo: 'pair',
      });
      const open = await ok<(OpenOrder & { silo: string | null })[]>('GET', '/api/v1/orders', 'alice');
      assert.deepEqual(
        open.map((o) => [o.id, o.silo]),
        [[resting.id, 'pair']],
      );
      const withOrder = await api<ErrorJson>('DELETE', '/api/v1/silos/pair', 'alice');
      assert.deepEqual([withOrder.status, withOrder.json.code], [409, 'POSITION_OPEN']);
      await ok('DELETE', `/api/v1/orders/${resting.id}`, 'alice');

      const s = await pair();
      assert.deepEqual(s.legs, []);
      const freeBefore = Number((await ok<BalancesJson>('GET', '/api/v1/balance', 'alice')).free.USDT);
      const closed = await ok<Fields>('DELETE', '/api/v1/silos/pair', 'alice');
      assert.deepEqual(
        [closed.id, closed.status, closed.returned, closed.currency],
        ['pair', 'closed', s.collateral, 'USDT'],
      );
      const freeAfter = Number((await ok<BalancesJson>('GET', '/api/v1/balance', 'alice')).free.USDT);
      assert.equal(freeAfter - freeBefore, Number(s.collateral));
      const gone = await api<ErrorJson>('GET', '/api/v1/silos/pair', 'alice');
      assert.equal(gone.json.code, 'UNKNOWN_SILO');
      const closedPair = (d: Item) => d.type === 'siloClosed' && d.silo === 'pair';
      const ev = await ws.next((m) => m.topic === 'silos' && m.data.some(closedPair));
      assert.deepEqual(ev.data.find(closedPair), { type: 'siloClosed', account: 'alice', silo: 'pair' });
    },
  );

  test(
    'the silos stream: an ADL of a silo leg and its funding carry the silo, never the liquidated account',
    T,
    async () => {
      // Synthetic committed events (as service.test.ts does for liquidations): the ADL queue reaching a silo's leg needs
      // a liquidation elsewhere that the book and the fund cannot absorb, beside the point here.
      const got: { topic: string; data: Item[] }[] = [];
      const sub = { id: 9_001, deliver: (text: string) => got.push(JSON.parse(text)) > 0 };
      h.service.hub.subscribe(privateKey('silos', 'alice'), sub);
      try {
        const P = 100_000_000n;
        h.service.publish({
          seq: h.service.published + 1,
          time: h.clock.t,
          events: [
            {
              type: 'fundingPaid',
              account: 'alice',
              symbol: 'BTCUSDT',
              amount: 2n * P,
              shortfall: 0n,
              silo: 'S',
            },
            { type: 'fundingPaid', account: 'alice', symbol: 'BTCUSDT', amount: 1n * P, shortfall: 0n },
            {
              type: 'adl',
              account: 'alice',
              symbol: 'BTCUSDT',
              silo: 'S',
              side: 'short',
              size: 100n,
              price: 20_500n * P,
              liquidated: 'bob',
              rank: 1,
            },
          ],
        });
        assert.equal(got.length, 1);
        assert.deepEqual(
          got[0]!.data.map((d) => [d.type, d.silo, d.amount ?? d.size]),
          [
            ['fundingPaid', 'S', '2'],
            ['adl', 'S', '0.1'],
          ],
          'the default position’s funding is not a silo’s',
        );
        assert.equal(JSON.stringify(got).includes('bob'), false);
      } finally {
        h.service.hub.unsubscribe(privateKey('silos', 'alice'), sub);
      }
    },
  );

  test('POST /calc with silos (no positions) answers what `ringfence calc` does', T, async () => {
    const scenario = {
      netting: { correlations: [{ a: 'BTC', b: 'ETH', rho: '0.8' }] },
      silos: [
        {
          id: 'pair',
          riskModel: 'netted',
          collateral: '2000',
          legs: [
            { symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '20000', markPrice: '19080' },
            { symbol: 'ETHUSDT', side: 'short', size: '10', entryPrice: '2000', markPrice: '2095' },
          ],
        },
      ],
    };
    const post = (body: unknown) =>
      fetch(`${base}/api/v1/calc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const r = await post(scenario);
    assert.equal(r.status, 200);
    const json = (await r.json()) as { silos: Fields[] };
    assert.deepEqual(json, JSON.parse(JSON.stringify(calc(scenario))));
    assert.equal(json.silos[0]!.riskModel, 'netted');
    const empty = await post({ positions: [] });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as ErrorJson).code, 'INVALID_REQUEST');
    const badSilo = await post({ silos: [{ id: 'x', riskModel: 'magic', collateral: '1', legs: [] }] });
    assert.equal(badSilo.status, 400);
    assert.equal(((await badSilo.json()) as ErrorJson).code, 'INVALID_INPUT');
    // Each silo leg costs four tokens (a liquidation-price search per market), a position one.
    assert.equal(calcCost({ body: scenario }), 1 + 4 * 2);
    assert.equal(calcCost({ body: { ...scenario, positions: [{}, {}] } }), 1 + 2 + 4 * 2);
  });

  test(
    'POST /calc with a strategy (iron condor, no positions) answers what `ringfence calc` does',
    T,
    async () => {
      const scenario = {
        valuationTime: '2026-12-06T00:00:00Z',
        strategy: {
          type: 'ironCondor',
          underlying: 'BTC',
          expiry: '2026-12-25T08:00:00Z',
          strikes: ['85000', '90000', '110000', '115000'],
          size: '1',
          underlyingPrice: '100000',
          iv: '0.5',
        },
      };
      const r = await fetch(`${base}/api/v1/calc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(scenario),
      });
      assert.equal(r.status, 200);
      const json = (await r.json()) as { silos: Fields[] };
      assert.deepEqual(json, JSON.parse(JSON.stringify(calc(scenario))));
      assert.equal(json.silos[0]!.strategy, 'ironCondor');
      assert.equal(json.silos[0]!.riskModel, 'maxLoss');
      // A built strategy costs as its (up to four) legs.
      assert.equal(calcCost({ body: scenario }), 1 + 4 * 4);
    },
  );
});
