/**
 * Runs the policies of a simulation in child processes, one policy at a time per process, and returns the results in
 * policy order. Each run is a pure function of the prepared input and its policy, so the results are the same as in
 * one process.
 *
 * Processes, not worker threads: on the 2-vCPU machines this project runs on, two worker threads of one process ran
 * no faster than one thread (measured: 2 × 30k traders over 15,000 minutes, 21.1 s sequential vs 21.5 s in two
 * workers), while two processes do about 1.4× the work of one.
 *
 * Under tsx (tests, benches) the child runs the TypeScript module through tsx; from the compiled CLI it is worker.js
 * next to this file. Messages use the structured-clone serialization (bigints and typed arrays pass as they are).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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

function startChild(traders: number): ChildProcess {
  const self = import.meta.url;
  const ts = self.endsWith('.ts');
  const entry = fileURLToPath(new URL(ts ? './worker.ts' : './worker.js', self));
  return fork(entry, [], {
    // tsx resolved from here, not from the current directory (a run started elsewhere would not find it).
    execArgv: [
      ...(ts ? ['--import', import.meta.resolve('tsx')] : []),
      `--max-old-space-size=${heapLimitMb(traders)}`,
    ],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

export function runInWorkers(
  prep: PreparedSimulation,
  workers: number,
  onProgress?: (done: number) => void,
): Promise<PolicyResult[]> {
  const results: (PolicyResult | undefined)[] = new Array(prep.policies.length);
  const done = new Array<number>(prep.policies.length).fill(0);
  let next = 0;
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
      const i = next++;
      const req: WorkerRequest = { prep, policy: i };
      c.send(req);
    };
    for (let k = 0; k < workers; k++) {
      const c = startChild(prep.population.traders.length);
      pool.push(c);
      live++;
      c.on('message', (msg: WorkerReply) => {
        if (msg.type === 'ready') feed(c);
        else if (msg.type === 'progress') {
          done[msg.policy] = msg.points;
          onProgress?.(done.reduce((a, b) => a + b, 0));
        } else if (msg.type === 'result') {
          results[msg.policy] = msg.result;
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
