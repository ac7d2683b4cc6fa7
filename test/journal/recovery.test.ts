/**
 * Recovery: a torn or corrupt tail is cut at the last valid record (and reported); corruption with valid records
 * after it, a gap, a divergent replay or a state-hash mismatch is an error naming the seq; replay is deterministic
 * (the recovered state hash equals the live engine's and a clean replay's); recovery can start from a snapshot.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import type { Command } from '../../src/engine/types.ts';
import { decodeCommand, encodeCommand, makeRecord, recordChecksum } from '../../src/journal/codec.ts';
import { Journal, recover } from '../../src/journal/journal.ts';
import { SqliteJournalStore } from '../../src/journal/sqlite.ts';
import { JournalError, type JournalRecord, type JournalStore } from '../../src/journal/store.ts';
import { BTCUSDT, engineProblems } from '../engine/harness.ts';
import { setupCommands } from './stream.ts';
import { fillJournal, pageRecords, tempDir } from './util.ts';

/** The state after the first `n` commands, applied to a fresh engine directly. */
function hashAfter(commands: Command[], n: number): string {
  const e = new Engine();
  for (const c of commands.slice(0, n)) assert.ok(e.apply(c).ok);
  return stateHash(e);
}

async function withJournal(
  n: number,
  fn: (path: string, live: Awaited<ReturnType<typeof fillJournal>>) => Promise<void>,
  opts = {},
) {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'j.db');
    const live = await fillJournal(path, n, opts);
    await fn(path, live);
  } finally {
    cleanup();
  }
}

const isJournalError = (kind: string, seq: number, message: RegExp) => (e: unknown) =>
  e instanceof JournalError && e.kind === kind && e.seq === seq && message.test(e.message);

describe('recovery: torn and corrupt tails', () => {
  test('the last three records damaged (flipped byte, wrong checksum, garbage): cut after the last valid one', async () => {
    await withJournal(400, async (path, live) => {
      const store = new SqliteJournalStore(path);
      const last = live.seq;
      const cmd = store.db.prepare('SELECT command FROM journal WHERE seq = ?').pluck();
      const flipped = Buffer.from(cmd.get(last - 2) as Buffer);
      flipped[flipped.length - 1]! ^= 0x01;
      store.db.prepare('UPDATE journal SET command = ? WHERE seq = ?').run(flipped, last - 2);
      store.db.prepare('UPDATE journal SET checksum = checksum + 1 WHERE seq = ?').run(last - 1);
      store.db.prepare('UPDATE journal SET command = ? WHERE seq = ?').run(Buffer.from('torn'), last);

      // Read-only recovery reports the tail and leaves it.
      const look = await recover(store, { repair: false });
      assert.deepEqual(look.cut, {
        afterSeq: last - 3,
        firstBadSeq: last - 2,
        reason: 'bad checksum',
        dropped: 3,
        removed: false,
      });
      assert.equal(store.lastSeq(), last);

      const report = await recover(store);
      assert.deepEqual(report.cut, {
        afterSeq: last - 3,
        firstBadSeq: last - 2,
        reason: 'bad checksum',
        dropped: 3,
        removed: true,
      });
      assert.equal(
        report.log[0],
        `journal: torn/corrupt tail cut after seq ${last - 3}: record ${last - 2}: bad checksum; 3 records removed`,
      );
      assert.equal(report.lastSeq, last - 3);
      assert.equal(store.lastSeq(), last - 3);
      assert.equal(report.stateHash, hashAfter(live.commands, last - 3));
      assert.deepEqual(engineProblems(report.engine), []);
      store.close();

      // The journal continues from there: seq last − 2 is written again.
      const { journal, report: again } = await Journal.open(new SqliteJournalStore(path));
      assert.equal(again.cut, null);
      const r = await journal.submit({
        ...live.commands[last - 3]!,
        time: journal.engine.lastTime,
      } as Command);
      assert.equal(r.ok && r.seq, last - 2);
      await journal.close();
    });
  });

  test('an undecodable record with a valid checksum at the end is cut too (reason: undecodable)', async () => {
    await withJournal(50, async (path, live) => {
      const store = new SqliteJournalStore(path);
      const junk = Uint8Array.from([0x92, 0x01]); // msgpack [1, <missing>]
      store.append([makeRecord(live.seq + 1, 0, junk)]);
      const report = await recover(store);
      assert.equal(report.cut?.afterSeq, live.seq);
      assert.match(report.cut!.reason, /^undecodable/);
      assert.match(
        report.log[0]!,
        new RegExp(`cut after seq ${live.seq}: record ${live.seq + 1}: undecodable`),
      );
      assert.equal(report.stateHash, live.hash);
      store.close();
    });
  });

  test('a WAL torn mid-commit (file cut short): SQLite drops the partial transaction, recovery ends at the last commit', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'j.db');
      const store = new SqliteJournalStore(path);
      store.db.pragma('wal_autocheckpoint = 0'); // keep every commit in the WAL
      const pageSize = store.db.pragma('page_size', { simple: true }) as number;
      const { journal } = await Journal.open(store, { hashEvery: 0 });
      const cmds: Command[] = [
        { type: 'createMarket', time: 1, market: BTCUSDT },
        ...Array.from(
          { length: 400 },
          (_, i): Command => ({
            type: 'deposit',
            time: 2 + i,
            account: `account-${i}`,
            asset: 'USDT',
            amount: '10.5',
          }),
        ),
      ];
      for (const c of cmds.slice(0, 21)) journal.submit(c);
      await journal.flush();
      const wal = `${path}-wal`;
      const walAfterFirst = statSync(wal).size;
      for (const c of cmds.slice(21)) journal.submit(c);
      await journal.flush();
      const walBytes = readFileSync(wal);
      const frame = 24 + pageSize;
      assert.ok(walBytes.length - walAfterFirst >= 3 * frame, 'the second commit spans several frames');
      // A copy as a crash would leave it: the WAL cut in the middle of the second commit's last frame.
      const copy = join(dir, 'copy.db');
      copyFileSync(path, copy);
      writeFileSync(`${copy}-wal`, walBytes.subarray(0, walBytes.length - frame / 2));
      await journal.close();
      const live = new Engine();
      for (const c of cmds.slice(0, 21)) live.apply(c);
      const torn = new SqliteJournalStore(copy);
      const report = await recover(torn);
      assert.equal(report.cut, null);
      assert.equal(report.lastSeq, 21);
      assert.equal(report.stateHash, stateHash(live));
      torn.close();
    } finally {
      cleanup();
    }
  });

  test('a corrupt record with valid records after it is not a tail: an error naming it, and nothing is cut', async () => {
    await withJournal(200, async (path, live) => {
      const store = new SqliteJournalStore(path);
      store.db.prepare('UPDATE journal SET checksum = checksum + 1 WHERE seq = ?').run(100);
      await assert.rejects(
        recover(store),
        isJournalError(
          'corrupt',
          100,
          /corrupt at seq 100 \(bad checksum\), but record 101 after it is valid/,
        ),
      );
      assert.equal(store.lastSeq(), live.seq);
      store.close();
    });
  });
});

describe('recovery: errors name the sequence', () => {
  test('a missing record in the middle is a gap naming its seq; so is a missing first record', async () => {
    await withJournal(200, async (path) => {
      const store = new SqliteJournalStore(path);
      store.db.prepare('DELETE FROM journal WHERE seq = 57').run();
      await assert.rejects(
        recover(store),
        isJournalError('gap', 57, /^journal gap: seq 57 is missing \(the next record is seq 58\)$/),
      );
      store.db.prepare('DELETE FROM journal WHERE seq <= 3').run();
      await assert.rejects(
        recover(store),
        isJournalError('gap', 1, /seq 1 is missing \(the next record is seq 4\)/),
      );
      store.close();
    });
  });

  test('a recorded state hash that differs from the replay is an error naming the seq (skipped with verifyHashes: false)', async () => {
    await withJournal(
      300,
      async (path, live) => {
        const store = new SqliteJournalStore(path);
        const wrong = '0'.repeat(64);
        const row = store.db.prepare('SELECT command FROM journal WHERE seq = 200').pluck().get() as Buffer;
        store.db
          .prepare('UPDATE journal SET state_hash = ?, checksum = ? WHERE seq = 200')
          .run(wrong, recordChecksum(200, row, wrong));
        await assert.rejects(
          recover(store, { repair: false }),
          isJournalError(
            'hashMismatch',
            200,
            /^state hash mismatch at seq 200: recorded 0000000000000000…, replay gives [0-9a-f]{16}…$/,
          ),
        );
        const skip = await recover(store, { verifyHashes: false });
        assert.equal(skip.stateHash, live.hash);
        assert.equal(skip.hashesChecked, 0);
        store.close();
      },
      { hashEvery: 50 },
    );
  });

  test('a valid record whose command the engine rejects on replay is an error naming the seq', async () => {
    await withJournal(30, async (path, live) => {
      const store = new SqliteJournalStore(path);
      const c: Command = {
        type: 'withdraw',
        time: live.engine.lastTime,
        account: 'nobody',
        asset: 'USDT',
        amount: '1',
      };
      store.append([makeRecord(live.seq + 1, c.time, encodeCommand(c))]);
      await assert.rejects(
        recover(store),
        isJournalError(
          'replay',
          live.seq + 1,
          new RegExp(`seq ${live.seq + 1} \\(withdraw\\) was rejected: UNKNOWN_ACCOUNT`),
        ),
      );
      store.close();
    });
  });
});

describe('recovery: determinism', () => {
  test('several seeds and batch shapes: recovered hash = live hash = a clean replay, twice over', async () => {
    for (const [seed, burst] of [
      [1, 1],
      [2, 37],
      [3, 500],
    ] as const) {
      await withJournal(
        1_500,
        async (path, live) => {
          const store = new SqliteJournalStore(path, { create: false });
          const a = await recover(store);
          const b = await recover(store);
          assert.equal(a.stateHash, live.hash, `seed ${seed}`);
          assert.equal(b.stateHash, live.hash);
          const clean = new Engine();
          for (const r of store.readFrom(1)) assert.ok(clean.apply(decodeCommand(r.command)).ok);
          assert.equal(stateHash(clean), live.hash);
          assert.deepEqual(engineProblems(a.engine), []);
          assert.ok(a.engine.ledger.verify().ok);
          store.close();
        },
        { seed, burst, hashEvery: 97 },
      );
    }
  });

  test('recovery from a snapshot engine replays only the records after it (where snapshots slot in)', async () => {
    await withJournal(500, async (path, live) => {
      const store = new SqliteJournalStore(path);
      const snapshot = new Engine();
      for (const c of live.commands.slice(0, 300)) snapshot.apply(c);
      const report = await recover(store, { engine: snapshot });
      assert.equal(report.firstSeq, 301);
      assert.equal(report.records, live.seq - 300);
      assert.equal(report.stateHash, live.hash);
      store.close();
    });
  });

  test('an empty journal recovers to a fresh engine', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = new SqliteJournalStore(join(dir, 'j.db'));
      const r = await recover(store);
      assert.deepEqual([r.firstSeq, r.lastSeq, r.records, r.cut], [0, 0, 0, null]);
      assert.equal(r.stateHash, stateHash(new Engine()));
      store.close();
    } finally {
      cleanup();
    }
  });
});

describe('recovery: records read a page at a time', () => {
  const T = { timeout: 120_000 };
  /** More records than a page (8,192) of deposits, a state hash on every 1,000th; the file is closed. */
  async function pagedJournal(path: string): Promise<number> {
    const store = new SqliteJournalStore(path);
    const journal = new Journal(new Engine(), store, { hashEvery: 1_000, snapshotEvery: 0 });
    let last: Promise<unknown> = Promise.resolve();
    for (const c of setupCommands()) last = journal.submit(c);
    for (let i = journal.engine.seq + 1; i <= 9_000; i++) {
      last = journal.submit({
        type: 'deposit',
        time: 1_700_000_000_000 + i,
        account: `a${i % 7}`,
        asset: 'USDT',
        amount: '1',
      });
    }
    await last;
    assert.equal(journal.engine.seq, 9_000, 'every deposit accepted');
    await journal.close();
    return 9_000;
  }
  /** Damage a SQLite file can hold, each in one record (`?` is its seq): fields of another type or range too. */
  const DAMAGE: [string, string][] = [
    ['time stored as a real', 'UPDATE journal SET time = time + 0.5 WHERE seq = ?'],
    ['time stored as text', "UPDATE journal SET time = 'soon' WHERE seq = ?"],
    ['checksum stored as text', "UPDATE journal SET checksum = 'abc' WHERE seq = ?"],
    [
      'checksum negative (the same 32 bits: still valid)',
      'UPDATE journal SET checksum = checksum - 4294967296 WHERE seq = ?',
    ],
    [
      'checksum past 32 bits (the same low 32 bits: still valid)',
      'UPDATE journal SET checksum = checksum + 4294967296 WHERE seq = ?',
    ],
    ['checksum off by one', 'UPDATE journal SET checksum = checksum + 1 WHERE seq = ?'],
    ['command stored as text', "UPDATE journal SET command = 'not bytes' WHERE seq = ?"],
    ['command empty', "UPDATE journal SET command = x'' WHERE seq = ?"],
    ['command cut short', 'UPDATE journal SET command = substr(command, 1, 10) WHERE seq = ?'],
    ['malformed state hash', "UPDATE journal SET state_hash = 'zz' WHERE seq = ?"],
    ['seq moved out of the safe range', 'UPDATE journal SET seq = 9007199254740993 WHERE seq = ?'],
  ];
  /** The same store without readPages: recovery reads it a record at a time. */
  const oneByOne = (s: SqliteJournalStore): JournalStore => ({
    append: (r) => s.append(r),
    readFrom: (seq) => s.readFrom(seq),
    lastSeq: () => s.lastSeq(),
    firstSeq: () => s.firstSeq(),
    truncateAfter: (seq) => s.truncateAfter(seq),
    saveSnapshot: (x) => s.saveSnapshot(x),
    listSnapshots: () => s.listSnapshots(),
    readSnapshot: (seq) => s.readSnapshot(seq),
    pruneSnapshots: (keep) => s.pruneSnapshots(keep),
    close: () => s.close(),
  });
  /** readAheadMin 0: pages read on the reader thread (checksums compared there); by default, on this one. */
  const outcome = (store: JournalStore, readAheadMin = Number.POSITIVE_INFINITY) =>
    recover(store, { repair: false, readAheadMin }).then(
      (r) => ({ lastSeq: r.lastSeq, hashes: r.hashesChecked, cut: r.cut, hash: r.stateHash, log: r.log }),
      (e: unknown) => ({ error: e instanceof JournalError ? `${e.kind} ${e.seq}: ${e.message}` : String(e) }),
    );
  /** Every record as readPages gives it, as a JournalRecord. */
  const paged = (store: SqliteJournalStore, from: number): JournalRecord[] =>
    [...store.readPages(from)].flatMap(pageRecords);

  test(
    'pages hold exactly the records readFrom streams, whatever is stored in them, past a page',
    T,
    async () => {
      const { dir, cleanup } = tempDir();
      try {
        const path = join(dir, 'j.db');
        const n = await pagedJournal(path);
        const store = new SqliteJournalStore(path);
        for (const [k, [, sql]] of DAMAGE.entries()) store.db.prepare(sql).run(8_000 + 97 * k);
        const plain = [...store.readFrom(1)];
        assert.equal(plain.length, n);
        assert.ok(plain.some((r) => r.stateHash !== null));
        for (const from of [1, 2, 8_192, 8_193, 8_500, n, n + 1]) {
          assert.deepEqual(paged(store, from), [...store.readFrom(from)], `from ${from}`);
        }
        store.close();
      } finally {
        cleanup();
      }
    },
  );

  test(
    'each damage, mid-journal and at the tail: the same verdict read by pages, by pages on a reader thread, or a record at a time',
    T,
    async () => {
      const { dir, cleanup } = tempDir();
      try {
        const clean = join(dir, 'clean.db');
        const n = await pagedJournal(clean);
        const store = new SqliteJournalStore(clean, { readonly: true });
        const intact = await outcome(store);
        assert.deepEqual(await outcome(oneByOne(store)), intact);
        assert.deepEqual(await outcome(store, 0), intact, 'read ahead on a thread');
        assert.ok('hashes' in intact && intact.hashes === 9 && intact.lastSeq === n);
        store.close();
        for (const [what, sql] of DAMAGE) {
          for (const seq of [8_500, n]) {
            const path = join(dir, `d${seq}.db`);
            copyFileSync(clean, path);
            const s = new SqliteJournalStore(path);
            s.db.prepare(sql).run(seq);
            const byPages = await outcome(s);
            assert.deepEqual(await outcome(oneByOne(s)), byPages, `${what} at seq ${seq}`);
            assert.deepEqual(await outcome(s, 0), byPages, `${what} at seq ${seq}, read ahead`);
            if (what.includes('still valid')) assert.deepEqual(byPages, intact, what);
            else assert.notDeepEqual(byPages, intact, what);
            s.close();
          }
        }
      } finally {
        cleanup();
      }
    },
  );
});
