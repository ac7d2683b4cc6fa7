/**
 * Accounts, their wallets per asset, their positions (one-way: one per market and silo), silos and open orders.
 *
 * Collateral model. An account's `main` balance per asset is both its free balance and its cross bucket: money
 * not ring-fenced in an isolated bucket or reserved for an isolated order backs the account's cross positions
 * (Binance's and Hyperliquid's cross wallet). What can be withdrawn or committed to new exposure is that
 * balance less what cross positions and cross orders require ("available"). An isolated position's collateral
 * sits in its own ledger account that nothing else can reach. A named silo (`Silo`) is a pooled box like the cross
 * bucket but backed by its own ledger account instead of main: its legs are positions keyed `${silo}/${symbol}`.
 */
import type { Side } from '../core/margin.ts';
import type { BookOrder } from './book.ts';
import { type Ledger, LedgerAccount } from './ledger.ts';
import { nextSerial } from './liquidation-index.ts';
import type { Market } from './market.ts';
import type {
  AutoAddPolicy,
  MarginMode,
  RebalanceHoldings,
  SelfTradePrevention,
  SiloCloseOrder,
  SiloRiskModel,
  TimeInForce,
  TriggerKind,
} from './types.ts';

/** Open orders an account may hold across all markets: bounds cancel-all and per-account state. */
export const MAX_OPEN_ORDERS_PER_ACCOUNT = 200;
export const ACCOUNT_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** The backstop: the insurance fund's own account (not a valid client id, so no client can act as it). */
export const BACKSTOP_ACCOUNT = '@insurance';

export class Wallet {
  /** Requirement (not a ledger balance) of this account's open cross orders in this asset. */
  crossOrderRequirement = 0n;
  constructor(
    readonly main: LedgerAccount,
    readonly reserved: LedgerAccount,
  ) {}
}

/** Named silos an account may hold (each is a ledger account and up to MAX_MARKETS legs). */
export const MAX_SILOS_PER_ACCOUNT = 64;
export const SILO_ID_RE = /^[A-Za-z0-9_.-]{1,32}$/;
/** A liquidated silo's close orders; the first is the default (the cross bucket's, and every silo's before it). */
export const SILO_CLOSE_ORDERS: readonly SiloCloseOrder[] = [
  'largestRequirement',
  'largestLoss',
  'mostRiskPerUnit',
];
export const DEFAULT_CLOSE_ORDER: SiloCloseOrder = 'largestRequirement';

/**
 * A named silo: a ring-fenced collateral box in one settle asset, pooled like the cross bucket (its legs back each
 * other under its risk model) but backed by its own bucket instead of the owner's free balance. Its loss is paid
 * from the bucket and, beyond it, by the insurance fund; never by the owner's main balance or another silo.
 */
export class Silo {
  /** The silo's legs by symbol (also in the account's positions under `${id}/${symbol}`), in opening order. */
  readonly positions = new Map<string, Position>();
  /** Requirement (not a ledger balance) of the silo's open orders, as the wallet's crossOrderRequirement. */
  orderRequirement = 0n;
  /** Auto-add margin: top the silo up from the owner's free balance when maintenance / equity reaches `trigger`. */
  autoAdd: { policy: AutoAddPolicy; trigger: bigint } | null = null;
  /** Auto-add reached its trigger with nothing free to add: a margin call was raised (cleared once money is free). */
  marginCalled = false;
  /**
   * A rebalancing receiver reached its trigger and its givers had nothing to spare: it is no longer filed at the
   * trigger (it would be due at every mark) until a giver's collateral changes or its ratio falls back below it.
   * At maintenance the agent tries again whatever this says.
   */
  rebalanceParked = false;
  /**
   * Collateral in other assets (setCollateralAsset), by asset in the order first held: ledger accounts owned by the
   * silo (so a move of one re-checks it), counted at their haircut value beside the bucket (engine collateral.ts).
   * An emptied holding stays open (at zero) until the silo closes, so labels and the snapshot order stay stable.
   */
  readonly holdings = new Map<string, LedgerAccount>();
  constructor(
    readonly id: string,
    readonly account: Account,
    readonly asset: string,
    readonly riskModel: SiloRiskModel,
    readonly bucket: LedgerAccount,
    /** The order its legs close in when it is liquidated. */
    readonly closeOrder: SiloCloseOrder = DEFAULT_CLOSE_ORDER,
  ) {}
}

/**
 * The rebalancing agent's settings of one account and asset (setRebalancing): silo ids, rates at RATE_DP, amounts
 * in the asset's units (0: no limit), and what was moved in the current UTC day.
 */
export interface Rebalancing {
  givers: string[];
  receivers: string[];
  trigger: bigint;
  target: bigint;
  buffer: bigint;
  maxPerMove: bigint;
  maxPerDay: bigint;
  /**
   * What the agent does with givers' holdings in other assets once their settle collateral is spent (collateral.ts):
   * `move` them as they are (the receiver counts them at its haircut), `convert` them to the settle asset against
   * the fund first and move the proceeds, or `none`: settle collateral only.
   */
  holdings: RebalanceHoldings;
  /** UTC day number (command time / 86,400,000) that `movedToday` counts. */
  day: number;
  movedToday: bigint;
}

export const REBALANCE_HOLDINGS: readonly RebalanceHoldings[] = ['move', 'convert', 'none'];

/** The account's positions map key: the symbol for default positions, `${silo}/${symbol}` for a named silo's leg. */
export function positionKey(silo: Silo | null, symbol: string): string {
  return silo === null ? symbol : `${silo.id}/${symbol}`;
}

export class Position {
  /** Default positions: isolated or cross. A named silo's leg is 'cross' (pooled) with `silo` set. */
  mode: MarginMode = 'isolated';
  leverage: bigint;
  /** +1 long, −1 short, 0 flat. */
  sign: 1 | -1 | 0 = 0;
  lots = 0;
  /** Average entry price (priceDp), rounded against the holder on averaging. */
  entryPrice = 0n;
  realizedPnl = 0n;
  /** The market's cumulative funding index when this position last settled funding. */
  fundingIndex = 0n;
  /** The market's funding epoch (count of index moves) when this position last settled. */
  fundingEpoch = 0;
  /**
   * Isolated collateral; opened on first use and kept (at zero) when flat so labels stay stable. A named silo's leg
   * has no bucket of its own: this is a detached account, never in the ledger and always empty (the silo's bucket is
   * its collateral), so the code that empties a flat position's bucket finds nothing to move.
   */
  readonly bucket: LedgerAccount;
  /** Open orders of this account on this market. */
  openOrders = 0;
  /** Auto-add margin (isolated only): top up from the free balance when maintenance / equity reaches `trigger`. */
  autoAdd: { policy: AutoAddPolicy; trigger: bigint } | null = null;
  /** A chunked partial liquidation waits until this time before the next chunk (0 = none pending). */
  liquidationCooldownUntil = 0;
  /** Auto-add reached its trigger with nothing free to add: a margin call was raised (cleared once money is free). */
  marginCalled = false;
  /** Liquidation index bookkeeping (a cache, not state): tiebreak serial and which side it is filed under. */
  readonly liqSerial = nextSerial();
  liqLong = false;
  liqKey: bigint | null = null;

  constructor(
    readonly account: Account,
    readonly market: Market,
    ledger: Ledger,
    /** The named silo this position is a leg of; null: a default position (isolated or cross, by `mode`). */
    readonly silo: Silo | null = null,
  ) {
    this.leverage = market.defaultLeverage;
    if (silo === null) {
      this.bucket = ledger.open('isolated', market.asset, `${account.id}:isolated:${market.symbol}`);
      this.bucket.owner = this;
    } else {
      this.mode = 'cross';
      this.bucket = new LedgerAccount('isolated', market.asset, `${silo.bucket.label}/${market.symbol}`);
    }
  }

  /** The key of this position in its account's positions map. */
  get key(): string {
    return positionKey(this.silo, this.market.symbol);
  }

  get side(): Side | null {
    return this.sign === 0 ? null : this.sign > 0 ? 'long' : 'short';
  }

  get size(): bigint {
    return this.market.size(this.lots);
  }
}

export interface Order extends BookOrder {
  readonly account: Account;
  readonly market: Market;
  readonly position: Position;
  readonly sizeLots: number;
  readonly tif: TimeInForce;
  readonly reduceOnly: boolean;
  readonly clientOrderId: string | null;
  readonly stp: SelfTradePrevention;
  readonly mode: MarginMode;
  /** Isolated: money held in the wallet's `reserved` account for this order. Cross: requirement counted. */
  reserved: bigint;
  /** Opening lots the reserve was sized for; fills draw on it pro rata to the lots they open. */
  reservedLots: number;
  /** A liquidation order: no taker fee (the liquidation fee replaces it), and its fills release no margin. */
  readonly liquidation?: boolean;
  /**
   * A trigger order (stop-loss / take-profit, placeOrder with `stopLossPrice` or `takeProfitPrice`): always
   * reduce-only. Untriggered it rests in its market's trigger index (not the book) and reserves nothing; once the
   * mark reaches its trigger price it becomes a live order (triggers.ts). Only trigger orders have the field.
   */
  trigger?: OrderTrigger;
}

/** What makes an order a trigger order (see Order.trigger). */
export interface OrderTrigger {
  readonly kind: TriggerKind;
  /** The trigger price, in ticks. */
  readonly priceTicks: number;
  /** What it becomes when it fires: a market order (priceTicks 0 until then: its limit is the band edge at that
   * moment) or a limit order at the order's priceTicks. */
  readonly orderType: 'limit' | 'market';
  /** False while it waits in the trigger index; true once it fired (a limit order resting in the book). */
  triggered: boolean;
}

/** Whether the order is a trigger order still waiting for its price (in the trigger index, not the book). */
export function untriggered(o: Order): boolean {
  return o.trigger !== undefined && !o.trigger.triggered;
}

/** Records a resting order under its clientOrderId (called where an order joins the account's open orders). */
export function indexClientOrder(o: Order): void {
  if (o.clientOrderId !== null) o.account.clientOrders.set(o.clientOrderId, o);
}

/**
 * Forgets an order that left the account's open orders. Only if the index points at it: two open orders could share
 * an id in a state from before ids were unique, and the one that stays must keep its entry.
 */
export function unindexClientOrder(o: Order): void {
  if (o.clientOrderId !== null && o.account.clientOrders.get(o.clientOrderId) === o)
    o.account.clientOrders.delete(o.clientOrderId);
}

/** What margin checks read of a position; a flat stand-in satisfies it without creating ledger accounts. */
export type PositionView = Pick<
  Position,
  'market' | 'leverage' | 'sign' | 'lots' | 'entryPrice' | 'size' | 'mode' | 'fundingIndex'
>;

export class Account {
  readonly wallets = new Map<string, Wallet>();
  /** Default positions by symbol, named silos' legs by `${silo}/${symbol}` (positionKey). */
  readonly positions = new Map<string, Position>();
  /** Named silos by id, in creation order. */
  readonly silos = new Map<string, Silo>();
  /** The rebalancing agent's settings by asset (only the assets it is on for). */
  readonly rebalancing = new Map<string, Rebalancing>();
  readonly orders = new Map<number, Order>();
  /**
   * The open orders that carry a clientOrderId, by it: a clientOrderId is unique among the account's open orders, so
   * a retried place is refused instead of doubled. A cache of `orders` — kept where an order rests or leaves the
   * book, rebuilt from the open orders on a restore — so it is never stored.
   */
  readonly clientOrders = new Map<string, Order>();

  constructor(
    readonly id: string,
    /** Dense numeric id, assigned in creation order (deterministic), used by the book. */
    readonly n: number,
  ) {}

  wallet(asset: string, ledger: Ledger): Wallet {
    let w = this.wallets.get(asset);
    if (!w) {
      w = new Wallet(
        ledger.open('main', asset, `${this.id}:main:${asset}`),
        ledger.open('reserved', asset, `${this.id}:reserved:${asset}`),
      );
      w.main.owner = this;
      this.wallets.set(asset, w);
    }
    return w;
  }

  position(market: Market, ledger: Ledger, silo: Silo | null = null): Position {
    const key = positionKey(silo, market.symbol);
    let p = this.positions.get(key);
    if (!p) {
      p = new Position(this, market, ledger, silo);
      this.positions.set(key, p);
      silo?.positions.set(market.symbol, p);
    }
    return p;
  }
}
