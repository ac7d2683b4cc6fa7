/**
 * The options policies' counterparty: the desk rests the other side of every leg a writer trades, at its limit, just
 * before the writer's combo, and withdraws what was not taken right after (as runner.ts's desk does for perpetuals).
 *
 * Option books: six accounts, one per option type and strike index mod 3 in its expiry's grid, so the legs of any
 * writer's combo (a condor's wings one or two strikes from its short legs) meet distinct accounts — a combo that
 * touches an account once has each fill decided exactly as a single order's would be — and every option market sits
 * in one desk's silo only (each re-mark re-checks the holders' silos: the fewer legs, the cheaper). Each holds its
 * options in a standalone silo funded from a house deposit, so it is never liquidated. The perpetual leg (a covered
 * call's) trades against the perpetuals' desk itself, isolated at 1x.
 */
import { ceilDiv, formatDecimal } from '../core/fixed.ts';
import { RATE_ONE } from '../core/rates.ts';
import type { Engine } from '../engine/engine.ts';
import type { Market } from '../engine/market.ts';
import type { ApplyResult, Command } from '../engine/types.ts';
import { SETTLE_ASSET } from './metrics.ts';
import { type ChainPlan, chainSymbol } from './options-chain.ts';

/** runner.ts's desk (the same name, so reports and tests read both kinds of run alike). */
export const DESK = 'desk';
export const HOUSE_DEPOSIT = '1000000000000';
const OPTION_DESKS = ['desk.P0', 'desk.P1', 'desk.P2', 'desk.C0', 'desk.C1', 'desk.C2'];
const DESK_SILO = 'options';
const DESK_SILO_FUNDS = '100000000000';

export interface DeskLeg {
  m: Market;
  /** The writer's side (the desk rests the other). */
  side: 'buy' | 'sell';
  size: bigint;
  price: bigint;
}

type Run = (cmd: Command, issuer: string | null) => ApplyResult;

export class OptionsDesk {
  /** The option desk of each option symbol of the chain. */
  private readonly deskOf = new Map<string, string>();

  constructor(
    private readonly engine: Engine,
    chain: ChainPlan,
    private readonly run: Run,
  ) {
    for (const x of chain.expiries) {
      x.putStrikes.forEach((k, i) => {
        this.deskOf.set(chainSymbol(chain, x.expiry, k, 'put'), `desk.P${i % 3}`);
      });
      x.callStrikes.forEach((k, i) => {
        this.deskOf.set(chainSymbol(chain, x.expiry, k, 'call'), `desk.C${i % 3}`);
      });
    }
  }

  /** The option desks' deposits and silos (at setup; throws if the engine refuses). */
  open(time: number): void {
    const must = (cmd: Command, account: string) => {
      const r = this.run(cmd, account);
      if (!r.ok) throw new Error(`options desk: ${cmd.type} rejected: ${r.code} ${r.message}`);
    };
    for (const account of OPTION_DESKS) {
      must({ type: 'deposit', time, account, asset: SETTLE_ASSET, amount: HOUSE_DEPOSIT }, account);
      must(
        { type: 'createSilo', time, account, silo: DESK_SILO, asset: SETTLE_ASSET, riskModel: 'standalone' },
        account,
      );
      must(
        { type: 'transferCollateral', time, account, from: 'free', to: DESK_SILO, amount: DESK_SILO_FUNDS },
        account,
      );
    }
  }

  /**
   * A limit at the mark on the tick grid (marks are finer than the tick), rounded in the desk's favour unless that
   * would leave the price band (a buy at most mark × (1 + band)); at least one tick.
   */
  static limitAt(m: Market, side: 'buy' | 'sell'): bigint {
    const tick = m.inst.tickSize;
    const mark = m.mark ?? tick;
    let ticks = side === 'buy' ? ceilDiv(mark, tick) : mark / tick;
    if (side === 'buy' && ticks * tick * RATE_ONE > mark * (RATE_ONE + m.limitBand)) ticks = mark / tick;
    return (ticks > 0n ? ticks : 1n) * tick;
  }

  /** Rests the other side of each leg at its limit; returns [account, order id] of each resting order. */
  quote(legs: readonly DeskLeg[], time: number): [string, number][] {
    const ids: [string, number][] = [];
    for (const l of legs) {
      const account = this.deskOf.get(l.m.symbol) ?? DESK;
      const r = this.run(
        {
          type: 'placeOrder',
          time,
          account,
          symbol: l.m.symbol,
          side: l.side === 'buy' ? 'sell' : 'buy',
          orderType: 'limit',
          price: formatDecimal(l.price, l.m.inst.priceDp),
          size: formatDecimal(l.size, l.m.inst.sizeDp),
          timeInForce: 'GTC',
          ...(account !== DESK ? { silo: DESK_SILO } : {}),
        },
        account,
      );
      if (r.ok && r.orderId !== undefined) ids.push([account, r.orderId]);
    }
    return ids;
  }

  /** Cancels what is left of `ids` (an order filled in full is gone already). */
  withdraw(ids: readonly [string, number][], time: number): void {
    for (const [account, id] of ids) {
      const o = this.engine.accounts.get(account)?.orders.get(id);
      if (o) this.run({ type: 'cancelOrder', time, account, symbol: o.market.symbol, orderId: id }, account);
    }
  }
}
