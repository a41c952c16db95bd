import { randomUUID } from 'node:crypto';
import { makeExecution, prepareServerDatabase, present } from '@execution-ledger/test-support';
import { createLedger, type Ledger } from 'execution-ledger';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Hot reads are prepared statements on a server connection. One connection makes it visible:
// pg_prepared_statements lists what that session has prepared.
const serverUrl = process.env.TEST_DATABASE_URL;

async function preparedNames(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `select name from pg_prepared_statements where name like 'el\\_%' order by name`,
  );
  return rows.map((row) => row.name);
}

describe.skipIf(serverUrl === undefined)('prepared statements [postgres]', () => {
  const project = `prepared-${randomUUID()}`;
  let pool: pg.Pool;
  let ledger: Ledger;
  let runIds: string[];

  beforeAll(async () => {
    await prepareServerDatabase();
    pool = new pg.Pool({ connectionString: serverUrl, max: 1 });
    ledger = createLedger({ database: pool });
    const records = [
      makeExecution(project, { user_id: `owner-${randomUUID()}` }),
      makeExecution(project, { agent_id: 'frontend', status: 'failed', error_message: 'timeout' }),
    ];
    for (const record of records) await ledger.recordExecution(record);
    // Folded now: every read below then takes the same path (a read checks for pending entries
    // in its own statement; right after this ledger's own appends it would fold first instead).
    await ledger.foldRollups(project);
    runIds = records.map((record) => record.run_id);
  });

  afterAll(async () => {
    await ledger.close();
    await pool.end();
  });

  it('prepares each hot read once per connection and gives the same answers when reused', async () => {
    const reads = async () => ({
      one: await ledger.getExecutionByRunId(present(runIds[0])),
      stats: await ledger.getProjectExecutionStats(project),
      agent: await ledger.getAgentCostStats('frontend', project),
      page: await ledger.listExecutionsByProject(project, { limit: 1 }),
    });
    const first = await reads();
    const names = await preparedNames(pool);
    // get by run id, project stats, agent stats, the page, the page's total from the rollups
    expect(names.length).toBeGreaterThanOrEqual(5);
    const second = await reads();
    expect(second).toEqual(first);
    expect(await preparedNames(pool)).toEqual(names);
    expect(first.one?.run_id).toBe(runIds[0]);
    expect(first.stats.total_executions).toBe(2);
    expect(first.stats.failed).toBe(1);
    expect(first.agent.count).toBe(1);
    expect(first.page.total).toBe(2);
    expect(first.page.data).toHaveLength(1);
    expect(first.page.next_cursor).not.toBeNull();
  });

  it('keeps row-level security when a statement prepared by the owner is run by a scoped reader', async () => {
    // The same connection runs the statement as the owner, then as a reader who may not see it:
    // PostgreSQL must plan it again for the reader's role instead of reusing the owner's plan.
    expect(await ledger.getExecutionByRunId(present(runIds[0]))).not.toBeNull();
    const stranger = ledger.as({ userId: `stranger-${randomUUID()}` });
    expect(await stranger.getExecutionByRunId(present(runIds[0]))).toBeNull();
    expect((await stranger.getProjectExecutionStats(project)).total_executions).toBe(0);
    expect(await ledger.getExecutionByRunId(present(runIds[0]))).not.toBeNull();
  });

  it('prepares nothing when preparedStatements is false (for poolers that cannot keep them)', async () => {
    const plainPool = new pg.Pool({ connectionString: serverUrl, max: 1 });
    const plain = createLedger({ database: plainPool, preparedStatements: false });
    try {
      const record = await plain.getExecutionByRunId(present(runIds[1]));
      expect(record?.error_message).toBe('timeout');
      expect((await plain.getProjectExecutionStats(project)).total_executions).toBe(2);
      expect(await preparedNames(plainPool)).toEqual([]);
    } finally {
      await plain.close();
      await plainPool.end();
    }
  });
});
