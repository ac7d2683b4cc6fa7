/**
 * The service's views the app reads: the REST ones are the client's (derived from the service's schemas), the stream
 * messages the app's own. Decimals are strings, exact, formatted only for display.
 */

export type {
  Balances,
  CalcBody,
  CalcResult,
  Candle,
  JournalHealth,
  Market,
  Me,
  Order,
  PlaceOrderBody,
  Position,
  Rebalancing,
  RebalancingBody,
  ServiceStats,
  Silo,
  Ticker,
  Tier,
  Vault,
  VaultHolding,
  VaultPoint,
} from '../../clients/ts/src/client.ts';

/** A stream message: one per topic per committed command. */
export interface StreamMessage<T = unknown> {
  topic: string;
  seq: number;
  time: number;
  data: T[];
}

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

/**
 * A `collateralRebalanced` item of the `silos` stream: the rebalancing agent moved `amount` from the owner's silo
 * `from` to its silo `to`, whose margin ratio (`marginRatio`, before the move) had reached `trigger`; the giver keeps
 * at least `giverFloor`.
 */
export interface CollateralRebalanced {
  type: 'collateralRebalanced';
  account: string;
  asset: string;
  from: string;
  to: string;
  amount: string;
  marginRatio: string;
  trigger: string;
  giverFloor: string;
  reason: 'trigger' | 'maintenance';
}
