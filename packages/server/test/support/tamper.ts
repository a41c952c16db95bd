import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

const GUARDS = ['executions_append_only_row', 'executions_append_only_statement'];

/**
 * Changes one stored entry the way only a superuser can (guards off, row rewritten, guards on
 * again, ENABLE ALWAYS as the migration left them), so verification has something to catch.
 */
export async function tamperIntent(target: string, runId: string): Promise<void> {
  await asSuperuser(target, [
    ...GUARDS.map((name) => `alter table execution_ledger.executions disable trigger ${name}`),
    `update execution_ledger.executions set intent = 'rewritten' where run_id = '${quote(runId)}'`,
    ...GUARDS.map((name) => `alter table execution_ledger.executions enable always trigger ${name}`),
  ]);
}

/** Adds a cent to one day row of a project, as only a superuser can, so `rollups verify` has a disagreement to find. */
export async function tamperDayRollup(target: string, projectId: string): Promise<void> {
  await asSuperuser(target, [
    `update execution_ledger.execution_rollups_day set cost_sum = cost_sum + 1
     where ctid = (select ctid from execution_ledger.execution_rollups_day where project_id = '${quote(projectId)}' limit 1)`,
  ]);
}

const quote = (text: string) => text.replace(/'/g, "''");

/** Runs statements in one transaction as a superuser: the admin URL on PostgreSQL, the folder's own user on PGlite. */
async function asSuperuser(target: string, statements: string[]): Promise<void> {
  if (target.startsWith('postgres')) {
    const client = new pg.Client({ connectionString: process.env.TEST_ADMIN_DATABASE_URL ?? target });
    await client.connect();
    try {
      await client.query('begin');
      for (const sql of statements) await client.query(sql);
      await client.query('commit');
    } finally {
      await client.end();
    }
    return;
  }
  const pglite = await PGlite.create(path.join(target, 'pgdata'));
  try {
    await pglite.transaction(async (tx) => {
      for (const sql of statements) await tx.query(sql);
    });
  } finally {
    await pglite.close();
  }
}
