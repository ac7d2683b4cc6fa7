/**
 * The default journal store: one SQLite file (better-sqlite3), one table keyed by seq.
 *
 * Durability: WAL with synchronous=FULL, so a commit returns only after the WAL is fsynced; each `append` is one
 * transaction however many records it holds (group commit: the fsync is paid per batch, not per command). A
 * crash mid-commit leaves the transaction entirely absent (SQLite's own atomicity); the journal's checksums catch
 * what SQLite cannot (a damaged page, a record written by a buggy writer).
 *
 * The file says what it is: `application_id` = 'RFj1' and `user_version` = the format version, so a foreign
 * SQLite file is refused instead of being written into. One writer at a time (the service); readers (such as
 * `ringfence journal verify`) may open a live journal, WAL lets them read while it is written.
 */
import Database from 'better-sqlite3';
import { JournalError, type JournalRecord, type JournalStore } from './store.ts';

/** 'RFj1' */
export const SQLITE_APPLICATION_ID = 0x52466a31;
export const SQLITE_FORMAT_VERSION = 1;
/** Rows fetched per query while streaming (keeps memory flat on a journal of any length). */
const READ_PAGE = 8_192;
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

export class SqliteJournalStore implements JournalStore {
  readonly path: string;
  /** The connection; exposed for tests and tools (e.g. to inspect or damage records on purpose). */
  readonly db: Database.Database;
  private readonly insertOne: Database.Statement;
  private readonly insertChunk: Database.Statement;
  private readonly page: Database.Statement;
  private readonly maxStmt: Database.Statement;
  private readonly minStmt: Database.Statement;
  private readonly deleteAfter: Database.Statement;
  private readonly insertMany: (records: readonly JournalRecord[]) => void;
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
      })();
    } else if (appId !== SQLITE_APPLICATION_ID) {
      throw new JournalError('format', null, `${this.path}: not a ringfence journal`);
    } else {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== SQLITE_FORMAT_VERSION) {
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
      for (const row of rows)
        yield { seq: row[0], time: row[1], command: row[2], checksum: row[3], stateHash: row[4] };
      if (rows.length < READ_PAGE) return;
      next = rows[rows.length - 1]![0] + 1;
    }
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
    const n = this.deleteAfter.run(seq).changes;
    this.last = (this.maxStmt.get() as number | null) ?? 0;
    return n;
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
