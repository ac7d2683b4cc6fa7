/**
 * Opens the journal store a URL names, through the journal's own factory (src/journal/open.ts): a file path or
 * `sqlite:<path>` → SQLite (the default, `<dataDir>/journal.db`; its directory is created); `postgres://` or
 * `postgresql://` → PostgreSQL; `nats://host:port[,host:port…]/<stream>` → a JetStream stream. With
 * `writerThread`, SQLite commits run on a worker thread (SqliteThreadJournalStore), so the fsync no longer stops the
 * event loop that serves requests.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isNatsUrl, isPostgresUrl, openJournalStore } from '../journal/open.ts';
import { redactNatsUrl, redactPgUrl, scrubPgSecrets } from '../journal/redact.ts';
import type { JournalStore } from '../journal/store.ts';

export class StoreConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConfigError';
  }
}

export type StoreKind = 'sqlite' | 'postgres' | 'jetstream';

export function storeKind(url: string): StoreKind {
  return isPostgresUrl(url) ? 'postgres' : isNatsUrl(url) ? 'jetstream' : 'sqlite';
}

/**
 * The journal URL for logs: a PostgreSQL URL with every credential node-postgres accepts masked (the user-info
 * password, `?password=`, `?sslpassword=`); a SQLite path as is.
 */
export function redactUrl(url: string): string {
  return isPostgresUrl(url) ? redactPgUrl(url) : isNatsUrl(url) ? redactNatsUrl(url) : url;
}

/** The service's JetStream request timeout (ms); unanswered publishes are retried for the store's 30 s. */
export const NATS_REQUEST_TIMEOUT_MS = 2_000;

export interface StoreOptions {
  /** SQLite only: commit on a writer thread instead of the event loop. */
  writerThread?: boolean;
  /** JetStream only: open for reading (a read replica: nothing created or written). */
  readonly?: boolean;
}

export async function openStore(url: string, opts: StoreOptions = {}): Promise<JournalStore> {
  if (isPostgresUrl(url)) {
    try {
      return await openJournalStore(url);
    } catch (e) {
      // The driver's message can echo the URL or a credential alone: never let either through.
      const safe = redactUrl(url);
      const msg = scrubPgSecrets((e as Error).message, url);
      throw new StoreConfigError(msg.includes(safe) ? msg : `journal ${safe}: ${msg}`);
    }
  }
  if (isNatsUrl(url)) {
    try {
      return await openJournalStore(url, {
        ...(opts.readonly ? { readonly: true } : {}),
        // A request whose server died is retried (same message id) after 2 s, not the default 10: a lost stream
        // leader pauses writes for about its election, not for a whole timeout on top.
        jetstream: { timeoutMs: NATS_REQUEST_TIMEOUT_MS },
      });
    } catch (e) {
      const safe = redactUrl(url);
      const msg = (e as Error).message;
      throw new StoreConfigError(msg.includes(safe) ? msg : `journal ${safe}: ${msg}`);
    }
  }
  const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (path === '') throw new StoreConfigError('journal URL: empty SQLite path');
  mkdirSync(dirname(path), { recursive: true });
  if (opts.writerThread) {
    const { SqliteThreadJournalStore } = await import('../journal/sqlite-thread.ts');
    return SqliteThreadJournalStore.open(path);
  }
  return openJournalStore(path);
}
