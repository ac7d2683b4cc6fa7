/**
 * The liquidation price and the liquidation test agree on every maintenance basis: a mark one tick past the
 * liquidation price is liquidatable, one tick short of it is not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  initialMarginAtLeverage,
  liquidationPrice,
  notional,
  positionRisk,
  type Side,
  unrealizedPnl,
} from '../../src/core/margin.ts';
import { venue } from '../../src/core/presets.ts';

for (const v of ['ringfence', 'bybit-linear', 'binance-usdm', 'bybit-inverse', 'bitmex-inverse']) {
  test(`${v}: liquidatable exactly beyond the liquidation price`, () => {
    const { conventions: conv, markets } = venue(v);
    const inst = [...markets.values()][0]!;
    fc.assert(
      fc.property(
        fc.constantFrom<Side>('long', 'short'),
        fc.integer({ min: 10, max: 5_000 }),
        fc.integer({ min: 2, max: 50 }),
        fc.integer({ min: 10_000, max: 120_000 }),
        (side, lots, lev, entryUnits) => {
          const size = BigInt(lots) * inst.lotSize * (inst.kind === 'inverse' ? 100n : 1n);
          const entryPrice = BigInt(entryUnits) * 10n ** BigInt(inst.priceDp);
          const pos = { side, size, entryPrice };
          const collateral = initialMarginAtLeverage(
            notional(inst, size, entryPrice, 'ceil'),
            BigInt(lev) * 100n,
          );
          const lp = liquidationPrice({ inst, conv, pos, collateral });
          if (lp === null) return;
          const liq = (mark: bigint) => {
            const r = positionRisk(inst, pos, mark, conv);
            return collateral + unrealizedPnl(inst, pos, mark) < r.triggerMaintenance;
          };
          const t = inst.tickSize;
          const beyond = side === 'long' ? lp - t : lp + t;
          const short = side === 'long' ? lp + t : lp - t;
          if (beyond > 0n) assert.ok(liq(beyond), `${side} at ${beyond} (LP ${lp}) should be liquidatable`);
          assert.ok(!liq(short), `${side} at ${short} (LP ${lp}) should not be liquidatable`);
        },
      ),
      { numRuns: 300 },
    );
  });
}
