/**
 * Two shards of one venue through their own APIs (issue 25): `btc` owns BTC* and `eth` owns ETH*. A shard refuses
 * a market it does not own; alice moves 2,500 USDT from btc to eth with a signed POST /api/v1/transfers, and a
 * coordinator — here one talking to the shards' admin routes in process — credits it on eth and settles it on btc.
 * A transfer naming another shard as its source, or this shard as its target, is refused; the admin steps need an
 * admin key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PermanentRejection,
  type ShardPort,
  TransferCoordinator,
  type TransferView,
} from '../../src/service/shard/coordinator.ts';
import { BTCUSDT, ETHUSDT } from '../engine/harness.ts';
import { type Fields, Harness } from './helpers.ts';

const T = { timeout: 30_000 };

/** The coordinator's port over a shard's admin routes (fastify inject): a 4xx is a permanent refusal. */
function portOf(name: string, h: Harness): ShardPort {
  const post = async (path: string, body: object): Promise<TransferView> => {
    const r = await h.call<TransferView & { code?: string; message?: string }>('POST', path, body, {
      as: 'admin',
    });
    if (r.status >= 400 && r.status < 500)
      throw new PermanentRejection(r.json.code ?? '', r.json.message ?? '');
    if (r.status !== 200) throw new Error(`${name}: ${r.status} ${r.text}`);
    return r.json;
  };
  return {
    name,
    transferIn: (t) => post('/api/v1/admin/shard-transfers/in', t),
    abort: (t) => post('/api/v1/admin/shard-transfers/abort', t),
    settle: (t) => post('/api/v1/admin/shard-transfers/settle', t),
    heldOut: () => h.ok<TransferView[]>('GET', '/api/v1/admin/shard-transfers?status=held', 'admin'),
  };
}

describe('shards: market ownership and cross-shard transfers over the API', () => {
  let btc: Harness;
  let eth: Harness;
  let coordinator: TransferCoordinator;
  const free = async (h: Harness) =>
    (await h.ok<{ free: Record<string, string> }>('GET', '/api/v1/balance', 'alice')).free.USDT;

  before(async () => {
    btc = await Harness.open({ shard: { name: 'btc', markets: ['BTC*'] } });
    eth = await Harness.open({ shard: { name: 'eth', markets: ['ETH*'] } });
    await btc.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
    await eth.ok('POST', '/api/v1/admin/markets', 'admin', ETHUSDT);
    await btc.ok('POST', '/api/v1/admin/deposit', 'admin', {
      account: 'alice',
      asset: 'USDT',
      amount: '10000',
    });
    coordinator = new TransferCoordinator([portOf('btc', btc), portOf('eth', eth)]);
  });
  after(async () => {
    await coordinator.stop();
    await btc.cleanup();
    await eth.cleanup();
  });

  test(
    'GET /api/v1/shard names the shard; a market outside its patterns is refused 400 MARKET_NOT_IN_SHARD',
    T,
    async () => {
      assert.deepEqual(await btc.ok('GET', '/api/v1/shard', 'alice'), { name: 'btc', markets: ['BTC*'] });
      const r = await btc.call('POST', '/api/v1/admin/markets', ETHUSDT, { as: 'admin' });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 'MARKET_NOT_IN_SHARD', r.text);
      assert.match(
        r.json.message,
        /ETHUSDT is not in shard btc/,
        'the message names the market and the shard',
      );
    },
  );

  test(
    'alice moves 2,500 USDT from btc to eth: held on btc, then credited on eth and settled by the coordinator',
    T,
    async () => {
      const held = await btc.ok<Fields>('POST', '/api/v1/transfers', 'alice', {
        transferId: 'alice-1',
        fromShard: 'btc',
        toShard: 'eth',
        asset: 'USDT',
        amount: '2500',
      });
      assert.equal(held.status, 'held', JSON.stringify(held));
      assert.equal(held.account, 'alice', 'the key’s account');
      assert.equal(await free(btc), '7500', 'the hold left btc’s free balance');

      const { finished } = await coordinator.resume();
      assert.deepEqual(
        finished.map((t) => [t.transferId, t.status]),
        [['alice-1', 'settled']],
        'the coordinator finished it',
      );
      assert.equal(await free(eth), '2500', 'credited on eth');
      const onEth = await eth.ok<Fields[]>('GET', '/api/v1/transfers', 'alice');
      assert.deepEqual(
        onEth.map((t) => [t.transferId, t.fromShard, t.toShard, t.status, t.amount]),
        [['alice-1', 'btc', 'eth', 'credited', '2500']],
        'eth lists what it received',
      );
      const onBtc = await btc.ok<Fields[]>('GET', '/api/v1/transfers', 'alice');
      assert.equal(onBtc[0]?.status, 'settled', 'btc lists it settled');

      // The user's retry of the same request (a new signature, the same id) is a duplicate: nothing moves again.
      const again = await btc.ok<Fields>('POST', '/api/v1/transfers', 'alice', {
        transferId: 'alice-1',
        fromShard: 'btc',
        toShard: 'eth',
        asset: 'USDT',
        amount: '2500',
      });
      assert.equal(again.duplicate, true, JSON.stringify(again));
      assert.equal(await free(btc), '7500', 'still 7,500 on btc');
    },
  );

  test(
    'refused: another shard as the source (409 WRONG_SHARD), this shard as the target, admin steps without admin',
    T,
    async () => {
      const wrong = await btc.call(
        'POST',
        '/api/v1/transfers',
        { fromShard: 'eth', toShard: 'btc', asset: 'USDT', amount: '1' },
        { as: 'alice' },
      );
      assert.equal(wrong.status, 409, wrong.text);
      assert.equal(wrong.json.code, 'WRONG_SHARD', wrong.text);
      const self = await btc.call(
        'POST',
        '/api/v1/transfers',
        { toShard: 'btc', asset: 'USDT', amount: '1' },
        { as: 'alice' },
      );
      assert.equal(self.status, 400, self.text);
      const credit = await eth.call(
        'POST',
        '/api/v1/admin/shard-transfers/in',
        { transferId: 'x', account: 'alice', asset: 'USDT', amount: '1000000', fromShard: 'btc' },
        { as: 'alice' },
      );
      assert.equal(credit.status, 403, `a trading key cannot credit itself: ${credit.text}`);
      const tooMuch = await btc.call(
        'POST',
        '/api/v1/transfers',
        { toShard: 'eth', asset: 'USDT', amount: '7500.01' },
        { as: 'alice' },
      );
      assert.equal(tooMuch.status, 422, tooMuch.text);
      assert.equal(tooMuch.json.code, 'INSUFFICIENT_BALANCE', tooMuch.text);
    },
  );
});
