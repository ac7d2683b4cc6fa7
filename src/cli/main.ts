/**
 * The `ringfence` command line. Each subcommand lives in its own module; this file only wires them.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { DEFAULT_POLICY_IDS, DYNAMIC_RISK_POLICY_IDS, VAULTS_POLICY_IDS } from '../sim/markets.ts';
import { OPTIONS_POLICY_IDS } from '../sim/options.ts';
import { type CliIO, runCalc } from './calc.ts';
import { runDemo } from './demo.ts';
import { runSimulate, type SimulateCliOptions } from './simulate.ts';

export const defaultIO: CliIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  readStdin: () => readFileSync(0, 'utf8'),
};

interface ServeCliOptions {
  config?: string;
  host?: string;
  port?: string;
  data?: string;
  journal?: string;
  role?: string;
  advertiseUrl?: string;
  demo?: boolean;
  speed?: string;
  traders?: string;
  seed?: string;
  duration?: string;
}

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
  const tty = io === defaultIO && process.stderr.isTTY === true;
  program
    .command('demo')
    .description('the default job (`npm start`): the default simulation on the embedded data')
    .option('--calc', 'the worked isolated-vs-cross examples through the calculator instead')
    .action(async (opts: { calc?: boolean }) => {
      code = await runDemo(io, { calc: opts.calc === true, tty });
    });
  program
    .command('simulate')
    .description('replay a price path through the engine for seeded traders under several policies')
    .option('--data <csv>', 'price file (default: the embedded Bitstamp BTC/USD 1-minute data, January 2025)')
    .option('--format <format>', 'auto, bitstamp (t,o,h,l,c,v), binance (klines) or price (t,price)', 'auto')
    .option('--traders <n>', 'population size', '10000')
    .option('--seed <n>', 'seed of the population and the synthetic markets', '1')
    .option(
      '--policies <list>',
      `comma-separated, or all: ${DEFAULT_POLICY_IDS.join(', ')} (hybrid:<share> sets the opt-in share, 0-1); ` +
        `dynamic-risk: ${DYNAMIC_RISK_POLICY_IDS.join(', ')} (the rebalancing agent, collateral in BTC and volatility-adjusted margin beside what they are compared with); ` +
        `vaults: ${VAULTS_POLICY_IDS.join(', ')} (three vaults with depositors beside isolated); ` +
        `options: ${OPTIONS_POLICY_IDS.join(', ')} (option strategy writers under each silo model)`,
      'all',
    )
    .option('--intrabar <mode>', 'close (a point per bar) or ohlc (open, low/high, high/low, close)', 'close')
    .option('--bars <n>', 'use only the first n rows of the file')
    .option('--insurance <usdt>', 'insurance fund seed (default 0.25% of the planned notional)')
    .option(
      '--workers <n>',
      'run the policies in this many child processes (default: one per core, as memory allows; 1: in this process)',
    )
    .option('--json', 'print the JSON summary instead of the table')
    .option('--report <path>', 'where to write the HTML report', 'reports/simulation.html')
    .option('--no-report', 'do not write the HTML report')
    .option('--credit <text>', "the data source's credit line in the report")
    .option('--progress', 'show a progress bar even when stderr is not a terminal')
    .option('--no-progress', 'never show a progress bar')
    .action(async (opts: SimulateCliOptions) => {
      code = await runSimulate(opts, io, tty);
    });
  program
    .command('journal')
    .description('the durable command journal')
    .command('verify')
    .description(
      'rebuild the state from a journal (SQLite file or postgres:// URL); print the final seq and state hash',
    )
    .argument('<path|postgres-url>', 'journal file, or postgres://…[?schema=name]')
    .option('--json', 'print the result as JSON')
    .option('--from-snapshot', 'start from the newest usable snapshot instead of replaying every record')
    .action(async (path: string, opts: { json?: boolean; fromSnapshot?: boolean }) => {
      // Imported on use: only this command needs the native SQLite binding and the PostgreSQL client.
      const { runJournalVerify } = await import('./journal.ts');
      code = await runJournalVerify(path, opts, io);
    });
  program
    .command('serve')
    .description('run the engine as a service: REST + WebSocket over the journal (see docs/service.md)')
    .option('-c, --config <path>', 'JSON config file (also RINGFENCE_CONFIG)')
    .option('--host <host>', 'listen address (RINGFENCE_HOST)')
    .option('-p, --port <port>', 'listen port (RINGFENCE_PORT)')
    .option('--data <dir>', 'data directory for the SQLite journal (RINGFENCE_DATA)')
    .option('--journal <url>', 'journal: a SQLite path, postgres:// or nats:// URL (RINGFENCE_JOURNAL_URL)')
    .option(
      '--role <role>',
      'nats:// journal: leader (default), standby or replica (ha.role); router: the shard router (docs/sharding.md)',
    )
    .option('--advertise-url <url>', 'nats:// journal: where clients send writes while this process leads')
    .option('--demo', 'a live demo: markets, a price replay, traders and a market maker on a temp journal')
    .option('--speed <n>', 'demo: data minutes per wall second (default 10)')
    .option('--traders <n>', 'demo: simulated traders (default 40)')
    .option('--seed <n>', 'demo: seed of the traders and the synthetic markets (default 1)')
    .option('--duration <seconds>', 'demo: stop after this long (default: run until Ctrl-C)')
    .action(async (opts: ServeCliOptions) => {
      const { demo, speed, traders, seed, duration, ...serve } = opts;
      if (demo) {
        if (serve.config || serve.data || serve.journal || serve.role || serve.advertiseUrl) {
          io.stderr(
            'ringfence serve: --demo runs on a temp journal and its own keys: drop --config, --data, --journal, --role, --advertise-url\n',
          );
          code = 2;
          return;
        }
        // Imported on use, like serve.
        const { runServeDemo } = await import('../service/demo.ts');
        code = await runServeDemo({ ...serve, speed, traders, seed, duration }, io);
        return;
      }
      if ([speed, traders, seed, duration].some((v) => v !== undefined)) {
        io.stderr('ringfence serve: --speed, --traders, --seed and --duration go with --demo\n');
        code = 2;
        return;
      }
      if (serve.role === 'router') {
        // The shard router holds no journal: its config names the shards (docs/sharding.md "Router").
        if (serve.data || serve.journal || serve.advertiseUrl) {
          io.stderr('ringfence serve --role router: no journal: drop --data, --journal, --advertise-url\n');
          code = 2;
          return;
        }
        const { runRouter } = await import('../service/shard/serve-router.ts');
        const { config, host, port } = serve;
        code = await runRouter({ config, host, port }, io);
        return;
      }
      // Imported on use: only this command needs fastify and the native SQLite binding.
      const { runServe } = await import('../service/serve.ts');
      code = await runServe(serve, io);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  return code;
}
