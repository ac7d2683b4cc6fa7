/**
 * Combos that close, judged as a whole (issue 18). Alice holds the kit's iron condor (long 90k put, long 110k call,
 * short 95k put, short 105k call, 1 BTC each) in a `maxLoss` silo funded with its max loss; BTC runs to 150,000 a
 * few hours before expiry, so the calls are worth their intrinsic value and the puts nothing: the condor is at its
 * max loss. The market maker quotes every leg at its mark (the worthless puts one tick off).
 * - Closing it as one combo is accepted whatever order the legs are sent in: the winning call pays the losing one,
 *   and the silo ends with its collateral less the max loss — nothing from the free balance or the fund.
 * - A combo whose fills would take more than the silo holds, or leave its equity below zero, is refused and
 *   nothing changes.
 * - Property: random option silos under every model, moved by random prices, closed by random combos at random
 *   prices around the marks — a combo either fills in full and never draws on the insurance fund, or changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatDecimal } from '../../src/core/fixed.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { siloLegs } from '../../src/engine/risk.ts';
import type { SiloRiskModel } from '../../src/engine/types.ts';
import type { Cmd } from './harness.ts';
import {
  EXPIRY,
  fmt,
  leg,
  type OptionType,
  option,
  STRATEGIES,
  STRIKES,
  Venue,
} from './strategy-silos-kit.ts';

const T = { timeout: 60_000 };

interface Close {
  symbol: string;
  side: 'buy' | 'sell';
  price: string;
}

/** Buy back the short call first (the biggest loss), then the puts, then sell the long call (the profit). */
const LOSERS_FIRST: Close[] = [
  { symbol: option(105_000, 'C'), side: 'buy', price: '45000' },
  { symbol: option(95_000, 'P'), side: 'buy', price: '0.1' },
  { symbol: option(90_000, 'P'), side: 'sell', price: '0.1' },
  { symbol: option(110_000, 'C'), side: 'sell', price: '40000' },
];

/** The condor opened at the marks, the silo left with its max loss plus `extra`; BTC at 150k near expiry. */
function deepInTheMoney(extra = 0n): { v: Venue; maxLoss: bigint } {
  const v = new Venue();
  v.createSilo('maxLoss', '200000');
  v.open(STRATEGIES.ironCondor);
  const maxLoss = v.read().maxLoss!;
  v.fundTo(maxLoss + extra);
  v.vol('0.2', 1000);
  v.spot('150000', Math.floor((EXPIRY - v.now) * 0.9));
  assert.equal(v.mark(option(105_000, 'C')), '45000');
  assert.equal(v.mark(option(95_000, 'P')), '0');
  assert.deepEqual(v.liquidations(), [], 'a silo covering its max loss is never liquidated');
  return { v, maxLoss };
}

/** mm rests the other side of each close at its price. */
function quote(v: Venue, closes: readonly Close[]): void {
  for (const c of closes)
    v.ok({
      type: 'placeOrder',
      account: 'mm',
      symbol: c.symbol,
      side: c.side === 'buy' ? 'sell' : 'buy',
      orderType: 'limit',
      price: c.price,
      size: '1',
    });
}

const combo = (closes: readonly Close[]): Cmd => ({
  type: 'placeCombo',
  account: 'alice',
  silo: 'box',
  legs: closes.map((c) => ({ ...c, size: '1' })),
});

describe('combo orders: a combo that closes is judged as a whole', T, () => {
  for (const extra of [0n, 500n * 10n ** 8n])
    test(
      `close a deep-ITM iron condor funded with its max loss${extra > 0n ? ' + 500' : ''} as one combo, losing legs sent first → accepted, the silo ends with collateral − max loss`,
      T,
      () => {
        const { v, maxLoss } = deepInTheMoney(extra);
        const collateral = v.silo().bucket.balance;
        assert.equal(collateral, maxLoss + extra);
        const free = v.free();
        const fund = v.e.insuranceFund('USDT');
        quote(v, LOSERS_FIRST);
        const r = v.ok(combo(LOSERS_FIRST));
        assert.equal(siloLegs(v.silo()).length, 0, 'every leg closed');
        assert.equal(fmt(v.silo().bucket.balance), fmt(collateral - maxLoss));
        assert.equal(v.free(), free, 'the free balance is untouched');
        assert.equal(v.e.insuranceFund('USDT'), fund, 'the fund is untouched');
        assert.ok(!r.events.some((x) => x.type === 'insuranceDraw' || x.type === 'liquidationStarted'));
        // The legs ran with the money coming in first; comboFilled lists them as sent.
        const trades = r.events.flatMap((x) => (x.type === 'trade' ? [x.symbol] : []));
        assert.deepEqual(trades, [
          option(110_000, 'C'),
          option(95_000, 'P'),
          option(90_000, 'P'),
          option(105_000, 'C'),
        ]);
        const done = r.events.find((x) => x.type === 'comboFilled');
        assert.ok(done?.type === 'comboFilled');
        assert.deepEqual(
          done.legs.map((l) => l.symbol),
          LOSERS_FIRST.map((c) => c.symbol),
        );
      },
    );

  test('the same combo sent winners first runs in the order sent', T, () => {
    const { v, maxLoss } = deepInTheMoney();
    const sent = [...LOSERS_FIRST].reverse();
    quote(v, sent);
    const r = v.ok(combo(sent));
    const trades = r.events.flatMap((x) => (x.type === 'trade' ? [x.symbol] : []));
    assert.deepEqual(
      trades,
      sent.map((c) => c.symbol),
    );
    assert.equal(v.silo().bucket.balance, 0n, `${fmt(maxLoss)} of collateral, all of it lost`);
  });

  test(
    'a combo whose closes would overdraw the silo (the short call bought back 1,000 over its mark) → FOK_NOT_FILLED, nothing changed',
    T,
    () => {
      const { v, maxLoss } = deepInTheMoney();
      const closes = LOSERS_FIRST.map((c) =>
        c.side === 'buy' && c.price === '45000' ? { ...c, price: '46000' } : c,
      );
      quote(v, closes);
      const before = stateHash(v.e);
      const msg = v.refused(combo(closes), 'FOK_NOT_FILLED');
      assert.match(
        msg,
        new RegExp(
          `would overdraw silo box: it holds ${fmt(maxLoss)} USDT and its fills realize -${fmt(maxLoss + 1000n * 10n ** 8n)} USDT`,
        ),
      );
      assert.equal(stateHash(v.e), before);
      assert.equal(siloLegs(v.silo()).length, 4, 'the condor is still open');
    },
  );

  test(
    'half the call spread closed at its marks and the short put bought back a tick over its worthless mark: the bucket pays, the equity (0) cannot → FOK_NOT_FILLED, nothing changed',
    T,
    () => {
      const { v } = deepInTheMoney();
      const half = (c: Close): Close & { size: string } => ({ ...c, size: '0.5' });
      const closes = [
        half({ symbol: option(105_000, 'C'), side: 'buy', price: '45000' }),
        half({ symbol: option(110_000, 'C'), side: 'sell', price: '40000' }),
        { symbol: option(95_000, 'P'), side: 'buy' as const, price: '0.1', size: '1' },
      ];
      quote(v, closes);
      const cmd: Cmd = { type: 'placeCombo', account: 'alice', silo: 'box', legs: closes };
      const msg = v.refused(cmd, 'FOK_NOT_FILLED');
      assert.match(
        msg,
        /would pass silo box's bankruptcy price: its fills and fees cost 0\.1 USDT against the marks, its equity is 0 USDT/,
      );
      // The long put sold a tick over its mark as well: the tick lost is the tick gained, and it goes through.
      const withPut = [
        ...closes,
        { symbol: option(90_000, 'P'), side: 'sell' as const, price: '0.1', size: '1' },
      ];
      quote(v, withPut.slice(3));
      v.ok({ ...cmd, legs: withPut } as Cmd);
      assert.equal(siloLegs(v.silo()).length, 2, 'half the call spread stays');
    },
  );
});

describe('combo orders: random closing combos', T, () => {
  const MODELS: SiloRiskModel[] = ['standalone', 'netted', 'maxLoss', 'strategy', 'scenario'];
  /** A vertical of each type or one: strikes a < b, credit (short the nearer) or debit, the same size. */
  const verticalArb = (t: OptionType) =>
    fc
      .record({
        k: fc.uniqueArray(fc.integer({ min: 0, max: STRIKES.length - 1 }), { minLength: 2, maxLength: 2 }),
        credit: fc.boolean(),
        lots: fc.integer({ min: 1, max: 200 }),
      })
      .map(({ k, credit, lots }) => {
        const [a, b] = [...k].sort((x, y) => x - y).map((i) => STRIKES[i]!) as [number, number];
        const [near, far] = t === 'C' ? [a, b] : [b, a];
        const size = (lots / 100).toFixed(2);
        return [leg(credit ? 'sell' : 'buy', near, t, size), leg(credit ? 'buy' : 'sell', far, t, size)];
      });
  const legsArb = fc
    .tuple(fc.option(verticalArb('C'), { nil: undefined }), fc.option(verticalArb('P'), { nil: undefined }))
    .filter(([c, p]) => c !== undefined || p !== undefined)
    .map(([c, p]) => [...(c ?? []), ...(p ?? [])]);
  const closeArb = fc.record({
    pick: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    // The share of every chosen leg closed (a spread closes evenly): all of it half the time.
    part: fc.oneof(fc.constant(100), fc.integer({ min: 1, max: 100 })),
    // Ticks off the mark, against Alice (+) or for her (−), as a share of the band.
    off: fc.array(fc.integer({ min: -40, max: 100 }), { minLength: 4, maxLength: 4 }),
    // The legs as opened (longs first) or reversed (shorts first).
    reverse: fc.boolean(),
  });

  /** A price `pct`% of the mark off it, against a taker on `side` when positive, on the tick, in the band. */
  const priceOff = (v: Venue, symbol: string, side: 'buy' | 'sell', pct: number): string => {
    const m = v.e.markets.get(symbol)!;
    const tick = m.inst.tickSize;
    const move = (m.mark! * BigInt(Math.abs(pct))) / 250n; // at most 40% of the mark
    const raw = (side === 'buy') === pct >= 0 ? m.mark! + move : m.mark! - move;
    const ticks = side === 'buy' ? raw / tick : (raw + tick - 1n) / tick;
    return m.fmtPrice((ticks > 0n ? ticks : 1n) * tick);
  };

  test(
    'random silos closed by random combos around the marks: each fills in full without drawing on the fund, or changes nothing',
    T,
    () => {
      const seen = { accepted: 0, reordered: 0, refused: 0 };
      fc.assert(
        fc.property(
          legsArb,
          fc.constantFrom(...MODELS),
          fc.integer({ min: 0, max: 30 }),
          fc.array(fc.integer({ min: -300, max: 300 }), { minLength: 1, maxLength: 4 }),
          fc.array(closeArb, { minLength: 1, maxLength: 4 }),
          (specs, model, coverPct, moves, closes) => {
            const v = new Venue();
            v.createSilo(model, '500000');
            v.open(specs.sort((x, y) => (x.side === y.side ? 0 : x.side === 'buy' ? -1 : 1)));
            const im = v.read().initialMargin;
            v.fundTo(im + (im * BigInt(coverPct)) / 100n);
            let spot = 100_000;
            for (const bp of moves) {
              spot = Math.round(spot * (1 + bp / 1000) * 10) / 10;
              v.spot(String(spot), 60_000);
            }
            for (const c of closes) {
              const open = siloLegs(v.silo());
              const chosen = open.filter((_, i) => c.pick[i]);
              if (c.reverse) chosen.reverse();
              if (chosen.length < 2) continue;
              const combo = chosen.map((p, i) => {
                const side = p.sign > 0 ? ('sell' as const) : ('buy' as const);
                const lots = Math.max(1, Math.floor((p.lots * c.part) / 100));
                const size = formatDecimal(p.market.size(lots), p.market.inst.sizeDp);
                return {
                  symbol: p.market.symbol,
                  side,
                  size,
                  price: priceOff(v, p.market.symbol, side, c.off[i]!),
                };
              });
              for (const l of combo)
                v.apply({
                  type: 'placeOrder',
                  account: 'mm',
                  symbol: l.symbol,
                  side: l.side === 'buy' ? 'sell' : 'buy',
                  orderType: 'limit',
                  price: l.price,
                  size: l.size,
                  timeInForce: 'PO',
                });
              const before = stateHash(v.e);
              const r = v.apply({ type: 'placeCombo', account: 'alice', silo: 'box', legs: combo });
              if (!r.ok) {
                seen.refused++;
                assert.equal(stateHash(v.e), before, `refused ${r.code} (${r.message}) yet changed state`);
                continue;
              }
              seen.accepted++;
              assert.ok(!r.events.some((x) => x.type === 'insuranceDraw'), 'a combo drew on the fund');
              assert.ok(v.silo().bucket.balance >= 0n);
              const ran = r.events.flatMap((x) =>
                x.type === 'orderAccepted' && x.account === 'alice' ? [x.symbol] : [],
              );
              if (ran.join() !== combo.map((l) => l.symbol).join()) seen.reordered++;
            }
          },
        ),
        { numRuns: 150, seed: 20_261_801 },
      );
      console.log(`# closing combos: ${JSON.stringify(seen)}`);
      assert.ok(seen.accepted > 0 && seen.reordered > 0 && seen.refused > 0, JSON.stringify(seen));
    },
  );
});
