/**
 * Public market data (no key; per-IP rate limits): markets with their risk tiers, tickers and mark prices, the
 * order book, recent trades, funding rates, recent liquidations, insurance funds, and the what-if calculator.
 * Book, last, mark and index come from the committed mirror (what the streams publish); open interest, funding
 * times and oracle validity are read from the engine.
 */
import { Type } from 'typebox';
import { InputError } from '../../core/fixed.ts';
import { calc } from '../../core/scenario.ts';
import type { Market } from '../../engine/market.ts';
import { validityAt } from '../../engine/prices.ts';
import { fmtLevels, fmtPrice, fmtRate, fmtSize, marketView } from '../codec.ts';
import { ApiError, isRejectCode, rejection } from '../errors.ts';
import { LIVE_VENUE, LiveVenueCache } from '../live-venue.ts';
import { MarketsQuery } from '../option-schemas.ts';
import {
  AssetParams,
  BookQuery,
  CollateralAssetViewSchema,
  ErrorBody,
  FundingRateSchema,
  LimitQuery,
  LiquidationSchema,
  MarketViewSchema,
  MarkPriceView,
  NettingViewSchema,
  OrderBookView,
  ScenarioBody,
  SymbolParams,
  TickerView,
  TradeViewSchema,
} from '../schemas.ts';
import type { App, RouteContext } from '../server.ts';
import { collateralAssetsJson, nettingJson } from '../silos.ts';

const errors = { '4xx': ErrorBody };
const pub = { auth: 'public' as const };
const tags = ['market data'];

/** One settle asset's insurance fund. */
export const InsuranceFundSchema = Type.Object({ asset: Type.String(), balance: Type.String() });

/**
 * Weight of one silo leg against one position in a /calc: each market of a silo gets a liquidation-price search over
 * the whole silo (galloping then bisecting ticks, every step re-evaluating every leg), several times a position's.
 */
export const SILO_LEG_COST = 4;
/** The most legs a built strategy has (iron condor, iron butterfly, box). */
const STRATEGY_LEGS = 4;

/**
 * Tokens a /calc costs: 1, plus 1 per position and SILO_LEG_COST per silo leg (the body is parsed but not yet
 * validated here: whatever is not an array counts as nothing, and the schema refuses it next).
 */
export function calcCost(req: { body?: unknown }): number {
  const b = req.body;
  if (typeof b !== 'object' || b === null) return 1;
  const ps = (b as { positions?: unknown }).positions;
  const silos = (b as { silos?: unknown }).silos;
  let legs = 0;
  if (Array.isArray(silos)) {
    for (const s of silos) {
      const l = typeof s === 'object' && s !== null ? (s as { legs?: unknown }).legs : undefined;
      // A silo without legs (or built from a strategy) still costs as its legs: a built one has up to 4.
      legs += Array.isArray(l) ? Math.max(l.length, 1) : STRATEGY_LEGS;
    }
  }
  // The top-level strategy shorthand is one silo of up to four legs.
  if (typeof (b as { strategy?: unknown }).strategy === 'object') legs += STRATEGY_LEGS;
  return 1 + (Array.isArray(ps) ? ps.length : 0) + SILO_LEG_COST * legs;
}

export function registerPublicRoutes(app: App, ctx: RouteContext): void {
  const { service } = ctx;
  const market = (symbol: string): Market => {
    const m = service.engine.markets.get(symbol);
    if (!m) throw rejection('UNKNOWN_MARKET', `unknown market ${JSON.stringify(symbol)}`);
    return m;
  };

  app.get(
    '/api/v1/markets',
    {
      config: pub,
      schema: {
        tags,
        summary:
          'Markets with their risk (leverage) tiers; `type` (swap, future, option) and `underlying` (options on that market) filter',
        querystring: MarketsQuery,
        response: { 200: Type.Array(MarketViewSchema), ...errors },
      },
    },
    async (req) => {
      const { type, underlying } = req.query;
      return [...service.engine.markets.values()]
        .filter((m) => underlying === undefined || m.option?.underlying === underlying)
        .map(marketView)
        .filter((v) => type === undefined || v.type === type);
    },
  );

  app.get(
    '/api/v1/markets/:symbol',
    {
      config: pub,
      schema: {
        tags,
        summary: 'One market with its risk tiers',
        params: SymbolParams,
        response: { 200: MarketViewSchema, ...errors },
      },
    },
    async (req) => marketView(market(req.params.symbol)),
  );

  /** A market's ticker: book, last, mark and index from the committed mirror; open interest and funding from the engine. */
  const ticker = (m: Market) => {
    const mm = service.mirror.market(m.symbol);
    const bid = mm.bids.best();
    const ask = mm.asks.best();
    const price = (v: bigint | null) => (v === null ? null : fmtPrice(m, v));
    return {
      symbol: m.symbol,
      timestamp: mm.time,
      seq: service.mirror.seq,
      bid: bid ? fmtPrice(m, bid[0]) : null,
      bidVolume: bid ? fmtSize(m, bid[1]) : null,
      ask: ask ? fmtPrice(m, ask[0]) : null,
      askVolume: ask ? fmtSize(m, ask[1]) : null,
      last: price(mm.last),
      markPrice: price(mm.mark),
      indexPrice: price(mm.index),
      openInterest: fmtSize(m, m.size(m.openInterestLots)),
      fundingRate: m.funding ? fmtRate(m.funding.lastRate) : null,
      nextFundingTime: m.funding ? m.funding.nextTime : null,
      oracle: m.oracle ? validityAt(m, service.now()) : null,
    };
  };

  app.get(
    '/api/v1/tickers',
    {
      config: pub,
      schema: {
        tags,
        // A router merges every shard's (docs/sharding.md): one request for a venue-wide board.
        summary: 'Every market’s ticker',
        response: { 200: Type.Array(TickerView), ...errors },
      },
    },
    async () => [...service.engine.markets.values()].map(ticker),
  );

  app.get(
    '/api/v1/tickers/:symbol',
    {
      config: pub,
      schema: {
        tags,
        summary: 'Ticker: best bid/ask, last, mark and index prices, open interest, funding',
        params: SymbolParams,
        response: { 200: TickerView, ...errors },
      },
    },
    async (req) => ticker(market(req.params.symbol)),
  );

  app.get(
    '/api/v1/mark-price/:symbol',
    {
      config: pub,
      schema: {
        tags,
        summary: 'Mark and index price, and the oracle state',
        params: SymbolParams,
        response: { 200: MarkPriceView, ...errors },
      },
    },
    async (req) => {
      const m = market(req.params.symbol);
      const mm = service.mirror.market(m.symbol);
      return {
        symbol: m.symbol,
        timestamp: mm.time,
        seq: service.mirror.seq,
        markPrice: mm.mark === null ? null : fmtPrice(m, mm.mark),
        indexPrice: mm.index === null ? null : fmtPrice(m, mm.index),
        oracle: m.oracle ? validityAt(m, service.now()) : null,
      };
    },
  );

  app.get(
    '/api/v1/orderbook/:symbol',
    {
      config: pub,
      schema: {
        tags,
        summary: 'Order book (aggregated levels, best first); `seq` lines up with the orderbook stream',
        params: SymbolParams,
        querystring: BookQuery,
        response: { 200: OrderBookView, ...errors },
      },
    },
    async (req) => {
      const m = market(req.params.symbol);
      const mm = service.mirror.market(m.symbol);
      const n = req.query.limit ?? 100;
      return {
        symbol: m.symbol,
        timestamp: mm.time,
        seq: service.mirror.seq,
        bids: fmtLevels(m, mm.bids.top(n)),
        asks: fmtLevels(m, mm.asks.top(n)),
      };
    },
  );

  app.get(
    '/api/v1/trades/:symbol',
    {
      config: pub,
      schema: {
        tags,
        summary: 'Recent trades, newest first',
        params: SymbolParams,
        querystring: LimitQuery,
        response: { 200: Type.Array(TradeViewSchema), ...errors },
      },
    },
    async (req) =>
      service.history.tradeViews(service.engine, market(req.params.symbol).symbol, req.query.limit ?? 100),
  );

  app.get(
    '/api/v1/funding-rates/:symbol',
    {
      config: pub,
      schema: {
        tags,
        summary: 'Funding rate history (each funding time), newest first',
        params: SymbolParams,
        querystring: LimitQuery,
        response: { 200: Type.Array(FundingRateSchema), ...errors },
      },
    },
    async (req) =>
      service.history.fundingRateViews(
        service.engine,
        market(req.params.symbol).symbol,
        req.query.limit ?? 100,
      ),
  );

  app.get(
    '/api/v1/liquidations/:symbol',
    {
      config: pub,
      schema: {
        tags,
        summary: 'Recent liquidations on a market (no account ids), newest first',
        params: SymbolParams,
        querystring: LimitQuery,
        response: { 200: Type.Array(LiquidationSchema), ...errors },
      },
    },
    async (req) =>
      service.history.liquidationViews(
        service.engine,
        market(req.params.symbol).symbol,
        req.query.limit ?? 100,
      ),
  );

  app.get(
    '/api/v1/insurance',
    {
      config: pub,
      schema: {
        tags,
        summary: 'Insurance fund balance per settle asset',
        response: { 200: Type.Array(InsuranceFundSchema), ...errors },
      },
    },
    async () => service.insuranceFunds(),
  );

  app.get(
    '/api/v1/insurance/:asset',
    {
      config: pub,
      schema: {
        tags,
        summary: 'Insurance fund balance of one settle asset',
        params: AssetParams,
        response: { 200: InsuranceFundSchema, ...errors },
      },
    },
    async (req) => {
      const f = service.insuranceFunds().find((x) => x.asset === req.params.asset);
      if (!f) throw rejection('UNKNOWN_ASSET', `unknown asset ${JSON.stringify(req.params.asset)}`);
      return f;
    },
  );

  app.get(
    '/api/v1/netting',
    {
      config: pub,
      schema: {
        tags: ['silos'],
        summary: 'The netted silo model’s parameters in force (floor, sameBase, correlations, grid)',
        response: { 200: NettingViewSchema, ...errors },
      },
    },
    async () => nettingJson(service.engine),
  );

  app.get(
    '/api/v1/collateral-assets',
    {
      config: pub,
      schema: {
        tags: ['silos'],
        summary:
          'The assets named silos may hold besides their settle asset: price market and index, haircut bands, conversion penalty',
        response: { 200: Type.Array(CollateralAssetViewSchema), ...errors },
      },
    },
    async () => collateralAssetsJson(service.engine),
  );

  const live = new LiveVenueCache();
  app.post(
    '/api/v1/calc',
    {
      // One token per position besides the request itself (a 100-position scenario costs ~100 GETs of CPU), four
      // per silo leg.
      config: { ...pub, cost: calcCost },
      schema: {
        tags: ['calculator'],
        summary:
          'What-if margin scenario: the same contract as `ringfence calc --json`; `"venue": "live"`: this service’s own markets, agreeing with the engine',
        body: ScenarioBody,
        response: { 200: Type.Unknown(), ...errors },
      },
    },
    async (req) => {
      // A scenario of silos alone may leave `positions` out or empty; without silos it needs one position at least.
      const b = req.body;
      if (b.silos === undefined && b.strategy === undefined && (b.positions?.length ?? 0) === 0)
        throw new ApiError(
          400,
          'INVALID_REQUEST',
          'body.positions: must have at least 1 item (or give silos or a strategy)',
        );
      try {
        // "live": the service's own markets on the engine's conventions, built only when a scenario names it.
        return calc(req.body, { venues: { [LIVE_VENUE]: () => live.get(service.engine) } });
      } catch (e) {
        if (e instanceof InputError) {
          if (isRejectCode(e.code)) throw rejection(e.code, e.message);
          throw new ApiError(
            400,
            e.code === 'TOO_MANY_DECIMALS' ? 'TOO_MANY_DECIMALS' : 'INVALID_INPUT',
            e.message,
          );
        }
        throw e;
      }
    },
  );
}
