/**
 * `ringfence serve --demo` as a newcomer runs it: a child process on a free port prints its URL and two keys; within
 * the deadline the API shows trades on BTCUSDT, liquidations of isolated and cross positions there, and the `demo`
 * account holding positions (read with the printed trader key, and with the operator key acting for it); SIGTERM
 * stops it with status 0 and its temp journal directory gone. The price feed loops without a jump; the flags are
 * checked before anything starts.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { signedHeaders } from '../../src/service/auth.ts';
import { DEMO_START, DemoFeed } from '../../src/service/demo-feed.ts';

interface Printed {
  url: string;
  trader: { key: string; secret: string };
  operator: { key: string; secret: string };
  journal: string;
}

function startDemo(): { proc: ChildProcess; out: () => string; printed: Promise<Printed> } {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      "import('./src/cli/main.ts').then(async (m) => { process.exitCode = await m.main(process.argv.slice(1)); })",
      'serve',
      '--demo',
      '--duration',
      '40',
      '--port',
      '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stderr!.on('data', (d) => {
    out += d;
  });
  const printed = new Promise<Printed>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner in 30 s: ${out}`)), 30_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const url = /ringfence live demo: (http:\/\/\S+)/.exec(out);
      const logins = [...out.matchAll(/open {4}(\S+)#key=([^&\s]+)&secret=(\S+)/g)];
      const journal = /journal (\S+) \(removed on exit\)/.exec(out);
      if (url && logins.length === 2 && journal) {
        clearTimeout(timer);
        const login = (i: number) => ({
          key: decodeURIComponent(logins[i]![2]!),
          secret: decodeURIComponent(logins[i]![3]!),
        });
        resolve({ url: url[1]!, trader: login(0), operator: login(1), journal: journal[1]! });
      }
    });
    proc.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`exited before its banner: ${out}`));
    });
  });
  return { proc, out: () => out, printed };
}

async function get<T>(base: string, path: string, as?: { key: string; secret: string }): Promise<T> {
  const headers = as ? signedHeaders(as.key, as.secret, 'GET', path, '') : {};
  const r = await fetch(base + path, { headers, signal: AbortSignal.timeout(5_000) });
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

function exited(proc: ChildProcess, ms: number): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no exit in ${ms} ms`)), ms);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

test('serve --demo: trades, isolated and cross liquidations on BTCUSDT and a demo account with positions within the deadline; SIGTERM exits 0 and removes its journal', {
  timeout: 90_000,
}, async () => {
  const demo = startDemo();
  try {
    const p = await demo.printed;
    assert.match(p.trader.key, /^demo-/);
    assert.match(p.operator.key, /^operator-/);
    const me = await get<{ account: string; scopes: string[] }>(p.url, '/api/v1/me', p.trader);
    assert.deepEqual([me.account, me.scopes], ['demo', ['read', 'trade']]);
    assert.equal((await get<{ admin: boolean }>(p.url, '/api/v1/me', p.operator)).admin, true);

    let trades = 0;
    const modes = new Set<string>();
    let liquidations = 0;
    let demoPositions: { symbol: string; side: string | null; marginMode: string }[] = [];
    let byOperator = 0;
    const deadline = Date.now() + 35_000;
    while (Date.now() < deadline) {
      trades = (await get<unknown[]>(p.url, '/api/v1/trades/BTCUSDT')).length;
      const liq = await get<{ mode: string }[]>(p.url, '/api/v1/liquidations/BTCUSDT?limit=500');
      liquidations = liq.length;
      for (const l of liq) modes.add(l.mode);
      demoPositions = (await get<typeof demoPositions>(p.url, '/api/v1/positions', p.trader)).filter(
        (x) => x.side !== null,
      );
      byOperator = (await get<unknown[]>(p.url, '/api/v1/positions?account=demo', p.operator)).length;
      if (trades > 0 && modes.has('isolated') && modes.has('cross') && demoPositions.length >= 2) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    assert.ok(trades > 0, 'trades on BTCUSDT');
    assert.ok(liquidations >= 1, 'a liquidation on BTCUSDT');
    assert.ok(modes.has('isolated'), `an isolated liquidation on BTCUSDT (modes seen: ${[...modes]})`);
    assert.ok(modes.has('cross'), `a cross liquidation on BTCUSDT (modes seen: ${[...modes]})`);
    assert.ok(
      demoPositions.length >= 2,
      `the demo account holds positions: ${JSON.stringify(demoPositions)}`,
    );
    assert.ok(byOperator >= 1, 'the operator key reads the demo account');

    if (demo.proc.exitCode === null) demo.proc.kill('SIGTERM');
    assert.equal(await exited(demo.proc, 20_000), 0, demo.out());
    assert.match(demo.out(), /stopped after \d+ s/);
    assert.equal(existsSync(dirname(p.journal)), false, 'the temp journal directory is removed');
  } finally {
    // A failed assertion still stops it the clean way (its directory goes with it); SIGKILL only if that hangs.
    if (demo.proc.exitCode === null && demo.proc.signalCode === null) {
      demo.proc.kill('SIGTERM');
      await exited(demo.proc, 15_000).catch(() => demo.proc.kill('SIGKILL'));
    }
  }
});

test('the replay starts at DEMO_START and loops back to it through a bridge of small steps, never a jump', {
  timeout: 30_000,
}, () => {
  const feed = new DemoFeed(1);
  const first = feed.at(0);
  assert.equal(new Date(first.time).toISOString(), DEMO_START.replace('Z', '.000Z'));
  assert.equal(feed.price(0, first.ticks[0]!), '107174');
  assert.deepEqual(
    feed.markets.map((m) => [m.config.symbol, m.synthetic]),
    [
      ['BTCUSDT', false],
      ['ETHUSDT', true],
      ['SOLUSDT', true],
    ],
  );
  const played = feed.markets[0]!.path.ticks.length - feed.start;
  let bridge = 0;
  for (let n = played - 1; n < feed.cycle; n++) {
    const a = feed.at(n);
    const b = feed.at(n + 1);
    if (b.bridge) bridge++;
    for (let k = 0; k < feed.markets.length; k++)
      assert.ok(
        Math.abs(Math.log(b.ticks[k]! / a.ticks[k]!)) < 0.0011,
        `step ${n} of ${feed.markets[k]!.config.symbol}`,
      );
  }
  assert.ok(bridge > 10, `a bridge of ${bridge} minutes`);
  assert.deepEqual(feed.at(feed.cycle), first);
});

test('serve flags: the demo options need --demo, and bad values are refused before anything starts', {
  timeout: 10_000,
}, async () => {
  const run = async (...argv: string[]) => {
    let err = '';
    const stderr = (s: string) => {
      err += s;
    };
    const code = await main(argv, { stdout: () => {}, stderr, readStdin: () => '' });
    return { code, err };
  };
  assert.deepEqual(await run('serve', '--speed', '5'), {
    code: 2,
    err: 'ringfence serve: --speed, --traders, --seed and --duration go with --demo\n',
  });
  assert.deepEqual(await run('serve', '--demo', '--speed', '0'), {
    code: 2,
    err: 'ringfence serve --demo: --speed: must be a number from 0.01 to 1000, got "0"\n',
  });
  assert.deepEqual(await run('serve', '--demo', '--traders', 'many'), {
    code: 2,
    err: 'ringfence serve --demo: --traders: must be a number from 0 to 1000, got "many"\n',
  });
  assert.equal((await run('serve', '--demo', '--config', 'x.json')).code, 2);
});
