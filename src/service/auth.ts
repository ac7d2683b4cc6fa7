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
 * (markets, prices, funds; acts for any account, including reserved ones such as the backstop '@insurance'). A vault
 * manager's key (`vault` in its config) is bound to the vault's account `vault:<id>` and so acts as nothing else.
 * Each key has a token bucket; unauthenticated requests — and failed authentications, and WebSocket messages before a
 * login — share per-IP buckets.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { VAULT_PREFIX } from '../engine/vaults.ts';
import { type KeyConfig, parseInstant, type RateLimit, type Scope } from './config.ts';
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
  /** The bound account (optional for admin keys); `vault:<id>` for a vault manager's key. */
  account: string | null;
  /** The vault a manager's key is bound to (its account is `vault:<id>`); null for any other key. */
  vault: string | null;
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

  /** The cost of the last refused request (what Retry-After waits for). */
  private lastCost = 1;

  /**
   * Takes `cost` tokens (an expensive request costs more than one; a cost above the burst is charged as the whole
   * burst, so it can still pass with a full bucket).
   */
  take(now: number, cost = 1): boolean {
    const c = Math.min(Math.max(cost, 0), this.limit.burst);
    const dt = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.limit.burst, this.tokens + (dt * this.limit.perSecond) / 1000);
    if (this.tokens < c) {
      this.lastCost = c;
      return false;
    }
    this.tokens -= c;
    return true;
  }

  /** Milliseconds until `cost` tokens (by default: what the last refused request needed) are available. */
  waitMs(cost = this.lastCost): number {
    return Math.max(
      0,
      Math.ceil(((Math.min(cost, this.limit.burst) - this.tokens) * 1000) / this.limit.perSecond),
    );
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

  /** Charges a request (`cost` tokens) to the IP's bucket; null if it had them, else the bucket for Retry-After. */
  take(ip: string, now: number, cost = 1): TokenBucket | null {
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
    return b.take(now, cost) ? null : b;
  }
}

export interface SignedRequest {
  key: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  method: string;
  url: string;
  body: string;
  /** The client's address (after trustProxy), checked against the key's allow-list. */
  ip: string;
}

const TIMESTAMP_RE = /^\d{1,16}$/;
const SIGNATURE_RE = /^[0-9a-f]{64}$/;

interface KeyEntry {
  cfg: KeyConfig;
  principal: Principal;
  replay: ReplayGuard;
  /** ms since epoch; Infinity without an expiry. */
  expires: number;
  allow: BlockList | null;
}

/** The one answer for a key that does not exist and a signature that does not match (ids cannot be probed). */
const BAD_SIGNATURE = 'invalid API key or signature';
/** HMAC'd for an unknown key id, so a missing key costs the same time as an existing one. */
const DUMMY_SECRET = 'ringfence-no-such-key-0000000000000000000000000000';

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is 1.2.3.4. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

function blockListOf(cidrs: readonly string[]): BlockList {
  const b = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) b.addAddress(addr, type);
    else b.addSubnet(addr, Number(bits), type);
  }
  return b;
}

function allowed(list: BlockList, ip: string): boolean {
  const a = normalizeIp(ip);
  const family = isIP(a);
  if (family === 0) return false;
  return list.check(a, family === 6 ? 'ipv6' : 'ipv4');
}

export class KeyRing {
  private keys = new Map<string, KeyEntry>();

  constructor(
    keys: readonly KeyConfig[],
    readonly defaultLimit: RateLimit,
    readonly recvWindowMs: number,
    now: number,
  ) {
    this.keys = this.build(keys, now);
  }

  /**
   * Replaces the key list (a config reload). A key whose configuration is unchanged keeps its bucket and replay
   * cache — dropping the cache would let a request captured before the reload be replayed after it. Returns the ids
   * of the keys removed or changed: sessions logged in with them must end.
   */
  reload(keys: readonly KeyConfig[], now: number): string[] {
    const next = this.build(keys, now);
    const gone: string[] = [];
    for (const [id, old] of this.keys) {
      const fresh = next.get(id);
      if (fresh && JSON.stringify(fresh.cfg) === JSON.stringify(old.cfg)) next.set(id, old);
      else gone.push(id);
    }
    this.keys = next;
    return gone;
  }

  private build(keys: readonly KeyConfig[], now: number): Map<string, KeyEntry> {
    const out = new Map<string, KeyEntry>();
    for (const k of keys) {
      const scopes = new Set(k.scopes);
      const limit = k.rateLimit ?? this.defaultLimit;
      out.set(k.key, {
        cfg: k,
        principal: {
          key: k.key,
          account: k.vault !== undefined ? `${VAULT_PREFIX}${k.vault}` : (k.account ?? null),
          vault: k.vault ?? null,
          scopes,
          admin: scopes.has('admin'),
          bucket: new TokenBucket(limit, now),
        },
        replay: new ReplayGuard(this.recvWindowMs, ReplayGuard.capFor(limit, this.recvWindowMs)),
        expires: k.expiresAt === undefined ? Number.POSITIVE_INFINITY : (parseInstant(k.expiresAt) ?? 0),
        allow: k.allowIps ? blockListOf(k.allowIps) : null,
      });
    }
    return out;
  }

  get size(): number {
    return this.keys.size;
  }

  /** The replay cache of a key (each key has its own, bounded by its rate limit). */
  replayGuard(key: string): ReplayGuard | undefined {
    return this.keys.get(key)?.replay;
  }

  /** Whether a logged-in session's key is still the same, unexpired key (sessions end when it is not). */
  current(p: Principal, now: number): boolean {
    const e = this.keys.get(p.key);
    return e !== undefined && e.principal === p && now < e.expires;
  }

  /**
   * Verifies a signed request and returns its principal; throws 401 for anything wrong (missing headers, unknown
   * key, stale or future timestamp, bad or reused signature, expired key, address not allowed). An unknown key and a
   * wrong signature get the same answer after the same work, so key ids cannot be enumerated; only a correctly
   * signed request learns that its key expired or is not allowed from its address. The rate limit is charged only
   * for correctly signed requests, so nobody can drain another key's bucket; a replay is refused before the bucket
   * is charged, and a signature is recorded only once the bucket accepted the request (so a refused request can be
   * sent again once the bucket refills).
   */
  verify(r: SignedRequest, now: number): Principal {
    if (!r.key || !r.timestamp || !r.signature)
      throw unauthorized(`signed request required: ${HEADER_KEY}, ${HEADER_TIMESTAMP}, ${HEADER_SIGNATURE}`);
    if (!TIMESTAMP_RE.test(r.timestamp)) throw unauthorized(`${HEADER_TIMESTAMP} must be ms since epoch`);
    const ts = Number(r.timestamp);
    if (Math.abs(now - ts) > this.recvWindowMs)
      throw unauthorized(`request timestamp outside the receive window of ${this.recvWindowMs} ms`);
    const sig = r.signature.toLowerCase();
    if (!SIGNATURE_RE.test(sig)) throw unauthorized('signature must be 64 hex characters');
    // Own-property lookup only: a Map, so `__proto__` or `constructor` as a key id is just an unknown key.
    const entry = this.keys.get(r.key);
    const expected = Buffer.from(
      sign(entry?.cfg.secret ?? DUMMY_SECRET, r.timestamp, r.method, r.url, r.body),
      'hex',
    );
    const match = timingSafeEqual(expected, Buffer.from(sig, 'hex'));
    if (!entry || !match) throw unauthorized(BAD_SIGNATURE);
    if (entry.replay.has(sig, now)) throw unauthorized('signature already used (replayed request)');
    if (now >= entry.expires) throw unauthorized('API key expired');
    if (entry.allow && !allowed(entry.allow, r.ip))
      throw unauthorized('API key not allowed from this address');
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
  const wait = b.waitMs();
  return new ApiError(429, 'RATE_LIMITED', `rate limit exceeded; retry in ${wait} ms`, wait);
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
