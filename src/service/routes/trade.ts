/**
 * Orders and margin (scope `trade`), each one engine command through the journal, answered once it is durable.
 * A rejection answers 4xx with the engine's RejectCode and changed nothing.
 */
import { Type } from 'typebox';
import { fmtLeverage, fmtRate } from '../codec.ts';
import {
  accepted,
  amendCommand,
  amendResult,
  autoAddCommand,
  cancelAllOrders,
  cancelResult,
  currentPosition,
  leverageCommand,
  marginCommand,
  marginModeCommand,
  openPosition,
  orderIdOfClientId,
  parseOrderId,
  placeCombo,
  placeOrder,
  requireAmendChange,
  symbolOfOrder,
} from '../commands.ts';
import {
  AmendOrderBody,
  AmendResultSchema,
  AutoAddBody,
  CancelAllResultSchema,
  CancelQuery,
  CancelResultSchema,
  ClientOrderParams,
  ComboResultSchema,
  ErrorBody,
  LeverageBody,
  MarginBody,
  MarginChangeSchema,
  MarginModeBody,
  OrderParams,
  OrderResultSchema,
  PlaceComboBody,
  PlaceOrderBody,
  PositionViewSchema,
} from '../schemas.ts';
import { type App, type RouteContext, signed } from '../server.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const trade = { auth: 'trade' as const };
const tags = ['trading'];

export const MarginModeResultSchema = Type.Object({
  seq: Type.Integer(),
  symbol: Type.String(),
  marginMode: Type.String(),
});

export const LeverageResultSchema = Type.Object({
  seq: Type.Integer(),
  symbol: Type.String(),
  leverage: Type.String(),
  /** The named silo whose leg it is; null: the default position. */
  silo: Type.Union([Type.String(), Type.Null()]),
  position: Type.Union([PositionViewSchema, Type.Null()]),
});

export const AutoAddResultSchema = Type.Object({
  seq: Type.Integer(),
  /** Empty for a named silo. */
  symbol: Type.String(),
  silo: Type.Union([Type.String(), Type.Null()]),
  enabled: Type.Boolean(),
  policy: Type.Union([Type.String(), Type.Null()]),
  trigger: Type.Union([Type.String(), Type.Null()]),
});

export function registerTradeRoutes(app: App, ctx: RouteContext): void {
  const { service } = ctx;

  app.post(
    '/api/v1/orders',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary:
          'Place an order (limit or market; GTC, IOC, FOK, post-only; reduce-only; self-trade prevention; `silo`: a named silo’s leg)',
        body: PlaceOrderBody,
        response: { 200: OrderResultSchema, ...errors },
      },
    },
    async (req) => placeOrder(service, ctx.account(req, req.body.account), req.body),
  );

  app.post(
    '/api/v1/combo',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary:
          'Place a combo in a named silo: 2–8 legs, each an immediate fill-or-kill taker order at its limit; all fill in full or nothing happens, and the silo’s margin is checked once, after the whole combo',
        body: PlaceComboBody,
        response: { 200: ComboResultSchema, ...errors },
      },
    },
    async (req) => placeCombo(service, ctx.account(req, req.body.account), req.body),
  );

  app.patch(
    '/api/v1/orders/:id',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary: 'Amend a resting order (priority kept only when the size goes down at the same price)',
        params: OrderParams,
        body: AmendOrderBody,
        response: { 200: AmendResultSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
      const id = parseOrderId(req.params.id);
      requireAmendChange(req.body);
      const symbol = symbolOfOrder(service.engine, account, id, req.body.symbol);
      const r = accepted(await service.submit(amendCommand(account, symbol, id, req.body)));
      return amendResult(service.engine, r, id, symbol, account);
    },
  );

  app.delete(
    '/api/v1/orders/:id',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary: 'Cancel one order',
        params: OrderParams,
        querystring: CancelQuery,
        response: { 200: CancelResultSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      const id = parseOrderId(req.params.id);
      const symbol = symbolOfOrder(service.engine, account, id, req.query.symbol);
      const r = accepted(await service.submit({ type: 'cancelOrder', account, symbol, orderId: id }));
      return cancelResult(service.engine, r, id, symbol);
    },
  );

  app.delete(
    '/api/v1/orders/client/:clientOrderId',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary: 'Cancel one open order by its clientOrderId',
        params: ClientOrderParams,
        querystring: CancelQuery,
        response: { 200: CancelResultSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      const id = orderIdOfClientId(service.engine, account, req.params.clientOrderId);
      const symbol = symbolOfOrder(service.engine, account, id, req.query.symbol);
      const r = accepted(await service.submit({ type: 'cancelOrder', account, symbol, orderId: id }));
      return cancelResult(service.engine, r, id, symbol);
    },
  );

  app.delete(
    '/api/v1/orders',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary: 'Cancel all open orders (optionally of one market)',
        querystring: CancelQuery,
        response: { 200: CancelAllResultSchema, ...errors },
      },
    },
    async (req) => {
      return cancelAllOrders(service, ctx.account(req, req.query.account), req.query.symbol);
    },
  );

  app.post(
    '/api/v1/margin-mode',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary: 'Set a market’s margin mode (isolated or cross; only while flat with no open orders)',
        body: MarginModeBody,
        response: { 200: MarginModeResultSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
      const r = accepted(await service.submit(marginModeCommand(account, req.body)));
      return { seq: r.seq, symbol: req.body.symbol, marginMode: req.body.marginMode };
    },
  );

  app.post(
    '/api/v1/leverage',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary:
          'Set leverage (an open isolated position’s collateral is resized to the new initial margin; `silo`: that named silo’s leg)',
        body: LeverageBody,
        response: { 200: LeverageResultSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
      const r = accepted(await service.submit(leverageCommand(account, req.body)));
      const ev = r.events.find((e) => e.type === 'leverageSet');
      return {
        seq: r.seq,
        symbol: req.body.symbol,
        leverage: ev?.type === 'leverageSet' ? fmtLeverage(ev.leverage) : req.body.leverage,
        silo: req.body.silo ?? null,
        position: openPosition(service.engine, account, req.body.symbol, req.body.silo),
      };
    },
  );

  for (const kind of ['add', 'reduce'] as const) {
    app.post(
      `/api/v1/margin/${kind}`,
      {
        config: trade,
        schema: {
          tags,
          ...signed,
          summary:
            kind === 'add'
              ? 'Add margin to an isolated position; answers the position with its new liquidation price'
              : 'Remove margin from an isolated position (at most what keeps initial margin); answers the position',
          body: MarginBody,
          response: { 200: MarginChangeSchema, ...errors },
        },
      },
      async (req) => {
        const account = ctx.account(req, req.body.account);
        const r = accepted(await service.submit(marginCommand(account, req.body, kind)));
        const m = service.engine.markets.get(req.body.symbol)!;
        return {
          seq: r.seq,
          type: kind,
          symbol: m.symbol,
          amount: req.body.amount,
          code: m.asset,
          status: 'ok' as const,
          position: currentPosition(service.engine, account, m.symbol),
        };
      },
    );
  }

  app.post(
    '/api/v1/auto-add-margin',
    {
      config: trade,
      schema: {
        tags,
        ...signed,
        summary: 'Opt an isolated position or a named silo in or out of auto-add margin',
        body: AutoAddBody,
        response: { 200: AutoAddResultSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
      const r = accepted(await service.submit(autoAddCommand(account, req.body)));
      const ev = r.events.find((e) => e.type === 'autoAddMarginSet');
      if (ev?.type === 'autoAddMarginSet') {
        return {
          seq: r.seq,
          symbol: ev.symbol,
          silo: ev.silo ?? null,
          enabled: ev.enabled,
          policy: ev.policy,
          trigger: ev.trigger === null ? null : fmtRate(ev.trigger),
        };
      }
      return {
        seq: r.seq,
        symbol: req.body.symbol ?? '',
        silo: req.body.silo ?? null,
        enabled: req.body.enabled,
        policy: req.body.policy ?? null,
        trigger: req.body.trigger ?? null,
      };
    },
  );
}
