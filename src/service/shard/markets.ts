/**
 * Which shard owns a market (docs/sharding.md): a shard's `markets` are exact symbols or prefixes ending in `*`.
 * Shards, routers and their configurations all decide ownership with these two functions.
 */
import { ApiError } from '../errors.ts';

export function ownsMarket(patterns: readonly string[], symbol: string): boolean {
  for (const p of patterns)
    if (p.endsWith('*') ? symbol.startsWith(p.slice(0, -1)) : symbol === p) return true;
  return false;
}

/** Whether some symbol would be owned by both pattern lists (a configuration two shards could not share). */
export function patternsOverlap(a: string, b: string): boolean {
  const pa = a.endsWith('*');
  const pb = b.endsWith('*');
  const sa = pa ? a.slice(0, -1) : a;
  const sb = pb ? b.slice(0, -1) : b;
  if (pa && pb) return sa.startsWith(sb) || sb.startsWith(sa);
  if (pa) return sb.startsWith(sa);
  if (pb) return sa.startsWith(sb);
  return a === b;
}

/** A shard refuses to create a market another shard's patterns own: the router could never reach it. */
export function requireOwned(
  shard: { name: string; markets: readonly string[] } | null,
  symbol: string,
): void {
  if (shard === null || ownsMarket(shard.markets, symbol)) return;
  throw new ApiError(
    400,
    'MARKET_NOT_IN_SHARD',
    `${symbol} is not in shard ${shard.name}'s markets (${shard.markets.join(', ')}): create it on the shard that owns it`,
  );
}
