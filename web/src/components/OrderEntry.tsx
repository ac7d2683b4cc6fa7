/**
 * Order entry with a pre-trade preview: before the order is sent, the position it would leave (size, average entry),
 * that position's liquidation price, the margin the order would lock and the taker fee — from `POST /calc` on the
 * live markets, for the price the order would fill at (its limit, or the best opposite quote for a market order). On a
 * market with volatility-adjusted margin the preview's requirements are the scaled ones in force, and it says so.
 */
import { useEffect, useState } from 'preact/hooks';
import { decimalsOf, formatDecimal, priceDp, sizeDp } from '../format.ts';
import { useSession } from '../hooks.ts';
import { addDecimal, type CalcPosition, calcLive, cmpDecimal, isDecimal, takerFee } from '../preview.ts';
import type { Market, PlaceOrderBody, Position, Ticker } from '../types.ts';
import { ScaledNote } from './MarginFactor.tsx';

type Side = 'buy' | 'sell';

export interface OrderPreview {
  resulting: { side: 'long' | 'short' | null; size: string; entryPrice: string | null };
  liquidationPrice: string | null;
  initialMargin: string | null;
  fee: string;
  reduces: boolean;
}

/** Weighted average entry of adding `size` at `price` to `size0` at `entry0`, rounded against the holder (as the
 * engine averages: a long's entry up, a short's down) to the market's price decimals. */
export function averageEntry(
  size0: string,
  entry0: string,
  size: string,
  price: string,
  long: boolean,
  dp: number,
): string {
  const sdp = Math.max(decimalsOf(size0), decimalsOf(size));
  const pdp = Math.max(decimalsOf(entry0), decimalsOf(price), dp);
  const S = (x: string, d: number) => {
    const [i, f = ''] = x.split('.');
    return BigInt((i || '0') + f.padEnd(d, '0'));
  };
  const num = S(size0, sdp) * S(entry0, pdp) + S(size, sdp) * S(price, pdp);
  const den = S(size0, sdp) + S(size, sdp);
  // num/den at pdp decimals → rescale to dp with rounding against the holder.
  const scale = 10n ** BigInt(pdp - dp);
  const q = num / (den * scale);
  const r = num % (den * scale);
  const v = long && r !== 0n ? q + 1n : q;
  const s = v.toString().padStart(dp + 1, '0');
  return dp > 0 ? `${s.slice(0, -dp)}.${s.slice(-dp)}` : s;
}

export function previewInput(
  m: Market,
  current: Position | null,
  side: Side,
  amount: string,
  price: string,
  leverage: string,
): { calc: CalcPosition | null; preview: Omit<OrderPreview, 'liquidationPrice' | 'initialMargin'> } {
  const fee = takerFee(m, amount, price);
  const held = current && current.side !== null ? current : null;
  const buying = side === 'buy';
  const dp = decimalsOf(m.tickSize);
  if (held === null || (held.side === 'long') === buying) {
    const long = buying;
    const size = held ? addDecimal(held.contracts, amount) : amount;
    const entry = held ? averageEntry(held.contracts, held.entryPrice!, amount, price, long, dp) : price;
    const c: CalcPosition = {
      symbol: m.symbol,
      side: long ? 'long' : 'short',
      size,
      entryPrice: entry,
      leverage,
    };
    if (held?.markPrice) c.markPrice = held.markPrice;
    // Adding to an isolated position: its collateral grows by the new part's initial margin.
    if (held && held.marginMode === 'isolated')
      c.extraMargin = addDecimal(held.collateral, held.initialMargin, -1);
    return {
      calc: c,
      preview: { resulting: { side: c.side, size, entryPrice: entry }, fee, reduces: false },
    };
  }
  // The order reduces (or flips) the position.
  const cmp = cmpDecimal(amount, held.contracts);
  if (cmp <= 0) {
    const size = addDecimal(held.contracts, amount, -1);
    return {
      calc: null,
      preview: {
        resulting: {
          side: cmp === 0 ? null : held.side,
          size,
          entryPrice: cmp === 0 ? null : held.entryPrice,
        },
        fee,
        reduces: true,
      },
    };
  }
  const size = addDecimal(amount, held.contracts, -1);
  const c: CalcPosition = {
    symbol: m.symbol,
    side: buying ? 'long' : 'short',
    size,
    entryPrice: price,
    leverage,
  };
  return { calc: c, preview: { resulting: { side: c.side, size, entryPrice: price }, fee, reduces: false } };
}

export function OrderEntry(props: {
  market: Market;
  ticker: Ticker | null;
  position: Position | null;
  marginMode: 'isolated' | 'cross';
  onPlaced(message: string): void;
}) {
  const { api } = useSession();
  const m = props.market;
  const [side, setSide] = useState<Side>('buy');
  const [type, setType] = useState<'limit' | 'market'>('limit');
  const [amount, setAmount] = useState('');
  const [price, setPrice] = useState('');
  const [leverage, setLeverage] = useState(props.position?.leverage ?? m.defaultLeverage);
  const [reduceOnly, setReduceOnly] = useState(false);
  const [preview, setPreview] = useState<OrderPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    setLeverage(props.position?.leverage ?? m.defaultLeverage);
  }, [m.symbol, props.position?.leverage]);

  const fillPrice =
    type === 'limit'
      ? price.trim()
      : ((side === 'buy' ? props.ticker?.ask : props.ticker?.bid) ?? props.ticker?.markPrice ?? '');

  useEffect(() => {
    setPreview(null);
    const a = amount.trim();
    if (!isDecimal(a) || !isDecimal(fillPrice) || cmpDecimal(a, '0') <= 0 || !isDecimal(leverage)) return;
    const { calc, preview: base } = previewInput(m, props.position, side, a, fillPrice, leverage);
    if (calc === null) {
      setPreview({
        ...base,
        liquidationPrice: props.position?.liquidationPrice ?? null,
        initialMargin: null,
      });
      return;
    }
    let stale = false;
    const t = setTimeout(() => {
      calcLive(api, [calc]).then(
        (r) => {
          if (stale) return;
          const x = r.positions[0]!;
          setPreview({ ...base, liquidationPrice: x.liquidationPrice, initialMargin: x.initialMargin });
          setError(null);
        },
        (e: Error) => {
          if (!stale) setError(e.message);
        },
      );
    }, 200);
    return () => {
      stale = true;
      clearTimeout(t);
    };
  }, [amount, fillPrice, side, leverage, m.symbol, props.position?.contracts, props.position?.entryPrice]);

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      if (props.position?.side == null && props.position?.leverage !== leverage && isDecimal(leverage))
        await api.setLeverage({ symbol: m.symbol, leverage });
      const body: PlaceOrderBody = { symbol: m.symbol, side, type, amount: amount.trim() };
      if (type === 'limit') body.price = price.trim();
      if (reduceOnly) body.reduceOnly = true;
      const r = await api.placeOrder(body);
      props.onPlaced(
        `Order ${r.id}: ${r.status}, filled ${formatDecimal(r.filled)}${r.average ? ` at ${formatDecimal(r.average, priceDp(m))}` : ''}`,
      );
      setAmount('');
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const dp = priceDp(m);
  return (
    <section class="panel order-entry" aria-labelledby="order-title">
      <header class="panel-head">
        <h2 id="order-title">Order · {m.symbol}</h2>
        <span class="muted small">{props.marginMode}</span>
      </header>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (!busy) void submit();
        }}
      >
        <fieldset class="segmented wide">
          <legend class="sr-only">side</legend>
          {(['buy', 'sell'] as const).map((s) => (
            <button
              type="button"
              key={s}
              class={`${s} ${side === s ? 'on' : ''}`}
              aria-pressed={side === s}
              onClick={() => setSide(s)}
            >
              {s === 'buy' ? 'Buy / long' : 'Sell / short'}
            </button>
          ))}
        </fieldset>
        <fieldset class="segmented wide">
          <legend class="sr-only">order type</legend>
          {(['limit', 'market'] as const).map((t) => (
            <button
              type="button"
              key={t}
              class={type === t ? 'on' : ''}
              aria-pressed={type === t}
              onClick={() => setType(t)}
            >
              {t}
            </button>
          ))}
        </fieldset>
        {type === 'limit' && (
          <label>
            Price
            <input
              name="price"
              inputMode="decimal"
              value={price}
              onInput={(e) => setPrice(e.currentTarget.value)}
              step={m.tickSize}
            />
          </label>
        )}
        <label>
          Amount ({m.base})
          <input
            name="amount"
            inputMode="decimal"
            value={amount}
            onInput={(e) => setAmount(e.currentTarget.value)}
          />
        </label>
        <label>
          Leverage
          <input
            name="leverage"
            inputMode="decimal"
            value={leverage}
            disabled={props.position?.side != null}
            title={
              props.position?.side != null ? 'change an open position’s leverage from its box' : undefined
            }
            onInput={(e) => setLeverage(e.currentTarget.value)}
          />
        </label>
        <label class="toggle">
          <input
            type="checkbox"
            checked={reduceOnly}
            onChange={(e) => setReduceOnly(e.currentTarget.checked)}
          />
          Reduce-only
        </label>
        <dl class="preview" aria-live="polite" data-testid="order-preview">
          <div>
            <dt>Position after</dt>
            <dd data-testid="preview-position">
              {preview
                ? preview.resulting.side === null
                  ? 'flat'
                  : `${preview.resulting.side} ${formatDecimal(preview.resulting.size, sizeDp(m))} @ ${formatDecimal(preview.resulting.entryPrice, dp)}`
                : '—'}
            </dd>
          </div>
          <div>
            <dt>Liquidation price</dt>
            <dd data-testid="preview-order-liquidation">
              {preview ? formatDecimal(preview.liquidationPrice, dp) : '—'}
            </dd>
          </div>
          <div>
            <dt>Margin locked</dt>
            <dd data-testid="preview-margin">
              {preview?.initialMargin ? formatDecimal(preview.initialMargin) : '—'}
            </dd>
          </div>
          <div>
            <dt>Fee (taker)</dt>
            <dd data-testid="preview-fee">{preview ? formatDecimal(preview.fee, 2) : '—'}</dd>
          </div>
        </dl>
        <ScaledNote symbol={m.symbol} />
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button
          type="submit"
          class={`primary ${side}`}
          disabled={busy || !isDecimal(amount.trim())}
          data-testid="place-order"
        >
          {busy ? 'Sending…' : `${side === 'buy' ? 'Buy' : 'Sell'} ${m.base}`}
        </button>
      </form>
    </section>
  );
}
