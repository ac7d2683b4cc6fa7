/**
 * The options policies in the JSON summary (exact decimals as strings) and under the CLI's table: the plan they
 * share (chain, vol path, writers) once, and per policy the figures of options-metrics.ts.
 */
import { formatDecimal } from '../core/fixed.ts';
import type { OptionsPlan } from './options.ts';
import type { OptionsFigures } from './options-metrics.ts';
import { WRITER_STRATEGIES } from './options-writers.ts';

const money = (v: bigint) => formatDecimal(v, 8);
const iso = (ms: number) => new Date(ms).toISOString();
const sorted = (r: Record<string, number>) =>
  Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));

/** What every options policy of the run shares. */
export function optionsPlanSummary(plan: OptionsPlan) {
  const { chain, vol, writers } = plan;
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  let sum = 0;
  for (const v of vol.atm) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
    sum += v;
  }
  const count: Record<string, number> = {};
  for (const w of writers.writers) count[w.strategy] = (count[w.strategy] ?? 0) + 1;
  return {
    chain: {
      underlying: chain.underlying,
      settle: 'linear' as const,
      cadence: chain.cadence,
      expiries: chain.expiries.map((x) => ({
        expiry: iso(x.expiry),
        puts: x.putStrikes.map((k) => k.key),
        calls: x.callStrikes.map((k) => k.key),
      })),
    },
    vol: {
      ...vol.spec,
      quotes: vol.atm.length,
      atm: {
        low: lo === Number.POSITIVE_INFINITY ? 0 : lo,
        mean: vol.atm.length > 0 ? Math.round((sum / vol.atm.length) * 1e4) / 1e4 : 0,
        high: hi,
      },
    },
    writers: {
      share: writers.share,
      planned: writers.writers.length,
      byStrategy: Object.fromEntries(WRITER_STRATEGIES.map((s) => [s, count[s] ?? 0])),
      closeEarly: writers.writers.filter((w) => w.closePoint >= 0).length,
      skipped: sorted(writers.skipped),
    },
  };
}

/** One options policy's figures. */
export function optionsFiguresSummary(f: OptionsFigures) {
  const c = f.collateral;
  return {
    model: f.model,
    writers: f.writers,
    opened: f.opened,
    rejected: sorted(f.rejected),
    closedEarly: f.closedEarly,
    deposited: money(f.deposited),
    collateral: {
      atOpen: money(c.atOpen),
      requirementAtOpen: money(c.requirementAtOpen),
      standaloneAtOpen: money(c.standaloneAtOpen),
      timeAverage: money(c.timeAverage),
      peak: money(c.peak),
    },
    liquidations: {
      events: f.liquidations.events,
      silos: f.liquidations.silos,
      notional: money(f.liquidations.notional),
      underlyingNotional: money(f.liquidations.underlyingNotional),
    },
    insuranceDraws: { count: f.insuranceDraws.count, amount: money(f.insuranceDraws.amount) },
    wipedOut: f.wipedOut,
    settlementPnl: money(f.settlementPnl),
    pnl: money(f.pnl),
    byStrategy: Object.fromEntries(
      WRITER_STRATEGIES.map((s) => {
        const b = f.byStrategy[s];
        return [
          s,
          {
            planned: b.planned,
            opened: b.opened,
            liquidated: b.liquidated,
            liquidations: b.liquidations,
            deposited: money(b.deposited),
            collateralAtOpen: money(b.collateralAtOpen),
            pnl: money(b.pnl),
          },
        ];
      }),
    ),
    listed: f.listed,
  };
}

export type OptionsPolicySummary = ReturnType<typeof optionsFiguresSummary>;

/** Whole units with thousands separators (display only). */
const units = (v: string) => Math.round(Number(v)).toLocaleString('en-US');

/** The options policies' comparison as a table (CLI and report): one row per options policy. */
export function optionsTable(rows: { id: string; options: OptionsPolicySummary }[]): {
  columns: string[];
  rows: string[][];
} {
  const columns = [
    'policy',
    'opened',
    'locked at open',
    'locked (time avg)',
    'liquidations',
    'liq. notional (coin×spot)',
    'ins. draws',
    'drawn',
    'wiped out',
    'settlement P&L',
    'P&L',
  ];
  return {
    columns,
    rows: rows.map(({ id, options: o }) => [
      id,
      `${o.opened.toLocaleString('en-US')}/${o.writers.toLocaleString('en-US')}`,
      units(o.collateral.atOpen),
      units(o.collateral.timeAverage),
      o.liquidations.events.toLocaleString('en-US'),
      units(o.liquidations.underlyingNotional),
      o.insuranceDraws.count.toLocaleString('en-US'),
      units(o.insuranceDraws.amount),
      o.wipedOut.toLocaleString('en-US'),
      units(o.settlementPnl),
      units(o.pnl),
    ]),
  };
}
