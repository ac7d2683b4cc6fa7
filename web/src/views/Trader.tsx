/**
 * The trader's view: every box the account holds (isolated positions, the cross bucket, named silos) with how far each
 * is from liquidation, a chart of the selected market's mark with entry / liquidation / stop lines, order entry with a
 * preview, open orders, and margin alerts; the collateral rebalancing agent's settings between named silos, and its
 * moves as they happen; the venue's vaults with the trader's holding, deposit and withdrawal. Every figure is re-read
 * when a stream says it changed — never on a timer.
 */
import { useMemo, useState } from 'preact/hooks';
import { Alerts, rebalancedText } from '../components/Alerts.tsx';
import { MarginDialog } from '../components/MarginDialog.tsx';
import { OrderEntry } from '../components/OrderEntry.tsx';
import { OrdersTable } from '../components/OrdersTable.tsx';
import { type ChartLine, PriceChart } from '../components/PriceChart.tsx';
import { ProtectDialog } from '../components/ProtectDialog.tsx';
import { RebalancingDialog } from '../components/RebalancingDialog.tsx';
import { type LegAction, SiloCard } from '../components/SiloCard.tsx';
import { TickerBar } from '../components/TickerBar.tsx';
import { Toasts, useToasts } from '../components/Toasts.tsx';
import { VaultsPanel } from '../components/VaultsPanel.tsx';
import { decimalsOf, formatDecimal, percent } from '../format.ts';
import { useLoaded, useSession } from '../hooks.ts';
import { addDecimal } from '../preview.ts';
import type { CollateralRebalanced, MarginAlert, PlaceOrderBody, Position, Silo } from '../types.ts';

type Open = { action: 'add' | 'remove' | 'leverage' | 'protect'; leg: Position; silo: Silo } | null;

export function Trader(props: { symbol: string | null }) {
  const { api, markets, market, me } = useSession();
  const symbol = props.symbol && market(props.symbol) ? props.symbol : (markets[0]?.symbol ?? '');
  const m = market(symbol);
  const select = (s: string) => {
    location.hash = `#/trade/${s}`;
  };
  const toasts = useToasts();
  const [open, setOpen] = useState<Open>(null);
  const [mode, setMode] = useState<'isolated' | 'cross'>('isolated');
  const [rebalancingOpen, setRebalancingOpen] = useState(false);

  const markTopics = useMemo(() => markets.map((x) => `mark.${x.symbol}`), [markets]);
  const silos = useLoaded(() => api.silos(), [], ['positions', 'silos', 'liquidations', ...markTopics], 400);
  const orders = useLoaded(() => api.orders(), [], ['orders', 'fills']);
  const rebalancing = useLoaded(() => api.rebalancing(), [], ['silos']);
  const balance = useLoaded(() => api.balance(), [], ['positions', 'fills', 'silos', 'liquidations']);
  const funding = useLoaded(() => api.fundingHistory(), [], ['positions'], 2_000);
  const ticker = useLoaded(
    () => api.ticker(symbol),
    [symbol],
    [`mark.${symbol}`, `trades.${symbol}`, `funding.${symbol}`],
    300,
  );

  const fundingBySymbol = useMemo(() => {
    const out: Record<string, string> = {};
    for (const f of funding.data ?? [])
      if (f.silo === null) out[f.symbol] = addDecimal(out[f.symbol] ?? '0', f.amount);
    return out;
  }, [funding.data]);

  // A named silo is shown while it exists (it may hold collateral only: a giver to the rebalancing agent); the others
  // while they hold a position.
  const boxes = (silos.data ?? []).filter((s) => s.kind === 'named' || s.legs.some((l) => l.side !== null));
  const named = boxes.filter((s) => s.kind === 'named');
  const position =
    boxes
      .flatMap((s) => (s.kind === 'named' ? [] : s.legs))
      .find((l) => l.symbol === symbol && l.side !== null) ?? null;
  const openOrders = orders.data ?? [];

  const lines: ChartLine[] = [];
  for (const s of boxes) {
    for (const l of s.legs) {
      if (l.symbol !== symbol || l.side === null) continue;
      const tag = s.kind === 'named' ? `${s.id} ` : s.kind === 'cross' ? 'cross ' : '';
      if (l.entryPrice)
        lines.push({ id: `entry:${s.id}`, price: l.entryPrice, title: `${tag}entry`, kind: 'entry' });
      if (l.liquidationPrice)
        lines.push({
          id: `liq:${s.id}`,
          price: l.liquidationPrice,
          title: `${tag}liq.`,
          kind: 'liquidation',
        });
    }
  }
  for (const o of openOrders) {
    if (o.symbol !== symbol || o.triggered) continue;
    if (o.stopLossPrice)
      lines.push({ id: `sl:${o.id}`, price: o.stopLossPrice, title: 'stop', kind: 'stopLoss' });
    if (o.takeProfitPrice)
      lines.push({ id: `tp:${o.id}`, price: o.takeProfitPrice, title: 'take profit', kind: 'takeProfit' });
  }

  const done = (msg: string) => {
    setOpen(null);
    setRebalancingOpen(false);
    toasts.push(msg, 'ok');
    silos.reload();
    orders.reload();
    rebalancing.reload();
  };

  const act = async (action: LegAction, leg: Position, silo: Silo) => {
    try {
      if (action === 'close') {
        const body: PlaceOrderBody = {
          symbol: leg.symbol,
          side: leg.side === 'long' ? 'sell' : 'buy',
          type: 'market',
          amount: leg.contracts,
          reduceOnly: true,
        };
        if (silo.kind === 'named') body.silo = silo.id;
        const r = await api.placeOrder(body);
        done(`Close ${leg.symbol}: ${r.status}, filled ${formatDecimal(r.filled)}`);
      } else if (action === 'autoAdd') {
        const enabled = !leg.autoAddMargin;
        await api.setAutoAddMargin({ symbol: leg.symbol, enabled });
        done(`Auto-add margin ${enabled ? 'on' : 'off'} for ${leg.symbol}`);
      } else setOpen({ action, leg, silo });
    } catch (e) {
      toasts.push((e as Error).message, 'error');
    }
  };

  const changeMode = async (next: 'isolated' | 'cross') => {
    try {
      await api.setMarginMode({ symbol, marginMode: next });
      setMode(next);
      toasts.push(`${symbol}: ${next} margin`, 'ok');
    } catch (e) {
      toasts.push((e as Error).message, 'error');
    }
  };

  const onAlert = (a: MarginAlert) =>
    toasts.push(
      `${a.symbol}${a.silo ? ` (${a.silo})` : ''}: margin ratio ${percent(a.marginRatio)} ${a.direction === 'up' ? `reached ${percent(a.level, 0)}` : `recovered below ${percent(a.level, 0)}`}`,
      a.direction === 'up' ? 'warn' : 'ok',
    );

  const onRebalanced = (r: CollateralRebalanced) => toasts.push(rebalancedText(r), 'warn');

  const settle = m?.settle ?? 'USDT';
  const bal = balance.data;
  return (
    <div class="trader">
      <TickerBar markets={markets} symbol={symbol} ticker={ticker.data} onSelect={select} />
      <section class="account-strip" aria-label="balance">
        <span>
          Account <strong>{me.account ?? bal?.account ?? '—'}</strong>
        </span>
        <span>
          Free <strong data-testid="free-balance">{formatDecimal(bal?.free[settle] ?? null, 2)}</strong>{' '}
          {settle}
        </span>
        <span>
          In use <strong>{formatDecimal(bal?.used[settle] ?? null, 2)}</strong>
        </span>
        <span>
          Total <strong>{formatDecimal(bal?.total[settle] ?? null, 2)}</strong>
        </span>
      </section>
      <div class="trade-grid">
        {m && <PriceChart symbol={symbol} lines={lines} priceDp={decimalsOf(m.tickSize)} />}
        <div class="side-col">
          {m && (
            <>
              <fieldset class="row mode">
                <legend class="sr-only">margin mode</legend>
                <span class="muted small">Margin mode</span>
                {(['isolated', 'cross'] as const).map((x) => (
                  <button
                    type="button"
                    key={x}
                    class={(position?.marginMode ?? mode) === x ? 'on' : ''}
                    aria-pressed={(position?.marginMode ?? mode) === x}
                    disabled={position !== null}
                    onClick={() => void changeMode(x)}
                  >
                    {x}
                  </button>
                ))}
              </fieldset>
              <OrderEntry
                market={m}
                ticker={ticker.data}
                position={position}
                marginMode={position?.marginMode ?? mode}
                onPlaced={(msg) => done(msg)}
              />
            </>
          )}
          <Alerts onAlert={onAlert} onRebalanced={onRebalanced} />
        </div>
      </div>
      <section class="silos" aria-labelledby="silos-title">
        <header class="panel-head">
          <h2 id="silos-title">Boxes</h2>
          <span class="muted small">each carries its own collateral and liquidation</span>
          {named.length > 0 && (
            <button type="button" class="push" onClick={() => setRebalancingOpen(true)}>
              Rebalancing…
            </button>
          )}
        </header>
        {(rebalancing.data ?? []).map((r) => (
          <p key={r.asset} class="muted small" data-testid="rebalancing-summary">
            Rebalancing {r.asset}: {r.givers.join(', ')} → {r.receivers.join(', ')} at margin ratio{' '}
            {percent(r.trigger, 0)} (back to {percent(r.target, 0)}), givers keep initial margin +{' '}
            {percent(r.buffer, 0)}; moved {formatDecimal(r.movedToday, 2)} today
            {/^[0.]+$/.test(r.maxPerDay) ? '' : ` of ${formatDecimal(r.maxPerDay, 2)}`}
            {r.parked.length > 0 ? ` · parked: ${r.parked.join(', ')}` : ''}
          </p>
        ))}
        {silos.error && <p class="error">{silos.error}</p>}
        {boxes.length === 0 && silos.data && <p class="muted">No open positions.</p>}
        <div class="silo-grid">
          {boxes.map((s) => (
            <SiloCard
              key={s.id}
              silo={s}
              funding={fundingBySymbol}
              selectedSymbol={symbol}
              onSelect={select}
              onAction={(a, l, box) => void act(a, l, box)}
            />
          ))}
        </div>
      </section>
      <OrdersTable orders={openOrders} onChanged={done} />
      <VaultsPanel
        onDone={(msg) => {
          toasts.push(msg, 'ok');
          balance.reload();
        }}
        onError={(msg) => toasts.push(msg, 'error')}
      />
      {open && open.action !== 'protect' && (
        <MarginDialog
          position={open.leg}
          action={open.action}
          maxRemovable={open.silo.maxRemovable}
          onClose={() => setOpen(null)}
          onDone={done}
        />
      )}
      {rebalancingOpen && (
        <RebalancingDialog
          silos={named}
          settings={rebalancing.data ?? []}
          onClose={() => setRebalancingOpen(false)}
          onDone={done}
        />
      )}
      {open && open.action === 'protect' && (
        <ProtectDialog position={open.leg} orders={openOrders} onClose={() => setOpen(null)} onDone={done} />
      )}
      <Toasts toasts={toasts.list} onDismiss={toasts.dismiss} />
    </div>
  );
}
