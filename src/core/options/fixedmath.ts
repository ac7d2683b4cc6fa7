/**
 * Deterministic transcendental functions on bigint fixed point, for option pricing that must replay bit for bit.
 *
 * ECMAScript leaves Math.exp/Math.log precision to the engine, so nothing here touches a float: every value is an
 * integer, every step is +, −, ×, ÷ or a shift on bigint, and every loop has a fixed or bounded trip count.
 *
 * Two scales:
 * - WAD (10^18) at the API, the scale of every real number in src/core/options.
 * - Q96 (2^96 ≈ 7.9e28) inside: binary so that rescaling after a product is a shift, and ten digits finer than WAD
 *   so that the rounding of a dozen intermediate steps stays far below one WAD unit ("wei").
 *
 * Method (tables are computed once at module load, in Q160, from π and series only):
 * - exp: x = n·(ln2/64) + r with 0 ≤ r < ln2/64 ≈ 0.0108; e^x = 2^(n>>6) · 2^((n&63)/64) · e^r, the 64 powers of
 *   2^(1/64) tabulated and e^r by its Taylor polynomial of degree 8 (truncation < 6e-24 relative).
 * - ln: x = 2^k · m, m ∈ [1, 2); m = (1 + j/32)·u with j the top five fraction bits and u ∈ [1, 1 + 1/32]; ln u by
 *   the atanh series 2(s + s³/3 + … + s¹³/13), s = (u−1)/(u+1) ≤ 1/65 (truncation < 1e-28).
 * - sqrt: exact integer square root (Newton from above, ≤ 12 iterations for our bounds), i.e. floor(√x) exactly.
 * - normal tail Q(x) = 1 − N(x) and density φ(x): Taylor polynomials of degree 8 (Q and φ) around the 641
 *   nodes x_j = j/64 of [0, 10], |x − x_j| ≤ 1/128 (truncation ≲ 3e-23). The coefficients are
 *   Q^(n)(x_j)/n! = (−1)^n·He_{n−1}(x_j)·φ(x_j)/n! (Hermite polynomials, exact at binary nodes); the node values
 *   Q(x_j) come from stepping the full Taylor series from Q(0) = 1/2. Beyond |x| = 10, Q < 7.7e-24 and
 *   φ < 7.7e-23: returned as 0.
 *
 * Precision (measured against 50-digit mpmath; test/core/options-pricing.test.ts pins values): the Q96 internals are
 * accurate to 1.3e-23 absolute for Q = 1 − N, 2.2e-23 for φ, 1e-28 for ln (absolute) and 6e-24 for exp (relative,
 * where the result is above 2^-20; below, the Q96 grain of 1.3e-29 absolute). The WAD functions round once, toward
 * −∞, so their error is at most 1 wei (1e-18) plus that; expWad's is ≤ 1 wei + 1e-22 relative.
 */

export const WAD = 10n ** 18n;

const Q = 96n;
const ONE = 1n << Q;
/** Init-time precision: 64 guard bits beyond the runtime scale. */
const HP_BITS = 160n;
const HP = 1n << HP_BITS;
const HP_TO_Q = HP_BITS - Q;

/** Inputs above 2^255 wei are rejected: nothing in pricing comes near, and it keeps every loop short. */
const MAX_INPUT = 1n << 255n;
/** e^135.305… ≈ 5.8e58 is the largest result kept (lyra-utils' bound); beyond it expWad throws. */
export const EXP_WAD_MAX = 135_305_999_368_893_231_588n;
/** e^x < 0.5e-18 below this: expWad returns 0 (lyra-utils' bound, −42.139…). */
export const EXP_WAD_MIN = -42_139_678_854_452_767_551n;
/** |x| beyond which normCdf is 0 or 1 and normPdf 0 to the precision stated (Q(10) ≈ 7.6e-24). */
export const NORM_X_MAX = 10n * WAD;

// ---------------------------------------------------------------------------------------------------------------
// Init-time, high precision (Q160). Each series stops when its term vanishes: terms shrink geometrically, so the
// loops are short (< 60 trips) and bounded by the caps below.

/** π to 63 decimals (a definition, not a measurement). */
const PI_DIGITS = 3_141592653589793238462643383279502884197169399375105820974944592n;
const PI_HP = (PI_DIGITS * HP) / 10n ** 63n;

function hpMul(a: bigint, b: bigint): bigint {
  return (a * b) >> HP_BITS;
}

/** ln of y (Q160, y in [1/2, 2]) by 2·atanh((y−1)/(y+1)). */
function hpLnNear1(y: bigint): bigint {
  const s = ((y - HP) << HP_BITS) / (y + HP);
  const s2 = hpMul(s, s);
  let power = s;
  let sum = 0n;
  for (let k = 1n; k < 400n; k += 2n) {
    const term = power / k;
    if (term === 0n) break;
    sum += term;
    power = hpMul(power, s2);
  }
  return 2n * sum;
}

const LN2_HP = hpLnNear1(2n * HP); // 2·atanh(1/3)

/** e^x for |x| ≤ 64 (Q160): k = round(x/ln2), Taylor on the remainder (|r| ≤ 0.35). */
function hpExp(x: bigint): bigint {
  const k = (x + (x >= 0n ? LN2_HP / 2n : -LN2_HP / 2n)) / LN2_HP;
  const r = x - k * LN2_HP;
  let term = HP;
  let sum = HP;
  for (let n = 1n; n < 200n; n++) {
    term = hpMul(term, r) / n;
    if (term === 0n) break;
    sum += term;
  }
  return k >= 0n ? sum << k : sum >> -k;
}

/** Integer square root, floor(√n), exact. Newton from an overestimate decreases strictly to the floor. */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let y = 1n << BigInt((bitLength(n) + 1) >> 1);
  // From y ≥ √n Newton is monotone and quadratic: ≤ 9 trips for 512-bit n; the cap only guards the proof.
  for (let i = 0; i < 64; i++) {
    const z = (y + n / y) >> 1n;
    if (z >= y) return y;
    y = z;
  }
  return y;
}

/** Number of bits of a positive bigint (an integer count, no float rounding involved). */
function bitLength(n: bigint): number {
  const hex = n.toString(16);
  const lead = Number.parseInt(hex[0] ?? '0', 16);
  return (hex.length - 1) * 4 + (lead >= 8 ? 4 : lead >= 4 ? 3 : lead >= 2 ? 2 : 1);
}

const toQ = (hp: bigint): bigint => (hp + (1n << (HP_TO_Q - 1n))) >> HP_TO_Q; // round to nearest

// ---------------------------------------------------------------------------------------------------------------
// Runtime tables (Q96).

const LN2_Q = toQ(LN2_HP);
/** ln2/64 (Q96): the exp reduction step. */
const LN2_64_Q = toQ(LN2_HP / 64n);
/** 2^(j/64), j = 0..63 (Q96). */
const EXP2_TABLE: bigint[] = Array.from({ length: 64 }, (_, j) => toQ(hpExp((LN2_HP * BigInt(j)) / 64n)));
/** 1/n! for the degree-8 Taylor polynomial of e^r (Q96). */
const EXP_COEF: bigint[] = (() => {
  const c: bigint[] = [];
  let f = 1n;
  for (let n = 0n; n <= 8n; n++) {
    if (n > 0n) f *= n;
    c.push((ONE + f / 2n) / f);
  }
  return c;
})();

/** Reciprocals 32/(32+j) (Q96) and −ln of exactly those reciprocals, so the two errors cancel. */
const LN_INV: bigint[] = Array.from({ length: 32 }, (_, j) => (ONE * 32n) / (32n + BigInt(j)));
const LN_TABLE: bigint[] = LN_INV.map((inv) => toQ(hpLnNear1((1n << (HP_BITS + Q)) / inv)));
/** 1/(2k+1) for the atanh series, k = 0..6 (Q96). */
const ATANH_COEF: bigint[] = [1n, 3n, 5n, 7n, 9n, 11n, 13n].map((d) => (ONE + d / 2n) / d);
const LN_1E18_Q = toQ(18n * (hpLnNear1((HP * 10n) / 8n) + 3n * LN2_HP));

/** Degree of the Taylor polynomials of Q and φ around each node. */
const NORM_DEG = 8;
const NODE_BITS = 6n; // node spacing 1/64
const NODE_SHIFT = Q - NODE_BITS; // 1/64 = 2^90 in Q96
const NODE_COUNT = 641; // x_j = j/64, j = 0..640 covers [0, 10]
const X_MAX_Q = 10n * ONE;
/** Q(x_j + h) = Σ TAIL[j·(DEG+1) + n]·h^n; φ(x_j + h) = Σ PDF[j·(DEG+1) + n]·h^n (Q96). */
const TAIL_COEF: bigint[] = [];
const PDF_COEF: bigint[] = [];

(function buildNormalTables() {
  const invSqrt2Pi = (HP * HP) / isqrt(2n * PI_HP * HP);
  const steps = 40; // terms when stepping node values: (10/64)^40/40! is far below 2^-160
  let tail = HP / 2n; // Q(0)
  for (let j = 0; j < NODE_COUNT; j++) {
    const x = (BigInt(j) * HP) >> NODE_BITS; // exact
    const phi = hpMul(hpExp(-hpMul(x, x) / 2n), invSqrt2Pi);
    // a_n = Q^(n)(x)/n! = (−1)^n·He_{n−1}(x)·φ(x)/n!, He by its three-term recurrence.
    const a: bigint[] = [tail];
    let hePrev = 0n; // He_{−1} unused
    let he = HP; // He_0
    let fact = 1n;
    for (let n = 1; n <= steps; n++) {
      fact *= BigInt(n);
      const an = (hpMul(he, phi) / fact) * (n % 2 === 0 ? 1n : -1n);
      a.push(an);
      const next = hpMul(x, he) - BigInt(n - 1) * hePrev; // He_n = x·He_{n−1} − (n−1)·He_{n−2}
      hePrev = he;
      he = next;
    }
    for (let n = 0; n <= NORM_DEG; n++) TAIL_COEF.push(toQ(a[n] ?? 0n));
    for (let n = 0; n <= NORM_DEG; n++) PDF_COEF.push(toQ(-BigInt(n + 1) * (a[n + 1] ?? 0n)));
    // Step to the next node with the full series at h = 1/64.
    let next = 0n;
    for (let n = steps; n >= 0; n--) next = (a[n] ?? 0n) + (next >> NODE_BITS);
    tail = next;
  }
})();

// ---------------------------------------------------------------------------------------------------------------
// Q96 kernels (exported for black76.ts; signed Q96 in, Q96 out).

/** e^x, x in Q96 with x ≤ ~135 (caller bounds). Relative error ≲ 1e-23 (absolute 2^-96 for tiny results). */
export function expQ(x: bigint): bigint {
  let n = x / LN2_64_Q;
  if (x < 0n && n * LN2_64_Q !== x) n -= 1n; // floor, so r ≥ 0
  const r = x - n * LN2_64_Q;
  let p = EXP_COEF[8] as bigint;
  for (let i = 7; i >= 0; i--) p = ((p * r) >> Q) + (EXP_COEF[i] as bigint);
  const scaled = ((EXP2_TABLE[Number(n & 63n)] as bigint) * p) >> Q;
  const k = n >> 6n;
  return k >= 0n ? scaled << k : scaled >> -k;
}

/** ln x, x in Q96, 0 < x < 2^351. Absolute error ≲ 1e-28. */
export function lnQ(x: bigint): bigint {
  let m = x;
  let k = 0n;
  while (m >= ONE << 32n) {
    m >>= 32n;
    k += 32n;
  }
  while (m < ONE >> 32n) {
    m <<= 32n;
    k -= 32n;
  }
  while (m >= ONE << 1n) {
    m >>= 1n;
    k += 1n;
  }
  while (m < ONE) {
    m <<= 1n;
    k -= 1n;
  }
  const j = Number((m >> (Q - 5n)) & 31n);
  const u = (m * (LN_INV[j] as bigint)) >> Q;
  const s = ((u - ONE) << Q) / (u + ONE);
  const s2 = (s * s) >> Q;
  let p = ATANH_COEF[6] as bigint;
  for (let i = 5; i >= 0; i--) p = ((p * s2) >> Q) + (ATANH_COEF[i] as bigint);
  return k * LN2_Q + (LN_TABLE[j] as bigint) + ((2n * s * p) >> Q);
}

/** floor(√x) for x in Q96 (result Q96), exact. */
export function sqrtQ(x: bigint): bigint {
  return isqrt(x << Q);
}

/** Upper normal tail Q(x) = 1 − N(x) for x ≥ 0 in Q96. Absolute error ≲ 2e-23. */
export function normTailQ(x: bigint): bigint {
  if (x >= X_MAX_Q) return 0n;
  const j = Number((x + (1n << (NODE_SHIFT - 1n))) >> NODE_SHIFT);
  const h = x - (BigInt(j) << NODE_SHIFT);
  const base = j * (NORM_DEG + 1);
  let p = TAIL_COEF[base + NORM_DEG] as bigint;
  for (let n = NORM_DEG - 1; n >= 0; n--) p = ((p * h) >> Q) + (TAIL_COEF[base + n] as bigint);
  return p > 0n ? p : 0n;
}

/** Standard normal density φ(x) for x ≥ 0 in Q96. Absolute error ≲ 3e-23. */
export function normPdfQ(x: bigint): bigint {
  if (x >= X_MAX_Q) return 0n;
  const j = Number((x + (1n << (NODE_SHIFT - 1n))) >> NODE_SHIFT);
  const h = x - (BigInt(j) << NODE_SHIFT);
  const base = j * (NORM_DEG + 1);
  let p = PDF_COEF[base + NORM_DEG] as bigint;
  for (let n = NORM_DEG - 1; n >= 0; n--) p = ((p * h) >> Q) + (PDF_COEF[base + n] as bigint);
  return p > 0n ? p : 0n;
}

/** φ(|x|) from the last tailAndPdfQ call (a scratch slot, so the hot path allocates nothing). */
export const normScratch = { pdf: 0n };

/** Q(x) for x ≥ 0 (returned) and φ(x) (left in normScratch.pdf) from one node lookup. Same values as the two above. */
export function tailAndPdfQ(x: bigint): bigint {
  if (x >= X_MAX_Q) {
    normScratch.pdf = 0n;
    return 0n;
  }
  const jb = (x + (1n << (NODE_SHIFT - 1n))) >> NODE_SHIFT;
  const h = x - (jb << NODE_SHIFT);
  const j = Number(jb);
  const base = j * (NORM_DEG + 1);
  let p = PDF_COEF[base + NORM_DEG] as bigint;
  for (let n = NORM_DEG - 1; n >= 0; n--) p = ((p * h) >> Q) + (PDF_COEF[base + n] as bigint);
  normScratch.pdf = p > 0n ? p : 0n;
  p = TAIL_COEF[base + NORM_DEG] as bigint;
  for (let n = NORM_DEG - 1; n >= 0; n--) p = ((p * h) >> Q) + (TAIL_COEF[base + n] as bigint);
  return p > 0n ? p : 0n;
}

/** N(x) for signed x in Q96. */
export function normCdfQ(x: bigint): bigint {
  return x >= 0n ? ONE - normTailQ(x) : normTailQ(-x);
}

export const Q96 = ONE;
export const Q96_BITS = Q;

// ---------------------------------------------------------------------------------------------------------------
// WAD API. Every result is rounded once, toward −∞.

function checkBound(name: string, x: bigint): void {
  if (x > MAX_INPUT || x < -MAX_INPUT) throw new RangeError(`${name}: |x| must be below 2^255 wei`);
}

/** WAD → Q96, toward −∞ (exact below 1 part in 2^96). */
export function wadToQ(x: bigint): bigint {
  const n = x << Q;
  const q = n / WAD;
  return n < 0n && q * WAD !== n ? q - 1n : q;
}

/** Q96 → WAD, toward −∞ (an arithmetic shift floors). */
export function qToWad(x: bigint): bigint {
  return (x * WAD) >> Q;
}

/**
 * e^x. Bounds: x ≤ EXP_WAD_MAX (≈135.306) else RangeError; x < EXP_WAD_MIN (≈−42.14) gives 0.
 * Error ≤ 1 wei + 1e-19 relative.
 */
export function expWad(x: bigint): bigint {
  if (x > EXP_WAD_MAX) throw new RangeError('expWad: x must be ≤ 135.305999368893231588');
  if (x < EXP_WAD_MIN) return 0n;
  return qToWad(expQ(wadToQ(x)));
}

/** ln x. Bounds: 0 < x < 2^255 wei else RangeError. Absolute error ≤ 1 wei (+3e-23). */
export function lnWad(x: bigint): bigint {
  if (x <= 0n) throw new RangeError('lnWad: x must be > 0');
  checkBound('lnWad', x);
  // ln(x_wei) − ln(1e18) keeps full relative precision for tiny x (1 wei is still exact here).
  return qToWad(lnQ(x << Q) - LN_1E18_Q);
}

/** √x, exactly floor(√(x·1e18)) in wei. Bounds: 0 ≤ x < 2^255 wei else RangeError. */
export function sqrtWad(x: bigint): bigint {
  if (x < 0n) throw new RangeError('sqrtWad: x must be ≥ 0');
  checkBound('sqrtWad', x);
  return isqrt(x * WAD);
}

/** Standard normal CDF N(x). Any x (|x| < 2^255 wei); 0 or 1 beyond |x| = 10. Absolute error ≤ 1 wei (+3e-23). */
export function normCdfWad(x: bigint): bigint {
  checkBound('normCdfWad', x);
  if (x >= NORM_X_MAX) return WAD;
  if (x <= -NORM_X_MAX) return 0n;
  return qToWad(normCdfQ(wadToQ(x)));
}

/** Standard normal density φ(x). Any x (|x| < 2^255 wei); 0 beyond |x| = 10. Absolute error ≤ 1 wei (+3e-23). */
export function normPdfWad(x: bigint): bigint {
  checkBound('normPdfWad', x);
  const ax = x < 0n ? -x : x;
  if (ax >= NORM_X_MAX) return 0n;
  return qToWad(normPdfQ(wadToQ(ax)));
}
