/**
 * Golden cases outside the crypto per-leg presets (../shared/reference/options-margin.md GOLDEN CASES):
 * Binance's mark IV from bid/ask IVs (§1.3), Derive's oracle contingency on short options (§2.3), and the Reg-T /
 * CBOE naked short equity option requirement (§3b). Expected values at the reference's tolerances.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDecimal } from '../../src/core/fixed.ts';
import { type OptionLeg, optionLegMargin, regTNakedRequirement } from '../../src/core/options/margin.ts';
import {
  DERIVE_CONFIG_TEST,
  DERIVE_ORACLE_CONTINGENCY_CONFIG_TEST,
  REG_T_BROAD_INDEX,
} from '../../src/core/options/margin-params.ts';
import { markIvFromQuotes } from '../../src/core/options/mark-iv.ts';

const T = { timeout: 10_000 };
const w = (s: string) => parseDecimal(s, 'test', { dp: 18, signed: true });

function near(got: bigint, expected: string, tol: string, what: string): void {
  const d = got - w(expected);
  assert.ok((d < 0n ? -d : d) <= w(tol), `${what}: got ${Number(got) / 1e18}, expected ${expected} ± ${tol}`);
}

describe('Binance options mark IV (clamped bid/ask mean)', () => {
  const bounds = { cap: w('1.20'), floor: w('0.30') };
  test(
    'OPT-BNB-MARKIV-1: bid IV 45%, ask IV 130%, cap 120%, floor 30% → the ask is capped, mark IV 82.5%',
    T,
    () => {
      near(markIvFromQuotes(w('0.45'), w('1.30'), bounds), '0.825', '0.000000000001', 'mark IV');
    },
  );
  test('a bid IV below the floor counts as the floor; both inside the band give their plain mean', T, () => {
    assert.equal(markIvFromQuotes(w('0.10'), w('0.50'), bounds), w('0.40'));
    assert.equal(markIvFromQuotes(w('0.50'), w('0.70'), bounds), w('0.60'));
  });
  test('a floor above the cap is rejected', T, () => {
    assert.throws(() => markIvFromQuotes(w('0.5'), w('0.6'), { cap: w('0.3'), floor: w('0.4') }), RangeError);
  });
});

describe('Derive StandardManager oracle contingency on short options', () => {
  // Short 10 × 2000 call, spot 1,500 (OTM, marked 0 here: the case is about the add-on, not the mark).
  const short10: OptionLeg = {
    type: 'call',
    settle: 'linear',
    strike: w('2000'),
    side: 'short',
    size: w('10'),
    underlyingPrice: w('1500'),
    markPrice: 0n,
    underlying: 'ETH',
  };
  const testParams = {
    derive: DERIVE_CONFIG_TEST,
    deriveOracleContingency: DERIVE_ORACLE_CONTINGENCY_CONFIG_TEST,
  };

  test(
    'OPT-DRV-SRM-OC-1: spot confidence falls to 0.8 < threshold 0.9, OCFactor 0.1 → IM +300, MM unchanged',
    T,
    () => {
      const before = optionLegMargin('derive', short10, testParams);
      const after = optionLegMargin('derive', { ...short10, spotConfidence: w('0.8') }, testParams);
      near(after.initialMargin - before.initialMargin, '300', '0.000000001', 'IM increase'); // (1−0.8)·0.1·1500·10
      assert.equal(after.maintenanceMargin, before.maintenanceMargin);
    },
  );
  test(
    'confidence at the threshold charges nothing; mainnet (0.55, OCFactor 1) charges only below 0.55',
    T,
    () => {
      const base = optionLegMargin('derive', short10, testParams);
      const atThreshold = optionLegMargin('derive', { ...short10, spotConfidence: w('0.9') }, testParams);
      assert.equal(atThreshold.initialMargin, base.initialMargin);
      const mainBase = optionLegMargin('derive', short10);
      const main08 = optionLegMargin('derive', { ...short10, spotConfidence: w('0.8') });
      const main05 = optionLegMargin('derive', { ...short10, spotConfidence: w('0.5') });
      assert.equal(main08.initialMargin, mainBase.initialMargin);
      near(main05.initialMargin - mainBase.initialMargin, '7500', '0', 'mainnet IM increase'); // 0.5·1·1500·10
    },
  );
  test('a long needs nothing whatever the confidence; a confidence above 1 is rejected', T, () => {
    const long = optionLegMargin('derive', { ...short10, side: 'long', spotConfidence: 0n }, testParams);
    assert.deepEqual(long, { initialMargin: 0n, maintenanceMargin: 0n });
    assert.throws(() => optionLegMargin('derive', { ...short10, spotConfidence: w('1.1') }), RangeError);
  });
});

describe('Reg-T / CBOE naked short equity option (per 100-share contract)', () => {
  const naked = (
    type: 'call' | 'put',
    s: string,
    k: string,
    prem: string,
    side: 'short' | 'long' = 'short',
  ) =>
    regTNakedRequirement({
      type,
      side,
      contracts: w('1'),
      underlyingPrice: w(s),
      strike: w(k),
      premium: w(prem),
    });

  test(
    'OPT-CBOE-NAKED-1: short 200 put @1.20, stock 209 → $3,400; less $120 proceeds the SMA debit is $3,280',
    T,
    () => {
      const req = naked('put', '209', '200', '1.20');
      near(req, '3400', '0.000001', 'requirement'); // (0.20·209 − 9 + 1.20)·100
      near(req - w('120'), '3280', '0.000001', 'SMA debit');
    },
  );
  test('OPT-CBOE-NAKED-2: short 30 call @0.05 at 26.38 → $269 (to $1, the 10% minimum binds)', T, () => {
    const req = naked('call', '26.38', '30', '0.05'); // max(5.276 − 3.62, 2.638) + 0.05 = 2.688 → 268.80
    const dollars = (req + w('0.5')) / w('1'); // rounded to the nearest dollar, as the reference compares
    assert.equal(dollars, 269n);
  });
  test('OPT-CBOE-NAKED-2: short 80 put @2 at 95 → $1,000 (10% of strike binds)', T, () => {
    near(naked('put', '95', '80', '2'), '1000', '0.000001', 'requirement');
  });
  test('OPT-CBOE-NAKED-2: short 120 call @8.40 at 128.50, in the money → $3,410', T, () => {
    near(naked('call', '128.5', '120', '8.4'), '3410', '0.000001', 'requirement');
  });
  test('a long pays only its premium; a broad-based index uses 15% of the underlying', T, () => {
    assert.equal(naked('put', '209', '200', '1.20', 'long'), w('120'));
    const index = regTNakedRequirement(
      {
        type: 'put',
        side: 'short',
        contracts: w('2'),
        underlyingPrice: w('5000'),
        strike: w('4800'),
        premium: w('10'),
      },
      REG_T_BROAD_INDEX,
    );
    near(index, '112000', '0', 'index put'); // (max(750 − 200, 480) + 10)·100·2
  });
});
