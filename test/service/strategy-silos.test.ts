/**
 * Strategy silos through the service (issue 18), over a real socket: anyone reads the strategy models' parameters
 * (GET /api/v1/strategy-margin, decimal strings per underlying); only the admin sets them, and a bad field is refused
 * by name; alice opens a credit call spread in a `maxLoss` silo and the silo read shows its max loss, the strategy
 * recognised, the strategies with their legs, and the worst case; closing the long leg first is refused
 * CLOSE_RAISES_REQUIREMENT (422).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { optionSymbol } from '../../src/engine/commands/options.ts';
import {
  BTCUSDT,
  type ErrorJson,
  type Fields,
  Harness,
  type KeyName,
  type OrderResult,
  signedFetch,
} from './helpers.ts';

const T = { timeout: 30_000 };

/** 08:00 UTC thirty days from now: an expiry the service's wall clock has not reached. */
const EXPIRY = (() => {
  const d = new Date(Date.now() + 30 * 86_400_000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 8);
})();
const SHORT = optionSymbol('BTC', 'USDT', 'linear', EXPIRY, '100000', 'call');
const LONG = optionSymbol('BTC', 'USDT', 'linear', EXPIRY, '110000', 'call');

interface StrategyJson {
  type: string;
  direction: string;
  underlying: string;
  expiry: number | null;
  legs: { symbol: string; size: string }[];
  initialMargin: string;
  maintenanceMargin: string;
  maxLoss: string | null;
}
interface SiloJson extends Fields {
  riskModel: string;
  collateral: string;
  initialMargin: string;
  maintenanceMargin: string;
  standaloneInitialMargin: string;
  maxLoss: string | null;
  strategy: string | null;
  strategies: StrategyJson[];
  worst: Fields | null;
}

describe('strategy silos over REST', () => {
  let h: Harness;
  let base: string;

  const api = async <R = Fields>(method: string, path: string, as: KeyName, body?: unknown) => {
    h.clock.t = Math.max(h.clock.t, Date.now());
    return (await signedFetch(base, method, path, as, body)) as { status: number; json: R & Fields };
  };
  const ok = async <R = Fields>(method: string, path: string, as: KeyName, body?: unknown): Promise<R> => {
    const r = await api<R>(method, path, as, body);
    assert.equal(r.status, 200, `${method} ${path} → ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  /** Bob rests the other side at `price`; alice takes it in silo `box`. */
  const trade = async (symbol: string, side: 'buy' | 'sell', price: string) => {
    await ok('POST', '/api/v1/orders', 'bob', {
      symbol,
      side: side === 'buy' ? 'sell' : 'buy',
      type: 'limit',
      amount: '1',
      price,
    });
    return ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
      symbol,
      side,
      type: 'limit',
      amount: '1',
      price,
      silo: 'box',
    });
  };
  const box = () => ok<SiloJson>('GET', '/api/v1/silos/box', 'alice');
  /** The options' marks as the vol quote answered them (numbers: for picking round trade prices only). */
  const marks = new Map<string, number>();
  const mark = async (symbol: string): Promise<number> => marks.get(symbol)!;
  /** The spread's max loss once opened (decimal string). */
  let maxLoss = '';

  before(async () => {
    h = await Harness.open();
    const wsUrl = await h.listen();
    base = wsUrl.replace('ws://', 'http://').replace(/\/ws$/, '');
    await ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
    await ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '100000' });
    await ok('POST', '/api/v1/admin/option-chain', 'admin', {
      underlying: 'BTCUSDT',
      settle: 'linear',
      expiries: [EXPIRY],
      strikes: ['100000', '110000'],
      types: ['call'],
      tickSize: '0.1',
      lotSize: '0.01',
      takerFee: '0',
      makerFee: '0',
    });
    const quoted = await ok<{ options: { symbol: string; markPrice: string }[] }>(
      'POST',
      '/api/v1/admin/vol',
      'admin',
      {
        underlying: 'BTCUSDT',
        expiry: EXPIRY,
        smile: { kind: 'strikes', ivs: { '100000': '0.6' } },
      },
    );
    for (const o of quoted.options) marks.set(o.symbol, Number(o.markPrice));
    for (const account of ['alice', 'bob'])
      await ok('POST', '/api/v1/admin/deposit', 'admin', { account, asset: 'USDT', amount: '1000000' });
  });
  after(async () => {
    await h.cleanup();
  });

  test('anyone reads the strategy models’ parameters as decimal strings, per underlying', T, async () => {
    const r = await fetch(`${base}/api/v1/strategy-margin`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(r.status, 200);
    const p = (await r.json()) as {
      unpairedIMScale: string;
      unpairedMMScale: string;
      scenario: Record<string, Fields>;
    };
    assert.equal(p.unpairedIMScale, '1.2');
    assert.equal(p.unpairedMMScale, '1.1');
    assert.equal(p.scenario.default!.priceRange, '0.16');
  });

  test(
    'only the admin sets them; an unknown field is refused naming it; fields not sent keep their value',
    T,
    async () => {
      const denied = await api('POST', '/api/v1/admin/strategy-margin', 'alice', { unpairedIMScale: '1.5' });
      assert.equal(denied.status, 403);
      const bad = await api<ErrorJson>('POST', '/api/v1/admin/strategy-margin', 'admin', {
        scenario: { default: { priceRang: '0.2' } },
      });
      assert.equal(bad.status, 400);
      assert.match(bad.json.message, /priceRang/);
      const set = await ok<Fields & { seq: number; unpairedIMScale: string; unpairedMMScale: string }>(
        'POST',
        '/api/v1/admin/strategy-margin',
        'admin',
        { unpairedIMScale: '1.3' },
      );
      assert.equal(set.unpairedIMScale, '1.3');
      assert.equal(set.unpairedMMScale, '1.1');
      assert.ok(set.seq > 0);
      const r = await fetch(`${base}/api/v1/strategy-margin`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(((await r.json()) as Fields).unpairedIMScale, '1.3');
    },
  );

  test(
    'a credit call spread in a maxLoss silo: the read shows its max loss as the requirement, the vertical, its legs and the worst price',
    T,
    async () => {
      const created = await ok<SiloJson>('POST', '/api/v1/silos', 'alice', {
        silo: 'box',
        asset: 'USDT',
        riskModel: 'maxLoss',
      });
      assert.equal(created.riskModel, 'maxLoss');
      assert.equal(created.maxLoss, null);
      assert.deepEqual(created.strategies, []);
      await ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'free', to: 'box', amount: '20000' });
      // At whole-dollar prices on Alice's good side of each mark (no loss against it): the credit is their difference.
      const long = Math.floor(await mark(LONG));
      const short = Math.ceil(await mark(SHORT));
      await trade(LONG, 'buy', String(long));
      await trade(SHORT, 'sell', String(short));
      maxLoss = String(10_000 - (short - long));
      const s = await box();
      assert.equal(s.maxLoss, maxLoss, '10,000 wide less the credit');
      assert.equal(s.initialMargin, maxLoss);
      assert.equal(s.strategy, 'vertical');
      assert.equal(s.strategies.length, 1);
      const v = s.strategies[0]!;
      assert.deepEqual(
        {
          type: v.type,
          direction: v.direction,
          underlying: v.underlying,
          expiry: v.expiry,
          maxLoss: v.maxLoss,
        },
        { type: 'vertical', direction: 'credit', underlying: 'BTC', expiry: EXPIRY, maxLoss },
      );
      assert.deepEqual(
        v.legs.map((l) => [l.symbol, l.size]).sort(),
        [
          [LONG, '1'],
          [SHORT, '1'],
        ].sort(),
      );
      assert.equal(s.worst?.kind, 'price');
      assert.ok(Number(s.standaloneInitialMargin) > Number(maxLoss));
    },
  );

  test(
    'with the silo holding exactly its max loss, closing the long call first is refused CLOSE_RAISES_REQUIREMENT (422)',
    T,
    async () => {
      const s = await box();
      const extra = String(Number(s.collateral) - Number(maxLoss));
      await ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'box', to: 'free', amount: extra });
      const price = String(Math.floor(await mark(LONG)));
      await ok('POST', '/api/v1/orders', 'bob', {
        symbol: LONG,
        side: 'buy',
        type: 'limit',
        amount: '1',
        price,
      });
      const r = await api<ErrorJson>('POST', '/api/v1/orders', 'alice', {
        symbol: LONG,
        side: 'sell',
        type: 'limit',
        amount: '1',
        price,
        silo: 'box',
      });
      assert.equal(r.status, 422, JSON.stringify(r.json));
      assert.equal(r.json.code, 'CLOSE_RAISES_REQUIREMENT');
      assert.match(r.json.message, new RegExp(LONG));
    },
  );
});
