/**
 * The HTTP and WebSocket server (fastify 5): JSON only, strict schemas (TypeBox), signed requests, rate limits,
 * one error shape, OpenAPI at /docs, Prometheus at /metrics. `buildServer` wires a Service into a fastify instance
 * without listening, so tests drive it with `inject` or a real socket on port 0.
 */
import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import {
  actingAccount,
  HEADER_KEY,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  IpLimiter,
  KeyRing,
  normalizeIp,
  type Principal,
  rateLimited,
  requireScope,
} from './auth.ts';
import { type Exposure, exposureOf, type KeyConfig, type Scope, type ServiceConfig } from './config.ts';
import { ApiError, describeIssues, type ErrorCode, type ValidationIssue } from './errors.ts';
import { Metrics } from './metrics.ts';
import { registerAccountRoutes } from './routes/account.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerMonitorRoutes } from './routes/monitor.ts';
import { registerOpsRoutes } from './routes/ops.ts';
import { registerOptionRoutes } from './routes/options.ts';
import { registerPublicRoutes } from './routes/public.ts';
import { registerSeriesRoutes } from './routes/series.ts';
import { registerShardRoutes } from './routes/shard.ts';
import { registerSiloRoutes } from './routes/silos.ts';
import { registerTradeRoutes } from './routes/trade.ts';
import { registerVaultRoutes } from './routes/vaults.ts';
import type { Service } from './service.ts';
import { registerWebApp } from './web.ts';
import { WsGateway } from './ws.ts';

export type App = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Which requests a route accepts: anyone (per-IP limits), or signed requests of a key with this scope. */
/** Who may call a route: anyone, any valid key whatever its scopes (`key`: "who am I"), or a key with a scope. */
export type RouteAuth = 'public' | 'key' | Scope;

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /**
     * Tokens a public request costs (default 1): an expensive request (a /calc with many positions) must not
     * cost the same as a cheap one, or one IP at its limit could keep the server busy for everyone.
     */
    cost?: (req: FastifyRequest) => number;
  }
  interface FastifyInstance {
    /** Operator controls (key reload, connection counts) for `serve` and tests. */
    ringfence: ServerControls;
  }
  interface FastifyRequest {
    /** The body exactly as received (what the signature covers); '' without a body. */
    rawBody: string;
    /** Set when the body was not valid JSON (answered after authentication). */
    jsonError: string | null;
    principal: Principal | null;
  }
}

export interface ServerControls {
  /** Re-reads the key list (`BuildOptions.loadKeys`) and applies it; sessions of removed or changed keys end. */
  reloadKeys(): { keys: number; revoked: string[] };
  /** Open TCP connections per peer address. */
  connections: ReadonlyMap<string, number>;
  /** WebSocket clients connected from an address. */
  wsClientsFrom(ip: string): number;
}

export interface RouteContext {
  service: Service;
  config: ServiceConfig;
  keys: KeyRing;
  metrics: Metrics;
  ws: WsGateway;
  /** Who may read /metrics and /docs (`auto` resolved against the bound host). */
  exposure: { docs: Exposure; metrics: Exposure };
  controls: ServerControls;
  /** The account a signed request acts for (its key's, or the one an admin key names). */
  account(req: { principal: Principal | null }, requested: string | undefined): string;
}

export interface BuildOptions {
  /** A pino logger for fastify (default: none, as in tests). */
  logger?: FastifyBaseLogger;
  metrics?: Metrics;
  /**
   * Reads the current key list (the config file again) for a reload on SIGHUP or `POST /api/v1/admin/keys/reload`;
   * throws (a ConfigError) when the file is bad, and the keys in force stay. Without it, a reload is refused.
   */
  loadKeys?: () => readonly KeyConfig[];
}

/** The response written straight to a socket for errors Node raises before fastify sees a request. */
function rawError(status: number, code: ErrorCode, message: string, extra = ''): string {
  const body = JSON.stringify({ code, message });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`
  );
}

/** The check interval for Node's header and request timeouts: fine enough for the shortest configured one. */
function checkingInterval(http: ServiceConfig['http']): number {
  return Math.max(
    50,
    Math.min(1_000, Math.floor(Math.min(http.headersTimeoutMs, http.requestTimeoutMs) / 4)),
  );
}

const SECURITY = [{ apiKey: [], timestamp: [], signature: [] }];
export const signed = { security: SECURITY };

export async function buildServer(
  service: Service,
  config: ServiceConfig,
  opts: BuildOptions = {},
): Promise<App> {
  const metrics = opts.metrics ?? service.metrics ?? new Metrics();
  const keys = new KeyRing(config.keys, config.rateLimit, config.recvWindowMs, service.now());
  const ipLimiter = new IpLimiter(config.publicRateLimit);
  /** Charges the peer of a request Node or the router refused before any hook ran; true if its bucket was empty. */
  const chargePeer = (ip: string | undefined): boolean =>
    ip !== undefined && ipLimiter.take(ip, service.now()) !== null;
  const base = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    // fastify's two lines per request ("incoming request", "request completed") only at debug and trace: at `info`
    // they would be two JSON lines and two writes to stdout for every order (the counts are in
    // ringfence_http_requests_total; errors are logged either way).
    ...(logsRequests(opts.logger) ? {} : { logController: new QuietRequests() }),
    bodyLimit: config.bodyLimit,
    // Which X-Forwarded-For hops to believe: per-IP limits must see clients, not the proxy in front.
    trustProxy: config.trustProxy,
    // Slow clients (slowloris) cannot hold a socket: the headers, then the whole request, must arrive in time,
    // and an idle keep-alive connection closes.
    requestTimeout: config.http.requestTimeoutMs,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    http: {
      headersTimeout: config.http.headersTimeoutMs,
      requestTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: checkingInterval(config.http),
    },
    // Node's own refusals (malformed HTTP, headers too large, timeouts) answer in the documented shape too.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      let status = 400;
      let code: ErrorCode = 'INVALID_REQUEST';
      let message = 'malformed HTTP request';
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        status = 408;
        code = 'REQUEST_TIMEOUT';
        message = `the request did not arrive in time (headers ${config.http.headersTimeoutMs} ms, whole request ${config.http.requestTimeoutMs} ms)`;
      } else if (err.code === 'HPE_HEADER_OVERFLOW') {
        status = 431;
        code = 'HEADERS_TOO_LARGE';
        message = 'request headers (or the URL) too large';
      } else chargePeer(socket.remoteAddress);
      if (socket.writable) socket.end(rawError(status, code, message));
      socket.destroySoon();
    },
    // Errors the router raises before any hook: the same shape, and they cost the caller's IP like any request.
    frameworkErrors: (err, req, res) => {
      const reply = res as unknown as FastifyReply;
      if (chargePeer(req.ip)) {
        void reply
          .code(429)
          .header('retry-after', '1')
          .send({ code: 'RATE_LIMITED', message: 'rate limit exceeded' });
        return;
      }
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void reply
        .code(tooLong ? 414 : 400)
        .send(
          tooLong
            ? { code: 'URI_TOO_LONG', message: 'a path parameter is longer than 200 characters' }
            : { code: 'INVALID_REQUEST', message: 'malformed URL (bad percent-encoding)' },
        );
    },
    // Idle keep-alive sockets close with the server, so shutdown never waits on a client that sends nothing.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Route params and querystrings are bounded too (a 100 kB URL is not a request).
    routerOptions: { maxParamLength: 200 },
  });
  const app = base.withTypeProvider<TypeBoxTypeProvider>() as unknown as App;
  app.setValidatorCompiler(TypeBoxValidatorCompiler);

  const ws = new WsGateway(service, config, keys, ipLimiter, metrics);
  metrics.attach({
    insuranceFunds: () =>
      service.insuranceFunds().map((f) => ({ asset: f.asset, balance: Number(f.balance) })),
    seq: () => service.engine.seq,
    pending: () => service.journal.pending,
    wsClients: () => ws.clientCount,
    wsDelivered: () => service.hub.delivered,
  });

  // Per-peer connection cap: a socket beyond it is answered 503 and closed before it can hold anything. It
  // counts TCP peers (behind a proxy, the proxy: raise the cap or let the proxy enforce one).
  const connections = new Map<string, number>();
  const maxConns = config.http.maxConnectionsPerIp;
  if (maxConns > 0) {
    app.server.on('connection', (socket: Socket) => {
      const ip = normalizeIp(socket.remoteAddress ?? '');
      const n = (connections.get(ip) ?? 0) + 1;
      if (n > maxConns) {
        socket.on('error', () => {});
        socket.end(
          rawError(
            503,
            'TOO_MANY_CONNECTIONS',
            `at most ${maxConns} connections per address`,
            'Retry-After: 1\r\n',
          ),
          () => socket.destroy(),
        );
        return;
      }
      connections.set(ip, n);
      socket.once('close', () => {
        const left = (connections.get(ip) ?? 1) - 1;
        if (left <= 0) connections.delete(ip);
        else connections.set(ip, left);
      });
    });
  }

  const controls: ServerControls = {
    connections,
    wsClientsFrom: (ip) => ws.clientsFrom(ip),
    reloadKeys: () => {
      if (!opts.loadKeys)
        throw new ApiError(409, 'INVALID_REQUEST', 'no configuration file to reload keys from');
      const list = opts.loadKeys();
      const revoked = keys.reload(list, service.now());
      ws.revokeKeys(revoked);
      return { keys: keys.size, revoked };
    },
  };
  app.decorate('ringfence', controls);
  const exposure = {
    docs: exposureOf(config.docs, config.host),
    metrics: exposureOf(config.metrics, config.host),
  };

  app.decorateRequest('rawBody', '');
  app.decorateRequest('jsonError', null);
  app.decorateRequest('principal', null);

  // JSON is the only body type. The raw text is kept for the signature; malformed JSON is answered only after the
  // request is authenticated (an unsigned client learns nothing about the route first).
  app.removeAllContentTypeParsers();
  const secureJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    req.rawBody = text;
    if (text.length === 0) {
      done(null, undefined);
      return;
    }
    secureJson(req, text, (err: Error | null, value?: unknown) => {
      if (err) {
        req.jsonError = err.message;
        done(null, undefined);
      } else done(null, value);
    });
  });

  /** Authenticates and charges a request (throws the answer when it is refused); the preValidation hook. */
  const admit = (req: FastifyRequest): void => {
    const cfg = req.routeOptions.config;
    // swagger-ui's routes (registered by the plugin) follow the docs exposure setting.
    const auth =
      cfg.auth ??
      (exposure.docs === 'admin' && req.routeOptions.url?.startsWith('/docs') ? 'admin' : 'public');
    if (auth === 'public') {
      const b = ipLimiter.take(req.ip, service.now(), cfg.cost ? cfg.cost(req) : 1);
      if (b) throw rateLimited(b);
    } else {
      const h = req.headers;
      const now = service.now();
      let p: Principal;
      try {
        p = keys.verify(
          {
            key: header(h[HEADER_KEY]),
            timestamp: header(h[HEADER_TIMESTAMP]),
            signature: header(h[HEADER_SIGNATURE]),
            method: req.method,
            url: req.url,
            body: req.rawBody,
            ip: req.ip,
          },
          now,
        );
      } catch (e) {
        // A failed authentication costs the caller's IP a token: guessing and garbage get 429 like any flood,
        // while correctly signed requests from the same IP are charged to their key only.
        if (e instanceof ApiError && e.status === 401) {
          const b = ipLimiter.take(req.ip, now);
          if (b) throw rateLimited(b);
        }
        throw e;
      }
      if (auth !== 'key') requireScope(p, auth);
      req.principal = p;
    }
    if (req.jsonError !== null)
      throw new ApiError(400, 'INVALID_JSON', `malformed JSON body: ${req.jsonError}`);
  };
  // A callback hook, not an async one: no promise and no extra tick per request.
  app.addHook('preValidation', (req, _reply, done) => {
    let refused: Error | undefined;
    try {
      admit(req);
    } catch (e) {
      refused = e as Error;
    }
    done(refused);
  });

  // Reads say the seq the engine had applied when they were handled (`x-rf-seq`: the answer holds every command up
  // to it). Writes to a process that is not the leader (a standby, a read replica: ha/) are redirected to the leader
  // the lease names (307: the client re-sends the same signed request there), or refused (503 NOT_LEADER).
  app.addHook('onRequest', (req, reply, done) => {
    const m = req.method;
    if (m === 'GET' || m === 'HEAD') {
      void reply.header(SEQ_HEADER, String(service.engine.seq));
      done();
      return;
    }
    const refusal = service.leading ? null : service.writeRefusal();
    if (refusal === null || m === 'OPTIONS' || !isWrite(req.routeOptions.url)) {
      done();
      return;
    }
    const leader = refusal.leader ?? null;
    if (leader !== null && leader.url !== '') {
      void reply
        .code(307)
        .header('location', leader.url.replace(/\/+$/, '') + req.url)
        .send(refusal.body());
    } else void reply.code(503).header('retry-after', '1').send(refusal.body());
  });

  // A callback hook, not an async one: no promise per request for a counter.
  app.addHook('onResponse', (req, reply, done) => {
    metrics.countHttp(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode);
    done();
  });

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    let e = toApiError(err);
    // An oversized body never reaches the hooks: it still costs the IP a token, so a flood of them is limited.
    if (e.code === 'PAYLOAD_TOO_LARGE') {
      const b = ipLimiter.take(req.ip, service.now());
      if (b) e = rateLimited(b);
    }
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    if (e.status === 429) void reply.header('retry-after', String(retryAfterSeconds(e.retryAfterMs)));
    void reply.code(e.status).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .send({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  if (exposure.docs !== 'off') {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'ringfence',
          version: '0.1.0',
          description:
            'Isolated-margin clearing and risk engine. Decimals are strings. Private routes need a signed request: ' +
            `${HEADER_KEY}, ${HEADER_TIMESTAMP} (ms) and ${HEADER_SIGNATURE} = hex HMAC-SHA256(secret, ` +
            '"<timestamp>\\n<METHOD>\\n<path?query>\\n<raw body>"). Errors are {code, message}.',
        },
        components: {
          securitySchemes: {
            apiKey: { type: 'apiKey', in: 'header', name: HEADER_KEY },
            timestamp: { type: 'apiKey', in: 'header', name: HEADER_TIMESTAMP },
            signature: { type: 'apiKey', in: 'header', name: HEADER_SIGNATURE },
          },
        },
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  }
  await app.register(websocket, {
    options: { maxPayload: config.ws.maxPayloadBytes },
    // Clients are closed by the gateway on shutdown (with a reason), before the server stops.
    preClose: (done) => {
      ws.closeAll();
      done();
    },
  });

  const ctx: RouteContext = {
    service,
    config,
    keys,
    metrics,
    ws,
    exposure,
    controls,
    account: (req, requested) => {
      if (!req.principal) throw new ApiError(401, 'UNAUTHORIZED', 'signed request required');
      return actingAccount(req.principal, requested);
    },
  };
  registerPublicRoutes(app, ctx);
  registerSeriesRoutes(app, ctx);
  registerAccountRoutes(app, ctx);
  registerTradeRoutes(app, ctx);
  registerSiloRoutes(app, ctx);
  registerVaultRoutes(app, ctx);
  registerOptionRoutes(app, ctx);
  registerShardRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerMonitorRoutes(app, ctx);
  registerOpsRoutes(app, ctx);
  ws.register(app);
  if (config.webApp) await registerWebApp(app);
  return app;
}

/** The response header that says which seq a read saw (every GET). */
export const SEQ_HEADER = 'x-rf-seq';

/**
 * POST/PUT/DELETE routes that change nothing in the journal and so are served by any process: the calculator, an
 * account's alert levels (kept in memory by each process), reloading this process's keys.
 */
const LOCAL_WRITES = new Set(['/api/v1/calc', '/api/v1/alerts', '/api/v1/admin/keys/reload']);

/** Whether a non-GET request to this route changes the journal (goes to the leader). */
function isWrite(route: string | undefined): boolean {
  if (!route?.startsWith('/api/')) return false;
  return !LOCAL_WRITES.has(route);
}

/** fastify's request logging without the two lines every successful request writes; errors are still logged. */
class QuietRequests extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
    metadata?: Record<string, unknown>,
  ): void {
    if (error) super.requestCompleted(error, request, reply, metadata);
  }
}

/** Whether fastify logs every request (at levels that ask for that much detail: debug and trace). */
export function logsRequests(logger: FastifyBaseLogger | undefined): boolean {
  return logger !== undefined && (logger.level === 'debug' || logger.level === 'trace');
}

/** Retry-After in whole seconds (at least 1: `0` would invite an immediate retry that fails again). */
export function retryAfterSeconds(ms: number | undefined): number {
  return Math.max(1, Math.ceil((ms ?? 1_000) / 1_000));
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? undefined : v;
}

/** Any error → the status and `{code, message}` the client sees. */
export function toApiError(err: FastifyError | ApiError | Error): ApiError {
  if (err instanceof ApiError) return err;
  const fe = err as FastifyError;
  if (fe.validation) {
    return new ApiError(
      400,
      'INVALID_REQUEST',
      describeIssues(fe.validationContext ?? 'request', (fe.validation ?? []) as ValidationIssue[]),
    );
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, 'PAYLOAD_TOO_LARGE', 'request body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send JSON (content-type: application/json)');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError(400, 'INVALID_JSON', fe.message);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(400, 'INVALID_REQUEST', 'content-length does not match the body');
    default:
      break;
  }
  const status = fe.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const code = status === 404 ? 'NOT_FOUND' : status === 405 ? 'METHOD_NOT_ALLOWED' : 'INVALID_REQUEST';
    return new ApiError(status, code, fe.message);
  }
  return new ApiError(500, 'INTERNAL', 'internal error');
}
