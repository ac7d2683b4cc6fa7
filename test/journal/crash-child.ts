/**
 * The process the crash test kills: `node --import tsx test/journal/crash-child.ts <dbpath|postgres-url> <seed>`
 * (or the same compiled to JavaScript, which starts four times faster: see crash.test.ts).
 *
 * Recovers the journal at <dbpath> or <postgres-url> (creating it on the first run, cutting a torn tail if any,
 * starting from its newest snapshot), prints
 * `recovered <seq> <stateHash> <clean|cut>`, then runs the seeded random command stream (test/journal/stream.ts)
 * through the Journal for ever, in bursts of 1–200 commands, sometimes with a short pause (batches are capped at
 * 16, 64 or 4096 by seed, so both the size bound and the end-of-turn flush commit; snapshots never, every 97 or
 * every 400 commands, so kills land before, during and after snapshot saves), and prints `ack <seq>` for every accepted command
 * as its promise resolves (i.e. once it is durable). Killed with SIGKILL at a random
 * moment by the parent. Stdout to a pipe is synchronous on Linux, so a printed ack was really acknowledged.
 * The stream resumes from the recovered state: its seed is mixed with the recovered seq.
 */
import { Journal } from '../../src/journal/journal.ts';
import { openJournalStore } from '../../src/journal/open.ts';
import { CommandStream, mixSeed, Rng, setupCommands } from './stream.ts';

const [path, seedArg] = process.argv.slice(2);
if (!path || !seedArg) {
  process.stderr.write('usage: crash-child.ts <dbpath|postgres-url> <seed>\n');
  process.exit(2);
}
const seed = Number(seedArg);

// Small batches commit at the size bound mid-burst; large ones only at the end of the turn.
const maxBatch = [16, 64, 4096][seed % 3]!;
const snapshotEvery = [0, 97, 400][Math.floor(seed / 3) % 3]!;
const { journal, report } = await Journal.open(await openJournalStore(path), {
  hashEvery: 64,
  maxBatch,
  snapshotEvery,
  keepSnapshots: 2,
});
const e = journal.engine;
process.stdout.write(`recovered ${report.lastSeq} ${report.stateHash} ${report.cut ? 'cut' : 'clean'}\n`);

const die = (err: unknown) => {
  process.stderr.write(`crash-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(3);
};
// Each ack is printed as its promise resolves (a synchronous write to the pipe).
const acked = (r: Awaited<ReturnType<Journal['submit']>>) => {
  if (r.ok) process.stdout.write(`ack ${r.seq}\n`);
};

if (report.lastSeq === 0) {
  let last: Promise<unknown> = Promise.resolve();
  for (const c of setupCommands()) last = journal.submit(c).then(acked, die);
  await last;
}
const stream = new CommandStream(mixSeed(seed, e.seq));
const rng = new Rng(mixSeed(seed ^ 0x5bd1e995, e.seq));
for (;;) {
  const burst = 1 + rng.below(200);
  let last: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < burst; i++) last = journal.submit(stream.next(e)).then(acked, die);
  await last;
  // Vary the rhythm: mostly the next burst follows at once (so a kill often lands mid-burst, between commits),
  // sometimes after a pause.
  if (rng.below(5) === 0) await new Promise((resolve) => setTimeout(resolve, rng.below(20)));
}
