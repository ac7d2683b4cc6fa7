/**
 * Stage 2 of a command — pre-trade risk, per silo. What backs new exposure (a named silo's available collateral,
 * else the account's free balance in the asset), what an order needs under its silo's risk model, the leverage its
 * tier allows, and what may leave an isolated bucket. Pure queries over the state: the handlers compare, reject, and
 * only then mutate. The pure margin math is in risk.ts (positions), silos.ts (silos) and src/core.
 */
import { formatDecimal, minBig } from '../core/fixed.ts';
import { initialMarginAtLeverage, maxRemovableMargin, notional, ratesAt } from '../core/margin.ts';
import { LEVERAGE_DP } from '../core/rates.ts';
import type { Account, Position, PositionView, Silo } from './account.ts';
import type { Market } from './market.ts';
import {
  available,
  bucketAfterFunding,
  type OrderRequirement,
  orderRequirement,
  positionInitialMargin,
  positionInput,
  positionPnl,
  valuationPrice,
} from './risk.ts';
import { marginalInitialMargin, siloAvailable } from './silos.ts';
import type { EngineState } from './state.ts';
import { Rejection } from './types.ts';

/** What backs new exposure of `p`: its silo's available, else the account's free balance in the asset. */
export function freeFor(e: EngineState, a: Account, p: { silo: Silo | null; market: Market }): bigint {
  if (p.silo !== null) return siloAvailable(p.silo, e.conventions, e.netting);
  const w = a.wallets.get(p.market.asset);
  return w ? available(a, w, p.market.asset) : 0n;
}

/**
 * An order's requirement: `orderRequirement` (what the opening lots need at the leg's leverage, their loss against
 * the mark and the worst-case taker fee); in a netted silo, the initial margin part is what the opening lots add to
 * the silo's netted initial margin (a hedge may add nothing).
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
  // Option legs stand alone in a netted silo (silos.ts combine): their requirement is the order's own.
  if (silo === null || silo.riskModel !== 'netted' || req.openLots === 0 || view.market.option !== null)
    return req;
  const m = view.market;
  const price = m.price(ticks);
  const own = initialMarginAtLeverage(notional(m.inst, m.size(req.openLots), price, 'ceil'), view.leverage);
  const marginal = marginalInitialMargin(silo, view, side === 'buy' ? 1 : -1, req.openLots, price, e.netting);
  return { openLots: req.openLots, total: req.total - own + marginal };
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
