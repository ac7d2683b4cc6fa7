/**
 * The default journal store: one SQLite file (better-sqlite3), one table keyed by seq.
 *
 * Durability: WAL with synchronous=FULL, so a commit returns only after the WAL is fsynced; each `append` is one
 * transaction however many records it holds (group commit: the fsync is paid per batch, not per command). A
 * crash mid-commit leaves the transaction entirely absent (SQLite's own atomicity); the journal's checksums catch
 * what SQLite cannot (a damaged page, a record written by a buggy writer).
 *
 * Snapshots live in a second table of the same file (`snapshot`, keyed by seq), so a record batch and a cut
 * (`truncateAfter`, which removes the snapshots past it too) are each one transaction over both.
 *
 * The file says what it is: `application_id` = 'RFj1' and `user_version` = the format version (2: with the
 * snapshot table; a version-1 file is upgraded in place when opened for writing), so a foreign SQLite file is
 * refused instead of being written into. One writer at a time (the service); readers (such as
 * `ringfence journal verify`) may open a live journal, WAL lets them read while it is written.
 */
import Database from 'better-sqlite3';
import { fillWhole, plainPage, unpackPage } from './pages.ts';
import { readPagesAhead } from './sqlite-pages.ts';
import {
  JournalError,
  type JournalRecord,
  type JournalStore,
  type RecordPage,
  type SnapshotInfo,
  type SnapshotRecord,
} from './store.ts';

/** 'RFj1' */
export const SQLITE_APPLICATION_ID = 0x52466a31;
export const SQLITE_FORMAT_VERSION = 2;
/** Version 1 (no snapshot table) is read as is, and upgraded when opened for writing. */
const SQLITE_FORMAT_V1 = 1;
const SNAPSHOT_TABLE = `CREATE TABLE snapshot (
  seq INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  state_hash TEXT NOT NULL,
  checksum INTEGER NOT NULL,
  data BLOB NOT NULL
)`;
/** Rows fetched per query while streaming (keeps memory flat on a journal of any length). */
const READ_PAGE = 8_192;
/**
 * `readPages`: a page of records comes as ONE value, the records packed back to back (pages.ts: a 24-byte header —
 * seq and time as int64, checksum and the command's length as uint32, big-endian — then the command bytes) instead
 * of an array and a Buffer per record (most of the cost of reading a record, and garbage). SQLite concatenates blobs byte
 * for byte (through text, without conversion in a UTF-8 database). A record whose fields such a header cannot hold
 * exactly (a state hash, a damaged field of another type or range) is marked by a length of 0xffffffff and read
 * whole. group_concat takes the rows in the subquery's order (a rowid range scan, by seq); the headers' seqs are
 * checked increasing, so any other order would only cost the plain way (a page of rows). Whatever the packing
 * looks like, the records get the same checks above the store.
 */
const PACKABLE = `seq BETWEEN 1 AND ${Number.MAX_SAFE_INTEGER} AND typeof(time) = 'integer'
  AND time BETWEEN ${-Number.MAX_SAFE_INTEGER} AND ${Number.MAX_SAFE_INTEGER}
  AND typeof(checksum) = 'integer' AND checksum BETWEEN 0 AND 4294967295
  AND typeof(command) = 'blob' AND state_hash IS NULL`;
const PAGE_ROWS = 'SELECT * FROM journal WHERE seq >= ? ORDER BY seq LIMIT ?';
const PACKED_PAGE = `SELECT count(*), CAST(group_concat(CASE WHEN ${PACKABLE}
    THEN unhex(printf('%016x%016x%08x%08x', seq, time, checksum, length(command))) || command
    ELSE unhex(printf('%016x000000000000000000000000ffffffff', seq)) END, '') AS BLOB)
  FROM (${PAGE_ROWS})`;
const WHOLE_ROWS = `SELECT seq, time, command, checksum, state_hash FROM (${PAGE_ROWS}) WHERE NOT (${PACKABLE}) ORDER BY seq`;
/** Rows per multi-row INSERT statement (5 parameters each, well under SQLite's limit of 32,766). */
const INSERT_CHUNK = 256;

export interface SqliteStoreOptions {
  /**
   * Create the file and the schema when missing (default true). With false the file must already be a journal:
   * nothing is created or written by opening it (what a verifier wants).
   */
  create?: boolean;
  /** Open read-only (implies create: false). A crashed writer's WAL still needs a writable -shm to be read. */
  readonly?: boolean;
  /** SQLite `synchronous` (default FULL). NORMAL in WAL mode can lose the last commits on power loss: benches only. */
  synchronous?: 'FULL' | 'EXTRA' | 'NORMAL';
}

type Row = [seq: number, time: number, command: Uint8Array, checksum: number, stateHash: string | null];
type SnapshotRow = [seq: number, time: number, stateHash: string, checksum: number, data: Uint8Array];

export class SqliteJournalStore implements JournalStore {
  readonly kind = 'sqlite';
  readonly path: string;
  /** The connection; exposed for tests and tools (e.g. to inspect or damage records on purpose). */
  readonly db: Database.Database;
  private readonly insertOne: Database.Statement;
  private readonly insertChunk: Database.Statement;
  private readonly page: Database.Statement;
  /** readPages: the packed page and the records in it read whole (null: SQLite cannot pack, plain pages). */
  private readonly packed: { page: Database.Statement; whole: Database.Statement } | null;
  private readonly readPage: (from: number) => RecordPage;
  private readonly maxStmt: Database.Statement;
  private readonly minStmt: Database.Statement;
  private readonly deleteAfter: Database.Statement;
  private readonly insertMany: (records: readonly JournalRecord[]) => void;
  private readonly cut: (seq: number) => number;
  /** False for a read-only version-1 file (no snapshot table): it has no snapshots. */
  private hasSnapshotTable = true;
  /** Highest stored seq as this writer knows it (one writer per journal). */
  private last: number;
  private closed = false;

  constructor(path: string, opts: SqliteStoreOptions = {}) {
    this.path = path;
    const readonly = opts.readonly ?? false;
    const create = !readonly && (opts.create ?? true);
    this.db = new Database(path, { readonly, fileMustExist: !create });
    try {
      this.initSchema(create, opts.synchronous ?? 'FULL');
    } catch (e) {
      this.db.close();
      if (e instanceof Database.SqliteError && e.code === 'SQLITE_NOTADB') {
        throw new JournalError('format', null, `${path}: not a SQLite database`);
      }
      if (e instanceof Database.SqliteError && e.code === 'SQLITE_CORRUPT') {
        throw new JournalError('format', null, `${path}: damaged SQLite file (${e.message})`);
      }
      throw e;
    }
    const cols = '(seq, time, command, checksum, state_hash)';
    this.insertOne = this.db.prepare(`INSERT INTO journal ${cols} VALUES (?, ?, ?, ?, ?)`);
    this.insertChunk = this.db.prepare(
      `INSERT INTO journal ${cols} VALUES ${Array.from({ length: INSERT_CHUNK }, () => '(?, ?, ?, ?, ?)').join(', ')}`,
    );
    this.page = this.db
      .prepare(
        'SELECT seq, time, command, checksum, state_hash FROM journal WHERE seq >= ? ORDER BY seq LIMIT ?',
      )
      .raw(true);
    this.packed = this.preparePacked();
    // One read transaction per page: the packed records and those read whole are of the same state.
    this.readPage = this.db.transaction((from: number) => this.pageAt(from));
    this.maxStmt = this.db.prepare('SELECT max(seq) FROM journal').pluck();
    this.minStmt = this.db.prepare('SELECT min(seq) FROM journal').pluck();
    this.deleteAfter = this.db.prepare('DELETE FROM journal WHERE seq > ?');
    const params: unknown[] = new Array(INSERT_CHUNK * 5);
    this.insertMany = this.db.transaction((records: readonly JournalRecord[]) => {
      let i = 0;
      for (; i + INSERT_CHUNK <= records.length; i += INSERT_CHUNK) {
        for (let k = 0; k < INSERT_CHUNK; k++) {
          const r = records[i + k]!;
          const o = k * 5;
          params[o] = r.seq;
          params[o + 1] = r.time;
          params[o + 2] = r.command;
          params[o + 3] = r.checksum;
          params[o + 4] = r.stateHash;
        }
        this.insertChunk.run(params);
      }
      for (; i < records.length; i++) {
        const r = records[i]!;
        this.insertOne.run(r.seq, r.time, r.command, r.checksum, r.stateHash);
      }
    });
    this.cut = this.db.transaction((seq: number) => {
      const n = this.deleteAfter.run(seq).changes;
      if (this.hasSnapshotTable) this.db.prepare('DELETE FROM snapshot WHERE seq > ?').run(seq);
      return n;
    });
    this.last = (this.maxStmt.get() as number | null) ?? 0;
  }

  private initSchema(create: boolean, synchronous: string): void {
    const db = this.db;
    const appId = db.pragma('application_id', { simple: true }) as number;
    if (appId === 0 && create) {
      const tables = db
        .prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")
        .pluck()
        .get() as number;
      if (tables > 0)
        throw new JournalError(
          'format',
          null,
          `${this.path}: a SQLite database that is not a ringfence journal`,
        );
      db.pragma('journal_mode = WAL');
      db.transaction(() => {
        db.pragma(`application_id = ${SQLITE_APPLICATION_ID}`);
        db.pragma(`user_version = ${SQLITE_FORMAT_VERSION}`);
        db.exec(`CREATE TABLE journal (
          seq INTEGER PRIMARY KEY,
          time INTEGER NOT NULL,
          command BLOB NOT NULL,
          checksum INTEGER NOT NULL,
          state_hash TEXT
        )`);
        db.exec(SNAPSHOT_TABLE);
      })();
    } else if (appId !== SQLITE_APPLICATION_ID) {
      throw new JournalError('format', null, `${this.path}: not a ringfence journal`);
    } else {
      let version = db.pragma('user_version', { simple: true }) as number;
      if (version === SQLITE_FORMAT_V1) {
        if (this.db.readonly) this.hasSnapshotTable = false;
        else {
          db.transaction(() => {
            db.exec(SNAPSHOT_TABLE);
            db.pragma(`user_version = ${SQLITE_FORMAT_VERSION}`);
          })();
          version = SQLITE_FORMAT_VERSION;
        }
      } else if (version !== SQLITE_FORMAT_VERSION) {
        throw new JournalError(
          'format',
          null,
          `${this.path}: journal format version ${version}, this build reads ${SQLITE_FORMAT_VERSION}`,
        );
      }
      if (!this.db.readonly) db.pragma('journal_mode = WAL');
    }
    if (!this.db.readonly) db.pragma(`synchronous = ${synchronous}`);
  }

  append(records: readonly JournalRecord[]): void {
    this.assertOpen();
    if (records.length === 0) return;
    let prev = this.last;
    for (const r of records) {
      if (prev !== 0 && r.seq !== prev + 1)
        throw new Error(`journal append: seq ${r.seq} does not follow ${prev}`);
      prev = r.seq;
    }
    this.insertMany(records);
    this.last = prev;
  }

  *readFrom(seq: number): Generator<JournalRecord> {
    this.assertOpen();
    let next = seq;
    for (;;) {
      const rows = this.page.all(next, READ_PAGE) as Row[];
      for (const row of rows) yield toRecord(row);
      if (rows.length < READ_PAGE) return;
      next = rows[rows.length - 1]![0] + 1;
    }
  }

  *readPages(seq: number): Generator<RecordPage> {
    this.assertOpen();
    let next = seq;
    for (;;) {
      const page = this.readPage(next);
      if (page.count > 0) yield page;
      if (page.count < READ_PAGE) return;
      next = page.seqs[page.count - 1]! + 1;
    }
  }

  /**
   * readPages on a thread of its own, a few pages ahead, checksums compared there (sqlite-pages.ts). An in-memory
   * database is this connection's alone: its pages are read here.
   */
  readPagesAhead(seq: number): AsyncIterable<RecordPage> {
    this.assertOpen();
    if (this.path === ':memory:' || this.path === '') return inOrder(this.readPages(seq));
    return readPagesAhead(this.path, seq);
  }

  /** Packing needs a UTF-8 database (ours always are) and SQLite ≥ 3.41 (unhex); otherwise pages of plain rows. */
  private preparePacked(): SqliteJournalStore['packed'] {
    if (this.db.pragma('encoding', { simple: true }) !== 'UTF-8') return null;
    try {
      return {
        page: this.db.prepare(PACKED_PAGE).raw(true),
        whole: this.db.prepare(WHOLE_ROWS).raw(true),
      };
    } catch {
      return null;
    }
  }

  /** The page of up to READ_PAGE records from seq `from` (run in a read transaction). */
  private pageAt(from: number): RecordPage {
    const plain = () => plainPage((this.page.all(from, READ_PAGE) as Row[]).map(toRecord));
    if (this.packed === null) return plain();
    const [count, blob] = this.packed.page.get(from, READ_PAGE) as [number, Buffer | null];
    if (count === 0) return plainPage([]);
    // Never expected to fail (nor the checks below): if it did, the plain way is the truth.
    const unpacked = blob === null ? null : unpackPage(count, blob);
    if (unpacked === null) return plain();
    const { page, whole } = unpacked;
    if (whole.length === 0) return page;
    const rows = this.packed.whole.all(from, READ_PAGE) as Row[];
    return fillWhole(page, whole, rows.map(toRecord)) ? page : plain();
  }

  lastSeq(): number {
    this.assertOpen();
    return (this.maxStmt.get() as number | null) ?? 0;
  }

  firstSeq(): number {
    this.assertOpen();
    return (this.minStmt.get() as number | null) ?? 0;
  }

  truncateAfter(seq: number): number {
    this.assertOpen();
    const n = this.cut(seq);
    this.last = (this.maxStmt.get() as number | null) ?? 0;
    return n;
  }

  saveSnapshot(s: SnapshotRecord): void {
    this.assertOpen();
    this.requireSnapshotTable();
    const last = this.lastSeq();
    if (s.seq > last)
      throw new Error(`journal snapshot: seq ${s.seq} is past the last stored record (${last})`);
    this.db
      .prepare(
        'INSERT OR REPLACE INTO snapshot (seq, time, state_hash, checksum, data) VALUES (?, ?, ?, ?, ?)',
      )
      .run(s.seq, s.time, s.stateHash, s.checksum, s.data);
  }

  listSnapshots(): SnapshotInfo[] {
    this.assertOpen();
    if (!this.hasSnapshotTable) return [];
    const rows = this.db
      .prepare('SELECT seq, time, state_hash, length(data) FROM snapshot ORDER BY seq DESC')
      .raw(true)
      .all() as [number, number, string, number][];
    return rows.map(([seq, time, stateHash, bytes]) => ({ seq, time, stateHash, bytes }));
  }

  readSnapshot(seq: number): SnapshotRecord | null {
    this.assertOpen();
    if (!this.hasSnapshotTable) return null;
    const row = this.db
      .prepare('SELECT seq, time, state_hash, checksum, data FROM snapshot WHERE seq = ?')
      .raw(true)
      .get(seq) as SnapshotRow | undefined;
    return row ? { seq: row[0], time: row[1], stateHash: row[2], checksum: row[3], data: row[4] } : null;
  }

  pruneSnapshots(keep: number): number {
    this.assertOpen();
    if (!this.hasSnapshotTable) return 0;
    return this.db
      .prepare('DELETE FROM snapshot WHERE seq NOT IN (SELECT seq FROM snapshot ORDER BY seq DESC LIMIT ?)')
      .run(Math.max(0, Math.floor(keep))).changes;
  }

  private requireSnapshotTable(): void {
    if (!this.hasSnapshotTable)
      throw new Error(`${this.path}: a read-only version-1 journal has no snapshot table`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('journal store is closed');
  }
}

function toRecord(row: Row): JournalRecord {
  return { seq: row[0], time: row[1], command: row[2], checksum: row[3], stateHash: row[4] };
}

async function* inOrder<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}
