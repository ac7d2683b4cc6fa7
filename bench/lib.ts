import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Shared helpers for benchmarks: hrtime timing, percentiles, memory and tiny argument parsing (the seeded generator
 * is src/sim/rng.ts).
 * Benchmarks print human-readable lines with `say` and return their figures; the harness prints the JSON line.
 */

/** Monotonic nanoseconds. */
export const nowNs = (): bigint => process.hrtime.bigint();

/** Milliseconds elapsed since `startNs` (from `nowNs`), as a float. */
export const msSince = (startNs: bigint): number => Number(process.hrtime.bigint() - startNs) / 1e6;

/** Runs `fn` once and returns its result and the elapsed wall time in nanoseconds. */
export function timeIt<T>(fn: () => T): { result: T; ns: number } {
  const t0 = process.hrtime.bigint();
  const result = fn();
  return { result, ns: Number(process.hrtime.bigint() - t0) };
}

/** Async variant of `timeIt`. */
export async function timeItAsync<T>(fn: () => Promise<T>): Promise<{ result: T; ns: number }> {
  const t0 = process.hrtime.bigint();
  const result = await fn();
  return { result, ns: Number(process.hrtime.bigint() - t0) };
}

/** Operations per second for `ops` operations that took `ns` nanoseconds. */
export const perSecond = (ops: number, ns: number): number =>
  ns > 0 ? (ops * 1e9) / ns : Number.POSITIVE_INFINITY;

/** Percentile (0..100) of already sorted numbers, nearest-rank with linear interpolation. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (n === 1) return sorted[0]!;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (n - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** Sorts a copy and returns the usual latency summary (same units as the input). */
export function summarize(samples: ArrayLike<number>): {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
} {
  const s = Float64Array.from(samples as ArrayLike<number>).sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    p999: percentile(s, 99.9),
    max: s[s.length - 1] ?? Number.NaN,
    mean: s.length ? sum / s.length : Number.NaN,
  };
}

/** Best and median (interpolated for an even count) of repeated rate measurements. */
export function rateSummary(rates: readonly number[]): { best: number; median: number; all: number[] } {
  const sorted = Float64Array.from(rates).sort();
  return { best: sorted[sorted.length - 1] ?? Number.NaN, median: percentile(sorted, 50), all: [...rates] };
}

/** Peak resident set size of this process so far, in MiB (resourceUsage reports kilobytes). */
export function peakRssMiB(): number {
  return round(process.resourceUsage().maxRSS / 1024, 1);
}

/** Resident memory of a process, KiB, from /proc (0 if it is gone or /proc is not there). */
function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Child pids of a process's main thread, from /proc (empty where the kernel does not list them). */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter((x) => x !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Samples the resident memory of this process and all its descendants together every `everyMs`, keeping the
 * largest sum: the peak the machine had to hold at once (a sum of each process's own peak would overstate it when
 * the peaks do not coincide). Samples run on this process's event loop, so a run that blocks the loop is sampled
 * only around it — use `peakRssMiB` for work in this process.
 */
export function treeRssSampler(everyMs = 100): { stop: () => number } {
  let peak = 0;
  const sample = () => {
    let sum = 0;
    const todo = [process.pid];
    while (todo.length > 0) {
      const pid = todo.pop()!;
      sum += rssKiB(pid);
      todo.push(...childPids(pid));
    }
    if (sum > peak) peak = sum;
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return round(peak / 1024, 1);
    },
  };
}

/** Current memory figures in MiB. */
export function memoryMiB(): { rss: number; heapUsed: number; external: number } {
  const m = process.memoryUsage();
  const mib = (b: number) => round(b / (1024 * 1024), 1);
  return { rss: mib(m.rss), heapUsed: mib(m.heapUsed), external: mib(m.external) };
}

/** Runs a GC first if node was started with --expose-gc (no-op otherwise). */
export function maybeGc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
}

export const round = (x: number, dp = 0): number => {
  const f = 10 ** dp;
  return Math.round(x * f) / f;
};

/** 1234567.8 → "1,234,568". */
export const fmtInt = (x: number): string => Math.round(x).toLocaleString('en-US');

/** Progress/figure line for humans (stdout); never JSON, so the harness's last line stays the only JSON. */
export function say(...parts: unknown[]): void {
  process.stdout.write(`${parts.map(String).join(' ')}\n`);
}

/**
 * Minimal `--key value` / `--key=value` / `--flag` parsing for bench arguments. Unknown keys are the bench's
 * business; numbers accept `1e6` and `1_000_000`.
 */
export function parseArgs(args: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}" (expected --key value)`);
    const eq = a.indexOf('=');
    if (eq > 0) out.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) out.set(a.slice(2), args[++i]!);
    else out.set(a.slice(2), 'true');
  }
  return out;
}

/** Rejects argument keys the bench does not know (a typo should not silently run the defaults). */
export function checkArgs(args: Map<string, string>, known: readonly string[]): void {
  for (const k of args.keys()) {
    if (!known.includes(k))
      throw new Error(`unknown argument --${k} (known: ${known.map((x) => `--${x}`).join(', ')})`);
  }
}

/** A positive integer argument with a default; rejects junk rather than guessing. */
export function intArg(args: Map<string, string>, key: string, dflt: number): number {
  const raw = args.get(key);
  if (raw === undefined) return dflt;
  const v = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(v) || v < 0)
    throw new Error(`--${key} must be a non-negative integer, got "${raw}"`);
  return v;
}

/**
 * A worker thread running the TypeScript module at `moduleUrl` (usually `import.meta.url` of the bench itself,
 * which then checks `isMainThread`). Workers do not inherit the `--import tsx` hook, so the worker registers tsx
 * itself before importing the module.
 */
export function tsWorker(moduleUrl: string | URL, options: WorkerOptions = {}): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  const code =
    `import(${JSON.stringify(api)}).then(({ register }) => { register(); ` +
    `return import(${JSON.stringify(String(moduleUrl))}); });`;
  return new Worker(code, { ...options, eval: true });
}

/** Calls `onLine` with each line a child's stream prints (a last line without a newline included). */
export function eachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (buf.length > 0) onLine(buf);
  });
}

/**
 * Runs `npm run bench -- <name> <args>` in a child process (same node and flags as this one, e.g. `--import tsx`),
 * so the child starts with nothing compiled or allocated by earlier work. Its human lines are echoed with `indent`;
 * resolves to the figures of its last JSON line. The child is killed, and the promise rejected, after `deadlineMs`.
 */
export function benchChild(
  name: string,
  args: readonly string[],
  deadlineMs: number,
  indent = '  ',
): Promise<Record<string, unknown>> {
  const runTs = fileURLToPath(new URL('./run.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, runTs, name, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: deadlineMs,
      killSignal: 'SIGKILL',
    });
    let last = '';
    eachLine(child.stdout, (line) => {
      if (line.startsWith('{')) last = line;
      else if (!line.startsWith('# bench ')) say(`${indent}${line}`);
    });
    child.once('error', reject);
    // 'close' comes after the child's stdout has ended, so its last line has been seen.
    child.once('close', (code, signal) => {
      if (code === 0 && last !== '') resolve(JSON.parse(last) as Record<string, unknown>);
      else
        reject(
          new Error(
            `bench ${name} ${args.join(' ')} failed: ` +
              (signal !== null ? `killed by ${signal} (deadline ${deadlineMs} ms)` : `exit code ${code}`),
          ),
        );
    });
  });
}
