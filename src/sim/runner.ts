/**
 * One policy, one run: the population and the path through a fresh engine, command by command (engine.apply, in
 * process; no journal).
 *
 * Setup (at the first point's time): the markets (with the policy's liquidation spec), the insurance fund seeded
 * with `fundInsurance`, the desk and the market makers funded, every trader's deposit, margin mode (cross policy)
 * and auto-add opt-in (auto-add policy); under a hybrid policy the netting table (`setNetting`, from the markets'
 * correlations) and one netted silo per opted-in trader.
 * Then at each point of the path, in this order:
 *   1. the market makers re-quote around the point's price (only the orders the move or fills require);
 *   2. one `oracleQuote` per market (mark = index = the point's price): the engine's liquidation sweep runs here;
 *   3. a `tick` (funding times, cooldowns);
 *   4. the backstop ('@insurance') unwinds what it took over: a reduce-only IOC for at most one maker level per
 *      market, limited 1% through the price (docs/liquidation.md's "unwound through the book like anyone's");
 *   5. the positions planned to open at this point (the desk rests the other side at the price, the trader takes
 *      it with an IOC) and to close (a reduce-only IOC against the desk), if still open.
 * A hybrid trader's opens and closes go through its silo, funded so that it risks the same money as under the
 * isolated policy: before a leg opens, the trader moves into the silo what the isolated position would put into its
 * bucket (the initial margin at the planned entry) plus the opening fee (which a silo pays from its bucket, an
 * isolated position from the free balance); after a leg closes, it takes out what the isolated bucket would have
 * handed back (that initial margin plus what the close realized, as far as the silo lets it go), and everything once
 * the silo is flat (an isolated bucket returns to the free balance when flat too).
 * Every command's events go through the Collector; the runner itself never reads positions to decide anything but
 * what the trader would know (its own planned positions, and whether one is still open).
 */
import { grossValue, haircutValue } from '../core/collateral.ts';
import { ceilDiv, formatDecimal, pow10 } from '../core/fixed.ts';
import type { Instrument } from '../core/instrument.ts';
import { triggerMaintenance } from '../core/margin.ts';
import { buildConventions, PRESETS } from '../core/presets.ts';
import { RATE_ONE } from '../core/rates.ts';
import type { Silo } from '../engine/account.ts';
import { type CollateralAsset, collateralAsset } from '../engine/collateral.ts';
import { Engine } from '../engine/engine.ts';
import { BACKSTOP_ACCOUNT } from '../engine/liquidation.ts';
import { instrumentOf } from '../engine/market.ts';
import { positionInput } from '../engine/risk.ts';
import { siloFigures, siloMaxRemovable } from '../engine/silos.ts';
import type { ApplyResult, Command } from '../engine/types.ts';
import { SHARE_DP } from '../engine/vaults.ts';
import { MarketMaker } from './market-maker.ts';
import { type Policy, type SimMarket, simCorrelations } from './markets.ts';
import {
  COLLATERAL_ASSET,
  Collector,
  type PolicyFigures,
  type PolicySeries,
  SETTLE_ASSET,
  type TraderFigures,
} from './metrics.ts';
import { isOptionsPolicy, type OptionsPlan } from './options.ts';
import type { OptionsFigures } from './options-metrics.ts';
import { runOptionsPolicy } from './options-runner.ts';
import { priceString, type SimPath } from './path.ts';
import type { Population, Trader } from './population.ts';
import { SIM_VAULTS, VAULT_TERMS, type VaultPlan, type VaultsResult, VaultWatch } from './vaults.ts';

/** The desk: counterparty of every opening and closing trade (isolated, 1x, effectively unlimited funds). */
export const DESK_ACCOUNT = 'desk';
const HOUSE_DEPOSIT = '1000000000000';

export interface MakerPlan {
  stepTicks: number;
  levels: number;
  levelLots: number;
}

export interface RunInput {
  path: SimPath;
  markets: readonly SimMarket[];
  population: Population;
  makers: readonly MakerPlan[];
  /** Insurance fund seed, settle units. */
  insurance: bigint;
  /** Unwind the backstop's positions through the book (one maker level per market per point). Default true. */
  unwind?: boolean;
  /** Chart bucket size in points, and bucket count. */
  bucketSize: number;
  buckets: number;
  /** The chain, vol path and writers the options policies share (options.ts); absent when none runs. */
  optionsPlan?: OptionsPlan;
  /** The vaults policy's depositors and stakes (vaults.ts); absent when it does not run. */
  vaultPlan?: VaultPlan;
}

/** Which account issued a command (null: the venue itself — prices, ticks, setup). */
export type Issuer = string | null;

export interface RunHooks {
  onCommand?: (cmd: Command, result: ApplyResult, issuer: Issuer) => void;
  /** After every point, with the engine (tests check invariants here). */
  onPoint?: (point: number, engine: Engine) => void;
  /** Every `progressEvery` points. */
  onProgress?: (points: number) => void;
  progressEvery?: number;
}

export interface PolicyResult {
  policy: Policy;
  figures: PolicyFigures;
  series: PolicySeries;
  byTrader: TraderFigures;
  commands: number;
  /** An options policy's own figures (options-metrics.ts). */
  options?: OptionsFigures;
  /** The vaults policy's own figures (vaults.ts). */
  vaults?: VaultsResult;
  /** Wall time of the run (not part of any summary: summaries are reproducible). */
  wallMs: number;
}

export function makerAccount(symbol: string): string {
  return `mm.${symbol}`;
}

/** Id of a hybrid trader's netted silo. */
export const HYBRID_SILO = 'netted';

/** Whether `policy` puts `t`'s positions in a netted silo: it plans two or more, and its draw is within the share. */
export function inNettedSilo(policy: Policy, t: Trader): boolean {
  const share = policy.nettedSilos?.share ?? 0;
  return t.positions.length >= 2 && (t.siloDraw ?? 0) < share;
}

/** A rebalancing trader's silo holding what is not at work in a position (a giver only). */
export const RESERVE_SILO = 'reserve';
/** A rebalancing trader's silo for its planned position `j` (one leg: a standalone silo is an isolated bucket). */
export const legSilo = (j: number): string => `p${j}`;

/**
 * Whether `policy` runs the rebalancing agent for `t`: a trader who opted in to topping up (the population's auto-add
 * opt-in) and plans two or more positions, so that one box can give to another.
 */
export function inRebalancing(policy: Policy, t: Trader): boolean {
  return policy.rebalance === true && t.autoAdd !== null && t.positions.length >= 2;
}

/** The collateral asset's decimals (satoshis). */
export const COLLATERAL_DP = 8;

/** Whether `m` is a market whose positions the isolated+btc-collateral policy funds in the collateral asset. */
export const isBtcMarket = (m: SimMarket): boolean => m.config.base === COLLATERAL_ASSET;

/**
 * Whether `policy` funds `t`'s BTC-market positions in BTC: a trader who opted in to topping up (the population's
 * auto-add opt-in, as isolated+rebalance selects them) and plans a position on a BTC market.
 */
export function inBtcCollateral(policy: Policy, t: Trader, markets: readonly SimMarket[]): boolean {
  return (
    policy.btcCollateral === true &&
    t.autoAdd !== null &&
    t.positions.some((p) => isBtcMarket(markets[p.market]!))
  );
}

/**
 * The fewest units of `c` (rounded up to a unit, then up again while short) that count for at least `value` (settle
 * units) at `price`: the initial margin's worth of BTC at the current price ÷ the haircut.
 */
function unitsCounting(
  c: CollateralAsset,
  value: bigint,
  price: bigint,
  priceDp: number,
  settleDp: number,
): bigint {
  if (value <= 0n) return 0n;
  const counted = (u: bigint) => haircutValue(grossValue(u, c.dp, price, priceDp, settleDp), c.bands);
  let u = ceilDiv(value * pow10(c.dp + priceDp) * RATE_ONE, price * pow10(settleDp) * c.bands[0]!.ratio);
  while (counted(u) < value) u++;
  return u;
}

export function runPolicy(input: RunInput, policy: Policy, hooks: RunHooks = {}): PolicyResult {
  // The options policies run only the options writers, through their own runner (options-runner.ts).
  if (isOptionsPolicy(policy)) return runOptionsPolicy(input, policy, hooks);
  const { path, markets, population } = input;
  const started = performance.now();
  const preset = PRESETS[policy.conventions];
  if (!preset) throw new Error(`unknown conventions preset ${policy.conventions}`);
  const engine = new Engine({ conventions: buildConventions(preset.conventions) });
  const insts: Instrument[] = markets.map((m) => instrumentOf(m.config));
  const symbols = markets.map((m) => m.config.symbol);
  const makers = new Map<string, MarketMaker>();
  markets.forEach((m, k) => {
    const plan = input.makers[k]!;
    const pm = path.markets[k]!;
    makers.set(
      makerAccount(m.config.symbol),
      new MarketMaker({
        symbol: m.config.symbol,
        account: makerAccount(m.config.symbol),
        ...plan,
        price: (t) => priceString(pm, t),
        size: (lots) => formatDecimal(BigInt(lots) * insts[k]!.lotSize, insts[k]!.sizeDp),
      }),
    );
  });
  const collector = new Collector({
    engine,
    symbols,
    insts,
    traders: population.traders,
    makers,
    bucketSize: input.bucketSize,
    buckets: input.buckets,
  });
  let commands = 0;
  const vaultPlan = policy.vaults ? input.vaultPlan : undefined;
  if (policy.vaults && vaultPlan === undefined)
    throw new Error('simulation setup: the vaults policy needs a vault plan');
  const vaultMarket = markets.findIndex((m) => m.synthetic === null);
  const watch =
    vaultPlan !== undefined
      ? new VaultWatch(
          engine,
          insts[vaultMarket]!,
          insts[vaultMarket]!.settleDp,
          vaultPlan,
          population.traders.map((t) => t.id),
        )
      : null;
  let time = path.times[0]!;
  const run = (cmd: Command, issuer: Issuer): ApplyResult => {
    const r = engine.apply(cmd);
    commands++;
    if (r.ok) {
      collector.onEvents(r.events);
      watch?.onEvents(r.events, time);
    }
    hooks.onCommand?.(cmd, r, issuer);
    return r;
  };
  const must = (cmd: Command, issuer: Issuer): ApplyResult => {
    const r = run(cmd, issuer);
    if (!r.ok) throw new Error(`simulation setup: ${cmd.type} rejected: ${r.code} ${r.message}`);
    return r;
  };
  const dp = insts[0]!.settleDp;
  const money = (v: bigint) => formatDecimal(v, dp);
  const sizeOf = (k: number, lots: number) =>
    formatDecimal(BigInt(lots) * insts[k]!.lotSize, insts[k]!.sizeDp);

  // ---- setup ----
  for (const m of markets)
    must(
      {
        type: 'createMarket',
        time,
        market: {
          ...m.config,
          liquidation: policy.liquidation,
          ...(policy.dynamicMargin ? { dynamicMargin: policy.dynamicMargin } : {}),
        },
      },
      null,
    );
  if (input.insurance > 0n)
    must({ type: 'fundInsurance', time, asset: SETTLE_ASSET, amount: money(input.insurance) }, null);
  for (const acct of [DESK_ACCOUNT, ...makers.keys()]) {
    must({ type: 'deposit', time, account: acct, asset: SETTLE_ASSET, amount: HOUSE_DEPOSIT }, acct);
    // Isolated at 1x: never liquidated in practice, and a fill re-files one position, not a cross account.
    for (const s of symbols)
      must({ type: 'setLeverage', time, account: acct, symbol: s, leverage: '1' }, acct);
  }
  // A point's price as a command decimal, per market: formatted once for the quote and the desk's trades there.
  const pxPoint = markets.map(() => -1);
  const pxText = markets.map(() => '');
  const pointPrice = (k: number, point: number): string => {
    if (pxPoint[k] !== point) {
      pxPoint[k] = point;
      pxText[k] = priceString(path.markets[k]!, path.markets[k]!.ticks[point]!);
    }
    return pxText[k]!;
  };
  const quote = (k: number, point: number) =>
    run(
      { type: 'oracleQuote', time, symbol: symbols[k]!, source: 'feed', price: pointPrice(k, point) },
      null,
    );
  for (let k = 0; k < markets.length; k++) {
    const r = quote(k, 0);
    if (!r.ok) throw new Error(`simulation setup: first quote rejected: ${r.code} ${r.message}`);
  }
  const siloed = population.traders.map((t) => inNettedSilo(policy, t));
  const rebalanced = population.traders.map((t) => inRebalancing(policy, t));
  const btcFunded = population.traders.map((t) => inBtcCollateral(policy, t, markets));
  if (policy.nettedSilos) must({ type: 'setNetting', time, correlations: simCorrelations(markets) }, null);
  // Collateral in BTC: accepted once the BTC market has its first index (the venue's default haircut and penalty).
  const btcMarket = markets.findIndex(isBtcMarket);
  let btc: CollateralAsset | null = null;
  if (policy.btcCollateral) {
    if (btcMarket < 0)
      throw new Error(`simulation setup: no ${COLLATERAL_ASSET} market to price the collateral`);
    must(
      {
        type: 'setCollateralAsset',
        time,
        asset: COLLATERAL_ASSET,
        settle: SETTLE_ASSET,
        dp: COLLATERAL_DP,
        priceMarket: symbols[btcMarket]!,
      },
      null,
    );
    btc = collateralAsset(engine, COLLATERAL_ASSET, SETTLE_ASSET)!;
  }
  /** The BTC that counts for a BTC leg's initial margin at `price` (the market's own price units). */
  const btcFor = (p: Trader['positions'][number], price: bigint) =>
    unitsCounting(btc!, p.initialMargin, price, insts[btcMarket]!.priceDp, dp);
  const btcUnits = (v: bigint) => formatDecimal(v, COLLATERAL_DP);
  const plannedPrice = (k: number, point: number) =>
    BigInt(path.markets[k]!.ticks[point]!) * insts[k]!.tickSize;
  const btcStats = collector.f.btcCollateral;
  /**
   * A BTC-funded trader's deposit: worth the isolated trader's deposit at the first price, in BTC as much as its
   * BTC legs will put into their silos (each leg's initial margin at its planned entry ÷ the haircut) bought at the
   * first price (the trader pays the cost rounded up), the rest in USDT; one standalone silo per BTC leg.
   */
  function fundInBtc(t: Trader): void {
    const p0 = plannedPrice(btcMarket, 0);
    const priceDp = insts[btcMarket]!.priceDp;
    let units = 0n;
    for (const p of t.positions)
      if (isBtcMarket(markets[p.market]!)) units += btcFor(p, plannedPrice(p.market, p.openPoint));
    let cost = ceilDiv(units * p0 * pow10(dp), pow10(COLLATERAL_DP + priceDp));
    if (cost > t.deposit) {
      // More BTC than the whole deposit buys (a lean trader whose BTC leg opens far below the first price): all of it.
      units = (t.deposit * pow10(COLLATERAL_DP + priceDp)) / (p0 * pow10(dp));
      cost = ceilDiv(units * p0 * pow10(dp), pow10(COLLATERAL_DP + priceDp));
      btcStats.cappedTraders++;
    }
    btcStats.traders++;
    btcStats.bought += units;
    btcStats.cost += cost;
    if (t.deposit > cost)
      must(
        { type: 'deposit', time, account: t.id, asset: SETTLE_ASSET, amount: money(t.deposit - cost) },
        t.id,
      );
    if (units > 0n)
      must({ type: 'deposit', time, account: t.id, asset: COLLATERAL_ASSET, amount: btcUnits(units) }, t.id);
    t.positions.forEach((p, j) => {
      if (isBtcMarket(markets[p.market]!))
        must(
          {
            type: 'createSilo',
            time,
            account: t.id,
            silo: legSilo(j),
            asset: SETTLE_ASSET,
            riskModel: 'standalone',
          },
          t.id,
        );
    });
  }
  population.traders.forEach((t, ti) => {
    if (btcFunded[ti]) fundInBtc(t);
    else {
      // A vault depositor's stake comes on top of its deposit (its own account is the isolated trader's).
      const stake = vaultPlan !== undefined && vaultPlan.vault[ti]! >= 0 ? vaultPlan.stake[ti]! : 0n;
      must(
        { type: 'deposit', time, account: t.id, asset: SETTLE_ASSET, amount: money(t.deposit + stake) },
        t.id,
      );
    }
    if (siloed[ti])
      must(
        {
          type: 'createSilo',
          time,
          account: t.id,
          silo: HYBRID_SILO,
          asset: SETTLE_ASSET,
          riskModel: 'netted',
        },
        t.id,
      );
    if (rebalanced[ti]) openRebalancing(t, (cmd) => must(cmd, t.id), money(t.deposit), time);
    for (const p of t.positions) {
      const symbol = symbols[p.market]!;
      if (policy.mode === 'cross')
        must({ type: 'setMarginMode', time, account: t.id, symbol, mode: 'cross' }, t.id);
      else if (policy.autoAdd && t.autoAdd)
        must(
          {
            type: 'setAutoAddMargin',
            time,
            account: t.id,
            symbol,
            enabled: true,
            policy: t.autoAdd.policy,
            trigger: t.autoAdd.trigger,
          },
          t.id,
        );
    }
  });

  // ---- vaults: created, each in cross margin on the replayed market, and the depositors' stakes moved in ----
  const vaultSymbol = symbols[vaultMarket]!;
  if (vaultPlan !== undefined) {
    for (const v of SIM_VAULTS) {
      must({ type: 'deposit', time, account: v.manager, asset: SETTLE_ASSET, amount: '1' }, v.manager);
      must(
        {
          type: 'createVault',
          time,
          vault: v.id,
          manager: v.manager,
          asset: SETTLE_ASSET,
          lockupMs: VAULT_TERMS.lockupMs,
          performanceFee: VAULT_TERMS.performanceFee,
          managementFee: VAULT_TERMS.managementFee,
          maxLeverage: v.maxLeverage,
          markets: [vaultSymbol],
        },
        null,
      );
      const acct = `vault:${v.id}`;
      must({ type: 'setMarginMode', time, account: acct, symbol: vaultSymbol, mode: 'cross' }, v.manager);
      must(
        { type: 'setLeverage', time, account: acct, symbol: vaultSymbol, leverage: v.leverage },
        v.manager,
      );
    }
    population.traders.forEach((t, ti) => {
      const i = vaultPlan.vault[ti]!;
      if (i >= 0)
        must(
          {
            type: 'vaultDeposit',
            time,
            vault: SIM_VAULTS[i]!.id,
            account: t.id,
            amount: money(vaultPlan.stake[ti]!),
          },
          t.id,
        );
    });
  }

  // ---- the plan, by point ----
  const plan = planOf(population);
  collector.f.opens.planned = population.positions;
  collector.f.exits.planned = plan.length - population.positions;

  const deskTrade = (
    k: number,
    point: number,
    traderId: string,
    side: 'buy' | 'sell',
    lots: number,
    reduceOnly: boolean,
    silo: string | undefined,
  ): ApplyResult | null => {
    const price = pointPrice(k, point);
    const symbol = symbols[k]!;
    const size = sizeOf(k, lots);
    const desk = run(
      {
        type: 'placeOrder',
        time,
        account: DESK_ACCOUNT,
        symbol,
        side: side === 'buy' ? 'sell' : 'buy',
        orderType: 'limit',
        price,
        size,
        timeInForce: 'GTC',
      },
      DESK_ACCOUNT,
    );
    if (!desk.ok || desk.orderId === undefined) return null;
    const r = run(
      {
        type: 'placeOrder',
        time,
        account: traderId,
        symbol,
        side,
        orderType: 'limit',
        price,
        size,
        timeInForce: 'IOC',
        ...(reduceOnly ? { reduceOnly: true } : {}),
        ...(silo !== undefined ? { silo } : {}),
      },
      traderId,
    );
    // Whatever the trader did not take, the desk withdraws (an unknown order: it was filled in full).
    const c = engine.accounts.get(DESK_ACCOUNT)!.orders.has(desk.orderId);
    if (c)
      run({ type: 'cancelOrder', time, account: DESK_ACCOUNT, symbol, orderId: desk.orderId }, DESK_ACCOUNT);
    return r;
  };

  /**
   * Vault i's manager moves its position from `lots` to `target` (signed lots) against the desk: the reducing part
   * reduce-only first, then the opening part (each refused order counted by code).
   */
  const vaultMove = (i: number, lots: bigint, target: bigint, point: number) => {
    const acct = `vault:${SIM_VAULTS[i]!.id}`;
    const abs = (x: bigint) => (x < 0n ? -x : x);
    const trade = (side: 'buy' | 'sell', amount: bigint, reduceOnly: boolean): boolean => {
      const r = deskTrade(vaultMarket, point, acct, side, Number(amount), reduceOnly, undefined);
      watch!.onTrade(i, r === null ? 'DESK' : r.ok ? null : r.code);
      return r?.ok === true;
    };
    let now = lots;
    const flips = now !== 0n && (target === 0n || now > 0n !== target > 0n);
    if (flips || (now !== 0n && abs(target) < abs(now))) {
      const reduce = flips ? abs(now) : abs(now) - abs(target);
      if (!trade(now > 0n ? 'sell' : 'buy', reduce, true)) return;
      now = watch!.position(i, vaultSymbol).lots;
    }
    if (target !== now && (now === 0n || now > 0n === target > 0n) && abs(target) > abs(now))
      trade(target > now ? 'buy' : 'sell', abs(target - now), false);
  };

  // ---- a siloed trader's silo: what the trader knows of it (its legs, its collateral, what may leave it) ----
  // A hybrid trader funds its one netted silo from the free balance; a rebalancing trader each position's own silo
  // from its reserve silo (`home`), where the money goes back to.
  const siloStats = collector.f.silos;
  const siloOf = (id: string, silo: string): Silo => engine.accounts.get(id)!.silos.get(silo)!;
  const flat = (s: Silo) => [...s.positions.values()].every((p) => p.sign === 0);
  /** Moves up to `amount` (at most what the silo lets go) from the silo back home. */
  const siloBack = (id: string, silo: string, home: string, amount: bigint) => {
    const max = siloMaxRemovable(engine, siloOf(id, silo));
    const v = amount < max ? amount : max;
    if (v <= 0n) return;
    const r = run(
      { type: 'transferCollateral', time, account: id, from: silo, to: home, amount: money(v) },
      id,
    );
    if (!r.ok) siloStats.refusedTransfers++;
  };
  /** Before a leg opens: a flat silo's leftover goes back first, then the leg's funding goes in (null: done). */
  const fundLeg = (id: string, silo: string, home: string, amount: bigint): string | null => {
    const s = siloOf(id, silo);
    if (flat(s) && s.bucket.balance > 0n) siloBack(id, silo, home, s.bucket.balance);
    const r = run(
      { type: 'transferCollateral', time, account: id, from: home, to: silo, amount: money(amount) },
      id,
    );
    return r.ok ? null : r.code;
  };
  /**
   * Before a BTC leg opens: its silo receives the opening fee in USDT (no buffer: funding and a loss its USDT cannot
   * pay sell BTC) and, in BTC from the free balance, what counts for the leg's initial margin at the current index;
   * whatever BTC the free balance lacks, its counted value in USDT instead (null: done).
   */
  const fundBtcLeg = (id: string, silo: string, p: Trader['positions'][number]): string | null => {
    const index = engine.markets.get(symbols[btcMarket]!)!.oracle!.index!;
    const want = btcFor(p, index);
    const free = engine.accounts.get(id)!.wallets.get(COLLATERAL_ASSET)?.main.balance ?? 0n;
    const units = want < free ? want : free;
    let usdt = p.fee;
    if (units < want) {
      const counted = haircutValue(
        grossValue(units, COLLATERAL_DP, index, insts[btcMarket]!.priceDp, dp),
        btc!.bands,
      );
      usdt += p.initialMargin - counted;
      btcStats.usdtTopUps++;
    }
    const r = run(
      { type: 'transferCollateral', time, account: id, from: 'free', to: silo, amount: money(usdt) },
      id,
    );
    if (!r.ok) return r.code;
    if (units > 0n) {
      const b = run(
        {
          type: 'transferCollateral',
          time,
          account: id,
          from: 'free',
          to: silo,
          asset: COLLATERAL_ASSET,
          amount: btcUnits(units),
        },
        id,
      );
      if (!b.ok) {
        emptySilo(id, silo);
        return b.code;
      }
    }
    return null;
  };
  /** A flat silo's USDT and BTC back to the free balance. */
  const emptySilo = (id: string, silo: string) => {
    const s = siloOf(id, silo);
    if (s.bucket.balance > 0n) siloBack(id, silo, 'free', s.bucket.balance);
    const held = s.holdings.get(COLLATERAL_ASSET)?.balance ?? 0n;
    if (held <= 0n) return;
    const r = run(
      {
        type: 'transferCollateral',
        time,
        account: id,
        from: silo,
        to: 'free',
        asset: COLLATERAL_ASSET,
        amount: btcUnits(held),
      },
      id,
    );
    if (!r.ok) siloStats.refusedTransfers++;
  };

  const opens = collector.f.opens;
  const exits = collector.f.exits;
  const reject = (code: string) => {
    opens.rejected[code] = (opens.rejected[code] ?? 0) + 1;
  };
  const n = path.times.length;
  const every = hooks.progressEvery ?? 1000;
  const makerList = symbols.map((s) => makers.get(makerAccount(s))!);
  const makerApply = makerList.map((mm) => (cmd: Command) => run(cmd, mm.spec.account));
  let next = 0;
  // Dynamic margin: each market's factor × time in force, for its time-weighted mean (ms × factor as a float: display).
  const dynamic = policy.dynamicMargin ? symbols.map((s) => engine.markets.get(s)!.dynamicMargin!) : null;
  const factorMs = symbols.map(() => 0);
  // What the factor locks: the traders' extra maintenance over the static table, at every sample.
  const locked: bigint[] = [];
  const traderIds = new Set(population.traders.map((t) => t.id));
  for (let point = 0; point < n; point++) {
    if (dynamic !== null && point > 0) {
      const dt = path.times[point]! - path.times[point - 1]!;
      dynamic.forEach((d, k) => {
        factorMs[k]! += (Number(d.factor) / 1e10) * dt;
      });
    }
    time = path.times[point]!;
    collector.point = point;
    for (let k = 0; k < markets.length; k++)
      makerList[k]!.requote(path.markets[k]!.ticks[point]!, time, makerApply[k]!);
    if (point > 0) for (let k = 0; k < markets.length; k++) quote(k, point);
    run({ type: 'tick', time }, null);
    if (input.unwind !== false) {
      for (let k = 0; k < markets.length; k++) {
        const held = collector.backstopLots[k]!;
        if (held === 0) continue;
        const pm = path.markets[k]!;
        const px = pm.ticks[point]!;
        const lots = Math.min(Math.abs(held), input.makers[k]!.levelLots);
        run(
          {
            type: 'placeOrder',
            time,
            account: BACKSTOP_ACCOUNT,
            symbol: symbols[k]!,
            side: held > 0 ? 'sell' : 'buy',
            orderType: 'limit',
            price: priceString(pm, held > 0 ? Math.max(1, Math.floor(px * 0.99)) : Math.ceil(px * 1.01)),
            size: sizeOf(k, lots),
            timeInForce: 'IOC',
            reduceOnly: true,
          },
          BACKSTOP_ACCOUNT,
        );
      }
    }
    while (next < plan.length && plan.point[next] === point) {
      const a = { trader: plan.trader[next]!, position: plan.position[next]!, open: plan.open[next] === 1 };
      next++;
      const t = population.traders[a.trader]!;
      const p = t.positions[a.position]!;
      const symbol = symbols[p.market]!;
      // A BTC-funded trader's BTC leg: its own silo, funded in BTC from the free balance (fundInBtcLeg).
      const inBtc = btcFunded[a.trader]! && isBtcMarket(markets[p.market]!);
      const silo = siloed[a.trader]
        ? HYBRID_SILO
        : rebalanced[a.trader] || inBtc
          ? legSilo(a.position)
          : undefined;
      const home = rebalanced[a.trader] ? RESERVE_SILO : 'free';
      if (a.open) {
        const lev = run(
          {
            type: 'setLeverage',
            time,
            account: t.id,
            symbol,
            leverage: String(p.leverage),
            ...(silo !== undefined ? { silo } : {}),
          },
          t.id,
        );
        if (!lev.ok) {
          reject(lev.code);
          continue;
        }
        // The silo's funding: what the isolated bucket would hold (initial margin at entry) and the opening fee.
        const funding = p.initialMargin + p.fee;
        if (silo !== undefined) {
          const code = inBtc ? fundBtcLeg(t.id, silo, p) : fundLeg(t.id, silo, home, funding);
          if (code !== null) {
            reject(code);
            continue;
          }
        }
        const r = deskTrade(p.market, point, t.id, p.side, p.lots, false, silo);
        let filled = false;
        if (r === null) reject('DESK');
        else if (!r.ok) reject(r.code);
        else if (collector.positionLots(a.trader, p.market) === 0) reject('NOT_FILLED');
        else {
          opens.filled++;
          filled = true;
        }
        if (silo !== undefined) {
          if (!filled && inBtc) emptySilo(t.id, silo);
          else if (!filled)
            siloBack(t.id, silo, home, funding); // not opened: the money goes back, as it never left under isolated
          else {
            if (inBtc) {
              btcStats.legs++;
              btcStats.funded += siloOf(t.id, silo).holdings.get(COLLATERAL_ASSET)?.balance ?? 0n;
            }
            const f = siloFigures(engine, siloOf(t.id, silo), 'requirement');
            siloStats.legs++;
            siloStats.standaloneInitialMargin += f.standaloneInitialMargin;
            siloStats.initialMargin += f.initialMargin;
          }
        }
      } else {
        const lots = collector.positionLots(a.trader, p.market);
        if (lots === 0) {
          exits.skipped++;
          // Liquidated before its planned close: what its silo kept goes back now (an isolated bucket's at once).
          if (inBtc && flat(siloOf(t.id, silo!))) emptySilo(t.id, silo!);
          continue;
        }
        const before = silo !== undefined ? siloOf(t.id, silo).bucket.balance : 0n;
        const r = deskTrade(p.market, point, t.id, p.side === 'buy' ? 'sell' : 'buy', lots, true, silo);
        if (r?.ok) exits.done++;
        else exits.skipped++;
        if (inBtc && r?.ok) {
          // Closed: the silo's USDT and BTC go back to the free balance (left in it while a leg is still open).
          if (flat(siloOf(t.id, silo!))) emptySilo(t.id, silo!);
        } else if (silo !== undefined && r?.ok) {
          // What the isolated bucket would hand back: its initial margin plus what the close realized (net of fee).
          const s = siloOf(t.id, silo);
          siloBack(
            t.id,
            silo,
            home,
            flat(s) ? s.bucket.balance : p.initialMargin + (s.bucket.balance - before),
          );
        }
      }
    }
    if (watch !== null) {
      // The managers: once an hour toward their targets; at the last point they close out and depositors redeem.
      const px = path.markets[vaultMarket]!.ticks[point]!;
      if (watch.newHour(time, px))
        SIM_VAULTS.forEach((_, i) => {
          const price = plannedPrice(vaultMarket, point);
          const { lots, nav } = watch.position(i, vaultSymbol);
          const target = watch.target(i, price, nav, lots);
          if (target !== null && watch.worth(lots, target, price, nav)) vaultMove(i, lots, target, point);
        });
      if (point === n - 1) {
        SIM_VAULTS.forEach((_, i) => {
          const { lots } = watch.position(i, vaultSymbol);
          if (lots !== 0n) vaultMove(i, lots, 0n, point);
        });
        watch.beforeRedemptions(time);
        population.traders.forEach((t, ti) => {
          const i = vaultPlan!.vault[ti]!;
          if (i < 0) return;
          const h = watch.vault(i).depositors.get(t.id);
          if (h === undefined || h.shares === 0n || time < h.lockedUntil) return;
          const r = run(
            {
              type: 'vaultWithdraw',
              time,
              vault: SIM_VAULTS[i]!.id,
              account: t.id,
              shares: formatDecimal(h.shares, SHARE_DP),
            },
            t.id,
          );
          if (!r.ok) watch.onTrade(i, `withdraw ${r.code}`);
        });
      }
    }
    if ((point + 1) % input.bucketSize === 0 || point === n - 1) {
      collector.sample();
      if (dynamic !== null) locked.push(extraMaintenance(engine, symbols, traderIds));
    }
    hooks.onPoint?.(point, engine);
    if (hooks.onProgress && ((point + 1) % every === 0 || point === n - 1)) hooks.onProgress(point + 1);
  }
  const vaults = watch?.finish(
    vaultPlan!,
    population.traders.map((t) => t.id),
  );
  // A depositor's stake counts in what it deposited, its shares still held at the final NAV in its equity.
  const figures = collector.finish(vaults ? { deposit: vaults.stake, equity: vaults.held } : undefined);
  // A vault's liquidation that took from anyone's free balance is an isolation breach like a bucket's.
  if (vaults) for (const v of vaults.vaults) figures.isolationBreaches += v.breaches;
  if (dynamic !== null && n > 1) {
    const span = path.times[n - 1]! - path.times[0]!;
    figures.dynamicMargin.meanFactor = factorMs.map((x) => Math.round((x / span) * 10_000) / 10_000);
    figures.dynamicMargin.lockedMean =
      locked.length > 0 ? locked.reduce((a, b) => a + b, 0n) / BigInt(locked.length) : 0n;
    figures.dynamicMargin.lockedPeak = locked.reduce((a, b) => (b > a ? b : a), 0n);
  }
  return {
    policy,
    figures,
    series: collector.series,
    byTrader: collector.byTrader,
    commands,
    ...(vaults ? { vaults } : {}),
    wallMs: performance.now() - started,
  };
}

/**
 * The traders' maintenance under the factor in force less under the static table, summed over their open positions
 * (the liquidation test's own figure, at each market's mark): what volatility-adjusted margin keeps locked beyond
 * the static requirement at this moment. Markets at factor 1 add nothing and are skipped.
 */
function extraMaintenance(engine: Engine, symbols: readonly string[], traders: ReadonlySet<string>): bigint {
  let extra = 0n;
  for (const s of symbols) {
    const m = engine.markets.get(s)!;
    if (m.inst === m.baseInst || m.mark === null) continue;
    for (const p of m.positions) {
      if (p.sign === 0 || !traders.has(p.account.id)) continue;
      const pos = positionInput(p);
      extra +=
        triggerMaintenance(m.inst, engine.conventions, pos, m.mark) -
        triggerMaintenance(m.baseInst, engine.conventions, pos, m.mark);
    }
  }
  return extra;
}

/**
 * A rebalancing trader's boxes: a reserve silo holding the whole deposit (what a plain isolated trader keeps free),
 * one standalone silo per planned position, and the agent on: every silo gives, every position's silo receives, at
 * the trader's top-up trigger, with the engine's defaults for the target (half the trigger) and the givers' buffer.
 */
function openRebalancing(t: Trader, must: (cmd: Command) => void, deposit: string, time: number): void {
  const silo = (id: string) =>
    must({ type: 'createSilo', time, account: t.id, silo: id, asset: SETTLE_ASSET, riskModel: 'standalone' });
  silo(RESERVE_SILO);
  const legs = t.positions.map((_, j) => legSilo(j));
  for (const id of legs) silo(id);
  must({ type: 'transferCollateral', time, account: t.id, from: 'free', to: RESERVE_SILO, amount: deposit });
  must({
    type: 'setRebalancing',
    time,
    account: t.id,
    asset: SETTLE_ASSET,
    enabled: true,
    givers: [RESERVE_SILO, ...legs],
    receivers: legs,
    trigger: t.autoAdd?.trigger ?? '0.8',
  });
}

/**
 * The population's opens and closes in run order: by point, opens before closes, then trader, then position. It is
 * the same for every policy, so it is computed once per population (per process). Action i opens (`open[i]` = 1) or
 * closes position `position[i]` of trader `trader[i]` at point `point[i]`.
 */
class Plan {
  readonly length: number;
  readonly point: Int32Array;
  readonly trader: Int32Array;
  readonly position: Int32Array;
  readonly open: Uint8Array;

  constructor(population: Population) {
    const ts = population.traders;
    // Each action as one number, ((point × 2 + close) × traders + trader) × positions + position, checked to stay a
    // safe integer: the order is then a sort of numbers (exact), decoded below with exact integer steps.
    const T = Math.max(1, ts.length);
    let P = 1;
    for (const t of ts) P = Math.max(P, t.positions.length);
    const key = (point: number, close: number, trader: number, position: number) =>
      ((point * 2 + close) * T + trader) * P + position;
    let n = 0;
    let maxPoint = 0;
    for (const t of ts)
      for (const p of t.positions) {
        if (!Number.isSafeInteger(p.openPoint) || p.openPoint < 0)
          throw new Error(`bug: ${t.id} plans a position opening at point ${p.openPoint}`);
        n += p.closePoint >= 0 ? 2 : 1;
        maxPoint = Math.max(maxPoint, p.openPoint, p.closePoint);
      }
    if (!Number.isSafeInteger(key(maxPoint, 1, T - 1, P - 1)) || maxPoint > 0x7fffffff)
      throw new Error('bug: the plan does not fit its keys');
    const keys = new Float64Array(n);
    let i = 0;
    ts.forEach((t, ti) => {
      t.positions.forEach((p, pi) => {
        keys[i++] = key(p.openPoint, 0, ti, pi);
        if (p.closePoint >= 0) keys[i++] = key(p.closePoint, 1, ti, pi);
      });
    });
    keys.sort();
    this.length = n;
    this.point = new Int32Array(n);
    this.trader = new Int32Array(n);
    this.position = new Int32Array(n);
    this.open = new Uint8Array(n);
    for (let j = 0; j < n; j++) {
      const k = keys[j]!;
      const position = k % P;
      const x = (k - position) / P;
      const trader = x % T;
      const y = (x - trader) / T;
      const close = y % 2;
      this.point[j] = (y - close) / 2;
      this.trader[j] = trader;
      this.position[j] = position;
      this.open[j] = close === 0 ? 1 : 0;
    }
  }
}

/** Plans by population: a population is not changed once planned (prepare's output is read-only data). */
const plans = new WeakMap<Population, Plan>();

function planOf(population: Population): Plan {
  let plan = plans.get(population);
  if (plan === undefined) {
    plan = new Plan(population);
    plans.set(population, plan);
  }
  return plan;
}

/** Market-maker ladders sized from the population: each level a fraction of the market's planned notional. */
export function planMakers(
  path: SimPath,
  markets: readonly SimMarket[],
  population: Population,
  opts: { stepRate: number; levels: number; levelShare: number; minLevelNotional: number },
): MakerPlan[] {
  return markets.map((m, k) => {
    const inst = instrumentOf(m.config);
    const pm = path.markets[k]!;
    const p0 = Number(BigInt(pm.ticks[0]!) * inst.tickSize) / Number(pow10(inst.priceDp));
    const lotUnits = Number(inst.lotSize) / Number(pow10(inst.sizeDp));
    const stepTicks = Math.max(
      1,
      Math.round((p0 * opts.stepRate) / (Number(inst.tickSize) / Number(pow10(inst.priceDp)))),
    );
    const planned = Number(population.plannedNotional[k]!) / Number(pow10(inst.settleDp));
    const levelNotional = Math.max(opts.minLevelNotional, planned * opts.levelShare);
    return {
      stepTicks,
      levels: opts.levels,
      levelLots: Math.max(1, Math.ceil(levelNotional / (p0 * lotUnits))),
    };
  });
}
