/**
 * `npm run bench -- all`: from each bench's figures to the summary rows (figure, goal, met or not). The runs
 * themselves are not made here: the figures are written out as the benches return them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  discover,
  FAILED,
  formatTable,
  MET,
  NO_GOAL,
  NOT_MET,
  PLAN,
  REPORTED,
  type Row,
  rowsFor,
  summarize,
} from '../../bench/all.ts';

const T = { timeout: 10_000 };
const ok = (figures: Record<string, unknown>) => ({ ok: true as const, figures, seconds: 1 });
/** The row whose figure is `prefix`, or else starts with it (exactly one). */
function row(rows: Row[], prefix: string): Row {
  const exact = rows.filter((r) => r.figure === prefix);
  const hits = exact.length > 0 ? exact : rows.filter((r) => r.figure.startsWith(prefix));
  assert.equal(hits.length, 1, `one row "${prefix}…" in ${rows.map((r) => r.figure).join(' | ')}`);
  return hits[0]!;
}

describe('the plan', () => {
  test('every bench in bench/ is planned, and all, run, lib and fixture are not benches', T, () => {
    const found = discover();
    for (const n of ['all', 'run', 'lib', 'fixture']) assert.ok(!found.includes(n), n);
    assert.ok(found.includes('matching'));
    const planned = PLAN.map((p) => p.name);
    for (const n of found) assert.ok(planned.includes(n), `${n} is not in PLAN`);
    for (const p of PLAN) assert.ok(p.deadlineS > 0 && p.quick.length > 0, p.name);
  });
});

describe('matching: ≥ 300k cmd/s, ≥ 2× nodejs-order-book, p99 ≤ 20 µs', () => {
  test('a run meeting the throughput goal and missing the other two', T, () => {
    const rows = rowsFor(
      'matching',
      ok({
        commands: 300_000,
        engineCmdPerSec: 312_000,
        engineVsNodejsOrderBook: 0.85,
        engineLatencyUs: { p50: 2.2, p99: 29 },
      }),
    );
    assert.equal(row(rows, 'engine throughput (300,000 cmds)').met, MET);
    assert.equal(row(rows, 'engine throughput (300,000 cmds)').value, '312,000 cmd/s');
    assert.equal(row(rows, 'engine / nodejs-order-book').met, NOT_MET);
    assert.equal(row(rows, 'engine / nodejs-order-book').value, '0.85×');
    assert.equal(row(rows, 'engine latency p99').met, NOT_MET);
    // A figure the bench did not return is "not measured", never met.
    assert.equal(row(rows, 'engine throughput, first').met, NO_GOAL);
    assert.equal(row(rows, 'engine throughput, first').value, NO_GOAL);
  });
});

describe('demo: npm start ≤ 10 s', () => {
  test('the median judged, the CLI start beside it; a failed run leaves the goal not measured', T, () => {
    const rows = rowsFor('demo', ok({ reps: 3, demoS: 8.6, demoRepsS: [8.6, 8.3, 9.1], cliStartS: 0.3 }));
    assert.equal(row(rows, 'npm start (the demo), median').met, MET);
    assert.equal(row(rows, 'npm start (the demo), median').value, '8.6 s');
    assert.equal(row(rows, 'the CLI starting alone').goal, NO_GOAL);
    assert.equal(row(rowsFor('demo', ok({ demoS: 12.4 })), 'npm start').met, NOT_MET);
    const failed = rowsFor('demo', { ok: false, error: 'exit 1', seconds: 1 });
    assert.equal(row(failed, 'npm start').met, 'not measured (bench failed)');
  });
});

describe('journal: durable matching mix and recovery', () => {
  const figures = {
    durableCmdPerSec: {
      none: { matching: 170_000 },
      sqlite: { matching: 160_000, quoting: 90_000 },
      'sqlite-thread': { matching: 55_000, quoting: 100_000 },
    },
    recovery: [{ store: 'sqlite', records: 201_002, fullReplayRecordsPerSec: 210_000, fullReplayMs: 957 }],
  };
  test('SQLite ≥ 150k/s judged per store; PostgreSQL missing is not measured', T, () => {
    const rows = rowsFor('journal', ok(figures));
    assert.equal(row(rows, 'durable, matching mix, SQLite,').met, NOT_MET); // the writer thread: 55k
    assert.equal(row(rows, 'durable, matching mix, SQLite').met, MET);
    assert.equal(row(rows, 'durable, matching mix, PostgreSQL').met, 'not measured');
    assert.equal(row(rows, 'durable, quoting mix, SQLite').goal, NO_GOAL);
    // The journal without a store is reported, not judged: it is what the stores are bounded by.
    assert.equal(row(rows, 'journal with no store').goal, NO_GOAL);
    assert.equal(row(rows, 'journal with no store').value, '170,000 cmd/s');
  });
  test('recovery below 1M is judged by its rate, and says so; at 1M the 5 s is judged too', T, () => {
    const small = rowsFor('journal', ok(figures));
    const r = row(small, 'recovery, full replay, SQLite (201,002 records)');
    assert.equal(r.met, MET);
    assert.match(r.goal, /judged by rate/);
    assert.ok(!small.some((x) => x.figure.includes('of 1M')));
    const big = rowsFor(
      'journal',
      ok({
        recovery: [
          { store: 'sqlite', records: 1_000_002, fullReplayRecordsPerSec: 56_000, fullReplayMs: 17_700 },
        ],
      }),
    );
    assert.equal(row(big, 'recovery, full replay, SQLite').met, NOT_MET);
    assert.equal(row(big, 'recovery, full replay of 1M, SQLite').met, NOT_MET);
    assert.equal(row(big, 'recovery, full replay, PostgreSQL').met, 'not measured');
  });
});

describe('api: WS ≥ 40k/s, HTTP ≥ 15k/s, under the raised and the default limits each', () => {
  test("each configuration judged; a closed loop's p99 is only shown", T, () => {
    const rows = rowsFor(
      'api',
      ok({
        http: { ordersPerSec: 16_000, p99Ms: 10 },
        ws: { ordersPerSec: 41_000, p99Ms: 5 },
        wsSaturated: { inFlight: 512, ordersPerSec: 43_000, p99Ms: 40 },
        defaultLimits: { http: { ordersPerSec: 2_386 }, ws: { ordersPerSec: 796, p99Ms: 3 } },
      }),
    );
    // Raised limits: the capacity goal is judged at saturation; the closed loop's rate is shown beside it.
    assert.equal(row(rows, 'WS order entry, saturated (512 in flight, raised').met, MET);
    assert.equal(row(rows, 'WS order entry, closed loop (raised').goal, NO_GOAL);
    assert.equal(row(rows, 'WS order entry (default').met, NOT_MET);
    assert.equal(row(rows, 'HTTP orders (raised').met, MET);
    assert.equal(row(rows, 'HTTP orders (default').met, NOT_MET);
    const p99 = row(rows, 'WS p99, closed loop at 41,000/s (raised');
    assert.equal(p99.value, '5 ms');
    assert.match(p99.met, /^not judged/);
    assert.equal(row(rows, 'WS p99 paced').met, 'not measured');
  });

  test('the p99 at half the rate is judged on the paced phase, at 20,000/s only', T, () => {
    const paced = (targetPerSec: number, p99Ms: number) =>
      rowsFor(
        'api',
        ok({
          http: { ordersPerSec: 3_000 },
          ws: { ordersPerSec: 12_000, p99Ms: 11 },
          wsPaced: { targetPerSec, ordersPerSec: 19_800, p99Ms },
        }),
      );
    assert.equal(row(paced(20_000, 8), 'WS p99 paced at 20,000/s (achieved 19,800/s').met, MET);
    assert.equal(row(paced(20_000, 68), 'WS p99 paced at 20,000/s').met, NOT_MET);
    assert.match(row(paced(5_000, 3), 'WS p99 paced at 5,000/s').met, /^not judged/);
  });
});

describe('simulate: 100k traders ≤ 60 s and ≤ 2 GiB', () => {
  const f = (traders: number) =>
    ok({
      traders,
      points: 38_942,
      policies: ['a', 'b'],
      wallS: 40,
      cliS: 41,
      peakRssMiB: 900,
      baselineS: 18,
    });
  test('at 10k traders neither goal is judged, the figures are shown', T, () => {
    const rows = rowsFor('simulate', f(10_000), ['--traders', '10000']);
    const wall = row(rows, 'wall with summary and report');
    assert.equal(wall.value, '41 s');
    assert.match(wall.met, /^not judged \(size/);
    assert.match(row(rows, 'peak RSS').met, /^not judged/);
    assert.equal(row(rows, 'trader-minutes per second (2 policies)').raw, (10_000 * 38_942 * 2) / 40);
  });
  test(
    "at 100k with every default policy both are judged; a chosen policy list is not the goal's run",
    T,
    () => {
      const rows = rowsFor('simulate', f(100_000), []);
      assert.equal(row(rows, 'wall with summary and report').met, MET);
      assert.equal(row(rows, 'peak RSS').met, MET);
      const some = rowsFor('simulate', f(100_000), ['--policies', 'isolated']);
      assert.match(row(some, 'peak RSS').met, /not all default policies/);
    },
  );
});

describe('no-goal figures and checks', () => {
  test('memory: every bytesPer… figure reported; none at all is not measured', T, () => {
    const rows = rowsFor('memory', ok({ positions: 1000, bytesPerPosition: 812, bytesPerRestingOrder: 301 }));
    assert.deepEqual(
      rows.map((r) => [r.figure, r.value, r.met]),
      [
        ['bytesPerPosition', '812 B', REPORTED],
        ['bytesPerRestingOrder', '301 B', REPORTED],
      ],
    );
    assert.equal(rowsFor('memory', ok({}))[0]!.met, 'not measured');
  });
  test('mark-tick: figures with goal "—"; liquidation targets at 1M not judged at 100k', T, () => {
    const mt = rowsFor(
      'mark-tick',
      ok({ positions: 200_000, markUpdateUs: { p50: 7.6, p99: 61, mean: 14.2 } }),
    );
    assert.ok(mt.every((r) => r.goal === NO_GOAL && r.met === NO_GOAL));
    assert.equal(row(mt, 'mark update p50 (200,000 positions)').value, '7.6 µs');
    const liq = rowsFor(
      'liquidation',
      ok({
        ticks: [
          { positions: 10_000, tickUs: { p50: 6.6 }, ratio: 500 },
          { positions: 100_000, tickUs: { p50: 5.8 }, ratio: 4_000 },
        ],
        growth: 0.88,
      }),
    );
    assert.equal(row(liq, 'median tick growth (100,000 vs 10,000)').met, 'not judged (size)');
    assert.equal(row(liq, 'full scan / mean tick at 100,000').met, 'not judged (size)');
  });
  test('a failed correctness check is not met', T, () => {
    assert.equal(row(rowsFor('liquidation-differential', ok({ failures: 2 })), 'disagreements').met, NOT_MET);
    assert.equal(row(rowsFor('funding', ok({ ledgerBalances: false })), 'ledger balances').met, NOT_MET);
    assert.equal(row(rowsFor('funding', ok({ ledgerBalances: true })), 'ledger balances').value, 'yes');
  });
});

describe('a failed bench, the counts and the table', () => {
  test('a failed bench: one FAILED row, its goals not measured, its other figures left out', T, () => {
    const rows = rowsFor('matching', { ok: false, error: 'timed out after 150 s (killed)', seconds: 150 });
    assert.equal(rows[0]!.met, FAILED);
    assert.equal(rows[0]!.value, 'timed out after 150 s (killed)');
    assert.equal(rows.length, 4);
    for (const r of rows.slice(1)) assert.equal(r.met, 'not measured (bench failed)');
  });
  test('an unplanned bench that ran gives one row with no goal', T, () => {
    const rows = rowsFor('newbench', ok({ a: 1, b: 2 }));
    assert.deepEqual(
      rows.map((r) => [r.bench, r.value, r.met]),
      [['newbench', '2 keys', NO_GOAL]],
    );
  });
  test(
    'counts: met, not met, and everything else with a goal is not judged; rows without a goal uncounted',
    T,
    () => {
      const rows = [
        ...rowsFor(
          'matching',
          ok({ engineCmdPerSec: 400_000, engineVsNodejsOrderBook: 1, engineLatencyUs: {} }),
        ),
        ...rowsFor('journal', { ok: false, error: 'exit code 1', seconds: 3 }),
      ];
      const s = summarize(rows, ['journal']);
      // matching: 1 met, 1 not met, p99 not measured; journal: 5 goals not measured (bench failed)
      assert.deepEqual([s.met, s.notMet, s.notJudged, s.failed], [1, 1, 6, ['journal']]);
      assert.equal(s.all.length, rows.length);
    },
  );
  test('the table: a header, a rule, one line per row, columns aligned', T, () => {
    const rows = rowsFor('matching', ok({ engineCmdPerSec: 312_000, engineVsNodejsOrderBook: 0.85 }));
    const lines = formatTable(rows).split('\n');
    assert.equal(lines.length, rows.length + 2);
    assert.match(lines[0]!, /^bench\s+figure\s+value\s+goal\s+met$/);
    // Every line's goal column starts at the same offset as the header's.
    const at = lines[0]!.indexOf('goal');
    for (const [i, r] of rows.entries())
      assert.equal(lines[i + 2]!.indexOf(r.goal, at - 1), at, lines[i + 2]);
  });
});
