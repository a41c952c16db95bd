import { LedgerError } from '../errors.js';

/** The parts by which a supabase-js (or postgrest-js) client is recognised, without importing it. */
export interface SupabaseClientLike {
  from(...args: never[]): unknown;
  rpc(...args: never[]): unknown;
}

export function isSupabaseClientLike(value: unknown): value is SupabaseClientLike {
  const candidate = value as Partial<SupabaseClientLike> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.from === 'function' &&
    typeof candidate.rpc === 'function'
  );
}

/**
 * Refuses a Supabase client with what to pass instead. The client speaks to Supabase's data API
 * (PostgREST over HTTP), one request per statement: the ledger needs a Postgres connection for
 * its append transactions, its locks and its verification reads, which the same project offers
 * through its connection pooler.
 */
export function refuseSupabaseClient(value: unknown): void {
  if (!isSupabaseClientLike(value)) return;
  const ref = projectRef((value as { supabaseUrl?: unknown }).supabaseUrl);
  const user = ref === undefined ? 'postgres.<project-ref>' : `postgres.${ref}`;
  throw new LedgerError(
    'VALIDATION_FAILED',
    'database is a Supabase client (supabase-js), which reaches the project through its HTTP data API and ' +
      "cannot run the ledger's transactions. Pass the project's Postgres connection string instead (Dashboard > " +
      'Connect): its connection pooler in transaction mode, port 6543, with preparedStatements: false, as in ' +
      `initializeExecutionLedger('postgres://${user}:<database password>@<region>.pooler.supabase.com:6543/postgres', ` +
      '{ preparedStatements: false }); or the session pooler or direct connection on port 5432. Apply the schema ' +
      'first with `execution-ledger migrate --print-sql --supabase > supabase/migrations/<timestamp>_execution_ledger.sql` ' +
      '(docs/supabase.md)',
    {
      field: 'database',
      details: { client: 'supabase-js', ...(ref === undefined ? {} : { project_ref: ref }) },
    },
  );
}

/** `abcd` from `https://abcd.supabase.co`; undefined for a self-hosted or local URL. */
function projectRef(url: unknown): string | undefined {
  if (typeof url !== 'string' && !(url instanceof URL)) return undefined;
  try {
    const host = new URL(url.toString()).hostname;
    const match = /^([a-z0-9]{1,64})\.supabase\.(co|in)$/.exec(host);
    return match?.[1];
  } catch {
    return undefined;
  }
}
