/**
 * A hot standby's or a read replica's engine following the journal: an ordered consumer on the stream from the
 * engine's next seq (JetStreamJournalStore.follow), each message's records applied as it arrives with the checks
 * recovery makes (Service.followPage: checksums, consecutive seqs, each command accepted with its seq, recorded state
 * hashes) and published like committed commands, so the process's streams, book mirror and histories are current.
 *
 * - Records that fail the checks, or a cut of the journal's tail written meanwhile, stop the follower (`onFailed`):
 *   the engine is rebuilt from the store and a new follower starts from there.
 * - A consumer that fails (a server lost, a reconnect) is started again from the engine's next seq after 500 ms.
 * - Once a second the journal's end is read (`streamSeq`, for the lag /health reports); a follower that has not
 *   moved for 4 s while the journal is ahead of it starts its consumer again (a stalled consumer is not waited out).
 */
import type { JetStreamJournalStore } from '../../journal/jetstream.ts';
import { JournalError } from '../../journal/store.ts';
import type { Log, Service } from '../service.ts';

const POLL_MS = 1_000;
const STALL_MS = 4_000;
const RETRY_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Follower {
  /** The journal's last seq as last seen (its end): the lag is this less the engine's seq. */
  streamSeq: number;
  private stopped = false;
  private consumer: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private poller: NodeJS.Timeout | null = null;
  private polling = false;
  private lastMove = performance.now();
  private lastSeen: number;

  constructor(
    private readonly service: Service,
    private readonly store: JetStreamJournalStore,
    private readonly log: Log,
    private readonly onFailed: (e: Error) => void,
  ) {
    this.streamSeq = service.engine.seq;
    this.lastSeen = service.engine.seq;
  }

  /** Records behind the journal's end (as last seen). */
  get lag(): number {
    return Math.max(0, this.streamSeq - this.service.engine.seq);
  }

  start(): void {
    this.loop = this.run();
    this.poller = setInterval(() => void this.poll(), POLL_MS);
  }

  /**
   * Stops following: no record is applied from now on (records are applied synchronously, and the loop checks first).
   * Resolves once the loop has ended, or after a second (a read stuck on an unreachable server ends by itself).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poller) clearInterval(this.poller);
    this.consumer?.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise((r) => (timer = setTimeout(r, 1_000)))]);
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const ctl = new AbortController();
      this.consumer = ctl;
      try {
        for await (const m of this.store.follow(this.service.engine.seq + 1, ctl.signal)) {
          if (this.stopped) return;
          if (m.cut)
            throw new JournalError('replay', null, 'the journal’s tail was cut after this follower read it');
          if (m.page !== null && m.page.count > 0) this.service.followPage(m.page);
          this.streamSeq = m.pending === 0 ? m.last : Math.max(this.streamSeq, m.last);
          this.moved();
        }
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof JournalError) {
          this.stopped = true;
          if (this.poller) clearInterval(this.poller);
          this.onFailed(e);
          return;
        }
        this.log.warn(
          { err: e, seq: this.service.engine.seq },
          'following the journal failed; starting again',
        );
      }
      if (!this.stopped) await sleep(RETRY_MS);
    }
  }

  private moved(): void {
    const seq = this.service.engine.seq;
    if (seq !== this.lastSeen) {
      this.lastSeen = seq;
      this.lastMove = performance.now();
    }
  }

  /** The journal's end; a consumer that stalled behind it is started again. */
  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const last = await this.store.lastSeq();
      if (this.stopped) return;
      this.streamSeq = last;
      this.moved();
      if (last > this.service.engine.seq && performance.now() - this.lastMove > STALL_MS) {
        this.log.warn(
          { seq: this.service.engine.seq, streamSeq: last },
          'the journal follower stalled behind the journal; starting it again',
        );
        this.lastMove = performance.now();
        this.consumer?.abort();
      }
    } catch {
      // the servers are unreachable: the consumer says so itself
    } finally {
      this.polling = false;
    }
  }
}
