/**
 * Stop-loss and take-profit for a position: reduce-only orders the engine triggers by the mark price (journaled like
 * every command). Warns when a stop sits beyond the liquidation price — the box would be liquidated first.
 */
import { useState } from 'preact/hooks';
import { formatDecimal, priceDp } from '../format.ts';
import { useSession } from '../hooks.ts';
import { cmpDecimal, isDecimal } from '../preview.ts';
import type { Order, Position } from '../types.ts';
import { Dialog, DialogActions } from './Dialog.tsx';

export function ProtectDialog(props: {
  position: Position;
  orders: Order[];
  onClose(): void;
  onDone(message: string): void;
}) {
  const { api, market } = useSession();
  const p = props.position;
  const m = market(p.symbol);
  const dp = priceDp(m);
  const long = p.side === 'long';
  const closeSide = long ? 'sell' : 'buy';
  const [stop, setStop] = useState('');
  const [take, setTake] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const triggers = props.orders.filter(
    (o) =>
      o.symbol === p.symbol && (o.stopLossPrice || o.takeProfitPrice) && !o.triggered && o.silo === p.silo,
  );

  const beyondLiq =
    isDecimal(stop) &&
    p.liquidationPrice !== null &&
    (long ? cmpDecimal(stop, p.liquidationPrice) <= 0 : cmpDecimal(stop, p.liquidationPrice) >= 0);

  const submit = async () => {
    setBusy(true);
    setError(null);
    const placed: string[] = [];
    try {
      const base = { symbol: p.symbol, side: closeSide, type: 'market', amount: p.contracts } as const;
      if (stop.trim()) {
        await api.placeOrder({ ...base, stopLossPrice: stop.trim() });
        placed.push(`stop-loss at ${stop.trim()}`);
      }
      if (take.trim()) {
        await api.placeOrder({ ...base, takeProfitPrice: take.trim() });
        placed.push(`take-profit at ${take.trim()}`);
      }
      props.onDone(`${p.symbol}: ${placed.join(' and ')} set`);
    } catch (e) {
      setError(`${placed.length > 0 ? `${placed.join(', ')} set; ` : ''}${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  const cancel = async (o: Order) => {
    try {
      await api.cancelOrder(o.id);
      props.onDone(`${p.symbol}: trigger order ${o.id} canceled`);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <Dialog
      title={`Stop / take profit — ${p.symbol} ${p.side}`}
      onClose={props.onClose}
      testId="protect-dialog"
    >
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (!busy && (stop.trim() || take.trim())) void submit();
        }}
      >
        <p class="muted small">
          Triggered by the mark price (now {formatDecimal(p.markPrice, dp)}); closes{' '}
          {formatDecimal(p.contracts)} with a reduce-only market order. Liquidation at{' '}
          {formatDecimal(p.liquidationPrice, dp)}.
        </p>
        <label>
          Stop-loss price ({long ? 'mark falls to' : 'mark rises to'})
          <input
            name="stopLoss"
            inputMode="decimal"
            value={stop}
            onInput={(e) => setStop(e.currentTarget.value)}
          />
        </label>
        {beyondLiq && (
          <p class="warn small" role="status">
            This stop is beyond the liquidation price: the position would be liquidated before it triggers.
          </p>
        )}
        <label>
          Take-profit price ({long ? 'mark rises to' : 'mark falls to'})
          <input
            name="takeProfit"
            inputMode="decimal"
            value={take}
            onInput={(e) => setTake(e.currentTarget.value)}
          />
        </label>
        {triggers.length > 0 && (
          <ul class="plain">
            {triggers.map((o) => (
              <li key={o.id}>
                {o.stopLossPrice
                  ? `Stop-loss ${formatDecimal(o.stopLossPrice, dp)}`
                  : `Take-profit ${formatDecimal(o.takeProfitPrice, dp)}`}{' '}
                · {formatDecimal(o.amount)}{' '}
                <button type="button" class="link" onClick={() => void cancel(o)}>
                  Cancel
                </button>
              </li>
            ))}
          </ul>
        )}
        <DialogActions
          error={error}
          closeLabel="Close"
          onClose={props.onClose}
          submitLabel="Set"
          disabled={busy || !(stop.trim() || take.trim())}
        />
      </form>
    </Dialog>
  );
}
