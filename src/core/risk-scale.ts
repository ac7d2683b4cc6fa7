/**
 * An instrument's risk rule scaled by a margin factor (dynamic margin): every maintenance and initial rate × factor,
 * rounded up and capped at 100%, every max leverage ÷ factor, rounded down (never below 1x). Tier deductions that
 * follow the bracket recursion are derived again from the scaled rates, so MM stays continuous across brackets and
 * MM'(N) ≥ factor × MM(N) at every notional (its slope is at least factor × the old one in every bracket and its
 * value at zero no lower); a deduction given as published is scaled and rounded down. So a position's requirement
 * under the scaled rule is never below factor × its requirement before, and factor 1 is the instrument itself.
 */
import { ceilDiv, maxBig, minBig } from './fixed.ts';
import type { Instrument } from './instrument.ts';
import { LEVERAGE_ONE, RATE_ONE } from './rates.ts';
import type { RiskRule, Tier } from './tiers.ts';

/** The instrument with its risk scaled by `factor` (RATE_DP, ≥ 1); the same object at factor 1. */
export function scaleInstrument(inst: Instrument, factor: bigint): Instrument {
  if (factor < RATE_ONE) throw new RangeError('a margin factor is at least 1');
  if (factor === RATE_ONE) return inst;
  return { ...inst, maxLeverage: leverageOver(inst.maxLeverage, factor), risk: scaleRisk(inst.risk, factor) };
}

const rateTimes = (rate: bigint, factor: bigint) => minBig(RATE_ONE, ceilDiv(rate * factor, RATE_ONE));
const leverageOver = (lev: bigint, factor: bigint) => maxBig(LEVERAGE_ONE, (lev * RATE_ONE) / factor);

export function scaleRisk(rule: RiskRule, factor: bigint): RiskRule {
  switch (rule.kind) {
    case 'tiers':
      return { ...rule, tiers: scaleTiers(rule.tiers, factor) };
    case 'sizeLinear':
      return {
        ...rule,
        imBase: rateTimes(rule.imBase, factor),
        mmBase: rateTimes(rule.mmBase, factor),
        slopePerUnit: ceilDiv(rule.slopePerUnit * factor, RATE_ONE),
        maxLeverage: leverageOver(rule.maxLeverage, factor),
      };
    case 'fraction':
      return { ...rule, imf: rateTimes(rule.imf, factor) };
  }
}

function scaleTiers(tiers: readonly Tier[], factor: bigint): Tier[] {
  const out: Tier[] = [];
  tiers.forEach((t, i) => {
    const mmr = rateTimes(t.mmr, factor);
    const imr = maxBig(mmr, rateTimes(t.imr, factor));
    const prev = tiers[i - 1];
    const p = out[i - 1];
    // The recursion d_n = cap_{n−1} × (mmr_n − mmr_{n−1}) + d_{n−1} where the table followed it (derived brackets);
    // otherwise (the first tier, step tables without deductions, a published first deduction) scaled down.
    const derived =
      prev !== undefined &&
      prev.cap !== null &&
      t.deductionRaw === prev.cap * (t.mmr - prev.mmr) + prev.deductionRaw;
    const deductionRaw =
      derived && p !== undefined
        ? prev.cap! * (mmr - p.mmr) + p.deductionRaw
        : (t.deductionRaw * factor) / RATE_ONE;
    out.push({
      cap: t.cap,
      mmr,
      imr,
      maxLeverage: minBig(leverageOver(t.maxLeverage, factor), (RATE_ONE * LEVERAGE_ONE) / imr),
      deductionRaw,
    });
  });
  return out;
}
