/**
 * The service's order entry on loopback, journal on (SQLite, WAL, synchronous=FULL), against the same orders
 * submitted straight to the journal in the same run.
 *
 *   npm run bench -- api [--orders 20000] [--connections 32] [--ws-clients 16] [--window 4] [--accounts 32]
 *                        [--warmup 2000] [--saturate-window 32] [--paced-rate 20000] [--paced-orders 60000] [--dir <dir>]
 *
 * The service (fastify, the journal, the engine) runs in a worker thread, so the load generator on the main thread
 * does not share its event loop. Every order is a signed request (HMAC-SHA256, unique timestamp/clientOrderId), a
 * 0.001 BTC limit at 60,000: sellers and buyers alternate, so every other order fills against a resting one and
 * the book stays one level deep; each acknowledgement means the order's command is durably committed.
 *
 * 1. HTTP: autocannon, `--connections` keep-alive connections, one request in flight each: POST /api/v1/orders.
 * 2. WebSocket: `--ws-clients` logged-in clients (one account each), `--window` orders in flight each, op
 *    `order.place`; latency from send to response. Then (raised limits only) the same with `--saturate-window` in
 *    flight each (`wsSaturated`; 0 skips it): with 64 in flight the service waits on the round trip (its thread idles
 *    about a fifth of the time), so the closed loop reads latency, not capacity — the throughput goal is judged
 *    on this phase, its latency is queueing. Then `--paced-orders` orders sent on a fixed
 *    schedule at `--paced-rate` per second across the same clients, whatever the answers (open loop), latency from
 *    each order's due time: the latency at a given rate (`wsPaced`; `--paced-rate 0` skips it).
 * Both run twice, each time on a fresh service: once with the service's default rate limits
 * (src/service/config.ts: per key and per address), once with every limit raised to 1M/s. The clients never back
 * off: an order refused with 429 / RATE_LIMITED is counted (`rateLimited`), not retried, and orders/s counts
 * accepted orders only. Every phase (warm-up included) uses its own clientOrderIds. All clients connect from
 * 127.0.0.1, so the per-address connection caps are lifted when the client counts exceed them (the output says so).
 * 3. Baseline: the same orders, through `Journal.submit` on a fresh SQLite journal in this thread, with as many
 *    concurrent submitters as HTTP connections (no HTTP, no JSON, no signatures). Also the engine alone (no journal).
 *
 * Figures: orders/s, p50/p99 latency (ms), and the ratios of each to the baseline. On a 2-core machine the load
 * generator and the service compete for the CPU, so the HTTP and WebSocket figures are a floor.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
  limits: Limits;
  /** Lift the per-address caps (HTTP connections, WS sockets): every bench client shares 127.0.0.1. */
  liftCaps: boolean;
}

const accountName = (a: number) => `t${a}`;
/** The raised limits; `default` mode leaves the keys and the service on src/service/config.ts's defaults. */
const RAISED = { burst: 1_000_000, perSecond: 1_000_000 } as const;
type Limits = 'default' | 'raised';

/** Key a; its own rate limit only in `raised` mode (else the service's default per-key limit applies). */
const keyOf = (a: number, limits: Limits = 'default'): KeyConfig => ({
  key: `bench-key-${a}`,
  secret: `bench-secret-${a}-0123456789abcdef0123456789`,
  account: accountName(a),
  scopes: ['read', 'trade'],
  ...(limits === 'raised' ? { rateLimit: RAISED } : {}),
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

/** How long a WebSocket client keeps retrying a login the rate limit refused. */
const LOGIN_DEADLINE_MS = 30_000;

async function serverWorker(): Promise<void> {
  const { startServer } = await import('../src/service/serve.ts');
  const s = workerData as Setup;
  const keys = Array.from({ length: s.accounts }, (_, a) => keyOf(a, s.limits));
  const base = defaultConfig();
  const raised = s.limits === 'raised';
  const cfg = {
    ...base,
    host: '127.0.0.1',
    port: 0,
    dataDir: s.dir,
    journalUrl: join(s.dir, 'service.db'),
    logLevel: 'silent' as const,
    keys,
    docs: false,
    ...(raised ? { rateLimit: RAISED, publicRateLimit: RAISED } : {}),
    ws: {
      ...base.ws,
      ...(raised ? { maxBufferedBytes: 64 * 1024 * 1024 } : {}),
      // Every bench client connects from 127.0.0.1: the per-address caps (issue 15) would count them as one.
      ...(s.liftCaps ? { maxClients: 10_000, maxClientsPerIp: 10_000 } : {}),
    },
    http: { ...base.http, ...(s.liftCaps ? { maxConnectionsPerIp: 0 } : {}) },
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
  /** Accepted (acknowledged) orders. */
  orders: number;
  ordersPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Refusals other than rate limiting. */
  errors: number;
  /** Orders refused by a rate limit (HTTP 429, WS RATE_LIMITED); the client does not retry them. */
  rateLimited: number;
}

async function httpPhase(
  url: string,
  n: number,
  connections: number,
  accounts: number,
  tag: string,
): Promise<Figures> {
  let i = 0;
  let firstError = '';
  // Timed here, to the last answer: autocannon's promise resolves on its 1-second sampling tick, not when the last
  // response arrives, so its end (like its own `duration`) rounds every run up to whole seconds — 20,000 orders
  // then read 9,950/s whether they took 1.2 s or 2 s.
  let lastAnswer = 0n;
  const t0 = process.hrtime.bigint();
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
            clientOrderId: `${tag}${k}`,
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
          lastAnswer = process.hrtime.bigint();
          if (status !== 200 && status !== 429 && firstError === '') firstError = `${status} ${body}`;
        },
      },
    ],
  });
  const seconds = Number((lastAnswer > 0n ? lastAnswer : process.hrtime.bigint()) - t0) / 1e9;
  const done = result['2xx'];
  const limited =
    (result.statusCodeStats as Record<string, { count: number } | undefined>)['429']?.count ?? 0;
  if (result.non2xx > limited)
    say(`HTTP non-2xx by status: ${JSON.stringify(result.statusCodeStats)} (first: ${firstError})`);
  return {
    orders: done,
    ordersPerSec: done / seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.non2xx - limited + result.errors + result.timeouts,
    rateLimited: limited,
  };
}

async function wsPhase(
  url: string,
  n: number,
  clients: number,
  window: number,
  accounts: number,
  tag: string,
  /** Orders per second across all clients, sent on a fixed schedule whatever the answers (open loop); 0: each
   * client keeps `window` in flight (closed loop). */
  rate = 0,
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
        // Under the default limits the HTTP phase may have used up this address's budget: a login refused by the
        // rate limit is retried after the wait the service names, as a client would, within LOGIN_DEADLINE_MS.
        const deadline = Date.now() + LOGIN_DEADLINE_MS;
        const login = () => {
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
            const m = JSON.parse(d.toString()) as {
              success: boolean;
              error?: { code?: string; message?: string };
            };
            if (m.success) return resolve({ ws, account });
            const wait = Number(/retry in (\d+) ms/.exec(m.error?.message ?? '')?.[1] ?? 50);
            if (m.error?.code === 'RATE_LIMITED' && Date.now() + wait < deadline) setTimeout(login, wait + 1);
            else reject(new Error(`login failed: ${d.toString()}`));
          });
        };
        ws.once('open', login);
      });
    }),
  );
  const perClient = Math.floor(n / clients);
  const paced = rate > 0;
  /** Each client's send, given the time the order was due (paced: latency counts from then, so a generator or a
   * service falling behind schedule shows as latency rather than as a slower schedule). */
  const senders: ((due?: bigint) => void)[] = [];
  const latencies = new Float64Array(perClient * clients);
  let done = 0;
  let errors = 0;
  const errorCodes: Record<string, number> = {};
  let rateLimited = 0;
  const t0 = process.hrtime.bigint();
  const all = Promise.all(
    sockets.map(({ ws, account }, c) => {
      const side = account < accounts / 2 ? 'sell' : 'buy';
      const sent = new Map<number, bigint>();
      let next = 0;
      /** Orders answered: with their id, or refused unread by the rate limit (such a reply carries no id). */
      let answered = 0;
      return new Promise<void>((resolve) => {
        const send = (due?: bigint) => {
          const id = next++;
          sent.set(id, due ?? process.hrtime.bigint());
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
                clientOrderId: `${tag}${c}-${id}`,
              },
            }),
          );
        };
        ws.on('message', (d) => {
          const m = JSON.parse(d.toString()) as {
            id?: number;
            op?: string;
            success: boolean;
            error?: { code: string };
          };
          const limited = m.error?.code === 'RATE_LIMITED';
          if (typeof m.id === 'number' && sent.has(m.id)) {
            const t = sent.get(m.id)!;
            sent.delete(m.id);
            if (m.success) latencies[done++] = Number(process.hrtime.bigint() - t) / 1e6;
            else if (limited) rateLimited += 1;
            else {
              errors += 1;
              const code = m.error?.code ?? '?';
              errorCodes[code] = (errorCodes[code] ?? 0) + 1;
            }
          } else if (m.op === 'error' && m.id === undefined) {
            // Refused before it was read: it answers one of our in-flight orders, we cannot tell which.
            if (limited) rateLimited += 1;
            else errors += 1;
          } else return;
          answered += 1;
          if (!paced && next < perClient) send();
          else if (answered === perClient) resolve();
        });
        senders[c] = send;
        if (!paced) for (let w = 0; w < window && next < perClient; w++) send();
      });
    }),
  );
  if (paced) {
    // Every millisecond, send what the schedule says is due by now, round robin over the clients (each gets exactly
    // perClient), with its due time.
    const total = perClient * clients;
    let scheduled = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor((rate * Number(process.hrtime.bigint() - t0)) / 1e9));
      for (; scheduled < due; scheduled++)
        senders[scheduled % clients]!(t0 + BigInt(Math.ceil((scheduled * 1e9) / rate)));
      if (scheduled >= total) clearInterval(timer);
    };
    const timer = setInterval(tick, 1);
    tick();
    await all.finally(() => clearInterval(timer));
  } else await all;
  const ns = Number(process.hrtime.bigint() - t0);
  for (const { ws } of sockets) ws.close();
  if (errors > 0) say(`  WS errors by code: ${JSON.stringify(errorCodes)}`);
  return phaseFigures(latencies.subarray(0, done), ns, errors, rateLimited);
}

/** A phase's figures from the latencies of its accepted orders (ms) and its wall time (ns). */
function phaseFigures(latencies: Float64Array, ns: number, errors: number, rateLimited: number): Figures {
  const s = summarize(latencies);
  return {
    orders: latencies.length,
    ordersPerSec: perSecond(latencies.length, ns),
    p50Ms: s.p50,
    p99Ms: s.p99,
    errors,
    rateLimited,
  };
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
  return phaseFigures(latencies.subarray(0, done), ns, errors, 0);
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

interface PhaseOptions {
  n: number;
  warmup: number;
  connections: number;
  wsClients: number;
  window: number;
  accounts: number;
  writerThread: boolean;
  liftCaps: boolean;
  /** The saturating WS phase (raised limits only): orders in flight per client; 0 skips it. */
  saturateWindow: number;
  /** The paced WS phase (raised limits only): orders per second and orders; rate 0 skips it. */
  pacedRate: number;
  pacedOrders: number;
}

interface ServiceFigures {
  http: Figures;
  ws: Figures;
  wsSaturated: Figures | null;
  wsPaced: Figures | null;
  httpOrdersPerCommit: number;
  wsOrdersPerCommit: number;
}

type Stats = { commits: number; records: number };

/** A fresh service (own journal under `dir`) with `limits`, then the HTTP and WS phases, each after a warm-up. */
async function servicePhases(dir: string, limits: Limits, o: PhaseOptions): Promise<ServiceFigures> {
  mkdirSync(dir, { recursive: true });
  const setup: Setup = {
    dir,
    accounts: o.accounts,
    writerThread: o.writerThread,
    limits,
    liftCaps: o.liftCaps,
  };
  const worker = tsWorker(import.meta.url, { workerData: setup });
  const ready = await new Promise<{ url: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const stats = () =>
    new Promise<Stats>((resolve) => {
      worker.once('message', resolve);
      worker.postMessage('stats');
    });
  /** Records per commit (fsync) during a phase: how well group commit batched it. */
  const batching = (a: Stats, b: Stats) =>
    round((b.records - a.records) / Math.max(1, b.commits - a.commits), 1);
  // Each phase its own clientOrderId prefix: d/r (limits), h/w (HTTP/WS), w (warm-up), m (measured), s (saturated)
  // or p (paced).
  const t = limits === 'default' ? 'd' : 'r';
  await httpPhase(ready.url, o.warmup, o.connections, o.accounts, `${t}hw`);
  const h0 = await stats();
  const http = await httpPhase(ready.url, o.n, o.connections, o.accounts, `${t}hm`);
  const h1 = await stats();
  const line = (what: string, f: Figures, perCommit: number) =>
    `${what} ${fmtInt(f.ordersPerSec)} orders/s  p50 ${round(f.p50Ms, 2)} ms  p99 ${round(f.p99Ms, 2)} ms  ` +
    `(${fmtInt(f.orders)} acknowledged, ${fmtInt(f.rateLimited)} refused by rate limit, ${f.errors} other errors; ` +
    `${perCommit} orders per commit)`;
  say(line(`HTTP (${limits} limits)`, http, batching(h0, h1)));
  await wsPhase(ready.url, o.warmup, o.wsClients, o.window, o.accounts, `${t}ww`);
  const w0 = await stats();
  const ws = await wsPhase(ready.url, o.n, o.wsClients, o.window, o.accounts, `${t}wm`);
  const w1 = await stats();
  say(line(`WS   (${limits} limits)`, ws, batching(w0, w1)));
  // Capacity: enough in flight that the service, not the round trip, is the limit (raised limits only).
  let wsSaturated: Figures | null = null;
  if (limits === 'raised' && o.saturateWindow > 0) {
    const s0 = await stats();
    wsSaturated = await wsPhase(ready.url, o.n, o.wsClients, o.saturateWindow, o.accounts, `${t}ws`);
    const s1 = await stats();
    say(
      line(
        `WS   saturated, ${o.wsClients} × ${o.saturateWindow} in flight (${limits} limits)`,
        wsSaturated,
        batching(s0, s1),
      ),
    );
  }
  // Latency at a fixed rate (the goal's "p99 at half the rate"): only where the limits let that rate through.
  let wsPaced: Figures | null = null;
  if (limits === 'raised' && o.pacedRate > 0) {
    const p0 = await stats();
    wsPaced = await wsPhase(ready.url, o.pacedOrders, o.wsClients, 0, o.accounts, `${t}wp`, o.pacedRate);
    const p1 = await stats();
    say(line(`WS   paced at ${fmtInt(o.pacedRate)}/s (${limits} limits)`, wsPaced, batching(p0, p1)));
  }
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
    `  service journal: ${fmtInt(server.records)} records in ${fmtInt(server.commits)} commits (${round(server.records / server.commits, 1)} per fsync, largest ${server.largestBatch}); ${server.resting} orders resting at the end`,
  );
  return {
    http,
    ws,
    wsSaturated,
    wsPaced,
    httpOrdersPerCommit: batching(h0, h1),
    wsOrdersPerCommit: batching(w0, w1),
  };
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
    'saturate-window',
    'paced-rate',
    'paced-orders',
  ]);
  const writerThread = args.get('writer-thread') === 'true';
  const n = intArg(args, 'orders', 20_000);
  const connections = intArg(args, 'connections', 32);
  const wsClients = intArg(args, 'ws-clients', 16);
  const window = intArg(args, 'window', 4);
  const accounts = intArg(args, 'accounts', 32);
  const warmup = intArg(args, 'warmup', 2_000);
  const saturateWindow = intArg(args, 'saturate-window', 32);
  // Half the 40k/s goal, as the goal's latency clause asks; 3 s of it.
  const pacedRate = intArg(args, 'paced-rate', 20_000);
  const pacedOrders = intArg(args, 'paced-orders', 3 * pacedRate);
  if (accounts < 2 || accounts % 2 !== 0) throw new Error('--accounts must be even and at least 2');
  if (wsClients < 2 || wsClients % 2 !== 0) throw new Error('--ws-clients must be even and at least 2');
  const dir = mkdtempSync(join(args.get('dir') ?? tmpdir(), 'ringfence-bench-api-'));
  say(
    `orders ${fmtInt(n)} per phase (+${fmtInt(warmup)} warm-up), ${connections} HTTP connections, ${wsClients} WS clients × ${window} in flight, ${accounts} accounts`,
  );
  say(
    `journal: SQLite (WAL, synchronous=FULL) under ${dir}${writerThread ? ', service commits on a writer thread' : ''}`,
  );
  const defaults = defaultConfig();
  // The load generator's clients all come from one address: lift the per-address caps only when they exceed them.
  const liftCaps = connections > defaults.http.maxConnectionsPerIp || wsClients > defaults.ws.maxClientsPerIp;
  const opts = {
    n,
    warmup,
    connections,
    wsClients,
    window,
    accounts,
    writerThread,
    liftCaps,
    saturateWindow,
    pacedRate,
    pacedOrders,
  };
  try {
    say(
      `default limits (src/service/config.ts): per key ${defaults.rateLimit.burst} burst, ${defaults.rateLimit.perSecond}/s; ` +
        `per address ${defaults.publicRateLimit.burst} burst, ${defaults.publicRateLimit.perSecond}/s; ` +
        `per-address connection caps ${liftCaps ? 'LIFTED (every bench client shares 127.0.0.1)' : 'at their defaults'}`,
    );
    const dflt = await servicePhases(join(dir, 'default'), 'default', opts);
    say('raised limits (every rate limit 1M/s):');
    const raised = await servicePhases(join(dir, 'raised'), 'raised', opts);
    const { http, ws } = raised;

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
      rateLimited: f.rateLimited,
    });
    return {
      orders: n,
      connections,
      wsClients,
      window,
      http: fig(http),
      ws: fig(ws),
      wsSaturated:
        raised.wsSaturated === null
          ? null
          : { inFlight: wsClients * saturateWindow, ...fig(raised.wsSaturated) },
      wsPaced: raised.wsPaced === null ? null : { targetPerSec: pacedRate, ...fig(raised.wsPaced) },
      baseline: fig(base),
      engineOnlyOrdersPerSec: round(engine),
      httpVsBaseline: ratio(http.ordersPerSec, base.ordersPerSec),
      wsVsBaseline: ratio(ws.ordersPerSec, base.ordersPerSec),
      httpP50VsBaseline: ratio(http.p50Ms, base.p50Ms),
      httpP99VsBaseline: ratio(http.p99Ms, base.p99Ms),
      wsP50VsBaseline: ratio(ws.p50Ms, base.p50Ms),
      wsP99VsBaseline: ratio(ws.p99Ms, base.p99Ms),
      httpOrdersPerCommit: raised.httpOrdersPerCommit,
      wsOrdersPerCommit: raised.wsOrdersPerCommit,
      // The same phases on the service's default rate-limit configuration (the figures above are raised limits).
      defaultLimits: {
        rateLimit: defaults.rateLimit,
        publicRateLimit: defaults.publicRateLimit,
        perAddressCapsLifted: liftCaps,
        http: fig(dflt.http),
        ws: fig(dflt.ws),
        httpOrdersPerCommit: dflt.httpOrdersPerCommit,
        wsOrdersPerCommit: dflt.wsOrdersPerCommit,
      },
      limits: 'http/ws: every rate limit raised to 1M/s; defaultLimits: src/service/config.ts defaults',
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
