/**
 * Black-76 on the forward, its Greeks, implied volatility, raw SVI and expiry payoffs, in WAD fixed point.
 *
 * Deterministic across machines and replays: only bigint arithmetic (see fixedmath.ts for exp/ln/√/N/φ). The
 * kernel works in Q96 (2^96) and rounds each output once, toward −∞, to WAD (10^18). Conventions follow
 * ../shared/reference/options-margin.md §1.1–1.4 (lyra-utils Black76/SVI):
 *   d1 = [ln(F/K) + ½σ²T]/(σ√T), d2 = d1 − σ√T, C = D·[F·N(d1) − K·N(d2)], P = D·[K·N(−d2) − F·N(−d1)].
 * Greeks are with respect to the forward: Δc = D·N(d1), Δp = Δc − D, Γ = D·φ(d1)/(F·σ√T), vega = D·F·φ(d1)·√T per
 * 1.00 of vol, Θ = −D·F·φ(d1)·σ/(2√T) + r·C per year (r = −ln D / T; with D = 1 the put's Θ is the same).
 *
 * Precision: N and φ are accurate to ~2e-23 inside (fixedmath.ts), so prices are within ~2e-23·(F + K) + 1 wei of
 * the exact Black-76 value (checked against 45-digit mpmath over the grid: ≤ 1.5 wei at F = 60,000) and
 * put-call parity C − P = D·(F − K) holds to 2 wei (N(−x) = 1 − N(x) exactly in Q96, each side rounded once).
 */
import { expWad, lnQ, lnWad, normScratch, normTailQ, Q96, Q96_BITS, tailAndPdfQ, WAD } from './fixedmath.ts';

export { WAD } from './fixedmath.ts';

export const SECONDS_PER_YEAR = 365 * 86_400;
export type OptionType = 'call' | 'put';
export type OptionSettle = 'linear' | 'inverse';

export interface Black76Input {
  forward: bigint;
  strike: bigint;
  /** Time to expiry in years (WAD), see yearsFromSeconds. */
  years: bigint;
  /** Implied volatility, annualised (WAD: 0.55 = 55%). */
  vol: bigint;
  /** Discount factor D (WAD), default 1. */
  discount?: bigint;
}

/** Per 1 unit of underlying, in the forward's currency (WAD). */
export interface Black76Result {
  call: bigint;
  put: bigint;
  callDelta: bigint;
  putDelta: bigint;
  gamma: bigint;
  /** Per 1.00 of vol (divide by 100 for one vol point). */
  vega: bigint;
  /** Per year, call (the put's equals it when D = 1). */
  theta: bigint;
}

/** Raw SVI parameters for one expiry (all WAD), as Derive's vol feed publishes them. */
export interface SviParams {
  a: bigint;
  b: bigint;
  rho: bigint;
  m: bigint;
  sigma: bigint;
  forward: bigint;
  /** The expiry's reference time in years. */
  tau: bigint;
}

const Q = Q96_BITS;
const ONE = Q96;
/** Forward, strike bounds (1e18 units of a currency): far beyond any price, keeps ln's argument in range. */
export const MAX_PRICE = 10n ** 36n;
export const MAX_YEARS = 100n * WAD;
/** 10,000%: above any venue's clamp. */
export const MAX_VOL = 100n * WAD;
export const MAX_DISCOUNT = 10n * WAD;
/** Total vol σ√T at or above which the call is worth F·D (lyra-utils' cut-off). */
const TOTAL_VOL_CAP_Q = 24n * ONE;

function floorDiv(n: bigint, d: bigint): bigint {
  const q = n / d;
  return n % d !== 0n && n < 0n !== d < 0n ? q - 1n : q;
}

function checkRange(name: string, v: bigint, min: bigint, max: bigint): void {
  if (v < min || v > max) throw new RangeError(`${name} must be in [${min}, ${max}] wei, got ${v}`);
}

/**
 * Seconds to years on a 365-day year (lyra-utils `annualise`), rounded toward −∞.
 * Bounds: a safe integer ≥ 0.
 */
export function yearsFromSeconds(seconds: number): bigint {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new RangeError(`yearsFromSeconds: seconds must be a non-negative safe integer, got ${seconds}`);
  }
  return (BigInt(seconds) * WAD) / BigInt(SECONDS_PER_YEAR);
}

/** Per-expiry constants, shared by every strike of a chain: √T (Q96), σ_wad → σ√T (Q96) scale, Θ's divisor. */
interface Expiry {
  years: bigint;
  sqrtT: bigint;
  /** √T·2^160/1e18: σ_wad·volScale >> 64 is σ√T in Q96 without a division. */
  volScale: bigint;
  /** 2·WAD·√T (Q96): Θ = −F·φ·σ/(2√T) = −(F_wad·φ_Q96)·σ_wad/thetaDiv in WAD. */
  thetaDiv: bigint;
}

// The last expiry is kept: a chain re-prices every strike of one expiry on each vol update. The cache only saves
// work; the constants are the same function of `years` either way.
let lastExpiry: Expiry = expiryConstants(0n);

function expiryConstants(years: bigint): Expiry {
  const sqrtT = isqrtBig((years << (2n * Q)) / WAD);
  return { years, sqrtT, volScale: (sqrtT << 64n) / WAD, thetaDiv: 2n * WAD * sqrtT };
}

function expiryOf(years: bigint): Expiry {
  if (years !== lastExpiry.years) lastExpiry = expiryConstants(years);
  return lastExpiry;
}

function isqrtBig(n: bigint): bigint {
  if (n < 2n) return n;
  let y = 1n << BigInt((n.toString(16).length * 4 + 1) >> 1);
  for (let i = 0; i < 64; i++) {
    const z = (y + n / y) >> 1n;
    if (z >= y) return y;
    y = z;
  }
  return y;
}

/** Applies the discount factor (WAD) to a non-negative WAD·Q96 numerator and rounds to WAD, toward −∞. */
function discounted(numQ: bigint, discount: bigint): bigint {
  if (discount === WAD) return numQ >> Q;
  return (numQ * discount) / (WAD << Q);
}

/** −⌈a/d⌉ for a ≥ 0, d > 0: a negative quantity rounded toward −∞ with one division. */
function negCeilDiv(a: bigint, d: bigint): bigint {
  return -((a + d - 1n) / d);
}

function validateMarket(forward: bigint, years: bigint, discount: bigint): void {
  checkRange('black76: forward', forward, 0n, MAX_PRICE);
  checkRange('black76: years', years, 0n, MAX_YEARS);
  checkRange('black76: discount', discount, 1n, MAX_DISCOUNT);
}

function flat(call: bigint, put: bigint, callDelta: bigint, discount: bigint): Black76Result {
  return { call, put, callDelta, putDelta: callDelta - discount, gamma: 0n, vega: 0n, theta: 0n };
}

/** Lyra-utils edge rules: K = 0, F = 0, zero total vol (intrinsic), total vol ≥ 24. Greeks are 0 there. */
function edgeCase(f: bigint, k: bigint, discount: bigint, totalVolQ: bigint): Black76Result | null {
  if (k === 0n) return flat((f * discount) / WAD, 0n, discount, discount);
  if (f === 0n) return flat(0n, (k * discount) / WAD, 0n, discount);
  if (totalVolQ >= TOTAL_VOL_CAP_Q)
    return flat((f * discount) / WAD, (k * discount) / WAD, discount, discount);
  if (totalVolQ === 0n) {
    const call = f > k ? ((f - k) * discount) / WAD : 0n;
    const put = k > f ? ((k - f) * discount) / WAD : 0n;
    // At the money with no time value the delta is the σ√T → 0 limit, N(0) = ½.
    const callDelta = f > k ? discount : f < k ? 0n : discount / 2n;
    return flat(call, put, callDelta, discount);
  }
  return null;
}

// Kernel outputs, in scratch slots so the hot path allocates nothing: N(d1), N(d2), φ(d1) in Q96.
let kN1 = 0n;
let kN2 = 0n;
let kPdf1 = 0n;

/** Fills kN1, kN2, kPdf1 for ln(F/K)·2^96 (Q192) and total vol v (Q96, v > 0). */
function kernel(lnFKQ192: bigint, v: bigint): void {
  const d1 = (lnFKQ192 + ((v * v) >> 1n)) / v; // (ln(F/K) + v²/2)/v, truncated (1 ulp of Q96)
  const d2 = d1 - v;
  kN1 = d1 >= 0n ? ONE - tailAndPdfQ(d1) : tailAndPdfQ(-d1);
  kPdf1 = normScratch.pdf;
  kN2 = d2 >= 0n ? ONE - normTailQ(d2) : normTailQ(-d2);
}

/** Price and Greeks once ln(F/K) is known (as Q192, see kernel; inputs validated). */
function priceAt(
  f: bigint,
  k: bigint,
  lnFKQ192: bigint,
  vol: bigint,
  discount: bigint,
  e: Expiry,
): Black76Result {
  const v = (vol * e.volScale) >> 64n; // σ√T in Q96
  const edge = edgeCase(f, k, discount, v);
  if (edge !== null) return edge;
  kernel(lnFKQ192, v);
  const n1 = kN1;
  const n2 = kN2;
  const pdf1 = kPdf1;
  let callNum = f * n1 - k * n2; // WAD·Q96
  // K·N(−d2) − F·N(−d1) with N(−x) = ONE − N(x) is callNum − (F − K)·ONE exactly: parity holds before rounding.
  let putNum = callNum - ((f - k) << Q);
  // Floors as lyra-utils (the approximation error could leak a hair below 0). The caps C ≤ F and P ≤ K hold by
  // construction: 0 ≤ N ≤ ONE in Q96.
  if (callNum < 0n) callNum = 0n;
  if (putNum < 0n) putNum = 0n;
  const fPdf = f * pdf1; // WAD·Q96
  const callDelta = (n1 * discount) >> Q;
  if (discount === WAD) {
    return {
      call: callNum >> Q,
      put: putNum >> Q,
      callDelta,
      putDelta: callDelta - WAD,
      gamma: (pdf1 * WAD_SQUARED) / (v * f),
      vega: (fPdf * e.sqrtT) >> (2n * Q),
      theta: negCeilDiv(fPdf * vol, e.thetaDiv),
    };
  }
  const call = discounted(callNum, discount);
  // Θ = −D·F·φ·σ/(2√T) + r·C with r = −ln D / T (holding F fixed; §1.1).
  const theta =
    negCeilDiv(fPdf * vol * discount, e.thetaDiv * WAD) + floorDiv(-lnWad(discount) * call, e.years);
  return {
    call,
    put: discounted(putNum, discount),
    callDelta,
    putDelta: callDelta - discount,
    gamma: (pdf1 * WAD * discount) / (v * f),
    vega: discounted((fPdf * e.sqrtT) >> Q, discount),
    theta,
  };
}

const WAD_SQUARED = WAD * WAD;

/** ln(F/K)·2^96 in Q96 (i.e. Q192), 0 at the K = 0 / F = 0 edges (which never reach the kernel). */
function lnFKShifted(f: bigint, k: bigint): bigint {
  return f > 0n && k > 0n ? lnQ((f << Q) / k) << Q : 0n;
}

/**
 * Black-76 price and Greeks per 1 unit (see the module comment for formulas, precision and rounding).
 * Bounds (RangeError outside): 0 ≤ forward, strike ≤ 1e36 wei; 0 ≤ years ≤ 100; 0 ≤ vol ≤ 100; 0 < discount ≤ 10.
 */
export function black76(i: Black76Input): Black76Result {
  const discount = i.discount ?? WAD;
  validateMarket(i.forward, i.years, discount);
  checkRange('black76: strike', i.strike, 0n, MAX_PRICE);
  checkRange('black76: vol', i.vol, 0n, MAX_VOL);
  const { forward: f, strike: k } = i;
  const e = expiryOf(i.years);
  return priceAt(f, k, lnFKShifted(f, k), i.vol, discount, e);
}

/**
 * One expiry's strike chain on one forward, re-priced on each vol update: ln(F/K) and the √T constants are computed
 * once, so a vol update costs only the per-strike kernel. Results are identical, wei for wei, to black76().
 */
export class Black76Chain {
  readonly forward: bigint;
  readonly years: bigint;
  readonly discount: bigint;
  readonly strikes: readonly bigint[];
  private readonly lnFK: bigint[];
  private readonly expiry: Expiry;

  constructor(forward: bigint, years: bigint, strikes: readonly bigint[], discount: bigint = WAD) {
    validateMarket(forward, years, discount);
    for (const k of strikes) checkRange('black76: strike', k, 0n, MAX_PRICE);
    this.forward = forward;
    this.years = years;
    this.discount = discount;
    this.strikes = [...strikes];
    this.lnFK = this.strikes.map((k) => lnFKShifted(forward, k));
    this.expiry = expiryConstants(years);
  }

  /** Marks and Greeks for every strike at its vol (vols[i] for strikes[i]). */
  price(vols: readonly bigint[]): Black76Result[] {
    if (vols.length !== this.strikes.length) throw new RangeError('Black76Chain: one vol per strike');
    const out: Black76Result[] = new Array(vols.length);
    for (let i = 0; i < vols.length; i++) {
      const vol = vols[i] as bigint;
      checkRange('black76: vol', vol, 0n, MAX_VOL);
      out[i] = priceAt(
        this.forward,
        this.strikes[i] as bigint,
        this.lnFK[i] as bigint,
        vol,
        this.discount,
        this.expiry,
      );
    }
    return out;
  }
}

/** Standardised call F·N(d1) − K·N(d2) (WAD·Q96) and its derivative in total vol, F·φ(d1) (WAD·Q96). */
function callAndVegaInTotalVol(f: bigint, k: bigint, lnFK: bigint, v: bigint): { c: bigint; dc: bigint } {
  kernel(lnFK << Q, v);
  return { c: f * kN1 - k * kN2, dc: f * kPdf1 };
}

/** Iteration cap for impliedVol: Newton converges in < 10 trips; bisection alone would need ~100 for 2^-90. */
const IV_MAX_ITERATIONS = 120;

/**
 * Implied volatility (WAD) from a premium on the forward with D = 1, by safeguarded Newton on the total vol
 * v = σ√T ∈ (0, 24): a Newton step that leaves the bracket [lo, hi] is replaced by bisection, and the loop stops when
 * the bracket or the step is below 2^-80 or after IV_MAX_ITERATIONS (a deterministic function of the inputs).
 * Returns null when no vol reproduces the price (below intrinsic, at or above the forward for a call / the strike
 * for a put, years, forward or strike 0, or a vol above MAX_VOL), 0 when the price is exactly intrinsic. σ is rounded
 * to nearest. Precision: |σ − σ_true| ≲ (1 wei + 2e-23·(F + K))/vega (≤ 1e-12 wherever vega ≥ 1e-6).
 */
export function impliedVol(
  type: OptionType,
  price: bigint,
  forward: bigint,
  strike: bigint,
  years: bigint,
): bigint | null {
  checkRange('impliedVol: forward', forward, 0n, MAX_PRICE);
  checkRange('impliedVol: strike', strike, 0n, MAX_PRICE);
  checkRange('impliedVol: years', years, 0n, MAX_YEARS);
  if (years === 0n || forward === 0n || strike === 0n || price < 0n) return null;
  const callPrice = type === 'call' ? price : price + forward - strike; // parity with D = 1
  const intrinsic = forward > strike ? forward - strike : 0n;
  if (callPrice < intrinsic || callPrice >= forward) return null;
  if (callPrice === intrinsic) return 0n;

  const target = callPrice << Q;
  const lnFK = lnQ((forward << Q) / strike);
  const eps = 1n << (Q - 80n);
  let lo = 0n;
  let hi = TOTAL_VOL_CAP_Q;
  // Start at the inflection point of C(v) (v² = 2|ln F/K|), where Newton from either side cannot overshoot far.
  let v = sqrtQLocal(2n * (lnFK < 0n ? -lnFK : lnFK));
  if (v < ONE / 10n) v = ONE / 10n;
  for (let it = 0; it < IV_MAX_ITERATIONS && hi - lo > eps; it++) {
    const { c, dc } = callAndVegaInTotalVol(forward, strike, lnFK, v);
    const diff = c - target;
    if (diff === 0n) break;
    if (diff > 0n) hi = v;
    else lo = v;
    let next = dc > 0n ? v - (diff << Q) / dc : lo;
    if (next <= lo || next >= hi) next = (lo + hi) >> 1n;
    const step = next > v ? next - v : v - next;
    v = next;
    if (step < eps) break;
  }
  const sqrtT = expiryOf(years).sqrtT;
  const sigma = (v * WAD + sqrtT / 2n) / sqrtT;
  return sigma > MAX_VOL ? null : sigma; // a premium that needs more than 10,000% vol has no admissible vol
}

function sqrtQLocal(xQ: bigint): bigint {
  return isqrtBig(xQ << Q);
}

/**
 * Raw SVI implied vol at a strike (lyra-utils SVI.getVol): k = ln(K/F) clamped to |k| ≤ 4·√(a + b·σ),
 * w = a + b·(ρ·(k − m) + √((k − m)² + σ²)) capped at 144, vol = √(w/τ). K = 0 gives 0.
 * RangeError when F ≤ 0, τ ≤ 0, a + b·σ < 0, b < 0, |ρ| > 1, σ < 0 or w < 0 (the contract reverts there).
 * Computed in Q96 and rounded once toward −∞: error ≲ 1e-17 in vol.
 */
export function sviVol(p: SviParams, strike: bigint): bigint {
  const { a, b, rho, m, sigma, forward, tau } = p;
  if (forward <= 0n) throw new RangeError('sviVol: forward must be > 0');
  if (tau <= 0n) throw new RangeError('sviVol: tau must be > 0');
  if (b < 0n || sigma < 0n || rho > WAD || rho < -WAD)
    throw new RangeError('sviVol: need b ≥ 0, σ ≥ 0, |ρ| ≤ 1');
  checkRange('sviVol: strike', strike, 0n, MAX_PRICE);
  if (strike === 0n) return 0n;
  const toQ = (x: bigint): bigint => floorDiv(x << Q, WAD);
  const aQ = toQ(a);
  const bQ = toQ(b);
  const sigQ = toQ(sigma);
  const mul = (x: bigint, y: bigint): bigint => (x * y) >> Q;
  const floorVar = aQ + mul(bQ, sigQ);
  if (floorVar < 0n) throw new RangeError('sviVol: a + b·σ must be ≥ 0');
  const kBound = 4n * sqrtQLocal(floorVar);
  let k = lnQ((strike << Q) / forward);
  if (k > kBound) k = kBound;
  if (k < -kBound) k = -kBound;
  const km = k - toQ(m);
  let w = aQ + mul(bQ, mul(toQ(rho), km) + sqrtQLocal(mul(km, km) + mul(sigQ, sigQ)));
  if (w < 0n) throw new RangeError('sviVol: total variance is negative');
  if (w > 144n * ONE) w = 144n * ONE;
  return (sqrtQLocal((w << Q) / toQ(tau)) * WAD) >> Q;
}

/**
 * Expiry payoff per 1 unit: linear max(S − K, 0) / max(K − S, 0) in the quote currency (exact);
 * inverse the same divided by S, in coin, rounded down (a payout). Inverse needs S > 0 (a put pays ∞ at 0).
 */
export function optionPayoff(
  type: OptionType,
  settle: OptionSettle,
  strike: bigint,
  settlementPrice: bigint,
): bigint {
  if (strike < 0n || settlementPrice < 0n) throw new RangeError('optionPayoff: strike and price must be ≥ 0');
  const diff = type === 'call' ? settlementPrice - strike : strike - settlementPrice;
  const usd = diff > 0n ? diff : 0n;
  if (settle === 'linear') return usd;
  if (settlementPrice === 0n) throw new RangeError('optionPayoff: inverse settlement needs a price > 0');
  return (usd * WAD) / settlementPrice;
}

/**
 * Underlying mark inside the settlement window (Derive LyraForwardFeed: fixed + variable portion): the TWAP accrued
 * so far weighted by elapsed seconds plus the live forward weighted by the seconds left, over the whole window.
 * E.g. 30-min window, 20 min left, 10-min TWAP 1950, forward 1975 → (600·1950 + 1200·1975)/1800 = 1966.67.
 * Rounded toward −∞. At elapsed = 0 it is the forward; at remaining = 0 the TWAP, i.e. the settlement price.
 */
export function settlementWindowForward(i: {
  twapSoFar: bigint;
  elapsedSeconds: number;
  forward: bigint;
  remainingSeconds: number;
}): bigint {
  const { elapsedSeconds: e, remainingSeconds: r } = i;
  if (!Number.isSafeInteger(e) || !Number.isSafeInteger(r) || e < 0 || r < 0 || e + r === 0) {
    throw new RangeError(
      'settlementWindowForward: elapsed and remaining seconds must be integers ≥ 0, not both 0',
    );
  }
  if (i.twapSoFar < 0n || i.forward < 0n) throw new RangeError('settlementWindowForward: prices must be ≥ 0');
  return (i.twapSoFar * BigInt(e) + i.forward * BigInt(r)) / BigInt(e + r);
}

/**
 * Coin-denominated (inverse) view of a USD Black-76 result at forward F: premiums C/F, P/F (rounded down) and the
 * price-adjusted deltas Deribit reports, Δ − premium in coin (S·∂(V/S)/∂S = ∂V/∂S − V/S).
 */
export function inverseView(
  r: Black76Result,
  forward: bigint,
): {
  callCoin: bigint;
  putCoin: bigint;
  callDeltaAdjusted: bigint;
  putDeltaAdjusted: bigint;
} {
  if (forward <= 0n) throw new RangeError('inverseView: forward must be > 0');
  const callCoin = (r.call * WAD) / forward;
  const putCoin = (r.put * WAD) / forward;
  return {
    callCoin,
    putCoin,
    callDeltaAdjusted: r.callDelta - callCoin,
    putDeltaAdjusted: r.putDelta - putCoin,
  };
}

/** Discount factor D = e^(−r·T) (WAD) for a rate and years in WAD, in the same deterministic arithmetic. */
export function discountFactor(rate: bigint, years: bigint): bigint {
  return expWad(-floorDiv(rate * years, WAD));
}
