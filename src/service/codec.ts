/**
 * The wire format: engine values (bigint at a field's scale) → decimal strings at that scale, and the ccxt-shaped
 * views the API returns. Every scale comes from the market or asset the value belongs to, never guessed: prices at
 * the market's price decimals, sizes at its lot decimals, money at the settle asset's, rates at RATE_DP, leverage
 * at LEVERAGE_DP.
 */
import { formatDecimal } from '../core/fixed.ts';
import { notional } from '../core/margin.ts';
import { LEVERAGE_DP, RATE_DP } from '../core/rates.ts';
import type { Order } from '../engine/account.ts';
import type { Engine } from '../engine/engine.ts';
import type { Market } from '../engine/market.ts';
import type { EngineEvent } from '../engine/types.ts';
import { NPS_ONE, SHARE_DP } from '../engine/vaults.ts';
import { optionMarketFields } from './options.ts';

export const fmtRate = (v: bigint): string => formatDecimal(v, RATE_DP);

/** A NAV per share (vaults.ts NPS scale: asset base units per share base unit × 10¹⁸) as the asset per whole share. */
export function fmtNavPerShare(
  e: { assets: ReadonlyMap<string, number> },
  asset: string,
  nps: bigint,
): string {
  const dp = e.assets.get(asset) ?? 0;
  // asset units per whole share = nps × 10^SHARE_DP / 10^18, shown at the asset's decimals (rounded down).
  return formatDecimal((nps * 10n ** BigInt(SHARE_DP)) / NPS_ONE, dp);
}
export const fmtLeverage = (v: bigint): string => formatDecimal(v, LEVERAGE_DP);
export const fmtPrice = (m: Market, v: bigint): string => formatDecimal(v, m.inst.priceDp);
export const fmtSize = (m: Market, v: bigint): string => formatDecimal(v, m.inst.sizeDp);
export const fmtMoney = (m: Market, v: bigint): string => formatDecimal(v, m.inst.settleDp);
/** Book levels as [price, size] decimal strings, in the order given. */
export const fmtLevels = (m: Market, levels: Iterable<readonly [bigint, bigint]>): [string, string][] =>
  Array.from(levels, ([p, s]) => [fmtPrice(m, p), fmtSize(m, s)]);
const fmtOpt = (f: (v: bigint) => string, v: bigint | null): string | null => (v === null ? null : f(v));

export interface LeverageTierView {
  tier: number;
  currency: string;
  minNotional: string;
  maxNotional: string | null;
  maintenanceMarginRate: string;
  initialMarginRate: string;
  maxLeverage: string;
  /** Maintenance deduction ("cum"): MM = notional × rate − deduction. Exact, at settle + rate decimals. */
  deduction: string;
}

/** ccxt's fetchMarketLeverageTiers shape. Rules that are not brackets (size-linear, dYdX fraction) have none. */
export function tiersOf(m: Market): LeverageTierView[] {
  const r = m.inst.risk;
  if (r.kind !== 'tiers') return [];
  let prevCap = 0n;
  return r.tiers.map((t, i) => {
    const v: LeverageTierView = {
      tier: i + 1,
      currency: m.asset,
      minNotional: fmtMoney(m, prevCap),
      maxNotional: t.cap === null ? null : fmtMoney(m, t.cap),
      maintenanceMarginRate: fmtRate(t.mmr),
      initialMarginRate: fmtRate(t.imr),
      maxLeverage: fmtLeverage(t.maxLeverage),
      deduction: formatDecimal(t.deductionRaw, m.inst.settleDp + RATE_DP),
    };
    prevCap = t.cap ?? prevCap;
    return v;
  });
}

export interface MarketView {
  id: string;
  symbol: string;
  base: string;
  quote: string;
  settle: string;
  type: 'swap' | 'future' | 'option';
  /** For an option: its settlement (linear in the quote, inverse in the coin), as ccxt marks Deribit's options. */
  linear: boolean;
  inverse: boolean;
  contractSize: string;
  expiry: number | null;
  active: boolean;
  reduceOnly: boolean;
  tickSize: string;
  lotSize: string;
  precision: { price: string; amount: string };
  limits: { amount: { min: string; max: string }; leverage: { max: string } };
  taker: string;
  maker: string;
  defaultLeverage: string;
  limitBand: string;
  marketBand: string;
  oracle: boolean;
  fundingIntervalMs: number | null;
  tiers: LeverageTierView[];
  /** The risk rule as configured (decimals as strings). */
  riskRule: unknown;
  /** The liquidation policy as configured (absent fields take the engine's defaults). */
  liquidation: unknown;
  /**
   * Volatility-adjusted margin (docs/dynamic-margin.md), when configured: the factor in force (the `tiers` above are
   * already scaled by it), an announced raise and when it applies, the volatility at the last review, the next review.
   */
  dynamicMargin?: {
    factor: string;
    pendingFactor: string | null;
    effectiveAt: number | null;
    vol: string;
    nextReview: number;
    config: unknown;
  };
  /** Options only (ccxt): see options.ts optionMarketFields. */
  optionType?: 'call' | 'put';
  strike?: string;
  expiryDatetime?: string;
  underlying?: string;
  optionMargin?: string;
}

export function marketView(m: Market): MarketView {
  const inst = m.inst;
  const tick = fmtPrice(m, inst.tickSize);
  const lot = fmtSize(m, inst.lotSize);
  return {
    id: m.symbol,
    symbol: m.symbol,
    base: inst.baseAsset,
    quote: inst.quoteAsset,
    settle: inst.settleAsset,
    // An option's instrument is linear in its premium (engine); ccxt's type and linear/inverse describe the option.
    type: m.option !== null ? 'option' : inst.type === 'future' ? 'future' : 'swap',
    linear: m.option !== null ? m.option.settle === 'linear' : inst.kind === 'linear',
    inverse: m.option !== null ? m.option.settle === 'inverse' : inst.kind === 'inverse',
    contractSize: formatDecimal(inst.multiplier, inst.multiplierDp),
    expiry: inst.expiry,
    active: !m.closed,
    reduceOnly: m.reduceOnly,
    tickSize: tick,
    lotSize: lot,
    precision: { price: tick, amount: lot },
    limits: {
      amount: { min: lot, max: fmtSize(m, m.size(m.maxOrderLots)) },
      leverage: { max: fmtLeverage(inst.maxLeverage) },
    },
    taker: fmtRate(m.takerFee),
    maker: fmtRate(m.makerFee),
    defaultLeverage: fmtLeverage(m.defaultLeverage),
    limitBand: fmtRate(m.limitBand),
    marketBand: fmtRate(m.marketBand),
    oracle: m.oracle !== null,
    fundingIntervalMs: m.fundingCfg?.intervalMs ?? null,
    tiers: tiersOf(m),
    riskRule: m.config.risk,
    liquidation: m.config.liquidation ?? {},
    ...(m.dynamicMargin !== null ? { dynamicMargin: dynamicMarginView(m) } : {}),
    ...optionMarketFields(m),
  };
}

function dynamicMarginView(m: Market): NonNullable<MarketView['dynamicMargin']> {
  const d = m.dynamicMargin!;
  return {
    factor: fmtRate(d.factor),
    pendingFactor: d.pending !== null ? fmtRate(d.pending.factor) : null,
    effectiveAt: d.pending?.effectiveAt ?? null,
    vol: formatDecimal(d.lastVol / 10n ** 14n, 4),
    nextReview: d.nextReview,
    config: m.config.dynamicMargin,
  };
}

/** A trigger order's fields on order views, answers and wire events (null / false for every other order). */
export interface TriggerView {
  triggerPrice: string | null;
  stopLossPrice: string | null;
  takeProfitPrice: string | null;
  triggered: boolean;
}

export const NO_TRIGGER: TriggerView = {
  triggerPrice: null,
  stopLossPrice: null,
  takeProfitPrice: null,
  triggered: false,
};

/** The trigger fields of a stop-loss / take-profit at `price` (already formatted). */
export function triggerView(kind: 'stopLoss' | 'takeProfit', price: string, triggered: boolean): TriggerView {
  return {
    triggerPrice: price,
    stopLossPrice: kind === 'stopLoss' ? price : null,
    takeProfitPrice: kind === 'takeProfit' ? price : null,
    triggered,
  };
}

export interface OrderView extends TriggerView {
  id: string;
  clientOrderId: string | null;
  symbol: string;
  /** `market` only for a stop-loss / take-profit market order still waiting for its price. */
  type: 'limit' | 'market';
  side: 'buy' | 'sell';
  timeInForce: string;
  postOnly: boolean;
  reduceOnly: boolean;
  /** Null for a stop-loss / take-profit market order still waiting (its limit is set when it fires). */
  price: string | null;
  /** Size as placed (an amend changes `remaining`, not this). */
  amount: string;
  remaining: string;
  status: 'open';
  marginMode: 'isolated' | 'cross';
  /** Isolated: money held for the order; cross: requirement counted against available. */
  reserved: string;
  /** The named silo the order trades in; null: the default position. */
  silo: string | null;
}

/**
 * A resting order (ccxt's Order for fetchOpenOrders), or a stop-loss / take-profit waiting for its price: status
 * `open` with `triggered: false` (a market one has type `market` and price null until it fires).
 */
export function orderView(o: Order): OrderView {
  const m = o.market;
  const t = o.trigger;
  const waitingMarket = t !== undefined && !t.triggered && t.orderType === 'market';
  return {
    id: String(o.id),
    clientOrderId: o.clientOrderId,
    symbol: m.symbol,
    type: waitingMarket ? 'market' : 'limit',
    side: o.side,
    timeInForce: o.tif === 'PO' ? 'PO' : o.tif,
    postOnly: o.tif === 'PO',
    reduceOnly: o.reduceOnly,
    price: waitingMarket ? null : fmtPrice(m, m.price(o.priceTicks)),
    amount: fmtSize(m, m.size(o.sizeLots)),
    remaining: fmtSize(m, m.size(o.remainingLots)),
    status: 'open',
    marginMode: o.mode,
    reserved: fmtMoney(m, o.reserved),
    silo: o.position.silo?.id ?? null,
    ...(t === undefined ? NO_TRIGGER : triggerView(t.kind, fmtPrice(m, m.price(t.priceTicks)), t.triggered)),
  };
}

/** Id of the i-th event of the command applied as `seq`: stable across restarts (seqs are). */
export const eventId = (seq: number, index: number): string => `${seq}-${index}`;

export interface PublicTradeView {
  id: string;
  timestamp: number;
  symbol: string;
  /** The taker's side. */
  side: 'buy' | 'sell';
  price: string;
  amount: string;
  /** Notional in the settle asset. */
  cost: string;
}

type TradeEvent = Extract<EngineEvent, { type: 'trade' }>;

export function publicTrade(m: Market, ev: TradeEvent, id: string, time: number): PublicTradeView {
  return {
    id,
    timestamp: time,
    symbol: ev.symbol,
    side: ev.takerSide,
    price: fmtPrice(m, ev.price),
    amount: fmtSize(m, ev.size),
    cost: fmtMoney(m, notional(m.inst, ev.size, ev.price, 'ceil')),
  };
}

export interface FillView extends PublicTradeView {
  orderId: string;
  takerOrMaker: 'taker' | 'maker';
  /** Negative for a rebate. */
  fee: { cost: string; currency: string };
}

/** One side of a trade as its owner sees it (ccxt's fetchMyTrades). */
export function fillOf(
  m: Market,
  ev: TradeEvent,
  id: string,
  time: number,
  role: 'taker' | 'maker',
): FillView {
  const side = role === 'taker' ? ev.takerSide : ev.takerSide === 'buy' ? 'sell' : 'buy';
  return {
    ...publicTrade(m, ev, id, time),
    side,
    orderId: String(role === 'taker' ? ev.takerOrderId : ev.makerOrderId),
    takerOrMaker: role,
    fee: { cost: fmtMoney(m, role === 'taker' ? ev.takerFee : ev.makerFee), currency: m.asset },
  };
}

/** A JSON value with every bigint already rendered at its scale (a combo's legs: a list of such records). */
export type WireEvent = { type: EngineEvent['type'] } & Record<
  string,
  string | number | boolean | null | string[] | Record<string, string>[]
>;

/**
 * An engine event with every amount formatted at its field's scale. A symbol in an event resolves when it is
 * formatted (delisted markets leave the histories, see Histories.forgetMarket); an asset with no market yet (cannot happen for money that moved) falls back to 0 dp.
 */
export function wireEvent(e: Engine, ev: EngineEvent): WireEvent {
  const mk = (symbol: string): Market => {
    const m = e.markets.get(symbol);
    if (!m) throw new Error(`bug: event for unknown market ${symbol}`);
    return m;
  };
  const asset = (a: string, v: bigint) => formatDecimal(v, e.assets.get(a) ?? 0);
  switch (ev.type) {
    case 'marketCreated':
    case 'marketDelisted':
    case 'siloCreated':
    case 'siloClosed':
      return { ...ev };
    case 'transfer':
      return { ...ev, amount: asset(ev.asset, ev.amount) };
    case 'insuranceDraw':
      return { ...ev, amount: asset(ev.asset, ev.amount) };
    case 'orderAccepted': {
      const m = mk(ev.symbol);
      const { triggerPrice, ...plain } = ev; // absent unless a trigger order
      const out = { ...plain, orderId: String(ev.orderId), size: fmtSize(m, ev.size) };
      if (ev.triggerKind === undefined || triggerPrice === undefined)
        return { ...out, price: fmtPrice(m, ev.price) };
      // A stop-loss / take-profit, accepted waiting for its price: the order views' trigger fields.
      return {
        ...out,
        price: ev.orderType === 'market' ? null : fmtPrice(m, ev.price),
        ...triggerView(ev.triggerKind, fmtPrice(m, triggerPrice), false),
      };
    }
    case 'orderTriggered': {
      const m = mk(ev.symbol);
      return {
        ...ev,
        orderId: String(ev.orderId),
        markPrice: fmtPrice(m, ev.markPrice),
        price: fmtPrice(m, ev.price),
        size: fmtSize(m, ev.size),
        ...triggerView(ev.triggerKind, fmtPrice(m, ev.triggerPrice), true),
      };
    }
    case 'orderCanceled': {
      const m = mk(ev.symbol);
      return { ...ev, orderId: String(ev.orderId), remaining: fmtSize(m, ev.remaining) };
    }
    case 'orderAmended': {
      const m = mk(ev.symbol);
      return { ...ev, orderId: String(ev.orderId), price: fmtPrice(m, ev.price), size: fmtSize(m, ev.size) };
    }
    case 'trade': {
      const m = mk(ev.symbol);
      return {
        ...ev,
        takerOrderId: String(ev.takerOrderId),
        makerOrderId: String(ev.makerOrderId),
        price: fmtPrice(m, ev.price),
        size: fmtSize(m, ev.size),
        takerFee: fmtMoney(m, ev.takerFee),
        makerFee: fmtMoney(m, ev.makerFee),
      };
    }
    case 'position': {
      const m = mk(ev.symbol);
      return {
        ...ev,
        size: fmtSize(m, ev.size),
        entryPrice: ev.side === null ? null : fmtPrice(m, ev.entryPrice),
        collateral: fmtMoney(m, ev.collateral),
        realizedPnl: fmtMoney(m, ev.realizedPnl),
        // Always present on the wire: null for a default (isolated or cross) position.
        silo: ev.silo ?? null,
      };
    }
    case 'marginModeSet':
      return { ...ev };
    case 'autoAddMarginSet':
      return { ...ev, trigger: fmtOpt(fmtRate, ev.trigger) };
    case 'leverageSet':
      return { ...ev, leverage: fmtLeverage(ev.leverage) };
    case 'markPrice':
      return { ...ev, price: fmtPrice(mk(ev.symbol), ev.price) };
    case 'indexPrice':
      return { ...ev, price: fmtOpt((v) => fmtPrice(mk(ev.symbol), v), ev.price) };
    case 'oracleStatus':
      return { ...ev };
    case 'fundingRate': {
      const m = mk(ev.symbol);
      return { ...ev, rate: fmtRate(ev.rate), price: fmtPrice(m, ev.price) };
    }
    case 'fundingPaid': {
      const m = mk(ev.symbol);
      return {
        ...ev,
        silo: ev.silo ?? null,
        amount: fmtMoney(m, ev.amount),
        shortfall: fmtMoney(m, ev.shortfall),
      };
    }
    case 'marketSettled':
      return { ...ev, price: fmtPrice(mk(ev.symbol), ev.price) };
    case 'liquidationStarted': {
      const m = mk(ev.symbol);
      return {
        ...ev,
        silo: ev.silo ?? null,
        mark: fmtPrice(m, ev.mark),
        equity: fmtMoney(m, ev.equity),
        maintenance: fmtMoney(m, ev.maintenance),
      };
    }
    case 'liquidation': {
      const m = mk(ev.symbol);
      return {
        ...ev,
        silo: ev.silo ?? null,
        size: fmtSize(m, ev.size),
        price: fmtPrice(m, ev.price),
        mark: fmtPrice(m, ev.mark),
        bankruptcyPrice: fmtPrice(m, ev.bankruptcyPrice),
        fee: fmtMoney(m, ev.fee),
        remaining: fmtSize(m, ev.remaining),
      };
    }
    case 'adl': {
      const m = mk(ev.symbol);
      return { ...ev, silo: ev.silo ?? null, size: fmtSize(m, ev.size), price: fmtPrice(m, ev.price) };
    }
    case 'autoAddMargin': {
      const m = mk(ev.symbol);
      return { ...ev, amount: fmtMoney(m, ev.amount), marginRatio: fmtRate(ev.marginRatio) };
    }
    case 'marginCall':
      return { ...ev, marginRatio: fmtRate(ev.marginRatio) };
    case 'marginFactor':
      return {
        ...ev,
        factor: fmtRate(ev.factor),
        previous: fmtRate(ev.previous),
        vol: formatDecimal(ev.vol / 10n ** 14n, 4),
      };
    case 'rebalancingSet': {
      const amt = (v: bigint | null) => fmtOpt((x) => asset(ev.asset, x), v);
      return {
        ...ev,
        trigger: fmtOpt(fmtRate, ev.trigger),
        target: fmtOpt(fmtRate, ev.target),
        buffer: fmtOpt(fmtRate, ev.buffer),
        maxPerMove: amt(ev.maxPerMove),
        maxPerDay: amt(ev.maxPerDay),
      };
    }
    case 'collateralRebalanced': {
      const { holding, ...rest } = ev;
      return {
        ...rest,
        ...(holding !== undefined && ev.holdingAsset !== undefined
          ? { holding: asset(ev.holdingAsset, holding) }
          : {}),
        amount: asset(ev.asset, ev.amount),
        marginRatio: fmtRate(ev.marginRatio),
        trigger: fmtRate(ev.trigger),
        giverFloor: asset(ev.asset, ev.giverFloor),
      };
    }
    case 'collateralAssetSet':
      return {
        ...ev,
        // The open last band has no `upTo`.
        haircuts: ev.haircuts.map((b): Record<string, string> => {
          const ratio = fmtRate(b.ratio);
          return b.upTo === null ? { ratio } : { upTo: asset(ev.settle, b.upTo), ratio };
        }),
        conversionPenalty: fmtRate(ev.conversionPenalty),
      };
    case 'collateralConverted': {
      const priceMarket = e.collateralAssets.get(`${ev.asset}:${ev.settle}`)?.priceMarket;
      const pm = priceMarket === undefined ? undefined : e.markets.get(priceMarket);
      return {
        ...ev,
        amount: asset(ev.asset, ev.amount),
        proceeds: asset(ev.settle, ev.proceeds),
        price: pm === undefined ? String(ev.price) : fmtPrice(pm, ev.price),
      };
    }
    case 'comboFilled':
      return {
        ...ev,
        comboId: String(ev.comboId),
        legs: ev.legs.map((l) => {
          const m = mk(l.symbol);
          const leg = { orderId: String(l.orderId), symbol: l.symbol, side: l.side };
          return { ...leg, size: fmtSize(m, l.size), avgPrice: fmtPrice(m, l.avgPrice) };
        }),
      };
    case 'vaultCreated':
      return {
        ...ev,
        performanceFee: fmtRate(ev.performanceFee),
        managementFee: fmtRate(ev.managementFee),
        maxLeverage: fmtLeverage(ev.maxLeverage),
        maxNotionalPerMarket: asset(ev.asset, ev.maxNotionalPerMarket),
      };
    case 'vaultDeposit':
    case 'vaultWithdraw': {
      const a = e.vaults.get(ev.vault)?.asset ?? '';
      return {
        ...ev,
        amount: asset(a, ev.amount),
        shares: formatDecimal(ev.shares, SHARE_DP),
        nav: asset(a, ev.nav),
        totalShares: formatDecimal(ev.totalShares, SHARE_DP),
      };
    }
    case 'vaultWithdrawQueued':
      return { ...ev, shares: formatDecimal(ev.shares, SHARE_DP) };
    case 'vaultFee': {
      const v = e.vaults.get(ev.vault);
      const a = v?.asset ?? '';
      return {
        ...ev,
        shares: formatDecimal(ev.shares, SHARE_DP),
        value: asset(a, ev.value),
        navPerShare: v === undefined ? String(ev.navPerShare) : fmtNavPerShare(e, a, ev.navPerShare),
      };
    }
    case 'shardTransfer':
      return { ...ev, amount: ev.asset === '' ? '0' : asset(ev.asset, ev.amount) };
    default: {
      const never: never = ev;
      throw new Error(`bug: unformatted event ${JSON.stringify((never as { type?: unknown }).type)}`);
    }
  }
}

/** JSON.stringify that renders any stray bigint as a string instead of throwing (defence in depth). */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
}
