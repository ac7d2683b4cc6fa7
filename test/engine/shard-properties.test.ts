/**
 * Property test of cross-shard transfers (issue 25): three shards — `btc` (BTCUSDT), `eth` (ETHUSDT), `inv` (the
 * inverse BTCUSD and ETHUSDT: it alone knows BTC) — and random streams of deposits, withdrawals, trades, mark moves
 * (liquidations among them), transfers started in any direction and asset, coordinators that take one step and
 * vanish (a credit, an abort, a settle with the target's answer), full coordinator passes over shards that are down
 * or lose answers, and shard crashes (each engine rebuilt from its log, which must give the same state).
 * After every step (venueProblems): each shard's own invariants; per asset, money in flight is exactly what was held
 * and not yet credited, and the venue's balances plus it equal its net deposits; no transfer is settled without its
 * credit, reverted without its abort, or credited when its source reverted it — so none is applied twice or lost.
 * A rejected command changes nothing. At the end, passes over healthy shards finish every transfer: nothing is
 * held, nothing is in flight, and every shard's log replays (and its snapshot restores) to its state.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { stateHash } from '../../src/engine/hash.ts';
import { inFlight } from '../../src/engine/shard-transfers.ts';
import { TransferCoordinator } from '../../src/service/shard/coordinator.ts';
import { assertReplays, BTCUSD, BTCUSDT, type Cmd, ETHUSDT } from './harness.ts';
import { EnginePort, type Fault, Shard, venueProblems } from './shard-kit.ts';

const ACCOUNTS = ['a0', 'a1', 'a2'] as const;
const SHARDS = ['btc', 'eth', 'inv'] as const;
const MARK: Record<(typeof SHARDS)[number], [symbol: string, price: number]> = {
  btc: ['BTCUSDT', 20_000],
  eth: ['ETHUSDT', 1_500],
  inv: ['BTCUSD', 20_000],
};

const step = fc.record({
  kind: fc.constantFrom(
    'deposit',
    'withdraw',
    'trade',
    'trade',
    'mark',
    'out',
    'out',
    'out',
    'repeat',
    'credit',
    'abort',
    'settle',
    'pass',
    'pass',
    'crash',
  ),
  shard: fc.integer({ min: 0, max: 2 }),
  peer: fc.integer({ min: 1, max: 2 }),
  who: fc.integer({ min: 0, max: 2 }),
  amount: fc.integer({ min: 1, max: 6_000 }),
  btc: fc.boolean(),
  lots: fc.integer({ min: 1, max: 400 }),
  move: fc.integer({ min: -300, max: 300 }),
  pick: fc.nat(),
  faults: fc.array(fc.constantFrom<'none' | 'before' | 'after'>('none', 'none', 'before', 'after'), {
    minLength: 1,
    maxLength: 12,
  }),
});
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

function setup(): Shard[] {
  const btc = new Shard('btc', [BTCUSDT]);
  const eth = new Shard('eth', [ETHUSDT]);
  const inv = new Shard('inv', [BTCUSD, ETHUSDT]);
  for (const s of [btc, eth, inv]) {
    const [symbol, price] = MARK[s.name as 'btc'];
    s.must({ type: 'setMarkPrice', symbol, price: String(price) });
    s.must({ type: 'fundInsurance', asset: s === inv ? 'BTC' : 'USDT', amount: s === inv ? '10' : '100000' });
    s.must({
      type: 'deposit',
      account: 'mm',
      asset: s === inv ? 'BTC' : 'USDT',
      amount: s === inv ? '100' : '10000000',
    });
    for (const a of ACCOUNTS) s.must({ type: 'deposit', account: a, asset: 'USDT', amount: '5000' });
  }
  for (const a of ACCOUNTS) inv.must({ type: 'deposit', account: a, asset: 'BTC', amount: '0.5' });
  return [btc, eth, inv];
}

/** A fault schedule read in turn (then repeating), so a shrunk counterexample replays exactly. */
function schedule(faults: readonly ('none' | 'before' | 'after')[]): Fault {
  let i = 0;
  return () => faults[i++ % faults.length]!;
}

async function run(steps: readonly Step[]): Promise<void> {
  const shards = setup();
  const marks = { ...MARK };
  let nextId = 1;
  const started: { id: string; from: Shard; to: Shard; cmd: Cmd }[] = [];
  const held = () => started.filter((t) => t.from.e.shardTransfers.held.has(t.id));
  for (const [n, s] of steps.entries()) {
    const at = shards[s.shard]!;
    const peer = shards[(s.shard + s.peer) % 3]!;
    const who = ACCOUNTS[s.who]!;
    const asset = at.name === 'inv' && s.btc ? 'BTC' : 'USDT';
    const amount = asset === 'BTC' ? (s.amount / 10_000).toFixed(4) : String(s.amount);
    const [symbol, price] = marks[at.name as 'btc'];
    const apply = (cmd: Cmd) => {
      const before = stateHash(at.e);
      const r = at.apply(cmd);
      if (!r.ok) assert.equal(stateHash(at.e), before, `step ${n}: rejected ${cmd.type} changed ${at.name}`);
      return r;
    };
    switch (s.kind) {
      case 'deposit':
        apply({ type: 'deposit', account: who, asset, amount });
        break;
      case 'withdraw':
        apply({ type: 'withdraw', account: who, asset, amount });
        break;
      case 'trade': {
        // BTCUSD trades whole 1-USD contracts; the linear markets 0.001 BTC / 0.01 ETH lots.
        const size = symbol === 'BTCUSD' ? String(s.lots * 10) : (s.lots / 100).toFixed(2);
        apply({
          type: 'placeOrder',
          account: 'mm',
          symbol,
          side: 'sell',
          orderType: 'limit',
          price: String(price),
          size,
        });
        apply({ type: 'placeOrder', account: who, symbol, side: 'buy', orderType: 'market', size });
        apply({ type: 'cancelAll', account: 'mm' });
        break;
      }
      case 'mark': {
        const p = Math.round(price * (1 + s.move / 1_000));
        marks[at.name as 'btc'] = [symbol, p];
        apply({ type: 'setMarkPrice', symbol, price: String(p) });
        break;
      }
      case 'out': {
        const cmd: Cmd = {
          type: 'shardTransferOut',
          transfer: `t${nextId++}`,
          account: who,
          asset,
          amount,
          to: peer.name,
        };
        if (apply(cmd).ok) started.push({ id: cmd.transfer, from: at, to: peer, cmd });
        break;
      }
      case 'repeat': {
        // The same hold again (a client retry): a duplicate, never a second hold.
        const t = started[s.pick % Math.max(1, started.length)];
        if (t === undefined) break;
        const r = t.from.apply(t.cmd);
        assert.ok(r.ok, `step ${n}: a repeated hold is accepted`);
        break;
      }
      case 'credit':
      case 'abort':
      case 'settle': {
        // One coordinator's single step, then it vanishes.
        const t = held()[s.pick % Math.max(1, held().length)];
        if (t === undefined) break;
        const o = t.cmd as Extract<Cmd, { type: 'shardTransferOut' }>;
        if (s.kind === 'credit')
          t.to.apply({
            type: 'shardTransferIn',
            transfer: t.id,
            account: o.account,
            asset: o.asset,
            amount: o.amount,
            from: t.from.name,
          });
        else if (s.kind === 'abort')
          t.to.apply({ type: 'shardTransferAbort', transfer: t.id, from: t.from.name });
        else {
          const there = t.to.e.shardTransfers.in.get(t.id)?.status;
          if (there === 'credited' || there === 'aborted')
            t.from.must({ type: 'shardTransferSettle', transfer: t.id, outcome: there });
        }
        break;
      }
      case 'pass': {
        const f = schedule(s.faults);
        await new TransferCoordinator(shards.map((x) => new EnginePort(x, f))).resume();
        break;
      }
      case 'crash':
        at.restart();
        break;
    }
    assert.deepEqual(venueProblems(shards), [], `after step ${n} (${s.kind} on ${at.name})`);
  }
  // Healthy passes finish everything held: at most two (a pass finishes each transfer it reads).
  const coordinator = new TransferCoordinator(shards.map((x) => new EnginePort(x)));
  for (let i = 0; i < 2 && held().length > 0; i++) await coordinator.resume();
  assert.deepEqual(
    held().map((t) => t.id),
    [],
    'every transfer finished',
  );
  for (const a of ['USDT', 'BTC'])
    assert.equal(
      shards.reduce((sum, x) => sum + inFlight(x.e, a), 0n),
      0n,
      `nothing in flight in ${a}`,
    );
  assert.deepEqual(venueProblems(shards), [], 'at the end');
  for (const x of shards) assertReplays(x.log, x.e);
  for (const x of shards) {
    for (const t of x.e.shardTransfers.out.values()) seen[t.status] = (seen[t.status] ?? 0) + 1;
    seen.liquidations = (seen.liquidations ?? 0) + x.liquidations;
    for (const c of x.log) if (c.type === 'shardTransferOut') seen.outCommands = (seen.outCommands ?? 0) + 1;
  }
}

/** What the streams exercised, printed so a run shows it was not vacuous. */
const seen: Record<string, number> = {};

describe('cross-shard transfers: random streams across three shards', () => {
  test('money is conserved venue-wide after every step; no transfer applied twice or lost', {
    timeout: 600_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 80 }), (steps) => run(steps)),
      { numRuns: 200, seed: 25, includeErrorInReport: true },
    );
    console.log(`# exercised: ${JSON.stringify(seen)}`);
    assert.ok(
      (seen.settled ?? 0) > 100 && (seen.reverted ?? 0) > 10,
      `streams settle and revert: ${JSON.stringify(seen)}`,
    );
  });
});
