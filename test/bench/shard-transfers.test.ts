/**
 * `npm run bench -- shard-transfers` end to end at toy size: two shard processes and a router start, transfers go
 * through the router and settle, the children are stopped, and the last line is the figures (meaningless at this
 * size: what is checked is that every part ran).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runBench } from './run-bench.ts';

describe('bench shard-transfers', () => {
  test('10 transfers after 2 of warm-up through a router: each settled, latency figures printed', {
    timeout: 150_000,
  }, async () => {
    const r = await runBench('shard-transfers', ['--transfers', '10', '--warmup', '2'], 140_000);
    assert.equal(
      r.code,
      0,
      `the bench exits 0; stderr: ${r.err.slice(-2000)}; stdout: ${r.out.slice(-2000)}`,
    );
    const last = r.out.trimEnd().split('\n').pop()!;
    assert.ok(
      last.startsWith('{"bench":"shard-transfers"'),
      `the last line is the JSON figures: ${last.slice(0, 200)}`,
    );
    const f = JSON.parse(last) as Record<string, number>;
    assert.equal(f.transfers, 10, 'ten timed transfers');
    for (const k of ['transferP50Ms', 'transferP99Ms', 'orderP50Ms', 'firstTransferMs'])
      assert.ok(typeof f[k] === 'number' && f[k] > 0, `${k} is a positive figure: ${f[k]}`);
  });
});
