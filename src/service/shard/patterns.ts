/**
 * Which shard owns a symbol, for the router: the shards' patterns (markets.ts decides what a pattern matches, for
 * shards and routers alike), looked up once per symbol.
 */
import { ownsMarket } from './markets.ts';

/** A market pattern as a shard's config accepts it (config.ts `shard.markets`): a symbol, or a prefix and `*`. */
export const MARKET_PATTERN_RE = /^[A-Za-z0-9_.-]{1,64}\*?$/;

export class ShardMap {
  /** Symbols already looked up (bounded: a flood of made-up symbols cannot grow it without limit). */
  private readonly cache = new Map<string, string | null>();
  private static readonly CACHE_MAX = 10_000;

  constructor(private readonly shards: readonly { name: string; markets: readonly string[] }[]) {}

  /** The owning shard's name (the config guarantees at most one), or null when no shard's patterns match. */
  ownerOf(symbol: string): string | null {
    const hit = this.cache.get(symbol);
    if (hit !== undefined) return hit;
    const owner = this.shards.find((s) => ownsMarket(s.markets, symbol))?.name ?? null;
    if (this.cache.size >= ShardMap.CACHE_MAX) this.cache.clear();
    this.cache.set(symbol, owner);
    return owner;
  }
}
