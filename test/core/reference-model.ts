/**
 * A slow, obviously-correct reference for the margin formulas, used to check the fast path in src/core/margin.ts.
 *
 * Everything is exact rational arithmetic on real units (1 BTC, 20,000 USDT — not scaled integers) and nothing is
 * rounded until a caller asks. It deliberately shares no arithmetic with src/core: it reads only the instrument's
 * plain fields (scales, multiplier, tier caps and rates) and re-derives deductions from the bracket recursion.
 *
 *   linear:  notional N(P) = Q·P            uPnL = s·Q·(P − E)            Q = size × multiplier (base units)
 *   inverse: notional N(P) = Q/P            uPnL = s·Q·(1/E − 1/P)        Q = size × multiplier (USD)
 *   maintenance MM(P) = N(P)·r_k − d_k, k the bracket holding N(P) (cap inclusive, last bracket open-ended)
 *   liquidation:  M + uPnL(P) = MM(P) (+ N(P)·fee)   solved once per bracket; keep the solution inside its bracket
 *   bankruptcy:   M + uPnL(P) = N(P)·fee
 */
import type { Instrument } from '../../src/core/instrument.ts';
import type { MarginConventions, Side } from '../../src/core/margin.ts';

// ---------------------------------------------------------------------------------------------------------
// Fraction

const babs = (a: bigint): bigint => (a < 0n ? -a : a);
function gcd(a: bigint, b: bigint): bigint {
  a = babs(a);
  b = babs(b);
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** An exact rational n/d with d > 0, always reduced. */
export class Fraction {
  readonly n: bigint;
  readonly d: bigint;
  private constructor(n: bigint, d: bigint) {
    this.n = n;
    this.d = d;
  }

  static of(n: bigint, d = 1n): Fraction {
    if (d === 0n) throw new RangeError('Fraction: zero denominator');
    if (d < 0n) {
      n = -n;
      d = -d;
    }
    const g = gcd(n, d);
    return g > 1n ? new Fraction(n / g, d / g) : new Fraction(n, d);
  }

  /** v / 10^dp: a scaled integer read back as a real number. */
  static scaled(v: bigint, dp: number): Fraction {
    return Fraction.of(v, 10n ** BigInt(dp));
  }

  static readonly ZERO = Fraction.of(0n);
  static readonly ONE = Fraction.of(1n);

  add(o: Fraction): Fraction {
    return Fraction.of(this.n * o.d + o.n * this.d, this.d * o.d);
  }
  sub(o: Fraction): Fraction {
    return Fraction.of(this.n * o.d - o.n * this.d, this.d * o.d);
  }
  mul(o: Fraction): Fraction {
    return Fraction.of(this.n * o.n, this.d * o.d);
  }
  div(o: Fraction): Fraction {
    if (o.n === 0n) throw new RangeError('Fraction: division by zero');
    return Fraction.of(this.n * o.d, this.d * o.n);
  }
  neg(): Fraction {
    return Fraction.of(-this.n, this.d);
  }
  abs(): Fraction {
    return this.n < 0n ? this.neg() : this;
  }
  times(k: bigint): Fraction {
    return Fraction.of(this.n * k, this.d);
  }

  cmp(o: Fraction): -1 | 0 | 1 {
    const l = this.n * o.d;
    const r = o.n * this.d;
    return l < r ? -1 : l > r ? 1 : 0;
  }
  lt(o: Fraction): boolean {
    return this.cmp(o) < 0;
  }
  le(o: Fraction): boolean {
    return this.cmp(o) <= 0;
  }
  gt(o: Fraction): boolean {
    return this.cmp(o) > 0;
  }
  ge(o: Fraction): boolean {
    return this.cmp(o) >= 0;
  }
  eq(o: Fraction): boolean {
    return this.cmp(o) === 0;
  }
  sign(): -1 | 0 | 1 {
    return this.n < 0n ? -1 : this.n > 0n ? 1 : 0;
  }

  floor(): bigint {
    const q = this.n / this.d;
    return this.n < 0n && q * this.d !== this.n ? q - 1n : q;
  }
  ceil(): bigint {
    const q = this.n / this.d;
    return this.n > 0n && q * this.d !== this.n ? q + 1n : q;
  }
  /** Nearest integer, ties away from zero. */
  roundHalfUp(): bigint {
    const twice = Fraction.of(2n * babs(this.n) + this.d, 2n * this.d).floor();
    return this.n < 0n ? -twice : twice;
  }

  /** Back to a scaled integer at `dp` decimals with the given rounding. */
  toScaled(dp: number, mode: 'floor' | 'ceil' | 'halfUp'): bigint {
    const x = this.times(10n ** BigInt(dp));
    return mode === 'floor' ? x.floor() : mode === 'ceil' ? x.ceil() : x.roundHalfUp();
  }

  /** A short decimal rendering for failure messages. */
  toString(): string {
    const v = this.toScaled(12, 'halfUp');
    const neg = v < 0n;
    const s = babs(v).toString().padStart(13, '0');
    return `${neg ? '-' : ''}${s.slice(0, -12)}.${s.slice(-12)}`;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Instrument quantities in real units

const sgn = (side: Side): bigint => (side === 'long' ? 1n : -1n);

/** Size × multiplier in real units: base coins (linear) or USD (inverse). */
export function quantity(inst: Instrument, size: bigint): Fraction {
  return Fraction.scaled(size * inst.multiplier, inst.sizeDp + inst.multiplierDp);
}

export function realPrice(inst: Instrument, price: bigint): Fraction {
  return Fraction.scaled(price, inst.priceDp);
}

export function realMoney(inst: Instrument, amount: bigint): Fraction {
  return Fraction.scaled(amount, inst.settleDp);
}

/** Notional in the settle asset at a real price. */
export function refNotional(inst: Instrument, size: bigint, price: Fraction): Fraction {
  const q = quantity(inst, size);
  return inst.kind === 'linear' ? q.mul(price) : q.div(price);
}

/** Unrealized PnL in the settle asset, exact. */
export function refPnl(
  inst: Instrument,
  side: Side,
  size: bigint,
  entry: Fraction,
  mark: Fraction,
): Fraction {
  const q = quantity(inst, size);
  const move = inst.kind === 'linear' ? mark.sub(entry) : Fraction.ONE.div(entry).sub(Fraction.ONE.div(mark));
  return q.mul(move).times(sgn(side));
}

// ---------------------------------------------------------------------------------------------------------
// Brackets

export interface RefTier {
  /** Exclusive lower and inclusive upper notional bound (real settle units); hi null = unbounded. */
  lo: Fraction;
  hi: Fraction | null;
  mmr: Fraction;
  deduction: Fraction;
}

/**
 * The instrument's maintenance brackets in real units, deductions re-derived by the recursion
 * `d_n = cap_{n−1}·(r_n − r_{n−1}) + d_{n−1}` (or zero for step rules that carry none).
 * Non-tier rules become a single open bracket at their (size-dependent) rate.
 */
export function refTiers(
  inst: Instrument,
  size: bigint,
  opts: { deduction?: 'derived' | 'none' } = {},
): RefTier[] {
  const rule = inst.risk;
  const rate = (r: bigint) => Fraction.scaled(r, 10);
  if (rule.kind === 'fraction') {
    // MMF = IMF × maintenance fraction (rounded up at 10 dp, as published rates are stored).
    const mmf = Fraction.of(rule.imf * rule.maintenanceFraction, 10n ** 20n).toScaled(10, 'ceil');
    return [{ lo: Fraction.of(-1n), hi: null, mmr: rate(mmf), deduction: Fraction.ZERO }];
  }
  if (rule.kind === 'sizeLinear') {
    const extra = Fraction.of(rule.slopePerUnit * size, 10n ** BigInt(inst.sizeDp)).ceil();
    const imr = rule.imBase + extra < 10n ** 10n ? rule.imBase + extra : 10n ** 10n;
    const mmr = rule.mmBase + extra < imr ? rule.mmBase + extra : imr;
    return [{ lo: Fraction.of(-1n), hi: null, mmr: rate(mmr), deduction: Fraction.ZERO }];
  }
  const derived =
    (opts.deduction ?? (rule.tiers.every((t) => t.deductionRaw === 0n) ? 'none' : 'derived')) === 'derived';
  const out: RefTier[] = [];
  let lo = Fraction.of(-1n);
  let prevRate = Fraction.ZERO;
  let d = Fraction.ZERO;
  rule.tiers.forEach((t, i) => {
    const mmr = rate(t.mmr);
    if (derived && i > 0) d = d.add(lo.mul(mmr.sub(prevRate)));
    const last = i === rule.tiers.length - 1;
    const hi = last || t.cap === null ? null : realMoney(inst, t.cap);
    out.push({ lo, hi, mmr, deduction: derived ? d : Fraction.ZERO });
    if (t.cap !== null) lo = realMoney(inst, t.cap);
    prevRate = mmr;
  });
  return out;
}

export function refTierOf(tiers: readonly RefTier[], n: Fraction): number {
  for (let k = 0; k < tiers.length; k++) {
    const t = tiers[k]!;
    if (n.gt(t.lo) && (t.hi === null || n.le(t.hi))) return k;
  }
  // Only a notional at or below the first bracket's lower bound lands here (never for positive notionals).
  return 0;
}

/** Maintenance margin N·r − d (+ N·fee), exact; never negative. */
export function refMaintenance(
  inst: Instrument,
  size: bigint,
  price: Fraction,
  fee: Fraction = Fraction.ZERO,
): Fraction {
  const tiers = refTiers(inst, size);
  const n = refNotional(inst, size, price);
  const t = tiers[refTierOf(tiers, n)]!;
  const mm = n.mul(t.mmr.add(fee)).sub(t.deduction);
  return mm.sign() < 0 ? Fraction.ZERO : mm;
}

// ---------------------------------------------------------------------------------------------------------
// Solving for a price

export interface RefPosition {
  side: Side;
  size: bigint;
  entry: bigint;
}

/**
 * The price P > 0 where `M + uPnL(P) = N(P)·r − d`, or null when no positive price solves it.
 *   linear:  M + s·Q·(P − E) = Q·P·r − d    ⇒  P = (s·Q·E − M − d) / (Q·(s − r))
 *   inverse: M + s·Q·(1/E − 1/P) = Q·r/P − d ⇒  P = Q·(s + r) / (M + d + s·Q/E)
 */
export function refSolve(
  inst: Instrument,
  pos: RefPosition,
  m: Fraction,
  r: Fraction,
  d: Fraction,
): Fraction | null {
  const q = quantity(inst, pos.size);
  const s = Fraction.of(sgn(pos.side));
  const e = realPrice(inst, pos.entry);
  let num: Fraction;
  let den: Fraction;
  if (inst.kind === 'linear') {
    num = s.mul(q).mul(e).sub(m).sub(d);
    den = q.mul(s.sub(r));
  } else {
    num = q.mul(s.add(r));
    den = m.add(d).add(s.mul(q).div(e));
  }
  if (den.sign() === 0) return null;
  const p = num.div(den);
  return p.sign() > 0 ? p : null;
}

/** The more dangerous of two prices for the side (long: higher, short: lower); null = never. */
export function refWorse(side: Side, a: Fraction | null, b: Fraction | null): Fraction | null {
  if (a === null) return b;
  if (b === null) return a;
  return side === 'long' ? (a.gt(b) ? a : b) : a.lt(b) ? a : b;
}

/**
 * Exact liquidation price under the given conventions (before tick rounding).
 * Mark basis: every bracket's own solution that falls inside that bracket (the venue re-check rule). Entry basis:
 * maintenance frozen at its entry value, only the fee (if any) scales with the price.
 */
export function refLiquidationPrice(
  inst: Instrument,
  conv: MarginConventions,
  pos: RefPosition,
  collateral: bigint,
  /** Added to maintenance at entry: lets a caller bound the effect of rounding that figure. */
  entryMaintenanceExtra: Fraction = Fraction.ZERO,
): Fraction | null {
  const m = realMoney(inst, collateral);
  const fee = conv.feeToCloseInMaintenance ? Fraction.scaled(conv.takerFeeRate, 10) : Fraction.ZERO;
  const tiers = refTiers(inst, pos.size);
  let entryBased: Fraction | null = null;
  if (conv.mmBasis !== 'mark') {
    const k = refMaintenance(inst, pos.size, realPrice(inst, pos.entry)).add(entryMaintenanceExtra);
    entryBased = refSolve(inst, pos, m.sub(k), fee, Fraction.ZERO);
    if (conv.mmBasis === 'entry') return entryBased;
  }
  let markBased: Fraction | null = null;
  tiers.forEach((t, k) => {
    const p = refSolve(inst, pos, m, t.mmr.add(fee), t.deduction);
    if (p === null) return;
    if (refTierOf(tiers, refNotional(inst, pos.size, p)) !== k) return;
    markBased = refWorse(pos.side, markBased, p);
  });
  return refWorse(pos.side, entryBased, markBased);
}

/** Exact bankruptcy price: margin balance (less the fee to close, if counted) reaches zero. */
export function refBankruptcyPrice(
  inst: Instrument,
  conv: MarginConventions,
  pos: RefPosition,
  collateral: bigint,
): Fraction | null {
  const fee = conv.feeInBankruptcy ? Fraction.scaled(conv.takerFeeRate, 10) : Fraction.ZERO;
  return refSolve(inst, pos, realMoney(inst, collateral), fee, Fraction.ZERO);
}

/** Margin balance minus maintenance at a mark (real settle units), the quantity that is zero at liquidation. */
export function refExcess(
  inst: Instrument,
  pos: RefPosition,
  collateral: bigint,
  mark: Fraction,
  fee: Fraction = Fraction.ZERO,
): Fraction {
  const balance = realMoney(inst, collateral).add(
    refPnl(inst, pos.side, pos.size, realPrice(inst, pos.entry), mark),
  );
  return balance.sub(refMaintenance(inst, pos.size, mark, fee));
}
