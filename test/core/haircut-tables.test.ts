/**
 * Golden tests for the tiered collateral tables recorded in docs/collateral-haircuts.json (`tiered.tables`, and the
 * tiered ones under `examples`): each is read from the file — so the docs and the tests cannot drift — parsed with
 * parseBands and valued with haircutValue below, at and across its tier bounds. Every expected value is a sum written
 * out by hand beside it: each band's slice × its ratio, like a tax bracket. USD tables are read as USDT value
 * (1 USD = 1 USDT); coin tables are valued at a stated fixed price (bound × price). A table added to the file without
 * a golden here fails the coverage test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { grossValue, haircutValue, parseBands } from '../../src/core/collateral.ts';
import { formatDecimal, parseDecimal, pow10 } from '../../src/core/fixed.ts';

const T = { timeout: 30_000 };
const DP = 8; // settle (USDT) decimals used throughout
const v = (s: string) => parseDecimal(s, 'v', { dp: DP, signed: true });

type Band = { upTo: string | null; ratio: string };
type Table = { venue: string; assets: string[]; kind: string; unit: string; source: string; bands: Band[] };
type Doc = {
  tiered: { tables: Record<string, Table> };
  examples: Record<string, Record<string, unknown>>;
  sources: { id: string }[];
};
const doc = JSON.parse(
  readFileSync(new URL('../../docs/collateral-haircuts.json', import.meta.url), 'utf8'),
) as Doc;

/** Every recorded tiered table, by key: `tiered.tables` ids, and `examples/<name>/<asset>` for multi-band examples. */
function recordedTables(): Map<string, { unit: string; bands: Band[] }> {
  const out = new Map<string, { unit: string; bands: Band[] }>();
  for (const [id, t] of Object.entries(doc.tiered.tables)) out.set(id, { unit: t.unit, bands: t.bands });
  for (const [name, ex] of Object.entries(doc.examples))
    for (const [asset, bands] of Object.entries(ex)) {
      if (!Array.isArray(bands) || bands.length < 2) continue;
      const b = bands as (Band & { unit: string })[];
      out.set(`examples/${name}/${asset}`, { unit: b[0]!.unit, bands: b });
    }
  return out;
}
const TABLES = recordedTables();

/** A coin table's bounds turned into value at `price` (USDT per coin): q coins → q × price, which must be exact. */
function atPrice(bands: Band[], price: string): Band[] {
  const p = v(price);
  return bands.map((b) => {
    if (b.upTo === null) return b;
    const scaled = v(b.upTo) * p; // at 2 × DP decimals
    assert.equal(scaled % pow10(DP), 0n, `${b.upTo} × ${price} is not exact at ${DP} dp`);
    return { upTo: formatDecimal(scaled / pow10(DP), DP), ratio: b.ratio };
  });
}

/** The table under `key`, parsed as settle-value bands (coin tables at `price`). */
function bandsOf(key: string, price?: string) {
  const t = TABLES.get(key);
  assert.ok(t !== undefined, `no recorded table ${key}`);
  const coin = t.unit !== 'USD';
  assert.equal(
    coin,
    price !== undefined,
    `${key}: unit ${t.unit} — a price is needed exactly for coin tables`,
  );
  return parseBands(coin ? atPrice(t.bands, price!) : t.bands, key, DP);
}

const tested = new Set<string>();
/** Values `gross` (USDT) against the expected haircut value for each [gross, expected] case. */
function golden(key: string, cases: [gross: string, expected: string][], price?: string) {
  tested.add(key);
  const bands = bandsOf(key, price);
  for (const [gross, expected] of cases)
    assert.equal(
      formatDecimal(haircutValue(v(gross), bands), DP),
      formatDecimal(v(expected), DP),
      `${key}: ${gross} should count ${expected}`,
    );
}

describe('OKX discount-rate tables (docs/collateral-haircuts.json tiered.tables)', () => {
  test('BETH from 2024-07-18 (USD): 0–2M 0.95, 2M–4M 0.85, 4M–8M 0.5, above 8M nothing', T, () => {
    golden('okx-beth-2024-07-18', [
      ['1000000', '950000'], // 1,000,000 × 0.95
      ['2000000', '1900000'], // at the first bound: 2,000,000 × 0.95
      ['2000001', '1900000.85'], // 1,900,000 + 1 × 0.85
      ['5000000', '4100000'], // 1,900,000 + 2,000,000 × 0.85 + 1,000,000 × 0.5
      ['8000000', '5600000'], // 1,900,000 + 1,700,000 + 4,000,000 × 0.5
      ['10000000', '5600000'], // the 2,000,000 above 8,000,000 counts 0
    ]);
  });

  test(
    'BETH before 2024-07-18 (USD): 0–1M 0.8, 1M–2M 0.75, 2M–4M 0.5, above 4M nothing — the change raised it',
    T,
    () => {
      golden('okx-beth-before-2024-07-18', [
        ['500000', '400000'], // 500,000 × 0.8
        ['1000000', '800000'], // 1,000,000 × 0.8
        ['1500000', '1175000'], // 800,000 + 500,000 × 0.75
        ['4000000', '2550000'], // 800,000 + 1,000,000 × 0.75 + 2,000,000 × 0.5
        ['9000000', '2550000'], // nothing above 4,000,000
      ]);
      // 1,500,000 of BETH: 1,425,000 (1,500,000 × 0.95) after the change, 1,175,000 before.
      const after = haircutValue(v('1500000'), bandsOf('okx-beth-2024-07-18'));
      const before = haircutValue(v('1500000'), bandsOf('okx-beth-before-2024-07-18'));
      assert.equal(after - before, v('250000'), 'the 2024-07-18 change adds 250,000 at 1,500,000');
    },
  );

  test(
    'token X (coins) matches the rows the announcement prints and its rule, +120,000,000 X and −0.03 a tier',
    T,
    () => {
      const bands = TABLES.get('okx-token-x-2025-04')!.bands;
      assert.equal(bands.length, 28, 'tiers 1–28');
      const printed: [tier: number, upTo: string, ratio: string][] = [
        [1, '120000000', '0.85'],
        [2, '200000000', '0.79'],
        [3, '250000000', '0.76'],
        [4, '370000000', '0.73'],
        [5, '490000000', '0.70'],
        [6, '610000000', '0.67'],
        [7, '730000000', '0.64'],
        [8, '850000000', '0.61'],
        [9, '970000000', '0.58'],
        [10, '1090000000', '0.55'],
        [27, '3130000000', '0.04'],
        [28, '3250000000', '0.01'],
      ];
      for (const [tier, upTo, ratio] of printed)
        assert.deepEqual(
          [bands[tier - 1]!.upTo, v(bands[tier - 1]!.ratio)],
          [upTo, v(ratio)],
          `tier ${tier}`,
        );
      for (let i = 3; i < 28; i++) {
        assert.equal(v(bands[i]!.upTo!) - v(bands[i - 1]!.upTo!), v('120000000'), `tier ${i + 1} bound`);
        assert.equal(v(bands[i - 1]!.ratio) - v(bands[i]!.ratio), v('0.03'), `tier ${i + 1} ratio`);
      }
    },
  );

  test(
    'token X at a test price of 0.0001 USDT (120,000,000 X = 12,000 USDT): nothing counts past tier 28',
    T,
    () => {
      golden(
        'okx-token-x-2025-04',
        [
          ['10000', '8500'], // 100,000,000 X: 10,000 × 0.85
          ['12000', '10200'], // at tier 1's bound: 12,000 × 0.85
          ['20000', '16520'], // 10,200 + 8,000 × 0.79
          ['25000', '20320'], // 16,520 + 5,000 × 0.76
          ['30000', '23970'], // 20,320 + 5,000 × 0.73
          // Tiers 4–28 are 12,000 each at 0.73, 0.70, …, 0.01: 25 ratios summing to 25 × (0.73 + 0.01) / 2 = 9.25;
          // 20,320 + 12,000 × 9.25 = 20,320 + 111,000.
          ['325000', '131320'],
          ['400000', '131320'], // past 3,250,000,000 X nothing counts
        ],
        '0.0001',
      );
    },
  );

  test(
    'the API docs’ BTC example (coins) at 20,000 USDT: 0–20 BTC 0.98, 20–25 BTC 0.9775, then minDiscountRate 0',
    T,
    () => {
      // 22.5 BTC at 20,000 is worth 450,000 before the haircut.
      assert.equal(grossValue(2_250_000_000n, DP, v('20000'), DP, DP), v('450000'), '22.5 BTC × 20,000');
      golden(
        'okx-api-btc-example',
        [
          ['200000', '196000'], // 10 BTC: 200,000 × 0.98
          ['400000', '392000'], // 20 BTC, at the bound: 400,000 × 0.98
          ['450000', '440875'], // 22.5 BTC: 392,000 + 50,000 × 0.9775
          ['500000', '489750'], // 25 BTC: 392,000 + 100,000 × 0.9775
          ['600000', '489750'], // 30 BTC: above the last tier at minDiscountRate 0
        ],
        '20000',
      );
    },
  );
});

describe('Binance rank tables (USD) (docs/collateral-haircuts.json tiered.tables)', () => {
  test('Cross Margin rank 6 (2025-08-15): 100% to 800,000, then 95, 85, 50, 20, 10, 0%', T, () => {
    golden('binance-cross-margin-rank-6-2025-08', [
      ['800000', '800000'], // all at 100%
      ['1000000', '990000'], // 800,000 + 200,000 × 0.95
      ['2000000', '1860000'], // 800,000 + 400,000 × 0.95 + 800,000 × 0.85
      ['3000000', '2210000'], // 1,860,000 + 500,000 × 0.5 + 500,000 × 0.2
      ['6000000', '2610000'], // 1,860,000 + 250,000 + 1,500,000 × 0.2 + 2,000,000 × 0.1
      ['7000000', '2610000'], // 6,000,000 and above at 0%
    ]);
  });

  test('Cross Margin rank 8 (XPL, 2026-01-12): 100% to 100,000, then 80, 60, 30, 10, 0%', T, () => {
    golden('binance-cross-margin-rank-8-2026-01-12', [
      ['50000', '50000'], // 100%
      ['100000', '100000'], // at the first bound
      ['250000', '220000'], // 100,000 + 150,000 × 0.8
      ['600000', '400000'], // 220,000 + 250,000 × 0.6 + 100,000 × 0.3
      ['1000000', '460000'], // 220,000 + 150,000 + 200,000 × 0.3 + 300,000 × 0.1
      ['2000000', '460000'], // above 1,000,000 at 0%
    ]);
  });

  test('Cross Margin rank 9 (CFX, 2026-01-12): 100% to 100,000, then 80, 60, 30, 10, 0%', T, () => {
    golden('binance-cross-margin-rank-9-2026-01-12', [
      ['150000', '140000'], // 100,000 + 50,000 × 0.8
      ['300000', '200000'], // 140,000 + 50,000 × 0.6 + 100,000 × 0.3
      ['600000', '250000'], // 140,000 + 30,000 + 200,000 × 0.3 + 200,000 × 0.1
      ['1000000', '250000'], // above 600,000 at 0%
    ]);
  });

  test('Cross Margin rank 10 (2026-01-12): 100,000 at 100%, nothing above', T, () => {
    golden('binance-cross-margin-rank-10-2026-01-12', [
      ['100000', '100000'],
      ['100000.00000001', '100000'], // the first unit above the bound counts 0
      ['5000000', '100000'],
    ]);
  });

  test(
    'PM Pro: ORDI at 2,000,000 counts 1,780,000 in rank 7 and 920,000 in rank 8 from 2025-10-24',
    T,
    () => {
      golden('binance-pmpro-rank-7-before-2025-10-24', [
        ['1000000', '990000'], // 800,000 + 200,000 × 0.95
        ['2000000', '1780000'], // 800,000 + 400,000 × 0.95 + 800,000 × 0.75
        ['3000000', '2280000'], // 1,780,000 + 1,000,000 × 0.5
      ]);
      golden('binance-pmpro-rank-8-2025-10-24', [
        ['300000', '280000'], // 200,000 + 100,000 × 0.8
        ['1000000', '720000'], // 200,000 + 200,000 × 0.8 + 400,000 × 0.7 + 200,000 × 0.4
        ['2000000', '920000'], // 720,000 + 1,000,000 × 0.2
      ]);
    },
  );

  test('PM Pro: GMT, EGLD, THETA, XTZ move from rank 9 to rank 10 on 2025-10-24', T, () => {
    golden('binance-pmpro-rank-9-before-2025-10-24', [
      ['250000', '220000'], // 100,000 + 150,000 × 0.8
      ['1000000', '395000'], // 220,000 + 250,000 × 0.5 + 500,000 × 0.1
    ]);
    golden('binance-pmpro-rank-10-2025-10-24', [
      ['50000', '50000'], // at the first bound
      ['300000', '160000'], // 50,000 + 50,000 × 0.8 + 100,000 × 0.5 + 100,000 × 0.2
      ['1000000', '240000'], // 160,000 + 100,000 × 0.2 + 600,000 × 0.1
    ]);
  });
});

describe('illustrative and example tables (docs/collateral-haircuts.json examples)', () => {
  test('Binance Cross Margin FAQ, BTC (USD): its worked example, 120,000,000 counts 119,500,000', T, () => {
    golden('examples/binance-cross-margin-faq/BTC', [
      ['120000000', '119500000'], // 100,000,000 × 1 + 20,000,000 × 0.975 (the FAQ's own sum)
      // 100,000,000 + 19,500,000 + 30,000,000 × 0.95 + 30,000,000 × 0.9 + 20,000,000 × 0.85
      ['200000000', '192000000'],
      ['250000000', '192000000'], // the illustration stops at 200,000,000
    ]);
  });

  test(
    'Binance PM Pro API example, USDT (USD, placeholder numbers): 0–1,000 at 1, 1,000–2,000 at 0.9999',
    T,
    () => {
      golden('examples/binance-pmpro-api/USDT', [
        ['1000', '1000'],
        ['1500', '1499.95'], // 1,000 + 500 × 0.9999
        ['2000', '1999.9'], // 1,000 + 1,000 × 0.9999
      ]);
    },
  );

  test(
    'Bybit help illustration, BTC (coins) at 20,000 USDT: 0.98 to 10 BTC … 0.8 to 50 BTC, nothing above',
    T,
    () => {
      golden(
        'examples/bybit-help/BTC',
        [
          ['200000', '196000'], // 10 BTC × 20,000 × 0.98
          ['500000', '476000'], // 25 BTC: 196,000 + 200,000 × 0.95 + 100,000 × 0.9
          // 60 BTC: 196,000 + 190,000 + 200,000 × 0.9 + 200,000 × 0.85 + 200,000 × 0.8, then 0
          ['1200000', '896000'],
        ],
        '20000',
      );
    },
  );

  test('Bybit API example, BTC (coins) at 20,000 USDT: 0.85 up to 1,000,000 BTC', T, () => {
    golden(
      'examples/bybit-api-tiered/BTC',
      [
        ['20000', '17000'], // 1 BTC × 20,000 × 0.85
        ['20000000000', '17000000000'], // 1,000,000 BTC: the whole first tier
        ['40000000000', '17000000000'], // nothing above
      ],
      '20000',
    );
  });
});

describe('the recorded tables are covered', () => {
  test(
    'every tiered table in docs/collateral-haircuts.json has a golden here, and names a recorded source',
    T,
    () => {
      // Runs after the goldens above (node:test runs a file's tests in order).
      assert.deepEqual(
        [...tested].sort(),
        [...TABLES.keys()].sort(),
        'tables without a golden (or goldens without a table)',
      );
      const sources = new Set(doc.sources.map((s) => s.id));
      for (const [id, t] of Object.entries(doc.tiered.tables))
        assert.ok(sources.has(t.source), `${id}: source ${t.source} is not in "sources"`);
    },
  );
});
