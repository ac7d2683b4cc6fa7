/**
 * Cross-shard transfer latency (issue 25), end to end through the product's own processes: two shards (`btc`, `eth`:
 * `ringfence serve` with a `shard` section, each on its own durable journal — SQLite with fsync, or a JetStream
 * stream) and a router (`ringfence serve --role router`), all children. A client signs `POST /api/v1/transfers` to the
 * router, 100 USDT each time, alternating btc → eth and eth → btc, one at a time, and times the answer: the hold on
 * the source, the credit on the target and the settle on the source — three durable commits and four HTTP hops —
 * `settled` each time (checked).
 *
 * Baseline in the same run, same client and router: a signed IOC order through the router (one durable commit on one
 * shard), interleaved with the transfers so both see the same machine. The first `--warmup` of each are reported
 * apart (first-call costs: connections, JIT) and left out of the steady-state figures.
 *
 *   npm run bench -- shard-transfers [--transfers 400] [--warmup 50] [--store sqlite|jetstream]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signedHeaders } from '../src/service/auth.ts';
import { ETHUSDT } from '../test/engine/harness.ts';
import {
  deleteJournalStream,
  natsMissing,
  singleServer,
  uniqueStream,
} from '../test/journal/nats-cluster.ts';
import {
  call,
  health,
  type Serve,
  startCli,
  startServe,
  stopServe,
  waitFor,
  writeConfig,
} from '../test/service/ha-kit.ts';
import { BTCUSDT, KEYS, nextTs } from '../test/service/helpers.ts';
import { checkArgs, fmtInt, intArg, parseArgs, round, say, summarize } from './lib.ts';

const SHARDS = [
  { name: 'btc', markets: ['BTC*'], market: BTCUSDT },
  { name: 'eth', markets: ['ETH*'], market: ETHUSDT },
] as const;

async function signed(
  base: string,
  method: string,
  path: string,
  body: object,
): Promise<Record<string, unknown>> {
  const text = JSON.stringify(body);
  const r = await fetch(base + path, {
    method,
    headers: {
      'content-type': 'application/json',
      ...signedHeaders(KEYS.alice.key, KEYS.alice.secret, method, path, text, nextTs()),
    },
    body: text,
    signal: AbortSignal.timeout(15_000),
  });
  const json = (await r.json()) as Record<string, unknown>;
  if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(json)}`);
  return json;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, ['transfers', 'warmup', 'store']);
  const n = Math.max(1, intArg(a, 'transfers', 400));
  const warmup = Math.max(1, intArg(a, 'warmup', 50));
  const store = a.get('store') ?? 'sqlite';
  if (store !== 'sqlite' && store !== 'jetstream') throw new Error('--store: sqlite or jetstream');
  if (store === 'jetstream' && natsMissing() !== null) throw new Error(`--store jetstream: ${natsMissing()}`);
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-shard-transfers-'));
  const procs: Serve[] = [];
  const streams: string[] = [];
  const servers = store === 'jetstream' ? await singleServer() : '';
  try {
    const urls: Record<string, string> = {};
    for (const s of SHARDS) {
      const own = join(dir, s.name);
      mkdirSync(own);
      const config = writeConfig(own, {
        keys: [KEYS.admin, KEYS.alice],
        shard: { name: s.name, markets: s.markets },
        // The router is every client's address here: per-IP limits would count the router.
        publicRateLimit: { burst: 1_000_000, perSecond: 1_000_000 },
        http: { maxConnectionsPerIp: 0 },
        journal: { hashEvery: 100_000, snapshotEvery: 100_000 },
      });
      let journal = join(own, 'journal.db');
      if (store === 'jetstream') {
        const stream = uniqueStream(`rfbench_${s.name}`);
        streams.push(stream);
        journal = `nats://${servers}/${stream}`;
      }
      const p = await startServe(s.name, config, journal, 'leader');
      procs.push(p);
      // On a JetStream journal a leader listens first, then takes the lease.
      await waitFor(async () => (await health(p.url))?.role === 'leader', 30_000, `${s.name} to lead`, p);
      urls[s.name] = p.url;
      for (const [path, body] of [
        ['/api/v1/admin/markets', s.market],
        ['/api/v1/admin/mark-price', { symbol: s.market.symbol, price: s.name === 'btc' ? '20000' : '1500' }],
        ['/api/v1/admin/deposit', { account: 'alice', asset: 'USDT', amount: '1000000' }],
      ] as const) {
        const r = await call(p.url, 'POST', path, body);
        if (r.status !== 200) throw new Error(`${s.name} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
      }
    }
    const routerFile = join(dir, 'router.json');
    writeFileSync(
      routerFile,
      JSON.stringify({
        router: {
          host: '127.0.0.1',
          shards: SHARDS.map((s) => ({ name: s.name, urls: [urls[s.name]], markets: s.markets })),
          key: { key: KEYS.admin.key, secret: KEYS.admin.secret },
          requestTimeoutMs: 10_000,
        },
      }),
      { mode: 0o600 },
    );
    const router = await startCli('router', [
      'serve',
      '--role',
      'router',
      '--config',
      routerFile,
      '--port',
      '0',
    ]);
    procs.push(router);
    say(`store ${store}: shards btc ${urls.btc}, eth ${urls.eth}; router ${router.url}`);

    const transferMs: number[] = [];
    const orderMs: number[] = [];
    for (let i = 0; i < warmup + n; i++) {
      const [from, to] = i % 2 === 0 ? ['btc', 'eth'] : ['eth', 'btc'];
      let t0 = performance.now();
      const t = await signed(router.url, 'POST', '/api/v1/transfers', {
        transferId: `bench-${process.pid}-${i}`,
        fromShard: from,
        toShard: to,
        asset: 'USDT',
        amount: '100',
      });
      transferMs.push(performance.now() - t0);
      if (t.status !== 'settled') throw new Error(`transfer ${i}: ${JSON.stringify(t)}`);
      t0 = performance.now();
      // One durable write on one shard through the same router: an IOC bid far below the book (nothing to match).
      await signed(router.url, 'POST', '/api/v1/orders', {
        symbol: SHARDS[i % 2]!.market.symbol,
        side: 'buy',
        type: 'limit',
        price: i % 2 === 0 ? '10000' : '1000',
        amount: i % 2 === 0 ? '0.001' : '0.01',
        timeInForce: 'IOC',
      });
      orderMs.push(performance.now() - t0);
    }
    const steady = summarize(transferMs.slice(warmup));
    const base = summarize(orderMs.slice(warmup));
    const first = summarize(transferMs.slice(0, warmup));
    say(
      `transfers through the router, ${fmtInt(n)} after ${warmup} of warm-up: p50 ${round(steady.p50, 2)} ms, ` +
        `p99 ${round(steady.p99, 2)} ms, mean ${round(steady.mean, 2)} ms, max ${round(steady.max, 2)} ms`,
    );
    say(
      `  baseline, a signed IOC order through the router (one durable write): p50 ${round(base.p50, 2)} ms, ` +
        `p99 ${round(base.p99, 2)} ms; a transfer = ${round(steady.p50 / base.p50, 2)}× at p50`,
    );
    say(
      `  warm-up (first ${warmup} transfers): mean ${round(first.mean, 2)} ms, first ${round(transferMs[0]!, 1)} ms`,
    );
    return {
      store,
      transfers: n,
      warmup,
      transferP50Ms: round(steady.p50, 2),
      transferP99Ms: round(steady.p99, 2),
      transferMeanMs: round(steady.mean, 2),
      transferMaxMs: round(steady.max, 2),
      orderP50Ms: round(base.p50, 2),
      orderP99Ms: round(base.p99, 2),
      warmupMeanMs: round(first.mean, 2),
      firstTransferMs: round(transferMs[0]!, 2),
    };
  } finally {
    for (const p of procs.reverse()) await stopServe(p, 'SIGTERM', 10_000).catch(() => {});
    for (const s of streams) await deleteJournalStream(servers, s).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
