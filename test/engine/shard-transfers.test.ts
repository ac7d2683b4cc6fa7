/**
 * Cross-shard transfers (issue 25), as stories. Shard `btc` runs BTCUSDT, shard `eth` ETHUSDT, shard `inv` the
 * inverse BTCUSD (its money is BTC, an asset the other two do not know). Alice holds USDT on `btc`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDecimal } from '../../src/core/fixed.ts';
import { restoreEngine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { inFlight } from '../../src/engine/shard-transfers.ts';
import { snapshotEngine } from '../../src/engine/snapshot.ts';
import type { EngineEvent } from '../../src/engine/types.ts';
import { TransferCoordinator } from '../../src/service/shard/coordinator.ts';
import { BTCUSD, BTCUSDT, ETHUSDT } from './harness.ts';
import { EnginePort, Shard, venueProblems } from './shard-kit.ts';

const T = { timeout: 60_000 };
const usdt = (v: string) => parseDecimal(v, 'v', { dp: 8 });

function venue() {
  const btc = new Shard('btc', [BTCUSDT]);
  const eth = new Shard('eth', [ETHUSDT]);
  const inv = new Shard('inv', [BTCUSD]);
  btc.must({ type: 'deposit', account: 'alice', asset: 'USDT', amount: '5000' });
  inv.must({ type: 'deposit', account: 'alice', asset: 'BTC', amount: '1' });
  const shards = [btc, eth, inv];
  const coordinator = new TransferCoordinator(shards.map((s) => new EnginePort(s)));
  const check = (when: string) => assert.deepEqual(venueProblems(shards), [], when);
  return { btc, eth, inv, shards, coordinator, check };
}

const transferEvent = (events: EngineEvent[]) => {
  const ev = events.find((x) => x.type === 'shardTransfer');
  assert.ok(ev?.type === 'shardTransfer', 'the command emits its shardTransfer event');
  return ev;
};

const out = (amount: string, transfer = 't1', to = 'eth') =>
  ({ type: 'shardTransferOut', transfer, account: 'alice', asset: 'USDT', amount, to }) as const;

describe('cross-shard transfers', () => {
  test(
    'alice moves 1,000 USDT from btc to eth: held, credited on eth, settled on btc; nothing in flight after',
    T,
    async () => {
      const v = venue();
      const held = transferEvent(v.btc.must(out('1000')).events);
      assert.equal(held.status, 'held', 'phase 1 holds the money on the source');
      assert.equal(v.btc.free('alice'), usdt('4000'), "the hold leaves alice's free balance on btc");
      assert.equal(inFlight(v.btc.e, 'USDT'), usdt('1000'), 'the held 1,000 is in flight');
      v.check('after the hold');

      const [t] = await v.coordinator.resume().then((r) => r.finished);
      assert.equal(t?.status, 'settled', 'the coordinator finishes it: settled on the source');
      assert.equal(v.eth.free('alice'), usdt('1000'), 'credited on eth (the account is created there)');
      assert.equal(v.btc.free('alice'), usdt('4000'), 'btc keeps 4,000');
      assert.equal(inFlight(v.btc.e, 'USDT') + inFlight(v.eth.e, 'USDT'), 0n, 'nothing in flight');
      assert.equal(v.btc.e.ledger.systemBalance('shardLink', 'USDT'), usdt('1000'), 'btc shipped 1,000 out');
      assert.equal(v.eth.e.ledger.systemBalance('shardLink', 'USDT'), -usdt('1000'), 'eth received 1,000');
      assert.equal(v.btc.e.shardTransfers.held.size, 0, 'nothing held any more');
      v.check('after settling');
    },
  );

  test(
    'BTC sent to a shard that does not know BTC: eth refuses it, records the abort, and inv returns it',
    T,
    async () => {
      const v = venue();
      v.inv.must({
        type: 'shardTransferOut',
        transfer: 'b1',
        account: 'alice',
        asset: 'BTC',
        amount: '0.4',
        to: 'eth',
      });
      assert.equal(v.inv.free('alice', 'BTC'), parseDecimal('0.6', 'v', { dp: 8 }), 'held on inv');
      const [t] = (await v.coordinator.resume()).finished;
      assert.equal(t?.status, 'reverted', 'eth can never credit BTC: the transfer is reverted');
      assert.equal(
        v.inv.free('alice', 'BTC'),
        parseDecimal('1', 'v', { dp: 8 }),
        'alice has her 1 BTC back on inv',
      );
      assert.equal(
        v.eth.e.shardTransfers.in.get('b1')?.status,
        'aborted',
        "eth's record of b1 is final: aborted",
      );
      v.check('after the revert');
    },
  );

  test(
    'every step repeated is accepted and moves nothing; other terms under the same id are refused',
    T,
    () => {
      const v = venue();
      v.btc.must(out('100'));
      const again = transferEvent(v.btc.must(out('100')).events);
      assert.equal(again.duplicate, true, 'a repeated hold is a duplicate');
      assert.equal(v.btc.free('alice'), usdt('4900'), 'held once');
      const mismatch = v.btc.apply(out('101'));
      assert.equal(mismatch.ok, false, 'another amount under the same id is refused');
      if (!mismatch.ok) assert.equal(mismatch.code, 'TRANSFER_MISMATCH', mismatch.message);

      const credit = {
        type: 'shardTransferIn',
        transfer: 't1',
        account: 'alice',
        asset: 'USDT',
        amount: '100',
        from: 'btc',
      } as const;
      v.eth.must(credit);
      assert.equal(
        transferEvent(v.eth.must(credit).events).duplicate,
        true,
        'a repeated credit is a duplicate',
      );
      assert.equal(v.eth.free('alice'), usdt('100'), 'credited once');
      const late = transferEvent(
        v.eth.must({ type: 'shardTransferAbort', transfer: 't1', from: 'btc' }).events,
      );
      assert.equal(late.status, 'credited', 'an abort after the credit answers credited: the credit stands');

      v.btc.must({ type: 'shardTransferSettle', transfer: 't1', outcome: 'credited' });
      const settledAgain = transferEvent(
        v.btc.must({ type: 'shardTransferSettle', transfer: 't1', outcome: 'credited' }).events,
      );
      assert.equal(settledAgain.duplicate, true, 'a repeated settle is a duplicate');
      const flip = v.btc.apply({ type: 'shardTransferSettle', transfer: 't1', outcome: 'aborted' });
      assert.equal(flip.ok, false, 'a settled transfer cannot be reverted');
      if (!flip.ok) assert.equal(flip.code, 'TRANSFER_MISMATCH', flip.message);
      v.check('after the repeats');
    },
  );

  test('an abort that lands first makes a late credit a no-op, and the source reverts', T, () => {
    const v = venue();
    v.btc.must(out('250'));
    v.eth.must({ type: 'shardTransferAbort', transfer: 't1', from: 'btc' });
    const late = transferEvent(
      v.eth.must({
        type: 'shardTransferIn',
        transfer: 't1',
        account: 'alice',
        asset: 'USDT',
        amount: '250',
        from: 'btc',
      }).events,
    );
    assert.equal(late.status, 'aborted', 'the credit after the abort reports aborted');
    assert.equal(v.eth.free('alice'), 0n, 'and credits nothing');
    v.btc.must({ type: 'shardTransferSettle', transfer: 't1', outcome: 'aborted' });
    assert.equal(v.btc.free('alice'), usdt('5000'), 'alice has all 5,000 back on btc');
    v.check('after the revert');
  });

  test('a transfer takes at most what a withdrawal could: margin behind an open position stays', T, () => {
    const v = venue();
    v.btc.must({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '100000' });
    v.btc.must({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
    v.btc.must({
      type: 'placeOrder',
      account: 'mm',
      symbol: 'BTCUSDT',
      side: 'sell',
      orderType: 'limit',
      price: '20000',
      size: '1',
    });
    v.btc.must({
      type: 'placeOrder',
      account: 'alice',
      symbol: 'BTCUSDT',
      side: 'buy',
      orderType: 'market',
      size: '1',
    });
    const before = stateHash(v.btc.e);
    const r = v.btc.apply(out('5000'));
    assert.equal(r.ok, false, 'all 5,000 cannot leave: 2,000 is the long position’s margin');
    if (!r.ok) assert.equal(r.code, 'INSUFFICIENT_BALANCE', r.message);
    assert.equal(stateHash(v.btc.e), before, 'the refused transfer changed nothing');
    v.check('after the refusal');
  });

  test('bad input is refused by name and changes nothing', T, () => {
    const v = venue();
    const cases: [object, string][] = [
      [{ ...out('1'), transfer: 'bad id!' }, 'INVALID_COMMAND'],
      [{ ...out('1'), to: 'ETH' }, 'INVALID_COMMAND'],
      [{ ...out('1'), account: 'nobody' }, 'UNKNOWN_ACCOUNT'],
      [{ ...out('1'), asset: 'DOGE' }, 'UNKNOWN_ASSET'],
      [{ ...out('-1') }, 'INVALID_AMOUNT'],
      [{ ...out('0.000000001') }, 'INVALID_AMOUNT'],
      [{ type: 'shardTransferSettle', transfer: 'never', outcome: 'credited' }, 'UNKNOWN_TRANSFER'],
      [{ type: 'shardTransferSettle', transfer: 't1', outcome: 'maybe' }, 'INVALID_COMMAND'],
    ];
    for (const [cmd, code] of cases) {
      const before = stateHash(v.btc.e);
      const r = v.btc.apply(cmd as never);
      assert.equal(r.ok, false, `${JSON.stringify(cmd)} is refused`);
      if (!r.ok) assert.equal(r.code, code, `${JSON.stringify(cmd)}: ${r.message}`);
      assert.equal(stateHash(v.btc.e), before, `${JSON.stringify(cmd)} changed nothing`);
    }
  });

  test('transfers survive a snapshot and a replay, held ones included', T, async () => {
    const v = venue();
    v.btc.must(out('300', 'a'));
    v.btc.must(out('200', 'b'));
    await v.coordinator.finish({
      transferId: 'a',
      account: 'alice',
      asset: 'USDT',
      amount: '300',
      fromShard: 'btc',
      toShard: 'eth',
      status: 'held',
    });
    for (const s of v.shards) {
      const restored = restoreEngine(snapshotEngine(s.e));
      assert.equal(stateHash(restored), stateHash(s.e), `${s.name}: the snapshot restores the same state`);
      assert.deepEqual(
        [...restored.shardTransfers.held.keys()],
        [...s.e.shardTransfers.held.keys()],
        `${s.name}: the held list is rebuilt`,
      );
      const order = (e: typeof s.e) =>
        (e.shardTransfers.byAccount.get('alice') ?? []).map((t) => `${t.direction}:${t.id}:${t.status}`);
      assert.deepEqual(order(restored), order(s.e), `${s.name}: alice's transfers in the order recorded`);
      s.restart();
    }
    const { finished } = await v.coordinator.resume();
    assert.deepEqual(
      finished.map((t) => [t.transferId, t.status]),
      [['b', 'settled']],
      'after the restart, b is finished',
    );
    v.check('after the restart');
  });
});
