/**
 * `ringfence journal verify <path>`: rebuilds the engine from a SQLite journal and prints the final sequence and
 * state hash, how many records were replayed and state hashes checked, and whether a torn tail was found. It only
 * reads: a torn tail is reported (and left for the service's own recovery to cut), never removed.
 *
 * Exit codes: 0 the journal replays cleanly (a torn tail is normal after a crash: still 0); 1 the journal is
 * damaged (a gap, corruption before valid records, a replay that diverges) — one line naming the seq; 2 the path
 * is not a readable journal — one line.
 */
import { statSync } from 'node:fs';
import { recover } from '../journal/journal.ts';
import { SqliteJournalStore } from '../journal/sqlite.ts';
import { JournalError } from '../journal/store.ts';
import type { CliIO } from './calc.ts';

export interface VerifyOptions {
  json?: boolean;
}

export async function runJournalVerify(path: string, opts: VerifyOptions, io: CliIO): Promise<number> {
  const fail = (code: number, msg: string) => {
    io.stderr(`ringfence journal verify: ${msg}\n`);
    return code;
  };
  try {
    if (!statSync(path).isFile()) return fail(2, `${path}: not a file`);
  } catch (e) {
    return fail(2, `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let store: SqliteJournalStore;
  try {
    store = new SqliteJournalStore(path, { create: false });
  } catch (e) {
    if (e instanceof JournalError) return fail(2, e.message);
    return fail(2, `${path}: cannot open (${(e as Error).message})`);
  }
  try {
    const t0 = process.hrtime.bigint();
    const r = await recover(store, { repair: false });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (opts.json) {
      io.stdout(
        `${JSON.stringify({
          path,
          seq: r.lastSeq,
          stateHash: r.stateHash,
          records: r.records,
          firstSeq: r.firstSeq,
          hashesChecked: r.hashesChecked,
          tail: r.cut
            ? {
                cut: true,
                afterSeq: r.cut.afterSeq,
                firstBadSeq: r.cut.firstBadSeq,
                reason: r.cut.reason,
                records: r.cut.dropped,
              }
            : { cut: false },
          ms: Math.round(ms),
        })}\n`,
      );
    } else {
      const lines: [string, string][] = [
        ['journal', path],
        ['seq', String(r.lastSeq)],
        ['state hash', r.stateHash],
        [
          'records',
          r.records > 0
            ? `${r.records} replayed (seq ${r.firstSeq}..${r.lastSeq}) in ${Math.round(ms)} ms`
            : '0',
        ],
        [
          'hashes',
          `${r.hashesChecked} recorded state hash${r.hashesChecked === 1 ? '' : 'es'} checked, all match`,
        ],
        [
          'tail',
          r.cut
            ? `torn: ${r.cut.dropped} invalid record${r.cut.dropped === 1 ? '' : 's'} after seq ${r.cut.afterSeq} (seq ${r.cut.firstBadSeq}: ${r.cut.reason}); recovery will cut them`
            : 'intact',
        ],
      ];
      io.stdout(lines.map(([k, v]) => `${k.padEnd(10)} ${v}\n`).join(''));
    }
    return 0;
  } catch (e) {
    if (e instanceof JournalError) return fail(e.kind === 'format' ? 2 : 1, e.message);
    if (e instanceof Error && e.name === 'SqliteError') return fail(2, `${path}: ${e.message}`);
    throw e;
  } finally {
    store.close();
  }
}
