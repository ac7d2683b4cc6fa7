/**
 * Market and venue commands (admin and price feed): createMarket, closeMarket, delistMarket, setMarkPrice,
 * oracleQuote (prices.ts), tick, settleFunding, fundInsurance, setNetting, setStrategyMargin. Each handler validates in full, then
 * mutates; what moves a price adds the market to `e.sweepMarkets`, and `apply` sweeps it before the command ends.
 */
import { type NettingParams, parseNetting } from '../../core/silo.ts';
import { parseStrategyMarginParams, type StrategyMarginParams } from '../../core/strategy/index.ts';
import type { Order, Position } from '../account.ts';
import type { LedgerAccount } from '../ledger.ts';
import { touchCross } from '../liquidation.ts';
import { Market } from '../market.ts';
import { cancelResting } from '../match.ts';
import { linkOptions, registerOptionMarket, validateOptionMarket } from '../options.ts';
import { runScheduled } from '../prices.ts';
import { settleFundingFor } from '../settle.ts';
import { type EngineState, walletOf } from '../state.ts';
import { isStrategyModel } from '../strategy-silos.ts';
import { type Cmd, type MarketConfig, Rejection } from '../types.ts';
import { accountOf, amountOf, marketOf, parsed } from '../validate.ts';

export { oracleQuote } from '../prices.ts';

export const MAX_MARKETS = 256;

export function createMarket(e: EngineState, cmd: Cmd<'createMarket'>): undefined {
  const cfg = cmd.market as MarketConfig | undefined;
  if (typeof cfg !== 'object' || cfg === null)
    throw new Rejection('INVALID_COMMAND', 'market config required');
  if (e.markets.has(cfg.symbol)) throw new Rejection('MARKET_EXISTS', `market ${cfg.symbol} exists`);
  if (e.markets.size >= MAX_MARKETS) throw new Rejection('LIMIT_EXCEEDED', `at most ${MAX_MARKETS} markets`);
  const m = parsed(() => new Market(cfg));
  validateOptionMarket(e, m);
  const dp = e.assets.get(m.asset);
  if (dp !== undefined && dp !== m.inst.settleDp) {
    throw new Rejection('INVALID_COMMAND', `asset ${m.asset} already uses ${dp} decimals`);
  }
  // ---- validated ----
  m.attach(e.ledger, cmd.time);
  e.assets.set(m.asset, m.inst.settleDp);
  e.markets.set(m.symbol, m);
  registerOptionMarket(e, m);
  linkOptions(e); // a new option, or a future giving an expiry its forward
  e.events.push({ type: 'marketCreated', symbol: m.symbol });
  return undefined;
}

export function setMarkPrice(e: EngineState, cmd: Cmd<'setMarkPrice'>): undefined {
  const m = marketOf(e, cmd.symbol);
  if (m.oracle)
    throw new Rejection('INVALID_COMMAND', `${m.symbol} derives its mark from its oracle; send oracleQuote`);
  if (m.closed) throw new Rejection('MARKET_CLOSED', `${m.symbol} has settled`);
  const price = m.price(m.priceTicks(cmd.price, 'price'));
  // ---- validated ----
  m.mark = price;
  e.sweepMarkets.add(m);
  e.markMoved.add(m);
  e.events.push({ type: 'markPrice', symbol: m.symbol, price });
  return undefined;
}

/** Scheduled work (staleness, funding, expiry) up to the command's time; then every market is swept. */
export function tick(e: EngineState, cmd: Cmd<'tick'>): undefined {
  runScheduled(e, cmd.time);
  // Cooldowns end and oracles resume with time alone: look at every market (O(log n) each when quiet).
  for (const m of e.markets.values()) e.sweepMarkets.add(m);
  return undefined;
}

/** Settles one position's pending funding now (otherwise it settles when the position next changes). */
export function settleFunding(e: EngineState, cmd: Cmd<'settleFunding'>): undefined {
  const p = accountOf(e, cmd.account).positions.get(marketOf(e, cmd.symbol).symbol);
  if (!p || p.sign === 0) throw new Rejection('INVALID_COMMAND', `no open ${cmd.symbol} position`);
  settleFundingFor(e, p);
  return undefined;
}

/**
 * Closes a market to new risk (admin). Validated in full first: the market exists and is neither settled nor
 * already closing. Then every resting order that is not reduce-only is canceled (filled, it could add risk);
 * reduce-only orders stay, and positions wind down through them, liquidation and expiry as before.
 */
export function closeMarket(e: EngineState, cmd: Cmd<'closeMarket'>): undefined {
  const m = marketOf(e, cmd.symbol);
  if (m.closed) throw new Rejection('MARKET_CLOSED', `${m.symbol} has settled`);
  if (m.reduceOnly) throw new Rejection('MARKET_CLOSED', `${m.symbol} is already closed to new risk`);
  // ---- validated ----
  m.reduceOnly = true;
  // Collected first (in the book's deterministic order): canceling changes the book being walked.
  const victims = [...m.book.orders()]
    .map((bo) => bo as Order)
    .filter((o) => !o.reduceOnly && !o.liquidation);
  for (const o of victims) cancelResting(e, o, 'marketClosing');
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
export function delistMarket(e: EngineState, cmd: Cmd<'delistMarket'>): undefined {
  const m = marketOf(e, cmd.symbol);
  if (!m.reduceOnly && !m.closed)
    throw new Rejection('MARKET_NOT_FLAT', `${m.symbol} is open to new risk: close it first`);
  // An underlying stays while an option on it is open: its index prices and settles them.
  for (const o of e.markets.values())
    if (o.option?.underlying === m.symbol && !o.closed)
      throw new Rejection('MARKET_NOT_FLAT', `${o.symbol} is an open option on ${m.symbol}`);
  // Its index prices silos' holdings of an asset (collateral.ts): it stays while any silo holds some.
  for (const c of e.collateralAssets.values())
    if (c.priceMarket === m.symbol && c.holders.size > 0)
      throw new Rejection(
        'MARKET_NOT_FLAT',
        `${c.holders.size} silo(s) hold ${c.asset} that ${m.symbol}'s index values as collateral`,
      );
  // Orders first: a reduce-only order resting against an open position is the step to finish before closing it.
  const resting = m.book.orderCount() + m.triggers.size; // untriggered stop-loss / take-profit orders too
  if (resting !== 0)
    throw new Rejection('MARKET_NOT_FLAT', `${m.symbol} still has ${resting} resting order(s)`);
  // `m.positions` holds those that ever opened; a leverage or margin-mode setting, or an order that never filled,
  // leaves a flat Position in its account only. Every account is scanned (an admin command, once per market).
  const held = new Set<Position>(m.positions);
  for (const a of e.accounts.values()) {
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
  // ---- validated ----
  const residue = (l: LedgerAccount) => {
    if (l.balance > 0n) e.ledger.transfer(l, m.fees, l.balance, 'delistResidue');
    else if (l.balance < 0n) e.ledger.transfer(m.insurance, l, -l.balance, 'delistResidue');
  };
  residue(m.clearing);
  residue(m.fundingPool);
  const gone = new Set<LedgerAccount>([m.clearing, m.fundingPool]);
  for (const p of held) {
    // A flat position's bucket is empty (margin is released on the closing fill); kept as a guard.
    if (p.bucket.balance > 0n)
      e.ledger.transfer(p.bucket, walletOf(e, p.account, m.asset).main, p.bucket.balance, 'marginRelease');
    if (p.silo === null) gone.add(p.bucket); // a silo leg's is detached (never in the ledger)
    if (p.account.positions.get(p.key) === p) p.account.positions.delete(p.key);
    if (p.silo?.positions.get(m.symbol) === p) p.silo.positions.delete(m.symbol);
    e.liqDirty.delete(p);
  }
  m.positions.clear();
  e.ledger.remove(gone);
  e.sweepMarkets.delete(m);
  e.markets.delete(m.symbol);
  linkOptions(e);
  e.events.push({ type: 'marketDelisted', symbol: m.symbol });
  return undefined;
}

export function fundInsurance(e: EngineState, cmd: Cmd<'fundInsurance'>): undefined {
  const amount = amountOf(e, cmd.amount, cmd.asset, 'amount');
  e.ledger.transfer(
    e.ledger.systemAccount('external', cmd.asset),
    e.ledger.systemAccount('insurance', cmd.asset),
    amount,
    'insuranceFund',
  );
  return undefined;
}

/** Admin: netted-model parameters; fields not sent keep their value. Every netted silo is re-filed. */
export function setNetting(e: EngineState, cmd: Cmd<'setNetting'>): undefined {
  const given: Record<string, unknown> = {};
  if (cmd.floor !== undefined) given.floor = cmd.floor;
  if (cmd.sameBase !== undefined) given.sameBase = cmd.sameBase;
  if (cmd.correlations !== undefined) given.correlations = cmd.correlations;
  const parsedNetting: NettingParams = parsed(() => parseNetting(given, 'netting'));
  // ---- validated ----
  e.netting = {
    floor: cmd.floor !== undefined ? parsedNetting.floor : e.netting.floor,
    sameBase: cmd.sameBase !== undefined ? parsedNetting.sameBase : e.netting.sameBase,
    correlations: cmd.correlations !== undefined ? parsedNetting.correlations : e.netting.correlations,
    grid: e.netting.grid,
  };
  for (const a of e.accounts.values())
    for (const silo of a.silos.values())
      if (silo.riskModel === 'netted')
        for (const m of touchCross(e, a, silo.asset, silo)) e.sweepMarkets.add(m);
  return undefined;
}

/**
 * Admin: the option strategy models' parameters, validated in full by core parseStrategyMarginParams (strict: an
 * unknown field or a bad value is refused naming it); top-level fields not sent keep their value. Every maxLoss,
 * strategy and scenario silo is re-filed (and checked) under them.
 */
export function setStrategyMargin(e: EngineState, cmd: Cmd<'setStrategyMargin'>): undefined {
  const given = cmd.params;
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new Rejection('INVALID_COMMAND', 'params must be an object');
  const p: StrategyMarginParams = parsed(() => parseStrategyMarginParams(given, 'params'));
  // ---- validated ----
  const keep = e.strategyMargin;
  e.strategyMargin = {
    unpairedIMScale: given.unpairedIMScale !== undefined ? p.unpairedIMScale : keep.unpairedIMScale,
    unpairedMMScale: given.unpairedMMScale !== undefined ? p.unpairedMMScale : keep.unpairedMMScale,
    scenario: given.scenario !== undefined ? p.scenario : keep.scenario,
  };
  for (const a of e.accounts.values())
    for (const silo of a.silos.values())
      if (isStrategyModel(silo.riskModel))
        for (const m of touchCross(e, a, silo.asset, silo)) e.sweepMarkets.add(m);
  return undefined;
}
