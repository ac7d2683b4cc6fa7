/**
 * An independent differential check of liquidation triggers: the engine against `calc`, tick by tick, on every preset
 * market. Shared by test/engine/differential.test.ts (a seeded CI run) and bench/liquidation-differential.ts (a large
 * one).
 *
 * One case = one fresh `Engine` built with a preset's conventions and that preset's market (like with like: `calc` is
 * asked with the same preset, whose conventions are what the engine runs on), one trader 'tr' holding one position
 * against a market maker 'mk' (1x cross, deep pockets, never near liquidation). The position is random: linear or
 * inverse as the market is; tiny (a few lots, where one settle unit spans several ticks) to huge (past the last
 * bracket cap); any leverage up to its bracket's maximum; sometimes extra margin, sometimes an average entry off the
 * tick (two fills); isolated, or cross as the account's only position.
 *
 * Independent of the solver: the first liquidatable tick is found with `calc`'s own test (margin balance below
 * `triggerMaintenance`, as src/core/scenario.ts evaluates it; confirmed with `calc` itself at the ticks that decide)
 * by bisection over tick intervals from the entry toward danger. The pruning is exact without any liquidation price:
 * the floored PnL is monotone in the price and so is maintenance (it follows the notional; every preset's maintenance
 * is non-decreasing in notional, which `assertMonotoneMaintenance` checks), so over an interval the excess is at least
 * the smaller PnL at its two ends less the larger maintenance there; an interval whose bound is non-negative holds no
 * liquidatable tick, others are split down to single ticks.
 *
 * Then the engine: the mark jumps (re-filing on the way) to a few ticks before that tick, steps one tick at a time,
 * and must start the liquidation exactly there, not a tick earlier or later. The price `positionsOf` shows must be
 * the tick before the first tick at which the test fails coming from the safe side: liquidatable one tick past it, and
 * nothing liquidatable anywhere on its safe side. That first tick is the one on the path unless the position can
 * fail on the favourable side of its entry (a step bracket jumping maintenance as the notional grows the other way).
 */
import assert from 'node:assert/strict';
import { decimalPlaces, formatDecimal, InputError, parseDecimal } from '../../src/core/fixed.ts';
import type { Instrument } from '../../src/core/instrument.ts';
import {
  initialMarginAtLeverage,
  type MarginConventions,
  notional,
  type PositionInput,
  positionRisk,
  ratesAt,
  type Side,
  tierJumps,
  unrealizedPnl,
} from '../../src/core/margin.ts';
import { PRESETS, venue } from '../../src/core/presets.ts';
import { LEVERAGE_ONE } from '../../src/core/rates.ts';
import { calc } from '../../src/core/scenario.ts';
import { Engine } from '../../src/engine/engine.ts';
import { positionsOf } from '../../src/engine/readmodel.ts';
import type { ApplyResult, Command, MarketConfig } from '../../src/engine/types.ts';
import type { Rng } from '../../src/sim/rng.ts';

/** A preset's market as an engine market: its instrument and rule, the preset's taker fee, no maker fee. */
export function presetMarket(venueId: string, symbol: string): MarketConfig {
  const p = PRESETS[venueId];
  const m = p?.markets.find((x) => x.symbol === symbol);
  if (!p || !m) throw new Error(`no preset market ${venueId}/${symbol}`);
  const dp = decimalPlaces(m.lotSize);
  const lot = parseDecimal(m.lotSize, 'lotSize', { dp });
  const cfg: MarketConfig = {
    symbol: m.symbol,
    kind: m.kind,
    base: m.base,
    quote: m.quote,
    tickSize: m.tickSize,
    lotSize: m.lotSize,
    multiplier: m.multiplier,
    settleDp: m.settleDp,
    maxLeverage: m.maxLeverage,
    risk: m.risk,
    takerFee: p.conventions.takerFeeRate,
    makerFee: '0',
    limitBand: '0.5',
    // As large as the engine allows (2^49 lots): whales trade in one order.
    maxOrderSize: formatDecimal(lot * 2n ** 49n, dp),
    defaultLeverage: '1',
  };
  return cfg;
}

/** Every (preset, market) pair. */
export function presetMarkets(): { venue: string; symbol: string }[] {
  return Object.values(PRESETS).flatMap((p) => p.markets.map((m) => ({ venue: p.id, symbol: m.symbol })));
}

/**
 * The method's premise: maintenance never falls as the notional grows (continuous brackets, steps that only go up,
 * rates by size or open interest that do not depend on the price).
 */
export function assertMonotoneMaintenance(inst: Instrument): void {
  if (inst.risk.kind !== 'tiers') return;
  const tiers = inst.risk.tiers;
  for (let k = 1; k < tiers.length; k++) {
    const a = tiers[k - 1]!;
    const b = tiers[k]!;
    if (a.cap === null) break;
    assert.ok(
      a.cap * (b.mmr - a.mmr) >= b.deductionRaw - a.deductionRaw && b.mmr > 0n,
      `${inst.symbol}: maintenance falls at the boundary of tier ${k}`,
    );
  }
}

export interface CaseOutcome {
  venue: string;
  symbol: string;
  side: Side;
  mode: 'isolated' | 'cross';
  /** The first tick on the path from entry at which the test fails (null: none within the searched range). */
  firstOnPath: bigint | null;
  /** The failing tick the engine shows (the one past `positionsOf`'s price); differs on a favourable-side dip. */
  shownTrigger: bigint | null;
  /** Engine commands sent while stepping. */
  steps: number;
  /** Ticks between the entry and the first failing tick. */
  distanceTicks: bigint;
  /** Whether the first failing tick lies in the band where whole-unit rounding decides (exact excess >= 0 there). */
  banded: boolean;
  /** Liquidated while opening (two fills, a few lots): nothing checked. */
  skipped?: boolean;
  /** Ticks at which calc refused the notional (past a table's last cap), so only its test was checked there. */
  calcRefused?: number;
  /** The shown price was on the favourable side of the entry (a step bracket): the walk went there. */
  dip?: boolean;
}

const SIZE_RANGES: Record<string, [number, number]> = {
  BTC: [5_000, 150_000],
  XBT: [5_000, 150_000],
  ETH: [300, 8_000],
  SOL: [5, 500],
};

let clock = 1_700_000_000_000;

function apply(e: Engine, cmd: Record<string, unknown>): Extract<ApplyResult, { ok: true }> {
  clock += 1;
  const r = e.apply({ ...cmd, time: clock } as Command);
  if (!r.ok) throw new Error(`${String(cmd.type)} rejected: ${r.code} ${r.message}`);
  return r;
}

/** A decimal string of `v` at `dp`. */
const dec = (v: bigint, dp: number) => formatDecimal(v, dp);

/**
 * Runs one random case; throws (AssertionError) on any disagreement, with the case's figures in the message.
 * `rng` decides everything.
 */
export function runCase(rng: Rng, venueId: string, symbol: string): CaseOutcome {
  const v = venue(venueId);
  const side: Side = rng.next() < 0.5 ? 'long' : 'short';
  const mode: 'isolated' | 'cross' = rng.next() < 0.25 ? 'cross' : 'isolated';
  const crossConv = (v as { crossConventions?: MarginConventions }).crossConventions ?? v.conventions;
  // Like with like: the engine runs on the conventions calc applies to this mode (a preset may differ by mode).
  const conv: MarginConventions = mode === 'cross' ? crossConv : v.conventions;
  const cfg = presetMarket(venueId, symbol);
  const e = new Engine({ conventions: conv });
  apply(e, { type: 'createMarket', market: cfg });
  const m = e.markets.get(symbol)!;
  const inst = m.inst;
  assertMonotoneMaintenance(inst);
  const asset = inst.settleAsset;
  const t = inst.tickSize;
  const step = side === 'long' ? -1n : 1n;
  const px = (p: bigint) => dec(p, inst.priceDp);
  const sz = (s: bigint) => dec(s, inst.sizeDp);
  const money = (x: bigint) => dec(x, inst.settleDp);

  // Entry (on the tick), size (tiny to huge) and leverage.
  const [lo, hi] = SIZE_RANGES[cfg.base] ?? [1, 1_000];
  const entryReal = Math.exp(Math.log(lo) + rng.next() * (Math.log(hi) - Math.log(lo)));
  const unit = 10n ** BigInt(inst.priceDp);
  const entryTicks = (BigInt(Math.round(entryReal * 1e4)) * unit) / 10_000n / t;
  const entry1 = (entryTicks < 2n ? 2n : entryTicks) * t;
  const lotNotional = notional(inst, inst.lotSize, entry1, 'ceil');
  const lastCap = lastTierCap(inst);
  const r = rng.next();
  let lots: bigint;
  const caps = boundaryCaps(inst);
  if (r < 0.3) lots = BigInt(rng.int(1, 12));
  else if (r < (tierJumps(inst) !== 0 ? 0.6 : 0.45) && caps.length > 0) {
    // At a bracket boundary: just below or above a cap (where a step rule jumps), usually at the maximum leverage.
    const cap = Number(caps[rng.below(caps.length)]!);
    const target = cap * (1 + (rng.next() - 0.8) * (rng.next() < 0.5 ? 0.002 : 0.02));
    lots = BigInt(Math.max(1, Math.floor(target / Math.max(1, Number(lotNotional)))));
  } else {
    // Log-uniform notional up to past the last cap (or a large amount without caps).
    // calc refuses a notional past a table that ends in a cap; an open last bracket goes on past the last cap.
    const top =
      lastCap === null ? Number(lotNotional) * 1e7 : Number(lastCap) * (openEnded(inst) ? 1.5 : 0.98);
    const bottom = Number(lotNotional) * 10;
    const target =
      r < 0.55 && lastCap !== null ? top * (0.2 + rng.next() * 0.8) : bottom * (top / bottom) ** rng.next();
    lots = BigInt(Math.max(1, Math.floor(target / Math.max(1, Number(lotNotional)))));
  }
  const size = lots * inst.lotSize;
  const n0 = notional(inst, size, entry1, 'ceil');
  const rates = ratesAt(inst, size, entry1);
  const maxLev = rates.maxLeverage < inst.maxLeverage ? rates.maxLeverage : inst.maxLeverage;
  const levChoices = [LEVERAGE_ONE, maxLev, maxLev, maxLev / 2n, maxLev / 3n];
  let leverage =
    r >= 0.3 && r < 0.6 && caps.length > 0 && rng.next() < 0.7
      ? maxLev
      : rng.next() < 0.5
        ? levChoices[rng.below(levChoices.length)]!
        : BigInt(rng.int(100, Number(maxLev)));
  leverage = (leverage / 100n) * 100n; // whole leverage
  if (leverage < LEVERAGE_ONE) leverage = LEVERAGE_ONE;
  const im = initialMarginAtLeverage(n0, leverage);
  const extra = rng.next() < 0.2 ? (im * BigInt(rng.int(1, 400))) / 1000n : 0n;

  // Accounts and the position.
  apply(e, { type: 'setMarkPrice', symbol, price: px(entry1) });
  const deep = n0 * 4n + 10n ** BigInt(inst.settleDp + 6);
  apply(e, { type: 'deposit', account: 'mk', asset, amount: money(deep) });
  apply(e, { type: 'setMarginMode', account: 'mk', symbol, mode: 'cross' });
  apply(e, { type: 'setLeverage', account: 'mk', symbol, leverage: '1' });
  const fee = n0 / 50n + 10n; // well above any taker fee on it
  apply(e, { type: 'deposit', account: 'tr', asset, amount: money(im + extra + fee) });
  if (mode === 'cross') apply(e, { type: 'setMarginMode', account: 'tr', symbol, mode: 'cross' });
  apply(e, { type: 'setLeverage', account: 'tr', symbol, leverage: dec(leverage, 2) });
  const buy = side === 'long';
  // Sometimes two fills a few ticks apart: an average entry off the tick.
  const split = lots >= 2n && rng.next() < 0.3 ? lots / 2n : 0n;
  const fills: [bigint, bigint][] =
    split > 0n
      ? [
          [split * inst.lotSize, entry1],
          // toward the smaller notional (linear: lower, inverse: higher), so the entry bracket's leverage still holds
          [
            (lots - split) * inst.lotSize,
            entry1 + (inst.kind === 'linear' ? -1n : 1n) * BigInt(rng.int(1, 7)) * t,
          ],
        ]
      : [[size, entry1]];
  for (const [s, p] of fills) {
    if (p !== entry1) apply(e, { type: 'setMarkPrice', symbol, price: px(p) });
    const o = { symbol, orderType: 'limit', size: sz(s), price: px(p) };
    apply(e, { type: 'placeOrder', account: 'mk', side: buy ? 'sell' : 'buy', ...o });
    apply(e, { type: 'placeOrder', account: 'tr', side: buy ? 'buy' : 'sell', timeInForce: 'IOC', ...o });
  }
  const entryMark = fills[fills.length - 1]![1];
  if (extra > 0n && mode === 'isolated')
    apply(e, { type: 'addMargin', account: 'tr', symbol, amount: money(extra) });
  const pos = e.accounts.get('tr')!.positions.get(symbol)!;
  const opened = `${venueId} ${symbol} ${mode} ${side} ${sz(pos.size)} @ ${px(pos.entryPrice)} lev ${dec(leverage, 2)}`;
  const where = () => opened;
  const skipped: CaseOutcome = {
    venue: venueId,
    symbol,
    side,
    mode,
    firstOnPath: null,
    shownTrigger: null,
    steps: 0,
    distanceTicks: 0n,
    banded: false,
    skipped: true,
  };
  // Two fills with the mark at the second can leave a few-lot position below maintenance at once: liquidated while
  // opening, no path to walk.
  if (pos.lots !== Number(lots)) return skipped;
  const input: PositionInput = { side, size: pos.size, entryPrice: pos.entryPrice };
  const wallet = () => e.accounts.get('tr')!.wallets.get(asset)!.main.balance;
  const collateral = mode === 'isolated' ? pos.bucket.balance : wallet();
  const described = `${where()} collateral ${money(collateral)}`;
  const describe = () => described;

  // calc's test, in process (scenario.ts: isolated `mb < triggerMaintenance`; a one-position cross bucket the same
  // with the wallet as collateral), and calc itself.
  const parts: Parts = (price) => {
    const risk = positionRisk(inst, input, price, conv);
    return { pnl: risk.unrealizedPnl, mm: risk.triggerMaintenance };
  };
  const fails = (price: bigint): boolean => {
    const p = parts(price);
    return collateral + p.pnl < p.mm;
  };
  const calcFails = (price: bigint): boolean => {
    const position = {
      symbol,
      side,
      size: sz(pos.size),
      entryPrice: px(pos.entryPrice),
      markPrice: px(price),
      ...(mode === 'isolated' ? { margin: money(collateral) } : {}),
    };
    const out = calc(
      mode === 'isolated'
        ? { venue: venueId, positions: [position] }
        : { venue: venueId, mode: 'cross', walletBalance: money(collateral), positions: [position] },
    );
    return mode === 'isolated' ? out.positions[0]!.liquidatable : out.bucket!.liquidatable;
  };
  let calcRefused = 0;
  const checkAgainstCalc = (price: bigint) => {
    let c: boolean;
    try {
      c = calcFails(price);
    } catch (err) {
      // A table that ends in a cap: calc refuses a position past it (the engine goes on with the last bracket).
      if (err instanceof InputError && err.field.endsWith('.size') && /tiers/.test(err.message)) {
        calcRefused++;
        return;
      }
      throw err;
    }
    assert.equal(fails(price), c, `${describe()}: calc and its test disagree at ${px(price)}`);
  };

  // Tick indices; the path runs from the entry mark toward danger.
  const start = entryMark / t;
  const farShort = start * 20n + 1000n;
  const pathEnd = side === 'long' ? 1n : farShort;
  if (fails(entryMark)) return skipped;
  const first = firstFailing(parts, collateral, t, start, pathEnd, step);
  checkAgainstCalc(entryMark);
  let distanceTicks = 0n;
  let banded = false;
  if (first !== null) {
    checkAgainstCalc(first * t);
    if (first !== start) checkAgainstCalc((first - step) * t);
    distanceTicks = (first - start) * step;
    // In the band: the exact excess (margin balance less maintenance, before whole-unit rounding) is not negative.
    banded = !exactlyFails(inst, conv, input, collateral, first * t);
  }

  // What the engine shows: liquidatable one tick past it, nothing liquidatable on its safe side.
  const view = positionsOf(e, 'tr').find((p) => p.symbol === symbol);
  assert.ok(view, `${describe()}: no position view`);
  const shown = view.liquidationPrice === null ? null : parsePrice(view.liquidationPrice, inst.priceDp);
  let shownTrigger: bigint | null = null;
  if (shown === null) {
    assert.equal(
      first,
      null,
      `${describe()}: no price shown, but the test fails at ${px((first ?? 0n) * t)}`,
    );
  } else {
    const s = shown / t;
    assert.equal(s * t, shown, `${describe()}: shown price ${view.liquidationPrice} is off the tick`);
    const trig = s + step;
    shownTrigger = trig * t;
    assert.ok(
      trig >= 1n && fails(trig * t),
      `${describe()}: shown ${view.liquidationPrice}, not liquidatable past it`,
    );
    checkAgainstCalc(trig * t);
    // Nothing on the safe side of the shown price (long: up to 20x the entry; short: down to the first tick).
    const safeEnd = side === 'long' ? farShort : 1n;
    const early = firstFailing(parts, collateral, t, s, safeEnd, -step);
    assert.equal(
      early,
      null,
      `${describe()}: shown ${view.liquidationPrice}, yet liquidatable on its safe side at ${px((early ?? 0n) * t)}`,
    );
    if (first !== null && trig !== first) {
      // Only a favourable-side stretch may come first, and then it lies on the other side of the entry.
      const favourable = side === 'long' ? trig > start : trig < start;
      assert.ok(
        favourable,
        `${describe()}: shown ${view.liquidationPrice}, but the first failing tick on the path is ${px(first * t)}`,
      );
    }
  }

  // The engine, along the path: silent before the first failing tick, liquidating exactly at it. Where the shown
  // price is on the favourable side of the entry, the walk goes that way instead, to that stretch.
  let steps = 0;
  let walkTo = first;
  let walkStep = step;
  let dip = false;
  if (shownTrigger !== null && first !== null && shownTrigger !== first * t) {
    walkStep = -step;
    walkTo = firstFailing(parts, collateral, t, start, side === 'long' ? farShort : 1n, walkStep);
    // (coming from the entry the walk meets the stretch at its far end from the shown price)
    assert.ok(
      walkTo !== null,
      `${describe()}: shown ${view.liquidationPrice}, yet nothing fails on that side`,
    );
    dip = true;
  }
  if (walkTo !== null) {
    const first = walkTo;
    const step = walkStep;
    const lead = BigInt(rng.int(1, 24));
    const approach = (first - start) * step > lead ? first - step * lead : start;
    // A few jumps on the way (each re-files nothing; the index must not fire early).
    const jumps = rng.int(0, 3);
    for (let j = 0; j < jumps; j++) {
      const k = start + ((approach - start) * BigInt(rng.int(1, 999))) / 1000n;
      if (k === start) continue;
      const r = apply(e, { type: 'setMarkPrice', symbol, price: px(k * t) });
      steps++;
      assert.deepEqual(started(r), [], `${describe()}: liquidated at ${px(k * t)}, before ${px(first * t)}`);
    }
    for (let k = approach; ; k += step) {
      if (k === start && steps === 0) continue;
      const r = apply(e, { type: 'setMarkPrice', symbol, price: px(k * t) });
      steps++;
      const s = started(r);
      if (k === first) {
        // (a partial liquidation may run more than once within the command, each announcing itself)
        assert.deepEqual(
          [...new Set(s)],
          [k * t],
          `${describe()}: the test fails first at ${px(first * t)} (engine shows ${view.liquidationPrice}), the engine did not start there`,
        );
        break;
      }
      assert.deepEqual(s, [], `${describe()}: liquidated at ${px(k * t)}, before ${px(first * t)}`);
    }
  }
  return {
    venue: venueId,
    symbol,
    side,
    mode,
    firstOnPath: first === null ? null : first * t,
    shownTrigger,
    steps,
    distanceTicks,
    banded,
    calcRefused,
    dip,
  };
}

/** The caps between reachable brackets (settle units). */
function boundaryCaps(inst: Instrument): bigint[] {
  if (inst.risk.kind !== 'tiers') return [];
  const out: bigint[] = [];
  const tiers = inst.risk.tiers;
  for (let k = 0; k < tiers.length - 1; k++) {
    const cap = tiers[k]!.cap;
    if (cap === null) break;
    out.push(cap);
  }
  return out;
}

/** Marks of tr's liquidationStarted events in a result. */
function started(r: Extract<ApplyResult, { ok: true }>): bigint[] {
  return r.events.flatMap((ev) =>
    ev.type === 'liquidationStarted' && ev.account === 'tr' ? [(ev as { mark: bigint }).mark] : [],
  );
}

function parsePrice(s: string, dp: number): bigint {
  const [i, f = ''] = s.split('.');
  return BigInt(i!) * 10n ** BigInt(dp) + BigInt((f + '0'.repeat(dp)).slice(0, dp) || '0');
}

function openEnded(inst: Instrument): boolean {
  return inst.risk.kind !== 'tiers' || inst.risk.tiers.some((x) => x.cap === null);
}

function lastTierCap(inst: Instrument): bigint | null {
  if (inst.risk.kind !== 'tiers') return null;
  let cap: bigint | null = null;
  for (const tier of inst.risk.tiers) if (tier.cap !== null) cap = tier.cap;
  return cap;
}

/** PnL and the maintenance the test compares with, at a price (calc's figures). */
type Parts = (price: bigint) => { pnl: bigint; mm: bigint };

/**
 * The first tick index from `a` toward `b` (both inclusive; `dir` is the step from a to b) at which margin balance
 * (`collateral` + PnL) is below maintenance, by bisection over intervals: the floored PnL and maintenance are each
 * monotone in the price, so over [x, y] the excess is at least min(PnL at x, at y) − max(maintenance at x, at y);
 * where that bound is not negative no tick inside fails, elsewhere the interval is split down to single ticks.
 */
function firstFailing(parts: Parts, collateral: bigint, tick: bigint, a: bigint, b: bigint, dir: bigint) {
  const search = (x: bigint, y: bigint): bigint | null => {
    const at = parts(x * tick);
    const far = x === y ? at : parts(y * tick);
    const mm = at.mm > far.mm ? at.mm : far.mm;
    const pnl = at.pnl < far.pnl ? at.pnl : far.pnl;
    if (collateral + pnl - mm >= 0n) return null;
    if (x === y) return x;
    const mid = x + dir * (((y - x) * dir) / 2n);
    return search(x, mid) ?? search(mid + dir, y);
  };
  return search(a, b);
}

/** The same instrument counting money in units 10^`extra` times finer (tier caps and deductions scaled with it). */
function finer(inst: Instrument, extra: number): Instrument {
  const k = 10n ** BigInt(extra);
  const risk =
    inst.risk.kind === 'tiers'
      ? {
          kind: 'tiers' as const,
          tiers: inst.risk.tiers.map((x) => ({
            ...x,
            cap: x.cap === null ? null : x.cap * k,
            deductionRaw: x.deductionRaw * k,
          })),
        }
      : inst.risk;
  return { ...inst, settleDp: inst.settleDp + extra, risk };
}

/**
 * Whether the test fails at `price` before whole-unit rounding (to a millionth of a unit): for the report's count of
 * first ticks that rounding decided, nothing is asserted on it.
 */
function exactlyFails(
  inst: Instrument,
  conv: MarginConventions,
  pos: PositionInput,
  collateral: bigint,
  price: bigint,
): boolean {
  const fine = finer(inst, 6);
  const risk = positionRisk(fine, pos, price, conv);
  return collateral * 1_000_000n + unrealizedPnl(fine, pos, price) < risk.triggerMaintenance;
}
