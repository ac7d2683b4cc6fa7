/**
 * The JetStream journal on a local 3-node NATS cluster (nats-cluster.ts), its stream replicated 3 ways (R=3): an
 * acknowledged batch is on every current replica; a stale writer is fenced out by the server; with a node killed
 * (the stream's leader, the hard case) under a stream of appends the writes go on — a quorum of 2 of 3 — and once it
 * is back it catches up, nothing lost: every seq read back, checksums intact, through a quorum that includes it; a
 * retried publish is stored once. The cluster's processes are all gone after it stops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager, type StreamInfo } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { checkRecord, encodeCommand, makeRecord } from '../../src/journal/codec.ts';
import {
  batchMessageId,
  encodeBatches,
  H_FIRST,
  H_LAST,
  JetStreamJournalStore,
  JournalFencedError,
} from '../../src/journal/jetstream.ts';
import type { JournalRecord } from '../../src/journal/store.ts';
import { type NatsCluster, natsMissing, pidOf, startCluster, uniqueStream } from './nats-cluster.ts';

const rec = (seq: number): JournalRecord => {
  const c = {
    type: 'deposit' as const,
    time: 1_700_000_000_000 + seq,
    account: `a${seq % 11}`,
    asset: 'USDT',
    amount: '2',
  };
  return makeRecord(seq, c.time, encodeCommand(c));
};
const recs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => rec(from + i));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The stream's info; a request lost to an election (a node just killed or back) is asked again, for up to 15 s. */
async function streamInfo(store: JetStreamJournalStore): Promise<StreamInfo> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await (await jetstreamManager(store.nc, { timeout: 3_000 })).streams.info(store.stream);
    } catch (e) {
      if (Date.now() > deadline || !/timeout|no responders|not enabled/i.test(String(e))) throw e;
      await sleep(250);
    }
  }
}

/** Until every replica of the stream is current with no lag (within `ms`). */
async function waitCaughtUp(store: JetStreamJournalStore, replicas: number, ms: number): Promise<StreamInfo> {
  const deadline = Date.now() + ms;
  for (;;) {
    const info = await streamInfo(store).catch(() => null);
    const peers = info?.cluster?.replicas ?? [];
    if (info && peers.length === replicas - 1 && peers.every((p) => p.current && !p.offline && !p.lag))
      return info;
    if (Date.now() > deadline)
      throw new Error(`replicas not caught up in ${ms} ms: ${JSON.stringify(info?.cluster)}`);
    await sleep(200);
  }
}

describe('JetStream journal on a 3-node cluster, R=3', { timeout: 300_000 }, () => {
  const missing = natsMissing();
  let cluster: NatsCluster;
  const url = (stream: string) => cluster.url(stream, 'replicas=3');
  before(async () => {
    if (!missing) cluster = await startCluster(3, 30_000);
  });
  after(async () => {
    if (!cluster) return;
    const pids = cluster.nodes.map(pidOf);
    await cluster.stop();
    for (const pid of pids) {
      assert.ok(pid !== null);
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `nats-server ${pid} is gone`);
    }
  });
  const opts = { skip: missing ?? false, timeout: 120_000 };

  test(
    'appends are acknowledged once every replica has them; a stale writer is refused with the fencing error',
    opts,
    async () => {
      const a = await JetStreamJournalStore.open(url(uniqueStream('rfc')));
      try {
        await a.append(recs(1, 100));
        const info = await waitCaughtUp(a, 3, 20_000);
        assert.equal(info.config.num_replicas, 3);
        assert.equal(info.state.messages, 1);
        const b = await JetStreamJournalStore.open(a.url);
        try {
          await b.append(recs(101, 150));
          await assert.rejects(a.append(recs(101, 120)), JournalFencedError);
          await assert.rejects(a.append(recs(121, 130)), JournalFencedError);
          await b.append(recs(151, 200));
          assert.equal(await b.lastSeq(), 200);
          const seqs: number[] = [];
          for await (const r of b.readFrom(1)) seqs.push(r.seq);
          assert.deepEqual(
            seqs,
            Array.from({ length: 200 }, (_, i) => i + 1),
          );
        } finally {
          await b.close();
        }
      } finally {
        await a.close();
      }
    },
  );

  test(
    'pipelined appends: sent ahead, acknowledged in order without a retry; a lost one is repaired; another writer fences all of them',
    opts,
    async () => {
      const a = await JetStreamJournalStore.open(url(uniqueStream('rfc')), {
        pipeline: 8,
        faults: { firstAttempt: (first) => (first === 201 ? 'lose-request' : null) },
      });
      let b: JetStreamJournalStore | null = null;
      try {
        const batches = (from: number, n: number) =>
          Promise.all(Array.from({ length: n }, (_, i) => a.append(recs(from + 10 * i, from + 10 * i + 9))));
        await batches(1, 8);
        assert.deepEqual(a.pipelineStats, { sentAhead: 8, resent: 0 }, 'the quorum took each as sent');
        await batches(81, 16); // 201..210 lost on the way: it and those sent after it go again, in turn
        assert.equal(a.pipelineStats.sentAhead, 24);
        assert.ok(a.pipelineStats.resent >= 1, JSON.stringify(a.pipelineStats));
        assert.equal((await streamInfo(a)).state.messages, 24, 'each batch stored once');

        b = await JetStreamJournalStore.open(a.url);
        await b.append(recs(241, 250));
        const refused = [0, 1, 2, 3].map((i) => a.append(recs(241 + 10 * i, 250 + 10 * i)));
        for (const p of refused) await assert.rejects(p, JournalFencedError);
        await b.append(recs(251, 260));
        const seqs: number[] = [];
        for await (const r of b.readFrom(1)) seqs.push(r.seq);
        assert.deepEqual(
          seqs,
          Array.from({ length: 260 }, (_, i) => i + 1),
          'in order, once each, nothing of the fenced writer',
        );
        assert.equal((await streamInfo(b)).state.messages, 26);
      } finally {
        await a.close();
        await b?.close();
      }
    },
  );

  test('a retried publish of a stored batch is de-duplicated, not stored twice', opts, async () => {
    const store = await JetStreamJournalStore.open(url(uniqueStream('rfc')));
    try {
      await store.append(recs(1, 10));
      const expected = (await streamInfo(store)).state.last_seq;
      const batch = encodeBatches(recs(11, 20), 1 << 20)[0]!;
      const h = natsHeaders();
      h.set(H_FIRST, '11');
      h.set(H_LAST, '20');
      await jetstream(store.nc).publish(store.subject, batch.payload, {
        headers: h,
        msgID: batchMessageId(store.instance, 11, expected, batch.payload),
        expect: { lastSequence: expected },
      });
      await store.append(recs(11, 20));
      assert.equal((await streamInfo(store)).state.messages, 2);
      await store.append(recs(21, 30));
      let n = 0;
      for await (const r of store.readFrom(1)) assert.equal(r.seq, ++n);
      assert.equal(n, 30);
    } finally {
      await store.close();
    }
  });

  test(
    'the stream leader killed under appends: writes go on (2 of 3), it comes back and catches up, nothing lost',
    opts,
    async (t) => {
      const store = await JetStreamJournalStore.open(url(uniqueStream('rfc')), {
        timeoutMs: 2_000,
        publishRetryMs: 60_000,
      });
      let next = 1;
      let stop = false;
      let failure: unknown = null;
      const acked: number[] = [];
      // One writer appending batches of 25 records back to back, as the journal's group commit would.
      const writer = (async () => {
        while (!stop) {
          const batch = recs(next, next + 24);
          try {
            await store.append(batch);
          } catch (e) {
            failure = e;
            return;
          }
          next += 25;
          acked.push(next - 1);
        }
      })();
      const untilAcked = async (n: number, ms: number) => {
        const deadline = Date.now() + ms;
        while (acked.length < n && failure === null) {
          if (Date.now() > deadline)
            throw new Error(`only ${acked.length} of ${n} batches acknowledged in ${ms} ms`);
          await sleep(20);
        }
        if (failure) throw failure;
      };
      let restarted: (typeof cluster.nodes)[number] | null = null;
      let stopped: (typeof cluster.nodes)[number] | null = null;
      try {
        await untilAcked(40, 30_000);
        const leader = (await streamInfo(store)).cluster?.leader;
        const victim = cluster.nodes.find((n) => n.name === leader);
        assert.ok(victim, `the stream's leader (${leader}) is one of the nodes`);
        await victim.kill();
        const atKill = acked.length;
        const killedAt = Date.now();
        // Writes continue on the two that are left (a new leader is elected; the unanswered publish is retried).
        await untilAcked(atKill + 2, 60_000);
        t.diagnostic(
          `appends paused about ${Date.now() - killedAt} ms while the stream elected a new leader`,
        );
        await untilAcked(atKill + 60, 60_000);
        const during = (await streamInfo(store)).cluster;
        assert.notEqual(during?.leader, victim.name);
        await victim.start();
        restarted = victim;
        await untilAcked(acked.length + 20, 30_000);
        stop = true;
        await writer;
        if (failure) throw failure;
        await waitCaughtUp(store, 3, 60_000);
        const last = acked[acked.length - 1]!;
        assert.equal(await store.lastSeq(), last);
        // Stop another node: the quorum left includes the restarted one, and still holds every record.
        stopped = cluster.nodes.find((n) => n !== victim && n.running)!;
        await stopped.stop();
        // The stream (and the meta group) may need a moment to elect a leader among the two left.
        let expect = 1;
        const deadline = Date.now() + 60_000;
        for (;;) {
          let reader: JetStreamJournalStore | null = null;
          try {
            reader = await JetStreamJournalStore.open(store.url, { readonly: true, timeoutMs: 5_000 });
            expect = 1;
            for await (const r of reader.readFrom(1)) {
              assert.equal(r.seq, expect++);
              const c = checkRecord(r);
              assert.ok(c.ok, `record ${r.seq}: ${c.ok ? '' : c.reason}`);
              assert.equal(r.checksum, rec(r.seq).checksum);
            }
            break;
          } catch (e) {
            if (e instanceof assert.AssertionError || Date.now() > deadline) throw e;
            await sleep(500);
          } finally {
            await reader?.close();
          }
        }
        assert.equal(expect - 1, last, 'every acknowledged seq read back');
      } finally {
        stop = true;
        await writer;
        await store.close();
        if (stopped) await stopped.start();
        if (restarted && !restarted.running) await restarted.start();
      }
    },
  );
});
