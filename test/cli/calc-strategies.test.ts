/**
 * `ringfence calc` with option strategy models and the strategy builder (issue 18's fixed contract: a silo's
 * `riskModel` may be `maxLoss`, `strategy` or `scenario`; its output carries `maxLoss` and `strategy`).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from './run.ts';

const T = { timeout: 30_000 };
const calc = (input: unknown, args: string[] = ['--json']) =>
  runCli(['calc', ...args], JSON.stringify(input));
const calcJson = async (input: unknown) => {
  const r = await calc(input);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
};
const refused = async (input: unknown, message: RegExp) => {
  const r = await calc(input);
  assert.equal(r.code, 2, r.out);
  assert.match(r.err, message);
};

const VALUATION = '2026-12-01T08:00:00Z';
const EXPIRY = '2026-12-25T08:00:00Z';
/** A BTC structure 24 days out, forward 95,000, 55% vol, size 1 (fields override). */
const structure = (type: string, strikes: string[], extra: Record<string, unknown> = {}) => ({
  type,
  underlying: 'BTC',
  expiry: EXPIRY,
  strikes,
  size: '1',
  underlyingPrice: '95000',
  iv: '0.55',
  ...extra,
});
const shorthand = (strategy: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  valuationTime: VALUATION,
  strategy,
  ...extra,
});
const inSilo = (riskModel: string, collateral: string, strategy: Record<string, unknown>) => ({
  valuationTime: VALUATION,
  silos: [{ id: 's', riskModel, collateral, strategy }],
});
const option = (type: string, strike: string, side: string, extra: Record<string, unknown> = {}) => ({
  kind: 'option',
  underlying: 'BTC',
  settle: 'linear',
  type,
  strike,
  expiry: EXPIRY,
  side,
  size: '1',
  entryPrice: '2000',
  underlyingPrice: '95000',
  iv: '0.55',
  ...extra,
});
/** A leg as `side size strike type` (or `side size symbol` for a perpetual), to compare built legs at a glance. */
const legText = (l: Record<string, string>) =>
  l.kind === 'option' ? `${l.side} ${l.size} ${l.strike} ${l.type}` : `${l.side} ${l.size} ${l.symbol}`;

// ---------------------------------------------------------------------------------------------------------

describe('calc strategies: the builder makes the legs a trader would type', () => {
  const cases: [string, string[], Record<string, unknown>, string[], string][] = [
    [
      'vertical',
      ['100000', '110000'],
      { optionType: 'call' },
      ['short 1 100000 call', 'long 1 110000 call'],
      'vertical',
    ],
    [
      'vertical',
      ['90000', '100000'],
      { optionType: 'put', side: 'long' },
      ['short 1 90000 put', 'long 1 100000 put'],
      'vertical',
    ],
    ['straddle', ['95000'], {}, ['short 1 95000 put', 'short 1 95000 call'], 'straddle'],
    ['strangle', ['90000', '100000'], {}, ['short 1 90000 put', 'short 1 100000 call'], 'strangle'],
    [
      'butterfly',
      ['90000', '95000', '105000'],
      { optionType: 'call' },
      ['long 1 90000 call', 'short 2 95000 call', 'long 1 105000 call'],
      'butterfly',
    ],
    [
      'ironCondor',
      ['80000', '90000', '100000', '110000'],
      {},
      ['long 1 80000 put', 'short 1 90000 put', 'short 1 100000 call', 'long 1 110000 call'],
      'ironCondor',
    ],
    [
      'ironButterfly',
      ['85000', '95000', '105000'],
      {},
      ['long 1 85000 put', 'short 1 95000 put', 'short 1 95000 call', 'long 1 105000 call'],
      'ironButterfly',
    ],
    [
      'box',
      ['90000', '100000'],
      {},
      ['short 1 90000 put', 'long 1 90000 call', 'long 1 100000 put', 'short 1 100000 call'],
      'box',
    ],
    ['coveredCall', ['100000'], {}, ['short 1 100000 call', 'long 1 BTCUSDT'], 'coveredCall'],
  ];
  for (const [type, strikes, extra, legs, recognised] of cases) {
    const what = `${extra.side ?? 'default side'}${extra.optionType ? ` ${extra.optionType}` : ''}`;
    test(
      `${type} (${what}) ${strikes.join('/')}: ${legs.join(', ')} → recognised as ${recognised}`,
      T,
      async () => {
        const s = (await calcJson(shorthand(structure(type, strikes, extra)))).silos[0];
        assert.deepEqual(s.legs.map(legText), legs);
        assert.equal(s.strategy, recognised);
        assert.deepEqual([s.id, s.riskModel], [type, 'maxLoss'], 'the shorthand: id = type, model maxLoss');
      },
    );
  }

  test(
    'entryPrices follow the leg order; without them each leg trades at its mark (no PnL yet)',
    T,
    async () => {
      const atMark = (await calcJson(shorthand(structure('strangle', ['90000', '100000'])))).silos[0];
      for (const l of atMark.legs) assert.equal(l.entryPrice, l.markPrice);
      const priced = (
        await calcJson(
          shorthand(structure('strangle', ['90000', '100000'], { entryPrices: ['1500', '2500'] })),
        )
      ).silos[0];
      assert.deepEqual(
        priced.legs.map((l: Record<string, string>) => [l.type, l.entryPrice]),
        [
          ['put', '1500'],
          ['call', '2500'],
        ],
      );
    },
  );

  test('iv per strike: an iron condor with a skew prices each strike at its own vol', T, async () => {
    const ivs = ['0.7', '0.6', '0.55', '0.5'];
    const s = (
      await calcJson(shorthand(structure('ironCondor', ['80000', '90000', '100000', '110000'], { iv: ivs })))
    ).silos[0];
    assert.deepEqual(
      s.legs.map((l: Record<string, string>) => l.iv),
      ivs,
    );
  });

  test(
    'the top-level shorthand: collateral defaults to what makes equity cover its initial margin',
    T,
    async () => {
      const s = (await calcJson(shorthand(structure('ironCondor', ['80000', '90000', '100000', '110000']))))
        .silos[0];
      // At the marks there is no PnL: the collateral is the initial margin itself.
      assert.equal(s.collateral, s.initialMargin);
      assert.equal(s.equity, s.initialMargin);
      assert.equal(s.liquidatable, false);
      const given = (
        await calcJson(
          shorthand(structure('straddle', ['95000'], { riskModel: 'strategy', collateral: '100000' })),
        )
      ).silos[0];
      assert.deepEqual([given.riskModel, given.collateral], ['strategy', '100000']);
    },
  );
});

// ---------------------------------------------------------------------------------------------------------

/** Short 100k/110k BTC call spread sold for 2,000 (3,000 received, 1,000 paid). */
const callSpread = (extra: Record<string, unknown> = {}) =>
  structure('vertical', ['100000', '110000'], {
    optionType: 'call',
    entryPrices: ['3000', '1000'],
    ...extra,
  });

describe('calc strategies: the models', () => {
  test(
    'short 100k/110k call spread, credit 2,000 → maxLoss 8,000, IM and MM ≤ 8,000, break-even 102,000',
    T,
    async () => {
      const s = (await calcJson(inSilo('maxLoss', '8000', callSpread()))).silos[0];
      assert.deepEqual([s.maxLoss, s.maxGain, s.breakevens], ['8000', '2000', ['102000']]);
      assert.equal(s.strategy, 'vertical');
      assert.ok(Number(s.initialMargin) <= 8000, `IM ${s.initialMargin}`);
      assert.ok(Number(s.maintenanceMargin) <= 8000, `MM ${s.maintenanceMargin}`);
      // The marks (3,339.09 and 1,111.74) put the spread 227.35 in loss: 8,000 less that loss is required (the
      // equity it is tested against: 8,000 of collateral, less the same loss).
      assert.equal(s.initialMargin, '7772.64907652');
      // Funded with exactly its max loss, the spread is safe; its standalone legs would need far more.
      assert.equal(s.liquidatable, false);
      // The legs' own: the short's venue 15,689.09 and the long's 1,000 paid in full (its premium at the lower of
      // mark and entry) — a unit of 1e-8 below their rounded sum, being the PnL shown plus the collateral asked for.
      assert.equal(s.standaloneInitialMargin, '16689.09177957');
      assert.deepEqual(s.worst, { kind: 'price', underlying: 'BTC', expiry: EXPIRY, price: '110000' });
    },
  );

  test('JSON payoff points: the spread at expiry at 0, each strike and beyond the highest', T, async () => {
    const s = (await calcJson(inSilo('maxLoss', '8000', callSpread()))).silos[0];
    assert.equal(s.payoff.length, 1);
    const p = s.payoff[0];
    assert.deepEqual([p.underlying, p.expiry, p.maxLoss, p.maxGain], ['BTC', EXPIRY, '8000', '2000']);
    assert.deepEqual(p.points, [
      { price: '0', pnl: '2000' },
      { price: '100000', pnl: '2000' },
      { price: '110000', pnl: '-8000' },
      { price: '137500', pnl: '-8000' },
      { price: '165000', pnl: '-8000' },
      { price: '220000', pnl: '-8000' },
    ]);
  });

  test(
    'a naked short call: maxLoss null (unbounded), no strategy, the maxLoss model keeps its standalone figure',
    T,
    async () => {
      const r = await calcJson({
        valuationTime: VALUATION,
        silos: [
          {
            id: 'naked',
            riskModel: 'maxLoss',
            collateral: '20000',
            legs: [option('call', '100000', 'short')],
          },
        ],
      });
      const s = r.silos[0];
      assert.equal(s.maxLoss, null);
      assert.equal(s.strategy, null);
      assert.deepEqual(
        s.strategies.map((x: { type: string }) => x.type),
        ['naked'],
      );
      assert.equal(s.maxGain, '2000', 'the premium');
      // 1.2 × 95,000 unpaired charge is above the leg's own 15,689.09: the better of the two is the leg's.
      assert.equal(s.initialMargin, s.standaloneInitialMargin);
      // The short's venue figure rounded up to the settle unit as the engine's leg is (15,689.09177958), as the PnL
      // shown plus the collateral asked for.
      assert.equal(s.initialMargin, '15689.09177958');
    },
  );

  test(
    'OPT-DRV-SRM-1 call spread through calc (derive): short 1500C, long 1600C at F = 1500, vol 0 → 100 suffices',
    T,
    async () => {
      const eth = (strike: string, side: string, size = '1') =>
        option('call', strike, side, {
          underlying: 'ETH',
          size,
          entryPrice: '0',
          underlyingPrice: '1500',
          iv: '0',
        });
      const s = (
        await calcJson({
          venue: 'derive',
          valuationTime: VALUATION,
          silos: [
            {
              id: 'srm',
              riskModel: 'maxLoss',
              collateral: '100',
              legs: [eth('1500', 'short'), eth('1600', 'long')],
            },
          ],
        })
      ).silos[0];
      // Isolated margin of the short is 0.15 × 1,500 = 225; max loss at 1,600 is 100: the better is 100.
      assert.deepEqual(
        [s.initialMargin, s.maintenanceMargin, s.standaloneInitialMargin],
        ['100', '100', '225'],
      );
      assert.deepEqual([s.maxLoss, s.liquidatable], ['100', false]);
    },
  );

  test(
    'OPT-DRV-SRM-UNPAIRED-1 through calc: short 1.01 × 1500C, long 1600C, unpairedIMScale 1.4 → IM 122',
    T,
    async () => {
      const eth = (strike: string, side: string, size: string) =>
        option('call', strike, side, {
          underlying: 'ETH',
          size,
          entryPrice: '0',
          underlyingPrice: '1500',
          iv: '0',
        });
      const s = (
        await calcJson({
          venue: 'derive',
          valuationTime: VALUATION,
          strategyMargin: { unpairedIMScale: '1.4' },
          silos: [
            {
              id: 'unpaired',
              riskModel: 'maxLoss',
              collateral: '123',
              legs: [eth('1500', 'short', '1.01'), eth('1600', 'long', '1')],
            },
          ],
        })
      ).silos[0];
      // 101 (max loss at 1,600) + 1.4 × 1,500 × 0.01 = 21 → 122; MM with the default 1.1: 101 + 16.5.
      assert.deepEqual([s.initialMargin, s.maintenanceMargin], ['122', '117.5']);
      assert.equal(s.maxLoss, null, 'net short 0.01 calls: unbounded');
      assert.equal(s.worst.kind, 'infinity');
    },
  );

  test(
    'under maxLoss, bounded silos of linear options need at most their max loss (IM and MM)',
    T,
    async () => {
      const bounded: Record<string, unknown>[] = [
        callSpread(),
        structure('vertical', ['90000', '100000'], { optionType: 'put', entryPrices: ['500', '4000'] }),
        structure('vertical', ['90000', '100000'], { optionType: 'call', side: 'long' }),
        structure('butterfly', ['85000', '95000', '100000'], { optionType: 'put', side: 'short' }),
        structure('butterfly', ['85000', '95000', '100000'], {
          optionType: 'call',
          entryPrices: ['9000', '3000', '500'],
        }),
        structure('ironCondor', ['80000', '90000', '100000', '110000'], {
          entryPrices: ['100', '900', '1200', '50'],
        }),
        structure('ironButterfly', ['85000', '95000', '105000'], { size: '2.5' }),
        structure('box', ['90000', '100000'], { side: 'short', entryPrices: ['0', '5000', '9000', '0'] }),
        structure('straddle', ['95000'], { side: 'long' }),
      ];
      for (const st of bounded) {
        const s = (await calcJson(inSilo('maxLoss', '0', st))).silos[0];
        const what = `${st.type} ${JSON.stringify(st.entryPrices ?? 'at marks')}`;
        assert.notEqual(s.maxLoss, null, what);
        assert.ok(
          Number(s.initialMargin) <= Number(s.maxLoss),
          `${what}: IM ${s.initialMargin} > ${s.maxLoss}`,
        );
        assert.ok(Number(s.maintenanceMargin) <= Number(s.maxLoss), `${what}: MM ${s.maintenanceMargin}`);
        assert.ok(Number(s.initialMargin) <= Number(s.standaloneInitialMargin), what);
      }
    },
  );

  test('every silo reports each model side by side; a standalone silo keeps its own figures', T, async () => {
    const legs = [
      option('call', '100000', 'short', { entryPrice: '3000' }),
      option('call', '110000', 'long', { entryPrice: '1000' }),
    ];
    const r = await calcJson({
      valuationTime: VALUATION,
      silos: ['standalone', 'maxLoss', 'strategy', 'scenario'].map((m) => ({
        id: m,
        riskModel: m,
        collateral: '20000',
        legs,
      })),
    });
    const [standalone, ...models] = r.silos;
    // The per-leg model: the short's venue requirement, premium counted as cash (as before issue 18).
    assert.equal(standalone.initialMargin, '15689.09177958');
    assert.equal(standalone.equity, '22000');
    assert.deepEqual(standalone.worst, { kind: 'standalone' });
    for (const s of models) {
      assert.deepEqual(s.models, standalone.models, `${s.id}: the same table`);
      assert.equal(s.initialMargin, s.models[s.id].initialMargin, s.id);
      assert.equal(s.maintenanceMargin, s.models[s.id].maintenanceMargin, s.id);
      // Net liquidation value: 20,000 + (3,000 − 3,339.09) + (1,111.74 − 1,000).
      assert.equal(s.equity, '19772.64907652', s.id);
    }
    assert.deepEqual(Object.keys(standalone.models), ['standalone', 'maxLoss', 'strategy', 'scenario']);
    assert.equal(r.silos[3].worst.kind, 'scenario');
    assert.deepEqual(Object.keys(standalone.greeks), ['BTC']);
  });

  // Collateral enough at the mark: the strategy rule asks the perpetual's own 472.5 maintenance, maxLoss the legs'
  // standalone 12,361.59 (the covered call's max loss, the perpetual falling to 0, is larger).
  for (const [model, collateral] of [
    ['strategy', '3000'],
    ['maxLoss', '15000'],
  ] as const) {
    test(
      `a covered call under ${model}: the perpetual's liquidation price is the model's first failing tick`,
      T,
      async () => {
        const cc = (mark?: string) =>
          inSilo(
            model,
            collateral,
            structure('coveredCall', ['100000'], mark ? { cover: { markPrice: mark } } : {}),
          );
        const s = (await calcJson(cc())).silos[0];
        const trigger = s.liquidationPrices.BTCUSDT;
        assert.ok(trigger !== null && Number(trigger) < 95000, `trigger ${trigger}`);
        // Re-run with the perpetual marked at the trigger and one tick above it (options held at their marks).
        assert.equal((await calcJson(cc(trigger))).silos[0].liquidatable, true, `at ${trigger}`);
        const above = (Number(trigger) + 0.1).toFixed(1);
        assert.equal((await calcJson(cc(above))).silos[0].liquidatable, false, `at ${above}`);
      },
    );
  }

  test(
    'the text output: requirement by model, max loss, break-evens, Greeks and the payoff table',
    T,
    async () => {
      const r = await calc(inSilo('maxLoss', '8000', callSpread()), []);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /requirement by model/);
      assert.match(r.out, /maxLoss\s+7772\.64907652\s+7772\.64907652\s+<- this silo/);
      assert.match(
        r.out,
        /strategy vertical; max loss 8000, max gain 2000, break-evens 102000; worst at expiry: BTC at 110000/,
      );
      assert.match(r.out, /greeks BTC: delta -0\.21/);
      assert.match(r.out, /payoff at expiry, BTC 2026-12-25T08:00:00Z:\n price\s+pnl\n[- ]+\n\s+0\s+2000\n/);
    },
  );
});

// ---------------------------------------------------------------------------------------------------------

describe('calc strategies: inputs refused, naming the field', () => {
  const cases: [string, unknown, RegExp][] = [
    [
      'an unknown type',
      shorthand(structure('condor', ['1'])),
      /^ringfence calc: strategy\.type: must be "vertical"/,
    ],
    [
      'too few strikes',
      shorthand(structure('ironCondor', ['1', '2', '3'])),
      /strategy\.strikes: must be an array of 4 strikes/,
    ],
    [
      'strikes out of order',
      shorthand(structure('strangle', ['100000', '90000'])),
      /strategy\.strikes\[1\]: strikes must be strictly ascending/,
    ],
    [
      'a vertical without optionType',
      shorthand(structure('vertical', ['1', '2'])),
      /strategy\.optionType: must be "call" or "put"/,
    ],
    [
      'optionType on a straddle',
      shorthand(structure('straddle', ['1'], { optionType: 'put' })),
      /strategy\.optionType: applies to vertical and butterfly only/,
    ],
    [
      'iv missing',
      shorthand(structure('straddle', ['95000'], { iv: undefined })),
      /strategy\.iv: is required/,
    ],
    [
      'a bad iv of one strike',
      shorthand(structure('strangle', ['90000', '100000'], { iv: ['0.5', 'x'] })),
      /strategy\.iv\[1\]: "x" is not a plain decimal/,
    ],
    [
      'iv list of the wrong length',
      shorthand(structure('strangle', ['90000', '100000'], { iv: ['0.5'] })),
      /strategy\.iv: must be an array of 2/,
    ],
    [
      'entryPrices of the wrong length',
      shorthand(structure('straddle', ['95000'], { entryPrices: ['1'] })),
      /strategy\.entryPrices: must be an array of 2/,
    ],
    [
      'a negative entry price',
      shorthand(structure('straddle', ['95000'], { entryPrices: ['1', '-2'] })),
      /strategy\.entryPrices\[1\]: must not be negative/,
    ],
    [
      'an expiry before valuationTime',
      shorthand(structure('straddle', ['95000'], { expiry: '2026-11-01T08:00:00Z' })),
      /strategy\.expiry: is before valuationTime/,
    ],
    [
      'a bad side',
      shorthand(structure('straddle', ['95000'], { side: 'sold' })),
      /strategy\.side: must be "short" or "long"/,
    ],
    [
      'a long covered call',
      shorthand(structure('coveredCall', ['100000'], { side: 'long' })),
      /strategy\.side: a covered call is a short call/,
    ],
    [
      'a cover on another base',
      shorthand(structure('coveredCall', ['100000'], { cover: { symbol: 'ETHUSDT' } })),
      /strategy\.cover\.symbol: ETHUSDT is a ETH market/,
    ],
    [
      'cover on a straddle',
      shorthand(structure('straddle', ['95000'], { cover: {} })),
      /strategy\.cover: applies to coveredCall only/,
    ],
    [
      'an unknown field',
      shorthand(structure('straddle', ['95000'], { wings: '2' })),
      /strategy\.wings: unknown field/,
    ],
    [
      'a bad model',
      shorthand(structure('straddle', ['95000'], { riskModel: 'span' })),
      /strategy\.riskModel: must be one of "standalone", "netted", "maxLoss", "strategy", "scenario"/,
    ],
    [
      'a zero size',
      shorthand(structure('straddle', ['95000'], { size: '0' })),
      /strategy\.size: must be greater than zero/,
    ],
    ['no valuationTime', { strategy: structure('straddle', ['95000']) }, /valuationTime: is required/],
    [
      'strategy and silos together',
      { ...shorthand(structure('straddle', ['95000'])), silos: [] },
      /^ringfence calc: strategy: is the shorthand for one silo/,
    ],
    [
      'legs and strategy in one silo',
      {
        valuationTime: VALUATION,
        silos: [
          {
            id: 'a',
            riskModel: 'maxLoss',
            collateral: '1',
            legs: [option('call', '1', 'short')],
            strategy: structure('straddle', ['1']),
          },
        ],
      },
      /silos\[0\]\.strategy: give "legs" or "strategy", not both/,
    ],
    [
      "riskModel inside a silo's strategy",
      inSilo('maxLoss', '1', structure('straddle', ['95000'], { riskModel: 'maxLoss' })),
      /silos\[0\]\.strategy\.riskModel: unknown field/,
    ],
    [
      'bad strategyMargin',
      shorthand(structure('straddle', ['95000']), { strategyMargin: { unpairedIMScale: '5' } }),
      /strategyMargin\.unpairedIMScale: must be within \[1, 3\]/,
    ],
    [
      'unknown strategyMargin field',
      shorthand(structure('straddle', ['95000']), { strategyMargin: { floor: '1' } }),
      /strategyMargin\.floor/,
    ],
  ];
  for (const [what, input, message] of cases)
    test(`${what} → exit 2 naming the field`, T, async () => {
      await refused(input, message);
    });
});
