/**
 * ShardPort over HTTP: the shard's admin routes for cross-shard transfers (issue 25's contract), signed with the
 * router's own admin key, each call under the router's deadline and sent to the shard's leader (callShard follows a
 * follower's 307 and tries the next URL when one refuses the connection).
 *
 * A 4xx is the shard's final word on the step (PermanentRejection), except those that say nothing about the transfer:
 * 401/403 (the router's key is not configured there: an operator's fix, not a reason to revert anyone's money), 408
 * and 429. A 5xx (503 NOT_LEADER during a failover, a degraded service) or no answer is transient: the coordinator
 * tries again.
 */
import { signedHeaders } from '../auth.ts';
import { PermanentRejection, type ShardPort, type TransferView } from './coordinator.ts';
import type { ShardConfig } from './router-config.ts';
import { callShardJson } from './upstream.ts';

const BASE = '/api/v1/admin/shard-transfers';
const TRANSIENT_4XX = new Set([401, 403, 408, 429]);
type TransferStatus = TransferView['status'];
const STATUSES: readonly TransferStatus[] = ['held', 'credited', 'aborted', 'settled', 'reverted'];

let lastTs = 0;
/** Strictly increasing signing timestamps: two identical calls in one millisecond must not share a signature. */
function nextTs(): number {
  lastTs = Math.max(Date.now(), lastTs + 1);
  return lastTs;
}

export class TransientFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientFailure';
  }
}

export class HttpShardPort implements ShardPort {
  readonly name: string;
  constructor(
    private readonly shard: ShardConfig,
    private readonly key: { key: string; secret: string },
    private readonly timeoutMs: number,
  ) {
    this.name = shard.name;
  }

  transferIn(t: {
    transferId: string;
    account: string;
    asset: string;
    amount: string;
    fromShard: string;
  }): Promise<TransferView> {
    return this.post('/in', t).then((j) => toView(j, this.name));
  }

  abort(t: { transferId: string; fromShard: string }): Promise<TransferView> {
    return this.post('/abort', t).then((j) => toView(j, this.name));
  }

  settle(t: { transferId: string; outcome: 'credited' | 'aborted' }): Promise<TransferView> {
    return this.post('/settle', t).then((j) => toView(j, this.name));
  }

  async heldOut(): Promise<TransferView[]> {
    const j = await this.call('GET', `${BASE}?status=held`, null);
    if (!Array.isArray(j)) throw new TransientFailure(`${this.name}: held transfers: not a list`);
    return j.map((x) => toView(x, this.name));
  }

  private post(step: string, body: unknown): Promise<unknown> {
    return this.call('POST', BASE + step, JSON.stringify(body));
  }

  private async call(method: string, path: string, body: string | null): Promise<unknown> {
    const headers = signedHeaders(this.key.key, this.key.secret, method, path, body ?? '', nextTs());
    // ShardUnavailable (no answer in time, every URL refused) propagates: transient.
    const r = await callShardJson(this.shard, method, path, headers, body, this.timeoutMs);
    if (r.status >= 200 && r.status < 300) return r.json;
    const e = (typeof r.json === 'object' && r.json !== null ? r.json : {}) as {
      code?: unknown;
      message?: unknown;
    };
    const code = typeof e.code === 'string' ? e.code : `HTTP_${r.status}`;
    const message = `${this.name}: ${method} ${path}: ${r.status} ${typeof e.message === 'string' ? e.message : ''}`;
    if (r.status >= 400 && r.status < 500 && !TRANSIENT_4XX.has(r.status))
      throw new PermanentRejection(code, message);
    throw new TransientFailure(`${message} (${code})`);
  }
}

/** A shard's answer as a TransferView; fields the shard left empty (it does not know its own name) filled in. */
export function toView(x: unknown, self: string): TransferView {
  const o = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>;
  const str = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string') throw new TransientFailure(`${self}: a transfer answer without ${k}`);
    return v;
  };
  const status = str('status') as TransferStatus;
  if (!STATUSES.includes(status)) throw new TransientFailure(`${self}: unknown transfer status ${status}`);
  return {
    transferId: str('transferId'),
    account: str('account'),
    asset: str('asset'),
    amount: str('amount'),
    fromShard: typeof o.fromShard === 'string' ? o.fromShard : '',
    toShard: typeof o.toShard === 'string' ? o.toShard : '',
    status,
    ...(o.duplicate === true ? { duplicate: true } : {}),
  };
}
