/**
 * API-key authentication: every private request is signed with HMAC-SHA256 over
 *
 *     `${timestamp}\n${METHOD}\n${path and query, as sent}\n${raw body}`
 *
 * with the key's secret, sent as lowercase hex in `x-rf-signature`, with `x-rf-key` and `x-rf-timestamp` (ms since
 * epoch). A request is accepted once: its timestamp must lie within the receive window of the server's clock, and
 * its signature must not have been seen within that window (so a captured request cannot be replayed). Each key
 * has its own replay cache, holding only requests its rate limit let through, so it stays within what that limit
 * allows in the window and one key cannot fill it for another. A WebSocket login signs `GET` and `/ws` with an empty
 * body the same way.
 *
 * Keys are bound to one account and carry scopes: `read` (own data), `trade` (own orders and margin), `admin`
 * (markets, prices, funds; acts for any account, including reserved ones such as the backstop '@insurance').
 * Each key has a token bucket; unauthenticated requests — and failed authentications, and WebSocket messages before a
 * login — share per-IP buckets.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { KeyConfig, RateLimit, Scope } from './config.ts';
import { ApiError } from './errors.ts';

export const HEADER_KEY = 'x-rf-key';
export const HEADER_TIMESTAMP = 'x-rf-timestamp';
export const HEADER_SIGNATURE = 'x-rf-signature';

/** The string a client signs. */
export function signaturePayload(timestamp: string, method: string, url: string, body: string): string {
  return `${timestamp}\n${method.toUpperCase()}\n${url}\n${body}`;
}

/** Client side: hex HMAC-SHA256 of the request (for tests, the bench and client code). */
export function sign(
  secret: string,
  timestamp: string | number,
  method: string,
  url: string,
  body = '',
): string {
  return createHmac('sha256', secret)
    .update(signaturePayload(String(timestamp), method, url, body))
    .digest('hex');
}

/** Headers for a signed request. */
export function signedHeaders(
  key: string,
  secret: string,
  method: string,
  url: string,
  body = '',
  timestamp: number = Date.now(),
): Record<string, string> {
  return {
    [HEADER_KEY]: key,
    [HEADER_TIMESTAMP]: String(timestamp),
    [HEADER_SIGNATURE]: sign(secret, timestamp, method, url, body),
  };
}

/** Who a verified request acts as. */
export interface Principal {
  key: string;
  /** The bound account (optional for admin keys). */
  account: string | null;
  scopes: ReadonlySet<Scope>;
  admin: boolean;
  bucket: TokenBucket;
}

/** A token bucket: `burst` tokens, refilled at `perSecond`; one request takes one. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    readonly limit: RateLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.last = now;
  }

  take(now: number, cost = 1): boolean {
    const dt = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.limit.burst, this.tokens + (dt * this.limit.perSecond) / 1000);
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Milliseconds until `cost` tokens are available (for Retry-After). */
  waitMs(cost = 1): number {
    return Math.max(0, Math.ceil(((cost - this.tokens) * 1000) / this.limit.perSecond));
  }
}

/**
 * One key's signatures seen within the receive window. A signature is needed only while its timestamp is acceptable,
 * i.e. until `timestamp + window` (afterwards the request is refused as expired anyway), so that is when its entry
 * goes — however far in the future the timestamp was. Entries sit in a min-heap by expiry and are popped from the
 * top as the clock passes them: a request pops only what has expired (O(log n) each), never scans the cache.
 *
 * Only requests that passed the key's rate limit are recorded, so a key holds at most what its bucket lets through
 * in the time an entry lives (at most two windows): `maxEntries` is that bound, and one key can never crowd out
 * another. Should it ever be reached, that key's requests are refused (429), never silently accepted.
 */
export class ReplayGuard {
  private readonly seen = new Set<string>();
  private readonly heap: { id: string; expires: number }[] = [];
  constructor(
    readonly windowMs: number,
    readonly maxEntries: number,
  ) {}

  /**
   * The cap for a key with this rate limit: a full bucket plus its refill over the two windows an entry can live
   * (recorded as early as `timestamp - window`, kept until `timestamp + window`), plus one for the boundary.
   */
  static capFor(limit: RateLimit, windowMs: number): number {
    return limit.burst + Math.ceil((limit.perSecond * 2 * windowMs) / 1000) + 1;
  }

  /** Whether the signature was already used (and is still within its window). */
  has(id: string, now: number): boolean {
    this.expire(now);
    return this.seen.has(id);
  }

  /** Records an accepted signature; throws 429 when the key's cache is full of live entries. */
  record(id: string, timestamp: number, now: number): void {
    this.expire(now);
    if (this.seen.has(id)) return;
    if (this.seen.size >= this.maxEntries)
      throw new ApiError(429, 'RATE_LIMITED', 'too many signed requests in the receive window');
    this.seen.add(id);
    this.push({ id, expires: timestamp + this.windowMs });
  }

  get size(): number {
    return this.seen.size;
  }

  /** Drops every entry whose timestamp has left the window (the top of the heap first). */
  private expire(now: number): void {
    const h = this.heap;
    while (h.length > 0 && h[0]!.expires < now) {
      this.seen.delete(h[0]!.id);
      // Remove the root: the last entry takes its place and sinks below any child that expires sooner.
      const last = h.pop()!;
      if (h.length === 0) break;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const c = l + 1 < h.length && h[l + 1]!.expires < h[l]!.expires ? l + 1 : l;
        if (h[c]!.expires >= last.expires) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
  }

  private push(e: { id: string; expires: number }): void {
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.expires <= e.expires) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = e;
  }
}

/**
 * Per-IP buckets for unauthenticated requests, failed authentications and WebSocket messages before a login;
 * bounded (the least recently seen IP is forgotten first).
 */
export class IpLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  constructor(
    readonly limit: RateLimit,
    readonly maxIps = 10_000,
  ) {}

  /** Charges one request to the IP's bucket; null if it had a token, else the (empty) bucket for Retry-After. */
  take(ip: string, now: number): TokenBucket | null {
    let b = this.buckets.get(ip);
    if (b) this.buckets.delete(ip);
    else {
      b = new TokenBucket(this.limit, now);
      if (this.buckets.size >= this.maxIps) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    }
    this.buckets.set(ip, b);
    return b.take(now) ? null : b;
  }
}

export interface SignedRequest {
  key: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  method: string;
  url: string;
  body: string;
}

const TIMESTAMP_RE = /^\d{1,16}$/;
const SIGNATURE_RE = /^[0-9a-f]{64}$/;

export class KeyRing {
  private readonly keys = new Map<string, { cfg: KeyConfig; principal: Principal; replay: ReplayGuard }>();

  constructor(
    keys: readonly KeyConfig[],
    defaultLimit: RateLimit,
    readonly recvWindowMs: number,
    now: number,
  ) {
    for (const k of keys) {
      const scopes = new Set(k.scopes);
      const limit = k.rateLimit ?? defaultLimit;
      this.keys.set(k.key, {
        cfg: k,
        principal: {
          key: k.key,
          account: k.account ?? null,
          scopes,
          admin: scopes.has('admin'),
          bucket: new TokenBucket(limit, now),
        },
        replay: new ReplayGuard(recvWindowMs, ReplayGuard.capFor(limit, recvWindowMs)),
      });
    }
  }

  get size(): number {
    return this.keys.size;
  }

  /** The replay cache of a key (each key has its own, bounded by its rate limit). */
  replayGuard(key: string): ReplayGuard | undefined {
    return this.keys.get(key)?.replay;
  }

  /**
   * Verifies a signed request and returns its principal; throws 401 for anything wrong (missing headers, unknown
   * key, stale or future timestamp, bad or reused signature). Every failure says the same thing about the secret:
   * nothing. The rate limit is charged only for correctly signed requests, so nobody can drain another key's bucket;
   * a replay is refused before the bucket is charged, and a signature is recorded only once the bucket accepted the
   * request (so a refused request can be sent again once the bucket refills).
   */
  verify(r: SignedRequest, now: number): Principal {
    if (!r.key || !r.timestamp || !r.signature)
      throw unauthorized(`signed request required: ${HEADER_KEY}, ${HEADER_TIMESTAMP}, ${HEADER_SIGNATURE}`);
    const entry = this.keys.get(r.key);
    if (!entry) throw unauthorized('unknown API key');
    if (!TIMESTAMP_RE.test(r.timestamp)) throw unauthorized(`${HEADER_TIMESTAMP} must be ms since epoch`);
    const ts = Number(r.timestamp);
    if (Math.abs(now - ts) > this.recvWindowMs)
      throw unauthorized(`request timestamp outside the receive window of ${this.recvWindowMs} ms`);
    const sig = r.signature.toLowerCase();
    if (!SIGNATURE_RE.test(sig)) throw unauthorized('signature must be 64 hex characters');
    const expected = Buffer.from(sign(entry.cfg.secret, r.timestamp, r.method, r.url, r.body), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) throw unauthorized('signature mismatch');
    if (entry.replay.has(sig, now)) throw unauthorized('signature already used (replayed request)');
    const p = entry.principal;
    if (!p.bucket.take(now)) throw rateLimited(p.bucket);
    entry.replay.record(sig, ts, now);
    return p;
  }
}

export function unauthorized(message: string): ApiError {
  return new ApiError(401, 'UNAUTHORIZED', message);
}

export function rateLimited(b: TokenBucket): ApiError {
  return new ApiError(429, 'RATE_LIMITED', `rate limit exceeded; retry in ${b.waitMs()} ms`);
}

/** Admin satisfies every scope (and may act for any account). */
export function requireScope(p: Principal, scope: Scope): void {
  if (p.admin || p.scopes.has(scope)) return;
  throw new ApiError(403, 'FORBIDDEN', `this API key lacks the ${scope} scope`);
}

/**
 * The account a request acts on: the key's own; a non-admin key naming another account is refused (403), an admin
 * key names any account (or falls back to its own bound account).
 */
export function actingAccount(p: Principal, requested: string | undefined): string {
  if (p.admin) {
    const a = requested ?? p.account;
    if (a === null) throw new ApiError(400, 'INVALID_REQUEST', 'admin keys must name the account');
    return a;
  }
  if (requested !== undefined && requested !== p.account)
    throw new ApiError(403, 'FORBIDDEN', 'this API key may only act for its own account');
  if (p.account === null) throw new ApiError(403, 'FORBIDDEN', 'this API key is bound to no account');
  return p.account;
}
