/**
 * Double-entry ledger. Every balance the engine holds is a LedgerAccount; money only moves by `transfer`, which
 * debits one and credits another by the same amount, so no command can create or destroy money. Deposits and
 * withdrawals move money across the boundary through the per-asset `external` account, whose balance is
 * −(deposits − withdrawals); `verify()` proves the sum of every other balance equals deposits − withdrawals.
 *
 * Which balances may go negative is part of the ledger, not left to callers: only `external`, a market's
 * `clearing` account (the counterparty of realized PnL: its balance is the market's open entry value, which the
 * open positions' unrealized PnL offsets), a market's `funding` pool (payers settle into it and receivers out of it
 * lazily, in any order), the insurance fund (whose draws are recorded as events) and `shardLink` (a shard that
 * received more from other shards than it sent: the other side of `external` for money moved between shards).
 */
import type { EngineEvent, TransferReason } from './types.ts';

export type LedgerKind =
  | 'external'
  | 'main'
  | 'reserved'
  | 'isolated'
  | 'fees'
  | 'insurance'
  | 'clearing'
  | 'funding'
  /** Cross-shard transfers (shard-transfers.ts): what left an account here and is not yet settled. */
  | 'shardHold'
  /** Net shipped to other shards (positive) or received from them (negative): the counterpart of `external`. */
  | 'shardLink';

const MAY_GO_NEGATIVE: ReadonlySet<LedgerKind> = new Set([
  'external',
  'clearing',
  'insurance',
  'funding',
  'shardLink',
]);

type SystemKind = 'external' | 'fees' | 'insurance' | 'clearing' | 'funding' | 'shardHold' | 'shardLink';

export class LedgerAccount {
  balance = 0n;
  /** The position (isolated bucket) or account (main balance) this belongs to; the engine re-files it on change. */
  owner: object | null = null;
  /** The generation of its ledger's `touched` list it is in (0: none); see TouchedAccounts. */
  touchedIn = 0;
  constructor(
    readonly kind: LedgerKind,
    readonly asset: string,
    /** Stable label used in events and the state hash: "alice:main", "alice:isolated:BTCUSDT", "fees". */
    readonly label: string,
  ) {}
}

export class LedgerError extends Error {}

/**
 * The owned accounts moved since the engine last looked, each once, in the order first moved (what a Set of them
 * held). A list, with membership marked on the account by generation, because it is emptied after almost every
 * command and Set#clear allocates a fresh table each time. Read by index: `at(i)` for i below `size`.
 */
export class TouchedAccounts {
  private readonly items: (LedgerAccount | null)[] = [];
  size = 0;
  /** An account whose `touchedIn` is this is in the list; clearing moves to the next generation. */
  private generation = 1;

  add(a: LedgerAccount): void {
    if (a.touchedIn === this.generation) return;
    a.touchedIn = this.generation;
    this.items[this.size++] = a;
  }

  at(i: number): LedgerAccount {
    return this.items[i]!;
  }

  delete(a: LedgerAccount): void {
    if (a.touchedIn !== this.generation) return;
    a.touchedIn = 0;
    const i = this.items.indexOf(a);
    for (let j = i + 1; j < this.size; j++) this.items[j - 1] = this.items[j]!;
    this.items[--this.size] = null;
  }

  clear(): void {
    for (let i = 0; i < this.size; i++) this.items[i] = null;
    this.size = 0;
    this.generation++;
  }
}

export class Ledger {
  private readonly all: LedgerAccount[] = [];
  private readonly system = new Map<string, LedgerAccount>();
  /** Transfer events are collected only when a sink is set (the engine sets one per command). */
  sink: EngineEvent[] | null = null;
  /** Owned accounts moved by transfers since the engine last looked (liquidation triggers depend on them). */
  readonly touched = new TouchedAccounts();

  open(kind: LedgerKind, asset: string, label: string): LedgerAccount {
    const adopted = this.adopting;
    if (adopted !== null) {
      // Restoring a snapshot: the constructor asking for an account gets the restored one (with its balance).
      this.adopting = null;
      if (adopted.kind !== kind || adopted.asset !== asset || adopted.label !== label)
        throw new LedgerError(`snapshot: expected to open ${adopted.label}, asked for ${label}`);
      return adopted;
    }
    const a = new LedgerAccount(kind, asset, label);
    this.all.push(a);
    return a;
  }

  /** Singleton system accounts per asset (external, fees, insurance) or per market (clearing). */
  systemAccount(kind: SystemKind, asset: string, scope = ''): LedgerAccount {
    const key = `${kind}:${asset}:${scope}`;
    let a = this.system.get(key);
    if (!a) {
      a = this.open(kind, asset, scope ? `${kind}:${scope}` : `${kind}:${asset}`);
      this.system.set(key, a);
    }
    return a;
  }

  /** A system account's balance, 0 if it was never opened (a read that opens nothing: state stays as it was). */
  systemBalance(kind: SystemKind, asset: string, scope = ''): bigint {
    return this.system.get(`${kind}:${asset}:${scope}`)?.balance ?? 0n;
  }

  /**
   * Moves `amount` (> 0) from one account to another of the same asset. Throws (a bug, never a user error:
   * callers validate first) if that would leave a balance that may not go negative below zero.
   */
  transfer(from: LedgerAccount, to: LedgerAccount, amount: bigint, reason: TransferReason): void {
    if (amount === 0n) return;
    if (amount < 0n) throw new LedgerError(`negative transfer ${amount} (${reason})`);
    if (from.asset !== to.asset) throw new LedgerError(`cross-asset transfer ${from.label} → ${to.label}`);
    if (from.balance < amount && !MAY_GO_NEGATIVE.has(from.kind)) {
      throw new LedgerError(`${from.label} would go negative: ${from.balance} − ${amount} (${reason})`);
    }
    from.balance -= amount;
    to.balance += amount;
    if (from.owner !== null) this.touched.add(from);
    if (to.owner !== null) this.touched.add(to);
    this.sink?.push({ type: 'transfer', asset: from.asset, from: from.label, to: to.label, amount, reason });
  }

  /** Sum of balances per asset, excluding `external`, must equal deposits − withdrawals (= −external). */
  verify(): { ok: boolean; problems: string[] } {
    const sums = new Map<string, bigint>();
    const problems: string[] = [];
    for (const a of this.all) {
      sums.set(a.asset, (sums.get(a.asset) ?? 0n) + a.balance);
      if (a.balance < 0n && !MAY_GO_NEGATIVE.has(a.kind))
        problems.push(`${a.label} is negative: ${a.balance}`);
    }
    for (const [asset, sum] of sums) {
      if (sum !== 0n) problems.push(`${asset}: balances sum to ${sum}, not zero (money created or lost)`);
    }
    return { ok: problems.length === 0, problems };
  }

  /** Net deposits per asset (deposits − withdrawals). */
  netDeposits(asset: string): bigint {
    return -(this.system.get(`external:${asset}:`)?.balance ?? 0n);
  }

  accounts(): readonly LedgerAccount[] {
    return this.all;
  }

  /**
   * Closes accounts for good (a delisted market's clearing and funding pool, its flat positions' buckets). Only
   * empty ones: removing a balance would break conservation, so a non-zero one is a bug (callers move it first).
   * They leave the registry `verify`, the state hash and snapshots read, and any system key naming them, so the
   * same key opens a fresh account later (the symbol re-created).
   */
  remove(gone: ReadonlySet<LedgerAccount>): void {
    if (gone.size === 0) return;
    for (const a of gone) {
      if (a.balance !== 0n) throw new LedgerError(`cannot remove ${a.label}: balance ${a.balance}`);
      this.touched.delete(a);
    }
    // Filtered in place, keeping the opening order of the rest (snapshots store it).
    let j = 0;
    for (const a of this.all) if (!gone.has(a)) this.all[j++] = a;
    this.all.length = j;
    for (const [key, a] of this.system) if (gone.has(a)) this.system.delete(key);
  }

  // -------------------------------------------------------------------------------------------------------
  // Snapshots (snapshot.ts): the accounts in opening order and the system-account keys are state; a restore puts
  // them back first, then lets the constructors that open accounts (Position) adopt them instead of opening new ones.

  /** @internal the next `open` returns this (restored) account instead of opening one. */
  private adopting: LedgerAccount | null = null;

  /** The system-account keys (`kind:asset:scope`) and their accounts, in creation order. */
  systemEntries(): [string, LedgerAccount][] {
    return [...this.system];
  }

  /** Restores an empty ledger's accounts (in opening order) and system keys (indices into `accounts`). */
  restore(accounts: readonly LedgerAccount[], system: readonly (readonly [string, number])[]): void {
    if (this.all.length > 0 || this.system.size > 0)
      throw new LedgerError('snapshot: restore into a used ledger');
    for (const a of accounts) this.all.push(a);
    for (const [key, i] of system) {
      const a = accounts[i];
      if (!a) throw new LedgerError(`snapshot: system account ${key} has no account ${i}`);
      this.system.set(key, a);
    }
  }

  /** Restoring a snapshot: the next `open` hands out `a` (already restored) instead of opening a new account. */
  adoptNext(a: LedgerAccount | null): void {
    this.adopting = a;
  }
}
