/**
 * setCollateralAsset (admin): an asset other than a silo's settle asset that named silos may hold as collateral
 * (engine collateral.ts). Validated in full, then applied; every silo holding it is re-checked under the new terms.
 */
import { type CollateralAsset, collateralKey, parseCollateralAsset } from '../collateral.ts';
import type { EngineState } from '../state.ts';
import type { Cmd } from '../types.ts';

export function setCollateralAsset(e: EngineState, cmd: Cmd<'setCollateralAsset'>): undefined {
  const c: CollateralAsset = parseCollateralAsset(e, cmd);
  // ---- validated ----
  if (!e.assets.has(c.asset)) e.assets.set(c.asset, c.dp);
  e.collateralAssets.set(collateralKey(c.asset, c.settle), c);
  // New ratios move every holder's equity: each is re-filed and checked before the command ends.
  for (const s of c.holders) e.ledger.touched.add(s.bucket);
  e.events.push({
    type: 'collateralAssetSet',
    asset: c.asset,
    settle: c.settle,
    dp: c.dp,
    priceMarket: c.priceMarket,
    haircuts: c.bands.map((b) => ({ upTo: b.upTo, ratio: b.ratio })),
    conversionPenalty: c.penalty,
    enabled: c.enabled,
  });
  return undefined;
}
