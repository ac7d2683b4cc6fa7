/**
 * The router of issue 25: a stateless HTTP and WebSocket front for several shards. Everything it knows comes from
 * its config (each shard's name, URLs and market patterns) and from the shards; any number of routers can run side
 * by side. It never verifies a signature — the shard does, on the bytes the client signed, which the router
 * forwards unchanged — so the same key set is configured on every shard, and the router holds no user secret.
 *
 * Per request (resolve.ts decides which case): one shard's answer relayed with `x-rf-shard`; every shard's merged
 * (aggregate.ts); a cross-shard transfer's two phases (transfers.ts); or the router's own answer (`/health`,
 * `GET /api/v1/shards`, and errors: SHARD_REQUIRED, UNKNOWN_MARKET, CROSS_SHARD_COMBO, SHARD_UNAVAILABLE).
 */
import websocket from '@fastify/websocket';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { WebSocket } from 'ws';
import { HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../auth.ts';
import { fanOut, merge, PARTIAL_HEADER } from './aggregate.ts';
import { type FinalAnswer, send, unavailable } from './answer.ts';
import { TransferCoordinator } from './coordinator.ts';
import { Discovery } from './discovery.ts';
import { HttpShardPort } from './http-port.ts';
import { ShardMap } from './patterns.ts';
import { type Route, resolveRoute, SHARD_HEADER, SHARD_QUERY } from './resolve.ts';
import type { RouterConfig, ShardConfig } from './router-config.ts';
import { routeTransfer } from './transfers.ts';
import { callShard, ShardUnavailable, type UpstreamRequest } from './upstream.ts';
import { WsMux } from './ws-mux.ts';

export interface RouterOptions {
  logger?: FastifyBaseLogger;
}

export interface RouterParts {
  app: FastifyInstance;
  mux: WsMux;
  /** Finishes cross-shard transfers over the router's admin-key port to each shard. */
  coordinator: TransferCoordinator;
}

/** Headers a shard needs from the client: the signature's three and the body's type. */
const FORWARDED = [HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE, 'content-type'] as const;
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

const fail = (status: number, code: string, message: string): FinalAnswer => ({
  status,
  json: { code, message },
  shard: null,
});

export async function buildRouter(cfg: RouterConfig, opts: RouterOptions = {}): Promise<RouterParts> {
  const shards = new Map<string, ShardConfig>(cfg.shards.map((s) => [s.name, s]));
  const names = new Set(shards.keys());
  const map = new ShardMap(cfg.shards);
  const ports = cfg.shards.map((s) => new HttpShardPort(s, cfg.key, cfg.requestTimeoutMs));
  const discovery = new Discovery(cfg.shards, cfg.requestTimeoutMs);
  const mux = new WsMux(cfg, map, shards);

  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: cfg.bodyLimit,
    trustProxy: cfg.trustProxy,
    // A client's request must arrive within 30 s (a slow sender cannot hold a socket), like the service's default.
    requestTimeout: 30_000,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // The path is not parsed into parameters here: any length a shard accepts passes through.
    routerOptions: { maxParamLength: 8_192 },
    frameworkErrors: (_err, _req, res) => {
      void (res as unknown as FastifyReply)
        .code(400)
        .send({ code: 'INVALID_REQUEST', message: 'malformed URL (bad percent-encoding)' });
    },
  }) as unknown as FastifyInstance;
  const log = app.log;
  const coordinator = new TransferCoordinator(ports, log);

  // Bodies are kept as the bytes received: the signature covers them, and the shard checks it.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return reply.code(413).send({ code: 'PAYLOAD_TOO_LARGE', message: 'request body too large' });
    const status = err.statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'router request failed');
    return reply
      .code(status)
      .send(
        status >= 500
          ? { code: 'INTERNAL', message: 'internal error' }
          : { code: 'INVALID_REQUEST', message: err.message },
      );
  });

  await app.register(websocket, {
    options: { maxPayload: cfg.ws.maxPayloadBytes },
    preClose: (done) => {
      mux.closeAll();
      done();
    },
  });
  app.get('/ws', { websocket: true }, (socket: WebSocket, req: FastifyRequest) => mux.accept(socket, req.ip));

  app.get('/health', async () => ({
    status: 'ok',
    role: 'router',
    shards: cfg.shards.length,
    wsClients: mux.clientCount,
  }));
  app.get('/api/v1/shards', async () => discovery.status());

  const dispatch = async (req: FastifyRequest): Promise<FinalAnswer> => {
    const url = req.url;
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const query = new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1));
    const raw = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : null;
    const shardHeader = req.headers[SHARD_HEADER];
    if (Array.isArray(shardHeader)) return fail(400, 'INVALID_REQUEST', `one ${SHARD_HEADER} header at most`);
    const body = parseJson(raw, req.headers['content-type']);
    const route: Route = resolveRoute(
      {
        method: req.method,
        path,
        query,
        shardHeader,
        signed: typeof req.headers[HEADER_KEY] === 'string',
        body,
      },
      map,
      names,
    );
    const headers: Record<string, string> = { 'x-forwarded-for': req.ip };
    for (const h of FORWARDED) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const up: UpstreamRequest = {
      method: req.method,
      path: url,
      headers,
      body: raw,
      deadline: performance.now() + cfg.requestTimeoutMs,
    };
    switch (route.kind) {
      case 'error':
        return fail(route.status, route.code, route.message);
      case 'shard': {
        if (route.stripShardQuery) up.path = withoutShardQuery(url);
        const res = await callShard(shards.get(route.shard)!, up);
        return { status: res.status, raw: res, shard: route.shard };
      }
      case 'any':
        return anyShard(cfg.shards, up);
      case 'transfer':
        return routeTransfer({ shards, finisher: coordinator, waitMs: cfg.requestTimeoutMs, log }, body, up);
      case 'fanout': {
        const limit = Number(query.get('limit'));
        const m = merge(
          route.merge,
          route.newestFirst,
          Number.isInteger(limit) && limit > 0 ? limit : null,
          await fanOut(cfg.shards, up),
        );
        if (m.relayed) return { status: m.status, raw: m.relayed.res, shard: m.relayed.shard };
        return {
          status: m.status,
          json: m.body,
          shard: null,
          headers: m.partial.length > 0 ? { [PARTIAL_HEADER]: m.partial.join(',') } : {},
        };
      }
    }
  };

  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/*',
    handler: async (req, reply) => {
      let a: FinalAnswer;
      try {
        a = await dispatch(req);
      } catch (e) {
        if (!(e instanceof ShardUnavailable)) throw e;
        a = unavailable(e, !SAFE.has(req.method));
      }
      return send(reply, a);
    },
  });
  return { app, mux, coordinator };
}

/** A read any shard answers alike (`GET /api/v1/me`): the first shard that answers. */
async function anyShard(all: readonly ShardConfig[], up: UpstreamRequest): Promise<FinalAnswer> {
  let last: ShardUnavailable | null = null;
  for (const s of all) {
    try {
      const res = await callShard(s, up);
      if (res.status < 500) return { status: res.status, raw: res, shard: s.name };
      last = new ShardUnavailable(s.name, `status ${res.status}`, false, false);
    } catch (e) {
      if (!(e instanceof ShardUnavailable)) throw e;
      last = e;
    }
  }
  throw last ?? new ShardUnavailable('(none)', 'no shards', false, false);
}

/** The body as JSON when it is JSON (for its symbols); undefined otherwise — the shard judges it. */
function parseJson(raw: Buffer | null, type: string | undefined): unknown {
  if (raw === null || type === undefined || !/^application\/json\b/i.test(type)) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The URL without `shard=` in its query (an unsigned request may name its shard there; the shard would refuse it). */
export function withoutShardQuery(url: string): string {
  const qi = url.indexOf('?');
  if (qi < 0) return url;
  const kept = url
    .slice(qi + 1)
    .split('&')
    .filter((kv) => kv !== '' && kv.split('=')[0] !== SHARD_QUERY);
  return kept.length === 0 ? url.slice(0, qi) : `${url.slice(0, qi)}?${kept.join('&')}`;
}

export interface RunningRouter {
  app: FastifyInstance;
  coordinator: TransferCoordinator;
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Builds the router and listens (port 0: a free port); the coordinator resumes held transfers every
 * `resumeTransfersMs` (a router that died mid-transfer left them held on their source).
 */
export async function startRouter(cfg: RouterConfig, opts: RouterOptions = {}): Promise<RunningRouter> {
  const parts = await buildRouter(cfg, opts);
  await parts.app.listen({ host: cfg.host, port: cfg.port });
  if (cfg.resumeTransfersMs > 0) parts.coordinator.start(cfg.resumeTransfersMs);
  const addr = parts.app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : cfg.port;
  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  let closing: Promise<void> | null = null;
  return {
    app: parts.app,
    coordinator: parts.coordinator,
    url: `http://${host}:${port}`,
    port,
    close: () => {
      closing ??= (async () => {
        await parts.coordinator.stop();
        await parts.app.close();
      })();
      return closing;
    },
  };
}
