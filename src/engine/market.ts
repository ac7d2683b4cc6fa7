/**
 * A market at run time: its instrument (core), fee and band parameters, order book, prices and the ledger
 * accounts it settles through. Prices and sizes cross into the book as integer ticks and lots (safe JS
 * integers, bounded below), and back to bigint for margin math.
 */
import {
  ceilDiv,
  div,
  formatDecimal,
  InputError,
  parseDecimal,
  parseScaledSafe,
  pow10,
} from '../core/fixed.ts';
import type { FundingCap } from '../core/funding.ts';
import { DEFAULT_CLAMP, impactNotional } from '../core/funding.ts';
import type { Instrument } from '../core/instrument.ts';
import { buildInstrument, type MarketSpec } from '../core/presets.ts';
import { parseLeverage, parseRate, RATE_ONE } from '../core/rates.ts';
import type { Position } from './account.ts';
import { OrderBook } from './book.ts';
import { DynamicMargin } from './dynamic-margin.ts';
import { FundingState } from './funding.ts';
import type { Ledger, LedgerAccount } from './ledger.ts';
import { LiquidationIndex } from './liquidation-index.ts';
import { type OptionTerms, optionTerms, type VolFeed } from './option-terms.ts';
import { OracleState } from './oracle.ts';
import { TriggerIndex } from './trigger-index.ts';
import { type LiquidationSpec, type MarketConfig, Rejection } from './types.ts';

/** A market's liquidation policy, parsed (see LiquidationSpec). Rates at RATE_DP. */
export interface LiquidationConfig {
  feeRate: bigint;
  partial: 'full' | 'restore' | 'tier';
  buffer: bigint;
  chunkNotional: bigint | null;
  chunkFraction: bigint;
  cooldownMs: number;
  backstopRatio: bigint;
  limitAt: bigint;
  adlRanking: 'pnlLeverage' | 'leveragePnl';
  /** Options: the backstop's price is the mark moved this far against the liquidated holder (RATE_DP). */
  optionDiscount: bigint;
}

/** Bounds that keep ticks and lots safe integers and every command's work bounded. */
export const MAX_PRICE_TICKS = 2 ** 47;
export const MAX_LOTS = 2 ** 50;
export const MAX_LEVELS_PER_SIDE = 10_000;

/** The instrument a market config describes (throws InputError on a bad field); the one mapping from config. */
export function instrumentOf(config: MarketConfig): Instrument {
  return buildInstrument(marketSpecOf(config));
}

/** A market config as the core's MarketSpec (what a venue preset lists): the fields the instrument is built from. */
export function marketSpecOf(config: MarketConfig): MarketSpec {
  return {
    symbol: config.symbol,
    kind: config.kind,
    base: config.base,
    quote: config.quote,
    tickSize: config.tickSize,
    lotSize: config.lotSize,
    multiplier: config.multiplier ?? '1',
    settleDp: config.settleDp,
    maxLeverage: config.maxLeverage,
    risk: config.risk,
    // An option expires at its option.expiry (settled by options.ts, not as a future).
    expiry: config.option?.expiry ?? config.expiry ?? null,
  };
}

export class Market {
  readonly symbol: string;
  /**
   * The instrument in force: the config's, its risk scaled by the dynamic-margin factor when one applies
   * (dynamic-margin.ts; the only writer). `baseInst` is the config's.
   */
  inst: Instrument;
  readonly baseInst: Instrument;
  /** Volatility-adjusted margin (config.dynamicMargin), or null. */
  readonly dynamicMargin: DynamicMargin | null;
  readonly takerFee: bigint;
  readonly makerFee: bigint;
  readonly limitBand: bigint;
  readonly marketBand: bigint;
  readonly maxOrderLots: number;
  readonly defaultLeverage: bigint;
  readonly book = new OrderBook({ maxLevelsPerSide: MAX_LEVELS_PER_SIDE });
  mark: bigint | null = null;
  last: bigint | null = null;
  /** Sum of long lots (= sum of short lots): open interest. */
  openInterestLots = 0;
  clearing!: LedgerAccount;
  fees!: LedgerAccount;
  insurance!: LedgerAccount;
  fundingPool!: LedgerAccount;
  readonly oracle: OracleState | null;
  funding: FundingState | null = null;
  /** Every position ever opened here (for expiry settlement: a once-per-market scan). */
  readonly positions = new Set<Position>();
  /** Open positions, and those of them not yet settled to the current funding index. */
  openPositions = 0;
  unsettledFunding = 0;
  /** Index TWAP accumulator over the settlement window (dated futures). */
  twapNum = 0n;
  twapMs = 0n;
  lastIndexTime = 0;
  closed = false;
  /** Closed to new risk by `closeMarket`: reduce-only orders only (positions wind down). */
  reduceOnly = false;
  /** Actions paused by the oracle policy, to report transitions. */
  readonly paused = new Set<string>();
  readonly liquidation: LiquidationConfig;
  /** Positions by trigger price (a cache of state, rebuilt from positions; see liquidation-index.ts). */
  readonly liqIndex: LiquidationIndex;
  /** Untriggered stop-loss / take-profit orders by trigger price (a cache of the accounts' open orders: trigger-index.ts). */
  readonly triggers: TriggerIndex;
  /** An option market's terms (from config.option); null for perpetuals and futures. */
  readonly option: OptionTerms | null;
  /** An option market's vol feed (one per underlying and expiry): a link, rebuilt by options.ts linkOptions. */
  optionFeed: VolFeed | null = null;

  /** Tick and lot as numbers for the parsing fast path (both far below 2^53 by construction). */
  private tickN = 0;
  private lotN = 0;

  /** Validates and builds everything that can fail; touches no shared state (see `attach`). */
  constructor(readonly config: MarketConfig) {
    this.inst = instrumentOf(config);
    this.baseInst = this.inst;
    this.symbol = config.symbol;
    this.option = config.option ? optionTerms(config) : null;
    this.takerFee = parseRate(config.takerFee, 'takerFee', { signed: true });
    this.makerFee = parseRate(config.makerFee, 'makerFee', { signed: true });
    if (this.takerFee < 0n) throw new InputError('takerFee', 'must not be negative');
    if (-this.makerFee > this.takerFee)
      throw new InputError('makerFee', 'a maker rebate may not exceed the taker fee');
    this.limitBand = parseRate(config.limitBand ?? '0.1', 'limitBand');
    this.marketBand = parseRate(config.marketBand ?? '0.05', 'marketBand');
    const maxOrder = parseDecimal(config.maxOrderSize ?? '1000000', 'maxOrderSize', {
      dp: this.inst.sizeDp,
      positive: true,
    });
    this.maxOrderLots = Number(maxOrder / this.inst.lotSize);
    if (!(this.maxOrderLots >= 1 && this.maxOrderLots <= MAX_LOTS))
      throw new InputError('maxOrderSize', 'out of range');
    if (
      this.inst.tickSize > BigInt(Number.MAX_SAFE_INTEGER) ||
      this.inst.lotSize > BigInt(Number.MAX_SAFE_INTEGER)
    ) {
      throw new InputError('tickSize', 'tick and lot must be below 2^53 units');
    }
    // Prices are at most MAX_PRICE_TICKS ticks: a tick so small that a price of 1 is out of range (1e-18 allows
    // nothing above 0.00014) leaves a market no real price can be set on. Refuse it rather than run it.
    if (BigInt(MAX_PRICE_TICKS) * this.inst.tickSize < pow10(this.inst.priceDp))
      throw new InputError(
        'tickSize',
        `too small: prices are at most 2^47 ticks, so the highest settable price would be below 1`,
      );
    this.tickN = Number(this.inst.tickSize);
    this.lotN = Number(this.inst.lotSize);
    this.defaultLeverage = parseLeverage(config.defaultLeverage ?? '10', 'defaultLeverage');
    if (this.defaultLeverage > this.inst.maxLeverage)
      throw new InputError('defaultLeverage', 'above maxLeverage');
    this.oracle = config.oracle ? new OracleState(this.oracleConfig(config.oracle)) : null;
    // With no index yet every guarded action starts paused, so the first good quote reports resumes only.
    if (this.oracle) for (const a of ['increaseRisk', 'withdraw', 'liquidate', 'funding']) this.paused.add(a);
    if (config.funding) this.fundingSpecCheck(config.funding);
    if (config.funding && this.inst.type === 'future')
      throw new InputError('funding', 'dated futures do not fund');
    this.liquidation = liquidationConfig(config.liquidation ?? {}, this.inst.settleDp);
    if (config.dynamicMargin !== undefined && (config.oracle === undefined || config.option !== undefined))
      throw new InputError(
        'dynamicMargin',
        'needs an oracle (its index drives the volatility) and is not for options',
      );
    this.dynamicMargin = config.dynamicMargin !== undefined ? new DynamicMargin(config.dynamicMargin) : null;
    this.liqIndex = new LiquidationIndex(this.inst);
    this.triggers = new TriggerIndex(this.inst.tickSize);
    const w = config.settlementWindowMs ?? 30 * 60_000;
    if (!Number.isSafeInteger(w) || w < 0)
      throw new InputError('settlementWindowMs', 'must be a non-negative integer');
  }

  private oracleConfig(o: NonNullable<MarketConfig['oracle']>) {
    if (!Array.isArray(o.sources) || o.sources.length === 0 || o.sources.length > 32)
      throw new InputError('oracle.sources', 'needs 1..32 sources');
    for (const src of o.sources) {
      if (typeof src.name !== 'string' || !Number.isSafeInteger(src.weight) || src.weight <= 0)
        throw new InputError('oracle.sources', 'each needs a name and a positive integer weight');
    }
    const int = (v: unknown, f: string) => {
      if (!Number.isSafeInteger(v) || (v as number) <= 0)
        throw new InputError(`oracle.${f}`, 'must be a positive integer');
      return v as number;
    };
    if (!['index', 'binance', 'hyperliquid'].includes(o.markMethod))
      throw new InputError('oracle.markMethod', 'index, binance or hyperliquid');
    if (new Set(o.sources.map((x) => x.name)).size !== o.sources.length)
      throw new InputError('oracle.sources', 'source names must be unique');
    // More sources required than configured: the index could never be valid and the market would stay paused.
    if (int(o.minSources, 'minSources') > o.sources.length)
      throw new InputError(
        'oracle.minSources',
        `${o.minSources} exceeds the ${o.sources.length} configured source${o.sources.length === 1 ? '' : 's'}`,
      );
    return {
      sources: o.sources,
      stalenessMs: int(o.stalenessMs, 'stalenessMs'),
      maxDeviation: parseRate(o.maxDeviation, 'oracle.maxDeviation'),
      minSources: int(o.minSources, 'minSources'),
      maxJump: parseRate(o.maxJump, 'oracle.maxJump'),
      markMethod: o.markMethod,
      emaTauMs: int(o.emaTauMs ?? 150_000, 'emaTauMs'),
      basisSamples: int(o.basisSamples ?? 60, 'basisSamples'),
    };
  }

  private fundingSpecCheck(f: NonNullable<MarketConfig['funding']>): void {
    if (!Number.isSafeInteger(f.intervalMs) || f.intervalMs < 60_000 || f.intervalMs > 86_400_000) {
      throw new InputError(
        'funding.intervalMs',
        'must be an integer from 60,000 (1 min) to 86,400,000 (24 h)',
      );
    }
    this.fundingCfg = {
      intervalMs: f.intervalMs,
      interestRate: parseRate(f.interestRate, 'funding.interestRate', { signed: true }),
      clamp: f.clamp === undefined ? DEFAULT_CLAMP : parseRate(f.clamp, 'funding.clamp'),
      cap: this.fundingCap(f.cap),
      impactNotional: impactNotional(
        parseDecimal(f.impactMargin, 'funding.impactMargin', { dp: this.inst.settleDp, positive: true }),
        this.firstTier().imr,
      ),
      priceSource: f.priceSource ?? 'mark',
    };
  }

  fundingCfg: import('./funding.ts').FundingConfig | null = null;

  private firstTier(): { mmr: bigint; imr: bigint } {
    const r = this.inst.risk;
    if (r.kind === 'tiers') return r.tiers[0]!;
    if (r.kind === 'sizeLinear') return { mmr: r.mmBase, imr: r.imBase };
    return { mmr: ceilDiv(r.imf * r.maintenanceFraction, RATE_ONE), imr: r.imf }; // as tiers.ratesFor: up
  }

  private fundingCap(c: NonNullable<MarketConfig['funding']>['cap']): FundingCap {
    const t = this.firstTier();
    switch (c?.kind) {
      case 'mmrMultiple':
        return { kind: 'mmrMultiple', k: parseRate(c.k, 'funding.cap.k'), mmr: t.mmr };
      case 'perHour':
        return { kind: 'perHour', cap: parseRate(c.cap, 'funding.cap.cap') };
      case 'marginSpread':
        return {
          kind: 'marginSpread',
          multiple: parseRate(c.multiple, 'funding.cap.multiple'),
          imf: t.imr,
          mmf: t.mmr,
        };
      case 'none':
        return { kind: 'none' };
      default:
        throw new InputError('funding.cap', 'kind must be mmrMultiple, perHour, marginSpread or none');
    }
  }

  get settlementWindowMs(): number {
    return this.config.settlementWindowMs ?? 30 * 60_000;
  }

  /** Opens the market's ledger accounts: called once the market is accepted. */
  attach(ledger: Ledger, time: number): void {
    const asset = this.inst.settleAsset;
    this.fundingPool = ledger.systemAccount('funding', asset, this.symbol);
    if (this.fundingCfg) this.funding = new FundingState(this.fundingCfg, time);
    this.dynamicMargin?.start(time);
    this.clearing = ledger.systemAccount('clearing', asset, this.symbol);
    this.fees = ledger.systemAccount('fees', asset);
    this.insurance = ledger.systemAccount('insurance', asset);
  }

  get asset(): string {
    return this.inst.settleAsset;
  }

  /** Parses an order price: positive, on the tick, within bounds → ticks. */
  priceTicks(input: unknown, field = 'price'): number {
    const fast = parseScaledSafe(input, this.inst.priceDp);
    if (fast !== null && fast > 0 && fast % this.tickN === 0 && fast / this.tickN <= MAX_PRICE_TICKS)
      return fast / this.tickN;
    const p = this.parse(input, field, this.inst.priceDp, 'INVALID_PRICE');
    if (p % this.inst.tickSize !== 0n) {
      throw new Rejection(
        'INVALID_PRICE',
        `${field} must be a multiple of the tick size ${this.fmtPrice(this.inst.tickSize)}`,
      );
    }
    const t = p / this.inst.tickSize;
    if (t > BigInt(MAX_PRICE_TICKS))
      throw new Rejection('INVALID_PRICE', `${field} is beyond the market's price range`);
    return Number(t);
  }

  /** Parses a size: positive, a multiple of the lot, within the order limit → lots. */
  sizeLots(input: unknown, field = 'size'): number {
    const fast = parseScaledSafe(input, this.inst.sizeDp);
    if (fast !== null && fast > 0 && fast % this.lotN === 0 && fast / this.lotN <= this.maxOrderLots)
      return fast / this.lotN;
    const s = this.parse(input, field, this.inst.sizeDp, 'INVALID_QUANTITY');
    if (s % this.inst.lotSize !== 0n) {
      throw new Rejection(
        'INVALID_QUANTITY',
        `${field} must be a multiple of the lot size ${this.fmtSize(this.inst.lotSize)}`,
      );
    }
    const lots = s / this.inst.lotSize;
    if (lots > BigInt(this.maxOrderLots)) {
      throw new Rejection(
        'INVALID_QUANTITY',
        `${field} exceeds the largest order of ${this.fmtSize(BigInt(this.maxOrderLots) * this.inst.lotSize)}`,
      );
    }
    return Number(lots);
  }

  private parse(
    input: unknown,
    field: string,
    dp: number,
    code: 'INVALID_PRICE' | 'INVALID_QUANTITY',
  ): bigint {
    try {
      return parseDecimal(input, field, { dp, positive: true, maxAbs: pow10(dp + 18) });
    } catch (e) {
      if (e instanceof InputError) throw new Rejection(code, e.message);
      throw e;
    }
  }

  price(ticks: number): bigint {
    // A fill asks for its price several times (both sides' plans, the settlement, the trade): the last one is kept.
    if (ticks === this.lastTicks && this.inst === this.lastPriceInst) return this.lastPrice;
    const t = this.inst.tickSize;
    const p = t === 1n ? BigInt(ticks) : BigInt(ticks) * t;
    this.lastTicks = ticks;
    this.lastPriceInst = this.inst;
    this.lastPrice = p;
    return p;
  }

  size(lots: number): bigint {
    // As price: the same lots are asked for again within a command (plan, settlement, events, re-filing).
    if (lots === this.lastLots && this.inst === this.lastSizeInst) return this.lastSize;
    const l = this.inst.lotSize;
    const s = l === 1n ? BigInt(lots) : BigInt(lots) * l;
    this.lastLots = lots;
    this.lastSizeInst = this.inst;
    this.lastSize = s;
    return s;
  }

  /** The last `price` and `size` answers, by ticks and lots (and the instrument they were scaled by). */
  private lastTicks = -1;
  private lastPriceInst: Instrument | null = null;
  private lastPrice = 0n;
  private lastLots = -1;
  private lastSizeInst: Instrument | null = null;
  private lastSize = 0n;

  /** The price a band allows around a reference: `up` = ref × (1 + band) rounded down to the tick, else rounded up. */
  bandTicks(ref: bigint, band: bigint, up: boolean): number {
    // Every order asks for a band edge, but the reference changes only with the mark: remember the last four.
    const key = up ? (band === this.limitBand ? 0 : 1) : band === this.limitBand ? 2 : 3;
    if (this.bandRef[key] === ref && this.bandFor[key] === band) return this.bandCache[key]!;
    const ticks = this.computeBand(ref, band, up);
    this.bandRef[key] = ref;
    this.bandFor[key] = band;
    this.bandCache[key] = ticks;
    return ticks;
  }

  private readonly bandRef: (bigint | null)[] = [null, null, null, null];
  private readonly bandFor: (bigint | null)[] = [null, null, null, null];
  private readonly bandCache: number[] = [0, 0, 0, 0];

  private computeBand(ref: bigint, band: bigint, up: boolean): number {
    const t = this.inst.tickSize;
    const bound = up
      ? div(ref * (RATE_ONE + band), RATE_ONE * t, 'floor')
      : div(ref * (RATE_ONE - band), RATE_ONE * t, 'ceil');
    const ticks = bound < 1n ? 1n : bound;
    return Number(ticks > BigInt(MAX_PRICE_TICKS) ? BigInt(MAX_PRICE_TICKS) : ticks);
  }

  /** Reference for bands and margin: mark, else last trade, else null. */
  reference(): bigint | null {
    return this.mark ?? this.last;
  }

  fmtPrice(p: bigint): string {
    return formatDecimal(p, this.inst.priceDp);
  }

  fmtSize(s: bigint): string {
    return formatDecimal(s, this.inst.sizeDp);
  }
}

function liquidationConfig(l: LiquidationSpec, settleDp: number): LiquidationConfig {
  if (typeof l !== 'object' || l === null) throw new InputError('liquidation', 'must be an object');
  const partial = l.partial ?? 'restore';
  if (!['full', 'restore', 'tier'].includes(partial))
    throw new InputError('liquidation.partial', 'full, restore or tier');
  const adlRanking = l.adlRanking ?? 'pnlLeverage';
  if (!['pnlLeverage', 'leveragePnl'].includes(adlRanking))
    throw new InputError('liquidation.adlRanking', 'pnlLeverage or leveragePnl');
  const cooldownMs = l.cooldownMs ?? (l.chunkNotional === undefined ? 0 : 30_000);
  if (!Number.isSafeInteger(cooldownMs) || cooldownMs < 0 || cooldownMs > 86_400_000)
    throw new InputError('liquidation.cooldownMs', 'must be an integer from 0 to 86,400,000');
  const feeRate = parseRate(l.feeRate ?? '0.005', 'liquidation.feeRate');
  const chunkFraction = parseRate(l.chunkFraction ?? '0.2', 'liquidation.chunkFraction');
  const backstopRatio = parseRate(l.backstopRatio ?? '0.6666666667', 'liquidation.backstopRatio');
  const limitAt = parseRate(l.limitAt ?? '0', 'liquidation.limitAt');
  if (feeRate > RATE_ONE / 10n) throw new InputError('liquidation.feeRate', 'at most 0.1');
  if (chunkFraction <= 0n || chunkFraction > RATE_ONE)
    throw new InputError('liquidation.chunkFraction', 'must be in (0, 1]');
  if (backstopRatio > RATE_ONE) throw new InputError('liquidation.backstopRatio', 'at most 1');
  if (limitAt > RATE_ONE) throw new InputError('liquidation.limitAt', 'at most 1');
  const optionDiscount = parseRate(l.optionDiscount ?? '0.1', 'liquidation.optionDiscount');
  if (optionDiscount > RATE_ONE / 2n) throw new InputError('liquidation.optionDiscount', 'at most 0.5');
  return {
    feeRate,
    partial,
    buffer: parseRate(l.buffer ?? '0.25', 'liquidation.buffer'),
    chunkNotional:
      l.chunkNotional === undefined
        ? null
        : parseDecimal(l.chunkNotional, 'liquidation.chunkNotional', { dp: settleDp, positive: true }),
    chunkFraction,
    cooldownMs,
    backstopRatio,
    limitAt,
    adlRanking,
    optionDiscount,
  };
}
