/**
 * The SQLite journal with its writes on a worker thread (`SqliteThreadJournalStore`), so that a commit — the
 * inserts, the WAL write and its fsync, a millisecond or more per batch — runs while the engine thread applies the
 * next commands instead of stopping it. better-sqlite3 is synchronous; on the engine thread every commit stalls
 * everything behind it.
 *
 * Same file, same format, same guarantees as SqliteJournalStore (the worker runs one): `append` resolves once the
 * batch is committed with synchronous=FULL. The engine thread packs a batch into a few typed arrays whose buffers
 * are transferred, not copied; reads (recovery, listing snapshots) use a read-only connection on the calling
 * thread, which WAL lets run beside the writer. Writes are processed in the order they are sent.
 *
 * This module is also the worker's entry point (it runs the `serve` loop when loaded in a worker thread).
 */
import { isMainThread, parentPort, type Worker, workerData } from 'node:worker_threads';
import { SqliteJournalStore, type SqliteStoreOptions } from './sqlite.ts';
import {
  JournalError,
  type JournalErrorKind,
  type JournalRecord,
  type JournalStore,
  type RecordPage,
  type SnapshotInfo,
  type SnapshotRecord,
} from './store.ts';
import { startModuleWorker } from './thread.ts';

/** A batch of records as transferable columns: command bytes concatenated in `blob`, `ends` their end offsets. */
interface PackedBatch {
  seqs: Float64Array;
  times: Float64Array;
  checksums: Uint32Array;
  ends: Uint32Array;
  blob: Uint8Array;
  hashes: (string | null)[];
}

type Request =
  | { id: number; op: 'append'; batch: PackedBatch }
  | { id: number; op: 'truncateAfter'; seq: number }
  | { id: number; op: 'saveSnapshot'; snapshot: SnapshotRecord }
  | { id: number; op: 'pruneSnapshots'; keep: number }
  | { id: number; op: 'close' };
type Reply =
  | { id: number; ok: true; value?: unknown }
  | { id: number; ok: false; message: string; kind?: JournalErrorKind };
/** Marks this module's own worker (so that importing it in any other worker does nothing). */
const WRITER = 'ringfence-sqlite-writer';

function pack(records: readonly JournalRecord[]): { batch: PackedBatch; transfer: ArrayBuffer[] } {
  const n = records.length;
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes += records[i]!.command.byteLength;
  const batch: PackedBatch = {
    seqs: new Float64Array(n),
    times: new Float64Array(n),
    checksums: new Uint32Array(n),
    ends: new Uint32Array(n),
    blob: new Uint8Array(bytes),
    hashes: new Array<string | null>(n),
  };
  let at = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    batch.seqs[i] = r.seq;
    batch.times[i] = r.time;
    batch.checksums[i] = r.checksum;
    batch.blob.set(r.command, at);
    at += r.command.byteLength;
    batch.ends[i] = at;
    batch.hashes[i] = r.stateHash;
  }
  const transfer = [batch.seqs, batch.times, batch.checksums, batch.ends, batch.blob].map(
    (a) => a.buffer as ArrayBuffer,
  );
  return { batch, transfer };
}

function unpack(b: PackedBatch): JournalRecord[] {
  const out = new Array<JournalRecord>(b.seqs.length);
  const blob = Buffer.from(b.blob.buffer, b.blob.byteOffset, b.blob.byteLength);
  let start = 0;
  for (let i = 0; i < out.length; i++) {
    const end = b.ends[i]!;
    out[i] = {
      seq: b.seqs[i]!,
      time: b.times[i]!,
      command: blob.subarray(start, end),
      checksum: b.checksums[i]!,
      stateHash: b.hashes[i] ?? null,
    };
    start = end;
  }
  return out;
}

export interface SqliteThreadStoreOptions {
  /** SQLite `synchronous` for the writer (default FULL). */
  synchronous?: SqliteStoreOptions['synchronous'];
}

export class SqliteThreadJournalStore implements JournalStore {
  readonly kind = 'sqlite';
  readonly path: string;
  /** The calling thread's read-only connection (recovery, listings); exposed for tests and tools. */
  readonly reader: SqliteJournalStore;
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private broken: Error | null = null;
  /** Set as soon as close() is called: a call made after it would queue behind the worker's close and be lost. */
  private closing: Promise<void> | null = null;

  private constructor(path: string, worker: Worker, reader: SqliteJournalStore) {
    this.path = path;
    this.worker = worker;
    this.reader = reader;
    worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.message));
    });
    worker.on('error', (e) => this.fail(e));
    // Whatever is still waiting when the thread ends will never be answered.
    worker.on('exit', (code) =>
      this.fail(
        new Error(this.closing ? 'journal store is closed' : `journal writer thread exited (code ${code})`),
      ),
    );
  }

  /** Starts the writer thread (which creates or opens the file), then opens the reading connection. */
  static async open(path: string, opts: SqliteThreadStoreOptions = {}): Promise<SqliteThreadJournalStore> {
    const worker = startModuleWorker(import.meta.url, {
      role: WRITER,
      path,
      synchronous: opts.synchronous ?? 'FULL',
    });
    const ready = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (!ready.ok) {
      await worker.terminate();
      throw ready.kind ? new JournalError(ready.kind, null, ready.message) : new Error(ready.message);
    }
    let reader: SqliteJournalStore;
    try {
      reader = new SqliteJournalStore(path, { readonly: true });
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    return new SqliteThreadJournalStore(path, worker, reader);
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private call(req: Request, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.closing) return Promise.reject(new Error('journal store is closed'));
    return this.post(req, transfer);
  }

  private post(req: Request, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      this.worker.postMessage(req, transfer);
    });
  }

  async append(records: readonly JournalRecord[]): Promise<void> {
    if (records.length === 0) return;
    const { batch, transfer } = pack(records);
    await this.call({ id: this.nextId++, op: 'append', batch }, transfer);
  }

  readFrom(seq: number): Iterable<JournalRecord> {
    return this.reader.readFrom(seq);
  }

  readPages(seq: number): Iterable<RecordPage> {
    return this.reader.readPages(seq);
  }

  readPagesAhead(seq: number): AsyncIterable<RecordPage> {
    return this.reader.readPagesAhead(seq);
  }

  lastSeq(): number {
    return this.reader.lastSeq();
  }

  firstSeq(): number {
    return this.reader.firstSeq();
  }

  async truncateAfter(seq: number): Promise<number> {
    return (await this.call({ id: this.nextId++, op: 'truncateAfter', seq })) as number;
  }

  async saveSnapshot(snapshot: SnapshotRecord): Promise<void> {
    await this.call({ id: this.nextId++, op: 'saveSnapshot', snapshot });
  }

  listSnapshots(): SnapshotInfo[] {
    return this.reader.listSnapshots();
  }

  readSnapshot(seq: number): SnapshotRecord | null {
    return this.reader.readSnapshot(seq);
  }

  async pruneSnapshots(keep: number): Promise<number> {
    return (await this.call({ id: this.nextId++, op: 'pruneSnapshots', keep })) as number;
  }

  /**
   * Refuses new calls at once, waits for the writes sent so far, closes the writer's connection and its thread,
   * then the reader. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    try {
      if (!this.broken) await this.post({ id: this.nextId++, op: 'close' });
    } finally {
      this.reader.close();
      await this.worker.terminate();
      this.fail(new Error('journal store is closed'));
    }
  }
}

/** The writer thread: one SqliteJournalStore, requests served in order. */
function serve(): void {
  const port = parentPort!;
  const { path, synchronous } = workerData as {
    path: string;
    synchronous: SqliteStoreOptions['synchronous'];
  };
  let store: SqliteJournalStore;
  try {
    store = new SqliteJournalStore(path, { synchronous });
  } catch (e) {
    const kind = e instanceof JournalError ? e.kind : undefined;
    port.postMessage({
      id: 0,
      ok: false,
      message: (e as Error).message,
      ...(kind ? { kind } : {}),
    } satisfies Reply);
    return;
  }
  port.postMessage({ id: 0, ok: true } satisfies Reply);
  port.on('message', (req: Request) => {
    let reply: Reply;
    try {
      switch (req.op) {
        case 'append':
          store.append(unpack(req.batch));
          reply = { id: req.id, ok: true };
          break;
        case 'truncateAfter':
          reply = { id: req.id, ok: true, value: store.truncateAfter(req.seq) };
          break;
        case 'saveSnapshot':
          store.saveSnapshot(req.snapshot);
          reply = { id: req.id, ok: true };
          break;
        case 'pruneSnapshots':
          reply = { id: req.id, ok: true, value: store.pruneSnapshots(req.keep) };
          break;
        case 'close':
          store.close();
          port.postMessage({ id: req.id, ok: true } satisfies Reply);
          port.close();
          return;
      }
    } catch (e) {
      reply = { id: req.id, ok: false, message: (e as Error).message };
    }
    port.postMessage(reply);
  });
}

if (!isMainThread && (workerData as { role?: unknown } | null)?.role === WRITER) serve();
