/**
 * Every error leaves the service as an HTTP status and `{code, message}`. Engine rejections keep the engine's own
 * RejectCode; the service adds codes for what never reaches the engine (authentication, malformed input, limits).
 */
import type { RejectCode } from '../engine/types.ts';

export type ServiceErrorCode =
  | 'INVALID_JSON'
  | 'INVALID_REQUEST'
  | 'INVALID_INPUT'
  | 'TOO_MANY_DECIMALS'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'URI_TOO_LONG'
  | 'HEADERS_TOO_LARGE'
  | 'REQUEST_TIMEOUT'
  | 'TOO_MANY_CONNECTIONS'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNAVAILABLE'
  | 'NOT_LEADER'
  /** A shard asked to create a market another shard owns, or a transfer naming another shard as its source. */
  | 'MARKET_NOT_IN_SHARD'
  | 'WRONG_SHARD'
  | 'INTERNAL';

export type ErrorCode = RejectCode | ServiceErrorCode;

export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  /** For 429: how long to wait (ms); sent as `Retry-After` in whole seconds. */
  readonly retryAfterMs: number | undefined;
  /** DUPLICATE_CLIENT_ORDER_ID: the id of the open order that already has the clientOrderId (sent as `orderId`). */
  orderId: string | undefined;
  /** NOT_LEADER: the leader as its lease names it, null when none is known (sent as `leader`). */
  leader: LeaderInfo | null | undefined;
  constructor(status: number, code: ErrorCode, message: string, retryAfterMs?: number) {
    // No stack trace: an ApiError is an answer (a refusal, a limit), never a bug, and nothing reads its stack.
    // Capturing one costs microseconds per refusal — most of what a flood of rate-limited requests costs us.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
    this.orderId = undefined;
    this.leader = undefined;
  }

  /** The error body: `{code, message}`, plus `orderId` for a duplicate clientOrderId, `leader` for NOT_LEADER. */
  body(): { code: ErrorCode; message: string; orderId?: string; leader?: LeaderInfo | null } {
    return {
      code: this.code,
      message: this.message,
      ...(this.orderId !== undefined ? { orderId: this.orderId } : {}),
      ...(this.leader !== undefined ? { leader: this.leader } : {}),
    };
  }
}

/** Who holds the leader lease (src/service/ha/lease.ts): its id, where clients write, since when (ms). */
export interface LeaderInfo {
  id: string;
  url: string;
  since: number;
}

/** A write on a process that is not the leader: 503 NOT_LEADER naming the leader (null: none known). */
export function notLeader(leader: LeaderInfo | null, role: string): ApiError {
  const e = new ApiError(
    503,
    'NOT_LEADER',
    leader === null
      ? `this is a ${role}: writes go to the leader, and none holds the lease now`
      : `this is a ${role}: writes go to the leader at ${leader.url}`,
  );
  e.leader = leader;
  return e;
}

/**
 * HTTP status per engine rejection: 400 a malformed value, 404 something named does not exist, 409 the state does
 * not allow it now, 422 not enough money or margin (or a risk limit). A Record, so a new RejectCode fails to compile
 * until it is mapped here.
 */
export const REJECT_STATUS: Record<RejectCode, number> = {
  INVALID_COMMAND: 400,
  INVALID_QUANTITY: 400,
  INVALID_PRICE: 400,
  INVALID_AMOUNT: 400,
  PRICE_BAND: 400,
  UNKNOWN_MARKET: 404,
  UNKNOWN_ACCOUNT: 404,
  UNKNOWN_ASSET: 404,
  UNKNOWN_ORDER: 404,
  UNKNOWN_SILO: 404,
  UNKNOWN_VAULT: 404,
  UNKNOWN_TRANSFER: 404,
  // The same transfer id with other terms: a client or coordinator bug, never retried into a second transfer.
  TRANSFER_MISMATCH: 409,
  MARKET_EXISTS: 409,
  POSITION_OPEN: 409,
  NOT_ISOLATED: 409,
  REDUCE_ONLY_WOULD_INCREASE: 409,
  POST_ONLY_WOULD_TAKE: 409,
  FOK_NOT_FILLED: 409,
  NO_REFERENCE_PRICE: 409,
  BOOK_FULL: 409,
  ORACLE_PAUSED: 409,
  MARKET_CLOSED: 409,
  MARKET_NOT_FLAT: 409,
  SILO_EXISTS: 409,
  VAULT_EXISTS: 409,
  // Shares within their lock-up after the last deposit.
  VAULT_LOCKED: 409,
  // The silo's asset is fixed when it is created: naming another (or a market settled in another) conflicts with it.
  ASSET_MISMATCH: 409,
  // A retried place: the answer carries the original order's id (see commands.ts placeOrder).
  DUPLICATE_CLIENT_ORDER_ID: 409,
  // The service stamps commands with a time that never goes backwards; seeing this is a service bug.
  TIME_WENT_BACKWARDS: 409,
  // A stop-loss / take-profit the mark has already reached (Binance's -2021), or amended before it triggered.
  WOULD_TRIGGER_IMMEDIATELY: 409,
  TRIGGER_NOT_AMENDABLE: 409,
  INSUFFICIENT_BALANCE: 422,
  INSUFFICIENT_MARGIN: 422,
  CLOSE_RAISES_REQUIREMENT: 422,
  LEVERAGE_TOO_HIGH: 422,
  TOO_MANY_ORDERS: 422,
  LIMIT_EXCEEDED: 422,
  VAULT_LIMIT: 422,
};

export function rejection(code: RejectCode, message: string): ApiError {
  return new ApiError(isRejectCode(code) ? REJECT_STATUS[code] : 400, code, message);
}

/** Own properties only: `constructor` or `toString` is not a RejectCode. */
export function isRejectCode(code: string): code is RejectCode {
  return Object.hasOwn(REJECT_STATUS, code);
}

/** One issue of a schema validation (fastify's ajv and TypeBox report the same fields). */
export interface ValidationIssue {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * One line naming the field, the same for REST and WebSocket requests: `body.amount: must match pattern …`,
 * `body: unknown field "foo"`, `args: missing required "orderId"`.
 */
export function describeIssues(where: string, issues: readonly ValidationIssue[]): string {
  const extra = issues.find((i) => i.keyword === 'additionalProperties');
  if (extra) {
    const names = extra.params?.additionalProperties;
    const path = pathOf(where, extra.instancePath);
    return `${path}: unknown field${Array.isArray(names) && names.length > 1 ? 's' : ''} ${JSON.stringify(names)}`;
  }
  const required = issues.find((i) => i.keyword === 'required');
  if (required) {
    const names = required.params?.requiredProperties ?? required.params?.missingProperty;
    return `${pathOf(where, required.instancePath)}: missing required ${JSON.stringify(names)}`;
  }
  // The most specific issue: the deepest path; among equals, not the umbrella anyOf.
  const best = [...issues].sort(
    (a, b) =>
      (b.instancePath?.length ?? 0) - (a.instancePath?.length ?? 0) ||
      Number(a.keyword === 'anyOf') - Number(b.keyword === 'anyOf'),
  )[0];
  if (!best) return `${where}: invalid`;
  return `${pathOf(where, best.instancePath)}: ${best.message ?? 'invalid'}`;
}

function pathOf(where: string, instancePath: string | undefined): string {
  const p = (instancePath ?? '').split('/').filter(Boolean).join('.');
  return p ? `${where}.${p}` : where;
}
