/**
 * An account's own data (scope `read`): open orders, positions (ccxt Position fields), balances, fills, liquidation
 * events and funding payments. The account is the key's; an admin key names any with `?account=`. Another account's
 * order id answers UNKNOWN_ORDER, exactly as a nonexistent one does.
 *
 * While the service recovers from a failed commit, its engine may hold commands that are about to be rolled back:
 * these routes then answer 503 UNAVAILABLE, as the trading routes do, instead of serving that state.
 */
import { Type } from 'typebox';
import { balancesOf, positionsOf } from '../../engine/readmodel.ts';
import { orderView } from '../codec.ts';
import { openOrderByClientId, parseOrderId } from '../commands.ts';
import { ApiError, rejection } from '../errors.ts';
import { withOptionFieldsOf } from '../options.ts';
import {
  AccountEventSchema,
  AccountQuery,
  BalancesSchema,
  ClientOrderParams,
  ErrorBody,
  FillViewSchema,
  FundingPaymentSchema,
  OrderParams,
  OrderViewSchema,
  PositionViewSchema,
} from '../schemas.ts';
import { type App, type RouteContext, signed } from '../server.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const read = { auth: 'read' as const };
const tags = ['account'];

/** GET me: who the signing key is. */
export const MeSchema = Type.Object({
  key: Type.String(),
  account: Type.Union([Type.String(), Type.Null()]),
  scopes: Type.Array(Type.String()),
  admin: Type.Boolean(),
  /** A vault manager's key: the vault it trades (its account is `vault:<id>`); null for any other key. */
  vault: Type.Union([Type.String(), Type.Null()]),
});

export function registerAccountRoutes(app: App, ctx: RouteContext): void {
  const { service } = ctx;
  /** Runs after authentication: an unsigned caller still gets 401, a signed one 503 while degraded. */
  const available = async () => {
    const why = service.degraded;
    if (why !== null) throw new ApiError(503, 'UNAVAILABLE', why);
  };
  const checkSymbol = (symbol: string | undefined) => {
    if (symbol !== undefined && !service.engine.markets.has(symbol))
      throw rejection('UNKNOWN_MARKET', `unknown market ${JSON.stringify(symbol)}`);
  };

  app.get(
    '/api/v1/me',
    {
      config: { auth: 'key' as const },
      schema: {
        tags,
        ...signed,
        summary:
          'Who the signing key is: its account and scopes (what a client shows and which views it offers)',
        response: { 200: MeSchema, ...errors },
      },
    },
    async (req) => {
      const p = req.principal!;
      return {
        key: p.key,
        account: p.account,
        scopes: [...p.scopes].sort(),
        admin: p.admin,
        vault: p.vault,
      };
    },
  );

  app.get(
    '/api/v1/orders',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'Open orders (optionally of one market), oldest first',
        querystring: AccountQuery,
        response: { 200: Type.Array(OrderViewSchema), ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      checkSymbol(req.query.symbol);
      const a = service.engine.accounts.get(account);
      if (!a) return [];
      return [...a.orders.values()]
        .filter((o) => req.query.symbol === undefined || o.market.symbol === req.query.symbol)
        .sort((x, y) => x.id - y.id)
        .slice(0, req.query.limit ?? 1_000)
        .map(orderView);
    },
  );

  app.get(
    '/api/v1/orders/client/:clientOrderId',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'One open order, by its clientOrderId',
        params: ClientOrderParams,
        querystring: AccountQuery,
        response: { 200: OrderViewSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      const o = openOrderByClientId(service.engine, account, req.params.clientOrderId);
      if (!o)
        throw rejection(
          'UNKNOWN_ORDER',
          `no open order with clientOrderId ${JSON.stringify(req.params.clientOrderId)}`,
        );
      return orderView(o);
    },
  );

  app.get(
    '/api/v1/orders/:id',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'One open order',
        params: OrderParams,
        querystring: AccountQuery,
        response: { 200: OrderViewSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      const id = parseOrderId(req.params.id);
      const o = service.engine.accounts.get(account)?.orders.get(id);
      if (!o) throw rejection('UNKNOWN_ORDER', `no open order ${id}`);
      return orderView(o);
    },
  );

  app.get(
    '/api/v1/positions',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'Open positions with margin, liquidation price and PnL (ccxt Position fields)',
        querystring: AccountQuery,
        response: { 200: Type.Array(PositionViewSchema), ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      checkSymbol(req.query.symbol);
      const views = positionsOf(service.engine, account).filter(
        (p) => req.query.symbol === undefined || p.symbol === req.query.symbol,
      );
      // Option positions carry their terms and Greeks.
      return withOptionFieldsOf(service.engine, account, views);
    },
  );

  app.get(
    '/api/v1/balance',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'Balances per asset: free (withdrawable or committable), used, total',
        querystring: AccountQuery,
        response: { 200: BalancesSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      const balances = balancesOf(service.engine, account);
      const pick = (k: 'free' | 'used' | 'total') => Object.fromEntries(balances.map((b) => [b.asset, b[k]]));
      return { account, balances, free: pick('free'), used: pick('used'), total: pick('total') };
    },
  );

  app.get(
    '/api/v1/my-trades',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'Recent fills of this account, newest first',
        querystring: AccountQuery,
        response: { 200: Type.Array(FillViewSchema), ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      checkSymbol(req.query.symbol);
      const s = req.query.symbol;
      return service.history.fillViews(service.engine, account, req.query.limit ?? 100, s);
    },
  );

  app.get(
    '/api/v1/my-liquidations',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary:
          'Recent liquidation events of this account (started, stages, ADL, auto-add, insurance draws)',
        querystring: AccountQuery,
        response: { 200: Type.Array(AccountEventSchema), ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      checkSymbol(req.query.symbol);
      const s = req.query.symbol;
      return service.history.accountLiquidationViews(service.engine, account, req.query.limit ?? 100, s);
    },
  );

  app.get(
    '/api/v1/funding-history',
    {
      config: read,
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary: 'Funding payments of this account, newest first (positive amounts were paid)',
        querystring: AccountQuery,
        response: { 200: Type.Array(FundingPaymentSchema), ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      checkSymbol(req.query.symbol);
      const s = req.query.symbol;
      return service.history.fundingPaymentViews(service.engine, account, req.query.limit ?? 100, s);
    },
  );
}
