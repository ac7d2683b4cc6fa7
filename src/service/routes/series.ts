/**
 * Charts and alerts: OHLCV candles per market (public), the insurance fund's balance over time (public), and an
 * account's margin-ratio alert levels (GET scope `read`, PUT scope `trade`). Candles and the fund's history are
 * built from committed events (series.ts); the levels are notification preferences kept in the service's memory
 * (alerts.ts), reset to the config's `alerts.levels` on restart.
 */
import { Type } from 'typebox';
import { InputError } from '../../core/fixed.ts';
import { fmtLevel, parseAlertLevels } from '../config.ts';
import { ApiError, rejection } from '../errors.ts';
import { ErrorBody } from '../schemas.ts';
import {
  AlertLevelsBody,
  AlertLevelsQuery,
  AlertLevelsSchema,
  CandleParams,
  CandleQuery,
  CandleRowSchema,
  InsuranceHistoryParams,
  InsuranceHistoryQuery,
  InsurancePointSchema,
} from '../series-schemas.ts';
import { type App, type RouteContext, signed } from '../server.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const pub = { auth: 'public' as const };

export function registerSeriesRoutes(app: App, ctx: RouteContext): void {
  const { service } = ctx;

  app.get(
    '/api/v1/candles/:symbol',
    {
      config: pub,
      schema: {
        tags: ['market data'],
        summary:
          'OHLCV candles, oldest first (ccxt order: [timeMs, open, high, low, close, volume]); `price=mark` from committed marks (volume "0"), `last` from committed trades',
        params: CandleParams,
        querystring: CandleQuery,
        response: { 200: Type.Array(CandleRowSchema), ...errors },
      },
    },
    async (req) => {
      const m = service.engine.markets.get(req.params.symbol);
      if (!m) throw rejection('UNKNOWN_MARKET', `unknown market ${JSON.stringify(req.params.symbol)}`);
      const q = req.query;
      return service.candles.view(m, q.price ?? 'mark', q.timeframe ?? '1m', q.limit ?? 500, q.since);
    },
  );

  app.get(
    '/api/v1/insurance/:asset/history',
    {
      config: pub,
      schema: {
        tags: ['market data'],
        summary:
          'The insurance fund’s balance after each committed command that changed it, oldest first (a bounded recent window)',
        params: InsuranceHistoryParams,
        querystring: InsuranceHistoryQuery,
        response: { 200: Type.Array(InsurancePointSchema), ...errors },
      },
    },
    async (req) => {
      const dp = service.engine.assets.get(req.params.asset);
      if (dp === undefined)
        throw rejection('UNKNOWN_ASSET', `unknown asset ${JSON.stringify(req.params.asset)}`);
      return service.insurance.view(req.params.asset, dp, req.query.limit ?? 500);
    },
  );

  const levelsJson = (account: string) => ({
    levels: service.alerts.levelsOf(account).map(fmtLevel),
    hysteresis: fmtLevel(service.alerts.hysteresis),
  });

  app.get(
    '/api/v1/alerts',
    {
      config: { auth: 'read' as const },
      schema: {
        tags: ['account'],
        ...signed,
        summary:
          'The account’s margin-ratio alert levels (the `alerts` stream); the config’s defaults until it sets its own',
        querystring: AlertLevelsQuery,
        response: { 200: AlertLevelsSchema, ...errors },
      },
    },
    async (req) => levelsJson(ctx.account(req, req.query.account)),
  );

  app.put(
    '/api/v1/alerts',
    {
      config: { auth: 'trade' as const },
      schema: {
        tags: ['account'],
        ...signed,
        summary:
          'Sets the account’s margin-ratio alert levels: 1 to 5, each in (0, 1], strictly increasing (kept in memory: reset to the default on restart)',
        body: AlertLevelsBody,
        response: { 200: AlertLevelsSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
      let levels: bigint[];
      try {
        levels = parseAlertLevels(req.body.levels, 'body.levels');
      } catch (e) {
        if (e instanceof InputError) throw new ApiError(400, 'INVALID_REQUEST', e.message);
        throw e;
      }
      service.alerts.setLevels(account, levels);
      // Subscribers learn the new levels, and where each box stands against them, at once.
      service.resyncAlerts(account);
      return levelsJson(account);
    },
  );
}
