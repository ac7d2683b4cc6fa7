/**
 * Options strategy writers in `ringfence simulate` (issue 18): the same writers on the same replayed BTC path, each
 * strategy in its own named silo, margined by a different risk model per policy — `options-standalone` (leg by leg),
 * `options-maxLoss` (the worst loss at expiry), `options-strategy` (CBOE-style strategy rules), `options-scenario`
 * (a SPAN-style risk array) — so the table compares what each model locks and what it liquidates.
 *
 * Layout: options-vol.ts (the vol path from the data) → options-chain.ts (expiries and strikes) → options-writers.ts
 * (who writes what) → this file (the policies and the plan every options policy shares) → options-runner.ts (one
 * policy through the engine) with options-metrics.ts watching.
 *
 * Only the writers run in these policies (with the desk, the perpetual's market maker and the backstop): the rest of
 * the population trades perpetuals under the other policies and would add nothing to this comparison but time.
 */
import type { Policy, SimMarket } from './markets.ts';
import { type ChainPlan, OPTION_LOT, planChain } from './options-chain.ts';
import type { OptionsModel } from './options-metrics.ts';
import { DEFAULT_VOL_PATH, deriveVolPath, type VolPath } from './options-vol.ts';
import { DEFAULT_WRITER_SHARE, planWriters, type WriterPlan } from './options-writers.ts';
import type { SimPath } from './path.ts';
import type { Population } from './population.ts';

export type { OptionsModel };

export interface OptionsPolicy extends Policy {
  /** The risk model of every writer's silo. */
  options: { model: OptionsModel };
}

const MODELS: { model: OptionsModel; what: string }[] = [
  { model: 'standalone', what: 'leg by leg (the sum of each leg’s own requirement)' },
  { model: 'maxLoss', what: 'at its maximum loss at expiry (never more than the legs alone)' },
  { model: 'strategy', what: 'by strategy rules (recognised spreads, strangles and covered calls)' },
  { model: 'scenario', what: 'by the worst loss over a scenario risk array (price × volatility moves)' },
];

export const OPTIONS_POLICIES: readonly OptionsPolicy[] = MODELS.map(({ model, what }) => ({
  id: `options-${model}`,
  description: `options writers only: each strategy in its own silo, margined ${what}`,
  mode: 'isolated',
  autoAdd: false,
  liquidation: {},
  conventions: 'ringfence',
  options: { model },
}));

export const OPTIONS_POLICY_IDS = OPTIONS_POLICIES.map((p) => p.id);

/**
 * The options policies `ringfence simulate` (and so the demo) runs when no list is given: none. A re-mark re-checks
 * every writer's silo, and under the strategy models each check runs core strategyMargin (the recogniser, and under
 * `scenario` a Black-76 repricing per cell): at the demo's 5,000 traders (≈500 writers) the four would take minutes,
 * where `npm start` must stay under a minute. `--policies options` (or any of them by name) runs them.
 */
export const DEFAULT_OPTIONS_POLICY_IDS: readonly string[] = [];

export function isOptionsPolicy(p: Policy): p is OptionsPolicy {
  return (p as Partial<OptionsPolicy>).options !== undefined;
}

export function optionsPolicyById(id: string): OptionsPolicy | undefined {
  return OPTIONS_POLICIES.find((p) => p.id === id);
}

/** Everything the options policies share: planned once per run, from the path and the population. */
export interface OptionsPlan {
  vol: VolPath;
  chain: ChainPlan;
  writers: WriterPlan;
  /** The underlying's deviation feed in these runs (see OPTIONS_FEED) and its staleness limit. */
  feed: { deviation: number; heartbeatMs: number; stalenessMs: number };
  /** The vol feed's staleness limit: the underlying's plus the vol quote interval. */
  volStalenessMs: number;
}

/**
 * The options policies quote the underlying as a deviation-threshold oracle does: when it moved 0.2% since the last
 * quote, or 15 minutes passed (and wherever a writer trades, an expiry lists or settles, or the vol is quoted). Every
 * quote re-marks every option and re-checks every option holder, which is what an options run spends its time on; on
 * the embedded month this is about one point in nine, and no move of 0.2% or more goes unquoted.
 */
export const OPTIONS_FEED = { deviation: 0.002, heartbeatMinutes: 15 } as const;

export function planOptions(
  seed: number,
  path: SimPath,
  markets: readonly SimMarket[],
  population: Population,
  share = DEFAULT_WRITER_SHARE,
): OptionsPlan {
  const perp = markets[0]!.config;
  const ticks = path.markets[0]!.ticks;
  const vol = deriveVolPath(path.times, ticks, DEFAULT_VOL_PATH);
  const chain = planChain(path, vol, { symbol: perp.symbol, base: perp.base, quote: perp.quote });
  const writers = planWriters(seed, population, path, chain, vol, {
    share,
    lotUnits: Number(OPTION_LOT),
    settleDp: perp.settleDp,
  });
  const heartbeatMs = OPTIONS_FEED.heartbeatMinutes * 60_000;
  const stalenessMs = (perp.oracle?.stalenessMs ?? 300_000) + heartbeatMs;
  return {
    vol,
    chain,
    writers,
    feed: { deviation: OPTIONS_FEED.deviation, heartbeatMs, stalenessMs },
    volStalenessMs: stalenessMs + vol.spec.everyMinutes * 60_000,
  };
}
