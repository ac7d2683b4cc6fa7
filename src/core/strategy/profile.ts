/**
 * The payoff profile of a silo's linear legs at expiry, per (underlying, expiry) group, for calc's strategy builder:
 * max loss and max gain from entry, the premium-free max loss (CBOE's "gross" figure), the break-evens and a table
 * of P&L points a UI can draw. Inverse legs are not linear in the price and join no group: they are left out.
 *
 * pnl is piecewise linear between 0 and the strikes and linear beyond the highest strike, so the exact break-evens
 * are found segment by segment from the exact (unrounded) P&L; each is rounded half-up to a WAD price (a display
 * figure). A flat stretch at exactly zero has no single break-even: its ends are reported.
 */
import { div } from '../fixed.ts';
import { groupLegs } from './legs.ts';
import { lotsOf } from './max-loss.ts';
import { kinks, type Lot, pnlAt, pnlExact, slopeAtInfinity, worstLoss } from './payoff.ts';
import type { PortfolioLeg } from './types.ts';

export interface PayoffPoint {
  price: bigint;
  /** From entry, WAD money, rounded toward −∞. */
  pnl: bigint;
}

export interface PayoffProfile {
  underlying: string;
  expiry?: number;
  /** Worst loss from entry (≥ 0); null when unbounded (net short calls/delta-one as the price rises). */
  maxLoss: bigint | null;
  /** The same without the options' premiums (Derive's max loss, CBOE's gross figures); null when unbounded. */
  maxLossPayoff: bigint | null;
  /** Best gain from entry (≥ 0); null when unbounded (slope(+∞) > 0). */
  maxGain: bigint | null;
  breakevens: bigint[];
  /** At 0, each strike, and 1.25×, 1.5×, 2× the highest strike (the forward when there is none). */
  points: PayoffPoint[];
}

const BEYOND = [5n, 6n, 8n]; // quarters: 1.25, 1.5, 2

/** Root of the line through (a, pa) and (b, pb) (exact P&L), rounded half-up to a WAD price. */
const root = (a: bigint, pa: bigint, b: bigint, pb: bigint): bigint =>
  a + div(-pa * (b - a), pb - pa, 'halfUp');

function breakevens(lots: readonly Lot[], xs: readonly bigint[]): bigint[] {
  const ps = xs.map((x) => pnlExact(lots, x));
  const slope = slopeAtInfinity(lots);
  const out: bigint[] = [];
  const push = (x: bigint) => {
    if (out[out.length - 1] !== x) out.push(x);
  };
  for (let i = 0; i < xs.length; i++) {
    const p = ps[i]!;
    // A zero at a kink counts when pnl is non-zero just beside it, on either side.
    const leftMoves = i > 0 && ps[i - 1] !== 0n;
    const rightMoves = i + 1 < xs.length ? ps[i + 1] !== 0n : slope !== 0n;
    if (p === 0n && (leftMoves || rightMoves)) push(xs[i]!);
    if (i + 1 < xs.length && p !== 0n && ps[i + 1] !== 0n && p < 0n !== ps[i + 1]! < 0n)
      push(root(xs[i]!, p, xs[i + 1]!, ps[i + 1]!));
  }
  // Beyond the highest strike pnl moves by `slope` per unit of price: one more crossing if it heads for zero.
  const last = ps[ps.length - 1]!;
  const top = xs[xs.length - 1]!;
  if (last !== 0n && slope !== 0n && last < 0n !== slope < 0n) push(top + div(-last, slope, 'halfUp'));
  return out;
}

function groupProfile(lots: readonly Lot[], underlying: string, expiry: number | undefined): PayoffProfile {
  const xs = kinks(lots);
  const loss = worstLoss(lots);
  const gross = worstLoss(lots, false);
  const slope = slopeAtInfinity(lots);
  let best = 0n;
  for (const x of xs) {
    const p = pnlAt(lots, x);
    if (p > best) best = p;
  }
  const highest = xs[xs.length - 1]!;
  const base = highest > 0n ? highest : lots.reduce((f, l) => (l.leg.forward > f ? l.leg.forward : f), 0n);
  const beyond = base > 0n ? BEYOND.map((q) => (base * q) / 4n).filter((x) => x > highest) : [];
  const points = [...xs, ...beyond].map((price) => ({ price, pnl: pnlAt(lots, price) }));
  const p: PayoffProfile = {
    underlying,
    maxLoss: loss.unbounded ? null : loss.loss,
    maxLossPayoff: gross.unbounded ? null : gross.loss,
    maxGain: slope > 0n ? null : best,
    breakevens: breakevens(lots, xs),
    points,
  };
  if (expiry !== undefined) p.expiry = expiry;
  return p;
}

/** One profile per group of linear legs, in canonical group order. */
export function payoffProfile(legs: readonly PortfolioLeg[]): PayoffProfile[] {
  return groupLegs(legs).groups.map((g) => groupProfile(lotsOf(legs, g.legs), g.underlying, g.expiry));
}
