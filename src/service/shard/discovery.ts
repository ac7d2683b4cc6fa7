/**
 * `GET /api/v1/shards`: each configured shard with its patterns, its health (its `/health`: role, seq, lag) and what
 * it says of itself (`GET /api/v1/shard`: its name and patterns) — `consistent: false` when that disagrees with the
 * router's config (a URL pointing at another shard sends its markets' orders to the wrong ledger; the shard refuses
 * markets it does not own, but an operator should see it first). Fetched live, at most once a second.
 */
import type { ShardConfig } from './router-config.ts';
import { callShardJson, ShardUnavailable } from './upstream.ts';

export interface ShardStatus {
  name: string;
  markets: string[];
  /** `ok` (its /health answered 200), `degraded` (it answered otherwise), `unavailable` (no answer). */
  status: 'ok' | 'degraded' | 'unavailable';
  health: Record<string, unknown> | null;
  /** What the shard says it is; null when it does not say (not sharded, or no answer). */
  reported: { name: string | null; markets: string[] } | null;
  /** Whether `reported` matches the router's config; null when unknown. */
  consistent: boolean | null;
  error?: string;
}

async function statusOf(s: ShardConfig, timeoutMs: number): Promise<ShardStatus> {
  const base: ShardStatus = {
    name: s.name,
    markets: s.markets,
    status: 'unavailable',
    health: null,
    reported: null,
    consistent: null,
  };
  const [health, self] = await Promise.allSettled([
    callShardJson(s, 'GET', '/health', {}, null, timeoutMs),
    callShardJson(s, 'GET', '/api/v1/shard', {}, null, timeoutMs),
  ]);
  if (health.status === 'rejected') {
    const e = health.reason;
    return { ...base, error: e instanceof ShardUnavailable ? e.reason : String(e) };
  }
  const h = health.value;
  const out: ShardStatus = {
    ...base,
    status: h.status === 200 ? 'ok' : 'degraded',
    health: publicHealth(h.json),
  };
  if (self.status === 'fulfilled' && self.value.status === 200) {
    const j = (self.value.json ?? {}) as { name?: unknown; markets?: unknown };
    const name = typeof j.name === 'string' ? j.name : null;
    const markets = Array.isArray(j.markets)
      ? j.markets.filter((m): m is string => typeof m === 'string')
      : [];
    out.reported = { name, markets };
    out.consistent = name === s.name && sameSet(markets, s.markets);
  }
  return out;
}

/**
 * What of a shard's /health the router shows anyone: its state, role and position — not the leader's address or
 * process id (the shards' addresses are the operator's, and the router is what the public sees).
 */
function publicHealth(j: unknown): Record<string, unknown> | null {
  if (typeof j !== 'object' || j === null) return null;
  const h = j as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['status', 'reason', 'role', 'seq', 'lag']) if (k in h) out[k] = h[k];
  return out;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  return x.size === new Set(b).size && b.every((v) => x.has(v));
}

export class Discovery {
  private cached: { at: number; value: Promise<ShardStatus[]> } | null = null;
  constructor(
    private readonly shards: readonly ShardConfig[],
    private readonly timeoutMs: number,
  ) {}

  /** Every shard's status (one fetch shared by the callers of the same second). */
  status(): Promise<ShardStatus[]> {
    const now = performance.now();
    if (this.cached === null || now - this.cached.at >= 1_000)
      this.cached = { at: now, value: Promise.all(this.shards.map((s) => statusOf(s, this.timeoutMs))) };
    return this.cached.value;
  }
}
