/**
 * Market patterns of a shard (issue 25): an exact symbol (`BTCUSDT`) or a prefix ending in `*` (`BTC*`, `ETH-*`; `*`
 * alone matches every symbol). Two shards' patterns must never both match one symbol, so that every market has
 * exactly one owner: `overlaps` is the check the router's config applies at load.
 */

/** A symbol's characters (the service's MarketSymbol), optionally followed by one `*`. */
export const PATTERN_RE = /^([A-Za-z0-9_.:/-]{0,40})(\*?)$/;

export interface Pattern {
  /** The text as configured. */
  readonly text: string;
  /** The symbol (exact) or the prefix (without its `*`). */
  readonly stem: string;
  readonly prefix: boolean;
}

/** Parses a pattern; null when it is not one (empty, bad characters, a `*` not at the end). */
export function parsePattern(text: string): Pattern | null {
  const m = PATTERN_RE.exec(text);
  if (!m) return null;
  const prefix = m[2] === '*';
  const stem = m[1]!;
  if (!prefix && stem === '') return null;
  return { text, stem, prefix };
}

export function matches(p: Pattern, symbol: string): boolean {
  return p.prefix ? symbol.startsWith(p.stem) : symbol === p.stem;
}

/** Whether some symbol matches both patterns. */
export function overlaps(a: Pattern, b: Pattern): boolean {
  if (a.prefix && b.prefix) return a.stem.startsWith(b.stem) || b.stem.startsWith(a.stem);
  if (a.prefix) return b.stem.startsWith(a.stem);
  if (b.prefix) return a.stem.startsWith(b.stem);
  return a.stem === b.stem;
}

/** Which shard owns which symbol: the first (and, the config guarantees, only) shard with a matching pattern. */
export class ShardMap {
  private readonly entries: { shard: string; pattern: Pattern }[] = [];
  /** Symbols already looked up (bounded: a flood of made-up symbols cannot grow it without limit). */
  private readonly cache = new Map<string, string | null>();
  private static readonly CACHE_MAX = 10_000;

  constructor(shards: readonly { name: string; markets: readonly string[] }[]) {
    for (const s of shards)
      for (const text of s.markets) {
        const p = parsePattern(text);
        if (p === null) throw new Error(`shard ${s.name}: not a market pattern: ${text}`);
        this.entries.push({ shard: s.name, pattern: p });
      }
  }

  /** The owning shard's name, or null when no shard's patterns match. */
  ownerOf(symbol: string): string | null {
    const hit = this.cache.get(symbol);
    if (hit !== undefined) return hit;
    const owner = this.entries.find((e) => matches(e.pattern, symbol))?.shard ?? null;
    if (this.cache.size >= ShardMap.CACHE_MAX) this.cache.clear();
    this.cache.set(symbol, owner);
    return owner;
  }
}
