/**
 * The mark price of one market (each period's close, from `GET /candles` and live from the `candles.<SYMBOL>.<tf>`
 * stream — a line, since a mark sampled once a period makes flat candles), with labelled horizontal lines for what
 * the trader has there: entry, liquidation, stop-loss and take-profit. The price scale always takes in those lines, so
 * the distance to liquidation is visible, not scrolled off. TradingView Lightweight Charts, bundled (its attribution
 * logo stays on: its licence asks for it).
 */
import {
  AreaSeries,
  type AutoscaleInfo,
  createChart,
  type IChartApi,
  type IPriceLine,
  type ISeriesApi,
  LineStyle,
  type UTCTimestamp,
} from 'lightweight-charts';
import { useEffect, useRef, useState } from 'preact/hooks';
import { num } from '../format.ts';
import { useLoaded, useSession, useStream } from '../hooks.ts';
import type { Candle, StreamMessage } from '../types.ts';

export interface ChartLine {
  /** Stable id (e.g. `liq:isolated:BTCUSDT`), so a moved line is moved, not redrawn. */
  id: string;
  price: string;
  title: string;
  kind: 'entry' | 'liquidation' | 'stopLoss' | 'takeProfit' | 'bankruptcy';
}

const COLORS: Record<ChartLine['kind'], string> = {
  entry: '#8ab4f8',
  liquidation: '#f28b82',
  bankruptcy: '#c5221f',
  stopLoss: '#fdd663',
  takeProfit: '#81c995',
};

export const TIMEFRAMES = ['1s', '1m', '5m', '15m', '1h'] as const;
export type Timeframe = (typeof TIMEFRAMES)[number];

function point(c: Candle) {
  return { time: Math.floor(c[0] / 1000) as UTCTimestamp, value: Number(c[4]) };
}

export function PriceChart(props: { symbol: string; lines: ChartLine[]; priceDp: number }) {
  const { api } = useSession();
  const [tf, setTf] = useState<Timeframe>('1m');
  /** Until the trader picks one: a market with under 20 minutes of history opens on seconds, so it shows a line. */
  const picked = useRef(false);
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<ISeriesApi<'Area'> | null>(null);
  /** The lines' prices, for the price scale (read by the series' autoscale hook at each redraw). */
  const linePrices = useRef<number[]>([]);
  const drawn = useRef(new Map<string, IPriceLine>());
  const lastTime = useRef(0);

  useEffect(() => {
    const el = box.current!;
    const dark = matchMedia('(prefers-color-scheme: dark)').matches;
    const c = createChart(el, {
      autoSize: true,
      layout: {
        background: { color: 'transparent' },
        textColor: dark ? '#c4c7c5' : '#3c4043',
        attributionLogo: true,
      },
      grid: {
        vertLines: { color: dark ? '#2a2d30' : '#eceff1' },
        horzLines: { color: dark ? '#2a2d30' : '#eceff1' },
      },
      timeScale: { timeVisible: true, secondsVisible: true },
      rightPriceScale: { borderVisible: false },
    });
    const s = c.addSeries(AreaSeries, {
      lineColor: '#8ab4f8',
      lineWidth: 2,
      topColor: 'rgba(138, 180, 248, 0.25)',
      bottomColor: 'rgba(138, 180, 248, 0)',
      priceFormat: { type: 'price', precision: props.priceDp, minMove: 10 ** -props.priceDp },
      autoscaleInfoProvider: (original: () => AutoscaleInfo | null): AutoscaleInfo | null => {
        const r = original();
        const ps = linePrices.current;
        if (r === null || r.priceRange === null || ps.length === 0) return r;
        return {
          ...r,
          priceRange: {
            minValue: Math.min(r.priceRange.minValue, ...ps),
            maxValue: Math.max(r.priceRange.maxValue, ...ps),
          },
        };
      },
    });
    chart.current = c;
    series.current = s;
    return () => {
      drawn.current.clear();
      c.remove();
      chart.current = null;
      series.current = null;
    };
  }, [props.symbol, props.priceDp]);

  const history = useLoaded(
    () => api.candles(props.symbol, { timeframe: tf, price: 'mark', limit: 500 }),
    [props.symbol, tf],
  );
  useEffect(() => {
    const s = series.current;
    if (!s || !history.data) return;
    if (!picked.current && tf === '1m' && history.data.length < 20) {
      picked.current = true;
      setTf('1s');
      return;
    }
    const pts = history.data.map(point);
    s.setData(pts);
    lastTime.current = pts.length > 0 ? pts[pts.length - 1]!.time : 0;
    chart.current?.timeScale().scrollToRealTime();
  }, [history.data]);

  useStream(`candles.${props.symbol}.${tf}`, (m: StreamMessage) => {
    const s = series.current;
    if (!s) return;
    for (const item of m.data) {
      const c = (Array.isArray(item) ? item : (item as { candle?: Candle }).candle) as Candle | undefined;
      if (!c) continue;
      const pt = point(c);
      if (pt.time < lastTime.current) continue; // an update older than what is drawn (history raced it)
      lastTime.current = pt.time;
      s.update(pt);
    }
  });

  // Lines: add, move or remove by id.
  useEffect(() => {
    const s = series.current;
    if (!s) return;
    const want = new Map(props.lines.filter((l) => num(l.price) !== null).map((l) => [l.id, l]));
    linePrices.current = [...want.values()].map((l) => num(l.price)!);
    for (const [id, pl] of drawn.current) {
      if (!want.has(id)) {
        s.removePriceLine(pl);
        drawn.current.delete(id);
      }
    }
    for (const [id, l] of want) {
      const opts = {
        price: num(l.price)!,
        color: COLORS[l.kind],
        lineWidth: 1 as const,
        lineStyle: l.kind === 'entry' ? LineStyle.Solid : LineStyle.Dashed,
        axisLabelVisible: true,
        title: l.title,
      };
      const pl = drawn.current.get(id);
      if (pl) pl.applyOptions(opts);
      else drawn.current.set(id, s.createPriceLine(opts));
    }
  });

  return (
    <section class="panel chart" aria-label={`${props.symbol} mark price chart`}>
      <header class="panel-head">
        <h2>{props.symbol} mark</h2>
        <fieldset class="segmented">
          <legend class="sr-only">timeframe</legend>
          {TIMEFRAMES.map((t) => (
            <button
              type="button"
              key={t}
              aria-pressed={t === tf}
              class={t === tf ? 'on' : ''}
              onClick={() => {
                picked.current = true;
                setTf(t);
              }}
            >
              {t}
            </button>
          ))}
        </fieldset>
      </header>
      <div
        class="chart-box"
        ref={box}
        data-testid="price-chart"
        data-lines={JSON.stringify(props.lines.map((l) => ({ id: l.id, price: l.price, kind: l.kind })))}
      />
      {history.error && <p class="error">{history.error}</p>}
    </section>
  );
}
