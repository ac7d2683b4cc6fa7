/**
 * A market's volatility-adjusted margin (docs/dynamic-margin.md): the factor every requirement is multiplied by now
 * and, while a raise is announced, the factor it rises to and when — with a countdown, since that notice is the
 * trader's time to add margin or reduce. Live from the `marginFactor` events; nothing for a market without it.
 */
import { countdown, factor, time } from '../format.ts';
import { useMarginFactor, useNow } from '../hooks.ts';

/** "in 4m 12s", or "due" once the time has passed (the raise applies on the engine's next clock command). */
function until(at: number, now: number): string {
  const left = countdown(at, now);
  return left === 'now' ? 'due' : `in ${left}`;
}

/** The factor in force ("margin ×1.25") and a pending raise ("→ ×1.5 at 12:00:00, in 4m 12s"). */
export function MarginFactor(props: { symbol: string; label?: boolean }) {
  const d = useMarginFactor(props.symbol);
  const pending = d?.pendingFactor != null && d.effectiveAt !== null;
  const now = useNow(pending);
  if (!d) return null;
  return (
    <span
      class="margin-factor"
      data-testid="margin-factor"
      data-factor={d.factor}
      data-pending={d.pendingFactor ?? ''}
      title={`volatility-adjusted margin: requirements × the factor (volatility ${d.vol} at the last review)`}
    >
      <span data-testid="margin-factor-now">
        {props.label === false ? '' : 'margin '}
        {factor(d.factor)}
      </span>
      {pending && (
        <span class="warn pending" data-testid="margin-factor-pending">
          {' '}
          → {factor(d.pendingFactor)} at {time(d.effectiveAt)} ({until(d.effectiveAt!, now)})
        </span>
      )}
    </span>
  );
}

/**
 * Under a preview: that the requirements shown are the scaled ones, and what a pending raise will ask. Nothing for a
 * market without dynamic margin.
 */
export function ScaledNote(props: { symbol: string }) {
  const d = useMarginFactor(props.symbol);
  const pending = d?.pendingFactor != null && d.effectiveAt !== null;
  const now = useNow(pending);
  if (!d) return null;
  return (
    <p class="muted small scaled-note" data-testid="margin-scaled">
      Margin is volatility-adjusted: requirements here are {factor(d.factor)} the static tiers.
      {pending && (
        <span class="warn">
          {' '}
          Rising to {factor(d.pendingFactor)} at {time(d.effectiveAt)} UTC ({until(d.effectiveAt!, now)}):
          keep margin for it.
        </span>
      )}
    </p>
  );
}
