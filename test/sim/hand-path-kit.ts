/**
 * A hand-written price path for the simulation's worked examples: BTCUSDT at the given closes one minute apart from
 * `T0` (a minute after a funding time: no funding within ten minutes), ETHUSDT flat at 20,000 ticks.
 */
import type { SimPath } from '../../src/sim/path.ts';
import type { RunInput } from '../../src/sim/runner.ts';

export const T0 = Date.UTC(2025, 0, 1, 0, 1);

export function handPath(btcCloses: readonly string[]): SimPath {
  return {
    times: Float64Array.from(btcCloses, (_, i) => T0 + i * 60_000),
    markets: [
      {
        symbol: 'BTCUSDT',
        tickSize: 10_000_000n,
        ticks: Float64Array.from(btcCloses, (p) => Math.round(Number(p) * 10)),
        synthetic: null,
      },
      {
        symbol: 'ETHUSDT',
        tickSize: 1_000_000n,
        ticks: new Float64Array(btcCloses.length).fill(200_000),
        synthetic: null,
      },
    ],
    intrabar: 'close',
    bars: btcCloses.length,
  };
}

/**
 * What the worked examples run the path with: two makers five levels deep (100 ticks apart, 5,000 lots each), a
 * 100,000 USDT insurance fund, no unwinding by default, one chart bucket a point.
 */
export function handRunInput(
  path: SimPath,
  markets: RunInput['markets'],
  population: RunInput['population'],
  extra: Partial<RunInput> = {},
): RunInput {
  return {
    path,
    markets,
    population,
    makers: [
      { stepTicks: 100, levels: 5, levelLots: 5000 },
      { stepTicks: 100, levels: 5, levelLots: 5000 },
    ],
    insurance: 100_000n * 10n ** 8n,
    unwind: false,
    bucketSize: 1,
    buckets: path.bars,
    ...extra,
  };
}
