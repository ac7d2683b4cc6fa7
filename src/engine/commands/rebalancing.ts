/**
 * setRebalancing: an account's opt-in to the collateral rebalancing agent (rebalance.ts) for one asset. Validated in
 * full before anything changes; the settings, the day's counter and every affected silo's filing change together.
 */
import { parseDecimal, pow10 } from '../../core/fixed.ts';
import { parseRate, RATE_ONE } from '../../core/rates.ts';
import {
  type Account,
  BACKSTOP_ACCOUNT,
  REBALANCE_HOLDINGS,
  type Rebalancing,
  type Silo,
} from '../account.ts';
import { DAY_MS } from '../rebalance.ts';
import { siloLegs } from '../risk.ts';
import type { EngineState } from '../state.ts';
import { type Cmd, type RebalanceHoldings, Rejection } from '../types.ts';
import { accountOf, MAX_AMOUNT_DIGITS, parsed, siloOf } from '../validate.ts';

/** Defaults: look at 80% of maintenance use, bring it down to the target (half the trigger), keep givers 10% over IM. */
const DEFAULT_TRIGGER = '0.8';
const DEFAULT_BUFFER = '0.1';

export function setRebalancing(e: EngineState, cmd: Cmd<'setRebalancing'>): undefined {
  const a = accountOf(e, cmd.account);
  if (a.id === BACKSTOP_ACCOUNT) throw new Rejection('UNKNOWN_ACCOUNT', 'the backstop holds no silos');
  if (typeof cmd.asset !== 'string' || !e.assets.has(cmd.asset))
    throw new Rejection('UNKNOWN_ASSET', `unknown asset ${JSON.stringify(cmd.asset)}`);
  if (typeof cmd.enabled !== 'boolean') throw new Rejection('INVALID_COMMAND', 'enabled must be boolean');
  const settings = cmd.enabled ? parseSettings(e, a, cmd) : null;
  // ---- validated ----
  const before = a.rebalancing.get(cmd.asset);
  if (settings === null) a.rebalancing.delete(cmd.asset);
  else {
    // The day's counter carries over a change of settings within the day (a new limit is not a fresh allowance).
    const today = Math.floor(e.now / DAY_MS);
    if (before !== undefined && before.day === today) settings.movedToday = before.movedToday;
    settings.day = today;
    a.rebalancing.set(cmd.asset, settings);
  }
  // Every silo of the asset is filed again: a receiver at (or no longer at) its trigger, none parked.
  for (const s of a.silos.values()) {
    if (s.asset !== cmd.asset) continue;
    s.rebalanceParked = false;
    for (const p of siloLegs(s)) e.liqDirty.add(p);
  }
  e.events.push({
    type: 'rebalancingSet',
    account: a.id,
    asset: cmd.asset,
    enabled: settings !== null,
    givers: settings?.givers ?? [],
    receivers: settings?.receivers ?? [],
    trigger: settings?.trigger ?? null,
    target: settings?.target ?? null,
    buffer: settings?.buffer ?? null,
    maxPerMove: settings?.maxPerMove ?? null,
    maxPerDay: settings?.maxPerDay ?? null,
    ...(settings !== null && settings.holdings !== 'move' ? { holdings: settings.holdings } : {}),
  });
  return undefined;
}

function parseSettings(e: EngineState, a: Account, cmd: Cmd<'setRebalancing'>): Rebalancing {
  const givers = siloList(a, cmd.givers, 'givers', cmd.asset);
  const receivers = siloList(a, cmd.receivers, 'receivers', cmd.asset);
  const trigger = parsed(() => parseRate(cmd.trigger ?? DEFAULT_TRIGGER, 'trigger'));
  if (trigger <= 0n || trigger >= RATE_ONE)
    throw new Rejection('INVALID_COMMAND', 'trigger is a margin ratio strictly between 0 and 1');
  const target = cmd.target === undefined ? trigger / 2n : parsed(() => parseRate(cmd.target, 'target'));
  if (target <= 0n || target >= trigger)
    throw new Rejection('INVALID_COMMAND', 'target is a margin ratio above 0 and below the trigger');
  const buffer = parsed(() => parseRate(cmd.buffer ?? DEFAULT_BUFFER, 'buffer'));
  if (buffer > 10n * RATE_ONE) throw new Rejection('INVALID_COMMAND', 'buffer is at most 10 (1,000%)');
  return {
    givers: givers.map((s) => s.id),
    receivers: receivers.map((s) => s.id),
    trigger,
    target,
    buffer,
    maxPerMove: limitOf(e, cmd.maxPerMove, cmd.asset, 'maxPerMove'),
    maxPerDay: limitOf(e, cmd.maxPerDay, cmd.asset, 'maxPerDay'),
    holdings: holdingsOf(cmd.holdings),
    day: 0,
    movedToday: 0n,
  };
}

function holdingsOf(input: unknown): RebalanceHoldings {
  if (input === undefined) return 'move';
  if (!REBALANCE_HOLDINGS.includes(input as RebalanceHoldings))
    throw new Rejection('INVALID_COMMAND', `holdings is one of ${REBALANCE_HOLDINGS.join(', ')}`);
  return input as RebalanceHoldings;
}

/** A list of the owner's silo ids in `asset`, each once, at least one. */
function siloList(a: Account, ids: unknown, field: string, asset: string): Silo[] {
  if (!Array.isArray(ids) || ids.length === 0)
    throw new Rejection('INVALID_COMMAND', `${field} must list at least one silo id`);
  const out: Silo[] = [];
  for (const id of ids) {
    const s = siloOf(a, id);
    if (s.asset !== asset)
      throw new Rejection('ASSET_MISMATCH', `silo ${s.id} holds ${s.asset}, not ${asset}`);
    if (out.includes(s)) throw new Rejection('INVALID_COMMAND', `${field} lists silo ${s.id} twice`);
    out.push(s);
  }
  return out;
}

/** An amount limit in the asset's units: absent or zero is no limit. */
function limitOf(e: EngineState, input: unknown, asset: string, field: string): bigint {
  if (input === undefined) return 0n;
  const dp = e.assets.get(asset)!;
  return parsed(() => parseDecimal(input, field, { dp, maxAbs: pow10(MAX_AMOUNT_DIGITS) }), 'INVALID_AMOUNT');
}
