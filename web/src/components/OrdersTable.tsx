/** The account's open orders, stop-loss and take-profit orders among them (untriggered until the mark reaches them). */
import { useState } from 'preact/hooks';
import { formatDecimal, priceDp, sizeDp } from '../format.ts';
import { useSession } from '../hooks.ts';
import type { Order } from '../types.ts';

export function kindOf(o: Order): string {
  if (o.stopLossPrice) return o.triggered ? 'stop-loss (triggered)' : 'stop-loss';
  if (o.takeProfitPrice) return o.triggered ? 'take-profit (triggered)' : 'take-profit';
  return o.type;
}

export function OrdersTable(props: { orders: Order[]; onChanged(message: string): void }) {
  const { api, market } = useSession();
  const [error, setError] = useState<string | null>(null);
  const cancel = async (o: Order) => {
    setError(null);
    try {
      await api.cancelOrder(o.id);
      props.onChanged(`Order ${o.id} canceled`);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <section class="panel" aria-labelledby="orders-title">
      <header class="panel-head">
        <h2 id="orders-title">Open orders</h2>
        <span class="muted small">{props.orders.length}</span>
      </header>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {props.orders.length === 0 ? (
        <p class="muted">No open orders.</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="orders">
            <thead>
              <tr>
                <th scope="col">Market</th>
                <th scope="col">Kind</th>
                <th scope="col">Side</th>
                <th scope="col">Price / trigger</th>
                <th scope="col">Amount</th>
                <th scope="col">Remaining</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {props.orders.map((o) => {
                const m = market(o.symbol);
                const trigger = o.stopLossPrice ?? o.takeProfitPrice ?? null;
                return (
                  <tr key={o.id} data-testid={`order-${o.id}`}>
                    <td>{o.symbol}</td>
                    <td>
                      {kindOf(o)}
                      {o.reduceOnly && <span class="muted small"> · reduce-only</span>}
                    </td>
                    <td class={`side ${o.side === 'buy' ? 'long' : 'short'}`}>{o.side}</td>
                    <td>
                      {trigger && !o.triggered
                        ? `mark ${o.stopLossPrice ? (o.side === 'sell' ? '≤' : '≥') : o.side === 'sell' ? '≥' : '≤'} ${formatDecimal(trigger, priceDp(m))}`
                        : o.price === null
                          ? 'market'
                          : formatDecimal(o.price, priceDp(m))}
                    </td>
                    <td>{formatDecimal(o.amount, sizeDp(m))}</td>
                    <td>{formatDecimal(o.remaining, sizeDp(m))}</td>
                    <td>
                      <button
                        type="button"
                        class="link"
                        onClick={() => void cancel(o)}
                        aria-label={`Cancel order ${o.id}`}
                      >
                        Cancel
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
