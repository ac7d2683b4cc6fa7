/**
 * Canonical state hash: every piece of state that affects future behaviour, serialized in a fixed order (markets
 * and accounts by id, orders in book priority order) into SHA-256. Two engines that applied the same commands
 * hash equal; any divergence, however small, shows. Computed on demand (snapshots, tests), never per command.
 * Covers the stored part of EngineState (state.ts), never the per-command scratch.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_NETTING } from '../core/silo.ts';
import { DEFAULT_STRATEGY_MARGIN, strategyMarginParamsToJson } from '../core/strategy/index.ts';
import { DEFAULT_CLOSE_ORDER } from './account.ts';
import type { EngineState } from './state.ts';

export function stateHash(e: EngineState): string {
  const h = createHash('sha256');
  const put = (...parts: (string | number | bigint | boolean | null)[]) => h.update(`${parts.join('|')}\n`);
  put('engine', e.seq, e.lastTime, e.nextOrderId);
  // Only when set, so the hash of every state from before silos is unchanged.
  if (e.netting !== DEFAULT_NETTING)
    put(
      'netting',
      e.netting.floor,
      e.netting.sameBase,
      e.netting.correlations.map((c) => `${c.a}:${c.b}:${c.rho}`).join(','),
      e.netting.grid.join(','),
    );
  // The option strategy models' parameters, only once setStrategyMargin set them (older hashes unchanged).
  if (e.strategyMargin !== DEFAULT_STRATEGY_MARGIN)
    put('strategyMargin', JSON.stringify(strategyMarginParamsToJson(e.strategyMargin)));
  // Accepted collateral assets, only when there are any (older hashes unchanged); holdings are ledger accounts.
  for (const key of [...e.collateralAssets.keys()].sort()) {
    const c = e.collateralAssets.get(key)!;
    const bands = c.bands.map((b) => `${b.upTo ?? '-'}:${b.ratio}`).join(',');
    put('collateral', key, c.dp, c.priceMarket, bands, c.penalty, c.enabled);
  }
  // Options' vol feeds, only when there are any (the hash of every state without options is unchanged).
  for (const key of [...e.optionFeeds.keys()].sort()) {
    const f = e.optionFeeds.get(key)!;
    put(
      'volFeed',
      key,
      JSON.stringify(f.raw),
      f.quoteTime,
      f.scale,
      f.atmIv,
      f.validity,
      f.reason,
      f.reported,
      f.spot,
      f.forward,
      f.markTime,
      f.lastSpot,
      f.lastSpotTime,
      f.twapNum,
      f.twapMs,
      JSON.stringify(f.guards, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
    );
  }
  for (const sym of [...e.markets.keys()].sort()) {
    const m = e.markets.get(sym)!;
    put(
      'market',
      sym,
      JSON.stringify(m.config),
      m.mark,
      m.last,
      m.openInterestLots,
      m.openPositions,
      m.unsettledFunding,
      m.closed,
      m.twapNum,
      m.twapMs,
      m.lastIndexTime,
      [...m.paused].sort().join(':'),
    );
    // Only when set, so the hash of every state without a closing market (all journals before it) is unchanged.
    if (m.reduceOnly) put('reduceOnly', sym);
    if (m.oracle) put('oracle', m.oracle.canonical());
    if (m.funding) put('funding', m.funding.canonical());
    const d = m.dynamicMargin;
    if (d) {
      const w = d.ewma;
      put('dynamicMargin', d.factor, d.pending?.factor ?? null, d.pending?.effectiveAt ?? null, d.nextReview);
      put('dynamicMarginVol', w.price, w.time, w.variance, w.samples, d.lastVol);
    }
    for (const o of m.book.orders()) put('order', o.id, o.accountId, o.side, o.priceTicks, o.remainingLots);
  }
  for (const id of [...e.accounts.keys()].sort()) {
    const a = e.accounts.get(id)!;
    put('account', id, a.n);
    for (const asset of [...a.wallets.keys()].sort())
      put('wallet', asset, a.wallets.get(asset)!.crossOrderRequirement);
    for (const silo of [...a.silos.values()].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))) {
      put('silo', silo.id, silo.asset, silo.riskModel, silo.bucket.label, silo.orderRequirement);
      // Only when not the default, so the hash of a state whose silos never chose a close order is unchanged.
      if (silo.closeOrder !== DEFAULT_CLOSE_ORDER) put('siloCloseOrder', silo.closeOrder);
      // Only when set, so the hash of a state whose silos never had auto-add is unchanged.
      if (silo.autoAdd !== null || silo.marginCalled)
        put(
          'siloAutoAdd',
          silo.autoAdd ? `${silo.autoAdd.policy}:${silo.autoAdd.trigger}` : null,
          silo.marginCalled,
        );
      // Only when parked, so the hash of a state without rebalancing is unchanged.
      if (silo.rebalanceParked) put('siloRebalanceParked', silo.id);
    }
    // The rebalancing agent's settings in asset order (only when on), the day's counter with them.
    for (const asset of [...a.rebalancing.keys()].sort()) {
      const r = a.rebalancing.get(asset)!;
      put('rebalancing', asset, r.givers.join(','), r.receivers.join(','), r.trigger, r.target, r.buffer);
      put('rebalancingLimits', r.maxPerMove, r.maxPerDay, r.day, r.movedToday);
      // Only when not the default, so older hashes are unchanged.
      if (r.holdings !== 'move') put('rebalancingHoldings', r.holdings);
    }
    for (const sym of [...a.positions.keys()].sort()) {
      const p = a.positions.get(sym)!;
      if (p.silo !== null) put('leg', p.silo.id);
      put(
        'position',
        sym,
        p.mode,
        p.leverage,
        p.sign,
        p.lots,
        p.entryPrice,
        p.realizedPnl,
        p.openOrders,
        p.fundingIndex,
        p.fundingEpoch,
        p.autoAdd ? `${p.autoAdd.policy}:${p.autoAdd.trigger}` : null,
        p.liquidationCooldownUntil,
        p.marginCalled,
      );
    }
    for (const oid of [...a.orders.keys()].sort((x, y) => x - y)) {
      const o = a.orders.get(oid)!;
      put(
        'open',
        oid,
        o.tif,
        o.reduceOnly,
        o.clientOrderId,
        o.stp,
        o.mode,
        o.reserved,
        o.reservedLots,
        o.sizeLots,
      );
      // Only for trigger orders, so the hash of every state without them is unchanged. An untriggered one's price
      // and size are here too (it rests in no book, whose orders are hashed above).
      if (o.trigger !== undefined) {
        const t = o.trigger;
        put('trigger', t.kind, t.priceTicks, t.orderType, t.triggered, o.side, o.priceTicks, o.remainingLots);
      }
    }
  }
  // Vaults, only when there are any (the hash of every state without them is unchanged); their accounts above.
  for (const id of [...e.vaults.keys()].sort()) {
    const v = e.vaults.get(id)!;
    const l = v.limits;
    put(
      'vault',
      id,
      v.manager,
      v.asset,
      v.lockupMs,
      v.performanceFee,
      v.managementFee,
      v.totalShares,
      v.lastFeeTime,
    );
    put('vaultLimits', l.maxLeverage, l.maxNotionalPerMarket, l.markets.join(','));
    for (const [account, h] of v.depositors) put('vaultHolder', account, h.shares, h.hwm, h.lockedUntil);
    for (const r of v.queue) put('vaultQueued', r.account, r.shares, r.requestedAt);
  }
  // Cross-shard transfers, only when there are any: both directions, sorted by id (idempotency depends on them).
  for (const dir of [e.shardTransfers.out, e.shardTransfers.in])
    for (const id of [...dir.keys()].sort()) {
      const t = dir.get(id)!;
      put(
        'shardTransfer',
        t.direction,
        id,
        t.account,
        t.asset,
        t.amount,
        t.peer,
        t.status,
        t.createdAt,
        t.updatedAt,
      );
    }
  const balances = e.ledger
    .accounts()
    .map((l) => `${l.label}=${l.balance}`)
    .sort();
  for (const b of balances) put('balance', b);
  return h.digest('hex');
}
