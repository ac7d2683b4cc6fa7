/**
 * Requests → engine commands, and engine results → responses. Shared by the REST routes and WebSocket order entry,
 * so both accept exactly the same input and answer the same way. Bodies arrive validated by their schemas; the
 * engine validates every value again (scales, bounds, state) and its rejection is the answer.
 */
import type { Static } from 'typebox';
import { div } from '../core/fixed.ts';
import { notional } from '../core/margin.ts';
import { type Order, positionKey } from '../engine/account.ts';
import type { Engine } from '../engine/engine.ts';
import { positionView } from '../engine/readmodel.ts';
import type { ApplyResult, EngineEvent, TimeInForce } from '../engine/types.ts';
import {
  eventId,
  type FillView,
  fillOf,
  fmtMoney,
  fmtPrice,
  fmtSize,
  NO_TRIGGER,
  triggerView,
} from './codec.ts';
import { ApiError, rejection } from './errors.ts';
import { withOptionFields } from './options.ts';
import type {
  AmendOrderBody,
  AmendResultSchema,
  AutoAddBody,
  CancelAllResultSchema,
  CancelResultSchema,
  ComboResultSchema,
  LeverageBody,
  MarginBody,
  MarginModeBody,
  OrderResultSchema,
  PlaceComboBody,
  PlaceOrderBody,
  PositionViewSchema,
} from './schemas.ts';
import type { CommandInput, Service } from './service.ts';

export type Accepted = Extract<ApplyResult, { ok: true }> & { time: number };
export type Submitted = ApplyResult & { time: number };

/** The accepted result, or the engine's rejection as an ApiError (4xx with its RejectCode). */
export function accepted(r: Submitted): Accepted {
  if (!r.ok) throw rejection(r.code, r.message);
  return r;
}

export function placeOrderCommand(account: string, b: Static<typeof PlaceOrderBody>): CommandInput {
  let tif: TimeInForce | undefined = b.timeInForce;
  if (b.postOnly === true) {
    if (tif !== undefined && tif !== 'PO')
      throw new ApiError(400, 'INVALID_REQUEST', `postOnly contradicts timeInForce ${tif}`);
    tif = 'PO';
  }
  if (b.type === 'limit' && b.price === undefined)
    throw new ApiError(400, 'INVALID_REQUEST', 'a limit order needs a price');
  // A stop-loss / take-profit: one trigger price, and reduce-only (implied; saying false is a contradiction).
  const trigger = b.stopLossPrice !== undefined || b.takeProfitPrice !== undefined;
  if (trigger) {
    if (b.stopLossPrice !== undefined && b.takeProfitPrice !== undefined)
      throw new ApiError(400, 'INVALID_REQUEST', 'give stopLossPrice or takeProfitPrice, not both');
    if (b.reduceOnly === false)
      throw new ApiError(
        400,
        'INVALID_REQUEST',
        'a stop-loss or take-profit order is reduce-only: reduceOnly false contradicts it',
      );
  }
  // Optional fields are set only when present (the journal records exactly these keys, in this order); assigned
  // rather than spread, so an order builds one object.
  const cmd: Extract<CommandInput, { type: 'placeOrder' }> = {
    type: 'placeOrder',
    account,
    symbol: b.symbol,
    side: b.side,
    orderType: b.type,
    size: b.amount,
  };
  if (b.price !== undefined) cmd.price = b.price;
  if (tif !== undefined) cmd.timeInForce = tif;
  if (b.reduceOnly !== undefined) cmd.reduceOnly = b.reduceOnly;
  if (b.clientOrderId !== undefined) cmd.clientOrderId = b.clientOrderId;
  if (b.stp !== undefined) cmd.stp = b.stp;
  if (b.silo !== undefined) cmd.silo = b.silo;
  if (trigger) {
    if (b.stopLossPrice !== undefined) cmd.stopLossPrice = b.stopLossPrice;
    if (b.takeProfitPrice !== undefined) cmd.takeProfitPrice = b.takeProfitPrice;
  }
  return cmd;
}

/**
 * Places an order. A clientOrderId already carried by one of the account's open orders is refused by the engine
 * (DUPLICATE_CLIENT_ORDER_ID, 409): the answer names the original order in `orderId`, so a client retrying after a
 * timeout learns which order its first attempt created.
 */
export function placeOrder(
  service: Service,
  account: string,
  b: Static<typeof PlaceOrderBody>,
): Promise<OrderResult> {
  let cmd: CommandInput;
  try {
    cmd = placeOrderCommand(account, b);
  } catch (e) {
    return Promise.reject(e);
  }
  // One reaction on the submit's promise (the hot path of order entry: no async frame of its own).
  return service.submit(cmd).then((r) => {
    if (!r.ok) {
      const err = rejection(r.code, r.message);
      if (b.clientOrderId !== undefined) {
        const o = openOrderByClientId(service.engine, account, b.clientOrderId);
        if (o && (r.code as string) === 'DUPLICATE_CLIENT_ORDER_ID') err.orderId = String(o.id);
      }
      throw err;
    }
    return orderResult(service.engine, r, b);
  });
}

/** The account's open order carrying `clientOrderId`, if any. */
export function openOrderByClientId(e: Engine, account: string, clientOrderId: string): Order | undefined {
  const a = e.accounts.get(account);
  if (!a) return undefined;
  for (const o of a.orders.values()) if (o.clientOrderId === clientOrderId) return o;
  return undefined;
}

/** The id of the account's open order with that clientOrderId; 404 UNKNOWN_ORDER when none. */
export function orderIdOfClientId(e: Engine, account: string, clientOrderId: string): number {
  const o = openOrderByClientId(e, account, clientOrderId);
  if (!o)
    throw rejection('UNKNOWN_ORDER', `no open order with clientOrderId ${JSON.stringify(clientOrderId)}`);
  return o.id;
}

/** The market an order id of `account` rests on (for cancel/amend without a symbol); 404 when none. */
export function symbolOfOrder(e: Engine, account: string, orderId: number, symbol?: string): string {
  if (symbol !== undefined) return symbol;
  const o = e.accounts.get(account)?.orders.get(orderId);
  if (!o) throw rejection('UNKNOWN_ORDER', `no open order ${orderId}`);
  return o.market.symbol;
}

/** An amend must change something: checked before the order is looked up (malformed before unknown). */
export function requireAmendChange(b: Static<typeof AmendOrderBody>): void {
  if (b.price === undefined && b.amount === undefined)
    throw new ApiError(400, 'INVALID_REQUEST', 'amend needs a price or an amount');
}

export function amendCommand(
  account: string,
  symbol: string,
  orderId: number,
  b: Static<typeof AmendOrderBody>,
): CommandInput {
  requireAmendChange(b);
  return {
    type: 'amendOrder',
    account,
    symbol,
    orderId,
    ...(b.price !== undefined ? { price: b.price } : {}),
    ...(b.amount !== undefined ? { size: b.amount } : {}),
  };
}

export const parseOrderId = (s: string): number => {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 1) throw new ApiError(400, 'INVALID_REQUEST', 'bad order id');
  return n;
};

type OrderResult = Static<typeof OrderResultSchema>;
type CancelResult = Static<typeof CancelResultSchema>;

function cancelView(
  e: Engine,
  seq: number,
  ev: Extract<EngineEvent, { type: 'orderCanceled' }>,
): CancelResult {
  const m = e.markets.get(ev.symbol)!;
  return {
    seq,
    id: String(ev.orderId),
    symbol: ev.symbol,
    status: 'canceled',
    remaining: fmtSize(m, ev.remaining),
  };
}

/** What a cancel-order command did, from its own events. */
export function cancelResult(e: Engine, r: Accepted, orderId: number, symbol: string): CancelResult {
  const ev = r.events.find((x) => x.type === 'orderCanceled' && x.orderId === orderId);
  if (ev?.type === 'orderCanceled') return cancelView(e, r.seq, ev);
  return { seq: r.seq, id: String(orderId), symbol, status: 'canceled', remaining: '0' };
}

/**
 * Cancels an account's open orders (of one market, or all). An account that never funded has no orders: nothing
 * to cancel, as for one with none, not an error.
 */
export async function cancelAllOrders(
  service: Service,
  account: string,
  symbol: string | undefined,
): Promise<Static<typeof CancelAllResultSchema>> {
  const e = service.engine;
  if (symbol !== undefined && !e.markets.has(symbol))
    throw rejection('UNKNOWN_MARKET', `unknown market ${JSON.stringify(symbol)}`);
  if (!e.accounts.has(account)) return { seq: e.seq, canceled: [] };
  const r = accepted(
    await service.submit({ type: 'cancelAll', account, ...(symbol !== undefined ? { symbol } : {}) }),
  );
  const canceled: CancelResult[] = [];
  for (const ev of r.events)
    if (ev.type === 'orderCanceled') canceled.push(cancelView(service.engine, r.seq, ev));
  return { seq: r.seq, canceled };
}

/**
 * What an amend did: the order as amended, or none — an amend to the same price and size changes nothing, and one
 * that cannot re-rest (a full book side) is cancelled.
 */
export function amendResult(
  e: Engine,
  r: Accepted,
  orderId: number,
  symbol: string,
  account: string,
): Static<typeof AmendResultSchema> {
  const m = e.markets.get(symbol)!;
  const amended = r.events.find((x) => x.type === 'orderAmended');
  const canceled = r.events.some((x) => x.type === 'orderCanceled' && x.orderId === orderId);
  const o = e.accounts.get(account)?.orders.get(orderId);
  const price = amended?.type === 'orderAmended' ? amended.price : o ? m.price(o.priceTicks) : 0n;
  const remaining = amended?.type === 'orderAmended' ? amended.size : o ? m.size(o.remainingLots) : 0n;
  return {
    seq: r.seq,
    id: String(orderId),
    symbol,
    status: canceled ? 'canceled' : 'open',
    price: fmtPrice(m, price),
    remaining: canceled ? '0' : fmtSize(m, remaining),
    priorityKept: amended?.type === 'orderAmended' ? amended.priorityKept : !canceled,
  };
}

/** What a place-order command did, from its own events: fills, status, average price, fees. */
export function orderResult(e: Engine, r: Accepted, b: Static<typeof PlaceOrderBody>): OrderResult {
  const id = r.orderId;
  if (id === undefined) throw new Error('bug: placeOrder accepted without an order id');
  const m = e.markets.get(b.symbol)!;
  let acc: Extract<EngineEvent, { type: 'orderAccepted' }> | null = null;
  let canceled: Extract<EngineEvent, { type: 'orderCanceled' }> | null = null;
  const trades: FillView[] = [];
  let filled = 0n;
  let cost = 0n;
  let fee = 0n;
  let priceSize = 0n;
  r.events.forEach((ev, i) => {
    if (ev.type === 'orderAccepted' && ev.orderId === id) acc = ev;
    else if (ev.type === 'orderCanceled' && ev.orderId === id) canceled = ev;
    else if (ev.type === 'trade' && ev.takerOrderId === id) {
      trades.push(fillOf(m, ev, eventId(r.seq, i), r.time, 'taker'));
      filled += ev.size;
      cost += notional(m.inst, ev.size, ev.price, 'ceil');
      fee += ev.takerFee;
      priceSize += ev.price * ev.size;
    }
  });
  const a = acc as Extract<EngineEvent, { type: 'orderAccepted' }> | null;
  const c = canceled as Extract<EngineEvent, { type: 'orderCanceled' }> | null;
  if (!a) throw new Error(`bug: order ${id} accepted without an orderAccepted event`);
  const remaining = c ? 0n : a.size - filled;
  // A stop-loss / take-profit answers waiting for its price (open, nothing filled); a market one has no limit yet.
  const waiting = a.triggerKind !== undefined && a.triggerPrice !== undefined;
  return {
    id: String(id),
    seq: r.seq,
    timestamp: r.time,
    clientOrderId: b.clientOrderId ?? null,
    symbol: m.symbol,
    type: b.type,
    side: a.side,
    timeInForce: a.timeInForce,
    reduceOnly: a.reduceOnly,
    postOnly: a.timeInForce === 'PO',
    price: waiting && a.orderType === 'market' ? null : fmtPrice(m, a.price),
    amount: fmtSize(m, a.size),
    filled: fmtSize(m, filled),
    remaining: fmtSize(m, remaining),
    // Average fill price, rounded half up at the price scale (display; each fill's price is exact).
    average: filled === 0n ? null : fmtPrice(m, div(priceSize, filled, 'halfUp')),
    cost: fmtMoney(m, cost),
    status: c ? 'canceled' : remaining === 0n ? 'closed' : 'open',
    cancelReason: c ? c.reason : null,
    fee: { cost: fmtMoney(m, fee), currency: m.asset },
    trades,
    silo: b.silo ?? null,
    ...(waiting ? triggerView(a.triggerKind!, fmtPrice(m, a.triggerPrice!), false) : NO_TRIGGER),
  };
}

export function placeComboCommand(account: string, b: Static<typeof PlaceComboBody>): CommandInput {
  return {
    type: 'placeCombo',
    account,
    silo: b.silo,
    legs: b.legs.map((l) => ({ symbol: l.symbol, side: l.side, size: l.size, price: l.price })),
    ...(b.clientComboId !== undefined ? { clientComboId: b.clientComboId } : {}),
    ...(b.stp !== undefined ? { stp: b.stp } : {}),
  };
}

/** What a combo did, from its own events: per leg (in the request's order) its fills, average price and fees. */
export function comboResult(e: Engine, r: Accepted): Static<typeof ComboResultSchema> {
  const done = r.events.find((ev) => ev.type === 'comboFilled');
  if (done?.type !== 'comboFilled') throw new Error('bug: placeCombo accepted without a comboFilled event');
  const legs = done.legs.map((l) => {
    const m = e.markets.get(l.symbol)!;
    const accepted = r.events.find((ev) => ev.type === 'orderAccepted' && ev.orderId === l.orderId);
    const trades: FillView[] = [];
    let cost = 0n;
    let fee = 0n;
    r.events.forEach((ev, i) => {
      if (ev.type !== 'trade' || ev.takerOrderId !== l.orderId) return;
      trades.push(fillOf(m, ev, eventId(r.seq, i), r.time, 'taker'));
      cost += notional(m.inst, ev.size, ev.price, 'ceil');
      fee += ev.takerFee;
    });
    return {
      orderId: String(l.orderId),
      symbol: l.symbol,
      side: l.side,
      price: accepted?.type === 'orderAccepted' ? fmtPrice(m, accepted.price) : fmtPrice(m, l.avgPrice),
      amount: fmtSize(m, l.size),
      average: fmtPrice(m, l.avgPrice),
      cost: fmtMoney(m, cost),
      fee: { cost: fmtMoney(m, fee), currency: m.asset },
      trades,
    };
  });
  return {
    id: String(done.comboId),
    seq: r.seq,
    timestamp: r.time,
    clientComboId: done.clientComboId ?? null,
    silo: done.silo,
    status: 'filled',
    legs,
  };
}

/** Places a combo: all legs fill in full, or the engine's rejection (FOK_NOT_FILLED, INSUFFICIENT_MARGIN, …). */
export async function placeCombo(service: Service, account: string, b: Static<typeof PlaceComboBody>) {
  return comboResult(service.engine, accepted(await service.submit(placeComboCommand(account, b))));
}

export const marginModeCommand = (account: string, b: Static<typeof MarginModeBody>): CommandInput => ({
  type: 'setMarginMode',
  account,
  symbol: b.symbol,
  mode: b.marginMode,
});

export const leverageCommand = (account: string, b: Static<typeof LeverageBody>): CommandInput => ({
  type: 'setLeverage',
  account,
  symbol: b.symbol,
  leverage: b.leverage,
  ...(b.silo !== undefined ? { silo: b.silo } : {}),
});

export const marginCommand = (
  account: string,
  b: Static<typeof MarginBody>,
  kind: 'add' | 'reduce',
): CommandInput => ({
  type: kind === 'add' ? 'addMargin' : 'removeMargin',
  account,
  symbol: b.symbol,
  amount: b.amount,
});

export const autoAddCommand = (account: string, b: Static<typeof AutoAddBody>): CommandInput => ({
  type: 'setAutoAddMargin',
  account,
  ...(b.symbol !== undefined ? { symbol: b.symbol } : {}),
  ...(b.silo !== undefined ? { silo: b.silo } : {}),
  enabled: b.enabled,
  ...(b.policy !== undefined ? { policy: b.policy } : {}),
  ...(b.trigger !== undefined ? { trigger: b.trigger } : {}),
});

type PositionOut = Static<typeof PositionViewSchema>;

/**
 * The account's position on `symbol` (a named silo's leg when `silo` is given) as it stands now, after the command
 * that was just acknowledged; null when it has none or it is flat.
 */
export function openPosition(e: Engine, account: string, symbol: string, silo?: string): PositionOut | null {
  const a = e.accounts.get(account);
  if (!a) return null;
  const box = silo === undefined ? null : a.silos.get(silo);
  if (box === undefined) return null;
  const p = a.positions.get(positionKey(box, symbol));
  return p && p.sign !== 0 ? withOptionFields(p, positionView(e, p)) : null;
}

/** The account's default position on `symbol` as it stands now (after the command that was just acknowledged). */
export function currentPosition(e: Engine, account: string, symbol: string): PositionOut {
  const p = e.accounts.get(account)?.positions.get(symbol);
  if (!p) throw rejection('INVALID_COMMAND', `no ${symbol} position`);
  return withOptionFields(p, positionView(e, p));
}
