/**
 * The vaults policy (issue 24): three vaults traded by their managers as `vault:<id>` accounts, a seeded share of
 * the traders depositing a stake on top of their own deposit.
 *
 * A constructed crash first, one point an hour: BTCUSDT climbs 0.4% an hour from 20,000 for 30 hours (the trend
 * follower goes 15× long at 21,765.8, once it has 24 hourly closes), then falls to 21,000 and 20,000 and stays there.
 * 15× long loses 15 × 3.5% ≈ 53% of its NAV at 21,000 and 15 × 8.1% — more than all of it — at 20,000: the trend
 * vault is liquidated there. Its depositor D1, like D2 and D3 (the
 * other vaults'), holds no position: its free balance stays exactly its deposit at every point until it redeems at
 * the end — the vault's liquidation took only the vault's money — and it gets back far less than its stake, where
 * D2 and D3 get back most of theirs.
 *
 * Then a small seeded population on two days of the real path, beside isolated: the ledger verifies, no isolation
 * breach, NAV per share sampled hourly for each vault, and the summary, report and table note carry it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { summaryTable, vaultsNotes } from '../../src/cli/simulate.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { DEFAULT_POLICY_IDS, policyById, simMarkets } from '../../src/sim/markets.ts';
import type { SimPath } from '../../src/sim/path.ts';
import type { Population } from '../../src/sim/population.ts';
import { renderReport } from '../../src/sim/report.ts';
import { runPolicy } from '../../src/sim/runner.ts';
import { prepare, resolvePolicies, runAll, summarize } from '../../src/sim/simulate.ts';
import type { VaultPlan } from '../../src/sim/vaults.ts';

import { handRunInput } from './hand-path-kit.ts';

const U = 10n ** 8n;
const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 1, 0, 1);
const prices: number[] = [];
for (let i = 0; i < 30; i++) prices.push(Math.round(20_000 * 1.004 ** i * 10) / 10);
prices.push(21_000, 20_000, 20_000, 20_000, 20_000, 20_000, 20_000, 20_000, 20_000, 20_000);

const markets = simMarkets(2 * HOUR).slice(0, 2);
const path: SimPath = {
  times: Float64Array.from(prices, (_, i) => T0 + i * HOUR),
  markets: [
    {
      symbol: 'BTCUSDT',
      tickSize: 10_000_000n,
      ticks: Float64Array.from(prices, (p) => Math.round(p * 10)),
      synthetic: null,
    },
    {
      symbol: 'ETHUSDT',
      tickSize: 1_000_000n,
      ticks: new Float64Array(prices.length).fill(200_000),
      synthetic: null,
    },
  ],
  intrabar: 'close',
  bars: prices.length,
};
const depositor = (index: number, id: string) => ({
  index,
  id,
  deposit: 5_000n * U,
  autoAdd: null,
  positions: [],
});
const population: Population = {
  traders: [
    depositor(0, 'D1'),
    depositor(1, 'D2'),
    depositor(2, 'D3'),
    {
      index: 3,
      id: 'A',
      deposit: 3_000n * U,
      autoAdd: null,
      positions: [
        {
          market: 0,
          side: 'buy',
          lots: 1000,
          leverage: 10,
          openPoint: 0,
          closePoint: -1,
          initialMargin: 2_000n * U,
          fee: 10n * U,
        },
      ],
    },
  ],
  plannedNotional: [20_000n * U, 0n],
  positions: 1,
};
const vaultPlan: VaultPlan = {
  vault: Int8Array.from([0, 1, 2, -1]),
  stake: [1_000n * U, 1_000n * U, 1_000n * U, 0n],
};

describe('vaults on a constructed crash', () => {
  test('the trend vault is liquidated; its depositors lose their stake, never their own free balance', {
    timeout: 30_000,
  }, () => {
    const free: bigint[][] = [];
    const main = (e: Engine, id: string) => e.accounts.get(id)!.wallets.get('USDT')!.main.balance;
    const r = runPolicy(
      handRunInput(path, markets, population, { unwind: true, vaultPlan }),
      policyById('vaults')!,
      { onPoint: (_p, e) => free.push(['D1', 'D2', 'D3'].map((id) => main(e, id))) },
    );
    const v = r.vaults!;
    const [trend, maker, shortvol] = v.vaults;
    assert.ok(trend!.liquidations >= 1, `trend liquidations ${trend!.liquidations}`);
    assert.equal(trend!.liquidatedAt, T0 + 31 * HOUR, 'liquidated at 20,000');
    assert.equal(maker!.liquidations, 0, 'maker not liquidated');
    assert.equal(shortvol!.liquidations, 0, 'shortvol not liquidated');
    // Every point before the last: each depositor's free balance is its deposit, to the unit.
    for (let p = 0; p < prices.length - 1; p++)
      assert.deepEqual(free[p], [5_000n * U, 5_000n * U, 5_000n * U], `free balances at point ${p}`);
    for (const f of v.vaults) {
      assert.equal(f.breaches, 0, `${f.id} breaches`);
      assert.ok(f.navPerShare.length >= prices.length, `${f.id} samples ${f.navPerShare.length}`);
      assert.equal(f.navPerShare[0], 1, `${f.id} starts at 1`);
    }
    assert.ok(trend!.navPerShare.at(-1)! < 0.1, `trend ends at ${trend!.navPerShare.at(-1)}`);
    // What came back: the trend depositor almost nothing, the others most of their stake; the free balance at the
    // end is the deposit plus exactly what came back.
    assert.equal(v.returned[0], 0n, 'D1 got nothing back: the vault was bankrupt');
    assert.ok(
      v.returned[1]! > 800n * U && v.returned[2]! > 700n * U,
      `D2 ${v.returned[1]}, D3 ${v.returned[2]}`,
    );
    for (let t = 0; t < 3; t++)
      assert.equal(r.byTrader.equity[t], 5_000n * U + v.returned[t]!, `trader ${t}'s equity`);
    assert.equal(r.figures.isolationBreaches, 0);
    assert.ok(r.figures.conservation.ok, r.figures.conservation.problems.join('; '));
    assert.ok(trend!.fees.management.shares > 0n, 'management fee minted');
  });
});

describe('vaults on a small population (two days of the real path)', () => {
  test('it runs beside isolated: ledger, no breach, NAV per share hourly, summary and report', {
    timeout: 60_000,
  }, async () => {
    const prep = prepare({ traders: 150, seed: 7, policies: ['vaults'], intrabar: 'close', bars: 2900 });
    assert.deepEqual(
      prep.policies.map((p) => p.id),
      ['isolated', 'vaults'],
    );
    const results = await runAll(prep, { workers: 1 });
    for (const r of results) {
      const f = r.figures;
      assert.ok(f.conservation.ok, `${r.policy.id}: ${f.conservation.problems.join('; ')}`);
      assert.equal(f.isolationBreaches, 0, r.policy.id);
    }
    const v = results[1]!.vaults!;
    assert.equal(v.vaults.length, 3);
    for (const f of v.vaults) {
      assert.ok(f.depositors > 0, `${f.id} has depositors`);
      assert.ok(f.navPerShare.length >= 48, `${f.id}: ${f.navPerShare.length} hourly samples`);
      assert.ok(f.trades > 0, `${f.id} traded`);
    }
    const summary = summarize(prep, results);
    const p = summary.policies[1]!;
    assert.ok(p.vaults, 'the summary has the vaults');
    assert.equal(p.vaults.vaults[0]!.navPerShare.hourly.values.length, v.vaults[0]!.navPerShare.length);
    const html = renderReport(prep, results, summary, summaryTable(summary));
    assert.match(html, /<h3>Vaults \(vaults\): NAV per share/);
    assert.match(html, /<polyline /);
    assert.match(vaultsNotes(summary), /^vaults:\n {2}trend: NAV\/share /);
  });

  test('`--policies vaults` runs it beside isolated; the default list does not', () => {
    assert.deepEqual(
      resolvePolicies(['vaults']).map((p) => p.id),
      ['isolated', 'vaults'],
    );
    assert.ok(!DEFAULT_POLICY_IDS.includes('vaults'));
  });
});
