/**
 * Display formatting. Values arrive as exact decimal strings; they are re-rounded here only to the market's own
 * precision (its tick and lot), with thousands separators — never through a float where the digits matter.
 */

/** Decimal places a step like "0.10" or "0.001" has (a trailing zero still counts as shown precision). */
export function decimalsOf(step: string): number {
  const i = step.indexOf('.');
  return i < 0 ? 0 : step.length - i - 1;
}

/**
 * Groups the integer part of a plain decimal string and pads or cuts (half away from zero) its fraction to `dp`.
 * Works on the string, so a 20-digit figure keeps every digit.
 */
export function formatDecimal(value: string | null | undefined, dp?: number): string {
  if (value === null || value === undefined || value === '') return '—';
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value);
  if (!m) return value;
  const neg = m[1] === '-';
  let int = m[2]!;
  let frac = m[3] ?? '';
  if (dp !== undefined) {
    if (frac.length > dp) {
      const roundUp = frac.charCodeAt(dp) >= 53; // '5'
      frac = frac.slice(0, dp);
      if (roundUp) {
        const digits = (int + frac).split('').map(Number);
        let k = digits.length - 1;
        while (k >= 0) {
          if (digits[k]! < 9) {
            digits[k]! += 1;
            break;
          }
          digits[k] = 0;
          k--;
        }
        const s = (k < 0 ? '1' : '') + digits.join('');
        int = s.slice(0, s.length - frac.length);
        frac = s.slice(s.length - frac.length);
      }
    } else frac = frac.padEnd(dp, '0');
  }
  int = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const zero = /^[0,]*$/.test(int) && /^0*$/.test(frac);
  return `${neg && !zero ? '−' : ''}${int}${frac ? `.${frac}` : ''}`;
}

export const priceDp = (m: { tickSize: string } | undefined): number | undefined =>
  m === undefined ? undefined : decimalsOf(m.tickSize);
export const sizeDp = (m: { lotSize: string } | undefined): number | undefined =>
  m === undefined ? undefined : decimalsOf(m.lotSize);

/** A ratio string ("0.0123") as a percent with `dp` decimals ("1.23 %"). */
export function percent(ratio: string | null | undefined, dp = 2): string {
  if (ratio === null || ratio === undefined) return '—';
  const n = Number(ratio);
  if (!Number.isFinite(n)) return '—';
  return `${(n * 100).toFixed(dp)} %`;
}

/** For display only (gauges, chart coordinates): floats are fine there. */
export const num = (v: string | null | undefined): number | null => {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};

/** UTC time of day (the venue's clock, as the API's timestamps); '—' for a missing or bad one. */
export function time(ms: number | null | undefined): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  return new Date(ms).toISOString().slice(11, 19);
}

/** A signed decimal with an explicit + for gains (PnL columns). */
export function signed(value: string | null | undefined, dp?: number): string {
  if (value === null || value === undefined) return '—';
  const f = formatDecimal(value, dp);
  return value.startsWith('-') || /^[0.]+$/.test(value) ? f : `+${f}`;
}

/** A margin factor ("1.25") as the multiple it applies ("×1.25"). */
export function factor(f: string | null | undefined): string {
  return f === null || f === undefined ? '—' : `×${formatDecimal(f)}`;
}

/** Time left until `ms` from `now` ("1h 05m", "4m 12s", "12s"; "now" once passed). */
export function countdown(ms: number, now: number): string {
  const s = Math.ceil((ms - now) / 1000);
  if (s <= 0) return 'now';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
