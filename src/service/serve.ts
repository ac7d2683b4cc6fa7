/**
 * `ringfence serve`: load the configuration, open the journal store and recover the engine from it, listen, tick
 * once a second, and shut down gracefully on SIGINT/SIGTERM — stop ticking, stop accepting (WebSocket clients are
 * told why), let in-flight requests finish (their commands commit), flush and close the journal. A second signal
 * exits at once with status 1.
 */
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import type { CliIO } from '../cli/calc.ts';
import { JournalError, type JournalStore } from '../journal/store.ts';
import { ConfigError, type ConfigFile, type KeyConfig, loadConfig, type ServiceConfig } from './config.ts';
import type { HaNode } from './ha/roles.ts';
import { Metrics } from './metrics.ts';
import { type App, buildServer } from './server.ts';
import { Service } from './service.ts';
import { openStore, redactUrl, StoreConfigError, storeKind } from './store.ts';

export interface ServeFlags {
  config?: string;
  host?: string;
  port?: string;
  data?: string;
  journal?: string;
  /** `ha.role`: leader, standby or replica (a `nats://` journal). */
  role?: string;
  /** `ha.advertiseUrl`. */
  advertiseUrl?: string;
}

export interface Running {
  app: App;
  service: Service;
  /** This process's part in high availability (a `nats://` journal), else null. */
  ha: HaNode | null;
  /** `http://host:port` actually bound (port 0 resolves to the real port). */
  url: string;
  port: number;
  /** Graceful shutdown: stop ticking, close the server (in-flight requests finish), close the journal. */
  close(): Promise<void>;
}

/**
 * A read replica creates nothing: started before any leader created the journal's stream, it waits for it (a line
 * every 10 s) instead of exiting, so processes can be started in any order.
 */
async function untilStreamExists(
  open: () => Promise<JournalStore>,
  url: string,
  log: FastifyBaseLogger | undefined,
): Promise<JournalStore> {
  let nextLine = 0;
  for (;;) {
    try {
      return await open();
    } catch (e) {
      if (!(e instanceof StoreConfigError && /no such stream/.test(e.message))) throw e;
      if (performance.now() >= nextLine) {
        log?.warn(
          { journal: redactUrl(url) },
          'the journal stream does not exist yet: waiting for a leader to create it',
        );
        nextLine = performance.now() + 10_000;
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/** Opens the service and listens. For `serve`, tests (port 0) and the bench. */
export async function startServer(
  cfg: ServiceConfig,
  opts: {
    logger?: FastifyBaseLogger;
    metrics?: Metrics;
    now?: () => number;
    writerThread?: boolean;
    /** Reads the key list again (SIGHUP, the admin reload endpoint). */
    loadKeys?: () => readonly KeyConfig[];
  } = {},
): Promise<Running> {
  const metrics = opts.metrics ?? new Metrics();
  const writerThread = opts.writerThread ?? cfg.journal.writerThread;
  // On a JetStream journal every process starts as a follower, under the leader lease (ha/roles.ts).
  const ha = storeKind(cfg.journalUrl) === 'jetstream';
  let node: HaNode | null = null;
  const replica = ha && cfg.ha.role === 'replica';
  const open = () => openStore(cfg.journalUrl, { writerThread, readonly: replica });
  const service = await Service.open({
    openStore: replica ? () => untilStreamExists(open, cfg.journalUrl, opts.logger) : open,
    ...(ha ? { follower: true, onWriterLost: (e: unknown) => node?.writerLost(e) } : {}),
    journal: {
      maxBatch: cfg.journal.maxBatch,
      hashEvery: cfg.journal.hashEvery,
      // Recovery replays at most `snapshotEvery` commands after the newest snapshot.
      snapshotEvery: cfg.journal.snapshotEvery,
      keepSnapshots: cfg.journal.keepSnapshots,
    },
    tickIntervalMs: cfg.tickIntervalMs,
    history: cfg.history,
    alerts: cfg.alerts,
    metrics,
    ...(opts.logger ? { log: opts.logger } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
  let app: App;
  try {
    app = await buildServer(service, cfg, {
      metrics,
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.loadKeys ? { loadKeys: opts.loadKeys } : {}),
    });
    await app.listen({ host: cfg.host, port: cfg.port });
  } catch (e) {
    await service.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : cfg.port;
  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const url = `http://${host}:${port}`;
  if (ha) {
    if (cfg.ha.advertiseUrl === null && /^(0\.0\.0\.0|::|\[::\])$/.test(cfg.host))
      service.log.warn(
        { url },
        'ha.advertiseUrl is not set: the lease will name an address no client can use; set the URL clients write to',
      );
    try {
      const { HaNode, processId } = await import('./ha/roles.ts');
      node = await HaNode.start(service, {
        role: cfg.ha.role,
        journalUrl: cfg.journalUrl,
        leaseMs: cfg.ha.leaseMs,
        advertiseUrl: cfg.ha.advertiseUrl ?? url,
        id: cfg.ha.id ?? processId(),
        log: service.log,
      });
    } catch (e) {
      await app.close().catch(() => {});
      await service.close();
      throw new StoreConfigError(`high availability: ${(e as Error).message}`);
    }
  }
  let closing: Promise<void> | null = null;
  return {
    app,
    service,
    ha: node,
    url,
    port,
    close: () => {
      closing ??= (async () => {
        await node?.stop();
        service.stopTicks();
        try {
          await app.close();
        } finally {
          await service.close();
          // Once every acknowledged command is flushed: a standby takes over at once instead of waiting it out.
          await node?.release();
        }
      })();
      return closing;
    },
  };
}

export async function runServe(flags: ServeFlags, io: CliIO): Promise<number> {
  const fail = (msg: string) => {
    io.stderr(`ringfence serve: ${msg}\n`);
    return 2;
  };
  const overrides: ConfigFile = {};
  if (flags.host !== undefined) overrides.host = flags.host;
  if (flags.port !== undefined) {
    if (!/^\d{1,5}$/.test(flags.port))
      return fail(`--port: must be an integer 0..65535, got "${flags.port}"`);
    overrides.port = Number(flags.port);
  }
  if (flags.data !== undefined) overrides.dataDir = flags.data;
  if (flags.journal !== undefined) overrides.journalUrl = flags.journal;
  if (flags.role !== undefined || flags.advertiseUrl !== undefined) {
    const { ROLES } = await import('./ha/roles.ts');
    if (flags.role !== undefined && !(ROLES as readonly string[]).includes(flags.role))
      return fail(`--role: one of ${ROLES.join(', ')}, got "${flags.role}"`);
    overrides.ha = {
      ...(flags.role !== undefined ? { role: flags.role as 'leader' } : {}),
      ...(flags.advertiseUrl !== undefined ? { advertiseUrl: flags.advertiseUrl } : {}),
    };
  }
  const warnings: string[] = [];
  let cfg: ServiceConfig;
  const load = (w: string[]) =>
    loadConfig({ ...(flags.config ? { file: flags.config } : {}), overrides, warnings: w });
  try {
    cfg = load(warnings);
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.message);
    throw e;
  }
  // Logs go through the CLI's stdout (one JSON object per line), so the CLI stays testable in-process.
  const logger = pino(
    { level: cfg.logLevel, base: { service: 'ringfence' } },
    { write: (line: string) => io.stdout(line) },
  );
  for (const w of warnings) logger.warn(w);
  if (cfg.keys.length === 0) logger.warn('no API keys configured: only public endpoints will answer');
  logger.info(
    { journal: redactUrl(cfg.journalUrl), store: storeKind(cfg.journalUrl), keys: cfg.keys.length },
    'starting',
  );
  let running: Running;
  try {
    running = await startServer(cfg, {
      logger,
      metrics: new Metrics({ defaultMetrics: true }),
      // Keys come from the file: a reload reads it (and the environment and flags) again, validated as at start.
      loadKeys: () => load([]).keys,
    });
  } catch (e) {
    if (e instanceof StoreConfigError || e instanceof JournalError) return fail(e.message);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
      return fail(`cannot listen on ${cfg.host}:${cfg.port} (${code})`);
    throw e;
  }
  logger.info(
    {
      url: running.url,
      seq: running.service.engine.seq,
      tickIntervalMs: cfg.tickIntervalMs,
      ...(running.ha ? { role: cfg.ha.role, leaseMs: running.ha.leaseMs } : {}),
    },
    'listening',
  );
  // SIGHUP re-reads the keys (a leaked key is revoked at once, without a restart); a bad file keeps the old ones.
  const onHup = () => {
    try {
      const r = running.app.ringfence.reloadKeys();
      logger.info({ keys: r.keys, revoked: r.revoked }, 'API keys reloaded');
    } catch (e) {
      logger.error(
        { err: e instanceof ConfigError ? e.message : e },
        'API keys not reloaded; the old ones stay',
      );
    }
  };
  return untilSignal(
    logger,
    'shutting down: no new requests; flushing the journal',
    () => running.close(),
    () => logger.info({ seq: running.service.engine.seq }, 'journal flushed and closed; bye'),
    onHup,
  );
}

/**
 * Runs until SIGINT or SIGTERM, then `close()`s: resolves 0 once closed (1 if closing failed). A second signal exits
 * at once. `onHup`, when given, handles SIGHUP meanwhile. `ringfence serve` in every role uses it.
 */
export function untilSignal(
  logger: pino.Logger,
  closing: string,
  close: () => Promise<void>,
  closed: () => void,
  onHup?: () => void,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const off = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (onHup) process.off('SIGHUP', onHup);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.error({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, closing);
      close().then(
        () => {
          closed();
          off();
          resolve(0);
        },
        (e: unknown) => {
          logger.error({ err: e }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    if (onHup) process.on('SIGHUP', onHup);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
