/**
 * Crash test: a child process (crash-child.ts) runs a seeded random command stream through the Journal on a SQLite
 * file and prints every acknowledged seq; the parent kills it with SIGKILL at random moments, CRASH_CYCLES times
 * (default 20), and after each kill checks, on the file the child left:
 * - every seq the child acknowledged is in the journal (an ack means durable);
 * - seqs run 1..last with no gap and no repeat, command times never go backwards, and each run of the child
 *   acknowledged only seqs above the state it recovered (nothing applied twice);
 * - `recover` finds no corrupt tail (SQLite drops an uncommitted transaction whole), and its state hash equals a
 *   clean replay of the same records into a fresh Engine (decode + apply, no journal code);
 * - the ledger verifies and the engine's structural invariants hold;
 * - the next child recovers exactly this state (same seq and hash) and continues the stream from it.
 * Most kills land a random 0–500 ms after the child reported its recovery; one in five lands at a random moment
 * from spawn (sometimes during startup or recovery).
 *
 * Knobs (env): CRASH_SEED (printed on failure), CRASH_CYCLES.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { decodeCommand } from '../../src/journal/codec.ts';
import { recover } from '../../src/journal/journal.ts';
import { SqliteJournalStore } from '../../src/journal/sqlite.ts';
import { engineProblems } from '../engine/harness.ts';
import { Rng } from './stream.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHILD = join(HERE, 'crash-child.ts');
const CYCLES = Number(process.env.CRASH_CYCLES ?? 20);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

interface ChildRun {
  recovered: { seq: number; hash: string; cut: boolean } | null;
  acks: number[];
  stderr: string;
  signal: NodeJS.Signals | null;
  code: number | null;
}

/** Spawns the child, kills it with SIGKILL per the kill plan, and collects what it printed. */
function runChild(db: string, seed: number, rng: Rng): Promise<ChildRun> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD, db, String(seed)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: ChildRun = { recovered: null, acks: [], stderr: '', signal: null, code: null };
  const kill = () => child.kill('SIGKILL');
  const fromSpawn = rng.int(5) === 0;
  const timer = fromSpawn ? setTimeout(kill, rng.int(600)) : setTimeout(kill, 15_000); // safety net
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      const [what, a, b, c] = line.split(' ');
      if (what === 'ack') run.acks.push(Number(a));
      else if (what === 'recovered') {
        run.recovered = { seq: Number(a), hash: b!, cut: c === 'cut' };
        if (!fromSpawn) {
          clearTimeout(timer);
          setTimeout(kill, rng.int(300));
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    run.stderr += chunk;
  });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      run.code = code;
      run.signal = signal;
      // A partial last line is an ack cut off mid-write: not an acknowledgement the child finished printing.
      resolve(run);
    });
  });
}

/** Replays the stored records into a fresh Engine directly (no journal code beyond decoding). */
function cleanReplay(store: SqliteJournalStore): { engine: Engine; seqs: number[] } {
  const e = new Engine();
  const seqs: number[] = [];
  let lastTime = -1;
  for (const row of store.db.prepare('SELECT seq, command FROM journal ORDER BY seq').iterate() as Iterable<{
    seq: number;
    command: Buffer;
  }>) {
    const cmd = decodeCommand(row.command);
    assert.ok(cmd.time >= lastTime, `seq ${row.seq}: time went backwards`);
    lastTime = cmd.time;
    const r = e.apply(cmd);
    assert.ok(r.ok, `clean replay: seq ${row.seq} rejected: ${r.ok ? '' : `${r.code} ${r.message}`}`);
    assert.equal(r.seq, row.seq, `clean replay: seq ${row.seq} applied as ${r.seq}`);
    seqs.push(row.seq);
  }
  return { engine: e, seqs };
}

test(`crash: SIGKILL at random moments, ${CYCLES} cycles; every ack durable, no gap, no double apply, replay deterministic`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-crash-'));
  const db = join(dir, 'journal.db');
  const rng = new Rng(SEED);
  t.diagnostic(`CRASH_SEED=${SEED}`);
  let expected: { seq: number; hash: string } = { seq: 0, hash: stateHash(new Engine()) };
  let totalAcks = 0;
  let killedBeforeRecovery = 0;
  let maxAcked = 0;
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const ctx = `CRASH_SEED=${SEED} cycle ${cycle}`;
      const run = await runChild(db, SEED + cycle, rng);
      assert.equal(
        run.signal,
        'SIGKILL',
        `${ctx}: the child exited on its own (code ${run.code}): ${run.stderr}`,
      );
      if (run.recovered) {
        assert.deepEqual(
          { seq: run.recovered.seq, hash: run.recovered.hash },
          expected,
          `${ctx}: the child did not recover the state the last check saw`,
        );
        assert.equal(run.recovered.cut, false, `${ctx}: the child found a torn tail`);
      } else killedBeforeRecovery += 1;
      // Acks of this run: strictly increasing, all above the recovered state.
      let prev = expected.seq;
      for (const s of run.acks) {
        assert.ok(
          s > prev,
          `${ctx}: ack ${s} after ${prev} (an ack repeated or below the recovered seq ${expected.seq})`,
        );
        prev = s;
      }
      totalAcks += run.acks.length;
      if (run.acks.length) maxAcked = run.acks[run.acks.length - 1]!;

      const store = new SqliteJournalStore(db);
      try {
        const last = store.lastSeq();
        for (const s of run.acks)
          assert.ok(s <= last, `${ctx}: acknowledged seq ${s} is missing (journal ends at ${last})`);
        assert.ok(maxAcked <= last, `${ctx}: acknowledged seq ${maxAcked} is missing`);
        const { engine: clean, seqs } = cleanReplay(store);
        assert.equal(seqs.length, last, `${ctx}: ${seqs.length} records for seqs 1..${last}`);
        for (const [i, s] of seqs.entries()) assert.equal(s, i + 1, `${ctx}: seq ${i + 1} missing`);
        const report = await recover(store);
        assert.equal(report.cut, null, `${ctx}: ${report.log.join('; ')}`);
        assert.equal(report.lastSeq, last);
        assert.equal(report.stateHash, stateHash(clean), `${ctx}: recovery and a clean replay disagree`);
        const v = report.engine.ledger.verify();
        assert.ok(v.ok, `${ctx}: ledger: ${v.problems.join('; ')}`);
        assert.deepEqual(engineProblems(report.engine), [], ctx);
        expected = { seq: report.lastSeq, hash: report.stateHash };
      } finally {
        store.close();
      }
    }
    t.diagnostic(
      `${CYCLES} kills (${killedBeforeRecovery} before the child finished recovering), ${totalAcks} acks, journal ends at seq ${expected.seq}`,
    );
    assert.ok(totalAcks > 0, 'no command was ever acknowledged: the kills came too early');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
