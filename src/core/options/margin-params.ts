/**
 * Per-leg (standard) option margin parameters as data, one table per venue, keyed by underlying with a `default`
 * row for any other underlying. Decimal strings, parsed once to WAD by margin.ts. Dated snapshots from
 * ../shared/reference/options-margin.md §2 and venue-margin-rules.md §6.3, §7.2 — venues change them without
 * notice; check live values before relying on them for a real account.
 *
 * Why a `default` row: a venue publishes its BTC/ETH numbers; for another underlying ringfence takes the venue's
 * own published altcoin set where one exists (bit.com BCH, Derive SNX), else the stricter of its BTC/ETH values
 * (OKX's c), never a guess looser than what is published.
 */

/**
 * Deribit's standard margin shape, per 1 coin (inverse) or per 1 unit × underlying price (linear, bit.com's USD form):
 * short IM = max(a − OTM/U, b) + mark; short call MM = c + mark; short put MM = max(c, c·mark) + mark and
 * IM = max(IM, MM).
 */
export interface DeribitShapeSpec {
  /** IM share of the underlying before the OTM discount (0.15). */
  a: string;
  /** IM floor share of the underlying (0.10). */
  b: string;
  /** MM share of the underlying (0.075). */
  c: string;
}

/**
 * OKX unified account, non-portfolio margin [PUB S-OKX]: short IM = max(a, b − OTM/forward)·MF + mark;
 * MM call = c·MF + mark; MM put = max(c, c·mark)·MF + mark. Note OKX names the floor `a` and the cap `b`.
 */
export interface OkxSpec {
  /** IM floor share (0.1). */
  a: string;
  /** IM share before the OTM discount (0.15). */
  b: string;
  /** MM share (0.03 BTC, 0.05 ETH). */
  c: string;
  /** Margin factor of the seller's position tier; OKX's tier table was not retrieved (gap), so 1. */
  marginFactor: string;
}

/** Derive (Lyra v2) StandardManager option margin params (`setOptionMarginParams`) [PUB S-V2, S-V2-CFG]. */
export interface DeriveSpec {
  maxSpotReq: string;
  minSpotReq: string;
  mmCallSpotReq: string;
  mmPutSpotReq: string;
  MMPutMtMReq: string;
  unpairedIMScale: string;
  unpairedMMScale: string;
  mmOffsetScale: string;
}

export type ByUnderlying<T> = { default: T } & Record<string, T>;

/**
 * Deribit BTC/ETH: 0.15 / 0.10 / 0.075 — Deribit's table as reproduced by doc.tslab.pro [3P S-TSLAB] and published
 * identically by bit.com for coin-margined BTC/ETH [PUB S-BIT]. Other underlyings: bit.com's BCH set
 * 0.25 / 0.15 / 0.125 [PUB S-BIT], the only published Deribit-shaped altcoin parameters.
 */
export const DERIBIT_OPTION_PARAMS: ByUnderlying<DeribitShapeSpec> = {
  BTC: { a: '0.15', b: '0.10', c: '0.075' },
  ETH: { a: '0.15', b: '0.10', c: '0.075' },
  default: { a: '0.25', b: '0.15', c: '0.125' },
};

/**
 * OKX [PUB okx.com/help/ii-option-margin, 2024/2026]: a = 0.1, b = 0.15 for BTC and ETH; c = 0.03 (BTC), 0.05 (ETH).
 * Margin factor 1 (tier table a gap). Other underlyings: ETH's c, the stricter of the two published.
 */
export const OKX_OPTION_PARAMS: ByUnderlying<OkxSpec> = {
  BTC: { a: '0.1', b: '0.15', c: '0.03', marginFactor: '1' },
  ETH: { a: '0.1', b: '0.15', c: '0.05', marginFactor: '1' },
  default: { a: '0.1', b: '0.15', c: '0.05', marginFactor: '1' },
};

/**
 * Derive mainnet deploy parameters, v2-core `scripts/config-mainnet.sol` getSRMParams @ 7736900d (2026-01-21):
 * ETH/BTC default 0.15 / 0.13 / 0.09 / 0.09 / 0.09 / 1.2 / 1.1 / 1.05; SNX (the script's altcoin set) for others.
 * Deploy-time values, not necessarily live (the docs page's option rows were a gap).
 */
export const DERIVE_OPTION_PARAMS: ByUnderlying<DeriveSpec> = {
  BTC: deriveEthBtc(),
  ETH: deriveEthBtc(),
  default: {
    maxSpotReq: '0.25',
    minSpotReq: '0.225',
    mmCallSpotReq: '0.15',
    mmPutSpotReq: '0.15',
    MMPutMtMReq: '0.15',
    unpairedIMScale: '1.4',
    unpairedMMScale: '1.3',
    mmOffsetScale: '1.05',
  },
};

/** Derive's unit-test parameters, v2-core `test/config-test.sol` getSRMParams: the golden cases OPT-DRV-SRM-*. */
export const DERIVE_CONFIG_TEST: DeriveSpec = {
  maxSpotReq: '0.15',
  minSpotReq: '0.10',
  mmCallSpotReq: '0.075',
  mmPutSpotReq: '0.075',
  MMPutMtMReq: '0.075',
  unpairedIMScale: '1.2',
  unpairedMMScale: '1.1',
  mmOffsetScale: '1.05',
};

function deriveEthBtc(): DeriveSpec {
  return {
    maxSpotReq: '0.15',
    minSpotReq: '0.13',
    mmCallSpotReq: '0.09',
    mmPutSpotReq: '0.09',
    MMPutMtMReq: '0.09',
    unpairedIMScale: '1.2',
    unpairedMMScale: '1.1',
    mmOffsetScale: '1.05',
  };
}

/**
 * Derive StandardManager oracle contingency on options (`OracleContingencyParams`, IM only) [PUB S-V2]: when the
 * feed confidence is below `optionThreshold`, IM is reduced by (1 − confidence) · OCFactor · spot · |short size|.
 */
export interface DeriveOracleContingencySpec {
  optionThreshold: string;
  OCFactor: string;
}

/**
 * Mainnet deploy values, v2-core `scripts/config-mainnet.sol` (thresholds 0.55, OCFactor 1), every underlying.
 * Deploy-time values, not necessarily live.
 */
export const DERIVE_ORACLE_CONTINGENCY: ByUnderlying<DeriveOracleContingencySpec> = {
  default: { optionThreshold: '0.55', OCFactor: '1' },
};

/** The unit-test values behind OPT-DRV-SRM-OC-1 (TestStandardManager_Option::testOracleContingencyOnOptions). */
export const DERIVE_ORACLE_CONTINGENCY_CONFIG_TEST: DeriveOracleContingencySpec = {
  optionThreshold: '0.9',
  OCFactor: '0.1',
};

/**
 * Reg-T / CBOE naked short equity option, per share [3P S-ME, S-EDELTA; options-margin.md §3b]: premium +
 * max(underlyingPct · S − OTM, minimumPct · (S for calls, K for puts)). Broad-based index options use 15%.
 */
export interface RegTNakedSpec {
  underlyingPct: string;
  minimumPct: string;
  /** Shares per contract. */
  multiplier: string;
}

export const REG_T_EQUITY: RegTNakedSpec = { underlyingPct: '0.20', minimumPct: '0.10', multiplier: '100' };
export const REG_T_BROAD_INDEX: RegTNakedSpec = {
  underlyingPct: '0.15',
  minimumPct: '0.10',
  multiplier: '100',
};
