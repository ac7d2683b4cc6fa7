/**
 * Property test of vaults: random streams in which three depositors put money into vault `alpha` and take it out
 * (lock-ups, queued withdrawals), its manager trades BTCUSDT as the vault (isolated or cross, at several leverages,
 * opening, closing, flipping), the mark walks and gaps (liquidating the vault at times), and time passes (management
 * fees). Vault `beta` holds d2's deposit and is never named by the stream. After every command:
 * - the ledger is conserved and the whole-engine checks hold; a rejected command changed nothing;
 * - Σ holders' shares = totalShares (the manager's fee shares are a holding), for both vaults;
 * - Σ ⌊shares × NAV / total⌋ over the holders is the NAV less at most one unit per holder (the rounding of a payout);
 * - a deposit or withdrawal never lowers the NAV per share of those in the vault (after the management fee due at
 *   its time, which is dilution by design);
 * - a depositor's free balance moves only by their own vault events (deposit out, withdrawal in, queued ones too);
 * - beta's balances, shares and NAV never change.
 * At the end the commands replay on a fresh engine to the same state hash, and a snapshot restores to it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatDecimal } from '../../src/core/fixed.ts';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import type { Command, EngineEvent } from '../../src/engine/types.ts';
import { managementDue, NPS_ONE, type Vault, vaultNav } from '../../src/engine/vaults.ts';
import { assertReplays, BTCUSDT, type Cmd, engineProblems } from './harness.ts';

const DEPOSITORS = ['d0', 'd1', 'd2'] as const;
const START = 1_700_000_000_000;

const step = fc.record({
  kind: fc.constantFrom(
    'deposit',
    'deposit',
    'withdraw',
    'withdraw',
    'withdraw',
    'trade',
    'trade',
    'close',
    'walk',
    'walk',
    'gap',
    'tick',
    'leverage',
    'mode',
  ),
  who: fc.integer({ min: 0, max: 2 }),
  amount: fc.integer({ min: 1, max: 3000 }),
  cents: fc.integer({ min: 0, max: 99 }),
  pct: fc.integer({ min: 1, max: 100 }),
  side: fc.constantFrom('buy' as const, 'sell' as const),
  lots: fc.integer({ min: 1, max: 1500 }),
  move: fc.integer({ min: -400, max: 400 }),
  dt: fc.constantFrom(1, 50, 1_000, 60_000, 3_600_000, 86_400_000, 30 * 86_400_000),
  leverage: fc.constantFrom('1', '1', '2', '10', '20'),
});
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

interface Run {
  e: Engine;
  log: Command[];
  now: number;
  mark: number;
}

function setup(): Run {
  const r: Run = { e: new Engine(), log: [], now: START, mark: 20_000 };
  const cmds: Cmd[] = [
    { type: 'createMarket', market: BTCUSDT },
    { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' },
    { type: 'fundInsurance', asset: 'USDT', amount: '100000' },
    { type: 'deposit', account: 'mm', asset: 'USDT', amount: '100000000' },
    { type: 'setLeverage', account: 'mm', symbol: 'BTCUSDT', leverage: '1' },
    { type: 'deposit', account: 'mgr', asset: 'USDT', amount: '1000' },
    ...DEPOSITORS.map((d): Cmd => ({ type: 'deposit', account: d, asset: 'USDT', amount: '20000' })),
    {
      type: 'createVault',
      vault: 'alpha',
      manager: 'mgr',
      asset: 'USDT',
      lockupMs: 1000,
      performanceFee: '0.2',
      managementFee: '0.02',
      maxLeverage: '8',
    },
    {
      type: 'createVault',
      vault: 'beta',
      manager: 'mgr',
      asset: 'USDT',
      lockupMs: 0,
      performanceFee: '0.1',
      managementFee: '0',
      maxLeverage: '3',
    },
    { type: 'vaultDeposit', vault: 'beta', account: 'd2', amount: '1234.5' },
  ];
  for (const c of cmds) {
    const res = apply(r, c, 1);
    assert.ok(res.ok, `setup ${c.type}: ${res.ok ? '' : `${res.code} ${res.message}`}`);
  }
  return r;
}

function apply(r: Run, cmd: Cmd, dt: number) {
  r.now += dt;
  const c = { ...cmd, time: r.now } as Command;
  r.log.push(c);
  return r.e.apply(c);
}

/** The commands of one step (a trade is the maker's quote, then the vault's IOC). */
function commandsOf(r: Run, s: Step): { cmd: Cmd; dt: number }[] {
  const d = DEPOSITORS[s.who]!;
  const v = r.e.vaults.get('alpha')!;
  switch (s.kind) {
    case 'deposit':
      return [
        {
          cmd: { type: 'vaultDeposit', vault: 'alpha', account: d, amount: `${s.amount}.${s.cents}` },
          dt: 1,
        },
      ];
    case 'withdraw': {
      const held = v.depositors.get(d)?.shares ?? 0n;
      const shares = (held * BigInt(s.pct)) / 100n;
      return [
        {
          cmd: { type: 'vaultWithdraw', vault: 'alpha', account: d, shares: formatDecimal(shares, 6) },
          dt: 1,
        },
      ];
    }
    case 'trade':
    case 'close': {
      const p = r.e.accounts.get('vault:alpha')!.positions.get('BTCUSDT');
      const close = s.kind === 'close';
      if (close && (p === undefined || p.sign === 0)) return [];
      const side = close ? (p!.sign > 0 ? 'sell' : 'buy') : s.side;
      const lots = close ? Math.min(p!.lots, s.lots) : s.lots;
      const size = (lots / 1000).toFixed(3);
      const price = String(r.mark);
      return [
        {
          cmd: {
            type: 'placeOrder',
            account: 'mm',
            symbol: 'BTCUSDT',
            side: side === 'buy' ? 'sell' : 'buy',
            orderType: 'limit',
            size,
            price,
            timeInForce: 'GTC',
          },
          dt: 1,
        },
        {
          cmd: {
            type: 'placeOrder',
            account: 'vault:alpha',
            symbol: 'BTCUSDT',
            side,
            orderType: 'limit',
            size,
            price,
            timeInForce: 'IOC',
            reduceOnly: close,
          },
          dt: 1,
        },
        { cmd: { type: 'cancelAll', account: 'mm' }, dt: 1 },
      ];
    }
    case 'walk':
    case 'gap': {
      r.mark = Math.max(5_000, r.mark + (s.kind === 'gap' ? s.move * 10 : s.move));
      return [{ cmd: { type: 'setMarkPrice', symbol: 'BTCUSDT', price: String(r.mark) }, dt: 1 }];
    }
    case 'tick':
      return [{ cmd: { type: 'tick' }, dt: s.dt }];
    case 'leverage':
      return [
        {
          cmd: { type: 'setLeverage', account: 'vault:alpha', symbol: 'BTCUSDT', leverage: s.leverage },
          dt: 1,
        },
      ];
    case 'mode':
      return [
        {
          cmd: {
            type: 'setMarginMode',
            account: 'vault:alpha',
            symbol: 'BTCUSDT',
            mode: s.side === 'buy' ? 'cross' : 'isolated',
          },
          dt: 1,
        },
      ];
  }
}

const mainOf = (e: Engine, id: string) => e.accounts.get(id)?.wallets.get('USDT')?.main.balance ?? 0n;

function betaState(e: Engine): string {
  const v = e.vaults.get('beta')!;
  const ledger = e.ledger
    .accounts()
    .filter((l) => l.label.startsWith('vault:beta:'))
    .map((l) => `${l.label}=${l.balance}`);
  const holders = [...v.depositors].map(([k, h]) => `${k}:${h.shares}:${h.hwm}`);
  return [...ledger, ...holders, `total=${v.totalShares}`, `nav=${vaultNav(e, v)}`].join(',');
}

/** Everything the properties check after one accepted or rejected command; returns the problems found. */
function check(
  r: Run,
  cmd: Command,
  ok: boolean,
  events: EngineEvent[],
  before: { hash: string; mains: bigint[]; nps: bigint | null; beta: string },
): string[] {
  const e = r.e;
  const out: string[] = [];
  const where = `${cmd.type} at ${cmd.time}`;
  for (const p of engineProblems(e)) out.push(`${where}: ${p}`);
  if (!ok && stateHash(e) !== before.hash) out.push(`${where}: rejected but the state changed`);
  for (const v of e.vaults.values()) {
    let sum = 0n;
    for (const h of v.depositors.values()) sum += h.shares;
    if (sum !== v.totalShares)
      out.push(`${where}: ${v.id} holders hold ${sum}, totalShares ${v.totalShares}`);
    const nav = vaultNav(e, v);
    if (v.totalShares > 0n && nav > 0n) {
      let paid = 0n;
      for (const h of v.depositors.values()) paid += (h.shares * nav) / v.totalShares;
      if (paid > nav || nav - paid > BigInt(v.depositors.size))
        out.push(`${where}: ${v.id} holders' worth ${paid} against NAV ${nav}`);
    }
    let queued = 0n;
    for (const q of v.queue) queued += q.shares;
    for (const [id, h] of v.depositors) {
      let mine = 0n;
      for (const q of v.queue) if (q.account === id) mine += q.shares;
      if (mine > h.shares) out.push(`${where}: ${id} has ${mine} queued of ${h.shares}`);
    }
    if (queued > v.totalShares) out.push(`${where}: ${v.id} queue larger than the shares`);
  }
  // Depositors' money moves only by their own vault events.
  for (const [i, d] of DEPOSITORS.entries()) {
    let expected = 0n;
    for (const ev of events) {
      if (ev.type === 'vaultDeposit' && ev.account === d) expected -= ev.amount;
      if (ev.type === 'vaultWithdraw' && ev.account === d) expected += ev.amount;
    }
    const delta = mainOf(e, d) - before.mains[i]!;
    if (delta !== expected)
      out.push(`${where}: ${d}'s balance moved ${delta}, its vault events say ${expected}`);
  }
  // A deposit or withdrawal never lowers the others' NAV per share (past the management fee due at its time).
  const a = e.vaults.get('alpha')!;
  if (ok && (cmd.type === 'vaultDeposit' || cmd.type === 'vaultWithdraw') && before.nps !== null) {
    const nav = vaultNav(e, a);
    if (a.totalShares > 0n) {
      const nps = (nav * NPS_ONE) / a.totalShares;
      if (nps < before.nps) out.push(`${where}: NAV per share fell from ${before.nps} to ${nps}`);
    }
  }
  if (betaState(e) !== before.beta) out.push(`${where}: beta changed: ${before.beta} → ${betaState(e)}`);
  return out;
}

/** NAV per share at `time` once the management fee due then is minted (null: no shares or no NAV). */
function npsAt(e: Engine, v: Vault, time: number): bigint | null {
  const total = v.totalShares + managementDue(v, time);
  const nav = vaultNav(e, v);
  return total === 0n || nav <= 0n ? null : (nav * NPS_ONE) / total;
}

/** Event types seen over all runs (a coverage check: the streams must reach queues, fees and liquidations). */
const seen = new Set<string>();

describe('vault properties', () => {
  test('random streams: shares conserve money, nobody dilutes the others, depositors and beta isolated', {
    timeout: 600_000,
  }, () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 20, maxLength: 80 }), (steps) => {
        const r = setup();
        let accepted = 0;
        for (const s of steps) {
          for (const { cmd, dt } of commandsOf(r, s)) {
            const time = r.now + dt;
            const before = {
              hash: stateHash(r.e),
              mains: DEPOSITORS.map((d) => mainOf(r.e, d)),
              nps: npsAt(r.e, r.e.vaults.get('alpha')!, time),
              beta: betaState(r.e),
            };
            const res = apply(r, cmd, dt);
            if (res.ok) {
              accepted++;
              for (const ev of res.events) {
                seen.add(ev.type === 'vaultFee' ? `vaultFee:${ev.kind}` : ev.type);
                if (ev.type === 'vaultWithdraw' && ev.requestedAt !== undefined)
                  seen.add('vaultWithdraw:queued');
              }
            }
            const problems = check(r, r.log.at(-1)!, res.ok, res.ok ? res.events : [], before);
            assert.deepEqual(problems, [], `step ${JSON.stringify(s)}`);
          }
        }
        assert.ok(accepted > 0, 'some commands were accepted');
        assertReplays(r.log, r.e);
      }),
      { numRuns: Number(process.env.VAULT_RUNS ?? 100), includeErrorInReport: true },
    );
    for (const k of [
      'vaultDeposit',
      'vaultWithdraw',
      'vaultWithdrawQueued',
      'vaultWithdraw:queued',
      'vaultFee:management',
      'vaultFee:performance',
      'liquidationStarted',
    ])
      assert.ok(seen.has(k), `the streams never produced ${k}`);
  });
});
