/**
 * Prometheus metrics (prom-client), one registry per service so several services (tests) never share counters.
 * Label values are bounded: command types and reject codes are closed sets, symbols and assets are bounded by the
 * engine's market limit, routes by the route table.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsSource {
  /** Insurance fund balance per settle asset, as a float for the gauge (display only: money stays exact). */
  insuranceFunds(): { asset: string; balance: number }[];
  seq(): number;
  pending(): number;
  wsClients(): number;
  /** Stream messages handed to WebSocket subscribers so far (the hub's count). */
  wsDelivered(): number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly commands: Counter<'type' | 'result'>;
  readonly commandLatency: Histogram<'type'>;
  readonly liquidations: Counter<'symbol' | 'stage'>;
  readonly events: Counter<'type'>;
  readonly wsDropped: Counter<'reason'>;
  readonly wsMessages: Counter<'direction'>;
  readonly http: Counter<'route' | 'method' | 'status'>;
  /**
   * Per-command and per-event counts are plain map increments on the hot path (a labelled prom-client `inc` hashes
   * its labels each time); the counters read them when scraped.
   */
  readonly eventCounts = new Map<string, number>();
  /** WebSocket messages received and sent (`ringfence_ws_messages_total`), counted the same way. */
  readonly wsMessageCounts = { in: 0, out: 0 };
  /** HTTP requests by route, method and status (`ringfence_http_requests_total`), counted the same way. */
  private readonly httpCounts = new Map<
    string,
    { route: string; method: string; status: string; n: number }
  >();
  private readonly commandCounts = new Map<string, { type: string; result: string; n: number }>();
  /** Commands per whole second over the last RATE_WINDOW_S seconds (the stats read's commandsPerSecond). */
  readonly commandRate = new RateWindow(RATE_WINDOW_S);
  /** Event-loop delay, sampled while a server runs (buildServer starts and stops it). */
  readonly loopLag = new LoopLag();
  private source: MetricsSource | null = null;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const self = this;
    this.commands = new Counter({
      name: 'ringfence_commands_total',
      help: 'Engine commands submitted through the journal, by type and result (accepted or the reject code)',
      labelNames: ['type', 'result'],
      registers,
      collect() {
        this.reset();
        for (const c of self.commandCounts.values()) this.inc({ type: c.type, result: c.result }, c.n);
      },
    });
    this.commandLatency = new Histogram({
      name: 'ringfence_command_duration_seconds',
      help: 'Submit to acknowledgement (journal committed, or rejected) per command type',
      labelNames: ['type'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.liquidations = new Counter({
      name: 'ringfence_liquidations_total',
      help: 'Liquidation stages applied (book, backstop, adl), by market',
      labelNames: ['symbol', 'stage'],
      registers,
    });
    this.events = new Counter({
      name: 'ringfence_events_total',
      help: 'Committed engine events, by type',
      labelNames: ['type'],
      registers,
      collect() {
        this.reset();
        for (const [type, n] of self.eventCounts) this.inc({ type }, n);
      },
    });
    this.wsDropped = new Counter({
      name: 'ringfence_ws_dropped_total',
      help: 'WebSocket clients disconnected by the service (slow consumer, limits)',
      labelNames: ['reason'],
      registers,
    });
    this.wsMessages = new Counter({
      name: 'ringfence_ws_messages_total',
      help: 'WebSocket messages sent (out) and received (in)',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        const { in: received, out: sent } = self.wsMessageCounts;
        if (received > 0) this.inc({ direction: 'in' }, received);
        if (sent > 0) this.inc({ direction: 'out' }, sent);
      },
    });
    new Counter({
      name: 'ringfence_ws_messages_delivered_total',
      help: 'Stream messages handed to WebSocket subscribers (one per subscriber per message)',
      registers,
      collect() {
        this.reset();
        this.inc(self.source?.wsDelivered() ?? 0);
      },
    });
    this.http = new Counter({
      name: 'ringfence_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
      collect() {
        this.reset();
        for (const c of self.httpCounts.values())
          this.inc({ route: c.route, method: c.method, status: c.status }, c.n);
      },
    });
    new Gauge({
      name: 'ringfence_insurance_fund',
      help: 'Insurance fund balance per settle asset',
      labelNames: ['asset'],
      registers,
      collect() {
        this.reset();
        for (const f of self.source?.insuranceFunds() ?? []) this.set({ asset: f.asset }, f.balance);
      },
    });
    new Gauge({
      name: 'ringfence_ws_clients',
      help: 'Connected WebSocket clients',
      registers,
      collect() {
        this.set(self.source?.wsClients() ?? 0);
      },
    });
    new Gauge({
      name: 'ringfence_engine_seq',
      help: 'Sequence number of the last command the engine applied',
      registers,
      collect() {
        this.set(self.source?.seq() ?? 0);
      },
    });
    new Gauge({
      name: 'ringfence_journal_pending',
      help: 'Commands applied but not yet durable (open and in-flight journal batches)',
      registers,
      collect() {
        this.set(self.source?.pending() ?? 0);
      },
    });
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'ringfence_' });
  }

  countCommand(type: string, result: string): void {
    this.commandRate.add(performance.now());
    const key = `${type} ${result}`;
    const c = this.commandCounts.get(key);
    if (c) c.n += 1;
    else this.commandCounts.set(key, { type, result, n: 1 });
  }

  /** One HTTP request answered (the route's pattern, or 'unmatched'). */
  countHttp(route: string, method: string, status: number): void {
    const key = `${method} ${status} ${route}`;
    const c = this.httpCounts.get(key);
    if (c) c.n += 1;
    else this.httpCounts.set(key, { route, method, status: String(status), n: 1 });
  }

  attach(source: MetricsSource): void {
    this.source = source;
  }

  /**
   * Totals since start: commands submitted (every result), those rejected by the engine (results other than
   * `accepted` and `error`, a journal failure), and HTTP requests answered.
   */
  totals(): { commands: number; rejects: number; http: number } {
    let commands = 0;
    let rejects = 0;
    for (const c of this.commandCounts.values()) {
      commands += c.n;
      if (c.result !== 'accepted' && c.result !== 'error') rejects += c.n;
    }
    let http = 0;
    for (const c of this.httpCounts.values()) http += c.n;
    return { commands, rejects, http };
  }
}

/** Seconds `commandsPerSecond` averages over. */
export const RATE_WINDOW_S = 10;

/**
 * Events per whole second over the last `seconds` seconds, in a ring of per-second counts allocated once: `add` is a
 * division and an increment (no allocation), `perSecond` sums the ring. Times are `performance.now()` ms.
 */
export class RateWindow {
  private readonly counts: Float64Array;
  /** The second (performance.now() / 1000, floored) the newest bucket counts. */
  private head = 0;
  private readonly started = performance.now();

  constructor(readonly seconds: number) {
    this.counts = new Float64Array(seconds);
  }

  add(nowMs: number): void {
    this.advance(Math.floor(nowMs / 1000));
    const i = this.head % this.seconds;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
  }

  /**
   * The mean rate over the window ending now: the events of the current second and the `seconds − 1` before it,
   * over the time they span (less while the window is younger than that).
   */
  perSecond(nowMs: number): number {
    this.advance(Math.floor(nowMs / 1000));
    let n = 0;
    for (const c of this.counts) n += c;
    const span = Math.min(this.seconds - 1 + (nowMs % 1000) / 1000, (nowMs - this.started) / 1000);
    return span > 0 ? n / span : 0;
  }

  /** Moves the newest bucket to second `sec`, emptying the seconds skipped. */
  private advance(sec: number): void {
    if (sec <= this.head) return;
    const gap = Math.min(sec - this.head, this.seconds);
    for (let i = 1; i <= gap; i++) this.counts[(this.head + i) % this.seconds] = 0;
    this.head = sec;
  }
}

/**
 * Event-loop delay (perf_hooks.monitorEventLoopDelay) in windows of `windowMs`: the figures of the last complete
 * window (of the current one until the first completes), so a read reflects recent load, not the whole uptime.
 */
export class LoopLag {
  private readonly h: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private timer: NodeJS.Timeout | null = null;
  private last: { p99Ms: number; meanMs: number } | null = null;

  constructor(readonly windowMs = RATE_WINDOW_S * 1000) {}

  start(): void {
    if (this.timer) return;
    this.h.enable();
    this.timer = setInterval(() => {
      this.last = this.read();
      this.h.reset();
    }, this.windowMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.h.disable();
  }

  /** p99 and mean delay in ms (0 before any sample). */
  figures(): { p99Ms: number; meanMs: number } {
    return this.last ?? this.read();
  }

  private read(): { p99Ms: number; meanMs: number } {
    if (this.h.count === 0) return { p99Ms: 0, meanMs: 0 };
    return { p99Ms: this.h.percentile(99) / 1e6, meanMs: this.h.mean / 1e6 };
  }
}
