/**
 * UTC calendar arithmetic on integer milliseconds, with no Date object: the civil-from-days conversion (proleptic
 * Gregorian, days since 1970-01-01), so date formatting in core and the engine is visibly a pure function of its
 * input, never a clock read. Valid over JavaScript's whole Date range; test/core/utc.test.ts holds it to Date.
 */

export interface UtcParts {
  year: number;
  /** 1–12. */
  month: number;
  /** 1–31. */
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

const DAY_MS = 86_400_000;

/** The UTC calendar fields of `ms` (milliseconds since 1970-01-01T00:00:00Z, an integer). */
export function utcParts(ms: number): UtcParts {
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1_000);
  // Days to a civil date: eras of 400 years (146,097 days) from 0000-03-01, so leap days fall at an era's end.
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1_460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, day, hour, minute, second, millisecond: rest - second * 1_000 };
}

const pad = (v: number, n = 2): string => String(v).padStart(n, '0');

/** ISO 8601 in whole seconds when the milliseconds are zero (`2026-12-25T08:00:00Z`), else with them. */
export function isoUtc(ms: number): string {
  const t = utcParts(ms);
  const y =
    t.year >= 0 && t.year <= 9999 ? pad(t.year, 4) : `${t.year < 0 ? '-' : '+'}${pad(Math.abs(t.year), 6)}`;
  const frac = t.millisecond === 0 ? '' : `.${pad(t.millisecond, 3)}`;
  return `${y}-${pad(t.month)}-${pad(t.day)}T${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}${frac}Z`;
}
