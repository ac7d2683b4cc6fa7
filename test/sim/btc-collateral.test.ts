/**
 * isolated+btc-collateral: positions on BTCUSDT held in a silo funded with BTC instead of USDT.
 *
 * A hand-computed path first. BTCUSDT as in the simulation (ringfence's rules: first Binance bracket, MMR 0.4%,
 * maintenance at the worse of entry and mark, the 0.05% closing fee in maintenance), BTC index = the point's price,
 * the venue's default BTC terms (0.95 ratio, 5% conversion penalty). Traders, all opening 1 BTC at 20,000, 50x, at
 * the first point against the desk (taker fee 10):
 *   A: long, opted in to topping up — funded in BTC under isolated+btc-collateral;
 *   S: short, opted in — funded in BTC too;
 *   C: long, not opted in — isolated under both policies.
 * A's initial margin is 400, so its silo receives 400 / (20,000 × 0.95) = 0.021052631… → 0.02105264 BTC (rounded up
 * to a satoshi; it counts 421.0528 × 0.95 = 400.00016) and the 10 USDT fee, which the open takes. Its deposit of
 * 1,000 is split at the first price: 0.02105264 BTC for 421.0528 USDT, 578.9472 USDT.
 *
 * Isolated, a long at 20,000, 50x is liquidated below 19,689.84… (400 + P − 20,000 < 80 + 0.0005 P). Funded in BTC
 * its collateral falls with the price: 0.02105264 × 0.95 × P + P − 20,000 < 80 + 0.0005 P ⇔ P < 20,080 / 1.019500008
 * = 19,695.93… — the wrong-way risk: 6 USDT higher.
 *
 * Path: 20,000 · 19,900 · 19,800 · 19,720 · 19,700 · 19,696 · 19,694 · 19,692 · 19,689.8 · 19,500.
 *
 * Then a small seeded population on a few days of the real path, beside isolated: the ledger verifies, no isolation
 * breach, BTC sold at liquidation at 95% of the index, everyone not funded in BTC unchanged, and the summary, the
 * report and the table's note carry the policy. (test/sim/isolation.test.ts checks its isolation command by command.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { btcCollateralNotes, summaryTable } from '../../src/cli/simulate.ts';
import type { EngineEvent } from '../../src/engine/types.ts';
import {
  DEFAULT_POLICY_IDS,
  DYNAMIC_RISK_POLICY_IDS,
  policyById,
  simMarkets,
} from '../../src/sim/markets.ts';
import type { Population } from '../../src/sim/population.ts';
import { renderReport } from '../../src/sim/report.ts';
import { inBtcCollateral, runPolicy } from '../../src/sim/runner.ts';
import { prepare, resolvePolicies, runAll, summarize } from '../../src/sim/simulate.ts';
import { handPath, handRunInput } from './hand-path-kit.ts';

const U = 10n ** 8n;
const T = { timeout: 60_000 };
const BTC_PATH = ['20000', '19900', '19800', '19720', '19700', '19696', '19694', '19692', '19689.8', '19500'];
const markets = simMarkets(300_000).slice(0, 2);
const path = handPath(BTC_PATH);
const leg = (side: 'buy' | 'sell') => ({
  market: 0,
  side,
  lots: 1000,
  leverage: 50,
  openPoint: 0,
  closePoint: -1,
  initialMargin: 400n * U,
  fee: 10n * U,
});
const optIn = { policy: 'addInitialMargin' as const, trigger: '0.8' };
const population: Population = {
  traders: [
    { index: 0, id: 'A', deposit: 1000n * U, autoAdd: optIn, positions: [leg('buy')] },
    { index: 1, id: 'S', deposit: 1000n * U, autoAdd: optIn, positions: [leg('sell')] },
    { index: 2, id: 'C', deposit: 1000n * U, autoAdd: null, positions: [leg('buy')] },
  ],
  plannedNotional: [60_000n * U, 0n],
  positions: 3,
};

function run(policyId: string) {
  const started: [number, string, string][] = [];
  const converted: Extract<EngineEvent, { type: 'collateralConverted' }>[] = [];
  const stages: string[] = [];
  let point = 0;
  const result = runPolicy(handRunInput(path, markets, population), policyById(policyId)!, {
    onCommand: (_cmd, r) => {
      if (!r.ok) return;
      for (const e of r.events) {
        if (e.type === 'liquidationStarted') started.push([point, e.account, BTC_PATH[point]!]);
        if (e.type === 'collateralConverted') converted.push(e);
        if (e.type === 'liquidation')
          stages.push(`${point} ${e.account} ${e.stage} ${e.size} @ ${e.price} fee ${e.fee}`);
      }
    },
    onPoint: (p) => {
      point = p + 1;
    },
  });
  return { started, converted, stages, result };
}

describe('isolated+btc-collateral on a hand-computed falling path', () => {
  test(
    'a long funded in BTC is liquidated at a higher price than the same long isolated (wrong-way risk)',
    T,
    () => {
      const iso = run('isolated');
      const btc = run('isolated+btc-collateral');
      // Isolated: A and C go at 19,689.8 (point 8), the first price below 19,689.84….
      assert.deepEqual(iso.started, [
        [8, 'A', '19689.8'],
        [8, 'C', '19689.8'],
      ]);
      // Funded in BTC: A goes at 19,694 (point 6), the first price below 19,695.93…; at 19,696 its equity is
      // 0.02105264 × 19,696 × 0.95 − 304 = 89.92… ≥ 80 + 9.848. C, isolated under both, is unchanged.
      assert.deepEqual(btc.started, [
        [6, 'A', '19694'],
        [8, 'C', '19689.8'],
      ]);
      const a = 0; // A's BTCUSDT position: trader 0 × 2 markets + market 0
      const markOf = (r: ReturnType<typeof run>) => r.result.byTrader.firstLiquidationMark[a]!;
      assert.ok(
        markOf(btc) > markOf(iso),
        `liquidated at ${markOf(btc)} funded in BTC, ${markOf(iso)} isolated`,
      );
      assert.equal(btc.result.byTrader.firstLiquidationEntry[a], 20_000n * U);
      // The short, funded the same way, gains collateral value with its PnL as the price falls: never liquidated.
      assert.equal(btc.result.byTrader.positionLiquidations[2], 0);
      assert.equal(btc.result.byTrader.positionOpened[2], 1);
    },
  );

  test('the BTC is sold to the fund first, and the collateral lost counts it at the index', T, () => {
    const btc = run('isolated+btc-collateral');
    // At 19,694 all 0.02105264 BTC is sold at 19,694 × 0.95: 414.61069216 × 0.95 = 393.88015755 (rounded down). The
    // silo, 393.88 − 306 = 87.88 against maintenance 89.847, is still below: its leg closes into the best bid,
    // 19,680 (realized −320), and the fee takes the 73.88015755 left.
    assert.equal(btc.converted.length, 1);
    const c = btc.converted[0]!;
    assert.deepEqual(
      [c.account, c.silo, c.reason, c.amount, c.proceeds, c.price],
      ['A', 'p0', 'liquidation', 2_105_264n, 39_388_015_755n, 19_694n * U],
    );
    assert.deepEqual(btc.stages, [
      '6 A book 1000 @ 1968000000000 fee 7388015755',
      '8 C book 1000 @ 1968000000000 fee 8000000000',
    ]);
    const f = btc.result.figures;
    const x = f.btcCollateral;
    assert.equal(x.traders, 2);
    assert.equal(x.bought, 2n * 2_105_264n);
    assert.equal(x.cost, 2n * 42_105_280_000n); // 421.0528 each at the first price
    assert.equal(x.legs, 2);
    assert.equal(x.funded, 2n * 2_105_264n);
    assert.deepEqual(x.conversions.liquidation, {
      count: 1,
      amount: 2_105_264n,
      proceeds: 39_388_015_755n,
      value: 41_461_069_216n,
    });
    assert.equal(x.conversions.shortfall.count, 0);
    assert.equal(x.rescued, 0);
    // Lost by A: the BTC at the index (414.61069216) − the proceeds + the realized 320 + the fee 73.88015755 — all
    // its silo held, penalty included; by C: its bucket, 400.
    assert.equal(f.collateralLost, 41_461_069_216n + 400n * U);
    assert.equal(f.isolationBreaches, 0);
    // Final equity with the BTC at the last index, 19,500: A 568.9472 free; S 568.9472 free + 500 unrealized +
    // 0.02105264 BTC (410.52648); C 590.
    assert.equal(
      f.traders.equity,
      56_894_720_000n + (56_894_720_000n + 500n * U + 41_052_648_000n) + 590n * U,
    );
    // The fund: +73.88 and +80 in fees, −393.88 paid for the BTC, which it holds at 19,500: 410.52648.
    assert.equal(f.insurance.conversions, 39_388_015_755n);
    assert.equal(f.insurance.collateralValue, 41_052_648_000n);
    assert.equal(f.insurance.pnl, 73_88_015_755n + 80n * U - 39_388_015_755n + 41_052_648_000n);
    assert.equal(x.fundHeld, 2_105_264n);
    assert.ok(f.conservation.ok, f.conservation.problems.join('; '));
  });
});

describe('isolated+btc-collateral on a small population (a few days of the real path)', () => {
  test('it runs beside isolated: money conserved, no breach, BTC sold at liquidation, the report names it', {
    timeout: 120_000,
  }, async () => {
    const prep = prepare({
      traders: 300,
      seed: 7,
      policies: ['isolated', 'isolated+btc-collateral'],
      intrabar: 'ohlc',
      bars: 1500,
    });
    const results = await runAll(prep, { workers: 1 });
    for (const r of results) {
      const f = r.figures;
      assert.ok(f.conservation.ok, `${r.policy.id}: ${f.conservation.problems.join('; ')}`);
      assert.equal(f.isolationBreaches, 0, r.policy.id);
      assert.equal(f.silos.refusedTransfers, 0, r.policy.id);
    }
    const btc = results[1]!.figures.btcCollateral;
    assert.ok(btc.traders >= 20 && btc.legs >= 20, `traders ${btc.traders}, legs ${btc.legs}`);
    assert.ok(btc.conversions.liquidation.count >= 1, 'a BTC-funded silo was liquidated');
    // Sold to the fund at the index less 5%: the proceeds are 95% of the value, to a unit per conversion.
    const l = btc.conversions.liquidation;
    const ok =
      l.proceeds * 100n >= l.value * 95n - 100n * BigInt(l.count) && l.proceeds * 100n <= l.value * 95n;
    assert.ok(ok, `${l.proceeds} of ${l.value}`);
    // The fund keeps all it bought: nothing here sells it back.
    assert.equal(btc.fundHeld, l.amount + btc.conversions.shortfall.amount);
    // Everyone not funded in BTC trades exactly as under isolated.
    const pol = policyById('isolated+btc-collateral')!;
    prep.population.traders.forEach((t, i) => {
      if (!inBtcCollateral(pol, t, prep.markets))
        assert.equal(results[1]!.byTrader.equity[i], results[0]!.byTrader.equity[i], t.id);
    });
    const summary = summarize(prep, results);
    const p = summary.policies[1]!;
    assert.equal(p.id, 'isolated+btc-collateral');
    assert.ok(p.btcCollateral, 'the summary has the policy’s own figures');
    assert.deepEqual(
      p.btcCollateral.wrongWay.policies.map((q) => q.id),
      ['isolated', 'isolated+btc-collateral'],
    );
    assert.equal(p.btcCollateral.optedIn.traders, btc.traders);
    const html = renderReport(prep, results, summary, summaryTable(summary));
    assert.match(html, /<b>isolated\+btc-collateral<\/b>: isolated, except that the traders who opted in/);
    assert.match(
      html,
      /Wrong-way risk: the \d+ long and \d+ short BTCUSDT legs planned by the traders isolated\+btc-collateral funds/,
    );
    assert.match(
      btcCollateralNotes(summary),
      /^isolated\+btc-collateral: \d+ traders funded \d+ BTCUSDT legs/,
    );
  });

  test('`--policies dynamic-risk` runs it; the default list does not', () => {
    assert.ok(resolvePolicies(['dynamic-risk']).some((p) => p.id === 'isolated+btc-collateral'));
    assert.ok(DYNAMIC_RISK_POLICY_IDS.includes('isolated+btc-collateral'));
    assert.ok(!DEFAULT_POLICY_IDS.includes('isolated+btc-collateral'));
  });
});
