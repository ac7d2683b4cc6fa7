/**
 * Read models: positions with ccxt's Position fields and balances with ccxt's free/used/total shape.
 * Decimals travel as strings (ccxt returns numbers; strings keep them exact). Reads only, off the command pipeline:
 * the service and tests pass the engine (an EngineState) between commands.
 */
import { ceilDiv, formatDecimal } from '../core/fixed.ts';
import {
  conservativeRounding,
  liquidationPrice,
  marginRatio,
  notional,
  unrealizedPnl,
} from '../core/margin.ts';
import { LEVERAGE_DP, RATE_DP } from '../core/rates.ts';
import type { RecognisedStrategy, StrategyType, WorstCase } from '../core/strategy/types.ts';
import { DEFAULT_CLOSE_ORDER, type Position, type Silo } from './account.ts';
import { MAX_PRICE_TICKS } from './market.ts';
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
    unrealizedPnl: money(pnl),
    realizedPnl: money(p.realizedPnl),
    marginMode: p.mode,
    percentage: im > 0n ? formatDecimal((pnl * 10_000n) / im, 2) : null,
    pendingFunding: money(pendingFunding(p)),
    silo: p.silo?.id ?? null,
  };
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
  if (p.silo?.riskModel === 'netted') return nettedLiquidationPrice(e, p.silo, p);
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
  /**
   * Option strategy models (null / empty otherwise): the silo's worst loss at expiry over all settlement prices, from
   * entry prices (settle units, rounded up; null when unbounded), the recognised strategies' types joined by " + "
   * (null if none), the strategies, and where the binding figure came from.
   */
  maxLoss: bigint | null;
  strategy: string | null;
  strategies: StrategyView[];
  worst: WorstCase | null;
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
      liquidationPrices: prices(e, legs),
      ...strategyPart(e, null, null),
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
      liquidationPrices: prices(e, [p]),
      ...strategyPart(e, null, null),
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
      liquidationPrices: prices(e, f.legs),
      ...strategyPart(e, silo, f),
    });
  }
  return out;
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

function prices(e: EngineState, legs: readonly Position[]): Record<string, bigint | null> {
  const out: Record<string, bigint | null> = {};
  for (const p of legs) out[p.market.symbol] = positionLiquidationPrice(e, p);
  return out;
}
