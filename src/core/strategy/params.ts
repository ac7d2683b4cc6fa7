/**
 * Parameters of the strategy risk models and their strict JSON form (decimal strings).
 *
 * Unpaired-call scales default to Derive's mainnet deploy values, IM 1.2 / MM 1.1 (v2-core config-mainnet.sol,
 * ../shared/reference/options-margin.md §2.3), bounded to Derive's `setOptionMarginParams` range [1, 3]; ringfence
 * also requires IM ≥ MM so a silo's initial margin is never below its maintenance margin.
 */
import { formatDecimal, InputError, parseDecimal } from '../fixed.ts';
import { WAD } from '../options/fixedmath.ts';
import {
  DEFAULT_SCENARIO_PARAMS,
  parseScenarioParams,
  type ScenarioParamsByUnderlying,
  scenarioParamsToJson,
} from './scenario-params.ts';

export interface StrategyMarginParams {
  /** maxLoss model: the charge on a group's net short calls/delta-one at +∞ is scale × forward × units (WAD). */
  unpairedIMScale: bigint;
  unpairedMMScale: bigint;
  /** scenario model, per underlying. */
  scenario: ScenarioParamsByUnderlying;
}

export const DEFAULT_STRATEGY_MARGIN: StrategyMarginParams = Object.freeze({
  unpairedIMScale: (12n * WAD) / 10n,
  unpairedMMScale: (11n * WAD) / 10n,
  scenario: DEFAULT_SCENARIO_PARAMS,
});

const FIELDS = ['unpairedIMScale', 'unpairedMMScale', 'scenario'] as const;
const SCALE_MIN = WAD;
const SCALE_MAX = 3n * WAD;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scale(v: unknown, field: string): bigint {
  const x = parseDecimal(v, field, { dp: 18 });
  if (x < SCALE_MIN || x > SCALE_MAX) throw new InputError(field, 'must be within [1, 3]');
  return x;
}

/** Strict parse, defaults filled in: unknown fields and bad values are InputErrors naming the field. */
export function parseStrategyMarginParams(json: unknown, field: string): StrategyMarginParams {
  if (!isRecord(json))
    throw new InputError(field, 'must be an object {unpairedIMScale?, unpairedMMScale?, scenario?}');
  for (const k of Object.keys(json))
    if (!(FIELDS as readonly string[]).includes(k))
      throw new InputError(`${field}.${k}`, `is not a field (expected one of ${FIELDS.join(', ')})`);
  const d = DEFAULT_STRATEGY_MARGIN;
  const im =
    json.unpairedIMScale === undefined
      ? d.unpairedIMScale
      : scale(json.unpairedIMScale, `${field}.unpairedIMScale`);
  const mm =
    json.unpairedMMScale === undefined
      ? d.unpairedMMScale
      : scale(json.unpairedMMScale, `${field}.unpairedMMScale`);
  if (mm > im) throw new InputError(`${field}.unpairedMMScale`, 'must not exceed unpairedIMScale');
  return {
    unpairedIMScale: im,
    unpairedMMScale: mm,
    scenario:
      json.scenario === undefined ? d.scenario : parseScenarioParams(json.scenario, `${field}.scenario`),
  };
}

/** The JSON form parseStrategyMarginParams reads back to the same values. */
export function strategyMarginParamsToJson(p: StrategyMarginParams): Record<string, unknown> {
  return {
    unpairedIMScale: formatDecimal(p.unpairedIMScale, 18),
    unpairedMMScale: formatDecimal(p.unpairedMMScale, 18),
    scenario: scenarioParamsToJson(p.scenario),
  };
}
