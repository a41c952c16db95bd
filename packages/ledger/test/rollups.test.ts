import { PGlite } from '@electric-sql/pglite';
import { describeEachEngine, type EngineContext, makeExecution } from '@execution-ledger/test-support';
import { createLedger, isLedgerError } from 'execution-ledger';
import { loadMigrations, migrateDatabase } from 'execution-ledger/database';
import { describe, expect, it } from 'vitest';
import { insertHistoricalRuns } from './support/historical-runs.js';

/** The project's hour-user level as every read sees it: folded first. */
async function rollupRows(context: EngineContext, projectId: string) {
  await context.ledger.foldRollups(projectId);
  return context.admin(
    `select to_char(hour at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') as hour, agent_id, user_id, status,
       run_count::int, cost_sum::text, cost_min::text, cost_max::text, tokens_sum::text,
       tool_calls_sum::text, external_requests_sum::text, penalties_sum::text, other_parts,
       duration_count::int, duration_ms_sum::text, duration_ms_max::int
     from execution_ledger.execution_rollups where project_id = $1
     order by hour, agent_id, user_id, status`,
    [projectId],
  );
}

// Every level and its table (sql/0008_rollup_levels.sql, 0016_status_count_levels.sql,
// 0028_year_level.sql), and each
// table's keys besides the period.
const LEVEL_TABLES = [
  ['hour', 'execution_rollups_hour'],
  ['hour_user', 'execution_rollups'],
  ['day', 'execution_rollups_day'],
  ['day_user', 'execution_rollups_day_user'],
  ['month', 'execution_rollups_month'],
  ['month_user', 'execution_rollups_month_user'],
  ['year', 'execution_rollups_year'],
] as const;
const LEVEL_KEYS: Record<string, string[]> = {
  execution_rollups_hour: ['agent_id'],
  execution_rollups: ['agent_id', 'user_id', 'status'],
  execution_rollups_day: ['agent_id'],
  execution_rollups_day_user: ['agent_id', 'user_id', 'status'],
  execution_rollups_month: ['agent_id'],
  execution_rollups_month_user: ['user_id'],
  execution_rollups_year: ['agent_id'],
};
// The levels without status as a key count each status in a column of its own.
const STATUS_COUNT_TABLES = new Set([
  'execution_rollups_hour',
  'execution_rollups_day',
  'execution_rollups_month',
  'execution_rollups_year',
]);

describeEachEngine('rollup levels', (context) => {
  it('are folded from the appended runs after the append, one group per hour, agent, user and status', async () => {
    const projectId = context.project();
    const results = await context.ledger.recordExecutions([
      makeExecution(projectId, { cost: { total: 10.5, breakdown: { tokens: 4, gpu: 6.5 } } }),
      makeExecution(projectId, { cost: 2, execution_trace: { steps: [], duration_ms: 1000 } }),
      makeExecution(projectId, { agent_id: 'devops', status: 'failed', error_message: 'boom' }),
    ]);
    expect(results.every((result) => result.ok)).toBe(true);
    // The append wrote no rollup row: its project's mark still stands before the runs.
    const [pending] = await context.admin(
      `select (select count(*)::int from execution_ledger.execution_rollups where project_id = $1) as rows,
         (select m.mark::int from execution_ledger.rollup_marks m where m.project_id = $1) as mark`,
      [projectId],
    );
    expect(pending).toEqual({ rows: 0, mark: null });
    expect(await context.ledger.foldRollups(projectId)).toEqual({ projects: 1, entries: 3 });
    expect(await context.ledger.foldRollups(projectId)).toEqual({ projects: 0, entries: 0 });
    const rows = await rollupRows(context, projectId);
    expect(rows.map((row) => [row.agent_id, row.status, row.run_count])).toEqual([
      ['backend', 'completed', 2],
      ['devops', 'failed', 1],
    ]);
    expect(rows[0]).toMatchObject({
      cost_sum: '12.500000',
      cost_min: '2.000000',
      cost_max: '10.500000',
      tokens_sum: '4',
      tool_calls_sum: '0',
      other_parts: { gpu: 6.5 },
      duration_count: 2,
      duration_ms_sum: '1250',
      duration_ms_max: 1000,
    });
    // Two groups at every level, except month_user, which is keyed by user alone.
    const report = await context.ledger.verifyRollups(projectId);
    expect(report).toMatchObject({ ok: true, groups_checked: 13 });
    expect(report.levels.map((level) => [level.level, level.ok, level.groups_checked])).toEqual([
      ['hour', true, 2],
      ['hour_user', true, 2],
      ['day', true, 2],
      ['day_user', true, 2],
      ['month', true, 2],
      ['month_user', true, 1],
      ['year', true, 2],
      // No zone kept for the project: no local day (zone-days.test.ts).
      ['zone_day', true, 0],
    ]);
  });

  it('do not count a replayed append twice, nor a refused conflicting one', async () => {
    const projectId = context.project();
    const execution = makeExecution(projectId);
    await context.ledger.recordExecution(execution);
    const replay = await context.ledger.recordExecution(execution);
    expect(replay.replayed).toBe(true);
    const conflict = await context.ledger
      .recordExecution({ ...execution, cost: 999 })
      .catch((error: unknown) => error);
    expect(isLedgerError(conflict, 'RUN_ID_CONFLICT')).toBe(true);
    const rows = await rollupRows(context, projectId);
    expect(rows.map((row) => [row.run_count, row.cost_sum])).toEqual([[1, '850.000000']]);
  });

  it('merge the batches of one hour and keep separate hours apart', async () => {
    const projectId = context.project();
    const at = (iso: string) => new Date(iso);
    const tip = await insertHistoricalRuns(context, projectId, [
      { createdAt: at('2026-02-13T10:05:00Z'), cost: 1 },
      { createdAt: at('2026-02-13T10:59:59.999Z'), cost: 3 },
    ]);
    await insertHistoricalRuns(
      context,
      projectId,
      [
        { createdAt: at('2026-02-13T10:59:59.999Z'), cost: { total: 2, breakdown: { gpu: 2 } } },
        { createdAt: at('2026-02-13T11:00:00Z'), cost: { total: 7, breakdown: { gpu: 3, tpu: 4 } } },
      ],
      tip,
    );
    const rows = await rollupRows(context, projectId);
    expect(rows.map((row) => [row.hour, row.run_count, row.cost_sum, row.other_parts])).toEqual([
      ['2026-02-13T10:00Z', 3, '6.000000', { gpu: 2 }],
      ['2026-02-13T11:00Z', 1, '7.000000', { gpu: 3, tpu: 4 }],
    ]);
    expect((await context.ledger.verifyLedger(projectId)).ok).toBe(true);
  });

  it('are folded from runs written even with session_replication_role = replica', async () => {
    const projectId = context.project();
    await insertHistoricalRuns(
      context,
      projectId,
      [{ createdAt: new Date('2026-02-13T10:00:00Z') }],
      undefined,
      {
        replica: true,
      },
    );
    expect((await rollupRows(context, projectId)).map((row) => row.run_count)).toEqual([1]);
  });

  describe('verification and rebuild', () => {
    it('names a changed measure, a missing group and a group without entries, and rebuild repairs all', async () => {
      const projectId = context.project();
      await context.ledger.recordExecutions([
        makeExecution(projectId),
        makeExecution(projectId, { user_id: 'user-002' }),
      ]);
      await context.ledger.foldRollups(projectId);
      // A superuser can change the cache behind the ledger's back; verification must notice.
      await context.admin(
        `update execution_ledger.execution_rollups set cost_sum = cost_sum + 1 where project_id = $1 and user_id = 'user-001'`,
        [projectId],
      );
      await context.admin(
        `delete from execution_ledger.execution_rollups where project_id = $1 and user_id = 'user-002'`,
        [projectId],
      );
      await context.admin(
        `insert into execution_ledger.execution_rollups (project_id, hour, agent_id, user_id, status, run_count,
           cost_sum, tokens_sum, tool_calls_sum, external_requests_sum, penalties_sum, duration_count,
           duration_ms_sum)
         values ($1, '2020-01-01T00:00Z', 'ghost', 'nobody', 'completed', 5, 5, 0, 0, 0, 0, 0, 0)`,
        [projectId],
      );
      const report = await context.ledger.verifyRollups(projectId);
      expect(report.ok).toBe(false);
      // hour_user compares its 2 groups and the ghost; the other levels hold 1 or 2 groups each.
      expect(report.groups_checked).toBe(11);
      expect(report.levels.filter((level) => !level.ok).map((level) => level.level)).toEqual(['hour_user']);
      expect(
        report.mismatches.map((mismatch) => [mismatch.level, mismatch.user_id, mismatch.reason]),
      ).toEqual([
        ['hour_user', 'nobody', 'this rollup group has no entries behind it'],
        ['hour_user', 'user-001', 'cost_sum is 851.000000, the entries give 850.000000'],
        ['hour_user', 'user-002', 'entries of this group are missing from the rollups'],
      ]);
      expect(report.mismatches[0]?.period_start).toBe('2020-01-01T00:00:00.000Z');
      expect(await context.ledger.rebuildRollups(projectId)).toEqual({
        projects: 1,
        groups: 10,
        levels: { hour: 1, hour_user: 2, day: 1, day_user: 2, month: 1, month_user: 2, year: 1, zone_day: 0 },
        step_groups: 0,
      });
      expect(await context.ledger.verifyRollups(projectId)).toMatchObject({ ok: true, mismatches: [] });
      expect((await context.ledger.getProjectExecutionStats(projectId)).total_cost).toBe(1700);
    });

    it('name the level of each disagreement, whichever level was changed', async () => {
      const projectId = context.project();
      await context.ledger.recordExecutions([
        makeExecution(projectId),
        makeExecution(projectId, { user_id: 'user-002' }),
      ]);
      await context.ledger.foldRollups(projectId);
      for (const [level, table] of LEVEL_TABLES) {
        // A level that counts statuses in columns keeps run_count their sum (a check constraint).
        const counted = STATUS_COUNT_TABLES.has(table) ? ', completed_count = completed_count + 1' : '';
        await context.admin(
          `update execution_ledger.${table} set run_count = run_count + 1${counted} where project_id = $1`,
          [projectId],
        );
        const report = await context.ledger.verifyRollups(projectId);
        expect(report.levels.filter((entry) => !entry.ok).map((entry) => entry.level)).toEqual([level]);
        expect(report.mismatches.length).toBeGreaterThan(0);
        for (const mismatch of report.mismatches) {
          expect(mismatch).toMatchObject({
            level,
            reason: expect.stringMatching(
              /^run_count is \d+, the entries give \d+(; completed_count is \d+, the entries give \d+)?$/,
            ),
          });
        }
        await context.ledger.rebuildRollups(projectId);
        expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
      }
    });

    it('name a status count that disagrees, though the run count agrees', async () => {
      const projectId = context.project();
      await context.ledger.recordExecutions([
        makeExecution(projectId),
        makeExecution(projectId, { status: 'failed', error_message: 'boom' }),
      ]);
      await context.ledger.foldRollups(projectId);
      await context.admin(
        `update execution_ledger.execution_rollups_day
         set completed_count = completed_count + 1, failed_count = failed_count - 1 where project_id = $1`,
        [projectId],
      );
      const report = await context.ledger.verifyRollups(projectId);
      expect(report.levels.filter((entry) => !entry.ok).map((entry) => entry.level)).toEqual(['day']);
      expect(
        report.mismatches.map((mismatch) => [mismatch.agent_id, mismatch.status, mismatch.reason]),
      ).toEqual([
        ['backend', null, 'completed_count is 2, the entries give 1; failed_count is 0, the entries give 1'],
      ]);
      expect((await context.ledger.getProjectExecutionStats(projectId)).failed).toBe(1);
      await context.ledger.rebuildRollups(projectId);
      expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
    });

    it('rebuilding every project also drops rollups of projects that have no entries', async () => {
      const orphan = context.project('orphan');
      for (const [, table] of LEVEL_TABLES) {
        const keys = LEVEL_KEYS[table] ?? [];
        const period =
          table === 'execution_rollups'
            ? 'hour'
            : table.replace(/^execution_rollups_/, '').replace(/_user$/, '');
        const counts = STATUS_COUNT_TABLES.has(table)
          ? { columns: ', completed_count, failed_count, aborted_count', values: ', 5, 0, 0' }
          : { columns: '', values: '' };
        await context.admin(
          `insert into execution_ledger.${table} (project_id, ${period}, ${keys.join(', ')}, run_count,
             cost_sum, tokens_sum, tool_calls_sum, external_requests_sum, penalties_sum, duration_count,
             duration_ms_sum${counts.columns})
           values ($1, '2020-01-01T00:00Z', ${keys.map((key) => `'ghost-${key}'`).join(', ')}, 5, 5, 0, 0, 0, 0, 0, 0${counts.values})`,
          [orphan],
        );
      }
      expect((await context.ledger.getProjectExecutionStats(orphan)).total_executions).toBe(5);
      const progress: [number, number][] = [];
      const report = await context.ledger.rebuildRollups(undefined, {
        onProject: (done, total) => progress.push([done, total]),
      });
      expect(report.projects).toBeGreaterThanOrEqual(1);
      // One call per project rebuilt, in order, each with the same total.
      expect(progress).toEqual(
        Array.from({ length: report.projects }, (_, index) => [index + 1, report.projects]),
      );
      expect((await context.ledger.getProjectExecutionStats(orphan)).total_executions).toBe(0);
      expect(await context.ledger.verifyRollups(orphan)).toMatchObject({ ok: true, groups_checked: 0 });
    });

    it('refuses a bad project id with VALIDATION_FAILED and changes nothing', async () => {
      const projectId = context.project();
      await context.ledger.recordExecution(makeExecution(projectId));
      const before = await rollupRows(context, projectId);
      for (const bad of ['', ' padded ', 'x'.repeat(201)]) {
        await expect(context.ledger.rebuildRollups(bad)).rejects.toMatchObject({
          code: 'VALIDATION_FAILED',
          field: 'projectId',
        });
        await expect(context.ledger.verifyRollups(bad)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      }
      expect(await rollupRows(context, projectId)).toEqual(before);
    });
  });

  it('cannot be written by the runtime roles: only the fold and the rebuild write them', async () => {
    const projectId = context.project();
    await context.ledger.recordExecution(makeExecution(projectId));
    await context.ledger.foldRollups(projectId);
    const database = await context.ledger.database();
    for (const [, table] of LEVEL_TABLES) {
      const attempt = database
        .transaction(async (tx) => {
          // PGlite connects as a superuser; take the service role the server's runtime role holds.
          if (context.engine === 'pglite') await tx.query('set local role execution_ledger_service');
          await tx.query(`update execution_ledger.${table} set run_count = 0 where project_id = $1`, [
            projectId,
          ]);
        })
        .catch((error: unknown) => error);
      expect(isLedgerError(await attempt, 'PERMISSION_DENIED')).toBe(true);
    }
    expect((await rollupRows(context, projectId)).map((row) => row.run_count)).toEqual([1]);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });

  it('give a scoped reader statistics over exactly the runs row level security lets them see', async () => {
    const projectId = context.project();
    const alice = `alice-${projectId}`;
    const bob = `bob-${projectId}`;
    await context.ledger.recordExecutions([
      makeExecution(projectId, { user_id: alice, cost: 100 }),
      makeExecution(projectId, { user_id: bob, cost: 20 }),
      makeExecution(projectId, { user_id: bob, cost: 3 }),
    ]);
    const asAlice = context.ledger.as({ userId: alice });
    expect(await asAlice.getProjectExecutionStats(projectId)).toMatchObject({
      total_executions: 1,
      total_cost: 100,
    });
    expect((await asAlice.listExecutionsByProject(projectId)).total).toBe(1);
    await context.ledger.addProjectMember(projectId, alice);
    expect(await asAlice.getProjectExecutionStats(projectId)).toMatchObject({
      total_executions: 3,
      total_cost: 123,
    });
  });
});

describe('the year level of runs recorded before migration 0028', () => {
  it('is filled by the migration from the month level, exact to every measure', async () => {
    const ledger = createLedger({ database: new PGlite(), migrate: false });
    try {
      const database = await ledger.database();
      const migrations = await loadMigrations();
      await migrateDatabase(
        database,
        migrations.filter((migration) => migration.id < 28),
      );
      // Runs across two years and two months of each, for two agents, written by 0026's trigger.
      await insertHistoricalRuns(
        { admin: (sql, params) => database.query(sql, params) },
        'old',
        [
          ['2025-11-03T10:00:00Z', 'backend', 5],
          ['2025-12-31T23:59:59.999Z', 'devops', { total: 7, breakdown: { tokens: 3, gpu: 4 } }],
          ['2026-01-01T00:00:00Z', 'backend', 11],
          ['2026-02-14T08:30:00Z', 'backend', 13],
        ].map(([at, agentId, cost]) => ({
          createdAt: new Date(at as string),
          agentId: agentId as string,
          cost: cost as number,
        })),
      );
      expect(
        await database.query('select count(*)::int as n from execution_ledger.execution_rollups_month'),
      ).toEqual([{ n: 4 }]);
      await migrateDatabase(database, migrations);
      const years = await database.query<{
        year: string;
        agent_id: string;
        run_count: number;
        cost_sum: string;
      }>(
        `select to_char(year at time zone 'UTC', 'YYYY') as year, agent_id, run_count::int, cost_sum::text
         from execution_ledger.execution_rollups_year order by 1, 2`,
      );
      expect(years).toEqual([
        { year: '2025', agent_id: 'backend', run_count: 1, cost_sum: '5.000000' },
        { year: '2025', agent_id: 'devops', run_count: 1, cost_sum: '7.000000' },
        { year: '2026', agent_id: 'backend', run_count: 2, cost_sum: '24.000000' },
      ]);
      const report = await ledger.verifyRollups('old');
      expect(report.ok).toBe(true);
      expect(report.levels.find((level) => level.level === 'year')).toEqual({
        level: 'year',
        ok: true,
        groups_checked: 3,
      });
      expect(await ledger.getAgentCostStats('backend')).toMatchObject({
        count: 3,
        total_cost: 29,
        max_cost: 13,
      });
    } finally {
      await ledger.close();
    }
  }, 120_000);
});
