/**
 * The price path a simulation replays: a sequence of points (time, one price per market).
 *
 * The first market replays the input bars: each bar's close (`close`), or four points per bar (`ohlc`): open, then
 * the low and the high in the order that makes the bar's body (low first when it closed up), then close, a quarter
 * of the bar apart — so a wick that would liquidate a position does. The other markets are synthetic and seeded:
 * their log-return at each point is β × the replayed market's plus independent normal noise sized for a target
 * correlation, over which one shock of their own is laid (a fall over some minutes, part of it given back).
 *
 * Prices are integer ticks (exact); the synthetic ones are rounded to the tick from floats as they are drawn. Every
 * price must be at least MIN_PRICE_TICKS ticks, so that rounding to the tick cannot distort a move: data below that
 * (a sub-dollar coin on BTCUSDT's 0.1 tick) is refused with a PathError; a synthetic market whose drawn path would
 * fall below it (a long, falling input) is drawn at a power-of-ten larger scale instead, the same returns.
 */
import { div, formatDecimal, parseDecimal } from '../core/fixed.ts';
import { type Bar, PATH_PRICE_DP } from './csv.ts';
import type { SimMarket, SyntheticSpec } from './markets.ts';
import { Rng, STREAM } from './rng.ts';

export type Intrabar = 'close' | 'ohlc';

export interface PathMarket {
  symbol: string;
  /** Tick size at PATH_PRICE_DP. */
  tickSize: bigint;
  /** Price at each point, in ticks (safe integers). */
  ticks: Float64Array;
  synthetic: (SyntheticSpec & { shockStart: number; realizedCorrelation: number }) | null;
}

export interface SimPath {
  /** ms since epoch, non-decreasing. */
  times: Float64Array;
  markets: PathMarket[];
  intrabar: Intrabar;
  /** Bars of the input used. */
  bars: number;
}

const MINUTE = 60_000;
/** Highest synthetic price (the CSV's own limit on a price, 10^12): its ticks stay safe integers. */
const MAX_SYNTHETIC_PRICE = 1e12;

/** The lowest price, in ticks of its market, a path may hold: one tick of rounding is then at most 0.05%. */
export const MIN_PRICE_TICKS = 1_000;

/** The path cannot be built from this input; `bar` is the index of the input bar at fault, if one is. */
export class PathError extends Error {
  constructor(
    readonly bar: number | null,
    message: string,
  ) {
    super(message);
    this.name = 'PathError';
  }
}

export function tickSizeOf(m: SimMarket): bigint {
  return parseDecimal(m.config.tickSize, 'tickSize', { dp: PATH_PRICE_DP, positive: true });
}

/** Builds the path from `bars` (the first market) and the synthetic markets' specs, seeded. */
export function buildPath(
  bars: readonly Bar[],
  markets: readonly SimMarket[],
  intrabar: Intrabar,
  seed: number,
): SimPath {
  if (bars.length === 0) throw new Error('no bars');
  const [first, ...others] = markets;
  if (!first || first.synthetic !== null) throw new Error('the first market replays the data');
  const perBar = intrabar === 'ohlc' ? 4 : 1;
  const n = bars.length * perBar;
  const times = new Float64Array(n);
  const tick0 = tickSizeOf(first);
  checkResolution(bars, perBar === 1 ? (b) => b.close : (b) => b.low, first.config.symbol, tick0);
  const ticks0 = new Float64Array(n);
  const toTicks = (p: bigint) => {
    const t = div(p, tick0, 'halfUp');
    return Number(t < 1n ? 1n : t);
  };
  for (let i = 0; i < bars.length; i++) {
    const b = bars[i]!;
    if (perBar === 1) {
      times[i] = b.time;
      ticks0[i] = toTicks(b.close);
      continue;
    }
    const next = bars[i + 1];
    const span = Math.max(4, Math.min(MINUTE, next ? next.time - b.time : MINUTE));
    const up = b.close >= b.open;
    const seq = [b.open, up ? b.low : b.high, up ? b.high : b.low, b.close];
    for (let k = 0; k < 4; k++) {
      times[i * 4 + k] = b.time + Math.floor((span * k) / 4);
      ticks0[i * 4 + k] = toTicks(seq[k]!);
    }
  }
  const out: PathMarket[] = [
    { symbol: first.config.symbol, tickSize: tick0, ticks: ticks0, synthetic: null },
  ];
  others.forEach((m, j) => {
    out.push(synthetic(m, j, times, ticks0, seed));
  });
  return { times, markets: out, intrabar, bars: bars.length };
}

/** Refuses bars whose lowest replayed price is under MIN_PRICE_TICKS ticks (a PathError naming the bar). */
function checkResolution(
  bars: readonly Bar[],
  price: (b: Bar) => bigint,
  symbol: string,
  tick: bigint,
): void {
  let at = 0;
  for (let i = 1; i < bars.length; i++) if (price(bars[i]!) < price(bars[at]!)) at = i;
  const lowest = price(bars[at]!);
  const floor = BigInt(MIN_PRICE_TICKS) * tick;
  if (lowest >= floor) return;
  let scale = 1n;
  while (lowest * scale < floor) scale *= 10n;
  const dec = (v: bigint) => formatDecimal(v, PATH_PRICE_DP);
  throw new PathError(
    at,
    `lowest price ${dec(lowest)} (at ${new Date(bars[at]!.time).toISOString()}) is under ` +
      `${MIN_PRICE_TICKS.toLocaleString('en-US')} ticks of the replayed market ${symbol} (tick ${dec(tick)}): ` +
      `rounded to the tick its moves would be distorted; give the prices in a unit where they are at least ` +
      `${dec(floor)} (e.g. multiplied by ${scale.toLocaleString('en-US')})`,
  );
}

/** Standard deviation of the replayed market's 1-minute log-returns (per-minute volatility). */
function minuteVolatility(times: Float64Array, ticks: Float64Array): number {
  let sum = 0;
  let sum2 = 0;
  let n = 0;
  for (let i = 1; i < ticks.length; i++) {
    const dtMin = (times[i]! - times[i - 1]!) / MINUTE;
    if (dtMin <= 0) continue;
    const r = Math.log(ticks[i]! / ticks[i - 1]!) / Math.sqrt(dtMin);
    sum += r;
    sum2 += r * r;
    n++;
  }
  if (n < 2) return 0.001;
  const mean = sum / n;
  return Math.sqrt(Math.max(1e-12, sum2 / n - mean * mean));
}

function synthetic(
  m: SimMarket,
  index: number,
  times: Float64Array,
  base: Float64Array,
  seed: number,
): PathMarket {
  const spec = m.synthetic!;
  const rng = Rng.forItem(seed, STREAM.market, index);
  const tick = tickSizeOf(m);
  const tickN = Number(tick) / 10 ** PATH_PRICE_DP;
  const n = base.length;
  const sigmaBase = minuteVolatility(times, base);
  const rho = Math.min(0.999, Math.max(0.01, spec.correlation));
  const sigmaIdio = spec.beta * sigmaBase * Math.sqrt(1 / (rho * rho) - 1);
  // The shock starts somewhere in the middle 40% of the path.
  const t0 = times[0]!;
  const tEnd = times[n - 1]!;
  const shockStart = Math.round(t0 + (tEnd - t0) * rng.float(0.3, 0.7));
  const depthLog = Math.log(1 + spec.shock.depth);
  const shockAt = (t: number): number => {
    const s = (t - shockStart) / MINUTE;
    if (s <= 0) return 0;
    if (s <= spec.shock.minutes) return depthLog * (s / spec.shock.minutes);
    const r = Math.min(1, (s - spec.shock.minutes) / spec.shock.recoveryMinutes);
    return depthLog * (1 - spec.shock.recovery * r);
  };
  const prices = new Float64Array(n);
  let x = 0;
  let low = Number.POSITIVE_INFINITY;
  let high = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) {
      const dtMin = Math.max(0, (times[i]! - times[i - 1]!) / MINUTE);
      x += spec.beta * Math.log(base[i]! / base[i - 1]!) + sigmaIdio * Math.sqrt(dtMin) * rng.normal();
    }
    const price = spec.startPrice * Math.exp(x + shockAt(times[i]!));
    prices[i] = price;
    low = Math.min(low, price);
    high = Math.max(high, price);
  }
  // The same floor as the replayed market's: a path drawn down below MIN_PRICE_TICKS ticks is scaled up by a power
  // of ten (its start price is arbitrary; its returns, which are what the run is about, do not change).
  let scale = 1;
  while (low * scale < MIN_PRICE_TICKS * tickN) scale *= 10;
  if (!Number.isFinite(low) || !(high * scale <= MAX_SYNTHETIC_PRICE))
    throw new PathError(
      null,
      `the input's range is too wide to draw the synthetic market ${m.config.symbol} on its tick (it would range ` +
        `over ${(high / low).toExponential(1)}×); use a shorter stretch of the data (--bars)`,
    );
  const ticks = new Float64Array(n);
  for (let i = 0; i < n; i++) ticks[i] = Math.max(1, Math.round((prices[i]! * scale) / tickN));
  return {
    symbol: m.config.symbol,
    tickSize: tick,
    ticks,
    synthetic: {
      ...spec,
      startPrice: spec.startPrice * scale,
      shockStart,
      realizedCorrelation: correlation(times, base, ticks),
    },
  };
}

/** Correlation of the two series' log-returns at 1-minute spacing (every point with dt ≥ 1 min, else per point). */
function correlation(times: Float64Array, a: Float64Array, b: Float64Array): number {
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  let n = 0;
  let last = 0;
  for (let i = 1; i < a.length; i++) {
    if (times[i]! - times[last]! < MINUTE && i < a.length - 1) continue;
    const ra = Math.log(a[i]! / a[last]!);
    const rb = Math.log(b[i]! / b[last]!);
    last = i;
    sa += ra;
    sb += rb;
    saa += ra * ra;
    sbb += rb * rb;
    sab += ra * rb;
    n++;
  }
  if (n < 3) return Number.NaN;
  const cov = sab / n - (sa / n) * (sb / n);
  const va = saa / n - (sa / n) ** 2;
  const vb = sbb / n - (sb / n) ** 2;
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : Number.NaN;
}

/** A point's price as the decimal string a command carries. */
export function priceString(m: PathMarket, ticks: number): string {
  const units = BigInt(ticks) * m.tickSize;
  const s = units.toString().padStart(PATH_PRICE_DP + 1, '0');
  const int = s.slice(0, -PATH_PRICE_DP);
  const frac = s.slice(-PATH_PRICE_DP).replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}

/** Largest gap between consecutive points, ms (sizes the oracle's staleness limit). */
export function largestGap(times: Float64Array): number {
  let g = 0;
  for (let i = 1; i < times.length; i++) g = Math.max(g, times[i]! - times[i - 1]!);
  return g;
}
