/**
 * Read models: positions with ccxt's Position fields and balances with ccxt's free/used/total shape.
 * Decimals travel as strings (ccxt returns numbers; strings keep them exact).
 */
import { formatDecimal } from '../core/fixed.ts';
import {
  conservativeRounding,
  liquidationPrice,
  marginRatio,
  notional,
  triggerMaintenance,
} from '../core/margin.ts';
import { LEVERAGE_DP, RATE_DP } from '../core/rates.ts';
import type { Position } from './account.ts';
import type { Engine } from './engine.ts';
import {
  available,
  bucketAfterFunding,
  pendingFunding,
  positionInitialMargin,
  positionInput,
  positionPnl,
  valuationPrice,
} from './risk.ts';

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
}

export function positionView(e: Engine, p: Position): PositionView {
  const m = p.market;
  const inst = m.inst;
  const money = (v: bigint) => formatDecimal(v, inst.settleDp);
  const price = valuationPrice(p);
  const open = p.sign !== 0;
  const n = open ? notional(inst, p.size, price, 'ceil') : 0n;
  const pnl = positionPnl(p, price);
  const im = positionInitialMargin(p, price);
  // The maintenance the liquidation test uses, on the engine's basis (agrees with liquidationPrice).
  const mm = open ? triggerMaintenance(inst, e.conventions, positionInput(p), price) : 0n;
  const iso = p.mode === 'isolated';
  const collateral = iso ? p.bucket.balance : im;
  const a = p.account;
  const w = a.wallets.get(m.asset);
  const crossBacking = w ? w.main.balance : 0n;
  const lp = !open
    ? null
    : iso
      ? // As the engine files it (the tick before the first failing one), whatever the display convention.
        liquidationPrice({
          inst,
          conv: conservativeRounding(e.conventions),
          pos: positionInput(p),
          collateral: bucketAfterFunding(p),
        })
      : liquidationPrice({
          inst,
          conv: conservativeRounding(e.conventions),
          pos: positionInput(p),
          collateral: crossBacking + otherCrossNet(e, p),
        });
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
  };
}

/**
 * What the rest of the cross bucket adds to this position's collateral (Binance's UPNL₁ − TMM₁): the other cross
 * positions' PnL less their maintenance, less the funding every cross position in the asset owes (this one's too).
 * Maintenance and funding are the liquidation test's own (`crossState` in liquidation.ts), so the price shown is
 * where the engine liquidates (to the tick, rounded toward liquidation), the others held at their marks. (Plain
 * maintenance and no funding, as this once was, showed a price past the real one: funding owed moved it by
 * funding / size.)
 */
function otherCrossNet(e: Engine, me: Position): bigint {
  let net = -pendingFunding(me);
  for (const p of me.account.positions.values()) {
    if (p === me || p.mode !== 'cross' || p.sign === 0 || p.market.asset !== me.market.asset) continue;
    if (p.market.closed) continue;
    const price = valuationPrice(p);
    net +=
      positionPnl(p, price) -
      pendingFunding(p) -
      triggerMaintenance(p.market.inst, e.conventions, positionInput(p), price);
  }
  return net;
}

const fmtRate = (r: bigint | null) => (r === null ? null : formatDecimal(r, RATE_DP));

export function positionsOf(e: Engine, accountId: string): PositionView[] {
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

export function balancesOf(e: Engine, accountId: string): BalanceView[] {
  const a = e.accounts.get(accountId);
  if (!a) return [];
  return [...a.wallets.keys()].sort().map((asset) => {
    const w = a.wallets.get(asset)!;
    const dp = e.assets.get(asset) ?? 0;
    let isolated = 0n;
    for (const p of a.positions.values()) if (p.market.asset === asset) isolated += p.bucket.balance;
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
