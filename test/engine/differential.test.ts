/**
 * Issue 14, "Also": an independent differential test of liquidation triggers (method in ./differential-kit.ts).
 * Random positions on every preset market, stepped toward liquidation; the engine's first liquidation tick must be
 * the first tick `calc` calls liquidatable, and the price `positionsOf` shows the tick before it, with nothing
 * liquidatable on its safe side.
 *
 * Presets covered: every market of every preset in src/core/presets.ts (PRESETS, read at run time, so a preset added
 * later is covered too) — linear and inverse, bracket tables with derived deductions (Binance, Bybit, Hyperliquid,
 * OKX, …), step risk limits (ringfence's BTCUSD, Bybit inverse, BitMEX), size-scaled rates (Deribit) and dYdX's
 * fractions; sizes from one lot (one settle unit spanning many ticks) to past the last bracket cap, and positions
 * placed at bracket boundaries. How: each case is a fresh `Engine` constructed with the preset's own conventions
 * (for cross cases, the preset's cross conventions where it has them: what calc applies in that mode) and that
 * preset's market, compared with `calc` asked with the same preset — like with like; no case compares the engine's
 * default conventions with another venue's calc.
 *
 * Seeded (src/sim/rng.ts), well under 30 s. A larger run: `npm run bench -- liquidation-differential`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tierJumps } from '../../src/core/margin.ts';
import { venue } from '../../src/core/presets.ts';
import { Rng } from '../../src/sim/rng.ts';
import { presetMarkets, runCase } from './differential-kit.ts';

const SEED = Number(process.env.RINGFENCE_DIFF_SEED ?? 14);
const CASES = Number(process.env.RINGFENCE_DIFF_CASES ?? 100);
/** Markets whose maintenance jumps at bracket boundaries get more cases: that is where D1 hid. */
const STEP_CASES = Number(process.env.RINGFENCE_DIFF_STEP_CASES ?? 1000);

describe('differential: the engine liquidates at the first tick calc calls liquidatable, on every preset', () => {
  const markets = presetMarkets();
  let total = 0;
  let banded = 0;
  let dips = 0;
  markets.forEach(({ venue: v, symbol }, mi) => {
    test(`${v} ${symbol}`, { timeout: 60_000 }, () => {
      const inst = venue(v).markets.get(symbol)!;
      const n = tierJumps(inst) !== 0 ? STEP_CASES : CASES;
      for (let i = 0; i < n; i++) {
        const o = runCase(Rng.forItem(SEED, mi + 1, i), v, symbol);
        if (o.skipped) continue;
        total++;
        if (o.banded) banded++;
        if (o.dip) dips++;
      }
    });
  });
  test('the run reached the cases it is for', () => {
    // Whole-unit rounding decided the first tick somewhere, and a step bracket failed a position on its favourable
    // side somewhere: otherwise the generator has drifted away from what the test is for.
    assert.ok(total > markets.length * CASES * 0.9, `only ${total} cases ran`);
    assert.ok(banded > 0, 'no case where whole-unit rounding decided the first failing tick');
    assert.ok(dips > 0, 'no case failing on the favourable side of a step bracket');
  });
});
