/**
 * Margin ratio (maintenance / equity; 100 % = liquidation) as a half-dial. An accessible meter: screen readers get
 * the value and the label, colour is never the only signal (the figure is printed under the dial).
 */
import { num, percent } from '../format.ts';

export function Gauge(props: { ratio: string | null; label: string }) {
  const r = num(props.ratio);
  const v = r === null ? 0 : Math.max(0, Math.min(1, r));
  const tone = r === null ? 'none' : r >= 0.8 ? 'danger' : r >= 0.5 ? 'warn' : 'ok';
  // The arc: 180° from the left end (0 %) to the right end (100 %).
  const angle = Math.PI * (1 - v);
  const x = 50 + 40 * Math.cos(angle);
  const y = 50 - 40 * Math.sin(angle);
  return (
    <div class={`gauge ${tone}`}>
      <meter
        class="sr-only"
        min={0}
        max={1}
        low={0.5}
        high={0.8}
        optimum={0}
        value={v}
        aria-label={props.label}
      >
        {r === null ? 'no open position' : percent(props.ratio)}
      </meter>
      <svg viewBox="0 0 100 56" aria-hidden="true">
        <path d="M10 50 A40 40 0 0 1 90 50" class="track" />
        {v > 0 && <path d={`M10 50 A40 40 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`} class="fill" />}
      </svg>
      <span class="gauge-value" aria-hidden="true">
        {percent(props.ratio)}
      </span>
    </div>
  );
}
