/**
 * The durable command journal: group-commit throughput on SQLite (commits on the engine thread, and on a writer
 * thread), PostgreSQL and NATS JetStream (one server, and a 3-node cluster with the stream replicated 3 ways), and
 * recovery time with and without a snapshot.
 *
 *   npm run bench -- journal [--stores none,sqlite,sqlite-thread,postgres,jetstream,jetstream-r3] [--mix matching,quoting]
 *                            [--durable 300000] [--reps 3] [--bursts 1,100,1000,10000] [--turn 1000] [--window 2000]
 *                            [--max-batch 4096] [--commands 1000000] [--pg-commands 200000]
 *                            [--nats-commands <pg-commands>] [--nats-pipeline 8] [--snapshot-every 100000] [--hash-every 100000]
 *                            [--seed 1] [--accounts 1000] [--dir <dir>] [--pg <url>|none] [--nats <host:port>|none]
 *
 * Two command mixes, both on BTCUSDT with 1,000 funded accounts set up through the journal itself (createMarket,
 * mark, deposits):
 *   - `matching`: the matching bench's stream (limits around a drifting mid, cancels of live orders, IOC and market
 *     orders). Heavy per command: the engine, not the journal, is the bottleneck.
 *   - `quoting`: what market makers send most — a limit resting away from the touch, then its cancel. Light per
 *     command, so the figure is the journal's own (encoding, checksums, the commit).
 *
 * 1. Durable throughput, per store; an accepted command counts once the batch holding it is committed (SQLite:
 *    WAL, synchronous=FULL; PostgreSQL: synchronous_commit=on, fsync on).
 *    - pipelined (the headline): `--turn` commands per event-loop turn, never more than `--window` unacknowledged,
 *      as many clients would send them. The figure a venue gets when load is there. Each rep runs the engine alone
 *      on the same stream right before (the same-run baseline: machine speed drifts), and reports both and their
 *      ratio; the median rep by throughput is reported.
 *    - one client, closed loop: bursts of `--bursts` commands, waiting for the last one's acknowledgement before
 *      the next burst; the commit is then on the critical path. Burst 1 is a commit per command (the baseline
 *      group commit is measured against).
 *    Stores: `none` (the journal with a store that keeps nothing: encoding, checksums, batching and acknowledgements
 *    only — the ceiling any store can reach on this thread; pipelined only), `sqlite` (better-sqlite3 on the engine
 *    thread: each commit stops the engine), `sqlite-thread` (the
 *    same file written by a worker thread, SqliteThreadJournalStore: the commit overlaps the next commands),
 *    `postgres` (a database created for the run on the local server, or `--pg <url>`; `--pg none` skips it),
 *    `jetstream` (a stream, R=1, on the server at 127.0.0.1:4222 or `--nats <host:port>` — a private one is started
 *    when none answers) and `jetstream-r3` (a stream replicated 3 ways on a local 3-node cluster this bench starts:
 *    a batch counts once a quorum of 2 has it); `--nats none` skips both. Streams are deleted afterwards.
 * 2. Recovery. `--commands` commands are journaled (SQLite, written by the writer-thread store) with a snapshot
 *    every `--snapshot-every`, and then rebuilt three ways: a full replay (every record: checksums, decoding, the
 *    engine, state hashes verified), from the newest snapshot (restore + the tail after it), and from the one before
 *    it (the worst case: a tail of about `--snapshot-every` records). The same for PostgreSQL with `--pg-commands` and JetStream (R=1) with `--nats-commands`. Also the snapshot's size and what
 *    taking one costs the engine thread.
 *
 * Files go to a fresh directory under --dir (default the OS temp dir; it must be a real disk for fsync to mean
 * anything — tmpfs would flatter every figure) and are deleted afterwards; the PostgreSQL database is dropped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect as natsConnect } from '@nats-io/transport-node';
import pg from 'pg';
import { Engine } from '../src/engine/engine.ts';
import { stateHash } from '../src/engine/hash.ts';
import { snapshotEngine } from '../src/engine/snapshot.ts';
import type { Command } from '../src/engine/types.ts';
import { JetStreamJournalStore, snapshotObject } from '../src/journal/jetstream.ts';
import { Journal, type JournalOptions, recover } from '../src/journal/journal.ts';
import { PgJournalStore } from '../src/journal/postgres.ts';
import { SqliteJournalStore } from '../src/journal/sqlite.ts';
import { SqliteThreadJournalStore } from '../src/journal/sqlite-thread.ts';
import type { JournalRecord, JournalStore, SnapshotInfo } from '../src/journal/store.ts';
import { type NatsCluster, natsMissing, singleServer, startCluster } from '../test/journal/nats-cluster.ts';
import { createTestDatabase, type TestDatabase } from '../test/journal/pg.ts';
import { BENCH_MARKET } from './fixture.ts';
import { checkArgs, fmtInt, intArg, parseArgs, perSecond, round, say, summarize } from './lib.ts';
import { prepare } from './matching.ts';
import { fullGc, generate, type Stream } from './matching-book.ts';

function setupCommands(nAccounts: number): Command[] {
  const out: Command[] = [
    { type: 'createMarket', time: 0, market: BENCH_MARKET },
    { type: 'setMarkPrice', time: 0, symbol: 'BTCUSDT', price: '60000' },
  ];
  for (let a = 0; a < nAccounts; a++)
    out.push({ type: 'deposit', time: 0, account: `a${a}`, asset: 'USDT', amount: '100000000' });
  return out;
}

/** Where a run's commands come from: command i, then `applied` once the engine has taken it. */
interface CommandSource {
  command(i: number): Command;
  applied(i: number, orderIdBefore: number, e: Engine): void;
}

/** The two command mixes: `matching` (heavy: the engine is the bottleneck) and `quoting` (light: the journal is). */
type Mix = 'matching' | 'quoting';
const MIXES: readonly Mix[] = ['matching', 'quoting'];

/**
 * Command i of the stream; cancels resolve the engine's id of their target (learned as orders are accepted). On
 * `symbol`, its accounts' names under `prefix` (bench/shards.ts gives each shard its own market and accounts).
 */
export class Feed implements CommandSource {
  private readonly engineId: Int32Array;
  private readonly owner: Int32Array;
  constructor(
    private readonly s: Stream,
    private readonly cmds: readonly (Command | null)[],
    private readonly symbol = 'BTCUSDT',
    private readonly prefix = '',
  ) {
    this.engineId = new Int32Array(s.maxId + 2);
    this.owner = new Int32Array(s.maxId + 2);
  }
  command(i: number): Command {
    const c = this.cmds[i];
    if (c) {
      if (this.s.kind[i] !== 3) this.owner[this.s.ref[i]!] = this.s.account[i]!;
      return c;
    }
    const ref = this.s.ref[i]!;
    return {
      type: 'cancelOrder',
      time: 1_000 + i,
      account: `${this.prefix}a${this.owner[ref]}`,
      symbol: this.symbol,
      orderId: this.engineId[ref]!,
    };
  }
  /** Called after command i was applied: an accepted order's id is the engine's nextOrderId before it. */
  applied(i: number, orderIdBefore: number, e: Engine): void {
    if (this.cmds[i] && this.s.kind[i] !== 3 && e.nextOrderId > orderIdBefore)
      this.engineId[this.s.ref[i]!] = orderIdBefore;
  }
}

/**
 * The quoting mix: what market makers send most — a post-only-like GTC limit resting well away from the touch, then
 * its cancel, account after account. Every command is accepted and nothing matches, so the engine's work per
 * command is small (parse, pre-trade margin check, reserve, book insert/remove) and the journal's own cost shows.
 */
class QuotingFeed implements CommandSource {
  private readonly ids: Int32Array;
  constructor(
    n: number,
    private readonly nAccounts: number,
  ) {
    this.ids = new Int32Array(n + 1);
  }
  command(i: number): Command {
    const account = `a${(i >> 1) % this.nAccounts}`;
    const time = 1_000 + i;
    if (i % 2 === 1)
      return { type: 'cancelOrder', time, account, symbol: 'BTCUSDT', orderId: this.ids[i - 1]! };
    const buy = (i >> 1) % 2 === 0;
    const price = buy ? 50_000 + (i % 500) : 70_000 - (i % 500);
    return {
      type: 'placeOrder',
      time,
      account,
      symbol: 'BTCUSDT',
      side: buy ? 'buy' : 'sell',
      orderType: 'limit',
      price: String(price),
      size: '0.010',
    };
  }
  applied(i: number, orderIdBefore: number, _e: Engine): void {
    if (i % 2 === 0) this.ids[i] = orderIdBefore;
  }
}

/** A fresh source of `mix` (sources keep order ids, so every run needs its own). */
type Sources = Record<Mix, () => CommandSource>;

type StoreKind = 'none' | 'sqlite' | 'sqlite-thread' | 'postgres' | 'jetstream' | 'jetstream-r3';
const STORE_KINDS: readonly StoreKind[] = [
  'none',
  'sqlite',
  'sqlite-thread',
  'postgres',
  'jetstream',
  'jetstream-r3',
];
const isSqlite = (k: StoreKind) => k === 'sqlite' || k === 'sqlite-thread';

/**
 * Where stores go: a directory for SQLite files, a database for PostgreSQL schemas, NATS servers (`host:port,…`)
 * for JetStream streams (R=1 on the single server, R=3 on the cluster).
 */
interface Places {
  dir: string;
  pg: TestDatabase | { schemaUrl: (schema: string) => string } | null;
  nats: string | null;
  cluster: NatsCluster | null;
  /** `--nats-pipeline`: JetStream appends in flight (default: the store's, 8). */
  natsPipeline: number | null;
}

/** JetStream streams this run created, by the servers that hold them (deleted at the end). */
const natsStreams: { servers: string; stream: string }[] = [];

async function dropStreams(): Promise<void> {
  for (const { servers, stream } of natsStreams.splice(0)) {
    const nc = await natsConnect({ servers: servers.split(','), timeout: 5_000, reconnect: false }).catch(
      () => null,
    );
    if (!nc) continue;
    const jsm = await jetstreamManager(nc);
    for (const name of [stream, `OBJ_${stream}-snapshots`]) await jsm.streams.delete(name).catch(() => false);
    await nc.close();
  }
}

let storeCount = 0;
/** PostgreSQL schemas this run created (dropped at the end when they live in a database given by `--pg <url>`). */
const pgSchemas: string[] = [];
/** A new, empty store of `kind`, timing its appends (the share of the wall time they take, where synchronous). */
async function openStore(kind: StoreKind, places: Places): Promise<{ store: JournalStore; where: string }> {
  // Named after the process, so a run never reuses a schema of someone else's in a database given by --pg.
  const name = `rf_bench_${process.pid}_${++storeCount}`;
  if (kind === 'none') return { store: new NoStore(), where: '(nowhere)' };
  if (kind === 'postgres') {
    if (!places.pg) throw new Error('no PostgreSQL database');
    pgSchemas.push(name);
    const url = places.pg.schemaUrl(name);
    return { store: await PgJournalStore.open(url), where: url };
  }
  if (kind === 'jetstream' || kind === 'jetstream-r3') {
    const servers = kind === 'jetstream' ? places.nats : (places.cluster?.servers ?? null);
    if (!servers) throw new Error(`no NATS server for ${kind}`);
    natsStreams.push({ servers, stream: name });
    const url = `nats://${servers}/${name}${kind === 'jetstream-r3' ? '?replicas=3' : ''}`;
    const opts = places.natsPipeline === null ? {} : { pipeline: places.natsPipeline };
    return { store: await JetStreamJournalStore.open(url, opts), where: url };
  }
  const path = join(places.dir, `${name}.db`);
  if (kind === 'sqlite-thread') return { store: await SqliteThreadJournalStore.open(path), where: path };
  return { store: new TimedSqliteStore(path), where: path };
}

async function dropSchemas(url: string, schemas: readonly string[]): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await c.end();
  }
}

/** The SQLite store, timing its appends (inserts, commit, fsync: on the engine thread) to say where the time goes. */
class TimedSqliteStore extends SqliteJournalStore {
  appendNs = 0;
  override append(records: readonly JournalRecord[]): void {
    const t0 = process.hrtime.bigint();
    super.append(records);
    this.appendNs += Number(process.hrtime.bigint() - t0);
  }
}

/**
 * A store that keeps nothing (appends only advance its last seq): what the journal costs the engine thread by itself,
 * so that a store's figure can be read against it.
 */
class NoStore implements JournalStore {
  private last = 0;
  append(records: readonly JournalRecord[]): void {
    if (records.length > 0) this.last = records[records.length - 1]!.seq;
  }
  *readFrom(_seq: number): Generator<JournalRecord> {}
  lastSeq(): number {
    return this.last;
  }
  firstSeq(): number {
    return 0;
  }
  truncateAfter(_seq: number): number {
    return 0;
  }
  saveSnapshot(): void {}
  listSnapshots(): SnapshotInfo[] {
    return [];
  }
  readSnapshot(): null {
    return null;
  }
  pruneSnapshots(): number {
    return 0;
  }
  close(): void {}
}

function removeSqlite(path: string): void {
  for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
}

interface DurableResult {
  store: StoreKind;
  shape: string;
  commands: number;
  accepted: number;
  seconds: number;
  acceptedPerSec: number;
  commits: number;
  avgBatch: number;
  /** Closed loop: burst round trip; pipelined: acknowledgement latency of a turn's last command. */
  latencyMsP50: number;
  latencyMsP99: number;
  /** `sqlite` only: share of the wall time spent in its (synchronous) appends, %. */
  appendShare: number | null;
}

/**
 * Runs `n` commands of the stream through a Journal on a fresh store of `kind`, as `shape` says: `{ turn, window }`
 * pipelined, or `{ burst }` one client in a closed loop. The store is closed and removed afterwards unless `keep`.
 */
async function durableRun(
  kind: StoreKind,
  places: Places,
  source: () => CommandSource,
  n: number,
  shape: { turn: number; window: number } | { burst: number },
  nAccounts: number,
  jopts: JournalOptions,
): Promise<DurableResult & { hash: string }> {
  const { store, where } = await openStore(kind, places);
  const journal = new Journal((await recover(store)).engine, store, jopts);
  const e = journal.engine;
  let last: Promise<unknown> = Promise.resolve();
  for (const c of setupCommands(nAccounts)) last = journal.submit(c);
  await last;
  const feed = source();
  const seqBefore = e.seq;
  const commitsBefore = journal.stats.commits;
  const latency: number[] = [];
  if (store instanceof TimedSqliteStore) store.appendNs = 0;
  fullGc();
  const t0 = process.hrtime.bigint();
  if ('burst' in shape) {
    for (let i = 0; i < n; ) {
      const b0 = process.hrtime.bigint();
      const end = Math.min(n, i + shape.burst);
      for (; i < end; i++) {
        const before = e.nextOrderId;
        last = journal.submit(feed.command(i));
        feed.applied(i, before, e);
      }
      await last;
      latency.push(Number(process.hrtime.bigint() - b0) / 1e6);
    }
  } else {
    // Open loop: a turn's worth of commands, then the event loop turns (commits complete, acknowledgements run),
    // and no more than `window` outstanding. What many independent clients look like to the journal.
    let acked = 0;
    let failure: unknown = null;
    const onAck = () => {
      acked += 1;
    };
    // A failed commit poisons the journal: nothing more is acknowledged, so the window would never drain.
    const onFail = (err: unknown) => {
      failure ??= err;
    };
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    for (let i = 0; i < n; ) {
      const end = Math.min(n, i + shape.turn);
      const b0 = process.hrtime.bigint();
      for (; i < end; i++) {
        const before = e.nextOrderId;
        last = journal.submit(feed.command(i)).then(onAck, onFail);
        feed.applied(i, before, e);
      }
      if (i % (shape.turn * 16) === 0)
        void last.then(() => latency.push(Number(process.hrtime.bigint() - b0) / 1e6));
      await turn();
      while (i - acked > shape.window && failure === null) await turn();
      if (failure !== null) throw failure;
    }
  }
  await journal.flush();
  await last;
  const ns = Number(process.hrtime.bigint() - t0);
  const appendShare = store instanceof TimedSqliteStore ? round((100 * store.appendNs) / ns, 1) : null;
  const accepted = e.seq - seqBefore;
  const commits = journal.stats.commits - commitsBefore;
  const hash = stateHash(e);
  await journal.close();
  if (isSqlite(kind)) removeSqlite(where);
  const l = summarize(latency);
  return {
    hash,
    store: kind,
    shape:
      'burst' in shape ? `burst ${shape.burst}` : `pipelined (${shape.turn}/turn, window ${shape.window})`,
    commands: n,
    accepted,
    seconds: round(ns / 1e9, 3),
    acceptedPerSec: round(perSecond(accepted, ns)),
    commits,
    avgBatch: round(accepted / Math.max(1, commits), 1),
    latencyMsP50: round(l.p50, 2),
    latencyMsP99: round(l.p99, 2),
    appendShare,
  };
}

/** The engine alone on the same stream (the ceiling). */
function engineAlone(
  source: () => CommandSource,
  n: number,
  nAccounts: number,
): { perSec: number; accepted: number } {
  const e = new Engine();
  for (const c of setupCommands(nAccounts)) if (!e.apply(c).ok) throw new Error(`setup: ${c.type} rejected`);
  const feed = source();
  fullGc();
  const t0 = process.hrtime.bigint();
  const seq0 = e.seq;
  for (let i = 0; i < n; i++) {
    const before = e.nextOrderId;
    e.apply(feed.command(i));
    feed.applied(i, before, e);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return { perSec: round(perSecond(n, ns)), accepted: e.seq - seq0 };
}

interface RecoveryFigures {
  store: StoreKind;
  commands: number;
  records: number;
  writeCmdPerSec: number;
  snapshotEvery: number;
  snapshotBytes: number;
  /** Taking one snapshot of the final state: serialize + state hash, on the engine thread. */
  snapshotTakeMs: number;
  fullReplayMs: number;
  fullReplayRecordsPerSec: number;
  /** From the newest snapshot: its seq, the tail replayed, the time (restore included). */
  fromNewest: { seq: number; tail: number; restoreMs: number; ms: number };
  /** From the snapshot before it (the newest skipped): the tail a crash just before the next snapshot leaves. */
  fromPrevious: { seq: number; tail: number; restoreMs: number; ms: number } | null;
}

/** Journals `n` commands on a fresh store with snapshots, then times the three ways of rebuilding the state. */
async function recoveryRun(
  kind: StoreKind,
  places: Places,
  source: () => CommandSource,
  n: number,
  nAccounts: number,
  jopts: JournalOptions,
): Promise<RecoveryFigures> {
  const { store, where } = await openStore(kind === 'sqlite' ? 'sqlite-thread' : kind, places);
  const journal = new Journal((await recover(store)).engine, store, jopts);
  const e = journal.engine;
  let last: Promise<unknown> = Promise.resolve();
  for (const c of setupCommands(nAccounts)) last = journal.submit(c);
  await last;
  const feed = source();
  let acked = 0;
  let failure: unknown = null;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; ) {
    const end = Math.min(n, i + 2_000);
    for (; i < end; i++) {
      const before = e.nextOrderId;
      last = journal.submit(feed.command(i)).then(
        () => {
          acked += 1;
        },
        (err: unknown) => {
          failure ??= err;
        },
      );
      feed.applied(i, before, e);
    }
    await new Promise((r) => setImmediate(r));
    while (i - acked > 50_000 && failure === null) await new Promise((r) => setImmediate(r));
    if (failure !== null) throw failure;
  }
  await journal.flush();
  const writeNs = Number(process.hrtime.bigint() - t0);
  const liveHash = stateHash(e);
  const t = performance.now();
  const snapshotBytes = snapshotEngine(e).length;
  stateHash(e);
  const snapshotTakeMs = performance.now() - t;
  await journal.close();
  // After close: it waits for the snapshot saves still queued, whose failures count too.
  if (journal.stats.snapshotErrors > 0)
    throw new Error(`snapshot failed: ${journal.stats.lastSnapshotError}`);

  const reopen = async (): Promise<JournalStore> =>
    kind === 'postgres'
      ? PgJournalStore.open(where, { readonly: true })
      : isSqlite(kind)
        ? new SqliteJournalStore(where, { readonly: true })
        : JetStreamJournalStore.open(where, { readonly: true });
  const check = (r: Awaited<ReturnType<typeof recover>>, how: string) => {
    if (r.stateHash !== liveHash) throw new Error(`${how}: recovered state differs from the live engine's`);
    if (r.cut) throw new Error(`${how}: unexpected tail cut: ${r.log.join('; ')}`);
  };
  fullGc();
  /** One timed recovery on a fresh read-only connection, checked against the live engine. */
  const timed = async (how: string, opts: Parameters<typeof recover>[1]) => {
    fullGc();
    const st = await reopen();
    const t0 = performance.now();
    const r = await recover(st, opts);
    const ms = performance.now() - t0;
    await st.close();
    check(r, how);
    return { r, ms };
  };
  const fromSnapshot = (x: { r: Awaited<ReturnType<typeof recover>>; ms: number }) =>
    x.r.snapshot
      ? {
          seq: x.r.snapshot.seq,
          tail: x.r.records,
          restoreMs: round(x.r.snapshot.restoreMs, 1),
          ms: round(x.ms, 1),
        }
      : null;

  const full = await timed('full replay', { snapshots: false, repair: false, checkSnapshots: false });
  const fullReplayMs = full.ms;
  const records = full.r.records;
  full.r.engine.ledger.verify();

  const newest = await timed('from the newest snapshot', { repair: false });
  const fromNewest = fromSnapshot(newest);
  if (!fromNewest) throw new Error('no snapshot was taken');

  // The worst case: the newest snapshot unusable (its data damaged on a copy of the journal), so recovery restores
  // the one before and replays about a whole snapshot interval.
  if (isSqlite(kind)) {
    const w = new SqliteJournalStore(where);
    w.db.prepare("UPDATE snapshot SET data = x'00' WHERE seq = ?").run(fromNewest.seq);
    w.close();
  } else if (kind !== 'postgres') {
    // JetStream: the object rewritten with one byte of data under the same headers (its checksum then fails).
    const w = await JetStreamJournalStore.open(where, { readonly: true });
    const s = (await w.readSnapshot(fromNewest.seq))!;
    await (await new Objm(w.nc).open(w.bucket)).putBlob(snapshotObject(s), new Uint8Array(1));
    await w.close();
  } else {
    const w = await PgJournalStore.open(where);
    await w.client.query(`UPDATE "${w.schema}".ringfence_snapshot SET data = '\\x00' WHERE seq = $1`, [
      fromNewest.seq,
    ]);
    await w.close();
  }
  const fromPrevious = fromSnapshot(await timed('from the previous snapshot', { repair: false }));
  if (isSqlite(kind)) removeSqlite(where);
  return {
    store: kind,
    commands: n,
    records,
    writeCmdPerSec: round(perSecond(n, writeNs)),
    snapshotEvery: jopts.snapshotEvery ?? 0,
    snapshotBytes,
    snapshotTakeMs: round(snapshotTakeMs, 1),
    fullReplayMs: round(fullReplayMs),
    fullReplayRecordsPerSec: round(perSecond(records, fullReplayMs * 1e6)),
    fromNewest,
    fromPrevious,
  };
}

/** `{ store: { mix: f(figures) } }` */
function pick<H>(
  headline: Record<string, Partial<Record<Mix, H>>>,
  f: (h: H) => number,
): Record<string, Record<string, number>> {
  return Object.fromEntries(
    Object.entries(headline).map(([k, v]) => [
      k,
      Object.fromEntries(Object.entries(v).map(([m, h]) => [m, f(h as H)])),
    ]),
  );
}

const median = <T>(xs: T[], by: (x: T) => number): T =>
  [...xs].sort((a, b) => by(a) - by(b))[(xs.length - 1) >> 1]!;

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, [
    'stores',
    'durable',
    'reps',
    'bursts',
    'turn',
    'window',
    'max-batch',
    'commands',
    'pg-commands',
    'snapshot-every',
    'hash-every',
    'seed',
    'accounts',
    'dir',
    'pg',
    'mix',
    'nats',
    'nats-commands',
    'nats-pipeline',
  ]);
  const nDurable = intArg(a, 'durable', 300_000);
  const nReplay = intArg(a, 'commands', 1_000_000);
  const nPgReplay = intArg(a, 'pg-commands', 200_000);
  const nNatsReplay = intArg(a, 'nats-commands', nPgReplay);
  const reps = Math.max(1, intArg(a, 'reps', 3));
  const turn = Math.max(1, intArg(a, 'turn', 1_000));
  const window = Math.max(turn, intArg(a, 'window', 2 * turn));
  const seed = intArg(a, 'seed', 1);
  const nAccounts = Math.max(1, intArg(a, 'accounts', 1_000));
  const hashEvery = intArg(a, 'hash-every', 100_000);
  const snapshotEvery = intArg(a, 'snapshot-every', 100_000);
  const jopts: JournalOptions = {
    hashEvery,
    snapshotEvery: 0,
    ...(a.has('max-batch') ? { maxBatch: Math.max(1, intArg(a, 'max-batch', 4_096)) } : {}),
  };
  const bursts = (a.get('bursts') ?? '1,100,1000,10000').split(',').map((x) => Number(x.replace(/_/g, '')));
  if (bursts.some((b) => !Number.isSafeInteger(b) || b < 1))
    throw new Error('--bursts: comma-separated positive integers');
  const mixes = (a.get('mix') ?? MIXES.join(',')).split(',') as Mix[];
  for (const m of mixes) if (!MIXES.includes(m)) throw new Error(`--mix: one of ${MIXES.join(', ')}`);
  const pgArg = a.get('pg');
  let stores = (a.get('stores') ?? STORE_KINDS.join(',')).split(',') as StoreKind[];
  for (const k of stores)
    if (!STORE_KINDS.includes(k)) throw new Error(`--stores: one of ${STORE_KINDS.join(', ')}`);
  if (pgArg === 'none') stores = stores.filter((k) => k !== 'postgres');
  const natsArg = a.get('nats');
  const natsKinds = (k: StoreKind) => k === 'jetstream' || k === 'jetstream-r3';
  if (natsArg === 'none') stores = stores.filter((k) => !natsKinds(k));
  const noNats = natsMissing();
  if (noNats && !natsArg && stores.some(natsKinds)) {
    say(`JetStream skipped: ${noNats}`);
    stores = stores.filter((k) => !natsKinds(k));
  }

  const dir = mkdtempSync(join(a.get('dir') ?? tmpdir(), 'ringfence-journal-bench-'));
  let db: TestDatabase | null = null;
  const places: Places = {
    dir,
    pg: null,
    nats: null,
    cluster: null,
    natsPipeline: a.has('nats-pipeline') ? Math.max(1, intArg(a, 'nats-pipeline', 8)) : null,
  };
  try {
    if (stores.includes('jetstream')) places.nats = natsArg ?? (await singleServer());
    if (stores.includes('jetstream-r3')) places.cluster = await startCluster(3);
    if (stores.includes('postgres')) {
      if (pgArg)
        places.pg = { schemaUrl: (schema) => `${pgArg}${pgArg.includes('?') ? '&' : '?'}schema=${schema}` };
      else {
        db = await createTestDatabase();
        places.pg = db;
      }
    }
    say(
      `SQLite files in ${dir} (WAL, synchronous=FULL)${places.pg ? '; PostgreSQL in a database of its own (synchronous_commit=on)' : ''}` +
        `${places.nats ? `; JetStream R=1 on ${places.nats}` : ''}${places.cluster ? `; JetStream R=3 on a local 3-node cluster (${places.cluster.servers})` : ''}; ` +
        `state hash every ${fmtInt(hashEvery)} records; max batch ${jopts.maxBatch ?? 'default (4,096)'}`,
    );
    const nMax = Math.max(nReplay, nDurable, nPgReplay);
    const { stream } = generate(nMax, nAccounts, seed);
    const { cmds } = prepare(stream, nAccounts);
    const sources: Sources = {
      matching: () => new Feed(stream, cmds),
      quoting: () => new QuotingFeed(nMax, nAccounts),
    };

    // ---- 1. durable throughput
    const durable: Record<string, unknown>[] = [];
    type Headline = { durable: number; engine: number; ratio: number; reps: number[] };
    const headline: Record<string, Partial<Record<Mix, Headline>>> = {};
    for (const kind of stores) {
      headline[kind] = {};
      for (const mix of mixes) {
        const runs: { d: DurableResult; engine: number }[] = [];
        for (let r = 0; r < reps; r++) {
          const engine = engineAlone(sources[mix], nDurable, nAccounts).perSec;
          const { hash: _h, ...d } = await durableRun(
            kind,
            places,
            sources[mix],
            nDurable,
            { turn, window },
            nAccounts,
            jopts,
          );
          runs.push({ d, engine });
        }
        const med = median(runs, (x) => x.d.acceptedPerSec);
        const h: Headline = {
          durable: med.d.acceptedPerSec,
          engine: med.engine,
          ratio: round(
            median(
              runs.map((x) => x.d.acceptedPerSec / x.engine),
              (x) => x,
            ),
            3,
          ),
          reps: runs.map((x) => x.d.acceptedPerSec),
        };
        headline[kind]![mix] = h;
        durable.push({
          mix,
          ...med.d,
          engineAlonePerSec: med.engine,
          reps: h.reps,
          engineReps: runs.map((x) => x.engine),
        });
        say(
          `${kind.padEnd(13)} ${mix.padEnd(8)} pipelined: median ${fmtInt(h.durable).padStart(8)} durable cmd/s of ${reps} ` +
            `(${h.reps.map(fmtInt).join(', ')}); the engine alone right before each: ` +
            `${runs.map((x) => fmtInt(x.engine)).join(', ')} → ${runs.map((x) => `${round((100 * x.d.acceptedPerSec) / x.engine)}%`).join(', ')}; ` +
            `${fmtInt(med.d.commits)} commits, avg batch ${med.d.avgBatch}, ack latency p50 ${med.d.latencyMsP50} ms, p99 ${med.d.latencyMsP99} ms` +
            (med.d.appendShare === null
              ? ''
              : `; ${med.d.appendShare}% of the time in appends on the engine thread`),
        );
      }
      // One client in a closed loop, on the first mix only (the commit on the critical path does not depend on it).
      // Without a store there is no commit to wait for.
      if (kind === 'none') continue;
      const mix = mixes[0]!;
      for (const burst of bursts) {
        // A commit per command is slow: keep the small-burst runs to a few seconds.
        const n = Math.min(nDurable, burst * (isSqlite(kind) ? 2_000 : 1_000));
        const { hash: _h, ...d } = await durableRun(
          kind,
          places,
          sources[mix],
          n,
          { burst },
          nAccounts,
          jopts,
        );
        durable.push({ mix, ...d });
        say(
          `${kind.padEnd(13)} ${mix.padEnd(8)} one client, burst ${fmtInt(burst).padStart(6)}: ${fmtInt(d.acceptedPerSec).padStart(8)} durable cmd/s ` +
            `(${fmtInt(d.commits)} commits, avg batch ${d.avgBatch}), burst round trip p50 ${d.latencyMsP50} ms, p99 ${d.latencyMsP99} ms` +
            (d.appendShare === null ? '' : `; ${d.appendShare}% in appends`),
        );
        if (burst === 1) {
          const h = headline[kind]![mix]!;
          say(
            `${kind.padEnd(13)} ${mix.padEnd(8)} group commit (pipelined) = ${round(h.durable / d.acceptedPerSec, 1)}x a commit per command (${fmtInt(d.acceptedPerSec)}/s); ` +
              `${round(100 * h.ratio, 1)}% of the engine alone (median of the reps' ratios)`,
          );
        }
      }
    }

    // ---- 2. recovery
    const recovery: RecoveryFigures[] = [];
    // Recovery reads the same way whatever the replicas: JetStream's is measured at R=1 only.
    const recoveryStores = stores.filter(
      (k) => k !== 'none' && k !== 'sqlite-thread' && k !== 'jetstream-r3',
    );
    for (const kind of recoveryStores) {
      const n = kind === 'postgres' ? nPgReplay : kind === 'jetstream' ? nNatsReplay : nReplay;
      if (n === 0) continue;
      say(`${kind}: journaling ${fmtInt(n)} commands with a snapshot every ${fmtInt(snapshotEvery)}…`);
      const r = await recoveryRun(kind, places, sources.matching, n, nAccounts, { ...jopts, snapshotEvery });
      recovery.push(r);
      const p = r.fromPrevious;
      say(
        `${kind.padEnd(13)} written${kind === 'sqlite' ? ' (writer thread)' : ''} at ${fmtInt(r.writeCmdPerSec)} cmd/s; snapshot ${round(r.snapshotBytes / 2 ** 20, 2)} MiB, ${r.snapshotTakeMs} ms to take\n` +
          `${''.padEnd(13)} full replay of ${fmtInt(r.records)} records: ${fmtInt(r.fullReplayMs)} ms (${fmtInt(r.fullReplayRecordsPerSec)} records/s)\n` +
          `${''.padEnd(13)} from the newest snapshot (seq ${fmtInt(r.fromNewest.seq)}, restored in ${r.fromNewest.restoreMs} ms) + ${fmtInt(r.fromNewest.tail)} records: ${r.fromNewest.ms} ms ` +
          `= ${round(r.fullReplayMs / Math.max(0.001, r.fromNewest.ms), 1)}x faster than the full replay\n` +
          (p
            ? `${''.padEnd(13)} worst case, from the snapshot before (seq ${fmtInt(p.seq)}) + ${fmtInt(p.tail)} records: ${p.ms} ms = ${round(r.fullReplayMs / Math.max(0.001, p.ms), 1)}x faster (target ≤ 10 s)`
            : ''),
      );
    }
    return {
      durableCmdPerSec: pick(headline, (h) => h.durable),
      engineAloneCmdPerSec: pick(headline, (h) => h.engine),
      durableShareOfEngine: pick(headline, (h) => h.ratio),
      durable,
      recovery,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
    await dropStreams();
    await places.cluster?.stop();
    if (pgArg && pgArg !== 'none' && pgSchemas.length > 0) await dropSchemas(pgArg, pgSchemas);
  }
}
