/**
 * Every benchmark at reduced sizes, one after another, and a summary table: figure, goal (issue 19), met or not.
 *
 *   npm run bench -- all [--quick] [--only a,b] [--skip a,b]
 *
 * Each bench runs in its own child process (`node <same flags> bench/run.ts <name> <args>`, the harness), so no
 * bench inherits another's heap or compiled code; the child leads a process group of its own, and the whole group
 * (a bench's own children and workers too) is killed at the bench's deadline. A bench that fails or times out is
 * reported as such in the table and the run goes on. The child's human lines are echoed prefixed with its name; its
 * last JSON line is its figures. The sizes (PLAN below) are chosen so the whole run takes about 10 minutes on the
 * 2-core VM; `--quick` runs every bench at toy sizes (about a minute and a half: a smoke test of the table, its
 * figures mean nothing). Benches in bench/ that PLAN does not name run with their defaults and a 300 s deadline.
 *
 * A goal is judged only where the bench measured it under the goal's own conditions; a goal that needs a larger run
 * (100k traders, 1M positions) is "not judged (size)", a goal the bench has no figure for is "not measured".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkArgs, eachLine, fmtInt, parseArgs, round, say } from './lib.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------------------
// The plan

export interface PlanEntry {
  name: string;
  /** Arguments of the ~10-minute run. */
  args: readonly string[];
  deadlineS: number;
  /** Arguments of `--quick` (toy sizes). */
  quick: readonly string[];
}

/**
 * Sizes, with the default run's expected time on the idle 2-core VM: each goal of issue 19 at its own size (1M
 * commands, 1M-record recovery, 100k traders, 1M positions and orders), the benches without a goal smaller; the
 * deadlines are 2–5× that, so a loaded machine does not turn a slow bench into a failure. Sum ≈ 10 min.
 */
export const PLAN: readonly PlanEntry[] = [
  {
    // The default 1M-command stream, the goal's own size; ~60 s.
    name: 'matching',
    args: [],
    deadlineS: 300,
    quick: ['--commands', '20000', '--reps', '1', '--warmup', '0'],
  },
  {
    // Matching alone vs nodejs-order-book, 300k commands, 2 reps after 1 warm-up (default 1M, 3 and 2); ~10 s.
    name: 'matching-book',
    args: ['--commands', '300000', '--reps', '2', '--warmup', '1'],
    deadlineS: 120,
    quick: ['--commands', '20000', '--reps', '1', '--warmup', '0'],
  },
  {
    // Durable throughput: 100k commands × 1 rep per store and mix (default 300k × 3), and the journal with no store
    // (what any store is bounded by on the engine thread); closed-loop bursts 1 and
    // 1,000 only; recovery of 1M commands on SQLite (the goal's size: 1M in ≤ 5 s) and 100k on PostgreSQL (judged by
    // its rate), a snapshot every 100k (each store needs at least one); ~100 s.
    name: 'journal',
    args: [
      // JetStream (R=1 and a 3-node R=3 cluster) is measured on its own: `npm run bench -- journal --stores
      // jetstream,jetstream-r3` (issue 21's figures), not inside this run's deadline.
      '--stores',
      'none,sqlite,sqlite-thread,postgres',
      '--durable',
      '100000',
      '--reps',
      '1',
      '--bursts',
      '1,1000',
      '--commands',
      '1000000',
      '--pg-commands',
      '100000',
      '--snapshot-every',
      '100000',
    ],
    deadlineS: 500,
    quick: [
      '--durable',
      '3000',
      '--reps',
      '1',
      '--bursts',
      '1',
      '--commands',
      '5000',
      '--pg-commands',
      '3000',
      '--snapshot-every',
      '2000',
      '--hash-every',
      '1000',
      '--accounts',
      '100',
    ],
  },
  {
    // 10k orders per phase (default 20k) after 1k warm-up, default and raised limits both; ~30 s.
    name: 'api',
    args: ['--orders', '10000', '--warmup', '1000'],
    deadlineS: 180,
    quick: ['--orders', '1000', '--warmup', '200'],
  },
  {
    // What the goal names: 100k traders over the full path, every default policy, as the CLI runs them; ~150 s
    // (the no-trader baseline included).
    name: 'simulate',
    args: [],
    deadlineS: 600,
    quick: ['--traders', '100', '--bars', '1000'],
  },
  {
    // `npm start` as a user runs it (the compiled CLI's demo), 3 fresh processes; ~30 s.
    name: 'demo',
    args: [],
    deadlineS: 240,
    quick: ['--reps', '1'],
  },
  {
    // 200k open positions (default 1M: ~2 GB and a minute of opening); ~15 s.
    name: 'mark-tick',
    args: ['--positions', '200000'],
    deadlineS: 150,
    quick: ['--positions', '5000', '--ticks', '200'],
  },
  {
    // 200k open positions, a 15-minute notice (default 10 min): the notice's quotes re-file all of them; ~40 s.
    name: 'dynamic-margin',
    args: ['--positions', '200000', '--notice-s', '900'],
    deadlineS: 200,
    quick: ['--positions', '5000', '--notice-s', '60'],
  },
  {
    // 20k silos holding BTC (the default); ~30 s, most of it opening them.
    name: 'collateral',
    args: ['--silos', '20000', '--quotes', '400'],
    deadlineS: 200,
    quick: ['--silos', '1000', '--quotes', '60'],
  },
  {
    // 200k open positions (default 1M); ~10 s.
    name: 'funding',
    args: ['--positions', '200000'],
    deadlineS: 150,
    quick: ['--positions', '5000'],
  },
  {
    // 10k and 100k positions (default up to 1M: the 1M-vs-10k targets are not judged), cascade over 50k (default
    // 210k); each in its own grandchild with the bench's own deadline; ~30 s.
    name: 'liquidation',
    args: ['--sizes', '10000,100000', '--cascade', '50000', '--deadline', '150'],
    deadlineS: 300,
    quick: [
      '--sizes',
      '1000,5000',
      '--ticks',
      '200',
      '--warmup',
      '100',
      '--cascade',
      '5000',
      '--deadline',
      '60',
    ],
  },
  {
    // 300 cases per market, 1,500 on step-bracket markets (default 2,000 and 10,000: 82 s); ~12 s.
    name: 'liquidation-differential',
    args: ['--cases', '300', '--step-cases', '1500'],
    deadlineS: 150,
    quick: ['--cases', '10', '--step-cases', '30'],
  },
  {
    // 200k positions × 3 reps, decimal.js on 20k once (default 1M × 5, 100k × 3); ~15 s.
    name: 'margin',
    args: ['--n', '200000', '--decimal-n', '20000', '--reps', '3', '--api-reps', '1', '--decimal-reps', '1'],
    deadlineS: 150,
    quick: ['--n', '20000', '--decimal-n', '2000', '--reps', '1', '--api-reps', '1', '--decimal-reps', '1'],
  },
  {
    // The full 1,000-strike chain, 10 updates × 3 reps (default 20 × 7); ~15 s.
    name: 'options',
    args: ['--updates', '10', '--reps', '3', '--warmup', '2'],
    deadlineS: 150,
    quick: ['--strikes', '200', '--updates', '5', '--reps', '2', '--warmup', '1'],
  },
  {
    // 100 and 1,000 BTC holders next to 2,000 ETH holders (default 100/1k/4k next to 8k), 100 updates; ~20 s.
    name: 'options-engine',
    args: ['--holders', '100,1000', '--other', '2000', '--updates', '100'],
    deadlineS: 180,
    quick: ['--holders', '50,200', '--other', '200', '--updates', '20'],
  },
  {
    // 3 reps of 1,000 legs per side (default 7 × 2,000), 10 and 100 condors, 10 commands per rep; ~25 s.
    name: 'strategy-margin',
    args: ['--reps', '3', '--budget', '1000', '--accounts', '10,100', '--commands', '10', '--warmup', '1'],
    deadlineS: 180,
    quick: ['--quick'],
  },
  {
    // Issue 21: a 3-node NATS cluster, R=3, 1 s lease; leader, standby and replica under load; 5 SIGKILLs; ~100 s.
    name: 'ha',
    args: ['--cycles', '5', '--lag-seconds', '10'],
    deadlineS: 300,
    quick: ['--cycles', '1', '--lag-seconds', '2'],
  },
  {
    // Issue 25: 1, 2 and 3 shards (a process each, SQLite, fsync on), 150k timed commands per shard after 50k of
    // warm-up, 3 interleaved reps (default 200k after 60k, 5 reps); no goal, the figures and the scaling reported; ~50 s.
    name: 'shards',
    args: ['--commands', '150000', '--warmup', '50000', '--reps', '3'],
    deadlineS: 300,
    quick: ['--commands', '3000', '--warmup', '1000', '--reps', '1', '--accounts', '50'],
  },
  {
    // Issue 25: cross-shard transfers through a router, two shards on SQLite (all three children), 400 after 50; ~15 s.
    name: 'shard-transfers',
    args: ['--transfers', '400', '--warmup', '50'],
    deadlineS: 180,
    quick: ['--transfers', '10', '--warmup', '2'],
  },
  {
    // 1M positions and 1M resting orders, as the issue asks, each in its own grandchild; ~150 s.
    name: 'memory',
    args: ['--deadline', '500'],
    deadlineS: 600,
    quick: ['--positions', '5000', '--orders', '5000', '--deadline', '60'],
  },
];

/** Deadline of a bench in bench/ that PLAN does not name (it runs with its defaults). */
const UNPLANNED_DEADLINE_S = 300;

/** Files in bench/ that are not benchmarks (as bench/run.ts), plus this one. */
const NOT_BENCHES = new Set(['run', 'lib', 'all']);
const NAME_RE = /^[a-z0-9][a-z0-9_-]*$/i;
const EXPORTS_RUN = /export\s+(async\s+)?function\s+run\s*\(/;

/** bench/run.ts's `available()`, without `all` itself and without files that export no `run` (fixture.ts). */
export function discover(dir = HERE): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -3))
    .filter((n) => NAME_RE.test(n) && !NOT_BENCHES.has(n))
    .filter((n) => EXPORTS_RUN.test(readFileSync(join(dir, `${n}.ts`), 'utf8')))
    .sort();
}

// ---------------------------------------------------------------------------------------------------------
// Judging: figures → rows (pure)

export type Outcome =
  | { ok: true; figures: Record<string, unknown>; seconds: number }
  | { ok: false; error: string; seconds: number };

export const MET = 'met';
export const NOT_MET = 'NOT MET';
/** The `goal` and `met` of a figure with no goal. */
export const NO_GOAL = '—';
export const REPORTED = 'reported';
export const FAILED = 'FAILED';

export interface Row {
  bench: string;
  figure: string;
  /** Formatted with its unit; "—" when the bench returned no such figure. */
  value: string;
  /** The figure itself (number, boolean or string), null when absent. */
  raw: number | string | boolean | null;
  goal: string;
  /** met | NOT MET | not judged (…) | not measured (…) | reported | — | FAILED */
  met: string;
}

type Figures = Record<string, unknown> | undefined;

/** The value at a dotted path, e.g. `get(f, 'engineLatencyUs.p99')`. */
export function get(f: unknown, path: string): unknown {
  let v: unknown = f;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

const num = (f: unknown, path: string): number | undefined => {
  const v = get(f, path);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};

/** 312456.7 → "312,457"; 12.345 → "12.35"; 0.01234 → "0.0123". */
export function fmtNum(x: number): string {
  const a = Math.abs(x);
  if (a >= 1000) return fmtInt(x);
  if (a >= 100) return String(round(x, 1));
  if (a >= 1 || a === 0) return String(round(x, 2));
  return String(Number(x.toPrecision(3)));
}

const withUnit = (v: number | undefined, unit: string): string =>
  v === undefined ? NO_GOAL : `${fmtNum(v)}${unit === '×' ? '' : ' '}${unit}`.trimEnd();

/** A figure with no goal. */
function info(bench: string, figure: string, v: number | undefined, unit: string): Row {
  return { bench, figure, value: withUnit(v, unit), raw: v ?? null, goal: NO_GOAL, met: NO_GOAL };
}

/**
 * A figure held to a goal: `test` decides met / not met, unless `notJudged` names why this run cannot judge it
 * (then the figure is still shown).
 */
function goal(
  bench: string,
  figure: string,
  v: number | undefined,
  unit: string,
  goalText: string,
  test: (v: number) => boolean,
  notJudged?: string,
): Row {
  const met =
    v === undefined
      ? 'not measured'
      : notJudged !== undefined
        ? `not judged (${notJudged})`
        : test(v)
          ? MET
          : NOT_MET;
  return { bench, figure, value: withUnit(v, unit), raw: v ?? null, goal: goalText, met };
}

/** A yes/no correctness check the bench makes (not an issue-19 goal, but a run that fails one is wrong). */
function check(bench: string, figure: string, v: unknown): Row {
  const value = typeof v === 'boolean' ? v : undefined;
  return {
    bench,
    figure,
    value: value === undefined ? NO_GOAL : value ? 'yes' : 'no',
    raw: value ?? null,
    goal: 'yes (check)',
    met: value === undefined ? 'not measured' : value ? MET : NOT_MET,
  };
}

const atLeast = (t: number) => (v: number) => v >= t;
const atMost = (t: number) => (v: number) => v <= t;
const zero = (v: number) => v === 0;

/** A bench's rows from its figures (`undefined` when it failed: its goal rows are still listed). */
type RowsFn = (f: Figures, args: readonly string[]) => Row[];

const hasArg = (args: readonly string[], key: string) =>
  args.some((a) => a === `--${key}` || a.startsWith(`--${key}=`));

const RULES: Record<string, RowsFn> = {
  matching: (f) => {
    const b = 'matching';
    const n = num(f, 'commands');
    const at = n === undefined ? '' : ` (${fmtInt(n)} cmds)`;
    return [
      goal(
        b,
        `engine throughput${at}`,
        num(f, 'engineCmdPerSec'),
        'cmd/s',
        '≥ 300,000 cmd/s',
        atLeast(300_000),
      ),
      goal(b, 'engine / nodejs-order-book', num(f, 'engineVsNodejsOrderBook'), '×', '≥ 2×', atLeast(2)),
      goal(b, 'engine latency p99', num(f, 'engineLatencyUs.p99'), 'µs', '≤ 20 µs', atMost(20)),
      info(b, 'engine latency p50', num(f, 'engineLatencyUs.p50'), 'µs'),
      info(b, 'engine throughput, first (cold) run', num(f, 'engineColdCmdPerSec'), 'cmd/s'),
      info(b, 'matching alone / nodejs-order-book', num(f, 'matchingVsNodejsOrderBook'), '×'),
    ];
  },
  'matching-book': (f) => {
    const b = 'matching-book';
    return [
      info(b, 'matching alone', num(f, 'oursCmdPerSec'), 'cmd/s'),
      info(b, 'nodejs-order-book', num(f, 'theirsCmdPerSec'), 'cmd/s'),
      info(b, 'ours / theirs', num(f, 'ratio'), '×'),
      check(b, 'fills and depth agree with nodejs-order-book', get(f, 'agree')),
    ];
  },
  journal: (f) => {
    const b = 'journal';
    const rows: Row[] = [];
    // Group commit, fsync on, the matching mix: SQLite ≥ 150k/s (on the engine thread and on the writer thread,
    // each judged), PostgreSQL ≥ 100k/s.
    const targets: [store: string, label: string, min: number][] = [
      ['sqlite', 'SQLite', 150_000],
      ['sqlite-thread', 'SQLite, writer thread', 150_000],
      ['postgres', 'PostgreSQL', 100_000],
    ];
    for (const [store, label, min] of targets)
      rows.push(
        goal(
          b,
          `durable, matching mix, ${label}`,
          num(f, `durableCmdPerSec.${store}.matching`),
          'cmd/s',
          `≥ ${fmtInt(min)} cmd/s`,
          atLeast(min),
        ),
      );
    // The journal with a store that keeps nothing: what the stores above are bounded by on the engine thread.
    if (num(f, 'durableCmdPerSec.none.matching') !== undefined)
      rows.push(
        info(
          b,
          'journal with no store (its own ceiling), matching mix',
          num(f, 'durableCmdPerSec.none.matching'),
          'cmd/s',
        ),
      );
    for (const [store, label] of targets)
      if (num(f, `durableCmdPerSec.${store}.quoting`) !== undefined)
        rows.push(
          info(b, `durable, quoting mix, ${label}`, num(f, `durableCmdPerSec.${store}.quoting`), 'cmd/s'),
        );
    // Recovery: 1M commands replayed in ≤ 5 s, i.e. ≥ 200k records/s; below 1M the rate is what is judged.
    const recovery = Array.isArray(get(f, 'recovery')) ? (get(f, 'recovery') as unknown[]) : [];
    for (const [store, label] of [
      ['sqlite', 'SQLite'],
      ['postgres', 'PostgreSQL'],
    ] as const) {
      const r = recovery.find((x) => get(x, 'store') === store);
      const records = num(r, 'records');
      const rate = num(r, 'fullReplayRecordsPerSec');
      const full = records !== undefined && records >= 1_000_000;
      rows.push(
        goal(
          b,
          `recovery, full replay, ${label}${records === undefined ? '' : ` (${fmtInt(records)} records)`}`,
          rate,
          'records/s',
          full ? '≥ 200,000 records/s' : '≥ 200,000 records/s (1M in ≤ 5 s; judged by rate)',
          atLeast(200_000),
        ),
      );
      if (full)
        rows.push(
          goal(
            b,
            `recovery, full replay of 1M, ${label}`,
            num(r, 'fullReplayMs'),
            'ms',
            '≤ 5,000 ms',
            atMost(5_000),
          ),
        );
      if (r !== undefined)
        rows.push(info(b, `recovery from the newest snapshot, ${label}`, num(r, 'fromNewest.ms'), 'ms'));
    }
    return rows;
  },
  api: (f) => {
    const b = 'api';
    const rows: Row[] = [];
    // The goals name no rate-limit configuration: the raised limits (every limit 1M/s, the service's own speed)
    // and the defaults (src/service/config.ts) are each judged.
    // The latency clause: p99 with orders sent on a fixed schedule at half the 40k/s goal (raised limits).
    const target = num(f, 'wsPaced.targetPerSec');
    const achieved = num(f, 'wsPaced.ordersPerSec');
    rows.push(
      goal(
        b,
        `WS p99 paced at ${target === undefined ? '?' : fmtInt(target)}/s (achieved ${achieved === undefined ? '?' : fmtInt(achieved)}/s, raised limits)`,
        num(f, 'wsPaced.p99Ms'),
        'ms',
        '≤ 10 ms at 20,000 orders/s',
        atMost(10),
        target === 20_000 ? undefined : 'not paced at 20k/s',
      ),
    );
    // Capacity (raised limits): judged where the service, not the round trip of 64 orders in flight, is the limit.
    const inFlight = num(f, 'wsSaturated.inFlight');
    rows.push(
      goal(
        b,
        `WS order entry, saturated (${inFlight === undefined ? '?' : fmtInt(inFlight)} in flight, raised limits)`,
        num(f, 'wsSaturated.ordersPerSec'),
        'orders/s',
        '≥ 40,000 orders/s',
        atLeast(40_000),
      ),
    );
    for (const [label, pre] of [
      ['raised limits', ''],
      ['default limits', 'defaultLimits.'],
    ] as const) {
      const wsRate = num(f, `${pre}ws.ordersPerSec`);
      rows.push(
        pre === ''
          ? info(b, `WS order entry, closed loop (${label})`, wsRate, 'orders/s')
          : goal(b, `WS order entry (${label})`, wsRate, 'orders/s', '≥ 40,000 orders/s', atLeast(40_000)),
        goal(
          b,
          `WS p99, closed loop at ${wsRate === undefined ? '?' : fmtInt(wsRate)}/s (${label})`,
          num(f, `${pre}ws.p99Ms`),
          'ms',
          '—',
          atMost(10),
          'closed loop: see the paced row',
        ),
        goal(
          b,
          `HTTP orders (${label})`,
          num(f, `${pre}http.ordersPerSec`),
          'orders/s',
          '≥ 15,000 orders/s',
          atLeast(15_000),
        ),
      );
    }
    // With the default limits most orders are refused (clients do not back off): show how many.
    rows.push(
      info(b, 'WS refused by rate limit (default limits)', num(f, 'defaultLimits.ws.rateLimited'), 'orders'),
      info(
        b,
        'HTTP refused by rate limit (default limits)',
        num(f, 'defaultLimits.http.rateLimited'),
        'orders',
      ),
      info(b, 'journal baseline, no HTTP', num(f, 'baseline.ordersPerSec'), 'orders/s'),
      info(b, 'engine alone', num(f, 'engineOnlyOrdersPerSec'), 'orders/s'),
    );
    return rows;
  },
  simulate: (f, args) => {
    const b = 'simulate';
    const traders = num(f, 'traders');
    const points = num(f, 'points');
    const policies = get(f, 'policies');
    const nPolicies = Array.isArray(policies) ? policies.length : undefined;
    const wallS = num(f, 'wallS');
    // The goal's own run: 100k traders, every default policy, the whole path.
    const why =
      traders === undefined || traders < 100_000
        ? `size: ${traders === undefined ? '?' : fmtInt(traders)} traders, goal at 100k`
        : hasArg(args, 'policies')
          ? 'not all default policies'
          : hasArg(args, 'bars')
            ? 'part of the path'
            : undefined;
    const who = traders === undefined ? '' : ` (${fmtInt(traders)} traders)`;
    return [
      goal(
        b,
        `wall with summary and report${who}`,
        num(f, 'cliS'),
        's',
        '≤ 60 s (100k traders)',
        atMost(60),
        why,
      ),
      goal(b, `peak RSS${who}`, num(f, 'peakRssMiB'), 'MiB', '≤ 2,048 MiB (100k traders)', atMost(2048), why),
      info(
        b,
        `trader-minutes per second (${nPolicies ?? '?'} policies)`,
        traders !== undefined &&
          points !== undefined &&
          nPolicies !== undefined &&
          wallS !== undefined &&
          wallS > 0
          ? (traders * points * nPolicies) / wallS
          : undefined,
        '/s',
      ),
      info(b, 'baseline, no traders', num(f, 'baselineS'), 's'),
    ];
  },
  demo: (f) => [
    goal('demo', 'npm start (the demo), median', num(f, 'demoS'), 's', '≤ 10 s', atMost(10)),
    info('demo', 'the CLI starting alone', num(f, 'cliStartS'), 's'),
  ],
  ha: (f) => [
    goal(
      'ha',
      'failover: takeover max (1 s lease, R=3)',
      num(f, 'takeoverMaxMs'),
      'ms',
      '≤ 3,000 ms',
      (v) => v <= 3_000,
    ),
    info('ha', 'failover: takeover p50', num(f, 'takeoverP50Ms'), 'ms'),
    info('ha', 'replica: records behind the leader, p99', num(f, 'replicaLag.recordsBehindP99'), 'records'),
    info('ha', 'replica: time to reach the leader’s seq, p50', num(f, 'replicaLag.catchUpP50Ms'), 'ms'),
  ],
  shards: (f) => {
    // No goal (issue 25 asks for the figures): the aggregate per shard count, and its scaling against one shard.
    const b = 'shards';
    const counts = get(f, 'shardCounts');
    const ns = Array.isArray(counts) ? counts.filter((n): n is number => typeof n === 'number') : [1, 2, 3];
    const rows: Row[] = ns.map((n) =>
      info(
        b,
        `aggregate, ${n} shard${n > 1 ? 's' : ''} (SQLite, durable)`,
        num(f, `sqlite.aggregateCmdPerSec.${n}`),
        'cmd/s',
      ),
    );
    for (const n of ns.filter((x) => x > 1))
      rows.push(
        info(b, `per-core scaling, ${n} shards / 1`, num(f, `sqlite.perCoreScaling.${n}`), '×'),
        // What the machine itself gave n CPU-bound processes in the same rounds: the ceiling for the row above.
        info(b, `machine (CPU probe), ${n} processes / 1`, num(f, `sqlite.machineScaling.${n}`), '×'),
      );
    return rows;
  },
  'shard-transfers': (f) => [
    // No goal: the latency end to end (hold, credit, settle: three durable commits) and one durable write beside it.
    info('shard-transfers', 'cross-shard transfer through the router, p50', num(f, 'transferP50Ms'), 'ms'),
    info('shard-transfers', 'cross-shard transfer through the router, p99', num(f, 'transferP99Ms'), 'ms'),
    info('shard-transfers', 'baseline: one signed order through the router, p50', num(f, 'orderP50Ms'), 'ms'),
  ],
  memory: (f) => {
    // No goal: every top-level bytesPer… figure, reported.
    const rows = Object.entries(f ?? {})
      .filter(([k, v]) => k.startsWith('bytesPer') && typeof v === 'number')
      .map(([k, v]) => ({ ...info('memory', k, v as number, 'B'), met: REPORTED }));
    return rows.length > 0
      ? rows
      : [{ ...info('memory', 'bytes per position / order', undefined, 'B'), met: 'not measured' }];
  },
  'mark-tick': (f) => {
    const b = 'mark-tick';
    const n = num(f, 'positions');
    const at = n === undefined ? '' : ` (${fmtInt(n)} positions)`;
    return [
      info(b, `mark update p50${at}`, num(f, 'markUpdateUs.p50'), 'µs'),
      info(b, 'mark update p99', num(f, 'markUpdateUs.p99'), 'µs'),
      info(b, 'mark update mean', num(f, 'markUpdateUs.mean'), 'µs'),
      info(b, 'first mark update (files every position)', num(f, 'firstMarkUpdateMs'), 'ms'),
      info(b, 'full scan / mean mark update', num(f, 'ratio'), '×'),
    ];
  },
  'dynamic-margin': (f) => {
    const b = 'dynamic-margin';
    const n = num(f, 'positions');
    const at = n === undefined ? '' : ` (${fmtInt(n)} positions)`;
    return [
      info(b, `quote during a raise's notice, mean${at}`, num(f, 'noticeQuoteUs.mean'), 'µs'),
      info(b, 'quote before it, mean', num(f, 'quietQuoteUs.mean'), 'µs'),
      info(b, 'the command applying the raise', num(f, 'applyMs'), 'ms'),
      info(b, 're-keying every position at once', num(f, 'rebuildIndexMs'), 'ms'),
    ];
  },
  collateral: (f) => {
    const b = 'collateral';
    const n = num(f, 'silos');
    const at = n === undefined ? '' : ` (${fmtInt(n)} silos holding BTC)`;
    return [
      info(b, `index move, mean${at}`, num(f, 'quoteUs.mean'), 'µs'),
      info(b, 'index move, p99', num(f, 'quoteUs.p99'), 'µs'),
      info(b, 'index move + every holder checked, mean', num(f, 'everyHolderUs.mean'), 'µs'),
      info(b, 'first index move (files every silo)', num(f, 'firstQuoteMs'), 'ms'),
    ];
  },
  funding: (f) => {
    const b = 'funding';
    const n = num(f, 'positions');
    return [
      info(
        b,
        `funding time${n === undefined ? '' : ` (${fmtInt(n)} positions)`}`,
        num(f, 'fundingTickUs'),
        'µs',
      ),
      info(b, 'eager settlement / funding time', num(f, 'ratio'), '×'),
      check(b, 'ledger balances', get(f, 'ledgerBalances')),
    ];
  },
  liquidation: (f) => {
    const b = 'liquidation';
    const ticks = Array.isArray(get(f, 'ticks')) ? (get(f, 'ticks') as unknown[]) : [];
    const rows: Row[] = ticks.map((t) =>
      info(b, `mark update p50, ${fmtInt(num(t, 'positions') ?? 0)} positions`, num(t, 'tickUs.p50'), 'µs'),
    );
    const small = num(ticks[0], 'positions');
    const large = num(ticks[ticks.length - 1], 'positions');
    // The bench's own targets (bench/liquidation.ts) are for 1M positions against 10k.
    const at1M = large !== undefined && large >= 1_000_000;
    const sizes = small === undefined || large === undefined ? '' : ` (${fmtInt(large)} vs ${fmtInt(small)})`;
    rows.push(
      goal(
        b,
        `median tick growth${sizes}`,
        num(f, 'growth'),
        '×',
        '≤ 3× (1M vs 10k; bench target)',
        atMost(3),
        at1M && small !== undefined && small <= 10_000 ? undefined : 'size',
      ),
      goal(
        b,
        `full scan / mean tick${large === undefined ? '' : ` at ${fmtInt(large)}`}`,
        num(ticks[ticks.length - 1], 'ratio'),
        '×',
        '≥ 100× at 1M (bench target)',
        atLeast(100),
        at1M ? undefined : 'size',
      ),
      info(b, 'cascade, per liquidation', num(f, 'cascade.usPerLiquidation'), 'µs'),
    );
    return rows;
  },
  'liquidation-differential': (f) => {
    const b = 'liquidation-differential';
    const cases = num(f, 'cases');
    return [
      goal(
        b,
        `disagreements${cases === undefined ? '' : ` (${fmtInt(cases)} cases)`}`,
        num(f, 'failures'),
        '',
        '= 0 (check)',
        zero,
      ),
      info(b, 'cases per second', num(f, 'casesPerSecond'), '/s'),
    ];
  },
  margin: (f) => {
    const b = 'margin';
    return [
      info(b, 'exact evaluation, one thread', num(f, 'bigintPositionsPerSec'), 'positions/s'),
      info(b, 'exact evaluation, all workers', num(f, 'bigintParallelPositionsPerSec'), 'positions/s'),
      info(b, 'exact / decimal.js', num(f, 'ratio'), '×'),
      goal(b, 'mismatches with decimal.js', num(f, 'mismatches'), '', '= 0 (check)', zero),
    ];
  },
  options: (f) => {
    const b = 'options';
    const n = num(f, 'strikes');
    return [
      info(
        b,
        `integer kernel, one vol update${n === undefined ? '' : ` (${fmtInt(n)} strikes)`}`,
        num(f, 'perVolUpdateMs.intMark'),
        'ms',
      ),
      info(b, 'engine re-mark of the expiry', num(f, 'engine.remarkMs'), 'ms'),
      info(b, 'engine volQuote command', num(f, 'engine.volQuoteMs'), 'ms'),
      info(b, 'integer kernel / float', num(f, 'ratioIntMarkOverFloat'), '×'),
    ];
  },
  'options-engine': (f) => {
    const b = 'options-engine';
    const rows = Array.isArray(get(f, 'rows')) ? (get(f, 'rows') as unknown[]) : [];
    return rows.flatMap((r) => {
      const at = `${fmtInt(num(r, 'btcHolders') ?? 0)} BTC / ${fmtInt(num(r, 'ethHolders') ?? 0)} ETH holders`;
      return [
        info(b, `BTC vol update p50, ${at}`, num(r, 'btcUpdateP50Ms'), 'ms'),
        info(b, `ETH vol update p50, ${at}`, num(r, 'ethUpdateP50Ms'), 'ms'),
      ];
    });
  },
  'strategy-margin': (f) => {
    const b = 'strategy-margin';
    const rows: Row[] = [];
    for (const model of ['maxLoss', 'scenario', 'standalone'])
      rows.push(info(b, `core, iron condor, ${model}`, num(f, `core.legs4.${model}.steadyUs`), 'µs'));
    rows.push(goal(b, 'core mismatches', num(f, 'core.mismatches'), '', '= 0 (check)', zero));
    const engine = Array.isArray(get(f, 'engine')) ? (get(f, 'engine') as unknown[]) : [];
    for (const e of engine)
      for (const model of ['maxLoss', 'scenario', 'standalone'])
        rows.push(
          info(
            b,
            `engine p50, ${fmtInt(num(e, 'accounts') ?? 0)} condors, ${model}`,
            num(e, `${model}.p50Us`),
            'µs',
          ),
        );
    return rows;
  },
};

/** The rows of one bench: its figures judged, or (failed) a FAILED row and its goals "not measured". */
export function rowsFor(name: string, outcome: Outcome, args: readonly string[] = []): Row[] {
  const rule = RULES[name];
  if (!outcome.ok) {
    const goals = (rule ? rule(undefined, args) : []).filter((r) => r.goal !== NO_GOAL);
    const error = outcome.error.length > 120 ? `${outcome.error.slice(0, 117)}...` : outcome.error;
    return [
      { bench: name, figure: 'run', value: error, raw: null, goal: NO_GOAL, met: FAILED },
      ...goals.map((r) => ({ ...r, met: 'not measured (bench failed)' })),
    ];
  }
  if (!rule)
    return [
      {
        bench: name,
        figure: 'figures (no goals known to bench/all.ts)',
        value: `${Object.keys(outcome.figures).length} keys`,
        raw: null,
        goal: NO_GOAL,
        met: NO_GOAL,
      },
    ];
  return rule(outcome.figures, args);
}

export interface Summary {
  all: Row[];
  met: number;
  notMet: number;
  /** Goals neither met nor missed: not judged at this size, not measured, or their bench failed. */
  notJudged: number;
  failed: string[];
}

export function summarize(rows: readonly Row[], failed: readonly string[]): Summary {
  let met = 0;
  let notMet = 0;
  let notJudged = 0;
  for (const r of rows) {
    if (r.goal === NO_GOAL) continue;
    if (r.met === MET) met++;
    else if (r.met === NOT_MET) notMet++;
    else notJudged++;
  }
  return { all: [...rows], met, notMet, notJudged, failed: [...failed] };
}

/** The rows as an aligned text table with a header: bench, figure, value, goal, met. */
export function formatTable(rows: readonly Row[]): string {
  const head = ['bench', 'figure', 'value', 'goal', 'met'];
  const cells = rows.map((r) => [r.bench, r.figure, r.value, r.goal, r.met]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (i === 2 ? x.padStart(width[i]!) : x.padEnd(width[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), width.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Running

const RUN_TS = join(HERE, 'run.ts');

/** Kills a child's whole process group (it was spawned detached, so it leads one). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Runs `bench/run.ts <name> <args>` in a child process (same node and flags as this one), echoing its lines prefixed
 * with `[name]`; resolves to its last JSON line's figures, or to a failure (exit status, or killed at the deadline).
 */
export function runChild(
  name: string,
  args: readonly string[],
  deadlineS: number,
  track: (c: ChildProcess | null) => void,
): Promise<Outcome> {
  const t0 = process.hrtime.bigint();
  const seconds = () => round(Number(process.hrtime.bigint() - t0) / 1e9, 1);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, RUN_TS, name, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    track(child);
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, deadlineS * 1000);
    let last = '';
    const errTail: string[] = [];
    let failLine = '';
    eachLine(child.stdout!, (l) => {
      if (l.startsWith('{')) last = l;
      else if (!l.startsWith('# bench ')) say(`  [${name}] ${l}`);
    });
    eachLine(child.stderr!, (l) => {
      process.stderr.write(`  [${name}] ${l}\n`);
      // The harness's "bench failed: <message>" names the failure; else the last line that is not a stack frame.
      const t = l.trim();
      if (t.startsWith('bench failed:')) failLine = t;
      else if (t !== '' && !t.startsWith('at ')) errTail.push(t);
      if (errTail.length > 3) errTail.shift();
    });
    // A grandchild still holding the pipes would keep 'close' from coming: give it a few seconds after the exit.
    let straggler: NodeJS.Timeout | undefined;
    child.once('exit', () => {
      straggler = setTimeout(() => killGroup(child), 5_000);
    });
    const finish = (o: Outcome) => {
      clearTimeout(deadline);
      if (straggler) clearTimeout(straggler);
      track(null);
      resolve(o);
    };
    child.once('error', (err) => finish({ ok: false, error: err.message, seconds: seconds() }));
    child.once('close', (code, signal) => {
      if (timedOut)
        return finish({ ok: false, error: `timed out after ${deadlineS} s (killed)`, seconds: seconds() });
      if (code === 0 && last !== '') {
        try {
          const { bench: _b, ...figures } = JSON.parse(last) as Record<string, unknown>;
          return finish({ ok: true, figures, seconds: seconds() });
        } catch (err) {
          return finish({ ok: false, error: `bad JSON line: ${String(err)}`, seconds: seconds() });
        }
      }
      const why = signal !== null ? `killed by ${signal}` : `exit code ${code}`;
      const said = failLine || errTail[errTail.length - 1];
      finish({
        ok: false,
        error: `${why}${said ? `: ${said}` : ''}`,
        seconds: seconds(),
      });
    });
  });
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(argv);
  checkArgs(a, ['quick', 'only', 'skip']);
  const quick = a.has('quick');
  const list = (k: string) => (a.get(k) ?? '').split(',').filter((x) => x !== '');
  const only = list('only');
  const skip = list('skip');
  const found = discover();
  for (const n of [...only, ...skip])
    if (!found.includes(n))
      throw new Error(`--only/--skip: no bench "${n}" (available: ${found.join(', ')})`);
  const planned = new Map(PLAN.map((p) => [p.name, p]));
  // PLAN's order first (the benches whose files exist), then any bench PLAN does not name.
  const names = [
    ...PLAN.map((p) => p.name).filter((n) => found.includes(n)),
    ...found.filter((n) => !planned.has(n)),
  ].filter((n) => (only.length === 0 || only.includes(n)) && !skip.includes(n));
  const steps = names.map((name) => {
    const p = planned.get(name);
    if (!p) return { name, args: [] as readonly string[], deadlineS: UNPLANNED_DEADLINE_S };
    return {
      name,
      args: quick ? p.quick : p.args,
      deadlineS: quick ? Math.min(p.deadlineS, 120) : p.deadlineS,
    };
  });
  say(
    `plan${quick ? ' (--quick: toy sizes, the figures mean nothing)' : ''}: ${steps.length} benches, one after another`,
  );
  for (const s of steps)
    say(
      `  ${s.name.padEnd(26)} deadline ${String(s.deadlineS).padStart(3)} s  ${s.args.join(' ') || '(defaults)'}`,
    );
  for (const n of found.filter((x) => !planned.has(x)))
    say(`  (${n} is not in bench/all.ts's PLAN: its defaults)`);

  let current: ChildProcess | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (current) killGroup(current);
    process.stderr.write(`all: ${sig}, stopped\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const t0 = process.hrtime.bigint();
  const rows: Row[] = [];
  const failed: string[] = [];
  const benches: Record<string, unknown>[] = [];
  try {
    for (const [i, s] of steps.entries()) {
      say(`== ${s.name} (${i + 1}/${steps.length}) ${s.args.join(' ')}`);
      const o = await runChild(s.name, s.args, s.deadlineS, (c) => {
        current = c;
      });
      say(`== ${s.name}: ${o.ok ? 'done' : `FAILED (${o.error})`} in ${o.seconds} s`);
      if (!o.ok) failed.push(s.name);
      rows.push(...rowsFor(s.name, o, s.args));
      benches.push({
        name: s.name,
        args: s.args.join(' '),
        seconds: o.seconds,
        ...(o.ok ? { figures: o.figures } : { error: o.error }),
      });
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const seconds = round(Number(process.hrtime.bigint() - t0) / 1e9, 1);
  const sum = summarize(rows, failed);
  say('');
  say(formatTable(rows));
  say('');
  say(
    `goals: ${sum.met} met, ${sum.notMet} not met, ${sum.notJudged} not judged or not measured; ` +
      `${failed.length ? `failed: ${failed.join(', ')}` : 'no bench failed'}; ${seconds} s${quick ? ' (--quick)' : ''}`,
  );
  return { ...sum, seconds, quick, benches };
}
