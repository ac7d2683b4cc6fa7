/**
 * The options policies' volatility path, derived from the replayed data: the realised volatility of the underlying's
 * 1-minute log returns over a trailing window, annualised, marked up by a variance premium (implied vol trades above
 * realised on average, which is what an option writer is paid for), floored and capped; sampled every few minutes and
 * quoted to the engine as a simple smile (`volQuote` with IVs per strike).
 *
 * Floats appear only here, while deriving inputs: every IV leaves as a decimal string of 4 places, so the engine
 * sees the same quotes on every run of the same data.
 */

const MINUTE = 60_000;
const MINUTES_PER_YEAR = 365 * 24 * 60;

export interface VolPathSpec {
  /** Trailing window of 1-minute returns, minutes. */
  windowMinutes: number;
  /** A quote every this many minutes (at the first path point at or after each step from the start). */
  everyMinutes: number;
  /** Realised vol × this = the at-the-money IV. */
  premium: number;
  floor: number;
  cap: number;
  /** Fewest returns a trailing estimate needs; before that the first window of the path stands in. */
  minReturns: number;
}

export const DEFAULT_VOL_PATH: VolPathSpec = {
  windowMinutes: 3 * 24 * 60,
  everyMinutes: 15,
  premium: 1.1,
  floor: 0.2,
  cap: 1.5,
  minReturns: 60,
};

export interface VolPath {
  spec: VolPathSpec;
  /** Path point of each quote, increasing; the first is point 0. */
  points: Int32Array;
  /** At-the-money IV of each quote, rounded to 4 decimals. */
  atm: Float64Array;
}

/**
 * The replayed prices sampled at ≥ 1-minute spacing (so an `ohlc` path's intrabar points do not count as returns),
 * each return scaled to one minute (a gap of d minutes divides its return by √d).
 */
function minuteReturns(times: Float64Array, ticks: Float64Array): { at: Float64Array; r: Float64Array } {
  const at: number[] = [];
  const r: number[] = [];
  let last = 0;
  for (let i = 1; i < ticks.length; i++) {
    const dt = times[i]! - times[last]!;
    if (dt < MINUTE) continue;
    r.push(Math.log(ticks[i]! / ticks[last]!) / Math.sqrt(dt / MINUTE));
    at.push(times[i]!);
    last = i;
  }
  return { at: Float64Array.from(at), r: Float64Array.from(r) };
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** Annualised vol from a sum of squared 1-minute returns (mean taken as zero, as realised vol usually is). */
function annualised(sumSq: number, n: number): number {
  return Math.sqrt((sumSq / n) * MINUTES_PER_YEAR);
}

/** The vol path of one replayed market (its times and prices in ticks); deterministic in its inputs. */
export function deriveVolPath(
  times: Float64Array,
  ticks: Float64Array,
  spec: VolPathSpec = DEFAULT_VOL_PATH,
): VolPath {
  const n = times.length;
  const { at, r } = minuteReturns(times, ticks);
  const windowMs = spec.windowMinutes * MINUTE;
  const iv = (rv: number) => round4(Math.min(spec.cap, Math.max(spec.floor, rv * spec.premium)));
  // Stand-in before enough history: the first window's returns (or all of them, on a shorter path).
  let firstSq = 0;
  let firstN = 0;
  for (let j = 0; j < r.length && at[j]! - times[0]! <= windowMs; j++) {
    firstSq += r[j]! * r[j]!;
    firstN++;
  }
  const fallback = firstN >= 2 ? annualised(firstSq, firstN) : 0;
  const points: number[] = [];
  const atm: number[] = [];
  let head = 0; // next return to enter the window
  let tail = 0; // oldest return in it
  let sumSq = 0;
  let next = times[0]!;
  for (let i = 0; i < n; i++) {
    const t = times[i]!;
    if (t < next) continue;
    while (head < r.length && at[head]! <= t) {
      sumSq += r[head]! * r[head]!;
      head++;
    }
    while (tail < head && at[tail]! <= t - windowMs) {
      sumSq -= r[tail]! * r[tail]!;
      tail++;
    }
    const count = head - tail;
    points.push(i);
    // (A running sum can drift a hair below zero after many subtractions; a variance cannot.)
    atm.push(iv(count >= spec.minReturns ? annualised(Math.max(0, sumSq), count) : fallback));
    next = t + spec.everyMinutes * MINUTE;
    while (next <= t) next += spec.everyMinutes * MINUTE;
  }
  return { spec, points: Int32Array.from(points), atm: Float64Array.from(atm) };
}

/** Index of the quote in force at `point` (the last at or before it). */
export function quoteAt(vol: VolPath, point: number): number {
  let lo = 0;
  let hi = vol.points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (vol.points[mid]! <= point) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Skew and curvature of the smile in log-moneyness m = ln(K / spot): IV(K) = ATM × (1 − SKEW·m + CURVE·m²). */
export const SMILE = { skew: 0.4, curve: 2 } as const;

/** The smile as IVs per strike (the `strikes` form of volQuote), each rounded to 4 decimals. */
export function smileIvs(
  atm: number,
  spot: number,
  strikes: readonly { key: string; value: number }[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of strikes) {
    const m = Math.log(k.value / spot);
    const v = atm * (1 - SMILE.skew * m + SMILE.curve * m * m);
    out[k.key] = Math.max(0.05, round4(v)).toFixed(4);
  }
  return out;
}
