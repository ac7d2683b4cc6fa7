/**
 * The engine's state: everything a command reads and writes, in one object that every stage of the pipeline
 * receives as its first parameter (`e`). No stage imports the `Engine` class: the dispatcher (engine.ts) is an
 * EngineState with `apply`, and hands itself down.
 *
 * Stored state (snapshotted, hashed): the ledger, markets, accounts, assets, margin conventions, netting and strategy
 * margin parameters and the counters. Transient state (reset by `apply` before every command, never snapshotted — see SNAPSHOT_FIELDS):
 * the event buffer, the command's time, and the sets the sweep stage works through at the end of the command.
 */
import { formatDecimal } from '../core/fixed.ts';
import type { MarginConventions } from '../core/margin.ts';
import { DEFAULT_NETTING, type NettingParams } from '../core/silo.ts';
import { DEFAULT_STRATEGY_MARGIN, type StrategyMarginParams } from '../core/strategy/index.ts';
import type { Account, Position, Silo, Wallet } from './account.ts';
import type { CollateralAsset } from './collateral.ts';
import { Ledger } from './ledger.ts';
import type { Market } from './market.ts';
import type { VolFeed } from './option-terms.ts';
import { ShardTransfers } from './shard-transfers.ts';
import type { EngineEvent } from './types.ts';
import type { Vault } from './vaults.ts';

export class EngineState {
  // Field order is the snapshot's structural order (test/journal/snapshot.test.ts compares own fields in order).
  readonly ledger = new Ledger();
  readonly markets = new Map<string, Market>();
  readonly accounts = new Map<string, Account>();
  /** Settle assets and their decimals, fixed by the first market that uses them. */
  readonly assets = new Map<string, number>();
  readonly conventions: MarginConventions;
  /** The netted risk model's parameters (setNetting). */
  netting: NettingParams = DEFAULT_NETTING;
  /** The option strategy models' parameters (setStrategyMargin; strategy-silos.ts). */
  strategyMargin: StrategyMarginParams = DEFAULT_STRATEGY_MARGIN;
  /** Assets that may back named silos in a settle asset (setCollateralAsset; collateral.ts), keyed `asset:settle`. */
  readonly collateralAssets = new Map<string, CollateralAsset>();
  /** Options: the vol feed of each underlying and expiry (options.ts), in creation order. */
  readonly optionFeeds = new Map<string, VolFeed>();
  /** Risk-isolated vaults by id, in creation order (vaults.ts; each trades as the account `vault:<id>`). */
  readonly vaults = new Map<string, Vault>();
  /** Cross-shard transfers this shard took part in, out and in (shard-transfers.ts): kept for idempotency. */
  readonly shardTransfers = new ShardTransfers();
  /** Commands applied; the time of the last one; the next order id (order ids are assigned in command order). */
  seq = 0;
  lastTime = 0;
  nextOrderId = 1;
  /** @internal events of the command being applied. */
  events: EngineEvent[] = [];
  /**
   * Replaying (the journal's recovery sets it for the replay and clears it after): nobody reads a replayed command's
   * events, so the events most commands emit — transfers, trades, positions, orders accepted and ended — are not
   * built, and a result's `events` holds only the rarer ones. Events are output, never read back by the engine:
   * the state, and so the state hash, is the same either way (test/engine/model.test.ts replays every run quiet).
   */
  quiet = false;
  /** @internal the time of the command being applied. */
  now = 0;
  /** @internal markets whose liquidation index must be swept before the command ends (mark moved, funding ran…). */
  readonly sweepMarkets = new Set<Market>();
  /** @internal positions whose trigger must be recomputed before the sweep. */
  readonly liqDirty = new Set<Position>();
  /** @internal markets whose mark changed in this command: their trigger orders are looked at after the sweep. */
  readonly markMoved = new Set<Market>();
  /** @internal what the liquidation order being matched has filled (match.ts adds, liquidation.ts reads). */
  readonly liqFill = { lots: 0, value: 0n, tickLots: 0n };

  constructor(conventions: MarginConventions) {
    this.conventions = conventions;
  }
}

/** Wallet for an existing account, created lazily (creating an empty wallet is not a state change). */
export function walletOf(e: EngineState, a: Account, asset: string): Wallet {
  return a.wallet(asset, e.ledger);
}

/** The account's position on `m` (in `silo`, or its own), created flat on first use. */
export function positionOf(e: EngineState, a: Account, m: Market, silo: Silo | null = null): Position {
  return a.position(m, e.ledger, silo);
}

/** The insurance fund's balance in `asset` (negative only after a recorded draw it could not cover). */
export function insuranceFund(e: EngineState, asset: string): bigint {
  return e.assets.has(asset) ? e.ledger.systemAccount('insurance', asset).balance : 0n;
}

/** An amount of `asset` in its own decimals, for messages. */
export function fmtMoney(e: EngineState, asset: string, v: bigint): string {
  return formatDecimal(v, e.assets.get(asset) ?? 0);
}
