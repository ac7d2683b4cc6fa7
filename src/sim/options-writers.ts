/**
 * The options writers: a share of the population (each trader draws, from a stream of its own, whether it writes)
 * who each write one strategy on the chain — a short strangle, an iron condor, or a covered call (short call + long
 * perpetual) — sized from the trader's own planned notional (its largest position's, in coin at the spot when it
 * opens) and funded with the trader's own cushion (its deposit over what its positions need). Everything is planned
 * once from the path, so every options policy runs the same writers with the same legs; only the deposit differs (it
 * is the requirement under the policy's model, computed by the engine when the writer opens).
 *
 * Strikes are chosen in standard deviations to expiry (ATM IV × √T × spot at the open), snapped outward to the listed
 * grid: short legs out of the money; a condor's wings one or two strikes further out. 30% of the writers close early
 * (at a random point between a fifth and nine tenths of the way to expiry), the rest hold to expiry.
 */

import { PATH_PRICE_DP } from './csv.ts';
import {
  type ChainPlan,
  chainSymbol,
  openableExpiry,
  pointAtOrAfter,
  type StrikeRef,
} from './options-chain.ts';
import { quoteAt, type VolPath } from './options-vol.ts';
import type { SimPath } from './path.ts';
import type { Population, Trader } from './population.ts';
import { Rng } from './rng.ts';

/** The writers' own stream (rng.ts's STREAM holds the others; a distinct number keeps their draws apart). */
const OPTIONS_STREAM = 0x6f70;
const YEAR = 365 * 24 * 3_600_000;
/** Share of the population that writes options in the options policies. */
export const DEFAULT_WRITER_SHARE = 0.1;

export type WriterStrategy = 'shortStrangle' | 'ironCondor' | 'coveredCall';
export const WRITER_STRATEGIES: readonly WriterStrategy[] = ['shortStrangle', 'ironCondor', 'coveredCall'];
const STRATEGY_WEIGHTS = [40, 40, 20];
const PERP_LEVERAGES = [1, 2, 3, 5];
const PERP_LEVERAGE_WEIGHTS = [3, 3, 2, 2];

export interface WriterLeg {
  symbol: string;
  side: 'buy' | 'sell';
  lots: number;
  /** null: the perpetual (a covered call's cover). */
  option: { type: 'call' | 'put'; strike: number } | null;
}

export interface OptionsWriter {
  /** Index into the population, and the trader's id. */
  trader: number;
  id: string;
  strategy: WriterStrategy;
  /** Index into the chain's expiries. */
  expiry: number;
  openPoint: number;
  /** -1: held to expiry. */
  closePoint: number;
  legs: WriterLeg[];
  /** The trader's cushion (deposit ÷ need), thousandths, at least 1000. */
  cushionMilli: number;
  /** Leverage of the perpetual leg (1 when there is none). */
  leverage: number;
}

export interface WriterPlan {
  share: number;
  writers: OptionsWriter[];
  /** Traders who drew to write but found no strike or expiry for their strategy, by reason. */
  skipped: Record<string, number>;
}

/** Deposit ÷ what the trader's positions need (initial margin and two fees each), in thousandths. */
export function cushionOf(t: Trader): number {
  let need = 0n;
  for (const p of t.positions) need += p.initialMargin + 2n * p.fee;
  if (need <= 0n) return 1000;
  return Math.max(1000, Number((t.deposit * 1000n) / need));
}

/** The trader's largest planned position's notional, USD (initial margin × leverage; display-grade float). */
function largestNotional(t: Trader, settleDp: number): number {
  let best = 0;
  for (const p of t.positions) best = Math.max(best, (Number(p.initialMargin) / 10 ** settleDp) * p.leverage);
  return best;
}

/**
 * The listed strike at or beyond `target` on the out-of-the-money side (index into `list`, ascending); the outermost
 * listed one when the target lies beyond the grid (the spot or the vol moved since the expiry was listed).
 */
function snapOut(list: readonly StrikeRef[], target: number, below: boolean): number {
  if (below) {
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.value <= target) return i;
    return 0;
  }
  const i = list.findIndex((k) => k.value >= target);
  return i < 0 ? list.length - 1 : i;
}

interface Ctx {
  chain: ChainPlan;
  spot: number;
  sd: number;
}

function legsFor(strategy: WriterStrategy, rng: Rng, c: Ctx, x: number, lots: number): WriterLeg[] | null {
  const ex = c.chain.expiries[x]!;
  const option = (type: 'call' | 'put', k: StrikeRef, side: 'buy' | 'sell'): WriterLeg => ({
    symbol: chainSymbol(c.chain, ex.expiry, k, type),
    side,
    lots,
    option: { type, strike: k.value },
  });
  const z = strategy === 'coveredCall' ? rng.float(0.3, 1) : rng.float(0.6, 1.4);
  // A condor's wings sit one or two strikes further out: its short legs stay that far inside the grid.
  const wing = strategy === 'ironCondor' ? (rng.chance(0.5) ? 1 : 2) : 0;
  const call = Math.min(
    snapOut(ex.callStrikes, c.spot * Math.exp(z * c.sd), false),
    ex.callStrikes.length - 1 - wing,
  );
  if (call < 0 || ex.callStrikes[call]!.value <= c.spot) return null;
  const shortCall = option('call', ex.callStrikes[call]!, 'sell');
  if (strategy === 'coveredCall')
    return [shortCall, { symbol: c.chain.underlying, side: 'buy', lots, option: null }];
  const put = Math.max(snapOut(ex.putStrikes, c.spot * Math.exp(-z * c.sd), true), wing);
  if (put >= ex.putStrikes.length || ex.putStrikes[put]!.value >= c.spot) return null;
  const shortPut = option('put', ex.putStrikes[put]!, 'sell');
  if (strategy === 'shortStrangle') return [shortPut, shortCall];
  return [
    option('put', ex.putStrikes[put - wing]!, 'buy'),
    shortPut,
    shortCall,
    option('call', ex.callStrikes[call + wing]!, 'buy'),
  ];
}

/** The writers among `population`, with their strategies on `chain`; deterministic in the seed. */
export function planWriters(
  seed: number,
  population: Population,
  path: SimPath,
  chain: ChainPlan,
  vol: VolPath,
  opts: { share: number; lotUnits: number; settleDp: number },
): WriterPlan {
  const { times } = path;
  const pm = path.markets[0]!;
  const writers: OptionsWriter[] = [];
  const skipped: Record<string, number> = {};
  const skip = (why: string) => {
    skipped[why] = (skipped[why] ?? 0) + 1;
  };
  const s = chain.spacingMs;
  const firstX = chain.expiries[0];
  const lastX = chain.expiries[chain.expiries.length - 1];
  const lo = firstX ? Math.max(0, pointAtOrAfter(times, firstX.expiry - 1.5 * s)) : -1;
  const hiAt = lastX ? pointAtOrAfter(times, lastX.expiry - 0.5 * s) : -1;
  const hi = hiAt < 0 ? times.length - 1 : hiAt - 1;
  for (const t of population.traders) {
    const rng = Rng.forItem(seed, OPTIONS_STREAM, t.index);
    if (rng.next() >= opts.share) continue;
    const strategy = WRITER_STRATEGIES[rng.weighted(STRATEGY_WEIGHTS)]!;
    const u = rng.next();
    if (lo < 0 || hi < lo) {
      skip('noExpiry');
      continue;
    }
    const openPoint = lo + Math.floor(u * (hi - lo + 1));
    const x = openableExpiry(chain, times, openPoint);
    if (x < 0) {
      skip('noExpiry');
      continue;
    }
    const ex = chain.expiries[x]!;
    const spot = (pm.ticks[openPoint]! * Number(pm.tickSize)) / 10 ** PATH_PRICE_DP;
    const years = (ex.expiry - times[openPoint]!) / YEAR;
    const sd = vol.atm[quoteAt(vol, openPoint)]! * Math.sqrt(years);
    const lots = Math.max(1, Math.round(largestNotional(t, opts.settleDp) / spot / opts.lotUnits));
    const legs = legsFor(strategy, rng, { chain, spot, sd }, x, lots);
    const leverage = PERP_LEVERAGES[rng.weighted(PERP_LEVERAGE_WEIGHTS)]!;
    const early = rng.chance(0.3) ? rng.float(0.2, 0.9) : -1;
    if (!legs) {
      skip('noStrike');
      continue;
    }
    const closeAt =
      early < 0 ? -1 : pointAtOrAfter(times, times[openPoint]! + early * (ex.expiry - times[openPoint]!));
    writers.push({
      trader: t.index,
      id: t.id,
      strategy,
      expiry: x,
      openPoint,
      closePoint: closeAt > openPoint && closeAt < ex.settlePoint ? closeAt : -1,
      legs,
      cushionMilli: cushionOf(t),
      leverage: strategy === 'coveredCall' ? leverage : 1,
    });
  }
  return { share: opts.share, writers, skipped };
}
