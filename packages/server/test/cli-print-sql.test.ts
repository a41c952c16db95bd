import { PGlite } from '@electric-sql/pglite';
import { makeExecution, present } from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import { loadMigrations } from 'execution-ledger/database';
import { describe, expect, it } from 'vitest';
import { runCli, SERVE_PROCESS_TEST_MS } from './support/cli-process.js';

// `migrate --print-sql`: the script, applied by a tool of the caller's own (here PGlite's exec,
// one implicit transaction), leaves a schema the library takes as is; with --supabase, beside the
// few Supabase objects it names (supabase-migration.test.ts applies it on Supabase's full role set).
// A fresh PGlite and a CLI process each take seconds on a busy machine: the longer limit.
describe('execution-ledger migrate --print-sql', () => {
  it(
    'prints a script that a ledger then finds current, and that refuses a second run',
    async () => {
      const cli = await runCli(['migrate', '--print-sql']);
      expect(cli).toMatchObject({ code: 0, stderr: '' });
      expect(cli.stdout).not.toContain('service_role');
      const pglite = await PGlite.create();
      try {
        await pglite.exec(cli.stdout);
        const ledger = createLedger({ database: pglite });
        expect(await ledger.migrate()).toEqual({
          applied: [],
          already_applied: (await loadMigrations()).length,
        });
        expect((await ledger.recordExecution(makeExecution('proj-printed'))).seq).toBe(1);
        await expect(pglite.exec(cli.stdout)).rejects.toThrow(
          /already has migrations 1, 2, .*nothing was changed/,
        );
        expect(
          (await pglite.query('select count(*)::int as n from execution_ledger.executions')).rows,
        ).toEqual([{ n: 1 }]);
      } finally {
        await pglite.close();
      }
    },
    SERVE_PROCESS_TEST_MS,
  );

  it(
    'prints only the newer migrations with --from, guarded by the ones before',
    async () => {
      const files = await loadMigrations();
      const last = present(files.at(-1));
      const cli = await runCli(['migrate', '--print-sql', '--from', String(last.id)]);
      expect(cli.code).toBe(0);
      expect(cli.stdout).toContain(`-- ${last.name}\n`);
      expect(cli.stdout).not.toContain(`-- ${present(files[0]).name}\n`);
      // On an empty database the guard refuses: the earlier migrations are missing.
      const pglite = await PGlite.create();
      try {
        await expect(pglite.exec(cli.stdout)).rejects.toThrow(/has migrations none recorded/);
        expect((await pglite.query(`select to_regclass('execution_ledger.migrations') as t`)).rows).toEqual([
          { t: null },
        ]);
      } finally {
        await pglite.close();
      }
    },
    SERVE_PROCESS_TEST_MS,
  );

  it(
    'prints with --supabase a script that applies beside Supabase roles, whose Supabase part runs again unchanged',
    async () => {
      const cli = await runCli(['migrate', '--print-sql', '--supabase']);
      expect(cli).toMatchObject({ code: 0, stderr: '' });
      const part = cli.stdout.slice(cli.stdout.indexOf("-- Supabase's API roles"));
      expect(part).toMatch(/^-- Supabase's API roles/);
      expect(part).toContain('create or replace function execution_ledger_api.pre_request()');
      const pglite = await PGlite.create();
      try {
        // The little of Supabase the script refers to (test/support/supabase-roles.sql has it all).
        await pglite.exec(`
          create role anon nologin noinherit;
          create role authenticated nologin noinherit;
          create role service_role nologin noinherit bypassrls;
          create schema auth;
          grant usage on schema auth to anon, authenticated, service_role;
          create function auth.uid() returns uuid language sql stable
            as $$ select (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid $$;
          create function auth.jwt() returns jsonb language sql stable
            as $$ select nullif(current_setting('request.jwt.claims', true), '')::jsonb $$;`);
        await pglite.exec(cli.stdout);
        // An upgrade prints the Supabase part again after its migrations: it must apply twice.
        await pglite.exec(part);
        await pglite.exec(part);
        const ledger = createLedger({ database: pglite });
        expect((await ledger.migrate()).applied).toEqual([]);
        const member = '6f1c1d2e-0000-4000-8000-000000000001';
        const run = await ledger.recordExecution(
          makeExecution('proj-printed-supabase', { user_id: '6f1c1d2e-0000-4000-8000-000000000002' }),
        );
        await ledger.addProjectMember('proj-printed-supabase', member);
        const read = async (preRequest: boolean) => {
          await pglite.exec('begin');
          try {
            await pglite.exec('set local role authenticated');
            await pglite.query(`select set_config('request.jwt.claims', $1, true)`, [
              JSON.stringify({ role: 'authenticated', sub: member }),
            ]);
            if (preRequest) await pglite.query('select execution_ledger_api.pre_request()');
            return (await pglite.query<{ run_id: string }>('select run_id from execution_ledger.executions'))
              .rows;
          } finally {
            await pglite.exec('rollback');
          }
        };
        expect(await read(false)).toEqual([]);
        expect(await read(true)).toEqual([{ run_id: run.run_id }]);
        expect(
          (
            await pglite.query(
              `select pg_get_userbyid(proowner) as owner, prosecdef as definer from pg_proc
               where oid = 'execution_ledger_api.pre_request()'::regprocedure`,
            )
          ).rows,
        ).toEqual([{ owner: 'execution_ledger_service', definer: true }]);
      } finally {
        await pglite.close();
      }
    },
    SERVE_PROCESS_TEST_MS,
  );

  it.each([
    [['--print-sql', '--from', 'x'], '--from must be a migration number such as 8'],
    [['--print-sql', '--from', '0'], 'from must be a migration number between 1 and'],
    [['--print-sql', '--from', '9999'], 'from must be a migration number between 1 and'],
    [['--supabase'], '--supabase only applies to --print-sql'],
    [['--from', '2'], '--from only applies to --print-sql'],
    [['--print-sql', '--grant-runtime', 'ledger_runtime'], '--grant-runtime needs a database'],
  ])('refuses migrate %j with VALIDATION_FAILED and prints nothing', async (args, message) => {
    const cli = await runCli(['migrate', ...args]);
    expect(cli.code).not.toBe(0);
    expect(cli.stdout).toBe('');
    expect(cli.stderr).toContain('VALIDATION_FAILED');
    expect(cli.stderr).toContain(message);
  });
});
