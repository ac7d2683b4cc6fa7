/**
 * Named silos under the option strategy models (issue 18): `maxLoss`, `strategy` and `scenario`. The silo's initial
 * and maintenance margin come from core `strategyRequirement` over its legs (a read: `strategyMargin`, the same
 * figures plus max loss and recognised strategies); this module is the adapter between the
 * engine's units and the models' WAD legs, so the engine and `calc` feed the models the same kind of leg.
 *
 * A leg (a position or a hypothetical post-trade view) becomes a `PortfolioLeg`: size × multiplier in units of the
 * underlying; the entry price and the valuation price (the premium for an option, the price for a perpetual or
 * future) from priceDp; an option's strike, expiry, type and settlement from its terms, the forward its mark was
 * computed from and, for the scenario model only (the smile costs), its IV at the strike and the years left at the
 * command's time; the leg's own requirements (the per-leg functions of risk.ts) from settleDp. Perpetuals and
 * futures join as covers (core groups them with their underlying's options). The figures come back to settle units
 * rounded up: a requirement is never understated.
 */
import { ceilDiv, floorDiv, pow10 } from '../core/fixed.ts';
import { yearsFromSeconds } from '../core/options/black76.ts';
import { scenarioUpperBound, strategyMargin, strategyRequirement } from '../core/strategy/index.ts';
import type {
  PortfolioLeg,
  StrategyMarginResult,
  StrategyModelId,
  StrategyRequirement,
} from '../core/strategy/types.ts';
import type { PositionView, Silo } from './account.ts';
import { fromWad, toWad } from './option-terms.ts';
import type { EngineState } from './state.ts';
import type { SiloRiskModel } from './types.ts';

const WAD = 10n ** 18n;

/** Every risk model a named silo may use (createSilo). */
export const SILO_RISK_MODELS: readonly SiloRiskModel[] = [
  'standalone',
  'netted',
  'maxLoss',
  'strategy',
  'scenario',
];

/** The models whose figures come from core strategyMargin over the silo's legs. */
export function isStrategyModel(model: SiloRiskModel): model is StrategyModelId {
  return model === 'maxLoss' || model === 'strategy' || model === 'scenario';
}

/**
 * What the engine already knows of a leg, in its market's units: its valuation price, its price PnL there (as the
 * silo's equity counts it: rounded down to the settle unit) and its own requirements.
 */
export interface LegFigures {
  price: bigint;
  pnl: bigint;
  initialMargin: bigint;
  maintenanceMargin: bigint;
}

/**
 * A silo's figures under a strategy model: requirements in settle units (rounded up) and the model's result — the
 * requirement alone for a re-check, the full read (max loss, recognised strategies) for a read.
 */
export interface StrategyFigures<R extends StrategyRequirement = StrategyRequirement> {
  initialMargin: bigint;
  maintenanceMargin: bigint;
  result: R;
}

/** Units of underlying (WAD) of `size` lots' size: exact unless sizeDp + multiplierDp > 18, then a short's rounds up. */
function unitsWad(p: PositionView): bigint {
  const inst = p.market.inst;
  const num = p.size * inst.multiplier * WAD;
  const den = pow10(inst.sizeDp + inst.multiplierDp);
  return p.sign < 0 ? ceilDiv(num, den) : num / den;
}

/** One leg as the models see it (see the module comment); `scenario`: with its IV and years to expiry. */
export function portfolioLeg(
  e: EngineState,
  p: PositionView,
  f: LegFigures,
  scenario: boolean,
): PortfolioLeg {
  const m = p.market;
  const inst = m.inst;
  const leg: PortfolioLeg = {
    id: m.symbol,
    underlying: m.config.base,
    kind: m.option !== null ? 'option' : inst.type,
    settle: m.option !== null ? m.option.settle : inst.kind,
    sign: p.sign > 0 ? 1 : -1,
    size: unitsWad(p),
    entryPrice: toWad(p.entryPrice, inst.priceDp),
    markPrice: toWad(f.price, inst.priceDp),
    forward: toWad(f.price, inst.priceDp),
    initialMargin: toWad(f.initialMargin, inst.settleDp),
    maintenanceMargin: toWad(f.maintenanceMargin, inst.settleDp),
  };
  if (inst.expiry !== null) leg.expiry = inst.expiry;
  const t = m.option;
  if (t === null) return leg;
  leg.type = t.type;
  leg.strike = t.strike;
  leg.expiry = t.expiry;
  const feed = m.optionFeed;
  // The forward the mark was computed from; before the underlying has a price, the strike stands in (as the per-leg
  // margin does).
  leg.forward = feed?.forward ?? t.strike;
  if (scenario) {
    leg.years = yearsFromSeconds(Math.max(0, Math.floor((t.expiry - e.now) / 1000)));
    const iv = feed?.ivAt(t.strike, leg.forward) ?? null;
    if (iv !== null) leg.iv = iv;
  }
  return leg;
}

/**
 * The silo's requirements under its strategy model over `legs` (open views), each with what the engine computed of
 * it. Every leg is settled in the silo's asset, so one settleDp converts the figures back. The re-check's form
 * (liquidation test, available, pre-trade): core `strategyRequirement`, which skips the recogniser unless the model
 * is `strategy`; reads take `strategyReadFigures`.
 */
export function strategyFigures(
  e: EngineState,
  silo: Silo,
  legs: readonly PositionView[],
  figures: readonly LegFigures[],
): StrategyFigures {
  return figuresUnder(e, silo, legs, figures, strategyRequirement);
}

/** strategyFigures with the full read (the silo's max loss and recognised strategies): the same requirements. */
export function strategyReadFigures(
  e: EngineState,
  silo: Silo,
  legs: readonly PositionView[],
  figures: readonly LegFigures[],
): StrategyFigures<StrategyMarginResult> {
  return figuresUnder(e, silo, legs, figures, strategyMargin);
}

/**
 * The maintenance the liquidation re-check compares the silo's equity with. Under `scenario`, the grid's cheap upper
 * bound first (core `scenarioUpperBound`, to settle units as the figure is): when `clears(bound)` — the caller's
 * promise that every decision it takes on the bound is the one it would take on the exact figure (the equity is
 * clear of it) — the bound is returned and the grid never runs. Otherwise (no `clears`: the exact figure is wanted),
 * and under the other models, the exact maintenance of `strategyFigures`.
 */
export function recheckMaintenance(
  e: EngineState,
  silo: Silo,
  legs: readonly PositionView[],
  figures: readonly LegFigures[],
  clears: ((bound: bigint) => boolean) | null,
): bigint {
  const m = modelLegs(e, silo, legs, figures);
  if (m.model === 'scenario' && clears !== null) {
    const bound = scenarioUpperBound(m.wadLegs, e.strategyMargin);
    if (bound !== null) {
      const mm = m.figure(bound.maintenanceMargin);
      if (clears(mm)) return mm;
    }
  }
  return m.figure(strategyRequirement(m.model, m.wadLegs, e.strategyMargin).maintenanceMargin);
}

function figuresUnder<R extends StrategyRequirement>(
  e: EngineState,
  silo: Silo,
  legs: readonly PositionView[],
  figures: readonly LegFigures[],
  run: (model: StrategyModelId, legs: readonly PortfolioLeg[], params: EngineState['strategyMargin']) => R,
): StrategyFigures<R> {
  const m = modelLegs(e, silo, legs, figures);
  const result = run(m.model, m.wadLegs, e.strategyMargin);
  return {
    initialMargin: m.figure(result.initialMargin),
    maintenanceMargin: m.figure(result.maintenanceMargin),
    result,
  };
}

/** The silo's legs as its model sees them, and how a WAD requirement over them becomes settle units. */
function modelLegs(
  e: EngineState,
  silo: Silo,
  legs: readonly PositionView[],
  figures: readonly LegFigures[],
): { model: StrategyModelId; wadLegs: PortfolioLeg[]; figure: (v: bigint) => bigint } {
  const model = silo.riskModel;
  if (!isStrategyModel(model)) throw new Error(`bug: ${silo.id} is a ${model} silo`);
  const scenario = model === 'scenario';
  const wadLegs = legs.map((p, i) => portfolioLeg(e, p, figures[i]!, scenario));
  const dp = e.assets.get(silo.asset) ?? 0;
  const slack = roundingSlack(wadLegs, figures, dp);
  // Monotone in v: a bound on the WAD figure stays a bound in settle units.
  const figure = (v: bigint) => fromWad(v > slack ? v - slack : 0n, dp, true);
  return { model, wadLegs, figure };
}

/**
 * What the silo's equity understates its legs' PnL by (WAD, ≥ 0): the models measure PnL from exact prices (to the
 * wei), the engine's equity rounds each leg's PnL down to the settle unit. A requirement compared with that equity is
 * lowered by the difference, so the test "equity < maintenance" is the models' own on exact PnL — a silo funded
 * with exactly its max loss is never short of it by a rounding unit per leg. Less than one settle unit per leg.
 */
function roundingSlack(legs: readonly PortfolioLeg[], figures: readonly LegFigures[], dp: number): bigint {
  let slack = 0n;
  legs.forEach((l, i) => {
    if (l.settle !== 'linear') return; // an inverse leg stands alone on its own requirement: no PnL in the model
    const exact = floorDiv(BigInt(l.sign) * l.size * (l.markPrice - l.entryPrice), WAD);
    slack += exact - toWad(figures[i]!.pnl, dp);
  });
  return slack > 0n ? slack : 0n;
}

/** A WAD money figure of a model's result in the silo's settle units, rounded up (null stays null). */
export function settleUnits(e: EngineState, silo: Silo, v: bigint | null): bigint | null {
  return v === null ? null : fromWad(v, e.assets.get(silo.asset) ?? 0, true);
}
