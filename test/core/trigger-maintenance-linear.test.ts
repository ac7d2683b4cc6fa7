/**
 * The maintenance a linear position with bracket rates is liquidated against (`triggerMaintenance`) has a path of its
 * own that forms each price's exact value once and reads the brackets off the table. It must be the same figure, unit
 * for unit, as the general formula: maintenance at the mark (the mark's bracket, its rate plus the fee to close) and
 * maintenance at entry (the entry's bracket) plus the fee to close at the mark, each rounded up, on every basis —
 * including instruments whose value needs a division (more size and price decimals than the settle asset has).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ceilDiv, maxBig } from '../../src/core/fixed.ts';
import type { Instrument } from '../../src/core/instrument.ts';
import {
  type MarginConventions,
  maintenanceMargin,
  type PositionInput,
  ratesAt,
  scales,
  triggerMaintenance,
} from '../../src/core/margin.ts';
import { buildInstrument, type RuleSpec } from '../../src/core/presets.ts';
import { RATE_ONE } from '../../src/core/rates.ts';

const BRACKETS: RuleSpec = {
  kind: 'brackets',
  tiers: [
    { cap: '50000', mmr: '0.004', maxLeverage: '125' },
    { cap: '250000', mmr: '0.005', maxLeverage: '100' },
    { cap: '1000000', mmr: '0.01', maxLeverage: '50' },
    { cap: '10000000', mmr: '0.025', maxLeverage: '20' },
    { cap: null, mmr: '0.05', maxLeverage: '10' },
  ],
};

/** Linear instruments: the bench's BTCUSDT (no division), and ones whose value is divided (fine ticks and lots). */
const INSTRUMENTS: Instrument[] = [
  ['0.1', '0.001', 8, '1'],
  ['0.01', '0.001', 2, '1'],
  ['0.0001', '0.01', 2, '1'],
  ['0.5', '1', 4, '0.001'],
].map(([tickSize, lotSize, settleDp, multiplier], i) =>
  buildInstrument({
    symbol: `LIN${i}`,
    kind: 'linear',
    base: 'BTC',
    quote: 'USDT',
    tickSize: tickSize as string,
    lotSize: lotSize as string,
    multiplier: multiplier as string,
    settleDp: settleDp as number,
    maxLeverage: '125',
    risk: BRACKETS,
  }),
);

/** The general formula, term by term (what triggerMaintenance computed before its linear bracket path). */
function reference(inst: Instrument, conv: MarginConventions, pos: PositionInput, mark: bigint): bigint {
  const fee = conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n;
  const atMark = maintenanceMargin(inst, pos.size, mark, fee);
  if (conv.mmBasis === 'mark') return atMark;
  const s = scales(inst);
  const valueTimesRate = (price: bigint, rate: bigint) => {
    const x = pos.size * price * s.linearF * rate;
    return s.linearDenM1 === 0n ? x : ceilDiv(x, s.linearDen);
  };
  const r = ratesAt(inst, pos.size, pos.entryPrice);
  const entryPart = maxBig(0n, valueTimesRate(pos.entryPrice, r.mmr) - r.deductionRaw);
  const atEntry = ceilDiv(entryPart + valueTimesRate(mark, fee), RATE_ONE);
  return conv.mmBasis === 'entry' ? atEntry : maxBig(atEntry, atMark);
}

const conventionsArb: fc.Arbitrary<MarginConventions> = fc.record({
  mmBasis: fc.constantFrom('mark' as const, 'entry' as const, 'worse' as const),
  priceRounding: fc.constant('conservative' as const),
  feeToCloseInMaintenance: fc.boolean(),
  feeInBankruptcy: fc.boolean(),
  takerFeeRate: fc.bigInt({ min: 0n, max: RATE_ONE / 100n }),
  removableCountsProfit: fc.boolean(),
  transferFloorRate: fc.constant(0n),
});

describe('triggerMaintenance on a linear bracketed instrument', () => {
  test('equals the general formula at the mark and at entry, on every basis', { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: INSTRUMENTS.length - 1 }),
        conventionsArb,
        fc.constantFrom('long' as const, 'short' as const),
        // Sizes and prices in units, across several brackets (up to 10^12 units of each).
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        (i, conv, side, size, entryPrice, mark) => {
          const inst = INSTRUMENTS[i]!;
          const pos: PositionInput = { side, size, entryPrice };
          const got = triggerMaintenance(inst, conv, pos, mark);
          const want = reference(inst, conv, pos, mark);
          assert.equal(got, want, `${inst.symbol} ${conv.mmBasis}: ${got} ≠ ${want}`);
        },
      ),
      { numRuns: 3_000, includeErrorInReport: true },
    );
  });
});
