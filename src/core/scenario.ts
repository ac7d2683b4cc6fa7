/**
 * What-if margin scenarios: the contract behind `ringfence calc` and the service's what-if endpoint.
 * Parses an untrusted JSON value strictly (unknown fields, bad decimals and unknown markets are errors naming the
 * field), evaluates every position with the core math and returns decimals as strings.
 */
import { ceilDiv, decimalPlaces, formatDecimal, InputError, maxBig, minBig, parseDecimal } from './fixed.ts';
import type { Instrument } from './instrument.ts';
import {
  type BucketPosition,
  bankruptcyPrice,
  crossBankruptcyPrice,
  crossLiquidationPrice,
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
} from './margin.ts';
import { buildInstrument, DEFAULT_PRICE_DP, type MarketSpec, venue } from './presets.ts';
import { LEVERAGE_DP, LEVERAGE_ONE, parseLeverage, RATE_DP, RATE_ONE } from './rates.ts';
import { type RiskRule, ratesFor, type Tier } from './tiers.ts';

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
}

export interface Scenario {
  venue: string;
  mode: 'isolated' | 'cross';
  conventions: MarginConventions;
  walletBalance: bigint | null;
  positions: ParsedPosition[];
}

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
] as const;

/** Parses and validates a scenario; throws InputError naming the first bad field. */
export function parseScenario(input: Json): Scenario {
  if (!isObject(input)) throw new InputError('input', 'must be a JSON object');
  onlyFields(input, ['venue', 'mode', 'walletBalance', 'positions'], '');
  const venueId = input.venue === undefined ? 'ringfence' : str(input, 'venue', 'venue');
  const v = venue(venueId);
  const mode = input.mode === undefined ? 'isolated' : input.mode;
  if (mode !== 'isolated' && mode !== 'cross') throw new InputError('mode', 'must be "isolated" or "cross"');
  const positionsIn = input.positions;
  if (!Array.isArray(positionsIn) || positionsIn.length === 0)
    throw new InputError('positions', 'must be a non-empty array');
  if (positionsIn.length > MAX_SCENARIO_POSITIONS) {
    throw new InputError('positions', `at most ${MAX_SCENARIO_POSITIONS} positions per scenario`);
  }
  const positions = positionsIn.map((p, i) => parsePosition(p, `positions[${i}]`, v.markets, venueId));
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
  return { venue: venueId, mode, conventions: v.conventions, walletBalance, positions };
}

function parsePosition(
  p: Json,
  field: string,
  markets: Map<string, Instrument>,
  venueId: string,
): ParsedPosition {
  if (!isObject(p)) throw new InputError(field, 'must be an object');
  onlyFields(p, POSITION_FIELDS, field);
  const symbol = str(p, 'symbol', `${field}.symbol`);
  let inst = p.tiers !== undefined ? customInstrument(p, symbol, field) : markets.get(symbol);
  if (!inst) {
    throw new InputError(
      `${field}.symbol`,
      `unknown market "${symbol}" for venue ${venueId} (known: ${[...markets.keys()].join(', ')}; or give "tiers")`,
      'UNKNOWN_MARKET',
    );
  }
  if (p.maxLeverage !== undefined)
    inst = withMaxLeverage(inst, parseLeverage(p.maxLeverage, `${field}.maxLeverage`));
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
  const price = (k: string) =>
    parseDecimal(p[k], `${field}.${k}`, { dp: inst.priceDp, positive: true, maxAbs: 10n ** 26n });
  const entryPrice = price('entryPrice');
  const mark = p.markPrice === undefined ? entryPrice : price('markPrice');
  const pos: PositionInput = { side: side as Side, size, entryPrice };
  const entryNotional = notional(inst, size, entryPrice, 'ceil');
  const rates = ratesFor(inst.risk, entryNotional, { size, sizeDp: inst.sizeDp });
  const levCap = minBig(rates.maxLeverage, inst.maxLeverage);
  const money = (k: string, signed: boolean) =>
    parseDecimal(p[k], `${field}.${k}`, { dp: inst.settleDp, signed, maxAbs: 10n ** 36n });
  const margin = p.margin === undefined ? null : money('margin', false);
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
  } else if (margin !== null && margin > 0n) {
    // Implied leverage, rounded down so that initial margin at it is never below the margin given.
    leverage = maxBig(1n, (entryNotional * LEVERAGE_ONE) / margin);
  } else {
    leverage = minBig(DEFAULT_LEVERAGE, levCap);
  }
  const extraMargin = p.extraMargin === undefined ? 0n : money('extraMargin', true);
  const collateral = (margin ?? initialMarginAtLeverage(entryNotional, leverage)) + extraMargin;
  const targetLeverage =
    p.targetLeverage === undefined ? null : parseLeverage(p.targetLeverage, `${field}.targetLeverage`);
  return { field, inst, pos, mark, leverage, collateral, extraMargin, targetLeverage };
}

/** A market defined inline: `kind`, `tickSize`, `lotSize`, `multiplier`, `settleDp` and bracket `tiers`. */
function customInstrument(p: Record<string, Json>, symbol: string, field: string): Instrument {
  const kind = p.kind ?? 'linear';
  if (kind !== 'linear' && kind !== 'inverse')
    throw new InputError(`${field}.kind`, 'must be "linear" or "inverse"');
  const tiersIn = p.tiers;
  if (!Array.isArray(tiersIn) || tiersIn.length === 0 || tiersIn.length > 50) {
    throw new InputError(`${field}.tiers`, 'must be an array of 1..50 {cap, mmr, maxLeverage}');
  }
  const tiers = tiersIn.map((t, i) => {
    const f = `${field}.tiers[${i}]`;
    if (!isObject(t)) throw new InputError(f, 'must be an object');
    onlyFields(t, ['cap', 'mmr', 'maxLeverage'], f);
    return {
      cap: t.cap === null || t.cap === undefined ? null : str(t, 'cap', `${f}.cap`),
      mmr: str(t, 'mmr', `${f}.mmr`),
      maxLeverage: str(t, 'maxLeverage', `${f}.maxLeverage`),
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
    risk: { kind: 'brackets', tiers },
  };
  for (const k of ['tickSize', 'lotSize', 'multiplier'] as const) {
    parseDecimal(spec[k], `${field}.${k}`, { dp: Math.max(decimalPlaces(spec[k]), 0), positive: true });
  }
  return buildInstrument(spec, DEFAULT_PRICE_DP);
}

/** The same market with every tier's leverage capped (and initial rate raised) at `maxLeverage`. */
function withMaxLeverage(inst: Instrument, maxLeverage: bigint): Instrument {
  const cap = (t: Tier): Tier => {
    const lev = minBig(t.maxLeverage, maxLeverage);
    return { ...t, maxLeverage: lev, imr: maxBig(t.imr, ceilDiv(RATE_ONE * LEVERAGE_ONE, lev)) };
  };
  let risk: RiskRule = inst.risk;
  if (risk.kind === 'tiers') risk = { kind: 'tiers', tiers: risk.tiers.map(cap) };
  else if (risk.kind === 'sizeLinear') risk = { ...risk, maxLeverage: minBig(risk.maxLeverage, maxLeverage) };
  return { ...inst, maxLeverage, risk };
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

export interface ScenarioResult {
  venue: string;
  mode: 'isolated' | 'cross';
  positions: PositionResult[];
  bucket?: BucketResult;
}

const fmtRate = (r: bigint | null) => (r === null ? null : formatDecimal(r, RATE_DP));

export function evaluateScenario(sc: Scenario): ScenarioResult {
  const conv = sc.conventions;
  const money = (v: bigint, inst: Instrument) => formatDecimal(v, inst.settleDp);
  const price = (v: bigint | null, inst: Instrument) => (v === null ? null : formatDecimal(v, inst.priceDp));
  const bucketPositions: BucketPosition[] = sc.positions.map((p) => ({
    inst: p.inst,
    pos: p.pos,
    mark: p.mark,
  }));
  let bucket: BucketResult | undefined;
  let crossRemovable = 0n;
  if (sc.mode === 'cross') {
    const inst0 = sc.positions[0]!.inst;
    const wb = sc.walletBalance ?? 0n;
    let upnl = 0n;
    let mm = 0n;
    let im = 0n;
    for (const p of sc.positions) {
      const r = positionRisk(p.inst, p.pos, p.mark, conv);
      upnl += r.unrealizedPnl;
      mm += r.triggerMaintenance;
      im += initialMarginAtLeverage(r.notional, p.leverage);
    }
    const counted = conv.removableCountsProfit ? upnl : minBig(upnl, 0n);
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
    const { inst, pos, mark } = p;
    const risk = positionRisk(inst, pos, mark, conv);
    const im = initialMarginAtLeverage(risk.notional, p.leverage);
    const isolated = sc.mode === 'isolated';
    const li = { inst, conv, pos, collateral: p.collateral };
    const lp = isolated
      ? liquidationPrice(li)
      : crossLiquidationPrice(conv, sc.walletBalance ?? 0n, bucketPositions, i);
    const bp = isolated
      ? bankruptcyPrice(li)
      : crossBankruptcyPrice(conv, sc.walletBalance ?? 0n, bucketPositions, i);
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
      maxRemovableMargin: money(isolated ? maxRemovableMargin(st) : crossRemovable, inst),
    };
    if (p.targetLeverage !== null && isolated) {
      const ch = leverageChange(st, p.targetLeverage, p.extraMargin);
      out.leverageChange = {
        targetLeverage: formatDecimal(p.targetLeverage, LEVERAGE_DP),
        marginDelta: money(ch.delta, inst),
        collateral: money(ch.targetCollateral, inst),
        liquidationPrice: price(ch.liquidationPrice, inst),
      };
    }
    return out;
  });
  return bucket
    ? { venue: sc.venue, mode: sc.mode, positions, bucket }
    : { venue: sc.venue, mode: sc.mode, positions };
}

/** Parse and evaluate in one step. */
export function calc(input: Json): ScenarioResult {
  return evaluateScenario(parseScenario(input));
}

export { RATE_ONE };
