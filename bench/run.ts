/**
 * Benchmark harness: `npm run bench -- <name> [args]` runs bench/<name>.ts, whose `run(args)` prints progress
 * and returns its figures; the harness then prints exactly one JSON line `{"bench":"<name>", ...figures}` as
 * the last line of stdout. With no name it lists the benchmarks. An unknown name exits with status 2.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type BenchModule = { run?: (args: string[]) => Promise<Record<string, unknown>> };

const HERE = dirname(fileURLToPath(import.meta.url));
/** Files in bench/ that are not benchmarks. */
const NOT_BENCHES = new Set(['run', 'lib']);
const NAME_RE = /^[a-z0-9][a-z0-9_-]*$/i;

function available(): string[] {
  return readdirSync(HERE)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -3))
    .filter((n) => NAME_RE.test(n) && !NOT_BENCHES.has(n))
    .sort();
}

/** JSON with bigints as decimal strings and non-finite numbers as null. */
function toJsonLine(obj: Record<string, unknown>): string {
  return JSON.stringify(obj, (_k, v) => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number' && !Number.isFinite(v)) return null;
    return v;
  });
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const benches = available();
  if (name === undefined || name === '--list' || name === '-l') {
    process.stdout.write(
      `usage: npm run bench -- <name> [args]\navailable benchmarks:\n${benches.map((b) => `  ${b}`).join('\n')}\n`,
    );
    return 0;
  }
  if (!benches.includes(name)) {
    process.stderr.write(`unknown benchmark "${name}" (available: ${benches.join(', ') || 'none'})\n`);
    return 2;
  }
  const mod = (await import(pathToFileURL(join(HERE, `${name}.ts`)).href)) as BenchModule;
  if (typeof mod.run !== 'function') {
    process.stderr.write(`bench/${name}.ts does not export run(args)\n`);
    return 2;
  }
  process.stdout.write(`# bench ${name} (node ${process.version}, ${process.platform}/${process.arch})\n`);
  const { bench: _ignored, ...figures } = await mod.run(rest);
  process.stdout.write(`${toJsonLine({ bench: name, ...figures })}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    // exitCode rather than exit(): let a piped stdout drain so the JSON line is never cut.
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    // Exit now: a failed bench may leave a worker thread, a server or sockets open, and nothing may hang.
    process.exit(1);
  },
);
