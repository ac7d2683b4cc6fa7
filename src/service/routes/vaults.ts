/**
 * Vaults (issue 24, docs/vaults.md), the service's first cut: the public list with each vault's NAV and NAV per share,
 * a depositor's deposit and withdrawal (scope `trade`, signed, for the key's own account), and the admin's create.
 * Not yet: NAV history, the vault's positions and risk, a manager key scoped to the vault (today an order names
 * `vault:<id>` as its account and only an admin key may act for another account).
 */
import { Type } from 'typebox';
import { formatDecimal } from '../../core/fixed.ts';
import { LEVERAGE_DP, RATE_DP } from '../../core/rates.ts';
import type { Engine } from '../../engine/engine.ts';
import { navPerShare, SHARE_DP, vaultFree, vaultNav } from '../../engine/vaults.ts';
import { fmtNavPerShare } from '../codec.ts';
import { accepted } from '../commands.ts';
import { Decimal, ErrorBody } from '../schemas.ts';
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
  return [...e.vaults.values()].map((v) => {
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
  });
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
        body: Type.Object(
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
        ),
        response: { 200: Type.Intersect([Type.Object({ seq: Type.Integer() }), VaultViewSchema]), ...errors },
      },
    },
    async (req) => {
      const r = accepted(await service.submit({ type: 'createVault', ...req.body }));
      const view = vaultsJson(service.engine).find((v) => v.id === req.body.vault)!;
      return { seq: r.seq, ...view };
    },
  );

  const Params = Type.Object({ vault: VaultId }, strict);
  const Result = Type.Object({
    seq: Type.Integer(),
    status: Type.Union([Type.Literal('paid'), Type.Literal('queued'), Type.Literal('deposited')]),
    shares: Type.String(),
    amount: Type.String(),
  });

  app.post(
    '/api/v1/vaults/:vault/deposit',
    {
      config: { auth: 'trade' as const },
      schema: {
        tags,
        ...signed,
        summary: 'Deposit from the free balance into a vault, for shares at its NAV per share (rounded down)',
        params: Params,
        body: Type.Object({ amount: Decimal, account: Account }, strict),
        response: { 200: Result, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
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
        body: Type.Object({ shares: Decimal, account: Account }, strict),
        response: { 200: Result, ...errors },
      },
    },
    async (req) => {
      const account = ctx.account(req, req.body.account);
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
