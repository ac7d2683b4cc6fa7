/**
 * Per-leg option margin presets against the reference's golden cases (../shared/reference/options-margin.md GOLDEN
 * CASES, venue-margin-rules.md §9.6–9.7) and the properties every preset must keep.
 *
 * Marks of the Derive portfolio cases are inputs here (Black-76 on the forward, D = 1, computed by the reference's
 * float script to ~1e-13): these tests are about margin, the pricing tests check Black-76 itself.
 * OPT-CBOE-NAKED-*, OPT-DRV-SRM-OC-1 and OPT-BNB-MARKIV-1 are in options-golden-extra.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDecimal } from '../../src/core/fixed.ts';
import { black76, yearsFromSeconds } from '../../src/core/options/black76.ts';
import {
  type LegMargin,
  OPTION_VENUES,
  type OptionLeg,
  type OptionMarginParams,
  type OptionVenue,
  optionLegMargin,
} from '../../src/core/options/margin.ts';
import { DERIVE_CONFIG_TEST } from '../../src/core/options/margin-params.ts';

const T = { timeout: 10_000 };
const WAD = 10n ** 18n;
const w = (s: string) => parseDecimal(s, 'test', { dp: 18, signed: true });

interface LegIn {
  type: 'call' | 'put';
  settle?: 'linear' | 'inverse';
  strike: string;
  side?: 'long' | 'short';
  size?: string;
  underlyingPrice: string;
  markPrice: string;
  underlying?: string;
  spotPrice?: string;
}
const leg = (l: LegIn): OptionLeg => ({
  type: l.type,
  settle: l.settle ?? 'linear',
  strike: w(l.strike),
  side: l.side ?? 'short',
  size: w(l.size ?? '1'),
  underlyingPrice: w(l.underlyingPrice),
  markPrice: w(l.markPrice),
  ...(l.underlying ? { underlying: l.underlying } : {}),
  ...(l.spotPrice ? { spotPrice: w(l.spotPrice) } : {}),
});
const margin = (venue: OptionVenue, l: LegIn, params?: OptionMarginParams): LegMargin =>
  optionLegMargin(venue, leg(l), params);

/** |got − expected| ≤ tol, all WAD. */
function near(got: bigint, expected: string, tol: string, what: string): void {
  const d = got - w(expected);
  assert.ok((d < 0n ? -d : d) <= w(tol), `${what}: got ${Number(got) / 1e18}, expected ${expected} ± ${tol}`);
}
/** Derive's unit tests: assertApproxEqRel 1%. */
function nearRel(got: bigint, expected: string, what: string): void {
  const e = w(expected);
  const d = got - e;
  assert.ok((d < 0n ? -d : d) * 100n <= e, `${what}: got ${Number(got) / 1e18}, expected ${expected} ± 1%`);
}
/** Derive's portfolio tests compare int(margin / 1e18): Solidity truncation toward zero. */
const trunc = (x: bigint) => x / WAD;

describe('Deribit standard margin (coin formula for inverse, bit.com USD form for linear)', () => {
  test('OPT-DRB-LEG-1: BTC at 60,000 — short 66,000 call marked 0.01 needs 0.11 / 0.085 BTC', T, () => {
    const call = margin('deribit', {
      type: 'call',
      settle: 'inverse',
      strike: '66000',
      underlyingPrice: '60000',
      markPrice: '0.01',
      underlying: 'BTC',
    });
    near(call.initialMargin, '0.11', '0.000000000001', 'call IM');
    near(call.maintenanceMargin, '0.085', '0.000000000001', 'call MM');
  });
  test('OPT-DRB-LEG-1: short 54,000 put marked 0.008 needs 0.108 / 0.083 BTC', T, () => {
    const put = margin('deribit', {
      type: 'put',
      settle: 'inverse',
      strike: '54000',
      underlyingPrice: '60000',
      markPrice: '0.008',
      underlying: 'BTC',
    });
    near(put.initialMargin, '0.108', '0.000000000001', 'put IM');
    near(put.maintenanceMargin, '0.083', '0.000000000001', 'put MM');
  });
  test(
    'DRB-8: underlying 10,000, K 9,000, mark 250 USD — call IM 1,750 MM 1,000; put IM 1,250 MM 1,000',
    T,
    () => {
      const base = { strike: '9000', underlyingPrice: '10000', markPrice: '250', underlying: 'BTC' } as const;
      const call = margin('deribit', { ...base, type: 'call' });
      const put = margin('deribit', { ...base, type: 'put' });
      assert.deepEqual([call.initialMargin, call.maintenanceMargin], [w('1750'), w('1000')]);
      assert.deepEqual([put.initialMargin, put.maintenanceMargin], [w('1250'), w('1000')]);
      // The same options coin-settled (mark 0.025 BTC): the same figures / 10,000, in BTC.
      const inv = { ...base, settle: 'inverse', markPrice: '0.025' } as const;
      assert.deepEqual(
        [margin('deribit', { ...inv, type: 'call' }), margin('deribit', { ...inv, type: 'put' })],
        [
          { initialMargin: w('0.175'), maintenanceMargin: w('0.1') },
          { initialMargin: w('0.125'), maintenanceMargin: w('0.1') },
        ],
      );
      assert.deepEqual(margin('deribit', { ...base, type: 'call', side: 'long' }), {
        initialMargin: 0n,
        maintenanceMargin: 0n,
      });
    },
  );
  test('OPT-BIT-LEG-1: short 50 ETH-USDT 1850 puts, ETH 2,098, mark 2.4 → IM 10,610, MM 7,987.5', T, () => {
    const l = {
      type: 'put',
      strike: '1850',
      underlyingPrice: '2098',
      markPrice: '2.4',
      underlying: 'ETH',
    } as const;
    const one = margin('deribit', l);
    near(one.initialMargin, '212.2', '0.000001', 'IM per contract');
    near(one.maintenanceMargin, '159.75', '0.000001', 'MM per contract');
    const fifty = margin('deribit', { ...l, size: '50' });
    near(fifty.initialMargin, '10610', '0.000001', 'position IM');
    near(fifty.maintenanceMargin, '7987.5', '0.000001', 'position MM');
  });
});

describe('OKX (a, b, c with margin factor, OTM on the forward)', () => {
  const call = {
    type: 'call',
    settle: 'inverse',
    strike: '6000',
    underlyingPrice: '5900',
    markPrice: '0.0575',
    underlying: 'BTC',
  } as const;
  test(
    'OPT-OKX-LEG-1: sell 100 BTCUSD calls (0.1 BTC each), OTM 100, MF 1.02 → 0.01932 BTC a contract',
    T,
    () => {
      const params = { okx: { a: '0.1', b: '0.15', c: '0.03', marginFactor: '1.02' } };
      const perContract = margin('okx', { ...call, size: '0.1' }, params).initialMargin;
      near(perContract, '0.01932', '0.000005', 'position margin per contract');
      // Sell-to-open at 0.06 with a 0.00002 fee: max(position IMR − order price + fee, min open margin) × 100 contracts.
      const perOrder = perContract - w('0.006') + w('0.00002');
      const order = (perOrder > w('0.01') ? perOrder : w('0.01')) * 100n;
      near(order, '1.334', '0.0005', 'order margin');
    },
  );
  test('OPT-OKX-LEG-2: MF 1 — IMR 0.19055085, MMR call and put 0.0875 BTC', T, () => {
    const c = margin('okx', call);
    near(c.initialMargin, '0.190550847457627118', '0.000000000001', 'IMR');
    near(c.maintenanceMargin, '0.0875', '0.000000000001', 'MMR call');
    const p = margin('okx', { ...call, type: 'put', strike: '5800' });
    near(p.initialMargin, '0.190550847457627118', '0.000000000001', 'IMR put');
    near(p.maintenanceMargin, '0.0875', '0.000000000001', 'MMR put');
  });
  test('USD-margined form: the same terms × the index price', T, () => {
    const usd = margin('okx', { ...call, settle: 'linear', markPrice: '339.25' });
    // 0.133050847… × 5,900 + 339.25 = 785 + 339.25; MM 0.03 × 5,900 + 339.25.
    near(usd.initialMargin, '1124.25', '0.000000001', 'IM');
    assert.equal(usd.maintenanceMargin, w('516.25'));
  });
});

describe('Derive StandardManager per leg', () => {
  const test1500 = { underlyingPrice: '1500', underlying: 'ETH' } as const;
  const cases: [string, 'call' | 'put', string, string, string, string][] = [
    ['OPT-DRV-SRM-LEG-1', 'call', '1400', '100', '325', '212.5'],
    ['OPT-DRV-SRM-LEG-2', 'call', '400', '1100', '1325', '1212'],
    ['OPT-DRV-SRM-LEG-3', 'call', '1600', '0', '150', '112.5'],
    ['OPT-DRV-SRM-LEG-4', 'put', '1600', '100', '325', '212'],
    ['OPT-DRV-SRM-LEG-5', 'put', '3000', '1500', '1725', '1612'],
    ['OPT-DRV-SRM-LEG-6', 'put', '1400', '0', '150', '112.5'],
  ];
  for (const [id, type, strike, mark, im, mm] of cases) {
    test(
      `${id}: S = F = 1,500, vol 0 — short ${strike} ${type} (mark ${mark}) needs IM ${im}, MM ${mm}`,
      T,
      () => {
        const r = margin(
          'derive',
          { ...test1500, type, strike, markPrice: mark },
          { derive: DERIVE_CONFIG_TEST },
        );
        nearRel(r.initialMargin, im, 'IM');
        nearRel(r.maintenanceMargin, mm, 'MM');
      },
    );
  }
  test('OPT-DRV-SRM-DEPLOY-1: mainnet params, short 2300 call at 2,000, 30 d, 60% (mark 43.2844)', T, () => {
    const mark = '43.28438557812325';
    const r = margin('derive', {
      type: 'call',
      strike: '2300',
      underlyingPrice: '2000',
      markPrice: mark,
      underlying: 'ETH',
    });
    assert.equal(r.initialMargin, w('260') + w(mark)); // min share 0.13 × 2,000 + mark, exactly
    assert.equal(r.maintenanceMargin, w('180') + w(mark));
    near(r.initialMargin, '303.2844', '0.0001', 'IM');
    near(r.maintenanceMargin, '223.2844', '0.0001', 'MM');
  });
  const pf: [string, 'call' | 'put', string, string, string, string, string, string][] = [
    [
      'OPT-DRV-SRM-PF-1 short ITM call',
      'call',
      '1500',
      '1',
      '502.84400488889673',
      '2002.83305',
      '802',
      '652',
    ],
    [
      'OPT-DRV-SRM-PF-2 short OTM put',
      'put',
      '1100',
      '1',
      '0.000000000008912102',
      '2002.83305',
      '200',
      '150',
    ],
    [
      'OPT-DRV-SRM-PF-3 short 2 ITM puts',
      'put',
      '3000',
      '2',
      '997.1669811440688',
      '2002.83305',
      '2594',
      '2294',
    ],
    ['OPT-DRV-SRM-ZERO-1 short 100 put', 'put', '100', '1', '0', '2004.7545', '100', '100'],
  ];
  for (const [id, type, strike, size, mark, fwd, im, mm] of pf) {
    test(`${id}: spot 2,000, forward ${fwd}, vol 0.5 — IM ${im}, MM ${mm} (truncated)`, T, () => {
      const r = margin(
        'derive',
        { type, strike, size, markPrice: mark, underlyingPrice: fwd, spotPrice: '2000', underlying: 'ETH' },
        { derive: DERIVE_CONFIG_TEST },
      );
      assert.equal(trunc(r.initialMargin), BigInt(im));
      assert.equal(trunc(r.maintenanceMargin), BigInt(mm));
    });
  }
  test('an inverse leg: the USD formula at the underlying price, in coin, with no max-loss cap', T, () => {
    const usd = margin('derive', {
      type: 'put',
      strike: '100',
      underlyingPrice: '2000',
      markPrice: '0',
      underlying: 'ETH',
    });
    const coin = margin('derive', {
      type: 'put',
      settle: 'inverse',
      strike: '100',
      underlyingPrice: '2000',
      markPrice: '0',
      underlying: 'ETH',
    });
    assert.equal(usd.initialMargin, w('100')); // capped at the strike
    assert.equal(coin.initialMargin, w('0.13')); // 0.13 × 2,000 = 260 USD = 0.13 ETH, uncapped
  });
});

describe('ringfence: the most conservative of the three, per leg', () => {
  test('short 1 BTC 100,000 call at 95,000 marked 2,500 USD: the largest IM and MM of the three', T, () => {
    const l = {
      type: 'call',
      strike: '100000',
      underlyingPrice: '95000',
      markPrice: '2500',
      underlying: 'BTC',
    } as const;
    const rf = margin('ringfence', l);
    const each = (['deribit', 'okx', 'derive'] as const).map((v) => margin(v, l));
    assert.equal(
      rf.initialMargin,
      each.map((m) => m.initialMargin).reduce((a, b) => (a > b ? a : b)),
    );
    assert.equal(
      rf.maintenanceMargin,
      each.map((m) => m.maintenanceMargin).reduce((a, b) => (a > b ? a : b)),
    );
    // Derive's mainnet minimum share 0.13 binds (OTM 5,000/95,000 = 5.3%: 15% − 5.3% < 13%): 12,350 + 2,500.
    assert.equal(rf.initialMargin, w('14850'));
  });
});

describe('properties', () => {
  /** A deterministic stream of legs (xorshift), spanning moneyness 0.3–3, marks 0–60% of the underlying. */
  function* legs(n: number): Generator<LegIn> {
    let s = 0x9e3779b9;
    const next = () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 2 ** 32;
    };
    for (let i = 0; i < n; i++) {
      const u = 500 + Math.floor(next() * 100_000);
      const settle = next() < 0.5 ? 'linear' : 'inverse';
      const markUsd = Math.floor(next() * 0.6 * u);
      yield {
        type: next() < 0.5 ? 'call' : 'put',
        settle,
        strike: String(Math.max(1, Math.floor(u * (0.3 + next() * 2.7)))),
        underlyingPrice: String(u),
        markPrice: settle === 'linear' ? String(markUsd) : (markUsd / u).toFixed(12),
        size: (0.001 + next() * 50).toFixed(3),
        underlying: ['BTC', 'ETH', 'SOL'][Math.floor(next() * 3)]!,
        ...(next() < 0.3 ? { spotPrice: String(Math.floor(u * (0.97 + next() * 0.06))) } : {}),
      };
    }
  }
  const bump = (s: string, by: string) => String(Number(s) + Number(by));

  test('a short needs no less when it grows or its mark rises, and IM ≥ MM', T, () => {
    for (const l of legs(400)) {
      for (const v of OPTION_VENUES) {
        const base = margin(v, l);
        const bigger = margin(v, { ...l, size: bump(l.size!, '1') });
        const dearer = margin(v, { ...l, markPrice: (Number(l.markPrice) * 1.1 + 0.001).toFixed(12) });
        const what = `${v} ${JSON.stringify(l)}`;
        assert.ok(base.initialMargin >= base.maintenanceMargin, `IM < MM: ${what}`);
        assert.ok(
          bigger.initialMargin >= base.initialMargin && bigger.maintenanceMargin >= base.maintenanceMargin,
          `size: ${what}`,
        );
        assert.ok(
          dearer.initialMargin >= base.initialMargin && dearer.maintenanceMargin >= base.maintenanceMargin,
          `mark: ${what}`,
        );
        assert.ok(base.maintenanceMargin > 0n, `a short always needs something: ${what}`);
      }
    }
  });
  test('a long needs nothing beyond its premium, under every venue', T, () => {
    for (const l of legs(100))
      for (const v of OPTION_VENUES)
        assert.deepEqual(margin(v, { ...l, side: 'long' }), { initialMargin: 0n, maintenanceMargin: 0n });
  });
  test('ringfence ≥ each venue, for IM and for MM', T, () => {
    for (const l of legs(400)) {
      const rf = margin('ringfence', l);
      for (const v of ['deribit', 'okx', 'derive'] as const) {
        const m = margin(v, l);
        assert.ok(
          rf.initialMargin >= m.initialMargin && rf.maintenanceMargin >= m.maintenanceMargin,
          `${v} ${JSON.stringify(l)}`,
        );
      }
    }
  });
});

describe('Derive cases with the fixed-point Black-76 mark (src/core/options/black76.ts)', () => {
  const markOf = (type: 'call' | 'put', strike: string, fwd: string, seconds: number, vol: string) => {
    const r = black76({ forward: w(fwd), strike: w(strike), years: yearsFromSeconds(seconds), vol: w(vol) });
    return type === 'call' ? r.call : r.put;
  };
  const pf: [string, 'call' | 'put', string, bigint, string, string][] = [
    ['OPT-DRV-SRM-PF-1', 'call', '1500', 1n, '802', '652'],
    ['OPT-DRV-SRM-PF-2', 'put', '1100', 1n, '200', '150'],
    ['OPT-DRV-SRM-PF-3', 'put', '3000', 2n, '2594', '2294'],
  ];
  for (const [id, type, strike, lots, im, mm] of pf) {
    test(
      `${id}: ${lots} × short ${strike} ${type}, 10 d 8 h, vol 0.5, forward 2,002.83305 → IM ${im}, MM ${mm}`,
      T,
      () => {
        const mark = markOf(type, strike, '2002.83305', 10 * 86_400 + 8 * 3_600, '0.5');
        const r = optionLegMargin(
          'derive',
          {
            type,
            settle: 'linear',
            strike: w(strike),
            side: 'short',
            size: lots * WAD,
            underlyingPrice: w('2002.83305'),
            spotPrice: w('2000'),
            markPrice: mark,
          },
          { derive: DERIVE_CONFIG_TEST },
        );
        assert.deepEqual([trunc(r.initialMargin), trunc(r.maintenanceMargin)], [BigInt(im), BigInt(mm)]);
      },
    );
  }
  test(
    'OPT-DRV-SRM-DEPLOY-1: the 30-day 2300 call at 60% marks 43.2844 and needs 303.2844 / 223.2844',
    T,
    () => {
      const mark = markOf('call', '2300', '2000', 30 * 86_400, '0.6');
      near(mark, '43.28438557812325', '0.000000001', 'mark');
      const r = optionLegMargin('derive', {
        type: 'call',
        settle: 'linear',
        strike: w('2300'),
        side: 'short',
        size: WAD,
        underlyingPrice: w('2000'),
        markPrice: mark,
        underlying: 'ETH',
      });
      near(r.initialMargin, '303.2844', '0.0001', 'IM');
      near(r.maintenanceMargin, '223.2844', '0.0001', 'MM');
    },
  );
});
