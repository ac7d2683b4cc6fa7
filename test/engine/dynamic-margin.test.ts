/**
 * Volatility-adjusted margin, as stories and properties:
 * - the EWMA of log returns: a steady 0.1% a minute is 72.5% a year; the factor is vol / referenceVol on a 1e-4 grid,
 *   clamped to [1, maxFactor], stepped by at most maxStep;
 * - the scaled risk rule: factor 1 is the instrument itself; at any factor every maintenance is at least factor × the
 *   static one, continuous across brackets, and max leverage falls;
 * - BTCUSDT at 20,000, reference vol 30%: calm minutes keep the factor at 1; a stormy hour is announced as a raise to
 *   1.5 at the next review, effective an hour later; a 50x long that the raise puts below maintenance is not touched
 *   during the notice, and is liquidated by the command that reaches the effective time; a calm week steps it back
 *   down, at once;
 * - random streams: the factor in force changes only at a review (down) or at an announced raise's time (up, after
 *   the full notice), nothing is ever left below maintenance after a command (the index is never late, raise or not),
 *   and replay and snapshot reproduce the state hash.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseDecimal } from '../../src/core/fixed.ts';
import { maintenanceMargin } from '../../src/core/margin.ts';
import { RATE_ONE } from '../../src/core/rates.ts';
import { scaleInstrument } from '../../src/core/risk-scale.ts';
import { annualVol, emptyEwma, observe, stepToward, volFactor } from '../../src/core/volatility.ts';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { instrumentOf } from '../../src/engine/market.ts';
import { restoreEngine, snapshotEngine } from '../../src/engine/snapshot.ts';
import type { Command, EngineEvent, MarketConfig } from '../../src/engine/types.ts';
import { BTCUSDT, type Cmd, dynamicBtcusdt, engineProblems } from './harness.ts';

const T = { timeout: 60_000 };
const MIN = 60_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5); // a multiple of the hour
const rate = (v: string) => parseDecimal(v, 'v', { dp: 10 });
const wad = (v: string) => parseDecimal(v, 'v', { dp: 18 });
const of = <K extends EngineEvent['type']>(events: EngineEvent[], type: K) =>
  events.filter((ev): ev is Extract<EngineEvent, { type: K }> => ev.type === type);

const DYNAMIC: MarketConfig = dynamicBtcusdt({
  reviewMs: HOUR,
  noticeMs: HOUR,
  sampleMs: MIN,
  minSamples: 10,
});

describe('the EWMA and the factor (core)', () => {
  test('a steady 0.1% a minute is ≈ 72.5% a year; 30% reference → factor 2.4155 (grid up), clamped to 2; steps of 0.5', () => {
    const s = emptyEwma();
    let p = 20_000n * 10n ** 8n;
    for (let i = 0; i <= 60; i++) {
      observe({ lambda: rate('0.94'), sampleMs: MIN }, s, p, T0 + i * MIN);
      p = (p * 1001n) / 1000n;
    }
    assert.equal(s.samples, 60);
    const vol = annualVol(s);
    // 0.001 (ln 1.001 = 0.0009995) × √525,600 = 0.7246.
    assert.ok(vol > wad('0.7245') && vol < wad('0.7247'), `vol ${vol}`);
    assert.equal(volFactor(vol, wad('0.3'), rate('10')), rate('2.4155'));
    assert.equal(volFactor(vol, wad('0.3'), rate('2')), rate('2'));
    assert.equal(volFactor(wad('0.1'), wad('0.3'), rate('2')), RATE_ONE, 'never below 1');
    assert.equal(stepToward(RATE_ONE, rate('2'), rate('0.5')), rate('1.5'));
    assert.equal(stepToward(rate('2'), RATE_ONE, rate('0.5')), rate('1.5'));
    assert.equal(stepToward(rate('1.2'), rate('1.1'), rate('0.5')), rate('1.1'));
    // Updates closer than sampleMs are not sampled.
    assert.equal(observe({ lambda: rate('0.94'), sampleMs: MIN }, s, p, T0 + 60 * MIN + 1_000), false);
  });

  test('scaled rules: factor 1 is the instrument; at 1.5 every maintenance ≥ 1.5 × the static one, continuous at the caps; max leverage falls', () => {
    const base = instrumentOf(BTCUSDT);
    assert.equal(scaleInstrument(base, RATE_ONE), base);
    const scaled = scaleInstrument(base, rate('1.5'));
    assert.ok(scaled.maxLeverage < base.maxLeverage);
    const price = 20_000n * 10n ** 8n;
    for (const btc of ['0.001', '1', '12.5', '49.999', '50', '50.001', '250', '1000', '5000']) {
      const size = parseDecimal(btc, 'size', { dp: base.sizeDp });
      const mm = maintenanceMargin(base, size, price);
      const mm2 = maintenanceMargin(scaled, size, price);
      assert.ok(mm2 * 2n >= mm * 3n, `${btc} BTC: ${mm2} < 1.5 × ${mm}`);
      assert.ok(mm2 * 100n <= mm * 151n + 100n, `${btc} BTC: ${mm2} far above 1.5 × ${mm}`);
    }
    if (scaled.risk.kind === 'tiers' && base.risk.kind === 'tiers')
      scaled.risk.tiers.forEach((t, i) => {
        const b = base.risk.kind === 'tiers' ? base.risk.tiers[i]! : t;
        assert.ok(t.mmr >= (b.mmr * 3n) / 2n && t.imr >= t.mmr && t.maxLeverage <= b.maxLeverage);
        const next = scaled.risk.kind === 'tiers' ? scaled.risk.tiers[i + 1] : undefined;
        // Continuous at the cap: both brackets' MM formulas agree there.
        if (next && t.cap !== null)
          assert.equal(t.cap * t.mmr - t.deductionRaw, t.cap * next.mmr - next.deductionRaw, `cap ${t.cap}`);
      });
  });
});

/** A venue on DYNAMIC, its clock driven by the test, every command recorded. */
function venue() {
  const e = new Engine();
  const log: Command[] = [];
  let now = T0;
  const run = (c: Cmd, time = now) => {
    now = Math.max(now, time);
    const cmd = { ...c, time: now } as Command;
    log.push(cmd);
    return e.apply(cmd);
  };
  const ok = (c: Cmd, time?: number) => {
    const r = run(c, time);
    if (!r.ok) assert.fail(`${c.type}: ${r.code} ${r.message}`);
    return r;
  };
  const quote = (price: number, time: number) =>
    ok({ type: 'oracleQuote', symbol: 'BTCUSDT', source: 'feed', price: price.toFixed(1) }, time);
  ok({ type: 'createMarket', market: DYNAMIC });
  quote(20_000, T0 + 1);
  return { e, log, run, ok, quote, now: () => now };
}

describe('dynamic margin in the engine', () => {
  test(
    'BTCUSDT, reference vol 30%: calm hour → factor 1; a stormy hour → raise to 1.5 announced at the review, applied an hour later; the 50x long it puts under water is untouched during the notice and liquidated when it applies; once the storm fades the reviews cut it back to 1, each cut at once',
    T,
    () => {
      const v = venue();
      const { e, ok, quote } = v;
      ok({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '10000000' });
      ok({ type: 'setLeverage', account: 'mm', symbol: 'BTCUSDT', leverage: '1' });
      ok({ type: 'fundInsurance', asset: 'USDT', amount: '100000' });
      ok({ type: 'deposit', account: 'tr', asset: 'USDT', amount: '1000' });
      ok({ type: 'setLeverage', account: 'tr', symbol: 'BTCUSDT', leverage: '50' });
      // A calm first hour: ±0.01% a minute (≈ 7% a year): no raise at the first review.
      for (let i = 1; i < 60; i++) quote(i % 2 === 0 ? 20_000 : 20_002, T0 + i * MIN);
      const first = ok({ type: 'tick' }, T0 + HOUR);
      assert.deepEqual(of(first.events, 'marginFactor'), []);
      assert.equal(e.markets.get('BTCUSDT')!.dynamicMargin!.factor, RATE_ONE);
      // The long: 1 BTC at 20,000, 50x (400 of margin; maintenance ~ 0.4% of notional).
      ok({
        type: 'placeOrder',
        account: 'mm',
        symbol: 'BTCUSDT',
        side: 'sell',
        orderType: 'limit',
        size: '1',
        price: '20000',
      });
      ok({
        type: 'placeOrder',
        account: 'tr',
        symbol: 'BTCUSDT',
        side: 'buy',
        orderType: 'limit',
        size: '1',
        price: '20000',
      });
      // A stormy second hour: ±1.5% a minute.
      for (let i = 1; i < 60; i++) quote(i % 2 === 0 ? 20_000 : 20_300, T0 + HOUR + i * MIN);
      const review = ok({ type: 'tick' }, T0 + 2 * HOUR);
      const [announced] = of(review.events, 'marginFactor');
      assert.ok(announced, 'a raise was announced');
      assert.equal(announced.status, 'announced');
      assert.equal(announced.factor, rate('1.5'), 'one step of 0.5');
      assert.equal(announced.previous, RATE_ONE);
      assert.equal(announced.effectiveAt, T0 + 3 * HOUR);
      assert.ok(announced.vol > wad('0.6'), `vol ${announced.vol}`);
      const m = e.markets.get('BTCUSDT')!;
      const d = m.dynamicMargin!;
      assert.equal(m.inst, m.baseInst, 'nothing changes before the notice has passed');
      // The mark settles at 19,720: under factor 1 the long keeps ~ 120 over its maintenance; under 1.5 it would not.
      const p = e.accounts.get('tr')!.positions.get('BTCUSDT')!;
      const mmAt = (factor: string, mark: bigint) =>
        maintenanceMargin(scaleInstrument(m.baseInst, rate(factor)), 1000n, mark, e.conventions.takerFeeRate);
      for (let i = 1; i < 60; i++) {
        const r = quote(19_720, T0 + 2 * HOUR + i * MIN);
        assert.deepEqual(
          of(r.events, 'liquidationStarted'),
          [],
          `liquidated during the notice (minute ${i})`,
        );
        assert.deepEqual(engineProblems(e), []);
      }
      const mark = m.mark!;
      assert.ok(p.sign > 0, 'still open at the end of the notice');
      assert.ok(mmAt('1.5', mark) > mmAt('1', mark), 'the raise matters');
      const applied = ok({ type: 'tick' }, T0 + 3 * HOUR);
      const [ev] = of(applied.events, 'marginFactor');
      assert.deepEqual([ev?.status, ev?.factor, ev?.effectiveAt], ['applied', rate('1.5'), T0 + 3 * HOUR]);
      assert.notEqual(m.inst, m.baseInst);
      const started = of(applied.events, 'liquidationStarted').map((x) => x.account);
      // (In steps: the default partial policy restores the margin ratio a chunk at a time.)
      assert.ok(
        started.length >= 1 && started.every((a) => a === 'tr'),
        `liquidated by the raise: ${started}`,
      );
      assert.deepEqual(engineProblems(e), []);
      // A calm stretch: the storm fades out of the EWMA (λ 0.94 a minute); the reviews step the factor down, each cut
      // at once (no notice for a cut), until it is back at 1.
      const cuts: Extract<EngineEvent, { type: 'marginFactor' }>[] = [];
      for (let h = 3; h < 30 && d.factor !== RATE_ONE; h++) {
        for (let i = 1; i < 60; i++) quote(i % 2 === 0 ? 19_720 : 19_722, T0 + h * HOUR + i * MIN);
        const tick = T0 + (h + 1) * HOUR;
        for (const ev of of(ok({ type: 'tick' }, tick).events, 'marginFactor'))
          if (ev.factor < ev.previous) {
            assert.deepEqual([ev.status, ev.effectiveAt], ['applied', tick], 'a cut applies at its review');
            cuts.push(ev);
          }
      }
      assert.ok(cuts.length >= 1, 'the factor came down');
      assert.equal(cuts.at(-1)!.factor, RATE_ONE);
      assert.equal(m.inst, m.baseInst);
    },
  );

  test('config: needs an oracle; bad fields are refused naming them', T, () => {
    const e = new Engine();
    const bad = (market: MarketConfig, field: RegExp) => {
      const r = e.apply({ type: 'createMarket', market, time: T0 });
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.message, field);
    };
    bad({ ...BTCUSDT, dynamicMargin: DYNAMIC.dynamicMargin }, /dynamicMargin/);
    bad({ ...DYNAMIC, dynamicMargin: { ...DYNAMIC.dynamicMargin!, maxFactor: '0.5' } }, /maxFactor/);
    bad({ ...DYNAMIC, dynamicMargin: { ...DYNAMIC.dynamicMargin!, lambda: '1' } }, /lambda/);
    bad({ ...DYNAMIC, dynamicMargin: { ...DYNAMIC.dynamicMargin!, reviewMs: 5 } }, /reviewMs/);
  });
});

describe('dynamic margin properties', () => {
  const step = fc.record({
    minutes: fc.integer({ min: 1, max: 40 }),
    vol: fc.constantFrom(0.0002, 0.002, 0.01, 0.02),
    drift: fc.integer({ min: -3, max: 3 }),
    who: fc.integer({ min: 0, max: 3 }),
    lev: fc.constantFrom('10', '25', '50', '75'),
    lots: fc.integer({ min: 1, max: 400 }),
    buy: fc.boolean(),
    kind: fc.constantFrom('walk', 'walk', 'walk', 'calm', 'open', 'close', 'margin', 'snapshot'),
  });
  type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

  const stats = new Map<string, number>();
  const count = (k: string) => stats.set(k, (stats.get(k) ?? 0) + 1);

  test(
    'the factor moves only at reviews (down) or at an announced raise’s time after the full notice; never late liquidating; replay and snapshot agree',
    T,
    () => {
      fc.assert(
        fc.property(
          fc.array(step, { minLength: 10, maxLength: 60 }),
          fc.integer({ min: 1, max: 1_000_000 }),
          (steps: Step[], seed) => {
            const v = venue();
            const { e, run, ok, quote } = v;
            ok({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '100000000' });
            ok({ type: 'setLeverage', account: 'mm', symbol: 'BTCUSDT', leverage: '1' });
            ok({ type: 'fundInsurance', asset: 'USDT', amount: '1000000' });
            const traders = ['t0', 't1', 't2', 't3'];
            for (const t of traders) ok({ type: 'deposit', account: t, asset: 'USDT', amount: '20000' });
            // t3 is cross: its trigger is a bound on the whole account.
            ok({ type: 'setMarginMode', account: 't3', symbol: 'BTCUSDT', mode: 'cross' });
            const m = e.markets.get('BTCUSDT')!;
            const d = m.dynamicMargin!;
            let price = 20_000;
            let rng = seed;
            const rand = () => {
              rng = (rng * 1_103_515_245 + 12_345) % 2 ** 31;
              return rng / 2 ** 31;
            };
            const announced = new Map<number, { factor: bigint; at: number }>();
            for (const s of steps) {
              const who = traders[s.who]!;
              const at = () => v.now();
              if (s.kind === 'walk' || s.kind === 'calm') {
                // A calm stretch: two hours almost flat, so the EWMA forgets a storm and a review cuts the factor.
                const calm = s.kind === 'calm';
                for (let i = 0; i < (calm ? 120 : s.minutes); i++) {
                  const move = calm ? (rand() - 0.5) * 0.0001 : (rand() - 0.5) * 2 * s.vol + s.drift * 0.0005;
                  price = Math.min(30_000, Math.max(12_000, price * (1 + move)));
                  const before = d.factor;
                  const r = quote(Math.round(price * 10) / 10, at() + MIN);
                  for (let j = of(r.events, 'liquidationStarted').length; j > 0; j--)
                    count(`liquidation ${d.pending ? 'in notice' : ''}`);
                  for (const ev of of(r.events, 'marginFactor')) {
                    count(`${ev.status} ${ev.factor > ev.previous ? 'raise' : 'cut'}`);
                    if (ev.status === 'announced') {
                      assert.ok(ev.factor > ev.previous, 'only raises are announced');
                      assert.equal(ev.effectiveAt - (ev.effectiveAt % HOUR), ev.effectiveAt);
                      announced.set(ev.effectiveAt, { factor: ev.factor, at: ev.effectiveAt - d.noticeMs });
                    } else if (ev.status === 'withdrawn') {
                      // Withdrawn before its time by a review: it never applies (the check below would fail).
                      assert.ok(announced.delete(ev.effectiveAt), 'only an announced raise is withdrawn');
                    } else if (ev.factor > ev.previous) {
                      const a = announced.get(ev.effectiveAt);
                      assert.ok(a && a.factor === ev.factor, 'a raise applies only as announced');
                      assert.ok(ev.effectiveAt - a.at >= d.noticeMs, 'after the full notice');
                      assert.ok(r.ok && at() >= ev.effectiveAt, 'not before its time');
                    } else assert.equal(ev.effectiveAt % HOUR, 0, 'a cut at a review');
                  }
                  if (d.factor !== before)
                    assert.ok(
                      of(r.events, 'marginFactor').some((ev) => ev.status === 'applied'),
                      'no silent change',
                    );
                  assert.deepEqual(engineProblems(e), []);
                }
              } else if (s.kind === 'open' || s.kind === 'close') {
                const mark = Number(m.mark!) / 1e8;
                const px = (Math.round(mark * 10) / 10).toFixed(1);
                const size = (s.lots / 1000).toFixed(3);
                const side = s.buy ? 'buy' : 'sell';
                run({ type: 'setLeverage', account: who, symbol: 'BTCUSDT', leverage: s.lev });
                run({
                  type: 'placeOrder',
                  account: 'mm',
                  symbol: 'BTCUSDT',
                  side: s.buy ? 'sell' : 'buy',
                  orderType: 'limit',
                  size,
                  price: px,
                });
                run({
                  type: 'placeOrder',
                  account: who,
                  symbol: 'BTCUSDT',
                  side,
                  orderType: 'limit',
                  size,
                  price: px,
                  timeInForce: 'IOC',
                  ...(s.kind === 'close' ? { reduceOnly: true } : {}),
                });
                run({ type: 'cancelAll', account: 'mm' });
                assert.deepEqual(engineProblems(e), []);
              } else if (s.kind === 'margin') {
                run({ type: 'addMargin', account: who, symbol: 'BTCUSDT', amount: String(s.lots) });
              } else {
                const r = restoreEngine(snapshotEngine(e));
                assert.equal(stateHash(r), stateHash(e), 'snapshot');
              }
            }
            const replay = new Engine();
            for (const c of v.log) replay.apply(c);
            assert.equal(stateHash(replay), stateHash(e), 'replay');
          },
        ),
        { numRuns: Number(process.env.DYNAMIC_RUNS ?? 40), includeErrorInReport: true },
      );
      console.log(`  dynamic margin streams: ${[...stats].map(([k, n]) => `${k}:${n}`).join(' ')}`);
      for (const k of [
        'announced raise',
        'applied raise',
        'applied cut',
        'liquidation in notice',
        'liquidation ',
      ])
        assert.ok((stats.get(k) ?? 0) > 0, `the streams never did ${k}`);
    },
  );
});
