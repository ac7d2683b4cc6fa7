/**
 * The live demo's way to the API: the project's typed client (src/client, published as clients/ts), one per key,
 * over a capped set of keep-alive connections (node:http), each request with a deadline. It never throws: every answer — a 4xx rejection
 * is normal trading life, a 5xx or a dropped connection is not — comes back as `{status, json, code}` and is counted
 * by code; the demo reads the counts for its status line and logs each at debug.
 */
import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { ApiError, type Credentials, RingfenceClient, ROUTES, type RouteName } from '../client/client.ts';

export type ApiKey = Credentials;

export interface ApiResult<T> {
  /** HTTP status (200 for every answer the client accepts); 0 when no answer came. */
  status: number;
  /** The parsed body of an accepted answer; null otherwise. */
  json: T | null;
  /** The error's `code` (`NETWORK`, `TIMEOUT` or `ABORTED` without an answer: the client's); null on success. */
  code: string | null;
}

export interface DebugLog {
  debug(obj: object, msg: string): void;
}

/** Per-request deadline, waiting for a connection included: an unanswered request is abandoned as `TIMEOUT`. */
const DEADLINE_MS = 5_000;

type Method<K extends RouteName> = RingfenceClient[K];
type Call<K extends RouteName> =
  Method<K> extends (...args: infer A) => Promise<infer R> ? { args: A; result: R } : never;

export class DemoApi {
  requests = 0;
  /** Refusals and failures by code (`INSUFFICIENT_MARGIN`, `RATE_LIMITED`, `TIMEOUT`, …). */
  readonly errors = new Map<string, number>();
  private readonly base: string;
  private readonly clients = new Map<string, RingfenceClient>();
  private readonly agent: Agent;
  private readonly fetch: typeof fetch;

  constructor(
    base: string,
    private readonly log: DebugLog,
    /** Connections at most: the service caps connections per address, and the browser shares this one. */
    maxSockets = 16,
  ) {
    const u = new URL(base);
    // A wildcard bind is reached on loopback.
    if (u.hostname === '0.0.0.0') u.hostname = '127.0.0.1';
    else if (u.hostname === '[::]') u.hostname = '[::1]';
    this.base = u.origin;
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    this.fetch = httpFetch(this.agent);
  }

  get errorCount(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }

  /** The client's method `route`, signed with `as` (public routes: null), with its own arguments. */
  async call<K extends RouteName>(
    as: ApiKey | null,
    route: K,
    ...args: Call<K>['args']
  ): Promise<ApiResult<Call<K>['result']>> {
    this.requests++;
    const client = this.client(as);
    const method = client[route] as (...a: unknown[]) => Promise<Call<K>['result']>;
    try {
      return { status: 200, json: await method.apply(client, args), code: null };
    } catch (e) {
      const err =
        e instanceof ApiError ? e : new ApiError(0, 'CLIENT', e instanceof Error ? e.message : String(e));
      this.errors.set(err.code, (this.errors.get(err.code) ?? 0) + 1);
      const { method: verb, path } = ROUTES[route];
      this.log.debug(
        { route, method: verb, path, status: err.status, code: err.code, message: err.message },
        'demo: API refused',
      );
      return { status: err.status, json: null, code: err.code };
    }
  }

  /** Drops the connections: requests in flight or waiting come back as `NETWORK`. */
  close(): void {
    this.agent.destroy();
  }

  private client(as: ApiKey | null): RingfenceClient {
    const id = as?.key ?? '';
    let c = this.clients.get(id);
    if (c === undefined) {
      c = new RingfenceClient({
        baseUrl: this.base,
        credentials: as,
        fetch: this.fetch,
        timeoutMs: DEADLINE_MS,
        // node:crypto's: WebCrypto's goes through the thread pool, which cost the demo as much as the request.
        hmac: (secret, message) => createHmac('sha256', secret).update(message).digest('hex'),
      });
      this.clients.set(id, c);
    }
    return c;
  }
}

/**
 * `fetch` over node:http, for the client: keep-alive connections, at most `maxSockets` of them (a request waits in
 * the agent's queue for one, under its own deadline). Not the global fetch: it has no cap on connections to an
 * origin, and in Node 20 (undici) it cost the demo about twice the CPU per request. It takes what the client sends:
 * a URL, a string body or none, and a signal; it answers the status and the body.
 */
function httpFetch(agent: Agent): typeof fetch {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init?.signal ?? null;
      if (signal?.aborted) return reject(signal.reason);
      if (input instanceof Request || (init?.body != null && typeof init.body !== 'string'))
        return reject(new TypeError('demo fetch: a URL and a string body only'));
      const body = init?.body ?? '';
      const headers = plainHeaders(init?.headers);
      if (body !== '') headers['content-length'] = String(Buffer.byteLength(body));
      const abort = () => {
        req.destroy();
        reject(signal?.reason);
      };
      const req = request(input, { method: init?.method ?? 'GET', headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          signal?.removeEventListener('abort', abort);
          const text = Buffer.concat(chunks);
          try {
            // No headers: the client reads none (and copying them costs a third of the Response again).
            resolve(
              new Response(text.length === 0 ? null : text, {
                status: res.statusCode ?? 0,
                statusText: res.statusMessage ?? '',
              }),
            );
          } catch (e) {
            reject(e); // a status a Response cannot have (a body on a 204, say): no answer the client can read
          }
        });
      });
      signal?.addEventListener('abort', abort, { once: true });
      req.on('error', (e) => {
        signal?.removeEventListener('abort', abort);
        reject(e);
      });
      req.end(body);
    });
}

/** The client's headers (a plain object) as they are; any other form through Headers. */
function plainHeaders(h: RequestInit['headers']): Record<string, string> {
  if (h === undefined) return {};
  if (h instanceof Headers || Array.isArray(h)) return Object.fromEntries(new Headers(h));
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k] = typeof v === 'string' ? v : v.join(', ');
  return out;
}
