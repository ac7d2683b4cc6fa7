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
  type MarginConventions,
  marginRatio,
  positionRisk,
  type Side,
  scales,
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
        mmRate,
        long: mmRate.map((x) => RONE - x),
        short: mmRate.map((x) => -RONE - x),
        entryLong: RONE - fee,
        entryShort: -RONE - fee,
      }
    : {
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
  if (f.linear) evaluateLinear(f, fr, long, nearest, conv.mmBasis, size, entryPrice, mark, collateral, out);
  else evaluateInverse(f, fr, long, nearest, conv.mmBasis, size, entryPrice, mark, collateral, out);
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

/** The fast path for a linear instrument; writes every figure into `out`. */
function evaluateLinear(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  nearest: boolean,
  basis: MarginConventions['mmBasis'],
  size: bigint,
  entryPrice: bigint,
  mark: bigint,
  collateral: bigint,
  out: PositionEvaluation,
): void {
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
  // Liquidation (solvePrice, linear): num = s·XE·R − mRaw·L, den = sF·(s·R − r).
  const XER = XE * RONE;
  const sXER = long ? XER : -XER;
  const kE = tierOfLinear(f, XE);
  let best: bigint | null = null;
  if (basis !== 'mark') {
    const y = XE * f.mmr[kE]!;
    const kRaw = (y > 0n ? (y + f.Lm1) / L : y / L) - f.deduction[kE]!;
    const mRaw = collateral * RONE - (kRaw > 0n ? kRaw : 0n);
    best = roundSolved(sXER - mRaw * L, sF * (long ? fr.entryLong : fr.entryShort), long, nearest, f);
    if (basis === 'entry') {
      out.liquidationPrice = best;
      return;
    }
  }
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
    if (j2 === j) {
      out.liquidationPrice = worseOf(long, best, roundFromFloor(num, den, q0, long, nearest, f));
      return;
    }
    j = j2;
  }
  // Not settled: every tier's own solution inside that tier, and every cap's boundary price where the position
  // is already liquidatable (scanTiers).
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
  const caps = f.allCaps;
  for (let i = 0; i < caps.length; i++) {
    const cap = caps[i]!;
    if (cap === null || cap <= 0n) continue;
    // boundaryPrice: cap·L / sF, rounded outward for the side.
    const b = roundPositive(cap * L, sF, long, false, f);
    if (b <= 0n) continue;
    const Xb = sF * b;
    const kb = tierOfLinear(f, Xb);
    if (collateral + linearUpnl(f, long, Xb, XE) < linearMaintenance(f, fr, Xb, kb))
      found = worseOf(long, found, b);
  }
  out.liquidationPrice = worseOf(long, best, found);
}

/** The fast path for an inverse instrument (value(P) = QC / (P·S) settle units); writes every figure into `out`. */
function evaluateInverse(
  f: FastConstants,
  fr: FeeRates,
  long: boolean,
  nearest: boolean,
  basis: MarginConventions['mmBasis'],
  size: bigint,
  entryPrice: bigint,
  mark: bigint,
  collateral: bigint,
  out: PositionEvaluation,
): void {
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
  // Liquidation (solvePrice, inverse): num = QC·E·(s·R + r), den = mRaw·E·S + s·QC·R.
  const QCE = QC * entryPrice;
  const QCR = QC * RONE;
  const sQCR = long ? QCR : -QCR;
  const kE = tierOfInverse(f, QC, ES);
  let best: bigint | null = null;
  if (basis !== 'mark') {
    const kRaw = ceilDiv(QC * f.mmr[kE]!, ES) - f.deduction[kE]!;
    const mRaw = collateral * RONE - (kRaw > 0n ? kRaw : 0n);
    best = roundSolved(QCE * (long ? fr.entryLong : fr.entryShort), mRaw * ES + sQCR, long, nearest, f);
    if (basis === 'entry') {
      out.liquidationPrice = best;
      return;
    }
  }
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
    if (j2 === j) {
      out.liquidationPrice = worseOf(long, best, roundPositive(num, den, long, nearest, f));
      return;
    }
    j = j2;
  }
  // Not settled: the scan, as in evaluateLinear.
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
  const caps = f.allCaps;
  for (let i = 0; i < caps.length; i++) {
    const cap = caps[i]!;
    if (cap === null || cap <= 0n) continue;
    // boundaryPrice: QC / (cap·S), rounded outward for the side.
    const b = roundPositive(QC, f.S1 ? cap : cap * S, long, false, f);
    if (b <= 0n) continue;
    const BS = f.S1 ? b : b * S;
    const kb = tierOfInverse(f, QC, BS);
    if (collateral + inverseUpnl(long, QC, entryPrice, b, BS) < inverseMaintenance(f, fr, QC, BS, kb)) {
      found = worseOf(long, found, b);
    }
  }
  out.liquidationPrice = worseOf(long, best, found);
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
