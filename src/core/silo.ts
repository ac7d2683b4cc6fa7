/**
 * Risk models of a silo: a ring-fenced collateral box and the legs (positions) it backs. A model is a pure function
 * from the legs' own requirements to the silo's requirement, applied separately to initial margin (legs' IM) and to
 * maintenance margin (legs' MM).
 *
 * - `standalone`: the plain sum of the legs' requirements (today's isolated math, leg by leg).
 * - `netted`: hybrid margin for correlated perpetuals/futures in one settle asset, by a scenario grid.
 *
 * The netted scenario model. Each leg's "range" is the move at which its loss equals its own requirement
 * (requirement / notional), so a leg alone, netted, requires exactly its standalone requirement. A scenario is
 * (driver market k, direction d = ±1, fraction f of the grid): the driver's legs move d·f of their range; a leg on
 * another market j moves d·f·ρ(k,j) of its range plus an adverse residual (1 − |ρ(k,j)|)·f, so its loss is
 *     requirement_j × (−sign_j·d·f·ρ(k,j) + (1 − |ρ(k,j)|)·f)
 * with ρ(k,k) = 1, ρ = `sameBase` between two markets on one base (a perpetual and a future on BTC), else the
 * `correlations` entry for the two bases (0 when not listed). Worst loss = the largest Σ losses over all scenarios,
 * and at least 0. Requirement = min(sum, max(⌈floor × sum⌉, ⌈worst⌉)), exact on bigint, rounded up.
 *
 * Σδ property: with every fraction f ≤ 1 each leg's coefficient is at most 1 in size, so if every leg's requirement
 * moves by at most δ_i the netted requirement moves by at most Σ δ_i (each argument of the min/max does). The engine
 * relies on it to file a netted silo's legs without being late.
 */
import { ceilDiv, InputError, maxBig, minBig, parseDecimal } from './fixed.ts';
import { RATE_DP, RATE_ONE } from './rates.ts';

export type RiskModelId = 'standalone' | 'netted';
export const RISK_MODELS: readonly RiskModelId[] = ['standalone', 'netted'];

export interface NettingParams {
  /** Netted requirement is never below floor × standalone sum. RATE_DP fixed point (core/rates.ts). Default 0.25. */
  floor: bigint;
  /** Correlation between two legs on markets with the same base asset (a perp and a future on BTC). Default 0.95. */
  sameBase: bigint;
  /** Correlation between bases, both orders looked up, in [-1, 1] (RATE_DP). Pairs not listed: 0. */
  correlations: { a: string; b: string; rho: bigint }[];
  /** Move fractions of the grid, each in (0, 1]; default [1/3, 2/3, 1] as RATE_DP (rounded up: a larger move is
   * the conservative one). */
  grid: bigint[];
}

export const DEFAULT_NETTING: NettingParams = Object.freeze({
  floor: RATE_ONE / 4n,
  sameBase: (RATE_ONE * 95n) / 100n,
  correlations: [],
  grid: [ceilDiv(RATE_ONE, 3n), ceilDiv(2n * RATE_ONE, 3n), RATE_ONE],
}) as NettingParams;

export interface SiloLeg {
  base: string;
  /** The leg's market (symbol). Legs on one market move together (ρ = 1); two markets on one base correlate at
   * `sameBase`. Default: the base (one market per base). */
  market?: string;
  /** +1 long, -1 short */
  sign: 1 | -1;
  /** the leg's own requirement (IM or MM) in settle units */
  requirement: bigint;
}

/** One market's legs summed: signed (Σ sign × requirement) and unsigned (Σ requirement). */
interface MarketExposure {
  market: string;
  base: string;
  signed: bigint;
  gross: bigint;
}

function exposures(legs: readonly SiloLeg[]): MarketExposure[] {
  const byMarket = new Map<string, MarketExposure>();
  for (const leg of legs) {
    const market = leg.market ?? leg.base;
    let e = byMarket.get(market);
    if (!e) {
      e = { market, base: leg.base, signed: 0n, gross: 0n };
      byMarket.set(market, e);
    }
    e.signed += BigInt(leg.sign) * leg.requirement;
    e.gross += leg.requirement;
  }
  return [...byMarket.values()];
}

const pairKey = (a: string, b: string) => `${a}\u0000${b}`;

/** ρ between two markets (RATE_DP): 1 on one market, `sameBase` on one base, else the bases' table entry or 0. */
function correlationLookup(params: NettingParams): (x: MarketExposure, y: MarketExposure) => bigint {
  const table = new Map<string, bigint>();
  for (const c of params.correlations) {
    table.set(pairKey(c.a, c.b), c.rho);
    table.set(pairKey(c.b, c.a), c.rho);
  }
  return (x, y) => {
    if (x.market === y.market) return RATE_ONE;
    if (x.base === y.base) return params.sameBase;
    return table.get(pairKey(x.base, y.base)) ?? 0n;
  };
}

/**
 * The netted requirement of a fixed set of markets, prepared once: correlations looked up once, and the figure with
 * one market's legs changed (the others held) re-evaluated in time linear in the number of markets — what a
 * liquidation search along one market needs.
 *
 * For a driver market k and direction d the loss at fraction f is f × (−d × drift_k + residual_k), with
 * drift_k = Σ_j signed_j·ρ_kj and residual_k = Σ_j gross_j·(1 − |ρ_kj|) (scale RATE_ONE²). Being linear in f, it is
 * largest at the grid's largest fraction when positive (and then the worst), and at most 0 otherwise.
 */
export interface PreparedNetting {
  /** The netted requirement of the legs as prepared. */
  requirement(): bigint;
  /** The netted requirement with `market`'s legs replaced by `legs` (same market), every other market held. */
  withMarket(market: string, legs: readonly SiloLeg[]): bigint;
}

export function prepareNetting(legs: readonly SiloLeg[], params: NettingParams): PreparedNetting {
  const markets = exposures(legs);
  const index = new Map(markets.map((m, i) => [m.market, i]));
  const rho = correlationLookup(params);
  const matrix = markets.map((k) => markets.map((j) => rho(k, j)));
  const unexplained = matrix.map((row) => row.map((r) => RATE_ONE - (r < 0n ? -r : r)));
  const drift = matrix.map((row) => row.reduce((a, r, j) => a + markets[j]!.signed * r, 0n));
  const residual = unexplained.map((row) => row.reduce((a, u, j) => a + markets[j]!.gross * u, 0n));
  const sum = markets.reduce((a, m) => a + m.gross, 0n);
  let maxF = 0n;
  for (const f of params.grid) maxF = maxBig(maxF, f);
  const clamp = (worstPerUnit: bigint, total: bigint) => {
    if (total === 0n) return 0n;
    const worst = ceilDiv(maxBig(0n, worstPerUnit) * maxF, RATE_ONE * RATE_ONE);
    return minBig(total, maxBig(ceilDiv(params.floor * total, RATE_ONE), worst));
  };
  const worstOf = (dS: bigint, dG: bigint, m: number) => {
    let worst = 0n;
    for (let k = 0; k < markets.length; k++) {
      const d = m < 0 ? drift[k]! : drift[k]! + dS * matrix[k]![m]!;
      const r = m < 0 ? residual[k]! : residual[k]! + dG * unexplained[k]![m]!;
      worst = maxBig(worst, (d < 0n ? -d : d) + r);
    }
    return worst;
  };
  return {
    requirement: () => clamp(worstOf(0n, 0n, -1), sum),
    withMarket(market, moved) {
      const m = index.get(market);
      if (m === undefined) throw new RangeError(`prepareNetting: market ${market} was not prepared`);
      let signed = 0n;
      let gross = 0n;
      for (const leg of moved) {
        signed += BigInt(leg.sign) * leg.requirement;
        gross += leg.requirement;
      }
      const dG = gross - markets[m]!.gross;
      return clamp(worstOf(signed - markets[m]!.signed, dG, m), sum + dG);
    },
  };
}

/** Netted requirement from per-leg requirements: worst loss over the scenario grid, clamped to [ceil(floor × sum), sum]. */
export function nettedRequirement(legs: readonly SiloLeg[], params: NettingParams): bigint {
  return prepareNetting(legs, params).requirement();
}

/** A leg with both of its own requirements, for `siloRequirement`. */
export interface SiloLegMargins {
  base: string;
  market?: string;
  sign: 1 | -1;
  initialMargin: bigint;
  maintenanceMargin: bigint;
}

export interface SiloRequirement {
  initialMargin: bigint;
  maintenanceMargin: bigint;
  /** The plain sums: the offset a netted silo is granted is their difference from the two above. */
  standaloneInitialMargin: bigint;
  standaloneMaintenanceMargin: bigint;
}

/** A silo's initial and maintenance margin under its model, next to the standalone sums. */
export function siloRequirement(
  model: RiskModelId,
  legs: readonly SiloLegMargins[],
  params: NettingParams = DEFAULT_NETTING,
): SiloRequirement {
  let im = 0n;
  let mm = 0n;
  for (const leg of legs) {
    im += leg.initialMargin;
    mm += leg.maintenanceMargin;
  }
  if (model === 'standalone')
    return {
      initialMargin: im,
      maintenanceMargin: mm,
      standaloneInitialMargin: im,
      standaloneMaintenanceMargin: mm,
    };
  const as = (pick: (l: SiloLegMargins) => bigint): SiloLeg[] =>
    legs.map((l) => ({
      base: l.base,
      sign: l.sign,
      requirement: pick(l),
      ...(l.market !== undefined ? { market: l.market } : {}),
    }));
  return {
    initialMargin: nettedRequirement(
      as((l) => l.initialMargin),
      params,
    ),
    maintenanceMargin: nettedRequirement(
      as((l) => l.maintenanceMargin),
      params,
    ),
    standaloneInitialMargin: im,
    standaloneMaintenanceMargin: mm,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Parsing the decimal-string form: {floor?, sameBase?, correlations?: [{a, b, rho}], grid?}

const NETTING_FIELDS = ['floor', 'sameBase', 'correlations', 'grid'] as const;
const MAX_CORRELATIONS = 1000;
const MAX_GRID = 16;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strictFields(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj))
    if (!allowed.includes(k))
      throw new InputError(`${where}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
}

/** A rate in [lo, 1] (RATE_DP), as a decimal string. */
function boundedRate(v: unknown, field: string, lo: -1n | 0n): bigint {
  const r = parseDecimal(v, field, { dp: RATE_DP, signed: lo < 0n, maxAbs: 100n * RATE_ONE });
  if (r > RATE_ONE || r < lo * RATE_ONE) throw new InputError(field, `must be in [${lo}, 1]`);
  return r;
}

function assetName(obj: Record<string, unknown>, key: string, field: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || !/^[A-Za-z0-9_.:/-]{1,40}$/.test(v))
    throw new InputError(field, 'must be an asset name (1-40 letters, digits, _.:/-)');
  return v;
}

/** Parses netting parameters (decimal strings), defaults filled in; strict: unknown fields and bad values are
 * InputErrors naming the field. */
export function parseNetting(json: unknown, field: string): NettingParams {
  if (!isRecord(json))
    throw new InputError(field, 'must be an object {floor?, sameBase?, correlations?, grid?}');
  strictFields(json, NETTING_FIELDS, field);
  const floor =
    json.floor === undefined ? DEFAULT_NETTING.floor : boundedRate(json.floor, `${field}.floor`, 0n);
  const sameBase =
    json.sameBase === undefined
      ? DEFAULT_NETTING.sameBase
      : boundedRate(json.sameBase, `${field}.sameBase`, -1n);
  return {
    floor,
    sameBase,
    correlations:
      json.correlations === undefined ? [] : parseCorrelations(json.correlations, `${field}.correlations`),
    grid: json.grid === undefined ? [...DEFAULT_NETTING.grid] : parseGrid(json.grid, `${field}.grid`),
  };
}

function parseCorrelations(v: unknown, field: string): NettingParams['correlations'] {
  if (!Array.isArray(v) || v.length > MAX_CORRELATIONS)
    throw new InputError(field, `must be an array of at most ${MAX_CORRELATIONS} {a, b, rho}`);
  const seen = new Set<string>();
  return v.map((c, i) => {
    const f = `${field}[${i}]`;
    if (!isRecord(c)) throw new InputError(f, 'must be an object {a, b, rho}');
    strictFields(c, ['a', 'b', 'rho'], f);
    const a = assetName(c, 'a', `${f}.a`);
    const b = assetName(c, 'b', `${f}.b`);
    if (a === b) throw new InputError(`${f}.b`, 'must differ from a (one base with itself is sameBase)');
    if (seen.has(pairKey(a, b))) throw new InputError(f, `the pair ${a}/${b} is listed twice`);
    seen.add(pairKey(a, b));
    seen.add(pairKey(b, a));
    return { a, b, rho: boundedRate(c.rho, `${f}.rho`, -1n) };
  });
}

function parseGrid(v: unknown, field: string): bigint[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_GRID)
    throw new InputError(field, `must be an array of 1..${MAX_GRID} move fractions in (0, 1]`);
  return v.map((x, i) => {
    const f = boundedRate(x, `${field}[${i}]`, 0n);
    if (f === 0n) throw new InputError(`${field}[${i}]`, 'must be greater than zero');
    return f;
  });
}
