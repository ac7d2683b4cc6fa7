/**
 * The deterministic state machine. `apply(command)` validates fully, then mutates, and returns the events it
 * produced or a typed rejection that changed nothing. No clock, randomness or I/O: time arrives in commands,
 * order ids and account numbers are assigned in command order.
 *
 * Bounds (every command's work is bounded): MAX_FILLS_PER_COMMAND makers per taker, MAX_OPEN_ORDERS_PER_ACCOUNT
 * open orders per account (so cancel-all is bounded), MAX_LEVELS_PER_SIDE price levels per book side,
 * MAX_MARKETS markets; a cross-margin check visits the account's own positions only (≤ MAX_MARKETS).
 */
import { formatDecimal, InputError, maxBig, minBig, parseDecimal, pow10 } from '../core/fixed.ts';
import {
  initialMarginAtLeverage,
  type MarginConventions,
  maxRemovableMargin,
  notional,
  ratesAt,
  unrealizedPnl,
} from '../core/margin.ts';
import { buildConventions, PRESETS } from '../core/presets.ts';
import { LEVERAGE_DP, parseLeverage, parseRate, RATE_ONE } from '../core/rates.ts';
import { DEFAULT_NETTING, type NettingParams, parseNetting } from '../core/silo.ts';
import {
  ACCOUNT_ID_RE,
  Account,
  indexClientOrder,
  MAX_OPEN_ORDERS_PER_ACCOUNT,
  MAX_SILOS_PER_ACCOUNT,
  type Order,
  Position,
  type PositionView,
  positionKey,
  SILO_ID_RE,
  Silo,
  unindexClientOrder,
  Wallet,
} from './account.ts';
import type { BookSide } from './book.ts';
import { Ledger, type LedgerAccount } from './ledger.ts';
import {
  BACKSTOP_ACCOUNT,
  fileCross,
  fileIsolated,
  sweep,
  touchCross,
  touchIsolated,
} from './liquidation.ts';
import { MAX_PRICE_TICKS, Market } from './market.ts';
import { allows } from './oracle.ts';
import { oracleQuote, requireOracle, runScheduled, settleFundingFor, validityAt } from './prices.ts';
import { coverFromProfits } from './realize.ts';
import {
  available,
  bucketAfterFunding,
  closableLots,
  closeRoom,
  feeFor,
  holderOf,
  type OrderRequirement,
  orderRequirement,
  positionInitialMargin,
  positionInput,
  positionPnl,
  siloLegs,
  valuationPrice,
} from './risk.ts';
import { marginalInitialMargin, siloAvailable, siloMaxRemovable } from './silos.ts';
import {
  type ApplyResult,
  type CancelReason,
  type Command,
  type EngineEvent,
  type MarketConfig,
  Rejection,
  type SelfTradePrevention,
  type TimeInForce,
} from './types.ts';

export const MAX_FILLS_PER_COMMAND = 1_000;
const TIFS: ReadonlySet<string> = new Set(['GTC', 'IOC', 'FOK', 'PO']);
const STPS: ReadonlySet<string> = new Set(['cancelTaker', 'cancelMaker', 'cancelBoth']);
export const MAX_MARKETS = 256;
const MAX_AMOUNT_DIGITS = 30;

type Extract<T, K> = T extends { type: K } ? T : never;
type Cmd<K extends Command['type']> = Extract<Command, K>;

export interface EngineOptions {
  /** Margin conventions for liquidation prices and removable margin (default: ringfence's own). */
  conventions?: MarginConventions;
}

export class Engine {
  readonly ledger = new Ledger();
  readonly markets = new Map<string, Market>();
  readonly accounts = new Map<string, Account>();
  /** Settle assets and their decimals, fixed by the first market that uses them. */
  readonly assets = new Map<string, number>();
  readonly conventions: MarginConventions;
  /** The netted risk model's parameters (setNetting). */
  netting: NettingParams = DEFAULT_NETTING;
  seq = 0;
  lastTime = 0;
  nextOrderId = 1;
  /** @internal events of the command being applied. */
  events: EngineEvent[] = [];
  /** @internal the time of the command being applied. */
  now = 0;
  /** @internal markets whose liquidation index must be swept before the command ends (mark moved, funding ran…). */
  readonly sweepMarkets = new Set<Market>();
  /** @internal positions whose trigger must be recomputed before the sweep. */
  private readonly liqDirty = new Set<Position>();

  constructor(opts: EngineOptions = {}) {
    this.conventions = opts.conventions ?? buildConventions(PRESETS.ringfence!.conventions);
  }

  apply(cmd: Command): ApplyResult {
    const events: EngineEvent[] = [];
    this.events = events;
    this.ledger.sink = events;
    let orderId: number | undefined;
    try {
      if (typeof cmd !== 'object' || cmd === null)
        throw new Rejection('INVALID_COMMAND', 'command must be an object');
      if (!Number.isSafeInteger(cmd.time) || cmd.time < 0)
        throw new Rejection('INVALID_COMMAND', 'time must be a non-negative integer (ms)');
      if (cmd.time < this.lastTime) {
        throw new Rejection(
          'TIME_WENT_BACKWARDS',
          `time ${cmd.time} is before the last command's ${this.lastTime}`,
        );
      }
      this.now = cmd.time;
      this.sweepMarkets.clear();
      this.liqDirty.clear();
      this.ledger.touched.clear();
      orderId = this.dispatch(cmd);
      // Validated and applied: re-file what changed, then liquidate what the command made liquidatable.
      this.flushLiquidationDirty();
      if (this.sweepMarkets.size > 0) sweep(this, [...this.sweepMarkets]);
    } catch (e) {
      if (e instanceof Rejection) {
        // Validation throws before any mutation, so nothing was written: events must be empty.
        if (events.length > 0) throw new Error(`bug: ${cmd.type} rejected after emitting events`);
        return { ok: false, code: e.code, message: e.message };
      }
      throw e;
    } finally {
      this.ledger.sink = null;
    }
    this.seq += 1;
    this.lastTime = cmd.time;
    return orderId === undefined
      ? { ok: true, seq: this.seq, events }
      : { ok: true, seq: this.seq, events, orderId };
  }

  private dispatch(cmd: Command): number | undefined {
    switch (cmd.type) {
      case 'createMarket':
        return this.createMarket(cmd);
      case 'deposit':
        return this.deposit(cmd);
      case 'withdraw':
        return this.withdraw(cmd);
      case 'setMarginMode':
        return this.setMarginMode(cmd);
      case 'setLeverage':
        return this.setLeverage(cmd);
      case 'addMargin':
        return this.addMargin(cmd);
      case 'removeMargin':
        return this.removeMargin(cmd);
      case 'placeOrder':
        return this.placeOrder(cmd);
      case 'cancelOrder':
        return this.cancelOrderCmd(cmd);
      case 'cancelAll':
        return this.cancelAll(cmd);
      case 'amendOrder':
        return this.amendOrder(cmd);
      case 'setMarkPrice':
        return this.setMarkPrice(cmd);
      case 'oracleQuote':
        return oracleQuote(this, cmd);
      case 'tick':
        runScheduled(this, cmd.time);
        // Cooldowns end and oracles resume with time alone: look at every market (O(log n) each when quiet).
        for (const m of this.markets.values()) this.sweepMarkets.add(m);
        return undefined;
      case 'setAutoAddMargin':
        return this.setAutoAddMargin(cmd);
      case 'fundInsurance':
        return this.fundInsurance(cmd);
      case 'closeMarket':
        return this.closeMarket(cmd);
      case 'delistMarket':
        return this.delistMarket(cmd);
      case 'createSilo':
        return this.createSilo(cmd);
      case 'closeSilo':
        return this.closeSilo(cmd);
      case 'transferCollateral':
        return this.transferCollateral(cmd);
      case 'setNetting':
        return this.setNetting(cmd);
      case 'settleFunding': {
        const p = this.account(cmd.account).positions.get(this.market(cmd.symbol).symbol);
        if (!p || p.sign === 0) throw new Rejection('INVALID_COMMAND', `no open ${cmd.symbol} position`);
        settleFundingFor(this, p);
        return undefined;
      }
      default:
        throw new Rejection(
          'INVALID_COMMAND',
          `unknown command type ${JSON.stringify((cmd as { type?: unknown }).type)}`,
        );
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Lookups (validation only; no mutation)

  market(symbol: unknown): Market {
    const m = typeof symbol === 'string' ? this.markets.get(symbol) : undefined;
    if (!m) throw new Rejection('UNKNOWN_MARKET', `unknown market ${JSON.stringify(symbol)}`);
    return m;
  }

  account(id: unknown): Account {
    const a = typeof id === 'string' ? this.accounts.get(id) : undefined;
    if (!a) throw new Rejection('UNKNOWN_ACCOUNT', `unknown account ${JSON.stringify(id)}`);
    return a;
  }

  private amount(input: unknown, asset: string, field: string): bigint {
    const dp = this.assets.get(asset);
    if (dp === undefined) throw new Rejection('UNKNOWN_ASSET', `unknown asset ${JSON.stringify(asset)}`);
    try {
      return parseDecimal(input, field, { dp, positive: true, maxAbs: pow10(MAX_AMOUNT_DIGITS) });
    } catch (e) {
      if (e instanceof InputError) throw new Rejection('INVALID_AMOUNT', e.message);
      throw e;
    }
  }

  /** Wallet for an existing account, created lazily (creating an empty wallet is not a state change). */
  private walletOf(a: Account, asset: string): Wallet {
    return a.wallet(asset, this.ledger);
  }

  private positionOf(a: Account, m: Market, silo: Silo | null = null): Position {
    return a.position(m, this.ledger, silo);
  }

  /** A named silo of the account (`id` as a command sent it). */
  private siloOf(a: Account, id: unknown): Silo {
    const s = typeof id === 'string' ? a.silos.get(id) : undefined;
    if (!s) throw new Rejection('UNKNOWN_SILO', `${a.id} has no silo ${JSON.stringify(id)}`);
    return s;
  }

  /** The optional `silo` field of an order or leverage command: null when absent (the default, as today). */
  private optionalSilo(a: Account, m: Market, id: unknown): Silo | null {
    if (id === undefined) return null;
    const s = this.siloOf(a, id);
    if (s.asset !== m.asset)
      throw new Rejection(
        'ASSET_MISMATCH',
        `silo ${s.id} holds ${s.asset}; ${m.symbol} settles in ${m.asset}`,
      );
    return s;
  }

  /** What backs new exposure of `p`: its silo's available, else the account's free balance in the asset. */
  private freeFor(a: Account, p: { silo: Silo | null; market: Market }): bigint {
    if (p.silo !== null) return siloAvailable(p.silo, this.conventions, this.netting);
    const w = a.wallets.get(p.market.asset);
    return w ? available(a, w, p.market.asset) : 0n;
  }

  // -------------------------------------------------------------------------------------------------------
  // Admin and funds

  private createMarket(cmd: Cmd<'createMarket'>): undefined {
    const cfg = cmd.market as MarketConfig | undefined;
    if (typeof cfg !== 'object' || cfg === null)
      throw new Rejection('INVALID_COMMAND', 'market config required');
    if (this.markets.has(cfg.symbol)) throw new Rejection('MARKET_EXISTS', `market ${cfg.symbol} exists`);
    if (this.markets.size >= MAX_MARKETS)
      throw new Rejection('LIMIT_EXCEEDED', `at most ${MAX_MARKETS} markets`);
    let m: Market;
    try {
      m = new Market(cfg);
    } catch (e) {
      if (e instanceof InputError) throw new Rejection('INVALID_COMMAND', e.message);
      throw e;
    }
    const dp = this.assets.get(m.asset);
    if (dp !== undefined && dp !== m.inst.settleDp) {
      throw new Rejection('INVALID_COMMAND', `asset ${m.asset} already uses ${dp} decimals`);
    }
    m.attach(this.ledger, cmd.time);
    this.assets.set(m.asset, m.inst.settleDp);
    this.markets.set(m.symbol, m);
    this.events.push({ type: 'marketCreated', symbol: m.symbol });
    return undefined;
  }

  private deposit(cmd: Cmd<'deposit'>): undefined {
    if (typeof cmd.account !== 'string' || !ACCOUNT_ID_RE.test(cmd.account)) {
      throw new Rejection('INVALID_COMMAND', 'account id must be 1-64 characters of A-Z a-z 0-9 _ . -');
    }
    const amount = this.amount(cmd.amount, cmd.asset, 'amount');
    let a = this.accounts.get(cmd.account);
    if (!a) {
      a = new Account(cmd.account, this.accounts.size + 1);
      this.accounts.set(a.id, a);
    }
    this.ledger.transfer(
      this.ledger.systemAccount('external', cmd.asset),
      this.walletOf(a, cmd.asset).main,
      amount,
      'deposit',
    );
    return undefined;
  }

  private withdraw(cmd: Cmd<'withdraw'>): undefined {
    const a = this.account(cmd.account);
    const amount = this.amount(cmd.amount, cmd.asset, 'amount');
    const w = a.wallets.get(cmd.asset);
    for (const p of a.positions.values())
      if (p.sign !== 0 && p.silo === null && p.market.asset === cmd.asset)
        requireOracle(p.market, 'withdraw', this.now);
    const free = w ? available(a, w, cmd.asset) : 0n;
    if (!w || amount > free) {
      throw new Rejection(
        'INSUFFICIENT_BALANCE',
        `withdrawable ${this.fmtMoney(cmd.asset, maxBig(free, 0n))} ${cmd.asset}`,
      );
    }
    this.ledger.transfer(w.main, this.ledger.systemAccount('external', cmd.asset), amount, 'withdraw');
    return undefined;
  }

  private setMarkPrice(cmd: Cmd<'setMarkPrice'>): undefined {
    const m = this.market(cmd.symbol);
    if (m.oracle)
      throw new Rejection(
        'INVALID_COMMAND',
        `${m.symbol} derives its mark from its oracle; send oracleQuote`,
      );
    if (m.closed) throw new Rejection('MARKET_CLOSED', `${m.symbol} has settled`);
    const price = m.price(m.priceTicks(cmd.price, 'price'));
    m.mark = price;
    this.sweepMarkets.add(m);
    this.events.push({ type: 'markPrice', symbol: m.symbol, price });
    return undefined;
  }

  /**
   * Closes a market to new risk (admin). Validated in full first: the market exists and is neither settled nor
   * already closing. Then every resting order that is not reduce-only is canceled (filled, it could add risk);
   * reduce-only orders stay, and positions wind down through them, liquidation and expiry as before.
   */
  private closeMarket(cmd: Cmd<'closeMarket'>): undefined {
    const m = this.market(cmd.symbol);
    if (m.closed) throw new Rejection('MARKET_CLOSED', `${m.symbol} has settled`);
    if (m.reduceOnly) throw new Rejection('MARKET_CLOSED', `${m.symbol} is already closed to new risk`);
    m.reduceOnly = true;
    // Collected first (in the book's deterministic order): canceling changes the book being walked.
    const victims = [...m.book.orders()]
      .map((bo) => bo as Order)
      .filter((o) => !o.reduceOnly && !o.liquidation);
    for (const o of victims) this.cancelResting(o, 'marketClosing');
    return undefined;
  }

  /**
   * Removes a market closed to new risk (or settled) once it is flat, freeing its slot and symbol (admin).
   * Validated in full first: closed, no resting order, no open position (by count and by scan: the count is a cache
   * of the scan). Then the clearing account and funding pool hand their residue to the asset's fees — the rule
   * `settleFundingFor` applies to the pool once every position has settled: with none open, what is left is
   * rounding kept by payouts rounded down. A deficit (never expected) is paid by the insurance fund, the account
   * that absorbs shortfalls. The flat positions and their (empty) buckets go, then the market's accounts.
   */
  private delistMarket(cmd: Cmd<'delistMarket'>): undefined {
    const m = this.market(cmd.symbol);
    if (!m.reduceOnly && !m.closed)
      throw new Rejection('MARKET_NOT_FLAT', `${m.symbol} is open to new risk: close it first`);
    // Orders first: a reduce-only order resting against an open position is the step to finish before closing it.
    if (m.book.orderCount() !== 0)
      throw new Rejection('MARKET_NOT_FLAT', `${m.symbol} still has ${m.book.orderCount()} resting order(s)`);
    // `m.positions` holds those that ever opened; a leverage or margin-mode setting, or an order that never filled,
    // leaves a flat Position in its account only. Every account is scanned (an admin command, once per market).
    const held = new Set<Position>(m.positions);
    for (const a of this.accounts.values()) {
      const p = a.positions.get(m.symbol);
      if (p !== undefined && p.market === m) held.add(p);
      for (const s of a.silos.values()) {
        const q = s.positions.get(m.symbol);
        if (q !== undefined && q.market === m) held.add(q);
      }
    }
    for (const p of held)
      if (p.openOrders !== 0)
        throw new Rejection('MARKET_NOT_FLAT', `${p.account.id} still has orders on ${m.symbol}`);
    let open = 0;
    for (const p of held) if (p.sign !== 0) open++;
    if (m.openPositions !== 0 || m.openInterestLots !== 0 || open !== 0)
      throw new Rejection(
        'POSITION_OPEN',
        `${m.symbol} still has ${Math.max(open, m.openPositions)} open position(s)`,
      );

    const residue = (l: LedgerAccount) => {
      if (l.balance > 0n) this.ledger.transfer(l, m.fees, l.balance, 'delistResidue');
      else if (l.balance < 0n) this.ledger.transfer(m.insurance, l, -l.balance, 'delistResidue');
    };
    residue(m.clearing);
    residue(m.fundingPool);
    const gone = new Set<LedgerAccount>([m.clearing, m.fundingPool]);
    for (const p of held) {
      // A flat position's bucket is empty (margin is released on the closing fill); kept as a guard.
      if (p.bucket.balance > 0n)
        this.ledger.transfer(
          p.bucket,
          this.walletOf(p.account, m.asset).main,
          p.bucket.balance,
          'marginRelease',
        );
      if (p.silo === null) gone.add(p.bucket); // a silo leg's is detached (never in the ledger)
      if (p.account.positions.get(p.key) === p) p.account.positions.delete(p.key);
      if (p.silo?.positions.get(m.symbol) === p) p.silo.positions.delete(m.symbol);
      this.liqDirty.delete(p);
    }
    m.positions.clear();
    this.ledger.remove(gone);
    this.sweepMarkets.delete(m);
    this.markets.delete(m.symbol);
    this.events.push({ type: 'marketDelisted', symbol: m.symbol });
    return undefined;
  }

  private fundInsurance(cmd: Cmd<'fundInsurance'>): undefined {
    const amount = this.amount(cmd.amount, cmd.asset, 'amount');
    this.ledger.transfer(
      this.ledger.systemAccount('external', cmd.asset),
      this.ledger.systemAccount('insurance', cmd.asset),
      amount,
      'insuranceFund',
    );
    return undefined;
  }

  // -------------------------------------------------------------------------------------------------------
  // Named silos

  private createSilo(cmd: Cmd<'createSilo'>): undefined {
    const a = this.account(cmd.account);
    if (a.id === BACKSTOP_ACCOUNT) throw new Rejection('UNKNOWN_ACCOUNT', 'the backstop holds no silos');
    if (typeof cmd.silo !== 'string' || !SILO_ID_RE.test(cmd.silo))
      throw new Rejection('INVALID_COMMAND', 'silo id must be 1-32 characters of A-Z a-z 0-9 _ . -');
    if (cmd.riskModel !== 'standalone' && cmd.riskModel !== 'netted')
      throw new Rejection('INVALID_COMMAND', 'riskModel must be standalone or netted');
    if (typeof cmd.asset !== 'string' || !this.assets.has(cmd.asset))
      throw new Rejection('UNKNOWN_ASSET', `unknown asset ${JSON.stringify(cmd.asset)}`);
    if (a.silos.has(cmd.silo)) throw new Rejection('SILO_EXISTS', `${a.id} already has a silo ${cmd.silo}`);
    if (a.silos.size >= MAX_SILOS_PER_ACCOUNT)
      throw new Rejection('LIMIT_EXCEEDED', `at most ${MAX_SILOS_PER_ACCOUNT} silos per account`);
    this.walletOf(a, cmd.asset); // closeSilo and transfers return collateral there
    const bucket = this.ledger.open('isolated', cmd.asset, `${a.id}:silo:${cmd.silo}`);
    const silo = new Silo(cmd.silo, a, cmd.asset, cmd.riskModel, bucket);
    bucket.owner = silo;
    a.silos.set(silo.id, silo);
    this.events.push({
      type: 'siloCreated',
      account: a.id,
      silo: silo.id,
      asset: silo.asset,
      riskModel: silo.riskModel,
    });
    return undefined;
  }

  /**
   * Closes a flat silo with no open order: its collateral returns to the free balance, its (flat) legs and its bucket
   * go, so the id can be created again.
   */
  private closeSilo(cmd: Cmd<'closeSilo'>): undefined {
    const a = this.account(cmd.account);
    const silo = this.siloOf(a, cmd.silo);
    for (const p of silo.positions.values()) {
      if (p.sign !== 0)
        throw new Rejection('POSITION_OPEN', `silo ${silo.id} still holds ${p.market.symbol}`);
      if (p.openOrders > 0)
        throw new Rejection('POSITION_OPEN', `silo ${silo.id} still has orders on ${p.market.symbol}`);
    }
    // ---- validated ----
    const main = this.walletOf(a, silo.asset).main;
    if (silo.bucket.balance > 0n)
      this.ledger.transfer(silo.bucket, main, silo.bucket.balance, 'collateralTransfer');
    for (const p of silo.positions.values()) {
      a.positions.delete(p.key);
      p.market.positions.delete(p);
      p.market.liqIndex.stale.delete(p);
      p.market.liqIndex.remove(p);
      this.liqDirty.delete(p);
    }
    silo.positions.clear();
    this.ledger.remove(new Set([silo.bucket]));
    a.silos.delete(silo.id);
    this.events.push({ type: 'siloClosed', account: a.id, silo: silo.id });
    return undefined;
  }

  /**
   * Moves collateral between the free balance and a named silo, or between two silos of the account in one asset.
   * Out of the free balance at most what is available (as a withdrawal); out of a silo at most its max removable.
   */
  private transferCollateral(cmd: Cmd<'transferCollateral'>): undefined {
    const a = this.account(cmd.account);
    if (typeof cmd.from !== 'string' || typeof cmd.to !== 'string')
      throw new Rejection('INVALID_COMMAND', "from and to are 'free' or a silo id");
    if (cmd.from === cmd.to) throw new Rejection('INVALID_COMMAND', 'from and to must differ');
    const src = cmd.from === 'free' ? null : this.siloOf(a, cmd.from);
    const dst = cmd.to === 'free' ? null : this.siloOf(a, cmd.to);
    const asset = (src ?? dst)!.asset;
    if (src !== null && dst !== null && src.asset !== dst.asset)
      throw new Rejection('ASSET_MISMATCH', `silo ${src.id} holds ${src.asset}, silo ${dst.id} ${dst.asset}`);
    if (cmd.asset !== undefined && cmd.asset !== asset)
      throw new Rejection('ASSET_MISMATCH', `the silo holds ${asset}, not ${JSON.stringify(cmd.asset)}`);
    const amount = this.amount(cmd.amount, asset, 'amount');
    if (src === null) {
      for (const p of a.positions.values())
        if (p.sign !== 0 && p.silo === null && p.market.asset === asset)
          requireOracle(p.market, 'withdraw', this.now);
      const w = a.wallets.get(asset);
      const free = w ? available(a, w, asset) : 0n;
      if (amount > free)
        throw new Rejection(
          'INSUFFICIENT_BALANCE',
          `available ${this.fmtMoney(asset, maxBig(free, 0n))} ${asset}`,
        );
    } else {
      for (const p of siloLegs(src)) requireOracle(p.market, 'withdraw', this.now);
      const max = siloMaxRemovable(src, this.conventions, this.netting);
      if (amount > max)
        throw new Rejection(
          'INSUFFICIENT_MARGIN',
          `at most ${this.fmtMoney(asset, max)} ${asset} can leave silo ${src.id}`,
        );
    }
    // ---- validated ----
    const main = this.walletOf(a, asset).main;
    if (src !== null) for (const p of siloLegs(src)) settleFundingFor(this, p);
    this.ledger.transfer(src?.bucket ?? main, dst?.bucket ?? main, amount, 'collateralTransfer');
    return undefined;
  }

  /** Admin: netted-model parameters; fields not sent keep their value. Every netted silo is re-filed. */
  private setNetting(cmd: Cmd<'setNetting'>): undefined {
    const given: Record<string, unknown> = {};
    if (cmd.floor !== undefined) given.floor = cmd.floor;
    if (cmd.sameBase !== undefined) given.sameBase = cmd.sameBase;
    if (cmd.correlations !== undefined) given.correlations = cmd.correlations;
    let parsed: NettingParams;
    try {
      parsed = parseNetting(given, 'netting');
    } catch (e) {
      if (e instanceof InputError) throw new Rejection('INVALID_COMMAND', e.message);
      throw e;
    }
    this.netting = {
      floor: cmd.floor !== undefined ? parsed.floor : this.netting.floor,
      sameBase: cmd.sameBase !== undefined ? parsed.sameBase : this.netting.sameBase,
      correlations: cmd.correlations !== undefined ? parsed.correlations : this.netting.correlations,
      grid: this.netting.grid,
    };
    for (const a of this.accounts.values())
      for (const silo of a.silos.values())
        if (silo.riskModel === 'netted')
          for (const m of touchCross(this, a, silo.asset, silo)) this.sweepMarkets.add(m);
    return undefined;
  }

  // -------------------------------------------------------------------------------------------------------
  // Margin settings

  private setAutoAddMargin(cmd: Cmd<'setAutoAddMargin'>): undefined {
    const a = this.account(cmd.account);
    const m = this.market(cmd.symbol);
    if (typeof cmd.enabled !== 'boolean') throw new Rejection('INVALID_COMMAND', 'enabled must be boolean');
    const policy = cmd.policy ?? 'addInitialMargin';
    if (policy !== 'addInitialMargin' && policy !== 'restoreInitialMargin')
      throw new Rejection('INVALID_COMMAND', 'policy must be addInitialMargin or restoreInitialMargin');
    let trigger: bigint;
    try {
      trigger = parseRate(cmd.trigger ?? '0.8', 'trigger');
    } catch (e) {
      if (e instanceof InputError) throw new Rejection('INVALID_COMMAND', e.message);
      throw e;
    }
    if (trigger <= 0n || trigger >= RATE_ONE)
      throw new Rejection('INVALID_COMMAND', 'trigger is a margin ratio strictly between 0 and 1');
    if ((a.positions.get(m.symbol)?.mode ?? 'isolated') !== 'isolated')
      throw new Rejection('NOT_ISOLATED', 'auto-add margin applies to isolated positions only');
    const p = this.positionOf(a, m);
    p.autoAdd = cmd.enabled ? { policy, trigger } : null;
    this.events.push({
      type: 'autoAddMarginSet',
      account: a.id,
      symbol: m.symbol,
      enabled: cmd.enabled,
      policy: cmd.enabled ? policy : null,
      trigger: cmd.enabled ? trigger : null,
    });
    this.markLiquidationDirty(p);
    return undefined;
  }

  private setMarginMode(cmd: Cmd<'setMarginMode'>): undefined {
    const a = this.account(cmd.account);
    const m = this.market(cmd.symbol);
    if (cmd.mode !== 'isolated' && cmd.mode !== 'cross')
      throw new Rejection('INVALID_COMMAND', 'mode must be isolated or cross');
    const existing = a.positions.get(m.symbol);
    if ((existing?.mode ?? 'isolated') === cmd.mode) return undefined; // the current mode: a no-op, not an error
    if (existing && (existing.sign !== 0 || existing.openOrders > 0)) {
      throw new Rejection('POSITION_OPEN', 'margin mode changes only when flat with no open orders');
    }
    const p = this.positionOf(a, m);
    p.mode = cmd.mode;
    this.events.push({ type: 'marginModeSet', account: a.id, symbol: m.symbol, mode: p.mode });
    return undefined;
  }

  /**
   * Isolated with a position: the bucket is re-sized to initial margin at entry over the new leverage. Lowering
   * leverage draws the difference from available balance; raising it releases the excess only while the bucket
   * still covers initial margin at mark. Rejected while the market has open orders (their reserves were sized at
   * the old leverage).
   */
  private setLeverage(cmd: Cmd<'setLeverage'>): undefined {
    const a = this.account(cmd.account);
    const m = this.market(cmd.symbol);
    let lev: bigint;
    try {
      lev = parseLeverage(cmd.leverage, 'leverage');
    } catch (e) {
      if (e instanceof InputError) throw new Rejection('INVALID_COMMAND', e.message);
      throw e;
    }
    const silo = this.optionalSilo(a, m, cmd.silo);
    const existing = a.positions.get(positionKey(silo, m.symbol));
    if (existing && existing.openOrders > 0)
      throw new Rejection('POSITION_OPEN', 'cancel open orders on this market before changing leverage');
    const flat = !existing || existing.sign === 0;
    const cap = flat
      ? m.inst.maxLeverage
      : minBig(m.inst.maxLeverage, ratesAt(m.inst, existing.size, valuationPrice(existing)).maxLeverage);
    if (lev > cap)
      throw new Rejection('LEVERAGE_TOO_HIGH', `max leverage here is ${formatDecimal(cap, LEVERAGE_DP)}x`);
    let delta = 0n;
    if (!flat && existing.mode === 'isolated') {
      const target = initialMarginAtLeverage(
        notional(m.inst, existing.size, existing.entryPrice, 'ceil'),
        lev,
      );
      delta = target - bucketAfterFunding(existing);
      const w = a.wallets.get(m.asset)!;
      if (delta > 0n && delta > available(a, w, m.asset)) {
        throw new Rejection(
          'INSUFFICIENT_BALANCE',
          `lowering leverage needs ${this.fmtMoney(m.asset, delta)} ${m.asset} more collateral`,
        );
      }
      if (delta < 0n) {
        // Releasing bucket collateral to main is removeMargin by another name: the same oracle gate (without it a
        // stale or unsourced index let margin out through setLeverage while removeMargin was ORACLE_PAUSED).
        requireOracle(m, 'withdraw', this.now);
        const imAtMark = initialMarginAtLeverage(
          notional(m.inst, existing.size, valuationPrice(existing), 'ceil'),
          lev,
        );
        if (target + minBig(positionPnl(existing), 0n) < imAtMark) {
          throw new Rejection(
            'INSUFFICIENT_MARGIN',
            'the position would fall below initial margin at this leverage',
          );
        }
      }
    } else if (!flat && existing.mode === 'cross') {
      // A silo's leg: its own change bounds the silo's (the netted figure moves by at most the legs' moves).
      const extra =
        initialMarginAtLeverage(notional(m.inst, existing.size, valuationPrice(existing), 'ceil'), lev) -
        positionInitialMargin(existing);
      if (extra > 0n && extra > this.freeFor(a, existing))
        throw new Rejection('INSUFFICIENT_MARGIN', 'not enough available balance for this leverage');
    }
    const p = this.positionOf(a, m, silo);
    settleFundingFor(this, p);
    p.leverage = lev;
    if (delta !== 0n) {
      const w = this.walletOf(a, m.asset);
      if (delta > 0n) this.ledger.transfer(w.main, p.bucket, delta, 'leverageChange');
      else this.ledger.transfer(p.bucket, w.main, -delta, 'leverageChange');
    }
    this.events.push({ type: 'leverageSet', account: a.id, symbol: m.symbol, leverage: lev });
    if (delta !== 0n) this.emitPosition(p);
    return undefined;
  }

  private isolatedPosition(a: Account, m: Market): Position {
    const p = a.positions.get(m.symbol);
    if (p?.mode !== 'isolated') throw new Rejection('NOT_ISOLATED', `${m.symbol} is not in isolated mode`);
    if (p.sign === 0) throw new Rejection('INVALID_COMMAND', `no open ${m.symbol} position`);
    return p;
  }

  private addMargin(cmd: Cmd<'addMargin'>): undefined {
    const a = this.account(cmd.account);
    const m = this.market(cmd.symbol);
    const p = this.isolatedPosition(a, m);
    const amount = this.amount(cmd.amount, m.asset, 'amount');
    const w = a.wallets.get(m.asset)!;
    if (amount > available(a, w, m.asset))
      throw new Rejection('INSUFFICIENT_BALANCE', 'not enough available balance');
    settleFundingFor(this, p);
    this.ledger.transfer(w.main, p.bucket, amount, 'addMargin');
    this.emitPosition(p);
    return undefined;
  }

  private removeMargin(cmd: Cmd<'removeMargin'>): undefined {
    const a = this.account(cmd.account);
    const m = this.market(cmd.symbol);
    const p = this.isolatedPosition(a, m);
    const amount = this.amount(cmd.amount, m.asset, 'amount');
    requireOracle(m, 'withdraw', this.now);
    const max = this.maxRemovable(p);
    if (amount > max)
      throw new Rejection(
        'INSUFFICIENT_MARGIN',
        `at most ${this.fmtMoney(m.asset, max)} ${m.asset} can be removed`,
      );
    settleFundingFor(this, p);
    this.ledger.transfer(p.bucket, this.walletOf(a, m.asset).main, amount, 'removeMargin');
    this.emitPosition(p);
    return undefined;
  }

  maxRemovable(p: Position): bigint {
    if (p.sign === 0 || p.mode !== 'isolated') return 0n;
    return maxRemovableMargin({
      inst: p.market.inst,
      conv: this.conventions,
      pos: positionInput(p),
      collateral: bucketAfterFunding(p),
      mark: valuationPrice(p),
      leverage: p.leverage,
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Orders

  private placeOrder(cmd: Cmd<'placeOrder'>): number {
    const a = this.account(cmd.account);
    const m = this.market(cmd.symbol);
    if (cmd.side !== 'buy' && cmd.side !== 'sell')
      throw new Rejection('INVALID_COMMAND', 'side must be buy or sell');
    if (cmd.orderType !== 'limit' && cmd.orderType !== 'market')
      throw new Rejection('INVALID_COMMAND', 'orderType must be limit or market');
    const tif: TimeInForce = cmd.timeInForce ?? (cmd.orderType === 'market' ? 'IOC' : 'GTC');
    if (!TIFS.has(tif)) throw new Rejection('INVALID_COMMAND', 'timeInForce must be GTC, IOC, FOK or PO');
    if (cmd.orderType === 'market' && (tif === 'GTC' || tif === 'PO'))
      throw new Rejection('INVALID_COMMAND', 'market orders are IOC or FOK');
    const stp: SelfTradePrevention = cmd.stp ?? 'cancelTaker';
    if (!STPS.has(stp)) throw new Rejection('INVALID_COMMAND', 'bad stp');
    const reduceOnly = cmd.reduceOnly === true;
    if (cmd.reduceOnly !== undefined && typeof cmd.reduceOnly !== 'boolean')
      throw new Rejection('INVALID_COMMAND', 'reduceOnly must be boolean');
    if (
      cmd.clientOrderId !== undefined &&
      (typeof cmd.clientOrderId !== 'string' || cmd.clientOrderId.length > 64)
    ) {
      throw new Rejection('INVALID_COMMAND', 'clientOrderId must be a string of at most 64 characters');
    }
    // Unique among the account's open orders: a client retrying after a timeout must not get a second order.
    const same = cmd.clientOrderId === undefined ? undefined : a.clientOrders.get(cmd.clientOrderId);
    if (same)
      throw new Rejection(
        'DUPLICATE_CLIENT_ORDER_ID',
        `clientOrderId ${JSON.stringify(cmd.clientOrderId)} is already used by open order ${same.id}`,
      );
    const silo = this.optionalSilo(a, m, cmd.silo);
    if (m.closed || (m.inst.expiry !== null && cmd.time >= m.inst.expiry))
      throw new Rejection('MARKET_CLOSED', `${m.symbol} has expired`);
    if (m.reduceOnly && !reduceOnly)
      throw new Rejection('MARKET_CLOSED', `${m.symbol} is closed to new risk: reduce-only orders only`);
    const lots = m.sizeLots(cmd.size);
    const side = cmd.side;
    const opposite: BookSide = side === 'buy' ? 'sell' : 'buy';
    const limitTicks = this.orderLimit(m, cmd.orderType, cmd.price, side, opposite);
    const rests = tif === 'GTC' || tif === 'PO';
    if (rests && a.orders.size >= MAX_OPEN_ORDERS_PER_ACCOUNT) {
      throw new Rejection(
        'TOO_MANY_ORDERS',
        `at most ${MAX_OPEN_ORDERS_PER_ACCOUNT} open orders per account`,
      );
    }
    const existing = a.positions.get(positionKey(silo, m.symbol));
    const pos = existing ?? null;
    if (reduceOnly) {
      const closable = pos ? closableLots(pos, side) : 0;
      if (closable === 0 || lots > closable) {
        throw new Rejection(
          'REDUCE_ONLY_WOULD_INCREASE',
          closable === 0 ? 'no position to reduce' : 'reduce-only size exceeds the position',
        );
      }
    }
    const bestOpp = m.book.bestPrice(opposite);
    const crosses = bestOpp !== null && (side === 'buy' ? bestOpp <= limitTicks : bestOpp >= limitTicks);
    if (tif === 'PO' && crosses)
      throw new Rejection('POST_ONLY_WOULD_TAKE', 'post-only order would take liquidity');
    if (tif === 'FOK' && this.fokLiquidity(m, side, limitTicks, lots, a.n, stp) < lots) {
      throw new Rejection('FOK_NOT_FILLED', 'not enough liquidity to fill the whole order');
    }
    // Margin: a fresh position object for validation would be a mutation, so compute on a view.
    const view: PositionView = pos ?? this.flatView(m, silo);
    // A crossing taker fills at the book's prices, better than its limit; where a better price means a larger
    // notional (a linear sell filling above its limit, an inverse buy below it), size the requirement there.
    const largerAtBest = (m.inst.kind === 'linear') === (side === 'sell');
    const reqTicks = crosses && largerAtBest && bestOpp !== null ? bestOpp : limitTicks;
    const req = reduceOnly ? { openLots: 0, total: 0n } : this.orderNeeds(silo, view, side, lots, reqTicks);
    if (req.openLots > 0) {
      this.checkTier(view, side, req.openLots, reqTicks);
      if (m.oracle) requireOracle(m, 'increaseRisk', cmd.time);
    }
    const free = this.freeFor(a, { silo, market: m });
    // Only the opening part needs money. An order that only reduces (reduce-only, or no larger than what it
    // closes) needs nothing and is never refused for margin, however far `available` has fallen below zero: a
    // cross account's losses, another market's loss or the backstop's negative fund must not trap a close.
    if (req.total > 0n && req.total > free) {
      throw new Rejection(
        'INSUFFICIENT_MARGIN',
        `order needs ${this.fmtMoney(m.asset, req.total)} ${m.asset}, available ${this.fmtMoney(m.asset, maxBig(free, 0n))}`,
      );
    }
    // ---- validated; mutate from here on ----
    const p = this.positionOf(a, m, silo);
    const wallet = this.walletOf(a, m.asset);
    const order: Order = {
      id: this.nextOrderId++,
      accountId: a.n,
      side,
      priceTicks: limitTicks,
      remainingLots: lots,
      prev: null,
      next: null,
      level: null,
      account: a,
      market: m,
      position: p,
      sizeLots: lots,
      tif,
      reduceOnly,
      clientOrderId: cmd.clientOrderId ?? null,
      stp,
      mode: p.mode,
      reserved: 0n,
      reservedLots: req.openLots,
    };
    this.reserve(order, wallet, req.total);
    this.events.push({
      type: 'orderAccepted',
      orderId: order.id,
      account: a.id,
      symbol: m.symbol,
      side,
      price: m.price(limitTicks),
      size: m.size(lots),
      timeInForce: tif,
      reduceOnly,
    });
    const stopped = this.match(order, opposite);
    if (order.remainingLots > 0) {
      if (rests && stopped === null) this.rest(order);
      else this.finishOrder(order, stopped ?? (cmd.orderType === 'market' ? 'priceBand' : 'ioc'));
    } else {
      this.finishOrder(order, null);
    }
    return order.id;
  }

  /**
   * An order's requirement: `orderRequirement` (what the opening lots need at the leg's leverage, their loss against
   * the mark and the worst-case taker fee); in a netted silo, the initial margin part is what the opening lots add to
   * the silo's netted initial margin (a hedge may add nothing).
   */
  private orderNeeds(
    silo: Silo | null,
    view: PositionView,
    side: 'buy' | 'sell',
    lots: number,
    ticks: number,
  ): OrderRequirement {
    const req = orderRequirement(view, side, lots, ticks);
    if (silo === null || silo.riskModel !== 'netted' || req.openLots === 0) return req;
    const m = view.market;
    const price = m.price(ticks);
    const own = initialMarginAtLeverage(notional(m.inst, m.size(req.openLots), price, 'ceil'), view.leverage);
    const marginal = marginalInitialMargin(
      silo,
      view,
      side === 'buy' ? 1 : -1,
      req.openLots,
      price,
      this.netting,
    );
    return { openLots: req.openLots, total: req.total - own + marginal };
  }

  /** The limit in ticks: the order's price (checked against the band) or, for market orders, the band edge. */
  private orderLimit(
    m: Market,
    type: 'limit' | 'market',
    priceIn: unknown,
    side: 'buy' | 'sell',
    opposite: BookSide,
  ): number {
    const up = side === 'buy';
    if (type === 'market') {
      if (priceIn !== undefined) throw new Rejection('INVALID_COMMAND', 'market orders take no price');
      const bestOpp = m.book.bestPrice(opposite);
      const ref = m.reference() ?? (bestOpp === null ? null : m.price(bestOpp));
      if (ref === null)
        throw new Rejection('NO_REFERENCE_PRICE', 'no mark, last or book price to protect a market order');
      return m.bandTicks(ref, m.marketBand, up);
    }
    const ticks = m.priceTicks(priceIn, 'price');
    const ref = m.reference();
    if (ref !== null) {
      const bound = m.bandTicks(ref, m.limitBand, up);
      if (up ? ticks > bound : ticks < bound) {
        throw new Rejection(
          'PRICE_BAND',
          `${side} price must be ${up ? 'at most' : 'at least'} ${m.fmtPrice(m.price(bound))} (band around ${m.fmtPrice(ref)})`,
        );
      }
    }
    return ticks;
  }

  /**
   * Lots a FOK taker would actually reach, walking the book as `match` will (no mutation). Plain
   * `liquidityUpTo(…, excludeAccount)` skips the taker's own orders, which is right only for cancelMaker:
   * with cancelTaker/cancelBoth matching stops at the first own order, so counting liquidity behind it let a
   * FOK fill partly and then be cancelled ('selfTrade'). Reduce-only makers count only what still closes their
   * owner's position (match caps them and cancels the rest). Not modelled: makers cancelled at match time by
   * their margin check or by the bankruptcy bound on a voluntary close (planSide), nor the taker stopped by it.
   */
  private fokLiquidity(
    m: Market,
    side: 'buy' | 'sell',
    limitTicks: number,
    lots: number,
    accountN: number,
    stp: SelfTradePrevention,
  ): number {
    const opposite: BookSide = side === 'buy' ? 'sell' : 'buy';
    const usedClose = new Map<Position, number>();
    let total = 0;
    for (let bo = m.book.best(opposite); bo !== null && total < lots; bo = m.book.nextAfter(bo)) {
      if (side === 'buy' ? bo.priceTicks > limitTicks : bo.priceTicks < limitTicks) break;
      if (bo.accountId === accountN) {
        if (stp === 'cancelMaker') continue;
        break;
      }
      const o = bo as Order;
      let n = o.remainingLots;
      // Every earlier fill of the same owner on this side closes its position first, so it counts against what
      // a later reduce-only order can still close — not only earlier reduce-only fills (a plain order that closed
      // or flipped the position left the reduce-only one behind it nothing: cancelled, FOK partly filled).
      const used = usedClose.get(o.position) ?? 0;
      if (o.reduceOnly) n = Math.max(0, Math.min(n, closableLots(o.position, o.side) - used));
      usedClose.set(o.position, used + n);
      total += n;
    }
    return Math.min(total, lots);
  }

  /** The position's leverage must be allowed by the tier the grown position would fall in. */
  private checkTier(p: PositionView, side: 'buy' | 'sell', openLots: number, ticks: number): void {
    const m = p.market;
    const sameSide = (side === 'buy' && p.sign > 0) || (side === 'sell' && p.sign < 0);
    const lots = (sameSide ? p.lots : 0) + openLots;
    const maxLev = ratesAt(m.inst, m.size(lots), m.price(ticks)).maxLeverage;
    if (p.leverage > maxLev) {
      throw new Rejection(
        'LEVERAGE_TOO_HIGH',
        `a position this large allows at most ${formatDecimal(maxLev, LEVERAGE_DP)}x; lower leverage first`,
      );
    }
  }

  /** A read-only stand-in for a position that does not exist yet (default mode and leverage, flat). */
  private flatView(m: Market, silo: Silo | null = null): PositionView {
    return {
      mode: silo === null ? 'isolated' : 'cross',
      leverage: m.defaultLeverage,
      sign: 0,
      lots: 0,
      entryPrice: 0n,
      size: 0n,
      market: m,
      fundingIndex: 0n,
    };
  }

  private reserve(o: Order, w: Wallet, amount: bigint): void {
    o.reserved = amount;
    if (amount > 0n) {
      if (o.position.silo !== null) o.position.silo.orderRequirement += amount;
      else if (o.mode === 'isolated') this.ledger.transfer(w.main, w.reserved, amount, 'orderReserve');
      else w.crossOrderRequirement += amount;
    }
  }

  /** Releases `amount` of an order's reserve back to the account. */
  private release(o: Order, amount: bigint): void {
    if (amount <= 0n) return;
    const w = o.account.wallets.get(o.market.asset)!;
    o.reserved -= amount;
    if (o.position.silo !== null) o.position.silo.orderRequirement -= amount;
    else if (o.mode === 'isolated') this.ledger.transfer(w.reserved, w.main, amount, 'orderRelease');
    else w.crossOrderRequirement -= amount;
  }

  private rest(o: Order): void {
    if (!o.market.book.add(o)) {
      this.finishOrder(o, 'bookFull');
      return;
    }
    o.account.orders.set(o.id, o);
    indexClientOrder(o);
    o.position.openOrders += 1;
  }

  /** Ends an order that is not (or no longer) resting: releases what is left of its reserve. */
  private finishOrder(o: Order, reason: CancelReason | null): void {
    this.release(o, o.reserved);
    o.reservedLots = 0;
    if (reason !== null && o.remainingLots > 0) {
      this.events.push({
        type: 'orderCanceled',
        orderId: o.id,
        account: o.account.id,
        symbol: o.market.symbol,
        remaining: o.market.size(o.remainingLots),
        reason,
      });
    }
  }

  /** Removes a resting order from the book and the account, and finishes it. */
  /** @internal */
  cancelResting(o: Order, reason: CancelReason): void {
    o.market.book.remove(o);
    o.account.orders.delete(o.id);
    unindexClientOrder(o);
    o.position.openOrders -= 1;
    this.finishOrder(o, reason);
  }

  private cancelOrderCmd(cmd: Cmd<'cancelOrder'>): undefined {
    const a = this.account(cmd.account);
    const m = this.market(cmd.symbol);
    const o = a.orders.get(cmd.orderId);
    if (!o || o.market !== m)
      throw new Rejection('UNKNOWN_ORDER', `no open order ${cmd.orderId} on ${m.symbol}`);
    this.cancelResting(o, 'user');
    return undefined;
  }

  private cancelAll(cmd: Cmd<'cancelAll'>): undefined {
    const a = this.account(cmd.account);
    const m = cmd.symbol === undefined ? null : this.market(cmd.symbol);
    const victims = [...a.orders.values()]
      .filter((o) => m === null || o.market === m)
      .sort((x, y) => x.id - y.id);
    for (const o of victims) this.cancelResting(o, 'user');
    return undefined;
  }

  /**
   * Amend a resting order's price and/or remaining size. Priority is kept only when the price is unchanged and the
   * size goes down; otherwise the order moves to the back of its (new) level. An amended price may not cross.
   */
  private amendOrder(cmd: Cmd<'amendOrder'>): undefined {
    const a = this.account(cmd.account);
    const m = this.market(cmd.symbol);
    const o = a.orders.get(cmd.orderId);
    if (!o || o.market !== m)
      throw new Rejection('UNKNOWN_ORDER', `no open order ${cmd.orderId} on ${m.symbol}`);
    if (cmd.price === undefined && cmd.size === undefined)
      throw new Rejection('INVALID_COMMAND', 'amend needs a price or a size');
    const ticks =
      cmd.price === undefined
        ? o.priceTicks
        : this.orderLimit(m, 'limit', cmd.price, o.side, o.side === 'buy' ? 'sell' : 'buy');
    const lots = cmd.size === undefined ? o.remainingLots : m.sizeLots(cmd.size);
    const bestOpp = m.book.bestPrice(o.side === 'buy' ? 'sell' : 'buy');
    if (
      ticks !== o.priceTicks &&
      bestOpp !== null &&
      (o.side === 'buy' ? bestOpp <= ticks : bestOpp >= ticks)
    ) {
      throw new Rejection(
        'INVALID_PRICE',
        'amended price would cross the book; cancel and place a new order instead',
      );
    }
    if (o.reduceOnly && lots > closableLots(o.position, o.side))
      throw new Rejection('REDUCE_ONLY_WOULD_INCREASE', 'reduce-only size exceeds the position');
    const req = o.reduceOnly
      ? { openLots: 0, total: 0n }
      : this.orderNeeds(o.position.silo, o.position, o.side, lots, ticks);
    const w = a.wallets.get(m.asset)!;
    const extra = req.total - o.reserved;
    if (extra > 0n && extra > this.freeFor(a, o.position))
      throw new Rejection('INSUFFICIENT_MARGIN', 'not enough available balance for the amended order');
    if (req.openLots > 0) this.checkTier(o.position, o.side, req.openLots, ticks);
    const keep = ticks === o.priceTicks && lots < o.remainingLots;
    if (ticks === o.priceTicks && lots === o.remainingLots) return undefined;
    // ---- mutate ----
    if (extra > 0n) {
      if (o.position.silo !== null) o.position.silo.orderRequirement += extra;
      else if (o.mode === 'isolated') this.ledger.transfer(w.main, w.reserved, extra, 'orderReserve');
      else w.crossOrderRequirement += extra;
      o.reserved += extra;
    } else this.release(o, -extra);
    o.reservedLots = req.openLots;
    if (keep) m.book.reduce(o, lots);
    else {
      m.book.remove(o);
      (o as { priceTicks: number }).priceTicks = ticks;
      o.remainingLots = lots;
      if (!m.book.add(o)) {
        a.orders.delete(o.id);
        unindexClientOrder(o);
        o.position.openOrders -= 1;
        this.finishOrder(o, 'bookFull');
        return undefined;
      }
    }
    this.events.push({
      type: 'orderAmended',
      orderId: o.id,
      account: a.id,
      symbol: m.symbol,
      price: m.price(ticks),
      size: m.size(lots),
      priorityKept: keep,
    });
    return undefined;
  }

  // -------------------------------------------------------------------------------------------------------
  // Matching and fills

  /** Matches a taker against the book. Returns why matching stopped early (the rest is cancelled), or null. */
  private match(taker: Order, opposite: BookSide): CancelReason | null {
    const m = taker.market;
    let fills = 0;
    while (taker.remainingLots > 0) {
      const maker = m.book.best(opposite) as Order | null;
      if (!maker) return null;
      if (taker.side === 'buy' ? maker.priceTicks > taker.priceTicks : maker.priceTicks < taker.priceTicks)
        return null;
      if (fills >= MAX_FILLS_PER_COMMAND) return 'fillLimit';
      if (maker.accountId === taker.accountId) {
        if (taker.stp === 'cancelTaker') return 'selfTrade';
        this.cancelResting(maker, 'selfTrade');
        if (taker.stp === 'cancelBoth') return 'selfTrade';
        continue;
      }
      let lots = Math.min(taker.remainingLots, maker.remainingLots);
      if (taker.reduceOnly) lots = Math.min(lots, closableLots(taker.position, taker.side));
      if (lots === 0) return 'reduceOnly';
      if (maker.reduceOnly) {
        const cap = closableLots(maker.position, maker.side);
        if (cap === 0) {
          this.cancelResting(maker, 'reduceOnly');
          continue;
        }
        lots = Math.min(lots, cap);
      }
      const makerPlan = this.planSide(maker, lots, maker.priceTicks, m.makerFee);
      // A maker that rested before the oracle paused risk-increasing trades may not open new exposure now.
      if (
        makerPlan &&
        makerPlan.openLots > 0 &&
        m.oracle &&
        !allows('increaseRisk', validityAt(m, this.now))
      ) {
        this.cancelResting(maker, 'oraclePaused');
        continue;
      }
      if (!makerPlan) {
        this.cancelResting(maker, 'marginCheck');
        continue;
      }
      const takerPlan = this.planSide(taker, lots, maker.priceTicks, taker.liquidation ? 0n : m.takerFee);
      if (!takerPlan) return 'marginCheck';
      this.fill(taker, maker, takerPlan, makerPlan, lots);
      fills += 1;
    }
    return null;
  }

  /**
   * Plans one side of a fill without mutating: how many lots close and open, the fee, the share of the order's
   * reserve this fill may use, and whether the opening part is covered. Null when it is not.
   */
  private planSide(o: Order, lots: number, ticks: number, feeRate: bigint): FillPlan | null {
    const p = o.position;
    const m = o.market;
    const closeLots = Math.min(lots, closableLots(p, o.side));
    const openLots = lots - closeLots;
    const price = m.price(ticks);
    const fillNotional = notional(m.inst, m.size(lots), price, 'ceil');
    const fee = feeFor(fillNotional, feeRate);
    // A voluntary close (either side of a fill, unless it is the liquidation order) may realize a loss only up to
    // the holder's bankruptcy price: past it the loss would be the insurance fund's, and that is the liquidation
    // engine's call, never a trader's. The fill is refused (the taker stops, a maker is cancelled); at prices up
    // to the bankruptcy price it goes through, and its fee is capped at what is left above it. The backstop is
    // exempt: its wallet is the fund, so its losses are the fund's whatever the price.
    let feeCap: bigint | null = null;
    const voluntary = !o.liquidation && o.account.id !== BACKSTOP_ACCOUNT;
    if (closeLots > 0 && voluntary) {
      feeCap = closeRoom(o.account, p, closeLots, price);
      if (feeCap < 0n) return null;
    }
    // Pro rata to the lots it opens, rounded down (a fill draws no more than its share; the last one takes the rest).
    const share =
      o.reservedLots === 0
        ? 0n
        : o.reservedLots <= openLots
          ? o.reserved
          : (o.reserved * BigInt(openLots)) / BigInt(o.reservedLots);
    const openNotional = openLots === lots ? fillNotional : notional(m.inst, m.size(openLots), price, 'ceil');
    let im = openLots === 0 ? 0n : initialMarginAtLeverage(openNotional, p.leverage);
    // A netted silo's leg needs what the fill adds to the silo's netted initial margin.
    if (openLots > 0 && p.silo?.riskModel === 'netted')
      im = marginalInitialMargin(p.silo, p, o.side === 'buy' ? 1 : -1, openLots, price, this.netting);
    if (openLots > 0 && p.mode === 'isolated' && m.mark !== null) {
      // An isolated position opened past the mark (a buy above it, a sell below) is born with that loss: its bucket
      // takes the loss on top of initial margin, as the order's reserve already provided for. Without it the
      // bucket held bare initial margin against an equity already short of it, and the position was liquidatable
      // the moment it opened.
      const atMark = unrealizedPnl(
        m.inst,
        { side: o.side === 'buy' ? 'long' : 'short', size: m.size(openLots), entryPrice: price },
        m.mark,
      );
      if (atMark < 0n) im += -atMark;
    }
    if (openLots > 0) {
      const need = im + maxBig(fee, 0n);
      // Isolated: the share is money already set aside; cross: it is a requirement about to be lifted.
      // Either way only `need − share` must come from available: for cross, `available` already has the whole
      // reserve subtracted (crossOrderRequirement), so lifting the share frees exactly `share` — adding it again
      // here (as this check once did) let a cross maker open twice its share beyond what the account could back.
      if (need > share && need - share > this.freeFor(o.account, p)) return null;
    }
    return { closeLots, openLots, price, fee, feePaid: 0n, share, im, feeCap, voluntary };
  }

  private fill(taker: Order, maker: Order, tp: FillPlan, mp: FillPlan, lots: number): void {
    const m = taker.market;
    const longBefore = longLots(taker.position) + longLots(maker.position);
    this.settleSide(taker, tp);
    this.settleSide(maker, mp);
    // Rebates are paid out of this fill's taker fee, so the fee account never goes negative.
    const takerFee = tp.feePaid;
    const makerFee = mp.feePaid;
    taker.remainingLots -= lots;
    if (maker.remainingLots === lots) {
      // Remove BEFORE zeroing: book.remove() takes the order's remainingLots off its level's total, so zeroing
      // first left the filled lots counted in the level (wrong L2 depth, and FOK liquidity checks that pass
      // against lots that are gone) whenever other orders remained at that price.
      m.book.remove(maker);
      maker.remainingLots = 0;
      maker.account.orders.delete(maker.id);
      unindexClientOrder(maker);
      maker.position.openOrders -= 1;
      this.finishOrder(maker, null);
    } else m.book.reduce(maker, maker.remainingLots - lots);
    m.openInterestLots += longLots(taker.position) + longLots(maker.position) - longBefore;
    m.last = tp.price;
    if (taker.liquidation) {
      this.liqFill.lots += lots;
      this.liqFill.value += notional(m.inst, m.size(lots), tp.price, 'ceil');
      this.liqFill.tickLots += BigInt(maker.priceTicks) * BigInt(lots);
    }
    this.events.push({
      type: 'trade',
      symbol: m.symbol,
      price: tp.price,
      size: m.size(lots),
      takerOrderId: taker.id,
      makerOrderId: maker.id,
      taker: taker.account.id,
      maker: maker.account.id,
      takerSide: taker.side,
      takerFee,
      makerFee,
    });
    this.emitPosition(taker.position);
    this.emitPosition(maker.position);
  }

  /** Applies one side of a fill: realize PnL on the closing lots, pay the fee, release/commit margin. */
  private settleSide(o: Order, plan: FillPlan): void {
    const p = o.position;
    const m = o.market;
    const w = o.account.wallets.get(m.asset)!;
    const iso = p.mode === 'isolated';
    // A named silo's leg settles against the silo's bucket: its PnL and fees never touch the owner's main.
    const holder = holderOf(p);
    // Funding accrued at the old size settles before the size changes.
    settleFundingFor(this, p);
    // 1. Closing lots: realized PnL against the market's clearing account; a loss the holder cannot cover is
    //    drawn from the insurance fund, never from another bucket.
    if (plan.closeLots > 0) {
      const lotsBefore = p.lots;
      const bucketBefore = p.bucket.balance;
      const pnl = unrealizedPnl(
        m.inst,
        { side: p.sign > 0 ? 'long' : 'short', size: m.size(plan.closeLots), entryPrice: p.entryPrice },
        plan.price,
      );
      // A voluntary cross close whose loss (and fee) the cash cannot pay realizes the account's other profits first:
      // closeRoom counted them, and the loss must not reach the fund while the account holds the money.
      if (plan.voluntary && !iso && pnl < 0n)
        coverFromProfits(
          this,
          o.account,
          m.asset,
          -pnl + maxBig(0n, minBig(plan.fee, plan.feeCap ?? plan.fee)),
          p,
        );
      this.settlePnl(p, holder, pnl, plan.voluntary);
      p.realizedPnl += pnl;
      p.lots -= plan.closeLots;
      if (p.lots === 0) {
        p.sign = 0;
        p.entryPrice = 0n;
        m.openPositions -= 1;
      }
      // The fee of a pure close comes from the holder, capped (a close needs no free balance for it) — and for a
      // voluntary close capped at what the closing lots leave above bankruptcy, so the fee is never what pushes
      // the rest of the position (or a cross account) past it.
      if (plan.openLots === 0)
        plan.feePaid = this.payFee(
          holder,
          m,
          plan.feeCap === null ? plan.fee : minBig(plan.fee, plan.feeCap),
          p.silo === null ? w.main : holder,
        );
      if (iso && !o.liquidation) {
        // Partial close: the closing lots take their pro-rata share of the bucket as it was BEFORE their PnL and
        // fee settled, plus that PnL less the fee (never below zero); the remaining lots keep their own share.
        // (Splitting the bucket after settling, as this once did, made the remaining lots bear part of the closed
        // lots' loss: closing half a solvent losing long at mark left the rest bankrupt and paid its collateral
        // out to main — a way to move an isolated loss onto the insurance fund.)
        const settled = p.bucket.balance - bucketBefore; // PnL (as far as the bucket covered it) less the fee paid
        // Rounded down: the rounding unit stays with the lots that remain open.
        const closedShare = (bucketBefore * BigInt(plan.closeLots)) / BigInt(lotsBefore);
        const release =
          p.lots === 0 ? p.bucket.balance : minBig(p.bucket.balance, maxBig(0n, closedShare + settled));
        if (release > 0n) this.ledger.transfer(p.bucket, w.main, release, 'marginRelease');
      }
    }
    // 2. Opening lots: commit initial margin (isolated) from the order's reserve, topping up from main.
    let share = plan.share;
    if (plan.openLots > 0) {
      const openSign = o.side === 'buy' ? 1 : -1;
      if (iso) {
        // Money set aside for this order pays first; the plan checked main covers any shortfall.
        share = this.payFromReserve(o, w, share, plan.im, p.bucket, 'initialMargin');
        if (plan.fee > 0n) {
          share = this.payFromReserve(o, w, share, plan.fee, m.fees, 'fee');
          plan.feePaid = plan.fee; // the plan checked reserve + available cover it in full
        } else plan.feePaid = this.payFee(w.main, m, plan.fee, w.main);
      } else {
        // Cross (or a silo's leg): the pool itself is the collateral; only the fee moves.
        plan.feePaid = this.payFee(holder, m, plan.fee, holder);
      }
      if (p.sign === 0) {
        p.sign = openSign as 1 | -1;
        p.lots = plan.openLots;
        p.entryPrice = plan.price;
        p.fundingIndex = m.funding?.cumIndex ?? 0n;
        p.fundingEpoch = m.funding?.epoch ?? 0;
        m.openPositions += 1;
        m.positions.add(p);
      } else {
        const total = BigInt(p.lots + plan.openLots);
        const num = p.entryPrice * BigInt(p.lots) + plan.price * BigInt(plan.openLots);
        // Average entry rounds against the holder: a long's up, a short's down.
        p.entryPrice = p.sign > 0 ? (num + total - 1n) / total : num / total;
        p.lots += plan.openLots;
      }
      o.reservedLots = Math.max(0, o.reservedLots - plan.openLots);
      // Whatever of this fill's share was not needed goes back (a better fill price needs less margin).
      if (share > 0n) this.release(o, share);
    }
  }

  /** Pays `amount` to `to` from the order's reserve share first, then from main; returns the share left. */
  private payFromReserve(
    o: Order,
    w: Wallet,
    share: bigint,
    amount: bigint,
    to: LedgerAccount,
    reason: 'initialMargin' | 'fee',
  ): bigint {
    if (amount <= 0n) return share;
    const r = amount < share ? amount : share;
    if (r > 0n) this.ledger.transfer(w.reserved, to, r, reason);
    if (amount > r) this.ledger.transfer(w.main, to, amount - r, reason);
    o.reserved -= r;
    return share - r;
  }

  /**
   * @internal Realized PnL between the holder and the market's clearing account; a loss the holder cannot cover is
   * the insurance fund's (recorded). `voluntary`: a trader's own fill, which planSide bounded at the bankruptcy
   * price — reaching the fund from one is a bug, not a draw.
   */
  settlePnl(p: Position, holder: LedgerAccount, pnl: bigint, voluntary = false): void {
    const m = p.market;
    if (pnl >= 0n) {
      this.ledger.transfer(m.clearing, holder, pnl, 'realizedPnl');
      return;
    }
    const loss = -pnl;
    // A holder below zero covers nothing: only the insurance fund may be, after recorded draws (the backstop's
    // wallet is the fund's own account).
    const covered = minBig(loss, maxBig(holder.balance, 0n));
    if (voluntary && loss > covered)
      throw new Error(
        `bug: a voluntary close of ${p.account.id}:${m.symbol} would draw on the insurance fund`,
      );
    this.ledger.transfer(holder, m.clearing, covered, 'realizedPnl');
    if (loss > covered) {
      // The holder is bankrupt on this close: the insurance fund pays the rest, and the draw is recorded.
      this.ledger.transfer(m.insurance, m.clearing, loss - covered, 'insuranceCover');
      this.events.push({
        type: 'insuranceDraw',
        asset: m.asset,
        account: p.account.id,
        symbol: m.symbol,
        amount: loss - covered,
      });
    }
  }

  /**
   * Fee (> 0) from the holder, capped at what it holds; rebate (< 0) to the account's main balance, capped at what
   * the fee account holds. Returns what actually moved (a rebate negative), which is what the trade event reports.
   */
  private payFee(holder: LedgerAccount, m: Market, fee: bigint, rebateTo: LedgerAccount): bigint {
    if (fee > 0n) {
      const paid = minBig(fee, maxBig(holder.balance, 0n));
      this.ledger.transfer(holder, m.fees, paid, 'fee');
      return paid;
    }
    if (fee < 0n) {
      const rebate = minBig(-fee, maxBig(m.fees.balance, 0n));
      this.ledger.transfer(m.fees, rebateTo, rebate, 'rebate');
      return -rebate;
    }
    return 0n;
  }

  /** @internal */
  emitPosition(p: Position): void {
    this.liqDirty.add(p);
    this.events.push({
      type: 'position',
      account: p.account.id,
      symbol: p.market.symbol,
      side: p.side,
      size: p.size,
      entryPrice: p.entryPrice,
      collateral: p.mode === 'isolated' ? p.bucket.balance : 0n,
      realizedPnl: p.realizedPnl,
      ...(p.silo !== null ? { silo: p.silo.id } : {}),
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Liquidation support (the procedure itself is in liquidation.ts)

  private readonly liqFill = { lots: 0, value: 0n, tickLots: 0n };

  /** @internal a position whose liquidation trigger must be recomputed before the command ends. */
  markLiquidationDirty(p: Position): void {
    this.liqDirty.add(p);
  }

  /** @internal re-files every position and cross bucket whose state changed, and flags their markets. */
  flushLiquidationDirty(): void {
    const touched = this.ledger.touched;
    if (this.liqDirty.size === 0 && touched.size === 0) return;
    let crossDirty: Map<Account, Set<string>> | null = null;
    const addCross = (a: Account, asset: string) => {
      crossDirty ??= new Map();
      const s = crossDirty.get(a) ?? new Set<string>();
      crossDirty.set(a, s);
      s.add(asset);
    };
    // Named silos touched (allocated only when one is: this runs on every command).
    let silos: Set<Silo> | null = null;
    const addSilo = (s: Silo) => {
      silos ??= new Set();
      silos.add(s);
    };
    for (const l of touched) {
      if (l.owner instanceof Position) this.liqDirty.add(l.owner);
      else if (l.owner instanceof Account) addCross(l.owner, l.asset);
      else if (l.owner instanceof Silo) addSilo(l.owner);
    }
    touched.clear();
    for (const p of this.liqDirty) {
      if ((p.mode === 'isolated' || p.sign === 0) && touchIsolated(this, p)) this.sweepMarkets.add(p.market);
      if (p.mode === 'cross') {
        if (p.silo !== null) addSilo(p.silo);
        else addCross(p.account, p.market.asset);
      }
    }
    this.liqDirty.clear();
    // A named silo is a pooled bucket of its own: its legs are re-filed together, as an account's cross positions.
    if (silos !== null)
      for (const silo of silos as Set<Silo>)
        for (const m of touchCross(this, silo.account, silo.asset, silo)) this.sweepMarkets.add(m);
    if (crossDirty === null) return;
    for (const [a, assets] of crossDirty as Map<Account, Set<string>>) {
      for (const asset of assets) {
        for (const m of touchCross(this, a, asset)) this.sweepMarkets.add(m);
        // Auto-add triggers depend on the free balance too.
        for (const p of a.positions.values()) {
          if (!p.autoAdd || p.mode !== 'isolated' || p.sign === 0 || p.market.asset !== asset) continue;
          // Money became free after a margin call: auto-add may try again.
          if (p.marginCalled && available(a, a.wallets.get(asset)!, asset) > 0n) p.marginCalled = false;
          if (touchIsolated(this, p)) this.sweepMarkets.add(p.market);
        }
      }
    }
  }

  /**
   * @internal Sends a reduce-only IOC for `lots` of `p` at `limitTicks` into the book as a liquidation order and
   * reports what filled (lots, notional, average price).
   */
  placeLiquidationOrder(
    p: Position,
    lots: number,
    limitTicks: number,
  ): { lots: number; value: bigint; avgPrice: bigint } {
    const m = p.market;
    const side = p.sign > 0 ? 'sell' : 'buy';
    const order: Order = {
      id: this.nextOrderId++,
      accountId: p.account.n,
      side,
      priceTicks: Math.max(1, Math.min(limitTicks, MAX_PRICE_TICKS)),
      remainingLots: lots,
      prev: null,
      next: null,
      level: null,
      account: p.account,
      market: m,
      position: p,
      sizeLots: lots,
      tif: 'IOC',
      reduceOnly: true,
      clientOrderId: null,
      stp: 'cancelMaker',
      mode: p.mode,
      reserved: 0n,
      reservedLots: 0,
      liquidation: true,
    };
    this.liqFill.lots = 0;
    this.liqFill.value = 0n;
    this.liqFill.tickLots = 0n;
    this.events.push({
      type: 'orderAccepted',
      orderId: order.id,
      account: p.account.id,
      symbol: m.symbol,
      side,
      price: m.price(order.priceTicks),
      size: m.size(lots),
      timeInForce: 'IOC',
      reduceOnly: true,
    });
    const stopped = this.match(order, side === 'buy' ? 'sell' : 'buy');
    this.finishOrder(order, stopped ?? 'ioc');
    const f = this.liqFill;
    const avgTicks = f.lots === 0 ? 0n : f.tickLots / BigInt(f.lots);
    return { lots: f.lots, value: f.value, avgPrice: avgTicks * m.inst.tickSize };
  }

  /**
   * @internal Moves lots of the liquidated position `from` to each counterparty `to` at `price` (backstop takeover or
   * ADL): `from` closes, each `to` closes its opposite position or opens; no fees, no margin checks (a counterparty
   * only reduces, the backstop is the fund). `from` realizes its whole close in one step: split per counterparty, each
   * part's loss rounded up on its own would cost it up to a unit more per part than its bankruptcy price allows, a
   * unit the fund would pay. Realized losses beyond a holder's balance are the insurance fund's, recorded.
   */
  transferPosition(
    from: Position,
    legs: readonly { to: Position; lots: number }[],
    price: bigint,
    liquidated: boolean,
  ): void {
    const m = from.market;
    const longBefore = legs.reduce((n, l) => n + longLots(l.to), longLots(from));
    const side = (p: Position, closing: boolean): 'buy' | 'sell' => (p.sign > 0 === closing ? 'sell' : 'buy');
    const fromSide = side(from, true);
    const toSide = fromSide === 'buy' ? 'sell' : 'buy';
    const pseudo = (p: Position, s: 'buy' | 'sell', lots: number, liq: boolean): Order => ({
      id: 0,
      accountId: p.account.n,
      side: s,
      priceTicks: 0, // unused by settleSide: the plan carries the price
      remainingLots: lots,
      prev: null,
      next: null,
      level: null,
      account: p.account,
      market: m,
      position: p,
      sizeLots: lots,
      tif: 'IOC',
      reduceOnly: false,
      clientOrderId: null,
      stp: 'cancelMaker',
      mode: p.mode,
      reserved: 0n,
      reservedLots: 0,
      liquidation: liq,
    });
    const plan = (p: Position, s: 'buy' | 'sell', lots: number): FillPlan => {
      const closeLots = Math.min(lots, closableLots(p, s));
      return {
        closeLots,
        openLots: lots - closeLots,
        price,
        fee: 0n,
        feePaid: 0n,
        share: 0n,
        im: 0n,
        feeCap: null,
        voluntary: false,
      };
    };
    const total = legs.reduce((n, l) => n + l.lots, 0);
    this.settleSide(pseudo(from, fromSide, total, liquidated), plan(from, fromSide, total));
    for (const { to, lots } of legs) this.settleSide(pseudo(to, toSide, lots, false), plan(to, toSide, lots));
    m.openInterestLots += legs.reduce((n, l) => n + longLots(l.to), longLots(from)) - longBefore;
  }

  /** @internal The backstop's position on `m`, opening the backstop account (its wallet is the fund) on first use. */
  backstopPosition(m: Market): Position {
    let a = this.accounts.get(BACKSTOP_ACCOUNT);
    if (!a) {
      a = new Account(BACKSTOP_ACCOUNT, this.accounts.size + 1);
      this.accounts.set(a.id, a);
    }
    if (!a.wallets.has(m.asset)) {
      a.wallets.set(
        m.asset,
        new Wallet(
          this.ledger.systemAccount('insurance', m.asset),
          this.ledger.open('reserved', m.asset, `${BACKSTOP_ACCOUNT}:reserved:${m.asset}`),
        ),
      );
    }
    let p = a.positions.get(m.symbol);
    if (!p) {
      p = this.positionOf(a, m);
      p.mode = 'cross';
      p.leverage = m.inst.maxLeverage;
    }
    return p;
  }

  /** Rebuilds the liquidation index from positions (after restoring a snapshot): a cache of state, not state. */
  rebuildLiquidationIndex(): void {
    for (const a of this.accounts.values()) {
      const crossAssets = new Set<string>();
      for (const p of a.positions.values()) {
        if (p.mode === 'isolated') fileIsolated(this, p);
        else if (p.sign !== 0 && p.silo === null) crossAssets.add(p.market.asset);
      }
      for (const asset of crossAssets) fileCross(this, a, asset);
      for (const silo of a.silos.values()) fileCross(this, a, silo.asset, silo);
    }
  }

  /** The insurance fund's balance in `asset` (negative only after a recorded draw it could not cover). */
  insuranceFund(asset: string): bigint {
    return this.assets.has(asset) ? this.ledger.systemAccount('insurance', asset).balance : 0n;
  }

  fmtMoney(asset: string, v: bigint): string {
    return formatDecimal(v, this.assets.get(asset) ?? 0);
  }
}

interface FillPlan {
  closeLots: number;
  openLots: number;
  price: bigint;
  fee: bigint;
  /** The fee actually collected (or rebate paid), set when the fill settles. */
  feePaid: bigint;
  share: bigint;
  im: bigint;
  /** A voluntary close: the most its fee may take (what the closing lots leave above bankruptcy); null: no cap. */
  feeCap: bigint | null;
  /** A trader's own fill (not a liquidation order, ADL or backstop transfer, nor the backstop's own order). */
  voluntary: boolean;
}

function longLots(p: Position): number {
  return p.sign > 0 ? p.lots : 0;
}
