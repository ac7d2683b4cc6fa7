/**
 * What calc shows of a silo's strategy risk (issue 18): the requirement under each model, the recognised strategies,
 * the worst loss and best gain at expiry, the break-evens and the payoff table. The figures are core/strategy's
 * (`strategyMargin`, `payoffProfile`); this module only runs them over the silo's legs and turns WAD into the silo's
 * settle units and decimal strings — requirements and losses rounded up, gains and P&L down.
 *
 * Every requirement here is against the silo's net liquidation value (collateral + every leg's PnL at its mark,
 * options included), the test the engine's option silos apply.
 */
import { div, formatDecimal, maxBig, pow10, type Rounding } from './fixed.ts';
import {
  type PayoffProfile,
  type PortfolioLeg,
  payoffProfile,
  type RecognisedStrategy,
  STRATEGY_MODELS,
  type StrategyMarginParams,
  type StrategyMarginResult,
  type StrategyModelId,
  strategyMargin,
  type WorstCase,
} from './strategy/index.ts';
import { isoUtc } from './utc.ts';

const WAD_DP = 18;

/** A requirement in settle units. */
export interface Requirement {
  initialMargin: bigint;
  maintenanceMargin: bigint;
}

/** The silo's legs under every strategy model, and their payoff at expiry. */
export interface StrategyReport {
  legs: readonly PortfolioLeg[];
  results: Record<StrategyModelId, StrategyMarginResult>;
  /** In settle units (rounded up): `standalone` is the legs' plain sum as the models see them. */
  models: Record<'standalone' | StrategyModelId, Requirement>;
  profile: PayoffProfile[];
  dp: number;
}

/** WAD money → settle units. */
export const toSettle = (v: bigint, dp: number, mode: Rounding): bigint => div(v, pow10(WAD_DP - dp), mode);

/** The silo's PnL at its marks: as its equity shows it (settle units, each leg rounded down) and exact (WAD). */
export interface SiloPnl {
  shown: bigint;
  exact: bigint;
}

/**
 * A WAD requirement in settle units, against equity = collateral + `pnl.shown`: the PnL shown plus the collateral the
 * requirement asks for (requirement − exact PnL), rounded up; never below 0. So equity < requirement ⇔ collateral <
 * ⌈requirement − PnL⌉, the exact test, with no unit of rounding between the two sides (a silo funded with exactly
 * its max loss is not liquidatable by rounding). It differs from the requirement rounded up by under a unit per leg.
 */
export function settleRequirement(wad: bigint, pnl: SiloPnl, dp: number): bigint {
  return maxBig(0n, pnl.shown + toSettle(wad - pnl.exact, dp, 'ceil'));
}

export function requirementOf(r: StrategyMarginResult, pnl: SiloPnl, dp: number): Requirement {
  return {
    initialMargin: settleRequirement(r.initialMargin, pnl, dp),
    maintenanceMargin: settleRequirement(r.maintenanceMargin, pnl, dp),
  };
}

export function strategyReport(
  legs: readonly PortfolioLeg[],
  params: StrategyMarginParams,
  pnl: SiloPnl,
  dp: number,
): StrategyReport {
  const results = Object.fromEntries(
    STRATEGY_MODELS.map((m) => [m, strategyMargin(m, legs, params)]),
  ) as Record<StrategyModelId, StrategyMarginResult>;
  const any = results.maxLoss;
  const models = {
    standalone: {
      initialMargin: settleRequirement(any.standaloneInitialMargin, pnl, dp),
      maintenanceMargin: settleRequirement(any.standaloneMaintenanceMargin, pnl, dp),
    },
    maxLoss: requirementOf(results.maxLoss, pnl, dp),
    strategy: requirementOf(results.strategy, pnl, dp),
    scenario: requirementOf(results.scenario, pnl, dp),
  };
  return { legs, results, models, profile: payoffProfile(legs), dp };
}

// ---------------------------------------------------------------------------------------------------------
// JSON

export interface PayoffGroupResult {
  underlying: string;
  /** ISO-8601; null for a group of perpetuals only. */
  expiry: string | null;
  maxLoss: string | null;
  maxGain: string | null;
  breakevens: string[];
  points: { price: string; pnl: string }[];
}

export interface StrategyStrategyResult {
  type: RecognisedStrategy['type'];
  direction: RecognisedStrategy['direction'];
  underlying: string;
  expiry: string | null;
  /** Indexes into the silo's `legs`, with the part of each leg's size the strategy takes. */
  legs: { leg: number; symbol: string; size: string }[];
  initialMargin: string;
  maintenanceMargin: string;
  maxLoss: string | null;
}

export type WorstResult =
  | { kind: 'price'; underlying: string; expiry: string | null; price: string }
  | { kind: 'infinity'; underlying: string; expiry: string | null }
  | { kind: 'scenario'; underlying: string; move: string; vol: 'up' | 'same' | 'down'; extended: boolean }
  | { kind: 'standalone' };

/** The strategy fields of a silo's output (docs/calc-strategies.md). */
export interface SiloStrategyFields {
  maxLoss: string | null;
  strategy: string | null;
  strategies: StrategyStrategyResult[];
  models: Record<'standalone' | StrategyModelId, { initialMargin: string; maintenanceMargin: string }>;
  worst: WorstResult;
  maxGain: string | null;
  breakevens: string[];
  payoff: PayoffGroupResult[];
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : isoUtc(ms));
const wad = (v: bigint) => formatDecimal(v, WAD_DP);

function worstJson(w: WorstCase): WorstResult {
  switch (w.kind) {
    case 'price':
      return { kind: 'price', underlying: w.underlying, expiry: iso(w.expiry), price: wad(w.price) };
    case 'infinity':
      return { kind: 'infinity', underlying: w.underlying, expiry: iso(w.expiry) };
    case 'scenario':
      // The move as a fraction of the forward (−0.16: 16 % down).
      return {
        kind: 'scenario',
        underlying: w.underlying,
        move: wad(w.move),
        vol: w.vol,
        extended: w.extended,
      };
    case 'standalone':
      return { kind: 'standalone' };
  }
}

function strategyJson(
  s: RecognisedStrategy,
  legs: readonly PortfolioLeg[],
  dp: number,
): StrategyStrategyResult {
  const money = (v: bigint) => formatDecimal(toSettle(v, dp, 'ceil'), dp);
  return {
    type: s.type,
    direction: s.direction,
    underlying: s.underlying,
    expiry: iso(s.expiry),
    legs: s.legs.map((l) => ({ leg: l.leg, symbol: legs[l.leg]!.id, size: wad(l.size) })),
    initialMargin: money(s.initialMargin),
    maintenanceMargin: money(s.maintenanceMargin),
    maxLoss: s.maxLoss === null ? null : money(s.maxLoss),
  };
}

function payoffJson(p: PayoffProfile, dp: number): PayoffGroupResult {
  return {
    underlying: p.underlying,
    expiry: iso(p.expiry),
    maxLoss: p.maxLoss === null ? null : formatDecimal(toSettle(p.maxLoss, dp, 'ceil'), dp),
    maxGain: p.maxGain === null ? null : formatDecimal(toSettle(p.maxGain, dp, 'floor'), dp),
    breakevens: p.breakevens.map(wad),
    points: p.points.map((x) => ({
      price: wad(x.price),
      pnl: formatDecimal(toSettle(x.pnl, dp, 'floor'), dp),
    })),
  };
}

/**
 * The fields for the output. `own`: the silo's model when it is a strategy model (its worst case is reported), else
 * null (`standalone`/`netted`: worst is `{"kind": "standalone"}`). Max gain is the sum of the groups' (each expiry
 * settles at its own price); null when any is unbounded or a leg is inverse (left out of the payoff).
 */
export function strategyFields(r: StrategyReport, own: StrategyModelId | null): SiloStrategyFields {
  const { dp, results } = r;
  const money = (v: Requirement) => ({
    initialMargin: formatDecimal(v.initialMargin, dp),
    maintenanceMargin: formatDecimal(v.maintenanceMargin, dp),
  });
  const recognised = results.maxLoss.strategies;
  const named = recognised.filter((s) => s.type !== 'naked').map((s) => s.type);
  const inverse = r.legs.some((l) => l.settle === 'inverse');
  let gain: bigint | null = inverse ? null : 0n;
  for (const p of r.profile) gain = gain === null || p.maxGain === null ? null : gain + p.maxGain;
  const maxLoss = results.maxLoss.maxLoss;
  return {
    maxLoss: maxLoss === null ? null : formatDecimal(toSettle(maxLoss, dp, 'ceil'), dp),
    strategy: named.length === 0 ? null : named.join(' + '),
    strategies: recognised.map((s) => strategyJson(s, r.legs, dp)),
    models: {
      standalone: money(r.models.standalone),
      maxLoss: money(r.models.maxLoss),
      strategy: money(r.models.strategy),
      scenario: money(r.models.scenario),
    },
    worst: own === null ? { kind: 'standalone' } : worstJson(results[own].worst),
    maxGain: gain === null ? null : formatDecimal(toSettle(gain, dp, 'floor'), dp),
    breakevens: r.profile.flatMap((p) => p.breakevens.map(wad)),
    payoff: r.profile.map((p) => payoffJson(p, dp)),
  };
}
