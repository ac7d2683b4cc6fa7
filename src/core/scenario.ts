/**
 * What-if margin scenarios: the contract behind `ringfence calc` and the service's what-if endpoint.
 * Parses an untrusted JSON value strictly (unknown fields, bad decimals and unknown markets are errors naming the
 * field), evaluates every position with the core math and returns decimals as strings.
 */
import {
  ceilDiv,
  decimalPlaces,
  floorDiv,
  formatDecimal,
  InputError,
  maxBig,
  minBig,
  parseDecimal,
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
import { buildInstrument, DEFAULT_PRICE_DP, type LoadedVenue, type MarketSpec, venue } from './presets.ts';
import { LEVERAGE_DP, LEVERAGE_ONE, parseLeverage, parseRate, RATE_DP, RATE_ONE } from './rates.ts';
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
import { hyperliquidTiers, type RiskRule, ratesFor, type Tier } from './tiers.ts';

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
  extraMargin: bigint;
  targetLeverage: bigint | null;
  /** The venue's conventions for this position: the scenario's, with the position's own `takerFee`. */
  conv: MarginConventions;
  /** Fee to close folded into initial margin (Gate), as a rate of the value initial margin is taken on; else 0. */
  imFeeRate: bigint;
  /** What was actually put in (margin + extra): differs from `collateral` where the venue counts extra margin
   * net of a fee (Bybit UTA inverse); nothing beyond it is ever removable. */
  deposited: bigint;
  /** The base a silo nets this market on: the market's base asset; a market defined inline (`tiers`) has no real
   * base, so it is its own. */
  netBase: string;
}

/** A silo of the scenario: one collateral box backing all its legs, under its risk model. */
interface ParsedSilo {
  id: string;
  riskModel: RiskModelId;
  collateral: bigint;
  legs: ParsedPosition[];
}

export interface Scenario {
  venue: string;
  mode: 'isolated' | 'cross';
  conventions: MarginConventions;
  walletBalance: bigint | null;
  positions: ParsedPosition[];
  /** Empty when the input declares none (the output then has no `silos`). */
  silos: ParsedSilo[];
  netting: NettingParams;
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
] as const;

/** Fields that define a custom market: meaningful only with `tiers`. */
const CUSTOM_MARKET_FIELDS = ['kind', 'tickSize', 'lotSize', 'multiplier', 'settleDp'] as const;
const TIER_FIELDS = ['cap', 'mmr', 'maxLeverage', 'deduction'] as const;

/** The same error under a longer field path (`tiers[2].deduction` → `positions[0].tiers[2].deduction`). */
function refield(e: InputError, field: string): InputError {
  return new InputError(field, e.message.slice(e.field.length + 2), e.code);
}

/** Parses and validates a scenario; throws InputError naming the first bad field. */
export function parseScenario(input: Json): Scenario {
  if (!isObject(input)) throw new InputError('input', 'must be a JSON object');
  onlyFields(input, ['venue', 'mode', 'walletBalance', 'positions', 'silos', 'netting'], '');
  const venueId = input.venue === undefined ? 'ringfence' : str(input, 'venue', 'venue');
  const v = venue(venueId);
  const mode = input.mode === undefined ? 'isolated' : input.mode;
  if (mode !== 'isolated' && mode !== 'cross') throw new InputError('mode', 'must be "isolated" or "cross"');
  // With silos, `positions` may be left out (or empty): a scenario of silos alone.
  const withSilos = input.silos !== undefined;
  const positionsIn = withSilos && input.positions === undefined ? [] : input.positions;
  if (!Array.isArray(positionsIn) || (positionsIn.length === 0 && !withSilos))
    throw new InputError('positions', 'must be a non-empty array');
  if (positionsIn.length > MAX_SCENARIO_POSITIONS) {
    throw new InputError('positions', `at most ${MAX_SCENARIO_POSITIONS} positions per scenario`);
  }
  const conv = mode === 'cross' ? v.crossConventions : v.conventions;
  const positions = positionsIn.map((p, i) => parsePosition(p, `positions[${i}]`, v, conv, mode));
  const silos = withSilos ? parseSilos(input.silos, v) : [];
  const netting = input.netting === undefined ? DEFAULT_NETTING : parseNetting(input.netting, 'netting');
  const base = { venue: venueId, mode, conventions: conv, positions, silos, netting } as const;
  if (positions.length === 0) {
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
    walletBalance = parseDecimal(input.walletBalance, 'walletBalance', { dp: positions[0]!.inst.settleDp });
  }
  return { ...base, walletBalance };
}

const SILO_FIELDS = ['id', 'riskModel', 'collateral', 'legs'] as const;
const SILO_ID = /^[A-Za-z0-9_.-]{1,32}$/;

/**
 * `silos`: each `{id, riskModel, collateral, legs}`, legs as in `positions` but without collateral of their own
 * (`margin`, `extraMargin`, `targetLeverage` are refused: the silo's collateral backs every leg). A silo is pooled, so
 * its legs take the venue's cross conventions whatever the scenario's `mode`. At most MAX_SCENARIO_POSITIONS legs
 * in all silos together.
 */
function parseSilos(input: Json, v: LoadedVenue): ParsedSilo[] {
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
    const riskModel = s.riskModel;
    if (typeof riskModel !== 'string' || !(RISK_MODELS as readonly string[]).includes(riskModel))
      throw new InputError(
        `${field}.riskModel`,
        `must be one of ${RISK_MODELS.map((m) => `"${m}"`).join(', ')}`,
      );
    const legsIn = s.legs;
    if (!Array.isArray(legsIn) || legsIn.length === 0)
      throw new InputError(`${field}.legs`, 'must be a non-empty array');
    legCount += legsIn.length;
    if (legCount > MAX_SCENARIO_POSITIONS)
      throw new InputError(`${field}.legs`, `at most ${MAX_SCENARIO_POSITIONS} legs in all silos together`);
    const legs = legsIn.map((p, j) => parsePosition(p, `${field}.legs[${j}]`, v, v.crossConventions, 'silo'));
    checkSiloLegs(legs);
    const collateral = parseDecimal(s.collateral, `${field}.collateral`, {
      dp: legs[0]!.inst.settleDp,
      maxAbs: 10n ** 36n,
    });
    return { id, riskModel: riskModel as RiskModelId, collateral, legs };
  });
}

/** One settle asset per silo, and one mark per market (legs on one market move together). */
function checkSiloLegs(legs: readonly ParsedPosition[]): void {
  const asset = legs[0]!.inst.settleAsset;
  const marks = new Map<string, ParsedPosition>();
  for (const leg of legs) {
    if (leg.inst.settleAsset !== asset)
      throw new InputError(`${leg.field}.symbol`, `a silo holds one settle asset (${asset})`);
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
  v: LoadedVenue,
  venueConv: MarginConventions,
  mode: Margining,
): ParsedPosition {
  if (!isObject(p)) throw new InputError(field, 'must be an object');
  onlyFields(p, POSITION_FIELDS, field);
  const symbol = str(p, 'symbol', `${field}.symbol`);
  if (mode !== 'isolated') {
    // A cross position or a silo's leg has no collateral of its own: these would be silently ignored.
    const isolatedOnly = (['margin', 'extraMargin', 'targetLeverage'] as const).find(
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
    const anyHint = v.preset.anySymbol ? '; any other symbol with "maxLeverage"' : '';
    throw new InputError(
      `${field}.symbol`,
      `unknown market "${symbol}" for venue ${v.id} (known: ${[...v.markets.keys()].join(', ')}${anyHint}; or give "tiers")`,
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
  const own = margin ?? initialMarginAtLeverage(entryNotional, leverage) + entryCloseFee;
  const targetLeverage =
    p.targetLeverage === undefined ? null : parseLeverage(p.targetLeverage, `${field}.targetLeverage`);
  return {
    field,
    inst,
    pos,
    mark,
    leverage,
    collateral: own + countedExtra,
    extraMargin: countedExtra,
    targetLeverage,
    conv,
    imFeeRate,
    deposited: own + extraMargin,
    netBase: p.tiers === undefined ? inst.baseAsset : symbol,
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

export interface PositionResult {
  symbol: string;
  side: Side;
  size: string;
  entryPrice: string;
  markPrice: string;
  settleAsset: string;
  leverage: string;
  collateral: string | null;
  notional: string;
  unrealizedPnl: string;
  initialMargin: string;
  maintenanceMargin: string;
  maintenanceRate: string;
  tier: number;
  marginBalance: string | null;
  marginRatio: string | null;
  /** Margin balance below maintenance at the mark (isolated: the position's bucket; cross: the whole bucket). */
  liquidatable: boolean;
  liquidationPrice: string | null;
  bankruptcyPrice: string | null;
  maxRemovableMargin: string;
  leverageChange?: {
    targetLeverage: string;
    marginDelta: string;
    collateral: string;
    liquidationPrice: string | null;
  };
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

export interface SiloResult {
  id: string;
  riskModel: RiskModelId;
  settleAsset: string;
  collateral: string;
  /** collateral + the legs' unrealized PnL at their marks. */
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
}

export interface ScenarioResult {
  venue: string;
  mode: 'isolated' | 'cross';
  positions: PositionResult[];
  bucket?: BucketResult;
  /** Present when the input declares silos. */
  silos?: SiloResult[];
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
    const counted = sc.conventions.removableCountsProfit ? upnl : minBig(upnl, 0n);
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
  const positions = sc.positions.map((p, i): PositionResult => {
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
    const lp = liquidationPrice(isolated ? li : { ...li, collateral: crossM });
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
    if (p.targetLeverage !== null && isolated) {
      // The re-sized bucket keeps the fee to close inside initial margin where the venue does (Gate).
      const closeFee = ceilDiv(notional(inst, pos.size, pos.entryPrice, 'ceil') * p.imFeeRate, RATE_ONE);
      const ch = leverageChange(st, p.targetLeverage, p.extraMargin + closeFee);
      out.leverageChange = {
        targetLeverage: formatDecimal(p.targetLeverage, LEVERAGE_DP),
        marginDelta: money(ch.delta, inst),
        collateral: money(ch.targetCollateral, inst),
        liquidationPrice: price(ch.liquidationPrice, inst),
      };
    }
    return out;
  });
  const out: ScenarioResult = bucket
    ? { venue: sc.venue, mode: sc.mode, positions, bucket }
    : { venue: sc.venue, mode: sc.mode, positions };
  if (sc.silos.length > 0) out.silos = sc.silos.map((s) => evaluateSilo(s, sc.netting));
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
  s: ParsedSilo,
  atMark: readonly LegFigures[],
  netting: NettingParams,
  symbol: string,
): (price: bigint) => boolean {
  const moved = s.legs.filter((p) => p.inst.symbol === symbol);
  let heldEquity = s.collateral;
  let heldMaintenance = 0n;
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
    let equity = heldEquity;
    let maintenance = heldMaintenance;
    const legs = moved.map((p) => {
      const r = positionRisk(p.inst, p.pos, price, p.conv);
      equity += r.unrealizedPnl;
      maintenance += r.triggerMaintenance;
      return nettingLeg(p, r.triggerMaintenance);
    });
    return equity < (prepared ? prepared.withMarket(symbol, legs) : maintenance);
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
 * profit counts only where the venue lets it; never more than the collateral.
 */
function siloRemovable(s: ParsedSilo, figs: readonly LegFigures[], im: bigint, mm: bigint): bigint {
  const conv = s.legs[0]!.conv;
  let upnl = 0n;
  let value = 0n;
  for (const f of figs) {
    upnl += f.unrealizedPnl;
    value += f.notional;
  }
  const required = maxBig(im, maxBig(mm, ceilDiv(value * conv.transferFloorRate, RATE_ONE)));
  const counted = conv.removableCountsProfit ? upnl : minBig(upnl, 0n);
  return maxBig(0n, minBig(s.collateral, s.collateral + counted - required));
}

/**
 * A silo: equity = collateral + the legs' PnL; requirements under its model next to the standalone sums; each leg as
 * a cross position of the silo (no collateral of its own; margin ratio, liquidatable and removable are the silo's;
 * liquidation price the tick before the silo's trigger on that market, bankruptcy price where the silo's equity
 * reaches zero with the other legs held).
 */
function evaluateSilo(s: ParsedSilo, netting: NettingParams): SiloResult {
  const inst0 = s.legs[0]!.inst;
  const money = (v: bigint) => formatDecimal(v, inst0.settleDp);
  const figs = s.legs.map((p) => legFigures(p, p.mark));
  const req = siloRequirement(s.riskModel, siloLegMargins(s, figs), netting);
  let upnl = 0n;
  for (const f of figs) upnl += f.unrealizedPnl;
  const equity = s.collateral + upnl;
  const ratio = fmtRate(marginRatio(req.maintenanceMargin, equity));
  const liquidatable = equity < req.maintenanceMargin;
  const removable = money(siloRemovable(s, figs, req.initialMargin, req.maintenanceMargin));
  const triggers = new Map<string, bigint | null>();
  for (const p of s.legs) {
    if (!triggers.has(p.inst.symbol))
      triggers.set(
        p.inst.symbol,
        siloTrigger(s, testAlong(s, figs, netting, p.inst.symbol), p.inst.symbol, liquidatable),
      );
  }
  const liquidationPrices: Record<string, string | null> = {};
  for (const [symbol, trigger] of triggers) {
    const inst = s.legs.find((p) => p.inst.symbol === symbol)!.inst;
    liquidationPrices[symbol] = trigger === null ? null : formatDecimal(trigger, inst.priceDp);
  }
  const legs = s.legs.map((p, i): PositionResult => {
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
  return {
    id: s.id,
    riskModel: s.riskModel,
    settleAsset: inst0.settleAsset,
    collateral: money(s.collateral),
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
  };
}

/** Parse and evaluate in one step. */
export function calc(input: Json): ScenarioResult {
  return evaluateScenario(parseScenario(input));
}

export { RATE_ONE };
