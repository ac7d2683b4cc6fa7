/**
 * Exact fixed-point arithmetic on bigint.
 *
 * Every quantity is an integer count of 10^-dp units of its field (price, size, collateral, rate); the scale
 * travels with the field's definition, never guessed. Every division names its rounding so that requirements
 * round against the trader (up) and payouts round down.
 */

export type Rounding = 'floor' | 'ceil' | 'trunc' | 'halfUp';

/** Thrown for bad input; `field` names the offending input so the CLI and API can say which one. */
export class InputError extends Error {
  readonly code: string;
  readonly field: string;
  constructor(field: string, message: string, code = 'INVALID_INPUT') {
    super(`${field}: ${message}`);
    this.name = 'InputError';
    this.field = field;
    this.code = code;
  }
}

const POW10: bigint[] = [];
for (let i = 0; i <= 80; i++) POW10.push(10n ** BigInt(i));

/** 10^n as bigint, cached for the scales we use. */
export function pow10(n: number): bigint {
  const cached = POW10[n];
  if (cached !== undefined) return cached;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`pow10: bad exponent ${n}`);
  return 10n ** BigInt(n);
}

/** Floor division (toward −∞). `d` must be non-zero. */
export function floorDiv(n: bigint, d: bigint): bigint {
  if (n >= 0n && d > 0n) return n / d; // the common case: one division
  const q = n / d;
  return n % d !== 0n && n < 0n !== d < 0n ? q - 1n : q;
}

/** Ceiling division (toward +∞). `d` must be non-zero. */
export function ceilDiv(n: bigint, d: bigint): bigint {
  // The common case: one division. `d − 1n` first: n is often two words wide (a value times a rate), d one, so
  // this is one wide addition instead of two.
  if (n >= 0n && d > 0n) return (n + (d - 1n)) / d;
  const q = n / d;
  return n % d !== 0n && n < 0n === d < 0n ? q + 1n : q;
}

/** n / d with an explicit rounding mode. */
export function div(n: bigint, d: bigint, mode: Rounding): bigint {
  if (d === 0n) throw new RangeError('division by zero');
  switch (mode) {
    case 'floor':
      return floorDiv(n, d);
    case 'ceil':
      return ceilDiv(n, d);
    case 'trunc':
      return n / d;
    case 'halfUp': {
      // Half away from zero, the way venues display rounded figures.
      const neg = n < 0n !== d < 0n;
      const an = n < 0n ? -n : n;
      const ad = d < 0n ? -d : d;
      const q = (2n * an + ad) / (2n * ad);
      return neg ? -q : q;
    }
  }
}

/** a × b / d with one rounding at the end (the product is exact). */
export function mulDiv(a: bigint, b: bigint, d: bigint, mode: Rounding): bigint {
  return div(a * b, d, mode);
}

/** Moves a value from scale `fromDp` to scale `toDp`, rounding when precision is dropped. */
export function rescale(v: bigint, fromDp: number, toDp: number, mode: Rounding): bigint {
  if (toDp >= fromDp) return v * pow10(toDp - fromDp);
  return div(v, pow10(fromDp - toDp), mode);
}

/** Rounds `v` to a multiple of `step` (both in the same units). */
export function roundToStep(v: bigint, step: bigint, mode: Rounding): bigint {
  if (step <= 0n) throw new RangeError('step must be positive');
  return div(v, step, mode) * step;
}

export const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b);
export const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);
export const absBig = (a: bigint): bigint => (a < 0n ? -a : a);

export interface ParseOptions {
  /** Decimal places of the field's scale; more digits than this are rejected, never rounded away. */
  dp: number;
  /** Allow a leading minus sign (default false). */
  signed?: boolean;
  /** Reject zero (default false). */
  positive?: boolean;
  /** Inclusive upper bound on the absolute value, in scaled units. Default: 10^30 scaled units. */
  maxAbs?: bigint;
}

const DECIMAL_RE = /^(-)?(\d+)(?:\.(\d+))?$/;
/** Guard against pathological inputs before the regex and BigInt see them. */
const MAX_INPUT_CHARS = 64;

/**
 * Parses a decimal string (or a safe JS number, which is stringified first) into scaled integer units.
 * Rejects NaN, Infinity, exponents, hex, blanks, signs where none is allowed, more decimals than the scale,
 * and values beyond the field's limit, each with an error naming the field.
 */
export function parseDecimal(input: unknown, field: string, opts: ParseOptions): bigint {
  let s: string;
  if (typeof input === 'string') s = input;
  else if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new InputError(field, `must be a finite decimal, got ${input}`);
    s = String(input);
    if (/e/i.test(s)) throw new InputError(field, `number ${s} is out of range; pass it as a decimal string`);
  } else if (typeof input === 'bigint') s = input.toString();
  else throw new InputError(field, `must be a decimal string, got ${input === null ? 'null' : typeof input}`);

  if (s.length === 0) throw new InputError(field, 'must not be empty');
  if (s.length > MAX_INPUT_CHARS) throw new InputError(field, `is too long (${s.length} characters)`);
  const m = DECIMAL_RE.exec(s);
  if (!m) throw new InputError(field, `"${s}" is not a plain decimal (digits, optional '.', no exponent)`);
  const [, minus, intPart = '0', fracPart = ''] = m;
  if (minus && !opts.signed) throw new InputError(field, `must not be negative, got ${s}`);
  if (fracPart.length > opts.dp) {
    // Trailing zeros beyond the scale carry no information, so "1.500" at dp 2 is fine.
    const extra = fracPart.slice(opts.dp);
    if (!/^0*$/.test(extra)) {
      throw new InputError(field, `has more than ${opts.dp} decimal places: ${s}`, 'TOO_MANY_DECIMALS');
    }
  }
  const kept = fracPart.length > opts.dp ? fracPart.slice(0, opts.dp) : fracPart;
  let mag: bigint;
  if (intPart.length + kept.length <= 15) {
    // Fast path: up to 15 digits are exact as a JS number, and BigInt(number) is much cheaper than BigInt(string).
    mag = BigInt(Number(intPart + kept)) * pow10(opts.dp - kept.length);
  } else {
    mag = BigInt(intPart) * pow10(opts.dp) + (opts.dp > 0 ? BigInt(kept.padEnd(opts.dp, '0')) : 0n);
  }
  const v = minus ? -mag : mag;
  const maxAbs = opts.maxAbs ?? pow10(30);
  if (mag > maxAbs)
    throw new InputError(field, `${s} is beyond the limit of ${formatDecimal(maxAbs, opts.dp)}`);
  if (opts.positive && v <= 0n) throw new InputError(field, `must be greater than zero, got ${s}`);
  return v;
}

/**
 * Fast path for hot command parsing: a plain unsigned decimal with at most 15 significant digits in all, scaled to
 * `dp`, as a JS number — exact, since such a value times 10^dp (kept ≤ 2^53 by the check below) is a safe integer.
 * Returns null whenever the strict parser must decide (signs, too many digits or decimals, non-strings).
 * Accepts exactly what /^(\d{1,15})(?:\.(\d{1,15}))?$/ does, read character by character: every order carries a
 * price and a size, and the regex's match array and substrings were garbage on each.
 */
export function parseScaledSafe(input: unknown, dp: number): number | null {
  if (typeof input !== 'string') return null;
  const n = input.length;
  if (n === 0 || n > 31) return null;
  let v = 0;
  let digits = 0;
  /** Decimals after the point; −1 while no point has been seen. */
  let frac = -1;
  for (let i = 0; i < n; i++) {
    const c = input.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // ≤ 15 digits in all (checked below before use), so v < 10^15 stays exact.
      v = v * 10 + (c - 48);
      digits++;
      if (frac >= 0) frac++;
    } else if (c === 46 && frac < 0 && i > 0 && i < n - 1) frac = 0;
    else return null;
  }
  if (digits > 15) return null;
  const decimals = frac < 0 ? 0 : frac;
  if (decimals > dp) return null;
  const scaled = v * 10 ** (dp - decimals);
  return Number.isSafeInteger(scaled) ? scaled : null;
}

/**
 * Formats scaled units as a decimal string. `fixed` keeps exactly `dp` decimals; otherwise trailing
 * zeros are trimmed ("19700" rather than "19700.00000000").
 */
export function formatDecimal(v: bigint, dp: number, fixed = false): string {
  const neg = v < 0n;
  const mag = neg ? -v : v;
  const p = pow10(dp);
  const i = (mag / p).toString();
  let f = dp > 0 ? (mag % p).toString().padStart(dp, '0') : '';
  if (!fixed) f = f.replace(/0+$/, '');
  return `${neg ? '-' : ''}${i}${f.length ? `.${f}` : ''}`;
}

/** Number of decimal places a decimal string carries ("0.50" → 2). Used to infer a field's scale. */
export function decimalPlaces(s: string): number {
  const i = s.indexOf('.');
  return i < 0 ? 0 : s.length - i - 1;
}
