/**
 * The second phase of a cross-shard transfer, driven directly: In on the target (a permanent rejection there →
 * Abort), then Settle on the source with the target's word. Every step is idempotent on the shards, so running it
 * twice — two routers, a retry, the coordinator's resume loop — moves no money twice.
 *
 * A stand-in for the lead's TransferCoordinator (coordinator.ts): the router takes any `TransferFinisher`, and this
 * one is what it uses until the coordinator lands. It retries transient failures for `patienceMs`, then gives the
 * transfer up to whoever resumes held transfers.
 */
import { PermanentRejection, type ShardPort, type TransferView } from './port.ts';

export interface TransferFinisher {
  /** Drives a held transfer to its end: the source shard's final view (settled or reverted). */
  finish(t: TransferView): Promise<TransferView>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DirectFinisher implements TransferFinisher {
  constructor(
    private readonly ports: ReadonlyMap<string, ShardPort>,
    private readonly patienceMs = 60_000,
    private readonly retryMs = 200,
  ) {}

  async finish(t: TransferView): Promise<TransferView> {
    const target = this.port(t.toShard);
    const source = this.port(t.fromShard);
    const until = performance.now() + this.patienceMs;
    let outcome: 'credited' | 'aborted';
    try {
      const v = await this.retry(until, () =>
        target.transferIn({
          transferId: t.transferId,
          account: t.account,
          asset: t.asset,
          amount: t.amount,
          fromShard: t.fromShard,
        }),
      );
      outcome = v.status === 'aborted' ? 'aborted' : 'credited';
    } catch (e) {
      if (!(e instanceof PermanentRejection)) throw e;
      // The target will never credit it (unknown asset there, …): recorded as aborted, so no later In can.
      const v = await this.retry(until, () =>
        target.abort({ transferId: t.transferId, fromShard: t.fromShard }),
      );
      outcome = v.status === 'credited' ? 'credited' : 'aborted';
    }
    return this.retry(until, () => source.settle({ transferId: t.transferId, outcome }));
  }

  private port(name: string): ShardPort {
    const p = this.ports.get(name);
    if (!p) throw new PermanentRejection('UNKNOWN_SHARD', `no shard ${JSON.stringify(name)}`);
    return p;
  }

  /** Runs a step until it answers, fails permanently, or the patience is spent (the last error is thrown). */
  private async retry(until: number, step: () => Promise<TransferView>): Promise<TransferView> {
    for (;;) {
      try {
        return await step();
      } catch (e) {
        if (e instanceof PermanentRejection || performance.now() + this.retryMs >= until) throw e;
      }
      await sleep(this.retryMs);
    }
  }
}
