/**
 * Engine snapshots: the whole state of an engine (its EngineState, state.ts) as one canonical byte string, and back.
 *
 * Recovery from a journal of millions of commands would replay every one of them; a snapshot taken every N
 * commands lets it restore the state at a seq and replay only the tail. A restore must be exact: the restored
 * engine hashes equal (`stateHash`) and behaves identically afterwards, command for command, event for event —
 * including what the hash does not see, such as the insertion order of maps and sets that later commands iterate
 * (markets, an account's orders and positions, a market's positions, oracle quotes, the ledger's accounts).
 *
 * Format (version 1): msgpack of one object whose keys and array orders are fixed by this file, so the same state
 * always gives the same bytes. Bigints are exact at any size (msgpack int64, or msgpackr's bigint extension past 64
 * bits: balances and accumulators can exceed it). Objects that other objects reference (ledger accounts, positions,
 * orders) are stored once and referenced by index or id:
 *
 *   { format: 'ringfence-snapshot', version: 1, seq, lastTime, nextOrderId, conventions,
 *     assets:   [[asset, dp], …]                                            engine.assets order
 *     ledger:   { accounts: [[kind, asset, label, balance, owner], …],       opening order; owner: null,
 *                 system: [[key, accountIndex], …] }                           ['account', id] or ['position', id, symbol]
 *     markets:  [{ config, ledger: [clearing, fees, insurance, fundingPool], mark, last, openInterestLots,
 *                  openPositions, unsettledFunding, twapNum, twapMs, lastIndexTime, closed, paused: [action, …],
 *                  positions: [accountId, …], oracle, funding, book: [orderId, …] }, …]   book: priority order
 *     accounts: [{ id, n, wallets: [[asset, main, reserved, crossOrderRequirement], …],
 *                  positions: [[symbol, bucket, …POSITION_FIELDS, silo?], …], orders: [[…ORDER_FIELDS, silo?], …],
 *                  silos?: [[id, asset, riskModel, bucket, orderRequirement, autoAdd?, marginCalled?, closeOrder?],
 *                           …] }, …],
 *     netting?, strategyMargin?, optionFeeds?, collateralAssets?: [[asset, settle, dp, priceMarket, bands, penalty,
 *     enabled], …], vaults?: [[id, manager, asset, lockupMs, performanceFee, managementFee, [maxLeverage,
 *     maxNotionalPerMarket, markets], totalShares, [[account, shares, hwm, lockedUntil], …], [[account, shares,
 *     requestedAt], …], lastFeeTime], …], shardTransfers?: [[id, 'out'|'in', account, asset, amount, peer, status,
 *     createdAt, updatedAt], …] }
 *
 * Named silos (added within version 1, every new field optional so older snapshots read as before): an account's
 * silos in creation order (their buckets are ledger accounts owned by ['silo', account, id]); a silo's leg is a
 * position row ending in its silo id, with bucket −1 (a leg has no bucket of its own), keyed `${silo}/${symbol}` in
 * its account; an order of a leg ends in the silo id; a market's positions list names a leg as [account, silo];
 * `netting` is stored only once setNetting changed it; `strategyMargin` (the option strategy models' parameters, in
 * core's JSON form of decimal strings, parsed back strictly) only once setStrategyMargin did. Multi-asset collateral
 * (collateral.ts): a silo row ends in its holdings [[asset, ledger account], …] when it has any (the optional fields
 * before them then written out), and `collateralAssets` lists the accepted assets; their holders are rebuilt.
 *
 * Trigger orders (stop-loss / take-profit, also within version 1): an order row ends in [kind, triggerTicks,
 * orderType, triggered] after its silo id (null for a default position's). An untriggered one is in no book: the
 * restore files it in its market's trigger index, a cache of those rows.
 *
 * A restore rebuilds each object through its own constructor (`new Market(config)` + `attach`, `new Account`,
 * `account.position`, which opens its bucket: the ledger hands it the restored account), then sets the state
 * fields; orders are re-added to their books in priority order; the liquidation index, a cache, is rebuilt last.
 * The restore fills a state object it is handed (`restoreState`); engine.ts's `restoreEngine` hands it a new Engine,
 * and is re-exported here for the journal and tests.
 * `SNAPSHOT_FIELDS` lists, per class, what is stored, what is rebuilt from the stored state, and what is left out
 * as per-command scratch or a cache: the snapshot property test fails on any field that is in none of them, so a
 * field the engine gains later cannot be silently lost.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { MarginConventions } from '../core/margin.ts';
import { yearsFromSeconds } from '../core/options/black76.ts';
import { RATE_ONE } from '../core/rates.ts';
import { DEFAULT_NETTING, type NettingParams } from '../core/silo.ts';
import {
  DEFAULT_STRATEGY_MARGIN,
  parseStrategyMarginParams,
  strategyMarginParamsToJson,
} from '../core/strategy/index.ts';
import {
  Account,
  DEFAULT_CLOSE_ORDER,
  type Order,
  type OrderTrigger,
  type Position,
  positionKey,
  REBALANCE_HOLDINGS,
  SILO_CLOSE_ORDERS,
  Silo,
  untriggered,
  Wallet,
} from './account.ts';
import { collateralKey, noteHolding } from './collateral.ts';
import { type DynamicMargin, restoreFactor } from './dynamic-margin.ts';
import type { FundingStateData } from './funding.ts';
import { HolderIndex } from './holder-index.ts';
import { LedgerAccount, type LedgerKind } from './ledger.ts';
import { rebuildIndex } from './liquidation.ts';
import { Market } from './market.ts';
import { type FeedValidity, parseSmile, VolFeed, type VolGuards } from './option-terms.ts';
import { linkOptions } from './options.ts';
import type { OracleStateData } from './oracle.ts';
import type { ShardTransferStatus } from './shard-transfers.ts';
import type { EngineState } from './state.ts';
import { SILO_RISK_MODELS } from './strategy-silos.ts';
import type { MarketConfig, RebalanceHoldings, VolSmile } from './types.ts';
import { VAULT_PREFIX, Vault } from './vaults.ts';

export { restoreEngine } from './engine.ts';

export const SNAPSHOT_FORMAT = 'ringfence-snapshot';
export const SNAPSHOT_VERSION = 1;

/**
 * Every own field of the engine's objects, by class: `state` is stored; `derived` is rebuilt from stored state by
 * the constructors (a market's instrument from its config, a position's back-references); `transient` is scratch
 * of the command being applied (reset before the next one) or a cache rebuilt after a restore.
 */
export const SNAPSHOT_FIELDS: Record<string, { state: string[]; derived: string[]; transient: string[] }> = {
  Engine: {
    state: [
      'seq',
      'lastTime',
      'nextOrderId',
      'assets',
      'conventions',
      'netting',
      'strategyMargin',
      'collateralAssets',
      'optionFeeds',
      'vaults',
      'shardTransfers',
      'ledger',
      'markets',
      'accounts',
    ],
    derived: [],
    // events/now: set at the start of every apply; sweepMarkets, liqDirty, markMoved, ledger.touched: cleared there
    // too; liqFill: scratch of one liquidation order; quiet: a mode of the caller's (recovery), not state.
    transient: ['events', 'now', 'sweepMarkets', 'liqDirty', 'markMoved', 'liqFill', 'quiet'],
  },
  Ledger: {
    state: ['all', 'system'],
    derived: [],
    transient: ['sink', 'touched', 'adopting'],
  },
  // touchedIn: membership in the ledger's touched list (cleared by every apply).
  LedgerAccount: {
    state: ['kind', 'asset', 'label', 'balance', 'owner'],
    derived: [],
    transient: ['touchedIn'],
  },
  Market: {
    state: [
      'config',
      'mark',
      'last',
      'openInterestLots',
      'openPositions',
      'unsettledFunding',
      'twapNum',
      'twapMs',
      'lastIndexTime',
      'closed',
      'reduceOnly',
      'paused',
      'positions',
      'oracle',
      'funding',
      'dynamicMargin',
      'book',
      'clearing',
      'fees',
      'insurance',
      'fundingPool',
    ],
    derived: [
      'symbol',
      // The config's instrument, and it scaled by the dynamic-margin factor (restored with dynamicMargin).
      'inst',
      'baseInst',
      'takerFee',
      'makerFee',
      'limitBand',
      'marketBand',
      'maxOrderLots',
      'defaultLeverage',
      'option',
      'fundingCfg',
      'liquidation',
      'tickN',
      'lotN',
    ],
    // The liquidation index (rebuilt by liquidation.ts rebuildIndex) and the band-edge memo; the trigger index
    // (rebuilt from the accounts' untriggered trigger orders). optionFeed: the link to its expiry's vol feed
    // (options.ts linkOptions). last*: the memo of the last price and size scaled from ticks and lots.
    transient: [
      'liqIndex',
      'triggers',
      'bandRef',
      'bandFor',
      'bandCache',
      'optionFeed',
      'lastTicks',
      'lastPriceInst',
      'lastPrice',
      'lastLots',
      'lastSizeInst',
      'lastSize',
    ],
  },
  VolFeed: {
    state: [
      'raw',
      'quoteTime',
      'scale',
      'atmIv',
      'validity',
      'reason',
      'reported',
      'spot',
      'forward',
      'markTime',
      'lastSpot',
      'lastSpotTime',
      'twapNum',
      'twapMs',
    ],
    derived: ['underlying', 'expiry', 'guards', 'smile'],
    // requoted: scratch of one command; the links are rebuilt by linkOptions.
    transient: ['requoted', 'markets', 'underlyingMarket', 'forwardMarket'],
  },
  OracleState: {
    state: [
      'quotes',
      'index',
      'indexTime',
      'validity',
      'reason',
      'basis',
      'emaBasis',
      'emaBook',
      'lastSampleTime',
    ],
    derived: ['cfg'],
    transient: [],
  },
  DynamicMargin: {
    state: ['ewma', 'factor', 'pending', 'nextReview', 'lastVol'],
    derived: [
      'referenceVol',
      'maxFactor',
      'maxStep',
      'lambda',
      'reviewMs',
      'noticeMs',
      'sampleMs',
      'minSamples',
      'filing',
    ],
    // The re-filing cursor: a restore files every position under the filing instrument (rebuildIndex).
    transient: ['refile', 'refileLeft'],
  },
  FundingState: {
    state: [
      'cumIndex',
      'epoch',
      'nextTime',
      'lastRate',
      'twNum',
      'twDen',
      'premium',
      'premiumTime',
      'history',
    ],
    derived: ['cfg'],
    transient: [],
  },
  // The book's state is its orders in priority order; its levels and key arrays are rebuilt by adding them.
  OrderBook: { state: [], derived: ['maxLevelsPerSide', 'bids', 'asks', 'nOrders'], transient: [] },
  // clientOrders: the open orders by clientOrderId, rebuilt from `orders`.
  Account: {
    state: ['id', 'n', 'wallets', 'positions', 'orders', 'silos', 'rebalancing'],
    derived: ['clientOrders'],
    transient: [],
  },
  // positions: the silo's legs, rebuilt from the account's positions that name it.
  Silo: {
    state: [
      'id',
      'asset',
      'riskModel',
      'bucket',
      'orderRequirement',
      'autoAdd',
      'marginCalled',
      'closeOrder',
      // Stored in the account's rebalancing row (`parked`), not the silo row.
      'rebalanceParked',
      'holdings',
    ],
    derived: ['account', 'positions'],
    transient: [],
  },
  Wallet: { state: ['main', 'reserved', 'crossOrderRequirement'], derived: [], transient: [] },
  // account: the vault's account `vault:<id>`, restored with the accounts.
  Vault: {
    state: [
      'id',
      'manager',
      'asset',
      'lockupMs',
      'performanceFee',
      'managementFee',
      'limits',
      'totalShares',
      'depositors',
      'queue',
      'lastFeeTime',
    ],
    derived: ['account'],
    transient: [],
  },
  // Every record in the order recorded; the maps by id, `held` (outgoing, not settled) and `byAccount` index them.
  ShardTransfers: { state: ['all'], derived: ['out', 'in', 'held', 'byAccount'], transient: [] },
  Position: {
    state: [
      'bucket',
      'mode',
      'leverage',
      'sign',
      'lots',
      'entryPrice',
      'realizedPnl',
      'fundingIndex',
      'fundingEpoch',
      'openOrders',
      'autoAdd',
      'liquidationCooldownUntil',
      'marginCalled',
      'silo',
    ],
    derived: ['account', 'market'],
    // Liquidation index bookkeeping: a tiebreak serial (unique per process) and the side it is filed under.
    transient: ['liqSerial', 'liqLong', 'liqKey'],
  },
  Order: {
    state: [
      'id',
      'accountId',
      'side',
      'priceTicks',
      'remainingLots',
      'sizeLots',
      'tif',
      'reduceOnly',
      'clientOrderId',
      'stp',
      'mode',
      'reserved',
      'reservedLots',
      'liquidation',
      'trigger',
    ],
    // prev/next/level: the book's links, rebuilt by adding the order back.
    derived: ['prev', 'next', 'level', 'account', 'market', 'position'],
    transient: [],
  },
};

export class SnapshotError extends Error {
  constructor(message: string) {
    super(`snapshot: ${message}`);
    this.name = 'SnapshotError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', useBigIntExtension: true });
const unpackr = new Unpackr({
  useRecords: false,
  int64AsType: 'bigint',
  useBigIntExtension: true,
  mapsAsObjects: true,
});

type Owner = null | ['account', string] | ['position', string, string] | ['silo', string, string];
type LedgerRow = [kind: LedgerKind, asset: string, label: string, balance: bigint, owner: Owner];
type WalletRow = [asset: string, main: number, reserved: number, crossOrderRequirement: bigint];
type PositionRow = [
  symbol: string,
  bucket: number,
  mode: Position['mode'],
  leverage: bigint,
  sign: Position['sign'],
  lots: number,
  entryPrice: bigint,
  realizedPnl: bigint,
  fundingIndex: bigint,
  fundingEpoch: number,
  openOrders: number,
  autoAdd: [policy: NonNullable<Position['autoAdd']>['policy'], trigger: bigint] | null,
  liquidationCooldownUntil: number,
  marginCalled: boolean,
  /** A named silo's leg: the silo id (then `bucket` is −1: the leg has no bucket of its own); absent otherwise. */
  silo?: string,
];
type OrderRow = [
  id: number,
  symbol: string,
  side: Order['side'],
  priceTicks: number,
  remainingLots: number,
  sizeLots: number,
  tif: Order['tif'],
  reduceOnly: boolean,
  clientOrderId: string | null,
  stp: Order['stp'],
  mode: Order['mode'],
  reserved: bigint,
  reservedLots: number,
  /** `liquidation` when the order has the field (liquidation orders never rest, so normally undefined). */
  liquidation: boolean | undefined,
  /** An order of a named silo's leg: the silo id; absent otherwise (null when a trigger follows). */
  silo?: string | null,
  /** A trigger order (stop-loss / take-profit): absent for every other order. */
  trigger?: [
    kind: OrderTrigger['kind'],
    priceTicks: number,
    orderType: OrderTrigger['orderType'],
    triggered: boolean,
  ],
];
type SiloRow = [
  id: string,
  asset: string,
  riskModel: Silo['riskModel'],
  bucket: number,
  orderRequirement: bigint,
  /** Auto-add margin and its margin call: only when set (absent in snapshots from before silos had it). */
  autoAdd?: [policy: NonNullable<Silo['autoAdd']>['policy'], trigger: bigint] | null,
  marginCalled?: boolean,
  /** Only when not the default (absent in snapshots from before silos could choose it). */
  closeOrder?: Silo['closeOrder'],
  /** Holdings in other assets (collateral.ts), in the order first held: only when the silo has any. */
  holdings?: [asset: string, account: number][],
];

/** An accepted collateral asset (setCollateralAsset): bands as [upTo | null, ratio]. */
type CollateralRow = [
  asset: string,
  settle: string,
  dp: number,
  priceMarket: string,
  bands: [upTo: bigint | null, ratio: bigint][],
  penalty: bigint,
  enabled: boolean,
];

interface MarketSnap {
  config: MarketConfig;
  ledger: [clearing: number, fees: number, insurance: number, fundingPool: number];
  mark: bigint | null;
  last: bigint | null;
  openInterestLots: number;
  openPositions: number;
  unsettledFunding: number;
  twapNum: bigint;
  twapMs: bigint;
  lastIndexTime: number;
  closed: boolean;
  /** Only when true (absent in snapshots written before `closeMarket` existed). */
  reduceOnly?: boolean;
  paused: string[];
  /** Owners of the market's positions set, in insertion order: the account id, or [account id, silo id] for a leg. */
  positions: (string | [string, string])[];
  oracle: OracleStateData | null;
  funding: FundingStateData | null;
  /** Only for a market with dynamic margin (absent in older snapshots, which had none). */
  dynamicMargin?: DynamicMarginRow;
  /** Resting order ids in priority order (bids best first, then asks; each level oldest first). */
  book: number[];
}

interface AccountSnap {
  id: string;
  n: number;
  wallets: WalletRow[];
  positions: PositionRow[];
  /** The account's open orders, in its orders map's insertion order. */
  orders: OrderRow[];
  /** Named silos in creation order; only when the account has any (absent in snapshots from before silos). */
  silos?: SiloRow[];
  /** The rebalancing agent's settings by asset; only when on for some asset (absent in older snapshots). */
  rebalancing?: RebalancingRow[];
}

type RebalancingRow = [
  asset: string,
  givers: string[],
  receivers: string[],
  trigger: bigint,
  target: bigint,
  buffer: bigint,
  maxPerMove: bigint,
  maxPerDay: bigint,
  day: number,
  movedToday: bigint,
  /** The receivers parked (Silo.rebalanceParked). */
  parked: string[],
  /** Only when not the default `move`. */
  holdings?: RebalanceHoldings,
];

interface SnapshotV1 {
  format: typeof SNAPSHOT_FORMAT;
  version: 1;
  seq: number;
  lastTime: number;
  nextOrderId: number;
  conventions: MarginConventions;
  assets: [string, number][];
  ledger: { accounts: LedgerRow[]; system: [string, number][] };
  markets: MarketSnap[];
  accounts: AccountSnap[];
  /** The netted model's parameters, only when setNetting changed them. */
  netting?: NettingParams;
  /** The strategy models' parameters in their JSON form, only when setStrategyMargin changed them. */
  strategyMargin?: Record<string, unknown>;
  /** Options' vol feeds in creation order, only when there are any. */
  optionFeeds?: VolFeedSnap[];
  /** Accepted collateral assets in the order first set, only when there are any. */
  collateralAssets?: CollateralRow[];
  /** Vaults in creation order, only when there are any. */
  vaults?: VaultRow[];
  /** Cross-shard transfers in the order recorded (both directions); only when there are any. */
  shardTransfers?: ShardTransferRow[];
}

type ShardTransferRow = [
  id: string,
  direction: 'out' | 'in',
  account: string,
  asset: string,
  amount: bigint,
  peer: string,
  status: ShardTransferStatus,
  createdAt: number,
  updatedAt: number,
];

/** A vault (vaults.ts): its terms, shares, depositors in the order first held and its withdrawal queue. */
type VaultRow = [
  id: string,
  manager: string,
  asset: string,
  lockupMs: number,
  performanceFee: bigint,
  managementFee: bigint,
  limits: [maxLeverage: bigint, maxNotionalPerMarket: bigint, markets: string[]],
  totalShares: bigint,
  depositors: [account: string, shares: bigint, hwm: bigint, lockedUntil: number][],
  queue: [account: string, shares: bigint, requestedAt: number][],
  lastFeeTime: number,
];

interface VolFeedSnap {
  underlying: string;
  expiry: number;
  guards: VolGuards;
  raw: VolSmile | null;
  quoteTime: number;
  scale: bigint;
  atmIv: bigint | null;
  validity: FeedValidity;
  reason: string;
  reported: FeedValidity;
  spot: bigint | null;
  forward: bigint | null;
  markTime: number;
  lastSpot: bigint | null;
  lastSpotTime: number;
  twapNum: bigint;
  twapMs: bigint;
}

/** The engine's whole state as canonical bytes (see the module comment). Reads only. */
export function snapshotEngine(e: EngineState): Uint8Array {
  return packr.pack(snapshotObject(e));
}

function snapshotObject(e: EngineState): SnapshotV1 {
  const ledgerAccounts = e.ledger.accounts();
  const index = new Map<LedgerAccount, number>();
  for (const [i, l] of ledgerAccounts.entries()) index.set(l, i);
  const ref = (l: LedgerAccount, what: string): number => {
    const i = index.get(l);
    if (i === undefined) throw new SnapshotError(`${what} (${l.label}) is not in the ledger`);
    return i;
  };
  const ledgerRows: LedgerRow[] = ledgerAccounts.map((l) => [
    l.kind,
    l.asset,
    l.label,
    l.balance,
    ownerOf(e, l),
  ]);
  const system = e.ledger.systemEntries().map(([key, l]): [string, number] => [key, ref(l, key)]);

  const markets: MarketSnap[] = [];
  for (const m of e.markets.values()) {
    const positions: (string | [string, string])[] = [];
    for (const p of m.positions) {
      if (p.market !== m || p.account.positions.get(p.key) !== p)
        throw new SnapshotError(`${m.symbol}: a position of ${p.account.id} is not its account's`);
      positions.push(p.silo === null ? p.account.id : [p.account.id, p.silo.id]);
    }
    const book: number[] = [];
    for (const bo of m.book.orders()) {
      const o = bo as Order;
      if (o.market !== m || o.account.orders.get(o.id) !== o)
        throw new SnapshotError(`${m.symbol}: resting order ${o.id} is not in its account's orders`);
      book.push(o.id);
    }
    markets.push({
      config: m.config,
      ledger: [
        ref(m.clearing, `${m.symbol} clearing`),
        ref(m.fees, `${m.symbol} fees`),
        ref(m.insurance, `${m.symbol} insurance`),
        ref(m.fundingPool, `${m.symbol} funding pool`),
      ],
      mark: m.mark,
      last: m.last,
      openInterestLots: m.openInterestLots,
      openPositions: m.openPositions,
      unsettledFunding: m.unsettledFunding,
      twapNum: m.twapNum,
      twapMs: m.twapMs,
      lastIndexTime: m.lastIndexTime,
      closed: m.closed,
      ...(m.reduceOnly ? { reduceOnly: true } : {}),
      paused: [...m.paused],
      positions,
      oracle: m.oracle ? m.oracle.exportState() : null,
      funding: m.funding ? m.funding.exportState() : null,
      ...(m.dynamicMargin ? { dynamicMargin: dynamicMarginRow(m.dynamicMargin) } : {}),
      book,
    });
  }

  const accounts: AccountSnap[] = [];
  for (const a of e.accounts.values()) {
    const wallets: WalletRow[] = [];
    for (const [asset, w] of a.wallets) {
      wallets.push([
        asset,
        ref(w.main, `${a.id} ${asset} main`),
        ref(w.reserved, `${a.id} ${asset} reserved`),
        w.crossOrderRequirement,
      ]);
    }
    const positions: PositionRow[] = [];
    for (const [key, p] of a.positions) {
      const symbol = p.market.symbol;
      if (p.account !== a || p.key !== key || e.markets.get(symbol) !== p.market)
        throw new SnapshotError(`${a.id}: position ${key} is not the account's position on that market`);
      if (p.silo !== null && (a.silos.get(p.silo.id) !== p.silo || p.silo.positions.get(symbol) !== p))
        throw new SnapshotError(`${a.id}: position ${key} is not a leg of the account's silo`);
      const row: PositionRow = [
        symbol,
        p.silo === null ? ref(p.bucket, `${a.id} ${symbol} bucket`) : -1,
        p.mode,
        p.leverage,
        p.sign,
        p.lots,
        p.entryPrice,
        p.realizedPnl,
        p.fundingIndex,
        p.fundingEpoch,
        p.openOrders,
        p.autoAdd ? [p.autoAdd.policy, p.autoAdd.trigger] : null,
        p.liquidationCooldownUntil,
        p.marginCalled,
      ];
      if (p.silo !== null) row.push(p.silo.id);
      positions.push(row);
    }
    const orders: OrderRow[] = [];
    for (const [id, o] of a.orders) {
      if (o.id !== id || o.account !== a || o.accountId !== a.n)
        throw new SnapshotError(`${a.id}: order ${id} does not belong to the account`);
      if (o.position !== a.positions.get(positionKey(o.position.silo, o.market.symbol)))
        throw new SnapshotError(`${a.id}: order ${id} points at another position`);
      const row: OrderRow = [
        o.id,
        o.market.symbol,
        o.side,
        o.priceTicks,
        o.remainingLots,
        o.sizeLots,
        o.tif,
        o.reduceOnly,
        o.clientOrderId,
        o.stp,
        o.mode,
        o.reserved,
        o.reservedLots,
        'liquidation' in o ? o.liquidation : undefined,
      ];
      if (o.position.silo !== null || o.trigger !== undefined) row.push(o.position.silo?.id ?? null);
      if (o.trigger !== undefined) {
        const t = o.trigger;
        row.push([t.kind, t.priceTicks, t.orderType, t.triggered]);
      }
      orders.push(row);
    }
    const silos: SiloRow[] = [];
    for (const [id, silo] of a.silos) {
      if (silo.id !== id || silo.account !== a)
        throw new SnapshotError(`${a.id}: silo ${id} does not belong to the account`);
      const row: SiloRow = [
        silo.id,
        silo.asset,
        silo.riskModel,
        ref(silo.bucket, `${a.id} silo ${id}`),
        silo.orderRequirement,
      ];
      const closeOrder = silo.closeOrder !== DEFAULT_CLOSE_ORDER;
      const held = silo.holdings.size > 0;
      if (silo.autoAdd !== null || silo.marginCalled || closeOrder || held)
        row.push(silo.autoAdd ? [silo.autoAdd.policy, silo.autoAdd.trigger] : null, silo.marginCalled);
      if (closeOrder || held) row.push(silo.closeOrder);
      if (held)
        row.push([...silo.holdings].map(([asset, h]) => [asset, ref(h, `${a.id} silo ${id} ${asset}`)]));
      silos.push(row);
    }
    const rebalancing: RebalancingRow[] = [];
    for (const [asset, r] of a.rebalancing) {
      const parked = [...a.silos.values()]
        .filter((x) => x.asset === asset && x.rebalanceParked)
        .map((x) => x.id);
      rebalancing.push([
        asset,
        [...r.givers],
        [...r.receivers],
        r.trigger,
        r.target,
        r.buffer,
        r.maxPerMove,
        r.maxPerDay,
        r.day,
        r.movedToday,
        parked,
        ...(r.holdings !== 'move' ? [r.holdings] : []),
      ] as RebalancingRow);
    }
    for (const silo of a.silos.values())
      if (silo.rebalanceParked && !a.rebalancing.has(silo.asset))
        throw new SnapshotError(`${a.id}: silo ${silo.id} parked without rebalancing settings`);
    accounts.push({
      id: a.id,
      n: a.n,
      wallets,
      positions,
      orders,
      ...(silos.length > 0 ? { silos } : {}),
      ...(rebalancing.length > 0 ? { rebalancing } : {}),
    });
  }

  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    seq: e.seq,
    lastTime: e.lastTime,
    nextOrderId: e.nextOrderId,
    conventions: e.conventions,
    assets: [...e.assets],
    ledger: { accounts: ledgerRows, system },
    markets,
    accounts,
    ...(e.netting !== DEFAULT_NETTING ? { netting: e.netting } : {}),
    ...(e.collateralAssets.size > 0
      ? {
          collateralAssets: [...e.collateralAssets.values()].map(
            (c): CollateralRow => [
              c.asset,
              c.settle,
              c.dp,
              c.priceMarket,
              c.bands.map((b) => [b.upTo, b.ratio]),
              c.penalty,
              c.enabled,
            ],
          ),
        }
      : {}),
    ...(e.strategyMargin !== DEFAULT_STRATEGY_MARGIN
      ? { strategyMargin: strategyMarginParamsToJson(e.strategyMargin) }
      : {}),
    ...(e.optionFeeds.size > 0
      ? {
          optionFeeds: [...e.optionFeeds.values()].map((f) => ({
            underlying: f.underlying,
            expiry: f.expiry,
            guards: f.guards,
            raw: f.raw,
            quoteTime: f.quoteTime,
            scale: f.scale,
            atmIv: f.atmIv,
            validity: f.validity,
            reason: f.reason,
            reported: f.reported,
            spot: f.spot,
            forward: f.forward,
            markTime: f.markTime,
            lastSpot: f.lastSpot,
            lastSpotTime: f.lastSpotTime,
            twapNum: f.twapNum,
            twapMs: f.twapMs,
          })),
        }
      : {}),
    ...(e.vaults.size > 0 ? { vaults: [...e.vaults.values()].map(vaultRow) } : {}),
    ...(e.shardTransfers.size > 0
      ? {
          shardTransfers: e.shardTransfers.all.map(
            (t): ShardTransferRow => [
              t.id,
              t.direction,
              t.account,
              t.asset,
              t.amount,
              t.peer,
              t.status,
              t.createdAt,
              t.updatedAt,
            ],
          ),
        }
      : {}),
  };
}

const OUT_STATUSES: readonly string[] = ['held', 'settled', 'reverted'];
const IN_STATUSES: readonly string[] = ['credited', 'aborted'];

/** Cross-shard transfer records, checked: a status must belong to its direction, an id appear once per direction. */
function restoreShardTransfers(e: EngineState, rows: readonly ShardTransferRow[]): void {
  for (const [id, direction, account, asset, amount, peer, status, createdAt, updatedAt] of rows) {
    const where = `shard transfer ${String(id)}`;
    const statuses = direction === 'out' ? OUT_STATUSES : direction === 'in' ? IN_STATUSES : null;
    if (typeof id !== 'string' || statuses === null || !statuses.includes(status))
      throw new SnapshotError(`${where}: bad direction ${String(direction)} or status ${String(status)}`);
    if (typeof account !== 'string' || typeof asset !== 'string' || typeof peer !== 'string')
      throw new SnapshotError(`${where}: account, asset and peer must be strings`);
    if ((direction === 'out' ? e.shardTransfers.out : e.shardTransfers.in).has(id))
      throw new SnapshotError(`${where} twice`);
    e.shardTransfers.record({
      id,
      direction,
      account,
      asset,
      amount: big(amount, `${where} amount`),
      peer,
      status,
      createdAt: int(createdAt, `${where} createdAt`),
      updatedAt: int(updatedAt, `${where} updatedAt`),
    });
  }
}

function vaultRow(v: Vault): VaultRow {
  return [
    v.id,
    v.manager,
    v.asset,
    v.lockupMs,
    v.performanceFee,
    v.managementFee,
    [v.limits.maxLeverage, v.limits.maxNotionalPerMarket, [...v.limits.markets]],
    v.totalShares,
    [...v.depositors].map(([id, h]) => [id, h.shares, h.hwm, h.lockedUntil]),
    v.queue.map((r) => [r.account, r.shares, r.requestedAt]),
    v.lastFeeTime,
  ];
}

/** The vaults in creation order; each one's account (`vault:<id>`) was restored with the accounts. */
function restoreVaults(e: EngineState, rows: readonly VaultRow[]): void {
  for (const row of rows) {
    const [id, manager, asset, lockupMs, perf, mgmt, limits, total, depositors, queue, lastFeeTime] = row;
    const where = `vault ${String(id)}`;
    const a = e.accounts.get(`${VAULT_PREFIX}${id}`);
    if (a === undefined) throw new SnapshotError(`${where}: its account is missing`);
    if (e.vaults.has(id)) throw new SnapshotError(`${where} twice`);
    if (!e.assets.has(asset)) throw new SnapshotError(`${where}: unknown asset ${asset}`);
    const [maxLeverage, maxNotional, markets] = limits;
    if (!Array.isArray(markets) || !markets.every((x) => typeof x === 'string'))
      throw new SnapshotError(`${where}: markets must be symbols`);
    const v = new Vault(
      id,
      a,
      manager,
      asset,
      int(lockupMs, `${where} lockupMs`),
      big(perf, `${where} performanceFee`),
      big(mgmt, `${where} managementFee`),
      {
        maxLeverage: big(maxLeverage, `${where} maxLeverage`),
        maxNotionalPerMarket: big(maxNotional, `${where} maxNotionalPerMarket`),
        markets: [...markets],
      },
      int(lastFeeTime, `${where} lastFeeTime`),
    );
    v.totalShares = big(total, `${where} totalShares`);
    let sum = 0n;
    for (const [account, shares, hwm, lockedUntil] of depositors) {
      if (typeof account !== 'string' || v.depositors.has(account))
        throw new SnapshotError(`${where}: bad or repeated depositor ${String(account)}`);
      const h = {
        shares: big(shares, `${where} ${account} shares`),
        hwm: big(hwm, `${where} ${account} hwm`),
        lockedUntil: int(lockedUntil, `${where} ${account} lockedUntil`),
      };
      sum += h.shares;
      v.depositors.set(account, h);
    }
    if (sum !== v.totalShares)
      throw new SnapshotError(`${where}: depositors' shares do not sum to totalShares`);
    for (const [account, shares, requestedAt] of queue) {
      if (!v.depositors.has(account)) throw new SnapshotError(`${where}: queued ${account} holds no shares`);
      v.queue.push({
        account,
        shares: big(shares, `${where} queued shares`),
        requestedAt: int(requestedAt, `${where} requestedAt`),
      });
    }
    e.vaults.set(id, v);
  }
}

/** A ledger account's owner as a reference: the account (main balance) or the position (isolated bucket). */
function ownerOf(e: EngineState, l: LedgerAccount): Owner {
  const o = l.owner;
  if (o === null || o === undefined) return null;
  if (o instanceof Account) {
    if (e.accounts.get(o.id) !== o) throw new SnapshotError(`${l.label}: owner ${o.id} is not an account`);
    return ['account', o.id];
  }
  if (o instanceof Silo) {
    if (o.account.silos.get(o.id) !== o)
      throw new SnapshotError(`${l.label}: owner silo ${o.id} is not its account's`);
    return ['silo', o.account.id, o.id];
  }
  const p = o as Position;
  if (p.account instanceof Account && p.silo === null && p.account.positions.get(p.market?.symbol) === p)
    return ['position', p.account.id, p.market.symbol];
  throw new SnapshotError(`${l.label}: owner of an unknown kind`);
}

// ---------------------------------------------------------------------------------------------------------
// Restore

export interface RestoreOptions {
  /**
   * Check the restored engine's own invariants (ledger conservation, every book's structure); default true. A
   * snapshot that passes its checksum but restores to a broken state is refused instead of being run.
   */
  check?: boolean;
}

/**
 * The state `bytes` (from `snapshotEngine`) describe, restored into the object `make` builds from the snapshot's
 * margin conventions (engine.ts: a new Engine); throws a SnapshotError otherwise.
 */
export function restoreState<T extends EngineState>(
  bytes: Uint8Array,
  opts: RestoreOptions,
  make: (conventions: MarginConventions) => T,
): T {
  let s: SnapshotV1;
  try {
    s = unpackr.unpack(bytes) as SnapshotV1;
  } catch (err) {
    throw new SnapshotError(`undecodable (${(err as Error).message})`);
  }
  if (typeof s !== 'object' || s === null || s.format !== SNAPSHOT_FORMAT)
    throw new SnapshotError('not a ringfence snapshot');
  if (s.version !== SNAPSHOT_VERSION)
    throw new SnapshotError(`format version ${String(s.version)}, this build reads ${SNAPSHOT_VERSION}`);
  try {
    return restoreV1(make(s.conventions), s, opts.check ?? true);
  } catch (err) {
    if (err instanceof SnapshotError) throw err;
    // A malformed snapshot surfaces as a TypeError or a constructor's validation error: name it as one.
    throw new SnapshotError(`cannot restore (${(err as Error).message})`);
  }
}

function restoreV1<T extends EngineState>(e: T, s: SnapshotV1, check: boolean): T {
  e.seq = int(s.seq, 'seq');
  e.lastTime = int(s.lastTime, 'lastTime');
  e.now = e.lastTime;
  e.nextOrderId = int(s.nextOrderId, 'nextOrderId');
  if (s.netting !== undefined) e.netting = s.netting;
  if (s.strategyMargin !== undefined)
    e.strategyMargin = parseStrategyMarginParams(s.strategyMargin, 'snapshot.strategyMargin');
  for (const [asset, dp] of s.assets) e.assets.set(asset, dp);

  // 1. The ledger, before anything that opens or looks up accounts in it.
  const ledger = s.ledger.accounts.map(([kind, asset, label, balance]) => {
    const l = new LedgerAccount(kind, asset, label);
    l.balance = big(balance, label);
    return l;
  });
  e.ledger.restore(ledger, s.ledger.system);
  const at = (i: number, what: string): LedgerAccount => {
    const l = ledger[i];
    if (!l) throw new SnapshotError(`${what}: no ledger account ${i}`);
    return l;
  };

  // 2. Markets: built from their configs as createMarket built them; attach finds the restored system accounts.
  for (const ms of s.markets) {
    const m = new Market(ms.config);
    m.attach(e.ledger, e.lastTime);
    const [clearing, fees, insurance, pool] = ms.ledger;
    if (
      m.clearing !== at(clearing, 'clearing') ||
      m.fees !== at(fees, 'fees') ||
      m.insurance !== at(insurance, 'insurance') ||
      m.fundingPool !== at(pool, 'funding pool')
    )
      throw new SnapshotError(`${m.symbol}: its system accounts do not match the ledger's`);
    m.mark = ms.mark;
    m.last = ms.last;
    m.openInterestLots = ms.openInterestLots;
    m.openPositions = ms.openPositions;
    m.unsettledFunding = ms.unsettledFunding;
    m.twapNum = ms.twapNum;
    m.twapMs = ms.twapMs;
    m.lastIndexTime = ms.lastIndexTime;
    m.closed = ms.closed;
    m.reduceOnly = ms.reduceOnly === true;
    m.paused.clear();
    for (const a of ms.paused) m.paused.add(a);
    if ((m.oracle === null) !== (ms.oracle === null))
      throw new SnapshotError(`${m.symbol}: oracle state does not match its config`);
    if (m.oracle && ms.oracle) m.oracle.restoreState(ms.oracle);
    if ((m.funding === null) !== (ms.funding === null))
      throw new SnapshotError(`${m.symbol}: funding state does not match its config`);
    if (m.funding && ms.funding) m.funding.restoreState(ms.funding);
    if ((m.dynamicMargin === null) !== (ms.dynamicMargin === undefined))
      throw new SnapshotError(`${m.symbol}: dynamic margin state does not match its config`);
    if (ms.dynamicMargin !== undefined) restoreDynamicMargin(m, ms.dynamicMargin);
    if (e.markets.has(m.symbol)) throw new SnapshotError(`market ${m.symbol} twice`);
    e.markets.set(m.symbol, m);
  }

  // 3. Accounts: wallets, positions (each adopts its restored bucket), then orders.
  const orders = new Map<number, Order>();
  for (const as of s.accounts) {
    const a = new Account(as.id, int(as.n, `${as.id} n`));
    if (e.accounts.has(a.id)) throw new SnapshotError(`account ${a.id} twice`);
    e.accounts.set(a.id, a);
    for (const [asset, main, reserved, req] of as.wallets) {
      const w = new Wallet(at(main, `${a.id} main`), at(reserved, `${a.id} reserved`));
      w.crossOrderRequirement = big(req, `${a.id} crossOrderRequirement`);
      a.wallets.set(asset, w);
    }
    for (const [id, asset, riskModel, bucket, req, autoAdd, called, closeOrder, held] of as.silos ?? []) {
      if (a.silos.has(id)) throw new SnapshotError(`${a.id}: silo ${id} twice`);
      if (!SILO_RISK_MODELS.includes(riskModel))
        throw new SnapshotError(`${a.id}: silo ${id} has an unknown riskModel ${JSON.stringify(riskModel)}`);
      if (closeOrder !== undefined && !SILO_CLOSE_ORDERS.includes(closeOrder))
        throw new SnapshotError(
          `${a.id}: silo ${id} has an unknown closeOrder ${JSON.stringify(closeOrder)}`,
        );
      const silo = new Silo(id, a, asset, riskModel, at(bucket, `${a.id} silo ${id}`), closeOrder);
      silo.orderRequirement = big(req, `${a.id} silo ${id} orderRequirement`);
      if (autoAdd)
        silo.autoAdd = { policy: autoAdd[0], trigger: big(autoAdd[1], `${a.id} silo ${id} autoAdd`) };
      if (called !== undefined) silo.marginCalled = bool(called, `${a.id} silo ${id} marginCalled`);
      for (const [heldAsset, account] of held ?? [])
        silo.holdings.set(heldAsset, at(account, `${a.id} silo ${id} ${heldAsset}`));
      a.silos.set(id, silo);
    }
    for (const row of as.rebalancing ?? []) restoreRebalancing(a, row);
    for (const row of as.positions) {
      const [symbol, bucket] = row;
      const m = e.markets.get(symbol);
      if (!m) throw new SnapshotError(`${a.id}: position on unknown market ${symbol}`);
      const siloId = row[14];
      let p: Position;
      if (siloId !== undefined && siloId !== null) {
        const silo = a.silos.get(siloId);
        if (!silo) throw new SnapshotError(`${a.id}: leg ${symbol} of unknown silo ${siloId}`);
        p = a.position(m, e.ledger, silo);
      } else {
        e.ledger.adoptNext(at(bucket, `${a.id} ${symbol} bucket`));
        try {
          p = a.position(m, e.ledger);
        } finally {
          e.ledger.adoptNext(null);
        }
        if (p.bucket !== ledger[bucket]) throw new SnapshotError(`${a.id} ${symbol}: bucket not adopted`);
      }
      p.mode = row[2];
      p.leverage = big(row[3], 'leverage');
      p.sign = row[4];
      p.lots = int(row[5], 'lots');
      p.entryPrice = big(row[6], 'entryPrice');
      p.realizedPnl = big(row[7], 'realizedPnl');
      p.fundingIndex = big(row[8], 'fundingIndex');
      p.fundingEpoch = int(row[9], 'fundingEpoch');
      p.openOrders = int(row[10], 'openOrders');
      p.autoAdd = row[11] ? { policy: row[11][0], trigger: big(row[11][1], 'autoAdd.trigger') } : null;
      p.liquidationCooldownUntil = int(row[12], 'liquidationCooldownUntil');
      p.marginCalled = bool(row[13], 'marginCalled');
    }
    for (const row of as.orders) {
      const m = e.markets.get(row[1]);
      const siloId = row[14];
      const position = a.positions.get(
        siloId === undefined || siloId === null ? row[1] : `${siloId}/${row[1]}`,
      );
      if (!m || !position)
        throw new SnapshotError(`${a.id}: order ${row[0]} on ${row[1]} without a position`);
      // The same fields in the same order as placeOrder's literal (one object shape for every order).
      const o: Order = {
        id: int(row[0], 'order id'),
        accountId: a.n,
        side: row[2],
        priceTicks: int(row[3], 'priceTicks'),
        remainingLots: int(row[4], 'remainingLots'),
        prev: null,
        next: null,
        level: null,
        account: a,
        market: m,
        position,
        sizeLots: int(row[5], 'sizeLots'),
        tif: row[6],
        reduceOnly: row[7],
        clientOrderId: row[8],
        stp: row[9],
        mode: row[10],
        reserved: big(row[11], 'reserved'),
        reservedLots: int(row[12], 'reservedLots'),
        ...(row[13] === undefined ? {} : { liquidation: row[13] }),
      };
      if (row[15] !== undefined && row[15] !== null) o.trigger = triggerOf(row[15], `${a.id} order ${o.id}`);
      if (orders.has(o.id)) throw new SnapshotError(`order ${o.id} twice`);
      orders.set(o.id, o);
      a.orders.set(o.id, o);
      // Two open orders could share one before the id was made unique: the index keeps the first restored.
      if (o.clientOrderId !== null && !a.clientOrders.has(o.clientOrderId))
        a.clientOrders.set(o.clientOrderId, o);
    }
  }

  // 4. What refers across accounts and markets: each market's positions set and book, ledger owners.
  for (const ms of s.markets) {
    const m = e.markets.get(ms.config.symbol)!;
    for (const owner of ms.positions) {
      const [id, key] = typeof owner === 'string' ? [owner, m.symbol] : [owner[0], `${owner[1]}/${m.symbol}`];
      const p = e.accounts.get(id)?.positions.get(key);
      if (!p) throw new SnapshotError(`${m.symbol}: position of ${id} missing`);
      m.positions.add(p);
    }
    for (const id of ms.book) {
      const o = orders.get(id);
      if (!o || o.market !== m) throw new SnapshotError(`${m.symbol}: resting order ${id} missing`);
      if (!m.book.add(o)) throw new SnapshotError(`${m.symbol}: order ${id} does not fit the book`);
    }
  }
  // Untriggered trigger orders wait in their market's trigger index (a cache of them), not in a book.
  for (const o of orders.values()) {
    if (!untriggered(o)) continue;
    if (o.level !== null) throw new SnapshotError(`order ${o.id} is untriggered but rests in a book`);
    o.market.triggers.add(o);
  }
  for (const [i, row] of s.ledger.accounts.entries()) {
    const owner = row[4];
    const l = ledger[i]!;
    if (owner === null) l.owner = null;
    else if (owner[0] === 'account') {
      const a = e.accounts.get(owner[1]);
      if (!a) throw new SnapshotError(`${l.label}: owner ${owner[1]} missing`);
      l.owner = a;
    } else if (owner[0] === 'silo') {
      const silo = e.accounts.get(owner[1])?.silos.get(owner[2]);
      if (!silo) throw new SnapshotError(`${l.label}: owner silo ${owner[1]} ${owner[2]} missing`);
      l.owner = silo;
    } else {
      const p = e.accounts.get(owner[1])?.positions.get(owner[2]);
      if (!p) throw new SnapshotError(`${l.label}: owner position ${owner[1]} ${owner[2]} missing`);
      l.owner = p;
    }
  }
  restoreCollateral(e, s.collateralAssets ?? []);
  restoreVaults(e, s.vaults ?? []);
  restoreShardTransfers(e, s.shardTransfers ?? []);
  if (e.ledger.accounts().length !== ledger.length)
    throw new SnapshotError(
      `restoring opened ${e.ledger.accounts().length - ledger.length} ledger accounts the snapshot does not have`,
    );
  for (const fs of s.optionFeeds ?? []) {
    const f = new VolFeed(fs.underlying, int(fs.expiry, 'feed expiry'), fs.guards);
    f.raw = fs.raw;
    f.quoteTime = int(fs.quoteTime, 'feed quoteTime');
    // The smile re-parsed as volQuote parsed it (SVI's reference tau from the quote's time).
    if (fs.raw !== null)
      f.smile = parseSmile(
        fs.raw,
        yearsFromSeconds(Math.max(0, Math.floor((f.expiry - f.quoteTime) / 1000))),
      );
    f.scale = big(fs.scale, 'feed scale');
    f.atmIv = fs.atmIv;
    f.validity = fs.validity;
    f.reason = fs.reason;
    f.reported = fs.reported;
    f.spot = fs.spot;
    f.forward = fs.forward;
    f.markTime = int(fs.markTime, 'feed markTime');
    f.lastSpot = fs.lastSpot;
    f.lastSpotTime = int(fs.lastSpotTime, 'feed lastSpotTime');
    f.twapNum = big(fs.twapNum, 'feed twapNum');
    f.twapMs = big(fs.twapMs, 'feed twapMs');
    e.optionFeeds.set(f.key, f);
  }
  linkOptions(e);
  if (check) {
    const v = e.ledger.verify();
    if (!v.ok) throw new SnapshotError(`restored ledger does not verify: ${v.problems.join('; ')}`);
    for (const m of e.markets.values()) m.book.checkInvariants();
  }
  rebuildIndex(e);
  return e;
}

/** A trigger order's row, checked (kinds and order types are closed sets: a restore must not invent one). */
function triggerOf(row: NonNullable<OrderRow[15]>, what: string): OrderTrigger {
  const [kind, priceTicks, orderType, triggered] = row;
  if (kind !== 'stopLoss' && kind !== 'takeProfit')
    throw new SnapshotError(`${what}: unknown trigger kind ${JSON.stringify(kind)}`);
  if (orderType !== 'limit' && orderType !== 'market')
    throw new SnapshotError(`${what}: unknown trigger order type ${JSON.stringify(orderType)}`);
  return {
    kind,
    priceTicks: int(priceTicks, `${what} trigger price`),
    orderType,
    triggered: bool(triggered, what),
  };
}

function int(v: unknown, what: string): number {
  if (!Number.isSafeInteger(v)) throw new SnapshotError(`${what} is not an integer`);
  return v as number;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new SnapshotError(`${what} is not a boolean`);
  return v;
}

function big(v: unknown, what: string): bigint {
  if (typeof v !== 'bigint') throw new SnapshotError(`${what} is not a bigint`);
  return v;
}

/** One account's rebalancing row back into its settings and its silos' parked flags. */
function restoreRebalancing(a: Account, row: RebalancingRow): void {
  const [
    asset,
    givers,
    receivers,
    trigger,
    target,
    buffer,
    maxPerMove,
    maxPerDay,
    day,
    moved,
    parked,
    holdings,
  ] = row;
  if (holdings !== undefined && !REBALANCE_HOLDINGS.includes(holdings))
    throw new SnapshotError(`${a.id} rebalancing ${asset}: unknown holdings ${JSON.stringify(holdings)}`);
  const where = `${a.id} rebalancing ${asset}`;
  if (a.rebalancing.has(asset)) throw new SnapshotError(`${where} twice`);
  const ids = (v: unknown, what: string): string[] => {
    if (!Array.isArray(v) || !v.every((id) => typeof id === 'string' && a.silos.get(id)?.asset === asset))
      throw new SnapshotError(`${where}: ${what} must be silo ids of the account in ${asset}`);
    return [...v];
  };
  a.rebalancing.set(asset, {
    givers: ids(givers, 'givers'),
    receivers: ids(receivers, 'receivers'),
    trigger: big(trigger, `${where} trigger`),
    target: big(target, `${where} target`),
    buffer: big(buffer, `${where} buffer`),
    maxPerMove: big(maxPerMove, `${where} maxPerMove`),
    maxPerDay: big(maxPerDay, `${where} maxPerDay`),
    day: int(day, `${where} day`),
    movedToday: big(moved, `${where} movedToday`),
    holdings: holdings ?? 'move',
  });
  for (const id of ids(parked, 'parked')) a.silos.get(id)!.rebalanceParked = true;
}

type DynamicMarginRow = [
  ewma: [price: bigint | null, time: number, variance: bigint, samples: number],
  factor: bigint,
  pending: [factor: bigint, effectiveAt: number] | null,
  nextReview: number,
  lastVol: bigint,
];

function dynamicMarginRow(d: DynamicMargin): DynamicMarginRow {
  const w = d.ewma;
  return [
    [w.price, w.time, w.variance, w.samples],
    d.factor,
    d.pending ? [d.pending.factor, d.pending.effectiveAt] : null,
    d.nextReview,
    d.lastVol,
  ];
}

function restoreDynamicMargin(m: Market, row: DynamicMarginRow): void {
  const d = m.dynamicMargin!;
  const where = `${m.symbol} dynamicMargin`;
  const [[price, time, variance, samples], factor, pending, nextReview, lastVol] = row;
  d.ewma = {
    price: price === null ? null : big(price, `${where} price`),
    time: int(time, `${where} time`),
    variance: big(variance, `${where} variance`),
    samples: int(samples, `${where} samples`),
  };
  d.nextReview = int(nextReview, `${where} nextReview`);
  d.lastVol = big(lastVol, `${where} lastVol`);
  const f = big(factor, `${where} factor`);
  if (f < RATE_ONE || f > d.maxFactor) throw new SnapshotError(`${where}: factor out of range`);
  restoreFactor(
    m,
    f,
    pending === null
      ? null
      : { factor: big(pending[0], `${where} pending`), effectiveAt: int(pending[1], `${where} effectiveAt`) },
  );
}

/** The accepted collateral assets, then their holders (a cache) from the silos' holdings. */
function restoreCollateral(e: EngineState, rows: readonly CollateralRow[]): void {
  for (const [asset, settle, dp, priceMarket, bands, penalty, enabled] of rows) {
    if (!e.assets.has(asset) || !e.assets.has(settle))
      throw new SnapshotError(`collateral ${asset} in ${settle}: unknown asset`);
    if (!e.markets.has(priceMarket))
      throw new SnapshotError(`collateral ${asset}: unknown market ${priceMarket}`);
    e.collateralAssets.set(collateralKey(asset, settle), {
      asset,
      settle,
      dp: int(dp, `collateral ${asset} dp`),
      priceMarket,
      bands: bands.map(([upTo, ratio]) => ({ upTo, ratio: big(ratio, `collateral ${asset} ratio`) })),
      penalty: big(penalty, `collateral ${asset} penalty`),
      enabled: bool(enabled, `collateral ${asset} enabled`),
      holders: new Set(),
      index: new HolderIndex(),
    });
  }
  for (const a of e.accounts.values())
    for (const silo of a.silos.values())
      for (const [asset, h] of silo.holdings) {
        if (h.owner !== silo) throw new SnapshotError(`${h.label}: not owned by its silo`);
        const c = e.collateralAssets.get(collateralKey(asset, silo.asset));
        if (c === undefined)
          throw new SnapshotError(`${h.label}: ${asset} is not collateral in ${silo.asset}`);
        noteHolding(c, silo);
      }
}
