/**
 * A ten-minute path small enough to work out by hand, through the simulation's own runner (market makers, desk,
 * oracle quotes, ticks), under the isolated, cross and auto-add policies. Every expected figure below is derived
 * from first principles in the comments and, where a formula gives it, checked against src/core/margin.ts.
 *
 * Market: the simulation's BTCUSDT — ringfence's default maintenance rules: the first Binance bracket (notional
 * ≤ 50,000: MMR 0.4%), maintenance measured at the worse of entry and mark, the 0.05% taker fee to close counted in
 * maintenance and in the bankruptcy price, prices rounded toward liquidation. Liquidation: the default LiquidationSpec
 * ('restore', fee 0.5% to the fund, IOC limited at the bankruptcy price). ETHUSDT (first bracket MMR 0.5%) stays at
 * 2,000 throughout.
 *
 * Traders (opened at the first point against the desk, taker fee 0.05%):
 *   A: long 1 BTC at 20,000, 50x: bucket 400, fee 10, deposit 1,000 → free 590. Opted in to auto-add.
 *   C: the same BTC long, and long 1 ETH at 2,000, 10x (bucket 200, fee 1); deposit 700 → free 89.
 * Market makers quote 5 levels of 5 BTC / 5 ETH every 10 USDT / 1 USDT around the price (anchor = the price rounded
 * to the grid): at 19,689.8 the best bid is 19,680, at 19,300 it is 19,290, at 19,000 it is 18,990; ETH's is 1,999.
 *
 * BTC path: 20,000 · 19,900 · 19,750 · 19,690 · 19,689.9 · 19,689.8 · 19,500 · 19,300 · 19,000 · 19,100.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { liquidationPrice } from '../../src/core/margin.ts';
import { buildConventions, PRESETS } from '../../src/core/presets.ts';
import { instrumentOf } from '../../src/engine/market.ts';
import type { EngineEvent } from '../../src/engine/types.ts';
import { policyById, simMarkets } from '../../src/sim/markets.ts';
import type { Population } from '../../src/sim/population.ts';
import { runPolicy } from '../../src/sim/runner.ts';
import { handPath, handRunInput } from './hand-path-kit.ts';

const U = 10n ** 8n; // USDT minor units
const BTC_PATH = [
  '20000',
  '19900',
  '19750',
  '19690',
  '19689.9',
  '19689.8',
  '19500',
  '19300',
  '19000',
  '19100',
];
const markets = simMarkets(300_000).slice(0, 2);
const path = handPath(BTC_PATH);
const population: Population = {
  traders: [
    {
      index: 0,
      id: 'A',
      deposit: 1000n * U,
      autoAdd: { policy: 'addInitialMargin', trigger: '0.8' },
      positions: [
        {
          market: 0,
          side: 'buy',
          lots: 1000,
          leverage: 50,
          openPoint: 0,
          closePoint: -1,
          initialMargin: 400n * U,
          fee: 10n * U,
        },
      ],
    },
    {
      index: 1,
      id: 'C',
      deposit: 700n * U,
      autoAdd: null,
      positions: [
        {
          market: 0,
          side: 'buy',
          lots: 1000,
          leverage: 50,
          openPoint: 0,
          closePoint: -1,
          initialMargin: 400n * U,
          fee: 10n * U,
        },
        {
          market: 1,
          side: 'buy',
          lots: 1000,
          leverage: 10,
          openPoint: 0,
          closePoint: -1,
          initialMargin: 200n * U,
          fee: 1n * U,
        },
      ],
    },
  ],
  plannedNotional: [20_000n * U, 2_000n * U],
  positions: 3,
};

interface Observed {
  /** [point, account, mode] of every liquidationStarted. */
  started: [number, string, string][];
  /** [point, account, symbol, stage, size, price, fee] of every liquidation stage. */
  stages: [number, string, string, string, string, string, string][];
  autoAdds: [number, string, string][];
  result: ReturnType<typeof runPolicy>;
  /** C's ETH bucket and free balance after every point (isolated policies). */
  cEth: bigint[];
  cFree: bigint[];
}

const dec = (v: bigint, dp = 8) => {
  const s = v.toString().padStart(dp + 1, '0');
  return `${s.slice(0, -dp)}.${s.slice(-dp)}`.replace(/\.?0+$/, '');
};

function run(policyId: string): Observed {
  const policy = policyById(policyId)!;
  const o: Omit<Observed, 'result'> = { started: [], stages: [], autoAdds: [], cEth: [], cFree: [] };
  let point = 0;
  const result = runPolicy(handRunInput(path, markets, population), policy, {
    onCommand: (_cmd, r) => {
      if (!r.ok) return;
      for (const e of r.events as EngineEvent[]) {
        if (e.type === 'liquidationStarted') o.started.push([point, e.account, e.mode]);
        if (e.type === 'liquidation')
          o.stages.push([point, e.account, e.symbol, e.stage, dec(e.size, 3), dec(e.price), dec(e.fee)]);
        if (e.type === 'autoAddMargin') o.autoAdds.push([point, e.account, dec(e.amount)]);
      }
    },
    onPoint: (p, engine) => {
      const c = engine.accounts.get('C')!;
      o.cEth.push(c.positions.get('ETHUSDT')!.bucket.balance);
      o.cFree.push(c.wallets.get('USDT')!.main.balance);
      point = p + 1;
    },
  });
  return { ...o, result };
}

describe('hand-computed path: isolated, cross and auto-add on the same ten minutes', () => {
  test("A's liquidation price on ringfence's rules is 19,689.9: the worse of entry basis and mark basis", () => {
    // Entry basis: 400 + (P − 20,000) = 80 (0.4% of 20,000) + 0.0005 P → P = 19,680 / 0.9995 = 19,689.84… → 19,689.9 (up).
    // Mark basis:  400 + (P − 20,000) = 0.0045 P → P = 19,600 / 0.9955 = 19,688.59… → 19,688.6. A long takes the higher.
    const inst = instrumentOf(markets[0]!.config);
    const conv = buildConventions(PRESETS.ringfence!.conventions);
    const lp = liquidationPrice({
      inst,
      conv,
      pos: { side: 'long', size: 1000n, entryPrice: 20_000n * U },
      collateral: 400n * U,
    });
    assert.equal(lp, 1_968_990_000_000n);
  });

  test('isolated: A and C lose their BTC buckets at 19,689.8 (the first mark below 19,689.84…); C keeps ETH and its free balance', () => {
    const o = run('isolated');
    // At 19,689.9 equity 89.9 ≥ maintenance 80 + 9.84495; at 19,689.8 equity 89.8 < 89.8449: liquidated (point 5).
    assert.deepEqual(o.started, [
      [5, 'A', 'isolated'],
      [5, 'C', 'isolated'],
    ]);
    // 'restore' closes everything: the 0.5% fee alone (98.4) is more than the 89.8 left. The IOC (limit: bankruptcy
    // price 19,609.9) sells into the best bid, 19,680: realized −320, bucket 80, fee min(98.4, 80) = 80 → bucket 0.
    assert.deepEqual(o.stages, [
      [5, 'A', 'BTCUSDT', 'book', '1', '19680', '80'],
      [5, 'C', 'BTCUSDT', 'book', '1', '19680', '80'],
    ]);
    const f = o.result.figures;
    assert.equal(f.liquidations.events, 2);
    assert.equal(f.liquidations.notional, 39_360n * U);
    assert.equal(f.collateralLost, 800n * U); // 400 each, nothing else
    assert.equal(f.wipedOut, 0); // A keeps 590 of 1,000, C 289 of 700
    assert.equal(f.traders.equity, 879n * U);
    assert.equal(f.contagion.traders, 0);
    assert.equal(f.isolationBreaches, 0);
    assert.equal(f.insurance.pnl, 160n * U); // two capped fees of 80
    assert.equal(f.badDebt, 0n);
    assert.equal(f.adl.events, 0);
    assert.ok(f.conservation.ok, f.conservation.problems.join('; '));
    // The ETH bucket and C's free balance never move.
    assert.ok(
      o.cEth.every((b) => b === 200n * U),
      o.cEth.map((b) => dec(b)).join(','),
    );
    assert.ok(
      o.cFree.every((b) => b === 89n * U),
      o.cFree.map((b) => dec(b)).join(','),
    );
  });

  test('cross: C is liquidated at 19,300 and loses all 689, ETH included; A at 19,000 loses all 990', () => {
    const o = run('cross');
    // C: wallet 689; 689 + (P − 20,000) < (80 + 0.0005 P) + 11 (ETH: 0.55% of 2,000) ⇔ P < 19,411.7 → point 7.
    // A: wallet 990; 990 + (P − 20,000) < 80 + 0.0005 P ⇔ P < 19,099.55 → point 8.
    assert.deepEqual(o.started, [
      [7, 'C', 'cross'],
      [8, 'A', 'cross'],
    ]);
    // C's BTC (largest maintenance first) closes in full at the best bid 19,290: −710 against 689, the fund pays 21;
    // nothing is left for a fee. The pool is empty and ETH's own 11 of maintenance is uncovered: ETH closes at 1,999.
    // A closes at 18,990: −1,010 against 990, the fund pays 20.
    assert.deepEqual(o.stages, [
      [7, 'C', 'BTCUSDT', 'book', '1', '19290', '0'],
      [7, 'C', 'ETHUSDT', 'book', '1', '1999', '0'],
      [8, 'A', 'BTCUSDT', 'book', '1', '18990', '0'],
    ]);
    const f = o.result.figures;
    assert.equal(f.liquidations.events, 2);
    assert.equal(f.collateralLost, 1679n * U); // 689 + 990
    assert.equal(f.wipedOut, 2);
    assert.equal(f.traders.equity, 0n);
    // Contagion: C's ETH long was closed though it was not underwater (200 + 0 ≥ 11); A had nothing else to close.
    // Spillover: both lost more than their positions' own isolated collateral (C: 689 > 400 + 200; A: 990 > 400).
    assert.equal(f.contagion.traders, 1);
    assert.equal(f.contagion.closes, 1);
    assert.equal(f.contagion.closeNotional, 1999n * U);
    assert.equal(f.contagion.spillover, (89n + 590n) * U);
    assert.equal(f.contagion.spilloverTraders, 2);
    assert.equal(f.insurance.pnl, -42n * U); // pays 21 + 1 + 20, no fees
    assert.ok(f.conservation.ok, f.conservation.problems.join('; '));
  });

  test('isolated + auto-add: A tops up 400 at 19,690 and 190 at 19,300, and is liquidated at 19,000 with all 990', () => {
    const o = run('isolated+auto-add');
    // Auto-add fires when maintenance / equity ≥ 0.8: 80 + 0.0005 P ≥ 0.8 (400 + P − 20,000) ⇔ P ≤ 19,712.3 → 19,690
    // (point 3): the initial margin again (400) from free 590. With 800: fires again at P ≤ 19,312.1 → 19,300 (point 7),
    // but only 190 is free. With 990 its liquidation price is 19,099.6 → liquidated at 19,000 (point 8).
    assert.deepEqual(o.autoAdds, [
      [3, 'A', '400'],
      [7, 'A', '190'],
    ]);
    assert.deepEqual(o.started, [
      [5, 'C', 'isolated'],
      [8, 'A', 'isolated'],
    ]);
    assert.deepEqual(o.stages, [
      [5, 'C', 'BTCUSDT', 'book', '1', '19680', '80'],
      [8, 'A', 'BTCUSDT', 'book', '1', '18990', '0'],
    ]);
    const f = o.result.figures;
    assert.equal(f.collateralLost, (400n + 990n) * U);
    assert.equal(f.autoAdd.amount, 590n * U);
    assert.equal(f.autoAdd.lostAfter, 590n * U);
    assert.equal(f.wipedOut, 1);
    assert.equal(f.contagion.traders, 0);
    assert.equal(f.isolationBreaches, 0);
    assert.equal(f.insurance.pnl, 60n * U); // C's fee 80 − A's gap 20
    assert.ok(f.conservation.ok, f.conservation.problems.join('; '));
    assert.ok(o.cEth.every((b) => b === 200n * U));
  });
});
