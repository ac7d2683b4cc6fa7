/**
 * The options policies of `ringfence simulate`: options writers (short strangles, iron condors, covered calls) on the
 * replayed BTC month, each strategy in its own silo, margined standalone vs maxLoss — through the simulation's own
 * runner and the real engine.
 *
 * The writers here are funded lean on purpose: every cushion is set to 1, so each deposit is exactly the strategy's
 * requirement under the policy's model plus fees (rounded up to a whole USDT). Under `options-maxLoss` an iron
 * condor's requirement is its maximum loss at expiry, so a condor writer is funded at its max loss.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Engine } from '../../src/engine/engine.ts';
import { silosOf } from '../../src/engine/readmodel.ts';
import type { ApplyResult, Command } from '../../src/engine/types.ts';
import { OPTIONS_POLICY_IDS } from '../../src/sim/options.ts';
import { WRITER_SILO } from '../../src/sim/options-runner.ts';
import { type PolicyResult, runPolicy } from '../../src/sim/runner.ts';
import {
  type PreparedSimulation,
  prepare,
  resolvePolicies,
  runAll,
  SimulateError,
  summarize,
  toJson,
} from '../../src/sim/simulate.ts';

const SLOW = { timeout: 300_000 };

describe('options policies: reproducible', () => {
  test('same seed → the same JSON summary, in one process and on two child processes', SLOW, async () => {
    // 3.5 days of the month: daily expiries, listed and delisted along the path.
    const opts = {
      traders: 250,
      seed: 42,
      policies: ['options-standalone', 'options-maxLoss'],
      intrabar: 'close' as const,
      bars: 5000,
    };
    const run = async (workers: number) => {
      const prep = prepare(opts);
      return toJson(summarize(prep, await runAll(prep, { workers })));
    };
    const a = await run(1);
    assert.equal(a, await run(2));
    const s = JSON.parse(a);
    assert.equal(s.options.chain.cadence, 'daily');
    assert.ok(s.options.chain.expiries.length >= 2, 'several expiries');
    for (const p of s.policies) {
      assert.ok(p.options.opened > 0, `${p.id}: strategies opened`);
      assert.equal(
        p.options.listed.delisted,
        p.options.listed.markets,
        `${p.id}: every settled expiry delisted`,
      );
      assert.equal(p.conservation.ok, true, p.conservation.problems.join('; '));
      assert.equal(p.isolationBreaches, 0);
    }
  });
});

describe('options policies on the month, writers funded at exactly their requirement', () => {
  /** One prepared month (400 traders: about 40 writers), every cushion 1. */
  let prepared: PreparedSimulation | null = null;
  const prep = (): PreparedSimulation => {
    if (prepared) return prepared;
    prepared = prepare({
      traders: 400,
      seed: 7,
      policies: ['options-standalone', 'options-maxLoss'],
      intrabar: 'close',
    });
    for (const w of prepared.optionsPlan!.writers.writers) w.cushionMilli = 1000;
    return prepared;
  };
  interface Run {
    result: PolicyResult;
    /** Free-balance debits of a writer in a command it did not send, or of another kind than moving money in. */
    leaks: string[];
    /** Condor silos whose collateral did not cover their max loss, or whose requirement exceeded it, when opened. */
    uncovered: string[];
    condorsChecked: number;
  }
  const runs = new Map<string, Run>();
  const run = (id: string): Run => {
    const done = runs.get(id);
    if (done) return done;
    const p = prep();
    const writers = new Map(p.optionsPlan!.writers.writers.map((w) => [w.id, w]));
    const leaks: string[] = [];
    const uncovered: string[] = [];
    const checked = new Set<string>();
    const onCommand = (cmd: Command, r: ApplyResult, issuer: string | null) => {
      if (!r.ok) return;
      for (const e of r.events) {
        if (e.type !== 'transfer') continue;
        const who = e.from.endsWith(':main:USDT') ? e.from.slice(0, -':main:USDT'.length) : null;
        if (who === null || !writers.has(who)) continue;
        // The only way money leaves a writer's free balance: the writer moving it into its own silo.
        const own =
          issuer === who && cmd.type === 'transferCollateral' && e.to === `${who}:silo:${WRITER_SILO}`;
        if (!own && leaks.length < 10)
          leaks.push(`${cmd.type} by ${issuer}: ${e.reason} ${e.amount} to ${e.to}`);
      }
    };
    const onPoint = (_point: number, engine: Engine) => {
      // A condor's silo, checked once, at the end of the point it opened in.
      for (const [id, w] of writers) {
        if (w.strategy !== 'ironCondor' || checked.has(id)) continue;
        const silo = silosOf(engine, id).find((s) => s.id === WRITER_SILO);
        if (!silo || silo.legs.length < 4) continue;
        checked.add(id);
        if (silo.maxLoss === null) uncovered.push(`${id}: unbounded max loss`);
        else if (silo.collateral < silo.maxLoss || silo.initialMargin > silo.maxLoss)
          uncovered.push(
            `${id}: collateral ${silo.collateral}, IM ${silo.initialMargin}, max loss ${silo.maxLoss}`,
          );
      }
    };
    const policy = resolvePolicies([id])[0]!;
    const out: Run = {
      result: runPolicy(p, policy, policy.id === 'options-maxLoss' ? { onCommand, onPoint } : { onCommand }),
      leaks,
      uncovered,
      condorsChecked: checked.size,
    };
    runs.set(id, out);
    return out;
  };

  test('an iron condor writer funded at its max loss is never liquidated under options-maxLoss', SLOW, () => {
    const { result, uncovered, condorsChecked } = run('options-maxLoss');
    const o = result.options!;
    const condor = o.byStrategy.ironCondor;
    assert.ok(condor.opened >= 5, `condors opened: ${condor.opened}`);
    assert.equal(condorsChecked, condor.opened);
    assert.deepEqual(uncovered, [], 'every condor silo holds at least its max loss and needs no more');
    assert.equal(condor.liquidations, 0, 'no condor silo liquidated');
    // The month is rough enough to matter: the lean strangles (naked short options) do get liquidated.
    assert.ok(
      o.byStrategy.shortStrangle.liquidated > 0,
      'strangles funded at their requirement are liquidated',
    );
    assert.equal(result.figures.isolationBreaches, 0);
    assert.equal(result.figures.conservation.ok, true, result.figures.conservation.problems.join('; '));
  });

  test(
    'the standalone policy locks at least the maxLoss policy’s collateral, for the same writers',
    SLOW,
    () => {
      const standalone = run('options-standalone').result.options!;
      const maxLoss = run('options-maxLoss').result.options!;
      assert.equal(standalone.opened, maxLoss.opened, 'the same strategies opened');
      // The legs' own requirements do not depend on the model: the same sum at open under both.
      assert.equal(standalone.collateral.standaloneAtOpen, maxLoss.collateral.standaloneAtOpen);
      assert.equal(standalone.collateral.requirementAtOpen, standalone.collateral.standaloneAtOpen);
      assert.ok(maxLoss.collateral.requirementAtOpen <= maxLoss.collateral.standaloneAtOpen);
      assert.ok(standalone.collateral.atOpen >= maxLoss.collateral.atOpen);
      for (const s of ['shortStrangle', 'ironCondor', 'coveredCall'] as const)
        assert.ok(
          standalone.byStrategy[s].collateralAtOpen >= maxLoss.byStrategy[s].collateralAtOpen,
          `${s}: ${standalone.byStrategy[s].collateralAtOpen} < ${maxLoss.byStrategy[s].collateralAtOpen}`,
        );
      // A defined-risk condor needs far less than its legs alone.
      assert.ok(
        standalone.byStrategy.ironCondor.collateralAtOpen > maxLoss.byStrategy.ironCondor.collateralAtOpen,
      );
      assert.ok(standalone.collateral.timeAverage >= maxLoss.collateral.timeAverage);
    },
  );

  test('no writer loses money from its free balance but by moving it into its own silo', SLOW, () => {
    for (const id of ['options-standalone', 'options-maxLoss']) {
      const { result, leaks } = run(id);
      assert.deepEqual(leaks, [], id);
      assert.equal(result.figures.isolationBreaches, 0, id);
      assert.ok(result.options!.liquidations.events > 0, `${id}: the check saw liquidations`);
    }
  });
});

describe('options policies by name', () => {
  test('`options` names the four; an unknown name lists them', { timeout: 10_000 }, () => {
    assert.deepEqual(
      resolvePolicies(['options']).map((p) => p.id),
      [...OPTIONS_POLICY_IDS],
    );
    assert.deepEqual(OPTIONS_POLICY_IDS, [
      'options-standalone',
      'options-maxLoss',
      'options-strategy',
      'options-scenario',
    ]);
    assert.throws(
      () => resolvePolicies(['options-naked']),
      (e: unknown) => {
        assert.ok(e instanceof SimulateError);
        assert.match(e.message, /options-maxLoss/);
        return true;
      },
    );
  });
});
