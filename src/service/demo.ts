/**
 * `ringfence serve --demo`: the service with a market running in it, for a newcomer to watch after `npm ci`.
 *
 * Starts the service (startServer, as `serve` does) on a SQLite journal in a fresh temp directory — removed on
 * exit — with API keys generated for this run: the operator's (admin) and the `demo` trader's (read, trade), both at
 * the service's default rate limits and printed with a ready login URL, and the demo's own keys (its admin key and
 * one per simulated trader) with limits raised so the population is never throttled. The configuration is built in
 * process: nothing is written but the journal. Then the driver (demo-driver.ts) creates the markets and replays
 * real BTC/USD minutes through the oracle while seeded traders and a market maker trade, all through the API.
 * Runs until SIGINT/SIGTERM (a second signal exits at once) or `--duration` seconds, then shuts down like `serve`:
 * the driver stops, the server closes, the journal is flushed and the directory removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { CliIO } from '../cli/calc.ts';
import { decimalPlaces } from '../core/fixed.ts';
import { JournalError } from '../journal/store.ts';
import {
  ConfigError,
  checkConfig,
  defaultConfig,
  type KeyConfig,
  mergeConfig,
  parseConfigFile,
  type RateLimit,
  type ServiceConfig,
} from './config.ts';
import { DemoApi } from './demo-client.ts';
import { DemoSetupError, LiveDemo } from './demo-driver.ts';
import { DEMO_START, DemoFeed } from './demo-feed.ts';
import { DEMO_ACCOUNT, planTraders } from './demo-traders.ts';
import { Metrics } from './metrics.ts';
import { type Running, startServer } from './serve.ts';
import { StoreConfigError } from './store.ts';

export interface DemoFlags {
  host?: string;
  port?: string;
  speed?: string;
  traders?: string;
  seed?: string;
  duration?: string;
}

export const DEMO_DEFAULTS = { port: 8080, speed: 10, traders: 40, seed: 1 } as const;
/** The demo's own keys: high enough that the population is never throttled. */
const DRIVER_RATE: RateLimit = { burst: 10_000, perSecond: 10_000 };
const STATUS_EVERY_MS = 10_000;
const MAX_TRADERS = 1_000;

function newKey(prefix: string): { key: string; secret: string } {
  return { key: `${prefix}-${randomBytes(8).toString('hex')}`, secret: randomBytes(32).toString('hex') };
}

interface Parsed {
  host: string;
  port: number;
  speed: number;
  traders: number;
  seed: number;
  durationMs: number | null;
}

function parseFlags(f: DemoFlags): Parsed | string {
  const num = (v: string | undefined, name: string, re: RegExp, lo: number, hi: number, def: number) => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!re.test(v) || !(n >= lo && n <= hi))
      return `${name}: must be a number from ${lo} to ${hi}, got "${v}"`;
    return n;
  };
  const int = /^\d{1,10}$/;
  const dec = /^\d{1,6}(\.\d{1,6})?$/;
  const port = num(f.port, '--port', int, 0, 65535, DEMO_DEFAULTS.port);
  const speed = num(f.speed, '--speed', dec, 0.01, 1_000, DEMO_DEFAULTS.speed);
  const traders = num(f.traders, '--traders', int, 0, MAX_TRADERS, DEMO_DEFAULTS.traders);
  const seed = num(f.seed, '--seed', int, 0, 0xffffffff, DEMO_DEFAULTS.seed);
  const duration = num(f.duration, '--duration', dec, 0.001, 31_536_000, 0);
  for (const v of [port, speed, traders, seed, duration]) if (typeof v === 'string') return v;
  return {
    host: f.host ?? '127.0.0.1',
    port: port as number,
    speed: speed as number,
    traders: traders as number,
    seed: seed as number,
    durationMs: f.duration === undefined ? null : Math.round((duration as number) * 1_000),
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export async function runServeDemo(flags: DemoFlags, io: CliIO): Promise<number> {
  const fail = (msg: string, code = 2) => {
    io.stderr(`ringfence serve --demo: ${msg}\n`);
    return code;
  };
  const p = parseFlags(flags);
  if (typeof p === 'string') return fail(p);
  const envLevel = process.env.RINGFENCE_LOG_LEVEL;
  const logLevel = LOG_LEVELS.find((l) => l === envLevel) ?? 'warn';

  const operator: KeyConfig = { ...newKey('operator'), scopes: ['admin'] };
  const trader: KeyConfig = { ...newKey('demo'), account: DEMO_ACCOUNT, scopes: ['read', 'trade'] };
  const driver: KeyConfig = { ...newKey('driver'), scopes: ['admin'], rateLimit: DRIVER_RATE };
  const specs = planTraders(p.seed, p.traders);
  const traderKeys: KeyConfig[] = specs.map((s) => ({
    ...newKey(s.account),
    account: s.account,
    scopes: ['read', 'trade'],
    rateLimit: DRIVER_RATE,
  }));

  const dir = mkdtempSync(join(tmpdir(), 'ringfence-demo-'));
  let removed = false;
  const removeDir = () => {
    if (removed) return;
    removed = true;
    rmSync(dir, { recursive: true, force: true });
  };
  // Signals are ours from here on, so that even one during start-up leaves no directory behind.
  let requestStop: (reason: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    requestStop = resolve;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal: out at once, without the journal's flush (the directory goes anyway).
    if (++signals > 1) {
      removeDir();
      process.exit(1);
    }
    requestStop(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const release = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    removeDir();
  };
  let cfg: ServiceConfig;
  try {
    cfg = mergeConfig(
      defaultConfig(),
      parseConfigFile(
        {
          host: p.host,
          port: p.port,
          dataDir: dir,
          journalUrl: join(dir, 'journal.db'),
          logLevel,
          keys: [operator, trader, driver, ...traderKeys],
          // The fsync off the event loop the driver shares with the service.
          journal: { writerThread: true },
        },
        'demo',
      ),
    );
    checkConfig(cfg);
  } catch (e) {
    release();
    if (e instanceof ConfigError) return fail(e.message);
    throw e;
  }
  const logger = pino(
    { level: cfg.logLevel, base: { service: 'ringfence' } },
    { write: (line: string) => io.stdout(line) },
  );
  // The price data first: a demo that cannot read it says so and exits, before there is a server to close.
  let feed: DemoFeed;
  try {
    feed = new DemoFeed(p.seed);
  } catch (e) {
    release();
    return fail(`cannot read the demo's price data: ${(e as Error).message}`, 1);
  }
  let running: Running;
  try {
    running = await startServer(cfg, { logger, metrics: new Metrics({ defaultMetrics: true }) });
  } catch (e) {
    release();
    if (e instanceof StoreConfigError || e instanceof JournalError) return fail(e.message, 1);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
      return fail(`cannot listen on ${cfg.host}:${cfg.port} (${code}); try --port <another>`);
    throw e;
  }

  const api = new DemoApi(running.url, logger);
  const demo = new LiveDemo({
    api,
    admin: driver,
    feed,
    speed: p.speed,
    seed: p.seed,
    traders: specs.map((spec, i) => ({ spec, key: traderKeys[i]! })),
  });
  const shutdown = async () => {
    await demo.stop();
    api.close();
    try {
      await running.close();
    } finally {
      release();
    }
  };
  try {
    await demo.setup();
  } catch (e) {
    await shutdown();
    if (e instanceof DemoSetupError) return fail(`setup refused: ${e.message}`, 1);
    throw e;
  }
  io.stdout(banner(running.url, p, dir, feed, operator, trader));
  demo.start();
  const started = Date.now();
  const status = setInterval(() => io.stdout(statusLine(demo, feed, started, api)), STATUS_EVERY_MS);

  const timer = p.durationMs === null ? null : setTimeout(() => requestStop('duration'), p.durationMs);
  const reason = await stopRequested;
  if (timer) clearTimeout(timer);
  clearInterval(status);
  io.stdout(`\nstopping (${reason}): the driver, then the service; removing ${dir}\n`);
  try {
    await shutdown();
  } catch (e) {
    logger.error({ err: e }, 'shutdown failed');
    return 1;
  }
  io.stdout(summary(demo, started, api));
  return 0;
}

function loginUrl(url: string, k: KeyConfig): string {
  return `${url}/#key=${encodeURIComponent(k.key)}&secret=${encodeURIComponent(k.secret)}`;
}

function banner(
  url: string,
  p: Parsed,
  dir: string,
  feed: DemoFeed,
  operator: KeyConfig,
  trader: KeyConfig,
): string {
  const synthetic = feed.markets.filter((m) => m.synthetic).map((m) => m.config.symbol);
  const start = DEMO_START.replace('T', ' ').replace(/:00Z$/, ' UTC');
  const key = (title: string, k: KeyConfig) =>
    `  ${title}\n    key     ${k.key}\n    secret  ${k.secret}\n    open    ${loginUrl(url, k)}\n`;
  return (
    `ringfence live demo: ${url}\n` +
    `  BTCUSDT replays Bitstamp BTC/USD minutes from ${start} at ${p.speed} minutes a second, looping;\n` +
    `  ${synthetic.join(' and ')} are drawn from it (seed ${p.seed}). ${p.traders} traders and a market maker ` +
    'trade through the API.\n\n' +
    key(`trader view (account ${DEMO_ACCOUNT}: read, trade)`, trader) +
    '\n' +
    key('operator view (admin)', operator) +
    `\n  journal ${join(dir, 'journal.db')} (removed on exit); Ctrl-C to stop\n\n`
  );
}

const fmt = (n: number) => n.toLocaleString('en-US');

function statusLine(demo: LiveDemo, feed: DemoFeed, started: number, api: DemoApi): string {
  const secs = Math.round((Date.now() - started) / 1_000);
  const at = new Date(demo.point.time).toISOString().slice(0, 16).replace('T', ' ');
  const prices = feed.markets
    .map((m, k) => {
      const dp = decimalPlaces(m.config.tickSize);
      const px = Number(feed.price(k, demo.point.ticks[k]!));
      return `${m.config.symbol} ${px.toLocaleString('en-US', { minimumFractionDigits: dp, maximumFractionDigits: dp })}`;
    })
    .join('  ');
  const c = demo.counts;
  const liq = c.liquidations.isolated + c.liquidations.cross;
  return (
    `[${String(secs).padStart(4)}s] ${at} UTC${demo.point.bridge ? ' (looping)' : ''}  ${prices}  ` +
    `trades ${fmt(c.trades)}  liquidations ${fmt(liq)} (isolated ${fmt(c.liquidations.isolated)}, ` +
    `cross ${fmt(c.liquidations.cross)})  requests ${fmt(api.requests)} (refused ${fmt(api.errorCount)})\n`
  );
}

function summary(demo: LiveDemo, started: number, api: DemoApi): string {
  const c = demo.counts;
  const liq = c.liquidations.isolated + c.liquidations.cross;
  const codes = [...api.errors.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([code, n]) => `${code} ${fmt(n)}`)
    .join(', ');
  return (
    `stopped after ${Math.round((Date.now() - started) / 1_000)} s, ${fmt(demo.step)} data minutes: ` +
    `${fmt(c.trades)} trades, ${fmt(liq)} liquidations (isolated ${fmt(c.liquidations.isolated)}, ` +
    `cross ${fmt(c.liquidations.cross)}); ${fmt(api.requests)} requests, ${fmt(api.errorCount)} refused` +
    `${codes ? ` (${codes})` : ''}\n`
  );
}
