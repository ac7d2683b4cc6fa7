/**
 * High availability on JetStream (issue 21): failover time and replica lag, on the product's own processes.
 *
 *   npm run bench -- ha [--cycles 5] [--workers 4] [--lag-seconds 10]
 *
 * A local 3-node NATS cluster (test/journal/nats-cluster.ts), a stream with 3 replicas and a 1 s lease; three
 * `ringfence serve` processes on it: a leader, a standby and a read replica. Order load (the HA test's: signed limit
 * orders from 8 accounts, `--workers` in flight) runs throughout.
 * - Replica lag: every 100 ms for `--lag-seconds`, the leader's and the replica's applied seq read at the same moment
 *   (`/health`); the lag is the difference in records, and the time for the replica to reach a seq the leader had.
 * - Failover: `--cycles` times, the leader is SIGKILLed and the time to the first write acknowledged by the new
 *   leader (a request sent after the kill) is taken; a new standby is started for the next cycle.
 * Takeover time includes the lease's expiry (the 1 s TTL): the figure a client sees.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { natsMissing, startCluster, uniqueStream } from '../test/journal/nats-cluster.ts';
import {
  health,
  killAll,
  Load,
  type Serve,
  setUpVenue,
  sleep,
  startServe,
  stopLoads,
  stopServe,
  waitFor,
  writeConfig,
} from '../test/service/ha-kit.ts';

function flag(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: a number, got ${args[i + 1]}`);
  return v;
}

const leads = (s: Serve) => async () => (await health(s.url))?.role === 'leader';
const follows = (s: Serve) => async () => {
  const h = await health(s.url);
  return h !== null && h.status === 'ok' && h.role !== 'leader' && h.leader !== null && h.lag < 100;
};

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const missing = natsMissing();
  if (missing) throw new Error(missing);
  const cycles = flag(args, 'cycles', 5);
  const workers = flag(args, 'workers', 4);
  const lagSeconds = flag(args, 'lag-seconds', 10);
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-bench-ha-'));
  const cluster = await startCluster(3, 30_000);
  const procs: Serve[] = [];
  try {
    const config = writeConfig(dir);
    const url = cluster.url(uniqueStream('rfbha'), 'replicas=3');
    let leader = await startServe('p1', config, url, 'leader');
    procs.push(leader);
    await waitFor(leads(leader), 15_000, 'p1 to lead', leader);
    await setUpVenue(leader.url);
    let standby = await startServe('p2', config, url, 'standby');
    const replica = await startServe('r1', config, url, 'replica');
    procs.push(standby, replica);
    await waitFor(follows(standby), 20_000, 'the standby to follow');
    await waitFor(follows(replica), 20_000, 'the replica to follow');
    // Writes go to the leader and the standby (which redirects to the leader until it leads itself), as clients with
    // both addresses would.
    const load = new Load(() => [leader.url, standby.url], 'bha');
    load.start(workers);

    // Replica lag under load.
    const behind: number[] = [];
    const catchUp: number[] = [];
    const lagEnd = Date.now() + lagSeconds * 1_000;
    while (Date.now() < lagEnd) {
      const t = Date.now();
      const [a, b] = await Promise.all([health(leader.url), health(replica.url)]);
      if (a && b) {
        behind.push(Math.max(0, a.seq - b.seq));
        // How long until the replica has what the leader had at t.
        const target = a.seq;
        const reached = await waitFor(
          async () => ((await health(replica.url))?.seq ?? 0) >= target,
          5_000,
          'the replica to catch up',
        ).then(() => Date.now() - t);
        catchUp.push(reached);
      }
      await sleep(100);
    }
    const writesPerSecond = load.acks.length / lagSeconds;
    process.stdout.write(
      `replica under ${workers} writers in flight (${Math.round(writesPerSecond)} acknowledged writes/s): ` +
        `${behind.length} samples, records behind p50 ${quantile(behind, 0.5)}, p99 ${quantile(behind, 0.99)}, ` +
        `max ${Math.max(...behind)}; time to reach the leader's seq p50 ${quantile(catchUp, 0.5)} ms, ` +
        `p99 ${quantile(catchUp, 0.99)} ms (includes two /health round trips)\n`,
    );

    // Failover.
    const takeovers: number[] = [];
    for (let c = 1; c <= cycles; c++) {
      const before = load.acks.length;
      await waitFor(() => load.acks.length >= before + 20, 20_000, `cycle ${c}: writes acknowledged`);
      const t0 = Date.now();
      await stopServe(leader, 'SIGKILL');
      const first = await waitFor(
        () => load.acks.find((a) => a.sentAt > t0),
        20_000,
        `cycle ${c}: a write acknowledged after the kill`,
      );
      takeovers.push(first.at - t0);
      process.stdout.write(
        `cycle ${c}: leader SIGKILLed, ${standby.name} acknowledged a write ${first.at - t0} ms later\n`,
      );
      leader = standby;
      standby = await startServe(`p${c + 2}`, config, url, 'standby');
      procs.push(standby);
      await waitFor(follows(standby), 30_000, `cycle ${c}: the new standby to follow`);
    }
    await load.stop();
    process.stdout.write(
      `failover, 1 s lease, R=3: ${cycles} SIGKILLs, takeover p50 ${quantile(takeovers, 0.5)} ms, max ` +
        `${Math.max(...takeovers)} ms; ${load.acks.length} writes acknowledged in all\n`,
    );
    return {
      leaseMs: 1_000,
      replicas: 3,
      cycles,
      takeoverMs: takeovers,
      takeoverP50Ms: quantile(takeovers, 0.5),
      takeoverMaxMs: Math.max(...takeovers),
      replicaLag: {
        writesPerSecond: Math.round(writesPerSecond),
        recordsBehindP50: quantile(behind, 0.5),
        recordsBehindP99: quantile(behind, 0.99),
        catchUpP50Ms: quantile(catchUp, 0.5),
        catchUpP99Ms: quantile(catchUp, 0.99),
      },
    };
  } finally {
    await stopLoads();
    for (const p of procs) await stopServe(p, 'SIGKILL', 5_000).catch(() => {});
    killAll();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
