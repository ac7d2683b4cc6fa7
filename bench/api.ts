/**
 * The service's order entry on loopback, journal on (SQLite, WAL, synchronous=FULL), against the same orders
 * submitted straight to the journal in the same run.
 *
 *   npm run bench -- api [--orders 20000] [--connections 32] [--ws-clients 16] [--window 4] [--accounts 32]
 *                        [--warmup 2000] [--dir <dir>]
 *
 * The service (fastify, the journal, the engine) runs in a worker thread, so the load generator on the main thread
 * does not share its event loop. Every order is a signed request (HMAC-SHA256, unique timestamp/clientOrderId), a
 * 0.001 BTC limit at 60,000: sellers and buyers alternate, so every other order fills against a resting one and
 * the book stays one level deep; each acknowledgement means the order's command is durably committed.
 *
 * 1. HTTP: autocannon, `--connections` keep-alive connections, one request in flight each: POST /api/v1/orders.
 * 2. WebSocket: `--ws-clients` logged-in clients (one account each), `--window` orders in flight each, op
 *    `order.place`; latency from send to response.
 * 3. Baseline: the same orders, through `Journal.submit` on a fresh SQLite journal in this thread, with as many
 *    concurrent submitters as HTTP connections (no HTTP, no JSON, no signatures). Also the engine alone (no journal).
 *
 * Figures: orders/s, p50/p99 latency (ms), and the ratios of each to the baseline. On a 2-core machine the load
 * generator and the service compete for the CPU, so the HTTP and WebSocket figures are a floor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import autocannon from 'autocannon';
import WebSocket from 'ws';
import { Engine } from '../src/engine/engine.ts';
import type { Command } from '../src/engine/types.ts';
import { Journal } from '../src/journal/journal.ts';
import { SqliteJournalStore } from '../src/journal/sqlite.ts';
import { sign } from '../src/service/auth.ts';
import { defaultConfig, type KeyConfig } from '../src/service/config.ts';
import type { CommandInput } from '../src/service/service.ts';
import { BENCH_MARKET } from './fixture.ts';
import { checkArgs, fmtInt, intArg, parseArgs, perSecond, round, say, summarize, tsWorker } from './lib.ts';

const SYMBOL = 'BTCUSDT';
const PATH = '/api/v1/orders';

interface Setup {
  dir: string;
  accounts: number;
  writerThread: boolean;
}

const accountName = (a: number) => `t${a}`;
const keyOf = (a: number): KeyConfig => ({
  key: `bench-key-${a}`,
  secret: `bench-secret-${a}-0123456789abcdef0123456789`,
  account: accountName(a),
  scopes: ['read', 'trade'],
  rateLimit: { burst: 1_000_000, perSecond: 1_000_000 },
});

/** Order i: even i sell, odd i buy; sellers are the first half of the accounts, buyers the second. */
function orderOf(i: number, accounts: number): { account: number; side: 'buy' | 'sell' } {
  const half = accounts / 2;
  const buy = i % 2 === 1;
  return { account: ((i >> 1) % half) + (buy ? half : 0), side: buy ? 'buy' : 'sell' };
}

function setupCommands(accounts: number): CommandInput[] {
  const out: CommandInput[] = [
    { type: 'createMarket', market: BENCH_MARKET },
    { type: 'setMarkPrice', symbol: SYMBOL, price: '60000' },
  ];
  for (let a = 0; a < accounts; a++)
    out.push({ type: 'deposit', account: accountName(a), asset: 'USDT', amount: '100000000' });
  return out;
}

function orderCommand(i: number, accounts: number, tag: string): CommandInput {
  const o = orderOf(i, accounts);
  return {
    type: 'placeOrder',
    account: accountName(o.account),
    symbol: SYMBOL,
    side: o.side,
    orderType: 'limit',
    price: '60000',
    size: '0.001',
    clientOrderId: `${tag}${i}`,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The service, in a worker thread

async function serverWorker(): Promise<void> {
  const { startServer } = await import('../src/service/serve.ts');
  const s = workerData as Setup;
  const keys = Array.from({ length: s.accounts }, (_, a) => keyOf(a));
  const cfg = {
    ...defaultConfig(),
    host: '127.0.0.1',
    port: 0,
    dataDir: s.dir,
    journalUrl: join(s.dir, 'service.db'),
    logLevel: 'silent' as const,
    keys,
    docs: false,
    rateLimit: { burst: 1_000_000, perSecond: 1_000_000 },
    publicRateLimit: { burst: 1_000_000, perSecond: 1_000_000 },
    // Every bench client connects from 127.0.0.1: lift the per-address caps (issue 15) for the load generator.
    ws: {
      ...defaultConfig().ws,
      maxClients: 10_000,
      maxClientsPerIp: 10_000,
      maxBufferedBytes: 64 * 1024 * 1024,
    },
    http: { ...defaultConfig().http, maxConnectionsPerIp: 0 },
  };
  const run = await startServer(cfg, { writerThread: s.writerThread });
  for (const c of setupCommands(s.accounts)) {
    const r = await run.service.submit(c);
    if (!r.ok) throw new Error(`setup: ${c.type} ${r.code} ${r.message}`);
  }
  parentPort!.postMessage({ url: run.url });
  parentPort!.on('message', async (m: string) => {
    if (m === 'stats') {
      const { commits, records } = run.service.journal.stats;
      parentPort!.postMessage({ commits, records });
      return;
    }
    if (m !== 'stop') return;
    const seq = run.service.engine.seq;
    const stats = run.service.journal.stats;
    const resting = run.service.engine.markets.get(SYMBOL)!.book.orderCount();
    await run.close();
    parentPort!.postMessage({
      seq,
      commits: stats.commits,
      records: stats.records,
      largestBatch: stats.largestBatch,
      resting,
    });
  });
}

if (!isMainThread && (workerData as Setup | undefined)?.dir) void serverWorker();

// ---------------------------------------------------------------------------------------------------------
// Load generators

interface Figures {
  orders: number;
  ordersPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

async function httpPhase(
  url: string,
  n: number,
  connections: number,
  accounts: number,
  start: number,
): Promise<Figures> {
  let i = start;
  let firstError = '';
  const result = await autocannon({
    url,
    connections,
    pipelining: 1,
    amount: n,
    requests: [
      {
        method: 'POST',
        path: PATH,
        setupRequest: (req) => {
          const k = i++;
          const o = orderOf(k, accounts);
          const body = JSON.stringify({
            symbol: SYMBOL,
            side: o.side,
            type: 'limit',
            price: '60000',
            amount: '0.001',
            clientOrderId: `h${k}`,
          });
          // The clock as is: the unique clientOrderId already makes every signature unique (bumping the timestamp
          // by 1 ms per request instead would drift past the receive window above 1,000 requests/s).
          const ts = Date.now();
          const key = keyOf(o.account);
          return {
            ...req,
            method: 'POST',
            path: PATH,
            body,
            headers: {
              'content-type': 'application/json',
              'x-rf-key': key.key,
              'x-rf-timestamp': String(ts),
              'x-rf-signature': sign(key.secret, ts, 'POST', PATH, body),
            },
          };
        },
        onResponse: (status, body) => {
          if (status !== 200 && firstError === '') firstError = `${status} ${body}`;
        },
      },
    ],
  });
  const done = result['2xx'];
  if (result.non2xx > 0)
    say(`HTTP non-2xx by status: ${JSON.stringify(result.statusCodeStats)} (first: ${firstError})`);
  return {
    orders: done,
    ordersPerSec: done / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

async function wsPhase(
  url: string,
  n: number,
  clients: number,
  window: number,
  accounts: number,
): Promise<Figures> {
  const wsUrl = `${url.replace('http', 'ws')}/ws`;
  const sockets = await Promise.all(
    Array.from({ length: clients }, (_, c) => {
      // Client c is one account: the first half sell, the second half buy (as orderOf splits them).
      const half = clients / 2;
      const account = c < half ? c % (accounts / 2) : accounts / 2 + ((c - half) % (accounts / 2));
      return new Promise<{ ws: WebSocket; account: number }>((resolve, reject) => {
        const ws = new WebSocket(wsUrl);
        ws.once('error', reject);
        ws.once('open', () => {
          const key = keyOf(account);
          const ts = Date.now() + c;
          ws.send(
            JSON.stringify({
              op: 'login',
              id: 0,
              args: { key: key.key, timestamp: ts, signature: sign(key.secret, ts, 'GET', '/ws') },
            }),
          );
          ws.once('message', (d) => {
            const m = JSON.parse(d.toString()) as { success: boolean };
            if (!m.success) reject(new Error(`login failed: ${d.toString()}`));
            else resolve({ ws, account });
          });
        });
      });
    }),
  );
  const perClient = Math.floor(n / clients);
  const latencies = new Float64Array(perClient * clients);
  let done = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    sockets.map(({ ws, account }, c) => {
      const side = account < accounts / 2 ? 'sell' : 'buy';
      const sent = new Map<number, bigint>();
      let next = 0;
      return new Promise<void>((resolve) => {
        const send = () => {
          const id = next++;
          sent.set(id, process.hrtime.bigint());
          ws.send(
            JSON.stringify({
              op: 'order.place',
              id,
              args: {
                symbol: SYMBOL,
                side,
                type: 'limit',
                price: '60000',
                amount: '0.001',
                clientOrderId: `w${c}-${id}`,
              },
            }),
          );
        };
        ws.on('message', (d) => {
          const m = JSON.parse(d.toString()) as { id?: number; success: boolean };
          if (typeof m.id !== 'number' || !sent.has(m.id)) return;
          latencies[done++] = Number(process.hrtime.bigint() - sent.get(m.id)!) / 1e6;
          sent.delete(m.id);
          if (!m.success) errors += 1;
          if (next < perClient) send();
          else if (sent.size === 0) resolve();
        });
        for (let w = 0; w < window && next < perClient; w++) send();
      });
    }),
  );
  const ns = Number(process.hrtime.bigint() - t0);
  for (const { ws } of sockets) ws.close();
  const s = summarize(latencies.subarray(0, done));
  return { orders: done, ordersPerSec: perSecond(done, ns), p50Ms: s.p50, p99Ms: s.p99, errors };
}

/** The same orders through `Journal.submit` (SQLite, group commit), `concurrency` submitters awaiting each. */
async function baselinePhase(
  dir: string,
  n: number,
  concurrency: number,
  accounts: number,
): Promise<Figures> {
  const store = new SqliteJournalStore(join(dir, 'baseline.db'));
  const { journal } = await Journal.open(store);
  let time = Date.now();
  const stamp = (c: CommandInput): Command => ({ ...c, time: time++ }) as Command;
  for (const c of setupCommands(accounts)) {
    const r = await journal.submit(stamp(c));
    if (!r.ok) throw new Error(`baseline setup: ${r.code}`);
  }
  const latencies = new Float64Array(n);
  let next = 0;
  let done = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const s = process.hrtime.bigint();
        const r = await journal.submit(stamp(orderCommand(i, accounts, 'b')));
        latencies[done++] = Number(process.hrtime.bigint() - s) / 1e6;
        if (!r.ok) errors += 1;
      }
    }),
  );
  const ns = Number(process.hrtime.bigint() - t0);
  await journal.close();
  const s = summarize(latencies.subarray(0, done));
  return { orders: done, ordersPerSec: perSecond(done, ns), p50Ms: s.p50, p99Ms: s.p99, errors };
}

/** The engine alone on the same orders (no journal, no I/O): the ceiling. */
function engineOnly(n: number, accounts: number): number {
  const e = new Engine();
  let time = 1;
  for (const c of setupCommands(accounts)) e.apply({ ...c, time } as Command);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = e.apply({ ...orderCommand(i, accounts, 'e'), time: ++time } as Command);
    if (!r.ok) throw new Error(`engine: ${r.code} ${r.message}`);
  }
  return perSecond(n, Number(process.hrtime.bigint() - t0));
}

export async function run(argv: string[]): Promise<Record<string, unknown>> {
  const args = parseArgs(argv);
  checkArgs(args, [
    'orders',
    'connections',
    'ws-clients',
    'window',
    'accounts',
    'warmup',
    'dir',
    'writer-thread',
  ]);
  const writerThread = args.get('writer-thread') === 'true';
  const n = intArg(args, 'orders', 20_000);
  const connections = intArg(args, 'connections', 32);
  const wsClients = intArg(args, 'ws-clients', 16);
  const window = intArg(args, 'window', 4);
  const accounts = intArg(args, 'accounts', 32);
  const warmup = intArg(args, 'warmup', 2_000);
  if (accounts < 2 || accounts % 2 !== 0) throw new Error('--accounts must be even and at least 2');
  if (wsClients < 2 || wsClients % 2 !== 0) throw new Error('--ws-clients must be even and at least 2');
  const dir = mkdtempSync(join(args.get('dir') ?? tmpdir(), 'ringfence-bench-api-'));
  say(
    `orders ${fmtInt(n)} per phase (+${fmtInt(warmup)} warm-up), ${connections} HTTP connections, ${wsClients} WS clients × ${window} in flight, ${accounts} accounts`,
  );
  say(
    `journal: SQLite (WAL, synchronous=FULL) under ${dir}${writerThread ? ', service commits on a writer thread' : ''}`,
  );
  try {
    const worker = tsWorker(import.meta.url, { workerData: { dir, accounts, writerThread } satisfies Setup });
    const ready = await new Promise<{ url: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    say(`service (worker thread) listening on ${ready.url}`);

    const stats = () =>
      new Promise<{ commits: number; records: number }>((resolve) => {
        worker.once('message', resolve);
        worker.postMessage('stats');
      });
    /** Records per commit (fsync) during a phase: how well group commit batched it. */
    const batching = (a: { commits: number; records: number }, b: { commits: number; records: number }) =>
      round((b.records - a.records) / Math.max(1, b.commits - a.commits), 1);

    await httpPhase(ready.url, warmup, connections, accounts, 10_000_000);
    const h0 = await stats();
    const http = await httpPhase(ready.url, n, connections, accounts, 0);
    const h1 = await stats();
    say(
      `HTTP   ${fmtInt(http.ordersPerSec)} orders/s  p50 ${http.p50Ms} ms  p99 ${http.p99Ms} ms  (${fmtInt(http.orders)} acknowledged, ${http.errors} errors; ${batching(h0, h1)} orders per commit)`,
    );
    await wsPhase(ready.url, warmup, wsClients, window, accounts);
    const w0 = await stats();
    const ws = await wsPhase(ready.url, n, wsClients, window, accounts);
    const w1 = await stats();
    say(
      `WS     ${fmtInt(ws.ordersPerSec)} orders/s  p50 ${round(ws.p50Ms, 2)} ms  p99 ${round(ws.p99Ms, 2)} ms  (${fmtInt(ws.orders)} acknowledged, ${ws.errors} errors; ${batching(w0, w1)} orders per commit)`,
    );

    worker.postMessage('stop');
    const server = await new Promise<{
      seq: number;
      commits: number;
      records: number;
      largestBatch: number;
      resting: number;
    }>((resolve) => worker.once('message', resolve));
    await worker.terminate();
    say(
      `service journal: ${fmtInt(server.records)} records in ${fmtInt(server.commits)} commits (${round(server.records / server.commits, 1)} per fsync, largest ${server.largestBatch}); ${server.resting} orders resting at the end`,
    );

    const base = await baselinePhase(dir, n, connections, accounts);
    say(
      `journal baseline (same orders, Journal.submit, ${connections} submitters, no HTTP)  ${fmtInt(base.ordersPerSec)} orders/s  p50 ${round(base.p50Ms, 2)} ms  p99 ${round(base.p99Ms, 2)} ms`,
    );
    const engine = engineOnly(n, accounts);
    say(`engine alone (no journal)  ${fmtInt(engine)} orders/s`);
    const ratio = (a: number, b: number) => round(a / b, 3);
    say(
      `ratios to the journal baseline: HTTP ${ratio(http.ordersPerSec, base.ordersPerSec)}× throughput, ` +
        `${ratio(http.p50Ms, base.p50Ms)}× p50; WS ${ratio(ws.ordersPerSec, base.ordersPerSec)}× throughput, ${ratio(ws.p50Ms, base.p50Ms)}× p50`,
    );
    const fig = (f: Figures) => ({
      ordersPerSec: round(f.ordersPerSec),
      p50Ms: round(f.p50Ms, 3),
      p99Ms: round(f.p99Ms, 3),
      orders: f.orders,
      errors: f.errors,
    });
    return {
      orders: n,
      connections,
      wsClients,
      window,
      http: fig(http),
      ws: fig(ws),
      baseline: fig(base),
      engineOnlyOrdersPerSec: round(engine),
      httpVsBaseline: ratio(http.ordersPerSec, base.ordersPerSec),
      wsVsBaseline: ratio(ws.ordersPerSec, base.ordersPerSec),
      httpP50VsBaseline: ratio(http.p50Ms, base.p50Ms),
      httpP99VsBaseline: ratio(http.p99Ms, base.p99Ms),
      wsP50VsBaseline: ratio(ws.p50Ms, base.p50Ms),
      wsP99VsBaseline: ratio(ws.p99Ms, base.p99Ms),
      httpOrdersPerCommit: batching(h0, h1),
      wsOrdersPerCommit: batching(w0, w1),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
