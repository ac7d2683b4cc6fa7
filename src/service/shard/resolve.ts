/**
 * Which shard a request goes to (pure: the request's method, path, query, headers and parsed body in; a decision
 * out). In order:
 *
 * 1. `x-rf-shard: <name>` (or, on an unsigned request, `?shard=<name>`) names the shard and wins — silo and
 *    deposit writes name no market, and an order id is only unique within its shard.
 * 2. `POST /api/v1/transfers`: a cross-shard transfer (transfers.ts), its source named by the body's `fromShard`.
 * 3. The markets the request names — query `symbol`/`underlying`, a `:symbol`/`:underlying` path parameter, body
 *    `symbol`/`underlying`, a combo's `legs[].symbol` — go to the shard whose patterns match them; all must be in one
 *    shard (a combo's legs: 400 CROSS_SHARD_COMBO); a market no shard owns: 404 UNKNOWN_MARKET.
 * 4. Otherwise a read the router aggregates (balances, positions, orders, …: every shard, merged), `GET /api/v1/me`
 *    (any shard: keys are the same everywhere), or 400 SHARD_REQUIRED.
 */
import type { ShardMap } from './patterns.ts';

export const SHARD_HEADER = 'x-rf-shard';
export const SHARD_QUERY = 'shard';

/** How the answers of every shard are combined (aggregate.ts). */
export type MergeKind = 'balance' | 'list';

export type Route =
  | { kind: 'shard'; shard: string; explicit: boolean; stripShardQuery: boolean }
  | { kind: 'fanout'; merge: MergeKind; newestFirst: boolean }
  | { kind: 'any' }
  | { kind: 'transfer' }
  | { kind: 'error'; status: number; code: string; message: string };

/** GET routes without a market that every shard answers for its own part: merged. */
const AGGREGATED: Record<string, { merge: MergeKind; newestFirst: boolean }> = {
  '/api/v1/balance': { merge: 'balance', newestFirst: false },
  '/api/v1/positions': { merge: 'list', newestFirst: false },
  '/api/v1/orders': { merge: 'list', newestFirst: false },
  '/api/v1/my-trades': { merge: 'list', newestFirst: true },
  '/api/v1/my-liquidations': { merge: 'list', newestFirst: true },
  '/api/v1/funding-history': { merge: 'list', newestFirst: true },
  '/api/v1/silos': { merge: 'list', newestFirst: false },
  '/api/v1/transfers': { merge: 'list', newestFirst: true },
  '/api/v1/markets': { merge: 'list', newestFirst: false },
  '/api/v1/tickers': { merge: 'list', newestFirst: false },
  '/api/v1/insurance': { merge: 'list', newestFirst: false },
  // Operators: every shard's transfers and its ledger per asset (money in flight), each row tagged with its shard.
  '/api/v1/admin/shard-transfers': { merge: 'list', newestFirst: false },
  '/api/v1/admin/shard-ledger': { merge: 'list', newestFirst: false },
};

/** Reads any shard answers alike. */
const ANY_SHARD = new Set(['/api/v1/me']);

/** Routes whose path parameter is a market symbol (or an option chain's underlying market). */
const SYMBOL_PATHS: readonly RegExp[] = [
  /^\/api\/v1\/(?:markets|tickers|mark-price|orderbook|trades|funding-rates|liquidations|candles|option-chain)\/([^/]+)$/,
  /^\/api\/v1\/admin\/markets\/([^/]+)\/(?:close|delist)$/,
  /^\/api\/v1\/admin\/oracle\/([^/]+)$/,
];

export const TRANSFERS_PATH = '/api/v1/transfers';

export interface RouteInput {
  method: string;
  /** Without the query. */
  path: string;
  query: URLSearchParams;
  /** The `x-rf-shard` header, if sent. */
  shardHeader: string | undefined;
  /** Whether the request carries a signature (its query is then signed and cannot be changed). */
  signed: boolean;
  /** The parsed JSON body (undefined: none or not JSON). */
  body: unknown;
}

const err = (status: number, code: string, message: string): Route => ({
  kind: 'error',
  status,
  code,
  message,
});

export function resolveRoute(r: RouteInput, map: ShardMap, shards: ReadonlySet<string>): Route {
  const explicit = explicitShard(r, shards);
  if (explicit !== null) return explicit;
  if (r.method === 'POST' && r.path === TRANSFERS_PATH) return { kind: 'transfer' };

  const named = marketsNamed(r);
  if (named.error) return named.error;
  let owner: string | null = null;
  for (const symbol of named.symbols) {
    const s = map.ownerOf(symbol);
    if (s === null)
      return err(
        404,
        'UNKNOWN_MARKET',
        `unknown market ${JSON.stringify(symbol)}: no shard's patterns match it`,
      );
    if (owner !== null && s !== owner)
      return named.legs
        ? err(
            400,
            'CROSS_SHARD_COMBO',
            `a combo's legs must all be in one shard: ${named.symbols.join(', ')} span shards ${owner} and ${s}`,
          )
        : err(400, 'CROSS_SHARD', `the request names markets of shards ${owner} and ${s}`);
    owner = s;
  }
  if (owner !== null) return { kind: 'shard', shard: owner, explicit: false, stripShardQuery: false };

  if (r.method === 'GET' || r.method === 'HEAD') {
    const agg = AGGREGATED[r.path];
    if (agg) return { kind: 'fanout', ...agg };
    if (ANY_SHARD.has(r.path)) return { kind: 'any' };
  }
  return err(
    400,
    'SHARD_REQUIRED',
    `${r.method} ${r.path} names no market: say which shard with the ${SHARD_HEADER} header (one of ${[...shards].join(', ')})`,
  );
}

function explicitShard(r: RouteInput, shards: ReadonlySet<string>): Route | null {
  const fromQuery = r.query.get(SHARD_QUERY);
  const name = r.shardHeader ?? fromQuery ?? undefined;
  if (name === undefined) return null;
  if (r.shardHeader === undefined && r.signed)
    return err(
      400,
      'INVALID_REQUEST',
      `query "${SHARD_QUERY}" on a signed request: the query is signed and the shard does not accept it; send the ${SHARD_HEADER} header instead`,
    );
  if (!shards.has(name))
    return err(
      404,
      'UNKNOWN_SHARD',
      `unknown shard ${JSON.stringify(name)} (one of ${[...shards].join(', ')})`,
    );
  if (r.method === 'POST' && r.path === TRANSFERS_PATH) {
    const from = fromShardOf(r.body);
    if (from !== undefined && from !== name)
      return err(400, 'INVALID_REQUEST', `${SHARD_HEADER} ${name} is not the transfer's fromShard ${from}`);
    return { kind: 'transfer' };
  }
  return {
    kind: 'shard',
    shard: name,
    explicit: true,
    stripShardQuery: r.shardHeader === undefined && fromQuery !== null,
  };
}

function fromShardOf(body: unknown): string | undefined {
  const v = isObject(body) ? body.fromShard : undefined;
  return typeof v === 'string' ? v : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The markets a request names, in the order found; `legs`: some came from a combo's legs. */
export function marketsNamed(r: Pick<RouteInput, 'path' | 'query' | 'body'>): {
  symbols: string[];
  legs: boolean;
  error?: Route;
} {
  const out = new Set<string>();
  for (const k of ['symbol', 'underlying']) for (const v of r.query.getAll(k)) out.add(v);
  for (const re of SYMBOL_PATHS) {
    const m = re.exec(r.path);
    if (!m) continue;
    try {
      out.add(decodeURIComponent(m[1]!));
    } catch {
      return {
        symbols: [],
        legs: false,
        error: err(400, 'INVALID_REQUEST', 'malformed URL (bad percent-encoding)'),
      };
    }
    break;
  }
  let legs = false;
  const b = r.body;
  if (isObject(b)) {
    for (const k of ['symbol', 'underlying']) if (typeof b[k] === 'string') out.add(b[k] as string);
    if (Array.isArray(b.legs))
      for (const leg of b.legs)
        if (isObject(leg) && typeof leg.symbol === 'string') {
          out.add(leg.symbol);
          legs = true;
        }
  }
  return { symbols: [...out], legs };
}
