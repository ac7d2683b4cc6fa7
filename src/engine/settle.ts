/**
 * Stage 4 of a command — settle through the ledger. Every movement of money a trade causes: an order's reserve
 * (set aside when it is placed, drawn by its fills, released when it ends), a position's pending funding (settled
 * before anything about the position changes), one side of a fill (funding first, then
 * the closing lots' PnL against the market's clearing account, the fee, the opening lots' initial margin), the
 * insurance fund's cover of a loss a holder cannot pay, and the transfer of a position to the backstop or ADL
 * counterparties. Nothing here checks margin: the plan (match.ts) was checked before; this only executes it.
 */
import { maxBig, minBig } from '../core/fixed.ts';
import { unrealizedPnl } from '../core/margin.ts';
import type { Order, Position, Wallet } from './account.ts';
import { coverSettle } from './collateral.ts';
import type { LedgerAccount } from './ledger.ts';
import type { Market } from './market.ts';
import { coverFromProfits } from './realize.ts';
import { closableLots, holderOf, pendingFunding } from './risk.ts';
import type { EngineState } from './state.ts';

/** One side of a fill, planned (match.ts `planSide`) before anything moves. */
export interface FillPlan {
  closeLots: number;
  openLots: number;
  price: bigint;
  fee: bigint;
  /** The fee actually collected (or rebate paid), set when the fill settles. */
  feePaid: bigint;
  share: bigint;
  im: bigint;
  /** A voluntary close: the most its fee may take (what the closing lots leave above bankruptcy); null: no cap. */
  feeCap: bigint | null;
  /** A trader's own fill (not a liquidation order, ADL or backstop transfer, nor the backstop's own order). */
  voluntary: boolean;
}

export function longLots(p: Position): number {
  return p.sign > 0 ? p.lots : 0;
}

// ---------------------------------------------------------------------------------------------------------
// An order's reserve

/** Sets `amount` aside for an order: a silo's requirement, an isolated reserve (moved), or a cross requirement. */
export function reserve(e: EngineState, o: Order, w: Wallet, amount: bigint): void {
  o.reserved = amount;
  if (amount > 0n) {
    if (o.position.silo !== null) o.position.silo.orderRequirement += amount;
    else if (o.mode === 'isolated') e.ledger.transfer(w.main, w.reserved, amount, 'orderReserve');
    else w.crossOrderRequirement += amount;
  }
}

/** Releases `amount` of an order's reserve back to the account. */
export function release(e: EngineState, o: Order, amount: bigint): void {
  if (amount <= 0n) return;
  const w = o.account.wallets.get(o.market.asset)!;
  o.reserved -= amount;
  if (o.position.silo !== null) o.position.silo.orderRequirement -= amount;
  else if (o.mode === 'isolated') e.ledger.transfer(w.reserved, w.main, amount, 'orderRelease');
  else w.crossOrderRequirement -= amount;
}

/** Pays `amount` to `to` from the order's reserve share first, then from main; returns the share left. */
function payFromReserve(
  e: EngineState,
  o: Order,
  w: Wallet,
  share: bigint,
  amount: bigint,
  to: LedgerAccount,
  reason: 'initialMargin' | 'fee',
): bigint {
  if (amount <= 0n) return share;
  const r = amount < share ? amount : share;
  if (r > 0n) e.ledger.transfer(w.reserved, to, r, reason);
  if (amount > r) e.ledger.transfer(w.main, to, amount - r, reason);
  o.reserved -= r;
  return share - r;
}

// ---------------------------------------------------------------------------------------------------------
// Funding, settled before a position changes

/**
 * Settles a position's pending funding into its bucket (isolated) or main balance (cross). Funding larger than
 * an isolated bucket empties it and the insurance fund pays the rest (recorded); it never reaches the free
 * balance. When every open position has settled, the pool holds only rounding residue, which goes to fees.
 */
export function settleFundingFor(e: EngineState, p: Position): void {
  const m = p.market;
  const f = m.funding;
  if (!f || p.fundingEpoch === f.epoch) return;
  if (p.sign === 0) {
    p.fundingIndex = f.cumIndex;
    p.fundingEpoch = f.epoch;
    return;
  }
  const owed = pendingFunding(p);
  p.fundingIndex = f.cumIndex;
  p.fundingEpoch = f.epoch;
  m.unsettledFunding -= 1;
  const holder = holderOf(p);
  let shortfall = 0n;
  if (owed > 0n) {
    coverSettle(e, holder, owed);
    const paid = owed < holder.balance ? owed : holder.balance > 0n ? holder.balance : 0n;
    e.ledger.transfer(holder, m.fundingPool, paid, 'funding');
    shortfall = owed - paid;
    if (shortfall > 0n) {
      e.ledger.transfer(m.insurance, m.fundingPool, shortfall, 'insuranceCover');
      e.events.push({
        type: 'insuranceDraw',
        asset: m.asset,
        account: p.account.id,
        symbol: m.symbol,
        amount: shortfall,
        ...(p.silo !== null ? { silo: p.silo.id } : {}),
      });
    }
  } else if (owed < 0n) {
    e.ledger.transfer(m.fundingPool, holder, -owed, 'funding');
  }
  e.events.push({
    type: 'fundingPaid',
    account: p.account.id,
    symbol: m.symbol,
    amount: owed,
    shortfall,
    ...(p.silo !== null ? { silo: p.silo.id } : {}),
  });
  if (m.unsettledFunding === 0 && m.fundingPool.balance > 0n) {
    e.ledger.transfer(m.fundingPool, m.fees, m.fundingPool.balance, 'fundingResidue');
  }
}

// ---------------------------------------------------------------------------------------------------------
// One side of a fill

/** Applies one side of a fill: realize PnL on the closing lots, pay the fee, release/commit margin. */
export function settleSide(e: EngineState, o: Order, plan: FillPlan): void {
  const p = o.position;
  const m = o.market;
  const w = o.account.wallets.get(m.asset)!;
  const iso = p.mode === 'isolated';
  // A named silo's leg settles against the silo's bucket: its PnL and fees never touch the owner's main.
  const holder = holderOf(p);
  // Funding accrued at the old size settles before the size changes.
  settleFundingFor(e, p);
  // 1. Closing lots: realized PnL against the market's clearing account; a loss the holder cannot cover is
  //    drawn from the insurance fund, never from another bucket.
  if (plan.closeLots > 0) {
    const lotsBefore = p.lots;
    const bucketBefore = p.bucket.balance;
    const pnl = unrealizedPnl(
      m.inst,
      { side: p.sign > 0 ? 'long' : 'short', size: m.size(plan.closeLots), entryPrice: p.entryPrice },
      plan.price,
    );
    // A voluntary cross close whose loss (and fee) the cash cannot pay realizes the account's other profits first:
    // closeRoom counted them, and the loss must not reach the fund while the account holds the money.
    if (plan.voluntary && !iso && pnl < 0n)
      coverFromProfits(
        e,
        o.account,
        m.asset,
        -pnl + maxBig(0n, minBig(plan.fee, plan.feeCap ?? plan.fee)),
        p,
      );
    settlePnl(e, p, holder, pnl, plan.voluntary);
    p.realizedPnl += pnl;
    p.lots -= plan.closeLots;
    if (p.lots === 0) {
      p.sign = 0;
      p.entryPrice = 0n;
      m.openPositions -= 1;
    }
    // The fee of a pure close comes from the holder, capped (a close needs no free balance for it) — and for a
    // voluntary close capped at what the closing lots leave above bankruptcy, so the fee is never what pushes
    // the rest of the position (or a cross account) past it.
    if (plan.openLots === 0)
      plan.feePaid = payFee(
        e,
        holder,
        m,
        plan.feeCap === null ? plan.fee : minBig(plan.fee, plan.feeCap),
        p.silo === null ? w.main : holder,
      );
    if (iso && !o.liquidation) {
      // Partial close: the closing lots take their pro-rata share of the bucket as it was BEFORE their PnL and
      // fee settled, plus that PnL less the fee (never below zero); the remaining lots keep their own share.
      // (Splitting the bucket after settling, as this once did, made the remaining lots bear part of the closed
      // lots' loss: closing half a solvent losing long at mark left the rest bankrupt and paid its collateral
      // out to main — a way to move an isolated loss onto the insurance fund.)
      const settled = p.bucket.balance - bucketBefore; // PnL (as far as the bucket covered it) less the fee paid
      // Rounded down: the rounding unit stays with the lots that remain open.
      const closedShare = (bucketBefore * BigInt(plan.closeLots)) / BigInt(lotsBefore);
      const freed =
        p.lots === 0 ? p.bucket.balance : minBig(p.bucket.balance, maxBig(0n, closedShare + settled));
      if (freed > 0n) e.ledger.transfer(p.bucket, w.main, freed, 'marginRelease');
    }
  }
  // 2. Opening lots: commit initial margin (isolated) from the order's reserve, topping up from main.
  let share = plan.share;
  if (plan.openLots > 0) {
    const openSign = o.side === 'buy' ? 1 : -1;
    if (iso) {
      // Money set aside for this order pays first; the plan checked main covers any shortfall.
      share = payFromReserve(e, o, w, share, plan.im, p.bucket, 'initialMargin');
      if (plan.fee > 0n) {
        share = payFromReserve(e, o, w, share, plan.fee, m.fees, 'fee');
        plan.feePaid = plan.fee; // the plan checked reserve + available cover it in full
      } else plan.feePaid = payFee(e, w.main, m, plan.fee, w.main);
    } else {
      // Cross (or a silo's leg): the pool itself is the collateral; only the fee moves.
      plan.feePaid = payFee(e, holder, m, plan.fee, holder);
    }
    if (p.sign === 0) {
      p.sign = openSign as 1 | -1;
      p.lots = plan.openLots;
      p.entryPrice = plan.price;
      p.fundingIndex = m.funding?.cumIndex ?? 0n;
      p.fundingEpoch = m.funding?.epoch ?? 0;
      m.openPositions += 1;
      m.positions.add(p);
    } else {
      const total = BigInt(p.lots + plan.openLots);
      const num = p.entryPrice * BigInt(p.lots) + plan.price * BigInt(plan.openLots);
      // Average entry rounds against the holder: a long's up, a short's down.
      p.entryPrice = p.sign > 0 ? (num + total - 1n) / total : num / total;
      p.lots += plan.openLots;
    }
    o.reservedLots = Math.max(0, o.reservedLots - plan.openLots);
    // Whatever of this fill's share was not needed goes back (a better fill price needs less margin).
    if (share > 0n) release(e, o, share);
  }
}

/**
 * Realized PnL between the holder and the market's clearing account; a loss the holder cannot cover is the insurance
 * fund's (recorded). `voluntary`: a trader's own fill, which planSide bounded at the bankruptcy price — reaching the
 * fund from one is a bug, not a draw.
 */
export function settlePnl(
  e: EngineState,
  p: Position,
  holder: LedgerAccount,
  pnl: bigint,
  voluntary = false,
): void {
  const m = p.market;
  if (pnl >= 0n) {
    e.ledger.transfer(m.clearing, holder, pnl, 'realizedPnl');
    return;
  }
  const loss = -pnl;
  coverSettle(e, holder, loss); // a silo's holdings in other assets pay what its bucket cannot (collateral.ts)
  // A holder below zero covers nothing: only the insurance fund may be, after recorded draws (the backstop's
  // wallet is the fund's own account).
  const covered = minBig(loss, maxBig(holder.balance, 0n));
  if (voluntary && loss > covered)
    throw new Error(`bug: a voluntary close of ${p.account.id}:${m.symbol} would draw on the insurance fund`);
  e.ledger.transfer(holder, m.clearing, covered, 'realizedPnl');
  if (loss > covered) {
    // The holder is bankrupt on this close: the insurance fund pays the rest, and the draw is recorded.
    e.ledger.transfer(m.insurance, m.clearing, loss - covered, 'insuranceCover');
    e.events.push({
      type: 'insuranceDraw',
      asset: m.asset,
      account: p.account.id,
      symbol: m.symbol,
      amount: loss - covered,
      ...(p.silo !== null ? { silo: p.silo.id } : {}),
    });
  }
}

/**
 * Fee (> 0) from the holder, capped at what it holds; rebate (< 0) to the account's main balance, capped at what
 * the fee account holds. Returns what actually moved (a rebate negative), which is what the trade event reports.
 */
function payFee(
  e: EngineState,
  holder: LedgerAccount,
  m: Market,
  fee: bigint,
  rebateTo: LedgerAccount,
): bigint {
  if (fee > 0n) {
    coverSettle(e, holder, fee);
    const paid = minBig(fee, maxBig(holder.balance, 0n));
    e.ledger.transfer(holder, m.fees, paid, 'fee');
    return paid;
  }
  if (fee < 0n) {
    const rebate = minBig(-fee, maxBig(m.fees.balance, 0n));
    e.ledger.transfer(m.fees, rebateTo, rebate, 'rebate');
    return -rebate;
  }
  return 0n;
}

// ---------------------------------------------------------------------------------------------------------
// Transfers outside the book (liquidation.ts: backstop takeover, ADL)

/**
 * Moves lots of the liquidated position `from` to each counterparty `to` at `price` (backstop takeover or ADL):
 * `from` closes, each `to` closes its opposite position or opens; no fees, no margin checks (a counterparty only
 * reduces, the backstop is the fund). `from` realizes its whole close in one step: split per counterparty, each
 * part's loss rounded up on its own would cost it up to a unit more per part than its bankruptcy price allows, a
 * unit the fund would pay. Realized losses beyond a holder's balance are the insurance fund's, recorded.
 */
export function transferPosition(
  e: EngineState,
  from: Position,
  legs: readonly { to: Position; lots: number }[],
  price: bigint,
  liquidated: boolean,
): void {
  const m = from.market;
  const longBefore = legs.reduce((n, l) => n + longLots(l.to), longLots(from));
  const side = (p: Position, closing: boolean): 'buy' | 'sell' => (p.sign > 0 === closing ? 'sell' : 'buy');
  const fromSide = side(from, true);
  const toSide = fromSide === 'buy' ? 'sell' : 'buy';
  const pseudo = (p: Position, s: 'buy' | 'sell', lots: number, liq: boolean): Order => ({
    id: 0,
    accountId: p.account.n,
    side: s,
    priceTicks: 0, // unused by settleSide: the plan carries the price
    remainingLots: lots,
    prev: null,
    next: null,
    level: null,
    account: p.account,
    market: m,
    position: p,
    sizeLots: lots,
    tif: 'IOC',
    reduceOnly: false,
    clientOrderId: null,
    stp: 'cancelMaker',
    mode: p.mode,
    reserved: 0n,
    reservedLots: 0,
    liquidation: liq,
  });
  const plan = (p: Position, s: 'buy' | 'sell', lots: number): FillPlan => {
    const closeLots = Math.min(lots, closableLots(p, s));
    return {
      closeLots,
      openLots: lots - closeLots,
      price,
      fee: 0n,
      feePaid: 0n,
      share: 0n,
      im: 0n,
      feeCap: null,
      voluntary: false,
    };
  };
  const total = legs.reduce((n, l) => n + l.lots, 0);
  settleSide(e, pseudo(from, fromSide, total, liquidated), plan(from, fromSide, total));
  for (const { to, lots } of legs) settleSide(e, pseudo(to, toSide, lots, false), plan(to, toSide, lots));
  m.openInterestLots += legs.reduce((n, l) => n + longLots(l.to), longLots(from)) - longBefore;
}
