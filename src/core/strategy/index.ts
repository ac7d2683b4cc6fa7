/**
 * Strategy margin of an option silo (issue 18): one entry point over the three models.
 * - `maxLoss`: Derive SRM's better of standalone and max loss per (underlying, expiry) — max-loss.ts;
 * - `strategy`: recognised strategies under CBOE/broker rules — recognise.ts, rules.ts;
 * - `scenario`: the scenario grid — scenario.ts.
 * Every model reports the standalone sums, the silo's worst loss at expiry (from payoff, the same under every
 * model) and the recognised strategies (priced under the strategy rules), so a silo read shows all of them.
 */
import { groupLegs } from './legs.ts';
import { maxLossModel } from './max-loss.ts';
import type { StrategyMarginParams } from './params.ts';
import { recognise } from './recognise.ts';
import { type PricedStrategy, priceStrategies } from './rules.ts';
import { scenarioRisk } from './scenario.ts';
import type { PortfolioLeg, StrategyMarginResult, StrategyModelId, WorstCase } from './types.ts';

export type { StrategyMarginParams } from './params.ts';
export { DEFAULT_STRATEGY_MARGIN, parseStrategyMarginParams, strategyMarginParamsToJson } from './params.ts';
export type { PayoffPoint, PayoffProfile } from './profile.ts';
export { payoffProfile } from './profile.ts';
export * from './types.ts';

/** The strategy whose maintenance figure is largest (the first on a tie) names the strategy model's worst case. */
function bindingStrategy(priced: readonly PricedStrategy[]): WorstCase {
  let best: PricedStrategy | undefined;
  for (const p of priced)
    if (!best || p.strategy.maintenanceMargin > best.strategy.maintenanceMargin) best = p;
  return best ? best.worst : { kind: 'standalone' };
}

export function strategyMargin(
  model: StrategyModelId,
  legs: readonly PortfolioLeg[],
  params: StrategyMarginParams,
): StrategyMarginResult {
  const grouped = groupLegs(legs);
  const priced = priceStrategies(legs, recognise(legs, grouped));
  const strategies = priced.map((p) => p.strategy);
  const maxLoss = maxLossModel(legs, grouped, params);
  let standaloneInitialMargin = 0n;
  let standaloneMaintenanceMargin = 0n;
  for (const l of legs) {
    standaloneInitialMargin += l.initialMargin;
    standaloneMaintenanceMargin += l.maintenanceMargin;
  }
  const common = {
    model,
    standaloneInitialMargin,
    standaloneMaintenanceMargin,
    maxLoss: maxLoss.maxLoss,
    strategies,
  };
  switch (model) {
    case 'maxLoss':
      return { ...common, ...pick(maxLoss), worst: maxLoss.worst };
    case 'strategy': {
      let initialMargin = 0n;
      let maintenanceMargin = 0n;
      for (const s of strategies) {
        initialMargin += s.initialMargin;
        maintenanceMargin += s.maintenanceMargin;
      }
      return { ...common, initialMargin, maintenanceMargin, worst: bindingStrategy(priced) };
    }
    case 'scenario': {
      const r = scenarioRisk(legs, params.scenario);
      return { ...common, ...pick(r), worst: r.worst };
    }
  }
}

const pick = (r: { initialMargin: bigint; maintenanceMargin: bigint }) => ({
  initialMargin: r.initialMargin,
  maintenanceMargin: r.maintenanceMargin,
});
