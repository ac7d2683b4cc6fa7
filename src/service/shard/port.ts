/**
 * What the transfer coordinator (coordinator.ts, the lead's) needs of a shard, as the contract of issue 25 states
 * it. Kept apart until the coordinator lands on main; then this file gives way to its definitions.
 */

export type TransferStatus = 'held' | 'credited' | 'aborted' | 'settled' | 'reverted';

/** A transfer as a shard reports it (the shardTransfer event's fields). */
export interface TransferView {
  transferId: string;
  account: string;
  asset: string;
  amount: string;
  fromShard: string;
  toShard: string;
  status: TransferStatus;
  duplicate?: boolean;
}

/** A shard refused the step for good (a 4xx): retrying cannot help; the coordinator aborts or reports. */
export class PermanentRejection extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PermanentRejection';
  }
}

export interface ShardPort {
  readonly name: string;
  /** Credits the account on this (target) shard; throws PermanentRejection for a 4xx, anything else is transient. */
  transferIn(t: {
    transferId: string;
    account: string;
    asset: string;
    amount: string;
    fromShard: string;
  }): Promise<TransferView>;
  /** Records the id as aborted on this (target) shard. */
  abort(t: { transferId: string; fromShard: string }): Promise<TransferView>;
  /** Finishes the hold on this (source) shard: credited → shipped out, aborted → back to the account. */
  settle(t: { transferId: string; outcome: 'credited' | 'aborted' }): Promise<TransferView>;
  /** This shard's outgoing transfers still held, oldest first. */
  heldOut(): Promise<TransferView[]>;
}
