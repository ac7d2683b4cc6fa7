/**
 * Strategy margin of an option silo (issue 18): one entry point over the three models.
 * - `maxLoss`: Derive SRM's better of standalone and max loss per (underlying, expiry) — max-loss.ts;
 * - `strategy`: recognised strategies under CBOE/broker rules — recognise.ts, rules.ts;
 * - `scenario`: the scenario grid — scenario.ts — capped, per underlying whose every group is bounded, at the
 *   `maxLoss` model's form Σ_g max(0, L_g + min(u_g, 0)): a defined-risk strategy never needs more than it can lose.
 * `strategyMargin` is the read: every model reports the standalone sums, the silo's worst loss at expiry (from
 * payoff, the same under every model) and the recognised strategies (priced under the strategy rules), so a silo
 * read shows all of them. `strategyRequirement` is the re-check (liquidation test, available, pre-trade): the same
 * requirement and worst case, computing only what its model needs — no recogniser unless the model is `strategy`.
 * `scenarioUpperBound` bounds the `scenario` figure without the grid (the liquidation re-check's screen).
 */
import { type GroupedLegs, groupLegs } from './legs.ts';
import { type MaxLossModelResult, maxLossModel } from './max-loss.ts';
import type { StrategyMarginParams } from './params.ts';
import { recognise } from './recognise.ts';
import { type PricedStrategy, priceStrategies, type StrategyCharge, strategyCharges } from './rules.ts';
import { capAtMaxLoss, scenarioRisk } from './scenario.ts';
import type {
  PortfolioLeg,
  StrategyMarginResult,
  StrategyModelId,
  StrategyRequirement,
  WorstCase,
} from './types.ts';

export type { StrategyMarginParams } from './params.ts';
export { DEFAULT_STRATEGY_MARGIN, parseStrategyMarginParams, strategyMarginParamsToJson } from './params.ts';
export type { PayoffPoint, PayoffProfile } from './profile.ts';
export { payoffProfile } from './profile.ts';
export * from './types.ts';

/** The strategy whose maintenance figure is largest (the first on a tie) names the strategy model's worst case. */
function bindingStrategy(charges: readonly StrategyCharge[]): WorstCase {
  let best: StrategyCharge | undefined;
  for (const c of charges) if (!best || c.maintenanceMargin > best.maintenanceMargin) best = c;
  return best ? best.worst : { kind: 'standalone' };
}

const pickFigures = (r: { initialMargin: bigint; maintenanceMargin: bigint }) => ({
  initialMargin: r.initialMargin,
  maintenanceMargin: r.maintenanceMargin,
});

/** What the models may need of one silo's legs, each computed at most once per call. */
class Parts {
  private groupedLegs?: GroupedLegs;
  private pricedStrategies?: PricedStrategy[];
  private strategyCharges?: StrategyCharge[];
  private maxLossResult?: MaxLossModelResult;

  constructor(
    readonly legs: readonly PortfolioLeg[],
    readonly params: StrategyMarginParams,
  ) {}

  grouped(): GroupedLegs {
    this.groupedLegs ??= groupLegs(this.legs);
    return this.groupedLegs;
  }

  priced(): PricedStrategy[] {
    this.pricedStrategies ??= priceStrategies(this.legs, recognise(this.legs, this.grouped()));
    return this.pricedStrategies;
  }

  /** The strategy rules' charges: from the priced strategies when a read has them, else without the read's extras. */
  charges(): StrategyCharge[] {
    this.strategyCharges ??=
      this.pricedStrategies?.map(({ strategy: s, worst }) => ({ ...pickFigures(s), worst })) ??
      strategyCharges(this.legs, recognise(this.legs, this.grouped()));
    return this.strategyCharges;
  }

  maxLoss(): MaxLossModelResult {
    this.maxLossResult ??= maxLossModel(this.legs, this.grouped(), this.params);
    return this.maxLossResult;
  }
}

function standaloneSums(legs: readonly PortfolioLeg[]): { im: bigint; mm: bigint } {
  let im = 0n;
  let mm = 0n;
  for (const l of legs) {
    im += l.initialMargin;
    mm += l.maintenanceMargin;
  }
  return { im, mm };
}

/** The model's own figures: IM, MM and the worst case. */
function modelFigures(
  model: StrategyModelId,
  parts: Parts,
): Pick<StrategyRequirement, 'initialMargin' | 'maintenanceMargin' | 'worst'> {
  switch (model) {
    case 'maxLoss': {
      const r = parts.maxLoss();
      return { ...pickFigures(r), worst: r.worst };
    }
    case 'strategy': {
      const charges = parts.charges();
      let initialMargin = 0n;
      let maintenanceMargin = 0n;
      for (const c of charges) {
        initialMargin += c.initialMargin;
        maintenanceMargin += c.maintenanceMargin;
      }
      return { initialMargin, maintenanceMargin, worst: bindingStrategy(charges) };
    }
    case 'scenario': {
      // The grid, then the cap at the max-loss form of each bounded underlying (the groups check the legs).
      const groups = parts.maxLoss().groups;
      return capAtMaxLoss(scenarioRisk(parts.legs, parts.params.scenario), groups);
    }
  }
}

/**
 * The requirement alone (the engine's re-checks): the figures `strategyMargin` reports for IM, MM, the standalone
 * sums and the worst case, identical to them, without the read-only extras (recognised strategies, max loss).
 */
export function strategyRequirement(
  model: StrategyModelId,
  legs: readonly PortfolioLeg[],
  params: StrategyMarginParams,
): StrategyRequirement {
  const sums = standaloneSums(legs);
  const own = modelFigures(model, new Parts(legs, params));
  return {
    model,
    standaloneInitialMargin: sums.im,
    standaloneMaintenanceMargin: sums.mm,
    initialMargin: own.initialMargin,
    maintenanceMargin: own.maintenanceMargin,
    worst: own.worst,
  };
}

/** An upper bound of a model's requirements (WAD), computed without the model's own machinery. */
export interface RequirementBound {
  initialMargin: bigint;
  maintenanceMargin: bigint;
}

/** A linear option leg the grid could not price (no iv or years, or a negative one): the grid itself reports it. */
const unpriceable = (l: PortfolioLeg): boolean =>
  l.settle === 'linear' &&
  l.kind === 'option' &&
  (l.iv === undefined || l.years === undefined || l.iv < 0n || l.years < 0n);

/**
 * A cheap upper bound of the `scenario` model's IM and MM, without the grid: when every (underlying, expiry) group
 * is bounded, the cap alone — Σ_g max(0, L_g + min(u_g, 0)) (scenario.ts `capAtMaxLoss`) — plus the inverse legs'
 * own requirements. The model takes, per underlying, the smaller of the grid's figure and that cap, so it never
 * asks more. Null when a group is unbounded (the grid's figure stands uncapped there) or a linear option leg lacks
 * what the grid needs. Costs about what the `maxLoss` model does: the engine's liquidation re-check files a silo
 * whose equity clears it as safe without running the grid.
 */
export function scenarioUpperBound(
  legs: readonly PortfolioLeg[],
  params: StrategyMarginParams,
): RequirementBound | null {
  if (legs.some(unpriceable)) return null;
  const { groups } = new Parts(legs, params).maxLoss();
  let cap = 0n;
  for (const g of groups) {
    if (g.unbounded) return null;
    cap += g.maxLossMM - g.unpairedMM; // the max-loss form without the unpaired charge (0 when bounded)
  }
  let im = cap;
  let mm = cap;
  for (const l of legs) {
    if (l.settle === 'linear') continue;
    im += l.initialMargin;
    mm += l.maintenanceMargin;
  }
  return { initialMargin: im, maintenanceMargin: mm };
}

/** The silo read: the requirement, the silo's max loss and the recognised strategies, under every model. */
export function strategyMargin(
  model: StrategyModelId,
  legs: readonly PortfolioLeg[],
  params: StrategyMarginParams,
): StrategyMarginResult {
  const parts = new Parts(legs, params);
  const sums = standaloneSums(legs);
  const strategies = parts.priced().map((p) => p.strategy);
  const maxLoss = parts.maxLoss().maxLoss;
  const own = modelFigures(model, parts);
  return {
    model,
    standaloneInitialMargin: sums.im,
    standaloneMaintenanceMargin: sums.mm,
    maxLoss,
    strategies,
    initialMargin: own.initialMargin,
    maintenanceMargin: own.maintenanceMargin,
    worst: own.worst,
  };
}
