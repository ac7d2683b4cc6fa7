/**
 * calc's strategy builder (issue 18): `{"type": "ironCondor", "underlying": "BTC", "expiry": …, "strikes": […],
 * "size": "1", …}` → the legs a trader would otherwise type out, as calc's own leg inputs. Pure JSON to JSON: the
 * legs are then parsed, priced and margined by the same code as hand-written ones (src/core/scenario.ts), and any
 * error found there is reported under the strategy's own field (`strategy.strikes[2]`, not a leg the input never had).
 *
 * Leg order, the one `entryPrices` follows: by strike, a put before a call at the same strike.
 */
import { formatDecimal, InputError, parseDecimal } from './fixed.ts';

export const BUILDER_TYPES = [
  'vertical',
  'straddle',
  'strangle',
  'butterfly',
  'ironCondor',
  'ironButterfly',
  'box',
  'coveredCall',
] as const;
export type BuilderType = (typeof BUILDER_TYPES)[number];

type OptionType = 'call' | 'put';
type Side = 'long' | 'short';

/** One leg of a structure, in its `short` orientation: which strike, call or put, sign, and size ratio. */
interface LegPlan {
  type: OptionType;
  strike: number;
  sign: 1 | -1;
  ratio: 1n | 2n;
}

interface Shape {
  strikes: number;
  /** Whether `optionType` picks calls or puts (vertical, butterfly); refused elsewhere. */
  optionType: boolean;
  /** The side a trader means by the bare name: sold structures `short`, the butterfly and the box `long`. */
  side: Side;
  /** The legs when `short` (a `long` structure is the same legs with every sign flipped). */
  legs: (t: OptionType) => LegPlan[];
}

const leg = (type: OptionType, strike: number, sign: 1 | -1, ratio: 1n | 2n = 1n): LegPlan => ({
  type,
  strike,
  sign,
  ratio,
});

const SHAPES: Record<BuilderType, Shape> = {
  // Short = the credit spread: a call vertical sells the lower strike, a put vertical the higher.
  vertical: {
    strikes: 2,
    optionType: true,
    side: 'short',
    legs: (t) => (t === 'call' ? [leg(t, 0, -1), leg(t, 1, 1)] : [leg(t, 0, 1), leg(t, 1, -1)]),
  },
  straddle: {
    strikes: 1,
    optionType: false,
    side: 'short',
    legs: () => [leg('put', 0, -1), leg('call', 0, -1)],
  },
  strangle: {
    strikes: 2,
    optionType: false,
    side: 'short',
    legs: () => [leg('put', 0, -1), leg('call', 1, -1)],
  },
  // Short butterfly: −1 / +2 / −1; the long one (the default) is +1 / −2 / +1. Wings may be unequal (broken wing).
  butterfly: {
    strikes: 3,
    optionType: true,
    side: 'long',
    legs: (t) => [leg(t, 0, -1), leg(t, 1, 1, 2n), leg(t, 2, -1)],
  },
  ironCondor: {
    strikes: 4,
    optionType: false,
    side: 'short',
    legs: () => [leg('put', 0, 1), leg('put', 1, -1), leg('call', 2, -1), leg('call', 3, 1)],
  },
  ironButterfly: {
    strikes: 3,
    optionType: false,
    side: 'short',
    legs: () => [leg('put', 0, 1), leg('put', 1, -1), leg('call', 1, -1), leg('call', 2, 1)],
  },
  // Short box: sells the K1 call and the K2 put, buys the K2 call and the K1 put — owes K2 − K1 at expiry.
  box: {
    strikes: 2,
    optionType: false,
    side: 'long',
    legs: () => [leg('put', 0, 1), leg('call', 0, -1), leg('put', 1, -1), leg('call', 1, 1)],
  },
  // A short call covered by a long perpetual (or future) of the same size: `cover`.
  coveredCall: { strikes: 1, optionType: false, side: 'short', legs: () => [leg('call', 0, -1)] },
};

const FIELDS = [
  'type',
  'underlying',
  'expiry',
  'strikes',
  'size',
  'settle',
  'side',
  'optionType',
  'underlyingPrice',
  'iv',
  'entryPrices',
  'cover',
] as const;
const COVER_FIELDS = ['symbol', 'entryPrice', 'markPrice', 'leverage'] as const;
/** Strikes, sizes and prices as option legs take them: up to 18 decimals. */
const WAD_DP = 18;

/** A leg built from the strategy, with where each of its fields came from in the input (for error messages). */
export interface BuiltLeg {
  /** calc's leg input: an option (`kind: "option"`) or the covered call's perpetual. */
  json: Record<string, unknown>;
  /** No `entryPrices`: the option trades at its mark (entry = mark, no PnL yet). */
  entryAtMark: boolean;
  /** Leg field → the input field it came from. */
  sources: Record<string, string>;
}

export interface BuiltStrategy {
  type: BuilderType;
  side: Side;
  legs: BuiltLeg[];
}

/** What the builder needs from the scenario: the venue's linear market on an underlying, for a covered call. */
export interface BuilderContext {
  coverSymbol: (underlying: string, settle: string) => string | null;
  /** A preset market's base asset (null: not a preset market — the leg's own parsing then says why). */
  baseOf: (symbol: string) => string | null;
}

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function onlyFields(obj: Record<string, Json>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj))
    if (!allowed.includes(k))
      throw new InputError(`${where}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
}

function pick<T extends string>(v: Json, field: string, values: readonly T[], dflt?: T): T {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
    throw new InputError(field, `must be ${values.map((s) => `"${s}"`).join(' or ')}`);
  return v as T;
}

/**
 * Parses `strategy` (at `field`) into legs. `extra` names fields the caller reads itself (the top-level shorthand's
 * `riskModel` and `collateral`). Strike count and order, `optionType`, `side`, the lengths of `iv` and
 * `entryPrices` are checked here; each leg's values (decimals, the expiry, the underlying) when the leg is parsed.
 */
export function buildStrategy(
  json: Json,
  field: string,
  ctx: BuilderContext,
  extra: readonly string[] = [],
): BuiltStrategy {
  if (!isObject(json)) throw new InputError(field, 'must be an object');
  onlyFields(json, [...FIELDS, ...extra], field);
  const type = pick(json.type, `${field}.type`, BUILDER_TYPES);
  const shape = SHAPES[type];
  const strikes = parseStrikes(json.strikes, `${field}.strikes`, shape.strikes);
  if (!shape.optionType && json.optionType !== undefined)
    throw new InputError(
      `${field}.optionType`,
      `applies to vertical and butterfly only (a ${type} fixes its calls and puts)`,
    );
  const optionType = shape.optionType
    ? pick(json.optionType, `${field}.optionType`, ['call', 'put'] as const)
    : 'call';
  const side = pick(json.side, `${field}.side`, ['short', 'long'] as const, shape.side);
  if (type === 'coveredCall' && side !== 'short')
    throw new InputError(
      `${field}.side`,
      'a covered call is a short call against a long perpetual: only "short"',
    );
  if (type !== 'coveredCall' && json.cover !== undefined)
    throw new InputError(`${field}.cover`, 'applies to coveredCall only');
  const size = parseDecimal(json.size, `${field}.size`, { dp: WAD_DP, positive: true, maxAbs: 10n ** 27n });
  const plans = shape.legs(optionType).map((p) => (side === 'short' ? p : { ...p, sign: -p.sign as 1 | -1 }));
  const entries = listOf(json.entryPrices, `${field}.entryPrices`, plans.length, 'one per option leg');
  const ivs = Array.isArray(json.iv)
    ? listOf(json.iv, `${field}.iv`, strikes.length, 'one per strike')
    : null;
  const legs = plans.map((p, i): BuiltLeg => {
    const sources: Record<string, string> = {
      strike: `${field}.strikes[${p.strike}]`,
      iv: ivs ? `${field}.iv[${p.strike}]` : `${field}.iv`,
      size: `${field}.size`,
      entryPrice: `${field}.entryPrices[${i}]`,
    };
    for (const k of ['underlying', 'expiry', 'settle', 'underlyingPrice']) sources[k] = `${field}.${k}`;
    const legJson: Record<string, unknown> = {
      kind: 'option',
      underlying: json.underlying,
      settle: json.settle ?? 'linear',
      type: p.type,
      strike: strikes[p.strike],
      expiry: json.expiry,
      side: p.sign > 0 ? 'long' : 'short',
      size: formatDecimal(size * p.ratio, WAD_DP),
      underlyingPrice: json.underlyingPrice,
      iv: ivs ? ivs[p.strike] : json.iv,
    };
    if (entries) legJson.entryPrice = entries[i];
    return { json: legJson, entryAtMark: entries === null, sources };
  });
  if (type === 'coveredCall') legs.push(coverLeg(json, field, size, ctx));
  return { type, side, legs };
}

/** `strikes`: exactly `count` decimals, strictly ascending (kept as given: the legs parse them). */
function parseStrikes(v: Json, field: string, count: number): Json[] {
  if (!Array.isArray(v) || v.length !== count)
    throw new InputError(field, `must be an array of ${count} strike${count > 1 ? 's' : ''}`);
  const values = v.map((s, i) =>
    parseDecimal(s, `${field}[${i}]`, { dp: WAD_DP, positive: true, maxAbs: 10n ** 30n }),
  );
  for (let i = 1; i < values.length; i++)
    if (values[i]! <= values[i - 1]!)
      throw new InputError(`${field}[${i}]`, 'strikes must be strictly ascending');
  return v;
}

/** An optional array of exactly `count` items; null when absent. */
function listOf(v: Json, field: string, count: number, what: string): Json[] | null {
  if (v === undefined) return null;
  if (!Array.isArray(v) || v.length !== count)
    throw new InputError(field, `must be an array of ${count} (${what})`);
  return v;
}

/** The covered call's long perpetual: `cover.symbol` or the venue's linear market on the underlying. */
function coverLeg(json: Record<string, Json>, field: string, size: bigint, ctx: BuilderContext): BuiltLeg {
  const f = `${field}.cover`;
  const cover = json.cover ?? {};
  if (!isObject(cover)) throw new InputError(f, 'must be an object');
  onlyFields(cover, COVER_FIELDS, f);
  const settle = json.settle ?? 'linear';
  const symbol =
    cover.symbol ??
    (typeof json.underlying === 'string' && typeof settle === 'string'
      ? ctx.coverSymbol(json.underlying, settle)
      : null);
  if (symbol === null)
    throw new InputError(
      `${f}.symbol`,
      `no perpetual on ${String(json.underlying)} settling like the option at this venue: name one`,
    );
  const base = typeof symbol === 'string' ? ctx.baseOf(symbol) : null;
  if (base !== null && base !== json.underlying)
    throw new InputError(
      `${f}.symbol`,
      `${symbol} is a ${base} market: it cannot cover a call on ${String(json.underlying)}`,
    );
  const legJson: Record<string, unknown> = {
    symbol,
    side: 'long',
    size: formatDecimal(size, WAD_DP),
    entryPrice: cover.entryPrice ?? json.underlyingPrice,
  };
  if (cover.markPrice !== undefined) legJson.markPrice = cover.markPrice;
  if (cover.leverage !== undefined) legJson.leverage = cover.leverage;
  const sources: Record<string, string> = {
    symbol: `${f}.symbol`,
    size: `${field}.size`,
    entryPrice: cover.entryPrice === undefined ? `${field}.underlyingPrice` : `${f}.entryPrice`,
    markPrice: `${f}.markPrice`,
    leverage: `${f}.leverage`,
  };
  return { json: legJson, entryAtMark: false, sources };
}
