/**
 * The simulation at scale: 100k traders (about 195k positions) over the full 38,942-minute Bitstamp path, through
 * the full engine (oracle marks, funding, liquidation sweeps, market makers re-quoting every minute, the backstop
 * unwinding), under every default policy, as `ringfence simulate` runs by default.
 *
 *   npm run bench -- simulate [--traders 100000] [--policies all] [--workers <CLI default>] [--intrabar close]
 *                             [--bars 0] [--seed 1]
 *
 * `--policies all` (the default) is the CLI's default set; a comma list chooses. Policies run in child processes as the
 * CLI runs them (by default one per core, as free memory allows: src/sim/parallel.ts `defaultWorkers`; `--workers 1`
 * runs them one after another in this process); each one's wall time is reported. Peak memory with children is the
 * largest resident memory of this process and its children together, sampled every 100 ms from /proc (the sum of
 * each one's own peak, an upper bound, is printed beside it); in one process, its own peak.
 * After the run the bench builds the CLI's summary and renders its HTML report (not written to disk), timed apart
 * (`reportS`); `cliS` is prepare + run + summary + report, what the CLI spends.
 *
 * Baseline in the same run: the same path and policies with no traders (market makers, oracle quotes, ticks,
 * funding only) — the fixed cost of replaying the path; the rest is what the population costs.
 * Targets (2-core machine): ≤ 60 s wall and ≤ 2 GiB peak RSS for the default run.
 */
import { summaryTable } from '../src/cli/simulate.ts';
import { DEFAULT_POLICY_IDS } from '../src/sim/markets.ts';
import { DEFAULT_OPTIONS_POLICY_IDS } from '../src/sim/options.ts';
import { defaultWorkers } from '../src/sim/parallel.ts';
import { renderReport } from '../src/sim/report.ts';
import { prepare, runAll, summarize } from '../src/sim/simulate.ts';
import { checkArgs, fmtInt, intArg, parseArgs, peakRssMiB, round, say, treeRssSampler } from './lib.ts';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, ['traders', 'policies', 'workers', 'intrabar', 'bars', 'seed']);
  const traders = intArg(a, 'traders', 100_000);
  // The same default as `ringfence simulate` (src/cli/simulate.ts): every default policy.
  const chosen = a.get('policies') ?? 'all';
  const policies =
    chosen === 'all' ? [...DEFAULT_POLICY_IDS, ...DEFAULT_OPTIONS_POLICY_IDS] : chosen.split(',');
  const workers = intArg(a, 'workers', defaultWorkers(policies.length, traders));
  const intrabar = a.get('intrabar') === 'ohlc' ? 'ohlc' : 'close';
  const opts = { seed: intArg(a, 'seed', 1), policies, intrabar, bars: intArg(a, 'bars', 0) } as const;

  const b0 = performance.now();
  const empty = prepare({ ...opts, traders: 0 });
  const baseline = await runAll(empty, { workers });
  const baselineS = (performance.now() - b0) / 1000;
  const points = empty.path.times.length;
  say(
    `baseline: ${fmtInt(points)} points (${fmtInt(empty.source.used)} minutes, ${intrabar}), ${baseline.length} policies, no traders: ${round(baselineS, 1)} s wall` +
      ` (${round((baseline[0]!.wallMs * 1000) / points, 1)} µs per point per policy, ${fmtInt(baseline[0]!.commands)} commands)`,
  );

  const t0 = performance.now();
  const prep = prepare({ ...opts, traders });
  const prepareS = (performance.now() - t0) / 1000;
  say(
    `prepared ${fmtInt(traders)} traders, ${fmtInt(prep.population.positions)} planned positions in ${round(prepareS, 1)} s`,
  );
  let lastPct = -1;
  const children: number[] = [];
  const tree = treeRssSampler();
  const results = await runAll(prep, {
    workers,
    childPeakRssKiB: children,
    onProgress: (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (pct >= lastPct + 20) {
        lastPct = pct;
        say(`  ${pct}% (${round((performance.now() - t0) / 1000, 1)} s)`);
      }
    },
  });
  const wallS = (performance.now() - t0) / 1000;
  const treePeak = tree.stop();
  const r0 = performance.now();
  const summary = summarize(prep, results);
  const reportBytes = renderReport(prep, results, summary, summaryTable(summary)).length;
  const reportS = (performance.now() - r0) / 1000;
  const baseMs = new Map(baseline.map((r) => [r.policy.id, r.wallMs]));
  for (const r of results) {
    const f = r.figures;
    say(
      `  ${r.policy.id.padEnd(18)} ${round(r.wallMs / 1000, 1)} s (no traders ${round((baseMs.get(r.policy.id) ?? 0) / 1000, 1)} s), ` +
        `${fmtInt(r.commands)} commands, ${fmtInt(f.liquidations.events)} liquidations, ` +
        `${fmtInt(f.opens.filled)} opened, ledger ${f.conservation.ok ? 'ok' : 'FAIL'}`,
    );
  }
  say(`summary and HTML report (${fmtInt(reportBytes / 1024)} KiB, not written): ${round(reportS, 2)} s`);
  const parentPeak = peakRssMiB();
  const childPeaks = children.map((k) => round(k / 1024, 1));
  const sumOfPeaks = round(parentPeak + childPeaks.reduce((x, y) => x + y, 0), 1);
  // In children, the peak the machine held at once is the sampled one; in this process, its own peak.
  const peak = childPeaks.length > 0 ? Math.max(treePeak, parentPeak) : parentPeak;
  const cliS = wallS + reportS;
  say(
    `${fmtInt(traders)} traders × ${results.length} policies over ${fmtInt(points)} points in ${workers} process(es): ${round(wallS, 1)} s wall,` +
      ` ${round(cliS, 1)} s with the summary and report (target ≤ 60 s), peak RSS ${fmtInt(peak)} MiB (target ≤ 2048;` +
      ` this process ${fmtInt(parentPeak)}${childPeaks.length > 0 ? `, children ${childPeaks.map(fmtInt).join(' + ')}; the sum of the peaks ${fmtInt(sumOfPeaks)}` : ''});` +
      ` baseline without traders ${round(baselineS, 1)} s`,
  );
  return {
    traders,
    positions: prep.population.positions,
    points,
    policies: results.map((r) => r.policy.id),
    workers,
    wallS: round(wallS, 2),
    prepareS: round(prepareS, 2),
    reportS: round(reportS, 2),
    cliS: round(cliS, 2),
    perPolicyS: Object.fromEntries(results.map((r) => [r.policy.id, round(r.wallMs / 1000, 2)])),
    liquidations: Object.fromEntries(results.map((r) => [r.policy.id, r.figures.liquidations.events])),
    peakRssMiB: peak,
    parentPeakRssMiB: parentPeak,
    childPeakRssMiB: childPeaks,
    sumOfPeaksRssMiB: sumOfPeaks,
    baselineS: round(baselineS, 2),
    baselineUsPerPoint: round((baseline[0]!.wallMs * 1000) / points, 2),
    baselinePerPolicyS: Object.fromEntries(baseline.map((r) => [r.policy.id, round(r.wallMs / 1000, 2)])),
    ledgerOk: results.every((r) => r.figures.conservation.ok),
  };
}
