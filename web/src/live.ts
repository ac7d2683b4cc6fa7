/**
 * One WebSocket to the service for the whole app: logs in with the key (a signature of `GET /ws`), keeps the
 * subscriptions the views ask for (counted, so two views on one topic share it), and reconnects with backoff when
 * the connection drops — logging in and subscribing again, then telling views to re-read what they show
 * (`onReconnect`), since messages sent while it was down are gone. Live values come from here, never from polling.
 */
import { type Credentials, nextTimestamp, sign } from './api.ts';
import type { StreamMessage } from './types.ts';

export type LinkState = 'connecting' | 'open' | 'reconnecting' | 'closed';

type Handler = (m: StreamMessage) => void;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const REQUEST_TIMEOUT_MS = 10_000;
const BACKOFF_MS = [250, 500, 1_000, 2_000, 4_000, 8_000];

export class Live {
  private ws: WebSocket | null = null;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly pending = new Map<number, Pending>();
  private readonly stateListeners = new Set<(s: LinkState) => void>();
  private readonly reconnectListeners = new Set<() => void>();
  private nextId = 1;
  private attempt = 0;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  state: LinkState = 'connecting';
  /** Why the last connection ended, for the banner ("login refused", "connection lost"). */
  lastError: string | null = null;

  constructor(
    private readonly credentials: Credentials | null,
    private readonly url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
  ) {
    this.connect();
  }

  onState(f: (s: LinkState) => void): () => void {
    this.stateListeners.add(f);
    return () => this.stateListeners.delete(f);
  }

  onReconnect(f: () => void): () => void {
    this.reconnectListeners.add(f);
    return () => this.reconnectListeners.delete(f);
  }

  /** Listens to a topic (`mark.BTCUSDT`, `positions`, …); the first listener subscribes, the last one leaves. */
  subscribe(topic: string, f: Handler): () => void {
    let set = this.handlers.get(topic);
    if (!set) {
      set = new Set();
      this.handlers.set(topic, set);
      if (this.state === 'open' && this.ws) void this.subscribeOn(this.ws, topic);
    }
    set.add(f);
    return () => {
      const s = this.handlers.get(topic);
      if (!s) return;
      s.delete(f);
      if (s.size === 0) {
        this.handlers.delete(topic);
        if (this.state === 'open') this.send('unsubscribe', [topic]).catch(() => {});
      }
    };
  }

  /** A request (`order.place`, …) answered by the reply with its id. */
  request<T>(op: string, args?: unknown): Promise<T> {
    return this.send(op, args) as Promise<T>;
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000);
    this.setState('closed');
  }

  private setState(s: LinkState): void {
    this.state = s;
    for (const f of this.stateListeners) f(s);
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.start(ws).catch((e: Error) => {
        this.lastError = e.message;
        ws.close(4000);
      });
    };
    ws.onmessage = (ev) => this.receive(String(ev.data));
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error('connection lost'));
      }
      this.pending.clear();
      if (this.stopped) return;
      this.lastError ??= 'connection lost';
      this.setState('reconnecting');
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]!;
      this.attempt++;
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  /** Login (when there is a key), then every topic the views hold. */
  private async start(ws: WebSocket): Promise<void> {
    const wasReconnect = this.attempt > 0;
    if (this.credentials) {
      const ts = nextTimestamp();
      const signature = await sign(this.credentials.secret, ts, 'GET', '/ws', '');
      await this.sendOn(ws, 'login', { key: this.credentials.key, timestamp: ts, signature });
    }
    // One request per topic: a topic the service refuses (an unknown market, a scope the key lacks) must not take
    // the others down with it.
    await Promise.allSettled([...this.handlers.keys()].map((t) => this.subscribeOn(ws, t)));
    this.attempt = 0;
    this.lastError = null;
    this.setState('open');
    if (wasReconnect) for (const f of this.reconnectListeners) f();
  }

  /** Topics the service refused, with its reason (shown to nobody; kept for debugging in the console). */
  readonly refused = new Map<string, string>();

  private subscribeOn(ws: WebSocket, topic: string): Promise<void> {
    return this.sendOn(ws, 'subscribe', [topic]).then(
      () => {
        this.refused.delete(topic);
      },
      (e: Error) => {
        this.refused.set(topic, e.message);
      },
    );
  }

  private send(op: string, args?: unknown): Promise<unknown> {
    const ws = this.ws;
    if (!ws || this.state !== 'open') return Promise.reject(new Error('not connected'));
    return this.sendOn(ws, op, args);
  }

  private sendOn(ws: WebSocket, op: string, args?: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${op}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify(args === undefined ? { op, id } : { op, id, args }));
    });
  }

  private receive(text: string): void {
    let m: {
      id?: number;
      success?: boolean;
      data?: unknown;
      error?: { code: string; message: string };
    } & Partial<StreamMessage>;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof m.topic === 'string' && Array.isArray(m.data)) {
      const set = this.handlers.get(m.topic);
      if (set) for (const f of set) f(m as StreamMessage);
      return;
    }
    if (typeof m.id === 'number') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.success) p.resolve(m.data);
      else p.reject(new Error(m.error ? `${m.error.code}: ${m.error.message}` : 'request failed'));
    }
  }
}
