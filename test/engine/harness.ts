/** Shared fixtures for engine tests: markets, a command helper that asserts acceptance, and invariant checks. */
import assert from 'node:assert/strict';
import { haircutValue } from '../../src/core/collateral.ts';
import { unrealizedPnl } from '../../src/core/margin.ts';
import { nettedRequirement, type SiloLeg } from '../../src/core/silo.ts';
import { MAX_OPEN_ORDERS_PER_ACCOUNT, type Silo } from '../../src/engine/account.ts';
import { Engine, restoreEngine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { BACKSTOP_ACCOUNT } from '../../src/engine/liquidation.ts';
import type { Market } from '../../src/engine/market.ts';
import { allows } from '../../src/engine/oracle.ts';
import { validityAt } from '../../src/engine/prices.ts';
import {
  bucketAfterFunding,
  legMaintenance,
  pendingFunding,
  positionInput,
  valuationPrice,
} from '../../src/engine/risk.ts';
import { siloFigures } from '../../src/engine/silos.ts';
import { snapshotEngine } from '../../src/engine/snapshot.ts';
import { isStrategyModel } from '../../src/engine/strategy-silos.ts';
import { firesOnRise, reached } from '../../src/engine/trigger-index.ts';
import type { ApplyResult, Command, MarketConfig } from '../../src/engine/types.ts';

export const BTCUSDT: MarketConfig = {
  symbol: 'BTCUSDT',
  kind: 'linear',
  base: 'BTC',
  quote: 'USDT',
  tickSize: '0.1',
  lotSize: '0.001',
  settleDp: 8,
  maxLeverage: '125',
  takerFee: '0.0005',
  makerFee: '0.0002',
  limitBand: '0.2',
  marketBand: '0.05',
  defaultLeverage: '10',
  risk: {
    kind: 'brackets',
    tiers: [
      { cap: '50000', mmr: '0.004', maxLeverage: '125' },
      { cap: '250000', mmr: '0.005', maxLeverage: '100' },
      { cap: '1000000', mmr: '0.01', maxLeverage: '50' },
      { cap: '10000000', mmr: '0.025', maxLeverage: '20' },
      { cap: null, mmr: '0.05', maxLeverage: '10' },
    ],
  },
};
export const ETHUSDT: MarketConfig = {
  ...BTCUSDT,
  symbol: 'ETHUSDT',
  base: 'ETH',
  tickSize: '0.01',
  lotSize: '0.01',
  makerFee: '-0.0001',
};
export const BTCUSD: MarketConfig = {
  symbol: 'BTCUSD',
  kind: 'inverse',
  base: 'BTC',
  quote: 'USD',
  tickSize: '0.5',
  lotSize: '1',
  multiplier: '1',
  settleDp: 8,
  maxLeverage: '100',
  takerFee: '0.00075',
  makerFee: '-0.00025',
  defaultLeverage: '10',
  limitBand: '0.2',
  risk: {
    kind: 'brackets',
    tiers: [
      { cap: '200', mmr: '0.005', maxLeverage: '100' },
      { cap: null, mmr: '0.01', maxLeverage: '50' },
    ],
  },
};

let clock = 1_700_000_000_000;
export function t(): number {
  clock += 1;
  return clock;
}

export type Cmd = Command extends infer C ? (C extends { time: number } ? Omit<C, 'time'> : never) : never;

export function ok(e: Engine, cmd: Cmd): Extract<ApplyResult, { ok: true }> {
  const r = e.apply({ ...cmd, time: t() } as Command);
  if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
  return r;
}

export function rejected(e: Engine, cmd: Cmd, code: string): void {
  const before = stateHash(e);
  const r = e.apply({ ...cmd, time: t() } as Command);
  assert.equal(r.ok, false, `${cmd.type} should be rejected with ${code}`);
  if (!r.ok) assert.equal(r.code, code, r.message);
  assert.equal(stateHash(e), before, 'a rejected command must not change state');
}

export function engineWithMarkets(...markets: MarketConfig[]): Engine {
  const e = new Engine();
  for (const m of markets.length ? markets : [BTCUSDT]) ok(e, { type: 'createMarket', market: m });
  return e;
}

/** BTCUSDT priced by one oracle feed: mark = index, 10-minute staleness, `maxJump` (default 20%) per update. */
export function oracleBtcusdt(maxJump = '0.2'): MarketConfig {
  return {
    ...BTCUSDT,
    oracle: {
      sources: [{ name: 'feed', weight: 1 }],
      stalenessMs: 600_000,
      maxDeviation: '0.05',
      minSources: 1,
      maxJump,
      markMethod: 'index',
    },
  };
}

/**
 * `oracleBtcusdt()` with volatility-adjusted margin (reference 30%, factor up to 2 in steps of 0.5) on the review,
 * notice and sampling times given.
 */
export function dynamicBtcusdt(t: {
  reviewMs: number;
  noticeMs: number;
  sampleMs: number;
  minSamples: number;
}): MarketConfig {
  return {
    ...oracleBtcusdt(),
    dynamicMargin: { referenceVol: '0.3', maxFactor: '2', maxStep: '0.5', ...t },
  };
}

/** A stream's log replays on a fresh engine to `e`'s state hash, and a snapshot of `e` restores to it. */
export function assertReplays(log: readonly Command[], e: Engine): void {
  const replay = new Engine();
  for (const cmd of log) replay.apply(cmd);
  assert.equal(stateHash(replay), stateHash(e), 'replay diverged');
  assert.equal(stateHash(restoreEngine(snapshotEngine(e))), stateHash(e), 'snapshot diverged');
}

export function checkInvariants(e: Engine): void {
  const v = e.ledger.verify();
  assert.ok(v.ok, v.problems.join('; '));
  for (const m of e.markets.values()) {
    let longs = 0;
    let shorts = 0;
    for (const a of e.accounts.values()) {
      const p = a.positions.get(m.symbol);
      if (!p) continue;
      if (p.sign > 0) longs += p.lots;
      if (p.sign < 0) shorts += p.lots;
      assert.ok(p.bucket.balance >= 0n, `${p.bucket.label} negative`);
    }
    assert.equal(longs, shorts, `${m.symbol}: long and short lots differ`);
    assert.equal(m.openInterestLots, longs, `${m.symbol}: open interest`);
  }
}

/**
 * Deeper structural invariants, returned as a list of problems (empty = all hold) so a long randomized run can
 * report every broken one with the command that broke it:
 * - ledger conservation, and no main / reserved / isolated / fees balance below zero;
 * - per market: long lots = short lots = openInterestLots, the book's own invariants, the book not crossed;
 * - book ⇄ accounts: every resting order is in its account's `orders` map (same object) and vice versa;
 * - per position: openOrders = the account's orders on that market, sign/lots/entry consistent, a flat or cross
 *   position's isolated bucket is empty;
 * - per order: mode = its position's mode, reserve ≥ 0, reduce-only orders reserve nothing;
 * - per wallet: crossOrderRequirement = Σ reserve of open cross orders in that asset, and the `reserved` ledger
 *   balance = Σ reserve of open isolated orders in that asset.
 */
/** The key a position is filed under in its account: its symbol, or `<silo>/<symbol>` for a named silo's leg. */
function keyOf(p: { silo: { id: string } | null; market: { symbol: string } }): string {
  return p.silo !== null ? `${p.silo.id}/${p.market.symbol}` : p.market.symbol;
}

export function engineProblems(e: Engine): string[] {
  const problems: string[] = [];
  const bad = (msg: string) => problems.push(msg);
  const v = e.ledger.verify();
  if (!v.ok) for (const p of v.problems) bad(`ledger: ${p}`);
  for (const l of e.ledger.accounts()) {
    if (
      (l.kind === 'main' || l.kind === 'reserved' || l.kind === 'isolated' || l.kind === 'fees') &&
      l.balance < 0n
    ) {
      bad(`${l.label} is negative: ${l.balance}`);
    }
  }
  const byN = new Map<number, string>();
  for (const a of e.accounts.values()) byN.set(a.n, a.id);
  for (const m of e.markets.values()) {
    let longs = 0;
    let shorts = 0;
    // Every position on the market: the default one and any named silo's leg.
    for (const a of e.accounts.values())
      for (const p of a.positions.values()) {
        if (p.market !== m) continue;
        if (p.sign > 0) longs += p.lots;
        if (p.sign < 0) shorts += p.lots;
      }
    if (longs !== shorts) bad(`${m.symbol}: long lots ${longs} != short lots ${shorts}`);
    if (m.openInterestLots !== longs)
      bad(`${m.symbol}: openInterestLots ${m.openInterestLots} != long lots ${longs}`);
    try {
      m.book.checkInvariants();
    } catch (err) {
      bad(`${m.symbol}: ${(err as Error).message}`);
    }
    const bid = m.book.bestPrice('buy');
    const ask = m.book.bestPrice('sell');
    if (bid !== null && ask !== null && bid >= ask)
      bad(`${m.symbol}: book crossed, best bid ${bid} >= best ask ${ask} ticks`);
    for (const bo of m.book.orders()) {
      const id = byN.get(bo.accountId);
      const a = id === undefined ? undefined : e.accounts.get(id);
      if (!a) bad(`${m.symbol}: resting order ${bo.id} has unknown account #${bo.accountId}`);
      else if (a.orders.get(bo.id) !== bo)
        bad(`${m.symbol}: resting order ${bo.id} is not in ${a.id}'s orders`);
    }
  }
  // The trigger index holds exactly the untriggered trigger orders (each an open order of its account, checked below).
  const untriggeredOn = new Map<Market, Set<object>>();
  let untriggeredOpen = 0;
  for (const m of e.markets.values()) {
    const filed = m.triggers.orders();
    untriggeredOn.set(m, new Set(filed));
    if (filed.length !== m.triggers.size)
      bad(`${m.symbol}: trigger index size ${m.triggers.size} != ${filed.length}`);
    for (const o of filed)
      if (o.account.orders.get(o.id) !== o || o.market !== m || o.trigger?.triggered !== false)
        bad(`${m.symbol}: trigger index holds order ${o.id}, not an untriggered open order here`);
  }
  for (const a of e.accounts.values())
    for (const o of a.orders.values()) if (o.trigger !== undefined && !o.trigger.triggered) untriggeredOpen++;
  const filedTotal = [...untriggeredOn.values()].reduce((n, s) => n + s.size, 0);
  if (filedTotal !== untriggeredOpen)
    bad(`trigger indexes hold ${filedTotal} orders, accounts ${untriggeredOpen}`);
  for (const a of e.accounts.values()) {
    if (a.orders.size > MAX_OPEN_ORDERS_PER_ACCOUNT)
      bad(`${a.id}: ${a.orders.size} open orders > ${MAX_OPEN_ORDERS_PER_ACCOUNT}`);
    const perMarket = new Map<string, number>();
    const crossReq = new Map<string, bigint>();
    const siloReq = new Map<string, bigint>();
    const isoReserved = new Map<string, bigint>();
    for (const [oid, o] of a.orders) {
      const m = o.market;
      if (oid !== o.id) bad(`${a.id}: order keyed ${oid} has id ${o.id}`);
      if (o.account !== a || o.accountId !== a.n) bad(`${a.id}: order ${o.id} belongs to another account`);
      if (e.markets.get(m.symbol) !== m) bad(`${a.id}: order ${o.id} on unknown market ${m.symbol}`);
      if (o.trigger !== undefined && !o.trigger.triggered) {
        // An untriggered stop-loss / take-profit waits in the market's trigger index, not the book, reserving
        // nothing; the mark has not reached it (it would have fired at the end of the command that moved it).
        if (o.level !== null) bad(`${a.id}: untriggered order ${o.id} is in the ${m.symbol} book`);
        if (!untriggeredOn.get(m)?.has(o))
          bad(`${a.id}: untriggered order ${o.id} is not in the trigger index`);
        if (!o.reduceOnly) bad(`${a.id}: trigger order ${o.id} is not reduce-only`);
        const rising = firesOnRise(o.side, o.trigger.kind);
        if (m.mark !== null && !m.closed && reached(rising, o.trigger.priceTicks, m.inst.tickSize, m.mark))
          bad(
            `${a.id}: trigger order ${o.id} at ${o.trigger.priceTicks} ticks left unfired at mark ${m.mark}`,
          );
      } else if (o.level === null) bad(`${a.id}: order ${o.id} is not resting in the ${m.symbol} book`);
      if (o.position !== a.positions.get(keyOf(o.position)))
        bad(`${a.id}: order ${o.id} points at a stale position`);
      if (o.mode !== o.position.mode)
        bad(`${a.id}: order ${o.id} mode ${o.mode} but position is ${o.position.mode}`);
      if (!(Number.isSafeInteger(o.remainingLots) && o.remainingLots > 0))
        bad(`${a.id}: order ${o.id} remainingLots ${o.remainingLots}`);
      if (o.reserved < 0n) bad(`${a.id}: order ${o.id} reserve negative: ${o.reserved}`);
      if (o.reservedLots < 0) bad(`${a.id}: order ${o.id} reservedLots negative: ${o.reservedLots}`);
      if (o.reduceOnly && o.reserved !== 0n) bad(`${a.id}: reduce-only order ${o.id} reserves ${o.reserved}`);
      if (o.id >= e.nextOrderId) bad(`${a.id}: order ${o.id} >= nextOrderId ${e.nextOrderId}`);
      perMarket.set(keyOf(o.position), (perMarket.get(keyOf(o.position)) ?? 0) + 1);
      const silo = o.position.silo;
      if (silo !== null) siloReq.set(silo.id, (siloReq.get(silo.id) ?? 0n) + o.reserved);
      else {
        const into = o.mode === 'cross' ? crossReq : isoReserved;
        into.set(m.asset, (into.get(m.asset) ?? 0n) + o.reserved);
      }
    }
    for (const [sym, p] of a.positions) {
      const n = perMarket.get(sym) ?? 0;
      if (p.openOrders !== n) bad(`${a.id}:${sym}: position.openOrders ${p.openOrders} != ${n} open orders`);
      if (!(Number.isSafeInteger(p.lots) && p.lots >= 0)) bad(`${a.id}:${sym}: lots ${p.lots}`);
      if ((p.sign === 0) !== (p.lots === 0)) bad(`${a.id}:${sym}: sign ${p.sign} with ${p.lots} lots`);
      if (p.sign === 0 && p.entryPrice !== 0n) bad(`${a.id}:${sym}: flat with entry price ${p.entryPrice}`);
      if (p.sign !== 0 && p.entryPrice <= 0n) bad(`${a.id}:${sym}: open with entry price ${p.entryPrice}`);
      if ((p.sign === 0 || p.mode === 'cross') && p.bucket.balance !== 0n) {
        bad(
          `${a.id}:${sym}: ${p.mode} ${p.sign === 0 ? 'flat ' : ''}position holds ${p.bucket.balance} in its isolated bucket`,
        );
      }
    }
    for (const [id, silo] of a.silos) {
      const want = siloReq.get(id) ?? 0n;
      if (silo.orderRequirement !== want)
        bad(`${a.id}:silo ${id}: orderRequirement ${silo.orderRequirement} != Σ its order reserves ${want}`);
      for (const [sym, p] of silo.positions)
        if (a.positions.get(keyOf(p)) !== p || p.market.symbol !== sym)
          bad(`${a.id}:silo ${id}: leg ${sym} is not the account's position ${keyOf(p)}`);
    }
    for (const [asset, w] of a.wallets) {
      const want = crossReq.get(asset) ?? 0n;
      if (w.crossOrderRequirement !== want)
        bad(
          `${a.id}:${asset}: crossOrderRequirement ${w.crossOrderRequirement} != Σ cross order reserves ${want}`,
        );
      const res = isoReserved.get(asset) ?? 0n;
      if (w.reserved.balance !== res)
        bad(`${a.id}:${asset}: reserved balance ${w.reserved.balance} != Σ isolated order reserves ${res}`);
    }
    for (const asset of new Set([...crossReq.keys(), ...isoReserved.keys()])) {
      if (!a.wallets.has(asset)) bad(`${a.id}: open orders in ${asset} without a wallet`);
    }
  }
  for (const msg of liquidationProblems(e)) bad(msg);
  return problems;
}

/**
 * The liquidation engine's reference check, by plain scan: after every command every open position is in its
 * market's index, and no bucket is left below maintenance at a mark where liquidation may run (except a chunked
 * liquidation waiting out its cooldown).
 */
export function liquidationProblems(e: Engine): string[] {
  const problems: string[] = [];
  const canLiquidate = (m: Market) =>
    m.mark !== null && !m.closed && allows('liquidate', validityAt(m, e.now || e.lastTime));
  for (const a of e.accounts.values()) {
    if (a.id === BACKSTOP_ACCOUNT) continue;
    const cross = new Map<
      string,
      {
        equity: bigint;
        mm: bigint;
        all: boolean;
        waiting: boolean;
        legs: SiloLeg[];
        optionMm: bigint;
        netted: boolean;
        silo: Silo | null;
      }
    >();
    for (const [sym, p] of a.positions) {
      const m = p.market;
      if (p.sign === 0 || m.closed) continue;
      if (!m.liqIndex.has(p))
        problems.push(`${a.id}:${sym}: open position missing from the liquidation index`);
      const price = valuationPrice(p);
      const pnl = unrealizedPnl(m.inst, positionInput(p), price);
      // An option leg's maintenance is its venue rule's (a long's none), as the engine's.
      const mm = legMaintenance(e.conventions, m, positionInput(p), price);
      if (p.mode === 'isolated') {
        const equity = bucketAfterFunding(p) + pnl;
        if (canLiquidate(m) && equity < mm && p.liquidationCooldownUntil <= e.lastTime)
          problems.push(
            `${a.id}:${sym}: isolated equity ${equity} < maintenance ${mm} at mark ${m.mark}, not liquidated`,
          );
      } else {
        // A named silo's legs pool over the silo's bucket; the account's other cross positions over main.
        const pool = p.silo !== null ? `silo ${p.silo.id}` : `cross ${m.asset}`;
        const c = cross.get(pool) ?? {
          equity:
            p.silo !== null
              ? p.silo.bucket.balance + heldValue(e, p.silo)
              : (a.wallets.get(m.asset)?.main.balance ?? 0n),
          mm: 0n,
          all: true,
          waiting: true,
          legs: [],
          optionMm: 0n,
          netted: false,
          silo: p.silo,
        };
        c.equity += pnl - pendingFunding(p);
        c.mm += mm;
        // Option legs stand alone in a netted silo (the engine's silos.ts combine): added outside the netting.
        if (m.option !== null) c.optionMm += mm;
        else
          c.legs.push({ base: m.config.base, market: m.symbol, sign: p.sign > 0 ? 1 : -1, requirement: mm });
        c.netted = p.silo?.riskModel === 'netted';
        c.all &&= canLiquidate(m);
        // Every position of the pool waiting out a cooldown after a chunk: the account waits too.
        c.waiting &&= p.liquidationCooldownUntil > e.lastTime;
        cross.set(pool, c);
      }
    }
    for (const [pool, c] of cross) {
      // A strategy-model silo's maintenance is core strategyMargin over its legs (the engine's silos.ts figures).
      const mm =
        c.silo !== null && isStrategyModel(c.silo.riskModel)
          ? siloFigures(e, c.silo).maintenanceMargin
          : c.netted
            ? (c.legs.length > 0 ? nettedRequirement(c.legs, e.netting) : 0n) + c.optionMm
            : c.mm;
      if (c.all && !c.waiting && c.equity < mm)
        problems.push(`${a.id}: ${pool} equity ${c.equity} < maintenance ${mm}, not liquidated`);
    }
  }
  return problems;
}

/**
 * A silo's holdings in other assets as the liquidation test counts them, recomputed here from the accepted asset's
 * terms: amount × its price market's index, converted to settle units and rounded down, then the haircut bands.
 */
export function heldValue(e: Engine, silo: Silo): bigint {
  let value = 0n;
  for (const [asset, h] of silo.holdings) {
    const c = e.collateralAssets.get(`${asset}:${silo.asset}`);
    const m = c === undefined ? undefined : e.markets.get(c.priceMarket);
    const index = m?.oracle?.index ?? null;
    if (c === undefined || m === undefined || index === null || h.balance <= 0n) continue;
    const settleDp = e.assets.get(silo.asset)!;
    const gross = (h.balance * index * 10n ** BigInt(settleDp)) / 10n ** BigInt(c.dp + m.inst.priceDp);
    value += haircutValue(gross, c.bands);
  }
  return value;
}
