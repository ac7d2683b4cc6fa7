/**
 * Silos (issue 16): the account's collateral boxes. Writes (scope `trade`, signed like every account write): create a
 * named silo, close it, move collateral between the free balance and a silo or between two silos. Reads (scope
 * `read`): every box of the account — the cross bucket per asset (`cross:<ASSET>`), each open isolated position
 * (`isolated:<SYMBOL>`), each named silo — with its requirements under its model next to the standalone sums, its
 * legs as position views and a liquidation price per leg market. Orders and leverage name a silo with their own
 * `silo` field (routes/trade.ts). Public: the option strategy models' parameters (GET strategy-margin; set by the
 * admin route).
 */
import { Type } from 'typebox';
import { formatDecimal } from '../../core/fixed.ts';
import { eventId } from '../codec.ts';
import { accepted } from '../commands.ts';
import { ApiError } from '../errors.ts';
import {
  CollateralTransferSchema,
  CreateSiloBody,
  ErrorBody,
  NamedSiloParams,
  RebalancingBody,
  RebalancingQuery,
  RebalancingViewSchema,
  SiloParams,
  SiloQuery,
  SiloViewSchema,
  StrategyMarginViewSchema,
  TransferCollateralBody,
} from '../schemas.ts';
import { type App, type RouteContext, signed } from '../server.ts';
import {
  createSiloCommand,
  rebalancingCommand,
  rebalancingJson,
  type SiloJson,
  siloJsonOf,
  silosJson,
  strategyMarginJson,
  transferCollateralCommand,
} from '../silos.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const trade = { auth: 'trade' as const };
const read = { auth: 'read' as const };
const tags = ['silos'];

/** A created named silo: its view and the command's seq. */
export const SiloCreatedSchema = Type.Intersect([Type.Object({ seq: Type.Integer() }), SiloViewSchema]);

export const SiloClosedSchema = Type.Object({
  seq: Type.Integer(),
  id: Type.String(),
  status: Type.Literal('closed'),
  /** What went back to the free balance. */
  returned: Type.String(),
  currency: Type.String(),
});

export function registerSiloRoutes(app: App, ctx: RouteContext): void {
  const { service } = ctx;
  /** As the account routes: an unsigned caller still gets 401, a signed one 503 while the service recovers. */
  const available = async () => {
    const why = service.degraded;
    if (why !== null) throw new ApiError(503, 'UNAVAILABLE', why);
  };
  /** The account's named silos among `ids`, as they stand now (after the acknowledged command). */
  const named = (account: string, ids: readonly string[]): SiloJson[] =>
    silosJson(service.engine, account).filter((s) => s.kind === 'named' && ids.includes(s.id));

  app.get(
    '/api/v1/silos',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary:
          'The account’s collateral boxes: cross per asset, each open isolated position, each named silo (requirements under its model and standalone, legs, liquidation prices)',
        querystring: SiloQuery,
        response: { 200: Type.Array(SiloViewSchema), ...errors },
      },
    },
    async (req) => silosJson(service.engine, ctx.account(req, req.query.account)),
  );

  app.get(
    '/api/v1/strategy-margin',
    {
      config: { auth: 'public' as const },
      schema: {
        tags,
        summary:
          'The option strategy models’ parameters in force (maxLoss unpaired-call scales; scenario grid per underlying), as decimal strings',
        response: { 200: StrategyMarginViewSchema, ...errors },
      },
    },
    async () => strategyMarginJson(service.engine),
  );

  app.get(
    '/api/v1/silos/:silo',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'One collateral box: a named silo, cross:<ASSET> or isolated:<SYMBOL>',
        params: SiloParams,
        querystring: SiloQuery,
        response: { 200: SiloViewSchema, ...errors },
      },
    },
    async (req) => siloJsonOf(service.engine, ctx.account(req, req.query.account), req.params.silo),
  );

  app.post(
    '/api/v1/silos',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary:
          'Create a named silo: a ring-fenced box in one settle asset under a risk model (standalone or netted), optionally choosing the order its legs close in when liquidated',
        body: CreateSiloBody,
        response: { 200: SiloCreatedSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
      const r = accepted(await service.submit(createSiloCommand(account, req.body)));
      const [view] = named(account, [req.body.silo]);
      if (!view) throw new Error(`bug: silo ${req.body.silo} accepted but not listed`);
      return { seq: r.seq, ...view };
    },
  );

  app.delete(
    '/api/v1/silos/:silo',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary:
          'Close a named silo (refused POSITION_OPEN unless every leg is flat and no order is open); its collateral returns to the free balance',
        params: NamedSiloParams,
        querystring: SiloQuery,
        response: { 200: SiloClosedSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      const silo = req.params.silo;
      const asset = service.engine.accounts.get(account)?.silos.get(silo)?.asset;
      const r = accepted(await service.submit({ type: 'closeSilo', account, silo }));
      const back = r.events.find((ev) => ev.type === 'transfer' && ev.reason === 'collateralTransfer');
      const currency = back?.type === 'transfer' ? back.asset : (asset ?? '');
      const dp = service.engine.assets.get(currency) ?? 0;
      const returned = back?.type === 'transfer' ? back.amount : 0n;
      return {
        seq: r.seq,
        id: silo,
        status: 'closed' as const,
        returned: formatDecimal(returned, dp),
        currency,
      };
    },
  );

  app.get(
    '/api/v1/silos/rebalancing',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary:
          'The rebalancing agent’s settings per asset (givers, receivers, trigger, target, buffer, limits), the day’s count and the receivers parked',
        querystring: RebalancingQuery,
        response: { 200: Type.Array(RebalancingViewSchema), ...errors },
      },
    },
    async (req) => rebalancingJson(service.engine, ctx.account(req, req.query.account)),
  );

  app.post(
    '/api/v1/silos/rebalancing',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary:
          'Turn the rebalancing agent on (or off) for one asset: when a receiver silo’s margin ratio reaches the trigger, collateral moves in from the giver silos with the most to spare — only the silos named, never below a giver’s initial margin × (1 + buffer)',
        body: RebalancingBody,
        response: {
          200: Type.Object({ seq: Type.Integer(), rebalancing: Type.Array(RebalancingViewSchema) }),
          ...errors,
        },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
      const r = accepted(await service.submit(rebalancingCommand(account, req.body)));
      return { seq: r.seq, rebalancing: rebalancingJson(service.engine, account) };
    },
  );

  app.post(
    '/api/v1/silos/transfer',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary:
          'Move collateral: free balance ↔ a named silo, or silo → silo (same asset); out of a silo at most its maxRemovable',
        body: TransferCollateralBody,
        response: { 200: CollateralTransferSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
      const b = req.body;
      const r = accepted(await service.submit(transferCollateralCommand(account, b)));
      const i = r.events.findIndex((ev) => ev.type === 'transfer' && ev.reason === 'collateralTransfer');
      const moved = r.events[i];
      const currency = moved?.type === 'transfer' ? moved.asset : (b.asset ?? '');
      const dp = service.engine.assets.get(currency) ?? 0;
      return {
        // The id of the transfer event: stable across restarts, as every event id.
        id: eventId(r.seq, Math.max(i, 0)),
        seq: r.seq,
        timestamp: r.time,
        currency,
        amount: moved?.type === 'transfer' ? formatDecimal(moved.amount, dp) : b.amount,
        fromAccount: b.from,
        toAccount: b.to,
        status: 'ok' as const,
        silos: named(account, [b.from, b.to]),
      };
    },
  );
}
