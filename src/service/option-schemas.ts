/**
 * Option request and response schemas (TypeBox, strict as the rest: unknown fields, wrong types and malformed
 * decimals are refused before anything reaches the engine, which validates every value again). Decimals are strings.
 */
import { Type } from 'typebox';
import {
  Decimal,
  LiquidationBody,
  MarketSymbol,
  MarketViewSchema,
  SignedDecimal,
  VolGuardBody,
} from './schemas.ts';

const strict = { additionalProperties: false } as const;
const Str = Type.String();
const NStr = Type.Union([Type.String(), Type.Null()]);
const MsInt = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const OptionType = Type.Union([Type.Literal('call'), Type.Literal('put')]);
const OptionSettle = Type.Union([Type.Literal('linear'), Type.Literal('inverse')]);
export const OptionMargin = Type.Union([
  Type.Literal('ringfence'),
  Type.Literal('deribit'),
  Type.Literal('okx'),
  Type.Literal('derive'),
]);

// ---------------------------------------------------------------------------------------------------------
// Requests

export const UnderlyingParams = Type.Object({ underlying: MarketSymbol }, strict);

/** createOptionChain: one market per expiry × strike × type (bounds: the engine's 16 expiries, 128 strikes). */
export const OptionChainBody = Type.Object(
  {
    underlying: MarketSymbol,
    settle: OptionSettle,
    expiries: Type.Array(MsInt, { minItems: 1, maxItems: 16 }),
    strikes: Type.Array(Decimal, { minItems: 1, maxItems: 128 }),
    types: Type.Optional(Type.Array(OptionType, { minItems: 1, maxItems: 2 })),
    tickSize: Decimal,
    lotSize: Decimal,
    takerFee: Type.Optional(SignedDecimal),
    makerFee: Type.Optional(SignedDecimal),
    limitBand: Type.Optional(Decimal),
    marketBand: Type.Optional(Decimal),
    maxOrderSize: Type.Optional(Decimal),
    settlementWindowMs: Type.Optional(MsInt),
    optionMargin: Type.Optional(OptionMargin),
    vol: Type.Optional(VolGuardBody),
    liquidation: Type.Optional(LiquidationBody),
  },
  strict,
);

/**
 * A smile: `kind` `svi` with a, b, rho, m, sigma (raw SVI), or `strikes` with `ivs` {"<strike>": "<iv>"}. One strict
 * object rather than an anyOf of the two, so a malformed field is reported by its own path; which fields a kind needs
 * is checked by the route (options.ts volQuoteCommand), naming the field too.
 */
export const SmileBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('svi'), Type.Literal('strikes')]),
    a: Type.Optional(SignedDecimal),
    b: Type.Optional(Decimal),
    rho: Type.Optional(SignedDecimal),
    m: Type.Optional(SignedDecimal),
    sigma: Type.Optional(Decimal),
    ivs: Type.Optional(
      Type.Record(Type.String({ pattern: '^[0-9]{1,30}(\\.[0-9]{1,18})?$' }), Decimal, {
        ...strict,
        maxProperties: 2_000,
      }),
    ),
  },
  strict,
);

export const VolQuoteBody = Type.Object(
  { underlying: MarketSymbol, expiry: MsInt, smile: SmileBody },
  strict,
);

export const MarketsQuery = Type.Object(
  {
    type: Type.Optional(Type.Union([Type.Literal('swap'), Type.Literal('future'), Type.Literal('option')])),
    /** Option markets on this underlying market only. */
    underlying: Type.Optional(MarketSymbol),
  },
  strict,
);

// ---------------------------------------------------------------------------------------------------------
// Responses

/** One option in the chain: per unit of underlying; Greeks of the USD value (see options.ts). */
export const OptionRowSchema = Type.Object({
  symbol: Str,
  active: Type.Boolean(),
  markPrice: NStr,
  iv: NStr,
  delta: NStr,
  gamma: NStr,
  vega: NStr,
  theta: NStr,
  bid: NStr,
  bidVolume: NStr,
  ask: NStr,
  askVolume: NStr,
  openInterest: Str,
});

export const OptionChainViewSchema = Type.Object({
  underlying: Str,
  base: Str,
  timestamp: Type.Integer(),
  seq: Type.Integer(),
  spot: NStr,
  expiries: Type.Array(
    Type.Object({
      expiry: Type.Integer(),
      expiryDatetime: Str,
      forward: NStr,
      vol: Type.Object({
        validity: Str,
        reason: Str,
        quoteTime: Type.Union([Type.Integer(), Type.Null()]),
        kind: Type.Union([Type.Literal('svi'), Type.Literal('strikes'), Type.Null()]),
      }),
      markTime: Type.Integer(),
      strikes: Type.Array(
        Type.Object({
          strike: Str,
          call: Type.Union([OptionRowSchema, Type.Null()]),
          put: Type.Union([OptionRowSchema, Type.Null()]),
        }),
      ),
    }),
  ),
});

export const OptionChainResultSchema = Type.Object({
  seq: Type.Integer(),
  markets: Type.Array(MarketViewSchema),
});

export const VolQuoteResultSchema = Type.Object({
  seq: Type.Integer(),
  underlying: Str,
  expiry: Type.Integer(),
  expiryDatetime: Str,
  forward: NStr,
  validity: Str,
  options: Type.Array(Type.Object({ symbol: Str, markPrice: NStr, iv: NStr })),
});
