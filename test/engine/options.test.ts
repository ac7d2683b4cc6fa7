/**
 * Options in the engine, as stories: a short call ring-fenced in its own bucket is liquidated as the index rises
 * through the strike while the free balance stays untouched; a long is never liquidated; expiry settles ITM options
 * on the index TWAP (Deribit's inverse examples OPT-DRB-SETTLE-1/2, linear too) and money is conserved; a stale vol
 * feed blocks new risk but not a close; a refused option command changes nothing; snapshots carry the feeds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDecimal } from '../../src/core/fixed.ts';
import { Engine, restoreEngine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { snapshotEngine } from '../../src/engine/snapshot.ts';
import type { ApplyResult, Command, EngineEvent } from '../../src/engine/types.ts';
import { BTCUSD, BTCUSDT, type Cmd, engineProblems } from './harness.ts';

type Ok = Extract<ApplyResult, { ok: true }>;

const EXPIRY = Date.UTC(2026, 11, 25, 8); // 25 Dec 2026 08:00 UTC
const START = Date.UTC(2026, 11, 1);
const CALL = 'BTC_USDT-20261225-100000-C';
const usd = (s: string) => parseDecimal(s, 'x', { dp: 8, signed: true });

/** An engine on its own clock (commands at explicit times, so expiry and staleness are where the story says). */
class Venue {
  readonly e = new Engine();
  now = START;
  ok(cmd: Cmd, time = this.now + 1): Ok {
    this.now = time;
    const r = this.e.apply({ ...cmd, time } as Command);
    if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
    const problems = engineProblems(this.e);
    assert.deepEqual(problems, [], `after ${cmd.type}`);
    return r;
  }
  refused(cmd: Cmd, code: string): void {
    const before = stateHash(this.e);
    const r = this.e.apply({ ...cmd, time: this.now + 1 } as Command);
    assert.equal(r.ok, false, `${cmd.type} should be refused`);
    if (!r.ok) assert.equal(r.code, code, r.message);
    assert.equal(stateHash(this.e), before, 'a refused command changes nothing');
  }
  main(account: string, asset = 'USDT'): bigint {
    return this.e.accounts.get(account)?.wallets.get(asset)?.main.balance ?? 0n;
  }
  spot(price: string, symbol = 'BTCUSDT', time = this.now + 1): Ok {
    return this.ok({ type: 'setMarkPrice', symbol, price }, time);
  }
  vol(iv: string, underlying = 'BTCUSDT', time = this.now + 1): Ok {
    return this.ok(
      { type: 'volQuote', underlying, expiry: EXPIRY, smile: { kind: 'strikes', ivs: { '100000': iv } } },
      time,
    );
  }
  trade(symbol: string, buyer: string, seller: string, price: string, size: string): Ok {
    this.ok({ type: 'placeOrder', account: buyer, symbol, side: 'buy', orderType: 'limit', price, size });
    return this.ok({
      type: 'placeOrder',
      account: seller,
      symbol,
      side: 'sell',
      orderType: 'limit',
      price,
      size,
    });
  }
}

const of = <T extends EngineEvent['type']>(r: Ok, type: T) =>
  r.events.filter((x): x is Extract<EngineEvent, { type: T }> => x.type === type);

/** BTCUSDT at 90,000 with a linear BTC chain (25 Dec, 100,000 and 80,000, calls and puts) quoted at 55%. */
function linearVenue(fees = '0.0003'): Venue {
  const v = new Venue();
  v.ok({ type: 'createMarket', market: BTCUSDT });
  v.spot('90000');
  v.ok({
    type: 'createOptionChain',
    underlying: 'BTCUSDT',
    settle: 'linear',
    expiries: [EXPIRY],
    strikes: ['80000', '100000'],
    tickSize: '0.1',
    lotSize: '0.01',
    takerFee: fees,
    makerFee: fees,
  });
  v.vol('0.55');
  for (const a of ['alice', 'bob', 'carol'])
    v.ok({ type: 'deposit', account: a, asset: 'USDT', amount: '100000' });
  return v;
}

describe('options: pricing and the chain', { timeout: 60_000 }, () => {
  test('a chain creates every strike × type with Deribit-style symbols; its marks are Black-76 on the index', () => {
    const v = linearVenue();
    const syms = [...v.e.markets.keys()].filter((s) => s.startsWith('BTC_USDT-'));
    assert.deepEqual(syms, [
      'BTC_USDT-20261225-80000-C',
      'BTC_USDT-20261225-80000-P',
      'BTC_USDT-20261225-100000-C',
      'BTC_USDT-20261225-100000-P',
    ]);
    const call = v.e.markets.get(CALL)!.mark!;
    const put = v.e.markets.get('BTC_USDT-20261225-100000-P')!.mark!;
    // Put-call parity on the forward (D = 1): C − P = F − K, to the rounding of two marks.
    const parity = call - put - (usd('90000') - usd('100000'));
    assert.ok(parity >= -2n && parity <= 2n, `parity off by ${parity}`);
    // The index moving re-marks the chain: the call gains.
    v.spot('95000');
    assert.ok(v.e.markets.get(CALL)!.mark! > call);
  });
});

describe('options: margin and liquidation', { timeout: 60_000 }, () => {
  test('short 1 BTC call at 100,000, index rises through the strike: the isolated short is liquidated, the free balance untouched', () => {
    const v = linearVenue();
    v.trade(CALL, 'bob', 'alice', '1800', '1');
    const short = v.e.accounts.get('alice')!.positions.get(CALL)!;
    assert.equal(short.side, 'short');
    const ringFenced = short.bucket.balance;
    assert.ok(ringFenced > usd('10000'), 'the short reserves its venue-rule margin');
    const free = v.main('alice');
    const liquidations: EngineEvent[] = [];
    for (const px of ['95000', '100000', '105000', '110000', '120000', '130000']) {
      const r = v.spot(px);
      liquidations.push(...of(r, 'liquidationStarted'), ...of(r, 'liquidation'));
      // Whatever happens in the bucket, the free balance does not move.
      assert.equal(v.main('alice'), free, `free balance at ${px}`);
    }
    assert.ok(liquidations.some((x) => x.type === 'liquidationStarted' && x.account === 'alice'));
    assert.ok(short.lots < 100, 'the short was reduced');
    // The backstop took what it took at the mark plus the discount, never the free balance's money.
    const backstop = v.e.accounts.get('@insurance')?.positions.get(CALL);
    assert.ok(backstop && backstop.side === 'short');
  });

  test('the same short call written in a named silo: the silo is liquidated, the free balance and the other silo untouched', () => {
    const v = linearVenue();
    v.ok({ type: 'createSilo', account: 'alice', silo: 'calls', asset: 'USDT', riskModel: 'standalone' });
    v.ok({ type: 'createSilo', account: 'alice', silo: 'spare', asset: 'USDT', riskModel: 'netted' });
    v.ok({ type: 'transferCollateral', account: 'alice', from: 'free', to: 'calls', amount: '16000' });
    v.ok({ type: 'transferCollateral', account: 'alice', from: 'free', to: 'spare', amount: '5000' });
    v.ok({
      type: 'placeOrder',
      account: 'bob',
      symbol: CALL,
      side: 'buy',
      orderType: 'limit',
      price: '1800',
      size: '1',
    });
    v.ok({
      type: 'placeOrder',
      account: 'alice',
      symbol: CALL,
      side: 'sell',
      orderType: 'limit',
      price: '1800',
      size: '1',
      silo: 'calls',
    });
    const a = v.e.accounts.get('alice')!;
    const leg = a.silos.get('calls')!.positions.get(CALL)!;
    assert.equal(leg.side, 'short');
    const free = v.main('alice');
    const spare = a.silos.get('spare')!.bucket.balance;
    let started = 0;
    for (const px of ['95000', '100000', '105000', '110000', '120000']) {
      const r = v.spot(px);
      started += of(r, 'liquidationStarted').filter(
        (x) => x.account === 'alice' && x.silo === 'calls',
      ).length;
      assert.equal(v.main('alice'), free, `free balance at ${px}`);
      assert.equal(a.silos.get('spare')!.bucket.balance, spare, `the other silo at ${px}`);
    }
    assert.ok(started > 0, 'the silo was liquidated');
    assert.ok(leg.lots < 100);
  });

  test('a short may not be written far below its mark (the limit band)', () => {
    const v = linearVenue();
    const mark = Number(v.e.markets.get(CALL)!.mark!) / 1e8;
    v.refused(
      {
        type: 'placeOrder',
        account: 'alice',
        symbol: CALL,
        side: 'sell',
        orderType: 'limit',
        price: (mark * 0.4).toFixed(1),
        size: '1',
      },
      'PRICE_BAND',
    );
  });

  test('a long call is paid in full and never liquidated, however far the index falls', () => {
    const v = linearVenue();
    v.trade(CALL, 'bob', 'alice', '1800', '1');
    const long = v.e.accounts.get('bob')!.positions.get(CALL)!;
    assert.ok(long.bucket.balance >= usd('1800'), 'the premium sits in the bucket');
    for (const px of ['70000', '50000', '30000', '20000']) {
      const r = v.spot(px);
      assert.equal(of(r, 'liquidation').filter((x) => x.account === 'bob').length, 0);
    }
    assert.equal(long.lots, 100);
  });

  test('a stale vol feed blocks new shorts (and longs), never a close', () => {
    const v = linearVenue();
    v.trade(CALL, 'bob', 'alice', '1800', '0.5');
    const r = v.ok({ type: 'tick' }, v.now + 61_000);
    assert.ok(r.events.some((x) => x.type === 'oracleStatus' && x.validity === 'stale'));
    v.refused(
      {
        type: 'placeOrder',
        account: 'carol',
        symbol: CALL,
        side: 'sell',
        orderType: 'limit',
        price: '1800',
        size: '0.1',
      },
      'ORACLE_PAUSED',
    );
    // Alice buys her short back: reducing risk is always allowed.
    v.ok({
      type: 'placeOrder',
      account: 'bob',
      symbol: CALL,
      side: 'sell',
      orderType: 'limit',
      price: '1700',
      size: '0.5',
      reduceOnly: true,
    });
    v.ok({
      type: 'placeOrder',
      account: 'alice',
      symbol: CALL,
      side: 'buy',
      orderType: 'limit',
      price: '1700',
      size: '0.5',
      reduceOnly: true,
    });
    assert.equal(v.e.accounts.get('alice')!.positions.get(CALL)!.lots, 0);
    // A fresh quote resumes trading.
    v.vol('0.55');
    v.ok({
      type: 'placeOrder',
      account: 'carol',
      symbol: CALL,
      side: 'sell',
      orderType: 'limit',
      price: '1800',
      size: '0.1',
    });
  });

  test('a vol quote jumping more than the band is scaled back to it and pauses new risk until the next quote', () => {
    const v = linearVenue();
    const before = v.e.markets.get(CALL)!.mark!;
    const r = v.vol('1.5'); // from 55%: the band is ±50% of it, so 82.5% is used
    assert.ok(r.events.some((x) => x.type === 'oracleStatus' && x.validity === 'tooVolatile'));
    const feed = v.e.markets.get(CALL)!.optionFeed!;
    assert.equal(feed.atmIv, parseDecimal('0.825', 'iv', { dp: 18 }));
    assert.ok(v.e.markets.get(CALL)!.mark! > before);
    v.refused(
      {
        type: 'placeOrder',
        account: 'carol',
        symbol: CALL,
        side: 'sell',
        orderType: 'limit',
        price: '3000',
        size: '0.1',
      },
      'ORACLE_PAUSED',
    );
    v.vol('0.9');
    v.ok({
      type: 'placeOrder',
      account: 'carol',
      symbol: CALL,
      side: 'sell',
      orderType: 'limit',
      price: '3000',
      size: '0.1',
    });
  });

  test('refused option commands change nothing', () => {
    const v = linearVenue();
    v.refused(
      { type: 'volQuote', underlying: 'BTCUSDT', expiry: EXPIRY, smile: { kind: 'strikes', ivs: {} } },
      'INVALID_COMMAND',
    );
    v.refused(
      {
        type: 'volQuote',
        underlying: 'BTCUSDT',
        expiry: EXPIRY + 1,
        smile: { kind: 'strikes', ivs: { '1': '1' } },
      },
      'UNKNOWN_MARKET',
    );
    v.refused(
      {
        type: 'volQuote',
        underlying: 'BTCUSDT',
        expiry: EXPIRY,
        smile: { kind: 'svi', a: '-1', b: '0.1', rho: '0', m: '0', sigma: '0.1' },
      },
      'INVALID_COMMAND',
    );
    // One symbol of the chain exists already: no market of it is created.
    v.refused(
      {
        type: 'createOptionChain',
        underlying: 'BTCUSDT',
        settle: 'linear',
        expiries: [EXPIRY],
        strikes: ['90000', '100000'],
        tickSize: '0.1',
        lotSize: '0.01',
      },
      'MARKET_EXISTS',
    );
    v.refused({ type: 'setLeverage', account: 'alice', symbol: CALL, leverage: '5' }, 'INVALID_COMMAND');
  });
});

describe('options: settlement at expiry', { timeout: 60_000 }, () => {
  test('linear: ITM pays max(S − K, 0) on the index TWAP, OTM expires; money is conserved', () => {
    const v = linearVenue('0');
    const [bob, alice, carol] = [v.main('bob'), v.main('alice'), v.main('carol')];
    v.trade(CALL, 'bob', 'alice', '1800', '1');
    v.trade('BTC_USDT-20261225-80000-P', 'carol', 'alice', '1400', '1');
    // Alice tops up the short call's own bucket, so that it is not liquidated on the way to expiry.
    v.ok({ type: 'addMargin', account: 'alice', symbol: CALL, amount: '20000' });
    // The index sits at 104,000 through the whole settlement window.
    v.spot('104000', 'BTCUSDT', EXPIRY - 3_600_000);
    v.vol('0.55', 'BTCUSDT', EXPIRY - 3_000_000);
    const r = v.ok({ type: 'tick' }, EXPIRY);
    const settled = of(r, 'marketSettled');
    assert.equal(settled.length, 4);
    assert.equal(settled.find((x) => x.symbol === CALL)!.price, usd('4000'));
    // Bob paid 1,800 for a call that pays 4,000: +2,200. Carol's put expires worthless: −1,400.
    assert.equal(v.main('bob') - bob, usd('2200'));
    assert.equal(v.main('carol') - carol, usd('-1400'));
    // Alice wrote both: her margin is back, less the call's 2,200, plus the put's 1,400.
    assert.equal(v.main('alice') - alice, usd('-800'));
    assert.equal(v.e.ledger.verify().ok, true);
    v.refused(
      {
        type: 'placeOrder',
        account: 'bob',
        symbol: CALL,
        side: 'buy',
        orderType: 'limit',
        price: '1',
        size: '1',
      },
      'MARKET_CLOSED',
    );
  });

  test('inverse (Deribit OPT-DRB-SETTLE-1/2): a call K=100,000 bought at 0.05 BTC pays 0.2 BTC at 125,000; a put K=10,000 pays 1 BTC at 5,000', () => {
    const v = new Venue();
    v.ok({ type: 'createMarket', market: BTCUSD });
    v.spot('100000', 'BTCUSD');
    for (const strike of ['100000', '10000'])
      v.ok({
        type: 'createOptionChain',
        underlying: 'BTCUSD',
        settle: 'inverse',
        expiries: [EXPIRY],
        strikes: [strike],
        tickSize: '0.0005',
        lotSize: '0.1',
        takerFee: '0',
        makerFee: '0',
      });
    v.ok({
      type: 'volQuote',
      underlying: 'BTCUSD',
      expiry: EXPIRY,
      smile: { kind: 'strikes', ivs: { '100000': '0.55' } },
    });
    for (const a of ['alice', 'bob']) v.ok({ type: 'deposit', account: a, asset: 'BTC', amount: '10' });
    const btc = (s: string) => parseDecimal(s, 'x', { dp: 8 });
    const bob0 = v.main('bob', 'BTC');
    v.trade('BTC-20261225-100000-C', 'bob', 'alice', '0.05', '1');
    // The put is bought with the index at 10,000, where it is at the money.
    v.spot('10000', 'BTCUSD');
    v.trade('BTC-20261225-10000-P', 'bob', 'alice', '0.05', '1');
    assert.equal(v.main('bob', 'BTC'), bob0 - btc('0.1'), 'both premiums paid');
    v.spot('125000', 'BTCUSD', EXPIRY - 3_600_000);
    let r = v.ok({ type: 'tick' }, EXPIRY);
    assert.equal(of(r, 'marketSettled').find((x) => x.symbol === 'BTC-20261225-100000-C')!.price, btc('0.2'));
    assert.equal(
      v.main('bob', 'BTC'),
      bob0 - btc('0.1') + btc('0.2'),
      'call: paid 0.05, credited 0.2 (profit 0.15)',
    );
    // A second expiry for the put story: the same payoff rule at 5,000.
    const v2 = new Venue();
    v2.ok({ type: 'createMarket', market: BTCUSD });
    v2.spot('10000', 'BTCUSD');
    v2.ok({
      type: 'createOptionChain',
      underlying: 'BTCUSD',
      settle: 'inverse',
      expiries: [EXPIRY],
      strikes: ['10000'],
      types: ['put'],
      tickSize: '0.0005',
      lotSize: '0.1',
      takerFee: '0',
      makerFee: '0',
    });
    v2.ok({
      type: 'volQuote',
      underlying: 'BTCUSD',
      expiry: EXPIRY,
      smile: { kind: 'strikes', ivs: { '10000': '0.55' } },
    });
    for (const a of ['alice', 'bob']) v2.ok({ type: 'deposit', account: a, asset: 'BTC', amount: '10' });
    v2.trade('BTC-20261225-10000-P', 'bob', 'alice', '0.05', '1');
    const before = v2.main('bob', 'BTC');
    v2.spot('5000', 'BTCUSD', EXPIRY - 3_600_000);
    r = v2.ok({ type: 'tick' }, EXPIRY);
    assert.equal(of(r, 'marketSettled')[0]!.price, btc('1'));
    assert.equal(
      v2.main('bob', 'BTC') - before,
      btc('0.05') + btc('0.95'),
      'put: premium back and 0.95 profit',
    );
    assert.equal(v2.e.ledger.verify().ok, true);
  });
});

describe('options: snapshots', { timeout: 60_000 }, () => {
  test('a restored engine with options hashes equal and behaves identically afterwards', () => {
    const v = linearVenue();
    v.trade(CALL, 'bob', 'alice', '1800', '1');
    v.spot('97000');
    const bytes = snapshotEngine(v.e);
    const copy = restoreEngine(bytes);
    assert.equal(stateHash(copy), stateHash(v.e));
    const next: Cmd[] = [
      {
        type: 'volQuote',
        underlying: 'BTCUSDT',
        expiry: EXPIRY,
        smile: { kind: 'svi', a: '0.02', b: '0.1', rho: '-0.3', m: '0', sigma: '0.2' },
      },
      { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '112000' },
      { type: 'tick' },
    ];
    let time = v.now;
    for (const c of next) {
      time += 1000;
      const a = v.e.apply({ ...c, time } as Command);
      const b = copy.apply({ ...c, time } as Command);
      assert.deepEqual(b, a);
      assert.equal(stateHash(copy), stateHash(v.e));
    }
  });
});
