/**
 * Cost of one funding settlement with N open positions, next to settling every position eagerly in the same run.
 *
 *   npm run bench -- funding [--positions 1000000]
 *
 * A funding time is a `tick` that crosses it: the rate is fixed and the market's cumulative index advances, one
 * step however many positions are open. Positions pay or receive when next touched. The baseline is the eager
 * alternative: at the funding time, settle every position (what the lazy touches add up to, done all at once).
 */
import { settleFundingFor } from '../src/engine/prices.ts';
import { engineWithPositions, T0 } from './fixture.ts';
import { fmtInt, intArg, parseArgs, round, say } from './lib.ts';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  const n = intArg(a, 'positions', 1_000_000);
  const e = engineWithPositions(n, (d) => say(`  opening positions: ${fmtInt(d)}`));
  const m = e.markets.get('BTCUSDT')!;
  // A premium: bids resting above the index make the funding rate positive.
  for (const s of ['a', 'b', 'c'])
    e.apply({ type: 'oracleQuote', time: T0 + 10, symbol: 'BTCUSDT', source: s, price: '60000' });
  const f = m.funding!;
  const intervals = 5;
  let tickNs = 0;
  let time = f.nextTime;
  for (let k = 0; k < intervals; k++) {
    for (const s of ['a', 'b', 'c'])
      e.apply({
        type: 'oracleQuote',
        time: time - 1_000,
        symbol: 'BTCUSDT',
        source: s,
        price: String(60000 + k),
      });
    const s0 = process.hrtime.bigint();
    const r = e.apply({ type: 'tick', time });
    tickNs += Number(process.hrtime.bigint() - s0);
    if (!r.ok) throw new Error(r.message);
    time += f.cfg.intervalMs;
  }
  const perTick = tickNs / intervals;
  const positions = [...m.positions].filter((p) => p.sign !== 0);
  const s1 = process.hrtime.bigint();
  e.now = time;
  for (const p of positions) settleFundingFor(e, p);
  const eagerNs = Number(process.hrtime.bigint() - s1);
  const v = e.ledger.verify();
  say(
    `funding settlement (index step) with ${fmtInt(positions.length)} positions: ${round(perTick / 1000, 2)} µs; rate ${f.lastRate} (1e-10)`,
  );
  say(
    `eager settlement of every position: ${round(eagerNs / 1e6, 1)} ms (${round(eagerNs / positions.length, 0)} ns each) → ${fmtInt(eagerNs / perTick)}x; ledger ${v.ok ? 'balances' : 'DOES NOT BALANCE'}; unsettled ${m.unsettledFunding}`,
  );
  return {
    positions: positions.length,
    fundingTickUs: round(perTick / 1000, 2),
    eagerSettleMs: round(eagerNs / 1e6, 1),
    eagerPerPositionNs: round(eagerNs / positions.length),
    ratio: round(eagerNs / perTick),
    ledgerBalances: v.ok,
  };
}
