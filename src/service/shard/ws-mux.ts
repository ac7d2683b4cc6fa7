/**
 * The router's `/ws`: one client socket in front of one socket per shard, each opened when first needed.
 *
 * - A subscription to a market's topic goes to the market's shard; a login and the topics of no market (private
 *   streams, `insurance.<ASSET>`, `vaults`) to every shard; an order op to the shard of its `args.symbol` (or a
 *   combo's legs), or to the shard the message names in a `shard` field (which the router removes).
 * - A request sent to several shards is answered once: success when every shard said yes (a subscription's topics
 *   listed together), else the first refusal, with the shard it came from. A login is answered with the shards that
 *   accepted it, and `partial` for those that did not answer.
 * - Everything a shard sends besides those answers (stream messages, rate-limit notices) is relayed with `shard`.
 * - Closing either side closes the rest: the client's socket ends every shard socket; a shard socket the client had
 *   set something up on (a login, a subscription) that closes ends the client's, with the shard's code and reason,
 *   so the client reconnects and sets it up again instead of silently missing a shard.
 * - Bounds: `ws.maxClients` sockets; per client `ws.maxPendingRequests` requests awaiting shards, each at most
 *   `requestTimeoutMs`; at most MAX_QUEUED messages per shard socket while it opens; a client whose unsent data
 *   exceeds `ws.maxBufferedBytes` is disconnected (shards' streams never wait for it).
 */
import type { WebSocket } from 'ws';
import type { ShardMap } from './patterns.ts';
import type { RouterConfig, ShardConfig } from './router-config.ts';
import { ORDER_OPS, orderTarget, splitTopics } from './ws-topics.ts';
import { Upstream } from './ws-upstream.ts';

const OPEN = 1;
const HEARTBEAT_MS = 30_000;

type Json = Record<string, unknown>;

interface Pending {
  op: string;
  clientId: string | number | undefined;
  /** The shards asked, in the config's order (the order answers are joined in). */
  asked: string[];
  waiting: Set<string>;
  answers: Map<string, Json>;
  timer: NodeJS.Timeout;
}

export class WsMux {
  private readonly sessions = new Set<MuxSession>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    readonly cfg: RouterConfig,
    readonly map: ShardMap,
    readonly shards: ReadonlyMap<string, ShardConfig>,
  ) {
    this.heartbeat = setInterval(() => {
      for (const s of [...this.sessions]) s.beat();
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get clientCount(): number {
    return this.sessions.size;
  }

  accept(socket: WebSocket, ip: string): void {
    if (this.sessions.size >= this.cfg.ws.maxClients) {
      socket.close(1013, 'too many clients');
      return;
    }
    const s = new MuxSession(this, socket, ip, () => this.sessions.delete(s));
    this.sessions.add(s);
  }

  closeAll(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const s of [...this.sessions]) s.end(1001, 'router shutting down');
  }
}

class MuxSession {
  private readonly upstreams = new Map<string, Upstream>();
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private ended = false;
  private alive = true;

  constructor(
    private readonly mux: WsMux,
    private readonly client: WebSocket,
    private readonly ip: string,
    private readonly onEnd: () => void,
  ) {
    client.on('message', (data, isBinary) => {
      if (isBinary)
        this.reply({ op: 'error', success: false, error: err('INVALID_REQUEST', 'text frames only') });
      else this.onClientMessage(data.toString());
    });
    client.on('pong', () => {
      this.alive = true;
    });
    client.on('close', () => this.end(1000, ''));
    client.on('error', () => this.end(1011, 'client socket error'));
  }

  beat(): void {
    if (!this.alive) {
      this.end(1011, 'no pong');
      return;
    }
    this.alive = false;
    if (this.client.readyState === OPEN) this.client.ping();
  }

  /** Closes the client (if still open) and every shard socket. */
  end(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    for (const u of this.upstreams.values()) u.close(1000, 'client gone');
    this.upstreams.clear();
    if (this.client.readyState === OPEN) {
      this.client.close(code, reason.slice(0, 120));
      setTimeout(() => this.client.terminate(), 1_000).unref();
    }
  }

  private deliver(text: string): void {
    if (this.ended || this.client.readyState !== OPEN) return;
    if (this.client.bufferedAmount > this.mux.cfg.ws.maxBufferedBytes) {
      // Behind by more than the bound: cut off without a handshake it would not read either.
      this.client.terminate();
      this.end(1008, 'slow');
      return;
    }
    this.client.send(text);
  }

  private reply(msg: Json): void {
    this.deliver(JSON.stringify(msg));
  }

  private onClientMessage(text: string): void {
    let env: Json;
    try {
      const j: unknown = JSON.parse(text);
      if (typeof j !== 'object' || j === null || Array.isArray(j) || typeof (j as Json).op !== 'string')
        throw new Error('a message is an object with an op');
      env = j as Json;
    } catch (e) {
      this.reply({
        op: 'error',
        success: false,
        error: err('INVALID_JSON', `malformed message: ${(e as Error).message}`),
      });
      return;
    }
    const op = env.op as string;
    const id = typeof env.id === 'string' || typeof env.id === 'number' ? env.id : undefined;
    const refuse = (code: string, message: string) =>
      this.reply({ op, ...(id !== undefined ? { id } : {}), success: false, error: err(code, message) });
    if (op === 'ping') {
      this.reply({ op, ...(id !== undefined ? { id } : {}), success: true });
      return;
    }
    const all = [...this.mux.shards.keys()];
    const { shard, ...forward } = env;
    if (shard !== undefined) {
      if (typeof shard !== 'string' || !this.mux.shards.has(shard)) {
        refuse('UNKNOWN_SHARD', `unknown shard ${JSON.stringify(shard)} (one of ${all.join(', ')})`);
        return;
      }
      this.send(op, id, new Map([[shard, forward]]));
      return;
    }
    if (op === 'login') {
      this.send(op, id, new Map(all.map((s) => [s, forward])));
      return;
    }
    if (op === 'subscribe' || op === 'unsubscribe') {
      const args = env.args;
      if (!Array.isArray(args) || !args.every((t) => typeof t === 'string')) {
        refuse('INVALID_REQUEST', 'args: a list of topic names');
        return;
      }
      const split = splitTopics(args as string[], this.mux.map, all);
      if ('error' in split) {
        refuse(split.error.code, split.error.message);
        return;
      }
      this.send(op, id, new Map([...split.byShard].map(([s, topics]) => [s, { ...forward, args: topics }])));
      return;
    }
    if (ORDER_OPS.has(op)) {
      const t = orderTarget(env.args, this.mux.map, all);
      if ('error' in t) refuse(t.error.code, t.error.message);
      else this.send(op, id, new Map([[t.shards[0]!, forward]]));
      return;
    }
    refuse(
      'SHARD_REQUIRED',
      `op ${JSON.stringify(op)}: name the shard in the message's "shard" field (one of ${all.join(', ')})`,
    );
  }

  /** Sends one request to each shard of `parts` under a router id; the answers are joined in `answered`. */
  private send(op: string, clientId: string | number | undefined, parts: Map<string, Json>): void {
    const cfg = this.mux.cfg;
    if (this.pending.size >= cfg.ws.maxPendingRequests) {
      this.reply({
        op,
        ...(clientId !== undefined ? { id: clientId } : {}),
        success: false,
        error: err('LIMIT_EXCEEDED', `at most ${cfg.ws.maxPendingRequests} requests awaiting shards`),
      });
      return;
    }
    const rid = `r${this.nextId++}`;
    const p: Pending = {
      op,
      clientId,
      asked: [...this.mux.shards.keys()].filter((s) => parts.has(s)),
      waiting: new Set(parts.keys()),
      answers: new Map(),
      timer: setTimeout(() => this.expire(rid), cfg.requestTimeoutMs),
    };
    p.timer.unref();
    this.pending.set(rid, p);
    for (const [shard, msg] of parts) {
      const up = this.upstream(shard);
      if (!up.send(JSON.stringify({ ...msg, id: rid })))
        this.answer(shard, rid, {
          op,
          success: false,
          error: err(
            'SHARD_UNAVAILABLE',
            `shard ${shard}: its connection is not open (or too many messages wait for it)`,
          ),
        });
    }
  }

  private upstream(shard: string): Upstream {
    let u = this.upstreams.get(shard);
    if (u === undefined) {
      const cfg = this.mux.cfg;
      u = new Upstream(this.mux.shards.get(shard)!, this.ip, cfg.requestTimeoutMs, {
        message: (s, text) => this.onUpstreamMessage(s, text),
        failed: (s, reason) => this.onUpstreamFailed(s, reason),
        closed: (s, code, reason) => this.onUpstreamClosed(s, code, reason),
      });
      this.upstreams.set(shard, u);
    }
    return u;
  }

  private onUpstreamMessage(shard: string, text: string): void {
    if (this.ended) return;
    // A stream message (the bulk of the traffic) is relayed without parsing: `shard` is spliced in front.
    if (text.startsWith('{"topic":')) {
      this.deliver(`{"shard":${JSON.stringify(shard)},${text.slice(1)}`);
      return;
    }
    let m: Json;
    try {
      m = JSON.parse(text) as Json;
    } catch {
      return;
    }
    if (typeof m !== 'object' || m === null) return;
    const rid = typeof m.id === 'string' ? m.id : undefined;
    if (rid !== undefined && this.pending.has(rid)) {
      this.answer(shard, rid, m);
      return;
    }
    this.deliver(JSON.stringify({ shard, ...m }));
  }

  private onUpstreamFailed(shard: string, reason: string): void {
    this.upstreams.delete(shard);
    for (const [rid, p] of [...this.pending])
      if (p.waiting.has(shard))
        this.answer(shard, rid, {
          op: p.op,
          success: false,
          error: err('SHARD_UNAVAILABLE', `shard ${shard} unavailable: ${reason}`),
        });
  }

  private onUpstreamClosed(shard: string, code: number, reason: string): void {
    const u = this.upstreams.get(shard);
    this.upstreams.delete(shard);
    if (u?.used) {
      // The client's logins or subscriptions there are gone: it must know, and set them up again.
      const relayed = code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1011;
      this.end(relayed, `shard ${shard}: ${reason || 'connection closed'}`);
      return;
    }
    this.onUpstreamFailed(shard, `connection closed (${code}${reason ? ` ${reason}` : ''})`);
  }

  private expire(rid: string): void {
    const p = this.pending.get(rid);
    if (!p) return;
    for (const shard of [...p.waiting])
      this.answer(shard, rid, {
        op: p.op,
        success: false,
        error: err(
          'SHARD_UNAVAILABLE',
          `shard ${shard}: no answer within ${this.mux.cfg.requestTimeoutMs} ms`,
        ),
      });
  }

  private answer(shard: string, rid: string, m: Json): void {
    const p = this.pending.get(rid);
    if (!p?.waiting.delete(shard)) return;
    p.answers.set(shard, m);
    if (m.success === true && (p.op === 'login' || p.op === 'subscribe')) {
      const u = this.upstreams.get(shard);
      if (u) u.used = true;
    }
    if (p.waiting.size > 0) return;
    clearTimeout(p.timer);
    this.pending.delete(rid);
    this.reply(joinAnswers(p.op, p.clientId, new Map(p.asked.map((s) => [s, p.answers.get(s)!]))));
  }
}

function err(code: string, message: string): { code: string; message: string } {
  return { code, message };
}

/**
 * One answer from the shards' answers to one request. One shard: its answer, with the client's id and `shard`.
 * Several: the first refusal (a login: success when any shard accepted, the others listed in `partial`), else a
 * success whose `data.topics` lists every shard's.
 */
export function joinAnswers(
  op: string,
  clientId: string | number | undefined,
  answers: Map<string, Json>,
): Json {
  const idPart = clientId !== undefined ? { id: clientId } : {};
  const entries = [...answers];
  if (entries.length === 1) {
    const [shard, m] = entries[0]!;
    const { id: _ignored, ...rest } = m;
    return { ...rest, op, ...idPart, shard };
  }
  const ok = entries.filter(([, m]) => m.success === true);
  const failed = entries.filter(([, m]) => m.success !== true);
  if (op === 'login' && ok.length > 0) {
    const data = (ok[0]![1].data ?? {}) as Json;
    return {
      op,
      ...idPart,
      success: true,
      data: { ...data, shards: ok.map(([s]) => s), partial: failed.map(([s]) => s) },
    };
  }
  if (failed.length > 0) {
    const [shard, m] = failed[0]!;
    return { op, ...idPart, success: false, error: m.error, shard };
  }
  const topics: unknown[] = [];
  for (const [, m] of ok) {
    const t = (m.data as { topics?: unknown } | undefined)?.topics;
    if (Array.isArray(t)) for (const x of t) if (!topics.includes(x)) topics.push(x);
  }
  return { op, ...idPart, success: true, ...(topics.length > 0 ? { data: { topics } } : {}) };
}
