/**
 * The differential check of liquidation triggers at scale: random positions on every preset market, each in a fresh
 * engine on that preset's conventions, stepped toward liquidation; the engine must start at the first tick `calc`
 * calls liquidatable and show the tick before it (method: test/engine/differential-kit.ts; the CI run, smaller, is
 * test/engine/differential.test.ts).
 *
 *   npm run bench -- liquidation-differential [--cases 2000] [--step-cases 10000] [--seed 14] [--show 5]
 *
 * `--cases` per market, `--step-cases` per market whose maintenance jumps at bracket boundaries (step risk limits).
 * Disagreements do not stop the run: they are counted and the first `--show` are printed.
 */
import { tierJumps } from '../src/core/margin.ts';
import { venue } from '../src/core/presets.ts';
import { Rng } from '../src/sim/rng.ts';
import { type CaseOutcome, presetMarkets, runCase } from '../test/engine/differential-kit.ts';
import { checkArgs, fmtInt, intArg, parseArgs, round, say } from './lib.ts';

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, ['cases', 'step-cases', 'seed', 'show']);
  const cases = intArg(a, 'cases', 2000);
  const stepCases = intArg(a, 'step-cases', 10_000);
  const seed = intArg(a, 'seed', 14);
  const show = intArg(a, 'show', 5);
  const markets = presetMarkets();
  let ran = 0;
  let skipped = 0;
  let failures = 0;
  let banded = 0;
  let dips = 0;
  let steps = 0;
  const shown: string[] = [];
  const t0 = process.hrtime.bigint();
  markets.forEach(({ venue: v, symbol }, mi) => {
    const inst = venue(v).markets.get(symbol)!;
    const n = tierJumps(inst) !== 0 ? stepCases : cases;
    let bad = 0;
    for (let i = 0; i < n; i++) {
      let o: CaseOutcome;
      try {
        o = runCase(Rng.forItem(seed, mi + 1, i), v, symbol);
      } catch (err) {
        const msg = err instanceof Error ? err.message.split('\n')[0]! : String(err);
        failures++;
        bad++;
        if (shown.length < show) shown.push(msg);
        continue;
      }
      if (o.skipped) {
        skipped++;
        continue;
      }
      ran++;
      steps += o.steps;
      if (o.banded) banded++;
      if (o.dip) dips++;
    }
    say(`  ${v} ${symbol}: ${fmtInt(n)} cases${bad ? `, ${bad} disagreeing` : ''}`);
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const m of shown) say(`  disagreement: ${m}`);
  say(
    `${fmtInt(ran)} cases checked on ${markets.length} preset markets in ${round(seconds, 1)} s: ${failures} disagreements` +
      `; ${fmtInt(banded)} first ticks decided by` +
      ` whole-unit rounding, ${fmtInt(dips)} favourable-side step failures, ${fmtInt(steps)} engine steps`,
  );
  return {
    markets: markets.length,
    cases: ran,
    skipped,
    failures,
    banded,
    favourableSideDips: dips,
    engineSteps: steps,
    seconds: round(seconds, 1),
    casesPerSecond: round(ran / seconds),
    seed,
  };
}
