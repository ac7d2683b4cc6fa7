/**
 * Instrument specifications. Linear contracts are margined and settled in the quote asset (BTCUSDT: size in
 * BTC, PnL in USDT); inverse contracts in the base coin (BTCUSD: a contract is a fixed USD amount, PnL in BTC).
 * Dated futures are either, plus an expiry.
 */
import { InputError, pow10 } from './fixed.ts';
import type { RiskRule } from './tiers.ts';

export type ContractKind = 'linear' | 'inverse';

export interface Instrument {
  symbol: string;
  kind: ContractKind;
  /** 'perpetual' or 'future' (with expiry, ms since epoch). */
  type: 'perpetual' | 'future';
  expiry: number | null;
  baseAsset: string;
  quoteAsset: string;
  /** The margin and PnL asset: quote for linear, base for inverse. */
  settleAsset: string;
  /** Decimal places of each field's integer representation. */
  priceDp: number;
  sizeDp: number;
  settleDp: number;
  multiplierDp: number;
  /** Minimum price increment, in price units (priceDp). */
  tickSize: bigint;
  /** Minimum size increment, in size units (sizeDp). */
  lotSize: bigint;
  /** Linear: base per contract (1 for size-in-base). Inverse: quote (USD) per contract. At multiplierDp. */
  multiplier: bigint;
  /** Upper bound on leverage regardless of tier, LEVERAGE_DP. */
  maxLeverage: bigint;
  risk: RiskRule;
}

/** Constants derived once per instrument so the hot path only multiplies. */
export interface InstrumentScales {
  /** 10^(sizeDp + multiplierDp): real quantity = size × multiplier / sizeScale. */
  sizeScale: bigint;
  priceScale: bigint;
  settleScale: bigint;
  /** Linear: 10^(sizeDp + multiplierDp + priceDp − settleDp) or its reciprocal handled by `linearUp`. */
  linearDen: bigint;
  linearUp: bigint;
  /** Linear: multiplier × linearUp (value = size × price × linearF / linearDen), and linearDen − 1 (for ceil). */
  linearF: bigint;
  linearDenM1: bigint;
}

export function scalesOf(inst: Instrument): InstrumentScales {
  const v = inst.sizeDp + inst.multiplierDp + inst.priceDp - inst.settleDp;
  return {
    sizeScale: pow10(inst.sizeDp + inst.multiplierDp),
    priceScale: pow10(inst.priceDp),
    settleScale: pow10(inst.settleDp),
    linearDen: v >= 0 ? pow10(v) : 1n,
    linearUp: v >= 0 ? 1n : pow10(-v),
    linearF: inst.multiplier * (v >= 0 ? 1n : pow10(-v)),
    linearDenM1: (v >= 0 ? pow10(v) : 1n) - 1n,
  };
}

/** Checks the structural rules an instrument must satisfy before any math runs on it. */
export function validateInstrument(inst: Instrument): Instrument {
  const f = `market ${inst.symbol}`;
  if (!/^[A-Za-z0-9_.:/-]{1,40}$/.test(inst.symbol))
    throw new InputError('symbol', `bad symbol "${inst.symbol}"`);
  for (const k of ['priceDp', 'sizeDp', 'settleDp', 'multiplierDp'] as const) {
    const v = inst[k];
    if (!Number.isInteger(v) || v < 0 || v > 18)
      throw new InputError(`${f}.${k}`, 'must be an integer 0..18');
  }
  if (inst.tickSize <= 0n) throw new InputError(`${f}.tickSize`, 'must be positive');
  if (inst.lotSize <= 0n) throw new InputError(`${f}.lotSize`, 'must be positive');
  if (inst.multiplier <= 0n) throw new InputError(`${f}.multiplier`, 'must be positive');
  if (inst.maxLeverage <= 0n) throw new InputError(`${f}.maxLeverage`, 'must be positive');
  if (inst.type === 'future' && inst.expiry === null)
    throw new InputError(`${f}.expiry`, 'a future needs an expiry');
  const settle = inst.kind === 'linear' ? inst.quoteAsset : inst.baseAsset;
  if (inst.settleAsset !== settle) {
    throw new InputError(`${f}.settleAsset`, `${inst.kind} contracts settle in ${settle}`);
  }
  return inst;
}
