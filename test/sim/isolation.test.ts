/**
 * The isolation guarantee, checked after every command and every point of a small seeded run (hundreds of traders,
 * a few days of the real path, many liquidations): an isolated bucket's liquidation never lowers its owner's free
 * balance and never touches another of the owner's buckets.
 *
 * Per command (events): every transfer that touches a trader's ledger accounts in a command the trader did not send
 * (a price update, a tick, another account's order) must be one of
 *   - out of a bucket to the market (realized PnL to clearing, the liquidation fee or a shortfall to the insurance
 *     fund, funding to the pool, a fee), or back to the owner's own free balance (margin released);
 *   - into a bucket from the market (realized profit, funding received);
 *   - out of the free balance only into one of the owner's buckets as auto-add margin — and only under the auto-add
 *     policy, for a position that opted in;
 *   - a reserve released to the owner's free balance;
 * and never between two buckets, or between two owners. Inside each liquidation (from its liquidationStarted to the
 * next), no transfer touches any of the owner's accounts but the liquidated bucket and (as a destination) its free
 * balance.
 * Per point (state): a trader's free balance never falls over a point in which it sent no command (less auto-add
 * under that policy), and the ledger verifies.
 * Under the hybrid policy a named silo is one more bucket (`<trader>:silo:<id>`), with several legs: the same rules
 * hold for it, so a silo's liquidation takes only the silo's own collateral. Under isolated+rebalance the one transfer
 * between two buckets allowed is the rebalancing agent's, between two silos of a trader who opted in. Under
 * isolated+btc-collateral a silo also holds BTC (`<silo>#BTC`, part of the box): a conversion may move it only to the
 * insurance fund and the fund's USDT only into that silo, for a trader funded in BTC; the trader's free BTC
 * (`<trader>:main:BTC`) is free balance like its USDT. Under vaults a depositor's stake moves only by its own
 * vaultDeposit and vaultWithdraw, and the vault accounts (cross margin, not traders) never pay from a trader's label.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Engine } from '../../src/engine/engine.ts';
import type { Command, EngineEvent } from '../../src/engine/types.ts';
import { policyById } from '../../src/sim/markets.ts';
import { inBtcCollateral, inRebalancing, runPolicy } from '../../src/sim/runner.ts';
import { prepare } from '../../src/sim/simulate.ts';

function check(
  policyId:
    | 'isolated'
    | 'isolated+auto-add'
    | 'isolated+rebalance'
    | 'isolated+btc-collateral'
    | 'vol-adjusted'
    | 'vaults'
    | 'cross'
    | 'hybrid',
) {
  const prep = prepare({ traders: 400, seed: 7, policies: [policyId], intrabar: 'ohlc', bars: 1500 });
  const traders = new Set(prep.population.traders.map((t) => t.id));
  const optedIn = new Set(prep.population.traders.filter((t) => t.autoAdd).map((t) => t.id));
  const autoAdd = policyId === 'isolated+auto-add';
  const policy = policyById(policyId)!;
  // The rebalancing traders: only their silos may pass collateral to one another, and only as the agent.
  const rebalancing = new Set(
    prep.population.traders.filter((t) => inRebalancing(policy, t)).map((t) => t.id),
  );
  let rebalances = 0;
  // The traders funded in BTC: only their silos hold BTC, and only they may sell it to the fund.
  const btcFunded = new Set(
    prep.population.traders.filter((t) => inBtcCollateral(policy, t, prep.markets)).map((t) => t.id),
  );
  let conversions = 0;
  const problems: string[] = [];
  let liquidations = 0;
  let siloLiquidations = 0;
  let autoAdds = 0;
  let point = 0;
  const senders = new Set<string>();
  const autoAdded = new Map<string, bigint>();
  const free = new Map<string, bigint>();
  const owner = (label: string) => {
    const i = label.indexOf(':');
    const a = i < 0 ? '' : label.slice(0, i);
    return traders.has(a) ? a : null;
  };
  const kind = (label: string) => label.split(':')[1];
  const isBucket = (k: string | null | undefined) => k === 'isolated' || k === 'silo';
  const problem = (what: string, cmd: Command, e?: EngineEvent) => {
    if (problems.length < 20)
      problems.push(
        `point ${point}, ${cmd.type}: ${what}${e ? ` ${JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}` : ''}`,
      );
  };
  const onCommand = (cmd: Command, r: ReturnType<Engine['apply']>, issuer: string | null) => {
    if (issuer !== null) senders.add(issuer);
    if (!r.ok) return;
    let span: { account: string; bucket: string } | null = null;
    for (const e of r.events) {
      if (e.type === 'liquidationStarted') {
        liquidations++;
        if (e.silo !== undefined) siloLiquidations++;
        // A vault trades in cross margin in its own account: its liquidation takes the vault's money only.
        if (
          e.mode !== 'isolated' &&
          e.silo === undefined &&
          policyId !== 'cross' &&
          !e.account.startsWith('vault:')
        )
          problem('a cross liquidation under an isolated policy', cmd, e);
        const own =
          e.silo !== undefined
            ? `${e.account}:silo:${e.silo}`
            : e.mode === 'isolated'
              ? `${e.account}:isolated:${e.symbol}`
              : `${e.account}:main:USDT`;
        span = traders.has(e.account) ? { account: e.account, bucket: own } : null;
        continue;
      }
      if (e.type === 'autoAddMargin') {
        autoAdds++;
        span = null;
        autoAdded.set(e.account, (autoAdded.get(e.account) ?? 0n) + e.amount);
        if (!autoAdd || !optedIn.has(e.account))
          problem('auto-add for a position that did not opt in', cmd, e);
        continue;
      }
      if (e.type === 'marginCall') span = null;
      if (e.type === 'collateralRebalanced') {
        rebalances++;
        if (!rebalancing.has(e.account)) problem('the agent moved for a trader who did not opt in', cmd, e);
      }
      if (e.type === 'collateralConverted') {
        conversions++;
        if (!btcFunded.has(e.account)) problem('a conversion for a trader not funded in BTC', cmd, e);
      }
      if (e.type !== 'transfer') continue;
      const from = owner(e.from);
      const to = owner(e.to);
      if (e.reason === 'collateralConversion') {
        // A silo's holding to the fund, the fund's settle asset into that silo's bucket; nothing else.
        const silo = from ?? to;
        const side = from !== null ? e.from : e.to;
        const other = from !== null ? e.to : e.from;
        const ok =
          silo !== null &&
          btcFunded.has(silo) &&
          kind(side) === 'silo' &&
          other.startsWith('insurance:') &&
          (from !== null ? side.includes('#') : !side.includes('#'));
        if (!ok) problem('a conversion transfer outside a BTC-funded silo and the fund', cmd, e);
        continue;
      }
      if (from !== null && to !== null && from !== to) problem('a transfer between two traders', cmd, e);
      // Auto-add is not part of a liquidation (its transfer precedes its event): it ends the span, and the checks
      // below allow it only under the auto-add policy.
      if (e.reason === 'autoAddMargin') span = null;
      // The agent's move into a box, likewise: it precedes that box's own check.
      if (e.reason === 'rebalance') span = null;
      if (span !== null) {
        for (const [label, side] of [
          [e.from, 'from'],
          [e.to, 'to'],
        ] as const) {
          if (owner(label) !== span.account || label === span.bucket || e.reason === 'funding') continue;
          if (label.startsWith(`${span.bucket}#`)) continue; // the box's own holding
          if (side === 'to' && kind(label) === 'main') continue; // released to the owner: fine
          if (side === 'from' && kind(label) === 'reserved' && e.reason === 'orderRelease') continue;
          problem(`liquidation of ${span.bucket} touched ${label}`, cmd, e);
        }
      }
      for (const t of new Set([from, to])) {
        if (t === null || t === issuer) continue;
        const fk = from === t ? kind(e.from) : null;
        const tk = to === t ? kind(e.to) : null;
        const agent = e.reason === 'rebalance' && fk === 'silo' && tk === 'silo' && rebalancing.has(t);
        if (isBucket(fk) && isBucket(tk) && !agent) problem('a transfer between two buckets', cmd, e);
        else if (fk === 'main' && !(tk === 'isolated' && e.reason === 'autoAddMargin' && autoAdd))
          problem("a trader's free balance debited by a command it did not send", cmd, e);
        else if (fk === 'reserved' && tk !== 'main')
          problem('a reserve paid anywhere but back to free balance', cmd, e);
        else if (isBucket(tk) && fk === null && !/^(clearing|funding):/.test(e.from))
          problem(`a bucket credited from ${e.from}`, cmd, e);
        else if (isBucket(fk) && tk === null && !/^(clearing|insurance|funding|fees):/.test(e.to))
          problem(`a bucket paid to ${e.to}`, cmd, e);
      }
    }
  };
  const onPoint = (p: number, engine: Engine) => {
    for (const id of traders) {
      const main = engine.accounts.get(id)?.wallets.get('USDT')?.main.balance ?? 0n;
      const before = free.get(id);
      if (before !== undefined && !senders.has(id) && main < before - (autoAdded.get(id) ?? 0n))
        problems.push(
          `point ${p}: ${id}'s free balance fell from ${before} to ${main} without a command of its own`,
        );
      free.set(id, main);
    }
    if (p % 100 === 0) {
      const v = engine.ledger.verify();
      if (!v.ok) problems.push(`point ${p}: ledger: ${v.problems.join('; ')}`);
    }
    senders.clear();
    autoAdded.clear();
    point = p + 1;
  };
  const result = runPolicy(prep, policy, { onCommand, onPoint });
  return { problems, liquidations, siloLiquidations, autoAdds, rebalances, conversions, result };
}

describe('isolation guarantee, after every command and every point', () => {
  test('isolated: liquidations never touch free balance or another bucket', () => {
    const r = check('isolated');
    assert.deepEqual(r.problems, []);
    assert.ok(r.liquidations >= 50, `the run must exercise liquidation (saw ${r.liquidations})`);
    assert.equal(r.autoAdds, 0);
    assert.equal(r.result.figures.isolationBreaches, 0);
    assert.equal(r.result.figures.contagion.traders, 0);
    assert.ok(r.result.figures.conservation.ok);
  });
  test('isolated + auto-add: only opted-in positions draw on free balance, and only as auto-add', () => {
    const r = check('isolated+auto-add');
    assert.deepEqual(r.problems, []);
    assert.ok(r.liquidations >= 50, `the run must exercise liquidation (saw ${r.liquidations})`);
    assert.ok(r.autoAdds >= 5, `the run must exercise auto-add (saw ${r.autoAdds})`);
    assert.equal(r.result.figures.isolationBreaches, 0);
  });
  test('hybrid: a netted silo is one box — its liquidations never touch free balance, another bucket or another silo', {
    timeout: 300_000,
  }, () => {
    const r = check('hybrid');
    assert.deepEqual(r.problems, []);
    assert.ok(r.siloLiquidations >= 10, `the run must liquidate silos (saw ${r.siloLiquidations})`);
    assert.ok(r.liquidations > r.siloLiquidations, 'and the traders left isolated');
    assert.equal(r.autoAdds, 0);
    assert.equal(r.result.figures.isolationBreaches, 0);
    assert.equal(r.result.figures.contagion.traders, 0);
    assert.equal(r.result.figures.silos.refusedTransfers, 0);
    assert.ok(r.result.figures.conservation.ok);
  });
  test('isolated + rebalance: the agent moves only between an opted-in trader’s own silos; every liquidation takes only its box', {
    timeout: 300_000,
  }, () => {
    const r = check('isolated+rebalance');
    assert.deepEqual(r.problems, []);
    assert.ok(r.rebalances >= 5, `the run must exercise the agent (saw ${r.rebalances})`);
    assert.ok(r.siloLiquidations >= 1, `and liquidate a silo (saw ${r.siloLiquidations})`);
    assert.equal(r.autoAdds, 0);
    assert.equal(r.result.figures.isolationBreaches, 0);
    assert.equal(r.result.figures.contagion.traders, 0);
    assert.equal(r.result.figures.silos.refusedTransfers, 0);
    assert.equal(r.result.figures.rebalance.events, r.rebalances);
    assert.ok(r.result.figures.conservation.ok);
  });
  test('isolated + btc-collateral: a BTC-funded silo sells its BTC only to the fund and only its own; liquidations take only their box', {
    timeout: 300_000,
  }, () => {
    const r = check('isolated+btc-collateral');
    assert.deepEqual(r.problems, []);
    assert.ok(r.conversions >= 1, `the run must convert BTC (saw ${r.conversions})`);
    assert.ok(r.siloLiquidations >= 1, `and liquidate a BTC-funded silo (saw ${r.siloLiquidations})`);
    assert.equal(r.autoAdds, 0);
    assert.equal(r.result.figures.isolationBreaches, 0);
    assert.equal(r.result.figures.contagion.traders, 0);
    assert.equal(r.result.figures.silos.refusedTransfers, 0);
    const c = r.result.figures.btcCollateral.conversions;
    assert.equal(c.liquidation.count + c.shortfall.count, r.conversions);
    assert.ok(r.result.figures.conservation.ok, r.result.figures.conservation.problems.join('; '));
  });
  test('vaults: the stakes go in and come out only by their owners’ own commands; the managers’ trading never touches a trader', {
    timeout: 300_000,
  }, () => {
    const r = check('vaults');
    assert.deepEqual(r.problems, []);
    assert.ok(r.liquidations >= 50, `the run must exercise liquidation (saw ${r.liquidations})`);
    const v = r.result.vaults!;
    assert.ok(
      v.vaults.every((f) => f.depositors > 0 && f.breaches === 0),
      'three vaults with depositors, no breach',
    );
    assert.ok(
      v.vaults.some((f) => f.trades > 0),
      'a manager traded',
    );
    assert.equal(r.result.figures.isolationBreaches, 0);
    assert.ok(r.result.figures.conservation.ok, r.result.figures.conservation.problems.join('; '));
  });
  test('vol-adjusted: raises and cuts of the margin factor change nothing about isolation', {
    timeout: 300_000,
  }, () => {
    const r = check('vol-adjusted');
    assert.deepEqual(r.problems, []);
    assert.ok(r.liquidations >= 50, `the run must exercise liquidation (saw ${r.liquidations})`);
    const d = r.result.figures.dynamicMargin;
    assert.ok(d.raises >= 1 && d.cuts >= 1, `raises ${d.raises}, cuts ${d.cuts}`);
    assert.equal(r.result.figures.isolationBreaches, 0);
    assert.equal(r.result.figures.contagion.traders, 0);
    assert.ok(r.result.figures.conservation.ok);
  });
  test('the same checks catch cross margin doing what isolation forbids', () => {
    const r = check('cross');
    assert.ok(r.liquidations > 0);
    assert.ok(
      r.problems.some((p) => p.includes('free balance debited')),
      r.problems.slice(0, 3).join('\n'),
    );
    assert.ok(r.result.figures.contagion.traders > 0);
  });
});
