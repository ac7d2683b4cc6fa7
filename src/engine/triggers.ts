/**
 * Trigger orders firing (stop-loss / take-profit, placed by commands/orders.ts placeTrigger). `apply` (engine.ts)
 * calls `fireTriggers` after the liquidation sweep, with the markets whose mark moved in the command: liquidation
 * keeps priority (as on venues), and a liquidation cancels the orders of what it liquidates, trigger orders included.
 * Each market hands over only the untriggered orders its mark reached (trigger-index.ts), in firing order; each
 * becomes a live reduce-only order — the same id — and goes through matching as a placed one would: a market one
 * fills IOC up to the band edge around the mark, a limit one takes what crosses and rests the rest (GTC).
 *
 * Firing cannot fail halfway. The checks placeOrder runs on a reduce-only order run first, against the state at
 * that moment: the market has not expired, there is a position to reduce on the order's side, a limit price is
 * within the limit band around the mark now, and a strategy-model silo can carry the close. An order failing one is
 * canceled with the matching reason instead (`expired`, `reduceOnly`, `priceBand`, `marginCheck`) and nothing else
 * happens to it. A reduce-only order needs no margin and is never refused for it; its size is capped at what the
 * position can close then (the `orderTriggered` event carries the size that goes live).
 */
import { type Order, unindexClientOrder } from './account.ts';
import type { BookSide } from './book.ts';
import type { Market } from './market.ts';
import { cancelResting, finishOrder, match } from './match.ts';
import { checkClose } from './pretrade.ts';
import { closableLots } from './risk.ts';
import type { EngineState } from './state.ts';
import { type CancelReason, Rejection } from './types.ts';
import { checkLimitBand, marketLimit } from './validate.ts';

/** Fires the trigger orders each market's mark has reached. Returns whether any order fired or was canceled. */
export function fireTriggers(e: EngineState, markets: Iterable<Market>): boolean {
  let any = false;
  for (const m of markets) {
    if (m.triggers.size === 0 || m.mark === null || m.closed) continue;
    const mark = m.mark;
    for (const o of m.triggers.takeCrossed(mark)) {
      // Taken out of the index together; nothing an earlier one does can cancel a later one, but look.
      if (o.account.orders.get(o.id) !== o) continue;
      fire(e, o, mark);
      any = true;
    }
  }
  return any;
}

/** One trigger order the mark reached (already out of the trigger index): live, or canceled with why not. */
function fire(e: EngineState, o: Order, mark: bigint): void {
  const m = o.market;
  const t = o.trigger!;
  const opposite: BookSide = o.side === 'buy' ? 'sell' : 'buy';
  const closable = closableLots(o.position, o.side);
  const lots = Math.min(o.remainingLots, closable);
  let limitTicks = o.priceTicks;
  let reason: CancelReason | null = null;
  if (m.inst.expiry !== null && e.now >= m.inst.expiry) reason = 'expired';
  else if (lots === 0) reason = 'reduceOnly';
  else {
    try {
      if (t.orderType === 'market') limitTicks = marketLimit(m, o.side, opposite);
      else checkLimitBand(m, limitTicks, o.side);
      checkClose(e, o.position.silo, o.position, o.side, lots, limitTicks);
    } catch (err) {
      if (!(err instanceof Rejection)) throw err;
      reason = err.code === 'PRICE_BAND' || err.code === 'NO_REFERENCE_PRICE' ? 'priceBand' : 'marginCheck';
    }
  }
  if (reason !== null) {
    cancelResting(e, o, reason); // out of the index already: leaves the account's open orders
    return;
  }

  // ---- checked: a live reduce-only order from here on ----
  t.triggered = true;
  o.remainingLots = lots;
  (o as { priceTicks: number }).priceTicks = limitTicks;
  e.events.push({
    type: 'orderTriggered',
    orderId: o.id,
    account: o.account.id,
    symbol: m.symbol,
    side: o.side,
    triggerKind: t.kind,
    triggerPrice: m.price(t.priceTicks),
    markPrice: mark,
    orderType: t.orderType,
    price: m.price(limitTicks),
    size: m.size(lots),
    timeInForce: o.tif,
  });
  const stopped = match(e, o, opposite);
  if (o.remainingLots > 0 && o.tif === 'GTC' && stopped === null) {
    // Already one of the account's open orders (and counted on its position): it only joins the book.
    if (m.book.add(o)) return;
    leaveOpenOrders(o);
    finishOrder(e, o, 'bookFull');
    return;
  }
  leaveOpenOrders(o);
  const rest = o.remainingLots > 0 ? (stopped ?? (t.orderType === 'market' ? 'priceBand' : 'ioc')) : null;
  finishOrder(e, o, rest);
}

function leaveOpenOrders(o: Order): void {
  o.account.orders.delete(o.id);
  unindexClientOrder(o);
  o.position.openOrders -= 1;
}
