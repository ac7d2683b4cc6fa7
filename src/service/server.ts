/**
 * The HTTP and WebSocket server (fastify 5): JSON only, strict schemas (TypeBox), signed requests, rate limits,
 * one error shape, OpenAPI at /docs, Prometheus at /metrics. `buildServer` wires a Service into a fastify instance
 * without listening, so tests drive it with `inject` or a real socket on port 0.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import {
  actingAccount,
  HEADER_KEY,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  IpLimiter,
  KeyRing,
  type Principal,
  rateLimited,
  requireScope,
} from './auth.ts';
import type { Scope, ServiceConfig } from './config.ts';
import { ApiError, describeIssues, type ValidationIssue } from './errors.ts';
import { Metrics } from './metrics.ts';
import { registerAccountRoutes } from './routes/account.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { registerOpsRoutes } from './routes/ops.ts';
import { registerPublicRoutes } from './routes/public.ts';
import { registerTradeRoutes } from './routes/trade.ts';
import type { Service } from './service.ts';
import { WsGateway } from './ws.ts';

export type App = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Which requests a route accepts: anyone (per-IP limits), or signed requests of a key with this scope. */
export type RouteAuth = 'public' | Scope;

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** The body exactly as received (what the signature covers); '' without a body. */
    rawBody: string;
    /** Set when the body was not valid JSON (answered after authentication). */
    jsonError: string | null;
    principal: Principal | null;
  }
}

export interface RouteContext {
  service: Service;
  config: ServiceConfig;
  keys: KeyRing;
  metrics: Metrics;
  ws: WsGateway;
  /** The account a signed request acts for (its key's, or the one an admin key names). */
  account(req: { principal: Principal | null }, requested: string | undefined): string;
}

export interface BuildOptions {
  /** A pino logger for fastify (default: none, as in tests). */
  logger?: FastifyBaseLogger;
  metrics?: Metrics;
}

const SECURITY = [{ apiKey: [], timestamp: [], signature: [] }];
export const signed = { security: SECURITY };

export async function buildServer(
  service: Service,
  config: ServiceConfig,
  opts: BuildOptions = {},
): Promise<App> {
  const base = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: config.bodyLimit,
    // Idle keep-alive sockets close with the server, so shutdown never waits on a client that sends nothing.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Route params and querystrings are bounded too (a 100 kB URL is not a request).
    routerOptions: { maxParamLength: 200 },
  });
  const app = base.withTypeProvider<TypeBoxTypeProvider>() as unknown as App;
  app.setValidatorCompiler(TypeBoxValidatorCompiler);

  const metrics = opts.metrics ?? service.metrics ?? new Metrics();
  const keys = new KeyRing(config.keys, config.rateLimit, config.recvWindowMs, service.now());
  const ipLimiter = new IpLimiter(config.publicRateLimit);
  const ws = new WsGateway(service, config, keys, ipLimiter, metrics);
  metrics.attach({
    insuranceFunds: () =>
      service.insuranceFunds().map((f) => ({ asset: f.asset, balance: Number(f.balance) })),
    seq: () => service.engine.seq,
    pending: () => service.journal.pending,
    wsClients: () => ws.clientCount,
    wsDelivered: () => service.hub.delivered,
  });

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

  app.addHook('preValidation', async (req) => {
    const auth = req.routeOptions.config.auth ?? 'public';
    if (auth === 'public') {
      const b = ipLimiter.take(req.ip, service.now());
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
      requireScope(p, auth);
      req.principal = p;
    }
    if (req.jsonError !== null)
      throw new ApiError(400, 'INVALID_JSON', `malformed JSON body: ${req.jsonError}`);
  });

  app.addHook('onResponse', async (req, reply) => {
    metrics.http.inc({
      route: req.routeOptions.url ?? 'unmatched',
      method: req.method,
      status: String(reply.statusCode),
    });
  });

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    const e = toApiError(err);
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    void reply.code(e.status).send({ code: e.code, message: e.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .send({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  if (config.docs) {
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
    account: (req, requested) => {
      if (!req.principal) throw new ApiError(401, 'UNAUTHORIZED', 'signed request required');
      return actingAccount(req.principal, requested);
    },
  };
  registerPublicRoutes(app, ctx);
  registerAccountRoutes(app, ctx);
  registerTradeRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerOpsRoutes(app, ctx);
  ws.register(app);
  return app;
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
