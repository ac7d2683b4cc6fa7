/**
 * Service test helpers: a service on a temp SQLite journal with a controllable clock and five keys, a signed
 * `inject` client, and the BTCUSDT market the engine tests use.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Static } from 'typebox';
import { stateHash } from '../../src/engine/hash.ts';
import type { JournalStore } from '../../src/journal/store.ts';
import { signedHeaders } from '../../src/service/auth.ts';
import { defaultConfig, type KeyConfig, type ServiceConfig } from '../../src/service/config.ts';
import { Metrics } from '../../src/service/metrics.ts';
import type * as S from '../../src/service/schemas.ts';
import { type App, type BuildOptions, buildServer } from '../../src/service/server.ts';
import { Service } from '../../src/service/service.ts';
import { openStore } from '../../src/service/store.ts';
import { BTCUSDT } from '../engine/harness.ts';

export { BTCUSDT };

const secret = (name: string) => `${name}-secret-0123456789abcdef0123456789`;
export const KEYS = {
  admin: { key: 'admin-key-1', secret: secret('admin'), scopes: ['admin'] },
  alice: { key: 'alice-key-1', secret: secret('alice'), account: 'alice', scopes: ['read', 'trade'] },
  bob: { key: 'bob-key-001', secret: secret('bob'), account: 'bob', scopes: ['read', 'trade'] },
  aliceRead: { key: 'alice-read1', secret: secret('alice-read'), account: 'alice', scopes: ['read'] },
  aliceTrade: { key: 'alice-trade', secret: secret('alice-trade'), account: 'alice', scopes: ['trade'] },
} satisfies Record<string, KeyConfig>;
export type KeyName = keyof typeof KEYS;

let lastWallTs = 0;
/** A strictly increasing wall-clock timestamp (ms) for signing: two requests of one process never share one. */
export function nextTs(): number {
  lastWallTs = Math.max(Date.now(), lastWallTs + 1);
  return lastWallTs;
}

/**
 * A signed request to a service running in another process (the crash and soak tests' `ringfence serve`), with a 5 s
 * deadline: its status and JSON body.
 */
export async function signedFetch(
  base: string,
  method: string,
  path: string,
  as: KeyName,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  Object.assign(headers, signedHeaders(KEYS[as].key, KEYS[as].secret, method, path, text, nextTs()));
  const r = await fetch(base + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: text }),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-service-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A clock the test moves; starts at the real time (signatures are checked against it). */
export class Clock {
  t = Date.now();
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export function testConfig(dir: string, over: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    ...defaultConfig(),
    host: '127.0.0.1',
    port: 0,
    dataDir: dir,
    journalUrl: join(dir, 'journal.db'),
    logLevel: 'silent',
    tickIntervalMs: 0,
    keys: Object.values(KEYS),
    rateLimit: { burst: 10_000, perSecond: 10_000 },
    publicRateLimit: { burst: 10_000, perSecond: 10_000 },
    ...over,
  };
}

/** Response bodies, typed from the route schemas (what the service promises to send). */
export type ErrorJson = { code: string; message: string };
export type OrderResult = Static<typeof S.OrderResultSchema>;
export type OpenOrder = Static<typeof S.OrderViewSchema>;
export type PositionJson = Static<typeof S.PositionViewSchema>;
export type BalancesJson = Static<typeof S.BalancesSchema>;
export type MarketJson = Static<typeof S.MarketViewSchema>;
export type TickerJson = Static<typeof S.TickerView>;
export type MarkPriceJson = Static<typeof S.MarkPriceView>;
export type OrderBookJson = Static<typeof S.OrderBookView>;
export type TradeJson = Static<typeof S.TradeViewSchema>;
export type FillJson = Static<typeof S.FillViewSchema>;
export type LiquidationJson = Static<typeof S.LiquidationSchema>;
export type FundingRateJson = Static<typeof S.FundingRateSchema>;
export type FundingPaymentJson = Static<typeof S.FundingPaymentSchema>;
export type AccountEventJson = { id: string; type: string; timestamp: number } & Record<string, unknown>;
export type MarginChangeJson = Static<typeof S.MarginChangeSchema>;
/** A JSON object read field by field (asserted on, never computed with). */
export type Fields = Record<string, unknown>;

export interface Res<T = ErrorJson> {
  status: number;
  /** The parsed body (null when it was not JSON): typed as the caller expects, checked by the test's assertions. */
  json: T;
  text: string;
  headers: Record<string, unknown>;
}

export interface CallOptions {
  /** Sign as this key (default: no signature). */
  as?: KeyName;
  /** Raw body text (sent as is, signed as is). */
  raw?: string;
  headers?: Record<string, string>;
  /** Timestamp to sign with (default: the clock). */
  timestamp?: number;
  contentType?: string;
}

export class Harness {
  constructor(
    readonly service: Service,
    readonly app: App,
    readonly clock: Clock,
    readonly config: ServiceConfig,
    readonly cleanup: () => Promise<void>,
  ) {}

  static async open(
    over: Partial<ServiceConfig> = {},
    dir?: string,
    storeFactory?: (path: string) => () => Promise<JournalStore>,
    build: Pick<BuildOptions, 'loadKeys'> = {},
  ): Promise<Harness> {
    const td = dir ? { dir, cleanup: () => {} } : tempDir();
    const clock = new Clock();
    const cfg = testConfig(td.dir, over);
    const metrics = new Metrics();
    const service = await Service.open({
      openStore: storeFactory ? storeFactory(cfg.journalUrl) : () => openStore(cfg.journalUrl),
      journal: cfg.journal,
      tickIntervalMs: cfg.tickIntervalMs,
      history: cfg.history,
      alerts: cfg.alerts,
      now: clock.now,
      metrics,
    });
    const app = await buildServer(service, cfg, { metrics, ...build });
    return new Harness(service, app, clock, cfg, async () => {
      await app.close();
      await service.close();
      td.cleanup();
    });
  }

  private lastTs = 0;

  /**
   * A fresh timestamp per signed request: identical requests signed in the same millisecond would carry the same
   * signature, and the second would be refused as a replay (as it should be).
   */
  nextTimestamp(): number {
    this.lastTs = Math.max(this.clock.t, this.lastTs + 1);
    return this.lastTs;
  }

  hash(): string {
    return stateHash(this.service.engine);
  }

  /** Headers for a signed request (without sending it). */
  sign(
    as: KeyName,
    method: string,
    url: string,
    body = '',
    timestamp = this.nextTimestamp(),
  ): Record<string, string> {
    const k = KEYS[as];
    return signedHeaders(k.key, k.secret, method, url, body, timestamp);
  }

  async call<T = ErrorJson>(
    method: string,
    url: string,
    body?: unknown,
    o: CallOptions = {},
  ): Promise<Res<T>> {
    const text = o.raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (text !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
    if (o.as) Object.assign(headers, this.sign(o.as, method, url, text ?? '', o.timestamp));
    Object.assign(headers, o.headers ?? {});
    const r = await this.app.inject({
      method: method as 'GET',
      url,
      headers,
      ...(text !== undefined ? { payload: text } : {}),
    });
    let json: unknown = null;
    try {
      json = JSON.parse(r.body);
    } catch {
      json = null;
    }
    return { status: r.statusCode, json: json as T, text: r.body, headers: r.headers };
  }

  /** A signed call that must answer 200; returns the JSON. */
  async ok<T = Fields>(method: string, url: string, as: KeyName, body?: unknown): Promise<T> {
    const r = await this.call<T>(method, url, body, { as });
    if (r.status !== 200) throw new Error(`${method} ${url} → ${r.status} ${r.text}`);
    return r.json;
  }

  /** Listens on a free local port (for WebSocket clients); returns the `/ws` URL. Closed by `cleanup`. */
  async listen(): Promise<string> {
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = this.app.server.address();
    if (typeof addr !== 'object' || addr === null) throw new Error('not listening on a port');
    return `ws://127.0.0.1:${addr.port}/ws`;
  }

  /** BTCUSDT with a mark at 60,000 and 100,000 USDT each for alice and bob. */
  async setupMarket(): Promise<void> {
    await this.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
    await this.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '60000' });
    for (const account of ['alice', 'bob'])
      await this.ok('POST', '/api/v1/admin/deposit', 'admin', { account, asset: 'USDT', amount: '100000' });
  }
}
