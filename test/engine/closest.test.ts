/**
 * The venue's "closest to liquidation" read and the index walk behind it: a liquidation index is walked outward from
 * a key nearest first, both ways, lazily; the positions nearest their liquidation price across linear and inverse
 * markets, longs and shorts, isolated and cross, come out of the walk exactly as a full scan ranks them; the
 * distance figure is rounded toward danger; the read changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BACKSTOP_ACCOUNT, type Position } from '../../src/engine/account.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import {
  closestToLiquidation,
  fmtDistance,
  liquidationDistance,
  type PositionView,
  positionsOf,
} from '../../src/engine/readmodel.ts';
import type { MarketConfig } from '../../src/engine/types.ts';
import { BTCUSD, BTCUSDT, ETHUSDT, engineWithMarkets, ok } from './harness.ts';
import { deposit, limit } from './scenario-kit.ts';

const SPAN = 2n ** 32n;

/** A seeded LCG: the same venue every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const MARKETS: { cfg: MarketConfig; price: string; asset: string; size: () => string }[] = [
  { cfg: BTCUSDT, price: '60000', asset: 'USDT', size: () => '0.1' },
  { cfg: ETHUSDT, price: '3000', asset: 'USDT', size: () => '1' },
  { cfg: BTCUSD, price: '60000', asset: 'BTC', size: () => '100' },
];

/**
 * 60 traders, each with one position per market at a random leverage (2x to `maxLeverage`) and side, against a market maker at
 * 2x; one trader in `crossEvery` holds them in cross margin at 20x instead, on a wallet of 500 USDT (BTCUSDT and
 * ETHUSDT share it: 9,000 of notional) and 0.0001 BTC (BTCUSD alone: about 0.0017 BTC of notional). Then each mark is set
 * again, so the index files every position (a fill leaves it waiting to be re-filed until then).
 */
function venue(seed: number, crossEvery = 0, maxLeverage = 100): Engine {
  const e = engineWithMarkets(...MARKETS.map((m) => m.cfg));
  const r = rng(seed);
  deposit(e, 'mm', '1000000000');
  deposit(e, 'mm', '100000', 'BTC');
  for (const m of MARKETS) {
    ok(e, { type: 'setMarkPrice', symbol: m.cfg.symbol, price: m.price });
    ok(e, { type: 'setLeverage', account: 'mm', symbol: m.cfg.symbol, leverage: '2' });
  }
  for (let i = 0; i < 60; i++) {
    const a = `t${String(i).padStart(2, '0')}`;
    const cross = crossEvery > 0 && i % crossEvery === 0;
    deposit(e, a, cross ? '500' : '1000000');
    deposit(e, a, cross ? '0.0001' : '10', 'BTC');
    for (const m of MARKETS) {
      if (cross) {
        ok(e, { type: 'setMarginMode', account: a, symbol: m.cfg.symbol, mode: 'cross' });
        ok(e, { type: 'setLeverage', account: a, symbol: m.cfg.symbol, leverage: '20' });
      } else {
        const lev = String(2 + Math.floor(r() * (maxLeverage - 1)));
        ok(e, { type: 'setLeverage', account: a, symbol: m.cfg.symbol, leverage: lev });
      }
      const side = r() < 0.5 ? 'buy' : 'sell';
      limit(e, 'mm', m.cfg.symbol, side === 'buy' ? 'sell' : 'buy', m.size(), m.price);
      limit(e, a, m.cfg.symbol, side, m.size(), m.price);
    }
  }
  for (const m of MARKETS) ok(e, { type: 'setMarkPrice', symbol: m.cfg.symbol, price: m.price });
  return e;
}

/** Every open position's view with its exact distance (num / den), ranked as the read ranks them: the full scan. */
function scan(e: Engine): { account: string; v: PositionView }[] {
  const rows: { account: string; v: PositionView; num: bigint; den: bigint }[] = [];
  for (const a of e.accounts.keys())
    for (const v of a === BACKSTOP_ACCOUNT ? [] : positionsOf(e, a)) {
      if (v.liquidationPrice === null || v.markPrice === null) continue;
      const dp = e.markets.get(v.symbol)!.inst.priceDp;
      const mark = units(v.markPrice, dp);
      const lp = units(v.liquidationPrice, dp);
      rows.push({ account: a, v, num: v.side === 'long' ? mark - lp : lp - mark, den: mark });
    }
  rows.sort((x, y) => {
    const a = x.num * y.den;
    const b = y.num * x.den;
    if (a !== b) return a < b ? -1 : 1;
    return x.account < y.account ? -1 : x.account > y.account ? 1 : x.v.symbol < y.v.symbol ? -1 : 1;
  });
  return rows;
}

/** A decimal string in units of `dp` decimals. */
function units(s: string, dp: number): bigint {
  const [i, f = ''] = s.split('.');
  const neg = i!.startsWith('-');
  const v = BigInt(i!.replace('-', '')) * 10n ** BigInt(dp) + BigInt(f.padEnd(dp, '0') || '0');
  return neg ? -v : v;
}

describe('LiquidationIndex.nearest: outward from a key, nearest first, both ways', () => {
  test('every filed position of a side once, in non-decreasing distance of its key from the start', () => {
    const e = venue(7);
    for (const m of e.markets.values()) {
      const idx = m.liqIndex;
      for (const long of [true, false]) {
        const filed: Position[] = [];
        for (const a of e.accounts.values())
          for (const p of a.positions.values())
            if (p.market === m && p.liqKey !== null && p.liqLong === long) filed.push(p);
        for (const from of [idx.walkFrom(long, m.mark!), idx.keyOf(m.mark! / 2n), idx.keyOf(m.mark! * 3n)]) {
          const walked = [...idx.nearest(long, from)];
          assert.equal(walked.length, filed.length, `${m.symbol} ${long ? 'longs' : 'shorts'}`);
          assert.equal(new Set(walked).size, walked.length, 'no position twice');
          const dist = walked.map((p) => {
            const d = p.liqKey! - from * SPAN;
            return d < 0n ? -d : d;
          });
          for (let i = 1; i < dist.length; i++) assert.ok(dist[i - 1]! <= dist[i]!, `${m.symbol} step ${i}`);
        }
      }
    }
  });

  test('taking the first few stops there (a generator over the tree, not a copy of it)', () => {
    const e = venue(8);
    const m = e.markets.get('BTCUSDT')!;
    const it = m.liqIndex.nearest(true, m.liqIndex.walkFrom(true, m.mark!));
    const first = it.next();
    assert.equal(first.done, false);
    assert.equal(typeof first.value, 'object');
    it.return(undefined);
    assert.equal(it.next().done, true);
  });
});

describe('closestToLiquidation: the walk ranks as a full scan does', () => {
  for (const seed of [1, 2, 3]) {
    test(`isolated longs and shorts on BTCUSDT, ETHUSDT and inverse BTCUSD, marks moved (seed ${seed})`, () => {
      const e = venue(seed);
      // Longs come closer on BTCUSDT, shorts on ETHUSDT; BTCUSD stays.
      ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '59400' });
      ok(e, { type: 'setMarkPrice', symbol: 'ETHUSDT', price: '3030' });
      const hash = stateHash(e);
      for (const limit of [1, 15, 40]) {
        const got = closestToLiquidation(e, limit);
        const want = scan(e).slice(0, limit);
        assert.deepEqual(
          got.map((r) => [r.account, r.symbol, r.side, r.liquidationPrice, r.liquidationDistancePercent]),
          want.map(({ account, v }) => [
            account,
            v.symbol,
            v.side,
            v.liquidationPrice,
            v.liquidationDistancePercent,
          ]),
        );
      }
      const btc = closestToLiquidation(e, 10, 'BTCUSDT');
      assert.deepEqual(new Set(btc.map((r) => r.symbol)), new Set(['BTCUSDT']));
      assert.equal(btc.length, 10);
      assert.equal(stateHash(e), hash, 'a read changes nothing');
    });
  }

  test('cross accounts: every row is the price GET positions shows, nearest first; a sole cross position ranks exactly', () => {
    // Isolated at 2x–10x: the cross accounts (about 5 % from their prices) come first, the isolated ones after.
    const e = venue(4, 3, 10);
    ok(e, { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '59700' });
    const got = closestToLiquidation(e, 100);
    assert.equal(got.length, 100);
    const ranked = scan(e);
    const byKey = new Map(ranked.map(({ account, v }) => [`${account} ${v.symbol}`, v]));
    for (const r of got) {
      const v = byKey.get(`${r.account} ${r.symbol}`)!;
      assert.equal(
        r.liquidationPrice,
        v.liquidationPrice,
        `${r.account} ${r.symbol}: the price GET positions shows`,
      );
      assert.equal(r.liquidationDistancePercent, v.liquidationDistancePercent);
      assert.equal(r.marginMode, v.marginMode);
    }
    const d = got.map((r) => Number(r.liquidationDistancePercent));
    for (let i = 1; i < d.length; i++) assert.ok(d[i - 1]! <= d[i]!, `nearest first at row ${i}`);
    assert.ok(
      got.some((r) => r.marginMode === 'cross'),
      'cross positions are among the nearest',
    );
    // Filed under its exact price (with the funding slack): an isolated position, or a cross account's only
    // position in its asset (BTCUSD, the one BTC-settled market). The scan's top 100 of those are all listed.
    const exact = (account: string, v: PositionView) =>
      v.marginMode === 'isolated' || v.symbol === 'BTCUSD' || account === 'mm';
    const listed = new Set(got.map((r) => `${r.account} ${r.symbol}`));
    for (const { account, v } of ranked.slice(0, 100))
      if (exact(account, v)) assert.ok(listed.has(`${account} ${v.symbol}`), `${account} ${v.symbol} listed`);
  });
});

describe('liquidationDistance: percent of the mark, 2 decimals, rounded toward danger', () => {
  const at = (sign: 1 | -1, mark: bigint): Position => ({ sign, market: { mark } }) as unknown as Position;
  const cases: [string, 1 | -1, bigint, bigint, string][] = [
    ['a long 0.004 % above its price shows 0.00', 1, 100_000n, 99_996n, '0.00'],
    ['a long 1.259 % above shows 1.25', 1, 100_000n, 98_741n, '1.25'],
    ['a long past its price by 1.0101… % shows −1.02', 1, 99_000n, 100_000n, '-1.02'],
    ['a short 1.005 % below its price shows 1.00', -1, 100_000n, 101_005n, '1.00'],
    ['a short past its price by 0.001 % shows −0.01', -1, 100_000n, 99_999n, '-0.01'],
    ['exactly at the price: 0.00', -1, 100_000n, 100_000n, '0.00'],
  ];
  for (const [name, sign, mark, lp, want] of cases)
    test(name, () => assert.equal(fmtDistance(liquidationDistance(at(sign, mark), lp)), want));
  test('no liquidation price, or no mark: null', () => {
    assert.equal(liquidationDistance(at(1, 100n), null), null);
    assert.equal(liquidationDistance({ sign: 1, market: { mark: null } } as unknown as Position, 90n), null);
  });
});
