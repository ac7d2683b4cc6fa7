/**
 * Risk-isolated vaults (issue 24), as stories. Vault `alpha` (manager `mgr`, USDT, lock-up 1 s, 20% performance fee,
 * 2% a year management fee, at most 5x gross, 10,000 USDT of notional per market, BTCUSDT only) takes deposits from
 * alice and bob; a market maker `mm` quotes BTCUSDT around a mark of 20,000.
 * - shares are minted and burned at the NAV per share, rounding against the one who comes or goes;
 * - a withdrawal the free balance cannot pay (collateral backs the manager's position) is queued and paid, at the NAV
 *   then, once the manager closes the position;
 * - shares are locked for the lock-up after each deposit;
 * - the performance fee above the high-water mark and the management fee over time are share dilution;
 * - the limits refuse what would open too much, and never refuse a reduce;
 * - a vault liquidated in a crash loses its own money only: its depositors' own accounts, its manager's and a second
 *   vault are untouched.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDecimal, parseDecimal } from '../../src/core/fixed.ts';
import { RATE_ONE } from '../../src/core/rates.ts';
import { Engine, restoreEngine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { snapshotEngine } from '../../src/engine/snapshot.ts';
import type { ApplyResult, Command, EngineEvent } from '../../src/engine/types.ts';
import { NPS_ONE, navPerShare, type Vault, vaultNav, YEAR_MS } from '../../src/engine/vaults.ts';
import { BTCUSDT, type Cmd, ETHUSDT, engineProblems } from './harness.ts';

const T = { timeout: 60_000 };
const usdt = (v: string) => parseDecimal(v, 'v', { dp: 8, signed: true });
const of = <K extends EngineEvent['type']>(events: EngineEvent[], type: K) =>
  events.filter((ev): ev is Extract<EngineEvent, { type: K }> => ev.type === type);

/** An engine with its own clock: `run` applies at now + dt, and keeps the log for a replay. */
class Venue {
  readonly e = new Engine();
  readonly log: Command[] = [];
  now = 1_700_000_000_000;
  apply(cmd: Cmd, dt = 1): ApplyResult {
    this.now += dt;
    const c = { ...cmd, time: this.now } as Command;
    this.log.push(c);
    return this.e.apply(c);
  }
  ok(cmd: Cmd, dt = 1): EngineEvent[] {
    const r = this.apply(cmd, dt);
    if (!r.ok) assert.fail(`${cmd.type} rejected: ${r.code} ${r.message}`);
    const problems = engineProblems(this.e);
    assert.deepEqual(problems, [], `after ${cmd.type}`);
    return r.events;
  }
  rejected(cmd: Cmd, code: string): string {
    const before = stateHash(this.e);
    const r = this.apply(cmd);
    assert.equal(r.ok, false, `${cmd.type} should be rejected with ${code}`);
    if (r.ok) return '';
    assert.equal(r.code, code, r.message);
    assert.equal(stateHash(this.e), before, 'a rejected command must not change state');
    return r.message;
  }
  vault(id = 'alpha'): Vault {
    return this.e.vaults.get(id)!;
  }
  main(account: string): bigint {
    return this.e.accounts.get(account)?.wallets.get('USDT')?.main.balance ?? 0n;
  }
  nps(id = 'alpha'): bigint {
    const v = this.vault(id);
    return navPerShare(this.e, v, vaultNav(this.e, v), v.totalShares);
  }
  replays(): void {
    const r = new Engine();
    for (const c of this.log) r.apply(c);
    assert.equal(stateHash(r), stateHash(this.e), 'replay diverged');
    assert.equal(stateHash(restoreEngine(snapshotEngine(this.e))), stateHash(this.e), 'snapshot diverged');
  }
}

const ALPHA: Cmd & { type: 'createVault' } = {
  type: 'createVault',
  vault: 'alpha',
  manager: 'mgr',
  asset: 'USDT',
  lockupMs: 1000,
  performanceFee: '0.2',
  managementFee: '0',
  maxLeverage: '5',
  maxNotionalPerMarket: '10000',
  markets: ['BTCUSDT'],
};

function venue(alpha: Partial<Cmd & { type: 'createVault' }> = {}): Venue {
  const v = new Venue();
  v.ok({ type: 'createMarket', market: BTCUSDT });
  v.ok({ type: 'createMarket', market: ETHUSDT });
  v.ok({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
  v.ok({ type: 'setMarkPrice', symbol: 'ETHUSDT', price: '2000' });
  v.ok({ type: 'fundInsurance', asset: 'USDT', amount: '100000' });
  for (const [who, amount] of [
    ['mm', '10000000'],
    ['mgr', '5000'],
    ['alice', '10000'],
    ['bob', '10000'],
    ['carol', '10000'],
  ] as const)
    v.ok({ type: 'deposit', account: who, asset: 'USDT', amount });
  v.ok({ type: 'setLeverage', account: 'mm', symbol: 'BTCUSDT', leverage: '1' });
  v.ok({ ...ALPHA, ...alpha } as Cmd);
  return v;
}

/** mm rests the other side at `price`; the vault account (or `who`) takes it. */
function trade(
  v: Venue,
  side: 'buy' | 'sell',
  size: string,
  price: string,
  who = 'vault:alpha',
  reduceOnly = false,
) {
  v.ok({
    type: 'placeOrder',
    account: 'mm',
    symbol: 'BTCUSDT',
    side: side === 'buy' ? 'sell' : 'buy',
    orderType: 'limit',
    size,
    price,
  });
  return v.ok({
    type: 'placeOrder',
    account: who,
    symbol: 'BTCUSDT',
    side,
    orderType: 'limit',
    size,
    price,
    timeInForce: 'IOC',
    reduceOnly,
  });
}

describe('vaults', () => {
  test('deposits and withdrawals at the NAV per share, rounding against the one who comes or goes', T, () => {
    const v = venue();
    // Into an empty vault: 1 share per USDT (shares at 6 decimals).
    let ev = v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'alice', amount: '1000' });
    assert.equal(of(ev, 'vaultDeposit')[0]!.shares, 1_000_000_000n, '1,000 shares for 1,000 USDT');
    assert.equal(v.main('alice'), usdt('9000'), 'alice paid 1,000');
    assert.equal(v.main('vault:alpha'), usdt('1000'), 'the vault holds it');
    // The manager buys 0.1 BTC at 20,000 (fee 1 USDT), the mark rises to 20,500: NAV 1,000 − 1 + 50.
    trade(v, 'buy', '0.1', '20000');
    v.ok({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20500' });
    const nav = vaultNav(v.e, v.vault());
    assert.equal(nav, usdt('1049'), 'NAV = cash + bucket + uPnL');
    const before = v.nps();
    ev = v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'bob', amount: '333.33333333' });
    const d = of(ev, 'vaultDeposit')[0]!;
    assert.equal(d.nav, nav, 'the deposit bought at the NAV before it');
    assert.equal(d.shares, (usdt('333.33333333') * 1_000_000_000n) / nav, 'floor(amount × shares / NAV)');
    assert.ok(v.nps() >= before, 'the deposit did not lower the NAV per share of those already in');
    // After the lock-up alice takes 400 shares: floor(400 shares × NAV / total), NAV per share not lowered.
    const mid = v.nps();
    const navNow = vaultNav(v.e, v.vault());
    const total = v.vault().totalShares;
    const aliceBefore = v.main('alice');
    // A gain above alice's mark (1 USDT per share): the performance fee dilutes her first; here it is 20% of 4.9%.
    ev = v.ok({ type: 'vaultWithdraw', vault: 'alpha', account: 'alice', shares: '400' }, 2000);
    const fee = of(ev, 'vaultFee')[0]!;
    const w = of(ev, 'vaultWithdraw')[0]!;
    assert.equal(fee.kind, 'performance', 'a performance fee');
    assert.equal(w.shares + fee.shares, 400_000_000n, 'the fee shares come out of the shares withdrawn');
    assert.equal(w.amount, (w.shares * navNow) / total, 'paid floor(shares × NAV / total)');
    assert.equal(v.main('alice') - aliceBefore, w.amount, 'alice got exactly the payout');
    assert.ok(v.nps() >= mid, 'the withdrawal did not lower the NAV per share of those who stay');
    assert.equal(v.vault().depositors.get('mgr')!.shares, fee.shares, 'the fee shares are the manager’s');
    v.replays();
  });

  test(
    'a withdrawal needing collateral that backs a position is queued and paid when the manager closes it',
    T,
    () => {
      const v = venue();
      v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'alice', amount: '1000' });
      // 0.2 BTC at 5x: 800 of initial margin in the isolated bucket, 4,000 of notional (4x the NAV).
      v.ok({ type: 'setLeverage', account: 'vault:alpha', symbol: 'BTCUSDT', leverage: '5' });
      trade(v, 'buy', '0.2', '20000');
      const free = v.main('vault:alpha');
      assert.ok(free < usdt('200'), 'less than 200 USDT is free');
      let ev = v.ok({ type: 'vaultWithdraw', vault: 'alpha', account: 'alice', shares: '1000' }, 2000);
      const askedAt = v.now;
      assert.equal(of(ev, 'vaultWithdraw').length, 0, 'not paid: the cash backs the position');
      assert.deepEqual(of(ev, 'vaultWithdrawQueued')[0]?.shares, 1_000_000_000n, 'queued');
      assert.equal(v.main('vault:alpha'), free, 'nothing left the vault');
      // Her queued shares cannot be asked for twice.
      v.rejected(
        { type: 'vaultWithdraw', vault: 'alpha', account: 'alice', shares: '1' },
        'INSUFFICIENT_BALANCE',
      );
      // The mark moves up; the manager closes at 20,100: the bucket returns to main and the queue is paid at the NAV then.
      v.ok({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20100' });
      const aliceBefore = v.main('alice');
      ev = trade(v, 'sell', '0.2', '20100', 'vault:alpha', true);
      const w = of(ev, 'vaultWithdraw')[0];
      assert.ok(w !== undefined, 'paid at the end of the manager’s close');
      assert.equal(w.requestedAt, askedAt, 'it names when it was asked for');
      const fee = of(ev, 'vaultFee')[0];
      assert.equal(w.shares + (fee?.shares ?? 0n), 1_000_000_000n, 'her shares: burned or the fee');
      assert.equal(v.main('alice') - aliceBefore, w.amount, 'alice got the payout');
      assert.equal(v.vault().queue.length, 0, 'the queue is empty');
      // The vault is left with the manager's fee shares and their value only.
      assert.equal(v.vault().totalShares, fee?.shares ?? 0n, 'only the fee shares remain');
      v.replays();
    },
  );

  test('shares are locked for the lock-up after each deposit', T, () => {
    const v = venue();
    v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'alice', amount: '100' });
    const msg = v.rejected(
      { type: 'vaultWithdraw', vault: 'alpha', account: 'alice', shares: '1' },
      'VAULT_LOCKED',
    );
    assert.match(msg, /locked until/);
    v.ok({ type: 'tick' }, 1000);
    v.ok({ type: 'vaultWithdraw', vault: 'alpha', account: 'alice', shares: '1' });
    // A new deposit locks the whole holding again.
    v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'alice', amount: '1' });
    v.rejected({ type: 'vaultWithdraw', vault: 'alpha', account: 'alice', shares: '1' }, 'VAULT_LOCKED');
    // Nobody else's shares, nor more than one holds.
    v.rejected(
      { type: 'vaultWithdraw', vault: 'alpha', account: 'bob', shares: '1' },
      'INSUFFICIENT_BALANCE',
    );
    v.ok({ type: 'tick' }, 1000);
    v.rejected(
      { type: 'vaultWithdraw', vault: 'alpha', account: 'alice', shares: '101' },
      'INSUFFICIENT_BALANCE',
    );
    // A vault's money leaves only through its depositors' withdrawals; nobody deposits into its account directly.
    v.rejected({ type: 'withdraw', account: 'vault:alpha', asset: 'USDT', amount: '1' }, 'INVALID_COMMAND');
    v.rejected({ type: 'deposit', account: 'vault:alpha', asset: 'USDT', amount: '1' }, 'INVALID_COMMAND');
    v.rejected(
      { type: 'vaultDeposit', vault: 'alpha', account: 'alice', amount: '20000' },
      'INSUFFICIENT_BALANCE',
    );
    v.rejected({ type: 'vaultDeposit', vault: 'nope', account: 'alice', amount: '1' }, 'UNKNOWN_VAULT');
    v.rejected({ ...ALPHA, manager: 'mgr' } as Cmd, 'VAULT_EXISTS');
    v.rejected({ ...ALPHA, vault: 'beta', performanceFee: '1' } as Cmd, 'INVALID_COMMAND');
    v.rejected({ ...ALPHA, vault: 'beta', managementFee: '0.6' } as Cmd, 'INVALID_COMMAND');
    v.rejected({ ...ALPHA, vault: 'beta', manager: 'vault:alpha' } as Cmd, 'INVALID_COMMAND');
    v.replays();
  });

  test('the performance fee above the high-water mark is share dilution; NAV is unchanged by it', T, () => {
    const v = venue();
    v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'alice', amount: '1000' });
    trade(v, 'buy', '0.1', '20000');
    v.ok({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '22000' });
    trade(v, 'sell', '0.1', '22000', 'vault:alpha', true);
    // NAV: 1,000 − fees 1 and 1.1 + 200 of profit.
    const nav = vaultNav(v.e, v.vault());
    assert.equal(nav, usdt('1197.9'), 'NAV after the round trip');
    const nps = v.nps();
    const hwm = v.vault().depositors.get('alice')!.hwm;
    assert.equal(hwm, NPS_ONE * 100n, 'her mark: 1 USDT (10⁸ units) per share (10⁶ units)');
    const ev = v.ok({ type: 'vaultWithdraw', vault: 'alpha', account: 'alice', shares: '1000' }, 2000);
    const fee = of(ev, 'vaultFee')[0]!;
    const value = (2_000_000_000n * (nps - hwm) * 1_000_000_000n) / (RATE_ONE * NPS_ONE);
    assert.equal(fee.value, value, '20% of the gain above her mark');
    assert.equal(fee.shares, (value * 1_000_000_000n) / nav, 'that value in shares at the NAV');
    const w = of(ev, 'vaultWithdraw')[0]!;
    assert.equal(w.nav, nav, 'the fee moved shares, not money: NAV unchanged before the payout');
    assert.equal(w.amount, ((1_000_000_000n - fee.shares) * nav) / 1_000_000_000n, 'the rest paid at NAV');
    // What stays is the manager's fee, worth its value to one share unit's rounding.
    const left = vaultNav(v.e, v.vault());
    const unit = nav / 1_000_000_000n + 1n;
    assert.ok(left - value <= unit && value - left <= unit, `left ${left}, fee value ${value}`);
    const mgr = v.main('mgr');
    const mgrShares = v.vault().depositors.get('mgr')!.shares;
    const ev2 = v.ok({
      type: 'vaultWithdraw',
      vault: 'alpha',
      account: 'mgr',
      shares: formatDecimal(mgrShares, 6),
    });
    assert.equal(of(ev2, 'vaultFee').length, 0, 'the manager pays no fee to himself');
    assert.equal(v.main('mgr') - mgr, left, 'the manager takes what is left');
    assert.equal(v.vault().totalShares, 0n, 'the vault is empty');
    v.replays();
  });

  test('the management fee accrues over time as shares minted to the manager', T, () => {
    const v = venue({ managementFee: '0.02' });
    v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'alice', amount: '1000' });
    const nav = vaultNav(v.e, v.vault());
    const dt = YEAR_MS / 2;
    const ev = v.ok({ type: 'tick' }, dt);
    const fee = of(ev, 'vaultFee')[0]!;
    const f = 200_000_000n; // 0.02 at RATE_DP
    const fdt = f * BigInt(dt);
    const m = (1_000_000_000n * fdt) / (BigInt(YEAR_MS) * RATE_ONE - fdt);
    assert.equal(fee.kind, 'management', 'a management fee');
    assert.equal(fee.shares, m, 'S × f × dt / (YEAR − f × dt)');
    // The manager now owns 1% of the vault (half a year at 2%), to rounding.
    const mgrShare = (v.vault().depositors.get('mgr')!.shares * 1_000_000n) / v.vault().totalShares;
    assert.ok(
      mgrShare >= 9_999n && mgrShare <= 10_000n,
      `the manager holds 1% of the shares (${mgrShare} ppm)`,
    );
    assert.equal(vaultNav(v.e, v.vault()), nav, 'minting moved no money');
    // Ticks a millisecond apart each round to nothing: the accrual waits and loses nothing.
    const before = v.vault().totalShares;
    v.ok({ type: 'tick' }, 1);
    assert.equal(v.vault().totalShares, before, 'a millisecond: no whole share unit yet');
    v.ok({ type: 'tick' }, 60_000);
    assert.ok(v.vault().totalShares > before, 'a minute later the fee of both spans is minted');
    v.replays();
  });

  test('limits refuse what opens too much; a reduce is never refused', T, () => {
    const v = venue();
    v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'alice', amount: '1000' });
    v.ok({
      type: 'placeOrder',
      account: 'mm',
      symbol: 'ETHUSDT',
      side: 'sell',
      orderType: 'limit',
      size: '1',
      price: '2000',
    });
    const order = (symbol: string, side: 'buy' | 'sell', size: string, price: string, reduceOnly = false) =>
      ({
        type: 'placeOrder',
        account: 'vault:alpha',
        symbol,
        side,
        orderType: 'limit',
        size,
        price,
        reduceOnly,
      }) as Cmd;
    assert.match(v.rejected(order('ETHUSDT', 'buy', '0.1', '2000'), 'VAULT_LIMIT'), /may not trade ETHUSDT/);
    // 0.3 BTC = 6,000 of notional: 6x a NAV of 1,000.
    assert.match(v.rejected(order('BTCUSDT', 'buy', '0.3', '20000'), 'VAULT_LIMIT'), /exceeds 5/);
    v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'bob', amount: '5000' });
    // 0.6 BTC = 12,000 > 10,000 per market (leverage now ~2x).
    assert.match(v.rejected(order('BTCUSDT', 'buy', '0.6', '20000'), 'VAULT_LIMIT'), /notional would be/);
    trade(v, 'buy', '0.45', '20000');
    // A resting order counts: another 0.05 bid is within, 0.1 more is not.
    v.ok(order('BTCUSDT', 'buy', '0.05', '19000'));
    v.rejected(order('BTCUSDT', 'buy', '0.01', '19000'), 'VAULT_LIMIT');
    // The mark rises: the position alone is now past the per-market limit; closing part of it is still accepted.
    v.ok({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '23000' });
    v.rejected(order('BTCUSDT', 'buy', '0.01', '19000'), 'VAULT_LIMIT');
    trade(v, 'sell', '0.1', '23000', 'vault:alpha', true);
    trade(v, 'sell', '0.1', '23000', 'vault:alpha', false);
    // A sell that flips the position is checked for its opening part.
    v.ok({ type: 'cancelAll', account: 'vault:alpha' });
    v.rejected(order('BTCUSDT', 'sell', '1', '23000'), 'VAULT_LIMIT');
    v.replays();
  });

  test('a vault liquidated in a crash loses only its own money', T, () => {
    const v = venue({ maxLeverage: '20', maxNotionalPerMarket: '0' });
    v.ok({ ...ALPHA, vault: 'beta', maxLeverage: '3' } as Cmd);
    v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'alice', amount: '1000' });
    v.ok({ type: 'vaultDeposit', vault: 'alpha', account: 'bob', amount: '1000' });
    v.ok({ type: 'vaultDeposit', vault: 'beta', account: 'alice', amount: '2000' });
    v.ok({ type: 'vaultDeposit', vault: 'beta', account: 'carol', amount: '2000' });
    // alpha: 2 BTC long at 20x in cross mode; beta a small short.
    v.ok({ type: 'setMarginMode', account: 'vault:alpha', symbol: 'BTCUSDT', mode: 'cross' });
    v.ok({ type: 'setLeverage', account: 'vault:alpha', symbol: 'BTCUSDT', leverage: '20' });
    trade(v, 'buy', '1.9', '20000');
    trade(v, 'sell', '0.1', '20000', 'vault:beta');
    // Also a position of alice's own outside the vaults (at 2x: the crash does not liquidate it).
    v.ok({ type: 'setLeverage', account: 'alice', symbol: 'BTCUSDT', leverage: '2' });
    trade(v, 'buy', '0.05', '20000', 'alice');
    const label = (p: string) => v.e.ledger.accounts().filter((l) => l.label.startsWith(p));
    const snapshotOf = (prefix: string) =>
      label(prefix)
        .map((l) => `${l.label}=${l.balance}`)
        .join(',');
    const outside = ['alice:', 'bob:', 'carol:', 'mgr:', 'vault:beta:'].map(snapshotOf);
    const betaNav = vaultNav(v.e, v.vault('beta'));
    const betaShares = [...v.vault('beta').depositors].map(([k, h]) => `${k}:${h.shares}`).join();
    // The crash: 20,000 → 19,000 → 18,000 (the mm bids nothing: the backstop takes the rest).
    const ev = [
      ...v.ok({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '19000' }),
      ...v.ok({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '18000' }),
    ];
    const liq = of(ev, 'liquidationStarted');
    assert.ok(
      liq.some((x) => x.account === 'vault:alpha'),
      'alpha was liquidated',
    );
    assert.deepEqual(
      liq.filter((x) => x.account !== 'vault:alpha').map((x) => x.account),
      [],
      'nobody else was',
    );
    assert.equal(vaultNav(v.e, v.vault('alpha')) < usdt('200'), true, 'alpha lost most of its NAV');
    // Outside alpha nothing moved: balances of depositors, manager, and the whole of beta.
    assert.deepEqual(['alice:', 'bob:', 'carol:', 'mgr:', 'vault:beta:'].map(snapshotOf), outside);
    assert.equal(
      [...v.vault('beta').depositors].map(([k, h]) => `${k}:${h.shares}`).join(),
      betaShares,
      "beta's shares untouched",
    );
    assert.ok(vaultNav(v.e, v.vault('beta')) >= betaNav, 'beta (short) did not lose');
    for (const tr of of(ev, 'transfer'))
      for (const l of [tr.from, tr.to])
        assert.ok(!/^(alice|bob|carol|mgr|vault:beta):/.test(l), `${l} moved in the crash`);
    // alpha's depositors still withdraw what is left, pro rata.
    v.ok({ type: 'tick' }, 2000);
    const w = of(
      v.ok({ type: 'vaultWithdraw', vault: 'alpha', account: 'bob', shares: '1000' }),
      'vaultWithdraw',
    )[0]!;
    assert.ok(w.amount < usdt('100'), 'bob gets his share of what is left');
    v.replays();
  });
});
