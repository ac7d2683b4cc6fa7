/**
 * The integer chain kernel's documented precision (core black76-int.ts): an engine mark equals the bigint black76
 * premium rounded down to the price unit, or is one unit off where that premium lies within the kernel's bound of a
 * unit boundary — 2e-12 relative where the USD premium is ≥ 1e-7·F, else 1e-16·F, plus 2 wei. Tests that compare an
 * engine mark with black76 at a time they do not choose (a service on the wall clock) must allow exactly this.
 */
import { WAD } from '../../src/core/options/black76.ts';

/** The kernel's bound, in wei of the premium's own currency (USD, or coin for inverse). */
export function kernelTolerance(premiumWad: bigint, forward: bigint, inverse: boolean): bigint {
  const usd = inverse ? (premiumWad * forward) / WAD : premiumWad;
  let tol = usd * 10n >= forward / 1_000_000n ? usd / 500_000_000_000n : forward / 10n ** 16n;
  if (inverse) tol = (tol * WAD) / forward;
  return tol + 2n;
}

/**
 * Why `mark` (in units of 10^-priceDp) is not an acceptable kernel mark for the bigint premium `premiumWad`, or
 * null when it is: equal to the premium rounded down, or one unit off with the premium within the bound of the boundary.
 */
export function kernelMarkMismatch(
  mark: bigint,
  premiumWad: bigint,
  priceDp: number,
  forward: bigint,
  inverse = false,
): string | null {
  const unit = 10n ** BigInt(18 - priceDp);
  const floor = premiumWad / unit;
  if (mark === floor) return null;
  const tol = kernelTolerance(premiumWad, forward, inverse);
  const above = premiumWad - floor * unit; // how far the premium is above its rounded-down mark
  const nearBoundary = mark === floor - 1n ? above <= tol : unit - above <= tol;
  if ((mark === floor - 1n || mark === floor + 1n) && nearBoundary) return null;
  return `mark ${mark}, bigint ${floor} (premium ${premiumWad} wei, tolerance ${tol})`;
}
