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
 *   exactly those lost. Under a leader lease (ha/roles.ts) the failure is handed to `onWriterLost` instead: a writer
 *   that was fenced or lost its lease must not take the stream over again by reopening it; it steps down.
 * - A follower (a hot standby or a read replica, ha/) refuses writes (NOT_LEADER) and applies the journal's records
 *   as the leader appends them (`followPage`), with recovery's checks, publishing each like a committed command: its
 *   streams, book mirror and histories are the leader's, a few ms behind. `lead` makes it the writer.
 * - Whenever the book mirror is rebuilt from the engine (after a recovery, or a publishing error), the listeners
 *   given to `onMirrorRebuilt` run synchronously with it, before any later delta: the WebSocket gateway sends every
 *   order-book subscriber a fresh snapshot there.
 */
import { formatDecimal } from '../core/fixed.ts';
import type { Engine } from '../engine/engine.ts';
import { stateHash } from '../engine/hash.ts';
import { type PositionView, positionView } from '../engine/readmodel.ts';
import type { ApplyResult, Command, EngineEvent } from '../engine/types.ts';
import { checkRecord, checkRecordAt } from '../journal/codec.ts';
import {
  Journal,
  type JournalOptions,
  JournalWriteError,
  type RecoveryReport,
  recover,
} from '../journal/journal.ts';
import { JournalError, type JournalStore, type RecordPage, type SnapshotInfo } from '../journal/store.ts';
import { type AlertSnapshot, Alerts, type MarginAlert } from './alerts.ts';
import { eventId, fillOf, fmtLevels, fmtPrice, fmtSize, publicTrade, wireEvent } from './codec.ts';
import { defaultConfig, type ServiceConfig } from './config.ts';
import { ApiError, type LeaderInfo, notLeader } from './errors.ts';
import { accountEventView, type Entry, fundingRateView, Histories, publicLiquidation } from './history.ts';
import {
  ALL_LIQUIDATIONS_KEY,
  ALL_LIQUIDATIONS_TOPIC,
  candleKey,
  Hub,
  insuranceKey,
  liquidationsKey,
  type PrivateTopic,
  privateKey,
  publicKey,
  VAULTS_KEY,
  vaultKey,
} from './hub.ts';
import type { Metrics } from './metrics.ts';
import { type BookDelta, Mirror } from './mirror.ts';
import { type Captured, captureOptionsTopic, withOptionFieldsOf } from './options.ts';
import { Candles, InsuranceHistory, insuranceJson, TIMEFRAMES, type Timeframe } from './series.ts';
import { siloItems } from './silos.ts';
import { type VaultCapture, VaultHistory, vaultPointJson } from './vault-series.ts';

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
  /** Margin-ratio alerts: default levels and hysteresis (see alerts.ts). */
  alerts?: ServiceConfig['alerts'];
  log?: Log;
  metrics?: Metrics;
  /**
   * Open as a follower (ha/): the engine is rebuilt from the store without writing to it (a damaged tail is left
   * for the writer to cut), writes are refused and nothing ticks until `lead`.
   */
  follower?: boolean;
  /**
   * Under a leader lease (ha/roles.ts): a failed commit (a fence, a lost lease, an engine that threw) is handed here
   * — the process steps down — instead of reopening the store as its writer.
   */
  onWriterLost?: (e: unknown) => void;
}

/** What /health and the write redirect read of the HA controller (ha/roles.ts). */
export interface HaState {
  /** This process's role now. */
  readonly role: 'leader' | 'standby' | 'replica';
  /** The leader as the lease names it (this process while it leads); null when none is known. */
  readonly leader: LeaderInfo | null;
  /** The journal's last seq as last seen by the follower; null while leading (it is the writer). */
  readonly streamSeq: number | null;
}

/** A journal store a writer can be stopped on at once (the JetStream store: `abort`). */
interface Abortable {
  abort?: (reason: Error) => void;
}

export interface Committed {
  seq: number;
  time: number;
  events: readonly EngineEvent[];
  /**
   * By event index: the position a `position` or `fundingPaid` event is about, as GET positions shows it right after
   * the command (null: flat), captured at apply time for accounts with a `positions` subscriber.
   */
  views?: ReadonlyMap<number, PositionView | null> | null;
}

export class Service {
  journal: Journal;
  mirror: Mirror;
  readonly hub = new Hub();
  readonly history: Histories;
  /** Margin-ratio alerts of the accounts with an `alerts` subscriber (alerts.ts). */
  readonly alerts: Alerts;
  /** OHLCV candles per market (series.ts). */
  readonly candles: Candles;
  /** The insurance fund per asset over time (series.ts). */
  readonly insurance: InsuranceHistory;
  /** Each vault's NAV, NAV per share and shares over time (vault-series.ts). */
  readonly vaultHistory: VaultHistory;
  readonly now: () => number;
  /** performance.now() when the service opened (its uptime; recoveries keep it). */
  readonly startedAt = performance.now();
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
  /** A follower (ha/): what a write is answered; null while this process is the writer. */
  private refusal: (() => ApiError) | null = null;
  /** Rebuild as a follower (nothing written to the store) rather than as the writer. */
  private following: boolean;
  /** The HA controller, when the service runs under a leader lease (ha/roles.ts). */
  ha: HaState | null = null;
  private readonly rebuildListeners = new Set<(mirror: Mirror) => void>();

  private constructor(opts: ServiceOptions, journal: Journal, report: RecoveryReport) {
    this.opts = opts;
    this.journal = journal;
    this.recovery = report;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? silentLog;
    this.metrics = opts.metrics ?? null;
    this.history = new Histories(opts.history ?? defaultConfig().history);
    const defaults = defaultConfig();
    this.alerts = new Alerts(opts.alerts ?? defaults.alerts);
    this.candles = new Candles(opts.history?.candles ?? defaults.history.candles);
    this.insurance = new InsuranceHistory(
      opts.history?.insurancePerAsset ?? defaults.history.insurancePerAsset,
    );
    this.insurance.reset(journal.engine);
    this.vaultHistory = new VaultHistory(opts.history?.vaultPoints ?? defaults.history.vaultPoints);
    this.mirror = Mirror.fromEngine(journal.engine);
    this.published = journal.engine.seq;
    this.following = opts.follower ?? false;
    if (this.following) this.refusal = () => notLeader(null, 'standby');
  }

  /** Opens the store, recovers the engine from it, and starts the scheduled tick (a follower: no tick). */
  static async open(opts: ServiceOptions): Promise<Service> {
    const opened = await openJournal(opts, opts.follower ?? false);
    const s = new Service(opts, opened.journal, opened.report);
    for (const line of opened.report.log) s.log.info(line);
    if (!s.following) s.startTicks();
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
    if (this.refusal) return Promise.reject(this.refusal());
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
    const applied = this.engine.seq !== seqBefore;
    const captured = applied ? this.capture(cmd) : null;
    const views = applied ? this.captureViews() : null;
    const alerts = applied ? this.captureAlerts() : null;
    const vaults = applied ? this.captureVaults(time) : null;
    return pending.then(
      (res) => {
        // Runs in commit order, before any later command's continuation: publish here, not after another await.
        if (res.ok) {
          this.safePublish({ seq: res.seq, time, events: res.events, views });
          if (captured) this.publishCaptured(res.seq, time, captured);
          if (alerts) this.publishAlerts(res.seq, time, alerts);
          if (vaults) this.publishVaults(res.seq, time, vaults);
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
    if (this.refusal) throw this.refusal();
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
    // The engine is exactly the committed state here: what the series follow from events is re-read from it.
    this.insurance.reset(this.engine);
    this.vaultHistory.reset();
    this.resyncAlerts();
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
    if (this.tickInFlight || this.unavailable || this.refusal || this.closed) return;
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

  /**
   * The `positions` stream's views (see Committed.views), read from the engine right after the command applied —
   * later commands may be applied before this one is committed and published. Null when no event needs one. A
   * failure is logged and the stream items go without views (the command is applied).
   */
  private captureViews(): Map<number, PositionView | null> | null {
    const e = this.engine;
    const evs = e.events;
    let out: Map<number, PositionView | null> | null = null;
    try {
      for (let i = 0; i < evs.length; i++) {
        const ev = evs[i]!;
        if (ev.type !== 'position' && ev.type !== 'fundingPaid') continue;
        if (!this.hub.has(privateKey('positions', ev.account))) continue;
        out ??= new Map();
        out.set(i, streamView(e, ev.account, ev.symbol, ev.silo ?? null));
      }
    } catch (err) {
      this.log.error({ err }, 'capturing position views for the positions stream failed');
      return null;
    }
    return out;
  }

  /** Margin alerts of the command just applied (alerts.ts); a failure is logged and sends nothing. */
  private captureAlerts(): Map<string, MarginAlert[]> | null {
    try {
      return this.alerts.capture(this.engine);
    } catch (e) {
      this.log.error({ err: e }, 'capturing margin alerts failed');
      return null;
    }
  }

  /** Never throws: it runs on the acknowledgement path of a durable command (see safePublish). */
  private publishAlerts(seq: number, time: number, alerts: Map<string, MarginAlert[]>): void {
    try {
      for (const [account, items] of alerts) {
        const key = privateKey('alerts', account);
        this.hub.publish(key, () => ({ topic: 'alerts', seq, time, data: items }));
      }
    } catch (e) {
      this.log.error({ err: e, seq }, 'publishing margin alerts failed');
    }
  }

  /**
   * The `alerts` snapshot of an account (its first subscriber starts following it): every open box with the level it
   * stands at, read from the engine now (like GET silos) under the engine's seq — alerts with a seq at or below it are
   * already in it.
   */
  alertSnapshot(account: string, resync = false): Record<string, unknown> {
    const snap: AlertSnapshot = this.alerts.snapshot(this.engine, account, resync);
    if (resync) snap.resync = true;
    return { topic: 'alerts', seq: this.engine.seq, time: this.engine.lastTime, data: [snap] };
  }

  /** After a recovery or new levels: every subscriber of the account (or of every followed one) gets a fresh snapshot. */
  resyncAlerts(account?: string): void {
    for (const a of account === undefined ? this.alerts.accounts() : [account]) {
      const key = privateKey('alerts', a);
      if (!this.hub.has(key)) continue;
      try {
        this.hub.publish(key, () => this.alertSnapshot(a, true));
      } catch (e) {
        this.log.error({ err: e, account: a }, 'an alerts snapshot failed');
      }
    }
  }

  /**
   * The vaults the command just applied changed: NAV, NAV per share and shares read now (vault-series.ts); null when
   * none. A failure is logged and records nothing (the command is applied).
   */
  private captureVaults(time: number): VaultCapture[] | null {
    try {
      const c = this.vaultHistory.capture(this.engine, time);
      return c.length === 0 ? null : c;
    } catch (e) {
      this.log.error({ err: e }, 'capturing vault NAVs failed');
      return null;
    }
  }

  /**
   * A committed command's vault points: into the history, and to the public `vaults` (every vault) and
   * `vaults.<VAULT>` streams. Never throws (see safePublish).
   */
  private publishVaults(seq: number, time: number, captured: VaultCapture[]): void {
    try {
      this.vaultHistory.commit(seq, time, captured);
      const e = this.engine;
      const item = (c: VaultCapture) => ({
        vault: c.vault,
        ...vaultPointJson(e, c.asset, { time, seq, nav: c.nav, nps: c.nps, totalShares: c.totalShares }),
      });
      if (this.hub.has(VAULTS_KEY))
        this.hub.publish(VAULTS_KEY, () => ({ topic: VAULTS_KEY, seq, time, data: captured.map(item) }));
      for (const c of captured) {
        const key = vaultKey(c.vault);
        this.hub.publish(key, () => ({ topic: key, seq, time, data: [item(c)] }));
      }
    } catch (e) {
      this.log.error({ err: e, seq }, 'publishing vault points failed');
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
    this.routeSeries(c);
  }

  /**
   * Candles (mark and last), the insurance fund's history and the public liquidation feeds, from this command's
   * events; the `candles.*` and `insurance.*` topics get at most one message per command.
   */
  private routeSeries(c: Committed): void {
    const e = this.engine;
    const hub = this.hub;
    // Allocated only for a command that needs them (most move no mark and liquidate nothing).
    let marked: Set<string> | null = null;
    let liq: Map<string, unknown[]> | null = null;
    const toFeed = (key: string, item: () => unknown) => {
      if (!hub.has(key)) return;
      liq ??= new Map();
      const b = liq.get(key);
      if (b) b.push(item());
      else liq.set(key, [item()]);
    };
    for (let i = 0; i < c.events.length; i++) {
      const ev = c.events[i]!;
      switch (ev.type) {
        case 'markPrice':
          this.candles.add('mark', ev.symbol, c.time, ev.price);
          marked ??= new Set();
          marked.add(ev.symbol);
          break;
        case 'trade':
          this.candles.add('last', ev.symbol, c.time, ev.price, ev.size);
          break;
        case 'transfer':
          this.insurance.transfer(ev.asset, ev.from, ev.to, ev.amount);
          break;
        case 'liquidation': {
          const x = { seq: c.seq, index: i, time: c.time, ev };
          const m = e.markets.get(ev.symbol)!;
          toFeed(liquidationsKey(ev.symbol), () => publicLiquidation(m, x));
          toFeed(ALL_LIQUIDATIONS_KEY, () => ({
            ...publicLiquidation(m, x),
            account: ev.account,
            silo: ev.silo ?? null,
          }));
          break;
        }
        case 'marketDelisted':
          this.candles.forget(ev.symbol);
          break;
        default:
          break;
      }
    }
    for (const symbol of marked ?? []) {
      const m = e.markets.get(symbol);
      if (!m) continue;
      for (const tf of Object.keys(TIMEFRAMES) as Timeframe[]) {
        const key = candleKey(symbol, tf);
        if (!hub.has(key)) continue;
        hub.publish(key, () => ({
          topic: key,
          seq: c.seq,
          time: c.time,
          data: [this.candles.current(m, 'mark', tf)],
        }));
      }
    }
    for (const p of this.insurance.commit(c.seq, c.time)) {
      const key = insuranceKey(p.asset);
      const dp = e.assets.get(p.asset) ?? 0;
      hub.publish(key, () => ({ topic: key, seq: c.seq, time: c.time, data: [insuranceJson(p, dp)] }));
    }
    if (liq) {
      // (Filled inside toFeed: TypeScript does not see that assignment, hence the cast, as in route.)
      for (const [key, items] of liq as Map<string, unknown[]>) {
        const topic = key === ALL_LIQUIDATIONS_KEY ? ALL_LIQUIDATIONS_TOPIC : key;
        hub.publish(key, () => ({ topic, seq: c.seq, time: c.time, data: items }));
      }
    }
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
        case 'orderTriggered': // a stop-loss / take-profit fired (its trades and cancel follow as for any order)
        case 'orderCanceled':
        case 'orderAmended':
        case 'comboFilled':
          toAccount('orders', ev.account, () => wireEvent(e, ev));
          break;
        case 'position':
          toAccount('positions', ev.account, () => withView(wireEvent(e, ev), c.views, i));
          break;
        case 'marginModeSet':
        case 'leverageSet':
        case 'autoAddMarginSet':
          toAccount('positions', ev.account, () => wireEvent(e, ev));
          break;
        case 'fundingPaid':
          h.fundingPayments.push(ev.account, { seq: c.seq, index: i, time: c.time, ev });
          toAccount('positions', ev.account, () => withView(wireEvent(e, ev), c.views, i));
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
        case 'marginFactor':
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
        case 'rebalancingSet':
        case 'collateralRebalanced':
        case 'collateralAssetSet':
        case 'collateralConverted':
        case 'vaultCreated':
        case 'shardTransfer':
          break;
        case 'vaultDeposit':
        case 'vaultWithdrawQueued':
        case 'vaultWithdraw':
          toAccount('vaultHoldings', ev.account, () => wireEvent(e, ev));
          break;
        case 'vaultFee':
          if (ev.from !== null) toAccount('vaultHoldings', ev.from, () => wireEvent(e, ev));
          toAccount('vaultHoldings', ev.to, () => wireEvent(e, ev));
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
    if (this.opts.onWriterLost) {
      this.opts.onWriterLost(e);
      return;
    }
    const why = e instanceof JournalWriteError ? 'journal commit failed' : 'engine halted';
    this.log.error({ err: e }, `${why}: refusing writes and recovering from the store`);
    this.unavailable = `${why}; the service is recovering`;
    this.recovering = this.recover().finally(() => {
      this.recovering = null;
    });
  }

  /**
   * Reopens the store and rebuilds the engine from it; resumes writes on success (a follower: resumes following)
   * (retries every 2 s otherwise).
   */
  private async recover(): Promise<void> {
    const old = this.journal.store;
    // A follower's store (or a deposed writer's) is closed at once, never drained: its connection may be cut off.
    if (this.following) (old as Abortable).abort?.(new Error('journal store reopened'));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([old.close(), new Promise((r) => (timer = setTimeout(r, 5_000)))]);
    } catch (e) {
      this.log.warn({ err: e }, 'closing the failed store');
    } finally {
      clearTimeout(timer);
    }
    for (;;) {
      if (this.closed) return;
      try {
        const { journal, report } = await openJournal(this.opts, this.following);
        if (this.closed) {
          await journal.close().catch(() => {});
          return;
        }
        this.journal = journal;
        this.recovery = report;
        this.published = journal.engine.seq;
        this.rebuildMirror();
        for (const line of report.log) this.log.info(line);
        this.unavailable = null;
        this.log.info(
          { seq: journal.engine.seq },
          this.following ? 'rebuilt from the journal; following it' : 'recovered; accepting writes again',
        );
        return;
      } catch (e) {
        this.log.error({ err: e }, 'recovery failed; retrying in 2 s');
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Following the journal and leading (ha/)

  /** Why a write is refused here (NOT_LEADER), or null while this process is the writer. */
  writeRefusal(): ApiError | null {
    return this.refusal?.() ?? null;
  }

  /** Whether this process is the journal's writer (not a follower). */
  get leading(): boolean {
    return this.refusal === null;
  }

  /** Answers writes with `refusal()` from now on (ha/roles.ts sets how a standby or a replica answers). */
  refuseWrites(refusal: () => ApiError): void {
    this.refusal = refusal;
  }

  /**
   * Applies one message's records, read back from the journal (the leader committed them), to the engine with the
   * checks recovery makes — checksum and decoding, consecutive seqs, each command accepted with exactly its seq, each
   * recorded state hash equal — and publishes each like a committed command. Throws a JournalError at the first that
   * fails them (those before it are applied): the engine must then be rebuilt from the store.
   */
  followPage(p: RecordPage): void {
    const { seqs, times, checksums, starts, ends, data, whole } = p;
    for (let i = 0; i < p.count; i++) {
      const w = whole.size === 0 ? undefined : whole.get(i);
      if (w !== undefined) {
        const c = checkRecord(w);
        this.followRecord(w.seq, w.stateHash, c.ok ? c.command : c.reason);
      } else {
        const seq = seqs[i]!;
        this.followRecord(
          seq,
          null,
          checkRecordAt(seq, times[i]!, checksums[i]!, null, data, starts[i]!, ends[i]!),
        );
      }
    }
    this.journal.followed(this.engine.seq);
  }

  private followRecord(seq: number, recordedHash: string | null, checked: Command | string): void {
    const e = this.engine;
    if (typeof checked === 'string')
      throw new JournalError('corrupt', seq, `journal corrupt at seq ${seq} (${checked})`);
    if (seq !== e.seq + 1)
      throw new JournalError(
        'gap',
        e.seq + 1,
        seq > e.seq + 1
          ? `journal gap: seq ${e.seq + 1} is missing (the next record is seq ${seq})`
          : `journal out of order: seq ${seq} after seq ${e.seq}`,
      );
    let res: ApplyResult;
    try {
      res = e.apply(checked);
    } catch (err) {
      throw new JournalError(
        'replay',
        seq,
        `replay: seq ${seq} (${checked.type}) threw: ${(err as Error).message}`,
      );
    }
    if (!res.ok || res.seq !== seq)
      throw new JournalError(
        'replay',
        seq,
        res.ok
          ? `replay: seq ${seq} (${checked.type}) was applied as seq ${res.seq}`
          : `replay: seq ${seq} (${checked.type}) was rejected: ${res.code} ${res.message}`,
      );
    if (recordedHash !== null) {
      const h = stateHash(e);
      if (h !== recordedHash)
        throw new JournalError(
          'hashMismatch',
          seq,
          `state hash mismatch at seq ${seq}: recorded ${recordedHash.slice(0, 16)}…, replay gives ${h.slice(0, 16)}…`,
        );
    }
    // Published as the leader published it: the same captures right after the command, then the command.
    const captured = this.capture(checked);
    const views = this.captureViews();
    const alerts = this.captureAlerts();
    const vaults = this.captureVaults(checked.time);
    this.safePublish({ seq, time: checked.time, events: res.events, views });
    if (captured) this.publishCaptured(seq, checked.time, captured);
    if (alerts) this.publishAlerts(seq, checked.time, alerts);
    if (vaults) this.publishVaults(seq, checked.time, vaults);
  }

  /**
   * Becomes the writer: the engine must be exactly the journal up to its end, and `store` must have adopted that end
   * as its fence (ha/roles.ts does both). Writes are accepted from now on, and the tick starts.
   */
  lead(store: JournalStore, lastSnapshot: SnapshotInfo | null): void {
    if (this.closed) throw new Error('the service is closed');
    const journal = new Journal(this.engine, store, this.opts.journal);
    journal.lastSnapshot = lastSnapshot;
    this.journal = journal;
    this.following = false;
    this.refusal = null;
    this.startTicks();
  }

  /**
   * Stops being the writer at once: writes are refused with `refusal()` from now on, the tick stops, and the store
   * aborts — the append in flight and every pending command fail now (503), nothing of them is acknowledged. The
   * engine, ahead of the journal by those commands, is then rebuilt from the store as a follower's (the promise; reads
   * answer 503 meanwhile).
   */
  stepDown(refusal: () => ApiError, reason: Error): Promise<void> {
    this.refusal = refusal;
    this.following = true;
    this.stopTicks();
    (this.journal.store as Abortable).abort?.(reason);
    return this.rebuild(`stepped down (${reason.message}); rebuilding the engine from the journal`);
  }

  /** Rebuilds the engine from the store (a follower whose stream could not be applied, a step-down); reads 503 meanwhile. */
  rebuild(why: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.recovering) return this.recovering;
    this.unavailable = why;
    this.log.warn({ seq: this.engine.seq }, why);
    this.recovering = this.recover().finally(() => {
      this.recovering = null;
    });
    return this.recovering;
  }

  /** Why writes and account reads are refused now (recovering from a failed commit, rebuilding a follower), or null. */
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

/**
 * Opens the store and rebuilds the engine from it: as the writer (`Journal.open`: a torn tail is cut) or as a
 * follower (nothing is written to the store).
 */
async function openJournal(
  opts: ServiceOptions,
  follower: boolean,
): Promise<{ journal: Journal; report: RecoveryReport }> {
  const store = await opts.openStore();
  try {
    if (!follower) return await Journal.open(store, opts.journal);
    const report = await recover(store, { ...opts.journal, repair: false });
    const journal = new Journal(report.engine, store, opts.journal);
    journal.lastSnapshot = (await store.listSnapshots())[0] ?? null;
    return { journal, report };
  } catch (e) {
    (store as Abortable).abort?.(e instanceof Error ? e : new Error(String(e)));
    await store.close();
    throw e;
  }
}

/** A position as GET positions shows it (option terms and Greeks included); null when flat or gone. */
function streamView(e: Engine, account: string, symbol: string, silo: string | null): PositionView | null {
  const p = e.accounts.get(account)?.positions.get(silo === null ? symbol : `${silo}/${symbol}`);
  if (!p || p.sign === 0) return null;
  return withOptionFieldsOf(e, account, [positionView(e, p)])[0]!;
}

/**
 * A `positions` stream item with the position's view after the command (`view`, null when flat) and its
 * `liquidationPrice` and `liquidationDistancePercent` beside the event's fields. Without a captured view (the
 * subscription began while the command was being committed) the item is the event alone.
 */
function withView(
  item: Record<string, unknown>,
  views: ReadonlyMap<number, PositionView | null> | null | undefined,
  i: number,
): Record<string, unknown> {
  const v = views?.get(i);
  if (v === undefined) return item;
  return {
    ...item,
    liquidationPrice: v?.liquidationPrice ?? null,
    liquidationDistancePercent: v?.liquidationDistancePercent ?? null,
    view: v,
  };
}
