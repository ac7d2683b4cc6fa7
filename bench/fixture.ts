/**
 * A market with N open isolated positions, opened through real commands: N/2 long and N/2 short accounts, each
 * pair matched by a resting sell and a crossing buy at the index, so the book ends empty. Funding every hour,
 * mark = index from three oracle sources.
 */
import { Engine } from '../src/engine/engine.ts';
import type { Command, MarketConfig } from '../src/engine/types.ts';

/** The benches' BTCUSDT: Binance-style brackets, 0.05%/0.02% fees, wide limit band. */
export const BENCH_MARKET: MarketConfig = {
  symbol: 'BTCUSDT',
  kind: 'linear',
  base: 'BTC',
  quote: 'USDT',
  tickSize: '0.1',
  lotSize: '0.001',
  settleDp: 8,
  maxLeverage: '125',
  takerFee: '0.0005',
  makerFee: '0.0002',
  limitBand: '0.5',
  marketBand: '0.05',
  defaultLeverage: '10',
  risk: {
    kind: 'brackets',
    tiers: [
      { cap: '50000', mmr: '0.004', maxLeverage: '125' },
      { cap: '250000', mmr: '0.005', maxLeverage: '100' },
      { cap: '1000000', mmr: '0.01', maxLeverage: '50' },
      { cap: '10000000', mmr: '0.025', maxLeverage: '20' },
      { cap: null, mmr: '0.05', maxLeverage: '10' },
    ],
  },
};

export const FUNDED_MARKET: MarketConfig = {
  ...BENCH_MARKET,
  oracle: {
    sources: [
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
      { name: 'c', weight: 1 },
    ],
    stalenessMs: 60_000,
    maxDeviation: '0.05',
    minSources: 2,
    maxJump: '0.5',
    markMethod: 'index',
  },
  funding: {
    intervalMs: 3_600_000,
    interestRate: '0.0001',
    cap: { kind: 'perHour', cap: '0.04' },
    impactMargin: '200',
  },
};

export const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 3_600_000) + 1_000;

export function must(e: Engine, c: Command): void {
  const r = e.apply(c);
  if (!r.ok) throw new Error(`fixture: ${c.type} ${r.code} ${r.message}`);
}

/**
 * BTCUSDT oracle quotes one a second from the fixture's three sources in turn, each timed through `Engine.apply`
 * (nanoseconds); `now` is the time of the last one.
 */
export class TimedQuotes {
  constructor(
    private readonly e: Engine,
    public now: number,
  ) {}

  quote(price: string): number {
    this.now += 1_000;
    const time = this.now;
    const s = process.hrtime.bigint();
    const r = this.e.apply({
      type: 'oracleQuote',
      time,
      symbol: 'BTCUSDT',
      source: ['a', 'b', 'c'][time % 3]!,
      price,
    });
    const ns = Number(process.hrtime.bigint() - s);
    if (!r.ok) throw new Error(r.message);
    return ns;
  }
}

/** Engine with `n` open positions (n even); sizes vary so liquidation prices spread. */
export function engineWithPositions(
  n: number,
  onProgress?: (done: number) => void,
  market: MarketConfig = FUNDED_MARKET,
): Engine {
  const e = new Engine();
  let t = T0;
  must(e, { type: 'createMarket', time: t, market });
  for (const s of ['a', 'b', 'c'])
    must(e, { type: 'oracleQuote', time: t, symbol: 'BTCUSDT', source: s, price: '60000' });
  for (let i = 0; i < n / 2; i++) {
    const size = `0.${String(1 + (i % 500)).padStart(3, '0')}`;
    const lev = String(2 + (i % 48));
    for (const [acct, side] of [
      [`s${i}`, 'sell'],
      [`l${i}`, 'buy'],
    ] as const) {
      must(e, { type: 'deposit', time: t, account: acct, asset: 'USDT', amount: '100000' });
      must(e, { type: 'setLeverage', time: t, account: acct, symbol: 'BTCUSDT', leverage: lev });
      must(e, {
        type: 'placeOrder',
        time: t,
        account: acct,
        symbol: 'BTCUSDT',
        side,
        orderType: 'limit',
        price: '60000',
        size,
      });
    }
    if (onProgress && i % 50_000 === 0) onProgress(2 * i);
    t += 0;
  }
  return e;
}
