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
 * legs or levels) are checked against what the earlier fills can at most have taken from what backs them
 * (`drainBy`): what a maker's opening part needs beyond its order's reserve must still be free, and a closing fill
 * must stay above its holder's bankruptcy price. A maker's pooled (netted or strategy-model) silo that earlier fills
 * touched is checked by planSide's own rules over the silo as those fills leave it (combo-maker-silos.ts). A fill
 * the plan cannot be sure of refuses the combo (FOK_NOT_FILLED, nothing changed) rather than guess.
 *
 * The taker's closes are judged on the whole combo, not leg by leg (`planPayableCombo`): the silo pays iff its
 * bucket, plus the realized PnL of every fill at its planned price (profits and losses netted) less the fees and
 * the funding the fills settle, never goes below zero as the legs execute — so a deep in-the-money iron condor
 * funded with its max loss closes as one combo, its winning legs paying its losing ones. Legs run in the request's
 * order when the silo can pay in it, else those that bring the most money in first (planned again in that order,
 * so every maker check stays exact). Each fill's planned PnL and fee are then exactly what settle.ts books: the
 * bucket covers every loss and fee when it is realized, so no other leg's profit is realized early to pay one. The
 * bankruptcy bound of a voluntary close applies to the combo's fills together (`vsMark`, commands/combo.ts).
 */
import { div, maxBig, minBig } from '../core/fixed.ts';
import { notional, unrealizedPnl } from '../core/margin.ts';
import type { Account, Order, Position, PositionView, Silo, Wallet } from './account.ts';
import type { BookSide } from './book.ts';
import {
  closingPnl,
  isPooled,
  type MakerSilo,
  makerSilo,
  planMakerOver,
  recordMakerFill,
} from './combo-maker-silos.ts';
import type { Market } from './market.ts';
import { MAX_FILLS_PER_COMMAND, planSide } from './match.ts';
import { allows, validityAt } from './oracle.ts';
import { freeFor } from './pretrade.ts';
import { closableLots, feeFor, pendingFunding } from './risk.ts';
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
  /** What the leg's fills move into (+) or out of (−) the silo's bucket: funding settled, realized PnL, fees. */
  bucketDelta: bigint;
  /** The lowest point of that move as the leg's fills settle one by one (≤ 0): what the bucket must hold first. */
  dip: bigint;
  /** What the leg's fills gain (+) or cost (−) against the mark, each fill's lots at its price, less their fees. */
  vsMark: bigint;
}

export interface ComboPlan {
  /** In execution order: the request's, or the legs that bring money in first (planPayableCombo). */
  legs: LegPlan[];
  /** What the fills move into (+) or out of (−) the silo's bucket: realized PnL less taker fees. */
  bucketDelta: bigint;
  /** Σ of the legs' `vsMark`: what the combo takes from (−) or adds to the silo's equity at the marks. */
  vsMark: bigint;
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
  stp: SelfTradePrevention;
  fills: number;
  /** Accounts an earlier fill of the combo touched. */
  touched: Set<Account>;
  /** Per backing: the most the combo's earlier fills can have lowered its free money and its close room. */
  drain: Map<Backing, bigint>;
  /** Lots of earlier fills per maker position (what a reduce-only maker, or a closing split, has left). */
  used: Map<Position, number>;
  /** Pooled silos of makers an earlier fill touched, as those fills leave them (combo-maker-silos.ts). */
  makerSilos: Map<Silo, MakerSilo>;
  /** Positions whose pending funding an earlier fill settled. */
  funded: Set<Position>;
}

/** A maker's side of a planned fill, as `drainBy` bounds it (the taker's closes are the whole combo's question). */
interface FillSide {
  /** The position before the combo. */
  real: Position;
  /** The position as the earlier fills of the combo leave it. */
  view: PositionView;
  side: OrderSide;
  lots: number;
  closeLots: number;
  price: bigint;
  fee: bigint;
  /** The maker's reserve share and opening margin. */
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
    stp,
    fills: 0,
    touched: new Set(),
    drain: new Map(),
    used: new Map(),
    makerSilos: new Map(),
    funded: new Set(),
  };
  const plans: LegPlan[] = [];
  let bucketDelta = 0n;
  let vsMark = 0n;
  let releasedRequirement = 0n;
  for (const leg of legs) {
    const plan = planLeg(w, leg);
    plans.push(plan);
    bucketDelta += plan.bucketDelta;
    vsMark += plan.vsMark;
    for (const s of plan.steps)
      if (s.kind === 'cancel' && s.order.position.silo === silo) releasedRequirement += s.order.reserved;
  }
  return { legs: plans, bucketDelta, vsMark, releasedRequirement };
}

/** A plan and, when the silo cannot pay for it as it executes, why (the combo is then refused FOK_NOT_FILLED). */
export interface PayablePlan {
  plan: ComboPlan;
  overdraw: string | null;
}

/**
 * The combo planned so that the silo can pay for it as it executes (see the module comment): in the request's
 * order if the bucket never goes below zero in it, else planned again with the legs that bring the most money in
 * first. `overdraw` says why neither can be paid (the caller refuses after its margin check, whose refusal names
 * the figures a trader opening a strategy needs).
 */
export function planPayableCombo(
  e: EngineState,
  taker: Account,
  silo: Silo,
  legs: readonly ComboLeg[],
  stp: SelfTradePrevention,
): PayablePlan {
  const plan = planCombo(e, taker, silo, legs, stp);
  if (shortOf(silo, plan) === null) return { plan, overdraw: null };
  const order = [...plan.legs]
    .sort((a, b) =>
      a.bucketDelta > b.bucketDelta ? -1 : a.bucketDelta < b.bucketDelta ? 1 : a.leg.n - b.leg.n,
    )
    .map((l) => l.leg);
  const again = order.some((l, i) => l !== legs[i]) ? planCombo(e, taker, silo, order, stp) : plan;
  const short = shortOf(silo, again);
  if (short === null) return { plan: again, overdraw: null };
  const holds = fmtMargin(e, silo, silo.bucket.balance);
  const overdraw =
    silo.bucket.balance + again.bucketDelta < 0n
      ? `the combo would overdraw silo ${silo.id}: it holds ${holds} and its fills realize ${fmtMargin(e, silo, again.bucketDelta)} net of fees and funding`
      : `silo ${silo.id} (holding ${holds}) cannot pay leg ${short.leg.n}'s loss before the other legs' profits land, in any order the combo can run`;
  return { plan: again, overdraw };
}

/** The first leg whose fills would take the silo's bucket below zero, in the plan's order; null when none does. */
function shortOf(silo: Silo, plan: ComboPlan): LegPlan | null {
  let bucket = silo.bucket.balance;
  for (const l of plan.legs) {
    if (bucket + l.dip < 0n) return l;
    bucket += l.bucketDelta;
  }
  return null;
}

/** One leg's walk so far: the steps, the leg as its fills leave it, what is still to fill. */
interface LegWalk {
  leg: ComboLeg;
  steps: ComboStep[];
  view: PositionView;
  need: number;
  priceLots: bigint;
  bucketDelta: bigint;
  dip: bigint;
  vsMark: bigint;
}

function planLeg(w: Walk, leg: ComboLeg): LegPlan {
  const m = leg.market;
  // The leg's first fill settles its pending funding into the bucket; the leg then starts from the current index.
  const funding = leg.position === null ? 0n : -pendingFunding(leg.position);
  const l: LegWalk = {
    leg,
    steps: [],
    view: leg.position ?? flatLeg(m),
    need: leg.lots,
    priceLots: 0n,
    bucketDelta: funding,
    dip: minBig(funding, 0n),
    vsMark: 0n,
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
  const after = { ...l.view, fundingIndex: m.funding?.cumIndex ?? 0n };
  const { steps, priceLots, bucketDelta, dip, vsMark } = l;
  return { leg, steps, after, priceLots, bucketDelta, dip, vsMark };
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

/**
 * Plans the taker's side of a fill against `maker` (its PnL and fee in the bucket, exactly as settle.ts books them;
 * whether the silo can pay is the whole combo's question, planPayableCombo) and records what the maker's side can
 * take from its backing.
 */
function takeFill(w: Walk, l: LegWalk, maker: Order, mp: FillPlan, lots: number): void {
  const leg = l.leg;
  const m = leg.market;
  const price = m.price(maker.priceTicks);
  const closeLots = Math.min(lots, closableLots(l.view, leg.side));
  const fee = feeFor(notional(m.inst, m.size(lots), price, 'ceil'), m.takerFee);
  drainBy(w, backingOf(maker.position), {
    ...mp,
    real: maker.position,
    view: maker.position,
    side: maker.side,
    lots,
  });
  w.touched.add(w.taker).add(maker.account);
  w.used.set(maker.position, (w.used.get(maker.position) ?? 0) + lots);
  const pooled = maker.position.silo;
  if (isPooled(pooled)) {
    const s = w.makerSilos.get(pooled) ?? makerSilo(pooled);
    w.makerSilos.set(pooled, s);
    recordMakerFill(s, maker, mp, lots);
  }
  if (closeLots > 0) l.bucketDelta += closingPnl(l.view, closeLots, price);
  l.bucketDelta -= maxBig(fee, 0n);
  l.dip = minBig(l.dip, l.bucketDelta);
  l.vsMark += fillVsMark(l.view, leg.side, closeLots, lots - closeLots, price) - maxBig(fee, 0n);
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
  const unsure = (why: string) =>
    notFilled(
      leg,
      0,
      `maker order ${maker.id} of ${maker.account.id} ${why} after its earlier fills in this combo`,
    );
  const pos = maker.position;
  const shadow = isPooled(pos.silo) ? w.makerSilos.get(pos.silo) : undefined;
  if (shadow !== undefined) {
    // A pooled silo an earlier fill touched: planSide's rules over the silo as those fills leave it.
    const r = planMakerOver(w.e, shadow, maker, lots);
    if ('unsure' in r) throw unsure(r.unsure);
    return r.plan.openLots > 0 && pausesRisk(w.e, m) ? 'oraclePaused' : r.plan;
  }
  const plan = planSide(w.e, maker, lots, maker.priceTicks, m.makerFee);
  if (!w.touched.has(maker.account)) {
    // First touch: exactly what match would decide now.
    if (plan === null) return 'marginCheck';
    if (plan.openLots > 0 && pausesRisk(w.e, m)) return 'oraclePaused';
    return plan;
  }
  if (plan === null) throw unsure('may fail its margin check');
  const left = Math.max(0, closableLots(pos, maker.side) - (w.used.get(pos) ?? 0));
  if (plan.closeLots !== Math.min(lots, left)) throw unsure('closes a position that has changed');
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

/** What a fill at `price` gains (+) or costs (−) against the mark: its closing lots, then its opening lots. */
function fillVsMark(
  view: PositionView,
  side: OrderSide,
  closeLots: number,
  openLots: number,
  price: bigint,
): bigint {
  const m = view.market;
  const mark = m.mark ?? price;
  let d = closeLots > 0 ? closingPnl(view, closeLots, price) - closingPnl(view, closeLots, mark) : 0n;
  if (openLots > 0) {
    const opened = {
      side: side === 'buy' ? 'long' : 'short',
      size: m.size(openLots),
      entryPrice: price,
    } as const;
    d += unrealizedPnl(m.inst, opened, mark);
  }
  return d;
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
  if (!w.funded.has(s.real)) {
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
  /** The silo's equity before the combo. */
  equityBefore: bigint;
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
  const now = siloFigures(e, silo, 'requirement');
  const f = siloFiguresOver(e, silo, views, plan.bucketDelta, 'requirement');
  return {
    before: now.initialMargin,
    after: f.initialMargin,
    available: f.available + plan.releasedRequirement,
    equityBefore: now.equity,
  };
}

/** The average fill price of a planned leg, half up at the price scale (display; each fill's price is exact). */
export function averagePrice(l: LegPlan): bigint {
  return div(l.priceLots, BigInt(l.leg.lots), 'halfUp');
}

export function fmtMargin(e: EngineState, silo: Silo, v: bigint): string {
  return `${fmtMoney(e, silo.asset, v)} ${silo.asset}`;
}
