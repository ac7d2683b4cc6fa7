/**
 * One collateral box: an isolated position, the cross bucket of an asset, or a named silo of several legs. The box
 * is the primary object — its collateral, equity, initial and maintenance margin, and how close it is to
 * liquidation — with each leg's liquidation price, the distance to it, and its bankruptcy price. A named silo under the
 * rebalancing agent says its role: a giver (its spare collateral may move out), a receiver (collateral moves in when
 * it reaches the trigger), parked (a receiver whose givers had nothing more to spare).
 */
import { formatDecimal, percent, priceDp, signed, sizeDp } from '../format.ts';
import { useSession } from '../hooks.ts';
import type { Position, Silo } from '../types.ts';
import { Gauge } from './Gauge.tsx';

export type LegAction = 'add' | 'remove' | 'leverage' | 'close' | 'protect' | 'autoAdd';

const KIND_LABEL: Record<Silo['kind'], string> = {
  isolated: 'Isolated',
  cross: 'Cross',
  named: 'Silo',
};

/** The silo's roles under the rebalancing agent, as badges (none: not opted in). */
function Roles(props: { r: NonNullable<Silo['rebalancing']> }) {
  const roles: [string, string][] = [];
  if (props.r.giver) roles.push(['giver', 'its spare collateral may move to the receivers']);
  if (props.r.receiver)
    roles.push(['receiver', 'collateral moves in from the givers when it reaches the trigger']);
  if (props.r.parked) roles.push(['parked', 'at its trigger, but the givers have nothing more to spare']);
  if (roles.length === 0) return null;
  return (
    <span class="roles" data-testid="silo-roles">
      {roles.map(([r, why]) => (
        <span key={r} class={`badge role ${r}`} title={why}>
          {r}
        </span>
      ))}
    </span>
  );
}

function distanceClass(d: string | null | undefined): string {
  if (d === null || d === undefined) return '';
  const n = Number(d);
  return n < 2 ? 'danger' : n < 5 ? 'warn' : '';
}

export function SiloCard(props: {
  silo: Silo;
  funding: Record<string, string>;
  onAction(action: LegAction, leg: Position, silo: Silo): void;
  selectedSymbol: string;
  onSelect(symbol: string): void;
}) {
  const { market } = useSession();
  const s = props.silo;
  const title = s.kind === 'isolated' ? (s.legs[0]?.symbol ?? s.id) : s.kind === 'cross' ? s.asset : s.id;
  const legs = s.legs.filter((l) => l.side !== null);
  const isolated = s.kind === 'isolated';
  return (
    <article
      class={`silo ${s.kind}`}
      aria-label={`${KIND_LABEL[s.kind]} ${title}`}
      data-testid={`silo-${s.id}`}
    >
      <header class="silo-head">
        <div>
          <span class={`badge ${s.kind}`}>{KIND_LABEL[s.kind]}</span>
          {s.rebalancing && <Roles r={s.rebalancing} />}
          <h3>{title}</h3>
          {s.strategy && <span class="muted small">{s.strategy}</span>}
        </div>
        <Gauge ratio={s.marginRatio} label={`${title} margin ratio`} />
      </header>
      <dl class="figures">
        <div>
          <dt>Collateral</dt>
          <dd>
            {formatDecimal(s.collateral)} {s.asset}
          </dd>
        </div>
        <div>
          <dt>Equity</dt>
          <dd>{formatDecimal(s.equity)}</dd>
        </div>
        <div>
          <dt>Initial / maint.</dt>
          <dd>
            {formatDecimal(s.initialMargin)} / {formatDecimal(s.maintenanceMargin)}
          </dd>
        </div>
        <div>
          <dt>Removable</dt>
          <dd>{formatDecimal(s.maxRemovable)}</dd>
        </div>
      </dl>
      {s.holdings.length > 0 && (
        <ul class="holdings small" aria-label={`${title} holdings`}>
          {s.holdings.map((h) => (
            <li
              key={h.asset}
              title={`${h.asset} at ${h.price ?? '—'} (${h.priceMarket ?? 'no price'}), after the haircut`}
            >
              + {formatDecimal(h.amount)} {h.asset} = {formatDecimal(h.value)} {s.asset}
              <span class="muted"> (of {formatDecimal(h.grossValue)})</span>
            </li>
          ))}
        </ul>
      )}
      {legs.length === 0 && <p class="muted small">No open legs: collateral only.</p>}
      <div class="table-wrap" hidden={legs.length === 0}>
        <table class="legs">
          <thead>
            <tr>
              <th scope="col">Market</th>
              <th scope="col">Size</th>
              <th scope="col">Entry</th>
              <th scope="col">Mark</th>
              <th scope="col">Liq. price</th>
              <th scope="col">Distance</th>
              <th scope="col">Bankrupt</th>
              <th scope="col">uPnL</th>
              <th scope="col">Funding</th>
              <th scope="col">Lev.</th>
            </tr>
          </thead>
          <tbody>
            {legs.map((l) => {
              const m = market(l.symbol);
              const dp = priceDp(m);
              return (
                <tr
                  key={l.symbol}
                  class={l.symbol === props.selectedSymbol ? 'selected' : ''}
                  data-testid={`leg-${s.id}-${l.symbol}`}
                  data-liquidation-price={l.liquidationPrice ?? ''}
                >
                  <th scope="row">
                    <button type="button" class="link" onClick={() => props.onSelect(l.symbol)}>
                      {l.symbol}
                    </button>
                    <span class={`side ${l.side}`}>{l.side}</span>
                  </th>
                  <td>{formatDecimal(l.contracts, sizeDp(m))}</td>
                  <td>{formatDecimal(l.entryPrice, dp)}</td>
                  <td>{formatDecimal(l.markPrice, dp)}</td>
                  <td data-testid="liquidation-price">{formatDecimal(l.liquidationPrice, dp)}</td>
                  <td class={distanceClass(l.liquidationDistancePercent)}>
                    {l.liquidationDistancePercent == null ? '—' : `${l.liquidationDistancePercent} %`}
                  </td>
                  <td>{formatDecimal(l.bankruptcyPrice ?? null, dp)}</td>
                  <td class={l.unrealizedPnl.startsWith('-') ? 'loss' : 'gain'}>{signed(l.unrealizedPnl)}</td>
                  <td title="paid (+) or received (−) in the recent history, and pending">
                    {formatDecimal(props.funding[l.symbol] ?? '0')}
                    {l.pendingFunding !== '0' && (
                      <span class="muted small"> ({signed(l.pendingFunding)} due)</span>
                    )}
                  </td>
                  <td>{formatDecimal(l.leverage)}x</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {legs.length > 0 && (
        <footer class="actions">
          {isolated && (
            <>
              <button type="button" onClick={() => props.onAction('add', legs[0]!, s)}>
                Add margin
              </button>
              <button type="button" onClick={() => props.onAction('remove', legs[0]!, s)}>
                Remove margin
              </button>
              <button type="button" onClick={() => props.onAction('leverage', legs[0]!, s)}>
                Leverage
              </button>
              <label class="toggle">
                <input
                  type="checkbox"
                  checked={!!legs[0]!.autoAddMargin}
                  onChange={() => props.onAction('autoAdd', legs[0]!, s)}
                />
                Auto-add margin
                {legs[0]!.autoAddMargin && (
                  <span class="muted small"> at {percent(legs[0]!.autoAddMargin.trigger, 0)}</span>
                )}
              </label>
            </>
          )}
          {s.kind !== 'named' &&
            legs.map((l) => (
              <span class="leg-actions" key={l.symbol}>
                <button type="button" onClick={() => props.onAction('protect', l, s)}>
                  {legs.length > 1 ? `${l.symbol} ` : ''}Stop / take profit
                </button>
                <button type="button" class="danger" onClick={() => props.onAction('close', l, s)}>
                  Close{legs.length > 1 ? ` ${l.symbol}` : ''}
                </button>
              </span>
            ))}
        </footer>
      )}
    </article>
  );
}
