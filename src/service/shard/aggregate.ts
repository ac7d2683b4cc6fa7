/**
 * Reads without a market, answered by every shard for its own part and merged: the same signed request goes to each
 * (each shard's replay cache is its own), lists are concatenated with every item tagged `shard`, balances summed per
 * asset with the per-shard breakdown beside. Shards that did not answer are reported (`partial`, and the
 * `x-rf-partial` header), and the answer is 200 with what the others said — or 503 when none answered. A shard
 * refusing the request itself (4xx: a bad signature, a rate limit, a bad query) makes that the answer: a merge that
 * silently left out a shard because of the caller's mistake would look complete.
 */
import { addDecimals } from './decimal.ts';
import type { MergeKind } from './resolve.ts';
import type { ShardConfig } from './router-config.ts';
import { callShard, ShardUnavailable, type UpstreamRequest, type UpstreamResponse } from './upstream.ts';

export const PARTIAL_HEADER = 'x-rf-partial';
/** A newest-first list merged from several shards is cut to what one shard would have answered by default. */
const DEFAULT_NEWEST_LIMIT = 100;

export interface ShardAnswer {
  shard: string;
  res: UpstreamResponse | null;
  /** Why it did not answer (null when it did). */
  failure: ShardUnavailable | null;
}

/** Sends the request to every shard at once; never throws. */
export async function fanOut(shards: readonly ShardConfig[], req: UpstreamRequest): Promise<ShardAnswer[]> {
  return Promise.all(
    shards.map(async (s): Promise<ShardAnswer> => {
      try {
        return { shard: s.name, res: await callShard(s, req), failure: null };
      } catch (e) {
        if (e instanceof ShardUnavailable) return { shard: s.name, res: null, failure: e };
        return { shard: s.name, res: null, failure: new ShardUnavailable(s.name, String(e), false, false) };
      }
    }),
  );
}

export interface Merged {
  status: number;
  /** A JSON value, or the raw answer of the one shard whose refusal is relayed. */
  body: unknown;
  /** Set when `body` is one shard's answer, relayed as is. */
  relayed: { shard: string; res: UpstreamResponse } | null;
  partial: string[];
}

type Item = Record<string, unknown>;

export function merge(
  kind: MergeKind,
  newestFirst: boolean,
  limit: number | null,
  answers: ShardAnswer[],
): Merged {
  const ok: { shard: string; json: unknown }[] = [];
  const partial: string[] = [];
  for (const a of answers) {
    const res = a.res;
    if (res === null || res.status >= 500) {
      partial.push(a.shard);
      continue;
    }
    if (res.status < 200 || res.status >= 300)
      return { status: res.status, body: null, relayed: { shard: a.shard, res }, partial: [] };
    let json: unknown;
    try {
      json = JSON.parse(res.body.toString('utf8'));
    } catch {
      partial.push(a.shard);
      continue;
    }
    ok.push({ shard: a.shard, json });
  }
  if (ok.length === 0) {
    const why = answers
      .map((a) => `${a.shard}: ${a.failure?.reason ?? `status ${a.res?.status}`}`)
      .join('; ');
    return {
      status: 503,
      body: { code: 'SHARD_UNAVAILABLE', message: `no shard answered (${why})`, shards: partial },
      relayed: null,
      partial,
    };
  }
  const body = kind === 'balance' ? mergeBalances(ok, partial) : mergeLists(ok, newestFirst, limit);
  return { status: 200, body, relayed: null, partial };
}

function mergeLists(
  ok: { shard: string; json: unknown }[],
  newestFirst: boolean,
  limit: number | null,
): Item[] {
  let out: Item[] = [];
  for (const { shard, json } of ok) {
    if (!Array.isArray(json)) continue;
    for (const item of json) out.push({ ...(item as Item), shard });
  }
  if (newestFirst) {
    // Each shard's list is newest first; the merge is too (stable: one shard's items keep their order on ties).
    // Fills and events carry `timestamp`; transfer records `createdAt`.
    const ts = (i: Item) =>
      typeof i.timestamp === 'number' ? i.timestamp : typeof i.createdAt === 'number' ? i.createdAt : 0;
    out = out
      .map((item, i) => ({ item, i }))
      .sort((a, b) => ts(b.item) - ts(a.item) || a.i - b.i)
      .map((x) => x.item);
    out = out.slice(0, limit ?? DEFAULT_NEWEST_LIMIT);
  } else if (limit !== null) out = out.slice(0, limit);
  return out;
}

interface BalanceRow {
  asset: string;
  free: string;
  used: string;
  total: string;
}

/** Per-asset sums over the shards that answered, with each one's rows under `shards`. */
function mergeBalances(ok: { shard: string; json: unknown }[], partial: string[]): Item {
  const sums = new Map<string, BalanceRow>();
  const shards: Record<string, BalanceRow[]> = {};
  let account: unknown = null;
  for (const { shard, json } of ok) {
    const b = json as { account?: unknown; balances?: unknown };
    account ??= b.account ?? null;
    const rows = Array.isArray(b.balances) ? (b.balances as BalanceRow[]) : [];
    shards[shard] = rows;
    for (const r of rows) {
      const s = sums.get(r.asset);
      sums.set(
        r.asset,
        s === undefined
          ? { asset: r.asset, free: r.free, used: r.used, total: r.total }
          : {
              asset: r.asset,
              free: addDecimals(s.free, r.free),
              used: addDecimals(s.used, r.used),
              total: addDecimals(s.total, r.total),
            },
      );
    }
  }
  const balances = [...sums.values()].sort((a, b) => (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0));
  const pick = (k: 'free' | 'used' | 'total') => Object.fromEntries(balances.map((b) => [b.asset, b[k]]));
  return { account, balances, free: pick('free'), used: pick('used'), total: pick('total'), shards, partial };
}
