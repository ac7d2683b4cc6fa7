/**
 * The store contract, run identically against SQLite and PostgreSQL: records (append atomically, refuse a seq that
 * does not follow, stream back in order), snapshots (stored only behind the journal, listed newest first, pruned,
 * cut with a torn tail), and recovery through each: from the newest usable snapshot plus the tail, falling back
 * past damaged snapshots with a log line, errors naming the seq where hashes disagree. Then what only PostgreSQL
 * has: the writer lock, schema identification, connection failures.
 *
 * PostgreSQL: the local server (started if it is down), in a database created for this file and dropped after it,
 * one schema per test.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { headers as natsHeaders } from '@nats-io/transport-node';
import Database from 'better-sqlite3';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { snapshotEngine } from '../../src/engine/snapshot.ts';
import type { Command } from '../../src/engine/types.ts';
import {
  encodeCommand,
  makeRecord,
  makeSnapshotRecord,
  recordChecksum,
  snapshotChecksum,
} from '../../src/journal/codec.ts';
import {
  encodeBatches,
  H_FIRST,
  H_LAST,
  JetStreamJournalStore,
  snapshotObject,
} from '../../src/journal/jetstream.ts';
import { Journal, recover } from '../../src/journal/journal.ts';
import { openJournalStore } from '../../src/journal/open.ts';
import { PgJournalStore } from '../../src/journal/postgres.ts';
import { SqliteJournalStore } from '../../src/journal/sqlite.ts';
import { SqliteThreadJournalStore } from '../../src/journal/sqlite-thread.ts';
import {
  JournalError,
  type JournalRecord,
  type JournalStore,
  type RecordPage,
  type SnapshotRecord,
} from '../../src/journal/store.ts';
import { deleteJournalStream, singleServer, singleServerMissing } from './nats-cluster.ts';
import { createTestDatabase, type TestDatabase } from './pg.ts';
import { setupCommands } from './stream.ts';
import { fillStore, pageRecords, tempDir } from './util.ts';

/** Direct writes that damage a stored journal on purpose, per store. */
interface Damage {
  setCommand(seq: number, bytes: Uint8Array): Promise<void>;
  setRecordHash(seq: number, hash: string, checksum: number): Promise<void>;
  deleteRecord(seq: number): Promise<void>;
  /** Replaces a snapshot's data, leaving its checksum (so it no longer matches). */
  setSnapshotData(seq: number, data: Uint8Array): Promise<void>;
  /** Rewrites a snapshot whole, with a valid checksum. */
  putSnapshot(s: SnapshotRecord): Promise<void>;
}

interface Kind {
  name: string;
  /** A fresh store (`id` names it: a file or a schema); `again` reopens the same one. */
  open(id: string): Promise<JournalStore>;
  damage(store: JournalStore): Damage;
}

let n = 0;
const uid = () => `s${process.pid}_${++n}`;

function sqliteKind(dir: () => string, threaded = false): Kind {
  return {
    name: threaded ? 'sqlite-thread' : 'sqlite',
    open: async (id) =>
      threaded
        ? SqliteThreadJournalStore.open(join(dir(), `${id}.db`))
        : new SqliteJournalStore(join(dir(), `${id}.db`)),
    damage: (store) => {
      // The threaded store's own connections are its writer thread's and a read-only one: damage through another.
      const db = threaded
        ? new Database((store as SqliteThreadJournalStore).path)
        : (store as SqliteJournalStore).db;
      return {
        setCommand: async (seq, bytes) =>
          void db.prepare('UPDATE journal SET command = ? WHERE seq = ?').run(bytes, seq),
        setRecordHash: async (seq, hash, checksum) =>
          void db
            .prepare('UPDATE journal SET state_hash = ?, checksum = ? WHERE seq = ?')
            .run(hash, checksum, seq),
        deleteRecord: async (seq) => void db.prepare('DELETE FROM journal WHERE seq = ?').run(seq),
        setSnapshotData: async (seq, data) =>
          void db.prepare('UPDATE snapshot SET data = ? WHERE seq = ?').run(data, seq),
        putSnapshot: async (s) =>
          void db
            .prepare(
              'INSERT OR REPLACE INTO snapshot (seq, time, state_hash, checksum, data) VALUES (?, ?, ?, ?, ?)',
            )
            .run(s.seq, s.time, s.stateHash, s.checksum, s.data),
      };
    },
  };
}

function pgKind(db: () => TestDatabase): Kind {
  return {
    name: 'postgres',
    open: (id) => PgJournalStore.open(db().schemaUrl(id)),
    damage: (store) => {
      const s = store as PgJournalStore;
      const q = (sql: string, params: unknown[]) =>
        s.client.query(
          sql
            .replaceAll('{j}', `"${s.schema}".ringfence_journal`)
            .replaceAll('{s}', `"${s.schema}".ringfence_snapshot`),
          params,
        );
      const buf = (b: Uint8Array) => Buffer.from(b);
      return {
        setCommand: async (seq, bytes) =>
          void (await q('UPDATE {j} SET command = $1 WHERE seq = $2', [buf(bytes), seq])),
        setRecordHash: async (seq, hash, checksum) =>
          void (await q('UPDATE {j} SET state_hash = $1, checksum = $2 WHERE seq = $3', [
            hash,
            checksum,
            seq,
          ])),
        deleteRecord: async (seq) => void (await q('DELETE FROM {j} WHERE seq = $1', [seq])),
        setSnapshotData: async (seq, data) =>
          void (await q('UPDATE {s} SET data = $1 WHERE seq = $2', [buf(data), seq])),
        putSnapshot: async (x) =>
          void (await q(
            `INSERT INTO {s} (seq, time, state_hash, checksum, data) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (seq) DO UPDATE SET time = $2, state_hash = $3, checksum = $4, data = $5`,
            [x.seq, x.time, x.stateHash, x.checksum, buf(x.data)],
          )),
      };
    },
  };
}

/**
 * JetStream: a stream on the single server, damaged by rewriting it — every record read back, edited, the stream
 * purged and the records published again (a message cannot be changed in place) — after which the store takes the
 * rewritten stream's end as its own (`adoptTail`, as a reopen would).
 */
/** Stream names of this run: a test process's pid may come again, its streams (deleted after) must not clash. */
const RUN = Date.now().toString(36);

function jetstreamKind(servers: () => string, streams: string[]): Kind {
  return {
    name: 'jetstream',
    open: async (id) => {
      const stream = `${id}_${RUN}`;
      if (!streams.includes(stream)) streams.push(stream);
      return JetStreamJournalStore.open(`nats://${servers()}/${stream}`);
    },
    damage: (store) => {
      const s = store as JetStreamJournalStore;
      const rewrite = async (edit: (rs: JournalRecord[]) => JournalRecord[]) => {
        const all = edit(await collect(s, 0));
        const jsm = await jetstreamManager(s.nc);
        await jsm.streams.purge(s.stream);
        const js = jetstream(s.nc);
        for (const b of encodeBatches(all, 16_384)) {
          const h = natsHeaders();
          h.set(H_FIRST, String(b.first));
          h.set(H_LAST, String(b.last));
          await js.publish(s.subject, b.payload, { headers: h });
        }
        await s.adoptTail();
      };
      const put = async (x: SnapshotRecord) =>
        void (await (await new Objm(s.nc).open(s.bucket)).putBlob(snapshotObject(x), x.data));
      return {
        setCommand: (seq, bytes) =>
          rewrite((rs) => rs.map((r) => (r.seq === seq ? { ...r, command: bytes } : r))),
        setRecordHash: (seq, hash, checksum) =>
          rewrite((rs) => rs.map((r) => (r.seq === seq ? { ...r, stateHash: hash, checksum } : r))),
        deleteRecord: (seq) => rewrite((rs) => rs.filter((r) => r.seq !== seq)),
        setSnapshotData: async (seq, data) => put({ ...(await s.readSnapshot(seq))!, data }),
        putSnapshot: put,
      };
    },
  };
}

const cmdAt = (i: number): Extract<Command, { type: 'deposit' }> => ({
  type: 'deposit',
  time: 1_700_000_000_000 + i,
  account: `a${i % 7}`,
  asset: 'USDT',
  amount: '1',
});
const rec = (seq: number): JournalRecord => {
  const c = cmdAt(seq);
  return makeRecord(seq, c.time, encodeCommand(c));
};
const recs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => rec(from + i));
async function collect(store: JournalStore, from: number): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  const src = store.readFrom(from);
  if (Symbol.iterator in src) for (const r of src) out.push(r);
  else for await (const r of src) out.push(r);
  return out;
}
/** Every record the store's pages hold (readPages, or its read-ahead), as JournalRecords. */
async function collectPages(
  pages: Iterable<RecordPage> | AsyncIterable<RecordPage>,
): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  if (Symbol.iterator in pages) for (const p of pages) out.push(...pageRecords(p));
  else for await (const p of pages) out.push(...pageRecords(p));
  return out;
}
/** Records as plain values (commands as Buffers), for deepEqual across stores' byte types. */
const plainRecords = (rs: JournalRecord[]) => rs.map((r) => ({ ...r, command: Buffer.from(r.command) }));
const isJournalError = (kind: string, seq: number | null, message: RegExp) => (e: unknown) =>
  e instanceof JournalError && e.kind === kind && e.seq === seq && message.test(e.message);

function contract(kind: Kind): void {
  test(`${kind.name}: append is atomic and refuses a seq that does not follow; readFrom streams in order past a page`, async () => {
    const store = await kind.open(uid());
    try {
      for (let from = 1; from <= 20_000; from += 2_500) await store.append(recs(from, from + 2_499));
      assert.equal(await store.lastSeq(), 20_000);
      assert.equal(await store.firstSeq(), 1);
      const all = await collect(store, 1);
      assert.equal(all.length, 20_000);
      assert.ok(all.every((r, i) => r.seq === i + 1));
      const r = all[12_345]!;
      assert.deepEqual(
        { ...r, command: Buffer.from(r.command) },
        { ...rec(12_346), command: Buffer.from(rec(12_346).command) },
      );
      assert.deepEqual(
        (await collect(store, 19_998)).map((x) => x.seq),
        [19_998, 19_999, 20_000],
      );
      await assert.rejects(
        Promise.resolve().then(() => store.append(recs(20_002, 20_003))),
        /seq 20002 does not follow 20000/,
      );
      await assert.rejects(
        Promise.resolve().then(() => store.append([rec(20_001), rec(20_001)])),
        /does not follow/,
      );
      assert.equal(await store.lastSeq(), 20_000);
      assert.equal(await store.truncateAfter(19_000), 1_000);
      assert.equal(await store.lastSeq(), 19_000);
      await store.append(recs(19_001, 19_002));
      assert.equal(await store.lastSeq(), 19_002);
    } finally {
      await store.close();
    }
  });

  test(`${kind.name}: pages (where the store reads them) hold exactly what readFrom streams, records with a state hash too, from any seq`, async () => {
    const store = await kind.open(uid());
    try {
      if (!store.readPages) return;
      // A state hash every 997 records: those travel whole, the rest packed.
      const hash = (seq: number) => (seq % 997 === 0 ? seq.toString(16).padStart(64, '0') : null);
      for (let from = 1; from <= 20_000; from += 2_500) {
        await store.append(
          Array.from({ length: 2_500 }, (_, i) => {
            const c = cmdAt(from + i);
            return makeRecord(from + i, c.time, encodeCommand(c), hash(from + i));
          }),
        );
      }
      for (const from of [1, 997, 8_192, 8_193, 16_385, 19_999, 20_000, 20_001]) {
        const plain = plainRecords(await collect(store, from));
        assert.equal(plain.length, Math.max(0, 20_001 - from), `from ${from}`);
        assert.deepEqual(
          plainRecords(await collectPages(store.readPages(from))),
          plain,
          `pages from ${from}`,
        );
        if (store.readPagesAhead)
          assert.deepEqual(
            plainRecords(await collectPages(store.readPagesAhead(from))),
            plain,
            `ahead from ${from}`,
          );
      }
    } finally {
      await store.close();
    }
  });

  test(`${kind.name}: snapshots are stored behind the journal only, listed newest first, replaced, pruned, and cut with the tail`, async () => {
    const store = await kind.open(uid());
    try {
      await store.append(recs(1, 500));
      const snap = (seq: number, byte: number) =>
        makeSnapshotRecord(
          seq,
          1_700_000_000_000 + seq,
          byte.toString(16).padStart(64, '0'),
          new Uint8Array(300).fill(byte),
        );
      for (const seq of [100, 200, 300, 400]) await store.saveSnapshot(snap(seq, seq / 100));
      await assert.rejects(
        Promise.resolve().then(() => store.saveSnapshot(snap(501, 9))),
        /past the last stored record/,
      );
      assert.deepEqual(
        (await store.listSnapshots()).map((s) => [s.seq, s.bytes]),
        [
          [400, 300],
          [300, 300],
          [200, 300],
          [100, 300],
        ],
      );
      await store.saveSnapshot(snap(300, 7)); // replaces
      const back = await store.readSnapshot(300);
      assert.ok(back);
      assert.deepEqual(
        { ...back, data: Buffer.from(back.data) },
        { ...snap(300, 7), data: Buffer.from(snap(300, 7).data) },
      );
      assert.equal(await store.readSnapshot(301), null);
      assert.equal(await store.pruneSnapshots(3), 1);
      assert.deepEqual(
        (await store.listSnapshots()).map((s) => s.seq),
        [400, 300, 200],
      );
      assert.equal(await store.truncateAfter(350), 150);
      assert.deepEqual(
        (await store.listSnapshots()).map((s) => s.seq),
        [300, 200],
      );
    } finally {
      await store.close();
    }
  });

  test(`${kind.name}: recovery restores the newest snapshot and replays the tail; equal to the live engine and to a full replay, which checks every snapshot`, async () => {
    const id = uid();
    const live = await fillStore(await kind.open(id), 1_200, {
      snapshotEvery: 250,
      hashEvery: 100,
      burst: 37,
    });
    assert.equal(live.journal.stats.snapshots, 4);
    assert.equal(live.journal.stats.snapshotErrors, 0);
    const store = await kind.open(id);
    try {
      assert.deepEqual(
        (await store.listSnapshots()).map((s) => s.seq),
        [1_000, 750, 500],
      );
      const r = await recover(store);
      assert.equal(r.snapshot?.seq, 1_000);
      assert.equal(r.records, live.seq - 1_000);
      assert.equal(r.firstSeq, 1_001);
      assert.equal(r.stateHash, live.hash);
      assert.deepEqual(r.skippedSnapshots, []);
      assert.match(
        r.log[0]!,
        /^journal: restored the snapshot at seq 1000 \(\d+ bytes\) in \d+ ms, state [0-9a-f]{16}…$/,
      );
      const full = await recover(store, { snapshots: false });
      assert.equal(full.stateHash, live.hash);
      assert.equal(full.records, live.seq);
      assert.equal(full.snapshotsChecked, 3);
      // Journal.open continues after the snapshot: the next command gets the next seq.
      const { journal } = await Journal.open(store, { snapshotEvery: 0 });
      const res = await journal.submit({ ...cmdAt(0), time: journal.engine.lastTime });
      assert.ok(res.ok && res.seq === live.seq + 1);
      const hash = stateHash(journal.engine);
      await journal.close();
      const again = await kind.open(id);
      assert.equal((await recover(again)).stateHash, hash);
      await again.close();
    } finally {
      await store.close();
    }
  });

  test(`${kind.name}: damaged snapshots are passed over, newest first, with a log line each; all damaged: a full replay`, async () => {
    const id = uid();
    const live = await fillStore(await kind.open(id), 800, { snapshotEvery: 200 });
    const store = await kind.open(id);
    try {
      const d = kind.damage(store);
      const [a, b, c] = (await store.listSnapshots()).map((x) => x.seq) as [number, number, number];
      assert.deepEqual([a - b, b - c], [200, 200]);
      await d.setSnapshotData(a, new Uint8Array([1, 2, 3]));
      // A valid checksum over bytes that are not a snapshot: restore refuses them.
      const junk = new Uint8Array([0x81, 0xa1, 0x78, 0x01]);
      const old = (await store.readSnapshot(b))!;
      await d.putSnapshot({ ...old, data: junk, checksum: snapshotChecksum(b, old.stateHash, junk) });
      const r = await recover(store, { repair: false });
      assert.equal(r.snapshot?.seq, c);
      assert.equal(r.stateHash, live.hash);
      assert.deepEqual(
        r.skippedSnapshots.map((s) => [s.seq, s.reason]),
        [
          [a, 'bad checksum'],
          [b, 'snapshot: not a ringfence snapshot'],
        ],
      );
      assert.equal(
        r.log[0],
        `journal: snapshot at seq ${a} unusable (bad checksum); falling back to the snapshot at seq ${b}`,
      );
      assert.equal(
        r.log[1],
        `journal: snapshot at seq ${b} unusable (snapshot: not a ringfence snapshot); falling back to the snapshot at seq ${c}`,
      );
      await d.setSnapshotData(c, new Uint8Array(10));
      const full = await recover(store, { repair: false });
      assert.equal(full.snapshot, null);
      assert.equal(full.records, live.seq);
      assert.equal(full.stateHash, live.hash);
      assert.equal(
        full.log[2],
        `journal: snapshot at seq ${c} unusable (bad checksum); falling back to a full replay`,
      );
    } finally {
      await store.close();
    }
  });

  test(`${kind.name}: a snapshot that restores to another state than its recorded hash is an error naming its seq; so is the journal's hash at that seq`, async () => {
    const id = uid();
    await fillStore(await kind.open(id), 500, { snapshotEvery: 200, hashEvery: 200 });
    const store = await kind.open(id);
    try {
      const d = kind.damage(store);
      const s = (await store.readSnapshot(400))!;
      const wrong = 'f'.repeat(64);
      await d.putSnapshot(makeSnapshotRecord(s.seq, s.time, wrong, s.data));
      await assert.rejects(
        recover(store),
        isJournalError(
          'hashMismatch',
          400,
          /^state hash mismatch at seq 400: the snapshot recorded ffffffffffffffff…, its restore gives [0-9a-f]{16}…$/,
        ),
      );
      await d.putSnapshot(s);
      const r400 = (await collect(store, 400))[0]!;
      await d.setRecordHash(400, wrong, recordChecksum(400, r400.command, wrong));
      await assert.rejects(
        recover(store),
        isJournalError(
          'hashMismatch',
          400,
          /^state hash mismatch at seq 400: the journal recorded ffffffffffffffff…, the snapshot [0-9a-f]{16}…$/,
        ),
      );
      // A full replay checks the snapshot at 200 against the replay, and the record at 400.
      await assert.rejects(
        recover(store, { snapshots: false }),
        isJournalError('hashMismatch', 400, /recorded ffff/),
      );
    } finally {
      await store.close();
    }
  });

  test(`${kind.name}: a torn tail after the snapshot is cut (snapshot kept); a gap after it is an error naming the seq`, async () => {
    const id = uid();
    const live = await fillStore(await kind.open(id), 600, { snapshotEvery: 250 });
    const store = await kind.open(id);
    try {
      const d = kind.damage(store);
      await d.setCommand(live.seq, new Uint8Array([0xde, 0xad]));
      await d.setCommand(live.seq - 1, new Uint8Array([0xbe, 0xef]));
      const r = await recover(store);
      assert.equal(r.snapshot?.seq, 500);
      assert.deepEqual(r.cut && [r.cut.afterSeq, r.cut.firstBadSeq, r.cut.dropped, r.cut.removed], [
        live.seq - 2,
        live.seq - 1,
        2,
        true,
      ]);
      assert.equal(await store.lastSeq(), live.seq - 2);
      assert.deepEqual(
        (await store.listSnapshots()).map((s) => s.seq),
        [500, 250],
      );
      await d.deleteRecord(540);
      await assert.rejects(
        recover(store),
        isJournalError('gap', 540, /seq 540 is missing \(the next record is seq 541\)/),
      );
    } finally {
      await store.close();
    }
  });

  test(`${kind.name}: the newest snapshot's own record damaged, valid records after it: the snapshot is passed over and recovery stops naming the seq`, async () => {
    const id = uid();
    const live = await fillStore(await kind.open(id), 600, { snapshotEvery: 250 });
    assert.ok(live.seq > 500);
    const store = await kind.open(id);
    try {
      await kind.damage(store).setCommand(500, new Uint8Array([0xde, 0xad]));
      await assert.rejects(
        recover(store, { repair: false }),
        isJournalError('corrupt', 500, /journal corrupt at seq 500 .*not a torn tail/),
      );
    } finally {
      await store.close();
    }
  });

  test(`${kind.name}: a snapshot is saved only once its record is durable; one whose commit fails is never saved`, async () => {
    const inner = await kind.open(uid());
    // A store whose appends wait for the test to open a gate (and can fail), over the real one.
    let gate: (() => void) | null = null;
    let failNext = false;
    const saved: number[] = [];
    const store: JournalStore = {
      append: async (records) => {
        await new Promise<void>((resolve) => {
          gate = resolve;
        });
        if (failNext) throw new Error('disk full');
        await inner.append(records);
      },
      readFrom: (seq) => inner.readFrom(seq),
      lastSeq: () => inner.lastSeq(),
      firstSeq: () => inner.firstSeq(),
      truncateAfter: (seq) => inner.truncateAfter(seq),
      saveSnapshot: async (s) => {
        saved.push(s.seq);
        await inner.saveSnapshot(s);
      },
      listSnapshots: () => inner.listSnapshots(),
      readSnapshot: (seq) => inner.readSnapshot(seq),
      pruneSnapshots: (k) => inner.pruneSnapshots(k),
      close: () => inner.close(),
    };
    const journal = new Journal(new Engine(), store, { snapshotEvery: 3 });
    const open = async () => {
      while (gate === null) await new Promise((r) => setImmediate(r));
      const g = gate as () => void;
      gate = null;
      g();
    };
    const acks = setupCommands()
      .slice(0, 4)
      .map((c) => journal.submit(c));
    const onDemand = journal.snapshot();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(saved, [], 'nothing saved while seqs 3 and 4 are not durable');
    await open();
    await Promise.all(acks);
    const info = await onDemand;
    assert.equal(info.seq, 4);
    assert.deepEqual(saved, [3, 4]);
    failNext = true;
    const later = [5, 6].map((i) =>
      journal.submit({ ...cmdAt(i), account: 'c0', time: journal.engine.lastTime }),
    );
    const dropped = journal.snapshot();
    await open();
    await assert.rejects(Promise.all(later), /disk full/);
    await assert.rejects(dropped, /disk full/);
    assert.deepEqual(saved, [3, 4]);
    assert.deepEqual(
      (await inner.listSnapshots()).map((s) => s.seq),
      [4, 3],
    );
    await journal.close().catch(() => {});
    await inner.close();
  });
}

describe('store contract: SQLite', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
  });
  after(() => tmp.cleanup());
  contract(sqliteKind(() => tmp.dir));

  test('sqlite: a version-1 file (no snapshot table) is read as is, and upgraded when opened for writing', async () => {
    const path = join(tmp.dir, 'v1.db');
    const live = await fillStore(new SqliteJournalStore(path), 100, { snapshotEvery: 0 });
    const s = new SqliteJournalStore(path);
    s.db.exec('DROP TABLE snapshot');
    s.db.pragma('user_version = 1');
    s.close();
    const ro = new SqliteJournalStore(path, { readonly: true });
    assert.deepEqual(ro.listSnapshots(), []);
    assert.equal((await recover(ro, { repair: false })).stateHash, live.hash);
    ro.close();
    const rw = new SqliteJournalStore(path);
    assert.equal(rw.db.pragma('user_version', { simple: true }), 2);
    const e = (await recover(rw)).engine;
    rw.saveSnapshot(makeSnapshotRecord(e.seq, e.lastTime, stateHash(e), snapshotEngine(e)));
    assert.equal((await recover(rw)).snapshot?.seq, e.seq);
    rw.close();
  });
});

describe('store contract: SQLite written on a worker thread', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
  });
  after(() => tmp.cleanup());
  contract(sqliteKind(() => tmp.dir, true));

  test('sqlite-thread: appends are committed in order by the writer thread and visible to the reader once acknowledged; a failed write rejects', async () => {
    const store = await SqliteThreadJournalStore.open(join(tmp.dir, 'order.db'));
    const writes = [1, 101, 201].map((from) => store.append(recs(from, from + 99)));
    await Promise.all(writes);
    assert.equal(store.lastSeq(), 300);
    await assert.rejects(store.append(recs(302, 302)), /seq 302 does not follow 300/);
    await store.append(recs(301, 301));
    assert.equal(store.lastSeq(), 301);
    // A write sent while close() runs is refused at once (it would queue behind the worker's close and be lost).
    const closing = store.close();
    await assert.rejects(store.append(recs(302, 302)), /closed/);
    await closing;
    await assert.rejects(store.append(recs(302, 302)), /closed/);
    await assert.rejects(
      SqliteThreadJournalStore.open(join(tmp.dir, 'no', 'such', 'dir.db')),
      /directory does not exist|unable to open/,
    );
  });
});

describe('store contract: PostgreSQL', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.drop();
  });
  contract(pgKind(() => db));

  test('postgres: one writer at a time (the next waits for the lock, then gives up); readers take no lock', async () => {
    const url = db.schemaUrl(uid());
    const a = await PgJournalStore.open(url);
    await a.append(recs(1, 10));
    const t0 = Date.now();
    await assert.rejects(
      PgJournalStore.open(url, { lockTimeoutMs: 300 }),
      /another writer holds the journal/,
    );
    assert.ok(Date.now() - t0 >= 250);
    const reader = await PgJournalStore.open(url, { readonly: true });
    assert.equal(await reader.lastSeq(), 10);
    await assert.rejects(reader.append(recs(11, 11)), /read-only/);
    // The lock goes with the first writer's session; a waiting writer gets it.
    const waiting = PgJournalStore.open(url, { lockTimeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 100));
    await a.close();
    const b = await waiting;
    assert.equal(await b.lastSeq(), 10);
    await b.append(recs(11, 12));
    await b.close();
    await reader.close();
  });

  test('postgres: a schema that is not a journal is refused for reading; a foreign ringfence_journal table is never written into', async () => {
    const id = uid();
    await assert.rejects(
      openJournalStore(db.schemaUrl(id), { readonly: true }),
      (e: unknown) =>
        e instanceof JournalError && e.kind === 'format' && /not a ringfence journal/.test(e.message),
    );
    const c = (await PgJournalStore.open(db.schemaUrl(uid()))).client;
    await c.query(`CREATE SCHEMA ${id}; CREATE TABLE ${id}.ringfence_journal (x int)`);
    await c.end();
    await assert.rejects(
      openJournalStore(db.schemaUrl(id)),
      /a ringfence_journal table without ringfence_meta/,
    );
    await assert.rejects(
      openJournalStore('postgres://postgres@127.0.0.1:1/none'),
      (e: unknown) => e instanceof JournalError && e.kind === 'format' && /cannot connect/.test(e.message),
    );
  });

  test('postgres: an acknowledged command is visible to another connection; before its commit it is not', async () => {
    const url = db.schemaUrl(uid());
    const { journal } = await Journal.open(await PgJournalStore.open(url));
    const reader = await PgJournalStore.open(url, { readonly: true });
    const cmds = setupCommands();
    const first = journal.submit(cmds[0]!);
    assert.equal(await reader.lastSeq(), 0);
    await first;
    assert.equal(await reader.lastSeq(), 1);
    await journal.close();
    await reader.close();
  });
});

describe('store contract: JetStream (R=1, the single server)', { timeout: 300_000 }, async () => {
  const missing = await singleServerMissing();
  const streams: string[] = [];
  let servers = '';
  before(async () => {
    if (!missing) servers = await singleServer();
  });
  after(async () => {
    for (const st of streams) await deleteJournalStream(servers, st);
  });
  if (missing) {
    test('jetstream: skipped', { skip: `no NATS server: ${missing}` }, () => {});
    return;
  }
  contract(jetstreamKind(() => servers, streams));
});
