/**
 * One options policy, one run: the options writers (options-writers.ts) through a fresh engine on the replayed
 * market, every strategy in its own named silo under the policy's risk model.
 *
 * Setup (at the first point's time): the replayed perpetual (the policy's liquidation spec), the insurance fund
 * seeded as for every policy, the desks (options-desk.ts) and the perpetual's market maker funded, and a
 * strategy-builder account `calc` with one empty silo of the policy's model: what a writer asks the venue before it
 * opens ("what does this strategy need?").
 * Then at each point of the path, in this order:
 *   1. when the underlying's deviation feed is due (options.ts OPTIONS_FEED), the market maker re-quotes the
 *      perpetual and one `oracleQuote` goes in (options re-mark; the liquidation sweep runs here);
 *   2. an expiry due for listing is listed (`createOptionChain`: puts up to the spot, calls from it) with its first
 *      `volQuote`; on the vol path's quote points every live expiry is re-quoted (the smile at that point's ATM IV);
 *   3. on the vol quote points and at an expiry, a `tick` (settlement, option re-marking with time: between them the
 *      underlying's moves re-mark the options at their own times, and re-marking is what a run of options spends);
 *   4. on a quote, the backstop unwinds what it took of the perpetual through the book (options it holds to expiry);
 *   5. the writers: after an expiry settled, its writers close what is left (a covered call's perpetual) and close
 *      their silos; those planned to close early buy their legs back (one combo at the marks); those planned to
 *      open, open;
 *   6. a settled expiry's markets are delisted (the venue lists as it goes; a long file never needs more markets).
 *
 * Opening: the writer asks the strategy builder for the silo's initial margin over its legs at the marks (the
 * engine's own `siloFiguresOver`), deposits that × its cushion plus the taker fees (rounded up to a whole unit),
 * creates its silo with the policy's model, moves the deposit in, and sends one `placeCombo` against the desk, which
 * rests the other side of every leg at its mark first and withdraws what was not taken after. A refused combo leaves
 * the money in the free balance (the silo is closed again) and is counted by its code.
 */
import { ceilDiv, formatDecimal } from '../core/fixed.ts';
import type { Instrument } from '../core/instrument.ts';
import { notional } from '../core/margin.ts';
import { buildConventions, PRESETS } from '../core/presets.ts';
import { LEVERAGE_ONE, RATE_ONE } from '../core/rates.ts';
import type { PositionView, Silo } from '../engine/account.ts';
import { Engine } from '../engine/engine.ts';
import { BACKSTOP_ACCOUNT } from '../engine/liquidation.ts';
import { instrumentOf, type Market } from '../engine/market.ts';
import { siloFiguresOver } from '../engine/silos.ts';
import type { ApplyResult, Command, MarketConfig } from '../engine/types.ts';
import { PATH_PRICE_DP } from './csv.ts';
import { MarketMaker } from './market-maker.ts';
import { Collector, RETURN_BINS, SETTLE_ASSET } from './metrics.ts';
import type { OptionsPolicy } from './options.ts';
import { chainSymbol, chainSymbols, type ExpiryPlan, OPTION_LOT, OPTION_TICK } from './options-chain.ts';
import { DESK, type DeskLeg, HOUSE_DEPOSIT, OptionsDesk } from './options-desk.ts';
import { type OptionsFigures, OptionsWatcher } from './options-metrics.ts';
import { quoteAt, smileIvs } from './options-vol.ts';
import type { OptionsWriter } from './options-writers.ts';
import { priceString } from './path.ts';
import type { Trader } from './population.ts';
import type { Issuer, PolicyResult, RunHooks, RunInput } from './runner.ts';

/** runner.ts's maker account name. */
const makerAccount = (symbol: string) => `mm.${symbol}`;
/** Every writer's silo id, and the strategy builder's account and silo. */
export const WRITER_SILO = 'strategy';
export const BUILDER_ACCOUNT = 'calc';
const BUILDER_SILO = 'builder';

/** The instrument every option of the chain shares (tick, lot, settle decimals): what the Collector needs. */
function optionInstrument(perp: MarketConfig): Instrument {
  return instrumentOf({
    symbol: `${perp.base}-OPTION`,
    kind: 'linear',
    base: perp.base,
    quote: perp.quote,
    tickSize: OPTION_TICK,
    lotSize: OPTION_LOT,
    settleDp: perp.settleDp,
    maxLeverage: '1',
    risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.5', maxLeverage: '1' }] },
    takerFee: '0.0003',
    makerFee: '0.0003',
  });
}

interface PointActions {
  open: number[];
  close: number[];
  wrap: number[];
}

export function runOptionsPolicy(input: RunInput, policy: OptionsPolicy, hooks: RunHooks = {}): PolicyResult {
  const started = performance.now();
  const plan = input.optionsPlan;
  if (!plan) throw new Error(`policy ${policy.id} needs the options plan (prepare() makes it)`);
  const { path } = input;
  const { chain, vol } = plan;
  const writers = plan.writers.writers;
  const preset = PRESETS[policy.conventions];
  if (!preset) throw new Error(`unknown conventions preset ${policy.conventions}`);
  const engine = new Engine({ conventions: buildConventions(preset.conventions) });
  const perpCfg = input.markets[0]!.config;
  const perpSymbol = perpCfg.symbol;
  const pm = path.markets[0]!;
  const perpInst = instrumentOf(perpCfg);
  const optionInst = optionInstrument(perpCfg);
  const optionSymbols = chainSymbols(chain);
  const optionSet = new Set(optionSymbols);
  const symbols = [perpSymbol, ...optionSymbols];
  const instOf = (s: string) => (s === perpSymbol ? perpInst : optionInst);
  const maker = new MarketMaker({
    symbol: perpSymbol,
    account: makerAccount(perpSymbol),
    ...input.makers[0]!,
    price: (t) => priceString(pm, t),
    size: (lots) => formatDecimal(BigInt(lots) * perpInst.lotSize, perpInst.sizeDp),
  });
  const traders: Trader[] = writers.map((w, i) => ({
    index: i,
    id: w.id,
    deposit: 0n,
    autoAdd: null,
    positions: [],
  }));
  const collector = new Collector({
    engine,
    symbols,
    insts: symbols.map(instOf),
    traders,
    makers: new Map([[maker.spec.account, maker]]),
    bucketSize: input.bucketSize,
    buckets: input.buckets,
  });
  const perpMarket = (): Market => engine.markets.get(perpSymbol)!;
  const watcher = new OptionsWatcher(
    policy.options.model,
    writers,
    WRITER_SILO,
    instOf,
    (size) => notional(perpInst, size, perpMarket().mark ?? 0n, 'ceil'),
    (s) => optionSet.has(s),
  );
  let commands = 0;
  const run = (cmd: Command, issuer: Issuer): ApplyResult => {
    const r = engine.apply(cmd);
    commands++;
    if (r.ok) {
      collector.onEvents(r.events);
      watcher.onEvents(r.events);
    }
    hooks.onCommand?.(cmd, r, issuer);
    return r;
  };
  const must = (cmd: Command, issuer: Issuer): ApplyResult => {
    const r = run(cmd, issuer);
    if (!r.ok) throw new Error(`options simulation: ${cmd.type} rejected: ${r.code} ${r.message}`);
    return r;
  };
  const money = (v: bigint) => formatDecimal(v, perpInst.settleDp);
  const unit = 10n ** BigInt(perpInst.settleDp);

  // ---- setup ----
  let time = path.times[0]!;
  // The deviation feed quotes the perpetual less often than every point: its staleness limit covers the heartbeat.
  const oracle = perpCfg.oracle ? { ...perpCfg.oracle, stalenessMs: plan.feed.stalenessMs } : undefined;
  must(
    {
      type: 'createMarket',
      time,
      market: { ...perpCfg, liquidation: policy.liquidation, ...(oracle ? { oracle } : {}) },
    },
    null,
  );
  if (input.insurance > 0n)
    must({ type: 'fundInsurance', time, asset: SETTLE_ASSET, amount: money(input.insurance) }, null);
  for (const acct of [DESK, maker.spec.account]) {
    must({ type: 'deposit', time, account: acct, asset: SETTLE_ASSET, amount: HOUSE_DEPOSIT }, acct);
    must({ type: 'setLeverage', time, account: acct, symbol: perpSymbol, leverage: '1' }, acct);
  }
  const silo = (account: string, id: string, riskModel: OptionsPolicy['options']['model']) =>
    must({ type: 'createSilo', time, account, silo: id, asset: SETTLE_ASSET, riskModel }, account);
  const desk = new OptionsDesk(engine, chain, run);
  desk.open(time);
  must({ type: 'deposit', time, account: BUILDER_ACCOUNT, asset: SETTLE_ASSET, amount: '1' }, null);
  silo(BUILDER_ACCOUNT, BUILDER_SILO, policy.options.model);
  const builder: Silo = engine.accounts.get(BUILDER_ACCOUNT)!.silos.get(BUILDER_SILO)!;
  const quotePerp = (point: number) =>
    run(
      {
        type: 'oracleQuote',
        time,
        symbol: perpSymbol,
        source: 'feed',
        price: priceString(pm, pm.ticks[point]!),
      },
      null,
    );
  const first = quotePerp(0);
  if (!first.ok) throw new Error(`options simulation: first quote rejected: ${first.code} ${first.message}`);

  // ---- the chain: listing, vol quotes, delisting ----
  const spotAt = (point: number) => (pm.ticks[point]! * Number(pm.tickSize)) / 10 ** PATH_PRICE_DP;
  const quoteVol = (x: ExpiryPlan, point: number) => {
    const strikes = [...x.putStrikes, ...x.callStrikes];
    const ivs = smileIvs(vol.atm[quoteAt(vol, point)]!, spotAt(point), strikes);
    must(
      { type: 'volQuote', time, underlying: perpSymbol, expiry: x.expiry, smile: { kind: 'strikes', ivs } },
      null,
    );
    watcher.f.listed.volQuotes++;
  };
  const list = (x: ExpiryPlan, point: number) => {
    const sides = [
      ['put', x.putStrikes],
      ['call', x.callStrikes],
    ] as const;
    for (const [type, strikes] of sides) {
      must(
        {
          type: 'createOptionChain',
          time,
          underlying: perpSymbol,
          settle: 'linear',
          expiries: [x.expiry],
          strikes: strikes.map((k) => k.key),
          types: [type],
          tickSize: OPTION_TICK,
          lotSize: OPTION_LOT,
          // The feed is the simulation's own derivation: a jump guard tighter than a doubling would only lag it.
          vol: { stalenessMs: plan.volStalenessMs, maxJump: '1' },
          liquidation: policy.liquidation,
        },
        null,
      );
      watcher.f.listed.markets += strikes.length;
    }
    watcher.f.listed.expiries++;
    quoteVol(x, point);
  };
  const expirySymbols = (x: ExpiryPlan) => [
    ...x.putStrikes.map((k) => chainSymbol(chain, x.expiry, k, 'put')),
    ...x.callStrikes.map((k) => chainSymbol(chain, x.expiry, k, 'call')),
  ];
  let toDelist: string[] = [];
  const delist = () => {
    toDelist = toDelist.filter((symbol) => {
      const r = run({ type: 'delistMarket', time, symbol }, null);
      if (r.ok) watcher.f.listed.delisted++;
      return !r.ok;
    });
  };

  // ---- the writers ----
  const byPoint = new Map<number, PointActions>();
  const at = (p: number) => {
    let a = byPoint.get(p);
    if (!a) {
      a = { open: [], close: [], wrap: [] };
      byPoint.set(p, a);
    }
    return a;
  };
  writers.forEach((w, i) => {
    at(w.openPoint).open.push(i);
    if (w.closePoint >= 0) at(w.closePoint).close.push(i);
    const settle = chain.expiries[w.expiry]!.settlePoint;
    if (settle >= 0) at(settle).wrap.push(i);
  });
  collector.f.opens.planned = writers.length;
  collector.f.exits.planned = writers.filter((w) => w.closePoint >= 0).length;

  /** One combo of every leg (or one order when a single leg is left), against the desk's quotes. */
  const trade = (w: OptionsWriter, legs: DeskLeg[], closing: boolean): ApplyResult => {
    const ids = desk.quote(legs, time);
    const leg = (l: DeskLeg) => ({
      symbol: l.m.symbol,
      side: l.side,
      size: formatDecimal(l.size, l.m.inst.sizeDp),
      price: formatDecimal(l.price, l.m.inst.priceDp),
    });
    const r =
      legs.length >= 2
        ? run({ type: 'placeCombo', time, account: w.id, silo: WRITER_SILO, legs: legs.map(leg) }, w.id)
        : run(
            {
              type: 'placeOrder',
              time,
              account: w.id,
              silo: WRITER_SILO,
              orderType: 'limit',
              timeInForce: 'IOC',
              ...leg(legs[0]!),
              ...(closing ? { reduceOnly: true } : {}),
            },
            w.id,
          );
    desk.withdraw(ids, time);
    return r;
  };
  const siloOf = (w: OptionsWriter): Silo | undefined => engine.accounts.get(w.id)?.silos.get(WRITER_SILO);

  const open = (wi: number) => {
    const w = writers[wi]!;
    const markets = w.legs.map((l) => engine.markets.get(l.symbol));
    if (markets.some((m) => !m || m.closed || m.mark === null || m.mark <= 0n)) {
      watcher.reject('NO_PREMIUM');
      collector.f.opens.rejected.NO_PREMIUM = (collector.f.opens.rejected.NO_PREMIUM ?? 0) + 1;
      return;
    }
    const legs = w.legs.map((l, j) => {
      const m = markets[j]!;
      const price = OptionsDesk.limitAt(m, l.side);
      return { m, side: l.side, size: m.size(l.lots), price, lots: l.lots, option: l.option !== null };
    });
    const views: PositionView[] = legs.map((l) => ({
      market: l.m,
      leverage: l.option ? l.m.defaultLeverage : BigInt(w.leverage) * LEVERAGE_ONE,
      sign: l.side === 'buy' ? 1 : -1,
      lots: l.lots,
      entryPrice: l.price,
      size: l.size,
      mode: 'cross',
      fundingIndex: l.m.funding?.cumIndex ?? 0n,
    }));
    const need = siloFiguresOver(engine, builder, views, 0n, 'requirement');
    let fees = 0n;
    for (const l of legs)
      fees += ceilDiv(notional(l.m.inst, l.size, l.price, 'ceil') * l.m.takerFee, RATE_ONE);
    const deposit = ceilDiv(ceilDiv(need.initialMargin * BigInt(w.cushionMilli), 1000n) + fees, unit) * unit;
    must({ type: 'deposit', time, account: w.id, asset: SETTLE_ASSET, amount: money(deposit) }, w.id);
    traders[wi]!.deposit += deposit;
    if (!siloOf(w)) silo(w.id, WRITER_SILO, policy.options.model);
    must(
      {
        type: 'transferCollateral',
        time,
        account: w.id,
        from: 'free',
        to: WRITER_SILO,
        amount: money(deposit),
      },
      w.id,
    );
    if (w.legs.some((l) => l.option === null))
      must(
        {
          type: 'setLeverage',
          time,
          account: w.id,
          symbol: perpSymbol,
          leverage: String(w.leverage),
          silo: WRITER_SILO,
        },
        w.id,
      );
    const r = trade(w, legs, false);
    if (r.ok) {
      collector.f.opens.filled++;
      watcher.opened(w, deposit, siloOf(w)!.bucket.balance, need.initialMargin, need.standaloneInitialMargin);
      return;
    }
    watcher.reject(r.code);
    collector.f.opens.rejected[r.code] = (collector.f.opens.rejected[r.code] ?? 0) + 1;
    run({ type: 'closeSilo', time, account: w.id, silo: WRITER_SILO }, w.id);
  };

  /** Buys back / sells out what is left in the writer's silo (at the marks), then closes the silo. */
  const close = (wi: number, early: boolean) => {
    const w = writers[wi]!;
    const s = siloOf(w);
    if (!s) return;
    const legs = [...s.positions.values()]
      .filter((p) => p.sign !== 0 && !p.market.closed)
      .map((p) => ({
        m: p.market,
        side: (p.sign > 0 ? 'sell' : 'buy') as 'buy' | 'sell',
        size: p.size,
        price: OptionsDesk.limitAt(p.market, p.sign > 0 ? 'sell' : 'buy'),
      }));
    if (legs.length > 0) {
      const r = trade(w, legs, true);
      if (early) {
        if (r.ok) {
          collector.f.exits.done++;
          watcher.f.closedEarly++;
        } else collector.f.exits.skipped++;
      }
    } else if (early) collector.f.exits.skipped++;
    run({ type: 'closeSilo', time, account: w.id, silo: WRITER_SILO }, w.id);
  };

  // ---- the path ----
  const n = path.times.length;
  const every = hooks.progressEvery ?? 1000;
  let q = 0; // next vol quote
  const settling = new Set(chain.expiries.map((x) => x.settlePoint));
  const listing = new Set(chain.expiries.map((x) => x.listPoint));
  const { deviation, heartbeatMs } = plan.feed;
  let quotedTicks = pm.ticks[0]!;
  let quotedAt = time;
  for (let point = 0; point < n; point++) {
    time = path.times[point]!;
    collector.point = point;
    const px = pm.ticks[point]!;
    const acts = byPoint.get(point);
    const quoting = q < vol.points.length && vol.points[q] === point;
    if (quoting) q++;
    // The deviation feed (options.ts): the underlying is quoted when it moved enough, on its heartbeat, and wherever
    // something happens (a vol quote, a listing, an expiry, a writer's trade): each quote re-marks every option.
    const due =
      point === 0 ||
      quoting ||
      acts !== undefined ||
      listing.has(point) ||
      settling.has(point) ||
      Math.abs(px - quotedTicks) >= deviation * quotedTicks ||
      time - quotedAt >= heartbeatMs;
    if (due) {
      maker.requote(px, time, (cmd) => run(cmd, maker.spec.account));
      if (point > 0) quotePerp(point);
      quotedTicks = px;
      quotedAt = time;
    }
    for (const x of chain.expiries) {
      if (x.listPoint === point) list(x, point);
      else if (quoting && x.listPoint < point && time < x.expiry) quoteVol(x, point);
    }
    // Time alone re-marks every option and re-checks every holder: a tick on the vol quote points (and at expiry, to
    // settle) keeps the marks' time decay current; in between, every quote of the underlying re-marks at its time.
    if (quoting || settling.has(point)) run({ type: 'tick', time }, null);
    const held = collector.backstopLots[0]!;
    if (due && held !== 0) {
      const lots = Math.min(Math.abs(held), input.makers[0]!.levelLots);
      run(
        {
          type: 'placeOrder',
          time,
          account: BACKSTOP_ACCOUNT,
          symbol: perpSymbol,
          side: held > 0 ? 'sell' : 'buy',
          orderType: 'limit',
          price: priceString(pm, held > 0 ? Math.max(1, Math.floor(px * 0.99)) : Math.ceil(px * 1.01)),
          size: formatDecimal(BigInt(lots) * perpInst.lotSize, perpInst.sizeDp),
          timeInForce: 'IOC',
          reduceOnly: true,
        },
        BACKSTOP_ACCOUNT,
      );
    }
    if (acts) {
      for (const i of acts.wrap) close(i, false);
      for (const i of acts.close) close(i, true);
      for (const i of acts.open) open(i);
    }
    for (const x of chain.expiries) if (x.settlePoint === point) toDelist.push(...expirySymbols(x));
    if (toDelist.length > 0) delist();
    watcher.endPoint(time);
    if ((point + 1) % input.bucketSize === 0 || point === n - 1) collector.sample();
    hooks.onPoint?.(point, engine);
    if (hooks.onProgress && ((point + 1) % every === 0 || point === n - 1)) hooks.onProgress(point + 1);
  }
  const figures = collector.finish();
  const options = finishOptions(watcher, traders, collector.byTrader.equity, writers);
  // Writers who never deposited are neither wiped out nor in the return distribution.
  figures.wipedOut = options.wipedOut;
  figures.returns = returnBins(traders, collector.byTrader.equity);
  return {
    policy,
    figures,
    series: {
      ...collector.series,
      liquidations: onUnderlying(collector.series.liquidations, path.markets.length, input.buckets),
    },
    byTrader: collector.byTrader,
    commands,
    wallMs: performance.now() - started,
    options,
  };
}

/** Per-strategy P&L and wipe-outs from the final equities (writers who deposited only). */
function finishOptions(
  watcher: OptionsWatcher,
  traders: readonly Trader[],
  equity: readonly bigint[],
  writers: readonly OptionsWriter[],
): OptionsFigures {
  const f = watcher.finish();
  traders.forEach((t, i) => {
    if (t.deposit === 0n) return;
    const pnl = equity[i]! - t.deposit;
    f.pnl += pnl;
    f.byStrategy[writers[i]!.strategy].pnl += pnl;
    if (equity[i]! * 100n <= t.deposit) f.wipedOut++;
  });
  return f;
}

function returnBins(traders: readonly Trader[], equity: readonly bigint[]): number[] {
  const bins = new Array<number>(RETURN_BINS).fill(0);
  traders.forEach((t, i) => {
    if (t.deposit === 0n) return;
    const bin = Number((equity[i]! * 10n) / t.deposit);
    bins[Math.max(0, Math.min(RETURN_BINS - 1, bin))]!++;
  });
  return bins;
}

/** Liquidations per chart bucket, all on the underlying: the report charts them on the replayed market's row. */
function onUnderlying(byMarket: Int32Array, rows: number, buckets: number): Int32Array {
  const out = new Int32Array(rows * buckets);
  for (let i = 0; i < byMarket.length; i++) out[i % buckets]! += byMarket[i]!;
  return out;
}
