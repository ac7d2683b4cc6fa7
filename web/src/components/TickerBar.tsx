/**
 * The selected market's prices: mark, index, last, best bid/ask, funding, the oracle's state and, for a market with
 * volatility-adjusted margin, the factor in force and a raise announced — live.
 */
import { formatDecimal, percent, priceDp, time } from '../format.ts';
import type { Market, Ticker } from '../types.ts';
import { MarginFactor } from './MarginFactor.tsx';

export function TickerBar(props: {
  markets: Market[];
  symbol: string;
  ticker: Ticker | null;
  onSelect(s: string): void;
}) {
  const m = props.markets.find((x) => x.symbol === props.symbol);
  const t = props.ticker;
  const dp = priceDp(m);
  return (
    <section class="ticker" aria-label="market">
      <label class="market-select">
        <span class="sr-only">Market</span>
        <select value={props.symbol} onChange={(e) => props.onSelect(e.currentTarget.value)}>
          {props.markets.map((x) => (
            <option key={x.symbol} value={x.symbol}>
              {x.symbol}
            </option>
          ))}
        </select>
      </label>
      <dl class="figures inline">
        <div>
          <dt>Mark</dt>
          <dd data-testid="ticker-mark">{formatDecimal(t?.markPrice, dp)}</dd>
        </div>
        <div>
          <dt>Index</dt>
          <dd>{formatDecimal(t?.indexPrice, dp)}</dd>
        </div>
        <div>
          <dt>Last</dt>
          <dd>{formatDecimal(t?.last, dp)}</dd>
        </div>
        <div>
          <dt>Bid / ask</dt>
          <dd>
            {formatDecimal(t?.bid, dp)} / {formatDecimal(t?.ask, dp)}
          </dd>
        </div>
        <div>
          <dt>Funding</dt>
          <dd>
            {percent(t?.fundingRate, 4)}
            {t?.nextFundingTime ? <span class="muted small"> next {time(t.nextFundingTime)}</span> : null}
          </dd>
        </div>
        <div>
          <dt>Oracle</dt>
          <dd class={t?.oracle && t.oracle !== 'valid' ? 'warn' : ''}>
            {t?.oracle ?? (m?.oracle ? '—' : 'direct')}
          </dd>
        </div>
        {m?.dynamicMargin && (
          <div>
            <dt>Margin</dt>
            <dd>
              <MarginFactor symbol={m.symbol} label={false} />
            </dd>
          </div>
        )}
      </dl>
    </section>
  );
}
