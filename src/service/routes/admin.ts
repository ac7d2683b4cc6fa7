/**
 * Venue operations (scope `admin`): create, close and delist markets, push oracle quotes or set mark prices, move money in and out
 * of accounts, fund the insurance fund, set the netted silo model's parameters. Each is one engine command through the journal.
 */
import { Type } from 'typebox';
import { formatDecimal } from '../../core/fixed.ts';
import { balancesOf } from '../../engine/readmodel.ts';
import type { MarketConfig } from '../../engine/types.ts';
import { fmtPrice, marketView } from '../codec.ts';
import { accepted } from '../commands.ts';
import { ConfigError } from '../config.ts';
import { ApiError } from '../errors.ts';
import {
  BalanceViewSchema,
  CollateralAssetBody,
  CollateralAssetViewSchema,
  ErrorBody,
  FundsBody,
  InsuranceBody,
  MarketConfigBody,
  MarketViewSchema,
  MarkPriceBody,
  NettingBody,
  NettingViewSchema,
  OracleQuoteBody,
  StrategyMarginBody,
  StrategyMarginViewSchema,
  SymbolParams,
} from '../schemas.ts';
import { type App, type RouteContext, signed } from '../server.ts';
import { requireOwned } from '../shard/markets.ts';
import {
  collateralAssetCommand,
  collateralAssetsJson,
  nettingCommand,
  nettingJson,
  strategyMarginCommand,
  strategyMarginJson,
} from '../silos.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const admin = { auth: 'admin' as const };
const tags = ['admin'];

const PriceResult = Type.Object({
  seq: Type.Integer(),
  symbol: Type.String(),
  markPrice: Type.Union([Type.String(), Type.Null()]),
  indexPrice: Type.Union([Type.String(), Type.Null()]),
});

export function registerAdminRoutes(app: App, ctx: RouteContext): void {
  const { service } = ctx;

  app.post(
    '/api/v1/admin/markets',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary: 'Create a market (the engine’s MarketConfig)',
        body: MarketConfigBody,
        response: {
          200: Type.Intersect([Type.Object({ seq: Type.Integer() }), MarketViewSchema]),
          ...errors,
        },
      },
    },
    async (req) => {
      requireOwned(ctx.config.shard, req.body.symbol);
      const r = accepted(await service.submit({ type: 'createMarket', market: req.body as MarketConfig }));
      return { seq: r.seq, ...marketView(service.engine.markets.get(req.body.symbol)!) };
    },
  );

  app.post(
    '/api/v1/admin/markets/:symbol/close',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Close a market to new risk: reduce-only orders only; resting orders that are not reduce-only are canceled',
        params: SymbolParams,
        response: {
          200: Type.Intersect([Type.Object({ seq: Type.Integer() }), MarketViewSchema]),
          ...errors,
        },
      },
    },
    async (req) => {
      const r = accepted(await service.submit({ type: 'closeMarket', symbol: req.params.symbol }));
      return { seq: r.seq, ...marketView(service.engine.markets.get(req.params.symbol)!) };
    },
  );

  app.post(
    '/api/v1/admin/markets/:symbol/delist',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Remove a market closed to new risk once it is flat (no open position, no resting order): frees its slot and symbol',
        params: SymbolParams,
        response: {
          200: Type.Object({ seq: Type.Integer(), symbol: Type.String(), delisted: Type.Literal(true) }),
          ...errors,
        },
      },
    },
    async (req) => {
      const r = accepted(await service.submit({ type: 'delistMarket', symbol: req.params.symbol }));
      return { seq: r.seq, symbol: req.params.symbol, delisted: true as const };
    },
  );

  const prices = (seq: number, symbol: string) => {
    const m = service.engine.markets.get(symbol)!;
    const mm = service.mirror.market(symbol);
    return {
      seq,
      symbol,
      markPrice: mm.mark === null ? null : fmtPrice(m, mm.mark),
      indexPrice: mm.index === null ? null : fmtPrice(m, mm.index),
    };
  };

  app.post(
    '/api/v1/admin/oracle',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary: 'Push an oracle quote from one source (index → mark; moves the clock like a tick)',
        body: OracleQuoteBody,
        response: { 200: PriceResult, ...errors },
      },
    },
    async (req) => {
      const r = accepted(await service.submit({ type: 'oracleQuote', ...req.body }));
      return prices(r.seq, req.body.symbol);
    },
  );

  app.post(
    '/api/v1/admin/mark-price',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary: 'Set the mark price of a market without an oracle',
        body: MarkPriceBody,
        response: { 200: PriceResult, ...errors },
      },
    },
    async (req) => {
      const r = accepted(await service.submit({ type: 'setMarkPrice', ...req.body }));
      return prices(r.seq, req.body.symbol);
    },
  );

  const FundsResult = Type.Object({
    seq: Type.Integer(),
    account: Type.String(),
    asset: Type.String(),
    amount: Type.String(),
    balance: Type.Union([BalanceViewSchema, Type.Null()]),
  });
  for (const kind of ['deposit', 'withdraw'] as const) {
    app.post(
      `/api/v1/admin/${kind}`,
      {
        config: admin,
        schema: {
          tags,
          ...signed,
          summary:
            kind === 'deposit'
              ? 'Credit an account (creates it on first deposit)'
              : 'Debit an account (at most its withdrawable balance)',
          body: FundsBody,
          response: { 200: FundsResult, ...errors },
        },
      },
      async (req) => {
        const r = accepted(await service.submit({ type: kind, ...req.body }));
        const b =
          balancesOf(service.engine, req.body.account).find((x) => x.asset === req.body.asset) ?? null;
        return { seq: r.seq, ...req.body, balance: b };
      },
    );
  }

  app.post(
    '/api/v1/admin/insurance',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary: 'Fund the insurance fund of a settle asset from outside',
        body: InsuranceBody,
        response: {
          200: Type.Object({ seq: Type.Integer(), asset: Type.String(), balance: Type.String() }),
          ...errors,
        },
      },
    },
    async (req) => {
      const r = accepted(await service.submit({ type: 'fundInsurance', ...req.body }));
      const e = service.engine;
      return {
        seq: r.seq,
        asset: req.body.asset,
        balance: formatDecimal(e.insuranceFund(req.body.asset), e.assets.get(req.body.asset) ?? 0),
      };
    },
  );

  app.post(
    '/api/v1/admin/netting',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Set the netted risk model’s parameters (floor, sameBase, correlations; absent fields keep their value); every netted silo is re-filed',
        body: NettingBody,
        response: {
          200: Type.Intersect([Type.Object({ seq: Type.Integer() }), NettingViewSchema]),
          ...errors,
        },
      },
    },
    async (req) => {
      const r = accepted(await service.submit(nettingCommand(req.body)));
      return { seq: r.seq, ...nettingJson(service.engine) };
    },
  );

  app.post(
    '/api/v1/admin/collateral-assets',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Accept an asset as collateral in named silos of a settle asset: its price market, haircut bands and conversion penalty (sent again: replaced; every holder re-checked)',
        body: CollateralAssetBody,
        response: {
          200: Type.Object({ seq: Type.Integer(), collateralAssets: Type.Array(CollateralAssetViewSchema) }),
          ...errors,
        },
      },
    },
    async (req) => {
      const r = accepted(await service.submit(collateralAssetCommand(req.body)));
      return { seq: r.seq, collateralAssets: collateralAssetsJson(service.engine) };
    },
  );

  app.post(
    '/api/v1/admin/strategy-margin',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Set the option strategy models’ parameters (unpairedIMScale, unpairedMMScale, scenario per underlying; absent fields keep their value); every maxLoss, strategy and scenario silo is re-filed',
        body: StrategyMarginBody,
        response: {
          200: Type.Intersect([Type.Object({ seq: Type.Integer() }), StrategyMarginViewSchema]),
          ...errors,
        },
      },
    },
    async (req) => {
      const r = accepted(await service.submit(strategyMarginCommand(req.body)));
      return { seq: r.seq, ...strategyMarginJson(service.engine) };
    },
  );

  app.post(
    '/api/v1/admin/keys/reload',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Re-read the API keys from the config file (as SIGHUP does); sessions of removed or changed keys end',
        response: {
          200: Type.Object({ keys: Type.Integer(), revoked: Type.Array(Type.String()) }),
          ...errors,
        },
      },
    },
    async () => {
      try {
        return ctx.controls.reloadKeys();
      } catch (e) {
        // A bad file changes nothing: the keys in force stay.
        if (e instanceof ConfigError)
          throw new ApiError(400, 'INVALID_REQUEST', `keys not reloaded: ${e.message}`);
        throw e;
      }
    },
  );

  app.post(
    '/api/v1/admin/snapshot',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary: 'Snapshot the engine now (saved once its seq is durable); recovery starts from the newest',
        response: {
          200: Type.Object({
            seq: Type.Integer(),
            time: Type.Integer(),
            stateHash: Type.String(),
            bytes: Type.Integer(),
          }),
          ...errors,
        },
      },
    },
    async () => service.snapshot(),
  );
}
