/**
 * Scale-out by market group (issue 25): aggregate durable commands/s with 1, 2 and 3 shards on this machine, each
 * shard a process of its own, and what that projects to on N machines.
 *
 *   npm run bench -- shards [--shards 1,2,3] [--commands 200000] [--warmup 60000] [--reps 5] [--stores sqlite,jetstream]
 *                           [--accounts 1000] [--seed 1] [--turn 1000] [--window 2000] [--dir <dir>]
 *                           [--nats <host:port>] [--deadline 180] [--probe 150000000]
 *
 * A shard is what one `ringfence serve` leader runs: one engine and one journal — the product's `Journal` (group
 * commit) on a store opened by `openJournalStore`, its own — in a child process of its own, owning one market group
 * (shard 0 BTCUSDT, 1 ETHUSDT, 2 SOLUSDT, …) with its own `--accounts` funded accounts, and sending the journal
 * bench's matching mix (bench/journal.ts: limits around a drifting mid, cancels of live orders, IOC and market
 * orders) on its market. Stores: `sqlite` (a file per shard: WAL, synchronous=FULL, commits on the engine thread,
 * as `ringfence serve --journal <file>`), `jetstream` (a stream per shard, R=1, on the server at 127.0.0.1:4222 or
 * `--nats`, a private one started when none answers; the streams are deleted afterwards — that one server and its
 * disk serve every shard here, on the same cores, where a deployment gives each shard's stream its own servers).
 *
 * Every shard gets the same stream (the same seed) under its own symbol and account names, so every shard does the
 * same work and a difference between shard counts is the machine's, not the stream's. The prices are BTC-like on
 * every market for the same reason.
 *
 * A round is one shard count: its children are started together, and each
 *   1. generates the stream (untimed);
 *   2. warms up: the first `--warmup` commands of the stream through a Journal on a throwaway store, pipelined as
 *      below — timed and reported apart as the cold figure (code not yet compiled, first commits; the round's
 *      shards warm up at the same time, so it is contended like the timed run), never in the headline — then closes
 *      it and deletes it;
 *   3. opens a fresh store and engine, sets up its market and deposits through the journal (untimed), runs a full
 *      GC, and says it is ready;
 *   4. waits at the start barrier: the parent sends "go" to every child once all are ready;
 *   5. runs `--commands` commands pipelined as the journal bench's headline (`--turn` commands per event-loop turn,
 *      never more than `--window` unacknowledged), flushes, and reports the commands the journal accepted (made
 *      durable), its elapsed time, the CPU it used and its commits' durations (the store's append: inserts, commit,
 *      fsync);
 *   6. then, at a second barrier, the CPU probe: every child spins the same `--probe` iterations of an integer loop
 *      at once (no I/O, no allocation). Its rate with n processes over its rate with one is what this machine gives
 *      n CPU-bound processes at that moment — the ceiling the shards' scaling is read against (a VM's cores can be
 *      hyperthreads or shared with other guests, and that drifts). `--probe 0` skips it.
 * The round's aggregate is Σ accepted / the longest shard's elapsed (the wall in which they all got done). Rounds run
 * interleaved (1, 2, 3, 1, 2, 3, …: the machine drifts) for `--reps` reps; each count's median round is reported
 * (the lower middle one for an even number of reps), with the lowest and highest rep beside it.
 *
 * Per-core scaling is aggregate(n)/aggregate(1). A shard whose engine thread is busy all the time cannot gain past
 * the core count: on 2 cores, 3 shards cannot exceed ~2× (a little more only where one shard alone leaves its core
 * idle, waiting on fsync — the CPU figure per shard shows how much: the process's CPU time over the run's wall,
 * V8's garbage-collector and compiler threads included, so one shard alone can show more than 1 core). The
 * projection for N machines is one shard's rate × N, under the assumptions it prints; it is a projection, not a
 * measurement.
 *
 * Cross-shard transfer latency (the issue's other figure) needs the shard-transfer commands and a router: it is not
 * measured here.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../src/engine/types.ts';
import { Journal, type JournalOptions, recover } from '../src/journal/journal.ts';
import { openJournalStore } from '../src/journal/open.ts';
import type { JournalStore } from '../src/journal/store.ts';
import {
  deleteJournalStream,
  natsMissing,
  singleServer,
  uniqueStream,
} from '../test/journal/nats-cluster.ts';
import { BENCH_MARKET } from './fixture.ts';
import { Feed } from './journal.ts';
import { checkArgs, fmtInt, intArg, parseArgs, percentile, perSecond, round, say } from './lib.ts';
import { prepare } from './matching.ts';
import { fullGc, generate, type Stream } from './matching-book.ts';

type StoreKind = 'sqlite' | 'jetstream';
const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'jetstream'];

/** The market groups, one per shard in this order; past the list, `X<i>`. Three letters each: equal names. */
const GROUPS = ['BTC', 'ETH', 'SOL', 'XRP', 'ADA', 'BNB', 'LTC', 'DOT'];
const groupOf = (shard: number): string => GROUPS[shard] ?? `X${String(shard).padStart(2, '0')}`;

/** Journal options as the journal bench's durable runs: a state hash every 100k records, no periodic snapshot. */
const JOURNAL_OPTIONS: JournalOptions = { hashEvery: 100_000, snapshotEvery: 0 };

/** What the parent tells a shard's child (JSON in its environment). */
interface ShardSpec {
  shard: number;
  /** Where the timed run's journal goes, and the warm-up's (`openJournalStore` targets). */
  target: string;
  warmTarget: string;
  commands: number;
  warmup: number;
  accounts: number;
  seed: number;
  turn: number;
  window: number;
  /** Iterations of the CPU probe run after the timed phase (0: none). */
  probe: number;
}

/** One pipelined run's figures, as a child reports them. */
interface Phase {
  submitted: number;
  accepted: number;
  ns: number;
  commits: number;
  /** CPU the process used in the run (user + system), µs. */
  cpuUs: number;
  /** Each commit's duration (the store's append: SQLite's inserts, commit and fsync), ms: p50 and p99. */
  commitMsP50: number;
  commitMsP99: number;
  /** Share of the run's wall spent in commits, where they block the engine thread (SQLite); null otherwise. */
  commitShare: number | null;
}

/**
 * Times the store's own appends, on the instance (the product's store, unchanged otherwise): where the shards'
 * time goes when they do not use their cores — a disk the shards share shows up here.
 */
class CommitTiming {
  ms: number[] = [];
  syncNs = 0;
  sync = true;
  constructor(store: JournalStore) {
    const append = store.append.bind(store);
    store.append = (records) => {
      const t0 = process.hrtime.bigint();
      const r = append(records);
      if (r instanceof Promise) {
        this.sync = false;
        r.then(
          () => this.ms.push(Number(process.hrtime.bigint() - t0) / 1e6),
          () => {},
        );
      } else {
        const ns = Number(process.hrtime.bigint() - t0);
        this.syncNs += ns;
        this.ms.push(ns / 1e6);
      }
      return r;
    };
  }
  reset(): void {
    this.ms = [];
    this.syncNs = 0;
  }
}

type ChildMessage =
  | { type: 'ready'; warm: Phase }
  | { type: 'done'; run: Phase; startMs: number; endMs: number }
  | { type: 'probed'; ns: number; x: number }
  | { type: 'error'; message: string };

const CHILD_ENV = 'RINGFENCE_SHARD_BENCH_CHILD';

// ---------------------------------------------------------------------------------------------------------
// A shard (the child process)

/** The stream's commands on `symbol` with account names under `prefix`, built before any timing. */
function shardCommands(s: Stream, nAccounts: number, symbol: string, prefix: string): (Command | null)[] {
  return prepare(s, nAccounts).cmds.map((c) =>
    c !== null && c.type === 'placeOrder' ? { ...c, symbol, account: `${prefix}${c.account}` } : c,
  );
}

/** A fresh journal on `target` with the shard's market and funded accounts, set up through the journal itself. */
async function openShard(
  target: string,
  symbol: string,
  base: string,
  prefix: string,
  nAccounts: number,
): Promise<{ journal: Journal; timing: CommitTiming }> {
  const store = await openJournalStore(target);
  const timing = new CommitTiming(store);
  const journal = new Journal((await recover(store)).engine, store, JOURNAL_OPTIONS);
  const setup: Command[] = [
    { type: 'createMarket', time: 0, market: { ...BENCH_MARKET, symbol, base } },
    { type: 'setMarkPrice', time: 0, symbol, price: '60000' },
  ];
  for (let a = 0; a < nAccounts; a++)
    setup.push({ type: 'deposit', time: 0, account: `${prefix}a${a}`, asset: 'USDT', amount: '100000000' });
  for (const c of setup) {
    const r = await journal.submit(c);
    if (!r.ok) throw new Error(`setup: ${c.type} ${r.code} ${r.message}`);
  }
  return { journal, timing };
}

/**
 * `n` commands through the journal, open loop as the journal bench's headline: `turn` per event-loop turn, at most
 * `window` unacknowledged; done once the last is durable.
 */
async function pipelined(
  { journal, timing }: { journal: Journal; timing: CommitTiming },
  feed: Feed,
  n: number,
  turn: number,
  window: number,
): Promise<Phase> {
  const e = journal.engine;
  let acked = 0;
  let failure: unknown = null;
  const onAck = () => {
    acked += 1;
  };
  // A failed commit poisons the journal: nothing more is acknowledged, so the window would never drain.
  const onFail = (err: unknown) => {
    failure ??= err;
  };
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
  const seq0 = e.seq;
  const commits0 = journal.stats.commits;
  timing.reset();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let last: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < n; ) {
    const end = Math.min(n, i + turn);
    for (; i < end; i++) {
      const before = e.nextOrderId;
      last = journal.submit(feed.command(i)).then(onAck, onFail);
      feed.applied(i, before, e);
    }
    await nextTurn();
    while (i - acked > window && failure === null) await nextTurn();
    if (failure !== null) throw failure;
  }
  await journal.flush();
  await last;
  if (failure !== null) throw failure;
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  const commitMs = Float64Array.from(timing.ms).sort();
  return {
    submitted: n,
    accepted: e.seq - seq0,
    ns,
    commits: journal.stats.commits - commits0,
    cpuUs: cpu.user + cpu.system,
    commitMsP50: round(percentile(commitMs, 50), 2),
    commitMsP99: round(percentile(commitMs, 99), 2),
    commitShare: timing.sync ? round(timing.syncNs / ns, 3) : null,
  };
}

function removeSqlite(target: string): void {
  if (/^[a-z]+:\/\//i.test(target)) return;
  for (const f of [target, `${target}-wal`, `${target}-shm`]) rmSync(f, { force: true });
}

/** Resolves when the parent sends a message of `type` (listening from now: call it before what it answers). */
function parentSays(type: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type !== type) return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
  });
}

/**
 * The CPU probe: a fixed integer loop, no allocation, no I/O. n processes running it at once on a machine with n
 * real cores each take as long as one alone; what they take longer is the machine (shared cores, hyperthreads).
 */
function spin(iterations: number): number {
  let x = 0;
  for (let i = 0; i < iterations; i++) x = (x + i * 7) % 1_000_003;
  return x;
}

/** Wall-clock milliseconds comparable across processes (for the start skew only; durations use hrtime). */
const wallMs = () => performance.timeOrigin + performance.now();

async function shardMain(spec: ShardSpec): Promise<void> {
  const send = (m: ChildMessage) =>
    new Promise<void>((resolve, reject) => {
      process.send!(m, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  // The parent gone (killed, failed): nothing will ever say "go".
  process.once('disconnect', () => process.exit(3));
  const base = groupOf(spec.shard);
  const symbol = `${base}USDT`;
  const prefix = `${base.toLowerCase()}-`;
  try {
    const { stream } = generate(Math.max(spec.commands, spec.warmup), spec.accounts, spec.seed);
    const cmds = shardCommands(stream, spec.accounts, symbol, prefix);

    // Warm-up on a throwaway journal: the same code path, the cold figure.
    const warmShard = await openShard(spec.warmTarget, symbol, base, prefix, spec.accounts);
    const warm = await pipelined(
      warmShard,
      new Feed(stream, cmds, symbol, prefix),
      spec.warmup,
      spec.turn,
      spec.window,
    );
    await warmShard.journal.close();
    removeSqlite(spec.warmTarget);

    const shard = await openShard(spec.target, symbol, base, prefix, spec.accounts);
    const feed = new Feed(stream, cmds, symbol, prefix);
    fullGc();
    const go = parentSays('go');
    await send({ type: 'ready', warm });
    await go;
    const startMs = wallMs();
    const run = await pipelined(shard, feed, spec.commands, spec.turn, spec.window);
    const endMs = wallMs();
    await shard.journal.close();
    removeSqlite(spec.target);
    const probe = parentSays('probe');
    await send({ type: 'done', run, startMs, endMs });
    if (spec.probe > 0) {
      // The machine's own scaling, measured in the same round: every shard's process spins at once.
      await probe;
      const t0 = process.hrtime.bigint();
      const x = spin(spec.probe);
      await send({ type: 'probed', ns: Number(process.hrtime.bigint() - t0), x });
    }
  } catch (err) {
    await send({
      type: 'error',
      message: err instanceof Error ? (err.stack ?? err.message) : String(err),
    }).catch(() => {});
    process.exitCode = 1;
  } finally {
    process.removeAllListeners('disconnect');
    if (process.connected) process.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The parent: rounds of n shards

/** Node flags for a child: this process's, with the tsx loader (a test runner may not pass it on). */
function childExecArgv(): string[] {
  const argv = [...process.execArgv];
  if (!argv.some((a) => a.includes('tsx'))) argv.push('--import', 'tsx');
  return argv;
}

/** A shard's child and the promises of what it says; every one rejects if it dies first. */
interface ShardChild {
  proc: ChildProcess;
  ready: Promise<Phase>;
  done: Promise<{ run: Phase; startMs: number; endMs: number }>;
  probed: Promise<number>;
  exited: Promise<void>;
}

function startShard(spec: ShardSpec): ShardChild {
  const proc = fork(fileURLToPath(import.meta.url), [], {
    execArgv: childExecArgv(),
    env: { ...process.env, [CHILD_ENV]: JSON.stringify(spec) },
    // stdout ignored: the harness's last stdout line must stay its JSON line. Errors come back over IPC; stderr
    // is passed through for anything else.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let onReady!: (w: Phase) => void;
  let onDone!: (d: { run: Phase; startMs: number; endMs: number }) => void;
  let onProbed!: (ns: number) => void;
  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_r, reject) => {
    fail = reject;
  });
  const ready = Promise.race([new Promise<Phase>((r) => (onReady = r)), failed]);
  const done = Promise.race([
    new Promise<{ run: Phase; startMs: number; endMs: number }>((r) => (onDone = r)),
    failed,
  ]);
  const probed = Promise.race([new Promise<number>((r) => (onProbed = r)), failed]);
  // Not every promise is awaited when an earlier step fails: no unhandled rejections.
  for (const p of [failed, ready, done, probed]) p.catch(() => {});
  let said: string | null = null;
  proc.on('message', (m: ChildMessage) => {
    if (m.type === 'ready') onReady(m.warm);
    else if (m.type === 'done') onDone({ run: m.run, startMs: m.startMs, endMs: m.endMs });
    else if (m.type === 'probed') onProbed(m.ns);
    else if (m.type === 'error') {
      said = m.message;
      fail(new Error(`shard ${spec.shard}: ${m.message}`));
    }
  });
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      fail(
        new Error(
          `shard ${spec.shard} exited (${signal ?? `code ${code}`})${said ? `: ${said}` : ' before reporting'}`,
        ),
      );
      resolve();
    });
    proc.once('error', (err) => {
      fail(err);
      resolve();
    });
  });
  return { proc, ready, done, probed, exited };
}

interface Round {
  shards: number;
  rep: number;
  /** Σ accepted / the longest shard's elapsed. */
  aggregate: number;
  wallS: number;
  perShard: number[];
  /** The cold figure: each shard's warm-up run. */
  coldPerShard: number[];
  /** Cores each shard's process used in the timed run (CPU time / elapsed). */
  cpu: number[];
  /** Spread of the shards' start instants, ms (how together the barrier started them). */
  startSkewMs: number;
  accepted: number[];
  avgBatch: number[];
  /** Each shard's commit p50 and p99, ms, and its share of the wall in (blocking) commits. */
  commitMsP50: number[];
  commitMsP99: number[];
  commitShare: (number | null)[];
  /** The CPU probe's iterations per second, all the round's processes together (null: no probe). */
  probePerSec: number | null;
}

/** `{ stream names to delete }` for JetStream rounds (the parent deletes them, whatever happened). */
interface Places {
  dir: string;
  nats: string | null;
}

async function runRound(
  kind: StoreKind,
  n: number,
  rep: number,
  places: Places,
  base: Omit<ShardSpec, 'shard' | 'target' | 'warmTarget'>,
  deadlineMs: number,
): Promise<Round> {
  const streams: string[] = [];
  const target = (name: string) => {
    if (kind === 'sqlite') return join(places.dir, `${name}.db`);
    const stream = uniqueStream('rf_shards');
    streams.push(stream);
    return `nats://${places.nats}/${stream}`;
  };
  const kids: ShardChild[] = [];
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    for (const k of kids) k.proc.kill('SIGKILL');
  }, deadlineMs);
  try {
    for (let shard = 0; shard < n; shard++)
      kids.push(
        startShard({
          ...base,
          shard,
          target: target(`r${rep}-n${n}-s${shard}`),
          warmTarget: target(`r${rep}-n${n}-s${shard}-warm`),
        }),
      );
    const warm = await Promise.all(kids.map((k) => k.ready));
    // The start barrier: every shard is set up and warm; "go" goes to all of them back to back.
    for (const k of kids) k.proc.send({ type: 'go' });
    const done = await Promise.all(kids.map((k) => k.done));
    let probeNs: number[] = [];
    if (base.probe > 0) {
      for (const k of kids) k.proc.send({ type: 'probe' });
      probeNs = await Promise.all(kids.map((k) => k.probed));
    }
    await Promise.all(kids.map((k) => k.exited));
    const wallNs = Math.max(...done.map((d) => d.run.ns));
    const accepted = done.map((d) => d.run.accepted);
    const starts = done.map((d) => d.startMs);
    return {
      shards: n,
      rep,
      aggregate: round(
        perSecond(
          accepted.reduce((a, b) => a + b, 0),
          wallNs,
        ),
      ),
      wallS: round(wallNs / 1e9, 3),
      perShard: done.map((d) => round(perSecond(d.run.accepted, d.run.ns))),
      coldPerShard: warm.map((w) => round(perSecond(w.accepted, w.ns))),
      cpu: done.map((d) => round(d.run.cpuUs / (d.run.ns / 1e3), 2)),
      startSkewMs: round(Math.max(...starts) - Math.min(...starts), 2),
      accepted,
      avgBatch: done.map((d) => round(d.run.accepted / Math.max(1, d.run.commits), 1)),
      commitMsP50: done.map((d) => d.run.commitMsP50),
      commitMsP99: done.map((d) => d.run.commitMsP99),
      commitShare: done.map((d) => d.run.commitShare),
      probePerSec: probeNs.length > 0 ? round(perSecond(n * base.probe, Math.max(...probeNs))) : null,
    };
  } catch (err) {
    if (timedOut)
      throw new Error(`${kind}, ${n} shards, rep ${rep}: deadline of ${deadlineMs / 1000} s passed`);
    throw err;
  } finally {
    clearTimeout(deadline);
    for (const k of kids) if (k.proc.exitCode === null && k.proc.signalCode === null) k.proc.kill('SIGKILL');
    await Promise.all(kids.map((k) => k.exited));
    if (places.nats) for (const s of streams) await deleteJournalStream(places.nats, s).catch(() => {});
  }
}

const median = (xs: readonly number[]): number => percentile(Float64Array.from(xs).sort(), 50);

/** The round whose aggregate is the median of a count's rounds (the lower middle one for an even count). */
const medianRound = (rs: readonly Round[]): Round =>
  [...rs].sort((a, b) => a.aggregate - b.aggregate)[(rs.length - 1) >> 1]!;

const PROJECTED_MACHINES = [2, 4, 8, 16];
const ASSUMPTIONS = [
  'each shard has a machine (a core and a disk) to itself',
  'no cross-shard commands on the hot path (transfers between shards are rare next to orders)',
  'the router and the network are not the bottleneck (enough routers; clients reach shards at line rate)',
  'the load spreads evenly over the market groups (one hot group caps at one shard’s rate)',
];

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, [
    'shards',
    'commands',
    'warmup',
    'reps',
    'stores',
    'accounts',
    'seed',
    'turn',
    'window',
    'dir',
    'nats',
    'deadline',
    'probe',
  ]);
  const commands = Math.max(1, intArg(a, 'commands', 200_000));
  const warmup = Math.max(1, intArg(a, 'warmup', 60_000));
  const reps = Math.max(1, intArg(a, 'reps', 5));
  const accounts = Math.max(1, intArg(a, 'accounts', 1_000));
  const seed = intArg(a, 'seed', 1);
  const turn = Math.max(1, intArg(a, 'turn', 1_000));
  const window = Math.max(turn, intArg(a, 'window', 2 * turn));
  const deadlineMs = Math.max(1, intArg(a, 'deadline', 180)) * 1000;
  const probe = intArg(a, 'probe', 150_000_000);
  const counts = (a.get('shards') ?? '1,2,3').split(',').map((x) => Number(x));
  if (counts.some((c) => !Number.isSafeInteger(c) || c < 1 || c > 16))
    throw new Error('--shards: comma-separated shard counts, 1..16');
  if (!counts.includes(1)) throw new Error('--shards must include 1 (the scaling is against one shard)');
  const stores = (a.get('stores') ?? 'sqlite').split(',') as StoreKind[];
  for (const k of stores)
    if (!STORE_KINDS.includes(k)) throw new Error(`--stores: one of ${STORE_KINDS.join(', ')}`);
  if (stores.includes('jetstream') && !a.has('nats')) {
    const missing = natsMissing();
    if (missing) throw new Error(`--stores jetstream: ${missing}`);
  }

  const cores = availableParallelism();
  const dir = mkdtempSync(join(a.get('dir') ?? tmpdir(), 'ringfence-shards-bench-'));
  const places: Places = { dir, nats: null };
  try {
    if (stores.includes('jetstream')) places.nats = a.get('nats') ?? (await singleServer());
    say(
      `${cores} cores; load average ${loadavg()
        .map((x) => round(x, 2))
        .join(', ')}; shard counts ${counts.join(', ')}, ${reps} reps interleaved; per shard: ` +
        `${fmtInt(warmup)} warm-up + ${fmtInt(commands)} timed commands of the matching mix, ${fmtInt(accounts)} accounts, ` +
        `${fmtInt(turn)}/turn, window ${fmtInt(window)}; stores: ${stores
          .map((k) =>
            k === 'sqlite'
              ? `sqlite (files in ${dir}, WAL, synchronous=FULL)`
              : `jetstream (R=1 on ${places.nats})`,
          )
          .join(', ')}`,
    );
    const base = { commands, warmup, accounts, seed, turn, window, probe };
    const figures: Record<string, unknown> = {};
    let basis: { store: StoreKind; perShard: number } | null = null;
    for (const kind of stores) {
      const rounds: Round[] = [];
      for (let rep = 1; rep <= reps; rep++)
        for (const n of counts) {
          const r = await runRound(kind, n, rep, places, base, deadlineMs);
          rounds.push(r);
          say(
            `${kind.padEnd(9)} rep ${rep}, ${n} shard${n > 1 ? 's' : ' '}: ${fmtInt(r.aggregate).padStart(8)} durable cmd/s aggregate ` +
              `(wall ${r.wallS} s; per shard ${r.perShard.map(fmtInt).join(', ')}; cores used ${r.cpu.join(', ')}; ` +
              `avg batch ${r.avgBatch.join(', ')}; commit p50 ${r.commitMsP50.join(', ')} ms, p99 ${r.commitMsP99.join(', ')} ms` +
              `${r.commitShare[0] === null ? '' : `, ${r.commitShare.map((x) => `${round(100 * x!)}%`).join(', ')} of the wall in commits`}; ` +
              `start skew ${r.startSkewMs} ms; cold warm-up ${r.coldPerShard.map(fmtInt).join(', ')}` +
              `${r.probePerSec === null ? '' : `; CPU probe ${fmtInt(r.probePerSec / 1e6)}M iterations/s`})`,
          );
        }
      // Every shard runs the same stream: each must have accepted the same commands, in every round.
      const accepted = new Set(rounds.flatMap((r) => r.accepted));
      if (accepted.size !== 1)
        throw new Error(`shards accepted different counts: ${[...accepted].join(', ')}`);
      const byCount = (f: (rs: Round[], n: number) => number) =>
        Object.fromEntries(
          counts.map((n) => [
            String(n),
            f(
              rounds.filter((r) => r.shards === n),
              n,
            ),
          ]),
        );
      const aggregate = byCount((rs) => medianRound(rs).aggregate);
      const one = aggregate['1']!;
      const scaling = byCount((_rs, n) => round(aggregate[String(n)]! / one, 2));
      // Per shard: the mean shard of the median round (the round the aggregate comes from).
      const perShard = byCount((rs) => {
        const m = medianRound(rs).perShard;
        return round(m.reduce((x, y) => x + y, 0) / m.length);
      });
      const cold = byCount((rs) => round(median(rs.flatMap((r) => r.coldPerShard))));
      const cpu = byCount((rs) => round(median(rs.flatMap((r) => r.cpu)), 2));
      const commitP50 = byCount((rs) => round(median(rs.flatMap((r) => r.commitMsP50)), 2));
      const spread = Object.fromEntries(
        counts.map((n) => {
          const xs = rounds.filter((r) => r.shards === n).map((r) => r.aggregate);
          return [String(n), [Math.min(...xs), Math.max(...xs)]];
        }),
      );
      // The machine's own scaling: the CPU probe's rate with n processes at once over its rate with one.
      const probeRate = byCount((rs) => {
        const xs = rs.map((r) => r.probePerSec).filter((x): x is number => x !== null);
        return xs.length > 0 ? median(xs) : Number.NaN;
      });
      const machineScaling = byCount((_rs, n) => round(probeRate[String(n)]! / probeRate['1']!, 2));
      const commitShare = byCount((rs) => {
        const xs = rs.flatMap((r) => r.commitShare).filter((x): x is number => x !== null);
        return xs.length > 0 ? round(median(xs), 3) : Number.NaN;
      });
      say(
        `${kind}: median of ${reps} reps [lowest–highest rep] (cold: each shard's warm-up run, not in the figures; ` +
          `machine: ${probe > 0 ? 'the CPU probe, n processes spinning at once, over one alone' : 'no CPU probe (--probe 0)'})`,
      );
      for (const n of counts) {
        const k = String(n);
        const cap = n > cores ? `; with ${cores} cores, ${n} CPU-bound shards cannot exceed ~${cores}×` : '';
        const machine = Number.isNaN(machineScaling[k]!) ? '' : `, machine ${machineScaling[k]}×`;
        say(
          `  ${String(n).padStart(2)} shard${n > 1 ? 's' : ' '}: ${fmtInt(aggregate[k]!).padStart(8)} durable cmd/s aggregate ` +
            `[${spread[k]!.map(fmtInt).join('–')}], ${scaling[k]}× one shard (per-core scaling${machine}); per shard ${fmtInt(perShard[k]!)}/s, ` +
            `${cpu[k]} cores used each, commit p50 ${commitP50[k]} ms` +
            `${Number.isNaN(commitShare[k]!) ? '' : ` (${round(100 * commitShare[k]!)}% of the wall in commits)`}; ` +
            `cold ${fmtInt(cold[k]!)}/s per shard${cap}`,
        );
      }
      figures[kind] = {
        aggregateCmdPerSec: aggregate,
        perCoreScaling: scaling,
        perShardCmdPerSec: perShard,
        coldPerShardCmdPerSec: cold,
        coresUsedPerShard: cpu,
        commitMsP50: commitP50,
        commitShareOfWall: commitShare,
        machineScaling,
        aggregateSpread: spread,
        acceptedPerShard: [...accepted][0],
        repsCmdPerSec: Object.fromEntries(
          counts.map((n) => [String(n), rounds.filter((r) => r.shards === n).map((r) => r.aggregate)]),
        ),
        maxStartSkewMs: Math.max(...rounds.map((r) => r.startSkewMs)),
        rounds,
      };
      basis ??= { store: kind, perShard: one };
    }

    // The projection: one shard's measured rate, N times over.
    const b = basis!;
    const machines = Object.fromEntries(PROJECTED_MACHINES.map((m) => [String(m), round(b.perShard * m)]));
    say(
      `projection, not a measurement: N machines, one shard each, at the 1-shard ${b.store} rate measured here ` +
        `(${fmtInt(b.perShard)} durable cmd/s) × N → ${PROJECTED_MACHINES.map((m) => `${m}: ${fmtInt(machines[String(m)]!)}`).join(', ')} cmd/s`,
    );
    say(`  assuming: ${ASSUMPTIONS.join('; ')}`);
    say(
      'cross-shard transfer latency: `npm run bench -- shard-transfers` (through a router and two shard processes)',
    );
    return {
      cores,
      shardCounts: counts,
      commandsPerShard: commands,
      warmupPerShard: warmup,
      reps,
      accounts,
      stores,
      ...figures,
      projection: {
        store: b.store,
        perShardCmdPerSec: b.perShard,
        machines,
        assumptions: ASSUMPTIONS,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A shard's child: this module forked by the parent above, with its spec in the environment.
const childSpec = process.env[CHILD_ENV];
if (childSpec !== undefined && process.send !== undefined) void shardMain(JSON.parse(childSpec) as ShardSpec);
