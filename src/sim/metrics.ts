/**
 * What a simulation run measures, derived from the engine's events as they come out of each command (and, at the
 * end, from the engine's state). Nothing here drives the run; the collector only watches.
 *
 * Definitions (the report repeats them):
 * - A *liquidation* is a `liquidationStarted` event: one bucket (an isolated position, a trader's cross
 *   positions in one asset, or a named silo's legs) found below maintenance. Its *stages* (`liquidation` events)
 *   close size through the book, the backstop or ADL; liquidated notional is Σ stage size × stage price.
 * - *Collateral lost* in a liquidation: the money that left the trader's accounts (free balance, reserves,
 *   isolated buckets, silos) for anyone else between its `liquidationStarted` and the next liquidation or
 *   auto-add event of the same command — realized losses and liquidation fees, net of anything paid back. Funding
 *   settled on the way is not counted.
 * - *Contagion* (the cross-margin effect): a trader is a contagion case when a liquidation closed one of their
 *   positions that was not itself underwater — judged alone, with the collateral it would carry isolated (its
 *   initial margin at entry, entry notional ÷ leverage, less funding it paid), its equity at the liquidation's mark
 *   was still at or above its own maintenance.
 * - *Spillover*, reported beside it: what a cross liquidation took beyond the standalone collateral of the
 *   positions it closed (money that backed the trader's other positions or sat free), and how many traders lost
 *   any. Isolated buckets carry their own collateral, so for them money leaving the trader from anywhere but the
 *   liquidated bucket is an *isolation breach*, which must stay 0; free balance moved in by auto-add and then lost
 *   is `autoAdd.lostAfter`.
 * - A *named silo* (the hybrid policy's netted silo) is one box, like an isolated bucket with several legs: its
 *   liquidation may take only its own bucket (money leaving the trader from anywhere else is an isolation breach),
 *   and closing its legs is not contagion, which counts closes beyond the failing box. Beside it, `silos.healthyLegs`
 *   counts the legs a silo's liquidation closed that alone, with their own initial margin, were still above
 *   maintenance (the cross test, applied inside the box): the price of pooling them.
 * - *Collateral in other assets* (isolated+btc-collateral): a silo's BTC counts in USDT at the index of the moment.
 *   A liquidation of a silo holding BTC starts by selling all of it to the fund (`collateralConverted`, reason
 *   `liquidation`, before its `liquidationStarted`): the BTC leaving counts as lost at its value at that index
 *   (amount × the conversion's price, rounded down), the proceeds as paid back, so the 5% penalty is part of what the
 *   liquidation took. Transfers of BTC and conversion transfers are never counted as settle money. A conversion at
 *   liquidation after which the silo stood (no `liquidationStarted` follows in the command) is `rescued`, and a
 *   shortfall conversion (a loss, fee or funding the silo's USDT could not pay) is no liquidation: both are counted
 *   apart, with their penalty.
 * - *Wiped out*: a trader whose final equity (free balance + reserves + buckets + unrealized PnL at the last mark
 *   − funding owed, and every silo's collateral; BTC, free or in a silo, at the last index) is at most 1% of what
 *   they deposited.
 * - *Insurance fund P&L*: the fund's cash change less its seeding, plus the unrealized PnL of the positions the
 *   backstop ('@insurance') took over, at the last marks, plus the collateral it bought in conversions at the last
 *   index. *Bad debt*: how far the fund's equity ended below zero.
 */
import { grossValue } from '../core/collateral.ts';
import type { Instrument } from '../core/instrument.ts';
import {
  initialMarginAtLeverage,
  type MarginConventions,
  notional,
  triggerMaintenance,
  unrealizedPnl,
} from '../core/margin.ts';
import { LEVERAGE_ONE } from '../core/rates.ts';
import { collateralAsset, collateralPrice } from '../engine/collateral.ts';
import type { Engine } from '../engine/engine.ts';
import { BACKSTOP_ACCOUNT } from '../engine/liquidation.ts';
import { pendingFunding } from '../engine/risk.ts';
import type { EngineEvent, MarginMode } from '../engine/types.ts';
import type { MarketMaker } from './market-maker.ts';
import type { Trader } from './population.ts';

export const SETTLE_ASSET = 'USDT';
/** The collateral asset of the isolated+btc-collateral policy: the base of the markets whose positions it funds. */
export const COLLATERAL_ASSET = 'BTC';
const NONE: number[] = [];
const NONE_BIG: bigint[] = [];
const INSURANCE_LABEL = `insurance:${SETTLE_ASSET}`;
/** Return bins of the loss distribution: [-100%, -90%), …, [90%, 100%), ≥ 100%. */
export const RETURN_BINS = 21;

export interface StageFigures {
  count: number;
  notional: bigint;
}

/** Conversions of a collateral asset to the insurance fund, for one reason. */
export interface ConversionFigures {
  count: number;
  /** Units of the asset sold (satoshis for BTC). */
  amount: bigint;
  /** What the fund paid (settle units). */
  proceeds: bigint;
  /** The amount at the index of the moment (settle units, rounded down): proceeds + the penalty. */
  value: bigint;
}

export interface PolicyFigures {
  liquidations: {
    events: number;
    positions: number;
    traders: number;
    notional: bigint;
    fees: bigint;
    stages: { book: StageFigures; backstop: StageFigures; adl: StageFigures };
  };
  collateralLost: bigint;
  wipedOut: number;
  contagion: {
    traders: number;
    closes: number;
    closeNotional: bigint;
    spillover: bigint;
    spilloverTraders: number;
  };
  isolationBreaches: number;
  /** The hybrid policy's netted silos (all zero under the other policies). */
  silos: {
    /** Silos created (traders who opted in). */
    traders: number;
    /** Legs opened in them, and Σ of their silo's standalone and netted initial margin right after each opened. */
    legs: number;
    standaloneInitialMargin: bigint;
    initialMargin: bigint;
    /** Silo liquidations (`liquidationStarted` of a named silo). */
    liquidations: number;
    /** Legs closed by their silo's liquidation that alone were still above maintenance; their traders, notional. */
    healthyLegs: { closes: number; traders: number; notional: bigint };
    /** Transfers out of a silo the engine refused (expected 0: the runner asks for at most the max removable). */
    refusedTransfers: number;
  };
  insurance: {
    seed: bigint;
    cash: bigint;
    backstopUnrealized: bigint;
    pnl: bigint;
    low: bigint;
    liquidationFees: bigint;
    covers: bigint;
    backstopRealized: bigint;
    backstopFunding: bigint;
    draws: number;
    /** Settle paid for collateral in conversions, and what the fund holds of it at the end, at the last index. */
    conversions: bigint;
    collateralValue: bigint;
  };
  adl: { events: number; notional: bigint; accounts: number; traders: number };
  badDebt: bigint;
  autoAdd: { events: number; amount: bigint; lostAfter: bigint; marginCalls: number };
  /**
   * The rebalancing agent (isolated+rebalance): moves between a trader's own silos, how much, how many traders it
   * moved for, and what it moved into a silo that was then liquidated and lost there (`lostAfter`, as auto-add's).
   */
  rebalance: { events: number; amount: bigint; traders: number; lostAfter: bigint };
  /**
   * Collateral in BTC (isolated+btc-collateral; zero elsewhere). BTC amounts in satoshis, money in settle units.
   */
  btcCollateral: {
    /** Traders funded in BTC, and those whose deposit bought less BTC than their legs need (funded in USDT then). */
    traders: number;
    cappedTraders: number;
    /** BTC bought at the first price, and what it cost. */
    bought: bigint;
    cost: bigint;
    /** BTC legs opened, the BTC their silos received, and opens that lacked free BTC (the rest in USDT). */
    legs: number;
    funded: bigint;
    usdtTopUps: number;
    conversions: { liquidation: ConversionFigures; shortfall: ConversionFigures };
    /** Conversions at liquidation after which the silo stood (no leg liquidated). */
    rescued: number;
    /** The fund's holdings of BTC at the end. */
    fundHeld: bigint;
  };
  /**
   * Volatility-adjusted margin (vol-adjusted): raises and cuts applied, the highest factor, each market's factor
   * averaged over time (the runner adds it up), and the liquidations started by the command that applied a raise.
   */
  dynamicMargin: {
    raises: number;
    cuts: number;
    /** Announced raises a later review withdrew before they applied. */
    withdrawn: number;
    maxFactor: bigint;
    meanFactor: number[];
    liquidationsAtRaise: number;
    /** The traders' maintenance beyond the static table's, averaged over the samples and at its peak (settle units). */
    lockedMean: bigint;
    lockedPeak: bigint;
  };
  opens: { planned: number; filled: number; rejected: Record<string, number> };
  exits: { planned: number; done: number; skipped: number };
  traders: { count: number; deposited: bigint; equity: bigint; liquidated: number };
  funding: { intervals: number; paused: number };
  returns: number[];
  conservation: { ok: boolean; problems: string[] };
  openInterest: Record<string, bigint>;
}

/** Per trader, in population order: so a summary can compare one group of traders across policies. */
export interface TraderFigures {
  /** Liquidations started on the trader's buckets. */
  liquidations: Uint32Array;
  /** Collateral lost in them. */
  lost: bigint[];
  /** Final equity (as `traders.equity`). */
  equity: bigint[];
  /** 1: a contagion case (as `contagion.traders`). */
  contagion: Uint8Array;
  /**
   * Per trader × market (a trader plans at most one position per market): 1 once it opened, the liquidations started
   * with it as the liquidated bucket's (or silo's first) leg, and at the first of them the mark and the entry price
   * (0: none).
   */
  positionOpened: Uint8Array;
  positionLiquidations: Uint32Array;
  firstLiquidationMark: bigint[];
  firstLiquidationEntry: bigint[];
}

/** Per chart bucket (a fixed number of path points). */
export interface PolicySeries {
  /** Liquidations started, per market × bucket (market-major). */
  liquidations: Int32Array;
  /** Liquidated notional per bucket, all markets (display only: floats). */
  liquidatedNotional: Float64Array;
  fundCash: Float64Array;
  fundEquity: Float64Array;
}

interface Span {
  trader: number;
  prefix: string;
  own: string;
  /** What failed: an isolated position, the cross bucket, or a named silo (a box of legs). */
  box: 'isolated' | 'cross' | 'silo';
  market: number;
  out: bigint;
  in: bigint;
  outOther: bigint;
  standalone: bigint;
  contagious: boolean;
  snapLots: number[];
  snapSign: number[];
  snapEntry: bigint[];
  snapFunding: bigint[];
}

export interface CollectorInput {
  engine: Engine;
  symbols: readonly string[];
  insts: readonly Instrument[];
  traders: readonly Trader[];
  makers: ReadonlyMap<string, MarketMaker>;
  bucketSize: number;
  buckets: number;
}

export class Collector {
  /** Current path point (set by the runner); events are charted in its bucket. */
  point = 0;
  readonly series: PolicySeries;
  private readonly m: number;
  private readonly conv: MarginConventions;
  private readonly traderIndex = new Map<string, number>();
  private readonly marketIndex = new Map<string, number>();
  // Shadow of every trader position (trader × market), from position and funding events.
  private readonly lots: Float64Array;
  private readonly sign: Int8Array;
  private readonly entry: bigint[];
  private readonly funding: bigint[];
  private readonly autoAdded: bigint[];
  private readonly leverage: Uint8Array;
  private readonly liquidatedPos: Uint8Array;
  private readonly liquidatedTrader: Uint8Array;
  private readonly contagionTrader: Uint8Array;
  private readonly spilloverTrader: Uint8Array;
  private readonly healthyLegTrader: Uint8Array;
  private readonly adlAccounts = new Set<string>();
  private span: Span | null = null;
  /** What the rebalancing agent moved into each silo (ledger label) and the traders it moved for. */
  private readonly rebalancedInto = new Map<string, bigint>();
  private readonly rebalancedTraders = new Set<string>();
  /** The backstop's position per market in lots (negative: short), from its position events. */
  readonly backstopLots: number[];
  private fundCash = 0n;
  /** Conversions at liquidation in the current command, by silo (ledger label), until that silo's liquidation starts. */
  private readonly converting = new Map<string, { value: bigint; proceeds: bigint }>();
  /** Lowest cash balance after a payment out of the fund (null: none yet). */
  private fundLow: bigint | null = null;

  readonly f: PolicyFigures;
  readonly byTrader: TraderFigures;

  constructor(private readonly input: CollectorInput) {
    const { traders, symbols } = input;
    this.m = symbols.length;
    this.backstopLots = symbols.map(() => 0);
    this.conv = input.engine.conventions;
    symbols.forEach((s, i) => {
      this.marketIndex.set(s, i);
    });
    traders.forEach((t, i) => {
      this.traderIndex.set(t.id, i);
    });
    const n = traders.length * this.m;
    this.lots = new Float64Array(n);
    this.sign = new Int8Array(n);
    this.entry = new Array<bigint>(n).fill(0n);
    this.funding = new Array<bigint>(n).fill(0n);
    this.autoAdded = new Array<bigint>(n).fill(0n);
    this.leverage = new Uint8Array(n);
    this.liquidatedPos = new Uint8Array(n);
    this.liquidatedTrader = new Uint8Array(traders.length);
    this.contagionTrader = new Uint8Array(traders.length);
    this.spilloverTrader = new Uint8Array(traders.length);
    this.healthyLegTrader = new Uint8Array(traders.length);
    this.byTrader = {
      liquidations: new Uint32Array(traders.length),
      lost: new Array<bigint>(traders.length).fill(0n),
      equity: new Array<bigint>(traders.length).fill(0n),
      contagion: this.contagionTrader,
      positionOpened: new Uint8Array(n),
      positionLiquidations: new Uint32Array(n),
      firstLiquidationMark: new Array<bigint>(n).fill(0n),
      firstLiquidationEntry: new Array<bigint>(n).fill(0n),
    };
    traders.forEach((t, i) => {
      for (const p of t.positions) this.leverage[i * this.m + p.market] = p.leverage;
    });
    const stage = (): StageFigures => ({ count: 0, notional: 0n });
    const conversion = (): ConversionFigures => ({ count: 0, amount: 0n, proceeds: 0n, value: 0n });
    this.f = {
      liquidations: {
        events: 0,
        positions: 0,
        traders: 0,
        notional: 0n,
        fees: 0n,
        stages: { book: stage(), backstop: stage(), adl: stage() },
      },
      collateralLost: 0n,
      wipedOut: 0,
      contagion: { traders: 0, closes: 0, closeNotional: 0n, spillover: 0n, spilloverTraders: 0 },
      isolationBreaches: 0,
      silos: {
        traders: 0,
        legs: 0,
        standaloneInitialMargin: 0n,
        initialMargin: 0n,
        liquidations: 0,
        healthyLegs: { closes: 0, traders: 0, notional: 0n },
        refusedTransfers: 0,
      },
      insurance: {
        seed: 0n,
        cash: 0n,
        backstopUnrealized: 0n,
        pnl: 0n,
        low: 0n,
        liquidationFees: 0n,
        covers: 0n,
        backstopRealized: 0n,
        backstopFunding: 0n,
        draws: 0,
        conversions: 0n,
        collateralValue: 0n,
      },
      adl: { events: 0, notional: 0n, accounts: 0, traders: 0 },
      badDebt: 0n,
      autoAdd: { events: 0, amount: 0n, lostAfter: 0n, marginCalls: 0 },
      rebalance: { events: 0, amount: 0n, traders: 0, lostAfter: 0n },
      btcCollateral: {
        traders: 0,
        cappedTraders: 0,
        bought: 0n,
        cost: 0n,
        legs: 0,
        funded: 0n,
        usdtTopUps: 0,
        conversions: { liquidation: conversion(), shortfall: conversion() },
        rescued: 0,
        fundHeld: 0n,
      },
      dynamicMargin: {
        raises: 0,
        cuts: 0,
        withdrawn: 0,
        maxFactor: 0n,
        meanFactor: [],
        liquidationsAtRaise: 0,
        lockedMean: 0n,
        lockedPeak: 0n,
      },
      opens: { planned: 0, filled: 0, rejected: {} },
      exits: { planned: 0, done: 0, skipped: 0 },
      traders: { count: traders.length, deposited: 0n, equity: 0n, liquidated: 0 },
      funding: { intervals: 0, paused: 0 },
      returns: new Array<number>(RETURN_BINS).fill(0),
      conservation: { ok: true, problems: [] },
      openInterest: {},
    };
    this.series = {
      liquidations: new Int32Array(this.m * input.buckets),
      liquidatedNotional: new Float64Array(input.buckets),
      fundCash: new Float64Array(input.buckets),
      fundEquity: new Float64Array(input.buckets),
    };
  }

  /** Shadow position of trader `t` on market `k` (for tests and the runner's exits). */
  positionLots(t: number, k: number): number {
    return this.lots[t * this.m + k]!;
  }

  onEvents(events: readonly EngineEvent[]): void {
    this.raised = false;
    for (const ev of events) this.onEvent(ev);
    this.endSpan();
    if (this.converting.size > 0) {
      // Sold everything at maintenance, and the silo stood in USDT: no liquidation followed.
      this.f.btcCollateral.rescued += this.converting.size;
      this.converting.clear();
    }
  }

  /** A dynamic-margin raise applied in the command being read (its liquidations are counted as the raise's). */
  private raised = false;

  private onEvent(ev: EngineEvent): void {
    switch (ev.type) {
      case 'transfer':
        this.onTransfer(ev);
        return;
      case 'position': {
        const t = this.traderIndex.get(ev.account);
        if (t === undefined) {
          if (ev.account === BACKSTOP_ACCOUNT) {
            const k = this.marketIndex.get(ev.symbol)!;
            this.backstopLots[k] =
              Number(ev.size / this.input.insts[k]!.lotSize) * (ev.side === 'short' ? -1 : 1);
          }
          return;
        }
        const k = this.marketIndex.get(ev.symbol)!;
        const i = t * this.m + k;
        const lots = Number(ev.size / this.input.insts[k]!.lotSize);
        if (this.lots[i] === 0 && lots > 0) {
          this.funding[i] = 0n;
          this.autoAdded[i] = 0n;
          this.byTrader.positionOpened[i] = 1;
        }
        this.lots[i] = lots;
        this.sign[i] = ev.side === null ? 0 : ev.side === 'long' ? 1 : -1;
        this.entry[i] = ev.entryPrice;
        return;
      }
      case 'fundingPaid': {
        const t = this.traderIndex.get(ev.account);
        if (t !== undefined) this.funding[t * this.m + this.marketIndex.get(ev.symbol)!]! += ev.amount;
        return;
      }
      case 'marginFactor': {
        const d = this.f.dynamicMargin;
        if (ev.status === 'withdrawn') d.withdrawn++;
        if (ev.status !== 'applied') return;
        if (ev.factor > ev.previous) {
          d.raises++;
          this.raised = true;
        } else d.cuts++;
        if (ev.factor > d.maxFactor) d.maxFactor = ev.factor;
        return;
      }
      case 'liquidationStarted':
        if (this.raised) this.f.dynamicMargin.liquidationsAtRaise++;
        this.endSpan();
        this.startSpan(ev.account, ev.symbol, ev.mode, ev.silo ?? null, ev.mark);
        return;
      case 'collateralConverted':
        this.onConverted(ev);
        return;
      case 'siloCreated':
        if (this.traderIndex.has(ev.account)) this.f.silos.traders++;
        return;
      case 'liquidation':
        this.onStage(ev);
        return;
      case 'adl': {
        const k = this.marketIndex.get(ev.symbol)!;
        this.f.adl.events++;
        this.f.adl.notional += notional(this.input.insts[k]!, ev.size, ev.price, 'ceil');
        this.adlAccounts.add(ev.account);
        return;
      }
      case 'autoAddMargin': {
        this.endSpan();
        this.f.autoAdd.events++;
        this.f.autoAdd.amount += ev.amount;
        const t = this.traderIndex.get(ev.account);
        if (t !== undefined) this.autoAdded[t * this.m + this.marketIndex.get(ev.symbol)!]! += ev.amount;
        return;
      }
      case 'marginCall':
        this.endSpan();
        this.f.autoAdd.marginCalls++;
        return;
      case 'collateralRebalanced': {
        this.endSpan();
        const r = this.f.rebalance;
        r.events++;
        r.amount += ev.amount;
        if (!this.rebalancedTraders.has(ev.account)) {
          this.rebalancedTraders.add(ev.account);
          r.traders++;
        }
        const into = `${ev.account}:silo:${ev.to}`;
        this.rebalancedInto.set(into, (this.rebalancedInto.get(into) ?? 0n) + ev.amount);
        return;
      }
      case 'insuranceDraw':
        this.f.insurance.draws++;
        return;
      case 'fundingRate':
        if (ev.paused) this.f.funding.paused++;
        else this.f.funding.intervals++;
        return;
      case 'trade': {
        const mm = this.input.makers.get(ev.maker);
        if (mm)
          mm.onTrade(
            ev.makerOrderId,
            Number(ev.size / this.input.insts[this.marketIndex.get(ev.symbol)!]!.lotSize),
          );
        return;
      }
      case 'orderCanceled': {
        const mm = this.input.makers.get(ev.account);
        if (mm) mm.onCanceled(ev.orderId);
        return;
      }
      default:
        return;
    }
  }

  /**
   * A trader's silo sold a holding to the fund: counted by reason; at liquidation, held for that silo's liquidation
   * (its `liquidationStarted` follows in the same command) as money out at the index and proceeds back.
   */
  private onConverted(ev: Extract<EngineEvent, { type: 'collateralConverted' }>): void {
    if (!this.traderIndex.has(ev.account) || ev.reason === 'rebalance') return;
    const e = this.input.engine;
    const c = collateralAsset(e, ev.asset, ev.settle)!;
    const priceDp = e.markets.get(c.priceMarket)!.inst.priceDp;
    const value = grossValue(ev.amount, c.dp, ev.price, priceDp, e.assets.get(ev.settle)!);
    const x = this.f.btcCollateral.conversions[ev.reason];
    x.count++;
    x.amount += ev.amount;
    x.proceeds += ev.proceeds;
    x.value += value;
    if (ev.reason !== 'liquidation') return;
    const own = `${ev.account}:silo:${ev.silo}`;
    const before = this.converting.get(own);
    this.converting.set(own, {
      value: (before?.value ?? 0n) + value,
      proceeds: (before?.proceeds ?? 0n) + ev.proceeds,
    });
  }

  private onTransfer(ev: Extract<EngineEvent, { type: 'transfer' }>): void {
    const ins = this.f.insurance;
    if (ev.to === INSURANCE_LABEL) {
      this.fundCash += ev.amount;
      if (ev.reason === 'insuranceFund') ins.seed += ev.amount;
      else if (ev.reason === 'liquidationFee') ins.liquidationFees += ev.amount;
      else if (ev.reason === 'realizedPnl') ins.backstopRealized += ev.amount;
      else if (ev.reason === 'funding') ins.backstopFunding += ev.amount;
    } else if (ev.from === INSURANCE_LABEL) {
      this.fundCash -= ev.amount;
      if (ev.reason === 'insuranceCover') ins.covers += ev.amount;
      else if (ev.reason === 'collateralConversion') ins.conversions += ev.amount;
      else if (ev.reason === 'realizedPnl') ins.backstopRealized -= ev.amount;
      else if (ev.reason === 'funding') ins.backstopFunding -= ev.amount;
      if (this.fundLow === null || this.fundCash < this.fundLow) this.fundLow = this.fundCash;
    }
    const s = this.span;
    if (s === null || ev.reason === 'funding' || ev.reason === 'fundingResidue') return;
    // Only settle money is added up here; a conversion counts through its event, at the index (onConverted).
    if (ev.asset !== SETTLE_ASSET || ev.reason === 'collateralConversion') return;
    const fromMine = ev.from.startsWith(s.prefix);
    const toMine = ev.to.startsWith(s.prefix);
    if (fromMine && !toMine) {
      s.out += ev.amount;
      if (ev.from !== s.own) s.outOther += ev.amount;
    } else if (toMine && !fromMine) s.in += ev.amount;
  }

  private startSpan(
    account: string,
    symbol: string,
    mode: MarginMode,
    silo: string | null,
    mark: bigint,
  ): void {
    this.f.liquidations.events++;
    const k = this.marketIndex.get(symbol)!;
    this.series.liquidations[k * this.input.buckets + this.bucket()]!++;
    const t = this.traderIndex.get(account);
    if (t === undefined) return; // a non-trader (maker, desk) is not followed
    this.byTrader.liquidations[t]!++;
    const i = t * this.m + k;
    if (this.byTrader.positionLiquidations[i]!++ === 0) {
      this.byTrader.firstLiquidationMark[i] = mark;
      this.byTrader.firstLiquidationEntry[i] = this.entry[i]!;
    }
    if (!this.liquidatedTrader[t]) {
      this.liquidatedTrader[t] = 1;
      this.f.liquidations.traders++;
    }
    const base = t * this.m;
    const box = silo !== null ? 'silo' : mode;
    if (box === 'silo') this.f.silos.liquidations++;
    const converted = silo !== null ? this.converting.get(`${account}:silo:${silo}`) : undefined;
    if (converted !== undefined) this.converting.delete(`${account}:silo:${silo}`);
    // Both pooled boxes need the trader's positions as they were when the liquidation started (standalone test).
    const pooled = box !== 'isolated';
    this.span = {
      trader: t,
      prefix: `${account}:`,
      own:
        box === 'silo'
          ? `${account}:silo:${silo}`
          : box === 'isolated'
            ? `${account}:isolated:${symbol}`
            : `${account}:main:${SETTLE_ASSET}`,
      box,
      market: k,
      // The holdings the silo sold first: gone at their value at the index, the proceeds paid back into the bucket.
      out: converted?.value ?? 0n,
      in: converted?.proceeds ?? 0n,
      outOther: 0n,
      standalone: 0n,
      contagious: false,
      snapLots: pooled ? Array.from(this.lots.subarray(base, base + this.m)) : NONE,
      snapSign: pooled ? Array.from(this.sign.subarray(base, base + this.m)) : NONE,
      snapEntry: pooled ? this.entry.slice(base, base + this.m) : NONE_BIG,
      snapFunding: pooled ? this.funding.slice(base, base + this.m) : NONE_BIG,
    };
  }

  private onStage(ev: Extract<EngineEvent, { type: 'liquidation' }>): void {
    const k = this.marketIndex.get(ev.symbol)!;
    const inst = this.input.insts[k]!;
    const value = notional(inst, ev.size, ev.price, 'ceil');
    const L = this.f.liquidations;
    L.notional += value;
    L.fees += ev.fee;
    L.stages[ev.stage].count++;
    L.stages[ev.stage].notional += value;
    this.series.liquidatedNotional[this.bucket()]! += Number(value) / 1e8;
    const t = this.traderIndex.get(ev.account);
    if (t === undefined) return;
    const i = t * this.m + k;
    if (!this.liquidatedPos[i]) {
      this.liquidatedPos[i] = 1;
      L.positions++;
    }
    const s = this.span;
    if (s === null || s.trader !== t || s.box === 'isolated') return;
    // Standalone test of the closed position, as it stood when the liquidation started.
    const lots = s.snapLots[k]!;
    if (lots <= 0 || s.snapSign[k] === 0) return;
    const size = BigInt(lots) * inst.lotSize;
    const pos = {
      side: s.snapSign[k]! > 0 ? ('long' as const) : ('short' as const),
      size,
      entryPrice: s.snapEntry[k]!,
    };
    const lev = BigInt(this.leverage[i]! || 1) * LEVERAGE_ONE;
    const own =
      initialMarginAtLeverage(notional(inst, size, pos.entryPrice, 'ceil'), lev) - s.snapFunding[k]!;
    const equity = own + unrealizedPnl(inst, pos, ev.mark);
    if (equity >= triggerMaintenance(inst, this.conv, pos, ev.mark)) {
      if (s.box === 'cross') {
        s.contagious = true;
        this.f.contagion.closes++;
        this.f.contagion.closeNotional += value;
      } else {
        const h = this.f.silos.healthyLegs;
        h.closes++;
        h.notional += value;
        if (!this.healthyLegTrader[t]) {
          this.healthyLegTrader[t] = 1;
          h.traders++;
        }
      }
    }
    if (own > 0n) s.standalone += (own * ev.size) / size;
  }

  private endSpan(): void {
    const s = this.span;
    if (s === null) return;
    this.span = null;
    const lost = s.out - s.in;
    if (lost > 0n) {
      this.f.collateralLost += lost;
      this.byTrader.lost[s.trader]! += lost;
    }
    if (s.box === 'cross') {
      const spill = lost - s.standalone;
      if (spill > 0n) {
        this.f.contagion.spillover += spill;
        if (!this.spilloverTrader[s.trader]) {
          this.spilloverTrader[s.trader] = 1;
          this.f.contagion.spilloverTraders++;
        }
      }
    } else {
      // An isolated bucket or a named silo: its loss is its own.
      if (s.outOther > 0n) this.f.isolationBreaches++;
      const i = s.trader * this.m + s.market;
      const fromAutoAdd =
        lost > 0n && s.box === 'isolated' ? (lost < this.autoAdded[i]! ? lost : this.autoAdded[i]!) : 0n;
      if (fromAutoAdd > 0n) {
        this.f.autoAdd.lostAfter += fromAutoAdd;
        this.autoAdded[i]! -= fromAutoAdd;
      }
      const moved = s.box === 'silo' && lost > 0n ? (this.rebalancedInto.get(s.own) ?? 0n) : 0n;
      if (moved > 0n) {
        const fromAgent = lost < moved ? lost : moved;
        this.f.rebalance.lostAfter += fromAgent;
        this.rebalancedInto.set(s.own, moved - fromAgent);
      }
    }
    if (s.contagious && !this.contagionTrader[s.trader]) {
      this.contagionTrader[s.trader] = 1;
      this.f.contagion.traders++;
    }
  }

  private bucket(): number {
    return Math.min(this.input.buckets - 1, Math.floor(this.point / this.input.bucketSize));
  }

  /** The fund's cash and equity (cash + the backstop's unrealized PnL at the current marks). */
  fund(): { cash: bigint; equity: bigint } {
    const e = this.input.engine;
    const cash = e.insuranceFund(SETTLE_ASSET);
    let upnl = 0n;
    const a = e.accounts.get(BACKSTOP_ACCOUNT);
    if (a) {
      for (const p of a.positions.values()) {
        if (p.sign === 0 || p.market.mark === null) continue;
        upnl +=
          unrealizedPnl(
            p.market.inst,
            { side: p.sign > 0 ? 'long' : 'short', size: p.size, entryPrice: p.entryPrice },
            p.market.mark,
          ) - pendingFunding(p);
      }
    }
    return { cash, equity: cash + upnl + this.fundCollateral() };
  }

  /** What the fund holds in other assets (bought in conversions), at their index now. */
  private fundCollateral(): bigint {
    const e = this.input.engine;
    let v = 0n;
    for (const c of e.collateralAssets.values())
      if (c.settle === SETTLE_ASSET) v += this.valueOf(c.asset, e.insuranceFund(c.asset));
    return v;
  }

  /** Problems valuing holdings (an asset without a price): reported with the ledger's, never silently zero. */
  private readonly unvalued: string[] = [];

  /** `amount` of a collateral asset in settle units at its index now (rounded down); 0 for the settle asset's own. */
  private valueOf(asset: string, amount: bigint): bigint {
    if (amount === 0n) return 0n;
    const e = this.input.engine;
    const c = collateralAsset(e, asset, SETTLE_ASSET);
    const p = c === null ? null : collateralPrice(e, c);
    if (c === null || p === null) {
      if (this.unvalued.length < 10)
        this.unvalued.push(`${amount} units of ${asset} have no price in ${SETTLE_ASSET}`);
      return 0n;
    }
    return grossValue(amount, c.dp, p.price, p.priceDp, e.assets.get(SETTLE_ASSET)!);
  }

  /** Records the fund at the end of the current bucket. */
  sample(): void {
    const b = this.bucket();
    const { cash, equity } = this.fund();
    this.series.fundCash[b] = Number(cash) / 1e8;
    this.series.fundEquity[b] = Number(equity) / 1e8;
  }

  /** Final figures from the engine's state. */
  finish(extra?: { deposit: readonly bigint[]; equity: readonly bigint[] }): PolicyFigures {
    this.endSpan();
    const e = this.input.engine;
    const f = this.f;
    const { cash, equity } = this.fund();
    f.insurance.cash = cash;
    f.insurance.collateralValue = this.fundCollateral();
    f.insurance.backstopUnrealized = equity - cash - f.insurance.collateralValue;
    f.insurance.pnl = equity - f.insurance.seed;
    f.badDebt = equity < 0n ? -equity : 0n;
    f.insurance.low = this.fundLow === null || cash < this.fundLow ? cash : this.fundLow;
    f.adl.accounts = this.adlAccounts.size;
    f.adl.traders = [...this.adlAccounts].filter((a) => this.traderIndex.has(a)).length;
    f.traders.liquidated = f.liquidations.traders;
    for (const [ti, t] of this.input.traders.entries()) {
      const a = e.accounts.get(t.id);
      let eq = 0n;
      if (a) {
        for (const [asset, w] of a.wallets) {
          const held = w.main.balance + w.reserved.balance;
          eq += asset === SETTLE_ASSET ? held : this.valueOf(asset, held);
        }
        for (const silo of a.silos.values()) {
          eq += silo.bucket.balance;
          for (const [asset, h] of silo.holdings) eq += this.valueOf(asset, h.balance);
        }
        for (const p of a.positions.values()) {
          eq += p.bucket.balance;
          if (p.sign === 0 || p.market.mark === null) continue;
          eq +=
            unrealizedPnl(
              p.market.inst,
              { side: p.sign > 0 ? 'long' : 'short', size: p.size, entryPrice: p.entryPrice },
              p.market.mark,
            ) - pendingFunding(p);
        }
      }
      // Beyond the account (the vaults policy): a stake deposited on top, and what of it is still in vault shares.
      const deposit = t.deposit + (extra?.deposit[ti] ?? 0n);
      eq += extra?.equity[ti] ?? 0n;
      f.traders.deposited += deposit;
      f.traders.equity += eq;
      this.byTrader.equity[ti] = eq;
      if (eq * 100n <= deposit) f.wipedOut++;
      // Return bin: floor((eq / deposit − (−1)) × 10), clamped.
      const bin = deposit > 0n ? Number((eq * 10n) / deposit) : 0;
      f.returns[Math.max(0, Math.min(RETURN_BINS - 1, bin))]!++;
    }
    for (const [sym, m] of e.markets) f.openInterest[sym] = m.size(m.openInterestLots);
    if (e.collateralAssets.size > 0) f.btcCollateral.fundHeld = e.insuranceFund(COLLATERAL_ASSET);
    const v = e.ledger.verify();
    const problems = [...v.problems, ...this.unvalued];
    f.conservation = { ok: problems.length === 0, problems: problems.slice(0, 10) };
    return f;
  }
}
