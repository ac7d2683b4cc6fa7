/**
 * `ringfence simulate --data` input that cannot be replayed faithfully: a path that is not a readable file, and
 * prices too small for a market's tick. Each is exit 2 with one line naming the file (and the row), never an
 * internal error or a silently distorted path.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MIN_PRICE_TICKS } from '../../src/sim/path.ts';
import { prepare } from '../../src/sim/simulate.ts';
import { runCli } from '../cli/run.ts';

const cli = (args: string[]) => runCli(args);

const dir = mkdtempSync(join(tmpdir(), 'ringfence-sim-input-'));
const quick = ['--traders', '20', '--workers', '1', '--no-report'];

/** A timestamp,price file of one row a minute from 2025-01-07 00:01 UTC. */
function priceFile(name: string, prices: readonly string[]): string {
  const f = join(dir, name);
  writeFileSync(f, `timestamp,price\n${prices.map((p, i) => `${1736208060 + 60 * i},${p}`).join('\n')}\n`);
  return f;
}

describe('--data that is not a readable file', () => {
  test('a directory is exit 2 naming it, not "internal error: EISDIR"', async () => {
    const d = join(dir, 'a-directory');
    mkdirSync(d);
    const r = await cli(['simulate', '--data', d, ...quick]);
    assert.equal(r.code, 2, r.err);
    assert.equal(r.err, `ringfence simulate: cannot read ${d} (EISDIR): is a directory, not a CSV file\n`);
    assert.equal(r.out, '');
  });

  test('a path through a file is exit 2 with the reason', async () => {
    const f = join(priceFile('plain.csv', ['100', '101']), 'x.csv');
    const r = await cli(['simulate', '--data', f, ...quick]);
    assert.equal(r.code, 2, r.err);
    assert.equal(r.err, `ringfence simulate: cannot read ${f} (ENOTDIR): not a directory\n`);
  });

  test('a file without read permission (EACCES) is exit 2 naming it and why', async (t) => {
    // Root reads any file, so as root the check runs in a child process as `nobody` (uid 65534).
    const locked = priceFile('locked.csv', ['100', '101']);
    chmodSync(locked, 0o000);
    const expected = `ringfence simulate: cannot read ${locked} (EACCES): permission denied\n`;
    if (process.getuid?.() !== 0) {
      const r = await cli(['simulate', '--data', locked, ...quick]);
      assert.equal(r.code, 2, r.err);
      assert.equal(r.err, expected);
      return;
    }
    chmodSync(dir, 0o755);
    const script = join(dir, 'locked.mts');
    const entry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    writeFileSync(
      script,
      `import { main } from ${JSON.stringify(entry)};\n` +
        'let err = "";\n' +
        `const code = await main(${JSON.stringify(['simulate', '--data', locked, ...quick])}, ` +
        '{ stdout: () => {}, stderr: (s) => { err += s; }, readStdin: () => "" });\n' +
        'process.stdout.write(JSON.stringify({ code, err }));\n',
    );
    const child = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), script], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
    });
    if (child.error || child.status !== 0 || !child.stdout.startsWith('{')) {
      t.skip(
        `cannot run the check as an unprivileged user here: ${child.error ?? child.stderr.slice(0, 200)}`,
      );
      return;
    }
    assert.deepEqual(JSON.parse(child.stdout), { code: 2, err: expected });
  });
});

describe('prices too small for the tick', () => {
  test("a sub-dollar coin on BTCUSDT's 0.1 tick is refused naming the lowest row, not replayed as 0.3, 0.3, 0.2, 0.3", async () => {
    const f = priceFile('sub-dollar.csv', ['0.25', '0.26', '0.24', '0.27', '0.25', '0.26']);
    const r = await cli(['simulate', '--data', f, ...quick]);
    assert.equal(r.code, 2, r.err);
    assert.equal(
      r.err,
      `ringfence simulate: ${f}:4: lowest price 0.24 (at 2025-01-07T00:03:00.000Z) is under 1,000 ticks of the ` +
        'replayed market BTCUSDT (tick 0.1): rounded to the tick its moves would be distorted; give the prices in a ' +
        'unit where they are at least 100 (e.g. multiplied by 1,000)\n',
    );
  });

  test('only the rows used count: a low wick counts under --intrabar ohlc, and --bars cuts the file first', async () => {
    const ohlc = join(dir, 'wick.csv');
    writeFileSync(
      ohlc,
      'timestamp,open,high,low,close,volume\n1736208060,150,150,150,150,1\n1736208120,150,151,99.9,150,1\n',
    );
    let r = await cli(['simulate', '--data', ohlc, '--intrabar', 'ohlc', ...quick]);
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      /^ringfence simulate: .*wick\.csv:3: lowest price 99\.9 \(at 2025-01-07T00:02:00\.000Z\) is under/,
    );
    r = await cli(['simulate', '--data', ohlc, '--intrabar', 'close', ...quick]);
    assert.equal(r.code, 0, r.err);
    const f = priceFile('late-drop.csv', ['100', '101', '102', '50']);
    r = await cli(['simulate', '--data', f, '--bars', '3', ...quick]);
    assert.equal(r.code, 0, r.err);
    r = await cli(['simulate', '--data', f, ...quick]);
    assert.equal(r.code, 2);
    assert.match(r.err, /late-drop\.csv:5: lowest price 50 .* at least 100 \(e\.g\. multiplied by 10\)\n$/);
  });

  test('exactly 1,000 ticks (100 on BTCUSDT) is replayed exactly', () => {
    const f = priceFile('at-floor.csv', ['100', '100.1', '100.2', '100']);
    const prep = prepare({ data: f, traders: 0, seed: 1, policies: ['isolated'], intrabar: 'close' });
    assert.deepEqual([...prep.path.markets[0]!.ticks], [1000, 1001, 1002, 1000]);
    assert.equal(MIN_PRICE_TICKS, 1000);
  });

  test('a long fall drawn into a synthetic market is drawn at a larger scale, never under 1,000 of its ticks', () => {
    // BTC from 100,000 to 4,000 over 600 minutes: SOLUSDT (β 1.4 from 190, tick 0.01) would end near 2 = 200 ticks.
    const prices = Array.from({ length: 600 }, (_, i) =>
      (100_000 * 0.04 ** (i / 599) * (1 + 0.003 * Math.sin(i * 1.7))).toFixed(1),
    );
    const f = priceFile('long-fall.csv', prices);
    const prep = prepare({ data: f, traders: 50, seed: 3, policies: ['isolated'], intrabar: 'close' });
    for (const m of prep.path.markets) {
      const low = Math.min(...m.ticks);
      assert.ok(low >= MIN_PRICE_TICKS, `${m.symbol}: lowest ${low} ticks`);
    }
    const [, eth, sol] = prep.path.markets;
    assert.equal(eth!.synthetic!.startPrice, 3300, 'ETHUSDT stays above the floor at its own scale');
    assert.equal(sol!.synthetic!.startPrice, 1900, 'SOLUSDT drawn ten times larger');
    assert.equal(sol!.ticks[0], 190_000);
    // The same draws at either scale: the correlation with the data is unchanged by it.
    assert.ok(sol!.synthetic!.realizedCorrelation > 0.5, String(sol!.synthetic!.realizedCorrelation));
  });
});
