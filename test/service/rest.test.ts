/**
 * Every REST endpoint's happy path through `fastify.inject`: market data, account data, trading, margin, admin,
 * the what-if calculator, health, metrics and the OpenAPI document. Writes are acknowledged only once committed:
 * each answer's `seq` is durable in the journal when the client reads it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../src/engine/engine.ts';
import { SqliteJournalStore } from '../../src/journal/sqlite.ts';
import {
  type BalancesJson,
  BTCUSDT,
  type Fields,
  type FillJson,
  type FundingPaymentJson,
  type FundingRateJson,
  Harness,
  type LiquidationJson,
  type MarginChangeJson,
  type MarketJson,
  type MarkPriceJson,
  type OpenOrder,
  type OrderBookJson,
  type OrderResult,
  type PositionJson,
  type TickerJson,
  type TradeJson,
} from './helpers.ts';

const FUNDED = {
  ...BTCUSDT,
  symbol: 'ETHUSDT',
  base: 'ETH',
  tickSize: '0.01',
  lotSize: '0.01',
  limitBand: '0.5',
  oracle: {
    sources: [
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
      { name: 'c', weight: 1 },
    ],
    stalenessMs: 600_000,
    maxDeviation: '0.05',
    minSources: 2,
    maxJump: '0.5',
    markMethod: 'index' as const,
  },
  funding: { intervalMs: 60_000, interestRate: '0.01', cap: { kind: 'none' as const }, impactMargin: '200' },
};

/** Whether the engine in this tree implements a command yet (the liquidation work lands alongside). */
function engineSupports(type: 'fundInsurance' | 'setAutoAddMargin'): boolean {
  const r = new Engine().apply({ type, time: 1, asset: 'USDT', amount: '1' } as never);
  return r.ok || !/unknown command type/.test(r.message);
}

describe('REST happy paths', () => {
  let h: Harness;
  before(async () => {
    h = await Harness.open();
    await h.setupMarket();
  });
  after(() => h.cleanup());

  test('markets with risk tiers, one market', async () => {
    const list = await h.call<MarketJson[]>('GET', '/api/v1/markets');
    assert.equal(list.status, 200);
    assert.equal(list.json.length, 1);
    const m = list.json[0]!;
    assert.equal(m.symbol, 'BTCUSDT');
    assert.equal(m.settle, 'USDT');
    assert.equal(m.type, 'swap');
    assert.equal(m.linear, true);
    assert.deepEqual(m.precision, { price: '0.1', amount: '0.001' });
    assert.equal(m.tiers.length, 5);
    assert.deepEqual(m.tiers[1], {
      tier: 2,
      currency: 'USDT',
      minNotional: '50000',
      maxNotional: '250000',
      maintenanceMarginRate: '0.005',
      initialMarginRate: '0.01',
      maxLeverage: '100',
      deduction: '50', // Binance's published cum for this bracket
    });
    assert.deepEqual(m.riskRule, BTCUSDT.risk);
    const one = await h.call<MarketJson>('GET', '/api/v1/markets/BTCUSDT');
    assert.deepEqual(one.json, m);
  });

  test('place a resting order, read it back, amend it, cancel it', async () => {
    const placed = await h.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'limit',
      price: '61000',
      amount: '0.5',
      clientOrderId: 'my-1',
    });
    assert.equal(placed.status, 'open');
    assert.equal(placed.remaining, '0.5');
    assert.equal(placed.clientOrderId, 'my-1');
    // Acknowledged means durable: the seq is in the journal file now.
    assert.ok((await h.service.journal.store.lastSeq()) >= placed.seq);
    const id = placed.id;
    const open = await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'alice');
    assert.deepEqual(
      open.map((o: { id: string }) => o.id),
      [id],
    );
    const one = await h.ok<OpenOrder>('GET', `/api/v1/orders/${id}`, 'alice');
    assert.equal(one.price, '61000');
    assert.equal(one.postOnly, false);
    assert.equal(one.reserved !== '0', true);
    const amended = await h.ok('PATCH', `/api/v1/orders/${id}`, 'alice', { amount: '0.3' });
    assert.deepEqual(
      { status: amended.status, remaining: amended.remaining, priorityKept: amended.priorityKept },
      { status: 'open', remaining: '0.3', priorityKept: true },
    );
    const moved = await h.ok('PATCH', `/api/v1/orders/${id}`, 'alice', { symbol: 'BTCUSDT', price: '61500' });
    assert.equal(moved.price, '61500');
    assert.equal(moved.priorityKept, false);
    const canceled = await h.ok('DELETE', `/api/v1/orders/${id}?symbol=BTCUSDT`, 'alice');
    assert.deepEqual(
      { status: canceled.status, remaining: canceled.remaining },
      { status: 'canceled', remaining: '0.3' },
    );
    assert.deepEqual(await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'alice'), []);
  });

  test('cancel all', async () => {
    for (const price of ['62000', '62100'])
      await h.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'sell',
        type: 'limit',
        price,
        amount: '0.1',
      });
    const r = await h.ok<{ canceled: Fields[] }>('DELETE', '/api/v1/orders?symbol=BTCUSDT', 'alice');
    assert.equal(r.canceled.length, 2);
    assert.deepEqual(await h.ok<OpenOrder[]>('GET', '/api/v1/orders', 'alice'), []);
  });

  test('a crossing order fills: order result, positions, balance, fills, trades, book, ticker', async () => {
    await h.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'limit',
      price: '60000',
      amount: '0.5',
    });
    const taken = await h.ok<OrderResult>('POST', '/api/v1/orders', 'bob', {
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'limit',
      price: '60000',
      amount: '0.2',
      timeInForce: 'IOC',
    });
    assert.equal(taken.status, 'closed');
    assert.equal(taken.filled, '0.2');
    assert.equal(taken.average, '60000');
    assert.equal(taken.cost, '12000');
    assert.deepEqual(taken.fee, { cost: '6', currency: 'USDT' }); // 0.05% of 12,000
    assert.equal(taken.trades.length, 1);
    assert.equal(taken.trades[0]!.takerOrMaker, 'taker');

    const pos = (await h.ok<PositionJson[]>('GET', '/api/v1/positions', 'bob'))[0]!;
    assert.equal(pos.side, 'long');
    assert.equal(pos.contracts, '0.2');
    assert.equal(pos.entryPrice, '60000');
    assert.equal(pos.marginMode, 'isolated');
    assert.equal(pos.collateral, '1200'); // 12,000 at 10x
    assert.ok(pos.liquidationPrice !== null && Number(pos.liquidationPrice) < 60000);

    const bal = await h.ok<BalancesJson>('GET', '/api/v1/balance', 'bob');
    assert.deepEqual(bal.total, { USDT: '99994' });
    assert.equal(bal.balances[0]!.used, '1200');

    const fills = await h.ok<FillJson[]>('GET', '/api/v1/my-trades', 'alice');
    assert.equal(fills[0]!.takerOrMaker, 'maker');
    assert.equal(fills[0]!.side, 'sell');
    assert.deepEqual(fills[0]!.fee, { cost: '2.4', currency: 'USDT' });

    const trades = await h.call<TradeJson[]>('GET', '/api/v1/trades/BTCUSDT?limit=5');
    assert.equal(trades.status, 200);
    assert.deepEqual(
      { side: trades.json[0]!.side, price: trades.json[0]!.price, amount: trades.json[0]!.amount },
      { side: 'buy', price: '60000', amount: '0.2' },
    );
    assert.equal((trades.json[0] as Fields).taker, undefined, 'public trades carry no account ids');

    const book = await h.call<OrderBookJson>('GET', '/api/v1/orderbook/BTCUSDT?limit=10');
    assert.deepEqual(book.json.asks, [['60000', '0.3']]);
    assert.deepEqual(book.json.bids, []);
    assert.equal(book.json.seq, h.service.engine.seq);

    const t = await h.call<TickerJson>('GET', '/api/v1/tickers/BTCUSDT');
    assert.equal(t.json.ask, '60000');
    assert.equal(t.json.askVolume, '0.3');
    assert.equal(t.json.last, '60000');
    assert.equal(t.json.markPrice, '60000');
    assert.equal(t.json.openInterest, '0.2');

    const mp = await h.call<MarkPriceJson>('GET', '/api/v1/mark-price/BTCUSDT');
    assert.deepEqual(
      { markPrice: mp.json.markPrice, indexPrice: mp.json.indexPrice },
      { markPrice: '60000', indexPrice: null },
    );
    assert.deepEqual(h.service.mirror.verifyAgainst(h.service.engine), []);
  });

  test('leverage, add and reduce margin answer the new position with its liquidation price', async () => {
    const before = (await h.ok<PositionJson[]>('GET', '/api/v1/positions', 'bob'))[0]!;
    const added = await h.ok<MarginChangeJson>('POST', '/api/v1/margin/add', 'bob', {
      symbol: 'BTCUSDT',
      amount: '500',
    });
    assert.equal(added.type, 'add');
    assert.equal(added.code, 'USDT');
    assert.equal(added.position.collateral, '1700');
    assert.ok(Number(added.position.liquidationPrice) < Number(before.liquidationPrice));
    const reduced = await h.ok<MarginChangeJson>('POST', '/api/v1/margin/reduce', 'bob', {
      symbol: 'BTCUSDT',
      amount: '500',
    });
    assert.equal(reduced.position.collateral, '1200');
    assert.equal(reduced.position.liquidationPrice, before.liquidationPrice);
    const lev = await h.ok<{ leverage: string; position: PositionJson }>('POST', '/api/v1/leverage', 'bob', {
      symbol: 'BTCUSDT',
      leverage: '5',
    });
    assert.equal(lev.leverage, '5');
    assert.equal(lev.position.collateral, '2400');
    await h.ok('DELETE', '/api/v1/orders', 'alice');
    const lev2 = await h.ok('POST', '/api/v1/leverage', 'alice', { symbol: 'BTCUSDT', leverage: '20' });
    assert.equal(lev2.leverage, '20');
  });

  test('margin mode (flat market)', async () => {
    await h.ok('POST', '/api/v1/admin/markets', 'admin', { ...BTCUSDT, symbol: 'XBTUSDT' });
    const r = await h.ok('POST', '/api/v1/margin-mode', 'alice', { symbol: 'XBTUSDT', marginMode: 'cross' });
    assert.deepEqual(
      { symbol: r.symbol, marginMode: r.marginMode },
      { symbol: 'XBTUSDT', marginMode: 'cross' },
    );
    const again = await h.ok('POST', '/api/v1/margin-mode', 'alice', {
      symbol: 'XBTUSDT',
      marginMode: 'isolated',
    });
    assert.equal(again.marginMode, 'isolated');
  });

  test('auto-add margin', {
    skip: !engineSupports('setAutoAddMargin') && 'engine lacks setAutoAddMargin',
  }, async () => {
    const r = await h.ok('POST', '/api/v1/auto-add-margin', 'bob', {
      symbol: 'BTCUSDT',
      enabled: true,
      policy: 'restoreInitialMargin',
      trigger: '0.7',
    });
    assert.deepEqual(
      { enabled: r.enabled, policy: r.policy, trigger: r.trigger },
      { enabled: true, policy: 'restoreInitialMargin', trigger: '0.7' },
    );
    const off = await h.ok('POST', '/api/v1/auto-add-margin', 'bob', { symbol: 'BTCUSDT', enabled: false });
    assert.equal(off.enabled, false);
  });

  test('admin: deposit, withdraw, insurance fund', async () => {
    const d = await h.ok('POST', '/api/v1/admin/deposit', 'admin', {
      account: 'carol',
      asset: 'USDT',
      amount: '250.5',
    });
    assert.deepEqual(d.balance, { asset: 'USDT', free: '250.5', used: '0', total: '250.5' });
    const w = await h.ok<{ balance: { total: string } }>('POST', '/api/v1/admin/withdraw', 'admin', {
      account: 'carol',
      asset: 'USDT',
      amount: '50.25',
    });
    assert.equal(w.balance.total, '200.25');
    // Admin reads any account.
    const b = await h.ok<BalancesJson>('GET', '/api/v1/balance?account=carol', 'admin');
    assert.deepEqual(b.free, { USDT: '200.25' });
    const before = (await h.call<{ balance: string }>('GET', '/api/v1/insurance/USDT')).json.balance;
    if (engineSupports('fundInsurance')) {
      const f = await h.ok<{ balance: string }>('POST', '/api/v1/admin/insurance', 'admin', {
        asset: 'USDT',
        amount: '1000',
      });
      assert.equal(Number(f.balance) - Number(before), 1000);
      const all = await h.call<Fields[]>('GET', '/api/v1/insurance');
      assert.deepEqual(all.json, [{ asset: 'USDT', balance: f.balance }]);
    }
    const ins = await h.call<{ asset: string }>('GET', '/api/v1/insurance/USDT');
    assert.equal(ins.status, 200);
    assert.equal(ins.json.asset, 'USDT');
  });

  test('oracle quotes, funding rate history and funding payments', async () => {
    await h.ok('POST', '/api/v1/admin/markets', 'admin', FUNDED);
    let r: { markPrice: string | null; indexPrice: string | null } = { markPrice: null, indexPrice: null };
    for (const source of ['a', 'b', 'c'])
      r = await h.ok('POST', '/api/v1/admin/oracle', 'admin', { symbol: 'ETHUSDT', source, price: '3000' });
    assert.deepEqual(r, { ...r, markPrice: '3000', indexPrice: '3000' });
    await h.ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
      symbol: 'ETHUSDT',
      side: 'sell',
      type: 'limit',
      price: '3000',
      amount: '1',
    });
    await h.ok<OrderResult>('POST', '/api/v1/orders', 'bob', {
      symbol: 'ETHUSDT',
      side: 'buy',
      type: 'limit',
      price: '3000',
      amount: '1',
    });
    h.clock.advance(61_000);
    await h.ok('POST', '/api/v1/admin/oracle', 'admin', { symbol: 'ETHUSDT', source: 'a', price: '3000' });
    const rates = await h.call<FundingRateJson[]>('GET', '/api/v1/funding-rates/ETHUSDT');
    assert.equal(rates.status, 200);
    assert.ok(rates.json.length >= 1, 'a funding time passed');
    assert.equal(typeof rates.json[0]!.fundingRate, 'string');
    // Touching the position settles its funding.
    await h.ok<MarginChangeJson>('POST', '/api/v1/margin/add', 'bob', { symbol: 'ETHUSDT', amount: '1' });
    const paid = await h.ok<FundingPaymentJson[]>('GET', '/api/v1/funding-history?symbol=ETHUSDT', 'bob');
    assert.equal(paid.length, 1);
    assert.equal(paid[0]!.symbol, 'ETHUSDT');
    assert.ok(Number(paid[0]!.amount) > 0, 'a long pays a positive rate');
    const t = await h.call<TickerJson>('GET', '/api/v1/tickers/ETHUSDT');
    assert.equal(t.json.indexPrice, '3000');
    assert.equal(t.json.oracle, 'valid');
    assert.equal(typeof t.json.nextFundingTime, 'number');
  });

  test('liquidation lists answer (empty until something is liquidated)', async () => {
    const pub = await h.call<LiquidationJson[]>('GET', '/api/v1/liquidations/BTCUSDT');
    assert.equal(pub.status, 200);
    assert.ok(Array.isArray(pub.json));
    const mine = await h.ok<Fields[]>('GET', '/api/v1/my-liquidations', 'bob');
    assert.ok(Array.isArray(mine));
  });

  test('what-if calculator equals `ringfence calc`', async () => {
    const scenario = {
      venue: 'bybit-linear',
      positions: [
        { symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '20000', leverage: '50' },
        {
          symbol: 'BTCUSDT',
          side: 'short',
          size: '1',
          entryPrice: '20000',
          leverage: '50',
          extraMargin: '3000',
        },
      ],
    };
    const r = await h.call<{ positions: { liquidationPrice: string | null }[] }>(
      'POST',
      '/api/v1/calc',
      scenario,
    );
    assert.equal(r.status, 200);
    assert.equal(r.json.positions[0]!.liquidationPrice, '19700');
    assert.equal(r.json.positions[1]!.liquidationPrice, '23300');
    const { calc } = await import('../../src/core/scenario.ts');
    assert.deepEqual(r.json, JSON.parse(JSON.stringify(calc(scenario))));
  });

  test('health, metrics, OpenAPI and swagger-ui', async () => {
    const health = await h.call<Fields>('GET', '/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'ok');
    assert.equal(health.json.seq, h.service.engine.seq);
    const metrics = await h.call('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /ringfence_commands_total\{type="placeOrder",result="accepted"\} \d+/);
    assert.match(metrics.text, /ringfence_command_duration_seconds_bucket\{le="0.001",type="placeOrder"\}/);
    assert.match(metrics.text, /ringfence_insurance_fund\{asset="USDT"\}/);
    assert.match(metrics.text, /ringfence_ws_clients 0/);
    assert.match(metrics.text, /ringfence_liquidations_total/);
    const doc = await h.call<{
      openapi: string;
      paths: Record<string, { post?: Fields }>;
      components: { securitySchemes: Fields };
    }>('GET', '/docs/json');
    assert.equal(doc.status, 200);
    assert.equal(doc.json.openapi, '3.0.3');
    for (const p of [
      '/api/v1/orders',
      '/api/v1/positions',
      '/api/v1/admin/markets',
      '/api/v1/calc',
      '/api/v1/margin/add',
      '/api/v1/vaults/{vault}',
      '/api/v1/vaults/{vault}/history',
      '/api/v1/vaults/{vault}/holding',
    ])
      assert.ok(doc.json.paths[p], `OpenAPI documents ${p}`);
    assert.ok(doc.json.paths['/api/v1/orders']?.post?.requestBody, 'request bodies come from the schemas');
    assert.ok(doc.json.components.securitySchemes.signature);
    const ui = await h.call('GET', '/docs');
    assert.equal(ui.status, 200);
    assert.match(ui.text, /swagger/i);
  });

  test('every acknowledged write is in the journal', async () => {
    await h.service.journal.flush();
    const store = new SqliteJournalStore(h.config.journalUrl, { readonly: true });
    try {
      assert.equal(store.lastSeq(), h.service.engine.seq);
    } finally {
      store.close();
    }
  });
});
