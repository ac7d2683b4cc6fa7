/**
 * core/utc.ts against JavaScript's Date (the reference here, never in core): the calendar fields and the ISO string
 * of random instants across Date's range, and the edges — the epoch, leap days, century years, negative years.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isoUtc, utcParts } from '../../src/core/utc.ts';

const MAX = 8.64e15; // Date's range: ±100,000,000 days

function expected(ms: number) {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    millisecond: d.getUTCMilliseconds(),
  };
}

describe('UTC calendar arithmetic without Date', () => {
  test('fields and ISO string equal Date’s on random instants', { timeout: 30_000 }, () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX, max: MAX }), (ms) => {
        assert.deepEqual(utcParts(ms), expected(ms), `fields of ${ms}`);
        assert.equal(isoUtc(ms), new Date(ms).toISOString().replace('.000Z', 'Z'), `ISO of ${ms}`);
      }),
      { numRuns: 20_000, includeErrorInReport: true },
    );
  });

  test('edges: the epoch, leap days, century years, before year 0', { timeout: 10_000 }, () => {
    for (const iso of [
      '1970-01-01T00:00:00Z',
      '1969-12-31T23:59:59.999Z',
      '2000-02-29T12:00:00Z',
      '1900-02-28T23:59:59Z',
      '1900-03-01T00:00:00Z',
      '2100-02-28T00:00:00Z',
      '2024-02-29T00:00:00Z',
      '2026-12-25T08:00:00Z',
      '0000-03-01T00:00:00Z',
      '-000001-12-31T23:59:59Z',
    ]) {
      const ms = Date.parse(iso);
      assert.deepEqual(utcParts(ms), expected(ms), iso);
      assert.equal(isoUtc(ms), new Date(ms).toISOString().replace('.000Z', 'Z'), iso);
    }
  });
});
