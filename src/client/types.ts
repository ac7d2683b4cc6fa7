/**
 * The REST API's request and response types, derived from the service's own TypeBox schemas (the ones that validate
 * requests, shape responses and generate the OpenAPI document), so they cannot drift from what the service promises.
 * Type-only imports: nothing of typebox or the service reaches a bundle. Decimals are strings throughout.
 */
import type { Static } from 'typebox';
import type { ScenarioResult } from '../core/scenario.ts';
import type * as O from '../service/option-schemas.ts';
import type * as Account from '../service/routes/account.ts';
import type * as Monitor from '../service/routes/monitor.ts';
import type * as Ops from '../service/routes/ops.ts';
import type * as Public from '../service/routes/public.ts';
import type * as Shard from '../service/routes/shard.ts';
import type * as Silos from '../service/routes/silos.ts';
import type * as Trading from '../service/routes/trade.ts';
import type * as Vaults from '../service/routes/vaults.ts';
import type * as S from '../service/schemas.ts';
import type * as Series from '../service/series-schemas.ts';

/** Every error answer: the HTTP status carries `{code, message}` (and a few codes' extra fields). */
export type ErrorBody = Static<typeof S.ErrorBody>;

// Queries ------------------------------------------------------------------------------------------------

export type MarketsQuery = Static<typeof O.MarketsQuery>;
export type LimitQuery = Static<typeof S.LimitQuery>;
export type BookQuery = Static<typeof S.BookQuery>;
export type CandleQuery = Static<typeof Series.CandleQuery>;
export type InsuranceHistoryQuery = Static<typeof Series.InsuranceHistoryQuery>;
/** `symbol`, `limit` and (admin keys) `account` of the account reads. */
export type AccountQuery = Static<typeof S.AccountQuery>;
/** `symbol` and (admin keys) `account` of the cancels. */
export type CancelQuery = Static<typeof S.CancelQuery>;
/** (admin keys) `account` of the silo routes. */
export type SiloQuery = Static<typeof S.SiloQuery>;
export type AlertLevelsQuery = Static<typeof Series.AlertLevelsQuery>;
export type ClosestQuery = Static<typeof Monitor.ClosestQuery>;

// Bodies -------------------------------------------------------------------------------------------------

export type PlaceOrderBody = Static<typeof S.PlaceOrderBody>;
export type AmendOrderBody = Static<typeof S.AmendOrderBody>;
export type PlaceComboBody = Static<typeof S.PlaceComboBody>;
export type MarginModeBody = Static<typeof S.MarginModeBody>;
export type LeverageBody = Static<typeof S.LeverageBody>;
export type MarginBody = Static<typeof S.MarginBody>;
export type AutoAddBody = Static<typeof S.AutoAddBody>;
export type CreateSiloBody = Static<typeof S.CreateSiloBody>;
export type TransferCollateralBody = Static<typeof S.TransferCollateralBody>;
export type RebalancingBody = Static<typeof S.RebalancingBody>;
export type Rebalancing = Static<typeof S.RebalancingViewSchema>;
export type AlertLevelsBody = Static<typeof Series.AlertLevelsBody>;
/** A `ringfence calc` scenario (docs/calc.md): validated in depth by calc's own parser. */
export type CalcBody = Static<typeof S.ScenarioBody>;

// Market data --------------------------------------------------------------------------------------------

export type Market = Static<typeof S.MarketViewSchema>;
export type Tier = Static<typeof S.TierView>;
export type Ticker = Static<typeof S.TickerView>;
export type MarkPrice = Static<typeof S.MarkPriceView>;
export type OrderBook = Static<typeof S.OrderBookView>;
export type Trade = Static<typeof S.TradeViewSchema>;
export type FundingRate = Static<typeof S.FundingRateSchema>;
export type Liquidation = Static<typeof S.LiquidationSchema>;
export type InsuranceFund = Static<typeof Public.InsuranceFundSchema>;
export type InsurancePoint = Static<typeof Series.InsurancePointSchema>;
/** ccxt's OHLCV row: [timeMs, open, high, low, close, volume]. */
export type Candle = Static<typeof Series.CandleRowSchema>;
export type Netting = Static<typeof S.NettingViewSchema>;
export type CollateralAsset = Static<typeof S.CollateralAssetViewSchema>;
export type CollateralAssetBody = Static<typeof S.CollateralAssetBody>;
export type StrategyMargin = Static<typeof S.StrategyMarginViewSchema>;
export type OptionChain = Static<typeof O.OptionChainViewSchema>;
/**
 * The calculator's answer. The route's schema is `unknown` (calc's output is checked by its own tests, not
 * re-validated on the way out), so this is calc's own result type.
 */
export type CalcResult = ScenarioResult;
export type Health = Static<typeof Ops.HealthSchema>;

// Account ------------------------------------------------------------------------------------------------

export type Me = Static<typeof Account.MeSchema>;
export type AlertLevels = Static<typeof Series.AlertLevelsSchema>;
/** An open order. */
export type Order = Static<typeof S.OrderViewSchema>;
/** What placing an order did: its fills, what rests, its status. */
export type OrderResult = Static<typeof S.OrderResultSchema>;
export type CancelResult = Static<typeof S.CancelResultSchema>;
export type CancelAllResult = Static<typeof S.CancelAllResultSchema>;
export type AmendResult = Static<typeof S.AmendResultSchema>;
export type ComboResult = Static<typeof S.ComboResultSchema>;
export type Position = Static<typeof S.PositionViewSchema>;
export type Balances = Static<typeof S.BalancesSchema>;
export type Fill = Static<typeof S.FillViewSchema>;
export type AccountEvent = Static<typeof S.AccountEventSchema>;
export type FundingPayment = Static<typeof S.FundingPaymentSchema>;
export type MarginModeResult = Static<typeof Trading.MarginModeResultSchema>;
export type LeverageResult = Static<typeof Trading.LeverageResultSchema>;
export type MarginChange = Static<typeof S.MarginChangeSchema>;
export type AutoAddResult = Static<typeof Trading.AutoAddResultSchema>;
export type Silo = Static<typeof S.SiloViewSchema>;
export type SiloCreated = Static<typeof Silos.SiloCreatedSchema>;
export type SiloClosed = Static<typeof Silos.SiloClosedSchema>;
export type CollateralTransfer = Static<typeof S.CollateralTransferSchema>;

// Vaults -------------------------------------------------------------------------------------------------

export type Vault = Static<typeof Vaults.VaultViewSchema>;
export type VaultDetail = Static<typeof Vaults.VaultDetailSchema>;
export type VaultPoint = Static<typeof Vaults.VaultPointSchema>;
export type VaultHolding = Static<typeof Vaults.VaultHoldingSchema>;
export type VaultHistoryQuery = Static<typeof Vaults.VaultHistoryQuery>;
export type VaultHoldingQuery = Static<typeof Vaults.VaultHoldingQuery>;
export type VaultDepositBody = Static<typeof Vaults.VaultDepositBody>;
export type VaultWithdrawBody = Static<typeof Vaults.VaultWithdrawBody>;
export type VaultMoved = Static<typeof Vaults.VaultMovedSchema>;
export type CreateVaultBody = Static<typeof Vaults.CreateVaultBody>;
export type VaultCreated = Static<typeof Vaults.VaultCreatedSchema>;

// Operator reads (admin keys) ----------------------------------------------------------------------------

export type OracleStatus = Static<typeof Monitor.OracleStatusSchema>;
export type LiquidationRisk = Static<typeof Monitor.LiquidationRiskSchema>;
export type JournalHealth = Static<typeof Monitor.JournalHealthSchema>;
export type ServiceStats = Static<typeof Monitor.ServiceStatsSchema>;

// Venue writes (admin keys) ------------------------------------------------------------------------------

/** The engine's MarketConfig, as the route validates it. */
export type MarketConfigBody = Static<typeof S.MarketConfigBody>;
export type InsuranceBody = Static<typeof S.InsuranceBody>;
/** A deposit's (or withdrawal's) account, asset and amount. */
export type FundsBody = Static<typeof S.FundsBody>;
export type OracleQuoteBody = Static<typeof S.OracleQuoteBody>;
// The answers' schemas are local to src/service/routes/admin.ts (not exported): spelled out from their parts.
/** The market as created, and the journal sequence of its creation. */
export type MarketCreated = { seq: number } & Market;
export interface InsuranceFunded {
  seq: number;
  asset: string;
  balance: string;
}
export interface FundsMoved {
  seq: number;
  account: string;
  asset: string;
  amount: string;
  /** The account's balance of the asset afterwards. */
  balance: Static<typeof S.BalanceViewSchema> | null;
}
/** The market's prices after a quote: null until it has one. */
export interface PriceUpdate {
  seq: number;
  symbol: string;
  markPrice: string | null;
  indexPrice: string | null;
}

// Shards (docs/sharding.md) ------------------------------------------------------------------------------

/** A shard's name and market patterns (GET /api/v1/shard on a shard). */
export type ShardView = Static<typeof Shard.ShardViewSchema>;
/** A cross-shard transfer: `fromShard` (through a router: required), `toShard`, asset, amount, `transferId`. */
export type TransferBody = Static<typeof Shard.TransferBody>;
/** A transfer step's answer on a shard (through a router: `settled`, `reverted` or `held`). */
export type TransferStep = Static<typeof Shard.StepResult>;
export type TransferRecord = Static<typeof Shard.TransferRecordSchema>;
export type TransfersQuery = Static<typeof Shard.TransfersQuery>;
