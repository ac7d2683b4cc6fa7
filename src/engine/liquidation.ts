/**
 * Stage 5 of a command — sweep liquidations. The liquidation engine: indexed detection, partial liquidation, the
 * insurance fund's backstop, auto-deleveraging and auto-add margin. `apply` (engine.ts) calls `refileDirty` once
 * the command's handler is done (every position and bucket it changed is re-filed) and then `sweep` over the markets
 * that became due. A liquidation goes down the pipeline like a trader's close: its order through match.ts, the
 * backstop takeover and ADL through settle.ts.
 *
 * Detection. Every open position sits in its market's LiquidationIndex under a trigger price (liquidation-index.ts):
 * its own liquidation price when isolated, a per-account price-distance bound when cross. A mark update takes only
 * the positions whose trigger it reached and checks each exactly; nothing else is visited.
 *
 * Procedure, per bucket (an isolated position, an account's cross positions in one settle asset, or a named silo's
 * legs — pooled as cross, backed by the silo's own bucket, maintenance under its risk model):
 * 1. cancel the bucket's open orders (for cross: every order of the account in that asset, which releases isolated
 *    order reserves back to the pool) and check again;
 * 2. decide how much to close (the market's policy: full, restore maintenance × (1 + buffer), or drop a risk tier;
 *    large positions in chunks with a cooldown);
 * 3. send a reduce-only IOC into the book with its limit between the bankruptcy price and the mark (in a gap, past
 *    the bankruptcy price as far as the insurance fund can pay for);
 * 4. what does not fill is taken over by the backstop — the insurance fund's own account, '@insurance', whose
 *    positions are ordinary cross positions and can be unwound through the book — at the bankruptcy price, unless
 *    that would cost the fund more than it holds: then auto-deleveraging closes the top-ranked opposite positions at
 *    the bankruptcy price.
 * The liquidation fee goes to the insurance fund, capped at what the bucket holds beyond what the rest of the
 * position needs at the bankruptcy price (`chargeFee`). Collateral left after a partial liquidation stays in the
 * bucket; after a full one it returns to the owner. A cross account's loss beyond its cash is first paid from its
 * other cross positions' profit, realized at their marks (`coverFromProfits`). A loss beyond the bucket is paid by
 * the insurance fund and recorded (`insuranceDraw`); it never reaches the owner's free balance or another bucket.
 *
 * Determinism. The index is a cache: candidates are re-sorted by account number before anything happens, and a
 * candidate that turns out not to be liquidatable is only re-filed (its funding is not even settled), so an engine
 * restored from a snapshot, whose index was rebuilt with different keys, behaves identically.
 */
import { ceilDiv, maxBig, minBig } from '../core/fixed.ts';
import type { Instrument } from '../core/instrument.ts';
import {
  type BucketPosition,
  bankruptcyPrice,
  conservativeRounding,
  crossBankruptcyPrice,
  excessMonotone,
  initialMarginAtLeverage,
  liquidationPrice,
  liquidationTrigger,
  notional,
  ratesAt,
  unrealizedPnl,
} from '../core/margin.ts';
import { LEVERAGE_ONE, RATE_ONE } from '../core/rates.ts';
import { firstReached } from '../core/search.ts';
import { Account, BACKSTOP_ACCOUNT, DEFAULT_CLOSE_ORDER, Position, Silo, Wallet } from './account.ts';
import { convertHoldings, fileHoldings, holdingsValue, pricedHoldings, staleHoldings } from './collateral.ts';
import { filingInstrument } from './dynamic-margin.ts';
import { emitPosition } from './events.ts';
import { MAX_PRICE_TICKS, type Market } from './market.ts';
import { cancelResting, liquidationOrder } from './match.ts';
import { deltaHedge } from './option-liquidation.ts';
import { allows, validityAt } from './oracle.ts';
import { coverFromProfits, crossPositions } from './realize.ts';
import { ratioReached, rebalanceReceiver, topUpRatio, topUpTrigger, unparkFor } from './rebalance.ts';
import {
  available,
  bucketAfterFunding,
  holderOf,
  legMaintenance,
  pendingFunding,
  positionInitialMargin,
  positionInput,
  valuationPrice,
} from './risk.ts';
import { settleFundingFor, transferPosition } from './settle.ts';
import { combine, legOf, siloFigures } from './silos.ts';
import { type EngineState, insuranceFund, positionOf } from './state.ts';
import { isStrategyModel, recheckMaintenance } from './strategy-silos.ts';
import type { SiloCloseOrder } from './types.ts';

export { BACKSTOP_ACCOUNT } from './account.ts';

/** Rounds of sweep → liquidate → re-file within one command (a liquidation can make others liquidatable). */
const MAX_SWEEP_ROUNDS = 8;

// ---------------------------------------------------------------------------------------------------------
// Filing positions in the index

/**
 * Re-files an isolated position (or removes a flat one). Cross positions are filed per account: `fileCross`.
 * (Whether a position is already due is decided where it changed: `touchIsolated`, `touchCross`.)
 */
export function fileIsolated(e: EngineState, p: Position): void {
  const idx = p.market.liqIndex;
  idx.stale.delete(p);
  if (p.sign === 0 || p.account.id === BACKSTOP_ACCOUNT || p.market.closed) {
    idx.remove(p);
    return;
  }
  if (p.mode === 'cross') {
    fileCross(e, p.account, p.market.asset, p.silo);
    return;
  }
  if (p.market.option !== null) {
    // An option's maintenance moves with its underlying, vol and time, not with its own price alone: it is checked
    // exactly whenever its mark is recomputed (options.ts re-files every holder of the underlying), so it is filed
    // as due now or never.
    idx.put(p, touchIsolated(e, p) ? valuationPrice(p) : null);
    idx.stale.delete(p);
    return;
  }
  const collateral = bucketAfterFunding(p);
  // Auto-add watches an earlier price, unless it already called for margin it could not find.
  const autoAdding = autoAddActive(p) && !p.marginCalled;
  const m = p.market;
  // Filed under the instrument at a pending dynamic-margin raise, if any (dynamic-margin.ts): never late.
  const applied = m.inst;
  m.inst = filingInstrument(m);
  try {
    const { first, trigger } = indexTrigger(e, p, collateral, autoAdding);
    idx.put(p, autoAdding ? earlier(p, autoAddPrice(e, p, collateral, first), trigger) : trigger);
  } finally {
    m.inst = applied;
  }
}

/**
 * Where to file `p` backed by `collateral` alone. `first`: the first mark at which the liquidation test fails (exact
 * to the tick, whole-unit rounding and step brackets included): no earlier mark is liquidatable. `trigger`: a little
 * earlier, where the margin excess still keeps FUNDING_SLACK units: funding moves equity without a re-file, and the
 * index's drift covers the price-equivalent of what it pays (doubled), but not the unit a funding charge rounds up by
 * nor the whole-unit band the test adds (under 2 units) — the first failing tick after funding can move further than
 * that price-equivalent, by up to a tick or, where a unit spans ticks, several. From a tick keeping 4 units the drift
 * reaches any mark where the test can fail (3 units + the funding, past it). The exact check decides; the slack only
 * costs a check when the mark comes within it.
 *
 * Less collateral lowers the excess at every price by the same amount, so every tick that fails with `collateral`
 * fails with less: where the trigger search is exact (excess monotone in price) the slack price is already the
 * earlier one, and `first` is computed only when asked for (auto-add searches from it) — filing is a hot path.
 */
function indexTrigger(
  e: EngineState,
  p: Position,
  collateral: bigint,
  wantFirst = false,
): { first: bigint | null; trigger: bigint | null } {
  const inst = p.market.inst;
  const conv = conservativeRounding(e.conventions);
  const li = { inst, conv, pos: positionInput(p), collateral };
  const slack = liquidationPrice({ ...li, collateral: collateral - FUNDING_SLACK });
  if (!wantFirst && excessMonotone(inst, conv, li.pos.side)) return { first: null, trigger: slack };
  const first = liquidationTrigger(li);
  return { first, trigger: earlier(p, first, slack) };
}

/** Units of margin excess the index keeps in hand for funding (see fileIsolated). */
const FUNDING_SLACK = 4n;

/** The earlier of two triggers for `p` (a long's higher, a short's lower; null: never). */
function earlier(p: Position, a: bigint | null, b: bigint | null): bigint | null {
  if (a === null) return b;
  if (b === null) return a;
  return p.sign > 0 ? maxBig(a, b) : minBig(a, b);
}

/**
 * Files every open cross position of `a` in `asset` under its share of the account's margin surplus (with `silo`:
 * every leg of that named silo under its share of the silo's surplus).
 */
export function fileCross(e: EngineState, a: Account, asset: string, silo: Silo | null = null): void {
  if (a.id === BACKSTOP_ACCOUNT) return;
  const ps = crossPositions(a, asset, silo);
  if (ps.length === 0) {
    // No leg, nothing to liquidate: its holdings leave their indexes (a payment still converts what it needs).
    if (silo !== null && silo.holdings.size > 0) fileHoldings(e, silo, false, null, null);
    return;
  }
  // As fileIsolated: every leg's market under its filing instrument while the keys are computed.
  let swapped: [Market, Instrument][] | null = null;
  for (const p of ps) {
    const m = p.market;
    const f = filingInstrument(m);
    if (f === m.inst) continue;
    swapped ??= [];
    swapped.push([m, m.inst]);
    m.inst = f;
  }
  if (swapped === null) {
    fileCrossKeys(e, a, asset, ps, silo);
    return;
  }
  try {
    fileCrossKeys(e, a, asset, ps, silo);
  } finally {
    for (const [m, inst] of swapped) m.inst = inst;
  }
}

function fileCrossKeys(e: EngineState, a: Account, asset: string, ps: Position[], silo: Silo | null): void {
  const { equity, maintenance, risks } = crossState(e, a, asset, ps, silo, true);
  const surplus = equity - maintenance;
  // A silo's holdings in other assets take a share each too: their value falls with their own index (collateral.ts).
  const held = silo !== null && silo.holdings.size > 0 ? pricedHoldings(e, silo) : 0;
  const shares = BigInt(ps.length + held);
  const share = surplus > 0n ? surplus / shares : 0n;
  // A named silo with auto-add watches an earlier price too, unless it already called for margin it could not find:
  // its surplus over the auto-add threshold, split the same way.
  // A rebalancing receiver likewise, at the lower of the two triggers (rebalance.ts topUpTrigger).
  const aa = silo !== null ? topUpTrigger(silo) : null;
  const aaSurplus = aa === null ? 0n : equity - autoAddThreshold(maintenance, aa);
  const strategy = silo !== null && isStrategyModel(silo.riskModel);
  if (held > 0) {
    const dueNow = surplus <= 0n || (aa !== null && aaSurplus <= 0n) || strategy;
    fileHoldings(e, silo!, true, dueNow ? null : share, aa === null || dueNow ? null : aaSurplus / shares);
  }
  ps.forEach((p, i) => {
    const r = risks[i]!;
    p.market.liqIndex.stale.delete(p);
    if (surplus <= 0n || (aa !== null && aaSurplus <= 0n)) {
      p.market.liqIndex.put(p, valuationPrice(p)); // due now
      return;
    }
    // An option leg is re-checked with its pool whenever its mark is recomputed (options.ts), never by a trigger.
    if (p.market.option !== null) {
      p.market.liqIndex.put(p, null);
      return;
    }
    // A strategy-model silo's requirement is not a sum of per-leg figures that move with one price each (a cover's
    // move changes what the options need): its perpetual and future legs are checked at every mark of their markets.
    if (strategy) {
      p.market.liqIndex.put(p, p.sign > 0 ? EVERY_MARK_LONG : 0n);
      return;
    }
    // Where this position alone would use up its share: C + uPnL(P) < MM(P), C = share + MM − uPnL, filed as an
    // isolated position is (exact to the tick under whole-unit rounding whatever the display rounding — a 'nearest'
    // price one tick out was late wherever one settle unit spans several ticks — with the same funding slack). uPnL
    // here is the price PnL alone: funding owed is already out of the surplus (and so of the share), and the
    // solver's uPnL(P) has none in it either (subtracting the funding-net PnL added the funding back: D6).
    const liq =
      silo?.riskModel === 'netted'
        ? nettedTrigger(e, p, share, r)
        : indexTrigger(e, p, share + r.maintenance - r.pricePnl).trigger;
    // The auto-add trigger, under either model: the threshold moves by at most Σ|ΔMM_i| / trigger (see nettedTrigger).
    const topUp = aa === null ? null : nettedTrigger(e, p, aaSurplus / shares, r, aa);
    p.market.liqIndex.put(p, earlier(p, liq, topUp));
  });
}

/** A long filed here is crossed by any mark (a short filed at 0 is): the index's "look at every mark". */
const EVERY_MARK_LONG = 1n << 200n;

/**
 * The equity at or below which a silo's auto-add fires: maintenance / equity ≥ trigger ⇔ equity ≤ MM / trigger,
 * rounded up (equity above the rounded figure has certainly not reached it).
 */
function autoAddThreshold(maintenance: bigint, trigger: bigint): bigint {
  return ceilDiv(maintenance * RATE_ONE, trigger);
}

/**
 * A netted silo's leg: the first tick in its adverse direction where its loss since now plus how far its own
 * maintenance moved (either way: a hedging leg's smaller requirement can raise the netted figure) plus the funding
 * slack reaches its share of the surplus. The netted maintenance moves by at most the sum of the legs' moves (core
 * silo.ts), so while no leg has reached its trigger the silo's equity stays above its maintenance: never late. Both
 * terms grow monotonically away from the valuation price, so the first such tick is found by bisection on ticks.
 *
 * `trigger` (RATE_DP, default 1): the leg's maintenance move counts divided by it, rounded up — a silo's auto-add
 * threshold is ceil(MM / trigger), which moves by at most Σ ceil(|ΔMM_i| / trigger) (either model), so `share` is
 * then the leg's share of the surplus over that threshold and the top-up is never late either.
 */
function nettedTrigger(
  e: EngineState,
  p: Position,
  share: bigint,
  r: CrossRisk,
  trigger: bigint = RATE_ONE,
): bigint | null {
  const m = p.market;
  const tick = m.inst.tickSize;
  const pos = positionInput(p);
  /** ≥ 0 where the leg has used up its share (what it has lost, plus its maintenance's move, plus the slack). */
  const gap = (ticks: bigint): bigint => {
    const price = ticks * tick;
    const loss = r.pricePnl - unrealizedPnl(m.inst, pos, price);
    const mm = legMaintenance(e.conventions, m, pos, price);
    const moved = mm > r.maintenance ? mm - r.maintenance : r.maintenance - mm;
    const scaled = trigger === RATE_ONE ? moved : ceilDiv(moved * RATE_ONE, trigger);
    return loss + scaled + FUNDING_SLACK - share;
  };
  const long = p.sign > 0;
  const start = valuationPrice(p);
  const safe = long ? start / tick : ceilDiv(start, tick);
  const bad = long ? 1n : BigInt(MAX_PRICE_TICKS);
  if (long ? safe <= bad : safe >= bad) return start;
  const atSafe = gap(safe);
  if (atSafe >= 0n) return start; // due now
  if (gap(bad) < 0n) return null;
  // Loss and maintenance move about linearly with the price: a secant finds the tick in ~10 evaluations, where
  // bisection over the whole range took 20 (a long) to 47 (a short) — this runs for every leg a netted silo re-files.
  return firstReached(safe, bad, gap, atSafe) * tick;
}

/**
 * Auto-add fires where maintenance / equity reaches the position's trigger: the first tick between the mark and the
 * liquidation trigger `lp` (the first failing tick) where it does (the ratio is monotone in price there), found by
 * firstReached on `MM·1 − trigger·equity`, which is ≥ 0 exactly where the ratio has reached the trigger (MM ≥ 0 and
 * trigger > 0: with no equity left both say yes) and, unlike the ratio, close to linear in price. The mark if it
 * is already reached; `lp` if nothing before it is.
 */
function autoAddPrice(e: EngineState, p: Position, collateral: bigint, lp: bigint | null): bigint | null {
  if (p.autoAdd === null) return lp;
  const m = p.market;
  const trigger = p.autoAdd.trigger;
  const pos = positionInput(p);
  const gapAt = (price: bigint): bigint => {
    const equity = collateral + unrealizedPnl(m.inst, pos, price);
    return legMaintenance(e.conventions, m, pos, price) * RATE_ONE - trigger * equity;
  };
  const mark = valuationPrice(p);
  if (gapAt(mark) >= 0n) return mark;
  const tick = m.inst.tickSize;
  const long = p.sign > 0;
  // Search in ticks between the safe end (mark) and the liquidation price (or 1 tick / 100× mark if none).
  const safe = mark / tick;
  const bad = lp === null ? (long ? 1n : safe * 100n) : lp / tick;
  if (long ? bad >= safe : bad <= safe) return lp;
  if (gapAt(bad * tick) < 0n) return lp;
  // A mark between ticks: a long's tick below it may have reached the trigger already (then it is the first).
  const atSafe = gapAt(safe * tick);
  if (atSafe >= 0n) return safe * tick;
  return firstReached(safe, bad, (t) => gapAt(t * tick), atSafe) * tick;
}

/**
 * Notes that an isolated position changed: it is re-filed lazily (before its market's next sweep), and checked
 * exactly now — true when it is already due (below maintenance, or at its auto-add trigger), so the market is swept
 * before the command ends. Flat positions leave the index at once.
 */
export function touchIsolated(e: EngineState, p: Position): boolean {
  const m = p.market;
  if (p.sign === 0 || p.account.id === BACKSTOP_ACCOUNT || m.closed) {
    m.liqIndex.stale.delete(p);
    m.liqIndex.remove(p);
    return false;
  }
  m.liqIndex.stale.add(p);
  if (m.mark === null) return false;
  const pos = positionInput(p);
  const equity = bucketAfterFunding(p) + unrealizedPnl(m.inst, pos, m.mark);
  const mm = legMaintenance(e.conventions, m, pos, m.mark);
  if (equity < mm) return true;
  return autoAddActive(p) && !p.marginCalled && autoAddReached(p, equity, mm);
}

/** Auto-add is on for this position (opted in, and above 1x: at 1x there is nothing a top-up could prevent). */
function autoAddActive(p: Position): boolean {
  return p.autoAdd !== null && p.leverage > LEVERAGE_ONE;
}

/**
 * Maintenance / equity has reached the auto-add trigger of an isolated position or a named silo (or there is no
 * equity left).
 */
function autoAddReached(box: Position | Silo, equity: bigint, mm: bigint): boolean {
  return box.autoAdd !== null && ratioReached(box.autoAdd.trigger, equity, mm);
}

/** The cross counterpart of `touchIsolated`: the account's cross positions in `asset` (or a named silo's legs) go
 * stale; returns the markets to sweep now if the bucket is already below maintenance (or a silo at its auto-add
 * trigger, unless it already called for margin). */
export function touchCross(
  e: EngineState,
  a: Account,
  asset: string,
  silo: Silo | null = null,
): readonly Market[] {
  if (a.id === BACKSTOP_ACCOUNT) return NO_MARKETS;
  const ps = crossPositions(a, asset, silo);
  for (const p of ps) p.market.liqIndex.stale.add(p);
  if (silo !== null && silo.holdings.size > 0) staleHoldings(e, silo);
  if (ps.length === 0) return NO_MARKETS;
  const st = crossState(e, a, asset, ps, silo, true);
  const top = silo !== null ? topUpTrigger(silo) : null;
  const due = st.equity < st.maintenance || (top !== null && ratioReached(top, st.equity, st.maintenance));
  return due ? ps.map((p) => p.market) : [];
}

/** `touchCross`'s answer when nothing is due (shared: callers only read it). */
const NO_MARKETS: readonly Market[] = [];

/** Re-files every stale position of these markets (a cross one re-files its whole account). */
function refileStale(e: EngineState, markets: readonly Market[]): void {
  for (const m of markets) for (const p of m.liqIndex.stale) fileIsolated(e, p);
}

/** Notes a named silo as changed (the set is created on first use). */
function markSilo(dirty: Set<Silo> | null, silo: Silo): Set<Silo> {
  const set = dirty ?? new Set<Silo>();
  set.add(silo);
  return set;
}

/**
 * The cross buckets one `refileDirty` visits: (account, asset) pairs, each once, in the order first noted. Reused
 * scratch, not a Map of Sets per command (every order moves its owner's main balance, so that was two allocations on
 * almost every command); `refileDirty` reads it grouped by account, accounts and assets each in first-noted order,
 * exactly as the Map and its Sets iterated. Nothing `refileDirty` calls re-enters it.
 */
const dirtyAccounts: (Account | null)[] = [];
const dirtyAssets: string[] = [];

/** Notes an account's cross bucket in `asset` as changed; returns the new count of noted pairs. */
function markCross(count: number, a: Account, asset: string): number {
  for (let i = 0; i < count; i++) if (dirtyAccounts[i] === a && dirtyAssets[i] === asset) return count;
  dirtyAccounts[count] = a;
  dirtyAssets[count] = asset;
  return count + 1;
}

/**
 * Re-files every position and cross bucket whose state changed in this command (`e.liqDirty`, and the ledger
 * accounts the command touched), and flags the markets they make due in `e.sweepMarkets`. `apply` runs it once the
 * handler is done; the sweep runs it again after each round of liquidations.
 */
export function refileDirty(e: EngineState): void {
  const touched = e.ledger.touched;
  if (e.liqDirty.size === 0 && touched.size === 0) return;
  // Allocated only when needed, and no closures: this runs on every command that moved money.
  let nCross = 0;
  let silos: Set<Silo> | null = null;
  for (let i = 0; i < touched.size; i++) {
    const l = touched.at(i);
    if (l.owner instanceof Position) e.liqDirty.add(l.owner);
    else if (l.owner instanceof Account) nCross = markCross(nCross, l.owner, l.asset);
    else if (l.owner instanceof Silo) silos = markSilo(silos, l.owner);
  }
  if (touched.size > 0) touched.clear();
  // A rebalancing giver's collateral moved: its parked receivers may find something now.
  if (silos !== null)
    for (const s of silos as Set<Silo>)
      if (s.account.rebalancing.size > 0) for (const r of unparkFor(s)) silos = markSilo(silos, r);
  for (const p of e.liqDirty) {
    if ((p.mode === 'isolated' || p.sign === 0) && touchIsolated(e, p)) e.sweepMarkets.add(p.market);
    if (p.mode === 'cross') {
      if (p.silo !== null) silos = markSilo(silos, p.silo);
      else nCross = markCross(nCross, p.account, p.market.asset);
    }
  }
  if (e.liqDirty.size > 0) e.liqDirty.clear();
  // A named silo is a pooled bucket of its own: its legs are re-filed together, as an account's cross positions.
  if (silos !== null)
    for (const silo of silos as Set<Silo>)
      for (const m of touchCross(e, silo.account, silo.asset, silo)) e.sweepMarkets.add(m);
  for (let i = 0; i < nCross; i++) {
    const a = dirtyAccounts[i]!;
    // Each account once, at its first pair, with its assets in the order they were noted.
    if (dirtyAccounts.indexOf(a) < i) continue;
    for (let j = i; j < nCross; j++) {
      if (dirtyAccounts[j] !== a) continue;
      const asset = dirtyAssets[j]!;
      for (const m of touchCross(e, a, asset)) e.sweepMarkets.add(m);
      // Auto-add triggers depend on the free balance too.
      for (const p of a.positions.values()) {
        if (!p.autoAdd || p.mode !== 'isolated' || p.sign === 0 || p.market.asset !== asset) continue;
        // Money became free after a margin call: auto-add may try again.
        if (p.marginCalled && available(a, a.wallets.get(asset)!, asset) > 0n) p.marginCalled = false;
        if (touchIsolated(e, p)) e.sweepMarkets.add(p.market);
      }
      // The same for the account's named silos with auto-add in this asset (their filing depends on the call).
      for (const silo of a.silos.values()) {
        if (!silo.marginCalled || silo.asset !== asset) continue;
        if (available(a, a.wallets.get(asset)!, asset) <= 0n) continue;
        silo.marginCalled = false;
        for (const m of touchCross(e, a, asset, silo)) e.sweepMarkets.add(m);
      }
    }
  }
  for (let i = 0; i < nCross; i++) dirtyAccounts[i] = null; // the scratch holds no account past the call
}

/** Rebuilds every market's index from positions (after restoring a snapshot): a cache of state, not state. */
export function rebuildIndex(e: EngineState): void {
  for (const a of e.accounts.values()) {
    const crossAssets = new Set<string>();
    for (const p of a.positions.values()) {
      if (p.mode === 'isolated') fileIsolated(e, p);
      else if (p.sign !== 0 && p.silo === null) crossAssets.add(p.market.asset);
    }
    for (const asset of crossAssets) fileCross(e, a, asset);
    for (const silo of a.silos.values()) fileCross(e, a, silo.asset, silo);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cross buckets

interface CrossRisk {
  /** Unrealized PnL at the valuation price, before funding. */
  pricePnl: bigint;
  maintenance: bigint;
}

/**
 * Equity (main balance + uPnL − funding owed) and maintenance of an account's cross bucket in one asset; with
 * `silo`, of that named silo (its bucket instead of main, its maintenance under its risk model).
 *
 * `screen` (the re-checks that ask only "due?" — touchCross, fileCross, checkCross's first look): a `scenario`
 * silo whose equity clears the grid's cheap upper bound (`clearsBound`) gets the bound as its maintenance and the
 * grid is skipped. Every decision those callers take comes out as on the exact figure: not below maintenance, auto-add
 * not reached, surplus and auto-add surplus > 0 (a strategy silo's legs are filed on those signs alone).
 */
function crossState(
  e: EngineState,
  a: Account,
  asset: string,
  ps: readonly Position[],
  silo: Silo | null = null,
  screen = false,
): { equity: bigint; maintenance: bigint; risks: CrossRisk[] } {
  let equity = silo !== null ? silo.bucket.balance : (a.wallets.get(asset)?.main.balance ?? 0n);
  if (silo !== null && silo.holdings.size > 0) equity += holdingsValue(e, silo, false);
  let maintenance = 0n;
  const risks = ps.map((p) => {
    const price = valuationPrice(p);
    const pricePnl = unrealizedPnl(p.market.inst, positionInput(p), price);
    const mm = legMaintenance(e.conventions, p.market, positionInput(p), price);
    equity += pricePnl - pendingFunding(p);
    maintenance += mm;
    return { pricePnl, maintenance: mm };
  });
  if (silo?.riskModel === 'netted')
    // Option legs stand alone in a netted silo (silos.ts combine).
    maintenance = combine(
      silo,
      ps.map((p, i) => legOf(p, risks[i]!.maintenance)),
      e.netting,
    );
  else if (silo !== null && isStrategyModel(silo.riskModel)) {
    // The option strategy models price the legs themselves (core strategyMargin, strategy-silos.ts).
    const figures = ps.map((p, i) => {
      const price = valuationPrice(p);
      const r = risks[i]!;
      const im = positionInitialMargin(p, price);
      return { price, pnl: r.pricePnl, initialMargin: im, maintenanceMargin: r.maintenance };
    });
    const clears = screen ? (bound: bigint) => clearsBound(silo, equity, bound) : null;
    maintenance = recheckMaintenance(e, silo, ps, figures, clears);
  }
  return { equity, maintenance, risks };
}

/**
 * The silo's equity is clear of `bound` ≥ its maintenance MM: strictly above it (surplus > 0 on MM too) and, with
 * auto-add set (called for margin or not: checkCross tops up either way), strictly above the auto-add threshold at
 * the bound — so equity > ⌈MM / trigger⌉ too, and MM / equity < trigger.
 */
function clearsBound(silo: Silo, equity: bigint, bound: bigint): boolean {
  if (equity <= bound) return false;
  return silo.autoAdd === null || equity > autoAddThreshold(bound, silo.autoAdd.trigger);
}

// ---------------------------------------------------------------------------------------------------------
// Sweeping

/**
 * Takes the positions the mark has reached on each flagged market and checks them exactly; liquidates, tops up or
 * re-files them. Repeats while liquidations make new candidates (bounded).
 */
export function sweep(e: EngineState, markets: Iterable<Market>): void {
  let pending = [...markets];
  // Allocated only once something crossed: most sweeps (a mark update) find nothing, and one runs on every update.
  let st: SweepState | null = null;
  for (let round = 0; round < MAX_SWEEP_ROUNDS && pending.length > 0; round++) {
    let next: Set<Market> | null = null;
    refileStale(e, pending);
    for (const m of pending) {
      if (m.mark === null || m.closed || !allows('liquidate', validityAt(m, e.now))) continue;
      const crossed = m.liqIndex.takeCrossed(m.mark);
      if (crossed.length > 0) {
        st ??= { waiting: new Set(), times: new Map() };
        next = addAll(next, liquidateCrossed(e, m, crossed, st));
        // Re-filing what the liquidations changed can make other markets due (a liquidation order filled a cross
        // account's resting order, say): they are swept in this command too, not left for the next one. (With
        // nothing crossed nothing changed since the command's own re-filing: there is nothing to re-file.)
        refileDirty(e);
      }
      if (e.sweepMarkets.size > 0) {
        next = addAll(next, e.sweepMarkets);
        e.sweepMarkets.clear();
      }
    }
    pending = next === null ? [] : [...next];
  }
}

/** `set` with `items` added (created on first use). */
function addAll(set: Set<Market> | null, items: Iterable<Market>): Set<Market> | null {
  let out = set;
  for (const m of items) {
    out ??= new Set();
    out.add(m);
  }
  return out;
}

/** Checks (and liquidates) a market's crossed positions in account order; the markets their liquidations changed. */
function liquidateCrossed(e: EngineState, m: Market, taken: Position[], st: SweepState): Market[] {
  const crossed = taken.filter((p) => {
    if (!st.waiting.has(p)) return true;
    fileIsolated(e, p); // waiting out a cooldown: back in the index until a later command
    return false;
  });
  crossed.sort((x, y) => x.account.n - y.account.n);
  const out: Market[] = [];
  // A pooled bucket is checked once: an account's cross positions, or a named silo's legs.
  const crossSeen = new Set<Account | Silo>();
  for (const p of crossed) {
    if (p.sign === 0) continue;
    if (p.mode === 'cross') {
      const pool = p.silo ?? p.account;
      if (crossSeen.has(pool)) continue;
      crossSeen.add(pool);
    }
    const touched =
      p.mode === 'isolated' ? checkIsolated(e, p, st) : checkCross(e, p.account, m.asset, st, p.silo);
    for (const t of touched) out.push(t);
  }
  return out;
}

/** Per-command bookkeeping: positions waiting out a cooldown, and how often each was liquidated (to bound it). */
interface SweepState {
  waiting: Set<Position>;
  times: Map<Position, number>;
}
/** A position liquidated this often within one command (fills keep landing past the mark) is closed in full. */
const MAX_STEPS_PER_COMMAND = 3;

function forceFull(st: SweepState, p: Position): boolean {
  const n = (st.times.get(p) ?? 0) + 1;
  st.times.set(p, n);
  return n >= MAX_STEPS_PER_COMMAND;
}

/** Exact check of an isolated candidate. Returns the markets whose positions a liquidation changed. */
function checkIsolated(e: EngineState, p: Position, st: SweepState): Market[] {
  const m = p.market;
  const mark = m.mark!;
  const equity = bucketAfterFunding(p) + unrealizedPnl(m.inst, positionInput(p), mark);
  const mm = legMaintenance(e.conventions, m, positionInput(p), mark);
  if (equity >= mm) {
    const reached = autoAddReached(p, equity, mm);
    if (autoAddActive(p) && reached) autoAdd(e, p, equity, mm);
    else if (!reached) p.marginCalled = false;
    fileIsolated(e, p);
    return [];
  }
  // A gap past both the auto-add trigger and maintenance: top up first; liquidate only if that was not enough.
  if (autoAddActive(p) && autoAdd(e, p, equity, mm) > 0n) return checkIsolated(e, p, st);
  const backstopNow = backstopTakesOver(m, equity, mm);
  if (coolingDown(e, p, backstopNow)) {
    st.waiting.add(p);
    fileIsolated(e, p); // waits out the cooldown; the next sweep after it looks again
    return [];
  }
  const full = forceFull(st, p);
  settleFundingFor(e, p);
  e.events.push({
    type: 'liquidationStarted',
    account: p.account.id,
    symbol: m.symbol,
    mode: 'isolated',
    mark,
    equity,
    maintenance: mm,
  });
  for (const o of [...p.account.orders.values()].filter((o) => o.position === p).sort((x, y) => x.id - y.id))
    cancelResting(e, o, 'liquidation');
  const { lots, chunked } = lotsToClose(e, p, mark, equity, mm, backstopNow, full);
  const bp = isolatedBankruptcy(e, p);
  const touched = [m, ...close(e, p, lots, mark, bp, backstopNow)];
  startCooldown(e, p, chunked);
  if (p.sign === 0) {
    // Whatever the full liquidation left in the bucket is the owner's.
    if (p.bucket.balance > 0n)
      e.ledger.transfer(p.bucket, p.account.wallets.get(m.asset)!.main, p.bucket.balance, 'marginRelease');
  }
  emitPosition(e, p);
  fileIsolated(e, p);
  return touched;
}

/** Chunked markets hand a bucket this far under maintenance (equity / maintenance < backstopRatio) to the backstop. */
function backstopTakesOver(m: Market, equity: bigint, mm: bigint): boolean {
  const cfg = m.liquidation;
  return cfg.chunkNotional !== null && equity * RATE_ONE < mm * cfg.backstopRatio;
}

/** Within the cooldown after a chunk (and not so deep that the backstop takes over). */
function coolingDown(e: EngineState, p: Position, backstopNow: boolean): boolean {
  return e.now < p.liquidationCooldownUntil && !backstopNow;
}

/**
 * Lots to close now: all of it when the backstop takes over or partial closes keep landing past the mark (`full`);
 * else the market's partial policy, and at most one chunk of a position above the chunk notional.
 */
function lotsToClose(
  e: EngineState,
  p: Position,
  mark: bigint,
  equity: bigint,
  mm: bigint,
  backstopNow: boolean,
  full: boolean,
): { lots: number; chunked: boolean } {
  if (backstopNow || full) return { lots: p.lots, chunked: false };
  const m = p.market;
  const cfg = m.liquidation;
  const lots = closeLots(e, p, mark, equity, mm);
  if (cfg.chunkNotional === null || notional(m.inst, p.size, mark, 'ceil') <= cfg.chunkNotional)
    return { lots, chunked: false };
  const chunk = Math.max(1, Number(ceilDiv(BigInt(p.lots) * cfg.chunkFraction, RATE_ONE)));
  return { lots: Math.min(lots, chunk), chunked: true };
}

/** After a close: a chunk of a position still open starts the cooldown; a closed position has none. */
function startCooldown(e: EngineState, p: Position, chunked: boolean): void {
  const cooldownMs = p.market.liquidation.cooldownMs;
  if (p.sign === 0) p.liquidationCooldownUntil = 0;
  else if (chunked && cooldownMs > 0) p.liquidationCooldownUntil = e.now + cooldownMs;
}

function isolatedBankruptcy(e: EngineState, p: Position): bigint {
  return (
    bankruptcyPrice({
      inst: p.market.inst,
      conv: conservativeRounding(e.conventions),
      pos: positionInput(p),
      collateral: p.bucket.balance,
    }) ?? (p.sign > 0 ? p.market.inst.tickSize : p.market.mark! * 100n)
  );
}

/**
 * Lots to close so that the bucket is back above maintenance × (1 + buffer) (policy 'restore'), at least down to the
 * next lower risk tier ('tier'), or all ('full'). `equity` and `mm` are the whole bucket's (for cross, the account's
 * in this asset), so closing one position is judged by what it does to the bucket.
 */
function closeLots(e: EngineState, p: Position, mark: bigint, equity: bigint, mm: bigint): number {
  const m = p.market;
  const cfg = m.liquidation;
  if (cfg.partial === 'full') return p.lots;
  const ownMM = legMaintenance(e.conventions, m, positionInput(p), mark);
  const otherMM = mm - ownMM;
  const restores = (x: number): boolean => {
    const fee = ceilDiv(notional(m.inst, m.size(x), mark, 'ceil') * cfg.feeRate, RATE_ONE);
    const rest = p.lots - x;
    const restMM =
      rest === 0 ? 0n : legMaintenance(e.conventions, m, { ...positionInput(p), size: m.size(rest) }, mark);
    return (equity - fee) * RATE_ONE >= (otherMM + restMM) * (RATE_ONE + cfg.buffer);
  };
  let x = p.lots;
  if (restores(1)) x = 1;
  else if (restores(p.lots - 1) || p.lots === 1) {
    let lo = 1; // fails
    let hi = p.lots - 1 > 1 ? p.lots - 1 : p.lots; // succeeds
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (restores(mid)) hi = mid;
      else lo = mid;
    }
    x = hi;
  }
  if (cfg.partial === 'tier') x = Math.max(x, tierDropLots(p, mark));
  return Math.min(Math.max(x, 1), p.lots);
}

/** Lots to close to bring the position's notional at mark under the cap of the next lower tier (0 in tier 1). */
function tierDropLots(p: Position, mark: bigint): number {
  const m = p.market;
  const rule = m.inst.risk;
  if (rule.kind !== 'tiers') return 0;
  const k = ratesAt(m.inst, p.size, mark).tier;
  if (k === 0) return 0;
  const cap = rule.tiers[k - 1]!.cap!;
  const perLot = notional(m.inst, m.inst.lotSize, mark, 'ceil');
  const keep = perLot === 0n ? p.lots : Number(cap / perLot);
  return Math.max(0, p.lots - keep);
}

/**
 * Exact check of an account's cross bucket (or of a named silo); liquidates position by position until it is healthy.
 * A silo's liquidation cancels the silo's orders only and closes its legs only: its bucket, then the insurance fund,
 * pay its loss, never the owner's main balance or another silo.
 */
function checkCross(
  e: EngineState,
  a: Account,
  asset: string,
  sw: SweepState,
  silo: Silo | null = null,
): Market[] {
  let ps = crossPositions(a, asset, silo);
  if (ps.length === 0) return [];
  let st = crossState(e, a, asset, ps, silo, true); // screened: exact whenever a decision below needs it
  // A rebalancing receiver draws on its owner's opted-in silos first (rebalance.ts), then on auto-add.
  if (silo !== null && rebalanceReceiver(e, silo, st.equity < st.maintenance) > 0n)
    st = crossState(e, a, asset, ps, silo, true);
  // A named silo at its auto-add trigger is topped up first (in a gap past maintenance too, as often as that takes
  // and money is free); it is liquidated only if that was not enough.
  if (silo?.autoAdd && autoAddReached(silo, st.equity, st.maintenance)) {
    for (let guard = 0; guard < 64 && siloAutoAdd(e, silo, ps, st) > 0n; guard++) {
      st = crossState(e, a, asset, ps, silo);
      if (st.equity >= st.maintenance) break;
    }
  } else if (silo !== null) silo.marginCalled = false;
  const cooling = (q: Position) => coolingDown(e, q, backstopTakesOver(q.market, st.equity, st.maintenance));
  if (st.equity >= st.maintenance || ps.every(cooling)) {
    fileCross(e, a, asset, silo); // (all waiting out a cooldown: a later command looks again)
    return [];
  }
  // Below maintenance with holdings in other assets: every holding is sold to the fund first (collateral.ts), and
  // the legs close only if the silo is still below maintenance in its settle asset.
  if (silo !== null && silo.holdings.size > 0 && convertHoldings(e, silo, 'all', 'liquidation') > 0n) {
    st = crossState(e, a, asset, ps, silo);
    if (st.equity >= st.maintenance) {
      fileCross(e, a, asset, silo);
      return [];
    }
  }
  const touched = new Set<Market>();
  for (const p of ps) settleFundingFor(e, p);
  const worst = ps.reduce((w, p, i) =>
    st.risks[i]!.maintenance > st.risks[ps.indexOf(w)]!.maintenance ? p : w,
  );
  e.events.push({
    type: 'liquidationStarted',
    account: a.id,
    symbol: worst.market.symbol,
    mode: 'cross',
    ...(silo !== null ? { silo: silo.id } : {}),
    mark: valuationPrice(worst),
    equity: st.equity,
    maintenance: st.maintenance,
  });
  const own = (o: { market: Market; position: Position }) =>
    o.market.asset === asset && o.position.silo === silo;
  for (const o of [...a.orders.values()].filter(own).sort((x, y) => x.id - y.id))
    cancelResting(e, o, 'liquidation');
  // A strategy-model silo goes as a whole: its legs close together, never through an unpaired state (issue 18).
  if (silo !== null && isStrategyModel(silo.riskModel)) {
    ps = crossPositions(a, asset, silo);
    st = crossState(e, a, asset, ps, silo);
    if (ps.length > 0 && st.equity < st.maintenance)
      for (const t of closeWhole(e, a, silo, ps)) touched.add(t);
    fileCross(e, a, asset, silo);
    return [...touched];
  }
  for (let guard = 0; guard < 256; guard++) {
    ps = crossPositions(a, asset, silo);
    if (ps.length === 0) break;
    st = crossState(e, a, asset, ps, silo);
    if (st.equity >= st.maintenance) break;
    // In the silo's close order (the cross bucket's: the largest maintenance first, it frees the most per lot).
    // Each position follows its market's policy (chunks, cooldown, backstop ratio), judged on the whole pool; one
    // waiting out a cooldown is passed over, and when all are, the account waits for a later command.
    const order = silo?.closeOrder ?? DEFAULT_CLOSE_ORDER;
    let i = -1;
    for (let j = 0; j < ps.length; j++) {
      const q = ps[j]!;
      if (coolingDown(e, q, backstopTakesOver(q.market, st.equity, st.maintenance))) continue;
      if (i < 0 || closesBefore(order, ps, st.risks, j, i)) i = j;
    }
    if (i < 0) break;
    // Delta first (option-liquidation.ts): a perpetual or future on the side of its base's net delta (it over-hedges
    // the box's short options, or adds to them) is reduced toward delta neutral, never past it, before the close
    // order applies; one that hedges them is left to the close order.
    const hedge = deltaHedge(e, ps, silo, (q) => !cooling(q));
    if (hedge !== null) i = hedge.leg;
    const p = ps[i]!;
    const mark = valuationPrice(p);
    const backstopNow = backstopTakesOver(p.market, st.equity, st.maintenance);
    const full = forceFull(sw, p);
    const policy = lotsToClose(e, p, mark, st.equity, st.maintenance, backstopNow, full);
    const { chunked } = policy;
    const lots = hedge === null ? policy.lots : Math.min(policy.lots, hedge.lots);
    const bp = crossBankruptcy(e, a, asset, ps, i, silo);
    for (const t of close(e, p, lots, mark, bp, backstopNow)) touched.add(t);
    startCooldown(e, p, chunked);
    touched.add(p.market);
    emitPosition(e, p);
  }
  fileCross(e, a, asset, silo);
  return [...touched];
}

/**
 * Liquidates a strategy-model silo in one step: every leg goes to the backstop together — an option at its mark moved
 * against the holder by its market's discount (the backstop is paid for the risk it takes on, as for any option), a
 * perpetual or future at its mark (it hedges the options the backstop takes with it). The legs that gain at those
 * prices realize first, so their profit is in the bucket before a losing leg draws on it: the insurance fund pays
 * only what the whole silo cannot (its shortfall), never for a loss its other legs cover. Then the liquidation fees,
 * out of what is left. When the fund cannot pay the shortfall, each leg closes by the usual route (backstop at its
 * price where the fund can pay for it, else ADL at the leg's bankruptcy price), still all in this step. Returns the
 * markets whose positions changed.
 */
function closeWhole(e: EngineState, a: Account, silo: Silo, ps: readonly Position[]): Market[] {
  const touched = new Set<Market>();
  const legs = ps.map((p, i) => {
    const m = p.market;
    const mark = valuationPrice(p);
    const at = m.option !== null ? optionTakeoverPrice(m, p.sign > 0, mark) : mark;
    const pnl = unrealizedPnl(m.inst, positionInput(p), at);
    const side = p.sign > 0 ? ('long' as const) : ('short' as const);
    return { p, lots: p.lots, side, mark, at, pnl, bp: crossBankruptcy(e, a, silo.asset, ps, i, silo) };
  });
  const shortfall = -(silo.bucket.balance + legs.reduce((sum, l) => sum + l.pnl, 0n));
  if (shortfall > 0n && shortfall > insuranceFund(e, silo.asset)) {
    for (const l of legs) {
      if (l.p.sign === 0) continue;
      for (const t of close(e, l.p, l.p.lots, l.mark, l.bp, true)) touched.add(t);
      touched.add(l.p.market);
      emitPosition(e, l.p);
    }
    return [...touched];
  }
  // Gains first; ties keep the silo's leg order (deterministic).
  const order = legs.filter((l) => l.pnl >= 0n).concat(legs.filter((l) => l.pnl < 0n));
  for (const l of order)
    transferPosition(e, l.p, [{ to: backstopPosition(e, l.p.market), lots: l.lots }], l.at, true);
  for (const l of order) {
    const m = l.p.market;
    const fee = chargeFee(e, l.p, silo.bucket, notional(m.inst, m.size(l.lots), l.at, 'ceil'), l.at);
    stage(e, l.p, l.side, l.lots, l.at, l.mark, l.bp, 'backstop', fee);
    emitPosition(e, l.p);
    emitPosition(e, backstopPosition(e, m));
    touched.add(m);
  }
  return [...touched];
}

/**
 * Whether leg `j` closes before leg `i` under `order`. `largestRequirement` is the rule from before silos chose one,
 * ties to the leg the silo (or bucket) holds first as then (so replays agree); the others by symbol (one leg a market).
 * `mostRiskPerUnit` compares maintenance / notional at the valuation price by exact cross-multiplication.
 */
function closesBefore(
  order: SiloCloseOrder,
  ps: readonly Position[],
  risks: readonly CrossRisk[],
  j: number,
  i: number,
): boolean {
  const a = risks[j]!;
  const b = risks[i]!;
  if (order === 'largestRequirement') return a.maintenance > b.maintenance;
  if (order === 'largestLoss') {
    if (a.pricePnl !== b.pricePnl) return a.pricePnl < b.pricePnl;
  } else {
    // mm_j / notional_j > mm_i / notional_i, both notionals positive, without a division.
    const jSide = a.maintenance * closeNotional(ps[i]!);
    const iSide = b.maintenance * closeNotional(ps[j]!);
    if (jSide !== iSide) return jSide > iSide;
  }
  return ps[j]!.market.symbol < ps[i]!.market.symbol;
}

/** A leg's notional at its valuation price, at least 1 (a divisor in closesBefore's cross-multiplication). */
function closeNotional(p: Position): bigint {
  return maxBig(notional(p.market.inst, p.size, valuationPrice(p), 'ceil'), 1n);
}

/** Where the whole bucket's (or silo's) equity reaches zero with this leg's price alone moving: no model involved. */
function crossBankruptcy(
  e: EngineState,
  a: Account,
  asset: string,
  ps: readonly Position[],
  i: number,
  silo: Silo | null,
): bigint {
  const bucket: BucketPosition[] = ps.map((p) => ({
    inst: p.market.inst,
    pos: positionInput(p),
    mark: valuationPrice(p),
  }));
  const main = silo !== null ? silo.bucket.balance : a.wallets.get(asset)!.main.balance;
  const p = ps[i]!;
  return (
    crossBankruptcyPrice(conservativeRounding(e.conventions), main, bucket, i) ??
    (p.sign > 0 ? p.market.inst.tickSize : valuationPrice(p) * 100n)
  );
}

// ---------------------------------------------------------------------------------------------------------
// Closing: book, backstop, ADL

/** The backstop's position on `m`, opening the backstop account (its wallet is the fund) on first use. */
export function backstopPosition(e: EngineState, m: Market): Position {
  let a = e.accounts.get(BACKSTOP_ACCOUNT);
  if (!a) {
    a = new Account(BACKSTOP_ACCOUNT, e.accounts.size + 1);
    e.accounts.set(a.id, a);
  }
  if (!a.wallets.has(m.asset)) {
    a.wallets.set(
      m.asset,
      new Wallet(
        e.ledger.systemAccount('insurance', m.asset),
        e.ledger.open('reserved', m.asset, `${BACKSTOP_ACCOUNT}:reserved:${m.asset}`),
      ),
    );
  }
  let p = a.positions.get(m.symbol);
  if (!p) {
    p = positionOf(e, a, m);
    p.mode = 'cross';
    p.leverage = m.inst.maxLeverage;
  }
  return p;
}

/**
 * Closes `lots` of `p`: an IOC in the book, then the backstop or ADL for the rest. Returns the markets where other
 * positions changed (ADL counterparties), whose index must be swept again.
 */
function close(
  e: EngineState,
  p: Position,
  lots: number,
  mark: bigint,
  bp: bigint,
  skipBook: boolean,
): Market[] {
  const m = p.market;
  const long = p.sign > 0;
  const side = long ? ('long' as const) : ('short' as const);
  const gap = long ? mark <= bp : mark >= bp;
  const holder = holderOf(p);
  let left = lots;
  if (!skipBook) {
    coverFromProfits(e, p.account, m.asset, lossAt(p, lots, bp), p);
    const limit = bookLimit(e, p, lots, mark, bp, gap);
    const r = liquidationOrder(e, p, lots, limit);
    if (r.lots > 0) {
      left -= r.lots;
      const fee = chargeFee(e, p, holder, r.value, bp);
      stage(e, p, side, r.lots, r.avgPrice, mark, bp, 'book', fee);
    }
  }
  if (left === 0) return [];
  const size = m.size(left);
  // An option is taken over at its mark moved against the holder by the market's discount (the backstop is paid
  // for the risk it takes on); anything else at the bankruptcy price.
  const at = m.option !== null ? optionTakeoverPrice(m, long, mark) : bp;
  // Taking over costs the fund what the takeover price is past bankruptcy (the holder's loss beyond its bucket)
  // and, at the bankruptcy price, what the mark is already past it.
  const takeoverLoss =
    m.option !== null
      ? maxBig(0n, -unrealizedPnl(m.inst, { side, size, entryPrice: bp }, at))
      : maxBig(0n, -unrealizedPnl(m.inst, { side, size, entryPrice: bp }, mark));
  const fund = insuranceFund(e, m.asset);
  const value = notional(m.inst, size, bp, 'ceil');
  // The book fee may have taken cash the rest needs at the bankruptcy price: the account's profits pay it again.
  coverFromProfits(e, p.account, m.asset, lossAt(p, left, m.option !== null ? at : bp), p);
  // An option the holder can pay for at the takeover price costs the fund nothing: the backstop takes it even empty.
  if ((fund > 0n || (m.option !== null && takeoverLoss === 0n)) && takeoverLoss <= fund) {
    transferPosition(e, p, [{ to: backstopPosition(e, m), lots: left }], at, true);
    const fee = chargeFee(e, p, holder, value, bp);
    stage(e, p, side, left, at, mark, bp, 'backstop', fee);
    emitPosition(e, backstopPosition(e, m));
    return [];
  }
  const touched = deleverage(e, p, left, bp);
  const fee = chargeFee(e, p, holder, value, bp);
  stage(e, p, side, left, bp, mark, bp, 'adl', fee);
  return touched;
}

/** An option's backstop price: a long sold at mark × (1 − discount), a short bought back at mark × (1 + discount). */
function optionTakeoverPrice(m: Market, long: boolean, mark: bigint): bigint {
  const d = m.liquidation.optionDiscount;
  // Never handed over at 0 (a worthless option, marked 0): a position always has a positive entry price.
  return maxBig(1n, long ? (mark * (RATE_ONE - d)) / RATE_ONE : ceilDiv(mark * (RATE_ONE + d), RATE_ONE));
}

/** The loss `lots` of `p` realize at `price` (0 if they gain). */
function lossAt(p: Position, lots: number, price: bigint): bigint {
  const m = p.market;
  return maxBig(0n, -unrealizedPnl(m.inst, { ...positionInput(p), size: m.size(lots) }, price));
}

/**
 * Limit of the liquidation IOC. Normally between the bankruptcy price (0) and the mark (1) by the market's `limitAt`,
 * so fills never lose more than the bucket holds. In a gap (mark already past bankruptcy) the fund pays for fills
 * past bankruptcy, so the limit goes out to the market band around the mark, but no further than the fund can pay.
 */
function bookLimit(
  e: EngineState,
  p: Position,
  lots: number,
  mark: bigint,
  bp: bigint,
  gap: boolean,
): number {
  const m = p.market;
  const long = p.sign > 0;
  const tick = m.inst.tickSize;
  if (!gap && m.option !== null) {
    // An option's bankruptcy price can sit far from its mark (a short's maintenance is a share of the underlying):
    // the order goes no further than the backstop's own price, the mark moved by the discount, nor past bankruptcy.
    const at = optionTakeoverPrice(m, long, mark);
    return Number(long ? ceilDiv(maxBig(at, bp), tick) : minBig(at, bp) / tick);
  }
  if (!gap) {
    const price = bp + ((mark - bp) * m.liquidation.limitAt) / RATE_ONE;
    return Number(long ? ceilDiv(price, tick) : price / tick); // a sell no lower, a buy no higher
  }
  const band = m.bandTicks(mark, m.marketBand, !long);
  const fund = insuranceFund(e, m.asset);
  if (fund <= 0n) return Number(long ? ceilDiv(bp, tick) : bp / tick);
  // Worst price the fund can pay for: bisect on ticks between the band and the bankruptcy price.
  const size = m.size(lots);
  const cost = (ticks: bigint) =>
    -unrealizedPnl(m.inst, { side: long ? 'long' : 'short', size, entryPrice: bp }, ticks * tick);
  let ok = long ? ceilDiv(bp, tick) : bp / tick; // costs nothing
  let worst = BigInt(band);
  if (cost(worst) <= fund) return band;
  while (long ? ok - worst > 1n : worst - ok > 1n) {
    const mid = (ok + worst) / 2n;
    if (cost(mid) <= fund) ok = mid;
    else worst = mid;
  }
  return Number(ok);
}

/**
 * The liquidation fee on `value`, charged after a stage of `p` closed against `bp`, and capped at the money that the
 * rest of the position does not need to close at `bp` (C6): the holder's balance plus what the rest realizes at
 * `bp`, less its fee to close when bankruptcy counts one, and for cross plus the other cross positions' PnL at their
 * marks less their funding and maintenance. So the fee never moves the remaining position's bankruptcy price toward
 * the mark, and neither a later stage in the book (limited at the bankruptcy price) nor the backstop or ADL at it
 * draws on the fund for money the fee took: the fund never pays its own fee back. (A fixed `keep` for only the part
 * of this stage left to the backstop, as this once was, let the fee of a partial 'restore' take the collateral of
 * the lots that stay open: their next stage in the same command was a draw.) Never more than the holder has.
 */
function chargeFee(
  e: EngineState,
  p: Position,
  holder: import('./ledger.ts').LedgerAccount,
  value: bigint,
  bp: bigint,
): bigint {
  const m = p.market;
  let room = holder.balance;
  if (p.sign !== 0) {
    const rest = positionInput(p);
    room += unrealizedPnl(m.inst, rest, bp);
    const conv = e.conventions;
    if (conv.feeInBankruptcy)
      room -= ceilDiv(notional(m.inst, rest.size, bp, 'ceil') * conv.takerFeeRate, RATE_ONE);
  }
  if (p.mode === 'cross')
    for (const q of crossPositions(p.account, m.asset, p.silo)) {
      if (q === p) continue;
      // The others count at their marks less their maintenance: they may still have to close in the book, a little
      // past their marks, and the fee must not have taken what pays for that.
      const price = valuationPrice(q);
      const pos = positionInput(q);
      room +=
        unrealizedPnl(q.market.inst, pos, price) -
        pendingFunding(q) -
        legMaintenance(e.conventions, q.market, pos, price);
    }
  const cap = minBig(maxBig(room, 0n), maxBig(holder.balance, 0n));
  const fee = minBig(ceilDiv(value * m.liquidation.feeRate, RATE_ONE), cap);
  if (fee > 0n) e.ledger.transfer(holder, m.insurance, fee, 'liquidationFee');
  return fee;
}

function stage(
  e: EngineState,
  p: Position,
  side: 'long' | 'short',
  lots: number,
  price: bigint,
  mark: bigint,
  bp: bigint,
  which: 'book' | 'backstop' | 'adl',
  fee: bigint,
): void {
  e.events.push({
    type: 'liquidation',
    account: p.account.id,
    symbol: p.market.symbol,
    mode: p.mode,
    ...(p.silo !== null ? { silo: p.silo.id } : {}),
    side,
    size: p.market.size(lots),
    price,
    mark,
    bankruptcyPrice: bp,
    stage: which,
    fee,
    remaining: p.size,
  });
}

/**
 * Auto-deleveraging: the opposite positions ranked (BitMEX/Bybit PnL% × effective leverage, or Binance's
 * LeveragePnl), highest first, are closed against the liquidated position at its bankruptcy price. ADL is rare, so it
 * ranks by one pass over the market's positions (documented worst case: O(n log n) per ADL event). The backstop's
 * own positions come last.
 */
function deleverage(e: EngineState, p: Position, lots: number, bp: bigint): Market[] {
  const m = p.market;
  const ranked: { q: Position; score: bigint }[] = [];
  let backstop: Position | null = null;
  for (const q of m.positions) {
    if (q.sign === 0 || q.sign === p.sign || q.account === p.account) continue;
    if (q.account.id === BACKSTOP_ACCOUNT) {
      backstop = q;
      continue;
    }
    ranked.push({ q, score: adlScore(e, q, m.liquidation.adlRanking) });
  }
  ranked.sort((x, y) => (x.score > y.score ? -1 : x.score < y.score ? 1 : x.q.account.n - y.q.account.n));
  if (backstop) ranked.push({ q: backstop, score: 0n });
  let left = lots;
  const legs: { to: Position; lots: number }[] = [];
  for (const { q } of ranked) {
    if (left === 0) break;
    const n = Math.min(left, q.lots);
    // A cross counterparty pays its loss at the bankruptcy price with its own profits first, as the liquidated
    // account does: otherwise the fund, which could not pay (that is why this is ADL), would be drawn.
    coverFromProfits(e, q.account, m.asset, lossAt(q, n, bp), q);
    legs.push({ to: q, lots: n });
    left -= n;
  }
  if (left > 0) throw new Error(`bug: ${m.symbol} open interest does not cover an ADL of ${left} lots`);
  // One transfer for all counterparties, so the liquidated position realizes its loss once (see transferPosition).
  const sides = legs.map(({ to }) => (to.sign > 0 ? ('long' as const) : ('short' as const)));
  transferPosition(e, p, legs, bp, true);
  legs.forEach(({ to: q, lots: n }, i) => {
    e.events.push({
      type: 'adl',
      account: q.account.id,
      symbol: m.symbol,
      ...(q.silo !== null ? { silo: q.silo.id } : {}),
      side: sides[i]!,
      size: m.size(n),
      price: bp,
      liquidated: p.account.id,
      rank: i + 1,
    });
    emitPosition(e, q);
  });
  return [m];
}

/** Ranking score at RATE_DP (higher = deleveraged first). */
export function adlScore(e: EngineState, q: Position, kind: 'pnlLeverage' | 'leveragePnl'): bigint {
  const m = q.market;
  const mark = valuationPrice(q);
  const pos = positionInput(q);
  const pnl = unrealizedPnl(m.inst, pos, mark) - pendingFunding(q);
  const wallet =
    q.mode === 'isolated' || q.silo !== null
      ? holderOf(q).balance
      : (q.account.wallets.get(m.asset)?.main.balance ?? 0n);
  const equity = wallet + pnl;
  const markValue = notional(m.inst, q.size, mark, 'ceil');
  if (kind === 'leveragePnl') {
    // Binance: max(0, uPnL) / max(1, wallet) × maintenance / (wallet + uPnL).
    if (equity <= 0n || pnl <= 0n) return 0n;
    const mm = legMaintenance(e.conventions, m, pos, mark);
    return (pnl * mm * RATE_ONE) / (maxBig(wallet, 1n) * equity);
  }
  // BitMEX/Bybit: PnL% = uPnL / |entry value|; effective leverage = |mark value| / (mark value − bankrupt value),
  // and mark value − bankrupt value is the equity backing the position.
  const entryValue = maxBig(notional(m.inst, q.size, q.entryPrice, 'ceil'), 1n);
  if (equity <= 0n) return pnl > 0n ? 1n << 120n : -(1n << 120n);
  if (pnl >= 0n) return (pnl * markValue * RATE_ONE) / (entryValue * equity);
  return -((-pnl * equity * RATE_ONE) / (entryValue * maxBig(markValue, 1n)));
}

// ---------------------------------------------------------------------------------------------------------
// Auto-add margin

/**
 * Tops an isolated position up from its owner's free balance (never another bucket): Bybit's policy adds the
 * position's initial margin again; 'restoreInitialMargin' adds what brings equity back to initial margin at mark.
 * With too little available it adds what there is; with nothing, it raises a margin call.
 */
function autoAdd(e: EngineState, p: Position, equity: bigint, mm: bigint): bigint {
  const m = p.market;
  const w = p.account.wallets.get(m.asset)!;
  const mark = m.mark!;
  const want =
    p.autoAdd!.policy === 'addInitialMargin'
      ? initialMarginAtLeverage(notional(m.inst, p.size, p.entryPrice, 'ceil'), p.leverage)
      : initialMarginAtLeverage(notional(m.inst, p.size, mark, 'ceil'), p.leverage) - equity;
  if (want <= 0n) {
    // Already at the policy's target: 'restoreInitialMargin' with equity at or above initial margin at the mark,
    // which a trigger at or below the position's maintenance/initial ratio reaches at once. Nothing to add and no
    // margin call (the money is there); parked like one (filed at its liquidation price) so that it is not swept on
    // every tick, until the position or the free balance changes.
    p.marginCalled = true;
    return 0n;
  }
  const amount = minBig(want, available(p.account, w, m.asset));
  const ratio = topUpRatio(equity, mm);
  if (amount <= 0n) {
    if (!p.marginCalled)
      e.events.push({ type: 'marginCall', account: p.account.id, symbol: m.symbol, marginRatio: ratio });
    p.marginCalled = true;
    return 0n;
  }
  p.marginCalled = false;
  settleFundingFor(e, p);
  e.ledger.transfer(w.main, p.bucket, amount, 'autoAddMargin');
  e.events.push({
    type: 'autoAddMargin',
    account: p.account.id,
    symbol: m.symbol,
    amount,
    marginRatio: ratio,
  });
  emitPosition(e, p);
  return amount;
}

/**
 * Tops a named silo up from its owner's free balance (never another silo or bucket), as `autoAdd` does an isolated
 * position: 'addInitialMargin' adds the silo's initial margin under its model again, 'restoreInitialMargin' what
 * brings its equity back to that initial margin. With too little available it adds what there is; with nothing, it
 * raises one margin call (`marginCalled` until money is free again). Events name the silo and its leg with the
 * largest maintenance.
 */
function siloAutoAdd(
  e: EngineState,
  silo: Silo,
  ps: readonly Position[],
  st: { equity: bigint; maintenance: bigint; risks: CrossRisk[] },
): bigint {
  const a = silo.account;
  const w = a.wallets.get(silo.asset)!;
  const im = siloFigures(e, silo, 'requirement').initialMargin;
  const want = silo.autoAdd!.policy === 'addInitialMargin' ? im : im - st.equity;
  if (want <= 0n) {
    // Already at the policy's target (see autoAdd): parked like a margin call, without one.
    silo.marginCalled = true;
    return 0n;
  }
  let worst = 0;
  for (let i = 1; i < ps.length; i++) if (st.risks[i]!.maintenance > st.risks[worst]!.maintenance) worst = i;
  const symbol = ps[worst]!.market.symbol;
  const ratio = topUpRatio(st.equity, st.maintenance);
  const amount = minBig(want, available(a, w, silo.asset));
  if (amount <= 0n) {
    if (!silo.marginCalled)
      e.events.push({ type: 'marginCall', account: a.id, symbol, marginRatio: ratio, silo: silo.id });
    silo.marginCalled = true;
    return 0n;
  }
  silo.marginCalled = false;
  e.ledger.transfer(w.main, silo.bucket, amount, 'autoAddMargin');
  e.events.push({ type: 'autoAddMargin', account: a.id, symbol, amount, marginRatio: ratio, silo: silo.id });
  return amount;
}
