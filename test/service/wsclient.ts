/** A small WebSocket test client: request/response by id, and waiting for stream messages that match. */
import WebSocket from 'ws';

/** A JSON object read field by field. */
export type Item = Record<string, unknown>;

/** A server message as the tests read it: a response (`op`, `id`, `success`, `error`) or a stream message. */
export interface Msg {
  op?: string;
  id?: number | string;
  success?: boolean;
  /** Present when `success` is false (a test that reads it on a success fails, as it should). */
  error: { code: string; message: string };
  topic?: string;
  type?: string;
  /** On an order-book snapshot sent because the service rebuilt its book. */
  resync?: boolean;
  seq: number;
  time?: number;
  /** A response's payload (an object) or a stream message's items (an array): read as either. */
  data: Item & Item[];
}

export class WsTestClient {
  readonly messages: Msg[] = [];
  private waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  private nextId = 1;
  closed: { code: number; reason: string } | null = null;
  private closeWaiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Msg;
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(m)) return true;
        w.resolve(m);
        return false;
      });
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const f of this.closeWaiters) f();
    });
  }

  /** `opts.localAddress` connects from another loopback address (127.0.0.2: another client IP). */
  static connect(
    url: string,
    opts: { localAddress?: string; headers?: Record<string, string> } = {},
  ): Promise<WsTestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, opts);
      const c = new WsTestClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  send(obj: unknown): void {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /** Sends `{op, id, args}` and resolves with the response carrying that id. */
  request(op: string, args?: unknown): Promise<Msg> {
    const id = this.nextId++;
    const p = this.next((m) => m.id === id && m.op === op);
    this.send({ op, id, ...(args !== undefined ? { args } : {}) });
    return p;
  }

  /** The first message (already received or future) matching `pred`. */
  next(pred: (m: Msg) => boolean, timeoutMs = 3_000): Promise<Msg> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for a message (${timeoutMs} ms)`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  waitClosed(timeoutMs = 3_000): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.closed!);
      });
    });
  }

  close(): void {
    this.ws.close();
  }

  /** Drops the connection without a closing handshake (a paused client would never complete one). */
  terminate(): void {
    this.ws.terminate();
  }
}
