/**
 * A shard's part in cross-shard transfers (docs/sharding.md), registered only when `shard` is configured:
 * - `GET /api/v1/shard` (public): this shard's name and market patterns, which routers read;
 * - `POST /api/v1/transfers` (trade): the owner moves free balance from this shard to another — held here until
 *   a coordinator (a router's) has the target credit it and settles it; `GET /api/v1/transfers` (read) lists them;
 * - the coordinator's steps (admin): credit or abort on the target, settle on the source, and the held list.
 * Every step is one engine command through the journal, so the answer is what the journal holds.
 */
import { randomUUID } from 'node:crypto';
import { type Static, Type } from 'typebox';
import { formatDecimal } from '../../core/fixed.ts';
import type { Engine } from '../../engine/engine.ts';
import { inFlight } from '../../engine/shard-transfers.ts';
import { accepted } from '../commands.ts';
import { ApiError } from '../errors.ts';
import { AccountId, AccountQuery, Asset, Decimal, ErrorBody } from '../schemas.ts';
import { type App, type RouteContext, signed } from '../server.ts';
import { transferEventOf, transferEventView, transferRecordView } from '../shard/views.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const strict = { additionalProperties: false } as const;
const tags = ['shard'];

const TransferId = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', description: 'transfer id' });
const ShardName = Type.String({ pattern: '^[a-z0-9_-]{1,32}$', description: 'shard name' });
const Status = Type.Union([
  Type.Literal('held'),
  Type.Literal('credited'),
  Type.Literal('aborted'),
  Type.Literal('settled'),
  Type.Literal('reverted'),
]);

/** POST /api/v1/transfers: free balance from this shard (`fromShard`, when named, must be it) to `toShard`. */
export const TransferBody = Type.Object(
  {
    transferId: Type.Optional(TransferId),
    fromShard: Type.Optional(ShardName),
    toShard: ShardName,
    asset: Asset,
    amount: Decimal,
    account: Type.Optional(AccountId),
  },
  strict,
);
/** GET /api/v1/transfers: (admin keys) `account`, and `limit` (default 100). */
export const TransfersQuery = Type.Object(
  { account: AccountQuery.properties.account, limit: AccountQuery.properties.limit },
  strict,
);
export const ShardViewSchema = Type.Object({ name: Type.String(), markets: Type.Array(Type.String()) });

export const TransferViewSchema = Type.Object({
  transferId: Type.String(),
  account: Type.String(),
  asset: Type.String(),
  amount: Type.String(),
  fromShard: Type.String(),
  toShard: Type.String(),
  status: Status,
  duplicate: Type.Optional(Type.Boolean()),
});
export const TransferRecordSchema = Type.Intersect([
  TransferViewSchema,
  Type.Object({ createdAt: Type.Integer(), updatedAt: Type.Integer() }),
]);
export const StepResult = Type.Intersect([TransferViewSchema, Type.Object({ seq: Type.Integer() })]);

const ShardLedgerRow = Type.Object({
  asset: Type.String(),
  /** Deposits less withdrawals on this shard. */
  netDeposits: Type.String(),
  /** Every balance but the boundary accounts (external, hold, link): accounts, silos, fees, insurance, clearing. */
  balances: Type.String(),
  /** Sent from here, not yet settled. */
  held: Type.String(),
  /** Net shipped to other shards (negative: net received). */
  link: Type.String(),
  /** held + link: summed over every shard, what left one shard and reached no other yet. */
  inFlight: Type.String(),
  /** balances + inFlight = netDeposits on this shard (its ledger's own check). */
  ledgerOk: Type.Boolean(),
});

/** Per asset, this shard's side of the venue-wide check: Σ balances + Σ in flight = Σ net deposits. */
function shardLedger(e: Engine): Static<typeof ShardLedgerRow>[] {
  return [...e.assets].map(([asset, dp]) => {
    let balances = 0n;
    for (const l of e.ledger.accounts())
      if (l.asset === asset && l.kind !== 'external' && l.kind !== 'shardHold' && l.kind !== 'shardLink')
        balances += l.balance;
    const net = e.ledger.netDeposits(asset);
    const held = e.ledger.systemBalance('shardHold', asset);
    const link = e.ledger.systemBalance('shardLink', asset);
    const f = (v: bigint) => formatDecimal(v, dp);
    return {
      asset,
      netDeposits: f(net),
      balances: f(balances),
      held: f(held),
      link: f(link),
      inFlight: f(inFlight(e, asset)),
      ledgerOk: balances + held + link === net,
    };
  });
}

export function registerShardRoutes(app: App, ctx: RouteContext): void {
  const shard = ctx.config.shard;
  if (shard === null) return;
  const { service } = ctx;
  const self = shard.name;
  const step = (r: Awaited<ReturnType<typeof service.submit>>) => {
    const ok = accepted(r);
    return { seq: ok.seq, ...transferEventView(service.engine, self, transferEventOf(ok.events)) };
  };

  app.get(
    '/api/v1/shard',
    {
      schema: {
        tags,
        summary: 'This shard: its name and the markets it owns (exact symbols, or prefixes ending in *)',
        response: { 200: ShardViewSchema },
      },
    },
    async () => ({ name: self, markets: [...shard.markets] }),
  );

  app.post(
    '/api/v1/transfers',
    {
      config: { auth: 'trade' as const },
      schema: {
        tags,
        ...signed,
        summary:
          'Move free balance from this shard to another: held here (status held) until the target credits it; a router finishes it',
        body: TransferBody,
        response: { 200: StepResult, ...errors },
      },
    },
    async (req) => {
      const b = req.body;
      // A router forwards the user's signed request unchanged: it names the source, which must be this shard.
      if (b.fromShard !== undefined && b.fromShard !== self)
        throw new ApiError(409, 'WRONG_SHARD', `this is shard ${self}, not ${b.fromShard}`);
      if (b.toShard === self)
        throw new ApiError(400, 'INVALID_REQUEST', `toShard: ${self} is this shard; name another`);
      const account = ctx.account(req, b.account);
      return step(
        await service.submit({
          type: 'shardTransferOut',
          transfer: b.transferId ?? `t-${randomUUID()}`,
          account,
          asset: b.asset,
          amount: b.amount,
          to: b.toShard,
        }),
      );
    },
  );

  app.get(
    '/api/v1/transfers',
    {
      config: { auth: 'read' as const },
      schema: {
        tags,
        ...signed,
        summary: 'The account’s cross-shard transfers on this shard (sent and received), newest first',
        querystring: TransfersQuery,
        response: { 200: Type.Array(TransferRecordSchema), ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      const e = service.engine;
      // Recorded in command order, so newest first is the list backwards.
      const mine = e.shardTransfers.byAccount.get(account) ?? [];
      const limit = req.query.limit ?? 100;
      const out = [];
      for (let i = mine.length - 1; i >= 0 && out.length < limit; i--)
        out.push(transferRecordView(e, self, mine[i]!));
      return out;
    },
  );

  const admin = { auth: 'admin' as const };
  app.get(
    '/api/v1/admin/shard-ledger',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'This shard’s money per asset: net deposits, balances, the transfer hold and link, money in flight (hold + link), and whether its ledger balances; a router lists every shard’s',
        response: { 200: Type.Array(ShardLedgerRow), ...errors },
      },
    },
    async () => shardLedger(service.engine),
  );

  app.post(
    '/api/v1/admin/shard-transfers/in',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Target: credit a transfer held on its source (once: a repeat, or one after an abort, moves nothing)',
        body: Type.Object(
          { transferId: TransferId, account: AccountId, asset: Asset, amount: Decimal, fromShard: ShardName },
          strict,
        ),
        response: { 200: StepResult, ...errors },
      },
    },
    async (req) => {
      const b = req.body;
      if (b.fromShard === self)
        throw new ApiError(400, 'INVALID_REQUEST', `fromShard: ${self} is this shard`);
      return step(
        await service.submit({
          type: 'shardTransferIn',
          transfer: b.transferId,
          account: b.account,
          asset: b.asset,
          amount: b.amount,
          from: b.fromShard,
        }),
      );
    },
  );

  app.post(
    '/api/v1/admin/shard-transfers/abort',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary: 'Target: record a transfer as never to be credited here (after a credit, the credit stands)',
        body: Type.Object({ transferId: TransferId, fromShard: ShardName }, strict),
        response: { 200: StepResult, ...errors },
      },
    },
    async (req) =>
      step(
        await service.submit({
          type: 'shardTransferAbort',
          transfer: req.body.transferId,
          from: req.body.fromShard,
        }),
      ),
  );

  app.post(
    '/api/v1/admin/shard-transfers/settle',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Source: the target’s answer — credited ships the hold out (settled), aborted returns it (reverted)',
        body: Type.Object(
          {
            transferId: TransferId,
            outcome: Type.Union([Type.Literal('credited'), Type.Literal('aborted')]),
          },
          strict,
        ),
        response: { 200: StepResult, ...errors },
      },
    },
    async (req) =>
      step(
        await service.submit({
          type: 'shardTransferSettle',
          transfer: req.body.transferId,
          outcome: req.body.outcome,
        }),
      ),
  );

  app.get(
    '/api/v1/admin/shard-transfers',
    {
      config: admin,
      schema: {
        tags,
        ...signed,
        summary:
          'Transfers on this shard: `held` (outgoing, not settled: what a coordinator finishes), oldest first',
        querystring: Type.Object(
          {
            status: Type.Optional(Status),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          },
          strict,
        ),
        response: { 200: Type.Array(TransferRecordSchema), ...errors },
      },
    },
    async (req) => {
      const e = service.engine;
      const { status, limit = 1_000 } = req.query;
      // Held ones from their own index (what a coordinator asks for every second); any other status by a pass over
      // the records in the order recorded, stopping at `limit`.
      const out = [];
      if (status === 'held')
        for (const t of e.shardTransfers.held.values()) {
          if (out.length >= limit) break;
          out.push(transferRecordView(e, self, t));
        }
      else
        for (const t of e.shardTransfers.all) {
          if (out.length >= limit) break;
          if (status === undefined || t.status === status) out.push(transferRecordView(e, self, t));
        }
      return out;
    },
  );
}
