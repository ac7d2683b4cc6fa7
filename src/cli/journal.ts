/**
 * `ringfence journal verify <path|postgres-url|nats-url>`: rebuilds the engine from a journal (a SQLite file, or
 * PostgreSQL or a JetStream stream by URL) and prints the final sequence and state hash, how many records were replayed and state hashes checked,
 * the stored snapshots (each compared with the replayed state at its seq) and whether a torn tail was found. It
 * only reads: a torn tail is reported (and left for the service's own recovery to cut), never removed.
 *
 * By default every record is replayed from seq 1, which checks the whole journal and every snapshot; with
 * `--from-snapshot` it restores the newest usable snapshot and replays only the tail, as the service's recovery
 * does (fast; checks the tail and that snapshot).
 *
 * Exit codes: 0 the journal replays cleanly (a torn tail is normal after a crash: still 0); 1 the journal is
 * damaged (a gap, corruption before valid records, a replay that diverges) — one line naming the seq; 2 the path
 * is not a readable journal — one line.
 */
import { statSync } from 'node:fs';
import { recover } from '../journal/journal.ts';
import { isNatsUrl, isPostgresUrl, openJournalStore } from '../journal/open.ts';
import { redactPgUrl } from '../journal/postgres.ts';
import { redactNatsUrl } from '../journal/redact.ts';
import { JournalError, type JournalStore } from '../journal/store.ts';
import type { CliIO } from './calc.ts';

export interface VerifyOptions {
  json?: boolean;
  /** Start from the newest usable snapshot instead of replaying every record. */
  fromSnapshot?: boolean;
}

export async function runJournalVerify(target: string, opts: VerifyOptions, io: CliIO): Promise<number> {
  const fail = (code: number, msg: string) => {
    io.stderr(`ringfence journal verify: ${msg}\n`);
    return code;
  };
  const pg = isPostgresUrl(target);
  const nats = isNatsUrl(target);
  const path = pg ? redactPgUrl(target) : nats ? redactNatsUrl(target) : target;
  if (!pg && !nats) {
    try {
      if (!statSync(path).isFile()) return fail(2, `${path}: not a file`);
    } catch (e) {
      return fail(2, `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let store: JournalStore;
  try {
    // Read only: nothing is created, upgraded or written (an old-format SQLite file stays as it is; a missing
    // JetStream stream is not created), and PostgreSQL takes no writer lock, so a live journal can be verified
    // while the service writes it.
    store = await openJournalStore(target, { readonly: true });
  } catch (e) {
    if (e instanceof JournalError) return fail(2, e.message);
    return fail(2, `${path}: cannot open (${(e as Error).message})`);
  }
  try {
    const t0 = process.hrtime.bigint();
    const r = await recover(store, { repair: false, snapshots: opts.fromSnapshot === true });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const snapshots = await store.listSnapshots();
    if (opts.json) {
      io.stdout(
        `${JSON.stringify({
          path,
          seq: r.lastSeq,
          stateHash: r.stateHash,
          records: r.records,
          firstSeq: r.firstSeq,
          hashesChecked: r.hashesChecked,
          snapshots: {
            stored: snapshots.map((x) => x.seq),
            restored: r.snapshot?.seq ?? null,
            checked: r.snapshotsChecked,
            skipped: r.skippedSnapshots,
          },
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
        ['snapshots', snapshotLine(snapshots.length, r)],
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
    await store.close();
  }
}

function snapshotLine(stored: number, r: Awaited<ReturnType<typeof recover>>): string {
  if (stored === 0) return 'none';
  const parts = [`${stored} stored`];
  if (r.snapshot)
    parts.push(`started from seq ${r.snapshot.seq} (restored in ${Math.round(r.snapshot.restoreMs)} ms)`);
  if (r.snapshotsChecked > 0) parts.push(`${r.snapshotsChecked} checked against the replay, all match`);
  for (const k of r.skippedSnapshots) parts.push(`seq ${k.seq} unusable (${k.reason}): recovery skips it`);
  return parts.join('; ');
}
