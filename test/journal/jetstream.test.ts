/**
 * The JetStream journal store on the single server (127.0.0.1:4222, or a private one: nats-cluster.ts), beyond the
 * store contract (stores.test.ts): its URL, the batch as one message (split when larger than a message can be),
 * appends called before the previous resolved, a reader that creates nothing, a second writer fenced out, a retried
 * publish stored once, `ringfence journal verify nats://…` on a journal the engine wrote, and `ringfence serve`'s
 * service on a JetStream journal across a restart. Each test on a stream of its own, deleted after.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { encodeCommand, makeRecord } from '../../src/journal/codec.ts';
import {
  batchMessageId,
  encodeBatches,
  H_CUT,
  H_FIRST,
  H_LAST,
  JETSTREAM_FORMAT,
  JetStreamJournalStore,
  JournalFencedError,
  parseNatsUrl,
} from '../../src/journal/jetstream.ts';
import { recover } from '../../src/journal/journal.ts';
import { openJournalStore } from '../../src/journal/open.ts';
import { redactNatsUrl } from '../../src/journal/redact.ts';
import { JournalError, type JournalRecord } from '../../src/journal/store.ts';
import { redactUrl, storeKind } from '../../src/service/store.ts';
import { runCli } from '../cli/run.ts';
import { Harness, type PositionJson } from '../service/helpers.ts';
import {
  deleteJournalStream,
  singleServer,
  singleServerMissing,
  startTlsServer,
  tlsMissing,
  uniqueStream,
} from './nats-cluster.ts';
import { fillStore } from './util.ts';

const rec = (seq: number, pad = 0): JournalRecord => {
  const c = {
    type: 'deposit' as const,
    time: 1_700_000_000_000 + seq,
    account: `a${seq % 7}${'x'.repeat(pad)}`,
    asset: 'USDT',
    amount: '1',
  };
  return makeRecord(seq, c.time, encodeCommand(c));
};
const recs = (from: number, to: number, pad = 0) =>
  Array.from({ length: to - from + 1 }, (_, i) => rec(from + i, pad));
async function collect(store: JetStreamJournalStore, from: number): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const r of store.readFrom(from)) out.push(r);
  return out;
}

describe('JetStream URLs', { timeout: 10_000 }, () => {
  test('nats://[user:pass@]host:port[,host:port…]/<stream>[?replicas=N][&tls=1&ca=&cert=&key=]; credentials never printed', () => {
    assert.deepEqual(parseNatsUrl('nats://127.0.0.1:4222,10.0.0.2:4223,nats3/venue_btc?replicas=3'), {
      servers: ['127.0.0.1:4222', '10.0.0.2:4223', 'nats3:4222'],
      stream: 'venue_btc',
      replicas: 3,
    });
    assert.deepEqual(parseNatsUrl('nats://rf:p%40ss@h:1/j'), {
      servers: ['h:1'],
      stream: 'j',
      user: 'rf',
      pass: 'p@ss',
    });
    assert.equal(parseNatsUrl('nats://s3cret@h:1/j').token, 's3cret');
    assert.deepEqual(parseNatsUrl('nats://h:1/j?tls=1').tls, {});
    assert.deepEqual(parseNatsUrl('nats://h:1/j?ca=%2Fetc%2Fca.pem&cert=%2Fc.pem&key=%2Fc.key').tls, {
      caFile: '/etc/ca.pem',
      certFile: '/c.pem',
      keyFile: '/c.key',
    });
    assert.equal(redactNatsUrl('nats://rf:hunter2@h:1,h:2/j'), 'nats://rf:***@h:1,h:2/j');
    assert.equal(redactNatsUrl('nats://hunter2@h:1/j'), 'nats://***@h:1/j');
    assert.equal(redactUrl('nats://rf:hunter2@h:1/j'), 'nats://rf:***@h:1/j');
    assert.equal(storeKind('nats://h:1/j'), 'jetstream');
    for (const [url, why] of [
      ['nats://h:1', /not a nats:\/\/host:port/],
      ['nats://h:1/a.b', /stream name/],
      ['nats://h:1/j?replicas=7', /replicas: 1 to 5/],
      ['nats://h:1/j?tls=yes', /tls: 1 or true/],
      ['nats://h:1/j?cert=%2Fc.pem', /cert and key go together/],
      ['nats://h:1/j?secure=1', /unknown parameter secure/],
      ['nats://rf:hunter2@h:x/j', /a server is not host:port/],
    ] as const) {
      assert.throws(
        () => parseNatsUrl(url),
        (e: unknown) =>
          e instanceof JournalError &&
          e.kind === 'format' &&
          why.test(e.message) &&
          !/hunter2/.test(e.message),
      );
    }
  });
});

describe('JetStream over TLS', { timeout: 60_000 }, () => {
  const missing = tlsMissing();
  test('?ca=&cert=&key= reach a server that requires a client certificate; without them, or with only the CA, the open fails and says why', {
    skip: missing ?? false,
    timeout: 45_000,
  }, async () => {
    const tls = await startTlsServer();
    try {
      const enc = encodeURIComponent;
      const base = `nats://${tls.servers}/${uniqueStream('rftls')}`;
      const store = await JetStreamJournalStore.open(
        `${base}?ca=${enc(tls.ca)}&cert=${enc(tls.cert)}&key=${enc(tls.key)}`,
      );
      try {
        await store.append(recs(1, 20));
        assert.deepEqual(
          (await collect(store, 19)).map((r) => r.seq),
          [19, 20],
        );
      } finally {
        await store.close();
      }
      for (const url of [base, `${base}?tls=1`, `${base}?ca=${enc(tls.ca)}`])
        await assert.rejects(
          JetStreamJournalStore.open(url, { timeoutMs: 3_000 }),
          (e: unknown) => e instanceof JournalError && /cannot connect/.test(e.message),
          url,
        );
    } finally {
      await tls.stop();
    }
  });
});

describe('JetStream journal store (single server)', { timeout: 180_000 }, async () => {
  const missing = await singleServerMissing();
  if (missing) {
    test('jetstream: skipped', { skip: `no NATS server: ${missing}` }, () => {});
    return;
  }
  let servers = '';
  const streams: string[] = [];
  const fresh = (prefix = 'rfj') => {
    const s = uniqueStream(prefix);
    streams.push(s);
    return `nats://${servers}/${s}`;
  };
  before(async () => {
    servers = await singleServer();
  });
  after(async () => {
    for (const s of streams) await deleteJournalStream(servers, s);
  });

  test('a batch is one message, a larger one is split in order; appends made before the last resolved resolve in order', {
    timeout: 30_000,
  }, async () => {
    const store = await JetStreamJournalStore.open(fresh(), { maxMessageBytes: 64 * 1024 });
    try {
      const info = await (await jetstreamManager(store.nc)).streams.info(store.stream);
      assert.equal(info.config.description, JETSTREAM_FORMAT);
      assert.deepEqual(info.config.subjects, [store.subject]);
      assert.equal(info.config.discard, 'new');
      assert.equal(info.config.storage, 'file');
      await store.append(recs(1, 100));
      const jsm = await jetstreamManager(store.nc);
      assert.equal((await jsm.streams.info(store.stream)).state.messages, 1, 'one batch, one message');
      // 2,000 records of ~150 bytes do not fit 64 KiB: consecutive messages, read back as one run.
      await store.append(recs(101, 2_100, 40));
      const n = (await jsm.streams.info(store.stream)).state.messages;
      assert.ok(n > 4, `split into ${n - 1} messages`);
      const order: number[] = [];
      const pending = [2_101, 2_201, 2_301].map((from) =>
        store.append(recs(from, from + 99)).then(() => order.push(from)),
      );
      await Promise.all(pending);
      assert.deepEqual(order, [2_101, 2_201, 2_301]);
      const all = await collect(store, 1);
      assert.equal(all.length, 2_400);
      assert.ok(all.every((r, i) => r.seq === i + 1));
      assert.deepEqual(Buffer.from(all[1_500]!.command), Buffer.from(rec(1_501, 40).command));
      assert.equal(all[1_500]!.checksum, rec(1_501, 40).checksum);
      // A read from the middle of a split batch starts at that record.
      assert.deepEqual(
        (await collect(store, 1_234)).slice(0, 2).map((r) => r.seq),
        [1_234, 1_235],
      );
      assert.equal(await store.firstSeq(), 1);
      assert.equal(await store.lastSeq(), 2_400);
    } finally {
      await store.close();
    }
  });

  test('a reader creates nothing and writes nothing; a stream that is not a journal is refused', {
    timeout: 30_000,
  }, async () => {
    const url = fresh();
    const stream = parseNatsUrl(url).stream;
    await assert.rejects(
      openJournalStore(url, { readonly: true }),
      (e: unknown) => e instanceof JournalError && e.kind === 'format' && /no such stream/.test(e.message),
    );
    const w = await JetStreamJournalStore.open(url);
    const jsm = await jetstreamManager(w.nc);
    try {
      const names: string[] = [];
      for await (const n of jsm.streams.names()) names.push(n);
      assert.ok(names.includes(stream));
      await w.append(recs(1, 10));
      const r = (await openJournalStore(url, { readonly: true })) as JetStreamJournalStore;
      assert.equal(r.kind, 'jetstream');
      assert.equal(await r.lastSeq(), 10);
      await assert.rejects(r.append(recs(11, 11)), /read-only/);
      await assert.rejects(r.truncateAfter(5), /read-only/);
      await r.close();
      // Not a journal: a stream of someone else's.
      const other = uniqueStream('foreign');
      streams.push(other);
      await jsm.streams.add({ name: other, subjects: [`foreign.${other}`] });
      await assert.rejects(
        openJournalStore(`nats://${servers}/${other}`),
        (e: unknown) => e instanceof JournalError && /not a ringfence journal/.test(e.message),
      );
      await assert.rejects(
        openJournalStore('nats://127.0.0.1:1/x', { jetstream: { timeoutMs: 1_000 } }),
        (e: unknown) => e instanceof JournalError && e.kind === 'format' && /cannot connect/.test(e.message),
      );
    } finally {
      await w.close();
    }
  });

  test('a cut: whole batches and the tail of a straddling one go; a cut interrupted before its deletes reads as done, and the next writer finishes it', {
    timeout: 30_000,
  }, async () => {
    const url = fresh();
    const w = await JetStreamJournalStore.open(url);
    const jsm = await jetstreamManager(w.nc);
    const messages = async () => (await jsm.streams.info(w.stream)).state.messages;
    try {
      for (const from of [1, 26, 51, 76]) await w.append(recs(from, from + 24));
      // At a batch boundary: the two later batches go, a cut message without records stays (the fence moved).
      assert.equal(await w.truncateAfter(50), 50);
      assert.equal(await w.lastSeq(), 50);
      assert.equal(await messages(), 3);
      await w.append(recs(51, 60));
      // Inside a batch: 51..55 are written again as the cut message, 56..60 go.
      assert.equal(await w.truncateAfter(55), 5);
      assert.deepEqual(
        (await collect(w, 40)).map((r) => r.seq),
        Array.from({ length: 16 }, (_, i) => 40 + i),
      );
      // Interrupted: a cut after 30 written (keeping 26..30 of the batch 26..50, stream message 2), nothing deleted.
      const info = await jsm.streams.info(w.stream);
      const kept = encodeBatches(recs(26, 30), 1 << 20)[0]!;
      const h = natsHeaders();
      h.set(H_FIRST, '26');
      h.set(H_LAST, '30');
      h.set(H_CUT, '2');
      await jetstream(w.nc).publish(w.subject, kept.payload, {
        headers: h,
        expect: { lastSequence: info.state.last_seq },
      });
      const r = await JetStreamJournalStore.open(url, { readonly: true });
      try {
        assert.equal(await r.lastSeq(), 30);
        assert.equal(await r.firstSeq(), 1);
        assert.deepEqual(
          (await collect(r, 1)).map((x) => x.seq),
          Array.from({ length: 30 }, (_, i) => i + 1),
        );
        assert.deepEqual(
          (await collect(r, 28)).map((x) => x.seq),
          [28, 29, 30],
        );
      } finally {
        await r.close();
      }
      await assert.rejects(
        w.append(recs(56, 56)),
        JournalFencedError,
        'the interrupted cut fenced the old writer',
      );
      const next = await JetStreamJournalStore.open(url);
      try {
        assert.equal(await messages(), 2, 'the next writer deleted what the cut superseded');
        assert.equal(await next.lastSeq(), 30);
        await next.append(recs(31, 40));
        assert.deepEqual(
          (await collect(next, 1)).map((x) => x.seq),
          Array.from({ length: 40 }, (_, i) => i + 1),
        );
        // Everything: an empty journal that starts again at 1.
        assert.equal(await next.truncateAfter(0), 40);
        assert.equal(await next.lastSeq(), 0);
        assert.equal(await next.firstSeq(), 0);
        assert.deepEqual(await collect(next, 1), []);
        await next.append(recs(1, 3));
        assert.deepEqual(
          (await collect(next, 1)).map((x) => x.seq),
          [1, 2, 3],
        );
      } finally {
        await next.close();
      }
    } finally {
      await w.close();
    }
  });

  test('a second writer fences the first out: its append is refused by the server and nothing of it is stored', {
    timeout: 30_000,
  }, async () => {
    const url = fresh();
    const a = await JetStreamJournalStore.open(url);
    await a.append(recs(1, 10));
    const b = await JetStreamJournalStore.open(url);
    try {
      await b.append(recs(11, 20));
      await assert.rejects(a.append(recs(11, 15)), (e: unknown) => {
        assert.ok(e instanceof JournalFencedError, String(e));
        assert.equal(e.expectedLastSequence, 1);
        assert.match(e.message, /written by another writer .*wrong last sequence: 2/);
        return true;
      });
      // Fenced for good, cuts included.
      await assert.rejects(a.append(recs(21, 21)), JournalFencedError);
      await assert.rejects(a.truncateAfter(3), JournalFencedError);
      await b.append(recs(21, 22));
      assert.deepEqual(
        (await collect(b, 1)).map((r) => r.seq),
        Array.from({ length: 22 }, (_, i) => i + 1),
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a retried publish whose first attempt was stored (its answer lost) is stored once', {
    timeout: 30_000,
  }, async () => {
    const store = await JetStreamJournalStore.open(fresh());
    try {
      await store.append(recs(1, 5));
      // The store's first attempt of 6..9 reached the stream but its acknowledgement never came back: what the
      // server holds is that message, with the id the store gives it.
      const jsm = await jetstreamManager(store.nc);
      const expected = (await jsm.streams.info(store.stream)).state.last_seq;
      const batch = encodeBatches(recs(6, 9), 1 << 20)[0]!;
      const h = natsHeaders();
      h.set(H_FIRST, '6');
      h.set(H_LAST, '9');
      const first = await jetstream(store.nc).publish(store.subject, batch.payload, {
        headers: h,
        msgID: batchMessageId(store.instance, 6, expected, batch.payload),
        expect: { lastSequence: expected },
      });
      assert.equal(first.duplicate, false);
      // The retry: same batch, same id, same fence.
      await store.append(recs(6, 9));
      const st = (await jsm.streams.info(store.stream)).state;
      assert.equal(st.messages, 2, 'the retry was de-duplicated, not stored twice');
      assert.deepEqual(
        (await collect(store, 1)).map((r) => r.seq),
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
      await store.append(recs(10, 10));
      assert.equal(await store.lastSeq(), 10);
    } finally {
      await store.close();
    }
  });

  test('pipelined appends go before the earlier ones are answered and are stored once each, in order; a lost publish is not a fence, another writer is', {
    timeout: 60_000,
  }, async () => {
    const url = fresh();
    const lost = new Map<number, 'lose-request' | 'lose-answer'>([
      [21, 'lose-request'], // never reaches the server: the batches sent after it fail their fence, unstored
      [71, 'lose-answer'], // stored, its answer lost: the retry is de-duplicated
    ]);
    const store = await JetStreamJournalStore.open(url, {
      pipeline: 8,
      faults: { firstAttempt: (first) => lost.get(first) ?? null },
    });
    const b = await JetStreamJournalStore.open(url).catch(() => null);
    try {
      const jsm = await jetstreamManager(store.nc);
      const order: number[] = [];
      const round = (from: number) =>
        Promise.all(
          [0, 1, 2, 3, 4].map((i) =>
            store.append(recs(from + 10 * i, from + 10 * i + 9)).then(() => order.push(i)),
          ),
        );
      await round(1);
      // All five were sent at once; the lost one (21..30) and the two sent after it were published again.
      assert.deepEqual(store.pipelineStats, { sentAhead: 5, resent: 3 });
      await round(51);
      // 71..80's first attempt was stored: only it is published again (a duplicate); 81..100 were stored after it.
      assert.deepEqual(store.pipelineStats, { sentAhead: 10, resent: 4 });
      assert.deepEqual(order, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4], 'appends resolve in call order');
      assert.equal((await jsm.streams.info(store.stream)).state.messages, 10, 'each batch stored once');
      assert.deepEqual(
        (await collect(store, 1)).map((r) => r.seq),
        Array.from({ length: 100 }, (_, i) => i + 1),
      );

      // Another writer appends: this writer's batches sent ahead are refused, and so is each one's retry.
      assert.ok(b);
      await b.adoptTail();
      await b.append(recs(101, 105));
      const refused = [0, 1, 2].map((i) => store.append(recs(101 + 10 * i, 110 + 10 * i)));
      await assert.rejects(refused[0]!, JournalFencedError);
      for (const p of refused.slice(1)) await assert.rejects(p, JournalFencedError);
      assert.deepEqual(
        (await collect(b, 99)).map((r) => r.seq),
        [99, 100, 101, 102, 103, 104, 105],
        'nothing of the fenced writer stored',
      );
    } finally {
      await store.close();
      await b?.close();
    }
  });

  test('ringfence journal verify nats://… replays a journal the engine wrote, hashes and snapshots checked; a missing stream exits 2 and is not created', {
    timeout: 120_000,
  }, async () => {
    const url = fresh();
    const live = await fillStore(await openJournalStore(url), 3_000, {
      hashEvery: 250,
      snapshotEvery: 1_000,
      burst: 64,
    });
    assert.equal(live.journal.stats.snapshotErrors, 0);
    const r = await runCli(['journal', 'verify', url]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^journal +${url.replace(/[/.?]/g, '\\$&')}$`, 'm'));
    assert.match(r.out, new RegExp(`^seq +${live.seq}$`, 'm'));
    assert.match(r.out, new RegExp(`^state hash +${live.hash}$`, 'm'));
    assert.match(
      r.out,
      new RegExp(`^hashes +${Math.floor(live.seq / 250)} recorded state hashes checked, all match$`, 'm'),
    );
    const snaps = Math.floor(live.seq / 1_000);
    assert.ok(snaps >= 2);
    assert.match(
      r.out,
      new RegExp(`^snapshots +${snaps} stored; ${snaps} checked against the replay, all match$`, 'm'),
    );
    assert.match(r.out, /^tail +intact$/m);
    const j = JSON.parse((await runCli(['journal', 'verify', url, '--json', '--from-snapshot'])).out);
    assert.equal(j.stateHash, live.hash);
    assert.equal(j.snapshots.restored, Math.floor(live.seq / 1_000) * 1_000);

    const none = fresh();
    const m = await runCli(['journal', 'verify', none]);
    assert.equal(m.code, 2);
    assert.match(m.err, /no such stream/);
    const ro = await openJournalStore(url, { readonly: true });
    const jsm = await jetstreamManager((ro as JetStreamJournalStore).nc);
    await assert.rejects(jsm.streams.info(parseNatsUrl(none).stream), /stream not found/);
    await ro.close();
  });

  test('the service on a JetStream journal: orders, a restart, the same state; the health read names the store', {
    timeout: 60_000,
  }, async () => {
    const url = fresh('rfsvc');
    const a = await Harness.open({ journalUrl: url });
    let hash: string;
    let seq: number;
    try {
      await a.setupMarket();
      await a.ok('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'sell',
        type: 'limit',
        price: '60000',
        amount: '0.5',
      });
      await a.ok('POST', '/api/v1/orders', 'bob', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '60000',
        amount: '0.2',
      });
      const health = await a.ok<{ store: string; committedSeq: number }>(
        'GET',
        '/api/v1/admin/journal',
        'admin',
      );
      assert.equal(health.store, 'jetstream');
      hash = a.hash();
      seq = a.service.engine.seq;
      assert.equal(health.committedSeq, seq);
    } finally {
      await a.cleanup();
    }
    const b = await Harness.open({ journalUrl: url });
    try {
      assert.equal(b.service.engine.seq, seq);
      assert.equal(b.hash(), hash, 'recovered from JetStream to the same state');
      const pos = (await b.ok<PositionJson[]>('GET', '/api/v1/positions', 'bob'))[0]!;
      assert.equal(pos.contracts, '0.2');
    } finally {
      await b.cleanup();
    }
    const store = await openJournalStore(url, { readonly: true });
    try {
      assert.equal((await recover(store, { repair: false })).stateHash, hash);
    } finally {
      await store.close();
    }
  });
});
