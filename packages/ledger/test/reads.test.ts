import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import { parse } from 'csv-parse/sync';
import type { ExecutionRecord } from 'execution-ledger';
import { beforeAll, expect, it } from 'vitest';

describeEachEngine('reads, pages, statistics and export', (context) => {
  let projectId = '';
  let records: ExecutionRecord[] = [];
  beforeAll(async () => {
    projectId = context.project();
    records = [];
    for (let index = 0; index < 25; index += 1) {
      const failed = index % 5 === 4;
      records.push(
        await context.ledger.recordExecution(
          makeExecution(projectId, {
            agent_id: index % 2 === 0 ? 'backend' : 'devops',
            cost: { total: 100 + index + 0.000001, breakdown: { tokens: 100 + index, penalties: 0.000001 } },
            execution_trace: { steps: [], duration_ms: 1000 + index },
            ...(failed ? { status: 'failed', error_message: `boom ${index}` } : {}),
          }),
        ),
      );
    }
  });

  it('pages newest first by offset and by cursor, with the same rows', async () => {
    const byOffset = [];
    for (let offset = 0; offset < 25; offset += 10) {
      byOffset.push(...(await context.ledger.listExecutionsByProject(projectId, 10, offset)).data);
    }
    const byCursor = [];
    let cursor: string | null = null;
    do {
      const page = await context.ledger.listExecutionsByProject(projectId, { limit: 10, cursor });
      expect(page.total).toBe(25);
      byCursor.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(byCursor.map((record) => record.seq)).toEqual(
      Array.from({ length: 25 }, (_, index) => 25 - index),
    );
    expect(byOffset.map((record) => record.run_id)).toEqual(byCursor.map((record) => record.run_id));
  });

  it('pages an agent across time by cursor without repeats', async () => {
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page = await context.ledger.listExecutionsByAgent('devops', projectId, { limit: 4, cursor });
      for (const record of page.data) seen.add(record.run_id);
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen.size).toBe(12);
  });

  it('accepts only the exact text of a next_cursor: any character added, changed or dropped is INVALID_CURSOR', async () => {
    const seqCursor = present(
      (await context.ledger.listExecutionsByProject(projectId, { limit: 1 })).next_cursor,
    );
    const timeCursor = present(
      (await context.ledger.listExecutionsByAgent('devops', projectId, { limit: 1 })).next_cursor,
    );
    const variants = (cursor: string) => [
      `${cursor}A`,
      `${cursor}=`,
      `${cursor}==`,
      `${cursor}.`,
      `${cursor} `,
      `${cursor.slice(0, -1)}${cursor.endsWith('A') ? 'B' : 'A'}`,
      `+${cursor}`,
      `${cursor.slice(0, -1)}`,
    ];
    const forged = [
      ...variants(seqCursor).map(
        (cursor) => () => context.ledger.listExecutionsByProject(projectId, { cursor }),
      ),
      ...variants(timeCursor).map(
        (cursor) => () => context.ledger.listExecutionsByAgent('devops', projectId, { cursor }),
      ),
    ];
    for (const read of forged) await expectLedgerError(read(), 'INVALID_CURSOR', 'cursor');
    // The same cursors, unchanged, still work: the check refuses only what was altered.
    expect((await context.ledger.listExecutionsByProject(projectId, { cursor: seqCursor })).data.length).toBe(
      24,
    );
    expect(
      (await context.ledger.listExecutionsByAgent('devops', projectId, { cursor: timeCursor })).data.length,
    ).toBeGreaterThan(0);
  });

  it('rejects a forged cursor with INVALID_CURSOR and a bad limit with VALIDATION_FAILED', async () => {
    await expectLedgerError(
      context.ledger.listExecutionsByProject(projectId, { cursor: 'bm9wZQ' }),
      'INVALID_CURSOR',
      'cursor',
    );
    const timeCursor = (await context.ledger.listExecutionsByAgent('devops', projectId, { limit: 1 }))
      .next_cursor;
    await expectLedgerError(
      context.ledger.listExecutionsByProject(projectId, { cursor: timeCursor }),
      'INVALID_CURSOR',
      'cursor',
    );
    await expectLedgerError(
      context.ledger.listExecutionsByProject(projectId, 0),
      'VALIDATION_FAILED',
      'limit',
    );
    await expectLedgerError(
      context.ledger.listExecutionsByProject(projectId, 10, -1),
      'VALIDATION_FAILED',
      'offset',
    );
  });

  it('gets a run by id, null when absent, NOT_FOUND when required', async () => {
    const wanted = present(records[3]);
    expect(await context.ledger.getExecutionByRunId(wanted.run_id)).toEqual({
      ...wanted,
      replayed: undefined,
    } as unknown as ExecutionRecord);
    expect(await context.ledger.getExecutionByRunId('run-missing')).toBeNull();
    await expectLedgerError(context.ledger.requireExecution('run-missing'), 'NOT_FOUND', 'run_id');
  });

  it('lists failed runs newest first, within the limit', async () => {
    const failed = await context.ledger.getFailedExecutions(projectId, 3);
    expect(failed.map((record) => record.error_message)).toEqual(['boom 24', 'boom 19', 'boom 14']);
  });

  it('computes exact statistics in micro-cents', async () => {
    const stats = await context.ledger.getProjectExecutionStats(projectId);
    expect(stats).toMatchObject({ total_executions: 25, successful: 20, failed: 5, aborted: 0 });
    // 25 × 100 + (0 + … + 24) + 25 × 0.000001, added exactly.
    expect(stats.total_cost).toBe(2800.000025);
    expect(stats.avg_cost).toBe(112.000001);
    expect(stats.avg_duration_ms).toBe(1012);
    expect(stats.by_agent.backend).toEqual({ count: 13, cost: 1456.000013 });
    const agent = await context.ledger.getAgentCostStats('devops', projectId);
    expect(agent).toMatchObject({ count: 12, min_cost: 101.000001, max_cost: 123.000001 });
  });

  it('gives zeros, not NaN or null, for an empty range and an unknown project', async () => {
    const future = new Date(Date.now() + 86_400_000);
    expect(await context.ledger.getAgentCostStats('backend', projectId, future)).toMatchObject({
      count: 0,
      total_cost: 0,
      avg_cost: 0,
      min_cost: 0,
      max_cost: 0,
    });
    expect(await context.ledger.getProjectExecutionStats(context.project())).toEqual({
      total_executions: 0,
      successful: 0,
      failed: 0,
      aborted: 0,
      total_cost: 0,
      avg_cost: 0,
      avg_duration_ms: 0,
      by_agent: {},
    });
  });

  it('treats date ranges as [start, end)', async () => {
    const at = new Date(present(records[0]).created_at);
    const until = new Date(present(records[24]).created_at);
    const inclusiveStart = await context.ledger.getProjectExecutionStats(projectId, at);
    expect(inclusiveStart.total_executions).toBe(25);
    const exclusiveEnd = await context.ledger.getProjectExecutionStats(projectId, at, until);
    const atEnd = records.filter((record) => record.created_at === present(records[24]).created_at).length;
    expect(exclusiveEnd.total_executions).toBe(25 - atEnd);
    await expectLedgerError(
      context.ledger.getProjectExecutionStats(projectId, new Date('nope')),
      'VALIDATION_FAILED',
      'startDate',
    );
  });

  it('streams every matching run in chain order in small batches', async () => {
    const seqs = [];
    for await (const record of context.ledger.streamExecutions({ projectId, batchSize: 3 }))
      seqs.push(record.seq);
    expect(seqs).toEqual(Array.from({ length: 25 }, (_, index) => index + 1));
    const failed = [];
    for await (const record of context.ledger.streamExecutions({
      projectId,
      status: ['failed'],
      batchSize: 2,
    })) {
      failed.push(record.seq);
    }
    expect(failed).toEqual([5, 10, 15, 20, 25]);
  });

  it('follows parent_run_id links', async () => {
    const parent = present(records[0]);
    const child = await context.ledger.recordExecution(
      makeExecution(projectId, { parent_run_id: parent.run_id }),
    );
    expect(child.parent_run_id).toBe(parent.run_id);
    const children = await context.ledger.listExecutions({ parentRunId: parent.run_id });
    expect(children.data.map((record) => record.run_id)).toEqual([child.run_id]);
  });

  it('exports RFC 4180 CSV that a CSV parser reads back to the same values, formulas neutralised', async () => {
    const exportProject = context.project();
    const tricky = 'commas, "quotes",\nnew lines';
    await context.ledger.recordExecution(makeExecution(exportProject, { intent: tricky }));
    await context.ledger.recordExecution(
      makeExecution(exportProject, {
        intent: '=HYPERLINK("http://x")',
        status: 'failed',
        error_message: '+1+2',
      }),
    );
    const csv = await context.ledger.exportExecutionsToCSV(exportProject);
    const rows = parse(csv, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      seq: '1',
      intent: tricky,
      cost_total: '850',
      cost_tokens: '300',
      status: 'completed',
    });
    expect(rows[1]).toMatchObject({
      intent: `'=HYPERLINK("http://x")`,
      error_message: "'+1+2",
      status: 'failed',
    });
    const empty = await context.ledger.exportExecutionsToCSV(context.project());
    expect(empty.trimEnd().split('\r\n')).toHaveLength(1);
    await expectLedgerError(
      context.ledger.exportExecutionsToCSV(exportProject, new Date(), new Date(Number.NaN)),
      'VALIDATION_FAILED',
      'endDate',
    );
  });
});
