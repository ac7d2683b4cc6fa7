/**
 * The `vaults` policy (issue 24, docs/vaults.md): isolated, plus three vaults created at the start and a seeded
 * share of the traders who put money into one of them. Everyone trades exactly as under `isolated`; a depositor gets
 * its stake on top of its deposit and moves it into its vault at the first point, so its own account (free balance,
 * positions) is the isolated trader's, and only the stake rides on the manager.
 *
 * The managers trade BTCUSDT (the replayed market) through the engine as the vault accounts (`vault:<id>`), against
 * the desk at the point's price like the traders, in cross margin (the whole vault backs its position, so a
 * liquidation takes the vault, never a depositor), under the vault's limits (allowed market, max leverage). Each
 * decides once an hour (the first point of each UTC hour), from the hourly closes so far, a target position as a
 * multiple of its NAV, and trades the difference when it is at least a tenth of the NAV (a flip: reduce-only close,
 * then the open):
 *
 * - `trend`: a leveraged trend follower — 15× NAV long when the 6-hour mean of the hourly closes is above the
 *   24-hour one, 15× short otherwise (limit 20×), sized when it enters or flips and then held, no stop: a sharp
 *   reversal liquidates it.
 * - `maker`: conservative, market-making style inventory — against the move away from the 24-hour mean, ½× NAV per
 *   1% of deviation, at most 1× (limit 2×): it buys dips and sells rallies as a quoting desk's inventory does.
 * - `shortvol`: an options writer's proxy (the options markets run in the options policies' own runner, not on this
 *   venue): the delta of a short straddle struck at each UTC day's first hourly close, re-hedged hourly — 1× NAV
 *   against the move per 1% from the strike, at most 3× (limit 4×); no premium is collected, so it shows the short-
 *   gamma losses a writer's premium must pay for.
 *
 * At the last point each manager closes its position and every depositor whose lock-up has passed redeems all its
 * shares (the performance fee is charged then). Fees: 2% a year management, 20% performance; lock-up a day.
 */
import { formatDecimal, pow10 } from '../core/fixed.ts';
import type { Instrument } from '../core/instrument.ts';
import { notional } from '../core/margin.ts';
import type { Engine } from '../engine/engine.ts';
import type { EngineEvent } from '../engine/types.ts';
import { NPS_ONE, navPerShare, SHARE_DP, VAULT_PREFIX, type Vault, vaultNav } from '../engine/vaults.ts';
import type { Population } from './population.ts';
import { Rng } from './rng.ts';

/** The depositors' stream (rng.ts's STREAM holds the others; a distinct number keeps their draws apart). */
const VAULT_STREAM = 0x7661;
/** Share of the traders who deposit into a vault. */
export const VAULT_DEPOSITOR_SHARE = 0.2;
/** A depositor's stake: half its own deposit (rounded down to a cent), at least 10 USDT. */
const MIN_STAKE = 10n * 10n ** 8n;
const CENT = 10n ** 6n;
export const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export type VaultStrategy = 'trend' | 'maker' | 'shortvol';

export interface SimVault {
  id: VaultStrategy;
  manager: string;
  description: string;
  /** createVault's maxLeverage, and the leverage set on BTCUSDT (cross initial margin). */
  maxLeverage: string;
  leverage: string;
}

export const SIM_VAULTS: readonly SimVault[] = [
  {
    id: 'trend',
    manager: 'mgr.trend',
    description:
      'leveraged trend follower: 15× NAV long when the 6-hour mean of hourly closes is above the 24-hour mean, short otherwise, held until the signal flips; no stop (limit 20×)',
    maxLeverage: '20',
    leverage: '20',
  },
  {
    id: 'maker',
    manager: 'mgr.maker',
    description:
      'conservative market-making style inventory: against the move away from the 24-hour mean, ½× NAV per 1%, at most 1× (limit 2×)',
    maxLeverage: '2',
    leverage: '5',
  },
  {
    id: 'shortvol',
    manager: 'mgr.shortvol',
    description:
      'options-writer proxy: the delta of a short straddle struck at each day’s first hourly close, re-hedged hourly, 1× NAV per 1% from the strike, at most 3×, no premium (limit 4×)',
    maxLeverage: '4',
    leverage: '5',
  },
];

export const VAULT_TERMS = { lockupMs: DAY_MS, performanceFee: '0.2', managementFee: '0.02' } as const;

/** Who deposits into which vault, and how much (settle units): planned once per population. */
export interface VaultPlan {
  /** Per trader: the vault index (-1: none) and the stake. */
  vault: Int8Array;
  stake: bigint[];
}

/** Draws the depositors: trader i's draws come from its own stream, so they do not depend on the population size. */
export function planVaults(seed: number, population: Population, share = VAULT_DEPOSITOR_SHARE): VaultPlan {
  const n = population.traders.length;
  const vault = new Int8Array(n).fill(-1);
  const stake = new Array<bigint>(n).fill(0n);
  population.traders.forEach((t, i) => {
    const rng = Rng.forItem(seed, VAULT_STREAM, t.index);
    if (rng.next() >= share) return;
    vault[i] = rng.below(SIM_VAULTS.length);
    const half = (t.deposit / 2n / CENT) * CENT;
    stake[i] = half > MIN_STAKE ? half : MIN_STAKE;
  });
  return { vault, stake };
}

/**
 * A vault's target position from the hourly closes so far (oldest first, the last is now) as a multiple of its
 * NAV, in basis points (signed: + long); null: not enough history yet (no trade).
 */
export function targetBp(strategy: VaultStrategy, closes: readonly number[], strike: number): number | null {
  const n = closes.length;
  const mean = (k: number) => {
    let s = 0;
    for (let i = n - k; i < n; i++) s += closes[i]!;
    return s / k;
  };
  const clamp = (x: number, cap: number) => Math.max(-cap, Math.min(cap, x));
  const p = closes[n - 1]!;
  switch (strategy) {
    case 'trend':
      if (n < 24) return null;
      return mean(6) > mean(24) ? 150_000 : -150_000;
    case 'maker':
      if (n < 24) return null;
      return Math.round(clamp(-(p / mean(24) - 1) * 50, 1) * 10_000);
    case 'shortvol':
      if (!(strike > 0)) return null;
      return Math.round(clamp(-(p / strike - 1) * 100, 3) * 10_000);
  }
}

/** What the report and the summary need of one vault (money in settle units, NAV per share at NPS scale). */
export interface VaultFigures {
  id: string;
  depositors: number;
  staked: bigint;
  /** Hourly samples: time (ms) and NAV per share in USDT (display floats). */
  times: number[];
  navPerShare: number[];
  /** NAV per share before the redemptions of the last point (NPS_ONE scale), the lowest sampled, and the NAV then. */
  finalNps: bigint;
  lowNps: bigint;
  finalNav: bigint;
  liquidations: number;
  /** The first liquidation's time (ms), or null. */
  liquidatedAt: number | null;
  /** Manager orders the engine refused, by code (VAULT_LIMIT, margin…), and trades done. */
  rejected: Record<string, number>;
  trades: number;
  fees: { management: { shares: bigint; value: bigint }; performance: { shares: bigint; value: bigint } };
  /** Paid out to depositors at the end, and the value of the shares still held (at the final NAV, rounded down). */
  redeemed: bigint;
  held: bigint;
  /** The manager's fee shares' value at the end. */
  managerValue: bigint;
  /** Transfers out of any trader's or manager's free balance while this vault was being liquidated (must be 0). */
  breaches: number;
}

export interface VaultsResult {
  vaults: VaultFigures[];
  /** Per trader (population order): the stake and what it came back as (redeemed + shares held at the end). */
  stake: bigint[];
  returned: bigint[];
  /** The part of `returned` still in shares (counted in the trader's final equity at the final NAV). */
  held: bigint[];
}

/** NAV per share (NPS_ONE scale) as USDT per share, rounded down to 8 decimals. */
export function npsText(nps: bigint, settleDp: number): string {
  // USDT base units per share base unit × 10¹⁸ → USDT per share: × 10^SHARE_DP / 10^settleDp.
  return formatDecimal((nps * pow10(SHARE_DP)) / NPS_ONE, settleDp);
}

/**
 * Follows the vaults through a run: the managers' decisions, the NAV-per-share samples, the fee and liquidation
 * events, and the isolation check on the vaults' liquidations.
 */
export class VaultWatch {
  readonly figures: VaultFigures[];
  private readonly byAccount = new Map<string, number>();
  private readonly closes: number[] = [];
  private strike = 0;
  private lastHour = -1;
  private lastDay = -1;
  /** The vault being liquidated in the command being read (index), or -1. */
  private liquidating = -1;
  private readonly people: Set<string>;
  /** What each depositor was paid by its vault (the `vaultWithdraw` events). */
  private readonly payouts = new Map<string, bigint>();

  constructor(
    private readonly engine: Engine,
    private readonly inst: Instrument,
    private readonly settleDp: number,
    plan: VaultPlan,
    traderIds: readonly string[],
  ) {
    this.figures = SIM_VAULTS.map((v, i) => {
      let depositors = 0;
      let staked = 0n;
      plan.vault.forEach((x, t) => {
        if (x === i) {
          depositors++;
          staked += plan.stake[t]!;
        }
      });
      this.byAccount.set(`${VAULT_PREFIX}${v.id}`, i);
      return {
        id: v.id,
        depositors,
        staked,
        times: [],
        navPerShare: [],
        finalNps: 0n,
        lowNps: 0n,
        finalNav: 0n,
        liquidations: 0,
        liquidatedAt: null,
        rejected: {},
        trades: 0,
        fees: { management: { shares: 0n, value: 0n }, performance: { shares: 0n, value: 0n } },
        redeemed: 0n,
        held: 0n,
        managerValue: 0n,
        breaches: 0,
      };
    });
    this.people = new Set([...traderIds, ...SIM_VAULTS.map((v) => v.manager)]);
  }

  vault(i: number): Vault {
    return this.engine.vaults.get(SIM_VAULTS[i]!.id)!;
  }

  nps(i: number): bigint {
    const v = this.vault(i);
    return navPerShare(this.engine, v, vaultNav(this.engine, v), v.totalShares);
  }

  onEvents(events: readonly EngineEvent[], time: number): void {
    this.liquidating = -1;
    for (const ev of events) {
      if (ev.type === 'liquidationStarted') {
        const i = this.byAccount.get(ev.account) ?? -1;
        this.liquidating = i;
        if (i >= 0) {
          const f = this.figures[i]!;
          f.liquidations++;
          f.liquidatedAt ??= time;
        }
      } else if (ev.type === 'autoAddMargin' || ev.type === 'marginCall') this.liquidating = -1;
      else if (ev.type === 'vaultFee') {
        const i = SIM_VAULTS.findIndex((v) => v.id === ev.vault);
        const fee = this.figures[i]!.fees[ev.kind];
        fee.shares += ev.shares;
        fee.value += ev.value;
      } else if (ev.type === 'vaultWithdraw') {
        const i = SIM_VAULTS.findIndex((v) => v.id === ev.vault);
        this.figures[i]!.redeemed += ev.amount;
        this.payouts.set(ev.account, (this.payouts.get(ev.account) ?? 0n) + ev.amount);
      } else if (ev.type === 'transfer' && this.liquidating >= 0) {
        if (ev.reason === 'funding' || ev.reason === 'fundingResidue') continue;
        const c = ev.from.indexOf(':');
        const owner = c < 0 ? ev.from : ev.from.slice(0, c);
        const kind = ev.from.slice(c + 1, ev.from.indexOf(':', c + 1));
        if (this.people.has(owner) && (kind === 'main' || kind === 'reserved'))
          this.figures[this.liquidating]!.breaches++;
      }
    }
  }

  /** A manager's order refused or done. */
  onTrade(i: number, code: string | null): void {
    const f = this.figures[i]!;
    if (code === null) f.trades++;
    else f.rejected[code] = (f.rejected[code] ?? 0) + 1;
  }

  /**
   * At each point: whether a new UTC hour began (then the close is recorded, the NAV per share sampled, and the
   * managers decide); the strike resets at each new UTC day.
   */
  newHour(time: number, price: number): boolean {
    const hour = Math.floor(time / HOUR_MS);
    if (hour === this.lastHour) return false;
    this.lastHour = hour;
    const day = Math.floor(time / DAY_MS);
    if (day !== this.lastDay) {
      this.lastDay = day;
      this.strike = price;
    }
    this.closes.push(price);
    if (this.closes.length > 48) this.closes.shift();
    this.sample(time);
    return true;
  }

  sample(time: number): void {
    this.figures.forEach((f, i) => {
      const nps = this.nps(i);
      f.times.push(time);
      f.navPerShare.push(Number(npsText(nps, this.settleDp)));
      if (f.lowNps === 0n || nps < f.lowNps) f.lowNps = nps;
    });
  }

  /** Vault i's position in lots, signed (+ long), on the market, and its NAV. */
  position(i: number, symbol: string): { lots: bigint; nav: bigint } {
    const v = this.vault(i);
    let lots = 0n;
    for (const p of v.account.positions.values())
      if (p.market.symbol === symbol && p.sign !== 0) lots = (BigInt(p.sign) * p.size) / this.inst.lotSize;
    return { lots, nav: vaultNav(this.engine, v) };
  }

  /**
   * Vault i's target in lots at `price` (price units), or null: no trade now. The trend follower sizes only when it
   * enters or flips: while its signal agrees with its position it holds it, whatever its NAV did (no stop, no
   * de-leveraging).
   */
  target(i: number, price: bigint, nav: bigint, lots: bigint): bigint | null {
    const strategy = SIM_VAULTS[i]!.id;
    const bp = targetBp(strategy, this.closes, this.strike);
    if (bp === null || nav <= 0n) return null;
    if (strategy === 'trend' && lots !== 0n && lots > 0n === bp > 0) return null;
    const oneLot = notional(this.inst, this.inst.lotSize, price, 'ceil');
    const size = (nav * BigInt(Math.abs(bp))) / (oneLot * 10_000n);
    return bp < 0 ? -size : size;
  }

  /** Whether moving from `lots` to `target` is worth a trade: at least a tenth of the NAV, or closing. */
  worth(lots: bigint, target: bigint, price: bigint, nav: bigint): boolean {
    const diff = target > lots ? target - lots : lots - target;
    if (diff === 0n) return false;
    if (target === 0n) return true;
    return notional(this.inst, diff * this.inst.lotSize, price, 'ceil') * 10n >= nav;
  }

  /** The final figures: NAV per share and NAV before the redemptions (`finish` after them), fees, what came back. */
  beforeRedemptions(time: number): void {
    if (this.figures[0]!.times.at(-1) !== time) this.sample(time);
    this.figures.forEach((f, i) => {
      f.finalNps = this.nps(i);
      f.finalNav = vaultNav(this.engine, this.vault(i));
    });
  }

  finish(plan: VaultPlan, traderIds: readonly string[]): VaultsResult {
    const stake = plan.stake.slice();
    const returned = new Array<bigint>(traderIds.length).fill(0n);
    const held = new Array<bigint>(traderIds.length).fill(0n);
    const value = (i: number, shares: bigint) => {
      const v = this.vault(i);
      const nav = vaultNav(this.engine, v);
      return v.totalShares === 0n || nav <= 0n ? 0n : (shares * nav) / v.totalShares;
    };
    this.figures.forEach((f, i) => {
      const v = this.vault(i);
      f.managerValue = value(i, v.depositors.get(v.manager)?.shares ?? 0n);
    });
    traderIds.forEach((id, t) => {
      const i = plan.vault[t]!;
      if (i < 0) return;
      const h = value(i, this.vault(i).depositors.get(id)?.shares ?? 0n);
      this.figures[i]!.held += h;
      held[t] = h;
      returned[t] = h + (this.payouts.get(id) ?? 0n);
    });
    return { vaults: this.figures, stake, returned, held };
  }
}
