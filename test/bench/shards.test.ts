/**
 * `npm run bench -- shards` end to end at toy sizes: the shards' children start, warm up, pass the start barrier,
 * journal their commands durably and report; the harness's last line is the figures. The figures mean nothing at
 * this size: what is checked is that every part ran and the figures hang together.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { get, NO_GOAL, rowsFor } from '../../bench/all.ts';
import { runBench } from './run-bench.ts';

const bench = (args: readonly string[], ms: number) => runBench('shards', args, ms);

describe('bench shards', () => {
  test('1 and 2 shards, one rep, toy sizes: figures for each count, scaling against one', {
    timeout: 120_000,
  }, async () => {
    const args = [
      '--commands',
      '3000',
      '--warmup',
      '1000',
      '--reps',
      '1',
      '--shards',
      '1,2',
      '--accounts',
      '50',
      '--probe',
      '5000000',
    ];
    const r = await bench(args, 110_000);
    assert.equal(r.code, 0, `the bench exits 0; stderr: ${r.err.slice(-2000)}`);
    const lines = r.out.trimEnd().split('\n');
    const last = lines[lines.length - 1]!;
    assert.ok(
      last.startsWith('{"bench":"shards"'),
      `the last line is the JSON figures: ${last.slice(0, 200)}`,
    );
    const f = JSON.parse(last) as Record<string, unknown>;
    for (const n of ['1', '2']) {
      const agg = get(f, `sqlite.aggregateCmdPerSec.${n}`);
      assert.ok(typeof agg === 'number' && agg > 0, `an aggregate rate for ${n} shards: ${String(agg)}`);
    }
    assert.equal(get(f, 'sqlite.perCoreScaling.1'), 1, 'one shard scales 1× against itself');
    const machine2 = get(f, 'sqlite.machineScaling.2');
    assert.ok(typeof machine2 === 'number' && machine2 > 0, `the CPU probe ran: ${String(machine2)}`);
    // 3,000 commands of the matching mix: a few are rejected (a cancel of an order already filled), the rest durable.
    const accepted = get(f, 'sqlite.acceptedPerShard');
    assert.ok(
      typeof accepted === 'number' && accepted > 2_500 && accepted <= 3_000,
      `most commands accepted: ${accepted}`,
    );
    const rounds = get(f, 'sqlite.rounds') as { shards: number; perShard: number[] }[];
    assert.deepEqual(
      rounds.map((x) => [x.shards, x.perShard.length]),
      [
        [1, 1],
        [2, 2],
      ],
      'one round per count, a figure per shard',
    );
    const projected = get(f, 'projection.machines.4');
    assert.equal(
      projected,
      Math.round(4 * (get(f, 'projection.perShardCmdPerSec') as number)),
      'projection = rate × N',
    );
    assert.match(r.out, /projection, not a measurement/, 'the projection is labelled');

    // bench all's rows: reported, no goal.
    const rows = rowsFor('shards', { ok: true, figures: f, seconds: 1 });
    assert.deepEqual(
      rows.map((x) => [x.figure, x.goal]),
      [
        ['aggregate, 1 shard (SQLite, durable)', NO_GOAL],
        ['aggregate, 2 shards (SQLite, durable)', NO_GOAL],
        ['per-core scaling, 2 shards / 1', NO_GOAL],
        ['machine (CPU probe), 2 processes / 1', NO_GOAL],
      ],
      'bench all lists the aggregates and the scaling',
    );
  });

  test('a bad argument fails before any child starts', { timeout: 60_000 }, async () => {
    const r = await bench(['--shards', '2,3'], 50_000);
    assert.equal(r.code, 1, 'exit 1');
    assert.match(r.err, /--shards must include 1/, r.err);
  });
});
