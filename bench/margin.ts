/**
 * Margin evaluations per second: for each of N isolated positions compute unrealized PnL, maintenance margin,
 * margin ratio and the liquidation price with src/core/margin.ts (exact bigint), and the same formulas with
 * decimal.js on a sample, on the same seeded inputs; cross-check the two.
 *
 *   npm run bench -- margin [--n 1000000] [--decimal-n 100000] [--reps 5] [--api-reps 2] [--decimal-reps 3]
 *                           [--workers <cores>] [--precision 40] [--seed 42]
 *
 * Markets: binance-usdm BTCUSDT and ETHUSDT (linear, brackets, maintenance at the liquidation price with the
 * tier re-check) and bybit-inverse BTCUSD (inverse, step risk limits, maintenance at entry, fee to close).
 *
 * Figures: positions/s of `evaluatePosition` on one thread (the headline), the same on `--workers` threads at once
 * (0 to skip), the public functions composed, and decimal.js (rate per second from its sample); the decimal.js
 * cross-check (uPnL, MM and ratio exact, LP within a tick) and evaluatePosition vs the public functions on every
 * position. decimal.js runs at 40 significant digits by default: enough that every product is exact and every
 * quotient rounds like the exact rational at these magnitudes, without paying for more.
 */
import { once } from 'node:events';
import { availableParallelism, loadavg } from 'node:os';
import { isMainThread, parentPort, type Worker, workerData } from 'node:worker_threads';
import { Decimal } from 'decimal.js';
import { evaluatePosition, newPositionEvaluation } from '../src/core/evaluate.ts';
import { formatDecimal, minBig, pow10 } from '../src/core/fixed.ts';
import type { Instrument } from '../src/core/instrument.ts';
import {
  liquidationPrice,
  type MarginConventions,
  marginRatio,
  notional,
  type PositionInput,
  positionRisk,
  ratesAt,
  type Side,
} from '../src/core/margin.ts';
import { type ConventionSpec, type MarketSpec, PRESETS, venue } from '../src/core/presets.ts';
import { LEVERAGE_ONE } from '../src/core/rates.ts';
import { Rng } from '../src/sim/rng.ts';
import {
  checkArgs,
  fmtInt,
  intArg,
  maybeGc,
  parseArgs,
  peakRssMiB,
  perSecond,
  rateSummary,
  round,
  say,
  tsWorker,
} from './lib.ts';

// ---------------------------------------------------------------------------------------------------------
// Inputs

interface Market {
  venue: string;
  symbol: string;
  inst: Instrument;
  conv: MarginConventions;
  spec: MarketSpec;
  convSpec: ConventionSpec;
  /** Share of positions. */
  weight: number;
  /** Entry price range (quote per base). */
  priceLo: number;
  priceHi: number;
}

function markets(): Market[] {
  const mk = (venueId: string, symbol: string, weight: number, priceLo: number, priceHi: number): Market => {
    const v = venue(venueId);
    const inst = v.markets.get(symbol);
    const p = PRESETS[venueId]!;
    const spec = p.markets.find((m) => m.symbol === symbol);
    if (!inst || !spec) throw new Error(`no market ${venueId}/${symbol}`);
    return {
      venue: venueId,
      symbol,
      inst,
      conv: v.conventions,
      spec,
      convSpec: p.conventions,
      weight,
      priceLo,
      priceHi,
    };
  };
  return [
    mk('binance-usdm', 'BTCUSDT', 0.45, 15_000, 120_000),
    mk('binance-usdm', 'ETHUSDT', 0.35, 800, 5_000),
    mk('bybit-inverse', 'BTCUSD', 0.2, 15_000, 120_000),
  ];
}

interface Book {
  n: number;
  markets: Market[];
  market: Uint8Array;
  side: Side[];
  size: bigint[];
  entry: bigint[];
  mark: bigint[];
  collateral: bigint[];
  /** The same position as the public API takes it. */
  pos: PositionInput[];
}

/** Scaled integer from a float, rounded to a multiple of `step` (at least one step). */
function toSteps(x: number, dp: number, step: bigint): bigint {
  const units = BigInt(Math.round(x * 10 ** Math.min(dp, 8))) * pow10(Math.max(0, dp - 8));
  const k = units / step;
  return (k < 1n ? 1n : k) * step;
}

/**
 * Seeded positions `from` .. `to` − 1 (each drawn from its own generator, so any slice of the book can be built
 * alone, by a worker): 85% retail (10..200k USD), 12% large (200k..10M), 3% whales (10M..600M, several tiers
 * deep); average entry prices off the tick at full price precision, marks on the tick within ±15% of entry;
 * isolated collateral = initial margin at a random leverage up to the entry tier's maximum, some with extra
 * margin added.
 */
function buildBook(seed: number, from: number, to: number): Book {
  const ms = markets();
  const n = to - from;
  const book: Book = {
    n,
    markets: ms,
    market: new Uint8Array(n),
    side: new Array(n),
    size: new Array(n),
    entry: new Array(n),
    mark: new Array(n),
    collateral: new Array(n),
    pos: new Array(n),
  };
  const cum: number[] = [];
  let acc = 0;
  for (const m of ms) {
    acc += m.weight;
    cum.push(acc);
  }
  for (let i = 0; i < n; i++) {
    const rng = Rng.forItem(seed, 0, from + i); // position i is the same in every worker's slice
    const u = rng.next() * acc;
    let mi = 0;
    while (mi < ms.length - 1 && u >= cum[mi]!) mi++;
    const m = ms[mi]!;
    const inst = m.inst;
    const side: Side = rng.chance(0.5) ? 'long' : 'short';
    const entryF = rng.float(m.priceLo, m.priceHi);
    // Average entry: any price unit (not on the tick).
    const entry = BigInt(Math.round(entryF * 1e4)) * pow10(inst.priceDp - 4) + BigInt(rng.int(0, 9999));
    const markF = entryF * (1 + rng.float(-0.15, 0.15));
    const mark = toSteps(markF, inst.priceDp, inst.tickSize);
    const r = rng.next();
    const usd =
      r < 0.85
        ? rng.logUniform(10, 200e3)
        : r < 0.97
          ? rng.logUniform(200e3, 10e6)
          : rng.logUniform(10e6, 600e6);
    const size =
      inst.kind === 'linear'
        ? toSteps(usd / entryF, inst.sizeDp, inst.lotSize)
        : toSteps(usd / (Number(inst.multiplier) / 10 ** inst.multiplierDp), inst.sizeDp, inst.lotSize);
    const rates = ratesAt(inst, size, entry);
    const maxLev = minBig(rates.maxLeverage, inst.maxLeverage);
    const leverage = BigInt(Math.round(rng.logUniform(100, Number(maxLev) + 1)));
    const lev = minBig(leverage, maxLev);
    const nEntry = notional(inst, size, entry, 'ceil');
    let collateral = (nEntry * LEVERAGE_ONE + lev - 1n) / lev;
    if (rng.chance(0.1)) collateral += (collateral * BigInt(rng.int(1, 50))) / 100n;
    book.market[i] = mi;
    book.side[i] = side;
    book.size[i] = size;
    book.entry[i] = entry;
    book.mark[i] = mark;
    book.collateral[i] = collateral;
    book.pos[i] = { side, size, entryPrice: entry };
  }
  return book;
}

// ---------------------------------------------------------------------------------------------------------
// Results

interface Results {
  upnl: bigint[];
  mm: bigint[];
  ratio: (bigint | null)[];
  lp: (bigint | null)[];
}

const newResults = (n: number): Results => ({
  upnl: new Array(n).fill(0n),
  mm: new Array(n).fill(0n),
  ratio: new Array(n).fill(null),
  lp: new Array(n).fill(null),
});

/**
 * Timed passes keep nothing but a number derived from each result (so no call can be skipped); the results
 * themselves are kept only by the untimed verification passes, because retaining millions of bigints from a
 * timed loop measures the garbage collector's promotion work rather than the margin math.
 */
type Sink = { n: number };

/** bigint through the public functions, composed the way a caller would. */
function evalApi(
  book: Book,
  i: number,
): { upnl: bigint; mm: bigint; ratio: bigint | null; lp: bigint | null } {
  const m = book.markets[book.market[i]!]!;
  const p = book.pos[i]!;
  const coll = book.collateral[i]!;
  const risk = positionRisk(m.inst, p, book.mark[i]!, m.conv);
  return {
    upnl: risk.unrealizedPnl,
    mm: risk.maintenanceMargin,
    ratio: marginRatio(risk.maintenanceMargin, coll + risk.unrealizedPnl),
    lp: liquidationPrice({ inst: m.inst, conv: m.conv, pos: p, collateral: coll }),
  };
}

function passApi(book: Book, from: number, to: number, sink: Sink): void {
  let acc = 0;
  for (let i = from; i < to; i++) {
    const r = evalApi(book, i);
    acc += r.lp === null ? 1 : r.ratio === null ? 2 : 3;
  }
  sink.n += acc;
}

/** bigint through evaluatePosition (no objects allocated per position). */
function passFast(book: Book, from: number, to: number, sink: Sink, out?: Results): void {
  const { markets: ms, market, side, size, entry, mark, collateral } = book;
  const ev = newPositionEvaluation();
  let acc = 0;
  for (let i = from; i < to; i++) {
    const m = ms[market[i]!]!;
    evaluatePosition(m.inst, m.conv, side[i]!, size[i]!, entry[i]!, mark[i]!, collateral[i]!, ev);
    acc += ev.liquidationPrice === null ? ev.tier : ev.marginRatio === null ? 2 : 3;
    if (out) {
      out.upnl[i] = ev.unrealizedPnl;
      out.mm[i] = ev.maintenanceMargin;
      out.ratio[i] = ev.marginRatio;
      out.lp[i] = ev.liquidationPrice;
    }
  }
  sink.n += acc;
}

// ---------------------------------------------------------------------------------------------------------
// decimal.js: the same formulas on real numbers, rounded where the bigint code rounds

const D = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -200, toExpPos: 200 });
type Dec = InstanceType<typeof D>;
const ZERO = new D(0);
const RATE_DP = 10;

interface DTier {
  cap: Dec | null;
  mmr: Dec;
  /** Maintenance deduction (settle asset). */
  d: Dec;
}

interface DMarket {
  linear: boolean;
  sdp: number;
  tick: Dec;
  mult: Dec;
  tiers: DTier[];
  basis: MarginConventions['mmBasis'];
  nearest: boolean;
  /** Fee to close folded into maintenance (0 when the venue does not). */
  fee: Dec;
}

/** Decimal tier table built from the preset's own strings (not from the bigint tables). */
function dMarket(m: Market): DMarket {
  const spec = m.spec;
  const sdp = spec.settleDp;
  const tiers: DTier[] = [];
  const r = spec.risk;
  if (r.kind === 'brackets') {
    let prevCap = ZERO;
    let prevMmr = ZERO;
    let prevD = ZERO;
    r.tiers.forEach((t, i) => {
      const mmr = new D(t.mmr);
      const d =
        (r.deduction ?? 'derived') === 'derived' && i > 0 ? prevCap.mul(mmr.sub(prevMmr)).add(prevD) : ZERO;
      const cap = t.cap === null ? null : new D(t.cap);
      tiers.push({ cap, mmr, d });
      prevCap = cap ?? prevCap;
      prevMmr = mmr;
      prevD = d;
    });
  } else if (r.kind === 'steps') {
    const unit = new D(1).div(new D(10).pow(sdp));
    for (let k = 0; k <= r.steps; k++) {
      const mmr = new D(r.baseMmr).add(new D(r.stepRate).mul(k));
      const cap = k === r.steps ? null : new D(r.baseLimit).add(new D(r.step).mul(k)).sub(unit);
      tiers.push({ cap, mmr, d: ZERO });
    }
  } else throw new Error(`decimal reference does not model ${r.kind}`);
  const c = m.convSpec;
  return {
    linear: spec.kind === 'linear',
    sdp,
    tick: new D(spec.tickSize),
    mult: new D(spec.multiplier),
    tiers,
    basis: c.mmBasis,
    nearest: c.priceRounding === 'nearest',
    fee: c.feeToCloseInMaintenance ? new D(c.takerFeeRate) : ZERO,
  };
}

const CEIL = Decimal.ROUND_CEIL;
const FLOOR = Decimal.ROUND_FLOOR;

function dNotional(m: DMarket, q: Dec, p: Dec): Dec {
  return (m.linear ? q.mul(p) : q.div(p)).toDP(m.sdp, CEIL);
}

function dTier(m: DMarket, n: Dec): number {
  const ts = m.tiers;
  for (let i = 0; i < ts.length; i++) {
    const cap = ts[i]!.cap;
    if (cap === null || n.lte(cap)) return i;
  }
  return ts.length - 1;
}

function dUpnl(m: DMarket, sg: number, q: Dec, e: Dec, p: Dec): Dec {
  const x = q.mul(p.sub(e)).mul(sg);
  return (m.linear ? x : x.div(e.mul(p))).toDP(m.sdp, FLOOR);
}

/** value × rate, rounded up at settle dp + RATE_DP (where the bigint code keeps it). */
function dValueRate(m: DMarket, q: Dec, p: Dec, r: Dec): Dec {
  return (m.linear ? q.mul(p).mul(r) : q.mul(r).div(p)).toDP(m.sdp + RATE_DP, CEIL);
}

function dMaintenance(m: DMarket, q: Dec, p: Dec, r: Dec, d: Dec): Dec {
  const x = dValueRate(m, q, p, r).sub(d).toDP(m.sdp, CEIL);
  return x.isNeg() ? ZERO : x;
}

/** Solves M + uPnL(P) = value(P) × r for P; null when no positive price exists. */
function dSolve(m: DMarket, sg: number, q: Dec, e: Dec, M: Dec, r: Dec): { num: Dec; den: Dec } | null {
  let num: Dec;
  let den: Dec;
  if (m.linear) {
    num = q.mul(e).mul(sg).sub(M);
    den = q.mul(r.neg().add(sg));
  } else {
    num = q.mul(r.add(sg)).mul(e);
    den = M.mul(e).add(q.mul(sg));
  }
  if (den.isZero()) return null;
  if (den.isNeg()) {
    num = num.neg();
    den = den.neg();
  }
  if (num.lte(0)) return null;
  return { num, den };
}

function dRound(m: DMarket, long: boolean, p: { num: Dec; den: Dec }): Dec {
  const x = p.num.div(p.den.mul(m.tick));
  return x.toDP(0, m.nearest ? Decimal.ROUND_HALF_UP : long ? CEIL : FLOOR).mul(m.tick);
}

function dWorse(long: boolean, a: Dec | null, b: Dec | null): Dec | null {
  if (a === null) return b;
  if (b === null) return a;
  return long ? (a.gt(b) ? a : b) : a.lt(b) ? a : b;
}

function dLiquidation(m: DMarket, long: boolean, q: Dec, e: Dec, coll: Dec): Dec | null {
  const sg = long ? 1 : -1;
  let best: Dec | null = null;
  if (m.basis !== 'mark') {
    const t = m.tiers[dTier(m, dNotional(m, q, e))]!;
    const k = dValueRate(m, q, e, t.mmr).sub(t.d);
    const p = dSolve(m, sg, q, e, coll.sub(k.isPos() ? k : ZERO), m.fee);
    best = p && dRound(m, long, p);
    if (m.basis === 'entry') return best;
  }
  return dWorse(long, best, dLiquidationAtMark(m, long, q, e, coll));
}

function dLiquidationAtMark(m: DMarket, long: boolean, q: Dec, e: Dec, coll: Dec): Dec | null {
  const sg = long ? 1 : -1;
  const solveTier = (k: number) => {
    const t = m.tiers[k]!;
    return dSolve(m, sg, q, e, coll.add(t.d), t.mmr.add(m.fee));
  };
  /** Notional at the exact (unrounded) solution, rounded up: the tier is the one at the solution itself. */
  const exactNotional = (p: { num: Dec; den: Dec }) =>
    (m.linear ? q.mul(p.num).div(p.den) : q.mul(p.den).div(p.num)).toDP(m.sdp, CEIL);
  // Walk from the entry tier, re-checking the tier at each solution.
  let k = dTier(m, dNotional(m, q, e));
  for (let step = 0; step < 4; step++) {
    const sp = solveTier(k);
    if (sp === null) break;
    const j = dTier(m, exactNotional(sp));
    if (j === k) return dRound(m, long, sp);
    k = j;
  }
  // Scan: every tier's own solution inside that tier, and boundaries already liquidatable.
  let best: Dec | null = null;
  let found = false;
  const consider = (p: Dec) => {
    best = found ? dWorse(long, best, p) : p;
    found = true;
  };
  for (let i = 0; i < m.tiers.length; i++) {
    const sp = solveTier(i);
    if (sp === null) continue;
    const p = dRound(m, long, sp);
    if (p.gt(0) && dTier(m, exactNotional(sp)) === i) consider(p);
  }
  for (let i = 0; i < m.tiers.length; i++) {
    const t = m.tiers[i]!;
    if (t.cap === null || t.cap.lte(0) || q.isZero()) continue;
    const exact = m.linear ? { num: t.cap, den: q } : { num: q, den: t.cap };
    const x = exact.num.div(exact.den.mul(m.tick));
    const b = x.toDP(0, long ? CEIL : FLOOR).mul(m.tick);
    if (b.gt(0)) {
      const bt = m.tiers[dTier(m, dNotional(m, q, b))]!;
      if (coll.add(dUpnl(m, sg, q, e, b)).lt(dMaintenance(m, q, b, bt.mmr.add(m.fee), bt.d))) consider(b);
    }
  }
  return found ? best : null;
}

interface DInput {
  m: DMarket;
  long: boolean;
  q: Dec;
  e: Dec;
  p: Dec;
  coll: Dec;
}

interface DResult {
  upnl: Dec;
  mm: Dec;
  ratio: Dec | null;
  lp: Dec | null;
}

function dEvaluate(x: DInput): DResult {
  const { m, long, q, e, p, coll } = x;
  const upnl = dUpnl(m, long ? 1 : -1, q, e, p);
  const t = m.tiers[dTier(m, dNotional(m, q, p))]!;
  const mm = dMaintenance(m, q, p, t.mmr.add(m.fee), t.d);
  const bal = coll.add(upnl);
  const ratio = bal.lte(0) ? null : mm.div(bal).toDP(RATE_DP, CEIL);
  return { upnl, mm, ratio, lp: dLiquidation(m, long, q, e, coll) };
}

function dInputs(book: Book, n: number): DInput[] {
  const dms = book.markets.map(dMarket);
  const out: DInput[] = [];
  for (let i = 0; i < n; i++) {
    const mk = book.markets[book.market[i]!]!;
    const inst = mk.inst;
    const m = dms[book.market[i]!]!;
    out.push({
      m,
      long: book.side[i] === 'long',
      q: new D(formatDecimal(book.size[i]!, inst.sizeDp)).mul(m.mult),
      e: new D(formatDecimal(book.entry[i]!, inst.priceDp)),
      p: new D(formatDecimal(book.mark[i]!, inst.priceDp)),
      coll: new D(formatDecimal(book.collateral[i]!, inst.settleDp)),
    });
  }
  return out;
}

/**
 * Conservative rounding only: the bigint price `bl` lies between the decimal one `dl` and the decimal one with 2 settle
 * units less collateral, a tick either way (where the rounded test fails before the exact one, margin.ts moves the
 * price toward safety by up to that much).
 */
function inBand(x: DInput, sdp: number, pdp: number, tick: bigint, dl: bigint, bl: bigint): boolean {
  if (x.m.nearest) return false;
  const d2 = dLiquidation(x.m, x.long, x.q, x.e, x.coll.sub(new D(2).div(new D(10).pow(sdp))));
  const b2 = d2 === null ? null : scaled(d2, pdp);
  if (b2 === null) return false;
  const lo = dl < b2 ? dl : b2;
  const hi = dl < b2 ? b2 : dl;
  return bl >= lo - tick && bl <= hi + tick;
}

/** A decimal result in the bigint's scaled units; null (a mismatch) when it has more than `dp` places. */
function scaled(d: Dec, dp: number): bigint | null {
  const x = d.mul(new D(10).pow(dp));
  return x.isInteger() ? BigInt(x.toFixed(0)) : null;
}

// ---------------------------------------------------------------------------------------------------------

function timePasses(
  label: string,
  reps: number,
  n: number,
  pass: () => void,
): { best: number; median: number; all: number[] } {
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    maybeGc();
    const t0 = process.hrtime.bigint();
    pass();
    const ns = Number(process.hrtime.bigint() - t0);
    const rate = perSecond(n, ns);
    rates.push(rate);
    say(
      `  ${label} rep ${r + 1}/${reps}: ${fmtInt(n)} positions in ${round(ns / 1e6, 1)} ms = ${fmtInt(rate)} positions/s`,
    );
  }
  return rateSummary(rates);
}

// ---------------------------------------------------------------------------------------------------------
// The same bigint pass on every core: each worker builds its own slice of the book and evaluates it

interface WorkerInit {
  role: 'margin-worker';
  seed: number;
  from: number;
  to: number;
}
type FromWorker = { kind: 'ready' } | { kind: 'done'; ns: number; sink: number };

if (!isMainThread && (workerData as WorkerInit | null)?.role === 'margin-worker')
  workerMain(workerData as WorkerInit);

function workerMain(init: WorkerInit): void {
  const port = parentPort!;
  const book = buildBook(init.seed, init.from, init.to);
  const sink: Sink = { n: 0 };
  passFast(book, 0, Math.min(book.n, 50_000), sink);
  port.on('message', (cmd: 'go' | 'stop') => {
    if (cmd === 'stop') {
      port.close();
      return;
    }
    const t0 = process.hrtime.bigint();
    passFast(book, 0, book.n, sink);
    port.postMessage({
      kind: 'done',
      ns: Number(process.hrtime.bigint() - t0),
      sink: sink.n,
    } satisfies FromWorker);
  });
  port.postMessage({ kind: 'ready' } satisfies FromWorker);
}

const nextMessage = async (w: Worker): Promise<FromWorker> => ((await once(w, 'message')) as [FromWorker])[0];

/** Wall-clock rate of `workers` threads each evaluating 1/workers of the book at once. */
async function timeParallel(
  workers: number,
  n: number,
  seed: number,
  reps: number,
): Promise<{ best: number; median: number; all: number[] }> {
  const ws: Worker[] = [];
  for (let w = 0; w < workers; w++) {
    const from = Math.floor((n * w) / workers);
    const to = Math.floor((n * (w + 1)) / workers);
    ws.push(
      tsWorker(import.meta.url, {
        workerData: { role: 'margin-worker', seed, from, to } satisfies WorkerInit,
      }),
    );
  }
  try {
    await Promise.all(ws.map(nextMessage));
    const rates: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = process.hrtime.bigint();
      const done = ws.map(nextMessage);
      for (const w of ws) w.postMessage('go');
      const results = await Promise.all(done);
      const ns = Number(process.hrtime.bigint() - t0);
      const rate = perSecond(n, ns);
      rates.push(rate);
      const each = results.map((m) => (m.kind === 'done' ? `${round(m.ns / 1e6)} ms` : '?')).join(', ');
      say(
        `  ${workers} workers rep ${r + 1}/${reps}: ${fmtInt(n)} positions in ${round(ns / 1e6, 1)} ms (${each}) = ${fmtInt(rate)} positions/s`,
      );
    }
    return rateSummary(rates);
  } finally {
    for (const w of ws) w.postMessage('stop');
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const args = parseArgs(argv);
  checkArgs(args, ['n', 'decimal-n', 'reps', 'api-reps', 'decimal-reps', 'workers', 'precision', 'seed']);
  const n = Math.max(1, intArg(args, 'n', 1_000_000));
  const decimalN = Math.max(1, Math.min(n, intArg(args, 'decimal-n', 100_000)));
  const reps = Math.max(1, intArg(args, 'reps', 5));
  const apiReps = Math.max(1, intArg(args, 'api-reps', 2));
  const decimalReps = Math.max(1, intArg(args, 'decimal-reps', 3));
  const seed = intArg(args, 'seed', 42);
  const precision = Math.max(20, intArg(args, 'precision', 40));
  const cores = availableParallelism();
  const workers = intArg(args, 'workers', cores > 1 ? cores : 0);
  D.set({ precision });
  const loadBefore = round(loadavg()[0]!, 2);
  say(`load average ${loadBefore} on ${cores} cores (other processes slow every figure down)`);

  // The threads first, before this thread holds a book of its own (lower peak memory).
  let par: { best: number; median: number } | null = null;
  if (workers > 0) {
    say(
      `bigint, evaluatePosition on ${workers} worker threads at once (each builds and evaluates 1/${workers} of the book):`,
    );
    par = await timeParallel(workers, n, seed, reps);
  }

  say(`building ${fmtInt(n)} seeded positions (seed ${seed})...`);
  const t0 = process.hrtime.bigint();
  const book = buildBook(seed, 0, n);
  const mix = book.markets.map((m, mi) => {
    let c = 0;
    for (let i = 0; i < n; i++) if (book.market[i] === mi) c++;
    return `${m.venue}/${m.symbol} ${c}`;
  });
  say(`  built in ${round(Number(process.hrtime.bigint() - t0) / 1e6)} ms: ${mix.join(', ')}`);

  // Warm every path on a slice so the timed passes run optimized code.
  const sink: Sink = { n: 0 };
  const warm = Math.min(n, 50_000);
  passFast(book, 0, warm, sink);
  passApi(book, 0, warm, sink);

  say('bigint, evaluatePosition on this thread (src/core/margin.ts fast path):');
  const fastT = timePasses('bigint', reps, n, () => passFast(book, 0, n, sink));
  say('bigint, public API composed (positionRisk + marginRatio + liquidationPrice):');
  const apiT = timePasses('bigint api', apiReps, n, () => passApi(book, 0, n, sink));

  // Untimed: evaluatePosition must equal the public functions on every position.
  say('verifying evaluatePosition against the public functions on every position...');
  const fast = newResults(n);
  passFast(book, 0, n, sink, fast);
  let fastVsApi = 0;
  for (let i = 0; i < n; i++) {
    const r = evalApi(book, i);
    if (r.upnl !== fast.upnl[i] || r.mm !== fast.mm[i] || r.ratio !== fast.ratio[i] || r.lp !== fast.lp[i]) {
      if (fastVsApi < 5) say(`  MISMATCH evaluatePosition vs public API at position ${i}`);
      fastVsApi++;
    }
  }
  say(`  ${fastVsApi} mismatches in ${fmtInt(n)}`);

  say(`decimal.js (precision ${precision}) on the first ${fmtInt(decimalN)} positions:`);
  const dIn = dInputs(book, decimalN);
  const dPass = (from: number, to: number) => {
    let acc = 0;
    for (let i = from; i < to; i++) {
      const r = dEvaluate(dIn[i]!);
      acc += r.lp === null ? 1 : r.ratio === null ? 2 : 3;
    }
    sink.n += acc;
  };
  dPass(0, Math.min(decimalN, 5_000));
  const decT = timePasses('decimal.js', decimalReps, decimalN, () => dPass(0, decimalN));

  // Cross-check on the decimal sample: uPnL, MM and ratio exact; LP within one tick (counting exact ones) — or, under
  // conservative rounding, where the whole-unit test decides (a small inverse position, one satoshi spanning several
  // ticks), between the exact price and the one with 2 units less collateral (see margin.ts, "The first failing tick").
  let mismatches = 0;
  let lpExact = 0;
  let lpWithinTick = 0;
  let lpBand = 0;
  let lpBothNone = 0;
  const byField = { upnl: 0, mm: 0, ratio: 0, lp: 0 };
  for (let i = 0; i < decimalN; i++) {
    const inst = book.markets[book.market[i]!]!.inst;
    const d = dEvaluate(dIn[i]!);
    let bad = false;
    if (scaled(d.upnl, inst.settleDp) !== fast.upnl[i]) {
      byField.upnl++;
      bad = true;
    }
    if (scaled(d.mm, inst.settleDp) !== fast.mm[i]) {
      byField.mm++;
      bad = true;
    }
    const br = fast.ratio[i] ?? null;
    if ((d.ratio === null) !== (br === null) || (d.ratio !== null && scaled(d.ratio, RATE_DP) !== br)) {
      byField.ratio++;
      bad = true;
    }
    const bl = fast.lp[i] ?? null;
    if ((d.lp === null) !== (bl === null)) {
      byField.lp++;
      bad = true;
    } else if (d.lp === null || bl === null) {
      lpBothNone++;
    } else {
      const dl = scaled(d.lp, inst.priceDp);
      const diff = dl === null ? null : dl - bl;
      const ad = diff === null ? null : diff < 0n ? -diff : diff;
      if (ad === 0n) lpExact++;
      if (ad !== null && ad <= inst.tickSize) lpWithinTick++;
      else if (dl !== null && inBand(dIn[i]!, inst.settleDp, inst.priceDp, inst.tickSize, dl, bl)) lpBand++;
      else {
        byField.lp++;
        bad = true;
      }
    }
    if (bad) {
      if (mismatches < 5) say(`  MISMATCH bigint vs decimal.js at position ${i}: ${JSON.stringify(byField)}`);
      mismatches++;
    }
  }
  say(
    `  cross-check on ${fmtInt(decimalN)}: ${mismatches} mismatches (uPnL, MM, ratio exact; LP ${fmtInt(lpExact)} ` +
      `exact, ${fmtInt(lpWithinTick)} within a tick, ${fmtInt(lpBand)} in the whole-unit band, ` +
      `${fmtInt(lpBothNone)} none on both sides)`,
  );

  const ratio = fastT.median / decT.median;
  say('');
  say(
    `bigint evaluatePosition: ${fmtInt(fastT.median)} positions/s (median of ${reps}; best ${fmtInt(fastT.best)})`,
  );
  if (par)
    say(
      `bigint on ${workers} threads:  ${fmtInt(par.median)} positions/s (median of ${reps}; best ${fmtInt(par.best)})`,
    );
  say(`bigint public API:       ${fmtInt(apiT.median)} positions/s (median of ${apiReps})`);
  say(
    `decimal.js:              ${fmtInt(decT.median)} positions/s (median of ${decimalReps}, ${fmtInt(decimalN)} positions)`,
  );
  say(
    `ratio bigint/decimal.js: ${round(ratio, 1)}x (public API path: ${round(apiT.median / decT.median, 1)}x)`,
  );
  say(`mismatches: ${mismatches} vs decimal.js, ${fastVsApi} vs public API; peak RSS ${peakRssMiB()} MiB`);
  return {
    positions: n,
    decimalPositions: decimalN,
    seed,
    reps,
    bigintPositionsPerSec: Math.round(fastT.median),
    bigintPositionsPerSecBest: Math.round(fastT.best),
    workers,
    bigintParallelPositionsPerSec: par ? Math.round(par.median) : null,
    bigintApiPositionsPerSec: Math.round(apiT.median),
    decimalPositionsPerSec: Math.round(decT.median),
    decimalPrecision: precision,
    ratio: round(ratio, 2),
    apiRatio: round(apiT.median / decT.median, 2),
    mismatches,
    mismatchesByField: byField,
    lpExact,
    lpWithinTick,
    lpBand,
    lpBothNone,
    fastVsApiMismatches: fastVsApi,
    peakRssMiB: peakRssMiB(),
    loadAvg1m: [loadBefore, round(loadavg()[0]!, 2)],
    sink: sink.n,
  };
}
