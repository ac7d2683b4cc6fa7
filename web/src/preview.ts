/**
 * What-if figures before a trader commits: `POST /api/v1/calc` with `"venue": "live"`, which margins the scenario on
 * the service's own markets and the engine's own conventions — so the liquidation price a preview shows is the one
 * the engine will then have (docs/calc.md).
 */
import type { RingfenceClient } from './api.ts';
import type { CalcBody, CalcResult, Market, Position } from './types.ts';

/** A type, not an interface: calc's body takes positions as plain records. */
export type CalcPosition = {
  symbol: string;
  side: 'long' | 'short';
  size: string;
  entryPrice: string;
  markPrice?: string;
  leverage?: string;
  margin?: string;
  extraMargin?: string;
  targetLeverage?: string;
};

export type { CalcResult };

export function calcLive(
  api: RingfenceClient,
  positions: CalcPosition[],
  mode: 'isolated' | 'cross' = 'isolated',
  walletBalance?: string,
): Promise<CalcResult> {
  const body: CalcBody = { venue: 'live', mode, positions };
  if (walletBalance !== undefined) body.walletBalance = walletBalance;
  return api.calc(body);
}

/** Exact decimal add/subtract on strings (the app never does money in floats). */
export function addDecimal(a: string, b: string, sign: 1 | -1 = 1): string {
  const dp = Math.max(frac(a), frac(b));
  const x = scaled(a, dp) + BigInt(sign) * scaled(b, dp);
  return unscale(x, dp);
}

export function mulDecimal(a: string, b: string): string {
  const da = frac(a);
  const db = frac(b);
  return unscale(scaled(a, da) * scaled(b, db), da + db);
}

/** Compare two decimal strings: −1, 0, 1. */
export function cmpDecimal(a: string, b: string): number {
  const dp = Math.max(frac(a), frac(b));
  const x = scaled(a, dp) - scaled(b, dp);
  return x < 0n ? -1 : x > 0n ? 1 : 0;
}

/** `s` × 10^k, exactly ("80", −2 → "0.8"; "0.125", 2 → "12.5"): percents typed in, rates sent. */
export function shiftDecimal(s: string, k: number): string {
  const dp = frac(s);
  const x = scaled(s, dp);
  return k >= dp ? unscale(x * 10n ** BigInt(k - dp), 0) : unscale(x, dp - k);
}

const negate = (s: string): string => (s.startsWith('-') ? s.slice(1) : `-${s}`);

export const isDecimal = (s: string): boolean => /^\d+(\.\d+)?$/.test(s.trim());

function frac(s: string): number {
  const i = s.indexOf('.');
  return i < 0 ? 0 : s.length - i - 1;
}

function scaled(s: string, dp: number): bigint {
  const neg = s.startsWith('-');
  const [i, f = ''] = (neg ? s.slice(1) : s).split('.');
  const v = BigInt((i || '0') + f.padEnd(dp, '0'));
  return neg ? -v : v;
}

function unscale(x: bigint, dp: number): string {
  const neg = x < 0n;
  let s = (neg ? -x : x).toString().padStart(dp + 1, '0');
  if (dp > 0) s = `${s.slice(0, -dp)}.${s.slice(-dp)}`.replace(/\.?0+$/, '');
  return `${neg && s !== '0' ? '-' : ''}${s}`;
}

/** An open position as calc input: its size, entry, mark, leverage and collateral as the engine holds them. */
export function asCalc(p: Position): CalcPosition | null {
  if (p.side === null || p.entryPrice === null) return null;
  const c: CalcPosition = {
    symbol: p.symbol,
    side: p.side,
    size: p.contracts,
    entryPrice: p.entryPrice,
    leverage: p.leverage,
  };
  if (p.markPrice !== null) c.markPrice = p.markPrice;
  if (p.marginMode === 'isolated') {
    c.margin = p.collateral;
    // The position read nets funding due out of its equity; calc takes it as negative extra margin (docs/calc.md).
    if (p.pendingFunding !== '0') c.extraMargin = negate(p.pendingFunding);
  }
  return c;
}

/**
 * The fee to take `size` at `price` on `m` (taker), for the order preview, in the settle asset: a linear contract's
 * value is size × contract size × price; an inverse one's is size × contract size / price (coins), shown to 8 places
 * (display only: the engine charges the exact, rounded-up figure).
 */
export function takerFee(m: Market, size: string, price: string): string {
  if (m.inverse)
    return ((Number(size) * Number(m.contractSize) * Number(m.taker)) / Number(price)).toFixed(8);
  return mulDecimal(mulDecimal(mulDecimal(size, m.contractSize), price), m.taker);
}
