/**
 * Parameters of ringfence's scenario (portfolio-margin style) model, per underlying, and their strict decimal-string
 * JSON form (the API publishes it; calc and the engine accept it). scenario.ts re-exports everything here.
 *
 * Defaults are the parameter values of Deribit's published portfolio-margin example (`private/pme/simulate`
 * model_params, ../shared/reference/options-margin.md §3c): price range ±16 % in 4 buckets a side, vol range up 50 % /
 * down 25 %, a 50 % floor on the up-shocked vol, vega powers 0.3 (under 30 days) / 0.13, and Deribit's extended
 * table moves. Where Deribit's rules are not published ringfence chooses, and says so:
 * - extendedWeight 0.35 is SPAN's textbook cover fraction for extreme moves (§3c CME SPAN). Deribit applies "a
 *   dampener" to its extended table whose formula is undocumented (§3c, gap 2), so this is not Deribit's figure.
 * - nakedShortContingency 1 % of the forward per naked short unit (Derive PMRM's optionPercent, config-test, with
 *   its per-strike netting) and futureContingency 1 % of the notional of each linear leg that shares an underlying
 *   with options (Deribit's legacy "1.00 % of underlying value … for offsetting futures").
 * - imFactor 1.25 (Derive PMRM v1 deploy value): IM = ⌈MM × imFactor⌉.
 */
import { formatDecimal, InputError, parseDecimal } from '../fixed.ts';

/** Every bigint field is WAD (1e18 = 1.00). */
export interface ScenarioParams {
  /** The largest standard price move, a fraction of the forward (0.16 = ±16 %). */
  priceRange: bigint;
  /** Buckets per side: moves 0, ±range/buckets, …, ±range (4 → 9 moves). */
  buckets: number;
  /** Vol shock up: iv·(1 + volRangeUp·mult), at least minVolForShockUp. */
  volRangeUp: bigint;
  /** Vol shock down: iv·(1 − volRangeDown·mult), at least 0. */
  volRangeDown: bigint;
  minVolForShockUp: bigint;
  /** mult = (30 / max(DTE, dteFloorDays))^power, power short-term below 30 days to expiry, long-term from 30. */
  shortTermVegaPower: bigint;
  longTermVegaPower: bigint;
  dteFloorDays: number;
  /** Extended-table moves (fractions, > −1), priced with the vol shocked up only. */
  extendedMoves: bigint[];
  /** Cover fraction of an extended cell, applied per range-width of move: see scenario.ts extendedFactor. */
  extendedWeight: bigint;
  /** Charged per naked short option unit, as a fraction of its forward. */
  nakedShortContingency: bigint;
  /** Charged per linear leg in a group that also holds options, as a fraction of its notional. */
  futureContingency: bigint;
  /** IM = ⌈MM × imFactor⌉ (≥ 1). */
  imFactor: bigint;
}

export type ScenarioParamsByUnderlying = { default: ScenarioParams } & Record<string, ScenarioParams>;

const WAD = 10n ** 18n;
const w = (s: string): bigint => parseDecimal(s, 'DEFAULT_SCENARIO_PARAMS', { dp: 18, signed: true });

const DERIBIT_PM_EXAMPLE: ScenarioParams = {
  priceRange: w('0.16'),
  buckets: 4,
  volRangeUp: w('0.5'),
  volRangeDown: w('0.25'),
  minVolForShockUp: w('0.5'),
  shortTermVegaPower: w('0.3'),
  longTermVegaPower: w('0.13'),
  dteFloorDays: 1,
  extendedMoves: ['-0.66', '-0.33', '0.5', '1', '2', '3', '4', '5'].map(w),
  extendedWeight: w('0.35'),
  nakedShortContingency: w('0.01'),
  futureContingency: w('0.01'),
  imFactor: w('1.25'),
};

export const DEFAULT_SCENARIO_PARAMS: ScenarioParamsByUnderlying = Object.freeze({
  default: Object.freeze({ ...DERIBIT_PM_EXAMPLE, extendedMoves: [...DERIBIT_PM_EXAMPLE.extendedMoves] }),
});

/** The parameters an underlying uses: its own row, else `default`. */
export function scenarioParamsFor(p: ScenarioParamsByUnderlying, underlying: string): ScenarioParams {
  return Object.hasOwn(p, underlying) ? (p[underlying] as ScenarioParams) : p.default;
}

// ---------------------------------------------------------------------------------------------------------
// JSON form: {"default"?: Row, "<UNDERLYING>"?: Row}; a Row's fields are decimal strings (buckets, dteFloorDays:
// integers; extendedMoves: an array of decimal strings). A missing `default` is DEFAULT_SCENARIO_PARAMS.default;
// a missing field of another row is taken from the (parsed) default row. Unknown fields are refused.

const FIELDS: readonly (keyof ScenarioParams)[] = [
  'priceRange',
  'buckets',
  'volRangeUp',
  'volRangeDown',
  'minVolForShockUp',
  'shortTermVegaPower',
  'longTermVegaPower',
  'dteFloorDays',
  'extendedMoves',
  'extendedWeight',
  'nakedShortContingency',
  'futureContingency',
  'imFactor',
];
type WadField = Exclude<keyof ScenarioParams, 'buckets' | 'dteFloorDays' | 'extendedMoves'>;
/** Bounds, WAD: [min, max] inclusive; each keeps every shocked price and vol inside Black-76's domain. */
const BOUNDS: Record<WadField, [bigint, bigint]> = {
  priceRange: [1n, WAD - 1n],
  volRangeUp: [0n, 10n * WAD],
  volRangeDown: [0n, 10n * WAD],
  minVolForShockUp: [0n, 10n * WAD],
  shortTermVegaPower: [0n, 2n * WAD],
  longTermVegaPower: [0n, 2n * WAD],
  extendedWeight: [0n, WAD],
  nakedShortContingency: [0n, WAD],
  futureContingency: [0n, WAD],
  imFactor: [WAD, 10n * WAD],
};
const MAX_BUCKETS = 50;
const MAX_DTE_FLOOR_DAYS = 365;
const MAX_EXTENDED_MOVES = 16;
/** Extended moves lie in (−1, +20]: a forward never reaches 0 or beyond 21×. */
const EXTENDED_MIN = -WAD + 1n;
const EXTENDED_MAX = 20n * WAD;
const MAX_UNDERLYINGS = 256;
const UNDERLYING_RE = /^[A-Za-z0-9_.:/-]{1,40}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function wadIn(v: unknown, field: string, [lo, hi]: [bigint, bigint]): bigint {
  const x = parseDecimal(v, field, { dp: 18, signed: lo < 0n, maxAbs: 100n * WAD });
  if (x < lo || x > hi)
    throw new InputError(field, `must be in [${formatDecimal(lo, 18)}, ${formatDecimal(hi, 18)}]`);
  return x;
}

function intIn(v: unknown, field: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    throw new InputError(field, `must be an integer in [${lo}, ${hi}]`);
  return v;
}

function extendedMoves(v: unknown, field: string): bigint[] {
  if (!Array.isArray(v) || v.length > MAX_EXTENDED_MOVES)
    throw new InputError(field, `must be an array of at most ${MAX_EXTENDED_MOVES} move fractions`);
  return v.map((x, i) => {
    const m = wadIn(x, `${field}[${i}]`, [EXTENDED_MIN, EXTENDED_MAX]);
    if (m === 0n)
      throw new InputError(`${field}[${i}]`, 'must not be 0 (the standard grid holds the zero move)');
    return m;
  });
}

function parseRow(json: unknown, field: string, base: ScenarioParams): ScenarioParams {
  if (!isRecord(json)) throw new InputError(field, `must be an object with fields ${FIELDS.join(', ')}`);
  for (const k of Object.keys(json))
    if (!(FIELDS as readonly string[]).includes(k))
      throw new InputError(`${field}.${k}`, `unknown field (allowed: ${FIELDS.join(', ')})`);
  const at = (k: keyof ScenarioParams) => `${field}.${k}`;
  const wad = (k: WadField): bigint => (json[k] === undefined ? base[k] : wadIn(json[k], at(k), BOUNDS[k]));
  return {
    priceRange: wad('priceRange'),
    buckets: json.buckets === undefined ? base.buckets : intIn(json.buckets, at('buckets'), 1, MAX_BUCKETS),
    volRangeUp: wad('volRangeUp'),
    volRangeDown: wad('volRangeDown'),
    minVolForShockUp: wad('minVolForShockUp'),
    shortTermVegaPower: wad('shortTermVegaPower'),
    longTermVegaPower: wad('longTermVegaPower'),
    dteFloorDays:
      json.dteFloorDays === undefined
        ? base.dteFloorDays
        : intIn(json.dteFloorDays, at('dteFloorDays'), 1, MAX_DTE_FLOOR_DAYS),
    extendedMoves:
      json.extendedMoves === undefined
        ? [...base.extendedMoves]
        : extendedMoves(json.extendedMoves, at('extendedMoves')),
    extendedWeight: wad('extendedWeight'),
    nakedShortContingency: wad('nakedShortContingency'),
    futureContingency: wad('futureContingency'),
    imFactor: wad('imFactor'),
  };
}

/**
 * Strict parse of the JSON form (see above); every refusal is an InputError naming the offending field, e.g.
 * `scenario.BTC.priceRange`.
 */
export function parseScenarioParams(json: unknown, field: string): ScenarioParamsByUnderlying {
  if (!isRecord(json)) throw new InputError(field, 'must be an object {default?, <UNDERLYING>?: {…}}');
  const keys = Object.keys(json);
  if (keys.length > MAX_UNDERLYINGS) throw new InputError(field, `at most ${MAX_UNDERLYINGS} underlyings`);
  const def =
    json.default === undefined
      ? DEFAULT_SCENARIO_PARAMS.default
      : parseRow(json.default, `${field}.default`, DEFAULT_SCENARIO_PARAMS.default);
  const out: ScenarioParamsByUnderlying = { default: def };
  for (const u of keys) {
    if (u === 'default') continue;
    // `__proto__` would set the result's prototype instead of adding a row
    if (!UNDERLYING_RE.test(u) || u === '__proto__')
      throw new InputError(`${field}.${u}`, 'is not an underlying name');
    out[u] = parseRow(json[u], `${field}.${u}`, def);
  }
  return out;
}

/** The JSON form of one row: decimal strings, integers, an array of decimal strings. */
export function scenarioParamsRowToJson(p: ScenarioParams): Record<string, string | number | string[]> {
  const out: Record<string, string | number | string[]> = {};
  for (const k of FIELDS) {
    const v = p[k];
    out[k] =
      typeof v === 'number'
        ? v
        : typeof v === 'bigint'
          ? formatDecimal(v, 18)
          : v.map((m) => formatDecimal(m, 18));
  }
  return out;
}

/** The JSON form parseScenarioParams reads back to the same values (the API publishes it). */
export function scenarioParamsToJson(
  p: ScenarioParamsByUnderlying,
): Record<string, Record<string, string | number | string[]>> {
  const out: Record<string, Record<string, string | number | string[]>> = {};
  for (const u of Object.keys(p).sort()) out[u] = scenarioParamsRowToJson(p[u] as ScenarioParams);
  return out;
}
