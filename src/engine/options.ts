/**
 * Options in the engine, beside the pipeline as prices.ts is: the vol feeds (one per underlying and expiry), the
 * re-marking of an expiry's options when its inputs move, and settlement at expiry. The pure parts (terms, the feed's
 * state and guards, pricing and per-leg margin in WAD) are in option-terms.ts; the margin of an option leg enters the
 * pipeline through risk.ts (`positionInitialMargin`, `legMaintenance`, `openingInitialMargin`).
 *
 * Re-marking. After every command's handler (`remarkOptions`, called by apply) each feed compares the underlying's
 * spot and the expiry's forward with the inputs its marks were last computed from; when they moved, when the feed
 * was quoted in this command, or on a tick (time moved), the feed's options get Black-76 marks at the command's time
 * (the expiry priced as one strike chain by the integer kernel, core black76-int.ts), and every position holding one of them is marked dirty, so that stage 5 re-checks exactly those holders (their
 * isolated bucket, cross pool or silo). Option positions are not filed in the liquidation index by price: their
 * maintenance moves with the underlying, the vol and time, so they are filed due-now or never and re-checked here.
 * A vol update therefore visits the options of its expiry and their holders, nothing else.
 *
 * Settlement. The underlying's spot is accrued over the settlement window before expiry (time-weighted, as a dated
 * future's index); at the first tick at or after expiry every option of the expiry settles at its payoff on that
 * TWAP through the futures' settlement (prices.ts settleDue, every market due in one step): ITM options pay, OTM
 * ones expire at 0, money moves only between holders and the market's clearing account, isolated collateral returns
 * to its owner.
 */
import { yearsFromSeconds } from '../core/options/black76.ts';
import type { Market } from './market.ts';
import {
  chainMarks,
  type FeedValidity,
  feedKeyOf,
  parseSmile,
  settlementPremium,
  smileIv,
  toWad,
  VolFeed,
} from './option-terms.ts';
import { allows } from './oracle.ts';
import type { EngineState } from './state.ts';
import { type Cmd, Rejection } from './types.ts';
import { marketOf, parsed } from './validate.ts';

// ---------------------------------------------------------------------------------------------------------
// Markets and feeds

/** Refuses an option market whose underlying is unknown or itself an option (createMarket, createOptionChain). */
export function validateOptionMarket(e: EngineState, m: Market): void {
  if (m.option === null) return;
  const u = e.markets.get(m.option.underlying);
  if (!u)
    throw new Rejection('UNKNOWN_MARKET', `underlying ${m.option.underlying} of ${m.symbol} is not a market`);
  if (u.option !== null) throw new Rejection('INVALID_COMMAND', `the underlying of ${m.symbol} is an option`);
  if (e.now >= m.option.expiry)
    throw new Rejection('MARKET_CLOSED', `${m.symbol} would already have expired`);
}

/** After a validated option market joined `e.markets`: its expiry's feed (created on first use). */
export function registerOptionMarket(e: EngineState, m: Market): void {
  if (m.option === null) return;
  const key = m.option.feedKey;
  if (!e.optionFeeds.has(key))
    e.optionFeeds.set(key, new VolFeed(m.option.underlying, m.option.expiry, m.option.guards));
}

/**
 * Rebuilds the links between feeds and markets (a cache of state): each feed's options in market order, its
 * underlying, and the same-expiry future on the underlying's base that gives the forward (the first in market order).
 * Feeds left without an option (all delisted) are dropped. Run after a market is created or delisted, and on restore.
 */
export function linkOptions(e: EngineState): void {
  if (e.optionFeeds.size === 0) return;
  for (const f of e.optionFeeds.values()) {
    f.markets = [];
    f.underlyingMarket = e.markets.get(f.underlying) ?? null;
    f.forwardMarket = null;
  }
  for (const m of e.markets.values()) {
    if (m.option === null) continue;
    const f = e.optionFeeds.get(m.option.feedKey) ?? null;
    m.optionFeed = f;
    f?.markets.push(m);
  }
  for (const [key, f] of [...e.optionFeeds]) {
    if (f.markets.length === 0) {
      e.optionFeeds.delete(key);
      continue;
    }
    const base = f.underlyingMarket?.config.base;
    for (const m of e.markets.values()) {
      if (
        m.option === null &&
        m.inst.type === 'future' &&
        m.inst.expiry === f.expiry &&
        m.config.base === base
      ) {
        f.forwardMarket = m;
        break;
      }
    }
  }
}

/** The underlying's spot (its index, or its mark without an oracle) and the expiry's forward, both USD WAD. */
export function driverPrices(f: VolFeed): { spot: bigint | null; forward: bigint | null } {
  const u = f.underlyingMarket;
  if (u === null) return { spot: null, forward: null };
  const s = u.oracle !== null ? (u.oracle.index ?? u.mark) : u.mark;
  const spot = s === null ? null : toWad(s, u.inst.priceDp);
  const fm = f.forwardMarket;
  const forward = fm !== null && !fm.closed && fm.mark !== null ? toWad(fm.mark, fm.inst.priceDp) : spot;
  return { spot, forward };
}

// ---------------------------------------------------------------------------------------------------------
// Re-marking (after every command's handler)

/** See the module comment. `tick`: time moved, every feed re-marks. */
export function remarkOptions(e: EngineState, tick: boolean): void {
  if (e.optionFeeds.size === 0) return;
  for (const f of e.optionFeeds.values()) {
    const { spot, forward } = driverPrices(f);
    if (spot !== f.lastSpot) {
      accrueSpot(f, e.now);
      f.lastSpot = spot;
    }
    if (tick) reportFeed(e, f);
    if (!tick && !f.requoted && spot === f.spot && forward === f.forward) continue;
    f.requoted = false;
    f.spot = spot;
    f.forward = forward;
    f.markTime = e.now;
    remarkFeed(e, f);
  }
}

/**
 * The feed's options marked at the command's time, as one chain (option-terms.ts chainMarks: the integer kernel over
 * the expiry's strikes); every open position on an open one is re-checked before the command ends.
 */
function remarkFeed(e: EngineState, f: VolFeed): void {
  if (f.forward === null) return;
  const markets = f.markets;
  const marks = chainMarks(f, markets, f.forward, Math.floor((f.expiry - e.now) / 1000));
  for (let j = 0; j < markets.length; j++) {
    const m = markets[j]!;
    if (m.closed) continue;
    const mark = marks[j] as bigint | null;
    if (mark !== null && mark !== m.mark) {
      m.mark = mark;
      e.markMoved.add(m);
      e.events.push({ type: 'markPrice', symbol: m.symbol, price: mark });
    }
    if (m.positions.size !== 0) for (const p of m.positions) if (p.sign !== 0) e.liqDirty.add(p);
  }
}

/** Adds the spot held since `lastSpotTime` to the settlement TWAP, for the part of [lastSpotTime, now] in the window. */
function accrueSpot(f: VolFeed, now: number): void {
  if (f.lastSpot !== null && f.lastSpotTime > 0) {
    const from = Math.max(f.lastSpotTime, f.expiry - f.guards.settlementWindowMs);
    const to = Math.min(now, f.expiry);
    if (to > from) {
      f.twapNum += f.lastSpot * BigInt(to - from);
      f.twapMs += BigInt(to - from);
    }
  }
  f.lastSpotTime = now;
}

/** Reports a change of the feed's validity (an `oracleStatus` event named after the feed, action `vol`). */
function reportFeed(e: EngineState, f: VolFeed): void {
  const v: FeedValidity = f.validityAt(e.now);
  if (v === f.reported) return;
  f.reported = v;
  e.events.push({
    type: 'oracleStatus',
    symbol: f.key,
    action: 'vol',
    paused: !allows('increaseRisk', v),
    validity: v,
    reason: v === 'stale' ? `no vol quote for ${e.now - f.quoteTime} ms` : f.reason,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Settlement (prices.ts runScheduled, at the first clock move at or after expiry)

/**
 * What an option market settles at: its payoff per unit on the underlying's TWAP over the window (the spot if none
 * accrued); null without any price (retried on the next tick). prices.ts settles every market due in one step.
 */
export function optionSettlementPrice(e: EngineState, m: Market): bigint | null {
  const f = m.optionFeed;
  if (f === null) return null;
  accrueSpot(f, Math.max(f.lastSpotTime, Math.min(e.now, f.expiry)));
  const s = f.twapMs > 0n ? f.twapNum / f.twapMs : (f.lastSpot ?? driverPrices(f).spot);
  return s === null ? null : settlementPremium(m.option!, s, m.inst.priceDp);
}

// ---------------------------------------------------------------------------------------------------------
// The vol feed command

/**
 * volQuote: validated in full (the feed exists, the expiry is ahead, the smile parses and prices every strike of the
 * expiry), then the jump guard: when the at-the-money IV moved more than `maxJump` of its last value, the smile is
 * scaled back to the band's edge and the feed is flagged too volatile (new risk pauses, as the index's jump does).
 */
export function volQuote(e: EngineState, cmd: Cmd<'volQuote'>): undefined {
  const u = marketOf(e, cmd.underlying);
  const f = Number.isSafeInteger(cmd.expiry) ? e.optionFeeds.get(feedKeyOf(u.symbol, cmd.expiry)) : undefined;
  if (!f) throw new Rejection('UNKNOWN_MARKET', `no options on ${u.symbol} expire at ${String(cmd.expiry)}`);
  const seconds = Math.floor((f.expiry - cmd.time) / 1000);
  if (seconds <= 0) throw new Rejection('MARKET_CLOSED', `options on ${f.key} have expired`);
  const smile = parsed(() => parseSmile(cmd.smile, yearsFromSeconds(seconds)));
  const ref = driverPrices(f).forward ?? f.forward ?? f.markets[0]!.option!.strike;
  let atm: bigint;
  try {
    atm = smileIv(smile, ref, ref);
    // Only SVI can fail at a strike (a negative variance); a per-strike smile prices every strike.
    if (smile.kind === 'svi') for (const m of f.markets) smileIv(smile, m.option!.strike, ref);
  } catch (err) {
    if (err instanceof RangeError) throw new Rejection('INVALID_COMMAND', `smile: ${err.message}`);
    throw err;
  }
  // ---- validated ----
  const prev = f.atmIv;
  const band = prev === null ? null : (prev * f.guards.maxJump) / 10n ** 18n;
  if (prev !== null && band !== null && atm > 0n && (atm > prev + band || atm < prev - band)) {
    const target = atm > prev ? prev + band : prev - band;
    f.scale = (target * 10n ** 18n) / atm;
    f.atmIv = target;
    f.validity = 'tooVolatile';
    f.reason = 'ATM vol jumped more than the band in one quote; scaled back';
  } else {
    f.scale = 10n ** 18n;
    f.atmIv = atm;
    f.validity = 'valid';
    f.reason = 'ok';
  }
  f.raw = structuredClone(cmd.smile);
  f.smile = smile;
  f.quoteTime = cmd.time;
  f.requoted = true;
  reportFeed(e, f);
  return undefined;
}
