/**
 * Prices, funding and expiry inside the engine: oracle quotes → index → mark, funding intervals (an O(1) index
 * step), and dated-futures settlement at the index TWAP. Driven by the market commands (commands/markets.ts:
 * oracleQuote, tick); it cancels through match.ts and moves money through settle.ts. Two pieces live with the stage
 * that uses them and are re-exported here: the per-action oracle gate (`validityAt`, `requireOracle`: oracle.ts,
 * used by validation and matching) and lazy per-position funding settlement (`settleFundingFor`: settle.ts, run
 * before any position changes size or collateral).
 *
 * Scheduled work (staleness, funding times, expiries) runs when a command moves the clock — `tick` or
 * `oracleQuote` — at the scheduled time, never on an order or a margin command, so those stay atomic: validated
 * fully, then applied. A venue's feeder sends ticks (the service sends one a second).
 */

import { InputError, parseDecimal } from '../core/fixed.ts';
import { notional, unrealizedPnl } from '../core/margin.ts';
import { touchHolders } from './collateral.ts';
import { observeIndex, runDynamicMargin } from './dynamic-margin.ts';
import { emitPosition } from './events.ts';
import type { Market } from './market.ts';
import { cancelResting } from './match.ts';
import { optionSettlementPrice } from './options.ts';
import { allows, type OracleAction, validityAt } from './oracle.ts';
import { holderOf, positionInput } from './risk.ts';
import { settleFundingFor, settlePnl } from './settle.ts';
import type { EngineState } from './state.ts';
import { Rejection } from './types.ts';
import { marketOf } from './validate.ts';

// Where they were first defined; the service, tests and benches import them from here.
export { requireOracle, validityAt } from './oracle.ts';
export { settleFundingFor } from './settle.ts';

const GUARDED: readonly OracleAction[] = ['increaseRisk', 'withdraw', 'liquidate', 'funding'];
/** Levels walked for impact prices: bounds the work of a premium sample. */
const IMPACT_LEVELS = 200;

export function oracleQuote(
  e: EngineState,
  cmd: { symbol: string; source: string; price: string; time: number },
): undefined {
  const m = marketOf(e, cmd.symbol);
  const o = m.oracle;
  if (!o) throw new Rejection('INVALID_COMMAND', `${m.symbol} has no oracle; set its mark with setMarkPrice`);
  if (m.closed) throw new Rejection('MARKET_CLOSED', `${m.symbol} has settled; its price is final`);
  if (!o.cfg.sources.some((s) => s.name === cmd.source))
    throw new Rejection('INVALID_COMMAND', `unknown oracle source ${JSON.stringify(cmd.source)}`);
  let price: bigint;
  try {
    price = parseDecimal(cmd.price, 'price', {
      dp: m.inst.priceDp,
      positive: true,
      maxAbs: m.price(2 ** 47),
    });
  } catch (err) {
    if (err instanceof InputError) throw new Rejection('INVALID_PRICE', err.message);
    throw err;
  }
  // ---- validated ----
  runScheduled(e, cmd.time);
  accrueTwap(m, cmd.time);
  o.quote(cmd.source, price, cmd.time);
  // Silos holding an asset this index prices (collateral.ts) are re-checked with it.
  touchHolders(e, m);
  if (m.dynamicMargin && o.index !== null && o.validity !== 'insufficientSources')
    observeIndex(m, o.index, cmd.time);
  e.events.push({
    type: 'indexPrice',
    symbol: m.symbol,
    price: o.index,
    validity: o.validity,
    reason: o.reason,
  });
  if (o.index !== null && o.validity !== 'insufficientSources') {
    const top = bookTop(m);
    o.sampleBasis(top, cmd.time);
    if (m.funding) {
      const [bid, ask] = impactPrices(m);
      m.funding.sample(bid, ask, o.index, cmd.time);
    }
    const f = m.funding;
    const mark = o.mark(top, f?.lastRate ?? 0n, f ? f.nextTime - cmd.time : 0, f?.cfg.intervalMs ?? 1);
    if (mark !== null && mark !== m.mark) {
      m.mark = mark;
      e.sweepMarkets.add(m);
      e.markMoved.add(m);
      e.events.push({ type: 'markPrice', symbol: m.symbol, price: mark });
    }
  }
  reportStatus(e, m, cmd.time);
  // Liquidation may have just resumed with the mark unchanged: look (O(log n) when nothing is crossed).
  e.sweepMarkets.add(m);
  return undefined;
}

/**
 * Processes everything due by `time` on every market, in market order (deterministic); the markets that expire by
 * then settle together at the end (settleDue).
 */
export function runScheduled(e: EngineState, time: number): void {
  const due: { m: Market; price: bigint }[] = [];
  for (const m of e.markets.values()) {
    // Funding first: each due funding time is judged by the oracle's validity AT that time (validityAt(nextTime)).
    // Ageing the index to `time` before it (as this once did) marked it stale first, so a funding time whose index
    // was fresh was skipped whenever the tick that reached it came later than the staleness limit.
    if (m.funding) runFunding(e, m, time);
    if (m.dynamicMargin) runDynamicMargin(e, m, time);
    m.oracle?.age(time);
    reportStatus(e, m, time);
    if (m.inst.expiry !== null && !m.closed && time >= m.inst.expiry) {
      const price = m.option !== null ? optionSettlementPrice(e, m) : expiryPrice(m);
      if (price !== null) due.push({ m, price }); // else nothing to settle at: retried on the next tick
    }
  }
  if (due.length > 0) settleDue(e, due);
}

function runFunding(e: EngineState, m: Market, time: number): void {
  const f = m.funding!;
  // Bounded: a clock jump of days runs at most that many intervals (24 per day at 1 h).
  for (let guard = 0; f.nextTime <= time && guard < 10_000; guard++) {
    const index = m.oracle?.index ?? null;
    const price = f.cfg.priceSource === 'index' ? (index ?? m.mark) : (m.mark ?? index);
    const paused = !allows('funding', validityAt(m, f.nextTime)) || price === null;
    if (paused) {
      e.events.push({
        type: 'fundingRate',
        symbol: m.symbol,
        time: f.nextTime,
        rate: 0n,
        price: price ?? 0n,
        paused: true,
      });
      f.skipInterval();
      continue;
    }
    const before = f.cumIndex;
    const rec = f.settleInterval(m.inst, price);
    if (f.cumIndex !== before) {
      m.unsettledFunding = m.openPositions; // every open position is now an epoch behind
      // Funding moved every position's equity: widen the index's allowance instead of re-keying them all.
      m.liqIndex.addFundingMove(f.cumIndex - before);
      e.sweepMarkets.add(m);
    }
    e.events.push({
      type: 'fundingRate',
      symbol: m.symbol,
      time: rec.time,
      rate: rec.rate,
      price: rec.price,
      paused: false,
    });
  }
}

/** Time-weighted index over the settlement window before expiry. */
function accrueTwap(m: Market, now: number): void {
  const exp = m.inst.expiry;
  const index = m.oracle?.index ?? null;
  if (exp !== null && index !== null && m.lastIndexTime > 0) {
    const from = Math.max(m.lastIndexTime, exp - m.settlementWindowMs);
    const to = Math.min(now, exp);
    if (to > from) {
      m.twapNum += index * BigInt(to - from);
      m.twapMs += BigInt(to - from);
    }
  }
  m.lastIndexTime = now;
}

/** A dated future's settlement price: the TWAP of the index over the window (the last index or mark if none). */
function expiryPrice(m: Market): bigint | null {
  accrueTwap(m, m.inst.expiry!);
  return m.twapMs > 0n ? m.twapNum / m.twapMs : (m.oracle?.index ?? m.mark ?? m.last);
}

/**
 * Closes every position of the expiring markets at each one's `price` (a future's settlement price, an option's
 * payoff per unit), all in one step: orders cancelled, PnL against the clearing account, isolated collateral back to
 * its owner; the markets are closed. Every winning position is paid before any losing one is charged, over all the
 * markets: a pooled box (a named silo, a cross account) holding a spread receives its long leg's payoff before its
 * short leg's is drawn, so the insurance fund pays only what the whole box cannot — never a loss its other legs of
 * the expiry cover. (Market by market, a short call settling first drew on the fund for money the box was about to
 * receive.) Nothing is checked for liquidation in between: the sweep runs after the command's handler.
 */
function settleDue(e: EngineState, due: readonly { m: Market; price: bigint }[]): void {
  for (const { m } of due) {
    for (const o of [...m.book.orders()]) cancelResting(e, o as import('./account.ts').Order, 'expired');
    for (const o of m.triggers.orders()) cancelResting(e, o, 'expired'); // stop-loss / take-profit not yet triggered
  }
  const legs = due.flatMap(({ m, price }) =>
    [...m.positions]
      .filter((p) => p.sign !== 0)
      .map((p) => ({ p, pnl: unrealizedPnl(m.inst, positionInput(p), price) })),
  );
  for (const gains of [true, false])
    for (const { p, pnl } of legs) {
      if (pnl >= 0n !== gains) continue;
      settleFundingFor(e, p);
      settlePnl(e, p, holderOf(p), pnl);
      p.realizedPnl += pnl;
    }
  for (const { m, price } of due) {
    let closed = 0;
    for (const p of m.positions) {
      if (p.sign === 0) continue;
      p.lots = 0;
      p.sign = 0;
      p.entryPrice = 0n;
      if (p.bucket.balance > 0n)
        e.ledger.transfer(p.bucket, p.account.wallets.get(m.asset)!.main, p.bucket.balance, 'settlement');
      emitPosition(e, p);
      closed++;
    }
    m.openPositions = 0;
    m.openInterestLots = 0;
    m.closed = true;
    m.mark = price;
    e.events.push({ type: 'marketSettled', symbol: m.symbol, price, positions: closed });
  }
}

/** Emits pause/resume events for every guarded action whose permission changed. */
function reportStatus(e: EngineState, m: Market, now: number): void {
  if (!m.oracle) return;
  const v = validityAt(m, now);
  for (const a of GUARDED) {
    const paused = !allows(a, v);
    if (paused !== m.paused.has(a)) {
      if (paused) m.paused.add(a);
      else m.paused.delete(a);
      e.events.push({
        type: 'oracleStatus',
        symbol: m.symbol,
        action: a,
        paused,
        validity: v,
        reason: m.oracle.reason,
      });
    }
  }
}

function bookTop(m: Market): { bid: bigint | null; ask: bigint | null; last: bigint | null } {
  const b = m.book.bestPrice('buy');
  const a = m.book.bestPrice('sell');
  return { bid: b === null ? null : m.price(b), ask: a === null ? null : m.price(a), last: m.last };
}

function impactPrices(m: Market): [bigint | null, bigint | null] {
  const d = m.book.depth(IMPACT_LEVELS);
  const target = m.fundingCfg!.impactNotional;
  return [impactSide(m, d.bids, target), impactSide(m, d.asks, target)];
}

/**
 * Impact price of one side: the price of the level at which a taker of `target` settle units would complete (the
 * marginal price; the venues' average fill price lies between it and the top, so this damps the premium slightly —
 * the conservative side for funding). With too little depth, the deepest level; null for an empty side. `levels` are
 * [ticks, lots] best first, bounded by the caller, each converted only when the walk reaches it (a sample is taken
 * per oracle quote).
 */
function impactSide(m: Market, levels: readonly [number, number][], target: bigint): bigint | null {
  if (levels.length === 0) return null;
  let filledValue = 0n;
  let last = 0n;
  for (const [ticks, lots] of levels) {
    const price = m.price(ticks);
    last = price;
    const v = notional(m.inst, m.size(lots), price, 'floor');
    if (filledValue + v >= target) return price;
    filledValue += v;
  }
  return last;
}
