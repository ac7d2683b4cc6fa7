/**
 * The project's one seeded generator. The engine has none; everything random about a simulation run — the synthetic
 * markets, the population — is drawn here from one seed, so the same seed and inputs give the same run, command for
 * command. Benchmarks and tests draw their command streams from it too (never Math.random: they must reproduce).
 *
 * Floats appear only while generating inputs (a size, a leverage choice, a synthetic return); every value is
 * turned into integer ticks, lots or minor units before it reaches the engine.
 */

/** mulberry32: a small, fast 32-bit generator; floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** murmur3's 32-bit finalizer: spreads nearby seeds apart. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Named streams, so adding draws to one part of the simulation never shifts another's. */
export const STREAM = { population: 1, market: 2, silo: 3 } as const;

export class Rng {
  readonly next: () => number;
  private spare: number | null = null;

  constructor(seed: number) {
    this.next = mulberry32(mix32(seed));
  }

  /** An independent generator for item `index` of stream `stream` under `seed` (trader i is the same whatever N). */
  static forItem(seed: number, stream: number, index: number): Rng {
    return new Rng(mix32(mix32(mix32(seed) ^ stream) + index));
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  float(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  logUniform(lo: number, hi: number): number {
    return Math.exp(Math.log(lo) + this.next() * (Math.log(hi) - Math.log(lo)));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Standard normal (Box–Muller, the second value kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = this.next();
    while (u <= Number.MIN_VALUE) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Index into `weights` with probability proportional to its weight. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }
}
