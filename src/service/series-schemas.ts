/**
 * Schemas of the chart and alert routes (series.ts, alerts.ts): candles, the insurance fund's history, and an
 * account's margin-ratio alert levels. Kept beside schemas.ts as option-schemas.ts is.
 */
import { Type } from 'typebox';
import { ALERT_LEVEL_PATTERN, MAX_ALERT_LEVELS } from './config.ts';
import { AccountId, Asset, MarketSymbol } from './schemas.ts';

const strict = { additionalProperties: false } as const;

export const CandleParams = Type.Object({ symbol: MarketSymbol }, strict);
export const CandleQuery = Type.Object(
  {
    timeframe: Type.Optional(
      Type.Union(
        [Type.Literal('1s'), Type.Literal('1m'), Type.Literal('5m'), Type.Literal('15m'), Type.Literal('1h')],
        {
          description: 'default 1m',
        },
      ),
    ),
    price: Type.Optional(
      Type.Union([Type.Literal('mark'), Type.Literal('last')], {
        description: 'mark: committed mark prices (volume 0); last: committed trades. Default mark',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'default 500' })),
    since: Type.Optional(
      Type.Integer({ minimum: 0, description: 'ms: the first `limit` candles starting at or after it' }),
    ),
  },
  strict,
);
/** ccxt's OHLCV row: [timeMs, open, high, low, close, volume]. */
export const CandleRowSchema = Type.Tuple([
  Type.Integer(),
  Type.String(),
  Type.String(),
  Type.String(),
  Type.String(),
  Type.String(),
]);

export const InsuranceHistoryParams = Type.Object({ asset: Asset }, strict);
export const InsuranceHistoryQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'default 500' })) },
  strict,
);
export const InsurancePointSchema = Type.Object({
  time: Type.Integer(),
  seq: Type.Integer(),
  balance: Type.String(),
});

const Level = Type.String({
  pattern: ALERT_LEVEL_PATTERN,
  description: 'margin ratio (maintenance / equity) in (0, 1]; 1 = liquidatable',
});
export const AlertLevelsQuery = Type.Object({ account: Type.Optional(AccountId) }, strict);
export const AlertLevelsBody = Type.Object(
  {
    levels: Type.Array(Level, { minItems: 1, maxItems: MAX_ALERT_LEVELS }),
    account: Type.Optional(AccountId),
  },
  strict,
);
export const AlertLevelsSchema = Type.Object({
  levels: Type.Array(Type.String()),
  /** Recovery below a level once the ratio is under level × (1 − hysteresis). */
  hysteresis: Type.String(),
});
