/** `ringfence calc` with silos (issue 16's fixed contract): a box of legs backed by one collateral, under its model. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from './run.ts';

const T = { timeout: 20_000 };
const calc = (input: unknown, args: string[] = ['--json']) =>
  runCli(['calc', ...args], JSON.stringify(input));
const calcJson = async (input: unknown) => {
  const r = await calc(input);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
};

// A BTC/ETH pair, 20,000 a side at entry, 20x: long 1 BTC @ 20,000, short 10 ETH @ 2,000.
const btc = (mark: string) => ({
  symbol: 'BTCUSDT',
  side: 'long',
  size: '1',
  entryPrice: '20000',
  markPrice: mark,
});
const eth = (mark: string) => ({
  symbol: 'ETHUSDT',
  side: 'short',
  size: '10',
  entryPrice: '2000',
  markPrice: mark,
});
const RHO_08 = { correlations: [{ a: 'BTC', b: 'ETH', rho: '0.8' }] };
const silo = (id: string, riskModel: string, legs: unknown[], collateral = '2000') => ({
  id,
  riskModel,
  collateral,
  legs,
});

const SILO_FIELDS = [
  'id',
  'riskModel',
  'collateral',
  'equity',
  'initialMargin',
  'maintenanceMargin',
  'standaloneInitialMargin',
  'standaloneMaintenanceMargin',
  'marginRatio',
  'liquidatable',
  'maxRemovableMargin',
  'legs',
  'liquidationPrices',
];

describe('calc silos: the contract', () => {
  test(
    'every contract field is there, decimals as strings, liquidationPrices keyed by symbol',
    T,
    async () => {
      const r = await calcJson({
        netting: RHO_08,
        silos: [silo('pair', 'netted', [btc('20000'), eth('2000')])],
      });
      assert.deepEqual(r.positions, [], 'positions may be left out when silos are given');
      const s = r.silos[0];
      for (const k of SILO_FIELDS) assert.ok(k in s, `silo has ${k}`);
      for (const k of SILO_FIELDS.filter(
        (k) => !['id', 'riskModel', 'liquidatable', 'legs', 'liquidationPrices'].includes(k),
      ))
        assert.equal(typeof s[k], 'string', `${k} is a decimal string`);
      assert.deepEqual([s.id, s.riskModel, s.liquidatable], ['pair', 'netted', false]);
      assert.deepEqual(Object.keys(s.liquidationPrices), ['BTCUSDT', 'ETHUSDT']);
      for (const p of Object.values(s.liquidationPrices)) assert.equal(typeof p, 'string');
      assert.equal(s.legs.length, 2);
      for (const leg of s.legs) {
        for (const k of [
          'notional',
          'unrealizedPnl',
          'initialMargin',
          'maintenanceMargin',
          'maxRemovableMargin',
        ])
          assert.equal(typeof leg[k], 'string', `leg ${k}`);
        assert.equal(leg.collateral, null, "a leg has no collateral of its own: the silo's backs it");
      }
      // At entry, 0.8 correlated and opposite: the offset shows as netted < standalone.
      assert.ok(Number(s.maintenanceMargin) < Number(s.standaloneMaintenanceMargin));
      assert.ok(Number(s.initialMargin) < Number(s.standaloneInitialMargin));
    },
  );

  test('a scenario without silos has no "silos" key (existing output unchanged)', T, async () => {
    const r = await calcJson({ positions: [btc('20000')] });
    assert.ok(!('silos' in r));
  });
});

describe('calc silos: stories', () => {
  test(
    'BTC falls to 19,080 and ETH rises to 2,095: each leg alone with 1,000 is liquidated, the netted pair with 2,000 is not',
    T,
    async () => {
      // Equity 2,000 − 920 − 950 = 130. Each isolated leg: BTC 1,000 − 920 = 80 < MM 89.54, ETH 1,000 − 950 = 50 <
      // MM 131.65. Netted MM (ρ 0.8): ETH rising its range is worst — 131.65 − 0.8 × 89.54 + 0.2 × 89.54 = 77.926,
      // above the floor 0.25 × 221.19 — so 130 ≥ 77.926 survives; the same legs standalone need 221.19 and do not.
      const r = await calcJson({
        netting: RHO_08,
        positions: [
          { ...btc('19080'), margin: '1000' },
          { ...eth('2095'), margin: '1000' },
        ],
        silos: [
          silo('pair', 'netted', [btc('19080'), eth('2095')]),
          silo('plain', 'standalone', [btc('19080'), eth('2095')]),
        ],
      });
      assert.deepEqual(
        r.positions.map((p: { liquidatable: boolean }) => p.liquidatable),
        [true, true],
      );
      const [pair, plain] = r.silos;
      assert.deepEqual(
        [pair.equity, pair.maintenanceMargin, pair.standaloneMaintenanceMargin, pair.liquidatable],
        ['130', '77.926', '221.19', false],
      );
      assert.deepEqual([plain.maintenanceMargin, plain.liquidatable], ['221.19', true]);
      assert.equal(pair.marginRatio, '0.5994307693'); // 77.926 / 130, rounded up like positions' marginRatio
    },
  );

  test("a standalone silo's figures are the sums of its legs'", T, async () => {
    const r = await calcJson({
      silos: [
        silo('plain', 'standalone', [
          btc('19500'),
          eth('1950'),
          { ...btc('19500'), side: 'short', size: '0.5' },
        ]),
      ],
    });
    const s = r.silos[0];
    const sum = (k: string) => s.legs.reduce((a: number, l: Record<string, string>) => a + Number(l[k]), 0);
    assert.equal(Number(s.initialMargin), sum('initialMargin'));
    assert.equal(Number(s.maintenanceMargin), sum('maintenanceMargin'));
    assert.equal(s.initialMargin, s.standaloneInitialMargin);
    assert.equal(s.maintenanceMargin, s.standaloneMaintenanceMargin);
    assert.equal(Number(s.equity), 2000 + sum('unrealizedPnl'));
  });

  test(
    "the silo's BTCUSDT liquidation price is the first tick, ETH held, at which it is liquidatable",
    T,
    async () => {
      const pairAt = (btcMark: string) => ({
        netting: RHO_08,
        silos: [silo('pair', 'netted', [btc(btcMark), eth('2000')])],
      });
      const s = (await calcJson(pairAt('20000'))).silos[0];
      const liq: string = s.liquidationPrices.BTCUSDT;
      assert.equal(
        s.legs[0].liquidationPrice,
        (Number(liq) + 0.1).toFixed(1),
        'the leg shows the tick before, as positions do',
      );
      const at = (await calcJson(pairAt(liq))).silos[0];
      const before = (await calcJson(pairAt((Number(liq) + 0.1).toFixed(1)))).silos[0];
      assert.deepEqual([at.liquidatable, before.liquidatable], [true, false]);
    },
  );

  test(
    'maxRemovableMargin: equity above initial margin, never more than the collateral, none of an unrealized profit',
    T,
    async () => {
      const flat = (
        await calcJson({ netting: RHO_08, silos: [silo('pair', 'netted', [btc('20000'), eth('2000')])] })
      ).silos[0];
      assert.equal(Number(flat.maxRemovableMargin), 2000 - Number(flat.initialMargin));
      // BTC up 500: ringfence counts no unrealized profit as removable, so the figure does not grow.
      const up = (
        await calcJson({ netting: RHO_08, silos: [silo('pair', 'netted', [btc('20500'), eth('2000')])] })
      ).silos[0];
      assert.ok(Number(up.maxRemovableMargin) <= 2000 - Number(up.initialMargin));
    },
  );

  test(
    'the table output shows each silo with its standalone sums and its liquidation prices',
    T,
    async () => {
      const r = await calc(
        { netting: RHO_08, silos: [silo('pair', 'netted', [btc('20000'), eth('2000')])] },
        [],
      );
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /silo pair \(netted\), venue ringfence, amounts in USDT: collateral 2000/);
      assert.match(r.out, /MM [\d.]+ \(standalone [\d.]+\)/);
      assert.match(r.out, /silo liquidated at \(each market alone\): BTCUSDT [\d.]+, ETHUSDT [\d.]+/);
    },
  );
});

describe('calc silos: bad input exits 2 naming the field', () => {
  const leg = btc('20000');
  const cases: [string, unknown, RegExp][] = [
    ['not an array', { silos: {} }, /^ringfence calc: silos: must be a non-empty array/],
    [
      'unknown silo field',
      { silos: [{ ...silo('a', 'netted', [leg]), mode: 'x' }] },
      /silos\[0\]\.mode: unknown field/,
    ],
    ['bad id', { silos: [silo('a b', 'netted', [leg])] }, /silos\[0\]\.id: must be 1-32/],
    [
      'duplicate id',
      { silos: [silo('a', 'netted', [leg]), silo('a', 'standalone', [leg])] },
      /silos\[1\]\.id: "a" is the id/,
    ],
    ['unknown model', { silos: [silo('a', 'options', [leg])] }, /silos\[0\]\.riskModel: must be one of/],
    ['no legs', { silos: [silo('a', 'netted', [])] }, /silos\[0\]\.legs: must be a non-empty array/],
    [
      'bad collateral',
      { silos: [silo('a', 'netted', [leg], '-5')] },
      /silos\[0\]\.collateral: must not be negative/,
    ],
    [
      "a leg's own margin",
      { silos: [silo('a', 'netted', [{ ...leg, margin: '100' }])] },
      /silos\[0\]\.legs\[0\]\.margin: applies to isolated positions only \(the silo's collateral backs its legs\)/,
    ],
    [
      'two settle assets in one silo',
      {
        silos: [
          silo('a', 'netted', [leg, { symbol: 'BTCUSD', side: 'short', size: '100', entryPrice: '20000' }]),
        ],
      },
      /silos\[0\]\.legs\[1\]\.symbol: a silo holds one settle asset \(USDT\)/,
    ],
    [
      'one market at two marks',
      { silos: [silo('a', 'netted', [leg, btc('19000')])] },
      /silos\[0\]\.legs\[1\]\.markPrice: differs from silos\[0\]\.legs\[0\]/,
    ],
    [
      'more than 100 legs in all',
      { silos: [silo('a', 'netted', Array(60).fill(leg)), silo('b', 'netted', Array(41).fill(leg))] },
      /silos\[1\]\.legs: at most 100 legs in all silos/,
    ],
    [
      'a bad correlation',
      {
        netting: { correlations: [{ a: 'BTC', b: 'ETH', rho: '1.2' }] },
        silos: [silo('a', 'netted', [leg])],
      },
      /netting\.correlations\[0\]\.rho: must be in \[-1, 1\]/,
    ],
    [
      'a wallet with no positions',
      { walletBalance: '1', silos: [silo('a', 'netted', [leg])] },
      /walletBalance: applies to positions only/,
    ],
  ];
  for (const [name, input, re] of cases) {
    test(name, T, async () => {
      const r = await calc(input);
      assert.equal(r.code, 2, r.out);
      assert.match(r.err, re);
      assert.equal(r.err.trim().split('\n').length, 1);
    });
  }
});
