/**
 * The full engine on a mixed order stream, next to matching alone and the npm package nodejs-order-book.
 *
 *   npm run bench -- matching [--commands 1000000] [--accounts 1000] [--seed 1] [--reps 2] [--warmup 1]
 *
 * The stream is matching-book's (about 60% GTC limits around a drifting mid, 25% cancels of live orders, 15%
 * IOC/market), generated once, untimed, in a worker thread (the generation pass runs our matcher: in this thread
 * it would warm our code before the peer's ran once). The engine run turns each entry into a real command — decimal strings
 * parsed with the market's scales, pre-trade margin checks, reserves, fills with fees and realized PnL through the
 * ledger, self-trade prevention — on a BTCUSDT market with 1,000 funded accounts. Command objects are built before
 * timing, except cancels, which need the engine's order id and are built as they run (as a client would).
 * Each side's first whole-stream run is timed and reported apart (cold: code not yet compiled), then --warmup
 * untimed runs of each, then --reps timed runs, the three sides' order rotating per rep. Throughput is whole-stream
 * wall time, best of the reps; latency is a separate pass timing every command, which also says what the tail is
 * made of: the mean time of commands by the trades they made and what one more trade adds (`latencyByFills`).
 */
import { Engine } from '../src/engine/engine.ts';
import type { Command } from '../src/engine/types.ts';
import { BENCH_MARKET } from './fixture.ts';
import { fmtInt, intArg, parseArgs, perSecond, round, say, summarize } from './lib.ts';
import {
  fullGc,
  generateInWorker,
  OurMatcher,
  runAll,
  type Stream,
  TheirMatcher,
  timerOverheadNs,
} from './matching-book.ts';

const priceStr = (ticks: number) => `${Math.floor(ticks / 10)}.${ticks % 10}`;
const sizeStr = (lots: number) => `${Math.floor(lots / 1000)}.${String(lots % 1000).padStart(3, '0')}`;

interface Prepared {
  /** Commands by stream index; null for cancels (built at run time). */
  cmds: (Command | null)[];
}

export function prepare(s: Stream, nAccounts: number): Prepared {
  const cmds: (Command | null)[] = new Array(s.n);
  for (let i = 0; i < s.n; i++) {
    const k = s.kind[i]!;
    const account = `a${s.account[i]}`;
    const side = s.side[i] === 0 ? 'buy' : 'sell';
    const time = 1_000 + i;
    if (k === 1) cmds[i] = null;
    else if (k === 3)
      cmds[i] = {
        type: 'placeOrder',
        time,
        account,
        symbol: 'BTCUSDT',
        side,
        orderType: 'market',
        size: sizeStr(s.lots[i]!),
      };
    else {
      cmds[i] = {
        type: 'placeOrder',
        time,
        account,
        symbol: 'BTCUSDT',
        side,
        orderType: 'limit',
        price: priceStr(s.price[i]!),
        size: sizeStr(s.lots[i]!),
        timeInForce: k === 0 ? 'GTC' : 'IOC',
      };
    }
  }
  void nAccounts;
  return { cmds };
}

export function freshEngine(nAccounts: number): Engine {
  const e = new Engine();
  const must = (c: Command) => {
    const r = e.apply(c);
    if (!r.ok) throw new Error(`setup: ${r.code} ${r.message}`);
  };
  must({
    type: 'createMarket',
    time: 0,
    market: BENCH_MARKET,
  });
  must({ type: 'setMarkPrice', time: 0, symbol: 'BTCUSDT', price: '60000' });
  for (let a = 0; a < nAccounts; a++)
    must({ type: 'deposit', time: 0, account: `a${a}`, asset: 'USDT', amount: '100000000' });
  return e;
}

interface EngineOutcome {
  ok: number;
  rejected: number;
  trades: number;
  codes: Record<string, number>;
}

/**
 * Runs the stream through `e`. With `lat`, each command's wall time (ns) goes there, and with `tradesOf` the trades
 * it made (the latency pass: counting trades walks every event).
 */
export function runEngine(
  e: Engine,
  s: Stream,
  p: Prepared,
  lat: Float64Array | null,
  tradesOf: Uint16Array | null = null,
): EngineOutcome {
  const out: EngineOutcome = { ok: 0, rejected: 0, trades: 0, codes: {} };
  const engineId = new Int32Array(s.maxId + 2);
  const owner = new Int32Array(s.maxId + 2);
  for (let i = 0; i < s.n; i++) {
    const t0 = lat ? process.hrtime.bigint() : 0n;
    let c = p.cmds[i];
    if (c === null || c === undefined) {
      const ref = s.ref[i]!;
      c = {
        type: 'cancelOrder',
        time: 1_000 + i,
        account: `a${owner[ref]}`,
        symbol: 'BTCUSDT',
        orderId: engineId[ref]!,
      };
    } else if (s.kind[i] !== 3) owner[s.ref[i]!] = s.account[i]!;
    const r = e.apply(c);
    if (lat) lat[i] = Number(process.hrtime.bigint() - t0);
    if (r.ok) {
      out.ok++;
      if (r.orderId !== undefined) engineId[s.ref[i]!] = r.orderId;
      // Counting trades walks every event: done only in the (separately timed) latency pass.
      if (lat) {
        let t = 0;
        for (const ev of r.events) if (ev.type === 'trade') t++;
        out.trades += t;
        if (tradesOf) tradesOf[i] = Math.min(t, 0xffff);
      }
    } else {
      out.rejected++;
      out.codes[r.code] = (out.codes[r.code] ?? 0) + 1;
    }
  }
  return out;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  const n = intArg(a, 'commands', 1_000_000);
  const nAccounts = Math.max(1, intArg(a, 'accounts', 1_000));
  const seed = intArg(a, 'seed', 1);
  const reps = Math.max(1, intArg(a, 'reps', 2));
  const warmup = Math.max(0, intArg(a, 'warmup', 1));
  const { stream, stats } = await generateInWorker(n, nAccounts, seed);
  say(
    `stream: ${fmtInt(n)} commands over ${nAccounts} accounts: ${fmtInt(stats.limit!)} limit, ${fmtInt(stats.cancel!)} cancel, ${fmtInt(stats.ioc!)} IOC, ${fmtInt(stats.market!)} market`,
  );
  const prepared = prepare(stream, nAccounts);
  const ids: string[] = Array.from({ length: stream.maxId + 1 }, (_, id) => `o${id}`);
  const accounts = Array.from({ length: nAccounts }, (_, k) => `a${k}`);

  let outcome: EngineOutcome | null = null;
  /** The three sides, each one whole-stream run on fresh state after a full GC; returns its wall time in ns. */
  const sides: (() => number)[] = [
    () => {
      fullGc();
      const e = freshEngine(nAccounts);
      const t0 = process.hrtime.bigint();
      outcome = runEngine(e, stream, prepared, null);
      const ns = Number(process.hrtime.bigint() - t0);
      const v = e.ledger.verify();
      if (!v.ok) throw new Error(`ledger does not balance after the run: ${v.problems[0]}`);
      return ns;
    },
    () => {
      fullGc();
      return runAll(new OurMatcher(), stream);
    },
    () => {
      fullGc();
      return runAll(new TheirMatcher(ids, accounts), stream);
    },
  ];
  const cold = sides.map((run) => run());
  say(
    `first run (cold): engine ${fmtInt(perSecond(n, cold[0]!))} cmd/s, matching alone ${fmtInt(perSecond(n, cold[1]!))}, nodejs-order-book ${fmtInt(perSecond(n, cold[2]!))}`,
  );
  for (let w = 0; w < warmup; w++) for (const run of sides) run();
  const times: number[][] = [[], [], []];
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < sides.length; k++) {
      const i = (r + k) % sides.length;
      times[i]!.push(sides[i]!());
    }
    say(
      `  rep ${r + 1}/${reps}: engine ${fmtInt(perSecond(n, times[0]![r]!))} cmd/s, matching alone ${fmtInt(perSecond(n, times[1]![r]!))}, nodejs-order-book ${fmtInt(perSecond(n, times[2]![r]!))}`,
    );
  }
  const [engineNs, bookNs, theirNs] = times as [number[], number[], number[]];
  const best = (xs: number[]) => Math.min(...xs);
  const enginePerSec = perSecond(n, best(engineNs));
  const bookPerSec = perSecond(n, best(bookNs));
  const theirPerSec = perSecond(n, best(theirNs));

  fullGc();
  const overhead = timerOverheadNs();
  const lat = new Float64Array(n);
  const tradesOf = new Uint16Array(n);
  const counted = runEngine(freshEngine(nAccounts), stream, prepared, lat, tradesOf);
  outcome!.trades = counted.trades;
  const l = summarize(lat);
  const us = (ns: number) => round(ns / 1000, 2);
  const byFills = latencyByFills(lat, tradesOf, l.p99);
  say(
    `engine with margin checks and ledger: ${fmtInt(enginePerSec)} cmd/s (target ≥ 300,000); ${fmtInt(outcome!.ok)} accepted, ${fmtInt(outcome!.rejected)} rejected ${JSON.stringify(outcome!.codes)}, ${fmtInt(outcome!.trades)} trades`,
  );
  say(
    `engine latency per command: p50 ${us(l.p50)} µs, p99 ${us(l.p99)} µs, p99.9 ${us(l.p999)} µs, max ${us(l.max)} µs (timer overhead ~${overhead} ns included)`,
  );
  say(
    `  by trades per command: ${byFills.groups.map((g) => `${g.trades}: ${g.sharePct}% of commands, mean ${g.meanUs} µs`).join('; ')}; ` +
      `each trade adds ~${byFills.perTradeUs} µs; of the commands past p99, ${byFills.tailFivePlusPct}% made 5 or more trades`,
  );
  say(
    `matching alone ${fmtInt(bookPerSec)} cmd/s vs nodejs-order-book ${fmtInt(theirPerSec)} cmd/s → ${round(bookPerSec / theirPerSec, 2)}x (target ≥ 2x); engine/nodejs-order-book ${round(enginePerSec / theirPerSec, 2)}x`,
  );
  return {
    commands: n,
    accounts: nAccounts,
    warmup,
    engineColdCmdPerSec: round(perSecond(n, cold[0]!)),
    matchingAloneColdCmdPerSec: round(perSecond(n, cold[1]!)),
    nodejsOrderBookColdCmdPerSec: round(perSecond(n, cold[2]!)),
    engineCmdPerSec: round(enginePerSec),
    engineLatencyUs: { p50: us(l.p50), p99: us(l.p99), p999: us(l.p999), max: us(l.max) },
    engineLatencyByTrades: byFills,
    matchingAloneCmdPerSec: round(bookPerSec),
    nodejsOrderBookCmdPerSec: round(theirPerSec),
    matchingVsNodejsOrderBook: round(bookPerSec / theirPerSec, 2),
    engineVsNodejsOrderBook: round(enginePerSec / theirPerSec, 2),
    accepted: outcome!.ok,
    rejected: outcome!.rejected,
    rejectCodes: outcome!.codes,
    trades: outcome!.trades,
  };
}

/**
 * What the latency tail is made of: commands grouped by the trades they made (none, one, 2–4, 5 or more), each
 * group's share of the stream and mean time; the cost one more trade adds (least squares over the commands with
 * 1–8 trades, where the groups are large); and the share of the commands slower than p99 that made 5 or more
 * trades. A p99 set by sweeps is a per-fill cost, not a stall.
 */
export function latencyByFills(
  latNs: Float64Array,
  tradesOf: Uint16Array,
  p99Ns: number,
): {
  groups: { trades: string; sharePct: number; meanUs: number }[];
  perTradeUs: number;
  tailFivePlusPct: number;
} {
  const bounds: [string, number, number][] = [
    ['0', 0, 0],
    ['1', 1, 1],
    ['2-4', 2, 4],
    ['5+', 5, Number.POSITIVE_INFINITY],
  ];
  const n = latNs.length;
  const sum = [0, 0, 0, 0];
  const count = [0, 0, 0, 0];
  let tail = 0;
  let tailFivePlus = 0;
  // Least squares of time on trades over 1..8 trades.
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const t = tradesOf[i]!;
    const ns = latNs[i]!;
    const g = t === 0 ? 0 : t === 1 ? 1 : t <= 4 ? 2 : 3;
    sum[g]! += ns;
    count[g]! += 1;
    if (ns > p99Ns) {
      tail++;
      if (t >= 5) tailFivePlus++;
    }
    if (t >= 1 && t <= 8) {
      sx += t;
      sy += ns;
      sxx += t * t;
      sxy += t * ns;
      m++;
    }
  }
  const slope = m > 1 && m * sxx - sx * sx !== 0 ? (m * sxy - sx * sy) / (m * sxx - sx * sx) : Number.NaN;
  return {
    groups: bounds
      .map(([trades], g) => ({
        trades,
        sharePct: round((100 * count[g]!) / Math.max(1, n), 1),
        meanUs: round(sum[g]! / Math.max(1, count[g]!) / 1000, 2),
      }))
      .filter((_, g) => count[g]! > 0),
    perTradeUs: round(slope / 1000, 2),
    tailFivePlusPct: round((100 * tailFivePlus) / Math.max(1, tail), 1),
  };
}
