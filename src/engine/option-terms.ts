/**
 * Options in the engine, the pure part: an option market's terms (parsed from its config), the vol feed of one
 * expiry of an underlying (a guarded smile, like the oracle's index), and the per-leg arithmetic between the
 * engine's units (prices at priceDp, sizes at sizeDp, money at settleDp) and core/options' WAD (1e18) fixed point.
 * No engine stage is imported here (oracle.ts and market.ts use it); the stage functions are in options.ts.
 *
 * Units. An option market is a linear instrument whose price is the premium per 1 unit of underlying in its settle
 * asset (USDT for linear options, the coin for inverse ones), so PnL is linear in the premium for both kinds and the
 * perpetuals' PnL, fill and ledger code applies unchanged. Strikes and the underlying's prices are USD (WAD).
 */
import { ceilDiv, floorDiv, InputError, parseDecimal, pow10 } from '../core/fixed.ts';
import {
  black76,
  inverseView,
  optionPayoff,
  sviVol,
  WAD,
  yearsFromSeconds,
} from '../core/options/black76.ts';
import { Black76IntChain, type UnitTable } from '../core/options/black76-int.ts';
import { type OptionVenue, optionLegMargin } from '../core/options/margin.ts';
import type { Market } from './market.ts';
import type { MarketConfig, VolSmile } from './types.ts';

/** An option market's terms, parsed once from its config. */
export interface OptionTerms {
  underlying: string;
  type: 'call' | 'put';
  settle: 'linear' | 'inverse';
  /** Strike in USD, WAD. */
  strike: bigint;
  expiry: number;
  venue: OptionVenue;
  /** The row of the venue parameter tables (BTC, ETH, …): the option market's base. */
  base: string;
  /** The feed's key: one vol feed per underlying and expiry. */
  feedKey: string;
  /** The vol feed's guards this market would give its expiry's feed (the first market of the expiry does). */
  guards: VolGuards;
}

const VENUES: readonly OptionVenue[] = ['ringfence', 'deribit', 'okx', 'derive'];

export function feedKeyOf(underlying: string, expiry: number): string {
  return `${underlying}@${expiry}`;
}

/** Parses `config.option` (throws InputError); the market must be linear in its premium (see the module comment). */
export function optionTerms(config: MarketConfig): OptionTerms {
  const o = config.option!;
  if (typeof o !== 'object' || o === null) throw new InputError('option', 'must be an object');
  if (typeof o.underlying !== 'string' || o.underlying.length === 0)
    throw new InputError('option.underlying', 'must name the underlying market');
  if (o.type !== 'call' && o.type !== 'put') throw new InputError('option.type', 'call or put');
  if (o.settle !== 'linear' && o.settle !== 'inverse')
    throw new InputError('option.settle', 'linear or inverse');
  if (!Number.isSafeInteger(o.expiry) || o.expiry <= 0)
    throw new InputError('option.expiry', 'must be a positive integer (ms)');
  if (config.kind !== 'linear')
    throw new InputError(
      'kind',
      'an option market is linear in its premium (inverse options quote in the coin)',
    );
  if (config.funding) throw new InputError('funding', 'options do not fund');
  if (config.expiry != null && config.expiry !== o.expiry)
    throw new InputError('expiry', 'an option expires at option.expiry');
  const venue = config.optionMargin ?? 'ringfence';
  if (!VENUES.includes(venue)) throw new InputError('optionMargin', 'ringfence, deribit, okx or derive');
  if (o.settle === 'inverse' && config.quote !== config.base)
    throw new InputError('quote', 'an inverse option is quoted and settled in its coin (quote = base)');
  return {
    underlying: o.underlying,
    type: o.type,
    settle: o.settle,
    strike: parseDecimal(o.strike, 'option.strike', { dp: 18, positive: true, maxAbs: 10n ** 36n }),
    expiry: o.expiry,
    venue,
    base: config.base,
    feedKey: feedKeyOf(o.underlying, o.expiry),
    guards: volGuards(config),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Units

/** A price or amount at `dp` decimals → WAD (exact: dp ≤ 18). */
export function toWad(v: bigint, dp: number): bigint {
  return v * pow10(18 - dp);
}

/** WAD → `dp` decimals, rounded down (a payout, a mark) or up (a requirement). */
export function fromWad(v: bigint, dp: number, up = false): bigint {
  const d = pow10(18 - dp);
  return up ? ceilDiv(v, d) : floorDiv(v, d);
}

// ---------------------------------------------------------------------------------------------------------
// The vol feed of one expiry

/** Mirrors oracle.ts' Validity (kept here so this module imports no stage). */
export type FeedValidity = 'valid' | 'tooVolatile' | 'stale' | 'insufficientSources';

export interface VolGuards {
  stalenessMs: number;
  maxJump: bigint;
  minIv: bigint;
  maxIv: bigint;
  settlementWindowMs: number;
}

export function volGuards(config: MarketConfig): VolGuards {
  const v = config.option?.vol ?? {};
  const stalenessMs = v.stalenessMs ?? 60_000;
  if (!Number.isSafeInteger(stalenessMs) || stalenessMs <= 0)
    throw new InputError('option.vol.stalenessMs', 'must be a positive integer');
  const wad = (s: string, f: string) => parseDecimal(s, f, { dp: 18, maxAbs: 100n * WAD });
  const minIv = wad(v.minIv ?? '0.05', 'option.vol.minIv');
  const maxIv = wad(v.maxIv ?? '5', 'option.vol.maxIv');
  if (minIv > maxIv) throw new InputError('option.vol.minIv', 'above maxIv');
  return {
    stalenessMs,
    maxJump: wad(v.maxJump ?? '0.5', 'option.vol.maxJump'),
    minIv,
    maxIv,
    settlementWindowMs: config.settlementWindowMs ?? 30 * 60_000,
  };
}

/** A smile parsed to WAD: SVI parameters with their reference tau, or strike → IV points sorted by strike. */
export type ParsedSmile =
  | { kind: 'svi'; a: bigint; b: bigint; rho: bigint; m: bigint; sigma: bigint; tau: bigint }
  | { kind: 'strikes'; points: [strike: bigint, iv: bigint][] };

/** At most this many strikes in one per-strike quote. */
export const MAX_SMILE_STRIKES = 2_000;

/** Parses a smile (InputError on bad input); `tau`: years from the quote to expiry (SVI's reference tau). */
export function parseSmile(s: VolSmile, tau: bigint): ParsedSmile {
  if (typeof s !== 'object' || s === null) throw new InputError('smile', 'must be an object');
  const num = (v: unknown, f: string, signed = false) =>
    parseDecimal(v, `smile.${f}`, { dp: 18, signed, maxAbs: 1000n * WAD });
  if (s.kind === 'svi') {
    if (tau <= 0n) throw new InputError('smile', 'the expiry has passed');
    const p = {
      kind: 'svi' as const,
      a: num(s.a, 'a', true),
      b: num(s.b, 'b'),
      rho: num(s.rho, 'rho', true),
      m: num(s.m, 'm', true),
      sigma: num(s.sigma, 'sigma'),
      tau,
    };
    if (p.rho > WAD || p.rho < -WAD) throw new InputError('smile.rho', 'must be in [-1, 1]');
    if (p.a + (p.b * p.sigma) / WAD < 0n) throw new InputError('smile.a', 'a + b·σ must not be negative');
    return p;
  }
  if (s.kind === 'strikes') {
    if (typeof s.ivs !== 'object' || s.ivs === null) throw new InputError('smile.ivs', 'must be an object');
    const entries = Object.entries(s.ivs);
    if (entries.length === 0 || entries.length > MAX_SMILE_STRIKES)
      throw new InputError('smile.ivs', `needs 1..${MAX_SMILE_STRIKES} strikes`);
    const points = entries.map(([k, iv]): [bigint, bigint] => [
      parseDecimal(k, 'smile.ivs strike', { dp: 18, positive: true, maxAbs: 10n ** 36n }),
      parseDecimal(iv, `smile.ivs[${k}]`, { dp: 18, maxAbs: 100n * WAD }),
    ]);
    points.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    for (let i = 1; i < points.length; i++)
      if (points[i]![0] === points[i - 1]![0]) throw new InputError('smile.ivs', 'a strike is given twice');
    return { kind: 'strikes', points };
  }
  throw new InputError('smile.kind', 'svi or strikes');
}

/** The smile's raw IV at `strike` (WAD), the forward given: SVI (core sviVol, with its clamps) or linear in strike. */
export function smileIv(s: ParsedSmile, strike: bigint, forward: bigint): bigint {
  if (s.kind === 'svi') {
    if (forward <= 0n) return 0n;
    return sviVol({ a: s.a, b: s.b, rho: s.rho, m: s.m, sigma: s.sigma, forward, tau: s.tau }, strike);
  }
  const pts = s.points;
  if (strike <= pts[0]![0]) return pts[0]![1];
  const last = pts[pts.length - 1]!;
  if (strike >= last[0]) return last[1];
  let lo = 0;
  let hi = pts.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (pts[mid]![0] <= strike) lo = mid;
    else hi = mid;
  }
  const [k0, v0] = pts[lo]!;
  if (k0 === strike) return v0; // a quoted strike: its own IV (what the interpolation gives, without the division)
  const [k1, v1] = pts[hi]!;
  // Rounded toward −∞ (a mark input, either way by at most 1 wei of vol).
  return v0 + floorDiv((v1 - v0) * (strike - k0), k1 - k0);
}

/**
 * One expiry's vol feed. Stored state: the quote (as sent, re-parsed on restore), when it came, the jump clamp's
 * scale, its validity, the inputs of the marks last computed (spot, forward, time) and the settlement TWAP of the
 * underlying's index. The guards come from the first option market of the expiry; `markets`, `underlyingMarket`
 * and `forwardMarket` are links rebuilt from the markets (options.ts `linkOptions`).
 */
export class VolFeed {
  raw: VolSmile | null = null;
  smile: ParsedSmile | null = null;
  quoteTime = 0;
  /** The jump clamp: every strike's IV × scale (WAD); WAD when the last quote moved within the band. */
  scale = WAD;
  /** The effective ATM IV of the last quote (WAD), the reference of the next jump check. */
  atmIv: bigint | null = null;
  validity: FeedValidity = 'insufficientSources';
  reason = 'no vol quote yet';
  /** The validity last reported in a volStatus event (transitions are reported once). */
  reported: FeedValidity = 'insufficientSources';
  /** The inputs of the marks last computed (WAD; null before the underlying has a price), and when. */
  spot: bigint | null = null;
  forward: bigint | null = null;
  markTime = 0;
  /** Settlement: the underlying's price held since `lastSpotTime`, accrued over the window into num / ms. */
  lastSpot: bigint | null = null;
  lastSpotTime = 0;
  twapNum = 0n;
  twapMs = 0n;
  /** @internal set by volQuote, consumed when the command re-marks (always false between commands). */
  requoted = false;
  /** @internal links (options.ts linkOptions). */
  markets: Market[] = [];
  underlyingMarket: Market | null = null;
  forwardMarket: Market | null = null;

  constructor(
    readonly underlying: string,
    readonly expiry: number,
    readonly guards: VolGuards,
  ) {}

  get key(): string {
    return feedKeyOf(this.underlying, this.expiry);
  }

  /** Validity at `now`: no quote → insufficientSources; older than the staleness limit → stale. */
  validityAt(now: number): FeedValidity {
    if (this.smile === null) return 'insufficientSources';
    if (now - this.quoteTime > this.guards.stalenessMs) return 'stale';
    return this.validity;
  }

  /**
   * `ivAt` for many strikes into `out` (out[i] for strikes[i]), `order` listing the strikes' indices by ascending
   * strike: a per-strike smile is read in one merge along the chain instead of a search per strike. Same values.
   */
  ivsAt(strikes: readonly bigint[], order: Int32Array, forward: bigint, out: (bigint | null)[]): void {
    const s = this.smile;
    if (s === null || s.kind === 'svi') {
      for (let i = 0; i < strikes.length; i++) out[i] = this.ivAt(strikes[i] as bigint, forward);
      return;
    }
    const pts = s.points;
    const last = pts.length - 1;
    let lo = 0; // the last point at or below the strike (strikes ascend, so it only moves up)
    for (let r = 0; r < order.length; r++) {
      const i = order[r] as number;
      const strike = strikes[i] as bigint;
      let iv: bigint;
      if (strike <= pts[0]![0]) iv = pts[0]![1];
      else if (strike >= pts[last]![0]) iv = pts[last]![1];
      else {
        while (pts[lo + 1]![0] <= strike) lo++;
        const [k0, v0] = pts[lo]!;
        if (k0 === strike) iv = v0;
        else {
          const [k1, v1] = pts[lo + 1]!;
          iv = v0 + floorDiv((v1 - v0) * (strike - k0), k1 - k0); // as smileIv
        }
      }
      out[i] = this.clampIv(iv);
    }
  }

  /** The smile's IV scaled by the jump clamp and clamped into [minIv, maxIv]. */
  private clampIv(iv: bigint): bigint {
    const raw = this.scale === WAD ? iv : (iv * this.scale) / WAD;
    const g = this.guards;
    return raw < g.minIv ? g.minIv : raw > g.maxIv ? g.maxIv : raw;
  }

  /** The IV used for a strike: the smile's, scaled by the jump clamp, clamped into [minIv, maxIv]. */
  ivAt(strike: bigint, forward: bigint): bigint | null {
    if (this.smile === null) return null;
    let iv: bigint;
    try {
      iv = smileIv(this.smile, strike, forward);
    } catch (err) {
      // An SVI smile whose variance turns negative at this moneyness (the forward moved since the quote): no vol.
      if (err instanceof RangeError) return null;
      throw err;
    }
    return this.clampIv(iv);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Pricing and margin of one leg

export interface OptionPrice {
  /** Premium per unit at the market's priceDp, rounded down. */
  mark: bigint;
  iv: bigint;
  /** Per unit, WAD (inverse: Deribit's price-adjusted delta). */
  delta: bigint;
}

/**
 * Black-76 on the forward at the feed's IV, `seconds` to expiry; null without a forward or a vol. One option by the
 * bigint black76 (exact to the wei), with its delta: the reference the engine's chain marks (`chainMarks`) are tested
 * against.
 */
export function priceOption(
  t: OptionTerms,
  feed: VolFeed,
  forward: bigint,
  seconds: number,
  priceDp: number,
): OptionPrice | null {
  const iv = feed.ivAt(t.strike, forward);
  if (iv === null || forward <= 0n) return null;
  const r = black76({ forward, strike: t.strike, years: yearsFromSeconds(Math.max(0, seconds)), vol: iv });
  let premium = t.type === 'call' ? r.call : r.put;
  let delta = t.type === 'call' ? r.callDelta : r.putDelta;
  if (t.settle === 'inverse') {
    const v = inverseView(r, forward);
    premium = t.type === 'call' ? v.callCoin : v.putCoin;
    delta = t.type === 'call' ? v.callDeltaAdjusted : v.putDeltaAdjusted;
  }
  return { mark: fromWad(premium, priceDp), iv, delta };
}

/**
 * The marks of an expiry's options (`markets`, all on `feed`) at one forward and `seconds` to expiry: per market its
 * premium per unit at its priceDp, rounded down, or null (closed, no forward, no vol at its strike). Priced as one
 * chain by the integer kernel (core black76-int.ts) over the expiry's distinct strikes, each at the feed's IV, so a
 * call and a put on one strike share a kernel pass. The kernel agrees with `priceOption`'s bigint black76 to 2e-12
 * relative (1e-16·F absolute below 1e-7·F), so after rounding down to priceDp the marks are the same unless the
 * bigint premium lies that close above a multiple of the price unit, and then they differ by one unit
 * (test/engine/options-kernel.test.ts). Inverse premiums are the USD premium / forward, floored, as inverseView; each
 * premium is read straight onto the price grid (core `IntChainMarks.unitsAt`: exactly the bigint floor).
 *
 * The result array is the feed's own, reused: read it before the next call for the same feed.
 */
export function chainMarks(
  feed: VolFeed,
  markets: readonly Market[],
  forward: bigint,
  seconds: number,
): (bigint | null)[] {
  const plan = planFor(feed, markets);
  const out = plan.out;
  out.fill(null);
  if (forward <= 0n || feed.smile === null || plan.strikes.length === 0) return out;
  const ivs = plan.ivsAt(feed, forward);
  const chain = plan.chainAt(forward, yearsFromSeconds(Math.max(0, seconds)));
  const marks = chain.mark(plan.vols);
  const tables = plan.grids.map((g) => chain.unitTable(g.unit, g.inverse));
  const at = plan.at;
  const put = plan.put;
  const grid = plan.grid;
  for (let j = 0; j < out.length; j++) {
    const i = at[j] as number;
    if (i < 0 !== markets[j]!.closed) {
      // A market closed (settled) since the plan was made: plan again (rare: once per expiry).
      plans.delete(feed);
      return chainMarks(feed, markets, forward, seconds);
    }
    if (i < 0 || ivs[i] === null) continue;
    out[j] = marks.unitsAt(i, put[j] === 1, tables[grid[j] as number] as UnitTable);
  }
  return out;
}

/**
 * What re-marking an expiry reuses from one pass to the next (a cache of state, per feed, never stored): the chain's
 * distinct strikes in market order and each market's strike, side and price grid; the IVs per strike, recomputed only
 * when the smile, the jump clamp's scale or (SVI, whose log-moneyness is ln(K/F)) the forward changed; and the chain
 * kernel, reused when forward, time and strikes are all equal, re-targeted with `at` when only the time moved, moved
 * with `withForward` (the strikes' logarithms reused) when the forward moved; both are bit for bit the chain the
 * constructor would build. All of it is a pure function
 * of the markets, the feed's smile and the inputs, so a replay or a restored snapshot (no plan) marks the same.
 */
class ChainPlan {
  readonly markets: readonly Market[];
  readonly strikes: bigint[] = [];
  /** Strike indices by ascending strike (the IV merge). */
  readonly order: Int32Array;
  /** Market j's strike index (−1: closed when planned), whether it is a put, and its price grid (an index into `grids`). */
  readonly at: Int32Array;
  readonly put: Uint8Array;
  readonly grid: Int32Array;
  readonly grids: { unit: bigint; inverse: boolean }[] = [];
  readonly out: (bigint | null)[];
  readonly ivs: (bigint | null)[];
  /** The kernel's input: the IV, or 0 (black76's intrinsic edge, cheap) for a strike without one. */
  readonly vols: bigint[];
  private ivSmile: ParsedSmile | null = null;
  private ivScale = 0n;
  private ivForward = 0n;
  private chain: Black76IntChain | null = null;

  constructor(markets: readonly Market[]) {
    const n = markets.length;
    this.markets = markets;
    this.at = new Int32Array(n).fill(-1);
    this.put = new Uint8Array(n);
    this.grid = new Int32Array(n);
    this.out = new Array(n).fill(null);
    const index = new Map<bigint, number>();
    const grids = new Map<string, number>();
    markets.forEach((m, j) => {
      if (m.closed) return;
      const t = m.option!;
      let i = index.get(t.strike);
      if (i === undefined) {
        i = this.strikes.length;
        index.set(t.strike, i);
        this.strikes.push(t.strike);
      }
      this.at[j] = i;
      this.put[j] = t.type === 'put' ? 1 : 0;
      const key = `${t.settle}:${m.inst.priceDp}`;
      let g = grids.get(key);
      if (g === undefined) {
        g = this.grids.length;
        grids.set(key, g);
        this.grids.push({ unit: pow10(18 - m.inst.priceDp), inverse: t.settle === 'inverse' });
      }
      this.grid[j] = g;
    });
    const k = this.strikes;
    this.order = Int32Array.from(
      k.map((_, i) => i).sort((a, b) => (k[a]! < k[b]! ? -1 : k[a]! > k[b]! ? 1 : 0)),
    );
    this.ivs = new Array(k.length).fill(null);
    this.vols = new Array(k.length).fill(0n);
  }

  /** The IV per strike (null: none), recomputed only when the smile, its scale or (SVI) the forward moved. */
  ivsAt(feed: VolFeed, forward: bigint): (bigint | null)[] {
    const s = feed.smile;
    if (
      s === this.ivSmile &&
      feed.scale === this.ivScale &&
      (s?.kind === 'strikes' || forward === this.ivForward)
    )
      return this.ivs;
    feed.ivsAt(this.strikes, this.order, forward, this.ivs);
    for (let i = 0; i < this.ivs.length; i++) this.vols[i] = this.ivs[i] ?? 0n;
    this.ivSmile = s;
    this.ivScale = feed.scale;
    this.ivForward = forward;
    return this.ivs;
  }

  chainAt(forward: bigint, years: bigint): Black76IntChain {
    const c = this.chain;
    let chain: Black76IntChain;
    if (c === null) chain = new Black76IntChain(forward, years, this.strikes);
    else if (c.forward !== forward)
      chain = c.withForward(forward, years); // the strikes' logs reused
    else chain = c.years === years ? c : c.at(years);
    this.chain = chain;
    return chain;
  }
}

const plans = new WeakMap<VolFeed, ChainPlan>();

function planFor(feed: VolFeed, markets: readonly Market[]): ChainPlan {
  let plan = plans.get(feed);
  // The same list (linkOptions builds a new one when markets come or go); a market's priceDp never changes, and one
  // that closed since is caught by chainMarks.
  if (plan === undefined || plan.markets !== markets) {
    plan = new ChainPlan(markets);
    plans.set(feed, plan);
  }
  return plan;
}

/** The premium an option pays per unit at expiry on `settlement` (USD WAD), at priceDp, rounded down. */
export function settlementPremium(t: OptionTerms, settlement: bigint, priceDp: number): bigint {
  return fromWad(optionPayoff(t.type, t.settle, t.strike, settlement), priceDp);
}

export interface LegInputs {
  terms: OptionTerms;
  /** Size at sizeDp and multiplier (units of underlying = size × multiplier). */
  size: bigint;
  sizeScale: bigint;
  multiplier: bigint;
  /** Premium per unit at priceDp (the mark the venue formula adds). */
  price: bigint;
  priceDp: number;
  settleDp: number;
  forward: bigint | null;
  spot: bigint | null;
}

/** A short leg's initial and maintenance margin under its venue rule, in settle units, rounded up. */
export function shortLegMargin(l: LegInputs): { im: bigint; mm: bigint } {
  if (l.size === 0n) return { im: 0n, mm: 0n };
  // No underlying price yet (no mark either): the strike stands in, so a requirement is never zero.
  const forward = l.forward ?? l.terms.strike;
  const r = optionLegMargin(l.terms.venue, {
    type: l.terms.type,
    settle: l.terms.settle,
    strike: l.terms.strike,
    side: 'short',
    size: ceilDiv(l.size * l.multiplier * WAD, l.sizeScale),
    underlyingPrice: forward,
    markPrice: toWad(l.price, l.priceDp),
    underlying: l.terms.base,
    spotPrice: l.spot ?? forward,
  });
  return {
    im: fromWad(r.initialMargin, l.settleDp, true),
    mm: fromWad(r.maintenanceMargin, l.settleDp, true),
  };
}
