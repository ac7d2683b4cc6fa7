/**
 * placeCombo: 2–8 legs in one named silo, each an immediate fill-or-kill taker order at its limit; all legs fill in
 * full or the command is refused and nothing changes. Validate every leg as placeOrder validates an order, plan every
 * fill without mutating (combo.ts) in an order the silo can pay for, check the silo's margin and equity once on the
 * legs as the whole combo leaves them, then execute the planned fills leg by leg through the ordinary fill and
 * settle path (match.ts `fill`, settle.ts).
 */
import { maxBig } from '../../core/fixed.ts';
import { notional } from '../../core/margin.ts';
import { type Account, type Order, positionKey, type Silo } from '../account.ts';
import type { BookSide } from '../book.ts';
import {
  averagePrice,
  type ComboLeg,
  type ComboPlan,
  comboMargin,
  fmtMargin,
  type LegPlan,
  MAX_COMBO_LEGS,
  MIN_COMBO_LEGS,
  planPayableCombo,
} from '../combo.ts';
import { cancelResting, fill, finishOrder, planSide } from '../match.ts';
import { requireOracle } from '../oracle.ts';
import { checkTier, flatView } from '../pretrade.ts';
import { closableLots, feeFor } from '../risk.ts';
import type { FillPlan } from '../settle.ts';
import { type EngineState, positionOf, walletOf } from '../state.ts';
import { type Cmd, Rejection, type SelfTradePrevention } from '../types.ts';
import { accountOf, marketOf, optionalSilo, orderLimit, siloOf } from '../validate.ts';
import { checkVaultOrder, vaultOfAccount } from '../vaults.ts';
import { newOrder } from './orders.ts';

const STPS: ReadonlySet<string> = new Set(['cancelTaker', 'cancelMaker', 'cancelBoth']);

/** Returns the combo's id (in the result as `orderId`), taken from the order-id sequence. */
export function placeCombo(e: EngineState, cmd: Cmd<'placeCombo'>): number {
  // 1. Validate the command and every leg; 2. plan every fill; 3. the silo's margin after the whole combo.
  const a = accountOf(e, cmd.account);
  const silo = siloOf(a, cmd.silo);
  const stp: SelfTradePrevention = cmd.stp ?? 'cancelTaker';
  if (!STPS.has(stp))
    throw new Rejection('INVALID_COMMAND', 'stp must be cancelTaker, cancelMaker or cancelBoth');
  if (
    cmd.clientComboId !== undefined &&
    (typeof cmd.clientComboId !== 'string' || cmd.clientComboId.length > 64)
  )
    throw new Rejection('INVALID_COMMAND', 'clientComboId must be a string of at most 64 characters');
  const legs = comboLegs(e, a, silo, cmd);
  const { plan, overdraw } = planPayableCombo(e, a, silo, legs, stp);
  checkMargin(e, silo, plan, overdraw);

  // ---- validated; mutate from here on ----
  const comboId = e.nextOrderId++;
  const orderIds = new Map<LegPlan, number>();
  for (const l of plan.legs) orderIds.set(l, execute(e, a, silo, l, stp));
  // The event lists the legs as the request did, whatever order they ran in.
  const asSent = [...plan.legs].sort((x, y) => x.leg.n - y.leg.n);
  e.events.push({
    type: 'comboFilled',
    account: a.id,
    silo: silo.id,
    comboId,
    ...(cmd.clientComboId !== undefined ? { clientComboId: cmd.clientComboId } : {}),
    legs: asSent.map((l) => ({
      orderId: orderIds.get(l)!,
      symbol: l.leg.market.symbol,
      side: l.leg.side,
      size: l.leg.market.size(l.leg.lots),
      avgPrice: averagePrice(l),
    })),
  });
  return comboId;
}

/** Every leg checked as placeOrder checks an order: market, silo asset, lots, ticks, band, tier, oracle. */
function comboLegs(e: EngineState, a: Account, silo: Silo, cmd: Cmd<'placeCombo'>): ComboLeg[] {
  if (!Array.isArray(cmd.legs) || cmd.legs.length < MIN_COMBO_LEGS || cmd.legs.length > MAX_COMBO_LEGS)
    throw new Rejection('INVALID_COMMAND', `a combo has ${MIN_COMBO_LEGS} to ${MAX_COMBO_LEGS} legs`);
  const seen = new Set<string>();
  return cmd.legs.map((input: unknown, i) => {
    const n = i + 1;
    if (typeof input !== 'object' || input === null)
      throw new Rejection('INVALID_COMMAND', `leg ${n} must be an object`);
    const l = input as Record<string, unknown>;
    const m = marketOf(e, l.symbol);
    if (seen.has(m.symbol)) throw new Rejection('INVALID_COMMAND', `leg ${n}: ${m.symbol} is already a leg`);
    seen.add(m.symbol);
    const side = l.side;
    if (side !== 'buy' && side !== 'sell')
      throw new Rejection('INVALID_COMMAND', `leg ${n}: side must be buy or sell`);
    optionalSilo(a, m, silo.id);
    if (m.closed || (m.inst.expiry !== null && cmd.time >= m.inst.expiry))
      throw new Rejection('MARKET_CLOSED', `${m.symbol} has expired`);
    const lots = m.sizeLots(l.size, `leg ${n} size`);
    if (l.price === undefined)
      throw new Rejection('INVALID_PRICE', `leg ${n}: a combo leg needs a limit price`);
    const opposite: BookSide = side === 'buy' ? 'sell' : 'buy';
    const limitTicks = orderLimit(m, 'limit', l.price, side, opposite);
    // Margin is checked at the marks, and a fill must not move the price its silo is valued at.
    if (m.mark === null)
      throw new Rejection(
        'NO_REFERENCE_PRICE',
        `${m.symbol} has no mark price yet: it cannot be a combo leg`,
      );
    const position = a.positions.get(positionKey(silo, m.symbol)) ?? null;
    const openLots = lots - (position === null ? 0 : closableLots(position, side));
    if (openLots > 0) {
      if (m.reduceOnly)
        throw new Rejection('MARKET_CLOSED', `${m.symbol} is closed to new risk: a leg may only reduce`);
      checkTier(position ?? flatView(m, silo), side, openLots, limitTicks);
      const vault = vaultOfAccount(e, a);
      if (vault !== null) checkVaultOrder(e, vault, position ?? flatView(m, silo), m, side, lots, limitTicks);
      if (m.oracle !== null || m.option !== null) requireOracle(m, 'increaseRisk', cmd.time);
    }
    return { n, market: m, side, lots, limitTicks, position, opens: openLots > 0 };
  });
}

/**
 * The silo after the whole combo, in this order: its margin (a combo that raises the initial margin must leave
 * available ≥ 0), whether its bucket can pay the fills as they run (`overdraw`, from planPayableCombo), and the
 * whole combo's bankruptcy bound — risk.ts closeRoom's rule over every fill at once: max(equity, 0) plus what the
 * fills gain or lose against the marks, less their fees, may not be negative, so closes never leave the silo's equity
 * below zero (nor an already negative one lower): that loss would be the insurance fund's.
 */
function checkMargin(e: EngineState, silo: Silo, plan: ComboPlan, overdraw: string | null): void {
  const r = comboMargin(e, silo, plan);
  if (r.after > r.before && r.available < 0n)
    // A combo that only closes legs is the lifecycle's case: closing one leg of a strategy can leave a naked one.
    throw new Rejection(
      plan.legs.some((l) => l.leg.opens) ? 'INSUFFICIENT_MARGIN' : 'CLOSE_RAISES_REQUIREMENT',
      `the combo raises silo ${silo.id}'s initial margin from ${fmtMargin(e, silo, r.before)} to ${fmtMargin(e, silo, r.after)}; available after it would be ${fmtMargin(e, silo, r.available)}`,
    );
  if (overdraw !== null) throw new Rejection('FOK_NOT_FILLED', overdraw);
  const closes = plan.legs.some(
    (l) => l.leg.position !== null && closableLots(l.leg.position, l.leg.side) > 0,
  );
  if (closes && maxBig(r.equityBefore, 0n) + plan.vsMark < 0n)
    throw new Rejection(
      'FOK_NOT_FILLED',
      `the combo's closes would pass silo ${silo.id}'s bankruptcy price: its fills and fees cost ${fmtMargin(e, silo, -plan.vsMark)} against the marks, its equity is ${fmtMargin(e, silo, r.equityBefore)}`,
    );
}

/** One leg's planned steps through the ordinary path: its taker order, cancels and fills in book order. */
function execute(e: EngineState, a: Account, silo: Silo, l: LegPlan, stp: SelfTradePrevention): number {
  const { market: m, side, lots, limitTicks } = l.leg;
  const p = positionOf(e, a, m, silo);
  walletOf(e, a, m.asset); // as placeOrder: the settle path reads the owner's wallet in the asset
  // The combo's margin was checked as a whole: its legs reserve nothing.
  const taker = newOrder(e, a, p, side, limitTicks, lots, {
    tif: 'FOK',
    reduceOnly: false,
    clientOrderId: null,
    stp,
    reservedLots: 0,
  });
  e.events.push({
    type: 'orderAccepted',
    orderId: taker.id,
    account: a.id,
    symbol: m.symbol,
    side,
    price: m.price(limitTicks),
    size: m.size(lots),
    timeInForce: 'FOK',
    reduceOnly: false,
  });
  for (const s of l.steps) {
    if (s.kind === 'cancel') {
      cancelResting(e, s.order, s.reason);
      continue;
    }
    const mp = planSide(e, s.maker, s.lots, s.ticks, m.makerFee);
    if (mp === null) throw new Error(`bug: combo maker order ${s.maker.id} failed the check its plan passed`);
    fill(e, taker, s.maker, takerPlan(taker, s.lots, s.ticks), mp, s.lots);
  }
  if (taker.remainingLots !== 0) throw new Error(`bug: combo leg ${m.symbol} did not fill as planned`);
  finishOrder(e, taker, null);
  return taker.id;
}

/**
 * The taker's side of one fill, as planSide plans it, without the per-fill margin check (the combo's margin is
 * checked as a whole), without reserve (there is none) and without a per-fill bankruptcy cap: the combo's closes
 * were judged as a whole (combo.ts planPayableCombo, checkMargin), and the plan made sure the bucket holds every
 * loss and fee when it is booked, so the fee is paid in full and no other leg's profit is realized to pay a loss.
 */
function takerPlan(o: Order, lots: number, ticks: number): FillPlan {
  const m = o.market;
  const p = o.position;
  const closeLots = Math.min(lots, closableLots(p, o.side));
  const price = m.price(ticks);
  return {
    closeLots,
    openLots: lots - closeLots,
    price,
    fee: feeFor(notional(m.inst, m.size(lots), price, 'ceil'), m.takerFee),
    feePaid: 0n,
    share: 0n,
    // Unused for a silo's leg (pooled: no margin moves to a bucket of its own).
    im: 0n,
    feeCap: null,
    voluntary: true,
  };
}
