/**
 * firstReached: the first point at which a monotone gap reaches zero, exactly as bisection over the whole range
 * finds it — on random monotone gaps (lines with unit rounding, step brackets, flat stretches, curves), in both
 * directions — and in few evaluations where the gap is close to linear (a margin trigger's case).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { firstReached } from '../../src/core/search.ts';

/** Plain bisection over [safe, bad]: the reference. */
function bisect(safe: bigint, bad: bigint, gap: (p: bigint) => bigint): bigint {
  const long = safe > bad;
  let s = safe;
  let b = bad;
  while (long ? s - b > 1n : b - s > 1n) {
    const mid = (s + b) / 2n;
    if (gap(mid) >= 0n) b = mid;
    else s = mid;
  }
  return b;
}

/**
 * A gap non-decreasing away from `start` (distance d ≥ 0): slope·d, plus `bracket` more per `stepEvery` of
 * distance (tiered rates), plus curve·d²/scale, rounded down to `unit`, less `share`.
 */
interface Shape {
  slope: bigint;
  bracket: bigint;
  stepEvery: bigint;
  curve: bigint;
  unit: bigint;
  share: bigint;
}
const shapeArb = fc.record({
  slope: fc.bigInt(0n, 10_000n),
  bracket: fc.bigInt(0n, 50_000n),
  stepEvery: fc.bigInt(1n, 2_000_000n),
  curve: fc.bigInt(0n, 5n),
  unit: fc.bigInt(1n, 1_000n),
  share: fc.bigInt(1n, 10n ** 12n),
});
function gapOf(start: bigint, dir: bigint, s: Shape): (p: bigint) => bigint {
  return (p) => {
    const d = (p - start) * dir;
    const raw = s.slope * d + s.bracket * (d / s.stepEvery) + (s.curve * d * d) / 1_000_000n;
    return (raw / s.unit) * s.unit - s.share;
  };
}

describe('firstReached', () => {
  test('equals bisection over the whole range on random monotone gaps, walking up (a short) or down (a long)', () => {
    let searched = 0;
    fc.assert(
      fc.property(fc.bigInt(2n, 10n ** 8n), fc.boolean(), shapeArb, (start, long, shape) => {
        const dir = long ? -1n : 1n;
        const bad = long ? 1n : 2n ** 47n;
        const gap = gapOf(start, dir, shape);
        if (gap(start) >= 0n || gap(bad) < 0n) return; // due now, or never: the caller returns before searching
        searched++;
        assert.equal(firstReached(start, bad, gap), bisect(start, bad, gap));
      }),
      { numRuns: 3_000 },
    );
    assert.ok(searched > 1_500, `${searched} of 3,000 cases searched`);
  });

  test('a bracket of one or two points, and a gap that passes at the first step', () => {
    const gap = (p: bigint) => p - 10n;
    assert.equal(firstReached(9n, 10n, gap), 10n);
    assert.equal(firstReached(9n, 11n, gap), 10n);
    assert.equal(
      firstReached(11n, 9n, (p) => 10n - p),
      10n,
    );
    assert.equal(
      firstReached(100n, 1_000n, (p) => p - 101n),
      101n,
    );
  });

  test('a near-linear gap (a long 1 BTC at 60,000 in ticks of 0.1, a 3,000 share): about ten evaluations, not twenty', () => {
    let calls = 0;
    const start = 600_000n;
    const gap = (p: bigint) => {
      calls++;
      const d = start - p; // ticks below the start
      const loss = d * 10n; // 0.1 USDT a tick, in cents
      const mmMove = (d * 5n) / 1_000n; // 0.5% of the value moved
      return loss + mmMove + 4n - 300_000n;
    };
    const got = firstReached(start, 1n, gap);
    const ours = calls;
    calls = 0;
    assert.equal(got, bisect(start, 1n, gap));
    assert.ok(ours <= 10, `${ours} evaluations`);
    assert.ok(calls >= 19, `bisection: ${calls}`);
  });
});
