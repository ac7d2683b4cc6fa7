/**
 * Collateral in other assets, with haircuts:
 * - golden: Binance's Cross Margin FAQ worked example — 6,000 BTC at 20,000 (120,000,000 USDT) over bands of
 *   100,000,000 at 100% and up to 200,000,000 at 97.5% counts 119,500,000; the recorded default tables
 *   (docs/collateral-haircuts.json) are the ones the calculator uses;
 * - calc: long 1 BTC at 20,000, 50x, funded with 0.021 BTC (420 USDT, 399 after the 5% haircut) liquidates higher
 *   than the same 399 held in USDT (wrong-way risk): the last tick before the one where collateral revalued there
 *   plus PnL falls under maintenance; a short funded in more BTC than it is short is a hedge, one funded in less is
 *   liquidated above; fixed-price collateral gives the settle-asset answer; bad input is refused naming the field.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { DEFAULT_HAIRCUTS, haircutValue, parseBands } from '../../src/core/collateral.ts';
import { InputError, parseDecimal } from '../../src/core/fixed.ts';
import { triggerMaintenance, unrealizedPnl } from '../../src/core/margin.ts';
import { buildConventions, PRESETS } from '../../src/core/presets.ts';
import { calc } from '../../src/core/scenario.ts';
import { instrumentOf } from '../../src/engine/market.ts';
import { BTCUSDT } from '../engine/harness.ts';

const T = { timeout: 30_000 };
const usdt = (v: string) => parseDecimal(v, 'v', { dp: 8, signed: true });

describe('haircut bands', () => {
  test(
    'Binance’s worked example: 6,000 BTC at 20,000 = 120,000,000; 100M at 100% + 20M at 97.5% = 119,500,000',
    T,
    () => {
      const bands = parseBands(
        [
          { upTo: '100000000', ratio: '1' },
          { upTo: '200000000', ratio: '0.975' },
          { upTo: null, ratio: '0.95' },
        ],
        'bands',
        8,
      );
      assert.equal(haircutValue(usdt('120000000'), bands), usdt('119500000'));
      assert.equal(haircutValue(usdt('50000000'), bands), usdt('50000000'));
      assert.equal(haircutValue(usdt('300000000'), bands), usdt('292500000'));
      assert.equal(haircutValue(usdt('-5'), bands), usdt('-5'), 'a debt counts in full');
      // A closed last band caps the credit.
      assert.equal(haircutValue(usdt('10'), parseBands([{ upTo: '4', ratio: '0.5' }], 'b', 8)), usdt('2'));
    },
  );

  test('the defaults are the recorded ones (docs/collateral-haircuts.json "defaults")', T, () => {
    const doc = JSON.parse(
      readFileSync(new URL('../../docs/collateral-haircuts.json', import.meta.url), 'utf8'),
    ) as {
      defaults: Record<string, { upTo: string | null; ratio: string }[]>;
    };
    for (const [asset, bands] of Object.entries(DEFAULT_HAIRCUTS))
      assert.deepEqual(
        bands.map((b) => [b.upTo, b.ratio]),
        doc.defaults[asset]!.map((b) => [b.upTo, b.ratio]),
        asset,
      );
  });

  test('bad tables are refused naming the field', T, () => {
    const bad = (v: unknown, re: RegExp) =>
      assert.throws(
        () => parseBands(v, 'h', 8),
        (e) => e instanceof InputError && re.test(e.message),
      );
    bad([], /list/);
    bad(
      [
        { upTo: null, ratio: '1' },
        { upTo: '5', ratio: '0.9' },
      ],
      /only the last/,
    );
    bad(
      [
        { upTo: '5', ratio: '0.9' },
        { upTo: '4', ratio: '0.8' },
      ],
      /increase/,
    );
    bad(
      [
        { upTo: '5', ratio: '0.9' },
        { upTo: null, ratio: '0.95' },
      ],
      /more than a smaller/,
    );
    bad([{ upTo: null, ratio: '1.5' }], /ratio/);
  });
});

type Row = {
  side: string;
  collateral: string;
  liquidationPrice: string | null;
  liquidationPriceOtherSide?: string | null;
  liquidationPriceIfSettle?: string | null;
  collateralAssets?: { asset: string; value: string }[];
};
const run = (positions: unknown[], extra: Record<string, unknown> = {}) =>
  (calc({ venue: 'ringfence', positions, ...extra }) as unknown as { positions: Row[] }).positions;

describe('calc with collateral in other assets', () => {
  test(
    'long 1 BTC at 20,000, 50x, funded with 0.021 BTC: liquidated at 19,696.9 — above the 19,690.9 of the same 399 USDT — the last tick before the test fails',
    T,
    () => {
      const [r] = run([
        {
          symbol: 'BTCUSDT',
          side: 'long',
          size: '1',
          entryPrice: '20000',
          leverage: '50',
          collateral: [{ asset: 'BTC', amount: '0.021' }],
        },
      ]);
      assert.equal(r!.collateral, '399');
      assert.deepEqual(
        r!.collateralAssets!.map((a) => [a.asset, a.value]),
        [['BTC', '399']],
      );
      assert.equal(r!.liquidationPriceIfSettle, '19690.9');
      assert.equal(r!.liquidationPrice, '19696.9');
      assert.equal(r!.liquidationPriceOtherSide, null);
      // Exact to the tick under the calculator's own figures: holds at 19,696.9, fails a tick below.
      const inst = instrumentOf(BTCUSDT);
      // The ringfence preset's isolated conventions, as calc applies them.
      const conv = buildConventions(PRESETS.ringfence!.conventions);
      const pos = { side: 'long' as const, size: 1000n, entryPrice: usdt('20000') };
      const excess = (p: string) => {
        const at = usdt(p);
        const coll = (((21n * 10n ** 5n * at) / 10n ** 8n) * 95n) / 100n; // 0.021 BTC × price × 0.95
        return coll + unrealizedPnl(inst, pos, at) - triggerMaintenance(inst, conv, pos, at);
      };
      assert.ok(
        excess('19696.8') < 0n && excess('19696.9') >= 0n,
        `${excess('19696.8')} ${excess('19696.9')}`,
      );
    },
  );

  test(
    'a short funded in its underlying: more BTC than it is short is a hedge (no liquidation below, only a far tier above); less is liquidated above',
    T,
    () => {
      const [hedge, thin] = run([
        {
          symbol: 'BTCUSDT',
          side: 'short',
          size: '1',
          entryPrice: '20000',
          leverage: '10',
          collateral: [{ asset: 'BTC', amount: '1.5' }],
        },
        {
          symbol: 'BTCUSDT',
          side: 'short',
          size: '1',
          entryPrice: '20000',
          leverage: '10',
          collateral: [{ asset: 'BTC', amount: '0.3' }],
        },
      ]);
      assert.equal(hedge!.liquidationPriceOtherSide, null);
      assert.ok(Number(hedge!.liquidationPrice) > 1_000_000, `hedge ${hedge!.liquidationPrice}`);
      // 0.3 BTC × 0.95 = 0.285 BTC: equity 20,000 − 0.715 × P less maintenance → about 27,700.
      const lp = Number(thin!.liquidationPrice);
      assert.ok(lp > 27_000 && lp < 28_000, `thin ${thin!.liquidationPrice}`);
      // The other way round from the long: the BTC gains value as the short loses, so it liquidates later than USDT.
      assert.ok(lp > Number(thin!.liquidationPriceIfSettle), `${lp} vs ${thin!.liquidationPriceIfSettle}`);
    },
  );

  test(
    'a silo funded in BTC: its BTCUSDT leg’s liquidation price (the others held) is above the one with the same value in USDT; ETH in the silo moves with its ETH leg only',
    T,
    () => {
      const legs = [
        { symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '20000', leverage: '50' },
        { symbol: 'ETHUSDT', side: 'short', size: '2', entryPrice: '1500', leverage: '50' },
      ];
      const silo = (collateral: unknown) =>
        (
          calc({
            venue: 'ringfence',
            silos: [{ id: 's', riskModel: 'standalone', collateral, legs }],
          }) as unknown as {
            silos: {
              collateral: string;
              liquidationPrices: Record<string, string | null>;
              collateralAssets?: unknown[];
            }[];
          }
        ).silos[0]!;
      const inBtc = silo([{ asset: 'BTC', amount: '0.03' }]);
      assert.equal(inBtc.collateral, '570'); // 0.03 × 20,000 × 0.95
      const inUsdt = silo('570');
      // ETH is the underlying of the silo's short ETH leg: priced by ETHUSDT, it moves when ETH moves, not BTC.
      const withEth = silo([
        { asset: 'USDT', amount: '285' },
        { asset: 'ETH', amount: '0.2' },
      ]);
      assert.equal(withEth.collateral, '570'); // 285 + 0.2 × 1,500 × 0.95
      assert.equal(inBtc.collateralAssets!.length, 1);
      assert.ok(
        Number(inBtc.liquidationPrices.BTCUSDT) > Number(inUsdt.liquidationPrices.BTCUSDT),
        `${inBtc.liquidationPrices.BTCUSDT} vs ${inUsdt.liquidationPrices.BTCUSDT}`,
      );
      assert.equal(
        inBtc.liquidationPrices.ETHUSDT,
        inUsdt.liquidationPrices.ETHUSDT,
        'BTC does not move with ETH',
      );
      assert.equal(
        withEth.liquidationPrices.BTCUSDT,
        inUsdt.liquidationPrices.BTCUSDT,
        'ETH is held when BTC moves',
      );
      // Short ETH funded partly in ETH: the collateral gains as the short loses, so it liquidates later.
      assert.ok(Number(withEth.liquidationPrices.ETHUSDT) > Number(inUsdt.liquidationPrices.ETHUSDT));
    },
  );

  test(
    'collateral at fixed prices (USDT + ETH at 1,500) is the settle-asset answer; refusals name the field',
    T,
    () => {
      const [r] = run([
        {
          symbol: 'BTCUSDT',
          side: 'long',
          size: '1',
          entryPrice: '20000',
          leverage: '50',
          collateral: [
            { asset: 'USDT', amount: '100' },
            { asset: 'ETH', amount: '0.2', price: '1500' },
          ],
        },
      ]);
      assert.equal(r!.collateral, '385');
      assert.equal(r!.liquidationPrice, r!.liquidationPriceIfSettle);
      const refused = (p: Record<string, unknown>, re: RegExp, extra: Record<string, unknown> = {}) =>
        assert.throws(
          () => run([{ symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '20000', ...p }], extra),
          (e) => e instanceof InputError && re.test(`${e.field}: ${e.message}`),
        );
      refused({ collateral: [{ asset: 'ETH', amount: '1' }] }, /price/);
      refused({ collateral: [{ asset: 'BTC', amount: '1', price: '2' }] }, /underlying/);
      refused({ collateral: [{ asset: 'DOGE', amount: '1', price: '0.1' }] }, /haircuts\.DOGE/);
      refused({ collateral: [{ asset: 'BTC', amount: '1' }], margin: '10' }, /not both/);
      refused({ collateral: [] }, /collateral/);
      // A venue's own table overrides the default.
      const [x] = run(
        [
          {
            symbol: 'BTCUSDT',
            side: 'long',
            size: '1',
            entryPrice: '20000',
            leverage: '50',
            collateral: [{ asset: 'BTC', amount: '0.021' }],
          },
        ],
        { haircuts: { BTC: [{ upTo: null, ratio: '0.9' }] } },
      );
      assert.equal(x!.collateral, '378');
      assert.throws(
        () =>
          calc({
            venue: 'ringfence',
            mode: 'cross',
            walletBalance: '1000',
            positions: [
              {
                symbol: 'BTCUSDT',
                side: 'long',
                size: '1',
                entryPrice: '20000',
                collateral: [{ asset: 'BTC', amount: '1' }],
              },
            ],
          }),
        /isolated/,
      );
    },
  );
});
