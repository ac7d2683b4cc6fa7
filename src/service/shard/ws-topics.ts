/**
 * Where a WebSocket request goes (pure): a topic naming a market to its owner, other topics and a login to every
 * shard, an order op to the shard of its market. The shards check everything else themselves.
 */
import type { ShardMap } from './patterns.ts';

/** Topics whose argument is a market symbol (`candles.<SYMBOL>.<tf>`: the symbol is all but the timeframe). */
const SYMBOL_TOPICS = new Set([
  'orderbook',
  'trades',
  'mark',
  'funding',
  'options',
  'candles',
  'liquidations',
]);
/** Order entry: routed by `args.symbol` or a combo's `args.legs[].symbol`. */
export const ORDER_OPS = new Set([
  'order.place',
  'order.amend',
  'order.cancel',
  'order.cancelAll',
  'order.get',
  'combo.place',
]);

/** The market a topic names, or null for a topic of every shard (private ones, `insurance.<ASSET>`, `vaults`). */
export function topicSymbol(topic: string): string | null {
  const dot = topic.indexOf('.');
  if (dot < 0) return null;
  const name = topic.slice(0, dot);
  if (!SYMBOL_TOPICS.has(name)) return null;
  const arg = topic.slice(dot + 1);
  if (name === 'candles') {
    const last = arg.lastIndexOf('.');
    return last < 0 ? arg : arg.slice(0, last);
  }
  return arg;
}

export type Targets = { shards: string[] } | { error: { code: string; message: string } };

/**
 * The shards of each topic of a subscribe/unsubscribe. `liquidations.<x>` is the market's stream when `x` is a market
 * some shard owns, else an account's private stream (or an admin's `liquidations.all`): every shard.
 */
export function splitTopics(
  topics: readonly string[],
  map: ShardMap,
  all: readonly string[],
): { byShard: Map<string, string[]> } | { error: { code: string; message: string } } {
  const byShard = new Map<string, string[]>();
  const add = (shard: string, t: string) => {
    const l = byShard.get(shard);
    if (l) l.push(t);
    else byShard.set(shard, [t]);
  };
  for (const t of topics) {
    const symbol = topicSymbol(t);
    const owner = symbol === null ? null : map.ownerOf(symbol);
    if (owner !== null) add(owner, t);
    else if (symbol !== null && !t.startsWith('liquidations.'))
      return { error: { code: 'UNKNOWN_MARKET', message: `${t}: unknown market ${JSON.stringify(symbol)}` } };
    else for (const s of all) add(s, t);
  }
  return { byShard };
}

/** The shard of an order op's market(s). */
export function orderTarget(args: unknown, map: ShardMap, shardNames: readonly string[]): Targets {
  const a = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>;
  const symbols: string[] = [];
  if (typeof a.symbol === 'string') symbols.push(a.symbol);
  const legs = Array.isArray(a.legs);
  if (legs)
    for (const l of a.legs as unknown[])
      if (typeof l === 'object' && l !== null && typeof (l as { symbol?: unknown }).symbol === 'string')
        symbols.push((l as { symbol: string }).symbol);
  if (symbols.length === 0)
    return {
      error: {
        code: 'SHARD_REQUIRED',
        message: `this op names no market: give args.symbol, or the shard in the message's "shard" field (one of ${shardNames.join(', ')})`,
      },
    };
  let owner: string | null = null;
  for (const s of symbols) {
    const o = map.ownerOf(s);
    if (o === null)
      return {
        error: {
          code: 'UNKNOWN_MARKET',
          message: `unknown market ${JSON.stringify(s)}: no shard's patterns match it`,
        },
      };
    if (owner !== null && o !== owner)
      return {
        error: {
          code: legs ? 'CROSS_SHARD_COMBO' : 'CROSS_SHARD',
          message: `a combo's legs must all be in one shard: ${symbols.join(', ')} span shards ${owner} and ${o}`,
        },
      };
    owner = o;
  }
  return { shards: [owner!] };
}
