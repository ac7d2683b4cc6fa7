/**
 * The `ringfence` command line. Each subcommand lives in its own module; this file only wires them.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { type CliIO, runCalc } from './calc.ts';
import { runDemo } from './demo.ts';

export const defaultIO: CliIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  readStdin: () => readFileSync(0, 'utf8'),
};

export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let code = 0;
  const program = new Command('ringfence')
    .description('ringfence: isolated-margin clearing and risk engine')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  program
    .command('calc')
    .description('what-if margin calculator: JSON scenario on stdin or --file')
    .option('-f, --file <path>', 'read the scenario from a file instead of stdin')
    .option('--json', 'print the result as JSON')
    .action((opts: { file?: string; json?: boolean }) => {
      code = runCalc(opts, io);
    });
  program
    .command('demo')
    .description('the default job (`npm start`): worked examples through the calculator')
    .action(() => {
      code = runDemo(io);
    });
  program
    .command('journal')
    .description('the durable command journal')
    .command('verify')
    .description('rebuild the state from a SQLite journal; print the final seq and state hash')
    .argument('<path>', 'journal file')
    .option('--json', 'print the result as JSON')
    .action(async (path: string, opts: { json?: boolean }) => {
      // Imported on use: only this command needs the native SQLite binding.
      const { runJournalVerify } = await import('./journal.ts');
      code = await runJournalVerify(path, opts, io);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  return code;
}
