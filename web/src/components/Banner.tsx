/** The connection's state, always visible when it is not live: a lost connection is shown, and its recovery. */
import { useEffect, useState } from 'preact/hooks';
import { useLinkState, useSession } from '../hooks.ts';

export function Banner() {
  const state = useLinkState();
  const { live } = useSession();
  const [recovered, setRecovered] = useState(false);
  useEffect(
    () =>
      live.onReconnect(() => {
        setRecovered(true);
        setTimeout(() => setRecovered(false), 3_000);
      }),
    [live],
  );
  if (state === 'open')
    return recovered ? (
      <div class="banner ok" role="status" data-testid="link-state" data-state="recovered">
        Connection restored — figures re-read.
      </div>
    ) : (
      <div class="sr-only" role="status" data-testid="link-state" data-state="open">
        Live
      </div>
    );
  return (
    <div class="banner warn" role="alert" data-testid="link-state" data-state={state}>
      {state === 'connecting'
        ? 'Connecting…'
        : `Connection lost${live.lastError ? ` (${live.lastError})` : ''} — reconnecting…`}
    </div>
  );
}
