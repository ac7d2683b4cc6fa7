/**
 * Combo orders planned without mutating: every leg is an immediate fill-or-kill taker in one named silo, and all legs
 * fill in full or nothing happens. Nothing can be undone once a fill has settled, so the plan must be one that the
 * execution (commands/combo.ts) is certain to carry out: each leg walks its book read-only in price-time priority
 * with match.ts's own rules (self-trade prevention, reduce-only makers, each maker's check by `planSide`), and the
 * silo's margin is checked once, on the legs as the whole combo leaves them.
 *
 * Certainty. A fill changes only the accounts on its two sides, and every combo market has a mark (the valuation
 * price a fill cannot move), so a maker whose account no earlier fill of the combo touched is checked exactly by
 * `planSide` on the state as it stands. Later fills of an account already touched (a market maker quoting several
 * legs or levels) and the taker's own closing fills are checked against what the earlier fills can at most have
 * taken from what backs them (`drainBy`): what a maker's opening part needs beyond its order's reserve must still be
 * free, and a closing fill must stay above its holder's bankruptcy price. A fill the plan cannot be sure of refuses
 * the combo (FOK_NOT_FILLED, nothing changed) rather than guess.
 */
import { div, maxBig } from '../core/fixed.ts';
import { notional, unrealizedPnl } from '../core/margin.ts';
import type { Account, Order, Position, PositionView, Silo, Wallet } from './account.ts';
import type { BookSide } from './book.ts';
import type { Market } from './market.ts';
import { MAX_FILLS_PER_COMMAND, planSide } from './match.ts';
import { allows, validityAt } from './oracle.ts';
import { freeFor } from './pretrade.ts';
import { closableLots, closeRoom, feeFor, pendingFunding } from './risk.ts';
import type { FillPlan } from './settle.ts';
import { siloFigures, siloFiguresOver, viewAfterFill } from './silos.ts';
import { type EngineState, fmtMoney } from './state.ts';
import { type CancelReason, type OrderSide, Rejection, type SelfTradePrevention } from './types.ts';

export const MIN_COMBO_LEGS = 2;
export const MAX_COMBO_LEGS = 8;

/** One validated leg: what it trades, and the silo's position on its market before the combo (null: none yet). */
export interface ComboLeg {
  /** 1-based, as messages name it. */
  n: number;
  market: Market;
  side: OrderSide;
  lots: number;
  limitTicks: number;
  position: Position | null;
  /** Whether it opens lots (more than the silo's position on its market closes). */
  opens: boolean;
}

/** What the execution does, in book order: cancel a resting order (as match would), or fill against it. */
export type ComboStep =
  | { kind: 'cancel'; order: Order; reason: CancelReason }
  | { kind: 'fill'; maker: Order; lots: number; ticks: number };

export interface LegPlan {
  leg: ComboLeg;
  steps: ComboStep[];
  /** The leg as the combo leaves it. */
  after: PositionView;
  /** Σ fill price × lots (priceDp × lots) and the lots, for the average price. */
  priceLots: bigint;
}

export interface ComboPlan {
  legs: LegPlan[];
  /** What the fills move into (+) or out of (−) the silo's bucket: realized PnL less taker fees. */
  bucketDelta: bigint;
  /** The silo's own resting orders the combo cancels (self-trade prevention `cancelMaker`): their requirement goes. */
  releasedRequirement: bigint;
}

/**
 * What backs a position's new exposure and its closes: its named silo, else its owner's wallet in the asset (the free
 * balance and cross bucket; an isolated position's margin is drawn from it too).
 */
type Backing = Silo | Wallet;

/** Where the walk of every leg keeps what earlier fills of the combo did to the accounts and positions they hit. */
interface Walk {
  e: EngineState;
  taker: Account;
  silo: Silo;
  stp: SelfTradePrevention;
  fills: number;
  /** Accounts an earlier fill of the combo touched. */
  touched: Set<Account>;
  /** Per backing: the most the combo's earlier fills can have lowered its free money and its close room. */
  drain: Map<Backing, bigint>;
  /** Lots of earlier fills per maker position (what a reduce-only maker, or a closing split, has left). */
  used: Map<Position, number>;
  /** Named silos of makers an earlier fill touched (their pooled models see every leg). */
  silos: Set<Silo>;
  /** Positions whose pending funding an earlier fill settled. */
  funded: Set<Position>;
}

/** One side of a planned fill, as `drainBy` bounds it. */
interface FillSide {
  /** The position before the combo (null: the taker's new leg). */
  real: Position | null;
  /** The position as the earlier fills of the combo leave it. */
  view: PositionView;
  side: OrderSide;
  lots: number;
  closeLots: number;
  price: bigint;
  fee: bigint;
  /** A maker's reserve share and opening margin (0 for the taker, whose margin is the combo's). */
  share: bigint;
  im: bigint;
}

/** Plans every leg in order; throws FOK_NOT_FILLED when a leg cannot fill in full (or not certainly). */
export function planCombo(
  e: EngineState,
  taker: Account,
  silo: Silo,
  legs: readonly ComboLeg[],
  stp: SelfTradePrevention,
): ComboPlan {
  const w: Walk = {
    e,
    taker,
    silo,
    stp,
    fills: 0,
    touched: new Set(),
    drain: new Map(),
    used: new Map(),
    silos: new Set(),
    funded: new Set(),
  };
  const plans: LegPlan[] = [];
  let bucketDelta = 0n;
  let releasedRequirement = 0n;
  for (const leg of legs) {
    const r = planLeg(w, leg);
    plans.push(r.plan);
    bucketDelta += r.bucketDelta;
    for (const s of r.plan.steps)
      if (s.kind === 'cancel' && s.order.position.silo === silo) releasedRequirement += s.order.reserved;
  }
  return { legs: plans, bucketDelta, releasedRequirement };
}

/** One leg's walk so far: the steps, the leg as its fills leave it, what is still to fill. */
interface LegWalk {
  leg: ComboLeg;
  steps: ComboStep[];
  view: PositionView;
  need: number;
  priceLots: bigint;
  bucketDelta: bigint;
}

function planLeg(w: Walk, leg: ComboLeg): { plan: LegPlan; bucketDelta: bigint } {
  const m = leg.market;
  const l: LegWalk = {
    leg,
    steps: [],
    view: leg.position ?? flatLeg(m),
    need: leg.lots,
    priceLots: 0n,
    bucketDelta: 0n,
  };
  const opposite: BookSide = leg.side === 'buy' ? 'sell' : 'buy';
  for (let bo = m.book.best(opposite); bo !== null && l.need > 0; bo = m.book.nextAfter(bo)) {
    if (leg.side === 'buy' ? bo.priceTicks > leg.limitTicks : bo.priceTicks < leg.limitTicks) break;
    const maker = bo as Order;
    const next = makerStep(w, l, maker);
    if (next.kind === 'cancel') l.steps.push(next);
    else takeFill(w, l, maker, next.plan, next.lots);
  }
  if (l.need > 0) throw notFilled(leg, leg.lots - l.need, null);
  // The leg's first fill settles its pending funding into the bucket; the leg then starts from the current index.
  if (leg.position !== null) l.bucketDelta -= pendingFunding(leg.position);
  const after = { ...l.view, fundingIndex: m.funding?.cumIndex ?? 0n };
  return { plan: { leg, steps: l.steps, after, priceLots: l.priceLots }, bucketDelta: l.bucketDelta };
}

/** What match would do with the next resting order: cancel it, or fill `lots` against it (as `plan` says). */
function makerStep(
  w: Walk,
  l: LegWalk,
  maker: Order,
): (ComboStep & { kind: 'cancel' }) | { kind: 'fill'; lots: number; plan: FillPlan } {
  const leg = l.leg;
  if (maker.accountId === w.taker.n) {
    if (w.stp === 'cancelMaker') return { kind: 'cancel', order: maker, reason: 'selfTrade' };
    throw notFilled(leg, leg.lots - l.need, `it would trade with its own order ${maker.id} (stp ${w.stp})`);
  }
  let lots = Math.min(l.need, maker.remainingLots);
  if (maker.reduceOnly) {
    const cap = closableLots(maker.position, maker.side) - (w.used.get(maker.position) ?? 0);
    if (cap <= 0) return { kind: 'cancel', order: maker, reason: 'reduceOnly' };
    lots = Math.min(lots, cap);
  }
  const plan = planMaker(w, leg, maker, lots);
  if (plan === 'marginCheck' || plan === 'oraclePaused')
    return { kind: 'cancel', order: maker, reason: plan };
  if (w.fills >= MAX_FILLS_PER_COMMAND)
    throw notFilled(leg, leg.lots - l.need, `the combo would take more than ${MAX_FILLS_PER_COMMAND} fills`);
  return { kind: 'fill', lots, plan };
}

/** Plans the taker's side of a fill against `maker` and records what both sides can take from their backing. */
function takeFill(w: Walk, l: LegWalk, maker: Order, mp: FillPlan, lots: number): void {
  const leg = l.leg;
  const m = leg.market;
  const price = m.price(maker.priceTicks);
  const closeLots = Math.min(lots, closableLots(l.view, leg.side));
  const fee = feeFor(notional(m.inst, m.size(lots), price, 'ceil'), m.takerFee);
  if (closeLots > 0) checkTakerClose(w, leg, leg.lots - l.need, closeLots, price);
  const taker = {
    real: leg.position,
    view: l.view,
    side: leg.side,
    lots,
    closeLots,
    price,
    fee,
    share: 0n,
    im: 0n,
  };
  drainBy(w, w.silo, taker);
  drainBy(w, backingOf(maker.position), {
    ...mp,
    real: maker.position,
    view: maker.position,
    side: maker.side,
    lots,
  });
  w.touched.add(w.taker).add(maker.account);
  w.used.set(maker.position, (w.used.get(maker.position) ?? 0) + lots);
  if (maker.position.silo !== null) w.silos.add(maker.position.silo);
  if (closeLots > 0) l.bucketDelta += closingPnl(l.view, closeLots, price);
  l.bucketDelta -= maxBig(fee, 0n);
  l.view = viewAfterFill(l.view, leg.side === 'buy' ? 1 : -1, closeLots, lots - closeLots, price);
  l.steps.push({ kind: 'fill', maker, lots, ticks: maker.priceTicks });
  l.priceLots += price * BigInt(lots);
  l.need -= lots;
  w.fills += 1;
}

/**
 * A maker's side of the next fill: its plan, or why match would cancel it. A maker whose account an earlier fill of
 * the combo touched is accepted only when the execution is sure to agree (see the module comment).
 */
function planMaker(
  w: Walk,
  leg: ComboLeg,
  maker: Order,
  lots: number,
): FillPlan | 'marginCheck' | 'oraclePaused' {
  const m = leg.market;
  const plan = planSide(w.e, maker, lots, maker.priceTicks, m.makerFee);
  if (!w.touched.has(maker.account)) {
    // First touch: exactly what match would decide now.
    if (plan === null) return 'marginCheck';
    if (plan.openLots > 0 && pausesRisk(w.e, m)) return 'oraclePaused';
    return plan;
  }
  const unsure = (why: string) =>
    notFilled(
      leg,
      0,
      `maker order ${maker.id} of ${maker.account.id} ${why} after its earlier fills in this combo`,
    );
  if (plan === null) throw unsure('may fail its margin check');
  const pos = maker.position;
  const left = Math.max(0, closableLots(pos, maker.side) - (w.used.get(pos) ?? 0));
  if (plan.closeLots !== Math.min(lots, left)) throw unsure('closes a position that has changed');
  if (pos.silo !== null && pos.silo.riskModel !== 'standalone' && w.silos.has(pos.silo))
    throw unsure('trades a pooled silo whose margin has changed');
  if (plan.openLots > 0 && pausesRisk(w.e, m)) return 'oraclePaused';
  const drained = w.drain.get(backingOf(pos)) ?? 0n;
  // What the opening part needs beyond its order's reserve must still be free after the earlier fills' drain.
  const beyond = plan.im + maxBig(plan.fee, 0n) - plan.share;
  if (plan.openLots > 0 && beyond > 0n && beyond > freeFor(w.e, maker.account, pos) - drained)
    throw unsure('may fail its margin check');
  // An isolated close draws on its own bucket only, which earlier fills of the same position leave no poorer per lot.
  if (plan.feeCap !== null && pos.mode !== 'isolated' && plan.feeCap < drained)
    throw unsure('may close past its bankruptcy price');
  return plan;
}

function backingOf(p: Position): Backing {
  return p.silo ?? p.account.wallets.get(p.market.asset)!;
}

function pausesRisk(e: EngineState, m: Market): boolean {
  return (m.oracle !== null || m.option !== null) && !allows('increaseRisk', validityAt(m, e.now));
}

/** PnL the closing lots of `view` realize at `price`. */
function closingPnl(view: PositionView, closeLots: number, price: bigint): bigint {
  const m = view.market;
  const side = view.sign > 0 ? 'long' : 'short';
  return unrealizedPnl(m.inst, { side, size: m.size(closeLots), entryPrice: view.entryPrice }, price);
}

/**
 * The taker's closing lots must stay within the silo's bankruptcy bound (the rule every voluntary close follows,
 * risk.ts closeRoom): its room now, less what the combo's earlier fills can at most have taken from the silo.
 */
function checkTakerClose(w: Walk, leg: ComboLeg, filled: number, closeLots: number, price: bigint): void {
  const p = leg.position;
  if (p === null) throw new Error('bug: a combo leg closes lots of a position it does not have');
  const room = closeRoom(w.taker, p, closeLots, price) - (w.drain.get(w.silo) ?? 0n);
  if (room < 0n) {
    const m = leg.market;
    const what = `closing ${m.fmtSize(m.size(closeLots))} at ${m.fmtPrice(price)}`;
    throw notFilled(leg, filled, `${what} would pass the silo's bankruptcy price`);
  }
}

/**
 * Adds to a backing's drain the most one fill can take from its free money (available) and its close room (the
 * bankruptcy bound of a later close): the fee, funding the fill settles, its distance from the mark either way (a
 * loss, or initial margin valued at the mark rather than the fill price), the loss its closing lots realize, the
 * opening margin beyond the order's reserve, and a tick of the position's notional for the rounding of averaged
 * entries and per-position margins.
 */
function drainBy(w: Walk, b: Backing, s: FillSide): void {
  const m = s.view.market;
  const mark = m.mark ?? s.price;
  let d = maxBig(s.fee, 0n) + maxBig(0n, s.im - s.share);
  if (s.real !== null && !w.funded.has(s.real)) {
    d += maxBig(pendingFunding(s.real), 0n);
    w.funded.add(s.real);
  }
  const fillSide = s.side === 'buy' ? 'long' : 'short';
  const vsMark = unrealizedPnl(m.inst, { side: fillSide, size: m.size(s.lots), entryPrice: s.price }, mark);
  d += vsMark < 0n ? -vsMark : vsMark;
  if (s.closeLots > 0) d += maxBig(0n, -closingPnl(s.view, s.closeLots, mark));
  if (s.lots > s.closeLots) d += notional(m.inst, m.size(s.view.lots + s.lots), m.inst.tickSize, 'ceil') + 4n;
  w.drain.set(b, (w.drain.get(b) ?? 0n) + d);
}

/** A flat view of a leg the silo does not hold yet (a silo's leg is pooled: mode cross). */
function flatLeg(m: Market): PositionView {
  return {
    mode: 'cross',
    leverage: m.defaultLeverage,
    sign: 0,
    lots: 0,
    entryPrice: 0n,
    size: 0n,
    market: m,
    fundingIndex: m.funding?.cumIndex ?? 0n,
  };
}

function notFilled(leg: ComboLeg, filled: number, why: string | null): Rejection {
  const m = leg.market;
  const what = `leg ${leg.n} (${leg.side} ${m.fmtSize(m.size(leg.lots))} ${m.symbol} at ${m.fmtPrice(m.price(leg.limitTicks))})`;
  return new Rejection(
    'FOK_NOT_FILLED',
    why === null
      ? `${what} cannot fill in full: the book holds ${m.fmtSize(m.size(filled))} at that limit or better`
      : `${what} cannot fill in full: ${why}`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Margin after the whole combo

export interface ComboMargin {
  before: bigint;
  after: bigint;
  available: bigint;
}

/**
 * The silo's initial margin before and after the whole combo (every leg as its fills leave it, valued at the marks,
 * the realized PnL and fees in the bucket) and what it would have available after. The combo is refused only when
 * it raises the requirement and leaves available below zero: one that does not raise it (a spread closed, a hedge
 * added) is never refused for margin.
 */
export function comboMargin(e: EngineState, silo: Silo, plan: ComboPlan): ComboMargin {
  const byMarket = new Map<Market, PositionView>();
  for (const l of plan.legs) byMarket.set(l.leg.market, l.after);
  const views: PositionView[] = [];
  for (const p of silo.positions.values()) {
    const after = byMarket.get(p.market);
    if (after !== undefined) {
      views.push(after);
      byMarket.delete(p.market);
    } else if (p.sign !== 0 && !p.market.closed) views.push(p);
  }
  for (const v of byMarket.values()) views.push(v);
  const before = siloFigures(e, silo, 'requirement').initialMargin;
  const f = siloFiguresOver(e, silo, views, plan.bucketDelta, 'requirement');
  return { before, after: f.initialMargin, available: f.available + plan.releasedRequirement };
}

/** The average fill price of a planned leg, half up at the price scale (display; each fill's price is exact). */
export function averagePrice(l: LegPlan): bigint {
  return div(l.priceLots, BigInt(l.leg.lots), 'halfUp');
}

export function fmtMargin(e: EngineState, silo: Silo, v: bigint): string {
  return `${fmtMoney(e, silo.asset, v)} ${silo.asset}`;
}
