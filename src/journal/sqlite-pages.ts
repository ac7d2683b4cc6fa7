/**
 * Recovery's read-ahead for a SQLite journal (`SqliteJournalStore.readPagesAhead`): a worker thread opens the file
 * read-only, reads pages of records (`readPages`) and compares each packed record's checksum, a few pages ahead of
 * the engine thread, which then only decodes and applies. A full replay spends about an eighth of its time reading
 * pages and computing CRCs; on a machine with a second core that part now overlaps the engine's.
 *
 * Every record still gets the same checks (codec's checkRecordAt): the thread only answers "matched" for a
 * checksum; a mismatch, and any record the page holds whole, is checked on the engine thread as before. Pages come
 * in seq order; the thread stops `AHEAD` pages in front and waits to be asked for more, so memory stays flat.
 *
 * This module is also the thread's entry point (it runs `serve` when loaded as the page reader).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { recordChecksumAt } from './codec.ts';
import { SqliteJournalStore } from './sqlite.ts';
import { JournalError, type JournalErrorKind, type JournalRecord, type RecordPage } from './store.ts';
import { startModuleWorker } from './thread.ts';

const READER = 'ringfence-sqlite-page-reader';
/** Pages the thread may have sent beyond those the engine thread has taken (each up to 8,192 records, ~1 MB). */
const AHEAD = 3;

/** A page as posted: its typed arrays transferred, its whole records as entries, the checksums' verdicts. */
type PostedPage = Omit<RecordPage, 'whole' | 'checksumOk'> & {
  whole: [number, JournalRecord][];
  checksumOk: Uint8Array;
};
type Message =
  | { type: 'page'; page: PostedPage }
  | { type: 'done' }
  | { type: 'error'; message: string; kind?: JournalErrorKind; seq?: number | null };

/** The records of `path` from `seq` on, as pages read and checksum-compared on a thread of their own. */
export async function* readPagesAhead(path: string, seq: number): AsyncGenerator<RecordPage> {
  const worker = startModuleWorker(import.meta.url, { role: READER, path, seq });
  const queue: Message[] = [];
  let wake: (() => void) | null = null;
  let failure: Error | null = null;
  worker.on('message', (m: Message) => {
    queue.push(m);
    wake?.();
  });
  worker.on('error', (e) => {
    failure ??= e;
    wake?.();
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`journal page reader exited (code ${code})`);
    wake?.();
  });
  try {
    for (;;) {
      while (queue.length === 0) {
        if (failure) throw failure;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
      const m = queue.shift()!;
      if (m.type === 'done') return;
      if (m.type === 'error') {
        throw m.kind ? new JournalError(m.kind, m.seq ?? null, m.message) : new Error(m.message);
      }
      worker.postMessage('more');
      const p = m.page;
      yield { ...p, whole: new Map(p.whole) };
    }
  } finally {
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
}

/** 1 where packed record i's stored checksum is the one its seq and bytes give. */
function checksums(page: RecordPage): Uint8Array {
  const ok = new Uint8Array(page.count);
  const { seqs, checksums, starts, ends, data, whole } = page;
  for (let i = 0; i < page.count; i++) {
    if (whole.has(i)) continue;
    ok[i] = recordChecksumAt(seqs[i]!, data, starts[i]!, ends[i]!, null) === checksums[i]! >>> 0 ? 1 : 0;
  }
  return ok;
}

/**
 * The buffers a page's arrays own outright, moved rather than copied. Not `seqs`: the store's page iterator reads
 * the last one to find the next page, after this one is posted. A shared buffer (a view, a pool) is copied.
 */
function transferable(page: PostedPage): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const moved = [page.times, page.checksums, page.starts, page.ends, page.data, page.checksumOk];
  for (const a of moved) {
    if (!ArrayBuffer.isView(a)) continue;
    const b = a.buffer;
    if (b instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === b.byteLength) out.add(b);
  }
  out.delete(page.seqs instanceof Float64Array ? (page.seqs.buffer as ArrayBuffer) : new ArrayBuffer(0));
  return [...out];
}

/** The reader thread: one read-only connection, pages sent while fewer than AHEAD are untaken. */
function serve(): void {
  const port = parentPort!;
  const { path, seq } = workerData as { path: string; seq: number };
  let pages: Iterator<RecordPage>;
  try {
    pages = new SqliteJournalStore(path, { readonly: true }).readPages(seq)[Symbol.iterator]();
  } catch (e) {
    port.postMessage(errorMessage(e));
    return;
  }
  let untaken = 0;
  const pump = (): void => {
    while (untaken < AHEAD) {
      let next: IteratorResult<RecordPage>;
      try {
        next = pages.next();
      } catch (e) {
        port.postMessage(errorMessage(e));
        return;
      }
      if (next.done) {
        port.postMessage({ type: 'done' } satisfies Message);
        return;
      }
      const p = next.value;
      const page: PostedPage = { ...p, whole: [...p.whole], checksumOk: checksums(p) };
      port.postMessage({ type: 'page', page } satisfies Message, transferable(page));
      untaken += 1;
    }
  };
  port.on('message', () => {
    untaken -= 1;
    pump();
  });
  pump();
}

function errorMessage(e: unknown): Message {
  return e instanceof JournalError
    ? { type: 'error', message: e.message, kind: e.kind, seq: e.seq }
    : { type: 'error', message: e instanceof Error ? e.message : String(e) };
}

if (!isMainThread && (workerData as { role?: unknown } | null)?.role === READER) serve();
