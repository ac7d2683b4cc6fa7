/**
 * `npm start` as a user runs it after `npm ci`: the compiled CLI's default job (`node bin/ringfence.js demo`, the
 * default simulation on the embedded data, its HTML report written), timed from spawn to exit.
 *
 *   npm run bench -- demo [--reps 3] [--deadline 120]
 *
 * Each rep is a fresh process (nothing warm carries over, as for a user), the reps one after another; the figure is
 * the median wall time, with every rep. Baseline
 * in the same run, interleaved: the same CLI starting and exiting (`ringfence demo --help`), what any command pays
 * before it does anything. Needs the build `npm ci` makes (dist/); it does not build.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkArgs, intArg, parseArgs, round, say } from './lib.ts';

const BIN = fileURLToPath(new URL('../bin/ringfence.js', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs `node bin/ringfence.js <args>` to its end; wall seconds, or a rejection naming the exit or the deadline. */
function timed(args: readonly string[], deadlineS: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: deadlineS * 1_000,
      killSignal: 'SIGKILL',
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2_000);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const s = (performance.now() - t0) / 1_000;
      if (code === 0) resolve(s);
      else
        reject(
          new Error(`ringfence ${args.join(' ')}: ${signal ?? `exit ${code}`} after ${round(s, 1)} s ${err}`),
        );
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, ['reps', 'deadline']);
  const reps = Math.max(1, intArg(a, 'reps', 3));
  const deadlineS = Math.max(10, intArg(a, 'deadline', 120));
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm ci` (or `npm run build`) first');
  const demo: number[] = [];
  const start: number[] = [];
  for (let r = 0; r < reps; r++) {
    start.push(await timed(['demo', '--help'], deadlineS));
    demo.push(await timed(['demo'], deadlineS));
    say(
      `  rep ${r + 1}/${reps}: npm start's job ${round(demo[r]!, 2)} s; the CLI starting alone ${round(start[r]!, 2)} s`,
    );
  }
  const demoS = round(median(demo), 2);
  say(
    `npm start (node bin/ringfence.js demo): median ${demoS} s over ${reps} (target ≤ 10 s); the CLI starting alone ${round(median(start), 2)} s`,
  );
  return {
    reps,
    demoS,
    demoRepsS: demo.map((s) => round(s, 2)),
    cliStartS: round(median(start), 2),
  };
}
