/**
 * The leader lease: which process may write the journal. A JetStream KV bucket `<stream>-lease` beside the journal's
 * stream (same servers, same replicas) whose bucket TTL — the stream's max_age — is the lease (`ha.leaseMs`), and one
 * key, `leader`, whose value names the holder: `{id, url, since}` (`url`: where clients send writes).
 *
 * - Taken with `create`: refused while a live value exists. Renewed every leaseMs/3 with `update(key, value,
 *   lastRevision)`: refused if anyone else wrote the key since. On the server, a value expires leaseMs after it was
 *   written, and the key is free again.
 * - The holder's deadline is the moment it SENT its last successful renewal (or the create) plus 90% of the lease:
 *   the server's copy was written after that moment and lives a whole lease, so the holder always gives up before the
 *   key can be taken by anyone else. A failed renewal or a missed deadline loses the lease at once (`onLost`).
 * - The lease keeps one writer live at a time; the journal's safety does not rest on it. The stream's expected-
 *   sequence fence refuses a deposed writer's next append even if it still believes it holds the lease (a paused
 *   process, a partition).
 *
 * Durations are measured on the monotonic clock (performance.now): wall-clock jumps never stretch a lease.
 */
import { JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type NatsTarget, natsConnectOptions } from '../../journal/jetstream.ts';
import type { LeaderInfo } from '../errors.ts';
import type { Log } from '../service.ts';

export const LEASE_KEY = 'leader';
/** The holder gives up this fraction of the lease after sending its last successful renewal. */
const DEADLINE = 0.9;
/** nats-server: the key's last revision is not the one expected (a create on a live key, a stale update). */
const WRONG_LAST_SEQUENCE = 10071;

/** The lease's bucket for a journal stream. */
export const leaseBucket = (stream: string) => `${stream}-lease`;

export interface LeaseOptions {
  /** The lease: the bucket's TTL when this open creates it (an existing bucket keeps its own, with a warning). */
  leaseMs: number;
  /** Replicas of a bucket this open creates (the journal stream's). */
  replicas: number;
  log: Log;
}

interface Held {
  value: LeaderInfo;
  revision: number;
  /** performance.now() past which the lease counts as lost. */
  deadline: number;
}

export class Lease {
  readonly bucket: string;
  /** The lease as the server enforces it (the bucket's TTL), ms. */
  readonly ttlMs: number;
  private held: Held | null = null;
  private onLost: (why: string) => void = () => {};
  private renewTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    bucket: string,
    ttlMs: number,
    private readonly log: Log,
  ) {
    this.bucket = bucket;
    this.ttlMs = ttlMs;
  }

  /**
   * Connects (a connection of its own, so the lease outlives the journal store's reconnections and reopenings) and
   * creates or binds the bucket.
   */
  static async open(target: NatsTarget, opts: LeaseOptions): Promise<Lease> {
    const nc = await connect({
      ...natsConnectOptions(target, 10_000),
      name: 'ringfence-lease',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    try {
      const bucket = leaseBucket(target.stream);
      const kv = await new Kvm(nc).create(bucket, {
        ttl: opts.leaseMs,
        replicas: opts.replicas,
        history: 1,
        description: `ringfence leader lease of journal stream ${target.stream}`,
      });
      const ttlMs = (await kv.status()).ttl;
      if (ttlMs !== opts.leaseMs)
        opts.log.warn(
          { bucket, bucketMs: ttlMs, configuredMs: opts.leaseMs },
          'the lease bucket exists with another TTL: using the bucket’s (every process must agree on it)',
        );
      if (!(ttlMs > 0)) throw new Error(`lease bucket ${bucket} has no TTL: not a lease`);
      return new Lease(nc, kv, bucket, ttlMs, opts.log);
    } catch (e) {
      await nc.close().catch(() => {});
      throw e;
    }
  }

  /** The journal stream's replicas (a new lease bucket gets as many), through a short-lived connection. */
  static async streamReplicas(target: NatsTarget): Promise<number> {
    const nc = await connect(natsConnectOptions(target, 10_000));
    try {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      return (await jsm.streams.info(target.stream)).config.num_replicas;
    } finally {
      await nc.close().catch(() => {});
    }
  }

  /** Whether this process holds the lease (renewed in time). */
  get holding(): boolean {
    return this.held !== null;
  }

  /** The revision of the holder's value: its term (a new take, a new revision). */
  get revision(): number | null {
    return this.held?.revision ?? null;
  }

  /** The live value, or null when the key is free (expired, released or never taken). */
  async read(): Promise<LeaderInfo | null> {
    const e = await this.kv.get(LEASE_KEY);
    if (e === null || e.operation !== 'PUT') return null;
    try {
      const v = JSON.parse(e.string()) as Partial<LeaderInfo>;
      if (typeof v.id === 'string' && typeof v.url === 'string' && typeof v.since === 'number')
        return { id: v.id, url: v.url, since: v.since };
    } catch {
      // not ours: held by something unknown
    }
    return { id: '?', url: '', since: 0 };
  }

  /**
   * Takes the lease if it is free: true when taken (renewals start, `onLost` is called once if it is lost), false
   * when someone holds it. Throws when the server cannot answer (try again later).
   */
  async acquire(value: LeaderInfo, onLost: (why: string) => void): Promise<boolean> {
    if (this.held || this.closed) return this.held !== null;
    const sentAt = performance.now();
    let revision: number;
    try {
      revision = await this.kv.create(LEASE_KEY, JSON.stringify(value));
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE) return false;
      throw e;
    }
    this.onLost = onLost;
    this.held = { value, revision, deadline: sentAt + this.ttlMs * DEADLINE };
    this.armDeadline();
    this.scheduleRenewal(sentAt);
    return true;
  }

  /** Gives the lease up now (if still held): the key is deleted, so a standby can take it without waiting it out. */
  async release(): Promise<void> {
    const h = this.held;
    this.drop();
    if (!h) return;
    try {
      // Only if it is still ours: a lease already taken by another is not touched.
      await this.kv.delete(LEASE_KEY, { previousSeq: h.revision });
    } catch (e) {
      this.log.warn({ err: e }, 'releasing the lease failed (it expires by itself)');
    }
  }

  /** Stops renewing (without releasing) and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.drop();
    await this.nc.close().catch(() => {});
  }

  private drop(): void {
    this.held = null;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.renewTimer = null;
    this.deadlineTimer = null;
  }

  private lose(why: string): void {
    if (!this.held) return;
    this.drop();
    this.log.error({ bucket: this.bucket, why }, 'leader lease lost');
    this.onLost(why);
  }

  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    const h = this.held;
    if (!h) return;
    this.deadlineTimer = setTimeout(
      () => this.lose('renewal deadline missed'),
      Math.max(0, h.deadline - performance.now()),
    );
  }

  /** The next renewal a third of the lease after the last one was sent. */
  private scheduleRenewal(lastSentAt: number): void {
    const wait = Math.max(0, lastSentAt + this.ttlMs / 3 - performance.now());
    this.renewTimer = setTimeout(() => this.renew(), wait);
  }

  private renew(): void {
    const h = this.held;
    if (!h) return;
    const sentAt = performance.now();
    this.kv.update(LEASE_KEY, JSON.stringify(h.value), h.revision, this.ttlMs).then(
      (revision) => {
        if (this.held !== h) return;
        h.revision = revision;
        h.deadline = sentAt + this.ttlMs * DEADLINE;
        this.armDeadline();
        this.scheduleRenewal(sentAt);
      },
      (e: unknown) => {
        if (this.held === h) this.lose(`renewal failed: ${(e as Error).message}`);
      },
    );
  }
}
