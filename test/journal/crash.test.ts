/**
 * Crash test, on SQLite and on PostgreSQL (both at once: a cycle is mostly waiting): a child process
 * (crash-child.ts) runs a seeded random command stream through the Journal and prints every acknowledged seq; the
 * parent kills it with SIGKILL at random moments, CRASH_CYCLES times (default 20) per store, and after each kill
 * checks, on the journal the child left:
 * - every seq the child acknowledged is in the journal (an ack means durable);
 * - seqs run 1..last with no gap and no repeat, command times never go backwards, and each run of the child
 *   acknowledged only seqs above the state it recovered (nothing applied twice);
 * - `recover` finds no corrupt tail (SQLite drops an uncommitted transaction whole), and its state hash equals a
 *   clean replay of the same records into a fresh Engine (decode + apply, no journal code), whether recovery started
 *   from a snapshot or not (the child snapshots every 97 or 400 commands, or never, by seed); no snapshot is ever
 *   ahead of the records;
 * - the ledger verifies and the engine's structural invariants hold;
 * - the next child recovers exactly this state (same seq and hash) and continues the stream from it.
 * Most kills land a random 0–500 ms after the child reported its recovery; one in five lands at a random moment
 * from spawn (sometimes during startup or recovery).
 *
 * On PostgreSQL the killed child's server session can outlive it by a moment (still running the statement it sent);
 * the next writer waits for its lock, so the checks and the next child see what that session committed.
 *
 * The child is compiled to JavaScript once (tsc, no type check) and run with plain node: with tsx each spawn
 * cost about a second of transpiling, most of a cycle. If compiling fails it runs through tsx.
 *
 * Knobs (env): CRASH_SEED (printed on failure), CRASH_CYCLES.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { decodeCommand } from '../../src/journal/codec.ts';
import { recover } from '../../src/journal/journal.ts';
import { openJournalStore } from '../../src/journal/open.ts';
import type { JournalStore } from '../../src/journal/store.ts';
import { engineProblems } from '../engine/harness.ts';
import { createTestDatabase, type TestDatabase } from './pg.ts';
import { Rng } from './stream.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const CHILD = join(HERE, 'crash-child.ts');
/** How to start the child: compiled JavaScript (see `before`) or, failing that, through tsx. */
let childArgs: string[] = ['--import', 'tsx', CHILD];
const CYCLES = Number(process.env.CRASH_CYCLES ?? 20);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

interface ChildRun {
  recovered: { seq: number; hash: string; cut: boolean } | null;
  acks: number[];
  stderr: string;
  signal: NodeJS.Signals | null;
  code: number | null;
}

/**
 * Compiles crash-child.ts and what it imports to JavaScript under node_modules/.cache (inside the project, so its
 * packages resolve), without type checking (`npm test` type-checks). Returns the args to run it, or null.
 */
function compileChild(): { args: string[]; dir: string } | null {
  const dir = join(ROOT, 'node_modules', '.cache', `ringfence-crash-${process.pid}`);
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) return null;
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      '--ignoreConfig',
      '--outDir',
      dir,
      '--rootDir',
      ROOT,
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--rewriteRelativeImportExtensions',
      '--allowImportingTsExtensions',
      '--verbatimModuleSyntax',
      '--noCheck',
      '--skipLibCheck',
      '--types',
      'node',
      CHILD,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  const js = join(dir, 'test', 'journal', 'crash-child.js');
  if (r.status !== 0 || !existsSync(js)) return null;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  return { args: [js], dir };
}

/** Spawns the child, kills it with SIGKILL per the kill plan, and collects what it printed. */
function runChild(db: string, seed: number, rng: Rng): Promise<ChildRun> {
  const child: ChildProcess = spawn(process.execPath, [...childArgs, db, String(seed)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: ChildRun = { recovered: null, acks: [], stderr: '', signal: null, code: null };
  const kill = () => child.kill('SIGKILL');
  const fromSpawn = rng.below(5) === 0;
  const timer = fromSpawn ? setTimeout(kill, rng.below(600)) : setTimeout(kill, 15_000); // safety net
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
          setTimeout(kill, rng.below(300));
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
async function cleanReplay(
  store: JournalStore,
  snapshots: ReadonlyMap<number, string>,
  ctx: string,
): Promise<{ engine: Engine; seqs: number[] }> {
  const e = new Engine();
  const seqs: number[] = [];
  let lastTime = -1;
  const rows = store.readFrom(1);
  for await (const row of rows) {
    const cmd = decodeCommand(row.command);
    assert.ok(cmd.time >= lastTime, `seq ${row.seq}: time went backwards`);
    lastTime = cmd.time;
    const r = e.apply(cmd);
    assert.ok(r.ok, `clean replay: seq ${row.seq} rejected: ${r.ok ? '' : `${r.code} ${r.message}`}`);
    assert.equal(r.seq, row.seq, `clean replay: seq ${row.seq} applied as ${r.seq}`);
    const snap = snapshots.get(row.seq);
    if (snap !== undefined)
      assert.equal(
        stateHash(e),
        snap,
        `${ctx}: the snapshot at seq ${row.seq} differs from the clean replay`,
      );
    seqs.push(row.seq);
  }
  return { engine: e, seqs };
}

/** The crash loop on one journal: a SQLite path or a postgres:// URL. */
async function crashCycles(t: { diagnostic: (s: string) => void }, db: string, name: string): Promise<void> {
  const rng = new Rng(SEED);
  t.diagnostic(
    `${name}: CRASH_SEED=${SEED}; the child runs ${childArgs[0] === '--import' ? 'through tsx' : 'compiled'}`,
  );
  let expected: { seq: number; hash: string } = { seq: 0, hash: stateHash(new Engine()) };
  let totalAcks = 0;
  let killedBeforeRecovery = 0;
  let maxAcked = 0;
  let fromSnapshot = 0;
  let childMs = 0;
  let checkMs = 0;
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const ctx = `${name}: CRASH_SEED=${SEED} cycle ${cycle}`;
    const t0 = performance.now();
    const run = await runChild(db, SEED + cycle, rng);
    const t1 = performance.now();
    childMs += t1 - t0;
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

    // PostgreSQL: opening for writing waits for the dead child's session to end (its writer lock).
    const store = await openJournalStore(db);
    try {
      const last = await store.lastSeq();
      for (const s of run.acks)
        assert.ok(s <= last, `${ctx}: acknowledged seq ${s} is missing (journal ends at ${last})`);
      assert.ok(maxAcked <= last, `${ctx}: acknowledged seq ${maxAcked} is missing`);
      // Every stored snapshot is behind the records, and equals the clean replay's state at its seq.
      const snapshots = new Map<number, string>();
      for (const snap of await store.listSnapshots()) {
        assert.ok(snap.seq <= last, `${ctx}: snapshot at seq ${snap.seq} is ahead of the journal (${last})`);
        snapshots.set(snap.seq, snap.stateHash);
      }
      const { engine: clean, seqs } = await cleanReplay(store, snapshots, ctx);
      assert.equal(seqs.length, last, `${ctx}: ${seqs.length} records for seqs 1..${last}`);
      for (const [i, s] of seqs.entries()) assert.equal(s, i + 1, `${ctx}: seq ${i + 1} missing`);
      const report = await recover(store);
      assert.equal(report.cut, null, `${ctx}: ${report.log.join('; ')}`);
      assert.equal(report.lastSeq, last);
      assert.equal(report.stateHash, stateHash(clean), `${ctx}: recovery and a clean replay disagree`);
      const v = report.engine.ledger.verify();
      assert.ok(v.ok, `${ctx}: ledger: ${v.problems.join('; ')}`);
      assert.deepEqual(engineProblems(report.engine), [], ctx);
      if (report.snapshot) fromSnapshot += 1;
      expected = { seq: report.lastSeq, hash: report.stateHash };
      checkMs += performance.now() - t1;
    } finally {
      await store.close();
    }
  }
  t.diagnostic(
    `${name}: ${CYCLES} kills (${killedBeforeRecovery} before the child finished recovering), ${totalAcks} acks, ` +
      `journal ends at seq ${expected.seq}; ${fromSnapshot} recoveries started from a snapshot; ` +
      `${Math.round(childMs)} ms in children, ${Math.round(checkMs)} ms checking`,
  );
  assert.ok(totalAcks > 0, `${name}: no command was ever acknowledged: the kills came too early`);
  assert.ok(CYCLES < 6 || fromSnapshot > 0, `${name}: no recovery started from a snapshot`);
}

describe('crash', { concurrency: 2 }, () => {
  let compiled: { dir: string } | null = null;
  let db: TestDatabase | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-crash-'));
  before(async () => {
    const c = compileChild();
    if (c) {
      compiled = c;
      childArgs = c.args;
    }
    db = await createTestDatabase();
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (compiled) rmSync(compiled.dir, { recursive: true, force: true });
    await db?.drop();
  });

  test(`SQLite: SIGKILL at random moments, ${CYCLES} cycles; every ack durable, no gap, no double apply, replay deterministic`, async (t) => {
    await crashCycles(t, join(dir, 'journal.db'), 'sqlite');
  });

  test(`PostgreSQL: SIGKILL at random moments, ${CYCLES} cycles; every ack durable, no gap, no double apply, replay deterministic`, async (t) => {
    await crashCycles(t, db!.schemaUrl('crash'), 'postgres');
  });
});
