/**
 * Vaults (issue 24, docs/vaults.md "Service"): the public list and one vault in detail (NAV, NAV per share, shares,
 * free cash, terms, the withdrawal queue, the vault account's positions and its risk against its limits), its
 * NAV-per-share history (vault-series.ts), a depositor's holding (scope `read`), deposit and withdrawal (scope
 * `trade`, signed, for the key's own account), and the admin's create. The manager trades as the vault with a key
 * scoped to it (config `keys[].vault`: its account is `vault:<id>`, through the ordinary trading routes); such a key
 * is refused here, since a vault's account is never a depositor.
 */
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { formatDecimal, pow10 } from '../../core/fixed.ts';
import { notional } from '../../core/margin.ts';
import { LEVERAGE_DP, RATE_DP } from '../../core/rates.ts';
import type { Engine } from '../../engine/engine.ts';
import type { Market } from '../../engine/market.ts';
import { positionsOf } from '../../engine/readmodel.ts';
import { valuationPrice } from '../../engine/risk.ts';
import { navPerShare, queuedShares, SHARE_DP, type Vault, vaultFree, vaultNav } from '../../engine/vaults.ts';
import { fmtNavPerShare } from '../codec.ts';
import { accepted } from '../commands.ts';
import { ApiError, rejection } from '../errors.ts';
import { withOptionFieldsOf } from '../options.ts';
import { Decimal, ErrorBody, PositionViewSchema } from '../schemas.ts';
import type { App, RouteContext } from '../server.ts';
import { signed } from '../server.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const tags = ['vaults'];
const strict = { additionalProperties: false } as const;
const VaultId = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,32}$' });
const Account = Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }));

export const VaultViewSchema = Type.Object({
  id: Type.String(),
  account: Type.String(),
  manager: Type.String(),
  asset: Type.String(),
  nav: Type.String(),
  navPerShare: Type.String(),
  totalShares: Type.String(),
  free: Type.String(),
  lockupMs: Type.Integer(),
  performanceFee: Type.String(),
  managementFee: Type.String(),
  maxLeverage: Type.String(),
  maxNotionalPerMarket: Type.String(),
  markets: Type.Array(Type.String()),
  queuedWithdrawals: Type.Integer(),
});

/** Every vault, in creation order, at the marks now. */
export function vaultsJson(e: Engine) {
  return [...e.vaults.values()].map((v) => vaultJson(e, v));
}

function vaultJson(e: Engine, v: Vault) {
  const dp = e.assets.get(v.asset) ?? 0;
  const nav = vaultNav(e, v);
  const free = vaultFree(v);
  return {
    id: v.id,
    account: v.account.id,
    manager: v.manager,
    asset: v.asset,
    nav: formatDecimal(nav, dp),
    navPerShare: fmtNavPerShare(e, v.asset, navPerShare(e, v, nav, v.totalShares)),
    totalShares: formatDecimal(v.totalShares, SHARE_DP),
    free: formatDecimal(free > 0n ? free : 0n, dp),
    lockupMs: v.lockupMs,
    performanceFee: formatDecimal(v.performanceFee, RATE_DP),
    managementFee: formatDecimal(v.managementFee, RATE_DP),
    maxLeverage: formatDecimal(v.limits.maxLeverage, LEVERAGE_DP),
    maxNotionalPerMarket: formatDecimal(v.limits.maxNotionalPerMarket, dp),
    markets: [...v.limits.markets],
    queuedWithdrawals: v.queue.length,
  };
}

const RiskMarketSchema = Type.Object({
  symbol: Type.String(),
  /** Gross notional of the vault's positions in the market, at the mark (rounded up). */
  positions: Type.String(),
  /** Notional of the opening lots of its resting orders there, at the mark (rounded up). */
  orders: Type.String(),
  /** positions + orders: what the per-market limit counts. */
  notional: Type.String(),
  /** maxNotionalPerMarket; null: none. */
  limit: Type.Union([Type.String(), Type.Null()]),
  /** notional / limit (4 decimals, rounded up); null without a limit. */
  used: Type.Union([Type.String(), Type.Null()]),
});

export const VaultDetailSchema = Type.Intersect([
  VaultViewSchema,
  Type.Object({
    /** Waiting withdrawals, oldest first (shares and when asked; depositors are not named). */
    queue: Type.Array(Type.Object({ shares: Type.String(), requestedAt: Type.Integer() })),
    /** The vault account's positions (as GET positions shows an account's). */
    positions: Type.Array(PositionViewSchema),
    risk: Type.Object({
      /** Σ per market of positions + opening orders (what the leverage limit counts), settle units. */
      grossNotional: Type.String(),
      /** grossNotional / NAV (LEVERAGE_DP decimals, rounded up); null when NAV ≤ 0. */
      leverage: Type.Union([Type.String(), Type.Null()]),
      maxLeverage: Type.String(),
      /** leverage / maxLeverage (4 decimals, rounded up); null when NAV ≤ 0. */
      leverageUsed: Type.Union([Type.String(), Type.Null()]),
      markets: Type.Array(RiskMarketSchema),
    }),
  }),
]);

export const VaultPointSchema = Type.Object({
  time: Type.Integer(),
  seq: Type.Integer(),
  nav: Type.String(),
  navPerShare: Type.String(),
  totalShares: Type.String(),
});

export const VaultHoldingSchema = Type.Object({
  vault: Type.String(),
  account: Type.String(),
  asset: Type.String(),
  /** Every share held, those waiting in the queue included. */
  shares: Type.String(),
  /** Shares already asked for in the withdrawal queue. */
  queuedShares: Type.String(),
  /** shares × NAV / total shares, rounded down (before any performance fee a withdrawal would charge). */
  value: Type.String(),
  /** The high-water mark: the NAV per share above which the performance fee is charged. */
  hwm: Type.String(),
  /** No withdrawal before this time (ms); 0: never locked. */
  lockedUntil: Type.Integer(),
});

export const CreateVaultBody = Type.Object(
  {
    vault: VaultId,
    manager: Type.String(),
    asset: Type.String(),
    lockupMs: Type.Integer({ minimum: 0 }),
    performanceFee: Decimal,
    managementFee: Decimal,
    maxLeverage: Decimal,
    maxNotionalPerMarket: Type.Optional(Decimal),
    markets: Type.Optional(Type.Array(Type.String(), { maxItems: 256 })),
  },
  strict,
);
export const VaultCreatedSchema = Type.Intersect([Type.Object({ seq: Type.Integer() }), VaultViewSchema]);
export const VaultHistoryQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'default 500' })) },
  strict,
);
/** An admin key names the account; any other key reads its own. */
export const VaultHoldingQuery = Type.Object({ account: Account }, strict);
export const VaultDepositBody = Type.Object({ amount: Decimal, account: Account }, strict);
export const VaultWithdrawBody = Type.Object({ shares: Decimal, account: Account }, strict);
/** What a deposit or withdrawal did: `deposited` (shares bought), `paid` (amount paid) or `queued`. */
export const VaultMovedSchema = Type.Object({
  seq: Type.Integer(),
  status: Type.Union([Type.Literal('paid'), Type.Literal('queued'), Type.Literal('deposited')]),
  shares: Type.String(),
  amount: Type.String(),
});

const USED_DP = 4;
/** ⌈a / b⌉ at `dp` decimals (a requirement-like ratio: rounded up), b > 0. */
const ratioUp = (a: bigint, b: bigint, dp: number): string => formatDecimal((a * pow10(dp) + b - 1n) / b, dp);

/** The vault's exposure as its pre-trade limits count it (vaults.ts checkVaultOrder), per market, at the marks now. */
function vaultRisk(e: Engine, v: Vault) {
  const dp = e.assets.get(v.asset) ?? 0;
  const per = new Map<Market, { positions: bigint; orders: bigint }>();
  const row = (m: Market) => {
    let r = per.get(m);
    if (!r) {
      r = { positions: 0n, orders: 0n };
      per.set(m, r);
    }
    return r;
  };
  for (const p of v.account.positions.values())
    if (p.sign !== 0)
      row(p.market).positions += notional(p.market.inst, p.market.size(p.lots), valuationPrice(p), 'ceil');
  for (const o of v.account.orders.values())
    if (!o.reduceOnly && o.reservedLots > 0)
      row(o.market).orders += notional(
        o.market.inst,
        o.market.size(o.reservedLots),
        o.market.mark ?? o.market.price(o.priceTicks),
        'ceil',
      );
  const limit = v.limits.maxNotionalPerMarket;
  let gross = 0n;
  const markets = [...per].map(([m, r]) => {
    const n = r.positions + r.orders;
    gross += n;
    return {
      symbol: m.symbol,
      positions: formatDecimal(r.positions, dp),
      orders: formatDecimal(r.orders, dp),
      notional: formatDecimal(n, dp),
      limit: limit > 0n ? formatDecimal(limit, dp) : null,
      used: limit > 0n ? ratioUp(n, limit, USED_DP) : null,
    };
  });
  const nav = vaultNav(e, v);
  const max = v.limits.maxLeverage;
  return {
    grossNotional: formatDecimal(gross, dp),
    leverage: nav > 0n ? ratioUp(gross, nav, LEVERAGE_DP) : null,
    maxLeverage: formatDecimal(max, LEVERAGE_DP),
    // (gross / nav) / (max / 10^LEVERAGE_DP)
    leverageUsed: nav > 0n && max > 0n ? ratioUp(gross * pow10(LEVERAGE_DP), nav * max, USED_DP) : null,
    markets,
  };
}

export function vaultDetailJson(e: Engine, v: Vault) {
  return {
    ...vaultJson(e, v),
    queue: v.queue.map((r) => ({ shares: formatDecimal(r.shares, SHARE_DP), requestedAt: r.requestedAt })),
    positions: withOptionFieldsOf(e, v.account.id, positionsOf(e, v.account.id)),
    risk: vaultRisk(e, v),
  };
}

export function holdingJson(e: Engine, v: Vault, account: string) {
  const h = v.depositors.get(account);
  const dp = e.assets.get(v.asset) ?? 0;
  const nav = vaultNav(e, v);
  const shares = h?.shares ?? 0n;
  const value = v.totalShares > 0n && nav > 0n ? (shares * nav) / v.totalShares : 0n;
  return {
    vault: v.id,
    account,
    asset: v.asset,
    shares: formatDecimal(shares, SHARE_DP),
    queuedShares: formatDecimal(queuedShares(v, account), SHARE_DP),
    value: formatDecimal(value, dp),
    hwm: fmtNavPerShare(e, v.asset, h?.hwm ?? navPerShare(e, v, nav, v.totalShares)),
    lockedUntil: h?.lockedUntil ?? 0,
  };
}

export function registerVaultRoutes(app: App, ctx: RouteContext): void {
  const { service } = ctx;
  app.get(
    '/api/v1/vaults',
    {
      config: { auth: 'public' as const },
      schema: {
        tags,
        summary:
          'Every vault: NAV and NAV per share at the marks now, shares, free cash, fees, limits, queue length',
        response: { 200: Type.Array(VaultViewSchema), ...errors },
      },
    },
    async () => vaultsJson(service.engine),
  );

  app.post(
    '/api/v1/admin/vaults',
    {
      config: { auth: 'admin' as const },
      schema: {
        tags,
        ...signed,
        summary: 'Create a vault: its account vault:<id>, manager, asset, lock-up, fees and risk limits',
        body: CreateVaultBody,
        response: { 200: VaultCreatedSchema, ...errors },
      },
    },
    async (req) => {
      const r = accepted(await service.submit({ type: 'createVault', ...req.body }));
      const view = vaultsJson(service.engine).find((v) => v.id === req.body.vault)!;
      return { seq: r.seq, ...view };
    },
  );

  const Params = Type.Object({ vault: VaultId }, strict);
  const vaultOf = (id: string): Vault => {
    const v = service.engine.vaults.get(id);
    if (!v) throw rejection('UNKNOWN_VAULT', `unknown vault ${JSON.stringify(id)}`);
    return v;
  };
  /** The depositor a deposit or withdrawal is for: never a vault (a manager's key acts only as its vault). */
  const depositor = (req: FastifyRequest, requested: string | undefined): string => {
    if ((req.principal?.vault ?? null) !== null)
      throw new ApiError(403, 'FORBIDDEN', 'a vault manager key cannot deposit into or withdraw from vaults');
    return ctx.account(req, requested);
  };
  const available = async () => {
    const why = service.degraded;
    if (why !== null) throw new ApiError(503, 'UNAVAILABLE', why);
  };

  app.get(
    '/api/v1/vaults/:vault',
    {
      config: { auth: 'public' as const },
      schema: {
        tags,
        summary:
          'One vault: NAV, NAV per share, shares, free cash, terms, its withdrawal queue, its positions, and its risk against its limits (gross notional / NAV, per-market notional)',
        params: Params,
        response: { 200: VaultDetailSchema, ...errors },
      },
    },
    async (req) => vaultDetailJson(service.engine, vaultOf(req.params.vault)),
  );

  app.get(
    '/api/v1/vaults/:vault/history',
    {
      config: { auth: 'public' as const },
      schema: {
        tags,
        summary:
          'NAV, NAV per share and shares after each committed command that changed them (from marks alone: at most one a minute), oldest first (a bounded recent window)',
        params: Params,
        querystring: VaultHistoryQuery,
        response: { 200: Type.Array(VaultPointSchema), ...errors },
      },
    },
    async (req) => {
      const v = vaultOf(req.params.vault);
      return service.vaultHistory.view(service.engine, v.id, v.asset, req.query.limit ?? 500);
    },
  );

  app.get(
    '/api/v1/vaults/:vault/holding',
    {
      config: { auth: 'read' as const },
      preHandler: available,
      schema: {
        tags,
        ...signed,
        summary:
          'The account’s holding in the vault: shares, value at NAV, high-water mark, lock-up (zero shares if none)',
        params: Params,
        querystring: VaultHoldingQuery,
        response: { 200: VaultHoldingSchema, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.query.account);
      return holdingJson(service.engine, vaultOf(req.params.vault), account);
    },
  );

  app.post(
    '/api/v1/vaults/:vault/deposit',
    {
      config: { auth: 'trade' as const },
      schema: {
        tags,
        ...signed,
        summary: 'Deposit from the free balance into a vault, for shares at its NAV per share (rounded down)',
        params: Params,
        body: VaultDepositBody,
        response: { 200: VaultMovedSchema, ...errors },
      },
    },
    async (req) => {
      const account = depositor(req, req.body.account);
      const r = accepted(
        await service.submit({
          type: 'vaultDeposit',
          vault: req.params.vault,
          account,
          amount: req.body.amount,
        }),
      );
      const ev = r.events.find((x) => x.type === 'vaultDeposit');
      const dp = service.engine.assets.get(service.engine.vaults.get(req.params.vault)?.asset ?? '') ?? 0;
      return {
        seq: r.seq,
        status: 'deposited' as const,
        shares: formatDecimal(ev?.type === 'vaultDeposit' ? ev.shares : 0n, SHARE_DP),
        amount: formatDecimal(ev?.type === 'vaultDeposit' ? ev.amount : 0n, dp),
      };
    },
  );

  app.post(
    '/api/v1/vaults/:vault/withdraw',
    {
      config: { auth: 'trade' as const },
      schema: {
        tags,
        ...signed,
        summary:
          'Withdraw shares after the lock-up: paid now from the vault’s free cash at its NAV, or queued (FIFO) until the manager frees the cash',
        params: Params,
        body: VaultWithdrawBody,
        response: { 200: VaultMovedSchema, ...errors },
      },
    },
    async (req) => {
      const account = depositor(req, req.body.account);
      const r = accepted(
        await service.submit({
          type: 'vaultWithdraw',
          vault: req.params.vault,
          account,
          shares: req.body.shares,
        }),
      );
      const dp = service.engine.assets.get(service.engine.vaults.get(req.params.vault)?.asset ?? '') ?? 0;
      const paid = r.events.find(
        (x) => x.type === 'vaultWithdraw' && x.account === account && x.requestedAt === undefined,
      );
      if (paid?.type === 'vaultWithdraw')
        return {
          seq: r.seq,
          status: 'paid' as const,
          shares: formatDecimal(paid.shares, SHARE_DP),
          amount: formatDecimal(paid.amount, dp),
        };
      return { seq: r.seq, status: 'queued' as const, shares: req.body.shares, amount: '0' };
    },
  );
}
