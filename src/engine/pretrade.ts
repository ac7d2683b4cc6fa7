/**
 * Stage 2 of a command — pre-trade risk, per silo. What backs new exposure (a named silo's available collateral,
 * else the account's free balance in the asset), what an order needs under its silo's risk model, the leverage its
 * tier allows, and what may leave an isolated bucket. Pure queries over the state: the handlers compare, reject, and
 * only then mutate. The pure margin math is in risk.ts (positions), silos.ts (silos) and src/core.
 */
import { ceilDiv, formatDecimal, maxBig, minBig } from '../core/fixed.ts';
import { maxRemovableMargin, notional, ratesAt } from '../core/margin.ts';
import { LEVERAGE_DP, RATE_ONE } from '../core/rates.ts';
import type { Account, Position, PositionView, Silo } from './account.ts';
import type { Market } from './market.ts';
import {
  available,
  bucketAfterFunding,
  closableLots,
  type OrderRequirement,
  openingInitialMargin,
  orderRequirement,
  positionInitialMargin,
  positionInput,
  positionPnl,
  valuationPrice,
} from './risk.ts';
import { closeRaise, marginalInitialMargin, siloAvailable } from './silos.ts';
import { type EngineState, fmtMoney } from './state.ts';
import { isStrategyModel } from './strategy-silos.ts';
import { Rejection } from './types.ts';

/** What backs new exposure of `p`: its silo's available, else the account's free balance in the asset. */
export function freeFor(e: EngineState, a: Account, p: { silo: Silo | null; market: Market }): bigint {
  if (p.silo !== null) return siloAvailable(e, p.silo);
  const w = a.wallets.get(p.market.asset);
  return w ? available(a, w, p.market.asset) : 0n;
}

/**
 * An order's requirement: `orderRequirement` (what the opening lots need at the leg's leverage, their loss against
 * the mark and the worst-case taker fee); in a netted or strategy-model silo, the initial margin part is what the
 * order adds to the silo's initial margin under its model (a hedge may add nothing).
 */
export function orderNeeds(
  e: EngineState,
  silo: Silo | null,
  view: PositionView,
  side: 'buy' | 'sell',
  lots: number,
  ticks: number,
): OrderRequirement {
  const req = orderRequirement(view, side, lots, ticks);
  if (silo === null || req.openLots === 0) return req;
  const strategy = isStrategyModel(silo.riskModel);
  // Option legs stand alone in a netted silo (silos.ts combine): their requirement is the order's own.
  if (!strategy && (silo.riskModel !== 'netted' || view.market.option !== null)) return req;
  const m = view.market;
  const price = m.price(ticks);
  const own = openingInitialMargin(view, side, req.openLots, price);
  const sign = side === 'buy' ? 1 : -1;
  const marginal = marginalInitialMargin(e, silo, view, sign, req.openLots, price, lots - req.openLots);
  return { openLots: req.openLots, total: req.total - own + marginal };
}

/**
 * Refuses an order whose closing part would raise its strategy-model silo's initial margin above what the silo can
 * carry (silos.ts closeRaise), at the order's limit and worst-case taker fee. Only a pure close is checked here: an
 * order that also opens is judged on the whole fill by its requirement (orderNeeds).
 */
export function checkClose(
  e: EngineState,
  silo: Silo | null,
  view: PositionView,
  side: 'buy' | 'sell',
  lots: number,
  ticks: number,
): void {
  if (silo === null || !isStrategyModel(silo.riskModel)) return;
  const closeLots = Math.min(lots, closableLots(view, side));
  if (closeLots === 0 || closeLots < lots) return;
  const m = view.market;
  const price = m.price(ticks);
  const fee = ceilDiv(notional(m.inst, m.size(closeLots), price, 'ceil') * maxBig(m.takerFee, 0n), RATE_ONE);
  const r = closeRaise(e, silo, view, closeLots, price, fee);
  if (r === null) return;
  const money = (v: bigint) => `${fmtMoney(e, m.asset, v)} ${m.asset}`;
  throw new Rejection(
    'CLOSE_RAISES_REQUIREMENT',
    `closing ${m.symbol} would raise silo ${silo.id}'s initial margin from ${money(r.before)} to ${money(r.after)}, ` +
      `more than it can carry (available after ${money(r.available)}); close the other legs first or add collateral`,
  );
}

/** The position's leverage must be allowed by the tier the grown position would fall in. */
export function checkTier(p: PositionView, side: 'buy' | 'sell', openLots: number, ticks: number): void {
  const m = p.market;
  const sameSide = (side === 'buy' && p.sign > 0) || (side === 'sell' && p.sign < 0);
  const lots = (sameSide ? p.lots : 0) + openLots;
  const maxLev = ratesAt(m.inst, m.size(lots), m.price(ticks)).maxLeverage;
  if (p.leverage > maxLev) {
    throw new Rejection(
      'LEVERAGE_TOO_HIGH',
      `a position this large allows at most ${formatDecimal(maxLev, LEVERAGE_DP)}x; lower leverage first`,
    );
  }
}

/** A read-only stand-in for a position that does not exist yet (default mode and leverage, flat). */
export function flatView(m: Market, silo: Silo | null = null): PositionView {
  return {
    mode: silo === null ? 'isolated' : 'cross',
    leverage: m.defaultLeverage,
    sign: 0,
    lots: 0,
    entryPrice: 0n,
    size: 0n,
    market: m,
    fundingIndex: 0n,
  };
}

/** What may leave an isolated position's bucket (removeMargin); 0 for anything else. */
export function maxRemovable(e: EngineState, p: Position): bigint {
  if (p.sign === 0 || p.mode !== 'isolated') return 0n;
  if (p.market.option !== null) {
    // As a silo's: what stays covers initial margin with losses counted and profits not.
    const collateral = bucketAfterFunding(p);
    const r = minBig(collateral, collateral + minBig(positionPnl(p), 0n) - positionInitialMargin(p));
    return r > 0n ? r : 0n;
  }
  return maxRemovableMargin({
    inst: p.market.inst,
    conv: e.conventions,
    pos: positionInput(p),
    collateral: bucketAfterFunding(p),
    mark: valuationPrice(p),
    leverage: p.leverage,
  });
}
