/**
 * Opens the journal store a target names: a `postgres://` (or `postgresql://`) URL is a PostgreSQL store, anything
 * else a SQLite file path. What the CLI, the service and the tests use, so every entry point accepts both.
 */
import type { PgStoreOptions } from './postgres.ts';
import { SqliteJournalStore, type SqliteStoreOptions } from './sqlite.ts';
import type { JournalStore } from './store.ts';

export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

export interface OpenStoreOptions {
  /** Create the journal when missing (default true). */
  create?: boolean;
  /** Open for reading only: nothing is created or written, no writer lock is taken. */
  readonly?: boolean;
  sqlite?: Omit<SqliteStoreOptions, 'create' | 'readonly'>;
  postgres?: Omit<PgStoreOptions, 'create' | 'readonly'>;
}

export async function openJournalStore(target: string, opts: OpenStoreOptions = {}): Promise<JournalStore> {
  const common = {
    ...(opts.create === undefined ? {} : { create: opts.create }),
    ...(opts.readonly === undefined ? {} : { readonly: opts.readonly }),
  };
  if (isPostgresUrl(target)) {
    // Loaded on use: a SQLite deployment never loads the PostgreSQL client.
    const { PgJournalStore } = await import('./postgres.ts');
    return PgJournalStore.open(target, { ...opts.postgres, ...common });
  }
  return new SqliteJournalStore(target, { ...opts.sqlite, ...common });
}
