/**
 * Options on the wire: an option market's ccxt fields, its per-unit Black-76 mark, IV and Greeks, the option chain
 * of an underlying, option positions with their Greeks, the admin commands (createOptionChain, volQuote) and the
 * public `options.<underlying>` stream.
 *
 * Greeks are computed here, read-only, from what the engine stores: the engine keeps each option's mark (`Market.mark`)
 * and, per underlying and expiry, its vol feed (`VolFeed`: the smile, the jump clamp's scale, the IV clamps, and the
 * spot and forward its marks were last computed from, at `markTime`). It exposes no read of an option's IV or Greeks,
 * so they are core `black76` (fixed point) at the feed's IV for the strike (`VolFeed.ivAt`, the engine's own smile,
 * scale and clamps) on the feed's forward, with the seconds to expiry from `markTime` — the very inputs of the
 * engine's mark, so the mark shown and the Greeks agree. Greeks are of the USD value per 1 unit of underlying, for
 * inverse options too (delta in units of underlying, gamma per 1 USD of underlying, vega per 1.00 of vol, theta per
 * year), as the calc contract reports them (docs/calc-options.md); the mark is the engine's (coin for inverse).
 */
import type { Static } from 'typebox';
import { formatDecimal } from '../core/fixed.ts';
import { scales } from '../core/margin.ts';
import { black76, WAD, yearsFromSeconds } from '../core/options/black76.ts';
import type { Position } from '../engine/account.ts';
import type { Engine } from '../engine/engine.ts';
import type { Market } from '../engine/market.ts';
import type { VolFeed } from '../engine/option-terms.ts';
import type { PositionView } from '../engine/readmodel.ts';
import type { Command } from '../engine/types.ts';
import { fmtPrice, fmtSize } from './codec.ts';
import { ApiError, rejection } from './errors.ts';
import type { Mirror } from './mirror.ts';
import type {
  OptionChainBody,
  OptionChainViewSchema,
  OptionRowSchema,
  VolQuoteBody,
} from './option-schemas.ts';
import type { CommandInput } from './service.ts';

/** WAD values (IVs, Greeks, strikes, the forward) as decimal strings, trailing zeros trimmed. */
export const fmtWad = (v: bigint): string => formatDecimal(v, 18);
const fmtWadOpt = (v: bigint | null): string | null => (v === null ? null : fmtWad(v));

/** ISO-8601 UTC of an expiry in ms (ccxt's expiryDatetime). */
export const isoOf = (ms: number): string => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------------------
// One option's figures per unit

/** Per 1 unit of underlying, WAD; null where the feed has no quote or no forward yet (or the option has expired). */
export interface OptionFigures {
  iv: bigint | null;
  delta: bigint | null;
  gamma: bigint | null;
  vega: bigint | null;
  theta: bigint | null;
  /** The forward the figures (and the engine's mark) are computed on, USD WAD. */
  forward: bigint | null;
}

const NO_FIGURES: OptionFigures = {
  iv: null,
  delta: null,
  gamma: null,
  vega: null,
  theta: null,
  forward: null,
};

/** See the module comment: Black-76 at the feed's IV on its forward, seconds to expiry from its last marking. */
export function optionFigures(m: Market): OptionFigures {
  const t = m.option;
  const f = m.optionFeed;
  if (t === null || f === null || f.forward === null || m.closed) return NO_FIGURES;
  const iv = f.ivAt(t.strike, f.forward);
  if (iv === null) return { ...NO_FIGURES, forward: f.forward };
  const seconds = Math.max(0, Math.floor((t.expiry - f.markTime) / 1000));
  try {
    const r = black76({ forward: f.forward, strike: t.strike, years: yearsFromSeconds(seconds), vol: iv });
    return {
      iv,
      delta: t.type === 'call' ? r.callDelta : r.putDelta,
      gamma: r.gamma,
      vega: r.vega,
      // Core's theta is the call's; with D = 1 the put's is the same.
      theta: r.theta,
      forward: f.forward,
    };
  } catch (err) {
    // Inputs outside core's bounds (cannot come from a valid feed): show no Greeks rather than fail the read.
    if (err instanceof RangeError) return { ...NO_FIGURES, iv, forward: f.forward };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Markets (ccxt fields)

export interface OptionMarketFields {
  optionType: 'call' | 'put';
  strike: string;
  expiryDatetime: string;
  underlying: string;
  optionMargin: string;
}

/** ccxt's option fields of a market description (`type`, `expiry`, `linear`/`inverse` are set by marketView). */
export function optionMarketFields(m: Market): OptionMarketFields | null {
  const t = m.option;
  if (t === null) return null;
  return {
    optionType: t.type,
    strike: fmtWad(t.strike),
    expiryDatetime: isoOf(t.expiry),
    underlying: t.underlying,
    optionMargin: t.venue,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The chain

type OptionRow = Static<typeof OptionRowSchema>;
type OptionChainView = Static<typeof OptionChainViewSchema>;

/** One option of the chain: engine mark and figures, the committed book's best bid and ask, open interest. */
function chainRow(m: Market, mirror: Mirror): OptionRow {
  const g = optionFigures(m);
  const mm = mirror.markets.has(m.symbol) ? mirror.market(m.symbol) : null;
  const bid = mm?.bids.best() ?? null;
  const ask = mm?.asks.best() ?? null;
  return {
    symbol: m.symbol,
    active: !m.closed,
    markPrice: m.mark === null ? null : fmtPrice(m, m.mark),
    iv: fmtWadOpt(g.iv),
    delta: fmtWadOpt(g.delta),
    gamma: fmtWadOpt(g.gamma),
    vega: fmtWadOpt(g.vega),
    theta: fmtWadOpt(g.theta),
    bid: bid ? fmtPrice(m, bid[0]) : null,
    bidVolume: bid ? fmtSize(m, bid[1]) : null,
    ask: ask ? fmtPrice(m, ask[0]) : null,
    askVolume: ask ? fmtSize(m, ask[1]) : null,
    openInterest: fmtSize(m, m.size(m.openInterestLots)),
  };
}

/** The feeds of one underlying, by expiry. */
function feedsOf(e: Engine, underlying: string): VolFeed[] {
  return [...e.optionFeeds.values()]
    .filter((f) => f.underlying === underlying)
    .sort((a, b) => a.expiry - b.expiry);
}

const byStrike = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * GET option-chain/:underlying: per expiry (ascending) its feed's state and forward, and per strike (ascending) the
 * call and the put (null where the chain has only one type). 404 UNKNOWN_MARKET for an unknown underlying; a market
 * without options has no expiries.
 */
export function optionChain(e: Engine, mirror: Mirror, underlying: string): OptionChainView {
  const u = e.markets.get(underlying);
  if (!u) throw rejection('UNKNOWN_MARKET', `unknown market ${JSON.stringify(underlying)}`);
  const spot = u.oracle !== null ? (u.oracle.index ?? u.mark) : u.mark;
  return {
    underlying: u.symbol,
    base: u.config.base,
    timestamp: e.lastTime,
    seq: e.seq,
    spot: spot === null ? null : fmtPrice(u, spot),
    expiries: feedsOf(e, u.symbol).map((f) => {
      const strikes = new Map<bigint, { call: OptionRow | null; put: OptionRow | null }>();
      for (const m of f.markets) {
        const t = m.option!;
        let row = strikes.get(t.strike);
        if (!row) {
          row = { call: null, put: null };
          strikes.set(t.strike, row);
        }
        row[t.type] = chainRow(m, mirror);
      }
      return {
        expiry: f.expiry,
        expiryDatetime: isoOf(f.expiry),
        forward: fmtWadOpt(f.forward),
        vol: {
          validity: f.validityAt(e.lastTime),
          reason: f.reason,
          quoteTime: f.smile === null ? null : f.quoteTime,
          kind: f.raw?.kind ?? null,
        },
        markTime: f.markTime,
        strikes: [...strikes.keys()].sort(byStrike).map((k) => ({ strike: fmtWad(k), ...strikes.get(k)! })),
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Positions with Greeks

export interface OptionPositionFields {
  underlying: string;
  optionType: 'call' | 'put';
  strike: string;
  expiry: number;
  expiryDatetime: string;
  settle: 'linear' | 'inverse';
  iv: string | null;
  underlyingPrice: string | null;
  delta: string | null;
  gamma: string | null;
  vega: string | null;
  theta: string | null;
}

/**
 * An option position's terms and Greeks: per-unit figures × size in units of underlying (contracts × contract size),
 * signed (a short call has negative delta), truncated toward zero — calc's convention.
 */
export function optionPositionFields(p: Position): OptionPositionFields | null {
  const m = p.market;
  const t = m.option;
  if (t === null) return null;
  const g = optionFigures(m);
  const units = (p.size * m.inst.multiplier * WAD) / scales(m.inst).sizeScale;
  const times = (v: bigint | null) => (v === null ? null : fmtWad((BigInt(p.sign) * v * units) / WAD));
  return {
    underlying: t.underlying,
    optionType: t.type,
    strike: fmtWad(t.strike),
    expiry: t.expiry,
    expiryDatetime: isoOf(t.expiry),
    settle: t.settle,
    iv: fmtWadOpt(g.iv),
    underlyingPrice: fmtWadOpt(g.forward),
    delta: times(g.delta),
    gamma: times(g.gamma),
    vega: times(g.vega),
    theta: times(g.theta),
  };
}

/** A position view with its option fields when it is an option (unchanged otherwise). */
export function withOptionFields<V extends PositionView>(p: Position, v: V): V {
  const o = optionPositionFields(p);
  return o === null ? v : { ...v, ...o };
}

/**
 * Decorates views the engine built for `account` (GET positions, silo legs), finding each one's position by
 * (silo, symbol): positions keyed `${silo}/${symbol}` for a named silo's leg, the symbol otherwise.
 */
export function withOptionFieldsOf<V extends PositionView>(e: Engine, account: string, views: V[]): V[] {
  const a = e.accounts.get(account);
  if (!a) return views;
  return views.map((v) => {
    const p = a.positions.get(v.silo === null ? v.symbol : `${v.silo}/${v.symbol}`);
    return p && p.market.option !== null ? withOptionFields(p, v) : v;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Admin commands

export function optionChainCommand(b: Static<typeof OptionChainBody>): CommandInput {
  return {
    type: 'createOptionChain',
    underlying: b.underlying,
    settle: b.settle,
    expiries: [...b.expiries],
    strikes: [...b.strikes],
    ...(b.types !== undefined ? { types: [...b.types] } : {}),
    tickSize: b.tickSize,
    lotSize: b.lotSize,
    ...(b.takerFee !== undefined ? { takerFee: b.takerFee } : {}),
    ...(b.makerFee !== undefined ? { makerFee: b.makerFee } : {}),
    ...(b.limitBand !== undefined ? { limitBand: b.limitBand } : {}),
    ...(b.marketBand !== undefined ? { marketBand: b.marketBand } : {}),
    ...(b.maxOrderSize !== undefined ? { maxOrderSize: b.maxOrderSize } : {}),
    ...(b.settlementWindowMs !== undefined ? { settlementWindowMs: b.settlementWindowMs } : {}),
    ...(b.optionMargin !== undefined ? { optionMargin: b.optionMargin } : {}),
    ...(b.vol !== undefined ? { vol: { ...b.vol } } : {}),
    ...(b.liquidation !== undefined ? { liquidation: { ...b.liquidation } } : {}),
  };
}

const SVI_FIELDS = ['a', 'b', 'rho', 'm', 'sigma'] as const;

/**
 * The volQuote command. The smile's schema is one strict object (so a bad field is named by its path, not lost in
 * an anyOf of both kinds); which fields a kind needs is checked here, naming the first missing or foreign one.
 */
export function volQuoteCommand(b: Static<typeof VolQuoteBody>): CommandInput {
  const s = b.smile;
  const bad = (field: string, why: string) =>
    new ApiError(400, 'INVALID_REQUEST', `body.smile.${field}: ${why}`);
  if (s.kind === 'svi') {
    for (const f of SVI_FIELDS) if (s[f] === undefined) throw bad(f, 'required for an svi smile');
    if (s.ivs !== undefined) throw bad('ivs', 'not allowed in an svi smile');
    return {
      type: 'volQuote',
      underlying: b.underlying,
      expiry: b.expiry,
      smile: { kind: 'svi', a: s.a!, b: s.b!, rho: s.rho!, m: s.m!, sigma: s.sigma! },
    };
  }
  for (const f of SVI_FIELDS) if (s[f] !== undefined) throw bad(f, 'not allowed in a strikes smile');
  if (s.ivs === undefined) throw bad('ivs', 'required for a strikes smile');
  if (Object.keys(s.ivs).length === 0) throw bad('ivs', 'needs at least one strike');
  return {
    type: 'volQuote',
    underlying: b.underlying,
    expiry: b.expiry,
    smile: { kind: 'strikes', ivs: { ...s.ivs } },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The public `options.<underlying>` stream

/**
 * What a vol update publishes: the feed's state and every option of the expiry with its mark and IV. Captured right
 * after the engine applied the volQuote (Journal.submit applies synchronously), so it is exactly that command's
 * state, and published only once the command is committed, under its seq.
 */
export interface VolUpdateItem {
  type: 'volUpdate';
  underlying: string;
  expiry: number;
  expiryDatetime: string;
  forward: string | null;
  validity: string;
  options: { symbol: string; markPrice: string | null; iv: string | null }[];
}

export function volUpdateItem(e: Engine, underlying: string, expiry: number): VolUpdateItem | null {
  const f = feedsOf(e, underlying).find((x) => x.expiry === expiry);
  if (!f) return null;
  return {
    type: 'volUpdate',
    underlying,
    expiry,
    expiryDatetime: isoOf(expiry),
    forward: fmtWadOpt(f.forward),
    validity: f.validityAt(e.lastTime),
    options: f.markets.map((m) => ({
      symbol: m.symbol,
      markPrice: m.mark === null ? null : fmtPrice(m, m.mark),
      iv: m.closed || f.forward === null ? null : fmtWadOpt(f.ivAt(m.option!.strike, f.forward)),
    })),
  };
}

/** A stream message captured at apply time, published once its command is committed. */
export interface Captured {
  key: string;
  item: unknown;
}

/**
 * Right after the engine applied `cmd` (and accepted it): a vol quote's update for `options.<underlying>`, when anyone
 * listens; null otherwise (nothing is computed for a topic without subscribers).
 */
export function captureOptionsTopic(
  e: Engine,
  hub: { has(key: string): boolean },
  cmd: Command,
): Captured | null {
  if (cmd.type !== 'volQuote') return null;
  const key = `options.${cmd.underlying}`;
  if (!hub.has(key)) return null;
  const item = volUpdateItem(e, cmd.underlying, cmd.expiry);
  return item === null ? null : { key, item };
}
