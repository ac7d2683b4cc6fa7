/**
 * `ringfence serve --role router` as a real process: it loads the `router` section of its config, listens, answers
 * its health and `/api/v1/shards` (a shard that is not up is reported, not fatal), and exits 0 on SIGTERM; a bad
 * config is refused with status 2 and the path of the problem.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { spawnCli } from './ha-kit.ts';
import { tempDir } from './helpers.ts';

const T = { timeout: 60_000 };

const run = (args: string[]): ChildProcess => spawnCli(args);

function exited(p: ChildProcess, ms: number): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no exit in ${ms} ms`)), ms);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('ringfence serve --role router', () => {
  const td = tempDir();
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    td.cleanup();
  });

  test('listens, reports its shards, exits 0 on SIGTERM', T, async () => {
    const file = join(td.dir, 'router.json');
    writeFileSync(
      file,
      JSON.stringify({
        router: {
          port: 0,
          logLevel: 'info',
          shards: [{ name: 'btc', urls: ['http://127.0.0.1:1'], markets: ['BTC*'] }],
          key: { key: 'router-key-1', secret: 'router-secret-0123456789abcdef0123456789' },
          requestTimeoutMs: 1_000,
        },
      }),
      { mode: 0o600 },
    );
    const p = run(['serve', '--role', 'router', '--config', file]);
    children.push(p);
    let out = '';
    p.stderr!.on('data', (d) => {
      out += d;
    });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line in 30 s: ${out}`)), 30_000);
      p.stdout!.on('data', (d) => {
        out += d;
        const m = /"url":"(http:\/\/[^"]+)"[^\n]*"listening"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      p.once('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) });
    assert.deepEqual(
      [health.status, ((await health.json()) as { role: string }).role],
      [200, 'router'],
      'the router’s own health',
    );
    const shards = (await (
      await fetch(`${url}/api/v1/shards`, { signal: AbortSignal.timeout(5_000) })
    ).json()) as {
      name: string;
      status: string;
    }[];
    assert.deepEqual(
      shards.map((s) => [s.name, s.status]),
      [['btc', 'unavailable']],
      'a shard that is not up is reported',
    );
    const order = await fetch(`${url}/api/v1/orderbook/BTCUSDT`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(order.status, 503, 'its markets answer 503 SHARD_UNAVAILABLE');
    p.kill('SIGTERM');
    assert.equal(await exited(p, 10_000), 0, `exit status 0 on SIGTERM: ${out}`);
  });

  test('a bad config: status 2, the problem named', T, async () => {
    const file = join(td.dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        router: {
          shards: [
            { name: 'btc', urls: ['http://127.0.0.1:1'], markets: ['BTC*'] },
            { name: 'perp', urls: ['http://127.0.0.1:2'], markets: ['BTCUSDT'] },
          ],
          key: { key: 'router-key-1', secret: 'router-secret-0123456789abcdef0123456789' },
        },
      }),
    );
    const p = run(['serve', '--role', 'router', '--config', file]);
    children.push(p);
    let err = '';
    p.stderr!.on('data', (d) => {
      err += d;
    });
    assert.equal(await exited(p, 30_000), 2, 'status 2');
    assert.match(err, /BTCUSDT overlaps BTC\* of shard btc/, `the overlap named: ${err}`);
  });
});
