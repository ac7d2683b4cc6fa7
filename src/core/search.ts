/**
 * The first integer point at which a monotone test passes, as bisection finds it, in fewer evaluations when the
 * test is a threshold on a quantity close to linear in the point — what a margin trigger is: a position's loss,
 * and how far its maintenance moves, grow about linearly with the price's distance (bracket steps and unit rounding
 * bend the line only a little).
 *
 * Bisection over the whole range costs one evaluation per bit of the range — 20 for a long position's ticks down
 * to zero, 47 for a short's up to MAX_PRICE_TICKS — whatever the answer. Here a secant through the start and one
 * probe estimates the answer, a gallop outward from the estimate brackets it, and bisection finishes inside that
 * bracket: about ten evaluations when the quantity is near linear. Every probe only narrows a bracket whose safe
 * end fails and whose bad end passes, so the answer is bisection's exactly, linear or not (a test that is not
 * monotone has no "first" point; neither search promises anything then).
 */

/**
 * The point between `safe` (exclusive) and `bad` (inclusive) nearest `safe` at which `gap` ≥ 0, given `gap(safe)`
 * < 0, `gap(bad)` ≥ 0 and `gap` non-decreasing from `safe` toward `bad`. `safe` may be above or below `bad`.
 */
export function firstReached(
  safe: bigint,
  bad: bigint,
  gap: (point: bigint) => bigint,
  /** gap(safe), when the caller has it already (one evaluation fewer). */
  gapAtSafe: bigint = gap(safe),
): bigint {
  const dir = bad > safe ? 1n : -1n;
  const dist = (p: bigint) => (p - safe) * dir;
  const at = (d: bigint) => safe + d * dir;
  let lo = 0n; // distance from `safe` known to fail
  let hi = dist(bad); // distance known to pass
  if (hi <= 1n) return bad;
  const g0 = gapAtSafe;
  // 1. A probe a short way out (1/64 of the start, as a price: about 1.5%), for the secant's slope.
  let h = (safe < 0n ? -safe : safe) / 64n;
  if (h < 1n) h = 1n;
  if (h >= hi) h = hi - 1n;
  const g1 = gap(at(h));
  if (g1 >= 0n) hi = h;
  else lo = h;
  // 2. The secant's estimate of where gap reaches 0, kept strictly inside the bracket.
  let est = g1 > g0 ? ceilDivPos(-g0 * h, g1 - g0) : hi;
  if (est <= lo) est = lo + 1n;
  if (est >= hi) est = hi - 1n;
  // 3. A gallop from the estimate toward whichever end it is wrong about, doubling the step.
  if (est > lo && est < hi) {
    if (gap(at(est)) >= 0n) {
      hi = est;
      for (let w = 1n; hi - lo > 1n; w *= 2n) {
        const p = hi - w > lo ? hi - w : lo + 1n;
        if (p >= hi) break;
        if (gap(at(p)) >= 0n) hi = p;
        else {
          lo = p;
          break;
        }
      }
    } else {
      lo = est;
      for (let w = 1n; hi - lo > 1n; w *= 2n) {
        const p = lo + w < hi ? lo + w : hi - 1n;
        if (p <= lo) break;
        if (gap(at(p)) >= 0n) {
          hi = p;
          break;
        }
        lo = p;
      }
    }
  }
  // 4. Bisection inside the bracket.
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (gap(at(mid)) >= 0n) hi = mid;
    else lo = mid;
  }
  return at(hi);
}

/** ⌈n / d⌉ for n ≥ 0, d > 0. */
function ceilDivPos(n: bigint, d: bigint): bigint {
  return (n + d - 1n) / d;
}
