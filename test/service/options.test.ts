/**
 * Options through the service, over a real socket: the admin lists a linear BTC chain on BTCUSDT (index 90,000) and
 * quotes its smile; anyone reads the chain — marks, IVs and Greeks per strike, which are core Black-76 at the feed's
 * forward, IV and time — and follows vol updates on `options.BTCUSDT`; bob writes a call that alice buys, and both
 * read their positions with the Greeks (signed: alice's long delta is bob's short delta negated), in GET /positions
 * and in GET /silos alike; a malformed vol quote is refused naming its field and changes nothing; a single option
 * market comes from a MarketConfig too; an inverse chain quoted by SVI marks in the coin with USD-value Greeks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { formatDecimal, parseDecimal } from '../../src/core/fixed.ts';
import { black76, sviVol, WAD, yearsFromSeconds } from '../../src/core/options/black76.ts';
import { optionSymbol } from '../../src/engine/commands/options.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { kernelMarkMismatch } from '../engine/kernel-bound.ts';
import {
  BTCUSDT,
  type ErrorJson,
  type Fields,
  Harness,
  type KeyName,
  type MarketJson,
  type OrderResult,
  type PositionJson,
  signedFetch,
} from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

const T = { timeout: 30_000 };

/** 08:00 UTC thirty days from now: an expiry the service's wall clock has not reached. */
const EXPIRY = (() => {
  const d = new Date(Date.now() + 30 * 86_400_000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 8);
})();
const sym = (strike: string, type: 'call' | 'put') =>
  optionSymbol('BTC', 'USDT', 'linear', EXPIRY, strike, type);
const CALL = sym('100000', 'call');
const PUT = sym('100000', 'put');
const wad = (s: string) => parseDecimal(s, 'x', { dp: 18, signed: true });

interface Row {
  symbol: string;
  markPrice: string | null;
  iv: string | null;
  delta: string | null;
  gamma: string | null;
  vega: string | null;
  theta: string | null;
  bid: string | null;
  ask: string | null;
  openInterest: string;
}
interface Chain {
  underlying: string;
  spot: string | null;
  expiries: {
    expiry: number;
    forward: string | null;
    vol: { validity: string; kind: string | null; quoteTime: number | null };
    markTime: number;
    strikes: { strike: string; call: Row | null; put: Row | null }[];
  }[];
}
type OptionPosition = PositionJson & Fields;

describe('options over REST and WebSocket', () => {
  let h: Harness;
  let base: string;
  let ws: WsTestClient;

  const api = async <R = Fields>(method: string, path: string, as: KeyName, body?: unknown) => {
    h.clock.t = Math.max(h.clock.t, Date.now());
    return (await signedFetch(base, method, path, as, body)) as { status: number; json: R & Fields };
  };
  const ok = async <R = Fields>(method: string, path: string, as: KeyName, body?: unknown): Promise<R> => {
    const r = await api<R>(method, path, as, body);
    assert.equal(r.status, 200, `${method} ${path} → ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  const get = async <R>(path: string): Promise<R> => {
    const r = await fetch(base + path, { signal: AbortSignal.timeout(5_000) });
    assert.equal(r.status, 200, `GET ${path} → ${r.status}`);
    return (await r.json()) as R;
  };
  const chain = () => get<Chain>('/api/v1/option-chain/BTCUSDT');
  const row = (c: Chain, strike: string, type: 'call' | 'put'): Row =>
    c.expiries[0]!.strikes.find((s) => s.strike === strike)![type]!;

  before(async () => {
    h = await Harness.open();
    const wsUrl = await h.listen();
    base = wsUrl.replace('ws://', 'http://').replace(/\/ws$/, '');
    await ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
    await ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '90000' });
    for (const account of ['alice', 'bob'])
      await ok('POST', '/api/v1/admin/deposit', 'admin', { account, asset: 'USDT', amount: '100000' });
    ws = await WsTestClient.connect(wsUrl);
    const sub = await ws.request('subscribe', ['options.BTCUSDT']);
    assert.equal(sub.success, true, JSON.stringify(sub));
  });
  after(async () => {
    ws.terminate();
    await h.cleanup();
  });

  test(
    'the admin lists a linear chain (80,000 and 100,000, calls and puts); markets?type=option shows ccxt option fields',
    T,
    async () => {
      const body = {
        underlying: 'BTCUSDT',
        settle: 'linear',
        expiries: [EXPIRY],
        strikes: ['80000', '100000'],
        tickSize: '0.1',
        lotSize: '0.01',
      };
      const refused = await api<ErrorJson>('POST', '/api/v1/admin/option-chain', 'alice', body);
      assert.equal(refused.status, 403, 'a trading key cannot list options');

      const created = await ok<{ seq: number; markets: MarketJson[] }>(
        'POST',
        '/api/v1/admin/option-chain',
        'admin',
        body,
      );
      assert.deepEqual(
        created.markets.map((m) => m.symbol),
        [sym('80000', 'call'), sym('80000', 'put'), CALL, PUT],
      );
      const call = created.markets.find((m) => m.symbol === CALL)!;
      assert.deepEqual(
        {
          type: call.type,
          optionType: call.optionType,
          strike: call.strike,
          expiry: call.expiry,
          expiryDatetime: call.expiryDatetime,
          underlying: call.underlying,
          settle: call.settle,
          linear: call.linear,
          inverse: call.inverse,
          base: call.base,
        },
        {
          type: 'option',
          optionType: 'call',
          strike: '100000',
          expiry: EXPIRY,
          expiryDatetime: new Date(EXPIRY).toISOString(),
          underlying: 'BTCUSDT',
          settle: 'USDT',
          linear: true,
          inverse: false,
          base: 'BTC',
        },
      );

      const options = await get<MarketJson[]>('/api/v1/markets?type=option');
      assert.deepEqual(options.map((m) => m.symbol).sort(), created.markets.map((m) => m.symbol).sort());
      const swaps = await get<MarketJson[]>('/api/v1/markets?type=swap');
      assert.deepEqual(
        swaps.map((m) => m.symbol),
        ['BTCUSDT'],
      );
      assert.equal(swaps[0]!.optionType, undefined, 'a perpetual has no option fields');
      const one = await get<MarketJson>(`/api/v1/markets/${PUT}`);
      assert.equal(one.optionType, 'put');
      const bad = await fetch(`${base}/api/v1/markets?type=spot`);
      assert.equal(bad.status, 400);
    },
  );

  test(
    'a single option market from a MarketConfig (a 90,000 put alone) joins the same expiry',
    T,
    async () => {
      const put = await ok<MarketJson>('POST', '/api/v1/admin/markets', 'admin', {
        symbol: sym('90000', 'put'),
        kind: 'linear',
        base: 'BTC',
        quote: 'USDT',
        tickSize: '0.1',
        lotSize: '0.01',
        settleDp: 8,
        maxLeverage: '1',
        defaultLeverage: '1',
        risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.5', maxLeverage: '1' }] },
        takerFee: '0.0003',
        makerFee: '0.0003',
        option: { underlying: 'BTCUSDT', type: 'put', strike: '90000', expiry: EXPIRY, settle: 'linear' },
        optionMargin: 'deribit',
      });
      assert.deepEqual([put.type, put.optionType, put.optionMargin], ['option', 'put', 'deribit']);
      const onBtc = await get<MarketJson[]>('/api/v1/markets?type=option&underlying=BTCUSDT');
      assert.equal(onBtc.length, 5);
    },
  );

  test('before any vol quote the chain has no marks, IVs or Greeks; the feed says so', T, async () => {
    const c = await chain();
    assert.equal(c.expiries.length, 1);
    assert.equal(c.expiries[0]!.vol.validity, 'insufficientSources');
    assert.equal(row(c, '100000', 'call').markPrice, null);
    assert.equal(row(c, '100000', 'call').iv, null);
    assert.equal(row(c, '100000', 'call').delta, null);
  });

  test(
    'the admin quotes the smile (55% at 100,000, 60% at 80,000): the answer and options.BTCUSDT carry marks and IVs',
    T,
    async () => {
      const quoted = await ok<Fields & { options: { symbol: string; markPrice: string; iv: string }[] }>(
        'POST',
        '/api/v1/admin/vol',
        'admin',
        {
          underlying: 'BTCUSDT',
          expiry: EXPIRY,
          smile: { kind: 'strikes', ivs: { '100000': '0.55', '80000': '0.6' } },
        },
      );
      assert.equal(quoted.validity, 'valid');
      assert.equal(quoted.forward, '90000');
      const ivs = Object.fromEntries(quoted.options.map((o) => [o.symbol, o.iv]));
      assert.deepEqual(ivs, {
        [sym('80000', 'call')]: '0.6',
        [sym('80000', 'put')]: '0.6',
        [CALL]: '0.55',
        [PUT]: '0.55',
        // Between quoted strikes the IV is linear in strike.
        [sym('90000', 'put')]: '0.575',
      });
      const pushed = await ws.next((m) => m.topic === 'options.BTCUSDT');
      assert.equal(pushed.seq, quoted.seq, 'the stream message carries the quote’s seq');
      const item = pushed.data[0]!;
      assert.equal(item.type, 'volUpdate');
      assert.deepEqual(item.options, quoted.options, 'the stream shows what the quote answered');
    },
  );

  test(
    'the chain: marks, IVs and Greeks per strike are core Black-76 at the feed’s forward, IV and time',
    T,
    async () => {
      const c = await chain();
      const x = c.expiries[0]!;
      assert.equal(c.spot, '90000');
      assert.equal(x.forward, '90000', 'no same-expiry future: the forward is the index');
      assert.equal(x.vol.validity, 'valid');
      assert.equal(x.vol.kind, 'strikes');
      assert.deepEqual(
        x.strikes.map((s) => [s.strike, s.call?.symbol ?? null, s.put?.symbol ?? null]),
        [
          ['80000', sym('80000', 'call'), sym('80000', 'put')],
          ['90000', null, sym('90000', 'put')],
          ['100000', CALL, PUT],
        ],
      );
      const years = yearsFromSeconds(Math.floor((EXPIRY - x.markTime) / 1000));
      const ref = black76({ forward: wad('90000'), strike: wad('100000'), years, vol: wad('0.55') });
      const call = row(c, '100000', 'call');
      const put = row(c, '100000', 'put');
      const w = (v: bigint) => formatDecimal(v, 18);
      assert.deepEqual(
        [call.iv, call.delta, call.gamma, call.vega, call.theta],
        ['0.55', w(ref.callDelta), w(ref.gamma), w(ref.vega), w(ref.theta)],
      );
      assert.deepEqual([put.delta, put.gamma, put.vega], [w(ref.putDelta), w(ref.gamma), w(ref.vega)]);
      // The engine's mark is the same price floored to the market's price decimals — by the integer chain kernel,
      // so one unit off where the premium lies within the kernel's bound of a unit (the wall clock picks the time).
      const dp = h.service.engine.markets.get(CALL)!.inst.priceDp;
      const units = (s: string) => parseDecimal(s, 'mark', { dp });
      for (const [mark, premium] of [
        [call.markPrice!, ref.call],
        [put.markPrice!, ref.put],
      ] as const) {
        const why = kernelMarkMismatch(units(mark), premium, dp, wad('90000'));
        assert.equal(why, null, `${mark}: ${why}`);
      }
      // An OTM 30-day call at 55%: delta about 0.28; call − put delta = 1 exactly (D = 1).
      const delta = Number(call.delta);
      assert.ok(delta > 0.2 && delta < 0.35, `call delta ${call.delta}`);
      assert.equal(wad(call.delta!) - wad(put.delta!), WAD);
      assert.equal(row(c, '80000', 'put').iv, '0.6');
      assert.equal(call.openInterest, '0');
    },
  );

  test(
    'bob writes 0.5 of the 100,000 call at its mark (to the tick), alice buys it; her resting bid shows in the chain',
    T,
    async () => {
      // The mark is kept at the price decimals; an order is priced in ticks of 0.1.
      const [units, fraction = ''] = row(await chain(), '100000', 'call').markPrice!.split('.');
      const mark = fraction === '' ? units! : `${units}.${fraction[0]}`;
      const ask = await ok<OrderResult>('POST', '/api/v1/orders', 'bob', {
        symbol: CALL,
        side: 'sell',
        type: 'limit',
        amount: '0.5',
        price: mark,
      });
      assert.equal(ask.status, 'open');
      const bought = await ok<OrderResult>('POST', '/api/v1/orders', 'alice', {
        symbol: CALL,
        side: 'buy',
        type: 'limit',
        amount: '0.5',
        price: mark,
      });
      assert.equal(bought.status, 'closed');
      assert.equal(bought.filled, '0.5');
      assert.equal(wad(bought.average!), wad(mark));
      await ok('POST', '/api/v1/orders', 'alice', {
        symbol: PUT,
        side: 'buy',
        type: 'limit',
        amount: '0.1',
        price: '100',
      });
      const c = await chain();
      assert.equal(row(c, '100000', 'call').openInterest, '0.5');
      assert.deepEqual([row(c, '100000', 'put').bid, row(c, '100000', 'put').ask], ['100', null]);
    },
  );

  test(
    'positions carry the option and its Greeks × size, signed; GET /silos shows the legs the same way',
    T,
    async () => {
      const c = await chain();
      const call = row(c, '100000', 'call');
      const [long] = await ok<OptionPosition[]>('GET', '/api/v1/positions', 'alice');
      const [short] = await ok<OptionPosition[]>('GET', '/api/v1/positions', 'bob');
      assert.ok(long && short);
      const half = (g: string | null) => w((wad(g!) * wad('0.5')) / WAD);
      const w = (v: bigint) => formatDecimal(v, 18);
      assert.deepEqual(
        {
          symbol: long.symbol,
          side: long.side,
          contracts: long.contracts,
          underlying: long.underlying,
          optionType: long.optionType,
          strike: long.strike,
          expiry: long.expiry,
          settle: long.settle,
          iv: long.iv,
          underlyingPrice: long.underlyingPrice,
          delta: long.delta,
          gamma: long.gamma,
          vega: long.vega,
          theta: long.theta,
        },
        {
          symbol: CALL,
          side: 'long',
          contracts: '0.5',
          underlying: 'BTCUSDT',
          optionType: 'call',
          strike: '100000',
          expiry: EXPIRY,
          settle: 'linear',
          iv: '0.55',
          underlyingPrice: '90000',
          delta: half(call.delta),
          gamma: half(call.gamma),
          vega: half(call.vega),
          theta: half(call.theta),
        },
      );
      // The writer holds the mirror image: every Greek negated.
      assert.equal(short.side, 'short');
      for (const g of ['delta', 'gamma', 'vega', 'theta'] as const)
        assert.equal(wad(short[g] as string), -wad(long[g] as string), g);

      const silos = await ok<{ id: string; legs: OptionPosition[] }[]>('GET', '/api/v1/silos', 'bob');
      const box = silos.find((s) => s.id === `isolated:${CALL}`);
      assert.ok(box, JSON.stringify(silos.map((s) => s.id)));
      assert.deepEqual(box.legs[0], short, 'a silo leg reads as the position');
    },
  );

  test('a new vol quote moves the positions’ IV and Greeks with it', T, async () => {
    const [before_] = await ok<OptionPosition[]>('GET', '/api/v1/positions', 'alice');
    await ok('POST', '/api/v1/admin/vol', 'admin', {
      underlying: 'BTCUSDT',
      expiry: EXPIRY,
      smile: { kind: 'strikes', ivs: { '100000': '0.65', '80000': '0.7' } },
    });
    const [after_] = await ok<OptionPosition[]>('GET', '/api/v1/positions', 'alice');
    assert.equal(after_!.iv, '0.65');
    assert.ok(
      wad(after_!.delta as string) > wad(before_!.delta as string),
      'an OTM call’s delta rises with vol',
    );
    assert.ok(Number(after_!.markPrice) > Number(before_!.markPrice), 'and so does its mark');
  });

  test('a malformed vol quote is refused with its field named (400) and changes nothing', T, async () => {
    const before_ = stateHash(h.service.engine);
    const seq = h.service.engine.seq;
    const cases: [unknown, string, string][] = [
      [{ kind: 'strikes', ivs: { '100000': 'high' } }, 'INVALID_REQUEST', 'body.smile.ivs.100000'],
      [{ kind: 'svi', a: '0.04', rho: '-0.3', m: '0', sigma: '0.2' }, 'INVALID_REQUEST', 'body.smile.b'],
      [
        { kind: 'svi', a: '0.04', b: '0.4', rho: 'x', m: '0', sigma: '0.2' },
        'INVALID_REQUEST',
        'body.smile.rho',
      ],
      [{ kind: 'strikes', ivs: { '100000': '0.5' }, a: '0.1' }, 'INVALID_REQUEST', 'body.smile.a'],
      [{ kind: 'strikes', ivs: { '100000': '0.5' }, tilt: '1' }, 'INVALID_REQUEST', 'tilt'],
      [{ kind: 'flat', iv: '0.5' }, 'INVALID_REQUEST', 'body.smile'],
      // Well-formed but out of range: the engine refuses it, naming the field as well.
      [{ kind: 'svi', a: '0.04', b: '0.4', rho: '-2', m: '0', sigma: '0.2' }, 'INVALID_COMMAND', 'smile.rho'],
    ];
    for (const [smile, code, field] of cases) {
      const r = await api<ErrorJson>('POST', '/api/v1/admin/vol', 'admin', {
        underlying: 'BTCUSDT',
        expiry: EXPIRY,
        smile,
      });
      assert.equal(r.status, 400, `${JSON.stringify(smile)} → ${r.status} ${JSON.stringify(r.json)}`);
      assert.equal(r.json.code, code, JSON.stringify(r.json));
      assert.ok(r.json.message.includes(field), `"${r.json.message}" names ${field}`);
    }
    const unknownExpiry = await api<ErrorJson>('POST', '/api/v1/admin/vol', 'admin', {
      underlying: 'BTCUSDT',
      expiry: EXPIRY + 86_400_000,
      smile: { kind: 'strikes', ivs: { '100000': '0.5' } },
    });
    assert.deepEqual([unknownExpiry.status, unknownExpiry.json.code], [404, 'UNKNOWN_MARKET']);
    assert.equal(stateHash(h.service.engine), before_, 'refused quotes change nothing');
    assert.equal(h.service.engine.seq, seq);
  });

  test(
    'an inverse chain (Deribit’s BTC-…-C) settles in the coin; quoted by SVI, its mark is in BTC and its Greeks are of the USD value',
    T,
    async () => {
      const expiry = EXPIRY + 7 * 86_400_000;
      const symbol = optionSymbol('BTC', 'BTC', 'inverse', expiry, '100000', 'call');
      const created = await ok<{ markets: MarketJson[] }>('POST', '/api/v1/admin/option-chain', 'admin', {
        underlying: 'BTCUSDT',
        settle: 'inverse',
        expiries: [expiry],
        strikes: ['100000'],
        types: ['call'],
        tickSize: '0.0001',
        lotSize: '0.1',
      });
      const m = created.markets[0]!;
      assert.deepEqual(
        [m.symbol, m.type, m.settle, m.linear, m.inverse],
        [symbol, 'option', 'BTC', false, true],
      );
      const smile = { kind: 'svi', a: '0.04', b: '0.4', rho: '-0.3', m: '0', sigma: '0.2' };
      await ok('POST', '/api/v1/admin/vol', 'admin', { underlying: 'BTCUSDT', expiry, smile });
      const c = await chain();
      assert.deepEqual(
        c.expiries.map((x) => x.expiry),
        [EXPIRY, expiry],
        'expiries ascending, one feed each',
      );
      const x = c.expiries[1]!;
      const quoted = x.vol;
      assert.equal(quoted.kind, 'svi');
      const F = wad('90000');
      const K = wad('100000');
      const iv = sviVol(
        {
          a: wad('0.04'),
          b: wad('0.4'),
          rho: wad('-0.3'),
          m: 0n,
          sigma: wad('0.2'),
          forward: F,
          tau: yearsFromSeconds(Math.floor((expiry - quoted.quoteTime!) / 1000)),
        },
        K,
      );
      const ref = black76({
        forward: F,
        strike: K,
        years: yearsFromSeconds(Math.floor((expiry - x.markTime) / 1000)),
        vol: iv,
      });
      const call = x.strikes[0]!.call!;
      const w = (v: bigint) => formatDecimal(v, 18);
      assert.deepEqual(
        [call.iv, call.delta, call.gamma, call.vega, call.theta],
        [w(iv), w(ref.callDelta), w(ref.gamma), w(ref.vega), w(ref.theta)],
      );
      assert.equal(x.strikes[0]!.put, null, 'calls only');
      // The premium in coin: the USD price over the forward, floored to the market's price decimals.
      const dp = h.service.engine.markets.get(symbol)!.inst.priceDp;
      assert.equal(call.markPrice, formatDecimal((ref.call * WAD) / F / 10n ** BigInt(18 - dp), dp));
    },
  );
});
