/**
 * High availability on a JetStream journal: one leader writes, hot standbys follow and take over, read replicas
 * follow and serve reads. `HaNode` runs one process's part (`ringfence serve --role leader|standby|replica`).
 *
 * - Every process follows the journal (follower.ts) until it leads: its engine, streams and read model a few ms
 *   behind the leader's. Writes it is sent are answered 307 to the leader's URL (server.ts), or 503 NOT_LEADER.
 * - A candidate (`leader`, `standby`) watches the lease (lease.ts) every leaseMs/3. When the lease is free (expired,
 *   or released by a leader that shut down) it takes it, stops following, adopts the stream's end as its fence,
 *   catches its engine up to that end — the same checks — and accepts writes. `leader` tries from the start;
 *   `standby` only once it has run a whole lease, so that of two processes started together the leader wins (a
 *   preference, not a guarantee: whichever takes the lease leads). A `replica` never takes it.
 * - The leader steps down at once when its lease is lost (a failed renewal, a missed deadline) or a commit fails (the
 *   fence refused it: another writer took over; or anything else): writes are refused, the store aborts the append
 *   in flight so every pending command fails with 503 (none was acknowledged), the lease is released if still held,
 *   and the engine — ahead of the journal by those commands — is rebuilt from the store. Then it follows again, a
 *   candidate like any other.
 * - Transitions run one at a time (a chain); the lease's loss starts a step-down at once.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { JetStreamJournalStore, parseNatsUrl } from '../../journal/jetstream.ts';
import { type LeaderInfo, notLeader } from '../errors.ts';
import type { HaState, Log, Service } from '../service.ts';
import { Follower } from './follower.ts';
import { Lease } from './lease.ts';

export type Role = 'leader' | 'standby' | 'replica';
export const ROLES: readonly Role[] = ['leader', 'standby', 'replica'];

export interface HaOptions {
  /** As configured (`ha.role`). */
  role: Role;
  /** The journal's `nats://…/<stream>` URL. */
  journalUrl: string;
  /** `ha.leaseMs`: the lease's TTL when this process creates its bucket. */
  leaseMs: number;
  /** Where clients send writes while this process leads (`ha.advertiseUrl`, else the bound address). */
  advertiseUrl: string;
  /** This process in the lease and in each batch's writer header (`ha.id`, else host, pid and a random suffix). */
  id: string;
  log: Log;
}

/** The default `ha.id`: unique per process start. */
export function processId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class HaNode implements HaState {
  /** This process's role now (a candidate that does not lead is a standby). */
  role: Role;
  /** The leader as the lease names it (this process while it leads); null when none is known. */
  leader: LeaderInfo | null = null;
  private follower: Follower | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private busy = false;
  private stopped = false;
  private readonly startedAt = performance.now();

  private constructor(
    private readonly service: Service,
    private readonly lease: Lease,
    private readonly opts: HaOptions,
  ) {
    this.role = opts.role === 'replica' ? 'replica' : 'standby';
  }

  /**
   * Starts one process's part on a service opened as a follower (`Service.open({follower: true, onWriterLost})`,
   * handing the writer's failures to `writerLost`): the lease, the follower, the watch.
   */
  static async start(service: Service, opts: HaOptions): Promise<HaNode> {
    const target = parseNatsUrl(opts.journalUrl);
    const replicas = await Lease.streamReplicas(target);
    const lease = await Lease.open(target, { leaseMs: opts.leaseMs, replicas, log: opts.log });
    const node = new HaNode(service, lease, opts);
    service.ha = node;
    service.refuseWrites(() => notLeader(node.leader, node.role));
    node.startFollower();
    node.watchTimer = setInterval(() => void node.watch(), Math.max(20, Math.floor(lease.ttlMs / 3)));
    void node.watch();
    return node;
  }

  /** The journal's last seq as last seen by the follower; null while leading. */
  get streamSeq(): number | null {
    if (this.role === 'leader') return null;
    return this.follower?.streamSeq ?? this.service.engine.seq;
  }

  /** The lease's TTL as the server enforces it (ms). */
  get leaseMs(): number {
    return this.lease.ttlMs;
  }

  /** A commit failed while leading (Service `onWriterLost`): step down. */
  writerLost(e: unknown): void {
    const why = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    this.demote(`a commit failed: ${why}`);
  }

  /**
   * Stops: no more watching or following; a leader gives its lease up once the service has flushed (call `release`
   * after closing the service), so a standby takes over without waiting it out.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    await this.follower?.stop();
    this.follower = null;
  }

  /** Releases the lease (if held) and closes its connection. */
  async release(): Promise<void> {
    await this.lease.release();
    await this.lease.close();
  }

  private enqueue(what: string, fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(async () => {
      if (this.stopped) return;
      this.busy = true;
      try {
        await fn();
      } catch (e) {
        this.opts.log.error({ err: e }, `${what} failed`);
      } finally {
        this.busy = false;
      }
    });
    this.chain = run;
    return run;
  }

  private startFollower(): void {
    if (this.stopped || this.follower) return;
    const store = this.service.journal.store;
    if (!(store instanceof JetStreamJournalStore))
      throw new Error('high availability needs a nats:// journal');
    const f = new Follower(this.service, store, this.opts.log, (e) => {
      if (this.follower !== f) return;
      this.follower = null;
      this.opts.log.error({ err: e }, 'the journal could not be followed; rebuilding the engine from it');
      void this.enqueue('rebuilding the follower', async () => {
        await this.service.rebuild(`rebuilding the engine from the journal (${e.message})`);
        this.startFollower();
      });
    });
    this.follower = f;
    f.start();
  }

  /** Every leaseMs/3 while not leading: who leads; a candidate takes a free lease. */
  private async watch(): Promise<void> {
    if (this.stopped || this.busy || this.role === 'leader') return;
    let holder: LeaderInfo | null;
    try {
      holder = await this.lease.read();
    } catch {
      return; // the servers are unreachable (or electing): try again next time
    }
    // (Read again after the await: a transition may have run meanwhile.)
    if (this.stopped || this.busy || this.service.leading) return;
    this.leader = holder;
    if (holder !== null || this.role === 'replica' || this.service.degraded !== null) return;
    if (this.opts.role === 'standby' && performance.now() - this.startedAt < this.lease.ttlMs) return;
    await this.enqueue('taking the lease', async () => {
      if (this.service.leading || this.lease.holding) return;
      const value: LeaderInfo = { id: this.opts.id, url: this.opts.advertiseUrl, since: Date.now() };
      let taken: boolean;
      try {
        taken = await this.lease.acquire(value, (why) => this.demote(`lease lost: ${why}`));
      } catch {
        return; // no answer: try again next time
      }
      if (taken) await this.promote(value);
    });
  }

  /** Holding the lease: stop following, adopt the journal's end, catch up to it, accept writes. */
  private async promote(value: LeaderInfo): Promise<void> {
    const t0 = performance.now();
    const log = this.opts.log;
    log.info({ id: value.id, revision: this.lease.revision }, 'took the leader lease; taking over');
    try {
      await this.follower?.stop();
      this.follower = null;
      const store = this.service.journal.store;
      if (!(store instanceof JetStreamJournalStore)) throw new Error('not a JetStream journal');
      store.writer = `${value.id}#${this.lease.revision}`;
      await store.adoptTail();
      // Whatever the follower had not applied yet, with the same checks: the engine must be the whole journal.
      for await (const p of store.readPages(this.service.engine.seq + 1)) this.service.followPage(p);
      const last = await store.lastSeq();
      if (this.service.engine.seq !== last)
        throw new Error(`caught up to seq ${this.service.engine.seq}, but the journal ends at seq ${last}`);
      const snapshots = await store.listSnapshots();
      // Nothing awaited from here on: the lease cannot be lost between this check and leading.
      if (!this.lease.holding) throw new Error('the lease was lost while taking over');
      this.service.lead(store, snapshots[0] ?? null);
      this.role = 'leader';
      this.leader = value;
      log.info(
        { seq: last, ms: Math.round(performance.now() - t0), url: value.url },
        'leading: accepting writes',
      );
    } catch (e) {
      log.error({ err: e }, 'taking over failed; giving the lease up');
      await this.lease.release();
      this.role = 'standby';
      await this.service.rebuild(`taking over failed (${(e as Error).message}); rebuilding from the journal`);
      this.startFollower();
    }
  }

  /**
   * No longer the writer (the lease lost, or a commit failed): writes refused and pending commands failed at once
   * (Service.stepDown, synchronously), then the lease released, the engine rebuilt, and following again.
   */
  private demote(why: string): void {
    if (this.role !== 'leader' && !this.lease.holding) return;
    const wasLeading = this.role === 'leader';
    this.role = 'standby';
    this.leader = null;
    this.opts.log.error({ why }, 'stepping down');
    const rebuilt = wasLeading
      ? this.service.stepDown(() => notLeader(this.leader, this.role), new LeaseLostError(why))
      : Promise.resolve();
    void this.enqueue('stepping down', async () => {
      await this.lease.release();
      await rebuilt;
      // A moment for another candidate to take the lease before this one is a candidate again.
      await sleep(this.lease.ttlMs / 3);
      this.startFollower();
    });
  }
}

/** Why a leader's pending commands failed: it lost the lease (or a commit failed) and stepped down. */
export class LeaseLostError extends Error {
  constructor(why: string) {
    super(`no longer the leader: ${why}`);
    this.name = 'LeaseLostError';
  }
}
