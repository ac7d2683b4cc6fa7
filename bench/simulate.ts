/**
 * The simulation at scale: 100k traders (about 195k positions) over the full 38,942-minute Bitstamp path, through
 * the full engine (oracle marks, funding, liquidation sweeps, market makers re-quoting every minute, the backstop
 * unwinding), under ringfence's default policy (isolated).
 *
 *   npm run bench -- simulate [--traders 100000] [--policies isolated] [--workers 1] [--intrabar close]
 *                             [--bars 0] [--seed 1]
 *
 * More policies run one after another (or in --workers child processes; on this 2-vCPU VM they did not run faster).
 *
 * Baseline in the same run: the same path and policies with no traders (market makers, oracle quotes, ticks,
 * funding only) — the fixed cost of replaying the path; the rest is what the population costs.
 * Targets (2-core machine): ≤ 60 s wall and ≤ 2 GiB peak RSS for the default run.
 */
import { prepare, runAll } from '../src/sim/simulate.ts';
import { checkArgs, fmtInt, intArg, parseArgs, peakRssMiB, round, say } from './lib.ts';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, ['traders', 'policies', 'workers', 'intrabar', 'bars', 'seed']);
  const traders = intArg(a, 'traders', 100_000);
  const policies = (a.get('policies') ?? 'isolated').split(',');
  const workers = intArg(a, 'workers', 1);
  const intrabar = a.get('intrabar') === 'ohlc' ? 'ohlc' : 'close';
  const opts = { seed: intArg(a, 'seed', 1), policies, intrabar, bars: intArg(a, 'bars', 0) } as const;

  const b0 = performance.now();
  const empty = prepare({ ...opts, traders: 0 });
  const baseline = await runAll(empty, { workers });
  const baselineS = (performance.now() - b0) / 1000;
  const points = empty.path.times.length;
  say(
    `baseline: ${fmtInt(points)} points (${fmtInt(empty.source.used)} minutes, ${intrabar}), ${policies.length} policies, no traders: ${round(baselineS, 1)} s wall` +
      ` (${round((baseline[0]!.wallMs * 1000) / points, 1)} µs per point per policy, ${fmtInt(baseline[0]!.commands)} commands)`,
  );

  const t0 = performance.now();
  const prep = prepare({ ...opts, traders });
  const prepareS = (performance.now() - t0) / 1000;
  say(
    `prepared ${fmtInt(traders)} traders, ${fmtInt(prep.population.positions)} planned positions in ${round(prepareS, 1)} s`,
  );
  let lastPct = -1;
  const results = await runAll(prep, {
    workers,
    onProgress: (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (pct >= lastPct + 20) {
        lastPct = pct;
        say(`  ${pct}% (${round((performance.now() - t0) / 1000, 1)} s)`);
      }
    },
  });
  const wallS = (performance.now() - t0) / 1000;
  for (const r of results) {
    const f = r.figures;
    say(
      `  ${r.policy.id.padEnd(18)} ${round(r.wallMs / 1000, 1)} s, ${fmtInt(r.commands)} commands, ${fmtInt(f.liquidations.events)} liquidations, ` +
        `${fmtInt(f.opens.filled)} opened, ledger ${f.conservation.ok ? 'ok' : 'FAIL'}`,
    );
  }
  const peak = peakRssMiB();
  say(
    `${fmtInt(traders)} traders × ${policies.length} policies over ${fmtInt(points)} points in ${workers} process(es): ${round(wallS, 1)} s wall` +
      ` (target ≤ 60 s), peak RSS ${fmtInt(peak)} MiB (target ≤ 2048); baseline without traders ${round(baselineS, 1)} s`,
  );
  return {
    traders,
    positions: prep.population.positions,
    points,
    policies,
    workers,
    wallS: round(wallS, 2),
    prepareS: round(prepareS, 2),
    perPolicyS: Object.fromEntries(results.map((r) => [r.policy.id, round(r.wallMs / 1000, 2)])),
    liquidations: Object.fromEntries(results.map((r) => [r.policy.id, r.figures.liquidations.events])),
    peakRssMiB: peak,
    baselineS: round(baselineS, 2),
    baselineUsPerPoint: round((baseline[0]!.wallMs * 1000) / points, 2),
    ledgerOk: results.every((r) => r.figures.conservation.ok),
  };
}
