/**
 * A seeded random command stream that reaches every part of the engine's state a snapshot must carry: six markets
 * (linear and inverse, marks set directly or derived from an oracle by the index, Binance and Hyperliquid methods,
 * funding every minute, a dated future that expires mid-stream), isolated and cross positions, leverage and
 * margin changes, auto-add margin, every order type, amends and cancels, outlier and jumping oracle quotes, clock
 * jumps that make oracles stale and run funding, price crashes deep enough to liquidate, insurance top-ups, and a
 * few commands that are rejected. Each command is built from the live engine (real order ids, prices near the
 * mark), so `next(engine)` can be called on any state.
 */
import type { Engine } from '../../src/engine/engine.ts';
import type { Market } from '../../src/engine/market.ts';
import type { Command, MarketConfig } from '../../src/engine/types.ts';
import { BTCUSD, BTCUSDT, ETHUSDT } from '../engine/harness.ts';
import { Rng } from './stream.ts';

export const RICH_START = 1_700_000_040_000;
const MINUTE = 60_000;
const ACCOUNTS = ['s0', 's1', 's2', 's3', 's4', 's5'] as const;

const oracle = (
  markMethod: 'index' | 'binance' | 'hyperliquid',
  names: string[],
): NonNullable<MarketConfig['oracle']> => ({
  sources: names.map((name, i) => ({ name, weight: i + 1 })),
  stalenessMs: 30_000,
  maxDeviation: '0.03',
  minSources: Math.min(2, names.length),
  maxJump: '0.08',
  markMethod,
  emaTauMs: 20_000,
  basisSamples: 5,
});

/** Deep copies, so no two markets share config objects (a restore cannot share them either). */
export function richMarkets(): MarketConfig[] {
  const configs: MarketConfig[] = [
    { ...BTCUSDT, liquidation: { partial: 'tier' } },
    { ...ETHUSDT, liquidation: { partial: 'full', feeRate: '0.01' } },
    BTCUSD,
    {
      ...BTCUSDT,
      symbol: 'SOLPERP',
      base: 'SOL',
      defaultLeverage: '20',
      tickSize: '0.01',
      lotSize: '0.1',
      oracle: oracle('binance', ['binance', 'okx', 'bybit']),
      funding: {
        intervalMs: MINUTE,
        interestRate: '0.0001',
        cap: { kind: 'mmrMultiple', k: '0.75' },
        impactMargin: '50',
      },
      liquidation: {
        chunkNotional: '300',
        chunkFraction: '0.3',
        cooldownMs: 20_000,
        backstopRatio: '0.05',
        limitAt: '0.5',
      },
    },
    {
      ...BTCUSDT,
      symbol: 'HYPEPERP',
      base: 'HYPE',
      defaultLeverage: '20',
      tickSize: '0.001',
      lotSize: '0.1',
      oracle: oracle('hyperliquid', ['hl', 'cex']),
      funding: {
        intervalMs: 2 * MINUTE,
        interestRate: '0.0001',
        cap: { kind: 'perHour', cap: '0.04' },
        impactMargin: '20',
        priceSource: 'index',
      },
      liquidation: { adlRanking: 'leveragePnl', backstopRatio: '0.5' },
    },
    {
      ...BTCUSDT,
      symbol: 'BTCFUT',
      oracle: oracle('index', ['a', 'b']),
      expiry: RICH_START + 5 * MINUTE,
      settlementWindowMs: 2 * MINUTE,
    },
  ];
  return structuredClone(configs);
}

const START_PRICE: Record<string, string> = {
  BTCUSDT: '50000',
  ETHUSDT: '3000',
  BTCUSD: '50000',
  SOLPERP: '150',
  HYPEPERP: '25',
  BTCFUT: '50000',
};

/** Markets, marks, first quotes, deposits, a few cross positions and an auto-add opt-in. */
export function richSetup(): Command[] {
  const time = RICH_START;
  const configs = richMarkets();
  const out: Command[] = configs.map((market) => ({ type: 'createMarket', time, market }));
  for (const cfg of configs) {
    const price = START_PRICE[cfg.symbol]!;
    if (!cfg.oracle) out.push({ type: 'setMarkPrice', time, symbol: cfg.symbol, price });
    else
      for (const s of cfg.oracle.sources)
        out.push({ type: 'oracleQuote', time, symbol: cfg.symbol, source: s.name, price });
  }
  for (const [i, account] of ACCOUNTS.entries()) {
    out.push({ type: 'deposit', time, account, asset: 'USDT', amount: String(30_000 + 20_000 * i) });
    out.push({ type: 'deposit', time, account, asset: 'BTC', amount: String((4 + i) / 10) });
  }
  out.push({ type: 'fundInsurance', time, asset: 'USDT', amount: '5000' });
  out.push({ type: 'setMarginMode', time, account: 's0', symbol: 'BTCUSDT', mode: 'cross' });
  out.push({ type: 'setMarginMode', time, account: 's1', symbol: 'SOLPERP', mode: 'cross' });
  out.push({ type: 'setMarginMode', time, account: 's2', symbol: 'BTCUSD', mode: 'cross' });
  out.push({ type: 'setAutoAddMargin', time, account: 's3', symbol: 'SOLPERP', enabled: true });
  return out;
}

export class RichStream {
  private readonly r: Rng;
  private time = RICH_START;
  /** Where each oracle market's feeds are heading. */
  private readonly target = new Map<string, bigint>();
  constructor(seed: number) {
    this.r = new Rng(seed);
  }

  next(e: Engine): Command {
    const r = this.r;
    this.time = Math.max(this.time, e.lastTime) + r.below(3);
    const time = this.time;
    const markets = [...e.markets.values()];
    const m = r.pick(markets);
    const account = r.pick(ACCOUNTS);
    const x = r.below(100);
    const a = e.accounts.get(account);
    const pos = a?.positions.get(m.symbol);
    // A feeder keeps most oracles fresh; some go stale (and pause their markets) between clock jumps.
    if (m.oracle && !m.closed && time - m.oracle.indexTime > 8_000 && r.below(3) > 0)
      return this.price(m, time);
    if (x < 5) {
      // The clock moves on: oracles age, funding runs, the future expires.
      this.time += r.below(5) === 0 ? r.below(2 * MINUTE) : r.below(15_000);
      return { type: 'tick', time: this.time };
    }
    if (x < 11) {
      const asset = r.below(3) === 0 ? 'BTC' : 'USDT';
      return {
        type: 'deposit',
        time,
        account,
        asset,
        amount: asset === 'BTC' ? '0.05' : String(200 + r.below(3000)),
      };
    }
    if (x < 13) {
      // Mostly small; sometimes most of what the account could take out, leaving auto-add little to draw on.
      const big = r.below(4) === 0;
      const amount =
        m.asset === 'BTC' ? (big ? '0.2' : '0.01') : String(big ? 5_000 + r.below(40_000) : 1 + r.below(800));
      return { type: 'withdraw', time, account, asset: m.asset, amount };
    }
    if (x < 16)
      return {
        type: 'setMarginMode',
        time,
        account,
        symbol: m.symbol,
        mode: r.below(2) ? 'cross' : 'isolated',
      };
    if (x < 19)
      return {
        type: 'setLeverage',
        time,
        account,
        symbol: m.symbol,
        leverage: String(r.pick([2, 5, 10, 20, 25, 50])),
      };
    if (x < 21) {
      const amount = m.asset === 'BTC' ? '0.002' : String(1 + r.below(300));
      return { type: r.below(2) ? 'addMargin' : 'removeMargin', time, account, symbol: m.symbol, amount };
    }
    if (x < 23) {
      const trigger = r.pick(['0.2', '0.35', '0.6']);
      const policy = r.below(2) ? 'addInitialMargin' : 'restoreInitialMargin';
      return {
        type: 'setAutoAddMargin',
        time,
        account,
        symbol: m.symbol,
        enabled: r.below(4) > 0,
        policy,
        trigger,
      };
    }
    if (x < 24)
      return { type: 'fundInsurance', time, asset: m.asset, amount: m.asset === 'BTC' ? '0.01' : '100' };
    if (x < 26) return { type: 'settleFunding', time, account, symbol: m.symbol };
    if (x < 36) return this.price(m, time);
    if (x < 38) return this.bad(time, account, m);
    const live = a ? [...a.orders.values()] : [];
    if (x < 43 && live.length > 0) {
      const o = r.pick(live);
      return { type: 'cancelOrder', time, account, symbol: o.market.symbol, orderId: o.id };
    }
    if (x < 44)
      return r.below(2)
        ? { type: 'cancelAll', time, account }
        : { type: 'cancelAll', time, account, symbol: m.symbol };
    if (x < 50 && live.length > 0) {
      const o = r.pick(live);
      const om = o.market;
      const ticks = Math.max(1, o.priceTicks + r.below(7) - 3);
      const lots = Math.max(1, o.remainingLots + r.below(5) - 3);
      const y = r.below(3);
      return {
        type: 'amendOrder',
        time,
        account,
        symbol: om.symbol,
        orderId: o.id,
        ...(y !== 1 ? { price: om.fmtPrice(om.price(ticks)) } : {}),
        ...(y !== 0 ? { size: om.fmtSize(om.size(lots)) } : {}),
      };
    }
    return this.order(m, account, time, pos?.sign ?? 0, pos?.lots ?? 0);
  }

  /** A mark move (direct) or an oracle quote; sometimes a crash, an outlier or a jump. */
  private price(m: Market, time: number): Command {
    const r = this.r;
    // Oracle markets: the feeds follow a common target (one quote at a time, so the weighted median moves once
    // most sources have caught up); the target itself walks like a directly set mark.
    const target = this.target.get(m.symbol);
    const ref = m.oracle ? (target ?? m.oracle.index ?? 0n) : (m.mark ?? 0n);
    let ticks = Number(ref / m.inst.tickSize);
    if (!m.oracle || target === undefined || r.below(2) === 0) {
      // A walk pulled back towards the start, with gaps of 4–14 % (deep enough to liquidate at 10x and more).
      const start = Number(START_PRICE[m.symbol]!) * 10 ** m.inst.priceDp;
      const pull = Math.max(-0.05, Math.min(0.05, (start - Number(ref)) / start / 4));
      const gap = r.below(5) === 0 ? (r.below(2) ? -1 : 1) * (0.04 + r.next() * 0.1) : 0;
      const move = pull + gap + (r.next() - 0.5) * 0.01;
      ticks = Math.max(1, Math.round((Number(ref) * (1 + move)) / Number(m.inst.tickSize)));
      this.target.set(m.symbol, m.price(ticks));
    }
    const price = m.fmtPrice(m.price(ticks));
    if (!m.oracle) return { type: 'setMarkPrice', time, symbol: m.symbol, price };
    const source = r.pick(m.oracle.cfg.sources).name;
    const outlier = r.below(15) === 0;
    const p = outlier ? m.fmtPrice(m.price(Math.max(1, Math.round(ticks * 1.2)))) : price;
    return { type: 'oracleQuote', time, symbol: m.symbol, source, price: p };
  }

  private order(m: Market, account: string, time: number, sign: number, lots: number): Command {
    const r = this.r;
    const ref = m.mark ?? m.last;
    const refTicks = ref === null ? 1000 : Math.max(1, Number(ref / m.inst.tickSize));
    const side: 'buy' | 'sell' = r.below(2) ? 'buy' : 'sell';
    // A notional of 50 to 8,000 (sometimes up to 60,000) quote units.
    const priceF = ref === null ? 1_000 : Number(ref) / 10 ** m.inst.priceDp;
    const lotF = Number(m.inst.lotSize) / 10 ** m.inst.sizeDp;
    const target = 50 + r.below(r.below(4) === 0 ? 60_000 : 8_000);
    const n = Math.max(1, Math.round(m.inst.kind === 'inverse' ? target / lotF : target / (priceF * lotF)));
    let size = m.fmtSize(m.size(n));
    const y = r.below(100);
    const stp = r.pick(['cancelTaker', 'cancelMaker', 'cancelBoth'] as const);
    const base = { type: 'placeOrder' as const, time, account, symbol: m.symbol, side, stp };
    if (y < 10)
      return {
        ...base,
        orderType: 'market',
        size,
        ...(r.below(4) === 0 ? { timeInForce: 'FOK' as const } : {}),
      };
    if (y < 18 && sign !== 0) {
      // Reduce-only against the account's own position (sometimes more than it holds: rejected).
      size = m.fmtSize(m.size(Math.max(1, Math.floor(lots / (1 + r.below(3))) + (r.below(5) === 0 ? 5 : 0))));
      return {
        ...base,
        side: sign > 0 ? 'sell' : 'buy',
        orderType: 'limit',
        size,
        price: m.fmtPrice(m.price(refTicks)),
        timeInForce: 'IOC',
        reduceOnly: true,
      };
    }
    if (y >= 64 && y < 72 && m.mark !== null) {
      // A stop-loss or take-profit (issue 20), mostly against the account's position, its trigger 0.3–5 % from the
      // mark on the side it waits for (one in eight already reached: rejected); market, or limit 1 % beyond it.
      const tSide = sign !== 0 && r.below(4) > 0 ? (sign > 0 ? 'sell' : 'buy') : side;
      const kind = r.below(2) ? 'stopLoss' : 'takeProfit';
      const rising = (tSide === 'sell') === (kind === 'takeProfit');
      const markTicks = Math.max(1, Number(m.mark / m.inst.tickSize));
      const away = r.below(8) === 0 ? -0.002 : 0.003 + r.next() * 0.05;
      const trig = Math.max(1, Math.round(markTicks * (1 + (rising ? away : -away))));
      const asLimit = r.below(3) === 0;
      const limitTicks = Math.max(1, Math.round(trig * (tSide === 'buy' ? 1.01 : 0.99)));
      if (sign !== 0 && r.below(2)) size = m.fmtSize(m.size(Math.max(1, lots)));
      return {
        ...base,
        side: tSide,
        orderType: asLimit ? 'limit' : 'market',
        size,
        ...(asLimit ? { price: m.fmtPrice(m.price(limitTicks)) } : {}),
        ...(kind === 'stopLoss'
          ? { stopLossPrice: m.fmtPrice(m.price(trig)) }
          : { takeProfitPrice: m.fmtPrice(m.price(trig)) }),
        ...(r.below(5) === 0 ? { clientOrderId: `t${time}` } : {}),
      };
    }
    // Mostly passive, some through the mark (they trade).
    const through = y < 45;
    const off = Math.round(refTicks * (through ? -0.012 : 0.0005 + r.next() * 0.006));
    const ticks = Math.max(1, side === 'buy' ? refTicks - off : refTicks + off);
    const tif = y < 50 ? 'IOC' : y < 56 ? 'FOK' : y < 64 ? 'PO' : 'GTC';
    const clientOrderId = r.below(5) === 0 ? `c${time}` : undefined;
    return {
      ...base,
      orderType: 'limit',
      size,
      price: m.fmtPrice(m.price(ticks)),
      timeInForce: tif,
      ...(clientOrderId ? { clientOrderId } : {}),
    };
  }

  /** Commands the engine rejects (they must change nothing, on either engine). */
  private bad(time: number, account: string, m: Market): Command {
    switch (this.r.below(4)) {
      case 0:
        return { type: 'withdraw', time, account: 'nobody', asset: 'USDT', amount: '1' };
      case 1:
        return { type: 'cancelOrder', time, account, symbol: m.symbol, orderId: 0 };
      case 2:
        return {
          type: 'placeOrder',
          time,
          account,
          symbol: m.symbol,
          side: 'buy',
          orderType: 'limit',
          size: '0',
          price: '1',
        };
      default:
        return { type: 'tick', time: time - 1_000_000 };
    }
  }
}
