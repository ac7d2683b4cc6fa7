/**
 * Risk-isolated vaults (issue 24, docs/vaults.md): pooled capital in an engine account of its own (`vault:<id>`),
 * traded by its manager, owned by its depositors through shares.
 *
 * - **Isolation.** The vault is an ordinary account: its positions, silos, liquidations and bad debt touch its own
 *   balances and the insurance fund as any account's would. Depositors' other money, the manager's own account and
 *   other vaults are other accounts: nothing here moves their money except the depositor's own vault commands.
 * - **NAV** = the vault account's equity in its asset (equity.ts `accountEquity`: every box at mark, options at
 *   mark, funding owed counted, a bankrupt box at zero). NAV per share is kept as asset base units per share base
 *   unit × NPS_ONE (10¹⁸), rounded down.
 * - **Shares** have SHARE_DP (6) decimals. Into an empty vault, 1 share = 1 unit of the asset: ⌊amount × 10⁶ /
 *   10^dp⌋. Otherwise ⌊amount × totalShares / NAV⌋; a withdrawal of s shares pays ⌊s × NAV / totalShares⌋. Both
 *   round against the one who comes or goes, so the others' NAV per share never falls.
 * - **Fees** are share dilution. Management fee (annual rate f, RATE_DP): over dt ms the manager is minted
 *   m = ⌊S × f × dt / (YEAR × 1 − f × dt)⌋ shares (so m / (S + m) = f × dt / YEAR: that fraction of the NAV), at every
 *   vault command and every `tick`, in steps of at most a year. The accrual time only advances when shares are
 *   minted, so frequent ticks that each round to zero lose nothing. Performance fee (rate p) per depositor above
 *   their high-water mark (hwm, NAV per share at NPS scale), charged on the shares a withdrawal takes: fee value =
 *   ⌊p × (navPerShare − hwm) × shares⌋; that value's worth of those shares (⌊value × S / NAV⌋) goes to the manager
 *   instead of being paid out (NAV unchanged), the rest is burned and paid. A depositor's hwm starts at the NAV per
 *   share they bought at; a later deposit averages it by shares (rounded up: in their favour).
 * - **Withdrawals** are paid from the vault's free balance (`available`: never collateral backing positions, never
 *   an isolated bucket or silo). What cannot be paid at once waits in a FIFO queue (its shares reserved) and is paid
 *   at the NAV of the moment it is paid, first come first served, at the end of any command that moved the vault's
 *   money (a fill, a close, a transfer), any vault command and any tick.
 * - **Limits** (pre-trade, on orders the vault account places): allowed markets, max notional per market, max
 *   leverage (gross notional / NAV), refused with VAULT_LIMIT. An order's reducing part is never refused.
 */
import { formatDecimal, pow10 } from '../core/fixed.ts';
import { notional } from '../core/margin.ts';
import { LEVERAGE_DP, RATE_ONE } from '../core/rates.ts';
import { type Account, type Order, Position, type PositionView, Silo } from './account.ts';
import { accountEquity } from './equity.ts';
import type { Market } from './market.ts';
import { allows, validityAt } from './oracle.ts';
import { available, valuationPrice } from './risk.ts';
import type { EngineState } from './state.ts';
import { type OrderSide, Rejection } from './types.ts';

export const VAULT_PREFIX = 'vault:';
export const VAULT_ID_RE = /^[A-Za-z0-9_.-]{1,32}$/;
export const SHARE_DP = 6;
/** Scale of NAV per share and of high-water marks: asset base units per share base unit × 10¹⁸. */
export const NPS_ONE = 10n ** 18n;
export const YEAR_MS = 365 * 86_400_000;
export const MAX_VAULTS = 256;
/** Pending withdrawal requests per vault (bounds the queue's work per command). */
export const MAX_QUEUE = 1000;
/** Largest management fee (annual) and performance fee accepted, RATE_DP. */
export const MAX_MANAGEMENT_FEE = RATE_ONE / 2n;
export const MAX_PERFORMANCE_FEE = RATE_ONE;

export interface VaultLimits {
  /** Gross notional / NAV, at LEVERAGE_DP. */
  maxLeverage: bigint;
  /** Largest gross notional in one market, settle units; 0: none. */
  maxNotionalPerMarket: bigint;
  /** Allowed symbols; empty: every market settled in the vault's asset. */
  markets: string[];
}

export interface VaultHolding {
  shares: bigint;
  /** High-water mark: NAV per share (NPS_ONE scale) above which the performance fee is charged. */
  hwm: bigint;
  /** No withdrawal before this time (the last deposit's time + lock-up). */
  lockedUntil: number;
}

export interface WithdrawalRequest {
  account: string;
  shares: bigint;
  requestedAt: number;
}

export class Vault {
  totalShares = 0n;
  /** Share holders by account id (the manager's fee shares included), in the order they first held. */
  readonly depositors = new Map<string, VaultHolding>();
  /** Withdrawals waiting for free cash, oldest first. */
  readonly queue: WithdrawalRequest[] = [];
  constructor(
    readonly id: string,
    /** The vault's engine account (`vault:<id>`). */
    readonly account: Account,
    readonly manager: string,
    readonly asset: string,
    readonly lockupMs: number,
    readonly performanceFee: bigint,
    readonly managementFee: bigint,
    readonly limits: VaultLimits,
    /** When the management fee last accrued (minted shares, or the vault had none). */
    public lastFeeTime: number,
  ) {}
}

/** The vault whose account this is, or null. */
export function vaultOfAccount(e: EngineState, a: Account): Vault | null {
  // On every opening order: nothing to look at on a venue without vaults.
  if (e.vaults.size === 0 || !a.id.startsWith(VAULT_PREFIX)) return null;
  return e.vaults.get(a.id.slice(VAULT_PREFIX.length)) ?? null;
}

export function vaultNav(e: EngineState, v: Vault): bigint {
  return accountEquity(e, v.account, v.asset);
}

/** NAV per share at NPS_ONE scale, rounded down; an empty vault's is 1 asset unit per share. */
export function navPerShare(e: EngineState, v: Vault, nav: bigint, total: bigint): bigint {
  if (total === 0n) return (pow10(e.assets.get(v.asset)!) * NPS_ONE) / pow10(SHARE_DP);
  return nav <= 0n ? 0n : (nav * NPS_ONE) / total;
}

/** What the vault can pay out now: its free balance (`available`), never collateral backing positions. */
export function vaultFree(v: Vault): bigint {
  const w = v.account.wallets.get(v.asset);
  return w === undefined ? 0n : available(v.account, w, v.asset);
}

/** Whether every market the vault holds a position in allows money to leave (its NAV is priced). */
export function vaultPriced(e: EngineState, v: Vault): string | null {
  for (const p of v.account.positions.values())
    if (p.sign !== 0 && !allows('withdraw', validityAt(p.market, e.now))) return p.market.symbol;
  return null;
}

/** Management-fee shares due at `now` (pure): the steps of at most a year since lastFeeTime, compounded. */
export function managementDue(v: Vault, now: number): bigint {
  if (v.managementFee === 0n || v.totalShares === 0n) return 0n;
  let dt = now - v.lastFeeTime;
  let total = v.totalShares;
  let minted = 0n;
  while (dt > 0) {
    const step = Math.min(dt, YEAR_MS);
    const fdt = v.managementFee * BigInt(step);
    const m = (total * fdt) / (BigInt(YEAR_MS) * RATE_ONE - fdt);
    minted += m;
    total += m;
    dt -= step;
  }
  return minted;
}

/** Accrues the management fee (at every vault command and tick): mints to the manager, one `vaultFee` event. */
export function accrueManagement(e: EngineState, v: Vault): void {
  if (v.managementFee === 0n || v.totalShares === 0n) {
    v.lastFeeTime = e.now;
    return;
  }
  const m = managementDue(v, e.now);
  if (m === 0n) return; // nothing whole yet: accrue over the longer span next time
  const nav = vaultNav(e, v);
  const h = holdingOf(e, v, v.manager, nav);
  h.shares += m;
  v.totalShares += m;
  v.lastFeeTime = e.now;
  e.events.push({
    type: 'vaultFee',
    vault: v.id,
    kind: 'management',
    from: null,
    to: v.manager,
    shares: m,
    value: (m * nav) / v.totalShares,
    navPerShare: navPerShare(e, v, nav, v.totalShares),
  });
}

/** The holding of `account`, opened (hwm at the current NAV per share, unlocked) on first use. */
export function holdingOf(e: EngineState, v: Vault, account: string, nav: bigint): VaultHolding {
  let h = v.depositors.get(account);
  if (h === undefined) {
    h = { shares: 0n, hwm: navPerShare(e, v, nav, v.totalShares), lockedUntil: 0 };
    v.depositors.set(account, h);
  }
  return h;
}

/** Shares of `account` already waiting in the queue. */
export function queuedShares(v: Vault, account: string): bigint {
  let s = 0n;
  for (const r of v.queue) if (r.account === account) s += r.shares;
  return s;
}

/** What withdrawing `shares` of holding `h` means at this NAV: the fee's shares, the shares paid, the payout. */
export function withdrawalTerms(
  e: EngineState,
  v: Vault,
  account: string,
  h: VaultHolding,
  shares: bigint,
  nav: bigint,
): { feeShares: bigint; feeValue: bigint; burned: bigint; amount: bigint; nps: bigint } {
  const total = v.totalShares;
  const nps = navPerShare(e, v, nav, total);
  let feeValue = 0n;
  let feeShares = 0n;
  if (account !== v.manager && v.performanceFee > 0n && nps > h.hwm && nav > 0n) {
    feeValue = (v.performanceFee * (nps - h.hwm) * shares) / (RATE_ONE * NPS_ONE);
    feeShares = (feeValue * total) / nav;
    if (feeShares > shares) feeShares = shares;
  }
  const burned = shares - feeShares;
  const amount = nav <= 0n ? 0n : (burned * nav) / total;
  return { feeShares, feeValue, burned, amount, nps };
}

/**
 * Pays `shares` of `account` out now (the caller checked the cash): the performance fee's shares to the manager,
 * the rest burned, the payout from the vault's main balance to the depositor's. Returns the amount paid.
 */
export function payWithdrawal(
  e: EngineState,
  v: Vault,
  account: Account,
  shares: bigint,
  queued: number | null,
): bigint {
  const h = v.depositors.get(account.id)!;
  const nav = vaultNav(e, v);
  const t = withdrawalTerms(e, v, account.id, h, shares, nav);
  if (t.feeShares > 0n) {
    h.shares -= t.feeShares;
    holdingOf(e, v, v.manager, nav).shares += t.feeShares;
    e.events.push({
      type: 'vaultFee',
      vault: v.id,
      kind: 'performance',
      from: account.id,
      to: v.manager,
      shares: t.feeShares,
      value: t.feeValue,
      navPerShare: t.nps,
    });
  }
  h.shares -= t.burned;
  v.totalShares -= t.burned;
  const from = v.account.wallets.get(v.asset)!.main;
  e.ledger.transfer(from, account.wallet(v.asset, e.ledger).main, t.amount, 'vaultWithdraw');
  e.events.push({
    type: 'vaultWithdraw',
    vault: v.id,
    account: account.id,
    shares: t.burned,
    amount: t.amount,
    nav,
    totalShares: v.totalShares,
    ...(queued !== null ? { requestedAt: queued } : {}),
  });
  if (h.shares === 0n && account.id !== v.manager && queuedShares(v, account.id) === 0n)
    v.depositors.delete(account.id);
  return t.amount;
}

/**
 * Pays the queue's requests in order while the vault's free balance covers the head (at the NAV of that moment);
 * stops at the first it cannot pay (FIFO: no later request jumps it) or while a market it holds is not priced.
 * At most MAX_QUEUE requests.
 */
export function payQueue(e: EngineState, v: Vault): void {
  while (v.queue.length > 0) {
    if (vaultPriced(e, v) !== null) return;
    const r = v.queue[0]!;
    const h = v.depositors.get(r.account)!;
    const t = withdrawalTerms(e, v, r.account, h, r.shares, vaultNav(e, v));
    if (t.amount > vaultFree(v)) return;
    v.queue.shift();
    payWithdrawal(e, v, e.accounts.get(r.account)!, r.shares, r.requestedAt);
  }
}

/**
 * End of a command (engine.ts): on a tick every vault accrues its management fee and pays what its queue can; after
 * any other command, the queues of the vaults whose money the command moved (the ledger's touched accounts).
 */
export function settleVaults(e: EngineState, tick: boolean): void {
  if (tick) {
    for (const v of e.vaults.values()) {
      accrueManagement(e, v);
      payQueue(e, v);
    }
    return;
  }
  let seen: Set<Vault> | null = null;
  const touched = e.ledger.touched;
  for (let i = 0; i < touched.size; i++) {
    const o = touched.at(i).owner;
    const a = o instanceof Position || o instanceof Silo ? o.account : (o as Account | null);
    if (a === null || !a.id.startsWith(VAULT_PREFIX)) continue;
    const v = vaultOfAccount(e, a);
    if (v === null || v.queue.length === 0 || seen?.has(v)) continue;
    if (seen === null) seen = new Set();
    seen.add(v);
  }
  if (seen !== null) for (const v of seen) payQueue(e, v);
}

// ---------------------------------------------------------------------------------------------------------
// Pre-trade limits

/**
 * The vault's limits on an order of its account that opens `openLots` (the caller skips orders that only reduce):
 * the market allowed and settled in the vault's asset; the market's gross exposure after the order (every position
 * of the account there, the order filled in full, the opening lots of its other resting orders) at most
 * maxNotionalPerMarket; the account's gross notional over all markets so counted at most maxLeverage × NAV.
 * Notional at the mark (else the order's price), rounded up. Throws VAULT_LIMIT.
 */
export function checkVaultOrder(
  e: EngineState,
  v: Vault,
  view: PositionView,
  m: Market,
  side: OrderSide,
  lots: number,
  priceTicks: number,
  exclude: Order | null = null,
): void {
  const lim = v.limits;
  const fmt = (x: bigint) => formatDecimal(x, e.assets.get(v.asset)!);
  if (m.asset !== v.asset)
    throw new Rejection('VAULT_LIMIT', `vault ${v.id} trades markets settled in ${v.asset} only`);
  if (lim.markets.length > 0 && !lim.markets.includes(m.symbol))
    throw new Rejection('VAULT_LIMIT', `vault ${v.id} may not trade ${m.symbol}`);
  // Gross notional per market: positions (the order's own one as the order leaves it) and other orders' opening lots.
  const exposure = new Map<Market, bigint>();
  const add = (mk: Market, lotsAbs: number, price: bigint) => {
    if (lotsAbs === 0) return;
    const n = notional(mk.inst, mk.size(lotsAbs), price, 'ceil');
    exposure.set(mk, (exposure.get(mk) ?? 0n) + n);
  };
  for (const p of v.account.positions.values())
    if (p !== view && p.sign !== 0) add(p.market, p.lots, valuationPrice(p));
  const orderPrice = m.mark ?? m.price(priceTicks);
  add(m, Math.abs(view.sign * view.lots + (side === 'buy' ? lots : -lots)), orderPrice);
  for (const o of v.account.orders.values())
    if (o !== exclude && !o.reduceOnly && o.reservedLots > 0)
      add(o.market, o.reservedLots, o.market.mark ?? o.market.price(o.priceTicks));
  let gross = 0n;
  for (const n of exposure.values()) gross += n;
  const here = exposure.get(m) ?? 0n;
  if (lim.maxNotionalPerMarket > 0n && here > lim.maxNotionalPerMarket)
    throw new Rejection(
      'VAULT_LIMIT',
      `vault ${v.id}: ${m.symbol} notional would be ${fmt(here)} ${v.asset}, limit ${fmt(lim.maxNotionalPerMarket)}`,
    );
  const nav = vaultNav(e, v);
  if (gross * pow10(LEVERAGE_DP) > lim.maxLeverage * nav)
    throw new Rejection(
      'VAULT_LIMIT',
      `vault ${v.id}: gross notional ${fmt(gross)} ${v.asset} over NAV ${fmt(nav)} exceeds ${formatDecimal(lim.maxLeverage, LEVERAGE_DP)}x`,
    );
}
