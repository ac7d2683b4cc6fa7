/**
 * The high-availability tests' kit: `ringfence serve` processes on a JetStream journal (children through tsx, as in
 * crash.test.ts, always killed when the test process exits), their /health, a load of signed writes that records
 * every acknowledgement, and the checks made on the stream afterwards: every acknowledged command at its seq, none
 * twice, batches consecutive and one writer's term never interleaved with another's, the state of a full replay.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Command } from '../../src/engine/types.ts';
import { decodeCommand } from '../../src/journal/codec.ts';
import { H_CUT, H_FIRST, H_LAST, H_WRITER, JetStreamJournalStore } from '../../src/journal/jetstream.ts';
import { type RecoveryReport, recover } from '../../src/journal/journal.ts';
import { signedHeaders } from '../../src/service/auth.ts';
import { BTCUSDT, KEYS, nextTs } from './helpers.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// Processes

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export interface Serve {
  name: string;
  proc: ChildProcess;
  url: string;
  out: () => string;
}

/** The config file every process of a test reads: the admin key, no tick, frequent state hashes and snapshots. */
export function writeConfig(dir: string, extra: object = {}): string {
  const file = join(dir, 'ringfence.json');
  const cfg = {
    keys: [KEYS.admin],
    tickIntervalMs: 0,
    logLevel: 'info',
    rateLimit: { burst: 1_000_000, perSecond: 1_000_000 },
    journal: { hashEvery: 25, snapshotEvery: 400 },
    ha: { leaseMs: 1_000 },
    ...extra,
  };
  writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
  return file;
}

/** `ringfence serve --journal <url> --role <role>` on port 0; resolves once it listens (within `ms`). */
export function startServe(
  name: string,
  config: string,
  journal: string,
  role: 'leader' | 'standby' | 'replica',
  ms = 40_000,
): Promise<Serve> {
  return startCli(name, ['serve', '--config', config, '--journal', journal, '--role', role], ms);
}

/** `ringfence <args>` as a child through tsx (port 0 unless the args say otherwise), stdout and stderr piped. */
export function spawnCli(args: readonly string[]): ChildProcess {
  return spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      "import('./src/cli/main.ts').then(async (m) => { process.exitCode = await m.main(process.argv.slice(1)); })",
      ...args,
    ],
    { env: { ...process.env, RINGFENCE_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** `ringfence <args>` (a serve of any role) on port 0; resolves once it logs that it listens (within `ms`). */
export function startCli(name: string, args: readonly string[], ms = 40_000): Promise<Serve> {
  const proc = spawnCli(args);
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  let out = '';
  const onData = (d: Buffer) => {
    out = (out + d.toString()).slice(-400_000);
  };
  proc.stderr!.on('data', onData);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${name}: no "listening" line in ${ms} ms:\n${out.slice(-3_000)}`));
    }, ms);
    proc.stdout!.on('data', (d: Buffer) => {
      onData(d);
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*"listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ name, proc, url: m[1]!, out: () => out });
      }
    });
    proc.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`${name} exited early:\n${out.slice(-3_000)}`));
    });
  });
}

export function alive(s: Serve): boolean {
  return s.proc.exitCode === null && s.proc.signalCode === null;
}

/** Sends `signal` and waits (within `ms`) for the process to exit. */
export async function stopServe(s: Serve, signal: NodeJS.Signals = 'SIGKILL', ms = 15_000): Promise<void> {
  if (!alive(s)) return;
  const exited = new Promise<void>((r) => s.proc.once('exit', () => r()));
  s.proc.kill(signal);
  const timer = setTimeout(() => s.proc.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
}

export interface Health {
  status: string;
  reason: string | null;
  seq: number;
  role: 'leader' | 'standby' | 'replica';
  leader: { id: string; url: string; since: number } | null;
  streamSeq: number | null;
  lag: number;
}

/** GET /health (any status), or null when the process does not answer within `ms`. */
export async function health(url: string, ms = 2_000): Promise<Health | null> {
  try {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(ms) });
    return (await r.json()) as Health;
  } catch {
    return null;
  }
}

/** Polls `fn` every 50 ms until it returns something truthy; throws after `ms`. */
export async function waitFor<T>(
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  ms: number,
  what: string,
  ...logs: Serve[]
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) {
      const tails = logs.map((s) => `\n--- ${s.name}:\n${s.out().slice(-4_000)}`).join('');
      throw new Error(`timed out after ${ms} ms waiting for ${what}${tails}`);
    }
    await sleep(50);
  }
}

/** A signed request as the admin key; `redirect: 'manual'` to see a 307 instead of following it. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { redirect?: 'follow' | 'manual'; ms?: number } = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  Object.assign(headers, signedHeaders(KEYS.admin.key, KEYS.admin.secret, method, path, text, nextTs()));
  const r = await fetch(base + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: text }),
    redirect: opts.redirect ?? 'follow',
    signal: AbortSignal.timeout(opts.ms ?? 10_000),
  });
  const raw = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
  } catch {
    json = { raw };
  }
  return { status: r.status, json, headers: r.headers };
}

// ---------------------------------------------------------------------------------------------------------
// Load

export const ACCOUNTS = Array.from({ length: 8 }, (_, i) => `t${i}`);
export const MARKET = 'BTCUSDT';

/** One acknowledged write: what it was, the seq it was acknowledged with (orders: none), by whom, when. */
export interface Ack {
  kind: 'deposit' | 'order';
  seq: number | null;
  account: string;
  amount?: string;
  clientOrderId?: string;
  /** When the request was sent and answered (ms since epoch). */
  sentAt: number;
  at: number;
  /** The process it was sent to. */
  by: string;
}

/** A write that was not acknowledged: by whom, when, and the status and code (0: no answer). */
export interface Refusal {
  by: string;
  sentAt: number;
  status: number;
  code: string;
}

/**
 * Writers sending signed commands one after another, each worker to the first of `targets()` that answers (on a
 * refusal or a dead connection it moves to the next one and tries a new command 25 ms later — never the same one
 * again: an unanswered command's outcome is unknown, and retrying it could apply it twice, which is what the checks
 * look for). Commands alternate a deposit of a unique amount and a limit order at the mark with a unique client
 * order id, buys and sells in turn, so the orders cross and the book stays shallow.
 */
/** Loads started and not stopped: a test that fails mid-way must still stop its load, or its workers keep the process alive. */
const active = new Set<Load>();

/** Stops every load still running (a test's `finally`). */
export async function stopLoads(): Promise<void> {
  await Promise.all([...active].map((l) => l.stop()));
}

export class Load {
  readonly acks: Ack[] = [];
  /** Every write not acknowledged (a refusal, or no answer). */
  readonly misses: Refusal[] = [];
  attempts = 0;
  failed = 0;
  rejected = 0;
  /** Statuses of refusals, by status and code. */
  readonly refusals = new Map<string, number>();
  private stopping = false;
  private running: Promise<void>[] = [];
  private n = 0;
  private rot = 0;

  constructor(
    private readonly targets: () => string[],
    private readonly tag: string,
    private readonly redirect: 'follow' | 'manual' = 'follow',
  ) {}

  start(workers: number): void {
    active.add(this);
    for (let w = 0; w < workers; w++) this.running.push(this.worker(w));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    active.delete(this);
    await Promise.all(this.running);
  }

  /** Acknowledgements after `t` (ms since epoch). */
  since(t: number): Ack[] {
    return this.acks.filter((a) => a.at > t);
  }

  private async worker(w: number): Promise<void> {
    while (!this.stopping) {
      const targets = this.targets();
      if (targets.length === 0) {
        await sleep(25);
        continue;
      }
      const base = targets[(w + this.rot) % targets.length]!;
      const i = this.n++;
      const account = ACCOUNTS[i % ACCOUNTS.length]!;
      this.attempts++;
      const sentAt = Date.now();
      try {
        if (i % 2 === 0) {
          const amount = `1.${String(i).padStart(8, '0')}`;
          const r = await call(
            base,
            'POST',
            '/api/v1/admin/deposit',
            { account, asset: 'USDT', amount },
            {
              redirect: this.redirect,
            },
          );
          if (r.status === 200)
            this.acks.push({
              kind: 'deposit',
              seq: r.json.seq as number,
              account,
              amount,
              sentAt,
              at: Date.now(),
              by: base,
            });
          else if (this.refused(base, sentAt, r)) await sleep(25);
        } else {
          const clientOrderId = `${this.tag}-${i}`;
          const r = await call(
            base,
            'POST',
            '/api/v1/orders',
            {
              account,
              symbol: MARKET,
              side: (i >> 1) % 2 === 0 ? 'buy' : 'sell',
              type: 'limit',
              amount: '0.001',
              price: '20000',
              clientOrderId,
            },
            { redirect: this.redirect },
          );
          if (r.status === 200)
            this.acks.push({
              kind: 'order',
              seq: null,
              account,
              clientOrderId,
              sentAt,
              at: Date.now(),
              by: base,
            });
          else if (this.refused(base, sentAt, r)) await sleep(25);
        }
      } catch {
        this.misses.push({ by: base, sentAt, status: 0, code: 'no answer' });
        this.failed++;
        this.rot++;
        await sleep(25);
      }
    }
  }

  /** Counts a refusal; true when it says to go elsewhere (503, a redirect not followed). */
  private refused(by: string, sentAt: number, r: { status: number; json: Record<string, unknown> }): boolean {
    this.misses.push({ by, sentAt, status: r.status, code: String(r.json.code ?? '') });
    const key = `${r.status} ${String(r.json.code ?? '')}`;
    this.refusals.set(key, (this.refusals.get(key) ?? 0) + 1);
    if (r.status >= 500 || r.status === 307) {
      this.failed++;
      this.rot++;
      return true;
    }
    this.rejected++;
    return false;
  }
}

/** The market and funded accounts every load trades on (through `base`, following redirects). */
export async function setUpVenue(base: string): Promise<void> {
  const r = await call(base, 'POST', '/api/v1/admin/markets', BTCUSDT);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(
    (await call(base, 'POST', '/api/v1/admin/mark-price', { symbol: MARKET, price: '20000' })).status,
    200,
  );
  for (const account of ACCOUNTS) {
    const d = await call(base, 'POST', '/api/v1/admin/deposit', {
      account,
      asset: 'USDT',
      amount: '1000000',
    });
    assert.equal(d.status, 200, JSON.stringify(d.json));
  }
}

// ---------------------------------------------------------------------------------------------------------
// The stream, read back

export interface Batch {
  streamSeq: number;
  first: number | null;
  last: number;
  writer: string | null;
  cut: boolean;
}

/** Every message's headers, in stream order (a headers-only ordered consumer). */
export async function readBatches(servers: string, stream: string): Promise<Batch[]> {
  const nc = await connect({ servers: servers.split(','), timeout: 5_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    const info = await jsm.streams.info(stream);
    const out: Batch[] = [];
    if (info.state.messages === 0) return out;
    const c = await jetstream(nc).consumers.get(stream, {
      headers_only: true,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: info.state.first_seq,
    });
    const msgs = await c.consume({ max_messages: 1_000 });
    const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));
    for await (const m of msgs) {
      const h = m.headers;
      out.push({
        streamSeq: m.seq,
        first: num(h?.get(H_FIRST)),
        last: num(h?.get(H_LAST)) ?? 0,
        writer: h?.get(H_WRITER) || null,
        cut: (h?.get(H_CUT) ?? '') !== '',
      });
      if (m.info.pending === 0) break;
    }
    void msgs.close().catch(() => {});
    return out;
  } finally {
    await nc.close();
  }
}

/**
 * Batches hold consecutive seqs from 1 without a gap or a repeat, every batch names its writer, and each writer's
 * term (`<id>#<lease revision>`) is one run of consecutive batches: two writers never interleave. The runs, in order.
 */
export function checkBatches(
  batches: readonly Batch[],
): { writer: string; batches: number; from: number; to: number }[] {
  let last = 0;
  const runs: { writer: string; batches: number; from: number; to: number }[] = [];
  for (const b of batches) {
    assert.ok(!b.cut, `no cut expected (stream message ${b.streamSeq})`);
    assert.equal(
      b.first,
      last + 1,
      `stream message ${b.streamSeq} starts at seq ${b.first}, after seq ${last}`,
    );
    assert.ok(b.last >= b.first!, `stream message ${b.streamSeq}: last ${b.last} < first ${b.first}`);
    assert.ok(b.writer !== null, `stream message ${b.streamSeq} names its writer`);
    last = b.last;
    const run = runs[runs.length - 1];
    if (run && run.writer === b.writer) {
      run.batches++;
      run.to = b.last;
    } else {
      assert.ok(
        !runs.some((r) => r.writer === b.writer),
        `writer ${b.writer} wrote again at stream message ${b.streamSeq} after another writer: interleaved`,
      );
      runs.push({ writer: b.writer!, batches: 1, from: b.first!, to: b.last });
    }
  }
  return runs;
}

/** The journal replayed from seq 1 (no snapshot) and every record's command, by seq. */
export async function replayStream(
  url: string,
): Promise<{ report: RecoveryReport; commands: Map<number, Command> }> {
  const store = await JetStreamJournalStore.open(url, { readonly: true });
  try {
    const report = await recover(store, { snapshots: false, repair: false });
    const commands = new Map<number, Command>();
    for await (const r of store.readFrom(1)) commands.set(r.seq, decodeCommand(r.command));
    return { report, commands };
  } finally {
    await store.close();
  }
}

/**
 * Every acknowledged command is in the journal — a deposit at the seq it was acknowledged with, an order by its
 * client order id — and no deposit amount or client order id is there twice (no command applied twice).
 */
export function checkAcks(acks: readonly Ack[], commands: ReadonlyMap<number, Command>): void {
  const amounts = new Map<string, number>();
  const orders = new Map<string, number>();
  for (const [seq, c] of commands) {
    if (c.type === 'deposit' && /^1\.\d{8}$/.test(c.amount)) {
      assert.ok(
        !amounts.has(c.amount),
        `deposit ${c.amount} applied twice (seq ${amounts.get(c.amount)} and ${seq})`,
      );
      amounts.set(c.amount, seq);
    }
    if (c.type === 'placeOrder' && c.clientOrderId !== undefined) {
      assert.ok(!orders.has(c.clientOrderId), `order ${c.clientOrderId} applied twice`);
      orders.set(c.clientOrderId, seq);
    }
  }
  for (const a of acks) {
    if (a.kind === 'deposit') {
      const c = commands.get(a.seq!);
      assert.ok(
        c?.type === 'deposit' && c.amount === a.amount && c.account === a.account,
        `acknowledged deposit ${a.amount} (seq ${a.seq}, by ${a.by}) is in the journal at its seq`,
      );
    } else
      assert.ok(
        orders.has(a.clientOrderId!),
        `acknowledged order ${a.clientOrderId} (by ${a.by}) is in the journal`,
      );
  }
}

/** p50 and max of a list of figures, for the printed report. */
export function summary(xs: readonly number[]): string {
  if (xs.length === 0) return 'none';
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `min ${Math.round(s[0]!)}, p50 ${Math.round(q(0.5))}, max ${Math.round(s[s.length - 1]!)}`;
}
