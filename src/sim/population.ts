/**
 * The simulated traders, drawn from the seed: trader i's draws come from its own stream, so the first thousand
 * traders are the same whether the run has a thousand or a hundred thousand.
 *
 * Each trader holds 1–3 positions on distinct markets, opened at some point of the path (30% already at the start)
 * and held to the end or closed after a while; sizes are log-normal in notional, leverage skewed (most at 5–20x, a
 * tail out to 100x, capped by the tier the position falls in), directions leaning long. The deposit is what the
 * positions need at their entry prices (initial margin plus fees to open and close) times a cushion: a third of
 * the traders keep almost nothing spare, a fifth keep several times what they need. A quarter opt in to auto-add
 * margin (used only by the policy that enables it). Each also draws, from a stream of its own (so the draws above
 * are the same with or without it), the number that decides whether it opts in to a hybrid policy's netted silo.
 *
 * Everything here is planned once from the path, so every policy runs exactly the same population.
 */
import { ceilDiv, pow10 } from '../core/fixed.ts';
import { initialMarginAtLeverage, notional, ratesAt } from '../core/margin.ts';
import { LEVERAGE_ONE, parseRate, RATE_ONE } from '../core/rates.ts';
import { instrumentOf } from '../engine/market.ts';
import type { AutoAddPolicy } from '../engine/types.ts';
import type { SimMarket } from './markets.ts';
import type { SimPath } from './path.ts';
import { Rng, STREAM } from './rng.ts';

export interface PlannedPosition {
  market: number;
  side: 'buy' | 'sell';
  lots: number;
  /** Whole leverage, already capped by the tier at entry. */
  leverage: number;
  /** Point index at which it opens, and at which it is closed (-1: held to the end). */
  openPoint: number;
  closePoint: number;
  /** Initial margin and taker fee at the planned entry (settle units). */
  initialMargin: bigint;
  fee: bigint;
}

export interface Trader {
  index: number;
  id: string;
  deposit: bigint;
  autoAdd: { policy: AutoAddPolicy; trigger: string } | null;
  positions: PlannedPosition[];
  /**
   * Uniform in [0, 1), from its own stream: a hybrid policy with opt-in share s groups this trader's positions in a
   * netted silo when it plans two or more and `siloDraw` < s (so a larger share adds traders, never swaps them).
   * Absent (hand-made populations): 0, opted in whenever the share is above 0.
   */
  siloDraw?: number;
}

export interface Population {
  traders: Trader[];
  /** Planned entry notional per market (settle units): sizes the market makers and the insurance fund. */
  plannedNotional: bigint[];
  positions: number;
}

export const LEVERAGES = [1, 2, 3, 5, 10, 20, 25, 50, 75, 100] as const;
const LEVERAGE_WEIGHTS = [4, 7, 8, 14, 24, 15, 9, 10, 4, 5];
const POSITION_COUNT_WEIGHTS = [35, 35, 30]; // 1, 2 or 3 positions
/** Log-normal notional: median and log-sd, clamped. */
const NOTIONAL_MEDIAN = 2_500;
const NOTIONAL_SIGMA = 1.4;
const NOTIONAL_MIN = 100;
const NOTIONAL_MAX = 3_000_000;
const HOUR = 3_600_000;

/** Index of the first point at or after `time` (binary search), or -1 past the end. */
function pointAtOrAfter(times: Float64Array, time: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < time) lo = mid + 1;
    else hi = mid;
  }
  return lo < times.length ? lo : -1;
}

export function generatePopulation(
  seed: number,
  count: number,
  path: SimPath,
  markets: readonly SimMarket[],
): Population {
  const insts = markets.map((m) => instrumentOf(m.config));
  const takerFees = markets.map((m) => parseRate(m.config.takerFee, 'takerFee'));
  const weights = markets.map((m) => m.weight);
  const n = path.times.length;
  const traders: Trader[] = [];
  const plannedNotional = markets.map(() => 0n);
  let positions = 0;
  for (let i = 0; i < count; i++) {
    const rng = Rng.forItem(seed, STREAM.population, i);
    const want = Math.min(markets.length, 1 + rng.weighted(POSITION_COUNT_WEIGHTS));
    const chosen: number[] = [];
    while (chosen.length < want) {
      const w = weights.map((x, k) => (chosen.includes(k) ? 0 : x));
      chosen.push(rng.weighted(w));
    }
    chosen.sort((a, b) => a - b);
    const planned: PlannedPosition[] = [];
    let need = 0n;
    for (const k of chosen) {
      const inst = insts[k]!;
      const pm = path.markets[k]!;
      const openPoint = rng.chance(0.3) ? 0 : Math.floor(rng.float(0, 0.95) * n);
      const hold = rng.chance(0.6) ? -1 : rng.logUniform(0.5 * HOUR, 240 * HOUR);
      const closePoint = hold < 0 ? -1 : pointAtOrAfter(path.times, path.times[openPoint]! + hold);
      const side = rng.chance(markets[k]!.longBias) ? 'buy' : 'sell';
      const usd = Math.min(
        NOTIONAL_MAX,
        Math.max(NOTIONAL_MIN, NOTIONAL_MEDIAN * Math.exp(NOTIONAL_SIGMA * rng.normal())),
      );
      const price = BigInt(pm.ticks[openPoint]!) * inst.tickSize;
      const unitUsd =
        (Number(price) / Number(pow10(inst.priceDp))) * (Number(inst.lotSize) / Number(pow10(inst.sizeDp)));
      const lots = Math.max(1, Math.round(usd / unitUsd));
      const size = BigInt(lots) * inst.lotSize;
      const tierMax = ratesAt(inst, size, price).maxLeverage;
      const cap = Number((tierMax < inst.maxLeverage ? tierMax : inst.maxLeverage) / LEVERAGE_ONE);
      const leverage = Math.max(1, Math.min(LEVERAGES[rng.weighted(LEVERAGE_WEIGHTS)]!, cap));
      const value = notional(inst, size, price, 'ceil');
      const initialMargin = initialMarginAtLeverage(value, BigInt(leverage) * LEVERAGE_ONE);
      const fee = ceilDiv(value * takerFees[k]!, RATE_ONE);
      need += initialMargin + 2n * fee;
      plannedNotional[k]! += value;
      planned.push({ market: k, side, lots, leverage, openPoint, closePoint, initialMargin, fee });
    }
    // Cushion: deposit / need, in thousandths.
    const band = rng.weighted([35, 45, 20]);
    const cushion =
      band === 0 ? rng.float(1.0, 1.2) : band === 1 ? rng.logUniform(1.2, 3) : rng.logUniform(3, 12);
    const unit = pow10(insts[0]!.settleDp);
    const deposit = ceilDiv(ceilDiv(need * BigInt(Math.round(cushion * 1000)), 1000n), unit) * unit;
    const autoAdd = rng.chance(0.25)
      ? {
          policy: (rng.chance(0.7) ? 'addInitialMargin' : 'restoreInitialMargin') as AutoAddPolicy,
          trigger: '0.8',
        }
      : null;
    const siloDraw = Rng.forItem(seed, STREAM.silo, i).next();
    traders.push({ index: i, id: `t${i + 1}`, deposit, autoAdd, positions: planned, siloDraw });
    positions += planned.length;
  }
  return { traders, plannedNotional, positions };
}
