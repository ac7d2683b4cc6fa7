/**
 * The `maxLoss` model: Derive SRM's "better of isolated margin and max loss" per (underlying, expiry)
 * (../shared/reference/options-margin.md §3a), restated in ringfence's equity convention — equity = collateral +
 * Σ uPnL at marks, liquidated when equity < MM. Per group g:
 *
 *   L_g = worst loss at expiry from entry (0 and every strike), u_g = Σ sign·size·(mark − entry),
 *   unpaired_g = ⌈scale · forward · |slope(+∞)|⌉ when slope(+∞) < 0 (net short calls/delta-one), else 0,
 *   IM_g = min(Σ standalone IM, max(0, L_g + min(u_g, 0)) + unpaired_IM), MM_g likewise with MM.
 *
 * Why L_g + min(u_g, 0): equity ≥ L_g + min(u_g, 0) ⇔ collateral ≥ L_g whenever the group is in loss at marks, so a
 * bounded group whose collateral covers its max loss is never liquidated (marks consistent with the payoff keep
 * u_g ≥ −L_g, so the max(0, ·) never binds for it). The unpaired charge is Derive's heuristic for the +∞ side; the
 * loss there is unbounded and no finite collateral covers it.
 *
 * No offsets across groups: each expiry settles at its own price, so the silo's worst loss is the sum of the groups'.
 */
import { ceilDiv, minBig } from '../fixed.ts';
import { WAD } from '../options/fixedmath.ts';
import type { GroupedLegs, LegGroup } from './legs.ts';
import type { StrategyMarginParams } from './params.ts';
import { type Lot, markPnl, slopeAtInfinity, worstLoss } from './payoff.ts';
import type { PortfolioLeg, WorstCase } from './types.ts';

export interface GroupMaxLoss {
  group: LegGroup;
  /** L_g, WAD money: the worst loss over 0 and the strikes (the whole loss when bounded). */
  loss: bigint;
  /** Where L_g is reached. */
  price: bigint;
  unbounded: boolean;
  /** u_g. */
  markPnl: bigint;
  unpairedIM: bigint;
  unpairedMM: bigint;
  standaloneIM: bigint;
  standaloneMM: bigint;
  /** The max-loss forms max(0, L_g + min(u_g, 0)) + unpaired, before the min with the standalone sums. */
  maxLossIM: bigint;
  maxLossMM: bigint;
  initialMargin: bigint;
  maintenanceMargin: bigint;
}

export interface MaxLossModelResult {
  initialMargin: bigint;
  maintenanceMargin: bigint;
  /** Σ L_g; null when a group is unbounded or any leg is inverse. */
  maxLoss: bigint | null;
  worst: WorstCase;
  groups: GroupMaxLoss[];
}

export const lotsOf = (legs: readonly PortfolioLeg[], idx: readonly number[]): Lot[] =>
  idx.map((i) => ({ leg: legs[i]!, size: legs[i]!.size }));

/** The forward the unpaired charge scales: the group's options' (the largest, should they disagree), else the
 * delta-one legs' mark. */
function groupForward(lots: readonly Lot[]): bigint {
  const options = lots.filter((l) => l.leg.kind === 'option');
  return (options.length > 0 ? options : lots).reduce((f, l) => (l.leg.forward > f ? l.leg.forward : f), 0n);
}

export function groupMaxLoss(
  legs: readonly PortfolioLeg[],
  group: LegGroup,
  p: Pick<StrategyMarginParams, 'unpairedIMScale' | 'unpairedMMScale'>,
): GroupMaxLoss {
  const lots = lotsOf(legs, group.legs);
  const w = worstLoss(lots);
  const u = markPnl(lots);
  const slope = slopeAtInfinity(lots);
  const short = slope < 0n ? -slope * groupForward(lots) : 0n;
  const unpairedIM = ceilDiv(p.unpairedIMScale * short, WAD * WAD);
  const unpairedMM = ceilDiv(p.unpairedMMScale * short, WAD * WAD);
  let standaloneIM = 0n;
  let standaloneMM = 0n;
  for (const l of lots) {
    standaloneIM += l.leg.initialMargin;
    standaloneMM += l.leg.maintenanceMargin;
  }
  const covered = w.loss + (u < 0n ? u : 0n);
  const base = covered > 0n ? covered : 0n;
  const maxLossIM = base + unpairedIM;
  const maxLossMM = base + unpairedMM;
  return {
    group,
    loss: w.loss,
    price: w.price,
    unbounded: w.unbounded,
    markPnl: u,
    unpairedIM,
    unpairedMM,
    standaloneIM,
    standaloneMM,
    maxLossIM,
    maxLossMM,
    initialMargin: minBig(standaloneIM, maxLossIM),
    maintenanceMargin: minBig(standaloneMM, maxLossMM),
  };
}

/** Where a group's figure comes from: its legs' own requirements when they are strictly smaller than the max-loss
 * form, else +∞ (unbounded) or its worst price. */
export function groupWorst(g: GroupMaxLoss): WorstCase {
  if (g.standaloneMM < g.maxLossMM) return { kind: 'standalone' };
  return maxLossWorst(g);
}

/** Where the group's max-loss form comes from: +∞ when unbounded, else the settlement price of its worst loss. */
export function maxLossWorst(g: GroupMaxLoss): WorstCase {
  const at = g.group.expiry === undefined ? {} : { expiry: g.group.expiry };
  if (g.unbounded) return { kind: 'infinity', underlying: g.group.underlying, ...at };
  return { kind: 'price', underlying: g.group.underlying, ...at, price: g.price };
}

/** The model over every group, inverse legs at their own requirements. */
export function maxLossModel(
  legs: readonly PortfolioLeg[],
  grouped: GroupedLegs,
  p: Pick<StrategyMarginParams, 'unpairedIMScale' | 'unpairedMMScale'>,
): MaxLossModelResult {
  const groups = grouped.groups.map((g) => groupMaxLoss(legs, g, p));
  let initialMargin = 0n;
  let maintenanceMargin = 0n;
  let loss: bigint | null = 0n;
  let binding: GroupMaxLoss | undefined;
  for (const g of groups) {
    initialMargin += g.initialMargin;
    maintenanceMargin += g.maintenanceMargin;
    loss = g.unbounded || loss === null ? null : loss + g.loss;
    if (!binding || g.maintenanceMargin > binding.maintenanceMargin) binding = g;
  }
  let inverseMM = 0n;
  for (const i of grouped.inverse) {
    initialMargin += legs[i]!.initialMargin;
    inverseMM += legs[i]!.maintenanceMargin;
  }
  maintenanceMargin += inverseMM;
  if (grouped.inverse.length > 0) loss = null;
  const worst: WorstCase =
    !binding || inverseMM > binding.maintenanceMargin ? { kind: 'standalone' } : groupWorst(binding);
  return { initialMargin, maintenanceMargin, maxLoss: loss, worst, groups };
}
