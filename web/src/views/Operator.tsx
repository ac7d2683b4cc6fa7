/**
 * The operator's view (admin key): every market's oracle, prices and margin factor (with a raise announced), the
 * insurance fund over time, liquidations as they happen, the positions closest to liquidation across the venue (from
 * the engine's liquidation index, not a scan), the journal's health and the service's own figures. Live from the
 * streams; re-read only on change.
 */
import {
  AreaSeries,
  createChart,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from 'lightweight-charts';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { MarginFactor } from '../components/MarginFactor.tsx';
import { formatDecimal, num, percent, priceDp, time } from '../format.ts';
import { useLoaded, useMarginFactor, useSession, useStream } from '../hooks.ts';
import type { JournalHealth, ServiceStats, StreamMessage } from '../types.ts';

interface LiquidationItem {
  id?: string;
  symbol: string;
  timestamp?: number;
  side?: string;
  contracts?: string;
  price?: string;
  stage?: string;
  mode?: string;
  type?: string;
  account?: string;
}
/** What the `ops` stream carries, and the journal and stats reads together. */
interface Ops {
  journal: JournalHealth;
  stats: ServiceStats;
}

export function Operator() {
  const { api, markets, market } = useSession();
  const markTopics = useMemo(() => markets.map((m) => `mark.${m.symbol}`), [markets]);
  const oracle = useLoaded(
    () => api.oracleStatus(),
    [],
    [...markTopics, ...markets.map((m) => `funding.${m.symbol}`)],
    500,
  );
  const closest = useLoaded(
    () => api.closestToLiquidation({ limit: 20 }),
    [],
    [...markTopics, 'liquidations.all'],
    1_000,
  );
  const ops = useLoaded(() => loadOps(), [], [], 1_000);
  const [opsLive, setOpsLive] = useState<Ops | null>(null);
  useStream('ops', (m) => {
    const last = m.data[m.data.length - 1] as Ops | undefined;
    if (last) setOpsLive(last);
  });
  async function loadOps(): Promise<Ops> {
    const [journal, stats] = await Promise.all([api.journalHealth(), api.serviceStats()]);
    return { journal, stats };
  }
  const o = opsLive ?? ops.data;

  return (
    <div class="operator">
      <section class="panel" aria-labelledby="markets-title">
        <header class="panel-head">
          <h2 id="markets-title">Markets and oracle</h2>
        </header>
        <div class="table-wrap">
          <table data-testid="oracle">
            <thead>
              <tr>
                <th scope="col">Market</th>
                <th scope="col">Oracle</th>
                <th scope="col">Index</th>
                <th scope="col">Mark</th>
                <th scope="col">Funding</th>
                <th scope="col">Next</th>
                <th scope="col">Margin</th>
                <th scope="col">Sources</th>
              </tr>
            </thead>
            <tbody>
              {(oracle.data ?? []).map((v) => {
                const dp = priceDp(market(v.symbol));
                return (
                  <tr key={v.symbol} data-testid={`market-${v.symbol}`}>
                    <th scope="row">{v.symbol}</th>
                    <td class={v.status === 'valid' ? 'ok' : 'warn'}>{v.status}</td>
                    <td>{formatDecimal(v.indexPrice, dp)}</td>
                    <td>{formatDecimal(v.markPrice, dp)}</td>
                    <td>{percent(v.fundingRate, 4)}</td>
                    <td>{v.nextFundingTime ? time(v.nextFundingTime) : '—'}</td>
                    <td>
                      <FactorCell symbol={v.symbol} />
                    </td>
                    <td>
                      <ul class="plain sources">
                        {v.sources.map((s) => (
                          <li key={s.name} class={s.status === 'used' ? '' : 'warn'}>
                            {s.name}: {formatDecimal(s.price, dp)} <span class="muted small">{s.status}</span>
                          </li>
                        ))}
                      </ul>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        {oracle.error && <p class="error">{oracle.error}</p>}
      </section>

      <div class="ops-grid">
        <Insurance />
        <LiquidationFeed />
      </div>

      <section class="panel" aria-labelledby="closest-title">
        <header class="panel-head">
          <h2 id="closest-title">Closest to liquidation</h2>
          <span class="muted small">from the liquidation index</span>
        </header>
        <div class="table-wrap">
          <table data-testid="closest">
            <thead>
              <tr>
                <th scope="col">Account</th>
                <th scope="col">Market</th>
                <th scope="col">Box</th>
                <th scope="col">Size</th>
                <th scope="col">Mark</th>
                <th scope="col">Liq. price</th>
                <th scope="col">Distance</th>
                <th scope="col">Margin ratio</th>
              </tr>
            </thead>
            <tbody>
              {(closest.data ?? []).map((c) => {
                const dp = priceDp(market(c.symbol));
                return (
                  <tr key={`${c.account}:${c.silo}:${c.symbol}`}>
                    <td>{c.account}</td>
                    <td>
                      {c.symbol} <span class={`side ${c.side}`}>{c.side}</span>
                    </td>
                    <td>{c.silo ?? c.marginMode}</td>
                    <td>{formatDecimal(c.contracts)}</td>
                    <td>{formatDecimal(c.markPrice, dp)}</td>
                    <td>{formatDecimal(c.liquidationPrice, dp)}</td>
                    <td class={Number(c.liquidationDistancePercent) < 2 ? 'danger' : ''}>
                      {c.liquidationDistancePercent === null ? '—' : `${c.liquidationDistancePercent} %`}
                    </td>
                    <td>{percent(c.marginRatio)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        {closest.data?.length === 0 && <p class="muted">No open positions.</p>}
        {closest.error && <p class="error">{closest.error}</p>}
      </section>

      <div class="ops-grid">
        <section class="panel" aria-labelledby="journal-title">
          <header class="panel-head">
            <h2 id="journal-title">Journal</h2>
            {o && (
              <span class={o.journal.degraded ? 'badge danger' : 'badge ok'}>
                {o.journal.degraded ? 'degraded' : 'healthy'}
              </span>
            )}
          </header>
          {o && (
            <dl class="figures" data-testid="journal">
              <Fig label="Store" value={o.journal.store} />
              <Fig label="Committed seq" value={String(o.journal.committedSeq)} />
              <Fig label="Pending" value={String(o.journal.pending)} />
              <Fig label="Last commit" value={ms(o.journal.lastCommitMs)} />
              <Fig
                label="Commit p50 / p99"
                value={`${ms(o.journal.commitP50Ms)} / ${ms(o.journal.commitP99Ms)}`}
              />
              <Fig
                label="Last snapshot"
                value={
                  o.journal.lastSnapshot
                    ? `seq ${o.journal.lastSnapshot.seq} at ${time(o.journal.lastSnapshot.time)}`
                    : 'none'
                }
              />
            </dl>
          )}
        </section>
        <section class="panel" aria-labelledby="service-title">
          <header class="panel-head">
            <h2 id="service-title">Service</h2>
          </header>
          {o && (
            <dl class="figures" data-testid="stats">
              <Fig label="Commands/s" value={o.stats.commandsPerSecond.toFixed(1)} />
              <Fig label="Commands" value={o.stats.commandsTotal.toLocaleString('en')} />
              <Fig label="Rejected" value={o.stats.rejectsTotal.toLocaleString('en')} />
              <Fig label="WebSocket clients" value={String(o.stats.wsClients)} />
              <Fig label="Event-loop lag" value={ms(o.stats.eventLoopLagMs)} />
              <Fig label="Memory (RSS)" value={`${(o.stats.rssBytes / 2 ** 20).toFixed(0)} MiB`} />
              <Fig label="Uptime" value={`${Math.floor(o.stats.uptimeSeconds)} s`} />
            </dl>
          )}
        </section>
      </div>
    </div>
  );
}

/** A market's margin factor and the volatility behind it; "static" for a market without dynamic margin. */
function FactorCell(props: { symbol: string }) {
  const d = useMarginFactor(props.symbol);
  if (!d) return <span class="muted">static</span>;
  return (
    <>
      <MarginFactor symbol={props.symbol} label={false} />
      <span class="muted small"> vol {percent(d.vol, 0)}</span>
    </>
  );
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v.toFixed(1)} ms`);

function Fig(props: { label: string; value: string }) {
  return (
    <div>
      <dt>{props.label}</dt>
      <dd>{props.value}</dd>
    </div>
  );
}

/** The insurance fund of each settle asset over time: history, then every change as it is committed. */
function Insurance() {
  const { api } = useSession();
  const funds = useLoaded(() => api.insurance(), [], []);
  const asset = funds.data?.[0]?.asset ?? 'USDT';
  const box = useRef<HTMLDivElement>(null);
  const series = useRef<ISeriesApi<'Area'> | null>(null);
  const chart = useRef<IChartApi | null>(null);
  const [balance, setBalance] = useState<string | null>(null);
  const last = useRef(0);

  useEffect(() => {
    const c = createChart(box.current!, {
      autoSize: true,
      layout: { background: { color: 'transparent' }, textColor: '#9aa0a6', attributionLogo: true },
      grid: { vertLines: { visible: false }, horzLines: { color: '#2a2d30' } },
      timeScale: { timeVisible: true, secondsVisible: true },
    });
    series.current = c.addSeries(AreaSeries, {
      lineColor: '#8ab4f8',
      topColor: 'rgba(138,180,248,0.3)',
      bottomColor: 'rgba(138,180,248,0)',
    });
    chart.current = c;
    return () => {
      c.remove();
      series.current = null;
    };
  }, []);

  const history = useLoaded(() => api.insuranceHistory(asset, { limit: 1000 }), [asset]);
  useEffect(() => {
    if (!history.data || !series.current) return;
    const pts = dedupe(
      history.data.map((h) => ({
        time: Math.floor(h.time / 1000) as UTCTimestamp,
        value: num(h.balance) ?? 0,
      })),
    );
    series.current.setData(pts);
    last.current = pts.length ? pts[pts.length - 1]!.time : 0;
    const b = history.data[history.data.length - 1]?.balance ?? funds.data?.[0]?.balance ?? null;
    setBalance(b);
  }, [history.data, funds.data]);

  useStream(`insurance.${asset}`, (m: StreamMessage) => {
    for (const d of m.data as { time: number; balance: string }[]) {
      const t = Math.floor(d.time / 1000) as UTCTimestamp;
      setBalance(d.balance);
      if (t < last.current) continue;
      last.current = t;
      series.current?.update({ time: t, value: num(d.balance) ?? 0 });
    }
  });

  return (
    <section class="panel" aria-labelledby="insurance-title">
      <header class="panel-head">
        <h2 id="insurance-title">Insurance fund</h2>
        <strong data-testid="insurance-balance">
          {formatDecimal(balance, 2)} {asset}
        </strong>
      </header>
      <div class="chart-box small" ref={box} />
    </section>
  );
}

/** Several points in one second: keep the last (the chart needs strictly increasing times). */
function dedupe<T extends { time: number }>(pts: T[]): T[] {
  const out: T[] = [];
  for (const p of pts) {
    if (out.length > 0 && out[out.length - 1]!.time === p.time) out[out.length - 1] = p;
    else out.push(p);
  }
  return out;
}

/** Liquidations as they are committed: stages, the backstop taking over, auto-deleveraging — with account ids. */
function LiquidationFeed() {
  const { api, market, markets } = useSession();
  const [items, setItems] = useState<(LiquidationItem & { key: string; at: number })[]>([]);
  // The recent ones first (the public lists, without account ids), then the live stream on top.
  const recent = useLoaded(
    () => Promise.all(markets.map((m): Promise<LiquidationItem[]> => api.liquidations(m.symbol))),
    [],
  );
  useEffect(() => {
    if (!recent.data) return;
    const old = recent.data
      .flat()
      .map((d) => ({ ...d, key: `r:${d.id ?? ''}:${d.symbol}`, at: d.timestamp ?? 0 }))
      .sort((a, b) => b.at - a.at);
    setItems((xs) =>
      [...xs, ...old.filter((o) => !xs.some((x) => x.id !== undefined && x.id === o.id))].slice(0, 100),
    );
  }, [recent.data]);
  useStream('liquidations.all', (m) => {
    const fresh = (m.data as LiquidationItem[]).map((d, i) => ({ ...d, key: `${m.seq}:${i}`, at: m.time }));
    setItems((xs) => [...fresh.reverse(), ...xs].slice(0, 100));
  });
  return (
    <section class="panel" aria-labelledby="liq-title">
      <header class="panel-head">
        <h2 id="liq-title">Liquidations</h2>
        <span class="muted small">live</span>
      </header>
      <ul class="feed" data-testid="liquidation-feed" aria-live="polite">
        {items.length === 0 && <li class="muted">No liquidations yet.</li>}
        {items.map((x) => (
          <li key={x.key} data-testid="liquidation-item">
            <span class="muted">{time(x.timestamp ?? x.at)}</span> <strong>{x.symbol}</strong>{' '}
            {x.type && x.type !== 'liquidation' ? `${x.type} ` : ''}
            {x.stage ?? ''} {x.side ?? ''} {x.contracts ? formatDecimal(x.contracts) : ''}
            {x.price ? ` @ ${formatDecimal(x.price, priceDp(market(x.symbol)))}` : ''}
            {x.account ? <span class="muted"> · {x.account}</span> : null}
            {x.mode ? <span class="muted small"> ({x.mode})</span> : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
