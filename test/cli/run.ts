/** Runs the `ringfence` CLI in-process (src/cli/main.ts) and collects what it printed. */
import { main } from '../../src/cli/main.ts';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** `argv` as after `ringfence`; `stdin` is what the command reads from standard input. */
export async function runCli(argv: readonly string[], stdin = ''): Promise<CliRun> {
  let out = '';
  let err = '';
  const code = await main([...argv], {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    readStdin: () => stdin,
  });
  return { code, out, err };
}
