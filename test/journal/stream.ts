/**
 * A seeded random command stream for journal tests: deposits, limit / IOC / market orders, cancels of live orders
 * mark moves and a few commands that are rejected (cancels of order 0) over BTCUSDT and ETHUSDT (the engine harness's fixtures), eight accounts. Each command is built
 * from the live engine (cancels hit real order ids, prices sit near the current mark), so the stream can resume
 * from any recovered state: `new CommandStream(seed)` then `next(engine)` repeatedly.
 */
import type { Engine } from '../../src/engine/engine.ts';
import type { Command } from '../../src/engine/types.ts';
import { mix32, Rng } from '../../src/sim/rng.ts';
import { BTCUSDT, ETHUSDT } from '../engine/harness.ts';

export const ACCOUNTS = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7'] as const;
const SPEC = {
  BTCUSDT: { start: 50_000, tickDp: 1, lot: 0.001, lotDp: 3, maxLots: 40 },
  ETHUSDT: { start: 3_000, tickDp: 2, lot: 0.01, lotDp: 2, maxLots: 60 },
} as const;
type Sym = keyof typeof SPEC;
const SYMBOLS = Object.keys(SPEC) as Sym[];
export const START_TIME = 1_700_000_000_000;

/** The commands that open a journal: both markets, their marks, a deposit per account. */
export function setupCommands(time = START_TIME): Command[] {
  const out: Command[] = [
    { type: 'createMarket', time, market: BTCUSDT },
    { type: 'createMarket', time, market: ETHUSDT },
  ];
  for (const s of SYMBOLS) out.push({ type: 'setMarkPrice', time, symbol: s, price: String(SPEC[s].start) });
  for (const a of ACCOUNTS) out.push({ type: 'deposit', time, account: a, asset: 'USDT', amount: '200000' });
  return out;
}

export { Rng };

/** Mixes a seed with a position (e.g. the recovered seq) so a resumed stream differs from the first run's. */
export function mixSeed(seed: number, n: number): number {
  return mix32(seed ^ Math.imul(n | 0, 0x9e3779b1) ^ Math.floor(n / 2 ** 32));
}

export class CommandStream {
  private readonly rng: Rng;
  private time = 0;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /** The next command for `e` (one that will mostly be accepted; some are rejected, which is fine). */
  next(e: Engine): Command {
    const r = this.rng;
    this.time = Math.max(this.time, e.lastTime) + 1 + r.below(3);
    const time = this.time;
    const sym = r.pick(SYMBOLS);
    const spec = SPEC[sym];
    const account = r.pick(ACCOUNTS);
    const m = e.markets.get(sym);
    const mark = m?.mark != null ? Number(m.mark) / 1e8 : spec.start;
    const x = r.next();
    if (x < 0.08)
      return { type: 'deposit', time, account, asset: 'USDT', amount: String(100 + r.below(5_000)) };
    if (x < 0.17) {
      // Random walk, pulled back towards the start so the stream stays inside the price bands.
      const pull = mark > spec.start * 1.05 ? -0.002 : mark < spec.start * 0.95 ? 0.002 : 0;
      const next = mark * (1 + pull + (r.next() - 0.5) * 0.006);
      return { type: 'setMarkPrice', time, symbol: sym, price: next.toFixed(spec.tickDp) };
    }
    // A few rejected commands: they are acknowledged at once and never journaled.
    if (x < 0.19) return { type: 'cancelOrder', time, account, symbol: sym, orderId: 0 };
    if (x < 0.38) {
      const a = e.accounts.get(account);
      const live = a ? [...a.orders.values()] : [];
      if (live.length > 0) {
        const o = r.pick(live);
        return { type: 'cancelOrder', time, account, symbol: o.market.symbol, orderId: o.id };
      }
    }
    const side = r.next() < 0.5 ? 'buy' : 'sell';
    const size = ((1 + r.below(spec.maxLots)) * spec.lot).toFixed(spec.lotDp);
    const y = r.next();
    if (y < 0.1) return { type: 'placeOrder', time, account, symbol: sym, side, orderType: 'market', size };
    // Mostly passive, some priced through the mark (they trade against the book).
    const offset = (r.next() * 0.01 - (y < 0.3 ? 0.004 : 0)) * mark;
    const price = (side === 'buy' ? mark - offset : mark + offset).toFixed(spec.tickDp);
    const timeInForce = y < 0.2 ? 'IOC' : 'GTC';
    return {
      type: 'placeOrder',
      time,
      account,
      symbol: sym,
      side,
      orderType: 'limit',
      price,
      size,
      timeInForce,
    };
  }
}
