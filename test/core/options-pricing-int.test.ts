/**
 * The integer-number Black-76 chain kernel (src/core/options/black76-int.ts) against the bigint Black76Chain: the
 * issue's grid and random markets within the stated precision, a bit-exact snapshot of the kernel's integers and of
 * the bigint WAD outputs (any platform difference would show there), the edges that go to black76() unchanged, and a
 * lint-like check that the module uses no platform-dependent Math function.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  Black76Chain,
  type Black76Result,
  black76,
  yearsFromSeconds,
} from '../../src/core/options/black76.ts';
import { Black76IntChain, floorQuotient, mul52 } from '../../src/core/options/black76-int.ts';
import { WAD } from '../../src/core/options/fixedmath.ts';

const T = { timeout: 60_000 };
const DAY = 86_400;

/** A decimal string as WAD. */
function w(s: string): bigint {
  const [int = '0', frac = ''] = s.split('.');
  return BigInt(int) * WAD + BigInt(frac.slice(0, 18).padEnd(18, '0'));
}
const absB = (x: bigint): bigint => (x < 0n ? -x : x);
/** |a − b|/|b| as a float, for reporting (both are wei integers). */
const relDiff = (a: bigint, b: bigint): number => Number(absB(a - b)) / Number(absB(b));

// The stated precision (docs/options-pricing.md, "Integer kernel"). The issue asks 1e-9 on price; the kernel keeps
// more than two orders of magnitude in hand (the worst seen is 4.3e-13).
const PRICE_REL = 2e-12;
const PRICE_FLOOR = 1e-7; // of F: below it the comparison is absolute
const PRICE_ABS_OF_F = 1e-16;
const DELTA_ABS = 1e-14;
const GREEK_REL = 1e-11;

/** Compares one strike; returns the worst relative price error and how many prices were measured relatively. */
function compare(got: Black76Result, ref: Black76Result, F: bigint, label: string): [number, number] {
  let worst = 0;
  let measured = 0;
  for (const name of ['call', 'put'] as const) {
    if (Number(ref[name]) >= PRICE_FLOOR * Number(F)) {
      const rel = relDiff(got[name], ref[name]);
      assert.ok(rel <= PRICE_REL, `${label} ${name}: ${got[name]} vs bigint ${ref[name]} (rel ${rel})`);
      worst = Math.max(worst, rel);
      measured++;
    } else {
      const abs = Number(absB(got[name] - ref[name])) / Number(F);
      assert.ok(abs <= PRICE_ABS_OF_F, `${label} ${name} (negligible): ${got[name]} vs ${ref[name]}`);
    }
  }
  // Parity is exact: the in-the-money side is the out-of-the-money side plus |F − K|, in wei.
  assert.equal(got.call - got.put, ref.call - ref.put, `${label} parity`);
  const dDelta = Number(absB(got.callDelta - ref.callDelta)) / 1e18;
  assert.ok(dDelta <= DELTA_ABS, `${label} delta ${got.callDelta} vs ${ref.callDelta}`);
  assert.equal(got.putDelta, got.callDelta - WAD, `${label} put delta`);
  for (const name of ['gamma', 'vega', 'theta'] as const) {
    const d = absB(got[name] - ref[name]);
    // Relative where the Greek has digits to compare; a few wei where it is all but 0.
    const ok = Number(d) <= GREEK_REL * Number(absB(ref[name])) || d <= 2n;
    assert.ok(ok, `${label} ${name}: ${got[name]} vs bigint ${ref[name]}`);
  }
  return [worst, measured];
}

const GRID_VOLS = [0.05, 0.1, 0.2, 0.35, 0.55, 0.8, 1.2, 2, 3];
const GRID_MONEYNESS = [0.2, 0.3, 0.5, 0.7, 0.85, 0.95, 1, 1.05, 1.2, 1.5, 2, 3, 5];
const GRID_SECONDS = [3600, 6 * 3600, DAY, 7 * DAY, 30 * DAY, 91 * DAY, 365 * DAY, 730 * DAY];

describe('integer kernel = bigint Black76Chain within the stated precision', () => {
  test(
    'the pricing grid (IV 5–300%, K/F 0.2–5, 1 hour–2 years, F = 60,000): price ≤ 2e-12 relative above 1e-7·F',
    T,
    () => {
      const F = w('60000');
      let worst = 0;
      let measured = 0;
      for (const secs of GRID_SECONDS) {
        const years = yearsFromSeconds(secs);
        const strikes: bigint[] = [];
        const vols: bigint[] = [];
        for (const vol of GRID_VOLS) {
          for (const m of GRID_MONEYNESS) {
            strikes.push(w(String(60_000 * m)));
            vols.push(w(String(vol)));
          }
        }
        const ref = new Black76Chain(F, years, strikes).price(vols);
        const got = new Black76IntChain(F, years, strikes).price(vols);
        ref.forEach((r, i) => {
          const [rel, n] = compare(got[i] as Black76Result, r, F, `T=${secs}s K=${strikes[i]} σ=${vols[i]}`);
          measured += n;
          worst = Math.max(worst, rel);
        });
      }
      assert.ok(measured > 1000, `grid measured ${measured} prices relatively`);
      console.log(`grid: ${measured} prices measured relatively, worst ${worst.toExponential(2)}`);
    },
  );

  test('random markets: F 1…1e6, K/F 0.2–5, 1 hour–2 years, any wei of vol 5–300%', T, () => {
    fc.assert(
      fc.property(
        fc.record({
          forward: fc.bigInt({ min: WAD, max: 1_000_000n * WAD }),
          moneynessBp: fc.array(fc.integer({ min: 2_000, max: 50_000 }), { minLength: 1, maxLength: 8 }),
          seconds: fc.integer({ min: 3600, max: 730 * DAY }),
          vol: fc.bigInt({ min: w('0.05'), max: w('3') }),
        }),
        ({ forward, moneynessBp, seconds, vol }) => {
          const years = yearsFromSeconds(seconds);
          const strikes = moneynessBp.map((bp) => (forward * BigInt(bp)) / 10_000n);
          // A different wei of vol per strike, so Number(vol) rounds differently each time.
          const vols = strikes.map((_, i) => vol + BigInt(i) * 7_919n);
          const got = new Black76IntChain(forward, years, strikes).price(vols);
          strikes.forEach((k, i) => {
            const ref = black76({ forward, strike: k, years, vol: vols[i] as bigint });
            compare(got[i] as Black76Result, ref, forward, `F=${forward} K=${k} T=${seconds}s σ=${vols[i]}`);
          });
        },
      ),
      { numRuns: 400, seed: 17 },
    );
  });

  test(
    'a vol update re-marks the chain: mark() then result(i) is price()[i], and the chain is reusable',
    T,
    () => {
      const F = w('60000');
      const strikes = Array.from({ length: 200 }, (_, i) => BigInt(30_000 + i * 450) * WAD);
      const chain = new Black76IntChain(F, yearsFromSeconds(30 * DAY), strikes);
      const first = strikes.map((_, i) => w('0.45') + BigInt(i) * 10n ** 15n);
      const second = first.map((v) => v + w('0.02'));
      const before = chain.price(first);
      const marks = chain.mark(second);
      const lazy = strikes.map((_, i) => marks.result(i));
      assert.deepEqual(chain.price(second), lazy);
      assert.deepEqual(chain.price(first), before, 'same vols, same wei');
      assert.throws(() => chain.mark(first.slice(1)), RangeError);
    },
  );
});

describe('edges and strikes outside the fast domain are black76() itself, wei for wei', () => {
  test('K = 0, no vol, vol ≥ 2^62 wei, |ln F/K| ≥ 4, total vol ≥ 24 or below 2^-12', T, () => {
    const F = w('60000');
    const years = yearsFromSeconds(30 * DAY);
    const strikes = [0n, w('60000'), w('60000'), w('1000'), w('4000000'), w('60000'), w('60000')];
    const vols = [w('0.5'), 0n, 1n << 62n, w('0.5'), w('0.5'), w('90'), 10n ** 12n];
    const got = new Black76IntChain(F, years, strikes).price(vols);
    strikes.forEach((k, i) => {
      assert.deepEqual(got[i], black76({ forward: F, strike: k, years, vol: vols[i] as bigint }), `K=${k}`);
    });
    // 50 years at 400%: σ√T ≈ 28.3 ≥ 24, the call is worth F.
    const long = new Black76IntChain(F, w('50'), [w('60000')]).price([w('4')]);
    assert.deepEqual(long[0], black76({ forward: F, strike: w('60000'), years: w('50'), vol: w('4') }));
    assert.equal(long[0]?.call, F);
  });

  test('at expiry, at F = 0 and with a discount factor the whole chain is priced by black76()', T, () => {
    const strikes = [w('90'), w('100'), w('110')];
    const vols = [w('0.5'), w('0.5'), w('0.5')];
    for (const [F, years, D] of [
      [w('100'), 0n, WAD],
      [0n, w('1'), WAD],
      [w('100'), w('1'), w('0.99')],
    ] as const) {
      const got = new Black76IntChain(F, years, strikes, D).price(vols);
      strikes.forEach((k, i) => {
        assert.deepEqual(
          got[i],
          black76({ forward: F, strike: k, years, vol: vols[i] as bigint, discount: D }),
        );
      });
    }
  });

  test(
    'far out of the money (a ≥ 10) the option is worth 0 and φ(d1) is 0, as in the bigint kernel',
    T,
    () => {
      const F = w('60000');
      const years = yearsFromSeconds(3600);
      const strikes = [w('59000'), w('65000')];
      const vols = [w('0.05'), w('0.4')];
      const got = new Black76IntChain(F, years, strikes).price(vols);
      const ref = new Black76Chain(F, years, strikes).price(vols);
      assert.equal(got[0]?.put, 0n);
      assert.equal(got[0]?.call, w('1000'));
      assert.equal(got[0]?.callDelta, WAD);
      assert.equal(got[1]?.call, 0n);
      assert.equal(got[1]?.callDelta, 0n);
      got.forEach((r, i) => {
        assert.equal(r.gamma, 0n);
        const b = ref[i] as Black76Result;
        assert.ok(b.call - r.call <= 1n && b.put - r.put <= 1n, 'the bigint value is below a wei too');
      });
    },
  );

  test('bad inputs throw RangeError as black76 does', T, () => {
    assert.throws(() => new Black76IntChain(-1n, WAD, [WAD]), RangeError);
    assert.throws(() => new Black76IntChain(WAD, WAD, [-1n]), RangeError);
    assert.throws(() => new Black76IntChain(WAD, WAD, [WAD], 0n), RangeError);
    const chain = new Black76IntChain(WAD, WAD, [WAD]);
    assert.throws(() => chain.price([-1n]), RangeError);
    assert.throws(() => chain.price([w('101')]), RangeError);
  });
});

// Kernel integers per strike: [mode, φ mantissa, φ exponent, dA, dB, Mills value for delta], then the bigint WAD
// outputs [call, put, callDelta, gamma, vega, theta]. Generated once on Node 20 / x86-64; every operation behind them
// is exact, so any other platform must reproduce them bit for bit.
const GOLDEN: {
  name: string;
  seconds: number;
  strikes: string[];
  vols: string[];
  kernel: number[][];
  wad: bigint[][];
}[] = [
  {
    name: '30 days: direct difference, and 1 − φ·ΣM at the money',
    seconds: 30 * DAY,
    strikes: ['45000', '57000', '60000', '61234.5', '90000'],
    vols: ['0.62', '0.51', '0.5', '0.499', '0.7'],
    kernel: [
      [0, 2230862628115364, 54, 41394822845445, 4503599627370496, 531905978802691],
      [0, 1728714058719342, 52, 108914361985909, 4503599627370496, 1036834068677247],
      [1, 1792067475981024, 52, 2667801314678027, 0, 1333900657339017],
      [0, 1792174720035453, 52, 135536315297509, 4503599627370496, 1334766399493705],
      [0, 1137560962621128, 54, 35082352915240, 4503599627370496, 488965052762395],
    ],
    wad: [
      [
        15204885781766432479486n,
        204885781766432479486n,
        956121738258539764n,
        8708777414728n,
        1597643111480071382502n,
        -6025777268799002580409n,
      ],
      [
        5116526028046021260354n,
        2116526028046021260354n,
        664187799615113355n,
        41567257616856n,
        6272669998730061834969n,
        -19460958671060016894889n,
      ],
      [
        3428260505460016533284n,
        3428260505460016533284n,
        528568837545498900n,
        46265699588708n,
        6844788432302049964207n,
        -20819564814918735363316n,
      ],
      [
        2874271008263837065533n,
        4108771008263837065533n,
        471765366161361313n,
        46361190683458n,
        6845198050172485867111n,
        -20779169114469428612183n,
      ],
      [
        118057911066215941699n,
        30118057911066215941699n,
        27424135838787951n,
        5244347108444n,
        1086226414790132951308n,
        -4625514149647982829990n,
      ],
    ],
  },
  {
    name: '1 hour: the divided difference (σ√T < 1/64)',
    seconds: 3600,
    strikes: ['59990', '60000', '60100'],
    vols: ['0.05', '0.05', '0.3'],
    kernel: [
      [4, 1711460306670369, 52, 776894423599844, 153977654468112, 1118367949817202],
      [4, 1796676241264467, 52, 1125899933619155, 153977654468112, 1411407058400716],
      [4, 1571152766592779, 52, 619627366951049, 923865926808672, 975460165027108],
    ],
    wad: [
      [
        18403613900807332228n,
        8403613900807332228n,
        622584616975519419n,
        11854014838343416n,
        243575647363219791130n,
        -53343066772545373234622n,
      ],
      [
        12787312016326610719n,
        12787312016326610719n,
        500106560933466288n,
        12446316733222150n,
        255746234244289618990n,
        -56008425299499677476566n,
      ],
      [
        36924098402134751005n,
        136924098402134751005n,
        302251451761916656n,
        1814003780997431n,
        223644301766805638977n,
        -293868612521583926147330n,
      ],
    ],
  },
  {
    name: '2 years at 80–300%',
    seconds: 730 * DAY,
    strikes: ['20000', '60000', '300000'],
    vols: ['2.5', '3', '0.8'],
    kernel: [
      [1, 1243106921162203, 53, 1052771339008365, 0, 460881774006648],
      [1, 1514946314987473, 55, 907582395286679, 0, 453791197643340],
      [0, 1244613739112349, 52, 321016674551105, 4503599627370496, 797526655504740],
    ],
    wad: [
      [
        57419029861842693148391n,
        17419029861842693148391n,
        981168400457967011n,
        216865866917n,
        3903585604508762067629n,
        -2439741002817976292269n,
      ],
      [
        57966308788518629315091n,
        57966308788518629315091n,
        983052573237655225n,
        165180957255n,
        3567908676708909342430n,
        -2675931507531682006823n,
      ],
      [
        4727743159966896756236n,
        244727743159966896756236n,
        195758325001149663n,
        4071163845321n,
        23449903749054175355366n,
        -4689980749810835071074n,
      ],
    ],
  },
];

describe('golden snapshot: the kernel is bit-exact (a replay and cross-platform check)', () => {
  for (const g of GOLDEN) {
    test(`${g.name}: F = 60,000, K = ${g.strikes.join('/')}`, T, () => {
      const F = w('60000');
      const years = yearsFromSeconds(g.seconds);
      const chain = new Black76IntChain(F, years, g.strikes.map(w));
      const vols = g.vols.map(w);
      const m = chain.mark(vols);
      const kernel = g.strikes.map((_, i) => [m.mode[i], m.phi[i], m.phiExp[i], m.dA[i], m.dB[i], m.md[i]]);
      assert.deepEqual(kernel, g.kernel);
      const wad = g.strikes.map((_, i) => {
        const r = m.result(i);
        return [r.call, r.put, r.callDelta, r.gamma, r.vega, r.theta];
      });
      assert.deepEqual(wad, g.wad);
      // And the snapshot is itself within the stated precision of the bigint kernel.
      g.strikes.forEach((k, i) => {
        const ref = black76({ forward: F, strike: w(k), years, vol: vols[i] as bigint });
        compare(m.result(i), ref, F, `golden ${g.name} K=${k}`);
      });
    });
  }
});

describe('determinism by construction: the exact integer steps', () => {
  // Seeded, so the cases are the same on every run.
  let seed = 20_261_206;
  const rnd = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const P52 = 4_503_599_627_370_496;

  test('mul52(a, b) = floor(a·b/2^52) exactly for signed 52-bit operands, checked in bigint', T, () => {
    for (let t = 0; t < 100_000; t++) {
      const a = Math.floor((rnd() * 2 - 1) * P52);
      const b = Math.floor((rnd() * 2 - 1) * P52);
      const b1 = Math.floor(b / 67_108_864);
      const got = mul52(a, b1, b - b1 * 67_108_864);
      const p = BigInt(a) * BigInt(b);
      const q = p >> 52n; // an arithmetic shift floors
      assert.equal(BigInt(got), q, `${a}·${b}`);
    }
  });

  test('floorQuotient is the exact floor even where the division rounds up to the next integer', T, () => {
    let corrected = 0;
    let checked = 0;
    for (let t = 0; t < 100_000; t++) {
      const D = 1 + Math.floor(rnd() * (P52 - 1));
      // Half the numerators sit exactly at k·D or one below it, where a rounded quotient is most often wrong.
      const k = BigInt(1 + Math.floor(rnd() * 2 ** 40));
      const exactN =
        t % 2 === 0
          ? BigInt(Math.floor(rnd() * P52)) << BigInt(Math.floor(rnd() * 50))
          : k * BigInt(D) - BigInt(t % 4 === 1 ? 1 : 0);
      const N = Number(exactN);
      if (BigInt(N) !== exactN) continue; // not a double: never a numerator of the kernel
      const floorQ = exactN / BigInt(D);
      if (floorQ >= BigInt(P52)) continue;
      const nHi = Math.floor(N / P52);
      const got = floorQuotient(N, nHi, N - nHi * P52, D);
      assert.equal(BigInt(got), floorQ, `${N}/${D}`);
      if (Math.floor(N / D) !== got) corrected++;
      checked++;
    }
    assert.ok(checked > 50_000 && corrected > 100, `checked ${checked}, corrected ${corrected}`);
  });
});

describe('determinism by construction: the module source', () => {
  test('uses no Math.exp/log/pow/sqrt (nor any Math function but floor) and no ** operator', T, () => {
    const src = readFileSync(new URL('../../src/core/options/black76-int.ts', import.meta.url), 'utf8');
    assert.doesNotMatch(src, /Math\.exp|Math\.log|Math\.pow|Math\.sqrt|\*\*/);
    const members = new Set([...src.matchAll(/Math\.([A-Za-z0-9_]+)/g)].map((m) => m[1]));
    assert.deepEqual([...members], ['floor']);
    assert.doesNotMatch(src, /Math\[/, 'no computed Math access');
  });
});
