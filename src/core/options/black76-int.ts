// Black-76 for one expiry's strike chain on integer-valued JS numbers: the same marks and Greeks as Black76Chain
// (bigint, black76.ts) to a stated precision, several times faster, and deterministic by construction.
//
// Determinism. Every number the kernel touches is an integer of magnitude below 2^53, or an exact power of two. The
// only operations are:
// - +, −, × of such integers whose exact result is below 2^53 in magnitude: exact in IEEE 754 double, hence the same
//   bits on every machine (each product below is bounded in the comment beside it);
// - × by a power of two (2^−26, 2^−52, …): exact, only the exponent changes;
// - Math.floor of such an exact value: exact;
// - one division per strike, y = |x|/v, whose quotient is then checked against the exact remainder in 26-bit limbs
//   and corrected, so the result is floor(N/D) exactly whatever the division rounded to;
// - Number(vol): ECMAScript defines it as the nearest double (round to nearest, ties to even), not an approximation
//   left to the engine.
// No Math function other than Math.floor is used; a test greps this file for the others and for the power operator.
// The tables are built once at module load from bigint series (π to 63 decimals is the only typed-in constant), and
// the outputs become bigint WAD only when read (IntChainMarks.result), so callers keep Black76Result.
//
// Method. Normalise by the forward and mirror to the out-of-the-money side: with x = ln(F/K), v = σ√T,
// a = |x|/v − v/2 and b = a + v, the OTM option (the call if K ≥ F, the put otherwise) is min(F, K)·c with
//   c = φ(a)·[M(a) − M(b)],   M(y) = Q(y)/φ(y) the Mills ratio, Q = 1 − N,
// because F·φ(d1) = K·φ(d2). The other option follows by parity, exactly, in bigint. M is smooth and O(1) on
// [0, ∞), so it is tabulated in fixed point with absolute precision; φ(a) is carried as mantissa·2^−E, so it keeps
// its relative precision however small. When v < 1/64, M(a) − M(b) would lose digits to cancellation; there one
// Horner pass gives the divided difference [M(a) − M(b)]/(b − a) directly (the cost of two evaluations), so the
// price keeps its relative precision however short the expiry. When a < 0 (near the money, v²/2 > |x|)
// c = 1 − φ(a)·[M(|a|) + M(b)] instead, which is ≥ 0.36·v.
// - M: Taylor polynomials around y_j = j/64 on [0, 35] (degree 6 where |h| ≤ 1/128, degree 7 for the divided
//   difference where |h| < 1/64), coefficients at 2^50; the node values are stepped down from y = 35 (continued
//   fraction) with the full series, the stable direction, and land on M(0) = √(π/2).
// - φ: φ(a) = φ(x_j)·R_j(h), R_j(h) = e^(−x_j·h − h²/2) as a degree-6 polynomial (coefficients (−1)^n·He_n(x_j)/n!),
//   nodes x_j = j/128 on [0, 12]; φ(x_j) as a 51-bit mantissa and a binary exponent.
// - Products: 52-bit operands are split into 26-bit limbs, so each partial product is below 2^52 (mul52).
//
// Precision, against the bigint Black76Chain (test/core/options-pricing-int.test.ts and 24,000 random strikes with
// F 1…1e6, K/F 0.2–5, 1 hour–2 years, σ 5–300%): prices within 1e-12 relative where the price is ≥ 1e-7·F (worst
// seen 7.5e-13), else within 1e-16·F; call delta within 1e-14 absolute; gamma, vega and theta within 2e-12 relative.
// Parity C − P = F − K holds exactly. The inputs are quantised: σ to Number(vol) floored to a multiple of 2^10 wei
// (≤ 1.5e-15 absolute), v = σ√T to ≥ 42 significant bits, |ln F/K| to 52 significant bits.
//
// Domain of the fast path: discount D = 1, T > 0, 0 < K, |ln(F/K)| < 4, 0 < σ < 2^62 wei (≈ 4.6) and
// 2^−12 ≤ σ√T < 24. Any other strike (and every edge rule) is priced by black76() itself, so it is exact bigint.

import { type Black76Result, black76, MAX_DISCOUNT, MAX_PRICE, MAX_YEARS } from './black76.ts';
import { lnQ, Q96, Q96_BITS, sqrtQ, WAD, wadToQ } from './fixedmath.ts';

// ---------------------------------------------------------------------------------------------------------------
// Exact integer arithmetic on numbers.

const floor = Math.floor;
const P26 = 0x4000000; // 2^26
const I26 = 1 / P26; // 2^−26, exact
const P52 = P26 * P26;
const I52 = I26 * I26;
const I24 = 4 * I26;
const P40 = 0x10000000000; // 2^40
const I41 = I26 / 0x8000; // 2^−41
const P41 = 2 * P40;
const P11 = 2048;
const P12 = 4096;
const P39 = P40 * 0.5;
const I40 = I41 * 2;
const I11 = 1 / P11;
const I10 = 1 / 1024;
const I6 = 1 / 64;

// floor(a·b / 2^52) for integers |a|, |b| < 2^52, b given as b1·2^26 + b0 (0 ≤ b0 < 2^26). With a = a1·2^26 + a0,
// |a1|, |b1| ≤ 2^26 and 0 ≤ a0, b0 < 2^26: each partial product is ≤ 2^52 − 2^26 in magnitude, the middle sum
// stays below 2^53 − 2^26, and floor(floor(t)/2^26) = floor(t/2^26) makes the nested floors exact.
export function mul52(a: number, b1: number, b0: number): number {
  const a1 = floor(a * I26);
  const a0 = a - a1 * P26;
  return a1 * b1 + floor((a1 * b0 + a0 * b1 + floor(a0 * b0 * I26)) * I26);
}

// floor(N/D) for an integer N = nHi·2^52 + nLo < 2^104 (held exactly as a double: an integer times a power of two)
// and an integer 0 < D < 2^52. The division's floor q is off by at most one (q < 2^52, so its ulp is ≤ 1/2); the
// exact remainder N − q·D, with q·D = hi·2^52 + lo from 26-bit limbs, tells which way, so the result is the exact
// floor whatever the division rounded to. A first guess ≥ 2^52 is returned as is: callers treat any quotient that
// large the same way (a cut-off), so the result is again independent of the rounding.
export function floorQuotient(N: number, nHi: number, nLo: number, D: number): number {
  let q = floor(N / D);
  if (q >= P52) return q;
  const q1 = floor(q * I26);
  const q0 = q - q1 * P26;
  const d1 = floor(D * I26);
  const d0 = D - d1 * P26;
  const t = q0 * d0; // < 2^52
  const mid = q1 * d0 + q0 * d1 + floor(t * I26); // < 2^53
  const midHi = floor(mid * I26);
  const hi = q1 * d1 + midHi;
  const lo = (mid - midHi * P26) * P26 + (t - floor(t * I26) * P26); // < 2^52
  const rem = (nHi - hi) * P52 + (nLo - lo); // exact: the true remainder is in [−D, 2·D)
  if (rem < 0) q -= 1;
  else if (rem >= D) q += 1;
  return q;
}

// floor(a·b / 2^58) = floor(floor(a·b/2^52)/2^6), same bounds as mul52.
function mul58(a: number, b1: number, b0: number): number {
  return floor(mul52(a, b1, b0) * I6);
}

// floor(a·b / 2^50), same bounds as mul52 (the result must be below 2^53, which the callers ensure).
function mul50(a: number, b1: number, b0: number): number {
  const a1 = floor(a * I26);
  const a0 = a - a1 * P26;
  return 4 * a1 * b1 + floor((a1 * b0 + a0 * b1 + floor(a0 * b0 * I26)) * I24);
}

// 2^e as a number, built by exact doublings/halvings (|e| ≤ 1000).
function pow2(e: number): number {
  let r = 1;
  for (let i = 0; i < e; i++) r *= 2;
  for (let i = 0; i > e; i--) r *= 0.5;
  return r;
}

// 2^−k for k = 0..1074 (exact: halving a power of two; 2^−1074 is the least subnormal). Indexing past the end
// gives undefined, hence NaN, which the callers treat as "not decided here".
const INV_POW2 = new Float64Array(1075);
INV_POW2[0] = 1;
for (let k = 1; k < INV_POW2.length; k++) INV_POW2[k] = (INV_POW2[k - 1] as number) * 0.5;

// ---------------------------------------------------------------------------------------------------------------
// Tables, built once from bigint series at 2^192 (the Mills recurrence below loses at most ~50 of those bits).

const HP = 192n;
const HP1 = 1n << HP;
// Nodes per unit of y.
const NODES = 64;
const M_DEG = 7;
const M_DEG_DIRECT = 6;
const M_STRIDE = M_DEG + 1;
const M_TOP = 35 * NODES; // M nodes j = 0..M_TOP cover y ∈ [0, 35]; b = a + v < 10 + 24
// φ's nodes are twice as dense, so that degree 6 keeps φ(a)'s relative error below 3e-14 for a ≤ 10
// ((10/256)^7/7!) and 1e-13 out to |a| = 12.
const R_NODES = 128;
const R_DEG = 6;
const R_STRIDE = R_DEG + 1;
const R_TOP = 12 * R_NODES; // φ nodes cover |a| ∈ [0, 12]; a ≥ −v/2 > −12
// a at or beyond 10: Q(a) < 7.7e-24, the OTM option is worth 0 and φ(d1) is 0 (the bigint kernel's cut-off).
const A_CUT = 10 * P40 * 128; // 10·2^47

// Coefficient c_n (at 2^192) of the polynomial in h' = 2^nodeBits·h (|h'| ≤ 1), at 2^50, rounded to nearest.
function tableCoef(c: bigint, n: number, nodeBits: bigint): number {
  const s = HP - 50n + nodeBits * BigInt(n);
  return Number((c + (1n << (s - 1n))) >> s);
}

function isqrtBig(n: bigint): bigint {
  if (n < 2n) return n;
  let y = 1n << BigInt((n.toString(2).length + 1) >> 1);
  for (let i = 0; i < 200; i++) {
    const z = (y + n / y) >> 1n;
    if (z >= y) return y;
    y = z;
  }
  return y;
}

// M(y_j + h'/64) = Σ MILLS[j·8 + n]·h'^n at 2^50: the Mills ratio Q/φ.
const MILLS = new Float64Array((M_TOP + 1) * M_STRIDE);
// The same coefficients in h itself (c_n, not c_n/64^n), for the divided difference: there the derivative is what
// matters, and at 2^50 in h units it keeps 6 more bits than in h' units.
const MILLS_H = new Float64Array((M_TOP + 1) * M_STRIDE);
// φ(x_j) = PHI_MANT[j]·2^−PHI_EXP[j], PHI_MANT in [2^50, 2^51).
const PHI_MANT = new Float64Array(R_TOP + 1);
const PHI_EXP = new Float64Array(R_TOP + 1);
// φ(x_j + h'/128)/φ(x_j) = Σ PHI_RATIO[j·8 + n]·h'^n at 2^50, x_j = j/128.
const PHI_RATIO = new Float64Array((R_TOP + 1) * R_STRIDE);

(function buildMills() {
  // M(35) by the continued fraction 1/(y + 1/(y + 2/(y + 3/(y + …)))), which converges fastest for large y; 200
  // levels are far beyond 2^−192 there.
  const yTop = (BigInt(M_TOP) * HP1) / BigInt(NODES);
  let t = yTop;
  for (let n = 200n; n >= 1n; n--) t = yTop + (n * HP1 * HP1) / t;
  let m = (HP1 * HP1) / t;
  const terms = 34; // (1/64)^34 is far below 2^−192
  for (let j = M_TOP; j >= 0; j--) {
    // Taylor coefficients at y_j from M' = yM − 1, M^(n+1) = y·M^(n) + n·M^(n−1): c_{n+1} = (y·c_n + c_{n−1})/(n+1).
    const y = BigInt(j);
    const c: bigint[] = [m, ((y * m) >> 6n) - HP1];
    for (let n = 1; n < terms; n++) {
      c.push((((y * (c[n] as bigint)) >> 6n) + (c[n - 1] as bigint)) / BigInt(n + 1));
    }
    for (let n = 0; n <= M_DEG; n++) {
      MILLS[j * M_STRIDE + n] = tableCoef(c[n] as bigint, n, 6n);
      MILLS_H[j * M_STRIDE + n] = tableCoef(c[n] as bigint, n, 0n);
    }
    // Step down to y_j − 1/64 with the whole series (downwards, errors shrink by e^(−Δ(y²/2))).
    let s = 0n;
    for (let n = terms - 1; n >= 0; n--) s = (c[n] as bigint) - (s >> 6n);
    m = s;
  }
})();

(function buildPhi() {
  const PI_DIGITS = 3_141592653589793238462643383279502884197169399375105820974944592n;
  let pi = PI_DIGITS * HP1;
  for (let i = 0; i < 63; i++) pi /= 10n;
  let phi = (HP1 * HP1) / isqrtBig(2n * pi * HP1); // φ(0)·2^192
  for (let j = 0; j <= R_TOP; j++) {
    const bits = phi.toString(2).length;
    PHI_MANT[j] = Number(phi >> BigInt(bits - 51));
    PHI_EXP[j] = Number(HP) + 51 - bits;
    // (−1)^n·He_n(x_j)/n!, He_{n+1} = x·He_n − n·He_{n−1}, x_j = j/128 exact.
    let hePrev = 0n;
    let he = HP1;
    let fact = 1n;
    for (let n = 0; n <= R_DEG; n++) {
      if (n > 0) fact *= BigInt(n);
      const signed = n % 2 === 0 ? he : -he;
      PHI_RATIO[j * R_STRIDE + n] = tableCoef(signed / fact, n, 7n);
      const next = ((BigInt(j) * he) >> 7n) - BigInt(n) * hePrev;
      hePrev = he;
      he = next;
    }
    // φ(x_{j+1}) = φ(x_j)·e^(−(2j+1)/32768), e^(−z) by its series (z ≤ 0.1).
    const z = (BigInt(2 * j + 1) * HP1) / 32768n;
    let term = HP1;
    let e = HP1;
    for (let n = 1n; n < 32n; n++) {
      term = -((term * z) >> HP) / n;
      e += term;
    }
    phi = (phi * e) >> HP;
  }
})();

// Horner on the M polynomial of node j at h' (2^52, |h'| ≤ 1/2), result at 2^50; |p| stays below 4·2^50. The
// direct evaluations drop the degree-7 term: |c_7·h^7| ≤ 0.0095·128^−7 < 2e-17.
function millsAt(j: number, h: number): number {
  const h1 = floor(h * I26);
  const h0 = h - h1 * P26;
  const base = j * M_STRIDE;
  let p = MILLS[base + M_DEG_DIRECT] as number;
  for (let n = M_DEG_DIRECT - 1; n >= 0; n--) p = mul52(p, h1, h0) + (MILLS[base + n] as number);
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// The chain.

// How a strike's marks are held after a kernel pass.
const MODE_DIFF = 0; // c = φ(a)·dA·dB/2^102 (dA at 2^50, dB at 2^52)
const MODE_ONE_MINUS = 1; // c = 1 − φ(a)·dA/2^50
const MODE_CUT = 2; // a ≥ 10: the OTM option is 0 and φ(d1) is 0
const MODE_BIGINT = 3; // priced by black76()
const MODE_DD = 4; // c = φ(a)·dA·dB/2^108 (dA = −dM/dh at 2^50, dB = v at 2^58)

const FAST_VOL_MAX = pow2(62); // σ < 2^62 wei keeps σ/2^10 below 2^52

// ln F − ln K (see logMoneyness): logs of K·2^160/WAD, so that the argument's floor costs < 2^−4 units of 2^−96 for
// any K ≥ 1 wei; the margin M in units of 2^−96; |x| from M of the cut at 4 on either side; bit lengths 65..99
// (sh = bits − 52 ≥ 13 keeps M's 12 bits below the top 52; a < 4 + M has at most 99 bits).
const LN_SHIFT = Q96_BITS + 64n;
const LN_M = 4096n;
const X_OUT = 4n * Q96 + LN_M;
const X_IN = 4n * Q96 - LN_M;
const LN_SH_MIN = 13;
const LN_SH_MAX = 47;
const LN_SHIFTS: bigint[] = [];
const LN_MASK: bigint[] = [];
const LN_LIMIT: bigint[] = [];
for (let sh = 0; sh <= LN_SH_MAX; sh++) {
  LN_SHIFTS.push(BigInt(sh));
  LN_MASK.push((1n << BigInt(sh)) - 1n);
  LN_LIMIT.push((1n << BigInt(sh)) - LN_M);
}
const LN_VIEW = new DataView(new ArrayBuffer(8));
const P51 = P26 * P26 * 0.5;

function checkRange(name: string, v: bigint, min: bigint, max: bigint): void {
  if (v < min || v > max) throw new RangeError(`${name} must be in [${min}, ${max}] wei, got ${v}`);
}

// One expiry's strike chain (one forward, D = 1 on the fast path) re-marked on each vol update by the integer kernel.
// `mark(vols)` runs the kernel and returns the marks, whose `result(i)` converts strike i to bigint WAD on demand;
// `price(vols)` converts every strike (Black76Chain's interface). Agrees with Black76Chain to the precision in the
// module comment; edge cases and strikes outside the fast domain are priced by black76() exactly.
export class Black76IntChain {
  readonly forward: bigint;
  readonly years: bigint;
  readonly discount: bigint;
  readonly strikes: readonly bigint[];
  // y = |x|/v at 2^47 is floor(num/vn) with num = |ln(F/K)|·2^(pn+47) as an exact double (|x| to 52 significant
  // bits, an integer times a power of two), split as numHi·2^52 + numLo; −1 when outside the fast domain.
  private readonly num: Float64Array;
  private readonly numHi: Float64Array;
  private readonly numLo: Float64Array;
  // K ≥ F: the out-of-the-money option is the call.
  readonly otmCall: Uint8Array;
  // Premiums in units of a price grid (`unitTable`), by grid: they depend on the forward and strikes only, so the
  // chains `at` derives share them.
  private readonly unitTables: Map<string, UnitTable> = new Map();
  // |ln(F/K)| in Q96 and its bit length (−1: outside the fast domain), kept so that `at(years)` re-targets the chain
  // to another time without recomputing the logarithms; xTop is its top 52 bits (the usual X, independent of T).
  private ax: bigint[] = [];
  private axBits: Int16Array = new Int16Array(0);
  private xTop: Float64Array = new Float64Array(0);
  private lnReady = false;
  // ln(K·2^64) per strike in Q96 (lnQ of K·2^160/WAD), computed once for a list of strikes and shared by every chain
  // derived from it (`at`, `withForward`), so that a new forward costs one lnQ, not one per strike.
  private lnK: { v: bigint[] | null } = { v: null };
  // √T·2^96.
  readonly sqrtTQ96: bigint;
  // v·2^pn = floor(σ/2^10 · g / 2^52) with g = g1·2^26 + g0 (σ√T per 2^10 wei, normalised to [2^51, 2^52)).
  private readonly g1: number = 0;
  private readonly g0: number = 0;
  private readonly s58: number = 0; // 2^(58 − pn)
  private readonly s47: number = 0; // 2^(47 − pn)
  private readonly vnMin: number = 0; // v ≥ 2^−12
  private readonly vnMax: number = 0; // v < 24
  private readonly vnLow: number = 0; // v < 2^−5: v kept to 2^−58
  private readonly vnDd: number = 0; // v < 2^−6: divided difference
  private readonly marks: IntChainMarks;

  // `lnFrom` (internal, see `at`): a chain on the same forward, strikes and discount whose ln(F/K) are reused.
  constructor(
    forward: bigint,
    years: bigint,
    strikes: readonly bigint[],
    discount: bigint = WAD,
    lnFrom?: Black76IntChain,
  ) {
    checkRange('black76: forward', forward, 0n, MAX_PRICE);
    checkRange('black76: years', years, 0n, MAX_YEARS);
    checkRange('black76: discount', discount, 1n, MAX_DISCOUNT);
    // Re-targeted by `at` (lnFrom's own strikes, same forward): the strikes were checked and classified already, and
    // neither array is ever written after construction, so both are shared.
    // Moved to another forward by `withForward` (lnFrom's own strikes): the strikes are shared too, with their logs.
    const ownStrikes = lnFrom !== undefined && lnFrom.strikes === strikes;
    const retarget = ownStrikes && lnFrom.forward === forward;
    if (!ownStrikes) for (const k of strikes) checkRange('black76: strike', k, 0n, MAX_PRICE);
    this.forward = forward;
    this.years = years;
    this.discount = discount;
    this.strikes = ownStrikes ? strikes : [...strikes];
    if (ownStrikes) this.lnK = lnFrom.lnK;
    const n = strikes.length;
    this.num = new Float64Array(n).fill(-1);
    this.numHi = new Float64Array(n);
    this.numLo = new Float64Array(n);
    this.sqrtTQ96 = sqrtQ(wadToQ(years));
    if (retarget) {
      this.otmCall = lnFrom.otmCall;
      this.unitTables = lnFrom.unitTables;
    } else {
      this.otmCall = new Uint8Array(n);
      this.strikes.forEach((k, i) => {
        this.otmCall[i] = k >= forward ? 1 : 0;
      });
    }
    this.marks = new IntChainMarks(this, n);
    if (discount !== WAD || years === 0n || forward === 0n) return; // every strike by black76()
    // g = 2^10·√T/1e18 per unit of σ/2^10 wei, scaled by 2^zg into [2^51, 2^52).
    const den = WAD << Q96_BITS;
    // The least zg ≥ 1 with g ≥ 2^51 (at most 400), from one division at 2^400: g_zg = floor(G/2^(400−zg)) since
    // floor(floor(a·2^400/den)/2^(400−zg)) = floor(a·2^zg/den), and g_zg has bitLength(G) − 400 + zg bits.
    const G = ((1024n * this.sqrtTQ96) << 400n) / den;
    let zg = 452 - (G === 0n ? 0 : G.toString(2).length);
    if (zg < 1) zg = 1;
    else if (zg > 400) zg = 400;
    const gn = Number(G >> BigInt(400 - zg));
    this.g1 = floor(gn * I26);
    this.g0 = gn - this.g1 * P26;
    const pn = zg - 52; // ≥ 46 since √T ≤ 10
    this.s58 = pow2(58 - pn);
    this.s47 = pow2(47 - pn);
    this.vnMin = pow2(pn - 12);
    this.vnMax = 24 * pow2(pn);
    this.vnLow = pow2(pn - 5);
    this.vnDd = pow2(pn - 6);
    if (lnFrom?.lnReady === true && (retarget || sameChain(lnFrom, forward, this.strikes))) {
      this.ax = lnFrom.ax;
      this.axBits = lnFrom.axBits;
      this.xTop = lnFrom.xTop;
    } else this.logMoneyness(forward);
    this.lnReady = true;
    const p2: number[] = []; // 2^ex by exponent, each built once
    for (let i = 0; i < n; i++) {
      const bits = this.axBits[i] as number;
      if (bits < 0) continue;
      // |x| = X·2^−s with X < 2^52 (floored), s ≤ pn + 47 so that num = X·2^(pn+47−s) is an integer.
      const s = 148 - bits < pn + 47 ? 148 - bits : pn + 47;
      let X = this.xTop[i] as number; // s = 148 − bits: the top 52 bits
      if (s !== 148 - bits) {
        const sh = BigInt(s) - Q96_BITS;
        const ax = this.axAt(i);
        X = Number(sh >= 0n ? ax << sh : ax >> -sh);
      }
      const ex = pn + 47 - s; // ≥ 0
      let scale = p2[ex];
      if (scale === undefined) {
        scale = pow2(ex);
        p2[ex] = scale;
      }
      const nm = X * scale;
      this.num[i] = nm;
      this.numHi[i] = floor(nm * I52);
      this.numLo[i] = nm - (this.numHi[i] as number) * P52; // exact: an integer in [0, 2^52)
    }
  }

  // |ln(F/K)| per strike in Q96, with its bit length and top 52 bits: all the kernel reads unless √T is so large that
  // it needs more bits of a tiny |x| (then `axAt`). Computed as ln F − ln K from the strikes' cached logs: each lnQ
  // is within ~10 units of 2^−96 (≤ 1e-28 measured), and the direct lnQ((F·2^96)/K) this replaces within that plus
  // K/F units (its argument's floor; K/F < e^4 on the fast path). Where every value within M = 2^12 units of ln F − ln K
  // has the same bit length, the same top 52 bits and the same side of the |x| < 4 cut, so has the direct value,
  // and those are kept; any other strike (near the money, or near a boundary: rare) gets the direct lnQ. The
  // result is bit for bit what the direct computation gives (test/core/options-pricing-int.test.ts checks it).
  private logMoneyness(forward: bigint): void {
    const n = this.strikes.length;
    const ax: bigint[] = new Array(n).fill(0n);
    const axBits = new Int16Array(n).fill(-1);
    const xTop = new Float64Array(n);
    const xMax = 4n * Q96;
    let lnK = this.lnK.v;
    if (lnK === null) {
      lnK = this.strikes.map((k) => (k === 0n ? 0n : lnQ((k << LN_SHIFT) / WAD)));
      this.lnK.v = lnK;
    }
    const lnF = lnQ((forward << LN_SHIFT) / WAD);
    for (let i = 0; i < n; i++) {
      const k = this.strikes[i] as bigint;
      if (k === 0n) continue;
      const d = lnF - (lnK[i] as bigint);
      const a = d < 0n ? -d : d;
      if (a >= X_OUT) continue; // every value within M is ≥ 4: outside the fast path
      if (a < X_IN) {
        // The bit length guessed from the double nearest a; a wrong guess fails the checks below.
        LN_VIEW.setFloat64(0, Number(a));
        const sh = ((LN_VIEW.getUint16(0) >> 4) & 0x7ff) - 1023 + 1 - 52; // bits − 52
        if (sh >= LN_SH_MIN && sh <= LN_SH_MAX) {
          const r = a & (LN_MASK[sh] as bigint);
          if (r >= LN_M && r < (LN_LIMIT[sh] as bigint)) {
            const X = Number(a >> (LN_SHIFTS[sh] as bigint));
            if (X >= P51 && X < P52) {
              ax[i] = -1n; // not computed: axAt
              axBits[i] = sh + 52;
              xTop[i] = X;
              continue;
            }
          }
        }
      }
      const a0 = this.lnDirect(forward, k);
      if (a0 >= xMax) continue;
      const bits = a0 === 0n ? 0 : a0.toString(2).length;
      const sb = BigInt(52 - bits);
      ax[i] = a0;
      axBits[i] = bits;
      xTop[i] = Number(sb >= 0n ? a0 << sb : a0 >> -sb);
    }
    this.ax = ax;
    this.axBits = axBits;
    this.xTop = xTop;
  }

  // |ln(F/K)| in Q96 by one lnQ of the ratio: the chain's definition of it.
  private lnDirect(forward: bigint, k: bigint): bigint {
    const x = lnQ((forward << Q96_BITS) / k);
    return x < 0n ? -x : x;
  }

  // Strike i's |ln(F/K)| in Q96 in full (computed when first needed, then kept for the chains that share it).
  private axAt(i: number): bigint {
    let a = this.ax[i] as bigint;
    if (a < 0n) {
      a = this.lnDirect(this.forward, this.strikes[i] as bigint);
      this.ax[i] = a;
    }
    return a;
  }

  // The same strikes at another forward (and time): what `new Black76IntChain(forward, years, strikes)` gives, bit
  // for bit, with the strikes' logarithms reused, so that ln(F/K) costs one lnQ for the whole chain.
  withForward(forward: bigint, years: bigint): Black76IntChain {
    return new Black76IntChain(forward, years, this.strikes, this.discount, this);
  }

  // The same chain (forward, strikes, discount) at another time to expiry: bit for bit what the constructor gives,
  // without recomputing ln(F/K) (which costs several times a kernel pass). A new chain; this one is unchanged.
  at(years: bigint): Black76IntChain {
    return new Black76IntChain(this.forward, years, this.strikes, this.discount, this);
  }

  // The chain's premiums in whole units of `unit` wei (see UnitTable), built once per grid and forward.
  unitTable(unit: bigint, inverse: boolean): UnitTable {
    const key = inverse ? `i${unit}` : `l${unit}`;
    let t = this.unitTables.get(key);
    if (t === undefined) {
      t = new UnitTable(this, unit, inverse);
      this.unitTables.set(key, t);
    }
    return t;
  }

  // Marks and Greeks of every strike as bigint WAD (vols[i] for strikes[i]), as Black76Chain.price.
  price(vols: readonly bigint[]): Black76Result[] {
    const m = this.mark(vols);
    const out: Black76Result[] = new Array(vols.length);
    for (let i = 0; i < vols.length; i++) out[i] = m.result(i);
    return out;
  }

  // Runs the kernel for every strike and returns the marks (the same object on every call: read them before the
  // next update). Nothing is converted to bigint here.
  mark(vols: readonly bigint[]): IntChainMarks {
    const n = this.strikes.length;
    if (vols.length !== n) throw new RangeError('Black76IntChain: one vol per strike');
    const mk = this.marks;
    mk.begin(vols);
    for (let i = 0; i < n; i++) this.markStrike(mk, i, vols[i] as bigint);
    return mk;
  }

  private markStrike(mk: IntChainMarks, i: number, vol: bigint): void {
    const s = Number(vol); // the nearest double (ECMAScript), an integer
    const N = this.num[i] as number;
    if (!(s > 0 && s < FAST_VOL_MAX) || N < 0) {
      this.slow(mk, i, vol);
      return;
    }
    const S = floor(s * I10); // σ in units of 2^10 wei, < 2^52
    const vn = mul52(S, this.g1, this.g0); // v·2^pn, < 2^52
    if (vn < this.vnMin || vn >= this.vnMax) {
      this.slow(mk, i, vol);
      return;
    }
    const y = floorQuotient(N, this.numHi[i] as number, this.numLo[i] as number, vn); // |x|/v at 2^47
    // v at 2^47 (vHi) and, below 2^−5, its next 11 bits (vLo): b − a = v to 2^−58.
    let vHi: number;
    let vLo = 0;
    let v58 = 0;
    if (vn < this.vnLow) {
      v58 = floor(vn * this.s58);
      vHi = floor(v58 * I11);
      vLo = v58 - vHi * P11;
    } else {
      vHi = floor(vn * this.s47);
    }
    const A = y - floor(vHi * 0.5); // a = y − v/2 at 2^47
    if (y >= P52 || A >= A_CUT) {
      mk.mode[i] = MODE_CUT;
      return;
    }
    // φ(|a|) = φ(x_j)·R = (PHI_MANT·R/2^50)·2^−PHI_EXP, R at 2^50.
    const aa = A < 0 ? -A : A;
    const jr = floor((aa + P39) * I40);
    const hr = (aa - jr * P40) * P12; // h' = 128·(|a| − x_j) at 2^52, |h'| ≤ 2^51
    const h1 = floor(hr * I26);
    const h0 = hr - h1 * P26;
    const rb = jr * R_STRIDE;
    let r = PHI_RATIO[rb + R_DEG] as number;
    for (let k = R_DEG - 1; k >= 0; k--) r = mul52(r, h1, h0) + (PHI_RATIO[rb + k] as number);
    const phiMant = PHI_MANT[jr] as number;
    const p1 = floor(phiMant * I26);
    mk.phi[i] = mul50(r, p1, phiMant - p1 * P26); // < 1.05·2^51
    mk.phiExp[i] = PHI_EXP[jr] as number;
    const call = this.otmCall[i] === 1;
    if (vn < this.vnDd) {
      // Divided difference around the node of the midpoint y, in h at 2^58: P(h_a) and
      // q = [P(h_a) − P(h_b)]/(h_a − h_b) by one Horner pass (q_n = q_{n+1}·h_b + p_{n+1}, p_n = p_{n+1}·h_a + c_n).
      const jy = floor((y + P40) * I41);
      const xa = (A - jy * P41) * P11; // |h_a| < 1/128 + v/2 < 1/64: |xa| < 2^52
      const xb = xa + v58; // h_b − h_a = v at 2^58 exactly
      const a1 = floor(xa * I26);
      const a0 = xa - a1 * P26;
      const b1 = floor(xb * I26);
      const b0 = xb - b1 * P26;
      const base = jy * M_STRIDE;
      let p = MILLS_H[base + M_DEG] as number;
      let q = p;
      p = mul58(p, a1, a0) + (MILLS_H[base + M_DEG - 1] as number);
      for (let k = M_DEG - 2; k >= 0; k--) {
        q = mul58(q, b1, b0) + p;
        p = mul58(p, a1, a0) + (MILLS_H[base + k] as number);
      }
      // M(a) − M(b) = −q·v; M(b) = M(a) + q·v (q < 0: M decreases).
      mk.mode[i] = MODE_DD;
      mk.dA[i] = -q;
      mk.dB[i] = v58;
      if (call) mk.md[i] = p;
      else {
        const w1 = floor(v58 * I26);
        mk.md[i] = p + mul58(q, w1, v58 - w1 * P26);
      }
      return;
    }
    const B = A + vHi;
    const jb = floor((B + P40) * I41);
    const mb = millsAt(jb, (B - jb * P41) * P11 + vLo);
    const ja = floor((aa + P40) * I41);
    const ma = millsAt(ja, (aa - ja * P41) * P11); // M(|a|), h' = 64·(|a| − y_j) at 2^52
    if (A >= 0) {
      mk.mode[i] = MODE_DIFF;
      mk.dA[i] = ma - mb;
      mk.dB[i] = P52;
    } else {
      // Near the money with v²/2 > |x|: c = 1 − φ(a)·[M(|a|) + M(b)].
      mk.mode[i] = MODE_ONE_MINUS;
      mk.dA[i] = ma + mb;
    }
    mk.md[i] = call ? ma : mb;
  }

  private slow(mk: IntChainMarks, i: number, vol: bigint): void {
    mk.mode[i] = MODE_BIGINT;
    mk.exact[i] = black76({
      forward: this.forward,
      strike: this.strikes[i] as bigint,
      years: this.years,
      vol,
      discount: this.discount,
    });
  }
}

// Whether `c` is on this forward and these strikes (its ln(F/K) can be reused).
function sameChain(c: Black76IntChain, forward: bigint, strikes: readonly bigint[]): boolean {
  if (c.forward !== forward || c.strikes.length !== strikes.length) return false;
  for (let i = 0; i < strikes.length; i++) if (c.strikes[i] !== strikes[i]) return false;
  return true;
}

const WAD_SQ = WAD * WAD;
const P50 = P26 * P26 * 0.25;
const EPS48 = I24 * I24; // 2^−48

// A price grid for a chain's premiums: a premium P (callAt/putAt, wei) is read as floor(P/unit) (linear) or as the
// coin premium floor(floor(P·WAD/F)/unit) (inverse, as inverseView then the grid). Both are floor((z + d)·c − δ)
// with z the kernel's out-of-the-money value before its floor, d = |F − K| on the in-the-money side (else 0),
// c = 1/unit or WAD/(F·unit), and δ ∈ [0, c) the inverse's inner floor (0 for linear). Per strike: min(F,K)·c and
// the exact split of d·c into a whole part qd and a fraction rd (bigint, once per forward).
export class UnitTable {
  readonly unit: bigint;
  readonly inverse: boolean;
  // δ's bound: c for inverse, 0 for linear.
  readonly delta: number;
  readonly mc: Float64Array;
  // floor(d·c), exact; −1 when ≥ 2^50 (that strike's in-the-money side is read in bigint).
  readonly qd: Float64Array;
  readonly rd: Float64Array;

  constructor(chain: Black76IntChain, unit: bigint, inverse: boolean) {
    const F = chain.forward;
    const n = chain.strikes.length;
    this.unit = unit;
    this.inverse = inverse;
    const den = inverse ? F * unit : unit;
    const c = inverse ? Number(WAD) / Number(den) : 1 / Number(unit);
    this.delta = inverse ? c : 0;
    this.mc = new Float64Array(n);
    this.qd = new Float64Array(n);
    this.rd = new Float64Array(n);
    const dNum = Number(den);
    for (let i = 0; i < n; i++) {
      const K = chain.strikes[i] as bigint;
      this.mc[i] = Number(K < F ? K : F) * c;
      const d = K < F ? F - K : K - F;
      const num = inverse ? d * WAD : d;
      const q = den === 0n ? 0n : num / den;
      if (q >= 0x4000000000000n) {
        this.qd[i] = -1;
        continue;
      }
      this.qd[i] = Number(q);
      this.rd[i] = Number(num - q * den) / dNum;
    }
  }
}

// −⌈x/2^s⌉ for x ≥ 0: a quantity subtracted from a cap, rounded so that the result is floored.
function ceilShift(x: bigint, s: bigint): bigint {
  return -(-x >> s);
}

// The kernel's output for every strike, as exact integers (numbers): φ(a) = phi·2^−phiExp, the OTM price factor
// (mode, dA, dB) and the Mills value for delta (md). result(i) turns strike i into bigint WAD, each value floored.
export class IntChainMarks {
  readonly mode: Uint8Array;
  readonly phi: Float64Array;
  readonly phiExp: Float64Array;
  readonly dA: Float64Array;
  readonly dB: Float64Array;
  readonly md: Float64Array;
  readonly exact: (Black76Result | undefined)[];
  vols: readonly bigint[] = [];
  private readonly chain: Black76IntChain;
  // The out-of-the-money premium per strike, kept for the current pass (`begin`) once converted, so that callAt and
  // putAt of one strike convert it once.
  private pass = 0;
  private readonly otmPass: Int32Array;
  private readonly otmWad: bigint[];
  // Per-chain factors of the Greeks' conversion: Γ = mPhi·gammaNum/((gammaDen·σ)·2^e), Θ = −mPhi·σ·2^96/(thetaDen·2^e).
  private readonly gammaNum: bigint;
  private readonly gammaDen: bigint;
  private readonly thetaDen: bigint;

  constructor(chain: Black76IntChain, n: number) {
    this.chain = chain;
    this.gammaNum = (WAD_SQ * WAD) << Q96_BITS;
    this.gammaDen = chain.forward * chain.forward * chain.sqrtTQ96;
    this.thetaDen = 2n * WAD * chain.sqrtTQ96;
    this.mode = new Uint8Array(n);
    this.phi = new Float64Array(n);
    this.phiExp = new Float64Array(n);
    this.dA = new Float64Array(n);
    this.dB = new Float64Array(n);
    this.md = new Float64Array(n);
    this.exact = new Array(n).fill(undefined);
    this.otmPass = new Int32Array(n).fill(-1);
    this.otmWad = new Array(n).fill(0n);
  }

  // A new kernel pass on `vols` (Black76IntChain.mark): what was converted before is stale.
  begin(vols: readonly bigint[]): void {
    this.vols = vols;
    this.pass = this.pass === 0x7fffffff ? 1 : this.pass + 1;
    if (this.pass === 1) this.otmPass.fill(-1);
  }

  // Strike i's marks and Greeks in bigint WAD (the Black76Result of black76()).
  result(i: number): Black76Result {
    const mode = this.mode[i];
    if (mode === MODE_BIGINT) return this.exact[i] as Black76Result;
    const c = this.chain;
    const F = c.forward;
    const K = c.strikes[i] as bigint;
    const call = K >= F;
    if (mode === MODE_CUT) {
      const callDelta = call ? 0n : WAD;
      return {
        call: call ? 0n : F - K,
        put: call ? K - F : 0n,
        callDelta,
        putDelta: callDelta - WAD,
        gamma: 0n,
        vega: 0n,
        theta: 0n,
      };
    }
    const e = BigInt(this.phiExp[i] as number); // φ(a) = phi/2^e
    const phi = BigInt(this.phi[i] as number);
    const mPhi = (call ? F : K) * phi; // min(F,K)·φ(a)·2^e = F·φ(d1)·2^e
    const otm = this.otm(i, mPhi, e);
    const callDelta = this.callDelta(i, phi, e);
    const vol = this.vols[i] as bigint;
    return {
      call: call ? otm : otm + F - K,
      put: call ? otm + K - F : otm,
      callDelta,
      putDelta: callDelta - WAD,
      // Γ = F·φ(d1)/(F²·σ√T), vega = F·φ(d1)·√T, Θ = −F·φ(d1)·σ/(2√T), in WAD.
      gamma: (mPhi * this.gammaNum) / ((this.gammaDen * vol) << e),
      vega: (mPhi * c.sqrtTQ96) >> (e + Q96_BITS),
      theta: -ceilDiv((mPhi * vol) << Q96_BITS, this.thetaDen << e),
    };
  }

  // The accessors below convert one output of strike i, each exactly as result(i) does (same value, wei for wei),
  // for a reader that needs only premiums or deltas (the engine's re-marking): no Greek is converted.

  // Strike i's call premium, bigint WAD.
  callAt(i: number): bigint {
    if (this.mode[i] === MODE_BIGINT) return (this.exact[i] as Black76Result).call;
    const F = this.chain.forward;
    const K = this.chain.strikes[i] as bigint;
    const otm = this.otmAt(i);
    return K >= F ? otm : otm + F - K;
  }

  // Strike i's put premium, bigint WAD.
  putAt(i: number): bigint {
    if (this.mode[i] === MODE_BIGINT) return (this.exact[i] as Black76Result).put;
    const F = this.chain.forward;
    const K = this.chain.strikes[i] as bigint;
    const otm = this.otmAt(i);
    return K >= F ? otm + K - F : otm;
  }

  // Strike i's call delta, bigint WAD.
  callDeltaAt(i: number): bigint {
    const mode = this.mode[i];
    if (mode === MODE_BIGINT) return (this.exact[i] as Black76Result).callDelta;
    if (mode === MODE_CUT) return (this.chain.strikes[i] as bigint) >= this.chain.forward ? 0n : WAD;
    return this.callDelta(i, BigInt(this.phi[i] as number), BigInt(this.phiExp[i] as number));
  }

  // Strike i's put delta, bigint WAD.
  putDeltaAt(i: number): bigint {
    if (this.mode[i] === MODE_BIGINT) return (this.exact[i] as Black76Result).putDelta;
    return this.callDeltaAt(i) - WAD;
  }

  // Strike i's call (put = false) or put premium on the grid of `t` (UnitTable), rounded down: exactly
  // floor(callAt(i)/unit), or for an inverse grid floor(floor(callAt(i)·WAD/F)/unit), and the same for the put.
  // Read without bigint: T = max(z·c, 0) + rd estimates (z + d)·c − qd in doubles. Each of its ≤ 14 roundings
  // (Number of min(F,K), c, the products by φ and the M difference, the sum) is relative ≤ 2^−53 of the terms,
  // so |T − exact| ≤ (S + 1)·2^−49 with S the terms' magnitude; with twice that margin, when [T − err − δ, T + err]
  // holds a single integer part (or lies below 1), that is the exact floor. Otherwise, at or above 2^50 units, or
  // for a strike priced by black76(), the premium is converted in bigint as callAt/putAt. Either way the result is
  // the exact value, so it is the same on every machine (and IEEE +, ×, / are correctly rounded anyway).
  unitsAt(i: number, put: boolean, t: UnitTable): bigint {
    const mode = this.mode[i];
    if (mode === MODE_BIGINT) return this.unitsExact(i, put, t);
    let qd = 0;
    let rd = 0;
    if (put === (this.chain.otmCall[i] === 1)) {
      // the in-the-money side: d = |F − K|
      qd = t.qd[i] as number;
      rd = t.rd[i] as number;
      if (qd < 0) return this.unitsExact(i, put, t);
    }
    let zc = 0;
    let s = 0;
    if (mode !== MODE_CUT) {
      const k = (this.phiExp[i] as number) + 50;
      const mc = t.mc[i] as number;
      const w = mc * (this.phi[i] as number) * (this.dA[i] as number);
      if (mode === MODE_DIFF) zc = w * (INV_POW2[k] as number);
      else if (mode === MODE_DD) zc = w * (this.dB[i] as number) * (INV_POW2[k + 58] as number);
      else {
        const wc = w * (INV_POW2[k] as number);
        zc = mc - wc;
        s = mc + (wc < 0 ? -wc : wc);
      }
      if (mode !== MODE_ONE_MINUS) s = zc < 0 ? -zc : zc;
    }
    const T = (zc > 0 ? zc : 0) + rd;
    const err = (s + 1) * EPS48;
    const hi = T + err;
    if (!(hi < P50)) return this.unitsExact(i, put, t); // also NaN (an exponent past the table)
    const f = floor(hi);
    if (f !== 0 && T - err - t.delta < f) return this.unitsExact(i, put, t);
    return BigInt(qd + f);
  }

  // unitsAt in bigint: the premium, the coin premium floored (inverse), then floored to the grid.
  private unitsExact(i: number, put: boolean, t: UnitTable): bigint {
    let p = put ? this.putAt(i) : this.callAt(i);
    if (t.inverse) p = (p * WAD) / this.chain.forward;
    return p / t.unit;
  }

  // The out-of-the-money premium of a strike on the fast path (0 when cut off), converted once per pass.
  private otmAt(i: number): bigint {
    if (this.mode[i] === MODE_CUT) return 0n;
    if (this.otmPass[i] === this.pass) return this.otmWad[i] as bigint;
    const K = this.chain.strikes[i] as bigint;
    const F = this.chain.forward;
    const mPhi = (K >= F ? F : K) * BigInt(this.phi[i] as number);
    const otm = this.otm(i, mPhi, BigInt(this.phiExp[i] as number));
    this.otmPass[i] = this.pass;
    this.otmWad[i] = otm;
    return otm;
  }

  // min(F, K)·c, floored, from mPhi = min(F, K)·φ(a)·2^e (modes DIFF, DD, ONE_MINUS).
  private otm(i: number, mPhi: bigint, e: bigint): bigint {
    const mode = this.mode[i];
    const dA = BigInt(this.dA[i] as number);
    let otm: bigint;
    if (mode === MODE_DIFF)
      otm = (mPhi * dA) >> (e + 50n); // dB = 2^52
    else if (mode === MODE_DD) otm = (mPhi * dA * BigInt(this.dB[i] as number)) >> (e + 108n);
    else {
      const K = this.chain.strikes[i] as bigint;
      const F = this.chain.forward;
      otm = (K >= F ? F : K) - ceilShift(mPhi * dA, e + 50n);
    }
    return otm < 0n ? 0n : otm;
  }

  // Δc on the fast path (modes DIFF, DD, ONE_MINUS), φ(a) = phi/2^e.
  private callDelta(i: number, phi: bigint, e: bigint): bigint {
    const F = this.chain.forward;
    const K = this.chain.strikes[i] as bigint;
    const phiMd = phi * BigInt(this.md[i] as number);
    if (K < F) return WAD - ceilDiv(K * WAD * phiMd, F << (e + 50n)); // 1 − φ(b)·M(b), φ(b) = φ(a)·K/F
    if (this.mode[i] !== MODE_ONE_MINUS) return (WAD * phiMd) >> (e + 50n); // Q(a)
    return WAD - ceilShift(WAD * phiMd, e + 50n); // 1 − Q(|a|)
  }
}

function ceilDiv(a: bigint, d: bigint): bigint {
  return (a + d - 1n) / d;
}
