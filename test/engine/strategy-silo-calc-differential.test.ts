/**
 * Differential: a strategy silo in the engine against the same silo in `calc` (issue 18), seeded.
 *
 * One case = the strategy-silo venue (strategy-silos-kit.ts: the BTCUSDT perpetual, whose mark is the options'
 * forward, a linear BTC chain, no fees) with Alice holding one random strategy in a named silo under `maxLoss`,
 * `strategy` or `scenario`: a vertical (call or put, credit or debit), an iron condor (credit or debit), a strangle
 * (short or long) or a covered call (a short call and a long perpetual of the same size), 0.01 to 3 BTC a leg, funded
 * with its initial margin plus 0–25%. Then, hours apart, the vol is requoted (±40%) and a second later the spot moves
 * (±10%). After every command the silo is written as a `calc` scenario — each leg with its entry price as the engine
 * recorded it, the engine's mark as `markPrice`, the expiry's forward as `underlyingPrice`, the vol feed's IV at the
 * strike as `iv`, the perpetual's leverage; the same valuation time (every command lands on a whole second, so calc's
 * time to expiry is the engine's); collateral = the silo's bucket — and the engine's initial and maintenance margin,
 * equity, max loss and strategy must equal calc's silo JSON to the unit (the silo read's too, while it stands), and
 * the engine must start liquidating the silo in exactly the command after which calc says it is liquidatable (the
 * legs and bucket as they stood, at the new marks): the guide's invariant "the engine liquidates at the first mark at
 * which calc says the box is liquidatable", for strategy silos.
 *
 * No tolerance: both sides hand core `strategyMargin` the same legs and round its WAD figures the same way.
 * - Sizes are exact in WAD, prices have 8 decimals, and each leg's PnL is exact in WAD on this grid (lots of 0.01 ×
 *   prices at 8 decimals); both turn a WAD requirement into settle units against the PnL the silo's equity shows
 *   (each leg's rounded down): shown PnL + ⌈requirement − exact PnL⌉ (calc `settleRequirement`, the engine's
 *   rounding slack), so `equity < maintenance` is the exact test on both.
 * - Each leg's own requirement (a short's venue rule, a long's premium) is in settle units, rounded up: the engine's
 *   per-leg figures are, and calc rounds its WAD figure up to the settle unit before the models see it. (It used to
 *   hand them the WAD figure: a long strangle under `maxLoss`, where the legs' own sum binds, read one unit apart.)
 * - The `scenario` model reprices options at shocked vols from their IV. calc used to imply the IV from the mark,
 *   which does not give back the feed's: the mark is rounded to 8 decimals (for a far out-of-the-money leg a rounding
 *   over a tiny vega, then repriced near the money: tens of units), and it is as old as the last re-mark (a vol quote
 *   or a move of the forward), while the model prices at the command's time. calc now takes `iv` with `markPrice`.
 * - The vol feed is requoted before every move: a feed older than its staleness limit or jumping beyond its guard
 *   pauses liquidation, a venue state calc has no notion of (asserted valid at every check).
 *
 * Seeds and runs: STRATEGY_CALC_DIFF_SEED, STRATEGY_CALC_DIFF_RUNS.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatDecimal } from '../../src/core/fixed.ts';
import { LEVERAGE_DP } from '../../src/core/rates.ts';
import { calc, type SiloResult } from '../../src/core/scenario.ts';
import type { Position, PositionView } from '../../src/engine/account.ts';
import { siloLegs } from '../../src/engine/risk.ts';
import { siloFiguresOver } from '../../src/engine/silos.ts';
import { settleUnits } from '../../src/engine/strategy-silos.ts';
import type { EngineEvent } from '../../src/engine/types.ts';
import {
  EXPIRY,
  fmt,
  type LegSpec,
  leg,
  type OptionType,
  PERP,
  STRIKES,
  usdt,
  Venue,
  WINDOW_MS,
} from './strategy-silos-kit.ts';

const SEED = Number(process.env.STRATEGY_CALC_DIFF_SEED ?? 20261221);
const RUNS = Number(process.env.STRATEGY_CALC_DIFF_RUNS ?? 40);
const T = { timeout: 600_000 };

type Model = 'maxLoss' | 'strategy' | 'scenario';

// ---------------------------------------------------------------------------------------------------------
// Strategies

const lotsArb = fc.integer({ min: 1, max: 300 });
const sizeOf = (lots: number) => (lots / 100).toFixed(2);
/** Distinct strike indexes, ascending. */
const strikesArb = (n: number) =>
  fc
    .uniqueArray(fc.integer({ min: 0, max: STRIKES.length - 1 }), { minLength: n, maxLength: n })
    .map((ix) => [...ix].sort((a, b) => a - b).map((i) => STRIKES[i]!));

/** Longs first, so the silo never needs more than it holds on the way in. */
const longsFirst = (legs: LegSpec[]) =>
  legs.sort((x, y) => (x.side === y.side ? 0 : x.side === 'buy' ? -1 : 1));

const verticalArb = fc
  .record({ k: strikesArb(2), t: fc.constantFrom<OptionType>('C', 'P'), credit: fc.boolean(), lots: lotsArb })
  .map(({ k, t, credit, lots }) => {
    const [lo, hi] = k as [number, number];
    // A credit spread sells the strike nearer the money: the lower call, the higher put.
    const sold = (t === 'C') === credit ? lo : hi;
    const bought = sold === lo ? hi : lo;
    return {
      name: `${credit ? 'credit' : 'debit'} ${t} vertical`,
      legs: [leg('buy', bought, t, sizeOf(lots)), leg('sell', sold, t, sizeOf(lots))],
    };
  });

const condorArb = fc
  .record({ k: strikesArb(4), credit: fc.boolean(), lots: lotsArb })
  .map(({ k, credit, lots }) => {
    const s = sizeOf(lots);
    const wing = credit ? 'buy' : 'sell';
    const body = credit ? 'sell' : 'buy';
    return {
      name: `${credit ? 'credit' : 'debit'} iron condor`,
      legs: longsFirst([
        leg(wing, k[0]!, 'P', s),
        leg(wing, k[3]!, 'C', s),
        leg(body, k[1]!, 'P', s),
        leg(body, k[2]!, 'C', s),
      ]),
    };
  });

const strangleArb = fc
  .record({ k: strikesArb(2), short: fc.boolean(), lots: lotsArb })
  .map(({ k, short, lots }) => {
    const side = short ? 'sell' : 'buy';
    return {
      name: `${short ? 'short' : 'long'} strangle`,
      legs: [leg(side, k[0]!, 'P', sizeOf(lots)), leg(side, k[1]!, 'C', sizeOf(lots))],
    };
  });

const coveredCallArb = fc
  .record({ k: fc.integer({ min: 0, max: STRIKES.length - 1 }), lots: lotsArb })
  .map(({ k, lots }) => ({
    name: 'covered call',
    legs: [
      { symbol: PERP, side: 'buy' as const, size: sizeOf(lots) },
      leg('sell', STRIKES[k]!, 'C', sizeOf(lots)),
    ],
  }));

const strategyArb = fc.oneof(verticalArb, condorArb, strangleArb, coveredCallArb);

/**
 * One step: hours later the flat IV moves by `vol` (a fraction of it, within the feed's jump guard of 50%: a larger
 * jump pauses liquidations), then the spot by `move`.
 */
const stepArb = fc.record({
  hours: fc.integer({ min: 1, max: 14 }),
  move: fc.integer({ min: -100, max: 100 }).map((n) => n / 1000),
  vol: fc.integer({ min: -40, max: 40 }).map((n) => n / 100),
});

// ---------------------------------------------------------------------------------------------------------
// The silo as a calc scenario

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** A leg of the silo as calc takes it: entry as the engine recorded it, the engine's mark and forward. */
function calcLeg(p: PositionView): Record<string, unknown> {
  const m = p.market;
  const price = (x: bigint) => formatDecimal(x, m.inst.priceDp);
  const common = {
    side: p.sign > 0 ? 'long' : 'short',
    size: formatDecimal(p.size, m.inst.sizeDp),
    entryPrice: price(p.entryPrice),
    markPrice: price(m.mark!),
  };
  const t = m.option;
  if (t === null) return { symbol: m.symbol, ...common, leverage: formatDecimal(p.leverage, LEVERAGE_DP) };
  const feed = m.optionFeed!;
  return {
    kind: 'option',
    underlying: m.config.base,
    settle: t.settle,
    type: t.type,
    strike: formatDecimal(t.strike, 18),
    expiry: iso(t.expiry),
    ...common,
    underlyingPrice: formatDecimal(feed.forward!, 18),
    // The IV the engine's scenario model reprices at: the feed's at the strike (see the module comment).
    iv: formatDecimal(feed.ivAt(t.strike, feed.forward!)!, 18),
  };
}

function calcSilo(v: Venue, model: Model, legs: readonly PositionView[], bucket: bigint): SiloResult {
  assert.equal(v.now % 1000, 0, 'the valuation time is a whole second');
  const out = calc({
    venue: 'ringfence',
    valuationTime: iso(v.now),
    silos: [{ id: 'box', riskModel: model, collateral: fmt(bucket), legs: legs.map(calcLeg) }],
  });
  return out.silos![0]!;
}

/** The engine's side, in calc's terms (settle units). */
interface Figures {
  initialMargin: bigint;
  maintenanceMargin: bigint;
  equity: bigint;
  maxLoss: bigint | null;
  strategy: string | null;
}

function calcFigures(s: SiloResult): Figures & { liquidatable: boolean } {
  return {
    initialMargin: usdt(s.initialMargin),
    maintenanceMargin: usdt(s.maintenanceMargin),
    equity: usdt(s.equity),
    maxLoss: s.maxLoss === null ? null : usdt(s.maxLoss),
    strategy: s.strategy,
    liquidatable: s.liquidatable,
  };
}

/** A leg as it stood (its market, and so its mark, read live). */
function viewOf(p: Position): PositionView {
  const { market, leverage, sign, lots, entryPrice, size, mode, fundingIndex } = p;
  return { market, leverage, sign, lots, entryPrice, size, mode, fundingIndex };
}

/** The engine's figures of `legs` over `bucket` at the marks now (the silo's own when they are its legs). */
function engineFigures(v: Venue, legs: readonly PositionView[], bucket: bigint): Figures {
  const silo = v.silo();
  const f = siloFiguresOver(v.e, silo, legs, bucket - silo.bucket.balance);
  const r = f.strategy!;
  const named = r.strategies.filter((s) => s.type !== 'naked').map((s) => s.type);
  return {
    initialMargin: f.initialMargin,
    maintenanceMargin: f.maintenanceMargin,
    equity: f.equity,
    maxLoss: settleUnits(v.e, silo, r.maxLoss),
    strategy: named.length === 0 ? null : named.join(' + '),
  };
}

// ---------------------------------------------------------------------------------------------------------

/** Dt from now to the first whole second at least `ms` away. */
const onSecond = (v: Venue, ms: number) => ms + ((1000 - ((v.now + ms) % 1000)) % 1000);

describe('strategy silos: the engine against calc', T, () => {
  test(
    'random verticals, condors, strangles and covered calls under maxLoss, strategy and scenario: the silo read equals calc’s silo at every mark, and the engine liquidates exactly when calc says the box is liquidatable',
    T,
    () => {
      let compared = 0;
      let liquidated = 0;
      fc.assert(
        fc.property(
          strategyArb,
          fc.constantFrom<Model>('maxLoss', 'strategy', 'scenario'),
          fc.integer({ min: 0, max: 25 }),
          fc.array(stepArb, { minLength: 2, maxLength: 8 }),
          (strategy, model, coverPct, path) => {
            const v = new Venue();
            v.createSilo(model, '500000');
            v.open(strategy.legs);
            const im = v.read().initialMargin;
            v.fundTo(im + (im * BigInt(coverPct)) / 100n);
            let spot = 100_000;
            const where = () => `${strategy.name} (${model}), spot ${spot}, ${iso(v.now)}`;

            /** One command; then the engine's silo against calc's, or its liquidation against calc's verdict. */
            const check = (cmd: () => { events: readonly EngineEvent[] }): boolean => {
              const silo = v.silo();
              const before = siloLegs(silo).map(viewOf);
              const bucket = silo.bucket.balance;
              const r = cmd();
              const started = r.events.some(
                (ev) => ev.type === 'liquidationStarted' && ev.account === 'alice',
              );
              if (started) liquidated++;
              const feed = v.e.markets.get(strategy.legs.find((l) => l.symbol !== PERP)!.symbol)!.optionFeed!;
              assert.equal(feed.validityAt(v.now), 'valid', `${where()}: the vol feed is valid`);
              const c = calcFigures(calcSilo(v, model, before, bucket));
              const e = engineFigures(v, before, bucket);
              compared++;
              const { liquidatable, ...figures } = c;
              assert.deepEqual(
                { ...e, liquidatable: e.equity < e.maintenanceMargin },
                { ...figures, liquidatable },
                `${where()}: engine vs calc`,
              );
              assert.equal(
                started,
                liquidatable,
                `${where()}: the engine liquidates exactly when calc says so`,
              );
              if (!started) {
                const read = v.read();
                assert.deepEqual(
                  [read.initialMargin, read.maintenanceMargin, read.equity, read.maxLoss, read.strategy],
                  [e.initialMargin, e.maintenanceMargin, e.equity, e.maxLoss, e.strategy],
                  `${where()}: the silo read`,
                );
              }
              return started;
            };

            // The opening state, valued on a whole second (a requote at the same vol).
            let iv = 0.6;
            if (check(() => v.ok(volQuote(String(iv)), onSecond(v, 1000)))) return;
            const last = EXPIRY - WINDOW_MS - 60_000;
            for (const s of path) {
              if (v.now + s.hours * 3_600_000 + 2000 > last) break;
              // Hours later the vol is requoted (a feed older than its staleness limit, 60 s, pauses liquidations —
              // a venue state calc has no notion of), then the spot moves a second later.
              iv = Math.min(2, Math.max(0.15, Math.round(iv * (1 + s.vol) * 100) / 100));
              const quote = volQuote(String(iv));
              if (check(() => v.ok(quote, onSecond(v, s.hours * 3_600_000)))) break;
              spot = Math.round(Math.min(300_000, Math.max(30_000, spot * (1 + s.move))) * 10) / 10;
              if (check(() => v.spot(String(spot), 1000))) break;
            }
          },
        ),
        { numRuns: RUNS, seed: SEED },
      );
      assert.ok(compared > RUNS, `compared ${compared}`);
      assert.ok(liquidated > 0, 'no run reached liquidation');
    },
  );
});

function volQuote(iv: string) {
  return {
    type: 'volQuote' as const,
    underlying: PERP,
    expiry: EXPIRY,
    smile: { kind: 'strikes' as const, ivs: { '100000': iv } },
  };
}
