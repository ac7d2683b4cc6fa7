/**
 * Realizing a cross account's profit to pay its losses. In cross margin the account's unrealized profit backs its
 * losses (its bankruptcy price and the check on a voluntary close count it), but a loss is paid from the wallet's
 * cash: where the cash falls short, the account's profitable cross positions realize what is missing at their marks
 * first, so the shortfall is never the insurance fund's while the account still holds the money. Used by the
 * liquidation engine and by a trader's own closes alike (settle.ts).
 */
import { unrealizedPnl } from '../core/margin.ts';
import { type Account, BACKSTOP_ACCOUNT, type Position, type Silo } from './account.ts';
import { emitPosition } from './events.ts';
import type { LedgerAccount } from './ledger.ts';
import { positionInput, siloLegs, valuationPrice } from './risk.ts';
import type { EngineState } from './state.ts';

/**
 * An account's open cross positions settled in `asset` (in its positions' insertion order); with `silo`, that named
 * silo's open legs instead (a pooled bucket of its own).
 */
export function crossPositions(a: Account, asset: string, silo: Silo | null = null): Position[] {
  if (silo !== null) return siloLegs(silo);
  const out: Position[] = [];
  for (const p of a.positions.values())
    if (p.mode === 'cross' && p.silo === null && p.sign !== 0 && p.market.asset === asset && !p.market.closed)
      out.push(p);
  return out;
}

/**
 * A cross account pays a loss with its own profits before anyone else does (D5). The cross bankruptcy price counts
 * the other cross positions' unrealized profit as the account's money, but a close realizes its loss against the
 * wallet's cash alone, so a loss beyond the cash was drawn from the insurance fund — or, with the fund empty and ADL
 * running, drove it below zero — while the account kept the profit. So before `loss` is realized, the account's
 * profitable cross positions in `asset` (other than `except`) realize their profit at their mark, as far as the
 * cash falls short: each one's entry moves toward its mark (size unchanged) and the market's clearing account pays
 * the difference into the wallet. Equity does not change, only its form; by symbol, so replays agree.
 */
export function coverFromProfits(
  e: EngineState,
  a: Account,
  asset: string,
  loss: bigint,
  except: Position,
): void {
  // The backstop's wallet is the fund itself; an isolated position's loss is its bucket's alone.
  if (a.id === BACKSTOP_ACCOUNT || except.mode !== 'cross') return;
  // A named silo's leg: its silo's other legs pay into the silo's bucket (never the owner's main).
  const cash = except.silo !== null ? except.silo.bucket : a.wallets.get(asset)?.main;
  if (!cash) return;
  let need = loss - cash.balance;
  if (need <= 0n) return;
  const others = crossPositions(a, asset, except.silo)
    .filter((q) => q !== except)
    .sort((x, y) => (x.market.symbol < y.market.symbol ? -1 : x.market.symbol > y.market.symbol ? 1 : 0));
  for (const q of others) {
    if (need <= 0n) break;
    need -= realizeProfit(e, q, cash, need);
  }
}

/**
 * Realizes at least `need` (or all, if less) of `q`'s unrealized profit at its valuation price by moving its entry
 * toward that price; returns the amount paid into `to`. As if `q` closed at the new entry and reopened there: the
 * amount is the PnL of closing at the new entry (rounded down, as every payout), so splitting the profit in two
 * never pays more than closing once would. The new entry is the one closest to the old that realizes enough (PnL is
 * monotone in the entry, linear and inverse alike), so no more is realized than needed.
 */
function realizeProfit(e: EngineState, q: Position, to: LedgerAccount, need: bigint): bigint {
  const m = q.market;
  const price = valuationPrice(q);
  const closingAt = (entry: bigint) => unrealizedPnl(m.inst, positionInput(q), entry);
  if (closingAt(price) <= 0n) return 0n;
  let entry = price;
  if (closingAt(price) > need) {
    let lo = q.entryPrice; // realizes nothing (< need)
    let hi = price; // realizes everything (≥ need)
    while (lo - hi > 1n || hi - lo > 1n) {
      const mid = (lo + hi) / 2n;
      if (closingAt(mid) >= need) hi = mid;
      else lo = mid;
    }
    entry = hi;
  }
  const amount = closingAt(entry);
  if (amount <= 0n) return 0n;
  e.ledger.transfer(m.clearing, to, amount, 'profitRealized');
  q.entryPrice = entry;
  q.realizedPnl += amount;
  emitPosition(e, q);
  return amount;
}
