/**
 * The collateral rebalancing agent's settings for one asset (docs/silos.md "Rebalancing"): which of the trader's named
 * silos may give and which may receive, the margin ratio at which a receiver is topped up (trigger) and the one it is
 * brought back to (target), the buffer a giver keeps over its initial margin, and the limits per move and per day.
 * Silos not ticked are never touched. Sent as one `POST /api/v1/silos/rebalancing`; the engine validates it whole.
 */
import { useEffect, useState } from 'preact/hooks';
import { formatDecimal } from '../format.ts';
import { useSession } from '../hooks.ts';
import { isDecimal, shiftDecimal } from '../preview.ts';
import type { Rebalancing, RebalancingBody, Silo } from '../types.ts';
import { Dialog, DialogActions } from './Dialog.tsx';

interface Draft {
  givers: string[];
  receivers: string[];
  trigger: string;
  target: string;
  buffer: string;
  maxPerMove: string;
  maxPerDay: string;
  /** Givers' holdings in other assets: move them, convert them to the settle asset first, or leave them. */
  holdings: 'move' | 'convert' | 'none';
}

/** The form for `asset`: its settings as they stand, or the engine's defaults (trigger 80 %, target 40 %, buffer 10 %). */
function draftOf(r: Rebalancing | undefined): Draft {
  if (!r)
    return {
      givers: [],
      receivers: [],
      trigger: '80',
      target: '40',
      buffer: '10',
      maxPerMove: '',
      maxPerDay: '',
      holdings: 'move',
    };
  const limit = (v: string) => (/^[0.]+$/.test(v) ? '' : v);
  return {
    givers: [...r.givers],
    receivers: [...r.receivers],
    trigger: shiftDecimal(r.trigger, 2),
    target: shiftDecimal(r.target, 2),
    buffer: shiftDecimal(r.buffer, 2),
    maxPerMove: limit(r.maxPerMove),
    maxPerDay: limit(r.maxPerDay),
    holdings: r.holdings === 'convert' || r.holdings === 'none' ? r.holdings : 'move',
  };
}

const toggled = (xs: string[], id: string, on: boolean) =>
  on ? (xs.includes(id) ? xs : [...xs, id]) : xs.filter((x) => x !== id);

export function RebalancingDialog(props: {
  silos: Silo[];
  settings: Rebalancing[];
  onClose(): void;
  onDone(message: string): void;
}) {
  const { api } = useSession();
  const named = props.silos.filter((s) => s.kind === 'named');
  const assets = [...new Set(named.map((s) => s.asset))].sort();
  const [asset, setAsset] = useState(props.settings[0]?.asset ?? assets[0] ?? 'USDT');
  const current = props.settings.find((r) => r.asset === asset);
  const [d, setD] = useState<Draft>(() => draftOf(current));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setD(draftOf(props.settings.find((r) => r.asset === asset))), [asset]);

  const mine = named.filter((s) => s.asset === asset);
  const set = (k: keyof Draft, v: string) => setD((x) => ({ ...x, [k]: v }));

  const body = (): RebalancingBody => {
    if (d.givers.length === 0 || d.receivers.length === 0)
      throw new Error('tick at least one silo that gives and one that receives');
    for (const [k, label] of [
      ['trigger', 'Trigger'],
      ['target', 'Target'],
      ['buffer', 'Buffer'],
    ] as const)
      if (!isDecimal(d[k])) throw new Error(`${label} is a percent, like 80`);
    const b: RebalancingBody = {
      asset,
      enabled: true,
      givers: d.givers,
      receivers: d.receivers,
      trigger: shiftDecimal(d.trigger.trim(), -2),
      target: shiftDecimal(d.target.trim(), -2),
      buffer: shiftDecimal(d.buffer.trim(), -2),
      holdings: d.holdings,
    };
    for (const k of ['maxPerMove', 'maxPerDay'] as const) {
      const v = d[k].trim();
      if (v === '') continue;
      if (!isDecimal(v))
        throw new Error(`${k === 'maxPerMove' ? 'Max per move' : 'Max per day'} is an amount`);
      b[k] = v;
    }
    return b;
  };

  const send = async (b: RebalancingBody, message: string) => {
    setBusy(true);
    setError(null);
    try {
      await api.setRebalancing(b);
      props.onDone(message);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const save = () => {
    let b: RebalancingBody;
    try {
      b = body();
    } catch (e) {
      setError((e as Error).message);
      return;
    }
    void send(
      b,
      `Rebalancing ${asset} on: ${d.givers.join(', ')} → ${d.receivers.join(', ')} at ${d.trigger} %`,
    );
  };

  return (
    <Dialog title="Collateral rebalancing" onClose={props.onClose} testId="rebalancing-dialog">
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (!busy) save();
        }}
      >
        <p class="muted small">
          When a receiver’s margin ratio reaches the trigger, collateral moves in from the givers with the
          most to spare, enough to bring it back to the target. A giver never goes below its initial margin ×
          (1 + buffer). Only the silos ticked here are ever touched.
        </p>
        {assets.length > 1 && (
          <label>
            Asset
            <select name="asset" value={asset} onChange={(e) => setAsset(e.currentTarget.value)}>
              {assets.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          </label>
        )}
        {mine.length === 0 ? (
          <p class="warn small">No named silo holds {asset}: create silos first.</p>
        ) : (
          <table class="compare roles-table" data-testid="rebalancing-silos">
            <thead>
              <tr>
                <th scope="col">Silo</th>
                <th scope="col">Collateral</th>
                <th scope="col">Gives</th>
                <th scope="col">Receives</th>
              </tr>
            </thead>
            <tbody>
              {mine.map((s) => (
                <tr key={s.id}>
                  <th scope="row">{s.id}</th>
                  <td>{formatDecimal(s.collateral, 2)}</td>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`${s.id} gives`}
                      checked={d.givers.includes(s.id)}
                      onChange={(e) => {
                        const on = e.currentTarget.checked;
                        setD((x) => ({ ...x, givers: toggled(x.givers, s.id, on) }));
                      }}
                    />
                  </td>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`${s.id} receives`}
                      checked={d.receivers.includes(s.id)}
                      onChange={(e) => {
                        const on = e.currentTarget.checked;
                        setD((x) => ({ ...x, receivers: toggled(x.receivers, s.id, on) }));
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <div class="row">
          <label class="grow">
            Trigger (margin ratio %)
            <input
              name="trigger"
              inputMode="decimal"
              value={d.trigger}
              onInput={(e) => set('trigger', e.currentTarget.value)}
            />
          </label>
          <label class="grow">
            Target (%)
            <input
              name="target"
              inputMode="decimal"
              value={d.target}
              onInput={(e) => set('target', e.currentTarget.value)}
            />
          </label>
          <label class="grow">
            Giver buffer (%)
            <input
              name="buffer"
              inputMode="decimal"
              value={d.buffer}
              onInput={(e) => set('buffer', e.currentTarget.value)}
            />
          </label>
        </div>
        <div class="row">
          <label class="grow">
            Max per move ({asset})
            <input
              name="maxPerMove"
              inputMode="decimal"
              placeholder="no limit"
              value={d.maxPerMove}
              onInput={(e) => set('maxPerMove', e.currentTarget.value)}
            />
          </label>
          <label class="grow">
            Other assets
            <select
              name="holdings"
              value={d.holdings}
              onChange={(e) => set('holdings', e.currentTarget.value)}
            >
              <option value="move">move them</option>
              <option value="convert">convert to {asset}</option>
              <option value="none">leave them</option>
            </select>
          </label>
          <label class="grow">
            Max per day ({asset})
            <input
              name="maxPerDay"
              inputMode="decimal"
              placeholder="no limit"
              value={d.maxPerDay}
              onInput={(e) => set('maxPerDay', e.currentTarget.value)}
            />
          </label>
        </div>
        {current && (
          <p class="muted small" data-testid="rebalancing-status">
            On for {asset}: moved {formatDecimal(current.movedToday, 2)} today ({current.day})
            {current.parked.length > 0 ? `; parked: ${current.parked.join(', ')}` : ''}.{' '}
            <button
              type="button"
              class="link"
              disabled={busy}
              onClick={() => void send({ asset, enabled: false }, `Rebalancing ${asset} off`)}
            >
              Turn off
            </button>
          </p>
        )}
        <DialogActions
          error={error}
          closeLabel="Cancel"
          onClose={props.onClose}
          submitLabel={busy ? 'Sending…' : 'Save'}
          disabled={busy || mine.length === 0}
          submitTestId="rebalancing-save"
        />
      </form>
    </Dialog>
  );
}
