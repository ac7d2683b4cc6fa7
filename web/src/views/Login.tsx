/** Log in with an API key and its secret (kept in this tab's session only; requests are signed in the page). */
import { useState } from 'preact/hooks';
import type { Credentials } from '../api.ts';

export function Login(props: { busy: boolean; error: string | null; onLogin(c: Credentials): void }) {
  const [key, setKey] = useState('');
  const [secret, setSecret] = useState('');
  return (
    <main class="login">
      <form
        class="panel"
        aria-labelledby="login-title"
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim() && secret.trim()) props.onLogin({ key: key.trim(), secret: secret.trim() });
        }}
      >
        <h1 id="login-title">ringfence</h1>
        <p class="muted">
          Isolated-margin clearing: every box carries its own collateral and its own liquidation.
        </p>
        <label>
          API key
          <input
            name="key"
            autoComplete="username"
            value={key}
            onInput={(e) => setKey(e.currentTarget.value)}
            required
          />
        </label>
        <label>
          Secret
          <input
            name="secret"
            type="password"
            autoComplete="current-password"
            value={secret}
            onInput={(e) => setSecret(e.currentTarget.value)}
            required
          />
        </label>
        <button type="submit" class="primary" disabled={props.busy}>
          {props.busy ? 'Logging in…' : 'Log in'}
        </button>
        {props.error && (
          <p class="error" role="alert">
            {props.error}
          </p>
        )}
        <p class="muted small">
          The secret stays in this tab: requests are signed here (HMAC-SHA256) and it is never sent.
        </p>
      </form>
    </main>
  );
}
