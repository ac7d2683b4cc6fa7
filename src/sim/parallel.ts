/**
 * Runs the policies of a simulation in child processes, one policy at a time per process, and returns the results in
 * policy order. Each run is a pure function of the prepared input and its policy, so the results are the same as in
 * one process.
 *
 * Processes, not worker threads: on the 2-vCPU machines this project runs on, two worker threads of one process ran
 * no faster than one thread (measured: 2 × 30k traders over 15,000 minutes, 21.1 s sequential vs 21.5 s in two
 * workers). Two processes are faster, though by less than their count: one process already keeps the second core
 * ~20% busy with V8's garbage-collector threads, and two busy processes each run ~1.35× slower than one alone
 * (measured, the demo's 5k traders × 7 policies on an idle machine: 18–21 s in one process, 15–17 s in two).
 *
 * Under tsx (tests, benches) the child runs the TypeScript module through tsx; from the compiled CLI it is worker.js
 * next to this file. Messages use the structured-clone serialization (bigints and typed arrays pass as they are);
 * the prepared input is serialized once (v8.serialize) and each child gets the bytes once, before its first policy.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism, freemem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { serialize } from 'node:v8';
import type { PolicyResult } from './runner.ts';
import type { PreparedSimulation } from './simulate.ts';
import type { WorkerReply, WorkerRequest } from './worker.ts';

/**
 * Old-generation limit per child: a run's live heap is about 80 MiB plus 2 KiB per trader (≈ 280 MiB at 100k);
 * without a limit V8 lets a busy heap grow to several times that before collecting.
 */
function heapLimitMb(traders: number): number {
  return Math.ceil(384 + traders * 0.004);
}

/**
 * Young-generation semi-space per child, MiB (V8's default is 16). A run allocates an engine event, its bigints and
 * its command for every step, and a larger nursery lets more of them die before a scavenge: measured on one policy
 * at 50k traders, 9% less CPU at 32 MiB (about 56 MiB more resident); 64 MiB saved no more and cost 144 MiB.
 */
const SEMI_SPACE_MB = 32;

/** What a child may hold resident, MiB: its old generation, the young one (3 semi-spaces) and ~100 MiB of the rest. */
function childMemoryMb(traders: number): number {
  return heapLimitMb(traders) + 3 * SEMI_SPACE_MB + 100;
}

/**
 * The default number of child processes for `policies` policies of `traders` traders: one per available core
 * (in this process when that is one, or there is one policy), and no more than half the free memory holds.
 */
export function defaultWorkers(policies: number, traders: number): number {
  const byMemory = Math.floor((0.5 * freemem()) / (childMemoryMb(traders) * 2 ** 20));
  return Math.max(1, Math.min(availableParallelism(), policies, byMemory));
}

function startChild(traders: number): ChildProcess {
  const self = import.meta.url;
  const ts = self.endsWith('.ts');
  const entry = fileURLToPath(new URL(ts ? './worker.ts' : './worker.js', self));
  return fork(entry, [], {
    // tsx resolved from here, not from the current directory (a run started elsewhere would not find it).
    execArgv: [
      ...(ts ? ['--import', import.meta.resolve('tsx')] : []),
      `--max-old-space-size=${heapLimitMb(traders)}`,
      `--max-semi-space-size=${SEMI_SPACE_MB}`,
    ],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

export function runInWorkers(
  prep: PreparedSimulation,
  workers: number,
  onProgress?: (done: number) => void,
  /** Filled with each child's peak resident memory, KiB (index = child). */
  peakRssKiB?: number[],
): Promise<PolicyResult[]> {
  const results: (PolicyResult | undefined)[] = new Array(prep.policies.length);
  const done = new Array<number>(prep.policies.length).fill(0);
  let next = 0;
  let bytes: Buffer | null = null;
  let sent = 0;
  return new Promise((resolve, reject) => {
    let live = 0;
    let failed = false;
    const pool: ChildProcess[] = [];
    const retired = new Set<ChildProcess>();
    const finish = (err?: unknown) => {
      if (failed) return;
      if (err !== undefined) {
        failed = true;
        for (const c of pool) c.kill();
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (live === 0 && next >= prep.policies.length) resolve(results as PolicyResult[]);
    };
    const feed = (c: ChildProcess) => {
      if (next >= prep.policies.length) {
        retired.add(c);
        c.disconnect();
        return;
      }
      const req: WorkerRequest = { type: 'run', policy: next++ };
      c.send(req);
    };
    for (let k = 0; k < workers; k++) {
      const c = startChild(prep.population.traders.length);
      pool.push(c);
      live++;
      c.on('message', (msg: WorkerReply) => {
        if (msg.type === 'ready') {
          // The prepared input crosses once per process, serialized once for all of them (its cost is most of the
          // messages' cost: 32 MB and about a second at 100k traders).
          bytes ??= serialize(prep);
          const input: WorkerRequest = { type: 'prep', bytes };
          c.send(input);
          if (++sent === workers) bytes = null; // every child has its copy

          feed(c);
        } else if (msg.type === 'progress') {
          done[msg.policy] = msg.points;
          onProgress?.(done.reduce((a, b) => a + b, 0));
        } else if (msg.type === 'result') {
          results[msg.policy] = msg.result;
          if (peakRssKiB) peakRssKiB[k] = Math.max(peakRssKiB[k] ?? 0, msg.maxRssKiB);
          feed(c);
        } else finish(new Error(msg.message));
      });
      c.on('error', (e) => finish(e));
      c.on('exit', (code, signal) => {
        live--;
        if ((code !== 0 || signal !== null) && !retired.has(c))
          finish(new Error(`simulation process exited with ${signal ?? `code ${code}`}`));
        else finish();
      });
    }
  });
}
