/**
 * `ringfence journal verify <path|postgres-url>`: the final seq and state hash; snapshots checked against the
 * replay; a torn tail reported; errors on one line.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { PgJournalStore } from '../../src/journal/postgres.ts';
import { SqliteJournalStore } from '../../src/journal/sqlite.ts';
import { runCli } from '../cli/run.ts';
import { createTestDatabase, type TestDatabase } from './pg.ts';
import { fillJournal, fillStore, tempDir } from './util.ts';

const cli = (...argv: string[]) => runCli(argv);

describe('ringfence journal verify', () => {
  test('prints the final seq, state hash, records and checked hashes; --json gives the same figures', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'j.db');
      const live = await fillJournal(path, 400, { hashEvery: 100 });
      const r = await cli('journal', 'verify', path);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.err, '');
      assert.match(r.out, new RegExp(`^seq +${live.seq}$`, 'm'));
      assert.match(r.out, new RegExp(`^state hash +${live.hash}$`, 'm'));
      assert.match(r.out, new RegExp(`^records +${live.seq} replayed \\(seq 1\\.\\.${live.seq}\\)`, 'm'));
      assert.match(
        r.out,
        new RegExp(`^hashes +${Math.floor(live.seq / 100)} recorded state hashes checked, all match$`, 'm'),
      );
      assert.match(r.out, /^tail +intact$/m);
      const j = await cli('journal', 'verify', path, '--json');
      assert.equal(j.code, 0);
      const o = JSON.parse(j.out);
      assert.equal(o.seq, live.seq);
      assert.equal(o.stateHash, live.hash);
      assert.equal(o.records, live.seq);
      assert.deepEqual(o.tail, { cut: false });
    } finally {
      cleanup();
    }
  });

  test('a torn tail is reported (exit 0) and left in place: verify only reads', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'j.db');
      const live = await fillJournal(path, 100);
      const store = new SqliteJournalStore(path);
      store.db.prepare('UPDATE journal SET checksum = checksum + 1 WHERE seq = ?').run(live.seq);
      store.close();
      const r = await cli('journal', 'verify', path);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`^seq +${live.seq - 1}$`, 'm'));
      assert.match(
        r.out,
        new RegExp(
          `^tail +torn: 1 invalid record after seq ${live.seq - 1} \\(seq ${live.seq}: bad checksum\\)`,
          'm',
        ),
      );
      const again = new SqliteJournalStore(path, { create: false });
      assert.equal(again.lastSeq(), live.seq, 'verify did not cut it');
      again.close();
    } finally {
      cleanup();
    }
  });

  test('verify writes nothing: a version-1 file stays version 1, with no snapshot table added', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'v1.db');
      const live = await fillJournal(path, 50, { snapshotEvery: 0 });
      const s = new SqliteJournalStore(path);
      s.db.exec('DROP TABLE snapshot');
      s.db.pragma('user_version = 1');
      s.close();
      const r = await cli('journal', 'verify', path);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`^state hash +${live.hash}$`, 'm'));
      const db = new Database(path, { readonly: true });
      assert.equal(db.pragma('user_version', { simple: true }), 1);
      assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'snapshot'").pluck().get(), 0);
      db.close();
    } finally {
      cleanup();
    }
  });

  test('a gap exits 1 with one line naming the seq', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'j.db');
      await fillJournal(path, 100);
      const store = new SqliteJournalStore(path);
      store.db.prepare('DELETE FROM journal WHERE seq = 42').run();
      store.close();
      const r = await cli('journal', 'verify', path);
      assert.equal(r.code, 1);
      assert.equal(r.out, '');
      assert.equal(
        r.err,
        'ringfence journal verify: journal gap: seq 42 is missing (the next record is seq 43)\n',
      );
    } finally {
      cleanup();
    }
  });

  test('a bad path exits 2 with one line: missing, a directory, not SQLite, SQLite but not a journal', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const text = join(dir, 'notes.txt');
      writeFileSync(
        text,
        'hello, this is not a database at all, just some text to fill a page\n'.repeat(100),
      );
      const empty = join(dir, 'empty.db');
      writeFileSync(empty, '');
      for (const [path, msg] of [
        [join(dir, 'missing.db'), /cannot read \(ENOENT\)/],
        [dir, /not a file/],
        [text, /not a SQLite database/],
        [empty, /not a ringfence journal/],
      ] as const) {
        const r = await cli('journal', 'verify', path);
        assert.equal(r.code, 2, `${path}: ${r.err}`);
        assert.equal(r.out, '');
        assert.match(r.err, msg);
        assert.equal(r.err.split('\n').length, 2, `one line: ${r.err}`);
        assert.ok(r.err.startsWith(`ringfence journal verify: ${path}`));
      }
      assert.equal((await cli('journal', 'verify')).code, 2, 'missing argument');
    } finally {
      cleanup();
    }
  });
});

describe('ringfence journal verify: snapshots, PostgreSQL', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.drop();
  });

  test('SQLite: every stored snapshot is compared with the full replay; --from-snapshot starts from the newest', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'j.db');
      const live = await fillJournal(path, 700, { snapshotEvery: 200 });
      const r = await cli('journal', 'verify', path);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`^state hash +${live.hash}$`, 'm'));
      assert.match(r.out, /^snapshots +3 stored; 3 checked against the replay, all match$/m);
      const f = await cli('journal', 'verify', path, '--from-snapshot', '--json');
      assert.equal(f.code, 0, f.err);
      const o = JSON.parse(f.out);
      assert.equal(o.stateHash, live.hash);
      assert.equal(o.snapshots.restored, 600);
      assert.equal(o.records, live.seq - 600);
      assert.deepEqual(o.snapshots.stored, [600, 400, 200]);
    } finally {
      cleanup();
    }
  });

  test('PostgreSQL by URL: the same report; a schema that is not a journal and an unreachable server exit 2', async () => {
    const url = db.schemaUrl('verify_me');
    const live = await fillStore(await PgJournalStore.open(url), 300, { snapshotEvery: 100, hashEvery: 50 });
    const r = await cli('journal', 'verify', url);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^journal +${url.replace(/[?.]/g, '\\$&')}$`, 'm'));
    assert.match(r.out, new RegExp(`^seq +${live.seq}$`, 'm'));
    assert.match(r.out, new RegExp(`^state hash +${live.hash}$`, 'm'));
    assert.match(r.out, /^snapshots +3 stored; 3 checked against the replay, all match$/m);
    const j = JSON.parse((await cli('journal', 'verify', url, '--json', '--from-snapshot')).out);
    assert.equal(j.stateHash, live.hash);
    assert.equal(j.snapshots.restored, 300);
    for (const [bad, msg] of [
      [db.schemaUrl('nothing_here'), /not a ringfence journal/],
      ['postgres://postgres@127.0.0.1:1/x', /cannot connect/],
    ] as const) {
      const e = await cli('journal', 'verify', bad);
      assert.equal(e.code, 2, e.err);
      assert.match(e.err, msg);
      assert.equal(e.err.split('\n').length, 2, `one line: ${e.err}`);
    }
  });
});
