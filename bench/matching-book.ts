/**
 * Matching alone (no margin, no fees, no self-trade prevention) on src/engine/book.ts versus the npm package
 * nodejs-order-book, over the same seeded command stream.
 *
 *   npm run bench -- matching-book [--commands 1000000] [--accounts 1000] [--seed 1] [--reps 3] [--warmup 2]
 *                                  [--latency 1]
 *
 * The stream (~60% GTC limit orders around a drifting mid, some crossing; ~25% cancels of random live orders;
 * ~15% IOC limits / market orders) is generated up front, untimed: a generation pass runs it through our matcher
 * so cancels can target orders that are actually live. That pass runs in a worker thread (its own isolate), so it
 * does not warm our matcher's code in the thread that times it. Both engines then replay the identical stream on
 * fresh books; they must agree on fills, traded lots, notional, a per-command trade hash and the final L2 depth.
 *
 * Throughput is whole-stream wall time (no per-command timer). Each engine's first run is timed apart (cold: its
 * code not yet compiled); then `--warmup` untimed runs each, then `--reps` timed runs each, interleaved, the engine
 * going first alternating per rep. Latency is a separate pass timing each command with process.hrtime.bigint(); the
 * timer's own cost is measured and reported (figures are raw, i.e. they include it).
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { type IProcessOrder, OrderBook as TheirBook, Side as TheirSide } from 'nodejs-order-book';
import { type BookOrder, type BookSide, OrderBook } from '../src/engine/book.ts';
import { Rng } from '../src/sim/rng.ts';
import { fmtInt, intArg, maybeGc, parseArgs, perSecond, round, say, summarize, tsWorker } from './lib.ts';

/**
 * A full GC between timed runs, so one engine's garbage is not collected on the other's clock. The harness does
 * not start node with --expose-gc, so enable it at run time (falls back to lib's maybeGc if that fails).
 */
export const fullGc: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return gc as () => void;
  } catch {
    // ignore: fall back below
  }
  return maybeGc;
})();

const LIMIT = 0;
const CANCEL = 1;
const IOC = 2;
const MARKET = 3;
const KIND_NAMES = ['limit', 'cancel', 'ioc', 'market'] as const;

/** The command stream as parallel typed arrays. `ref` is the new order's id (limit/IOC) or the cancel target. */
export interface Stream {
  n: number;
  kind: Uint8Array;
  /** 0 buy, 1 sell. */
  side: Uint8Array;
  price: Float64Array;
  lots: Float64Array;
  account: Int32Array;
  ref: Int32Array;
  maxId: number;
}

/** Per-run outcome; both engines must produce identical values. */
interface Outcome {
  fills: number;
  tradedLots: number;
  notional: number;
  /** Rolling hash of (command index, lots traded by that command). */
  tradeHash: number;
  cancelsHit: number;
  rejects: number;
}

const newOutcome = (): Outcome => ({
  fills: 0,
  tradedLots: 0,
  notional: 0,
  tradeHash: 0,
  cancelsHit: 0,
  rejects: 0,
});
const mixHash = (h: number, i: number, traded: number): number =>
  Math.imul(h ^ Math.imul(i, 0x9e3779b1) ^ (traded | 0), 0x85ebca6b) ^ ((h >>> 13) | 0);

// ------------------------------------------------------------------------------------------------------------------
// Our side: a minimal matcher on OrderBook.

const MAX_LEVELS = 10_000;
/** Resting-book size the stream generator steers towards (see takerMean). */
const RESTING_TARGET = 5_000;

export class OurMatcher {
  readonly book = new OrderBook({ maxLevelsPerSide: MAX_LEVELS });
  readonly live = new Map<number, BookOrder>();
  readonly out = newOutcome();
  /** Optional hooks for the generation pass (track live orders). */
  onRest: ((o: BookOrder) => void) | null = null;
  onGone: ((o: BookOrder) => void) | null = null;

  /** Matches a taker against the opposite side; returns the lots left over. */
  private take(side: BookSide, limit: number, lots: number): number {
    const book = this.book;
    const out = this.out;
    const makerSide: BookSide = side === 'buy' ? 'sell' : 'buy';
    const isBuy = side === 'buy';
    let left = lots;
    while (left > 0) {
      const m = book.best(makerSide);
      if (m === null) break;
      const p = m.priceTicks;
      if (isBuy ? p > limit : p < limit) break;
      const have = m.remainingLots;
      const fill = Math.min(left, have);
      left -= fill;
      out.fills++;
      out.tradedLots += fill;
      out.notional += fill * p;
      if (fill === have) {
        book.remove(m);
        this.live.delete(m.id);
        if (this.onGone !== null) this.onGone(m);
      } else {
        book.reduce(m, have - fill);
      }
    }
    return left;
  }

  exec(s: Stream, i: number): void {
    const kind = s.kind[i]!;
    const out = this.out;
    if (kind === CANCEL) {
      const o = this.live.get(s.ref[i]!);
      if (o !== undefined) {
        this.book.remove(o);
        this.live.delete(o.id);
        out.cancelsHit++;
        if (this.onGone !== null) this.onGone(o);
      }
      out.tradeHash = mixHash(out.tradeHash, i, 0);
      return;
    }
    const side: BookSide = s.side[i] === 0 ? 'buy' : 'sell';
    const lots = s.lots[i]!;
    const limit = kind === MARKET ? (side === 'buy' ? Number.POSITIVE_INFINITY : 0) : s.price[i]!;
    const left = this.take(side, limit, lots);
    out.tradeHash = mixHash(out.tradeHash, i, lots - left);
    if (kind === LIMIT && left > 0) {
      const o: BookOrder = {
        id: s.ref[i]!,
        accountId: s.account[i]!,
        side,
        priceTicks: limit,
        remainingLots: left,
        prev: null,
        next: null,
        level: null,
      };
      if (this.book.add(o)) {
        this.live.set(o.id, o);
        if (this.onRest !== null) this.onRest(o);
      } else out.rejects++;
    }
  }
}

// ------------------------------------------------------------------------------------------------------------------
// Their side: nodejs-order-book with the same numbers (floats holding integers) and string ids.

export class TheirMatcher {
  readonly book = new TheirBook();
  readonly out = newOutcome();
  constructor(
    private readonly ids: string[],
    private readonly accounts: string[],
  ) {}

  exec(s: Stream, i: number): void {
    const kind = s.kind[i]!;
    const out = this.out;
    if (kind === CANCEL) {
      if (this.book.cancel(this.ids[s.ref[i]!]!) !== undefined) out.cancelsHit++;
      out.tradeHash = mixHash(out.tradeHash, i, 0);
      return;
    }
    const side = s.side[i] === 0 ? TheirSide.BUY : TheirSide.SELL;
    const size = s.lots[i]!;
    let r: IProcessOrder;
    let takerId = '';
    if (kind === MARKET) {
      r = this.book.market({ side, size, accountId: this.accounts[s.account[i]!]! });
    } else {
      takerId = this.ids[s.ref[i]!]!;
      r = this.book.limit({
        side,
        id: takerId,
        size,
        price: s.price[i]!,
        accountId: this.accounts[s.account[i]!]!,
        ...(kind === IOC ? { timeInForce: 'IOC' as never } : {}),
      });
    }
    if (r.err !== null) throw new Error(`nodejs-order-book rejected command ${i}: ${r.err.message}`);
    // done = fully filled makers (+ the taker itself when a limit taker fully filled); partial = the partially
    // filled maker, or the taker when it rests (or was cancelled as IOC) after trading.
    const done = r.done;
    for (let k = 0; k < done.length; k++) {
      const d = done[k]!;
      if (d.id === takerId) continue;
      out.fills++;
      out.notional += (d as { price: number }).price * d.size;
    }
    const partial = r.partial;
    if (partial !== null && partial.id !== takerId) {
      out.fills++;
      out.notional += partial.price * r.partialQuantityProcessed;
    }
    const traded = size - r.quantityLeft;
    out.tradedLots += traded;
    out.tradeHash = mixHash(out.tradeHash, i, traded);
  }
}

// ------------------------------------------------------------------------------------------------------------------
// Stream generation.

export function generate(
  n: number,
  nAccounts: number,
  seed: number,
): { stream: Stream; stats: Record<string, number> } {
  const rng = new Rng(seed);
  const s: Stream = {
    n,
    kind: new Uint8Array(n),
    side: new Uint8Array(n),
    price: new Float64Array(n),
    lots: new Float64Array(n),
    account: new Int32Array(n),
    ref: new Int32Array(n),
    maxId: 0,
  };
  // Live-order set with O(1) random pick and removal, kept by running the stream through our matcher.
  const liveIds: number[] = [];
  const pos = new Map<number, number>();
  const gen = new OurMatcher();
  gen.onRest = (o) => {
    pos.set(o.id, liveIds.length);
    liveIds.push(o.id);
  };
  gen.onGone = (o) => {
    const k = pos.get(o.id)!;
    const last = liveIds.pop()!;
    if (last !== o.id) {
      liveIds[k] = last;
      pos.set(last, k);
    }
    pos.delete(o.id);
  };
  const START_MID = 600_000; // e.g. 60,000.0 with a 0.1 tick
  let mid = START_MID;
  let nextId = 0;
  const geo = (mean: number, cap: number) => Math.min(cap, Math.floor(-Math.log(1 - rng.next()) * mean));
  // Taker sizes grow with the resting book, so supply (limits − cancels) and demand (takers) balance around a
  // book of roughly RESTING_TARGET orders instead of the book emptying or growing without bound.
  const takerMean = () => 8 + 16 * Math.min(3, liveIds.length / RESTING_TARGET);
  let sumOrders = 0;
  let sumLevels = 0;
  let maxOrders = 0;
  let maxLevels = 0;
  for (let i = 0; i < n; i++) {
    // slow random walk of the mid, gently pulled back to the start
    const u = rng.next();
    if (u < 0.02) mid += mid > START_MID + 2_000 ? -1 : 1;
    else if (u < 0.04) mid -= mid < START_MID - 2_000 ? -1 : 1;
    const buy = rng.next() < 0.5;
    s.side[i] = buy ? 0 : 1;
    s.account[i] = rng.int(0, nAccounts - 1);
    const r = rng.next();
    if (r < 0.6 || (r < 0.85 && liveIds.length === 0)) {
      s.kind[i] = LIMIT;
      s.ref[i] = ++nextId;
      s.lots[i] = 1 + geo(10, 1_000);
      if (rng.next() < 0.08) {
        // aggressive: priced through the mid, usually crossing the first few ask/bid levels
        const through = rng.int(1, 6);
        s.price[i] = buy ? mid + through : mid - through;
      } else {
        const off = 1 + geo(25, 1_500);
        s.price[i] = buy ? mid - off : mid + off;
      }
    } else if (r < 0.85) {
      s.kind[i] = CANCEL;
      s.ref[i] = liveIds[rng.int(0, liveIds.length - 1)]!;
    } else if (r < 0.95) {
      s.kind[i] = IOC;
      s.ref[i] = ++nextId;
      s.lots[i] = 1 + geo(takerMean(), 4_000);
      const through = rng.int(1, 25);
      s.price[i] = buy ? mid + through : mid - through;
    } else {
      s.kind[i] = MARKET;
      s.lots[i] = 1 + geo(takerMean(), 4_000);
    }
    gen.exec(s, i);
    const orders = gen.book.orderCount();
    const levels = gen.book.levelCount('buy') + gen.book.levelCount('sell');
    sumOrders += orders;
    sumLevels += levels;
    if (orders > maxOrders) maxOrders = orders;
    if (levels > maxLevels) maxLevels = levels;
  }
  s.maxId = nextId;
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) counts[s.kind[i]!]!++;
  return {
    stream: s,
    stats: {
      ...Object.fromEntries(KIND_NAMES.map((k, j) => [k, counts[j]!])),
      avgRestingOrders: round(sumOrders / n),
      maxRestingOrders: maxOrders,
      avgLevels: round(sumLevels / n),
      maxLevels,
      finalRestingOrders: gen.book.orderCount(),
      genFills: gen.out.fills,
    },
  };
}

// ------------------------------------------------------------------------------------------------------------------

interface Engine {
  exec(s: Stream, i: number): void;
  readonly out: Outcome;
}

export function runAll(engine: Engine, s: Stream): number {
  const n = s.n;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) engine.exec(s, i);
  return Number(process.hrtime.bigint() - t0);
}

/** A full GC, then one whole-stream run on a fresh engine from `make`; returns the engine and its wall time. */
function timedRun<E extends Engine>(make: () => E, s: Stream): { engine: E; ns: number } {
  fullGc();
  const engine = make();
  return { engine, ns: runAll(engine, s) };
}

export function runTimed(engine: Engine, s: Stream): Float64Array {
  const n = s.n;
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    engine.exec(s, i);
    lat[i] = Number(process.hrtime.bigint() - t0);
  }
  return lat;
}

/** Median cost of an empty `hrtime.bigint()` pair, as seen by runTimed. */
export function timerOverheadNs(): number {
  const k = 200_000;
  const lat = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const t0 = process.hrtime.bigint();
    lat[i] = Number(process.hrtime.bigint() - t0);
  }
  return summarize(lat).p50;
}

function ourDepth(e: OurMatcher): [number, number][][] {
  const d = e.book.depth(Number.MAX_SAFE_INTEGER);
  return [d.asks, d.bids];
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return (
    a.fills === b.fills &&
    a.tradedLots === b.tradedLots &&
    a.notional === b.notional &&
    a.tradeHash === b.tradeHash &&
    a.cancelsHit === b.cancelsHit
  );
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  const n = intArg(a, 'commands', 1_000_000);
  const nAccounts = Math.max(1, intArg(a, 'accounts', 1_000));
  const seed = intArg(a, 'seed', 1);
  const reps = Math.max(1, intArg(a, 'reps', 3));
  const warmup = intArg(a, 'warmup', 2);
  const doLatency = intArg(a, 'latency', 1) !== 0;

  const tg = process.hrtime.bigint();
  const { stream, stats } = await generateInWorker(n, nAccounts, seed);
  say(
    `stream: ${fmtInt(n)} commands, seed ${seed}, ${nAccounts} accounts: ${fmtInt(stats.limit!)} limit, ` +
      `${fmtInt(stats.cancel!)} cancel, ${fmtInt(stats.ioc!)} IOC, ${fmtInt(stats.market!)} market ` +
      `(generated in ${round(Number(process.hrtime.bigint() - tg) / 1e6)} ms)`,
  );
  say(
    `book: avg ${fmtInt(stats.avgRestingOrders!)} resting orders (max ${fmtInt(stats.maxRestingOrders!)}), ` +
      `avg ${fmtInt(stats.avgLevels!)} levels both sides (max ${fmtInt(stats.maxLevels!)})`,
  );
  // Their API takes string ids and account ids: build them once, outside the timed region.
  const ids: string[] = new Array<string>(stream.maxId + 1);
  for (let id = 0; id <= stream.maxId; id++) ids[id] = `o${id}`;
  const accounts = Array.from({ length: nAccounts }, (_, k) => `a${k}`);

  const ourNs: number[] = [];
  const theirNs: number[] = [];
  const freshOurs = () => new OurMatcher();
  const freshTheirs = () => new TheirMatcher(ids, accounts);
  // First call: each engine's code is still cold here (the stream was generated in another isolate).
  const cold = timedRun(freshOurs, stream);
  const coldTheirs = timedRun(freshTheirs, stream);
  say(
    `  first run (cold): ours ${fmtInt(perSecond(n, cold.ns))} cmd/s, ` +
      `nodejs-order-book ${fmtInt(perSecond(n, coldTheirs.ns))} cmd/s`,
  );
  for (let w = 0; w < warmup; w++) {
    // Untimed, the same number of runs of the same stream on each, order alternating like the timed reps.
    if (w % 2 === 0) {
      timedRun(freshOurs, stream);
      timedRun(freshTheirs, stream);
    } else {
      timedRun(freshTheirs, stream);
      timedRun(freshOurs, stream);
    }
  }
  let ours = cold.engine;
  let theirs = coldTheirs.engine;
  for (let r = 0; r < reps; r++) {
    const oursFirst = r % 2 === 0;
    const first = oursFirst ? timedRun(freshOurs, stream) : timedRun(freshTheirs, stream);
    const second = oursFirst ? timedRun(freshTheirs, stream) : timedRun(freshOurs, stream);
    const o = (oursFirst ? first.engine : second.engine) as OurMatcher;
    const t = (oursFirst ? second.engine : first.engine) as TheirMatcher;
    ourNs.push(oursFirst ? first.ns : second.ns);
    theirNs.push(oursFirst ? second.ns : first.ns);
    say(
      `  rep ${r + 1}/${reps} (${oursFirst ? 'ours' : 'nodejs-order-book'} first): ours ` +
        `${fmtInt(perSecond(n, ourNs[r]!))} cmd/s, nodejs-order-book ${fmtInt(perSecond(n, theirNs[r]!))} cmd/s`,
    );
    if (!sameOutcome(ours.out, o.out)) throw new Error('our matcher is not deterministic across reps');
    if (!sameOutcome(theirs.out, t.out))
      throw new Error('nodejs-order-book is not deterministic across reps');
    ours = o;
    theirs = t;
  }
  const o = ours;
  const t = theirs;

  // Agreement on the stream.
  const depthOurs = ourDepth(o);
  const depthTheirs = t.book.depth();
  const depthEqual = JSON.stringify(depthOurs) === JSON.stringify(depthTheirs);
  const agree = sameOutcome(o.out, t.out) && depthEqual;
  say(
    `fills: ours ${fmtInt(o.out.fills)} / theirs ${fmtInt(t.out.fills)}; traded lots ${fmtInt(o.out.tradedLots)} / ` +
      `${fmtInt(t.out.tradedLots)}; notional ${fmtInt(o.out.notional)} / ${fmtInt(t.out.notional)} ticks*lots; ` +
      `cancels hit ${fmtInt(o.out.cancelsHit)} / ${fmtInt(t.out.cancelsHit)}; trade hash ` +
      `${(o.out.tradeHash >>> 0).toString(16)} / ${(t.out.tradeHash >>> 0).toString(16)}; final depth ` +
      `${depthEqual ? 'identical' : 'DIFFERENT'} (${depthOurs[0]!.length}+${depthOurs[1]!.length} levels)`,
  );
  if (!agree) throw new Error('the two engines disagree on the stream (see the line above)');

  const best = (xs: number[]) => Math.min(...xs);
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  const oursPerSec = perSecond(n, best(ourNs));
  const theirsPerSec = perSecond(n, best(theirNs));
  const ratio = oursPerSec / theirsPerSec;
  const oursColdPerSec = perSecond(n, cold.ns);
  const theirsColdPerSec = perSecond(n, coldTheirs.ns);
  const coldRatio = oursColdPerSec / theirsColdPerSec;
  say(
    `first run (cold): ours ${fmtInt(oursColdPerSec)} cmd/s, nodejs-order-book ${fmtInt(theirsColdPerSec)} cmd/s ` +
      `→ ours/theirs ${round(coldRatio, 2)}x`,
  );
  say(
    `steady state after ${warmup} untimed run(s) each (whole-stream wall time, best of ${reps}, interleaved): ours ${fmtInt(oursPerSec)} cmd/s ` +
      `(median ${fmtInt(perSecond(n, median(ourNs)))}), nodejs-order-book ${fmtInt(theirsPerSec)} cmd/s ` +
      `(median ${fmtInt(perSecond(n, median(theirNs)))}) → ours/theirs ${round(ratio, 2)}x (target ≥ 2x)`,
  );

  const figures: Record<string, unknown> = {
    commands: n,
    accounts: nAccounts,
    seed,
    reps,
    warmup,
    stream: stats,
    oursColdCmdPerSec: round(oursColdPerSec),
    theirsColdCmdPerSec: round(theirsColdPerSec),
    coldRatio: round(coldRatio, 2),
    oursCmdPerSec: round(oursPerSec),
    theirsCmdPerSec: round(theirsPerSec),
    oursCmdPerSecMedian: round(perSecond(n, median(ourNs))),
    theirsCmdPerSecMedian: round(perSecond(n, median(theirNs))),
    ratio: round(ratio, 2),
    fills: o.out.fills,
    tradedLots: o.out.tradedLots,
    notionalTickLots: o.out.notional,
    cancelsHit: o.out.cancelsHit,
    rejectsLevelCap: o.out.rejects,
    finalRestingOrders: o.book.orderCount(),
    agree,
  };

  if (doLatency) {
    const overhead = timerOverheadNs();
    fullGc();
    const lo = summarize(runTimed(new OurMatcher(), stream));
    fullGc();
    const lt = summarize(runTimed(new TheirMatcher(ids, accounts), stream));
    const us = (x: number) => round(x / 1e3, 3);
    say(
      `latency per command (process.hrtime.bigint around each command, raw incl. ~${round(overhead)} ns timer ` +
        `overhead): ours p50 ${us(lo.p50)} µs, p99 ${us(lo.p99)} µs, p99.9 ${us(lo.p999)} µs, max ${us(lo.max)} µs`,
    );
    say(
      `                       nodejs-order-book p50 ${us(lt.p50)} µs, p99 ${us(lt.p99)} µs, p99.9 ${us(lt.p999)} µs, ` +
        `max ${us(lt.max)} µs`,
    );
    figures.latencyMethod = 'per-command process.hrtime.bigint, raw (includes timer overhead)';
    figures.timerOverheadNs = round(overhead);
    figures.oursLatencyUs = {
      p50: us(lo.p50),
      p99: us(lo.p99),
      p999: us(lo.p999),
      max: us(lo.max),
      mean: us(lo.mean),
    };
    figures.theirsLatencyUs = {
      p50: us(lt.p50),
      p99: us(lt.p99),
      p999: us(lt.p999),
      max: us(lt.max),
      mean: us(lt.mean),
    };
  }
  return figures;
}

// ------------------------------------------------------------------------------------------------------------------
// Stream generation off the timing thread.

const GENERATE_TASK = 'matching-book:generate';
type Generated = ReturnType<typeof generate>;

/**
 * `generate` in a worker thread: the generation pass runs our matcher, and in the timing thread that would compile
 * and warm our code before the peer's had run once. The typed arrays come back by transfer.
 */
export function generateInWorker(n: number, nAccounts: number, seed: number): Promise<Generated> {
  return new Promise((resolve, reject) => {
    const w = tsWorker(import.meta.url, { workerData: { task: GENERATE_TASK, n, nAccounts, seed } });
    let got: Generated | null = null;
    w.once('message', (m: Generated) => {
      got = m;
    });
    w.once('error', reject);
    w.once('exit', (code) => {
      if (got !== null) resolve(got);
      else reject(new Error(`stream generation worker exited with code ${code} and no stream`));
    });
  });
}

const task = workerData as { task?: string; n: number; nAccounts: number; seed: number } | null;
if (!isMainThread && task?.task === GENERATE_TASK && parentPort !== null) {
  const g = generate(task.n, task.nAccounts, task.seed);
  const st = g.stream;
  parentPort.postMessage(
    g,
    [st.kind, st.side, st.price, st.lots, st.account, st.ref].map((x) => x.buffer as ArrayBuffer),
  );
}
