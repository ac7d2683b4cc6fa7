/**
 * PostgreSQL for the journal tests: the local server (started when it is down), and a database of the test
 * process's own, created fresh and dropped afterwards.
 *
 * The server is the machine's cluster at 127.0.0.1:5432 with trust authentication for `postgres`
 * (RINGFENCE_TEST_PG overrides the admin URL). Database names carry the creating process's pid, so databases left
 * behind by a test process that was killed are dropped by the next run.
 */
import { execFileSync, execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const ADMIN_URL = process.env.RINGFENCE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PREFIX = 'ringfence_test_';

function ready(): boolean {
  const u = new URL(ADMIN_URL);
  try {
    execFileSync('pg_isready', ['-h', u.hostname, '-p', u.port || '5432'], {
      stdio: 'ignore',
      timeout: 5_000,
    });
    return true;
  } catch {
    return false;
  }
}

/** Starts the local cluster if it is not accepting connections, and waits (up to 30 s) until it is. */
export async function ensurePostgres(): Promise<void> {
  if (ready()) return;
  const versions = execSync('ls /etc/postgresql', { encoding: 'utf8' }).trim().split(/\s+/);
  const version = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!version)
    throw new Error('PostgreSQL is not running and no cluster is configured under /etc/postgresql');
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { stdio: 'ignore' });
  for (let i = 0; i < 300 && !ready(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!ready()) throw new Error(`PostgreSQL ${version}/main did not start within 30 s`);
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface TestDatabase {
  name: string;
  /** URL of the database (add `?schema=…` for a store in its own schema). */
  url: string;
  /** A store URL in a fresh schema of this database. */
  schemaUrl(schema: string): string;
  drop(): Promise<void>;
}

/** A new, empty database for this test process (and drops those of test processes that are gone). */
export async function createTestDatabase(): Promise<TestDatabase> {
  await ensurePostgres();
  const name = `${PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(async (c) => {
    const old = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${PREFIX}%`,
    ]);
    for (const { datname } of old.rows) {
      const pid = Number(datname.slice(PREFIX.length).split('_')[0]);
      if (Number.isSafeInteger(pid) && !alive(pid))
        await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await c.query(`CREATE DATABASE "${name}"`);
  });
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  const url = u.toString();
  return {
    name,
    url,
    schemaUrl: (schema) => `${url}?schema=${schema}`,
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}
