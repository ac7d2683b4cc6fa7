/**
 * The live demo's driver: everything it does to the service goes through the API, signed, as any client's would.
 *
 * Setup: the markets (`POST /admin/markets`, the simulation's configs), the insurance fund, the market maker's
 * account, the first oracle quotes and the first ladder. Then, concurrently until stopped:
 * - the feeder: one data minute per step, `speed` steps per wall second — an oracle quote per market and source
 *   (`POST /admin/oracle`), then the maker's re-quote; more than two seconds behind (a busy machine), it skips ahead
 *   rather than replaying the backlog at full speed;
 * - the traders and the `demo` account (demo-traders.ts);
 * - the watcher: the public trades and liquidations of every market, counted for the status line.
 */
import type { MarketConfig } from '../engine/types.ts';
import type { ApiKey, ApiResult, DemoApi } from './demo-client.ts';
import type { DemoFeed, FeedPoint } from './demo-feed.ts';
import { DemoMaker, MAKER_ACCOUNT, Units } from './demo-maker.ts';
import { DemoAccount, type DemoContext, SETTLE, SimTrader, type TraderSpec } from './demo-traders.ts';

/** Market shares of the traders' positions (BTCUSDT, ETHUSDT, SOLUSDT: the simulation's weights). */
const WEIGHTS: Record<string, number> = { BTCUSDT: 0.5, ETHUSDT: 0.3, SOLUSDT: 0.2 };
const INSURANCE = '1000000';
const MAKER_DEPOSIT = '1000000000';
/**
 * The maker's ladder: a level every 0.1% of the price, 8 a side, about 75,000 USDT each. A minute of this data moves
 * BTC 0.1–0.3%, so a re-quote moves a few levels a side (each an amend): a finer grid would cost amends, not depth.
 */
const LADDER = { stepRate: 0.001, levels: 8, levelNotional: 75_000 };
const WATCH_EVERY_MS = 2_000;

export class DemoSetupError extends Error {}

/** The largest notional a position may reach at `leverage` under the market's tiers (Infinity: no tier limits it). */
export function maxNotional(config: MarketConfig, leverage: number): number {
  const r = config.risk;
  if (r.kind !== 'brackets' && r.kind !== 'hyperliquid') return Number.POSITIVE_INFINITY;
  let cap = 0;
  for (const t of r.tiers)
    if (Number(t.maxLeverage) >= leverage)
      cap = Math.max(cap, t.cap === null ? Number.POSITIVE_INFINITY : Number(t.cap));
  return cap;
}

export interface LiveDemoOptions {
  api: DemoApi;
  /** The demo's own admin key (oracle, deposits, the maker, the `demo` account). */
  admin: ApiKey;
  feed: DemoFeed;
  /** Data minutes per wall second. */
  speed: number;
  seed: number;
  traders: readonly { spec: TraderSpec; key: ApiKey }[];
}

export interface DemoCounts {
  trades: number;
  liquidations: { isolated: number; cross: number };
  /** Per market. */
  liquidationsBySymbol: Record<string, number>;
}

interface IdRow {
  id: string;
}

/** `seq-index` event ids in order (the service's eventId). */
function idOrder(id: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(id);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}
const after = (a: [number, number], b: [number, number]) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

export class LiveDemo {
  /** The feed's current point (what the traders see as the price). */
  point: FeedPoint;
  step = 0;
  skipped = 0;
  readonly counts: DemoCounts = {
    trades: 0,
    liquidations: { isolated: 0, cross: 0 },
    liquidationsBySymbol: {},
  };
  private readonly maker: DemoMaker;
  private stopping = false;
  /** The wake-ups of every pending sleep (a stop wakes them all). */
  private readonly sleepers = new Set<() => void>();
  private loops: Promise<unknown>[] = [];
  private readonly seen = new Map<string, [number, number]>();

  constructor(private readonly o: LiveDemoOptions) {
    this.point = o.feed.at(0);
    this.maker = new DemoMaker(
      o.api,
      o.admin,
      o.feed.markets.map((m, k) => {
        const units = new Units(m.config.tickSize, m.config.lotSize);
        const p0 = Number(units.price(this.point.ticks[k]!));
        const tick = Number(units.price(1));
        return {
          symbol: m.config.symbol,
          units,
          stepTicks: Math.max(1, Math.round((p0 * LADDER.stepRate) / tick)),
          levels: LADDER.levels,
          levelLots: Math.max(1, Math.ceil(LADDER.levelNotional / (p0 * Number(units.size(1))))),
        };
      }),
    );
  }

  get symbols(): string[] {
    return this.o.feed.markets.map((m) => m.config.symbol);
  }

  /** Markets, insurance fund, the maker's account, the first quotes and ladder; a DemoSetupError if refused. */
  async setup(): Promise<void> {
    const { api, admin, feed } = this.o;
    const must = async (what: string, r: Promise<ApiResult<unknown>>) => {
      const { status, code } = await r;
      if (status !== 200) throw new DemoSetupError(`${what}: ${status} ${code}`);
    };
    for (const m of feed.markets)
      await must(`create ${m.config.symbol}`, api.call(admin, 'createMarket', m.config));
    await must(
      'fund the insurance fund',
      api.call(admin, 'fundInsurance', { asset: SETTLE, amount: INSURANCE }),
    );
    await must(
      'fund the market maker',
      api.call(admin, 'deposit', { account: MAKER_ACCOUNT, asset: SETTLE, amount: MAKER_DEPOSIT }),
    );
    // Isolated at 1x: the maker's inventory is fully collateralized and never liquidated.
    for (const s of this.symbols)
      await must(
        `maker leverage on ${s}`,
        api.call(admin, 'setLeverage', { symbol: s, leverage: '1', account: MAKER_ACCOUNT }),
      );
    for (const r of await this.quote(this.point))
      if (r !== 200) throw new DemoSetupError(`first oracle quote: ${r}`);
    await this.maker.requote(this.point.ticks);
  }

  /** Starts the feeder, the traders, the `demo` account and the watcher. */
  start(): void {
    const ctx: DemoContext = {
      api: this.o.api,
      admin: this.o.admin,
      markets: this.o.feed.markets.map((m, k) => ({
        symbol: m.config.symbol,
        units: this.maker.ladders[k]!.units,
        weight: WEIGHTS[m.config.symbol] ?? 0.1,
        maxNotional: (leverage: number) => maxNotional(m.config, leverage),
      })),
      ticks: (k) => this.point.ticks[k]!,
      stopped: () => this.stopping,
      sleep: (ms) => this.sleep(ms),
    };
    this.loops = [
      this.feeder(),
      this.watcher(),
      new DemoAccount(ctx).run(),
      ...this.o.traders.map((t) => new SimTrader(t.spec, t.key, ctx, this.o.seed).run()),
    ].map((p) => p.catch(() => undefined));
  }

  /** Stops every loop; resolves when they have ended, or after `deadlineMs` (each request has its own deadline). */
  async stop(deadlineMs = 6_000): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.sleepers]) wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.loops),
      new Promise((r) => {
        timer = setTimeout(r, deadlineMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Waits `ms`; false (at once) when the demo stops meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    if (this.stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve(!this.stopping);
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      this.sleepers.add(wake);
    });
  }

  /** One quote per market and oracle source; the statuses. */
  private quote(p: FeedPoint): Promise<number[]> {
    const { api, admin, feed } = this.o;
    return Promise.all(
      feed.markets.flatMap((m, k) =>
        (m.config.oracle?.sources ?? []).map(async (s) => {
          const r = await api.call(admin, 'oracleQuote', {
            symbol: m.config.symbol,
            source: s.name,
            price: feed.price(k, p.ticks[k]!),
          });
          return r.status;
        }),
      ),
    );
  }

  private async feeder(): Promise<void> {
    const perStepMs = 1_000 / this.o.speed;
    const t0 = performance.now();
    let n = 1;
    while (!this.stopping) {
      const due = Math.floor((performance.now() - t0) / perStepMs);
      if (n > due) {
        if (!(await this.sleep(t0 + n * perStepMs - performance.now()))) return;
        continue;
      }
      const behind = due - n;
      if (behind > 2 * this.o.speed + 1) {
        this.skipped += behind;
        n = due;
      }
      this.point = this.o.feed.at(n);
      this.step = n;
      await this.quote(this.point);
      await this.maker.requote(this.point.ticks);
      n++;
    }
  }

  /** Counts new public trades and liquidations on every market (ids newer than the last seen). */
  private async watcher(): Promise<void> {
    const { api } = this.o;
    while (await this.sleep(WATCH_EVERY_MS)) {
      for (const s of this.symbols) {
        const trades = this.fresh(`trades:${s}`, await api.call(null, 'trades', s, { limit: 1000 }));
        this.counts.trades += trades.length;
        const liq = this.fresh(`liquidations:${s}`, await api.call(null, 'liquidations', s, { limit: 500 }));
        for (const l of liq) {
          if (l.mode === 'cross') this.counts.liquidations.cross++;
          else this.counts.liquidations.isolated++;
        }
        this.counts.liquidationsBySymbol[s] = (this.counts.liquidationsBySymbol[s] ?? 0) + liq.length;
      }
    }
  }

  /** The rows of a list newer than the last seen of `what`. */
  private fresh<T extends IdRow>(what: string, r: ApiResult<T[]>): T[] {
    if (!r.json) return [];
    const last = this.seen.get(what) ?? [0, 0];
    const fresh = r.json.filter((x) => after(idOrder(x.id), last));
    for (const x of fresh) {
      const o = idOrder(x.id);
      if (after(o, this.seen.get(what) ?? [0, 0])) this.seen.set(what, o);
    }
    return fresh;
  }
}
