/** Builders of strategy-silo legs for the strategy model tests: BTC options with core's per-leg requirements. */
import { parseDecimal } from '../../src/core/fixed.ts';
import { optionLegMargin } from '../../src/core/options/margin.ts';
import type { PortfolioLeg } from '../../src/core/strategy/types.ts';

export const WAD = 10n ** 18n;
export const w = (s: string | number | bigint): bigint =>
  parseDecimal(String(s), 'test', { dp: 18, signed: true });
export const EXPIRY_1 = Date.UTC(2026, 5, 26, 8);
export const EXPIRY_2 = Date.UTC(2026, 8, 25, 8);

export interface OptionSpec {
  id?: string;
  underlying?: string;
  type: 'call' | 'put';
  strike: number | string;
  /** Signed units of underlying: negative short. */
  size: number | string;
  /** Premium paid/received per unit. */
  entry: number | string;
  /** Mark per unit; default the entry. */
  mark?: number | string;
  forward?: number | string;
  expiry?: number;
  settle?: 'linear' | 'inverse';
  /** Scenario model inputs; default 50 % vol, a quarter of a year. */
  iv?: string;
  years?: string;
}

/** An option leg whose own requirement is core's `ringfence` per-leg margin at the forward. */
export function option(o: OptionSpec): PortfolioLeg {
  const signed = w(o.size);
  const size = signed < 0n ? -signed : signed;
  const settle = o.settle ?? 'linear';
  const forward = w(o.forward ?? 100_000);
  const mark = w(o.mark ?? o.entry);
  const req = optionLegMargin('ringfence', {
    type: o.type,
    settle,
    strike: w(o.strike),
    side: signed < 0n ? 'short' : 'long',
    size,
    underlyingPrice: forward,
    markPrice: mark,
    underlying: o.underlying ?? 'BTC',
  });
  return {
    id:
      o.id ?? `${o.underlying ?? 'BTC'}-${o.expiry ?? EXPIRY_1}-${o.strike}-${o.type === 'call' ? 'C' : 'P'}`,
    underlying: o.underlying ?? 'BTC',
    kind: 'option',
    settle,
    type: o.type,
    strike: w(o.strike),
    expiry: o.expiry ?? EXPIRY_1,
    sign: signed < 0n ? -1 : 1,
    size,
    entryPrice: w(o.entry),
    markPrice: mark,
    forward,
    iv: w(o.iv ?? '0.5'),
    years: w(o.years ?? '0.25'),
    ...req,
  };
}

export interface LinearSpec {
  id?: string;
  underlying?: string;
  kind?: 'perpetual' | 'future';
  expiry?: number;
  size: number | string;
  entry: number | string;
  mark?: number | string;
}

/** A perpetual/future leg: IM 10 %, MM 5 % of its notional at the mark. */
export function linear(l: LinearSpec): PortfolioLeg {
  const signed = w(l.size);
  const size = signed < 0n ? -signed : signed;
  const mark = w(l.mark ?? l.entry);
  const notional = (size * mark) / WAD;
  const leg: PortfolioLeg = {
    id: l.id ?? `${l.underlying ?? 'BTC'}-${l.kind ?? 'perpetual'}${l.expiry ?? ''}`,
    underlying: l.underlying ?? 'BTC',
    kind: l.kind ?? 'perpetual',
    settle: 'linear',
    sign: signed < 0n ? -1 : 1,
    size,
    entryPrice: w(l.entry),
    markPrice: mark,
    forward: mark,
    initialMargin: notional / 10n,
    maintenanceMargin: notional / 20n,
  };
  if (l.expiry !== undefined) leg.expiry = l.expiry;
  return leg;
}
