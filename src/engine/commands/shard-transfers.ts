/**
 * Cross-shard transfer commands (shard-transfers.ts has the model): each validates in full, then moves money once.
 * A step repeated with the same terms is accepted and moves nothing (its event says `duplicate`), so a coordinator
 * that lost track — crashed, timed out, talked to a new leader — simply asks again.
 */
import { maxBig } from '../../core/fixed.ts';
import { ACCOUNT_ID_RE, Account } from '../account.ts';
import { requireOracle } from '../oracle.ts';
import { available } from '../risk.ts';
import {
  holdAccount,
  linkAccount,
  SHARD_NAME_RE,
  type ShardTransfer,
  TRANSFER_ID_RE,
} from '../shard-transfers.ts';
import { type EngineState, fmtMoney, walletOf } from '../state.ts';
import { type Cmd, Rejection } from '../types.ts';
import { accountOf, amountOf } from '../validate.ts';
import { VAULT_PREFIX } from '../vaults.ts';

function transferId(v: unknown): string {
  if (typeof v !== 'string' || !TRANSFER_ID_RE.test(v))
    throw new Rejection('INVALID_COMMAND', 'transfer id must be 1-64 characters of A-Z a-z 0-9 _ . : -');
  return v;
}

function shardName(v: unknown, field: 'to' | 'from'): string {
  if (typeof v !== 'string' || !SHARD_NAME_RE.test(v))
    throw new Rejection('INVALID_COMMAND', `${field} must be a shard name: 1-32 characters of a-z 0-9 _ -`);
  return v;
}

/** The same id again must carry the same terms: otherwise two different transfers would share one record. */
function sameTerms(t: ShardTransfer, account: string, asset: string, amount: bigint, peer: string): void {
  if (t.account !== account || t.asset !== asset || t.amount !== amount || t.peer !== peer)
    throw new Rejection(
      'TRANSFER_MISMATCH',
      `transfer ${t.id} was recorded as ${t.account} ${t.asset} ${t.amount} with ${t.peer}; this names other terms`,
    );
}

function emit(e: EngineState, t: ShardTransfer, duplicate: boolean): void {
  e.events.push({
    type: 'shardTransfer',
    transfer: t.id,
    account: t.account,
    asset: t.asset,
    amount: t.amount,
    from: t.direction === 'in' ? t.peer : '',
    to: t.direction === 'out' ? t.peer : '',
    status: t.status,
    ...(duplicate ? { duplicate: true as const } : {}),
  });
}

/** A transfer's first record on this shard, made now, and its event. */
function recordNew(e: EngineState, t: Omit<ShardTransfer, 'createdAt' | 'updatedAt'>): void {
  const r: ShardTransfer = { ...t, createdAt: e.now, updatedAt: e.now };
  e.shardTransfers.record(r);
  emit(e, r, false);
}

/** Source, phase 1: the account's free balance into the hold, as a withdrawal would leave it. */
export function shardTransferOut(e: EngineState, cmd: Cmd<'shardTransferOut'>): undefined {
  const id = transferId(cmd.transfer);
  const to = shardName(cmd.to, 'to');
  const a = accountOf(e, cmd.account);
  const amount = amountOf(e, cmd.amount, cmd.asset, 'amount');
  const seen = e.shardTransfers.out.get(id);
  if (seen !== undefined) {
    sameTerms(seen, a.id, cmd.asset, amount, to);
    emit(e, seen, true);
    return undefined;
  }
  if (a.id.startsWith(VAULT_PREFIX))
    throw new Rejection('INVALID_COMMAND', `${a.id} is a vault: its money leaves by vaultWithdraw only`);
  // The same gates as a withdrawal: the money leaves this shard's risk as surely as if it left the venue.
  for (const p of a.positions.values())
    if (p.sign !== 0 && p.silo === null && p.market.asset === cmd.asset)
      requireOracle(p.market, 'withdraw', e.now);
  const w = a.wallets.get(cmd.asset);
  const free = w ? available(a, w, cmd.asset) : 0n;
  if (!w || amount > free)
    throw new Rejection(
      'INSUFFICIENT_BALANCE',
      `transferable ${fmtMoney(e, cmd.asset, maxBig(free, 0n))} ${cmd.asset}`,
    );
  // ---- validated ----
  e.ledger.transfer(w.main, holdAccount(e, cmd.asset), amount, 'shardHold');
  recordNew(e, { id, direction: 'out', account: a.id, asset: cmd.asset, amount, peer: to, status: 'held' });
  return undefined;
}

/** Target, phase 2: credit the account from the link — unless this id was credited or aborted here already. */
export function shardTransferIn(e: EngineState, cmd: Cmd<'shardTransferIn'>): undefined {
  const id = transferId(cmd.transfer);
  const from = shardName(cmd.from, 'from');
  const seen = e.shardTransfers.in.get(id);
  if (seen?.status === 'aborted') {
    emit(e, seen, true);
    return undefined;
  }
  if (typeof cmd.account !== 'string' || !ACCOUNT_ID_RE.test(cmd.account))
    throw new Rejection('INVALID_COMMAND', 'account id must be 1-64 characters of A-Z a-z 0-9 _ . -');
  const amount = amountOf(e, cmd.amount, cmd.asset, 'amount');
  if (seen !== undefined) {
    sameTerms(seen, cmd.account, cmd.asset, amount, from);
    emit(e, seen, true);
    return undefined;
  }
  // ---- validated ----
  let a = e.accounts.get(cmd.account);
  if (!a) {
    a = new Account(cmd.account, e.accounts.size + 1);
    e.accounts.set(a.id, a);
  }
  e.ledger.transfer(linkAccount(e, cmd.asset), walletOf(e, a, cmd.asset).main, amount, 'shardCredit');
  recordNew(e, {
    id,
    direction: 'in',
    account: a.id,
    asset: cmd.asset,
    amount,
    peer: from,
    status: 'credited',
  });
  return undefined;
}

/** Target: the id can never be credited here (the source may then revert); after a credit, the credit stands. */
export function shardTransferAbort(e: EngineState, cmd: Cmd<'shardTransferAbort'>): undefined {
  const id = transferId(cmd.transfer);
  const from = shardName(cmd.from, 'from');
  const seen = e.shardTransfers.in.get(id);
  if (seen !== undefined) {
    if (seen.peer !== from)
      throw new Rejection('TRANSFER_MISMATCH', `transfer ${id} came from ${seen.peer}, not ${from}`);
    emit(e, seen, true);
    return undefined;
  }
  // ---- validated ----
  // The target never learned the terms (no credit came first): the record is the id and where it came from.
  recordNew(e, { id, direction: 'in', account: '', asset: '', amount: 0n, peer: from, status: 'aborted' });
  return undefined;
}

/** Source, phase 3: the target's final answer ships the hold out (credited) or returns it (aborted). */
export function shardTransferSettle(e: EngineState, cmd: Cmd<'shardTransferSettle'>): undefined {
  const id = transferId(cmd.transfer);
  if (cmd.outcome !== 'credited' && cmd.outcome !== 'aborted')
    throw new Rejection('INVALID_COMMAND', 'outcome must be credited or aborted');
  const t = e.shardTransfers.out.get(id);
  if (t === undefined) throw new Rejection('UNKNOWN_TRANSFER', `no transfer ${id} left this shard`);
  const next = cmd.outcome === 'credited' ? 'settled' : 'reverted';
  if (t.status !== 'held') {
    if (t.status !== next)
      throw new Rejection('TRANSFER_MISMATCH', `transfer ${id} is ${t.status} already; it cannot be ${next}`);
    emit(e, t, true);
    return undefined;
  }
  const owner = accountOf(e, t.account);
  // ---- validated ----
  const hold = holdAccount(e, t.asset);
  if (next === 'settled') e.ledger.transfer(hold, linkAccount(e, t.asset), t.amount, 'shardSettle');
  else e.ledger.transfer(hold, walletOf(e, owner, t.asset).main, t.amount, 'shardRevert');
  t.status = next;
  t.updatedAt = e.now;
  e.shardTransfers.held.delete(id);
  emit(e, t, false);
  return undefined;
}
