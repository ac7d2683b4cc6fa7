/**
 * Multi-asset collateral in named silos (docs/multi-asset-collateral.md). A silo settles in one asset (its bucket)
 * and may also hold other assets the venue accepts (setCollateralAsset): each holding counts at its price market's
 * index × the collateral ratio of its value band (core collateral.ts, the calc's arithmetic), beside the bucket, in
 * the silo's equity, what it has available and its liquidation test. Losses, fees and funding are still paid in the
 * settle asset: when the bucket cannot pay one, holdings are sold to the insurance fund at the index less the
 * conversion penalty, just enough (rounded up in units held), never touching the owner's free balance or another
 * silo. A silo that falls below maintenance has everything converted first; its legs close only if it is still
 * below maintenance in settle terms.
 *
 * Prices: the index as last set (a liquidation test and a conversion use it as it stands); a price market whose
 * oracle would not allow new risk now (stale, too few sources) counts the holding at zero for new risk (`fresh`).
 * The penalty is at most the first band's haircut, so a conversion always yields at least what the holding counted
 * for: converting never makes a silo's equity worse at the same price.
 */
import {
  DEFAULT_HAIRCUTS,
  grossValue,
  type HaircutBand,
  haircutValue,
  parseBands,
} from '../core/collateral.ts';
import { ceilDiv, formatDecimal, InputError, minBig, parseDecimal, pow10 } from '../core/fixed.ts';
import { RATE_DP, RATE_ONE } from '../core/rates.ts';
import { Silo } from './account.ts';
import { EVERY_MOVE, HolderIndex } from './holder-index.ts';
import type { LedgerAccount } from './ledger.ts';
import type { Market } from './market.ts';
import { allows, validityAt } from './oracle.ts';
import type { EngineState } from './state.ts';
import { type Cmd, Rejection } from './types.ts';

/** One accepted collateral asset in one settle asset (setCollateralAsset). */
export interface CollateralAsset {
  readonly asset: string;
  readonly settle: string;
  /** The asset's decimals (engine `assets`). */
  readonly dp: number;
  /** The market whose index prices one unit of the asset in `settle`. */
  readonly priceMarket: string;
  readonly bands: readonly HaircutBand[];
  /** RATE_DP; at most 1 − the first band's ratio. */
  readonly penalty: bigint;
  readonly enabled: boolean;
  /** Silos holding a non-zero amount of it (a cache of state: rebuilt from the silos after a restore). */
  readonly holders: Set<Silo>;
  /** The holders with open legs by the index at which each is to be looked at (a cache, like `holders`). */
  readonly index: HolderIndex;
}

export const collateralKey = (asset: string, settle: string): string => `${asset}:${settle}`;

/** The accepted asset `asset` for silos settling in `settle`, or null. */
export function collateralAsset(e: EngineState, asset: string, settle: string): CollateralAsset | null {
  return e.collateralAssets.get(collateralKey(asset, settle)) ?? null;
}

/** The silo's holding account in `asset`, opened (owned by the silo) on first use. */
export function holdingOf(e: EngineState, silo: Silo, asset: string): LedgerAccount {
  let h = silo.holdings.get(asset);
  if (h === undefined) {
    h = e.ledger.open('isolated', asset, `${silo.bucket.label}#${asset}`);
    h.owner = silo;
    silo.holdings.set(asset, h);
  }
  return h;
}

/** Keeps `c.holders` in step with the silo's holding after it changed. */
export function noteHolding(c: CollateralAsset, silo: Silo): void {
  if ((silo.holdings.get(c.asset)?.balance ?? 0n) > 0n) {
    c.holders.add(silo);
    c.index.stale.add(silo); // filed with its legs (liquidation.ts), or looked at on the next index move
  } else {
    c.holders.delete(silo);
    c.index.remove(silo, true);
  }
}

export interface Priced {
  price: bigint;
  priceDp: number;
  fresh: boolean;
}

/** The asset's index price now (null: its market has none, or is gone), and whether new risk may count on it. */
export function collateralPrice(e: EngineState, c: CollateralAsset): Priced | null {
  const m = e.markets.get(c.priceMarket);
  const index = m?.oracle?.index ?? null;
  if (m === undefined || m.closed || index === null || index <= 0n) return null;
  return { price: index, priceDp: m.inst.priceDp, fresh: allows('increaseRisk', validityAt(m, e.now)) };
}

/** What `amount` of the asset counts for in the silo's settle asset at `p` (rounded down). */
function countedAt(e: EngineState, c: CollateralAsset, amount: bigint, p: Priced): bigint {
  const settleDp = e.assets.get(c.settle)!;
  return haircutValue(grossValue(amount, c.dp, p.price, p.priceDp, settleDp), c.bands);
}

/**
 * Σ of the silo's holdings at their haircut value (settle units, rounded down). `newRisk`: a holding whose price
 * may not back new risk now counts nothing. `delta`: a hypothetical move of one holding (a transfer's check). `at`:
 * the index of one market taken to be `price` (a liquidation price search moving that market's price).
 */
export function holdingsValue(
  e: EngineState,
  silo: Silo,
  newRisk: boolean,
  delta: { asset: string; amount: bigint } | null = null,
  at: { symbol: string; price: bigint } | null = null,
): bigint {
  if (silo.holdings.size === 0 && delta === null) return 0n;
  let value = 0n;
  const seen = delta === null || silo.holdings.has(delta.asset);
  const entries: [string, bigint][] = [];
  for (const [asset, h] of silo.holdings) entries.push([asset, h.balance]);
  if (!seen) entries.push([delta!.asset, 0n]);
  for (const [asset, balance] of entries) {
    const amount = balance + (delta !== null && delta.asset === asset ? delta.amount : 0n);
    if (amount <= 0n) continue;
    const c = collateralAsset(e, asset, silo.asset);
    let p = c === null ? null : collateralPrice(e, c);
    if (c !== null && at !== null && c.priceMarket === at.symbol)
      p = { price: at.price, priceDp: e.markets.get(at.symbol)!.inst.priceDp, fresh: true };
    if (c === null || p === null || (newRisk && !p.fresh)) continue;
    value += countedAt(e, c, amount, p);
  }
  return value;
}

/** One holding as a silo read shows it: amount, index price (null: none), value before and after the haircut. */
export interface HoldingView {
  asset: string;
  amount: bigint;
  priceMarket: string | null;
  price: bigint | null;
  grossValue: bigint;
  value: bigint;
}

/** The silo's holdings in the order first held, emptied ones left out. */
export function holdingViews(e: EngineState, silo: Silo): HoldingView[] {
  const out: HoldingView[] = [];
  for (const [asset, h] of silo.holdings) {
    if (h.balance <= 0n) continue;
    const c = collateralAsset(e, asset, silo.asset);
    const p = c === null ? null : collateralPrice(e, c);
    const settleDp = e.assets.get(silo.asset)!;
    const gross = c === null || p === null ? 0n : grossValue(h.balance, c.dp, p.price, p.priceDp, settleDp);
    out.push({
      asset,
      amount: h.balance,
      priceMarket: c?.priceMarket ?? null,
      price: p?.price ?? null,
      grossValue: gross,
      value: c === null ? 0n : haircutValue(gross, c.bands),
    });
  }
  return out;
}

/** What selling `units` of the asset at `p` less the penalty pays, in settle units (rounded down). */
export function proceedsOf(e: EngineState, c: CollateralAsset, units: bigint, p: Priced): bigint {
  const settleDp = e.assets.get(c.settle)!;
  return (units * p.price * pow10(settleDp) * (RATE_ONE - c.penalty)) / (pow10(c.dp + p.priceDp) * RATE_ONE);
}

/** The fewest units whose proceeds reach `need` (may exceed what is held: the caller caps). */
function unitsFor(e: EngineState, c: CollateralAsset, need: bigint, p: Priced): bigint {
  const settleDp = e.assets.get(c.settle)!;
  return ceilDiv(
    need * pow10(c.dp + p.priceDp) * RATE_ONE,
    p.price * pow10(settleDp) * (RATE_ONE - c.penalty),
  );
}

/**
 * Sells the silo's holdings to the insurance fund until its bucket holds at least `need` (`'all'`: every holding),
 * holdings in the order the silo first held them; one `collateralConverted` event per holding sold. A holding with
 * no price is left alone. Returns what the bucket received.
 */
export function convertHoldings(
  e: EngineState,
  silo: Silo,
  need: bigint | 'all',
  reason: 'shortfall' | 'liquidation',
): bigint {
  let got = 0n;
  for (const [asset, h] of silo.holdings) {
    if (need !== 'all' && silo.bucket.balance >= need) break;
    if (h.balance <= 0n) continue;
    const c = collateralAsset(e, asset, silo.asset);
    const p = c === null ? null : collateralPrice(e, c);
    if (c === null || p === null) continue;
    const units =
      need === 'all' ? h.balance : minBig(h.balance, unitsFor(e, c, need - silo.bucket.balance, p));
    got += sellHolding(e, silo, c, units, p, reason);
  }
  return got;
}

/**
 * Sells `units` of the silo's holding of `c` to the insurance fund at `p` less the penalty, into the silo's bucket;
 * one `collateralConverted` event. Returns the proceeds.
 */
export function sellHolding(
  e: EngineState,
  silo: Silo,
  c: CollateralAsset,
  units: bigint,
  p: Priced,
  reason: 'shortfall' | 'liquidation' | 'rebalance',
): bigint {
  const h = silo.holdings.get(c.asset)!;
  const proceeds = proceedsOf(e, c, units, p);
  // The fund buys the holding: it takes the asset and pays the settle asset (it may go below zero doing so,
  // recorded by the events: it holds the asset against it).
  e.ledger.transfer(h, e.ledger.systemAccount('insurance', c.asset), units, 'collateralConversion');
  e.ledger.transfer(
    e.ledger.systemAccount('insurance', silo.asset),
    silo.bucket,
    proceeds,
    'collateralConversion',
  );
  noteHolding(c, silo);
  e.events.push({
    type: 'collateralConverted',
    account: silo.account.id,
    silo: silo.id,
    asset: c.asset,
    settle: silo.asset,
    amount: units,
    proceeds,
    price: p.price,
    reason,
  });
  return proceeds;
}

/**
 * Before a debit of `amount` from `holder`: when it is a silo's bucket that cannot pay it and the silo holds other
 * assets, enough of them are converted first. Anything else: nothing to do.
 */
export function coverSettle(e: EngineState, holder: LedgerAccount, amount: bigint): void {
  if (amount <= 0n || holder.balance >= amount) return;
  const silo = holder.owner;
  if (silo instanceof Silo && silo.bucket === holder && silo.holdings.size > 0)
    convertHoldings(e, silo, amount, 'shortfall');
}

/**
 * After `m`'s index moved (prices.ts): the holders of what it prices that the move took to their key, and those not
 * filed since their silo changed, are checked exactly in this command (their buckets count as touched, so the
 * re-filing stage looks at them: liquidation.ts refileDirty) — in account and silo order, whatever the index's.
 */
export function touchHolders(e: EngineState, m: Market): void {
  if (e.collateralAssets.size === 0) return;
  const index = m.oracle?.index ?? null;
  if (index === null) return;
  let due: Silo[] | null = null;
  for (const c of e.collateralAssets.values()) {
    if (c.priceMarket !== m.symbol || c.holders.size === 0) continue;
    due ??= [];
    for (const s of c.index.takeCrossed(index)) due.push(s);
    for (const s of c.index.stale) due.push(s);
  }
  if (due === null || due.length === 0) return;
  due.sort((x, y) => x.account.n - y.account.n || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  for (const s of due) e.ledger.touched.add(s.bucket);
}

/** The silo changed: each of its holdings is to be re-filed (it is looked at on its index's next move until then). */
export function staleHoldings(e: EngineState, silo: Silo): void {
  for (const asset of silo.holdings.keys()) collateralAsset(e, asset, silo.asset)?.index.stale.add(silo);
}

/** The silo's priced, non-empty holdings: how many shares of its surplus they take in its filing. */
export function pricedHoldings(e: EngineState, silo: Silo): number {
  let n = 0;
  for (const [asset, h] of silo.holdings) {
    const c = h.balance > 0n ? collateralAsset(e, asset, silo.asset) : null;
    if (c !== null && collateralPrice(e, c) !== null) n++;
  }
  return n;
}

/**
 * Files each of the silo's holdings in its asset's holder index (liquidation.ts fileCrossKeys): at the highest index
 * at which the holding's value has fallen by its `share` of the silo's surplus since now (or by `topUpShare`, the
 * share of its surplus over a top-up threshold, when that is higher); `null`: looked at on every move (the silo is
 * due now, or its model is not a sum of shares). A holding whose whole value is below its share is never due by
 * its price alone and is not filed. `legs`: false — nothing to liquidate, nothing filed.
 */
export function fileHoldings(
  e: EngineState,
  silo: Silo,
  legs: boolean,
  share: bigint | null,
  topUpShare: bigint | null,
): void {
  for (const [asset, h] of silo.holdings) {
    const c = collateralAsset(e, asset, silo.asset);
    if (c === null) continue;
    c.index.stale.delete(silo);
    const p = collateralPrice(e, c);
    if (!legs || h.balance <= 0n || p === null) {
      c.index.remove(silo);
      continue;
    }
    if (share === null) {
      c.index.put(silo, EVERY_MOVE);
      continue;
    }
    const at = dueAt(e, c, h.balance, p, share);
    const top = topUpShare === null ? null : dueAt(e, c, h.balance, p, topUpShare);
    const key = top !== null && (at === null || top > at) ? top : at;
    if (key === null) c.index.remove(silo);
    else c.index.put(silo, key);
  }
}

/** The highest index at which `amount` has lost `share` of its value at `p` (bisection); null: never. */
function dueAt(e: EngineState, c: CollateralAsset, amount: bigint, p: Priced, share: bigint): bigint | null {
  const now = countedAt(e, c, amount, p);
  const lost = (price: bigint) => now - countedAt(e, c, amount, { ...p, price }) >= share;
  if (lost(p.price)) return p.price;
  if (!lost(0n)) return null;
  let bad = 0n;
  let safe = p.price;
  while (safe - bad > 1n) {
    const mid = (safe + bad) / 2n;
    if (lost(mid)) bad = mid;
    else safe = mid;
  }
  return bad;
}

// ---------------------------------------------------------------------------------------------------------
// setCollateralAsset

/** Validates setCollateralAsset in full; the asset as it will stand (holders carried over from an earlier setting). */
export function parseCollateralAsset(e: EngineState, cmd: Cmd<'setCollateralAsset'>): CollateralAsset {
  const bad = (msg: string): never => {
    throw new Rejection('INVALID_COMMAND', msg);
  };
  if (typeof cmd.asset !== 'string' || !/^[A-Z0-9]{2,12}$/.test(cmd.asset))
    bad('asset must be 2–12 upper-case letters or digits');
  const settleDp = typeof cmd.settle === 'string' ? e.assets.get(cmd.settle) : undefined;
  if (settleDp === undefined)
    throw new Rejection('UNKNOWN_ASSET', `unknown settle asset ${JSON.stringify(cmd.settle)}`);
  if (cmd.asset === cmd.settle) bad('a silo already counts its settle asset in full');
  const known = e.assets.get(cmd.asset);
  const dp = cmd.dp ?? known;
  if (dp === undefined || !Number.isInteger(dp) || dp < 0 || dp > 18)
    bad('dp: the asset is new here, give its decimals (0–18)');
  if (known !== undefined && dp !== known) bad(`asset ${cmd.asset} already uses ${known} decimals`);
  const m = typeof cmd.priceMarket === 'string' ? e.markets.get(cmd.priceMarket) : undefined;
  if (m === undefined)
    throw new Rejection('UNKNOWN_MARKET', `unknown market ${JSON.stringify(cmd.priceMarket)}`);
  if (m.oracle === null || m.option !== null || m.inst.kind !== 'linear' || m.inst.type !== 'perpetual')
    bad(`${m.symbol} cannot price collateral: a linear perpetual with an oracle can`);
  if (m.inst.baseAsset !== cmd.asset || m.asset !== cmd.settle)
    bad(`${m.symbol} prices ${m.inst.baseAsset} in ${m.asset}, not ${cmd.asset} in ${String(cmd.settle)}`);
  let bands: HaircutBand[];
  let penalty: bigint;
  try {
    const table = cmd.haircuts ?? DEFAULT_HAIRCUTS[cmd.asset];
    if (table === undefined) bad(`haircuts: no default for ${cmd.asset}, give its bands`);
    bands = parseBands(table, 'haircuts', settleDp);
    if (bands[0]!.ratio <= 0n) bad('haircuts: the first band must count for something');
    const maxPenalty = RATE_ONE - bands[0]!.ratio;
    penalty =
      cmd.conversionPenalty === undefined
        ? maxPenalty
        : parseDecimal(cmd.conversionPenalty, 'conversionPenalty', { dp: RATE_DP, maxAbs: RATE_ONE });
    if (penalty < 0n || penalty > maxPenalty)
      bad(`conversionPenalty: 0 to the first band's haircut (${formatDecimal(maxPenalty, RATE_DP)})`);
  } catch (err) {
    if (err instanceof InputError) throw new Rejection('INVALID_COMMAND', err.message);
    throw err;
  }
  if (cmd.enabled !== undefined && typeof cmd.enabled !== 'boolean') bad('enabled must be true or false');
  const before = collateralAsset(e, cmd.asset, cmd.settle);
  return {
    asset: cmd.asset,
    settle: cmd.settle,
    dp: dp as number,
    priceMarket: m.symbol,
    bands: bands!,
    penalty: penalty!,
    enabled: cmd.enabled ?? true,
    holders: before?.holders ?? new Set(),
    index: before?.index ?? new HolderIndex(),
  };
}
