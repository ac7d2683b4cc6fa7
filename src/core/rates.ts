/**
 * Rates (margin rates, fee rates, funding rates) are integers at RATE_DP decimal places: 1e-10 resolution
 * represents every published venue rate exactly (0.005%, 0.56%, 1/80 = 1.25%), and a rate that is not a
 * terminating decimal (Hyperliquid's 1/6 for 3x) is rounded up, i.e. against the trader.
 */
import { parseDecimal, pow10 } from './fixed.ts';

export const RATE_DP = 10;
export const RATE_ONE = pow10(RATE_DP);

/** Leverage is carried at 2 decimals (12.5x → 1250n). */
export const LEVERAGE_DP = 2;
export const LEVERAGE_ONE = pow10(LEVERAGE_DP);

export function parseRate(input: unknown, field: string, opts: { signed?: boolean } = {}): bigint {
  return parseDecimal(input, field, { dp: RATE_DP, signed: opts.signed ?? false, maxAbs: 100n * RATE_ONE });
}

export function parseLeverage(input: unknown, field: string): bigint {
  return parseDecimal(input, field, { dp: LEVERAGE_DP, positive: true, maxAbs: 1000n * LEVERAGE_ONE });
}
