/**
 * Option legs in a `netted` silo stand alone (their offsets are the strategy models', issue 18) — also when the leg is
 * hypothetical: the first leg of a combo or an order on an option market the silo never held. Alice holds a long 1 BTC
 * perpetual in a netted silo; she sells the 100k call and buys the 110k call. Netted as if the short call were a
 * short perpetual, it would offset the long perpetual and ask far less than the legs' own requirements; the silo's
 * requirement is the perpetual's own plus the options' own, and the combo's margin check quotes exactly that.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { siloFigures } from '../../src/engine/silos.ts';
import type { ApplyResult } from '../../src/engine/types.ts';
import { fmt, type LegSpec, leg, PERP, usdt, Venue } from './strategy-silos-kit.ts';

const T = { timeout: 60_000 };

/** Sell the 100k call, buy the 110k call (1 BTC each). */
const CALLS: LegSpec[] = [leg('sell', 100_000, 'C'), leg('buy', 110_000, 'C')];
const LONG_PERP: LegSpec = { symbol: PERP, side: 'buy', size: '1' };

/** A netted silo `id` holding a long 1 BTC perpetual, with `collateral` in it. */
function withPerp(v: Venue, id: string, collateral: string): void {
  v.ok({ type: 'createSilo', account: 'alice', silo: id, asset: 'USDT', riskModel: 'netted' });
  v.ok({ type: 'transferCollateral', account: 'alice', from: 'free', to: id, amount: collateral });
  v.open([LONG_PERP], id);
}

/** mm quotes each leg at its mark; Alice takes them all with one combo into silo `id`. */
function comboAtMarks(v: Venue, id: string, legs: readonly LegSpec[]): ApplyResult {
  const quotes = legs.map((l) => {
    const price = v.quote(l.symbol, l.side);
    const side = l.side === 'buy' ? ('sell' as const) : ('buy' as const);
    v.ok({
      type: 'placeOrder',
      account: 'mm',
      symbol: l.symbol,
      side,
      orderType: 'limit',
      price,
      size: l.size,
    });
    return { symbol: l.symbol, side: l.side, size: l.size, price };
  });
  return v.apply({ type: 'placeCombo', account: 'alice', silo: id, legs: quotes });
}

/** The requirement of the perpetual plus the two calls, each on its own: read from a silo that holds them. */
function ownRequirements(): bigint {
  const v = new Venue();
  withPerp(v, 'rich', '100000');
  const r = comboAtMarks(v, 'rich', CALLS);
  assert.ok(r.ok, r.ok ? '' : `${r.code} ${r.message}`);
  const f = siloFigures(v.e, v.silo('rich'));
  assert.equal(f.initialMargin, f.standaloneInitialMargin, 'held options stand alone in a netted silo');
  return f.initialMargin;
}

describe('a netted silo: a new option leg stands alone', T, () => {
  test(
    'long 1 BTC perpetual in a netted silo, sell the 100k / buy the 110k call as a combo: the check counts the short call standalone, not as a hedge of the perpetual',
    T,
    () => {
      const need = ownRequirements();
      const short = new Venue();
      withPerp(short, 'hedge', fmt(need - 1n));
      const r = comboAtMarks(short, 'hedge', CALLS);
      assert.equal(r.ok, false, 'one unit short of the legs’ own requirements');
      if (r.ok) return;
      assert.equal(r.code, 'INSUFFICIENT_MARGIN', r.message);
      assert.match(
        r.message,
        new RegExp(`initial margin from [\\d.]+ USDT to ${fmt(need).replace('.', '\\.')} USDT`),
      );

      const exact = new Venue();
      withPerp(exact, 'hedge', fmt(need));
      const ok = comboAtMarks(exact, 'hedge', CALLS);
      assert.ok(ok.ok, ok.ok ? '' : `${ok.code} ${ok.message}`);
      assert.equal(siloFigures(exact.e, exact.silo('hedge')).available, 0n);
    },
  );

  test(
    'the same short call as an order into the netted silo: its own initial margin on top of the perpetual’s',
    T,
    () => {
      const v = new Venue();
      withPerp(v, 'rich', '100000');
      const perp = siloFigures(v.e, v.silo('rich')).initialMargin;
      v.open([CALLS[0]!], 'rich');
      const f = siloFigures(v.e, v.silo('rich'));
      assert.equal(f.initialMargin, f.standaloneInitialMargin);
      const call = f.initialMargin - perp;

      // With the silo one unit short of both legs' own requirements the order is refused: nothing is netted away
      // (the order's own figure is at its price, a tick above the mark, so it is a little above the read's).
      const short = new Venue();
      withPerp(short, 'hedge', fmt(f.initialMargin - 1n));
      const r = short.take(CALLS[0]!, 'hedge');
      assert.equal(r.ok, false, 'one unit short');
      if (r.ok) return;
      assert.equal(r.code, 'INSUFFICIENT_MARGIN', r.message);
      const needs = /order needs ([\d.]+) USDT/.exec(r.message);
      assert.ok(needs && usdt(needs[1]!) >= call, r.message);
      const room = new Venue();
      withPerp(room, 'hedge', fmt(f.initialMargin + usdt('1')));
      room.open([CALLS[0]!], 'hedge');
    },
  );
});
