/**
 * `ringfence serve` configuration: defaults < JSON file (`--config` or RINGFENCE_CONFIG) < environment variables
 * < command-line flags. The file is validated strictly (unknown fields are errors naming the path), so a typo never
 * silently runs a default. API keys come from the file only: an environment variable is too easy to leak.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { type Static, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import { formatDecimal, InputError, parseDecimal } from '../core/fixed.ts';
import { RATE_DP, RATE_ONE } from '../core/rates.ts';

export const SCOPES = ['read', 'trade', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Reserved account ids (the liquidation backstop): only admin keys may act for them. */
export const RESERVED_ACCOUNT_PREFIX = '@';
export const BACKSTOP_ACCOUNT = '@insurance';
const ACCOUNT_PATTERN = '^(@?[A-Za-z0-9_.-]{1,64})$';
/** A vault id (the engine's VAULT_ID_RE); its account is `vault:<id>`. */
const VAULT_ID_PATTERN = '^[A-Za-z0-9_.-]{1,32}$';

/** Margin-ratio alert levels per account (see parseAlertLevels). */
export const MAX_ALERT_LEVELS = 5;
/** A plain decimal with at most RATE_DP decimals (the range is checked by parseAlertLevels). */
export const ALERT_LEVEL_PATTERN = '^[0-9]{1,2}(\\.[0-9]{1,10})?$';

const RateLimitSchema = Type.Object(
  {
    /** Bucket size: the largest burst. */
    burst: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    /** Tokens added per second (one request costs one token). */
    perSecond: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000 }),
  },
  { additionalProperties: false },
);

const KeySchema = Type.Object(
  {
    /** The public key id clients send in `x-rf-key`. */
    key: Type.String({ pattern: '^[A-Za-z0-9_.-]{8,64}$' }),
    /** The shared HMAC secret (kept in plain text: verifying an HMAC needs it; protect the file). */
    secret: Type.String({ minLength: 32, maxLength: 256 }),
    /** The one account this key reads and trades for; optional for admin keys (which act on any account). */
    account: Type.Optional(Type.String({ pattern: ACCOUNT_PATTERN })),
    /**
     * A vault manager's key (docs/vaults.md): it acts only as the vault's account `vault:<id>` — its orders, cancels,
     * leverage, silos and transfers, and its reads — never as another account, and cannot deposit into or withdraw
     * from vaults. Instead of `account`; not with the admin scope.
     */
    vault: Type.Optional(Type.String({ pattern: VAULT_ID_PATTERN })),
    scopes: Type.Array(Type.Union([Type.Literal('read'), Type.Literal('trade'), Type.Literal('admin')]), {
      minItems: 1,
      maxItems: 3,
    }),
    rateLimit: Type.Optional(RateLimitSchema),
    /** Addresses or CIDR blocks the key may be used from (the client's address, after `trustProxy`). */
    allowIps: Type.Optional(
      Type.Array(Type.String({ minLength: 2, maxLength: 64 }), { minItems: 1, maxItems: 256 }),
    ),
    /** The key stops working at this instant (ISO 8601 with a zone, e.g. `2027-01-01T00:00:00Z`). */
    expiresAt: Type.Optional(Type.String({ minLength: 10, maxLength: 40 })),
  },
  { additionalProperties: false },
);

/** Who may read /metrics or /docs: nobody (404), signed requests of an admin key, or anyone. */
const ExposureSchema = Type.Union([Type.Literal('off'), Type.Literal('admin'), Type.Literal('public')]);
export type Exposure = 'off' | 'admin' | 'public';

const FileSchema = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    /** Directory of the default SQLite journal (`<dataDir>/journal.db`). */
    dataDir: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * A file path or `sqlite:<path>` (SQLite), `postgres://…` (PostgreSQL) or `nats://host:port[,…]/<stream>`
     * (JetStream). Default `<dataDir>/journal.db`.
     */
    journalUrl: Type.Optional(Type.String({ minLength: 1 })),
    logLevel: Type.Optional(
      Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    ),
    /** Interval of the engine's `tick` command; 0 disables ticking (tests). */
    tickIntervalMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000 })),
    bodyLimit: Type.Optional(Type.Integer({ minimum: 1_024, maximum: 16 * 1024 * 1024 })),
    /** A signed request's timestamp must be within this many ms of the server's clock. */
    recvWindowMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
    /**
     * Default per-key bucket (it also bounds each key's replay cache), and the per-IP bucket for unauthenticated
     * requests, failed authentications and WebSocket messages before a login (shared by the IP's connections).
     */
    rateLimit: Type.Optional(RateLimitSchema),
    publicRateLimit: Type.Optional(RateLimitSchema),
    keys: Type.Optional(Type.Array(KeySchema, { maxItems: 10_000 })),
    ws: Type.Optional(
      Type.Object(
        {
          maxClients: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          /** A client whose unsent buffer exceeds this is disconnected (it never stalls the engine). */
          maxBufferedBytes: Type.Optional(Type.Integer({ minimum: 1_024, maximum: 256 * 1024 * 1024 })),
          maxSubscriptions: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000 })),
          maxPayloadBytes: Type.Optional(Type.Integer({ minimum: 256, maximum: 1024 * 1024 })),
          /** Levels per side in an order-book snapshot. */
          bookDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          /** Sockets per client address (after `trustProxy`); more are refused with close code 1013. */
          maxClientsPerIp: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          /** A socket that has neither logged in nor subscribed to a public topic by then is closed (ms). */
          loginTimeoutMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 3_600_000 })),
          /** A socket without subscriptions that sends nothing for this long is closed (ms). */
          idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 86_400_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    history: Type.Optional(
      Type.Object(
        {
          tradesPerMarket: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          liquidationsPerMarket: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          perAccount: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          fundingPerMarket: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          /** Accounts with a private history kept (least recently active evicted first). */
          maxAccounts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
          /** Candles kept per market, timeframe and price (mark, last). */
          candles: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          /** Insurance fund balances kept per asset (one per command that changed it). */
          insurancePerAsset: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          /** NAV-per-share points kept per vault (vault-series.ts). */
          vaultPoints: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Margin-ratio alerts: the default levels (an account may set its own) and the recovery hysteresis. */
    alerts: Type.Optional(
      Type.Object(
        {
          levels: Type.Optional(
            Type.Array(Type.String({ pattern: ALERT_LEVEL_PATTERN }), {
              minItems: 1,
              maxItems: MAX_ALERT_LEVELS,
            }),
          ),
          /** A level is recovered below once the ratio is under level × (1 − hysteresis). */
          hysteresis: Type.Optional(Type.String({ pattern: ALERT_LEVEL_PATTERN })),
        },
        { additionalProperties: false },
      ),
    ),
    journal: Type.Optional(
      Type.Object(
        {
          maxBatch: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          hashEvery: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000 })),
          /** SQLite: commit on a writer thread, so the fsync does not stop the event loop (default false). */
          writerThread: Type.Optional(Type.Boolean()),
          /** Take a snapshot every this many commands (0: only on demand), so recovery replays at most that many. */
          snapshotEvery: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000 })),
          /** Snapshots kept in the store (older ones are pruned). */
          keepSnapshots: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** High availability on a `nats://` journal: one leader, hot standbys, read replicas (README "High availability"). */
    ha: Type.Optional(
      Type.Object(
        {
          /**
           * `leader` (default): a candidate that takes the lease when it is free; `standby`: the same, trying only
           * once it has run a whole lease; `replica`: follows and serves reads, never leads.
           */
          role: Type.Optional(
            Type.Union([Type.Literal('leader'), Type.Literal('standby'), Type.Literal('replica')]),
          ),
          /** The leader lease (the lease bucket's TTL): a dead leader is replaced within about this long. */
          leaseMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 })),
          /** Where clients send writes while this process leads (default: the address it listens on). */
          advertiseUrl: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2_048 })),
          /** This process in the lease and the journal's writer headers (default: host, pid and a random suffix). */
          id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * This process is one shard of a venue split by market group (docs/sharding.md): its name (in cross-shard
     * transfers and the router's configuration) and the markets it owns — exact symbols or prefixes ending in `*`.
     * It refuses to create any other market. Absent: the venue is one shard.
     */
    shard: Type.Optional(
      Type.Object(
        {
          name: Type.String({ pattern: '^[a-z0-9_-]{1,32}$' }),
          markets: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}\\*?$' }), {
            minItems: 1,
            maxItems: 1_000,
          }),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Who may read the OpenAPI document and swagger-ui at /docs: `off`, `admin` (signed, admin key) or `public`
     * (`true`/`false` mean `public`/`off`). Default: public on a loopback address, admin otherwise.
     */
    docs: Type.Optional(Type.Union([Type.Boolean(), ExposureSchema])),
    /** Who may read /metrics; the same choices and default as `docs`. */
    metrics: Type.Optional(ExposureSchema),
    /** Serve the web app (dist/web, built by `npm ci`) at `/` (default true; it is inert without the build). */
    webApp: Type.Optional(Type.Boolean()),
    /**
     * Which proxies to believe about the client's address (X-Forwarded-For): `false` (none: the peer is the
     * client), the proxies' addresses / CIDR blocks (each hop from a listed address is stripped, the first
     * untrusted one is the client), or `true` (every hop: only when nothing but the proxy can reach the port).
     * Per-IP limits and key allow-lists then see clients, not the proxy. (A bare hop count is not offered: it
     * cannot tell the proxy from a client that connects directly and forges the header.)
     */
    trustProxy: Type.Optional(
      Type.Union([
        Type.Boolean(),
        Type.Array(Type.String({ minLength: 2, maxLength: 64 }), { minItems: 1, maxItems: 64 }),
      ]),
    ),
    http: Type.Optional(
      Type.Object(
        {
          /** The whole request (headers and body) must arrive within this many ms, else 408 and the socket closes. */
          requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
          /** The headers must arrive within this many ms (at most `requestTimeoutMs`). */
          headersTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
          /** An idle keep-alive connection closes after this many ms. */
          keepAliveTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
          /** Open TCP connections per peer address (WebSockets included); more are closed at once. 0: no cap. */
          maxConnectionsPerIp: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type RateLimit = Static<typeof RateLimitSchema>;
export type KeyConfig = Static<typeof KeySchema>;
export type ConfigFile = Static<typeof FileSchema>;

export interface ServiceConfig {
  host: string;
  port: number;
  dataDir: string;
  journalUrl: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  tickIntervalMs: number;
  bodyLimit: number;
  recvWindowMs: number;
  rateLimit: RateLimit;
  publicRateLimit: RateLimit;
  keys: KeyConfig[];
  ws: {
    maxClients: number;
    maxBufferedBytes: number;
    maxSubscriptions: number;
    maxPayloadBytes: number;
    bookDepth: number;
    maxClientsPerIp: number;
    loginTimeoutMs: number;
    idleTimeoutMs: number;
  };
  history: {
    tradesPerMarket: number;
    liquidationsPerMarket: number;
    perAccount: number;
    fundingPerMarket: number;
    maxAccounts: number;
    candles: number;
    insurancePerAsset: number;
    vaultPoints: number;
  };
  alerts: {
    /** Margin-ratio levels, decimal strings in (0, 1], strictly increasing, 1 to 5 of them. */
    levels: string[];
    /** In [0, 0.5]: a level is recovered below once the ratio is under level × (1 − hysteresis). */
    hysteresis: string;
  };
  journal: {
    maxBatch: number;
    hashEvery: number;
    writerThread: boolean;
    snapshotEvery: number;
    keepSnapshots: number;
  };
  ha: {
    role: 'leader' | 'standby' | 'replica';
    leaseMs: number;
    /** null: the address the service listens on. */
    advertiseUrl: string | null;
    /** null: host, pid and a random suffix. */
    id: string | null;
  };
  /** null: not sharded (the venue is this one engine). */
  shard: { name: string; markets: string[] } | null;
  /** `auto`: public on a loopback address, admin otherwise (see `exposureOf`); true/false: public/off. */
  docs: Exposure | 'auto' | boolean;
  metrics: Exposure | 'auto';
  webApp: boolean;
  trustProxy: boolean | string[];
  http: {
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnectionsPerIp: number;
  };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const checkFile = Compile(FileSchema);

/** Parses and validates a config object (the JSON file's content); throws ConfigError naming the first bad path. */
export function parseConfigFile(json: unknown, where = 'config'): ConfigFile {
  if (checkFile.Check(json)) return json;
  const errs = checkFile.Errors(json);
  const extra = errs.find((e) => e.keyword === 'additionalProperties');
  const e = extra ?? errs[errs.length - 1] ?? errs[0];
  if (!e) throw new ConfigError(`${where}: invalid`);
  const path = e.instancePath || '/';
  const names =
    extra &&
    typeof extra.params === 'object' &&
    extra.params !== null &&
    'additionalProperties' in extra.params
      ? `: ${String((extra.params as { additionalProperties: unknown }).additionalProperties)}`
      : '';
  throw new ConfigError(`${where}: ${path}: ${e.message}${names}`);
}

/** The built-in defaults (every field filled). */
export function defaultConfig(): ServiceConfig {
  return {
    host: '127.0.0.1',
    port: 8080,
    dataDir: './data',
    journalUrl: '',
    logLevel: 'info',
    tickIntervalMs: 1_000,
    bodyLimit: 64 * 1024,
    recvWindowMs: 5_000,
    rateLimit: { burst: 100, perSecond: 50 },
    publicRateLimit: { burst: 200, perSecond: 100 },
    keys: [],
    ws: {
      maxClients: 1_000,
      maxBufferedBytes: 4 * 1024 * 1024,
      maxSubscriptions: 64,
      maxPayloadBytes: 64 * 1024,
      bookDepth: 200,
      maxClientsPerIp: 50,
      loginTimeoutMs: 10_000,
      idleTimeoutMs: 120_000,
    },
    history: {
      tradesPerMarket: 1_000,
      liquidationsPerMarket: 500,
      perAccount: 500,
      fundingPerMarket: 500,
      maxAccounts: 10_000,
      candles: 1_000,
      insurancePerAsset: 1_000,
      vaultPoints: 1_000,
    },
    alerts: { levels: ['0.5', '0.8', '0.9'], hysteresis: '0.02' },
    journal: {
      maxBatch: 4_096,
      hashEvery: 100_000,
      writerThread: false,
      snapshotEvery: 100_000,
      keepSnapshots: 3,
    },
    ha: { role: 'leader', leaseMs: 1_000, advertiseUrl: null, id: null },
    shard: null,
    docs: 'auto',
    metrics: 'auto',
    webApp: true,
    trustProxy: false,
    http: {
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 5_000,
      maxConnectionsPerIp: 100,
    },
  };
}

/** Applies a validated file over a base config. */
export function mergeConfig(base: ServiceConfig, f: ConfigFile): ServiceConfig {
  const out: ServiceConfig = {
    ...base,
    ws: { ...base.ws, ...defined(f.ws ?? {}) },
    history: { ...base.history, ...defined(f.history ?? {}) },
    alerts: { ...base.alerts, ...defined(f.alerts ?? {}) },
    journal: { ...base.journal, ...defined(f.journal ?? {}) },
    http: { ...base.http, ...defined(f.http ?? {}) },
    ha: { ...base.ha, ...defined(f.ha ?? {}) },
  };
  if (f.host !== undefined) out.host = f.host;
  if (f.port !== undefined) out.port = f.port;
  if (f.dataDir !== undefined) out.dataDir = f.dataDir;
  if (f.journalUrl !== undefined) out.journalUrl = f.journalUrl;
  if (f.logLevel !== undefined) out.logLevel = f.logLevel as ServiceConfig['logLevel'];
  if (f.tickIntervalMs !== undefined) out.tickIntervalMs = f.tickIntervalMs;
  if (f.bodyLimit !== undefined) out.bodyLimit = f.bodyLimit;
  if (f.recvWindowMs !== undefined) out.recvWindowMs = f.recvWindowMs;
  if (f.rateLimit !== undefined) out.rateLimit = f.rateLimit;
  if (f.publicRateLimit !== undefined) out.publicRateLimit = f.publicRateLimit;
  if (f.keys !== undefined) out.keys = f.keys;
  if (f.docs !== undefined) out.docs = f.docs === true ? 'public' : f.docs === false ? 'off' : f.docs;
  if (f.metrics !== undefined) out.metrics = f.metrics;
  if (f.webApp !== undefined) out.webApp = f.webApp;
  if (f.trustProxy !== undefined) out.trustProxy = f.trustProxy;
  if (f.shard !== undefined) out.shard = { name: f.shard.name, markets: [...f.shard.markets] };
  return out;
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The environment variables `serve` reads, and the config field each sets (`sub`: a field of that object). */
export const ENV_VARS: Record<string, { field: keyof ConfigFile; sub?: string; kind: 'string' | 'int' }> = {
  RINGFENCE_HOST: { field: 'host', kind: 'string' },
  RINGFENCE_PORT: { field: 'port', kind: 'int' },
  RINGFENCE_DATA: { field: 'dataDir', kind: 'string' },
  RINGFENCE_JOURNAL_URL: { field: 'journalUrl', kind: 'string' },
  RINGFENCE_LOG_LEVEL: { field: 'logLevel', kind: 'string' },
  RINGFENCE_TICK_MS: { field: 'tickIntervalMs', kind: 'int' },
  RINGFENCE_BODY_LIMIT: { field: 'bodyLimit', kind: 'int' },
  RINGFENCE_RECV_WINDOW_MS: { field: 'recvWindowMs', kind: 'int' },
  // High availability: what differs between the processes of one deployment (a container's environment).
  RINGFENCE_ROLE: { field: 'ha', sub: 'role', kind: 'string' },
  RINGFENCE_ADVERTISE_URL: { field: 'ha', sub: 'advertiseUrl', kind: 'string' },
  RINGFENCE_HA_ID: { field: 'ha', sub: 'id', kind: 'string' },
};

/** The subset of a config file set by environment variables (validated like the file). */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigFile {
  const out: Record<string, unknown> = {};
  for (const [name, { field, sub, kind }] of Object.entries(ENV_VARS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: string | number = raw;
    if (kind === 'int') {
      if (!/^\d{1,9}$/.test(raw))
        throw new ConfigError(`${name}: must be a non-negative integer, got "${raw}"`);
      value = Number(raw);
    }
    // Checked on its own first, so that a bad value is reported under the variable's name.
    parseConfigFile(sub === undefined ? { [field]: value } : { [field]: { [sub]: value } }, name);
    if (sub === undefined) out[field] = value;
    else out[field] = { ...(out[field] as Record<string, unknown> | undefined), [sub]: value };
  }
  return parseConfigFile(out, 'environment');
}

export interface LoadOptions {
  /** Path of the JSON config file (else RINGFENCE_CONFIG, else none). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Command-line flags, applied last. */
  overrides?: ConfigFile;
  /** Collects warnings (e.g. a config file others can read) for the caller to log. */
  warnings?: string[];
}

/** A configuration file's JSON; ConfigError naming the file when it cannot be read or parsed. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ConfigError(`${file}: malformed JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

/** Loads, merges and validates the configuration; throws ConfigError on any problem. */
export function loadConfig(opts: LoadOptions = {}): ServiceConfig {
  const env = opts.env ?? process.env;
  let cfg = defaultConfig();
  const file = opts.file ?? env.RINGFENCE_CONFIG;
  if (file) {
    const json = readJsonFile(file);
    cfg = mergeConfig(cfg, parseConfigFile(json, file));
    try {
      // Secrets live in the file: say so when anyone but the owner can read it.
      if ((statSync(file).mode & 0o077) !== 0 && cfg.keys.length > 0)
        opts.warnings?.push(`${file} holds API secrets and is readable by others (chmod 600 it)`);
    } catch {
      // stat after a successful read cannot meaningfully fail; nothing to warn about
    }
  }
  cfg = mergeConfig(cfg, configFromEnv(env));
  if (opts.overrides) cfg = mergeConfig(cfg, parseConfigFile(opts.overrides, 'command line'));
  if (!cfg.journalUrl) cfg.journalUrl = join(cfg.dataDir, 'journal.db');
  checkConfig(cfg);
  return cfg;
}

/** Cross-field rules of a merged configuration. */
export function checkConfig(cfg: ServiceConfig): void {
  checkKeys(cfg.keys);
  try {
    parseAlertLevels(cfg.alerts.levels, 'alerts.levels');
    parseHysteresis(cfg.alerts.hysteresis, 'alerts.hysteresis');
  } catch (e) {
    if (e instanceof InputError) throw new ConfigError(e.message);
    throw e;
  }
  if (cfg.ha.role !== 'leader' && !/^nats:\/\//i.test(cfg.journalUrl))
    throw new ConfigError(`ha.role ${cfg.ha.role}: needs a nats:// journal (journalUrl) to follow`);
  if (cfg.http.headersTimeoutMs > cfg.http.requestTimeoutMs)
    throw new ConfigError('http.headersTimeoutMs: must not exceed http.requestTimeoutMs');
  if (Array.isArray(cfg.trustProxy))
    cfg.trustProxy.forEach((a, i) => {
      if (!isAddressOrCidr(a))
        throw new ConfigError(`trustProxy[${i}]: not an IP address or CIDR block: ${a}`);
    });
}

/** Whether the address is a loopback one (only this machine can connect). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1'
  );
}

/** What `auto` means: public when only this machine can connect, else admin keys only. */
export function exposureOf(setting: Exposure | 'auto' | boolean, host: string): Exposure {
  if (setting === true) return 'public';
  if (setting === false) return 'off';
  if (setting !== 'auto') return setting;
  return isLoopback(host) ? 'public' : 'admin';
}

/** `1.2.3.4`, `::1`, `10.0.0.0/8`, `fd00::/8`. */
export function isAddressOrCidr(s: string): boolean {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = s.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** An ISO 8601 instant with a zone (`Z` or `±hh:mm`), as ms since epoch; null if it is not one. */
export function parseInstant(s: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) return null;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

/**
 * Cross-field rules of the key list: unique ids, an account (or a vault) for every non-admin key, reserved ids
 * admin-only, a vault key bound to its vault alone.
 */
export function checkKeys(keys: readonly KeyConfig[]): void {
  const seen = new Set<string>();
  keys.forEach((k, i) => {
    const where = `keys[${i}] (${k.key})`;
    if (seen.has(k.key)) throw new ConfigError(`${where}: duplicate key id`);
    seen.add(k.key);
    const admin = k.scopes.includes('admin');
    if (k.vault !== undefined && (admin || k.account !== undefined))
      throw new ConfigError(`${where}: a vault key acts as its vault only: no account, no admin scope`);
    if (!admin && k.account === undefined && k.vault === undefined)
      throw new ConfigError(`${where}: a key without the admin scope must name its account (or its vault)`);
    if (!admin && k.account?.startsWith(RESERVED_ACCOUNT_PREFIX))
      throw new ConfigError(`${where}: only admin keys may act for the reserved account ${k.account}`);
    if (new Set(k.scopes).size !== k.scopes.length) throw new ConfigError(`${where}: repeated scope`);
    if (k.expiresAt !== undefined && parseInstant(k.expiresAt) === null)
      throw new ConfigError(`${where}: expiresAt: not an ISO 8601 instant with a zone: ${k.expiresAt}`);
    k.allowIps?.forEach((a, j) => {
      if (!isAddressOrCidr(a))
        throw new ConfigError(`${where}: allowIps[${j}]: not an IP address or CIDR block: ${a}`);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Margin-ratio alert levels (the config's defaults and an account's own, PUT /api/v1/alerts)

/**
 * Alert levels as RATE_DP fixed point: 1 to 5 of them, each in (0, 1] (1: liquidatable), strictly increasing.
 * Throws an InputError naming `where` and the bad entry.
 */
export function parseAlertLevels(levels: readonly string[], where: string): bigint[] {
  if (levels.length < 1 || levels.length > MAX_ALERT_LEVELS)
    throw new InputError(where, `must have 1 to ${MAX_ALERT_LEVELS} levels, got ${levels.length}`);
  const out: bigint[] = [];
  levels.forEach((s, i) => {
    const v = parseDecimal(s, `${where}[${i}]`, { dp: RATE_DP, positive: true, maxAbs: RATE_ONE });
    if (out.length > 0 && v <= out[out.length - 1]!)
      throw new InputError(
        `${where}[${i}]`,
        `levels must be strictly increasing, got ${s} after ${levels[i - 1]}`,
      );
    out.push(v);
  });
  return out;
}

/** The hysteresis in [0, 0.5], RATE_DP fixed point. */
export function parseHysteresis(s: string, where: string): bigint {
  return parseDecimal(s, where, { dp: RATE_DP, maxAbs: RATE_ONE / 2n });
}

/** RATE_DP fixed point as the decimal string a client sent (trailing zeros trimmed). */
export const fmtLevel = (v: bigint): string => formatDecimal(v, RATE_DP);
