/**
 * Cross-shard transfers survive a shard leader SIGKILLed mid-transfer (issue 25). Two shards, `btc` (BTC*) and `eth`
 * (ETH*), each a JetStream stream with a leader and a hot standby (`ringfence serve` children, 1 s lease), and the
 * product's coordinator over the product's HTTP port (the router's) with each shard's two URLs. Alice holds 10,000
 * USDT on each shard and moves 1,000 from btc to eth three times:
 * 1. btc's leader is killed right after the hold (phase 1 done, nothing else);
 * 2. eth's leader is killed while the credit is on its way (phase 2 in flight: it may or may not have landed);
 * 3. btc's leader is killed after the credit, before the settle (phase 3).
 * Each time the coordinator's passes fail until the standby takes over, then finish the transfer. At the end alice
 * has exactly 7,000 on btc and 13,000 on eth — each transfer credited once — and both streams replayed from seq 1
 * satisfy the venue-wide checks: nothing held, nothing in flight, every settle matched by its credit.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signedHeaders } from '../../src/service/auth.ts';
import {
  type ShardPort,
  TransferCoordinator,
  type TransferView,
} from '../../src/service/shard/coordinator.ts';
import { HttpShardPort } from '../../src/service/shard/http-port.ts';
import { BTCUSDT, ETHUSDT } from '../engine/harness.ts';
import { venueProblems } from '../engine/shard-kit.ts';
import { deleteJournalStream, natsMissing, singleServer, uniqueStream } from '../journal/nats-cluster.ts';
import {
  call,
  health,
  killAll,
  replayStream,
  type Serve,
  sleep,
  startServe,
  stopServe,
  waitFor,
  writeConfig,
} from './ha-kit.ts';
import { KEYS, nextTs } from './helpers.ts';

const skip = natsMissing() ?? false;

interface ShardProcs {
  name: string;
  markets: string[];
  url: string;
  config: string;
  procs: Serve[];
  started: number;
}

const leads = (s: Serve) => async () => (await health(s.url))?.role === 'leader';
const follows = (s: Serve) => async () => {
  const h = await health(s.url);
  return h !== null && h.status === 'ok' && h.role !== 'leader' && h.leader !== null && h.lag < 100;
};

describe('cross-shard transfers: a shard leader SIGKILLed mid-transfer', { skip }, () => {
  let servers = '';
  let dir = '';
  const shards: ShardProcs[] = [];
  const timings: string[] = [];

  const leaderOf = async (s: ShardProcs): Promise<Serve> => {
    for (const p of s.procs) if (p.proc.exitCode === null && (await leads(p)())) return p;
    throw new Error(`${s.name}: no leader`);
  };
  const startStandby = async (s: ShardProcs): Promise<Serve> => {
    const p = await startServe(`${s.name}-${++s.started}`, s.config, s.url, 'standby');
    s.procs.push(p);
    await waitFor(follows(p), 30_000, `${p.name} to follow`, p);
    return p;
  };
  /** The shard's live processes' URLs, leader first (as a router is configured). */
  const portOf = (s: ShardProcs): HttpShardPort =>
    new HttpShardPort(
      { name: s.name, urls: s.procs.map((p) => p.url), markets: s.markets },
      { key: KEYS.admin.key, secret: KEYS.admin.secret },
      3_000,
    );
  const signedAlice = async (base: string, method: string, path: string, body?: object) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const r = await fetch(base + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...signedHeaders(KEYS.alice.key, KEYS.alice.secret, method, path, text, nextTs()),
      },
      ...(body === undefined ? {} : { body: text }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const freeUsdt = async (s: ShardProcs) => {
    const r = await signedAlice((await leaderOf(s)).url, 'GET', '/api/v1/balance');
    return (r.json.free as Record<string, string>).USDT;
  };
  const hold = async (transferId: string) => {
    const r = await signedAlice((await leaderOf(shards[0]!)).url, 'POST', '/api/v1/transfers', {
      transferId,
      fromShard: 'btc',
      toShard: 'eth',
      asset: 'USDT',
      amount: '1000',
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.status, 'held', JSON.stringify(r.json));
  };
  /** Coordinator passes (new ports each time: the live processes) until `id` is finished; how long it took. */
  const finishEventually = async (id: string, ports: () => ShardPort[]): Promise<TransferView> => {
    const t0 = performance.now();
    const end = Date.now() + 30_000;
    for (;;) {
      const r = await new TransferCoordinator(ports()).resume();
      const done = r.finished.find((t) => t.transferId === id);
      if (done) {
        timings.push(`${id}: finished ${Math.round(performance.now() - t0)} ms after the kill`);
        return done;
      }
      if (Date.now() > end) throw new Error(`${id} not finished in 30 s: ${JSON.stringify(r.pending)}`);
      await sleep(100);
    }
  };

  before(async () => {
    servers = await singleServer();
    dir = mkdtempSync(join(tmpdir(), 'rf-shard-failover-'));
    for (const [name, markets, market] of [
      ['btc', ['BTC*'], BTCUSDT],
      ['eth', ['ETH*'], ETHUSDT],
    ] as const) {
      // One directory per shard: writeConfig writes its ringfence.json there.
      const own = join(dir, name);
      mkdirSync(own);
      const s: ShardProcs = {
        name,
        markets: [...markets],
        url: `nats://${servers}/${uniqueStream(`rfshard_${name}`)}`,
        config: writeConfig(own, { keys: [KEYS.admin, KEYS.alice], shard: { name, markets } }),
        procs: [],
        started: 0,
      };
      const leader = await startServe(`${name}-${++s.started}`, s.config, s.url, 'leader');
      s.procs.push(leader);
      await waitFor(leads(leader), 30_000, `${leader.name} to lead`, leader);
      await startStandby(s);
      for (const [path, body] of [
        ['/api/v1/admin/markets', market],
        ['/api/v1/admin/deposit', { account: 'alice', asset: 'USDT', amount: '10000' }],
      ] as const) {
        const r = await call(leader.url, 'POST', path, body);
        assert.equal(r.status, 200, `${name} ${path}: ${JSON.stringify(r.json)}`);
      }
      shards.push(s);
    }
  });

  after(async () => {
    for (const s of shards) for (const p of s.procs) await stopServe(p);
    killAll();
    for (const s of shards) await deleteJournalStream(servers, s.url.split('/').pop()!).catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (timings.length) console.log(`# ${timings.join('; ')}`);
  });

  const [btc, eth] = [() => shards[0]!, () => shards[1]!];
  const livePorts = () => shards.map(portOf);

  test('phase 1: btc’s leader killed right after the hold — its standby takes over and the transfer finishes', {
    timeout: 90_000,
  }, async () => {
    await hold('t1');
    await stopServe(await leaderOf(btc()));
    const t = await finishEventually('t1', livePorts);
    assert.equal(t.status, 'settled', JSON.stringify(t));
    assert.equal(await freeUsdt(eth()), '11000', 'credited once on eth');
    await startStandby(btc());
  });

  test('phase 2: eth’s leader killed while the credit is on its way — credited exactly once', {
    timeout: 90_000,
  }, async () => {
    await hold('t2');
    const victim = await leaderOf(eth());
    // The credit is sent, and the leader killed without waiting for its answer.
    const ports = livePorts();
    const target = ports[1]!;
    const killing: ShardPort = {
      name: target.name,
      transferIn: (x) => {
        const sent = target.transferIn(x);
        void stopServe(victim);
        return sent;
      },
      abort: (x) => target.abort(x),
      settle: (x) => target.settle(x),
      heldOut: () => target.heldOut(),
    };
    await new TransferCoordinator([ports[0]!, killing]).resume().catch(() => {});
    await waitFor(
      async () => victim.proc.exitCode !== null || victim.proc.signalCode !== null,
      15_000,
      'the kill',
    );
    const t = await finishEventually('t2', livePorts);
    assert.equal(t.status, 'settled', JSON.stringify(t));
    assert.equal(await freeUsdt(eth()), '12000', 'credited exactly once on eth');
    await startStandby(eth());
  });

  test('phase 3: btc’s leader killed after the credit, before the settle — the next pass settles it', {
    timeout: 90_000,
  }, async () => {
    await hold('t3');
    const victim = await leaderOf(btc());
    const ports = livePorts();
    const source = ports[0]!;
    const killing: ShardPort = {
      name: source.name,
      transferIn: (x) => source.transferIn(x),
      abort: (x) => source.abort(x),
      settle: async (x) => {
        await stopServe(victim);
        return source.settle(x);
      },
      heldOut: () => source.heldOut(),
    };
    const first = await new TransferCoordinator([killing, ports[1]!]).resume();
    assert.equal(first.finished.length, 0, 'the settle failed with its leader');
    assert.equal(await freeUsdt(eth()), '13000', 'the credit had landed on eth before the kill');
    const t = await finishEventually('t3', livePorts);
    assert.equal(t.status, 'settled', JSON.stringify(t));
    assert.equal(await freeUsdt(eth()), '13000', 'credited once on eth');
    assert.equal(await freeUsdt(btc()), '7000', 'three transfers left btc');
  });

  test('both streams replayed from seq 1: nothing held or in flight, every settle matched by its credit', {
    timeout: 60_000,
  }, async () => {
    const replayed = [];
    for (const s of shards) replayed.push({ name: s.name, e: (await replayStream(s.url)).report.engine });
    assert.deepEqual(venueProblems(replayed), [], 'the venue-wide checks on the journals');
    for (const r of replayed) assert.equal(r.e.shardTransfers.held.size, 0, `${r.name}: nothing held`);
    const credited = [...replayed[1]!.e.shardTransfers.in.values()].map((t) => [t.id, t.status]);
    assert.deepEqual(
      credited,
      [
        ['t1', 'credited'],
        ['t2', 'credited'],
        ['t3', 'credited'],
      ],
      'eth credited each once',
    );
  });
});
