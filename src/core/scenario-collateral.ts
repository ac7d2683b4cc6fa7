/**
 * calc: collateral in several assets (`collateral: [{asset, amount, price?}]`, docs/calc.md "Collateral in other
 * assets"), for an isolated position or a silo. The settle asset counts at face value; any other asset at its price ×
 * its haircut band table (core/collateral.ts; the scenario's `haircuts` over the defaults). An asset that is the
 * underlying of a market the box trades (a position's own market; any linear leg's market in a silo) is priced by
 * that market, so its value moves with every candidate price of it: a long BTCUSDT funded in BTC loses collateral as
 * it loses PnL (wrong-way risk), and its liquidation price is searched tick by tick with the collateral revalued at
 * each. Any other asset needs a `price` and counts at it.
 */
import { DEFAULT_HAIRCUTS, grossValue, type HaircutBand, haircutValue, parseBands } from './collateral.ts';
import { formatDecimal, InputError, parseDecimal, pow10 } from './fixed.ts';
import type { Instrument } from './instrument.ts';
import { type MarginConventions, type PositionInput, triggerMaintenance, unrealizedPnl } from './margin.ts';

/** Amounts and prices of other assets: 8 decimals (every asset a venue lists fits). */
const ASSET_DP = 8;
const MAX_TICKS = 2n ** 47n;

/** A market that prices a holding in its underlying: its instrument and its mark. */
export interface PricingMarket {
  inst: Instrument;
  mark: bigint;
}

interface Holding {
  asset: string;
  amount: bigint;
  /** Settle units per unit of the asset at ASSET_DP; null: priced by `market` (or the settle asset: face value). */
  price: bigint | null;
  /** The market whose price values it (the box's own underlying); null: a fixed `price`, or the settle asset. */
  market: PricingMarket | null;
  /** Null: the settle asset (face value). */
  bands: HaircutBand[] | null;
}

export interface MultiCollateral {
  settleDp: number;
  holdings: Holding[];
}

/** The scenario's `haircuts` field: an object of band tables by asset (checked when an asset uses one). */
export function parseHaircutsInput(v: unknown): Record<string, unknown> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new InputError(
      'haircuts',
      'must be an object of band tables by asset, e.g. {"BTC": [{"upTo": null, "ratio": "0.95"}]}',
    );
  return v as Record<string, unknown>;
}

/** A position's `collateral` (then `margin` and `extraMargin` are refused): its own market prices its underlying. */
export function parseMultiCollateral(
  p: Record<string, unknown>,
  field: string,
  inst: Instrument,
  mark: bigint,
  haircuts: Record<string, unknown>,
): MultiCollateral {
  for (const k of ['margin', 'extraMargin'] as const)
    if (p[k] !== undefined)
      throw new InputError(`${field}.${k}`, 'give the collateral in `collateral` or `margin`, not both');
  const markets = new Map([[inst.baseAsset, { inst, mark }]]);
  return parseHoldings(
    p.collateral,
    `${field}.collateral`,
    inst.settleAsset,
    inst.settleDp,
    markets,
    haircuts,
  );
}

/**
 * A list of holdings in a box settled in `settleAsset`. `markets`: the linear markets the box trades, by underlying
 * asset (a holding in one of them is priced by it).
 */
export function parseHoldings(
  list: unknown,
  f: string,
  settleAsset: string,
  settleDp: number,
  markets: ReadonlyMap<string, PricingMarket>,
  haircuts: Record<string, unknown>,
): MultiCollateral {
  if (!Array.isArray(list) || list.length === 0 || list.length > 16)
    throw new InputError(f, 'must be a list of 1–16 holdings {asset, amount, price?}');
  const holdings: Holding[] = [];
  list.forEach((h: unknown, i) => {
    const hf = `${f}[${i}]`;
    if (h === null || typeof h !== 'object' || Array.isArray(h))
      throw new InputError(hf, 'must be {asset, amount, price?}');
    const o = h as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!['asset', 'amount', 'price'].includes(k)) throw new InputError(`${hf}.${k}`, 'unknown field');
    if (typeof o.asset !== 'string' || !/^[A-Za-z0-9]{1,16}$/.test(o.asset))
      throw new InputError(`${hf}.asset`, 'must be an asset code');
    const asset = o.asset;
    if (holdings.some((x) => x.asset === asset)) throw new InputError(`${hf}.asset`, `${asset} listed twice`);
    if (asset === settleAsset) {
      if (o.price !== undefined)
        throw new InputError(`${hf}.price`, `${asset} is the settle asset: it counts at face value`);
      const amount = parseDecimal(o.amount, `${hf}.amount`, { dp: settleDp, maxAbs: pow10(36) });
      holdings.push({ asset, amount, price: null, market: null, bands: null });
      return;
    }
    const amount = parseDecimal(o.amount, `${hf}.amount`, { dp: ASSET_DP, maxAbs: pow10(36) });
    const table = haircuts[asset] ?? DEFAULT_HAIRCUTS[asset];
    if (table === undefined)
      throw new InputError(
        `haircuts.${asset}`,
        `no haircut table for ${asset}: give haircuts.${asset} = [{upTo, ratio}, …]`,
      );
    const bands = parseBands(table, `haircuts.${asset}`, settleDp);
    const market = markets.get(asset) ?? null;
    if (market !== null && market.inst.kind !== 'linear')
      throw new InputError(`${hf}.asset`, 'collateral in another asset is supported on linear markets only');
    if (market !== null && o.price !== undefined)
      throw new InputError(
        `${hf}.price`,
        `${asset} is the underlying of ${market.inst.symbol}: it is priced by that market at every price`,
      );
    if (market === null && o.price === undefined)
      throw new InputError(`${hf}.price`, `${asset} needs a price in ${settleAsset}`);
    const price =
      market !== null
        ? null
        : parseDecimal(o.price, `${hf}.price`, { dp: ASSET_DP, positive: true, maxAbs: pow10(30) });
    holdings.push({ asset, amount, price, market, bands });
  });
  return { settleDp, holdings };
}

/** One holding's gross value and value after its haircut, its market (if any) at `at`, settle units. */
function holdingValue(h: Holding, settleDp: number, at: bigint | null): { gross: bigint; value: bigint } {
  if (h.bands === null) return { gross: h.amount, value: h.amount };
  const gross =
    h.market !== null
      ? grossValue(h.amount, ASSET_DP, at ?? h.market.mark, h.market.inst.priceDp, settleDp)
      : grossValue(h.amount, ASSET_DP, h.price!, ASSET_DP, settleDp);
  return { gross, value: haircutValue(gross, h.bands) };
}

/** The collateral's value with market `symbol` at `price` (null: every market at its mark). */
export function collateralAt(
  m: MultiCollateral,
  symbol: string | null = null,
  price: bigint | null = null,
): bigint {
  let v = 0n;
  for (const h of m.holdings) v += holdingValue(h, m.settleDp, moves(h, symbol) ? price : null).value;
  return v;
}

/** Whether a move of market `symbol` revalues holding `h`. */
const moves = (h: Holding, symbol: string | null) => symbol !== null && h.market?.inst.symbol === symbol;

/** Whether some holding is priced by market `symbol`. */
export function movesWith(m: MultiCollateral, symbol: string): boolean {
  return m.holdings.some((h) => moves(h, symbol));
}

export function collateralRows(m: MultiCollateral) {
  return m.holdings.map((h) => {
    const { gross, value } = holdingValue(h, m.settleDp, null);
    const price =
      h.bands === null
        ? null
        : h.market !== null
          ? formatDecimal(h.market.mark, h.market.inst.priceDp)
          : formatDecimal(h.price!, ASSET_DP);
    return {
      asset: h.asset,
      amount: formatDecimal(h.amount, h.bands === null ? m.settleDp : ASSET_DP),
      price,
      grossValue: formatDecimal(gross, m.settleDp),
      value: formatDecimal(value, m.settleDp),
    };
  });
}

/**
 * The liquidation prices of a position whose collateral moves with its own market: `adverse`, on the position's
 * losing side (a long's below, a short's above the mark), the last tick before the one at which collateral + uPnL
 * falls under the liquidation test's maintenance, and `other`, the same on the other side (a short funded in its
 * underlying can be liquidated by a fall that takes more collateral value than the short gains). Null: none. Exact to
 * the tick: the margin excess is increasing in price for a long (collateral and PnL both rise, maintenance by less)
 * and concave for a short (linear PnL, concave banded collateral value, convex maintenance), so each side has one
 * crossing and a binary search finds it. At a mark already past the test, `adverse` is the mark.
 */
export function movingLiquidation(
  inst: Instrument,
  conv: MarginConventions,
  pos: PositionInput,
  mark: bigint,
  m: MultiCollateral,
): { adverse: bigint | null; other: bigint | null } {
  const tick = inst.tickSize;
  const fails = (k: bigint) => {
    const at = k * tick;
    return (
      collateralAt(m, inst.symbol, at) + unrealizedPnl(inst, pos, at) <
      triggerMaintenance(inst, conv, pos, at)
    );
  };
  const markTicks = mark / tick;
  if (fails(markTicks)) return { adverse: mark, other: null };
  const k1 = lastFailingBelow(fails, markTicks);
  const k2 = firstFailingAbove(fails, markTicks);
  // As every calc liquidation price: the last tick at which the test passes (the next one toward danger fails).
  const below = k1 === null ? null : (k1 + 1n) * tick;
  const above = k2 === null ? null : (k2 - 1n) * tick;
  return pos.side === 'long' ? { adverse: below, other: above } : { adverse: above, other: below };
}

/** The highest tick under `ok` that fails (failing ticks below it form [1, root)); null if tick 1 holds. */
function lastFailingBelow(fails: (k: bigint) => boolean, ok: bigint): bigint | null {
  if (ok <= 1n || !fails(1n)) return null;
  let lo = 1n; // fails
  let hi = ok; // holds
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (fails(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The lowest tick above `ok` that fails (searched by doubling, then halving); null within 2^47 ticks. */
function firstFailingAbove(fails: (k: bigint) => boolean, ok: bigint): bigint | null {
  let lo = ok; // holds
  let step = ok > 0n ? ok : 1n;
  let hi = lo + step;
  while (!fails(hi)) {
    if (hi >= MAX_TICKS) return null;
    lo = hi;
    step *= 2n;
    hi = hi + step > MAX_TICKS ? MAX_TICKS : hi + step;
  }
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (fails(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
