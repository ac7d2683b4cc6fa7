/**
 * ringfence's scenario model (SPAN / portfolio-margin style), pure and in WAD bigint.
 *
 * Per underlying (no offset across underlyings; every expiry of it is shocked by the same move s), the silo's linear
 * legs are revalued on a grid of cells: standard moves 0, ±range/buckets, …, ±range, each with the vol shocked up,
 * left the same and shocked down, plus the extended moves with the vol shocked up only. A cell's P&L is
 *   Σ options sign·size·(B76(F·(1+s), K, years, vol′) − mark) + Σ linear sign·size·(F·(1+s) − mark),
 * vol′ up = max(iv·(1 + volRangeUp·mult), minVolForShockUp), down = max(0, iv·(1 − volRangeDown·mult)),
 * mult = (30 / max(DTE, floor))^power (DTE = years·365; the short-term power below 30 days). The formulas are
 * Deribit's as a third-party clone publishes them (options-margin.md §3c, OPT-DRB-PM-3).
 *
 * Extended cells count a fraction of their P&L: extendedWeight × priceRange / |move| (at most 1). Deribit counts
 * "only a fraction" through an undocumented dampener; a flat fraction would charge a plain perpetual 0.35 × 500 % of
 * its notional at the +500 % cell, so ringfence scales the fraction by how many range-widths the move spans: a linear
 * leg's extended loss is then extendedWeight × its loss at the edge of the range, and the extended table bites only
 * through convexity — on far out-of-the-money short options, which is what Deribit says it is for.
 *
 * Requirement per underlying: MM = max(0, worst loss) + contingencies (naked shorts per strike, offsetting linear
 * legs), IM = ⌈MM × imFactor⌉. Inverse legs are not linear in the price: each stands alone with its own
 * requirement, summed in. Every product rounds toward the larger loss (P&L floored, charges ceiled), so the figures
 * are exact integers independent of the legs' order.
 *
 * Capped at max loss (`capAtMaxLoss`, applied by the `scenario` model in index.ts): an underlying whose every
 * (underlying, expiry) group is bounded needs at most Σ_g max(0, L_g + min(u_g, 0)) — the `maxLoss` model's form
 * (max-loss.ts) without its min with the standalone sums — for IM and MM alike. The grid's contingencies and the IM
 * factor can lift the figure above what the legs can lose at all; the cap keeps the promise of issue 18 that a
 * defined-risk strategy never needs more than it can lose, and so a silo whose collateral covers its max loss is
 * never liquidated under `scenario` either. Unbounded underlyings keep the grid's figure.
 */
import { ceilDiv, floorDiv, maxBig, minBig } from '../fixed.ts';
import { Black76Chain, type Black76Result, MAX_VOL } from '../options/black76.ts';
import { expWad, lnWad, WAD } from '../options/fixedmath.ts';
import { type GroupMaxLoss, maxLossWorst } from './max-loss.ts';
import {
  type ScenarioParams,
  type ScenarioParamsByUnderlying,
  scenarioParamsFor,
} from './scenario-params.ts';
import type { PortfolioLeg, WorstCase } from './types.ts';

export {
  DEFAULT_SCENARIO_PARAMS,
  parseScenarioParams,
  type ScenarioParams,
  type ScenarioParamsByUnderlying,
  scenarioParamsFor,
  scenarioParamsRowToJson,
  scenarioParamsToJson,
} from './scenario-params.ts';

export type VolState = 'up' | 'same' | 'down';

/** One point of the grid: a move of the forward (WAD fraction) and a vol state. */
export interface GridCell {
  move: bigint;
  vol: VolState;
  extended: boolean;
  /** The share of the cell's P&L that counts (WAD): 1 for standard cells. */
  factor: bigint;
}

/** One cell's result for one underlying. */
export interface ScenarioCell extends GridCell {
  underlying: string;
  /** The counted P&L of the underlying's linear legs (factor applied), WAD settle currency; negative = loss. */
  pnl: bigint;
}

/** One underlying's requirement and where it came from. */
export interface ScenarioGroupRisk {
  underlying: string;
  /** max(0, the largest counted loss over the cells). */
  worstLoss: bigint;
  /** The cell with the largest counted loss (the first in grid order on a tie). */
  worstCell: ScenarioCell;
  /** Naked short option units after per-strike netting, and their charge. */
  nakedShortUnits: bigint;
  nakedShortCharge: bigint;
  /** Charge on the linear legs (non-zero only when the group also holds options). */
  futureCharge: bigint;
  maintenanceMargin: bigint;
  initialMargin: bigint;
}

export interface ScenarioRisk {
  initialMargin: bigint;
  maintenanceMargin: bigint;
  /** The binding cell: that of the underlying with the largest MM (`standalone` when only inverse legs or none). */
  worst: WorstCase;
  /** Every cell of every underlying, underlyings in name order, cells in grid order. */
  cells: ScenarioCell[];
  groups: ScenarioGroupRisk[];
  /** The inverse legs' own requirements, summed in. */
  inverseInitialMargin: bigint;
  inverseMaintenanceMargin: bigint;
}

const WAD2 = WAD * WAD;
const DAYS_PER_YEAR = 365n;
const THIRTY_DAYS = 30n * WAD;

// ---------------------------------------------------------------------------------------------------------
// Vol shocks and the grid

/** (30 / max(DTE, floor))^power, WAD; the short-term power when DTE < 30 days. */
export function vegaMultiplier(p: ScenarioParams, years: bigint): bigint {
  if (years < 0n) throw new RangeError('vegaMultiplier: years must be ≥ 0');
  const dte = years * DAYS_PER_YEAR;
  const power = dte < THIRTY_DAYS ? p.shortTermVegaPower : p.longTermVegaPower;
  const days = maxBig(dte, BigInt(p.dteFloorDays) * WAD);
  const ratio = (THIRTY_DAYS * WAD) / days;
  if (power === 0n || ratio === WAD) return WAD;
  return expWad(floorDiv(power * lnWad(ratio), WAD));
}

/** The up- and down-shocked vols of an option with implied vol `iv` and `years` to expiry (WAD). */
export function shockedVols(p: ScenarioParams, iv: bigint, years: bigint): { up: bigint; down: bigint } {
  return shockedBy(p, iv, vegaMultiplier(p, years));
}

/** shockedVols with the expiry's vega multiplier already known (legs of one expiry share it). */
function shockedBy(p: ScenarioParams, iv: bigint, mult: bigint): { up: bigint; down: bigint } {
  const up = maxBig(iv + (iv * p.volRangeUp * mult) / WAD2, p.minVolForShockUp);
  const down = iv - (iv * p.volRangeDown * mult) / WAD2;
  return { up: minBig(up, MAX_VOL), down: maxBig(down, 0n) };
}

/** The counted share of an extended cell's P&L: extendedWeight × priceRange / |move|, at most 1, rounded up. */
export function extendedFactor(p: ScenarioParams, move: bigint): bigint {
  const m = move < 0n ? -move : move;
  return minBig(WAD, ceilDiv(p.extendedWeight * p.priceRange, m));
}

/** The grid in order: moves ascending, each up/same/down, then the extended moves as given, vol up. */
export function scenarioGrid(p: ScenarioParams): GridCell[] {
  const cells: GridCell[] = [];
  const n = BigInt(p.buckets);
  for (let i = -n; i <= n; i++) {
    const move = (p.priceRange * i) / n; // truncated toward 0: the grid stays symmetric
    for (const vol of ['up', 'same', 'down'] as const)
      cells.push({ move, vol, extended: false, factor: WAD });
  }
  for (const move of p.extendedMoves)
    cells.push({ move, vol: 'up', extended: true, factor: extendedFactor(p, move) });
  return cells;
}

// ---------------------------------------------------------------------------------------------------------
// Revaluation

/** What Black-76 needs, shared by every leg with the same forward, strike, years and iv (a call and its put too). */
interface Quote {
  forward: bigint;
  strike: bigint;
  years: bigint;
  vols: Record<VolState, bigint>;
}

interface PricedOption {
  call: boolean;
  /** Index into the group's quotes. */
  quote: number;
  signedSize: bigint;
  mark: bigint;
}

interface Linear {
  forward: bigint;
  signedSize: bigint;
  mark: bigint;
}

/** The quotes of one (forward, years): one Black-76 chain per move prices them all, ln(F′/K) shared by the vol
 * states of the move. */
interface Chain {
  forward: bigint;
  years: bigint;
  quotes: number[];
  strikes: bigint[];
}

interface Group {
  underlying: string;
  params: ScenarioParams;
  quotes: Quote[];
  quoteIndex: Map<string, number>;
  chains: Chain[];
  chainIndex: Map<string, Chain>;
  /** Vega multiplier by years to expiry. */
  multipliers: Map<bigint, bigint>;
  options: PricedOption[];
  linears: Linear[];
  legs: PortfolioLeg[];
}

function shocked(forward: bigint, move: bigint): bigint {
  return forward + floorDiv(forward * move, WAD);
}

/** Every quote priced at one move: the chains of that move, kept while consecutive cells share it. */
class MovePricer {
  private move: bigint | null = null;
  private chains: Black76Chain[] = [];
  private readonly priced: Black76Result[];

  constructor(private readonly g: Group) {
    this.priced = new Array<Black76Result>(g.quotes.length);
  }

  /** Each quote's Black-76 at the cell's shocked forward and vol state, by quote index (identical to black76()). */
  at(cell: GridCell): readonly Black76Result[] {
    const g = this.g;
    if (cell.move !== this.move) {
      this.move = cell.move;
      this.chains = g.chains.map((c) => new Black76Chain(shocked(c.forward, cell.move), c.years, c.strikes));
    }
    g.chains.forEach((c, i) => {
      const out = this.chains[i]!.price(c.quotes.map((q) => g.quotes[q]!.vols[cell.vol]));
      c.quotes.forEach((q, j) => {
        this.priced[q] = out[j]!;
      });
    });
    return this.priced;
  }
}

/** The group's P&L in one cell (before the factor): one Black-76 per quote. */
function cellPnl(g: Group, cell: GridCell, pricer: MovePricer): bigint {
  const priced = pricer.at(cell);
  let pnl = 0n;
  for (const o of g.options) {
    const r = priced[o.quote] as Black76Result;
    pnl += floorDiv(o.signedSize * ((o.call ? r.call : r.put) - o.mark), WAD);
  }
  for (const l of g.linears) pnl += floorDiv(l.signedSize * (shocked(l.forward, cell.move) - l.mark), WAD);
  return pnl;
}

function requireOption(l: PortfolioLeg): { type: 'call' | 'put'; strike: bigint; iv: bigint; years: bigint } {
  const { type, strike, iv, years } = l;
  if (type === undefined || strike === undefined || iv === undefined || years === undefined)
    throw new RangeError(`scenarioRisk: option leg ${l.id} needs type, strike, iv and years`);
  if (strike < 0n || iv < 0n || years < 0n)
    throw new RangeError(`scenarioRisk: option leg ${l.id} has a negative strike, iv or years`);
  return { type, strike, iv, years };
}

function checkLeg(l: PortfolioLeg): void {
  if (l.size <= 0n || (l.sign !== 1 && l.sign !== -1) || l.forward < 0n)
    throw new RangeError(`scenarioRisk: leg ${l.id} needs size > 0, sign ±1 and forward ≥ 0`);
}

function chainOf(g: Group, forward: bigint, years: bigint): Chain {
  const key = `${forward}|${years}`;
  let c = g.chainIndex.get(key);
  if (c === undefined) {
    c = { forward, years, quotes: [], strikes: [] };
    g.chainIndex.set(key, c);
    g.chains.push(c);
  }
  return c;
}

function addToGroup(g: Group, l: PortfolioLeg): void {
  const signedSize = BigInt(l.sign) * l.size;
  g.legs.push(l);
  if (l.kind !== 'option') {
    g.linears.push({ forward: l.forward, signedSize, mark: l.markPrice });
    return;
  }
  const o = requireOption(l);
  const key = `${l.forward}|${o.strike}|${o.years}|${o.iv}`;
  let quote = g.quoteIndex.get(key);
  if (quote === undefined) {
    let mult = g.multipliers.get(o.years);
    if (mult === undefined) {
      mult = vegaMultiplier(g.params, o.years);
      g.multipliers.set(o.years, mult);
    }
    const { up, down } = shockedBy(g.params, o.iv, mult);
    quote = g.quotes.length;
    g.quotes.push({
      forward: l.forward,
      strike: o.strike,
      years: o.years,
      vols: { up, same: minBig(o.iv, MAX_VOL), down },
    });
    g.quoteIndex.set(key, quote);
    const chain = chainOf(g, l.forward, o.years);
    chain.quotes.push(quote);
    chain.strikes.push(o.strike);
  }
  g.options.push({ call: o.type === 'call', quote, signedSize, mark: l.markPrice });
}

// ---------------------------------------------------------------------------------------------------------
// Contingencies

/**
 * Naked short units of one strike (Derive PMRM's per-strike netting, OPT-DRV-PMRM-CONT-1): a short nets only
 * against an opposite-sign position at the same strike, call or put.
 */
export function nakedAtStrike(netCall: bigint, netPut: bigint): bigint {
  if (netCall < 0n && netPut < 0n) return -netCall - netPut;
  if (netCall < 0n) return -netCall - minBig(-netCall, netPut);
  if (netPut < 0n) return -netPut - minBig(-netPut, netCall);
  return 0n;
}

/** Naked short units and their charge (nakedShortContingency × forward per unit, ceiled per expiry and strike). */
function nakedShorts(legs: readonly PortfolioLeg[], pct: bigint): { units: bigint; charge: bigint } {
  const byStrike = new Map<string, { call: bigint; put: bigint; forward: bigint }>();
  for (const l of legs) {
    if (l.kind !== 'option') continue;
    const key = `${l.expiry ?? ''}|${l.strike}`;
    const e = byStrike.get(key) ?? { call: 0n, put: 0n, forward: 0n };
    const signed = BigInt(l.sign) * l.size;
    if (l.type === 'call') e.call += signed;
    else e.put += signed;
    e.forward = maxBig(e.forward, l.forward); // one forward per expiry; the larger if legs disagree
    byStrike.set(key, e);
  }
  let units = 0n;
  let charge = 0n;
  for (const e of byStrike.values()) {
    const n = nakedAtStrike(e.call, e.put);
    units += n;
    charge += ceilDiv(n * e.forward * pct, WAD2);
  }
  return { units, charge };
}

function futureCharge(g: Group): bigint {
  if (g.options.length === 0) return 0n;
  let charge = 0n;
  for (const l of g.linears) {
    const size = l.signedSize < 0n ? -l.signedSize : l.signedSize;
    charge += ceilDiv(size * l.forward * g.params.futureContingency, WAD2);
  }
  return charge;
}

// ---------------------------------------------------------------------------------------------------------
// The model

function groupRisk(g: Group, cells: ScenarioCell[]): ScenarioGroupRisk {
  let worstCell: ScenarioCell | null = null;
  const pricer = new MovePricer(g);
  for (const c of scenarioGrid(g.params)) {
    const raw = cellPnl(g, c, pricer);
    const pnl = c.factor === WAD ? raw : floorDiv(raw * c.factor, WAD);
    const cell: ScenarioCell = { ...c, underlying: g.underlying, pnl };
    cells.push(cell);
    if (worstCell === null || pnl < worstCell.pnl) worstCell = cell;
  }
  if (worstCell === null) throw new Error('scenarioRisk: empty grid'); // buckets ≥ 1 gives ≥ 3 cells
  const worstLoss = maxBig(0n, -worstCell.pnl);
  const naked = nakedShorts(g.legs, g.params.nakedShortContingency);
  const fut = futureCharge(g);
  const mm = worstLoss + naked.charge + fut;
  return {
    underlying: g.underlying,
    worstLoss,
    worstCell,
    nakedShortUnits: naked.units,
    nakedShortCharge: naked.charge,
    futureCharge: fut,
    maintenanceMargin: mm,
    initialMargin: ceilDiv(mm * g.params.imFactor, WAD),
  };
}

function groupsOf(legs: readonly PortfolioLeg[], p: ScenarioParamsByUnderlying): Group[] {
  const groups = new Map<string, Group>();
  for (const l of legs) {
    if (l.settle !== 'linear') continue;
    let g = groups.get(l.underlying);
    if (g === undefined) {
      const params = scenarioParamsFor(p, l.underlying);
      g = {
        underlying: l.underlying,
        params,
        quotes: [],
        quoteIndex: new Map(),
        chains: [],
        chainIndex: new Map(),
        multipliers: new Map(),
        options: [],
        linears: [],
        legs: [],
      };
      groups.set(l.underlying, g);
    }
    addToGroup(g, l);
  }
  return [...groups.values()].sort((a, b) =>
    a.underlying < b.underlying ? -1 : a.underlying > b.underlying ? 1 : 0,
  );
}

const cellWorst = (c: ScenarioCell): WorstCase => ({
  kind: 'scenario',
  underlying: c.underlying,
  move: c.move,
  vol: c.vol,
  extended: c.extended,
});

function worstOf(groups: readonly ScenarioGroupRisk[]): WorstCase {
  let best: ScenarioGroupRisk | null = null;
  for (const g of groups) if (best === null || g.maintenanceMargin > best.maintenanceMargin) best = g;
  return best === null ? { kind: 'standalone' } : cellWorst(best.worstCell);
}

/** The scenario requirement of a silo's legs (see the module comment). Figures are independent of leg order. */
export function scenarioRisk(legs: readonly PortfolioLeg[], p: ScenarioParamsByUnderlying): ScenarioRisk {
  for (const l of legs) checkLeg(l);
  let inverseInitialMargin = 0n;
  let inverseMaintenanceMargin = 0n;
  for (const l of legs) {
    if (l.settle === 'linear') continue;
    inverseInitialMargin += l.initialMargin;
    inverseMaintenanceMargin += l.maintenanceMargin;
  }
  const cells: ScenarioCell[] = [];
  const groups = groupsOf(legs, p).map((g) => groupRisk(g, cells));
  let im = inverseInitialMargin;
  let mm = inverseMaintenanceMargin;
  for (const g of groups) {
    im += g.initialMargin;
    mm += g.maintenanceMargin;
  }
  return {
    initialMargin: im,
    maintenanceMargin: mm,
    worst: worstOf(groups),
    cells,
    groups,
    inverseInitialMargin,
    inverseMaintenanceMargin,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The cap at max loss

/** One underlying's max-loss form: Σ over its groups, bounded only if every group is; the group with the largest. */
interface UnderlyingCap {
  form: bigint;
  bounded: boolean;
  largest: GroupMaxLoss;
}

/** max(0, L_g + min(u_g, 0)): the group's max-loss form without the unpaired charge (0 when bounded anyway). */
const formOf = (g: GroupMaxLoss): bigint => g.maxLossMM - g.unpairedMM;

function capsByUnderlying(groups: readonly GroupMaxLoss[]): Map<string, UnderlyingCap> {
  const caps = new Map<string, UnderlyingCap>();
  for (const g of groups) {
    const u = g.group.underlying;
    const c = caps.get(u);
    if (c === undefined) {
      caps.set(u, { form: formOf(g), bounded: !g.unbounded, largest: g });
      continue;
    }
    c.form += formOf(g);
    c.bounded &&= !g.unbounded;
    if (formOf(g) > formOf(c.largest)) c.largest = g;
  }
  return caps;
}

/** The scenario model's figures after the cap. */
export interface CappedScenario {
  initialMargin: bigint;
  maintenanceMargin: bigint;
  /** The binding underlying's worst cell, or — when the cap binds its MM — the settlement price of its largest
   * group's max loss (kind `price`). */
  worst: WorstCase;
}

/**
 * `r` with each bounded underlying's IM and MM capped at its max-loss form (see the module comment). `groups`: the
 * `maxLoss` model's groups over the same legs (every linear leg is in one, grouped by underlying and expiry).
 */
export function capAtMaxLoss(r: ScenarioRisk, groups: readonly GroupMaxLoss[]): CappedScenario {
  const caps = capsByUnderlying(groups);
  let initialMargin = r.inverseInitialMargin;
  let maintenanceMargin = r.inverseMaintenanceMargin;
  let binding: { mm: bigint; worst: WorstCase } | null = null;
  for (const g of r.groups) {
    const c = caps.get(g.underlying);
    if (c === undefined) throw new Error(`bug: no max-loss group for ${g.underlying}`);
    const capped = c.bounded && c.form < g.maintenanceMargin;
    const mm = capped ? c.form : g.maintenanceMargin;
    initialMargin += c.bounded ? minBig(g.initialMargin, c.form) : g.initialMargin;
    maintenanceMargin += mm;
    if (binding === null || mm > binding.mm)
      binding = { mm, worst: capped ? maxLossWorst(c.largest) : cellWorst(g.worstCell) };
  }
  return { initialMargin, maintenanceMargin, worst: binding?.worst ?? { kind: 'standalone' } };
}
