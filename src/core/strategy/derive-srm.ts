/**
 * Derive's StandardManager margin of one expiry (`_calcNetBasicMarginSingleExpiry`, options-margin.md §3a), as a
 * reference the golden cases OPT-DRV-SRM-* test against and the `maxLoss` model is compared with. Derive's sign
 * convention: the result is signed margin, negative = collateral required.
 *
 *   maxLossMargin = min over P ∈ {0} ∪ strikes of min(Σ amount·payoff(P), 0)       (expiry payoff, no premium)
 *                   + unpairedScale · forward · netCalls   when netCalls = Σ call amounts < 0
 *   margin        = max(Σ isolated margin of the short legs, maxLossMargin)        (the better of the two)
 *
 * Isolated margin per short leg is core's Derive formula (options/margin.ts `deriveIsolatedUsd`: spot for the OTM
 * ratio and spot charges, the forward's Black-76 mark). Every figure rounds toward the larger requirement (down,
 * in signed margin).
 */
import { ceilDiv, floorDiv } from '../fixed.ts';
import { WAD } from '../options/fixedmath.ts';
import { deriveIsolatedUsd, type OptionLeg, optionParamsFor } from '../options/margin.ts';
import type { DeriveSpec } from '../options/margin-params.ts';

export interface DeriveSrmOption {
  type: 'call' | 'put';
  strike: bigint;
  /** Signed units (WAD): negative short. */
  amount: bigint;
  /** Mark per unit (Black-76 on the forward, discount 1), WAD USD. */
  mark: bigint;
}

export interface DeriveSrmExpiry {
  options: readonly DeriveSrmOption[];
  spot: bigint;
  forward: bigint;
}

export interface DeriveSrmMargin {
  /** Signed: negative = required. */
  margin: bigint;
  /** Σ isolated margin of the shorts (signed). */
  isolated: bigint;
  /** The max-loss form incl. the unpaired charge (signed). */
  maxLoss: bigint;
}

const payoff = (o: DeriveSrmOption, p: bigint): bigint => {
  const d = o.type === 'call' ? p - o.strike : o.strike - p;
  return d > 0n ? d : 0n;
};

/** min(Σ amount·payoff(P), 0), rounded toward −∞. */
function lossAt(options: readonly DeriveSrmOption[], p: bigint): bigint {
  let sum = 0n;
  for (const o of options) sum += o.amount * payoff(o, p);
  const v = floorDiv(sum, WAD);
  return v < 0n ? v : 0n;
}

export function deriveSrmExpiryMargin(
  e: DeriveSrmExpiry,
  spec: DeriveSpec,
  isInitial: boolean,
): DeriveSrmMargin {
  const p = optionParamsFor(undefined, { derive: spec }).derive;
  let isolated = 0n;
  let maxLoss = lossAt(e.options, 0n);
  let netCalls = 0n;
  for (const o of e.options) {
    if (o.type === 'call') netCalls += o.amount;
    const atStrike = lossAt(e.options, o.strike);
    if (atStrike < maxLoss) maxLoss = atStrike;
    if (o.amount >= 0n) continue; // a long needs nothing and offsets nothing here
    const leg: OptionLeg = {
      type: o.type,
      settle: 'linear',
      strike: o.strike,
      side: 'short',
      size: -o.amount,
      underlyingPrice: e.forward,
      markPrice: o.mark,
      spotPrice: e.spot,
    };
    const unit = deriveIsolatedUsd(leg, p, o.mark);
    isolated -= ceilDiv((isInitial ? unit.initialMargin : unit.maintenanceMargin) * -o.amount, WAD);
  }
  if (netCalls < 0n) {
    const scale = isInitial ? p.unpairedIMScale : p.unpairedMMScale;
    maxLoss += floorDiv(scale * e.forward * netCalls, WAD * WAD);
  }
  return { margin: isolated > maxLoss ? isolated : maxLoss, isolated, maxLoss };
}
