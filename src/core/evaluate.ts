/**
 * The hot path: one position, every figure a risk check needs (uPnL, maintenance, margin ratio, liquidation price)
 * at once, without allocating objects. It computes exactly what the plain functions in margin.ts return — same
 * rounding, same tier rule — by sharing products and caching per-instrument constants; margin.ts stays the
 * readable reference, and test/core/evaluate-position.test.ts holds the two equal on every preset and on random
 * instruments. Untiered rules and edge inputs go through the plain functions.
 */
import { ceilDiv } from './fixed.ts';
import type { Instrument } from './instrument.ts';
import {
  type LiquidationInput,
  liquidationPrice,
  liquidationPriceFromSolved,
  type MarginConventions,
  marginRatio,
  positionRisk,
  type Side,
  scales,
  tierJumps,
} from './margin.ts';
import { RATE_ONE } from './rates.ts';

const RONE = RATE_ONE;

/** What a risk check needs about one position at one mark; `evaluatePosition` writes it in place. */
export interface PositionEvaluation {
  /** Index of the bracket in force at mark, as `positionRisk(...).rates.tier` (0 for untiered rules). */
  tier: number;
  /** As `unrealizedPnl`. */
  unrealizedPnl: bigint;
  /** As `positionRisk(...).maintenanceMargin`: at mark, with the fee to close where the venue counts it. */
  maintenanceMargin: bigint;
  /** As `marginRatio(maintenanceMargin, collateral + unrealizedPnl)`: RATE_DP, null when that is not positive. */
  marginRatio: bigint | null;
  /** As `liquidationPrice` for the position backed by `collateral`. */
  liquidationPrice: bigint | null;
}

export function newPositionEvaluation(): PositionEvaluation {
  return { tier: 0, unrealizedPnl: 0n, maintenanceMargin: 0n, marginRatio: null, liquidationPrice: null };
}

/** Rate constants that depend on the fee folded into maintenance, per tier. */
interface FeeRates {
  /** The fee to close folded into maintenance (0 where the venue does not). */
  fee: bigint;
  /** mmr + fee. */
  mmRate: bigint[];
  /** The rate factor of the solved price per side: linear `s·R − (mmr + fee)` (den), inverse `s·R + mmr + fee` (num). */
  long: bigint[];
  short: bigint[];
  /** The same with the fee alone (maintenance measured at entry). */
  entryLong: bigint;
  entryShort: bigint;
}

/**
 * Per-instrument constants of the tiered fast path, derived once per instrument object (like `scales`, this
 * assumes an instrument is not mutated after first use). Linear tier caps are kept multiplied by `linearDen`, so the
 * test `notional(P, 'ceil') <= cap` becomes `size·F·P <= cap·L` with no division (ceil(x/L) <= c ⟺ x <= c·L);
 * inverse caps are compared as `QC <= cap·P·S` for the same reason.
 */
interface FastConstants {
  linear: boolean;
  /** Linear: multiplier × linearUp (value = size·F·price / L), and whether it is 1. */
  F: bigint;
  F1: boolean;
  L: bigint;
  /** linearDen − 1, linearDen × RATE_ONE and that − 1 (ceil(x/d) = (x + d − 1)/d for x ≥ 0). */
  Lm1: bigint;
  LR: bigint;
  LRm1: bigint;
  /** Inverse: multiplier × settleScale × priceScale (value = size·MC / (price·S)), sizeScale, whether it is 1. */
  MC: bigint;
  S: bigint;
  S1: boolean;
  tick: bigint;
  tick2: bigint;
  /** tick / 2 when the tick is even (it usually is at 8 price decimals), else 0. */
  halfTick: bigint;
  /** Caps in compare units of the first `limit` tiers; a value above all of them is in tier `limit`. */
  caps: bigint[];
  limit: number;
  /** Caps strictly increase (always, for tables built by tiers.ts), so a guessed tier can be confirmed by its
   * two neighbouring caps. */
  capsIncreasing: boolean;
  /** Every tier's cap in settle units (null where open), for the boundary prices of the scan. */
  allCaps: (bigint | null)[];
  /** `tierJumps`: how maintenance jumps at the boundaries (0 continuous), for `excessMonotone`. */
  jumps: number;
  mmr: bigint[];
  deduction: bigint[];
  /** Linear: deduction × linearDen. */
  deductionL: bigint[];
  lastFee: bigint;
  lastRates: FeeRates;
  byFee: Map<bigint, FeeRates>;
}

const fastCache = new WeakMap<Instrument, FastConstants | null>();
/** A few most recent instruments, checked by identity before the WeakMap. */
const RECENT = 8;
const recentInst: (Instrument | null)[] = new Array(RECENT).fill(null);
const recentFast: (FastConstants | null)[] = new Array(RECENT).fill(null);
let recentNext = 0;

function fastConstants(inst: Instrument): FastConstants | null {
  for (let i = 0; i < RECENT; i++) if (recentInst[i] === inst) return recentFast[i]!;
  let f = fastCache.get(inst);
  if (f === undefined) {
    f = buildFastConstants(inst);
    fastCache.set(inst, f);
  }
  recentInst[recentNext] = inst;
  recentFast[recentNext] = f;
  recentNext = (recentNext + 1) % RECENT;
  return f;
}

function buildFastConstants(inst: Instrument): FastConstants | null {
  const rule = inst.risk;
  if (rule.kind !== 'tiers' || rule.tiers.length === 0) return null;
  const s = scales(inst);
  const tiers = rule.tiers;
  // tierIndex: the first tier whose cap is null or holds the notional, else the last.
  let limit = tiers.length - 1;
  for (let i = 0; i < tiers.length - 1; i++) {
    if (tiers[i]!.cap === null) {
      limit = i;
      break;
    }
  }
  const linear = inst.kind === 'linear';
  const L = s.linearDen;
  const F = inst.multiplier * s.linearUp;
  const caps: bigint[] = [];
  let capsIncreasing = true;
  for (let i = 0; i < limit; i++) {
    const cap = tiers[i]!.cap!;
    caps.push(linear ? cap * L : cap);
    if (i > 0 && cap <= tiers[i - 1]!.cap!) capsIncreasing = false;
  }
  const f: FastConstants = {
    linear,
    F,
    F1: F === 1n,
    L,
    Lm1: L - 1n,
    LR: L * RONE,
    LRm1: L * RONE - 1n,
    MC: inst.multiplier * s.settleScale * s.priceScale,
    S: s.sizeScale,
    S1: s.sizeScale === 1n,
    tick: inst.tickSize,
    tick2: 2n * inst.tickSize,
    halfTick: inst.tickSize % 2n === 0n ? inst.tickSize / 2n : 0n,
    caps,
    limit,
    capsIncreasing,
    allCaps: tiers.map((t) => t.cap),
    jumps: tierJumps(inst),
    mmr: tiers.map((t) => t.mmr),
    deduction: tiers.map((t) => t.deductionRaw),
    deductionL: tiers.map((t) => t.deductionRaw * L),
    lastFee: 0n,
    lastRates: undefined as unknown as FeeRates,
    byFee: new Map(),
  };
  f.lastRates = buildFeeRates(f, 0n);
  f.byFee.set(0n, f.lastRates);
  return f;
}

function feeRates(f: FastConstants, fee: bigint): FeeRates {
  if (fee === f.lastFee) return f.lastRates;
  let r = f.byFee.get(fee);
  if (r === undefined) {
    r = buildFeeRates(f, fee);
    f.byFee.set(fee, r);
  }
  f.lastFee = fee;
  f.lastRates = r;
  return r;
}

function buildFeeRates(f: FastConstants, fee: bigint): FeeRates {
  const mmRate = f.mmr.map((m) => m + fee);
  return f.linear
    ? {
        fee,
        mmRate,
        long: mmRate.map((x) => RONE - x),
        short: mmRate.map((x) => -RONE - x),
        entryLong: RONE - fee,
        entryShort: -RONE - fee,
      }
    : {
        fee,
        mmRate,
        long: mmRate.map((x) => RONE + x),
        short: mmRate.map((x) => -RONE + x),
        entryLong: RONE + fee,
        entryShort: -RONE + fee,
      };
}

/** Tier of a linear value `size·F·P` (caps pre-multiplied by L). */
function tierOfLinear(f: FastConstants, v: bigint): number {
  const caps = f.caps;
  const limit = f.limit;
  let i = 0;
  while (i < limit && v > caps[i]!) i++;
  return i;
}

/** Tier of an inverse notional ceil(QC / PS), PS > 0, without dividing. */
function tierOfInverse(f: FastConstants, QC: bigint, PS: bigint): number {
  const caps = f.caps;
  const limit = f.limit;
  let i = 0;
  while (i < limit && QC > caps[i]! * PS) i++;
  return i;
}

/**
 * Tier of the exact notional `A / B` (B > 0) in compare units, i.e. the first i with `A <= caps[i]·B`, as
 * `tierIndex(notionalAtExactPrice(...))`: ceil(A/B) <= cap ⟺ A <= cap·B for an integer cap. Confirms `guess` by
 * its neighbouring caps before scanning.
 */
function tierOfExact(f: FastConstants, A: bigint, B: bigint, guess: number): number {
  const caps = f.caps;
  const limit = f.limit;
  // A tier past an early open one (limit) is never the answer; the scan below then says which is.
  if (
    f.capsIncreasing &&
    guess <= limit &&
    (guess === limit || A <= caps[guess]! * B) &&
    (guess === 0 || A > caps[guess - 1]! * B)
  ) {
    return guess;
  }
  let i = 0;
  while (i < limit && A > caps[i]! * B) i++;
  return i;
}

/**
 * `roundPrice` of a solved price num/den with num, den > 0, without building the {num, den} object. Divides by den and by the tick
 * separately (nested floors and ceilings by positive integers compose), so each division has a one-word divisor
 * whenever den fits one.
 */
function roundPositive(num: bigint, den: bigint, long: boolean, nearest: boolean, f: FastConstants): bigint {
  const t = f.tick;
  if (nearest) {
    // halfUp: floor(num/(den·t) + 1/2) = floor((floor(num/den) + t/2) / t) for an even tick,
    // else floor((floor(2·num/den) + t) / 2t).
    const h = f.halfTick;
    return (h !== 0n ? (num / den + h) / t : ((num + num) / den + t) / f.tick2) * t;
  }
  // ceil(num/(den·t)) = floor(floor((num − 1)/den)/t) + 1 for num ≥ 1; positive floors are truncations.
  if (long) return ((num - 1n) / den / t + 1n) * t;
  return (num / den / t) * t;
}

/**
 * Tier of a linear solution x = num/den (num, den > 0) given q0 = floor(x), as `tierOfExact(f, sF·num, den, guess)`;
 * the guess is first confirmed from sF·q0 <= sF·x < sF·q0 + sF, which settles each comparison with a cap unless
 * the cap falls inside that band.
 */
function linearSolutionTier(
  f: FastConstants,
  sF: bigint,
  num: bigint,
  den: bigint,
  q0: bigint,
  guess: number,
): number {
  if (f.capsIncreasing && guess <= f.limit) {
    const caps = f.caps;
    const lo = sF * q0;
    const hi = lo + sF;
    let within: boolean;
    if (guess >= f.limit) within = true;
    else {
      const c = caps[guess]!;
      within = hi <= c ? true : lo > c ? false : sF * num <= c * den;
    }
    if (within && guess > 0) {
      const c = caps[guess - 1]!;
      within = lo > c ? true : hi <= c ? false : sF * num > c * den;
    }
    if (within) return guess;
  }
  return tierOfExact(f, sF * num, den, guess);
}

/** `roundPositive` given q0 = floor(num/den), reusing that division where the rounding allows. */
function roundFromFloor(
  num: bigint,
  den: bigint,
  q0: bigint,
  long: boolean,
  nearest: boolean,
  f: FastConstants,
): bigint {
  const t = f.tick;
  if (nearest) {
    const h = f.halfTick;
    return (h !== 0n ? (q0 + h) / t : ((num + num) / den + t) / f.tick2) * t;
  }
  if (!long) return (q0 / t) * t;
  // ceil(x/t): x = q0 exactly → ceil(q0/t); else x lies strictly between q0 and q0 + 1 → floor(q0/t) + 1.
  return (q0 * den === num ? (q0 + t - 1n) / t : q0 / t + 1n) * t;
}

/** `roundPrice(solvePrice(...))` from the raw num/den: null when no positive price exists (as solvePrice). */
function roundSolved(
  num: bigint,
  den: bigint,
  long: boolean,
  nearest: boolean,
  f: FastConstants,
): bigint | null {
  if (den === 0n) return null;
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  if (num <= 0n) return null;
  return roundPositive(num, den, long, nearest, f);
}

/**
 * uPnL, maintenance, margin ratio and liquidation price of one isolated position in one call, written into
 * `out` (which is also returned). Results are identical to `positionRisk`, `marginRatio(mm, collateral + uPnL)`
 * and `liquidationPrice`, rounding included (test/core/evaluate-position.test.ts checks that). Tiered rules take
 * a path that allocates no objects (only the bigints of the arithmetic), shares products between the figures,
 * caches per-instrument constants and divides by one-word divisors where it can; other rules, and sizes or
 * prices that are not positive, go through those functions.
 */
export function evaluatePosition(
  inst: Instrument,
  conv: MarginConventions,
  side: Side,
  size: bigint,
  entryPrice: bigint,
  mark: bigint,
  collateral: bigint,
  out: PositionEvaluation,
  oi?: bigint,
): PositionEvaluation {
  const f = fastConstants(inst);
  if (f === null || size <= 0n || entryPrice <= 0n || mark <= 0n) {
    return evaluateGeneric(inst, conv, side, size, entryPrice, mark, collateral, out, oi);
  }
  const long = side === 'long';
  const fr = feeRates(f, conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n);
  const nearest = conv.priceRounding === 'nearest';
  const basis = conv.mmBasis;
  // excessMonotone: the solved price brackets the first failing tick (else margin.ts scans bracket by bracket).
  const jumps = f.jumps;
  const monotone = basis === 'entry' || jumps === 0 || (f.linear === !long ? jumps === 1 : jumps === -1);
  const done = f.linear
    ? evaluateLinear(f, fr, long, nearest, monotone, basis, size, entryPrice, mark, collateral, out)
    : evaluateInverse(f, fr, long, nearest, monotone, basis, size, entryPrice, mark, collateral, out);
  if (!done) {
    // The band around the solved price, or a bracket structure that needs the scan: the reference code decides.
    const li = liqInput(inst, conv, side, size, entryPrice, collateral, oi);
    out.liquidationPrice = monotone
      ? liquidationPriceFromSolved(li, out.liquidationPrice)
      : liquidationPrice(li);
  }
  return out;
}

/** `worse` on a boolean side. */
const worseOf = (long: boolean, a: bigint | null, b: bigint | null): bigint | null =>
  a === null ? b : b === null ? a : long ? (a > b ? a : b) : a < b ? a : b;

/** Linear uPnL from the raw values X = sF·P and XE = sF·E: floor(s·(X − XE) / L). */
function linearUpnl(f: FastConstants, long: boolean, X: bigint, XE: bigint): bigint {
  const v = long ? X - XE : XE - X;
  return v >= 0n ? v / f.L : (v - f.Lm1) / f.L;
}

/** Linear maintenance at X = sF·P: ceil((ceil(X·r / L) − d) / R) = ceil((X·r − d·L) / (L·R)), floored at zero. */
function linearMaintenance(f: FastConstants, fr: FeeRates, X: bigint, k: number): bigint {
  const dL = f.deductionL[k]!;
  const a = dL === 0n ? X * fr.mmRate[k]! : X * fr.mmRate[k]! - dL;
  return a > 0n ? (a + f.LRm1) / f.LR : 0n;
}

/** Inverse uPnL floor(s·QC·(P − E) / (E·P·S)), PS = P·S; nested truncations by positive divisors compose. */
function inverseUpnl(long: boolean, QC: bigint, entryPrice: bigint, price: bigint, PS: bigint): bigint {
  const v0 = QC * (price - entryPrice);
  const v = long ? v0 : -v0;
  // floor(v/d) = trunc((v + 1)/d) − 1 for v < 0.
  return v >= 0n ? v / entryPrice / PS : (v + 1n) / entryPrice / PS - 1n;
}

/** Inverse maintenance at PS = P·S: ceil((ceil(QC·r / PS) − d) / R), floored at zero. */
function inverseMaintenance(f: FastConstants, fr: FeeRates, QC: bigint, PS: bigint, k: number): bigint {
  const d = f.deduction[k]!;
  const a = QC * fr.mmRate[k]!;
  // Without a deduction: ceil(ceil(a / PS) / R) = floor(floor((a − 1) / PS) / R) + 1 for a ≥ 1.
  if (d === 0n) return a > 0n ? (a - 1n) / PS / RONE + 1n : 0n;
  const x = ceilDiv(a, PS) - d;
  return x > 0n ? (x - 1n) / RONE + 1n : 0n;
}

/**
 * The fast path for a linear instrument; writes every figure into `out`. The liquidation price is final (returns
 * true) unless, under conservative rounding, the excess is not monotone (`monotone` false: the caller asks margin.ts)
 * or the band search gives up (`out.liquidationPrice` then holds the solved price for `liquidationPriceFromSolved`).
 */
function evaluateLinear(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  nearest: boolean,
  monotone: boolean,
  basis: MarginConventions['mmBasis'],
  size: bigint,
  entryPrice: bigint,
  mark: bigint,
  collateral: bigint,
  out: PositionEvaluation,
): boolean {
  const sF = f.F1 ? size : size * f.F;
  const L = f.L;
  const XE = sF * entryPrice;
  const X = sF * mark;
  const k = tierOfLinear(f, X);
  out.tier = k;
  const upnl = linearUpnl(f, long, X, XE);
  out.unrealizedPnl = upnl;
  const mm = linearMaintenance(f, fr, X, k);
  out.maintenanceMargin = mm;
  out.marginRatio = marginRatio(mm, collateral + upnl);
  const kE = tierOfLinear(f, XE);
  /** Maintenance at entry (entry and worse basis), settle + RATE_DP units, as `triggerMaintenance` takes it. */
  let entryPart = 0n;
  if (basis !== 'mark') {
    const y = XE * f.mmr[kE]!;
    const kRaw = (y > 0n ? (y + f.Lm1) / L : y / L) - f.deduction[kE]!;
    entryPart = kRaw > 0n ? kRaw : 0n;
  }
  const solved = linearSolved(f, fr, long, nearest, basis, sF, XE, kE, entryPart, collateral);
  out.liquidationPrice = solved;
  if (nearest) return true;
  if (!monotone || solved === null) return false;
  // refineSolved's common case, inline (no closures on the hot path): the tick past the solved price fails, and the
  // band does not reach back over the solved price — the test passes there (where the notional grows toward danger,
  // a short, the test is monotone), or keeps 2 units (a long: then G >= 2 from it on).
  if (long ? solved <= f.tick : solved < f.tick) return false;
  linearParts(f, fr, long, basis, sF, XE, entryPart, solved);
  if (collateral + partPnl - partMM >= (long ? 2n : 0n)) return true;
  return linearBand(f, fr, long, basis, sF, XE, kE, entryPart, solved, collateral, out);
}

/** The band around a linear position's solved price (see `searchBand`). */
function linearBand(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  basis: MarginConventions['mmBasis'],
  sF: bigint,
  XE: bigint,
  kE: number,
  entryPart: bigint,
  solved: bigint,
  collateral: bigint,
  out: PositionEvaluation,
): boolean {
  if (long && !excessFalls(f, fr, basis)) return false;
  setBand(f, fr, long, basis, true, sF, XE, 0n, kE, entryPart);
  return searchBand(!long, solved, collateral, out);
}

/** `solvedLiquidationPrice` of a linear position backed by `collateral`. */
function linearSolved(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  nearest: boolean,
  basis: MarginConventions['mmBasis'],
  sF: bigint,
  XE: bigint,
  kE: number,
  entryPart: bigint,
  collateral: bigint,
): bigint | null {
  // solvePrice, linear: num = s·XE·R − mRaw·L, den = sF·(s·R − r).
  const XER = XE * RONE;
  const sXER = long ? XER : -XER;
  let best: bigint | null = null;
  if (basis !== 'mark') {
    const mRaw = collateral * RONE - entryPart;
    best = roundSolved(sXER - mRaw * f.L, sF * (long ? fr.entryLong : fr.entryShort), long, nearest, f);
    if (basis === 'entry') return best;
  }
  return worseOf(long, best, linearMarkSolved(f, fr, long, nearest, sF, XE, kE, sXER, collateral));
}

/** PnL and trigger maintenance (`triggerMaintenance`) of a linear position at `price`, into `partPnl`/`partMM`. */
function linearParts(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  basis: MarginConventions['mmBasis'],
  sF: bigint,
  XE: bigint,
  entryPart: bigint,
  price: bigint,
): void {
  const Xs = sF * price;
  let trig = basis === 'entry' ? 0n : linearMaintenance(f, fr, Xs, tierOfLinear(f, Xs));
  if (basis !== 'mark') {
    const v = Xs * fr.fee;
    const a = entryPart + (v > 0n ? (v + f.Lm1) / f.L : 0n);
    const atEntry = a > 0n ? (a - 1n) / RONE + 1n : 0n;
    if (atEntry > trig) trig = atEntry;
  }
  partPnl = linearUpnl(f, long, Xs, XE);
  partMM = trig;
}

/** The last `linearParts`/`inverseParts` result (module scratch: the band search allocates nothing per tick). */
let partPnl = 0n;
let partMM = 0n;

/**
 * margin.ts `excessFalls` for a position whose notional shrinks toward danger: maintenance rate + fee below 100% in
 * every bracket it can reach (else margin.ts keeps the solved price and there is no band to search).
 */
function excessFalls(f: FastConstants, fr: FeeRates, basis: MarginConventions['mmBasis']): boolean {
  if (basis === 'entry') return fr.fee < RONE;
  let mmr = 0n;
  for (let i = 0; i <= f.limit; i++) if (f.mmr[i]! > mmr) mmr = f.mmr[i]!;
  return mmr + fr.fee < RONE;
}

/**
 * The position a band search works on: module state set by `linearBand`/`inverseBand`, so that the search, its
 * evaluations and its PnL boundaries are plain functions (closures would cost more than the search itself).
 */
const band = {
  f: null as unknown as FastConstants,
  fr: null as unknown as FeeRates,
  long: false,
  basis: 'mark' as MarginConventions['mmBasis'],
  linear: false,
  /** sF (linear) or QC (inverse). */
  q: 0n,
  /** XE (linear) or the entry price (inverse). */
  e: 0n,
  /** E·S (inverse). */
  es: 0n,
  kE: 0,
  entryPart: 0n,
};

function setBand(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  basis: MarginConventions['mmBasis'],
  linear: boolean,
  q: bigint,
  e: bigint,
  es: bigint,
  kE: number,
  entryPart: bigint,
): void {
  band.f = f;
  band.fr = fr;
  band.long = long;
  band.basis = basis;
  band.linear = linear;
  band.q = q;
  band.e = e;
  band.es = es;
  band.kE = kE;
  band.entryPart = entryPart;
}

/** PnL and trigger maintenance of the band's position at `price`, into `partPnl`/`partMM`. */
function bandParts(price: bigint): void {
  const b = band;
  if (b.linear) linearParts(b.f, b.fr, b.long, b.basis, b.q, b.e, b.entryPart, price);
  else inverseParts(b.f, b.fr, b.long, b.basis, b.q, b.e, b.entryPart, price);
}

/** The band's position solved (conservatively) with `collateral`. */
function bandSolve(collateral: bigint): bigint | null {
  const b = band;
  return b.linear
    ? linearSolved(b.f, b.fr, b.long, false, b.basis, b.q, b.e, b.kE, b.entryPart, collateral)
    : inverseSolved(b.f, b.fr, b.long, false, b.basis, b.q, b.e, b.es, b.kE, b.entryPart, collateral);
}

/**
 * Where the band position's floored PnL is below `v` (settle units), as a tick index: every tick from it on toward
 * danger has uPnL < v and none before it; 'all' when every positive price does, 'none' when none does.
 * Linear: uPnL < v ⟺ s·(sF·P − XE) < v·L, a long below (XE + v·L)/sF, a short above (XE − v·L)/sF.
 * Inverse: uPnL < v ⟺ s·QC·(P − E) < v·E·S·P, a long below QC·E/(QC − v·E·S), a short above QC·E/(QC + v·E·S).
 */
function bandBoundary(v: bigint): bigint | 'all' | 'none' {
  const b = band;
  const t = b.f.tick;
  if (b.linear) {
    const tq = t * b.q;
    if (b.long) {
      const num = b.e + v * b.f.L;
      if (num <= 0n) return 'none';
      const n = (num + tq - 1n) / tq - 1n;
      return n >= 1n ? n : 'none';
    }
    const num = b.e - v * b.f.L;
    return num < 0n ? 'all' : num / tq + 1n;
  }
  const qe = b.q * b.e;
  if (b.long) {
    const K = b.q - v * b.es;
    if (K <= 0n) return 'all';
    const den = t * K;
    const n = (qe + den - 1n) / den - 1n;
    return n >= 1n ? n : 'none';
  }
  const K = b.q + v * b.es;
  if (K <= 0n) return 'none';
  return qe / (t * K) + 1n;
}

/**
 * refineSolved (margin.ts) on the fast path, once the common case is ruled out: the band's safe end solved with 2
 * units less collateral, then the first failing tick between it and the tick past the solved price; the liquidation
 * price (the tick before it) goes into `out.liquidationPrice`. Returns false when margin.ts must decide (no safe end
 * by solving, or a band the search hands over); the first failing tick is unique, so both find the same. `grows`: the
 * notional grows toward danger (the test is then monotone).
 */
function searchBand(grows: boolean, solved: bigint, collateral: bigint, out: PositionEvaluation): boolean {
  const long = band.long;
  const t = band.f.tick;
  const safeEnd = bandSolve(collateral - 2n);
  if (safeEnd === null || (long ? safeEnd < solved : safeEnd > solved)) return false;
  const step = long ? -1n : 1n;
  const first = bandFirst(grows, collateral, t, safeEnd / t, solved / t + step, step);
  if (first === undefined) return false;
  out.liquidationPrice = first === null ? solved : first - step * t;
  return true;
}

/**
 * margin.ts `firstFailing` on the fast path, over tick indices `safe` (exclusive) to `end` (inclusive, failing),
 * without bisecting: the test fails at P exactly when uPnL(P) < B(P) − collateral (B the rounded maintenance, an
 * integer), so while B holds a value m the failing ticks are those past the PnL's own boundary for m − collateral,
 * found in closed form. From the safe end: take m = B there and the boundary c for it; if B is still m at c, c is the
 * answer (B is monotone, so it is m all the way, and the PnL is not yet below m − collateral before c). Otherwise B
 * has moved: down (the notional shrinks toward danger) — nothing before c can fail at a lower level either, so go on
 * from c with the new value; up (it grows: the test is then monotone) — bisect the test between the two. Undefined
 * when margin.ts should decide (a boundary that does not exist, or more than MAX_FAST_LEVELS values of B).
 */
function bandFirst(
  grows: boolean,
  collateral: bigint,
  t: bigint,
  safe: bigint,
  end: bigint,
  step: bigint,
): bigint | null | undefined {
  let first = safe + step;
  if ((end - first) * step < 0n) return null;
  bandParts(first * t);
  let m = partMM;
  for (let level = 0; level < MAX_FAST_LEVELS; level++) {
    const b = bandBoundary(m - collateral);
    if (b === 'none') return undefined;
    let c = b === 'all' || (b - first) * step <= 0n ? first : b;
    if ((c - end) * step > 0n) c = end;
    bandParts(c * t);
    if (partMM === m) return c * t;
    if (grows) {
      // Monotone test: the first failing tick in [first, c] (c fails: its PnL is below m − collateral <= B − collateral).
      bandParts(first * t);
      if (collateral + partPnl < partMM) return first * t;
      let lo = first;
      let hi = c;
      while ((hi - lo) * step > 1n) {
        const mid = lo + step * (((hi - lo) * step) / 2n);
        bandParts(mid * t);
        if (collateral + partPnl < partMM) hi = mid;
        else lo = mid;
      }
      return hi * t;
    }
    first = c;
    m = partMM;
  }
  return undefined;
}

/** Values of the rounded maintenance the fast band search walks before handing over to margin.ts. */
const MAX_FAST_LEVELS = 8;

/** The mark-basis solved price of a linear position (liquidationAtMarkBasis). */
function linearMarkSolved(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  nearest: boolean,
  sF: bigint,
  XE: bigint,
  kE: number,
  sXER: bigint,
  collateral: bigint,
): bigint | null {
  const L = f.L;
  const base = sXER - collateral * f.LR;
  const dens = long ? fr.long : fr.short;
  // Walk from the entry tier, re-checking the tier at each exact solution (liquidationAtMarkBasis).
  let j = kE;
  for (let step = 0; step < 4; step++) {
    const dj = f.deductionL[j]!;
    let num = dj === 0n ? base : base - dj;
    let den = sF * dens[j]!;
    if (den === 0n) break;
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    if (num <= 0n) break;
    // ceil(sF·num / (L·den)) <= cap ⟺ sF·num <= cap·L·den.
    const q0 = num / den;
    const j2 = linearSolutionTier(f, sF, num, den, q0, j);
    if (j2 === j) return roundFromFloor(num, den, q0, long, nearest, f);
    j = j2;
  }
  // Not settled: every tier's own solution inside that tier, and every boundary whose first tick past it toward
  // danger is already liquidatable (scanTiers, boundaryCrossing).
  let found: bigint | null = null;
  const tiers = f.mmr.length;
  for (let i = 0; i < tiers; i++) {
    const di = f.deductionL[i]!;
    let num = di === 0n ? base : base - di;
    let den = sF * dens[i]!;
    if (den === 0n) continue;
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    if (num <= 0n) continue;
    const p = roundPositive(num, den, long, nearest, f);
    if (p > 0n && tierOfExact(f, sF * num, den, i) === i) found = worseOf(long, found, p);
  }
  const t = f.tick;
  for (let i = 0; i < f.limit; i++) {
    const cap = f.allCaps[i]!;
    if (cap <= 0n) continue;
    // The boundary is cap·L / sF; the first tick past it toward danger: a long's last one at or below it, a short's
    // first one above.
    const num = cap * L;
    const fl = num / (sF * t);
    const first = long ? fl : fl + 1n;
    if (first <= 0n) continue;
    const price = nearest ? roundPositive(num, sF, long, true, f) : (long ? first + 1n : first - 1n) * t;
    if (price <= 0n) continue;
    const Xb = sF * first * t;
    const kb = tierOfLinear(f, Xb);
    if (collateral + linearUpnl(f, long, Xb, XE) < linearMaintenance(f, fr, Xb, kb))
      found = worseOf(long, found, price);
  }
  return found;
}

/** The fast path for an inverse instrument (value(P) = QC / (P·S) settle units); as `evaluateLinear`. */
function evaluateInverse(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  nearest: boolean,
  monotone: boolean,
  basis: MarginConventions['mmBasis'],
  size: bigint,
  entryPrice: bigint,
  mark: bigint,
  collateral: bigint,
  out: PositionEvaluation,
): boolean {
  const S = f.S;
  const QC = size * f.MC;
  const PS = f.S1 ? mark : mark * S;
  const ES = f.S1 ? entryPrice : entryPrice * S;
  const k = tierOfInverse(f, QC, PS);
  out.tier = k;
  const upnl = inverseUpnl(long, QC, entryPrice, mark, PS);
  out.unrealizedPnl = upnl;
  const mm = inverseMaintenance(f, fr, QC, PS, k);
  out.maintenanceMargin = mm;
  out.marginRatio = marginRatio(mm, collateral + upnl);
  const kE = tierOfInverse(f, QC, ES);
  let entryPart = 0n;
  if (basis !== 'mark') {
    const kRaw = ceilDiv(QC * f.mmr[kE]!, ES) - f.deduction[kE]!;
    entryPart = kRaw > 0n ? kRaw : 0n;
  }
  const solved = inverseSolved(f, fr, long, nearest, basis, QC, entryPrice, ES, kE, entryPart, collateral);
  out.liquidationPrice = solved;
  if (nearest) return true;
  if (!monotone || solved === null) return false;
  // refineSolved's common case, inline (see evaluateLinear); here the notional grows toward danger for a long.
  if (long ? solved <= f.tick : solved < f.tick) return false;
  inverseParts(f, fr, long, basis, QC, entryPrice, entryPart, solved);
  if (collateral + partPnl - partMM >= (long ? 0n : 2n)) return true;
  return inverseBand(f, fr, long, basis, QC, entryPrice, ES, kE, entryPart, solved, collateral, out);
}

/** The band around an inverse position's solved price (see `searchBand`). */
function inverseBand(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  basis: MarginConventions['mmBasis'],
  QC: bigint,
  entryPrice: bigint,
  ES: bigint,
  kE: number,
  entryPart: bigint,
  solved: bigint,
  collateral: bigint,
  out: PositionEvaluation,
): boolean {
  if (!long && !excessFalls(f, fr, basis)) return false;
  setBand(f, fr, long, basis, false, QC, entryPrice, ES, kE, entryPart);
  return searchBand(long, solved, collateral, out);
}

/** `solvedLiquidationPrice` of an inverse position backed by `collateral`. */
function inverseSolved(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  nearest: boolean,
  basis: MarginConventions['mmBasis'],
  QC: bigint,
  entryPrice: bigint,
  ES: bigint,
  kE: number,
  entryPart: bigint,
  collateral: bigint,
): bigint | null {
  // solvePrice, inverse: num = QC·E·(s·R + r), den = mRaw·E·S + s·QC·R.
  const QCR = QC * RONE;
  const sQCR = long ? QCR : -QCR;
  let best: bigint | null = null;
  if (basis !== 'mark') {
    const mRaw = collateral * RONE - entryPart;
    best = roundSolved(
      QC * entryPrice * (long ? fr.entryLong : fr.entryShort),
      mRaw * ES + sQCR,
      long,
      nearest,
      f,
    );
    if (basis === 'entry') return best;
  }
  return worseOf(
    long,
    best,
    inverseMarkSolved(f, fr, long, nearest, QC, entryPrice, ES, kE, sQCR, collateral),
  );
}

/** PnL and trigger maintenance of an inverse position at `price`, into `partPnl`/`partMM`. */
function inverseParts(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  basis: MarginConventions['mmBasis'],
  QC: bigint,
  entryPrice: bigint,
  entryPart: bigint,
  price: bigint,
): void {
  const PSs = f.S1 ? price : price * f.S;
  let trig = basis === 'entry' ? 0n : inverseMaintenance(f, fr, QC, PSs, tierOfInverse(f, QC, PSs));
  if (basis !== 'mark') {
    const v = QC * fr.fee;
    const a = entryPart + (v > 0n ? (v - 1n) / PSs + 1n : 0n);
    const atEntry = a > 0n ? (a - 1n) / RONE + 1n : 0n;
    if (atEntry > trig) trig = atEntry;
  }
  partPnl = inverseUpnl(long, QC, entryPrice, price, PSs);
  partMM = trig;
}

/** The mark-basis solved price of an inverse position (liquidationAtMarkBasis). */
function inverseMarkSolved(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  nearest: boolean,
  QC: bigint,
  entryPrice: bigint,
  ES: bigint,
  kE: number,
  sQCR: bigint,
  collateral: bigint,
): bigint | null {
  const S = f.S;
  const QCE = QC * entryPrice;
  const den0 = collateral * RONE * ES + sQCR;
  const nums = long ? fr.long : fr.short;
  let j = kE;
  for (let step = 0; step < 4; step++) {
    const dj = f.deduction[j]!;
    let num = QCE * nums[j]!;
    let den = dj === 0n ? den0 : den0 + dj * ES;
    if (den === 0n) break;
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    if (num <= 0n) break;
    // ceil(QC·den / (num·S)) <= cap ⟺ QC·den <= cap·num·S.
    const j2 = tierOfExact(f, QC * den, f.S1 ? num : num * S, j);
    if (j2 === j) return roundPositive(num, den, long, nearest, f);
    j = j2;
  }
  // Not settled: the scan, as in linearMarkSolved.
  let found: bigint | null = null;
  const tiers = f.mmr.length;
  for (let i = 0; i < tiers; i++) {
    const di = f.deduction[i]!;
    let num = QCE * nums[i]!;
    let den = di === 0n ? den0 : den0 + di * ES;
    if (den === 0n) continue;
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    if (num <= 0n) continue;
    const p = roundPositive(num, den, long, nearest, f);
    if (p > 0n && tierOfExact(f, QC * den, f.S1 ? num : num * S, i) === i) found = worseOf(long, found, p);
  }
  const t = f.tick;
  for (let i = 0; i < f.limit; i++) {
    const cap = f.allCaps[i]!;
    if (cap <= 0n) continue;
    // The boundary is QC / (cap·S); the first tick past it toward danger: a long's last one below it, a short's first
    // one at or above.
    const capS = f.S1 ? cap : cap * S;
    const ct = capS * t;
    const cl = (QC + ct - 1n) / ct;
    const first = long ? cl - 1n : cl;
    if (first <= 0n) continue;
    const price = nearest ? roundPositive(QC, capS, long, true, f) : (long ? first + 1n : first - 1n) * t;
    if (price <= 0n) continue;
    const fp = first * t;
    const BS = f.S1 ? fp : fp * S;
    const kb = tierOfInverse(f, QC, BS);
    if (collateral + inverseUpnl(long, QC, entryPrice, fp, BS) < inverseMaintenance(f, fr, QC, BS, kb)) {
      found = worseOf(long, found, price);
    }
  }
  return found;
}

function liqInput(
  inst: Instrument,
  conv: MarginConventions,
  side: Side,
  size: bigint,
  entryPrice: bigint,
  collateral: bigint,
  oi: bigint | undefined,
): LiquidationInput {
  const li: LiquidationInput = { inst, conv, pos: { side, size, entryPrice }, collateral };
  if (oi !== undefined) li.openInterest = oi;
  return li;
}

function evaluateGeneric(
  inst: Instrument,
  conv: MarginConventions,
  side: Side,
  size: bigint,
  entryPrice: bigint,
  mark: bigint,
  collateral: bigint,
  out: PositionEvaluation,
  oi: bigint | undefined,
): PositionEvaluation {
  const li = liqInput(inst, conv, side, size, entryPrice, collateral, oi);
  const r = positionRisk(inst, li.pos, mark, conv, oi);
  out.tier = r.rates.tier;
  out.unrealizedPnl = r.unrealizedPnl;
  out.maintenanceMargin = r.maintenanceMargin;
  out.marginRatio = marginRatio(r.maintenanceMargin, collateral + r.unrealizedPnl);
  out.liquidationPrice = liquidationPrice(li);
  return out;
}
