/**
 * Strategy margin (issue 18): what the option strategy models cost, in core and in the engine, next to the standalone
 * (per-leg) figures on the same legs.
 *
 *   npm run bench -- strategy-margin [--quick] [--seed 18] [--reps 7] [--budget 2000] [--accounts 10,100]
 *                                    [--commands 20] [--warmup 2]
 *
 * Core. `strategyMargin(model, legs, DEFAULT_STRATEGY_MARGIN)` (src/core/strategy) under `maxLoss`, `strategy` and
 * `scenario` on three portfolios: an iron condor (4 legs, BTC 85k/90k/110k/115k, 30 days) and 20 and 100 random
 * linear BTC options over 2–4 expiries (seeded). Every leg's mark is the product's fixed-point Black-76 at a smile's
 * IV, its own requirement core's per-leg `ringfence` margin. The peer is what a standalone silo computes: each leg's
 * own requirement (`optionLegMargin`) summed over the same legs. A model's call takes the legs with their per-leg
 * figures already in them (the engine computes those first either way), so model vs peer is the strategy model's
 * extra work. Every side runs `budget / legs` calls per rep after the same warm-up; reps rotate which side runs
 * first. The first call of each side on each portfolio is timed in a fresh worker thread (cold JIT, nothing shared
 * with the other sides), apart from the steady state; `--quick` (a smoke run) times the iron condor's only.
 *
 * Engine. For each N in `accounts`, three engines are opened alike: BTCUSDT (index mark from one oracle source), a
 * linear BTC option chain (30 days, flat 60% smile), a market maker quoting the condor's legs, and N accounts that
 * each open a 1 BTC iron condor with one `placeCombo` into a named silo holding 40,000 USDT — under `maxLoss`, under
 * `scenario`, and (the peer) `standalone`. Then one seeded stream re-marks the chain: `oracleQuote`s walking the index
 * (±0.1% a step, kept within ±3%) with a `tick` every fourth command; every command re-marks the expiry's options and
 * re-checks every holder's silo. Each engine gets the same commands: the first one (the first mark update after the
 * positions were opened) is reported apart, then `warmup` blocks untimed, then `reps` blocks of `commands` commands,
 * the engines' order rotating per rep. Figures: µs per command, and what the model adds per silo per command.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { formatDecimal } from '../src/core/fixed.ts';
import { black76, yearsFromSeconds } from '../src/core/options/black76.ts';
import { type OptionLeg, optionLegMargin } from '../src/core/options/margin.ts';
import {
  DEFAULT_STRATEGY_MARGIN,
  type PortfolioLeg,
  type StrategyModelId,
  strategyMargin,
} from '../src/core/strategy/index.ts';
import type { Engine } from '../src/engine/engine.ts';
import type { ApplyResult, Command, MarketConfig, SiloRiskModel } from '../src/engine/types.ts';
import { Rng } from '../src/sim/rng.ts';
import { checkArgs, fmtInt, intArg, parseArgs, round, say, summarize, tsWorker } from './lib.ts';

const WAD = 10n ** 18n;
const T0 = Date.UTC(2026, 11, 1);
const DAY = 86_400_000;
const FORWARD = 100_000n * WAD;
const CONDOR_EXPIRY = T0 + 30 * DAY;

// ---------------------------------------------------------------------------------------------------------
// Portfolios (floats only to shape the inputs; every figure is the product's fixed point)

interface LegSpec {
  type: 'call' | 'put';
  strike: number;
  /** Signed hundredths of a BTC: negative short. */
  lots: number;
  expiry: number;
  /** Premium paid/received against the mark, in percent (100: at the mark). */
  entryPct: number;
}

/** A simple smile: 55% at the money, rising on both wings. */
function smileIv(strike: number): bigint {
  const m = strike / 100_000 - 1;
  return BigInt(Math.round((0.55 + 0.5 * m * m) * 1e6)) * 10n ** 12n;
}

/** One leg: core's input (PortfolioLeg, the per-leg figures in it) and what the per-leg margin reads (OptionLeg). */
interface BuiltLeg {
  leg: PortfolioLeg;
  input: OptionLeg;
}

/** `legMargin` false: the leg's own requirement left at 0 (the peer's cold worker must not run it before timing). */
function buildLeg(s: LegSpec, legMargin = true): BuiltLeg {
  const strike = BigInt(s.strike) * WAD;
  const years = yearsFromSeconds((s.expiry - T0) / 1000);
  const iv = smileIv(s.strike);
  const priced = black76({ forward: FORWARD, strike, years, vol: iv });
  const mark = s.type === 'call' ? priced.call : priced.put;
  const size = (BigInt(Math.abs(s.lots)) * WAD) / 100n;
  const input: OptionLeg = {
    type: s.type,
    settle: 'linear',
    strike,
    side: s.lots < 0 ? 'short' : 'long',
    size,
    underlyingPrice: FORWARD,
    markPrice: mark,
    underlying: 'BTC',
  };
  const leg: PortfolioLeg = {
    id: `BTC-${s.expiry}-${s.strike}-${s.type === 'call' ? 'C' : 'P'}`,
    underlying: 'BTC',
    kind: 'option',
    settle: 'linear',
    type: s.type,
    strike,
    expiry: s.expiry,
    sign: s.lots < 0 ? -1 : 1,
    size,
    entryPrice: (mark * BigInt(s.entryPct)) / 100n,
    markPrice: mark,
    forward: FORWARD,
    iv,
    years,
    ...(legMargin ? optionLegMargin('ringfence', input) : { initialMargin: 0n, maintenanceMargin: 0n }),
  };
  return { leg, input };
}

/** Short the 90k put and 110k call, long the 85k put and 115k call, 1 BTC each, entered at the marks. */
const CONDOR: LegSpec[] = [
  { type: 'put', strike: 85_000, lots: 100, expiry: CONDOR_EXPIRY, entryPct: 100 },
  { type: 'put', strike: 90_000, lots: -100, expiry: CONDOR_EXPIRY, entryPct: 100 },
  { type: 'call', strike: 110_000, lots: -100, expiry: CONDOR_EXPIRY, entryPct: 100 },
  { type: 'call', strike: 115_000, lots: 100, expiry: CONDOR_EXPIRY, entryPct: 100 },
];

/** `n` distinct random options (expiry, strike, type) over 2–4 expiries, strikes 70k–130k, both sides. */
function randomSpecs(seed: number, n: number): LegSpec[] {
  const rng = Rng.forItem(seed, 18, n);
  const days = [7, 14, 30, 60, 90, 180];
  const expiries: number[] = [];
  const count = rng.int(2, 4);
  while (expiries.length < count) {
    const e = T0 + rng.pick(days) * DAY;
    if (!expiries.includes(e)) expiries.push(e);
  }
  const seen = new Set<string>();
  const out: LegSpec[] = [];
  while (out.length < n) {
    const s: LegSpec = {
      type: rng.chance(0.5) ? 'call' : 'put',
      strike: rng.int(70, 130) * 1000,
      lots: rng.int(1, 200) * (rng.chance(0.5) ? 1 : -1),
      expiry: rng.pick(expiries),
      entryPct: rng.int(95, 105),
    };
    const key = `${s.expiry}/${s.strike}/${s.type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(s);
  }
  return out;
}

const PORTFOLIO_SIZES = [4, 20, 100] as const;
type PortfolioSize = (typeof PORTFOLIO_SIZES)[number];

function portfolio(seed: number, size: PortfolioSize, legMargin = true): BuiltLeg[] {
  return (size === 4 ? CONDOR : randomSpecs(seed, size)).map((s) => buildLeg(s, legMargin));
}

// ---------------------------------------------------------------------------------------------------------
// Core sides: the three models and the standalone peer, each one call on a portfolio

type CoreSideName = StrategyModelId | 'standalone';
const CORE_SIDES: readonly CoreSideName[] = ['maxLoss', 'strategy', 'scenario', 'standalone'];

interface CoreSink {
  v: bigint;
}

function coreCall(
  side: CoreSideName,
  legs: readonly BuiltLeg[],
  ports: PortfolioLeg[],
  sink: CoreSink,
): void {
  if (side === 'standalone') {
    let im = 0n;
    let mm = 0n;
    for (const l of legs) {
      const r = optionLegMargin('ringfence', l.input);
      im += r.initialMargin;
      mm += r.maintenanceMargin;
    }
    sink.v += im + mm;
    return;
  }
  const r = strategyMargin(side, ports, DEFAULT_STRATEGY_MARGIN);
  sink.v += r.initialMargin + r.maintenanceMargin;
}

// The first call of a side, in a fresh worker thread: nothing of the other sides compiled before it.

interface FirstCallInit {
  role: 'strategy-margin-first-call';
  seed: number;
  side: CoreSideName;
  size: PortfolioSize;
}

if (!isMainThread && (workerData as FirstCallInit | null)?.role === 'strategy-margin-first-call') {
  const init = workerData as FirstCallInit;
  const legs = portfolio(init.seed, init.size, init.side !== 'standalone');
  const ports = legs.map((l) => l.leg);
  const sink: CoreSink = { v: 0n };
  const t0 = process.hrtime.bigint();
  coreCall(init.side, legs, ports, sink);
  const ns = Number(process.hrtime.bigint() - t0);
  parentPort!.postMessage({ ns, sink: String(sink.v) });
}

function firstCallNs(seed: number, side: CoreSideName, size: PortfolioSize): Promise<number> {
  const init: FirstCallInit = { role: 'strategy-margin-first-call', seed, side, size };
  const w = tsWorker(import.meta.url, { workerData: init });
  return new Promise<number>((resolve, reject) => {
    w.once('message', (m: { ns: number }) => resolve(m.ns));
    w.once('error', reject);
  }).finally(() => w.terminate());
}

interface SteadyFigure {
  /** Null where not timed (--quick: the iron condor's only). */
  firstUs: number | null;
  steadyUs: number;
  minUs: number;
  maxUs: number;
}

const median = (xs: readonly number[]): number => summarize(xs).p50;
const firstText = (firstUs: number | null): string => (firstUs === null ? '' : ` (first ${firstUs} µs)`);
const us = (ns: number): number => round(ns / 1e3, 2);

/** Every side on one portfolio: the same warm-up, then reps rotating which side runs first. */
function timeCore(
  legs: readonly BuiltLeg[],
  calls: number,
  reps: number,
  warmup: number,
): Map<CoreSideName, number[]> {
  const ports = legs.map((l) => l.leg);
  const sink: CoreSink = { v: 0n };
  for (let w = 0; w < warmup; w++)
    for (const side of CORE_SIDES) for (let i = 0; i < calls; i++) coreCall(side, legs, ports, sink);
  const out = new Map<CoreSideName, number[]>(CORE_SIDES.map((s) => [s, []]));
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < CORE_SIDES.length; k++) {
      const side = CORE_SIDES[(r + k) % CORE_SIDES.length]!;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) coreCall(side, legs, ports, sink);
      out.get(side)!.push(Number(process.hrtime.bigint() - t0) / calls);
    }
  }
  if (sink.v === 0n) say('  (sink empty)');
  return out;
}

/** The models' figures against the peer's on one portfolio: the standalone sums equal, maxLoss and strategy ≤ them. */
function coreMismatches(legs: readonly BuiltLeg[]): number {
  let im = 0n;
  let mm = 0n;
  for (const l of legs) {
    const r = optionLegMargin('ringfence', l.input);
    im += r.initialMargin;
    mm += r.maintenanceMargin;
  }
  let bad = 0;
  for (const model of ['maxLoss', 'strategy', 'scenario'] as const) {
    const r = strategyMargin(
      model,
      legs.map((l) => l.leg),
      DEFAULT_STRATEGY_MARGIN,
    );
    if (r.standaloneInitialMargin !== im || r.standaloneMaintenanceMargin !== mm) bad++;
    if (model !== 'scenario' && (r.initialMargin > im || r.maintenanceMargin > mm)) bad++;
  }
  return bad;
}

interface CoreOptions {
  seed: number;
  reps: number;
  budget: number;
  warmup: number;
  /** The portfolios whose first calls are timed (a worker each per side, ~0.5 s apiece to start). */
  firstCalls: readonly PortfolioSize[];
}

async function runCore(o: CoreOptions): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let mismatches = 0;
  for (const size of PORTFOLIO_SIZES) {
    const legs = portfolio(o.seed, size);
    mismatches += coreMismatches(legs);
    // One worker at a time: the machine's cores are not the figure.
    const first = new Map<CoreSideName, number>();
    if (o.firstCalls.includes(size))
      for (const side of CORE_SIDES) first.set(side, await firstCallNs(o.seed, side, size));
    const calls = Math.max(3, Math.round(o.budget / size));
    const steady = timeCore(legs, calls, o.reps, o.warmup);
    const row: Record<string, SteadyFigure> = {};
    for (const side of CORE_SIDES) {
      const ns = steady.get(side)!;
      row[side] = {
        firstUs: first.has(side) ? us(first.get(side)!) : null,
        steadyUs: us(median(ns)),
        minUs: us(Math.min(...ns)),
        maxUs: us(Math.max(...ns)),
      };
    }
    const peer = row.standalone!.steadyUs;
    say(
      `${size === 4 ? 'iron condor, 4 legs' : `${size} random legs`} (${calls} calls × ${o.reps} reps): ` +
        CORE_SIDES.map((s) => `${s} ${row[s]!.steadyUs} µs${firstText(row[s]!.firstUs)}`).join(', ') +
        ` — models vs standalone: ${(['maxLoss', 'strategy', 'scenario'] as const).map((s) => `${round(row[s]!.steadyUs / peer, 1)}×`).join(' / ')}`,
    );
    out[`legs${size}`] = { calls, ...row };
  }
  say(`core figures vs the standalone sums: ${mismatches} mismatches`);
  return { ...out, mismatches };
}

// ---------------------------------------------------------------------------------------------------------
// Engine: N iron condors in named silos, a stream re-marking the chain

/** BTCUSDT without fees, its mark the index of one oracle source (every quote moves it). */
const PERP: MarketConfig = {
  symbol: 'BTCUSDT',
  kind: 'linear',
  base: 'BTC',
  quote: 'USDT',
  tickSize: '0.1',
  lotSize: '0.001',
  settleDp: 8,
  maxLeverage: '100',
  takerFee: '0',
  makerFee: '0',
  risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.005', maxLeverage: '100' }] },
  oracle: {
    sources: [{ name: 'a', weight: 1 }],
    stalenessMs: 3_600_000,
    maxDeviation: '0.05',
    minSources: 1,
    maxJump: '0.5',
    markMethod: 'index',
  },
};
const STRIKES = ['85000', '90000', '95000', '100000', '105000', '110000', '115000'];
const CONDOR_LEGS = [
  { strike: '85000', type: 'put', side: 'buy' },
  { strike: '90000', type: 'put', side: 'sell' },
  { strike: '110000', type: 'call', side: 'sell' },
  { strike: '115000', type: 'call', side: 'buy' },
] as const;

type EngineModel = Extract<SiloRiskModel, 'maxLoss' | 'scenario' | 'standalone'>;
const ENGINE_MODELS: readonly EngineModel[] = ['maxLoss', 'scenario', 'standalone'];

/** An engine and its own clock for the opening commands (the stream carries its own times). */
class Venue {
  now = T0;
  liquidations = 0;

  constructor(
    readonly e: Engine,
    readonly model: EngineModel,
  ) {}

  ok(cmd: Record<string, unknown>): ApplyResult {
    this.now += 1;
    return this.must({ ...cmd, time: this.now } as Command);
  }

  must(cmd: Command): ApplyResult {
    const r = this.e.apply(cmd);
    if (!r.ok) throw new Error(`${this.model}: ${cmd.type} ${r.code} ${r.message}`);
    for (const ev of r.events) if (ev.type === 'liquidationStarted') this.liquidations++;
    return r;
  }

  /** The chain's symbol of one option. */
  symbol(strike: string, type: 'call' | 'put'): string {
    const k = BigInt(strike) * WAD;
    for (const m of this.e.markets.values())
      if (m.option !== null && m.option.strike === k && m.option.type === type) return m.symbol;
    throw new Error(`no ${strike} ${type}`);
  }

  /** The mark on the tick grid: a sell's rounded up, a buy's down (the maker never quotes through the mark). */
  quote(symbol: string, side: 'buy' | 'sell'): string {
    const m = this.e.markets.get(symbol)!;
    const tick = m.inst.tickSize;
    const ticks = side === 'buy' ? m.mark! / tick : (m.mark! + tick - 1n) / tick;
    return formatDecimal(ticks * tick, m.inst.priceDp);
  }
}

/** The engine's modules, loaded only where the engine runs (the first-call workers need core alone). */
interface EngineModules {
  Engine: typeof Engine;
  silosOf: typeof import('../src/engine/readmodel.ts').silosOf;
}

async function engineModules(): Promise<EngineModules> {
  const { Engine } = await import('../src/engine/engine.ts');
  const { silosOf } = await import('../src/engine/readmodel.ts');
  return { Engine, silosOf };
}

function openVenue(mods: EngineModules, model: EngineModel, accounts: number): Venue {
  const v = new Venue(new mods.Engine(), model);
  v.ok({ type: 'createMarket', market: PERP });
  v.ok({ type: 'oracleQuote', symbol: 'BTCUSDT', source: 'a', price: '100000' });
  v.ok({
    type: 'createOptionChain',
    underlying: 'BTCUSDT',
    settle: 'linear',
    expiries: [CONDOR_EXPIRY],
    strikes: STRIKES,
    tickSize: '0.1',
    lotSize: '0.01',
    takerFee: '0',
    makerFee: '0',
    vol: { stalenessMs: 86_400_000 },
  });
  v.ok({
    type: 'volQuote',
    underlying: 'BTCUSDT',
    expiry: CONDOR_EXPIRY,
    smile: { kind: 'strikes', ivs: { '100000': '0.6' } },
  });
  v.ok({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '100000000000' });
  const legs = CONDOR_LEGS.map((l) => {
    const symbol = v.symbol(l.strike, l.type);
    v.ok({ type: 'setMarginMode', account: 'mm', symbol, mode: 'cross' });
    const price = v.quote(symbol, l.side);
    // The maker rests the other side of every account's leg at once.
    v.ok({
      type: 'placeOrder',
      account: 'mm',
      symbol,
      side: l.side === 'buy' ? 'sell' : 'buy',
      orderType: 'limit',
      price,
      size: String(accounts),
    });
    return { symbol, side: l.side, size: '1', price };
  });
  for (let i = 0; i < accounts; i++) {
    const account = `a${i}`;
    v.ok({ type: 'deposit', account, asset: 'USDT', amount: '50000' });
    v.ok({ type: 'createSilo', account, silo: 'condor', asset: 'USDT', riskModel: model });
    v.ok({ type: 'transferCollateral', account, from: 'free', to: 'condor', amount: '40000' });
    v.ok({ type: 'placeCombo', account, silo: 'condor', legs });
  }
  return v;
}

/** The re-marking stream: the index walks ±0.1% a step within ±3% of 100,000; every fourth command is a tick. */
function markStream(seed: number, start: number, length: number): Command[] {
  const rng = Rng.forItem(seed, 18, 1_000_000);
  const out: Command[] = [];
  let price = 100_000;
  let time = start;
  for (let i = 0; i < length; i++) {
    time += 250;
    if (i % 4 === 3) {
      out.push({ type: 'tick', time });
      continue;
    }
    price = Math.min(103_000, Math.max(97_000, price * (1 + rng.float(-0.001, 0.001))));
    out.push({ type: 'oracleQuote', time, symbol: 'BTCUSDT', source: 'a', price: price.toFixed(1) });
  }
  return out;
}

function applyTimed(v: Venue, cmds: readonly Command[], into: number[] | null): void {
  for (const cmd of cmds) {
    const t0 = process.hrtime.bigint();
    v.must(cmd);
    const ns = Number(process.hrtime.bigint() - t0);
    into?.push(ns);
  }
}

/** The silo figures of account a0 (settle units): what each model asks of the same condor. */
function siloRead(mods: EngineModules, v: Venue): { im: string; mm: string; standaloneIm: string } {
  const s = mods.silosOf(v.e, 'a0').find((x) => x.id === 'condor')!;
  return {
    im: formatDecimal(s.initialMargin, 8),
    mm: formatDecimal(s.maintenanceMargin, 8),
    standaloneIm: formatDecimal(s.standaloneInitialMargin, 8),
  };
}

interface EngineOptions {
  seed: number;
  reps: number;
  commands: number;
  warmup: number;
}

function runEngine(mods: EngineModules, accounts: number, o: EngineOptions): Record<string, unknown> {
  const t0 = process.hrtime.bigint();
  const venues = ENGINE_MODELS.map((m) => openVenue(mods, m, accounts));
  const openedS = round(Number(process.hrtime.bigint() - t0) / 1e9, 1);
  const start = Math.max(...venues.map((v) => v.now)) + 1000;
  const blocks = 1 + o.warmup + o.reps;
  const stream = markStream(o.seed, start, 1 + (blocks - 1) * o.commands);
  const block = (b: number) => stream.slice(1 + (b - 1) * o.commands, 1 + b * o.commands);

  const firstNs = new Map<EngineModel, number>();
  for (const v of venues) {
    const lat: number[] = [];
    applyTimed(v, stream.slice(0, 1), lat);
    firstNs.set(v.model, lat[0]!);
  }
  for (let b = 1; b <= o.warmup; b++) for (const v of venues) applyTimed(v, block(b), null);
  const lat = new Map<EngineModel, number[]>(ENGINE_MODELS.map((m) => [m, []]));
  for (let r = 0; r < o.reps; r++) {
    const cmds = block(1 + o.warmup + r);
    for (let k = 0; k < venues.length; k++) {
      const v = venues[(r + k) % venues.length]!;
      applyTimed(v, cmds, lat.get(v.model)!);
    }
  }

  const row: Record<string, unknown> = { accounts, openedS, commandsTimed: o.reps * o.commands };
  const peer = summarize(lat.get('standalone')!);
  for (const v of venues) {
    const s = summarize(lat.get(v.model)!);
    const added = v.model === 'standalone' ? null : round((s.p50 - peer.p50) / 1e3 / accounts, 3);
    row[v.model] = {
      firstUs: us(firstNs.get(v.model)!),
      p50Us: us(s.p50),
      p99Us: us(s.p99),
      meanUs: us(s.mean),
      addedUsPerSilo: added,
      liquidations: v.liquidations,
      silo: siloRead(mods, v),
    };
  }
  const fig = (m: EngineModel) => row[m] as { p50Us: number; firstUs: number; addedUsPerSilo: number | null };
  say(
    `${fmtInt(accounts)} iron condors per engine (opened in ${openedS} s), µs per re-marking command, p50: ` +
      ENGINE_MODELS.map((m) => `${m} ${fig(m).p50Us} (first ${fig(m).firstUs})`).join(', ') +
      ` — added per silo: maxLoss ${fig('maxLoss').addedUsPerSilo} µs, scenario ${fig('scenario').addedUsPerSilo} µs; ` +
      `liquidations ${venues.map((v) => v.liquidations).join('/')}`,
  );
  return row;
}

// ---------------------------------------------------------------------------------------------------------

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, ['quick', 'seed', 'reps', 'budget', 'accounts', 'commands', 'warmup']);
  const quick = a.has('quick');
  const seed = intArg(a, 'seed', 18);
  const reps = Math.max(1, intArg(a, 'reps', quick ? 2 : 7));
  const budget = Math.max(1, intArg(a, 'budget', quick ? 100 : 2000));
  const warmup = intArg(a, 'warmup', quick ? 1 : 2);
  const commands = Math.max(1, intArg(a, 'commands', quick ? 8 : 20));
  const sizes = (a.get('accounts') ?? (quick ? '10' : '10,100')).split(',').map((x) => Number(x));
  if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1))
    throw new Error('--accounts: positive integers, comma-separated');

  say(
    `core: strategyMargin vs the standalone sum (seed ${seed}, ${reps} reps, ${budget} legs per rep per side)`,
  );
  const firstCalls = quick ? [4 as const] : PORTFOLIO_SIZES;
  const core = await runCore({ seed, reps, budget, warmup, firstCalls });
  say(`engine: re-marking the chain with iron condors in named silos (${commands} commands × ${reps} reps)`);
  const mods = await engineModules();
  const engine = sizes.map((n) => runEngine(mods, n, { seed, reps, commands, warmup }));
  return { quick, seed, reps, core, engine };
}
