/**
 * A hand-written price path for the simulation's worked examples: BTCUSDT at the given closes one minute apart from
 * `T0` (a minute after a funding time: no funding within ten minutes), ETHUSDT flat at 20,000 ticks.
 */
import type { SimPath } from '../../src/sim/path.ts';

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
