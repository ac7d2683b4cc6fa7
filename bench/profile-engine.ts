/**
 * The matching bench's engine side alone, for a CPU profile (no peer in the same process to share the profile):
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-engine.ts [commands] [reps]
 *
 * Not a benchmark (it prints each rep's rate by wall time and by CPU time); `npm run bench -- matching` is the figure.
 */
import { freshEngine, prepare, runEngine } from './matching.ts';
import { fullGc, generateInWorker } from './matching-book.ts';

const n = Number(process.argv[2] ?? 300_000);
const reps = Number(process.argv[3] ?? 4);
const { stream } = await generateInWorker(n, 1_000, 1);
const prepared = prepare(stream, 1_000);
for (let r = 0; r < reps; r++) {
  fullGc();
  const e = freshEngine(1_000);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  runEngine(e, stream, prepared, null);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1_000;
  // CPU time as well as wall time: on a shared 2-core machine the wall figure moves with whatever else runs.
  console.log(
    `rep ${r + 1}: ${Math.round(n / (ms / 1_000)).toLocaleString('en-US')} commands/s wall, ` +
      `${Math.round(n / (cpuMs / 1_000)).toLocaleString('en-US')} per CPU second`,
  );
}
