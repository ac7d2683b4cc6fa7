/**
 * Opens the journal store a target names: a `postgres://` (or `postgresql://`) URL is a PostgreSQL store, a
 * `nats://host:port[,host:port…]/<stream>` URL a JetStream stream, anything else a SQLite file path. What the CLI,
 * the service and the tests use, so every entry point accepts all three.
 */
import type { JetStreamStoreOptions } from './jetstream.ts';
import type { PgStoreOptions } from './postgres.ts';
import { SqliteJournalStore, type SqliteStoreOptions } from './sqlite.ts';
import type { JournalStore } from './store.ts';

export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/** A JetStream journal URL (`nats://…`)? Kept here so that a SQLite deployment never loads the NATS client. */
export function isNatsUrl(target: string): boolean {
  return /^nats:\/\//i.test(target);
}

export interface OpenStoreOptions {
  /** Create the journal when missing (default true). */
  create?: boolean;
  /** Open for reading only: nothing is created or written, no writer lock is taken. */
  readonly?: boolean;
  sqlite?: Omit<SqliteStoreOptions, 'create' | 'readonly'>;
  postgres?: Omit<PgStoreOptions, 'create' | 'readonly'>;
  jetstream?: Omit<JetStreamStoreOptions, 'create' | 'readonly'>;
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
  if (isNatsUrl(target)) {
    const { JetStreamJournalStore } = await import('./jetstream.ts');
    return JetStreamJournalStore.open(target, { ...opts.jetstream, ...common });
  }
  return new SqliteJournalStore(target, { ...opts.sqlite, ...common });
}
