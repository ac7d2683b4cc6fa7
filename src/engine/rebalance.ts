/**
 * The collateral rebalancing agent (setRebalancing): an account that opts in names, per asset, which of its named
 * silos may give and which may receive. When a receiver's margin ratio (maintenance / equity under its model)
 * reaches the trigger, collateral moves into it from the givers with the most to spare, before anything else tops
 * it up (auto-add from the free balance) and before it is liquidated.
 *
 * What it may never do is the point of the design:
 * - touch a silo the settings do not name, another account's, another asset's, the free balance or an isolated
 *   position — the givers and receivers are looked up by id in the owner's own silos at the moment of each move;
 * - take a giver below its initial margin × (1 + buffer), or past what transferCollateral would let leave it
 *   (unrealized profit never leaves a silo), or out of a silo whose markets' oracles pause withdrawals;
 * - move more than `maxPerMove` in one move or `maxPerDay` in one UTC day (command time).
 *
 * A receiver is filed in the liquidation index at the trigger as a silo with auto-add is (liquidation.ts fileCross,
 * `topUpTrigger`), so a mark update visits it only when it gets there. One whose givers had nothing to spare is
 * parked (`rebalanceParked`) — not filed at the trigger, or it would be due at every mark — until a giver's
 * collateral changes (refileDirty), the settings change, or its ratio falls back below the trigger; at maintenance
 * the agent tries again parked or not, since the givers' profits may have grown since.
 */
import { ceilDiv, minBig } from '../core/fixed.ts';
import { RATE_ONE } from '../core/rates.ts';
import type { Account, Rebalancing, Silo } from './account.ts';
import {
  collateralAsset,
  collateralPrice,
  holdingOf,
  holdingsValue,
  noteHolding,
  proceedsOf,
  sellHolding,
} from './collateral.ts';
import { allows, validityAt } from './oracle.ts';
import { siloLegs } from './risk.ts';
import { settleFundingFor } from './settle.ts';
import { siloFigures, siloMaxRemovable } from './silos.ts';
import type { EngineState } from './state.ts';

export const DAY_MS = 86_400_000;

/** The settings under which `silo` receives (null: it is not a receiver). */
export function receiving(silo: Silo): Rebalancing | null {
  const r = silo.account.rebalancing.get(silo.asset);
  return r?.receivers.includes(silo.id) ? r : null;
}

/**
 * The margin ratio at which the silo is to be looked at before maintenance: the lower of its auto-add trigger
 * (unless it already called for margin) and its rebalancing trigger (unless parked); null: none.
 */
export function topUpTrigger(silo: Silo): bigint | null {
  const aa = silo.autoAdd !== null && !silo.marginCalled ? silo.autoAdd.trigger : null;
  const r = silo.rebalanceParked ? null : receiving(silo);
  const rb = r === null ? null : r.trigger;
  if (aa === null) return rb;
  if (rb === null) return aa;
  return aa < rb ? aa : rb;
}

/** maintenance / equity has reached `trigger` (or there is no equity left). */
export function ratioReached(trigger: bigint, equity: bigint, maintenance: bigint): boolean {
  return equity <= 0n || maintenance * RATE_ONE >= trigger * equity;
}

/** maintenance / equity at RATE_DP, rounded up (100 when there is no equity): the ratio top-up events report. */
export function topUpRatio(equity: bigint, maintenance: bigint): bigint {
  return equity <= 0n ? RATE_ONE * 100n : ceilDiv(maintenance * RATE_ONE, equity);
}

/**
 * The agent's look at a receiver found crossed by the sweep (`below`: its equity is under maintenance). Moves
 * what the settings allow and returns the amount moved (0n: nothing, and the receiver's figures are unchanged).
 */
export function rebalanceReceiver(e: EngineState, silo: Silo, below: boolean): bigint {
  const r = receiving(silo);
  if (r === null) return 0n;
  const f = siloFigures(e, silo, 'requirement');
  if (!ratioReached(r.trigger, f.equity, f.maintenanceMargin)) {
    silo.rebalanceParked = false;
    return 0n;
  }
  if (silo.rebalanceParked && !below) return 0n;
  // Enough to bring the ratio down to the target: equity ≥ maintenance / target.
  const want = ceilDiv(f.maintenanceMargin * RATE_ONE, r.target) - f.equity;
  const moved =
    want > 0n ? pull(e, silo, r, limit(e, r, want), topUpRatio(f.equity, f.maintenanceMargin), below) : 0n;
  // Still short of the target (the givers had no more, or a limit stopped it): one move per look — it waits, parked,
  // for a giver's change or for maintenance.
  silo.rebalanceParked = moved < want;
  return moved;
}

/** `want` capped by the per-move and the rest of the day's limit (the day rolls over first). */
function limit(e: EngineState, r: Rebalancing, want: bigint): bigint {
  const day = Math.floor(e.now / DAY_MS);
  if (day !== r.day) {
    r.day = day;
    r.movedToday = 0n;
  }
  let cap = want;
  if (r.maxPerMove > 0n) cap = minBig(cap, r.maxPerMove);
  if (r.maxPerDay > 0n) cap = minBig(cap, r.maxPerDay - r.movedToday);
  return cap > 0n ? cap : 0n;
}

interface Giver {
  silo: Silo;
  spare: bigint;
  floor: bigint;
}

/** What each giver can spare now, most first (ties by id): never below its floor, never past its max removable. */
export function giversOf(e: EngineState, account: Account, r: Rebalancing, receiver: Silo): Giver[] {
  const out: Giver[] = [];
  for (const id of r.givers) {
    const g = account.silos.get(id);
    if (g === undefined || g === receiver || g.asset !== receiver.asset) continue;
    const legs = siloLegs(g);
    if (!legs.every((p) => allows('withdraw', validityAt(p.market, e.now)))) continue;
    const f = siloFigures(e, g, 'requirement');
    const floor = giverFloor(f.initialMargin, r.buffer);
    const spare = minBig(siloMaxRemovable(e, g), f.equity - floor);
    if (spare > 0n) out.push({ silo: g, spare, floor });
  }
  return out.sort((x, y) =>
    x.spare !== y.spare ? (x.spare > y.spare ? -1 : 1) : x.silo.id < y.silo.id ? -1 : 1,
  );
}

/** A giver's floor: its initial margin × (1 + buffer), rounded up. */
export function giverFloor(initialMargin: bigint, buffer: bigint): bigint {
  return ceilDiv(initialMargin * (RATE_ONE + buffer), RATE_ONE);
}

/** Moves up to `amount` into `to` from its givers, most spare first; one event per giver. */
function pull(
  e: EngineState,
  to: Silo,
  r: Rebalancing,
  amount: bigint,
  ratio: bigint,
  below: boolean,
): bigint {
  let left = amount;
  if (left <= 0n) return 0n;
  for (const g of giversOf(e, to.account, r, to)) {
    if (left === 0n) break;
    const x = minBig(left, g.spare);
    // As transferCollateral: the legs settle what funding they owe before collateral leaves their silo.
    for (const p of siloLegs(g.silo)) settleFundingFor(e, p);
    e.ledger.transfer(g.silo.bucket, to.bucket, x, 'rebalance');
    e.events.push({
      type: 'collateralRebalanced',
      account: to.account.id,
      asset: to.asset,
      from: g.silo.id,
      to: to.id,
      amount: x,
      marginRatio: ratio,
      trigger: r.trigger,
      giverFloor: g.floor,
      reason: below ? 'maintenance' : 'trigger',
    });
    left -= x;
    r.movedToday += x;
  }
  if (left > 0n && r.holdings !== 'none') left -= pullHoldings(e, to, r, left, ratio, below);
  return amount - left;
}

/**
 * Once the givers' settle collateral is spent: their holdings in other assets (collateral.ts), givers in the order
 * the settings list them, each giver's holdings in the order it first held them, each only while its price is fresh.
 * A giver gives no more than keeps its equity at its floor and its available ≥ 0 (both with the holding's new value);
 * the receiver gets the most units that bring it no more than `left` (what it counts them at, or the proceeds when
 * converting).
 * Returns what the receiver gained, in the settle asset.
 */
function pullHoldings(
  e: EngineState,
  to: Silo,
  r: Rebalancing,
  want: bigint,
  ratio: bigint,
  below: boolean,
): bigint {
  let left = want;
  for (const id of r.givers) {
    const g = to.account.silos.get(id);
    if (g === undefined || g === to || g.asset !== to.asset || g.holdings.size === 0) continue;
    if (!siloLegs(g).every((p) => allows('withdraw', validityAt(p.market, e.now)))) continue;
    for (const [asset, h] of g.holdings) {
      if (left <= 0n) return want;
      const c = collateralAsset(e, asset, g.asset);
      const p = c === null ? null : collateralPrice(e, c);
      if (c === null || p === null || !p.fresh || h.balance <= 0n) continue;
      const f = siloFigures(e, g, 'requirement');
      const floor = giverFloor(f.initialMargin, r.buffer);
      const [held, heldForRisk] = [holdingsValue(e, g, false), holdingsValue(e, g, true)];
      const givable = (x: bigint) => {
        const out = { asset, amount: -x };
        return (
          f.equity - (held - holdingsValue(e, g, false, out)) >= floor &&
          f.available - (heldForRisk - holdingsValue(e, g, true, out)) >= 0n
        );
      };
      const base = holdingsValue(e, to, false);
      const gain = (x: bigint) =>
        r.holdings === 'convert'
          ? proceedsOf(e, c, x, p)
          : holdingsValue(e, to, false, { asset, amount: x }) - base;
      // Never past `left`: it is what the limits allow (a unit short of it at worst).
      const units = largest(largest(h.balance, givable), (x) => gain(x) <= left);
      if (units <= 0n) continue;
      for (const q of siloLegs(g)) settleFundingFor(e, q);
      let got: bigint;
      if (r.holdings === 'convert') {
        got = sellHolding(e, g, c, units, p, 'rebalance');
        e.ledger.transfer(g.bucket, to.bucket, got, 'rebalance');
      } else {
        got = gain(units);
        e.ledger.transfer(h, holdingOf(e, to, asset), units, 'rebalance');
        noteHolding(c, g);
        noteHolding(c, to);
      }
      e.events.push({
        type: 'collateralRebalanced',
        account: to.account.id,
        asset: to.asset,
        from: g.id,
        to: to.id,
        amount: got,
        marginRatio: ratio,
        trigger: r.trigger,
        giverFloor: floor,
        reason: below ? 'maintenance' : 'trigger',
        holdingAsset: asset,
        holding: units,
        ...(r.holdings === 'convert' ? { converted: true } : {}),
      });
      left -= got;
      r.movedToday += got;
    }
  }
  return want - left;
}

/** The largest x in [0, hi] with ok(x), ok monotone (true up to a point); 0 when ok(1) fails. */
function largest(hi: bigint, ok: (x: bigint) => boolean): bigint {
  if (ok(hi)) return hi;
  let lo = 0n;
  let bad = hi;
  while (bad - lo > 1n) {
    const mid = (lo + bad) / 2n;
    if (ok(mid)) lo = mid;
    else bad = mid;
  }
  return lo;
}

/**
 * Receivers of `silo`'s account and asset to look at again because `silo` — a giver — changed (its collateral moved):
 * they are un-parked. Empty when `silo` gives to nobody.
 */
export function unparkFor(silo: Silo): Silo[] {
  const r = silo.account.rebalancing.get(silo.asset);
  if (r === undefined || !r.givers.includes(silo.id)) return [];
  const out: Silo[] = [];
  for (const id of r.receivers) {
    const s = silo.account.silos.get(id);
    if (s === undefined || !s.rebalanceParked) continue;
    s.rebalanceParked = false;
    out.push(s);
  }
  return out;
}
