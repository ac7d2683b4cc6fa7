/**
 * Vaults through the service: the admin creates vault `alpha` managed by bob; alice deposits 1,000 USDT for 1,000
 * shares, the public list shows its NAV and NAV per share, her withdrawal is refused during the lock-up and paid after
 * it; an unknown vault is 404 and a trading key cannot create one. Then a manager's key scoped to its vault trades as
 * the vault and as nothing else; the vault's detail (positions, risk), NAV history, a depositor's holding, and the
 * public `vaults` and private `vaultHoldings` streams over a real socket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sign, signedHeaders } from '../../src/service/auth.ts';
import type { KeyConfig } from '../../src/service/config.ts';
import { BTCUSDT, type Fields, Harness, KEYS } from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

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

/** A vault manager's key: bound to vault `alpha` (it acts as `vault:alpha` and nothing else). */
const MANAGER: KeyConfig = {
  key: 'alpha-manager',
  secret: 'alpha-manager-secret-0123456789abcdef',
  vault: 'alpha',
  scopes: ['read', 'trade'],
};

/**
 * The manager trades as the vault with a key scoped to it; the vault's detail, NAV history, a depositor's holding and
 * the streams follow. BTCUSDT marked at 60,000; alice deposits 1,000 USDT into `alpha` (managed by bob, lock-up 0);
 * the manager buys 0.01 BTC from bob's resting offer; the mark moves.
 */
describe('a vault manager key, reads and streams', () => {
  let h: Harness;
  let ws: WsTestClient | null = null;
  /** A call signed with the manager's key. */
  const manager = async <T = Fields>(method: string, url: string, body?: unknown) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers = signedHeaders(MANAGER.key, MANAGER.secret, method, url, text, h.nextTimestamp());
    return h.call<T>(method, url, body, { headers });
  };
  const order = (price: string, extra: Fields = {}) => ({
    symbol: 'BTCUSDT',
    side: 'buy',
    type: 'limit',
    amount: '0.01',
    price,
    ...extra,
  });

  before(async () => {
    h = await Harness.open({ keys: [...Object.values(KEYS), MANAGER] });
    await h.setupMarket();
    await h.ok('POST', '/api/v1/admin/vaults', 'admin', {
      vault: 'alpha',
      manager: 'bob',
      asset: 'USDT',
      lockupMs: 0,
      performanceFee: '0',
      managementFee: '0',
      maxLeverage: '5',
      maxNotionalPerMarket: '2000',
    });
    await h.ok('POST', '/api/v1/vaults/alpha/deposit', 'alice', { amount: '1000' });
  });
  after(async () => {
    ws?.close();
    await h.cleanup();
  });

  test('the manager key is the vault’s account and nothing else', T, async () => {
    const me = await manager<Fields>('GET', '/api/v1/me');
    assert.deepEqual(
      [me.status, me.json.account, me.json.vault],
      [200, 'vault:alpha', 'alpha'],
      `who the key is: ${me.text}`,
    );
    const placed = await manager<Fields>('POST', '/api/v1/orders', order('59000'));
    assert.equal(placed.status, 200, `the manager places an order as the vault: ${placed.text}`);
    const vaultOrders = await h.call<Fields[]>('GET', '/api/v1/orders?account=vault:alpha', undefined, {
      as: 'admin',
    });
    assert.deepEqual(
      vaultOrders.json.map((o) => o.id),
      [placed.json.id],
      'the order rests on vault:alpha',
    );
    const named = await manager('POST', '/api/v1/orders', order('59000', { account: 'vault:alpha' }));
    assert.equal(named.status, 200, `naming its own account is the same: ${named.text}`);
    const asBob = await manager('POST', '/api/v1/orders', order('59000', { account: 'bob' }));
    assert.equal(asBob.status, 403, `refused acting as the manager's own account: ${asBob.text}`);
    const asAlice = await manager('GET', '/api/v1/balance?account=alice');
    assert.equal(asAlice.status, 403, `refused reading a depositor: ${asAlice.text}`);
    const deposit = await manager('POST', '/api/v1/vaults/alpha/deposit', { amount: '1' });
    assert.equal(deposit.status, 403, `a manager key moves no depositor's money: ${deposit.text}`);
    const withdraw = await manager('POST', '/api/v1/vaults/alpha/withdraw', { shares: '1' });
    assert.equal(withdraw.status, 403, `nor withdraws: ${withdraw.text}`);
    const adminWithdraw = await manager('POST', '/api/v1/admin/withdraw', {
      account: 'vault:alpha',
      asset: 'USDT',
      amount: '1',
    });
    assert.equal(adminWithdraw.status, 403, `nor takes the admin's way out: ${adminWithdraw.text}`);
    const cancel = await manager('DELETE', '/api/v1/orders?symbol=BTCUSDT');
    assert.equal(cancel.status, 200, `the manager cancels the vault's orders: ${cancel.text}`);

    for (const who of ['alice', 'bob'] as const) {
      const r = await h.call('POST', '/api/v1/orders', order('59000', { account: 'vault:alpha' }), {
        as: who,
      });
      assert.equal(r.status, 403, `${who}'s trading key cannot trade as the vault: ${r.text}`);
    }
  });

  test('a fill of the vault: detail with positions and risk, NAV history, holding, streams', T, async () => {
    const url = await h.listen();
    ws = await WsTestClient.connect(url);
    const t = h.nextTimestamp();
    const login = await ws.request('login', {
      key: KEYS.alice.key,
      timestamp: t,
      signature: sign(KEYS.alice.secret, t, 'GET', '/ws'),
    });
    assert.equal(login.success, true, 'alice logs in');
    const sub = await ws.request('subscribe', ['vaults', 'vaults.alpha', 'vaultHoldings']);
    assert.equal(sub.success, true, `subscribed: ${JSON.stringify(sub)}`);
    const unknown = await ws.request('subscribe', ['vaults.nope']);
    assert.equal(unknown.error.code, 'UNKNOWN_VAULT', 'an unknown vault topic is refused');

    await h.ok('POST', '/api/v1/orders', 'bob', { ...order('60000'), side: 'sell' });
    const fill = await manager<Fields>('POST', '/api/v1/orders', order('60000'));
    assert.equal(fill.json.status, 'closed', `the vault's order filled: ${fill.text}`);

    const onStream = await ws.next((m) => m.topic === 'vaults.alpha' && m.seq === fill.json.seq);
    const detail = await h.call<Fields & { positions: Fields[]; risk: Fields & { markets: Fields[] } }>(
      'GET',
      '/api/v1/vaults/alpha',
    );
    assert.equal(detail.status, 200, detail.text);
    const d = detail.json;
    assert.deepEqual(
      onStream.data[0],
      {
        vault: 'alpha',
        time: onStream.time,
        seq: fill.json.seq,
        nav: d.nav,
        navPerShare: d.navPerShare,
        totalShares: '1000',
      },
      'the stream carries the NAV after the fill',
    );
    assert.deepEqual(
      d.positions.map((p) => [p.symbol, p.side, p.contracts]),
      [['BTCUSDT', 'long', '0.01']],
      'the vault account’s position',
    );
    assert.deepEqual(
      [d.risk.grossNotional, d.risk.maxLeverage, d.risk.markets[0]!.notional, d.risk.markets[0]!.limit],
      ['600', '5', '600', '2000'],
      'gross notional at the mark, against the limits',
    );
    assert.equal(d.risk.markets[0]!.used, '0.3', 'a 2,000 limit is 30 % used');
    const lev = Number(d.risk.leverage);
    assert.ok(lev >= 600 / Number(d.nav) && lev < 600 / Number(d.nav) + 0.01, `leverage ${d.risk.leverage}`);

    // The mark moves a minute later: one history point (and one stream item) at the new NAV.
    h.clock.t += 61_000;
    await h.ok('POST', '/api/v1/admin/mark-price', 'admin', { symbol: 'BTCUSDT', price: '61000' });
    const marked = await h.ok<Fields>('GET', '/api/v1/vaults/alpha', 'alice');
    assert.equal(
      Number(marked.nav).toFixed(6),
      (Number(d.nav) + 10).toFixed(6),
      'NAV up 10 USDT (0.01 BTC × 1,000)',
    );
    const history = await h.ok<Fields[]>('GET', '/api/v1/vaults/alpha/history', 'alice');
    assert.deepEqual(
      history.map((p) => [p.nav, p.totalShares]),
      [
        ['0', '0'],
        ['1000', '1000'],
        [d.nav, '1000'],
        [marked.nav, '1000'],
      ],
      'created, deposit, fill, mark',
    );
    assert.equal(history[3]!.navPerShare, marked.navPerShare, 'NAV per share recorded');
    await ws.next((m) => m.topic === 'vaults' && m.data.some((x) => x.nav === marked.nav));

    const holding = await h.ok<Fields>('GET', '/api/v1/vaults/alpha/holding', 'alice');
    assert.deepEqual(
      [holding.shares, holding.value, holding.hwm, holding.lockedUntil, holding.queuedShares],
      ['1000', marked.nav, '1', holding.lockedUntil, '0'],
      'alice holds every share: worth the NAV',
    );
    const none = await h.ok<Fields>('GET', '/api/v1/vaults/alpha/holding', 'bob');
    assert.deepEqual([none.shares, none.value], ['0', '0'], 'bob holds none');

    // alice withdraws 100 shares: paid at once (the vault's free cash covers it), and her private stream says so.
    const w = await h.ok<Fields>('POST', '/api/v1/vaults/alpha/withdraw', 'alice', { shares: '100' });
    assert.equal(w.status, 'paid', 'paid from free cash');
    const mine = await ws.next((m) => m.topic === 'vaultHoldings' && m.seq === w.seq);
    assert.deepEqual(
      [mine.data[0]!.type, mine.data[0]!.account, mine.data[0]!.shares, mine.data[0]!.amount],
      ['vaultWithdraw', 'alice', '100', w.amount],
      'the depositor’s own event',
    );
    const bobWs = await WsTestClient.connect(url);
    try {
      const tb = h.nextTimestamp();
      await bobWs.request('login', {
        key: KEYS.bob.key,
        timestamp: tb,
        signature: sign(KEYS.bob.secret, tb, 'GET', '/ws'),
      });
      const other = await bobWs.request('subscribe', ['vaultHoldings.alice']);
      assert.equal(other.error.code, 'FORBIDDEN', 'nobody else follows alice’s holdings');
    } finally {
      bobWs.close();
    }
  });
});
