/**
 * The live demo's HTTP client: signed requests (src/service/auth.ts's `signedHeaders`) over a small pool of
 * keep-alive connections, each with a deadline. It never throws: every answer — a 4xx rejection is normal trading
 * life, a 5xx or a dropped connection is not — comes back as `{status, json, code}` and is counted by code; the
 * demo reads the counts for its status line and logs each at debug.
 */
import { Agent, request } from 'node:http';
import { signedHeaders } from './auth.ts';

export interface ApiKey {
  key: string;
  secret: string;
}

export interface ApiResult<T> {
  /** HTTP status; 0 when no answer came (connection refused or reset, deadline passed). */
  status: number;
  /** The parsed body on 200; null otherwise. */
  json: T | null;
  /** The error's `code` (`NETWORK` without an answer); null on 200. */
  code: string | null;
}

export interface DebugLog {
  debug(obj: object, msg: string): void;
}

/** Per-request deadline: a request still unanswered by then is abandoned and counted as `NETWORK`. */
const DEADLINE_MS = 5_000;

export class DemoApi {
  requests = 0;
  /** Refusals and failures by code (`INSUFFICIENT_MARGIN`, `RATE_LIMITED`, `NETWORK`, …). */
  readonly errors = new Map<string, number>();
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;
  /** Last timestamp signed per key: strictly increasing, so two identical requests never share a signature. */
  private readonly lastTs = new Map<string, number>();

  constructor(
    base: string,
    private readonly log: DebugLog,
    /** Connections at most: the service caps connections per address, and the browser shares this one. */
    maxSockets = 16,
  ) {
    const u = new URL(base);
    // A wildcard bind is reached on loopback.
    const h = u.hostname.replace(/^\[|\]$/g, '');
    this.host = h === '0.0.0.0' ? '127.0.0.1' : h === '::' ? '::1' : h;
    this.port = Number(u.port);
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  get errorCount(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }

  /** A request signed with `as` (unsigned when null); `path` includes the query string exactly as sent. */
  async call<T>(as: ApiKey | null, method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (as)
      Object.assign(headers, signedHeaders(as.key, as.secret, method, path, text, this.timestamp(as.key)));
    this.requests++;
    const r = await this.send(method, path, headers, text);
    if (r.status === 200) {
      try {
        return { status: 200, json: JSON.parse(r.body) as T, code: null };
      } catch {
        return this.fail(method, path, 200, 'INVALID_JSON', 'unparseable answer');
      }
    }
    let code = r.status === 0 ? 'NETWORK' : `HTTP_${r.status}`;
    let message = r.error ?? '';
    try {
      const e = JSON.parse(r.body) as { code?: unknown; message?: unknown };
      if (typeof e.code === 'string') code = e.code;
      if (typeof e.message === 'string') message = e.message;
    } catch {
      // not JSON: keep the status as the code
    }
    return this.fail(method, path, r.status, code, message);
  }

  close(): void {
    this.agent.destroy();
  }

  private fail<T>(method: string, path: string, status: number, code: string, message: string): ApiResult<T> {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
    this.log.debug({ method, path: path.split('?')[0], status, code, message }, 'demo: API refused');
    return { status, json: null, code };
  }

  private timestamp(key: string): number {
    const t = Math.max(Date.now(), (this.lastTs.get(key) ?? 0) + 1);
    this.lastTs.set(key, t);
    return t;
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    text: string,
  ): Promise<{ status: number; body: string; error?: string }> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (status: number, body: string, error?: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(error === undefined ? { status, body } : { status, body, error });
      };
      const req = request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          headers: text ? { ...headers, 'content-length': String(Buffer.byteLength(text)) } : headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => finish(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
          res.on('error', (e) => finish(0, '', e.message));
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        finish(0, '', `no answer in ${DEADLINE_MS} ms`);
      }, DEADLINE_MS);
      req.on('error', (e) => finish(0, '', e.message));
      req.end(text);
    });
  }
}
