/**
 * Collateral in an asset other than the one a position settles in: counted at its price × a collateral ratio
 * (1 − haircut), the ratio tiered by value like a tax bracket — the first band at the highest ratio, each further
 * band at its own, so a large holding counts for less per unit (docs/collateral-haircuts.md records the venues'
 * published tables with their sources). Values are in the settle asset's units; every value rounds down (collateral
 * is what a trader is credited with).
 */
import { ceilDiv, InputError, parseDecimal, pow10 } from './fixed.ts';
import { RATE_DP, RATE_ONE } from './rates.ts';

/** One band: up to `upTo` of value (settle units at settleDp; null: no limit) counts at `ratio` (RATE_DP). */
export interface HaircutBand {
  upTo: bigint | null;
  ratio: bigint;
}

/**
 * ringfence's defaults (docs/collateral-haircuts.md "Proposed ringfence defaults"): Binance's Multi-Assets Mode flat
 * ratios, which Bybit's pre-tiering ratios match for BTC and ETH. A venue replica should configure its own table.
 */
export const DEFAULT_HAIRCUTS: Readonly<Record<string, readonly { upTo: string | null; ratio: string }[]>> = {
  USDT: [{ upTo: null, ratio: '0.9999' }],
  USDC: [{ upTo: null, ratio: '0.9999' }],
  BTC: [{ upTo: null, ratio: '0.95' }],
  ETH: [{ upTo: null, ratio: '0.95' }],
};

/** A band table from decimal strings (value bounds at `settleDp`); bounds must increase, the last may be open. */
export function parseBands(input: unknown, field: string, settleDp: number): HaircutBand[] {
  if (!Array.isArray(input) || input.length === 0 || input.length > 32)
    throw new InputError(field, 'must be a list of 1–32 bands {upTo, ratio}');
  const out: HaircutBand[] = [];
  let prev = 0n;
  input.forEach((b: unknown, i) => {
    const f = `${field}[${i}]`;
    if (b === null || typeof b !== 'object' || Array.isArray(b))
      throw new InputError(f, 'must be {upTo, ratio}');
    const o = b as Record<string, unknown>;
    const ratio = parseDecimal(o.ratio, `${f}.ratio`, { dp: RATE_DP, maxAbs: RATE_ONE });
    const upTo =
      o.upTo === null || o.upTo === undefined
        ? null
        : parseDecimal(o.upTo, `${f}.upTo`, { dp: settleDp, positive: true, maxAbs: pow10(36) });
    if (upTo === null && i !== input.length - 1)
      throw new InputError(`${f}.upTo`, 'only the last band is open');
    if (upTo !== null && upTo <= prev) throw new InputError(`${f}.upTo`, 'bands must increase');
    if (i > 0 && ratio > out[i - 1]!.ratio)
      throw new InputError(`${f}.ratio`, 'a larger band may not count for more than a smaller one');
    out.push({ upTo, ratio });
    prev = upTo ?? prev;
  });
  return out;
}

/** The collateral value of holdings worth `gross` (settle units): Σ band slice × its ratio, rounded down. */
export function haircutValue(gross: bigint, bands: readonly HaircutBand[]): bigint {
  if (gross <= 0n) return gross; // a debt counts in full (as Bybit counts negative balances)
  let value = 0n;
  let lo = 0n;
  for (const b of bands) {
    const hi = b.upTo === null || b.upTo > gross ? gross : b.upTo;
    if (hi > lo) value += (hi - lo) * b.ratio;
    if (b.upTo === null || b.upTo >= gross) break;
    lo = b.upTo;
  }
  // Beyond the last closed band nothing counts (a table whose last band is closed caps the credit).
  return value / RATE_ONE;
}

/**
 * What `amount` (at `amountDp`) of an asset priced `price` (settle units per unit of the asset, at `priceDp`) is
 * worth before the haircut, in settle units at `settleDp`, rounded down.
 */
export function grossValue(
  amount: bigint,
  amountDp: number,
  price: bigint,
  priceDp: number,
  settleDp: number,
): bigint {
  const num = amount * price * pow10(settleDp);
  const den = pow10(amountDp + priceDp);
  return num >= 0n ? num / den : -ceilDiv(-num, den);
}
