/**
 * `POST /api/v1/transfers` through the router: moving free balance from one shard to another. The user signs
 * `POST /api/v1/transfers` with the body `{fromShard, toShard, asset, amount, transferId?}`; the router forwards that
 * request unchanged to the source shard (which checks that `fromShard` is its own name, debits the account into a
 * hold and answers `held`), then hands the transfer to the finisher (In on the target, Settle on the source) and
 * answers once it is done — `settled` (credited on the target) or `reverted` (back on the source) — or, when that
 * takes longer than the deadline, `held`: it finishes in the background, and the coordinator's resume loop finishes
 * it should this router die first. The answer is the transfer's state; `GET /api/v1/transfers` shows it later.
 */
import type { FinalAnswer } from './answer.ts';
import { PermanentRejection, type TransferCoordinator, type TransferView } from './coordinator.ts';
import { toView } from './http-port.ts';
import type { ShardConfig } from './router-config.ts';
import { callShard, type UpstreamRequest } from './upstream.ts';

export interface TransferContext {
  shards: ReadonlyMap<string, ShardConfig>;
  finisher: Pick<TransferCoordinator, 'finish'>;
  /** How long the answer waits for the second phase (the router's requestTimeoutMs). */
  waitMs: number;
  log: { warn(o: object, msg: string): void };
}

const bad = (status: number, code: string, message: string): FinalAnswer => ({
  status,
  json: { code, message },
  shard: null,
});

export async function routeTransfer(
  ctx: TransferContext,
  body: unknown,
  req: UpstreamRequest,
): Promise<FinalAnswer> {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const from = b.fromShard;
  const to = b.toShard;
  if (typeof from !== 'string' || typeof to !== 'string')
    return bad(400, 'INVALID_REQUEST', 'body: a transfer names its fromShard and toShard (shard names)');
  const source = ctx.shards.get(from);
  if (!source) return bad(404, 'UNKNOWN_SHARD', `body.fromShard: unknown shard ${JSON.stringify(from)}`);
  if (!ctx.shards.has(to))
    return bad(404, 'UNKNOWN_SHARD', `body.toShard: unknown shard ${JSON.stringify(to)}`);
  if (from === to) return bad(400, 'INVALID_REQUEST', 'body: fromShard and toShard are the same shard');

  // Phase one: the signed request, unchanged, to the source (ShardUnavailable propagates: 503 naming it).
  const res = await callShard(source, req);
  if (res.status < 200 || res.status >= 300) return { status: res.status, raw: res, shard: from };
  let held: TransferView;
  try {
    held = toView(JSON.parse(res.body.toString('utf8')), from);
  } catch {
    return bad(
      502,
      'SHARD_UNAVAILABLE',
      `shard ${from} answered the transfer with something that is not one`,
    );
  }
  if (held.fromShard === '') held.fromShard = from;
  if (held.toShard === '') held.toShard = to;

  const final = held.status === 'held' ? await finishWithin(ctx, held) : held;
  const status = final.status === 'settled' || final.status === 'reverted' ? final.status : 'held';
  return {
    status: 200,
    json: {
      transferId: held.transferId,
      status,
      account: held.account,
      asset: held.asset,
      amount: held.amount,
      fromShard: held.fromShard,
      toShard: held.toShard,
    },
    shard: from,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Pause between attempts while the answer waits (a shard failing over answers again within a lease). */
const RETRY_MS = 200;

/**
 * The coordinator's `finish`, tried again on a transient failure until the deadline; the held view when the
 * deadline passes first — the resume loop (this router's or another's) finishes it then.
 */
async function finishWithin(ctx: TransferContext, held: TransferView): Promise<TransferView> {
  const until = performance.now() + ctx.waitMs;
  let last: unknown = null;
  while (performance.now() < until) {
    const left = until - performance.now();
    let timer: NodeJS.Timeout | undefined;
    const attempt = ctx.finisher.finish(held);
    const r = await Promise.race([
      attempt.then(
        (v) => ({ v }),
        (e: unknown) => ({ e }),
      ),
      new Promise<null>((res) => {
        timer = setTimeout(() => res(null), left);
      }),
    ]);
    clearTimeout(timer);
    if (r === null) break;
    if ('v' in r) return r.v;
    last = r.e;
    // A permanent refusal of the settle itself is for an operator: waiting does not change it.
    if (r.e instanceof PermanentRejection) break;
    await sleep(Math.min(RETRY_MS, Math.max(0, until - performance.now())));
  }
  if (last !== null)
    ctx.log.warn(
      { transferId: held.transferId, err: String(last) },
      'transfer left held for the resume loop',
    );
  return held;
}
