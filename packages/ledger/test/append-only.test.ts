import { describeEachEngine, expectLedgerError, makeExecution } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';

// The database itself refuses changes: for the table owner (the role that migrates), for the
// runtime reader role, and for a superuser in replica mode. The owner's remaining powers, and the
// runtime role's lack of them, are the privilege matrix (database-privileges.test.ts).
describeEachEngine('append-only enforcement', (context) => {
  async function seeded() {
    const projectId = context.project();
    const record = await context.ledger.recordExecution(makeExecution(projectId));
    return { projectId, record };
  }

  async function rowCount(projectId: string): Promise<number> {
    const rows = await context.admin(
      'select count(*)::int as n from execution_ledger.executions where project_id = $1',
      [projectId],
    );
    return Number(rows[0]?.n);
  }

  const CHANGES = [
    [
      'UPDATE',
      (id: string) => `update execution_ledger.executions set intent = 'changed' where run_id = '${id}'`,
    ],
    ['DELETE', (id: string) => `delete from execution_ledger.executions where run_id = '${id}'`],
    ['TRUNCATE', () => 'truncate execution_ledger.executions'],
  ] as const;

  it.each(CHANGES)('refuses %s by the table owner with PERMISSION_DENIED', async (_operation, sql) => {
    const { projectId, record } = await seeded();
    const database = await context.ownerDatabase();
    const error = await expectLedgerError(database.query(sql(record.run_id)), 'PERMISSION_DENIED');
    // The owner gave up its write privileges; a superuser (PGlite's user) hits the trigger.
    expect(error.message).toMatch(/permission denied for table executions|append-only/);
    expect(await rowCount(projectId)).toBe(1);
    expect((await context.ledger.getExecutionByRunId(record.run_id))?.intent).toBe(record.intent);
  });

  it.each(CHANGES)(
    'refuses %s by an owner that granted itself the privileges back',
    async (operation, sql) => {
      const { projectId, record } = await seeded();
      const database = await context.ownerDatabase();
      const error = await expectLedgerError(
        database.transaction(async (tx) => {
          await tx.query('grant update, delete, truncate on execution_ledger.executions to current_user');
          await tx.query(sql(record.run_id));
        }),
        'PERMISSION_DENIED',
      );
      expect(error.message).toContain(
        `execution_ledger.executions is append-only: ${operation} is not allowed`,
      );
      expect(await rowCount(projectId)).toBe(1);
    },
  );

  it.each([
    'update execution_ledger.executions set intent = $1',
    'delete from execution_ledger.executions where intent = $1',
  ])('refuses the runtime reader role: %s', async (sql) => {
    const { projectId } = await seeded();
    const database = await context.ledger.database();
    const error = await expectLedgerError(
      database.transaction(async (tx) => {
        await tx.query('set local role execution_ledger_reader');
        await tx.query(sql, ['x']);
      }),
      'PERMISSION_DENIED',
    );
    expect(error.message).toMatch(/permission denied/);
    expect(await rowCount(projectId)).toBe(1);
  });

  const FORGE = `insert into execution_ledger.executions (run_id, project_id, user_id, agent_id, intent, input,
      cost_json, execution_trace_json, status, created_at, seq, hash_version, payload_hash, prev_hash, entry_hash)
    select 'forged-' || run_id, project_id, user_id, agent_id, intent, input, cost_json, execution_trace_json,
      status, created_at, 2, 1, payload_hash, entry_hash, entry_hash
    from execution_ledger.executions where run_id = $1`;

  it('refuses a direct INSERT by the runtime reader role', async () => {
    const { projectId, record } = await seeded();
    const database = await context.ledger.database();
    await expectLedgerError(
      database.transaction(async (tx) => {
        await tx.query('set local role execution_ledger_reader');
        await tx.query(FORGE, [record.run_id]);
      }),
      'PERMISSION_DENIED',
    );
    expect(await rowCount(projectId)).toBe(1);
  });

  it('refuses or detects a direct INSERT by the owner: the append function is the only clean write path', async () => {
    const { projectId, record } = await seeded();
    const database = await context.ownerDatabase();
    if (context.engine === 'postgres') {
      // Forced RLS with no INSERT policy for the owner: the database refuses.
      await expectLedgerError(database.query(FORGE, [record.run_id]), 'PERMISSION_DENIED');
      expect(await rowCount(projectId)).toBe(1);
    } else {
      // PGlite's user is a superuser and bypasses RLS; the forged entry is caught by verification.
      await database.query(FORGE, [record.run_id]);
      const report = await context.ledger.verifyLedger(projectId);
      expect(report).toMatchObject({ ok: false, first_bad_seq: 2 });
    }
  });

  it('refuses the reader role calling the append function', async () => {
    const database = await context.ledger.database();
    await expectLedgerError(
      database.transaction(async (tx) => {
        await tx.query('set local role execution_ledger_reader');
        await tx.query(`select * from execution_ledger.append_batch('p', '[]'::jsonb)`);
      }),
      'PERMISSION_DENIED',
    );
  });

  it('keeps refusing under session_replication_role = replica, even for a superuser', async () => {
    const { projectId, record } = await seeded();
    await expect(
      context.admin(
        `do $$ begin
           set local session_replication_role = replica;
           update execution_ledger.executions set intent = 'changed' where run_id = '${record.run_id}';
         end $$`,
      ),
    ).rejects.toThrow(/append-only: UPDATE is not allowed/);
    // session_replication_role is not transaction-local under DO on every engine: reset it.
    await context.admin('set session_replication_role = origin');
    expect(await rowCount(projectId)).toBe(1);
  });

  it('refuses appends inside a REPEATABLE READ transaction, where a stale tip could fork the chain', async () => {
    const projectId = context.project();
    const database = await context.ledger.database();
    await expect(
      database.transaction(async (tx) => {
        await tx.query('set transaction isolation level repeatable read');
        await tx.query(`select * from execution_ledger.append_batch($1, '[]'::jsonb)`, [projectId]);
      }),
    ).rejects.toThrow(/must run at READ COMMITTED, not repeatable read/);
  });
});
