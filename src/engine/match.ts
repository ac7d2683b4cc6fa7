/**
 * Stage 3 of a command — match. A taker walks the opposite side of its market's book in price-time priority; each
 * fill is planned for both sides first (`planSide`: lots closing and opening, fee, the reserve share it may use,
 * and whether the opening part is still covered — a maker no longer covered is cancelled, a taker stops), then
 * settled through the ledger (settle.ts). Also here: an order's end (resting, finished, cancelled), the FOK dry run,
 * and the liquidation engine's reduce-only IOC (`liquidationOrder`).
 *
 * Bounds: MAX_FILLS_PER_COMMAND makers per taker; the book bounds its own levels (book.ts).
 */
import { maxBig } from '../core/fixed.ts';
import { initialMarginAtLeverage, notional, unrealizedPnl } from '../core/margin.ts';
import {
  BACKSTOP_ACCOUNT,
  indexClientOrder,
  type Order,
  type Position,
  unindexClientOrder,
} from './account.ts';
import type { BookSide } from './book.ts';
import { holdingsValue } from './collateral.ts';
import { emitPosition } from './events.ts';
import { MAX_PRICE_TICKS, type Market } from './market.ts';
import { allows, validityAt } from './oracle.ts';
import { freeFor } from './pretrade.ts';
import { closableLots, closeRoom, feeFor, openingInitialMargin } from './risk.ts';
import { type FillPlan, longLots, release, settleSide } from './settle.ts';
import { closeRaise, marginalInitialMargin } from './silos.ts';
import type { EngineState } from './state.ts';
import type { CancelReason, SelfTradePrevention } from './types.ts';

export const MAX_FILLS_PER_COMMAND = 1_000;

// ---------------------------------------------------------------------------------------------------------
// An order's end

/** Puts what is left of a GTC/PO order on the book (or cancels it: 'bookFull'). */
export function rest(e: EngineState, o: Order): void {
  if (!o.market.book.add(o)) {
    finishOrder(e, o, 'bookFull');
    return;
  }
  o.account.orders.set(o.id, o);
  indexClientOrder(o);
  o.position.openOrders += 1;
}

/** Ends an order that is not (or no longer) resting: releases what is left of its reserve. */
export function finishOrder(e: EngineState, o: Order, reason: CancelReason | null): void {
  release(e, o, o.reserved);
  o.reservedLots = 0;
  if (reason !== null && o.remainingLots > 0 && !e.quiet) {
    e.events.push({
      type: 'orderCanceled',
      orderId: o.id,
      account: o.account.id,
      symbol: o.market.symbol,
      remaining: o.market.size(o.remainingLots),
      reason,
    });
  }
}

/**
 * Removes a resting order from the book and the account, and finishes it. An untriggered trigger order rests in its
 * market's trigger index instead of the book: it leaves that.
 */
export function cancelResting(e: EngineState, o: Order, reason: CancelReason): void {
  if (o.trigger !== undefined && !o.trigger.triggered) o.market.triggers.remove(o);
  else o.market.book.remove(o);
  o.account.orders.delete(o.id);
  unindexClientOrder(o);
  o.position.openOrders -= 1;
  finishOrder(e, o, reason);
}

// ---------------------------------------------------------------------------------------------------------
// Matching

/**
 * Lots a FOK taker would actually reach, walking the book as `match` will (no mutation). Plain
 * `liquidityUpTo(…, excludeAccount)` skips the taker's own orders, which is right only for cancelMaker:
 * with cancelTaker/cancelBoth matching stops at the first own order, so counting liquidity behind it let a
 * FOK fill partly and then be cancelled ('selfTrade'). Reduce-only makers count only what still closes their
 * owner's position (match caps them and cancels the rest). Not modelled: makers cancelled at match time by
 * their margin check or by the bankruptcy bound on a voluntary close (planSide), nor the taker stopped by it.
 */
export function fokLiquidity(
  m: Market,
  side: 'buy' | 'sell',
  limitTicks: number,
  lots: number,
  accountN: number,
  stp: SelfTradePrevention,
): number {
  const opposite: BookSide = side === 'buy' ? 'sell' : 'buy';
  const usedClose = new Map<Position, number>();
  let total = 0;
  for (let bo = m.book.best(opposite); bo !== null && total < lots; bo = m.book.nextAfter(bo)) {
    if (side === 'buy' ? bo.priceTicks > limitTicks : bo.priceTicks < limitTicks) break;
    if (bo.accountId === accountN) {
      if (stp === 'cancelMaker') continue;
      break;
    }
    const o = bo as Order;
    let n = o.remainingLots;
    // Every earlier fill of the same owner on this side closes its position first, so it counts against what
    // a later reduce-only order can still close — not only earlier reduce-only fills (a plain order that closed
    // or flipped the position left the reduce-only one behind it nothing: cancelled, FOK partly filled).
    const used = usedClose.get(o.position) ?? 0;
    if (o.reduceOnly) n = Math.max(0, Math.min(n, closableLots(o.position, o.side) - used));
    usedClose.set(o.position, used + n);
    total += n;
  }
  return Math.min(total, lots);
}

/** Matches a taker against the book. Returns why matching stopped early (the rest is cancelled), or null. */
export function match(e: EngineState, taker: Order, opposite: BookSide): CancelReason | null {
  const m = taker.market;
  let fills = 0;
  while (taker.remainingLots > 0) {
    const maker = m.book.best(opposite) as Order | null;
    if (!maker) return null;
    if (taker.side === 'buy' ? maker.priceTicks > taker.priceTicks : maker.priceTicks < taker.priceTicks)
      return null;
    if (fills >= MAX_FILLS_PER_COMMAND) return 'fillLimit';
    if (maker.accountId === taker.accountId) {
      if (taker.stp === 'cancelTaker') return 'selfTrade';
      cancelResting(e, maker, 'selfTrade');
      if (taker.stp === 'cancelBoth') return 'selfTrade';
      continue;
    }
    let lots = Math.min(taker.remainingLots, maker.remainingLots);
    if (taker.reduceOnly) lots = Math.min(lots, closableLots(taker.position, taker.side));
    if (lots === 0) return 'reduceOnly';
    if (maker.reduceOnly) {
      const cap = closableLots(maker.position, maker.side);
      if (cap === 0) {
        cancelResting(e, maker, 'reduceOnly');
        continue;
      }
      lots = Math.min(lots, cap);
    }
    const makerPlan = planSide(e, maker, lots, maker.priceTicks, m.makerFee);
    // A maker that rested before the oracle paused risk-increasing trades may not open new exposure now.
    if (
      makerPlan &&
      makerPlan.openLots > 0 &&
      (m.oracle !== null || m.option !== null) &&
      !allows('increaseRisk', validityAt(m, e.now))
    ) {
      cancelResting(e, maker, 'oraclePaused');
      continue;
    }
    if (!makerPlan) {
      cancelResting(e, maker, 'marginCheck');
      continue;
    }
    const takerPlan = planSide(e, taker, lots, maker.priceTicks, taker.liquidation ? 0n : m.takerFee);
    if (!takerPlan) return 'marginCheck';
    fill(e, taker, maker, takerPlan, makerPlan, lots);
    fills += 1;
  }
  return null;
}

/**
 * Plans one side of a fill without mutating: how many lots close and open, the fee, the share of the order's
 * reserve this fill may use, and whether the opening part is covered. Null when it is not.
 */
export function planSide(
  e: EngineState,
  o: Order,
  lots: number,
  ticks: number,
  feeRate: bigint,
): FillPlan | null {
  const p = o.position;
  const m = o.market;
  const closeLots = Math.min(lots, closableLots(p, o.side));
  const openLots = lots - closeLots;
  const price = m.price(ticks);
  const fillNotional = notional(m.inst, m.size(lots), price, 'ceil');
  const fee = feeFor(fillNotional, feeRate);
  // A voluntary close (either side of a fill, unless it is the liquidation order) may realize a loss only up to
  // the holder's bankruptcy price: past it the loss would be the insurance fund's, and that is the liquidation
  // engine's call, never a trader's. The fill is refused (the taker stops, a maker is cancelled); at prices up
  // to the bankruptcy price it goes through, and its fee is capped at what is left above it. The backstop is
  // exempt: its wallet is the fund, so its losses are the fund's whatever the price.
  let feeCap: bigint | null = null;
  const voluntary = !o.liquidation && o.account.id !== BACKSTOP_ACCOUNT;
  if (closeLots > 0 && voluntary) {
    const silo = p.silo;
    const held = silo !== null && silo.holdings.size > 0 ? holdingsValue(e, silo, false) : 0n;
    feeCap = closeRoom(o.account, p, closeLots, price, held);
    if (feeCap < 0n) return null;
  }
  // Pro rata to the lots it opens, rounded down (a fill draws no more than its share; the last one takes the rest).
  const share =
    o.reservedLots === 0
      ? 0n
      : o.reservedLots <= openLots
        ? o.reserved
        : (o.reserved * BigInt(openLots)) / BigInt(o.reservedLots);
  const openNotional = openLots === lots ? fillNotional : notional(m.inst, m.size(openLots), price, 'ceil');
  let im =
    openLots === 0
      ? 0n
      : m.option !== null
        ? openingInitialMargin(p, o.side, openLots, price)
        : initialMarginAtLeverage(openNotional, p.leverage);
  // A netted or strategy-model silo's leg needs what the fill adds to the silo's initial margin under its model.
  const pooled = p.silo !== null && p.silo.riskModel !== 'standalone';
  if (openLots > 0 && pooled)
    im = marginalInitialMargin(e, p.silo!, p, o.side === 'buy' ? 1 : -1, openLots, price, closeLots);
  // A voluntary pure close in a strategy-model silo may not raise its requirement beyond what it can carry.
  if (openLots === 0 && voluntary && pooled && closeRaise(e, p.silo!, p, closeLots, price, maxBig(fee, 0n)))
    return null;
  if (openLots > 0 && p.mode === 'isolated' && m.mark !== null) {
    // An isolated position opened past the mark (a buy above it, a sell below) is born with that loss: its bucket
    // takes the loss on top of initial margin, as the order's reserve already provided for. Without it the
    // bucket held bare initial margin against an equity already short of it, and the position was liquidatable
    // the moment it opened.
    const atMark = unrealizedPnl(
      m.inst,
      { side: o.side === 'buy' ? 'long' : 'short', size: m.size(openLots), entryPrice: price },
      m.mark,
    );
    if (atMark < 0n) im += -atMark;
  }
  if (openLots > 0) {
    const need = im + maxBig(fee, 0n);
    // Isolated: the share is money already set aside; cross: it is a requirement about to be lifted.
    // Either way only `need − share` must come from available: for cross, `available` already has the whole
    // reserve subtracted (crossOrderRequirement), so lifting the share frees exactly `share` — adding it again
    // here (as this check once did) let a cross maker open twice its share beyond what the account could back.
    if (need > share && need - share > freeFor(e, o.account, p)) return null;
  }
  return { closeLots, openLots, price, fee, feePaid: 0n, share, im, feeCap, voluntary };
}

/** Executes a planned fill: both sides settle, the maker leaves the book or shrinks, the trade is reported. */
export function fill(
  e: EngineState,
  taker: Order,
  maker: Order,
  tp: FillPlan,
  mp: FillPlan,
  lots: number,
): void {
  const m = taker.market;
  const longBefore = longLots(taker.position) + longLots(maker.position);
  settleSide(e, taker, tp);
  settleSide(e, maker, mp);
  // Rebates are paid out of this fill's taker fee, so the fee account never goes negative.
  const takerFee = tp.feePaid;
  const makerFee = mp.feePaid;
  taker.remainingLots -= lots;
  if (maker.remainingLots === lots) {
    // Remove BEFORE zeroing: book.remove() takes the order's remainingLots off its level's total, so zeroing
    // first left the filled lots counted in the level (wrong L2 depth, and FOK liquidity checks that pass
    // against lots that are gone) whenever other orders remained at that price.
    m.book.remove(maker);
    maker.remainingLots = 0;
    maker.account.orders.delete(maker.id);
    unindexClientOrder(maker);
    maker.position.openOrders -= 1;
    finishOrder(e, maker, null);
  } else m.book.reduce(maker, maker.remainingLots - lots);
  m.openInterestLots += longLots(taker.position) + longLots(maker.position) - longBefore;
  m.last = tp.price;
  if (taker.liquidation) {
    e.liqFill.lots += lots;
    e.liqFill.value += notional(m.inst, m.size(lots), tp.price, 'ceil');
    e.liqFill.tickLots += BigInt(maker.priceTicks) * BigInt(lots);
  }
  if (!e.quiet)
    e.events.push({
      type: 'trade',
      symbol: m.symbol,
      price: tp.price,
      size: m.size(lots),
      takerOrderId: taker.id,
      makerOrderId: maker.id,
      taker: taker.account.id,
      maker: maker.account.id,
      takerSide: taker.side,
      takerFee,
      makerFee,
    });
  emitPosition(e, taker.position);
  emitPosition(e, maker.position);
}

// ---------------------------------------------------------------------------------------------------------
// The liquidation engine's order

/**
 * Sends a reduce-only IOC for `lots` of `p` at `limitTicks` into the book as a liquidation order and reports what
 * filled (lots, notional, average price).
 */
export function liquidationOrder(
  e: EngineState,
  p: Position,
  lots: number,
  limitTicks: number,
): { lots: number; value: bigint; avgPrice: bigint } {
  const m = p.market;
  const side = p.sign > 0 ? 'sell' : 'buy';
  const order: Order = {
    id: e.nextOrderId++,
    accountId: p.account.n,
    side,
    priceTicks: Math.max(1, Math.min(limitTicks, MAX_PRICE_TICKS)),
    remainingLots: lots,
    prev: null,
    next: null,
    level: null,
    account: p.account,
    market: m,
    position: p,
    sizeLots: lots,
    tif: 'IOC',
    reduceOnly: true,
    clientOrderId: null,
    stp: 'cancelMaker',
    mode: p.mode,
    reserved: 0n,
    reservedLots: 0,
    liquidation: true,
  };
  e.liqFill.lots = 0;
  e.liqFill.value = 0n;
  e.liqFill.tickLots = 0n;
  e.events.push({
    type: 'orderAccepted',
    orderId: order.id,
    account: p.account.id,
    symbol: m.symbol,
    side,
    price: m.price(order.priceTicks),
    size: m.size(lots),
    timeInForce: 'IOC',
    reduceOnly: true,
  });
  const stopped = match(e, order, side === 'buy' ? 'sell' : 'buy');
  finishOrder(e, order, stopped ?? 'ioc');
  const f = e.liqFill;
  const avgTicks = f.lots === 0 ? 0n : f.tickLots / BigInt(f.lots);
  return { lots: f.lots, value: f.value, avgPrice: avgTicks * m.inst.tickSize };
}
