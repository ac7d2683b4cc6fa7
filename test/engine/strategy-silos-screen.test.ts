/**
 * The liquidation re-check of a `scenario` silo skips the grid when the max-loss cap proves the silo safe (issue 18,
 * liquidation.ts `crossState` screen): the scenario figure is never above core `scenarioUpperBound`, so a silo whose
 * equity is clear of that bound is filed as safe without pricing the grid's 35 cells — and every decision (not
 * liquidated, auto-add not reached, legs filed) comes out as on the exact figure. Near the line the grid runs, and the
 * silo is liquidated (or topped up) in exactly the command after which the exact figures say so.
 *
 * Counting grid runs: core reads the scenario parameters once per grid (index.ts `modelFigures`) and nowhere else, so
 * the engine's `strategyMargin` gets a counting getter for them here — no hook in the product's code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RATE_ONE } from '../../src/core/rates.ts';
import type { Position, PositionView } from '../../src/engine/account.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { siloLegs } from '../../src/engine/risk.ts';
import { type SiloFigures, siloFiguresOver } from '../../src/engine/silos.ts';
import type { Command, EngineEvent } from '../../src/engine/types.ts';
import { type Cmd, engineProblems } from './harness.ts';
import { EXPIRY, fmt, leg, PERP, STRATEGIES, usdt, Venue } from './strategy-silos-kit.ts';

const T = { timeout: 120_000 };

/** Counts the scenario grid's runs while armed (see the module comment). Set after any setStrategyMargin. */
class GridSpy {
  runs = 0;
  private armed = false;

  constructor(e: Engine) {
    const real = e.strategyMargin;
    const spy = this;
    e.strategyMargin = {
      unpairedIMScale: real.unpairedIMScale,
      unpairedMMScale: real.unpairedMMScale,
      get scenario() {
        if (spy.armed) spy.runs++;
        return real.scenario;
      },
    };
  }

  /** The grid runs inside `f`. */
  count<R>(f: () => R): { result: R; runs: number } {
    this.runs = 0;
    this.armed = true;
    try {
      return { result: f(), runs: this.runs };
    } finally {
      this.armed = false;
    }
  }
}

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

interface Step {
  events: EngineEvent[];
  /** Grid runs inside the command. */
  runs: number;
  /** The silo's exact figures (grid and all) over its legs and bucket as they stood before the command, at the new
   * marks: what the re-check decided on before the screen. */
  exact: SiloFigures<PositionView>;
}

/** One command, counted, then the exact figures it should have decided on. */
function step(v: Venue, spy: GridSpy, cmd: Cmd, dt = 1_000): Step {
  const silo = v.silo();
  const before = siloLegs(silo).map(viewOf);
  const bucket = silo.bucket.balance;
  v.now += dt;
  const { result: r, runs } = spy.count(() => v.e.apply({ ...cmd, time: v.now } as Command));
  if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
  assert.deepEqual(engineProblems(v.e), [], `after ${cmd.type}`);
  const exact = siloFiguresOver(v.e, silo, before, bucket - silo.bucket.balance, 'requirement');
  return { events: r.events, runs, exact };
}

const spotMove = (price: number): Cmd => ({ type: 'setMarkPrice', symbol: PERP, price: String(price) });
const volQuote = (iv: string): Cmd => ({
  type: 'volQuote',
  underlying: PERP,
  expiry: EXPIRY,
  smile: { kind: 'strikes', ivs: { '100000': iv } },
});
const started = (s: Step) =>
  s.events.some((ev) => ev.type === 'liquidationStarted' && ev.account === 'alice');
const toppedUp = (s: Step) => s.events.some((ev) => ev.type === 'autoAddMargin' && ev.account === 'alice');

/** Spot ±3 % around 100k, a vol requote and a tick between moves. */
const WALK: Cmd[] = [100_500, 101_800, 103_000, 101_000, 99_000, 97_500, 97_000, 98_800, 100_000].flatMap(
  (spot, i) => [spotMove(spot), volQuote(i % 2 === 0 ? '0.55' : '0.7'), { type: 'tick' }],
);

describe('scenario silos: the re-check skips the grid when the max-loss cap proves the silo safe', T, () => {
  test(
    'a short iron condor (90/95/105/110k) holding 40,000 USDT for a ~3,000 max loss: 27 re-marks (spot ±3 %, vol requotes, ticks) run the grid not once; its read still prices it',
    T,
    () => {
      const v = new Venue();
      v.createSilo('scenario', '40000');
      v.open(STRATEGIES.ironCondor);
      const spy = new GridSpy(v.e);
      for (const cmd of WALK) {
        const s = step(v, spy, cmd);
        assert.equal(s.runs, 0, `${cmd.type}: the grid ran`);
        assert.equal(started(s), false);
        assert.ok(s.exact.equity > s.exact.maintenanceMargin);
      }
      const { result: read, runs } = spy.count(() => v.read());
      assert.ok(runs > 0, 'a read prices the grid');
      assert.ok(read.maintenanceMargin > 0n && read.maintenanceMargin <= read.maxLoss!);
      assert.deepEqual(v.liquidations(), []);
    },
  );

  test(
    'a covered call (short 110k call, long 1 BTC perpetual) holding 120,000 USDT: its perpetual leg is re-checked at every perpetual mark, and no check runs the grid',
    T,
    () => {
      const v = new Venue();
      v.createSilo('scenario', '120000');
      v.open([leg('sell', 110_000, 'C'), { symbol: PERP, side: 'buy', size: '1' }]);
      const spy = new GridSpy(v.e);
      for (const cmd of WALK) assert.equal(step(v, spy, cmd).runs, 0, `${cmd.type}: the grid ran`);
      assert.deepEqual(v.liquidations(), []);
    },
  );

  test(
    'a long 100k call under a 2 % price range, funded with its initial margin (2,704.05 < its 3,391.8 premium): the rally to 104k skips the grid; on the way down the grid runs and liquidation starts at 98,000 — exactly the first command after which the exact figures say equity < maintenance',
    T,
    () => {
      const v = new Venue();
      v.ok({ type: 'setStrategyMargin', params: { scenario: { default: { priceRange: '0.02' } } } });
      v.createSilo('scenario', '10000');
      v.open([leg('buy', 100_000, 'C')]);
      const r = v.read();
      assert.equal(fmt(r.initialMargin), '2704.04950677');
      assert.equal(fmt(r.maxLoss!), '3391.8');
      v.fundTo(r.initialMargin);
      const spy = new GridSpy(v.e);
      const path = [101_000, 102_000, 103_000, 104_000, 103_000, 102_000, 101_000, 100_000];
      for (let spot = 99_500; spot >= 90_000; spot -= 500) path.push(spot);
      const skipped: number[] = [];
      let liquidatedAt: number | null = null;
      for (const spot of path) {
        const s = step(v, spy, spotMove(spot));
        const due = s.exact.equity < s.exact.maintenanceMargin;
        assert.equal(started(s), due, `at ${spot}: liquidated ${started(s)}, exact says ${due}`);
        if (s.runs === 0) skipped.push(spot);
        if (due) {
          assert.ok(s.runs > 0, 'a liquidation is decided on the exact figure');
          liquidatedAt = spot;
          break;
        }
      }
      assert.deepEqual(
        skipped,
        [102_000, 103_000, 104_000, 103_000, 102_000],
        'equity clear of the 3,391.8 cap',
      );
      assert.equal(liquidatedAt, 98_000);
      assert.equal(v.read().legs.length, 0, 'liquidated as a whole');
    },
  );

  test(
    'the same long call with auto-add at a 0.9 margin ratio: the screen wants equity clear of the cap / 0.9 (at 101.5k, equity 3,5xx clears the 3,391.8 cap but not 3,768.67: the grid runs); the top-up lands in exactly the command after which the exact figures reach the ratio, never a liquidation; topped up, the silo is clear again',
    T,
    () => {
      const v = new Venue();
      v.ok({ type: 'setStrategyMargin', params: { scenario: { default: { priceRange: '0.02' } } } });
      v.createSilo('scenario', '10000');
      v.open([leg('buy', 100_000, 'C')]);
      v.fundTo(v.read().initialMargin);
      v.ok({ type: 'setAutoAddMargin', account: 'alice', silo: 'box', enabled: true, trigger: '0.9' });
      const trigger = v.silo().autoAdd!.trigger;
      const spy = new GridSpy(v.e);
      const cap = usdt('3391.8');
      const path = [101_500, 102_000, 104_000, 106_000, 104_000, 102_000, 100_000];
      for (let spot = 99_000; spot >= 92_000; spot -= 1_000) path.push(spot);
      const skipped: number[] = [];
      const topUps: number[] = [];
      for (const spot of path) {
        const s = step(v, spy, spotMove(spot));
        const { equity, maintenanceMargin: mm } = s.exact;
        const reached = equity <= 0n || mm * RATE_ONE >= trigger * equity;
        assert.equal(
          toppedUp(s),
          reached,
          `at ${spot}: topped up ${toppedUp(s)}, exact ratio reached ${reached}`,
        );
        assert.equal(started(s), false);
        if (reached) topUps.push(spot);
        if (s.runs === 0) skipped.push(spot);
        if (spot === 101_500) {
          assert.ok(equity > cap && equity * trigger < cap * RATE_ONE, `equity ${fmt(equity)}`);
          assert.ok(s.runs > 0, 'between the cap and the cap / 0.9: the exact figure decides');
        }
      }
      assert.deepEqual(topUps, [98_000]);
      // Before the top-up: clear of cap / 0.9 only on the rally; after it, the bucket covers the cap on the way down.
      assert.deepEqual(
        skipped,
        [102_000, 104_000, 106_000, 104_000, 102_000, 97_000, 96_000, 95_000, 94_000, 93_000, 92_000],
      );
      assert.deepEqual(v.liquidations(), []);
    },
  );
});
