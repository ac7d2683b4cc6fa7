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
import type { TransferFinisher } from './finish.ts';
import { toView } from './http-port.ts';
import type { TransferView } from './port.ts';
import type { ShardConfig } from './router-config.ts';
import { callShard, type UpstreamRequest } from './upstream.ts';

export interface TransferContext {
  shards: ReadonlyMap<string, ShardConfig>;
  finisher: TransferFinisher;
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

  let final = held;
  if (held.status === 'held') {
    const done = ctx.finisher.finish(held);
    // It runs on whether or not the answer waits for it.
    done.catch((e: unknown) =>
      ctx.log.warn({ transferId: held.transferId, err: String(e) }, 'transfer left held for the resume loop'),
    );
    let timer: NodeJS.Timeout | undefined;
    final = await Promise.race([
      done.catch(() => held),
      new Promise<TransferView>((r) => {
        timer = setTimeout(() => r(held), ctx.waitMs);
      }),
    ]);
    clearTimeout(timer);
  }
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
