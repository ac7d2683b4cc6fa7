/**
 * Expiry P&L of linear legs, exact on bigint (issue 18). A lot is a leg, or the part of one a strategy takes.
 *
 * From entry, at settlement price S ≥ 0:
 *   pnl(S) = Σ_options sign·size·(payoff(S) − entry) + Σ_delta-one sign·size·(S − entry),
 * payoff call (S − K)+, put (K − S)+. The sum is taken exactly (WAD² units) and rounded once toward −∞, so a loss is
 * never understated and pnl(S) is a monotone function of the exact value: its minimum over [0, ∞) is at S = 0, at a
 * strike, or at +∞ (piecewise linear, kinks only at strikes). slope(+∞) = Σ_calls sign·size + Σ_delta-one sign·size.
 *
 * The premium-free form (`premiums: false`) drops the options' entry premiums (Derive's max loss, the CBOE "gross"
 * figures); a delta-one leg keeps its entry price there, which is its price, not a premium.
 */
import { ceilDiv, floorDiv } from '../fixed.ts';
import { WAD } from '../options/fixedmath.ts';
import type { PortfolioLeg } from './types.ts';

export interface Lot {
  leg: PortfolioLeg;
  /** Units of underlying taken (WAD), ≤ the leg's size. */
  size: bigint;
}

/** Value per unit at settlement price s: the option's payoff, or the price itself for a delta-one leg. */
function valueAt(leg: PortfolioLeg, s: bigint): bigint {
  if (leg.kind !== 'option') return s;
  const d = leg.type === 'call' ? s - leg.strike! : leg.strike! - s;
  return d > 0n ? d : 0n;
}

/** The premium counted against an option's payoff in the chosen form; a delta-one leg always counts its entry. */
const entryOf = (leg: PortfolioLeg, premiums: boolean): bigint =>
  premiums || leg.kind !== 'option' ? leg.entryPrice : 0n;

/** pnl(s) × WAD, exact. */
export function pnlExact(lots: readonly Lot[], s: bigint, premiums = true): bigint {
  let sum = 0n;
  for (const { leg, size } of lots)
    sum += BigInt(leg.sign) * size * (valueAt(leg, s) - entryOf(leg, premiums));
  return sum;
}

/** pnl(s) in money (WAD), rounded toward −∞. */
export const pnlAt = (lots: readonly Lot[], s: bigint, premiums = true): bigint =>
  floorDiv(pnlExact(lots, s, premiums), WAD);

/** Σ sign·size·(mark − entry): the lots' unrealised P&L at marks, rounded toward −∞ (WAD money). */
export function markPnl(lots: readonly Lot[]): bigint {
  let sum = 0n;
  for (const { leg, size } of lots) sum += BigInt(leg.sign) * size * (leg.markPrice - leg.entryPrice);
  return floorDiv(sum, WAD);
}

/** d pnl / dS beyond the highest strike, in units of underlying (WAD). */
export function slopeAtInfinity(lots: readonly Lot[]): bigint {
  let slope = 0n;
  for (const { leg, size } of lots)
    if (leg.kind !== 'option' || leg.type === 'call') slope += BigInt(leg.sign) * size;
  return slope;
}

/** 0 and every strike, ascending, distinct: where pnl can turn. */
export function kinks(lots: readonly Lot[]): bigint[] {
  const set = new Set<bigint>([0n]);
  for (const { leg } of lots) if (leg.strike !== undefined) set.add(leg.strike);
  return [...set].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface WorstLoss {
  /** max(0, −min pnl over 0 and the strikes), WAD money: the whole worst loss when bounded. */
  loss: bigint;
  /** The first price (ascending) where that minimum is reached. */
  price: bigint;
  /** slope(+∞) < 0: the loss grows without bound as the price rises. */
  unbounded: boolean;
}

/** The lots' worst loss at expiry over every settlement price ≥ 0. */
export function worstLoss(lots: readonly Lot[], premiums = true): WorstLoss {
  let min: bigint | undefined;
  let price = 0n;
  for (const k of kinks(lots)) {
    const p = pnlAt(lots, k, premiums);
    if (min === undefined || p < min) {
      min = p;
      price = k;
    }
  }
  const loss = min! < 0n ? -min! : 0n;
  return { loss, price, unbounded: slopeAtInfinity(lots) < 0n };
}

/** A leg's (or part's) money amount `perUnit × size`, rounded up: used for charges. */
export const chargeOf = (perUnit: bigint, size: bigint): bigint => ceilDiv(perUnit * size, WAD);
