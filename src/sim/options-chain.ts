/**
 * The option chain the options policies list on the replayed market: linear options on BTCUSDT, expiries on a
 * regular calendar inside the path, strikes on a grid around the spot at listing.
 *
 * - **Cadence.** Weekly expiries (Fridays 08:00 UTC, Deribit's) when the path spans three weeks or more, daily ones
 *   (08:00 UTC) when it spans three days; an expiry lies more than half a spacing after the start and no later than
 *   the last point, so it settles inside the run. A shorter path gets a single expiry at its last point (the spacing
 *   is then the path's span): option symbols carry the expiry's date only, so one day holds one expiry.
 * - **Listing.** Each expiry is listed 1.5 spacings before it (at the start when that is earlier): the venue lists as
 *   it goes and delists an expiry once it has settled, so a long file never needs more than a few expiries' markets.
 *   At any time one expiry is between half a spacing and 1.5 spacings away: the one writers open on.
 * - **Strikes.** The step is a round number (1, 2, 2.5 or 5 × 10^k) at most a third of a one-spacing standard deviation
 *   (ATM IV × √spacing × spot) at listing; puts from 8 steps below the spot (rounded to the step) up to it, calls from
 *   it up to 8 steps above: 18 markets an expiry, writers' short legs out of the money.
 */
import { formatDecimal } from '../core/fixed.ts';
import { optionSymbol } from '../engine/commands/options.ts';
import { PATH_PRICE_DP } from './csv.ts';
import { quoteAt, type VolPath } from './options-vol.ts';
import type { SimPath } from './path.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
/** Epoch 0 was a Thursday: Friday 08:00 UTC is one day and eight hours later. */
const FRIDAY_0800 = DAY + 8 * HOUR;

export const CADENCES = [
  { name: 'weekly', spacing: WEEK, anchor: FRIDAY_0800 },
  { name: 'daily', spacing: DAY, anchor: 8 * HOUR },
] as const;

export const STRIKES_PER_SIDE = 8;
/** Premiums on a fine grid (a far option is worth cents: a coarse tick and the price band would leave no price to
 * buy it back at); sizes in thousandths of a coin, as the perpetual. */
export const OPTION_TICK = '0.0001';
export const OPTION_LOT = '0.001';

export interface StrikeRef {
  /** As listed (a decimal string; the symbol carries it). */
  key: string;
  value: number;
}

export interface ExpiryPlan {
  expiry: number;
  /** The point at which the chain is created (its first vol quote with it), and the first point at or after expiry. */
  listPoint: number;
  settlePoint: number;
  putStrikes: StrikeRef[];
  callStrikes: StrikeRef[];
}

export interface ChainPlan {
  /** The replayed perpetual the options are written on, its base and quote. */
  underlying: string;
  base: string;
  quote: string;
  cadence: (typeof CADENCES)[number]['name'] | 'single';
  spacingMs: number;
  expiries: ExpiryPlan[];
}

/** Index of the first point at or after `time`, or -1. */
export function pointAtOrAfter(times: Float64Array, time: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < time) lo = mid + 1;
    else hi = mid;
  }
  return lo < times.length ? lo : -1;
}

/** The largest round step (1, 2, 2.5 or 5 × 10^k) at most `x`, in 1e-8 units (at least 1e-6). */
export function roundStep(x: number): bigint {
  const k = Math.floor(Math.log10(x));
  const mant = x / 10 ** k;
  const m = mant >= 5 ? 50 : mant >= 2.5 ? 25 : mant >= 2 ? 20 : 10; // tenths
  const exp = k - 1 + PATH_PRICE_DP; // m tenths × 10^k in 1e-8 units
  const units = exp >= 0 ? BigInt(m) * 10n ** BigInt(exp) : BigInt(Math.round(m / 10 ** -exp));
  return units < 100n ? 100n : units;
}

function strikeGrid(spot: number, atm: number, spacingMs: number): { put: StrikeRef[]; call: StrikeRef[] } {
  const sd = atm * Math.sqrt(spacingMs / (365 * DAY)) * spot;
  const step = roundStep(Math.max(sd / 3, spot * 1e-4));
  const spotUnits = BigInt(Math.round(spot * 10 ** PATH_PRICE_DP));
  const center = ((spotUnits + step / 2n) / step) * step;
  const ref = (units: bigint): StrikeRef => ({
    key: formatDecimal(units, PATH_PRICE_DP),
    value: Number(units) / 10 ** PATH_PRICE_DP,
  });
  const put: StrikeRef[] = [];
  const call: StrikeRef[] = [];
  for (let i = -STRIKES_PER_SIDE; i <= 0; i++) {
    const k = center + BigInt(i) * step;
    if (k > 0n) put.push(ref(k));
  }
  for (let i = 0; i <= STRIKES_PER_SIDE; i++) call.push(ref(center + BigInt(i) * step));
  return { put, call };
}

/** The chain for `path` (its first market replayed), strikes from the spot and the vol path at each listing. */
export function planChain(
  path: SimPath,
  vol: VolPath,
  underlying: { symbol: string; base: string; quote: string },
): ChainPlan {
  const { times } = path;
  const pm = path.markets[0]!;
  const start = times[0]!;
  const end = times[times.length - 1]!;
  const span = end - start;
  const cadence = CADENCES.find((c) => span >= 3 * c.spacing) ?? {
    name: 'single' as const,
    spacing: Math.max(MINUTE, span),
    anchor: end,
  };
  const s = cadence.spacing;
  const expiries: ExpiryPlan[] = [];
  const first =
    cadence.name === 'single'
      ? end
      : Math.ceil((start + s / 2 + 1 - cadence.anchor) / s) * s + cadence.anchor;
  for (let expiry = first; expiry <= end; expiry += s) {
    const listPoint = Math.max(0, pointAtOrAfter(times, expiry - 1.5 * s));
    const settlePoint = pointAtOrAfter(times, expiry);
    const spot = (pm.ticks[listPoint]! * Number(pm.tickSize)) / 10 ** PATH_PRICE_DP;
    const atm = vol.atm[quoteAt(vol, listPoint)]!;
    const grid = strikeGrid(spot, atm, s);
    expiries.push({ expiry, listPoint, settlePoint, putStrikes: grid.put, callStrikes: grid.call });
  }
  const { symbol, base, quote } = underlying;
  return { underlying: symbol, base, quote, cadence: cadence.name, spacingMs: s, expiries };
}

/** The symbol the engine gives an option of the chain (createOptionChain's naming). */
export function chainSymbol(
  chain: ChainPlan,
  expiry: number,
  strike: StrikeRef,
  type: 'call' | 'put',
): string {
  return optionSymbol(chain.base, chain.quote, 'linear', expiry, strike.key, type);
}

/** Every option symbol of the chain, in listing order (puts then calls per expiry). */
export function chainSymbols(chain: ChainPlan): string[] {
  const out: string[] = [];
  for (const x of chain.expiries) {
    for (const k of x.putStrikes) out.push(chainSymbol(chain, x.expiry, k, 'put'));
    for (const k of x.callStrikes) out.push(chainSymbol(chain, x.expiry, k, 'call'));
  }
  return out;
}

/** The expiry writers open on at `point`: the one between half a spacing and 1.5 spacings away (-1: none). */
export function openableExpiry(chain: ChainPlan, times: Float64Array, point: number): number {
  const t = times[point]!;
  const s = chain.spacingMs;
  return chain.expiries.findIndex(
    (x) => x.expiry - t >= s / 2 && x.expiry - t < 1.5 * s && x.listPoint <= point,
  );
}
