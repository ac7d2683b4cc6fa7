/**
 * WebSocket gateway at /ws. JSON text messages, one request → one response carrying the request's `id`:
 *
 *   {"op":"ping"}                                              → {"op":"pong"}
 *   {"op":"login","args":{"key","timestamp","signature"}}      signature = HMAC over `${timestamp}\nGET\n/ws\n`
 *   {"op":"subscribe","args":["orderbook.BTCUSDT","trades.BTCUSDT","mark.BTCUSDT","funding.BTCUSDT","options.BTCUSDT",
 *                              "candles.BTCUSDT.1m","insurance.USDT","liquidations.BTCUSDT","liquidations.all" (admin),
 *                              "vaults","vaults.<VAULT>",
 *                              "orders","fills","positions","marginCalls","liquidations","silos","alerts",
 *                              "vaultHoldings"]}
 *   {"op":"unsubscribe","args":[…]}
 *   {"op":"order.place"|"order.amend"|"order.cancel"|"order.cancelAll","id":…,"args":{…}}  (scope trade)
 *   {"op":"combo.place","id":…,"args":{silo, legs, …}}          (scope trade; POST /api/v1/combo's body and answer)
 *
 * Responses: `{op, id, success: true, data?}` or `{op, id, success: false, error: {code, message}}`. Stream
 * messages: `{topic, seq, time, data}`; `orderbook.*` sends a `snapshot` on subscribe, then `delta`s (level sizes,
 * "0" = gone) whose `seq` follows the snapshot's. Whenever the service rebuilds its book (after recovering from a
 * failed commit, or a publishing error) every `orderbook.*` subscriber gets a new `snapshot` marked `resync: true`,
 * which replaces the book it holds; the deltas after it follow its `seq`. Private topics need a login with the
 * `read` scope and carry the logged-in key's account (an admin key may name one: `orders.<account>`). `positions`
 * events carry `silo` (null: a default position), and its `position` and `fundingPaid` items the position as GET
 * positions shows it right after the command (`view`, null once flat) with its `liquidationPrice` and
 * `liquidationDistancePercent` beside; `silos` carries named silos' lifecycle (siloCreated, siloClosed),
 * every movement of their collateral (`siloCollateral`) and their legs' position and liquidation events.
 *
 * Backpressure: a client whose unsent data exceeds `ws.maxBufferedBytes` is disconnected at once; publishing never
 * waits for a socket. Every message is charged before it is even parsed: to its IP's bucket (`publicRateLimit`,
 * shared by all that IP's connections and its unsigned REST requests) until a login, then to the key's. A message
 * over the limit is answered `{op: "error", success: false, error: RATE_LIMITED}` unread (so without its `id`).
 * Silent clients are pinged every 30 s and dropped when they do not answer.
 *
 * Slots: at most `ws.maxClientsPerIp` sockets per client address (after trustProxy) besides `ws.maxClients` in
 * all (both refused with 1013). A socket must log in or subscribe to a public topic within `ws.loginTimeoutMs`, and
 * one without subscriptions that sends nothing for `ws.idleTimeoutMs` is closed (1008): a slot is for a client
 * that uses it. Sessions end (1008) when their key is revoked by a reload or expires.
 */
import type { FastifyRequest } from 'fastify';
import { type Static, type TSchema, Type } from 'typebox';
import { Compile } from 'typebox/compile';
import type { WebSocket } from 'ws';
import {
  actingAccount,
  type IpLimiter,
  type KeyRing,
  type Principal,
  rateLimited,
  requireScope,
} from './auth.ts';
import { fmtLevels, orderView, toJson } from './codec.ts';
import {
  accepted,
  amendCommand,
  amendResult,
  cancelAllOrders,
  cancelResult,
  openOrderByClientId,
  orderIdOfClientId,
  parseOrderId,
  placeCombo,
  placeOrder,
  requireAmendChange,
  symbolOfOrder,
} from './commands.ts';
import type { ServiceConfig } from './config.ts';
import { ApiError, describeIssues, rejection, type ValidationIssue } from './errors.ts';
import {
  ALL_LIQUIDATIONS_KEY,
  candleKey,
  insuranceKey,
  liquidationsKey,
  PRIVATE_TOPICS,
  type PrivateTopic,
  PUBLIC_TOPICS,
  type PublicTopic,
  privateKey,
  publicKey,
  type Subscriber,
  VAULTS_KEY,
  vaultKey,
} from './hub.ts';
import type { Metrics } from './metrics.ts';
import { journalHealth, serviceStats } from './ops.ts';
import {
  AccountId,
  AmendOrderBody,
  ClientOrderId,
  MarketSymbol,
  OrderIdParam,
  PlaceComboBody,
  PlaceOrderBody,
} from './schemas.ts';
import { isTimeframe, TIMEFRAMES } from './series.ts';
import type { App } from './server.ts';
import type { Service } from './service.ts';

const HEARTBEAT_MS = 30_000;
const BOOK_PREFIX = 'orderbook.';
const ALERTS_PREFIX = privateKey('alerts', '');
/** `liquidations.all`: every market's liquidations with account ids (admin keys only). */
const ALL = 'all';
/** `ops`: the journal's health and the service's figures (src/service/ops.ts), once a second (admin keys only). */
const OPS_KEY = 'ops';
const OPS_EVERY_MS = 1_000;
const OPEN = 1;

const Envelope = Type.Object(
  {
    op: Type.String({ maxLength: 32 }),
    id: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Integer()])),
    args: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
const LoginArgs = Type.Object(
  {
    key: Type.String({ maxLength: 64 }),
    timestamp: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 16 })]),
    signature: Type.String({ maxLength: 128 }),
  },
  { additionalProperties: false },
);
const TopicList = Type.Array(Type.String({ maxLength: 120 }), { minItems: 1, maxItems: 64 });
/** An order named by its id or by its clientOrderId (exactly one of them). */
const OrderRef = {
  orderId: Type.Optional(OrderIdParam),
  clientOrderId: Type.Optional(ClientOrderId),
  symbol: Type.Optional(MarketSymbol),
  account: Type.Optional(AccountId),
};
const CancelArgs = Type.Object(OrderRef, { additionalProperties: false });
const GetArgs = Type.Object(
  { orderId: OrderRef.orderId, clientOrderId: OrderRef.clientOrderId, account: OrderRef.account },
  { additionalProperties: false },
);
const AmendArgs = Type.Object(
  { orderId: OrderIdParam, ...AmendOrderBody.properties },
  { additionalProperties: false },
);
const CancelAllArgs = Type.Object(
  { symbol: Type.Optional(MarketSymbol), account: Type.Optional(AccountId) },
  { additionalProperties: false },
);

/** A compiled schema that answers 400 INVALID_REQUEST naming the field, like the REST routes. */
class Checker<T extends TSchema> {
  private readonly v;
  constructor(schema: T) {
    this.v = Compile(schema);
  }
  parse(x: unknown, where: string): Static<T> {
    if (this.v.Check(x)) return x as Static<T>;
    throw new ApiError(400, 'INVALID_REQUEST', describeIssues(where, this.v.Errors(x) as ValidationIssue[]));
  }
}

const check = {
  envelope: new Checker(Envelope),
  login: new Checker(LoginArgs),
  topics: new Checker(TopicList),
  place: new Checker(PlaceOrderBody),
  combo: new Checker(PlaceComboBody),
  cancel: new Checker(CancelArgs),
  get: new Checker(GetArgs),
  amend: new Checker(AmendArgs),
  cancelAll: new Checker(CancelAllArgs),
};

/** The order id of a reference naming exactly one of orderId / clientOrderId ('' when it is the clientOrderId). */
function orderRef(b: { orderId?: string | undefined; clientOrderId?: string | undefined }): string {
  if ((b.orderId === undefined) === (b.clientOrderId === undefined))
    throw new ApiError(400, 'INVALID_REQUEST', 'args: name exactly one of orderId and clientOrderId');
  return b.orderId ?? '';
}

let nextClientId = 1;

/** Frames held in a corked socket beyond this many bytes are handed to the kernel before the end of the tick. */
export const CORK_FLUSH_BYTES = 64 * 1024;

/** The part of net.Socket that `WsClient.cork` uses. */
interface Corkable {
  cork(): void;
  uncork(): void;
}

const uncorkClient = (c: WsClient, raw: Corkable): void => c.uncorked(raw);

export class WsClient implements Subscriber {
  readonly id = nextClientId++;
  principal: Principal | null = null;
  readonly subs = new Set<string>();
  alive = true;
  dropped = false;
  /** performance.now() of the connection and of the last message received. */
  readonly connectedAt = performance.now();
  lastMessageAt = this.connectedAt;
  constructor(
    readonly socket: Pick<WebSocket, 'send' | 'terminate' | 'close' | 'bufferedAmount' | 'readyState'>,
    readonly maxBufferedBytes: number,
    /** The peer's address: its bucket pays for messages until a login. */
    readonly ip: string,
    private readonly onDrop: (c: WsClient, reason: string) => void,
  ) {}

  deliver(text: string): boolean {
    if (this.dropped || this.socket.readyState !== OPEN) return false;
    // Behind by more than the bound: the client is not keeping up (one message larger than the bound still goes).
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      this.drop('slow');
      return false;
    }
    if (this.corked === null) this.cork();
    this.socket.send(text);
    // A large burst in one tick is not held back: past CORK_FLUSH_BYTES it goes to the kernel at once, as it would
    // without corking, so what waits on the client stays what the slow-consumer bound measures.
    if (this.corked !== null && this.socket.bufferedAmount >= CORK_FLUSH_BYTES) {
      this.corked.uncork();
      this.corked.cork();
    }
    return true;
  }

  /** This client's TCP socket while it is corked until the end of the current tick (see `cork`). */
  private corked: Corkable | null = null;

  /**
   * Holds this client's outgoing frames in the TCP socket until the current tick's work is done (process.nextTick
   * runs after the promise continuations already queued, e.g. every acknowledgement of one journal commit), so the
   * replies and stream messages of one commit leave in one write instead of one system call each. Nothing waits
   * for a client: the frames are queued exactly as before, only handed to the kernel together. (`_socket` is the
   * ws library's underlying net.Socket; without one, as with test doubles, frames are sent one by one.)
   */
  private cork(): void {
    const raw = (this.socket as { _socket?: Corkable })._socket;
    if (!raw || typeof raw.cork !== 'function') return;
    raw.cork();
    this.corked = raw;
    process.nextTick(uncorkClient, this, raw);
  }

  /** @internal The end of the tick: the corked frames go to the kernel. */
  uncorked(raw: Corkable): void {
    this.corked = null;
    raw.uncork();
  }

  /** Disconnects without a closing handshake (which a stalled client would not read either). */
  drop(reason: string): void {
    if (this.dropped) return;
    this.dropped = true;
    this.onDrop(this, reason);
    this.socket.terminate();
  }
}

export class WsGateway {
  private readonly clients = new Set<WsClient>();
  /** Open sockets per client address. */
  private readonly perIp = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private opsTimer: NodeJS.Timeout | null = null;
  private stopResync: (() => void) | null = null;

  constructor(
    private readonly service: Service,
    private readonly config: ServiceConfig,
    private readonly keys: KeyRing,
    private readonly ipLimiter: IpLimiter,
    private readonly metrics: Metrics,
  ) {}

  get clientCount(): number {
    return this.clients.size;
  }

  /** Sockets open from one client address. */
  clientsFrom(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }

  register(app: App): void {
    app.get(
      '/ws',
      {
        websocket: true,
        config: { auth: 'public' },
        schema: { tags: ['streams'], summary: 'WebSocket streams and order entry (see docs/service.md)' },
      },
      (socket: WebSocket, req: FastifyRequest) => this.accept(socket, req),
    );
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    const { loginTimeoutMs, idleTimeoutMs } = this.config.ws;
    // Fine enough for the shortest deadline, at most once a second.
    const every = Math.max(10, Math.min(1_000, Math.floor(Math.min(loginTimeoutMs, idleTimeoutMs) / 4)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
    this.opsTimer = setInterval(() => this.publishOps(), OPS_EVERY_MS);
    this.opsTimer.unref();
    this.stopResync = this.service.onMirrorRebuilt(() => this.resyncBooks());
  }

  /** Closes every client (shutdown). */
  closeAll(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    if (this.opsTimer) clearInterval(this.opsTimer);
    this.opsTimer = null;
    this.stopResync?.();
    this.stopResync = null;
    for (const c of [...this.clients]) {
      this.detach(c);
      c.socket.close(1001, 'server shutting down');
    }
  }

  /**
   * Closes the sessions logged in with these keys (removed or changed by a reload): a revoked key must stop working
   * at once, not when its sockets happen to close.
   */
  revokeKeys(ids: readonly string[]): number {
    if (ids.length === 0) return 0;
    const gone = new Set(ids);
    let n = 0;
    for (const c of [...this.clients]) {
      if (c.principal && gone.has(c.principal.key)) {
        this.end(c, 'revoked', 'API key revoked');
        n++;
      }
    }
    return n;
  }

  /** Closes a client with a reason (1008 policy violation): deadlines, revoked or expired keys. */
  private end(c: WsClient, reason: string, message: string): void {
    this.metrics.wsDropped.inc({ reason });
    this.detach(c);
    c.socket.close(1008, message);
    // A client that never completes the closing handshake is cut off.
    setTimeout(() => c.socket.terminate(), 1_000).unref();
  }

  /** Login deadline, idle timeout and key expiry, checked for every client. */
  private sweep(): void {
    const t = performance.now();
    const now = this.service.now();
    const { loginTimeoutMs, idleTimeoutMs } = this.config.ws;
    for (const c of [...this.clients]) {
      if (c.principal) {
        if (!this.keys.current(c.principal, now)) {
          this.end(c, 'revoked', 'API key revoked or expired');
          continue;
        }
      } else if (c.subs.size === 0 && t - c.connectedAt >= loginTimeoutMs) {
        this.end(c, 'loginTimeout', 'log in or subscribe to a public topic first');
        continue;
      }
      if (c.subs.size === 0 && t - c.lastMessageAt >= idleTimeoutMs) this.end(c, 'idle', 'idle');
    }
  }

  private accept(socket: WebSocket, req: FastifyRequest): void {
    // The same key as the IP's REST bucket (IpLimiter), so one client has one bucket whatever the transport.
    const ip = req.ip;
    const fromIp = this.perIp.get(ip) ?? 0;
    if (fromIp >= this.config.ws.maxClientsPerIp) {
      this.metrics.wsDropped.inc({ reason: 'maxClientsPerIp' });
      socket.close(1013, 'too many connections from this address');
      return;
    }
    if (this.clients.size >= this.config.ws.maxClients) {
      this.metrics.wsDropped.inc({ reason: 'maxClients' });
      socket.close(1013, 'too many clients');
      return;
    }
    const c = new WsClient(socket, this.config.ws.maxBufferedBytes, ip, (cl, reason) => {
      this.metrics.wsDropped.inc({ reason });
      this.detach(cl);
    });
    this.clients.add(c);
    this.perIp.set(ip, fromIp + 1);
    socket.on('pong', () => {
      c.alive = true;
    });
    socket.on('message', (data, isBinary) => {
      this.metrics.wsMessageCounts.in += 1;
      c.lastMessageAt = performance.now();
      // Charged before anything is read: malformed messages and failed logins cost as much as good ones.
      const limited = this.charge(c);
      if (limited) {
        this.reply(c, {
          op: 'error',
          success: false,
          error: { code: limited.code, message: limited.message },
        });
        return;
      }
      if (isBinary) {
        this.reply(c, {
          op: 'error',
          success: false,
          error: { code: 'INVALID_REQUEST', message: 'text frames only' },
        });
        return;
      }
      void this.onMessage(c, data.toString());
    });
    socket.on('close', () => this.detach(c));
    socket.on('error', () => this.detach(c));
  }

  /** Takes a token for one message (the key's after a login, else the IP's); the error if there was none. */
  private charge(c: WsClient): ApiError | null {
    const now = this.service.now();
    if (c.principal) return c.principal.bucket.take(now) ? null : rateLimited(c.principal.bucket);
    const empty = this.ipLimiter.take(c.ip, now);
    return empty ? rateLimited(empty) : null;
  }

  private detach(c: WsClient): void {
    if (!this.clients.delete(c)) return;
    const left = (this.perIp.get(c.ip) ?? 1) - 1;
    if (left <= 0) this.perIp.delete(c.ip);
    else this.perIp.set(c.ip, left);
    for (const key of c.subs) this.leave(key, c);
    c.subs.clear();
  }

  /** Unsubscribes; an account whose last `alerts` subscriber left is no longer followed (alerts.ts). */
  private leave(key: string, c: WsClient): void {
    this.service.hub.unsubscribe(key, c);
    if (key.startsWith(ALERTS_PREFIX) && !this.service.hub.has(key))
      this.service.alerts.unwatch(key.slice(ALERTS_PREFIX.length));
  }

  private beat(): void {
    for (const c of [...this.clients]) {
      if (!c.alive) {
        c.drop('heartbeat');
        continue;
      }
      c.alive = false;
      (c.socket as WebSocket).ping();
    }
  }

  private reply(c: WsClient, msg: Record<string, unknown>): void {
    let text: string;
    try {
      text = JSON.stringify(msg);
    } catch {
      // Only a stray bigint can make this throw (views format every amount); render it rather than fail.
      text = toJson(msg);
    }
    if (c.deliver(text)) this.metrics.wsMessageCounts.out += 1;
  }

  private async onMessage(c: WsClient, text: string): Promise<void> {
    let op = 'error';
    let id: string | number | undefined;
    try {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new ApiError(400, 'INVALID_JSON', `malformed JSON: ${(e as Error).message}`);
      }
      const env = check.envelope.parse(json, 'message');
      op = env.op;
      id = env.id;
      const data = await this.dispatch(c, env.op, env.args);
      const msg: Record<string, unknown> = { op };
      if (id !== undefined) msg.id = id;
      msg.success = true;
      if (data !== undefined) msg.data = data;
      this.reply(c, msg);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(500, 'INTERNAL', 'internal error');
      if (!(e instanceof ApiError)) this.service.log.error({ err: e }, 'ws request failed');
      this.reply(c, {
        op,
        ...(id !== undefined ? { id } : {}),
        success: false,
        error: err.body(),
      });
    }
  }

  /**
   * The answer to one request: a value, or a promise of one for the ops that submit a command. Not async itself, so
   * an order's acknowledgement is not relayed through one more promise on its way out; a synchronous throw is
   * caught by `onMessage` like a rejection.
   */
  private dispatch(c: WsClient, op: string, args: unknown): unknown {
    switch (op) {
      case 'ping':
        return undefined;
      case 'login':
        return this.login(c, args);
      case 'subscribe':
        return this.subscribe(c, check.topics.parse(args, 'args'));
      case 'unsubscribe':
        for (const t of check.topics.parse(args, 'args')) {
          const key = this.topicKey(c, t);
          if (c.subs.delete(key)) this.leave(key, c);
        }
        return undefined;
      case 'order.place': {
        const p = this.trader(c);
        const b = check.place.parse(args, 'args');
        return placeOrder(this.service, actingAccount(p, b.account), b);
      }
      case 'combo.place': {
        const p = this.trader(c);
        const b = check.combo.parse(args, 'args');
        return placeCombo(this.service, actingAccount(p, b.account), b);
      }
      case 'order.get': {
        if (!c.principal) throw new ApiError(401, 'UNAUTHORIZED', 'login first');
        requireScope(c.principal, 'read');
        const b = check.get.parse(args, 'args');
        const account = actingAccount(c.principal, b.account);
        const e = this.service.engine;
        const ref = orderRef(b);
        const o =
          b.clientOrderId !== undefined
            ? openOrderByClientId(e, account, b.clientOrderId)
            : e.accounts.get(account)?.orders.get(parseOrderId(ref));
        if (!o) throw rejection('UNKNOWN_ORDER', 'no such open order');
        return orderView(o);
      }
      case 'order.cancel':
        return this.cancel(c, args);
      case 'order.amend':
        return this.amend(c, args);
      case 'order.cancelAll': {
        const p = this.trader(c);
        const b = check.cancelAll.parse(args, 'args');
        return cancelAllOrders(this.service, actingAccount(p, b.account), b.symbol);
      }
      default:
        throw new ApiError(400, 'INVALID_REQUEST', `unknown op ${JSON.stringify(op)}`);
    }
  }

  private async cancel(c: WsClient, args: unknown): Promise<unknown> {
    const p = this.trader(c);
    const b = check.cancel.parse(args, 'args');
    const account = actingAccount(p, b.account);
    const ref = orderRef(b);
    const orderId =
      b.clientOrderId !== undefined
        ? orderIdOfClientId(this.service.engine, account, b.clientOrderId)
        : parseOrderId(ref);
    const symbol = symbolOfOrder(this.service.engine, account, orderId, b.symbol);
    const r = accepted(await this.service.submit({ type: 'cancelOrder', account, symbol, orderId }));
    return cancelResult(this.service.engine, r, orderId, symbol);
  }

  private async amend(c: WsClient, args: unknown): Promise<unknown> {
    const p = this.trader(c);
    const b = check.amend.parse(args, 'args');
    const account = actingAccount(p, b.account);
    const orderId = parseOrderId(b.orderId);
    requireAmendChange(b);
    const symbol = symbolOfOrder(this.service.engine, account, orderId, b.symbol);
    const r = accepted(await this.service.submit(amendCommand(account, symbol, orderId, b)));
    return amendResult(this.service.engine, r, orderId, symbol, account);
  }

  private trader(c: WsClient): Principal {
    if (!c.principal) throw new ApiError(401, 'UNAUTHORIZED', 'login first');
    requireScope(c.principal, 'trade');
    return c.principal;
  }

  private login(c: WsClient, args: unknown): unknown {
    const a = check.login.parse(args, 'args');
    if (c.principal) throw new ApiError(400, 'INVALID_REQUEST', 'already logged in');
    const p = this.keys.verify(
      {
        key: a.key,
        timestamp: String(a.timestamp),
        signature: a.signature,
        method: 'GET',
        url: '/ws',
        body: '',
        ip: c.ip,
      },
      this.service.now(),
    );
    c.principal = p;
    return { account: p.account, scopes: [...p.scopes] };
  }

  /** The hub key of a client topic name; throws for unknown topics, markets, or private topics without login. */
  private topicKey(c: WsClient, topic: string): string {
    const dot = topic.indexOf('.');
    const name = dot < 0 ? topic : topic.slice(0, dot);
    const arg = dot < 0 ? undefined : topic.slice(dot + 1);
    const series = this.seriesKey(c, topic, name, arg);
    if (series !== null) return series;
    if ((PUBLIC_TOPICS as readonly string[]).includes(name)) {
      if (arg === undefined || !this.service.engine.markets.has(arg))
        throw rejection('UNKNOWN_MARKET', `${topic}: unknown market ${JSON.stringify(arg ?? '')}`);
      return publicKey(name as PublicTopic, arg);
    }
    if ((PRIVATE_TOPICS as readonly string[]).includes(name)) {
      if (!c.principal) throw new ApiError(401, 'UNAUTHORIZED', `${topic}: login first`);
      requireScope(c.principal, 'read');
      return privateKey(name as PrivateTopic, actingAccount(c.principal, arg));
    }
    throw new ApiError(400, 'INVALID_REQUEST', `unknown topic ${JSON.stringify(topic)}`);
  }

  /**
   * `candles.<SYMBOL>.<timeframe>`, `insurance.<ASSET>`, `liquidations.<SYMBOL>`, `vaults`, `vaults.<VAULT>` and the
   * admin's `liquidations.all`; null for any other topic — `liquidations` alone or naming an account is the private topic.
   */
  private seriesKey(c: WsClient, topic: string, name: string, arg: string | undefined): string | null {
    const e = this.service.engine;
    switch (name) {
      case 'candles': {
        const dot = arg === undefined ? -1 : arg.lastIndexOf('.');
        const symbol = dot < 0 ? (arg ?? '') : arg!.slice(0, dot);
        if (!e.markets.has(symbol))
          throw rejection('UNKNOWN_MARKET', `${topic}: unknown market ${JSON.stringify(symbol)}`);
        const tf = dot < 0 ? '' : arg!.slice(dot + 1);
        if (!isTimeframe(tf))
          throw new ApiError(
            400,
            'INVALID_REQUEST',
            `${topic}: timeframe must be one of ${Object.keys(TIMEFRAMES).join(', ')}`,
          );
        return candleKey(symbol, tf);
      }
      case 'vaults':
        if (arg === undefined) return VAULTS_KEY;
        if (!e.vaults.has(arg))
          throw rejection('UNKNOWN_VAULT', `${topic}: unknown vault ${JSON.stringify(arg)}`);
        return vaultKey(arg);
      case 'insurance':
        if (arg === undefined || !e.assets.has(arg))
          throw rejection('UNKNOWN_ASSET', `${topic}: unknown asset ${JSON.stringify(arg ?? '')}`);
        return insuranceKey(arg);
      case OPS_KEY:
        if (arg !== undefined) return null;
        if (!c.principal) throw new ApiError(401, 'UNAUTHORIZED', `${topic}: login first`);
        if (!c.principal.admin) throw new ApiError(403, 'FORBIDDEN', `${topic}: admin keys only`);
        return OPS_KEY;
      case 'liquidations':
        if (arg === ALL) {
          if (!c.principal) throw new ApiError(401, 'UNAUTHORIZED', `${topic}: login first`);
          if (!c.principal.admin) throw new ApiError(403, 'FORBIDDEN', `${topic}: admin keys only`);
          return ALL_LIQUIDATIONS_KEY;
        }
        return arg !== undefined && e.markets.has(arg) ? liquidationsKey(arg) : null;
      default:
        return null;
    }
  }

  private subscribe(c: WsClient, topics: string[]): unknown {
    const keys = topics.map((t) => ({ topic: t, key: this.topicKey(c, t) }));
    const fresh = keys.filter((k) => !c.subs.has(k.key));
    if (c.subs.size + fresh.length > this.config.ws.maxSubscriptions)
      throw new ApiError(422, 'LIMIT_EXCEEDED', `at most ${this.config.ws.maxSubscriptions} subscriptions`);
    for (const { key } of fresh) {
      c.subs.add(key);
      this.service.hub.subscribe(key, c);
    }
    // The snapshot goes out synchronously with the subscription, so every delta after it follows its seq.
    for (const { key } of fresh) {
      if (key.startsWith(BOOK_PREFIX)) this.reply(c, this.bookSnapshot(key, false));
      // The first subscriber starts following the account: its boxes are read now, at the snapshot's seq.
      else if (key === OPS_KEY) this.reply(c, this.opsMessage());
      else if (key.startsWith(ALERTS_PREFIX))
        this.reply(c, this.service.alertSnapshot(key.slice(ALERTS_PREFIX.length)));
    }
    return { topics: keys.map((k) => k.topic) };
  }

  /** The `ops` stream's message: computed only while someone follows it. */
  private opsMessage(): Record<string, unknown> {
    return {
      topic: OPS_KEY,
      seq: this.service.engine.seq,
      time: this.service.now(),
      data: [
        {
          journal: journalHealth(this.service),
          stats: serviceStats(this.service, this.metrics, this.clients.size),
        },
      ],
    };
  }

  private publishOps(): void {
    if (this.service.hub.has(OPS_KEY)) this.service.hub.publish(OPS_KEY, () => this.opsMessage());
  }

  /**
   * The book mirror was rebuilt from the engine: each order-book topic gets a fresh snapshot (marked `resync`), sent
   * to every subscriber before any later delta, replacing the book it holds. (A market that did not survive a
   * recovery — created by a command never committed — has no book to send.)
   */
  private resyncBooks(): void {
    const mirror = this.service.mirror;
    for (const key of this.service.hub.keysWith(BOOK_PREFIX)) {
      if (!mirror.markets.has(key.slice(BOOK_PREFIX.length))) continue;
      this.service.hub.publish(key, () => this.bookSnapshot(key, true));
    }
  }

  private bookSnapshot(key: string, resync: boolean): Record<string, unknown> {
    const symbol = key.slice(BOOK_PREFIX.length);
    const m = this.service.engine.markets.get(symbol)!;
    const mm = this.service.mirror.market(symbol);
    const n = this.config.ws.bookDepth;
    return {
      topic: key,
      type: 'snapshot',
      ...(resync ? { resync: true } : {}),
      seq: this.service.mirror.seq,
      time: mm.time,
      data: { symbol, bids: fmtLevels(m, mm.bids.top(n)), asks: fmtLevels(m, mm.asks.top(n)) },
    };
  }
}
