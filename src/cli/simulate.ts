/**
 * `ringfence simulate`: replays a price path through the full engine for a seeded population under several margin
 * policies side by side; prints a table (or the JSON summary with --json) and writes a self-contained HTML report.
 * Bad input exits 2 with one line (a CSV problem names its line); never a stack trace.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import { CSV_FORMATS, CsvError, type CsvFormat } from '../sim/csv.ts';
import { DEFAULT_POLICY_IDS } from '../sim/markets.ts';
import { DEFAULT_OPTIONS_POLICY_IDS } from '../sim/options.ts';
import { optionsTable } from '../sim/options-summary.ts';
import { defaultWorkers } from '../sim/parallel.ts';
import { renderReport } from '../sim/report.ts';
import type { PolicyResult } from '../sim/runner.ts';
import {
  type PreparedSimulation,
  prepare,
  runAll,
  SimulateError,
  type Summary,
  summarize,
  toJson,
} from '../sim/simulate.ts';
import type { CliIO } from './calc.ts';

export interface SimulateCliOptions {
  data?: string;
  format?: string;
  traders?: string;
  seed?: string;
  policies?: string;
  intrabar?: string;
  bars?: string;
  insurance?: string;
  workers?: string;
  json?: boolean;
  /** A path, or false for --no-report. */
  report?: string | boolean;
  credit?: string;
  /** true/false: force the progress bar on/off; undefined: on a TTY only. */
  progress?: boolean;
}

export const DEFAULT_TRADERS = 10_000;
export const DEFAULT_REPORT = 'reports/simulation.html';

function intOption(name: string, raw: string | undefined, dflt: number, max: number): number {
  if (raw === undefined) return dflt;
  const s = raw.replace(/_/g, '');
  if (!/^\d{1,10}$/.test(s) || Number(s) > max)
    throw new SimulateError(`--${name}: expected an integer from 0 to ${max}, got "${raw}"`);
  return Number(s);
}

/** Whole units with thousands separators (display only). */
function usd(v: string): string {
  const n = Math.round(Number(v));
  return n.toLocaleString('en-US');
}

export function summaryTable(s: Summary): { columns: string[]; rows: string[][] } {
  const columns = [
    'policy',
    'liquidations',
    'liq. notional',
    'collateral lost',
    'wiped out',
    'contagion',
    'ins. fund P&L',
    'ADL',
    'bad debt',
    'ledger',
  ];
  const rows = s.policies.map((p) => [
    p.id,
    p.liquidations.events.toLocaleString('en-US'),
    usd(p.liquidations.notional),
    usd(p.collateralLost),
    p.wipedOut.toLocaleString('en-US'),
    p.contagion.traders.toLocaleString('en-US'),
    usd(p.insuranceFund.pnl),
    p.adl.events.toLocaleString('en-US'),
    usd(p.badDebt),
    p.conservation.ok && p.isolationBreaches === 0 ? 'ok' : p.conservation.ok ? 'BREACH' : 'FAIL',
  ]);
  return { columns, rows };
}

/**
 * One line per hybrid policy under the table: its netted silos, the initial margin netting saved at entry, and what
 * their liquidations did (empty when no hybrid policy ran).
 */
export function hybridNotes(s: Summary): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return s.policies
    .map((p) => {
      const x = p.silos;
      if (!x) return '';
      const std = Number(x.initialMarginAtOpen.standalone);
      const pct = std > 0 ? Math.round((100 * Number(x.initialMarginAtOpen.netted)) / std) : 100;
      const same = x.optedIn.policies
        .map((q) => `${q.id} ${n(q.liquidations)} liquidations, ${usd(q.collateralLost)} lost`)
        .join('; ');
      return (
        `${p.id}: ${n(x.traders)} traders in netted silos (${n(x.legs)} legs; netted initial margin ${pct}% of ` +
        `standalone at entry); ${n(x.liquidations)} silo liquidations closed ${n(x.healthyLegs.closes)} legs ` +
        `that alone were healthy\n  the same ${n(x.optedIn.traders)} traders: ${same}\n`
      );
    })
    .join('');
}

/**
 * Under the table when isolated+btc-collateral ran: the BTC bought and sold, and its BTC-funded traders' BTC legs
 * liquidated by side, here and under isolated (the wrong-way effect); empty otherwise.
 */
export function btcCollateralNotes(s: Summary): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return s.policies
    .map((p) => {
      const b = p.btcCollateral;
      if (!b) return '';
      const l = b.conversions.liquidation;
      const side = b.wrongWay.policies
        .map(
          (q) =>
            `${q.id} longs ${n(q.long.liquidated)}/${n(q.long.opened)} liquidated, shorts ${n(q.short.liquidated)}/${n(q.short.opened)}`,
        )
        .join('; ');
      return (
        `${p.id}: ${n(b.traders)} traders funded ${n(b.legs)} BTCUSDT legs with ${b.funded} BTC (bought ${b.bought} at ` +
        `${b.firstPrice}); sold at liquidation ${n(l.count)} times, ${l.amount} BTC for ${usd(l.proceeds)} USDT; ` +
        `${n(b.conversions.shortfall.count)} shortfall conversions\n  their BTC legs: ${side}\n`
      );
    })
    .join('');
}

/**
 * Under the table when the vaults policy ran: per vault its final NAV per share, liquidations, and its depositors'
 * stake against what came back; empty otherwise.
 */
export function vaultsNotes(s: Summary): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return s.policies
    .map((p) => {
      const v = p.vaults;
      if (!v) return '';
      const lines = v.vaults.map((f) => {
        const d = f.depositors;
        const own = d.ownAccountsVsIsolated
          ? `, own accounts ≠ isolated ${n(d.ownAccountsVsIsolated.differ)}`
          : '';
        return (
          `  ${f.id}: NAV/share ${f.navPerShare.final} (low ${f.navPerShare.low}), ${n(f.liquidations)} liquidations; ` +
          `${n(d.count)} depositors staked ${usd(d.staked)}, got ${usd(d.returned)} (${d.pnlPercent ?? '–'}%)${own}, breaches ${n(f.isolationBreaches)}\n`
        );
      });
      return `${p.id}:\n${lines.join('')}`;
    })
    .join('');
}

/**
 * Under the table when options policies ran: what they shared (the writers, the chain, the vol path) and their
 * comparison — collateral locked, liquidations, losses beyond collateral, settlement (empty when none ran).
 */
export function optionsNotes(s: Summary): string {
  const rows = s.policies.flatMap((p) => (p.options ? [{ id: p.id, options: p.options }] : []));
  const o = s.options;
  if (!o || rows.length === 0) return '';
  const n = (v: number) => v.toLocaleString('en-US');
  const w = o.writers;
  const x = o.chain.expiries;
  const head =
    `options: ${n(w.planned)} writers (${n(w.byStrategy.shortStrangle ?? 0)} short strangles, ` +
    `${n(w.byStrategy.ironCondor ?? 0)} iron condors, ${n(w.byStrategy.coveredCall ?? 0)} covered calls; ` +
    `${n(w.closeEarly)} close early) on ${o.chain.underlying} ${o.chain.cadence} linear options ` +
    `(${x.length} expiries${x.length > 0 ? ` ${x[0]!.expiry.slice(0, 10)} … ${x[x.length - 1]!.expiry.slice(0, 10)}` : ''}); ` +
    `ATM IV from ${o.vol.windowMinutes / 60} h realised vol × ${o.vol.premium}: ${o.vol.atm.low}–${o.vol.atm.high} ` +
    `(mean ${o.vol.atm.mean})\n`;
  return `${head}\n${renderSummaryTable(optionsTable(rows))}`;
}

/** First column left-aligned, the rest right-aligned. */
export function renderSummaryTable(t: { columns: string[]; rows: string[][] }): string {
  const all = [t.columns, ...t.rows];
  const width = t.columns.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ');
  return `${[line(t.columns), line(width.map((w) => '-'.repeat(w))), ...t.rows.map(line)].join('\n')}\n`;
}

export interface SimulateOutcome {
  prep: PreparedSimulation;
  results: PolicyResult[];
  summary: Summary;
  reportPath: string | null;
}

/** Parses the options, runs, writes the report; throws SimulateError/CsvError on bad input. */
export async function simulate(
  opts: SimulateCliOptions,
  progress: boolean,
  defaults: { traders?: number } = {},
): Promise<SimulateOutcome> {
  const format = (opts.format ?? 'auto') as CsvFormat | 'auto';
  if (format !== 'auto' && !CSV_FORMATS.includes(format))
    throw new SimulateError(`--format: expected auto, ${CSV_FORMATS.join(', ')}; got "${opts.format}"`);
  const intrabar = opts.intrabar ?? 'close';
  if (intrabar !== 'close' && intrabar !== 'ohlc')
    throw new SimulateError(`--intrabar: expected close or ohlc, got "${opts.intrabar}"`);
  const policies =
    opts.policies === undefined || opts.policies === 'all'
      ? [...DEFAULT_POLICY_IDS, ...DEFAULT_OPTIONS_POLICY_IDS]
      : opts.policies
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0);
  const prep = prepare({
    ...(opts.data !== undefined ? { data: opts.data } : {}),
    format,
    traders: intOption('traders', opts.traders, defaults.traders ?? DEFAULT_TRADERS, 1_000_000),
    seed: intOption('seed', opts.seed, 1, 0xffffffff),
    policies,
    intrabar,
    bars: intOption('bars', opts.bars, 0, 100_000_000),
    ...(opts.insurance !== undefined ? { insurance: opts.insurance } : {}),
    ...(opts.credit !== undefined ? { credit: opts.credit } : {}),
  });
  // By default one child process per core, as memory allows (parallel.ts); one policy runs in this process.
  const workers = intOption(
    'workers',
    opts.workers,
    defaultWorkers(prep.policies.length, prep.population.traders.length),
    Math.min(64, 4 * availableParallelism()),
  );
  let bar: cliProgress.SingleBar | null = null;
  if (progress) {
    bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: 'simulate [{bar}] {percentage}% | {value}/{total} policy-points | eta {eta_formatted}',
        hideCursor: true,
        clearOnComplete: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(prep.path.times.length * prep.policies.length, 0);
  }
  let results: PolicyResult[];
  try {
    results = await runAll(prep, {
      workers: Math.max(1, workers),
      ...(bar ? { onProgress: (done: number) => bar!.update(done) } : {}),
    });
  } finally {
    bar?.stop();
  }
  const summary = summarize(prep, results);
  let reportPath: string | null = null;
  if (opts.report !== false) {
    reportPath = typeof opts.report === 'string' ? opts.report : DEFAULT_REPORT;
    mkdirSync(dirname(reportPath), { recursive: true });
    writeFileSync(reportPath, renderReport(prep, results, summary, summaryTable(summary)));
  }
  return { prep, results, summary, reportPath };
}

export function describeRun(s: Summary): string {
  const m = s.markets
    .map((x) => `${x.symbol} ${x.source === 'synthetic' ? '(synthetic)' : '(data)'}`)
    .join(', ');
  return (
    `${s.traders.toLocaleString('en-US')} traders, ${s.positions.toLocaleString('en-US')} planned positions, seed ${s.seed}; ` +
    `${s.data.points.toLocaleString('en-US')} points (${s.data.intrabar}) ${s.data.from.slice(0, 16)} → ${s.data.to.slice(0, 16)}; ${m}\n` +
    `data: ${s.data.credit}\n`
  );
}

export async function runSimulate(opts: SimulateCliOptions, io: CliIO, tty: boolean): Promise<number> {
  let out: SimulateOutcome;
  try {
    out = await simulate(opts, opts.progress ?? tty);
  } catch (e) {
    if (e instanceof SimulateError || e instanceof CsvError) {
      io.stderr(`ringfence simulate: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const where = out.reportPath;
  if (opts.json) {
    io.stdout(`${toJson(out.summary)}\n`);
    if (where) io.stderr(`report: ${where}\n`);
  } else {
    io.stdout(describeRun(out.summary));
    io.stdout(`\n${renderSummaryTable(summaryTable(out.summary))}`);
    const notes = hybridNotes(out.summary);
    if (notes) io.stdout(`\n${notes}`);
    const btc = btcCollateralNotes(out.summary);
    if (btc) io.stdout(`\n${btc}`);
    const vaults = vaultsNotes(out.summary);
    if (vaults) io.stdout(`\n${vaults}`);
    const options = optionsNotes(out.summary);
    if (options) io.stdout(`\n${options}`);
    if (where) io.stdout(`\nreport: ${where}\n`);
  }
  return exitCode(out.summary);
}

/** 0 when every policy's ledger verified and no isolated bucket's loss reached beyond it; else 1. */
export function exitCode(s: Summary): number {
  return s.policies.every((p) => p.conservation.ok && p.isolationBreaches === 0) ? 0 : 1;
}
