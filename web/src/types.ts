/** The service's views the app reads (docs/service.md; decimals are strings, exact, formatted only for display). */

export interface Tier {
  tier: number;
  minNotional: string;
  maxNotional: string | null;
  maintenanceMarginRate: string;
  initialMarginRate: string;
  maxLeverage: string;
  deduction: string;
}

export interface Market {
  symbol: string;
  base: string;
  quote: string;
  settle: string;
  type: 'swap' | 'future' | 'option';
  linear: boolean;
  inverse: boolean;
  contractSize: string;
  active: boolean;
  reduceOnly: boolean;
  tickSize: string;
  lotSize: string;
  precision: { price: string; amount: string };
  limits: { amount: { min: string; max: string }; leverage: { max: string } };
  taker: string;
  maker: string;
  defaultLeverage: string;
  oracle: boolean;
  fundingIntervalMs: number | null;
  tiers: Tier[];
}

export interface Ticker {
  symbol: string;
  timestamp: number;
  seq: number;
  bid: string | null;
  ask: string | null;
  last: string | null;
  markPrice: string | null;
  indexPrice: string | null;
  openInterest: string;
  fundingRate: string | null;
  nextFundingTime: number | null;
  oracle: string | null;
}

export interface Position {
  symbol: string;
  side: 'long' | 'short' | null;
  contracts: string;
  entryPrice: string | null;
  markPrice: string | null;
  notional: string;
  leverage: string;
  collateral: string;
  initialMargin: string;
  maintenanceMargin: string;
  marginRatio: string | null;
  liquidationPrice: string | null;
  liquidationDistancePercent?: string | null;
  bankruptcyPrice?: string | null;
  fundingPaid?: string;
  autoAddMargin?: { policy: string; trigger: string } | null;
  unrealizedPnl: string;
  realizedPnl: string;
  marginMode: 'isolated' | 'cross';
  percentage: string | null;
  pendingFunding: string;
  silo: string | null;
}

export interface Silo {
  id: string;
  kind: 'cross' | 'isolated' | 'named';
  asset: string;
  riskModel: string;
  collateral: string;
  equity: string;
  initialMargin: string;
  maintenanceMargin: string;
  marginRatio: string | null;
  maxRemovable: string;
  legs: Position[];
  liquidationPrices: Record<string, string | null>;
  strategy: string | null;
}

export interface Order {
  id: string;
  clientOrderId: string | null;
  symbol: string;
  type: 'limit' | 'market';
  side: 'buy' | 'sell';
  timeInForce: string;
  /** null: a market order waiting for its trigger. */
  price: string | null;
  amount: string;
  remaining: string;
  status: 'open' | 'closed' | 'canceled';
  reduceOnly: boolean;
  postOnly: boolean;
  silo: string | null;
  triggerPrice?: string | null;
  stopLossPrice?: string | null;
  takeProfitPrice?: string | null;
  triggered?: boolean;
  fee?: { cost: string; currency: string };
  average?: string | null;
}

export interface Balances {
  account: string;
  free: Record<string, string>;
  used: Record<string, string>;
  total: Record<string, string>;
}

export interface Me {
  key: string;
  account: string | null;
  scopes: string[];
  admin: boolean;
}

/** A stream message: one per topic per committed command. */
export interface StreamMessage<T = unknown> {
  topic: string;
  seq: number;
  time: number;
  data: T[];
}

/** ccxt OHLCV order, prices as decimal strings. */
export type Candle = [number, string, string, string, string, string];

export interface MarginAlert {
  type: 'marginAlert';
  symbol: string;
  marginMode: string;
  silo: string | null;
  level: string;
  marginRatio: string;
  direction: 'up' | 'down';
  markPrice: string | null;
  liquidationPrice: string | null;
}
