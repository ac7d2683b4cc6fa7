/**
 * Vaults (docs/vaults.md): each vault's NAV, NAV per share and shares, its NAV per share over time as a small line,
 * the trader's own holding (shares, value at NAV, lock-up), and forms to deposit into it and withdraw shares from it.
 * Live: the public `vaults` stream says a vault's NAV moved, the private `vaultHoldings` stream that the trader's own
 * holding did; each re-reads over REST. Shown only when the venue has vaults.
 */
import { useState } from 'preact/hooks';
import { formatDecimal, num, time } from '../format.ts';
import { useLoaded, useSession } from '../hooks.ts';
import type { Vault, VaultHolding, VaultPoint } from '../types.ts';

const TOPICS = ['vaults', 'vaultHoldings'];

export function VaultsPanel(props: { onDone(message: string): void; onError(message: string): void }) {
  const { api, me } = useSession();
  const vaults = useLoaded(() => api.vaults(), [], TOPICS, 500);
  const list = vaults.data ?? [];
  const ids = list.map((v) => v.id).join(',');
  const holdings = useLoaded(
    async () => {
      const out: Record<string, VaultHolding> = {};
      if (me.account === null) return out; // an admin key bound to no account holds nothing
      for (const h of await Promise.all(list.map((v) => api.vaultHolding(v.id)))) out[h.vault] = h;
      return out;
    },
    [ids],
    TOPICS,
    500,
  );
  if (list.length === 0) return null;
  const changed = (msg: string) => {
    props.onDone(msg);
    vaults.reload();
    holdings.reload();
  };
  return (
    <section class="panel vaults" aria-labelledby="vaults-title" data-testid="vaults">
      <header class="panel-head">
        <h2 id="vaults-title">Vaults</h2>
        <span class="muted small">pooled capital in its own silos: a vault's losses stop at the vault</span>
      </header>
      {vaults.error && <p class="error">{vaults.error}</p>}
      <div class="vault-grid">
        {list.map((v) => (
          <VaultCard
            key={v.id}
            vault={v}
            holding={holdings.data?.[v.id] ?? null}
            onDone={changed}
            onError={props.onError}
          />
        ))}
      </div>
    </section>
  );
}

function VaultCard(props: {
  vault: Vault;
  holding: VaultHolding | null;
  onDone(message: string): void;
  onError(message: string): void;
}) {
  const { api } = useSession();
  const v = props.vault;
  const h = props.holding;
  const history = useLoaded(() => api.vaultHistory(v.id, { limit: 200 }), [v.id], ['vaults'], 1_000);
  const [amount, setAmount] = useState('');
  const [shares, setShares] = useState('');
  const [busy, setBusy] = useState(false);
  const locked = h !== null && h.lockedUntil > Date.now();

  const send = async (what: 'deposit' | 'withdraw') => {
    setBusy(true);
    try {
      if (what === 'deposit') {
        const r = await api.vaultDeposit(v.id, { amount });
        setAmount('');
        props.onDone(
          `Deposited ${formatDecimal(r.amount)} ${v.asset} into ${v.id}: ${formatDecimal(r.shares)} shares`,
        );
      } else {
        const r = await api.vaultWithdraw(v.id, { shares });
        setShares('');
        props.onDone(
          r.status === 'paid'
            ? `Withdrew ${formatDecimal(r.shares)} shares of ${v.id}: ${formatDecimal(r.amount)} ${v.asset}`
            : `Withdrawal of ${formatDecimal(r.shares)} shares of ${v.id} queued until the vault frees the cash`,
        );
      }
    } catch (e) {
      props.onError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article class="vault" data-testid={`vault-${v.id}`} aria-labelledby={`vault-${v.id}-title`}>
      <header class="silo-head">
        <h3 id={`vault-${v.id}-title`}>{v.id}</h3>
        <span class="muted small">
          managed by {v.manager} · {v.asset}
        </span>
      </header>
      <dl class="figures">
        <div>
          <dt>NAV</dt>
          <dd data-testid="vault-nav">{formatDecimal(v.nav, 2)}</dd>
        </div>
        <div>
          <dt>NAV / share</dt>
          <dd data-testid="vault-nps">{formatDecimal(v.navPerShare, 6)}</dd>
        </div>
        <div>
          <dt>Shares</dt>
          <dd>{formatDecimal(v.totalShares)}</dd>
        </div>
        <div>
          <dt>Your shares</dt>
          <dd data-testid="vault-my-shares">{formatDecimal(h?.shares ?? null)}</dd>
        </div>
        <div>
          <dt>Your value</dt>
          <dd data-testid="vault-my-value">{formatDecimal(h?.value ?? null, 2)}</dd>
        </div>
        <div>
          <dt>Locked until</dt>
          <dd>{h !== null && locked ? lockedText(h.lockedUntil) : '—'}</dd>
        </div>
      </dl>
      <Sparkline points={history.data ?? []} label={`${v.id} NAV per share`} />
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (!busy && amount) void send('deposit');
        }}
      >
        <label class="grow">
          Deposit ({v.asset})
          <input
            name="vault-deposit"
            inputMode="decimal"
            value={amount}
            onInput={(e) => setAmount(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy || !amount} data-testid="vault-deposit">
          Deposit
        </button>
      </form>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (!busy && shares) void send('withdraw');
        }}
      >
        <label class="grow">
          Withdraw (shares)
          <input
            name="vault-withdraw"
            inputMode="decimal"
            value={shares}
            onInput={(e) => setShares(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy || !shares || locked} data-testid="vault-withdraw">
          Withdraw
        </button>
      </form>
    </article>
  );
}

/** The end of a lock-up: its time, with its date when that is not today. */
function lockedText(ms: number): string {
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? time(ms) : `${d.toLocaleDateString()} ${time(ms)}`;
}

/** NAV per share over time as a small SVG line (oldest left); the points are on the element for tests and tools. */
function Sparkline(props: { points: VaultPoint[]; label: string }) {
  const W = 240;
  const H = 48;
  const ys = props.points.map((p) => num(p.navPerShare) ?? 0);
  const ts = props.points.map((p) => p.time);
  let path = '';
  if (ys.length > 0) {
    const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const [t0, t1] = [ts[0]!, ts[ts.length - 1]!];
    const x = (t: number) => (t1 === t0 ? W : ((t - t0) / (t1 - t0)) * W);
    const y = (v: number) => (y1 === y0 ? H / 2 : H - 2 - ((v - y0) / (y1 - y0)) * (H - 4));
    path = ys.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(ts[i]!).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    if (ys.length === 1) path = `M0,${y(ys[0]!).toFixed(1)} L${W},${y(ys[0]!).toFixed(1)}`;
  }
  return (
    <svg
      class="sparkline"
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={props.label}
      data-testid="vault-sparkline"
      data-points={JSON.stringify(props.points.map((p) => p.navPerShare))}
    >
      <path d={path} />
    </svg>
  );
}
