/**
 * Per-leg ("standard") option margin: what one option position requires on its own, under a venue's published rule.
 * Pure bigint WAD (1e18) fixed point; every division rounds so that a requirement is never understated (shares of
 * the underlying and products round up, the OTM discount rounds down). Parameters are data (margin-params.ts).
 *
 * Presets (../shared/reference/options-margin.md §2, venue-margin-rules.md §6.3, §7.2):
 * - `deribit`: Deribit's standard margin. Inverse (coin-settled) options use the coin formula, per 1 coin;
 *   linear options bit.com's USD form — the coin formula's terms × the underlying price (OPT-BIT-LEG-1).
 * - `okx`: OKX unified account, a/b/c with the margin factor, OTM on the same-expiry forward; coin-margined terms for
 *   inverse options, the USD-margined form (terms × index) for linear ones.
 * - `derive`: Derive (Lyra v2) StandardManager per short leg — `_getIsolatedMarginForCall/Put`, the OTM ratio and
 *   spot charges on the spot index, the mark on the forward — and, for a linear leg, the SRM's per-expiry
 *   max(isolated, max loss) as it comes out for a subaccount holding that one leg: a short put never needs more than
 *   its strike, a short call never more than unpairedScale × forward. Derive lists only USDC (linear) options; an
 *   inverse leg is margined by the same isolated formula in USD and converted to coin at the underlying price,
 *   without the max-loss cap (a coin-settled short put's coin loss is unbounded as the price falls: §6.2).
 * - `ringfence` (default): the most conservative of the three — per leg, the largest initial margin of the three and,
 *   separately, the largest maintenance margin.
 *
 * Long options need nothing beyond the premium, which is paid in full when the option is bought (the engine charges it
 * at the trade): initial and maintenance margin are 0 — no venue here gives a long option margin credit either.
 * Every preset keeps initial margin ≥ maintenance margin (Deribit's and Derive's put rules say so; OKX's put MM can
 * exceed its IM only for a put worth more than a/c coins, and then IM is raised to MM).
 */
import { ceilDiv, floorDiv, maxBig, minBig, parseDecimal } from '../fixed.ts';
import { WAD } from './fixedmath.ts';
import {
  type ByUnderlying,
  DERIBIT_OPTION_PARAMS,
  DERIVE_OPTION_PARAMS,
  DERIVE_ORACLE_CONTINGENCY,
  type DeribitShapeSpec,
  type DeriveOracleContingencySpec,
  type DeriveSpec,
  OKX_OPTION_PARAMS,
  type OkxSpec,
  REG_T_EQUITY,
  type RegTNakedSpec,
} from './margin-params.ts';

export type OptionVenue = 'deribit' | 'okx' | 'derive' | 'ringfence';
export const OPTION_VENUES: readonly OptionVenue[] = ['deribit', 'okx', 'derive', 'ringfence'];

export interface OptionLeg {
  type: 'call' | 'put';
  settle: 'linear' | 'inverse';
  strike: bigint;
  side: 'long' | 'short';
  /** Units of underlying, WAD. */
  size: bigint;
  /** The forward (same-expiry) used for pricing and the OTM amount, WAD USD. */
  underlyingPrice: bigint;
  /** Per unit, in the settle currency: USD for linear, coin for inverse. WAD. */
  markPrice: bigint;
  /** Picks the parameter row (BTC, ETH, …); any other or none: the table's `default` row. */
  underlying?: string;
  /** Spot index where a venue uses it apart from the forward (Derive's OTM ratio and spot charges, OKX's USD
   * multiplier). Default: underlyingPrice. */
  spotPrice?: bigint;
  /** Spot feed confidence, WAD in [0, 1]; only Derive reads it (oracle contingency on short IM). Default: 1. */
  spotConfidence?: bigint;
}

export interface LegMargin {
  initialMargin: bigint;
  maintenanceMargin: bigint;
}

/** Parameter overrides (data form) per venue; absent: the published row for the leg's underlying. */
export interface OptionMarginParams {
  deribit?: DeribitShapeSpec;
  okx?: OkxSpec;
  derive?: DeriveSpec;
  deriveOracleContingency?: DeriveOracleContingencySpec;
}

// ---------------------------------------------------------------------------------------------------------
// Parameters: decimal strings parsed once to WAD

type Wad<T> = { [K in keyof T]: bigint };

const parsedCache = new WeakMap<object, Record<string, bigint>>();

function wadOf<T extends object>(spec: T): Wad<T> {
  let hit = parsedCache.get(spec);
  if (!hit) {
    hit = {};
    for (const [k, v] of Object.entries(spec)) hit[k] = parseDecimal(v, k, { dp: 18 });
    parsedCache.set(spec, hit);
  }
  return hit as Wad<T>;
}

function row<T>(table: ByUnderlying<T>, underlying: string | undefined): T {
  return underlying !== undefined && Object.hasOwn(table, underlying) ? table[underlying]! : table.default;
}

/** The parameters a preset applies to a leg on `underlying` (overrides first, then the published table). */
export function optionParamsFor(underlying: string | undefined, params: OptionMarginParams = {}) {
  return {
    deribit: wadOf(params.deribit ?? row(DERIBIT_OPTION_PARAMS, underlying)),
    okx: wadOf(params.okx ?? row(OKX_OPTION_PARAMS, underlying)),
    derive: wadOf(params.derive ?? row(DERIVE_OPTION_PARAMS, underlying)),
    deriveOc: wadOf(params.deriveOracleContingency ?? row(DERIVE_ORACLE_CONTINGENCY, underlying)),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Arithmetic helpers (WAD)

/** a × b, rounded up: every product here is a charge. */
const mulUp = (a: bigint, b: bigint): bigint => ceilDiv(a * b, WAD);
/** a / b as a WAD ratio, rounded down: used only for OTM ratios, whose discount must not be overstated. */
const ratioDown = (a: bigint, b: bigint): bigint => floorDiv(a * WAD, b);

/** Out-of-the-money amount against `reference`: call max(K − U, 0), put max(U − K, 0). */
function otmAmount(leg: Pick<OptionLeg, 'type' | 'strike'>, reference: bigint): bigint {
  const d = leg.type === 'call' ? leg.strike - reference : reference - leg.strike;
  return maxBig(d, 0n);
}

/** Keeps IM ≥ MM, per unit. */
const ordered = (im: bigint, mm: bigint): LegMargin => ({
  initialMargin: maxBig(im, mm),
  maintenanceMargin: mm,
});

// ---------------------------------------------------------------------------------------------------------
// Deribit (and bit.com's USD form)

/**
 * Per 1 unit. Inverse, in coin: IM = max(a − OTM/U, b) + mark; call MM = c + mark; put MM = max(c, c·mark) + mark,
 * put IM = max(IM, MM). Linear, in USD: the same terms × U (bit.com: `max(a·U − OTM, b·U)`, `max(c·U, c·mark)`).
 */
export function deribitPerUnit(leg: OptionLeg, p: Wad<DeribitShapeSpec>): LegMargin {
  const u = leg.underlyingPrice;
  const otm = otmAmount(leg, u);
  const mark = leg.markPrice;
  if (leg.settle === 'inverse') {
    const imShare = maxBig(p.a - ratioDown(otm, u), p.b);
    const mm = leg.type === 'call' ? p.c + mark : maxBig(p.c, mulUp(p.c, mark)) + mark;
    return ordered(imShare + mark, mm);
  }
  const imPart = maxBig(mulUp(p.a, u) - otm, mulUp(p.b, u));
  const mm = leg.type === 'call' ? mulUp(p.c, u) + mark : maxBig(mulUp(p.c, u), mulUp(p.c, mark)) + mark;
  return ordered(imPart + mark, mm);
}

// ---------------------------------------------------------------------------------------------------------
// OKX

/**
 * Per 1 unit. Coin-margined (inverse): IM = max(a, b − OTM/F)·MF + mark; call MM = c·MF + mark; put MM =
 * max(c, c·mark)·MF + mark. USD-margined (linear): the a/b/c terms × index (`max(c·index, c·mark)` for the put).
 */
export function okxPerUnit(leg: OptionLeg, p: Wad<OkxSpec>): LegMargin {
  const f = leg.underlyingPrice;
  const index = leg.spotPrice ?? f;
  const mark = leg.markPrice;
  const share = maxBig(p.a, p.b - ratioDown(otmAmount(leg, f), f));
  if (leg.settle === 'inverse') {
    const mmShare = leg.type === 'call' ? p.c : maxBig(p.c, mulUp(p.c, mark));
    return ordered(mulUp(share, p.marginFactor) + mark, mulUp(mmShare, p.marginFactor) + mark);
  }
  const mmBase = leg.type === 'call' ? mulUp(p.c, index) : maxBig(mulUp(p.c, index), mulUp(p.c, mark));
  return ordered(mulUp(mulUp(share, p.marginFactor), index) + mark, mulUp(mmBase, p.marginFactor) + mark);
}

// ---------------------------------------------------------------------------------------------------------
// Derive StandardManager

/**
 * Per 1 unit, USD, as requirements (Derive's signed margin negated). Call: IM = mult·S + mark, MM = mmCall·S + mark,
 * mult = max(maxSpot − OTM/S, minSpot) (the contract's `maxSpot > otm && maxSpot − otm > minSpot` test says the same).
 * Put: MM = max(mmPut·S, MMPutMtM·mark) + mark; IM = max(mult·S + mark, MM × mmOffsetScale).
 */
export function deriveIsolatedUsd(leg: OptionLeg, p: Wad<DeriveSpec>, markUsd: bigint): LegMargin {
  const s = leg.spotPrice ?? leg.underlyingPrice;
  const mult = maxBig(p.maxSpotReq - ratioDown(otmAmount(leg, s), s), p.minSpotReq);
  const im = mulUp(mult, s) + markUsd;
  if (leg.type === 'call') return ordered(im, mulUp(p.mmCallSpotReq, s) + markUsd);
  const mm = maxBig(mulUp(p.mmPutSpotReq, s), mulUp(p.MMPutMtMReq, markUsd)) + markUsd;
  return ordered(maxBig(im, mulUp(mm, p.mmOffsetScale)), mm);
}

/**
 * Derive's oracle contingency per short unit, USD, IM only (StandardManager `_getNetOptionMarginAndMtM`): when the
 * feed confidence is below `optionThreshold`, (1 − confidence) · OCFactor · spot — a stale or disputed price may hide
 * a loss, so new risk must carry a cushion in proportion to the doubt. Rounded up (a charge).
 */
export function deriveOracleContingencyUsd(leg: OptionLeg, oc: Wad<DeriveOracleContingencySpec>): bigint {
  const confidence = leg.spotConfidence ?? WAD;
  if (confidence >= oc.optionThreshold) return 0n;
  return mulUp(mulUp(WAD - confidence, oc.OCFactor), leg.spotPrice ?? leg.underlyingPrice);
}

const NO_CONTINGENCY = { optionThreshold: 0n, OCFactor: 0n };

/**
 * Per 1 unit in the leg's settle currency: linear capped at the one-leg max loss, inverse converted to coin. The
 * oracle contingency is added to IM after the cap, as the SRM subtracts it after max(isolated, max loss).
 */
export function derivePerUnit(
  leg: OptionLeg,
  p: Wad<DeriveSpec>,
  oc: Wad<DeriveOracleContingencySpec> = NO_CONTINGENCY,
): LegMargin {
  const f = leg.underlyingPrice;
  const contingency = deriveOracleContingencyUsd(leg, oc);
  if (leg.settle === 'inverse') {
    const usd = deriveIsolatedUsd(leg, p, mulUp(leg.markPrice, f));
    return {
      initialMargin: ceilDiv((usd.initialMargin + contingency) * WAD, f),
      maintenanceMargin: ceilDiv(usd.maintenanceMargin * WAD, f),
    };
  }
  const iso = deriveIsolatedUsd(leg, p, leg.markPrice);
  // SRM per expiry: max(isolated, max loss) in signed margin. One short put loses at most its strike (payoff at 0);
  // one short call's payoffs at 0 and at its strike are 0, plus the unpaired-call charge scale × forward.
  const capIm = leg.type === 'put' ? leg.strike : mulUp(p.unpairedIMScale, f);
  const capMm = leg.type === 'put' ? leg.strike : mulUp(p.unpairedMMScale, f);
  return ordered(minBig(iso.initialMargin, capIm) + contingency, minBig(iso.maintenanceMargin, capMm));
}

// ---------------------------------------------------------------------------------------------------------

function checkLeg(leg: OptionLeg): void {
  if (leg.underlyingPrice <= 0n) throw new RangeError('optionLegMargin: underlyingPrice must be positive');
  if (leg.spotPrice !== undefined && leg.spotPrice <= 0n)
    throw new RangeError('optionLegMargin: spotPrice must be positive');
  if (leg.spotConfidence !== undefined && (leg.spotConfidence < 0n || leg.spotConfidence > WAD))
    throw new RangeError('optionLegMargin: spotConfidence must be within [0, 1]');
  if (leg.size < 0n || leg.markPrice < 0n || leg.strike < 0n)
    throw new RangeError('optionLegMargin: size, markPrice and strike must not be negative');
}

/** Per 1 unit of underlying under one venue's rule, in the settle currency (short legs). */
export function optionMarginPerUnit(
  venue: OptionVenue,
  leg: OptionLeg,
  params: OptionMarginParams = {},
): LegMargin {
  const p = optionParamsFor(leg.underlying, params);
  switch (venue) {
    case 'deribit':
      return deribitPerUnit(leg, p.deribit);
    case 'okx':
      return okxPerUnit(leg, p.okx);
    case 'derive':
      return derivePerUnit(leg, p.derive, p.deriveOc);
    case 'ringfence': {
      const all = [
        deribitPerUnit(leg, p.deribit),
        okxPerUnit(leg, p.okx),
        derivePerUnit(leg, p.derive, p.deriveOc),
      ];
      return {
        initialMargin: all.reduce((m, x) => maxBig(m, x.initialMargin), 0n),
        maintenanceMargin: all.reduce((m, x) => maxBig(m, x.maintenanceMargin), 0n),
      };
    }
  }
}

/**
 * The whole position's initial and maintenance margin, WAD in the settle currency, rounded up. Long: 0 and 0 (the
 * premium is paid in full at the trade; no margin beyond it).
 */
export function optionLegMargin(
  venue: OptionVenue,
  leg: OptionLeg,
  params: OptionMarginParams = {},
): LegMargin {
  checkLeg(leg);
  if (leg.side === 'long' || leg.size === 0n) return { initialMargin: 0n, maintenanceMargin: 0n };
  const unit = optionMarginPerUnit(venue, leg, params);
  return {
    initialMargin: mulUp(unit.initialMargin, leg.size),
    maintenanceMargin: mulUp(unit.maintenanceMargin, leg.size),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Reg-T / CBOE naked equity option (US brokers). Not an OptionVenue: calc's option venues are fixed, and the rule is
// per 100-share contract in USD on stock, which no crypto preset shares.

export interface RegTLeg {
  type: 'call' | 'put';
  side: 'long' | 'short';
  /** Contracts, WAD (1 = one contract of `multiplier` shares). */
  contracts: bigint;
  /** Stock (or index) price per share, WAD USD. */
  underlyingPrice: bigint;
  strike: bigint;
  /** Option price per share, WAD USD. */
  premium: bigint;
}

/**
 * Requirement in USD (WAD, rounded up), premium included. Short call: max(20%·S − OTM, 10%·S) + premium; short put:
 * max(20%·S − OTM, 10%·K) + premium; per share, × multiplier × contracts. Long: the premium, paid in full.
 * The broker's "SMA debit"/call for funds is this less the proceeds received.
 */
export function regTNakedRequirement(leg: RegTLeg, spec: RegTNakedSpec = REG_T_EQUITY): bigint {
  if (leg.contracts < 0n || leg.underlyingPrice <= 0n || leg.strike < 0n || leg.premium < 0n)
    throw new RangeError('regTNakedRequirement: prices must be positive, contracts and premium not negative');
  const p = wadOf(spec);
  const s = leg.underlyingPrice;
  let perShare = leg.premium;
  if (leg.side === 'short') {
    const base = mulUp(p.underlyingPct, s) - otmAmount({ type: leg.type, strike: leg.strike }, s);
    const minimum = mulUp(p.minimumPct, leg.type === 'call' ? s : leg.strike);
    perShare += maxBig(base, minimum);
  }
  return mulUp(mulUp(perShare, p.multiplier), leg.contracts);
}
