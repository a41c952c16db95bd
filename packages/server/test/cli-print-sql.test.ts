import { PGlite } from '@electric-sql/pglite';
import { makeExecution, present } from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import { loadMigrations } from 'execution-ledger/database';
import { describe, expect, it } from 'vitest';
import { runCli, SERVE_PROCESS_TEST_MS } from './support/cli-process.js';

// `migrate --print-sql` without Supabase: the plain script, applied by a tool of the caller's
// own (here PGlite's exec, one implicit transaction), leaves a schema the library takes as is.
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
