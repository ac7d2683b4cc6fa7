/**
 * Prices inside the engine: oracle quotes → index (weighted median, outlier and staleness guards, jump clamp) → mark
 * (index / Binance / Hyperliquid), the per-action oracle policy (ORACLE_PAUSED, oracleStatus events), periodic
 * funding through the cumulative index with lazy per-position settlement (payer rounds up, receiver down, residue to
 * fees, shortfall beyond an isolated bucket from insurance), and dated-futures expiry at the index TWAP.
 *
 * Time matters here, so every scenario runs on its own explicit clock (`Venue`) rather than the harness's +1 ms
 * clock: several commands may share one millisecond, which keeps premium and TWAP weights exact. Every accepted
 * command is followed by checkInvariants + engineProblems; every rejection must leave the state hash unchanged.
 * Amounts are USDT (and prices) at 8 decimals, rates at 10.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseDecimal } from '../../src/core/fixed.ts';
import { RATE_ONE } from '../../src/core/rates.ts';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import type { Market } from '../../src/engine/market.ts';
import type { Command, MarketConfig, OracleSpec } from '../../src/engine/types.ts';
import { BTCUSDT, type Cmd, checkInvariants, engineProblems } from './harness.ts';
import { amt, bal, fmt, moves, type Ok, of, position } from './scenario-kit.ts';

const HOUR = 3_600_000;
/** A whole UTC hour, so a market created at T0 funds first at T0 + 1 h. */
const T0 = 1_699_999_200_000;
/** Rates at 10 decimals: '0.0001' → 1_000_000n. */
const rate = (s: string): bigint => parseDecimal(s, 'rate', { dp: 10, signed: true });

/** An engine on an explicit clock: `at`/`wait` move it, commands run at `now` (several may share a millisecond). */
class Venue {
  readonly e = new Engine();
  now: number;
  constructor(start = T0) {
    this.now = start;
  }
  at(time: number): this {
    assert.ok(time >= this.now, `clock would go back from ${this.now} to ${time}`);
    this.now = time;
    return this;
  }
  wait(ms: number): this {
    return this.at(this.now + ms);
  }
  ok(cmd: Cmd): Ok {
    const r = this.e.apply({ ...cmd, time: this.now } as Command);
    if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
    this.check();
    return r;
  }
  /** Asserts the rejection code (and message pattern) and that nothing changed. */
  rejected(cmd: Cmd, code: string, message?: RegExp): void {
    const before = stateHash(this.e);
    const r = this.e.apply({ ...cmd, time: this.now } as Command);
    assert.equal(r.ok, false, `${cmd.type} should be rejected with ${code}`);
    if (!r.ok) {
      assert.equal(r.code, code, r.message);
      if (message) assert.match(r.message, message);
    }
    assert.equal(stateHash(this.e), before, 'a rejected command must not change state');
  }
  check(): void {
    checkInvariants(this.e);
    assert.deepEqual(engineProblems(this.e), []);
  }
  market(symbol = 'BTCUSDT'): Market {
    return this.e.markets.get(symbol)!;
  }
  create(cfg: MarketConfig): Ok {
    return this.ok({ type: 'createMarket', market: cfg });
  }
  quote(source: string, price: string, symbol = 'BTCUSDT'): Ok {
    return this.ok({ type: 'oracleQuote', symbol, source, price });
  }
  tick(): Ok {
    return this.ok({ type: 'tick' });
  }
  deposit(account: string, amount = '1000000'): Ok {
    return this.ok({ type: 'deposit', account, asset: 'USDT', amount });
  }
  limit(
    account: string,
    side: 'buy' | 'sell',
    size: string,
    price: string,
    symbol = 'BTCUSDT',
    reduceOnly?: boolean,
  ): Ok {
    return this.ok({
      type: 'placeOrder',
      account,
      symbol,
      side,
      orderType: 'limit',
      size,
      price,
      ...(reduceOnly ? { reduceOnly } : {}),
    });
  }
  market_(account: string, side: 'buy' | 'sell', size: string, symbol = 'BTCUSDT', reduceOnly?: boolean): Ok {
    return this.ok({
      type: 'placeOrder',
      account,
      symbol,
      side,
      orderType: 'market',
      size,
      ...(reduceOnly ? { reduceOnly } : {}),
    });
  }
  settle(account: string, symbol = 'BTCUSDT'): Ok {
    return this.ok({ type: 'settleFunding', account, symbol });
  }
  /** alice long `size`, bob short `size` at `price` (bob rests, alice takes). */
  pair(price: string, size = '1', symbol = 'BTCUSDT'): void {
    this.limit('bob', 'sell', size, price, symbol);
    const r = this.limit('alice', 'buy', size, price, symbol);
    assert.equal(of(r, 'trade').length, 1);
  }
}

/** Events of a type, with bigint fields kept (deepEqual compares them exactly). */
const statuses = (r: Ok) => of(r, 'oracleStatus').map((s) => [s.action, s.paused, s.validity, s.reason]);
const GUARDED = ['increaseRisk', 'withdraw', 'liquidate', 'funding'] as const;

function oracle(o: Partial<OracleSpec> = {}): OracleSpec {
  return {
    sources: [{ name: 'feed', weight: 1 }],
    stalenessMs: 60_000,
    maxDeviation: '0.05',
    minSources: 1,
    maxJump: '0.1',
    markMethod: 'index',
    ...o,
  };
}
/** Three weighted sources, at least two fresh ones required, 2 % deviation, 10 s staleness. */
const THREE = oracle({
  sources: [
    { name: 'binance', weight: 2 },
    { name: 'okx', weight: 1 },
    { name: 'bybit', weight: 1 },
  ],
  stalenessMs: 10_000,
  maxDeviation: '0.02',
  minSources: 2,
});
const FUNDING: NonNullable<MarketConfig['funding']> = {
  intervalMs: HOUR,
  interestRate: '0.0001',
  cap: { kind: 'perHour', cap: '0.04' },
  impactMargin: '200',
};
const PERP: MarketConfig = { ...BTCUSDT, oracle: oracle({ stalenessMs: 120_000 }), funding: FUNDING };

function venue(cfg: MarketConfig, ...accounts: string[]): Venue {
  const v = new Venue();
  v.create(cfg);
  for (const a of accounts.length ? accounts : ['alice', 'bob', 'carol', 'dave']) v.deposit(a);
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
describe('index from weighted sources; insufficient sources pause risk-increasing actions', () => {
  test('weighted median 20,010 of (20,000 ×2, 20,020, 20,040); bybit at 21,000 (4.9 % off) excluded → 20,000; one fresh source of two required → paused, reducing orders still trade, withdrawals paused; a second source resumes', () => {
    const v = venue({ ...BTCUSDT, oracle: THREE });
    const T = T0 + 1_000;
    v.at(T);
    // The market starts without an index, its guarded actions already paused: a first quote that still leaves too
    // few sources reports no transition.
    const q1 = v.quote('binance', '20000');
    assert.deepEqual(statuses(q1), []);
    assert.deepEqual(of(q1, 'indexPrice'), [
      {
        type: 'indexPrice',
        symbol: 'BTCUSDT',
        price: null,
        validity: 'insufficientSources',
        reason: '1 fresh sources, 2 required',
      },
    ]);
    v.rejected(
      {
        type: 'placeOrder',
        account: 'carol',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '0.1',
        price: '20000',
      },
      'ORACLE_PAUSED',
      /insufficientSources/,
    );
    const q2 = v.quote('okx', '20020');
    // binance (weight 2) holds half the weight alone: the lower weighted median is 20,000.
    assert.equal(of(q2, 'indexPrice')[0]!.price, amt('20000'));
    assert.deepEqual(
      statuses(q2),
      GUARDED.map((a) => [a, false, 'valid', 'ok']),
    );
    // 20,000 ×2 | 20,020 | 20,040: cumulative weight reaches exactly half at 20,000 → mean with the next: 20,010.
    assert.equal(of(v.quote('bybit', '20040'), 'indexPrice')[0]!.price, amt('20010'));
    const q4 = v.quote('bybit', '21000');
    // Median 20,010; bybit deviates 990/20,010 = 4.9 % > 2 %: excluded; 20,000 ×2 | 20,020 → 20,000.
    assert.deepEqual(of(q4, 'indexPrice'), [
      {
        type: 'indexPrice',
        symbol: 'BTCUSDT',
        price: amt('20000'),
        validity: 'valid',
        reason: 'excluded bybit',
      },
    ]);
    assert.deepEqual(of(q4, 'markPrice'), [{ type: 'markPrice', symbol: 'BTCUSDT', price: amt('20000') }]);
    assert.deepEqual(statuses(q4), []);
    v.pair('20000');

    // T+6 s: all three still fresh (10 s limit), bybit still the outlier.
    v.at(T + 6_000);
    assert.equal(of(v.quote('binance', '20000'), 'indexPrice')[0]!.reason, 'excluded bybit');
    // T+11 s: okx and bybit (quoted at T) are stale; only binance is fresh, 2 required.
    v.at(T + 11_000);
    const q6 = v.quote('binance', '20000');
    assert.deepEqual(of(q6, 'indexPrice'), [
      {
        type: 'indexPrice',
        symbol: 'BTCUSDT',
        price: amt('20000'),
        validity: 'insufficientSources',
        reason: '1 fresh sources, 2 required',
      },
    ]);
    assert.deepEqual(
      statuses(q6),
      GUARDED.map((a) => [a, true, 'insufficientSources', '1 fresh sources, 2 required']),
    );
    assert.equal(v.market().mark, amt('20000'), 'the mark holds its last value');

    // Risk-increasing orders: rejected, nothing changes (a new position, and alice adding to hers).
    v.rejected(
      {
        type: 'placeOrder',
        account: 'carol',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '0.1',
        price: '20000',
      },
      'ORACLE_PAUSED',
      /increaseRisk is paused on BTCUSDT: oracle insufficientSources/,
    );
    v.rejected(
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'market',
        size: '0.1',
      },
      'ORACLE_PAUSED',
    );
    v.rejected(
      {
        type: 'placeOrder',
        account: 'bob',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '1.5',
        price: '20000',
      },
      'ORACLE_PAUSED',
      /increaseRisk/,
    );
    // Reducing orders: bob (short 1) bids 0.5 — a plain order that only closes — and alice sells into it reduce-only.
    const bid = v.limit('bob', 'buy', '0.5', '20000');
    assert.equal(of(bid, 'orderAccepted').length, 1);
    const sell = v.market_('alice', 'sell', '0.5', 'BTCUSDT', true);
    assert.deepEqual(
      of(sell, 'trade').map((t) => [t.maker, t.price, t.size]),
      [['bob', amt('20000'), 500n]],
    );
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.contracts, '0.5');
    assert.equal(position(v.e, 'bob', 'BTCUSDT')!.contracts, '0.5');
    // Withdrawals (and margin removal) of an account with an open position here: paused. Others: not.
    v.rejected(
      { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '1' },
      'ORACLE_PAUSED',
      /withdraw is paused/,
    );
    v.rejected({ type: 'removeMargin', account: 'alice', symbol: 'BTCUSDT', amount: '1' }, 'ORACLE_PAUSED');
    v.ok({ type: 'withdraw', account: 'carol', asset: 'USDT', amount: '1' });
    v.ok({ type: 'addMargin', account: 'alice', symbol: 'BTCUSDT', amount: '10' });

    // T+12 s: okx quotes again → two fresh sources → valid; every action resumes, with the reason.
    v.at(T + 12_000);
    const q7 = v.quote('okx', '20020');
    assert.deepEqual(of(q7, 'indexPrice')[0]!.validity, 'valid');
    assert.deepEqual(
      statuses(q7),
      GUARDED.map((a) => [a, false, 'valid', 'ok']),
    );
    v.limit('carol', 'buy', '0.1', '20000');
    v.ok({ type: 'withdraw', account: 'alice', asset: 'USDT', amount: '1' });
  });

  test('more than one source deviating is "the market moved", not one bad source: the plain median of all fresh sources is used', () => {
    const v = venue({ ...BTCUSDT, oracle: THREE });
    v.at(T0 + 1_000);
    v.quote('binance', '20000');
    // 20,000 ×2 | 21,000: median 20,000, okx 5 % off → excluded, one source left of two required.
    assert.deepEqual(of(v.quote('okx', '21000'), 'indexPrice')[0]!.validity, 'insufficientSources');
    // 20,000 ×2 | 21,000 | 22,000: weighted median 20,500; all three deviate > 2 % → plain median 21,000.
    const r = v.quote('bybit', '22000');
    assert.deepEqual(of(r, 'indexPrice')[0], {
      type: 'indexPrice',
      symbol: 'BTCUSDT',
      price: amt('21000'),
      validity: 'valid',
      reason: 'ok',
    });
  });

  test('a lone outlier among two sources leaves too few: insufficientSources, naming the outlier is not enough to price', () => {
    const v = venue({ ...BTCUSDT, oracle: { ...THREE, maxDeviation: '0.001' } });
    v.at(T0 + 1_000);
    v.quote('binance', '20000');
    v.quote('okx', '20010'); // 20,000 (weight 2) is the median; okx 0.05 % off ≤ 0.1 %
    const r = v.quote('bybit', '20100'); // 0.5 % off: excluded, two sources kept
    assert.equal(of(r, 'indexPrice')[0]!.reason, 'excluded bybit');
    // Unknown source and bad prices are rejected without effect.
    v.rejected(
      { type: 'oracleQuote', symbol: 'BTCUSDT', source: 'kraken', price: '20000' },
      'INVALID_COMMAND',
      /unknown oracle source/,
    );
    v.rejected({ type: 'oracleQuote', symbol: 'BTCUSDT', source: 'okx', price: '0' }, 'INVALID_PRICE');
    v.rejected(
      { type: 'oracleQuote', symbol: 'BTCUSDT', source: 'okx', price: '1.123456789' },
      'INVALID_PRICE',
    );
    v.rejected({ type: 'oracleQuote', symbol: 'ETHUSDT', source: 'okx', price: '1' }, 'UNKNOWN_MARKET');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('staleness', () => {
  test('no quote for longer than stalenessMs: increaseRisk and withdraw are refused at once (validity is computed at command time); the next tick reports the pause; fresh quotes resume', () => {
    const v = venue({ ...BTCUSDT, oracle: THREE });
    const T = T0 + 1_000;
    v.at(T);
    v.quote('binance', '20000');
    v.quote('okx', '20020');
    v.quote('bybit', '20040');
    v.pair('20000');
    // Exactly 10 s old: still fresh.
    v.at(T + 10_000);
    v.limit('carol', 'buy', '0.1', '19000');
    // 10.001 s: stale — before any tick has aged the oracle.
    v.at(T + 10_001);
    v.rejected(
      {
        type: 'placeOrder',
        account: 'carol',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '0.1',
        price: '19000',
      },
      'ORACLE_PAUSED',
      /oracle stale/,
    );
    v.rejected(
      { type: 'withdraw', account: 'alice', asset: 'USDT', amount: '1' },
      'ORACLE_PAUSED',
      /oracle stale/,
    );
    // Margin out of the bucket, by removeMargin or by raising leverage (which releases bucket → main): paused too.
    v.rejected({ type: 'removeMargin', account: 'alice', symbol: 'BTCUSDT', amount: '1' }, 'ORACLE_PAUSED');
    v.rejected(
      { type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '20' },
      'ORACLE_PAUSED',
      /withdraw is paused/,
    );
    // Lowering leverage adds margin (risk-reducing): allowed.
    v.ok({ type: 'setLeverage', account: 'bob', symbol: 'BTCUSDT', leverage: '5' });
    // Getting out is never blocked: bob (short) bids to close, alice (long) sells into it reduce-only.
    v.limit('bob', 'buy', '0.2', '20000');
    v.market_('alice', 'sell', '0.2', 'BTCUSDT', true);
    // An order that rested while the oracle was valid may not open exposure while increaseRisk is paused: carol's
    // bid is cancelled (oraclePaused) and alice's reduce-only IOC finds nothing else to fill against.
    const m2 = v.ok({
      type: 'placeOrder',
      account: 'alice',
      symbol: 'BTCUSDT',
      side: 'sell',
      orderType: 'limit',
      size: '0.1',
      price: '19000',
      timeInForce: 'IOC',
      reduceOnly: true,
    });
    assert.deepEqual(of(m2, 'trade'), []);
    assert.deepEqual(
      of(m2, 'orderCanceled').map((c) => [c.account, c.reason]),
      [
        ['carol', 'oraclePaused'],
        ['alice', 'ioc'],
      ],
    );
    assert.equal(position(v.e, 'carol', 'BTCUSDT'), undefined);
    const tk = v.tick();
    assert.deepEqual(
      statuses(tk),
      GUARDED.map((a) => [a, true, 'stale', 'no index update for 10001 ms']),
    );
    assert.deepEqual(statuses(v.wait(5_000).tick()), [], 'no transition, no event');
    // One source back is not enough (2 required; okx and bybit are long stale).
    const q = v.quote('binance', '20000');
    assert.equal(of(q, 'indexPrice')[0]!.validity, 'insufficientSources');
    assert.deepEqual(statuses(q), [], 'still paused (stale → insufficientSources pauses the same actions)');
    const q2 = v.quote('okx', '20020');
    assert.deepEqual(
      statuses(q2),
      GUARDED.map((a) => [a, false, 'valid', 'ok']),
    );
    v.limit('carol', 'buy', '0.1', '19000');
    v.ok({ type: 'withdraw', account: 'alice', asset: 'USDT', amount: '1' });
    const lev = v.ok({ type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '20' });
    // alice holds 0.8 BTC with a 1,600 bucket (10x); at 20x it needs 800: the other 800 goes back to main.
    assert.deepEqual(moves(lev), [['alice:isolated:BTCUSDT', 'alice:main:USDT', '800', 'leverageChange']]);
  });

  test('a funding time when the index is stale is skipped (rate 0, index unchanged, paused: true)', () => {
    const v = venue({ ...BTCUSDT, oracle: oracle({ stalenessMs: 10_000 }), funding: FUNDING });
    v.at(T0 + 1_000).quote('feed', '20000');
    v.pair('20000');
    v.at(T0 + HOUR - 20_000).quote('feed', '20000'); // 20 s before funding: stale by the funding time
    v.at(T0 + HOUR);
    const tk = v.tick();
    assert.deepEqual(of(tk, 'fundingRate'), [
      {
        type: 'fundingRate',
        symbol: 'BTCUSDT',
        time: T0 + HOUR,
        rate: 0n,
        price: amt('20000'),
        paused: true,
      },
    ]);
    assert.equal(v.market().funding!.cumIndex, 0n);
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.pendingFunding, '0');
  });

  test('a late tick charges a funding time whose index was fresh at that time (validity judged at the funding time, not at the tick)', () => {
    const v = venue({ ...BTCUSDT, oracle: oracle({ stalenessMs: 10_000 }), funding: FUNDING });
    v.at(T0 + 1_000).quote('feed', '20000');
    v.pair('20000');
    v.at(T0 + HOUR - 5_000).quote('feed', '20000'); // fresh at T0 + 1 h (5 s old)
    // The next command comes a minute later: by then the index is stale, but it was not at the funding time.
    v.at(T0 + HOUR + 60_000);
    const tk = v.tick();
    // Empty book: premium 0 → 8 h rate = 0 + clamp(0.0001 − 0) = 0.0001, hourly 0.0000125.
    assert.deepEqual(of(tk, 'fundingRate'), [
      {
        type: 'fundingRate',
        symbol: 'BTCUSDT',
        time: T0 + HOUR,
        rate: rate('0.0000125'),
        price: amt('20000'),
        paused: false,
      },
    ]);
    assert.deepEqual(
      statuses(tk),
      GUARDED.map((a) => [a, true, 'stale', 'no index update for 65000 ms']),
    );
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.pendingFunding, '0.25'); // 20,000 × 0.0000125
  });

  test('a tick hours late: the first funding time (index fresh) is charged, the later ones (index stale by then) skipped', () => {
    const v = venue({ ...BTCUSDT, oracle: oracle({ stalenessMs: 10_000 }), funding: FUNDING });
    v.at(T0 + 1_000).quote('feed', '20000');
    v.pair('20000');
    v.at(T0 + HOUR - 5_000).quote('feed', '20000');
    v.at(T0 + 3 * HOUR + 1);
    const tk = v.tick();
    assert.deepEqual(
      of(tk, 'fundingRate').map((f) => [f.time - T0, f.rate, f.paused]),
      [
        [HOUR, rate('0.0000125'), false],
        [2 * HOUR, 0n, true],
        [3 * HOUR, 0n, true],
      ],
    );
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.pendingFunding, '0.25');
    assert.equal(v.market().funding!.nextTime, T0 + 4 * HOUR);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('a jump beyond maxJump', () => {
  test('20,000 → 25,000 with a 10 % limit: index clamped to 22,000 and tooVolatile — increaseRisk and withdraw pause, funding continues; it converges and resumes', () => {
    const v = venue(PERP);
    v.at(T0 + 1_000).quote('feed', '20000');
    // bob's short at 2x survives the jumps to 25,000 (at the default 10x the liquidation engine would close it).
    v.ok({ type: 'setLeverage', account: 'bob', symbol: 'BTCUSDT', leverage: '2' });
    v.pair('20000');
    v.at(T0 + HOUR - 60_000).quote('feed', '20000'); // the feeder keeps the index fresh (120 s limit)
    v.at(T0 + HOUR - 30_000);
    const j = v.quote('feed', '25000');
    assert.deepEqual(of(j, 'indexPrice'), [
      {
        type: 'indexPrice',
        symbol: 'BTCUSDT',
        price: amt('22000'),
        validity: 'tooVolatile',
        reason: 'index jumped more than 10% in one update; clamped',
      },
    ]);
    assert.deepEqual(of(j, 'markPrice'), [{ type: 'markPrice', symbol: 'BTCUSDT', price: amt('22000') }]);
    // Only the actions that need a valid oracle pause; liquidation and funding tolerate tooVolatile.
    assert.deepEqual(statuses(j), [
      ['increaseRisk', true, 'tooVolatile', 'index jumped more than 10% in one update; clamped'],
      ['withdraw', true, 'tooVolatile', 'index jumped more than 10% in one update; clamped'],
    ]);
    v.rejected(
      {
        type: 'placeOrder',
        account: 'carol',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'limit',
        size: '0.1',
        price: '22000',
      },
      'ORACLE_PAUSED',
      /tooVolatile/,
    );
    v.rejected({ type: 'withdraw', account: 'bob', asset: 'USDT', amount: '1' }, 'ORACLE_PAUSED');
    // Funding at T0 + 1 h runs at the clamped mark: premium 0 → hourly 0.0000125 × 22,000 = 0.275 per BTC.
    v.at(T0 + HOUR);
    const tk = v.tick();
    assert.deepEqual(of(tk, 'fundingRate'), [
      {
        type: 'fundingRate',
        symbol: 'BTCUSDT',
        time: T0 + HOUR,
        rate: rate('0.0000125'),
        price: amt('22000'),
        paused: false,
      },
    ]);
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.pendingFunding, '0.275');
    assert.equal(position(v.e, 'bob', 'BTCUSDT')!.pendingFunding, '-0.275');
    // Still 25,000: clamped again to 22,000 × 1.1 = 24,200, then within 10 % → valid.
    v.wait(1_000);
    assert.equal(of(v.quote('feed', '25000'), 'indexPrice')[0]!.price, amt('24200'));
    const ok2 = v.quote('feed', '25000');
    assert.deepEqual(of(ok2, 'indexPrice')[0], {
      type: 'indexPrice',
      symbol: 'BTCUSDT',
      price: amt('25000'),
      validity: 'valid',
      reason: 'ok',
    });
    assert.deepEqual(statuses(ok2), [
      ['increaseRisk', false, 'valid', 'ok'],
      ['withdraw', false, 'valid', 'ok'],
    ]);
    // A fall is clamped the same way: 25,000 → 20,000 gives 22,500.
    assert.equal(of(v.quote('feed', '20000'), 'indexPrice')[0]!.price, amt('22500'));
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('mark methods', () => {
  /** Book 20,090 / 20,110 around an index of 20,000 (basis +100), then shifted to 20,190 / 20,210 (basis +200). */
  function book(method: OracleSpec['markMethod']) {
    const v = venue(
      { ...BTCUSDT, oracle: oracle({ markMethod: method }) },
      'alice',
      'bob',
      'carol',
      'dave',
      'erin',
    );
    const T = T0 + 1_000;
    v.at(T);
    const q0 = v.quote('feed', '20000');
    const bid = v.limit('carol', 'buy', '1', '20090');
    const ask = v.limit('dave', 'sell', '1', '20110');
    v.at(T + 1_000);
    const q1 = v.quote('feed', '20000');
    const shift = () => {
      v.ok({ type: 'cancelOrder', account: 'carol', symbol: 'BTCUSDT', orderId: bid.orderId! });
      v.ok({ type: 'cancelOrder', account: 'dave', symbol: 'BTCUSDT', orderId: ask.orderId! });
      v.limit('carol', 'buy', '1', '20190');
      v.limit('dave', 'sell', '1', '20210');
      v.at(T + 2_000);
      return v.quote('feed', '20000');
    };
    return { v, q0, q1, shift };
  }
  const markOf = (v: Venue) => v.market().mark!;
  const within = (x: bigint, lo: string, hi: string) =>
    assert.ok(x >= amt(lo) && x <= amt(hi), `${fmt(x)} not in [${lo}, ${hi}]`);

  test("'index': the mark is the index whatever the book", () => {
    const { v, q0, q1, shift } = book('index');
    assert.equal(of(q0, 'markPrice')[0]!.price, amt('20000'));
    assert.deepEqual(of(q1, 'markPrice'), [], 'unchanged: no event');
    shift();
    assert.equal(markOf(v), amt('20000'));
  });

  test("'binance': median(index × (1 + funding × time left), index + average basis, last clamped into the book) follows the book's basis", () => {
    const { v, q0, q1, shift } = book('binance');
    assert.equal(of(q0, 'markPrice')[0]!.price, amt('20000'), 'no book: the index');
    // Basis samples [100]: median(20,000, 20,100, mid 20,100) = 20,100.
    assert.equal(of(q1, 'markPrice')[0]!.price, amt('20100'));
    // Samples [100, 200] → 20,150; the book's mid (no trade yet) 20,200; index 20,000 → 20,150.
    shift();
    assert.equal(markOf(v), amt('20150'));
    within(markOf(v), '20000', '20210');
    // A trade at the ask: last 20,210 (clamped into 20,190/20,210); samples [100, 200, 200] → avg 166.66666666.
    v.market_('erin', 'buy', '0.5');
    v.wait(1_000);
    v.quote('feed', '20000');
    assert.equal(markOf(v), amt('20166.66666666'));
    within(markOf(v), '20000', '20210');
  });

  test("'hyperliquid': median(index + EMA basis, median(bid, ask, last), EMA of the book median) follows the book with a lag", () => {
    const { v, q0, q1, shift } = book('hyperliquid');
    assert.equal(of(q0, 'markPrice')[0]!.price, amt('20000'), 'no book: index + no basis');
    // First samples (1 s standing): EMA basis 100, EMA book 20,100; book median 20,100 → 20,100.
    assert.equal(of(q1, 'markPrice')[0]!.price, amt('20100'));
    shift();
    // By hand: decay = τ/(τ+Δt) at 10 dp, floored; each EMA = (prev·decay + sample·Δt) / (prev weight·decay + Δt).
    const ema = (prev: bigint, sample: bigint, dt: bigint, tau: bigint) => {
      const decay = (tau * RATE_ONE) / (tau + dt);
      const num = (prev * dt * decay) / RATE_ONE + sample * dt; // previous state: value prev with weight dt (1 s)
      const den = (dt * decay) / RATE_ONE + dt;
      return num / den;
    };
    const basis = ema(amt('100'), amt('200'), 1000n, 150_000n);
    const bookEma = ema(amt('20100'), amt('20200'), 1000n, 30_000n);
    const expected = [amt('20000') + basis, amt('20200'), bookEma].sort((a, b) =>
      a < b ? -1 : a > b ? 1 : 0,
    )[1]!;
    assert.equal(markOf(v), expected);
    // Between the old and new book (it lags the jump) and above the index.
    assert.ok(markOf(v) > amt('20100') && markOf(v) < amt('20200'), fmt(markOf(v)));
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('funding', () => {
  /**
   * BTCUSDT perpetual, 1 h funding, interest 0.01 %/8 h, cap 4 %/h, impact margin 200 USDT → impact notional
   * 200 / IMR 0.8 % = 25,000 USDT. Index 30,001; alice long 1, bob short 1 at 30,001 (isolated, 10x: 3,000.1 each).
   * carol bids 1 BTC at 30,071 (30,071 USDT ≥ 25,000: the impact bid); no asks.
   *   premium  = trunc(70 / 30,001, 10 dp)                  = 0.0023332555
   *   8 h rate = P + clamp(0.0001 − P, ±0.0005) = P − 0.0005 = 0.0018332555
   *   hourly   = trunc(0.0018332555 / 8)                    = 0.0002291569   (cap 0.04: not binding)
   *   payment  = 1 × 30,001 × 0.0002291569 = 6.8749361569  → alice pays 6.87493616 (up), bob gets 6.87493615 (down)
   */
  function perp(cfg: MarketConfig = PERP) {
    const v = venue(cfg);
    const T = T0 + 1_000;
    v.at(T).quote('feed', '30001'); // empty book: premium 0 at T (stands 0 ms)
    v.pair('30001');
    v.limit('carol', 'buy', '1', '30071');
    v.quote('feed', '30001'); // same millisecond: the premium for the whole interval is 0.0023332555
    return v;
  }

  test('positive premium: rate by hand, the long pays 6.87493616 into the pool, the short receives 6.87493615, the 0.00000001 residue goes to fees', () => {
    const v = perp();
    const m = v.market();
    assert.equal(m.funding!.nextTime, T0 + HOUR);
    v.at(T0 + HOUR - 1_000).quote('feed', '30001'); // the feeder keeps the index fresh
    v.at(T0 + HOUR + 500);
    const tk = v.tick();
    assert.deepEqual(of(tk, 'fundingRate'), [
      {
        type: 'fundingRate',
        symbol: 'BTCUSDT',
        time: T0 + HOUR,
        rate: rate('0.0002291569'),
        price: amt('30001'),
        paused: false,
      },
    ]);
    assert.deepEqual(of(tk, 'transfer'), [], 'a funding time moves no money: O(1) index step');
    assert.equal(m.unsettledFunding, 2);
    // Read model before settling: what each owes (+) or is owed (−).
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.pendingFunding, '6.87493616');
    assert.equal(position(v.e, 'bob', 'BTCUSDT')!.pendingFunding, '-6.87493615');
    assert.equal(position(v.e, 'carol', 'BTCUSDT'), undefined);

    const aliceBucket = bal(v.e, 'alice:isolated:BTCUSDT');
    const a = v.settle('alice');
    assert.deepEqual(moves(a), [['alice:isolated:BTCUSDT', 'funding:BTCUSDT', '6.87493616', 'funding']]);
    assert.deepEqual(of(a, 'fundingPaid'), [
      { type: 'fundingPaid', account: 'alice', symbol: 'BTCUSDT', amount: amt('6.87493616'), shortfall: 0n },
    ]);
    assert.equal(bal(v.e, 'alice:isolated:BTCUSDT'), aliceBucket - amt('6.87493616'));
    assert.equal(bal(v.e, 'funding:BTCUSDT'), amt('6.87493616'));
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.pendingFunding, '0');
    assert.deepEqual(of(v.settle('alice'), 'transfer'), [], 'settling twice moves nothing');

    const fees = bal(v.e, 'fees:USDT');
    const b = v.settle('bob');
    assert.deepEqual(moves(b), [
      ['funding:BTCUSDT', 'bob:isolated:BTCUSDT', '6.87493615', 'funding'],
      ['funding:BTCUSDT', 'fees:USDT', '0.00000001', 'fundingResidue'],
    ]);
    assert.deepEqual(of(b, 'fundingPaid'), [
      { type: 'fundingPaid', account: 'bob', symbol: 'BTCUSDT', amount: -amt('6.87493615'), shortfall: 0n },
    ]);
    assert.equal(bal(v.e, 'funding:BTCUSDT'), 0n);
    assert.equal(bal(v.e, 'fees:USDT'), fees + 1n);
    assert.equal(m.unsettledFunding, 0);
    v.rejected(
      { type: 'settleFunding', account: 'carol', symbol: 'BTCUSDT' },
      'INVALID_COMMAND',
      /no open BTCUSDT position/,
    );
  });

  test('negative premium next interval, time-weighted with 500 ms of the old premium: the short pays, the long receives', () => {
    const v = perp();
    v.at(T0 + HOUR - 1_000).quote('feed', '30001');
    v.at(T0 + HOUR + 500).tick();
    v.settle('alice');
    v.settle('bob');
    // carol leaves; dave offers 1 BTC at 29,931, 70 below the index: premium −0.0023332555 from T0 + 1 h + 500 ms.
    v.ok({ type: 'cancelAll', account: 'carol' });
    v.limit('dave', 'sell', '1', '29931');
    v.quote('feed', '30001');
    v.at(T0 + 2 * HOUR - 1_000).quote('feed', '30001');
    v.at(T0 + 2 * HOUR + 500);
    //   avg      = trunc((0.0023332555 × 500 − 0.0023332555 × 3,599,500) / 3,600,000) = −0.0023326073
    //   8 h rate = avg + clamp(0.0001 − avg, ±0.0005) = −0.0018326073; hourly trunc(/8) = −0.0002290759
    //   payment  = 30,001 × 0.0002290759 = 6.8725060759 → bob pays 6.87250608, alice gets 6.87250607
    const tk = v.tick();
    assert.deepEqual(of(tk, 'fundingRate'), [
      {
        type: 'fundingRate',
        symbol: 'BTCUSDT',
        time: T0 + 2 * HOUR,
        rate: rate('-0.0002290759'),
        price: amt('30001'),
        paused: false,
      },
    ]);
    assert.equal(position(v.e, 'bob', 'BTCUSDT')!.pendingFunding, '6.87250608');
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.pendingFunding, '-6.87250607');
    // Touching the position settles it too: bob adds margin (funding first, then the deposit into the bucket).
    const add = v.ok({ type: 'addMargin', account: 'bob', symbol: 'BTCUSDT', amount: '1' });
    assert.deepEqual(moves(add), [
      ['bob:isolated:BTCUSDT', 'funding:BTCUSDT', '6.87250608', 'funding'],
      ['bob:main:USDT', 'bob:isolated:BTCUSDT', '1', 'addMargin'],
    ]);
    assert.deepEqual(moves(v.settle('alice')), [
      ['funding:BTCUSDT', 'alice:isolated:BTCUSDT', '6.87250607', 'funding'],
      ['funding:BTCUSDT', 'fees:USDT', '0.00000001', 'fundingResidue'],
    ]);
    assert.equal(bal(v.e, 'funding:BTCUSDT'), 0n);
  });

  test('two intervals unsettled net into one payment; a fill settles before the size changes', () => {
    const v = perp();
    for (const h of [1, 2]) {
      v.at(T0 + h * HOUR - 1_000).quote('feed', '30001');
      v.at(T0 + h * HOUR).tick();
    }
    // 2 × 6.8749361569 = 13.7498723138 → alice owes 13.74987232, bob is owed 13.74987231 (one rounding each).
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.pendingFunding, '13.74987232');
    assert.equal(position(v.e, 'bob', 'BTCUSDT')!.pendingFunding, '-13.74987231');
    // alice sells 0.4 into carol's bid: her funding settles first (at size 1), then the fill.
    const r = v.market_('alice', 'sell', '0.4');
    const ev = r.events.map((x) => x.type);
    assert.ok(ev.indexOf('fundingPaid') < ev.indexOf('trade'));
    assert.deepEqual(
      of(r, 'fundingPaid').map((f) => [f.account, fmt(f.amount)]),
      [['alice', '13.74987232']],
    );
    const b = v.settle('bob');
    assert.deepEqual(moves(b).at(-1), ['funding:BTCUSDT', 'fees:USDT', '0.00000001', 'fundingResidue']);
  });

  test('the cap binds: 0.01 %/h caps the hourly 0.0002291569 at 0.0001 → 3.0001 per BTC', () => {
    const v = perp({ ...PERP, funding: { ...FUNDING, cap: { kind: 'perHour', cap: '0.0001' } } });
    v.at(T0 + HOUR - 1_000).quote('feed', '30001');
    v.at(T0 + HOUR);
    assert.equal(of(v.tick(), 'fundingRate')[0]!.rate, rate('0.0001'));
    assert.equal(position(v.e, 'alice', 'BTCUSDT')!.pendingFunding, '3.0001');
    assert.equal(position(v.e, 'bob', 'BTCUSDT')!.pendingFunding, '-3.0001');
  });

  test('funding larger than an isolated bucket empties it; insurance pays the rest; main untouched; the counterparty receives in full', () => {
    const v = venue(PERP);
    v.at(T0 + 1_000).quote('feed', '20000');
    v.ok({ type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '100' });
    v.pair('20000');
    assert.equal(bal(v.e, 'alice:isolated:BTCUSDT'), amt('200'), '1 BTC × 20,000 / 100');
    // carol bids 2 BTC at 24,000 (the 20 % band edge): premium 0.2 → 8 h 0.1995 → hourly 0.0249375 → 498.75 per BTC.
    v.limit('carol', 'buy', '2', '24000');
    v.quote('feed', '20000');
    v.at(T0 + HOUR - 1_000).quote('feed', '20000');
    v.at(T0 + HOUR);
    const main = bal(v.e, 'alice:main:USDT');
    const tk = v.tick();
    assert.equal(of(tk, 'fundingRate')[0]!.rate, rate('0.0249375'));
    // 498.75 of funding against a 200 bucket: the same tick settles it (the bucket pays 200, the insurance fund the
    // other 298.75, recorded) and, the bucket now empty, liquidates alice — into carol's bid at 24,000.
    assert.deepEqual(
      moves(tk)
        .filter((m) => m[3] === 'funding' || m[3] === 'insuranceCover')
        .slice(0, 2),
      [
        ['alice:isolated:BTCUSDT', 'funding:BTCUSDT', '200', 'funding'],
        ['insurance:USDT', 'funding:BTCUSDT', '298.75', 'insuranceCover'],
      ],
    );
    assert.deepEqual(of(tk, 'insuranceDraw'), [
      { type: 'insuranceDraw', asset: 'USDT', account: 'alice', symbol: 'BTCUSDT', amount: amt('298.75') },
    ]);
    assert.deepEqual(of(tk, 'fundingPaid'), [
      {
        type: 'fundingPaid',
        account: 'alice',
        symbol: 'BTCUSDT',
        amount: amt('498.75'),
        shortfall: amt('298.75'),
      },
    ]);
    assert.deepEqual(
      of(tk, 'liquidation').map((l) => [l.account, l.stage, l.price]),
      [['alice', 'book', amt('24000')]],
    );
    assert.equal(bal(v.e, 'alice:isolated:BTCUSDT'), 0n);
    assert.ok(bal(v.e, 'alice:main:USDT') >= main, 'an isolated liquidation never lowers the free balance');
    const bobBucket = bal(v.e, 'bob:isolated:BTCUSDT');
    assert.deepEqual(moves(v.settle('bob')), [
      ['funding:BTCUSDT', 'bob:isolated:BTCUSDT', '498.75', 'funding'],
    ]);
    assert.equal(bal(v.e, 'bob:isolated:BTCUSDT'), bobBucket + amt('498.75'));
    assert.equal(bal(v.e, 'funding:BTCUSDT'), 0n);
  });

  test('residue is swept once everyone has settled, even when the funding index has come back to where a position last settled', () => {
    // Index 20,000.05 (on no tick, so amounts round); impact bid 20,060.1 then impact ask 19,940: premium ±60.05/20,000.05,
    // 8 h rate ±(|P| − 0.0005), hourly ±0.0003128115 → the index moves +d then exactly −d.
    const v = venue(PERP);
    v.at(T0 + 1_000).quote('feed', '20000.05');
    v.pair('20000');
    v.limit('carol', 'buy', '2', '20060.1');
    v.quote('feed', '20000.05');
    v.at(T0 + HOUR - 1_000).quote('feed', '20000.05');
    v.at(T0 + HOUR).tick();
    v.ok({ type: 'cancelAll', account: 'carol' });
    v.limit('dave', 'sell', '2', '19940');
    v.quote('feed', '20000.05');
    v.settle('alice'); // pays 6.25624565 (rounded up); bob does not settle
    v.at(T0 + 2 * HOUR - 1_000).quote('feed', '20000.05');
    v.at(T0 + 2 * HOUR).tick();
    const m = v.market();
    assert.equal(m.funding!.cumIndex, 0n, 'back to where bob last settled');
    v.settle('alice'); // receives 6.25624564 (rounded down)
    v.settle('bob'); // nothing pending
    assert.equal(position(v.e, 'bob', 'BTCUSDT')!.pendingFunding, '0');
    assert.equal(bal(v.e, 'funding:BTCUSDT'), 0n, 'the 0.00000001 residue should have gone to fees');
    assert.equal(m.unsettledFunding, 0);
  });

  test('a cross position settles funding against its main balance', () => {
    const v = venue(PERP);
    v.at(T0 + 1_000).quote('feed', '20000');
    v.ok({ type: 'setMarginMode', account: 'alice', symbol: 'BTCUSDT', mode: 'cross' });
    v.pair('20000');
    v.at(T0 + HOUR - 1_000).quote('feed', '20000');
    v.at(T0 + HOUR).tick();
    // Empty book: hourly 0.0000125 × 20,000 = 0.25.
    assert.deepEqual(moves(v.settle('alice')), [['alice:main:USDT', 'funding:BTCUSDT', '0.25', 'funding']]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('dated futures', () => {
  const E = T0 + 10 * HOUR;
  const W = 1_800_000;
  const FUT: MarketConfig = {
    ...BTCUSDT,
    symbol: 'BTC-FUT',
    expiry: E,
    settlementWindowMs: W,
    oracle: oracle({ stalenessMs: HOUR }),
  };
  const S = 'BTC-FUT';

  /**
   * Index 19,900 from before the window until E − 30 min + 5 min, 20,100 for 10 min, 20,400 for the last 15:
   *   TWAP = (19,900 × 300,000 + 20,100 × 600,000 + 20,400 × 900,000) / 1,800,000 = 20,216.666… → 20,216.66666666
   */
  function future() {
    const v = venue(FUT, 'alice', 'bob', 'carol', 'dave');
    v.at(T0 + 1_000).quote('feed', '20000', S);
    v.pair('20000', '1', S);
    v.limit('carol', 'buy', '0.5', '19000', S);
    v.limit('dave', 'sell', '0.5', '21000', S);
    v.at(E - W - 60_000).quote('feed', '19900', S);
    v.at(E - W + 300_000).quote('feed', '20100', S);
    v.at(E - W + 900_000).quote('feed', '20400', S);
    return v;
  }
  const TWAP = '20216.66666666';

  test('positions close at the index TWAP over the window on the first tick at/after expiry; orders cancelled (expired); later orders MARKET_CLOSED; money conserved', () => {
    const v = future();
    const m = v.market(S);
    v.at(E - 1);
    assert.deepEqual(of(v.tick(), 'marketSettled'), []);
    v.limit('carol', 'buy', '0.1', '19000', S);
    // From expiry on, no new orders — even before the settling tick.
    v.at(E);
    v.rejected(
      {
        type: 'placeOrder',
        account: 'carol',
        symbol: S,
        side: 'buy',
        orderType: 'limit',
        size: '0.1',
        price: '19000',
      },
      'MARKET_CLOSED',
    );
    v.rejected(
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: S,
        side: 'sell',
        orderType: 'market',
        size: '1',
        reduceOnly: true,
      },
      'MARKET_CLOSED',
    );
    const before = {
      alice:
        bal(v.e, 'alice:main:USDT') + bal(v.e, 'alice:isolated:BTC-FUT') + bal(v.e, 'alice:reserved:USDT'),
      bob: bal(v.e, 'bob:main:USDT') + bal(v.e, 'bob:isolated:BTC-FUT') + bal(v.e, 'bob:reserved:USDT'),
    };
    v.at(E + 5_000);
    const r = v.tick();
    // Sizes at 3 dp: 0.5 BTC = 500n.
    assert.deepEqual(
      of(r, 'orderCanceled')
        .map((c) => [c.account, c.remaining, c.reason])
        .sort(),
      [
        ['carol', 500n, 'expired'],
        ['carol', 100n, 'expired'],
        ['dave', 500n, 'expired'],
      ].sort(),
    );
    assert.deepEqual(of(r, 'marketSettled'), [
      { type: 'marketSettled', symbol: S, price: amt(TWAP), positions: 2 },
    ]);
    // alice: +216.66666666 into her bucket, which then goes back to main; bob the mirror image.
    assert.deepEqual(
      moves(r).filter(([f, t]) => f.startsWith('alice') || t.startsWith('alice')),
      [
        ['clearing:BTC-FUT', 'alice:isolated:BTC-FUT', '216.66666666', 'realizedPnl'],
        ['alice:isolated:BTC-FUT', 'alice:main:USDT', '2216.66666666', 'settlement'],
      ],
    );
    assert.deepEqual(
      moves(r).filter(([f, t]) => f.startsWith('bob') || t.startsWith('bob')),
      [
        ['bob:isolated:BTC-FUT', 'clearing:BTC-FUT', '216.66666666', 'realizedPnl'],
        ['bob:isolated:BTC-FUT', 'bob:main:USDT', '1783.33333334', 'settlement'],
      ],
    );
    assert.equal(bal(v.e, 'alice:main:USDT') - before.alice, amt('216.66666666'));
    assert.equal(bal(v.e, 'bob:main:USDT') - before.bob, -amt('216.66666666'));
    assert.equal(bal(v.e, 'clearing:BTC-FUT'), 0n);
    assert.equal(bal(v.e, 'carol:reserved:USDT') + bal(v.e, 'dave:reserved:USDT'), 0n, 'reserves released');
    assert.deepEqual(
      of(r, 'position').map((p) => [p.account, p.side, p.size, fmt(p.realizedPnl)]),
      [
        ['alice', null, 0n, '216.66666666'],
        ['bob', null, 0n, '-216.66666666'],
      ],
    );
    assert.equal(m.closed, true);
    assert.equal(m.mark, amt(TWAP));
    assert.equal(m.book.bestPrice('buy'), null);
    assert.equal(m.book.bestPrice('sell'), null);
    // Conservation: everything deposited is in main balances, fees and insurance (clearing and reserves are empty).
    let held = 0n;
    for (const l of v.e.ledger.accounts()) if (l.kind !== 'external') held += l.balance;
    assert.equal(held, v.e.ledger.netDeposits('USDT'));
    assert.deepEqual(of(v.wait(1_000).tick(), 'marketSettled'), [], 'settled once');
    v.rejected(
      {
        type: 'placeOrder',
        account: 'carol',
        symbol: S,
        side: 'buy',
        orderType: 'limit',
        size: '0.1',
        price: '19000',
      },
      'MARKET_CLOSED',
      /expired/,
    );
    v.rejected({ type: 'settleFunding', account: 'alice', symbol: S }, 'INVALID_COMMAND');
    v.ok({ type: 'withdraw', account: 'alice', asset: 'USDT', amount: '1000' });
  });

  test('a quote arriving after expiry settles first, at the TWAP up to expiry (the late price does not count)', () => {
    const v = future();
    v.at(E + 1_000);
    const r = v.quote('feed', '30000', S);
    assert.deepEqual(of(r, 'marketSettled'), [
      { type: 'marketSettled', symbol: S, price: amt(TWAP), positions: 2 },
    ]);
    const kinds = r.events.map((x) => x.type);
    assert.ok(
      kinds.indexOf('marketSettled') < kinds.indexOf('indexPrice'),
      'settled before the new quote applies',
    );
  });

  test('futures with funding are refused at creation', () => {
    const v = new Venue();
    v.rejected(
      { type: 'createMarket', market: { ...FUT, funding: FUNDING } },
      'INVALID_COMMAND',
      /dated futures do not fund/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('property: funding through the pool conserves money', () => {
  type Step =
    | { k: 'limit'; a: number; side: 'buy' | 'sell'; lots: number; bp: number; dt: number }
    | { k: 'market'; a: number; side: 'buy' | 'sell'; lots: number; dt: number }
    | { k: 'quote'; src: number; bp: number; dt: number }
    | { k: 'tick'; frac: number }
    | { k: 'settle'; a: number; dt: number }
    | { k: 'deposit'; a: number; amount: number; dt: number }
    | { k: 'cancel'; a: number; dt: number };
  const acct = fc.integer({ min: 0, max: 3 });
  const side = fc.constantFrom<'buy' | 'sell'>('buy', 'sell');
  const dt = fc.integer({ min: 0, max: 2_000 });
  const lots = fc.integer({ min: 1, max: 1_500 });
  const step: fc.Arbitrary<Step> = fc.oneof(
    // Mostly within ±1.5 % of the mark; now and then 15 % off (a large premium that can outrun a 125x bucket).
    {
      weight: 6,
      arbitrary: fc.record({
        k: fc.constant('limit' as const),
        a: acct,
        side,
        lots,
        bp: fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: -150, max: 150 }) },
          { weight: 1, arbitrary: fc.constantFrom(-1500, 1500) },
        ),
        dt,
      }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('market' as const), a: acct, side, lots, dt }) },
    {
      weight: 4,
      arbitrary: fc.record({
        k: fc.constant('quote' as const),
        src: fc.integer({ min: 0, max: 1 }),
        bp: fc.integer({ min: -250, max: 250 }),
        dt,
      }),
    },
    // Fractions of the funding interval; 3 intervals is past the staleness limit (2 intervals) → paused times.
    {
      weight: 3,
      arbitrary: fc.record({ k: fc.constant('tick' as const), frac: fc.constantFrom(0.25, 0.5, 1, 1.5, 3) }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('settle' as const), a: acct, dt }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('deposit' as const),
        a: acct,
        amount: fc.integer({ min: 1, max: 50_000 }),
        dt,
      }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('cancel' as const), a: acct, dt }) },
  );
  const stats = {
    positive: 0,
    negative: 0,
    paused: 0,
    settlements: 0,
    shortfalls: 0,
    sweeps: 0,
    trades: 0,
    runs: 0,
  };

  function run(
    markMethod: OracleSpec['markMethod'],
    priceSource: 'mark' | 'index',
    intervalMs: number,
    nAccounts: number,
    steps: Step[],
  ): void {
    const e = new Engine();
    let now = T0;
    const S = 'BTCUSDT';
    const cfg: MarketConfig = {
      ...BTCUSDT,
      oracle: {
        sources: [
          { name: 'a', weight: 1 },
          { name: 'b', weight: 1 },
        ],
        stalenessMs: 2 * intervalMs,
        maxDeviation: '0.05',
        minSources: 1,
        maxJump: '0.02',
        markMethod,
      },
      funding: { ...FUNDING, intervalMs, priceSource },
    };
    const ids = ['a0', 'a1', 'a2', 'a3'].slice(0, nAccounts);
    let paidIn = 0n; // Σ owed by payers (fundingPaid amount > 0), whether from their holder or insurance
    let paidOut = 0n; // Σ received (−amount of fundingPaid < 0)
    let swept = 0n; // Σ fundingResidue transfers
    let shortfall = 0n;
    let covered = 0n;
    let settlements = 0;
    const apply = (cmd: Cmd, mustPass = false): boolean => {
      const before = stateHash(e);
      const r = e.apply({ ...cmd, time: now } as Command);
      if (!r.ok) {
        assert.ok(!mustPass, `${cmd.type} rejected: ${r.code} ${r.message}`);
        assert.equal(stateHash(e), before, `rejected ${cmd.type} (${r.code}) changed state`);
        return false;
      }
      for (const ev of r.events) {
        if (ev.type === 'fundingPaid') {
          settlements++;
          stats.settlements++;
          assert.ok(
            ev.shortfall >= 0n && ev.shortfall <= (ev.amount > 0n ? ev.amount : 0n),
            `shortfall ${ev.shortfall} of ${ev.amount}`,
          );
          if (ev.amount > 0n) paidIn += ev.amount;
          else paidOut -= ev.amount;
          shortfall += ev.shortfall;
          if (ev.shortfall > 0n) stats.shortfalls++;
        } else if (ev.type === 'transfer') {
          if (ev.reason === 'fundingResidue') {
            assert.equal(ev.from, `funding:${S}`);
            assert.equal(ev.to, 'fees:USDT');
            swept += ev.amount;
            stats.sweeps++;
          }
          if (ev.reason === 'insuranceCover' && ev.to === `funding:${S}`) covered += ev.amount;
          // Funding of an isolated position never touches main: only the cross account (a2) pays from main.
          if (ev.reason === 'funding' && (ev.from.includes(':main:') || ev.to.includes(':main:'))) {
            assert.ok(
              ev.from.startsWith('a2:') || ev.to.startsWith('a2:'),
              `isolated funding moved main: ${ev.from} → ${ev.to}`,
            );
          }
        } else if (ev.type === 'fundingRate') {
          if (ev.paused) stats.paused++;
          else if (ev.rate > 0n) stats.positive++;
          else if (ev.rate < 0n) stats.negative++;
        } else if (ev.type === 'trade') stats.trades++;
      }
      const problems = engineProblems(e);
      assert.deepEqual(problems, [], `after ${JSON.stringify(cmd)}`);
      const m = e.markets.get(S)!;
      assert.equal(m.fundingPool.balance, paidIn - paidOut - swept, 'pool = paid in − paid out − swept');
      assert.equal(covered, shortfall, 'every shortfall is an insurance cover into the pool');
      assert.ok(
        m.unsettledFunding >= 0 && m.unsettledFunding <= m.openPositions,
        `unsettled ${m.unsettledFunding} of ${m.openPositions}`,
      );
      return true;
    };

    apply({ type: 'createMarket', market: cfg }, true);
    for (const id of ids) apply({ type: 'deposit', account: id, asset: 'USDT', amount: '200000' }, true);
    if (nAccounts > 2) apply({ type: 'setMarginMode', account: 'a2', symbol: S, mode: 'cross' }, true);
    apply({ type: 'setLeverage', account: 'a1', symbol: S, leverage: '125' }, true); // a 0.8 % bucket: funding can outrun it
    let fair = 2_000_000n; // cents
    const cents = (c: bigint) => `${c / 100n}.${(c % 100n).toString().padStart(2, '0')}`;
    now += 1_000;
    apply({ type: 'oracleQuote', symbol: S, source: 'a', price: cents(fair) }, true);
    apply({ type: 'oracleQuote', symbol: S, source: 'b', price: cents(fair) }, true);
    const m = e.markets.get(S)!;
    for (const st of steps) {
      const who = ids[st.k === 'quote' || st.k === 'tick' ? 0 : st.a % nAccounts]!;
      now += st.k === 'tick' ? Math.round(intervalMs * st.frac) : st.dt;
      switch (st.k) {
        case 'limit': {
          // Around the mark on the 0.1 tick: resting bids above the index / asks below it make the premium.
          const ref = m.mark ?? fair * 1_000_000n;
          const ticks = (ref * BigInt(10_000 + st.bp)) / (10_000n * 10_000_000n);
          apply({
            type: 'placeOrder',
            account: who,
            symbol: S,
            side: st.side,
            orderType: 'limit',
            size: (st.lots / 1000).toFixed(3),
            price: `${ticks / 10n}.${ticks % 10n}`,
          });
          break;
        }
        case 'market':
          apply({
            type: 'placeOrder',
            account: who,
            symbol: S,
            side: st.side,
            orderType: 'market',
            size: (st.lots / 1000).toFixed(3),
          });
          break;
        case 'quote':
          fair = (fair * BigInt(10_000 + st.bp)) / 10_000n;
          apply(
            { type: 'oracleQuote', symbol: S, source: st.src === 0 ? 'a' : 'b', price: cents(fair) },
            true,
          );
          break;
        case 'tick':
          apply({ type: 'tick' }, true);
          break;
        case 'settle':
          apply({ type: 'settleFunding', account: who, symbol: S });
          break;
        case 'deposit':
          apply({ type: 'deposit', account: who, asset: 'USDT', amount: String(st.amount) }, true);
          break;
        case 'cancel':
          apply({ type: 'cancelAll', account: who }, true);
          break;
      }
    }
    // Settle every open position's funding (the backstop's too): then nothing is owed either way and the pool has
    // been swept.
    for (const id of [...ids, '@insurance']) {
      if (!e.accounts.has(id)) continue;
      const p = e.accounts.get(id)!.positions.get(S);
      if (p && p.sign !== 0) apply({ type: 'settleFunding', account: id, symbol: S }, true);
    }
    for (const id of ids) assert.ok(!position(e, id, S) || position(e, id, S)!.pendingFunding === '0');
    assert.equal(m.unsettledFunding, 0);
    assert.equal(m.fundingPool.balance, 0n, 'the pool is empty once everyone has settled');
    assert.equal(paidIn - paidOut, swept, 'paid by payers − received by receivers = residue swept to fees');
    assert.ok(swept >= 0n);
    assert.ok(
      settlements === 0 ? swept === 0n : swept < BigInt(settlements),
      `residue ${swept} ≥ ${settlements} settlements`,
    );
    stats.runs++;
  }

  test('random orders, quotes, ticks across funding intervals, settles and deposits over 3–4 accounts: the ledger conserves after every command; at the end payers − receivers = residue swept (0 ≤ residue < settlements) and the pool is empty', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<OracleSpec['markMethod']>('index', 'binance', 'hyperliquid'),
        fc.constantFrom<'mark' | 'index'>('mark', 'index'),
        fc.constantFrom(60_000, HOUR),
        fc.integer({ min: 3, max: 4 }),
        fc.array(step, { minLength: 20, maxLength: 90 }),
        (markMethod, priceSource, intervalMs, n, steps) => run(markMethod, priceSource, intervalMs, n, steps),
      ),
      {
        numRuns: 300,
        // A fixed case first, so the shortfall path is always exercised: a1 (125x, bucket 160) long 1 BTC from a0; a2
        // bids 0.5 at +15 % (the deepest, so the impact bid) → hourly 0.0186875 × 20,000 = 373.75 owed > 160.
        examples: [
          [
            'index',
            'mark',
            HOUR,
            3,
            [
              { k: 'limit', a: 0, side: 'sell', lots: 1000, bp: 0, dt: 10 },
              { k: 'limit', a: 1, side: 'buy', lots: 1000, bp: 0, dt: 10 },
              { k: 'limit', a: 2, side: 'buy', lots: 500, bp: 1500, dt: 10 },
              { k: 'quote', src: 0, bp: 0, dt: 10 },
              { k: 'tick', frac: 1 },
              { k: 'settle', a: 1, dt: 10 },
            ],
          ],
        ],
      },
    );
    // The runs must actually have exercised what the property is about.
    assert.ok(
      stats.positive > 0 && stats.negative > 0,
      `funding rates of both signs: ${JSON.stringify(stats)}`,
    );
    assert.ok(stats.paused > 0, `paused funding times: ${JSON.stringify(stats)}`);
    assert.ok(
      stats.sweeps > 0 && stats.settlements > 100,
      `settlements and sweeps: ${JSON.stringify(stats)}`,
    );
    assert.ok(stats.shortfalls > 0, `insurance-covered shortfalls: ${JSON.stringify(stats)}`);
  });
});
