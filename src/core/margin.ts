/**
 * Margin math for one position and for a bucket of positions, exact on bigint.
 *
 * Units: sizes at sizeDp, prices at priceDp, money at settleDp of the instrument, rates at RATE_DP.
 * Rounding: requirements (IM, MM, fees) round up; payouts and equity (PnL) round down; liquidation and
 * bankruptcy prices round toward the side that triggers sooner (long up, short down) unless a venue preset
 * asks for nearest.
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
import { type RateContext, type Rates, ratesFor, tierIndex } from './tiers.ts';

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
}

const RONE = RATE_ONE;

/** Caches the scales per instrument so callers need not pass them around. */
const scaleCache = new WeakMap<Instrument, InstrumentScales>();
export function scales(inst: Instrument): InstrumentScales {
  let s = scaleCache.get(inst);
  if (!s) {
    s = scalesOf(inst);
    scaleCache.set(inst, s);
  }
  return s;
}

/** Position value in settle units at `price`, rounded as asked. */
export function notional(inst: Instrument, size: bigint, price: bigint, mode: Rounding): bigint {
  const s = scales(inst);
  if (inst.kind === 'linear') return div(size * price * inst.multiplier * s.linearUp, s.linearDen, mode);
  if (price <= 0n) throw new RangeError('inverse notional needs a positive price');
  return div(size * inst.multiplier * s.settleScale * s.priceScale, price * s.sizeScale, mode);
}

/** Unrealized PnL in settle units, rounded down (a payout). */
export function unrealizedPnl(inst: Instrument, pos: PositionInput, mark: bigint): bigint {
  const s = scales(inst);
  const sg = sign(pos.side);
  if (inst.kind === 'linear') {
    return floorDiv(sg * pos.size * (mark - pos.entryPrice) * inst.multiplier * s.linearUp, s.linearDen);
  }
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
  if (inst.kind === 'linear') return ceilDiv(size * price * inst.multiplier * s.linearUp * rate, s.linearDen);
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
 * Liquidation price: the mark at which margin balance equals maintenance. With tiered maintenance the tier is
 * the one at the liquidation price itself (Binance's and Hyperliquid's re-check), found by walking from the
 * entry tier and, if that does not settle, by checking every tier and the bracket boundaries.
 */
export function liquidationPrice(li: LiquidationInput): bigint | null {
  const { inst, conv, pos } = li;
  const fee = conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n;
  const mRaw = li.collateral * RONE;
  let best: bigint | null = null;
  if (conv.mmBasis !== 'mark') {
    const rates = ratesAt(inst, pos.size, pos.entryPrice, li.openInterest);
    const kRaw = valueTimesRateRaw(inst, pos.size, pos.entryPrice, rates.mmr) - rates.deductionRaw;
    const p = solvePrice(inst, pos, mRaw - maxBig(0n, kRaw), fee);
    best = p && roundPrice(inst, pos.side, p, conv.priceRounding);
    if (conv.mmBasis === 'entry') return best;
  }
  return worse(pos.side, best, liquidationAtMarkBasis(li, mRaw, fee));
}

function liquidationAtMarkBasis(li: LiquidationInput, mRaw: bigint, fee: bigint): bigint | null {
  const { inst, conv, pos } = li;
  const rule = inst.risk;
  const solveWith = (r: Rates) => {
    const p = solvePrice(inst, pos, mRaw + r.deductionRaw, r.mmr + fee);
    return p && roundPrice(inst, pos.side, p, conv.priceRounding);
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
    if (j === k) return roundPrice(inst, pos.side, sp, conv.priceRounding);
    k = j;
  }
  return scanTiers(li, mRaw, fee);
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

/**
 * Every tier's own solution that lands inside that tier, plus bracket boundaries where the position is already
 * liquidatable (step rules jump there); the liquidation price is the outermost such point toward the position's
 * danger side.
 */
function scanTiers(li: LiquidationInput, mRaw: bigint, fee: bigint): bigint | null {
  const { inst, conv, pos } = li;
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
    const p = roundPrice(inst, pos.side, sp, conv.priceRounding);
    // FIX: tier membership of the exact solution (see liquidationAtMarkBasis), not of the rounded price.
    if (p > 0n && tierIndex(tiers, notionalAtExactPrice(inst, pos.size, sp)) === k) consider(p);
  });
  for (const t of tiers) {
    if (t.cap === null) continue;
    const b = boundaryPrice(inst, pos, t.cap);
    if (b !== null && b > 0n && isLiquidatable(inst, pos, li.collateral, b, fee, li.openInterest))
      consider(b);
  }
  // A long with no crossing above zero, or a short that never crosses: no liquidation price.
  return found ? best : null;
}

/** Price at which the position's notional equals `cap` (rounded to the tick, outward for the danger side). */
function boundaryPrice(inst: Instrument, pos: PositionInput, cap: bigint): bigint | null {
  const s = scales(inst);
  const q = pos.size * inst.multiplier;
  if (q === 0n || cap <= 0n) return null;
  const p =
    inst.kind === 'linear'
      ? { num: cap * s.linearDen, den: q * s.linearUp }
      : { num: q * s.settleScale * s.priceScale, den: cap * s.sizeScale };
  return roundPrice(inst, pos.side, p, 'conservative');
}

/** Margin balance below maintenance at `price` (the trigger test). */
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
 * Largest amount that can leave an isolated bucket: what stays must cover initial margin at mark (notional /
 * leverage) and any venue transfer floor; unrealized profit counts only where the venue allows it (Binance).
 */
export function maxRemovableMargin(st: IsolatedState): bigint {
  const n = notional(st.inst, st.pos.size, st.mark, 'ceil');
  const required = maxBig(
    initialMarginAtLeverage(n, st.leverage),
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
  const atMark = maintenanceMargin(inst, pos.size, mark, fee, oi);
  if (conv.mmBasis === 'mark') return atMark;
  const r = ratesAt(inst, pos.size, pos.entryPrice, oi);
  const entryPart = maxBig(0n, valueTimesRateRaw(inst, pos.size, pos.entryPrice, r.mmr) - r.deductionRaw);
  const atEntry = ceilDiv(entryPart + valueTimesRateRaw(inst, pos.size, mark, fee), RONE);
  return conv.mmBasis === 'entry' ? atEntry : maxBig(atEntry, atMark);
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
