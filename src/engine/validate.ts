/**
 * Stage 1 of a command — validate. Looks up what the command names and parses what it sends, throwing a
 * Rejection(code, message) for anything wrong; nothing here mutates, so a command that fails here changed nothing.
 * Each handler (commands/*.ts) validates in full with these before its first write (marked `---- validated ----`).
 */
import { InputError, parseDecimal, pow10 } from '../core/fixed.ts';
import type { Account, Position, Silo } from './account.ts';
import type { BookSide } from './book.ts';
import type { Market } from './market.ts';
import type { EngineState } from './state.ts';
import { type RejectCode, Rejection } from './types.ts';

export const MAX_AMOUNT_DIGITS = 30;

/** Runs a parser from src/core, turning its InputError into a rejection with `code`. */
export function parsed<T>(parse: () => T, code: RejectCode = 'INVALID_COMMAND'): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof InputError) throw new Rejection(code, err.message);
    throw err;
  }
}

export function marketOf(e: EngineState, symbol: unknown): Market {
  const m = typeof symbol === 'string' ? e.markets.get(symbol) : undefined;
  if (!m) throw new Rejection('UNKNOWN_MARKET', `unknown market ${JSON.stringify(symbol)}`);
  return m;
}

export function accountOf(e: EngineState, id: unknown): Account {
  const a = typeof id === 'string' ? e.accounts.get(id) : undefined;
  if (!a) throw new Rejection('UNKNOWN_ACCOUNT', `unknown account ${JSON.stringify(id)}`);
  return a;
}

/** A positive amount of `asset`, in the asset's decimals. */
export function amountOf(e: EngineState, input: unknown, asset: string, field: string): bigint {
  const dp = e.assets.get(asset);
  if (dp === undefined) throw new Rejection('UNKNOWN_ASSET', `unknown asset ${JSON.stringify(asset)}`);
  return parsed(
    () => parseDecimal(input, field, { dp, positive: true, maxAbs: pow10(MAX_AMOUNT_DIGITS) }),
    'INVALID_AMOUNT',
  );
}

/** A named silo of the account (`id` as a command sent it). */
export function siloOf(a: Account, id: unknown): Silo {
  const s = typeof id === 'string' ? a.silos.get(id) : undefined;
  if (!s) throw new Rejection('UNKNOWN_SILO', `${a.id} has no silo ${JSON.stringify(id)}`);
  return s;
}

/** The optional `silo` field of an order or leverage command: null when absent (the default, as today). */
export function optionalSilo(a: Account, m: Market, id: unknown): Silo | null {
  if (id === undefined) return null;
  const s = siloOf(a, id);
  if (s.asset !== m.asset)
    throw new Rejection('ASSET_MISMATCH', `silo ${s.id} holds ${s.asset}; ${m.symbol} settles in ${m.asset}`);
  return s;
}

/** The account's open isolated position on `m` (addMargin, removeMargin). */
export function isolatedPosition(a: Account, m: Market): Position {
  const p = a.positions.get(m.symbol);
  if (p?.mode !== 'isolated') throw new Rejection('NOT_ISOLATED', `${m.symbol} is not in isolated mode`);
  if (p.sign === 0) throw new Rejection('INVALID_COMMAND', `no open ${m.symbol} position`);
  return p;
}

/** The limit in ticks: the order's price (checked against the band) or, for market orders, the band edge. */
export function orderLimit(
  m: Market,
  type: 'limit' | 'market',
  priceIn: unknown,
  side: 'buy' | 'sell',
  opposite: BookSide,
): number {
  if (type === 'market') {
    if (priceIn !== undefined) throw new Rejection('INVALID_COMMAND', 'market orders take no price');
    return marketLimit(m, side, opposite);
  }
  const ticks = m.priceTicks(priceIn, 'price');
  checkLimitBand(m, ticks, side);
  return ticks;
}

/** A market order's limit in ticks: the market band's edge around the reference (or the best opposite price). */
export function marketLimit(m: Market, side: 'buy' | 'sell', opposite: BookSide): number {
  const bestOpp = m.book.bestPrice(opposite);
  const ref = m.reference() ?? (bestOpp === null ? null : m.price(bestOpp));
  if (ref === null)
    throw new Rejection('NO_REFERENCE_PRICE', 'no mark, last or book price to protect a market order');
  return m.bandTicks(ref, m.marketBand, side === 'buy');
}

/** A limit price within the limit band around the reference: a buy at most ref × (1 + band), a sell at least. */
export function checkLimitBand(m: Market, ticks: number, side: 'buy' | 'sell'): void {
  const up = side === 'buy';
  const ref = m.reference();
  if (ref !== null) {
    const bound = m.bandTicks(ref, m.limitBand, up);
    if (up ? ticks > bound : ticks < bound) {
      throw new Rejection(
        'PRICE_BAND',
        `${side} price must be ${up ? 'at most' : 'at least'} ${m.fmtPrice(m.price(bound))} (band around ${m.fmtPrice(ref)})`,
      );
    }
  }
}
