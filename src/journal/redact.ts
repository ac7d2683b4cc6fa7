/**
 * Credentials in a PostgreSQL URL, kept out of logs and error messages. node-postgres (pg-connection-string)
 * takes a password from the user-info part (`postgres://user:pw@host`) and from the query (`?password=`), and a
 * TLS key passphrase as `?sslpassword=`; every query parameter whose name mentions a password or passphrase is
 * treated as one.
 */
const SECRET_PARAM = /pass(word|phrase)?$/i;

/** The URL with every credential replaced by `***`; never the original text when it cannot be parsed. */
export function redactPgUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(unparsable URL)';
  }
  if (u.password) u.password = '***';
  for (const name of [...new Set(u.searchParams.keys())])
    if (SECRET_PARAM.test(name)) u.searchParams.set(name, '***');
  return u.toString();
}

/**
 * The credential strings a URL carries, as written and decoded (longest first), so a driver message that echoes
 * one can be scrubbed even when it does not echo the whole URL.
 */
export function pgUrlSecrets(url: string): string[] {
  const out = new Set<string>();
  const add = (s: string) => {
    if (s.length === 0) return;
    out.add(s);
    try {
      out.add(decodeURIComponent(s));
    } catch {
      // not percent-encoded text: the raw form is enough
    }
  };
  try {
    const u = new URL(url);
    add(u.password);
    for (const [name, value] of u.searchParams) if (SECRET_PARAM.test(name)) add(value);
  } catch {
    // An unparsable URL is never printed (redactPgUrl), so there is nothing to scrub it from.
  }
  // Query values as written (URLSearchParams decodes `+` and `%xx`).
  for (const m of url.matchAll(/[?&]([^=&#]+)=([^&#]*)/g)) if (SECRET_PARAM.test(m[1]!)) add(m[2]!);
  return [...out].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/** `text` with the URL and each of its credentials replaced (for error messages that may echo them). */
export function scrubPgSecrets(text: string, url: string): string {
  let out = text.split(url).join(redactPgUrl(url));
  for (const s of pgUrlSecrets(url)) out = out.split(s).join('***');
  return out;
}

/**
 * A JetStream journal URL with its credential masked: `nats://user:pass@…` keeps the user, `nats://token@…` (a
 * token alone) is masked whole.
 */
export function redactNatsUrl(url: string): string {
  const m = /^(nats:\/\/)([^/?#]*)(.*)$/is.exec(url);
  if (!m) return '(unparsable URL)';
  const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
  const at = authority.lastIndexOf('@');
  if (at < 0) return url;
  const auth = authority.slice(0, at);
  const i = auth.indexOf(':');
  return `${scheme}${i < 0 ? '***' : `${auth.slice(0, i)}:***`}${authority.slice(at)}${rest}`;
}
