/**
 * Named silos' requirements: the per-leg figures the engine already computes (initial margin at the leg's leverage,
 * the liquidation test's maintenance) combined under the silo's risk model — `standalone` sums them, `netted` is the
 * worst joint loss over core/silo.ts's scenario grid, floored and capped by the sum; the option strategy models
 * (`maxLoss`, `strategy`, `scenario`) are core strategyMargin over the legs themselves (strategy-silos.ts). Pure
 * reads of state: the engine decides and mutates.
 *
 * Money (as for the cross bucket): equity = bucket + holdings + uPnL − funding owed; what a silo can commit or give
 * back is bucket + holdings + min(uPnL − funding owed, 0) − initial margin (under its model) − its open orders'
 * requirement, so an unrealized profit backs the legs but never leaves the silo until it is realized. Holdings in
 * other assets count at their haircut value (collateral.ts); for new risk only while their price is fresh.
 */
import { maxBig, minBig } from '../core/fixed.ts';
import { initialMarginAtLeverage, notional, unrealizedPnl } from '../core/margin.ts';
import { type NettingParams, nettedRequirement, type SiloLeg } from '../core/silo.ts';
import type { StrategyMarginResult } from '../core/strategy/types.ts';
import type { Position, PositionView, Silo } from './account.ts';
import { holdingsValue } from './collateral.ts';
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
import type { EngineState } from './state.ts';
import { isStrategyModel, type LegFigures, strategyFigures, strategyReadFigures } from './strategy-silos.ts';

/**
 * A leg as its model sees it: the base it moves with, its direction, its own requirement, and whether it is an
 * option — carried on the leg, so a hypothetical leg (a combo's on a market the silo never held) is told apart too.
 */
export interface NettedLeg extends SiloLeg {
  option: boolean;
}

export function legOf(p: PositionView, requirement: bigint): NettedLeg {
  const m = p.market;
  const sign = p.sign > 0 ? 1 : -1;
  return { base: m.config.base, market: m.symbol, sign, requirement, option: m.option !== null };
}

/**
 * Per-leg requirements combined under `silo`'s model (standalone: the sum). Option legs stand alone in a netted silo
 * too (their offsets are the strategy models', strategy-silos.ts): the netted figure of the other legs plus the options' sum.
 */
export function combine(silo: Silo, legs: readonly NettedLeg[], netting: NettingParams): bigint {
  // The strategy models need the legs themselves, not their requirements: callers take siloFiguresOver's path.
  if (isStrategyModel(silo.riskModel)) throw new Error(`bug: combine() on ${silo.riskModel} silo ${silo.id}`);
  let sum = 0n;
  for (const l of legs) sum += l.requirement;
  if (silo.riskModel === 'standalone' || legs.length === 0) return sum;
  let options = 0n;
  const netted: NettedLeg[] = [];
  for (const l of legs) {
    if (l.option) options += l.requirement;
    else netted.push(l);
  }
  if (netted.length === 0) return options;
  return (
    (netted.length === legs.length ? nettedRequirement(legs, netting) : nettedRequirement(netted, netting)) +
    options
  );
}

export interface SiloFigures<L extends PositionView = Position> {
  legs: L[];
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
  /** Under a strategy model, in a read: the model's result (max loss, worst case, recognised strategies; WAD).
   * Null otherwise — a re-check (`'requirement'`) takes the requirement alone and skips the recogniser. */
  strategy: StrategyMarginResult | null;
  /**
   * What the silo could commit to new exposure (may be negative): bucket (+ the hypothetical bucket move) +
   * min(pnlForAvailable, 0) − initial margin − its open orders' requirement.
   */
  available: bigint;
}

/**
 * How much of a strategy model's result a caller needs: `read` (a silo read: max loss and recognised strategies in
 * `strategy`) or `requirement` (a re-check — available, pre-trade, combo, auto-add: the same figures, `strategy`
 * null, no recogniser unless the model is `strategy`).
 */
export type FigureDetail = 'read' | 'requirement';

/** Every figure of a silo at its legs' valuation prices. */
export function siloFigures(e: EngineState, silo: Silo, detail: FigureDetail = 'read'): SiloFigures {
  return siloFiguresOver(e, silo, siloLegs(silo), 0n, detail);
}

/**
 * A silo's figures over any list of leg views — its real legs, or hypothetical post-trade ones (a combo's plan):
 * the bucket as it stands, each view valued at its market's valuation price, combined under the silo's model.
 * Flat views (sign 0) count nothing. `bucketDelta`: money the hypothetical trade moves in or out of the bucket
 * (realized PnL, fees), counted in equity and so in what the silo has available.
 */
export function siloFiguresOver<L extends PositionView>(
  e: EngineState,
  silo: Silo,
  views: readonly L[],
  bucketDelta = 0n,
  detail: FigureDetail = 'read',
): SiloFigures<L> {
  const legs = views.filter((p) => p.sign !== 0);
  const strategy = isStrategyModel(silo.riskModel);
  const figures: LegFigures[] = [];
  // Holdings in other assets (collateral.ts): at their haircut value in equity; for new risk only while priced.
  const held = silo.holdings.size > 0 ? holdingsValue(e, silo, false) : 0n;
  const heldForRisk = silo.holdings.size > 0 ? holdingsValue(e, silo, true) : 0n;
  let equity = silo.bucket.balance + bucketDelta + held;
  let pnlForAvailable = 0n;
  const ims: NettedLeg[] = [];
  const mms: NettedLeg[] = [];
  const pricePnl: bigint[] = [];
  const maintenance: bigint[] = [];
  for (const p of legs) {
    const price = valuationPrice(p);
    const pnl = positionPnl(p, price);
    const owed = pendingFunding(p);
    equity += pnl - owed;
    pnlForAvailable += owed > 0n ? pnl - owed : pnl;
    const mm = legMaintenance(e.conventions, p.market, positionInput(p), price);
    pricePnl.push(pnl);
    maintenance.push(mm);
    const im = positionInitialMargin(p, price);
    ims.push(legOf(p, im));
    mms.push(legOf(p, mm));
    if (strategy) figures.push({ price, pnl, initialMargin: im, maintenanceMargin: mm });
  }
  const sum = (ls: NettedLeg[]) => ls.reduce((s, l) => s + l.requirement, 0n);
  const priced = strategy && legs.length > 0;
  const full = priced && detail === 'read' ? strategyReadFigures(e, silo, legs, figures) : null;
  const model = full ?? (priced ? strategyFigures(e, silo, legs, figures) : null);
  const out: SiloFigures<L> = {
    legs,
    equity,
    pnlForAvailable,
    initialMargin: model !== null ? model.initialMargin : strategy ? 0n : combine(silo, ims, e.netting),
    maintenanceMargin:
      model !== null ? model.maintenanceMargin : strategy ? 0n : combine(silo, mms, e.netting),
    standaloneInitialMargin: sum(ims),
    standaloneMaintenanceMargin: sum(mms),
    pricePnl,
    maintenance,
    strategy: full?.result ?? null,
    available: 0n,
  };
  out.available =
    silo.bucket.balance +
    bucketDelta +
    heldForRisk +
    minBig(pnlForAvailable, 0n) -
    out.initialMargin -
    silo.orderRequirement;
  return out;
}

/** What the silo can commit to new exposure (may be negative): its `available`, as the free balance's. */
export function siloAvailable(e: EngineState, silo: Silo): bigint {
  return siloFigures(e, silo, 'requirement').available;
}

/**
 * The most collateral that can leave the silo (transferCollateral): what stays must cover initial margin under its
 * model with unrealized profit not counted and losses and funding owed counted, and its open orders; never more
 * than the bucket holds after the funding its legs owe.
 */
export function siloMaxRemovable(e: EngineState, silo: Silo): bigint {
  const f = siloFigures(e, silo, 'requirement');
  let owed = 0n;
  for (const p of f.legs) {
    const o = pendingFunding(p);
    if (o > 0n) owed += o;
  }
  const r = minBig(f.available, silo.bucket.balance - owed);
  return r > 0n ? r : 0n;
}

/**
 * What opening `openLots` of a leg at `price` adds to a netted or strategy-model silo's initial margin: the model's
 * figure with the leg grown (or flipped: an order larger than the `closeLots` it closes) less the figure now, never
 * below zero. A hedge can add nothing; the order's fee and its loss against the mark are added by the caller.
 * `legs`: the silo's open legs (a combo's plan passes them as its earlier fills leave them).
 */
export function marginalInitialMargin(
  e: EngineState,
  silo: Silo,
  p: PositionView,
  sign: 1 | -1,
  openLots: number,
  price: bigint,
  closeLots = 0,
  legs: readonly PositionView[] = siloLegs(silo),
): bigint {
  if (isStrategyModel(silo.riskModel)) {
    const after = withLeg(legs, viewAfterFill(p, sign, closeLots, openLots, price));
    const grown = siloFiguresOver(e, silo, after, 0n, 'requirement').initialMargin;
    return maxBig(0n, grown - siloFiguresOver(e, silo, legs, 0n, 'requirement').initialMargin);
  }
  // An option leg stands alone in a netted silo (see combine): what it adds is its own initial margin.
  if (p.market.option !== null) return openingInitialMargin(p, sign > 0 ? 'buy' : 'sell', openLots, price);
  const before: NettedLeg[] = [];
  const after: NettedLeg[] = [];
  for (const q of legs) {
    const l = legOf(q, positionInitialMargin(q));
    before.push(l);
    if (q.market !== p.market) after.push(l);
  }
  const m = p.market;
  const kept = p.sign === sign ? positionInitialMargin(p) : 0n;
  const added = initialMarginAtLeverage(notional(m.inst, m.size(openLots), price, 'ceil'), p.leverage);
  after.push({ ...legOf(p, kept + added), sign });
  return maxBig(0n, combine(silo, after, e.netting) - combine(silo, before, e.netting));
}

/**
 * `p` as a fill of `closeLots` closing and then `openLots` opening on side `sign` at `price` would leave it (the
 * arithmetic of settle.ts settleSide: closing keeps the entry, opening averages it against the holder).
 */
export function viewAfterFill(
  p: PositionView,
  sign: 1 | -1,
  closeLots: number,
  openLots: number,
  price: bigint,
): PositionView {
  const m = p.market;
  let lots = p.lots - closeLots;
  let side: 1 | -1 | 0 = lots === 0 ? 0 : p.sign;
  let entry = lots === 0 ? 0n : p.entryPrice;
  if (openLots > 0 && side === 0) {
    side = sign;
    entry = price;
    lots = openLots;
  } else if (openLots > 0) {
    const total = BigInt(lots + openLots);
    const num = entry * BigInt(lots) + price * BigInt(openLots);
    entry = side > 0 ? (num + total - 1n) / total : num / total;
    lots += openLots;
  }
  return {
    market: m,
    leverage: p.leverage,
    mode: p.mode,
    fundingIndex: p.fundingIndex,
    sign: side,
    lots,
    entryPrice: entry,
    size: m.size(lots),
  };
}

/** The silo's open legs with the leg on `after`'s market replaced by `after` (added when the silo has none there). */
export function legsWith(silo: Silo, after: PositionView): PositionView[] {
  return withLeg(siloLegs(silo), after);
}

/** `legs` with the leg on `after`'s market replaced by `after` (added when there is none). */
function withLeg(legs: readonly PositionView[], after: PositionView): PositionView[] {
  const out: PositionView[] = [];
  let found = false;
  for (const q of legs) {
    if (q.market === after.market) {
      found = true;
      out.push(after);
    } else out.push(q);
  }
  if (!found) out.push(after);
  return out;
}

/** A close the silo cannot carry: its initial margin before and after, and what it would have available after. */
export interface CloseRaise {
  before: bigint;
  after: bigint;
  available: bigint;
}

/**
 * Whether closing `closeLots` of leg `p` at `price` (paying `fee`) raises a strategy-model silo's initial margin
 * above what it can carry: initial margin after > before and available after < 0 (the close's realized PnL and fee
 * counted in the bucket). Null when the close is fine — always for the other models, where closing only frees margin.
 * Closing one leg of a spread can leave a naked short that needs far more than the spread did. `legs` and
 * `bucketDelta`: the silo's open legs and a move of its bucket (a combo's plan: as its earlier fills leave them).
 */
export function closeRaise(
  e: EngineState,
  silo: Silo,
  p: PositionView,
  closeLots: number,
  price: bigint,
  fee: bigint,
  legs: readonly PositionView[] = siloLegs(silo),
  bucketDelta = 0n,
): CloseRaise | null {
  if (!isStrategyModel(silo.riskModel) || closeLots === 0 || p.sign === 0) return null;
  const m = p.market;
  const realized = unrealizedPnl(m.inst, { ...positionInput(p), size: m.size(closeLots) }, price);
  const after = withLeg(legs, viewAfterFill(p, p.sign > 0 ? -1 : 1, closeLots, 0, price));
  const before = siloFiguresOver(e, silo, legs, 0n, 'requirement').initialMargin;
  const f = siloFiguresOver(e, silo, after, bucketDelta + realized - fee, 'requirement');
  if (f.initialMargin <= before || f.available >= 0n) return null;
  return { before, after: f.initialMargin, available: f.available };
}
