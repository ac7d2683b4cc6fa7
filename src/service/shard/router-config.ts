/**
 * The router's configuration (`ringfence serve --role router --config router.json`): the `router` section of a JSON
 * file, validated strictly like config.ts (unknown fields are errors naming their path), then cross-checked: shard
 * names unique, urls well formed, and no market pattern of one shard overlapping another's — a symbol with two
 * owners would send one account's orders to two ledgers.
 */
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { ConfigError, isAddressOrCidr, readJsonFile } from '../config.ts';
import { patternsOverlap } from './markets.ts';
import { MARKET_PATTERN_RE } from './patterns.ts';

export const SHARD_NAME_PATTERN = '^[a-z0-9_-]{1,32}$';
/** Bounds: a router fronts a handful of shards, each a few URLs (leader, standbys, replicas). */
export const MAX_SHARDS = 64;
export const MAX_URLS = 16;
export const MAX_PATTERNS = 1_024;

const ShardSchema = Type.Object(
  {
    name: Type.String({ pattern: SHARD_NAME_PATTERN }),
    /** The shard's processes, leader first: a follower answers writes 307 to the leader; a refused connection tries the next. */
    urls: Type.Array(Type.String({ pattern: '^https?://[^\\s/?#]+/?$', maxLength: 2_048 }), {
      minItems: 1,
      maxItems: MAX_URLS,
    }),
    /** Market patterns: an exact symbol or a prefix ending in `*`. */
    markets: Type.Array(Type.String({ minLength: 1, maxLength: 41 }), {
      minItems: 1,
      maxItems: MAX_PATTERNS,
    }),
  },
  { additionalProperties: false },
);

const RouterSchema = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    shards: Type.Array(ShardSchema, { minItems: 1, maxItems: MAX_SHARDS }),
    /** The router's own admin-scope key, configured on every shard: discovery and driving transfers. */
    key: Type.Object(
      {
        key: Type.String({ pattern: '^[A-Za-z0-9_.-]{8,64}$' }),
        secret: Type.String({ minLength: 32, maxLength: 256 }),
      },
      { additionalProperties: false },
    ),
    /** The deadline of every call to a shard (a transfer's answer waits at most this long for its second phase). */
    requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
    /**
     * How often the router's transfer coordinator looks for transfers held on any shard and finishes them (a router
     * that died mid-transfer left them held); 0: never (another router does it).
     */
    resumeTransfersMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
    bodyLimit: Type.Optional(Type.Integer({ minimum: 1_024, maximum: 16 * 1024 * 1024 })),
    logLevel: Type.Optional(
      Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    ),
    /** As the service's `trustProxy`: which proxies in front of the router to believe about the client's address. */
    trustProxy: Type.Optional(
      Type.Union([
        Type.Boolean(),
        Type.Array(Type.String({ minLength: 2, maxLength: 64 }), { minItems: 1, maxItems: 64 }),
      ]),
    ),
    ws: Type.Optional(
      Type.Object(
        {
          maxClients: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          /** A client whose unsent data exceeds this is disconnected (a shard's stream never waits for it). */
          maxBufferedBytes: Type.Optional(Type.Integer({ minimum: 1_024, maximum: 256 * 1024 * 1024 })),
          /** Requests of one client awaiting their shards' answers; more are refused (LIMIT_EXCEEDED). */
          maxPendingRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          maxPayloadBytes: Type.Optional(Type.Integer({ minimum: 256, maximum: 1024 * 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const FileSchema = Type.Object({ router: RouterSchema }, { additionalProperties: false });

export type RouterFile = Static<typeof RouterSchema>;

export interface ShardConfig {
  name: string;
  /** Without a trailing slash. */
  urls: string[];
  markets: string[];
}

export interface RouterConfig {
  host: string;
  port: number;
  shards: ShardConfig[];
  key: { key: string; secret: string };
  requestTimeoutMs: number;
  resumeTransfersMs: number;
  bodyLimit: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  trustProxy: boolean | string[];
  ws: { maxClients: number; maxBufferedBytes: number; maxPendingRequests: number; maxPayloadBytes: number };
}

const checkFile = Compile(FileSchema);

/** Validates a parsed file; throws ConfigError naming the first bad path. */
export function parseRouterFile(json: unknown, where = 'config'): RouterFile {
  if (checkFile.Check(json)) return json.router;
  const errs = checkFile.Errors(json);
  const extra = errs.find((e) => e.keyword === 'additionalProperties');
  const e = extra ?? errs[errs.length - 1] ?? errs[0];
  if (!e) throw new ConfigError(`${where}: invalid`);
  const params = e.params as { additionalProperties?: unknown } | undefined;
  const names =
    extra && params?.additionalProperties !== undefined ? `: ${String(params.additionalProperties)}` : '';
  throw new ConfigError(`${where}: ${e.instancePath || '/'}: ${e.message}${names}`);
}

/** Defaults filled, cross-field rules checked. */
export function routerConfig(f: RouterFile): RouterConfig {
  const cfg: RouterConfig = {
    host: f.host ?? '127.0.0.1',
    port: f.port ?? 8080,
    shards: f.shards.map((s) => ({
      name: s.name,
      urls: s.urls.map((u) => u.replace(/\/+$/, '')),
      markets: [...s.markets],
    })),
    key: { ...f.key },
    requestTimeoutMs: f.requestTimeoutMs ?? 10_000,
    resumeTransfersMs: f.resumeTransfersMs ?? 1_000,
    bodyLimit: f.bodyLimit ?? 64 * 1024,
    logLevel: (f.logLevel ?? 'info') as RouterConfig['logLevel'],
    trustProxy: f.trustProxy ?? false,
    ws: {
      maxClients: f.ws?.maxClients ?? 1_000,
      maxBufferedBytes: f.ws?.maxBufferedBytes ?? 4 * 1024 * 1024,
      maxPendingRequests: f.ws?.maxPendingRequests ?? 256,
      maxPayloadBytes: f.ws?.maxPayloadBytes ?? 64 * 1024,
    },
  };
  checkRouterConfig(cfg);
  return cfg;
}

/** Shard names unique; urls parse; patterns valid, not repeated, and no two shards' patterns overlapping. */
export function checkRouterConfig(cfg: RouterConfig): void {
  const names = new Set<string>();
  const owned: { shard: string; pattern: string }[] = [];
  cfg.shards.forEach((s, i) => {
    const where = `router.shards[${i}] (${s.name})`;
    if (names.has(s.name)) throw new ConfigError(`${where}: duplicate shard name`);
    names.add(s.name);
    s.urls.forEach((u, j) => {
      try {
        new URL(u);
      } catch {
        throw new ConfigError(`${where}: urls[${j}]: not a URL: ${u}`);
      }
    });
    if (new Set(s.urls).size !== s.urls.length) throw new ConfigError(`${where}: urls: repeated URL`);
    s.markets.forEach((text, j) => {
      if (!MARKET_PATTERN_RE.test(text))
        throw new ConfigError(
          `${where}: markets[${j}]: not a market pattern (a symbol, or a prefix ending in *): ${text}`,
        );
      for (const o of owned) {
        if (!patternsOverlap(o.pattern, text)) continue;
        throw new ConfigError(
          o.shard === s.name
            ? `${where}: markets[${j}]: ${text} repeats or overlaps ${o.pattern} of the same shard`
            : `${where}: markets[${j}]: ${text} overlaps ${o.pattern} of shard ${o.shard}: a market must have one owner`,
        );
      }
      owned.push({ shard: s.name, pattern: text });
    });
  });
  if (Array.isArray(cfg.trustProxy))
    cfg.trustProxy.forEach((a, i) => {
      if (!isAddressOrCidr(a))
        throw new ConfigError(`router.trustProxy[${i}]: not an IP address or CIDR block: ${a}`);
    });
}

/** Reads, parses and checks the file; command-line `host`/`port` win over it. Throws ConfigError. */
export function loadRouterConfig(
  file: string,
  overrides: { host?: string; port?: number } = {},
): RouterConfig {
  const cfg = routerConfig(parseRouterFile(readJsonFile(file), file));
  if (overrides.host !== undefined) cfg.host = overrides.host;
  if (overrides.port !== undefined) cfg.port = overrides.port;
  return cfg;
}
