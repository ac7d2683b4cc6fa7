/**
 * Margin math for one position and for a bucket of positions, exact on bigint.
 *
 * Units: sizes at sizeDp, prices at priceDp, money at settleDp of the instrument, rates at RATE_DP.
 * Rounding: requirements (IM, MM, fees) round up; payouts and equity (PnL) round down; liquidation and
 * bankruptcy prices round toward the side that triggers sooner (long up, short down) unless a venue preset
 * asks for nearest — and a conservative liquidation price is then made exact for the whole-unit liquidation test
 * itself (`liquidationTrigger`: the first tick at which it fails, searched tick by tick where rounding decides).
 *
 * One equation gives both special prices. With M the collateral that backs the position (isolated: its bucket;
 * cross: wallet + others' PnL − others' maintenance), the price P solves
 *     M + uPnL(P) = value(P) × r − d + K
 * where value is the position's notional in the settle asset. Liquidation: r = maintenance rate (+ fee to close),
 * d = tier deduction, K = 0 — or, when maintenance is measured at entry, r = fee, K = MM at entry.
 * Bankruptcy: r = fee to close (or 0), d = K = 0.
 */
import { absBig, ceilDiv, div, floorDiv, InputError, maxBig, minBig, pow10, type Rounding } from './fixed.ts';
import { type Instrument, type InstrumentScales, scalesOf } from './instrument.ts';
import { LEVERAGE_ONE, RATE_ONE } from './rates.ts';
import { type RateContext, type Rates, ratesFor, type Tier, tierIndex } from './tiers.ts';

export type Side = 'long' | 'short';
export const sign = (side: Side): 1n | -1n => (side === 'long' ? 1n : -1n);

export interface PositionInput {
  side: Side;
  /** Absolute size, > 0, sizeDp. */
  size: bigint;
  entryPrice: bigint;
}

/** How a venue measures and rounds; presets are data of this shape. */
export interface MarginConventions {
  /** Where maintenance is measured when solving for the liquidation price: at the liquidation price ('mark',
   * Binance, Hyperliquid, dYdX), at entry ('entry', Bybit's published formula), or whichever is larger. */
  mmBasis: 'mark' | 'entry' | 'worse';
  /** Rounding of liquidation/bankruptcy prices to the tick. */
  priceRounding: 'conservative' | 'nearest';
  /** Add the estimated taker fee to close into maintenance (Bybit UTA). */
  feeToCloseInMaintenance: boolean;
  /** Bankruptcy price leaves room for the taker fee to close (Bybit inverse). */
  feeInBankruptcy: boolean;
  takerFeeRate: bigint;
  /** Whether unrealized profit counts towards removable isolated margin (Binance: yes). */
  removableCountsProfit: boolean;
  /** Removal must leave at least this fraction of notional (Hyperliquid: 0.1); 0 for none. */
  transferFloorRate: bigint;
  /** Where initial margin is valued: at mark (default) or at entry (BitMEX position margin on entry cost, OKX
   * isolated). Optional so conventions stored before it existed keep their meaning. */
  imBasis?: 'mark' | 'entry';
}

const RONE = RATE_ONE;

/** The same conventions with prices rounded toward liquidation: what the engine files and shows, whatever a venue
 * displays (a 'nearest' price can sit a tick past the real trigger). */
export function conservativeRounding(c: MarginConventions): MarginConventions {
  return c.priceRounding === 'conservative' ? c : { ...c, priceRounding: 'conservative' };
}

/** Caches the scales per instrument so callers need not pass them around. */
const scaleCache = new WeakMap<Instrument, InstrumentScales>();
/** The last instrument asked for, checked by identity before the WeakMap (a hot path asks for one at a time). */
let lastInst: Instrument | null = null;
let lastScales: InstrumentScales | null = null;
export function scales(inst: Instrument): InstrumentScales {
  if (inst === lastInst) return lastScales!;
  let s = scaleCache.get(inst);
  if (!s) {
    s = scalesOf(inst);
    scaleCache.set(inst, s);
  }
  lastInst = inst;
  lastScales = s;
  return s;
}

/** Position value in settle units at `price`, rounded as asked. */
export function notional(inst: Instrument, size: bigint, price: bigint, mode: Rounding): bigint {
  const s = scales(inst);
  if (inst.kind === 'linear') {
    // Sizes and prices are never negative here, so ceil and floor are one division (none when linearDen is 1):
    // this runs several times per fill.
    const x = size * price * s.linearF;
    if (x >= 0n && (mode === 'ceil' || mode === 'floor')) {
      if (s.linearDenM1 === 0n) return x;
      return mode === 'ceil' ? (x + s.linearDenM1) / s.linearDen : x / s.linearDen;
    }
    return div(x, s.linearDen, mode);
  }
  if (price <= 0n) throw new RangeError('inverse notional needs a positive price');
  return div(size * inst.multiplier * s.settleScale * s.priceScale, price * s.sizeScale, mode);
}

/** Unrealized PnL in settle units, rounded down (a payout). */
export function unrealizedPnl(inst: Instrument, pos: PositionInput, mark: bigint): bigint {
  const s = scales(inst);
  if (inst.kind === 'linear') {
    const move = pos.side === 'long' ? mark - pos.entryPrice : pos.entryPrice - mark;
    const x = pos.size * move * s.linearF;
    return s.linearDenM1 === 0n ? x : floorDiv(x, s.linearDen);
  }
  const sg = sign(pos.side);
  // Inverse: size × multiplier × (1/entry − 1/mark), in coin.
  const num = sg * pos.size * inst.multiplier * (mark - pos.entryPrice) * s.settleScale * s.priceScale;
  return floorDiv(num, pos.entryPrice * mark * s.sizeScale);
}

export function rateContext(inst: Instrument, size: bigint, oi?: bigint): RateContext {
  return { size, sizeDp: inst.sizeDp, openInterestNotional: oi ?? 0n };
}

/** Rates for a position at a price (tier chosen by the notional rounded up: the higher bracket wins ties). */
export function ratesAt(inst: Instrument, size: bigint, price: bigint, oi?: bigint): Rates {
  return ratesFor(inst.risk, notional(inst, size, price, 'ceil'), rateContext(inst, size, oi));
}

/** Maintenance margin `notional × mmr − deduction` at `price`, rounded up, never negative. */
export function maintenanceMargin(
  inst: Instrument,
  size: bigint,
  price: bigint,
  feeRate = 0n,
  oi?: bigint,
): bigint {
  const rates = ratesAt(inst, size, price, oi);
  return maintenanceWith(inst, size, price, rates.mmr + feeRate, rates.deductionRaw);
}

function maintenanceWith(
  inst: Instrument,
  size: bigint,
  price: bigint,
  rate: bigint,
  deductionRaw: bigint,
): bigint {
  return maxBig(0n, ceilDiv(valueTimesRateRaw(inst, size, price, rate) - deductionRaw, RONE));
}

/** notional × rate at scale settleDp + RATE_DP, rounded up. */
function valueTimesRateRaw(inst: Instrument, size: bigint, price: bigint, rate: bigint): bigint {
  const s = scales(inst);
  if (inst.kind === 'linear') {
    const x = size * price * s.linearF * rate;
    return s.linearDenM1 === 0n ? x : ceilDiv(x, s.linearDen);
  }
  return ceilDiv(size * inst.multiplier * s.settleScale * s.priceScale * rate, price * s.sizeScale);
}

/** Initial margin at a leverage (LEVERAGE_DP): notional / leverage, rounded up. */
export function initialMarginAtLeverage(notionalValue: bigint, leverage: bigint): bigint {
  return ceilDiv(notionalValue * LEVERAGE_ONE, leverage);
}

/** Initial margin at the tier's rate. */
export function initialMarginAtRate(notionalValue: bigint, imr: bigint): bigint {
  return ceilDiv(notionalValue * imr, RONE);
}

/** Maintenance / margin balance at RATE_DP, rounded up; null when the balance is not positive. */
export function marginRatio(maintenance: bigint, marginBalance: bigint): bigint | null {
  if (marginBalance <= 0n) return null;
  return ceilDiv(maintenance * RONE, marginBalance);
}

// ---------------------------------------------------------------------------------------------------------
// Solving for a price

/**
 * The price (exact rational, priceDp units) where `M + uPnL(P) = value(P) × r`, with M at settleDp + RATE_DP
 * (so deductions and entry-measured maintenance fold in exactly). Returns null when no positive price exists
 * (a long that cannot be liquidated above zero, a short that can never be).
 */
export function solvePrice(
  inst: Instrument,
  pos: PositionInput,
  mRaw: bigint,
  rate: bigint,
): { num: bigint; den: bigint } | null {
  const s = scales(inst);
  const sg = sign(pos.side);
  const q = pos.size * inst.multiplier; // at sizeDp + multiplierDp
  const E = pos.entryPrice;
  let num: bigint;
  let den: bigint;
  if (inst.kind === 'linear') {
    // P = (s·Q·E − M) / (Q·(s − r)); scaled: num = s·q·E·10^(cd+R)·up − mRaw·A·10^pd·..., see derivation in docs.
    // value(P) = q·P·up/linearDen; with W = linearDen/up the real factor, the equation is
    //   mRaw/RONE + s·q·(P − E)/W = q·P·r/(W·RONE)  ⇒  P = (s·q·E·RONE − mRaw·W) / (q·(s·RONE − r))
    num = sg * q * E * RONE * s.linearUp - mRaw * s.linearDen;
    den = q * (sg * RONE - rate) * s.linearUp;
  } else {
    // Inverse, value(P) = q·C/P with C = 10^(cd+pd)/A. Equation: M + s·q·C·(1/E − 1/P) = q·C·r/P
    //   ⇒ P = q·C·(s + r) / (M + s·q·C/E)  ⇒ scaled by RONE·A·E:
    const C = s.settleScale * s.priceScale;
    num = q * C * (sg * RONE + rate) * E;
    den = mRaw * s.sizeScale * E + sg * q * C * RONE;
  }
  if (den === 0n) return null;
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  if (num <= 0n) return null;
  return { num, den };
}

/** Rounds a solved price to the tick: conservative rounds a long's price up and a short's down. */
export function roundPrice(
  inst: Instrument,
  side: Side,
  p: { num: bigint; den: bigint },
  rounding: 'conservative' | 'nearest',
): bigint {
  const t = inst.tickSize;
  if (rounding === 'nearest') return div(p.num, p.den * t, 'halfUp') * t;
  return div(p.num, p.den * t, side === 'long' ? 'ceil' : 'floor') * t;
}

/** The more conservative of two solved prices (long: higher, short: lower); null means "never". */
function worse(side: Side, a: bigint | null, b: bigint | null): bigint | null {
  if (a === null) return b;
  if (b === null) return a;
  return side === 'long' ? maxBig(a, b) : minBig(a, b);
}

export interface LiquidationInput {
  inst: Instrument;
  conv: MarginConventions;
  pos: PositionInput;
  /** Collateral backing the position, settleDp (isolated: bucket collateral incl. realized PnL and funding). */
  collateral: bigint;
  /** Market open interest notional for rules that scale with it. */
  openInterest?: bigint;
}

/**
 * Liquidation price: the price the mark must pass for the position to be liquidated.
 *
 * Conservative rounding (ringfence, Bybit, BitMEX, Deribit) makes that exact for the liquidation test itself —
 * margin balance (PnL rounded down) below maintenance (rounded up, on the venue's basis: `triggerMaintenance`): it
 * is the last tick at which the test passes before the first one at which it fails (`liquidationTrigger`), one
 * tick further toward danger. No mark on the safe side of it is liquidatable, so the engine, which files a position
 * under that first failing tick, starts a liquidation at exactly the mark at which `calc` first reports it.
 * Where the solved price is exact to the tick this is that price rounded away from danger (a long's up, a short's
 * down); it moves when rounding to whole settle units decides (a small inverse position, where one satoshi spans
 * several ticks) or when a step bracket jumps maintenance.
 *
 * Nearest rounding (Binance, Hyperliquid, dYdX displays) gives the solved price rounded to the nearest tick, as the
 * venue shows it; the engine always files and shows the conservative one.
 *
 * The solved price: with tiered maintenance the tier is the one at the liquidation price itself (Binance's and
 * Hyperliquid's re-check), found by walking from the entry tier and, if that does not settle, by checking every
 * tier and the bracket boundaries.
 */
export function liquidationPrice(li: LiquidationInput): bigint | null {
  if (li.conv.priceRounding === 'nearest') return solvedLiquidationPrice(li, 'nearest');
  return priceBefore(li, liquidationTrigger(li));
}

/**
 * The first tick, coming from the safe side, at which the liquidation test fails (null: none at any positive price);
 * the engine files an isolated position under it. A mark at it or past it toward danger is liquidatable, with two
 * exceptions that whole-unit rounding and step brackets allow and the engine's exact check handles: a tick just past
 * it may pass again (the floored PnL and the ceiled maintenance step at different ticks), and where a step bracket
 * makes the test fail on the safe side of the entry (an inverse short at the top of its bracket whose notional
 * grows into the next one as the price falls) that stretch is the first one. Independent of `priceRounding`.
 */
export function liquidationTrigger(li: LiquidationInput): bigint | null {
  if (excessFalls(li) && !excessMonotone(li.inst, li.conv, li.pos.side)) return scanStretches(li);
  return refineSolved(li, solvedLiquidationPrice(li, 'conservative'));
}

/**
 * `liquidationPrice` under conservative rounding from the price solved for it (`solvedLiquidationPrice(li,
 * 'conservative')`, which evaluate.ts computes on its own fast path). For a position whose margin excess is monotone
 * in price (`excessMonotone`).
 */
export function liquidationPriceFromSolved(li: LiquidationInput, solved: bigint | null): bigint | null {
  return priceBefore(li, refineSolved(li, solved));
}

/** The tick before the first failing one, toward safety. */
function priceBefore(li: LiquidationInput, trigger: bigint | null): bigint | null {
  return trigger === null ? null : trigger - dangerStep(li.pos.side) * li.inst.tickSize;
}

/** The solved liquidation price rounded as asked: exact rational solution, tier re-checked (see liquidationPrice). */
function solvedLiquidationPrice(li: LiquidationInput, rounding: 'conservative' | 'nearest'): bigint | null {
  const { inst, conv, pos } = li;
  const fee = conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n;
  const mRaw = li.collateral * RONE;
  let best: bigint | null = null;
  if (conv.mmBasis !== 'mark') {
    const rates = ratesAt(inst, pos.size, pos.entryPrice, li.openInterest);
    const kRaw = valueTimesRateRaw(inst, pos.size, pos.entryPrice, rates.mmr) - rates.deductionRaw;
    const p = solvePrice(inst, pos, mRaw - maxBig(0n, kRaw), fee);
    best = p && roundPrice(inst, pos.side, p, rounding);
    if (conv.mmBasis === 'entry') return best;
  }
  return worse(pos.side, best, liquidationAtMarkBasis(li, mRaw, fee, rounding));
}

function liquidationAtMarkBasis(
  li: LiquidationInput,
  mRaw: bigint,
  fee: bigint,
  rounding: 'conservative' | 'nearest',
): bigint | null {
  const { inst, pos } = li;
  const rule = inst.risk;
  const solveWith = (r: Rates) => {
    const p = solvePrice(inst, pos, mRaw + r.deductionRaw, r.mmr + fee);
    return p && roundPrice(inst, pos.side, p, rounding);
  };
  if (rule.kind !== 'tiers') return solveWith(ratesAt(inst, pos.size, pos.entryPrice, li.openInterest));
  // Walk: solve with a tier, see which tier that price falls in, repeat; continuous brackets settle fast.
  // FIX: the tier is checked at the exact solution, not at the tick-rounded price. Rounding can carry a root that
  // lies within a tick of a bracket boundary across it; each neighbour's root then rounds back across, the walk
  // and the scan both rejected every tier, and a real liquidation price came out null (or a far-off boundary).
  let k = tierIndex(rule.tiers, notional(inst, pos.size, pos.entryPrice, 'ceil'));
  for (let step = 0; step < 4; step++) {
    const t = tierRates(rule.tiers, k);
    const sp = solvePrice(inst, pos, mRaw + t.deductionRaw, t.mmr + fee);
    if (sp === null) break;
    const j = tierIndex(rule.tiers, notionalAtExactPrice(inst, pos.size, sp));
    if (j === k) return roundPrice(inst, pos.side, sp, rounding);
    k = j;
  }
  return scanTiers(li, mRaw, fee, rounding);
}

/** Notional (settle units, rounded up) at an exact rational price `num/den` in priceDp units; caps are integers,
 * so `ceil(N) <= cap` exactly when `N <= cap`. */
function notionalAtExactPrice(inst: Instrument, size: bigint, p: { num: bigint; den: bigint }): bigint {
  const s = scales(inst);
  const q = size * inst.multiplier;
  if (inst.kind === 'linear') return ceilDiv(q * p.num * s.linearUp, s.linearDen * p.den);
  return ceilDiv(q * s.settleScale * s.priceScale * p.den, p.num * s.sizeScale);
}

function tierRates(
  tiers: readonly { mmr: bigint; imr: bigint; deductionRaw: bigint; maxLeverage: bigint }[],
  k: number,
): Rates {
  const t = tiers[k]!;
  return { mmr: t.mmr, imr: t.imr, deductionRaw: t.deductionRaw, maxLeverage: t.maxLeverage, tier: k };
}

/** Brackets a notional can fall in: up to the first open one (tierIndex never goes past it), else all; the caps of
 * all but the last of them are the bracket boundaries. */
function reachableTiers(tiers: readonly Tier[]): number {
  for (let i = 0; i < tiers.length - 1; i++) if (tiers[i]!.cap === null) return i + 1;
  return tiers.length;
}

/**
 * Every tier's own solution that lands inside that tier, plus bracket boundaries where the position is already
 * liquidatable just past them (step rules jump there); the liquidation price is the outermost such point toward
 * the position's safe side.
 */
function scanTiers(
  li: LiquidationInput,
  mRaw: bigint,
  fee: bigint,
  rounding: 'conservative' | 'nearest',
): bigint | null {
  const { inst, pos } = li;
  if (inst.risk.kind !== 'tiers') return null;
  const tiers = inst.risk.tiers;
  let best: bigint | null = null;
  let found = false;
  const consider = (p: bigint) => {
    best = found ? worse(pos.side, best, p) : p;
    found = true;
  };
  tiers.forEach((_, k) => {
    const sp = solvePrice(inst, pos, mRaw + tiers[k]!.deductionRaw, tiers[k]!.mmr + fee);
    if (!sp) return;
    const p = roundPrice(inst, pos.side, sp, rounding);
    // FIX: tier membership of the exact solution (see liquidationAtMarkBasis), not of the rounded price.
    if (p > 0n && tierIndex(tiers, notionalAtExactPrice(inst, pos.size, sp)) === k) consider(p);
  });
  const boundaries = reachableTiers(tiers) - 1;
  for (let i = 0; i < boundaries; i++) {
    const b = boundaryCrossing(inst, pos, tiers[i]!.cap!, rounding);
    // FIX (D1): tested at the first tick past the boundary, inside the bracket on the danger side. The boundary
    // price used to be rounded onto the other side, where the test passes, so a step rule's jump in maintenance was
    // never a candidate and the price fell back to a far-off one (an inverse long reported 9,124 ticks late).
    if (b && b.price > 0n && isLiquidatable(inst, pos, li.collateral, b.first, fee, li.openInterest))
      consider(b.price);
  }
  // A long with no crossing above zero, or a short that never crosses: no liquidation price.
  return found ? best : null;
}

/**
 * A bracket boundary (notional = `cap`, which is inside the lower bracket) seen from the position's danger side:
 * `first`, the first tick past it toward danger (inside the bracket on that side: the higher one where the notional
 * grows toward danger, a linear short or an inverse long, else the lower one), and the price to report when the test
 * fails there — conservative: the tick before `first`; nearest: the boundary rounded to the nearest tick. Null when
 * `first` is not a positive price.
 */
function boundaryCrossing(
  inst: Instrument,
  pos: PositionInput,
  cap: bigint,
  rounding: 'conservative' | 'nearest',
): { first: bigint; price: bigint } | null {
  const s = scales(inst);
  const q = pos.size * inst.multiplier;
  if (q === 0n || cap <= 0n) return null;
  const t = inst.tickSize;
  // The boundary price num/den: linear, the lower bracket is P <= num/den; inverse, P >= num/den.
  const [num, den] =
    inst.kind === 'linear'
      ? [cap * s.linearDen, q * s.linearUp]
      : [q * s.settleScale * s.priceScale, cap * s.sizeScale];
  const long = pos.side === 'long';
  let first: bigint;
  if (inst.kind === 'linear') {
    const fl = floorDiv(num, den * t);
    first = long ? fl : fl + 1n; // the last tick at or below the boundary / the first above it
  } else {
    const cl = ceilDiv(num, den * t);
    first = long ? cl - 1n : cl; // the last tick below the boundary / the first at or above it
  }
  if (first <= 0n) return null;
  const price = rounding === 'nearest' ? div(num, den * t, 'halfUp') * t : (first - dangerStep(pos.side)) * t;
  return { first: first * t, price };
}

/** Margin balance below maintenance at `price`, maintenance measured at `price` with `fee` folded in. */
export function isLiquidatable(
  inst: Instrument,
  pos: PositionInput,
  collateral: bigint,
  price: bigint,
  fee = 0n,
  oi?: bigint,
): boolean {
  return collateral + unrealizedPnl(inst, pos, price) < maintenanceMargin(inst, pos.size, price, fee, oi);
}

// ---------------------------------------------------------------------------------------------------------
// The first failing tick
//
// The liquidation test compares whole settle units: h(P) = collateral + floor(uPnL(P)) − ceil(MM(P)) < 0, with
// MM = `triggerMaintenance`. The solved price is the root of the exact excess G(P) = collateral + uPnL(P) − MM(P);
// rounding only ever lowers the excess, by less than two units: G − 2 < h <= G (two: one from each side, plus
// 1/RATE_ONE from the nested ceilings, which an integer h absorbs). So the test fails wherever G < 0 and passes
// wherever G >= 2; between the two (the band) it is decided by the rounding and may even pass again a tick further
// toward danger (the PnL and the maintenance step down at different ticks). When one settle unit spans several
// ticks (a small inverse position) the band is several ticks wide and the solved price is off by that much.
//
// The search in the band rests on two monotone integers: toward danger the floored PnL A never rises, and the
// rounded maintenance B moves one way (it follows the notional). Among the ticks where B takes one value m the test
// fails exactly where A < m − collateral, a tail found by bisection; the band holds few values of B (across it G
// moves by under four units and B by at most r/(1 − r) of that, plus one jump per bracket boundary), so the search
// is a few bisections, bounded below by `MAX_LEVELS`.

/** Whether the notional grows toward danger: a linear short's (rising price) or an inverse long's (falling price). */
export function notionalGrows(inst: Instrument, side: Side): boolean {
  return (inst.kind === 'linear') === (side === 'short');
}

/** A tick index toward danger: a long's danger is a falling price, a short's a rising one. */
function dangerStep(side: Side): bigint {
  return side === 'long' ? -1n : 1n;
}

/** Margin balance less the maintenance the liquidation test uses, at `price` (the test fails below zero). */
function excessAt(li: LiquidationInput, price: bigint): bigint {
  return (
    li.collateral +
    unrealizedPnl(li.inst, li.pos, price) -
    triggerMaintenance(li.inst, li.conv, li.pos, price, li.openInterest)
  );
}

/** Distinct maintenance values the band search walks through before it gives up and reports the earliest tick it
 * has not ruled out (early, never late). Far more than any real band holds. */
const MAX_LEVELS = 64;
/** A band this many ticks wide or less is searched tick by tick. */
const SCAN_TICKS = 6n;
/** Doublings of the search toward safety before it stops (2^200 ticks: no real price). */
const MAX_DOUBLINGS = 200;

/**
 * Whether the exact excess G falls monotonically toward danger over all prices, so that the solved price brackets
 * the first failing tick. It does within a bracket (maintenance rate + fee below 100%), and across them where
 * maintenance is continuous (derived deductions) or jumps the same way: up where the notional grows toward danger
 * (a linear short, an inverse long). A step rule seen from an inverse short (or a linear long) jumps the other way:
 * the excess then rises again past each boundary toward danger and may fail first on the safe side of the entry.
 */
export function excessMonotone(inst: Instrument, conv: MarginConventions, side: Side): boolean {
  if (conv.mmBasis === 'entry' || inst.risk.kind !== 'tiers') return true;
  const jumps = tierJumps(inst);
  if (jumps === 0) return true;
  const growing = (inst.kind === 'linear') === (side === 'short');
  return growing ? jumps === 1 : jumps === -1;
}

/**
 * Whether the exact excess falls toward danger within each bracket, as the band search needs: always where the
 * notional grows toward danger (a linear short, an inverse long); where it shrinks, while maintenance rate + fee
 * stays below 100% (at 100% a linear long's excess no longer depends on the price at all).
 */
function excessFalls(li: LiquidationInput): boolean {
  const { inst, conv, pos } = li;
  if ((inst.kind === 'linear') === (pos.side === 'short')) return true;
  const fee = conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n;
  let mmr = 0n;
  if (conv.mmBasis !== 'entry') {
    if (inst.risk.kind === 'tiers') {
      const tiers = inst.risk.tiers;
      const n = reachableTiers(tiers);
      for (let k = 0; k < n; k++) mmr = maxBig(mmr, tiers[k]!.mmr);
    } else mmr = ratesAt(inst, pos.size, pos.entryPrice, li.openInterest).mmr;
  }
  return mmr + fee < RONE;
}

const jumpCache = new WeakMap<Instrument, number>();
/**
 * How maintenance jumps at the bracket boundaries as the notional grows: 0 continuous, 1 up or not at all at each,
 * −1 down or not at all, 2 both ways.
 */
export function tierJumps(inst: Instrument): number {
  let j = jumpCache.get(inst);
  if (j !== undefined) return j;
  j = 0;
  if (inst.risk.kind === 'tiers') {
    const tiers = inst.risk.tiers;
    const n = reachableTiers(tiers);
    for (let k = 1; k < n; k++) {
      const a = tiers[k - 1]!;
      const b = tiers[k]!;
      const jump = a.cap! * (b.mmr - a.mmr) - (b.deductionRaw - a.deductionRaw);
      const sgn = jump > 0n ? 1 : jump < 0n ? -1 : 0;
      if (sgn !== 0) j = j === 0 || j === sgn ? sgn : 2;
    }
  }
  jumpCache.set(inst, j);
  return j;
}

/**
 * The first failing tick from the solved conservative price (the last tick the exact excess keeps at or above
 * zero), for a position whose excess is monotone: the tick past it fails (G < 0 there), so unless the band reaches
 * back over the solved price — checked with one evaluation — that is the answer; otherwise the band is searched.
 * The check: where the notional grows toward danger (a linear short, an inverse long) the floored PnL falls and the
 * rounded maintenance rises toward danger, so the test itself is monotone and passing at the solved price is enough;
 * otherwise the two can step at different ticks and the solved price must keep 2 units (then G >= 2 from it on).
 */
function refineSolved(li: LiquidationInput, solved: bigint | null): bigint | null {
  const { inst, pos } = li;
  const t = inst.tickSize;
  const step = dangerStep(pos.side);
  const shortEnd = pos.side === 'short' ? 1n : null;
  if (!excessFalls(li)) {
    // Maintenance at 100% of a shrinking notional: no band to search, the solved price stands.
    const d = solved === null ? 0n : solved / t + step;
    return d >= 1n ? d * t : null;
  }
  if (solved === null) {
    // No root: the exact excess stays above zero. The test may still fail by rounding where the position is worth
    // almost nothing: a long's near zero, a short's (inverse) at prices without end (`rootlessShortTrigger`).
    if (pos.side === 'short')
      return rootlessShortTrigger(li, 1n, (collateral) =>
        solvedLiquidationPrice({ ...li, collateral }, 'conservative'),
      );
    if (excessAt(li, t) >= 2n) return null;
    return firstFailing(li, safeBound(li, 1n, null), 1n);
  }
  const n = solved / t;
  const d = n + step;
  if (n < 1n) return firstFailing(li, 0n, d) ?? d * t; // a short solved below the first tick
  if (excessAt(li, solved) >= (notionalGrows(inst, pos.side) ? 0n : 2n)) return d >= 1n ? d * t : null;
  // The band's safe end: the price solved with 2 units less collateral, where G = 2; from it on toward safety G >= 2
  // and the test passes. (Should rounding leave no such price, search for a tick that keeps 2 units instead.)
  const band = solvedLiquidationPrice({ ...li, collateral: li.collateral - 2n }, 'conservative');
  const s =
    band !== null && (pos.side === 'long' ? band >= solved : band <= solved)
      ? band / t
      : pos.side === 'short'
        ? 0n
        : safeBound(li, n, shortEnd);
  if (d < 1n) return firstFailing(li, s, 1n); // a long solved at the first tick: only the band can fail
  return firstFailing(li, s, d) ?? d * t;
}

/**
 * From tick index `from`, toward safety and not past `limit` (the last index of a stretch over which G is monotone;
 * null: unbounded), an index where the excess is at least 2 units while at the next index toward danger it is not
 * (so G there is at least 2, and below 4 plus one tick's worth just past it); with none up to `limit`, the index just
 * past `limit` (0 for a short's first tick). Everything from the returned index toward safety, within the stretch,
 * passes the test. Gallops, then bisects.
 */
function safeBound(li: LiquidationInput, from: bigint, limit: bigint | null): bigint {
  const t = li.inst.tickSize;
  const up = -dangerStep(li.pos.side);
  const ok = (n: bigint) => excessAt(li, n * t) >= 2n;
  if (ok(from)) return from;
  let bad = from;
  let good = 0n; // 0: not found yet (never a valid index here)
  let dist = 1n;
  for (let i = 0; i < MAX_DOUBLINGS && good === 0n; i++) {
    let n = from + up * dist;
    const atLimit = limit !== null && (up > 0n ? n >= limit : n <= limit);
    if (atLimit) n = limit as bigint;
    if (ok(n)) good = n;
    else if (atLimit) return n + up;
    else bad = n;
    dist *= 2n;
  }
  if (good === 0n) return bad; // no real price gets here
  while (good - bad > 1n || bad - good > 1n) {
    const mid = (good + bad) / 2n;
    if (ok(mid)) good = mid;
    else bad = mid;
  }
  return good;
}

/**
 * The first tick index past `safe` toward danger, up to `end` inclusive, at which the test fails; null if none.
 * Everything from `safe` toward safety must pass. Level by level of the rounded maintenance (see above).
 */
function firstFailing(li: LiquidationInput, safe: bigint, end: bigint): bigint | null {
  const { inst, conv, pos } = li;
  const step = dangerStep(pos.side);
  const last = (end - safe) * step;
  if (last < 1n) return null;
  const t = inst.tickSize;
  const at = (k: bigint) => (safe + step * k) * t;
  if (last <= SCAN_TICKS) {
    // A narrow band (the usual one): tick by tick.
    for (let k = 1n; k <= last; k++) if (excessAt(li, at(k)) < 0n) return at(k);
    return null;
  }
  const pnl = (k: bigint) => unrealizedPnl(inst, pos, at(k));
  const mm = (k: bigint) => triggerMaintenance(inst, conv, pos, at(k), li.openInterest);
  let lo = 1n;
  for (let level = 0; lo <= last; level++) {
    if (level === MAX_LEVELS) return at(lo);
    const m = mm(lo);
    // The run of indices from lo where maintenance is still m (it is monotone along the way).
    let runEnd = lo;
    if (mm(last) === m) runEnd = last;
    else {
      let y = last;
      while (y - runEnd > 1n) {
        const mid = (runEnd + y) / 2n;
        if (mm(mid) === m) runEnd = mid;
        else y = mid;
      }
    }
    // Within the run the test fails where the PnL is below m − collateral: a tail of it.
    const below = m - li.collateral;
    if (pnl(runEnd) < below) {
      if (pnl(lo) < below) return at(lo);
      let x = lo;
      let y = runEnd;
      while (y - x > 1n) {
        const mid = (x + y) / 2n;
        if (pnl(mid) < below) y = mid;
        else x = mid;
      }
      return at(y);
    }
    lo = runEnd + 1n;
  }
  return null;
}

/**
 * The first failing tick when the excess is not monotone across brackets (see `excessMonotone`): bracket by bracket
 * from the safest (within one the exact excess is monotone), the first that fails anywhere. A bracket whose
 * danger-end tick keeps 2 units passes throughout; otherwise its stretch is searched from the safe side. The
 * bracket that runs on without end toward danger (a short's) is entered from its solved price.
 */
function scanStretches(li: LiquidationInput): bigint | null {
  const { inst, pos } = li;
  if (inst.risk.kind !== 'tiers') return refineSolved(li, solvedLiquidationPrice(li, 'conservative'));
  const tiers = inst.risk.tiers;
  const n = reachableTiers(tiers);
  const t = inst.tickSize;
  const long = pos.side === 'long';
  const s = scales(inst);
  const q = pos.size * inst.multiplier;
  const linear = inst.kind === 'linear';
  // Tick index ranges [lo, hi] of each bracket (hi null: unbounded).
  const ranges: { k: number; lo: bigint; hi: bigint | null }[] = [];
  // Linear: the last index with notional <= cap; inverse: the first.
  const edge = (cap: bigint) =>
    linear
      ? floorDiv(cap * s.linearDen, q * s.linearUp * t)
      : ceilDiv(q * s.settleScale * s.priceScale, cap * s.sizeScale * t);
  for (let k = 0; k < n; k++) {
    const below = k === 0 ? null : edge(tiers[k - 1]!.cap!);
    const above = k === n - 1 ? null : edge(tiers[k]!.cap!);
    const lo = linear ? (below === null ? 1n : below + 1n) : above === null ? 1n : maxBig(1n, above);
    const hi = linear ? above : below === null ? null : below - 1n;
    if (hi === null || lo <= hi) ranges.push({ k, lo, hi });
  }
  // Safest first: a long's from the highest prices, a short's from the lowest.
  ranges.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  if (long) ranges.reverse();
  for (const r of ranges) {
    const dangerEnd = long ? r.lo : r.hi;
    const safeEnd = long ? r.hi : r.lo;
    if (dangerEnd === null) {
      // A short's last stretch: from its own solved price.
      const solved = stretchSolved(li, r.k);
      if (solved === null)
        return rootlessShortTrigger(li, r.lo, (collateral) => stretchSolved({ ...li, collateral }, r.k));
      const m = solved / t;
      if (m < r.lo) return r.lo * t; // solved on the safe side of the stretch: it fails from its first tick
      if (excessAt(li, solved) >= 2n) return (m + 1n) * t;
      return firstFailing(li, safeBound(li, m, r.lo), m + 1n) ?? (m + 1n) * t;
    }
    if (excessAt(li, dangerEnd * t) >= 2n) continue;
    const f = firstFailing(li, safeBound(li, dangerEnd, safeEnd), dangerEnd);
    if (f !== null) return f;
  }
  return null;
}

/**
 * The first failing tick, from tick index `lo` up (everything below `lo` passes), of a short whose exact excess G has
 * no root there: it never reaches zero as the price rises. That is an inverse short backed by at least its value at
 * entry (a fully collateralised 1x short, the classic hedge): its margin balance falls toward that surplus as its
 * value q/P shrinks toward nothing, while maintenance never rounds below one unit at any price. So the test fails
 * where the balance is under one unit — the position worth less than a unit, less what the surplus holds — unless
 * G keeps 2 units everywhere; a short without a root used to be reported as never liquidated, though the engine's
 * exact check liquidates it there (the linear long's counterpart, near zero, is searched in `refineSolved`). A short
 * whose G is negative everywhere (a linear short in a cross bucket deep in loss) fails from `lo` itself. `solve` gives
 * the conservative solved price for a collateral: with 2 units less, where G = 2, is the band's safe end.
 */
function rootlessShortTrigger(
  li: LiquidationInput,
  lo: bigint,
  solve: (collateral: bigint) => bigint | null,
): bigint | null {
  const t = li.inst.tickSize;
  // (An inverse short's G is unbounded at low prices, so its band below has a root whenever G < 2 anywhere.)
  if (notionalGrows(li.inst, li.pos.side) && excessAt(li, lo * t) < 0n) return lo * t;
  const band = solve(li.collateral - 2n);
  if (band === null) return null; // G >= 2 at every price: the test passes everywhere
  // The failing stretch, if any, runs on without end; past 2^MAX_DOUBLINGS ticks there is no real price. Where the
  // far end fails, a gallop finds a nearer failing tick to search up to (a few doublings: the first failing price is
  // usually a small multiple of the band's), which spares the search two hundred bisection steps.
  const safe = maxBig(band / t, lo - 1n);
  let end = safe + FAR_TICKS;
  if (excessAt(li, end * t) < 0n) {
    for (let dist = 1n; dist < FAR_TICKS; dist *= 2n) {
      if (excessAt(li, (safe + dist) * t) < 0n) {
        end = safe + dist;
        break;
      }
    }
  }
  return firstFailing(li, safe, end);
}

/** Ticks past which a search toward danger stops: no real price lies there. */
const FAR_TICKS = 1n << BigInt(MAX_DOUBLINGS);

/** The conservative solved price of bracket `k` alone (worse of it and the entry-basis price where that counts). */
function stretchSolved(li: LiquidationInput, k: number): bigint | null {
  const { inst, conv, pos } = li;
  const fee = conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n;
  const mRaw = li.collateral * RONE;
  const t = (inst.risk as { tiers: Tier[] }).tiers[k]!;
  const sp = solvePrice(inst, pos, mRaw + t.deductionRaw, t.mmr + fee);
  let best = sp && roundPrice(inst, pos.side, sp, 'conservative');
  if (conv.mmBasis === 'worse') {
    const rates = ratesAt(inst, pos.size, pos.entryPrice, li.openInterest);
    const kRaw = valueTimesRateRaw(inst, pos.size, pos.entryPrice, rates.mmr) - rates.deductionRaw;
    const p = solvePrice(inst, pos, mRaw - maxBig(0n, kRaw), fee);
    best = worse(pos.side, best, p && roundPrice(inst, pos.side, p, 'conservative'));
  }
  return best;
}

/** Bankruptcy price: where margin balance (less the fee to close, if the venue counts it) reaches zero. */
export function bankruptcyPrice(li: LiquidationInput): bigint | null {
  const fee = li.conv.feeInBankruptcy ? li.conv.takerFeeRate : 0n;
  const p = solvePrice(li.inst, li.pos, li.collateral * RONE, fee);
  return p && roundPrice(li.inst, li.pos.side, p, li.conv.priceRounding);
}

/** Bankruptcy price as an exact rational before tick rounding (for displays that show venue precision). */
export function bankruptcyPriceExact(li: LiquidationInput): { num: bigint; den: bigint } | null {
  const fee = li.conv.feeInBankruptcy ? li.conv.takerFeeRate : 0n;
  return solvePrice(li.inst, li.pos, li.collateral * RONE, fee);
}

// ---------------------------------------------------------------------------------------------------------
// Isolated margin adjustments

export interface IsolatedState extends LiquidationInput {
  mark: bigint;
  leverage: bigint;
}

/**
 * Largest amount that can leave an isolated bucket: what stays must cover initial margin (notional / leverage,
 * at mark or, where the venue values it so, at entry) and any venue transfer floor; unrealized profit counts only
 * where the venue allows it (Binance).
 */
export function maxRemovableMargin(st: IsolatedState): bigint {
  const n = notional(st.inst, st.pos.size, st.mark, 'ceil');
  const imValue = st.conv.imBasis === 'entry' ? notional(st.inst, st.pos.size, st.pos.entryPrice, 'ceil') : n;
  const required = maxBig(
    initialMarginAtLeverage(imValue, st.leverage),
    maxBig(
      initialMarginAtRate(n, st.conv.transferFloorRate),
      maintenanceMargin(st.inst, st.pos.size, st.mark),
    ),
  );
  const pnl = unrealizedPnl(st.inst, st.pos, st.mark);
  const counted = st.conv.removableCountsProfit ? pnl : minBig(pnl, 0n);
  return maxBig(0n, minBig(st.collateral, st.collateral + counted - required));
}

export interface LeverageChange {
  /** Collateral the bucket should hold at the new leverage (initial margin at entry). */
  targetCollateral: bigint;
  /** Positive: taken from free balance; negative: released to it. */
  delta: bigint;
  liquidationPrice: bigint | null;
}

/**
 * Effect of changing an isolated position's leverage: the bucket is re-sized to initial margin at entry
 * notional over the new leverage (extra margin the trader added stays), and the liquidation price moves.
 * Throws if the leverage exceeds what the position's tier allows.
 */
export function leverageChange(st: IsolatedState, newLeverage: bigint, extraMargin = 0n): LeverageChange {
  const n = notional(st.inst, st.pos.size, st.pos.entryPrice, 'ceil');
  const rates = ratesAt(st.inst, st.pos.size, st.pos.entryPrice, st.openInterest);
  const cap = minBig(rates.maxLeverage, st.inst.maxLeverage);
  if (newLeverage > cap) {
    throw new InputError(
      'leverage',
      `exceeds the ${Number(cap) / 100}x allowed at this position's tier`,
      'LEVERAGE_TOO_HIGH',
    );
  }
  const targetCollateral = initialMarginAtLeverage(n, newLeverage) + extraMargin;
  return {
    targetCollateral,
    delta: targetCollateral - st.collateral,
    liquidationPrice: liquidationPrice({ ...st, collateral: targetCollateral }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Buckets

export interface BucketPosition {
  inst: Instrument;
  pos: PositionInput;
  mark: bigint;
}

export interface PositionRisk {
  notional: bigint;
  unrealizedPnl: bigint;
  /** Maintenance at mark (with the fee to close where the venue counts it). */
  maintenanceMargin: bigint;
  /** The maintenance the liquidation test compares margin balance with, on the venue's basis (see
   * `triggerMaintenance`); equals `maintenanceMargin` for mark-basis venues. */
  triggerMaintenance: bigint;
  rates: Rates;
}

export function positionRisk(
  inst: Instrument,
  pos: PositionInput,
  mark: bigint,
  conv: MarginConventions,
  oi?: bigint,
): PositionRisk {
  const n = notional(inst, pos.size, mark, 'ceil');
  const rates = ratesFor(inst.risk, n, rateContext(inst, pos.size, oi));
  const fee = conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n;
  const atMark = maintenanceWith(inst, pos.size, mark, rates.mmr + fee, rates.deductionRaw);
  return {
    notional: n,
    unrealizedPnl: unrealizedPnl(inst, pos, mark),
    maintenanceMargin: atMark,
    triggerMaintenance: conv.mmBasis === 'mark' ? atMark : triggerMaintenance(inst, conv, pos, mark, oi),
    rates,
  };
}

/**
 * The maintenance a position is liquidated against at `mark`, on the same basis its liquidation price is solved
 * on, so that "mark past the liquidation price" and "margin balance below maintenance" always agree:
 * mark basis — maintenance at mark; entry basis (Bybit) — maintenance at entry value plus the fee to close at
 * mark; worse (ringfence) — the larger of the two.
 */
export function triggerMaintenance(
  inst: Instrument,
  conv: MarginConventions,
  pos: PositionInput,
  mark: bigint,
  oi?: bigint,
): bigint {
  const fee = conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n;
  if (inst.kind === 'linear' && inst.risk.kind === 'tiers')
    return linearTieredTrigger(inst, conv, pos, mark, fee);
  const atMark = maintenanceMargin(inst, pos.size, mark, fee, oi);
  if (conv.mmBasis === 'mark') return atMark;
  const r = ratesAt(inst, pos.size, pos.entryPrice, oi);
  const entryPart = maxBig(0n, valueTimesRateRaw(inst, pos.size, pos.entryPrice, r.mmr) - r.deductionRaw);
  const atEntry = ceilDiv(entryPart + valueTimesRateRaw(inst, pos.size, mark, fee), RONE);
  return conv.mmBasis === 'entry' ? atEntry : maxBig(atEntry, atMark);
}

/**
 * `triggerMaintenance` of a linear instrument with bracket rates, term for term the same figure: each price's
 * exact value `size × price × linearF` is formed once and both its bracket (by the notional, rounded up) and its
 * `value × rate` (rounded up) come from it, and a bracket's rates are read from the table rather than copied into a
 * fresh Rates object. This runs on every position a command re-files (liquidation.ts touchIsolated), so the
 * recomputed products and objects were a good part of each command's work. Brackets ignore open interest.
 */
function linearTieredTrigger(
  inst: Instrument,
  conv: MarginConventions,
  pos: PositionInput,
  mark: bigint,
  fee: bigint,
): bigint {
  const s = scales(inst);
  const tiers = (inst.risk as Extract<Instrument['risk'], { kind: 'tiers' }>).tiers;
  const xMark = pos.size * mark * s.linearF;
  const tMark = tiers[tierIndex(tiers, linearNotionalCeil(s, xMark))]!;
  const atMark = maxBig(
    0n,
    ceilDiv(linearValueTimesRate(s, xMark, tMark.mmr + fee) - tMark.deductionRaw, RONE),
  );
  if (conv.mmBasis === 'mark') return atMark;
  const xEntry = pos.size * pos.entryPrice * s.linearF;
  const tEntry = tiers[tierIndex(tiers, linearNotionalCeil(s, xEntry))]!;
  const entryPart = maxBig(0n, linearValueTimesRate(s, xEntry, tEntry.mmr) - tEntry.deductionRaw);
  const atEntry = ceilDiv(entryPart + linearValueTimesRate(s, xMark, fee), RONE);
  return conv.mmBasis === 'entry' ? atEntry : maxBig(atEntry, atMark);
}

/** A linear notional rounded up, from the exact `size × price × linearF` (as `notional(…, 'ceil')`). */
function linearNotionalCeil(s: InstrumentScales, x: bigint): bigint {
  if (x >= 0n) return s.linearDenM1 === 0n ? x : (x + s.linearDenM1) / s.linearDen;
  return div(x, s.linearDen, 'ceil');
}

/** `valueTimesRateRaw` of a linear instrument from the exact `size × price × linearF`. */
function linearValueTimesRate(s: InstrumentScales, x: bigint, rate: bigint): bigint {
  return s.linearDenM1 === 0n ? x * rate : ceilDiv(x * rate, s.linearDen);
}

/**
 * Liquidation price of one position inside a cross bucket, the others held at their marks (Binance's
 * `WB − TMM₁ + UPNL₁` and dYdX's `e − MMR_o`): the others' PnL adds to the collateral and their maintenance
 * is subtracted from it. All positions must settle in the same asset.
 */
export function crossLiquidationPrice(
  conv: MarginConventions,
  walletBalance: bigint,
  positions: readonly BucketPosition[],
  index: number,
): bigint | null {
  const me = positions[index];
  if (!me) throw new RangeError('position index out of range');
  let m = walletBalance;
  positions.forEach((p, i) => {
    if (i === index) return;
    if (p.inst.settleAsset !== me.inst.settleAsset)
      throw new InputError('positions', 'a cross bucket holds one settle asset');
    const r = positionRisk(p.inst, p.pos, p.mark, conv);
    m += r.unrealizedPnl - r.triggerMaintenance;
  });
  return liquidationPrice({ inst: me.inst, conv, pos: me.pos, collateral: m });
}

/** Bankruptcy price of one position in a cross bucket: where the whole bucket's equity reaches zero. */
export function crossBankruptcyPrice(
  conv: MarginConventions,
  walletBalance: bigint,
  positions: readonly BucketPosition[],
  index: number,
): bigint | null {
  const me = positions[index]!;
  let m = walletBalance;
  positions.forEach((p, i) => {
    if (i !== index) m += unrealizedPnl(p.inst, p.pos, p.mark);
  });
  return bankruptcyPrice({ inst: me.inst, conv, pos: me.pos, collateral: m });
}

export { absBig, pow10 };
