/**
 * The options policies' vol path, derived from the replayed prices: realised vol of 1-minute log returns over a
 * trailing window, annualised, × the variance premium, floored and capped, quoted every few minutes; and the smile
 * quoted from it. Hand-made series whose realised vol is known in closed form.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deriveVolPath, quoteAt, SMILE, smileIvs, type VolPathSpec } from '../../src/sim/options-vol.ts';

const TIMEOUT = { timeout: 30_000 };
const MINUTE = 60_000;
const T0 = Date.UTC(2025, 0, 1);
const PER_YEAR = Math.sqrt(365 * 24 * 60);
/** No premium, no clamps: the estimator itself. */
const RAW: VolPathSpec = {
  windowMinutes: 60,
  everyMinutes: 15,
  premium: 1,
  floor: 0,
  cap: 100,
  minReturns: 10,
};

/** A price series whose 1-minute log returns alternate ±r[i] (so its realised vol is |r| exactly, mean zero). */
function series(returns: readonly number[], perMinute = 1): { times: Float64Array; ticks: Float64Array } {
  const times: number[] = [T0];
  const ticks: number[] = [1_000_000];
  let x = Math.log(1_000_000);
  returns.forEach((r, i) => {
    x += i % 2 === 0 ? r : -r;
    // Intrabar points (an ohlc replay's four a bar) between two minute marks: they must not count as returns.
    for (let k = 1; k < perMinute; k++) {
      times.push(T0 + i * MINUTE + (k * MINUTE) / perMinute);
      ticks.push(Math.round(Math.exp(x) * (1 + 0.01 * k)));
    }
    times.push(T0 + (i + 1) * MINUTE);
    ticks.push(Math.exp(x));
  });
  return { times: Float64Array.from(times), ticks: Float64Array.from(ticks) };
}

const annual = (r: number) => r * PER_YEAR;
const near = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (±${tol})`);

describe('vol path from the data', () => {
  test(
    'a steady 0.1% a minute is ≈ 72.5% a year; quotes every 15 minutes from the first point',
    TIMEOUT,
    () => {
      const { times, ticks } = series(new Array(240).fill(0.001));
      const v = deriveVolPath(times, ticks, RAW);
      assert.deepEqual(Array.from(v.points.slice(0, 4)), [0, 15, 30, 45]);
      assert.equal(v.points.length, 17); // 0, 15, …, 240
      for (const iv of v.atm) near(iv, annual(0.001), 0.002, 'atm');
    },
  );

  test('an ohlc replay: the intrabar points do not count, only ≥ 1-minute spacing', TIMEOUT, () => {
    const plain = series(new Array(120).fill(0.002));
    const ohlc = series(new Array(120).fill(0.002), 4);
    const a = deriveVolPath(plain.times, plain.ticks, RAW);
    const b = deriveVolPath(ohlc.times, ohlc.ticks, RAW);
    assert.deepEqual(Array.from(b.atm), Array.from(a.atm));
    near(b.atm[b.atm.length - 1]!, annual(0.002), 0.003, 'ohlc atm');
  });

  test(
    'calm then stormy: the trailing window rises to the new level within one window, not before',
    TIMEOUT,
    () => {
      const { times, ticks } = series([...new Array(120).fill(0.0005), ...new Array(120).fill(0.002)]);
      const v = deriveVolPath(times, ticks, RAW);
      const at = (minute: number) => v.atm[quoteAt(v, minute)]!;
      near(at(120), annual(0.0005), 0.002, 'before the storm');
      assert.ok(at(150) > annual(0.0005) * 2 && at(150) < annual(0.002), `half a window in: ${at(150)}`);
      near(at(180), annual(0.002), 0.003, 'a window after');
      near(at(240), annual(0.002), 0.003, 'at the end');
    },
  );

  test(
    'before minReturns of history the first window stands in; premium, floor and cap apply',
    TIMEOUT,
    () => {
      const { times, ticks } = series([...new Array(60).fill(0.001), ...new Array(60).fill(0.004)]);
      const v = deriveVolPath(times, ticks, { ...RAW, minReturns: 30, premium: 1.1 });
      near(v.atm[0]!, 1.1 * annual(0.001), 0.002, 'the first quote: the first hour × 1.1');
      const capped = deriveVolPath(times, ticks, { ...RAW, cap: 1 });
      assert.equal(Math.max(...capped.atm), 1);
      const flat = series(new Array(120).fill(0));
      assert.deepEqual(
        new Set(deriveVolPath(flat.times, flat.ticks, { ...RAW, floor: 0.2 }).atm),
        new Set([0.2]),
      );
    },
  );

  test('deterministic: the same series gives the same quotes, 4 decimals each', TIMEOUT, () => {
    const { times, ticks } = series(
      Array.from({ length: 300 }, (_, i) => 0.0005 + ((i * 7919) % 13) / 10_000),
    );
    const a = deriveVolPath(times, ticks);
    const b = deriveVolPath(times, ticks);
    assert.deepEqual(a, b);
    for (const iv of a.atm) assert.equal(Math.round(iv * 1e4) / 1e4, iv);
  });
});

describe('the smile quoted from the ATM vol', () => {
  test(
    'ATM at the spot; puts richer than calls (skew); far calls above ATM again (curvature)',
    TIMEOUT,
    () => {
      const ivs = smileIvs(0.6, 100_000, [
        { key: '90000', value: 90_000 },
        { key: '100000', value: 100_000 },
        { key: '111111', value: 111_111 },
        { key: '130000', value: 130_000 },
      ]);
      assert.equal(ivs['100000'], '0.6000');
      const m = Math.log(0.9);
      assert.equal(ivs['90000'], (0.6 * (1 - SMILE.skew * m + SMILE.curve * m * m)).toFixed(4));
      assert.ok(Number(ivs['90000']) > Number(ivs['111111']), 'puts richer than calls');
      assert.ok(Number(ivs['111111']) < 0.6, 'near the money the skew wins');
      assert.ok(Number(ivs['130000']) > 0.6, 'far out the curvature wins');
    },
  );
});
