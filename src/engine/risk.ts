/**
 * Margin requirements the engine checks before it lets money or exposure move. Pure functions over state:
 * they compute, the engine decides and mutates.
 *
 * Policy (conservative, documented in docs/calc.md, ringfence's own policy):
 * - initial margin of a position = notional at the reference price (mark, else last, else entry) / leverage;
 * - an order's requirement = initial margin of the lots it would open at its limit price, plus the loss it
 *   would book at once against the mark (a buy above mark, a sell below), plus the worst-case taker fee;
 * - unrealized profit never counts towards what can be withdrawn or committed; unrealized loss always does.
 */
import { ceilDiv, maxBig, minBig } from '../core/fixed.ts';
import { fundingOwed } from '../core/funding.ts';
import {
  initialMarginAtLeverage,
  type MarginConventions,
  notional,
  type PositionInput,
  scales,
  triggerMaintenance,
  unrealizedPnl,
} from '../core/margin.ts';
import { RATE_ONE } from '../core/rates.ts';
import type { Account, Position, PositionView, Silo, Wallet } from './account.ts';
import type { LedgerAccount } from './ledger.ts';
import type { Market } from './market.ts';
import { shortLegMargin } from './option-terms.ts';
import type { OrderSide } from './types.ts';

export function positionInput(p: PositionView): PositionInput {
  return { side: p.sign > 0 ? 'long' : 'short', size: p.size, entryPrice: p.entryPrice };
}

/** The price positions are valued at: mark, else last trade, else the position's own entry. */
export function valuationPrice(p: PositionView): bigint {
  return p.market.mark ?? p.market.last ?? p.entryPrice;
}

export function positionPnl(p: PositionView, price = valuationPrice(p)): bigint {
  return p.sign === 0 ? 0n : unrealizedPnl(p.market.inst, positionInput(p), price);
}

export function positionInitialMargin(p: PositionView, price = valuationPrice(p)): bigint {
  if (p.sign === 0) return 0n;
  if (p.market.option !== null) return optionInitialMargin(p.market, p.sign, p.size, price, p.entryPrice);
  return initialMarginAtLeverage(notional(p.market.inst, p.size, price, 'ceil'), p.leverage);
}

/**
 * The maintenance a leg is liquidated against at `price`: the perpetuals' (`triggerMaintenance`, on the venue's
 * basis) or, for an option, its venue rule's (a short's) or none (a long: paid in full, never liquidated).
 */
export function legMaintenance(
  conv: MarginConventions,
  m: Market,
  pos: PositionInput,
  price: bigint,
): bigint {
  if (m.option === null) return triggerMaintenance(m.inst, conv, pos, price);
  return pos.side === 'long' ? 0n : optionShortMargin(m, pos.size, price).mm;
}

/**
 * An option leg's initial margin. Long: the premium, paid in full — the notional at the lower of the price and the
 * entry, so that with losses counted and profits not (as `available` does) the account is charged exactly what it
 * paid. Short: the venue rule's initial margin at the price (the premium term of the formula).
 */
export function optionInitialMargin(
  m: Market,
  sign: number,
  size: bigint,
  price: bigint,
  entry: bigint,
): bigint {
  if (sign > 0) return notional(m.inst, size, entry > 0n && entry < price ? entry : price, 'ceil');
  return optionShortMargin(m, size, price).im;
}

/** A short option leg of `size` under its market's venue rule, the feed's last forward and spot. */
export function optionShortMargin(m: Market, size: bigint, price: bigint): { im: bigint; mm: bigint } {
  const feed = m.optionFeed;
  return shortLegMargin({
    terms: m.option!,
    size,
    sizeScale: scales(m.inst).sizeScale,
    multiplier: m.inst.multiplier,
    price,
    priceDp: m.inst.priceDp,
    settleDp: m.inst.settleDp,
    forward: feed?.forward ?? null,
    spot: feed?.spot ?? null,
  });
}

/** Initial margin the opening lots of a fill at `price` commit (a perpetual's at the leg's leverage). */
export function openingInitialMargin(
  p: PositionView,
  side: OrderSide,
  openLots: number,
  price: bigint,
): bigint {
  if (openLots === 0) return 0n;
  const m = p.market;
  const size = m.size(openLots);
  if (m.option !== null)
    return side === 'buy'
      ? notional(m.inst, size, price, 'ceil')
      : optionShortMargin(m, size, maxBig(price, m.mark ?? price)).im;
  return initialMarginAtLeverage(notional(m.inst, size, price, 'ceil'), p.leverage);
}

/** Funding a position owes (> 0) or is owed (< 0) since it last settled; 0 without funding. */
export function pendingFunding(p: PositionView): bigint {
  const f = p.market.funding;
  if (!f || p.sign === 0 || p.fundingIndex === f.cumIndex) return 0n;
  return fundingOwed(p.market.inst, p.sign, p.size, p.fundingIndex, f.cumIndex);
}

/** An isolated bucket as it will stand once pending funding settles (never below zero: the rest is insurance's). */
export function bucketAfterFunding(p: PositionView & { bucket: { balance: bigint } }): bigint {
  const owed = pendingFunding(p);
  const b = p.bucket.balance - owed;
  return b < 0n ? 0n : b;
}

/**
 * What the account can commit or withdraw in `asset`: main balance, less unrealized losses of cross positions,
 * less their initial margin, less what open cross orders require. May be negative (nothing available).
 */
export function available(account: Account, wallet: Wallet, asset: string): bigint {
  let pnl = 0n;
  let im = 0n;
  for (const p of account.positions.values()) {
    // A named silo's legs are backed by the silo's bucket, never by the free balance.
    if (p.mode !== 'cross' || p.silo !== null || p.sign === 0 || p.market.asset !== asset) continue;
    pnl += positionPnl(p);
    // Funding owed counts like a loss; funding owed to the account counts only once it has landed.
    const owed = pendingFunding(p);
    if (owed > 0n) pnl -= owed;
    im += positionInitialMargin(p);
  }
  return wallet.main.balance + minBig(pnl, 0n) - im - wallet.crossOrderRequirement;
}

/**
 * What a voluntary fill closing `closeLots` of `p` at `price` leaves between its holder and bankruptcy (negative:
 * the fill would realize a loss the collateral cannot pay, so the insurance fund would). Isolated: the closing
 * lots' pro-rata share of the bucket after funding (rounded down, as the fill splits it) plus their PnL at `price`
 * — non-negative exactly when `price` is no worse than the position's bankruptcy price, so the lots that stay
 * keep their own share. Cross: the smaller of (a) main after this position's funding, plus the profit the other
 * cross positions can realize at their marks (`coverFromProfits` pays a loss beyond the cash from it), plus the
 * PnL, so the loss never exceeds what the pool can pay, and (b) the account's equity at mark (never below zero)
 * less what filling at `price` rather than at the mark costs, so a close never leaves the account's other
 * positions with negative equity for the fund to carry. Funding owed to the account is not counted until it lands.
 * A solvent cross account can therefore always close at the mark, even when its cash alone would not pay the loss.
 */
export function closeRoom(
  account: Account,
  p: Position,
  closeLots: number,
  price: bigint,
  /** A silo's holdings in other assets at their haircut value (collateral.ts): they convert to pay a loss. */
  held = 0n,
): bigint {
  const m = p.market;
  const side = p.sign > 0 ? 'long' : 'short';
  const size = m.size(closeLots);
  const pnl = unrealizedPnl(m.inst, { side, size, entryPrice: p.entryPrice }, price);
  if (p.mode === 'isolated') return (bucketAfterFunding(p) * BigInt(closeLots)) / BigInt(p.lots) + pnl;
  // A named silo's leg: the same rule over the silo's legs and bucket.
  const main =
    p.silo !== null ? p.silo.bucket.balance + held : (account.wallets.get(m.asset)?.main.balance ?? 0n);
  const owed = pendingFunding(p);
  let pool = main - maxBig(owed, 0n) + pnl;
  let equity = main;
  for (const q of account.positions.values()) {
    if (q.mode !== 'cross' || q.silo !== p.silo || q.sign === 0 || q.market.asset !== m.asset) continue;
    const qPnl = positionPnl(q);
    equity += qPnl - pendingFunding(q);
    if (q !== p) pool += maxBig(qPnl, 0n);
  }
  const atMark = unrealizedPnl(m.inst, { side, size, entryPrice: p.entryPrice }, valuationPrice(p));
  return minBig(pool, maxBig(equity, 0n) + pnl - atMark);
}

/**
 * The ledger account that pays and receives a position's PnL, funding and fees: its own bucket when isolated, its
 * silo's bucket when it is a named silo's leg, the owner's main balance when cross.
 */
export function holderOf(p: Position): LedgerAccount {
  if (p.silo !== null) return p.silo.bucket;
  if (p.mode === 'isolated') return p.bucket;
  return p.account.wallets.get(p.market.asset)!.main;
}

/** The open (not settled) legs of a silo, in its opening order. */
export function siloLegs(silo: Silo): Position[] {
  const out: Position[] = [];
  for (const p of silo.positions.values()) if (p.sign !== 0 && !p.market.closed) out.push(p);
  return out;
}

/** Lots of an order of `side` that would close the current position rather than open new exposure. */
export function closableLots(p: PositionView, side: OrderSide): number {
  const closes = (side === 'buy' && p.sign < 0) || (side === 'sell' && p.sign > 0);
  return closes ? p.lots : 0;
}

export interface OrderRequirement {
  openLots: number;
  /** Initial margin + immediate loss against mark + worst-case taker fee on the opening lots. */
  total: bigint;
}

/** Requirement of an order of `lots` at `priceTicks` for position `p` (opening lots only). */
export function orderRequirement(
  p: PositionView,
  side: OrderSide,
  lots: number,
  priceTicks: number,
): OrderRequirement {
  const m = p.market;
  const openLots = Math.max(0, lots - closableLots(p, side));
  if (openLots === 0) return { openLots, total: 0n };
  const size = m.size(openLots);
  const price = m.price(priceTicks);
  const n = notional(m.inst, size, price, 'ceil');
  // A perpetual's opening margin is this same notional at the leg's leverage (openingInitialMargin, not recomputed).
  const im =
    m.option === null
      ? initialMarginAtLeverage(n, p.leverage)
      : openingInitialMargin(p, side, openLots, price);
  let total = im + ceilDiv(n * m.takerFee, RATE_ONE);
  const mark = m.mark;
  if (mark !== null) {
    // Buying above mark (selling below) books that difference as a loss the moment it fills.
    const pnlAtMark = unrealizedPnl(
      m.inst,
      { side: side === 'buy' ? 'long' : 'short', size, entryPrice: price },
      mark,
    );
    if (pnlAtMark < 0n) total += -pnlAtMark;
  }
  return { openLots, total };
}

/** Taker or maker fee on a fill notional: charges round up, rebates round down (both against the trader). */
export function feeFor(n: bigint, rate: bigint): bigint {
  return rate >= 0n ? ceilDiv(n * rate, RATE_ONE) : -((n * -rate) / RATE_ONE);
}
