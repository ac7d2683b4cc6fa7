/**
 * `ringfence simulate`, the model: load a price file, build the path and the population, run every policy on them
 * (in child processes when there are several workers, see parallel.ts), and summarize.
 *
 * Layout: csv.ts (readers) → path.ts (points, synthetic markets) → population.ts (traders) → runner.ts (one policy
 * through the engine, metrics.ts watching) → this file (orchestration, the JSON summary) → report.ts (HTML).
 * The sim imports core and engine; nothing imports the sim but the CLI and its tests.
 */
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getSystemErrorMap } from 'node:util';
import { formatDecimal, pow10 } from '../core/fixed.ts';
import { RATE_DP } from '../core/rates.ts';
import { DEFAULT_NETTING } from '../core/silo.ts';
import { instrumentOf } from '../engine/market.ts';
import { type CsvFormat, PATH_PRICE_DP, parsePriceCsv } from './csv.ts';
import {
  ALL_POLICY_IDS,
  DYNAMIC_RISK_POLICY_IDS,
  type Policy,
  policyById,
  type SimMarket,
  simCorrelations,
  simMarkets,
  VAULTS_POLICY_IDS,
} from './markets.ts';
import { COLLATERAL_ASSET, type ConversionFigures, RETURN_BINS, type StageFigures } from './metrics.ts';
import { isOptionsPolicy, OPTIONS_POLICY_IDS, optionsPolicyById, planOptions } from './options.ts';
import { optionsFiguresSummary, optionsPlanSummary } from './options-summary.ts';
import { buildPath, type Intrabar, largestGap, PathError, type SimPath } from './path.ts';
import { generatePopulation, type Population, type Trader } from './population.ts';
import {
  COLLATERAL_DP,
  inBtcCollateral,
  inNettedSilo,
  inRebalancing,
  isBtcMarket,
  type MakerPlan,
  type PolicyResult,
  planMakers,
  type RunInput,
  runPolicy,
} from './runner.ts';
import { npsText, planVaults, SIM_VAULTS, VAULT_DEPOSITOR_SHARE, VAULT_TERMS } from './vaults.ts';

/** The embedded data: Bitstamp BTC/USD 1-minute bars, January 2025 (see data/README.md). */
export const DEFAULT_DATA = fileURLToPath(
  new URL('../../data/btcusd-bitstamp-1m-2025-01.csv', import.meta.url),
);
export const DEFAULT_CREDIT =
  'Bitstamp BTC/USD 1-minute data via ff137/bitstamp_btcusd_minute_data (MIT License)';
const MAX_FILE_BYTES = 512 * 1024 * 1024;
export const MAX_TRADERS = 1_000_000;

export interface SimulateOptions {
  /** CSV path; default the embedded Bitstamp file. */
  data?: string;
  format?: CsvFormat | 'auto';
  traders: number;
  seed: number;
  policies: readonly string[];
  intrabar: Intrabar;
  /** Use only the first `bars` rows of the file (0: all). */
  bars?: number;
  /** Insurance fund seed in USDT; default 0.25% of the population's planned notional. */
  insurance?: string;
  /** Points in the charts (the path is bucketed to about this many). */
  chartPoints?: number;
  /** Credit line for the data source (default: the embedded file's, or the file name). */
  credit?: string;
}

export interface DataSource {
  file: string;
  format: CsvFormat;
  rows: number;
  used: number;
  from: string;
  to: string;
  credit: string;
}

/** Everything a run needs, as plain data (it crosses into child processes by structured-clone serialization). */
export interface PreparedSimulation extends RunInput {
  options: SimulateOptions;
  source: DataSource;
  policies: Policy[];
}

export class SimulateError extends Error {}

export function resolvePolicies(ids: readonly string[]): Policy[] {
  if (ids.length === 0) throw new SimulateError('no policies given');
  const out: Policy[] = [];
  // `options` names the four options policies at once, `dynamic-risk` issue 22's three and their comparisons.
  // `vaults` names the vaults policy beside isolated (the policy itself is also `vaults`, found in the group).
  const group = (x: string) =>
    x === 'options'
      ? OPTIONS_POLICY_IDS
      : x === 'dynamic-risk'
        ? DYNAMIC_RISK_POLICY_IDS
        : x === 'vaults'
          ? VAULTS_POLICY_IDS
          : [x];
  for (const id of ids.flatMap(group)) {
    const p = policyById(id) ?? optionsPolicyById(id);
    if (!p)
      throw new SimulateError(
        `unknown policy "${id}" (known: ${[...ALL_POLICY_IDS, ...OPTIONS_POLICY_IDS].join(', ')}; hybrid:<share in [0, 1]> sets the hybrid opt-in share; options: the four options policies; dynamic-risk: ${DYNAMIC_RISK_POLICY_IDS.join(', ')}; vaults: ${VAULTS_POLICY_IDS.join(', ')})`,
      );
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

export function prepare(opts: SimulateOptions): PreparedSimulation {
  if (!Number.isSafeInteger(opts.traders) || opts.traders < 0 || opts.traders > MAX_TRADERS)
    throw new SimulateError(`traders must be an integer from 0 to ${MAX_TRADERS}`);
  if (!Number.isSafeInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff)
    throw new SimulateError('seed must be an integer from 0 to 4294967295');
  const policies = resolvePolicies(opts.policies);
  const file = opts.data ?? DEFAULT_DATA;
  const series = parsePriceCsv(readData(file), file, opts.format ?? 'auto');
  const bars = opts.bars && opts.bars > 0 ? series.bars.slice(0, opts.bars) : series.bars;
  if (bars.length < 2) throw new SimulateError(`${file}: a path needs at least 2 rows`);
  const intrabar = series.format === 'price' ? 'close' : opts.intrabar;
  // The oracle must not go stale between two points of the file: its limit is set above the largest gap.
  const times = bars.map((b) => b.time);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  const markets = simMarkets(Math.max(300_000, 2 * gap + 60_000));
  let path: SimPath;
  try {
    path = buildPath(bars, markets, intrabar, opts.seed);
  } catch (e) {
    // E.g. prices too small for the replayed market's tick: name the row (the path knows only the bar's index).
    if (e instanceof PathError)
      throw new SimulateError(`${file}${e.bar === null ? '' : `:${series.lines[e.bar]}`}: ${e.message}`);
    throw e;
  }
  if (largestGap(path.times) > 2 * gap + 60_000) throw new Error('bug: staleness below the path gap');
  const population = generatePopulation(opts.seed, opts.traders, path, markets);
  const makers = planMakers(path, markets, population, {
    stepRate: 0.0005,
    levels: 5,
    levelShare: 0.002,
    minLevelNotional: 50_000,
  });
  const total = population.plannedNotional.reduce((a, b) => a + b, 0n);
  const insurance = opts.insurance !== undefined ? parseUsdt(opts.insurance) : total / 400n;
  const chartPoints = Math.max(10, Math.min(20_000, opts.chartPoints ?? 2_000));
  const bucketSize = Math.max(1, Math.ceil(path.times.length / chartPoints));
  const iso = (ms: number) => new Date(ms).toISOString();
  const embedded = file === DEFAULT_DATA;
  return {
    options: opts,
    source: {
      file: embedded ? 'data/btcusd-bitstamp-1m-2025-01.csv' : file,
      format: series.format,
      rows: series.bars.length,
      used: bars.length,
      from: iso(bars[0]!.time),
      to: iso(bars[bars.length - 1]!.time),
      credit: opts.credit ?? (embedded ? DEFAULT_CREDIT : `price data: ${file}`),
    },
    policies,
    path,
    markets,
    population,
    makers,
    insurance,
    // The options policies' chain, vol path and writers, planned once for all of them (options.ts).
    ...(policies.some(isOptionsPolicy)
      ? { optionsPlan: planOptions(opts.seed, path, markets, population) }
      : {}),
    // The vaults policy's depositors and stakes (vaults.ts).
    ...(policies.some((p) => p.vaults) ? { vaultPlan: planVaults(opts.seed, population) } : {}),
    bucketSize,
    buckets: Math.ceil(path.times.length / bucketSize),
  };
}

/** The file's text; a missing, unreadable or non-file path (a directory) is a SimulateError naming it and why. */
function readData(file: string): string {
  const fail = (e: unknown): never => {
    const err = e as NodeJS.ErrnoException;
    const code = err.code ?? 'error';
    const reason =
      code === 'EISDIR'
        ? 'is a directory, not a CSV file'
        : ((err.errno !== undefined ? getSystemErrorMap().get(err.errno)?.[1] : undefined) ?? err.message);
    throw new SimulateError(`cannot read ${file} (${code}): ${reason}`);
  };
  let size = 0;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    size = st.size;
  } catch (e) {
    fail(e);
  }
  if (size > MAX_FILE_BYTES) throw new SimulateError(`${file} is larger than ${MAX_FILE_BYTES} bytes`);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    return fail(e);
  }
}

function parseUsdt(s: string): bigint {
  const m = /^(\d{1,15})(?:\.(\d{1,8}))?$/.exec(s);
  if (!m) throw new SimulateError(`insurance: "${s}" is not a plain decimal amount of USDT`);
  return BigInt(m[1]!) * pow10(8) + BigInt((m[2] ?? '').padEnd(8, '0'));
}

export interface RunOptions {
  /** Child processes (1: run in this process). At most one per policy. */
  workers?: number;
  /** Called with (points done across all policies, total). */
  onProgress?: (done: number, total: number) => void;
  /** Filled with each child process's peak resident memory (KiB) when the policies run in children. */
  childPeakRssKiB?: number[];
}

/** Runs every policy of `prep`; results in policy order, identical whatever the number of workers. */
export async function runAll(prep: PreparedSimulation, opts: RunOptions = {}): Promise<PolicyResult[]> {
  const n = prep.path.times.length;
  const total = n * prep.policies.length;
  const workers = Math.max(1, Math.min(opts.workers ?? 1, prep.policies.length));
  if (workers === 1) {
    const out: PolicyResult[] = [];
    for (let i = 0; i < prep.policies.length; i++) {
      out.push(
        runPolicy(prep, prep.policies[i]!, {
          progressEvery: 500,
          onProgress: (p) => opts.onProgress?.(i * n + p, total),
        }),
      );
    }
    return out;
  }
  const { runInWorkers } = await import('./parallel.ts');
  return runInWorkers(
    prep,
    workers,
    opts.onProgress ? (done) => opts.onProgress!(done, total) : undefined,
    opts.childPeakRssKiB,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Summary

const money = (v: bigint) => formatDecimal(v, 8);
const stage = (s: StageFigures) => ({ count: s.count, notional: money(s.notional) });

export interface Summary {
  version: 1;
  seed: number;
  traders: number;
  positions: number;
  data: DataSource & { points: number; intrabar: Intrabar };
  markets: {
    symbol: string;
    source: 'data' | 'synthetic';
    start: string;
    end: string;
    low: string;
    high: string;
    synthetic?: {
      beta: number;
      correlation: number;
      realizedCorrelation: number;
      shock: { start: string; depth: number; minutes: number; recovery: number; recoveryMinutes: number };
    };
    marketMaker: { stepTicks: number; levels: number; levelSize: string };
  }[];
  insuranceSeed: string;
  /** The options policies' shared plan (chain, vol path, writers), when one ran. */
  options?: ReturnType<typeof optionsPlanSummary>;
  policies: ReturnType<typeof policySummary>[];
}

/**
 * The traders a hybrid policy put in silos, and how the same traders fared under it and under the isolated and
 * cross policies of the same run (those that ran): the like-for-like comparison.
 */
function optedInSummary(
  prep: PreparedSimulation,
  results: readonly PolicyResult[],
  r: PolicyResult,
  opted: (t: Trader) => boolean = (t) => inNettedSilo(r.policy, t),
  others: readonly string[] = ['isolated', 'cross'],
) {
  const group = prep.population.traders.flatMap((t, i) => (opted(t) ? [i] : []));
  let deposited = 0n;
  for (const i of group) deposited += prep.population.traders[i]!.deposit;
  const under = results.filter((q) => q === r || others.includes(q.policy.id));
  return {
    traders: group.length,
    deposited: money(deposited),
    policies: under.map((q) => {
      const b = q.byTrader;
      let liquidations = 0;
      let liquidated = 0;
      let contagion = 0;
      let lost = 0n;
      let equity = 0n;
      for (const i of group) {
        liquidations += b.liquidations[i]!;
        if (b.liquidations[i]! > 0) liquidated++;
        contagion += b.contagion[i]!;
        lost += b.lost[i]!;
        equity += b.equity[i]!;
      }
      return {
        id: q.policy.id,
        liquidations,
        liquidatedTraders: liquidated,
        collateralLost: money(lost),
        contagion,
        pnl: money(equity - deposited),
      };
    }),
  };
}

/** The hybrid policy's silos: how many, the offset netting granted at entry, what their liquidations closed. */
function silosSummary(f: PolicyResult['figures'], optedIn: ReturnType<typeof optedInSummary>) {
  const s = f.silos;
  const h = s.healthyLegs;
  return {
    traders: s.traders,
    legs: s.legs,
    initialMarginAtOpen: { standalone: money(s.standaloneInitialMargin), netted: money(s.initialMargin) },
    liquidations: s.liquidations,
    healthyLegs: { closes: h.closes, traders: h.traders, notional: money(h.notional) },
    refusedTransfers: s.refusedTransfers,
    optedIn,
  };
}

const btcAmount = (v: bigint) => formatDecimal(v, COLLATERAL_DP);
const conversion = (c: ConversionFigures) => ({
  count: c.count,
  amount: btcAmount(c.amount),
  proceeds: money(c.proceeds),
  value: money(c.value),
  penalty: money(c.value - c.proceeds),
});

/** One side's BTC legs of the BTC-funded traders under one policy (display ratios as fixed-point strings). */
interface SideFigures {
  opened: number;
  liquidated: number;
  liquidations: number;
  /** Mean of (mark at the first liquidation ÷ entry − 1) over the liquidated, in percent (2 decimals). */
  meanMove: string | null;
}

/**
 * The wrong-way effect: the BTC-funded traders' BTC legs, long and short, under this policy and under `isolated`
 * and `isolated+auto-add` (those that ran) — how many opened, were liquidated, and how far the price had moved from
 * entry when they were first — and, leg by leg against `isolated`, which were liquidated under one only, and for
 * those liquidated under both how much earlier (mark here − mark there, in percent of entry: positive for a long
 * liquidated higher, negative for a short liquidated lower).
 */
function wrongWaySummary(prep: PreparedSimulation, results: readonly PolicyResult[], r: PolicyResult) {
  const m = prep.markets.length;
  const legs: { i: number; long: boolean }[] = [];
  prep.population.traders.forEach((t, ti) => {
    if (!inBtcCollateral(r.policy, t, prep.markets)) return;
    for (const p of t.positions)
      if (isBtcMarket(prep.markets[p.market]!)) legs.push({ i: ti * m + p.market, long: p.side === 'buy' });
  });
  const pct = (x: number, n: number) => (n > 0 ? ((100 * x) / n).toFixed(2) : null);
  const move = (q: PolicyResult, i: number) => {
    const b = q.byTrader;
    const entry = Number(b.firstLiquidationEntry[i]!);
    return entry > 0 ? Number(b.firstLiquidationMark[i]!) / entry - 1 : 0;
  };
  const side = (q: PolicyResult, long: boolean): SideFigures => {
    const b = q.byTrader;
    let opened = 0;
    let liquidated = 0;
    let liquidations = 0;
    let moved = 0;
    for (const l of legs) {
      if (l.long !== long) continue;
      opened += b.positionOpened[l.i]!;
      liquidations += b.positionLiquidations[l.i]!;
      if (b.positionLiquidations[l.i]! > 0) {
        liquidated++;
        moved += move(q, l.i);
      }
    }
    return { opened, liquidated, liquidations, meanMove: pct(moved, liquidated) };
  };
  const under = results.filter(
    (q) => q === r || q.policy.id === 'isolated' || q.policy.id === 'isolated+auto-add',
  );
  const isolated = results.find((q) => q.policy.id === 'isolated');
  const paired = (long: boolean) => {
    let both = 0;
    let onlyHere = 0;
    let onlyIsolated = 0;
    let gap = 0;
    for (const l of legs) {
      if (l.long !== long) continue;
      const here = r.byTrader.positionLiquidations[l.i]! > 0;
      const there = isolated!.byTrader.positionLiquidations[l.i]! > 0;
      if (here && there) {
        both++;
        gap +=
          Number(r.byTrader.firstLiquidationMark[l.i]! - isolated!.byTrader.firstLiquidationMark[l.i]!) /
          Number(r.byTrader.firstLiquidationEntry[l.i]!);
      } else if (here) onlyHere++;
      else if (there) onlyIsolated++;
    }
    return { both, onlyHere, onlyIsolated, meanMarkGap: pct(gap, both) };
  };
  return {
    legs: { long: legs.filter((l) => l.long).length, short: legs.filter((l) => !l.long).length },
    policies: under.map((q) => ({ id: q.policy.id, long: side(q, true), short: side(q, false) })),
    ...(isolated ? { versusIsolated: { long: paired(true), short: paired(false) } } : {}),
  };
}

/** The isolated+btc-collateral policy's own figures: the BTC bought and put to work, its conversions, the comparison. */
function btcCollateralSummary(prep: PreparedSimulation, results: readonly PolicyResult[], r: PolicyResult) {
  const f = r.figures.btcCollateral;
  const k = prep.markets.findIndex(isBtcMarket);
  const pm = prep.path.markets[k]!;
  return {
    asset: COLLATERAL_ASSET,
    traders: f.traders,
    firstPrice: formatDecimal(BigInt(pm.ticks[0]!) * pm.tickSize, PATH_PRICE_DP),
    bought: btcAmount(f.bought),
    cost: money(f.cost),
    cappedTraders: f.cappedTraders,
    legs: f.legs,
    funded: btcAmount(f.funded),
    usdtTopUps: f.usdtTopUps,
    conversions: {
      liquidation: conversion(f.conversions.liquidation),
      shortfall: conversion(f.conversions.shortfall),
    },
    rescued: f.rescued,
    fundHeld: { amount: btcAmount(f.fundHeld), value: money(r.figures.insurance.collateralValue) },
    wrongWay: wrongWaySummary(prep, results, r),
    optedIn: optedInSummary(prep, results, r, (t) => inBtcCollateral(r.policy, t, prep.markets), [
      'isolated',
      'isolated+auto-add',
      'cross',
    ]),
  };
}

/**
 * The vaults policy's own figures: per vault its NAV per share over time (hourly), at the end and at its lowest,
 * liquidations, fees minted, and its depositors' stake against what came back; and, when isolated ran beside it,
 * the depositors' own accounts (equity less what the stake came back as) against the same traders under isolated.
 */
function vaultsSummary(prep: PreparedSimulation, results: readonly PolicyResult[], r: PolicyResult) {
  const v = r.vaults!;
  const plan = prep.vaultPlan!;
  const isolated = results.find((q) => q.policy.id === 'isolated');
  const iso = (ms: number) => new Date(ms).toISOString();
  const pct = (x: bigint, of: bigint) =>
    of > 0n ? (Number((x * 1_000_000n) / of) / 10_000).toFixed(2) : null;
  const shares = (x: bigint) => formatDecimal(x, 6);
  return {
    depositorShare: VAULT_DEPOSITOR_SHARE,
    terms: VAULT_TERMS,
    vaults: v.vaults.map((f, i) => {
      let returned = 0n;
      let losers = 0;
      let differ = 0;
      let delta = 0n;
      plan.vault.forEach((x, t) => {
        if (x !== i) return;
        returned += v.returned[t]!;
        if (v.returned[t]! < v.stake[t]!) losers++;
        if (isolated) {
          const d = r.byTrader.equity[t]! - v.returned[t]! - isolated.byTrader.equity[t]!;
          if (d !== 0n) {
            differ++;
            delta += d;
          }
        }
      });
      return {
        id: f.id,
        description: SIM_VAULTS[i]!.description,
        maxLeverage: SIM_VAULTS[i]!.maxLeverage,
        navPerShare: {
          start: npsText(10n ** 20n, 8),
          final: npsText(f.finalNps, 8),
          low: npsText(f.lowNps, 8),
          hourly: { times: f.times.map(iso), values: f.navPerShare },
        },
        finalNav: money(f.finalNav),
        liquidations: f.liquidations,
        liquidatedAt: f.liquidatedAt === null ? null : iso(f.liquidatedAt),
        trades: f.trades,
        rejected: sortedRecord(f.rejected),
        fees: {
          management: { shares: shares(f.fees.management.shares), value: money(f.fees.management.value) },
          performance: { shares: shares(f.fees.performance.shares), value: money(f.fees.performance.value) },
          managerHolding: money(f.managerValue),
        },
        depositors: {
          count: f.depositors,
          staked: money(f.staked),
          redeemed: money(f.redeemed),
          stillHeld: money(f.held),
          returned: money(returned),
          pnl: money(returned - f.staked),
          pnlPercent: pct(returned - f.staked, f.staked),
          lostMoney: losers,
          ...(isolated ? { ownAccountsVsIsolated: { differ, delta: money(delta) } } : {}),
        },
        isolationBreaches: f.breaches,
      };
    }),
  };
}

function policySummary(prep: PreparedSimulation, results: readonly PolicyResult[], r: PolicyResult) {
  const { markets } = prep;
  const f = r.figures;
  const hybrid = r.policy.nettedSilos;
  // The netting the engine ran with: the core defaults plus the markets' correlations (runner.ts sends them).
  const netting = () => ({
    floor: formatDecimal(DEFAULT_NETTING.floor, RATE_DP),
    correlations: simCorrelations(markets),
  });
  return {
    id: r.policy.id,
    description: r.policy.description,
    settings: {
      mode: r.policy.mode,
      autoAdd: r.policy.autoAdd,
      ...(r.policy.rebalance ? { rebalance: true } : {}),
      ...(r.policy.btcCollateral ? { btcCollateral: true } : {}),
      ...(r.policy.vaults ? { vaults: true } : {}),
      conventions: r.policy.conventions,
      liquidation: r.policy.liquidation,
      ...(hybrid ? { nettedSilos: { share: hybrid.share, ...netting() } } : {}),
    },
    liquidations: {
      events: f.liquidations.events,
      positions: f.liquidations.positions,
      traders: f.liquidations.traders,
      notional: money(f.liquidations.notional),
      fees: money(f.liquidations.fees),
      stages: {
        book: stage(f.liquidations.stages.book),
        backstop: stage(f.liquidations.stages.backstop),
        adl: stage(f.liquidations.stages.adl),
      },
    },
    collateralLost: money(f.collateralLost),
    wipedOut: f.wipedOut,
    contagion: {
      traders: f.contagion.traders,
      closes: f.contagion.closes,
      closeNotional: money(f.contagion.closeNotional),
      spillover: money(f.contagion.spillover),
      spilloverTraders: f.contagion.spilloverTraders,
    },
    isolationBreaches: f.isolationBreaches,
    ...(hybrid ? { silos: silosSummary(f, optedInSummary(prep, results, r)) } : {}),
    ...(r.options ? { options: optionsFiguresSummary(r.options) } : {}),
    insuranceFund: {
      pnl: money(f.insurance.pnl),
      seed: money(f.insurance.seed),
      cash: money(f.insurance.cash),
      backstopUnrealized: money(f.insurance.backstopUnrealized),
      low: money(f.insurance.low),
      liquidationFees: money(f.insurance.liquidationFees),
      covers: money(f.insurance.covers),
      backstopRealized: money(f.insurance.backstopRealized),
      backstopFunding: money(f.insurance.backstopFunding),
      draws: f.insurance.draws,
      ...(r.policy.btcCollateral
        ? { conversions: money(f.insurance.conversions), collateralValue: money(f.insurance.collateralValue) }
        : {}),
    },
    adl: {
      events: f.adl.events,
      notional: money(f.adl.notional),
      accounts: f.adl.accounts,
      traders: f.adl.traders,
    },
    badDebt: money(f.badDebt),
    autoAdd: {
      events: f.autoAdd.events,
      amount: money(f.autoAdd.amount),
      lostAfter: money(f.autoAdd.lostAfter),
      marginCalls: f.autoAdd.marginCalls,
    },
    ...(r.policy.dynamicMargin
      ? {
          dynamicMargin: {
            raises: f.dynamicMargin.raises,
            cuts: f.dynamicMargin.cuts,
            withdrawn: f.dynamicMargin.withdrawn,
            maxFactor: formatDecimal(
              f.dynamicMargin.maxFactor > 0n ? f.dynamicMargin.maxFactor : 10n ** 10n,
              RATE_DP,
            ),
            meanFactor: Object.fromEntries(
              prep.markets.map((m, k) => [m.config.symbol, (f.dynamicMargin.meanFactor[k] ?? 1).toFixed(4)]),
            ),
            liquidationsAtRaise: f.dynamicMargin.liquidationsAtRaise,
            extraMaintenance: {
              mean: money(f.dynamicMargin.lockedMean),
              peak: money(f.dynamicMargin.lockedPeak),
            },
            spec: r.policy.dynamicMargin,
          },
        }
      : {}),
    ...(r.policy.rebalance
      ? {
          rebalance: {
            events: f.rebalance.events,
            amount: money(f.rebalance.amount),
            traders: f.rebalance.traders,
            lostAfter: money(f.rebalance.lostAfter),
            optedIn: optedInSummary(prep, results, r, (t) => inRebalancing(r.policy, t), [
              'isolated',
              'isolated+auto-add',
              'cross',
            ]),
          },
        }
      : {}),
    ...(r.policy.btcCollateral ? { btcCollateral: btcCollateralSummary(prep, results, r) } : {}),
    ...(r.vaults ? { vaults: vaultsSummary(prep, results, r) } : {}),
    opens: { ...f.opens, rejected: sortedRecord(f.opens.rejected) },
    exits: f.exits,
    traders: {
      count: f.traders.count,
      deposited: money(f.traders.deposited),
      equity: money(f.traders.equity),
      pnl: money(f.traders.equity - f.traders.deposited),
      liquidated: f.traders.liquidated,
    },
    funding: f.funding,
    returns: { bins: returnBinLabels(), traders: f.returns },
    openInterest: Object.fromEntries(
      Object.entries(f.openInterest)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, v.toString()]),
    ),
    conservation: f.conservation,
    commands: r.commands,
  };
}

function sortedRecord(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Labels of the return bins: "-100%..-90%", …, "+90%..+100%", "≥+100%". */
export function returnBinLabels(): string[] {
  const out: string[] = [];
  for (let i = 0; i < RETURN_BINS - 1; i++) {
    const lo = i * 10 - 100;
    const f = (x: number) => `${x > 0 ? '+' : ''}${x}%`;
    out.push(`${f(lo)}..${f(lo + 10)}`);
  }
  out.push('≥+100%');
  return out;
}

export function summarize(prep: PreparedSimulation, results: readonly PolicyResult[]): Summary {
  const { path, markets } = prep;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    version: 1,
    seed: prep.options.seed,
    traders: prep.population.traders.length,
    positions: prep.population.positions,
    data: { ...prep.source, points: path.times.length, intrabar: path.intrabar },
    markets: markets.map((m: SimMarket, k) => {
      const pm = path.markets[k]!;
      let lo = Number.POSITIVE_INFINITY;
      let hi = 0;
      for (const t of pm.ticks) {
        if (t < lo) lo = t;
        if (t > hi) hi = t;
      }
      const px = (t: number) => formatDecimal(BigInt(t) * pm.tickSize, PATH_PRICE_DP);
      const plan: MakerPlan = prep.makers[k]!;
      const inst = instrumentOf(m.config);
      const s = pm.synthetic;
      return {
        symbol: m.config.symbol,
        source: s ? ('synthetic' as const) : ('data' as const),
        start: px(pm.ticks[0]!),
        end: px(pm.ticks[pm.ticks.length - 1]!),
        low: px(lo),
        high: px(hi),
        ...(s
          ? {
              synthetic: {
                beta: s.beta,
                correlation: s.correlation,
                realizedCorrelation: Math.round(s.realizedCorrelation * 1000) / 1000,
                shock: { start: iso(s.shockStart), ...s.shock },
              },
            }
          : {}),
        marketMaker: {
          stepTicks: plan.stepTicks,
          levels: plan.levels,
          levelSize: formatDecimal(BigInt(plan.levelLots) * inst.lotSize, inst.sizeDp),
        },
      };
    }),
    insuranceSeed: money(prep.insurance),
    ...(prep.optionsPlan ? { options: optionsPlanSummary(prep.optionsPlan) } : {}),
    policies: results.map((r) => policySummary(prep, results, r)),
  };
}

/** JSON with every bigint as a decimal string (summaries hold strings already; this is a guard). */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2);
}

export type { PolicyResult, Population, SimPath };
