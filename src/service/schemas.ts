/**
 * Request and response schemas (TypeBox → JSON Schema): they validate requests strictly (unknown fields, wrong
 * types and malformed decimals are refused before anything reaches the engine), shape responses, and generate the
 * OpenAPI document. Decimals are strings: a JSON number is already a binary float. Scales (a price's tick, a size's
 * lot, an amount's asset decimals) are the engine's to check: it answers with its own reject code.
 */
import { type TSchema, Type } from 'typebox';

/** An unsigned decimal string: at most 30 integer and 18 fractional digits, no sign, exponent or spaces. */
export const DECIMAL_PATTERN = '^[0-9]{1,30}(\\.[0-9]{1,18})?$';
export const Decimal = Type.String({
  pattern: DECIMAL_PATTERN,
  maxLength: 49,
  description: 'decimal string',
});
export const SignedDecimal = Type.String({
  pattern: '^-?[0-9]{1,30}(\\.[0-9]{1,18})?$',
  maxLength: 50,
  description: 'signed decimal string',
});
export const MarketSymbol = Type.String({
  pattern: '^[A-Za-z0-9_.:/-]{1,40}$',
  description: 'market symbol',
});
/** An account id; `vault:<id>` is a vault's account (its manager's key acts as it; an admin key may name it). */
export const AccountId = Type.String({
  pattern: '^(@?[A-Za-z0-9_.-]{1,64}|vault:[A-Za-z0-9_.-]{1,32})$',
  description: 'account id',
});
export const Asset = Type.String({ pattern: '^[A-Za-z0-9]{1,16}$', description: 'asset code' });
export const OrderIdParam = Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'order id' });
/**
 * A named silo's id, as the engine accepts it (the implicit silos' read ids contain a colon, so never match), except
 * `free`: a transfer's `from`/`to` names the free balance so, and a silo of that id could never be funded.
 */
export const SiloId = Type.String({
  pattern: '^(?!free$)[A-Za-z0-9_.-]{1,32}$',
  description: 'named silo id',
});
/**
 * Any silo id a read may name: a named silo's, the cross bucket's `cross:<ASSET>` or an isolated position's
 * `isolated:<SYMBOL>` (as GET /api/v1/silos lists them).
 */
export const SiloRef = Type.String({
  pattern: '^([A-Za-z0-9_.-]{1,32}|cross:[A-Za-z0-9]{1,16}|isolated:[A-Za-z0-9_.:/-]{1,40})$',
  description: 'silo id: a named silo, cross:<ASSET> or isolated:<SYMBOL>',
});
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Side = Type.Union([Type.Literal('buy'), Type.Literal('sell')]);
const strict = { additionalProperties: false } as const;
/** Admin keys name the account they act for; other keys may omit it or name their own. */
const ActFor = Type.Optional(AccountId);

export const ErrorBody = Type.Object(
  {
    code: Type.String(),
    message: Type.String(),
    /** DUPLICATE_CLIENT_ORDER_ID only: the open order that already carries the clientOrderId. */
    orderId: Type.Optional(Type.String()),
    /** NOT_LEADER only: the leader as its lease names it ({id, url, since}), null when none is known. */
    leader: Type.Optional(
      Type.Union([
        Type.Object({ id: Type.String(), url: Type.String(), since: Type.Integer() }),
        Type.Null(),
      ]),
    ),
  },
  { description: 'every error: HTTP status + {code, message}' },
);

// ---------------------------------------------------------------------------------------------------------
// Requests

export const SymbolParams = Type.Object({ symbol: MarketSymbol }, strict);
export const AssetParams = Type.Object({ asset: Asset }, strict);
export const OrderParams = Type.Object({ id: OrderIdParam }, strict);
export const ClientOrderId = Type.String({
  pattern: '^[A-Za-z0-9_.:-]{1,64}$',
  description: 'client order id',
});
export const ClientOrderParams = Type.Object({ clientOrderId: ClientOrderId }, strict);
export const LimitQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000 })) },
  strict,
);
export const BookQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) },
  strict,
);
export const AccountQuery = Type.Object(
  {
    symbol: Type.Optional(MarketSymbol),
    account: ActFor,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000 })),
  },
  strict,
);

export const PlaceOrderBody = Type.Object(
  {
    symbol: MarketSymbol,
    side: Side,
    type: Type.Union([Type.Literal('limit'), Type.Literal('market')]),
    amount: Decimal,
    price: Type.Optional(Decimal),
    timeInForce: Type.Optional(
      Type.Union([Type.Literal('GTC'), Type.Literal('IOC'), Type.Literal('FOK'), Type.Literal('PO')]),
    ),
    postOnly: Type.Optional(Type.Boolean()),
    reduceOnly: Type.Optional(Type.Boolean()),
    /** Unique among the account's open orders: a retry with the same one is refused with the original's id. */
    clientOrderId: Type.Optional(ClientOrderId),
    stp: Type.Optional(
      Type.Union([Type.Literal('cancelTaker'), Type.Literal('cancelMaker'), Type.Literal('cancelBoth')]),
    ),
    /** A named silo: the order trades that silo's leg on the market (absent: the default position, as before). */
    silo: Type.Optional(SiloId),
    /**
     * A trigger order (at most one of the two): reduce-only (`reduceOnly: false` is an error), it waits until the
     * mark reaches this price, then becomes this order (market, or limit at `price`). 409 WOULD_TRIGGER_IMMEDIATELY
     * if the mark is already there.
     */
    stopLossPrice: Type.Optional(Decimal),
    takeProfitPrice: Type.Optional(Decimal),
    account: ActFor,
  },
  strict,
);

/** A combo's leg: an immediate fill-or-kill taker order at its limit (all legs fill in full or none does). */
export const ComboLegBody = Type.Object(
  { symbol: MarketSymbol, side: Side, size: Decimal, price: Decimal },
  strict,
);
/** POST /api/v1/combo: the placeCombo command without `type`/`account` (docs/silos.md "Combo orders"). */
export const PlaceComboBody = Type.Object(
  {
    /** The named silo whose legs the combo trades; its margin is checked once, after the whole combo. */
    silo: SiloId,
    legs: Type.Array(ComboLegBody, { minItems: 2, maxItems: 8 }),
    clientComboId: Type.Optional(ClientOrderId),
    stp: Type.Optional(
      Type.Union([Type.Literal('cancelTaker'), Type.Literal('cancelMaker'), Type.Literal('cancelBoth')]),
    ),
    account: ActFor,
  },
  strict,
);

export const AmendOrderBody = Type.Object(
  {
    symbol: Type.Optional(MarketSymbol),
    price: Type.Optional(Decimal),
    amount: Type.Optional(Decimal),
    account: ActFor,
  },
  strict,
);
export const CancelQuery = Type.Object({ symbol: Type.Optional(MarketSymbol), account: ActFor }, strict);

export const MarginModeBody = Type.Object(
  {
    symbol: MarketSymbol,
    marginMode: Type.Union([Type.Literal('isolated'), Type.Literal('cross')]),
    account: ActFor,
  },
  strict,
);
export const LeverageBody = Type.Object(
  {
    symbol: MarketSymbol,
    leverage: Decimal,
    /** A named silo: sets the leverage (initial margin) of that silo's leg on the market. */
    silo: Type.Optional(SiloId),
    account: ActFor,
  },
  strict,
);
export const MarginBody = Type.Object({ symbol: MarketSymbol, amount: Decimal, account: ActFor }, strict);
export const AutoAddBody = Type.Object(
  {
    /** The isolated position's market; not needed with `silo` (the engine refuses UNKNOWN_MARKET without either). */
    symbol: Type.Optional(MarketSymbol),
    /** A named silo: opts the whole silo in or out of auto-add margin. */
    silo: Type.Optional(SiloId),
    enabled: Type.Boolean(),
    policy: Type.Optional(
      Type.Union([Type.Literal('addInitialMargin'), Type.Literal('restoreInitialMargin')]),
    ),
    trigger: Type.Optional(Decimal),
    account: ActFor,
  },
  strict,
);

export const SiloParams = Type.Object({ silo: SiloRef }, strict);
export const NamedSiloParams = Type.Object({ silo: SiloId }, strict);
export const SiloQuery = Type.Object({ account: ActFor }, strict);
/** The order a liquidated silo's legs close in (docs/silos.md). */
const SiloCloseOrder = Type.Union([
  Type.Literal('largestRequirement'),
  Type.Literal('largestLoss'),
  Type.Literal('mostRiskPerUnit'),
]);
/** A named silo's risk model (docs/silos.md): the perpetual models and the option strategy models (issue 18). */
const SiloRiskModel = Type.Union([
  Type.Literal('standalone'),
  Type.Literal('netted'),
  Type.Literal('maxLoss'),
  Type.Literal('strategy'),
  Type.Literal('scenario'),
]);
export const CreateSiloBody = Type.Object(
  {
    silo: SiloId,
    asset: Asset,
    riskModel: SiloRiskModel,
    /** Default `largestRequirement`: the largest maintenance first. */
    closeOrder: Type.Optional(SiloCloseOrder),
    account: ActFor,
  },
  strict,
);
/** `from`/`to`: 'free' (the account's free balance) or a named silo's id. */
const TransferEnd = Type.Union([Type.Literal('free'), SiloId]);
export const TransferCollateralBody = Type.Object(
  {
    from: TransferEnd,
    to: TransferEnd,
    amount: Decimal,
    /** Optional: checked against the silo's asset (ASSET_MISMATCH). */
    asset: Type.Optional(Asset),
    account: ActFor,
  },
  strict,
);
/** The rebalancing agent's settings for one asset (docs/silos.md "Rebalancing"); `enabled: false` turns it off. */
export const RebalancingBody = Type.Object(
  {
    asset: Asset,
    enabled: Type.Boolean(),
    givers: Type.Optional(Type.Array(SiloId, { maxItems: 64 })),
    receivers: Type.Optional(Type.Array(SiloId, { maxItems: 64 })),
    trigger: Type.Optional(Decimal),
    target: Type.Optional(Decimal),
    buffer: Type.Optional(Decimal),
    maxPerMove: Type.Optional(Decimal),
    maxPerDay: Type.Optional(Decimal),
    /** Givers' holdings in other assets once their settle collateral is spent: move them (default), convert, or not. */
    holdings: Type.Optional(
      Type.Union([Type.Literal('move'), Type.Literal('convert'), Type.Literal('none')]),
    ),
    account: ActFor,
  },
  strict,
);
export const RebalancingQuery = Type.Object({ account: ActFor }, strict);
/** One asset's rebalancing settings as they stand, with the day's count and the receivers parked. */
export const RebalancingViewSchema = Type.Object({
  asset: Type.String(),
  givers: Type.Array(Type.String()),
  receivers: Type.Array(Type.String()),
  trigger: Type.String(),
  target: Type.String(),
  buffer: Type.String(),
  /** "0": no limit. */
  maxPerMove: Type.String(),
  maxPerDay: Type.String(),
  /** What the agent does with givers' holdings in other assets: `move`, `convert` or `none`. */
  holdings: Type.String(),
  /** Moved in the current UTC day (as of the last move or setting). */
  movedToday: Type.String(),
  /** The UTC day `movedToday` counts, YYYY-MM-DD. */
  day: Type.String(),
  /** Receivers at their trigger whose givers had nothing more to spare: looked at again when a giver changes. */
  parked: Type.Array(Type.String()),
});
/** The netted risk model's parameters (rates as decimal strings; absent fields keep their value). */
export const NettingBody = Type.Object(
  {
    floor: Type.Optional(Decimal),
    sameBase: Type.Optional(SignedDecimal),
    correlations: Type.Optional(
      Type.Array(Type.Object({ a: Asset, b: Asset, rho: SignedDecimal }, strict), { maxItems: 1_000 }),
    ),
  },
  strict,
);

/**
 * The option strategy models' parameters (core parseStrategyMarginParams' JSON, decimal strings): absent top-level
 * fields keep their value; `scenario` maps `default` and any underlying to a full or partial row (the engine validates
 * every field strictly).
 */
export const StrategyMarginBody = Type.Object(
  {
    unpairedIMScale: Type.Optional(Decimal),
    unpairedMMScale: Type.Optional(Decimal),
    scenario: Type.Optional(Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown()))),
  },
  strict,
);

export const OracleQuoteBody = Type.Object(
  { symbol: MarketSymbol, source: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }), price: Decimal },
  strict,
);
export const MarkPriceBody = Type.Object({ symbol: MarketSymbol, price: Decimal }, strict);
export const FundsBody = Type.Object({ account: AccountId, asset: Asset, amount: Decimal }, strict);
export const InsuranceBody = Type.Object({ asset: Asset, amount: Decimal }, strict);

const RateStr = Decimal;
const BracketTier = Type.Object(
  { cap: Nullable(Decimal), mmr: RateStr, maxLeverage: Decimal, deduction: Type.Optional(Decimal) },
  strict,
);
const RiskRule = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('brackets'),
      deduction: Type.Optional(Type.Union([Type.Literal('derived'), Type.Literal('none')])),
      tiers: Type.Array(BracketTier, { minItems: 1, maxItems: 50 }),
    },
    strict,
  ),
  Type.Object(
    {
      kind: Type.Literal('hyperliquid'),
      tiers: Type.Array(Type.Object({ cap: Nullable(Decimal), maxLeverage: Decimal }, strict), {
        minItems: 1,
        maxItems: 50,
      }),
    },
    strict,
  ),
  Type.Object(
    {
      kind: Type.Literal('steps'),
      baseLimit: Decimal,
      step: Decimal,
      baseMmr: RateStr,
      baseImr: RateStr,
      stepRate: RateStr,
      steps: Type.Integer({ minimum: 0, maximum: 100 }),
    },
    strict,
  ),
  Type.Object(
    {
      kind: Type.Literal('sizeLinear'),
      imBase: RateStr,
      mmBase: RateStr,
      slopePerUnit: RateStr,
      maxLeverage: Decimal,
    },
    strict,
  ),
  Type.Object(
    {
      kind: Type.Literal('fraction'),
      imf: RateStr,
      maintenanceFraction: RateStr,
      oiLowerCap: Decimal,
      oiUpperCap: Decimal,
    },
    strict,
  ),
]);

const MsInt = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** A market's liquidation policy (absent fields take the engine's defaults). */
export const LiquidationBody = Type.Object(
  {
    feeRate: Type.Optional(RateStr),
    partial: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('restore'), Type.Literal('tier')])),
    buffer: Type.Optional(RateStr),
    chunkNotional: Type.Optional(Decimal),
    chunkFraction: Type.Optional(RateStr),
    cooldownMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    backstopRatio: Type.Optional(RateStr),
    limitAt: Type.Optional(RateStr),
    adlRanking: Type.Optional(Type.Union([Type.Literal('pnlLeverage'), Type.Literal('leveragePnl')])),
    /** Options: the backstop's discount on the mark (default 0.1). */
    optionDiscount: Type.Optional(RateStr),
  },
  strict,
);

/** An option expiry's vol feed guards (engine VolGuardSpec). */
export const VolGuardBody = Type.Object(
  {
    stalenessMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
    maxJump: Type.Optional(RateStr),
    minIv: Type.Optional(Decimal),
    maxIv: Type.Optional(Decimal),
  },
  strict,
);

/** MarketConfig.option (engine OptionSpec). */
export const OptionSpecBody = Type.Object(
  {
    underlying: MarketSymbol,
    type: Type.Union([Type.Literal('call'), Type.Literal('put')]),
    strike: Decimal,
    expiry: MsInt,
    settle: Type.Union([Type.Literal('linear'), Type.Literal('inverse')]),
    vol: Type.Optional(VolGuardBody),
  },
  strict,
);

/** The engine's MarketConfig, field for field (the engine validates values; this refuses shapes and strangers). */
export const MarketConfigBody = Type.Object(
  {
    symbol: MarketSymbol,
    kind: Type.Union([Type.Literal('linear'), Type.Literal('inverse')]),
    base: Asset,
    quote: Asset,
    tickSize: Decimal,
    lotSize: Decimal,
    multiplier: Type.Optional(Decimal),
    settleDp: Type.Integer({ minimum: 0, maximum: 18 }),
    maxLeverage: Decimal,
    risk: RiskRule,
    takerFee: SignedDecimal,
    makerFee: SignedDecimal,
    limitBand: Type.Optional(Decimal),
    marketBand: Type.Optional(Decimal),
    maxOrderSize: Type.Optional(Decimal),
    defaultLeverage: Type.Optional(Decimal),
    expiry: Type.Optional(Nullable(MsInt)),
    settlementWindowMs: Type.Optional(MsInt),
    oracle: Type.Optional(
      Type.Object(
        {
          sources: Type.Array(
            Type.Object(
              {
                name: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
                weight: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
              },
              strict,
            ),
            { minItems: 1, maxItems: 32 },
          ),
          stalenessMs: Type.Integer({ minimum: 1, maximum: 86_400_000 }),
          maxDeviation: RateStr,
          minSources: Type.Integer({ minimum: 1, maximum: 32 }),
          maxJump: RateStr,
          markMethod: Type.Union([
            Type.Literal('index'),
            Type.Literal('binance'),
            Type.Literal('hyperliquid'),
          ]),
          emaTauMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
          basisSamples: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
        },
        strict,
      ),
    ),
    funding: Type.Optional(
      Type.Object(
        {
          intervalMs: Type.Integer({ minimum: 1, maximum: 86_400_000 }),
          interestRate: SignedDecimal,
          clamp: Type.Optional(RateStr),
          cap: Type.Union([
            Type.Object({ kind: Type.Literal('mmrMultiple'), k: RateStr }, strict),
            Type.Object({ kind: Type.Literal('perHour'), cap: RateStr }, strict),
            Type.Object({ kind: Type.Literal('marginSpread'), multiple: RateStr }, strict),
            Type.Object({ kind: Type.Literal('none') }, strict),
          ]),
          impactMargin: Decimal,
          priceSource: Type.Optional(Type.Union([Type.Literal('index'), Type.Literal('mark')])),
        },
        strict,
      ),
    ),
    liquidation: Type.Optional(LiquidationBody),
    /** Volatility-adjusted margin (docs/dynamic-margin.md); needs `oracle`. */
    dynamicMargin: Type.Optional(
      Type.Object(
        {
          referenceVol: Decimal,
          maxFactor: Decimal,
          maxStep: Decimal,
          reviewMs: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 31_622_400_000 })),
          noticeMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 31_622_400_000 })),
          lambda: Type.Optional(Decimal),
          sampleMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_622_400_000 })),
          minSamples: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
        },
        strict,
      ),
    ),
    /** A European option (docs/options.md): prices are premiums per unit of underlying in the settle asset. */
    option: Type.Optional(OptionSpecBody),
    optionMargin: Type.Optional(
      Type.Union([
        Type.Literal('ringfence'),
        Type.Literal('deribit'),
        Type.Literal('okx'),
        Type.Literal('derive'),
      ]),
    ),
  },
  strict,
);

/**
 * The what-if scenario: validated by the calculator itself (the same parser as `ringfence calc`). `positions` may be
 * left out (or empty) when `silos` are given (docs/calc-silos.md); without silos an empty or missing `positions` is
 * refused by the route (400 INVALID_REQUEST, as the schema once did).
 */
export const ScenarioBody = Type.Object(
  {
    venue: Type.Optional(Type.String()),
    mode: Type.Optional(Type.Union([Type.Literal('isolated'), Type.Literal('cross')])),
    walletBalance: Type.Optional(Type.Unknown()),
    positions: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 100 })),
    silos: Type.Optional(
      Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 100 }),
    ),
    netting: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    // Options and strategies (docs/calc-options.md, docs/calc-strategies.md): validated by calc's own parser.
    valuationTime: Type.Optional(Type.String()),
    strategy: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    strategyMargin: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /** Collateral band tables by asset for positions funded in other assets (docs/calc.md). */
    haircuts: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  {
    ...strict,
    description:
      'a `ringfence calc` scenario (docs/calc.md, docs/calc-silos.md, docs/calc-options.md, docs/calc-strategies.md)',
  },
);

// ---------------------------------------------------------------------------------------------------------
// Responses

const Str = Type.String();
const NStr = Nullable(Type.String());

/** An option market's ccxt fields (absent on other markets; `expiry` is the common field). */
const OptionMarketProps = {
  optionType: Type.Optional(Type.Union([Type.Literal('call'), Type.Literal('put')])),
  strike: Type.Optional(Str),
  expiryDatetime: Type.Optional(Str),
  /** The underlying market (its index is the option's spot). */
  underlying: Type.Optional(Str),
  /** The per-leg margin rule of a short. */
  optionMargin: Type.Optional(Str),
};

/**
 * An option position's terms and Greeks (absent on other positions): Greeks of the USD value per unit × size in units
 * of underlying, signed (a short call's delta is negative); null before the expiry's vol feed has a quote.
 */
const OptionPositionProps = {
  underlying: Type.Optional(Str),
  optionType: Type.Optional(Type.Union([Type.Literal('call'), Type.Literal('put')])),
  strike: Type.Optional(Str),
  expiry: Type.Optional(Type.Integer()),
  expiryDatetime: Type.Optional(Str),
  settle: Type.Optional(Type.Union([Type.Literal('linear'), Type.Literal('inverse')])),
  iv: Type.Optional(NStr),
  /** The forward the mark and the Greeks are computed on. */
  underlyingPrice: Type.Optional(NStr),
  delta: Type.Optional(NStr),
  gamma: Type.Optional(NStr),
  vega: Type.Optional(NStr),
  theta: Type.Optional(NStr),
};

export const TierView = Type.Object({
  tier: Type.Integer(),
  currency: Str,
  minNotional: Str,
  maxNotional: NStr,
  maintenanceMarginRate: Str,
  initialMarginRate: Str,
  maxLeverage: Str,
  deduction: Str,
});

export const MarketViewSchema = Type.Object({
  id: Str,
  symbol: Str,
  base: Str,
  quote: Str,
  settle: Str,
  type: Type.Union([Type.Literal('swap'), Type.Literal('future'), Type.Literal('option')]),
  /** For an option: whether it settles linear (in the quote) or inverse (in the coin), not its premium's kind. */
  linear: Type.Boolean(),
  inverse: Type.Boolean(),
  contractSize: Str,
  expiry: Nullable(Type.Integer()),
  active: Type.Boolean(),
  /** Closed to new risk (admin `markets/:symbol/close`): only reduce-only orders are accepted. */
  reduceOnly: Type.Boolean(),
  tickSize: Str,
  lotSize: Str,
  precision: Type.Object({ price: Str, amount: Str }),
  limits: Type.Object({
    amount: Type.Object({ min: Str, max: Str }),
    leverage: Type.Object({ max: Str }),
  }),
  taker: Str,
  maker: Str,
  defaultLeverage: Str,
  limitBand: Str,
  marketBand: Str,
  oracle: Type.Boolean(),
  fundingIntervalMs: Nullable(Type.Integer()),
  tiers: Type.Array(TierView),
  riskRule: Type.Unknown(),
  liquidation: Type.Unknown(),
  /** Volatility-adjusted margin, when the market has it: the factor in force (tiers are scaled by it) and a raise announced. */
  dynamicMargin: Type.Optional(
    Type.Object({
      factor: Str,
      pendingFactor: NStr,
      effectiveAt: Nullable(Type.Integer()),
      vol: Str,
      nextReview: Type.Integer(),
      config: Type.Unknown(),
    }),
  ),
  ...OptionMarketProps,
});

export const TickerView = Type.Object({
  symbol: Str,
  timestamp: Type.Integer(),
  seq: Type.Integer(),
  bid: NStr,
  bidVolume: NStr,
  ask: NStr,
  askVolume: NStr,
  last: NStr,
  markPrice: NStr,
  indexPrice: NStr,
  openInterest: Str,
  fundingRate: NStr,
  nextFundingTime: Nullable(Type.Integer()),
  oracle: NStr,
});

export const MarkPriceView = Type.Object({
  symbol: Str,
  timestamp: Type.Integer(),
  seq: Type.Integer(),
  markPrice: NStr,
  indexPrice: NStr,
  oracle: NStr,
});

export const OrderBookView = Type.Object({
  symbol: Str,
  timestamp: Type.Integer(),
  seq: Type.Integer(),
  bids: Type.Array(Type.Tuple([Str, Str])),
  asks: Type.Array(Type.Tuple([Str, Str])),
});

export const TradeViewSchema = Type.Object({
  id: Str,
  timestamp: Type.Integer(),
  symbol: Str,
  side: Side,
  price: Str,
  amount: Str,
  cost: Str,
});

export const FillViewSchema = Type.Object({
  id: Str,
  timestamp: Type.Integer(),
  symbol: Str,
  side: Side,
  price: Str,
  amount: Str,
  cost: Str,
  orderId: Str,
  takerOrMaker: Type.Union([Type.Literal('taker'), Type.Literal('maker')]),
  fee: Type.Object({ cost: Str, currency: Str }),
});

/** A trigger order's fields on an order view or answer (all null / false for any other order). */
const TriggerFields = {
  /** The stop-loss or take-profit price (whichever it has). */
  triggerPrice: NStr,
  stopLossPrice: NStr,
  takeProfitPrice: NStr,
  /** A trigger order that fired (then a live order like any other); false while it waits, and for other orders. */
  triggered: Type.Boolean(),
};

export const OrderViewSchema = Type.Object({
  id: Str,
  clientOrderId: NStr,
  symbol: Str,
  /** `market` only for a stop-loss / take-profit market order still waiting for its price. */
  type: Type.Union([Type.Literal('limit'), Type.Literal('market')]),
  side: Side,
  timeInForce: Str,
  postOnly: Type.Boolean(),
  reduceOnly: Type.Boolean(),
  /** The limit; null for a stop-loss / take-profit market order still waiting (its limit is set when it fires). */
  price: NStr,
  amount: Str,
  remaining: Str,
  status: Type.Literal('open'),
  marginMode: Type.Union([Type.Literal('isolated'), Type.Literal('cross')]),
  reserved: Str,
  /** The named silo the order trades in; null: the default position. */
  silo: NStr,
  ...TriggerFields,
});

/** A cancelled order: its remaining size when it was cancelled. */
export const CancelResultSchema = Type.Object({
  seq: Type.Integer(),
  id: Type.String(),
  symbol: Type.String(),
  status: Type.Literal('canceled'),
  remaining: Type.String(),
});

/** Cancel-all: every order it cancelled (none when there was nothing to cancel). */
export const CancelAllResultSchema = Type.Object({
  seq: Type.Integer(),
  canceled: Type.Array(CancelResultSchema),
});

/** An amended order, or the cancellation an amend that could not re-rest became. */
export const AmendResultSchema = Type.Object({
  seq: Type.Integer(),
  id: Type.String(),
  symbol: Type.String(),
  status: Type.Union([Type.Literal('open'), Type.Literal('canceled')]),
  price: Type.String(),
  remaining: Type.String(),
  priorityKept: Type.Boolean(),
});

/** A combo filled in full: per leg its taker order, average price, cost, fee and fills. */
export const ComboResultSchema = Type.Object({
  /** The combo's id (from the order-id sequence; each leg's order has its own). */
  id: Str,
  seq: Type.Integer(),
  timestamp: Type.Integer(),
  clientComboId: NStr,
  silo: Str,
  status: Type.Literal('filled'),
  legs: Type.Array(
    Type.Object({
      orderId: Str,
      symbol: Str,
      side: Side,
      /** The leg's limit. */
      price: Str,
      amount: Str,
      average: Str,
      cost: Str,
      fee: Type.Object({ cost: Str, currency: Str }),
      trades: Type.Array(FillViewSchema),
    }),
  ),
});

/** What a place-order request did, from its own events. */
export const OrderResultSchema = Type.Object({
  id: Str,
  seq: Type.Integer(),
  timestamp: Type.Integer(),
  clientOrderId: NStr,
  symbol: Str,
  type: Type.Union([Type.Literal('limit'), Type.Literal('market')]),
  side: Side,
  timeInForce: Str,
  reduceOnly: Type.Boolean(),
  postOnly: Type.Boolean(),
  /** The limit (a market order's is its protective band edge; null for a stop-loss / take-profit market order). */
  price: NStr,
  amount: Str,
  filled: Str,
  remaining: Str,
  average: NStr,
  cost: Str,
  status: Type.Union([Type.Literal('open'), Type.Literal('closed'), Type.Literal('canceled')]),
  cancelReason: NStr,
  fee: Type.Object({ cost: Str, currency: Str }),
  trades: Type.Array(FillViewSchema),
  /** The named silo the order trades in; null: the default position. */
  silo: NStr,
  ...TriggerFields,
});

export const PositionViewSchema = Type.Object({
  symbol: Str,
  side: Nullable(Type.Union([Type.Literal('long'), Type.Literal('short')])),
  contracts: Str,
  contractSize: Str,
  entryPrice: NStr,
  markPrice: NStr,
  notional: Str,
  leverage: Str,
  collateral: Str,
  initialMargin: Str,
  maintenanceMargin: Str,
  marginRatio: NStr,
  liquidationPrice: NStr,
  /**
   * How far the mark is from the liquidation price, in percent of the mark (2 decimals, rounded down: toward
   * danger): positive while the mark is on the safe side, negative past it; null without a liquidation price.
   */
  liquidationDistancePercent: NStr,
  /** Where the position's own backing is used up (null: a named silo's leg, an option, or none). */
  bankruptcyPrice: NStr,
  /** Auto-add margin (of the isolated position, or of the silo a leg is in); null: off. */
  autoAddMargin: Nullable(Type.Object({ policy: Str, trigger: Str })),
  unrealizedPnl: Str,
  realizedPnl: Str,
  marginMode: Type.Union([Type.Literal('isolated'), Type.Literal('cross')]),
  percentage: NStr,
  pendingFunding: Str,
  /**
   * The named silo this position is a leg of; null for a default (isolated or cross) position. An account may hold
   * one market in several silos, so (silo, symbol) — not symbol alone — identifies a position.
   */
  silo: NStr,
  ...OptionPositionProps,
});

/**
 * A collateral box as a whole (GET /api/v1/silos): the cross bucket per asset (`cross:<ASSET>`), each open isolated
 * position (`isolated:<SYMBOL>`) and each named silo. Money at the asset's decimals; `initialMargin` and
 * `maintenanceMargin` under the silo's model, the `standalone…` fields the plain sums (the difference is the offset
 * netting grants); `liquidationPrices` per leg symbol: that market's price, the others held, at which the box is
 * liquidated (null: none).
 */
/** Where a strategy model's binding figure came from: a settlement price, +∞, a scenario cell, or standalone. */
const WorstCaseSchema = Type.Object({
  kind: Type.Union([
    Type.Literal('price'),
    Type.Literal('infinity'),
    Type.Literal('scenario'),
    Type.Literal('standalone'),
  ]),
  underlying: Type.Optional(Str),
  expiry: Type.Optional(Type.Integer()),
  /** USD, decimal. */
  price: Type.Optional(Str),
  /** The scenario's price move, a fraction (−0.16 = −16 %). */
  move: Type.Optional(Str),
  vol: Type.Optional(Type.Union([Type.Literal('up'), Type.Literal('same'), Type.Literal('down')])),
  extended: Type.Optional(Type.Boolean()),
});
/** A strategy the recogniser found in a silo: its legs (symbol, size in units of underlying) and requirements. */
const StrategyViewSchema = Type.Object({
  type: Str,
  direction: Str,
  underlying: Str,
  expiry: Nullable(Type.Integer()),
  legs: Type.Array(Type.Object({ symbol: Str, size: Str })),
  initialMargin: Str,
  maintenanceMargin: Str,
  maxLoss: NStr,
});
export const SiloViewSchema = Type.Object({
  id: Str,
  kind: Type.Union([Type.Literal('cross'), Type.Literal('isolated'), Type.Literal('named')]),
  asset: Str,
  riskModel: SiloRiskModel,
  /** The order its legs close in when liquidated (the cross bucket and isolated positions: `largestRequirement`). */
  closeOrder: SiloCloseOrder,
  collateral: Str,
  equity: Str,
  initialMargin: Str,
  maintenanceMargin: Str,
  standaloneInitialMargin: Str,
  standaloneMaintenanceMargin: Str,
  marginRatio: NStr,
  maxRemovable: Str,
  legs: Type.Array(PositionViewSchema),
  liquidationPrices: Type.Record(Type.String(), NStr),
  /** Per leg symbol: how far its mark is from its liquidation price above, percent of the mark (as on a position). */
  liquidationDistancePercent: Type.Record(Type.String(), NStr),
  /** Option strategy models: worst loss at expiry (null: unbounded, or another model). */
  maxLoss: NStr,
  /** The recognised strategies' types joined by " + " (null: none, or another model). */
  strategy: NStr,
  strategies: Type.Array(StrategyViewSchema),
  worst: Nullable(WorstCaseSchema),
  /** A named silo under the rebalancing agent: whether it gives, receives, and waits parked (null: not named). */
  rebalancing: Nullable(
    Type.Object({ giver: Type.Boolean(), receiver: Type.Boolean(), parked: Type.Boolean() }),
  ),
  /**
   * A named silo's collateral in other assets: amount, the index that prices it (`priceMarket`, `price`; null: none
   * yet), its value in the silo's asset before (`grossValue`) and after the haircut (`value`, what `equity` counts).
   */
  holdings: Type.Array(
    Type.Object({ asset: Str, amount: Str, priceMarket: NStr, price: NStr, grossValue: Str, value: Str }),
  ),
});

/** A collateral move (ccxt's TransferEntry fields) and the named silos it touched, as they stand after it. */
export const CollateralTransferSchema = Type.Object({
  id: Str,
  seq: Type.Integer(),
  timestamp: Type.Integer(),
  currency: Str,
  amount: Str,
  fromAccount: Str,
  toAccount: Str,
  status: Type.Literal('ok'),
  silos: Type.Array(SiloViewSchema),
});

/** The option strategy models' parameters in force (GET /api/v1/strategy-margin): decimal strings, per underlying. */
export const StrategyMarginViewSchema = Type.Object({
  unpairedIMScale: Str,
  unpairedMMScale: Str,
  scenario: Type.Record(
    Type.String(),
    Type.Record(Type.String(), Type.Union([Str, Type.Number(), Type.Array(Str)])),
  ),
});

/** setCollateralAsset (engine collateral.ts): an asset named silos settling in `settle` may hold. */
export const CollateralAssetBody = Type.Object(
  {
    asset: Asset,
    settle: Asset,
    dp: Type.Optional(Type.Integer({ minimum: 0, maximum: 18 })),
    priceMarket: Type.String({ minLength: 1, maxLength: 64 }),
    haircuts: Type.Optional(
      Type.Array(Type.Object({ upTo: Type.Union([Decimal, Type.Null()]), ratio: Decimal }, strict), {
        minItems: 1,
        maxItems: 32,
      }),
    ),
    conversionPenalty: Type.Optional(Decimal),
    enabled: Type.Optional(Type.Boolean()),
  },
  strict,
);

/** An accepted collateral asset and its index now (`price` null: none yet). */
export const CollateralAssetViewSchema = Type.Object({
  asset: Str,
  settle: Str,
  dp: Type.Integer(),
  priceMarket: Str,
  price: NStr,
  haircuts: Type.Array(Type.Object({ upTo: NStr, ratio: Str })),
  conversionPenalty: Str,
  enabled: Type.Boolean(),
  holders: Type.Integer(),
});

export const NettingViewSchema = Type.Object({
  floor: Str,
  sameBase: Str,
  correlations: Type.Array(Type.Object({ a: Str, b: Str, rho: Str })),
  grid: Type.Array(Str),
});

export const BalanceViewSchema = Type.Object({ asset: Str, free: Str, used: Str, total: Str });
export const BalancesSchema = Type.Object({
  account: Str,
  balances: Type.Array(BalanceViewSchema),
  free: Type.Record(Type.String(), Str),
  used: Type.Record(Type.String(), Str),
  total: Type.Record(Type.String(), Str),
});

export const MarginChangeSchema = Type.Object({
  seq: Type.Integer(),
  type: Type.Union([Type.Literal('add'), Type.Literal('reduce')]),
  symbol: Str,
  amount: Str,
  code: Str,
  status: Type.Literal('ok'),
  position: PositionViewSchema,
});

export const LiquidationSchema = Type.Object({
  id: Str,
  symbol: Str,
  timestamp: Type.Integer(),
  side: Type.Union([Type.Literal('long'), Type.Literal('short')]),
  contracts: Str,
  price: Str,
  quoteValue: Str,
  stage: Str,
  mode: Str,
});

export const FundingRateSchema = Type.Object({
  symbol: Str,
  fundingRate: Str,
  price: Str,
  timestamp: Type.Integer(),
  paused: Type.Boolean(),
});

export const FundingPaymentSchema = Type.Object({
  id: Str,
  symbol: Str,
  amount: Str,
  shortfall: Str,
  timestamp: Type.Integer(),
  /** The named silo whose leg paid or received it; null: a default position. */
  silo: NStr,
});

/** An account's liquidation-related event (liquidationStarted, liquidation, adl, autoAddMargin, insuranceDraw). */
export const AccountEventSchema = Type.Object(
  { id: Str, type: Str, timestamp: Type.Integer(), symbol: Type.Optional(Str) },
  { additionalProperties: true },
);
