/**
 * The `strategy` model's rules (CBOE Margin Manual / broker practice, options-margin.md §3b), in ringfence's equity
 * convention (requirements from entry; the equity counts uPnL at marks):
 * - defined risk (vertical, butterfly, iron condor/butterfly, box): max(0, L + min(u, 0)) of the strategy's legs —
 *   its worst loss at expiry from entry, less any loss already in the equity — never above their standalone sum;
 * - short straddle/strangle: the greater side's requirement + the other side's mark × size (IM from the legs' IMs,
 *   MM from their MMs), never above the standalone sum; a long pair: the standalone sum;
 * - covered call/put: the delta-one leg's own requirement; the option needs nothing, since its loss beyond the
 *   strike is the cover's gain, which the equity counts;
 * - naked: standalone.
 * A leg split across strategies is charged in shares by cumulative ceiling: part i of a leg of size n pays
 * ⌈R·c_i/n⌉ − ⌈R·c_(i−1)/n⌉ (c_i the size taken so far), so its shares add up to exactly R — a plain ⌈R·part/n⌉ per
 * part could overcharge a split leg by a wei per part and break "strategy ≤ standalone".
 */
import { ceilDiv, maxBig, minBig } from '../fixed.ts';
import { chargeOf, type Lot, markPnl, type WorstLoss, worstLoss } from './payoff.ts';
import type { Recognised } from './recognise.ts';
import type { PortfolioLeg, RecognisedStrategy, StrategyType, WorstCase } from './types.ts';

export const DEFINED_RISK: ReadonlySet<StrategyType> = new Set([
  'vertical',
  'butterfly',
  'ironCondor',
  'ironButterfly',
  'box',
]);

interface Share {
  im: bigint;
  mm: bigint;
}

/** ⌈r·c/n⌉, the cumulative share of a leg of size n once c of it is taken (no division at 0 or n). */
const cumulative = (r: bigint, n: bigint, c: bigint): bigint =>
  c === n ? r : c === 0n ? 0n : ceilDiv(r * c, n);

/** Each part's share of its leg's requirements, in recognition order (see the module comment). */
export function requirementShares(
  legs: readonly PortfolioLeg[],
  recognised: readonly Recognised[],
): Share[][] {
  const taken = new Array<bigint>(legs.length).fill(0n);
  return recognised.map((s) =>
    s.legs.map(({ leg, size }) => {
      const l = legs[leg]!;
      const before = taken[leg]!;
      const after = before + size;
      taken[leg] = after;
      return {
        im: cumulative(l.initialMargin, l.size, after) - cumulative(l.initialMargin, l.size, before),
        mm: cumulative(l.maintenanceMargin, l.size, after) - cumulative(l.maintenanceMargin, l.size, before),
      };
    }),
  );
}

export interface PricedStrategy {
  strategy: RecognisedStrategy;
  /** Where its maintenance figure comes from. */
  worst: WorstCase;
}

/** A strategy's requirements under the rules and where the maintenance figure comes from. */
export interface StrategyCharge {
  initialMargin: bigint;
  maintenanceMargin: bigint;
  worst: WorstCase;
}

const sum = (xs: readonly bigint[]): bigint => xs.reduce((a, b) => a + b, 0n);

/** Greater side's requirement + the other side's mark value (ties: the call side is the greater). */
function straddleCharge(lots: readonly Lot[], shares: readonly Share[], pick: (s: Share) => bigint): bigint {
  const side = (t: 'call' | 'put') => {
    const idx = lots.map((l, i) => (l.leg.type === t ? i : -1)).filter((i) => i >= 0);
    return {
      req: sum(idx.map((i) => pick(shares[i]!))),
      mark: sum(idx.map((i) => chargeOf(lots[i]!.leg.markPrice, lots[i]!.size))),
    };
  };
  const c = side('call');
  const p = side('put');
  return c.req >= p.req ? c.req + p.mark : p.req + c.mark;
}

const lotsOf = (legs: readonly PortfolioLeg[], s: Recognised): Lot[] =>
  s.legs.map(({ leg, size }) => ({ leg: legs[leg]!, size }));

const allLinear = (lots: readonly Lot[]): boolean => lots.every((l) => l.leg.settle === 'linear');

/** The rules (see the module comment) over a strategy's lots; `w`: their worst loss at expiry (linear lots only),
 * read by the defined-risk rule alone. */
function charge(
  s: Recognised,
  lots: readonly Lot[],
  shares: readonly Share[],
  w?: WorstLoss,
): StrategyCharge {
  let stIM = 0n;
  let stMM = 0n;
  for (const x of shares) {
    stIM += x.im;
    stMM += x.mm;
  }
  let im = stIM;
  let mm = stMM;
  let worst: WorstCase = { kind: 'standalone' };
  if (DEFINED_RISK.has(s.type) && w && !w.unbounded) {
    const u = markPnl(lots);
    const covered = w.loss + (u < 0n ? u : 0n);
    const base = covered > 0n ? covered : 0n;
    im = minBig(stIM, base);
    mm = minBig(stMM, base);
    if (base <= stMM) {
      worst = { kind: 'price', underlying: s.underlying, price: w.price };
      if (s.expiry !== undefined) worst.expiry = s.expiry;
    }
  } else if ((s.type === 'straddle' || s.type === 'strangle') && s.direction === 'credit') {
    mm = minBig(
      stMM,
      straddleCharge(lots, shares, (x) => x.mm),
    );
    // The greater side by IM and by MM may differ; IM is kept ≥ MM (still ≤ the standalone IM when legs' are).
    im = maxBig(
      minBig(
        stIM,
        straddleCharge(lots, shares, (x) => x.im),
      ),
      mm,
    );
  } else if (s.type === 'coveredCall' || s.type === 'coveredPut') {
    im = 0n;
    mm = 0n;
    shares.forEach((x, i) => {
      if (lots[i]!.leg.kind === 'option') return;
      im += x.im;
      mm += x.mm;
    });
  }
  return { initialMargin: im, maintenanceMargin: mm, worst };
}

/** One recognised strategy priced under the strategy rules, with its max loss (a read). */
export function priceStrategy(
  legs: readonly PortfolioLeg[],
  s: Recognised,
  shares: readonly Share[],
): PricedStrategy {
  const lots = lotsOf(legs, s);
  const w = allLinear(lots) ? worstLoss(lots) : undefined;
  const c = charge(s, lots, shares, w);
  const maxLoss = w && !w.unbounded ? w.loss : null;
  return {
    strategy: { ...s, initialMargin: c.initialMargin, maintenanceMargin: c.maintenanceMargin, maxLoss },
    worst: c.worst,
  };
}

/** Every recognised strategy priced; the requirement is their sum. */
export function priceStrategies(
  legs: readonly PortfolioLeg[],
  recognised: readonly Recognised[],
): PricedStrategy[] {
  const shares = requirementShares(legs, recognised);
  return recognised.map((s, i) => priceStrategy(legs, s, shares[i]!));
}

/** The charges alone (a re-check): as priceStrategies', the worst loss at expiry computed only where a rule reads
 * it (defined-risk strategies). */
export function strategyCharges(
  legs: readonly PortfolioLeg[],
  recognised: readonly Recognised[],
): StrategyCharge[] {
  const shares = requirementShares(legs, recognised);
  return recognised.map((s, i) => {
    const lots = lotsOf(legs, s);
    const w = DEFINED_RISK.has(s.type) && allLinear(lots) ? worstLoss(lots) : undefined;
    return charge(s, lots, shares[i]!, w);
  });
}
