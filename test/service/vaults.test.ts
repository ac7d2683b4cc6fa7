/**
 * Vaults through the service: the admin creates vault `alpha` managed by bob; alice deposits 1,000 USDT for 1,000
 * shares, the public list shows its NAV and NAV per share, her withdrawal is refused during the lock-up and paid after
 * it; an unknown vault is 404 and a trading key cannot create one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BTCUSDT, type Fields, Harness } from './helpers.ts';

const T = { timeout: 30_000 };

describe('vaults over REST', () => {
  let h: Harness;
  before(async () => {
    h = await Harness.open();
    await h.ok('POST', '/api/v1/admin/markets', 'admin', BTCUSDT);
    await h.ok('POST', '/api/v1/admin/deposit', 'admin', {
      account: 'alice',
      asset: 'USDT',
      amount: '10000',
    });
    await h.ok('POST', '/api/v1/admin/deposit', 'admin', { account: 'bob', asset: 'USDT', amount: '1000' });
  });
  after(async () => h.cleanup());

  test('create, deposit, list, lock-up, withdraw', T, async () => {
    const body = {
      vault: 'alpha',
      manager: 'bob',
      asset: 'USDT',
      lockupMs: 60_000,
      performanceFee: '0.2',
      managementFee: '0',
      maxLeverage: '5',
    };
    const denied = await h.call('POST', '/api/v1/admin/vaults', body, { as: 'alice' });
    assert.equal(denied.status, 403, 'a trading key cannot create a vault');
    const created = await h.ok<Fields>('POST', '/api/v1/admin/vaults', 'admin', body);
    assert.equal(created.account, 'vault:alpha', 'the vault trades as vault:alpha');
    const dep = await h.ok<Fields>('POST', '/api/v1/vaults/alpha/deposit', 'alice', { amount: '1000' });
    assert.deepEqual(
      [dep.status, dep.shares, dep.amount],
      ['deposited', '1000', '1000'],
      'one share per USDT',
    );
    const list = await h.call<Fields[]>('GET', '/api/v1/vaults');
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(
      [list.json[0]!.nav, list.json[0]!.navPerShare, list.json[0]!.totalShares],
      ['1000', '1', '1000'],
      'NAV and NAV per share listed',
    );
    const locked = await h.call('POST', '/api/v1/vaults/alpha/withdraw', { shares: '10' }, { as: 'alice' });
    assert.equal(locked.status, 409, `locked: ${locked.text}`);
    assert.equal((locked.json as { code: string }).code, 'VAULT_LOCKED', 'the lock-up code');
    h.clock.t += 61_000;
    const w = await h.ok<Fields>('POST', '/api/v1/vaults/alpha/withdraw', 'alice', { shares: '10' });
    assert.deepEqual([w.status, w.shares, w.amount], ['paid', '10', '10'], 'paid at NAV 1');
    const unknown = await h.call('POST', '/api/v1/vaults/nope/deposit', { amount: '1' }, { as: 'alice' });
    assert.equal(unknown.status, 404, `unknown vault: ${unknown.text}`);
  });
});
