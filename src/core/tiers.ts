/**
 * Risk rules: what maintenance and initial rate apply to a position of a given notional and size.
 *
 * Five venue shapes reduce to one evaluated form, `MM = notional × mmr − deduction`, so the margin math has one
 * formula and the shapes are data:
 *  - notional brackets with a deduction derived by the "tax bracket" recursion (Binance, Bybit, Hyperliquid);
 *  - BitMEX step risk limits: brackets whose rates jump by a step and carry no deduction;
 *  - Deribit: rates linear in position size (`IM% = base + size × slope`);
 *  - dYdX: a liquidity tier, `MMF = IMF × maintenance fraction`, IMF scaled up with market open interest.
 * All notionals and deductions are in the settlement asset (quote for linear, coin for inverse).
 */
import { ceilDiv, div, formatDecimal, InputError, maxBig, minBig, pow10 } from './fixed.ts';
import { LEVERAGE_ONE, RATE_DP, RATE_ONE } from './rates.ts';

/** One bracket. `cap` is the inclusive upper notional bound (settle units), null for the last. */
export interface Tier {
  cap: bigint | null;
  /** Maintenance rate at RATE_DP. */
  mmr: bigint;
  /** Initial rate at RATE_DP (1 / max leverage, rounded up). */
  imr: bigint;
  /** Max leverage at LEVERAGE_DP. */
  maxLeverage: bigint;
  /** Maintenance deduction at settle-dp + RATE_DP (kept at full scale so the recursion stays exact). */
  deductionRaw: bigint;
}

export type RiskRule =
  | {
      kind: 'tiers';
      tiers: Tier[];
      /** Hyperliquid: each tier's maintenance rate is half the initial rate at its max leverage, so a position's
       * own max leverage (calc's `maxLeverage`) re-derives the rates instead of only bounding the leverage. */
      maintenanceFromMaxLeverage?: true;
    }
  | {
      kind: 'sizeLinear';
      /** Rates at size 0, RATE_DP. */
      imBase: bigint;
      mmBase: bigint;
      /** Rate added per one whole unit of size (RATE_DP). */
      slopePerUnit: bigint;
      maxLeverage: bigint;
    }
  | {
      kind: 'fraction';
      imf: bigint;
      /** Maintenance fraction of the IMF, RATE_DP (0.6 → MMF = 0.6 × IMF). */
      maintenanceFraction: bigint;
      /** Open-interest notional bounds for IMF scaling (settle units); equal bounds mean no scaling. */
      oiLowerCap: bigint;
      oiUpperCap: bigint;
    };

/** The rates in force for one position. */
export interface Rates {
  mmr: bigint;
  imr: bigint;
  deductionRaw: bigint;
  maxLeverage: bigint;
  /** Index of the bracket for tiered rules, 0 otherwise. */
  tier: number;
}

export interface TierInput {
  /** Inclusive notional cap in settle units (already scaled), null for unbounded. */
  cap: bigint | null;
  mmr: bigint;
  /** Either a max leverage or an explicit initial rate. */
  maxLeverage?: bigint;
  imr?: bigint;
  /** A published deduction (settle units, scaled) to assert against the derived one. */
  publishedDeduction?: bigint;
}

/**
 * Builds brackets with the deduction recursion `d_n = cap_{n−1} × (mmr_n − mmr_{n−1}) + d_{n−1}`, which keeps
 * `MM = N × mmr − d` continuous across brackets. A published deduction that disagrees is an error: a venue
 * table copied wrong must not silently change margin.
 */
export function bracketTiers(
  input: TierInput[],
  settleDp: number,
  opts: {
    deduction: 'derived' | 'none';
    /** 'given': the first tier's deduction is taken as published (a table that starts above the venue's lowest
     * bracket, e.g. the one bracket a position is in); otherwise it must be zero. */
    first?: 'zero' | 'given';
  },
): Tier[] {
  if (input.length === 0) throw new InputError('tiers', 'needs at least one tier');
  const tiers: Tier[] = [];
  let prevCap = 0n;
  let prevMmr = 0n;
  let prevD = 0n;
  input.forEach((t, i) => {
    const field = `tiers[${i}]`;
    if (t.cap !== null && t.cap <= prevCap) throw new InputError(`${field}.cap`, 'caps must increase');
    if (t.cap === null && i !== input.length - 1)
      throw new InputError(`${field}.cap`, 'only the last tier is open');
    if (t.mmr <= 0n || t.mmr > RATE_ONE) throw new InputError(`${field}.mmr`, 'must be in (0, 1]');
    const maxLeverage = t.maxLeverage ?? (t.imr ? (RATE_ONE * LEVERAGE_ONE) / t.imr : undefined);
    if (maxLeverage === undefined || maxLeverage <= 0n)
      throw new InputError(field, 'needs maxLeverage or imr');
    const imr = t.imr ?? ceilDiv(RATE_ONE * LEVERAGE_ONE, maxLeverage);
    if (imr < t.mmr) throw new InputError(`${field}.imr`, 'initial rate must not be below maintenance rate');
    const given = t.publishedDeduction === undefined ? undefined : t.publishedDeduction * pow10(RATE_DP);
    let deductionRaw: bigint;
    if (i === 0 && opts.first === 'given') deductionRaw = given ?? 0n;
    else if (opts.deduction === 'derived' && i > 0) deductionRaw = prevCap * (t.mmr - prevMmr) + prevD;
    else deductionRaw = 0n;
    // A published deduction must be the recursion's, to the settle asset's precision (a derived value with more
    // decimals than the asset has matches either neighbour).
    if (
      given !== undefined &&
      (given > deductionRaw ? given - deductionRaw : deductionRaw - given) >= pow10(RATE_DP)
    ) {
      throw new InputError(
        `${field}.deduction`,
        opts.deduction === 'none'
          ? `${fmtScaled(given, settleDp)} given, but this table carries no deduction (the whole position is margined at its tier's rate)`
          : `${fmtScaled(given, settleDp)} disagrees with ${fmtScaled(deductionRaw, settleDp)} derived from the caps (previous cap × (mmr − previous mmr) + previous deduction)`,
      );
    }
    tiers.push({ cap: t.cap, mmr: t.mmr, imr, maxLeverage, deductionRaw });
    prevCap = t.cap ?? prevCap;
    prevMmr = t.mmr;
    prevD = deductionRaw;
  });
  return tiers;
}

/** A deduction held at settleDp + RATE_DP, printed in settle units (rounded to the asset's precision). */
function fmtScaled(raw: bigint, settleDp: number): string {
  return formatDecimal(div(raw, pow10(RATE_DP), 'halfUp'), settleDp);
}

/** Hyperliquid: maintenance rate = half the initial rate at the tier's max leverage; deductions derived. */
export function hyperliquidTiers(
  input: { cap: bigint | null; maxLeverage: bigint }[],
  settleDp: number,
): Tier[] {
  if (input.length === 0) throw new InputError('tiers', 'needs at least one tier');
  return bracketTiers(
    input.map((t) => ({
      cap: t.cap,
      maxLeverage: t.maxLeverage,
      mmr: ceilDiv(RATE_ONE * LEVERAGE_ONE, 2n * t.maxLeverage),
    })),
    settleDp,
    { deduction: 'derived' },
  );
}

/**
 * BitMEX step risk limits: below `baseLimit` the base rates; every `step` of notional above it raises both
 * rates by `stepRate`. No deduction: the whole position moves to the higher rate.
 */
export function stepTiers(p: {
  baseLimit: bigint;
  step: bigint;
  baseMmr: bigint;
  baseImr: bigint;
  stepRate: bigint;
  steps: number;
}): Tier[] {
  const tiers: Tier[] = [];
  for (let k = 0; k <= p.steps; k++) {
    const mmr = p.baseMmr + BigInt(k) * p.stepRate;
    const imr = p.baseImr + BigInt(k) * p.stepRate;
    // BitMEX publishes "< limit": a notional exactly at the limit is already in the next step.
    const cap = k === p.steps ? null : p.baseLimit + BigInt(k) * p.step - 1n;
    tiers.push({ cap, mmr, imr, maxLeverage: (RATE_ONE * LEVERAGE_ONE) / imr, deductionRaw: 0n });
  }
  return tiers;
}

/** Index of the bracket whose range holds `notional` (settle units). */
export function tierIndex(tiers: readonly Tier[], notional: bigint): number {
  for (let i = 0; i < tiers.length; i++) {
    const cap = tiers[i]!.cap;
    if (cap === null || notional <= cap) return i;
  }
  return tiers.length - 1;
}

export interface RateContext {
  /** Position size in whole units at sizeDp (Deribit scales by size). */
  size: bigint;
  sizeDp: number;
  /** Market open-interest notional in settle units (dYdX IMF scaling); 0 if unknown. */
  openInterestNotional?: bigint;
}

/** The rates for a position of `notional` settle units. Rates never fall below zero or exceed one. */
export function ratesFor(rule: RiskRule, notional: bigint, ctx: RateContext): Rates {
  switch (rule.kind) {
    case 'tiers': {
      const i = tierIndex(rule.tiers, notional);
      const t = rule.tiers[i]!;
      return { mmr: t.mmr, imr: t.imr, deductionRaw: t.deductionRaw, maxLeverage: t.maxLeverage, tier: i };
    }
    case 'sizeLinear': {
      // Rate grows with size; round the size term up (a requirement).
      const extra = ceilDiv(rule.slopePerUnit * ctx.size, pow10(ctx.sizeDp));
      const imr = minBig(RATE_ONE, rule.imBase + extra);
      const mmr = minBig(imr, rule.mmBase + extra);
      return {
        mmr,
        imr,
        deductionRaw: 0n,
        maxLeverage: minBig(rule.maxLeverage, (RATE_ONE * LEVERAGE_ONE) / imr),
        tier: 0,
      };
    }
    case 'fraction': {
      const mmr = ceilDiv(rule.imf * rule.maintenanceFraction, RATE_ONE);
      let imr = rule.imf;
      const oi = ctx.openInterestNotional ?? 0n;
      if (rule.oiUpperCap > rule.oiLowerCap && oi > rule.oiLowerCap) {
        // effective IMF = min(IMF + max(scaling × (1 − IMF), 0), 1), scaling = (OI − lower)/(upper − lower).
        const inc = ceilDiv(
          (oi - rule.oiLowerCap) * (RATE_ONE - rule.imf),
          rule.oiUpperCap - rule.oiLowerCap,
        );
        imr = minBig(RATE_ONE, rule.imf + maxBig(inc, 0n));
      }
      return { mmr, imr, deductionRaw: 0n, maxLeverage: (RATE_ONE * LEVERAGE_ONE) / imr, tier: 0 };
    }
  }
}
