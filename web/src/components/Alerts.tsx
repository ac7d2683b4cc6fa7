/**
 * Margin-call warnings: the levels of margin ratio (maintenance / equity; 100 % is liquidation) at which the service
 * warns, for every box the account holds, pushed over the `alerts` stream — and the rebalancing agent's moves of
 * collateral between the account's own silos, pushed over the `silos` stream — shown as they arrive, newest first.
 */
import { useEffect, useState } from 'preact/hooks';
import { formatDecimal, percent, time } from '../format.ts';
import { useLoaded, useSession, useStream } from '../hooks.ts';
import type { CollateralRebalanced, MarginAlert } from '../types.ts';

type Shown =
  | (MarginAlert & { time: number; key: string })
  | (CollateralRebalanced & { time: number; key: string });

/** "Rebalanced 120 USDT from reserve to hedge (margin ratio 82.00 % reached 80 %)". */
export function rebalancedText(r: CollateralRebalanced): string {
  return `Rebalanced ${formatDecimal(r.amount)} ${r.asset} from ${r.from} to ${r.to} (margin ratio ${percent(r.marginRatio)} ${r.reason === 'maintenance' ? 'at maintenance' : `reached ${percent(r.trigger, 0)}`})`;
}

export function Alerts(props: {
  onAlert(a: MarginAlert): void;
  onRebalanced(r: CollateralRebalanced): void;
}) {
  const { api } = useSession();
  const [alerts, setAlerts] = useState<Shown[]>([]);
  const levels = useLoaded(() => api.alerts(), []);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (levels.data)
      setDraft(levels.data.levels.map((l) => String(Math.round(Number(l) * 10_000) / 100)).join(', '));
  }, [levels.data]);

  useStream('alerts', (m) => {
    const fresh: Shown[] = [];
    for (const d of m.data as { type: string }[]) {
      if (d.type !== 'marginAlert') continue;
      const a = d as MarginAlert;
      fresh.push({ ...a, time: m.time, key: `${m.seq}:${a.symbol}:${a.silo}:${a.level}:${a.direction}` });
      props.onAlert(a);
    }
    if (fresh.length > 0) setAlerts((xs) => [...fresh.reverse(), ...xs].slice(0, 50));
  });
  useStream('silos', (m) => {
    const fresh: Shown[] = [];
    for (const [i, d] of (m.data as { type: string }[]).entries()) {
      if (d.type !== 'collateralRebalanced') continue;
      const r = d as CollateralRebalanced;
      fresh.push({ ...r, time: m.time, key: `${m.seq}:${i}` });
      props.onRebalanced(r);
    }
    if (fresh.length > 0) setAlerts((xs) => [...fresh.reverse(), ...xs].slice(0, 50));
  });

  const save = async () => {
    setError(null);
    try {
      const parsed = draft
        .split(/[,\s]+/)
        .filter(Boolean)
        .map((x) => {
          const v = Number(x.replace('%', ''));
          if (!Number.isFinite(v) || v <= 0 || v > 100)
            throw new Error(`"${x}" is not a percent in (0, 100]`);
          return (v / 100).toFixed(4).replace(/\.?0+$/, '');
        });
      await api.setAlerts({ levels: parsed });
      levels.reload();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section class="panel alerts" aria-labelledby="alerts-title">
      <header class="panel-head">
        <h2 id="alerts-title">Margin alerts</h2>
      </header>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label class="grow">
          Warn at margin ratio (%)
          <input name="levels" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
        </label>
        <button type="submit">Save</button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ul class="feed" data-testid="alerts" aria-live="polite">
        {alerts.length === 0 && <li class="muted">No warnings.</li>}
        {alerts.map((a) =>
          a.type === 'collateralRebalanced' ? (
            <li key={a.key} class="warn" data-testid="rebalance-alert">
              <span class="muted">{time(a.time)}</span> {rebalancedText(a)}
            </li>
          ) : (
            <li key={a.key} class={a.direction === 'up' ? 'warn' : 'ok'} data-testid="alert">
              <span class="muted">{time(a.time)}</span> {a.symbol}
              {a.silo ? ` (${a.silo})` : ''}: margin ratio {percent(a.marginRatio)}{' '}
              {a.direction === 'up' ? `reached ${percent(a.level, 0)}` : `back below ${percent(a.level, 0)}`}
            </li>
          ),
        )}
      </ul>
    </section>
  );
}
