/**
 * calc's `"live"` venue: the service's own markets as they are now, margined on the engine's own conventions, so
 * that a `POST /api/v1/calc` preview agrees with what the engine then does (docs/calc.md, "live").
 *
 * - markets: each perpetual and future of the engine, with its instrument exactly as the engine holds it (kind,
 *   tick, lot, multiplier, settle decimals, max leverage, risk rule: the same object);
 * - conventions: the engine's (`e.conventions`, what its liquidation test, read model and pre-trade checks use),
 *   prices rounded toward liquidation as the engine files and shows them; the same in cross (the engine has one
 *   set). The taker fee in maintenance is therefore the engine's convention rate, not the market's trading fee:
 *   that is the rate the engine liquidates on;
 * - a leverage change re-sizes the collateral to initial margin at entry exactly (the engine's `setLeverage`);
 * - a scenario without `netting` gets the engine's netted-silo parameters;
 * - option markets are listed as refused (calc margins an option from its own terms, not a live market).
 *
 * Built once and kept while the engine holds the same markets: a `createMarket`, an option chain or a
 * `delistMarket` (their `marketCreated`/`marketDelisted` events), a `setNetting`, or a recovery that replaced the
 * engine, or a dynamic-margin factor applied (a market's instrument replaced), rebuilds it at the next request that names "live". The check compares the engine's market entries with
 * those the venue was built from (one pass over at most MAX_MARKETS), so no event can be missed: one lost to a
 * publishing error or a rebuilt engine is still seen.
 */

import type { Instrument } from '../core/instrument.ts';
import { conservativeRounding } from '../core/margin.ts';
import type { LoadedVenue, MarketSpec } from '../core/presets.ts';
import { conventionSpec } from '../core/presets.ts';
import { type Market, marketSpecOf } from '../engine/market.ts';
import type { EngineState } from '../engine/state.ts';

export const LIVE_VENUE = 'live';

/** calc's "live" venue built from `e`'s markets as they are now. */
export function liveVenue(e: EngineState): LoadedVenue {
  const conventions = conservativeRounding(e.conventions);
  const markets = new Map<string, Instrument>();
  const specs = new Map<string, MarketSpec>();
  const refused = new Map<string, string>();
  for (const m of e.markets.values()) {
    if (m.option !== null) {
      refused.set(
        m.symbol,
        `${m.symbol} is an option market: "live" previews perpetuals and futures only (an option position is ` +
          `{"kind": "option", …} under an option venue, e.g. "ringfence": docs/calc-options.md)`,
      );
      continue;
    }
    markets.set(m.symbol, m.inst);
    specs.set(m.symbol, marketSpecOf(m.config));
  }
  return {
    id: LIVE_VENUE,
    conventions,
    crossConventions: conventions,
    markets,
    specs,
    netting: e.netting,
    preset: {
      id: LIVE_VENUE,
      description:
        "this service's own markets as they are now, on the engine's margin conventions: previews agree with " +
        "the engine's liquidation test and its position read",
      conventions: conventionSpec(conventions),
      markets: [...specs.values()],
      leverageChangeReleasesExtra: true,
      refusedMarkets: refused,
    },
  };
}

/** The "live" venue of the service's current engine, rebuilt only when its markets changed. */
export class LiveVenueCache {
  private engine: EngineState | null = null;
  private markets: Market[] = [];
  /** Each market's instrument when the venue was built: a dynamic-margin factor change replaces it. */
  private insts: Instrument[] = [];
  private venue: LoadedVenue | null = null;

  get(e: EngineState): LoadedVenue {
    // `setNetting` replaces the engine's parameters (a new object): the venue's default follows.
    if (this.venue === null || this.engine !== e || this.venue.netting !== e.netting || !this.same(e)) {
      this.venue = liveVenue(e);
      this.engine = e;
      this.markets = [...e.markets.values()];
      this.insts = this.markets.map((m) => m.inst);
    }
    return this.venue;
  }

  /**
   * Whether `e` holds exactly the markets the venue was built from (a created or delisted one is a new entry), each
   * with the same instrument (a dynamic-margin factor applied since gives a new one: its rates are what calc uses).
   */
  private same(e: EngineState): boolean {
    if (e.markets.size !== this.markets.length) return false;
    let i = 0;
    for (const m of e.markets.values()) {
      if (m !== this.markets[i] || m.inst !== this.insts[i]) return false;
      i++;
    }
    return true;
  }
}
