/**
 * What-if margin scenarios: the contract behind `ringfence calc` and the service's what-if endpoint.
 * Parses an untrusted JSON value strictly (unknown fields, bad decimals and unknown markets are errors naming the
 * field), evaluates every position with the core math and returns decimals as strings.
 */
import {
  ceilDiv,
  decimalPlaces,
  div,
  floorDiv,
  formatDecimal,
  InputError,
  maxBig,
  minBig,
  parseDecimal,
  pow10,
} from './fixed.ts';
import type { Instrument } from './instrument.ts';
import {
  bankruptcyPrice,
  initialMarginAtLeverage,
  leverageChange,
  liquidationPrice,
  type MarginConventions,
  marginRatio,
  maxRemovableMargin,
  notional,
  type PositionInput,
  positionRisk,
  type Side,
  triggerMaintenance,
  unrealizedPnl,
} from './margin.ts';
import { black76, impliedVol, SECONDS_PER_YEAR, WAD, yearsFromSeconds } from './options/black76.ts';
import { type OptionVenue, optionLegMargin } from './options/margin.ts';
import {
  buildInstrument,
  DEFAULT_PRICE_DP,
  type LoadedVenue,
  type MarketSpec,
  PRESETS,
  presetOf,
  venue,
} from './presets.ts';
import { LEVERAGE_DP, LEVERAGE_ONE, parseLeverage, parseRate, RATE_DP, RATE_ONE } from './rates.ts';
import {
  collateralAt,
  collateralRows,
  type MultiCollateral,
  movesWith,
  movingLiquidation,
  parseHaircutsInput,
  parseHoldings,
  parseMultiCollateral,
} from './scenario-collateral.ts';
import {
  requirementOf,
  type SiloPnl,
  type SiloStrategyFields,
  type StrategyReport,
  strategyFields,
  strategyReport,
} from './scenario-strategy.ts';
import {
  DEFAULT_NETTING,
  type NettingParams,
  parseNetting,
  prepareNetting,
  RISK_MODELS,
  type RiskModelId,
  type SiloLeg,
  type SiloLegMargins,
  siloRequirement,
} from './silo.ts';
import {
  DEFAULT_STRATEGY_MARGIN,
  type PortfolioLeg,
  parseStrategyMarginParams,
  STRATEGY_MODELS,
  type StrategyMarginParams,
  type StrategyModelId,
  strategyMargin,
} from './strategy/index.ts';
import { type BuilderContext, type BuiltStrategy, buildStrategy } from './strategy-builder.ts';
import { hyperliquidTiers, type RiskRule, ratesFor, type Tier } from './tiers.ts';
import { isoUtc, utcParts } from './utc.ts';

export const MAX_SCENARIO_POSITIONS = 100;
/** Leverage used when a position gives neither leverage nor margin (capped by the tier's maximum). */
export const DEFAULT_LEVERAGE = 20n * LEVERAGE_ONE;

type Json = unknown;

interface ParsedPosition {
  field: string;
  inst: Instrument;
  pos: PositionInput;
  mark: bigint;
  leverage: bigint;
  collateral: bigint;
  targetLeverage: bigint | null;
  /** The venue's conventions for this position: the scenario's, with the position's own `takerFee`. */
  conv: MarginConventions;
  /** Fee to close folded into initial margin (Gate), as a rate of the value initial margin is taken on; else 0. */
  imFeeRate: bigint;
  /** What was actually put in (margin + extra): differs from `collateral` where the venue counts extra margin
   * net of a fee (Bybit UTA inverse); nothing beyond it is ever removable. */
  deposited: bigint;
  /** What a leverage change keeps in the bucket beyond initial margin at entry: the extra margin, or nothing where
   * the venue releases it (`leverageChangeReleasesExtra`, the engine's rule under "live"). */
  keptOnLeverageChange: bigint;
  /** The base a silo nets this market on: the market's base asset; a market defined inline (`tiers`) has no real
   * base, so it is its own. */
  netBase: string;
  /** `collateral` in several assets (then `collateral` above is its value at the mark); null: settle asset only. */
  multi: MultiCollateral | null;
}

/** A silo of the scenario: one collateral box backing all its legs, under its risk model. */
interface ParsedSilo {
  id: string;
  riskModel: SiloModelId;
  /** Null: not given (the top-level `strategy` shorthand): the least at which equity covers initial margin. */
  collateral: bigint | null;
  /** The perpetual/futures legs (what the risk model and the liquidation search see). */
  legs: ParsedPosition[];
  /** The option legs: standalone under `standalone`/`netted`, offset under the strategy models. */
  options: ParsedOption[];
  /** Every leg in input order, for the output. */
  all: (ParsedPosition | ParsedOption)[];
  settleAsset: string;
  settleDp: number;
  /** `collateral` given as holdings in several assets (then `collateral` is their value at the marks); else null. */
  multi: MultiCollateral | null;
}

export interface Scenario {
  venue: string;
  mode: 'isolated' | 'cross';
  /** Null for an options-only venue (derive). */
  conventions: MarginConventions | null;
  walletBalance: bigint | null;
  /** The perpetual/futures positions. */
  positions: ParsedPosition[];
  /** Every position in input order, options included. */
  all: (ParsedPosition | ParsedOption)[];
  /** Empty when the input declares none (the output then has no `silos`). */
  silos: ParsedSilo[];
  netting: NettingParams;
  /** The strategy models' parameters (`strategyMargin`). */
  strategyMargin: StrategyMarginParams;
}

/** How a position is margined: on its own bucket, in the cross bucket, or as a leg of a silo. */
type Margining = 'isolated' | 'cross' | 'silo';

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyFields(obj: Record<string, Json>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k))
      throw new InputError(where ? `${where}.${k}` : k, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

function str(obj: Record<string, Json>, key: string, field: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v.length === 0) throw new InputError(field, 'must be a non-empty string');
  return v;
}

const POSITION_FIELDS = [
  'symbol',
  'side',
  'size',
  'entryPrice',
  'markPrice',
  'leverage',
  'margin',
  'maxLeverage',
  'extraMargin',
  'targetLeverage',
  'kind',
  'tickSize',
  'lotSize',
  'multiplier',
  'settleDp',
  'tiers',
  'takerFee',
  'collateral',
] as const;

/** Fields that define a custom market: meaningful only with `tiers`. */
const CUSTOM_MARKET_FIELDS = ['kind', 'tickSize', 'lotSize', 'multiplier', 'settleDp'] as const;
const TIER_FIELDS = ['cap', 'mmr', 'maxLeverage', 'deduction'] as const;

/** The same error under a longer field path (`tiers[2].deduction` → `positions[0].tiers[2].deduction`). */
function refield(e: InputError, field: string): InputError {
  return new InputError(field, e.message.slice(e.field.length + 2), e.code);
}

/** What parsing a position needs from the scenario: the venue (null: options only), its option rules, the time. */
interface ParseContext {
  venueId: string;
  v: LoadedVenue | null;
  options: OptionVenueInfo | null;
  /** Seconds since the epoch of `valuationTime`; null when the scenario holds no option. */
  valuation: number | null;
  /** `haircuts`: collateral band tables by asset (decimal strings), over the defaults (core/collateral.ts). */
  haircuts: Record<string, Json>;
}

/**
 * What a caller can give `parseScenario`/`calc` besides the input: venues it built itself, by id, each loaded only
 * when a scenario names it — the service's `"live"`, its own markets as they are now (src/service/live-venue.ts).
 * The core stays pure: it never reaches for them. A caller venue cannot shadow a preset (the preset wins).
 */
export interface ScenarioOptions {
  venues?: Readonly<Record<string, () => LoadedVenue>>;
}

/**
 * The preset named `venueId`, else a venue the caller gave, or null for a venue with option rules only (derive);
 * unknown names are errors.
 */
function resolveVenue(venueId: string, opts: ScenarioOptions): LoadedVenue | null {
  if (presetOf(venueId)) return venue(venueId);
  const callers = opts.venues ?? {};
  if (Object.hasOwn(callers, venueId)) return callers[venueId]!();
  if (Object.hasOwn(OPTION_VENUES, venueId)) return null;
  const known = [
    ...Object.keys(PRESETS),
    ...Object.keys(callers).filter((k) => !presetOf(k)),
    ...Object.keys(OPTION_VENUES).filter((k) => !presetOf(k)),
  ];
  throw new InputError(
    'venue',
    `unknown venue "${venueId}" (known: ${known.join(', ')}; options: ${Object.keys(OPTION_VENUES).join(', ')})`,
    'UNKNOWN_VENUE',
  );
}

const isOptionInput = (p: Json): boolean => isObject(p) && p.kind === 'option';

/** Parses and validates a scenario; throws InputError naming the first bad field. */
export function parseScenario(input: Json, opts: ScenarioOptions = {}): Scenario {
  if (!isObject(input)) throw new InputError('input', 'must be a JSON object');
  onlyFields(input, SCENARIO_FIELDS, '');
  const venueId = input.venue === undefined ? 'ringfence' : str(input, 'venue', 'venue');
  const v = resolveVenue(venueId, opts);
  const mode = input.mode === undefined ? 'isolated' : input.mode;
  if (mode !== 'isolated' && mode !== 'cross') throw new InputError('mode', 'must be "isolated" or "cross"');
  // With silos, `positions` may be left out (or empty): a scenario of silos alone.
  // A top-level `strategy` is a silo too (the shorthand for one).
  const withSilos = input.silos !== undefined || input.strategy !== undefined;
  const positionsIn = withSilos && input.positions === undefined ? [] : input.positions;
  if (!Array.isArray(positionsIn) || (positionsIn.length === 0 && !withSilos))
    throw new InputError('positions', 'must be a non-empty array');
  if (positionsIn.length > MAX_SCENARIO_POSITIONS) {
    throw new InputError('positions', `at most ${MAX_SCENARIO_POSITIONS} positions per scenario`);
  }
  const ctx: ParseContext = {
    venueId,
    v,
    options: Object.hasOwn(OPTION_VENUES, venueId) ? OPTION_VENUES[venueId]! : null,
    valuation: parseValuationTime(input, positionsIn),
    haircuts: parseHaircutsInput(input.haircuts),
  };
  const conv = v === null ? null : mode === 'cross' ? v.crossConventions : v.conventions;
  const all = positionsIn.map((p, i) => {
    const field = `positions[${i}]`;
    if (!isOptionInput(p)) return parsePosition(p, field, ctx, conv, mode);
    if (mode === 'cross')
      throw new InputError(
        'mode',
        `${field} is an option: options are margined isolated or in silos, not in a cross bucket (pool them in a silo under a strategy model)`,
      );
    return parseOption(p, field, ctx, 'isolated');
  });
  const positions = all.filter(isPerp);
  const silos = withSilos ? parseSiloInputs(input, ctx) : [];
  const netting =
    input.netting === undefined ? (v?.netting ?? DEFAULT_NETTING) : parseNetting(input.netting, 'netting');
  const strategyMargin =
    input.strategyMargin === undefined
      ? DEFAULT_STRATEGY_MARGIN
      : parseStrategyMarginParams(input.strategyMargin, 'strategyMargin');
  const base = {
    venue: venueId,
    mode,
    conventions: conv,
    positions,
    all,
    silos,
    netting,
    strategyMargin,
  } as const;
  if (all.length === 0) {
    // The wallet backs positions only (a silo has its own collateral).
    if (input.walletBalance !== undefined)
      throw new InputError('walletBalance', 'applies to positions only (a silo has its own collateral)');
    return { ...base, walletBalance: null };
  }
  let walletBalance: bigint | null = null;
  if (mode === 'cross') {
    const asset = positions[0]!.inst.settleAsset;
    const other = positions.find((p) => p.inst.settleAsset !== asset);
    if (other)
      throw new InputError(`${other.field}.symbol`, `a cross bucket holds one settle asset (${asset})`);
    if (input.walletBalance === undefined) throw new InputError('walletBalance', 'is required in cross mode');
    walletBalance = parseDecimal(input.walletBalance, 'walletBalance', {
      dp: positions[0]!.inst.settleDp,
      signed: true,
    });
  } else if (input.walletBalance !== undefined) {
    // In isolated mode the wallet is the free balance margin could be added from.
    walletBalance = parseDecimal(input.walletBalance, 'walletBalance', { dp: settleOf(all[0]!).dp });
  }
  return { ...base, walletBalance };
}

const SCENARIO_FIELDS = [
  'venue',
  'mode',
  'walletBalance',
  'positions',
  'silos',
  'netting',
  'strategyMargin',
  'strategy',
  'valuationTime',
  'haircuts',
] as const;
const SILO_FIELDS = ['id', 'riskModel', 'collateral', 'legs', 'strategy'] as const;
const SILO_ID = /^[A-Za-z0-9_.-]{1,32}$/;
/** A silo's risk models: the perpetual ones (core/silo.ts) and the option strategy models (core/strategy). */
export type SiloModelId = RiskModelId | StrategyModelId;
export const SILO_MODELS: readonly SiloModelId[] = [...RISK_MODELS, ...STRATEGY_MODELS];
const isStrategyModel = (m: SiloModelId): m is StrategyModelId =>
  (STRATEGY_MODELS as readonly string[]).includes(m);

/** A leg's input, where it came from, and (a built strategy's leg) which input field each of its fields is. */
interface LegInput {
  json: Json;
  field: string;
  entryAtMark: boolean;
  sources: Record<string, string> | null;
}

/** `silos`, or the top-level `strategy` shorthand for one silo (never both). */
function parseSiloInputs(input: Record<string, Json>, ctx: ParseContext): ParsedSilo[] {
  if (input.strategy === undefined) return parseSilos(input.silos, ctx);
  if (input.silos !== undefined)
    throw new InputError(
      'strategy',
      'is the shorthand for one silo: with "silos", give it as a silo\'s "strategy"',
    );
  const built = buildStrategy(input.strategy, 'strategy', builderContext(ctx), ['riskModel', 'collateral']);
  const s = input.strategy as Record<string, Json>;
  const riskModel = s.riskModel === undefined ? 'maxLoss' : parseRiskModel(s.riskModel, 'strategy.riskModel');
  const legs = builtLegInputs(built, 'strategy');
  return [assembleSilo(built.type, riskModel, legs, s.collateral ?? null, 'strategy', ctx)];
}

/**
 * `silos`: each `{id, riskModel, collateral, legs}` or `{id, riskModel, collateral, strategy}`, legs as in
 * `positions` but without collateral of their own (`margin`, `extraMargin`, `targetLeverage` are refused: the silo's
 * collateral backs every leg). A silo is pooled, so its legs take the venue's cross conventions whatever the
 * scenario's `mode`. At most MAX_SCENARIO_POSITIONS legs in all silos together. A leg may be an option (`"kind":
 * "option"`); `strategy` builds the legs of a named structure (core/strategy-builder.ts).
 */
function parseSilos(input: Json, ctx: ParseContext): ParsedSilo[] {
  if (!Array.isArray(input) || input.length === 0) throw new InputError('silos', 'must be a non-empty array');
  let legCount = 0;
  const ids = new Set<string>();
  return input.map((s, i) => {
    const field = `silos[${i}]`;
    if (!isObject(s)) throw new InputError(field, 'must be an object');
    onlyFields(s, SILO_FIELDS, field);
    const id = str(s, 'id', `${field}.id`);
    if (!SILO_ID.test(id)) throw new InputError(`${field}.id`, 'must be 1-32 letters, digits, _ . -');
    if (ids.has(id)) throw new InputError(`${field}.id`, `"${id}" is the id of an earlier silo`);
    ids.add(id);
    const riskModel = parseRiskModel(s.riskModel, `${field}.riskModel`);
    let legs: LegInput[];
    if (s.strategy !== undefined) {
      if (s.legs !== undefined)
        throw new InputError(
          `${field}.strategy`,
          'give "legs" or "strategy", not both (the strategy builds the legs)',
        );
      const b = buildStrategy(s.strategy, `${field}.strategy`, builderContext(ctx));
      legs = builtLegInputs(b, `${field}.strategy`);
    } else {
      const legsIn = s.legs;
      if (!Array.isArray(legsIn) || legsIn.length === 0)
        throw new InputError(`${field}.legs`, 'must be a non-empty array (or give "strategy")');
      legs = legsIn.map((json, j) => ({
        json,
        field: `${field}.legs[${j}]`,
        entryAtMark: false,
        sources: null,
      }));
    }
    legCount += legs.length;
    if (legCount > MAX_SCENARIO_POSITIONS)
      throw new InputError(`${field}.legs`, `at most ${MAX_SCENARIO_POSITIONS} legs in all silos together`);
    if (s.collateral === undefined)
      throw new InputError(`${field}.collateral`, 'is required (a decimal string)');
    return assembleSilo(id, riskModel, legs, s.collateral, field, ctx);
  });
}

function parseRiskModel(v: Json, field: string): SiloModelId {
  if (typeof v !== 'string' || !(SILO_MODELS as readonly string[]).includes(v))
    throw new InputError(field, `must be one of ${SILO_MODELS.map((m) => `"${m}"`).join(', ')}`);
  return v as SiloModelId;
}

/** The venue's linear market on an underlying settling like its options: a covered call's default cover. */
function builderContext(ctx: ParseContext): BuilderContext {
  return {
    baseOf: (symbol) => ctx.v?.markets.get(symbol)?.baseAsset ?? null,
    coverSymbol: (underlying, settle) => {
      const asset = settle === 'linear' ? ctx.options?.linearSettle : underlying;
      for (const inst of ctx.v?.markets.values() ?? [])
        if (inst.baseAsset === underlying && inst.settleAsset === asset && inst.type === 'perpetual')
          return inst.symbol;
      return null;
    },
  };
}

function builtLegInputs(b: BuiltStrategy, field: string): LegInput[] {
  return b.legs.map((l, j) => ({
    json: l.json,
    field: `${field}.legs[${j}]`,
    entryAtMark: l.entryAtMark,
    sources: l.sources,
  }));
}

/** An error in a built leg, under the strategy field the value came from (`strategy.strikes[1]`). */
function underSource(e: unknown, legs: readonly LegInput[]): unknown {
  if (!(e instanceof InputError)) return e;
  for (const l of legs) {
    if (l.sources === null || !e.field.startsWith(`${l.field}.`)) continue;
    const key = e.field.slice(l.field.length + 1);
    return refield(e, l.sources[key] ?? l.field.replace(/\.legs\[\d+\]$/, ''));
  }
  return e;
}

/** Parses a silo's legs and collateral (null: the shorthand's default, set when the silo is evaluated). */
function assembleSilo(
  id: string,
  riskModel: SiloModelId,
  inputs: readonly LegInput[],
  collateralIn: Json | null,
  field: string,
  ctx: ParseContext,
): ParsedSilo {
  let all: (ParsedPosition | ParsedOption)[];
  try {
    all = inputs.map((l) =>
      isOptionInput(l.json)
        ? parseOption(l.json, l.field, ctx, 'silo', l.entryAtMark)
        : parsePosition(l.json, l.field, ctx, ctx.v?.crossConventions ?? null, 'silo'),
    );
    checkSiloLegs(all, all.filter(isPerp));
  } catch (e) {
    throw underSource(e, inputs);
  }
  const legs = all.filter(isPerp);
  // The perpetuals' decimals when there are any (their figures are computed at them); option figures follow.
  const { asset, dp } = settleOf(legs[0] ?? all[0]!);
  // Holdings in several assets: an underlying a linear leg trades is priced by that leg's market (the first such leg).
  let multi: MultiCollateral | null = null;
  if (Array.isArray(collateralIn)) {
    const markets = new Map<string, { inst: Instrument; mark: bigint }>();
    for (const p of legs)
      if (p.inst.kind === 'linear' && !markets.has(p.inst.baseAsset))
        markets.set(p.inst.baseAsset, { inst: p.inst, mark: p.mark });
    multi = parseHoldings(collateralIn, `${field}.collateral`, asset, dp, markets, ctx.haircuts);
  }
  const collateral =
    multi !== null
      ? collateralAt(multi)
      : collateralIn === null
        ? null
        : parseDecimal(collateralIn, `${field}.collateral`, { dp, maxAbs: 10n ** 36n });
  return {
    id,
    riskModel,
    collateral,
    multi,
    legs,
    options: all.filter(isOption),
    all,
    settleAsset: asset,
    settleDp: dp,
  };
}

/** One settle asset per silo, and one mark per market (legs on one market move together). */
function checkSiloLegs(
  all: readonly (ParsedPosition | ParsedOption)[],
  legs: readonly ParsedPosition[],
): void {
  const asset = settleOf(all[0]!).asset;
  for (const leg of all) {
    if (settleOf(leg).asset !== asset)
      throw new InputError(
        `${leg.field}.${isOption(leg) ? 'settle' : 'symbol'}`,
        `a silo holds one settle asset (${asset}); this leg settles in ${settleOf(leg).asset}`,
      );
  }
  const marks = new Map<string, ParsedPosition>();
  for (const leg of legs) {
    const first = marks.get(leg.inst.symbol);
    if (!first) marks.set(leg.inst.symbol, leg);
    else if (first.mark !== leg.mark || first.inst.tickSize !== leg.inst.tickSize)
      throw new InputError(
        `${leg.field}.markPrice`,
        `differs from ${first.field} on the same market: a market has one mark (and tick) in a silo`,
      );
  }
}

/** Whether the venue's figures use the taker fee at all (else a position's `takerFee` could not be honoured). */
function usesTakerFee(conv: MarginConventions, v: LoadedVenue): boolean {
  return (
    conv.feeToCloseInMaintenance ||
    conv.feeInBankruptcy ||
    v.preset.extraMarginNetOfTakerFee === true ||
    v.preset.initialMarginIncludesFeeToClose === true
  );
}

function parsePosition(
  p: Json,
  field: string,
  ctx: ParseContext,
  conv0: MarginConventions | null,
  mode: Margining,
): ParsedPosition {
  if (!isObject(p)) throw new InputError(field, 'must be an object');
  const v = ctx.v;
  if (v === null || conv0 === null)
    throw new InputError(
      `${field}.symbol`,
      `venue ${ctx.venueId} has option rules only: a perpetual or future needs a venue with markets (known: ${Object.keys(PRESETS).join(', ')})`,
    );
  const venueConv = conv0;
  onlyFields(p, POSITION_FIELDS, field);
  const symbol = str(p, 'symbol', `${field}.symbol`);
  if (mode !== 'isolated') {
    // A cross position or a silo's leg has no collateral of its own: these would be silently ignored.
    const isolatedOnly = (['margin', 'extraMargin', 'targetLeverage', 'collateral'] as const).find(
      (k) => p[k] !== undefined,
    );
    if (isolatedOnly)
      throw new InputError(
        `${field}.${isolatedOnly}`,
        mode === 'cross'
          ? 'applies to isolated positions only (cross uses walletBalance)'
          : "applies to isolated positions only (the silo's collateral backs its legs)",
      );
  }
  const maxLeverage =
    p.maxLeverage === undefined ? null : parseLeverage(p.maxLeverage, `${field}.maxLeverage`);
  let inst: Instrument | undefined;
  if (p.tiers !== undefined) inst = customInstrument(p, symbol, field, v);
  else {
    // Market-defining fields without tiers would be silently ignored: refuse them.
    const stray = CUSTOM_MARKET_FIELDS.find((k) => p[k] !== undefined);
    if (stray) throw new InputError(`${field}.${stray}`, 'defines a custom market: only with "tiers"');
    inst = v.markets.get(symbol);
    if (!inst && v.preset.anySymbol && maxLeverage !== null)
      inst = anySymbolMarket(v, symbol, maxLeverage, field);
  }
  if (!inst) {
    const refused = p.tiers === undefined ? v.preset.refusedMarkets?.get(symbol) : undefined;
    if (refused !== undefined) throw new InputError(`${field}.symbol`, refused);
    const anyHint = v.preset.anySymbol ? '; any other symbol with "maxLeverage"' : '';
    const known = v.markets.size > 0 ? [...v.markets.keys()].join(', ') : 'none';
    throw new InputError(
      `${field}.symbol`,
      `unknown market "${symbol}" for venue ${v.id} (known: ${known}${anyHint}; or give "tiers")`,
      'UNKNOWN_MARKET',
    );
  }
  if (maxLeverage !== null) inst = withMaxLeverage(inst, maxLeverage);
  let conv = venueConv;
  if (p.takerFee !== undefined) {
    const fee = parseRate(p.takerFee, `${field}.takerFee`);
    if (!usesTakerFee(venueConv, v)) {
      throw new InputError(
        `${field}.takerFee`,
        `venue ${v.id} (${mode}) counts no taker fee in its margin or prices, so a fee cannot change them`,
      );
    }
    conv = { ...venueConv, takerFeeRate: fee };
  }
  const side = p.side;
  if (side !== 'long' && side !== 'short') throw new InputError(`${field}.side`, 'must be "long" or "short"');
  const size = parseDecimal(p.size, `${field}.size`, { dp: inst.sizeDp, positive: true, maxAbs: 10n ** 24n });
  if (size % inst.lotSize !== 0n) {
    throw new InputError(
      `${field}.size`,
      `must be a multiple of the lot size ${formatDecimal(inst.lotSize, inst.sizeDp)}`,
      'INVALID_QUANTITY',
    );
  }
  const maxSize = p.tiers === undefined ? v.specs.get(symbol)?.maxSize : undefined;
  if (maxSize !== undefined && size > parseDecimal(maxSize, 'maxSize', { dp: inst.sizeDp })) {
    throw new InputError(
      `${field}.size`,
      `above the ${maxSize} contracts the preset's ${symbol} table covers; give the venue's tiers inline ("tiers")`,
    );
  }
  const price = (k: string) =>
    parseDecimal(p[k], `${field}.${k}`, { dp: inst.priceDp, positive: true, maxAbs: 10n ** 26n });
  const entryPrice = price('entryPrice');
  const mark = p.markPrice === undefined ? entryPrice : price('markPrice');
  const pos: PositionInput = { side: side as Side, size, entryPrice };
  const entryNotional = notional(inst, size, entryPrice, 'ceil');
  // A table whose last tier is capped says nothing about larger positions: refuse rather than guess.
  const lastCap = inst.risk.kind === 'tiers' ? inst.risk.tiers[inst.risk.tiers.length - 1]!.cap : null;
  if (lastCap !== null) {
    const worst = maxBig(entryNotional, notional(inst, size, mark, 'ceil'));
    if (worst > lastCap) {
      throw new InputError(
        `${field}.size`,
        `notional ${formatDecimal(worst, inst.settleDp)} is beyond the last tier of ${symbol}'s table (${formatDecimal(lastCap, inst.settleDp)}); give the venue's tiers inline ("tiers")`,
      );
    }
  }
  const rates = ratesFor(inst.risk, entryNotional, { size, sizeDp: inst.sizeDp });
  const levCap = minBig(rates.maxLeverage, inst.maxLeverage);
  const money = (k: string, signed: boolean) =>
    parseDecimal(p[k], `${field}.${k}`, { dp: inst.settleDp, signed, maxAbs: 10n ** 36n });
  const margin = p.margin === undefined ? null : money('margin', false);
  // Gate's initial margin carries the fee to close at entry value; a given margin includes it.
  const imFeeRate = v.preset.initialMarginIncludesFeeToClose ? conv.takerFeeRate : 0n;
  const entryCloseFee = ceilDiv(entryNotional * imFeeRate, RATE_ONE);
  let leverage: bigint;
  if (p.leverage !== undefined) {
    leverage = parseLeverage(p.leverage, `${field}.leverage`);
    if (leverage > levCap) {
      throw new InputError(
        `${field}.leverage`,
        `exceeds the ${formatDecimal(levCap, LEVERAGE_DP)}x allowed for this size`,
        'LEVERAGE_TOO_HIGH',
      );
    }
  } else if (margin !== null && margin > entryCloseFee) {
    // Implied leverage, rounded down so that initial margin at it is never below the margin given.
    leverage = maxBig(1n, (entryNotional * LEVERAGE_ONE) / (margin - entryCloseFee));
  } else {
    leverage = minBig(DEFAULT_LEVERAGE, levCap);
  }
  const extraMargin = p.extraMargin === undefined ? 0n : money('extraMargin', true);
  // Bybit's unified-account inverse formula counts extra margin as extra / (1 + fee) for a long and
  // extra / (1 − fee) for a short; what counts as collateral rounds down.
  const countedExtra = v.preset.extraMarginNetOfTakerFee
    ? floorDiv(
        extraMargin * RATE_ONE,
        side === 'long' ? RATE_ONE + conv.takerFeeRate : RATE_ONE - conv.takerFeeRate,
      )
    : extraMargin;
  const multi = p.collateral === undefined ? null : parseMultiCollateral(p, field, inst, mark, ctx.haircuts);
  const own =
    multi !== null
      ? collateralAt(multi)
      : (margin ?? initialMarginAtLeverage(entryNotional, leverage) + entryCloseFee);
  const targetLeverage =
    p.targetLeverage === undefined ? null : parseLeverage(p.targetLeverage, `${field}.targetLeverage`);
  return {
    field,
    inst,
    pos,
    mark,
    leverage,
    collateral: own + countedExtra,
    targetLeverage,
    conv,
    imFeeRate,
    deposited: own + extraMargin,
    keptOnLeverageChange: v.preset.leverageChangeReleasesExtra ? 0n : countedExtra,
    netBase: p.tiers === undefined ? inst.baseAsset : symbol,
    multi,
  };
}

/** A market for any symbol of a venue that accepts one given its max leverage (Hyperliquid: a single tier). */
function anySymbolMarket(v: LoadedVenue, symbol: string, maxLeverage: bigint, field: string): Instrument {
  const a = v.preset.anySymbol!;
  const lev = formatDecimal(maxLeverage, LEVERAGE_DP);
  try {
    return buildInstrument({
      symbol,
      kind: 'linear',
      base: symbol,
      quote: a.quote,
      tickSize: a.tickSize,
      lotSize: a.lotSize,
      multiplier: '1',
      settleDp: a.settleDp,
      maxLeverage: lev,
      risk: { kind: 'hyperliquid', tiers: [{ cap: null, maxLeverage: lev }] },
    });
  } catch (e) {
    if (e instanceof InputError) throw refield(e, `${field}.symbol`);
    throw e;
  }
}

/** A market defined inline: `kind`, `tickSize`, `lotSize`, `multiplier`, `settleDp` and bracket `tiers`. */
function customInstrument(
  p: Record<string, Json>,
  symbol: string,
  field: string,
  v: LoadedVenue,
): Instrument {
  const kind = p.kind ?? 'linear';
  if (kind !== 'linear' && kind !== 'inverse')
    throw new InputError(`${field}.kind`, 'must be "linear" or "inverse"');
  const tiersIn = p.tiers;
  if (!Array.isArray(tiersIn) || tiersIn.length === 0 || tiersIn.length > 50) {
    throw new InputError(`${field}.tiers`, 'must be an array of 1..50 {cap, mmr, maxLeverage, deduction?}');
  }
  const tiers = tiersIn.map((t, i) => {
    const f = `${field}.tiers[${i}]`;
    if (!isObject(t)) throw new InputError(f, 'must be an object');
    onlyFields(t, TIER_FIELDS, f);
    const decimal = (k: string) => {
      const x = t[k];
      if (typeof x === 'number') return String(x);
      return str(t, k, `${f}.${k}`);
    };
    return {
      cap: t.cap === null || t.cap === undefined ? null : decimal('cap'),
      mmr: decimal('mmr'),
      maxLeverage: decimal('maxLeverage'),
      ...(t.deduction !== undefined ? { deduction: decimal('deduction') } : {}),
    };
  });
  const opt = (k: string, d: string) => (p[k] === undefined ? d : str(p, k, `${field}.${k}`));
  const settleDp = p.settleDp === undefined ? 8 : p.settleDp;
  if (typeof settleDp !== 'number' || !Number.isInteger(settleDp) || settleDp < 0 || settleDp > 18) {
    throw new InputError(`${field}.settleDp`, 'must be an integer 0..18');
  }
  const spec: MarketSpec = {
    symbol,
    kind,
    base: 'BASE',
    quote: kind === 'linear' ? 'QUOTE' : 'USD',
    tickSize: opt('tickSize', '0.01'),
    lotSize: opt('lotSize', kind === 'linear' ? '0.001' : '1'),
    multiplier: opt('multiplier', '1'),
    settleDp,
    maxLeverage: tiers[0]!.maxLeverage,
    // Deductions follow the venue: derived from the caps (a first tier may carry its own), or none (OKX).
    risk: {
      kind: 'brackets',
      deduction: v.preset.customDeduction ?? 'derived',
      first: v.preset.customDeduction === 'none' ? 'zero' : 'given',
      tiers,
    },
  };
  for (const k of ['tickSize', 'lotSize', 'multiplier'] as const) {
    parseDecimal(spec[k], `${field}.${k}`, { dp: Math.max(decimalPlaces(spec[k]), 0), positive: true });
  }
  try {
    return buildInstrument(spec, DEFAULT_PRICE_DP);
  } catch (e) {
    // Tier errors name the tier under this position (`positions[0].tiers[2].deduction`).
    if (e instanceof InputError && e.field.startsWith('tiers')) throw refield(e, `${field}.${e.field}`);
    if (e instanceof InputError && e.field.startsWith(`${symbol}.risk.`))
      throw refield(e, `${field}.${e.field.slice(symbol.length + 6)}`);
    throw e;
  }
}

/**
 * The market as it was for a position opened when the asset's maximum leverage was `maxLeverage`. Where a venue
 * derives margin rates from it, the rates follow: Hyperliquid's maintenance rate is 1/(2·maxLeverage) (the first
 * tier takes it, higher tiers keep theirs unless it is lower; deductions re-derived), dYdX's IMF is
 * 1/maxLeverage (MMF = IMF × maintenance fraction). Elsewhere it only bounds the leverage: every tier's maximum
 * is capped at it and its initial rate raised to match.
 */
function withMaxLeverage(inst: Instrument, maxLeverage: bigint): Instrument {
  const risk0 = inst.risk;
  if (risk0.kind === 'tiers' && risk0.maintenanceFromMaxLeverage) {
    const tiers = hyperliquidTiers(
      risk0.tiers.map((t, i) => ({
        cap: t.cap,
        maxLeverage: i === 0 ? maxLeverage : minBig(t.maxLeverage, maxLeverage),
      })),
      inst.settleDp,
    );
    return { ...inst, maxLeverage, risk: { kind: 'tiers', maintenanceFromMaxLeverage: true, tiers } };
  }
  if (risk0.kind === 'fraction') {
    // IMF = 1/maxLeverage, rounded up (a requirement).
    return { ...inst, maxLeverage, risk: { ...risk0, imf: ceilDiv(RATE_ONE * LEVERAGE_ONE, maxLeverage) } };
  }
  const cap = (t: Tier): Tier => {
    const lev = minBig(t.maxLeverage, maxLeverage);
    return { ...t, maxLeverage: lev, imr: maxBig(t.imr, ceilDiv(RATE_ONE * LEVERAGE_ONE, lev)) };
  };
  let risk: RiskRule = risk0;
  if (risk.kind === 'tiers') risk = { kind: 'tiers', tiers: risk.tiers.map(cap) };
  else if (risk.kind === 'sizeLinear') risk = { ...risk, maxLeverage: minBig(risk.maxLeverage, maxLeverage) };
  return { ...inst, maxLeverage: minBig(inst.maxLeverage, maxLeverage), risk };
}

// ---------------------------------------------------------------------------------------------------------
// Options (issue 17's calc contract): a position or silo leg `{"kind": "option", …}`

interface OptionVenueInfo {
  /** The per-leg rules (src/core/options/margin.ts). */
  rules: OptionVenue;
  /** The asset linear options of the venue settle in, and its decimals (inverse ones settle in the coin). */
  linearSettle: string;
  linearDp: number;
}

/**
 * calc's venue names with option rules. `deribit-linear`, `okx` and `ringfence` are also perpetual presets (the same
 * name picks both); `derive` has options only. The linear settle asset follows the venue (Deribit and Derive list
 * USDC options, OKX USDT-margined ones; ringfence's perpetual markets settle in USDT).
 */
const OPTION_VENUES: Record<string, OptionVenueInfo> = {
  ringfence: { rules: 'ringfence', linearSettle: 'USDT', linearDp: 8 },
  'deribit-linear': { rules: 'deribit', linearSettle: 'USDC', linearDp: 6 },
  okx: { rules: 'okx', linearSettle: 'USDT', linearDp: 8 },
  derive: { rules: 'derive', linearSettle: 'USDC', linearDp: 6 },
};
/** Coin amounts of inverse options: 8 decimals (the satoshi). */
const COIN_DP = 8;
/** Prices, vols, Greeks: WAD, printed with trailing zeros trimmed. */
const WAD_DP = 18;
/** 1,000% — a generous clamp: no venue marks options above it. */
const MAX_IV = 10n * WAD;
const MAX_OPTION_SECONDS = 100 * SECONDS_PER_YEAR;

const OPTION_FIELDS = [
  'kind',
  'underlying',
  'settle',
  'type',
  'strike',
  'expiry',
  'side',
  'size',
  'entryPrice',
  'underlyingPrice',
  'iv',
  'markPrice',
  'margin',
] as const;

/** A position's Greeks, signed and times size (WAD). */
interface OptionGreeks {
  delta: bigint;
  gamma: bigint;
  vega: bigint;
  theta: bigint;
}

interface ParsedOption {
  kind: 'option';
  field: string;
  symbol: string;
  underlying: string;
  settle: 'linear' | 'inverse';
  type: 'call' | 'put';
  strike: bigint;
  /** ISO-8601 UTC, seconds. */
  expiry: string;
  /** The expiry in ms since the epoch, and the time to it from valuationTime in WAD years. */
  expiryMs: number;
  years: bigint;
  side: Side;
  size: bigint;
  entryPrice: bigint;
  underlyingPrice: bigint;
  settleAsset: string;
  settleDp: number;
  /** Per unit, in the settle currency (coin for inverse), WAD. */
  mark: bigint;
  iv: bigint;
  greeks: OptionGreeks;
  /** Whole position under the venue's per-leg rule, WAD, rounded up. */
  initialMargin: bigint;
  maintenanceMargin: bigint;
  /** Isolated only: the deposit in the option's box (settle dp); null: the default (see optionBox). */
  margin: bigint | null;
}

const isOption = (x: ParsedPosition | ParsedOption): x is ParsedOption => 'kind' in x && x.kind === 'option';
const isPerp = (x: ParsedPosition | ParsedOption): x is ParsedPosition => !isOption(x);
const settleOf = (x: ParsedPosition | ParsedOption): { asset: string; dp: number } =>
  isOption(x) ? { asset: x.settleAsset, dp: x.settleDp } : { asset: x.inst.settleAsset, dp: x.inst.settleDp };

/** `valuationTime`: required exactly when an option is present (a result must never depend on the wall clock). */
function parseValuationTime(input: Record<string, Json>, positionsIn: Json[]): number | null {
  const silos = Array.isArray(input.silos) ? input.silos : [];
  // A strategy (top-level or a silo's) is options by construction.
  const any =
    positionsIn.some(isOptionInput) ||
    input.strategy !== undefined ||
    silos.some(
      (s) =>
        isObject(s) && (s.strategy !== undefined || (Array.isArray(s.legs) && s.legs.some(isOptionInput))),
    );
  if (!any) {
    if (input.valuationTime !== undefined)
      throw new InputError('valuationTime', 'applies to options only (no position or leg is an option)');
    return null;
  }
  if (input.valuationTime === undefined)
    throw new InputError(
      'valuationTime',
      'is required when a position or leg is an option (ISO-8601, e.g. "2026-12-01T08:00:00Z"): options are valued at a stated time, never the wall clock',
    );
  return parseIsoSeconds(input.valuationTime, 'valuationTime');
}

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):(\d{2}))$/;

/** An ISO-8601 date-time with `Z` or an offset, whole seconds, a real calendar date → seconds since the epoch. */
function parseIsoSeconds(v: Json, field: string): number {
  const m = typeof v === 'string' ? ISO_TIME.exec(v) : null;
  if (!m)
    throw new InputError(
      field,
      'must be an ISO-8601 date-time with Z or an offset, e.g. "2026-12-25T08:00:00Z"',
    );
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as number[];
  if (m[7] !== undefined && !/^0+$/.test(m[7])) throw new InputError(field, 'must be in whole seconds');
  const ms = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!);
  const t = utcParts(ms);
  if (t.year !== y || t.month !== mo || t.day !== d || t.hour !== h || t.minute !== mi || t.second !== s)
    throw new InputError(field, `"${v as string}" is not a calendar date-time`);
  const offset =
    m[9] === undefined ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 3600 + Number(m[11]) * 60);
  return ms / 1000 - offset;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** Deribit-style instrument name: `BTC-25DEC26-100000-C` (inverse), `BTC_USDC-25DEC26-100000-C` (linear). */
function optionSymbol(
  o: Pick<ParsedOption, 'underlying' | 'settle' | 'settleAsset' | 'strike' | 'type'>,
  expirySec: number,
): string {
  const t = utcParts(expirySec * 1000);
  const date = `${t.day}${MONTHS[t.month - 1]}${String(t.year % 100).padStart(2, '0')}`;
  const head = o.settle === 'linear' ? `${o.underlying}_${o.settleAsset}` : o.underlying;
  return `${head}-${date}-${formatDecimal(o.strike, WAD_DP)}-${o.type === 'call' ? 'C' : 'P'}`;
}

function oneOf<T extends string>(
  p: Record<string, Json>,
  key: string,
  field: string,
  values: readonly T[],
): T {
  const x = p[key];
  if (typeof x !== 'string' || !(values as readonly string[]).includes(x))
    throw new InputError(field, `must be ${values.map((s) => `"${s}"`).join(' or ')}`);
  return x as T;
}

/**
 * An option position or leg. Priced by Black-76 on `underlyingPrice` (the forward), D = 1, time to expiry
 * (expiry − valuationTime) / (365 × 86,400) years, at `iv` — or, given `markPrice`, at the IV implied from it;
 * given both, the mark is `markPrice` and the IV `iv`.
 */
function parseOption(
  p: Json,
  field: string,
  ctx: ParseContext,
  mode: 'isolated' | 'silo',
  entryAtMark = false,
): ParsedOption {
  if (!isObject(p)) throw new InputError(field, 'must be an object');
  const info = ctx.options;
  if (info === null)
    throw new InputError(
      'venue',
      `${ctx.venueId} has no option margin rules (${field} is an option); option venues: ${Object.keys(OPTION_VENUES).join(', ')}`,
    );
  onlyFields(p, OPTION_FIELDS, field);
  const underlying = str(p, 'underlying', `${field}.underlying`);
  if (!/^[A-Za-z0-9]{1,20}$/.test(underlying))
    throw new InputError(`${field}.underlying`, 'must be an asset name (1-20 letters and digits)');
  const settle = oneOf(p, 'settle', `${field}.settle`, ['linear', 'inverse'] as const);
  const type = oneOf(p, 'type', `${field}.type`, ['call', 'put'] as const);
  const side = oneOf(p, 'side', `${field}.side`, ['long', 'short'] as const);
  const wad = (k: string, o: { positive?: boolean; maxAbs: bigint }) =>
    parseDecimal(p[k], `${field}.${k}`, { dp: WAD_DP, ...o });
  const strike = wad('strike', { positive: true, maxAbs: 10n ** 30n });
  const underlyingPrice = wad('underlyingPrice', { positive: true, maxAbs: 10n ** 30n });
  const size = wad('size', { positive: true, maxAbs: 10n ** 27n });
  // A leg the strategy builder made without `entryPrices` trades at its mark (entry = mark, no PnL yet).
  const given = entryAtMark ? null : wad('entryPrice', { maxAbs: 10n ** 30n });
  const expirySec = parseIsoSeconds(p.expiry, `${field}.expiry`);
  const seconds = expirySec - ctx.valuation!;
  if (seconds < 0)
    throw new InputError(`${field}.expiry`, 'is before valuationTime: an expired option has settled');
  if (seconds > MAX_OPTION_SECONDS)
    throw new InputError(`${field}.expiry`, 'is more than 100 years after valuationTime');
  const years = yearsFromSeconds(seconds);
  const priced = priceOption(p, field, { type, settle, strike, forward: underlyingPrice, years });
  const entryPrice = given ?? priced.mark;
  const settleAsset = settle === 'linear' ? info.linearSettle : underlying;
  const settleDp = settle === 'linear' ? info.linearDp : COIN_DP;
  const req = optionLegMargin(info.rules, {
    type,
    settle,
    strike,
    side,
    size,
    underlyingPrice,
    markPrice: priced.mark,
    underlying,
  });
  let margin: bigint | null = null;
  if (p.margin !== undefined) {
    if (mode === 'silo')
      throw new InputError(
        `${field}.margin`,
        "applies to isolated positions only (the silo's collateral backs its legs)",
      );
    if (side === 'long')
      throw new InputError(`${field}.margin`, 'a long option needs no margin: its premium is paid in full');
    margin = parseDecimal(p.margin, `${field}.margin`, { dp: settleDp, maxAbs: 10n ** 36n });
  }
  const sign = side === 'long' ? 1n : -1n;
  // Position Greeks: per-unit Black-76 Greeks × size, signed, truncated toward zero (a long and a short of one size
  // show the same magnitude).
  const times = (g: bigint) => (sign * g * size) / WAD;
  const b = priced.b76;
  const head = { underlying, settle, settleAsset, strike, type };
  return {
    kind: 'option',
    field,
    symbol: optionSymbol(head, expirySec),
    ...head,
    expiry: isoUtc(expirySec * 1000),
    expiryMs: expirySec * 1000,
    years,
    side,
    size,
    entryPrice,
    underlyingPrice,
    settleDp,
    mark: priced.mark,
    iv: priced.iv,
    greeks: {
      delta: times(type === 'call' ? b.callDelta : b.putDelta),
      gamma: times(b.gamma),
      vega: times(b.vega),
      theta: times(b.theta),
    },
    initialMargin: req.initialMargin,
    maintenanceMargin: req.maintenanceMargin,
    margin,
  };
}

/**
 * The mark (per unit, settle currency) and IV: from `iv` by Black-76, or the IV implied from `markPrice`, or both as
 * given (the Greeks and the scenario model's repricing at the IV, everything else at the mark). An inverse
 * option's coin price is the USD price / forward (rounded up: a mark enters short requirements); a coin `markPrice`
 * is turned into USD (× forward, rounded down) before implying.
 */
function priceOption(
  p: Record<string, Json>,
  field: string,
  o: { type: 'call' | 'put'; settle: 'linear' | 'inverse'; strike: bigint; forward: bigint; years: bigint },
): { mark: bigint; iv: bigint; b76: ReturnType<typeof black76> } {
  const hasIv = p.iv !== undefined;
  const hasMark = p.markPrice !== undefined;
  if (!hasIv && !hasMark)
    throw new InputError(`${field}.iv`, 'is required, or "markPrice" (the IV is then implied from it)');
  const at = (vol: bigint) => black76({ forward: o.forward, strike: o.strike, years: o.years, vol });
  const parseIv = () => parseDecimal(p.iv, `${field}.iv`, { dp: WAD_DP, maxAbs: MAX_IV });
  const parseMark = () => parseDecimal(p.markPrice, `${field}.markPrice`, { dp: WAD_DP, maxAbs: 10n ** 30n });
  // Both: a venue's mark and its smile's IV at the strike, neither derived from the other (an engine silo's legs:
  // a mark rounded to the price decimals, or computed earlier, does not give back the IV its risk is run at).
  if (hasIv && hasMark) {
    const iv = parseIv();
    return { mark: parseMark(), iv, b76: at(iv) };
  }
  if (hasIv) {
    const iv = parseIv();
    const b76 = at(iv);
    const usd = o.type === 'call' ? b76.call : b76.put;
    return { mark: o.settle === 'linear' ? usd : ceilDiv(usd * WAD, o.forward), iv, b76 };
  }
  const mark = parseMark();
  const usd = o.settle === 'linear' ? mark : (mark * o.forward) / WAD;
  const iv = impliedVol(o.type, usd, o.forward, o.strike, o.years);
  if (iv === null) {
    const bound = o.type === 'call' ? 'the forward' : 'the strike';
    const why =
      o.years === 0n
        ? 'the option expires at valuationTime, where only its intrinsic value is a price'
        : `a price must be at least the intrinsic value and below ${bound}${o.settle === 'inverse' ? ' (in coin: divided by the forward)' : ''}`;
    throw new InputError(`${field}.markPrice`, `no volatility gives this price: ${why}`);
  }
  if (iv > MAX_IV) throw new InputError(`${field}.markPrice`, 'implies a volatility above 1000%');
  return { mark, iv, b76: at(iv) };
}

/** An option's money figures at the settle asset's decimals. */
interface OptionFigures {
  /** Cash the premium brings into the box: + received (short, rounded down), − paid (long, rounded up). */
  premium: bigint;
  /** (mark − entry) × size, signed by side, rounded down. */
  unrealizedPnl: bigint;
  initialMargin: bigint;
  maintenanceMargin: bigint;
  /** Underlying value: size × underlyingPrice (linear), size in coin (inverse); rounded up. */
  notional: bigint;
}

function optionFigures(o: ParsedOption, dp: number): OptionFigures {
  const unit = pow10(WAD_DP - dp);
  const short = o.side === 'short';
  const paid = o.entryPrice * o.size;
  return {
    premium: short ? div(paid, WAD * unit, 'floor') : -div(paid, WAD * unit, 'ceil'),
    unrealizedPnl: div((short ? -1n : 1n) * (o.mark - o.entryPrice) * o.size, WAD * unit, 'floor'),
    initialMargin: div(o.initialMargin, unit, 'ceil'),
    maintenanceMargin: div(o.maintenanceMargin, unit, 'ceil'),
    notional:
      o.settle === 'linear' ? div(o.size * o.underlyingPrice, WAD * unit, 'ceil') : div(o.size, unit, 'ceil'),
  };
}

/** How an option sits in its box: isolated (its own) or as a silo's leg (the silo's figures). */
interface OptionBox {
  collateral: bigint | null;
  marginBalance: bigint | null;
  marginRatio: string | null;
  liquidatable: boolean;
  maxRemovableMargin: bigint;
}

/**
 * An isolated option's box. Its cash is the deposit (`margin`) plus the premium a short received; the venue's
 * requirement already charges the option's mark, so the option's value is not counted again (Derive: margin = cash +
 * Σ isolated(mark included); Deribit's and OKX's short IM/MM hold the mark too). Default deposit: what, with the
 * premium, makes up the initial margin (the short reserves its requirement at order time); a long's box holds nothing
 * (its premium is paid in full, no margin beyond it).
 */
function isolatedOptionBox(o: ParsedOption, f: OptionFigures): OptionBox {
  if (o.side === 'long')
    return {
      collateral: 0n,
      marginBalance: 0n,
      marginRatio: null,
      liquidatable: false,
      maxRemovableMargin: 0n,
    };
  const collateral = o.margin ?? maxBig(0n, f.initialMargin - f.premium);
  const balance = collateral + f.premium;
  return {
    collateral,
    marginBalance: balance,
    marginRatio: fmtRate(marginRatio(f.maintenanceMargin, balance)),
    liquidatable: balance < f.maintenanceMargin,
    maxRemovableMargin: maxBig(
      0n,
      minBig(collateral, balance - maxBig(f.initialMargin, f.maintenanceMargin)),
    ),
  };
}

/** The output of an option position or leg: the common fields (null where they mean nothing for an option), then
 * the option's own. */
function optionResult(o: ParsedOption, f: OptionFigures, box: OptionBox): PositionResult {
  const money = (v: bigint) => formatDecimal(v, o.settleDp);
  const wad = (v: bigint) => formatDecimal(v, WAD_DP);
  return {
    symbol: o.symbol,
    side: o.side,
    size: wad(o.size),
    entryPrice: wad(o.entryPrice),
    markPrice: wad(o.mark),
    settleAsset: o.settleAsset,
    leverage: null,
    collateral: box.collateral === null ? null : money(box.collateral),
    notional: money(f.notional),
    unrealizedPnl: money(f.unrealizedPnl),
    initialMargin: money(f.initialMargin),
    maintenanceMargin: money(f.maintenanceMargin),
    maintenanceRate: null,
    tier: null,
    marginBalance: box.marginBalance === null ? null : money(box.marginBalance),
    marginRatio: box.marginRatio,
    liquidatable: box.liquidatable,
    liquidationPrice: null,
    bankruptcyPrice: null,
    maxRemovableMargin: money(box.maxRemovableMargin),
    kind: 'option',
    underlying: o.underlying,
    settle: o.settle,
    type: o.type,
    strike: wad(o.strike),
    expiry: o.expiry,
    underlyingPrice: wad(o.underlyingPrice),
    iv: wad(o.iv),
    delta: wad(o.greeks.delta),
    gamma: wad(o.greeks.gamma),
    vega: wad(o.greeks.vega),
    theta: wad(o.greeks.theta),
  };
}

/** Per underlying, the sum of the option positions' and legs' Greeks (options only: perpetuals are not added). */
function scenarioGreeks(options: readonly ParsedOption[]): Record<string, GreeksResult> | undefined {
  if (options.length === 0) return undefined;
  const sums = new Map<string, OptionGreeks>();
  for (const o of options) {
    const s = sums.get(o.underlying) ?? { delta: 0n, gamma: 0n, vega: 0n, theta: 0n };
    sums.set(o.underlying, {
      delta: s.delta + o.greeks.delta,
      gamma: s.gamma + o.greeks.gamma,
      vega: s.vega + o.greeks.vega,
      theta: s.theta + o.greeks.theta,
    });
  }
  const out: Record<string, GreeksResult> = {};
  for (const [u, g] of sums)
    out[u] = {
      delta: formatDecimal(g.delta, WAD_DP),
      gamma: formatDecimal(g.gamma, WAD_DP),
      vega: formatDecimal(g.vega, WAD_DP),
      theta: formatDecimal(g.theta, WAD_DP),
    };
  return out;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * One position or silo leg. For an option (`kind: "option"`): `leverage`, `maintenanceRate`, `tier`,
 * `liquidationPrice` and `bankruptcyPrice` are null (an option has no leverage or tier, and its trigger moves with
 * price, vol and time together); `notional` is the underlying's value; `collateral`/`marginBalance` are the box's
 * deposit and cash (premium received included); the option's own fields follow.
 */
export interface PositionResult {
  symbol: string;
  side: Side;
  size: string;
  entryPrice: string;
  markPrice: string;
  settleAsset: string;
  leverage: string | null;
  collateral: string | null;
  notional: string;
  unrealizedPnl: string;
  initialMargin: string;
  maintenanceMargin: string;
  maintenanceRate: string | null;
  tier: number | null;
  marginBalance: string | null;
  marginRatio: string | null;
  /** Margin balance below maintenance at the mark (isolated: the position's bucket; cross: the whole bucket). */
  liquidatable: boolean;
  liquidationPrice: string | null;
  bankruptcyPrice: string | null;
  maxRemovableMargin: string;
  /** Options only (issue 17's calc contract); Greeks signed and times size. */
  kind?: 'option';
  underlying?: string;
  settle?: 'linear' | 'inverse';
  type?: 'call' | 'put';
  strike?: string;
  expiry?: string;
  underlyingPrice?: string;
  iv?: string;
  delta?: string;
  gamma?: string;
  /** Per 1.00 of vol. */
  vega?: string;
  /** Per year. */
  theta?: string;
  leverageChange?: {
    targetLeverage: string;
    marginDelta: string;
    collateral: string;
    liquidationPrice: string | null;
  };
  /**
   * Only with `collateral` in several assets: each holding's price, gross value and value after its haircut (settle
   * units; `collateral` above is their sum at the mark); the liquidation price on the other side of the mark, where
   * falling collateral value can liquidate too (null: none); and, for comparison, the liquidation price if the same
   * value at the mark were held in the settle asset instead (the wrong-way risk of collateral in the underlying).
   */
  collateralAssets?: CollateralRow[];
  liquidationPriceOtherSide?: string | null;
  liquidationPriceIfSettle?: string | null;
}

/** One holding of a box funded in several assets: its price, gross value and value after its haircut (settle units). */
export interface CollateralRow {
  asset: string;
  amount: string;
  /** Null: the settle asset (face value). */
  price: string | null;
  grossValue: string;
  value: string;
}

export interface BucketResult {
  settleAsset: string;
  walletBalance: string;
  marginBalance: string;
  initialMargin: string;
  maintenanceMargin: string;
  marginRatio: string | null;
  liquidatable: boolean;
  maxWithdrawable: string;
}

/** A silo's output: its figures under its model, its legs, and its strategy risk (SiloStrategyFields). */
export interface SiloResult extends SiloStrategyFields {
  id: string;
  riskModel: SiloModelId;
  settleAsset: string;
  collateral: string;
  /** Only with `collateral` as holdings: each holding's price, gross value and value after its haircut. */
  collateralAssets?: CollateralRow[];
  /** collateral + the legs' unrealized PnL at their marks (`standalone`/`netted`: options by their premium). */
  equity: string;
  /** Under the silo's model. */
  initialMargin: string;
  maintenanceMargin: string;
  /** The plain sums of the legs' own requirements: the offset granted is the difference. */
  standaloneInitialMargin: string;
  standaloneMaintenanceMargin: string;
  marginRatio: string | null;
  /** Equity below maintenance (under the model) at the marks. */
  liquidatable: boolean;
  maxRemovableMargin: string;
  legs: PositionResult[];
  /** Per market: the first tick, that market moving against the silo and the others held, at which the silo is
   * liquidatable (null: none). */
  liquidationPrices: Record<string, string | null>;
  /** The silo's options' Greeks summed per underlying ({} without options). */
  greeks: Record<string, GreeksResult>;
}

export interface GreeksResult {
  delta: string;
  gamma: string;
  vega: string;
  theta: string;
}

export interface ScenarioResult {
  venue: string;
  mode: 'isolated' | 'cross';
  positions: PositionResult[];
  bucket?: BucketResult;
  /** Present when the input declares silos. */
  silos?: SiloResult[];
  /** Present when a position or leg is an option: per underlying, the options' Greeks summed. */
  greeks?: Record<string, GreeksResult>;
}

const fmtRate = (r: bigint | null) => (r === null ? null : formatDecimal(r, RATE_DP));

/** Initial margin on the venue's basis (mark, or entry value), plus the fee to close where it counts. */
function initialMargin(p: ParsedPosition, markNotional: bigint): bigint {
  const base =
    p.conv.imBasis === 'entry' ? notional(p.inst, p.pos.size, p.pos.entryPrice, 'ceil') : markNotional;
  return initialMarginAtLeverage(base, p.leverage) + ceilDiv(base * p.imFeeRate, RATE_ONE);
}

export function evaluateScenario(sc: Scenario): ScenarioResult {
  const money = (v: bigint, inst: Instrument) => formatDecimal(v, inst.settleDp);
  const price = (v: bigint | null, inst: Instrument) => (v === null ? null : formatDecimal(v, inst.priceDp));
  const risks = sc.positions.map((p) => positionRisk(p.inst, p.pos, p.mark, p.conv));
  let bucket: BucketResult | undefined;
  let crossRemovable = 0n;
  const wb = sc.walletBalance ?? 0n;
  if (sc.mode === 'cross' && sc.positions.length > 0) {
    const inst0 = sc.positions[0]!.inst;
    let upnl = 0n;
    let mm = 0n;
    let im = 0n;
    sc.positions.forEach((p, i) => {
      const r = risks[i]!;
      upnl += r.unrealizedPnl;
      mm += r.triggerMaintenance;
      im += initialMargin(p, r.notional);
    });
    const counted = sc.conventions?.removableCountsProfit ? upnl : minBig(upnl, 0n);
    crossRemovable = maxBig(0n, minBig(wb, wb + counted - im));
    bucket = {
      settleAsset: inst0.settleAsset,
      walletBalance: money(wb, inst0),
      marginBalance: money(wb + upnl, inst0),
      initialMargin: money(im, inst0),
      maintenanceMargin: money(mm, inst0),
      marginRatio: fmtRate(marginRatio(mm, wb + upnl)),
      liquidatable: wb + upnl < mm,
      maxWithdrawable: money(crossRemovable, inst0),
    };
  }
  const perps = sc.positions.map((p, i): PositionResult => {
    const { inst, pos, mark, conv } = p;
    const risk = risks[i]!;
    const im = initialMargin(p, risk.notional);
    const isolated = sc.mode === 'isolated';
    const li = { inst, conv, pos, collateral: p.collateral };
    // Cross (Binance's `WB − TMM₁ + UPNL₁`, dYdX's `e − MMR_o`): the others' PnL adds to the wallet and their
    // maintenance, each on its own conventions (a position may carry its own taker fee), is set against it.
    let crossM = wb;
    let crossEquity = wb;
    if (!isolated) {
      sc.positions.forEach((o, j) => {
        if (j === i) return;
        crossM += risks[j]!.unrealizedPnl - triggerMaintenance(o.inst, o.conv, o.pos, o.mark);
        crossEquity += unrealizedPnl(o.inst, o.pos, o.mark);
      });
    }
    const lp0 = liquidationPrice(isolated ? li : { ...li, collateral: crossM });
    // Collateral in the underlying is revalued at every candidate price (the search below); elsewhere it is fixed.
    const moving =
      isolated && p.multi !== null && movesWith(p.multi, inst.symbol)
        ? movingLiquidation(inst, conv, pos, mark, p.multi)
        : null;
    const lp = moving === null ? lp0 : moving.adverse;
    const bp = bankruptcyPrice(isolated ? li : { ...li, collateral: crossEquity });
    const mb = isolated ? p.collateral + risk.unrealizedPnl : null;
    const st = { ...li, mark, leverage: p.leverage };
    const out: PositionResult = {
      symbol: inst.symbol,
      side: pos.side,
      size: formatDecimal(pos.size, inst.sizeDp),
      entryPrice: formatDecimal(pos.entryPrice, inst.priceDp),
      markPrice: formatDecimal(mark, inst.priceDp),
      settleAsset: inst.settleAsset,
      leverage: formatDecimal(p.leverage, LEVERAGE_DP),
      collateral: isolated ? money(p.collateral, inst) : null,
      notional: money(risk.notional, inst),
      unrealizedPnl: money(risk.unrealizedPnl, inst),
      initialMargin: money(im, inst),
      maintenanceMargin: money(risk.triggerMaintenance, inst),
      maintenanceRate: formatDecimal(risk.rates.mmr, RATE_DP),
      tier: risk.rates.tier + 1,
      marginBalance: mb === null ? null : money(mb, inst),
      marginRatio: isolated
        ? fmtRate(marginRatio(risk.triggerMaintenance, mb!))
        : (bucket?.marginRatio ?? null),
      liquidatable: isolated ? mb! < risk.triggerMaintenance : bucket!.liquidatable,
      liquidationPrice: price(lp, inst),
      bankruptcyPrice: price(bp, inst),
      // Where initial margin holds the fee to close (Gate), that reserve stays in the bucket; nothing beyond what
      // was deposited leaves it (Bybit UTA counts extra margin net of a fee, which can exceed the deposit).
      maxRemovableMargin: money(
        isolated
          ? maxRemovableMargin({
              ...st,
              collateral: minBig(p.collateral, p.deposited) - ceilDiv(risk.notional * p.imFeeRate, RATE_ONE),
            })
          : crossRemovable,
        inst,
      ),
    };
    if (p.multi !== null) {
      out.collateralAssets = collateralRows(p.multi);
      out.liquidationPriceOtherSide = moving === null ? null : price(moving.other, inst);
      out.liquidationPriceIfSettle = price(lp0, inst);
    }
    if (p.targetLeverage !== null && isolated) {
      // The re-sized bucket keeps the fee to close inside initial margin where the venue does (Gate).
      const closeFee = ceilDiv(notional(inst, pos.size, pos.entryPrice, 'ceil') * p.imFeeRate, RATE_ONE);
      const ch = leverageChange(st, p.targetLeverage, p.keptOnLeverageChange + closeFee);
      out.leverageChange = {
        targetLeverage: formatDecimal(p.targetLeverage, LEVERAGE_DP),
        marginDelta: money(ch.delta, inst),
        collateral: money(ch.targetCollateral, inst),
        liquidationPrice: price(ch.liquidationPrice, inst),
      };
    }
    return out;
  });
  let k = 0;
  const positions = sc.all.map((x) => {
    if (!isOption(x)) return perps[k++]!;
    const f = optionFigures(x, x.settleDp);
    return optionResult(x, f, isolatedOptionBox(x, f));
  });
  const out: ScenarioResult = bucket
    ? { venue: sc.venue, mode: sc.mode, positions, bucket }
    : { venue: sc.venue, mode: sc.mode, positions };
  if (sc.silos.length > 0) out.silos = sc.silos.map((s) => evaluateSilo(s, sc.netting, sc.strategyMargin));
  const greeks = scenarioGreeks([...sc.all.filter(isOption), ...sc.silos.flatMap((s) => s.options)]);
  if (greeks) out.greeks = greeks;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Silos

/** What a leg's figures are at one price of its market: all that moves when that market moves. */
interface LegFigures {
  notional: bigint;
  unrealizedPnl: bigint;
  /** The maintenance the liquidation test uses (`triggerMaintenance`), as for positions. */
  maintenance: bigint;
  initialMargin: bigint;
}

function legFigures(p: ParsedPosition, price: bigint): LegFigures {
  const r = positionRisk(p.inst, p.pos, price, p.conv);
  return {
    notional: r.notional,
    unrealizedPnl: r.unrealizedPnl,
    maintenance: r.triggerMaintenance,
    initialMargin: initialMargin(p, r.notional),
  };
}

function siloLegMargins(s: ParsedSilo, figs: readonly LegFigures[]): SiloLegMargins[] {
  return s.legs.map((p, i) => {
    const { base, market, sign } = nettingLeg(p, 0n);
    return {
      base,
      market,
      sign,
      initialMargin: figs[i]!.initialMargin,
      maintenanceMargin: figs[i]!.maintenance,
    };
  });
}

/** A leg as the netted model sees it, with one of its requirements. */
function nettingLeg(p: ParsedPosition, requirement: bigint): SiloLeg {
  return { base: p.netBase, market: p.inst.symbol, sign: p.pos.side === 'long' ? 1 : -1, requirement };
}

/**
 * The silo's liquidation test with `symbol`'s legs at a price and every other leg held at its mark: equity below
 * maintenance under the model, in whole units (the test cross mode applies to its bucket).
 */
function testAlong(
  s: FundedSilo,
  atMark: readonly LegFigures[],
  netting: NettingParams,
  symbol: string,
  opt: OptionTotals,
): (price: bigint) => boolean {
  const moved = s.legs.filter((p) => p.inst.symbol === symbol);
  // Holdings this market prices are revalued at every candidate price; the rest of the collateral is held.
  const moving = s.multi !== null && movesWith(s.multi, symbol) ? s.multi : null;
  // Option legs are held at their valuation: their premium is cash, their requirement standalone.
  let heldEquity = (moving === null ? s.collateral : 0n) + opt.premium;
  let heldMaintenance = opt.maintenanceMargin;
  s.legs.forEach((p, i) => {
    if (p.inst.symbol === symbol) return;
    heldEquity += atMark[i]!.unrealizedPnl;
    heldMaintenance += atMark[i]!.maintenance;
  });
  const prepared =
    s.riskModel === 'netted'
      ? prepareNetting(
          s.legs.map((p, i) => nettingLeg(p, atMark[i]!.maintenance)),
          netting,
        )
      : null;
  return (price) => {
    let equity = heldEquity + (moving === null ? 0n : collateralAt(moving, symbol, price));
    let maintenance = heldMaintenance;
    const legs = moved.map((p) => {
      const r = positionRisk(p.inst, p.pos, price, p.conv);
      equity += r.unrealizedPnl;
      maintenance += r.triggerMaintenance;
      return nettingLeg(p, r.triggerMaintenance);
    });
    return equity < (prepared ? prepared.withMarket(symbol, legs) + opt.maintenanceMargin : maintenance);
  };
}

/** Prices are searched up to the bound the input accepts for them (price units). */
const MAX_SEARCH_PRICE = 10n ** 26n;

/** The direction that hurts the silo's legs on one market: against their net size; with none, toward the larger
 * notional (maintenance grows, PnL stays). −1: falling prices. */
function adverseStep(legs: readonly ParsedPosition[]): -1n | 1n {
  let net = 0n;
  for (const p of legs) net += p.pos.side === 'long' ? p.pos.size : -p.pos.size;
  if (net !== 0n) return net > 0n ? -1n : 1n;
  return legs[0]!.inst.kind === 'linear' ? 1n : -1n;
}

/**
 * The first tick of `symbol`'s market, moving from its mark against the silo with every other market held, at which
 * the silo is liquidatable (the mark itself if it already is); null if none up to zero or MAX_SEARCH_PRICE. Gallops
 * tick by tick outward, then bisects (the excess falls toward danger up to whole-unit rounding).
 */
function siloTrigger(
  s: ParsedSilo,
  failsAt: (price: bigint) => boolean,
  symbol: string,
  atMarkFails: boolean,
): bigint | null {
  const moved = s.legs.filter((p) => p.inst.symbol === symbol);
  const { inst, mark } = moved[0]!;
  const t = inst.tickSize;
  if (atMarkFails) return mark;
  const step = adverseStep(moved);
  const first = step < 0n ? ceilDiv(mark, t) - 1n : floorDiv(mark, t) + 1n;
  const last = step < 0n ? 1n : MAX_SEARCH_PRICE / t;
  if ((last - first) * step < 0n) return null;
  let good = first - step; // toward safety of the first tick: the mark's side, taken as passing
  let bad = 0n; // 0: none found yet (never a tick index searched here)
  for (let dist = 1n; bad === 0n; dist *= 2n) {
    let n = first + step * (dist - 1n);
    const atEnd = (last - n) * step <= 0n;
    if (atEnd) n = last;
    if (failsAt(n * t)) bad = n;
    else if (atEnd) return null;
    else good = n;
  }
  while ((bad - good) * step > 1n) {
    const mid: bigint = (good + bad) / 2n;
    if (failsAt(mid * t)) bad = mid;
    else good = mid;
  }
  return bad * t;
}

/** The position convention of a liquidation price: the tick just before the first failing one, toward safety. */
function tickBefore(trigger: bigint | null, step: -1n | 1n, t: bigint): bigint | null {
  if (trigger === null) return null;
  const n = step < 0n ? floorDiv(trigger, t) + 1n : ceilDiv(trigger, t) - 1n;
  return n >= 1n ? n * t : null;
}

/**
 * Largest amount that can leave a silo, by the rule isolated margin leaves its bucket (`maxRemovableMargin`): what
 * stays covers the silo's initial margin (under its model), its maintenance and the venue's transfer floor; unrealized
 * profit (`upnl`) counts only where the venue lets it; never more than the collateral. `cash`: money in the box
 * beyond collateral and PnL (the per-leg models' option premiums: a short's requirement charges its mark, so the
 * premium received counts in full).
 */
function siloRemovable(
  s: FundedSilo,
  figs: readonly LegFigures[],
  req: SiloFigures,
  upnl: bigint,
  cash: bigint,
): bigint {
  const conv = s.legs[0]?.conv;
  let value = 0n;
  for (const f of figs) value += f.notional;
  const floor = ceilDiv(value * (conv?.transferFloorRate ?? 0n), RATE_ONE);
  const required = maxBig(req.initialMargin, maxBig(req.maintenanceMargin, floor));
  const counted = conv?.removableCountsProfit ? upnl : minBig(upnl, 0n);
  return maxBig(0n, minBig(s.collateral, s.collateral + cash + counted - required));
}

/** A silo's option legs summed at its settle decimals: premiums (cash in, + / out, −) and requirements. */
interface OptionTotals {
  premium: bigint;
  initialMargin: bigint;
  maintenanceMargin: bigint;
}

function optionTotals(figs: readonly OptionFigures[]): OptionTotals {
  const t = { premium: 0n, initialMargin: 0n, maintenanceMargin: 0n };
  for (const f of figs) {
    t.premium += f.premium;
    t.initialMargin += f.initialMargin;
    t.maintenanceMargin += f.maintenanceMargin;
  }
  return t;
}

/** A silo's requirement under its model, next to the plain sums of its legs' own figures (settle units). */
interface SiloFigures {
  initialMargin: bigint;
  maintenanceMargin: bigint;
  standaloneInitialMargin: bigint;
  standaloneMaintenanceMargin: bigint;
}

/** A silo with its collateral known (the shorthand's default filled in). */
type FundedSilo = ParsedSilo & { collateral: bigint };

/** `standalone`/`netted`: the perpetuals under the model, option legs added standalone (their venue rule). */
function perLegFigures(
  s: ParsedSilo,
  figs: readonly LegFigures[],
  opt: OptionTotals,
  netting: NettingParams,
): SiloFigures {
  const perpReq = siloRequirement(s.riskModel as RiskModelId, siloLegMargins(s, figs), netting);
  return {
    initialMargin: perpReq.initialMargin + opt.initialMargin,
    maintenanceMargin: perpReq.maintenanceMargin + opt.maintenanceMargin,
    standaloneInitialMargin: perpReq.standaloneInitialMargin + opt.initialMargin,
    standaloneMaintenanceMargin: perpReq.standaloneMaintenanceMargin + opt.maintenanceMargin,
  };
}

/** A strategy model's figures from the report (its standalone sums: the legs as the models see them). */
function modelFigures(r: StrategyReport, model: StrategyModelId): SiloFigures {
  return {
    ...r.models[model],
    standaloneInitialMargin: r.models.standalone.initialMargin,
    standaloneMaintenanceMargin: r.models.standalone.maintenanceMargin,
  };
}

const toWad = (v: bigint, dp: number): bigint => v * pow10(WAD_DP - dp);

/**
 * An option leg for the strategy models. Its own requirement follows the engine's option legs: a short its venue
 * rule (as calc margins it), a long its premium paid in full — at the lower of mark and entry, maintenance 0 — since
 * the models test net liquidation value, which counts the long's mark.
 */
function optionPortfolioLeg(o: ParsedOption): PortfolioLeg {
  const short = o.side === 'short';
  return {
    id: o.symbol,
    underlying: o.underlying,
    kind: 'option',
    settle: o.settle,
    type: o.type,
    strike: o.strike,
    expiry: o.expiryMs,
    sign: short ? -1 : 1,
    size: o.size,
    entryPrice: o.entryPrice,
    markPrice: o.mark,
    forward: o.underlyingPrice,
    iv: o.iv,
    years: o.years,
    initialMargin: inSettleUnits(
      short ? o.initialMargin : ceilDiv(minBig(o.mark, o.entryPrice) * o.size, WAD),
      o.settleDp,
    ),
    maintenanceMargin: short ? inSettleUnits(o.maintenanceMargin, o.settleDp) : 0n,
  };
}

/**
 * A leg's own requirement (WAD) rounded up to the settle unit, as the engine charges a leg (its per-leg figures are
 * in settle units): the models see the legs the engine's silo does, and calc's silo figures are the engine's.
 */
function inSettleUnits(v: bigint, dp: number): bigint {
  const unit = pow10(WAD_DP - dp);
  return ceilDiv(v, unit) * unit;
}

/**
 * A perpetual (or future) leg for the strategy models at a price of its market, with its own figures there: size in
 * units of underlying (contracts × multiplier; an inverse leg, which stands alone in every model, its coin value),
 * prices and forward the price, requirements as calc computes them for a silo leg.
 */
function perpPortfolioLeg(p: ParsedPosition, price: bigint, f: LegFigures): PortfolioLeg {
  const { inst, pos } = p;
  const units =
    inst.kind === 'linear'
      ? div(pos.size * inst.multiplier * WAD, pow10(inst.sizeDp + inst.multiplierDp), 'floor')
      : maxBig(1n, toWad(f.notional, inst.settleDp));
  const leg: PortfolioLeg = {
    id: inst.symbol,
    underlying: p.netBase,
    kind: inst.type,
    settle: inst.kind,
    sign: pos.side === 'long' ? 1 : -1,
    size: units,
    entryPrice: toWad(pos.entryPrice, inst.priceDp),
    markPrice: toWad(price, inst.priceDp),
    forward: toWad(price, inst.priceDp),
    initialMargin: toWad(f.initialMargin, inst.settleDp),
    maintenanceMargin: toWad(f.maintenance, inst.settleDp),
  };
  if (inst.expiry !== null) leg.expiry = inst.expiry;
  return leg;
}

/** The options' PnL at their marks: per leg rounded down as shown, and exact (WAD, the sum rounded down once). */
function optionPnl(options: readonly ParsedOption[], figs: readonly OptionFigures[]): SiloPnl {
  let shown = 0n;
  let exact = 0n;
  options.forEach((o, i) => {
    shown += figs[i]!.unrealizedPnl;
    exact += (o.side === 'long' ? 1n : -1n) * o.size * (o.mark - o.entryPrice);
  });
  return { shown, exact: floorDiv(exact, WAD) };
}

/** Adds a perpetual leg's PnL (settle units, as shown) to both forms. */
function addPnl(pnl: SiloPnl, upnl: bigint, dp: number): void {
  pnl.shown += upnl;
  pnl.exact += toWad(upnl, dp);
}

/** Every leg of the silo at its mark, in the silo's order (`strategies[].legs[].leg` indexes it). */
function portfolioLegs(s: ParsedSilo, figs: readonly LegFigures[]): PortfolioLeg[] {
  let k = 0;
  return s.all.map((x) => (isOption(x) ? optionPortfolioLeg(x) : perpPortfolioLeg(x, x.mark, figs[k++]!)));
}

/**
 * The liquidation test of a strategy-model silo with `symbol`'s legs at a price, the other legs held at their marks
 * (options: their mark, forward and requirement): net liquidation value below the model's maintenance.
 */
function testAlongModel(
  s: FundedSilo,
  atMark: readonly LegFigures[],
  held: { legs: readonly PortfolioLeg[]; optionPnl: SiloPnl },
  symbol: string,
  model: { id: StrategyModelId; params: StrategyMarginParams },
): (price: bigint) => boolean {
  const heldPnl = { ...held.optionPnl };
  s.legs.forEach((p, j) => {
    if (p.inst.symbol !== symbol) addPnl(heldPnl, atMark[j]!.unrealizedPnl, s.settleDp);
  });
  const moved: [number, ParsedPosition][] = [];
  s.all.forEach((x, i) => {
    if (!isOption(x) && x.inst.symbol === symbol) moved.push([i, x]);
  });
  const moving = s.multi !== null && movesWith(s.multi, symbol) ? s.multi : null;
  return (price) => {
    const legs = held.legs.slice();
    const pnl = { ...heldPnl };
    for (const [i, p] of moved) {
      const f = legFigures(p, price);
      addPnl(pnl, f.unrealizedPnl, s.settleDp);
      legs[i] = perpPortfolioLeg(p, price, f);
    }
    const r = strategyMargin(model.id, legs, model.params);
    const collateral = moving === null ? s.collateral : collateralAt(moving, symbol, price);
    return collateral + pnl.shown < requirementOf(r, pnl, s.settleDp).maintenanceMargin;
  };
}

/**
 * A silo: equity and requirements under its model next to the standalone sums; each leg as a cross position of the
 * silo (no collateral of its own; margin ratio, liquidatable and removable are the silo's; liquidation price the tick
 * before the silo's trigger on that market, bankruptcy price where the silo's equity reaches zero with the other legs
 * held). Under `standalone`/`netted` an option counts by its premium (cash: a short's venue requirement charges its
 * mark, a long earns no credit); under the strategy models every leg counts by its PnL at the mark (net liquidation
 * value), as those models test it. Every silo also reports its strategy risk (scenario-strategy.ts).
 */
function evaluateSilo(s0: ParsedSilo, netting: NettingParams, params: StrategyMarginParams): SiloResult {
  const money = (v: bigint) => formatDecimal(v, s0.settleDp);
  const figs = s0.legs.map((p) => legFigures(p, p.mark));
  const optFigs = s0.options.map((o) => optionFigures(o, s0.settleDp));
  const opt = optionTotals(optFigs);
  const optPnl = optionPnl(s0.options, optFigs);
  const pnl = { ...optPnl };
  for (const f of figs) addPnl(pnl, f.unrealizedPnl, s0.settleDp);
  const report = strategyReport(portfolioLegs(s0, figs), params, pnl, s0.settleDp);
  const model = isStrategyModel(s0.riskModel) ? s0.riskModel : null;
  const req = model ? modelFigures(report, model) : perLegFigures(s0, figs, opt, netting);
  const upnl = pnl.shown - optPnl.shown;
  const beyondCollateral = model ? pnl.shown : upnl + opt.premium;
  // The shorthand's default collateral: the least at which equity covers the initial margin (legs traded at their
  // marks: the initial margin itself).
  const collateral = s0.collateral ?? maxBig(0n, req.initialMargin - beyondCollateral);
  const s: FundedSilo = { ...s0, collateral };
  const equity = collateral + beyondCollateral;
  const ratio = fmtRate(marginRatio(req.maintenanceMargin, equity));
  const liquidatable = equity < req.maintenanceMargin;
  const removableAmount = model
    ? siloRemovable(s, figs, req, pnl.shown, 0n)
    : siloRemovable(s, figs, req, upnl, opt.premium);
  const removable = money(removableAmount);
  const triggers = new Map<string, bigint | null>();
  for (const p of s.legs) {
    const symbol = p.inst.symbol;
    if (triggers.has(symbol)) continue;
    const failsAt = model
      ? testAlongModel(s, figs, { legs: report.legs, optionPnl: optPnl }, symbol, { id: model, params })
      : testAlong(s, figs, netting, symbol, opt);
    triggers.set(symbol, siloTrigger(s, failsAt, symbol, liquidatable));
  }
  const liquidationPrices: Record<string, string | null> = {};
  for (const [symbol, trigger] of triggers) {
    const inst = s.legs.find((p) => p.inst.symbol === symbol)!.inst;
    liquidationPrices[symbol] = trigger === null ? null : formatDecimal(trigger, inst.priceDp);
  }
  const perpLegs = s.legs.map((p, i): PositionResult => {
    const { inst, pos } = p;
    const f = figs[i]!;
    const step = adverseStep(s.legs.filter((o) => o.inst.symbol === inst.symbol));
    const lp = tickBefore(triggers.get(inst.symbol) ?? null, step, inst.tickSize);
    const bp = bankruptcyPrice({ inst, conv: p.conv, pos, collateral: equity - f.unrealizedPnl });
    const price = (v: bigint | null) => (v === null ? null : formatDecimal(v, inst.priceDp));
    const rates = ratesFor(inst.risk, f.notional, { size: pos.size, sizeDp: inst.sizeDp });
    return {
      symbol: inst.symbol,
      side: pos.side,
      size: formatDecimal(pos.size, inst.sizeDp),
      entryPrice: formatDecimal(pos.entryPrice, inst.priceDp),
      markPrice: formatDecimal(p.mark, inst.priceDp),
      settleAsset: inst.settleAsset,
      leverage: formatDecimal(p.leverage, LEVERAGE_DP),
      collateral: null,
      notional: money(f.notional),
      unrealizedPnl: money(f.unrealizedPnl),
      initialMargin: money(f.initialMargin),
      maintenanceMargin: money(f.maintenance),
      maintenanceRate: formatDecimal(rates.mmr, RATE_DP),
      tier: rates.tier + 1,
      marginBalance: null,
      marginRatio: ratio,
      liquidatable,
      liquidationPrice: price(lp),
      bankruptcyPrice: price(bp),
      maxRemovableMargin: removable,
    };
  });
  let k = 0;
  let j = 0;
  const legs = s.all.map((x) => {
    if (!isOption(x)) return perpLegs[k++]!;
    const box = {
      collateral: null,
      marginBalance: null,
      marginRatio: ratio,
      liquidatable,
      maxRemovableMargin: removableAmount,
    };
    return optionResult({ ...x, settleDp: s.settleDp }, optFigs[j++]!, box);
  });
  return {
    id: s.id,
    riskModel: s.riskModel,
    settleAsset: s.settleAsset,
    collateral: money(s.collateral),
    ...(s.multi !== null ? { collateralAssets: collateralRows(s.multi) } : {}),
    equity: money(equity),
    initialMargin: money(req.initialMargin),
    maintenanceMargin: money(req.maintenanceMargin),
    standaloneInitialMargin: money(req.standaloneInitialMargin),
    standaloneMaintenanceMargin: money(req.standaloneMaintenanceMargin),
    marginRatio: ratio,
    liquidatable,
    maxRemovableMargin: removable,
    legs,
    liquidationPrices,
    ...strategyFields(report, model),
    greeks: scenarioGreeks(s.options) ?? {},
  };
}

/** Parse and evaluate in one step (`opts`: venues the caller built, see ScenarioOptions). */
export function calc(input: Json, opts: ScenarioOptions = {}): ScenarioResult {
  return evaluateScenario(parseScenario(input, opts));
}

export { RATE_ONE };
