/**
 * The hybrid policy (netted silos) through the simulation's own runner: a hand-made path on which a hedged pair in
 * one netted silo rides out the move that liquidates the same pair held isolated, the funding rule (a silo gets
 * what the isolated buckets would, so both policies risk the same money), and the opt-in share.
 *
 * Markets: the simulation's BTCUSDT and ETHUSDT (ringfence's default rules: BTC first bracket MMR 0.4%, ETH 0.5%,
 * taker fee 0.05%, maintenance at the worse of entry and mark plus the fee to close). Netting: the simulated
 * markets' correlation, ETH with BTC 0.8 (core/silo.ts's scenario grid, floor 0.25 of the standalone sum).
 *
 * Traders (opened at the first point against the desk):
 *   H: long 1 BTC at 20,000, 50x (initial margin 400, fee 10) and short 10 ETH at 2,000, 50x (400, fee 10);
 *      deposit 1,000. Isolated: two buckets of 400, free 180. Hybrid: H plans two positions and opts in (its draw
 *      is 0), so 410 + 410 go into its silo `netted`, the fees come out of it: silo 800, free 180 — the same money.
 *   A: long 1 BTC at 20,000, 50x; deposit 1,000 (free 590). One position: isolated under both policies.
 *
 * Path (ETH a tenth of BTC, both falling 3%): BTC 20,000 · 19,900 · 19,800 · 19,750 · 19,689.8 · 19,500 · 19,400.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineEvent } from '../../src/engine/types.ts';
import { policyById, simCorrelations, simMarkets } from '../../src/sim/markets.ts';
import type { SimPath } from '../../src/sim/path.ts';
import type { PlannedPosition, Population } from '../../src/sim/population.ts';
import { HYBRID_SILO, inNettedSilo, runPolicy } from '../../src/sim/runner.ts';
import { prepare, runAll, summarize, toJson } from '../../src/sim/simulate.ts';

import { handRunInput } from './hand-path-kit.ts';

const TIMEOUT = { timeout: 120_000 };
const U = 10n ** 8n;
const BTC = ['20000', '19900', '19800', '19750', '19689.8', '19500', '19400'];
const ETH = ['2000', '1990', '1980', '1975', '1968.98', '1950', '1940'];
const T0 = Date.UTC(2025, 0, 1, 0, 1); // a minute after a funding time: no funding in seven minutes

const markets = simMarkets(300_000).slice(0, 2);
const path: SimPath = {
  times: Float64Array.from(BTC, (_, i) => T0 + i * 60_000),
  markets: [
    {
      symbol: 'BTCUSDT',
      tickSize: 10_000_000n,
      ticks: Float64Array.from(BTC, (p) => Math.round(Number(p) * 10)),
      synthetic: null,
    },
    {
      symbol: 'ETHUSDT',
      tickSize: 1_000_000n,
      ticks: Float64Array.from(ETH, (p) => Math.round(Number(p) * 100)),
      synthetic: null,
    },
  ],
  intrabar: 'close',
  bars: BTC.length,
};
const btcLong: PlannedPosition = {
  market: 0,
  side: 'buy',
  lots: 1000,
  leverage: 50,
  openPoint: 0,
  closePoint: -1,
  initialMargin: 400n * U,
  fee: 10n * U,
};
const ethShort: PlannedPosition = { ...btcLong, market: 1, side: 'sell', lots: 10_000 };
const population: Population = {
  traders: [
    { index: 0, id: 'H', deposit: 1000n * U, autoAdd: null, positions: [btcLong, ethShort], siloDraw: 0 },
    { index: 1, id: 'A', deposit: 1000n * U, autoAdd: null, positions: [btcLong], siloDraw: 0 },
  ],
  plannedNotional: [40_000n * U, 20_000n * U],
  positions: 3,
};

interface Observed {
  /** [point, account, symbol, silo] of every liquidationStarted. */
  started: [number, string, string, string | null][];
  /** H's free balance and (hybrid) silo collateral after every point. */
  free: bigint[];
  silo: bigint[];
  result: ReturnType<typeof runPolicy>;
}

function run(policyId: string): Observed {
  const o: Omit<Observed, 'result'> = { started: [], free: [], silo: [] };
  let point = 0;
  const result = runPolicy(handRunInput(path, markets, population), policyById(policyId)!, {
    onCommand: (_cmd, r) => {
      if (!r.ok) return;
      for (const e of r.events as EngineEvent[])
        if (e.type === 'liquidationStarted') o.started.push([point, e.account, e.symbol, e.silo ?? null]);
    },
    onPoint: (p, engine) => {
      const h = engine.accounts.get('H')!;
      o.free.push(h.wallets.get('USDT')!.main.balance);
      o.silo.push(h.silos.get(HYBRID_SILO)?.bucket.balance ?? 0n);
      point = p + 1;
    },
  });
  return { ...o, result };
}

describe('hybrid policy: a hedged pair in one netted silo', () => {
  test(
    'the simulated markets give the netting table BTC/ETH 0.80 (and ETH/SOL 0.56, the product, rounded down)',
    TIMEOUT,
    () => {
      assert.deepEqual(simCorrelations(markets), [{ a: 'BTC', b: 'ETH', rho: '0.80' }]);
      assert.deepEqual(simCorrelations(simMarkets(300_000)), [
        { a: 'BTC', b: 'ETH', rho: '0.80' },
        { a: 'BTC', b: 'SOL', rho: '0.70' },
        { a: 'ETH', b: 'SOL', rho: '0.56' },
      ]);
    },
  );

  test(
    'isolated: BTC falls 1.55% to 19,689.8 → the long BTC bucket is liquidated (H and A lose 400 each); H keeps its ETH short',
    TIMEOUT,
    () => {
      const o = run('isolated');
      // As in hand-path.test.ts: at 19,689.8 equity 89.8 < 80 + 9.8449 (maintenance + fee to close) → liquidated, closed
      // into the best bid 19,680: −320 realized, the 80 left is the fee. The ETH short gains and is never tested.
      assert.deepEqual(o.started, [
        [4, 'H', 'BTCUSDT', null],
        [4, 'A', 'BTCUSDT', null],
      ]);
      const f = o.result.figures;
      assert.equal(f.collateralLost, 800n * U);
      assert.ok(
        o.free.every((b) => b === 180n * U),
        'H: 1,000 − 2 × (400 + 10)',
      );
      // H ends with free 180 + ETH bucket 400 + ETH gain 600; A with its free 590.
      assert.equal(f.traders.equity, (1180n + 590n) * U);
      assert.equal(f.isolationBreaches, 0);
      assert.ok(f.conservation.ok, f.conservation.problems.join('; '));
    },
  );

  test(
    'hybrid: the same money in one netted silo (800 after fees) rides out the whole 3% fall; A, alone, is liquidated as before',
    TIMEOUT,
    () => {
      const o = run('hybrid');
      assert.equal(inNettedSilo(policyById('hybrid')!, population.traders[0]!), true);
      assert.equal(
        inNettedSilo(policyById('hybrid')!, population.traders[1]!),
        false,
        'one position: isolated',
      );
      // The silo: BTC's loss is ETH's gain (ETH is a tenth of BTC, ten times the size), so its equity stays 800 against
      // a netted maintenance of 45 (each leg alone 90; the worst scenario of the grid costs 0.4 of a leg, the floor
      // 0.25 of the sum). Isolated, the same BTC leg had 400 against its own 89.8.
      assert.deepEqual(o.started, [[4, 'A', 'BTCUSDT', null]]);
      assert.ok(
        o.free.every((b) => b === 180n * U),
        'H risks what it risks isolated: free 180 throughout',
      );
      assert.ok(
        o.silo.every((b) => b === 800n * U),
        o.silo.join(','),
      );
      const f = o.result.figures;
      assert.equal(f.collateralLost, 400n * U, "A's bucket only");
      assert.equal(f.silos.traders, 1);
      assert.equal(f.silos.legs, 2);
      // After the BTC leg: 400 standalone and netted (one leg); after ETH: 800 standalone, 200 netted.
      assert.equal(f.silos.standaloneInitialMargin, 1200n * U);
      assert.equal(f.silos.initialMargin, 600n * U);
      assert.equal(f.silos.liquidations, 0);
      assert.equal(f.silos.refusedTransfers, 0);
      // H: free 180 + silo 800 + (−600 + 600). Isolated H ended with 1,180: its BTC loss stopped at the bucket's 400
      // while the ETH gain ran on — the silo keeps both legs, so it carried the whole −600.
      assert.equal(f.traders.equity, (980n + 590n) * U);
      assert.equal(f.isolationBreaches, 0);
      assert.equal(f.contagion.traders, 0);
      assert.ok(f.conservation.ok, f.conservation.problems.join('; '));
    },
  );

  test('hybrid:0 (nobody opts in) is the isolated run, figure for figure', TIMEOUT, () => {
    const iso = run('isolated').result.figures;
    const h0 = run('hybrid:0').result.figures;
    assert.equal(toJson(h0), toJson(iso));
  });
});

describe('hybrid policy on a seeded population', () => {
  test(
    'same seed → the same hybrid summary (one process, or two child processes); hybrid:0 equals isolated',
    TIMEOUT,
    async () => {
      const opts = {
        traders: 250,
        seed: 5,
        policies: ['isolated', 'hybrid', 'hybrid:0'],
        intrabar: 'ohlc' as const,
        bars: 600,
      };
      const summary = async (workers: number) => {
        const prep = prepare(opts);
        return toJson(summarize(prep, await runAll(prep, { workers })));
      };
      const a = await summary(1);
      assert.equal(a, await summary(1));
      assert.equal(a, await summary(2));
      const s = JSON.parse(a);
      const [iso, hybrid, none] = s.policies;
      assert.equal(hybrid.id, 'hybrid');
      assert.equal(hybrid.settings.nettedSilos.share, 0.5);
      assert.ok(hybrid.silos.traders > 10, `some traders opt in (${hybrid.silos.traders})`);
      assert.ok(hybrid.silos.legs >= 2 * hybrid.silos.traders - 5);
      assert.equal(hybrid.isolationBreaches, 0);
      assert.equal(hybrid.silos.refusedTransfers, 0);
      // The like-for-like group: the opted-in traders under isolated and under hybrid.
      assert.equal(hybrid.silos.optedIn.traders, hybrid.silos.traders);
      assert.deepEqual(
        hybrid.silos.optedIn.policies.map((p: { id: string }) => p.id),
        ['isolated', 'hybrid'],
      );
      assert.equal(hybrid.silos.optedIn.policies[0].contagion, 0);
      assert.ok(hybrid.conservation.ok, hybrid.conservation.problems.join('; '));
      // Everything but the policy's name, settings and silos, and its command count (hybrid sends setNetting).
      const strip = (p: {
        id: string;
        description: string;
        settings: unknown;
        silos?: unknown;
        commands: number;
      }) => {
        const { id: _i, description: _d, settings: _s, silos: _x, commands: _c, ...rest } = p;
        return rest;
      };
      assert.deepEqual(strip(none), strip(iso));
    },
  );

  test('a larger share only adds traders: the opted-in set at 0.25 is inside the set at 0.5', TIMEOUT, () => {
    const prep = prepare({ traders: 2000, seed: 9, policies: ['hybrid'], intrabar: 'close', bars: 10 });
    const set = (share: string) =>
      new Set(
        prep.population.traders
          .filter((t) => inNettedSilo(policyById(`hybrid:${share}`)!, t))
          .map((t) => t.id),
      );
    const quarter = set('0.25');
    const half = set('0.5');
    const multi = prep.population.traders.filter((t) => t.positions.length >= 2).length;
    for (const id of quarter) assert.ok(half.has(id), id);
    assert.ok(Math.abs(half.size / multi - 0.5) < 0.05, `${half.size} of ${multi}`);
    assert.equal(set('1').size, multi);
    assert.equal(set('0').size, 0);
  });
});
