/**
 * Named silos' requirements: the per-leg figures the engine already computes (initial margin at the leg's leverage,
 * the liquidation test's maintenance) combined under the silo's risk model — `standalone` sums them, `netted` is the
 * worst joint loss over core/silo.ts's scenario grid, floored and capped by the sum. Pure reads of state: the engine
 * decides and mutates.
 *
 * Money (as for the cross bucket): equity = bucket + uPnL − funding owed; what a silo can commit or give back is
 * bucket + min(uPnL − funding owed, 0) − initial margin (under its model) − its open orders' requirement, so an
 * unrealized profit backs the legs but never leaves the silo until it is realized.
 */
import { maxBig, minBig } from '../core/fixed.ts';
import { initialMarginAtLeverage, type MarginConventions, notional } from '../core/margin.ts';
import { type NettingParams, nettedRequirement, type SiloLeg } from '../core/silo.ts';
import type { Position, PositionView, Silo } from './account.ts';
import {
  legMaintenance,
  openingInitialMargin,
  pendingFunding,
  positionInitialMargin,
  positionInput,
  positionPnl,
  siloLegs,
  valuationPrice,
} from './risk.ts';

/** A leg as its model sees it: the base it moves with, its direction and its own requirement. */
export function legOf(p: Position, requirement: bigint): SiloLeg {
  return { base: p.market.config.base, market: p.market.symbol, sign: p.sign > 0 ? 1 : -1, requirement };
}

/**
 * Per-leg requirements combined under `silo`'s model (standalone: the sum). Option legs stand alone in a netted silo
 * too (their offsets are strategy margin, issue 18): the netted figure of the other legs plus the options' sum.
 */
export function combine(silo: Silo, legs: readonly SiloLeg[], netting: NettingParams): bigint {
  let sum = 0n;
  for (const l of legs) sum += l.requirement;
  if (silo.riskModel === 'standalone' || legs.length === 0) return sum;
  let options = 0n;
  const netted: SiloLeg[] = [];
  for (const l of legs) {
    if (l.market !== undefined && silo.positions.get(l.market)?.market.option) options += l.requirement;
    else netted.push(l);
  }
  if (netted.length === 0) return options;
  return (
    (netted.length === legs.length ? nettedRequirement(legs, netting) : nettedRequirement(netted, netting)) +
    options
  );
}

export interface SiloFigures {
  legs: Position[];
  /** Bucket + uPnL at valuation prices − funding owed (owed to the silo counts too, as the cross test does). */
  equity: bigint;
  /** uPnL − funding owed by the legs, funding owed to them left out (what `available` counts). */
  pnlForAvailable: bigint;
  initialMargin: bigint;
  maintenanceMargin: bigint;
  standaloneInitialMargin: bigint;
  standaloneMaintenanceMargin: bigint;
  /** Per leg, in `legs` order: price PnL and the liquidation test's maintenance. */
  pricePnl: bigint[];
  maintenance: bigint[];
}

/** Every figure of a silo at its legs' valuation prices. */
export function siloFigures(silo: Silo, conv: MarginConventions, netting: NettingParams): SiloFigures {
  const legs = siloLegs(silo);
  let equity = silo.bucket.balance;
  let pnlForAvailable = 0n;
  const ims: SiloLeg[] = [];
  const mms: SiloLeg[] = [];
  const pricePnl: bigint[] = [];
  const maintenance: bigint[] = [];
  for (const p of legs) {
    const price = valuationPrice(p);
    const pnl = positionPnl(p, price);
    const owed = pendingFunding(p);
    equity += pnl - owed;
    pnlForAvailable += owed > 0n ? pnl - owed : pnl;
    const mm = legMaintenance(conv, p.market, positionInput(p), price);
    pricePnl.push(pnl);
    maintenance.push(mm);
    ims.push(legOf(p, positionInitialMargin(p, price)));
    mms.push(legOf(p, mm));
  }
  const sum = (ls: SiloLeg[]) => ls.reduce((s, l) => s + l.requirement, 0n);
  return {
    legs,
    equity,
    pnlForAvailable,
    initialMargin: combine(silo, ims, netting),
    maintenanceMargin: combine(silo, mms, netting),
    standaloneInitialMargin: sum(ims),
    standaloneMaintenanceMargin: sum(mms),
    pricePnl,
    maintenance,
  };
}

/** What the silo can commit to new exposure (may be negative): its `available`, as the free balance's. */
export function siloAvailable(silo: Silo, conv: MarginConventions, netting: NettingParams): bigint {
  const f = siloFigures(silo, conv, netting);
  return silo.bucket.balance + minBig(f.pnlForAvailable, 0n) - f.initialMargin - silo.orderRequirement;
}

/**
 * The most collateral that can leave the silo (transferCollateral): what stays must cover initial margin under its
 * model with unrealized profit not counted and losses and funding owed counted, and its open orders; never more
 * than the bucket holds after the funding its legs owe.
 */
export function siloMaxRemovable(silo: Silo, conv: MarginConventions, netting: NettingParams): bigint {
  const f = siloFigures(silo, conv, netting);
  let owed = 0n;
  for (const p of f.legs) {
    const o = pendingFunding(p);
    if (o > 0n) owed += o;
  }
  const free = silo.bucket.balance + minBig(f.pnlForAvailable, 0n) - f.initialMargin - silo.orderRequirement;
  const r = minBig(free, silo.bucket.balance - owed);
  return r > 0n ? r : 0n;
}

/**
 * What opening `openLots` of a leg at `price` adds to a netted silo's initial margin: the model's figure with the
 * leg grown (or flipped: an order larger than what it closes) less the figure now, never below zero. A hedge can add
 * nothing; the order's fee and its loss against the mark are added by the caller.
 */
export function marginalInitialMargin(
  silo: Silo,
  p: PositionView,
  sign: 1 | -1,
  openLots: number,
  price: bigint,
  netting: NettingParams,
): bigint {
  // An option leg stands alone (see combine): what it adds is its own initial margin.
  if (p.market.option !== null) return openingInitialMargin(p, sign > 0 ? 'buy' : 'sell', openLots, price);
  const before: SiloLeg[] = [];
  const after: SiloLeg[] = [];
  for (const q of siloLegs(silo)) {
    const l = legOf(q, positionInitialMargin(q));
    before.push(l);
    if (q.market !== p.market) after.push(l);
  }
  const m = p.market;
  const kept = p.sign === sign ? positionInitialMargin(p) : 0n;
  const added = initialMarginAtLeverage(notional(m.inst, m.size(openLots), price, 'ceil'), p.leverage);
  after.push({ base: m.config.base, market: m.symbol, sign, requirement: kept + added });
  return maxBig(0n, combine(silo, after, netting) - combine(silo, before, netting));
}
