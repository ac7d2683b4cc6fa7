#!/usr/bin/env node
// Entry point of the `ringfence` executable: runs the compiled CLI (built by `npm ci` via `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// A reader that closes early (`| head`) is not an error of ours.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const compiled = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(compiled)) {
  process.stderr.write('ringfence: not built yet; run `npm ci` (or `npm run build`) first\n');
  process.exit(2);
}
try {
  const { main } = await import(compiled);
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  // Input errors are handled inside each command; anything here is a bug: one line, and the stack only on request.
  process.stderr.write(`ringfence: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  if (process.env.RINGFENCE_DEBUG) process.stderr.write(`${e instanceof Error ? e.stack : ''}\n`);
  process.exitCode = 1;
}
