/**
 * evaluatePosition (the allocation-free fast path used by the margin benchmark) must give exactly what the public
 * functions give: positionRisk's tier, uPnL and maintenance, marginRatio on collateral + uPnL, and
 * liquidationPrice — same values, same nulls, same errors — for every venue convention and instrument shape.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { evaluatePosition, newPositionEvaluation } from '../../src/core/evaluate.ts';
import { formatDecimal, parseDecimal } from '../../src/core/fixed.ts';
import type { Instrument } from '../../src/core/instrument.ts';
import {
  liquidationPrice,
  type MarginConventions,
  marginRatio,
  notional,
  positionRisk,
  type Side,
  scales,
} from '../../src/core/margin.ts';
import { buildInstrument, type MarketSpec, PRESETS, type RuleSpec, venue } from '../../src/core/presets.ts';
import { parseRate, RATE_ONE } from '../../src/core/rates.ts';

type Outcome =
  | { tier: number; upnl: bigint; mm: bigint; ratio: bigint | null; lp: bigint | null }
  | { error: string };

function viaPublic(
  inst: Instrument,
  conv: MarginConventions,
  side: Side,
  size: bigint,
  entryPrice: bigint,
  mark: bigint,
  collateral: bigint,
): Outcome {
  try {
    const pos = { side, size, entryPrice };
    const r = positionRisk(inst, pos, mark, conv);
    return {
      tier: r.rates.tier,
      upnl: r.unrealizedPnl,
      mm: r.maintenanceMargin,
      ratio: marginRatio(r.maintenanceMargin, collateral + r.unrealizedPnl),
      lp: liquidationPrice({ inst, conv, pos, collateral }),
    };
  } catch (e) {
    return { error: String(e) };
  }
}

const shared = newPositionEvaluation();
function viaFast(
  inst: Instrument,
  conv: MarginConventions,
  side: Side,
  size: bigint,
  entryPrice: bigint,
  mark: bigint,
  collateral: bigint,
): Outcome {
  try {
    const e = evaluatePosition(inst, conv, side, size, entryPrice, mark, collateral, shared);
    return {
      tier: e.tier,
      upnl: e.unrealizedPnl,
      mm: e.maintenanceMargin,
      ratio: e.marginRatio,
      lp: e.liquidationPrice,
    };
  } catch (e) {
    return { error: String(e) };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Instruments: every preset market, plus random shapes (odd ticks, multipliers, settle scales above the price
// scale so linearUp > 1, inverse contracts with sizeScale > 1) on every rule shape.

const RULES: RuleSpec[] = Object.values(PRESETS).flatMap((p) => p.markets.map((m) => m.risk));
const INVERSE_RULES: RuleSpec[] = [
  ...RULES.filter((r) => r.kind === 'steps'),
  // Linear bracket tables with caps taken as coin: whales reach the upper brackets.
  ...RULES.filter((r) => r.kind === 'brackets' || r.kind === 'hyperliquid').map(
    (r): RuleSpec =>
      r.kind === 'brackets'
        ? { kind: 'brackets', tiers: r.tiers.map((t) => ({ ...t, deduction: undefined })) }
        : r,
  ),
];

const TICKS = ['1', '0.5', '0.1', '0.01', '0.003', '5', '0.25'] as const;
const LOTS = ['1', '0.1', '0.001', '0.00001'] as const;
const MULTS = ['1', '0.001', '10', '100', '0.5'] as const;

interface Shape {
  kind: 'linear' | 'inverse';
  rule: number;
  tick: number;
  lot: number;
  mult: number;
  settleDp: number;
  priceDp: number;
}

function instrumentOf(s: Shape): Instrument | null {
  const rules = s.kind === 'linear' ? RULES : INVERSE_RULES;
  const spec: MarketSpec = {
    symbol: `T${s.kind}`,
    kind: s.kind,
    base: 'B',
    quote: 'Q',
    tickSize: TICKS[s.tick % TICKS.length]!,
    lotSize: s.kind === 'linear' ? LOTS[s.lot % LOTS.length]! : '1',
    multiplier: MULTS[s.mult % MULTS.length]!,
    settleDp: s.settleDp,
    maxLeverage: '100',
    risk: rules[s.rule % rules.length]!,
  };
  try {
    return buildInstrument(spec, s.priceDp);
  } catch {
    return null; // a table whose published deductions do not survive the settle scale: not an instrument
  }
}

const CONVENTIONS: MarginConventions[] = [];
for (const mmBasis of ['mark', 'entry', 'worse'] as const) {
  for (const priceRounding of ['nearest', 'conservative'] as const) {
    for (const feeToCloseInMaintenance of [false, true]) {
      for (const fee of ['0', '0.0005', '0.00075']) {
        CONVENTIONS.push({
          mmBasis,
          priceRounding,
          feeToCloseInMaintenance,
          feeInBankruptcy: false,
          takerFeeRate: parseRate(fee, 'fee'),
          removableCountsProfit: false,
          transferFloorRate: 0n,
        });
      }
    }
  }
}

/** A position on `inst`: notional from tiny to past the last bracket, collateral around initial margin. */
const positionArb = fc.record({
  side: fc.constantFrom<Side>('long', 'short'),
  price: fc.double({ min: 0.5, max: 2e6, noNaN: true }),
  offTick: fc.nat({ max: 999_999 }),
  move: fc.double({ min: -0.6, max: 0.6, noNaN: true }),
  notional: fc.double({ min: 1, max: 3e9, noNaN: true }),
  leverage: fc.double({ min: 0.5, max: 150, noNaN: true }),
  extra: fc.double({ min: -0.5, max: 1, noNaN: true }),
});

function materialize(inst: Instrument, p: PositionDraw) {
  const tick = inst.tickSize;
  const units = (x: number) => (BigInt(Math.round(x * 1e4)) * 10n ** BigInt(inst.priceDp)) / 10_000n;
  const onTick = (x: number) => {
    const k = units(x) / tick;
    return (k < 1n ? 1n : k) * tick;
  };
  const entry = onTick(p.price) + (BigInt(p.offTick) % tick);
  const mark = onTick(p.price * (1 + p.move));
  const lot = inst.lotSize;
  const realQty = inst.kind === 'linear' ? p.notional / p.price : p.notional * p.price;
  const mult = Number(formatDecimal(inst.multiplier, inst.multiplierDp));
  const lots = BigInt(
    Math.max(1, Math.min(1e15, Math.round(((realQty / mult) * 10 ** inst.sizeDp) / Number(lot)))),
  );
  const size = lots * lot;
  const n = notional(inst, size, entry, 'ceil');
  const im = (n * 100n) / BigInt(Math.max(1, Math.round(p.leverage * 100)));
  const collateral = im + (im * BigInt(Math.round(p.extra * 1000))) / 1000n;
  return { entry, mark, size, collateral };
}

interface PositionDraw {
  side: Side;
  price: number;
  offTick: number;
  move: number;
  notional: number;
  leverage: number;
  extra: number;
}

describe('evaluatePosition equals the public functions', () => {
  test('preset markets under their own conventions', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(PRESETS)), fc.nat(), positionArb, (venueId, mi, draw) => {
        const v = venue(venueId);
        const markets = [...v.markets.values()];
        const inst = markets[mi % markets.length]!;
        const { entry, mark, size, collateral } = materialize(inst, draw);
        assert.deepStrictEqual(
          viaFast(inst, v.conventions, draw.side, size, entry, mark, collateral),
          viaPublic(inst, v.conventions, draw.side, size, entry, mark, collateral),
        );
      }),
      { numRuns: 1500 },
    );
  });

  test('random instruments under every convention', () => {
    const shapeArb = fc.record({
      kind: fc.constantFrom<'linear' | 'inverse'>('linear', 'inverse'),
      rule: fc.nat(),
      tick: fc.nat(),
      lot: fc.nat(),
      mult: fc.nat(),
      settleDp: fc.integer({ min: 0, max: 12 }),
      priceDp: fc.integer({ min: 0, max: 10 }),
    });
    fc.assert(
      fc.property(shapeArb, fc.nat({ max: CONVENTIONS.length - 1 }), positionArb, (shape, ci, draw) => {
        const inst = instrumentOf(shape);
        if (!inst) return;
        const conv = CONVENTIONS[ci]!;
        const { entry, mark, size, collateral } = materialize(inst, draw);
        assert.deepStrictEqual(
          viaFast(inst, conv, draw.side, size, entry, mark, collateral),
          viaPublic(inst, conv, draw.side, size, entry, mark, collateral),
        );
      }),
      { numRuns: 3000 },
    );
  });

  test('liquidation prices within a price unit of a bracket boundary', () => {
    // Collateral chosen so the solved price lands on (and a few units either side of) the price where the
    // notional crosses a cap: the tier re-check then turns on the exact solution, not on the rounded price.
    let cases = 0;
    // Continuous brackets give nearly the same root on either side of a cap, so a linear table with step risk
    // limits (maintenance jumps at each cap) is where a wrong tier would show.
    const steps = buildInstrument({
      symbol: 'STEPUSDT',
      kind: 'linear',
      base: 'B',
      quote: 'USDT',
      tickSize: '0.1',
      lotSize: '0.001',
      multiplier: '1',
      settleDp: 8,
      maxLeverage: '100',
      risk: {
        kind: 'steps',
        baseLimit: '1000000',
        step: '500000',
        baseMmr: '0.005',
        baseImr: '0.01',
        stepRate: '0.02',
        steps: 10,
      },
    });
    for (const [venueId, symbol] of [
      ['binance-usdm', 'BTCUSDT'],
      ['binance-usdm', 'ETHUSDT'],
      ['bybit-linear', 'BTCUSDT'],
      ['hyperliquid', 'ETH'],
      ['binance-usdm', 'STEPUSDT'],
    ] as const) {
      const v = venue(venueId);
      const inst = symbol === 'STEPUSDT' ? steps : v.markets.get(symbol)!;
      if (inst.risk.kind !== 'tiers') continue;
      const tiers = inst.risk.tiers;
      const L = scales(inst).linearDen / scales(inst).linearUp;
      const R = RATE_ONE;
      for (const conv of [v.conventions, ...CONVENTIONS.filter((c) => c.mmBasis !== 'entry')]) {
        const fee = conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n;
        for (let i = 0; i + 1 < tiers.length; i++) {
          const cap = tiers[i]!.cap!;
          for (const side of ['long', 'short'] as const) {
            const sg = side === 'long' ? 1n : -1n;
            for (const size of [inst.lotSize * 1237n, inst.lotSize * 99_991n, inst.lotSize * 3_000_017n]) {
              const entry = (cap * L * 1_000_003n) / (size * inst.multiplier * 1_000_000n) + 7n;
              const XE = size * inst.multiplier * entry;
              for (const k of [i, i + 1]) {
                const t = tiers[k]!;
                // The collateral whose solution is exactly the boundary price, for tier k's rate and deduction.
                const c0 = (sg * XE * R - t.deductionRaw * L - cap * L * (sg * R - t.mmr - fee)) / (L * R);
                for (let dc = -40n; dc <= 40n; dc += 1n) {
                  const c = c0 + dc;
                  if (c <= 0n) continue;
                  cases++;
                  assert.deepStrictEqual(
                    viaFast(inst, conv, side, size, entry, entry, c),
                    viaPublic(inst, conv, side, size, entry, entry, c),
                    `${venueId} ${symbol} tier ${i}/${k} ${side} size=${size} collateral=${c}`,
                  );
                }
              }
            }
          }
        }
      }
    }
    assert.ok(cases > 10_000);
  });

  test('inverse liquidation prices around a step boundary', () => {
    // The price where an inverse position's notional equals a cap is QC / (cap·S); collateral is chosen so each
    // tier's solution lands near it. Step limits jump there, so the walk can fail to settle and the scan decides.
    let cases = 0;
    const instruments: [Instrument, MarginConventions[]][] = [
      [venue('bitmex-inverse').markets.get('XBTUSD')!, [venue('bitmex-inverse').conventions, ...CONVENTIONS]],
      [venue('ringfence').markets.get('BTCUSD')!, [venue('ringfence').conventions]],
    ];
    for (const [inst, convs] of instruments) {
      if (inst.risk.kind !== 'tiers') continue;
      const tiers = inst.risk.tiers;
      const sc = scales(inst);
      const R = RATE_ONE;
      for (const conv of convs) {
        if (conv.mmBasis === 'entry') continue;
        const fee = conv.feeToCloseInMaintenance ? conv.takerFeeRate : 0n;
        for (let i = 0; i + 1 < tiers.length; i += 3) {
          const cap = tiers[i]!.cap!;
          for (const side of ['long', 'short'] as const) {
            const sg = side === 'long' ? 1n : -1n;
            for (const entryUsd of [20_000n, 61_234n]) {
              const entry = entryUsd * sc.priceScale + 12_345n;
              // Notional at entry a little on the entry side of the cap, so the walk starts in a neighbour tier.
              const size =
                (cap * entry * sc.sizeScale * (side === 'long' ? 97n : 103n)) /
                (100n * sc.settleScale * sc.priceScale);
              if (size <= 0n) continue;
              const QC = size * inst.multiplier * sc.settleScale * sc.priceScale;
              const ES = entry * sc.sizeScale;
              for (const k of [i, i + 1]) {
                const t = tiers[k]!;
                const mRaw = (entry * (sg * R + t.mmr + fee) * cap * sc.sizeScale - sg * QC * R) / ES;
                const c0 = (mRaw - t.deductionRaw) / R;
                for (let dc = -3000n; dc <= 3000n; dc += 37n) {
                  const c = c0 + dc;
                  cases++;
                  assert.deepStrictEqual(
                    viaFast(inst, conv, side, size, entry, entry, c),
                    viaPublic(inst, conv, side, size, entry, entry, c),
                    `${inst.symbol} tier ${i}/${k} ${side} size=${size} entry=${entry} collateral=${c}`,
                  );
                }
              }
            }
          }
        }
      }
    }
    assert.ok(cases > 5_000);
  });

  test('edge inputs: zero and negative collateral, non-positive sizes and prices, tiers with an early open cap', () => {
    const b = venue('binance-usdm');
    const x = venue('bitmex-inverse');
    const btc = b.markets.get('BTCUSDT')!;
    const xbt = x.markets.get('XBTUSD')!;
    const odd: Instrument = {
      ...btc,
      symbol: 'ODD',
      risk: {
        kind: 'tiers',
        tiers: [
          {
            cap: parseDecimal('50000', 'c', { dp: 8 }),
            mmr: parseRate('0.004', 'r'),
            imr: parseRate('0.008', 'r'),
            maxLeverage: 12500n,
            deductionRaw: 0n,
          },
          {
            cap: null,
            mmr: parseRate('0.01', 'r'),
            imr: parseRate('0.02', 'r'),
            maxLeverage: 5000n,
            deductionRaw: 0n,
          },
          {
            cap: parseDecimal('90000000', 'c', { dp: 8 }),
            mmr: parseRate('0.5', 'r'),
            imr: parseRate('1', 'r'),
            maxLeverage: 100n,
            deductionRaw: 0n,
          },
        ],
      },
    };
    const cases: [Instrument, MarginConventions][] = [
      [btc, b.conventions],
      [xbt, x.conventions],
      [odd, b.conventions],
      ...CONVENTIONS.map((c): [Instrument, MarginConventions] => [xbt, c]),
    ];
    const price = (inst: Instrument, s: string) => parseDecimal(s, 'p', { dp: inst.priceDp, signed: true });
    for (const [inst, conv] of cases) {
      for (const side of ['long', 'short'] as const) {
        for (const size of [-5n, 0n, 1n, 7n, 1000n, 10n ** 7n, 10n ** 12n]) {
          for (const e of ['-1', '0', '0.00000001', '1', '43210.12345678', '1000000']) {
            for (const m of ['-3', '0', '0.5', '2', '40000', '43210', '2000000']) {
              for (const c of [-(10n ** 12n), -1n, 0n, 1n, 10n ** 9n, 10n ** 14n, 10n ** 18n]) {
                const entry = price(inst, e);
                const mark = price(inst, m);
                assert.deepStrictEqual(
                  viaFast(inst, conv, side, size, entry, mark, c),
                  viaPublic(inst, conv, side, size, entry, mark, c),
                  `${inst.symbol} ${side} size=${size} entry=${e} mark=${m} collateral=${c}`,
                );
              }
            }
          }
        }
      }
    }
  });
});
