/**
 * Read models: positions with ccxt's Position fields and balances with ccxt's free/used/total shape.
 * Decimals travel as strings (ccxt returns numbers; strings keep them exact). Reads only, off the command pipeline:
 * the service and tests pass the engine (an EngineState) between commands.
 */
import { ceilDiv, floorDiv, formatDecimal } from '../core/fixed.ts';
import { computeIndex } from '../core/index-price.ts';
import {
  bankruptcyPrice,
  conservativeRounding,
  liquidationPrice,
  marginRatio,
  notional,
  unrealizedPnl,
} from '../core/margin.ts';
import { LEVERAGE_DP, RATE_DP } from '../core/rates.ts';
import type { RecognisedStrategy, StrategyType, WorstCase } from '../core/strategy/types.ts';
import { BACKSTOP_ACCOUNT, DEFAULT_CLOSE_ORDER, type Position, type Silo } from './account.ts';
import { type HoldingView, holdingsValue, holdingViews } from './collateral.ts';
import { MAX_PRICE_TICKS, type Market } from './market.ts';
import { type OracleConfig, type Validity, validityAt } from './oracle.ts';
import { maxRemovable } from './pretrade.ts';
import { crossPositions } from './realize.ts';
import {
  available,
  bucketAfterFunding,
  legMaintenance,
  pendingFunding,
  positionInitialMargin,
  positionInput,
  positionPnl,
  siloLegs,
  valuationPrice,
} from './risk.ts';
import { combine, legOf, type SiloFigures, siloFigures, siloMaxRemovable } from './silos.ts';
import type { EngineState } from './state.ts';
import { isStrategyModel, settleUnits, strategyFigures } from './strategy-silos.ts';
import type { SiloCloseOrder, SiloRiskModel } from './types.ts';

export interface PositionView {
  symbol: string;
  side: 'long' | 'short' | null;
  contracts: string;
  contractSize: string;
  entryPrice: string | null;
  markPrice: string | null;
  notional: string;
  leverage: string;
  collateral: string;
  initialMargin: string;
  maintenanceMargin: string;
  marginRatio: string | null;
  liquidationPrice: string | null;
  /**
   * How far the mark is from the liquidation price, in percent of the mark: positive while the mark is on the safe
   * side, negative past it; 2 decimals, rounded toward danger (down). Null without a liquidation price or a mark.
   */
  liquidationDistancePercent: string | null;
  /**
   * Where the position's own collateral (isolated) or the cross balance backing it is used up — what the insurance
   * fund covers beyond. Null for a named silo's leg (its silo is one box) and for options.
   */
  bankruptcyPrice: string | null;
  /** Auto-add margin of an isolated position, or of the named silo a leg belongs to; null: off. */
  autoAddMargin: { policy: string; trigger: string } | null;
  unrealizedPnl: string;
  realizedPnl: string;
  marginMode: 'isolated' | 'cross';
  /** uPnL as a percentage of initial margin (ccxt's `percentage`). */
  percentage: string | null;
  /** Funding accrued but not yet settled into the collateral: positive is owed by the position. */
  pendingFunding: string;
  /** The named silo this position is a leg of; null: a default (isolated or cross) position. */
  silo: string | null;
}

export function positionView(e: EngineState, p: Position): PositionView {
  const m = p.market;
  const inst = m.inst;
  const money = (v: bigint) => formatDecimal(v, inst.settleDp);
  const price = valuationPrice(p);
  const open = p.sign !== 0;
  const n = open ? notional(inst, p.size, price, 'ceil') : 0n;
  const pnl = positionPnl(p, price);
  const im = positionInitialMargin(p, price);
  // The maintenance the liquidation test uses, on the engine's basis (agrees with liquidationPrice).
  const mm = open ? legMaintenance(e.conventions, m, positionInput(p), price) : 0n;
  const iso = p.mode === 'isolated';
  const collateral = iso ? p.bucket.balance : im;
  const lp = open ? positionLiquidationPrice(e, p) : null;
  return {
    symbol: m.symbol,
    side: p.side,
    contracts: formatDecimal(p.size, inst.sizeDp),
    contractSize: formatDecimal(inst.multiplier, inst.multiplierDp),
    entryPrice: open ? formatDecimal(p.entryPrice, inst.priceDp) : null,
    markPrice: m.mark === null ? null : formatDecimal(m.mark, inst.priceDp),
    notional: money(n),
    leverage: formatDecimal(p.leverage, LEVERAGE_DP),
    collateral: money(collateral),
    initialMargin: money(im),
    maintenanceMargin: money(mm),
    marginRatio: open && iso ? fmtRate(marginRatio(mm, bucketAfterFunding(p) + pnl)) : null,
    liquidationPrice: lp === null ? null : formatDecimal(lp, inst.priceDp),
    liquidationDistancePercent: fmtDistance(liquidationDistance(p, lp)),
    bankruptcyPrice: fmtOpt(open ? positionBankruptcyPrice(e, p) : null, inst.priceDp),
    autoAddMargin: autoAddView(p.silo?.autoAdd ?? p.autoAdd),
    unrealizedPnl: money(pnl),
    realizedPnl: money(p.realizedPnl),
    marginMode: p.mode,
    percentage: im > 0n ? formatDecimal((pnl * 10_000n) / im, 2) : null,
    pendingFunding: money(pendingFunding(p)),
    silo: p.silo?.id ?? null,
  };
}

const fmtOpt = (v: bigint | null, dp: number): string | null => (v === null ? null : formatDecimal(v, dp));

function autoAddView(a: { policy: string; trigger: bigint } | null): PositionView['autoAddMargin'] {
  return a === null ? null : { policy: a.policy, trigger: formatDecimal(a.trigger, RATE_DP) };
}

/**
 * Where a default position's backing is used up (equity zero), with the conservative rounding the liquidation price
 * uses: an isolated position's own collateral net of funding due; a cross position's balance plus the rest of the
 * cross book's net (the same backing its liquidation price is searched on). A named silo's leg has none of its own.
 */
export function positionBankruptcyPrice(e: EngineState, p: Position): bigint | null {
  if (p.market.option !== null || p.silo !== null) return null;
  const collateral =
    p.mode === 'isolated'
      ? bucketAfterFunding(p)
      : (p.account.wallets.get(p.market.asset)?.main.balance ?? 0n) + otherCrossNet(e, p);
  return bankruptcyPrice({
    inst: p.market.inst,
    conv: conservativeRounding(e.conventions),
    pos: positionInput(p),
    collateral,
  });
}

/**
 * Where an open position is liquidated, its market's price alone moving (the others held at their marks), shown as
 * the engine files it: the tick before the first failing one, whatever the display convention. A netted silo's leg
 * is searched on the silo's exact test (its maintenance is not a sum).
 */
export function positionLiquidationPrice(e: EngineState, p: Position): bigint | null {
  // An option's maintenance moves with its underlying and vol, not with its own price alone: no single price to show.
  if (p.market.option !== null) return null;
  const conv = conservativeRounding(e.conventions);
  if (p.silo !== null && isStrategyModel(p.silo.riskModel)) {
    // With an option in the silo its requirement moves with the options' marks too: no single price to show.
    for (const q of siloLegs(p.silo)) if (q.market.option !== null) return null;
    return nettedLiquidationPrice(e, p.silo, p);
  }
  // A silo holding other assets is searched too: a holding its own market prices moves with the candidate price.
  if (p.silo?.riskModel === 'netted' || (p.silo !== null && p.silo.holdings.size > 0))
    return nettedLiquidationPrice(e, p.silo, p);
  if (p.mode === 'isolated')
    return liquidationPrice({
      inst: p.market.inst,
      conv,
      pos: positionInput(p),
      collateral: bucketAfterFunding(p),
    });
  const backing =
    p.silo !== null ? p.silo.bucket.balance : (p.account.wallets.get(p.market.asset)?.main.balance ?? 0n);
  return liquidationPrice({
    inst: p.market.inst,
    conv,
    pos: positionInput(p),
    collateral: backing + otherCrossNet(e, p),
  });
}

/**
 * A netted (or strategy-model) silo's test (equity < maintenance under its model) with `p`'s price at `ticks`, the
 * other legs at their marks.
 */
function nettedFails(e: EngineState, silo: Silo, p: Position, price: bigint): boolean {
  let equity = silo.bucket.balance;
  if (silo.holdings.size > 0)
    equity += holdingsValue(e, silo, false, null, { symbol: p.market.symbol, price });
  const legs = siloLegs(silo);
  const figures = legs.map((q) => {
    const at = q === p ? price : valuationPrice(q);
    const pnl = unrealizedPnl(q.market.inst, positionInput(q), at);
    equity += pnl - pendingFunding(q);
    const mm = legMaintenance(e.conventions, q.market, positionInput(q), at);
    return { price: at, pnl, initialMargin: positionInitialMargin(q, at), maintenanceMargin: mm };
  });
  if (isStrategyModel(silo.riskModel))
    return equity < strategyFigures(e, silo, legs, figures).maintenanceMargin;
  const mms = legs.map((q, i) => legOf(q, figures[i]!.maintenanceMargin));
  return equity < combine(silo, mms, e.netting);
}

/** The tick before the first failing one in `p`'s adverse direction (bisection on ticks); null: none. */
function nettedLiquidationPrice(e: EngineState, silo: Silo, p: Position): bigint | null {
  const tick = p.market.inst.tickSize;
  const long = p.sign > 0;
  const start = valuationPrice(p);
  let safe = long ? start / tick : ceilDiv(start, tick);
  let bad = long ? 1n : BigInt(MAX_PRICE_TICKS);
  const fails = (t: bigint) => nettedFails(e, silo, p, t * tick);
  if (fails(safe)) return start;
  if ((long ? safe <= bad : safe >= bad) || !fails(bad)) return null;
  while (long ? safe - bad > 1n : bad - safe > 1n) {
    const mid = (safe + bad) / 2n;
    if (fails(mid)) bad = mid;
    else safe = mid;
  }
  return safe * tick;
}

/**
 * What the rest of the cross bucket adds to this position's collateral (Binance's UPNL₁ − TMM₁): the other cross
 * positions' PnL less their maintenance, less the funding every cross position in the asset owes (this one's too).
 * Maintenance and funding are the liquidation test's own (`crossState` in liquidation.ts), so the price shown is
 * where the engine liquidates (to the tick, rounded toward liquidation), the others held at their marks. (Plain
 * maintenance and no funding, as this once was, showed a price past the real one: funding owed moved it by
 * funding / size.)
 */
function otherCrossNet(e: EngineState, me: Position): bigint {
  let net = -pendingFunding(me);
  for (const p of me.account.positions.values()) {
    if (
      p === me ||
      p.mode !== 'cross' ||
      p.silo !== me.silo ||
      p.sign === 0 ||
      p.market.asset !== me.market.asset
    )
      continue;
    if (p.market.closed) continue;
    const price = valuationPrice(p);
    net +=
      positionPnl(p, price) -
      pendingFunding(p) -
      legMaintenance(e.conventions, p.market, positionInput(p), price);
  }
  return net;
}

const fmtRate = (r: bigint | null) => (r === null ? null : formatDecimal(r, RATE_DP));

/** Decimals of `liquidationDistancePercent` (the figure is in hundredths of a percent). */
export const DISTANCE_DP = 2;

/**
 * How far `p`'s market mark is from its liquidation price `lp`, in hundredths of a percent of the mark: (mark − lp)
 * for a long, (lp − mark) for a short, over the mark. Positive while the mark is on the safe side, negative past it;
 * rounded toward danger (down, whatever the sign). Null without a liquidation price or a mark.
 */
export function liquidationDistance(p: Position, lp: bigint | null): bigint | null {
  const d = distanceRatio(p, lp);
  return d === null ? null : floorDiv(d.num * 10n ** BigInt(2 + DISTANCE_DP), d.den);
}

/** The exact distance as a fraction of the mark (den > 0): what `liquidationDistance` rounds, and what ranks. */
function distanceRatio(p: Position, lp: bigint | null): { num: bigint; den: bigint } | null {
  const mark = p.market.mark;
  if (lp === null || mark === null || mark <= 0n || p.sign === 0) return null;
  return { num: p.sign > 0 ? mark - lp : lp - mark, den: mark };
}

export const fmtDistance = (d: bigint | null): string | null =>
  d === null ? null : formatDecimal(d, DISTANCE_DP, true);

export function positionsOf(e: EngineState, accountId: string): PositionView[] {
  const a = e.accounts.get(accountId);
  if (!a) return [];
  return [...a.positions.values()].filter((p) => p.sign !== 0).map((p) => positionView(e, p));
}

export interface BalanceView {
  asset: string;
  /** Available to withdraw or commit. */
  free: string;
  /** In isolated buckets, order reserves and cross requirements. */
  used: string;
  total: string;
}

export function balancesOf(e: EngineState, accountId: string): BalanceView[] {
  const a = e.accounts.get(accountId);
  if (!a) return [];
  return [...a.wallets.keys()].sort().map((asset) => {
    const w = a.wallets.get(asset)!;
    const dp = e.assets.get(asset) ?? 0;
    let isolated = 0n;
    for (const p of a.positions.values()) if (p.market.asset === asset) isolated += p.bucket.balance;
    // Named silos' collateral is the owner's too: used, never free.
    for (const silo of a.silos.values()) if (silo.asset === asset) isolated += silo.bucket.balance;
    const total = w.main.balance + w.reserved.balance + isolated;
    const free = available(a, w, asset);
    const freeClamped = free > 0n ? free : 0n;
    return {
      asset,
      free: formatDecimal(freeClamped, dp),
      used: formatDecimal(total - freeClamped, dp),
      total: formatDecimal(total, dp),
    };
  });
}

/**
 * A collateral box as a whole: the account's cross bucket per asset (id `cross:<ASSET>`), each open isolated position
 * (`isolated:<SYMBOL>`), each named silo (its id). Amounts are bigints in settle units (the service formats them);
 * `initialMargin`/`maintenanceMargin` are under the silo's model, the `standalone…` fields the plain sums (their
 * difference is the offset netting grants). `liquidationPrices`: per leg, its market's price (others held) at which
 * the box is liquidated, shown as the engine files it (the tick before the first failing one).
 */
export interface SiloView {
  id: string;
  kind: 'cross' | 'isolated' | 'named';
  asset: string;
  riskModel: SiloRiskModel;
  /** The order its legs close in when it is liquidated (the cross bucket's and an isolated position's: the default). */
  closeOrder: SiloCloseOrder;
  collateral: bigint;
  equity: bigint;
  initialMargin: bigint;
  maintenanceMargin: bigint;
  standaloneInitialMargin: bigint;
  standaloneMaintenanceMargin: bigint;
  /** Maintenance / equity (RATE_DP); null without legs or equity. */
  marginRatio: bigint | null;
  maxRemovable: bigint;
  legs: PositionView[];
  liquidationPrices: Record<string, bigint | null>;
  /** Per leg, `liquidationDistance` of its liquidation price above (hundredths of a percent; null: none). */
  liquidationDistancePercent: Record<string, bigint | null>;
  /**
   * Option strategy models (null / empty otherwise): the silo's worst loss at expiry over all settlement prices, from
   * entry prices (settle units, rounded up; null when unbounded), the recognised strategies' types joined by " + "
   * (null if none), the strategies, and where the binding figure came from.
   */
  maxLoss: bigint | null;
  strategy: string | null;
  strategies: StrategyView[];
  worst: WorstCase | null;
  /** A named silo under its owner's rebalancing settings (its role, and whether it waits parked); null otherwise. */
  rebalancing: { giver: boolean; receiver: boolean; parked: boolean } | null;
  /** A named silo's holdings in other assets (collateral.ts), counted in `equity` at `value`; empty otherwise. */
  holdings: HoldingView[];
}

/** A recognised strategy in a silo read: its legs by symbol and size (units of underlying, WAD), money in settle units. */
export interface StrategyView {
  type: StrategyType;
  direction: RecognisedStrategy['direction'];
  underlying: string;
  expiry: number | null;
  legs: { symbol: string; size: bigint }[];
  initialMargin: bigint;
  maintenanceMargin: bigint;
  maxLoss: bigint | null;
}

/** The strategy-model part of a silo read (see SiloView). */
function strategyPart(
  e: EngineState,
  silo: Silo | null,
  f: SiloFigures | null,
): Pick<SiloView, 'maxLoss' | 'strategy' | 'strategies' | 'worst'> {
  const r = f?.strategy ?? null;
  if (silo === null || f === null || r === null)
    return { maxLoss: null, strategy: null, strategies: [], worst: null };
  const strategies = r.strategies.map((s) => ({
    type: s.type,
    direction: s.direction,
    underlying: s.underlying,
    expiry: s.expiry ?? null,
    legs: s.legs.map((l) => ({ symbol: f.legs[l.leg]!.market.symbol, size: l.size })),
    initialMargin: settleUnits(e, silo, s.initialMargin)!,
    maintenanceMargin: settleUnits(e, silo, s.maintenanceMargin)!,
    maxLoss: settleUnits(e, silo, s.maxLoss),
  }));
  return {
    maxLoss: settleUnits(e, silo, r.maxLoss),
    strategy: strategies.length === 0 ? null : strategies.map((s) => s.type).join(' + '),
    strategies,
    worst: r.worst,
  };
}

export function silosOf(e: EngineState, accountId: string): SiloView[] {
  const a = e.accounts.get(accountId);
  if (!a) return [];
  const out: SiloView[] = [];
  for (const asset of [...a.wallets.keys()].sort()) {
    const w = a.wallets.get(asset)!;
    const legs = crossPositions(a, asset);
    const sums = pooledSums(e, legs);
    const equity = w.main.balance + sums.pnl;
    out.push({
      id: `cross:${asset}`,
      kind: 'cross',
      asset,
      riskModel: 'standalone',
      closeOrder: DEFAULT_CLOSE_ORDER,
      collateral: w.main.balance,
      equity,
      initialMargin: sums.im,
      maintenanceMargin: sums.mm,
      standaloneInitialMargin: sums.im,
      standaloneMaintenanceMargin: sums.mm,
      marginRatio: legs.length === 0 ? null : marginRatio(sums.mm, equity),
      maxRemovable: maxZero(available(a, w, asset)),
      legs: legs.map((p) => positionView(e, p)),
      ...prices(e, legs),
      ...strategyPart(e, null, null),
      rebalancing: null,
      holdings: [],
    });
  }
  const isolated = [...a.positions.values()]
    .filter((p) => p.silo === null && p.mode === 'isolated' && p.sign !== 0)
    .sort((x, y) => (x.market.symbol < y.market.symbol ? -1 : x.market.symbol > y.market.symbol ? 1 : 0));
  for (const p of isolated) {
    const sums = pooledSums(e, [p]);
    const equity = p.bucket.balance + sums.pnl;
    out.push({
      id: `isolated:${p.market.symbol}`,
      kind: 'isolated',
      asset: p.market.asset,
      riskModel: 'standalone',
      closeOrder: DEFAULT_CLOSE_ORDER,
      collateral: p.bucket.balance,
      equity,
      initialMargin: sums.im,
      maintenanceMargin: sums.mm,
      standaloneInitialMargin: sums.im,
      standaloneMaintenanceMargin: sums.mm,
      marginRatio: marginRatio(sums.mm, equity),
      maxRemovable: maxRemovable(e, p),
      legs: [positionView(e, p)],
      ...prices(e, [p]),
      ...strategyPart(e, null, null),
      rebalancing: null,
      holdings: [],
    });
  }
  for (const silo of a.silos.values()) {
    const f = siloFigures(e, silo);
    out.push({
      id: silo.id,
      kind: 'named',
      asset: silo.asset,
      riskModel: silo.riskModel,
      closeOrder: silo.closeOrder,
      collateral: silo.bucket.balance,
      equity: f.equity,
      initialMargin: f.initialMargin,
      maintenanceMargin: f.maintenanceMargin,
      standaloneInitialMargin: f.standaloneInitialMargin,
      standaloneMaintenanceMargin: f.standaloneMaintenanceMargin,
      marginRatio: f.legs.length === 0 ? null : marginRatio(f.maintenanceMargin, f.equity),
      maxRemovable: siloMaxRemovable(e, silo),
      legs: f.legs.map((p) => positionView(e, p)),
      ...prices(e, f.legs),
      ...strategyPart(e, silo, f),
      rebalancing: rebalancingRole(silo),
      holdings: holdingViews(e, silo),
    });
  }
  return out;
}

function rebalancingRole(silo: Silo): SiloView['rebalancing'] {
  const r = silo.account.rebalancing.get(silo.asset);
  if (r === undefined) return null;
  const giver = r.givers.includes(silo.id);
  const receiver = r.receivers.includes(silo.id);
  return giver || receiver ? { giver, receiver, parked: silo.rebalanceParked } : null;
}

function maxZero(v: bigint): bigint {
  return v > 0n ? v : 0n;
}

/** Σ (uPnL − funding owed), Σ initial margin, Σ the liquidation test's maintenance, at valuation prices. */
function pooledSums(e: EngineState, legs: readonly Position[]): { pnl: bigint; im: bigint; mm: bigint } {
  let pnl = 0n;
  let im = 0n;
  let mm = 0n;
  for (const p of legs) {
    const price = valuationPrice(p);
    pnl += positionPnl(p, price) - pendingFunding(p);
    im += positionInitialMargin(p, price);
    mm += legMaintenance(e.conventions, p.market, positionInput(p), price);
  }
  return { pnl, im, mm };
}

function prices(
  e: EngineState,
  legs: readonly Position[],
): Pick<SiloView, 'liquidationPrices' | 'liquidationDistancePercent'> {
  const liquidationPrices: Record<string, bigint | null> = {};
  const liquidationDistancePercent: Record<string, bigint | null> = {};
  for (const p of legs) {
    const lp = positionLiquidationPrice(e, p);
    liquidationPrices[p.market.symbol] = lp;
    liquidationDistancePercent[p.market.symbol] = liquidationDistance(p, lp);
  }
  return { liquidationPrices, liquidationDistancePercent };
}

/**
 * A position near its liquidation price, as the venue's risk screen lists it. Prices at the market's decimals, money
 * at the settle asset's; `marginRatio` and `collateral` are the box's that would be liquidated (the isolated position,
 * the named silo, or the account's cross bucket in that asset), `marginRatio` null when it has no equity left.
 */
export interface LiquidationRiskView {
  account: string;
  symbol: string;
  side: 'long' | 'short';
  marginMode: 'isolated' | 'cross';
  silo: string | null;
  contracts: string;
  entryPrice: string;
  markPrice: string;
  liquidationPrice: string;
  liquidationDistancePercent: string;
  marginRatio: string | null;
  collateral: string;
}

/** Candidates taken per market side for each row asked for (see closestToLiquidation). */
export const CANDIDATES_PER_ROW = 2;

interface Candidate {
  p: Position;
  lp: bigint;
  num: bigint;
  den: bigint;
}

/**
 * The `limit` open positions nearest their liquidation price across the venue (or one market), nearest first, from
 * the liquidation index rather than a scan. Each market's longs and shorts are walked outward from the mark
 * (`LiquidationIndex.nearest`), up to `limit × CANDIDATES_PER_ROW` positions per side, plus the positions waiting to
 * be re-filed (the index's `stale` set, still at an old key or none). The index orders by its trigger — the
 * liquidation price, or the earlier auto-add price, or for cross positions a per-account bound (each position's
 * share of the surplus), all on the safe side of the real price — so the walk takes a margin of candidates, then
 * each one's exact liquidation price (`positionLiquidationPrice`, the figure GET positions shows) ranks them: by the
 * exact distance over the mark, ties by account, symbol and silo. A position whose trigger is much earlier than its
 * real price (a cross account with several positions) can rank behind its place in the walk, so under a long list of
 * such candidates a real price just beyond the walk's reach may be missed. Option markets are skipped (no single
 * liquidation price), as are markets without a mark and legs of strategy-model silos (filed for every mark, not by
 * a trigger). Reads only.
 */
export function closestToLiquidation(e: EngineState, limit: number, symbol?: string): LiquidationRiskView[] {
  const budget = Math.max(1, limit) * CANDIDATES_PER_ROW;
  const found: Candidate[] = [];
  const seen = new Set<Position>();
  const consider = (p: Position) => {
    if (seen.has(p) || p.sign === 0 || p.account.id === BACKSTOP_ACCOUNT) return;
    seen.add(p);
    if (p.silo !== null && isStrategyModel(p.silo.riskModel)) return;
    const lp = positionLiquidationPrice(e, p);
    const d = distanceRatio(p, lp);
    if (lp !== null && d !== null) found.push({ p, lp, num: d.num, den: d.den });
  };
  for (const m of e.markets.values()) {
    if (symbol !== undefined && m.symbol !== symbol) continue;
    if (m.option !== null || m.mark === null || m.closed) continue;
    for (const long of [true, false]) walkSide(m, long, budget, consider);
    for (const p of m.liqIndex.stale) consider(p);
  }
  found.sort(byDistance);
  return found.slice(0, limit).map((c) => riskRow(e, c));
}

/** Up to `budget` positions of one side of `m`'s index, nearest the mark first (strategy-model legs skipped). */
function walkSide(m: Market, long: boolean, budget: number, consider: (p: Position) => void): void {
  let n = 0;
  for (const p of m.liqIndex.nearest(long, m.liqIndex.walkFrom(long, m.mark!))) {
    // Filed for every mark, not by a trigger: no place in the walk's order (and no budget spent on them).
    if (p.silo !== null && isStrategyModel(p.silo.riskModel)) continue;
    consider(p);
    if (++n >= budget) return;
  }
}

function byDistance(x: Candidate, y: Candidate): number {
  const a = x.num * y.den;
  const b = y.num * x.den;
  if (a !== b) return a < b ? -1 : 1;
  return (
    cmpStr(x.p.account.id, y.p.account.id) ||
    cmpStr(x.p.market.symbol, y.p.market.symbol) ||
    cmpStr(x.p.silo?.id ?? '', y.p.silo?.id ?? '')
  );
}

const cmpStr = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function riskRow(e: EngineState, c: Candidate): LiquidationRiskView {
  const { p, lp } = c;
  const m = p.market;
  const inst = m.inst;
  const box = boxOf(e, p);
  return {
    account: p.account.id,
    symbol: m.symbol,
    side: p.sign > 0 ? 'long' : 'short',
    marginMode: p.mode,
    silo: p.silo?.id ?? null,
    contracts: formatDecimal(p.size, inst.sizeDp),
    entryPrice: formatDecimal(p.entryPrice, inst.priceDp),
    markPrice: formatDecimal(m.mark!, inst.priceDp),
    liquidationPrice: formatDecimal(lp, inst.priceDp),
    liquidationDistancePercent: fmtDistance(liquidationDistance(p, lp))!,
    marginRatio: fmtRate(box.marginRatio),
    collateral: formatDecimal(box.collateral, inst.settleDp),
  };
}

/**
 * The collateral and margin ratio (maintenance / equity, RATE_DP) of the box `p` is liquidated with, as GET silos
 * reads them: its isolated bucket, its named silo, or its account's cross bucket in the settle asset.
 */
function boxOf(e: EngineState, p: Position): { collateral: bigint; marginRatio: bigint | null } {
  if (p.silo !== null) {
    const f = siloFigures(e, p.silo);
    return { collateral: p.silo.bucket.balance, marginRatio: marginRatio(f.maintenanceMargin, f.equity) };
  }
  if (p.mode === 'isolated') {
    const sums = pooledSums(e, [p]);
    return { collateral: p.bucket.balance, marginRatio: marginRatio(sums.mm, p.bucket.balance + sums.pnl) };
  }
  const main = p.account.wallets.get(p.market.asset)?.main.balance ?? 0n;
  const sums = pooledSums(e, crossPositions(p.account, p.market.asset));
  return { collateral: main, marginRatio: marginRatio(sums.mm, main + sums.pnl) };
}

/**
 * One box's margin figures as silosOf files them (the same equity, maintenance and ratio) without its position views
 * or liquidation prices: a cheap read per box, for the service's margin alerts. `lead` is the leg with the largest
 * maintenance (the first such in the box's order): the market an alert names.
 */
export interface BoxRisk {
  id: string;
  kind: 'cross' | 'isolated' | 'named';
  asset: string;
  /** The named silo's id; null for the cross bucket and an isolated position. */
  silo: string | null;
  legs: Position[];
  lead: Position;
  equity: bigint;
  maintenanceMargin: bigint;
  /** Maintenance / equity (RATE_DP); null when equity is not positive. */
  marginRatio: bigint | null;
}

/**
 * The account's boxes that hold a position, in silosOf's order; with `symbols`, only those with a leg in one of those
 * markets (the others are not computed at all).
 */
export function boxRisksOf(e: EngineState, accountId: string, symbols?: ReadonlySet<string>): BoxRisk[] {
  const a = e.accounts.get(accountId);
  if (!a) return [];
  const wanted = (legs: readonly Position[]) =>
    legs.length > 0 && (symbols === undefined || legs.some((p) => symbols.has(p.market.symbol)));
  const out: BoxRisk[] = [];
  for (const asset of [...a.wallets.keys()].sort()) {
    const legs = crossPositions(a, asset);
    if (!wanted(legs)) continue;
    const r = pooledRisk(e, legs);
    const equity = a.wallets.get(asset)!.main.balance + r.pnl;
    out.push(box(`cross:${asset}`, 'cross', asset, null, legs, r.lead, equity, r.mm));
  }
  const isolated = [...a.positions.values()]
    .filter((p) => p.silo === null && p.mode === 'isolated' && p.sign !== 0 && wanted([p]))
    .sort((x, y) => (x.market.symbol < y.market.symbol ? -1 : x.market.symbol > y.market.symbol ? 1 : 0));
  for (const p of isolated) {
    const r = pooledRisk(e, [p]);
    const id = `isolated:${p.market.symbol}`;
    out.push(box(id, 'isolated', p.market.asset, null, [p], p, p.bucket.balance + r.pnl, r.mm));
  }
  for (const silo of a.silos.values()) {
    const legs = siloLegs(silo);
    if (!wanted(legs)) continue;
    const f = siloFigures(e, silo, 'requirement');
    let lead = 0;
    for (let i = 1; i < f.legs.length; i++) if (f.maintenance[i]! > f.maintenance[lead]!) lead = i;
    const l = f.legs[lead] ?? legs[0]!;
    out.push(box(silo.id, 'named', silo.asset, silo.id, f.legs, l, f.equity, f.maintenanceMargin));
  }
  return out;
}

function box(
  id: string,
  kind: BoxRisk['kind'],
  asset: string,
  silo: string | null,
  legs: Position[],
  lead: Position,
  equity: bigint,
  mm: bigint,
): BoxRisk {
  return {
    id,
    kind,
    asset,
    silo,
    legs,
    lead,
    equity,
    maintenanceMargin: mm,
    marginRatio: marginRatio(mm, equity),
  };
}

/** pooledSums' PnL and maintenance, and the leg with the largest maintenance. */
function pooledRisk(e: EngineState, legs: readonly Position[]): { pnl: bigint; mm: bigint; lead: Position } {
  let pnl = 0n;
  let mm = 0n;
  let lead = legs[0]!;
  let leadMm = -1n;
  for (const p of legs) {
    const price = valuationPrice(p);
    pnl += positionPnl(p, price) - pendingFunding(p);
    const m = legMaintenance(e.conventions, p.market, positionInput(p), price);
    mm += m;
    if (m > leadMm) {
      lead = p;
      leadMm = m;
    }
  }
  return { pnl, mm, lead };
}

/**
 * One oracle source of a market as the index sees it at `now`: its last quote (price, time, age) and `status` —
 * `used` in the index, `stale` (older than the staleness limit), `outlier` (excluded: too far from the weighted
 * median), or `missing` (never quoted). The names are core/index-price.ts's `computeIndex` lists.
 */
export interface OracleSourceView {
  name: string;
  weight: number;
  price: string | null;
  time: number | null;
  ageMs: number | null;
  status: 'used' | 'stale' | 'outlier' | 'missing';
}

/**
 * A market's price feed at `now`: the oracle's validity (`validityAt`: valid, tooVolatile, stale, insufficientSources;
 * an option's is the worse of its underlying's and its vol feed's; a market without an oracle is valid, its mark set
 * directly) and why, the index and when it was computed, the mark, funding, the actions the oracle policy pauses, and
 * each configured source.
 */
export interface OracleView {
  symbol: string;
  oracle: boolean;
  status: Validity;
  reason: string | null;
  indexPrice: string | null;
  indexTime: number | null;
  markPrice: string | null;
  markMethod: OracleConfig['markMethod'] | null;
  fundingRate: string | null;
  nextFundingTime: number | null;
  paused: string[];
  minSources: number | null;
  stalenessMs: number | null;
  sources: OracleSourceView[];
}

export function oracleView(m: Market, now: number): OracleView {
  const o = m.oracle;
  const price = (v: bigint | null) => (v === null ? null : formatDecimal(v, m.inst.priceDp));
  let sources: OracleSourceView[] = [];
  if (o !== null) {
    // What the index would use now (the staleness limit applied at `now`): computeIndex is pure.
    const r = computeIndex([...o.quotes.values()], now, o.cfg);
    sources = o.cfg.sources.map(({ name, weight }) => {
      const q = o.quotes.get(name);
      const status = !q
        ? 'missing'
        : r.outliers.includes(name)
          ? 'outlier'
          : r.used.includes(name)
            ? 'used'
            : 'stale';
      return {
        name,
        weight,
        price: q ? price(q.price) : null,
        time: q ? q.time : null,
        ageMs: q ? Math.max(0, now - q.time) : null,
        status,
      };
    });
  }
  return {
    symbol: m.symbol,
    oracle: o !== null,
    status: validityAt(m, now),
    reason: o?.reason ?? m.optionFeed?.reason ?? null,
    indexPrice: price(o?.index ?? null),
    indexTime: o !== null && o.index !== null ? o.indexTime : null,
    markPrice: price(m.mark),
    markMethod: o?.cfg.markMethod ?? null,
    fundingRate: m.funding ? formatDecimal(m.funding.lastRate, RATE_DP) : null,
    nextFundingTime: m.funding ? m.funding.nextTime : null,
    paused: [...m.paused].sort(),
    minSources: o?.cfg.minSources ?? null,
    stalenessMs: o?.cfg.stalenessMs ?? null,
    sources,
  };
}
