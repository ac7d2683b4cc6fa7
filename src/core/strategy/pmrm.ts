/**
 * Derive's portfolio margin (PMRM v1 and the PMRM_2 pieces), re-derived in WAD fixed point from the algorithm in
 * ../shared/reference/options-margin.md §3c (PMRMLib, PMRMLib_2) and §6.5. A reference model for the golden cases
 * OPT-DRV-PMRM-* and OPT-DRV-PMRM2-1, not ringfence's own scenario model (scenario.ts).
 *
 * Derive's figures are signed margin: negative = collateral required, positive = surplus. Every product is floored
 * (toward −∞, i.e. toward the larger requirement); Derive's own contracts truncate, and its tests compare the integer
 * part, so the two agree wherever the result is not within a few wei of an integer.
 *
 * Left out (not needed by any golden case, and said here so nobody assumes otherwise): v1's confidence contingency
 * and peg-loss term, PMRM_2's skew (Linear/Abs) and tail scenarios — the test_18 tail/skew worst values are published
 * inputs (`publishedWorst`), as the reference itself does.
 */
import { floorDiv, maxBig, minBig, parseDecimal } from '../fixed.ts';
import { black76, discountFactor, yearsFromSeconds } from '../options/black76.ts';
import { expWad, lnWad, WAD } from '../options/fixedmath.ts';
import { nakedAtStrike } from './scenario.ts';

const DAY = 86_400;
const THIRTY_DAYS_S = 30 * DAY;
const WAD2 = WAD * WAD;
const mul = (a: bigint, b: bigint): bigint => floorDiv(a * b, WAD);
const d = (s: string): bigint => parseDecimal(s, 'pmrm params', { dp: 18, signed: true });

export interface PmrmVolShockParams {
  volRangeUp: bigint;
  volRangeDown: bigint;
  shortTermPower: bigint;
  longTermPower: bigint;
  dteFloorSeconds: number;
}

/**
 * PMRMLib._addVolShocks: τ = 30 days / max(secToExpiry, floor), mult = τ^(short-term power if ≤ 30 days, else
 * long-term), up = 1 + volRangeUp·mult, down = max(0, 1 − volRangeDown·mult). Multipliers of the vol, WAD.
 */
export function pmrmVolShocks(
  secToExpiry: number,
  p: PmrmVolShockParams,
): { mult: bigint; up: bigint; down: bigint } {
  if (!Number.isSafeInteger(secToExpiry) || secToExpiry < 0)
    throw new RangeError('pmrmVolShocks: secToExpiry must be an integer ≥ 0');
  const tau = (BigInt(THIRTY_DAYS_S) * WAD) / BigInt(Math.max(secToExpiry, p.dteFloorSeconds, 1));
  const power = secToExpiry <= THIRTY_DAYS_S ? p.shortTermPower : p.longTermPower;
  const mult = power === 0n || tau === WAD ? WAD : expWad(floorDiv(power * lnWad(tau), WAD));
  return { mult, up: WAD + mul(p.volRangeUp, mult), down: maxBig(0n, WAD - mul(p.volRangeDown, mult)) };
}

export interface PmrmOption {
  type: 'call' | 'put';
  strike: bigint;
  /** Signed units, WAD (negative = short). */
  amount: bigint;
  /** Mark vol, WAD. */
  vol: bigint;
}

export interface PmrmExpiry {
  secToExpiry: number;
  forward: bigint;
  /** Annual rate, WAD (the static discount's input; v1 prices with D = 1). */
  rate: bigint;
  options: PmrmOption[];
}

/** PMRMLib._getOptionContingency's count: per strike, a short nets only against an opposite-sign position. */
export function pmrmNakedShorts(options: readonly PmrmOption[]): bigint {
  const byStrike = new Map<bigint, { call: bigint; put: bigint }>();
  for (const o of options) {
    const e = byStrike.get(o.strike) ?? { call: 0n, put: 0n };
    if (o.type === 'call') e.call += o.amount;
    else e.put += o.amount;
    byStrike.set(o.strike, e);
  }
  let n = 0n;
  for (const e of byStrike.values()) n += nakedAtStrike(e.call, e.put);
  return n;
}

export type PmrmVolDirection = 'up' | 'none' | 'down';

export interface PmrmScenario {
  /** Multiplier of the forward/spot (1.15 = +15 %), WAD. */
  spotShock: bigint;
  vol: PmrmVolDirection;
  /** PMRM_2 only: the share of the scenario's P&L that counts (1 if absent). */
  dampening?: bigint;
}

function grid(shocks: string[], vols: PmrmVolDirection[]): PmrmScenario[] {
  return shocks.flatMap((s) => vols.map((vol) => ({ spotShock: d(s), vol })));
}

/** Derive's unit-test grid (config-test): 21 scenarios, spot ±15 % in 5 % steps × up/none/down. */
export const PMRM_V1_TEST_SCENARIOS: readonly PmrmScenario[] = grid(
  ['1.15', '1.10', '1.05', '1', '0.95', '0.90', '0.85'],
  ['up', 'none', 'down'],
);

/** The deploy script's v1 grid (getDefaultScenarios): 23 scenarios, ±15 % × 3 plus 1.20 and 0.80 vol up. */
export const PMRM_V1_DEPLOY_SCENARIOS: readonly PmrmScenario[] = [
  { spotShock: d('1.2'), vol: 'up' },
  ...PMRM_V1_TEST_SCENARIOS,
  { spotShock: d('0.8'), vol: 'up' },
];

export interface PmrmV1Params {
  basisUp: bigint;
  basisDown: bigint;
  basisAdd: bigint;
  basisMult: bigint;
  optionPercent: bigint;
  basePercent: bigint;
  perpPercent: bigint;
  imFactor: bigint;
  baseStaticDiscount: bigint;
  rateMultScale: bigint;
  rateAddScale: bigint;
  vol: PmrmVolShockParams;
}

/**
 * config-test PMRM params as TestPMRM_ProtfolioCases.setUp leaves them (rateAddScale 0.12, base/perp 2.5 %),
 * the parameters of OPT-DRV-PMRM-1/-VERT-1/-BOX-1/-BOX-2/-COVERED-1.
 */
export const PMRM_V1_PORTFOLIO_TEST: PmrmV1Params = {
  basisUp: d('1.05'),
  basisDown: d('0.95'),
  basisAdd: d('0.25'),
  basisMult: d('0.01'),
  optionPercent: d('0.01'),
  basePercent: d('0.025'),
  perpPercent: d('0.025'),
  imFactor: d('1.3'),
  baseStaticDiscount: d('0.95'),
  rateMultScale: d('4'),
  rateAddScale: d('0.12'),
  vol: {
    volRangeUp: d('0.45'),
    volRangeDown: d('0.3'),
    shortTermPower: d('0.3'),
    longTermPower: d('0.13'),
    dteFloorSeconds: DAY,
  },
};

/** Deploy-script v1 params (scripts/config-mainnet.sol getPMRMParams), §3c. */
export const PMRM_V1_DEPLOY: PmrmV1Params = {
  basisUp: d('1.05'),
  basisDown: d('0.95'),
  basisAdd: d('1'),
  basisMult: d('1.2'),
  optionPercent: d('0.02'),
  basePercent: d('0.03'),
  perpPercent: d('0.03'),
  imFactor: d('1.25'),
  baseStaticDiscount: d('0.95'),
  rateMultScale: d('1'),
  rateAddScale: d('0.12'),
  vol: {
    volRangeUp: d('0.6'),
    volRangeDown: d('0.3'),
    shortTermPower: d('0.3'),
    longTermPower: d('0.13'),
    dteFloorSeconds: DAY,
  },
};

export interface PmrmPortfolio {
  expiries: PmrmExpiry[];
  spot: bigint;
  /** Base asset held, units WAD (≥ 0). */
  base?: bigint;
  /** Perpetual position, signed units WAD, marked at perpPrice. */
  perp?: bigint;
  perpPrice?: bigint;
  cash?: bigint;
}

export interface PmrmV1Result {
  /** Signed margin: minSPAN(·imFactor for IM) + MtM + cash. */
  margin: bigint;
  minSpan: bigint;
  mtm: bigint;
  basisContingency: bigint;
  staticContingency: bigint;
  /** The scenario giving the lowest P&L (null when the basis contingency binds). */
  worstScenario: PmrmScenario | null;
}

/** Σ amount·B76(F·shock, K, T, vol·volMult, D) over one expiry's options. */
function expiryMtm(
  e: PmrmExpiry,
  years: bigint,
  shock: bigint,
  volOf: (o: PmrmOption) => bigint,
  disc = WAD,
) {
  const f = mul(e.forward, shock);
  let t = 0n;
  for (const o of e.options) {
    const r = black76({ forward: f, strike: o.strike, years, vol: volOf(o), discount: disc });
    t += mul(o.type === 'call' ? r.call : r.put, o.amount);
  }
  return t;
}

/** e^(−T·(max(rate, 0)·multScale + addScale)), WAD. */
function rateDecay(years: bigint, rate: bigint, multScale: bigint, addScale: bigint): bigint {
  return expWad(-mul(years, mul(maxBig(rate, 0n), multScale) + addScale));
}

interface V1Expiry {
  e: PmrmExpiry;
  years: bigint;
  mtm: bigint;
  up: bigint;
  down: bigint;
  staticDiscount: bigint;
}

function v1Expiry(p: PmrmV1Params, e: PmrmExpiry): V1Expiry {
  const years = yearsFromSeconds(e.secToExpiry);
  const { up, down } = pmrmVolShocks(e.secToExpiry, p.vol);
  const mtm = expiryMtm(e, years, WAD, (o) => o.vol);
  const staticDiscount = mul(p.baseStaticDiscount, rateDecay(years, e.rate, p.rateMultScale, p.rateAddScale));
  return { e, years, mtm, up, down, staticDiscount };
}

/** Basis contingency of one expiry: min(MtM(F·up) − mtm, MtM(F·down) − mtm, 0)·(add + mult·T). */
function basisOf(p: PmrmV1Params, x: V1Expiry): bigint {
  const same = (o: PmrmOption) => o.vol;
  const upMove = expiryMtm(x.e, x.years, p.basisUp, same) - x.mtm;
  const downMove = expiryMtm(x.e, x.years, p.basisDown, same) - x.mtm;
  return mul(minBig(minBig(upMove, downMove), 0n), p.basisAdd + mul(p.basisMult, x.years));
}

/** One scenario's P&L: Σ_e [disc(shocked MtM) − mtm] + base and perp moves; disc haircuts positive MtM only. */
function v1ScenarioPnl(xs: readonly V1Expiry[], s: PmrmScenario, pf: PmrmPortfolio): bigint {
  let tot = 0n;
  for (const x of xs) {
    const volMult = s.vol === 'up' ? x.up : s.vol === 'down' ? x.down : WAD;
    let sh = expiryMtm(x.e, x.years, s.spotShock, (o) => mul(o.vol, volMult));
    if (sh > 0n) sh = mul(sh, x.staticDiscount);
    tot += sh - x.mtm;
  }
  const move = s.spotShock - WAD;
  tot += mul(mul(pf.base ?? 0n, pf.spot), move);
  tot += mul(mul(pf.perp ?? 0n, pf.perpPrice ?? pf.spot), move);
  return tot;
}

/**
 * PMRM v1 margin (PMRMLib): minSPAN = min(basis contingency, min over scenarios of the P&L) − static contingency;
 * IM = minSPAN·imFactor + MtM + cash, MM = minSPAN + MtM + cash (static contingency scaled by imFactor, §6.5).
 */
export function pmrmV1(
  p: PmrmV1Params,
  pf: PmrmPortfolio,
  init: boolean,
  scenarios: readonly PmrmScenario[] = PMRM_V1_TEST_SCENARIOS,
): PmrmV1Result {
  const base = pf.base ?? 0n;
  const perp = pf.perp ?? 0n;
  const xs = pf.expiries.map((e) => v1Expiry(p, e));
  const mtm = (pf.cash ?? 0n) + mul(base, pf.spot) + xs.reduce((a, x) => a + x.mtm, 0n);
  let basis = 0n;
  let staticCont =
    mul(mul(base, p.basePercent), pf.spot) + mul(mul(perp < 0n ? -perp : perp, p.perpPercent), pf.spot);
  for (const x of xs) {
    basis += basisOf(p, x);
    staticCont += mul(mul(pmrmNakedShorts(x.e.options), p.optionPercent), pf.spot);
  }
  let minSpan = basis;
  let worstScenario: PmrmScenario | null = null;
  for (const s of scenarios) {
    const pnl = v1ScenarioPnl(xs, s, pf);
    if (pnl < minSpan) {
      minSpan = pnl;
      worstScenario = s;
    }
  }
  minSpan -= staticCont;
  if (init) minSpan = mul(minSpan, p.imFactor);
  return {
    margin: minSpan + mtm,
    minSpan,
    mtm,
    basisContingency: basis,
    staticContingency: staticCont,
    worstScenario,
  };
}

// ---------------------------------------------------------------------------------------------------------
// PMRM_2 (single-expiry pieces of PMRMLib_2 that OPT-DRV-PMRM2-1 exercises)

export interface Pmrm2Params {
  vol: PmrmVolShockParams;
  minVolUpShock: bigint;
  longBaseStaticDiscount: bigint;
  longRateMultScale: bigint;
  longRateAddScale: bigint;
  shortBaseStaticDiscount: bigint;
  shortRateMultScale: bigint;
  shortRateAddScale: bigint;
  basisUp: bigint;
  basisDown: bigint;
  basisAdd: bigint;
  basisMult: bigint;
  imFactor: bigint;
  mmFactor: bigint;
  mmOptionPercent: bigint;
  imOptionPercent: bigint;
  mmPerpPercent: bigint;
  imPerpPercent: bigint;
}

/**
 * The PM2 test harness parameters of test_18 (TestPMRM_2_PortfolioCasesNEW: BASE_STATIC_DISCOUNT 0.95 on positive
 * MtM, BASE_STATIC_DISCOUNT_NEG 1.04 on negative; see the orientation warning in §3c before reusing them).
 */
export const PMRM2_TEST18: Pmrm2Params = {
  vol: {
    volRangeUp: d('0.5'),
    volRangeDown: d('0.275'),
    shortTermPower: d('0.3'),
    longTermPower: d('0.13'),
    dteFloorSeconds: DAY,
  },
  minVolUpShock: d('0.45'),
  longBaseStaticDiscount: d('0.95'),
  longRateMultScale: d('1'),
  longRateAddScale: d('0.08'),
  shortBaseStaticDiscount: d('1.04'),
  shortRateMultScale: d('0.5'),
  shortRateAddScale: d('0.08'),
  basisUp: d('1.045'),
  basisDown: d('0.955'),
  basisAdd: d('0.5'),
  basisMult: d('2'),
  imFactor: d('1'),
  mmFactor: d('0.8'),
  mmOptionPercent: d('0.003'),
  imOptionPercent: d('0.002'),
  mmPerpPercent: d('0.03'),
  imPerpPercent: d('0.01'),
};

/** The PM2 regular grid (getDefaultPM2Scenarios): ±13.5 % in 4.5 % steps × up/none/down, ±18 % vol up: 23. */
export const PMRM2_REGULAR_SCENARIOS: readonly PmrmScenario[] = [
  ...grid(['1.135', '1.09', '1.045', '1', '0.955', '0.91', '0.865'], ['down', 'none', 'up']),
  { spotShock: d('1.18'), vol: 'up' },
  { spotShock: d('0.82'), vol: 'up' },
];

export interface Pmrm2Result {
  volShockUp: bigint;
  volShockDown: bigint;
  staticDiscountPos: bigint;
  staticDiscountNeg: bigint;
  mtm: bigint;
  /** The lowest scenario P&L (capped at 0) over the regular scenarios given. */
  worstRegular: bigint;
  worstScenario: PmrmScenario | null;
  basisContingency: bigint;
  /** min(worstRegular, basis, publishedWorst…). */
  worst: bigint;
  nakedShorts: bigint;
  maintenanceMargin: bigint;
  initialMargin: bigint;
}

export interface Pmrm2Expiry extends PmrmExpiry {
  spot: bigint;
  /** Perpetual position, signed units WAD (contingency only here). */
  perp?: bigint;
  cash?: bigint;
}

function pm2Vol(p: Pmrm2Params, shocks: { up: bigint; down: bigint }, dir: PmrmVolDirection) {
  return (o: PmrmOption): bigint =>
    dir === 'up'
      ? maxBig(p.minVolUpShock, mul(o.vol, shocks.up))
      : dir === 'down'
        ? mul(o.vol, shocks.down)
        : o.vol;
}

/** Static discounts: positive MtM × long base·decay, negative MtM × min(1/D, short base / decay). */
function pm2Discounts(
  p: Pmrm2Params,
  years: bigint,
  rate: bigint,
  disc: bigint,
): { pos: bigint; neg: bigint } {
  const pos = mul(p.longBaseStaticDiscount, rateDecay(years, rate, p.longRateMultScale, p.longRateAddScale));
  const shortDecay = rateDecay(years, rate, p.shortRateMultScale, p.shortRateAddScale);
  const neg = minBig(WAD2 / disc, floorDiv(p.shortBaseStaticDiscount * WAD, shortDecay));
  return { pos, neg };
}

/**
 * PMRMLib_2 for one expiry: D = e^(−rT), up-shocked vols floored at minVolUpShock, the two static discounts,
 * dampening per scenario, the basis contingency; MM = worst·mmFactor − MM contingency + MtM + cash,
 * IM = worst·imFactor − IM contingency − MM contingency + MtM + cash (§3c, OPT-DRV-PMRM2-1).
 */
export function pmrm2(
  p: Pmrm2Params,
  e: Pmrm2Expiry,
  scenarios: readonly PmrmScenario[] = PMRM2_REGULAR_SCENARIOS,
  publishedWorst: readonly bigint[] = [],
): Pmrm2Result {
  const years = yearsFromSeconds(e.secToExpiry);
  const disc = discountFactor(e.rate, years);
  const shocks = pmrmVolShocks(e.secToExpiry, p.vol);
  const sd = pm2Discounts(p, years, e.rate, disc);
  const mtm = expiryMtm(e, years, WAD, pm2Vol(p, shocks, 'none'), disc);
  let worstRegular = 0n;
  let worstScenario: PmrmScenario | null = null;
  for (const s of scenarios) {
    const sh = expiryMtm(e, years, s.spotShock, pm2Vol(p, shocks, s.vol), disc);
    const pnl = mul(mul(sh, sh >= 0n ? sd.pos : sd.neg) - mtm, s.dampening ?? WAD);
    if (pnl < worstRegular) [worstRegular, worstScenario] = [pnl, s];
  }
  const same = pm2Vol(p, shocks, 'none');
  const up = expiryMtm(e, years, p.basisUp, same, disc) - mtm;
  const down = expiryMtm(e, years, p.basisDown, same, disc) - mtm;
  const basis = mul(minBig(minBig(up, down), 0n), p.basisAdd + mul(p.basisMult, years));
  const worst = [basis, ...publishedWorst].reduce(minBig, worstRegular);
  const naked = pmrmNakedShorts(e.options);
  const perp = e.perp ?? 0n;
  const absPerp = perp < 0n ? -perp : perp;
  const mmCont = mul(mul(naked, e.spot), p.mmOptionPercent) + mul(mul(absPerp, e.spot), p.mmPerpPercent);
  const imCont = mul(mul(naked, e.spot), p.imOptionPercent) + mul(mul(absPerp, e.spot), p.imPerpPercent);
  const held = mtm + (e.cash ?? 0n);
  return {
    volShockUp: shocks.up,
    volShockDown: shocks.down,
    staticDiscountPos: sd.pos,
    staticDiscountNeg: sd.neg,
    mtm,
    worstRegular,
    worstScenario,
    basisContingency: basis,
    worst,
    nakedShorts: naked,
    maintenanceMargin: mul(worst, p.mmFactor) - mmCont + held,
    initialMargin: mul(worst, p.imFactor) - imCont - mmCont + held,
  };
}
