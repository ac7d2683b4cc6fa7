/**
 * Deribit portfolio-margin pieces that are published (../shared/reference/options-margin.md §3c), in WAD fixed
 * point: the current vol shocks (OPT-DRB-PM-3; ringfence's scenario model uses the same formula and parameters, so
 * they are computed by scenario.ts), the legacy published rules (OPT-DRB-PM-2) and the inverse perpetual's risk
 * vector (OPT-DRB-PM-1). Deribit's extended-table dampener, current contingencies and `mm_factor` semantics are not
 * published (gap 2), so nothing here claims to reproduce a whole Deribit PM figure.
 */
import { ceilDiv, floorDiv, parseDecimal } from '../fixed.ts';
import { yearsFromSeconds } from '../options/black76.ts';
import { expWad, lnWad, WAD } from '../options/fixedmath.ts';
import {
  DEFAULT_SCENARIO_PARAMS,
  type GridCell,
  scenarioGrid,
  shockedVols,
  vegaMultiplier,
} from './scenario.ts';

const d = (s: string): bigint => parseDecimal(s, 'deribit-pm', { dp: 18, signed: true });

/** The published `pme/simulate` example's model params are ringfence's scenario defaults (scenario-params.ts). */
export const DERIBIT_PM_EXAMPLE = DEFAULT_SCENARIO_PARAMS.default;

/** Vol shocks of an option with implied vol `iv` at `dteDays` (an integer) under the example's params. */
export function deribitPmVolShocks(iv: bigint, dteDays: number): { mult: bigint; up: bigint; down: bigint } {
  const years = yearsFromSeconds(dteDays * 86_400);
  return { mult: vegaMultiplier(DERIBIT_PM_EXAMPLE, years), ...shockedVols(DERIBIT_PM_EXAMPLE, iv, years) };
}

/** The example's risk-vector cells: 9 buckets × 3 vol states (standard) and 8 extended cells. */
export function deribitPmCells(): { standard: GridCell[]; extended: GridCell[] } {
  const all = scenarioGrid(DERIBIT_PM_EXAMPLE);
  return { standard: all.filter((c) => !c.extended), extended: all.filter((c) => c.extended) };
}

// ---------------------------------------------------------------------------------------------------------
// Legacy published rules (deribit.com, older portfolio-margin pages)

export interface LegacyIvRule {
  /** The shock at 30 days to expiry (0.40). */
  base: bigint;
  /** Exponent of 30/DTE (0.5 for the √ rule). */
  power: bigint;
}

/** The older rule: √(30/DTE)·40 % (56.6 % at 15 days, published). */
export const LEGACY_SQRT_RULE: LegacyIvRule = { base: d('0.40'), power: d('0.5') };
/** The newer rule: (30/DTE)^0.30·38 %. */
export const LEGACY_POWER_RULE: LegacyIvRule = { base: d('0.38'), power: d('0.3') };

/** The legacy IV change: base·(30/DTE)^power, WAD; DTE in whole days ≥ 1. */
export function legacyIvShock(dteDays: number, rule: LegacyIvRule): bigint {
  if (!Number.isSafeInteger(dteDays) || dteDays < 1)
    throw new RangeError('legacyIvShock: DTE must be ≥ 1 day');
  const ratio = (30n * WAD) / BigInt(dteDays);
  return floorDiv(rule.base * expWad(floorDiv(rule.power * lnWad(ratio), WAD)), WAD);
}

/** The legacy contingency per net short option per strike (0.01 coin), WAD coin. */
export const LEGACY_NAKED_SHORT_PER_OPTION = d('0.01');

/**
 * "0.01 BTC per option for all net short options per strike": calls and puts at a strike net together (call +10,
 * put −20 → 10 net short → 0.1 BTC). Amounts are signed contracts, WAD; the charge is rounded up.
 */
export function legacyNakedShortContingency(
  positions: readonly { strike: bigint; amount: bigint }[],
  perOption: bigint = LEGACY_NAKED_SHORT_PER_OPTION,
): bigint {
  const net = new Map<bigint, bigint>();
  for (const p of positions) net.set(p.strike, (net.get(p.strike) ?? 0n) + p.amount);
  let charge = 0n;
  for (const n of net.values()) if (n < 0n) charge += ceilDiv(-n * perOption, WAD);
  return charge;
}

// ---------------------------------------------------------------------------------------------------------
// Inverse perpetual risk vector

/**
 * An inverse (coin-settled) perpetual's P&L in coin when the index moves by s: (X/P)·s/(1 + s), X the USD notional
 * and P the index (exposure X/P in coin, signed: + long). Not symmetric in s: a coin-margined long gains less coin on
 * the way up than it loses on the way down. Rounded toward −∞ (the larger loss). OPT-DRB-PM-1.
 */
export function inversePerpPnl(exposureCoin: bigint, move: bigint): bigint {
  if (move <= -WAD) throw new RangeError('inversePerpPnl: the move must be above −100 %');
  return floorDiv(exposureCoin * move, WAD + move);
}

/** The risk vector over moves (WAD fractions). */
export function inversePerpRiskVector(exposureCoin: bigint, moves: readonly bigint[]): bigint[] {
  return moves.map((m) => inversePerpPnl(exposureCoin, m));
}
