/**
 * Finishes cross-shard transfers (docs/sharding.md). A transfer is held on its source shard by the user's own
 * request (shardTransferOut); from there the coordinator asks the target to credit it (shardTransferIn) — or, if
 * the target refuses it for good, to record it as aborted (shardTransferAbort) — and tells the source the target's
 * answer (shardTransferSettle), which ships the hold out or returns it.
 *
 * It keeps nothing of its own: everything it needs is in the shards' journals, so any number of coordinators (one
 * per router) may run, crash and restart. `resume()` reads every shard's held transfers and finishes them; every
 * step is idempotent and the target's record of an id is final, so two coordinators finishing one transfer, or one
 * repeating a step whose answer it lost, cannot credit twice or both credit and revert.
 */

/** A transfer as a shard's admin routes answer it (its status on that shard). */
export interface TransferView {
  transferId: string;
  account: string;
  asset: string;
  amount: string;
  fromShard: string;
  toShard: string;
  status: 'held' | 'credited' | 'aborted' | 'settled' | 'reverted';
  duplicate?: boolean;
}

/** The shard refused the step for good (a 4xx: unknown asset, invalid account…): asking again cannot help. */
export class PermanentRejection extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One shard as the coordinator reaches it. Anything thrown other than a PermanentRejection counts as transient. */
export interface ShardPort {
  readonly name: string;
  transferIn(t: {
    transferId: string;
    account: string;
    asset: string;
    amount: string;
    fromShard: string;
  }): Promise<TransferView>;
  abort(t: { transferId: string; fromShard: string }): Promise<TransferView>;
  settle(t: { transferId: string; outcome: 'credited' | 'aborted' }): Promise<TransferView>;
  /** The transfers held on this shard (outgoing, not yet settled), oldest first. */
  heldOut(): Promise<TransferView[]>;
}

export interface CoordinatorLog {
  warn(obj: object, msg: string): void;
}

export interface ResumeReport {
  finished: TransferView[];
  /** Transfers left held: a shard unreachable, or a target this coordinator does not know. */
  pending: { transferId: string; fromShard: string; reason: string }[];
}

export class TransferCoordinator {
  private readonly ports = new Map<string, ShardPort>();
  /** Transfers being finished by this process, so concurrent callers share one attempt. */
  private readonly running = new Map<string, Promise<TransferView>>();
  private timer: NodeJS.Timeout | null = null;
  private resuming: Promise<ResumeReport> | null = null;

  constructor(
    ports: Iterable<ShardPort>,
    private readonly log: CoordinatorLog | null = null,
  ) {
    for (const p of ports) this.ports.set(p.name, p);
  }

  /**
   * Finishes one held transfer: its final status on the source, `settled` or `reverted`. Throws when a shard cannot
   * be reached (the transfer stays held; `resume` tries again).
   */
  finish(t: TransferView): Promise<TransferView> {
    const key = `${t.fromShard}/${t.transferId}`;
    let p = this.running.get(key);
    if (p === undefined) {
      p = this.drive(t).finally(() => this.running.delete(key));
      this.running.set(key, p);
    }
    return p;
  }

  private async drive(t: TransferView): Promise<TransferView> {
    const source = this.port(t.fromShard);
    const target = this.port(t.toShard);
    let answer: TransferView;
    try {
      answer = await target.transferIn({
        transferId: t.transferId,
        account: t.account,
        asset: t.asset,
        amount: t.amount,
        fromShard: t.fromShard,
      });
    } catch (err) {
      if (!(err instanceof PermanentRejection)) throw err;
      // The target will never take it: make that final there before the source returns the money, so a credit
      // still on its way (another coordinator's) cannot land after the revert.
      answer = await target.abort({ transferId: t.transferId, fromShard: t.fromShard });
      if (answer.status === 'aborted')
        this.log?.warn(
          { transferId: t.transferId, code: err.code, target: t.toShard },
          `transfer refused by ${t.toShard}: ${err.message}; reverting`,
        );
    }
    if (answer.status !== 'credited' && answer.status !== 'aborted')
      throw new Error(`${t.toShard} answered transfer ${t.transferId} with status ${answer.status}`);
    return source.settle({ transferId: t.transferId, outcome: answer.status });
  }

  private port(name: string): ShardPort {
    const p = this.ports.get(name);
    if (p === undefined) throw new UnknownShard(name);
    return p;
  }

  /** Finishes every transfer held on any shard (one pass; what fails stays held for the next). */
  resume(): Promise<ResumeReport> {
    // One pass at a time: a timer tick during a slow pass joins it.
    if (this.resuming === null)
      this.resuming = this.pass().finally(() => {
        this.resuming = null;
      });
    return this.resuming;
  }

  private async pass(): Promise<ResumeReport> {
    const report: ResumeReport = { finished: [], pending: [] };
    for (const port of this.ports.values()) {
      let held: TransferView[];
      try {
        held = await port.heldOut();
      } catch (err) {
        report.pending.push({ transferId: '*', fromShard: port.name, reason: reason(err) });
        continue;
      }
      for (const t of held) {
        try {
          report.finished.push(await this.finish(t));
        } catch (err) {
          report.pending.push({ transferId: t.transferId, fromShard: t.fromShard, reason: reason(err) });
        }
      }
    }
    return report;
  }

  /** Resumes every `everyMs` until `stop()` (a router runs this: a crash mid-transfer is finished by the next pass). */
  start(everyMs: number): void {
    if (this.timer !== null) return;
    const tick = () => {
      this.resume()
        .then((r) => {
          for (const p of r.pending)
            if (p.transferId !== '*')
              this.log?.warn(p, `transfer ${p.transferId} still held on ${p.fromShard}: ${p.reason}`);
        })
        .catch(() => {})
        .finally(() => {
          if (this.timer !== null) this.timer = setTimeout(tick, everyMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.resuming?.catch(() => {});
  }
}

/** A transfer names a shard this coordinator was not configured with: it stays held for an operator. */
export class UnknownShard extends Error {
  constructor(readonly shard: string) {
    super(`no shard ${shard} is configured here`);
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
