/**
 * ringfence's web app: a trader's view of every silo and an operator's view of the venue, over the service's own
 * REST and WebSocket API (no second backend). Log in with an API key; the key's scopes decide the views offered.
 */
import { type ComponentChildren, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  type ApiError,
  type Credentials,
  canSign,
  loadCredentials,
  RingfenceClient,
  saveCredentials,
} from './api.ts';
import { Banner } from './components/Banner.tsx';
import { MarginFactors } from './factors.ts';
import { type Session, SessionContext, useSession } from './hooks.ts';
import { Live } from './live.ts';
import { Login } from './views/Login.tsx';
import { Operator } from './views/Operator.tsx';
import { Trader } from './views/Trader.tsx';
import './styles.css';

type Route = { view: 'trade'; symbol: string | null } | { view: 'operator' };

function parseRoute(): Route {
  const h = location.hash.replace(/^#\/?/, '');
  if (h.startsWith('operator')) return { view: 'operator' };
  const m = /^trade(?:\/([A-Za-z0-9._-]+))?/.exec(h);
  return { view: 'trade', symbol: m?.[1] ?? null };
}

function useRoute(): Route {
  const [r, set] = useState(parseRoute);
  useEffect(() => {
    const f = () => set(parseRoute());
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return r;
}

function App() {
  const [creds, setCreds] = useState<Credentials | null>(loadCredentials);
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  const route = useRoute();

  useEffect(() => {
    if (creds === null) return;
    let cancelled = false;
    const api = new RingfenceClient({ credentials: creds });
    Promise.all([api.me(), api.markets()]).then(
      ([me, all]) => {
        if (cancelled) return;
        const markets = all.filter((m) => m.type !== 'option' && m.active);
        const bySymbol = new Map(markets.map((m) => [m.symbol, m]));
        const live = new Live(creds);
        const factors = new MarginFactors(api, live, markets);
        setSession({
          api,
          live,
          factors,
          me,
          markets,
          market: (s) => bySymbol.get(s),
          logout: () => {
            factors.close();
            live.close();
            saveCredentials(null);
            setSession(null);
            setCreds(null);
          },
        });
        setError(null);
      },
      (e: ApiError) => {
        if (cancelled) return;
        if (e.status === 401 || e.status === 403) {
          saveCredentials(null);
          setCreds(null);
        }
        setError(e.message);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [creds]);

  useEffect(() => () => session?.live.close(), [session]);

  if (!canSign())
    return (
      <main class="login">
        <p class="error" role="alert">
          This page cannot sign requests: browsers offer WebCrypto only on https or localhost. Serve ringfence
          behind TLS (docs/service.md, "Deployment").
        </p>
      </main>
    );
  if (creds === null || session === null)
    return (
      <Login
        busy={creds !== null && error === null}
        error={error}
        onLogin={(c) => {
          saveCredentials(c);
          setError(null);
          setCreds(c);
        }}
      />
    );
  // An admin key bound to no account has no trader view: it acts for every account, so it sees the venue.
  const view =
    session.me.admin && (route.view === 'operator' || session.me.account === null) ? 'operator' : 'trade';
  return (
    <SessionContext.Provider value={session}>
      <Shell view={view}>
        {view === 'operator' ? (
          <Operator />
        ) : (
          <Trader symbol={route.view === 'trade' && route.symbol ? route.symbol : null} />
        )}
      </Shell>
    </SessionContext.Provider>
  );
}

function Shell(props: { view: 'trade' | 'operator'; children: ComponentChildren }) {
  const s = useSession();
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/trade">
          ringfence
        </a>
        <nav aria-label="views">
          {s.me.account !== null && (
            <a href="#/trade" aria-current={props.view === 'trade' ? 'page' : undefined}>
              Trade
            </a>
          )}
          {s.me.admin && (
            <a href="#/operator" aria-current={props.view === 'operator' ? 'page' : undefined}>
              Operator
            </a>
          )}
        </nav>
        <span class="who" data-testid="account">
          {s.me.account ?? 'operator'}
        </span>
        <button type="button" class="link" onClick={() => s.logout()}>
          Log out
        </button>
      </header>
      <Banner />
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
