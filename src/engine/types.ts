/**
 * The engine's language: commands in, events out, or a typed rejection that changed nothing.
 * Commands carry decimals as strings (what clients send and the journal stores); the engine parses them with the
 * market's scales, so a command is valid or rejected the same way on every replay. Every command carries `time`
 * (ms since epoch) — the engine has no clock.
 */
import type { Side } from '../core/margin.ts';
import type { ShardTransferStatus } from './shard-transfers.ts';

export type MarginMode = 'isolated' | 'cross';
export type OrderSide = 'buy' | 'sell';
export type TimeInForce = 'GTC' | 'IOC' | 'FOK' | 'PO';
/** Self-trade prevention: which side is cancelled when an order would trade with its own account. */
export type SelfTradePrevention = 'cancelTaker' | 'cancelMaker' | 'cancelBoth';

export interface MarketConfig {
  symbol: string;
  kind: 'linear' | 'inverse';
  base: string;
  quote: string;
  tickSize: string;
  lotSize: string;
  multiplier?: string;
  settleDp: number;
  maxLeverage: string;
  /** Risk rule spec as in core presets (brackets, hyperliquid, steps, sizeLinear, fraction). */
  risk: import('../core/presets.ts').RuleSpec;
  /** Fee rates as fractions; a negative maker fee is a rebate (never larger than the taker fee). */
  takerFee: string;
  makerFee: string;
  /** A buy may be priced at most mark × (1 + limitBand), a sell at least mark × (1 − limitBand) (the passive side
   * is not bounded: it can only wait); market orders fill no worse than mark × (1 ± marketBand). */
  limitBand?: string;
  marketBand?: string;
  /** Largest single order, in base/contracts. */
  maxOrderSize?: string;
  defaultLeverage?: string;
  /** Dated futures: expiry (ms) and the window before it over which the index TWAP sets the settlement price. */
  expiry?: number | null;
  settlementWindowMs?: number;
  /** Oracle feeds → index → mark. Without it the mark is set directly (`setMarkPrice`) and always valid. */
  oracle?: OracleSpec;
  /** Periodic funding (perpetuals). */
  funding?: FundingSpec;
  /** Liquidation policy; every field has a conservative default (see LiquidationSpec). */
  liquidation?: LiquidationSpec;
  /** Volatility-adjusted margin (docs/dynamic-margin.md); needs an `oracle`. Absent: the static table. */
  dynamicMargin?: DynamicMarginSpec;
  /**
   * A European option (docs/options.md): prices are premiums per 1 unit of underlying in the settle asset (the quote:
   * USDT for linear options, the coin for inverse ones), so `kind` is 'linear' and PnL is linear in the premium.
   * Settled at `expiry` on the TWAP of the underlying's index over `settlementWindowMs`.
   */
  option?: OptionSpec;
  /** Per-leg margin rule of a short option (core/options/margin.ts); default 'ringfence' (the most conservative). */
  optionMargin?: 'ringfence' | 'deribit' | 'okx' | 'derive';
}

/**
 * Volatility-adjusted margin: the market's maintenance and initial rates are multiplied by a factor that follows the
 * index's realised volatility, factor = clamp(vol / referenceVol, 1, maxFactor), reviewed every `reviewMs`, moved by
 * at most `maxStep` a review, and raised only `noticeMs` after it is announced (lowered at once).
 */
export interface DynamicMarginSpec {
  /** Annualised volatility at which the factor is 1 (e.g. "0.6"). */
  referenceVol: string;
  /** Upper bound of the factor (e.g. "3"). */
  maxFactor: string;
  /** Largest change of the factor per review (e.g. "0.25"). */
  maxStep: string;
  /** Review interval, ms (reviews at multiples of it since the epoch). Default 3,600,000. */
  reviewMs?: number;
  /** Notice before a raise applies, ms. Default 3,600,000. */
  noticeMs?: number;
  /** EWMA decay per sample (default "0.94"). */
  lambda?: string;
  /** Least time between two return samples, ms. Default 60,000. */
  sampleMs?: number;
  /** Samples needed before the first review may move the factor. Default 30. */
  minSamples?: number;
}

/** What makes a market an option (see MarketConfig.option). */
export interface OptionSpec {
  /** The market whose index (its mark without an oracle) is the underlying's spot price, e.g. 'BTCUSDT'. */
  underlying: string;
  type: 'call' | 'put';
  /** In the underlying's quote currency (USD), a decimal string. */
  strike: string;
  /** Expiry, ms since epoch. */
  expiry: number;
  settle: 'linear' | 'inverse';
  /** The vol feed's guards (one feed per underlying and expiry: the first option market of the expiry sets them). */
  vol?: VolGuardSpec;
}

export interface VolGuardSpec {
  /** A vol quote older than this is stale (default 60,000). */
  stalenessMs?: number;
  /** Largest relative move of the at-the-money IV in one quote (default "0.5"); beyond it the smile is scaled
   * back to the band and the feed is flagged too volatile. */
  maxJump?: string;
  /** IV clamps applied to every strike (defaults "0.05" and "5"). */
  minIv?: string;
  maxIv?: string;
}

/** A vol smile for one expiry: raw SVI parameters (Derive's feed) or mark IVs per strike (interpolated linearly in
 * strike, flat beyond the ends). Decimal strings. */
export type VolSmile =
  | { kind: 'svi'; a: string; b: string; rho: string; m: string; sigma: string }
  | { kind: 'strikes'; ivs: Record<string, string> };

/**
 * How a market liquidates a bucket that fell below maintenance (after its open orders are cancelled):
 * - `partial`: 'full' closes everything; 'restore' closes the smallest size that brings equity back to
 *   maintenance × (1 + buffer); 'tier' closes at least down to the next lower risk tier (Bybit, BitMEX), more if
 *   that does not restore maintenance.
 * - positions above `chunkNotional` close at most `chunkFraction` per step, then wait `cooldownMs` (Hyperliquid:
 *   20% above 100k, 30 s), unless equity falls below `backstopRatio` × maintenance (Hyperliquid: 2/3), when the
 *   backstop takes the rest at once.
 * - the liquidation order is an IOC whose limit sits at `limitAt` of the way from the bankruptcy price (0) to the
 *   mark (1); what does not fill is taken over by the backstop (the insurance fund's own account) at the
 *   bankruptcy price, or, when the fund is empty, auto-deleveraged against opposite positions at that price.
 */
export interface LiquidationSpec {
  /** Fee on the liquidated notional, paid to the insurance fund, capped at what is left in the bucket. Default "0.005". */
  feeRate?: string;
  partial?: 'full' | 'restore' | 'tier';
  /** Default "0.25": a partial liquidation stops once equity ≥ 1.25 × maintenance. */
  buffer?: string;
  /** In settle units; absent = no chunking. */
  chunkNotional?: string;
  /** Default "0.2". */
  chunkFraction?: string;
  /** Default 30,000 when chunking. */
  cooldownMs?: number;
  /** Default "0.6666666667" (2/3). */
  backstopRatio?: string;
  /** Default "0". */
  limitAt?: string;
  /** ADL ranking: BitMEX/Bybit PnL% × effective leverage (default) or Binance's leverage-then-PnL. */
  adlRanking?: 'pnlLeverage' | 'leveragePnl';
  /** Options: the backstop takes what the book did not fill at the mark moved this fraction against the liquidated
   * holder (a short is bought back at mark × (1 + d), a long sold at mark × (1 − d)). Default "0.1". */
  optionDiscount?: string;
}

/** Auto-add margin policies: Bybit's "add the initial margin again", or top up to initial margin at mark. */
export type AutoAddPolicy = 'addInitialMargin' | 'restoreInitialMargin';

export interface OracleSpec {
  sources: { name: string; weight: number }[];
  stalenessMs: number;
  /** Largest |source − median| / median before a source is excluded, e.g. "0.05". */
  maxDeviation: string;
  minSources: number;
  /** Largest index move in one update, e.g. "0.1"; beyond it the index is clamped and flagged too volatile. */
  maxJump: string;
  markMethod: 'index' | 'binance' | 'hyperliquid';
  emaTauMs?: number;
  basisSamples?: number;
}

export interface FundingSpec {
  intervalMs: number;
  /** Per 8 hours, e.g. "0.0001". */
  interestRate: string;
  /** Clamp around the interest rate, default "0.0005". */
  clamp?: string;
  /** Binance ±k × MMR (first tier), Hyperliquid a cap per hour, dYdX multiple × (IMR − MMR) of the first tier. */
  cap:
    | { kind: 'mmrMultiple'; k: string }
    | { kind: 'perHour'; cap: string }
    | { kind: 'marginSpread'; multiple: string }
    | { kind: 'none' };
  /** Margin amount whose notional at max leverage sets the impact depth (Binance 200 USDT, dYdX 500 USDC). */
  impactMargin: string;
  /** Price that values a unit for funding: the index (Hyperliquid's oracle) or the mark (Binance). Default mark. */
  priceSource?: 'index' | 'mark';
}

interface Base {
  /** Milliseconds since epoch; must not go backwards. */
  time: number;
}

export type Command =
  | (Base & { type: 'createMarket'; market: MarketConfig })
  | (Base & { type: 'deposit'; account: string; asset: string; amount: string })
  | (Base & { type: 'withdraw'; account: string; asset: string; amount: string })
  | (Base & { type: 'setMarginMode'; account: string; symbol: string; mode: MarginMode })
  /** `silo`: a leg of that named silo (its leverage sets the leg's initial margin); absent: as today. */
  | (Base & { type: 'setLeverage'; account: string; symbol: string; leverage: string; silo?: string })
  | (Base & { type: 'addMargin'; account: string; symbol: string; amount: string })
  | (Base & { type: 'removeMargin'; account: string; symbol: string; amount: string })
  | (Base & {
      type: 'placeOrder';
      account: string;
      symbol: string;
      side: OrderSide;
      orderType: 'limit' | 'market';
      size: string;
      price?: string;
      timeInForce?: TimeInForce;
      reduceOnly?: boolean;
      clientOrderId?: string;
      stp?: SelfTradePrevention;
      /** The named silo whose leg this order trades (positions are keyed by silo and market); absent: as today. */
      silo?: string;
      /**
       * A trigger order (at most one of the two): reduce-only, it waits untriggered until the mark reaches this price
       * (a sell stop-loss when mark ≤ it, a buy stop-loss when mark ≥ it; take-profit the other way), then becomes
       * this order (market, or limit at `price`). Refused WOULD_TRIGGER_IMMEDIATELY if the mark is already there.
       */
      stopLossPrice?: string;
      takeProfitPrice?: string;
    })
  | (Base & { type: 'cancelOrder'; account: string; symbol: string; orderId: number })
  | (Base & { type: 'cancelAll'; account: string; symbol?: string })
  | (Base & {
      type: 'amendOrder';
      account: string;
      symbol: string;
      orderId: number;
      price?: string;
      size?: string;
    })
  | (Base & { type: 'setMarkPrice'; symbol: string; price: string })
  | (Base & { type: 'oracleQuote'; symbol: string; source: string; price: string })
  /** Moves the clock: staleness, funding times and expiries due by `time` are processed. */
  | (Base & { type: 'tick' })
  /** Settles an account's pending funding on a market (any touch of the position does it too). */
  | (Base & { type: 'settleFunding'; account: string; symbol: string })
  /**
   * Opt an isolated position in or out of auto-add margin: when its margin ratio (maintenance / equity) reaches
   * `trigger` (default "0.8"), top it up from the owner's free balance by `policy` (default addInitialMargin).
   * With `silo`, the named silo as a whole is opted in (its maintenance / equity under its model); `symbol` is then
   * not needed (without `silo` it is required).
   */
  | (Base & {
      type: 'setAutoAddMargin';
      account: string;
      symbol?: string;
      silo?: string;
      enabled: boolean;
      policy?: AutoAddPolicy;
      trigger?: string;
    })
  /** Admin: seed or top up the insurance fund of an asset from outside. */
  | (Base & { type: 'fundInsurance'; asset: string; amount: string })
  /**
   * Admin: close a market to new risk. From then on only reduce-only orders are accepted; resting orders that are
   * not reduce-only are canceled (reason `marketClosing`). Positions, funding, prices and liquidations carry on.
   */
  | (Base & { type: 'closeMarket'; symbol: string })
  /**
   * Admin: one option market per expiry × strike × type on `underlying` (symbols `<BASE>-<YYYYMMDD>-<strike>-<C|P>`),
   * settled `settle`. All are created or none.
   */
  | (Base & {
      type: 'createOptionChain';
      underlying: string;
      settle: 'linear' | 'inverse';
      expiries: number[];
      strikes: string[];
      types?: ('call' | 'put')[];
      tickSize: string;
      lotSize: string;
      takerFee?: string;
      makerFee?: string;
      limitBand?: string;
      marketBand?: string;
      maxOrderSize?: string;
      settlementWindowMs?: number;
      optionMargin?: 'ringfence' | 'deribit' | 'okx' | 'derive';
      vol?: VolGuardSpec;
      liquidation?: LiquidationSpec;
    })
  /** The vol feed of one expiry of `underlying`: a smile; marks of that expiry's options are recomputed. */
  | (Base & { type: 'volQuote'; underlying: string; expiry: number; smile: VolSmile })
  /**
   * Admin: remove a market that is closed to new risk (`closeMarket`, or settled at expiry) and flat: no open
   * position, no resting order. Its clearing and funding-pool residue goes to the asset's fees (reason
   * `delistResidue`), its flat positions and their empty buckets are dropped, and its slot (MAX_MARKETS) and
   * symbol are free again. Refused otherwise: MARKET_NOT_FLAT (not closed, or orders resting), POSITION_OPEN.
   */
  | (Base & { type: 'delistMarket'; symbol: string })
  /**
   * A named silo: a ring-fenced collateral box in one settle asset whose legs (positions keyed by silo and market)
   * are backed by its own bucket under its risk model. Its loss never reaches the owner's free balance or another
   * silo. Id: /^[A-Za-z0-9_.-]{1,32}$/, not starting with 'cross:' or 'isolated:' (the implicit silos' read ids).
   */
  | (Base & {
      type: 'createSilo';
      account: string;
      silo: string;
      asset: string;
      riskModel: SiloRiskModel;
      /** The order its legs close in when it is liquidated (default `largestRequirement`). */
      closeOrder?: SiloCloseOrder;
    })
  /** Refused POSITION_OPEN unless every leg is flat and no order is open; the collateral returns to the free balance. */
  | (Base & { type: 'closeSilo'; account: string; silo: string })
  /**
   * Moves collateral between the free balance ('free') and a named silo, or between two silos of the owner in the
   * same asset. Out of a silo at most its max removable (equity − initial margin, as removeMargin), out of the free
   * balance at most what is available. `asset` other than the silo's settle asset: a holding of a collateral asset
   * (setCollateralAsset) moves in or out; out only as far as the silo's available stays ≥ 0 without it.
   */
  | (Base & {
      type: 'transferCollateral';
      account: string;
      from: string;
      to: string;
      asset?: string;
      amount: string;
    })
  /**
   * The collateral rebalancing agent of one account and asset (opt-in; `enabled: false` turns it off). When a
   * `receivers` silo's margin ratio (maintenance / equity under its model) reaches `trigger`, the engine moves
   * collateral into it from the `givers` silos with the most surplus first, enough to bring its ratio down to
   * `target` (default half the trigger), never taking a giver below its initial margin × (1 + `buffer`) nor past
   * what it may let go (as transferCollateral), at most `maxPerMove` per move and `maxPerDay` per UTC day (0: no
   * limit). Only the named silos listed, only the owner's, only in `asset`: any other silo is never touched.
   */
  | (Base & {
      type: 'setRebalancing';
      account: string;
      asset: string;
      enabled: boolean;
      givers?: string[];
      receivers?: string[];
      trigger?: string;
      target?: string;
      buffer?: string;
      maxPerMove?: string;
      maxPerDay?: string;
      /** Givers' holdings in other assets: `move` (default), `convert` to the settle asset first, or `none`. */
      holdings?: RebalanceHoldings;
    })
  /**
   * Admin: `asset` may back named silos that settle in `settle` (engine collateral.ts, docs/multi-asset-collateral.md).
   * A holding counts at the index of `priceMarket` (a linear market with an oracle, settled in `settle`, whose base
   * is `asset`) × the collateral ratio of its value band (`haircuts`, as calc's: [{upTo, ratio}], default the
   * venues' flat ratio for the asset); when the silo's settle balance cannot pay a loss, fee or funding the holding is
   * converted at the index × (1 − `conversionPenalty`) against the insurance fund — the penalty at most the first
   * band's haircut, so a conversion never yields less than the holding counted for. `dp`: the asset's decimals
   * (fixed once known). Sent again it replaces the settings and re-checks every holder; `enabled: false` takes no
   * new holdings (those held keep counting).
   */
  | (Base & {
      type: 'setCollateralAsset';
      asset: string;
      settle: string;
      dp?: number;
      priceMarket: string;
      haircuts?: { upTo: string | null; ratio: string }[];
      conversionPenalty?: string;
      enabled?: boolean;
    })
  /** Admin: the netted risk model's parameters (absent fields keep their value); re-files every netted silo. */
  | (Base & {
      type: 'setNetting';
      floor?: string;
      sameBase?: string;
      correlations?: { a: string; b: string; rho: string }[];
    })
  /**
   * A combo: 2–8 legs on distinct markets settled in `silo`'s asset, each an immediate fill-or-kill taker order at its
   * limit. All legs fill in full or nothing happens (FOK_NOT_FILLED); the silo's margin is checked once, after the
   * whole combo (docs/silos.md "Combo orders"). `stp` as placeOrder's (default cancelTaker).
   */
  | (Base & {
      type: 'placeCombo';
      account: string;
      silo: string;
      legs: { symbol: string; side: OrderSide; size: string; price: string }[];
      clientComboId?: string;
      stp?: SelfTradePrevention;
    })
  /**
   * Admin: the option strategy models' parameters (core parseStrategyMarginParams' JSON: `unpairedIMScale`,
   * `unpairedMMScale`, `scenario` per underlying; decimal strings; absent top-level fields keep their value);
   * re-files every maxLoss, strategy and scenario silo.
   */
  | (Base & { type: 'setStrategyMargin'; params: Record<string, unknown> })
  /**
   * Admin: a risk-isolated vault (docs/vaults.md): an account `vault:<vault>` in `asset` traded by `manager` (an
   * existing account; the service checks that the key acting as the vault is the manager's), owned by depositors'
   * shares. Fees are rates (`performanceFee` < 1 on gains above each depositor's high-water mark, `managementFee` ≤
   * 0.5 a year), `lockupMs` after each deposit; limits: `maxLeverage` (gross notional / NAV), `maxNotionalPerMarket`
   * (settle units; absent or 0: none), `markets` (allowed symbols; absent or empty: all in the asset).
   */
  | (Base & {
      type: 'createVault';
      vault: string;
      manager: string;
      asset: string;
      lockupMs: number;
      performanceFee: string;
      managementFee: string;
      maxLeverage: string;
      maxNotionalPerMarket?: string;
      markets?: string[];
    })
  /** `amount` of the vault's asset from `account`'s free balance into the vault, for shares at the NAV per share. */
  | (Base & { type: 'vaultDeposit'; vault: string; account: string; amount: string })
  /**
   * Burns `shares` (SHARE_DP decimals) of `account`'s holding after its lock-up and pays their NAV from the vault's
   * free balance; queued (paid FIFO at the NAV then) when the free balance does not cover it.
   */
  | (Base & { type: 'vaultWithdraw'; vault: string; account: string; shares: string })
  // Cross-shard transfers (shard-transfers.ts, docs/sharding.md): each shard's engine applies its own half.
  /** Source: `amount` of `account`'s free balance (at most its withdrawable) into the pending hold, bound for `to`. */
  | (Base & {
      type: 'shardTransferOut';
      transfer: string;
      account: string;
      asset: string;
      amount: string;
      to: string;
    })
  /** Target: credits `account` (created as a deposit would) — once; a repeat, or after an abort, moves nothing. */
  | (Base & {
      type: 'shardTransferIn';
      transfer: string;
      account: string;
      asset: string;
      amount: string;
      from: string;
    })
  /** Target: records the id as aborted so no credit can follow; after a credit it changes nothing. */
  | (Base & { type: 'shardTransferAbort'; transfer: string; from: string })
  /** Source: the target's answer — credited: the hold ships out (settled); aborted: it returns (reverted). */
  | (Base & { type: 'shardTransferSettle'; transfer: string; outcome: 'credited' | 'aborted' });

/**
 * `standalone` and `netted` (docs/silos.md); the option strategy models `maxLoss`, `strategy` and `scenario` (issue 18:
 * core/strategy over the silo's legs, src/engine/strategy-silos.ts).
 */
export type SiloRiskModel = 'standalone' | 'netted' | 'maxLoss' | 'strategy' | 'scenario';

/**
 * The order a liquidated silo's legs close in: the largest maintenance first (`largestRequirement`, the default and
 * the cross bucket's), the most negative unrealized PnL first (`largestLoss`), or the largest maintenance per unit of
 * notional first (`mostRiskPerUnit`: what frees the most requirement per unit closed).
 */
export type SiloCloseOrder = 'largestRequirement' | 'largestLoss' | 'mostRiskPerUnit';

export type CommandType = Command['type'];

/** The command of type `K` (what its handler in commands/*.ts receives). */
export type Cmd<K extends CommandType> = Extract<Command, { type: K }>;

export type RejectCode =
  | 'INVALID_COMMAND'
  | 'INVALID_QUANTITY'
  | 'INVALID_PRICE'
  | 'INVALID_AMOUNT'
  | 'UNKNOWN_MARKET'
  | 'MARKET_EXISTS'
  | 'UNKNOWN_ACCOUNT'
  | 'UNKNOWN_ASSET'
  | 'UNKNOWN_ORDER'
  | 'INSUFFICIENT_BALANCE'
  | 'INSUFFICIENT_MARGIN'
  | 'REDUCE_ONLY_WOULD_INCREASE'
  | 'POST_ONLY_WOULD_TAKE'
  | 'FOK_NOT_FILLED'
  | 'PRICE_BAND'
  | 'NO_REFERENCE_PRICE'
  | 'LEVERAGE_TOO_HIGH'
  | 'POSITION_OPEN'
  | 'NOT_ISOLATED'
  | 'TOO_MANY_ORDERS'
  | 'BOOK_FULL'
  | 'TIME_WENT_BACKWARDS'
  | 'LIMIT_EXCEEDED'
  | 'ORACLE_PAUSED'
  | 'MARKET_CLOSED'
  /** delistMarket: the market is not closed to new risk, or orders still rest on it (positions: POSITION_OPEN). */
  | 'MARKET_NOT_FLAT'
  /** The clientOrderId is already on one of the account's open orders (the message names that order). */
  | 'DUPLICATE_CLIENT_ORDER_ID'
  /** No named silo of that id on the account. */
  | 'UNKNOWN_SILO'
  /** createSilo: the account already has a silo of that id. */
  | 'SILO_EXISTS'
  /** The asset named does not match the silo's (transferCollateral, an order on a market settled in another). */
  | 'ASSET_MISMATCH'
  /** Closing a leg of an option-model silo would raise its initial margin above what the silo can carry. */
  | 'CLOSE_RAISES_REQUIREMENT'
  /** A stop-loss / take-profit whose trigger price the mark has already reached (Binance's -2021). */
  | 'WOULD_TRIGGER_IMMEDIATELY'
  /** amendOrder on a trigger order that has not triggered yet: cancel it and place a new one. */
  | 'TRIGGER_NOT_AMENDABLE'
  /** No vault of that id. */
  | 'UNKNOWN_VAULT'
  /** createVault: a vault of that id exists. */
  | 'VAULT_EXISTS'
  /** vaultWithdraw before the holding's lock-up ends. */
  | 'VAULT_LOCKED'
  /** An order of a vault's account outside its risk limits (market, notional per market, leverage), or a deposit
   * into a vault with no positive NAV. */
  | 'VAULT_LIMIT'
  /** shardTransferSettle of an id this shard never held. */
  | 'UNKNOWN_TRANSFER'
  /** A transfer id seen before with other terms (account, asset, amount, shard or outcome). */
  | 'TRANSFER_MISMATCH';

/** What the rebalancing agent does with givers' holdings in other assets (setRebalancing `holdings`). */
export type RebalanceHoldings = 'move' | 'convert' | 'none';

/** A trigger order's kind (placeOrder `stopLossPrice` / `takeProfitPrice`). */
export type TriggerKind = 'stopLoss' | 'takeProfit';

export class Rejection extends Error {
  readonly code: RejectCode;
  constructor(code: RejectCode, message: string) {
    // No stack trace: a rejection is the command's answer, never a bug, and `apply` returns only its code and
    // message. Capturing one cost ~5 µs, more than applying a typical command.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'Rejection';
    this.code = code;
  }
}

export type CancelReason =
  | 'user'
  | 'ioc'
  | 'selfTrade'
  | 'marginCheck'
  | 'priceBand'
  | 'fillLimit'
  | 'reduceOnly'
  | 'bookFull'
  | 'expired'
  | 'oraclePaused'
  | 'liquidation'
  | 'marketClosing';

export type TransferReason =
  | 'deposit'
  | 'withdraw'
  | 'orderReserve'
  | 'orderRelease'
  | 'initialMargin'
  | 'marginRelease'
  | 'realizedPnl'
  /** A cross position's profit realized at its mark (entry moved to it) to pay a loss of its account: liquidation.ts. */
  | 'profitRealized'
  | 'fee'
  | 'rebate'
  | 'addMargin'
  | 'removeMargin'
  | 'leverageChange'
  | 'insuranceCover'
  | 'funding'
  | 'fundingResidue'
  /** A delisted market's clearing / funding-pool rounding residue, to the asset's fees (or a deficit from insurance). */
  | 'delistResidue'
  | 'settlement'
  | 'liquidationFee'
  | 'autoAddMargin'
  | 'insuranceFund'
  /** transferCollateral, and closeSilo handing a silo's collateral back to the free balance. */
  | 'collateralTransfer'
  /** The rebalancing agent moving collateral between two of an account's opted-in silos (setRebalancing). */
  | 'rebalance'
  /** A silo's holding in another asset converted to its settle asset against the insurance fund (collateral.ts). */
  | 'collateralConversion'
  /** A depositor's money into a vault's account (vaultDeposit) and back out (vaultWithdraw). */
  | 'vaultDeposit'
  | 'vaultWithdraw'
  /** Cross-shard transfers: free balance → hold, hold → link (settled) or back (reverted), link → free balance. */
  | 'shardHold'
  | 'shardSettle'
  | 'shardRevert'
  | 'shardCredit';

export type EngineEvent =
  | { type: 'marketCreated'; symbol: string }
  /** The market is gone (delistMarket): its symbol resolves no more until created again. */
  | { type: 'marketDelisted'; symbol: string }
  | {
      type: 'siloCreated';
      account: string;
      silo: string;
      asset: string;
      riskModel: SiloRiskModel;
      /** Only when not the default `largestRequirement` (so the events of silos that never set it are unchanged). */
      closeOrder?: SiloCloseOrder;
    }
  | { type: 'siloClosed'; account: string; silo: string }
  | { type: 'transfer'; asset: string; from: string; to: string; amount: bigint; reason: TransferReason }
  | {
      type: 'orderAccepted';
      orderId: number;
      account: string;
      symbol: string;
      side: OrderSide;
      price: bigint;
      size: bigint;
      timeInForce: TimeInForce;
      reduceOnly: boolean;
      /**
       * A trigger order, accepted untriggered (only then present, so every other orderAccepted reads as before): its
       * kind, trigger price and what it becomes (`price` is its limit; 0 for a market one, whose limit is the band
       * edge when it fires). It rests in no book until an `orderTriggered` event.
       */
      triggerKind?: TriggerKind;
      triggerPrice?: bigint;
      orderType?: 'limit' | 'market';
    }
  /**
   * A trigger order fired: the mark reached its trigger price (after the liquidation sweep for that mark). From here
   * it is a live reduce-only order of `size` (the position's closable size at that moment if smaller) at limit
   * `price` (a market one's band edge); its trade, orderCanceled (an IOC's rest) events follow as a placed order's.
   */
  | {
      type: 'orderTriggered';
      orderId: number;
      account: string;
      symbol: string;
      side: OrderSide;
      triggerKind: TriggerKind;
      triggerPrice: bigint;
      markPrice: bigint;
      orderType: 'limit' | 'market';
      price: bigint;
      size: bigint;
      timeInForce: TimeInForce;
    }
  | {
      type: 'orderCanceled';
      orderId: number;
      account: string;
      symbol: string;
      remaining: bigint;
      reason: CancelReason;
    }
  | {
      type: 'orderAmended';
      orderId: number;
      account: string;
      symbol: string;
      price: bigint;
      size: bigint;
      priorityKept: boolean;
    }
  | {
      type: 'trade';
      symbol: string;
      price: bigint;
      size: bigint;
      takerOrderId: number;
      makerOrderId: number;
      taker: string;
      maker: string;
      takerSide: OrderSide;
      takerFee: bigint;
      makerFee: bigint;
    }
  | {
      type: 'position';
      account: string;
      symbol: string;
      side: Side | null;
      size: bigint;
      entryPrice: bigint;
      collateral: bigint;
      realizedPnl: bigint;
      /**
       * The named silo the position is a leg of; absent for a default position (isolated or cross, as `mode` says),
       * so every event of a state without silos reads as before. Read it as `ev.silo ?? null`.
       */
      silo?: string;
    }
  | { type: 'marginModeSet'; account: string; symbol: string; mode: MarginMode }
  | {
      type: 'autoAddMarginSet';
      account: string;
      /** The isolated position's market; empty when a named silo was set (`silo`: the silo is the box, not a leg). */
      symbol: string;
      /** The named silo set (absent: an isolated position). */
      silo?: string;
      enabled: boolean;
      policy: AutoAddPolicy | null;
      trigger: bigint | null;
    }
  /** `silo`: the named silo whose leg's leverage changed (absent for a default position). */
  | { type: 'leverageSet'; account: string; symbol: string; leverage: bigint; silo?: string }
  | { type: 'markPrice'; symbol: string; price: bigint }
  /** `silo`: the named silo whose loss the fund covered (absent for a default position). */
  | { type: 'insuranceDraw'; asset: string; account: string; symbol: string; amount: bigint; silo?: string }
  | { type: 'indexPrice'; symbol: string; price: bigint | null; validity: string; reason: string }
  | {
      type: 'oracleStatus';
      symbol: string;
      action: string;
      paused: boolean;
      validity: string;
      reason: string;
    }
  | { type: 'fundingRate'; symbol: string; time: number; rate: bigint; price: bigint; paused: boolean }
  | {
      type: 'fundingPaid';
      account: string;
      symbol: string;
      amount: bigint;
      shortfall: bigint;
      /** A named silo's leg paid or received it (absent: a default position). */
      silo?: string;
    }
  | { type: 'marketSettled'; symbol: string; price: bigint; positions: number }
  /** A bucket (an isolated position, or an account's cross positions in one asset) is below maintenance. */
  | {
      type: 'liquidationStarted';
      account: string;
      symbol: string;
      mode: MarginMode;
      /** The named silo liquidated; absent: an isolated position or the account's cross bucket. */
      silo?: string;
      mark: bigint;
      equity: bigint;
      maintenance: bigint;
    }
  /** One stage of closing a liquidated position: through the book, taken over by the backstop, or by ADL. */
  | {
      type: 'liquidation';
      account: string;
      symbol: string;
      mode: MarginMode;
      /** The named silo of the liquidated leg; absent for a default position. */
      silo?: string;
      side: Side;
      size: bigint;
      /** Average price of this stage (bankruptcy price for backstop and ADL). */
      price: bigint;
      mark: bigint;
      bankruptcyPrice: bigint;
      stage: 'book' | 'backstop' | 'adl';
      /** Liquidation fee paid to the insurance fund in this stage. */
      fee: bigint;
      /** Size of the position left open afterwards. */
      remaining: bigint;
    }
  /** A counterparty position closed by auto-deleveraging at the liquidated order's bankruptcy price. */
  | {
      type: 'adl';
      account: string;
      symbol: string;
      /** The counterparty is a named silo's leg (absent: a default position). */
      silo?: string;
      side: Side;
      size: bigint;
      price: bigint;
      liquidated: string;
      /** 1 = first in the queue. */
      rank: number;
    }
  /** `silo`: a named silo was topped up (`symbol`: its leg with the largest maintenance); absent: an isolated position. */
  | {
      type: 'autoAddMargin';
      account: string;
      symbol: string;
      amount: bigint;
      marginRatio: bigint;
      silo?: string;
    }
  /**
   * Margin ratio (maintenance / equity, RATE_DP) reached a warning level and nothing could top it up. `silo`: a
   * named silo's (`symbol`: its leg with the largest maintenance); absent: an isolated position.
   */
  | { type: 'marginCall'; account: string; symbol: string; marginRatio: bigint; silo?: string }
  /**
   * Dynamic margin: the market's margin factor (RATE_DP) was `announced` (a raise, applying at `effectiveAt`),
   * `applied` (a raise at its time, or a cut at once) or `withdrawn` (an announced raise a later review no longer
   * supported: `factor` is the raise, `previous` the factor that stays). `vol`: the realised volatility (WAD).
   */
  | {
      type: 'marginFactor';
      symbol: string;
      status: 'announced' | 'applied' | 'withdrawn';
      factor: bigint;
      previous: bigint;
      effectiveAt: number;
      vol: bigint;
    }
  /** setRebalancing's settings as they now stand (null fields: turned off). */
  | {
      type: 'rebalancingSet';
      account: string;
      asset: string;
      enabled: boolean;
      givers: string[];
      receivers: string[];
      trigger: bigint | null;
      target: bigint | null;
      buffer: bigint | null;
      maxPerMove: bigint | null;
      maxPerDay: bigint | null;
      /** Only when not the default `move` (so the events of settings that never chose it are unchanged). */
      holdings?: RebalanceHoldings;
    }
  /**
   * The rebalancing agent moved `amount` from silo `from` to silo `to` (one event per giver): `to`'s margin ratio had
   * reached `trigger` (`marginRatio`: its ratio before the move, RATE_DP; `reason` says which check found it). After
   * the move the giver keeps at least its initial margin × (1 + buffer) (`giverFloor`).
   */
  | {
      type: 'collateralRebalanced';
      account: string;
      asset: string;
      from: string;
      to: string;
      amount: bigint;
      marginRatio: bigint;
      trigger: bigint;
      giverFloor: bigint;
      reason: 'trigger' | 'maintenance';
      /**
       * A holding moved instead of settle collateral: `holding` units of `holdingAsset` (`amount`: what the receiver
       * counts them at); with `converted` it was sold to the fund in the giver and `amount` of proceeds moved.
       */
      holdingAsset?: string;
      holding?: bigint;
      converted?: boolean;
    }
  /** setCollateralAsset's settings as they now stand (ratios and the penalty at RATE_DP, band bounds at settle units). */
  | {
      type: 'collateralAssetSet';
      asset: string;
      settle: string;
      dp: number;
      priceMarket: string;
      haircuts: { upTo: bigint | null; ratio: bigint }[];
      conversionPenalty: bigint;
      enabled: boolean;
    }
  /**
   * `amount` of a silo's holding in `asset` sold to the insurance fund for `proceeds` of its settle asset at `price`
   * (the index, settle per unit at the price market's decimals) less the conversion penalty: `reason` `shortfall`
   * (a loss, fee or funding its settle balance could not pay) or `liquidation` (the silo fell below maintenance:
   * everything is converted before any leg is closed).
   */
  | {
      type: 'collateralConverted';
      account: string;
      silo: string;
      asset: string;
      settle: string;
      amount: bigint;
      proceeds: bigint;
      price: bigint;
      reason: 'shortfall' | 'liquidation' | 'rebalance';
    }
  /** A combo filled in full (after its legs' own orderAccepted, trade and position events). */
  | {
      type: 'comboFilled';
      account: string;
      silo: string;
      /** From the order-id sequence; each leg's taker order has its own id (`orderId`). */
      comboId: number;
      clientComboId?: string;
      legs: { orderId: number; symbol: string; side: OrderSide; size: bigint; avgPrice: bigint }[];
    }
  /** createVault: the vault, its account and its terms (rates at RATE_DP, leverage at LEVERAGE_DP). */
  | {
      type: 'vaultCreated';
      vault: string;
      account: string;
      manager: string;
      asset: string;
      lockupMs: number;
      performanceFee: bigint;
      managementFee: bigint;
      maxLeverage: bigint;
      maxNotionalPerMarket: bigint;
      markets: string[];
    }
  /** Shares minted to a depositor: `nav` before the deposit, `totalShares` after (shares at SHARE_DP). */
  | {
      type: 'vaultDeposit';
      vault: string;
      account: string;
      amount: bigint;
      shares: bigint;
      nav: bigint;
      totalShares: bigint;
      lockedUntil: number;
    }
  /** A withdrawal the vault's free balance could not pay at once: its shares wait in the queue (FIFO). */
  | { type: 'vaultWithdrawQueued'; vault: string; account: string; shares: bigint; requestedAt: number }
  /**
   * Shares burned and paid: `nav` before, `totalShares` after; `requestedAt` when it had waited in the queue (paid at
   * the NAV of this moment). A performance fee taken from the same shares comes first as its own `vaultFee`.
   */
  | {
      type: 'vaultWithdraw';
      vault: string;
      account: string;
      shares: bigint;
      amount: bigint;
      nav: bigint;
      totalShares: bigint;
      requestedAt?: number;
    }
  /**
   * Fee shares to the manager: `management` minted (from null), `performance` moved from a withdrawing depositor's
   * shares. `value`: what they are worth (settle units), `navPerShare` at NPS scale (10¹⁸ per share base unit).
   */
  | {
      type: 'vaultFee';
      vault: string;
      kind: 'management' | 'performance';
      from: string | null;
      to: string;
      shares: bigint;
      value: bigint;
      navPerShare: bigint;
    }
  /**
   * A cross-shard transfer's step on this shard: its status after the command. `duplicate`: the step had been taken
   * already (or the target's record was final), and nothing moved. `from`/`to` are shard names; this shard's own
   * side is '' (the engine does not know its name).
   */
  | {
      type: 'shardTransfer';
      transfer: string;
      account: string;
      asset: string;
      amount: bigint;
      from: string;
      to: string;
      status: ShardTransferStatus;
      duplicate?: true;
    };

export type ApplyResult =
  | { ok: true; seq: number; events: EngineEvent[]; orderId?: number }
  | { ok: false; code: RejectCode; message: string };
