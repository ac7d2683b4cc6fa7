/**
 * Per-market oracle: source quotes → index (weighted median with staleness and deviation guards) → mark price,
 * with a validity state and a per-action policy.
 *
 * Validity, ordered from best to worst (Drift's approach: one ordered enum, a separate decision per action):
 *   valid < tooVolatile < stale < insufficientSources
 * - tooVolatile: the last index update jumped more than `maxJump`; the index is clamped to the band for this update;
 * - stale: no fresh index for longer than the staleness limit (seen when a command arrives);
 * - insufficientSources: fewer fresh sources than required; the index holds its last value.
 * Each action names the worst validity it tolerates (ORACLE_POLICY); `requireOracle` is the gate the command
 * handlers check before an action (validation), `validityAt` what matching and the sweep consult. The engine emits
 * `oracleStatus` events when an action pauses or resumes on a market, and why (prices.ts).
 */
import { computeIndex, type IndexConfig, type SourceQuote } from '../core/index-price.ts';
import {
  binanceMark,
  clampIntoBook,
  type Ema,
  emaValue,
  emptyEma,
  hyperliquidMark,
  updateEma,
} from '../core/mark-price.ts';
import { RATE_ONE } from '../core/rates.ts';
import type { Market } from './market.ts';
import { Rejection } from './types.ts';

export type Validity = 'valid' | 'tooVolatile' | 'stale' | 'insufficientSources';
const RANK: Record<Validity, number> = { valid: 0, tooVolatile: 1, stale: 2, insufficientSources: 3 };

export type OracleAction = 'increaseRisk' | 'reduceRisk' | 'withdraw' | 'liquidate' | 'funding';

/** The worst validity each action tolerates. Reducing risk is never blocked: a trader can always get out. */
export const ORACLE_POLICY: Record<OracleAction, Validity> = {
  increaseRisk: 'valid',
  withdraw: 'valid',
  liquidate: 'tooVolatile',
  funding: 'tooVolatile',
  reduceRisk: 'insufficientSources',
};

export function allows(action: OracleAction, v: Validity): boolean {
  return RANK[v] <= RANK[ORACLE_POLICY[action]];
}

/** Validity as of `now` without mutating: an index older than the staleness limit is stale. */
export function validityAt(m: Market, now: number): Validity {
  // An option is as good as the worse of its underlying's price and its expiry's vol feed.
  const feed = m.optionFeed;
  if (feed !== null) {
    const u = feed.underlyingMarket === null ? 'insufficientSources' : validityAt(feed.underlyingMarket, now);
    const v = feed.validityAt(now);
    return RANK[u] >= RANK[v] ? u : v;
  }
  const o = m.oracle;
  if (!o) return 'valid';
  if (o.validity !== 'insufficientSources' && o.index !== null && now - o.indexTime > o.cfg.stalenessMs)
    return 'stale';
  return o.validity;
}

/** Rejects with ORACLE_PAUSED when the market's oracle state does not allow `action`. */
export function requireOracle(m: Market, action: OracleAction, now: number): void {
  const v = validityAt(m, now);
  if (!allows(action, v)) {
    const why = m.oracle?.reason ?? '';
    const what =
      m.optionFeed !== null ? `underlying or vol feed ${v} (vol: ${m.optionFeed.reason})` : `oracle ${v}`;
    throw new Rejection(
      'ORACLE_PAUSED',
      `${action} is paused on ${m.symbol}: ${what}${why ? ` (${why})` : ''}`,
    );
  }
}

export interface OracleConfig extends IndexConfig {
  sources: { name: string; weight: number }[];
  /** Largest index move per update (RATE_DP); larger moves are clamped and flagged tooVolatile. */
  maxJump: bigint;
  markMethod: 'index' | 'binance' | 'hyperliquid';
  /** EMA time constant for Hyperliquid's basis (ms). */
  emaTauMs: number;
  /** Number of basis samples in Binance's moving average. */
  basisSamples: number;
}

/** An OracleState's fields as plain data (snapshots); quotes as [source, price, time, weight]. */
export interface OracleStateData {
  quotes: [source: string, price: bigint, time: number, weight: number][];
  index: bigint | null;
  indexTime: number;
  validity: Validity;
  reason: string;
  basis: bigint[];
  emaBasis: [num: bigint, den: bigint];
  emaBook: [num: bigint, den: bigint];
  lastSampleTime: number;
}

export interface BookTop {
  bid: bigint | null;
  ask: bigint | null;
  last: bigint | null;
}

export class OracleState {
  readonly quotes = new Map<string, SourceQuote>();
  index: bigint | null = null;
  indexTime = 0;
  validity: Validity = 'insufficientSources';
  reason = 'no index yet';
  /** Binance: recent (mid − index) samples, bounded by `basisSamples`. */
  readonly basis: bigint[] = [];
  emaBasis: Ema = emptyEma();
  emaBook: Ema = emptyEma();
  lastSampleTime = 0;

  constructor(readonly cfg: OracleConfig) {}

  /** Canonical text of every field (state hash, snapshots). */
  canonical(): string {
    const q = [...this.quotes.values()]
      .map((x) => `${x.source}:${x.price}:${x.time}`)
      .sort()
      .join(';');
    return [
      q,
      this.index,
      this.indexTime,
      this.validity,
      this.reason,
      this.basis.join(':'),
      this.emaBasis.num,
      this.emaBasis.den,
      this.emaBook.num,
      this.emaBook.den,
      this.lastSampleTime,
    ].join(',');
  }

  /** Every field as plain data, quotes in insertion order (snapshots). */
  exportState(): OracleStateData {
    return {
      quotes: [...this.quotes.values()].map((q) => [q.source, q.price, q.time, q.weight]),
      index: this.index,
      indexTime: this.indexTime,
      validity: this.validity,
      reason: this.reason,
      basis: [...this.basis],
      emaBasis: [this.emaBasis.num, this.emaBasis.den],
      emaBook: [this.emaBook.num, this.emaBook.den],
      lastSampleTime: this.lastSampleTime,
    };
  }

  /** Puts back what `exportState` returned (the config comes from the market, as at creation). */
  restoreState(s: OracleStateData): void {
    if (!(s.validity in RANK)) throw new Error(`snapshot: unknown oracle validity ${String(s.validity)}`);
    this.quotes.clear();
    for (const [source, price, time, weight] of s.quotes)
      this.quotes.set(source, { source, price, time, weight });
    this.index = s.index;
    this.indexTime = s.indexTime;
    this.validity = s.validity;
    this.reason = s.reason;
    this.basis.length = 0;
    for (const b of s.basis) this.basis.push(b);
    this.emaBasis = { num: s.emaBasis[0], den: s.emaBasis[1] };
    this.emaBook = { num: s.emaBook[0], den: s.emaBook[1] };
    this.lastSampleTime = s.lastSampleTime;
  }

  /** Records a quote and recomputes the index. Returns the new index (or null if invalid). */
  quote(source: string, price: bigint, time: number): void {
    const w = this.cfg.sources.find((s) => s.name === source);
    this.quotes.set(source, { source, price, time, weight: w?.weight ?? 1 });
    this.recompute(time);
  }

  recompute(now: number): void {
    const r = computeIndex([...this.quotes.values()], now, this.cfg);
    if (r.price === null) {
      this.setValidity(
        'insufficientSources',
        `${r.used.length} fresh sources, ${this.cfg.minSources} required`,
      );
      return;
    }
    let price = r.price;
    let validity: Validity = 'valid';
    let reason = r.outliers.length ? `excluded ${r.outliers.join(', ')}` : 'ok';
    if (this.index !== null) {
      // Rounded down: a clamped update moves the index no further than the band allows.
      const band = (this.index * this.cfg.maxJump) / RATE_ONE;
      if (price > this.index + band || price < this.index - band) {
        price = price > this.index ? this.index + band : this.index - band;
        validity = 'tooVolatile';
        reason = `index jumped more than ${fmtPct(this.cfg.maxJump)} in one update; clamped`;
      }
    }
    this.index = price;
    this.indexTime = now;
    this.setValidity(validity, reason);
  }

  /** Ages the index: stale once older than the staleness limit. */
  age(now: number): void {
    if (
      this.index !== null &&
      this.validity !== 'insufficientSources' &&
      now - this.indexTime > this.cfg.stalenessMs
    ) {
      this.setValidity('stale', `no index update for ${now - this.indexTime} ms`);
    }
  }

  private setValidity(v: Validity, reason: string): void {
    this.validity = v;
    this.reason = reason;
  }

  /** Samples the book's basis for the mark (call on each index update). */
  sampleBasis(top: BookTop, now: number): void {
    if (this.index === null) return;
    const mid = top.bid !== null && top.ask !== null ? (top.bid + top.ask) / 2n : null;
    const dt = this.lastSampleTime === 0 ? 1 : now - this.lastSampleTime;
    this.lastSampleTime = now;
    if (mid !== null) {
      this.basis.push(mid - this.index);
      if (this.basis.length > this.cfg.basisSamples) this.basis.shift();
      this.emaBasis = updateEma(this.emaBasis, mid - this.index, dt, this.cfg.emaTauMs);
    }
    const bookMedian = clampIntoBook(top.last, top.bid, top.ask);
    if (bookMedian !== null) this.emaBook = updateEma(this.emaBook, bookMedian, dt, 30_000);
  }

  /** The mark price by the configured method, or null without an index. */
  mark(top: BookTop, fundingRate: bigint, msUntilFunding: number, intervalMs: number): bigint | null {
    if (this.index === null) return null;
    switch (this.cfg.markMethod) {
      case 'index':
        return this.index;
      case 'binance': {
        // Truncated average of the basis samples (a price offset; sub-unit precision is below the tick).
        const avg = this.basis.length
          ? this.basis.reduce((a, b) => a + b, 0n) / BigInt(this.basis.length)
          : null;
        return binanceMark({
          index: this.index,
          lastFundingRate: fundingRate,
          msUntilFunding,
          intervalMs,
          basisAverage: avg,
          last: clampIntoBook(top.last, top.bid, top.ask),
        });
      }
      case 'hyperliquid':
        return hyperliquidMark({
          index: this.index,
          emaBasis: emaValue(this.emaBasis),
          bookMedian: top.bid !== null && top.ask !== null ? clampIntoBook(top.last, top.bid, top.ask) : null,
          external: null,
          bookMedianEma: emaValue(this.emaBook),
        });
    }
  }
}

function fmtPct(r: bigint): string {
  return `${Number((r * 10000n) / RATE_ONE) / 100}%`;
}
