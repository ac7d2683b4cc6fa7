/**
 * Stage 6 of a command — events out. Every stage appends what happened to `e.events` as it happens (in that order,
 * which is the order clients see); `apply` hands the buffer out with the result, or drops it when the command is
 * rejected (validation throws before the first event, so a rejection has none to drop). The position event is the
 * one every stage sends, and it carries a side effect: the position's liquidation trigger is re-filed before the
 * command ends (liquidation.ts, `refileDirty`).
 */
import type { Position } from './account.ts';
import type { EngineState } from './state.ts';
import type { EngineEvent } from './types.ts';

type PositionEvent = Extract<EngineEvent, { type: 'position' }>;

/** Reports `p` as it now stands and marks its trigger for re-filing. */
export function emitPosition(e: EngineState, p: Position): void {
  e.liqDirty.add(p);
  if (e.quiet) return;
  const ev: PositionEvent = {
    type: 'position',
    account: p.account.id,
    symbol: p.market.symbol,
    side: p.side,
    size: p.size,
    entryPrice: p.entryPrice,
    collateral: p.mode === 'isolated' ? p.bucket.balance : 0n,
    realizedPnl: p.realizedPnl,
  };
  // Set after, not spread in: a spread makes every event a slow copy; this runs twice per fill.
  if (p.silo !== null) ev.silo = p.silo.id;
  e.events.push(ev);
}
