/**
 * Operator reads (scope `admin`), for the venue's risk and operations screens: the positions closest to liquidation
 * across the venue (from the liquidation index, not a scan), each market's oracle and its sources, the journal's
 * health (commit latency, what is pending, the last snapshot) and the service's own figures (rates, totals, the event
 * loop, memory). Reads only: nothing here goes through the journal.
 *
 * The risk and oracle reads read the engine, so while the service recovers from a failed commit they answer 503 as
 * the account reads do (its state may hold commands about to be rolled back); the journal and stats reads always
 * answer, and say `degraded`.
 */
import { type Static, Type } from 'typebox';
import { closestToLiquidation, oracleView } from '../../engine/readmodel.ts';
import { ApiError, rejection } from '../errors.ts';
import { journalHealth, serviceStats } from '../ops.ts';
import { ErrorBody, MarketSymbol, SymbolParams } from '../schemas.ts';
import { type App, type RouteContext, signed } from '../server.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const admin = { auth: 'admin' as const };
const tags = ['admin'];
const Str = Type.String();
const NStr = Type.Union([Str, Type.Null()]);
const NInt = Type.Union([Type.Integer(), Type.Null()]);
const NNum = Type.Union([Type.Number(), Type.Null()]);

/** Rows `risk/closest` returns by default, and at most. */
export const CLOSEST_DEFAULT = 20;
export const CLOSEST_MAX = 200;

export const ClosestQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: CLOSEST_MAX })),
    symbol: Type.Optional(MarketSymbol),
  },
  { additionalProperties: false },
);

export const LiquidationRiskSchema = Type.Object({
  account: Str,
  symbol: Str,
  side: Type.Union([Type.Literal('long'), Type.Literal('short')]),
  marginMode: Type.Union([Type.Literal('isolated'), Type.Literal('cross')]),
  /** The named silo the position is a leg of; null: a default position. */
  silo: NStr,
  contracts: Str,
  entryPrice: Str,
  markPrice: Str,
  /** As GET positions shows it for that position. */
  liquidationPrice: Str,
  /** Percent of the mark, 2 decimals, rounded down (toward danger); negative once the mark is past the price. */
  liquidationDistancePercent: Str,
  /** Maintenance / equity of the box liquidated with it (isolated position, named silo, cross bucket); null: no equity. */
  marginRatio: NStr,
  /** That box's collateral. */
  collateral: Str,
});

const Validity = Type.Union([
  Type.Literal('valid'),
  Type.Literal('tooVolatile'),
  Type.Literal('stale'),
  Type.Literal('insufficientSources'),
]);

export const OracleStatusSchema = Type.Object({
  symbol: Str,
  /** Whether the market has an oracle (without one its mark is set directly and it is always valid). */
  oracle: Type.Boolean(),
  /** The oracle's validity now (an option's: the worse of its underlying's and its vol feed's). */
  status: Validity,
  reason: NStr,
  indexPrice: NStr,
  /** When the index was last computed (ms). */
  indexTime: NInt,
  markPrice: NStr,
  markMethod: Type.Union([
    Type.Literal('index'),
    Type.Literal('binance'),
    Type.Literal('hyperliquid'),
    Type.Null(),
  ]),
  fundingRate: NStr,
  nextFundingTime: NInt,
  /** Actions the oracle policy pauses on this market now (increaseRisk, withdraw, liquidate, funding). */
  paused: Type.Array(Str),
  minSources: NInt,
  stalenessMs: NInt,
  sources: Type.Array(
    Type.Object({
      name: Str,
      weight: Type.Integer(),
      price: NStr,
      time: NInt,
      ageMs: NInt,
      status: Type.Union([
        Type.Literal('used'),
        Type.Literal('stale'),
        Type.Literal('outlier'),
        Type.Literal('missing'),
      ]),
    }),
  ),
});

export const JournalHealthSchema = Type.Object({
  /** The store's database ('other': a custom store). */
  store: Type.Union([
    Type.Literal('sqlite'),
    Type.Literal('postgres'),
    Type.Literal('jetstream'),
    Type.Literal('other'),
  ]),
  /** The last seq the engine applied. */
  seq: Type.Integer(),
  /** The last seq known durable. */
  committedSeq: Type.Integer(),
  /** Applied, not yet durable. */
  pending: Type.Integer(),
  /** Duration of the last commit (one batch's append), and the p50 and p99 of the last 512; null before the first. */
  lastCommitMs: NNum,
  commitP50Ms: NNum,
  commitP99Ms: NNum,
  /** Batches committed since the journal opened. */
  commits: Type.Integer(),
  lastSnapshot: Type.Union([Type.Object({ seq: Type.Integer(), time: Type.Integer() }), Type.Null()]),
  degraded: Type.Boolean(),
  /** Why it is degraded (null when not). */
  reason: NStr,
});

export const ServiceStatsSchema = Type.Object({
  uptimeSeconds: Type.Number(),
  wsClients: Type.Integer(),
  /** Commands submitted per second over the last 10 s (every result; metrics.ts RATE_WINDOW_S). */
  commandsPerSecond: Type.Number(),
  commandsTotal: Type.Integer(),
  /** Commands the engine rejected (a reject code). */
  rejectsTotal: Type.Integer(),
  httpRequestsTotal: Type.Integer(),
  /** Event-loop delay, p99 and mean over the last complete 10 s window (ms). */
  eventLoopLagMs: Type.Number(),
  eventLoopLagMeanMs: Type.Number(),
  rssBytes: Type.Integer(),
  heapUsedBytes: Type.Integer(),
});

export function registerMonitorRoutes(app: App, ctx: RouteContext): void {
  const { service, metrics } = ctx;
  /** After authentication: 503 while recovering (the engine may hold commands about to be rolled back). */
  const available = async () => {
    const why = service.degraded;
    if (why !== null) throw new ApiError(503, 'UNAVAILABLE', why);
  };
  const market = (symbol: string) => {
    const m = service.engine.markets.get(symbol);
    if (!m) throw rejection('UNKNOWN_MARKET', `unknown market ${JSON.stringify(symbol)}`);
    return m;
  };
  /** The service's clock, never behind the engine's (as commands are stamped). */
  const now = () => Math.max(service.now(), service.engine.lastTime);

  metrics.loopLag.start();
  app.addHook('onClose', (_app, done) => {
    metrics.loopLag.stop();
    done();
  });

  app.get(
    '/api/v1/admin/risk/closest',
    {
      config: admin,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary:
          'Open positions nearest their liquidation price across the venue (or one market), nearest first, from the liquidation index',
        querystring: ClosestQuery,
        response: { 200: Type.Array(LiquidationRiskSchema), ...errors },
      },
    },
    async (req) => {
      if (req.query.symbol !== undefined) market(req.query.symbol);
      return closestToLiquidation(service.engine, req.query.limit ?? CLOSEST_DEFAULT, req.query.symbol);
    },
  );

  app.get(
    '/api/v1/admin/oracle',
    {
      config: admin,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'Every market’s oracle: validity, index, mark, funding, and each source’s last quote',
        response: { 200: Type.Array(OracleStatusSchema), ...errors },
      },
    },
    async () => {
      const t = now();
      return [...service.engine.markets.values()].map((m) => oracleView(m, t));
    },
  );

  app.get(
    '/api/v1/admin/oracle/:symbol',
    {
      config: admin,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'One market’s oracle: validity, index, mark, funding, and each source’s last quote',
        params: SymbolParams,
        response: { 200: OracleStatusSchema, ...errors },
      },
    },
    async (req) => oracleView(market(req.params.symbol), now()),
  );

  app.get(
    '/api/v1/admin/journal',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Journal health: store, applied and durable seqs, commit latency, the last snapshot, degraded',
        response: { 200: JournalHealthSchema, ...errors },
      },
    },
    async (): Promise<Static<typeof JournalHealthSchema>> => journalHealth(service),
  );

  app.get(
    '/api/v1/admin/stats',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Service figures for an operator screen: uptime, clients, command rate and totals, event loop, memory',
        response: { 200: ServiceStatsSchema, ...errors },
      },
    },
    async (): Promise<Static<typeof ServiceStatsSchema>> =>
      serviceStats(service, metrics, ctx.ws.clientCount),
  );
}
