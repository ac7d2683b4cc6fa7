/**
 * The service core: the engine behind its journal, and everything derived from committed commands.
 *
 * - `submit(command)` stamps the time (the service's clock, never behind the engine's last command) and submits it
 *   through the Journal: a rejection comes back at once and changed nothing; an acceptance comes back only after
 *   its batch is durable. Every write — client requests, admin actions and the scheduled `tick` — goes this way.
 * - Events are published from the resolved promise, in seq order (the journal resolves in commit order and the
 *   continuation runs before any later one), so streams, the book mirror and the histories only ever contain
 *   committed state. `publish` asserts the order.
 * - A failed commit poisons the journal (the engine is ahead of the store): the service stops taking writes and
 *   account reads (503), reopens the store and rebuilds the engine from it, then resumes. Events never published are
 *   exactly those lost.
 * - Whenever the book mirror is rebuilt from the engine (after a recovery, or a publishing error), the listeners
 *   given to `onMirrorRebuilt` run synchronously with it, before any later delta: the WebSocket gateway sends every
 *   order-book subscriber a fresh snapshot there.
 */
import { formatDecimal } from '../core/fixed.ts';
import type { Engine } from '../engine/engine.ts';
import type { ApplyResult, Command, EngineEvent } from '../engine/types.ts';
import { Journal, type JournalOptions, JournalWriteError, type RecoveryReport } from '../journal/journal.ts';
import type { JournalStore, SnapshotInfo } from '../journal/store.ts';
import { eventId, fillOf, fmtLevels, fmtPrice, fmtSize, publicTrade, wireEvent } from './codec.ts';
import { defaultConfig, type ServiceConfig } from './config.ts';
import { ApiError } from './errors.ts';
import { accountEventView, type Entry, fundingRateView, Histories } from './history.ts';
import { Hub, type PrivateTopic, privateKey, publicKey } from './hub.ts';
import type { Metrics } from './metrics.ts';
import { type BookDelta, Mirror } from './mirror.ts';
import { type Captured, captureOptionsTopic } from './options.ts';
import { siloItems } from './silos.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A command as clients and routes build it: the service stamps the time. */
export type CommandInput = DistributiveOmit<Command, 'time'>;

/** pino's calling convention, so fastify's logger (or a silent stand-in) can be passed. */
export interface Log {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export const silentLog: Log = { info() {}, warn() {}, error() {} };

export interface ServiceOptions {
  /** Opens the journal store (again, after a failed commit). */
  openStore: () => Promise<JournalStore>;
  journal?: JournalOptions;
  /** The clock (ms since epoch); tests pass their own. */
  now?: () => number;
  /** 0 disables the scheduled tick. */
  tickIntervalMs?: number;
  history?: ServiceConfig['history'];
  log?: Log;
  metrics?: Metrics;
}

export interface Committed {
  seq: number;
  time: number;
  events: readonly EngineEvent[];
}

export class Service {
  journal: Journal;
  mirror: Mirror;
  readonly hub = new Hub();
  readonly history: Histories;
  readonly now: () => number;
  readonly log: Log;
  readonly metrics: Metrics | null;
  /** The last seq published (every accepted seq is published exactly once, in order). */
  published: number;
  recovery: RecoveryReport;
  private readonly opts: ServiceOptions;
  private tickTimer: NodeJS.Timeout | null = null;
  private tickInFlight = false;
  private unavailable: string | null = null;
  private recovering: Promise<void> | null = null;
  private closed = false;
  private readonly rebuildListeners = new Set<(mirror: Mirror) => void>();

  private constructor(opts: ServiceOptions, journal: Journal, report: RecoveryReport) {
    this.opts = opts;
    this.journal = journal;
    this.recovery = report;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLog;
    this.metrics = opts.metrics ?? null;
    this.history = new Histories(opts.history ?? defaultConfig().history);
    this.mirror = Mirror.fromEngine(journal.engine);
    this.published = journal.engine.seq;
  }

  /** Opens the store, recovers the engine from it, and starts the scheduled tick. */
  static async open(opts: ServiceOptions): Promise<Service> {
    const store = await opts.openStore();
    let opened: { journal: Journal; report: RecoveryReport };
    try {
      opened = await Journal.open(store, opts.journal);
    } catch (e) {
      await store.close();
      throw e;
    }
    const s = new Service(opts, opened.journal, opened.report);
    for (const line of opened.report.log) s.log.info(line);
    s.startTicks();
    return s;
  }

  get engine(): Engine {
    return this.journal.engine;
  }

  /**
   * Submits a command; resolves with the engine's result once durable (or at once when rejected). Never throws:
   * a refusal (shutting down, recovering) is a rejected promise. One `then` on the journal's promise does all the
   * work — publishing, metrics, the answer — so an acknowledgement costs one promise reaction, not a chain of them.
   */
  submit(input: CommandInput): Promise<ApplyResult & { time: number }> {
    if (this.closed) return Promise.reject(new ApiError(503, 'UNAVAILABLE', 'the service is shutting down'));
    if (this.unavailable) return Promise.reject(new ApiError(503, 'UNAVAILABLE', this.unavailable));
    const time = Math.max(this.now(), this.engine.lastTime);
    const cmd = { ...input, time } as Command;
    const t0 = this.metrics ? performance.now() : 0;
    const seqBefore = this.engine.seq;
    let pending: Promise<ApplyResult>;
    try {
      pending = this.journal.submit(cmd);
    } catch (e) {
      pending = Promise.reject(e);
    }
    // The journal applies synchronously: a stream item that needs the state after exactly this command (a vol
    // update's marks and IVs) is captured now, and published with the command once it is committed.
    const captured = this.engine.seq !== seqBefore ? this.capture(cmd) : null;
    return pending.then(
      (res) => {
        // Runs in commit order, before any later command's continuation: publish here, not after another await.
        if (res.ok) {
          this.safePublish({ seq: res.seq, time, events: res.events });
          if (captured) this.publishCaptured(res.seq, time, captured);
        }
        if (this.metrics) {
          this.metrics.countCommand(cmd.type, res.ok ? 'accepted' : res.code);
          this.metrics.commandLatency.observe({ type: cmd.type }, (performance.now() - t0) / 1e3);
        }
        return { ...res, time };
      },
      (e: unknown) => {
        this.metrics?.countCommand(cmd.type, 'error');
        this.journalFailed(e);
        throw new ApiError(503, 'UNAVAILABLE', 'the journal could not commit; the service is recovering');
      },
    );
  }

  /** Snapshots the engine now; resolves once the snapshot is saved (after its seq is durable). */
  async snapshot(): Promise<SnapshotInfo> {
    if (this.closed) throw new ApiError(503, 'UNAVAILABLE', 'the service is shutting down');
    if (this.unavailable) throw new ApiError(503, 'UNAVAILABLE', this.unavailable);
    try {
      return await this.journal.snapshot();
    } catch (e) {
      this.log.error({ err: e }, 'on-demand snapshot failed');
      throw new ApiError(503, 'UNAVAILABLE', `snapshot failed: ${(e as Error).message}`);
    }
  }

  /** Stops the tick and closes the journal (flushing what is pending). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTicks();
    if (this.recovering) await this.recovering.catch(() => {});
    await this.journal.close();
  }

  /**
   * Calls `f` each time the book mirror is rebuilt from the engine, right after it (nothing is published in
   * between); returns the function that stops it.
   */
  onMirrorRebuilt(f: (mirror: Mirror) => void): () => void {
    this.rebuildListeners.add(f);
    return () => this.rebuildListeners.delete(f);
  }

  /** Replaces the mirror by one built from the engine (exactly the committed state) and tells the listeners. */
  private rebuildMirror(): void {
    this.mirror = Mirror.fromEngine(this.engine);
    this.mirrorStale = false;
    for (const f of this.rebuildListeners) {
      try {
        f(this.mirror);
      } catch (e) {
        this.log.error({ err: e }, 'a book mirror listener failed');
      }
    }
  }

  /** Whether the scheduled tick is running. */
  get ticking(): boolean {
    return this.tickTimer !== null;
  }

  startTicks(): void {
    const ms = this.opts.tickIntervalMs ?? 0;
    if (ms <= 0 || this.tickTimer) return;
    this.tickTimer = setInterval(() => this.tick(), ms);
  }

  stopTicks(): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
  }

  /** One scheduled tick (skipped while the previous one is still committing, or while unavailable). */
  tick(): void {
    if (this.tickInFlight || this.unavailable || this.closed) return;
    this.tickInFlight = true;
    this.submit({ type: 'tick' })
      .then((r) => {
        if (!r.ok) this.log.error({ code: r.code }, `tick rejected: ${r.message}`);
      })
      .catch((e: unknown) => this.log.error({ err: e }, 'tick failed'))
      .finally(() => {
        this.tickInFlight = false;
      });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Publishing (committed commands only)

  /**
   * The command is durable whatever happens here: a bug in publishing must neither fail the acknowledgement nor be
   * mistaken for a journal failure. It is logged; the book mirror is rebuilt from the engine at the next quiet
   * moment by `resyncMirror` (when nothing is pending, the engine is exactly the committed state).
   */
  private safePublish(c: Committed): void {
    try {
      this.publish(c);
    } catch (e) {
      this.log.error({ err: e, seq: c.seq }, 'publishing a committed command failed');
      this.published = c.seq;
      this.mirrorStale = true;
      setImmediate(() => this.resyncMirror());
    }
  }

  private mirrorStale = false;

  /** See submit; a failure here must not fail the command (it is applied), so it is logged and nothing is sent. */
  private capture(cmd: Command): Captured | null {
    try {
      return captureOptionsTopic(this.engine, this.hub, cmd);
    } catch (e) {
      this.log.error({ err: e }, 'capturing an options stream item failed');
      return null;
    }
  }

  /** Never throws: it runs on the acknowledgement path of a durable command (see safePublish). */
  private publishCaptured(seq: number, time: number, c: Captured): void {
    try {
      this.hub.publish(c.key, () => ({ topic: c.key, seq, time, data: [c.item] }));
    } catch (e) {
      this.log.error({ err: e, seq }, 'publishing an options stream item failed');
    }
  }

  /** Rebuilds the book mirror from the engine once nothing is pending (then the engine is the committed state). */
  private resyncMirror(): void {
    if (!this.mirrorStale || this.closed) return;
    if (this.journal.pending > 0) {
      setTimeout(() => this.resyncMirror(), 1);
      return;
    }
    this.rebuildMirror();
    this.log.warn({ seq: this.engine.seq }, 'book mirror rebuilt from the engine');
  }

  /** @internal Applies one committed command to everything derived from it. */
  publish(c: Committed): void {
    if (c.seq !== this.published + 1) {
      // Not fatal for clients, but a broken promise: say so loudly.
      this.log.error({ seq: c.seq, published: this.published }, 'published out of order');
    }
    this.published = c.seq;
    const deltas = this.mirror.apply(c.seq, c.time, c.events);
    for (const d of deltas.values()) this.publishBook(c, d);
    this.route(c);
  }

  private publishBook(c: Committed, d: BookDelta): void {
    const key = publicKey('orderbook', d.symbol);
    if (!this.hub.has(key)) return;
    const m = this.engine.markets.get(d.symbol)!;
    this.hub.publish(key, () => ({
      topic: key,
      type: 'delta',
      seq: c.seq,
      time: c.time,
      data: { symbol: d.symbol, bids: fmtLevels(m, d.bids), asks: fmtLevels(m, d.asks) },
    }));
  }

  /**
   * Histories, public topics, and one message per (private topic, account) for this command. Histories keep the
   * events themselves; stream messages are formatted only for topics someone subscribed to.
   */
  private route(c: Committed): void {
    const e = this.engine;
    const h = this.history;
    const hub = this.hub;
    let priv: Map<string, { topic: PrivateTopic; items: unknown[] }> | null = null;
    const toAccount = (topic: PrivateTopic, account: string, item: () => unknown) => {
      const key = privateKey(topic, account);
      if (!hub.has(key)) return;
      priv ??= new Map();
      let b = priv.get(key);
      if (!b) {
        b = { topic, items: [] };
        priv.set(key, b);
      }
      b.items.push(item());
    };
    let pub: Map<string, unknown[]> | null = null;
    const toPublic = (key: string, item: () => unknown) => {
      if (!hub.has(key)) return;
      pub ??= new Map();
      let b = pub.get(key);
      if (!b) {
        b = [];
        pub.set(key, b);
      }
      b.push(item());
    };
    const counts = this.metrics?.eventCounts;
    for (let i = 0; i < c.events.length; i++) {
      const ev = c.events[i]!;
      if (counts) counts.set(ev.type, (counts.get(ev.type) ?? 0) + 1);
      switch (ev.type) {
        case 'trade': {
          const x: Entry<typeof ev> = { seq: c.seq, index: i, time: c.time, ev };
          h.trades.push(ev.symbol, x);
          h.fills.push(ev.taker, x);
          h.fills.push(ev.maker, x);
          const m = e.markets.get(ev.symbol)!;
          const id = eventId(c.seq, i);
          toPublic(publicKey('trades', ev.symbol), () => publicTrade(m, ev, id, c.time));
          for (const role of ['taker', 'maker'] as const) {
            const account = role === 'taker' ? ev.taker : ev.maker;
            toAccount('fills', account, () => fillOf(m, ev, id, c.time, role));
            toAccount('orders', account, () => ({
              type: 'orderFilled',
              orderId: String(role === 'taker' ? ev.takerOrderId : ev.makerOrderId),
              symbol: ev.symbol,
              side: role === 'taker' ? ev.takerSide : ev.takerSide === 'buy' ? 'sell' : 'buy',
              price: fmtPrice(m, ev.price),
              size: fmtSize(m, ev.size),
              takerOrMaker: role,
              tradeId: id,
            }));
          }
          break;
        }
        case 'orderAccepted':
        case 'orderCanceled':
        case 'orderAmended':
        case 'comboFilled':
          toAccount('orders', ev.account, () => wireEvent(e, ev));
          break;
        case 'position':
        case 'marginModeSet':
        case 'leverageSet':
        case 'autoAddMarginSet':
          toAccount('positions', ev.account, () => wireEvent(e, ev));
          break;
        case 'fundingPaid':
          h.fundingPayments.push(ev.account, { seq: c.seq, index: i, time: c.time, ev });
          toAccount('positions', ev.account, () => wireEvent(e, ev));
          break;
        case 'marginCall':
          toAccount('marginCalls', ev.account, () => wireEvent(e, ev));
          break;
        case 'liquidationStarted':
        case 'liquidation':
        case 'adl':
        case 'autoAddMargin':
        case 'insuranceDraw': {
          const x: Entry<typeof ev> = { seq: c.seq, index: i, time: c.time, ev };
          h.accountLiquidations.push(ev.account, x);
          toAccount('liquidations', ev.account, () => accountEventView(e, x));
          if (ev.type === 'liquidation') {
            h.liquidations.push(ev.symbol, { seq: c.seq, index: i, time: c.time, ev });
            this.metrics?.liquidations.inc({ symbol: ev.symbol, stage: ev.stage });
          }
          break;
        }
        case 'markPrice':
        case 'indexPrice':
        case 'oracleStatus':
        case 'marketSettled':
          toPublic(publicKey('mark', ev.symbol), () => wireEvent(e, ev));
          break;
        case 'fundingRate':
          h.fundingRates.push(ev.symbol, { seq: c.seq, index: i, time: c.time, ev });
          toPublic(publicKey('funding', ev.symbol), () => fundingRateView(e.markets.get(ev.symbol)!, ev));
          break;
        case 'marketDelisted':
          h.forgetMarket(ev.symbol);
          break;
        case 'marketCreated':
        case 'transfer':
        case 'siloCreated':
        case 'siloClosed':
          break;
        default: {
          const never: never = ev;
          void never;
        }
      }
      // Named silos' lifecycle, collateral movements and legs, for their owners' `silos` topic.
      for (const x of siloItems(e, ev)) toAccount('silos', x.account, x.item);
    }
    if (pub) {
      for (const [key, items] of pub as Map<string, unknown[]>)
        hub.publish(key, () => ({ topic: key, seq: c.seq, time: c.time, data: items }));
    }
    if (priv) {
      for (const [key, b] of priv as Map<string, { topic: PrivateTopic; items: unknown[] }>)
        hub.publish(key, () => ({ topic: b.topic, seq: c.seq, time: c.time, data: b.items }));
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Failure and recovery

  private journalFailed(e: unknown): void {
    if (this.unavailable || this.closed) return;
    const why = e instanceof JournalWriteError ? 'journal commit failed' : 'engine halted';
    this.log.error({ err: e }, `${why}: refusing writes and recovering from the store`);
    this.unavailable = `${why}; the service is recovering`;
    this.recovering = this.recover().finally(() => {
      this.recovering = null;
    });
  }

  /** Reopens the store and rebuilds the engine from it; resumes writes on success (retries every 2 s otherwise). */
  private async recover(): Promise<void> {
    try {
      await this.journal.store.close();
    } catch (e) {
      this.log.warn({ err: e }, 'closing the failed store');
    }
    for (;;) {
      if (this.closed) return;
      try {
        const store = await this.opts.openStore();
        const { journal, report } = await Journal.open(store, this.opts.journal);
        this.journal = journal;
        this.recovery = report;
        this.published = journal.engine.seq;
        this.rebuildMirror();
        for (const line of report.log) this.log.info(line);
        this.unavailable = null;
        this.log.info({ seq: journal.engine.seq }, 'recovered; accepting writes again');
        return;
      } catch (e) {
        this.log.error({ err: e }, 'recovery failed; retrying in 2 s');
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
  }

  /** True while writes are refused (recovering from a failed commit). */
  get degraded(): string | null {
    return this.unavailable;
  }

  /** The insurance fund per settle asset (exact, formatted). */
  insuranceFunds(): { asset: string; balance: string }[] {
    const e = this.engine;
    return [...e.assets.keys()].sort().map((asset) => ({
      asset,
      balance: formatDecimal(e.insuranceFund(asset), e.assets.get(asset)!),
    }));
  }
}
