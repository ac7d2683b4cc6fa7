/**
 * The live demo's traders, through the API, each with its own API key: a seeded population that opens isolated and
 * cross positions at 5x–50x, long and short, with market orders, marketable limits (IOC a little through the price)
 * and resting limits; some add margin to a position in trouble, some close and re-open; a trader whose position
 * disappeared without its own close was liquidated, and re-enters after a pause (topped up by the operator when its
 * wallet ran dry). And the `demo` account, the one a newcomer logs in as: it keeps a BTCUSDT isolated 20x long, an
 * ETHUSDT isolated short, a SOLUSDT cross long and a resting BTCUSDT bid, re-opening what it lost after a pause.
 *
 * A trader knows the price the way anyone watching the feed does (the demo's own feed); it reads its positions and
 * balance from the API. Every choice is drawn from the trader's own seeded stream (src/sim/rng.ts), so the same
 * seed makes the same population and the same choices at each decision; what the market has done by then depends
 * on the wall clock.
 */
import type { Position } from '../client/client.ts';
import type { MarginMode } from '../engine/types.ts';
import { Rng } from '../sim/rng.ts';
import type { ApiKey, DemoApi } from './demo-client.ts';
import type { Units } from './demo-maker.ts';

/** Streams of the seeded generator for the demo (the simulation's use 1–3). */
const STREAM_TRADER = 101;

/** What a trader or the demo account needs from the demo: the API, the operator's key, prices, a clock. */
export interface DemoContext {
  api: DemoApi;
  /** The demo's own admin key (deposits; acting for the `demo` account). */
  admin: ApiKey;
  markets: readonly DemoMarketView[];
  /** The price the feed last quoted on market `k`, in its ticks. */
  ticks(k: number): number;
  /** Whether the demo is shutting down. */
  stopped(): boolean;
  /** Waits `ms` (less if the demo stops); false once it is stopping. */
  sleep(ms: number): Promise<boolean>;
}

export interface DemoMarketView {
  symbol: string;
  units: Units;
  /** Share of the traders' positions (cross traders lean to the first market, BTCUSDT). */
  weight: number;
  /** The largest notional (USDT) a position may have at this leverage (the market's risk tiers). */
  maxNotional(leverage: number): number;
}

export const SETTLE = 'USDT';
const LEVERAGES = [5, 10, 20, 25, 50];
const LEVERAGE_WEIGHTS = [1, 2, 3, 2, 3];
/** Largest notional a trader opens (USDT), within what the maker's ladder can absorb in a liquidation. */
const MAX_NOTIONAL = 250_000;
/** The market band (marketBand in src/sim/markets.ts) and the taker fee: what a market order reserves beyond IM. */
const MARKET_RESERVE = 0.05 + 0.0005;
/** How far through the price a marketable limit goes, and how far off it a resting one waits. */
const THROUGH = 0.003;
const PASSIVE = 0.0005;
const FEE = 0.0005;
/** Extra weight of the first market (BTCUSDT) in cross traders' choices. */
const CROSS_FIRST_MARKET = 0.3;

export interface TraderSpec {
  index: number;
  account: string;
  mode: MarginMode;
  /** USDT: the first deposit, and each top-up. */
  deposit: number;
  maxPositions: number;
  /** Adds margin to an isolated position now and then. */
  addsMargin: boolean;
  longBias: number;
}

/** The population, from the seed: trader i is the same whatever n. Two in five trade cross. */
export function planTraders(seed: number, n: number): TraderSpec[] {
  return Array.from({ length: n }, (_, i) => {
    const rng = Rng.forItem(seed, STREAM_TRADER, i);
    const mode: MarginMode = i % 5 === 1 || i % 5 === 3 ? 'cross' : 'isolated';
    return {
      index: i,
      account: `trader${String(i + 1).padStart(3, '0')}`,
      mode,
      // Small enough that the notional caps rarely bind: a cross wallet is then as leveraged as the trader meant.
      deposit: Math.round(rng.logUniform(1_000, 10_000)),
      maxPositions: rng.chance(0.35) ? 2 : 1,
      addsMargin: mode === 'isolated' && rng.chance(0.3),
      longBias: rng.float(0.45, 0.7),
    };
  });
}

const usdt = (x: number) => x.toFixed(2);

export class SimTrader {
  private readonly rng: Rng;
  /** Positions seen at the last read, by symbol. */
  private held = new Map<string, Position>();
  /** Symbols this trader itself closed since the last read (their disappearance is no liquidation). */
  private readonly closing = new Set<string>();
  private resting: { id: string; symbol: string; until: number } | null = null;
  private pauseUntil = 0;

  constructor(
    readonly spec: TraderSpec,
    private readonly key: ApiKey,
    private readonly ctx: DemoContext,
    seed: number,
  ) {
    // The decisions' stream, apart from the one the spec was drawn from.
    this.rng = Rng.forItem(seed ^ 0x5eed, STREAM_TRADER, spec.index);
  }

  /** Funds the account, sets its margin mode, then trades until the demo stops. */
  async run(): Promise<void> {
    const { api, admin } = this.ctx;
    await api.call(admin, 'deposit', {
      account: this.spec.account,
      asset: SETTLE,
      amount: usdt(this.spec.deposit),
    });
    if (this.spec.mode === 'cross')
      for (const m of this.ctx.markets)
        await api.call(this.key, 'setMarginMode', { symbol: m.symbol, marginMode: 'cross' });
    if (!(await this.ctx.sleep(this.rng.int(200, 1_500)))) return;
    while (!this.ctx.stopped()) {
      await this.cycle();
      if (!(await this.ctx.sleep(this.rng.int(600, 2_400)))) return;
    }
  }

  private async cycle(): Promise<void> {
    const { api } = this.ctx;
    const r = await api.call(this.key, 'positions');
    if (!r.json) return;
    const now = Date.now();
    const current = new Map(r.json.filter((p) => p.side !== null).map((p) => [p.symbol, p]));
    // Gone without our own close: liquidated. Re-enter after a pause.
    for (const symbol of this.held.keys())
      if (!current.has(symbol) && !this.closing.has(symbol))
        this.pauseUntil = now + this.rng.int(2_000, 6_000);
    this.closing.clear();
    this.held = current;
    if (this.resting) {
      if (now < this.resting.until) return;
      // Not filled in time: take it down (it may have filled meanwhile: then this is refused, harmlessly).
      await api.call(this.key, 'cancelOrder', this.resting.id, { symbol: this.resting.symbol });
      this.resting = null;
      return;
    }
    if (now < this.pauseUntil) return;
    if (current.size < this.spec.maxPositions) return this.open(current);
    const held = [...current.values()];
    const p = held[this.rng.below(held.length)]!;
    if (this.spec.addsMargin && p.marginMode === 'isolated' && this.rng.chance(0.25)) {
      const add = Math.max(1, Number(p.initialMargin) * this.rng.float(0.1, 0.4));
      await api.call(this.key, 'addMargin', { symbol: p.symbol, amount: usdt(add) });
    } else if (this.rng.chance(0.06)) {
      this.closing.add(p.symbol);
      await api.call(this.key, 'placeOrder', {
        symbol: p.symbol,
        side: p.side === 'long' ? 'sell' : 'buy',
        type: 'market',
        amount: p.contracts,
        reduceOnly: true,
      });
    }
  }

  /** Opens a position on a market it does not hold: leverage, then a market, marketable or resting order. */
  private async open(current: Map<string, Position>): Promise<void> {
    const { api, admin, markets } = this.ctx;
    const cross = this.spec.mode === 'cross';
    const free = markets.map((m, k) =>
      current.has(m.symbol) ? 0 : cross && k === 0 ? m.weight + CROSS_FIRST_MARKET : m.weight,
    );
    if (free.every((w) => w === 0)) return;
    const k = this.rng.weighted(free);
    const m = markets[k]!;
    const leverage = LEVERAGES[this.rng.weighted(LEVERAGE_WEIGHTS)]!;
    const buy = this.rng.chance(this.spec.longBias);
    // Market, marketable limit, resting limit. A market order reserves the whole band beyond its margin, which
    // would leave a cross wallet lightly used: cross traders use limits.
    const kind = this.rng.weighted(this.spec.mode === 'cross' ? [0, 3, 1] : [1, 2, 1]);
    const share = this.spec.mode === 'cross' ? this.rng.float(0.8, 0.95) : this.rng.float(0.4, 0.9);
    const b = await api.call(this.key, 'balance');
    if (!b.json) return;
    let available = Number(b.json.free[SETTLE] ?? '0');
    if (available < this.spec.deposit * 0.2 && current.size === 0) {
      const d = await api.call(admin, 'deposit', {
        account: this.spec.account,
        asset: SETTLE,
        amount: usdt(this.spec.deposit),
      });
      if (d.status === 200) available += this.spec.deposit;
    }
    // What the order reserves per unit of notional beyond nothing: initial margin, the loss against the mark its
    // limit allows, the taker fee.
    const extra = kind === 0 ? MARKET_RESERVE : kind === 1 ? THROUGH + FEE : FEE;
    const budget = (available * share) / (this.spec.maxPositions - current.size);
    const notional = Math.min(MAX_NOTIONAL, m.maxNotional(leverage), budget / (1 / leverage + extra));
    const ticks = this.ctx.ticks(k);
    const price = Number(m.units.price(ticks));
    const lots = Math.floor(notional / (price * Number(m.units.size(1))));
    if (lots < 1) return;
    const lev = await api.call(this.key, 'setLeverage', {
      symbol: m.symbol,
      leverage: String(leverage),
    });
    if (lev.status !== 200) return;
    const side = buy ? 'buy' : 'sell';
    const amount = m.units.size(lots);
    if (kind === 0) {
      await api.call(this.key, 'placeOrder', { symbol: m.symbol, side, type: 'market', amount });
      return;
    }
    const off = kind === 1 ? THROUGH : -PASSIVE;
    const limit = buy ? Math.floor(ticks * (1 + off)) : Math.ceil(ticks * (1 - off));
    const o = await api.call(this.key, 'placeOrder', {
      symbol: m.symbol,
      side,
      type: 'limit',
      price: m.units.price(limit),
      amount,
      timeInForce: kind === 1 ? 'IOC' : 'GTC',
    });
    if (o.json?.status === 'open')
      this.resting = { id: o.json.id, symbol: m.symbol, until: Date.now() + this.rng.int(3_000, 8_000) };
  }
}

/** One position the `demo` account keeps open. */
interface DemoTarget {
  symbol: string;
  side: 'buy' | 'sell';
  mode: MarginMode;
  leverage: number;
  /** USDT. */
  notional: number;
}

export const DEMO_ACCOUNT = 'demo';
const DEMO_DEPOSIT = 100_000;
const DEMO_TARGETS: readonly DemoTarget[] = [
  { symbol: 'BTCUSDT', side: 'buy', mode: 'isolated', leverage: 20, notional: 30_000 },
  { symbol: 'ETHUSDT', side: 'sell', mode: 'isolated', leverage: 10, notional: 20_000 },
  { symbol: 'SOLUSDT', side: 'buy', mode: 'cross', leverage: 5, notional: 15_000 },
];
/** The resting order: a bid 3% under BTCUSDT's price. */
const DEMO_RESTING = { symbol: 'BTCUSDT', clientOrderId: 'demo-resting-bid', below: 0.03, notional: 5_000 };
/** A position lost (liquidated, or closed by hand) comes back after this long. */
const REOPEN_AFTER_MS = 10_000;

/**
 * Keeps the `demo` account's positions and resting order in place, acting for it with the operator's key (the
 * printed demo key's rate limit is left to whoever logs in with it).
 */
export class DemoAccount {
  /** When each target was first seen missing (absent: held, or never opened yet). */
  private readonly missingSince = new Map<string, number>();
  private opened = new Set<string>();

  constructor(private readonly ctx: DemoContext) {}

  async run(): Promise<void> {
    const { api, admin } = this.ctx;
    await api.call(admin, 'deposit', {
      account: DEMO_ACCOUNT,
      asset: SETTLE,
      amount: usdt(DEMO_DEPOSIT),
    });
    for (const t of DEMO_TARGETS)
      if (t.mode === 'cross')
        await api.call(admin, 'setMarginMode', {
          symbol: t.symbol,
          marginMode: 'cross',
          account: DEMO_ACCOUNT,
        });
    while (!this.ctx.stopped()) {
      await this.check();
      if (!(await this.ctx.sleep(2_000))) return;
    }
  }

  private index(symbol: string): number {
    return this.ctx.markets.findIndex((m) => m.symbol === symbol);
  }

  private async check(): Promise<void> {
    const { api, admin } = this.ctx;
    const q = { account: DEMO_ACCOUNT };
    const [pos, ord, bal] = await Promise.all([
      api.call(admin, 'positions', q),
      api.call(admin, 'orders', q),
      api.call(admin, 'balance', q),
    ]);
    if (!pos.json || !ord.json || !bal.json) return;
    const now = Date.now();
    if (Number(bal.json.free[SETTLE] ?? '0') < DEMO_DEPOSIT / 4)
      await api.call(admin, 'deposit', {
        account: DEMO_ACCOUNT,
        asset: SETTLE,
        amount: usdt(DEMO_DEPOSIT / 2),
      });
    const held = new Set(pos.json.filter((p) => p.side !== null).map((p) => p.symbol));
    for (const t of DEMO_TARGETS) {
      if (held.has(t.symbol)) {
        this.missingSince.delete(t.symbol);
        this.opened.add(t.symbol);
        continue;
      }
      const since = this.missingSince.get(t.symbol) ?? now;
      this.missingSince.set(t.symbol, since);
      // The first time at once; after a loss, once the pause is over.
      if (!this.opened.has(t.symbol) || now - since >= REOPEN_AFTER_MS) await this.open(t);
    }
    const k = this.index(DEMO_RESTING.symbol);
    if (k < 0) return;
    const resting = ord.json.find((o) => o.clientOrderId === DEMO_RESTING.clientOrderId);
    const price = this.ctx.ticks(k);
    const m = this.ctx.markets[k]!;
    // Far behind a rising price (near the edge of the limit band): move it back under the price.
    if (
      resting &&
      resting.price !== null &&
      m.units.ticks(resting.price) >= price * (1 - 2 * DEMO_RESTING.below)
    )
      return;
    if (resting)
      await api.call(admin, 'cancelOrder', resting.id, { symbol: m.symbol, account: DEMO_ACCOUNT });
    const limit = Math.floor(price * (1 - DEMO_RESTING.below));
    const lots = Math.max(
      1,
      Math.floor(DEMO_RESTING.notional / (Number(m.units.price(limit)) * Number(m.units.size(1)))),
    );
    await api.call(admin, 'placeOrder', {
      symbol: m.symbol,
      side: 'buy',
      type: 'limit',
      price: m.units.price(limit),
      amount: m.units.size(lots),
      clientOrderId: DEMO_RESTING.clientOrderId,
      account: DEMO_ACCOUNT,
    });
  }

  private async open(t: DemoTarget): Promise<void> {
    const { api, admin } = this.ctx;
    const k = this.index(t.symbol);
    if (k < 0) return;
    const m = this.ctx.markets[k]!;
    // Refused while the market has open orders (the resting bid, or one placed in the app): the leverage set before
    // stays, and the order opens at it.
    await api.call(admin, 'setLeverage', {
      symbol: t.symbol,
      leverage: String(t.leverage),
      account: DEMO_ACCOUNT,
    });
    const price = Number(m.units.price(this.ctx.ticks(k)));
    const lots = Math.max(1, Math.floor(t.notional / (price * Number(m.units.size(1)))));
    const r = await api.call(admin, 'placeOrder', {
      symbol: t.symbol,
      side: t.side,
      type: 'market',
      amount: m.units.size(lots),
      account: DEMO_ACCOUNT,
    });
    if (r.status === 200) this.opened.add(t.symbol);
  }
}
