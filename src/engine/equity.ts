/**
 * An account's equity in one asset: what its boxes are worth at their valuation prices (mark, else last, else
 * entry; options at their mark), the same arithmetic the silo reads (readmodel.ts `silosOf`, silos.ts
 * `siloFiguresOver`) file each box's equity with — collateral plus unrealized PnL less funding owed (funding owed
 * to it counted as well). One function, used by the vaults' NAV (vaults.ts) and their reads.
 *
 * Each box counts at no less than zero: a box's loss beyond its collateral is the insurance fund's, never the
 * owner's (the ring-fence), so a bankrupt box is worth nothing rather than a debt. The boxes:
 * - the cross bucket: main balance + the order reserves (`reserved`: isolated orders' money, still the account's)
 *   + Σ cross positions' (uPnL − funding owed);
 * - each isolated position: its bucket + uPnL − funding owed;
 * - each named silo: its bucket + its holdings in other assets at their haircut value + Σ legs' (uPnL − funding
 *   owed).
 * Exact bigint sums; uPnL is core's `unrealizedPnl` (rounded against the holder), so equity is never overstated.
 */
import type { Account, Position } from './account.ts';
import { holdingsValue } from './collateral.ts';
import { crossPositions } from './realize.ts';
import { pendingFunding, positionPnl, siloLegs } from './risk.ts';
import type { EngineState } from './state.ts';

/** A position's worth beyond its collateral at its valuation price: uPnL less the funding it owes. */
export function legValue(p: Position): bigint {
  return positionPnl(p) - pendingFunding(p);
}

const floor0 = (v: bigint): bigint => (v > 0n ? v : 0n);

/** The account's equity in `asset` (settle units): Σ over its boxes of max(0, box equity), see the module comment. */
export function accountEquity(e: EngineState, a: Account, asset: string): bigint {
  let total = 0n;
  const w = a.wallets.get(asset);
  if (w !== undefined) {
    let cross = w.main.balance + w.reserved.balance;
    for (const p of crossPositions(a, asset)) cross += legValue(p);
    total += floor0(cross);
  }
  for (const p of a.positions.values()) {
    if (p.silo !== null || p.mode !== 'isolated' || p.market.asset !== asset) continue;
    total += floor0(p.bucket.balance + legValue(p));
  }
  for (const silo of a.silos.values()) {
    if (silo.asset !== asset) continue;
    let eq = silo.bucket.balance + (silo.holdings.size > 0 ? holdingsValue(e, silo, false) : 0n);
    for (const p of siloLegs(silo)) eq += legValue(p);
    total += floor0(eq);
  }
  return total;
}
