/**
 * Strategy silos (issue 18) under random price and vol paths, seeded:
 * - an iron condor funded with exactly its max loss survives any path to expiry and settles to the right amount;
 * - a defined-risk silo (vertical, iron condor or butterfly; maxLoss, strategy or scenario model) whose collateral
 *   covers its max loss is never liquidated, and pays at expiry exactly what its legs' payoffs say;
 * - differential: the engine starts liquidating a silo at the first command after which core strategyMargin, over
 *   legs this test builds itself from the venue's state, says its equity is below maintenance — not before, not later.
 *
 * Seeds and runs: STRATEGY_SILO_SEED, STRATEGY_SILO_RUNS.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { floorDiv, formatDecimal, parseDecimal } from '../../src/core/fixed.ts';
import { yearsFromSeconds } from '../../src/core/options/black76.ts';
import { type PortfolioLeg, strategyMargin } from '../../src/core/strategy/index.ts';
import type { Position, PositionView } from '../../src/engine/account.ts';
import {
  legMaintenance,
  positionInitialMargin,
  positionInput,
  siloLegs,
  valuationPrice,
} from '../../src/engine/risk.ts';
import { legsWith, siloFigures, siloFiguresOver, viewAfterFill } from '../../src/engine/silos.ts';
import {
  EXPIRY,
  fmt,
  type LegSpec,
  leg,
  type OptionType,
  PERP,
  STRIKES,
  Venue,
  WINDOW_MS,
} from './strategy-silos-kit.ts';

const SEED = Number(process.env.STRATEGY_SILO_SEED ?? 20261218);
const RUNS = Number(process.env.STRATEGY_SILO_RUNS ?? 12);
const T = { timeout: 600_000 };
const WAD = 10n ** 18n;

/** One step of a path: time advanced (a fraction of what is left before the settlement window), move, new IV. */
interface Step {
  at: number;
  move: number;
  iv: number;
}
const stepArb = fc.record({
  at: fc.integer({ min: 1, max: 1000 }).map((n) => n / 1000),
  move: fc.integer({ min: -150, max: 150 }).map((n) => n / 1000),
  iv: fc.integer({ min: 15, max: 200 }).map((n) => n / 100),
});
const pathArb = fc.array(stepArb, { minLength: 3, maxLength: 14 });

/** A spot on the perpetual's 0.1 grid, kept within 30k..300k. */
function nextSpot(spot: number, move: number): number {
  return Math.round(Math.min(300_000, Math.max(30_000, spot * (1 + move))) * 10) / 10;
}

/**
 * Walks `path` (each step: time, the spot's move, a new flat IV), holds the last spot through the settlement window
 * and settles. Fails on any liquidation of Alice; returns the settlement price.
 */
function walkToExpiry(v: Venue, path: readonly Step[]): number {
  let spot = 100_000;
  const last = EXPIRY - WINDOW_MS - 60_000;
  for (const s of path) {
    const dt = Math.max(2, Math.floor((last - v.now - path.length * 2) * s.at * 0.3));
    spot = nextSpot(spot, s.move);
    v.vol(String(s.iv), dt);
    v.spot(String(spot));
    assert.deepEqual(v.liquidations(), [], `liquidated at spot ${spot}`);
  }
  v.spot(String(spot), last - v.now);
  v.ok({ type: 'tick' }, EXPIRY + 1_000 - v.now);
  assert.deepEqual(v.liquidations(), [], 'liquidated at expiry');
  return spot;
}

/** Σ over the legs (as opened) of sign × size × (payoff at `s` − entry), USDT 8 decimals (exact on these grids). */
function payoffPnl(
  v: Venue,
  legs: readonly { symbol: string; sign: number; lots: number; entry: bigint }[],
  s: number,
) {
  const S = BigInt(Math.round(s * 10)) * 10n ** 7n; // 0.1 grid → 8 decimals
  let pnl = 0n;
  for (const l of legs) {
    const t = v.e.markets.get(l.symbol)!.option!;
    const k = t.strike / 10n ** 10n;
    const payoff = t.type === 'call' ? (S > k ? S - k : 0n) : k > S ? k - S : 0n;
    // Sizes are lots of 0.01: size × price at 8 decimals.
    pnl += (BigInt(l.sign) * BigInt(l.lots) * (payoff - l.entry)) / 100n;
  }
  return pnl;
}

/** The silo's legs as opened: symbol, side, lots, entry (price at 8 decimals). */
function opened(v: Venue) {
  return siloLegs(v.silo()).map((p) => ({
    symbol: p.market.symbol,
    sign: p.sign,
    lots: p.lots,
    entry: p.entryPrice,
  }));
}

/** Opens `legs` with room to spare, then leaves the silo holding exactly its max loss; returns the max loss. */
function fundWithMaxLoss(
  v: Venue,
  model: 'maxLoss' | 'strategy' | 'scenario',
  legs: readonly LegSpec[],
): bigint {
  v.createSilo(model, '200000');
  v.open(legs);
  const maxLoss = v.read().maxLoss;
  assert.ok(maxLoss !== null, 'defined risk');
  // The scenario grid may ask less than the max loss, never more (its cap).
  assert.ok(
    v.read().initialMargin <= maxLoss,
    `IM ${fmt(v.read().initialMargin)} > max loss ${fmt(maxLoss)}`,
  );
  v.fundTo(maxLoss);
  // The read's max loss is rounded up; what may leave is at most the rounding (a unit per leg).
  if (model !== 'scenario')
    assert.ok(v.read().maxRemovable < BigInt(legs.length), `removable ${v.read().maxRemovable}`);
  return maxLoss;
}

/** A settled silo holds its max loss plus what its legs paid: and the fund, the free balance never paid for it. */
function checkSettled(
  v: Venue,
  legs: ReturnType<typeof opened>,
  maxLoss: bigint,
  s: number,
  free: bigint,
  fund: bigint,
) {
  const expected = maxLoss + payoffPnl(v, legs, s);
  assert.ok(expected >= 0n, `a loss beyond the max loss: ${fmt(expected)}`);
  assert.equal(v.silo().bucket.balance, expected, `settled at ${s}`);
  assert.equal(v.free(), free, 'the free balance is untouched');
  assert.equal(v.e.insuranceFund('USDT'), fund, 'the fund is untouched');
  assert.ok(!v.events.some((ev) => ev.type === 'insuranceDraw'));
}

const lotsArb = fc.integer({ min: 1, max: 300 });
const sizeOf = (lots: number) => (lots / 100).toFixed(2);

/** Strikes i < j < k < l of the chain (iron butterfly: j = k). */
const condorArb = fc
  .uniqueArray(fc.integer({ min: 0, max: STRIKES.length - 1 }), { minLength: 3, maxLength: 4 })
  .map((ix) => {
    const k = [...ix].sort((a, b) => a - b).map((i) => STRIKES[i]!);
    return k.length === 4 ? k : [k[0]!, k[1]!, k[1]!, k[2]!];
  });

describe('strategy silos under random paths', T, () => {
  test(
    'an iron condor funded with exactly its max loss survives any price path to expiry and settles to the right amount',
    T,
    () => {
      fc.assert(
        fc.property(condorArb, lotsArb, pathArb, (k, lots, path) => {
          const v = new Venue();
          const size = sizeOf(lots);
          const legs = [
            leg('buy', k[0]!, 'P', size),
            leg('buy', k[3]!, 'C', size),
            leg('sell', k[1]!, 'P', size),
            leg('sell', k[2]!, 'C', size),
          ];
          const maxLoss = fundWithMaxLoss(v, 'maxLoss', legs);
          assert.ok(/iron(Condor|Butterfly)/.test(v.read().strategy ?? ''), v.read().strategy ?? 'none');
          const before = opened(v);
          const free = v.free();
          const fund = v.e.insuranceFund('USDT');
          const s = walkToExpiry(v, path);
          checkSettled(v, before, maxLoss, s, free, fund);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    },
  );

  const typeArb = fc.constantFrom<OptionType>('C', 'P');
  /** A defined-risk strategy over the chain: a vertical (either side), an iron condor/butterfly, a butterfly. */
  const definedRiskArb: fc.Arbitrary<LegSpec[]> = fc.oneof(
    fc
      .record({
        k: fc.uniqueArray(fc.integer({ min: 0, max: STRIKES.length - 1 }), { minLength: 2, maxLength: 2 }),
        t: typeArb,
        credit: fc.boolean(),
        lots: lotsArb,
      })
      .map(({ k, t, credit, lots }) => {
        const [a, b] = k.map((i) => STRIKES[i]!) as [number, number];
        const s = sizeOf(lots);
        // Credit: buy a, sell b; debit: the reverse. The long leg first.
        return [leg('buy', credit ? a : b, t, s), leg('sell', credit ? b : a, t, s)];
      }),
    fc.record({ k: condorArb, lots: lotsArb, credit: fc.boolean() }).map(({ k, lots, credit }) => {
      const s = sizeOf(lots);
      const wing = credit ? 'buy' : 'sell';
      const body = credit ? 'sell' : 'buy';
      return [
        leg(wing, k[0]!, 'P', s),
        leg(wing, k[3]!, 'C', s),
        leg(body, k[1]!, 'P', s),
        leg(body, k[2]!, 'C', s),
      ];
    }),
    fc
      .record({
        k: fc.uniqueArray(fc.integer({ min: 0, max: STRIKES.length - 1 }), { minLength: 3, maxLength: 3 }),
        t: typeArb,
        long: fc.boolean(),
        lots: fc.integer({ min: 1, max: 150 }),
      })
      .map(({ k, t, long, lots }) => {
        const [a, b, c] = [...k].sort((x, y) => x - y).map((i) => STRIKES[i]!) as [number, number, number];
        const wing = long ? 'buy' : 'sell';
        const body = long ? 'sell' : 'buy';
        const legs = [
          leg(wing, a, t, sizeOf(lots)),
          leg(wing, c, t, sizeOf(lots)),
          leg(body, b, t, sizeOf(2 * lots)),
        ];
        // Longs first: the silo never needs more than it holds on the way in.
        return legs.sort((x, y) => (x.side === y.side ? 0 : x.side === 'buy' ? -1 : 1));
      }),
  );

  test(
    'a defined-risk silo whose collateral covers its max loss is never liquidated (verticals, condors, butterflies; maxLoss, strategy and scenario models)',
    T,
    () => {
      fc.assert(
        fc.property(
          definedRiskArb,
          fc.constantFrom('maxLoss' as const, 'strategy' as const, 'scenario' as const),
          fc.integer({ min: 0, max: 2000 }),
          pathArb,
          (legs, model, extraBp, path) => {
            const v = new Venue();
            const maxLoss = fundWithMaxLoss(v, model, legs);
            // Covers it: exactly, or up to 20% more.
            const cover = maxLoss + (maxLoss * BigInt(extraBp)) / 10_000n;
            v.fundTo(cover);
            const before = opened(v);
            const free = v.free();
            const fund = v.e.insuranceFund('USDT');
            const s = walkToExpiry(v, path);
            checkSettled(v, before, cover, s, free, fund);
          },
        ),
        { numRuns: RUNS, seed: SEED + 1 },
      );
    },
  );
});

// ---------------------------------------------------------------------------------------------------------
// Differential: the engine's trigger against core strategyMargin, step by step

/** A leg as it stood (position fields copied; its market, and so its mark, read live). */
function viewOf(p: Position): PositionView {
  return {
    market: p.market,
    leverage: p.leverage,
    sign: p.sign,
    lots: p.lots,
    entryPrice: p.entryPrice,
    size: p.size,
    mode: p.mode,
    fundingIndex: p.fundingIndex,
  };
}

/** The silo's legs as core's PortfolioLegs, built here from the venue's state (not through the engine's adapter). */
function coreLegs(v: Venue, ps: readonly PositionView[], iv: number): PortfolioLeg[] {
  const spot = v.e.markets.get(PERP)!.mark! * 10n ** 10n;
  const wad = (x: bigint) => x * 10n ** 10n; // prices and USDT at 8 decimals
  return ps.map((p) => {
    const m = p.market;
    const price = valuationPrice(p);
    const l: PortfolioLeg = {
      id: m.symbol,
      underlying: 'BTC',
      kind: m.option ? 'option' : 'perpetual',
      settle: 'linear',
      sign: p.sign > 0 ? 1 : -1,
      size: (BigInt(p.lots) * m.inst.lotSize * WAD) / 10n ** BigInt(m.inst.sizeDp),
      entryPrice: wad(p.entryPrice),
      markPrice: wad(price),
      forward: spot,
      initialMargin: wad(positionInitialMargin(p, price)),
      maintenanceMargin: wad(legMaintenance(v.e.conventions, m, positionInput(p), price)),
    };
    if (m.option) {
      l.type = m.option.type;
      l.strike = m.option.strike;
      l.expiry = m.option.expiry;
      // The feed's IV at the strike: the quote as the jump guard let it through (a jump is scaled back to its band).
      l.iv = m.optionFeed!.ivAt(m.option.strike, spot) ?? BigInt(Math.round(iv * 100)) * 10n ** 16n;
      l.years = yearsFromSeconds(Math.floor((EXPIRY - v.e.lastTime) / 1000));
    }
    return l;
  });
}

type Model = 'maxLoss' | 'strategy' | 'scenario';

/**
 * Core's verdict on a silo of `legs` (as they stood) over `bucket`, at the marks now: its equity, with each leg's PnL
 * to the wei (the models' own measure), below core's maintenance.
 */
function coreSaysLiquidatable(
  v: Venue,
  model: Model,
  legs: readonly PositionView[],
  bucket: bigint,
  iv: number,
) {
  if (legs.length === 0) return false;
  const wadLegs = coreLegs(v, legs, iv);
  let equity = bucket * 10n ** 10n;
  for (const l of wadLegs) equity += floorDiv(BigInt(l.sign) * l.size * (l.markPrice - l.entryPrice), WAD);
  return equity < strategyMargin(model, wadLegs, v.e.strategyMargin).maintenanceMargin;
}

/** Random legs: 1–4 options of the chain (either side), maybe the perpetual; longs first. */
const legsArb = fc
  .record({
    options: fc.uniqueArray(
      fc.record({
        k: fc.integer({ min: 0, max: STRIKES.length - 1 }),
        t: fc.constantFrom<OptionType>('C', 'P'),
        side: fc.constantFrom('buy' as const, 'sell' as const),
        lots: lotsArb,
      }),
      { minLength: 1, maxLength: 4, selector: (o) => `${o.k}${o.t}` },
    ),
    perp: fc.option(
      fc.record({
        side: fc.constantFrom('buy' as const, 'sell' as const),
        lots: fc.integer({ min: 1, max: 3000 }),
      }),
      { nil: undefined },
    ),
  })
  .map(({ options, perp }) => {
    const legs = options.map((o) => leg(o.side, STRIKES[o.k]!, o.t, sizeOf(o.lots)));
    if (perp) legs.push({ symbol: PERP, side: perp.side, size: (perp.lots / 1000).toFixed(3) });
    return legs.sort((x, y) => (x.side === y.side ? 0 : x.side === 'buy' ? -1 : 1));
  });

const moveArb = fc.record({
  move: fc.integer({ min: -40, max: 40 }).map((n) => n / 1000),
  vol: fc.boolean(),
  iv: fc.integer({ min: 20, max: 150 }),
});

describe('strategy silos: the engine against core strategyMargin', T, () => {
  test(
    'the engine liquidates at the first mark at which core strategyMargin says the silo is liquidatable (random legs, models, paths)',
    T,
    () => {
      let liquidated = 0;
      fc.assert(
        fc.property(
          legsArb,
          fc.constantFrom<Model>('maxLoss', 'strategy', 'scenario'),
          fc.integer({ min: 1, max: 60 }),
          fc.array(moveArb, { minLength: 10, maxLength: 40 }),
          (legs, model, coverPct, path) => {
            const v = new Venue();
            v.createSilo(model, '500000');
            v.open(legs);
            // Collateral: the initial margin plus 1–60% of it.
            const im = v.read().initialMargin;
            v.fundTo(im + (im * BigInt(coverPct)) / 100n);
            let iv = 0.6;
            let spot = 100_000;
            /** One command: the engine starts liquidating Alice's silo in it exactly when core says it is due. */
            const step = (
              cmd: () => { events: readonly { type: string; account?: string }[] },
              nextIv: number,
            ) => {
              const silo = v.silo();
              const before = siloLegs(silo).map(viewOf);
              const bucket = silo.bucket.balance;
              const r = cmd();
              iv = nextIv;
              const started = r.events.some(
                (ev) => ev.type === 'liquidationStarted' && ev.account === 'alice',
              );
              assert.equal(
                started,
                coreSaysLiquidatable(v, model, before, bucket, iv),
                `at spot ${spot}, iv ${iv}`,
              );
              return started;
            };
            for (const s of path) {
              if (s.vol) {
                const q = s.iv / 100;
                const quote = () =>
                  v.ok(
                    {
                      type: 'volQuote',
                      underlying: PERP,
                      expiry: EXPIRY,
                      smile: { kind: 'strikes', ivs: { '100000': String(q) } },
                    },
                    1_000,
                  );
                if (step(quote, q)) break;
              }
              spot = nextSpot(spot, s.move);
              if (step(() => v.spot(String(spot)), iv)) break;
            }
            if (v.read().legs.length === 0) liquidated++;
          },
        ),
        { numRuns: RUNS * 3, seed: SEED + 2 },
      );
      // Worth its runs only if some of them reach liquidation.
      assert.ok(liquidated > 0, 'no run reached liquidation');
    },
  );
});

describe(
  'strategy silos: an order that does not raise the requirement is never refused for margin',
  T,
  () => {
    test(
      'random silos moved by random marks: every refusal of a close (INSUFFICIENT_MARGIN, CLOSE_RAISES_REQUIREMENT) is of one that raises the initial margin',
      T,
      () => {
        let refused = 0;
        fc.assert(
          fc.property(
            legsArb,
            fc.constantFrom<Model>('maxLoss', 'strategy', 'scenario'),
            fc.array(
              fc.record({
                move: fc.integer({ min: -60, max: 60 }),
                leg: fc.nat(),
                part: fc.integer({ min: 1, max: 100 }),
              }),
              { minLength: 3, maxLength: 10 },
            ),
            (legs, model, steps) => {
              const v = new Venue();
              v.createSilo(model, '500000');
              v.open(legs);
              v.fundTo(v.read().initialMargin);
              let spot = 100_000;
              for (const s of steps) {
                spot = nextSpot(spot, s.move / 1000);
                v.spot(String(spot));
                const open = siloLegs(v.silo());
                if (open.length === 0) return;
                const p = open[s.leg % open.length]!;
                const lots = Math.max(1, Math.floor((p.lots * s.part) / 100));
                const side = p.sign > 0 ? ('sell' as const) : ('buy' as const);
                const price = v.quote(p.market.symbol, side);
                const before = siloFigures(v.e, v.silo()).initialMargin;
                const ticks = Number(
                  parseDecimal(price, 'p', { dp: p.market.inst.priceDp }) / p.market.inst.tickSize,
                );
                const after = siloFiguresOver(
                  v.e,
                  v.silo(),
                  legsWith(
                    v.silo(),
                    viewAfterFill(p, side === 'buy' ? 1 : -1, lots, 0, p.market.price(ticks)),
                  ),
                ).initialMargin;
                const r = v.take({
                  symbol: p.market.symbol,
                  side,
                  size: formatDecimal(p.market.size(lots), p.market.inst.sizeDp),
                });
                if (!r.ok && (r.code === 'INSUFFICIENT_MARGIN' || r.code === 'CLOSE_RAISES_REQUIREMENT')) {
                  refused++;
                  assert.ok(
                    after > before,
                    `${r.code} for a close that does not raise the requirement: ${r.message}`,
                  );
                } else assert.ok(r.ok, r.ok ? '' : `${r.code} ${r.message}`);
              }
            },
          ),
          { numRuns: RUNS * 2, seed: SEED + 3 },
        );
        console.log(`# closes refused as raising the requirement: ${refused}`);
      },
    );
  },
);
