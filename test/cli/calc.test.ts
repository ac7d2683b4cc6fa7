/** `ringfence calc`: the JSON contract, venue golden cases through the CLI, and bad input → exit 2, one line. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { runCli } from './run.ts';

const calc = (input: unknown, args: string[] = ['--json']) =>
  runCli(['calc', ...args], typeof input === 'string' ? input : JSON.stringify(input));

const pos = (p: Record<string, unknown>) => ({
  symbol: 'BTCUSDT',
  side: 'long',
  size: '1',
  entryPrice: '20000',
  ...p,
});

describe('calc reproduces venue worked examples', () => {
  test('BYB-1 bybit-linear long 1 BTC @ 20,000, 50x → IM 400, MM 100, liquidation 19,700, bankruptcy 19,600', async () => {
    const r = await calc({ venue: 'bybit-linear', positions: [pos({ leverage: '50' })] });
    assert.equal(r.code, 0, r.err);
    const p = JSON.parse(r.out).positions[0];
    for (const k of [
      'symbol',
      'side',
      'notional',
      'unrealizedPnl',
      'initialMargin',
      'maintenanceMargin',
      'marginRatio',
      'liquidationPrice',
      'bankruptcyPrice',
      'maxRemovableMargin',
    ]) {
      assert.ok(k in p, `output has ${k}`);
    }
    assert.deepEqual(
      [
        p.notional,
        p.initialMargin,
        p.maintenanceMargin,
        p.liquidationPrice,
        p.bankruptcyPrice,
        p.marginRatio,
      ],
      ['20000', '400', '100', '19700', '19600', '0.25'],
    );
  });

  test('BYB-2 bybit-linear short 1 BTC @ 20,000, 50x, 3,000 added by hand → liquidation 23,300', async () => {
    const r = await calc({
      venue: 'bybit-linear',
      positions: [pos({ side: 'short', leverage: '50', extraMargin: '3000' })],
    });
    assert.equal(JSON.parse(r.out).positions[0].liquidationPrice, '23300');
  });

  test('BYB-4 bybit-linear long @ 10,000, 50x → bankruptcy 9,800', async () => {
    const r = await calc({
      venue: 'bybit-linear',
      positions: [pos({ entryPrice: '10000', leverage: '50' })],
    });
    assert.equal(JSON.parse(r.out).positions[0].bankruptcyPrice, '9800');
  });

  test('BYB-6 bybit-inverse cross: 0.5 BTC wallet, long 10,000 contracts @ 8,000 → liquidation 5,739.5 (0.5 tick, rounded up)', async () => {
    const r = await calc({
      venue: 'bybit-inverse',
      mode: 'cross',
      walletBalance: '0.5',
      positions: [pos({ symbol: 'BTCUSD', size: '10000', entryPrice: '8000' })],
    });
    assert.equal(r.code, 0, r.err);
    const p = JSON.parse(r.out).positions[0];
    assert.equal(p.liquidationPrice, '5739.5');
    assert.equal(p.bankruptcyPrice, '5719'); // 5,718.57 rounded up to the 0.5 tick
  });

  test('DYD-2 cross with custom tiers: short 1.5 ETH @ 3,000 (MMR 5%) and long 1,000 STRK @ 1.75 (MMR 10%), equity 1,000 → ETH liquidates at 3,380.95', async () => {
    const custom = (mmr: string) => ({
      tiers: [{ cap: null, mmr, maxLeverage: '10' }],
      tickSize: '0.01',
      lotSize: '0.1',
      settleDp: 6,
    });
    const r = await calc({
      venue: 'binance-usdm',
      mode: 'cross',
      walletBalance: '1000',
      positions: [
        { symbol: 'ETH-X', side: 'short', size: '1.5', entryPrice: '3000', ...custom('0.05') },
        { symbol: 'STRK-X', side: 'long', size: '1000', entryPrice: '1.75', ...custom('0.1') },
      ],
    });
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).positions[0].liquidationPrice, '3380.95');
  });

  test('bybit-inverse isolated long 10,000 contracts @ 8,000, 50x → bankruptcy 8,000 × 50/51 → 7,843.5, no fee in either price', {
    timeout: 10_000,
  }, async () => {
    const r = await calc({
      venue: 'bybit-inverse',
      positions: [pos({ symbol: 'BTCUSD', size: '10000', entryPrice: '8000', leverage: '50' })],
    });
    assert.equal(r.code, 0, r.err);
    const p = JSON.parse(r.out).positions[0];
    assert.deepEqual([p.bankruptcyPrice, p.liquidationPrice], ['7843.5', '7882']);
  });

  test('okx and gate presets answer through the CLI (ADA 1,000 contracts @ 0.5, 20x → 0.47763; BTC_USDT 100 USDT at 50x → IM 2.075)', {
    timeout: 10_000,
  }, async () => {
    const okx = await calc({
      venue: 'okx',
      positions: [pos({ symbol: 'ADA-USDT-SWAP', size: '1000', entryPrice: '0.5', leverage: '20' })],
    });
    assert.equal(JSON.parse(okx.out).positions[0].liquidationPrice, '0.47763');
    const gate = await calc({
      venue: 'gate',
      positions: [pos({ symbol: 'BTC_USDT', size: '10', entryPrice: '100000', leverage: '50' })],
    });
    assert.equal(JSON.parse(gate.out).positions[0].initialMargin, '2.075');
  });

  test('a 1x linear long cannot be liquidated above zero: liquidationPrice is null', async () => {
    const r = await calc({ venue: 'binance-usdm', positions: [pos({ leverage: '1' })] });
    assert.equal(JSON.parse(r.out).positions[0].liquidationPrice, null);
  });

  test('the table output names venue, mode and asset and marks a position past its liquidation price', async () => {
    const r = await calc(
      { venue: 'bybit-linear', positions: [pos({ leverage: '50', markPrice: '19699' })] },
      [],
    );
    assert.equal(r.code, 0);
    assert.match(r.out, /venue bybit-linear, isolated margin, amounts in USDT/);
    assert.match(r.out, /LIQUIDATE/);
  });
});

describe('bad input: exit 2, one line naming the field, no stack trace', () => {
  const cases: [string, unknown, RegExp][] = [
    ['malformed JSON', '{"positions": [', /input: malformed JSON/],
    ['not an object', '[]', /input: must be a JSON object/],
    ['unknown venue', { venue: 'nope', positions: [pos({})] }, /venue: unknown venue/],
    [
      'unknown market',
      { positions: [pos({ symbol: 'DOGEUSDT' })] },
      /positions\[0\]\.symbol: unknown market/,
    ],
    ['NaN size', { positions: [pos({ size: 'NaN' })] }, /positions\[0\]\.size/],
    ['negative size', { positions: [pos({ size: '-1' })] }, /positions\[0\]\.size: must not be negative/],
    ['zero size', { positions: [pos({ size: '0' })] }, /positions\[0\]\.size: must be greater than zero/],
    [
      'too many decimals',
      { positions: [pos({ size: '1.0001' })] },
      /positions\[0\]\.size: has more than 3 decimal places/,
    ],
    ['exponent', { positions: [pos({ entryPrice: '2e4' })] }, /positions\[0\]\.entryPrice/],
    ['huge number', { positions: [pos({ entryPrice: '1'.repeat(40) })] }, /positions\[0\]\.entryPrice/],
    [
      'leverage above the tier',
      { positions: [pos({ leverage: '500' })] },
      /positions\[0\]\.leverage: exceeds/,
    ],
    ['unknown field', { positions: [pos({ sizee: '1' })] }, /positions\[0\]\.sizee: unknown field/],
    ['bad side', { positions: [pos({ side: 'up' })] }, /positions\[0\]\.side/],
    ['cross without wallet', { mode: 'cross', positions: [pos({})] }, /walletBalance: is required/],
    ['no positions', { positions: [] }, /positions: must be a non-empty array/],
    [
      'a deduction that contradicts the caps (issue 26)',
      {
        venue: 'binance-usdm',
        positions: [
          pos({
            symbol: 'X',
            tiers: [
              { cap: '250000', mmr: '0.005', maxLeverage: '100', deduction: '50' },
              { cap: '1000000', mmr: '0.01', maxLeverage: '50', deduction: '1301' },
            ],
          }),
        ],
      },
      /positions\[0\]\.tiers\[1\]\.deduction: 1301 disagrees with 1300 derived from the caps/,
    ],
    [
      'a takerFee on a venue that counts no fee',
      { venue: 'binance-usdm', positions: [pos({ takerFee: '0.0004' })] },
      /positions\[0\]\.takerFee: venue binance-usdm \(isolated\) counts no taker fee/,
    ],
    [
      'a custom-market field without tiers',
      { venue: 'binance-usdm', positions: [pos({ tickSize: '1' })] },
      /positions\[0\]\.tickSize: defines a custom market: only with "tiers"/,
    ],
    [
      'a Hyperliquid symbol outside the tables without maxLeverage',
      { venue: 'hyperliquid', positions: [pos({ symbol: 'NEWCOIN' })] },
      /positions\[0\]\.symbol: unknown market "NEWCOIN" .*any other symbol with "maxLeverage"/,
    ],
    [
      'a position beyond the last tier of a table that ends',
      {
        venue: 'gate',
        positions: [pos({ symbol: 'BTC_USDT', size: '200000', entryPrice: '100000', leverage: '10' })],
      },
      /positions\[0\]\.size: notional 2000000 is beyond the last tier/,
    ],
    [
      'an isolated-only field on a cross position (it would be ignored)',
      { mode: 'cross', walletBalance: '1000', positions: [pos({ extraMargin: '10' })] },
      /positions\[0\]\.extraMargin: applies to isolated positions only/,
    ],
    [
      'numeric NaN',
      '{"positions":[{"symbol":"BTCUSDT","side":"long","size":1,"entryPrice":1e400}]}',
      /positions\[0\]\.entryPrice/,
    ],
  ];
  for (const [name, input, re] of cases) {
    test(name, { timeout: 10_000 }, async () => {
      const r = await calc(input);
      assert.equal(r.code, 2);
      assert.equal(r.out, '');
      assert.match(r.err, re);
      assert.equal(r.err.trim().split('\n').length, 1, 'one line');
      assert.doesNotMatch(r.err, /\n\s+at /);
    });
  }
});

test('the built executable reads --file and stdin (npx ringfence calc)', () => {
  const input = JSON.stringify({ venue: 'bybit-linear', positions: [pos({ leverage: '50' })] });
  const r = spawnSync(process.execPath, ['bin/ringfence.js', 'calc', '--json'], { input, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).positions[0].liquidationPrice, '19700');
  const bad = spawnSync(process.execPath, ['bin/ringfence.js', 'calc'], { input: '{', encoding: 'utf8' });
  assert.equal(bad.status, 2);
});
