/**
 * The service's REST API, as the app calls it: the typed client of clients/ts (same origin), which signs in the
 * browser with WebCrypto as docs/service.md specifies. The secret never leaves the page; it is kept in
 * sessionStorage (this tab only), not in localStorage.
 */
import type { Credentials } from '../../clients/ts/src/client.ts';

export {
  ApiError,
  type Credentials,
  canSign,
  nextTimestamp,
  RingfenceClient,
  sign,
} from '../../clients/ts/src/client.ts';

const STORE = 'ringfence.credentials';

/** Credentials from the URL fragment (`#key=…&secret=…`, what `serve --demo` prints), then this tab's session. */
export function loadCredentials(): Credentials | null {
  const h = new URLSearchParams(location.hash.replace(/^#/, ''));
  const key = h.get('key');
  const secret = h.get('secret');
  if (key && secret) {
    // Out of the address bar and the history at once: a secret must not linger there.
    history.replaceState(null, '', location.pathname + location.search);
    saveCredentials({ key, secret });
    return { key, secret };
  }
  try {
    const s = sessionStorage.getItem(STORE);
    if (s === null) return null;
    const c = JSON.parse(s) as Partial<Credentials>;
    return typeof c.key === 'string' && typeof c.secret === 'string'
      ? { key: c.key, secret: c.secret }
      : null;
  } catch {
    return null;
  }
}

export function saveCredentials(c: Credentials | null): void {
  try {
    if (c === null) sessionStorage.removeItem(STORE);
    else sessionStorage.setItem(STORE, JSON.stringify(c));
  } catch {
    // Storage disabled: the session lasts as long as the page.
  }
}
