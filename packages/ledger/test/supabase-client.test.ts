import { expectLedgerError, expectLedgerErrorSync } from '@execution-ledger/test-support';
import { createClient, type SupabaseClientOptions } from '@supabase/supabase-js';
import { createLedger, getExecutionLedger, initializeExecutionLedger, LedgerError } from 'execution-ledger';
import { openDatabase } from 'execution-ledger/database';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';

// The seed's Example 1 passes a supabase-js client. Constructing one opens no connection, so
// this needs no Supabase project. supabase-js needs a WebSocket class for its realtime client:
// Node 22 has one built in; on Node 20 it is given the ws package's (never connected here).
const url = 'https://abcdefghijklmnopqrst.supabase.co';
const key = 'sb_publishable_not-a-real-key-0123456789';
const nodeMajor = Number(process.versions.node.split('.')[0]);
const options: SupabaseClientOptions<'public'> | undefined =
  nodeMajor >= 22 ? undefined : { realtime: { transport: WebSocket as never } };

describe('a supabase-js client given as the database', () => {
  it('Example 1 as the seed writes it is refused at once, with what to pass instead', () => {
    const client = createClient(url, key, options);
    const error = expectLedgerErrorSync(() => initializeExecutionLedger(client), 'VALIDATION_FAILED');
    expect(error.field).toBe('database');
    expect(error.details).toEqual({ client: 'supabase-js', project_ref: 'abcdefghijklmnopqrst' });
    // The connection string to use, with this project's pooler user, port and option.
    expect(error.message).toContain('Supabase client (supabase-js)');
    expect(error.message).toContain('postgres://postgres.abcdefghijklmnopqrst:<database password>@');
    expect(error.message).toContain(':6543/postgres');
    expect(error.message).toContain('preparedStatements: false');
    expect(error.message).toContain('execution-ledger migrate --print-sql --supabase');
    expect(error.message).toContain('docs/supabase.md');
    // The key is a secret of the caller's: it is never repeated in an error.
    expect(error.message).not.toContain(key);
    // Nothing was initialised: the functional API still says so.
    expect(() => getExecutionLedger()).toThrowError(/not initialised/);
  });

  it('is refused by createLedger and openDatabase too, and so is its bare PostgREST client', async () => {
    const client = createClient(url, key, options);
    expectLedgerErrorSync(() => createLedger({ database: client as never }), 'VALIDATION_FAILED');
    await expectLedgerError(openDatabase(client as never), 'VALIDATION_FAILED', 'database');
    const rest = expectLedgerErrorSync(
      () => initializeExecutionLedger((client as unknown as { rest: never }).rest),
      'VALIDATION_FAILED',
    );
    expect(rest.message).toContain('postgres.<project-ref>');
  });

  it('names no project for a self-hosted or local Supabase URL', () => {
    const local = createClient('http://127.0.0.1:54321', key, options);
    const error = expectLedgerErrorSync(() => initializeExecutionLedger(local), 'VALIDATION_FAILED');
    expect(error).toBeInstanceOf(LedgerError);
    expect(error.details).toEqual({ client: 'supabase-js' });
    expect(error.message).toContain('postgres.<project-ref>');
  });
});
