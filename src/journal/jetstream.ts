/**
 * The journal on NATS JetStream: a replicated stream instead of a local file or a database server, for a venue whose
 * system of record must survive the loss of a machine (R=3: an acknowledged batch is on a quorum of nodes).
 *
 * Layout. One stream per journal, named by the URL (`nats://host:port[,host:port…]/<stream>`), with one subject,
 * `ringfence.<stream>.journal`, file storage, no limits and `discard: new` (nothing is ever dropped: a limit an
 * operator adds refuses appends instead), described as a ringfence journal (a stream without that description is
 * refused, never written into). ONE MESSAGE PER APPENDED BATCH (the group commit's batch): its payload the records
 * back to back, each a 24-byte header — seq and time as int64, checksum and the command's length as uint32,
 * big-endian, as the SQLite store's packed pages — then the command bytes, then the state hash's 64 ASCII characters
 * when the length's top bit says there is one; headers `Ringfence-First-Seq` and `Ringfence-Last-Seq`. A batch
 * larger than a message can be (the server's max_payload, 1 MiB by default) goes as consecutive messages.
 *
 * Fencing. Every publish carries `Nats-Expected-Last-Sequence` = the stream sequence this writer last saw (read at
 * open, then each ack's): once another writer has appended, this one's next append is refused by the server and
 * rejects with a JournalFencedError — and every later call with it. A publish that got no answer (a node lost, a
 * leader election, a reconnect) is retried with the same `Nats-Msg-Id` until `publishRetryMs`: the server drops a
 * retry of a batch it already stored (de-duplication) and answers with the original's sequence. The id is the
 * writing store's instance, the batch's first seq, the expected sequence and the payload's CRC32: a retry matches only itself, never another
 * writer's batch for the same seqs, nor a batch that was cut (a duplicate answer pointing anywhere but right after
 * the expected sequence is a fence too).
 *
 * `append` resolves once the server acknowledged (a quorum of the stream's replicas has the batch). Appends are
 * pipelined (`pipeline`, default 8 in flight: the Journal's group commit sends the next batch while the quorum
 * acknowledges the last): each is published at once, fenced on the sequence the one before it is to get. Their
 * answers are taken in call order, and one resolves only after every earlier one did; once one fails, every later
 * one fails. A message lost on the way (no answer) makes the ones sent after it fail their fence without being
 * stored; that is not another writer: from the first one unanswered, each is published again one at a time, the
 * same id and fence as its first attempt (a stored first attempt is de-duplicated), and only a fence that holds on
 * that retry fences. Sending ahead resumes once everything outstanding is confirmed.
 *
 * Cutting a tail (`truncateAfter`). Messages are atomic (no torn record can exist inside one), but a stream cannot
 * drop its tail in one step. The cut is written first, as a message of its own (fenced like an append) holding the
 * part of the straddling batch that is kept (possibly nothing) and a `Ringfence-Cut` header naming the first stream
 * sequence it supersedes; then the superseded messages are deleted. A cut interrupted between the two is finished
 * by the next writer's open, and readers skip what it supersedes meanwhile. The last message is never deleted (the
 * stream's own end stays a message, which nats-server 2.9 needs to find it).
 *
 * Snapshots go to an object store bucket `<stream>-snapshots` (same replicas), one object per seq named by it, the
 * SnapshotRecord's seq, time, state hash and checksum in the object's headers.
 *
 * Reading (`readPages`, `readFrom`): the message holding the wanted seq is found by a binary search over the stream
 * (a few gets), then an ordered consumer streams the messages from there; each message is one RecordPage over its
 * own payload, no copy per record.
 */

import { randomBytes } from 'node:crypto';
import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
  RetentionPolicy,
  type SeqMsgRequest,
  StorageType,
  type StoredMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import {
  type ObjectInfo,
  type ObjectStore,
  type ObjectStoreMeta,
  Objm,
  setSha256Backend,
} from '@nats-io/obj';
import {
  connect,
  type MsgHdrs,
  type NatsConnection,
  type NodeConnectionOptions,
  headers as natsHeaders,
} from '@nats-io/transport-node';
import { crc32 } from './codec.ts';
import { redactNatsUrl } from './redact.ts';
import {
  JournalError,
  type JournalRecord,
  type JournalStore,
  type RecordPage,
  type SnapshotInfo,
  type SnapshotRecord,
} from './store.ts';

// The object store checks every snapshot's SHA-256 as it writes and reads it: node's own, not the pure-JS default
// (5-10x slower on a snapshot of megabytes).
setSha256Backend('native');

/** The stream's description: what says a stream is a ringfence journal, and of which format. */
export const JETSTREAM_FORMAT = 'ringfence journal (format 1)';
const STREAM_RE = /^[A-Za-z0-9_-]{1,64}$/;
export const H_FIRST = 'Ringfence-First-Seq';
export const H_LAST = 'Ringfence-Last-Seq';
export const H_CUT = 'Ringfence-Cut';
/** Who wrote a message (`writer`, set by a service under a leader lease: `<process id>#<lease revision>`). */
export const H_WRITER = 'Ringfence-Writer';
const H_MSG_ID = 'Nats-Msg-Id';
const RECORD_HEADER = 24;
const HASH_BIT = 0x80000000;
const HASH_LEN = 64;
/** Room left in a message for its headers (max_payload counts them). */
const HEADER_ROOM = 1_024;
/** nats-server's error code for a publish whose expected last sequence is not the stream's. */
const WRONG_LAST_SEQUENCE = 10071;

export interface NatsTarget {
  /** `host:port` of each server. */
  servers: string[];
  stream: string;
  user?: string;
  pass?: string;
  token?: string;
  /** `?replicas=N`: the stream's replicas when it is created. */
  replicas?: number;
  /**
   * TLS (`?tls=1`, or implied by a file below): the server's certificate checked against the system's CAs, or
   * `?ca=<file>` (PEM) alone; `?cert=<file>&key=<file>`: this client's certificate, for a server that requires one.
   */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

const TLS_FILES = { ca: 'caFile', cert: 'certFile', key: 'keyFile' } as const;

/**
 * `nats://[user:pass@|token@]host:port[,host:port…]/<stream>[?replicas=N][&tls=1][&ca=<file>][&cert=<file>&key=<file>]`
 * (a port defaults to 4222; file paths URL-encoded). The stream name is letters, digits, `_` and `-`.
 */
export function parseNatsUrl(url: string): NatsTarget {
  const bad = (why: string) => new JournalError('format', null, `${redactNatsUrl(url)}: ${why}`);
  const m = /^nats:\/\/([^/?#]+)\/([^?#]*)(?:\?([^#]*))?$/i.exec(url);
  if (!m) throw bad('not a nats://host:port[,host:port…]/<stream> URL');
  const [, authority, stream, query] = m;
  const at = authority!.lastIndexOf('@');
  const auth = at < 0 ? undefined : authority!.slice(0, at);
  const hosts = authority!.slice(at + 1);
  if (!STREAM_RE.test(stream ?? '')) throw bad('the stream name: 1-64 letters, digits, _ and -');
  const servers: string[] = [];
  for (const h of hosts.split(',')) {
    const hp = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?$/.exec(h);
    if (!hp) throw bad('a server is not host:port');
    servers.push(hp[2] ? h : `${h}:4222`);
  }
  const t: NatsTarget = { servers, stream: stream! };
  if (auth !== undefined && auth !== '') {
    const i = auth.indexOf(':');
    if (i < 0) t.token = decodeURIComponent(auth);
    else {
      t.user = decodeURIComponent(auth.slice(0, i));
      t.pass = decodeURIComponent(auth.slice(i + 1));
    }
  }
  for (const [k, v] of new URLSearchParams(query ?? '')) {
    if (k === 'replicas') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 5) throw bad('replicas: 1 to 5');
      t.replicas = n;
    } else if (k === 'tls') {
      if (v !== '1' && v !== 'true') throw bad('tls: 1 or true (leave it out for none)');
      t.tls ??= {};
    } else if (k === 'ca' || k === 'cert' || k === 'key') {
      if (v === '') throw bad(`${k}: a file path`);
      t.tls = { ...t.tls, [TLS_FILES[k]]: v };
    } else throw bad(`unknown parameter ${k}`);
  }
  if (t.tls && (t.tls.certFile === undefined) !== (t.tls.keyFile === undefined))
    throw bad('cert and key go together');
  return t;
}

/**
 * How every ringfence connection to the journal's servers connects (the store, the leader lease): the URL's servers
 * and only those (no cluster discovery: what a process can reach is what it was given), its credentials and TLS.
 */
export function natsConnectOptions(target: NatsTarget, timeoutMs: number): NodeConnectionOptions {
  return {
    servers: target.servers,
    timeout: timeoutMs,
    ignoreClusterUpdates: true,
    ...(target.user !== undefined ? { user: target.user, pass: target.pass } : {}),
    ...(target.token !== undefined ? { token: target.token } : {}),
    ...(target.tls ? { tls: { ...target.tls } } : {}),
  };
}

/** The URL with its password or token masked, for messages and logs. */
export { redactNatsUrl };

/**
 * The server refused this writer's append or cut: another writer has written to the stream since this one read its
 * end. Nothing of the refused batch is stored; the store refuses everything afterwards (step down, or reopen and
 * recover to take over).
 */
export class JournalFencedError extends Error {
  readonly stream: string;
  /** The stream sequence this writer expected to follow. */
  readonly expectedLastSequence: number;
  constructor(stream: string, expected: number, detail: string) {
    super(
      `journal fenced: stream ${stream} was written by another writer (${detail}); this writer must step down`,
    );
    this.name = 'JournalFencedError';
    this.stream = stream;
    this.expectedLastSequence = expected;
  }
}

export interface JetStreamStoreOptions {
  /** Create the stream and the snapshot bucket when missing (default true). False: they must exist. */
  create?: boolean;
  /** Read only: nothing is created or written (implies create: false). */
  readonly?: boolean;
  /** Replicas of a stream (and snapshot bucket) this open creates (default: the URL's `replicas`, else 1). */
  replicas?: number;
  /** Timeout of one request to the server, ms (default 10,000). */
  timeoutMs?: number;
  /** How long an unanswered publish is retried (same message id) before the append fails, ms (default 30,000). */
  publishRetryMs?: number;
  /** A read that receives no message for this long fails, ms (default 30,000). */
  readIdleMs?: number;
  /** Largest message this store sends, bytes (default and cap: the server's max_payload). */
  maxMessageBytes?: number;
  /** The stream's de-duplication window when created, ms (default 120,000). */
  duplicateWindowMs?: number;
  /**
   * Appends sent before the earlier ones are acknowledged (default 8; 1: each waits for the one before). The
   * journal keeps this many commits in flight, so a replicated stream's round trip to a quorum overlaps the next
   * batches instead of bounding the commit rate.
   */
  pipeline?: number;
  /** Fault injection, for tests: what happens to the first attempt of the message whose first seq is given. */
  faults?: { firstAttempt?(first: number): 'lose-request' | 'lose-answer' | null };
}

/** A message of an append: sent ahead at once while the pipeline is clean, else when its turn comes. */
interface Outgoing {
  payload: Uint8Array;
  h: MsgHdrs;
  first: number;
  last: number;
  /** The stream sequence it was sent ahead to follow (its fence). */
  expected: number;
  /** Its message id (`batchMessageId`), once sent ahead. */
  id: string;
  /** Its first attempt's answer (never rejects), or null when it was not sent ahead. */
  attempt: Promise<PubAck | Error> | null;
}

/** One message of a `follow`. */
export interface FollowedMessage {
  /** Its records from the seq followed on (null with `cut`). */
  page: RecordPage | null;
  /** The journal's last seq as of this message (`Ringfence-Last-Seq`). */
  last: number;
  /** Messages in the stream after this one, when it was delivered (0: it was the last). */
  pending: number;
  /** `Ringfence-Writer`, or null. */
  writer: string | null;
  /** A cut written after the follow began: the history changed; the follow ends here. */
  cut: boolean;
}

/** A stored batch as its headers describe it. */
interface BatchMeta {
  /** Stream sequence. */
  seq: number;
  /** First record seq, or null for a message without records (a cut that kept nothing). */
  first: number | null;
  /** The journal's last seq as of this message. */
  last: number;
  /** `Ringfence-Cut`: the first stream sequence this message supersedes. */
  cutFrom: number | null;
}

/** The end of the stream as a reader needs it. */
interface Tail {
  /** The last message, or null when the stream holds none. */
  last: BatchMeta | null;
  /** Stream sequences superseded by a cut not yet finished: [from, to). */
  skip: [number, number] | null;
  firstStreamSeq: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class JetStreamJournalStore implements JournalStore {
  readonly kind = 'jetstream';
  readonly url: string;
  readonly stream: string;
  readonly subject: string;
  readonly bucket: string;
  readonly readonly: boolean;
  readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private os: ObjectStore | null = null;
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly readIdleMs: number;
  private maxPayload: number;
  /** The fence: the stream sequence this writer's next message must follow. */
  private token = 0;
  /** Highest stored seq as this writer knows it, and as the appends queued so far will leave it. */
  private last = 0;
  private queuedLast = 0;
  /** Appends and cuts, confirmed one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();
  /** See JetStreamStoreOptions.pipeline. */
  readonly pipeline: number;
  /**
   * This open's own tag in every message id (random: two writers never share one, so neither's batch is ever taken
   * for a retry of the other's).
   */
  readonly instance = randomBytes(6).toString('hex');
  private readonly faults: JetStreamStoreOptions['faults'];
  /** Messages appended and not yet confirmed. */
  private outstanding = 0;
  /** The stream sequence the last message sent ahead is to get (the next one's fence), and its message id. */
  private sentToken = 0;
  private sentId = '';
  /**
   * False from the first message that could not be sent ahead (a cut queued, a lost first attempt being repaired)
   * until every outstanding message is confirmed: sending later ones ahead of it would put them out of order.
   */
  private sendingAhead = true;
  private cutsPending = 0;
  /** Messages sent ahead, and messages published again in turn (not sent ahead, or their first attempt failed). */
  readonly pipelineStats = { sentAhead: 0, resent: 0 };
  /** Set when a write failed: every later write rejects with it (a fence stays a fence). */
  private failed: Error | null = null;
  private closed = false;
  /** Set by `abort`: the reason; and the waits it rejects at once (a publish in flight, a retry's pause). */
  private aborted: Error | null = null;
  private readonly abortWaits = new Set<(e: Error) => void>();
  /**
   * Written as `Ringfence-Writer` on every message from now on (null: none). A service under a leader lease names
   * its term here, so that who wrote each batch can be read back from the stream.
   */
  writer: string | null = null;

  private constructor(
    url: string,
    target: NatsTarget,
    nc: NatsConnection,
    jsm: JetStreamManager,
    readonly: boolean,
    opts: JetStreamStoreOptions,
  ) {
    this.url = url;
    this.stream = target.stream;
    this.subject = `ringfence.${target.stream}.journal`;
    this.bucket = `${target.stream}-snapshots`;
    this.readonly = readonly;
    this.nc = nc;
    this.jsm = jsm;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.js = jetstream(nc, { timeout: this.timeoutMs });
    this.retryMs = opts.publishRetryMs ?? 30_000;
    this.readIdleMs = opts.readIdleMs ?? 30_000;
    this.maxPayload = Math.min(nc.info?.max_payload ?? 1_048_576, opts.maxMessageBytes ?? Infinity);
    this.pipeline = Math.max(1, Math.floor(opts.pipeline ?? 8));
    this.faults = opts.faults;
  }

  /** Connects, checks (or creates) the stream and the snapshot bucket, finishes an interrupted cut, reads the end. */
  static async open(url: string, opts: JetStreamStoreOptions = {}): Promise<JetStreamJournalStore> {
    const target = parseNatsUrl(url);
    const readonly = opts.readonly ?? false;
    const create = !readonly && (opts.create ?? true);
    const timeout = opts.timeoutMs ?? 10_000;
    let nc: NatsConnection;
    try {
      nc = await connect({
        ...natsConnectOptions(target, timeout),
        name: readonly ? 'ringfence-journal-reader' : 'ringfence-journal',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
    } catch (e) {
      throw new JournalError(
        'format',
        null,
        `${redactNatsUrl(url)}: cannot connect (${(e as Error).message})`,
      );
    }
    try {
      const retryMs = opts.publishRetryMs ?? 30_000;
      const jsm = await withRetry(() => jetstreamManager(nc, { timeout }), retryMs);
      const store = new JetStreamJournalStore(url, target, nc, jsm, readonly, opts);
      const replicas = opts.replicas ?? target.replicas ?? 1;
      await store.initStream(create, replicas, opts.duplicateWindowMs ?? 120_000);
      if (!readonly) {
        const tail = await store.readTail();
        if (tail.skip) await store.finishCut(tail.skip);
      }
      store.last = await store.lastSeq();
      store.queuedLast = store.last;
      store.sentToken = store.token;
      return store;
    } catch (e) {
      await nc.close().catch(() => {});
      if (e instanceof JournalError) throw e;
      throw new JournalError('format', null, `${redactNatsUrl(url)}: ${(e as Error).message}`);
    }
  }

  private async initStream(create: boolean, replicas: number, dupWindowMs: number): Promise<void> {
    let info = await this.req(() =>
      this.jsm.streams.info(this.stream).catch((e: unknown) => {
        if (e instanceof JetStreamApiError && e.status === 404) return null;
        throw e;
      }),
    );
    if (info === null) {
      if (!create)
        throw new JournalError('format', null, `${this.where()}: no such stream: not a ringfence journal`);
      const config: Partial<StreamConfig> & { name: string } = {
        name: this.stream,
        subjects: [this.subject],
        description: JETSTREAM_FORMAT,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.New,
        max_msgs: -1,
        max_bytes: -1,
        max_age: 0,
        max_msg_size: this.maxPayload,
        num_replicas: replicas,
        duplicate_window: dupWindowMs * 1_000_000,
      };
      try {
        info = await this.req(() => this.jsm.streams.add(config));
      } catch (e) {
        // Another writer created it meanwhile: use theirs (checked below like any existing stream).
        info = await this.jsm.streams.info(this.stream).catch(() => {
          throw e;
        });
      }
    }
    const cfg = info.config;
    if (
      cfg.description !== JETSTREAM_FORMAT ||
      cfg.subjects?.length !== 1 ||
      cfg.subjects[0] !== this.subject
    )
      throw new JournalError(
        'format',
        null,
        `${this.where()}: a stream that is not a ringfence journal (description ${JSON.stringify(cfg.description ?? '')})`,
      );
    if (cfg.max_msg_size > 0) this.maxPayload = Math.min(this.maxPayload, cfg.max_msg_size);
    this.token = info.state.last_seq;
    const objm = new Objm(this.nc);
    try {
      this.os = await this.req(() => objm.open(this.bucket));
    } catch (e) {
      if (!/not found/i.test((e as Error).message)) throw e;
      if (create)
        this.os = await this.req(() =>
          objm.create(this.bucket, {
            storage: StorageType.File,
            replicas: cfg.num_replicas,
            description: `ringfence journal snapshots of stream ${this.stream}`,
          }),
        );
    }
  }

  private where(): string {
    return `${redactNatsUrl(this.url)} (stream ${this.stream})`;
  }

  private check(): void {
    if (this.closed) throw new Error('journal store is closed');
    if (this.nc.isClosed()) throw new Error(`journal store connection to ${this.where()} is closed`);
  }

  private checkWritable(): void {
    this.check();
    if (this.readonly) throw new Error('journal store is read-only');
    if (this.failed) throw this.failed;
  }

  /** An idempotent request, retried through a leader election or a reconnect (up to `publishRetryMs`). */
  private req<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, this.retryMs, () => this.closed);
  }

  /** Runs `fn` after every write called before it; a failure stops every later write. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (this.failed) throw this.failed;
      return fn();
    });
    this.chain = run.then(
      () => {},
      (e: unknown) => {
        this.failed ??= e instanceof Error ? e : new Error(String(e));
      },
    );
    return run;
  }

  append(records: readonly JournalRecord[]): Promise<void> {
    try {
      this.checkWritable();
    } catch (e) {
      return Promise.reject(e);
    }
    const n = records.length;
    if (n === 0) return Promise.resolve();
    let prev = this.queuedLast;
    for (const r of records) {
      if (prev !== 0 && r.seq !== prev + 1)
        return Promise.reject(new Error(`journal append: seq ${r.seq} does not follow ${prev}`));
      prev = r.seq;
    }
    this.queuedLast = prev;
    const msgs: Outgoing[] = [];
    for (const p of encodeBatches(records, this.maxPayload - HEADER_ROOM)) {
      const h = natsHeaders();
      h.set(H_FIRST, String(p.first));
      h.set(H_LAST, String(p.last));
      if (this.writer !== null) h.set(H_WRITER, this.writer);
      const m: Outgoing = {
        payload: p.payload,
        h,
        first: p.first,
        last: p.last,
        expected: 0,
        id: '',
        attempt: null,
      };
      this.outstanding += 1;
      if (this.pipeline > 1 && this.sendingAhead && this.cutsPending === 0 && !this.failed) {
        m.expected = this.sentToken;
        m.id = batchMessageId(this.instance, m.first, m.expected, m.payload);
        m.attempt = this.sendAhead(m, m.expected === this.token ? '' : this.sentId);
        this.sentToken += 1;
        this.sentId = m.id;
        this.pipelineStats.sentAhead += 1;
      } else this.sendingAhead = false;
      msgs.push(m);
    }
    return this.serialize(async () => {
      for (const m of msgs) await this.confirm(m);
    });
  }

  /**
   * The first attempt of a message sent ahead: published now, its answer awaited by `confirm` in order. It is fenced
   * on the sequence the message before it is to get AND, while that one is unconfirmed, on that one's id: a
   * sequence alone would let it land after another writer's messages that happened to fill the gap (or after a hole
   * its predecessor's refusal left), where the id says the stream ends with this writer's own previous message.
   */
  private sendAhead(m: Outgoing, prevId: string): Promise<PubAck | Error> {
    const fault = this.faults?.firstAttempt?.(m.first) ?? null;
    const lost = () =>
      Object.assign(new Error('fault injected: publish timed out'), { name: 'TimeoutError' });
    let sent: Promise<PubAck>;
    if (fault === 'lose-request') sent = Promise.reject(lost());
    else {
      sent = this.js.publish(this.subject, m.payload, {
        msgID: m.id,
        expect:
          prevId === '' ? { lastSequence: m.expected } : { lastSequence: m.expected, lastMsgID: prevId },
        headers: m.h,
        timeout: this.timeoutMs,
      });
      if (fault === 'lose-answer')
        sent = sent.then(
          () => Promise.reject(lost()),
          () => Promise.reject(lost()),
        );
    }
    return sent.then(
      (ack) => ack,
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );
  }

  /**
   * A message's turn (every one before it is stored): its first attempt's answer if it was sent ahead and stored
   * where expected; otherwise — not sent ahead, or its attempt got no answer or was refused, which a lost message
   * before it also causes — it is published again, one at a time, as any unanswered publish is (same id, same
   * fence: a stored first attempt is de-duplicated, a real fence still fences).
   */
  private async confirm(m: Outgoing): Promise<void> {
    try {
      const answer = m.attempt && m.expected === this.token ? await this.unlessAborted(m.attempt) : null;
      if (answer !== null && !(answer instanceof Error)) {
        if (answer.seq !== m.expected + 1)
          throw new JournalFencedError(
            this.stream,
            m.expected,
            `the server answered with stream sequence ${answer.seq}${answer.duplicate ? ' (a duplicate)' : ''}, expected ${m.expected + 1}`,
          );
        this.token = answer.seq;
      } else {
        this.sendingAhead = false;
        this.pipelineStats.resent += 1;
        await this.publish(m.payload, m.h, m.first);
      }
      this.last = m.last;
    } finally {
      this.outstanding -= 1;
      if (this.outstanding === 0) {
        this.sendingAhead = true;
        this.sentToken = this.token;
      }
    }
  }

  /**
   * One message, fenced on the stream sequence this writer last saw and retried (same id) while unanswered; the
   * stream sequence it got.
   */
  private async publish(payload: Uint8Array, h: MsgHdrs, first: number): Promise<number> {
    const expected = this.token;
    const id = batchMessageId(this.instance, first, expected, payload);
    const deadline = Date.now() + this.retryMs;
    for (let attempt = 0; ; attempt++) {
      if (this.aborted) throw this.aborted;
      try {
        const sent = this.js.publish(this.subject, payload, {
          msgID: id,
          expect: { lastSequence: expected },
          headers: h,
          timeout: this.timeoutMs,
        });
        const ack = await this.unlessAborted(sent);
        if (ack.seq !== expected + 1)
          throw new JournalFencedError(
            this.stream,
            expected,
            `the server answered with stream sequence ${ack.seq}${ack.duplicate ? ' (a duplicate)' : ''}, expected ${expected + 1}`,
          );
        this.token = ack.seq;
        return ack.seq;
      } catch (e) {
        if (e instanceof JournalFencedError || e === this.aborted) throw e;
        if (e instanceof JetStreamApiError && e.code === WRONG_LAST_SEQUENCE) {
          // An earlier attempt of this very message may be stored (its answer lost) past the de-duplication window.
          const mine = await this.jsm.streams
            .getMessage(this.stream, { seq: expected + 1 })
            .catch(() => null);
          if (mine?.header?.get(H_MSG_ID) === id) {
            this.token = mine.seq;
            return mine.seq;
          }
          throw new JournalFencedError(this.stream, expected, e.message);
        }
        if (!retryable(e) || Date.now() >= deadline || this.closed) throw e;
        await this.unlessAborted(sleep(Math.min(1_000, 50 * 2 ** attempt)));
      }
    }
  }

  async *readPages(seq: number): AsyncGenerator<RecordPage> {
    this.check();
    const tail = await this.readTail();
    if (tail.last === null) return;
    const start = await this.startOf(seq, tail);
    if (start === null || start > tail.last.seq) return;
    const end = tail.last.seq;
    const skipped = (streamSeq: number) =>
      tail.skip !== null && streamSeq >= tail.skip[0] && streamSeq < tail.skip[1];
    const page = (streamSeq: number, data: Uint8Array, h: MsgHdrs | undefined) =>
      decodePage(data, seq, () => `stream ${this.stream} message ${streamSeq}`, metaOf(streamSeq, h));
    // The first message by a plain get: a short read (recovery's look at one record) needs no consumer.
    const first = await this.getNextMsg(start);
    if (first === null) return;
    if (!skipped(first.seq)) {
      const p = page(first.seq, first.data, first.header);
      if (p.count > 0) yield p;
    }
    if (first.seq >= end) return;
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: this.subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: first.seq + 1,
    });
    const msgs = await this.req(() => consumer.consume({ max_messages: 64 }));
    const it = msgs[Symbol.asyncIterator]();
    try {
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const idle = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`journal read: nothing from ${this.where()} for ${this.readIdleMs} ms`)),
            this.readIdleMs,
          );
        });
        const next = await Promise.race([it.next(), idle]).finally(() => clearTimeout(timer));
        if (next.done) throw new Error(`journal read: ${this.where()} ended the read early`);
        const m = next.value;
        if (!skipped(m.seq)) {
          const p = page(m.seq, m.data, m.headers);
          if (p.count > 0) yield p;
        }
        if (m.seq >= end || m.info.pending === 0) return;
      }
    } finally {
      // Not awaited: the iterator settles its close only when read on, and this read is over.
      void msgs.close().catch(() => {});
    }
  }

  async *readFrom(seq: number): AsyncGenerator<JournalRecord> {
    for await (const p of this.readPages(seq)) {
      for (let i = 0; i < p.count; i++) {
        const w = p.whole.size === 0 ? undefined : p.whole.get(i);
        yield w ?? {
          seq: p.seqs[i]!,
          time: p.times[i]!,
          command: p.data.subarray(p.starts[i]!, p.ends[i]!),
          checksum: p.checksums[i]!,
          stateHash: null,
        };
      }
    }
  }

  /**
   * The records from `seq` on as they are appended, a message at a time, until `signal` aborts (then it returns) or
   * the connection closes: what a hot standby or a read replica follows (src/service/ha). An ordered consumer from
   * the message holding `seq`; each item is that message's records with seq ≥ `seq` (a page, possibly empty), the
   * journal's last seq as of the message, the messages still pending after it and its writer. A cut written after
   * the follow began (`cut: true`, no page) ends it: the history was rewritten, read the journal again.
   */
  async *follow(seq: number, signal: AbortSignal): AsyncGenerator<FollowedMessage> {
    this.check();
    const tail = await this.readTail();
    const info = tail.last === null ? await this.req(() => this.jsm.streams.info(this.stream)) : null;
    let start = info !== null ? info.state.last_seq + 1 : await this.startOf(seq, tail);
    if (start === null || (tail.last !== null && start > tail.last.seq)) start = (tail.last?.seq ?? 0) + 1;
    const known = tail.last?.seq ?? 0;
    const skipped = (streamSeq: number) =>
      tail.skip !== null && streamSeq >= tail.skip[0] && streamSeq < tail.skip[1];
    if (signal.aborted) return;
    const consumer = await this.req(() =>
      this.js.consumers.get(this.stream, {
        filter_subjects: this.subject,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: Math.max(1, start),
      }),
    );
    // Heartbeats every 2.5 s: a consumer lost with a server is noticed (and recreated) within about 5 s.
    const msgs = await consumer.consume({ max_messages: 256, expires: 5_000 });
    const stop = () => {
      void msgs.close().catch(() => {});
    };
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    try {
      for await (const m of msgs) {
        if (signal.aborted) return;
        if (skipped(m.seq)) continue;
        const meta = metaOf(m.seq, m.headers);
        const writer = m.headers?.get(H_WRITER) || null;
        const pending = m.info.pending;
        if (meta.cutFrom !== null && m.seq > known) {
          yield { page: null, last: meta.last, pending, writer, cut: true };
          return;
        }
        const page = decodePage(m.data, seq, () => `stream ${this.stream} message ${m.seq}`, meta);
        yield { page, last: meta.last, pending, writer, cut: false };
      }
    } finally {
      signal.removeEventListener('abort', stop);
      stop();
    }
  }

  async lastSeq(): Promise<number> {
    this.check();
    return (await this.readTail()).last?.last ?? 0;
  }

  async firstSeq(): Promise<number> {
    this.check();
    const tail = await this.readTail();
    let s = tail.firstStreamSeq;
    // The first message with records (a cut that kept nothing leaves a message without any).
    while (tail.last !== null && s <= tail.last.seq) {
      const m = await this.getNext(s);
      if (m === null) return 0;
      if (tail.skip && m.seq >= tail.skip[0] && m.seq < tail.skip[1]) {
        s = tail.skip[1];
        continue;
      }
      if (m.first !== null) return m.first;
      s = m.seq + 1;
    }
    return 0;
  }

  truncateAfter(seq: number): Promise<number> {
    try {
      this.checkWritable();
    } catch (e) {
      return Promise.reject(e);
    }
    this.cutsPending += 1;
    return this.serialize(async () => {
      try {
        return await this.cut(seq);
      } finally {
        this.cutsPending -= 1;
        if (this.outstanding === 0) this.sentToken = this.token;
      }
    });
  }

  private async cut(seq: number): Promise<number> {
    let tail = await this.readTail();
    if (tail.skip) {
      await this.finishCut(tail.skip);
      tail = await this.readTail();
    }
    let removed = 0;
    if (tail.last !== null && tail.last.last > seq) {
      // The message that ends at or straddles the cut: kept whole, or its head re-written.
      const keep = await this.locate(seq, tail.firstStreamSeq, tail.last.seq);
      let kept: JournalRecord[] = [];
      let cutFrom = tail.firstStreamSeq;
      let newLast = 0;
      if (keep !== null) {
        if (keep.last > seq) {
          const m = await this.getAt(keep.seq);
          const page = m && decodePage(m.data, 0, () => `stream ${this.stream} message ${keep.seq}`, keep);
          kept = page ? pageRecords(page).filter((r) => r.seq <= seq) : [];
          cutFrom = keep.seq;
          newLast = kept.length > 0 ? kept[kept.length - 1]!.seq : (keep.first ?? 1) - 1;
        } else {
          cutFrom = keep.seq + 1;
          newLast = keep.last;
        }
      }
      const doomed = await this.messagesFrom(cutFrom, tail.last.seq);
      for (const d of doomed) if (d.first !== null) removed += d.last - Math.max(d.first, seq + 1) + 1;
      const h = natsHeaders();
      const payload = kept.length > 0 ? encodeBatches(kept, Infinity)[0]!.payload : new Uint8Array(0);
      if (kept.length > 0) h.set(H_FIRST, String(kept[0]!.seq));
      h.set(H_LAST, String(newLast));
      h.set(H_CUT, String(cutFrom));
      if (this.writer !== null) h.set(H_WRITER, this.writer);
      const marker = await this.publish(payload, h, kept[0]?.seq ?? newLast + 1);
      await this.deleteMessages(
        doomed.map((d) => d.seq),
        cutFrom,
        marker,
      );
      this.last = newLast;
      this.queuedLast = newLast;
    }
    if (this.os) {
      for (const s of await this.listSnapshots())
        if (s.seq > seq) await this.req(() => this.os!.delete(snapshotName(s.seq)));
    }
    return removed;
  }

  /** Deletes superseded messages (all of them below `before` at once when nothing older is kept). */
  private async deleteMessages(seqs: number[], cutFrom: number, before: number): Promise<void> {
    const info = await this.req(() => this.jsm.streams.info(this.stream));
    if (cutFrom <= info.state.first_seq) {
      await this.req(() => this.jsm.streams.purge(this.stream, { seq: before }));
      return;
    }
    for (const s of seqs) {
      await this.req(() =>
        this.jsm.streams.deleteMessage(this.stream, s, false).catch((e: unknown) => {
          // Already gone (a cut finished twice): fine.
          if (!(e instanceof JetStreamApiError && /not found/i.test(e.message))) throw e;
          return true;
        }),
      );
    }
  }

  /** Finishes a cut whose superseded messages [from, to) were not all deleted (the writer stopped in between). */
  private async finishCut([from, to]: [number, number]): Promise<void> {
    const doomed = await this.messagesFrom(from, to - 1);
    await this.deleteMessages(
      doomed.map((d) => d.seq),
      from,
      to,
    );
  }

  async saveSnapshot(s: SnapshotRecord): Promise<void> {
    this.check();
    if (this.readonly) throw new Error('journal store is read-only');
    if (!this.os) throw new Error(`${this.where()}: no snapshot bucket ${this.bucket}`);
    const last = await this.lastSeq();
    if (s.seq > last)
      throw new Error(`journal snapshot: seq ${s.seq} is past the last stored record (${last})`);
    const os = this.os;
    await this.req(() => os.putBlob(snapshotObject(s), s.data));
  }

  async listSnapshots(): Promise<SnapshotInfo[]> {
    this.check();
    if (!this.os) return [];
    const out: SnapshotInfo[] = [];
    const os = this.os;
    for (const o of await this.req(() => os.list())) {
      if (o.deleted) continue;
      const meta = snapshotMeta(o);
      if (meta) out.push({ seq: meta.seq, time: meta.time, stateHash: meta.stateHash, bytes: o.size });
    }
    return out.sort((a, b) => b.seq - a.seq);
  }

  async readSnapshot(seq: number): Promise<SnapshotRecord | null> {
    this.check();
    if (!this.os) return null;
    const name = snapshotName(seq);
    const os = this.os;
    const info = await this.req(() => os.info(name));
    if (!info || info.deleted) return null;
    const meta = snapshotMeta(info);
    const data = await this.req(() => os.getBlob(name));
    if (!meta || !data) return null;
    return { ...meta, data };
  }

  async pruneSnapshots(keep: number): Promise<number> {
    this.check();
    if (!this.os) return 0;
    const old = (await this.listSnapshots()).slice(Math.max(0, Math.floor(keep)));
    const os = this.os;
    for (const s of old) await this.req(() => os.delete(snapshotName(s.seq)));
    return old.length;
  }

  /**
   * Takes the stream's current end as this writer's fence, as open does. Only for a writer that has read the journal
   * up to that end before it appends: a standby taking over (src/service/ha/roles.ts: it adopts, then catches up to
   * `lastSeq()`), tools and tests that rewrite a stream. Should a message land between the two reads here, the fence
   * is older than the end and the first append is refused: safe.
   */
  async adoptTail(): Promise<void> {
    if (this.aborted) throw this.aborted;
    await this.chain.catch(() => {});
    this.token = (await this.req(() => this.jsm.streams.info(this.stream))).state.last_seq;
    this.failed = null;
    this.outstanding = 0;
    this.sendingAhead = true;
    this.sentToken = this.token;
    this.last = await this.lastSeq();
    this.queuedLast = this.last;
  }

  /**
   * Fails every write from now on with `reason`: the one in flight at once, without waiting for its answer (its
   * message may still be stored, or be refused by the fence: its outcome is unknown, as for any write that got no
   * answer), and those queued behind it. For a writer that must stop now — a service that lost its leader lease
   * (src/service/ha). `close` then closes the connection without draining it (it may be cut off).
   */
  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = reason;
    this.failed ??= reason;
    for (const reject of this.abortWaits) reject(reason);
    this.abortWaits.clear();
  }

  /** `p`, or a rejection with the reason as soon as `abort` is called (`p` is left to settle unobserved). */
  private unlessAborted<T>(p: Promise<T>): Promise<T> {
    if (this.aborted) {
      p.catch(() => {});
      return Promise.reject(this.aborted);
    }
    return new Promise<T>((resolve, reject) => {
      this.abortWaits.add(reject);
      p.then(resolve, reject).finally(() => this.abortWaits.delete(reject));
    });
  }

  /** Waits for the writes in flight, then drains the connection (closes it, after `abort`). */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.aborted) {
      this.closed = true;
      await this.nc.close().catch(() => {});
      return;
    }
    await this.chain.catch(() => {});
    this.closed = true;
    await this.nc.drain().catch(() => this.nc.close().catch(() => {}));
  }

  // -------------------------------------------------------------------------------------------------------
  // Finding messages.

  private async getAt(streamSeq: number): Promise<StoredMsg | null> {
    return this.req(() => this.jsm.streams.getMessage(this.stream, { seq: streamSeq }));
  }

  /** The first message at or after a stream sequence, as its headers describe it. */
  private async getNext(streamSeq: number): Promise<BatchMeta | null> {
    const m = await this.getNextMsg(streamSeq);
    return m ? metaOf(m.seq, m.header) : null;
  }

  /** The first message at or after a stream sequence. */
  private getNextMsg(streamSeq: number): Promise<StoredMsg | null> {
    // `next_by_subj`: the first message on the subject at or after `seq` (the client's type omits it; 2.9 has it).
    const query = { seq: streamSeq, next_by_subj: this.subject } as SeqMsgRequest;
    return this.req(() => this.jsm.streams.getMessage(this.stream, query));
  }

  /** The last message, the first stream sequence, and the span an unfinished cut supersedes. */
  private async readTail(): Promise<Tail> {
    const info = await this.req(() => this.jsm.streams.info(this.stream));
    const st = info.state;
    if (st.messages === 0) return { last: null, skip: null, firstStreamSeq: st.first_seq };
    let m = await this.req(() => this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject }));
    // nats-server 2.9 can lose a subject's last message once it was deleted: walk back from the stream's end.
    for (let s = st.last_seq; m === null && s >= st.first_seq; s--) m = await this.getAt(s);
    if (m === null) return { last: null, skip: null, firstStreamSeq: st.first_seq };
    const last = metaOf(m.seq, m.header);
    let skip: [number, number] | null = null;
    if (last.cutFrom !== null && last.cutFrom < last.seq) {
      const older = await this.getNext(last.cutFrom);
      if (older !== null && older.seq < last.seq) skip = [last.cutFrom, last.seq];
    }
    return { last, skip, firstStreamSeq: st.first_seq };
  }

  /** The stream sequence a read of records from `seq` starts at (null: nothing there). */
  private async startOf(seq: number, tail: Tail): Promise<number | null> {
    const last = tail.last!;
    let found: BatchMeta | null;
    if (tail.skip) {
      // Keys are in order outside the superseded span: the cut message itself, else what is before the span.
      found = key(last) <= seq ? last : await this.locate(seq, tail.firstStreamSeq, tail.skip[0] - 1);
    } else found = await this.locate(seq, tail.firstStreamSeq, last.seq);
    if (found === null) return tail.firstStreamSeq;
    return found.last >= seq && found.first !== null ? found.seq : found.seq + 1;
  }

  /**
   * The message with the largest key (first record seq; for a message without records, the seq after its last)
   * ≤ `seq` among stream sequences [lo, hi], by binary search (keys grow with the stream sequence); null if none.
   */
  private async locate(seq: number, lo: number, hi: number): Promise<BatchMeta | null> {
    let best: BatchMeta | null = null;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const m = await this.getNext(mid);
      if (m === null || m.seq > hi) {
        hi = mid - 1;
        continue;
      }
      if (key(m) <= seq) {
        best = m;
        lo = m.seq + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  /** The messages of stream sequences [from, to], by their headers (a headers-only ordered consumer). */
  private async messagesFrom(from: number, to: number): Promise<BatchMeta[]> {
    const out: BatchMeta[] = [];
    if (to < from) return out;
    const first = await this.getNext(from);
    if (first === null || first.seq > to) return out;
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: this.subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: first.seq,
      headers_only: true,
    });
    const msgs = await this.req(() => consumer.consume({ max_messages: 1_000 }));
    try {
      for await (const m of msgs) {
        if (m.seq > to) break;
        out.push(metaOf(m.seq, m.headers));
        if (m.seq >= to || m.info.pending === 0) break;
      }
    } finally {
      // Not awaited: the iterator settles its close only when read on, and this read is over.
      void msgs.close().catch(() => {});
    }
    return out;
  }
}

/** Opens a JetStream journal store: `JetStreamJournalStore.open`. */
export function openJetStreamStore(
  url: string,
  opts: JetStreamStoreOptions = {},
): Promise<JetStreamJournalStore> {
  return JetStreamJournalStore.open(url, opts);
}

/**
 * A message's `Nats-Msg-Id`: the writing store's instance, its first record's seq, the stream sequence it must
 * follow and its payload's CRC32, so that only a retry of this very message is taken for a duplicate — never
 * another writer's batch, even a byte-identical one at the same place (that one fences this writer out).
 */
export function batchMessageId(
  instance: string,
  first: number,
  expectedLastSequence: number,
  payload: Uint8Array,
): string {
  return `${instance}.${first}.${expectedLastSequence}.${crc32(payload).toString(16)}`;
}

/** `fn` again while it fails for a reason that passes (see `retryable`), for up to `ms`, backing off to 1 s. */
async function withRetry<T>(fn: () => Promise<T>, ms: number, stop: () => boolean = () => false): Promise<T> {
  const deadline = Date.now() + ms;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!retryable(e) || Date.now() >= deadline || stop()) throw e;
      await sleep(Math.min(1_000, 50 * 2 ** attempt));
    }
  }
}

function retryable(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return e.status === 503 || e.status === 408;
  const name = (e as Error)?.name ?? '';
  // No answer (timeout), nobody answering (a leader election: "no responders", which the client reports as
  // JetStream not enabled), or the connection between servers.
  return /Timeout|NoResponders|JetStreamNotEnabled|RequestError|ConnectionError/.test(name);
}

function key(m: BatchMeta): number {
  return m.first ?? m.last + 1;
}

function metaOf(seq: number, h: MsgHdrs | undefined): BatchMeta {
  const num = (k: string): number | null => {
    const v = h?.get(k);
    if (v === undefined || v === '') return null;
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : null;
  };
  const first = num(H_FIRST);
  return { seq, first, last: num(H_LAST) ?? (first ?? 1) - 1, cutFrom: num(H_CUT) };
}

// ---------------------------------------------------------------------------------------------------------
// The batch encoding.

interface EncodedBatch {
  first: number;
  last: number;
  payload: Uint8Array;
}

const recordBytes = (r: JournalRecord) =>
  RECORD_HEADER + r.command.byteLength + (r.stateHash === null ? 0 : HASH_LEN);

/** The records as payloads of at most `limit` bytes each (one unless the batch is larger), in order. */
export function encodeBatches(records: readonly JournalRecord[], limit: number): EncodedBatch[] {
  const out: EncodedBatch[] = [];
  let i = 0;
  while (i < records.length) {
    let bytes = 0;
    let j = i;
    while (j < records.length && (j === i || bytes + recordBytes(records[j]!) <= limit)) {
      bytes += recordBytes(records[j]!);
      j++;
    }
    if (bytes > limit)
      throw new Error(
        `journal append: record ${records[i]!.seq} (${bytes} bytes) does not fit a message (${limit})`,
      );
    out.push(encodeBatch(records, i, j, bytes));
    i = j;
  }
  return out;
}

function encodeBatch(
  records: readonly JournalRecord[],
  from: number,
  to: number,
  bytes: number,
): EncodedBatch {
  const buf = Buffer.allocUnsafe(bytes);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = 0;
  for (let i = from; i < to; i++) {
    const r = records[i]!;
    const len = r.command.byteLength;
    if (len >= HASH_BIT) throw new Error(`journal append: record ${r.seq} is too large`);
    dv.setInt32(p, Math.floor(r.seq / 4294967296));
    dv.setUint32(p + 4, r.seq >>> 0);
    dv.setInt32(p + 8, Math.floor(r.time / 4294967296));
    dv.setUint32(p + 12, r.time >>> 0);
    dv.setUint32(p + 16, r.checksum >>> 0);
    dv.setUint32(p + 20, r.stateHash === null ? len : (len | HASH_BIT) >>> 0);
    buf.set(r.command, p + RECORD_HEADER);
    p += RECORD_HEADER + len;
    if (r.stateHash !== null) {
      if (buf.write(r.stateHash, p, HASH_LEN, 'latin1') !== HASH_LEN || r.stateHash.length !== HASH_LEN)
        throw new Error(`journal append: record ${r.seq}: a state hash is 64 characters`);
      p += HASH_LEN;
    }
  }
  return { first: records[from]!.seq, last: records[to - 1]!.seq, payload: buf };
}

/**
 * A message's records with seq ≥ `from` as one page over its payload (no copy). A payload that does not parse is
 * a JournalError naming the batch's first seq: a message is atomic, so that is damage, not a torn write.
 */
function decodePage(data: Uint8Array, from: number, where: () => string, meta: BatchMeta): RecordPage {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = data.byteLength;
  const seqs: number[] = [];
  const times: number[] = [];
  const checksums: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const whole = new Map<number, JournalRecord>();
  let p = 0;
  while (p < n) {
    if (p + RECORD_HEADER > n) throw damaged(meta, where, `a record header runs past the end at byte ${p}`);
    const seq = dv.getInt32(p) * 4294967296 + dv.getUint32(p + 4);
    const time = dv.getInt32(p + 8) * 4294967296 + dv.getUint32(p + 12);
    const checksum = dv.getUint32(p + 16);
    const word = dv.getUint32(p + 20);
    const len = (word & ~HASH_BIT) >>> 0;
    const hashed = (word & HASH_BIT) !== 0;
    const start = p + RECORD_HEADER;
    const end = start + len;
    p = end + (hashed ? HASH_LEN : 0);
    if (p > n) throw damaged(meta, where, `record ${seq} runs past the end`);
    if (seq < from) continue;
    const i = seqs.length;
    seqs.push(seq);
    times.push(time);
    checksums.push(checksum);
    starts.push(start);
    ends.push(end);
    if (hashed) {
      const stateHash = Buffer.from(data.buffer, data.byteOffset + end, HASH_LEN).toString('latin1');
      whole.set(i, { seq, time, command: data.subarray(start, end), checksum, stateHash });
    }
  }
  return { count: seqs.length, seqs, times, checksums, starts, ends, data, whole };
}

function damaged(meta: BatchMeta, where: () => string, why: string): JournalError {
  return new JournalError(
    'corrupt',
    meta.first,
    `journal corrupt: ${where()} (batch from seq ${meta.first}): ${why}`,
  );
}

function pageRecords(p: RecordPage): JournalRecord[] {
  const out: JournalRecord[] = [];
  for (let i = 0; i < p.count; i++) {
    out.push(
      p.whole.get(i) ?? {
        seq: p.seqs[i]!,
        time: p.times[i]!,
        command: p.data.subarray(p.starts[i]!, p.ends[i]!),
        checksum: p.checksums[i]!,
        stateHash: null,
      },
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Snapshots.

export const snapshotName = (seq: number) => `seq-${seq}`;

/** The object a snapshot is stored as (without its data): its name and headers. */
export function snapshotObject(s: Omit<SnapshotRecord, 'data'>): ObjectStoreMeta {
  const h = natsHeaders();
  h.set('Ringfence-Seq', String(s.seq));
  h.set('Ringfence-Time', String(s.time));
  h.set('Ringfence-State-Hash', s.stateHash);
  h.set('Ringfence-Checksum', String(s.checksum >>> 0));
  return { name: snapshotName(s.seq), headers: h, description: `ringfence snapshot at seq ${s.seq}` };
}

/** The snapshot's fields from its object's headers (a MsgHdrs from a put, plain `{key: [values]}` from a list). */
function snapshotMeta(o: ObjectInfo): Omit<SnapshotRecord, 'data'> | null {
  const h = o.headers as unknown;
  const get = (k: string): string | undefined => {
    if (!h) return undefined;
    if (typeof (h as MsgHdrs).get === 'function') return (h as MsgHdrs).get(k) || undefined;
    const v = (h as Record<string, string[] | undefined>)[k];
    return v?.[0];
  };
  const seq = Number(get('Ringfence-Seq'));
  const time = Number(get('Ringfence-Time'));
  const checksum = Number(get('Ringfence-Checksum'));
  const stateHash = get('Ringfence-State-Hash');
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(time) || !Number.isSafeInteger(checksum))
    return null;
  if (stateHash === undefined || o.name !== snapshotName(seq)) return null;
  return { seq, time, stateHash, checksum };
}
