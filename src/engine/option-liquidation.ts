/**
 * Liquidating a box (a named silo or a cross bucket) that holds short options and a perpetual or future on the same
 * base: delta first. The reference's order (Deribit's auto-liquidation, options-margin.md §4): "first liquidate
 * future positions and after that liquidate any option positions … (basically striving for a 'delta neutral' position
 * where possible)". ringfence reads it as: before the box's close order applies, a linear perpetual or future leg
 * whose delta has the sign of its base's net delta (the options' Black-76 deltas × size, plus the perpetuals' and
 * futures' sizes) is reduced toward delta neutral, never past it, when that lowers the box's maintenance. A leg whose
 * delta is against the net hedges the options: closing it would add risk, so it is left to the close order.
 *
 * Only reduce, never open. Deribit's portfolio-margin liquidation may also open futures to hedge (§4). ringfence does
 * not: the box is below maintenance, so it cannot back a new leg's initial margin, and the new leg's losses would be
 * the insurance fund's; every liquidation step in the engine is reduce-only, and a box holds only the instruments its
 * owner put in it. A box with no perpetual or future on the base is not hedged: its short options close as before.
 *
 * Arithmetic. Deltas are exact integers in units of 1e-54 of the base (an option's delta is WAD, a size has at most
 * 36 decimals with its multiplier), so the net is exact; the lots to close are floored (toward less hedging). Inverse
 * legs are left out: their coin deltas are price-adjusted and do not add to a linear size exactly.
 */
import { scales } from '../core/margin.ts';
import type { Position, Silo } from './account.ts';
import type { Market } from './market.ts';
import { priceOption } from './option-terms.ts';
import { legMaintenance, positionInput, valuationPrice } from './risk.ts';
import { combine, legOf } from './silos.ts';
import type { EngineState } from './state.ts';

/** One unit of base, in the delta unit (1e-54). */
const DELTA_ONE = 10n ** 54n;
/** 10^36, the largest size scale (sizeDp + multiplierDp ≤ 36): option delta (WAD) × size lands on 1e-54. */
const SIZE_ONE = 10n ** 36n;

/** The hedge step: close `lots` of leg `leg` (an index into the box's legs) before anything else. */
export interface DeltaHedge {
  leg: number;
  lots: number;
}

/**
 * The next step of a box's liquidation when the reference's order asks for one: among the legs `may` allows (not
 * cooling down) whose partial close moves their base's net delta toward zero and lowers the box's maintenance, the
 * one with the largest maintenance (then the first symbol), and how many lots (at most the delta excess, floored;
 * the market's partial policy may take fewer). Null when no leg qualifies or a base's delta is unknown (an option
 * without a forward or a vol: that base is not hedged).
 */
export function deltaHedge(
  e: EngineState,
  ps: readonly Position[],
  silo: Silo | null,
  may: (p: Position) => boolean,
): DeltaHedge | null {
  const nets = netDeltas(e, ps);
  if (nets.size === 0) return null;
  const mms = ps.map((p) => legMaintenance(e.conventions, p.market, positionInput(p), valuationPrice(p)));
  const now = boxMaintenance(e, ps, mms, silo);
  let best: DeltaHedge | null = null;
  ps.forEach((p, i) => {
    const net = nets.get(p.market.config.base);
    if (net === undefined || net === 0n || !isLinearHedge(p.market) || !may(p)) return;
    const withTheNet = net > 0n === p.sign > 0;
    if (!withTheNet) return; // a hedge: closing it would move the net away from zero
    const m = p.market;
    const perLot = (m.inst.lotSize * m.inst.multiplier * DELTA_ONE) / scales(m.inst).sizeScale;
    const excess = net > 0n ? net : -net;
    const lots = Math.min(p.lots, Number(excess / perLot));
    if (lots <= 0) return;
    const rest = p.lots - lots;
    const after = mms.slice();
    after[i] =
      rest === 0
        ? 0n
        : legMaintenance(e.conventions, m, { ...positionInput(p), size: m.size(rest) }, valuationPrice(p));
    if (boxMaintenance(e, ps, after, silo, rest === 0 ? i : -1) >= now) return;
    const b = best === null ? -1 : best.leg;
    if (b < 0 || mms[i]! > mms[b]! || (mms[i] === mms[b] && m.symbol < ps[b]!.market.symbol))
      best = { leg: i, lots };
  });
  return best;
}

/**
 * Net delta per base (1e-54 units of base) of the bases where the box is short an option and holds a linear
 * perpetual or future. A base with an inverse option, or an option without a delta, is left out.
 */
export function netDeltas(e: EngineState, ps: readonly Position[]): Map<string, bigint> {
  const net = new Map<string, bigint>();
  // Most boxes hold no option beside a perpetual: nothing to price then (this runs on every liquidation step).
  if (!ps.some((p) => p.market.option !== null) || !ps.some((p) => isLinearHedge(p.market))) return net;
  const shortOption = new Set<string>();
  const hedged = new Set<string>();
  const unknown = new Set<string>();
  const add = (base: string, d: bigint) => net.set(base, (net.get(base) ?? 0n) + d);
  for (const p of ps) {
    if (p.sign === 0) continue;
    const m = p.market;
    const base = m.config.base;
    const sign = BigInt(p.sign);
    const units = p.size * m.inst.multiplier; // at sizeDp + multiplierDp
    const scale = scales(m.inst).sizeScale;
    if (m.option !== null) {
      if (p.sign < 0) shortOption.add(base);
      const delta = optionDelta(e, m);
      if (delta === null || m.option.settle !== 'linear') unknown.add(base);
      else add(base, sign * delta * units * (SIZE_ONE / scale));
    } else if (isLinearHedge(m)) {
      hedged.add(base);
      add(base, (sign * units * DELTA_ONE) / scale);
    }
  }
  for (const base of [...net.keys()])
    if (!shortOption.has(base) || !hedged.has(base) || unknown.has(base)) net.delete(base);
  return net;
}

/** A linear perpetual or dated future, open (the legs a liquidation may reduce to hedge). */
function isLinearHedge(m: Market): boolean {
  return m.option === null && m.inst.kind === 'linear' && !m.closed;
}

/**
 * An option's Black-76 delta per unit (WAD) on the inputs of its current mark: the feed's forward and IV, at the
 * command's time (core black76 through option-terms' priceOption). Null without a forward or a vol.
 */
function optionDelta(e: EngineState, m: Market): bigint | null {
  const f = m.optionFeed;
  if (f === null || f.forward === null || m.closed) return null;
  const r = priceOption(m.option!, f, f.forward, Math.floor((f.expiry - e.now) / 1000), m.inst.priceDp);
  return r === null ? null : r.delta;
}

/**
 * The box's maintenance from per-leg figures (as liquidation.ts crossState): a named silo's model over them, a cross
 * bucket's sum; leg `closed` (a fully closed hedge) left out.
 */
function boxMaintenance(
  e: EngineState,
  ps: readonly Position[],
  mms: readonly bigint[],
  silo: Silo | null,
  closed = -1,
): bigint {
  if (silo === null) return mms.reduce((s, x) => s + x, 0n);
  return combine(
    silo,
    ps.flatMap((p, i) => (i === closed ? [] : [legOf(p, mms[i]!)])),
    e.netting,
  );
}
