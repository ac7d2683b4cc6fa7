/**
 * Fixed-point parsing, formatting and rounding: what the engine accepts as a number, and how every division rounds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  ceilDiv,
  decimalPlaces,
  div,
  floorDiv,
  formatDecimal,
  InputError,
  mulDiv,
  parseDecimal,
  parseScaledSafe,
  pow10,
  rescale,
  roundToStep,
} from '../../src/core/fixed.ts';

/** Asserts that parsing throws an InputError for `field`, with the given code, whose message names the field. */
function rejects(
  input: unknown,
  opts: Parameters<typeof parseDecimal>[2],
  code = 'INVALID_INPUT',
  field = 'price',
): InputError {
  let caught: unknown;
  try {
    parseDecimal(input, field, opts);
  } catch (e) {
    caught = e;
  }
  assert.ok(
    caught instanceof InputError,
    `expected InputError for ${JSON.stringify(String(input))}, got ${String(caught)}`,
  );
  assert.equal(caught.field, field);
  assert.equal(caught.code, code);
  assert.ok(caught.message.startsWith(`${field}: `), `message should name the field: ${caught.message}`);
  return caught;
}

describe('parseDecimal accepts plain decimals', () => {
  test('"20000.5" at price dp 8 is 2,000,050,000,000 units', () => {
    assert.equal(parseDecimal('20000.5', 'price', { dp: 8 }), 2_000_050_000_000n);
  });

  test('"1.500" at dp 2 is accepted: trailing zeros beyond the scale carry no information', () => {
    assert.equal(parseDecimal('1.500', 'size', { dp: 2 }), 150n);
    assert.equal(parseDecimal('7.000000', 'size', { dp: 0 }), 7n);
  });

  test('integers, zero and leading zeros', () => {
    assert.equal(parseDecimal('0', 'x', { dp: 4 }), 0n);
    assert.equal(parseDecimal('0.0001', 'x', { dp: 4 }), 1n);
    assert.equal(parseDecimal('007', 'x', { dp: 1 }), 70n);
  });

  test('a signed field takes a minus sign: "-12.34" at dp 2 is -1234', () => {
    assert.equal(parseDecimal('-12.34', 'pnl', { dp: 2, signed: true }), -1234n);
  });

  test('safe JS numbers and bigints are accepted and read through their decimal string', () => {
    assert.equal(parseDecimal(0.1, 'x', { dp: 2 }), 10n);
    assert.equal(parseDecimal(125, 'leverage', { dp: 2 }), 12_500n);
    assert.equal(parseDecimal(42n, 'x', { dp: 3 }), 42_000n);
  });

  test('a value exactly at the limit is accepted', () => {
    assert.equal(parseDecimal('10.00', 'x', { dp: 2, maxAbs: 1000n }), 1000n);
  });
});

describe('parseDecimal rejects anything that is not a plain decimal, naming the field', () => {
  test('NaN and Infinity, as numbers and as strings', () => {
    rejects(Number.NaN, { dp: 2 });
    rejects(Number.POSITIVE_INFINITY, { dp: 2 });
    rejects(Number.NEGATIVE_INFINITY, { dp: 2, signed: true });
    rejects('NaN', { dp: 2 });
    rejects('Infinity', { dp: 2 });
    rejects('-Infinity', { dp: 2, signed: true });
  });

  test('exponent notation: "1e5", "1E5", "1.5e-3" and the number 1e21', () => {
    rejects('1e5', { dp: 2 });
    rejects('1E5', { dp: 2 });
    rejects('1.5e-3', { dp: 8 });
    rejects(1e21, { dp: 0 });
    rejects(1e-7, { dp: 8 });
  });

  test('hex, octal and binary literals', () => {
    rejects('0x10', { dp: 0 });
    rejects('0o17', { dp: 0 });
    rejects('0b101', { dp: 0 });
  });

  test('empty and blank strings, and surrounding whitespace', () => {
    rejects('', { dp: 2 });
    rejects(' ', { dp: 2 });
    rejects(' 1', { dp: 2 });
    rejects('1 ', { dp: 2 });
    rejects('1\n', { dp: 2 });
    rejects('\t1', { dp: 2 });
  });

  test('malformed decimals: bare point, missing digits, plus sign, commas, two points, non-ASCII digits', () => {
    for (const s of ['.', '.5', '5.', '+1', '1,000', '1.2.3', '--1', '١٢', '1_000'])
      rejects(s, { dp: 4, signed: true });
  });

  test('"-1" where the field is unsigned', () => {
    const e = rejects('-1', { dp: 2 });
    assert.match(e.message, /negative/);
  });

  test('zero where the field must be positive', () => {
    rejects('0', { dp: 2, positive: true });
    rejects('0.000', { dp: 2, positive: true });
    rejects('-0', { dp: 2, positive: true, signed: true });
  });

  test('"1.234" at dp 2 fails with TOO_MANY_DECIMALS, never rounds', () => {
    const e = rejects('1.234', { dp: 2 }, 'TOO_MANY_DECIMALS', 'size');
    assert.match(e.message, /^size: /);
    assert.match(e.message, /2 decimal places/);
    rejects('1.2340001', { dp: 4 }, 'TOO_MANY_DECIMALS', 'size');
    rejects('0.5', { dp: 0 }, 'TOO_MANY_DECIMALS', 'size');
  });

  test('a value over the limit, and the default limit of 10^30 scaled units', () => {
    const e = rejects('10.01', { dp: 2, maxAbs: 1000n });
    assert.match(e.message, /limit of 10/);
    rejects('-10.01', { dp: 2, signed: true, maxAbs: 1000n });
    assert.equal(parseDecimal(`1${'0'.repeat(30)}`, 'x', { dp: 0 }), 10n ** 30n);
    rejects(`1${'0'.repeat(29)}1`, { dp: 0 });
  });

  test('inputs longer than 64 characters are refused before parsing', () => {
    rejects(`0.${'0'.repeat(70)}`, { dp: 2 });
  });

  test('null, undefined, booleans and objects', () => {
    for (const v of [null, undefined, true, {}, [], Symbol('x')]) rejects(v, { dp: 2 });
  });
});

describe('formatDecimal', () => {
  test('trims trailing zeros unless asked for a fixed width', () => {
    assert.equal(formatDecimal(1_970_000_000_000n, 8), '19700');
    assert.equal(formatDecimal(1_970_000_000_000n, 8, true), '19700.00000000');
    assert.equal(formatDecimal(150n, 2), '1.5');
    assert.equal(formatDecimal(0n, 2), '0');
    assert.equal(formatDecimal(0n, 2, true), '0.00');
    assert.equal(formatDecimal(42n, 0), '42');
  });

  test('negatives below one keep their sign and leading zero', () => {
    assert.equal(formatDecimal(-5n, 2), '-0.05');
    assert.equal(formatDecimal(-1234n, 2), '-12.34');
  });

  test('decimalPlaces reads the scale of a decimal string', () => {
    assert.equal(decimalPlaces('0.50'), 2);
    assert.equal(decimalPlaces('100'), 0);
    assert.equal(decimalPlaces('0.00001'), 5);
  });
});

describe('division with a named rounding', () => {
  test('7/2 and -7/2 under every mode', () => {
    assert.deepEqual(
      (['floor', 'ceil', 'trunc', 'halfUp'] as const).map((m) => [div(7n, 2n, m), div(-7n, 2n, m)]),
      [
        [3n, -4n],
        [4n, -3n],
        [3n, -3n],
        [4n, -4n],
      ],
    );
  });

  test('halfUp rounds ties away from zero and everything else to nearest, for every sign pair', () => {
    assert.equal(div(5n, 2n, 'halfUp'), 3n);
    assert.equal(div(-5n, 2n, 'halfUp'), -3n);
    assert.equal(div(5n, -2n, 'halfUp'), -3n);
    assert.equal(div(-5n, -2n, 'halfUp'), 3n);
    assert.equal(div(14n, 10n, 'halfUp'), 1n);
    assert.equal(div(-16n, 10n, 'halfUp'), -2n);
  });

  test('exact quotients are untouched by any mode', () => {
    for (const m of ['floor', 'ceil', 'trunc', 'halfUp'] as const) {
      assert.equal(div(-12n, 4n, m), -3n);
      assert.equal(div(12n, -4n, m), -3n);
    }
  });

  test('division by zero is a RangeError', () => {
    assert.throws(() => div(1n, 0n, 'floor'), RangeError);
    assert.throws(() => mulDiv(1n, 2n, 0n, 'ceil'), RangeError);
  });

  test('floorDiv and ceilDiv on negative divisors', () => {
    assert.equal(floorDiv(7n, -2n), -4n);
    assert.equal(ceilDiv(7n, -2n), -3n);
    assert.equal(floorDiv(-7n, -2n), 3n);
    assert.equal(ceilDiv(-7n, -2n), 4n);
  });

  test('mulDiv rounds once, after an exact product: 3 × 1/3 is 1, not 0.99…', () => {
    assert.equal(mulDiv(10n ** 20n, 3n, 3n * 10n ** 20n, 'floor'), 1n);
    assert.equal(mulDiv(2n, 5n, 3n, 'floor'), 3n);
    assert.equal(mulDiv(2n, 5n, 3n, 'ceil'), 4n);
    assert.equal(mulDiv(-2n, 5n, 3n, 'ceil'), -3n);
  });

  test('rescale drops precision with the named rounding and adds it exactly', () => {
    assert.equal(rescale(12_345n, 4, 2, 'floor'), 123n);
    assert.equal(rescale(12_345n, 4, 2, 'ceil'), 124n);
    assert.equal(rescale(-12_345n, 4, 2, 'floor'), -124n);
    assert.equal(rescale(-12_345n, 4, 2, 'trunc'), -123n);
    assert.equal(rescale(12_350n, 4, 2, 'halfUp'), 124n);
    assert.equal(rescale(123n, 2, 6, 'floor'), 1_230_000n);
    assert.equal(rescale(123n, 2, 2, 'ceil'), 123n);
  });

  test('roundToStep snaps to a multiple of the step, and refuses a non-positive step', () => {
    assert.equal(roundToStep(1234n, 5n, 'floor'), 1230n);
    assert.equal(roundToStep(1234n, 5n, 'ceil'), 1235n);
    assert.equal(roundToStep(-1234n, 5n, 'ceil'), -1230n);
    assert.equal(roundToStep(1232n, 5n, 'halfUp'), 1230n);
    assert.equal(roundToStep(1235n, 5n, 'halfUp'), 1235n);
    assert.throws(() => roundToStep(10n, 0n, 'floor'), RangeError);
    assert.throws(() => roundToStep(10n, -5n, 'floor'), RangeError);
  });

  test('pow10 covers the cached range and beyond, and refuses bad exponents', () => {
    assert.equal(pow10(0), 1n);
    assert.equal(pow10(18), 10n ** 18n);
    assert.equal(pow10(90), 10n ** 90n);
    assert.throws(() => pow10(-1), RangeError);
    assert.throws(() => pow10(1.5), RangeError);
  });
});

describe('properties', () => {
  // Small values hit exact quotients and ties often; wide ones exercise bigint beyond 2^53.
  const big = fc.oneof(
    fc.bigInt({ min: -60n, max: 60n }),
    fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }),
  );
  const nonZero = big.filter((d) => d !== 0n);

  test('floorDiv is the exact floor: q·d + r = n with r on the side of d and |r| < |d|', () => {
    fc.assert(
      fc.property(big, nonZero, (n, d) => {
        const q = floorDiv(n, d);
        const r = n - q * d;
        // floor(n/d) = q  ⟺  q ≤ n/d < q + 1  ⟺  remainder has the sign of d (or is zero) and |r| < |d|.
        assert.ok(r === 0n || r > 0n === d > 0n, `remainder ${r} for ${n}/${d}`);
        assert.ok((r < 0n ? -r : r) < (d < 0n ? -d : d));
      }),
      { numRuns: 2000 },
    );
  });

  test('ceilDiv is the exact ceiling: ceilDiv(n, d) = −floorDiv(−n, d), and floor ≤ n/d ≤ ceil within 1', () => {
    fc.assert(
      fc.property(big, nonZero, (n, d) => {
        const c = ceilDiv(n, d);
        const f = floorDiv(n, d);
        assert.equal(c, -floorDiv(-n, d));
        assert.equal(c - f, n % d === 0n ? 0n : 1n);
        // c ≥ n/d ⟺ c·d ≥ n (d > 0) or c·d ≤ n (d < 0); c − 1 < n/d likewise.
        if (d > 0n) assert.ok(c * d >= n && (c - 1n) * d < n);
        else assert.ok(c * d <= n && (c - 1n) * d > n);
        assert.equal(div(n, d, 'floor'), f);
        assert.equal(div(n, d, 'ceil'), c);
        assert.equal(div(n, d, 'trunc'), n < 0n === d < 0n ? f : c);
      }),
      { numRuns: 2000 },
    );
  });

  test('halfUp is within half a unit and breaks ties away from zero', () => {
    fc.assert(
      fc.property(big, nonZero, (n, d) => {
        const q = div(n, d, 'halfUp');
        // |n/d − q| ≤ 1/2  ⟺  |2n − 2qd| ≤ |d|, with equality only when rounding away from zero.
        const err = 2n * n - 2n * q * d;
        const ad = d < 0n ? -d : d;
        const ae = err < 0n ? -err : err;
        assert.ok(ae <= ad);
        // A tie (n/d exactly halfway) goes away from zero: 2·|q|·|d| = 2·|n| + |d|.
        if (ae === ad) assert.equal((q < 0n ? -q : q) * ad * 2n, (n < 0n ? -n : n) * 2n + ad);
      }),
      { numRuns: 1000 },
    );
  });

  test('parse(format(v)) === v for every scaled value and scale', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
        fc.integer({ min: 0, max: 18 }),
        fc.boolean(),
        (v, dp, fixed) => {
          assert.equal(
            parseDecimal(formatDecimal(v, dp, fixed), 'x', { dp, signed: true, maxAbs: 10n ** 30n }),
            v,
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('format(parse(x)) === x for canonical decimal strings', () => {
    const canonical = fc
      .tuple(
        fc.boolean(),
        fc.bigInt({ min: 0n, max: 10n ** 20n }),
        fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 10 }),
      )
      .map(([neg, i, f]) => {
        const frac = f.replace(/0+$/, '');
        const s = `${i}${frac ? `.${frac}` : ''}`;
        return { s: neg && s !== '0' ? `-${s}` : s, dp: frac.length };
      });
    fc.assert(
      fc.property(canonical, fc.integer({ min: 0, max: 8 }), ({ s, dp }, extra) => {
        const scale = dp + extra;
        assert.equal(
          formatDecimal(parseDecimal(s, 'x', { dp: scale, signed: true, maxAbs: 10n ** 40n }), scale),
          s,
        );
      }),
      { numRuns: 1000 },
    );
  });

  test('rescale down then up never moves a value by a step or more, in the named direction', () => {
    fc.assert(
      fc.property(big, fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }), (v, a, b) => {
        const [hi, lo] = a >= b ? [a, b] : [b, a];
        const step = pow10(hi - lo);
        const down = rescale(rescale(v, hi, lo, 'floor'), lo, hi, 'floor');
        const up = rescale(rescale(v, hi, lo, 'ceil'), lo, hi, 'ceil');
        assert.ok(down <= v && v - down < step);
        assert.ok(up >= v && up - v < step);
        assert.equal(down, roundToStep(v, step, 'floor'));
        assert.equal(up, roundToStep(v, step, 'ceil'));
      }),
      { numRuns: 1000 },
    );
  });
});

describe("parseScaledSafe: the order path's fast parser", () => {
  /** The definition it replaced: a regex, then the same digit and scale checks. */
  function byRegex(input: unknown, dp: number): number | null {
    if (typeof input !== 'string') return null;
    const m = /^(\d{1,15})(?:\.(\d{1,15}))?$/.exec(input);
    if (!m) return null;
    const int = m[1]!;
    const frac = m[2] ?? '';
    if (frac.length > dp || int.length + frac.length > 15) return null;
    const scaled = Number(int + frac) * 10 ** (dp - frac.length);
    return Number.isSafeInteger(scaled) ? scaled : null;
  }

  test('"60000.5" at 1 decimal is 600005 ticks; "0.001" at 3 is 1 lot; what it cannot decide exactly is null', {
    timeout: 10_000,
  }, () => {
    assert.equal(parseScaledSafe('60000.5', 1), 600005);
    assert.equal(parseScaledSafe('0.001', 3), 1);
    assert.equal(parseScaledSafe('007', 2), 700);
    for (const bad of ['', '.5', '5.', '-1', '+1', '1e3', '1.2.3', ' 1', '1,5', '1234567890123456', '0.0001'])
      assert.equal(parseScaledSafe(bad, 3), null, bad);
    assert.equal(parseScaledSafe(5, 3), null);
  });

  test('agrees with the regex definition on random strings of digits, points and signs', {
    timeout: 30_000,
  }, () => {
    const chars = fc.constantFrom('0', '1', '5', '9', '.', '-', 'e', ' ');
    fc.assert(
      fc.property(fc.string({ unit: chars, maxLength: 20 }), fc.integer({ min: 0, max: 18 }), (s, dp) => {
        assert.equal(parseScaledSafe(s, dp), byRegex(s, dp));
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 17n }),
        fc.integer({ min: 0, max: 17 }),
        fc.integer({ min: 0, max: 18 }),
        (v, point, dp) => {
          const digits = v.toString();
          const at = Math.min(point, digits.length - 1);
          const s =
            at === 0 ? digits : `${digits.slice(0, digits.length - at)}.${digits.slice(digits.length - at)}`;
          assert.equal(parseScaledSafe(s, dp), byRegex(s, dp));
        },
      ),
      { numRuns: 20_000 },
    );
  });
});
