/**
 * A market at run time: its instrument (core), fee and band parameters, order book, prices and the ledger
 * accounts it settles through. Prices and sizes cross into the book as integer ticks and lots (safe JS
 * integers, bounded below), and back to bigint for margin math.
 */
import { div, formatDecimal, InputError, parseDecimal, pow10 } from '../core/fixed.ts';
import type { Instrument } from '../core/instrument.ts';
import { buildInstrument, type MarketSpec } from '../core/presets.ts';
import { parseLeverage, parseRate, RATE_ONE } from '../core/rates.ts';
import { OrderBook } from './book.ts';
import type { Ledger, LedgerAccount } from './ledger.ts';
import { type MarketConfig, Rejection } from './types.ts';

/** Bounds that keep ticks and lots safe integers and every command's work bounded. */
export const MAX_PRICE_TICKS = 2 ** 47;
export const MAX_LOTS = 2 ** 50;
export const MAX_LEVELS_PER_SIDE = 10_000;

export class Market {
  readonly symbol: string;
  readonly inst: Instrument;
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

  /** Validates and builds everything that can fail; touches no shared state (see `attach`). */
  constructor(readonly config: MarketConfig) {
    const spec: MarketSpec = {
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
      expiry: config.expiry ?? null,
    };
    this.inst = buildInstrument(spec);
    this.symbol = config.symbol;
    this.takerFee = parseRate(config.takerFee, 'takerFee', { signed: true });
    this.makerFee = parseRate(config.makerFee, 'makerFee', { signed: true });
    if (this.takerFee < 0n) throw new InputError('takerFee', 'must not be negative');
    if (-this.makerFee > this.takerFee) throw new InputError('makerFee', 'a maker rebate may not exceed the taker fee');
    this.limitBand = parseRate(config.limitBand ?? '0.1', 'limitBand');
    this.marketBand = parseRate(config.marketBand ?? '0.05', 'marketBand');
    const maxOrder = parseDecimal(config.maxOrderSize ?? '1000000', 'maxOrderSize', { dp: this.inst.sizeDp, positive: true });
    this.maxOrderLots = Number(maxOrder / this.inst.lotSize);
    if (!(this.maxOrderLots >= 1 && this.maxOrderLots <= MAX_LOTS)) throw new InputError('maxOrderSize', 'out of range');
    this.defaultLeverage = parseLeverage(config.defaultLeverage ?? '10', 'defaultLeverage');
    if (this.defaultLeverage > this.inst.maxLeverage) throw new InputError('defaultLeverage', 'above maxLeverage');
  }

  /** Opens the market's ledger accounts: called once the market is accepted. */
  attach(ledger: Ledger): void {
    const asset = this.inst.settleAsset;
    this.clearing = ledger.systemAccount('clearing', asset, this.symbol);
    this.fees = ledger.systemAccount('fees', asset);
    this.insurance = ledger.systemAccount('insurance', asset);
  }

  get asset(): string {
    return this.inst.settleAsset;
  }

  /** Parses an order price: positive, on the tick, within bounds → ticks. */
  priceTicks(input: unknown, field = 'price'): number {
    const p = this.parse(input, field, this.inst.priceDp, 'INVALID_PRICE');
    if (p % this.inst.tickSize !== 0n) {
      throw new Rejection('INVALID_PRICE', `${field} must be a multiple of the tick size ${this.fmtPrice(this.inst.tickSize)}`);
    }
    const t = p / this.inst.tickSize;
    if (t > BigInt(MAX_PRICE_TICKS)) throw new Rejection('INVALID_PRICE', `${field} is beyond the market's price range`);
    return Number(t);
  }

  /** Parses a size: positive, a multiple of the lot, within the order limit → lots. */
  sizeLots(input: unknown, field = 'size'): number {
    const s = this.parse(input, field, this.inst.sizeDp, 'INVALID_QUANTITY');
    if (s % this.inst.lotSize !== 0n) {
      throw new Rejection('INVALID_QUANTITY', `${field} must be a multiple of the lot size ${this.fmtSize(this.inst.lotSize)}`);
    }
    const lots = s / this.inst.lotSize;
    if (lots > BigInt(this.maxOrderLots)) {
      throw new Rejection('INVALID_QUANTITY', `${field} exceeds the largest order of ${this.fmtSize(BigInt(this.maxOrderLots) * this.inst.lotSize)}`);
    }
    return Number(lots);
  }

  private parse(input: unknown, field: string, dp: number, code: 'INVALID_PRICE' | 'INVALID_QUANTITY'): bigint {
    try {
      return parseDecimal(input, field, { dp, positive: true, maxAbs: pow10(dp + 18) });
    } catch (e) {
      if (e instanceof InputError) throw new Rejection(code, e.message);
      throw e;
    }
  }

  price(ticks: number): bigint {
    return BigInt(ticks) * this.inst.tickSize;
  }

  size(lots: number): bigint {
    return BigInt(lots) * this.inst.lotSize;
  }

  /** The price a band allows around a reference: `up` = ref × (1 + band) rounded down to the tick, else rounded up. */
  bandTicks(ref: bigint, band: bigint, up: boolean): number {
    const t = this.inst.tickSize;
    const bound = up ? div(ref * (RATE_ONE + band), RATE_ONE * t, 'floor') : div(ref * (RATE_ONE - band), RATE_ONE * t, 'ceil');
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

