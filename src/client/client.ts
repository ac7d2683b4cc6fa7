/**
 * A typed client of the ringfence service's REST API (docs/service.md), for Node 20 and the browser alike: `fetch`
 * and WebCrypto only. Signed requests carry `x-rf-key`, `x-rf-timestamp` (ms) and `x-rf-signature` = hex
 * HMAC-SHA256(secret, "<timestamp>\n<METHOD>\n<path and query>\n<raw body>"), exactly the bytes sent.
 *
 * ROUTES is the one table of what the client calls: each method names its row, and a test checks the table against
 * the service's OpenAPI document both ways, so the client cannot drift from the service.
 */
import type * as T from './types.ts';

export type * from './types.ts';

export interface Credentials {
  key: string;
  secret: string;
}

/**
 * An answer that was not 2xx: the service's `{code, message}` (and the whole body), or no answer at all: `NETWORK`
 * (the service could not be reached), `TIMEOUT` (no answer in time), `ABORTED` (the caller's signal), all status 0.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteSpec {
  readonly method: Method;
  /** Path template, `:name` for a path parameter (fastify's notation). */
  readonly path: string;
  /** Whether the request is signed (an account's, or an admin's). */
  readonly signed: boolean;
}

/** Every route the client calls, by the name of the method that calls it. */
export const ROUTES = {
  // Market data (public)
  markets: { method: 'GET', path: '/api/v1/markets', signed: false },
  market: { method: 'GET', path: '/api/v1/markets/:symbol', signed: false },
  tickers: { method: 'GET', path: '/api/v1/tickers', signed: false },
  ticker: { method: 'GET', path: '/api/v1/tickers/:symbol', signed: false },
  markPrice: { method: 'GET', path: '/api/v1/mark-price/:symbol', signed: false },
  orderBook: { method: 'GET', path: '/api/v1/orderbook/:symbol', signed: false },
  trades: { method: 'GET', path: '/api/v1/trades/:symbol', signed: false },
  fundingRates: { method: 'GET', path: '/api/v1/funding-rates/:symbol', signed: false },
  liquidations: { method: 'GET', path: '/api/v1/liquidations/:symbol', signed: false },
  insurance: { method: 'GET', path: '/api/v1/insurance', signed: false },
  insuranceFund: { method: 'GET', path: '/api/v1/insurance/:asset', signed: false },
  insuranceHistory: { method: 'GET', path: '/api/v1/insurance/:asset/history', signed: false },
  candles: { method: 'GET', path: '/api/v1/candles/:symbol', signed: false },
  netting: { method: 'GET', path: '/api/v1/netting', signed: false },
  collateralAssets: { method: 'GET', path: '/api/v1/collateral-assets', signed: false },
  strategyMargin: { method: 'GET', path: '/api/v1/strategy-margin', signed: false },
  optionChain: { method: 'GET', path: '/api/v1/option-chain/:underlying', signed: false },
  calc: { method: 'POST', path: '/api/v1/calc', signed: false },
  health: { method: 'GET', path: '/health', signed: false },
  // The key's account (an admin key names one with `account`)
  me: { method: 'GET', path: '/api/v1/me', signed: true },
  alerts: { method: 'GET', path: '/api/v1/alerts', signed: true },
  setAlerts: { method: 'PUT', path: '/api/v1/alerts', signed: true },
  orders: { method: 'GET', path: '/api/v1/orders', signed: true },
  order: { method: 'GET', path: '/api/v1/orders/:id', signed: true },
  orderByClientId: { method: 'GET', path: '/api/v1/orders/client/:clientOrderId', signed: true },
  placeOrder: { method: 'POST', path: '/api/v1/orders', signed: true },
  amendOrder: { method: 'PATCH', path: '/api/v1/orders/:id', signed: true },
  cancelOrder: { method: 'DELETE', path: '/api/v1/orders/:id', signed: true },
  cancelOrderByClientId: { method: 'DELETE', path: '/api/v1/orders/client/:clientOrderId', signed: true },
  cancelAllOrders: { method: 'DELETE', path: '/api/v1/orders', signed: true },
  placeCombo: { method: 'POST', path: '/api/v1/combo', signed: true },
  positions: { method: 'GET', path: '/api/v1/positions', signed: true },
  balance: { method: 'GET', path: '/api/v1/balance', signed: true },
  myTrades: { method: 'GET', path: '/api/v1/my-trades', signed: true },
  myLiquidations: { method: 'GET', path: '/api/v1/my-liquidations', signed: true },
  fundingHistory: { method: 'GET', path: '/api/v1/funding-history', signed: true },
  setMarginMode: { method: 'POST', path: '/api/v1/margin-mode', signed: true },
  setLeverage: { method: 'POST', path: '/api/v1/leverage', signed: true },
  addMargin: { method: 'POST', path: '/api/v1/margin/add', signed: true },
  reduceMargin: { method: 'POST', path: '/api/v1/margin/reduce', signed: true },
  setAutoAddMargin: { method: 'POST', path: '/api/v1/auto-add-margin', signed: true },
  silos: { method: 'GET', path: '/api/v1/silos', signed: true },
  silo: { method: 'GET', path: '/api/v1/silos/:silo', signed: true },
  createSilo: { method: 'POST', path: '/api/v1/silos', signed: true },
  closeSilo: { method: 'DELETE', path: '/api/v1/silos/:silo', signed: true },
  transferCollateral: { method: 'POST', path: '/api/v1/silos/transfer', signed: true },
  rebalancing: { method: 'GET', path: '/api/v1/silos/rebalancing', signed: true },
  setRebalancing: { method: 'POST', path: '/api/v1/silos/rebalancing', signed: true },
  // Shards (a sharded venue only): a shard's own name; the key's cross-shard transfers
  shard: { method: 'GET', path: '/api/v1/shard', signed: false },
  transfer: { method: 'POST', path: '/api/v1/transfers', signed: true },
  transfers: { method: 'GET', path: '/api/v1/transfers', signed: true },
  // Vaults: the list, one vault, its NAV history (public); the key's holding, deposit and withdrawal
  vaults: { method: 'GET', path: '/api/v1/vaults', signed: false },
  vault: { method: 'GET', path: '/api/v1/vaults/:vault', signed: false },
  vaultHistory: { method: 'GET', path: '/api/v1/vaults/:vault/history', signed: false },
  vaultHolding: { method: 'GET', path: '/api/v1/vaults/:vault/holding', signed: true },
  vaultDeposit: { method: 'POST', path: '/api/v1/vaults/:vault/deposit', signed: true },
  vaultWithdraw: { method: 'POST', path: '/api/v1/vaults/:vault/withdraw', signed: true },
  // Operator reads (admin keys): the ones the web app's operator view uses
  oracleStatus: { method: 'GET', path: '/api/v1/admin/oracle', signed: true },
  closestToLiquidation: { method: 'GET', path: '/api/v1/admin/risk/closest', signed: true },
  journalHealth: { method: 'GET', path: '/api/v1/admin/journal', signed: true },
  serviceStats: { method: 'GET', path: '/api/v1/admin/stats', signed: true },
  // Venue writes (admin keys): the ones the live demo (src/service/demo*.ts) makes
  createMarket: { method: 'POST', path: '/api/v1/admin/markets', signed: true },
  fundInsurance: { method: 'POST', path: '/api/v1/admin/insurance', signed: true },
  deposit: { method: 'POST', path: '/api/v1/admin/deposit', signed: true },
  oracleQuote: { method: 'POST', path: '/api/v1/admin/oracle', signed: true },
  setCollateralAsset: { method: 'POST', path: '/api/v1/admin/collateral-assets', signed: true },
  createVault: { method: 'POST', path: '/api/v1/admin/vaults', signed: true },
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;

/** The `:name`s of a path template. */
type ParamNames<P extends string> = P extends `${string}:${infer N}/${infer Rest}`
  ? N | ParamNames<`/${Rest}`>
  : P extends `${string}:${infer N}`
    ? N
    : never;
type Query = Readonly<Record<string, string | number | boolean | undefined>>;
type Args<K extends RouteName> = {
  query?: Query | undefined;
  body?: unknown;
} & ([ParamNames<(typeof ROUTES)[K]['path']>] extends [never]
  ? { params?: undefined }
  : { params: Record<ParamNames<(typeof ROUTES)[K]['path']>, string> });

export interface ClientOptions {
  /** The service's origin, e.g. `http://127.0.0.1:8080`; '' (the default): same origin, in a browser. */
  baseUrl?: string;
  /** The API key to sign with; without one only the public routes answer. */
  credentials?: Credentials | null;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Each request's deadline (default 10 s; 0: none). */
  timeoutMs?: number;
  /**
   * Signs: hex HMAC-SHA256 of a message under a secret. Default: WebCrypto's, which Node runs on its thread pool
   * (a tenth of a millisecond a request); a Node caller signing many can pass node:crypto's `createHmac` instead.
   */
  hmac?: Hmac;
}

/** Hex HMAC-SHA256 of `message` under `secret`. */
export type Hmac = (secret: string, message: string) => string | Promise<string>;

export interface RequestOptions {
  /** This request's deadline, instead of the client's. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Through a shard router (docs/sharding.md): the shard this request goes to, sent as `x-rf-shard` (outside the
   * signature). Needed by requests that name no market — a silo, an order by id, a deposit; others are routed by it.
   */
  shard?: string;
}

// Signing --------------------------------------------------------------------------------------------------

const encoder = new TextEncoder();
/** WebCrypto's CryptoKey, named so that Node's types (which have no global CryptoKey) know it too. */
type HmacKey = Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>;
const hmacKeys = new Map<string, Promise<HmacKey>>();

function hmacKey(secret: string): Promise<HmacKey> {
  let k = hmacKeys.get(secret);
  if (k === undefined) {
    k = globalThis.crypto.subtle.importKey(
      'raw',
      encoder.encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    hmacKeys.set(secret, k);
  }
  return k;
}

/** Whether this runtime can sign: a browser offers WebCrypto only in a secure context (https, or localhost). */
export function canSign(): boolean {
  return typeof globalThis.crypto !== 'undefined' && globalThis.crypto.subtle !== undefined;
}

/** What a request's signature covers: exactly the bytes sent. */
export function signedMessage(timestamp: number, method: string, pathAndQuery: string, body: string): string {
  return `${timestamp}\n${method}\n${pathAndQuery}\n${body}`;
}

/** The default `hmac`: WebCrypto's. */
export async function webCryptoHmac(secret: string, message: string): Promise<string> {
  const mac = await globalThis.crypto.subtle.sign('HMAC', await hmacKey(secret), encoder.encode(message));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Hex HMAC-SHA256 of a request (a WebSocket login signs `GET` `/ws` with an empty body). */
export function sign(
  secret: string,
  timestamp: number,
  method: string,
  pathAndQuery: string,
  body: string,
): Promise<string> {
  return webCryptoHmac(secret, signedMessage(timestamp, method, pathAndQuery, body));
}

let lastTimestamp = 0;
/**
 * Each signature is accepted once, so two identical requests in the same millisecond need different timestamps:
 * strictly increasing across every client of this process or page (and a WebSocket login that signs with it).
 */
export function nextTimestamp(): number {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return lastTimestamp;
}

/** A route's path and query as sent (and signed): parameters and query values URI-encoded, undefined ones left out. */
export function routePath(spec: RouteSpec, params?: Readonly<Record<string, string>>, query?: Query): string {
  const path = spec.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const v = params?.[name];
    if (v === undefined) throw new TypeError(`${spec.method} ${spec.path}: no value for :${name}`);
    return encodeURIComponent(v);
  });
  const q = Object.entries(query ?? {})
    .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return q === '' ? path : `${path}?${q}`;
}

// The client -----------------------------------------------------------------------------------------------

export class RingfenceClient {
  readonly baseUrl: string;
  readonly credentials: Credentials | null;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly hmac: Hmac;

  constructor(opts: ClientOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? '').replace(/\/+$/, '');
    this.credentials = opts.credentials ?? null;
    // Called unbound: a browser's fetch throws "Illegal invocation" when called as a method of something else.
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.hmac = opts.hmac ?? webCryptoHmac;
  }

  /** One route, by name: what every method below calls. */
  async request<K extends RouteName, R>(route: K, args: Args<K>, o: RequestOptions = {}): Promise<R> {
    const spec: RouteSpec = ROUTES[route];
    const path = routePath(spec, args.params, args.query);
    const raw = args.body === undefined ? '' : JSON.stringify(args.body);
    const headers: Record<string, string> = {};
    if (raw !== '') headers['content-type'] = 'application/json';
    if (o.shard !== undefined) headers['x-rf-shard'] = o.shard;
    if (spec.signed) {
      const c = this.credentials;
      if (c === null) throw new ApiError(401, 'UNAUTHORIZED', `${spec.method} ${spec.path} needs an API key`);
      const ts = nextTimestamp();
      headers['x-rf-key'] = c.key;
      headers['x-rf-timestamp'] = String(ts);
      headers['x-rf-signature'] = await this.hmac(c.secret, signedMessage(ts, spec.method, path, raw));
    }
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const { signal, done } = withTimeout(o.signal, timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(this.baseUrl + path, {
        method: spec.method,
        headers,
        ...(raw === '' ? {} : { body: raw }),
        ...(signal === undefined ? {} : { signal }),
      });
      text = await res.text();
    } catch (e) {
      throw failure(e, timeoutMs);
    } finally {
      done();
    }
    let json: unknown = null;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'INVALID_RESPONSE', `unexpected answer (${res.status}): not JSON`, text);
    }
    if (!res.ok) {
      const b = (typeof json === 'object' && json !== null ? json : {}) as {
        code?: unknown;
        message?: unknown;
      };
      throw new ApiError(
        res.status,
        typeof b.code === 'string' ? b.code : 'ERROR',
        typeof b.message === 'string' ? b.message : `${res.status} ${res.statusText}`,
        json,
      );
    }
    return json as R;
  }

  // Market data ------------------------------------------------------------------------------------------

  /** Markets with their risk tiers; `type` and `underlying` filter. */
  markets(query?: T.MarketsQuery, o?: RequestOptions): Promise<T.Market[]> {
    return this.request('markets', { query }, o);
  }
  market(symbol: string, o?: RequestOptions): Promise<T.Market> {
    return this.request('market', { params: { symbol } }, o);
  }
  /** Every market's ticker (through a router: every shard's, each with its `shard`). */
  tickers(o?: RequestOptions): Promise<T.Ticker[]> {
    return this.request('tickers', {}, o);
  }
  ticker(symbol: string, o?: RequestOptions): Promise<T.Ticker> {
    return this.request('ticker', { params: { symbol } }, o);
  }
  markPrice(symbol: string, o?: RequestOptions): Promise<T.MarkPrice> {
    return this.request('markPrice', { params: { symbol } }, o);
  }
  orderBook(symbol: string, query?: T.BookQuery, o?: RequestOptions): Promise<T.OrderBook> {
    return this.request('orderBook', { params: { symbol }, query }, o);
  }
  /** Recent trades, newest first. */
  trades(symbol: string, query?: T.LimitQuery, o?: RequestOptions): Promise<T.Trade[]> {
    return this.request('trades', { params: { symbol }, query }, o);
  }
  fundingRates(symbol: string, query?: T.LimitQuery, o?: RequestOptions): Promise<T.FundingRate[]> {
    return this.request('fundingRates', { params: { symbol }, query }, o);
  }
  liquidations(symbol: string, query?: T.LimitQuery, o?: RequestOptions): Promise<T.Liquidation[]> {
    return this.request('liquidations', { params: { symbol }, query }, o);
  }
  insurance(o?: RequestOptions): Promise<T.InsuranceFund[]> {
    return this.request('insurance', {}, o);
  }
  insuranceFund(asset: string, o?: RequestOptions): Promise<T.InsuranceFund> {
    return this.request('insuranceFund', { params: { asset } }, o);
  }
  /** The fund's balance after each change, oldest first. */
  insuranceHistory(
    asset: string,
    query?: T.InsuranceHistoryQuery,
    o?: RequestOptions,
  ): Promise<T.InsurancePoint[]> {
    return this.request('insuranceHistory', { params: { asset }, query }, o);
  }
  /** OHLCV rows, oldest first. */
  candles(symbol: string, query?: T.CandleQuery, o?: RequestOptions): Promise<T.Candle[]> {
    return this.request('candles', { params: { symbol }, query }, o);
  }
  netting(o?: RequestOptions): Promise<T.Netting> {
    return this.request('netting', {}, o);
  }
  /** The assets named silos may hold besides their settle asset, with their index and haircut bands. */
  collateralAssets(o?: RequestOptions): Promise<T.CollateralAsset[]> {
    return this.request('collateralAssets', {}, o);
  }
  strategyMargin(o?: RequestOptions): Promise<T.StrategyMargin> {
    return this.request('strategyMargin', {}, o);
  }
  optionChain(underlying: string, o?: RequestOptions): Promise<T.OptionChain> {
    return this.request('optionChain', { params: { underlying } }, o);
  }
  /** A what-if scenario (`"venue": "live"`: this service's own markets, agreeing with the engine). */
  calc(body: T.CalcBody, o?: RequestOptions): Promise<T.CalcResult> {
    return this.request('calc', { body }, o);
  }
  /** The service's health: answered, not thrown, when it is degraded (503). */
  async health(o?: RequestOptions): Promise<T.Health> {
    try {
      return await this.request<'health', T.Health>('health', {}, o);
    } catch (e) {
      if (e instanceof ApiError && e.status === 503 && isObject(e.body) && e.body.status === 'degraded')
        return e.body as T.Health;
      throw e;
    }
  }

  // The key's account ------------------------------------------------------------------------------------

  /** Who the signing key is: its account, scopes, whether it is an admin's. */
  me(o?: RequestOptions): Promise<T.Me> {
    return this.request('me', {}, o);
  }
  alerts(query?: T.AlertLevelsQuery, o?: RequestOptions): Promise<T.AlertLevels> {
    return this.request('alerts', { query }, o);
  }
  setAlerts(body: T.AlertLevelsBody, o?: RequestOptions): Promise<T.AlertLevels> {
    return this.request('setAlerts', { body }, o);
  }
  /** Open orders, oldest first. */
  orders(query?: T.AccountQuery, o?: RequestOptions): Promise<T.Order[]> {
    return this.request('orders', { query }, o);
  }
  order(id: string, query?: T.AccountQuery, o?: RequestOptions): Promise<T.Order> {
    return this.request('order', { params: { id }, query }, o);
  }
  orderByClientId(clientOrderId: string, query?: T.AccountQuery, o?: RequestOptions): Promise<T.Order> {
    return this.request('orderByClientId', { params: { clientOrderId }, query }, o);
  }
  placeOrder(body: T.PlaceOrderBody, o?: RequestOptions): Promise<T.OrderResult> {
    return this.request('placeOrder', { body }, o);
  }
  amendOrder(id: string, body: T.AmendOrderBody, o?: RequestOptions): Promise<T.AmendResult> {
    return this.request('amendOrder', { params: { id }, body }, o);
  }
  cancelOrder(id: string, query?: T.CancelQuery, o?: RequestOptions): Promise<T.CancelResult> {
    return this.request('cancelOrder', { params: { id }, query }, o);
  }
  cancelOrderByClientId(
    clientOrderId: string,
    query?: T.CancelQuery,
    o?: RequestOptions,
  ): Promise<T.CancelResult> {
    return this.request('cancelOrderByClientId', { params: { clientOrderId }, query }, o);
  }
  cancelAllOrders(query?: T.CancelQuery, o?: RequestOptions): Promise<T.CancelAllResult> {
    return this.request('cancelAllOrders', { query }, o);
  }
  /** 2–8 fill-or-kill legs in one named silo: all fill in full or none does. */
  placeCombo(body: T.PlaceComboBody, o?: RequestOptions): Promise<T.ComboResult> {
    return this.request('placeCombo', { body }, o);
  }
  positions(query?: T.AccountQuery, o?: RequestOptions): Promise<T.Position[]> {
    return this.request('positions', { query }, o);
  }
  balance(query?: T.AccountQuery, o?: RequestOptions): Promise<T.Balances> {
    return this.request('balance', { query }, o);
  }
  /** The account's fills, newest first. */
  myTrades(query?: T.AccountQuery, o?: RequestOptions): Promise<T.Fill[]> {
    return this.request('myTrades', { query }, o);
  }
  myLiquidations(query?: T.AccountQuery, o?: RequestOptions): Promise<T.AccountEvent[]> {
    return this.request('myLiquidations', { query }, o);
  }
  fundingHistory(query?: T.AccountQuery, o?: RequestOptions): Promise<T.FundingPayment[]> {
    return this.request('fundingHistory', { query }, o);
  }
  setMarginMode(body: T.MarginModeBody, o?: RequestOptions): Promise<T.MarginModeResult> {
    return this.request('setMarginMode', { body }, o);
  }
  setLeverage(body: T.LeverageBody, o?: RequestOptions): Promise<T.LeverageResult> {
    return this.request('setLeverage', { body }, o);
  }
  addMargin(body: T.MarginBody, o?: RequestOptions): Promise<T.MarginChange> {
    return this.request('addMargin', { body }, o);
  }
  reduceMargin(body: T.MarginBody, o?: RequestOptions): Promise<T.MarginChange> {
    return this.request('reduceMargin', { body }, o);
  }
  setAutoAddMargin(body: T.AutoAddBody, o?: RequestOptions): Promise<T.AutoAddResult> {
    return this.request('setAutoAddMargin', { body }, o);
  }
  /** Every collateral box: cross per asset, each isolated position, each named silo. */
  silos(query?: T.SiloQuery, o?: RequestOptions): Promise<T.Silo[]> {
    return this.request('silos', { query }, o);
  }
  /** A named silo, `cross:<ASSET>` or `isolated:<SYMBOL>`. */
  silo(silo: string, query?: T.SiloQuery, o?: RequestOptions): Promise<T.Silo> {
    return this.request('silo', { params: { silo }, query }, o);
  }
  createSilo(body: T.CreateSiloBody, o?: RequestOptions): Promise<T.SiloCreated> {
    return this.request('createSilo', { body }, o);
  }
  closeSilo(silo: string, query?: T.SiloQuery, o?: RequestOptions): Promise<T.SiloClosed> {
    return this.request('closeSilo', { params: { silo }, query }, o);
  }
  /** Free balance ↔ a named silo, or silo → silo. */
  transferCollateral(body: T.TransferCollateralBody, o?: RequestOptions): Promise<T.CollateralTransfer> {
    return this.request('transferCollateral', { body }, o);
  }
  /** The rebalancing agent's settings per asset (empty: never opted in). */
  rebalancing(query?: T.SiloQuery, o?: RequestOptions): Promise<T.Rebalancing[]> {
    return this.request('rebalancing', { query }, o);
  }
  /** Turns the rebalancing agent on (or off) for one asset: which silos give, which receive, when and how much. */
  setRebalancing(
    body: T.RebalancingBody,
    o?: RequestOptions,
  ): Promise<{ seq: number; rebalancing: T.Rebalancing[] }> {
    return this.request('setRebalancing', { body }, o);
  }

  // Shards -----------------------------------------------------------------------------------------------

  /** A shard's name and market patterns (asked of a shard; a router answers GET /api/v1/shards instead). */
  shard(o?: RequestOptions): Promise<T.ShardView> {
    return this.request('shard', {}, o);
  }
  /**
   * Moves free balance between shards (through a router: `fromShard` and `toShard` name them; docs/sharding.md).
   * Send your own `transferId`: the same id again is the same transfer, never a second one.
   */
  transfer(body: T.TransferBody, o?: RequestOptions): Promise<T.TransferStep> {
    return this.request('transfer', { body }, o);
  }
  /** The key's transfers, newest first (through a router: every shard's, each with its `shard`). */
  transfers(query?: T.TransfersQuery, o?: RequestOptions): Promise<T.TransferRecord[]> {
    return this.request('transfers', { query }, o);
  }

  // Vaults -----------------------------------------------------------------------------------------------

  /** Every vault: NAV and NAV per share at the marks now, shares, free cash, terms, queue length. */
  vaults(o?: RequestOptions): Promise<T.Vault[]> {
    return this.request('vaults', {}, o);
  }
  /** One vault with its withdrawal queue, positions and risk against its limits. */
  vault(vault: string, o?: RequestOptions): Promise<T.VaultDetail> {
    return this.request('vault', { params: { vault } }, o);
  }
  /** NAV, NAV per share and shares after each change, oldest first. */
  vaultHistory(vault: string, query?: T.VaultHistoryQuery, o?: RequestOptions): Promise<T.VaultPoint[]> {
    return this.request('vaultHistory', { params: { vault }, query }, o);
  }
  /** The key's account's holding (an admin key names the account). */
  vaultHolding(vault: string, query?: T.VaultHoldingQuery, o?: RequestOptions): Promise<T.VaultHolding> {
    return this.request('vaultHolding', { params: { vault }, query }, o);
  }
  /** Free balance → the vault, for shares at its NAV per share (rounded down). */
  vaultDeposit(vault: string, body: T.VaultDepositBody, o?: RequestOptions): Promise<T.VaultMoved> {
    return this.request('vaultDeposit', { params: { vault }, body }, o);
  }
  /** Shares → paid now at NAV from the vault's free cash, or queued (FIFO) until it has it. */
  vaultWithdraw(vault: string, body: T.VaultWithdrawBody, o?: RequestOptions): Promise<T.VaultMoved> {
    return this.request('vaultWithdraw', { params: { vault }, body }, o);
  }

  // Operator reads (admin keys) ----------------------------------------------------------------------------

  oracleStatus(o?: RequestOptions): Promise<T.OracleStatus[]> {
    return this.request('oracleStatus', {}, o);
  }
  /** Open positions nearest their liquidation price across the venue, nearest first. */
  closestToLiquidation(query?: T.ClosestQuery, o?: RequestOptions): Promise<T.LiquidationRisk[]> {
    return this.request('closestToLiquidation', { query }, o);
  }
  journalHealth(o?: RequestOptions): Promise<T.JournalHealth> {
    return this.request('journalHealth', {}, o);
  }
  serviceStats(o?: RequestOptions): Promise<T.ServiceStats> {
    return this.request('serviceStats', {}, o);
  }

  // Venue writes (admin keys) ------------------------------------------------------------------------------

  /** A market from the engine's MarketConfig. */
  createMarket(body: T.MarketConfigBody, o?: RequestOptions): Promise<T.MarketCreated> {
    return this.request('createMarket', { body }, o);
  }
  /** Funds a settle asset's insurance fund from outside. */
  fundInsurance(body: T.InsuranceBody, o?: RequestOptions): Promise<T.InsuranceFunded> {
    return this.request('fundInsurance', { body }, o);
  }
  /** Credits an account (created on its first deposit). */
  deposit(body: T.FundsBody, o?: RequestOptions): Promise<T.FundsMoved> {
    return this.request('deposit', { body }, o);
  }
  /** One source's oracle quote: index, then mark (it moves the service's clock like a tick). */
  oracleQuote(body: T.OracleQuoteBody, o?: RequestOptions): Promise<T.PriceUpdate> {
    return this.request('oracleQuote', { body }, o);
  }
  /** Accepts an asset as collateral in named silos of a settle asset (sent again: new terms, holders re-checked). */
  setCollateralAsset(
    body: T.CollateralAssetBody,
    o?: RequestOptions,
  ): Promise<{ seq: number; collateralAssets: T.CollateralAsset[] }> {
    return this.request('setCollateralAsset', { body }, o);
  }
  /** A vault: its account `vault:<id>`, manager, asset, lock-up, fees and risk limits. */
  createVault(body: T.CreateVaultBody, o?: RequestOptions): Promise<T.VaultCreated> {
    return this.request('createVault', { body }, o);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/**
 * The caller's signal and the deadline, as one (either may be absent); `done` stops the deadline once the answer is
 * in. Not AbortSignal.timeout: its timer runs on after the answer, and in Node each one that fires raises a
 * DOMException with its stack, which cost a client making hundreds of requests a second more than its requests.
 */
function withTimeout(
  signal: AbortSignal | undefined,
  timeoutMs: number,
): { signal: AbortSignal | undefined; done: () => void } {
  if (timeoutMs <= 0) return { signal, done: () => {} };
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')),
    timeoutMs,
  );
  const done = () => clearTimeout(timer);
  if (signal === undefined) return { signal: deadline.signal, done };
  // AbortSignal.any is recent in some browsers: without it, the caller's signal alone.
  return {
    signal: typeof AbortSignal.any === 'function' ? AbortSignal.any([signal, deadline.signal]) : signal,
    done,
  };
}

/** Why no answer came, as an ApiError (status 0). */
function failure(e: unknown, timeoutMs: number): ApiError {
  const name = isObject(e) && typeof e.name === 'string' ? e.name : '';
  const message = e instanceof Error ? e.message : String(e);
  if (name === 'TimeoutError') return new ApiError(0, 'TIMEOUT', `no answer within ${timeoutMs} ms`);
  if (name === 'AbortError') return new ApiError(0, 'ABORTED', `request aborted (${message})`);
  return new ApiError(0, 'NETWORK', `the service cannot be reached (${message})`);
}
