/**
 * Liquidating a box that is short options and holds a perpetual on the same base, as stories: delta first (the
 * reference's order, options-margin.md §4) — a perpetual on the net delta's side is reduced toward delta neutral,
 * never past it, through the ordinary liquidation order; a perpetual that hedges the short calls is kept and the
 * calls close as before. Every command keeps the ledger balanced (money conserved) and the owner's free balance
 * where it was.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine } from '../../src/engine/engine.ts';
import { netDeltas } from '../../src/engine/option-liquidation.ts';
import type { ApplyResult, Command, EngineEvent } from '../../src/engine/types.ts';
import { BTCUSDT, type Cmd, engineProblems } from './harness.ts';

type Ok = Extract<ApplyResult, { ok: true }>;

const EXPIRY = Date.UTC(2026, 11, 25, 8); // 25 Dec 2026 08:00 UTC
const START = Date.UTC(2026, 11, 1);
const CALL = 'BTC_USDT-20261225-100000-C';
const PERP = 'BTCUSDT';
/** 1 BTC in netDeltas' unit (1e-54 of the base). */
const BTC = 10n ** 54n;

/** An engine on its own clock; every accepted command leaves the ledger balanced (engineProblems). */
class Venue {
  readonly e = new Engine();
  now = START;
  ok(cmd: Cmd): Ok {
    this.now += 1;
    const r = this.e.apply({ ...cmd, time: this.now } as Command);
    if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
    assert.deepEqual(engineProblems(this.e), [], `after ${cmd.type}`);
    return r;
  }
  free(account: string): bigint {
    return this.e.accounts.get(account)?.wallets.get('USDT')?.main.balance ?? 0n;
  }
  order(
    account: string,
    symbol: string,
    side: 'buy' | 'sell',
    price: string,
    size: string,
    silo?: string,
  ): Ok {
    return this.ok({
      type: 'placeOrder',
      account,
      symbol,
      side,
      orderType: 'limit',
      price,
      size,
      ...(silo ? { silo } : {}),
    });
  }
  index(price: string): Ok {
    return this.ok({ type: 'setMarkPrice', symbol: PERP, price });
  }
}

/**
 * BTCUSDT at 90,000 with a linear chain (25 Dec, strikes 80,000 and 100,000) at 55%. Alice's silo `book` (standalone,
 * `collateral` USDT) writes 1 BTC call at 100,000 to bob and trades `perp` BTC of the perpetual at 90,000, 50x, with
 * carol on the other side. `box`: the silo's risk model, or `cross`: the same legs in Alice's cross bucket,
 * `collateral` her whole deposit.
 */
function venue(
  collateral: string,
  perpSide: 'buy' | 'sell',
  perp: string,
  box: 'standalone' | 'netted' | 'cross' = 'standalone',
): Venue {
  const cross = box === 'cross';
  const v = new Venue();
  v.ok({ type: 'createMarket', market: BTCUSDT });
  v.index('90000');
  v.ok({
    type: 'createOptionChain',
    underlying: PERP,
    settle: 'linear',
    expiries: [EXPIRY],
    strikes: ['80000', '100000'],
    tickSize: '0.1',
    lotSize: '0.01',
  });
  v.ok({
    type: 'volQuote',
    underlying: PERP,
    expiry: EXPIRY,
    smile: { kind: 'strikes', ivs: { '100000': '0.55' } },
  });
  for (const a of ['bob', 'carol']) v.ok({ type: 'deposit', account: a, asset: 'USDT', amount: '200000' });
  const silo = cross ? undefined : 'book';
  if (cross) {
    v.ok({ type: 'deposit', account: 'alice', asset: 'USDT', amount: collateral });
    for (const symbol of [CALL, PERP])
      v.ok({ type: 'setMarginMode', account: 'alice', symbol, mode: 'cross' });
  } else {
    v.ok({ type: 'deposit', account: 'alice', asset: 'USDT', amount: '200000' });
    v.ok({ type: 'createSilo', account: 'alice', silo: 'book', asset: 'USDT', riskModel: box });
    v.ok({ type: 'transferCollateral', account: 'alice', from: 'free', to: 'book', amount: collateral });
  }
  v.order('bob', CALL, 'buy', '1800', '1');
  v.order('alice', CALL, 'sell', '1800', '1', silo);
  v.ok({ type: 'setLeverage', account: 'alice', symbol: PERP, leverage: '50', ...(silo ? { silo } : {}) });
  // Carol holds her side at 1x, so that she is never liquidated herself (her ADL would close Alice's perp).
  v.ok({ type: 'setLeverage', account: 'carol', symbol: PERP, leverage: '1' });
  v.order('carol', PERP, perpSide === 'buy' ? 'sell' : 'buy', '90000', perp);
  v.order('alice', PERP, perpSide, '90000', perp, silo);
  return v;
}

/** Alice's legs: the silo's, or (no silo) her cross positions. */
const legsOf = (v: Venue) => {
  const a = v.e.accounts.get('alice')!;
  const silo = a.silos.get('book');
  return [...(silo ? silo.positions : a.positions).values()];
};
const legOf = (v: Venue, symbol: string) => legsOf(v).find((p) => p.market.symbol === symbol)!;
const netDelta = (v: Venue) =>
  netDeltas(
    v.e,
    legsOf(v).filter((p) => p.sign !== 0),
  ).get('BTC');
/** The silo's liquidation events of one command, in order: `started`, then `<symbol> <side> <size> <stage>`. */
const story = (r: Ok) =>
  r.events
    .filter(
      (x): x is Extract<EngineEvent, { type: 'liquidation' | 'liquidationStarted' }> =>
        (x.type === 'liquidation' || x.type === 'liquidationStarted') && x.account === 'alice',
    )
    .map((x) => (x.type === 'liquidationStarted' ? 'started' : `${x.symbol} ${x.side} ${x.size} ${x.stage}`));

/** Black-76 call delta N(d1) in floats (Abramowitz–Stegun 26.2.17), to check the engine's integer delta by. */
function floatCallDelta(forward: number, strike: number, vol: number, years: number): number {
  const d1 = (Math.log(forward / strike) + 0.5 * vol * vol * years) / (vol * Math.sqrt(years));
  const x = Math.abs(d1);
  const t = 1 / (1 + 0.2316419 * x);
  const poly =
    t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  const tail = (Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI)) * poly;
  return d1 >= 0 ? 1 - tail : tail;
}

describe('options liquidation: delta first', { timeout: 60_000 }, () => {
  test('short 1 BTC call + long 1 BTC perp (over-hedged), index falls to 80,000: the perp is sold down toward delta neutral first, then the call is bought back', () => {
    const v = venue('16000', 'buy', '1');
    // Net delta at 90,000: +1 from the perp, about −0.25 from the call: the perp over-hedges.
    assert.ok(netDelta(v)! > BTC / 2n);
    const free = v.free('alice');
    for (const px of ['88000', '85000', '82000']) {
      assert.deepEqual(story(v.index(px)), [], `healthy at ${px}`);
    }
    // Carol bids for the perp just under where the index is going: the liquidation order fills there.
    v.order('carol', PERP, 'buy', '79950', '1');
    const r = v.index('80000');
    const events = story(r);
    // The call's delta at 80,000 (forward = index, 24 days to expiry, 55%) is about 0.066: the net is +0.934 BTC,
    // and the engine sells the perp's lots of that, floored, into carol's bid — before it touches the call.
    const years = (EXPIRY - v.now) / 1000 / (365 * 86_400);
    const excess = 1 - floatCallDelta(80_000, 100_000, 0.55, years);
    const hedged = r.events.find((x) => x.type === 'liquidation' && x.symbol === PERP);
    assert.ok(hedged && hedged.type === 'liquidation');
    const sold = Number(hedged.size) / 1000;
    assert.ok(sold <= excess && sold > excess - 0.002, `sold ${sold} BTC of an excess of ${excess}`);
    assert.equal(events[0], 'started');
    assert.equal(events[1], `${PERP} long ${hedged.size} book`);
    assert.ok(
      events.slice(2).every((x) => x.startsWith(CALL)),
      events.join(' | '),
    );
    assert.ok(
      events.length > 2,
      'still below maintenance after the hedge: the short call is bought back next',
    );
    // Never past neutral: what is left of the perp still covers at least the delta of what is left of the call.
    assert.ok(legOf(v, PERP).sign > 0);
    assert.ok((netDelta(v) ?? 0n) >= 0n);
    assert.equal(v.free('alice'), free, 'the free balance is untouched');
  });

  test('short 1 BTC call + long 0.3 BTC perp (the hedge), index rises to 105,000: the perp is kept, the call is bought back', () => {
    const v = venue('16000', 'buy', '0.3');
    const free = v.free('alice');
    let liquidated: string[] = [];
    for (const px of ['95000', '100000', '105000', '110000', '115000', '120000']) {
      liquidated = story(v.index(px));
      assert.equal(v.free('alice'), free, `free balance at ${px}`);
      if (liquidated.length > 0) break;
    }
    assert.ok(liquidated.length > 1, 'the silo was liquidated');
    // In the money the call's delta outweighs the perp: the net is short, and selling the long perp would only make
    // it shorter, so the perp stays whole and only the call is bought back. (The net is still short after part of the
    // call was bought back, so it was shorter still when the liquidation began.)
    const after = netDelta(v);
    assert.ok(after !== undefined && after < 0n, `net delta ${after}`);
    assert.equal(legOf(v, PERP).size, 300n, 'all 0.3 BTC of the perp (size at 3 decimals)');
    assert.ok(
      liquidated.slice(1).every((x) => x.startsWith(CALL)),
      liquidated.join(' | '),
    );
  });

  test('short 1 BTC call + short 0.5 BTC perp (same side), index rises: the whole perp is bought back first, then the call', () => {
    const v = venue('20000', 'sell', '0.5');
    const free = v.free('alice');
    v.order('carol', PERP, 'sell', '100050', '1');
    let liquidated: string[] = [];
    for (const px of ['95000', '100000', '105000', '110000', '115000', '120000']) {
      liquidated = story(v.index(px));
      assert.equal(v.free('alice'), free, `free balance at ${px}`);
      if (liquidated.length > 0) break;
    }
    assert.equal(liquidated[0], 'started');
    assert.ok(liquidated[1]?.startsWith(`${PERP} short 500 `), liquidated.join(' | '));
    assert.equal(legOf(v, PERP).sign, 0, 'the perp is closed: all of it added to the short delta');
    assert.ok(
      liquidated.slice(2).every((x) => x.startsWith(CALL)),
      liquidated.join(' | '),
    );
  });

  test('the same over-hedged pair in the cross bucket: the perp is sold toward neutral first there too', () => {
    const v = venue('16000', 'buy', '1', 'cross');
    assert.equal(legOf(v, CALL).mode, 'cross');
    for (const px of ['88000', '85000', '82000'])
      assert.deepEqual(story(v.index(px)), [], `healthy at ${px}`);
    v.order('carol', PERP, 'buy', '79950', '1');
    const events = story(v.index('80000'));
    assert.equal(events[0], 'started');
    assert.match(events[1] ?? '', /^BTCUSDT long 93\d book$/);
    assert.ok(
      events.slice(2).every((x) => x.startsWith(CALL)),
      events.join(' | '),
    );
    assert.ok((netDelta(v) ?? 0n) >= 0n);
  });

  test('the same over-hedged pair in a netted silo (options stand alone, the perp nets by itself): the same order', () => {
    const v = venue('16000', 'buy', '1', 'netted');
    for (const px of ['88000', '85000', '82000'])
      assert.deepEqual(story(v.index(px)), [], `healthy at ${px}`);
    v.order('carol', PERP, 'buy', '79950', '1');
    const events = story(v.index('80000'));
    assert.equal(events[0], 'started');
    assert.match(events[1] ?? '', /^BTCUSDT long 93\d book$/);
    assert.ok(
      events.slice(2).every((x) => x.startsWith(CALL)),
      events.join(' | '),
    );
    assert.ok((netDelta(v) ?? 0n) >= 0n);
  });
});
