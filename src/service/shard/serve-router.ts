/**
 * `ringfence serve --role router --config router.json`: load the router's config, listen, log each shard's state
 * once at start (a shard down or answering under another name is worth a line, not a refusal: the router is stateless
 * and routes to it as soon as it is up), and close on SIGINT/SIGTERM — stop accepting, tell WebSocket clients, let
 * requests in flight finish. A second signal exits at once.
 */
import { pino } from 'pino';
import type { CliIO } from '../../cli/calc.ts';
import { ConfigError } from '../config.ts';
import { untilSignal } from '../serve.ts';
import { Discovery } from './discovery.ts';
import { type RunningRouter, startRouter } from './router.ts';
import { loadRouterConfig, type RouterConfig } from './router-config.ts';

export interface RouterFlags {
  config?: string;
  host?: string;
  port?: string;
}

export async function runRouter(flags: RouterFlags, io: CliIO, env = process.env): Promise<number> {
  const fail = (msg: string) => {
    io.stderr(`ringfence serve --role router: ${msg}\n`);
    return 2;
  };
  const file = flags.config ?? env.RINGFENCE_CONFIG;
  if (!file) return fail('--config <file> with a "router" section is required');
  if (flags.port !== undefined && !/^\d{1,5}$/.test(flags.port))
    return fail(`--port: must be an integer 0..65535, got "${flags.port}"`);
  let cfg: RouterConfig;
  try {
    cfg = loadRouterConfig(file, {
      ...(flags.host !== undefined ? { host: flags.host } : {}),
      ...(flags.port !== undefined ? { port: Number(flags.port) } : {}),
    });
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.message);
    throw e;
  }
  const logger = pino(
    { level: cfg.logLevel, base: { service: 'ringfence', role: 'router' } },
    { write: (line: string) => io.stdout(line) },
  );
  let running: RunningRouter;
  try {
    running = await startRouter(cfg, { logger });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
      return fail(`cannot listen on ${cfg.host}:${cfg.port} (${code})`);
    throw e;
  }
  logger.info({ url: running.url, shards: cfg.shards.map((s) => s.name) }, 'listening');
  void new Discovery(cfg.shards, cfg.requestTimeoutMs).status().then((all) => {
    for (const s of all) {
      if (s.status === 'unavailable')
        logger.warn({ shard: s.name, error: s.error }, 'shard not reachable yet');
      else if (s.consistent === false)
        logger.error(
          { shard: s.name, reported: s.reported, configured: s.markets },
          'shard reports another name or other markets',
        );
    }
  });
  return untilSignal(
    logger,
    'shutting down',
    () => running.close(),
    () => logger.info('closed; bye'),
  );
}
