/**
 * The simulated venue: its markets (one replayed from data, two synthetic) and the margin policies compared on them.
 *
 * Every market is an oracle-priced perpetual with one feed ('feed', mark = index) and 8-hour funding, so the replay
 * goes through the engine's full price path: oracle quote → index → mark → liquidation sweep; funding times run
 * when a quote or tick passes them. Maintenance rules are ringfence's defaults: the `ringfence` preset's Binance
 * brackets for BTCUSDT and ETHUSDT, and an illustrative bracket table for the synthetic SOLUSDT.
 */
import { PRESETS, type RuleSpec } from '../core/presets.ts';
import type { DynamicMarginSpec, LiquidationSpec, MarginMode, MarketConfig } from '../engine/types.ts';

/** A synthetic market: log-returns β × the replayed market's plus independent noise, and one shock of its own. */
export interface SyntheticSpec {
  startPrice: number;
  beta: number;
  /** Target correlation of 1-minute returns with the replayed market. */
  correlation: number;
  shock: {
    /** Peak-to-trough move, e.g. -0.18. */
    depth: number;
    /** Minutes from the start of the shock to the trough. */
    minutes: number;
    /** Fraction of the move given back afterwards, over `recoveryMinutes`. */
    recovery: number;
    recoveryMinutes: number;
  };
}

export interface SimMarket {
  config: MarketConfig;
  /** null: replayed from the input file. */
  synthetic: SyntheticSpec | null;
  /** Share of planned positions on this market, and the chance a position here is long. */
  weight: number;
  longBias: number;
}

const rule = (symbol: string): RuleSpec => {
  const m = PRESETS.ringfence!.markets.find((x) => x.symbol === symbol);
  if (!m) throw new Error(`preset ringfence has no ${symbol}`);
  return m.risk;
};

/** Oracle and funding shared by every simulated market; staleness is set per run from the data's spacing. */
function perpetual(
  base: Omit<MarketConfig, 'oracle' | 'funding' | 'kind' | 'quote' | 'settleDp'>,
  stalenessMs: number,
): MarketConfig {
  return {
    ...base,
    kind: 'linear',
    quote: 'USDT',
    settleDp: 8,
    oracle: {
      sources: [{ name: 'feed', weight: 1 }],
      stalenessMs,
      maxDeviation: '0.05',
      minSources: 1,
      // A replay follows its data: a jump is never clamped (the index would lag the file).
      maxJump: '0.5',
      markMethod: 'index',
    },
    funding: {
      intervalMs: 8 * 3_600_000,
      interestRate: '0.0001',
      cap: { kind: 'mmrMultiple', k: '0.75' },
      impactMargin: '200',
    },
  };
}

export const SOLUSDT_RISK: RuleSpec = {
  kind: 'brackets',
  tiers: [
    { cap: '10000', mmr: '0.005', maxLeverage: '100' },
    { cap: '50000', mmr: '0.01', maxLeverage: '50' },
    { cap: '250000', mmr: '0.02', maxLeverage: '25' },
    { cap: '1000000', mmr: '0.05', maxLeverage: '10' },
    { cap: null, mmr: '0.1', maxLeverage: '5' },
  ],
};

/** The three markets; `stalenessMs` must exceed the data's largest gap (see simulate.ts). */
export function simMarkets(stalenessMs: number): SimMarket[] {
  const fees = {
    takerFee: '0.0005',
    makerFee: '0.0002',
    limitBand: '0.1',
    marketBand: '0.05',
    defaultLeverage: '10',
  };
  return [
    {
      config: perpetual(
        {
          symbol: 'BTCUSDT',
          base: 'BTC',
          tickSize: '0.1',
          lotSize: '0.001',
          maxLeverage: '125',
          risk: rule('BTCUSDT'),
          ...fees,
        },
        stalenessMs,
      ),
      synthetic: null,
      weight: 0.5,
      longBias: 0.6,
    },
    {
      config: perpetual(
        {
          symbol: 'ETHUSDT',
          base: 'ETH',
          tickSize: '0.01',
          lotSize: '0.001',
          maxLeverage: '100',
          risk: rule('ETHUSDT'),
          ...fees,
        },
        stalenessMs,
      ),
      synthetic: {
        startPrice: 3300,
        beta: 1.15,
        correlation: 0.8,
        shock: { depth: -0.18, minutes: 20, recovery: 0.5, recoveryMinutes: 360 },
      },
      weight: 0.3,
      longBias: 0.6,
    },
    {
      config: perpetual(
        {
          symbol: 'SOLUSDT',
          base: 'SOL',
          tickSize: '0.01',
          lotSize: '0.01',
          maxLeverage: '100',
          risk: SOLUSDT_RISK,
          ...fees,
        },
        stalenessMs,
      ),
      synthetic: {
        startPrice: 190,
        beta: 1.4,
        correlation: 0.7,
        shock: { depth: -0.25, minutes: 45, recovery: 0.4, recoveryMinutes: 720 },
      },
      weight: 0.2,
      longBias: 0.65,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Policies

export type ConventionsPreset = 'ringfence' | 'bybit-linear' | 'hyperliquid' | 'binance-usdm';

export interface Policy {
  id: string;
  description: string;
  /** Margin mode of every trader position. */
  mode: MarginMode;
  /** Whether traders who opted in to auto-add margin get it (isolated only). */
  autoAdd: boolean;
  /** The markets' liquidation policy. */
  liquidation: LiquidationSpec;
  /** Engine conventions (liquidation price, maintenance basis): a core venue preset. */
  conventions: ConventionsPreset;
  /**
   * Hybrid: a trader planning two or more positions opts in with probability `share` and holds them all in one
   * `netted` silo, funded with what the isolated policy puts into those positions (see runner.ts); everyone else
   * stays isolated (`mode`). Absent: no silos.
   */
  nettedSilos?: { share: number };
  /**
   * The rebalancing agent (runner.ts openRebalancing): every trader who opted in to topping up and plans two or more
   * positions holds each in its own silo, with the rest of its deposit in a reserve silo, and lets the agent move
   * collateral between them; everyone else stays isolated (`mode`). Absent: no agent.
   */
  rebalance?: true;
  /**
   * Collateral in BTC (runner.ts openBtcCollateral): every trader who opted in to topping up and plans a position on a
   * BTC market holds that position in its own standalone silo funded with BTC (its initial margin's worth after the
   * haircut) and the opening fee in USDT; its other positions, and everyone else, stay isolated (`mode`). Absent: no
   * collateral asset.
   */
  btcCollateral?: true;
  /**
   * Vaults (vaults.ts): three vaults created at the start, traded by their managers as `vault:<id>` accounts, and a
   * seeded share of the traders who put a stake into one of them on top of their own deposit; everyone trades as
   * under `mode`. Absent: no vaults.
   */
  vaults?: true;
  /** Volatility-adjusted margin on every market (docs/dynamic-margin.md). Absent: the static tables. */
  dynamicMargin?: DynamicMarginSpec;
}

/**
 * The vol-adjusted policy's dynamic margin: a factor of 1 up to 50% annualised volatility (BTC's ordinary range),
 * up to 2× the static table, moved at most 0.25 an hour, raises announced an hour ahead.
 */
export const SIM_DYNAMIC_MARGIN: DynamicMarginSpec = {
  referenceVol: '0.5',
  maxFactor: '2',
  maxStep: '0.25',
  reviewMs: 3_600_000,
  noticeMs: 3_600_000,
  lambda: '0.94',
  sampleMs: 60_000,
  minSamples: 30,
};

/** Opt-in share of the `hybrid` policy; `hybrid:<share>` (a decimal in [0, 1]) names another. */
export const DEFAULT_HYBRID_SHARE = 0.5;

/**
 * The policies compared. The three margin regimes run on ringfence's own conventions and default liquidation
 * policy; the '-style' ones are isolated runs with a venue's conventions preset and the LiquidationSpec variant
 * types.ts attributes to that venue — the mechanism, not a replica of the venue's engine.
 */
export const POLICIES: readonly Policy[] = [
  {
    id: 'isolated',
    description: 'every position isolated; no auto-add',
    mode: 'isolated',
    autoAdd: false,
    liquidation: {},
    conventions: 'ringfence',
  },
  {
    id: 'cross',
    description: 'every position cross: the whole wallet backs every position',
    mode: 'cross',
    autoAdd: false,
    liquidation: {},
    conventions: 'ringfence',
  },
  {
    id: 'hybrid',
    description:
      'isolated, except that half of the traders with two or more positions hold them in one netted silo',
    mode: 'isolated',
    autoAdd: false,
    liquidation: {},
    conventions: 'ringfence',
    nettedSilos: { share: DEFAULT_HYBRID_SHARE },
  },
  {
    id: 'isolated+auto-add',
    description: 'isolated; traders who opted in top up from free balance (auto-add margin)',
    mode: 'isolated',
    autoAdd: true,
    liquidation: {},
    conventions: 'ringfence',
  },
  {
    id: 'isolated+rebalance',
    description:
      'isolated; traders who opted in hold each position in its own silo and the rest in a reserve silo, and the rebalancing agent moves collateral from the boxes with spare to the one at its trigger',
    mode: 'isolated',
    autoAdd: false,
    liquidation: {},
    conventions: 'ringfence',
    rebalance: true,
  },
  {
    id: 'isolated+btc-collateral',
    description:
      'isolated; traders who opted in hold their BTCUSDT position in its own silo funded with BTC (the initial margin at entry ÷ the 0.95 haircut, bought at the first price) and the opening fee in USDT, sold to the insurance fund at 5% under the index when the silo is liquidated or cannot pay',
    mode: 'isolated',
    autoAdd: false,
    liquidation: {},
    conventions: 'ringfence',
    btcCollateral: true,
  },
  {
    id: 'vaults',
    description:
      'isolated; three vaults (a 20x trend follower, a market-making style inventory, a short-volatility writer proxy) traded on BTCUSDT by their managers, with 20% of the traders depositing a stake of half their deposit on top of it',
    mode: 'isolated',
    autoAdd: false,
    liquidation: {},
    conventions: 'ringfence',
    vaults: true,
  },
  {
    id: 'vol-adjusted',
    description:
      'isolated, with volatility-adjusted margin on every market: rates × a factor following the index’s realised volatility (1 at 50% a year, up to 2, 0.25 an hour, raises an hour after notice)',
    mode: 'isolated',
    autoAdd: false,
    liquidation: {},
    conventions: 'ringfence',
    dynamicMargin: SIM_DYNAMIC_MARGIN,
  },
  {
    id: 'bybit-style',
    description: 'isolated; Bybit conventions (maintenance at entry), partial liquidation down a risk tier',
    mode: 'isolated',
    autoAdd: false,
    liquidation: { partial: 'tier', adlRanking: 'pnlLeverage' },
    conventions: 'bybit-linear',
  },
  {
    id: 'binance-style',
    description:
      'isolated; Binance conventions (maintenance at mark), full close, leverage-then-PnL ADL ranking',
    mode: 'isolated',
    autoAdd: false,
    liquidation: { partial: 'full', adlRanking: 'leveragePnl' },
    conventions: 'binance-usdm',
  },
  {
    id: 'hyperliquid-style',
    description:
      'isolated; Hyperliquid conventions, 20% chunks above 100k with a 30 s cooldown, backstop below 2/3',
    mode: 'isolated',
    autoAdd: false,
    liquidation: {
      chunkNotional: '100000',
      chunkFraction: '0.2',
      cooldownMs: 30_000,
      backstopRatio: '0.6666666667',
    },
    conventions: 'hyperliquid',
  },
];

/**
 * What `ringfence simulate` (and the demo) runs when no list is given: every policy but the three of issue 22, which
 * `--policies dynamic-risk` runs beside the ones they are compared with (they would add to the demo's time).
 */
export const DEFAULT_POLICY_IDS = POLICIES.filter(
  (p) => !p.rebalance && !p.dynamicMargin && !p.btcCollateral && !p.vaults,
).map((p) => p.id);
/** `--policies vaults`: the vaults policy beside isolated (the same traders without their stakes' vaults). */
export const VAULTS_POLICY_IDS: readonly string[] = ['isolated', 'vaults'];
export const ALL_POLICY_IDS = POLICIES.map((p) => p.id);
/**
 * `--policies dynamic-risk`: the rebalancing agent, collateral in BTC and volatility-adjusted margin next to what
 * they are compared with.
 */
export const DYNAMIC_RISK_POLICY_IDS: readonly string[] = [
  'isolated',
  'isolated+auto-add',
  'isolated+rebalance',
  'isolated+btc-collateral',
  'vol-adjusted',
  'cross',
];

/** A policy by id; `hybrid:<share>` is the hybrid policy with that opt-in share (e.g. hybrid:0.25, hybrid:1). */
export function policyById(id: string): Policy | undefined {
  const known = POLICIES.find((p) => p.id === id);
  if (known) return known;
  const m = /^hybrid:((?:0|1)(?:\.\d{1,6})?|\.\d{1,6})$/.exec(id);
  const share = m ? Number(m[1]) : Number.NaN;
  if (!(share >= 0 && share <= 1)) return undefined;
  const hybrid = POLICIES.find((p) => p.nettedSilos !== undefined)!;
  const pct = Math.round(share * 1e4) / 100;
  return {
    ...hybrid,
    id,
    description: `isolated, except that ${pct}% of the traders with two or more positions hold them in one netted silo`,
    nettedSilos: { share },
  };
}

/**
 * The netted model's correlation table for the simulated markets (setNetting): each synthetic market's configured
 * correlation with the replayed one, between their bases; between two synthetic bases the product of the two, which
 * is what their construction implies (each is β × the replayed returns plus noise independent of everything else).
 * Rounded toward zero to 2 decimals: a smaller |rho| grants less offset, so rounding never makes the silo laxer.
 */
export function simCorrelations(markets: readonly SimMarket[]): { a: string; b: string; rho: string }[] {
  const replayed = markets.find((m) => m.synthetic === null);
  if (!replayed) return [];
  const toward0 = (x: number) => {
    // Float products (0.8 × 0.7 = 0.5599999…) are cleaned to 9 decimals before truncating.
    const c = Math.trunc(Math.round(x * 1e9) / 1e7) / 100;
    return c.toFixed(2);
  };
  const synthetic = markets.filter((m) => m.synthetic !== null);
  const out: { a: string; b: string; rho: string }[] = [];
  for (const m of synthetic)
    out.push({ a: replayed.config.base, b: m.config.base, rho: toward0(m.synthetic!.correlation) });
  for (let i = 0; i < synthetic.length; i++)
    for (let j = i + 1; j < synthetic.length; j++)
      out.push({
        a: synthetic[i]!.config.base,
        b: synthetic[j]!.config.base,
        rho: toward0(synthetic[i]!.synthetic!.correlation * synthetic[j]!.synthetic!.correlation),
      });
  return out.filter((c) => c.a !== c.b && c.rho !== '0.00' && c.rho !== '-0.00');
}
