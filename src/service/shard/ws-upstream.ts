/**
 * One client's WebSocket to one shard, opened on first use: the shard's URLs in order (a refused connection tries
 * the next), messages queued while it connects (at most MAX_QUEUED: a shard that does not come up cannot make the
 * router hold a client's messages without limit), every message from it handed to the session.
 */
import WebSocket from 'ws';
import type { ShardConfig } from './router-config.ts';

/** Messages held for a shard while its socket opens. */
export const MAX_QUEUED = 256;
/**
 * The largest message taken from a shard: its snapshots (a deep book, an option chain) can be far larger than what a
 * client may send (`ws.maxPayloadBytes` bounds only that), and a shard is trusted not to send garbage.
 */
export const SHARD_MAX_PAYLOAD = 64 * 1024 * 1024;

export interface UpstreamEvents {
  message(shard: string, text: string): void;
  /** Never opened (every URL failed, or not within the deadline). */
  failed(shard: string, reason: string): void;
  /** Was open and closed (the shard closed it, or it broke). */
  closed(shard: string, code: number, reason: string): void;
}

/** `http://h:p` → `ws://h:p/ws`. */
export function wsUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}/ws`;
}

export class Upstream {
  private ws: WebSocket | null = null;
  private queue: string[] = [];
  private state: 'connecting' | 'open' | 'closed' = 'connecting';
  private next = 0;
  private readonly deadline: NodeJS.Timeout;
  /** Something was set up on it (a login, a subscription): losing it loses the client's state there. */
  used = false;

  constructor(
    readonly shard: ShardConfig,
    /** The client's address, sent as X-Forwarded-For (a shard that trusts the router charges the client, not it). */
    private readonly clientIp: string,
    private readonly timeoutMs: number,
    private readonly events: UpstreamEvents,
  ) {
    this.deadline = setTimeout(() => this.fail(`no connection within ${timeoutMs} ms`), timeoutMs);
    this.deadline.unref();
    this.connect();
  }

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** Sends, or queues while connecting; false when the queue is full or the socket gone. */
  send(text: string): boolean {
    if (this.state === 'open') {
      this.ws!.send(text);
      return true;
    }
    if (this.state === 'closed' || this.queue.length >= MAX_QUEUED) return false;
    this.queue.push(text);
    return true;
  }

  close(code = 1000, reason = ''): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.deadline);
    this.queue = [];
    const ws = this.ws;
    this.ws = null;
    if (ws === null) return;
    ws.removeAllListeners();
    ws.on('error', () => {});
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else {
      ws.close(code, reason);
      setTimeout(() => ws.terminate(), 1_000).unref();
    }
  }

  private connect(): void {
    const url = wsUrl(this.shard.urls[this.next++]!);
    const ws = new WebSocket(url, {
      headers: { 'x-forwarded-for': this.clientIp },
      handshakeTimeout: this.timeoutMs,
      maxPayload: SHARD_MAX_PAYLOAD,
      perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on('open', () => {
      if (this.state !== 'connecting') return;
      clearTimeout(this.deadline);
      this.state = 'open';
      for (const m of this.queue) ws.send(m);
      this.queue = [];
    });
    ws.on('message', (data, isBinary) => {
      if (this.state === 'open' && !isBinary) this.events.message(this.shard.name, data.toString());
    });
    ws.on('error', (e) => {
      if (this.state !== 'connecting') return;
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      if (this.next < this.shard.urls.length) this.connect();
      else this.fail(e.message);
    });
    ws.on('close', (code, reason) => {
      if (this.state !== 'open') return;
      this.state = 'closed';
      this.ws = null;
      this.events.closed(this.shard.name, code, reason.toString());
    });
  }

  private fail(reason: string): void {
    if (this.state !== 'connecting') return;
    this.close();
    this.events.failed(this.shard.name, reason);
  }
}
