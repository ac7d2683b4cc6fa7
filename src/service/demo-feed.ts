/**
 * The live demo's prices: the embedded Bitstamp BTC/USD minutes (the file `ringfence simulate` replays) as BTCUSDT,
 * and the simulation's two synthetic markets drawn on the same minutes from the seed (ETHUSDT, SOLUSDT: β × BTC's
 * returns plus noise, correlation 0.8 and 0.7, src/sim/path.ts). The replay starts at DEMO_START, a stretch where
 * the price moves, and loops: from the file's last minute it glides back to DEMO_START's prices in small steps (a
 * made-up bridge, at most 0.1% a minute, so the seam liquidates no one by itself) and plays the stretch again.
 *
 * Step n is one data minute; which wall-clock instant it belongs to is the caller's business (`--speed`).
 */
import { readFileSync } from 'node:fs';
import type { MarketConfig } from '../engine/types.ts';
import { parsePriceCsv } from '../sim/csv.ts';
import { simMarkets } from '../sim/markets.ts';
import { buildPath, type PathMarket, priceString } from '../sim/path.ts';
import { DEFAULT_DATA } from '../sim/simulate.ts';

/**
 * Where the replay starts: 2025-01-20 14:30 UTC (BTC 107,174). Minute closes from there: +0.5% by 14:50, −2.4% at
 * 16:20, back to −0.7% at 17:00, −4.9% at 17:40 (the file's worst hour, data/README.md), −3.4% at 18:00. At the
 * default 10 minutes a second that is 2, 11, 15, 19 and 21 s of wall time: 20x–50x longs and shorts are liquidated
 * within the first half-minute.
 */
export const DEMO_START = '2025-01-20T14:30:00Z';
/** The oracle's staleness limit: the feeder quotes many times a second, so a minute without one means it stopped. */
const STALENESS_MS = 60_000;
/** The bridge's largest move per minute (log return). */
const BRIDGE_STEP = 0.001;
const MINUTE = 60_000;

export interface DemoMarket {
  config: MarketConfig;
  path: PathMarket;
  /** Whether the prices are drawn (ETHUSDT, SOLUSDT) rather than replayed (BTCUSDT). */
  synthetic: boolean;
}

export interface FeedPoint {
  /** The data minute (ms since epoch); bridge minutes continue from the file's last. */
  time: number;
  /** Per market, the price in its ticks. */
  ticks: number[];
  bridge: boolean;
}

export class DemoFeed {
  readonly markets: DemoMarket[];
  /** Index of DEMO_START's minute in the file. */
  readonly start: number;
  private readonly times: Float64Array;
  private readonly bridgeSteps: number;

  constructor(seed: number) {
    const series = parsePriceCsv(readFileSync(DEFAULT_DATA, 'utf8'), DEFAULT_DATA, 'bitstamp');
    const sims = simMarkets(STALENESS_MS);
    const path = buildPath(series.bars, sims, 'close', seed);
    this.times = path.times;
    this.markets = sims.map((m, k) => ({
      config: m.config,
      path: path.markets[k]!,
      synthetic: m.synthetic !== null,
    }));
    const t0 = Date.parse(DEMO_START);
    const i = this.times.findIndex((t) => t >= t0);
    this.start = i < 0 ? 0 : i;
    const last = this.times.length - 1;
    let steps = 1;
    for (const m of this.markets) {
      const jump = Math.abs(Math.log(m.path.ticks[this.start]! / m.path.ticks[last]!));
      steps = Math.max(steps, Math.ceil(jump / BRIDGE_STEP));
    }
    this.bridgeSteps = steps;
  }

  /** Data minutes in one loop: DEMO_START to the file's end, then the bridge back. */
  get cycle(): number {
    return this.times.length - this.start + this.bridgeSteps;
  }

  /** The prices of step `n` (0: DEMO_START's minute). */
  at(n: number): FeedPoint {
    const r = n % this.cycle;
    const played = this.times.length - this.start;
    if (r < played) {
      const i = this.start + r;
      return { time: this.times[i]!, ticks: this.markets.map((m) => m.path.ticks[i]!), bridge: false };
    }
    // Geometric glide from the last minute toward DEMO_START's; its last step lands one step short of it.
    const last = this.times.length - 1;
    const j = r - played + 1;
    const f = j / (this.bridgeSteps + 1);
    return {
      time: this.times[last]! + j * MINUTE,
      ticks: this.markets.map((m) => {
        const a = m.path.ticks[last]!;
        const b = m.path.ticks[this.start]!;
        return Math.max(1, Math.round(a * (b / a) ** f));
      }),
      bridge: true,
    };
  }

  /** A price in ticks of market `k` as the decimal string a request carries. */
  price(k: number, ticks: number): string {
    return priceString(this.markets[k]!.path, ticks);
  }
}
