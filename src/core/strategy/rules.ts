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
import { chargeOf, type Lot, markPnl, worstLoss } from './payoff.ts';
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

/** Each part's share of its leg's requirements, in recognition order (see the module comment). */
export function requirementShares(
  legs: readonly PortfolioLeg[],
  recognised: readonly Recognised[],
): Share[][] {
  const taken = new Map<number, bigint>();
  return recognised.map((s) =>
    s.legs.map(({ leg, size }) => {
      const l = legs[leg]!;
      const before = taken.get(leg) ?? 0n;
      const after = before + size;
      taken.set(leg, after);
      const cum = (r: bigint, c: bigint) => (c === l.size ? r : ceilDiv(r * c, l.size));
      return {
        im: cum(l.initialMargin, after) - cum(l.initialMargin, before),
        mm: cum(l.maintenanceMargin, after) - cum(l.maintenanceMargin, before),
      };
    }),
  );
}

export interface PricedStrategy {
  strategy: RecognisedStrategy;
  /** Where its maintenance figure comes from. */
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

/** One recognised strategy priced under the strategy rules. */
export function priceStrategy(
  legs: readonly PortfolioLeg[],
  s: Recognised,
  shares: readonly Share[],
): PricedStrategy {
  const lots: Lot[] = s.legs.map(({ leg, size }) => ({ leg: legs[leg]!, size }));
  const stIM = sum(shares.map((x) => x.im));
  const stMM = sum(shares.map((x) => x.mm));
  const linear = lots.every((l) => l.leg.settle === 'linear');
  const w = linear ? worstLoss(lots) : undefined;
  const maxLoss = w && !w.unbounded ? w.loss : null;
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
    const cover = shares.filter((_, i) => lots[i]!.leg.kind !== 'option');
    im = sum(cover.map((x) => x.im));
    mm = sum(cover.map((x) => x.mm));
  }
  return { strategy: { ...s, initialMargin: im, maintenanceMargin: mm, maxLoss }, worst };
}

/** Every recognised strategy priced; the requirement is their sum. */
export function priceStrategies(
  legs: readonly PortfolioLeg[],
  recognised: readonly Recognised[],
): PricedStrategy[] {
  const shares = requirementShares(legs, recognised);
  return recognised.map((s, i) => priceStrategy(legs, s, shares[i]!));
}
