/**
 * Venue presets as data: each names its markets (tier tables) and its conventions. The math is one piece of
 * code; a preset only picks parameters. Tables are dated snapshots from ../shared/reference/venue-margin-rules.md
 * (Binance BTCUSDT brackets 2021-03, Bybit BTCUSDT risk limits, BitMEX v1 risk-limit steps, Hyperliquid mainnet
 * tiers, dYdX v4 genesis liquidity tiers, Deribit linear perpetual formula), OKX's and Gate's from the sources
 * named at their tables (Gate: docs/venues/gate.md) — check live values before relying on them for a real account.
 * Where a venue's rule differs by margin mode (Bybit inverse: the fee to close is in the cross formula only) the
 * preset says so as data (`cross`), not as a branch in the math.
 */
import { decimalPlaces, formatDecimal, InputError, parseDecimal } from './fixed.ts';
import type { ContractKind, Instrument } from './instrument.ts';
import { validateInstrument } from './instrument.ts';
import type { MarginConventions } from './margin.ts';
import { LEVERAGE_DP, parseLeverage, parseRate, RATE_DP } from './rates.ts';
import type { NettingParams } from './silo.ts';
import { bracketTiers, hyperliquidTiers, type RiskRule, stepTiers } from './tiers.ts';

/** Prices carry 8 decimals whatever the tick: average entry prices are rarely on the tick. */
export const DEFAULT_PRICE_DP = 8;

export type RuleSpec =
  | {
      kind: 'brackets';
      deduction?: 'derived' | 'none';
      /** 'given': the first tier's deduction is taken as written (calc's custom tiers); default: it is zero. */
      first?: 'zero' | 'given';
      tiers: { cap: string | null; mmr: string; maxLeverage: string; deduction?: string }[];
    }
  | { kind: 'hyperliquid'; tiers: { cap: string | null; maxLeverage: string }[] }
  | {
      kind: 'steps';
      baseLimit: string;
      step: string;
      baseMmr: string;
      baseImr: string;
      stepRate: string;
      steps: number;
    }
  | { kind: 'sizeLinear'; imBase: string; mmBase: string; slopePerUnit: string; maxLeverage: string }
  | { kind: 'fraction'; imf: string; maintenanceFraction: string; oiLowerCap: string; oiUpperCap: string };

export interface MarketSpec {
  symbol: string;
  kind: ContractKind;
  base: string;
  quote: string;
  tickSize: string;
  lotSize: string;
  /** Linear: base per contract; inverse: USD per contract. */
  multiplier: string;
  /** Decimals of the settle asset's smallest unit. */
  settleDp: number;
  maxLeverage: string;
  risk: RuleSpec;
  expiry?: number | null;
  /** Largest position (in contracts) the table covers; calc refuses larger ones rather than guess their tier. */
  maxSize?: string;
}

export interface ConventionSpec {
  mmBasis: MarginConventions['mmBasis'];
  priceRounding: MarginConventions['priceRounding'];
  feeToCloseInMaintenance: boolean;
  feeInBankruptcy: boolean;
  takerFeeRate: string;
  removableCountsProfit: boolean;
  transferFloorRate: string;
  imBasis?: MarginConventions['imBasis'];
}

export interface VenuePreset {
  id: string;
  description: string;
  conventions: ConventionSpec;
  /** What differs in cross mode (Bybit inverse: the fee to close enters the cross prices only). */
  cross?: Partial<ConventionSpec>;
  markets: MarketSpec[];
  /** Any other symbol is a market when the position gives its `maxLeverage` (Hyperliquid: one tier, as for
   * margin-table ids below 50). */
  anySymbol?: { quote: string; settleDp: number; tickSize: string; lotSize: string };
  /** Deductions of calc's custom `tiers`: derived by the recursion (default) or none (the whole position at its
   * tier's rate, OKX). */
  customDeduction?: 'derived' | 'none';
  /** Extra margin counts net of the taker fee, `extra / (1 ± fee)` (Bybit's unified-account inverse formula). */
  extraMarginNetOfTakerFee?: boolean;
  /** Initial margin includes the fee to close at entry value (Gate: `value / leverage + close fee`). */
  initialMarginIncludesFeeToClose?: boolean;
  /** A leverage change re-sizes an isolated position's collateral to initial margin at entry exactly, releasing
   * margin added by hand (the engine's `setLeverage`: calc's "live"); without it the added margin stays. */
  leverageChangeReleasesExtra?: boolean;
  /** Markets the venue lists that calc does not margin, each with the reason calc gives (the service's option
   * markets under "live"). */
  refusedMarkets?: ReadonlyMap<string, string>;
}

export function buildRule(spec: RuleSpec, settleDp: number, field = 'risk'): RiskRule {
  const money = (s: string, f: string) => parseDecimal(s, f, { dp: settleDp, maxAbs: 10n ** 36n });
  switch (spec.kind) {
    case 'brackets':
      return {
        kind: 'tiers',
        tiers: bracketTiers(
          spec.tiers.map((t, i) => ({
            cap: t.cap === null ? null : money(t.cap, `${field}.tiers[${i}].cap`),
            mmr: parseRate(t.mmr, `${field}.tiers[${i}].mmr`),
            maxLeverage: parseLeverage(t.maxLeverage, `${field}.tiers[${i}].maxLeverage`),
            ...(t.deduction !== undefined
              ? { publishedDeduction: money(t.deduction, `${field}.tiers[${i}].deduction`) }
              : {}),
          })),
          settleDp,
          { deduction: spec.deduction ?? 'derived', first: spec.first ?? 'zero' },
        ),
      };
    case 'hyperliquid':
      return {
        kind: 'tiers',
        maintenanceFromMaxLeverage: true,
        tiers: hyperliquidTiers(
          spec.tiers.map((t, i) => ({
            cap: t.cap === null ? null : money(t.cap, `${field}.tiers[${i}].cap`),
            maxLeverage: parseLeverage(t.maxLeverage, `${field}.tiers[${i}].maxLeverage`),
          })),
          settleDp,
        ),
      };
    case 'steps':
      return {
        kind: 'tiers',
        tiers: stepTiers({
          baseLimit: money(spec.baseLimit, `${field}.baseLimit`),
          step: money(spec.step, `${field}.step`),
          baseMmr: parseRate(spec.baseMmr, `${field}.baseMmr`),
          baseImr: parseRate(spec.baseImr, `${field}.baseImr`),
          stepRate: parseRate(spec.stepRate, `${field}.stepRate`),
          steps: spec.steps,
        }),
      };
    case 'sizeLinear':
      return {
        kind: 'sizeLinear',
        imBase: parseRate(spec.imBase, `${field}.imBase`),
        mmBase: parseRate(spec.mmBase, `${field}.mmBase`),
        slopePerUnit: parseRate(spec.slopePerUnit, `${field}.slopePerUnit`),
        maxLeverage: parseLeverage(spec.maxLeverage, `${field}.maxLeverage`),
      };
    case 'fraction':
      return {
        kind: 'fraction',
        imf: parseRate(spec.imf, `${field}.imf`),
        maintenanceFraction: parseRate(spec.maintenanceFraction, `${field}.maintenanceFraction`),
        oiLowerCap: money(spec.oiLowerCap, `${field}.oiLowerCap`),
        oiUpperCap: money(spec.oiUpperCap, `${field}.oiUpperCap`),
      };
  }
}

export function buildInstrument(m: MarketSpec, priceDp = DEFAULT_PRICE_DP): Instrument {
  const tickDp = decimalPlaces(m.tickSize);
  const pdp = Math.max(priceDp, tickDp);
  const sizeDp = decimalPlaces(m.lotSize);
  const multDp = decimalPlaces(m.multiplier);
  return validateInstrument({
    symbol: m.symbol,
    kind: m.kind,
    type: m.expiry ? 'future' : 'perpetual',
    expiry: m.expiry ?? null,
    baseAsset: m.base,
    quoteAsset: m.quote,
    settleAsset: m.kind === 'linear' ? m.quote : m.base,
    priceDp: pdp,
    sizeDp,
    settleDp: m.settleDp,
    multiplierDp: multDp,
    tickSize: parseDecimal(m.tickSize, `${m.symbol}.tickSize`, { dp: pdp, positive: true }),
    lotSize: parseDecimal(m.lotSize, `${m.symbol}.lotSize`, { dp: sizeDp, positive: true }),
    multiplier: parseDecimal(m.multiplier, `${m.symbol}.multiplier`, { dp: multDp, positive: true }),
    maxLeverage: parseLeverage(m.maxLeverage, `${m.symbol}.maxLeverage`),
    risk: buildRule(m.risk, m.settleDp, `${m.symbol}.risk`),
  });
}

/** Conventions back as data (decimal strings): the spec `buildConventions` reads to the same values. */
export function conventionSpec(c: MarginConventions): ConventionSpec {
  return {
    mmBasis: c.mmBasis,
    priceRounding: c.priceRounding,
    feeToCloseInMaintenance: c.feeToCloseInMaintenance,
    feeInBankruptcy: c.feeInBankruptcy,
    takerFeeRate: formatDecimal(c.takerFeeRate, RATE_DP),
    removableCountsProfit: c.removableCountsProfit,
    transferFloorRate: formatDecimal(c.transferFloorRate, RATE_DP),
    ...(c.imBasis !== undefined ? { imBasis: c.imBasis } : {}),
  };
}

export function buildConventions(c: ConventionSpec): MarginConventions {
  return {
    mmBasis: c.mmBasis,
    priceRounding: c.priceRounding,
    feeToCloseInMaintenance: c.feeToCloseInMaintenance,
    feeInBankruptcy: c.feeInBankruptcy,
    takerFeeRate: parseRate(c.takerFeeRate, 'takerFeeRate'),
    removableCountsProfit: c.removableCountsProfit,
    transferFloorRate: parseRate(c.transferFloorRate, 'transferFloorRate'),
    ...(c.imBasis !== undefined ? { imBasis: c.imBasis } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Tables

/** Binance USDⓈ-M BTCUSDT maintenance brackets (2021-03 snapshot); `deduction` is the published cum, asserted. */
const BINANCE_BTCUSDT: RuleSpec = {
  kind: 'brackets',
  tiers: [
    { cap: '50000', mmr: '0.004', maxLeverage: '125', deduction: '0' },
    { cap: '250000', mmr: '0.005', maxLeverage: '100', deduction: '50' },
    { cap: '1000000', mmr: '0.01', maxLeverage: '50', deduction: '1300' },
    { cap: '10000000', mmr: '0.025', maxLeverage: '20', deduction: '16300' },
    { cap: '20000000', mmr: '0.05', maxLeverage: '10', deduction: '266300' },
    { cap: '50000000', mmr: '0.1', maxLeverage: '5', deduction: '1266300' },
    { cap: '100000000', mmr: '0.125', maxLeverage: '4', deduction: '2516300' },
    { cap: '200000000', mmr: '0.15', maxLeverage: '3', deduction: '5016300' },
    { cap: '300000000', mmr: '0.25', maxLeverage: '2', deduction: '25016300' },
    { cap: '500000000', mmr: '0.5', maxLeverage: '1', deduction: '100016300' },
  ],
};

const BINANCE_ETHUSDT: RuleSpec = {
  kind: 'brackets',
  tiers: [
    { cap: '10000', mmr: '0.005', maxLeverage: '100', deduction: '0' },
    { cap: '100000', mmr: '0.0065', maxLeverage: '75', deduction: '15' },
    { cap: '500000', mmr: '0.01', maxLeverage: '50', deduction: '365' },
    { cap: '1000000', mmr: '0.02', maxLeverage: '25', deduction: '5365' },
    { cap: '2000000', mmr: '0.05', maxLeverage: '10', deduction: '35365' },
    { cap: '5000000', mmr: '0.1', maxLeverage: '5', deduction: '135365' },
    { cap: '10000000', mmr: '0.125', maxLeverage: '4', deduction: '260365' },
    { cap: '20000000', mmr: '0.15', maxLeverage: '3', deduction: '510365' },
    { cap: null, mmr: '0.25', maxLeverage: '2', deduction: '2510365' },
  ],
};

/** Bybit BTCUSDT risk-limit tiers; deductions as published, asserted against the recursion. */
const BYBIT_BTCUSDT: RuleSpec = {
  kind: 'brackets',
  tiers: (
    [
      ['2000000', '100', '0.005', '0'],
      ['2600000', '90', '0.0056', '1200'],
      ['3200000', '80', '0.0063', '3020'],
      ['3800000', '75', '0.0067', '4300'],
      ['4400000', '70', '0.0071', '5820'],
      ['5000000', '65', '0.0077', '8460'],
      ['5600000', '55', '0.0091', '15460'],
      ['8500000', '50', '0.01', '20500'],
      ['10000000', '45', '0.013', '46000'],
      ['14000000', '40', '0.015', '66000'],
      ['20000000', '35', '0.016', '80000'],
      ['28000000', '30', '0.02', '160000'],
      ['38000000', '25', '0.025', '300000'],
      ['50000000', '20', '0.029', '452000'],
      ['55000000', '19', '0.03', '502000'],
      ['60000000', '18', '0.035', '777000'],
      ['65000000', '17', '0.036', '837000'],
      ['70000000', '16', '0.038', '967000'],
      ['75000000', '15', '0.04', '1107000'],
      ['80000000', '14', '0.045', '1482000'],
    ] as const
  ).map(([cap, lev, mmr, d]) => ({ cap, maxLeverage: lev, mmr, deduction: d })),
};

const binanceConventions: ConventionSpec = {
  mmBasis: 'mark',
  priceRounding: 'nearest',
  feeToCloseInMaintenance: false,
  feeInBankruptcy: false,
  takerFeeRate: '0.0005',
  removableCountsProfit: true,
  transferFloorRate: '0',
};

const linear = (
  symbol: string,
  base: string,
  quote: string,
  tick: string,
  lot: string,
  settleDp: number,
  maxLev: string,
  risk: RuleSpec,
): MarketSpec => ({
  symbol,
  kind: 'linear',
  base,
  quote,
  tickSize: tick,
  lotSize: lot,
  multiplier: '1',
  settleDp,
  maxLeverage: maxLev,
  risk,
});

const inverse = (
  symbol: string,
  base: string,
  tick: string,
  multiplier: string,
  maxLev: string,
  risk: RuleSpec,
): MarketSpec => ({
  symbol,
  kind: 'inverse',
  base,
  quote: 'USD',
  tickSize: tick,
  lotSize: '1',
  multiplier,
  settleDp: 8,
  maxLeverage: maxLev,
  risk,
});

const BYBIT_INVERSE_STEPS: RuleSpec = {
  kind: 'steps',
  baseLimit: '150',
  step: '150',
  baseMmr: '0.005',
  baseImr: '0.01',
  stepRate: '0.005',
  steps: 10,
};

/** Hyperliquid reports prices unrounded: solved prices are kept at the full 8 price decimals. */
const HL_TICK = '0.00000001';
/** The finest size step any Hyperliquid perpetual has (5 size decimals). */
const HL_LOT = '0.00001';
/** Mainnet margin tables (reference §4.3): 10x up to 20M notional then 5x, and 10x up to 3M then 5x. */
const HL_10X_20M = [
  'AAVE',
  'ADA',
  'APT',
  'AVAX',
  'BCH',
  'CRV',
  'DOGE',
  'ENA',
  'FARTCOIN',
  'HYPE',
  'kBONK',
  'kPEPE',
  'LINK',
  'LTC',
  'NEAR',
  'PUMP',
  'SUI',
  'TRUMP',
  'UNI',
  'WLD',
  'ZEC',
];
const HL_10X_3M = ['ARB', 'BNB', 'DOT', 'JUP', 'kSHIB', 'MKR', 'ONDO', 'PAXG', 'TON', 'TRX', 'XPL'];

/** A Hyperliquid USDC perpetual with two tiers: `lev1` up to `cap` notional, `lev2` above. */
const hl = (symbol: string, lot: string, cap: string, lev1: string, lev2: string): MarketSpec =>
  linear(symbol, symbol, 'USDC', HL_TICK, lot, 6, lev1, {
    kind: 'hyperliquid',
    tiers: [
      { cap, maxLeverage: lev1 },
      { cap: null, maxLeverage: lev2 },
    ],
  });

export const PRESETS: Record<string, VenuePreset> = {
  ringfence: {
    id: 'ringfence',
    description:
      "ringfence's own policy, the safest conventions: maintenance at the worse of entry and liquidation price, " +
      'taker fee to close inside maintenance and bankruptcy, prices rounded toward liquidation, no unrealized profit ' +
      'withdrawable; Binance bracket tables.',
    conventions: {
      mmBasis: 'worse',
      priceRounding: 'conservative',
      feeToCloseInMaintenance: true,
      feeInBankruptcy: true,
      takerFeeRate: '0.0005',
      removableCountsProfit: false,
      transferFloorRate: '0',
    },
    markets: [
      linear('BTCUSDT', 'BTC', 'USDT', '0.1', '0.001', 8, '125', BINANCE_BTCUSDT),
      linear('ETHUSDT', 'ETH', 'USDT', '0.01', '0.001', 8, '100', BINANCE_ETHUSDT),
      inverse('BTCUSD', 'BTC', '0.5', '1', '100', {
        kind: 'steps',
        baseLimit: '200',
        step: '150',
        baseMmr: '0.005',
        baseImr: '0.01',
        stepRate: '0.005',
        steps: 10,
      }),
    ],
  },
  'binance-usdm': {
    id: 'binance-usdm',
    description: 'Binance USDⓈ-M: tax-bracket maintenance measured at the liquidation price, no fee in LP.',
    conventions: binanceConventions,
    markets: [
      linear('BTCUSDT', 'BTC', 'USDT', '0.1', '0.001', 8, '125', BINANCE_BTCUSDT),
      linear('ETHUSDT', 'ETH', 'USDT', '0.01', '0.001', 8, '100', BINANCE_ETHUSDT),
    ],
  },
  'bybit-linear': {
    id: 'bybit-linear',
    description:
      'Bybit USDT contracts: published isolated formula, maintenance at entry value; prices rounded long up, short down.',
    conventions: {
      mmBasis: 'entry',
      priceRounding: 'conservative',
      feeToCloseInMaintenance: false,
      feeInBankruptcy: false,
      takerFeeRate: '0.00055',
      removableCountsProfit: false,
      transferFloorRate: '0',
    },
    markets: [linear('BTCUSDT', 'BTC', 'USDT', '0.1', '0.001', 8, '100', BYBIT_BTCUSDT)],
  },
  'bybit-inverse': {
    id: 'bybit-inverse',
    description:
      'Bybit inverse (classic account): isolated — maintenance at entry value, no fee in the prices ' +
      '(BP = entry × L/(L ± 1)); cross — the taker fee to close in liquidation and bankruptcy prices; 0.5 tick.',
    conventions: {
      mmBasis: 'entry',
      priceRounding: 'conservative',
      feeToCloseInMaintenance: false,
      feeInBankruptcy: false,
      takerFeeRate: '0.00075',
      removableCountsProfit: false,
      transferFloorRate: '0',
    },
    // The classic account's cross formula (help.bybit.com 360039261334) keeps the fee to close in both prices.
    cross: { feeToCloseInMaintenance: true, feeInBankruptcy: true },
    markets: [inverse('BTCUSD', 'BTC', '0.5', '1', '100', BYBIT_INVERSE_STEPS)],
  },
  'bybit-inverse-uta': {
    id: 'bybit-inverse-uta',
    description:
      "Bybit inverse, unified trading account (isolated): the UTA article's closed form — maintenance at the " +
      'liquidation price, extra margin counted as extra / (1 ± taker fee); 0.5 tick.',
    conventions: {
      mmBasis: 'mark',
      priceRounding: 'conservative',
      feeToCloseInMaintenance: false,
      feeInBankruptcy: false,
      takerFeeRate: '0.00055',
      removableCountsProfit: false,
      transferFloorRate: '0',
    },
    extraMarginNetOfTakerFee: true,
    markets: [inverse('BTCUSD', 'BTC', '0.5', '1', '100', BYBIT_INVERSE_STEPS)],
  },
  'bitmex-inverse': {
    id: 'bitmex-inverse',
    description:
      'BitMEX XBTUSD: v1 step risk limits (200 XBT base, 150 XBT steps), exit taker fee folded into maintenance.',
    conventions: {
      mmBasis: 'mark',
      priceRounding: 'conservative',
      feeToCloseInMaintenance: true,
      feeInBankruptcy: false,
      takerFeeRate: '0.00075',
      removableCountsProfit: false,
      transferFloorRate: '0',
      // Position margin is on entry cost: contracts × multiplier / entry × IM rate (§3.2–3.3).
      imBasis: 'entry',
    },
    markets: [
      inverse('XBTUSD', 'XBT', '0.5', '1', '100', {
        kind: 'steps',
        baseLimit: '200',
        step: '150',
        baseMmr: '0.005',
        baseImr: '0.01',
        stepRate: '0.005',
        steps: 10,
      }),
    ],
  },
  hyperliquid: {
    id: 'hyperliquid',
    description:
      'Hyperliquid: maintenance = half the initial rate at max leverage, tier at the liquidation price, 10% transfer ' +
      'floor; prices unrounded (as its API reports liquidationPx).',
    conventions: {
      mmBasis: 'mark',
      priceRounding: 'nearest',
      feeToCloseInMaintenance: false,
      feeInBankruptcy: false,
      takerFeeRate: '0.00045',
      removableCountsProfit: true,
      transferFloorRate: '0.1',
    },
    markets: [
      hl('BTC', '0.00001', '150000000', '40', '20'),
      hl('ETH', '0.0001', '100000000', '25', '15'),
      hl('SOL', '0.01', '70000000', '20', '10'),
      hl('XRP', HL_LOT, '40000000', '20', '10'),
      ...HL_10X_20M.map((sym) => hl(sym, HL_LOT, '20000000', '10', '5')),
      ...HL_10X_3M.map((sym) => hl(sym, HL_LOT, '3000000', '10', '5')),
    ],
    anySymbol: { quote: 'USDC', settleDp: 6, tickSize: HL_TICK, lotSize: HL_LOT },
  },
  dydx: {
    id: 'dydx',
    description:
      'dYdX v4: MMF = IMF × maintenance fraction per liquidity tier, oracle-priced, IMF scaled by open interest.',
    conventions: {
      mmBasis: 'mark',
      priceRounding: 'nearest',
      feeToCloseInMaintenance: false,
      feeInBankruptcy: false,
      takerFeeRate: '0.0005',
      removableCountsProfit: true,
      transferFloorRate: '0',
    },
    markets: [
      linear('BTC-USD', 'BTC', 'USDC', '1', '0.0001', 6, '20', {
        kind: 'fraction',
        imf: '0.05',
        maintenanceFraction: '0.6',
        oiLowerCap: '0',
        oiUpperCap: '0',
      }),
      linear('ETH-USD', 'ETH', 'USDC', '0.1', '0.001', 6, '20', {
        kind: 'fraction',
        imf: '0.05',
        maintenanceFraction: '0.6',
        oiLowerCap: '0',
        oiUpperCap: '0',
      }),
      linear('SOL-USD', 'SOL', 'USDC', '0.01', '0.1', 6, '10', {
        kind: 'fraction',
        imf: '0.1',
        maintenanceFraction: '0.5',
        oiLowerCap: '20000000',
        oiUpperCap: '50000000',
      }),
    ],
  },
  'deribit-linear': {
    id: 'deribit-linear',
    description: 'Deribit USDC linear perpetuals: IM% = 2% + size × 0.005%, MM% = 1% + size × 0.005% (BTC).',
    conventions: {
      mmBasis: 'mark',
      priceRounding: 'conservative',
      feeToCloseInMaintenance: false,
      feeInBankruptcy: false,
      takerFeeRate: '0.0005',
      removableCountsProfit: false,
      transferFloorRate: '0',
    },
    markets: [
      linear('BTC_USDC-PERPETUAL', 'BTC', 'USDC', '0.5', '0.0001', 6, '50', {
        kind: 'sizeLinear',
        imBase: '0.02',
        mmBase: '0.01',
        slopePerUnit: '0.00005',
        maxLeverage: '50',
      }),
      linear('SOL_USDC-PERPETUAL', 'SOL', 'USDC', '0.01', '0.1', 6, '25', {
        kind: 'sizeLinear',
        imBase: '0.04',
        mmBase: '0.02',
        slopePerUnit: '0.000005',
        maxLeverage: '25',
      }),
    ],
  },
  okx: {
    id: 'okx',
    description:
      'OKX USDT-margined swaps, isolated: initial margin on entry value, liquidation when margin balance falls to ' +
      'notional at mark × (tier MMR + taker fee rate); tiers by contracts, the whole position at its tier rate.',
    conventions: {
      mmBasis: 'mark',
      priceRounding: 'nearest',
      feeToCloseInMaintenance: true,
      feeInBankruptcy: false,
      takerFeeRate: '0.0005',
      removableCountsProfit: false,
      transferFloorRate: '0',
      imBasis: 'entry',
    },
    // Cross initial margin is on mark (§7.1).
    cross: { imBasis: 'mark' },
    customDeduction: 'none',
    markets: [
      {
        // Tier 1 of OKX's ADAUSDT perpetual table effective 2023-05-19 (0–1,500 contracts, MMR 0.50%, min IMR
        // 1.33%, 75x); larger positions need the venue's tiers inline (the table's caps are contract counts, which
        // notional brackets cannot hold). 10 ADA a contract since 2022-04-14 (was 100), tick 0.00001.
        ...linear('ADA-USDT-SWAP', 'ADA', 'USDT', '0.00001', '1', 8, '75', {
          kind: 'brackets',
          deduction: 'none',
          tiers: [{ cap: null, mmr: '0.005', maxLeverage: '75' }],
        }),
        multiplier: '10',
        maxSize: '1500',
      },
    ],
  },
  gate: {
    id: 'gate',
    description:
      "Gate USDT futures: Gate's published formula LP = (entry ∓ margin / multiplier / size) / (1 ∓ (MMR + taker " +
      'fee)); initial margin = value / leverage + fee to close (docs/venues/gate.md).',
    conventions: {
      mmBasis: 'mark',
      priceRounding: 'nearest',
      feeToCloseInMaintenance: true,
      feeInBankruptcy: false,
      takerFeeRate: '0.00075',
      removableCountsProfit: false,
      transferFloorRate: '0',
    },
    initialMarginIncludesFeeToClose: true,
    markets: [
      {
        // Contract 0.0001 BTC, tick 0.1 (Gate API contract example). Tiers 1–3 of the BTC_USDT risk-limit ladder
        // as returned by /futures/usdt/risk_limit_tiers on 2026-08-09 (third-party capture; deductions asserted);
        // the table ends at 1,500,000 USDT and calc refuses positions beyond it.
        ...linear('BTC_USDT', 'BTC', 'USDT', '0.1', '1', 8, '200', {
          kind: 'brackets',
          tiers: [
            { cap: '500000', mmr: '0.003', maxLeverage: '200', deduction: '0' },
            { cap: '1000000', mmr: '0.0035', maxLeverage: '150.01', deduction: '250' },
            { cap: '1500000', mmr: '0.004', maxLeverage: '125', deduction: '750' },
          ],
        }),
        multiplier: '0.0001',
      },
    ],
  },
};

export interface LoadedVenue {
  id: string;
  /** Isolated conventions (and the engine's, for the ringfence preset). */
  conventions: MarginConventions;
  /** The same with the preset's cross-mode differences applied. */
  crossConventions: MarginConventions;
  markets: Map<string, Instrument>;
  /** The specs the markets were built from (calc re-derives a market from them for a position's maxLeverage). */
  specs: Map<string, MarketSpec>;
  preset: VenuePreset;
  /** The netted silo model's parameters when a scenario gives none (the engine's under "live"; else the default). */
  netting?: NettingParams;
}

const loaded = new Map<string, LoadedVenue>();

/**
 * The preset named `id`, by own property only: a user-supplied name such as `__proto__`, `constructor` or
 * `toString` is an unknown venue, never something inherited from Object.prototype.
 */
export function presetOf(id: string): VenuePreset | undefined {
  return Object.hasOwn(PRESETS, id) ? PRESETS[id] : undefined;
}

/** A venue's conventions and instruments, built (and their published tables asserted) once. */
export function venue(id: string): LoadedVenue {
  const hit = loaded.get(id);
  if (hit) return hit;
  const p = presetOf(id);
  if (!p)
    throw new InputError(
      'venue',
      `unknown venue "${id}" (known: ${Object.keys(PRESETS).join(', ')})`,
      'UNKNOWN_VENUE',
    );
  const v: LoadedVenue = {
    id,
    conventions: buildConventions(p.conventions),
    crossConventions: buildConventions({ ...p.conventions, ...p.cross }),
    markets: new Map(p.markets.map((m) => [m.symbol, buildInstrument(m)])),
    specs: new Map(p.markets.map((m) => [m.symbol, m])),
    preset: p,
  };
  loaded.set(id, v);
  return v;
}

export { LEVERAGE_DP };
