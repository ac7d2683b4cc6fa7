/**
 * Index price from several oracle sources: a weighted median with guards.
 *
 * 1. A source whose last price is older than `stalenessMs` is dropped (stale).
 * 2. The weighted median of the fresh sources is taken; sources deviating from it by more than `maxDeviation`
 *    get weight zero (Binance's rule; Hyperliquid weights its sources 3,2,2,1,…).
 * 3. If more than one source deviates, the plain median of all fresh sources is used instead — one bad source is
 *    an outlier, several mean the market itself moved (Binance's rule).
 * 4. Fewer fresh sources than `minSources` make the index invalid.
 * All prices are integers at one price scale; the median of an even split rounds down to that scale.
 */
import { RATE_ONE } from './rates.ts';

export interface SourceQuote {
  source: string;
  price: bigint;
  /** ms since epoch of the quote. */
  time: number;
  /** Relative weight (a positive integer). */
  weight: number;
}

export interface IndexConfig {
  stalenessMs: number;
  /** Largest allowed |price − median| / median, RATE_DP. */
  maxDeviation: bigint;
  minSources: number;
}

export type IndexValidity = 'valid' | 'insufficientSources';

export interface IndexResult {
  price: bigint | null;
  validity: IndexValidity;
  used: string[];
  stale: string[];
  outliers: string[];
}

/** Lower weighted median: the smallest price at which the cumulative weight reaches half the total. */
export function weightedMedian(quotes: readonly { price: bigint; weight: number }[]): bigint {
  if (quotes.length === 0) throw new RangeError('median of nothing');
  const sorted = [...quotes].sort((a, b) => (a.price < b.price ? -1 : a.price > b.price ? 1 : 0));
  const total = sorted.reduce((s, q) => s + q.weight, 0);
  let acc = 0;
  for (let i = 0; i < sorted.length; i++) {
    acc += sorted[i]!.weight;
    if (2 * acc === total && i + 1 < sorted.length) return (sorted[i]!.price + sorted[i + 1]!.price) / 2n;
    if (2 * acc > total) return sorted[i]!.price;
  }
  return sorted[sorted.length - 1]!.price;
}

export function computeIndex(quotes: readonly SourceQuote[], now: number, cfg: IndexConfig): IndexResult {
  const fresh = quotes.filter((q) => now - q.time <= cfg.stalenessMs && q.weight > 0);
  const stale = quotes.filter((q) => !fresh.includes(q)).map((q) => q.source);
  if (fresh.length < cfg.minSources || fresh.length === 0) {
    return {
      price: null,
      validity: 'insufficientSources',
      used: fresh.map((q) => q.source),
      stale,
      outliers: [],
    };
  }
  const median = weightedMedian(fresh);
  const deviates = (q: SourceQuote) => {
    const d = q.price > median ? q.price - median : median - q.price;
    return d * RATE_ONE > cfg.maxDeviation * median;
  };
  const outliers = fresh.filter(deviates);
  if (outliers.length === 0)
    return { price: median, validity: 'valid', used: fresh.map((q) => q.source), stale, outliers: [] };
  if (outliers.length > 1) {
    // Several sources disagree with the weighted median: trust the plain median of all of them.
    const plain = weightedMedian(fresh.map((q) => ({ price: q.price, weight: 1 })));
    return { price: plain, validity: 'valid', used: fresh.map((q) => q.source), stale, outliers: [] };
  }
  const kept = fresh.filter((q) => !deviates(q));
  if (kept.length < cfg.minSources) {
    return {
      price: null,
      validity: 'insufficientSources',
      used: kept.map((q) => q.source),
      stale,
      outliers: outliers.map((q) => q.source),
    };
  }
  return {
    price: weightedMedian(kept),
    validity: 'valid',
    used: kept.map((q) => q.source),
    stale,
    outliers: outliers.map((q) => q.source),
  };
}
