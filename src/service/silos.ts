/**
 * Silos on the wire: the engine's SiloView (bigints) as decimal strings, the commands the silo routes send, and the
 * items of the private `silos` stream.
 *
 * The stream carries committed events only (as every private topic does): a silo created or closed, each movement
 * of a named silo's collateral (a transfer in or out, a fee, realized PnL, funding, a liquidation fee…), and its
 * legs' position, funding, liquidation and ADL events. Requirements and liquidation prices move with every mark, so they are not
 * pushed: GET /api/v1/silos computes them on request. (A view computed while publishing would read an engine that may
 * already hold later, not yet durable, commands under this message's `seq`.)
 */
import type { Static } from 'typebox';
import { formatDecimal } from '../core/fixed.ts';
import { strategyMarginParamsToJson, type WorstCase } from '../core/strategy/index.ts';
import { collateralPrice } from '../engine/collateral.ts';
import type { Engine } from '../engine/engine.ts';
import { fmtDistance, type SiloView, silosOf } from '../engine/readmodel.ts';
import { DAY_MS } from '../engine/rebalance.ts';
import type { EngineEvent } from '../engine/types.ts';
import { fmtPrice, fmtRate, wireEvent } from './codec.ts';
import { rejection } from './errors.ts';
import { withOptionFieldsOf } from './options.ts';
import type {
  CollateralAssetBody,
  CollateralAssetViewSchema,
  CreateSiloBody,
  NettingBody,
  NettingViewSchema,
  RebalancingBody,
  RebalancingViewSchema,
  SiloViewSchema,
  StrategyMarginBody,
  StrategyMarginViewSchema,
  TransferCollateralBody,
} from './schemas.ts';
import type { CommandInput } from './service.ts';

export type SiloJson = Static<typeof SiloViewSchema>;

/**
 * A SiloView with money at the asset's decimals, rates at RATE_DP and prices at each market's price decimals; with the
 * owner's `account`, option legs carry their terms and Greeks as in GET positions.
 */
export function siloJson(e: Engine, v: SiloView, account?: string): SiloJson {
  const dp = e.assets.get(v.asset) ?? 0;
  const money = (x: bigint) => formatDecimal(x, dp);
  const liquidationPrices: Record<string, string | null> = {};
  for (const [symbol, price] of Object.entries(v.liquidationPrices)) {
    const m = e.markets.get(symbol);
    liquidationPrices[symbol] = price === null || !m ? null : fmtPrice(m, price);
  }
  const liquidationDistancePercent: Record<string, string | null> = {};
  for (const [symbol, d] of Object.entries(v.liquidationDistancePercent))
    liquidationDistancePercent[symbol] = fmtDistance(d);
  return {
    id: v.id,
    kind: v.kind,
    asset: v.asset,
    riskModel: v.riskModel,
    closeOrder: v.closeOrder,
    collateral: money(v.collateral),
    equity: money(v.equity),
    initialMargin: money(v.initialMargin),
    maintenanceMargin: money(v.maintenanceMargin),
    standaloneInitialMargin: money(v.standaloneInitialMargin),
    standaloneMaintenanceMargin: money(v.standaloneMaintenanceMargin),
    marginRatio: v.marginRatio === null ? null : fmtRate(v.marginRatio),
    maxRemovable: money(v.maxRemovable),
    legs: account === undefined ? v.legs : withOptionFieldsOf(e, account, v.legs),
    liquidationPrices,
    liquidationDistancePercent,
    maxLoss: v.maxLoss === null ? null : money(v.maxLoss),
    strategy: v.strategy,
    strategies: v.strategies.map((st) => ({
      type: st.type,
      direction: st.direction,
      underlying: st.underlying,
      expiry: st.expiry,
      legs: st.legs.map((l) => ({ symbol: l.symbol, size: formatDecimal(l.size, 18) })),
      initialMargin: money(st.initialMargin),
      maintenanceMargin: money(st.maintenanceMargin),
      maxLoss: st.maxLoss === null ? null : money(st.maxLoss),
    })),
    worst: v.worst === null ? null : worstJson(v.worst),
    rebalancing: v.rebalancing === null ? null : { ...v.rebalancing },
    holdings: v.holdings.map((h) => {
      const pm = h.priceMarket === null ? undefined : e.markets.get(h.priceMarket);
      return {
        asset: h.asset,
        amount: formatDecimal(h.amount, e.assets.get(h.asset) ?? 0),
        priceMarket: h.priceMarket,
        price: h.price === null || pm === undefined ? null : fmtPrice(pm, h.price),
        grossValue: money(h.grossValue),
        value: money(h.value),
      };
    }),
  };
}

/** A strategy model's worst case with its WAD figures as decimal strings. */
function worstJson(w: WorstCase): SiloJson['worst'] {
  switch (w.kind) {
    case 'price':
      return { kind: w.kind, underlying: w.underlying, expiry: w.expiry, price: formatDecimal(w.price, 18) };
    case 'infinity':
      return { kind: w.kind, underlying: w.underlying, expiry: w.expiry };
    case 'scenario':
      return {
        kind: w.kind,
        underlying: w.underlying,
        move: formatDecimal(w.move, 18),
        vol: w.vol,
        extended: w.extended,
      };
    default:
      return { kind: w.kind };
  }
}

/** Every silo of the account (cross per asset, open isolated positions, named), formatted. */
export function silosJson(e: Engine, account: string): SiloJson[] {
  return silosOf(e, account).map((v) => siloJson(e, v, account));
}

/** One silo of the account by its read id; 404 UNKNOWN_SILO when it has none of that id. */
export function siloJsonOf(e: Engine, account: string, id: string): SiloJson {
  const v = silosOf(e, account).find((s) => s.id === id);
  if (!v) throw rejection('UNKNOWN_SILO', `${account} has no silo ${JSON.stringify(id)}`);
  return siloJson(e, v, account);
}

export const createSiloCommand = (account: string, b: Static<typeof CreateSiloBody>): CommandInput => ({
  type: 'createSilo',
  account,
  silo: b.silo,
  asset: b.asset,
  riskModel: b.riskModel,
  ...(b.closeOrder !== undefined ? { closeOrder: b.closeOrder } : {}),
});

export const transferCollateralCommand = (
  account: string,
  b: Static<typeof TransferCollateralBody>,
): CommandInput => ({
  type: 'transferCollateral',
  account,
  from: b.from,
  to: b.to,
  amount: b.amount,
  ...(b.asset !== undefined ? { asset: b.asset } : {}),
});

export const collateralAssetCommand = (b: Static<typeof CollateralAssetBody>): CommandInput => ({
  type: 'setCollateralAsset',
  asset: b.asset,
  settle: b.settle,
  priceMarket: b.priceMarket,
  ...(b.dp !== undefined ? { dp: b.dp } : {}),
  ...(b.haircuts !== undefined
    ? { haircuts: b.haircuts.map((h) => ({ upTo: h.upTo, ratio: h.ratio })) }
    : {}),
  ...(b.conversionPenalty !== undefined ? { conversionPenalty: b.conversionPenalty } : {}),
  ...(b.enabled !== undefined ? { enabled: b.enabled } : {}),
});

/** The accepted collateral assets in the order first set, with their index now. */
export function collateralAssetsJson(e: Engine): Static<typeof CollateralAssetViewSchema>[] {
  return [...e.collateralAssets.values()].map((c) => {
    const settleDp = e.assets.get(c.settle) ?? 0;
    const p = collateralPrice(e, c);
    const m = e.markets.get(c.priceMarket);
    return {
      asset: c.asset,
      settle: c.settle,
      dp: c.dp,
      priceMarket: c.priceMarket,
      price: p === null || m === undefined ? null : fmtPrice(m, p.price),
      haircuts: c.bands.map((b) => ({
        upTo: b.upTo === null ? null : formatDecimal(b.upTo, settleDp),
        ratio: fmtRate(b.ratio),
      })),
      conversionPenalty: fmtRate(c.penalty),
      enabled: c.enabled,
      holders: c.holders.size,
    };
  });
}

export const nettingCommand = (b: Static<typeof NettingBody>): CommandInput => ({
  type: 'setNetting',
  ...(b.floor !== undefined ? { floor: b.floor } : {}),
  ...(b.sameBase !== undefined ? { sameBase: b.sameBase } : {}),
  ...(b.correlations !== undefined ? { correlations: b.correlations.map((c) => ({ ...c })) } : {}),
});

export const strategyMarginCommand = (b: Static<typeof StrategyMarginBody>): CommandInput => ({
  type: 'setStrategyMargin',
  params: structuredClone(b) as Record<string, unknown>,
});

/** The option strategy models' parameters in force, as decimal strings per underlying (core's JSON form). */
export function strategyMarginJson(e: Engine): Static<typeof StrategyMarginViewSchema> {
  return strategyMarginParamsToJson(e.strategyMargin) as Static<typeof StrategyMarginViewSchema>;
}

/** The netted model's parameters in force, rates as decimal strings. */
export function nettingJson(e: Engine): Static<typeof NettingViewSchema> {
  const n = e.netting;
  return {
    floor: fmtRate(n.floor),
    sameBase: fmtRate(n.sameBase),
    correlations: n.correlations.map((c) => ({ a: c.a, b: c.b, rho: fmtRate(c.rho) })),
    grid: n.grid.map(fmtRate),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The private `silos` stream

/** A named silo's bucket label is `${account}:silo:${id}` (neither contains a colon): its owner and id. */
// A silo's bucket, or its holding in another asset (`…#BTC`, engine collateral.ts).
const SILO_LABEL = /^([^:]+):silo:([^:#]+)(?:#[^:]+)?$/;

export function siloOfLabel(label: string): { account: string; silo: string } | null {
  const m = SILO_LABEL.exec(label);
  return m ? { account: m[1]!, silo: m[2]! } : null;
}

export interface SiloItem {
  account: string;
  item: () => unknown;
}

/** Shared by every event that concerns no silo (nearly all of them): nothing allocated on the publish path. */
const NONE: readonly SiloItem[] = Object.freeze([]);

/**
 * What one event tells the owners of named silos, as (account, item) pairs: the silo lifecycle, each movement of a
 * silo's collateral (`siloCollateral`: amount positive into the silo, negative out of it, with the transfer's
 * reason), and the legs' position, funding, liquidation and ADL events. Empty for everything else.
 */
export function siloItems(e: Engine, ev: EngineEvent): readonly SiloItem[] {
  switch (ev.type) {
    case 'siloCreated':
    case 'siloClosed':
    case 'rebalancingSet':
    case 'collateralRebalanced':
    case 'collateralConverted':
      return [{ account: ev.account, item: () => wireEvent(e, ev) }];
    case 'transfer': {
      // Cheap test first: transfers are the most frequent events and few touch a silo.
      if (!ev.from.includes(':silo:') && !ev.to.includes(':silo:')) return NONE;
      const out: SiloItem[] = [];
      const dp = e.assets.get(ev.asset) ?? 0;
      for (const [label, sign] of [
        [ev.from, -1n],
        [ev.to, 1n],
      ] as const) {
        const s = siloOfLabel(label);
        if (!s) continue;
        out.push({
          account: s.account,
          item: () => ({
            type: 'siloCollateral',
            account: s.account,
            silo: s.silo,
            asset: ev.asset,
            amount: formatDecimal(sign * ev.amount, dp),
            reason: ev.reason,
          }),
        });
      }
      return out;
    }
    case 'position':
    case 'fundingPaid':
    case 'liquidationStarted':
    case 'liquidation':
      return ev.silo === undefined ? NONE : [{ account: ev.account, item: () => wireEvent(e, ev) }];
    case 'adl': {
      if (ev.silo === undefined) return NONE;
      // As on the liquidations topic: ADL never names the liquidated account.
      const item = () => {
        const w: Record<string, unknown> = wireEvent(e, ev);
        delete w.liquidated;
        return w;
      };
      return [{ account: ev.account, item }];
    }
    default:
      return NONE;
  }
}

export const rebalancingCommand = (account: string, b: Static<typeof RebalancingBody>): CommandInput => ({
  type: 'setRebalancing',
  account,
  asset: b.asset,
  enabled: b.enabled,
  ...(b.givers !== undefined ? { givers: [...b.givers] } : {}),
  ...(b.receivers !== undefined ? { receivers: [...b.receivers] } : {}),
  ...(b.trigger !== undefined ? { trigger: b.trigger } : {}),
  ...(b.target !== undefined ? { target: b.target } : {}),
  ...(b.buffer !== undefined ? { buffer: b.buffer } : {}),
  ...(b.maxPerMove !== undefined ? { maxPerMove: b.maxPerMove } : {}),
  ...(b.maxPerDay !== undefined ? { maxPerDay: b.maxPerDay } : {}),
  ...(b.holdings !== undefined ? { holdings: b.holdings } : {}),
});

/** The account's rebalancing settings per asset (asset order), formatted; empty when it never opted in. */
export function rebalancingJson(e: Engine, account: string): Static<typeof RebalancingViewSchema>[] {
  const a = e.accounts.get(account);
  if (!a) return [];
  return [...a.rebalancing.keys()].sort().map((asset) => {
    const r = a.rebalancing.get(asset)!;
    const dp = e.assets.get(asset) ?? 0;
    return {
      asset,
      givers: [...r.givers],
      receivers: [...r.receivers],
      trigger: fmtRate(r.trigger),
      target: fmtRate(r.target),
      buffer: fmtRate(r.buffer),
      maxPerMove: formatDecimal(r.maxPerMove, dp),
      maxPerDay: formatDecimal(r.maxPerDay, dp),
      holdings: r.holdings,
      movedToday: formatDecimal(r.movedToday, dp),
      day: new Date(r.day * DAY_MS).toISOString().slice(0, 10),
      parked: [...a.silos.values()].filter((s) => s.asset === asset && s.rebalanceParked).map((s) => s.id),
    };
  });
}
