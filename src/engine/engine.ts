/**
 * The engine: a deterministic state machine, read top to bottom. `apply(command)` takes one command through
 *
 *   1. validate            validate.ts          lookups and parsing; a failure throws Rejection and changes nothing
 *   2. pre-trade risk      pretrade.ts          what the command needs, per silo (risk.ts, silos.ts: the math)
 *   3. match               match.ts             a taker against the book; each fill planned for both sides first
 *   4. settle              settle.ts            every fill's money through the ledger (ledger.ts), funding first
 *   5. sweep liquidations  liquidation.ts       re-file what changed, liquidate what the command made due;
 *                          triggers.ts          then fire the stop-loss / take-profit orders the new marks reached
 *   6. events out          events.ts            the command's events, or its rejection
 *
 * Stages 1–4 run inside the command's handler (commands/account.ts, commands/orders.ts, commands/markets.ts),
 * which validates in full before its first write; 5 and 6 run here for every command. Every stage receives the
 * state (state.ts) as its first parameter; none imports this class (snapshot.ts only re-exports `restoreEngine`).
 *
 * No clock, randomness or I/O: time arrives in commands, order ids and account numbers are assigned in command
 * order. Bounds (every command's work is bounded): MAX_FILLS_PER_COMMAND makers per taker,
 * MAX_OPEN_ORDERS_PER_ACCOUNT open orders per account (so cancel-all is bounded), MAX_LEVELS_PER_SIDE price levels
 * per book side, MAX_MARKETS markets; a cross-margin check visits the account's own positions only (≤ MAX_MARKETS).
 */
import type { MarginConventions } from '../core/margin.ts';
import { buildConventions, PRESETS } from '../core/presets.ts';
import type { Account, Position } from './account.ts';
import * as account from './commands/account.ts';
import { setCollateralAsset } from './commands/collateral.ts';
import * as combo from './commands/combo.ts';
import * as markets from './commands/markets.ts';
import * as options from './commands/options.ts';
import * as orders from './commands/orders.ts';
import { setRebalancing } from './commands/rebalancing.ts';
import * as shards from './commands/shard-transfers.ts';
import * as vaults from './commands/vaults.ts';
import { rebuildIndex, refileDirty, sweep } from './liquidation.ts';
import type { Market } from './market.ts';
import { remarkOptions } from './options.ts';
import { maxRemovable } from './pretrade.ts';
import { type RestoreOptions, restoreState } from './snapshot.ts';
import { EngineState, fmtMoney, insuranceFund } from './state.ts';
import { fireTriggers } from './triggers.ts';
import { type ApplyResult, type Command, type EngineEvent, Rejection } from './types.ts';
import { accountOf, marketOf } from './validate.ts';
import { settleVaults } from './vaults.ts';

export { MAX_MARKETS } from './commands/markets.ts';
export { MAX_FILLS_PER_COMMAND } from './match.ts';

export interface EngineOptions {
  /** Margin conventions for liquidation prices and removable margin (default: ringfence's own). */
  conventions?: MarginConventions;
}

export class Engine extends EngineState {
  constructor(opts: EngineOptions = {}) {
    super(opts.conventions ?? buildConventions(PRESETS.ringfence!.conventions));
  }

  /** Applies one command: its events, or a rejection that changed nothing. */
  apply(cmd: Command): ApplyResult {
    const events: EngineEvent[] = [];
    this.events = events;
    this.ledger.sink = this.quiet ? null : events;
    let orderId: number | undefined;
    try {
      if (typeof cmd !== 'object' || cmd === null)
        throw new Rejection('INVALID_COMMAND', 'command must be an object');
      if (!Number.isSafeInteger(cmd.time) || cmd.time < 0)
        throw new Rejection('INVALID_COMMAND', 'time must be a non-negative integer (ms)');
      if (cmd.time < this.lastTime)
        throw new Rejection(
          'TIME_WENT_BACKWARDS',
          `time ${cmd.time} is before the last command's ${this.lastTime}`,
        );
      this.now = cmd.time;
      // Guarded: V8's Set#clear allocates a fresh table even for an empty set (~30 ns and garbage, every command).
      if (this.sweepMarkets.size > 0) this.sweepMarkets.clear();
      if (this.liqDirty.size > 0) this.liqDirty.clear();
      if (this.markMoved.size > 0) this.markMoved.clear();
      if (this.ledger.touched.size > 0) this.ledger.touched.clear();
      // Stages 1–4: the command's own handler.
      orderId = handle(this, cmd);
      // Options whose underlying, forward or vol moved (or, on a tick, time) are re-marked; their holders re-checked.
      remarkOptions(this, cmd.type === 'tick');
      // Vaults: a tick accrues management fees; withdrawals waiting for cash are paid once the vault's money moved
      // (the ledger's touched accounts, before the re-filing below reads and clears them: a payout is re-filed too).
      if (this.vaults.size > 0) settleVaults(this, cmd.type === 'tick');
      // Stage 5: validated and applied — re-file what changed, then liquidate what the command made liquidatable.
      refileDirty(this);
      if (this.sweepMarkets.size > 0) sweep(this, this.sweepMarkets);
      // Stop-loss / take-profit orders the new marks reached fire after the liquidation sweep (liquidation keeps
      // priority); what their fills change is re-filed and swept like any command's.
      if (this.markMoved.size > 0 && fireTriggers(this, this.markMoved)) {
        refileDirty(this);
        if (this.sweepMarkets.size > 0) sweep(this, this.sweepMarkets);
      }
    } catch (err) {
      if (err instanceof Rejection) {
        // Validation throws before any mutation, so nothing was written: events must be empty.
        if (events.length > 0) throw new Error(`bug: ${cmd.type} rejected after emitting events`);
        return { ok: false, code: err.code, message: err.message };
      }
      throw err;
    } finally {
      this.ledger.sink = null;
    }
    // Stage 6: events out.
    this.seq += 1;
    this.lastTime = cmd.time;
    return orderId === undefined
      ? { ok: true, seq: this.seq, events }
      : { ok: true, seq: this.seq, events, orderId };
  }

  // Reads and upkeep for the service, the simulation, the journal and tests (the stages' own functions).

  market(symbol: unknown): Market {
    return marketOf(this, symbol);
  }

  account(id: unknown): Account {
    return accountOf(this, id);
  }

  /** What may leave an isolated position's bucket (removeMargin); 0 for anything else. */
  maxRemovable(p: Position): bigint {
    return maxRemovable(this, p);
  }

  /** The insurance fund's balance in `asset` (negative only after a recorded draw it could not cover). */
  insuranceFund(asset: string): bigint {
    return insuranceFund(this, asset);
  }

  fmtMoney(asset: string, v: bigint): string {
    return fmtMoney(this, asset, v);
  }

  /** Rebuilds the liquidation index from positions (after restoring a snapshot): a cache of state, not state. */
  rebuildLiquidationIndex(): void {
    rebuildIndex(this);
  }
}

/** An Engine in exactly the state `bytes` (from `snapshotEngine`) describe; throws a SnapshotError otherwise. */
export function restoreEngine(bytes: Uint8Array, opts: RestoreOptions = {}): Engine {
  return restoreState(bytes, opts, (conventions) => new Engine({ conventions }));
}

/** Stages 1–4: the command's handler. Returns the new order's id for placeOrder (the combo's for placeCombo). */
function handle(e: EngineState, cmd: Command): number | undefined {
  // Cases are compared in order: the commands a venue sees most come first.
  switch (cmd.type) {
    // Orders (commands/orders.ts, commands/combo.ts)
    case 'placeOrder':
      return orders.placeOrder(e, cmd);
    case 'cancelOrder':
      return orders.cancelOrder(e, cmd);
    case 'amendOrder':
      return orders.amendOrder(e, cmd);
    // Markets and the venue (commands/markets.ts)
    case 'createMarket':
      return markets.createMarket(e, cmd);
    case 'closeMarket':
      return markets.closeMarket(e, cmd);
    case 'delistMarket':
      return markets.delistMarket(e, cmd);
    case 'setMarkPrice':
      return markets.setMarkPrice(e, cmd);
    case 'oracleQuote':
      return markets.oracleQuote(e, cmd);
    case 'tick':
      return markets.tick(e, cmd);
    case 'settleFunding':
      return markets.settleFunding(e, cmd);
    case 'fundInsurance':
      return markets.fundInsurance(e, cmd);
    case 'setNetting':
      return markets.setNetting(e, cmd);
    case 'setStrategyMargin':
      return markets.setStrategyMargin(e, cmd);
    case 'setCollateralAsset':
      return setCollateralAsset(e, cmd);
    // Options (commands/options.ts)
    case 'createOptionChain':
      return options.createOptionChain(e, cmd);
    case 'volQuote':
      return options.volQuote(e, cmd);
    // Accounts: funds, margin settings, silos (commands/account.ts)
    case 'deposit':
      return account.deposit(e, cmd);
    case 'withdraw':
      return account.withdraw(e, cmd);
    case 'setMarginMode':
      return account.setMarginMode(e, cmd);
    case 'setLeverage':
      return account.setLeverage(e, cmd);
    case 'setAutoAddMargin':
      return account.setAutoAddMargin(e, cmd);
    case 'addMargin':
      return account.addMargin(e, cmd);
    case 'removeMargin':
      return account.removeMargin(e, cmd);
    case 'createSilo':
      return account.createSilo(e, cmd);
    case 'closeSilo':
      return account.closeSilo(e, cmd);
    case 'transferCollateral':
      return account.transferCollateral(e, cmd);
    case 'setRebalancing':
      return setRebalancing(e, cmd);
    case 'placeCombo':
      return combo.placeCombo(e, cmd);
    case 'cancelAll':
      return orders.cancelAll(e, cmd);
    // Vaults (commands/vaults.ts)
    case 'createVault':
      return vaults.createVault(e, cmd);
    case 'vaultDeposit':
      return vaults.vaultDeposit(e, cmd);
    case 'vaultWithdraw':
      return vaults.vaultWithdraw(e, cmd);
    // Cross-shard transfers (commands/shard-transfers.ts)
    case 'shardTransferOut':
      return shards.shardTransferOut(e, cmd);
    case 'shardTransferIn':
      return shards.shardTransferIn(e, cmd);
    case 'shardTransferAbort':
      return shards.shardTransferAbort(e, cmd);
    case 'shardTransferSettle':
      return shards.shardTransferSettle(e, cmd);
    default:
      throw new Rejection(
        'INVALID_COMMAND',
        `unknown command type ${JSON.stringify((cmd as { type?: unknown }).type)}`,
      );
  }
}
