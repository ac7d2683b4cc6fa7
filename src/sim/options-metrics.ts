/**
 * What an options policy measures beyond the Collector's figures (metrics.ts, which still counts liquidations,
 * collateral lost, wipe-outs, the fund and the isolation check for the writers): the collateral the writers' silos
 * lock, what their liquidations closed in coin terms, the losses beyond collateral the insurance fund paid for them,
 * and what expiry settlement paid or took — in total and per strategy. Watches the engine's events only.
 *
 * - *Collateral locked*: Σ of the writers' silo buckets, followed through every ledger transfer into or out of them
 *   (deposits moved in, fees, realized PnL, liquidation, closeSilo handing it back). `atOpen` sums each silo's bucket
 *   right after its strategy opened; `timeAverage` is the level weighted by time over the whole path (floor); `peak`
 *   the largest level at the end of a point.
 * - *Settlement P&L*: Σ over writer legs open at expiry of (settlement price − entry) × size, signed: the premium a
 *   writer kept less what its options paid out.
 */
import type { Instrument } from '../core/instrument.ts';
import { notional, unrealizedPnl } from '../core/margin.ts';
import type { EngineEvent } from '../engine/types.ts';
import { type OptionsWriter, WRITER_STRATEGIES, type WriterStrategy } from './options-writers.ts';

export type OptionsModel = 'standalone' | 'maxLoss' | 'strategy' | 'scenario';

export interface StrategyFigures {
  planned: number;
  opened: number;
  /** Writers whose silo was liquidated (at least once), and liquidations started on their silos. */
  liquidated: number;
  liquidations: number;
  deposited: bigint;
  collateralAtOpen: bigint;
  /** Final equity less deposits (set by the runner from the Collector's per-trader equity). */
  pnl: bigint;
}

export interface OptionsFigures {
  model: OptionsModel;
  writers: number;
  opened: number;
  rejected: Record<string, number>;
  closedEarly: number;
  collateral: {
    atOpen: bigint;
    /** Σ at open of the silo's initial margin under its model, and of its legs' standalone requirements. */
    requirementAtOpen: bigint;
    standaloneAtOpen: bigint;
    timeAverage: bigint;
    peak: bigint;
  };
  liquidations: { events: number; silos: number; notional: bigint; underlyingNotional: bigint };
  insuranceDraws: { count: number; amount: bigint };
  wipedOut: number;
  settlementPnl: bigint;
  deposited: bigint;
  pnl: bigint;
  byStrategy: Record<WriterStrategy, StrategyFigures>;
  listed: { expiries: number; markets: number; volQuotes: number; delisted: number };
}

interface Shadow {
  sign: 1 | -1;
  size: bigint;
  entryPrice: bigint;
}

export class OptionsWatcher {
  readonly f: OptionsFigures;
  private readonly byId = new Map<string, OptionsWriter>();
  private readonly labels = new Map<string, OptionsWriter>();
  private readonly liquidatedWriter = new Set<string>();
  /** Writers' option legs, by `${account} ${symbol}` (from position events). */
  private readonly legs = new Map<string, Shadow>();
  /** Legs that went flat in the current command, by symbol: a settlement's position events precede marketSettled. */
  private flattened = new Map<string, Shadow[]>();
  private level = 0n;
  private integral = 0n;
  private lastTime: number | null = null;
  private firstTime = 0;

  constructor(
    model: OptionsModel,
    writers: readonly OptionsWriter[],
    silo: string,
    /** The instrument of a market of the run (the perpetual or an option), by symbol. */
    private readonly instOf: (symbol: string) => Instrument,
    /** The underlying's notional of `size` at its current mark (liquidations in coin terms). */
    private readonly underlyingNotional: (size: bigint) => bigint,
    private readonly isOption: (symbol: string) => boolean,
  ) {
    const strategy = (): StrategyFigures => ({
      planned: 0,
      opened: 0,
      liquidated: 0,
      liquidations: 0,
      deposited: 0n,
      collateralAtOpen: 0n,
      pnl: 0n,
    });
    const byStrategy = Object.fromEntries(WRITER_STRATEGIES.map((s) => [s, strategy()])) as Record<
      WriterStrategy,
      StrategyFigures
    >;
    for (const w of writers) {
      this.byId.set(w.id, w);
      this.labels.set(`${w.id}:silo:${silo}`, w);
      byStrategy[w.strategy].planned++;
    }
    this.f = {
      model,
      writers: writers.length,
      opened: 0,
      rejected: {},
      closedEarly: 0,
      collateral: { atOpen: 0n, requirementAtOpen: 0n, standaloneAtOpen: 0n, timeAverage: 0n, peak: 0n },
      liquidations: { events: 0, silos: 0, notional: 0n, underlyingNotional: 0n },
      insuranceDraws: { count: 0, amount: 0n },
      wipedOut: 0,
      settlementPnl: 0n,
      deposited: 0n,
      pnl: 0n,
      byStrategy,
      listed: { expiries: 0, markets: 0, volQuotes: 0, delisted: 0 },
    };
  }

  reject(code: string): void {
    this.f.rejected[code] = (this.f.rejected[code] ?? 0) + 1;
  }

  /** A writer's strategy opened: its deposit, the silo's collateral and requirements right after. */
  opened(w: OptionsWriter, deposit: bigint, collateral: bigint, im: bigint, standalone: bigint): void {
    const s = this.f.byStrategy[w.strategy];
    s.opened++;
    s.deposited += deposit;
    s.collateralAtOpen += collateral;
    this.f.opened++;
    this.f.deposited += deposit;
    const c = this.f.collateral;
    c.atOpen += collateral;
    c.requirementAtOpen += im;
    c.standaloneAtOpen += standalone;
  }

  onEvents(events: readonly EngineEvent[]): void {
    for (const ev of events) this.onEvent(ev);
    if (this.flattened.size > 0) this.flattened = new Map();
  }

  private onEvent(ev: EngineEvent): void {
    switch (ev.type) {
      case 'transfer': {
        if (this.labels.has(ev.to)) this.level += ev.amount;
        if (this.labels.has(ev.from)) this.level -= ev.amount;
        return;
      }
      case 'position':
        this.onPosition(ev);
        return;
      case 'marketSettled': {
        const inst = this.instOf(ev.symbol);
        for (const p of this.flattened.get(ev.symbol) ?? [])
          this.f.settlementPnl += this.pnl(inst, p, ev.price);
        return;
      }
      case 'liquidationStarted': {
        const w = this.byId.get(ev.account);
        if (!w) return;
        this.f.liquidations.events++;
        this.f.byStrategy[w.strategy].liquidations++;
        if (!this.liquidatedWriter.has(w.id)) {
          this.liquidatedWriter.add(w.id);
          this.f.liquidations.silos++;
          this.f.byStrategy[w.strategy].liquidated++;
        }
        return;
      }
      case 'liquidation': {
        if (!this.byId.has(ev.account)) return;
        const L = this.f.liquidations;
        L.notional += notional(this.instOf(ev.symbol), ev.size, ev.price, 'ceil');
        L.underlyingNotional += this.underlyingNotional(ev.size);
        return;
      }
      case 'insuranceDraw':
        if (this.byId.has(ev.account)) {
          this.f.insuranceDraws.count++;
          this.f.insuranceDraws.amount += ev.amount;
        }
        return;
      default:
        return;
    }
  }

  private onPosition(ev: Extract<EngineEvent, { type: 'position' }>): void {
    if (!this.byId.has(ev.account) || !this.isOption(ev.symbol)) return;
    const key = `${ev.account} ${ev.symbol}`;
    const before = this.legs.get(key);
    if (ev.side === null || ev.size === 0n) {
      if (before) {
        this.legs.delete(key);
        const list = this.flattened.get(ev.symbol) ?? [];
        list.push(before);
        this.flattened.set(ev.symbol, list);
      }
      return;
    }
    this.legs.set(key, { sign: ev.side === 'long' ? 1 : -1, size: ev.size, entryPrice: ev.entryPrice });
  }

  private pnl(inst: Instrument, p: Shadow, price: bigint): bigint {
    const side = p.sign > 0 ? 'long' : 'short';
    return unrealizedPnl(inst, { side, size: p.size, entryPrice: p.entryPrice }, price);
  }

  /** At the end of every point: the level held since the last point counts for the time between them. */
  endPoint(time: number): void {
    if (this.lastTime === null) this.firstTime = time;
    else this.integral += this.level * BigInt(time - this.lastTime);
    this.lastTime = time;
    if (this.level > this.f.collateral.peak) this.f.collateral.peak = this.level;
  }

  finish(): OptionsFigures {
    const span = this.lastTime === null ? 0 : this.lastTime - this.firstTime;
    this.f.collateral.timeAverage = span > 0 ? this.integral / BigInt(span) : this.level;
    return this.f;
  }
}
