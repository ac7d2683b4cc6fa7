/**
 * Cross-shard transfers (docs/sharding.md): moving an account's free balance from one shard's engine to another's
 * in two phases, through both journals. Each engine sees only its own half:
 *
 *   source  shardTransferOut     free balance → hold          (status held)
 *   target  shardTransferIn      link → free balance          (credited)   or shardTransferAbort (aborted)
 *   source  shardTransferSettle  hold → link  (settled)       or hold → free balance (reverted)
 *
 * `shardHold:<asset>` carries what left an account here and is not yet settled; `shardLink:<asset>` is the net
 * shipped to other shards (positive) or received from them (negative). Every step is idempotent by transfer id, and
 * the target's record of an id is final: once credited an abort cannot undo it, once aborted a late credit is a
 * no-op. So a coordinator that crashed at any point resumes by asking again, and money in flight is exactly
 * Σ over shards (hold + link): the venue's balances plus that equal its net deposits.
 */
import type { LedgerAccount } from './ledger.ts';
import type { EngineState } from './state.ts';

export const TRANSFER_ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
/** A shard's name as transfers carry it (the service's `shard.name`). */
export const SHARD_NAME_RE = /^[a-z0-9_-]{1,32}$/;

/** An outgoing transfer's life on its source: held until the target's answer settles or reverts it. */
export type OutStatus = 'held' | 'settled' | 'reverted';
/** An incoming transfer's record on its target: final once written. */
export type InStatus = 'credited' | 'aborted';
export type ShardTransferStatus = OutStatus | InStatus;

export interface ShardTransfer {
  readonly id: string;
  /** 'out' on the source shard, 'in' on the target. */
  readonly direction: 'out' | 'in';
  /** The owner ('' for an abort recorded before any credit: the target never learned it). */
  readonly account: string;
  readonly asset: string;
  /** In the asset's decimals; 0 for an abort recorded without terms. */
  readonly amount: bigint;
  /** The other shard: the target of an 'out', the source of an 'in'. */
  readonly peer: string;
  status: ShardTransferStatus;
  /** The command time it was first recorded, and the last time its status changed. */
  readonly createdAt: number;
  updatedAt: number;
}

/** The engine's record of every transfer it took part in, by direction and id (both kept: idempotency is forever). */
export class ShardTransfers {
  /** Every record, both directions, in the order recorded: the state (snapshots write it; the maps index it). */
  readonly all: ShardTransfer[] = [];
  readonly out = new Map<string, ShardTransfer>();
  readonly in = new Map<string, ShardTransfer>();
  /** Outgoing transfers still held, in the order held: what a coordinator resumes. */
  readonly held = new Map<string, ShardTransfer>();
  /** Each account's transfers, both directions, in the order recorded (an account's list without a scan of all). */
  readonly byAccount = new Map<string, ShardTransfer[]>();

  get size(): number {
    return this.all.length;
  }

  record(t: ShardTransfer): void {
    this.all.push(t);
    (t.direction === 'out' ? this.out : this.in).set(t.id, t);
    if (t.direction === 'out' && t.status === 'held') this.held.set(t.id, t);
    if (t.account === '') return;
    const mine = this.byAccount.get(t.account);
    if (mine === undefined) this.byAccount.set(t.account, [t]);
    else mine.push(t);
  }
}

export function holdAccount(e: EngineState, asset: string): LedgerAccount {
  return e.ledger.systemAccount('shardHold', asset);
}

export function linkAccount(e: EngineState, asset: string): LedgerAccount {
  return e.ledger.systemAccount('shardLink', asset);
}

/**
 * What this shard has in flight in `asset`: held here and not yet settled, plus what it settled out less what it
 * was credited (the link). Summed over every shard, it is what left one shard and reached no other yet.
 */
export function inFlight(e: EngineState, asset: string): bigint {
  return e.ledger.systemBalance('shardHold', asset) + e.ledger.systemBalance('shardLink', asset);
}
