/**
 * Vault commands (vaults.ts, docs/vaults.md): createVault (admin), vaultDeposit and vaultWithdraw (a depositor).
 * Each validates in full — every figure the mutation needs is computed first, the management fee due included —
 * and only then mutates (`---- validated ----`).
 */
import { parseDecimal, pow10 } from '../../core/fixed.ts';
import { parseLeverage, parseRate } from '../../core/rates.ts';
import { Account, BACKSTOP_ACCOUNT } from '../account.ts';
import type { EngineState } from '../state.ts';
import { type Cmd, Rejection } from '../types.ts';
import { accountOf, amountOf, MAX_AMOUNT_DIGITS, parsed } from '../validate.ts';
import {
  accrueManagement,
  holdingOf,
  MAX_MANAGEMENT_FEE,
  MAX_PERFORMANCE_FEE,
  MAX_QUEUE,
  MAX_VAULTS,
  managementDue,
  navPerShare,
  payQueue,
  payWithdrawal,
  queuedShares,
  SHARE_DP,
  VAULT_ID_RE,
  VAULT_PREFIX,
  Vault,
  vaultFree,
  vaultNav,
  vaultPriced,
  withdrawalTerms,
} from '../vaults.ts';
import { requireFree } from './account.ts';
import { MAX_MARKETS } from './markets.ts';

export function createVault(e: EngineState, cmd: Cmd<'createVault'>): undefined {
  if (typeof cmd.vault !== 'string' || !VAULT_ID_RE.test(cmd.vault))
    throw new Rejection('INVALID_COMMAND', 'vault id must be 1-32 characters of A-Z a-z 0-9 _ . -');
  const id = `${VAULT_PREFIX}${cmd.vault}`;
  if (e.vaults.has(cmd.vault) || e.accounts.has(id))
    throw new Rejection('VAULT_EXISTS', `vault ${cmd.vault} exists`);
  if (e.vaults.size >= MAX_VAULTS) throw new Rejection('LIMIT_EXCEEDED', `at most ${MAX_VAULTS} vaults`);
  const manager = accountOf(e, cmd.manager);
  if (manager.id === BACKSTOP_ACCOUNT || manager.id.startsWith(VAULT_PREFIX))
    throw new Rejection('INVALID_COMMAND', 'a vault is managed by a trader account');
  if (typeof cmd.asset !== 'string' || !e.assets.has(cmd.asset))
    throw new Rejection('UNKNOWN_ASSET', `unknown asset ${JSON.stringify(cmd.asset)}`);
  if (!Number.isSafeInteger(cmd.lockupMs) || cmd.lockupMs < 0)
    throw new Rejection('INVALID_COMMAND', 'lockupMs must be a non-negative integer');
  const performanceFee = parsed(() => parseRate(cmd.performanceFee, 'performanceFee'));
  if (performanceFee >= MAX_PERFORMANCE_FEE)
    throw new Rejection('INVALID_COMMAND', 'performanceFee must be below 1');
  const managementFee = parsed(() => parseRate(cmd.managementFee, 'managementFee'));
  if (managementFee > MAX_MANAGEMENT_FEE)
    throw new Rejection('INVALID_COMMAND', 'managementFee is at most 0.5 a year');
  const maxLeverage = parsed(() => parseLeverage(cmd.maxLeverage, 'maxLeverage'));
  const dp = e.assets.get(cmd.asset)!;
  const maxNotionalPerMarket =
    cmd.maxNotionalPerMarket === undefined
      ? 0n
      : parsed(
          () =>
            parseDecimal(cmd.maxNotionalPerMarket, 'maxNotionalPerMarket', {
              dp,
              maxAbs: pow10(MAX_AMOUNT_DIGITS),
            }),
          'INVALID_AMOUNT',
        );
  const markets = cmd.markets ?? [];
  if (
    !Array.isArray(markets) ||
    markets.length > MAX_MARKETS ||
    !markets.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 64) ||
    new Set(markets).size !== markets.length
  )
    throw new Rejection('INVALID_COMMAND', `markets must list at most ${MAX_MARKETS} distinct symbols`);
  // ---- validated ----
  const a = new Account(id, e.accounts.size + 1);
  e.accounts.set(id, a);
  a.wallet(cmd.asset, e.ledger);
  const v = new Vault(
    cmd.vault,
    a,
    manager.id,
    cmd.asset,
    cmd.lockupMs,
    performanceFee,
    managementFee,
    { maxLeverage, maxNotionalPerMarket, markets: [...markets] },
    e.now,
  );
  e.vaults.set(v.id, v);
  e.events.push({
    type: 'vaultCreated',
    vault: v.id,
    account: id,
    manager: v.manager,
    asset: v.asset,
    lockupMs: v.lockupMs,
    performanceFee,
    managementFee,
    maxLeverage,
    maxNotionalPerMarket,
    markets: [...markets],
  });
  return undefined;
}

function vaultOf(e: EngineState, id: unknown): Vault {
  const v = typeof id === 'string' ? e.vaults.get(id) : undefined;
  if (v === undefined) throw new Rejection('UNKNOWN_VAULT', `unknown vault ${JSON.stringify(id)}`);
  return v;
}

/** A depositor: an existing account that is neither a vault's nor the backstop. */
function depositorOf(e: EngineState, id: unknown): Account {
  const a = accountOf(e, id);
  if (a.id === BACKSTOP_ACCOUNT || a.id.startsWith(VAULT_PREFIX))
    throw new Rejection('INVALID_COMMAND', 'a vault is not a depositor');
  return a;
}

function requirePriced(e: EngineState, v: Vault): void {
  const sym = vaultPriced(e, v);
  if (sym !== null)
    throw new Rejection(
      'ORACLE_PAUSED',
      `vault ${v.id} cannot be valued: ${sym}'s oracle pauses withdrawals`,
    );
}

export function vaultDeposit(e: EngineState, cmd: Cmd<'vaultDeposit'>): undefined {
  const v = vaultOf(e, cmd.vault);
  const a = depositorOf(e, cmd.account);
  const amount = amountOf(e, cmd.amount, v.asset, 'amount');
  requireFree(e, a, v.asset, amount);
  requirePriced(e, v);
  // The management fee due now is minted first: the deposit buys at the NAV per share after it.
  const total = v.totalShares + managementDue(v, e.now);
  const nav = vaultNav(e, v);
  let shares: bigint;
  if (total === 0n) shares = (amount * pow10(SHARE_DP)) / pow10(e.assets.get(v.asset)!);
  else {
    if (nav <= 0n) throw new Rejection('VAULT_LIMIT', `vault ${v.id} has no positive NAV to buy shares of`);
    shares = (amount * total) / nav;
  }
  if (shares === 0n)
    throw new Rejection('INVALID_AMOUNT', `${cmd.amount} ${v.asset} buys no whole share unit`);
  // ---- validated ----
  accrueManagement(e, v);
  const nps = navPerShare(e, v, nav, v.totalShares);
  const h = holdingOf(e, v, a.id, nav);
  // The high-water mark of the holding: its shares' marks averaged (rounded up, in the depositor's favour).
  h.hwm =
    h.shares === 0n ? nps : (h.hwm * h.shares + nps * shares + h.shares + shares - 1n) / (h.shares + shares);
  h.shares += shares;
  h.lockedUntil = e.now + v.lockupMs;
  v.totalShares += shares;
  e.ledger.transfer(
    a.wallets.get(v.asset)!.main,
    v.account.wallets.get(v.asset)!.main,
    amount,
    'vaultDeposit',
  );
  e.events.push({
    type: 'vaultDeposit',
    vault: v.id,
    account: a.id,
    amount,
    shares,
    nav,
    totalShares: v.totalShares,
    lockedUntil: h.lockedUntil,
  });
  payQueue(e, v);
  return undefined;
}

export function vaultWithdraw(e: EngineState, cmd: Cmd<'vaultWithdraw'>): undefined {
  const v = vaultOf(e, cmd.vault);
  const a = depositorOf(e, cmd.account);
  const shares = parsed(
    () =>
      parseDecimal(cmd.shares, 'shares', { dp: SHARE_DP, positive: true, maxAbs: pow10(MAX_AMOUNT_DIGITS) }),
    'INVALID_AMOUNT',
  );
  const h = v.depositors.get(a.id);
  const free = h === undefined ? 0n : h.shares - queuedShares(v, a.id);
  if (h === undefined || shares > free)
    throw new Rejection(
      'INSUFFICIENT_BALANCE',
      `${a.id} holds ${h === undefined ? 0 : free} share units of vault ${v.id} not already queued`,
    );
  if (e.now < h.lockedUntil)
    throw new Rejection(
      'VAULT_LOCKED',
      `${a.id}'s shares of vault ${v.id} are locked until ${h.lockedUntil}`,
    );
  requirePriced(e, v);
  if (v.queue.length >= MAX_QUEUE)
    throw new Rejection('LIMIT_EXCEEDED', `vault ${v.id} has ${MAX_QUEUE} withdrawals waiting`);
  // ---- validated ----
  accrueManagement(e, v);
  // First the requests already waiting (FIFO), then this one: now if the free balance covers it, else queued.
  payQueue(e, v);
  const t = withdrawalTerms(e, v, a.id, h, shares, vaultNav(e, v));
  if (v.queue.length === 0 && t.amount <= vaultFree(v)) {
    payWithdrawal(e, v, a, shares, null);
    return undefined;
  }
  v.queue.push({ account: a.id, shares, requestedAt: e.now });
  e.events.push({ type: 'vaultWithdrawQueued', vault: v.id, account: a.id, shares, requestedAt: e.now });
  return undefined;
}
