/**
 * Cross-shard transfers as the service shows them: the engine's `shardTransfer` event or record, with this shard's
 * own name filled in (the engine leaves its own side blank) and the amount as a decimal string.
 */
import { formatDecimal } from '../../core/fixed.ts';
import type { Engine } from '../../engine/engine.ts';
import type { ShardTransfer } from '../../engine/shard-transfers.ts';
import type { EngineEvent } from '../../engine/types.ts';
import type { TransferView } from './coordinator.ts';

type TransferEvent = Extract<EngineEvent, { type: 'shardTransfer' }>;

function amountOf(e: Engine, asset: string, amount: bigint): string {
  return asset === '' ? '0' : formatDecimal(amount, e.assets.get(asset) ?? 0);
}

export function transferEventView(e: Engine, self: string, ev: TransferEvent): TransferView {
  return {
    transferId: ev.transfer,
    account: ev.account,
    asset: ev.asset,
    amount: amountOf(e, ev.asset, ev.amount),
    fromShard: ev.from === '' ? self : ev.from,
    toShard: ev.to === '' ? self : ev.to,
    status: ev.status,
    duplicate: ev.duplicate === true,
  };
}

export function transferRecordView(
  e: Engine,
  self: string,
  t: ShardTransfer,
): TransferView & {
  createdAt: number;
  updatedAt: number;
} {
  return {
    transferId: t.id,
    account: t.account,
    asset: t.asset,
    amount: amountOf(e, t.asset, t.amount),
    fromShard: t.direction === 'out' ? self : t.peer,
    toShard: t.direction === 'out' ? t.peer : self,
    status: t.status,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

/** The one `shardTransfer` event of an accepted transfer command. */
export function transferEventOf(events: readonly EngineEvent[]): TransferEvent {
  for (const ev of events) if (ev.type === 'shardTransfer') return ev;
  throw new Error('bug: a shard transfer command accepted without its event');
}
