/**
 * Order commands: placeOrder, cancelOrder, cancelAll, amendOrder. `placeOrder` is the whole pipeline in one
 * function: validate the fields, check pre-trade risk for the order's silo, then — validated — reserve what it
 * needs, match it (match.ts, which settles each fill through settle.ts) and rest or finish what is left. The sweep
 * and the events out follow in `apply`. A stop-loss / take-profit (`placeTrigger`) waits untriggered instead, in its
 * market's trigger index; triggers.ts fires it when the mark reaches it.
 */
import { maxBig } from '../../core/fixed.ts';
import {
  type Account,
  indexClientOrder,
  MAX_OPEN_ORDERS_PER_ACCOUNT,
  type Order,
  type Position,
  type PositionView,
  positionKey,
  type Silo,
  unindexClientOrder,
  untriggered,
} from '../account.ts';
import type { BookSide } from '../book.ts';
import type { Market } from '../market.ts';
import { cancelResting, finishOrder, fokLiquidity, match, rest } from '../match.ts';
import { requireOracle } from '../oracle.ts';
import { checkClose, checkTier, flatView, freeFor, orderNeeds } from '../pretrade.ts';
import { closableLots } from '../risk.ts';
import { release, reserve } from '../settle.ts';
import { type EngineState, fmtMoney, positionOf, walletOf } from '../state.ts';
import { firesOnRise, reached } from '../trigger-index.ts';
import {
  type Cmd,
  type OrderSide,
  Rejection,
  type SelfTradePrevention,
  type TimeInForce,
  type TriggerKind,
} from '../types.ts';
import { accountOf, marketOf, optionalSilo, orderLimit } from '../validate.ts';
import { checkVaultOrder, vaultOfAccount } from '../vaults.ts';

const TIFS: ReadonlySet<string> = new Set(['GTC', 'IOC', 'FOK', 'PO']);
const STPS: ReadonlySet<string> = new Set(['cancelTaker', 'cancelMaker', 'cancelBoth']);

/** Returns the new order's id (in the result as `orderId`). */
export function placeOrder(e: EngineState, cmd: Cmd<'placeOrder'>): number {
  // 1. Validate: the command's fields, the market's state, the book (post-only, FOK).
  const a = accountOf(e, cmd.account);
  const m = marketOf(e, cmd.symbol);
  if (cmd.side !== 'buy' && cmd.side !== 'sell')
    throw new Rejection('INVALID_COMMAND', 'side must be buy or sell');
  if (cmd.orderType !== 'limit' && cmd.orderType !== 'market')
    throw new Rejection('INVALID_COMMAND', 'orderType must be limit or market');
  const tif: TimeInForce = cmd.timeInForce ?? (cmd.orderType === 'market' ? 'IOC' : 'GTC');
  if (!TIFS.has(tif)) throw new Rejection('INVALID_COMMAND', 'timeInForce must be GTC, IOC, FOK or PO');
  if (cmd.orderType === 'market' && (tif === 'GTC' || tif === 'PO'))
    throw new Rejection('INVALID_COMMAND', 'market orders are IOC or FOK');
  const stp: SelfTradePrevention = cmd.stp ?? 'cancelTaker';
  if (!STPS.has(stp)) throw new Rejection('INVALID_COMMAND', 'bad stp');
  // A stop-loss / take-profit is reduce-only by definition: `reduceOnly: false` contradicts it.
  const trigger = cmd.stopLossPrice !== undefined || cmd.takeProfitPrice !== undefined;
  if (trigger && cmd.reduceOnly === false)
    throw new Rejection(
      'INVALID_COMMAND',
      'a stop-loss or take-profit order is reduce-only: reduceOnly false contradicts it',
    );
  const reduceOnly = cmd.reduceOnly === true || trigger;
  if (cmd.reduceOnly !== undefined && typeof cmd.reduceOnly !== 'boolean')
    throw new Rejection('INVALID_COMMAND', 'reduceOnly must be boolean');
  if (
    cmd.clientOrderId !== undefined &&
    (typeof cmd.clientOrderId !== 'string' || cmd.clientOrderId.length > 64)
  ) {
    throw new Rejection('INVALID_COMMAND', 'clientOrderId must be a string of at most 64 characters');
  }
  // Unique among the account's open orders: a client retrying after a timeout must not get a second order.
  const same = cmd.clientOrderId === undefined ? undefined : a.clientOrders.get(cmd.clientOrderId);
  if (same)
    throw new Rejection(
      'DUPLICATE_CLIENT_ORDER_ID',
      `clientOrderId ${JSON.stringify(cmd.clientOrderId)} is already used by open order ${same.id}`,
    );
  const silo = optionalSilo(a, m, cmd.silo);
  if (m.closed || (m.inst.expiry !== null && cmd.time >= m.inst.expiry))
    throw new Rejection('MARKET_CLOSED', `${m.symbol} has expired`);
  if (m.reduceOnly && !reduceOnly)
    throw new Rejection('MARKET_CLOSED', `${m.symbol} is closed to new risk: reduce-only orders only`);
  const lots = m.sizeLots(cmd.size);
  const side = cmd.side;
  if (trigger) return placeTrigger(e, cmd, a, m, silo, lots, tif, stp);
  const opposite: BookSide = side === 'buy' ? 'sell' : 'buy';
  const limitTicks = orderLimit(m, cmd.orderType, cmd.price, side, opposite);
  const rests = tif === 'GTC' || tif === 'PO';
  if (rests && a.orders.size >= MAX_OPEN_ORDERS_PER_ACCOUNT) {
    throw new Rejection('TOO_MANY_ORDERS', `at most ${MAX_OPEN_ORDERS_PER_ACCOUNT} open orders per account`);
  }
  const existing = a.positions.get(positionKey(silo, m.symbol));
  const pos = existing ?? null;
  if (reduceOnly) {
    const closable = pos ? closableLots(pos, side) : 0;
    if (closable === 0 || lots > closable) {
      throw new Rejection(
        'REDUCE_ONLY_WOULD_INCREASE',
        closable === 0 ? 'no position to reduce' : 'reduce-only size exceeds the position',
      );
    }
  }
  const bestOpp = m.book.bestPrice(opposite);
  const crosses = bestOpp !== null && (side === 'buy' ? bestOpp <= limitTicks : bestOpp >= limitTicks);
  if (tif === 'PO' && crosses)
    throw new Rejection('POST_ONLY_WOULD_TAKE', 'post-only order would take liquidity');
  if (tif === 'FOK' && fokLiquidity(m, side, limitTicks, lots, a.n, stp) < lots) {
    throw new Rejection('FOK_NOT_FILLED', 'not enough liquidity to fill the whole order');
  }

  // 2. Pre-trade risk, for the order's silo. A fresh position object for validation would be a mutation, so
  //    compute on a view.
  const view: PositionView = pos ?? flatView(m, silo);
  // A crossing taker fills at the book's prices, better than its limit; where a better price means a larger
  // notional (a linear sell filling above its limit, an inverse buy below it), size the requirement there.
  const largerAtBest = (m.inst.kind === 'linear') === (side === 'sell');
  const reqTicks = crosses && largerAtBest && bestOpp !== null ? bestOpp : limitTicks;
  const req = reduceOnly ? { openLots: 0, total: 0n } : orderNeeds(e, silo, view, side, lots, reqTicks);
  checkClose(e, silo, view, side, lots, limitTicks); // a strategy silo's close it cannot carry
  if (req.openLots > 0) {
    checkTier(view, side, req.openLots, reqTicks);
    if (m.oracle !== null || m.option !== null) requireOracle(m, 'increaseRisk', cmd.time);
  }
  // A vault's risk limits, on what the order opens (its reducing part is never refused).
  const vault = req.openLots > 0 ? vaultOfAccount(e, a) : null;
  if (vault !== null) checkVaultOrder(e, vault, view, m, side, lots, limitTicks);
  const free = freeFor(e, a, { silo, market: m });
  // Only the opening part needs money. An order that only reduces (reduce-only, or no larger than what it
  // closes) needs nothing and is never refused for margin, however far `available` has fallen below zero: a
  // cross account's losses, another market's loss or the backstop's negative fund must not trap a close.
  if (req.total > 0n && req.total > free) {
    throw new Rejection(
      'INSUFFICIENT_MARGIN',
      `order needs ${fmtMoney(e, m.asset, req.total)} ${m.asset}, available ${fmtMoney(e, m.asset, maxBig(free, 0n))}`,
    );
  }

  // ---- validated; mutate from here on ----
  // 3. Reserve what the order needs, then match it; what is left rests (GTC, PO) or is cancelled.
  const p = positionOf(e, a, m, silo);
  const wallet = walletOf(e, a, m.asset);
  const order = newOrder(e, a, p, side, limitTicks, lots, {
    tif,
    reduceOnly,
    clientOrderId: cmd.clientOrderId ?? null,
    stp,
    reservedLots: req.openLots,
  });
  reserve(e, order, wallet, req.total);
  if (!e.quiet)
    e.events.push({
      type: 'orderAccepted',
      orderId: order.id,
      account: a.id,
      symbol: m.symbol,
      side,
      price: m.price(limitTicks),
      size: m.size(lots),
      timeInForce: tif,
      reduceOnly,
    });
  const stopped = match(e, order, opposite);
  if (order.remainingLots > 0) {
    if (rests && stopped === null) rest(e, order);
    else finishOrder(e, order, stopped ?? (cmd.orderType === 'market' ? 'priceBand' : 'ioc'));
  } else {
    finishOrder(e, order, null);
  }
  return order.id;
}

/**
 * A trigger order (stop-loss / take-profit; placeOrder with `stopLossPrice` or `takeProfitPrice`, what placeOrder
 * validated so far shared): reduce-only, it reserves nothing and waits untriggered in its market's trigger index until
 * the mark reaches its trigger price (triggers.ts fires it). It may be placed with no position to reduce, or larger
 * than the position (as on venues): what it can reduce is looked at when it fires, with the checks placeOrder runs on
 * a reduce-only order then (the limit band too: around the mark at that moment, not this one's).
 */
function placeTrigger(
  e: EngineState,
  cmd: Cmd<'placeOrder'>,
  a: Account,
  m: Market,
  silo: Silo | null,
  lots: number,
  tif: TimeInForce,
  stp: SelfTradePrevention,
): number {
  if (cmd.stopLossPrice !== undefined && cmd.takeProfitPrice !== undefined)
    throw new Rejection('INVALID_COMMAND', 'give stopLossPrice or takeProfitPrice, not both');
  if (tif !== 'GTC' && tif !== 'IOC')
    throw new Rejection(
      'INVALID_COMMAND',
      'a stop-loss or take-profit order is GTC or IOC (a market one IOC)',
    );
  const kind: TriggerKind = cmd.stopLossPrice !== undefined ? 'stopLoss' : 'takeProfit';
  const triggerTicks = m.priceTicks(
    cmd.stopLossPrice ?? cmd.takeProfitPrice,
    kind === 'stopLoss' ? 'stopLossPrice' : 'takeProfitPrice',
  );
  let limitTicks = 0; // a market one's limit is the band edge when it fires
  if (cmd.orderType === 'limit') limitTicks = m.priceTicks(cmd.price, 'price');
  else if (cmd.price !== undefined) throw new Rejection('INVALID_COMMAND', 'market orders take no price');
  if (a.orders.size >= MAX_OPEN_ORDERS_PER_ACCOUNT)
    throw new Rejection('TOO_MANY_ORDERS', `at most ${MAX_OPEN_ORDERS_PER_ACCOUNT} open orders per account`);
  const mark = m.mark;
  if (mark === null)
    throw new Rejection('NO_REFERENCE_PRICE', `${m.symbol} has no mark price yet for a trigger to watch`);
  const rising = firesOnRise(cmd.side, kind);
  if (reached(rising, triggerTicks, m.inst.tickSize, mark)) {
    const name = kind === 'stopLoss' ? 'stop-loss' : 'take-profit';
    throw new Rejection(
      'WOULD_TRIGGER_IMMEDIATELY',
      `${cmd.side} ${name} at ${m.fmtPrice(m.price(triggerTicks))} would trigger immediately: the mark ${m.fmtPrice(mark)} is ${rising ? 'at or above' : 'at or below'} it`,
    );
  }

  // ---- validated; mutate from here on ----
  const p = positionOf(e, a, m, silo);
  const order = newOrder(e, a, p, cmd.side, limitTicks, lots, {
    tif,
    reduceOnly: true,
    clientOrderId: cmd.clientOrderId ?? null,
    stp,
    reservedLots: 0,
  });
  order.trigger = { kind, priceTicks: triggerTicks, orderType: cmd.orderType, triggered: false };
  a.orders.set(order.id, order);
  indexClientOrder(order);
  p.openOrders += 1;
  m.triggers.add(order);
  e.events.push({
    type: 'orderAccepted',
    orderId: order.id,
    account: a.id,
    symbol: m.symbol,
    side: cmd.side,
    price: m.price(limitTicks),
    size: m.size(lots),
    timeInForce: tif,
    reduceOnly: true,
    triggerKind: kind,
    triggerPrice: m.price(triggerTicks),
    orderType: cmd.orderType,
  });
  return order.id;
}

export function cancelOrder(e: EngineState, cmd: Cmd<'cancelOrder'>): undefined {
  const a = accountOf(e, cmd.account);
  const m = marketOf(e, cmd.symbol);
  const o = a.orders.get(cmd.orderId);
  if (!o || o.market !== m)
    throw new Rejection('UNKNOWN_ORDER', `no open order ${cmd.orderId} on ${m.symbol}`);
  cancelResting(e, o, 'user');
  return undefined;
}

export function cancelAll(e: EngineState, cmd: Cmd<'cancelAll'>): undefined {
  const a = accountOf(e, cmd.account);
  const m = cmd.symbol === undefined ? null : marketOf(e, cmd.symbol);
  const victims = [...a.orders.values()]
    .filter((o) => m === null || o.market === m)
    .sort((x, y) => x.id - y.id);
  for (const o of victims) cancelResting(e, o, 'user');
  return undefined;
}

/**
 * Amend a resting order's price and/or remaining size. Priority is kept only when the price is unchanged and the
 * size goes down; otherwise the order moves to the back of its (new) level. An amended price may not cross.
 */
export function amendOrder(e: EngineState, cmd: Cmd<'amendOrder'>): undefined {
  const a = accountOf(e, cmd.account);
  const m = marketOf(e, cmd.symbol);
  const o = a.orders.get(cmd.orderId);
  if (!o || o.market !== m)
    throw new Rejection('UNKNOWN_ORDER', `no open order ${cmd.orderId} on ${m.symbol}`);
  // Waiting for its price it is in no book to amend in; once triggered (a resting limit) it amends as any order.
  if (untriggered(o))
    throw new Rejection(
      'TRIGGER_NOT_AMENDABLE',
      `order ${o.id} is a ${o.trigger!.kind === 'stopLoss' ? 'stop-loss' : 'take-profit'} that has not triggered: cancel it and place a new one`,
    );
  if (cmd.price === undefined && cmd.size === undefined)
    throw new Rejection('INVALID_COMMAND', 'amend needs a price or a size');
  const ticks =
    cmd.price === undefined
      ? o.priceTicks
      : orderLimit(m, 'limit', cmd.price, o.side, o.side === 'buy' ? 'sell' : 'buy');
  const lots = cmd.size === undefined ? o.remainingLots : m.sizeLots(cmd.size);
  const bestOpp = m.book.bestPrice(o.side === 'buy' ? 'sell' : 'buy');
  if (
    ticks !== o.priceTicks &&
    bestOpp !== null &&
    (o.side === 'buy' ? bestOpp <= ticks : bestOpp >= ticks)
  ) {
    throw new Rejection(
      'INVALID_PRICE',
      'amended price would cross the book; cancel and place a new order instead',
    );
  }
  if (o.reduceOnly && lots > closableLots(o.position, o.side))
    throw new Rejection('REDUCE_ONLY_WOULD_INCREASE', 'reduce-only size exceeds the position');
  const req = o.reduceOnly
    ? { openLots: 0, total: 0n }
    : orderNeeds(e, o.position.silo, o.position, o.side, lots, ticks);
  const w = a.wallets.get(m.asset)!;
  const extra = req.total - o.reserved;
  if (extra > 0n && extra > freeFor(e, a, o.position))
    throw new Rejection('INSUFFICIENT_MARGIN', 'not enough available balance for the amended order');
  if (req.openLots > 0) checkTier(o.position, o.side, req.openLots, ticks);
  const vault = req.openLots > o.reservedLots ? vaultOfAccount(e, a) : null;
  if (vault !== null) checkVaultOrder(e, vault, o.position, m, o.side, lots, ticks, o);
  const keep = ticks === o.priceTicks && lots < o.remainingLots;
  if (ticks === o.priceTicks && lots === o.remainingLots) return undefined;
  // ---- validated; mutate from here on ----
  if (extra > 0n) {
    if (o.position.silo !== null) o.position.silo.orderRequirement += extra;
    else if (o.mode === 'isolated') e.ledger.transfer(w.main, w.reserved, extra, 'orderReserve');
    else w.crossOrderRequirement += extra;
    o.reserved += extra;
  } else release(e, o, -extra);
  o.reservedLots = req.openLots;
  if (keep) m.book.reduce(o, lots);
  else {
    m.book.remove(o);
    (o as { priceTicks: number }).priceTicks = ticks;
    o.remainingLots = lots;
    if (!m.book.add(o)) {
      a.orders.delete(o.id);
      unindexClientOrder(o);
      o.position.openOrders -= 1;
      finishOrder(e, o, 'bookFull');
      return undefined;
    }
  }
  e.events.push({
    type: 'orderAmended',
    orderId: o.id,
    account: a.id,
    symbol: m.symbol,
    price: m.price(ticks),
    size: m.size(lots),
    priorityKept: keep,
  });
  return undefined;
}

/**
 * A new order of `a` on `p`'s market (placeOrder's, and each leg of a combo), with the next order id; nothing is
 * reserved yet (the caller reserves what the order needs) and it is in no book.
 */
export function newOrder(
  e: EngineState,
  a: Account,
  p: Position,
  side: OrderSide,
  limitTicks: number,
  lots: number,
  o: Pick<Order, 'tif' | 'reduceOnly' | 'clientOrderId' | 'stp' | 'reservedLots'>,
): Order {
  return {
    id: e.nextOrderId++,
    accountId: a.n,
    side,
    priceTicks: limitTicks,
    remainingLots: lots,
    prev: null,
    next: null,
    level: null,
    account: a,
    market: p.market,
    position: p,
    sizeLots: lots,
    // Field order as snapshots and their tests read an order: keep it.
    tif: o.tif,
    reduceOnly: o.reduceOnly,
    clientOrderId: o.clientOrderId,
    stp: o.stp,
    mode: p.mode,
    reserved: 0n,
    reservedLots: o.reservedLots,
  };
}
