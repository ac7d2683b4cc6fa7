/** Child-process entry of parallel.ts: runs the policies it is sent, reporting progress; exits when disconnected. */
import { type PolicyResult, runPolicy } from './runner.ts';
import type { PreparedSimulation } from './simulate.ts';

export interface WorkerRequest {
  prep: PreparedSimulation;
  policy: number;
}

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'progress'; policy: number; points: number }
  | { type: 'result'; policy: number; result: PolicyResult }
  | { type: 'error'; message: string };

const send = (m: WorkerReply) => process.send?.(m);

if (process.send) {
  process.on('message', (req: WorkerRequest) => {
    try {
      const result = runPolicy(req.prep, req.prep.policies[req.policy]!, {
        progressEvery: 500,
        onProgress: (points) => send({ type: 'progress', policy: req.policy, points }),
      });
      send({ type: 'result', policy: req.policy, result });
    } catch (e) {
      send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}
