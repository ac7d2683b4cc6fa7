/**
 * The HTML report of a simulation: one self-contained file (no network) with the summary table, the definitions,
 * and charts drawn by TradingView Lightweight Charts™ (Apache-2.0; its standalone build is inlined with its license
 * header, and its attribution logo is left on):
 * - each market's price path, bucketed, with markers where a chosen policy's liquidations started, and their count;
 * - the insurance fund's equity (cash + the backstop's unrealized PnL) over time, per policy;
 * - cumulative liquidated notional over time, per policy;
 * - the distribution of trader returns (final equity / deposit − 1), per policy.
 * Figures in the charts are floats (display only); the table carries the exact summary.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { optionsDefinition, optionsSection } from './options-report.ts';
import type { PolicyResult } from './runner.ts';
import { type PreparedSimulation, returnBinLabels, type Summary } from './simulate.ts';

const CHARTS_CREDIT = 'Charts: TradingView Lightweight Charts™ (Apache-2.0) — https://www.tradingview.com/';

function chartsLibrary(): string {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('lightweight-charts/package.json'));
  const js = readFileSync(join(dir, 'dist', 'lightweight-charts.standalone.production.js'), 'utf8');
  if (/<\/script/i.test(js)) throw new Error('lightweight-charts build contains </script>; cannot inline it');
  return js;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** JSON safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

interface ChartData {
  credit: string;
  policies: string[];
  markets: {
    symbol: string;
    synthetic: boolean;
    bars: { time: number; open: number; high: number; low: number; close: number }[];
    liquidations: number[][];
  }[];
  bucketTimes: number[];
  fundEquity: number[][];
  fundCash: number[][];
  liquidatedNotional: number[][];
  returns: { labels: string[]; x: number[]; traders: number[][] };
}

function chartData(prep: PreparedSimulation, results: readonly PolicyResult[]): ChartData {
  const { path, bucketSize, buckets } = prep;
  // Bucket times in whole seconds, strictly increasing (the chart's time scale needs that).
  const bucketTimes: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const t = Math.floor(path.times[b * bucketSize]! / 1000);
    bucketTimes.push(b > 0 && t <= bucketTimes[b - 1]! ? bucketTimes[b - 1]! + 1 : t);
  }
  const round = (x: number, dp: number) => Math.round(x * 10 ** dp) / 10 ** dp;
  const markets = path.markets.map((pm, k) => {
    const tick = Number(pm.tickSize) / 1e8;
    const dp = Math.max(0, Math.ceil(-Math.log10(tick)));
    const bars = [];
    for (let b = 0; b < buckets; b++) {
      const from = b * bucketSize;
      const to = Math.min(path.times.length, from + bucketSize);
      let hi = 0;
      let lo = Number.POSITIVE_INFINITY;
      for (let i = from; i < to; i++) {
        const v = pm.ticks[i]!;
        if (v > hi) hi = v;
        if (v < lo) lo = v;
      }
      bars.push({
        time: bucketTimes[b]!,
        open: round(pm.ticks[from]! * tick, dp),
        high: round(hi * tick, dp),
        low: round(lo * tick, dp),
        close: round(pm.ticks[to - 1]! * tick, dp),
      });
    }
    return {
      symbol: pm.symbol,
      synthetic: pm.synthetic !== null,
      bars,
      liquidations: results.map((r) =>
        Array.from(r.series.liquidations.subarray(k * buckets, (k + 1) * buckets)),
      ),
    };
  });
  // The fund is sampled once per bucket, at its end.
  const fill = (a: Float64Array) => Array.from(a, (v) => round(v, 2));
  return {
    credit: prep.source.credit,
    policies: results.map((r) => r.policy.id),
    markets,
    bucketTimes,
    fundEquity: results.map((r) => fill(r.series.fundEquity)),
    fundCash: results.map((r) => fill(r.series.fundCash)),
    liquidatedNotional: results.map((r) => {
      let acc = 0;
      return Array.from(r.series.liquidatedNotional, (v) => {
        acc += v;
        return round(acc, 2);
      });
    }),
    returns: {
      labels: returnBinLabels(),
      x: returnBinLabels().map((_, i) => i * 10 - 95),
      traders: results.map((r) => r.figures.returns.slice()),
    },
  };
}

export function renderReport(
  prep: PreparedSimulation,
  results: readonly PolicyResult[],
  summary: Summary,
  table: { columns: string[]; rows: string[][] },
): string {
  const data = chartData(prep, results);
  const m = summary.markets;
  const marketLines = m
    .map((x) =>
      x.synthetic
        ? `<li><b>${esc(x.symbol)}</b>: synthetic, seeded — log-returns ${x.synthetic.beta} × BTC's plus independent noise for a target correlation of ${x.synthetic.correlation} (realized ${x.synthetic.realizedCorrelation} on 1-minute returns), with its own shock: ${(x.synthetic.shock.depth * 100).toFixed(0)}% over ${x.synthetic.shock.minutes} min from ${esc(x.synthetic.shock.start)}, ${(x.synthetic.shock.recovery * 100).toFixed(0)}% of it given back over ${x.synthetic.shock.recoveryMinutes / 60} h. ${esc(x.start)} → ${esc(x.end)} (low ${esc(x.low)}, high ${esc(x.high)}).</li>`
        : `<li><b>${esc(x.symbol)}</b>: replayed from the data, ${esc(x.start)} → ${esc(x.end)} (low ${esc(x.low)}, high ${esc(x.high)}).</li>`,
    )
    .join('\n');
  const head = table.columns.map((c) => `<th>${esc(c)}</th>`).join('');
  const body = table.rows
    .map(
      (r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('\n');
  const policyLines = summary.policies
    .map(
      (p) =>
        `<li><b>${esc(p.id)}</b>: ${esc(p.description)} <code>${esc(JSON.stringify(p.settings.liquidation))}</code>, conventions <code>${esc(p.settings.conventions)}</code>; ${opensLine(p.opens)}${p.silos ? `; ${silosLine(p.silos)}` : ''}${p.rebalance ? `; ${rebalanceLine(p.rebalance)}` : ''}${p.btcCollateral ? `; ${btcCollateralLine(p.btcCollateral)}` : ''}${p.dynamicMargin ? `; ${dynamicLine(p.dynamicMargin)}` : ''}</li>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringfence simulation — seed ${summary.seed}, ${summary.traders} traders</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px auto; max-width: 1180px; padding: 0 16px; color: #1d2330; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; }
.muted { color: #5b6474; } code { font-size: 12px; background: #f2f4f7; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 12px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6eb; text-align: right; white-space: nowrap; }
thead th { background: #f6f7f9; } tbody th { text-align: left; }
.chart { height: 300px; margin: 8px 0 4px; } .small { height: 260px; }
.legend { font-size: 12px; margin: 2px 0 12px; } .legend span { margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; vertical-align: -1px; }
footer { margin-top: 40px; font-size: 12px; color: #5b6474; border-top: 1px solid #e3e6eb; padding-top: 10px; }
select { font: inherit; }
</style>
</head>
<body>
<h1>ringfence simulation</h1>
<div class="muted">seed ${summary.seed} · ${summary.traders.toLocaleString('en-US')} traders · ${summary.positions.toLocaleString('en-US')} planned positions · ${summary.data.points.toLocaleString('en-US')} path points (${esc(summary.data.intrabar)}) · insurance fund seeded with ${Math.round(Number(summary.insuranceSeed)).toLocaleString('en-US')} USDT</div>
<p>Data: <b>${esc(summary.data.credit)}</b> — ${esc(summary.data.file)}, ${summary.data.used.toLocaleString('en-US')} of ${summary.data.rows.toLocaleString('en-US')} rows (${esc(summary.data.format)}), ${esc(summary.data.from)} → ${esc(summary.data.to)}.</p>
<ul>
${marketLines}
</ul>

<h2>Policies side by side (same population, same path)</h2>
<table><thead><tr>${head}</tr></thead><tbody>
${body}
</tbody></table>
<ul class="muted">
${policyLines}
</ul>
${optedInTables(summary)}
${wrongWayTables(summary)}
${vaultsSection(summary)}
${optionsSection(summary)}
<h2>Price paths and liquidations</h2>
<p>Markers: liquidations started in the bucket under <select id="policy"></select> (the largest buckets labelled); the
histogram under each price is their count. Buckets of ${prep.bucketSize} point(s).</p>
<div id="markets"></div>

<h2>Insurance fund equity over time</h2>
<p class="muted">Cash plus the unrealized PnL of positions the backstop took over, USDT.</p>
<div id="fund" class="chart"></div><div id="fund-legend" class="legend"></div>

<h2>Cumulative liquidated notional</h2>
<div id="notional" class="chart"></div><div id="notional-legend" class="legend"></div>

<h2>Loss distribution: traders by return on deposit</h2>
<p class="muted">Final equity (free balance, buckets, unrealized PnL at the last marks, BTC held at the last index) ÷ deposit − 1, in 10% bins; x is the bin's centre (≥ +100% at 105).</p>
<div id="returns" class="chart"></div><div id="returns-legend" class="legend"></div>

<h2>Definitions</h2>
<ul>
<li><b>liquidations</b>: <code>liquidationStarted</code> events — a bucket (an isolated position, a trader's cross positions, or a hybrid trader's netted silo) found below maintenance; a chunked liquidation counts each chunk. <b>notional</b>: Σ size × price over its <code>liquidation</code> stages (book, backstop, ADL).</li>
<li><b>collateral lost</b>: money that left the liquidated trader's accounts (free balance, reserves, buckets) for anyone else during the liquidation — realized loss and liquidation fee, net of anything paid back; funding not counted. BTC a silo sells at its liquidation counts at its value at the index of that moment.</li>
<li><b>wiped out</b>: final equity ≤ 1% of the deposit.</li>
<li><b>contagion</b>: traders with a liquidation that closed a position that was not itself underwater — judged alone with the collateral it would carry isolated (initial margin at entry, less funding it paid), its equity at the liquidation's mark was still at or above its own maintenance. Under isolated margin it cannot happen.</li>
<li><b>spillover</b> (in the JSON summary): what cross liquidations took beyond the standalone collateral of the positions they closed — money that backed the trader's other positions or sat free — and how many traders lost any. Under isolated margin that would be an isolation breach (always checked; must be 0); free balance that auto-add moved into a bucket which was then liquidated is counted as <code>autoAdd.lostAfter</code> instead.</li>
${hybridDefinition(summary)}
${rebalanceDefinition(summary)}
${btcCollateralDefinition(summary)}
${vaultsDefinition(summary)}
${volAdjustedDefinition(summary)}
${optionsDefinition(summary)}
<li><b>insurance fund P&amp;L</b>: cash change less the seeding, plus the backstop's unrealized PnL at the last marks. <b>bad debt</b>: how far the fund's equity ended below zero. <b>ADL</b>: <code>adl</code> events (counterparties deleveraged).</li>
<li><b>ledger</b>: <code>engine.ledger.verify()</code> at the end — every balance sums to net deposits and nothing that may not go negative did.</li>
</ul>

<footer>
${esc(data.credit)}.<br>
${esc(CHARTS_CREDIT)}<br>
Generated by <code>ringfence simulate</code>. Synthetic markets are seeded and illustrative, not market data.
</footer>

<script type="application/json" id="data">${scriptJson(data)}</script>
<script>
${chartsLibrary()}
</script>
<script>
${APP_JS}
</script>
</body>
</html>
`;
}

/** The page's own script: reads #data, draws the charts. Plain ES2020, no dependencies beyond the library. */
const APP_JS = `
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('data').textContent);
  var LC = window.LightweightCharts;
  var COLORS = ['#2962ff', '#e53935', '#43a047', '#fb8c00', '#8e24aa', '#00897b', '#6d4c41', '#546e7a'];
  var color = function (i) { return COLORS[i % COLORS.length]; };
  var base = { layout: { textColor: '#1d2330', fontSize: 11 }, grid: { vertLines: { color: '#f0f2f5' }, horzLines: { color: '#f0f2f5' } },
    rightPriceScale: { borderVisible: false }, timeScale: { borderVisible: false, timeVisible: true, secondsVisible: false } };
  function legend(id, names) {
    document.getElementById(id).innerHTML = names.map(function (n, i) {
      return '<span><i style="background:' + color(i) + '"></i>' + n.replace(/</g, '&lt;') + '</span>';
    }).join('');
  }
  function sized(el, opts) { var o = Object.assign({}, base, opts || {}); o.width = el.clientWidth; o.height = el.clientHeight || 300; return o; }
  var charts = [];
  function track(c, el) { charts.push([c, el]); return c; }
  window.addEventListener('resize', function () { charts.forEach(function (p) { p[0].applyOptions({ width: p[1].clientWidth }); }); });

  // Price paths with liquidation markers for the selected policy.
  var sel = document.getElementById('policy');
  D.policies.forEach(function (p, i) { var o = document.createElement('option'); o.value = String(i); o.textContent = p; sel.appendChild(o); });
  var host = document.getElementById('markets');
  var priced = D.markets.map(function (m) {
    var title = document.createElement('div'); title.className = 'muted';
    title.textContent = m.symbol + (m.synthetic ? ' (synthetic)' : ' (data)');
    var el = document.createElement('div'); el.className = 'chart';
    host.appendChild(title); host.appendChild(el);
    var c = track(LC.createChart(el, sized(el)), el);
    var s = m.synthetic
      ? c.addSeries(LC.LineSeries, { color: '#37474f', lineWidth: 1 })
      : c.addSeries(LC.CandlestickSeries, { upColor: '#26a69a', downColor: '#ef5350', borderVisible: false, wickUpColor: '#26a69a', wickDownColor: '#ef5350' });
    s.setData(m.synthetic ? m.bars.map(function (b) { return { time: b.time, value: b.close }; }) : m.bars);
    var h = c.addSeries(LC.HistogramSeries, { color: '#ef5350', priceFormat: { type: 'volume' } }, 1);
    var markers = LC.createSeriesMarkers(s, []);
    c.timeScale().fitContent();
    return { m: m, h: h, markers: markers, chart: c };
  });
  function showPolicy(i) {
    priced.forEach(function (x) {
      var counts = x.m.liquidations[i];
      x.h.setData(counts.map(function (n, b) { return { time: D.bucketTimes[b], value: n }; }));
      var idx = counts.map(function (n, b) { return [n, b]; }).filter(function (p) { return p[0] > 0; });
      idx.sort(function (a, b) { return b[0] - a[0] || a[1] - b[1]; });
      var top = idx.slice(0, 60).sort(function (a, b) { return a[1] - b[1]; });
      x.markers.setMarkers(top.map(function (p) {
        return { time: D.bucketTimes[p[1]], position: 'aboveBar', color: '#c62828', shape: 'arrowDown', text: String(p[0]) };
      }));
      var panes = x.chart.panes(); if (panes.length > 1) panes[1].setHeight(70);
    });
  }
  sel.addEventListener('change', function () { showPolicy(Number(sel.value)); });
  showPolicy(0);

  function lines(id, series, fmt) {
    var el = document.getElementById(id);
    var c = track(LC.createChart(el, sized(el)), el);
    series.forEach(function (vals, i) {
      var s = c.addSeries(LC.LineSeries, { color: color(i), lineWidth: 2, priceFormat: fmt || { type: 'price', precision: 0, minMove: 1 } });
      s.setData(vals.map(function (v, b) { return { time: D.bucketTimes[b], value: v }; }));
    });
    c.timeScale().fitContent();
    legend(id + '-legend', D.policies);
  }
  lines('fund', D.fundEquity);
  lines('notional', D.liquidatedNotional);

  var rel = document.getElementById('returns');
  var rc = track(LC.createOptionsChart(rel, sized(rel, { timeScale: { borderVisible: false } })), rel);
  D.returns.traders.forEach(function (counts, i) {
    var s = rc.addSeries(LC.LineSeries, { color: color(i), lineWidth: 2, pointMarkersVisible: true, priceFormat: { type: 'price', precision: 0, minMove: 1 } });
    s.setData(counts.map(function (n, k) { return { time: D.returns.x[k], value: n }; }));
  });
  rc.timeScale().fitContent();
  legend('returns-legend', D.policies);
})();
`;

/** The definition of the hybrid policy, with the netting it ran with (only when a hybrid policy ran). */
function hybridDefinition(summary: Summary): string {
  const p = summary.policies.find((x) => x.settings.nettedSilos);
  const n = p?.settings.nettedSilos;
  if (!n) return '';
  const rho = n.correlations.map((c) => `${esc(c.a)}/${esc(c.b)} ${esc(c.rho)}`).join(', ');
  return `<li><b>hybrid</b>: isolated, except that a share of the traders with two or more positions (<code>hybrid:&lt;share&gt;</code>; default half) hold them all in one <code>netted</code> silo, margined by the worst joint loss over a scenario grid with the markets' correlations (${rho}: each synthetic market's configured correlation with the replayed one, their product between two synthetic ones, rounded toward zero) and never below ${esc(n.floor)} of the standalone sum. The silo is funded with what the isolated buckets would hold (initial margin at entry, plus the opening fee it pays) and hands back what they would on a close, so both policies risk the same money. A silo is one box: its liquidation may take only its own collateral (an isolation breach otherwise), and closing its own legs is not contagion; <b>healthy legs</b> counts the legs a silo's liquidation closed that alone, with their own initial margin, were still above maintenance — the price of pooling them. A leg that would open into a silo whose legs are under water is refused, as under cross: the same money cannot both cover the loss and back the new leg.</li>`;
}

/** The definition of the isolated+rebalance policy (only when it ran). */
function rebalanceDefinition(summary: Summary): string {
  if (!summary.policies.some((x) => x.rebalance)) return '';
  return `<li><b>isolated+rebalance</b>: isolated, except that the traders who opted in to topping up (as under isolated+auto-add) and plan two or more positions hold each position in its own standalone silo, funded from a reserve silo holding the rest of their deposit with what the isolated bucket would hold, and turn the rebalancing agent on: when a position's silo reaches the trader's trigger (maintenance / equity 0.8), the engine moves collateral into it from the reserve and any other of the trader's silos with spare — never below a giver's initial margin × 1.1 — enough to bring its ratio to half the trigger; at maintenance it tries again before liquidating. <b>moved</b>: the agent's moves and their amount; <b>lost after</b>: collateral it moved into a silo that was then liquidated and lost there. Every silo not opted in is never touched (an isolation breach otherwise, always 0). The table below compares the same traders under the other policies.</li>`;
}

/** The definition of the isolated+btc-collateral policy (only when it ran). */
function btcCollateralDefinition(summary: Summary): string {
  const p = summary.policies.find((x) => x.btcCollateral);
  if (!p?.btcCollateral) return '';
  const b = p.btcCollateral;
  return `<li><b>isolated+btc-collateral</b>: isolated, except that the traders who opted in to topping up (as under isolated+auto-add) and plan a position on BTCUSDT hold that position in its own standalone silo funded with BTC (docs/multi-asset-collateral.md): their deposit is worth the isolated trader's at the first price (${esc(b.firstPrice)}), with as much BTC as their BTC leg will put into its silo bought at that price and the rest in USDT; at the open the silo receives the opening fee in USDT (no buffer) and, in BTC, the leg's initial margin at the current index ÷ the 0.95 haircut — so it counts the same initial margin as the isolated bucket — and at the close all of it goes back. The BTC counts at index × 0.95, so a long funded in BTC loses collateral value as its price falls (wrong-way risk) and a short gains it. A silo below maintenance sells all its BTC to the insurance fund at index × 0.95 first (<b>sold at liquidation</b>), then its leg is liquidated if still below (<b>rescued</b> otherwise); a loss, fee or funding its USDT cannot pay sells just enough (<b>shortfall</b>). <b>collateral lost</b> counts the BTC a liquidation sold at its value at the index of that moment and the proceeds as paid back, so the 5% penalty is part of it; final equity, the loss distribution and the fund's P&amp;L count BTC (free, in a silo, or bought by the fund) at the last index. The BTC held is itself a long position: the traders' P&amp;L moves with BTC's price.</li>`;
}

/** The BTC-funded traders' BTC legs by side under each policy that ran (the wrong-way comparison). */
function wrongWayTables(summary: Summary): string {
  const p = summary.policies.find((x) => x.btcCollateral);
  const w = p?.btcCollateral?.wrongWay;
  if (!w) return '';
  const n = (v: number) => v.toLocaleString('en-US');
  const mv = (v: string | null) => (v === null ? '–' : `${esc(v)}%`);
  const rows = w.policies
    .map(
      (q) =>
        `<tr><th>${esc(q.id)}</th><td>${n(q.long.opened)}</td><td>${n(q.long.liquidated)}</td><td>${mv(q.long.meanMove)}</td><td>${n(q.short.opened)}</td><td>${n(q.short.liquidated)}</td><td>${mv(q.short.meanMove)}</td></tr>`,
    )
    .join('\n');
  const v = w.versusIsolated;
  const paired = v
    ? `<p class="muted">Leg by leg against isolated — the mark at the first liquidation here less there, in % of entry, averaged over the legs liquidated under both (positive: here at a higher price — earlier for a long, later for a short): longs ${n(v.long.both)} under both, ${mv(v.long.meanMarkGap)}, ${n(v.long.onlyHere)} liquidated here only, ${n(v.long.onlyIsolated)} under isolated only; shorts ${n(v.short.both)} under both, ${mv(v.short.meanMarkGap)}, ${n(v.short.onlyHere)} here only, ${n(v.short.onlyIsolated)} under isolated only.</p>`
    : '';
  return `<h3>Wrong-way risk: the ${n(w.legs.long)} long and ${n(w.legs.short)} short BTCUSDT legs planned by the traders ${esc(p!.id)} funds in BTC, under each policy</h3>
<p class="muted">Move at liquidation: the mark at a leg's first liquidation ÷ its entry − 1, averaged over the legs liquidated.</p>
<table><thead><tr><th>policy</th><th>longs opened</th><th>liquidated</th><th>move at liquidation</th><th>shorts opened</th><th>liquidated</th><th>move at liquidation</th></tr></thead><tbody>
${rows}
</tbody></table>
${paired}`;
}

/** The BTC collateral figures for the policy line. */
function btcCollateralLine(b: NonNullable<Summary['policies'][number]['btcCollateral']>): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const usd = (v: string) => Math.round(Number(v)).toLocaleString('en-US');
  const l = b.conversions.liquidation;
  const s = b.conversions.shortfall;
  return `${n(b.traders)} traders bought ${esc(b.bought)} BTC for ${usd(b.cost)} USDT and opened ${n(b.legs)} legs funded with ${esc(b.funded)} BTC; sold at liquidation ${n(l.count)} times, ${esc(l.amount)} BTC for ${usd(l.proceeds)} USDT (worth ${usd(l.value)} at the index), ${n(b.rescued)} silos rescued by it; ${n(s.count)} shortfall conversions, ${esc(s.amount)} BTC for ${usd(s.proceeds)} USDT`;
}

/** The definition of the vol-adjusted policy (only when it ran). */
function volAdjustedDefinition(summary: Summary): string {
  const p = summary.policies.find((x) => x.dynamicMargin);
  if (!p?.dynamicMargin) return '';
  const c = p.dynamicMargin.spec;
  return `<li><b>vol-adjusted</b>: isolated, with volatility-adjusted margin on every market (docs/dynamic-margin.md): every maintenance and initial rate × a factor = clamp(realised volatility / ${esc(c.referenceVol)}, 1, ${esc(c.maxFactor)}) from an EWMA of the index's log returns (λ ${esc(c.lambda ?? '0.94')} per minute sample), reviewed hourly, moved at most ${esc(c.maxStep)} a review; a raise applies an hour after it is announced, a cut at once. Max leverage falls with it, so some opens are refused (<code>LEVERAGE_TOO_HIGH</code>). Traders do not react to announcements here: a raise that puts a position below maintenance liquidates it when it applies (<b>at raise</b>). Liquidations count each partial step, and a higher maintenance makes more of them.</li>`;
}

/** The dynamic-margin figures for the policy line. */
function dynamicLine(d: NonNullable<Summary['policies'][number]['dynamicMargin']>): string {
  const means = Object.entries(d.meanFactor)
    .map(([k, v]) => `${esc(k)} ${esc(v)}`)
    .join(', ');
  const usd = (v: string) => Math.round(Number(v)).toLocaleString('en-US');
  return `${d.raises} raises and ${d.cuts} cuts applied, ${d.withdrawn} raises withdrawn before they applied (highest factor ${esc(d.maxFactor)}; time-weighted mean ${means}); ${d.liquidationsAtRaise} liquidations started by a raise; maintenance locked beyond the static table ${usd(d.extraMaintenance.mean)} USDT on average over the samples, ${usd(d.extraMaintenance.peak)} at the peak`;
}

/** The rebalancing agent's figures for the policy line. */
function rebalanceLine(r: NonNullable<Summary['policies'][number]['rebalance']>): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const usd = (v: string) => Math.round(Number(v)).toLocaleString('en-US');
  return `the agent moved ${usd(r.amount)} USDT in ${n(r.events)} moves for ${n(r.traders)} traders; ${usd(r.lostAfter)} of it was lost in silos liquidated afterwards`;
}

/** Per siloed policy: the traders it put in silos, under each policy of the run (like for like). */
function optedInTables(summary: Summary): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const usd = (v: string) => Math.round(Number(v)).toLocaleString('en-US');
  return summary.policies
    .map((p) => {
      const g = p.silos?.optedIn ?? p.rebalance?.optedIn ?? p.btcCollateral?.optedIn;
      if (!g) return '';
      const who = p.silos
        ? 'put in netted silos'
        : p.rebalance
          ? 'ran the rebalancing agent for'
          : 'funded in BTC';
      const rows = g.policies
        .map(
          (q) =>
            `<tr><th>${esc(q.id)}</th><td>${n(q.liquidations)}</td><td>${n(q.liquidatedTraders)}</td><td>${usd(q.collateralLost)}</td><td>${n(q.contagion)}</td><td>${usd(q.pnl)}</td></tr>`,
        )
        .join('\n');
      return `<h3>The ${n(g.traders)} traders ${esc(p.id)} ${who} (deposited ${usd(g.deposited)} USDT), under each policy</h3>
<table><thead><tr><th>policy</th><th>liquidations</th><th>liquidated traders</th><th>collateral lost</th><th>contagion</th><th>P&amp;L</th></tr></thead><tbody>
${rows}
</tbody></table>
`;
    })
    .join('');
}

/** The hybrid policy's silos: count, the offset netting granted at entry, what their liquidations did. */
function silosLine(s: NonNullable<Summary['policies'][number]['silos']>): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const std = Number(s.initialMarginAtOpen.standalone);
  const pct = std > 0 ? Math.round((100 * Number(s.initialMarginAtOpen.netted)) / std) : 100;
  return (
    `${n(s.traders)} netted silos (${n(s.legs)} legs opened; right after each opened, the silo's netted initial margin ` +
    `summed to ${pct}% of the standalone sum); ${n(s.liquidations)} silo liquidations, ${n(s.healthyLegs.closes)} healthy ` +
    `legs closed by them (${n(s.healthyLegs.traders)} traders)`
  );
}

/**
 * How many planned opens filled, and why the others did not: policies differ here (auto-add spends free balance a
 * later open needed), so their figures are over slightly different sets of positions.
 */
function opensLine(o: { planned: number; filled: number; rejected: Record<string, number> }): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const why = Object.entries(o.rejected).map(([code, k]) => `${n(k)} ${esc(code)}`);
  return `${n(o.filled)} of ${n(o.planned)} planned opens filled${why.length > 0 ? ` (rejected: ${why.join(', ')})` : ''}`;
}

type VaultsFigures = NonNullable<Summary['policies'][number]['vaults']>;

/** The vaults policy's definition (only when it ran). */
function vaultsDefinition(summary: Summary): string {
  const v = summary.policies.find((x) => x.vaults)?.vaults;
  if (!v) return '';
  return `<li><b>vaults</b>: isolated, plus three vaults created at the start (docs/vaults.md), each an engine account of its own (<code>vault:&lt;id&gt;</code>) in cross margin on BTCUSDT, traded once an hour by its manager against the desk at the path's price under the vault's limits; ${Math.round(v.depositorShare * 100)}% of the traders (seeded) put a stake of half their deposit, on top of it, into one of them at the first point, and otherwise trade as under isolated. Fees ${esc(v.terms.managementFee)} a year (management, shares minted to the manager) and ${esc(v.terms.performanceFee)} of the gain above each depositor's high-water mark (performance, at redemption); lock-up ${v.terms.lockupMs / 3_600_000} h. At the last point the managers close out and the depositors redeem. <b>NAV per share</b>: the vault's equity ÷ its shares, USDT (1 at the start). <b>returned</b>: what the depositors were paid at redemption plus the shares they still hold at the final NAV; <b>own accounts vs isolated</b>: the depositors whose equity less what their stake returned differs from the same trader's under isolated. <b>breaches</b>: transfers out of a trader's or manager's free balance during a vault's liquidation (must be 0).</li>`;
}

/** Per vault: the NAV per share over time (an inline SVG), and a table of its figures and its depositors'. */
function vaultsSection(summary: Summary): string {
  const p = summary.policies.find((x) => x.vaults);
  const v = p?.vaults;
  if (!v) return '';
  const n = (x: number) => x.toLocaleString('en-US');
  const usd = (x: string) => Math.round(Number(x)).toLocaleString('en-US');
  const rows = v.vaults
    .map((f) => {
      const d = f.depositors;
      const own = d.ownAccountsVsIsolated ? `${n(d.ownAccountsVsIsolated.differ)}` : '–';
      return `<tr><th>${esc(f.id)}</th><td>${esc(f.maxLeverage)}×</td><td>${esc(f.navPerShare.final)}</td><td>${esc(f.navPerShare.low)}</td><td>${n(f.liquidations)}${f.liquidatedAt ? ` (${esc(f.liquidatedAt.slice(0, 16))})` : ''}</td><td>${n(f.trades)}</td><td>${usd(f.fees.management.value)} / ${usd(f.fees.performance.value)}</td><td>${n(d.count)}</td><td>${usd(d.staked)}</td><td>${usd(d.returned)}</td><td>${usd(d.pnl)}${d.pnlPercent === null ? '' : ` (${esc(d.pnlPercent)}%)`}</td><td>${n(d.lostMoney)}</td><td>${own}</td><td>${n(f.isolationBreaches)}</td></tr>`;
    })
    .join('\n');
  return `<h3>Vaults (${esc(p!.id)}): NAV per share and what their depositors got back</h3>
${navChart(v)}
<table><thead><tr><th>vault</th><th>limit</th><th>final NAV/share</th><th>lowest</th><th>liquidations (first)</th><th>trades</th><th>fees mgmt / perf</th><th>depositors</th><th>staked</th><th>returned</th><th>P&amp;L</th><th>lost money</th><th>own accounts ≠ isolated</th><th>breaches</th></tr></thead><tbody>
${rows}
</tbody></table>
<ul class="muted">${v.vaults.map((f) => `<li><b>${esc(f.id)}</b>: ${esc(f.description)}</li>`).join('')}</ul>`;
}

const VAULT_COLORS = ['#d1495b', '#2e86ab', '#3b9c5a'];

/** The vaults' hourly NAV per share as one inline SVG (no script): a polyline per vault, 1 marked. */
function navChart(v: VaultsFigures): string {
  const W = 900;
  const H = 240;
  const pad = 40;
  const all = v.vaults.flatMap((f) => f.navPerShare.hourly.values);
  if (all.length === 0) return '';
  let lo = Math.min(0, ...all);
  let hi = Math.max(1, ...all);
  if (hi - lo < 1e-9) hi = lo + 1;
  lo = Math.floor(lo * 10) / 10;
  hi = Math.ceil(hi * 10) / 10;
  const y = (x: number) => (H - pad - ((x - lo) / (hi - lo)) * (H - 2 * pad)).toFixed(1);
  const lines = v.vaults
    .map((f, i) => {
      const vals = f.navPerShare.hourly.values;
      const step = vals.length > 1 ? (W - 2 * pad) / (vals.length - 1) : 0;
      const pts = vals.map((x, k) => `${(pad + k * step).toFixed(1)},${y(x)}`).join(' ');
      return `<polyline fill="none" stroke="${VAULT_COLORS[i % VAULT_COLORS.length]}" stroke-width="1.6" points="${pts}"/>`;
    })
    .join('');
  const first = v.vaults[0]!.navPerShare.hourly.times;
  const legend = v.vaults
    .map(
      (f, i) =>
        `<span><i style="background:${VAULT_COLORS[i % VAULT_COLORS.length]}"></i>${esc(f.id)} (${esc(f.navPerShare.final)})</span>`,
    )
    .join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="NAV per share over time">
<line x1="${pad}" x2="${W - pad}" y1="${y(1)}" y2="${y(1)}" stroke="#9aa3b2" stroke-dasharray="4 3"/>
<text x="4" y="${y(hi)}" font-size="11" fill="#5b6474">${hi}</text><text x="4" y="${y(1)}" font-size="11" fill="#5b6474">1</text><text x="4" y="${y(lo)}" font-size="11" fill="#5b6474">${lo}</text>
<text x="${pad}" y="${H - 8}" font-size="11" fill="#5b6474">${esc((first[0] ?? '').slice(0, 16))}</text><text x="${W - pad}" y="${H - 8}" font-size="11" fill="#5b6474" text-anchor="end">${esc((first.at(-1) ?? '').slice(0, 16))}</text>
${lines}
</svg>
<div class="legend">NAV per share, USDT, hourly: ${legend}</div>`;
}
