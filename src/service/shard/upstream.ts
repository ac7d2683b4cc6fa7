/**
 * Calls to one shard over HTTP: the shard's URLs in order (leader first), a 307 from a follower followed to the
 * leader it names, a refused connection tried on the next URL, and one deadline over all of it. The request goes
 * as received — method, path and query, the signed headers, the body's bytes — so the shard verifies the client's
 * signature itself.
 *
 * When a write may have reached a shard (the connection broke after it was sent, or the deadline passed) it is not
 * sent again: the outcome is unknown and the client, who holds the signed request, decides (a retry with the same
 * clientOrderId / transferId is refused as a duplicate if the first one was applied).
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { ShardConfig } from './router-config.ts';

export interface UpstreamRequest {
  method: string;
  /** Path and query exactly as the client sent (and signed) them. */
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
  /** performance.now() after which the call is given up. */
  deadline: number;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The origin that answered. */
  origin: string;
}

/** A shard could not be reached (every URL refused, or the deadline passed); `sent`: the request may have arrived. */
export class ShardUnavailable extends Error {
  constructor(
    readonly shard: string,
    readonly reason: string,
    readonly sent: boolean,
    readonly timedOut: boolean,
  ) {
    super(`shard ${shard} unavailable: ${reason}`);
    this.name = 'ShardUnavailable';
  }
}

/** Errors raised before any byte of the request could have reached the server. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ECONNABORTED',
]);
/** Redirects followed per call: a follower names the leader once; more is a loop. */
const MAX_REDIRECTS = 3;
/** An answer larger than this is refused (no shard route answers anywhere near it). */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/** Pooled connections to every shard (keep-alive); bounded per origin. */
const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 32 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 32 }),
};

/** Closes the pooled connections (shutdown, tests). */
export function closeUpstreamPools(): void {
  agents.http.destroy();
  agents.https.destroy();
}

class AttemptError extends Error {
  constructor(
    readonly code: string,
    readonly sent: boolean,
    readonly timedOut: boolean,
    readonly reused: boolean,
  ) {
    super(code);
  }
}

/** One HTTP exchange with one URL (a shard's origin and the request's path, or a redirect's Location). */
function attempt(target: string, req: UpstreamRequest): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const remaining = req.deadline - performance.now();
    if (remaining <= 0) {
      reject(new AttemptError('deadline', false, true, false));
      return;
    }
    const url = new URL(target);
    const origin = url.origin;
    const lib = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== null) headers['content-length'] = String(req.body.length);
    let sent = false;
    let settled = false;
    const r = lib.request(url, {
      method: req.method,
      headers,
      agent: url.protocol === 'https:' ? agents.https : agents.http,
    });
    const timer = setTimeout(() => {
      fail(new AttemptError('deadline', sent, true, r.reusedSocket));
    }, remaining);
    const fail = (e: AttemptError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      r.destroy();
      reject(e);
    };
    r.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? 'ERROR';
      fail(new AttemptError(code, sent && !NOT_CONNECTED.has(code), false, r.reusedSocket));
    });
    r.on('finish', () => {
      sent = true;
    });
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          fail(new AttemptError('response too large', true, false, false));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks), origin });
      });
      res.on('error', () => fail(new AttemptError('ECONNRESET', true, false, false)));
      res.on('aborted', () => fail(new AttemptError('ECONNRESET', true, false, false)));
    });
    r.end(req.body ?? undefined);
  });
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Sends the request to the shard: its URLs in order, following 307/308 to the leader, until one answers (any
 * status). Throws ShardUnavailable when none does within the deadline.
 */
export async function callShard(shard: ShardConfig, req: UpstreamRequest): Promise<UpstreamResponse> {
  const safe = SAFE.has(req.method);
  let next = 0;
  let target = shard.urls[next++]! + req.path;
  let redirects = 0;
  let retriedStale = false;
  let last = 'no URL';
  for (;;) {
    let res: UpstreamResponse;
    try {
      res = await attempt(target, req);
    } catch (e) {
      const a = e as AttemptError;
      last = `${new URL(target).origin}: ${a.code}`;
      if (a.timedOut) throw new ShardUnavailable(shard.name, `no answer in time (${last})`, a.sent, true);
      // A pooled connection the server had just closed: nothing was read by it, so it is sent once more.
      if (a.reused && a.code === 'ECONNRESET' && !retriedStale) {
        retriedStale = true;
        continue;
      }
      if (a.sent && !safe)
        throw new ShardUnavailable(shard.name, `connection lost after sending (${last})`, true, false);
      if (next < shard.urls.length) {
        target = shard.urls[next++]! + req.path;
        continue;
      }
      throw new ShardUnavailable(shard.name, last, false, false);
    }
    if ((res.status === 307 || res.status === 308) && redirects < MAX_REDIRECTS) {
      const to = redirectTarget(res.headers.location);
      if (to !== null) {
        redirects++;
        target = to;
        continue;
      }
    }
    return res;
  }
}

/**
 * A redirect's Location (the leader's advertised URL and the request's path, server.ts), null when it is not an
 * absolute http(s) URL.
 */
function redirectTarget(location: string | undefined): string | null {
  if (location === undefined) return null;
  try {
    const u = new URL(location);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** A JSON call with the router's deadline (discovery, health, the transfer port). */
export async function callShardJson(
  shard: ShardConfig,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | null,
  timeoutMs: number,
): Promise<{ status: number; json: unknown; headers: IncomingHttpHeaders }> {
  const h: Record<string, string> = { ...headers };
  if (body !== null) h['content-type'] = 'application/json';
  const res = await callShard(shard, {
    method,
    path,
    headers: h,
    body: body === null ? null : Buffer.from(body),
    deadline: performance.now() + timeoutMs,
  });
  let json: unknown = null;
  try {
    json = res.body.length === 0 ? null : JSON.parse(res.body.toString('utf8'));
  } catch {
    json = null;
  }
  return { status: res.status, json, headers: res.headers };
}
