/** Same seed and inputs → the same JSON summary, in one process or across child processes; another seed differs. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { prepare, runAll, summarize, toJson } from '../../src/sim/simulate.ts';

const OPTS = { traders: 250, policies: ['isolated', 'cross'], intrabar: 'ohlc' as const, bars: 400 };

async function summary(seed: number, workers: number): Promise<string> {
  const prep = prepare({ ...OPTS, seed });
  return toJson(summarize(prep, await runAll(prep, { workers })));
}

describe('reproducibility', () => {
  test('same seed → identical summary, run twice in one process and once on two child processes', async () => {
    const a = await summary(42, 1);
    const b = await summary(42, 1);
    const c = await summary(42, 2);
    assert.equal(a, b);
    assert.equal(a, c);
    const s = JSON.parse(a);
    assert.equal(s.policies.length, 2);
    assert.ok(s.policies[0].liquidations.events > 0, 'the run liquidates someone');
    for (const p of s.policies) assert.equal(p.conservation.ok, true, p.conservation.problems.join('; '));
  });
  test('another seed → another population and other synthetic markets', async () => {
    assert.notEqual(await summary(42, 1), await summary(43, 1));
  });
});
