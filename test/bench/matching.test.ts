/**
 * The matching bench's account of its latency tail (`latencyByFills`): commands grouped by the trades they made, the
 * cost one more trade adds, and how much of the tail past p99 is sweeps. Synthetic timings with a known answer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { latencyByFills } from '../../bench/matching.ts';

describe('bench matching: latency by trades per command', () => {
  test('2 µs a command plus 4 µs a trade: groups, 4 µs per trade, the tail is the sweeps', {
    timeout: 10_000,
  }, () => {
    // 1,000 commands: 900 without a trade, 50 with one, 30 with three, 20 with six.
    const trades: number[] = [
      ...Array(900).fill(0),
      ...Array(50).fill(1),
      ...Array(30).fill(3),
      ...Array(20).fill(6),
    ];
    const tradesOf = Uint16Array.from(trades);
    const lat = Float64Array.from(trades, (t) => 2_000 + 4_000 * t);
    // Past p99 (10 commands): only six-trade ones are that slow.
    const r = latencyByFills(lat, tradesOf, 25_000);
    assert.deepEqual(r.groups, [
      { trades: '0', sharePct: 90, meanUs: 2 },
      { trades: '1', sharePct: 5, meanUs: 6 },
      { trades: '2-4', sharePct: 3, meanUs: 14 },
      { trades: '5+', sharePct: 2, meanUs: 26 },
    ]);
    assert.equal(r.perTradeUs, 4);
    assert.equal(r.tailFivePlusPct, 100);
  });

  test('a stream without trades: one group, no per-trade figure (NaN), no tail of sweeps', {
    timeout: 10_000,
  }, () => {
    const r = latencyByFills(Float64Array.from([1_000, 2_000, 50_000]), new Uint16Array(3), 10_000);
    assert.deepEqual(r.groups, [{ trades: '0', sharePct: 100, meanUs: 17.67 }]);
    assert.ok(Number.isNaN(r.perTradeUs));
    assert.equal(r.tailFivePlusPct, 0);
  });
});
