/** The three price-file shapes, detection, and bad rows → one error naming the file and line. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CsvError, parsePriceCsv } from '../../src/sim/csv.ts';

/** A decimal string at 8 dp (test helper: "96000.1" → 9600010000000n). */
const px = (s: string) => {
  const [i, f = ''] = s.split('.');
  return BigInt(i!) * 10n ** 8n + BigInt(f.padEnd(8, '0'));
};

function fails(text: string, re: RegExp, format: Parameters<typeof parsePriceCsv>[2] = 'auto'): void {
  assert.throws(
    () => parsePriceCsv(text, 'prices.csv', format),
    (e: unknown) => {
      assert.ok(e instanceof CsvError, String(e));
      assert.match(e.message, re);
      return true;
    },
  );
}

describe('bitstamp: timestamp,open,high,low,close,volume (Unix seconds)', () => {
  const text =
    'timestamp,open,high,low,close,volume\n1736208060,102228,102228,102228,102228,0.00114705\n1736208120,102214,102225,102213.5,102215,0.4\n';
  test('parses exactly, time in ms', () => {
    const s = parsePriceCsv(text, 'b.csv');
    assert.equal(s.format, 'bitstamp');
    assert.equal(s.bars.length, 2);
    assert.deepEqual(s.bars[1], {
      time: 1736208120_000,
      open: px('102214'),
      high: px('102225'),
      low: px('102213.5'),
      close: px('102215'),
    });
  });
  test('CRLF line ends and blank lines are fine; columns found by name', () => {
    const s = parsePriceCsv('volume,timestamp,close,low,high,open\r\n\r\n1,1736208060,5,4,6,5\r\n', 'b.csv');
    assert.deepEqual(s.bars[0], {
      time: 1736208060_000,
      open: px('5'),
      high: px('6'),
      low: px('4'),
      close: px('5'),
    });
  });
  test('the embedded file: 38,942 rows, no gaps', async () => {
    const { readFileSync } = await import('node:fs');
    const s = parsePriceCsv(
      readFileSync(new URL('../../data/btcusd-bitstamp-1m-2025-01.csv', import.meta.url), 'utf8'),
      'x',
    );
    assert.equal(s.bars.length, 38_942);
    for (let i = 1; i < s.bars.length; i++) assert.equal(s.bars[i]!.time - s.bars[i - 1]!.time, 60_000);
  });
});

describe('binance kline CSV', () => {
  const row = (t: string, c = '96000.10000000') =>
    `${t},96000.00000000,96100.00000000,95900.00000000,${c},12.5,${Number(t) + 59999},1200000.0,100,6.2,600000.0,0`;
  test('headerless, open time in ms', () => {
    const s = parsePriceCsv(`${row('1735689600000')}\n${row('1735689660000', '96050')}\n`, 'k.csv');
    assert.equal(s.format, 'binance');
    assert.equal(s.bars[0]!.time, 1735689600000);
    assert.equal(s.bars[0]!.close, px('96000.1'));
    assert.equal(s.bars[1]!.close, px('96050'));
  });
  test('with the header, open time in µs (2025+ spot files)', () => {
    const h =
      'open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore';
    const s = parsePriceCsv(`${h}\n${row('1735689600000000')}\n`, 'k.csv');
    assert.equal(s.format, 'binance');
    assert.equal(s.bars[0]!.time, 1735689600000);
  });
  test('a short row names its line', () => {
    fails(`${row('1735689600000')}\n1735689660000,1,2\n`, /^prices\.csv:2: expected 12 columns, found 3$/);
  });
});

describe('plain timestamp,price', () => {
  test('seconds, milliseconds and ISO-8601, header optional', () => {
    for (const [text, t] of [
      ['timestamp,price\n1736208060,100.5\n1736208120,101\n', 1736208060_000],
      ['1736208060000,100.5\n1736208120000,101\n', 1736208060_000],
      ['time,price\n2025-01-07T00:01:00Z,100.5\n2025-01-07 00:02:00,101\n', Date.UTC(2025, 0, 7, 0, 1)],
    ] as const) {
      const s = parsePriceCsv(text, 'p.csv');
      assert.equal(s.format, 'price');
      assert.equal(s.bars[0]!.time, t);
      assert.equal(s.bars[0]!.open, px('100.5'));
      assert.equal(s.bars[0]!.close, px('100.5'));
      assert.equal(s.bars[1]!.close, px('101'));
    }
  });
  test('a headerless first row written with an exponent is data, refused by name, not skipped as a header', () => {
    // It used to be taken for a header and skipped, leaving one row ("needs at least 2 rows").
    fails(
      '1700000000,1e3\n1700000060,1000\n1700000120,1001\n',
      /^prices\.csv:1: price: "1e3" is not a plain decimal \(digits, optional '\.', no exponent\)$/,
    );
    fails('1.7e9,1000\n1700000060,1000\n', /^prices\.csv:1: timestamp: "1\.7e9" is not a Unix time/);
    // A first row of plain numbers is still data, and a header with letters still a header.
    assert.equal(parsePriceCsv('1700000000,1000\n1700000060,1001\n', 'p.csv').bars.length, 2);
    assert.equal(parsePriceCsv('time,price\n1700000000,1000\n', 'p.csv').bars.length, 1);
  });
  test('each bar carries its line in the file (blank lines and the header counted)', () => {
    const s = parsePriceCsv('timestamp,price\n\n1736208060,100\n1736208120,101\n', 'p.csv');
    assert.deepEqual(s.lines, [3, 4]);
  });
  test('--format overrides detection', () => {
    fails('timestamp,price\n1736208060,1\n', /a Binance kline row has 12 columns/, 'binance');
    assert.equal(parsePriceCsv('1736208060,1\n', 'p.csv', 'price').bars.length, 1);
  });
});

describe('bad rows name the file and line', () => {
  const h = 'timestamp,open,high,low,close,volume\n';
  test('a price that is not a decimal', () => {
    fails(
      `${h}1736208060,1,1,1,1,0\n1736208120,1,abc,1,1,0\n`,
      /^prices\.csv:3: high: "abc" is not a plain decimal/,
    );
  });
  test('negative, zero, exponent, too many decimals', () => {
    fails(`${h}1736208060,1,1,-1,1,0\n`, /^prices\.csv:2: low: must not be negative/);
    fails('timestamp,price\n1736208060,0\n', /^prices\.csv:2: price: must be greater than zero/);
    fails('timestamp,price\n1736208060,1e5\n', /^prices\.csv:2: price: "1e5" is not a plain decimal/);
    fails(
      'timestamp,price\n1736208060,1.000000001\n',
      /^prices\.csv:2: price: has more than 8 decimal places/,
    );
  });
  test('timestamps must increase', () => {
    fails(
      `${h}1736208060,1,1,1,1,0\n\n1736208060,1,1,1,1,0\n`,
      /^prices\.csv:4: timestamp 1736208060 is not after the previous row's \(line 2\)$/,
    );
  });
  test('a bad timestamp', () => {
    fails('timestamp,price\nyesterday,1\n', /^prices\.csv:2: timestamp: "yesterday" is not a Unix time/);
    fails(`${h}1736208060000,1,1,1,1,0\n`, /^prices\.csv:2: timestamp 1736208060000 is not in Unix seconds$/);
    fails('timestamp,price\n12,1\n', /^prices\.csv:2: timestamp 12 is before 2000-01-01$/);
  });
  test('an ISO date outside the numeric range names its line (before 1970 it read as "not after line 0")', () => {
    fails(
      'time,price\n1969-12-31T00:00:00Z,1\n',
      /^prices\.csv:2: timestamp 1969-12-31T00:00:00Z is before 2000-01-01$/,
    );
    fails(
      'time,price\n1999-12-31 23:59,1\n2000-01-01 00:00,1\n',
      /^prices\.csv:2: timestamp 1999-12-31 23:59 is before 2000-01-01$/,
    );
    fails(
      'time,price\n2025-01-07T00:01:00Z,1\n9999-01-01T00:00:00Z,1\n',
      /^prices\.csv:3: timestamp 9999-01-01T00:00:00Z is after 5138-11-16$/,
    );
    assert.equal(
      parsePriceCsv('time,price\n2000-01-01T00:00:00Z,1\n', 'p.csv').bars[0]!.time,
      946_684_800_000,
    );
  });
  test('low/high must bracket open and close', () => {
    fails(`${h}1736208060,10,12,11,10.5,0\n`, /^prices\.csv:2: low\/high do not bracket open and close$/);
  });
  test('wrong column count, unknown shape, empty file', () => {
    fails(`${h}1736208060,1,1,1,1\n`, /^prices\.csv:2: expected 6 columns, found 5$/);
    fails('a,b,c\n1,2,3\n', /^prices\.csv:1: cannot tell the format from the header "a,b,c"; pass --format$/);
    fails(
      '1,2,3\n',
      /^prices\.csv:1: cannot tell the format of a 3-column row without a header; pass --format$/,
    );
    fails('\n\n', /^prices\.csv: no price rows$/);
    fails(h, /^prices\.csv: no price rows$/);
  });
});
