/**
 * The durable front of the engine: `Journal.submit(command)` applies a command and resolves once it is safe.
 *
 * - The command is encoded first (something msgpack cannot hold exactly is rejected before the engine sees it),
 *   and the engine applies the *decoded* bytes, so what ran live is byte for byte what a replay will run.
 * - Rejected: the promise resolves at once with the rejection — nothing changed, nothing is journaled.
 * - Accepted: the record (seq, time, command, checksum, every `hashEvery` records the state hash) joins the open
 *   batch; the promise resolves only after the batch is durably committed. Group commit: the batch is committed at
 *   the end of the event-loop turn (setImmediate) or as soon as it reaches `maxBatch`, so one fsync covers every
 *   command that arrived in the turn. While an asynchronous store commits, the next batch keeps filling.
 * - The engine runs ahead of the disk by at most the open batches: state read from it directly may include
 *   commands not yet durable (and a rejection may have been judged against them). Acknowledge clients and
 *   publish events only from resolved promises.
 * - A failed commit poisons the journal: the engine has applied commands that are not durable, so every pending
 *   and later submit rejects with a JournalWriteError; rebuild with `recover`/`Journal.open`. An engine that
 *   throws (a bug, not a rejection) halts it too: that submit and later ones reject; earlier ones still commit.
 *
 * `recover(store)` rebuilds an engine from the journal: every record's checksum and decoding are checked, seqs
 * must be consecutive (a gap is an error naming the missing seq), each command must be accepted with exactly its
 * recorded seq, and each recorded state hash must match. A torn or corrupt *tail* (invalid records with no valid
 * record after them: what a crash or a damaged last page leaves) is cut at the last valid record and reported in
 * the recovery report's `cut` and `log`; an invalid record with valid ones after it is an error (cutting there
 * would silently drop acknowledged history). Library code never prints.
 */
import { Engine, type EngineOptions } from '../engine/engine.ts';
import { stateHash } from '../engine/hash.ts';
import type { ApplyResult, Command } from '../engine/types.ts';
import { checkRecord, encodeCommand, makeRecord } from './codec.ts';
import { JournalError, type JournalRecord, type JournalStore } from './store.ts';

export interface JournalOptions {
  /** Largest batch per commit; a batch this big commits at once instead of at the end of the turn (default 4,096:
   * measured on the journal bench, bigger batches gain nothing on the fsync and lose to garbage collection). */
  maxBatch?: number;
  /**
   * Record the state hash on every record whose seq is a multiple of this (0: never; default 100,000). Each one
   * hashes the whole state on the submit path (about 11 ms with 1,000 accounts and a few thousand resting orders;
   * it grows with the state), so keep it sparse on a large book.
   */
  hashEvery?: number;
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
}

export class Journal {
  readonly engine: Engine;
  readonly store: JournalStore;
  readonly maxBatch: number;
  readonly hashEvery: number;
  readonly stats: JournalStats = { commits: 0, records: 0, largestBatch: 0 };
  private batch: JournalRecord[] = [];
  private acks: Ack[] = [];
  /** Batches waiting behind an in-flight asynchronous commit (each at most maxBatch). */
  private queued: { records: JournalRecord[]; acks: Ack[] }[] = [];
  private inflight: Promise<void> | null = null;
  private inflightRecords = 0;
  private scheduled = false;
  private failure: JournalWriteError | null = null;
  /** Set when the engine threw (a bug, not a rejection): later submits are refused, pending ones still commit. */
  private halted: Error | null = null;
  private closed = false;
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
  }

  /** Recovers the store (cutting a torn tail) and opens a journal that continues it. */
  static async open(
    store: JournalStore,
    opts: JournalOptions & RecoverOptions = {},
  ): Promise<{ journal: Journal; report: RecoveryReport }> {
    const report = await recover(store, { ...opts, repair: true });
    return { journal: new Journal(report.engine, store, opts), report };
  }

  /** Applies `cmd`; resolves with the result once it is durable (accepted) or at once (rejected). */
  submit(cmd: Command): Promise<ApplyResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.halted) return Promise.reject(this.halted);
    if (this.closed) return Promise.reject(new Error('journal is closed'));
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
      r = this.engine.apply(cmd);
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
    const p = new Promise<ApplyResult>((resolve, reject) => {
      this.acks.push({ resolve, reject, result: r });
    });
    if (this.batch.length >= this.maxBatch) this.flushBatch();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.onTurn);
    }
    return p;
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

  /** Flushes, then closes the store. Later submits reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      await this.store.close();
    }
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
    if (this.inflight) this.queued.push({ records, acks });
    else this.commit(records, acks);
  }

  private commit(records: JournalRecord[], acks: Ack[]): void {
    let res: void | Promise<void>;
    try {
      res = this.store.append(records);
    } catch (e) {
      this.fail(e, acks);
      return;
    }
    if (res && typeof (res as Promise<void>).then === 'function') {
      this.inflightRecords = records.length;
      this.inflight = (res as Promise<void>).then(
        () => {
          this.inflight = null;
          this.inflightRecords = 0;
          this.committed(records, acks);
          this.drain();
        },
        (e: unknown) => {
          this.inflight = null;
          this.inflightRecords = 0;
          this.fail(e, acks);
        },
      );
    } else this.committed(records, acks);
  }

  /** After an asynchronous commit: what queued behind it goes in one append (up to maxBatch records). */
  private drain(): void {
    if (this.queued.length === 0 || this.failure) return;
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
    for (const a of acks) a.resolve(a.result);
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
  /** Start from this engine (restored from a snapshot at `engine.seq`) instead of a fresh one. */
  engine?: Engine;
  /** Options for the fresh engine (ignored with `engine`). */
  engineOptions?: EngineOptions;
  /** Delete a torn or corrupt tail from the store (default true). False: report it and change nothing. */
  repair?: boolean;
  /** Check recorded state hashes (default true). */
  verifyHashes?: boolean;
}

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
  /** Human-readable lines for the caller to log (library code never prints). */
  log: string[];
}

/** Replays `store` into an engine; throws a JournalError for a gap, mid-journal corruption or a divergent replay. */
export async function recover(store: JournalStore, opts: RecoverOptions = {}): Promise<RecoveryReport> {
  const engine = opts.engine ?? new Engine(opts.engineOptions);
  const repair = opts.repair ?? true;
  const verifyHashes = opts.verifyHashes ?? true;
  const base = engine.seq;
  let expected = base + 1;
  let records = 0;
  let hashesChecked = 0;
  let bad: { seq: number; reason: string } | null = null;
  let dropped = 0;

  const step = (r: JournalRecord): void => {
    const checked = checkRecord(r);
    if (bad) {
      if (checked.ok) {
        throw new JournalError(
          'corrupt',
          bad.seq,
          `journal corrupt at seq ${bad.seq} (${bad.reason}), but record ${r.seq} after it is valid: not a torn tail, refusing to cut acknowledged history`,
        );
      }
      dropped += 1;
      return;
    }
    if (!checked.ok) {
      bad = { seq: r.seq, reason: checked.reason };
      dropped = 1;
      return;
    }
    if (r.seq !== expected) {
      if (r.seq > expected) {
        throw new JournalError(
          'gap',
          expected,
          `journal gap: seq ${expected} is missing (the next record is seq ${r.seq})`,
        );
      }
      throw new JournalError('gap', r.seq, `journal out of order: seq ${r.seq} after seq ${expected - 1}`);
    }
    let res: ApplyResult;
    try {
      res = engine.apply(checked.command);
    } catch (e) {
      throw new JournalError(
        'replay',
        r.seq,
        `replay: seq ${r.seq} (${checked.command.type}) threw: ${(e as Error).message}`,
      );
    }
    if (!res.ok) {
      throw new JournalError(
        'replay',
        r.seq,
        `replay: seq ${r.seq} (${checked.command.type}) was rejected: ${res.code} ${res.message}`,
      );
    }
    if (res.seq !== r.seq) {
      throw new JournalError(
        'replay',
        r.seq,
        `replay: seq ${r.seq} (${checked.command.type}) was applied as seq ${res.seq}`,
      );
    }
    if (r.stateHash !== null && verifyHashes) {
      const h = stateHash(engine);
      if (h !== r.stateHash) {
        throw new JournalError(
          'hashMismatch',
          r.seq,
          `state hash mismatch at seq ${r.seq}: recorded ${r.stateHash.slice(0, 16)}…, replay gives ${h.slice(0, 16)}…`,
        );
      }
      hashesChecked += 1;
    }
    records += 1;
    expected += 1;
  };

  const source = store.readFrom(expected);
  if (Symbol.iterator in source) for (const r of source) step(r);
  else for await (const r of source) step(r);

  const log: string[] = [];
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
  const hash = stateHash(engine);
  log.push(
    `journal: recovered ${records} record${records === 1 ? '' : 's'}` +
      (records > 0 ? ` (seq ${base + 1}..${lastSeq})` : '') +
      `, ${hashesChecked} state hash${hashesChecked === 1 ? '' : 'es'} verified, state ${hash.slice(0, 16)}…`,
  );
  return {
    engine,
    firstSeq: records > 0 ? base + 1 : 0,
    lastSeq,
    records,
    hashesChecked,
    stateHash: hash,
    cut,
    log,
  };
}
