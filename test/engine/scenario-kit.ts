/**
 * Small readers and command shorthands for the engine scenario tests (ledger, margin-modes, orders, risk, fills).
 * Everything goes through `ok()` / `rejected()` from the harness; this file only saves typing and makes expected
 * amounts readable ('410' rather than 41_000_000_000n).
 */
import assert from 'node:assert/strict';
import { formatDecimal, parseDecimal } from '../../src/core/fixed.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { type BalanceView, balancesOf, type PositionView, positionsOf } from '../../src/engine/readmodel.ts';
import { available } from '../../src/engine/risk.ts';
import type {
  ApplyResult,
  EngineEvent,
  OrderSide,
  SelfTradePrevention,
  TimeInForce,
} from '../../src/engine/types.ts';
import { ok } from './harness.ts';

export type Ok = Extract<ApplyResult, { ok: true }>;

/** Settlement money at 8 decimals (USDT and BTC both settle at 8 dp in the fixtures): '410' → 41_000_000_000n. */
export const amt = (s: string): bigint => parseDecimal(s, 'amount', { dp: 8, signed: true });
/** Back to a decimal string at 8 dp. */
export const fmt = (v: bigint): string => formatDecimal(v, 8);

/** Balance of a ledger account by its label ("alice:main:USDT", "alice:isolated:BTCUSDT", "fees:USDT", …). */
export function bal(e: Engine, label: string): bigint {
  const l = e.ledger.accounts().find((x) => x.label === label);
  assert.ok(l, `no ledger account ${label}`);
  return l.balance;
}

/** What `account` can withdraw or commit in `asset` (may be negative). */
export function avail(e: Engine, account: string, asset = 'USDT'): bigint {
  const a = e.accounts.get(account);
  assert.ok(a, `no account ${account}`);
  const w = a.wallets.get(asset);
  return w ? available(a, w, asset) : 0n;
}

export function position(e: Engine, account: string, symbol: string): PositionView | undefined {
  return positionsOf(e, account).find((p) => p.symbol === symbol);
}

export function balance(e: Engine, account: string, asset = 'USDT'): BalanceView | undefined {
  return balancesOf(e, account).find((b) => b.asset === asset);
}

export function deposit(e: Engine, account: string, amount: string, asset = 'USDT'): Ok {
  return ok(e, { type: 'deposit', account, asset, amount });
}

export interface OrderExtras {
  timeInForce?: TimeInForce;
  reduceOnly?: boolean;
  stp?: SelfTradePrevention;
  clientOrderId?: string;
}

export function limit(
  e: Engine,
  account: string,
  symbol: string,
  side: OrderSide,
  size: string,
  price: string,
  x: OrderExtras = {},
): Ok {
  return ok(e, { type: 'placeOrder', account, symbol, side, orderType: 'limit', size, price, ...x });
}

export function market(
  e: Engine,
  account: string,
  symbol: string,
  side: OrderSide,
  size: string,
  x: OrderExtras = {},
): Ok {
  return ok(e, { type: 'placeOrder', account, symbol, side, orderType: 'market', size, ...x });
}

export function of<T extends EngineEvent['type']>(r: Ok, type: T): Extract<EngineEvent, { type: T }>[] {
  return r.events.filter((ev): ev is Extract<EngineEvent, { type: T }> => ev.type === type);
}

/** Transfers of a result as [from, to, amount at 8 dp, reason] rows, in order. */
export function moves(r: Ok): [string, string, string, string][] {
  return of(r, 'transfer').map((t) => [t.from, t.to, fmt(t.amount), t.reason]);
}

/** Trades of a result as [maker, price, size] rows (prices and sizes as plain decimals for the given dps). */
export function fills(r: Ok, sizeDp = 3, priceDp = 8): [string, string, string][] {
  return of(r, 'trade').map((t) => [t.maker, formatDecimal(t.price, priceDp), formatDecimal(t.size, sizeDp)]);
}

/** Cancellations of a result as [orderId, remaining size, reason] rows. */
export function cancels(r: Ok, sizeDp = 3): [number, string, string][] {
  return of(r, 'orderCanceled').map((c) => [c.orderId, formatDecimal(c.remaining, sizeDp), c.reason]);
}
