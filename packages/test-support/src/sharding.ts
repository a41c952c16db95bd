import pg from 'pg';

// What the suites over PL/Proxy shards share: the test server's URLs, why a suite cannot run,
// and the two ways a shard database is named (a URL for the library, a libpq string for
// PL/Proxy's cluster definition).

/** Why sharding cannot be tested here, or null: it needs the test server's URLs and PL/Proxy. */
export async function shardingSkipReason(): Promise<string | null> {
  const adminUrl = process.env.TEST_ADMIN_DATABASE_URL;
  if (
    process.env.TEST_DATABASE_URL === undefined ||
    process.env.TEST_OWNER_DATABASE_URL === undefined ||
    adminUrl === undefined
  )
    return 'sharding needs a PostgreSQL server: set TEST_DATABASE_URL, TEST_OWNER_DATABASE_URL and TEST_ADMIN_DATABASE_URL';
  const client = new pg.Client({ connectionString: adminUrl });
  try {
    await client.connect();
    const rows = await client.query("select 1 from pg_available_extensions where name = 'plproxy'");
    return rows.rowCount === 0
      ? "the test server has no PL/Proxy: install Debian's postgresql-15-plproxy (CI does)"
      : null;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The same server and credentials as `url`, another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** The libpq connection string PL/Proxy opens for `database` with the credentials of `url`. */
export function connstr(url: string, database: string): string {
  const parsed = new URL(url);
  return [
    `host=${parsed.hostname}`,
    `port=${parsed.port || '5432'}`,
    `dbname=${database}`,
    `user=${decodeURIComponent(parsed.username)}`,
    `password=${decodeURIComponent(parsed.password)}`,
  ].join(' ');
}
