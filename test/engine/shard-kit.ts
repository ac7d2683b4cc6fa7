/**
 * Shards in one process, for the cross-shard transfer stories and properties: each shard an Engine with its own clock
 * and log (so a "crash" is a replay), reached by the coordinator through an in-process port that can fail — before
 * the command (the shard was down) or after it (the command landed, its answer was lost).
 */
import assert from 'node:assert/strict';
import { formatDecimal } from '../../src/core/fixed.ts';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { inFlight } from '../../src/engine/shard-transfers.ts';
import type { ApplyResult, Command, MarketConfig } from '../../src/engine/types.ts';
import {
  PermanentRejection,
  type ShardPort,
  type TransferView,
} from '../../src/service/shard/coordinator.ts';
import { transferEventOf, transferEventView, transferRecordView } from '../../src/service/shard/views.ts';
import { type Cmd, engineProblems } from './harness.ts';

export class Shard {
  e = new Engine();
  readonly log: Command[] = [];
  now = 1_700_000_000_000;
  /** Liquidation steps seen, so a random stream can show it reached them. */
  liquidations = 0;
  constructor(
    readonly name: string,
    markets: readonly MarketConfig[],
  ) {
    for (const m of markets) this.must({ type: 'createMarket', market: m });
  }

  apply(cmd: Cmd): ApplyResult {
    this.now += 1;
    const c = { ...cmd, time: this.now } as Command;
    this.log.push(c);
    const r = this.e.apply(c);
    if (r.ok) for (const ev of r.events) if (ev.type === 'liquidation') this.liquidations += 1;
    return r;
  }

  must(cmd: Cmd): ApplyResult & { ok: true } {
    const r = this.apply(cmd);
    if (!r.ok) assert.fail(`${this.name}: ${cmd.type} rejected: ${r.code} ${r.message}`);
    return r;
  }

  /** A crash and a restart: the engine rebuilt from its log must be the same state. */
  restart(): void {
    const before = stateHash(this.e);
    const e = new Engine();
    for (const c of this.log) e.apply(c);
    assert.equal(stateHash(e), before, `${this.name}: replay after a crash diverged`);
    this.e = e;
  }

  free(account: string, asset = 'USDT'): bigint {
    return this.e.accounts.get(account)?.wallets.get(asset)?.main.balance ?? 0n;
  }
}

/** Decides, per coordinator call, whether the shard is down (`before`) or the answer is lost (`after`). */
export type Fault = () => 'none' | 'before' | 'after';

export class EnginePort implements ShardPort {
  calls = 0;
  constructor(
    readonly shard: Shard,
    private readonly fault: Fault = () => 'none',
  ) {}

  get name(): string {
    return this.shard.name;
  }

  private async step(cmd: Cmd): Promise<TransferView> {
    this.calls += 1;
    const f = this.fault();
    if (f === 'before') throw new Error(`${this.name} is down`);
    const r = this.shard.apply(cmd);
    if (f === 'after') throw new Error(`${this.name}: answer lost`);
    if (!r.ok) throw new PermanentRejection(r.code, r.message);
    return transferEventView(this.shard.e, this.name, transferEventOf(r.events));
  }

  transferIn(t: Parameters<ShardPort['transferIn']>[0]): Promise<TransferView> {
    return this.step({ type: 'shardTransferIn', transfer: t.transferId, from: t.fromShard, ...pick(t) });
  }
  abort(t: Parameters<ShardPort['abort']>[0]): Promise<TransferView> {
    return this.step({ type: 'shardTransferAbort', transfer: t.transferId, from: t.fromShard });
  }
  settle(t: Parameters<ShardPort['settle']>[0]): Promise<TransferView> {
    return this.step({ type: 'shardTransferSettle', transfer: t.transferId, outcome: t.outcome });
  }
  async heldOut(): Promise<TransferView[]> {
    if (this.fault() === 'before') throw new Error(`${this.name} is down`);
    const e = this.shard.e;
    return [...e.shardTransfers.held.values()].map((t) => transferRecordView(e, this.name, t));
  }
}

const pick = (t: { account: string; asset: string; amount: string }) => ({
  account: t.account,
  asset: t.asset,
  amount: t.amount,
});

/**
 * What must hold across the venue after every step:
 * - each shard's own invariants (its ledger balances, books, positions: engineProblems);
 * - per asset, money in flight (Σ hold + link) is exactly what was held on a source and not credited on its target,
 *   and the venue's balances plus it equal its net deposits;
 * - each transfer: settled on its source only after a credit on its target with the same terms, reverted only after
 *   an abort there; a credit only for a transfer held or settled on its source (never for a reverted one).
 */
export function venueProblems(shards: readonly { name: string; e: Engine }[]): string[] {
  const problems: string[] = [];
  const byName = new Map(shards.map((s) => [s.name, s]));
  for (const s of shards) for (const p of engineProblems(s.e)) problems.push(`${s.name}: ${p}`);
  const assets = new Set(shards.flatMap((s) => [...s.e.assets.keys()]));
  for (const asset of assets) {
    let flight = 0n;
    let net = 0n;
    let held = 0n;
    let balances = 0n;
    for (const s of shards) {
      flight += inFlight(s.e, asset);
      net += s.e.ledger.netDeposits(asset);
      for (const l of s.e.ledger.accounts())
        if (l.asset === asset && l.kind !== 'external' && l.kind !== 'shardHold' && l.kind !== 'shardLink')
          balances += l.balance;
      for (const t of s.e.shardTransfers.held.values()) {
        const credited = byName.get(t.peer)?.e.shardTransfers.in.get(t.id)?.status === 'credited';
        if (t.asset === asset && !credited) held += t.amount;
      }
    }
    if (flight !== held) problems.push(`${asset}: in flight ${flight}, but held and not credited ${held}`);
    if (flight < 0n) problems.push(`${asset}: negative money in flight ${flight}`);
    if (balances + flight !== net)
      problems.push(`${asset}: balances ${balances} + in flight ${flight} != net deposits ${net}`);
  }
  for (const s of shards) {
    for (const t of s.e.shardTransfers.out.values()) {
      const there = byName.get(t.peer)?.e.shardTransfers.in.get(t.id);
      if (t.status === 'settled') {
        if (there?.status !== 'credited')
          problems.push(`${t.id}: settled on ${s.name}, not credited on ${t.peer}`);
        else if (there.account !== t.account || there.asset !== t.asset || there.amount !== t.amount)
          problems.push(`${t.id}: credited on ${t.peer} with other terms`);
      }
      if (t.status === 'reverted' && there?.status !== 'aborted')
        problems.push(`${t.id}: reverted on ${s.name}, but ${there?.status ?? 'unknown'} on ${t.peer}`);
    }
    for (const t of s.e.shardTransfers.in.values()) {
      if (t.status !== 'credited') continue;
      const src = byName.get(t.peer)?.e.shardTransfers.out.get(t.id);
      if (src === undefined || src.status === 'reverted')
        problems.push(`${t.id}: credited on ${s.name}, but ${src?.status ?? 'never held'} on ${t.peer}`);
    }
  }
  return problems;
}

export const usdt = (e: Engine, v: bigint) => formatDecimal(v, e.assets.get('USDT') ?? 8);
