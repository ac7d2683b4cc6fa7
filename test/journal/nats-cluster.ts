/**
 * NATS servers for the JetStream journal tests and bench: a local 3-node cluster of Debian's nats-server (one
 * process per node, JetStream on, routes on 127.0.0.1, a temp store directory each), a node stopped, killed or
 * restarted for failure tests; and the machine's single server on 127.0.0.1:4222 with a fresh stream name per
 * test (its stream and snapshot bucket deleted after).
 *
 * No process is ever left behind: the nodes are killed from an exit handler (and on SIGINT/SIGTERM), and a detached
 * watchdog shell kills every node whose pid file is in the cluster's directory, and removes it, as soon as this
 * process is gone — even when it was SIGKILLed.
 *
 * `RINGFENCE_TEST_NATS` names another server for the single-server helper (`host:port`); without it, 127.0.0.1:4222
 * is used when it answers with JetStream, and otherwise a private single server is started on a free port.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

export const NATS_SERVER = process.env.RINGFENCE_NATS_SERVER ?? '/usr/sbin/nats-server';

/** Why NATS tests cannot run here, or null when nats-server is installed. */
export function natsMissing(): string | null {
  return existsSync(NATS_SERVER) ? null : `${NATS_SERVER} is not installed (apt-get install nats-server)`;
}

/** A free TCP port on 127.0.0.1 (bound and released: another process could take it meanwhile, rarely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------
// Every node this process started, killed when it exits.

const live = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) c.kill('SIGKILL');
      process.kill(process.pid, sig);
    });
  }
}

/** Kills every pid file's process in `dir` and removes `dir` once this process has gone (whatever killed it). */
function watchdog(dir: string): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
for f in "${dir}"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
sleep 1; rm -rf "${dir}"`;
  const w = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  w.unref();
}

interface NodeSpec {
  name: string;
  port: number;
  clusterPort: number;
  dir: string;
}

/** One nats-server process of a cluster (or alone). */
export class NatsNode {
  proc: ChildProcess | null = null;
  private log = '';
  constructor(
    readonly spec: NodeSpec,
    private readonly config: string,
  ) {}

  get name(): string {
    return this.spec.name;
  }
  get url(): string {
    return `127.0.0.1:${this.spec.port}`;
  }
  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the process and waits (up to `timeoutMs`) until it accepts clients. */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.running) return;
    hookExit();
    const p = spawn(NATS_SERVER, ['-c', this.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    live.add(p);
    this.log = '';
    p.stderr?.on('data', (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-8_000);
    });
    p.once('exit', () => live.delete(p));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`nats-server ${this.name} exited at start:\n${this.log}`);
      if (await accepts(this.spec.port)) return;
      if (Date.now() > deadline)
        throw new Error(`nats-server ${this.name} did not accept clients in ${timeoutMs} ms:\n${this.log}`);
      await sleep(50);
    }
  }

  /**
   * Lets the test process exit with this server still running (the watchdog kills it then): for a server kept for the
   * whole process, whose handles would otherwise hold the event loop open after the last test.
   */
  release(): void {
    const p = this.proc;
    if (!p) return;
    p.unref();
    (p.stderr as (NodeJS.ReadableStream & { unref?: () => void }) | null)?.unref?.();
  }

  /** SIGTERM (a clean shutdown), then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }

  /** SIGKILL: a crash, no shutdown. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = tcpConnect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function nodeConfig(spec: NodeSpec, routes: number[], clusterName: string): string {
  const lines = [
    `server_name: ${spec.name}`,
    `listen: 127.0.0.1:${spec.port}`,
    `pid_file: "${spec.dir}.pid"`,
    'jetstream {',
    `  store_dir: "${spec.dir}"`,
    '  max_memory_store: 64MB',
    '  max_file_store: 4GB',
    '}',
  ];
  if (routes.length > 0) {
    lines.push(
      'cluster {',
      `  name: ${clusterName}`,
      `  listen: 127.0.0.1:${spec.clusterPort}`,
      `  routes: [${routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]`,
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** `host:port,host:port,…` of every node (what a journal URL lists). */
  servers: string;
  /** `nats://<servers>/<stream>` */
  url(stream: string, query?: string): string;
  /** Waits (up to `timeoutMs`) until the cluster has a JetStream meta leader and every running node answers. */
  ready(timeoutMs?: number): Promise<void>;
  /** Stops every node (SIGTERM, then SIGKILL) and removes their directories. */
  stop(): Promise<void>;
}

/** Starts `size` (default 3) clustered nodes with JetStream and waits for a meta leader (within `timeoutMs`). */
export async function startCluster(size = 3, timeoutMs = 30_000): Promise<NatsCluster> {
  const missing = natsMissing();
  if (missing) throw new Error(missing);
  const root = mkdtempSync(join(tmpdir(), 'ringfence-nats-'));
  watchdog(root);
  const specs: NodeSpec[] = [];
  for (let i = 1; i <= size; i++) {
    const dir = join(root, `n${i}`);
    mkdirSync(dir);
    specs.push({ name: `n${i}`, port: await freePort(), clusterPort: await freePort(), dir });
  }
  const nodes = specs.map((s) => {
    const file = join(root, `${s.name}.conf`);
    const routes = size > 1 ? specs.map((o) => o.clusterPort) : [];
    writeFileSync(file, nodeConfig(s, routes, `rf${process.pid}`));
    return new NatsNode(s, file);
  });
  const servers = nodes.map((n) => n.url).join(',');
  const cluster: NatsCluster = {
    nodes,
    servers,
    url: (stream, query) => `nats://${servers}/${stream}${query ? `?${query}` : ''}`,
    ready: (ms = timeoutMs) => waitForMetaLeader(nodes, ms),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await cluster.ready();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** Until every running node's JetStream answers an account-info request (which needs a meta leader). */
async function waitForMetaLeader(nodes: NatsNode[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (const n of nodes.filter((x) => x.running)) {
    for (;;) {
      try {
        const nc = await connect({ servers: n.url, timeout: 2_000, reconnect: false });
        try {
          const jsm = await jetstreamManager(nc, { timeout: 2_000 });
          await jsm.getAccountInfo();
          break;
        } finally {
          await nc.close();
        }
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(`NATS cluster: no JetStream meta leader within ${timeoutMs} ms (${last})`);
      await sleep(200);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The single server.

let single: Promise<{ servers: string; node: NatsNode | null }> | null = null;

/**
 * `host:port` of a single JetStream server: RINGFENCE_TEST_NATS, else 127.0.0.1:4222 when it answers with
 * JetStream, else a private server started on a free port (stopped when this process exits).
 */
export function singleServer(): Promise<string> {
  single ??= (async () => {
    const given = process.env.RINGFENCE_TEST_NATS;
    if (given) return { servers: given, node: null };
    // A generous timeout: under a loaded test run a 1 s check missed the machine's server and started another.
    if (await hasJetStream('127.0.0.1:4222', 5_000)) return { servers: '127.0.0.1:4222', node: null };
    const missing = natsMissing();
    if (missing) throw new Error(`no NATS server on 127.0.0.1:4222 and ${missing}`);
    const root = mkdtempSync(join(tmpdir(), 'ringfence-nats-'));
    watchdog(root);
    const dir = join(root, 'single');
    mkdirSync(dir);
    const spec = { name: 'single', port: await freePort(), clusterPort: 0, dir };
    const file = join(root, 'single.conf');
    writeFileSync(file, nodeConfig(spec, [], ''));
    const node = new NatsNode(spec, file);
    await node.start();
    // Kept for the whole process: it must not keep the process alive once the tests are done (that hung a run).
    node.release();
    process.on('exit', () => rmSync(root, { recursive: true, force: true }));
    return { servers: node.url, node };
  })();
  return single.then((s) => s.servers);
}

async function hasJetStream(servers: string, timeoutMs = 1_000): Promise<boolean> {
  try {
    const nc = await connect({ servers, timeout: timeoutMs, reconnect: false });
    try {
      await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}

/** Why the single-server tests cannot run, or null. */
export async function singleServerMissing(): Promise<string | null> {
  try {
    await singleServer();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

let streams = 0;
/** A stream name no other test (or test process) uses. */
export function uniqueStream(prefix = 'rft'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++streams}`;
}

/** Deletes a journal's stream, its snapshot bucket and its leader lease bucket (whatever exists of them). */
export async function deleteJournalStream(servers: string, stream: string): Promise<void> {
  const nc = await connect({ servers, timeout: 5_000, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    for (const name of [stream, `OBJ_${stream}-snapshots`, `KV_${stream}-lease`])
      await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}

/** Pid files of a cluster's nodes (for a test that checks nothing is left behind). */
export function pidOf(node: NatsNode): number | null {
  try {
    return Number(readFileSync(`${node.spec.dir}.pid`, 'utf8').trim());
  } catch {
    return null;
  }
}

/** A private single server that speaks only TLS and requires a client certificate; its CA's and a client's files. */
export interface TlsServer {
  servers: string;
  node: NatsNode;
  ca: string;
  cert: string;
  key: string;
  stop(): Promise<void>;
}

/** Why the TLS server cannot be started here (no nats-server, no openssl), or null. */
export function tlsMissing(): string | null {
  return natsMissing() ?? (existsSync('/usr/bin/openssl') ? null : '/usr/bin/openssl is not installed');
}

/**
 * Starts a JetStream server with `tls { verify: true }` on a free port: a throwaway CA (openssl) signs its
 * certificate (for 127.0.0.1) and a client's.
 */
export async function startTlsServer(): Promise<TlsServer> {
  const root = mkdtempSync(join(tmpdir(), 'ringfence-nats-tls-'));
  watchdog(root);
  const f = (n: string) => join(root, n);
  const ssl = (args: string) =>
    execFileSync('/bin/sh', ['-c', `/usr/bin/openssl ${args}`], {
      cwd: root,
      stdio: 'pipe',
      timeout: 20_000,
    });
  ssl('req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=ringfence-test-ca');
  for (const who of ['server', 'client']) {
    ssl(`req -newkey rsa:2048 -nodes -keyout ${who}.key -out ${who}.csr -subj /CN=${who}`);
    writeFileSync(
      f(`${who}.ext`),
      who === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' : 'extendedKeyUsage=clientAuth\n',
    );
    ssl(
      `x509 -req -in ${who}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out ${who}.pem -days 2 -extfile ${who}.ext`,
    );
  }
  const dir = f('store');
  mkdirSync(dir);
  const spec = { name: 'tls', port: await freePort(), clusterPort: 0, dir };
  const conf = [
    nodeConfig(spec, [], ''),
    'tls {',
    `  cert_file: "${f('server.pem')}"`,
    `  key_file: "${f('server.key')}"`,
    `  ca_file: "${f('ca.pem')}"`,
    '  verify: true',
    '}',
    '',
  ].join('\n');
  writeFileSync(f('tls.conf'), conf);
  const node = new NatsNode(spec, f('tls.conf'));
  await node.start();
  return {
    servers: node.url,
    node,
    ca: f('ca.pem'),
    cert: f('client.pem'),
    key: f('client.key'),
    async stop() {
      await node.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
