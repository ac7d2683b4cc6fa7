/**
 * The contract of the strategy risk models (issue 18): what an option silo's legs look like to the models and what the
 * models return. Pure data; the engine (src/engine/strategy-silos.ts) and calc (src/core/scenario.ts) both build
 * `PortfolioLeg`s and read `StrategyMarginResult`s, so the two can never disagree.
 *
 * Units: every amount is WAD (1e18) fixed point. Prices, strikes and forwards are USD per 1 unit of underlying; sizes
 * are units of underlying (the market multiplier already applied); money (premiums, requirements, P&L) is in the
 * silo's settle currency. The models apply to linear legs (settled in the stablecoin); an inverse leg (coin-settled,
 * payoff (S − K)+/S) is not linear in S and stands alone under every model (its own requirement, summed in).
 */

export type StrategyModelId = 'maxLoss' | 'strategy' | 'scenario';
export const STRATEGY_MODELS: readonly StrategyModelId[] = ['maxLoss', 'strategy', 'scenario'];

export interface PortfolioLeg {
  /** Reporting name (the market symbol); also the tie-break of the canonical order (never affects a figure). */
  id: string;
  /** The underlying asset (BTC): legs group by it. */
  underlying: string;
  /** `option`, or a linear delta-one leg on the underlying that can cover options (`perpetual`, `future`). */
  kind: 'option' | 'perpetual' | 'future';
  settle: 'linear' | 'inverse';
  /** Options only. */
  type?: 'call' | 'put';
  /** Options only, WAD USD (may be 0). */
  strike?: bigint;
  /** ms since epoch: options and futures; absent for a perpetual. */
  expiry?: number;
  /** +1 long, −1 short. */
  sign: 1 | -1;
  /** Units of underlying, WAD, > 0. */
  size: bigint;
  /** Per unit in the settle currency, WAD: the option premium paid/received, or the perpetual/future entry price. */
  entryPrice: bigint;
  /** Per unit in the settle currency, WAD: the option's mark premium, or the perpetual/future mark price. */
  markPrice: bigint;
  /** WAD USD: the forward of the option's expiry; the mark price for a perpetual/future. */
  forward: bigint;
  /** Options, WAD: implied vol at the mark (scenario model). */
  iv?: bigint;
  /** Options, WAD years to expiry (scenario model), ≥ 0. */
  years?: bigint;
  /** The leg's own (standalone) requirements, WAD settle currency, ≥ 0. */
  initialMargin: bigint;
  maintenanceMargin: bigint;
}

/** What one recognised strategy is (the `strategy` model's unit; reported under every model). */
export type StrategyType =
  | 'vertical'
  | 'straddle'
  | 'strangle'
  | 'butterfly'
  | 'ironCondor'
  | 'ironButterfly'
  | 'box'
  | 'coveredCall'
  | 'coveredPut'
  | 'naked';

export interface RecognisedStrategy {
  type: StrategyType;
  /** Direction: `credit` (sold: received premium), `debit` (bought). Naked legs: their side. */
  direction: 'credit' | 'debit' | 'long' | 'short';
  underlying: string;
  /** ms since epoch; absent for a naked perpetual. */
  expiry?: number;
  /** Indexes into the legs as given, with the size of each taken (a leg may be split across strategies). */
  legs: { leg: number; size: bigint }[];
  /** The strategy's requirements under the `strategy` model's rule, WAD. */
  initialMargin: bigint;
  maintenanceMargin: bigint;
  /** Its worst loss at expiry from entry prices (positive), null when unbounded. */
  maxLoss: bigint | null;
}

/** The worst case the figure came from: a settlement price at expiry (maxLoss) or a scenario cell (scenario). */
export type WorstCase =
  // expiry absent: a group of delta-one legs only (perpetuals, or futures before every option expiry).
  | { kind: 'price'; underlying: string; expiry?: number; price: bigint }
  | { kind: 'infinity'; underlying: string; expiry?: number }
  | { kind: 'scenario'; underlying: string; move: bigint; vol: 'up' | 'same' | 'down'; extended: boolean }
  | { kind: 'standalone' };

/** What a re-check needs (`strategyRequirement`): the requirements and where the binding one came from. */
export interface StrategyRequirement {
  model: StrategyModelId;
  initialMargin: bigint;
  maintenanceMargin: bigint;
  /** The plain sums of the legs' own requirements (the offset granted is the difference). */
  standaloneInitialMargin: bigint;
  standaloneMaintenanceMargin: bigint;
  /** Where the binding figure (maintenance) came from. */
  worst: WorstCase;
}

/** A silo read (`strategyMargin`): the requirement and what every model reports besides. */
export interface StrategyMarginResult extends StrategyRequirement {
  /** The silo's worst loss at expiry over all settlement prices, from entry prices (positive, 0 when it cannot
   * lose); null when unbounded (net short calls or a net short delta-one leg at +∞, or any inverse leg). */
  maxLoss: bigint | null;
  /** What the recogniser found, canonical order (under every model: the read shows it). */
  strategies: RecognisedStrategy[];
}
