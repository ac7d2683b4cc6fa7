/**
 * Exact sums of the decimal strings shards answer with (balances across shards): to bigint at the larger scale,
 * added, and back — never through a float.
 */
const DECIMAL_RE = /^(-?)(\d+)(?:\.(\d+))?$/;

/** A decimal string as [units, scale]; throws on anything else (a shard answering garbage is a bug to see). */
function parse(s: string): [bigint, number] {
  const m = DECIMAL_RE.exec(s);
  if (!m) throw new Error(`not a decimal: ${JSON.stringify(s)}`);
  const frac = m[3] ?? '';
  const v = BigInt(m[2]! + frac);
  return [m[1] === '-' ? -v : v, frac.length];
}

function format(v: bigint, scale: number): string {
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(scale + 1, '0');
  let int = digits.slice(0, digits.length - scale);
  let frac = scale > 0 ? digits.slice(digits.length - scale) : '';
  frac = frac.replace(/0+$/, '');
  int = int === '' ? '0' : int;
  const out = frac === '' ? int : `${int}.${frac}`;
  return neg && out !== '0' ? `-${out}` : out;
}

/** a + b, exactly, with trailing zeros trimmed. */
export function addDecimals(a: string, b: string): string {
  const [x, sx] = parse(a);
  const [y, sy] = parse(b);
  const s = Math.max(sx, sy);
  return format(x * 10n ** BigInt(s - sx) + y * 10n ** BigInt(s - sy), s);
}
