/**
 * Add or remove an isolated position's collateral, or change its leverage — each with a preview first: the new
 * liquidation price and margin ratio from `POST /calc` (venue "live": the engine's own figures), shown beside the
 * current ones, and only then a confirm button. On a market with volatility-adjusted margin it says the figures
 * are at the factor in force, and when a raise will ask for more.
 */
import { useEffect, useState } from 'preact/hooks';
import { formatDecimal, percent, priceDp } from '../format.ts';
import { useSession } from '../hooks.ts';
import { addDecimal, asCalc, type CalcResult, calcLive, cmpDecimal, isDecimal } from '../preview.ts';
import type { Position } from '../types.ts';
import { Dialog, DialogActions } from './Dialog.tsx';
import { ScaledNote } from './MarginFactor.tsx';

export type MarginAction = 'add' | 'remove' | 'leverage';

const TITLES: Record<MarginAction, string> = {
  add: 'Add margin',
  remove: 'Remove margin',
  leverage: 'Change leverage',
};

interface Preview {
  liquidationPrice: string | null;
  marginRatio: string | null;
  collateral: string | null;
  marginDelta?: string;
}

export function MarginDialog(props: {
  position: Position;
  action: MarginAction;
  maxRemovable: string | null;
  onClose(): void;
  onDone(message: string): void;
}) {
  const { api, market } = useSession();
  const p = props.position;
  const m = market(p.symbol);
  const dp = priceDp(m);
  const [value, setValue] = useState(props.action === 'leverage' ? p.leverage : '');
  const [preview, setPreview] = useState<Preview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // Preview on every valid input, debounced; a stale answer never overwrites a newer one.
  useEffect(() => {
    setPreview(null);
    setError(null);
    const v = value.trim();
    if (!isDecimal(v) || cmpDecimal(v, '0') <= 0) return;
    const base = asCalc(p);
    if (base === null) return;
    if (props.action === 'remove' && cmpDecimal(v, p.collateral) >= 0) {
      setError('more than the position holds');
      return;
    }
    let stale = false;
    const t = setTimeout(() => {
      const input =
        props.action === 'leverage'
          ? { ...base, targetLeverage: v }
          : { ...base, margin: addDecimal(p.collateral, v, props.action === 'add' ? 1 : -1) };
      calcLive(api, [input]).then(
        (r: CalcResult) => {
          if (stale) return;
          const x = r.positions[0]!;
          if (props.action === 'leverage') {
            const ch = x.leverageChange;
            setPreview({
              liquidationPrice: ch?.liquidationPrice ?? null,
              marginRatio: null,
              collateral: ch?.collateral ?? null,
              marginDelta: ch?.marginDelta ?? '',
            });
          } else
            setPreview({
              liquidationPrice: x.liquidationPrice,
              marginRatio: x.marginRatio,
              collateral: x.collateral,
            });
        },
        (e: Error) => !stale && setError(e.message),
      );
    }, 200);
    return () => {
      stale = true;
      clearTimeout(t);
    };
  }, [value, props.action, p.collateral, p.entryPrice, p.contracts, p.markPrice]);

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      const v = value.trim();
      if (props.action === 'leverage') {
        await api.setLeverage({ symbol: p.symbol, leverage: v });
        props.onDone(`${p.symbol} leverage set to ${v}x`);
      } else {
        const body = { symbol: p.symbol, amount: v };
        await (props.action === 'add' ? api.addMargin(body) : api.reduceMargin(body));
        props.onDone(
          `${props.action === 'add' ? 'Added' : 'Removed'} ${v} ${m?.settle ?? ''} ${props.action === 'add' ? 'to' : 'from'} ${p.symbol}`,
        );
      }
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const unit = props.action === 'leverage' ? 'x' : (m?.settle ?? '');
  return (
    <Dialog
      title={`${TITLES[props.action]} — ${p.symbol} ${p.side ?? ''}`}
      onClose={props.onClose}
      testId="margin-dialog"
    >
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (preview && !busy) void confirm();
        }}
      >
        <label>
          {props.action === 'leverage' ? 'New leverage' : `Amount (${unit})`}
          <input
            name="amount"
            inputMode="decimal"
            autoFocus
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
            aria-describedby="margin-preview"
          />
        </label>
        {props.action === 'remove' && props.maxRemovable !== null && (
          <p class="muted small">At most {formatDecimal(props.maxRemovable)} can be removed now.</p>
        )}
        <table class="compare" id="margin-preview" aria-live="polite" data-testid="margin-preview">
          <thead>
            <tr>
              <th scope="col" />
              <th scope="col">Now</th>
              <th scope="col">After</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">Liquidation price</th>
              <td>{formatDecimal(p.liquidationPrice, dp)}</td>
              <td data-testid="preview-liquidation">
                {preview ? formatDecimal(preview.liquidationPrice, dp) : '…'}
              </td>
            </tr>
            <tr>
              <th scope="row">Collateral</th>
              <td>{formatDecimal(p.collateral)}</td>
              <td>{preview ? formatDecimal(preview.collateral) : '…'}</td>
            </tr>
            {props.action === 'leverage' ? (
              <tr>
                <th scope="row">From free balance</th>
                <td />
                <td>{preview?.marginDelta ? formatDecimal(preview.marginDelta) : '…'}</td>
              </tr>
            ) : (
              <tr>
                <th scope="row">Margin ratio</th>
                <td>{percent(p.marginRatio)}</td>
                <td>{preview ? percent(preview.marginRatio) : '…'}</td>
              </tr>
            )}
          </tbody>
        </table>
        <ScaledNote symbol={p.symbol} />
        <DialogActions
          error={error}
          closeLabel="Cancel"
          onClose={props.onClose}
          submitLabel={busy ? 'Sending…' : 'Confirm'}
          disabled={!preview || busy}
          submitTestId="margin-confirm"
        />
      </form>
    </Dialog>
  );
}
