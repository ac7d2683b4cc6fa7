/**
 * The legs of an option silo as the strategy models see them: checked, put in one canonical order, and grouped by
 * (underlying, expiry) — the unit that settles at one price.
 *
 * Grouping (issue 18): linear options group by (underlying, expiry). A linear perpetual or future joins its
 * underlying's earliest option group whose expiry is not after its own (a perpetual: the earliest group), because
 * that is the first settlement it can offset; with no such group it joins the underlying's delta-one group (no
 * expiry). Inverse legs join no group: their payoff is not linear in the price and they stand alone.
 */
import type { PortfolioLeg } from './types.ts';

export interface LegGroup {
  underlying: string;
  /** Absent for a group of delta-one legs only. */
  expiry?: number;
  /** Indexes into the legs as given, in canonical order. */
  legs: number[];
}

export interface GroupedLegs {
  groups: LegGroup[];
  /** Inverse legs (indexes, canonical order): each stands alone. */
  inverse: number[];
  /** Every leg index in canonical order. */
  order: number[];
}

const TYPE_RANK = { call: 0, put: 1 } as const;
const KIND_RANK = { option: 0, future: 1, perpetual: 2 } as const;

const cmpBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
const cmpNum = (a: number, b: number): number => (a < b ? -1 : a > b ? 1 : 0);
const cmpStr = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
/** An absent expiry (perpetual) sorts after every dated one. */
const cmpExpiry = (a: number | undefined, b: number | undefined): number =>
  a === b ? 0 : a === undefined ? 1 : b === undefined ? -1 : cmpNum(a, b);

/**
 * Canonical order: underlying, expiry, type, strike, sign, id, then every remaining field, so that two legs equal in
 * this order are equal in every figure and the models' results cannot depend on the order legs were given in.
 */
export function compareLegs(a: PortfolioLeg, b: PortfolioLeg): number {
  return (
    cmpStr(a.underlying, b.underlying) ||
    cmpExpiry(a.expiry, b.expiry) ||
    cmpNum(a.type ? TYPE_RANK[a.type] : 2, b.type ? TYPE_RANK[b.type] : 2) ||
    cmpBig(a.strike ?? 0n, b.strike ?? 0n) ||
    cmpNum(a.sign, b.sign) ||
    cmpStr(a.id, b.id) ||
    cmpNum(KIND_RANK[a.kind], KIND_RANK[b.kind]) ||
    cmpStr(a.settle, b.settle) ||
    cmpBig(a.size, b.size) ||
    cmpBig(a.entryPrice, b.entryPrice) ||
    cmpBig(a.markPrice, b.markPrice) ||
    cmpBig(a.forward, b.forward) ||
    cmpBig(a.initialMargin, b.initialMargin) ||
    cmpBig(a.maintenanceMargin, b.maintenanceMargin) ||
    cmpBig(a.iv ?? -1n, b.iv ?? -1n) ||
    cmpBig(a.years ?? -1n, b.years ?? -1n)
  );
}

function fail(leg: PortfolioLeg, i: number, what: string): never {
  throw new RangeError(`strategy leg ${i} (${leg.id}): ${what}`);
}

/** Shape and sign checks; the models assume them (a malformed leg is a caller's bug, not a trader's input). */
export function checkLegs(legs: readonly PortfolioLeg[]): void {
  legs.forEach((leg, i) => {
    if (leg.size <= 0n) fail(leg, i, 'size must be positive');
    if (leg.entryPrice < 0n || leg.markPrice < 0n || leg.forward < 0n) fail(leg, i, 'prices must be ≥ 0');
    if (leg.initialMargin < 0n || leg.maintenanceMargin < 0n) fail(leg, i, 'requirements must be ≥ 0');
    if (leg.sign !== 1 && leg.sign !== -1) fail(leg, i, 'sign must be +1 or −1');
    const dated = leg.expiry !== undefined;
    if (dated && !Number.isSafeInteger(leg.expiry)) fail(leg, i, 'expiry must be an integer (ms)');
    if (leg.kind === 'option') {
      if (leg.type !== 'call' && leg.type !== 'put') fail(leg, i, 'an option needs type call or put');
      if (leg.strike === undefined || leg.strike < 0n) fail(leg, i, 'an option needs a strike ≥ 0');
      if (!dated) fail(leg, i, 'an option needs an expiry');
      return;
    }
    if (leg.type !== undefined || leg.strike !== undefined)
      fail(leg, i, 'a delta-one leg has no type or strike');
    if (leg.kind === 'future' && !dated) fail(leg, i, 'a future needs an expiry');
    if (leg.kind === 'perpetual' && dated) fail(leg, i, 'a perpetual has no expiry');
  });
}

export function canonicalOrder(legs: readonly PortfolioLeg[]): number[] {
  return legs.map((_, i) => i).sort((a, b) => compareLegs(legs[a]!, legs[b]!) || a - b);
}

const groupKey = (underlying: string, expiry: number | undefined): string =>
  `${underlying}\u0000${expiry ?? ''}`;

/** The group a delta-one leg joins (see the module comment); `optionExpiries` ascending. */
function deltaOneExpiry(leg: PortfolioLeg, optionExpiries: readonly number[]): number | undefined {
  const earliest = optionExpiries[0];
  if (earliest === undefined) return undefined;
  if (leg.kind === 'perpetual' || earliest <= leg.expiry!) return earliest;
  return undefined;
}

/** Groups (canonical order: underlying, then expiry, the delta-one group last) and the inverse legs. */
export function groupLegs(legs: readonly PortfolioLeg[]): GroupedLegs {
  checkLegs(legs);
  const order = canonicalOrder(legs);
  const byKey = new Map<string, LegGroup>();
  const expiries = new Map<string, number[]>();
  const inverse: number[] = [];
  const join = (i: number, underlying: string, expiry: number | undefined) => {
    const key = groupKey(underlying, expiry);
    let g = byKey.get(key);
    if (!g) {
      g = expiry === undefined ? { underlying, legs: [] } : { underlying, expiry, legs: [] };
      byKey.set(key, g);
    }
    g.legs.push(i);
  };
  for (const i of order) {
    const leg = legs[i]!;
    if (leg.settle === 'inverse') inverse.push(i);
    else if (leg.kind === 'option') {
      join(i, leg.underlying, leg.expiry);
      const list = expiries.get(leg.underlying) ?? [];
      if (list[list.length - 1] !== leg.expiry) list.push(leg.expiry!);
      expiries.set(leg.underlying, list);
    }
  }
  for (const i of order) {
    const leg = legs[i]!;
    if (leg.settle === 'inverse' || leg.kind === 'option') continue;
    join(i, leg.underlying, deltaOneExpiry(leg, expiries.get(leg.underlying) ?? []));
  }
  const groups = [...byKey.values()].sort(
    (a, b) => cmpStr(a.underlying, b.underlying) || cmpExpiry(a.expiry, b.expiry),
  );
  for (const g of groups) g.legs.sort((a, b) => compareLegs(legs[a]!, legs[b]!) || a - b);
  return { groups, inverse, order };
}
