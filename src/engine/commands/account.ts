/**
 * Account commands: money in and out (deposit, withdraw), margin settings (setMarginMode, setLeverage,
 * setAutoAddMargin), an isolated position's collateral (addMargin, removeMargin) and named silos (createSilo,
 * closeSilo, transferCollateral). Each handler validates in full — lookups (validate.ts), then the risk check for
 * its silo (pretrade.ts) — and only then mutates (`---- validated ----`): a rejected command changed nothing.
 */
import { formatDecimal, maxBig, minBig } from '../../core/fixed.ts';
import { initialMarginAtLeverage, notional, ratesAt } from '../../core/margin.ts';
import { LEVERAGE_DP, parseLeverage, parseRate, RATE_ONE } from '../../core/rates.ts';
import {
  ACCOUNT_ID_RE,
  Account,
  BACKSTOP_ACCOUNT,
  DEFAULT_CLOSE_ORDER,
  MAX_SILOS_PER_ACCOUNT,
  positionKey,
  SILO_CLOSE_ORDERS,
  SILO_ID_RE,
  Silo,
} from '../account.ts';
import { collateralAsset, collateralPrice, holdingOf, holdingsValue, noteHolding } from '../collateral.ts';
import { emitPosition } from '../events.ts';
import { requireOracle } from '../oracle.ts';
import { freeFor, maxRemovable } from '../pretrade.ts';
import {
  available,
  bucketAfterFunding,
  positionInitialMargin,
  positionPnl,
  siloLegs,
  valuationPrice,
} from '../risk.ts';
import { settleFundingFor } from '../settle.ts';
import { siloAvailable, siloMaxRemovable } from '../silos.ts';
import { type EngineState, fmtMoney, positionOf, walletOf } from '../state.ts';
import { SILO_RISK_MODELS } from '../strategy-silos.ts';
import { type Cmd, Rejection } from '../types.ts';
import {
  accountOf,
  amountOf,
  isolatedPosition,
  marketOf,
  optionalSilo,
  parsed,
  siloOf,
} from '../validate.ts';
import { VAULT_PREFIX } from '../vaults.ts';

/** What transferCollateral calls the owner's free balance. */
export const FREE_BALANCE = 'free';

// ---------------------------------------------------------------------------------------------------------
// Funds

export function deposit(e: EngineState, cmd: Cmd<'deposit'>): undefined {
  if (typeof cmd.account !== 'string' || !ACCOUNT_ID_RE.test(cmd.account)) {
    throw new Rejection('INVALID_COMMAND', 'account id must be 1-64 characters of A-Z a-z 0-9 _ . -');
  }
  const amount = amountOf(e, cmd.amount, cmd.asset, 'amount');
  // ---- validated ----
  let a = e.accounts.get(cmd.account);
  if (!a) {
    a = new Account(cmd.account, e.accounts.size + 1);
    e.accounts.set(a.id, a);
  }
  e.ledger.transfer(
    e.ledger.systemAccount('external', cmd.asset),
    walletOf(e, a, cmd.asset).main,
    amount,
    'deposit',
  );
  return undefined;
}

export function withdraw(e: EngineState, cmd: Cmd<'withdraw'>): undefined {
  const a = accountOf(e, cmd.account);
  // A vault's money belongs to its depositors: it leaves only through vaultWithdraw (vaults.ts).
  if (a.id.startsWith(VAULT_PREFIX))
    throw new Rejection('INVALID_COMMAND', `${a.id} is a vault: its money leaves by vaultWithdraw only`);
  const amount = amountOf(e, cmd.amount, cmd.asset, 'amount');
  const w = a.wallets.get(cmd.asset);
  for (const p of a.positions.values())
    if (p.sign !== 0 && p.silo === null && p.market.asset === cmd.asset)
      requireOracle(p.market, 'withdraw', e.now);
  const free = w ? available(a, w, cmd.asset) : 0n;
  if (!w || amount > free) {
    throw new Rejection(
      'INSUFFICIENT_BALANCE',
      `withdrawable ${fmtMoney(e, cmd.asset, maxBig(free, 0n))} ${cmd.asset}`,
    );
  }
  // ---- validated ----
  e.ledger.transfer(w.main, e.ledger.systemAccount('external', cmd.asset), amount, 'withdraw');
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Margin settings

export function setAutoAddMargin(e: EngineState, cmd: Cmd<'setAutoAddMargin'>): undefined {
  const a = accountOf(e, cmd.account);
  // A named silo is opted in as a whole: no market to name.
  const silo = cmd.silo === undefined ? null : siloOf(a, cmd.silo);
  const m = silo === null ? marketOf(e, cmd.symbol) : null;
  if (typeof cmd.enabled !== 'boolean') throw new Rejection('INVALID_COMMAND', 'enabled must be boolean');
  const policy = cmd.policy ?? 'addInitialMargin';
  if (policy !== 'addInitialMargin' && policy !== 'restoreInitialMargin')
    throw new Rejection('INVALID_COMMAND', 'policy must be addInitialMargin or restoreInitialMargin');
  const trigger = parsed(() => parseRate(cmd.trigger ?? '0.8', 'trigger'));
  if (trigger <= 0n || trigger >= RATE_ONE)
    throw new Rejection('INVALID_COMMAND', 'trigger is a margin ratio strictly between 0 and 1');
  if (m !== null && (a.positions.get(m.symbol)?.mode ?? 'isolated') !== 'isolated')
    throw new Rejection('NOT_ISOLATED', 'auto-add margin applies to isolated positions and named silos only');
  // ---- validated ----
  const setting = cmd.enabled ? { policy, trigger } : null;
  e.events.push({
    type: 'autoAddMarginSet',
    account: a.id,
    symbol: m?.symbol ?? '',
    ...(silo !== null ? { silo: silo.id } : {}),
    enabled: cmd.enabled,
    policy: cmd.enabled ? policy : null,
    trigger: cmd.enabled ? trigger : null,
  });
  if (silo !== null) {
    silo.autoAdd = setting;
    silo.marginCalled = false; // a fresh setting may call for margin again
    for (const p of siloLegs(silo)) e.liqDirty.add(p); // re-filed under the auto-add trigger from now on (or not)
    return undefined;
  }
  const p = positionOf(e, a, m!);
  p.autoAdd = setting;
  e.liqDirty.add(p); // filed under its auto-add price from now on (or no longer)
  return undefined;
}

export function setMarginMode(e: EngineState, cmd: Cmd<'setMarginMode'>): undefined {
  const a = accountOf(e, cmd.account);
  const m = marketOf(e, cmd.symbol);
  if (cmd.mode !== 'isolated' && cmd.mode !== 'cross')
    throw new Rejection('INVALID_COMMAND', 'mode must be isolated or cross');
  const existing = a.positions.get(m.symbol);
  if ((existing?.mode ?? 'isolated') === cmd.mode) return undefined; // the current mode: a no-op, not an error
  if (existing && (existing.sign !== 0 || existing.openOrders > 0)) {
    throw new Rejection('POSITION_OPEN', 'margin mode changes only when flat with no open orders');
  }
  // ---- validated ----
  const p = positionOf(e, a, m);
  p.mode = cmd.mode;
  e.events.push({ type: 'marginModeSet', account: a.id, symbol: m.symbol, mode: p.mode });
  return undefined;
}

/**
 * Isolated with a position: the bucket is re-sized to initial margin at entry over the new leverage. Lowering
 * leverage draws the difference from available balance; raising it releases the excess only while the bucket
 * still covers initial margin at mark. Rejected while the market has open orders (their reserves were sized at
 * the old leverage).
 */
export function setLeverage(e: EngineState, cmd: Cmd<'setLeverage'>): undefined {
  const a = accountOf(e, cmd.account);
  const m = marketOf(e, cmd.symbol);
  // An option has no leverage: a long pays its premium in full, a short its venue rule's margin.
  if (m.option !== null)
    throw new Rejection('INVALID_COMMAND', `${m.symbol} is an option: no leverage to set`);
  const lev = parsed(() => parseLeverage(cmd.leverage, 'leverage'));
  const silo = optionalSilo(a, m, cmd.silo);
  const existing = a.positions.get(positionKey(silo, m.symbol));
  if (existing && existing.openOrders > 0)
    throw new Rejection('POSITION_OPEN', 'cancel open orders on this market before changing leverage');
  const flat = !existing || existing.sign === 0;
  const cap = flat
    ? m.inst.maxLeverage
    : minBig(m.inst.maxLeverage, ratesAt(m.inst, existing.size, valuationPrice(existing)).maxLeverage);
  if (lev > cap)
    throw new Rejection('LEVERAGE_TOO_HIGH', `max leverage here is ${formatDecimal(cap, LEVERAGE_DP)}x`);
  let delta = 0n;
  if (!flat && existing.mode === 'isolated') {
    const target = initialMarginAtLeverage(notional(m.inst, existing.size, existing.entryPrice, 'ceil'), lev);
    delta = target - bucketAfterFunding(existing);
    const w = a.wallets.get(m.asset)!;
    if (delta > 0n && delta > available(a, w, m.asset)) {
      throw new Rejection(
        'INSUFFICIENT_BALANCE',
        `lowering leverage needs ${fmtMoney(e, m.asset, delta)} ${m.asset} more collateral`,
      );
    }
    if (delta < 0n) {
      // Releasing bucket collateral to main is removeMargin by another name: the same oracle gate (without it a
      // stale or unsourced index let margin out through setLeverage while removeMargin was ORACLE_PAUSED).
      requireOracle(m, 'withdraw', e.now);
      const imAtMark = initialMarginAtLeverage(
        notional(m.inst, existing.size, valuationPrice(existing), 'ceil'),
        lev,
      );
      if (target + minBig(positionPnl(existing), 0n) < imAtMark) {
        throw new Rejection(
          'INSUFFICIENT_MARGIN',
          'the position would fall below initial margin at this leverage',
        );
      }
    }
  } else if (!flat && existing.mode === 'cross') {
    // A silo's leg: its own change bounds the silo's (the netted figure moves by at most the legs' moves).
    const extra =
      initialMarginAtLeverage(notional(m.inst, existing.size, valuationPrice(existing), 'ceil'), lev) -
      positionInitialMargin(existing);
    if (extra > 0n && extra > freeFor(e, a, existing))
      throw new Rejection('INSUFFICIENT_MARGIN', 'not enough available balance for this leverage');
  }
  // ---- validated ----
  const p = positionOf(e, a, m, silo);
  settleFundingFor(e, p);
  p.leverage = lev;
  if (delta !== 0n) {
    const w = walletOf(e, a, m.asset);
    if (delta > 0n) e.ledger.transfer(w.main, p.bucket, delta, 'leverageChange');
    else e.ledger.transfer(p.bucket, w.main, -delta, 'leverageChange');
  }
  e.events.push({
    type: 'leverageSet',
    account: a.id,
    symbol: m.symbol,
    leverage: lev,
    ...(p.silo !== null ? { silo: p.silo.id } : {}),
  });
  if (delta !== 0n) emitPosition(e, p);
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// An isolated position's collateral

export function addMargin(e: EngineState, cmd: Cmd<'addMargin'>): undefined {
  const a = accountOf(e, cmd.account);
  const m = marketOf(e, cmd.symbol);
  const p = isolatedPosition(a, m);
  const amount = amountOf(e, cmd.amount, m.asset, 'amount');
  const w = a.wallets.get(m.asset)!;
  if (amount > available(a, w, m.asset))
    throw new Rejection('INSUFFICIENT_BALANCE', 'not enough available balance');
  // ---- validated ----
  settleFundingFor(e, p);
  e.ledger.transfer(w.main, p.bucket, amount, 'addMargin');
  emitPosition(e, p);
  return undefined;
}

export function removeMargin(e: EngineState, cmd: Cmd<'removeMargin'>): undefined {
  const a = accountOf(e, cmd.account);
  const m = marketOf(e, cmd.symbol);
  const p = isolatedPosition(a, m);
  const amount = amountOf(e, cmd.amount, m.asset, 'amount');
  requireOracle(m, 'withdraw', e.now);
  const max = maxRemovable(e, p);
  if (amount > max)
    throw new Rejection(
      'INSUFFICIENT_MARGIN',
      `at most ${fmtMoney(e, m.asset, max)} ${m.asset} can be removed`,
    );
  // ---- validated ----
  settleFundingFor(e, p);
  e.ledger.transfer(p.bucket, walletOf(e, a, m.asset).main, amount, 'removeMargin');
  emitPosition(e, p);
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Named silos

export function createSilo(e: EngineState, cmd: Cmd<'createSilo'>): undefined {
  const a = accountOf(e, cmd.account);
  if (a.id === BACKSTOP_ACCOUNT) throw new Rejection('UNKNOWN_ACCOUNT', 'the backstop holds no silos');
  if (typeof cmd.silo !== 'string' || !SILO_ID_RE.test(cmd.silo))
    throw new Rejection('INVALID_COMMAND', 'silo id must be 1-32 characters of A-Z a-z 0-9 _ . -');
  // transferCollateral's `from`/`to` name the free balance "free": a silo of that name could never be funded.
  if (cmd.silo === FREE_BALANCE)
    throw new Rejection('INVALID_COMMAND', `"${FREE_BALANCE}" names the free balance`);
  if (!SILO_RISK_MODELS.includes(cmd.riskModel))
    throw new Rejection('INVALID_COMMAND', `riskModel must be one of ${SILO_RISK_MODELS.join(', ')}`);
  const closeOrder = cmd.closeOrder ?? DEFAULT_CLOSE_ORDER;
  if (!SILO_CLOSE_ORDERS.includes(closeOrder))
    throw new Rejection('INVALID_COMMAND', `closeOrder must be one of ${SILO_CLOSE_ORDERS.join(', ')}`);
  if (typeof cmd.asset !== 'string' || !e.assets.has(cmd.asset))
    throw new Rejection('UNKNOWN_ASSET', `unknown asset ${JSON.stringify(cmd.asset)}`);
  if (a.silos.has(cmd.silo)) throw new Rejection('SILO_EXISTS', `${a.id} already has a silo ${cmd.silo}`);
  if (a.silos.size >= MAX_SILOS_PER_ACCOUNT)
    throw new Rejection('LIMIT_EXCEEDED', `at most ${MAX_SILOS_PER_ACCOUNT} silos per account`);
  // ---- validated ----
  walletOf(e, a, cmd.asset); // closeSilo and transfers return collateral there
  const bucket = e.ledger.open('isolated', cmd.asset, `${a.id}:silo:${cmd.silo}`);
  const silo = new Silo(cmd.silo, a, cmd.asset, cmd.riskModel, bucket, closeOrder);
  bucket.owner = silo;
  a.silos.set(silo.id, silo);
  e.events.push({
    type: 'siloCreated',
    account: a.id,
    silo: silo.id,
    asset: silo.asset,
    riskModel: silo.riskModel,
    ...(silo.closeOrder !== DEFAULT_CLOSE_ORDER ? { closeOrder: silo.closeOrder } : {}),
  });
  return undefined;
}

/**
 * Closes a flat silo with no open order: its collateral returns to the free balance, its (flat) legs and its bucket
 * go, so the id can be created again.
 */
export function closeSilo(e: EngineState, cmd: Cmd<'closeSilo'>): undefined {
  const a = accountOf(e, cmd.account);
  const silo = siloOf(a, cmd.silo);
  for (const p of silo.positions.values()) {
    if (p.sign !== 0) throw new Rejection('POSITION_OPEN', `silo ${silo.id} still holds ${p.market.symbol}`);
    if (p.openOrders > 0)
      throw new Rejection('POSITION_OPEN', `silo ${silo.id} still has orders on ${p.market.symbol}`);
  }
  // ---- validated ----
  const main = walletOf(e, a, silo.asset).main;
  if (silo.bucket.balance > 0n)
    e.ledger.transfer(silo.bucket, main, silo.bucket.balance, 'collateralTransfer');
  // Its holdings in other assets go back to the free balance too, and their accounts close with the bucket.
  for (const [asset, h] of silo.holdings) {
    if (h.balance > 0n) e.ledger.transfer(h, walletOf(e, a, asset).main, h.balance, 'collateralTransfer');
    const c = collateralAsset(e, asset, silo.asset);
    if (c !== null) {
      c.holders.delete(silo);
      c.index.remove(silo, true);
    }
  }
  for (const p of silo.positions.values()) {
    a.positions.delete(p.key);
    p.market.positions.delete(p);
    p.market.liqIndex.stale.delete(p);
    p.market.liqIndex.remove(p);
    e.liqDirty.delete(p);
  }
  silo.positions.clear();
  e.ledger.remove(new Set([silo.bucket, ...silo.holdings.values()]));
  a.silos.delete(silo.id);
  // Out of the rebalancing settings too: a silo created again under this id is not opted in until named again.
  const r = a.rebalancing.get(silo.asset);
  if (r !== undefined) {
    r.givers = r.givers.filter((id) => id !== silo.id);
    r.receivers = r.receivers.filter((id) => id !== silo.id);
  }
  e.events.push({ type: 'siloClosed', account: a.id, silo: silo.id });
  return undefined;
}

/**
 * Moves collateral between the free balance and a named silo, or between two silos of the account in one asset.
 * Out of the free balance at most what is available (as a withdrawal); out of a silo at most its max removable.
 */
export function transferCollateral(e: EngineState, cmd: Cmd<'transferCollateral'>): undefined {
  const a = accountOf(e, cmd.account);
  if (typeof cmd.from !== 'string' || typeof cmd.to !== 'string')
    throw new Rejection('INVALID_COMMAND', `from and to are "${FREE_BALANCE}" or a silo id`);
  if (cmd.from === cmd.to) throw new Rejection('INVALID_COMMAND', 'from and to must differ');
  const src = cmd.from === FREE_BALANCE ? null : siloOf(a, cmd.from);
  const dst = cmd.to === FREE_BALANCE ? null : siloOf(a, cmd.to);
  const asset = (src ?? dst)!.asset;
  if (src !== null && dst !== null && src.asset !== dst.asset)
    throw new Rejection('ASSET_MISMATCH', `silo ${src.id} holds ${src.asset}, silo ${dst.id} ${dst.asset}`);
  if (cmd.asset !== undefined && cmd.asset !== asset) return transferHolding(e, a, src, dst, cmd);
  const amount = amountOf(e, cmd.amount, asset, 'amount');
  if (src === null) {
    requireFree(e, a, asset, amount);
  } else {
    for (const p of siloLegs(src)) requireOracle(p.market, 'withdraw', e.now);
    const max = siloMaxRemovable(e, src);
    if (amount > max)
      throw new Rejection(
        'INSUFFICIENT_MARGIN',
        `at most ${fmtMoney(e, asset, max)} ${asset} can leave silo ${src.id}`,
      );
  }
  // ---- validated ----
  const main = walletOf(e, a, asset).main;
  if (src !== null) for (const p of siloLegs(src)) settleFundingFor(e, p);
  e.ledger.transfer(src?.bucket ?? main, dst?.bucket ?? main, amount, 'collateralTransfer');
  return undefined;
}

/** Rejects unless `amount` of `asset` may leave the free balance (what is available, as a withdrawal). */
export function requireFree(e: EngineState, a: Account, asset: string, amount: bigint): void {
  for (const p of a.positions.values())
    if (p.sign !== 0 && p.silo === null && p.market.asset === asset)
      requireOracle(p.market, 'withdraw', e.now);
  const w = a.wallets.get(asset);
  const free = w ? available(a, w, asset) : 0n;
  if (amount > free)
    throw new Rejection('INSUFFICIENT_BALANCE', `available ${fmtMoney(e, asset, maxBig(free, 0n))} ${asset}`);
}

/**
 * transferCollateral of a holding in an asset other than the silos' settle asset (collateral.ts): into a silo only
 * while the venue takes it as collateral there and it has a price; out of one only what the silo holds, while that
 * price allows withdrawals, and only as far as what the silo has available stays ≥ 0 without it.
 */
function transferHolding(
  e: EngineState,
  a: Account,
  src: Silo | null,
  dst: Silo | null,
  cmd: Cmd<'transferCollateral'>,
): undefined {
  const settle = (src ?? dst)!.asset;
  const asset = cmd.asset!;
  const c = typeof asset === 'string' ? collateralAsset(e, asset, settle) : null;
  if (c === null)
    throw new Rejection(
      'ASSET_MISMATCH',
      `silos in ${settle} hold ${settle} and the assets the venue takes as collateral there; not ${JSON.stringify(asset)}`,
    );
  const amount = amountOf(e, cmd.amount, asset, 'amount');
  const price = collateralPrice(e, c);
  if (dst !== null) {
    if (!c.enabled)
      throw new Rejection(
        'INVALID_COMMAND',
        `${asset} is no longer taken as new collateral in ${settle} silos`,
      );
    if (price === null)
      throw new Rejection('NO_REFERENCE_PRICE', `${c.priceMarket} has no index to value ${asset} at`);
  }
  if (src === null) requireFree(e, a, asset, amount);
  else {
    const held = src.holdings.get(asset)?.balance ?? 0n;
    if (amount > held)
      throw new Rejection(
        'INSUFFICIENT_BALANCE',
        `silo ${src.id} holds ${fmtMoney(e, asset, held)} ${asset}`,
      );
    const legs = siloLegs(src);
    if (legs.length > 0) {
      for (const p of legs) requireOracle(p.market, 'withdraw', e.now);
      requireOracle(marketOf(e, c.priceMarket), 'withdraw', e.now);
    }
    // Available is linear in the holdings' value: what it would be without this amount.
    const lost = holdingsValue(e, src, true) - holdingsValue(e, src, true, { asset, amount: -amount });
    const left = siloAvailable(e, src) - lost;
    if ((legs.length > 0 || src.orderRequirement > 0n) && left < 0n)
      throw new Rejection(
        'INSUFFICIENT_MARGIN',
        `silo ${src.id} needs that ${asset}: without it it would be ${fmtMoney(e, settle, -left)} ${settle} short of its initial margin`,
      );
  }
  // ---- validated ----
  if (src !== null) for (const p of siloLegs(src)) settleFundingFor(e, p);
  const from = src !== null ? holdingOf(e, src, asset) : walletOf(e, a, asset).main;
  const to = dst !== null ? holdingOf(e, dst, asset) : walletOf(e, a, asset).main;
  e.ledger.transfer(from, to, amount, 'collateralTransfer');
  if (src !== null) noteHolding(c, src);
  if (dst !== null) noteHolding(c, dst);
  return undefined;
}
