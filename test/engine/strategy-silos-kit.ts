/**
 * A venue for strategy-silo stories (issue 18): the BTCUSDT perpetual (its mark is the options' forward), a linear
 * BTC option chain without fees, a market maker `mm` (cross, deep pockets) that quotes every leg at its mark, and
 * Alice, who opens strategies in a named silo by taking those quotes. Its own clock; every accepted command keeps the
 * ledger balanced (engineProblems).
 */
import assert from 'node:assert/strict';
import { formatDecimal, parseDecimal } from '../../src/core/fixed.ts';
import type { Silo } from '../../src/engine/account.ts';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { silosOf } from '../../src/engine/readmodel.ts';
import type { ApplyResult, Command, EngineEvent, SiloRiskModel } from '../../src/engine/types.ts';
import { BTCUSDT, type Cmd, engineProblems } from './harness.ts';

export type Ok = Extract<ApplyResult, { ok: true }>;

export const START = Date.UTC(2026, 11, 1);
export const EXPIRY = Date.UTC(2026, 11, 8, 8);
export const PERP = 'BTCUSDT';
export const STRIKES = [80_000, 90_000, 95_000, 100_000, 105_000, 110_000, 120_000];
/** Settlement: the spot's TWAP over this window before expiry (the chain's setting). */
export const WINDOW_MS = 30 * 60_000;

export type OptionType = 'C' | 'P';
export const option = (strike: number, type: OptionType) => `BTC_USDT-20261208-${strike}-${type}`;

/** One leg of a strategy: an option (strike, type) or the perpetual, bought or sold, size in BTC. */
export interface LegSpec {
  symbol: string;
  side: 'buy' | 'sell';
  size: string;
}
export const leg = (side: 'buy' | 'sell', strike: number, type: OptionType, size = '1'): LegSpec => ({
  symbol: option(strike, type),
  side,
  size,
});

/** USDT (8 decimals) ↔ string. */
export const usdt = (s: string): bigint => parseDecimal(s, 'usdt', { dp: 8, signed: true });
export const fmt = (v: bigint): string => formatDecimal(v, 8);

export class Venue {
  readonly e = new Engine();
  now = START;
  /** Every event of every accepted command, in order. */
  readonly events: EngineEvent[] = [];

  constructor(spot = '100000', iv = '0.6') {
    this.ok({ type: 'createMarket', market: { ...BTCUSDT, takerFee: '0', makerFee: '0' } });
    this.ok({ type: 'setMarkPrice', symbol: PERP, price: spot });
    this.ok({
      type: 'createOptionChain',
      underlying: PERP,
      settle: 'linear',
      expiries: [EXPIRY],
      strikes: STRIKES.map(String),
      tickSize: '0.1',
      lotSize: '0.01',
      takerFee: '0',
      makerFee: '0',
      settlementWindowMs: WINDOW_MS,
    });
    this.vol(iv);
    this.ok({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '100000000' });
    for (const s of [PERP, ...STRIKES.flatMap((k) => [option(k, 'C'), option(k, 'P')])])
      this.ok({ type: 'setMarginMode', account: 'mm', symbol: s, mode: 'cross' });
    this.ok({ type: 'deposit', account: 'alice', asset: 'USDT', amount: '1000000' });
    this.ok({ type: 'fundInsurance', asset: 'USDT', amount: '1000000' });
  }

  apply(cmd: Cmd, dt = 1): ApplyResult {
    this.now += dt;
    const r = this.e.apply({ ...cmd, time: this.now } as Command);
    if (r.ok) {
      this.events.push(...r.events);
      assert.deepEqual(engineProblems(this.e), [], `after ${cmd.type}`);
    }
    return r;
  }

  ok(cmd: Cmd, dt = 1): Ok {
    const r = this.apply(cmd, dt);
    if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
    return r;
  }

  /** Refused with `code`, and nothing changed. */
  refused(cmd: Cmd, code: string): string {
    const before = stateHash(this.e);
    const r = this.apply(cmd);
    assert.equal(r.ok, false, `${cmd.type} should be refused ${code}`);
    if (r.ok) return '';
    assert.equal(r.code, code, r.message);
    assert.equal(stateHash(this.e), before, 'a refused command changes nothing');
    return r.message;
  }

  vol(iv: string, dt = 1): void {
    this.ok(
      {
        type: 'volQuote',
        underlying: PERP,
        expiry: EXPIRY,
        smile: { kind: 'strikes', ivs: { '100000': iv } },
      },
      dt,
    );
  }

  spot(price: string, dt = 1): Ok {
    return this.ok({ type: 'setMarkPrice', symbol: PERP, price }, dt);
  }

  /** A market's mark as a decimal string at its price decimals. */
  mark(symbol: string): string {
    const m = this.e.markets.get(symbol)!;
    return formatDecimal(m.mark!, m.inst.priceDp);
  }

  silo(id = 'box', owner = 'alice'): Silo {
    return this.e.accounts.get(owner)!.silos.get(id)!;
  }

  createSilo(model: SiloRiskModel, collateral: string, id = 'box'): void {
    this.ok({ type: 'createSilo', account: 'alice', silo: id, asset: 'USDT', riskModel: model });
    if (usdt(collateral) > 0n)
      this.ok({ type: 'transferCollateral', account: 'alice', from: 'free', to: id, amount: collateral });
  }

  /**
   * The mark on the market's tick grid on Alice's good side: a buy's rounded down, a sell's up (so an opening
   * fill never books a loss against the mark).
   */
  quote(symbol: string, side: 'buy' | 'sell'): string {
    const m = this.e.markets.get(symbol)!;
    const tick = m.inst.tickSize;
    const ticks = side === 'buy' ? m.mark! / tick : (m.mark! + tick - 1n) / tick;
    return formatDecimal(ticks * tick, m.inst.priceDp);
  }

  /** The mark moved by `ticks` of the market's tick (on the grid, rounded down first). */
  offMark(symbol: string, ticks: number): string {
    const m = this.e.markets.get(symbol)!;
    const tick = m.inst.tickSize;
    return formatDecimal((m.mark! / tick + BigInt(ticks)) * tick, m.inst.priceDp);
  }

  /** mm quotes the leg at its mark; Alice takes it into silo `id` (an IOC at the same price). */
  take(l: LegSpec, id = 'box'): ApplyResult {
    const price = this.quote(l.symbol, l.side);
    const quote = this.ok({
      type: 'placeOrder',
      account: 'mm',
      symbol: l.symbol,
      side: l.side === 'buy' ? 'sell' : 'buy',
      orderType: 'limit',
      price,
      size: l.size,
    });
    const r = this.apply({
      type: 'placeOrder',
      account: 'alice',
      symbol: l.symbol,
      side: l.side,
      orderType: 'limit',
      price,
      size: l.size,
      timeInForce: 'IOC',
      silo: id,
    });
    // What was not taken does not stay on the book.
    if (quote.orderId !== undefined && this.e.accounts.get('mm')!.orders.has(quote.orderId))
      this.ok({ type: 'cancelOrder', account: 'mm', symbol: l.symbol, orderId: quote.orderId });
    return r;
  }

  /** Opens every leg (each must be accepted and fill in full). */
  open(legs: readonly LegSpec[], id = 'box'): void {
    for (const l of legs) {
      const r = this.take(l, id);
      if (!r.ok) assert.fail(`${l.side} ${l.size} ${l.symbol} refused: ${r.code} ${r.message}`);
      const p = this.silo(id).positions.get(l.symbol);
      assert.ok(p && p.sign !== 0, `${l.symbol} did not open`);
    }
  }

  /** The named silo's read. */
  read(id = 'box') {
    const v = silosOf(this.e, 'alice').find((s) => s.id === id);
    assert.ok(v, `no silo ${id}`);
    return v;
  }

  /** Moves collateral out of the silo until it holds exactly `target` (what it can give back must allow it). */
  fundTo(target: bigint, id = 'box'): void {
    const extra = this.silo(id).bucket.balance - target;
    if (extra > 0n)
      this.ok({ type: 'transferCollateral', account: 'alice', from: id, to: 'free', amount: fmt(extra) });
    else if (extra < 0n)
      this.ok({ type: 'transferCollateral', account: 'alice', from: 'free', to: id, amount: fmt(-extra) });
  }

  /** Alice's liquidation events (any silo). */
  liquidations(): EngineEvent[] {
    return this.events.filter(
      (ev) =>
        (ev.type === 'liquidationStarted' || ev.type === 'liquidation' || ev.type === 'insuranceDraw') &&
        'account' in ev &&
        ev.account === 'alice',
    );
  }

  free(account = 'alice'): bigint {
    return this.e.accounts.get(account)!.wallets.get('USDT')!.main.balance;
  }
}

/** The standard strategies over the chain (1 BTC each), for stories and properties. */
export const STRATEGIES = {
  /** Short 100k / long 110k calls: a credit call spread (bear call). */
  creditCallSpread: [leg('buy', 110_000, 'C'), leg('sell', 100_000, 'C')],
  /** Short 95k / long 90k puts: a credit put spread (bull put). */
  creditPutSpread: [leg('buy', 90_000, 'P'), leg('sell', 95_000, 'P')],
  /** Long 90k put, short 95k put, short 105k call, long 110k call. */
  ironCondor: [
    leg('buy', 90_000, 'P'),
    leg('buy', 110_000, 'C'),
    leg('sell', 95_000, 'P'),
    leg('sell', 105_000, 'C'),
  ],
  /** Long 90k / 110k calls, short two 100k calls. */
  longCallButterfly: [leg('buy', 90_000, 'C'), leg('buy', 110_000, 'C'), leg('sell', 100_000, 'C', '2')],
  /** Short 90k put and short 110k call. */
  shortStrangle: [leg('sell', 90_000, 'P'), leg('sell', 110_000, 'C')],
} satisfies Record<string, LegSpec[]>;
