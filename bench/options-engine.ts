/**
 * Cost of one vol update in the engine against the number of option holders on its underlying, with many more
 * holders on another underlying in the same engine.
 *
 *   npm run bench -- options-engine [--holders 100,1000,4000] [--other 8000] [--updates 200] [--strikes 8]
 *
 * Two underlyings (BTCUSDT, ETHUSDT), each with a one-expiry chain of `strikes` calls and puts. `other` accounts hold
 * an ETH option each (half long, half short); for each N in `holders`, N accounts hold a BTC option each (a market
 * maker quotes both sides). A `volQuote` on the BTC expiry re-marks that expiry's options and re-checks only their holders (their
 * isolated buckets), so its time must grow with N and not with `other`. For comparison the same run times a
 * `volQuote` on the ETH expiry (its `other` holders).
 */
import { Engine } from '../src/engine/engine.ts';
import type { Command, MarketConfig } from '../src/engine/types.ts';
import { checkArgs, fmtInt, intArg, parseArgs, round, say, summarize } from './lib.ts';

const T0 = Date.UTC(2026, 11, 1);
const EXPIRY = Date.UTC(2026, 11, 25, 8);

const perp = (symbol: string, base: string): MarketConfig => ({
  symbol,
  kind: 'linear',
  base,
  quote: 'USDT',
  tickSize: '0.01',
  lotSize: '0.001',
  settleDp: 8,
  maxLeverage: '100',
  takerFee: '0.0005',
  makerFee: '0.0002',
  risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.005', maxLeverage: '100' }] },
});

class Feed {
  time = T0;
  constructor(readonly e: Engine) {}
  apply(cmd: Record<string, unknown>): number {
    this.time += 1;
    const s = process.hrtime.bigint();
    const r = this.e.apply({ ...cmd, time: this.time } as Command);
    const ns = Number(process.hrtime.bigint() - s);
    if (!r.ok) throw new Error(`${String(cmd.type)}: ${r.code} ${r.message}`);
    return ns;
  }
}

function chain(f: Feed, underlying: string, spot: string, strikes: number): string[] {
  f.apply({ type: 'setMarkPrice', symbol: underlying, price: spot });
  const s = Number(spot);
  const ks = Array.from({ length: strikes }, (_, i) =>
    String(Math.round((s * (0.8 + (0.4 * i) / strikes)) / 100) * 100),
  );
  f.apply({
    type: 'createOptionChain',
    underlying,
    settle: 'linear',
    expiries: [EXPIRY],
    strikes: [...new Set(ks)],
    tickSize: '0.01',
    lotSize: '0.01',
    vol: { stalenessMs: 86_400_000 },
  });
  f.apply({
    type: 'volQuote',
    underlying,
    expiry: EXPIRY,
    smile: { kind: 'strikes', ivs: { [String(s)]: '0.6' } },
  });
  return [...f.e.markets.values()].filter((m) => m.option?.underlying === underlying).map((m) => m.symbol);
}

/**
 * `n` accounts `prefix`0.. each trade 0.01 of one of `symbols` (round robin) against the writer's quotes: even ones
 * buy (a long: nothing to check but its premium), odd ones sell (a short: its venue-rule margin on every check).
 */
function holders(f: Feed, prefix: string, n: number, symbols: string[]): void {
  const px = (sym: string, k: number) => ((Number(f.e.markets.get(sym)!.mark!) / 1e8) * k).toFixed(2);
  for (const sym of symbols) {
    const size = ((Math.ceil(n / symbols.length / 2) + 1) * 0.01).toFixed(2);
    f.apply({
      type: 'placeOrder',
      account: 'writer',
      symbol: sym,
      side: 'sell',
      orderType: 'limit',
      price: px(sym, 1.05),
      size,
    });
    f.apply({
      type: 'placeOrder',
      account: 'writer',
      symbol: sym,
      side: 'buy',
      orderType: 'limit',
      price: px(sym, 0.95),
      size,
    });
  }
  for (let i = 0; i < n; i++) {
    const id = `${prefix}${i}`;
    f.apply({ type: 'deposit', account: id, asset: 'USDT', amount: '100000' });
    const sym = symbols[i % symbols.length]!;
    const m = f.e.markets.get(sym)!;
    const buy = Math.floor(i / symbols.length) % 2 === 0; // each market gets longs and shorts alike
    const best = m.book.bestPrice(buy ? 'sell' : 'buy')!;
    const price = (Number(m.price(best)) / 1e8).toFixed(2);
    f.apply({
      type: 'placeOrder',
      account: id,
      symbol: sym,
      side: buy ? 'buy' : 'sell',
      orderType: 'limit',
      price,
      size: '0.01',
    });
  }
}

function timeUpdates(f: Feed, underlying: string, updates: number): ReturnType<typeof summarize> {
  const lat = new Float64Array(updates);
  for (let i = 0; i < updates; i++) {
    const iv = (0.55 + (i % 10) * 0.01).toFixed(2);
    const spot = f.e.markets.get(underlying)!.mark!;
    lat[i] = f.apply({
      type: 'volQuote',
      underlying,
      expiry: EXPIRY,
      smile: { kind: 'strikes', ivs: { [String(Number(spot) / 1e8)]: iv } },
    });
  }
  return summarize(lat);
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, ['holders', 'other', 'updates', 'strikes']);
  const sizes = (a.get('holders') ?? '100,1000,4000').split(',').map((x) => Number(x));
  const other = intArg(a, 'other', 8000);
  const updates = intArg(a, 'updates', 200);
  const strikes = intArg(a, 'strikes', 8);
  const rows: Record<string, unknown>[] = [];
  for (const n of sizes) {
    const e = new Engine();
    const f = new Feed(e);
    f.apply({ type: 'createMarket', market: perp('BTCUSDT', 'BTC') });
    f.apply({ type: 'createMarket', market: perp('ETHUSDT', 'ETH') });
    f.apply({ type: 'deposit', account: 'writer', asset: 'USDT', amount: '1000000000' });
    const btc = chain(f, 'BTCUSDT', '90000', strikes);
    const eth = chain(f, 'ETHUSDT', '3000', strikes);
    holders(f, 'e', other, eth);
    holders(f, 'b', n, btc);
    // Warm-up (JIT), untimed: both feeds.
    timeUpdates(f, 'BTCUSDT', 30);
    timeUpdates(f, 'ETHUSDT', 30);
    const onBtc = timeUpdates(f, 'BTCUSDT', updates);
    const onEth = timeUpdates(f, 'ETHUSDT', Math.max(10, Math.floor(updates / 4)));
    const perHolderUs = onBtc.p50 / 1e3 / Math.max(1, n + 1);
    say(
      `BTC holders ${fmtInt(n)}, ETH holders ${fmtInt(other)}: BTC vol update p50 ${round(onBtc.p50 / 1e6, 3)} ms ` +
        `(p99 ${round(onBtc.p99 / 1e6, 3)} ms, ${round(perHolderUs, 2)} µs per BTC holder); ETH vol update p50 ${round(onEth.p50 / 1e6, 3)} ms`,
    );
    rows.push({
      btcHolders: n,
      ethHolders: other,
      btcUpdateP50Ms: round(onBtc.p50 / 1e6, 4),
      btcUpdateP99Ms: round(onBtc.p99 / 1e6, 4),
      ethUpdateP50Ms: round(onEth.p50 / 1e6, 4),
      usPerBtcHolder: round(perHolderUs, 3),
    });
  }
  return { strikesPerChain: strikes * 2, updates, rows };
}
