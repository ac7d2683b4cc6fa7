/**
 * Prometheus metrics (prom-client), one registry per service so several services (tests) never share counters.
 * Label values are bounded: command types and reject codes are closed sets, symbols and assets are bounded by the
 * engine's market limit, routes by the route table.
 */
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
}
