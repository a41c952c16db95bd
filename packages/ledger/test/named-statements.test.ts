import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
import { namedSql } from '../src/db/named-sql.js';

// Hot reads pass a NamedSql: node-postgres prepares it once per pooled connection, and the PGlite
// adapter prepares it once per session (PGlite's query() would parse and plan it on every call).
describeEachEngine('named statements', (context) => {
  const { engine, admin, project } = context;
  const count = (tag: string) =>
    namedSql(
      `select count(*)::text as runs, $1::text as project, '${tag}' as tag, $2::text[] as statuses
       from execution_ledger.executions where project_id = $1 and status = any($2::text[])`,
    );

  it('answer what the same text answers, call after call, and PGlite keeps them prepared', async () => {
    const projectId = project();
    await context.ledger.recordExecutions([makeExecution(projectId), makeExecution(projectId)]);
    const db = await context.ledger.database();
    const sql = count('repeat');
    const params = [projectId, ['completed', 'failed']];
    const expected = await db.query(sql.text, params);
    expect(expected).toEqual([
      { runs: '2', project: projectId, tag: 'repeat', statuses: ['completed', 'failed'] },
    ]);
    // Past the five custom plans PostgreSQL makes before it may switch to a generic one.
    for (let call = 0; call < 8; call += 1) expect(await db.query(sql, params)).toEqual(expected);
    expect(await db.query(sql, [projectId, ['failed']])).toEqual([
      { runs: '0', project: projectId, tag: 'repeat', statuses: ['failed'] },
    ]);
    expect(await db.query(sql, [projectId, null])).toEqual([
      { runs: '0', project: projectId, tag: 'repeat', statuses: null },
    ]);
    if (engine === 'pglite') {
      const [prepared] = await admin(
        'select (generic_plans + custom_plans)::int as runs from pg_prepared_statements where name = $1',
        [sql.name],
      );
      expect(prepared?.runs).toBe(10);
    }
  });

  it('run inside the transaction that runs them', async () => {
    const db = await context.ledger.database();
    const setting = namedSql(`select current_setting('execution_ledger.named_test', true) as value`);
    const inside = await db.transaction(async (tx) => {
      await tx.query(`select set_config('execution_ledger.named_test', 'inside', true)`);
      return tx.query<{ value: string | null }>(setting);
    });
    expect(inside).toEqual([{ value: 'inside' }]);
    // Transaction-local: gone once it committed (empty, as a setting the session has seen).
    expect((await db.query<{ value: string | null }>(setting))[0]?.value ?? '').toBe('');
  });

  it('fail alone: the error surfaces and the next statement, in or out of a transaction, runs', async () => {
    const projectId = project();
    const db = await context.ledger.database();
    const bad = namedSql('select 1 / ($1::integer - $1::integer) as quotient');
    await expect(db.query(bad, [3])).rejects.toMatchObject({ code: '22012' });
    await expect(db.query(bad, [3])).rejects.toMatchObject({ code: '22012' });
    const sql = count('after-error');
    expect(await db.query(sql, [projectId, ['completed']])).toEqual([expect.objectContaining({ runs: '0' })]);
    await expect(db.transaction((tx) => tx.query(bad, [4]))).rejects.toMatchObject({ code: '22012' });
    expect(await db.transaction((tx) => tx.query(sql, [projectId, ['completed']]))).toEqual([
      expect.objectContaining({ runs: '0' }),
    ]);
    const unknown = namedSql('select * from execution_ledger.no_such_table_for_named_statements');
    await expect(db.query(unknown)).rejects.toMatchObject({ code: '42P01' });
    await expect(db.query(unknown)).rejects.toMatchObject({ code: '42P01' });
  });

  // node-postgres leaves this to its caller on a server (the statement fails once the columns
  // change); the PGlite session prepares the statement again.
  it.runIf(engine === 'pglite')('prepare again when a schema change altered the result columns', async () => {
    const db = await context.ledger.database();
    await admin(
      'create table public.named_statement_shape (a integer); insert into public.named_statement_shape values (1)',
    );
    const sql = namedSql('select * from public.named_statement_shape');
    expect(await db.query(sql)).toEqual([{ a: 1 }]);
    await admin('alter table public.named_statement_shape add column b text default $$x$$');
    expect(await db.query(sql)).toEqual([{ a: 1, b: 'x' }]);
    await admin('drop table public.named_statement_shape');
  });
});
