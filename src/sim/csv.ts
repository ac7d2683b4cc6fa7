/**
 * Price-path readers for `ringfence simulate`: three CSV shapes, detected from the first line or named.
 *
 * - `bitstamp`: `timestamp,open,high,low,close,volume` (Unix seconds, a header line) — the shape of the embedded
 *   Bitstamp file (ff137/bitstamp_btcusd_minute_data). Any headed OHLC file with those column names reads the same.
 * - `binance`: Binance kline CSV (data.binance.vision): `open_time,open,high,low,close,volume,close_time,
 *   quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore`, with or without that header; open time in
 *   milliseconds (microseconds in the 2025+ spot files: told apart by magnitude).
 * - `price`: `timestamp,price`, header optional; the timestamp in Unix seconds, milliseconds or microseconds, or an
 *   ISO-8601 date-time.
 *
 * Prices are parsed exactly (8 decimals, more are rejected rather than rounded away; no exponent notation).
 * Timestamps must strictly increase and lie from 2000-01-01 to 5138-11-16 (the reach of the numeric units), ISO ones
 * too. Every problem is a CsvError naming the file and line: `prices.csv:17: close: "abc" is not a plain decimal`.
 * Bounded: at most MAX_ROWS rows.
 */
import { InputError, parseDecimal, pow10 } from '../core/fixed.ts';

export type CsvFormat = 'bitstamp' | 'binance' | 'price';
export const CSV_FORMATS: readonly CsvFormat[] = ['bitstamp', 'binance', 'price'];

/** Prices in the path are at this scale (the engine's price scale). */
export const PATH_PRICE_DP = 8;
/** About 3.8 years of minutes: a bound on memory and run time, not a limit anyone should meet. */
export const MAX_ROWS = 2_000_000;
const MAX_PRICE = pow10(PATH_PRICE_DP + 12);

/** One bar; a `price` row is a bar whose four prices are equal. Prices at PATH_PRICE_DP. */
export interface Bar {
  /** Bar open (or the price's own) time, ms since epoch. */
  time: number;
  open: bigint;
  high: bigint;
  low: bigint;
  close: bigint;
}

export interface PriceSeries {
  format: CsvFormat;
  bars: Bar[];
  /** The 1-based line of each bar in the file (for messages about a bar found later). */
  lines: number[];
}

export class CsvError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    what: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${what}` : `${file}: ${what}`);
    this.name = 'CsvError';
  }
}

const BINANCE_HEADER = [
  'open_time',
  'open',
  'high',
  'low',
  'close',
  'volume',
  'close_time',
  'quote_volume',
  'count',
  'taker_buy_volume',
  'taker_buy_quote_volume',
  'ignore',
];

interface Layout {
  format: CsvFormat;
  header: boolean;
  columns: number;
  time: number;
  /** Column indexes of open, high, low, close (all four the same column for `price`). */
  ohlc: [number, number, number, number];
  /** Bitstamp rows carry seconds; the others are told apart by magnitude. */
  timeUnit: 'seconds' | 'auto';
}

/**
 * A header has a cell with letters that is neither an ISO date-time nor a number: a row of numbers is data even
 * when one is written with an exponent (`1e3`), so that it is rejected by name below rather than skipped as a header.
 */
const isHeader = (cells: string[]): boolean =>
  cells.some((c) => /[A-Za-z_]/.test(c) && !isIsoTime(c.trim()) && !isNumber(c.trim()));
const isIsoTime = (s: string): boolean => /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(s);
const isNumber = (s: string): boolean => /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(s);

/** Sanity range of a timestamp, ms: from 2000-01-01 to 1e14 ms (5138-11-16, where numeric seconds would end). */
const MIN_TIME_MS = 946_684_800_000;
const MAX_TIME_MS = 1e14;

/** Works out the layout from the first line (and `format`, if given). */
function layoutOf(file: string, first: string[], format: CsvFormat | 'auto'): Layout {
  const header = isHeader(first);
  const names = header ? first.map((c) => c.trim().toLowerCase()) : [];
  const n = first.length;
  let fmt: CsvFormat;
  if (format !== 'auto') fmt = format;
  else if (header) {
    if (names[0] === 'open_time' || n === BINANCE_HEADER.length) fmt = 'binance';
    else if (['open', 'high', 'low', 'close'].every((c) => names.includes(c))) fmt = 'bitstamp';
    else if (n === 2) fmt = 'price';
    else
      throw new CsvError(
        file,
        1,
        `cannot tell the format from the header "${first.join(',')}"; pass --format`,
      );
  } else if (n === BINANCE_HEADER.length) fmt = 'binance';
  else if (n === 2) fmt = 'price';
  else
    throw new CsvError(
      file,
      1,
      `cannot tell the format of a ${n}-column row without a header; pass --format`,
    );

  if (fmt === 'binance') {
    if (n !== BINANCE_HEADER.length)
      throw new CsvError(file, 1, `a Binance kline row has 12 columns, this one has ${n}`);
    return { format: fmt, header, columns: 12, time: 0, ohlc: [1, 2, 3, 4], timeUnit: 'auto' };
  }
  if (fmt === 'bitstamp') {
    if (!header) {
      if (n < 5)
        throw new CsvError(
          file,
          1,
          `an OHLC row needs timestamp,open,high,low,close; this one has ${n} columns`,
        );
      return { format: fmt, header, columns: n, time: 0, ohlc: [1, 2, 3, 4], timeUnit: 'seconds' };
    }
    const col = (name: string): number => {
      const i = names.indexOf(name);
      if (i < 0) throw new CsvError(file, 1, `header has no "${name}" column`);
      return i;
    };
    const time = names.includes('timestamp') ? col('timestamp') : col('time');
    return {
      format: fmt,
      header,
      columns: n,
      time,
      ohlc: [col('open'), col('high'), col('low'), col('close')],
      timeUnit: 'seconds',
    };
  }
  if (n !== 2) throw new CsvError(file, 1, `a price row is timestamp,price; this one has ${n} columns`);
  return { format: 'price', header, columns: 2, time: 0, ohlc: [1, 1, 1, 1], timeUnit: 'auto' };
}

/** A Unix time in s, ms or µs (told apart by magnitude, or seconds for Bitstamp), or ISO-8601 → ms. */
function parseTime(raw: string, unit: Layout['timeUnit'], file: string, line: number): number {
  const s = raw.trim();
  if (/^\d{1,17}$/.test(s)) {
    const v = Number(s);
    if (unit === 'seconds' && v >= 1e11)
      throw new CsvError(file, line, `timestamp ${s} is not in Unix seconds`);
    // Seconds until the year 5138; milliseconds until 5138; beyond that microseconds (Binance spot 2025+).
    const ms = v < 1e11 ? v * 1000 : v < 1e14 ? v : Math.floor(v / 1000);
    if (ms < MIN_TIME_MS) throw new CsvError(file, line, `timestamp ${s} is before 2000-01-01`);
    return ms;
  }
  if (unit === 'auto' && isIsoTime(s)) {
    const ms = Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(s) ? s : `${s.replace(' ', 'T')}Z`);
    if (Number.isFinite(ms)) {
      // The same range as a numeric time (a date before 1970 would otherwise read as "not after line 0").
      if (ms < MIN_TIME_MS) throw new CsvError(file, line, `timestamp ${s} is before 2000-01-01`);
      if (ms >= MAX_TIME_MS)
        throw new CsvError(
          file,
          line,
          `timestamp ${s} is after ${new Date(MAX_TIME_MS).toISOString().slice(0, 10)}`,
        );
      return ms;
    }
  }
  throw new CsvError(file, line, `timestamp: "${s}" is not a Unix time or an ISO-8601 date-time`);
}

function parsePrice(raw: string, field: string, file: string, line: number): bigint {
  try {
    return parseDecimal(raw.trim(), field, { dp: PATH_PRICE_DP, positive: true, maxAbs: MAX_PRICE });
  } catch (e) {
    if (e instanceof InputError) throw new CsvError(file, line, e.message);
    throw e;
  }
}

/**
 * Parses CSV text. `file` names the source in errors. Blank lines are skipped; a header is recognised by letters
 * in the first line (in a cell that is not a date-time or a number, see isHeader).
 */
export function parsePriceCsv(text: string, file: string, format: CsvFormat | 'auto' = 'auto'): PriceSeries {
  const lines = text.split('\n');
  let layout: Layout | null = null;
  const bars: Bar[] = [];
  const barLines: number[] = [];
  let prevTime = -1;
  let prevLine = 0;
  const fields = ['open', 'high', 'low', 'close'] as const;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const row = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (row.trim() === '') continue;
    const cells = row.split(',');
    if (layout === null) {
      layout = layoutOf(file, cells, format);
      if (layout.header) continue;
    }
    if (cells.length !== layout.columns)
      throw new CsvError(file, lineNo, `expected ${layout.columns} columns, found ${cells.length}`);
    if (bars.length >= MAX_ROWS) throw new CsvError(file, lineNo, `more than ${MAX_ROWS} rows`);
    const time = parseTime(cells[layout.time]!, layout.timeUnit, file, lineNo);
    if (time <= prevTime) {
      throw new CsvError(
        file,
        lineNo,
        `timestamp ${cells[layout.time]!.trim()} is not after the previous row's (line ${prevLine})`,
      );
    }
    const [o, h, l, c] = layout.ohlc.map((col, k) =>
      parsePrice(cells[col]!, layout!.format === 'price' ? 'price' : fields[k]!, file, lineNo),
    ) as [bigint, bigint, bigint, bigint];
    if (l > o || l > c || h < o || h < c || l > h)
      throw new CsvError(file, lineNo, 'low/high do not bracket open and close');
    bars.push({ time, open: o, high: h, low: l, close: c });
    barLines.push(lineNo);
    prevTime = time;
    prevLine = lineNo;
  }
  if (layout === null || bars.length === 0) throw new CsvError(file, 0, 'no price rows');
  return { format: layout.format, bars, lines: barLines };
}
