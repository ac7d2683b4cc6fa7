/**
 * The service's REST API, signed in the browser: `x-rf-signature` = hex HMAC-SHA256(secret,
 * "<timestamp>\n<METHOD>\n<path and query>\n<raw body>") with WebCrypto, as docs/service.md specifies. The secret
 * never leaves the page; it is kept in sessionStorage (this tab only), not in localStorage.
 */

export interface Credentials {
  key: string;
  secret: string;
}

/** An answer that was not 2xx: the service's `{code, message}`, or a network failure (`NETWORK`). */
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

const encoder = new TextEncoder();
const keyCache = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let k = keyCache.get(secret);
  if (!k) {
    k = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
    ]);
    keyCache.set(secret, k);
  }
  return k;
}

/** Whether this page can sign at all: WebCrypto exists only in a secure context (https, or localhost). */
export function canSign(): boolean {
  return typeof crypto !== 'undefined' && crypto.subtle !== undefined;
}

export async function sign(
  secret: string,
  timestamp: number,
  method: string,
  path: string,
  body: string,
): Promise<string> {
  const mac = await crypto.subtle.sign(
    'HMAC',
    await hmacKey(secret),
    encoder.encode(`${timestamp}\n${method}\n${path}\n${body}`),
  );
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Each signature is accepted once, so two identical requests in the same millisecond need different timestamps:
 * timestamps are strictly increasing per page.
 */
let lastTimestamp = 0;
export function nextTimestamp(): number {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return lastTimestamp;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export class Api {
  constructor(readonly credentials: Credentials | null) {}

  /** An unsigned request (public market data, the calculator). */
  async public<T>(method: Method, path: string, body?: unknown): Promise<T> {
    return this.send<T>(method, path, body, false);
  }

  /** A signed request (the key's account, or any account for an admin key with `?account=`). */
  async signed<T>(method: Method, path: string, body?: unknown): Promise<T> {
    return this.send<T>(method, path, body, true);
  }

  get<T>(path: string): Promise<T> {
    return this.signed<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.signed<T>('POST', path, body);
  }

  private async send<T>(method: Method, path: string, body: unknown, signed: boolean): Promise<T> {
    const raw = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (raw !== '') headers['content-type'] = 'application/json';
    if (signed) {
      const c = this.credentials;
      if (c === null) throw new ApiError(401, 'UNAUTHORIZED', 'log in with an API key first');
      const ts = nextTimestamp();
      headers['x-rf-key'] = c.key;
      headers['x-rf-timestamp'] = String(ts);
      headers['x-rf-signature'] = await sign(c.secret, ts, method, path, raw);
    }
    let res: Response;
    try {
      res = await fetch(path, { method, headers, body: raw === '' ? undefined : raw });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', `the service cannot be reached (${(e as Error).message})`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'INVALID_RESPONSE', `unexpected answer (${res.status})`);
    }
    if (!res.ok) {
      const b = (json ?? {}) as { code?: string; message?: string };
      throw new ApiError(res.status, b.code ?? 'ERROR', b.message ?? res.statusText, json);
    }
    return json as T;
  }
}

const STORE = 'ringfence.credentials';

/** Credentials from the URL fragment (`#key=…&secret=…`, what `serve --demo` prints), then this tab's session. */
export function loadCredentials(): Credentials | null {
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  const key = h.get('key');
  const secret = h.get('secret');
  if (key && secret) {
    // Out of the address bar and the history at once: a secret must not linger there.
    history.replaceState(null, '', location.pathname + location.search);
    saveCredentials({ key, secret });
    return { key, secret };
  }
  try {
    const s = sessionStorage.getItem(STORE);
    if (s === null) return null;
    const c = JSON.parse(s) as Partial<Credentials>;
    return typeof c.key === 'string' && typeof c.secret === 'string'
      ? { key: c.key, secret: c.secret }
      : null;
  } catch {
    return null;
  }
}

export function saveCredentials(c: Credentials | null): void {
  try {
    if (c === null) sessionStorage.removeItem(STORE);
    else sessionStorage.setItem(STORE, JSON.stringify(c));
  } catch {
    // Storage disabled: the session lasts as long as the page.
  }
}
