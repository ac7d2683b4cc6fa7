/**
 * A combo's makers in pooled (`netted` or strategy-model) silos, after earlier fills of the same combo: the silo as
 * those fills leave it, and the maker's check (match.ts planSide's) over that post-trade silo rather than guessed.
 *
 * A market maker quoting several legs (or levels) of a combo from one pooled silo sees its requirement move with every
 * fill: planSide on the state as it stands knows nothing of the earlier ones. So the plan keeps, per such silo, each
 * leg as the combo's fills leave it (`viewAfterFill`, settle.ts's own arithmetic) and what they move through the
 * bucket, and checks the next fill over those views through siloFiguresOver — the rules planSide applies: a close
 * stays above the silo's bankruptcy price (risk.ts closeRoom, over the views), a pure close does not raise the
 * requirement beyond what the silo can carry (closeRaise), an opening part's marginal initial margin and fee beyond
 * its order's reserve share fit in what the silo has available.
 *
 * Exact where it matters, never optimistic: the views, the realized PnL and the reserve the fills release are exact;
 * the bucket is counted as if every fee were paid in full and no rebate came in, funding owed in full, and reserves
 * of orders the combo cancels as still held. Each rule passes on more money and less order requirement whenever it
 * passes on less, so a fill this check passes is one planSide passes at execution. One thing the views could not
 * follow: a loss (and fee) beyond the bucket, which settle.ts pays by realizing the silo's other profits (moving
 * their entries) — such a silo is `stale` and its next fill is not guessed at.
 */
import { maxBig, minBig } from '../core/fixed.ts';
import { notional, unrealizedPnl } from '../core/margin.ts';
import type { Order, PositionView, Silo } from './account.ts';
import type { Market } from './market.ts';
import { closableLots, feeFor, pendingFunding, positionPnl, valuationPrice } from './risk.ts';
import type { FillPlan } from './settle.ts';
import { closeRaise, marginalInitialMargin, siloFiguresOver, viewAfterFill } from './silos.ts';
import type { EngineState } from './state.ts';

/** A pooled maker silo as the combo's earlier fills leave it. */
export interface MakerSilo {
  silo: Silo;
  /** Its legs the combo filled, as the fills leave them (funding settled: index current). */
  views: Map<Market, PositionView>;
  /** What those fills moved through its bucket, counted low: funding, realized PnL, fees in full, no rebate. */
  bucketDelta: bigint;
  /** What those fills released of its order requirement: each order's share, all of a filled order's reserve. */
  released: bigint;
  /** A fill realized a loss the bucket (so counted) might not cover: settle.ts moves other legs' entries then. */
  stale: boolean;
}

export const isPooled = (silo: Silo | null): silo is Silo => silo !== null && silo.riskModel !== 'standalone';

export function makerSilo(silo: Silo): MakerSilo {
  return { silo, views: new Map(), bucketDelta: 0n, released: 0n, stale: false };
}

/** The maker's leg on its order's market as the earlier fills left it. */
const viewOf = (s: MakerSilo, o: Order): PositionView => s.views.get(o.market) ?? o.position;

/** Funding the next fill of `o` settles first (none once the combo filled that leg: its index is current). */
const fundingDue = (s: MakerSilo, o: Order): bigint =>
  s.views.has(o.market) ? 0n : pendingFunding(o.position);

/**
 * Records a planned maker fill of `lots` of `o` (closing then opening `plan`'s lots at its price) in the silo's
 * views, bucket and order requirement (settle.ts releases the share; match.ts the rest of a filled order's reserve).
 */
export function recordMakerFill(s: MakerSilo, o: Order, plan: FillPlan, lots: number): void {
  s.released += lots === o.remainingLots ? o.reserved : plan.share;
  const m = o.market;
  const view = viewOf(s, o);
  s.bucketDelta -= fundingDue(s, o);
  if (plan.closeLots > 0) {
    const pnl = closingPnl(view, plan.closeLots, plan.price);
    const fee = maxBig(plan.fee, 0n);
    if (pnl < 0n && bucketOf(s) + pnl - fee < 0n) s.stale = true;
    s.bucketDelta += pnl;
  }
  s.bucketDelta -= maxBig(plan.fee, 0n);
  const sign = o.side === 'buy' ? 1 : -1;
  const after = viewAfterFill(view, sign, plan.closeLots, plan.openLots, plan.price);
  s.views.set(m, { ...after, fundingIndex: m.funding?.cumIndex ?? 0n });
}

/**
 * The maker's check on a fill of `lots` of `o` at its price over the silo as the earlier fills leave it — planSide's
 * rules through the same functions (silos.ts marginalInitialMargin, closeRaise, siloFiguresOver) over the views —
 * as planSide would plan it, or why it cannot be sure the fill passes.
 */
export function planMakerOver(
  e: EngineState,
  s: MakerSilo,
  o: Order,
  lots: number,
): { plan: FillPlan } | { unsure: string } {
  if (s.stale) return { unsure: 'closed at a loss beyond its bucket' };
  const m = o.market;
  const view = viewOf(s, o);
  const closeLots = Math.min(lots, closableLots(view, o.side));
  const openLots = lots - closeLots;
  const price = m.price(o.priceTicks);
  const fee = feeFor(notional(m.inst, m.size(lots), price, 'ceil'), m.makerFee);
  const legs = legsOver(s);
  let feeCap: bigint | null = null;
  if (closeLots > 0) {
    feeCap = closeRoomOver(bucketOf(s), legs.room, view, closeLots, price);
    if (feeCap < 0n) return { unsure: 'may close past its bankruptcy price' };
  }
  const plan = { closeLots, openLots, price, fee, feePaid: 0n, share: 0n, im: 0n, feeCap, voluntary: true };
  if (openLots === 0) {
    // Released order requirement counts as money here: available is all closeRaise reads of the bucket.
    const money = s.bucketDelta + s.released;
    const raise = closeRaise(e, s.silo, view, closeLots, price, maxBig(fee, 0n), legs.figures, money);
    return raise === null ? { plan } : { unsure: 'may raise its requirement beyond what it holds' };
  }
  const sign = o.side === 'buy' ? 1 : -1;
  const im = marginalInitialMargin(e, s.silo, view, sign, openLots, price, closeLots, legs.figures);
  const share = reserveShare(o, openLots);
  const need = im + maxBig(fee, 0n);
  const available =
    siloFiguresOver(e, s.silo, legs.figures, s.bucketDelta, 'requirement').available + s.released;
  if (need > share && need - share > available) return { unsure: 'may fail its margin check' };
  return { plan: { ...plan, share, im } };
}

/** The bucket as counted (see the module comment). */
const bucketOf = (s: MakerSilo): bigint => s.silo.bucket.balance + s.bucketDelta;

/** planSide's share of the order's reserve: pro rata to the lots it opens (an order fills once in a combo). */
function reserveShare(o: Order, openLots: number): bigint {
  if (o.reservedLots === 0) return 0n;
  return o.reservedLots <= openLots ? o.reserved : (o.reserved * BigInt(openLots)) / BigInt(o.reservedLots);
}

/**
 * The silo's legs with the combo's views in, in the silo's opening order (a leg the combo opened after the others,
 * as the fills add it): `figures` as siloFigures takes them (open, market not closed), `room` as closeRoom does.
 */
function legsOver(s: MakerSilo): { figures: PositionView[]; room: PositionView[] } {
  const all: PositionView[] = [];
  for (const p of s.silo.positions.values()) all.push(s.views.get(p.market) ?? p);
  for (const [m, v] of s.views) if (!s.silo.positions.has(m.symbol)) all.push(v);
  const room = all.filter((p) => p.sign !== 0);
  return { figures: room.filter((p) => !p.market.closed), room };
}

/**
 * risk.ts closeRoom's rule for a named silo's leg, over views and a bucket given (its silo branch, line for line):
 * the smaller of what the bucket and the other legs' profits can pay, and the equity at the marks (never below zero)
 * less what filling at `price` rather than at the mark costs.
 */
function closeRoomOver(
  main: bigint,
  legs: readonly PositionView[],
  p: PositionView,
  closeLots: number,
  price: bigint,
): bigint {
  const m = p.market;
  const pnl = closingPnl(p, closeLots, price);
  let pool = main - maxBig(pendingFunding(p), 0n) + pnl;
  let equity = main;
  for (const q of legs) {
    const qPnl = positionPnl(q);
    equity += qPnl - pendingFunding(q);
    if (q.market !== m) pool += maxBig(qPnl, 0n);
  }
  const atMark = closingPnl(p, closeLots, valuationPrice(p));
  return minBig(pool, maxBig(equity, 0n) + pnl - atMark);
}

/** PnL the closing lots of `view` realize at `price`. */
export function closingPnl(view: PositionView, closeLots: number, price: bigint): bigint {
  const m = view.market;
  const side = view.sign > 0 ? 'long' : 'short';
  return unrealizedPnl(m.inst, { side, size: m.size(closeLots), entryPrice: view.entryPrice }, price);
}
