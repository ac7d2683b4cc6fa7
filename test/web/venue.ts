/**
 * A small venue for the browser tests and the screenshot script: `ringfence serve`'s own server (the web app at `/`,
 * REST, WebSocket) listening on a free loopback port, on a temp journal and the real clock (the browser signs with
 * it), with BTCUSDT marked at 20,000, a market maker (bob) resting on both sides, and a funded trader (alice).
 */
import type { AddressInfo } from 'node:net';
import { Metrics } from '../../src/service/metrics.ts';
import { type App, buildServer } from '../../src/service/server.ts';
import { Service } from '../../src/service/service.ts';
import { openStore } from '../../src/service/store.ts';
import { BTCUSDT, KEYS, type KeyName, signedFetch, tempDir, testConfig } from '../service/helpers.ts';

export interface Venue {
  base: string;
  service: Service;
  app: App;
  /** A signed call that must succeed (throws with the answer otherwise). */
  ok<T = Record<string, unknown>>(method: string, path: string, as: KeyName, body?: unknown): Promise<T>;
  mark(price: string, symbol?: string): Promise<void>;
  close(): Promise<void>;
}

export interface VenueOptions {
  /** Where BTCUSDT is marked and quoted at the start (default 20,000: the venues' published worked examples). */
  price?: number;
  /** The service's clock (default the real one); a script replaying history moves it. */
  now?: () => number;
  /** How far a signature's timestamp may be from that clock (a replay in the past needs more than 5 s). */
  recvWindowMs?: number;
}

export async function startVenue(o: VenueOptions = {}): Promise<Venue> {
  const td = tempDir();
  const cfg = testConfig(td.dir, {
    tickIntervalMs: 0,
    ...(o.recvWindowMs === undefined ? {} : { recvWindowMs: o.recvWindowMs }),
  });
  const metrics = new Metrics();
  const service = await Service.open({
    openStore: () => openStore(cfg.journalUrl),
    journal: cfg.journal,
    tickIntervalMs: cfg.tickIntervalMs,
    history: cfg.history,
    alerts: cfg.alerts,
    now: o.now ?? Date.now,
    metrics,
  });
  const app = await buildServer(service, cfg, { metrics });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const ok = async <T>(method: string, path: string, as: KeyName, body?: unknown): Promise<T> => {
    const r = await signedFetch(base, method, path, as, body);
    if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json as T;
  };
  const mark = async (price: string, symbol = 'BTCUSDT') => {
    await ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol, price });
  };
  const close = async () => {
    await app.close();
    await service.close();
    td.cleanup();
  };
  try {
    await seed(ok, mark, o.price ?? 20_000);
  } catch (e) {
    await close();
    throw e;
  }
  return { base, service, app, ok, mark, close };
}

export type Ok = <T = Record<string, unknown>>(
  method: string,
  path: string,
  as: KeyName,
  body?: unknown,
) => Promise<T>;

/** bob's resting quotes around `price`: [side, offset from price in %, amount]. */
const QUOTES = [
  ['sell', 0, '1'],
  ['sell', 0.05, '5'],
  ['sell', 0.25, '20'],
  ['buy', -0.05, '5'],
  ['buy', -0.25, '20'],
  ['buy', -2.5, '50'],
  ['buy', -5, '50'],
] as const;

/** Quotes `amount`s around `price` on BTCUSDT for bob, to the tick (0.1). */
export async function quote(ok: Ok, price: number, symbol = 'BTCUSDT', tick = 0.1): Promise<void> {
  for (const [side, pct, amount] of QUOTES) {
    const p = (Math.round((price * (1 + pct / 100)) / tick) * tick).toFixed(
      tick < 1 ? String(tick).length - 2 : 0,
    );
    await ok('POST', '/api/v1/orders', 'bob', { symbol, side, type: 'limit', price: p, amount });
  }
}

async function seed(ok: Ok, mark: (price: string) => Promise<void>, price: number): Promise<void> {
  await ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
  await mark(String(price));
  await ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'alice', asset: 'USDT', amount: '100000' });
  await ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'bob', asset: 'USDT', amount: '10000000' });
  await ok('POST', '/api/v1/admin/insurance', 'admin', { asset: 'USDT', amount: '50000' });
  await quote(ok, price);
}

export { KEYS };
