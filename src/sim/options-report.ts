/**
 * The options policies in the HTML report: their comparison table, the same per strategy, and their definitions
 * (empty strings when no options policy ran). Figures come from the summary (exact decimals, shown in whole units).
 */

import { optionsTable } from './options-summary.ts';
import type { Summary } from './simulate.ts';

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const n = (v: number) => v.toLocaleString('en-US');
const units = (v: string) => Math.round(Number(v)).toLocaleString('en-US');
const STRATEGY_NAMES: Record<string, string> = {
  shortStrangle: 'short strangles',
  ironCondor: 'iron condors',
  coveredCall: 'covered calls',
};

function table(columns: string[], rows: string[][]): string {
  const head = columns.map((c) => `<th>${esc(c)}</th>`).join('');
  const body = rows
    .map(
      (r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** The options writers under each options policy: the comparison, then per strategy. */
export function optionsSection(summary: Summary): string {
  const rows = summary.policies.flatMap((p) => (p.options ? [{ id: p.id, options: p.options }] : []));
  const o = summary.options;
  if (!o || rows.length === 0) return '';
  const t = optionsTable(rows);
  const strategyRows = rows.flatMap(({ id, options }) =>
    Object.entries(options.byStrategy).map(([s, b]) => [
      `${id} · ${STRATEGY_NAMES[s] ?? s}`,
      `${n(b.opened)}/${n(b.planned)}`,
      units(b.collateralAtOpen),
      n(b.liquidated),
      n(b.liquidations),
      units(b.pnl),
    ]),
  );
  const w = o.writers;
  const x = o.chain.expiries;
  return `<h2>Options writers: standalone vs maxLoss vs strategy vs scenario margin</h2>
<p>${n(w.planned)} writers (${Object.entries(w.byStrategy)
    .map(([s, k]) => `${n(k)} ${esc(STRATEGY_NAMES[s] ?? s)}`)
    .join(
      ', ',
    )}; ${n(w.closeEarly)} close early, the rest hold to expiry) on ${esc(o.chain.underlying)} ${esc(o.chain.cadence)} linear options: ${x.length} expiries (${x.map((e) => esc(e.expiry.slice(0, 16))).join(', ')}), ${x[0] ? x[0].puts.length + x[0].calls.length - 1 : 0} strikes each. ATM IV from the data: ${o.vol.windowMinutes / 60} h realised vol of 1-minute returns × ${o.vol.premium}, in [${o.vol.floor}, ${o.vol.cap}]: ${o.vol.atm.low}–${o.vol.atm.high} (mean ${o.vol.atm.mean}), quoted every ${o.vol.everyMinutes} min.</p>
${table(t.columns, t.rows)}
<h3>Per strategy</h3>
${table(['policy · strategy', 'opened', 'locked at open', 'silos liquidated', 'liquidations', 'P&L'], strategyRows)}
`;
}

/** The definitions of the options policies' figures (only when one ran). */
export function optionsDefinition(summary: Summary): string {
  if (!summary.options) return '';
  return `<li><b>options-*</b> policies: only the options writers run (with the desk, the perpetual's market maker and the backstop): a share of the population, each writing one strategy — a short strangle, an iron condor or a covered call (short call + long perpetual) — sized from its own planned notional, in its own named silo with the policy's risk model (<code>standalone</code>, <code>maxLoss</code>, <code>strategy</code>, <code>scenario</code>), opened with one <code>placeCombo</code> at the marks against the desk. Its deposit is the silo's initial margin for the strategy under that model (asked of the engine before it opens) × the trader's cushion, plus fees: a lean model locks less and can liquidate more. The underlying is quoted as a deviation-threshold oracle would (a 0.2% move or 15 minutes, and wherever something happens). <b>locked at open</b>: Σ of the silos' collateral right after each strategy opened; <b>time avg</b>: that collateral over the whole path, weighted by time. <b>liq. notional (coin×spot)</b>: Σ size × the underlying's mark over the liquidations' stages. <b>ins. draws</b> / <b>drawn</b>: losses beyond a silo's collateral, paid by the insurance fund (count, amount). <b>settlement P&amp;L</b>: what expiry settled on the legs still held — premium kept less what the options paid; <b>P&amp;L</b>: final equity less deposits, over the writers who opened.</li>`;
}
