/**
 * Multi-asset collateral in named silos, as stories. The venue takes BTC as collateral in USDT silos, priced by the
 * BTCUSDT index (one oracle feed, mark = index) at the default 5% haircut and conversion penalty. A trader funds silo
 * `btc` with 0.0211 BTC and the 10 USDT the opening fee takes, and goes long 1 BTC at 20,000, 50x:
 * - the silo's equity counts the BTC at 0.95 × the index; the liquidation price shown is where the engine acts —
 *   higher than the same value held in USDT (wrong-way risk: each tick down takes collateral value with it);
 * - at that mark nothing happens; one tick lower the BTC is sold to the insurance fund first, then the leg closes;
 *   the owner's free balance and another silo are untouched;
 * - a voluntary close at a loss the USDT cannot pay sells just enough BTC (rounded up), no insurance draw;
 * - transfers of a holding: refused while it is not accepted, out of a silo only as far as what stays carries it,
 *   stale prices count nothing for new risk; a closed silo hands its BTC back; replay and snapshot agree.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDecimal, parseDecimal } from '../../src/core/fixed.ts';
import { calc } from '../../src/core/scenario.ts';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { silosOf } from '../../src/engine/readmodel.ts';
import type { Command, EngineEvent } from '../../src/engine/types.ts';
import {
  assertReplays,
  type Cmd,
  ETHUSDT,
  engineProblems,
  liquidationProblems,
  oracleBtcusdt,
} from './harness.ts';

const T = { timeout: 60_000 };
const usdt = (v: string) => parseDecimal(v, 'v', { dp: 8, signed: true });
const of = <K extends EngineEvent['type']>(events: EngineEvent[], type: K) =>
  events.filter((ev): ev is Extract<EngineEvent, { type: K }> => ev.type === type);

const ORACLE_BTCUSDT = oracleBtcusdt();

/** The engine, the log of what was applied (for the replay check), and a clock that can jump. */
interface Venue {
  e: Engine;
  log: Command[];
  apply: (cmd: Cmd) => EngineEvent[];
  advance: (ms: number) => void;
  now: () => number;
}

/** Refused with `code`, and nothing changed (the refusal is not logged). */
function refused(v: Venue, cmd: Cmd, code: string): void {
  const before = stateHash(v.e);
  const r = v.e.apply({ ...cmd, time: v.now() } as Command);
  assert.equal(r.ok ? 'accepted' : r.code, code, r.ok ? `${cmd.type} accepted` : r.message);
  assert.equal(stateHash(v.e), before, 'a refused command changes nothing');
}

function venue(): Venue {
  const e = new Engine();
  const log: Command[] = [];
  let clock = 1_800_000_000_000;
  const apply = (cmd: Cmd): EngineEvent[] => {
    clock += 1_000;
    const full = { ...cmd, time: clock } as Command;
    log.push(full);
    const r = e.apply(full);
    if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
    return r.events;
  };
  apply({ type: 'createMarket', market: ORACLE_BTCUSDT });
  apply({ type: 'createMarket', market: ETHUSDT });
  apply({ type: 'setMarkPrice', symbol: 'ETHUSDT', price: '2000' });
  return {
    e,
    log,
    apply,
    advance: (ms) => {
      clock += ms;
    },
    now: () => clock,
  };
}

const quote = (v: Venue, price: string) =>
  v.apply({ type: 'oracleQuote', symbol: 'BTCUSDT', source: 'feed', price });

/** Collateral accepted, the maker and the fund funded, the trader's silo `btc` long 1 BTC at 20,000, 50x. */
function longFundedInBtc(v: Venue, btc = '0.0211'): void {
  quote(v, '20000');
  v.apply({ type: 'setCollateralAsset', asset: 'BTC', settle: 'USDT', dp: 8, priceMarket: 'BTCUSDT' });
  v.apply({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '10000000' });
  v.apply({ type: 'setLeverage', account: 'mm', symbol: 'BTCUSDT', leverage: '1' });
  v.apply({ type: 'fundInsurance', asset: 'USDT', amount: '100000' });
  v.apply({ type: 'deposit', account: 'tr', asset: 'USDT', amount: '5000' });
  v.apply({ type: 'deposit', account: 'tr', asset: 'BTC', amount: '1' });
  for (const silo of ['btc', 'other'])
    v.apply({ type: 'createSilo', account: 'tr', silo, asset: 'USDT', riskModel: 'standalone' });
  v.apply({ type: 'transferCollateral', account: 'tr', from: 'free', to: 'btc', asset: 'BTC', amount: btc });
  v.apply({ type: 'transferCollateral', account: 'tr', from: 'free', to: 'btc', amount: '10' });
  v.apply({ type: 'transferCollateral', account: 'tr', from: 'free', to: 'other', amount: '1000' });
  v.apply({ type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'btc' });
  limit(v, 'mm', 'BTCUSDT', 'sell', '1', '20000');
  limit(v, 'tr', 'BTCUSDT', 'buy', '1', '20000', { silo: 'btc' });
}

/** A limit order of `account` (with a silo or reduce-only flag); its events. */
function limit(
  v: Venue,
  account: string,
  symbol: string,
  side: 'buy' | 'sell',
  size: string,
  price: string,
  extra: { silo?: string; reduceOnly?: boolean } = {},
): EngineEvent[] {
  return v.apply({ type: 'placeOrder', account, symbol, side, orderType: 'limit', size, price, ...extra });
}

const silo = (v: Venue, id: string) => silosOf(v.e, 'tr').find((s) => s.id === id)!;
const main = (v: Venue, asset: string) => v.e.accounts.get('tr')!.wallets.get(asset)!.main.balance;

function clean(v: Venue, when: string): void {
  const problems = [...engineProblems(v.e), ...liquidationProblems(v.e)];
  assert.deepEqual(problems, [], `${when}: ${problems.join('; ')}`);
}

describe('multi-asset collateral: a long BTCUSDT funded in BTC', () => {
  test('the silo counts its BTC at 0.95 × the index, beside a bucket the opening fee emptied', T, () => {
    const v = venue();
    longFundedInBtc(v);
    const s = silo(v, 'btc');
    assert.equal(s.collateral, 0n, 'the 10 USDT paid the taker fee');
    assert.equal(s.holdings.length, 1, 'one holding');
    const h = s.holdings[0]!;
    assert.equal(h.amount, 2_110_000n, '0.0211 BTC');
    assert.equal(h.grossValue, usdt('422'), '0.0211 × 20,000');
    assert.equal(h.value, usdt('400.9'), 'after the 5% haircut');
    assert.equal(s.equity, usdt('400.9'), 'equity: bucket 0 + holding 400.9 + PnL 0');
    clean(v, 'after the open');
  });

  test(
    'the liquidation price shown is the calculator’s with the BTC revalued, above the USDT-funded one',
    T,
    () => {
      const v = venue();
      longFundedInBtc(v);
      const lp = silo(v, 'btc').liquidationPrices.BTCUSDT!;
      const c = calc({
        positions: [
          {
            symbol: 'BTCUSDT',
            side: 'long',
            size: '1',
            entryPrice: '20000',
            markPrice: '20000',
            leverage: '50',
            collateral: [{ asset: 'BTC', amount: '0.0211' }],
          },
        ],
      }) as unknown as { positions: { liquidationPrice: string; liquidationPriceIfSettle: string }[] };
      const ticks = (x: string) => parseDecimal(x, 'p', { dp: 8 });
      assert.equal(
        lp,
        ticks(c.positions[0]!.liquidationPrice),
        'engine and calc agree on the BTC-funded price',
      );
      assert.ok(
        lp > ticks(c.positions[0]!.liquidationPriceIfSettle),
        'wrong-way risk: above the USDT-funded price',
      );
    },
  );

  test('the silo is filed under BTC’s index where its holding has lost its share of the surplus', T, () => {
    const v = venue();
    longFundedInBtc(v);
    const c = v.e.collateralAssets.get('BTC:USDT')!;
    const s = v.e.accounts.get('tr')!.silos.get('btc')!;
    quote(v, '19990'); // the leg's market sweeps: its filing (and the holding's) is fresh
    const key = c.index.priceOf(s);
    assert.ok(key !== null, 'filed');
    // Surplus (equity − maintenance) split between the leg and the holding; the holding's half is lost where 0.0211
    // BTC × 0.95 has fallen by it. (The leg's own key covers its PnL: the liquidation differential tests the sum.)
    const s0 = silo(v, 'btc');
    const half = (s0.equity - s0.maintenanceMargin) / 2n;
    const perUsdt = 2_110_000n * 95n; // value per 1e8 price units × 100
    const expected = 1_999_000_000_000n - (half * 100n * 100_000_000n) / perUsdt;
    assert.ok(key > 0n && key < 1_999_000_000_000n, `below the index: ${key}`);
    assert.ok(key - expected < 1_000n && expected - key < 1_000n, `at ${key}, about ${expected}`);
    assert.equal(c.index.stale.size, 0, 'nothing waits to be re-filed');
  });

  test(
    'at the shown price nothing happens; one tick below, the BTC is sold to the fund, then the leg closes',
    T,
    () => {
      const v = venue();
      longFundedInBtc(v);
      const lp = silo(v, 'btc').liquidationPrices.BTCUSDT!;
      const fmt = (p: bigint) => formatDecimal(p, 8);
      const tick = 10_000_000n; // 0.1
      const mainBefore = [main(v, 'USDT'), main(v, 'BTC')];
      const otherBefore = silo(v, 'other').collateral;
      let evs = quote(v, fmt(lp));
      assert.equal(of(evs, 'liquidationStarted').length, 0, `not liquidated at ${fmt(lp)}`);
      assert.equal(of(evs, 'collateralConverted').length, 0, 'nothing converted');
      clean(v, 'at the shown price');
      evs = quote(v, fmt(lp - tick));
      const conv = of(evs, 'collateralConverted');
      assert.equal(conv.length, 1, `the BTC converted at ${fmt(lp - tick)}`);
      assert.equal(conv[0]!.reason, 'liquidation', 'reason');
      assert.equal(conv[0]!.amount, 2_110_000n, 'all of it');
      assert.equal(of(evs, 'liquidationStarted').length, 1, 'then liquidated');
      const idx = (type: string) => evs.findIndex((ev) => ev.type === type);
      assert.ok(idx('collateralConverted') < idx('liquidationStarted'), 'conversion comes first');
      assert.equal(silo(v, 'btc').holdings.length, 0, 'the silo holds no BTC after');
      assert.equal(v.e.ledger.systemAccount('insurance', 'BTC').balance, 2_110_000n, 'the fund holds it');
      assert.deepEqual([main(v, 'USDT'), main(v, 'BTC')], mainBefore, 'the free balances are untouched');
      assert.equal(silo(v, 'other').collateral, otherBefore, 'so is the other silo');
      clean(v, 'after the liquidation');
      assertReplays(v.log, v.e);
    },
  );

  test('a voluntary close at a loss its USDT cannot pay sells just enough BTC, and draws nothing', T, () => {
    const v = venue();
    longFundedInBtc(v, '0.05');
    quote(v, '19900');
    const before = silo(v, 'btc').holdings[0]!.amount;
    limit(v, 'mm', 'BTCUSDT', 'buy', '1', '19900');
    const evs = limit(v, 'tr', 'BTCUSDT', 'sell', '1', '19900', { silo: 'btc', reduceOnly: true });
    const conv = of(evs, 'collateralConverted');
    assert.ok(conv.length >= 1, 'converted');
    assert.ok(
      conv.every((c) => c.reason === 'shortfall'),
      'as a shortfall',
    );
    assert.equal(of(evs, 'insuranceDraw').length, 0, 'no insurance draw');
    // Loss 100 + fee 9.95 = 109.95 USDT at 19,900 × 0.95 per BTC: 0.00581594 BTC (rounded up).
    const sold = conv.reduce((s, c) => s + c.amount, 0n);
    const need = usdt('109.95');
    const perBtc = usdt('18905'); // 19,900 × 0.95
    assert.ok((sold * perBtc) / 100_000_000n >= need - 2n, `sold ${sold} covers the loss and fee`);
    assert.ok(
      ((sold - 2n) * perBtc) / 100_000_000n < need,
      `sold ${sold} no more than needed (two conversions round up once each)`,
    );
    assert.equal(silo(v, 'btc').holdings[0]!.amount, before - sold, 'the rest stays in the silo');
    clean(v, 'after the close');
    assertReplays(v.log, v.e);
  });
});

describe('multi-asset collateral: moving a holding', () => {
  test('refused until accepted, then in; out only as far as what stays carries the silo', T, () => {
    const v = venue();
    quote(v, '20000');
    v.apply({ type: 'deposit', account: 'tr', asset: 'USDT', amount: '1000' });
    refused(v, { type: 'deposit', account: 'tr', asset: 'BTC', amount: '1' }, 'UNKNOWN_ASSET');
    v.apply({ type: 'createSilo', account: 'tr', silo: 'box', asset: 'USDT', riskModel: 'standalone' });
    refused(
      v,
      {
        type: 'setCollateralAsset',
        asset: 'BTC',
        settle: 'USDT',
        dp: 8,
        priceMarket: 'BTCUSDT',
        conversionPenalty: '0.06',
      },
      'INVALID_COMMAND',
    );
    refused(
      v,
      { type: 'setCollateralAsset', asset: 'ETH', settle: 'USDT', dp: 8, priceMarket: 'BTCUSDT' },
      'INVALID_COMMAND',
    );
    v.apply({ type: 'setCollateralAsset', asset: 'BTC', settle: 'USDT', dp: 8, priceMarket: 'BTCUSDT' });
    v.apply({ type: 'deposit', account: 'tr', asset: 'BTC', amount: '1' });
    v.apply({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '1000000' });
    v.apply({
      type: 'transferCollateral',
      account: 'tr',
      from: 'free',
      to: 'box',
      asset: 'BTC',
      amount: '0.1',
    });
    assert.equal(silo(v, 'box').equity, usdt('1900'), '0.1 BTC at 20,000 × 0.95');
    refused(
      v,
      { type: 'transferCollateral', account: 'tr', from: 'box', to: 'free', asset: 'BTC', amount: '0.2' },
      'INSUFFICIENT_BALANCE',
    );
    // 20x long 1 BTC: initial margin 1,000 + fee 10 out of 1,900 of BTC and 10 USDT.
    v.apply({ type: 'transferCollateral', account: 'tr', from: 'free', to: 'box', amount: '10' });
    v.apply({ type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '20', silo: 'box' });
    limit(v, 'mm', 'BTCUSDT', 'sell', '1', '20000');
    limit(v, 'tr', 'BTCUSDT', 'buy', '1', '20000', { silo: 'box' });
    // 900 to spare: 0.04 BTC (760) may leave, 0.05 (950) may not.
    refused(
      v,
      { type: 'transferCollateral', account: 'tr', from: 'box', to: 'free', asset: 'BTC', amount: '0.05' },
      'INSUFFICIENT_MARGIN',
    );
    v.apply({
      type: 'transferCollateral',
      account: 'tr',
      from: 'box',
      to: 'free',
      asset: 'BTC',
      amount: '0.04',
    });
    assert.equal(main(v, 'BTC'), 94_000_000n, '0.94 BTC free');
    clean(v, 'after the moves');
    assertReplays(v.log, v.e);
  });

  test('a stale index counts the BTC at nothing for new risk; a closed silo hands it back', T, () => {
    const v = venue();
    quote(v, '20000');
    v.apply({ type: 'setCollateralAsset', asset: 'BTC', settle: 'USDT', dp: 8, priceMarket: 'BTCUSDT' });
    v.apply({ type: 'deposit', account: 'tr', asset: 'BTC', amount: '1' });
    v.apply({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '1000000' });
    v.apply({ type: 'createSilo', account: 'tr', silo: 'box', asset: 'USDT', riskModel: 'standalone' });
    v.apply({
      type: 'transferCollateral',
      account: 'tr',
      from: 'free',
      to: 'box',
      asset: 'BTC',
      amount: '0.5',
    });
    v.apply({ type: 'deposit', account: 'tr', asset: 'USDT', amount: '100' });
    v.apply({ type: 'transferCollateral', account: 'tr', from: 'free', to: 'box', amount: '10' });
    limit(v, 'mm', 'ETHUSDT', 'sell', '10', '2000');
    const buy: Cmd = {
      type: 'placeOrder',
      account: 'tr',
      symbol: 'ETHUSDT',
      side: 'buy',
      orderType: 'limit',
      size: '1',
      price: '2000',
      silo: 'box',
    };
    // Eleven minutes without a quote: past the 10-minute staleness limit, the BTC backs no new ETH long.
    v.advance(660_000);
    refused(v, buy, 'INSUFFICIENT_MARGIN');
    quote(v, '20000');
    v.apply(buy);
    limit(v, 'mm', 'ETHUSDT', 'buy', '1', '1999');
    limit(v, 'tr', 'ETHUSDT', 'sell', '1', '1999', { silo: 'box', reduceOnly: true });
    v.apply({ type: 'closeSilo', account: 'tr', silo: 'box' });
    assert.equal(main(v, 'BTC'), 100_000_000n, 'all the BTC is back in the free balance');
    assert.equal(v.e.collateralAssets.get('BTC:USDT')!.holders.size, 0, 'no holder left');
    clean(v, 'after closing');
    assertReplays(v.log, v.e);
  });
});

describe('multi-asset collateral: the rebalancing agent moves holdings', () => {
  /** Silo `hedge` long 1 BTC at 50x on 500 USDT; silo `reserve` holds only BTC; the agent gives reserve → hedge. */
  function agentVenue(holdings: 'move' | 'convert' | 'none'): Venue {
    const v = venue();
    quote(v, '20000');
    v.apply({ type: 'setCollateralAsset', asset: 'BTC', settle: 'USDT', dp: 8, priceMarket: 'BTCUSDT' });
    v.apply({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '10000000' });
    v.apply({ type: 'setLeverage', account: 'mm', symbol: 'BTCUSDT', leverage: '1' });
    v.apply({ type: 'fundInsurance', asset: 'USDT', amount: '100000' });
    v.apply({ type: 'deposit', account: 'tr', asset: 'USDT', amount: '1000' });
    v.apply({ type: 'deposit', account: 'tr', asset: 'BTC', amount: '1' });
    for (const id of ['hedge', 'reserve'])
      v.apply({ type: 'createSilo', account: 'tr', silo: id, asset: 'USDT', riskModel: 'standalone' });
    v.apply({ type: 'transferCollateral', account: 'tr', from: 'free', to: 'hedge', amount: '500' });
    v.apply({
      type: 'transferCollateral',
      account: 'tr',
      from: 'free',
      to: 'reserve',
      asset: 'BTC',
      amount: '0.1',
    });
    v.apply({ type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50', silo: 'hedge' });
    limit(v, 'mm', 'BTCUSDT', 'sell', '1', '20000');
    limit(v, 'tr', 'BTCUSDT', 'buy', '1', '20000', { silo: 'hedge' });
    v.apply({
      type: 'setRebalancing',
      account: 'tr',
      asset: 'USDT',
      enabled: true,
      givers: ['reserve'],
      receivers: ['hedge'],
      trigger: '0.8',
      holdings,
    });
    return v;
  }

  for (const mode of ['move', 'convert'] as const)
    test(
      `holdings: ${mode} — BTC slides, the reserve's BTC ${mode === 'move' ? 'moves' : 'is sold and its proceeds move'} to the hedge, before any liquidation`,
      T,
      () => {
        const v = agentVenue(mode);
        const evs = quote(v, '19612');
        const moves = of(evs, 'collateralRebalanced');
        assert.equal(moves.length, 1, 'one move');
        const m = moves[0]!;
        assert.deepEqual(
          [m.from, m.to, m.holdingAsset, m.converted ?? false],
          ['reserve', 'hedge', 'BTC', mode === 'convert'],
        );
        assert.equal(of(evs, 'liquidationStarted').length, 0, 'not liquidated');
        const hedge = silo(v, 'hedge');
        assert.ok(
          hedge.marginRatio !== null && hedge.marginRatio < 8_000_000_000n,
          `hedge back under the trigger: ${hedge.marginRatio}`,
        );
        if (mode === 'move') {
          assert.equal(hedge.holdings[0]?.amount, m.holding, 'the hedge holds what moved');
          assert.equal(of(evs, 'collateralConverted').length, 0, 'nothing sold');
        } else {
          assert.equal(hedge.holdings.length, 0, 'the hedge holds USDT only');
          const sold = of(evs, 'collateralConverted');
          assert.deepEqual(
            [sold.length, sold[0]?.reason, sold[0]?.amount],
            [1, 'rebalance', m.holding],
            'sold in the giver',
          );
        }
        clean(v, `after the ${mode}`);
        assertReplays(v.log, v.e);
      },
    );

  test('holdings: none — the reserve holds only BTC, so nothing moves and the hedge is parked', T, () => {
    const v = agentVenue('none');
    const evs = quote(v, '19612');
    assert.equal(of(evs, 'collateralRebalanced').length, 0, 'nothing moved');
    assert.equal(v.e.accounts.get('tr')!.silos.get('hedge')!.rebalanceParked, true, 'parked');
    assertReplays(v.log, v.e);
  });
});
