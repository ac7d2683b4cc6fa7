/**
 * Child-process entry of parallel.ts: keeps the prepared input it is sent once, runs the policies it is then sent,
 * reporting progress; exits when disconnected.
 */
import { deserialize } from 'node:v8';
import { type PolicyResult, runPolicy } from './runner.ts';
import type { PreparedSimulation } from './simulate.ts';

/**
 * The prepared input first (once per process: it is the large part; `bytes` is v8.serialize(PreparedSimulation)),
 * then one request per policy to run.
 */
export type WorkerRequest = { type: 'prep'; bytes: Uint8Array } | { type: 'run'; policy: number };

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'progress'; policy: number; points: number }
  /** `maxRssKiB`: the process's peak resident memory so far (what a run costs, reported by the caller). */
  | { type: 'result'; policy: number; result: PolicyResult; maxRssKiB: number }
  | { type: 'error'; message: string };

const send = (m: WorkerReply) => process.send?.(m);

if (process.send) {
  let prep: PreparedSimulation | null = null;
  process.on('message', (req: WorkerRequest) => {
    try {
      if (req.type === 'prep') {
        prep = deserialize(req.bytes) as PreparedSimulation;
        return;
      }
      if (prep === null) throw new Error('bug: a policy to run before the prepared input');
      const p = prep;
      const result = runPolicy(p, p.policies[req.policy]!, {
        progressEvery: 500,
        onProgress: (points) => send({ type: 'progress', policy: req.policy, points }),
      });
      send({ type: 'result', policy: req.policy, result, maxRssKiB: process.resourceUsage().maxRSS });
    } catch (e) {
      send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}
