/**
 * Per-market funding state, settled lazily.
 *
 * The market keeps a cumulative funding index (settle units × 10^FUNDING_INDEX_DP per whole unit of size). At each
 * funding time the index advances by price × rate (one O(1) step, however many positions are open); a position
 * remembers the index it last settled at and pays or receives the difference whenever it is touched (a fill, a
 * margin change, a liquidation check, an explicit settle). So a funding time never scans positions.
 *
 * The premium is sampled on every index update from the book's impact bid/ask at the impact notional and
 * averaged over the interval by time (each sample weighted by how long it stood).
 */
import { div } from '../core/fixed.ts';
import { type FundingCap, fundingIndexDelta, intervalRate, premiumIndex } from '../core/funding.ts';
import type { Instrument } from '../core/instrument.ts';

export interface FundingConfig {
  intervalMs: number;
  interestRate: bigint;
  clamp: bigint;
  cap: FundingCap;
  /** Impact notional in settle units: how deep the impact bid/ask look. */
  impactNotional: bigint;
  /** Which price values a unit for funding: the index (Hyperliquid: oracle) or the mark (Binance). */
  priceSource: 'index' | 'mark';
}

export interface FundingRecord {
  time: number;
  rate: bigint;
  price: bigint;
}

/** A FundingState's fields as plain data (snapshots); history as [time, rate, price]. */
export interface FundingStateData {
  cumIndex: bigint;
  epoch: number;
  nextTime: number;
  lastRate: bigint;
  twNum: bigint;
  twDen: bigint;
  premium: bigint | null;
  premiumTime: number;
  history: [time: number, rate: bigint, price: bigint][];
}

/** Funding history kept per market (the journal keeps it all). */
export const FUNDING_HISTORY = 500;

export class FundingState {
  cumIndex = 0n;
  /** Counts index moves: a position is settled when its epoch matches, whatever the index values (+d then −d). */
  epoch = 0;
  nextTime: number;
  lastRate = 0n;
  private twNum = 0n;
  private twDen = 0n;
  private premium: bigint | null = null;
  private premiumTime = 0;
  readonly history: FundingRecord[] = [];

  constructor(
    readonly cfg: FundingConfig,
    startTime: number,
  ) {
    // Funding times are aligned to the interval (00:00, 08:00, 16:00 UTC for 8h).
    this.nextTime = (Math.floor(startTime / cfg.intervalMs) + 1) * cfg.intervalMs;
  }

  /** Records a premium sample at `now`; the previous sample is weighted by the time it stood. */
  sample(impactBid: bigint | null, impactAsk: bigint | null, index: bigint, now: number): void {
    this.accrue(now);
    this.premium = premiumIndex(impactBid, impactAsk, index);
    this.premiumTime = now;
  }

  private accrue(now: number): void {
    if (this.premium !== null && now > this.premiumTime) {
      const dt = BigInt(now - this.premiumTime);
      this.twNum += this.premium * dt;
      this.twDen += dt;
      this.premiumTime = now;
    }
  }

  /** Canonical text of every field (state hash, snapshots). */
  canonical(): string {
    return [
      this.cumIndex,
      this.epoch,
      this.nextTime,
      this.lastRate,
      this.twNum,
      this.twDen,
      this.premium,
      this.premiumTime,
    ].join(',');
  }

  /** Every field, the private premium accumulators included (snapshots). */
  exportState(): FundingStateData {
    return {
      cumIndex: this.cumIndex,
      epoch: this.epoch,
      nextTime: this.nextTime,
      lastRate: this.lastRate,
      twNum: this.twNum,
      twDen: this.twDen,
      premium: this.premium,
      premiumTime: this.premiumTime,
      history: this.history.map((h) => [h.time, h.rate, h.price]),
    };
  }

  /** Puts back what `exportState` returned (the config comes from the market, as at creation). */
  restoreState(s: FundingStateData): void {
    this.cumIndex = s.cumIndex;
    this.epoch = s.epoch;
    this.nextTime = s.nextTime;
    this.lastRate = s.lastRate;
    this.twNum = s.twNum;
    this.twDen = s.twDen;
    this.premium = s.premium;
    this.premiumTime = s.premiumTime;
    this.history.length = 0;
    for (const [time, rate, price] of s.history) this.history.push({ time, rate, price });
  }

  averagePremium(): bigint {
    return this.twDen === 0n ? (this.premium ?? 0n) : div(this.twNum, this.twDen, 'trunc');
  }

  /** Skips the interval due at `nextTime` (oracle paused or no price): nothing accrues, the premium window restarts. */
  skipInterval(): void {
    this.twNum = 0n;
    this.twDen = 0n;
    this.lastRate = 0n;
    this.nextTime += this.cfg.intervalMs;
  }

  /** Runs the funding due at `nextTime`: fixes the rate, advances the index, starts the next interval. */
  settleInterval(inst: Instrument, price: bigint): FundingRecord {
    this.accrue(this.nextTime);
    const rate = intervalRate(this.averagePremium(), this.cfg);
    const delta = fundingIndexDelta(inst, price, rate);
    this.cumIndex += delta;
    if (delta !== 0n) this.epoch += 1;
    this.lastRate = rate;
    const rec = { time: this.nextTime, rate, price };
    this.history.push(rec);
    if (this.history.length > FUNDING_HISTORY) this.history.shift();
    this.twNum = 0n;
    this.twDen = 0n;
    this.nextTime += this.cfg.intervalMs;
    return rec;
  }
}
