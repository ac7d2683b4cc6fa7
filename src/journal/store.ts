/**
 * The command journal's storage contract. The journal is the system of record: every command the engine
 * accepted, in sequence order, so that replaying it into a fresh engine rebuilds exactly the same state. Rejected
 * commands change nothing and are never stored.
 *
 * A store is deliberately dumb: it persists and returns records, and guarantees only what a database can — an
 * `append` batch is atomic and durable once it returns (or its promise resolves), and a seq is never stored twice.
 * Integrity (checksums, gaps, decodability, replay) is checked above it, in `recover`, identically for every store.
 *
 * Both synchronous stores (SQLite, through better-sqlite3) and asynchronous ones (PostgreSQL) fit: every method
 * may return a value or a promise, and `readFrom` a sync or async iterable. Callers await all of them.
 *
 * Snapshots (src/engine/snapshot.ts) are stored beside the records: recovery restores the newest valid one and
 * reads only the records after its seq (`readFrom(seq)`). A snapshot is saved only once the record of its seq is
 * durable, so it never holds a command the journal lacks; `truncateAfter` removes the snapshots past the cut with
 * the records (a journal that continues after a cut is another history). `firstSeq` lets a pruned journal say
 * where it starts (records before a snapshot may be archived and removed).
 */

export interface JournalRecord {
  /** The engine's sequence number for this command (1, 2, 3, … with no gaps). */
  seq: number;
  /** The command's own `time` (ms), duplicated outside the payload for range queries and tooling. */
  time: number;
  /** msgpack of the Command, exactly as the engine applied it. */
  command: Uint8Array;
  /** CRC32 (IEEE) of seq (8 bytes, little-endian), the command bytes and, when present, the state hash's ASCII. */
  checksum: number;
  /** Hex SHA-256 `stateHash(engine)` right after this command, recorded every N records; null otherwise. */
  stateHash: string | null;
}

/**
 * Stored records in columns, a page at a time (`JournalStore.readPages`): what recovery reads when a store offers
 * it, instead of an object and a buffer per record. Record i (0 ≤ i < count, in seq order) is `whole.get(i)` when
 * the store gave it whole (one the columns cannot hold as stored: a state hash, a field of an unexpected type);
 * otherwise seqs[i], times[i], checksums[i], no state hash, and the command bytes data[starts[i], ends[i]).
 */
export interface RecordPage {
  count: number;
  seqs: ArrayLike<number>;
  times: ArrayLike<number>;
  checksums: ArrayLike<number>;
  starts: ArrayLike<number>;
  ends: ArrayLike<number>;
  data: Uint8Array;
  whole: ReadonlyMap<number, JournalRecord>;
  /**
   * Set by a reader that compared the checksums of the packed records itself (on its own thread): 1 where record
   * i's checksum matched, 0 where it did not (the record is then checked again the usual way). Absent: unchecked.
   */
  checksumOk?: Uint8Array;
}

/** The engine's whole state right after the command `seq` (src/engine/snapshot.ts), as stored. */
export interface SnapshotRecord {
  seq: number;
  /** The engine's `lastTime` at that seq (ms). */
  time: number;
  /** Hex SHA-256 `stateHash(engine)` at that seq: a restore must reproduce it. */
  stateHash: string;
  /** `snapshotEngine(engine)`. */
  data: Uint8Array;
  /** CRC32 (IEEE) of seq (8 bytes, little-endian), the state hash's ASCII and the data. */
  checksum: number;
}

/** A stored snapshot without its data (listing them is cheap). */
export interface SnapshotInfo {
  seq: number;
  time: number;
  stateHash: string;
  /** Size of the data. */
  bytes: number;
}

export type MaybePromise<T> = T | Promise<T>;

export interface JournalStore {
  /** Which database holds the journal (health reads); absent on a custom store. */
  readonly kind?: 'sqlite' | 'postgres' | 'jetstream';
  /**
   * Appends the store takes before the earlier ones resolved (default 1: the journal waits for each). A store that
   * takes more must store them in call order, and once one fails refuse (reject) every later one.
   */
  readonly pipeline?: number;
  /**
   * Appends records in one atomic, durable transaction. Records are consecutive and follow the last stored one;
   * a seq that already exists makes the whole batch fail (nothing is written). Resolves only once committed to
   * stable storage.
   */
  append(records: readonly JournalRecord[]): MaybePromise<void>;
  /** Records with seq ≥ `seq`, in seq order. Streams: a journal can be far larger than memory. */
  readFrom(seq: number): Iterable<JournalRecord> | AsyncIterable<JournalRecord>;
  /**
   * Optional: the same records as `readFrom(seq)`, as pages of columns (cheaper to read and check in bulk; recovery
   * uses it when present). Every record exactly as stored: the checks above the store are the same either way.
   */
  readPages?(seq: number): Iterable<RecordPage> | AsyncIterable<RecordPage>;
  /**
   * Optional: `readPages(seq)` read on another thread, a few pages ahead of the caller, with the checksums of the
   * packed records compared there (`checksumOk`). Recovery uses it for long replays: reading and checking then run
   * beside the engine instead of between its commands. Stopping the iteration early ends the thread.
   */
  readPagesAhead?(seq: number): AsyncIterable<RecordPage>;
  /** The highest stored seq, or 0 when empty. */
  lastSeq(): MaybePromise<number>;
  /** The lowest stored seq, or 0 when empty (above 1 once records before a snapshot were pruned). */
  firstSeq(): MaybePromise<number>;
  /**
   * Deletes every record with seq > `seq` (cutting a torn or corrupt tail), and every snapshot past it, in one
   * transaction; returns how many records were deleted.
   */
  truncateAfter(seq: number): MaybePromise<number>;
  /**
   * Stores a snapshot durably (one at the same seq is replaced). Refused unless the record of its seq is stored:
   * a snapshot must never be ahead of the journal.
   */
  saveSnapshot(snapshot: SnapshotRecord): MaybePromise<void>;
  /** The stored snapshots, newest first, without their data. */
  listSnapshots(): MaybePromise<SnapshotInfo[]>;
  /** One snapshot with its data, or null when there is none at `seq`. */
  readSnapshot(seq: number): MaybePromise<SnapshotRecord | null>;
  /** Keeps the newest `keep` snapshots and deletes the older ones; returns how many were deleted. */
  pruneSnapshots(keep: number): MaybePromise<number>;
  close(): MaybePromise<void>;
}

/** What a journal problem is about; `seq` names the record. */
export type JournalErrorKind =
  /** A seq is missing: the stored seqs are not consecutive. */
  | 'gap'
  /** A record in the middle failed its checksum or did not decode, and valid records follow it. */
  | 'corrupt'
  /** Replay: the engine rejected a recorded command, or accepted it with another seq. */
  | 'replay'
  /** Replay: the recorded state hash differs from the replayed engine's. */
  | 'hashMismatch'
  /** The file or database is not a ringfence journal (or of an unknown format version). */
  | 'format';

export class JournalError extends Error {
  readonly kind: JournalErrorKind;
  readonly seq: number | null;
  constructor(kind: JournalErrorKind, seq: number | null, message: string) {
    super(message);
    this.name = 'JournalError';
    this.kind = kind;
    this.seq = seq;
  }
}
