/**
 * The durable front of the engine: `Journal.submit(command)` applies a command and resolves once it is safe.
 *
 * - The command is encoded first (something msgpack cannot hold exactly is rejected before the engine sees it).
 *   The engine parses a command's fields into values of its own as it applies it, except `createMarket`, whose
 *   config objects the market keeps: that one is applied decoded from the journaled bytes, so that what the live
 *   engine holds is what a replay holds, whatever the caller does to its own object afterwards. (Decoding every
 *   command would cost about a microsecond each for nothing.)
 * - Rejected: the promise resolves at once with the rejection — nothing changed, nothing is journaled.
 * - Accepted: the record (seq, time, command, checksum, every `hashEvery` records the state hash) joins the open
 *   batch; the promise resolves only after the batch is durably committed. Group commit: the batch is committed at
 *   the end of the event-loop turn (setImmediate) or as soon as it reaches `maxBatch`, so one fsync covers every
 *   command that arrived in the turn. While an asynchronous store (PostgreSQL, SQLite on its writer thread)
 *   commits, the next batch keeps filling; and while it is idle, a batch is sent as soon as it holds `eagerBatch`
 *   records, so the store works while the engine keeps applying (the batch size adapts: small while the store
 *   keeps up, up to `maxBatch` while it is behind). A store that pipelines (`pipeline` > 1: JetStream, whose every
 *   append waits for a quorum's acknowledgement) takes that many batches in flight at once; they settle in seq
 *   order whatever order they are answered in.
 * - The engine runs ahead of the disk by at most the open batches: state read from it directly may include
 *   commands not yet durable (and a rejection may have been judged against them). Acknowledge clients and
 *   publish events only from resolved promises.
 * - A failed commit poisons the journal: the engine has applied commands that are not durable, so every pending
 *   and later submit rejects with a JournalWriteError; rebuild with `recover`/`Journal.open`. An engine that
 *   throws (a bug, not a rejection) halts it too: that submit and later ones reject; earlier ones still commit.
 *
 * Snapshots: every `snapshotEvery` commands (and on demand, `journal.snapshot()`) the engine's state is serialized
 * on the submit path (src/engine/snapshot.ts: the state at exactly that seq) and saved through the store once the
 * record of that seq is durable, so a snapshot never holds a command the journal lacks. The newest
 * `keepSnapshots` are kept. A snapshot that fails (to serialize or to save) is counted and reported, never
 * fatal: the records remain the system of record, recovery only replays more.
 *
 * `recover(store)` rebuilds an engine from the journal: every record's checksum and decoding are checked, seqs
 * must be consecutive (a gap is an error naming the missing seq), each command must be accepted with exactly its
 * recorded seq, and each recorded state hash must match. A torn or corrupt *tail* (invalid records with no valid
 * record after them: what a crash or a damaged last page leaves) is cut at the last valid record and reported in
 * the recovery report's `cut` and `log`; an invalid record with valid ones after it is an error (cutting there
 * would silently drop acknowledged history). With snapshots it starts from the newest usable one: its checksum
 * must hold and it must restore, or it is skipped for an older one or a full replay (logged); once restored, its
 * state hash must equal the one recorded with it (and the record's at that seq, if any) — a mismatch is an error
 * naming the seq. Library code never prints. Records are read a page of columns at a time where the store can
 * (`readPages`: SQLite), a record at a time otherwise; either way each gets the same checks (codec's checkRecordAt).
 */
import { Engine, type EngineOptions } from '../engine/engine.ts';
import { stateHash } from '../engine/hash.ts';
import { restoreEngine, snapshotEngine } from '../engine/snapshot.ts';
import type { ApplyResult, Command } from '../engine/types.ts';
import {
  checkRecord,
  checkRecordAt,
  decodeCommand,
  encodeCommand,
  makeRecord,
  makeSnapshotRecord,
  snapshotProblem,
} from './codec.ts';
import {
  JournalError,
  type JournalRecord,
  type JournalStore,
  type RecordPage,
  type SnapshotInfo,
  type SnapshotRecord,
} from './store.ts';

export interface JournalOptions {
  /** Largest batch per commit; a batch this big commits at once instead of at the end of the turn (default 4,096:
   * measured on the journal bench, bigger batches gain nothing on the fsync and lose to garbage collection). */
  maxBatch?: number;
  /**
   * With an asynchronous store and no commit in flight, a batch this large is committed at once instead of at the
   * end of the turn (default 256), so the commit overlaps the commands that follow it in the same turn.
   */
  eagerBatch?: number;
  /**
   * Record the state hash on every record whose seq is a multiple of this (0: never; default 100,000). Each one
   * hashes the whole state on the submit path (about 11 ms with 1,000 accounts and a few thousand resting orders;
   * it grows with the state), so keep it sparse on a large book.
   */
  hashEvery?: number;
  /**
   * Take a snapshot every this many commands (0: only on demand; default 100,000). Serializing the state runs on
   * the submit path (tens of ms for thousands of accounts and orders; it grows with the state), saving it after
   * its record commits.
   */
  snapshotEvery?: number;
  /** Snapshots kept in the store (default 3: a damaged newest one falls back to the one before). */
  keepSnapshots?: number;
  /**
   * Commits in flight at once with an asynchronous store (default: the store's `pipeline`, else 1). Above 1 the
   * next batch is sent while earlier ones await their acknowledgement (JetStream: a quorum's); they still settle
   * in seq order, and one that fails fails every later one.
   */
  maxInflight?: number;
}

export class JournalWriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JournalWriteError';
  }
}

interface Ack {
  resolve: (r: ApplyResult) => void;
  reject: (e: Error) => void;
  result: ApplyResult;
}

export interface JournalStats {
  /** Committed batches and records. */
  commits: number;
  records: number;
  /** Largest batch committed. */
  largestBatch: number;
  /** Snapshots saved, and those that failed to serialize or save (`lastSnapshotError` says why). */
  snapshots: number;
  snapshotErrors: number;
  lastSnapshotError: string | null;
  /** Milliseconds the last snapshot's serialization and state hash held the submit path. */
  lastSnapshotMs: number;
}

/**
 * The durations of the last `size` commits (one per batch appended, ms), in a ring allocated once: what the
 * service's journal health read reports (last, p50, p99) without a per-command cost.
 */
export class CommitTimes {
  private readonly ring: Float64Array;
  private count = 0;
  private next = 0;
  last: number | null = null;

  constructor(readonly size = 512) {
    this.ring = new Float64Array(size);
  }

  add(ms: number): void {
    this.ring[this.next] = ms;
    this.next = (this.next + 1) % this.size;
    if (this.count < this.size) this.count += 1;
    this.last = ms;
  }

  /** The q-quantile (0..1, nearest rank) of the commits in the window; null before the first. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const sorted = this.ring.slice(0, this.count).sort();
    return sorted[Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1))]!;
  }
}

interface PendingSnapshot {
  record: SnapshotRecord;
  resolve: (info: SnapshotInfo) => void;
  reject: (e: Error) => void;
}

export class Journal {
  readonly engine: Engine;
  readonly store: JournalStore;
  readonly maxBatch: number;
  readonly hashEvery: number;
  readonly eagerBatch: number;
  readonly snapshotEvery: number;
  readonly keepSnapshots: number;
  /** Whether the store's appends are asynchronous (known after the first one). */
  private asyncStore = false;
  readonly stats: JournalStats = {
    commits: 0,
    records: 0,
    largestBatch: 0,
    snapshots: 0,
    snapshotErrors: 0,
    lastSnapshotError: null,
    lastSnapshotMs: 0,
  };
  /** Highest seq known durable: the engine's at open, then each committed batch's last. */
  private durableSeq: number;
  /** How long the last commits took (the store's append, from the call to its completion). */
  readonly commitTimes = new CommitTimes();
  /** The newest snapshot in the store (at open: as listed; then each one saved); null: none. */
  lastSnapshot: SnapshotInfo | null = null;
  /** Snapshots taken, waiting for their seq to be durable (in seq order). */
  private snapshotsDue: PendingSnapshot[] = [];
  /** Snapshot saves run one after another, after the commits they depend on. */
  private snapshotChain: Promise<void> = Promise.resolve();
  private batch: JournalRecord[] = [];
  private acks: Ack[] = [];
  /** Batches waiting behind an in-flight asynchronous commit (each at most maxBatch). */
  private queued: { records: JournalRecord[]; acks: Ack[] }[] = [];
  /** The last commit in flight, settled in call order after every earlier one (null: none in flight). */
  private inflight: Promise<void> | null = null;
  private inflightCommits = 0;
  private inflightRecords = 0;
  /** Commits an asynchronous store may have in flight at once (its `pipeline`, default 1). */
  private readonly maxInflight: number;
  private scheduled = false;
  private failure: JournalWriteError | null = null;
  /** Set when the engine threw (a bug, not a rejection): later submits are refused, pending ones still commit. */
  private halted: Error | null = null;
  /** Set as soon as close() is called: from then on nothing new is applied, so what close() flushes is final. */
  private closing: Promise<void> | null = null;
  private readonly onTurn = () => {
    this.scheduled = false;
    this.flushBatch();
  };

  /** `engine` must be the state the store's records rebuild (`recover`), or fresh with an empty store. */
  constructor(engine: Engine, store: JournalStore, opts: JournalOptions = {}) {
    this.engine = engine;
    this.store = store;
    this.maxBatch = Math.max(1, Math.floor(opts.maxBatch ?? 4_096));
    this.hashEvery = Math.max(0, Math.floor(opts.hashEvery ?? 100_000));
    this.eagerBatch = Math.max(1, Math.floor(opts.eagerBatch ?? 256));
    this.snapshotEvery = Math.max(0, Math.floor(opts.snapshotEvery ?? 100_000));
    this.keepSnapshots = Math.max(1, Math.floor(opts.keepSnapshots ?? 3));
    this.durableSeq = engine.seq;
    this.maxInflight = Math.max(1, Math.floor(opts.maxInflight ?? store.pipeline ?? 1));
  }

  /** Recovers the store (cutting a torn tail) and opens a journal that continues it. */
  static async open(
    store: JournalStore,
    opts: JournalOptions & RecoverOptions = {},
  ): Promise<{ journal: Journal; report: RecoveryReport }> {
    const report = await recover(store, { ...opts, repair: true });
    const journal = new Journal(report.engine, store, opts);
    journal.lastSnapshot = (await store.listSnapshots())[0] ?? null;
    return { journal, report };
  }

  /** Applies `cmd`; resolves with the result once it is durable (accepted) or at once (rejected). */
  submit(cmd: Command): Promise<ApplyResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.halted) return Promise.reject(this.halted);
    if (this.closing) return Promise.reject(new Error('journal is closed'));
    let bytes: Uint8Array;
    try {
      bytes = encodeCommand(cmd);
    } catch (e) {
      return Promise.resolve({
        ok: false,
        code: 'INVALID_COMMAND',
        message: `command cannot be journaled: ${(e as Error).message}`,
      });
    }
    let r: ApplyResult;
    try {
      r = this.engine.apply(cmd.type === 'createMarket' ? decodeCommand(bytes) : cmd);
    } catch (e) {
      // Not a rejection: an engine bug, possibly mid-mutation. What was accepted before still commits; nothing
      // more is accepted, since the in-memory state can no longer be trusted to match the journal.
      this.halted = new Error(
        `engine threw applying ${String(cmd?.type)}: ${e instanceof Error ? e.message : String(e)}; journal halted: recover from the store`,
        { cause: e },
      );
      return Promise.reject(this.halted);
    }
    if (!r.ok) return Promise.resolve(r);
    const hash = this.hashEvery > 0 && r.seq % this.hashEvery === 0 ? stateHash(this.engine) : null;
    this.batch.push(makeRecord(r.seq, cmd.time, bytes, hash));
    if (this.snapshotEvery > 0 && r.seq % this.snapshotEvery === 0) this.capture(hash).catch(() => {});
    const p = new Promise<ApplyResult>((resolve, reject) => {
      this.acks.push({ resolve, reject, result: r });
    });
    if (this.batch.length >= this.maxBatch) this.flushBatch();
    // Eagerly only while the store is idle: with commits in flight the batch keeps filling to the end of the turn
    // (a pipelined store then takes it at once), so batches stay large (per-message costs dominate JetStream's).
    else if (this.asyncStore && this.inflightCommits === 0 && this.batch.length >= this.eagerBatch)
      this.flushBatch();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.onTurn);
    }
    return p;
  }

  /** The highest seq known durable (the engine's `seq` less `pending`, once every batch before it committed). */
  get committedSeq(): number {
    return this.durableSeq;
  }

  /**
   * A follower (src/service/ha) applied records read back from the store to the engine itself, up to `seq`: they
   * are durable. Only with nothing submitted through this journal.
   */
  followed(seq: number): void {
    this.durableSeq = seq;
  }

  /** Commands applied but not yet durable (open, queued and in-flight batches). */
  get pending(): number {
    let n = this.batch.length + this.inflightRecords;
    for (const q of this.queued) n += q.records.length;
    return n;
  }

  /** Commits the open batch now; resolves when everything submitted so far is durable (rejects if it failed). */
  async flush(): Promise<void> {
    this.flushBatch();
    while (this.inflight) await this.inflight;
    if (this.failure) throw this.failure;
  }

  /**
   * Takes a snapshot of the engine as it stands (at `engine.seq`) and resolves once it is saved, i.e. after the
   * record of that seq is durable. Rejects if the state cannot be serialized, the save fails, or the journal fails
   * first.
   */
  snapshot(): Promise<SnapshotInfo> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.halted) return Promise.reject(this.halted);
    if (this.closing) return Promise.reject(new Error('journal is closed'));
    const p = this.capture(null);
    this.flushBatch();
    return p;
  }

  /**
   * Refuses new submits and snapshots at once, flushes, waits for pending snapshot saves, then closes the store.
   * Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    try {
      await this.flush();
    } finally {
      // A snapshot not yet due (its commit failed) is dropped; those due are saved before the store closes.
      for (const s of this.snapshotsDue) s.reject(new Error('journal closed before the snapshot was saved'));
      this.snapshotsDue = [];
      await this.snapshotChain;
      await this.store.close();
    }
  }

  /** Serializes the state now (the engine is at the seq being snapshotted) and queues the save. */
  private capture(hash: string | null): Promise<SnapshotInfo> {
    let record: SnapshotRecord;
    try {
      const t0 = performance.now();
      const data = snapshotEngine(this.engine);
      const h = hash ?? stateHash(this.engine);
      record = makeSnapshotRecord(this.engine.seq, this.engine.lastTime, h, data);
      this.stats.lastSnapshotMs = performance.now() - t0;
    } catch (e) {
      this.snapshotFailed(e);
      return Promise.reject(e);
    }
    const p = new Promise<SnapshotInfo>((resolve, reject) => {
      this.snapshotsDue.push({ record, resolve, reject });
    });
    this.saveDueSnapshots();
    return p;
  }

  /** Saves (in order, one at a time) the snapshots whose seq is now durable, then prunes old ones. */
  private saveDueSnapshots(): void {
    while (this.snapshotsDue.length > 0 && this.snapshotsDue[0]!.record.seq <= this.durableSeq) {
      const s = this.snapshotsDue.shift()!;
      this.snapshotChain = this.snapshotChain.then(async () => {
        try {
          await this.store.saveSnapshot(s.record);
          await this.store.pruneSnapshots(this.keepSnapshots);
          this.stats.snapshots += 1;
          const r = s.record;
          const info = { seq: r.seq, time: r.time, stateHash: r.stateHash, bytes: r.data.length };
          this.lastSnapshot = info;
          s.resolve(info);
        } catch (e) {
          this.snapshotFailed(e);
          s.reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    }
  }

  private snapshotFailed(e: unknown): void {
    this.stats.snapshotErrors += 1;
    this.stats.lastSnapshotError = e instanceof Error ? e.message : String(e);
  }

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    const records = this.batch;
    const acks = this.acks;
    this.batch = [];
    this.acks = [];
    if (this.failure) {
      rejectAll(acks, this.failure);
      return;
    }
    if (this.inflightCommits >= this.maxInflight) this.queued.push({ records, acks });
    else this.commit(records, acks);
  }

  private commit(records: JournalRecord[], acks: Ack[]): void {
    const t0 = performance.now();
    let res: void | Promise<void>;
    try {
      res = this.store.append(records);
    } catch (e) {
      this.fail(e, acks);
      return;
    }
    if (res && typeof (res as Promise<void>).then === 'function') {
      this.asyncStore = true;
      this.inflightCommits += 1;
      this.inflightRecords += records.length;
      // A pipelined store may answer out of order; the journal settles commits in call order all the same, so the
      // durable seq only moves forward and acknowledgements go out in seq order.
      const before = this.inflight;
      // Observed below, possibly only after it settles: not an unhandled rejection meanwhile.
      (res as Promise<void>).catch(() => {});
      const settled = (before ? before.then(() => res) : (res as Promise<void>)).then(
        () => this.settle(records, acks, t0, null),
        (e: unknown) => this.settle(records, acks, t0, e ?? new Error('journal commit failed')),
      );
      this.inflight = settled;
      settled.then(() => {
        if (this.inflight === settled) this.inflight = null;
        this.drain();
      });
    } else {
      this.commitTimes.add(performance.now() - t0);
      this.committed(records, acks);
    }
  }

  /** One asynchronous commit's outcome, in call order (`error` null: it committed). */
  private settle(records: JournalRecord[], acks: Ack[], t0: number, error: unknown): void {
    this.inflightCommits -= 1;
    this.inflightRecords -= records.length;
    // An earlier commit failed: this one's outcome no longer matters (the store refuses what follows a failure).
    if (this.failure) rejectAll(acks, this.failure);
    else if (error !== null) this.fail(error, acks);
    else {
      this.commitTimes.add(performance.now() - t0);
      this.committed(records, acks);
    }
  }

  /** After an asynchronous commit: what queued behind it goes in one append (up to maxBatch records). */
  private drain(): void {
    if (this.queued.length === 0 || this.failure || this.inflightCommits >= this.maxInflight) return;
    const records: JournalRecord[] = [];
    const acks: Ack[] = [];
    let taken = 0;
    for (const q of this.queued) {
      if (taken > 0 && records.length + q.records.length > this.maxBatch) break;
      for (const r of q.records) records.push(r);
      for (const a of q.acks) acks.push(a);
      taken += 1;
    }
    this.queued.splice(0, taken);
    this.commit(records, acks);
  }

  private committed(records: JournalRecord[], acks: Ack[]): void {
    this.stats.commits += 1;
    this.stats.records += records.length;
    if (records.length > this.stats.largestBatch) this.stats.largestBatch = records.length;
    this.durableSeq = records[records.length - 1]!.seq;
    for (const a of acks) a.resolve(a.result);
    if (this.snapshotsDue.length > 0) this.saveDueSnapshots();
  }

  private fail(e: unknown, acks: Ack[]): void {
    const first = firstSeqOf(acks);
    this.failure = new JournalWriteError(
      `journal commit failed${first === null ? '' : ` (batch from seq ${first})`}: ${e instanceof Error ? e.message : String(e)}; ` +
        'the engine is ahead of the journal: recover from the store',
      { cause: e },
    );
    rejectAll(acks, this.failure);
    for (const q of this.queued) rejectAll(q.acks, this.failure);
    this.queued = [];
    rejectAll(this.acks, this.failure);
    this.acks = [];
    this.batch = [];
    // Their seqs will never be durable: a snapshot of them must not be saved.
    for (const s of this.snapshotsDue) s.reject(this.failure);
    this.snapshotsDue = [];
  }
}

function firstSeqOf(acks: Ack[]): number | null {
  const r = acks[0]?.result;
  return r?.ok ? r.seq : null;
}

function rejectAll(acks: Ack[], e: Error): void {
  for (const a of acks) a.reject(e);
}

// ---------------------------------------------------------------------------------------------------------
// Recovery

export interface RecoverOptions {
  /** Start from this engine (e.g. restored from a snapshot at `engine.seq`) instead of a fresh one. */
  engine?: Engine;
  /** Options for the fresh engine (ignored with `engine` and when a snapshot is restored). */
  engineOptions?: EngineOptions;
  /** Delete a torn or corrupt tail from the store (default true). False: report it and change nothing. */
  repair?: boolean;
  /** Check recorded state hashes (default true). */
  verifyHashes?: boolean;
  /**
   * Start from the newest usable snapshot in the store (default true; ignored with `engine`). False replays every
   * record from seq 1.
   */
  snapshots?: boolean;
  /**
   * Compare the replayed state with every stored snapshot the replay passes (default true): a full replay (as
   * `journal verify` does) then checks the snapshots as well as the records.
   */
  checkSnapshots?: boolean;
  /**
   * Replays of at least this many records read their pages on a thread of their own where the store can
   * (`readPagesAhead`; default READ_AHEAD_MIN). Below it, starting the thread costs more than it saves.
   */
  readAheadMin?: number;
}

/** Records from which recovery reads ahead on another thread (a thread starts in ~30 ms; a 20k replay takes ~100). */
export const READ_AHEAD_MIN = 20_000;

export interface TailCut {
  /** The last valid record: the journal now ends here. */
  afterSeq: number;
  /** The first invalid record and why. */
  firstBadSeq: number;
  reason: string;
  /** Invalid records from there to the end (all of them invalid). */
  dropped: number;
  /** Whether they were deleted from the store (repair) or only skipped. */
  removed: boolean;
}

export interface RecoveryReport {
  engine: Engine;
  /** Seq of the first and last record replayed (0 when none). */
  firstSeq: number;
  lastSeq: number;
  /** Records replayed. */
  records: number;
  /** Recorded state hashes compared (all matched, or recovery would have thrown). */
  hashesChecked: number;
  /** `stateHash(engine)` after the replay. */
  stateHash: string;
  /** The torn or corrupt tail that was cut, or null when the journal ended cleanly. */
  cut: TailCut | null;
  /** The snapshot recovery started from (null: a full replay, or an engine was given). */
  snapshot: { seq: number; stateHash: string; bytes: number; restoreMs: number } | null;
  /** Snapshots passed over (damaged, unreadable, past the journal's end), newest first, and why. */
  skippedSnapshots: { seq: number; reason: string }[];
  /** Stored snapshots the replay passed and compared its state with (all matched, or recovery would have thrown). */
  snapshotsChecked: number;
  /** Human-readable lines for the caller to log (library code never prints). */
  log: string[];
}

/**
 * Rebuilds the engine from `store` (from its newest usable snapshot, then the records after it); throws a
 * JournalError for a gap, mid-journal corruption, a divergent replay or a state hash that does not match.
 */
export async function recover(store: JournalStore, opts: RecoverOptions = {}): Promise<RecoveryReport> {
  const repair = opts.repair ?? true;
  const verifyHashes = opts.verifyHashes ?? true;
  const log: string[] = [];
  const infos = await store.listSnapshots();
  const skippedSnapshots: { seq: number; reason: string }[] = [];
  let snapshot: RecoveryReport['snapshot'] = null;
  let engine = opts.engine ?? null;
  if (engine === null && (opts.snapshots ?? true) && infos.length > 0) {
    const found = await newestUsableSnapshot(store, infos, skippedSnapshots, verifyHashes);
    for (const [i, sk] of skippedSnapshots.entries()) {
      const next = skippedSnapshots[i + 1]?.seq ?? found?.snapshot.seq ?? null;
      log.push(
        `journal: snapshot at seq ${sk.seq} unusable (${sk.reason}); ` +
          (next === null ? 'falling back to a full replay' : `falling back to the snapshot at seq ${next}`),
      );
    }
    if (found) {
      engine = found.engine;
      snapshot = found.snapshot;
      log.push(
        `journal: restored the snapshot at seq ${snapshot.seq} (${snapshot.bytes} bytes) in ${Math.round(snapshot.restoreMs)} ms, state ${snapshot.stateHash.slice(0, 16)}…`,
      );
    }
  }
  engine ??= new Engine(opts.engineOptions);
  const e = engine;
  const base = e.seq;
  let expected = base + 1;
  let records = 0;
  let hashesChecked = 0;
  let snapshotsChecked = 0;
  let bad: { seq: number; reason: string } | null = null;
  let dropped = 0;
  // Stored snapshots past the starting point: the replayed state must equal each where it passes its seq.
  const checkpoints = new Map<number, string>();
  if (opts.checkSnapshots ?? true) {
    for (const info of infos) {
      if (info.seq <= base || skippedSnapshots.some((k) => k.seq === info.seq)) continue;
      const rec = await store.readSnapshot(info.seq);
      const problem = rec ? snapshotProblem(rec) : 'vanished';
      if (rec && problem === null) checkpoints.set(rec.seq, rec.stateHash);
      else {
        skippedSnapshots.push({ seq: info.seq, reason: problem ?? 'vanished' });
        log.push(`journal: snapshot at seq ${info.seq} is damaged (${problem}); it will be skipped`);
      }
    }
  }

  /**
   * One stored record: `seq` and `recordedHash` as stored, `checked` its verdict (checkRecord / checkRecordAt: the
   * decoded command, or why the record cannot be trusted).
   */
  const step = (seq: number, recordedHash: string | null, checked: Command | string): void => {
    if (snapshot !== null && seq === base) {
      // The record of the snapshot's own seq: not replayed, but its recorded state hash (if any) must agree.
      // (newestUsableSnapshot passed over snapshots whose record is damaged; this one changed under us.)
      if (typeof checked === 'string')
        throw new JournalError('corrupt', base, `journal corrupt at seq ${base} (${checked})`);
      if (verifyHashes && recordedHash !== null && recordedHash !== snapshot.stateHash) {
        throw new JournalError(
          'hashMismatch',
          base,
          `state hash mismatch at seq ${base}: the journal recorded ${recordedHash.slice(0, 16)}…, the snapshot ${snapshot.stateHash.slice(0, 16)}…`,
        );
      }
      return;
    }
    if (bad) {
      if (typeof checked !== 'string') {
        throw new JournalError(
          'corrupt',
          bad.seq,
          `journal corrupt at seq ${bad.seq} (${bad.reason}), but record ${seq} after it is valid: not a torn tail, refusing to cut acknowledged history`,
        );
      }
      dropped += 1;
      return;
    }
    if (typeof checked === 'string') {
      bad = { seq, reason: checked };
      dropped = 1;
      return;
    }
    const command = checked;
    if (seq !== expected) {
      if (seq > expected) {
        throw new JournalError(
          'gap',
          expected,
          `journal gap: seq ${expected} is missing (the next record is seq ${seq})`,
        );
      }
      throw new JournalError('gap', seq, `journal out of order: seq ${seq} after seq ${expected - 1}`);
    }
    let res: ApplyResult;
    try {
      res = e.apply(command);
    } catch (err) {
      throw new JournalError(
        'replay',
        seq,
        `replay: seq ${seq} (${command.type}) threw: ${(err as Error).message}`,
      );
    }
    if (!res.ok) {
      throw new JournalError(
        'replay',
        seq,
        `replay: seq ${seq} (${command.type}) was rejected: ${res.code} ${res.message}`,
      );
    }
    if (res.seq !== seq) {
      throw new JournalError(
        'replay',
        seq,
        `replay: seq ${seq} (${command.type}) was applied as seq ${res.seq}`,
      );
    }
    let h: string | null = null;
    if (recordedHash !== null && verifyHashes) {
      h = stateHash(e);
      if (h !== recordedHash) {
        throw new JournalError(
          'hashMismatch',
          seq,
          `state hash mismatch at seq ${seq}: recorded ${recordedHash.slice(0, 16)}…, replay gives ${h.slice(0, 16)}…`,
        );
      }
      hashesChecked += 1;
    }
    const snapshotHash = checkpoints.size === 0 ? undefined : checkpoints.get(seq);
    if (snapshotHash !== undefined && verifyHashes) {
      h ??= stateHash(e);
      if (h !== snapshotHash) {
        throw new JournalError(
          'hashMismatch',
          seq,
          `state hash mismatch at seq ${seq}: the snapshot there recorded ${snapshotHash.slice(0, 16)}…, replay gives ${h.slice(0, 16)}…`,
        );
      }
      snapshotsChecked += 1;
    }
    records += 1;
    expected += 1;
  };

  // From the snapshot's own seq, whose record's state hash is compared with the snapshot's.
  const from = snapshot !== null ? base : expected;
  const stepRecord = (r: JournalRecord): void => {
    const c = checkRecord(r);
    step(r.seq, r.stateHash, c.ok ? c.command : c.reason);
  };
  // Pages of columns where the store offers them: no object or buffer per record, the checks the same.
  const stepPage = (p: RecordPage): void => {
    const { seqs, times, checksums, starts, ends, data, whole, checksumOk } = p;
    for (let i = 0; i < p.count; i++) {
      const w = whole.size === 0 ? undefined : whole.get(i);
      if (w !== undefined) stepRecord(w);
      else {
        const seq = seqs[i]!;
        const matched = checksumOk !== undefined && checksumOk[i] === 1;
        step(
          seq,
          null,
          checkRecordAt(seq, times[i]!, checksums[i]!, null, data, starts[i]!, ends[i]!, matched),
        );
      }
    }
  };
  // A replayed command's events are discarded: the engine skips building most of them (EngineState.quiet).
  const wasQuiet = e.quiet;
  e.quiet = true;
  try {
    if (store.readPagesAhead && (await store.lastSeq()) - from + 1 >= (opts.readAheadMin ?? READ_AHEAD_MIN)) {
      for await (const p of store.readPagesAhead(from)) stepPage(p);
    } else if (store.readPages) {
      const pages = store.readPages(from);
      if (Symbol.iterator in pages) for (const p of pages) stepPage(p);
      else for await (const p of pages) stepPage(p);
    } else {
      const source = store.readFrom(from);
      if (Symbol.iterator in source) for (const r of source) stepRecord(r);
      else for await (const r of source) stepRecord(r);
    }
  } finally {
    e.quiet = wasQuiet;
  }

  const lastSeq = expected - 1;
  let cut: TailCut | null = null;
  const b = bad as { seq: number; reason: string } | null;
  if (b) {
    const removed = repair ? (await store.truncateAfter(lastSeq)) > 0 : false;
    cut = { afterSeq: lastSeq, firstBadSeq: b.seq, reason: b.reason, dropped, removed };
    log.push(
      `journal: torn/corrupt tail cut after seq ${lastSeq}: record ${b.seq}: ${b.reason}; ` +
        `${dropped} record${dropped === 1 ? '' : 's'} ${removed ? 'removed' : 'skipped (not removed: read-only recovery)'}`,
    );
  }
  const hash = stateHash(e);
  log.push(
    `journal: recovered ${records} record${records === 1 ? '' : 's'}` +
      (records > 0 ? ` (seq ${base + 1}..${lastSeq})` : '') +
      `, ${hashesChecked} state hash${hashesChecked === 1 ? '' : 'es'} verified, state ${hash.slice(0, 16)}…`,
  );
  return {
    engine: e,
    firstSeq: records > 0 ? base + 1 : 0,
    lastSeq,
    records,
    hashesChecked,
    stateHash: hash,
    cut,
    snapshot,
    skippedSnapshots,
    snapshotsChecked,
    log,
  };
}

/**
 * The newest snapshot that passes its checksum, restores, and is within the stored records, restored; the ones
 * passed over go to `skipped`. A snapshot that restores to another state than the hash recorded with it is an
 * error, not a fallback: that is the snapshot code (or the engine) disagreeing with itself.
 */
/** The stored record of `seq`, or null when the journal no longer holds it. */
async function recordAt(store: JournalStore, seq: number): Promise<JournalRecord | null> {
  for await (const r of store.readFrom(seq)) return r.seq === seq ? r : null;
  return null;
}

async function newestUsableSnapshot(
  store: JournalStore,
  infos: readonly SnapshotInfo[],
  skipped: { seq: number; reason: string }[],
  verifyHashes: boolean,
): Promise<{ engine: Engine; snapshot: NonNullable<RecoveryReport['snapshot']> } | null> {
  const last = await store.lastSeq();
  const first = await store.firstSeq();
  for (const info of infos) {
    const skip = (reason: string) => skipped.push({ seq: info.seq, reason });
    if (info.seq > last) {
      skip(`past the last stored record, seq ${last}`);
      continue;
    }
    if (first > info.seq + 1) {
      skip(`the records after it are gone: the journal starts at seq ${first}`);
      continue;
    }
    // Its own record must be sound: starting after a damaged record would accept a journal that a full replay
    // (and `journal verify`) rejects; passed over, the usual rules decide (a torn tail is cut, mid-journal damage
    // stops startup).
    const own = await recordAt(store, info.seq);
    const ownCheck = own === null ? null : checkRecord(own);
    if (ownCheck !== null && !ownCheck.ok) {
      skip(`its own record (seq ${info.seq}) is damaged: ${ownCheck.reason}`);
      continue;
    }
    const t0 = performance.now();
    const rec = await store.readSnapshot(info.seq);
    if (!rec) {
      skip('vanished while recovering');
      continue;
    }
    const problem = snapshotProblem(rec);
    if (problem !== null) {
      skip(problem);
      continue;
    }
    let engine: Engine;
    try {
      engine = restoreEngine(rec.data);
    } catch (err) {
      skip((err as Error).message);
      continue;
    }
    if (engine.seq !== rec.seq || engine.lastTime !== rec.time) {
      skip(`it restores to seq ${engine.seq} at ${engine.lastTime}, not seq ${rec.seq} at ${rec.time}`);
      continue;
    }
    const h = stateHash(engine);
    if (verifyHashes && h !== rec.stateHash) {
      throw new JournalError(
        'hashMismatch',
        rec.seq,
        `state hash mismatch at seq ${rec.seq}: the snapshot recorded ${rec.stateHash.slice(0, 16)}…, its restore gives ${h.slice(0, 16)}…`,
      );
    }
    return {
      engine,
      snapshot: { seq: rec.seq, stateHash: h, bytes: rec.data.length, restoreMs: performance.now() - t0 },
    };
  }
  return null;
}
