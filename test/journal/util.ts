/** Helpers for journal tests: temp journals, a journal filled from the random stream, hand-made records. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import type { Command } from '../../src/engine/types.ts';
import { encodeCommand, makeRecord } from '../../src/journal/codec.ts';
import { Journal, type JournalOptions } from '../../src/journal/journal.ts';
import { SqliteJournalStore } from '../../src/journal/sqlite.ts';
import type { JournalRecord, JournalStore, RecordPage } from '../../src/journal/store.ts';
import { CommandStream, setupCommands } from './stream.ts';

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ringfence-journal-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs the setup plus `n` stream commands through a Journal on a new SQLite file and closes it. Returns the live
 * engine's final state hash, seq, the accepted commands in seq order, and the engine.
 */
export async function fillJournal(
  path: string,
  n: number,
  opts: JournalOptions & { seed?: number; burst?: number } = {},
): Promise<{ hash: string; seq: number; commands: Command[]; engine: Engine }> {
  const { hash, seq, commands, engine } = await fillStore(new SqliteJournalStore(path), n, opts);
  return { hash, seq, commands, engine };
}

/**
 * Runs the setup plus `n` stream commands through a Journal on `store` (recovering what it holds first) and closes
 * the journal (and the store). The setup runs only on an empty store.
 */
export async function fillStore(
  store: JournalStore,
  n: number,
  opts: JournalOptions & { seed?: number; burst?: number } = {},
): Promise<{ hash: string; seq: number; commands: Command[]; engine: Engine; journal: Journal }> {
  const { journal } = await Journal.open(store, opts);
  const e = journal.engine;
  const commands: Command[] = [];
  const stream = new CommandStream(opts.seed ?? 1);
  const burst = opts.burst ?? 50;
  let last: Promise<unknown> = Promise.resolve();
  const submit = (c: Command) => {
    const before = e.seq;
    last = journal.submit(c);
    if (e.seq > before) commands.push(c);
  };
  if (e.seq === 0) for (const c of setupCommands()) submit(c);
  for (let i = 0; i < n; i++) {
    submit(stream.next(e));
    if (i % burst === burst - 1) await last;
  }
  await journal.close();
  return { hash: stateHash(e), seq: e.seq, commands, engine: e, journal };
}

/** A well-formed record for `cmd` at `seq` (valid checksum), optionally with a state hash. */
export function recordOf(seq: number, cmd: Command, hash: string | null = null) {
  return makeRecord(seq, cmd.time, encodeCommand(cmd), hash);
}

/** A page's records as JournalRecords (commands copied out as Buffers, so they compare across stores). */
export function pageRecords(p: RecordPage): JournalRecord[] {
  const out: JournalRecord[] = [];
  for (let i = 0; i < p.count; i++) {
    const w = p.whole.get(i);
    out.push(
      w ?? {
        seq: p.seqs[i]!,
        time: p.times[i]!,
        command: Buffer.from(p.data.subarray(p.starts[i]!, p.ends[i]!)),
        checksum: p.checksums[i]!,
        stateHash: null,
      },
    );
  }
  return out;
}
