/**
 * The Journal: encoding and checksums, a SQLite round trip, group commit (acknowledged only after the batch
 * holding the command is committed), store failures.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import type { ApplyResult, Command } from '../../src/engine/types.ts';
import {
  checkRecord,
  crc32,
  crc32Js,
  crc32Slice8,
  decodeCommand,
  encodeCommand,
  makeRecord,
  recordChecksum,
} from '../../src/journal/codec.ts';
import { Journal, JournalWriteError, recover } from '../../src/journal/journal.ts';
import { SqliteJournalStore } from '../../src/journal/sqlite.ts';
import {
  JournalError,
  type JournalRecord,
  type JournalStore,
  type SnapshotInfo,
  type SnapshotRecord,
} from '../../src/journal/store.ts';
import { BTCUSDT } from '../engine/harness.ts';
import { setupCommands } from './stream.ts';
import { fillJournal, tempDir } from './util.ts';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An in-memory store whose appends complete only when the test says so (or at once with `sync`). */
class GateStore implements JournalStore {
  readonly records: JournalRecord[] = [];
  readonly appends: number[][] = [];
  private gates: { resolve: () => void; reject: (e: Error) => void; records: JournalRecord[] }[] = [];
  failNext: Error | null = null;
  /** Appends taken in flight at once (JournalStore.pipeline). */
  pipeline = 1;
  constructor(private readonly sync = false) {}
  append(records: readonly JournalRecord[]): void | Promise<void> {
    this.appends.push(records.map((r) => r.seq));
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = null;
      if (this.sync) throw e;
      return Promise.reject(e);
    }
    if (this.sync) {
      this.records.push(...records);
      return;
    }
    return new Promise((resolve, reject) => this.gates.push({ resolve, reject, records: [...records] }));
  }
  /** Completes the oldest pending append. */
  open(): void {
    const g = this.gates.shift();
    assert.ok(g, 'no append pending');
    this.records.push(...g.records);
    g.resolve();
  }
  /** Answers the pending append `i` (0: the oldest), out of order; with an error, fails it. */
  answer(i: number, error?: Error): void {
    const [g] = this.gates.splice(i, 1);
    assert.ok(g, `no append ${i} pending`);
    if (error) g.reject(error);
    else {
      this.records.push(...g.records);
      g.resolve();
    }
  }
  get pendingAppends(): number {
    return this.gates.length;
  }
  *readFrom(seq: number): Iterable<JournalRecord> {
    for (const r of this.records) if (r.seq >= seq) yield r;
  }
  lastSeq(): number {
    return this.records.at(-1)?.seq ?? 0;
  }
  firstSeq(): number {
    return this.records[0]?.seq ?? 0;
  }
  truncateAfter(seq: number): number {
    const keep = this.records.filter((r) => r.seq <= seq);
    const n = this.records.length - keep.length;
    this.records.splice(0, this.records.length, ...keep);
    for (const s of [...this.snapshots.keys()]) if (s > seq) this.snapshots.delete(s);
    return n;
  }
  readonly snapshots = new Map<number, SnapshotRecord>();
  saveSnapshot(s: SnapshotRecord): void {
    this.snapshots.set(s.seq, s);
  }
  listSnapshots(): SnapshotInfo[] {
    return [...this.snapshots.values()]
      .sort((a, b) => b.seq - a.seq)
      .map((s) => ({ seq: s.seq, time: s.time, stateHash: s.stateHash, bytes: s.data.length }));
  }
  readSnapshot(seq: number): SnapshotRecord | null {
    return this.snapshots.get(seq) ?? null;
  }
  pruneSnapshots(keep: number): number {
    const old = [...this.snapshots.keys()].sort((a, b) => b - a).slice(keep);
    for (const s of old) this.snapshots.delete(s);
    return old.length;
  }
  close(): void {}
}

/** Tracks whether a promise has settled. */
function track<T>(p: Promise<T>): { done: () => boolean; value: () => T | undefined; error: () => unknown } {
  let settled = false;
  let value: T | undefined;
  let error: unknown;
  p.then(
    (v) => {
      settled = true;
      value = v;
    },
    (e) => {
      settled = true;
      error = e;
    },
  );
  return { done: () => settled, value: () => value, error: () => error };
}

let clock = 1_700_000_000_000;
const deposit = (account: string, amount = '100'): Extract<Command, { type: 'deposit' }> => ({
  type: 'deposit',
  time: ++clock,
  account,
  asset: 'USDT',
  amount,
});
const market = (): Command => ({ type: 'createMarket', time: ++clock, market: BTCUSDT });

describe('journal: encoding and checksums', () => {
  test('CRC32 is the IEEE one (check value of "123456789" is 0xCBF43926); table, slice-by-8 and node zlib agree', () => {
    const bytes = new TextEncoder().encode('123456789');
    assert.equal(crc32Js(bytes), 0xcbf43926);
    assert.equal(crc32Slice8(bytes), 0xcbf43926);
    assert.equal(crc32(bytes), 0xcbf43926);
    let x = 12345;
    // Lengths 0..1,029: every alignment of the 8-byte loop, and both sides of the JS/zlib threshold.
    for (let n = 0; n < 148; n++) {
      const data = new Uint8Array(n * 7);
      for (let i = 0; i < data.length; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        data[i] = x >>> 24;
      }
      assert.equal(crc32Js(data), crc32(data));
      assert.equal(crc32Js(data, 0xdeadbeef), crc32(data, 0xdeadbeef));
      assert.equal(crc32Slice8(data, 0xdeadbeef), crc32Js(data, 0xdeadbeef));
      const z = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
      if (z) assert.equal(crc32Js(data), z(data));
    }
  });

  test('the record checksum is CRC32 over seq as 8 little-endian bytes, then the command, then the state hash', () => {
    const cmd = encodeCommand(deposit('alice'));
    for (const seq of [1, 255, 256, 65_537, 2 ** 32 - 1, 2 ** 32 + 5, 2 ** 53 - 1]) {
      const head = new Uint8Array(8);
      new DataView(head.buffer).setBigUint64(0, BigInt(seq), true);
      assert.equal(recordChecksum(seq, cmd, null), crc32Js(cmd, crc32Js(head)), `seq ${seq}`);
      const hash = 'cd'.repeat(32);
      assert.equal(
        recordChecksum(seq, cmd, hash),
        crc32Js(new TextEncoder().encode(hash), crc32Js(cmd, crc32Js(head))),
      );
    }
  });

  test('commands round-trip exactly: nested configs, key order, undefined, booleans, bigints, large times', () => {
    const cmds: Command[] = [
      { type: 'createMarket', time: 1_700_000_000_123, market: BTCUSDT },
      {
        type: 'placeOrder',
        time: 5,
        account: 'a',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '0.001',
        price: '50000.1',
        timeInForce: 'IOC',
        reduceOnly: false,
        clientOrderId: undefined,
      },
      { type: 'deposit', time: 2 ** 52, account: 'b', asset: 'USDT', amount: 12n as unknown as string },
    ];
    for (const c of cmds) {
      const back = decodeCommand(encodeCommand(c));
      assert.deepStrictEqual(back, c);
      assert.deepEqual(Object.keys(back), Object.keys(c));
    }
  });

  test('checkRecord: any flipped bit in seq, command, checksum or state hash is caught; so is a time that disagrees', () => {
    const cmd = deposit('alice');
    const good = makeRecord(7, cmd.time, encodeCommand(cmd), 'ab'.repeat(32));
    assert.equal(checkRecord(good).ok, true);
    const flipped = new Uint8Array(good.command);
    flipped[3]! ^= 0x10;
    const bad: [string, JournalRecord][] = [
      ['seq', { ...good, seq: 8 }],
      ['command', { ...good, command: flipped }],
      ['checksum', { ...good, checksum: (good.checksum ^ 1) >>> 0 }],
      ['state hash', { ...good, stateHash: `ac${'ab'.repeat(31)}` }],
    ];
    for (const [what, r] of bad) {
      const c = checkRecord(r);
      assert.equal(c.ok, false, what);
      if (!c.ok) assert.equal(c.reason, 'bad checksum', what);
    }
    const garbage = Uint8Array.from([0xc1, 0x00]);
    const undecodable = checkRecord(makeRecord(1, 0, garbage));
    assert.equal(undecodable.ok, false);
    if (!undecodable.ok) assert.match(undecodable.reason, /undecodable/);
    const wrongTime = checkRecord(makeRecord(1, cmd.time + 1, encodeCommand(cmd)));
    assert.equal(wrongTime.ok, false);
    if (!wrongTime.ok) assert.match(wrongTime.reason, /time/);
  });

  test("a market keeps the journaled config, not the caller's object: changing that object later changes nothing", async () => {
    const journal = new Journal(new Engine(), new GateStore(true));
    const cfg = structuredClone(BTCUSDT);
    await journal.submit({ type: 'createMarket', time: ++clock, market: cfg });
    const before = stateHash(journal.engine);
    cfg.takerFee = '0.5';
    (cfg.risk as { tiers: { mmr: string }[] }).tiers[0]!.mmr = '0.9';
    assert.equal(stateHash(journal.engine), before);
    assert.notEqual(journal.engine.markets.get('BTCUSDT')!.config, cfg);
    const replayed = new Engine();
    replayed.apply({ type: 'createMarket', time: clock, market: BTCUSDT });
    assert.equal(stateHash(replayed), before);
  });

  test('a command msgpack cannot hold exactly is rejected before the engine sees it', async () => {
    const j = new Journal(new Engine(), new GateStore(true));
    await j.submit(market());
    const before = stateHash(j.engine);
    const r = await j.submit({ ...deposit('alice'), amount: (2n ** 70n) as unknown as string });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.code, 'INVALID_COMMAND');
    assert.equal(stateHash(j.engine), before);
  });
});

describe('journal: SQLite round trip', () => {
  test('2,000 random commands: the recovered state, seq and every stored command equal what ran live', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'j.db');
      const live = await fillJournal(path, 2_000, { hashEvery: 100 });
      const store = new SqliteJournalStore(path, { create: false });
      assert.equal(store.lastSeq(), live.seq);
      assert.equal(store.firstSeq(), 1);
      const stored = [...store.readFrom(1)];
      assert.equal(stored.length, live.seq, 'rejected commands are not journaled');
      stored.forEach((r, i) => {
        assert.equal(r.seq, i + 1);
        assert.deepStrictEqual(decodeCommand(r.command), live.commands[i]);
        assert.equal(r.stateHash !== null, r.seq % 100 === 0, `seq ${r.seq}: a state hash every 100 records`);
      });
      assert.deepEqual(
        [...store.readFrom(live.seq - 2)].map((r) => r.seq),
        [live.seq - 2, live.seq - 1, live.seq],
      );
      const report = await recover(store);
      assert.equal(report.lastSeq, live.seq);
      assert.equal(report.records, live.seq);
      assert.equal(report.firstSeq, 1);
      assert.equal(report.stateHash, live.hash);
      assert.equal(report.hashesChecked, Math.floor(live.seq / 100));
      assert.equal(report.cut, null);
      assert.match(
        report.log.at(-1)!,
        new RegExp(`recovered ${live.seq} records \\(seq 1\\.\\.${live.seq}\\)`),
      );
      store.close();
    } finally {
      cleanup();
    }
  });

  test('Journal.open continues a journal: later commands get the next seqs and replay on top', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'j.db');
      const first = await fillJournal(path, 300);
      const { journal, report } = await Journal.open(new SqliteJournalStore(path));
      assert.equal(report.stateHash, first.hash);
      const r = await journal.submit({
        type: 'deposit',
        time: journal.engine.lastTime + 1,
        account: 'c0',
        asset: 'USDT',
        amount: '1',
      });
      assert.equal(r.ok && r.seq, first.seq + 1);
      const hash = stateHash(journal.engine);
      await journal.close();
      await assert.rejects(journal.submit(deposit('c0')), /closed/);
      const store = new SqliteJournalStore(path);
      const again = await recover(store);
      assert.equal(again.lastSeq, first.seq + 1);
      assert.equal(again.stateHash, hash);
      store.close();
    } finally {
      cleanup();
    }
  });

  test('the store refuses a seq that does not follow, and a seq stored twice (nothing of the batch is written)', () => {
    const { dir, cleanup } = tempDir();
    const store = new SqliteJournalStore(join(dir, 'j.db'));
    try {
      const cmds = [market(), deposit('a'), deposit('b'), deposit('c')];
      store.append([
        makeRecord(1, cmds[0]!.time, encodeCommand(cmds[0]!)),
        makeRecord(2, cmds[1]!.time, encodeCommand(cmds[1]!)),
      ]);
      assert.throws(
        () => store.append([makeRecord(4, cmds[3]!.time, encodeCommand(cmds[3]!))]),
        /seq 4 does not follow 2/,
      );
      assert.throws(
        () =>
          store.append([
            makeRecord(3, cmds[2]!.time, encodeCommand(cmds[2]!)),
            makeRecord(3, cmds[2]!.time, encodeCommand(cmds[2]!)),
          ]),
        /does not follow/,
      );
      // Past the in-memory check (a second writer, say), the primary key still refuses a repeat, atomically.
      assert.throws(
        () => store.db.prepare("INSERT INTO journal VALUES (2, 0, x'00', 0, NULL)").run(),
        /UNIQUE/,
      );
      assert.equal(store.lastSeq(), 2);
    } finally {
      store.close();
      cleanup();
    }
  });

  test('a foreign SQLite file is refused, not written into; a missing file is not created when create is false', () => {
    const { dir, cleanup } = tempDir();
    try {
      const foreign = join(dir, 'foreign.db');
      const db = new Database(foreign);
      db.exec('CREATE TABLE t (x)');
      db.close();
      assert.throws(
        () => new SqliteJournalStore(foreign),
        (e: unknown) => e instanceof JournalError && e.kind === 'format',
      );
      assert.throws(() => new SqliteJournalStore(join(dir, 'missing.db'), { create: false }));
      const again = new Database(foreign);
      assert.deepEqual(again.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all(), [
        't',
      ]);
      again.close();
    } finally {
      cleanup();
    }
  });
});

describe('journal: group commit', () => {
  test('commands of one turn go in one append; each is acknowledged only after that append completes', async () => {
    const store = new GateStore();
    const j = new Journal(new Engine(), store);
    const acks = [j.submit(market()), j.submit(deposit('a')), j.submit(deposit('b'))].map(track);
    assert.equal(j.engine.seq, 3, 'the engine applied them at once');
    assert.deepEqual(store.appends, [], 'nothing is written before the end of the turn');
    await turn();
    assert.deepEqual(store.appends, [[1, 2, 3]]);
    await turn();
    assert.ok(
      acks.every((a) => !a.done()),
      'no ack while the commit is in flight',
    );
    // More commands while the commit is in flight: they wait behind it.
    const later = [j.submit(deposit('c')), j.submit(deposit('d'))].map(track);
    await turn();
    assert.deepEqual(store.appends, [[1, 2, 3]], 'the next batch waits for the one in flight');
    assert.equal(j.pending, 5, 'three in flight, two open');
    store.open();
    await turn();
    assert.ok(acks.every((a) => a.done()));
    assert.deepEqual(
      acks.map((a) => (a.value() as ApplyResult & { ok: true }).seq),
      [1, 2, 3],
    );
    assert.ok(
      later.every((a) => !a.done()),
      'later commands are not acknowledged with the earlier batch',
    );
    assert.deepEqual(store.appends, [
      [1, 2, 3],
      [4, 5],
    ]);
    store.open();
    await j.flush();
    assert.ok(later.every((a) => a.done()));
    assert.equal(j.stats.commits, 2);
    assert.equal(j.stats.records, 5);
  });

  test('close refuses new commands at once, even while a commit is in flight: what it flushes is final', async () => {
    const store = new GateStore();
    const j = new Journal(new Engine(), store);
    const first = track(j.submit(market()));
    await turn();
    assert.equal(store.pendingAppends, 1, 'the first batch is committing');
    const closing = j.close();
    await assert.rejects(j.submit(deposit('a')), /journal is closed/);
    await assert.rejects(j.snapshot(), /journal is closed/);
    assert.equal(j.engine.seq, 1, 'the refused command was not applied');
    assert.equal(j.close(), closing, 'close again: the same promise');
    store.open();
    await closing;
    assert.ok(first.done());
    assert.deepEqual(store.appends, [[1]]);
  });

  test('what queued behind an in-flight commit goes in one append, up to maxBatch records', async () => {
    const store = new GateStore();
    const j = new Journal(new Engine(), store, { maxBatch: 3 });
    j.submit(market());
    j.submit(deposit('a'));
    j.submit(deposit('b')); // batch full: committed at once
    assert.deepEqual(store.appends, [[1, 2, 3]]);
    // Queued behind it: [4 5 6] and [7 8] (size bound), then [9] and [10] (one turn each).
    for (const a of ['c', 'd', 'e', 'f', 'g']) j.submit(deposit(a));
    await turn();
    j.submit(deposit('h'));
    await turn();
    j.submit(deposit('i'));
    await turn();
    assert.deepEqual(store.appends, [[1, 2, 3]]);
    assert.equal(j.pending, 10);
    store.open();
    await turn();
    assert.deepEqual(store.appends.at(-1), [4, 5, 6]);
    store.open();
    await turn();
    assert.deepEqual(store.appends.at(-1), [7, 8, 9], 'two queued batches merged');
    store.open();
    await turn();
    assert.deepEqual(store.appends.at(-1), [10]);
    store.open();
    await j.flush();
    assert.equal(j.pending, 0);
    assert.equal(j.stats.largestBatch, 3);
  });

  test('a pipelined store takes `pipeline` commits in flight; they settle in seq order whatever order they are answered in', async () => {
    const store = new GateStore();
    store.pipeline = 3;
    const j = new Journal(new Engine(), store, { maxBatch: 2 });
    const acks = [
      market(),
      deposit('a'),
      deposit('b'),
      deposit('c'),
      deposit('d'),
      deposit('e'),
      deposit('f'),
    ].map((c) => track(j.submit(c)));
    await turn();
    // Three commits in flight at once; what follows them queues (and merges) behind.
    assert.deepEqual(store.appends, [
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    assert.equal(j.pending, 7);
    store.answer(2); // the newest is answered first: nothing is acknowledged before the ones ahead of it
    await turn();
    assert.ok(acks.every((a) => !a.done()));
    assert.equal(j.committedSeq, 0);
    store.answer(0); // [1,2] committed; [3,4] still not: [5,6] waits with it
    await turn();
    assert.deepEqual(
      acks.map((a) => a.done()),
      [true, true, false, false, false, false, false],
    );
    assert.equal(j.committedSeq, 2);
    assert.deepEqual(store.appends.at(-1), [7], 'a slot freed: the queued batch went');
    store.answer(0);
    await turn();
    assert.equal(j.committedSeq, 6);
    assert.deepEqual(
      acks.map((a) => a.done()),
      [true, true, true, true, true, true, false],
    );
    store.answer(0);
    await j.flush();
    assert.equal(j.committedSeq, 7);
    assert.equal(j.pending, 0);
  });

  test('a pipelined commit that fails fails every commit after it, even one its store answered', async () => {
    const store = new GateStore();
    store.pipeline = 3;
    const j = new Journal(new Engine(), store, { maxBatch: 1 });
    const acks = [market(), deposit('a'), deposit('b'), deposit('c')].map((c) => track(j.submit(c)));
    await turn();
    assert.equal(store.pendingAppends, 3);
    store.answer(2);
    store.answer(1, new Error('quorum lost'));
    store.answer(0);
    await turn();
    // [1] settled, so [4] went; the store answers it too (a real one refuses what follows a failure).
    assert.deepEqual(store.appends.at(-1), [4]);
    store.answer(0);
    await turn();
    assert.equal(j.committedSeq, 1);
    assert.ok(acks[0]!.done() && acks[0]!.error() === undefined);
    for (const a of acks.slice(1)) assert.ok(a.error() instanceof JournalWriteError, String(a.error()));
    assert.match(String(acks[1]!.error()), /batch from seq 2.*quorum lost/);
    await assert.rejects(j.submit(deposit('e')), JournalWriteError);
  });

  test('a rejected command is acknowledged at once, even while a commit is pending, and is not journaled', async () => {
    const store = new GateStore();
    const j = new Journal(new Engine(), store);
    const first = track(j.submit(market()));
    const bad = await j.submit({
      type: 'withdraw',
      time: ++clock,
      account: 'nobody',
      asset: 'USDT',
      amount: '1',
    });
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.equal(bad.code, 'UNKNOWN_ACCOUNT');
    assert.equal(first.done(), false);
    await turn();
    assert.deepEqual(store.appends, [[1]]);
    store.open();
    await j.flush();
    assert.equal(first.done(), true);
  });

  test('maxBatch bounds a batch: reaching it commits at once, the rest at the end of the turn', async () => {
    const store = new GateStore(true);
    const j = new Journal(new Engine(), store, { maxBatch: 2 });
    const acks = [market(), deposit('a'), deposit('b'), deposit('c'), deposit('d')].map((c) =>
      track(j.submit(c)),
    );
    assert.deepEqual(
      store.appends,
      [
        [1, 2],
        [3, 4],
      ],
      'two full batches committed during the submits',
    );
    await Promise.resolve();
    assert.deepEqual(
      acks.map((a) => a.done()),
      [true, true, true, true, false],
    );
    await turn();
    assert.deepEqual(store.appends, [[1, 2], [3, 4], [5]]);
    assert.equal(acks[4]!.done(), true);
  });

  test('a failed commit rejects its commands and poisons the journal (the engine is ahead of the store)', async () => {
    for (const sync of [true, false]) {
      const store = new GateStore(sync);
      const j = new Journal(new Engine(), store);
      await (sync
        ? j.submit(market())
        : (async () => {
            const p = j.submit(market());
            await turn();
            store.open();
            return p;
          })());
      store.failNext = new Error('disk full');
      const a = j.submit(deposit('a'));
      const b = j.submit(deposit('b'));
      await assert.rejects(
        a,
        (e: unknown) =>
          e instanceof JournalWriteError && /disk full/.test(e.message) && /seq 2/.test(e.message),
      );
      await assert.rejects(b, JournalWriteError);
      await assert.rejects(j.submit(deposit('c')), JournalWriteError);
      await assert.rejects(j.flush(), JournalWriteError);
      assert.deepEqual(
        store.records.map((r) => r.seq),
        [1],
      );
    }
  });

  test('an engine that throws (a bug, not a rejection) halts the journal; what was accepted before still commits', async () => {
    class Boom extends Engine {
      override apply(c: Command): ApplyResult {
        if (c.type === 'tick') throw new Error('boom');
        return super.apply(c);
      }
    }
    const store = new GateStore(true);
    const j = new Journal(new Boom(), store);
    const first = j.submit(market());
    await assert.rejects(
      j.submit({ type: 'tick', time: ++clock }),
      /engine threw applying tick: boom; journal halted/,
    );
    await assert.rejects(j.submit(deposit('a')), /journal halted/);
    assert.equal(((await first) as ApplyResult & { ok: true }).seq, 1);
    await j.flush();
    assert.deepEqual(
      store.records.map((r) => r.seq),
      [1],
    );
  });

  test('SQLite: an acknowledged command is visible to another connection; before the end of the turn it is not', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'j.db');
    const { journal } = await Journal.open(new SqliteJournalStore(path));
    const reader = new Database(path, { readonly: true });
    const count = () => reader.prepare('SELECT count(*) FROM journal').pluck().get() as number;
    try {
      const acks = setupCommands().map((c) => track(journal.submit(c)));
      assert.equal(count(), 0);
      await turn();
      assert.ok(acks.every((a) => a.done()));
      assert.equal(count(), acks.length);
      assert.equal(journal.stats.commits, 1);
    } finally {
      reader.close();
      await journal.close();
      cleanup();
    }
  });
});
