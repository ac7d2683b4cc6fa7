/** Shared fixtures for engine tests: markets, a command helper that asserts acceptance, and invariant checks. */
import assert from 'node:assert/strict';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import type { ApplyResult, Command, MarketConfig } from '../../src/engine/types.ts';

export const BTCUSDT: MarketConfig = {
  symbol: 'BTCUSDT', kind: 'linear', base: 'BTC', quote: 'USDT', tickSize: '0.1', lotSize: '0.001', settleDp: 8,
  maxLeverage: '125', takerFee: '0.0005', makerFee: '0.0002', limitBand: '0.2', marketBand: '0.05', defaultLeverage: '10',
  risk: { kind: 'brackets', tiers: [
    { cap: '50000', mmr: '0.004', maxLeverage: '125' }, { cap: '250000', mmr: '0.005', maxLeverage: '100' },
    { cap: '1000000', mmr: '0.01', maxLeverage: '50' }, { cap: '10000000', mmr: '0.025', maxLeverage: '20' },
    { cap: null, mmr: '0.05', maxLeverage: '10' } ] },
};
export const ETHUSDT: MarketConfig = {
  ...BTCUSDT, symbol: 'ETHUSDT', base: 'ETH', tickSize: '0.01', lotSize: '0.01', makerFee: '-0.0001',
};
export const BTCUSD: MarketConfig = {
  symbol: 'BTCUSD', kind: 'inverse', base: 'BTC', quote: 'USD', tickSize: '0.5', lotSize: '1', multiplier: '1', settleDp: 8,
  maxLeverage: '100', takerFee: '0.00075', makerFee: '-0.00025', defaultLeverage: '10', limitBand: '0.2',
  risk: { kind: 'brackets', tiers: [{ cap: '200', mmr: '0.005', maxLeverage: '100' }, { cap: null, mmr: '0.01', maxLeverage: '50' }] },
};

let clock = 1_700_000_000_000;
export function t(): number {
  clock += 1;
  return clock;
}

export type Cmd = Command extends infer C ? (C extends { time: number } ? Omit<C, 'time'> : never) : never;

export function ok(e: Engine, cmd: Cmd): Extract<ApplyResult, { ok: true }> {
  const r = e.apply({ ...cmd, time: t() } as Command);
  if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
  return r;
}

export function rejected(e: Engine, cmd: Cmd, code: string): void {
  const before = stateHash(e);
  const r = e.apply({ ...cmd, time: t() } as Command);
  assert.equal(r.ok, false, `${cmd.type} should be rejected with ${code}`);
  if (!r.ok) assert.equal(r.code, code, r.message);
  assert.equal(stateHash(e), before, 'a rejected command must not change state');
}

export function engineWithMarkets(...markets: MarketConfig[]): Engine {
  const e = new Engine();
  for (const m of markets.length ? markets : [BTCUSDT]) ok(e, { type: 'createMarket', market: m });
  return e;
}

export function checkInvariants(e: Engine): void {
  const v = e.ledger.verify();
  assert.ok(v.ok, v.problems.join('; '));
  for (const m of e.markets.values()) {
    let longs = 0;
    let shorts = 0;
    for (const a of e.accounts.values()) {
      const p = a.positions.get(m.symbol);
      if (!p) continue;
      if (p.sign > 0) longs += p.lots;
      if (p.sign < 0) shorts += p.lots;
      assert.ok(p.bucket.balance >= 0n, `${p.bucket.label} negative`);
    }
    assert.equal(longs, shorts, `${m.symbol}: long and short lots differ`);
    assert.equal(m.openInterestLots, longs, `${m.symbol}: open interest`);
  }
}
