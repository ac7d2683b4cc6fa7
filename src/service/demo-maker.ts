/**
 * The live demo's market maker, through the API: one well-funded account (`mm`, isolated at 1x on every market, so
 * it is never liquidated) keeping a ladder of `levels` bids and asks on a grid of `stepTicks` around each market's
 * price, re-quoted on every price step — so traders' orders fill and liquidation orders close against a book.
 *
 * A re-quote reads the maker's open orders (`GET /orders`: fills since the last one show as missing or smaller
 * orders) and sends only what the move requires, as the simulation's maker does (src/sim/market-maker.ts): an
 * order already at a wanted price stays (topped up if partly filled), the others are amended to the prices still
 * missing, and the side moving away from the other goes first (asks when the price rises), so the maker never
 * crosses itself. An amend that would cross the book (a trader's order left behind by the move) is replaced by a
 * new order that takes it. Quotes are plain GTC limits, not post-only, for the same reason.
 *
 * Every few steps it also unwinds what the backstop (`@insurance`) took over in liquidations: a reduce-only IOC of
 * at most one level, 1% through the price, as the simulation does.
 */
import type { Order } from '../client/client.ts';
import { formatDecimal, parseDecimal } from '../core/fixed.ts';
import type { ApiKey, DemoApi } from './demo-client.ts';

export const MAKER_ACCOUNT = 'mm';
const BACKSTOP = '@insurance';

/** Price ticks and size lots of one market, as the decimal strings requests and answers carry. */
export class Units {
  private readonly tick: bigint;
  private readonly lot: bigint;
  constructor(tickSize: string, lotSize: string) {
    this.tick = parseDecimal(tickSize, 'tickSize', { dp: 18, positive: true });
    this.lot = parseDecimal(lotSize, 'lotSize', { dp: 18, positive: true });
  }
  price(ticks: number): string {
    return formatDecimal(BigInt(Math.max(1, Math.round(ticks))) * this.tick, 18);
  }
  /** A price string in whole ticks, rounded down. */
  ticks(price: string): number {
    return Number(parseDecimal(price, 'price', { dp: 18 }) / this.tick);
  }
  size(lots: number): string {
    return formatDecimal(BigInt(Math.max(0, Math.floor(lots))) * this.lot, 18);
  }
  lots(size: string): number {
    return Number(parseDecimal(size, 'size', { dp: 18 }) / this.lot);
  }
}

export interface LadderSpec {
  symbol: string;
  units: Units;
  stepTicks: number;
  levels: number;
  levelLots: number;
}

export class DemoMaker {
  private readonly anchors: number[];
  private steps = 0;

  constructor(
    private readonly api: DemoApi,
    private readonly admin: ApiKey,
    readonly ladders: readonly LadderSpec[],
    /** Unwind the backstop's positions every this many steps. */
    private readonly unwindEvery = 5,
  ) {
    this.anchors = ladders.map(() => -1);
  }

  /** Moves every ladder to its market's price (`ticks[k]`); resolves once the maker's requests are answered. */
  async requote(ticks: readonly number[]): Promise<void> {
    const r = await this.api.call(this.admin, 'orders', { account: MAKER_ACCOUNT });
    if (!r.json) return;
    const orders = r.json;
    await Promise.all(
      this.ladders.map((l, k) =>
        this.market(
          k,
          ticks[k]!,
          orders.filter((o) => o.symbol === l.symbol),
        ),
      ),
    );
    if (++this.steps % this.unwindEvery === 0) await this.unwindBackstop(ticks);
  }

  private async market(k: number, priceTicks: number, orders: Order[]): Promise<void> {
    const l = this.ladders[k]!;
    const step = l.stepTicks;
    const anchor = Math.max(step * (l.levels + 1), Math.round(priceTicks / step) * step);
    const up = anchor >= this.anchors[k]!;
    this.anchors[k] = anchor;
    const sides: ('buy' | 'sell')[] = up ? ['sell', 'buy'] : ['buy', 'sell'];
    for (const side of sides)
      await this.side(
        l,
        side,
        anchor,
        orders.filter((o) => o.side === side),
      );
  }

  private async side(l: LadderSpec, side: 'buy' | 'sell', anchor: number, orders: Order[]): Promise<void> {
    const dir = side === 'buy' ? -1 : 1;
    const wanted = Array.from({ length: l.levels }, (_, i) => anchor + dir * l.stepTicks * (i + 1));
    const held = new Set<number>();
    const movable: Order[] = [];
    const work: Promise<unknown>[] = [];
    for (const o of orders) {
      // Every quote is a limit: a priceless order (a waiting stop, which the maker never places) is not on the grid.
      const t = o.price === null ? -1 : l.units.ticks(o.price);
      if (wanted.includes(t) && !held.has(t)) {
        held.add(t);
        if (l.units.lots(o.remaining) < l.levelLots) work.push(this.amend(l, o, null));
      } else movable.push(o);
    }
    // Nearest prices first: if orders run short, the inside of the ladder is what gets quoted.
    for (const t of wanted) {
      if (held.has(t)) continue;
      const o = movable.shift();
      work.push(o ? this.amend(l, o, t) : this.place(l, side, t));
    }
    for (const o of movable) work.push(this.cancel(l, o));
    await Promise.all(work);
  }

  /** Moves (or tops up, `to` null) an order; one the book would cross is canceled and placed anew. */
  private async amend(l: LadderSpec, o: Order, to: number | null): Promise<void> {
    const r = await this.api.call(this.admin, 'amendOrder', o.id, {
      symbol: l.symbol,
      ...(to === null ? {} : { price: l.units.price(to) }),
      amount: l.units.size(l.levelLots),
      account: MAKER_ACCOUNT,
    });
    if (r.status === 200 || to === null) return;
    // INVALID_PRICE: the new price would cross; UNKNOWN_ORDER: filled meanwhile. Either way the level is empty.
    if (r.code === 'INVALID_PRICE') await this.cancel(l, o);
    if (r.code === 'INVALID_PRICE' || r.code === 'UNKNOWN_ORDER') await this.place(l, o.side, to);
  }

  private async place(l: LadderSpec, side: 'buy' | 'sell', ticks: number): Promise<void> {
    await this.api.call(this.admin, 'placeOrder', {
      symbol: l.symbol,
      side,
      type: 'limit',
      price: l.units.price(ticks),
      amount: l.units.size(l.levelLots),
      account: MAKER_ACCOUNT,
    });
  }

  private async cancel(l: LadderSpec, o: Order): Promise<void> {
    await this.api.call(this.admin, 'cancelOrder', o.id, { symbol: l.symbol, account: MAKER_ACCOUNT });
  }

  /** The backstop's positions, closed through the book a level at a time (reduce-only, 1% through the price). */
  private async unwindBackstop(ticks: readonly number[]): Promise<void> {
    const r = await this.api.call(this.admin, 'positions', { account: BACKSTOP });
    if (!r.json) return;
    await Promise.all(
      r.json.map((p) => {
        const k = this.ladders.findIndex((l) => l.symbol === p.symbol);
        const l = this.ladders[k];
        if (!l || p.side === null) return undefined;
        const lots = Math.min(l.units.lots(p.contracts), l.levelLots);
        if (lots < 1) return undefined;
        const px = ticks[k]!;
        return this.api.call(this.admin, 'placeOrder', {
          symbol: l.symbol,
          side: p.side === 'long' ? 'sell' : 'buy',
          type: 'limit',
          price: l.units.price(p.side === 'long' ? Math.floor(px * 0.99) : Math.ceil(px * 1.01)),
          amount: l.units.size(lots),
          timeInForce: 'IOC',
          reduceOnly: true,
          account: BACKSTOP,
        });
      }),
    );
  }
}
