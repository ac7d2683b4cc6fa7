/** The app's shared context (API client, live connection, who is logged in, the markets) and the hooks views use. */
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { RingfenceClient } from './api.ts';
import type { DynamicMargin, MarginFactors } from './factors.ts';
import type { LinkState, Live } from './live.ts';
import type { Market, Me, StreamMessage } from './types.ts';

export interface Session {
  api: RingfenceClient;
  live: Live;
  /** Each market's volatility-adjusted margin factor, live. */
  factors: MarginFactors;
  me: Me;
  markets: Market[];
  market(symbol: string): Market | undefined;
  logout(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (s === null) throw new Error('useSession outside a session');
  return s;
}

/** Calls `f` with every message of `topic` while the component is mounted (null: none). */
export function useStream(topic: string | null, f: (m: StreamMessage) => void): void {
  const { live } = useSession();
  const ref = useRef(f);
  ref.current = f;
  useEffect(() => {
    if (topic === null) return;
    return live.subscribe(topic, (m) => ref.current(m));
  }, [live, topic]);
}

/** The market's volatility-adjusted margin as it stands, re-rendered on every change (null: it has none). */
export function useMarginFactor(symbol: string): DynamicMargin | null {
  const { factors } = useSession();
  const [, setVersion] = useState(0);
  useEffect(() => factors.onChange(() => setVersion((v) => v + 1)), [factors]);
  return factors.get(symbol);
}

/** The clock, re-read every `everyMs` while `active` (a countdown on screen); a display timer, never a re-read. */
export function useNow(active: boolean, everyMs = 1_000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [active, everyMs]);
  return now;
}

export function useLinkState(): LinkState {
  const { live } = useSession();
  const [s, set] = useState(live.state);
  useEffect(() => live.onState(set), [live]);
  return s;
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  reload(): void;
}

/**
 * Reads `load()` when mounted, when `deps` change, after a reconnect, and again whenever a message arrives on one
 * of `topics` — coalesced so a burst of messages costs one read per `minGapMs`. Event-driven: nothing is re-read
 * while nothing changes.
 */
export function useLoaded<T>(
  load: () => Promise<T>,
  deps: unknown[],
  topics: (string | null)[] = [],
  minGapMs = 250,
): Loaded<T> {
  const { live } = useSession();
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const state = useRef({ inFlight: false, again: false, last: 0, timer: 0 as unknown, alive: true, gen: 0 });
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = (): void => {
    const s = state.current;
    if (!s.alive) return;
    if (s.inFlight) {
      s.again = true;
      return;
    }
    const wait = s.last + minGapMs - Date.now();
    if (wait > 0) {
      if (s.timer === 0) {
        s.timer = setTimeout(() => {
          s.timer = 0;
          run();
        }, wait);
      }
      return;
    }
    s.inFlight = true;
    s.last = Date.now();
    const gen = s.gen;
    loadRef
      .current()
      .then(
        (v) => {
          if (s.alive && gen === s.gen) {
            setData(v);
            setError(null);
          }
        },
        (e: Error) => {
          if (s.alive && gen === s.gen) setError(e.message);
        },
      )
      .finally(() => {
        s.inFlight = false;
        if (s.again) {
          s.again = false;
          run();
        }
      });
  };

  useEffect(() => {
    const s = state.current;
    s.alive = true;
    s.gen++;
    s.last = 0;
    setData(null);
    run();
    const offs = topics.filter((t): t is string => t !== null).map((t) => live.subscribe(t, run));
    offs.push(live.onReconnect(run));
    return () => {
      s.alive = false;
      if (s.timer !== 0) clearTimeout(s.timer as number);
      s.timer = 0;
      for (const off of offs) off();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, ...deps, ...topics]);

  return { data, error, reload: run };
}
