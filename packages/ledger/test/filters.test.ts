import { describeEachEngine, makeExecution, present, readAll } from '@execution-ledger/test-support';
import {
  type ExecutionFilter,
  type ExecutionRecord,
  exportExecutionsToCSV,
  initializeExecutionLedger,
  isLedgerError,
  type Ledger,
  type LedgerError,
  streamExecutions,
} from 'execution-ledger';
import { beforeAll, expect, it } from 'vitest';

async function collect(records: AsyncIterable<ExecutionRecord>): Promise<ExecutionRecord[]> {
  const all: ExecutionRecord[] = [];
  for await (const record of records) all.push(record);
  return all;
}

/** Runs `action` and returns the LedgerError it threw or rejected with, or fails the test. */
async function refusal(action: () => unknown): Promise<LedgerError> {
  try {
    await action();
  } catch (error) {
    if (isLedgerError(error)) return error;
    throw error;
  }
  throw new Error('expected a LedgerError, but the call succeeded');
}

const DAY = new Date('2026-02-13T00:00:00Z');
const LATER = new Date('2026-02-14T00:00:00Z');

/**
 * Every read that takes a filter, called with the same filter. The time series needs a bounded
 * range, so it gets one when the filter has none.
 */
function entryPoints(ledger: Ledger): Record<string, (filter: ExecutionFilter) => unknown> {
  return {
    listExecutions: (filter) => ledger.listExecutions(filter),
    streamExecutions: (filter) => collect(ledger.streamExecutions(filter)),
    exportCsvStream: (filter) => readAll(ledger.exportCsvStream(filter)),
    exportNdjsonStream: (filter) => readAll(ledger.exportNdjsonStream(filter)),
    getExecutionPercentiles: (filter) => ledger.getExecutionPercentiles(filter),
    getCostByPart: (filter) => ledger.getCostByPart(filter),
    getCostByUser: (filter) => ledger.getCostByUser(filter),
    getMostExpensiveRuns: (filter) => ledger.getMostExpensiveRuns(filter),
    getCostTimeSeries: (filter) =>
      ledger.getCostTimeSeries({ start: DAY, end: LATER, ...filter, bucket: 'day' }),
  };
}

const BAD_FILTERS: [name: string, filter: ExecutionFilter, field: string][] = [
  ['an empty project id', { projectId: '' }, 'projectId'],
  ['a NUL in an agent id', { agentId: 'agent\u0000x' }, 'agentId'],
  ['a lone surrogate in a user id', { userId: 'user-\ud800' }, 'userId'],
  ['an id that is not text', { projectId: 42 as unknown as string }, 'projectId'],
  ['an unknown status', { status: 'done' as 'completed' }, 'status'],
  ['an unknown status in a list', { status: ['completed', 'nope' as 'failed'] }, 'status'],
  ['an invalid start date', { start: new Date('nope') }, 'start'],
  ['an end that is not a Date', { end: '2026-02-13' as unknown as Date }, 'end'],
];

describeEachEngine('one filter, checked the same way by every read', (context) => {
  let projectId: string;

  beforeAll(async () => {
    projectId = context.project('filters');
    const parent = await context.ledger.recordExecution(makeExecution(projectId, { agent_id: 'backend' }));
    await context.ledger.recordExecution(
      makeExecution(projectId, { agent_id: 'backend', parent_run_id: parent.run_id }),
    );
    await context.ledger.recordExecution(
      makeExecution(projectId, { agent_id: 'frontend', status: 'failed', error_message: 'broke' }),
    );
  });

  for (const [name, filter, field] of BAD_FILTERS) {
    it(`refuses ${name} with the same VALIDATION_FAILED through every read`, async () => {
      const errors = new Map<string, LedgerError>();
      for (const [read, call] of Object.entries(entryPoints(context.ledger))) {
        errors.set(read, await refusal(() => call(filter)));
      }
      const first = present(errors.get('listExecutions'));
      expect(first.code).toBe('VALIDATION_FAILED');
      expect(first.field).toBe(field);
      expect(first.message).toContain(field);
      for (const [read, error] of errors) {
        expect({ read, code: error.code, field: error.field, message: error.message }).toEqual({
          read,
          code: first.code,
          field: first.field,
          message: first.message,
        });
      }
    });
  }

  it('refuses the same bad ids and dates in the statistics, which take them as arguments', async () => {
    const list = await refusal(() => context.ledger.listExecutions({ agentId: 'agent\u0000x' }));
    const agent = await refusal(() => context.ledger.getAgentCostStats('agent\u0000x'));
    expect([agent.code, agent.field, agent.message]).toEqual([list.code, list.field, list.message]);
    const project = await refusal(() => context.ledger.getProjectExecutionStats(''));
    const listProject = await refusal(() => context.ledger.listExecutions({ projectId: '' }));
    expect([project.code, project.field, project.message]).toEqual([
      listProject.code,
      listProject.field,
      listProject.message,
    ]);
    for (const call of [
      () => context.ledger.getProjectExecutionStats(projectId, new Date('nope')),
      () => context.ledger.getAgentCostStats('backend', projectId, new Date('nope')),
      () => context.ledger.exportExecutionsToCSV(projectId, new Date('nope')),
      () => context.ledger.listExecutions({ projectId, startDate: new Date('nope') }),
    ]) {
      const error = await refusal(call);
      expect([error.code, error.field]).toEqual(['VALIDATION_FAILED', 'startDate']);
      expect(error.message).toBe('startDate must be a valid Date; got Invalid Date');
    }
  });

  it('reads a reversed range as empty everywhere but the time series, which needs one bucket', async () => {
    const reversed = { projectId, start: LATER, end: DAY };
    expect(await context.ledger.listExecutions(reversed)).toEqual({ data: [], total: 0, next_cursor: null });
    expect(await collect(context.ledger.streamExecutions(reversed))).toEqual([]);
    expect(await readAll(context.ledger.exportNdjsonStream(reversed))).toBe('');
    expect((await context.ledger.getExecutionPercentiles(reversed)).count).toBe(0);
    expect((await context.ledger.getCostByPart(reversed)).count).toBe(0);
    expect(await context.ledger.getCostByUser(reversed)).toEqual([]);
    expect(await context.ledger.getMostExpensiveRuns(reversed)).toEqual([]);
    expect((await context.ledger.getProjectExecutionStats(projectId, LATER, DAY)).total_executions).toBe(0);
    const series = await refusal(() => context.ledger.getCostTimeSeries({ ...reversed, bucket: 'day' }));
    expect([series.code, series.field, series.message]).toEqual([
      'VALIDATION_FAILED',
      'end',
      'end must be later than start',
    ]);
  });

  it('narrows every read alike: one agent gives the same runs to lists, streams, exports and analytics', async () => {
    const filter: ExecutionFilter = { projectId, agentId: 'backend', status: ['completed'] };
    const listed = (await context.ledger.listExecutions(filter)).data.map((record) => record.run_id).sort();
    expect(listed).toHaveLength(2);
    const streamed = (await collect(context.ledger.streamExecutions(filter))).map((record) => record.run_id);
    expect(streamed.sort()).toEqual(listed);
    const exported = (await readAll(context.ledger.exportNdjsonStream(filter)))
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as ExecutionRecord).run_id);
    expect(exported.sort()).toEqual(listed);
    expect((await context.ledger.getExecutionPercentiles(filter)).count).toBe(2);
    expect((await context.ledger.getCostByPart(filter)).count).toBe(2);
    expect((await context.ledger.getMostExpensiveRuns(filter)).map((record) => record.run_id).sort()).toEqual(
      listed,
    );
  });

  it('filters lists by parent run, and refuses a parent run in analytics, whose rollups do not keep it', async () => {
    const [parent] = (await context.ledger.listExecutions({ projectId, agentId: 'backend' }, {}, 'seq')).data
      .slice()
      .reverse();
    const children = await context.ledger.listExecutions({ projectId, parentRunId: present(parent).run_id });
    expect(children.total).toBe(1);
    const refused = await refusal(() =>
      context.ledger.getCostByPart({ projectId, parentRunId: 'x' } as unknown as ExecutionFilter),
    );
    expect([refused.code, refused.field]).toEqual(['VALIDATION_FAILED', 'parentRunId']);
    expect(refused.message).toContain('listExecutions({ parentRunId })');
  });

  it("takes the seed's startDate and endDate as start and end, and refuses both names for one bound", async () => {
    const byStart = await context.ledger.listExecutions({ projectId, start: DAY });
    const bySeedName = await context.ledger.listExecutions({ projectId, startDate: DAY });
    expect(bySeedName).toEqual(byStart);
    const future = new Date('2100-01-01T00:00:00Z');
    expect((await context.ledger.listExecutions({ projectId, endDate: DAY })).total).toBe(0);
    expect((await context.ledger.listExecutions({ projectId, endDate: future })).total).toBe(3);
    const both = await refusal(() =>
      context.ledger.listExecutions({ projectId, start: DAY, startDate: DAY }),
    );
    expect([both.code, both.field]).toEqual(['VALIDATION_FAILED', 'startDate']);
    const bothEnds = await refusal(() =>
      context.ledger.exportCsvStream({ projectId, end: DAY, endDate: DAY }),
    );
    expect([bothEnds.code, bothEnds.field]).toEqual(['VALIDATION_FAILED', 'endDate']);

    // The seed's functions: streamExecutions(filter) and exportExecutionsToCSV(projectId, startDate, endDate).
    initializeExecutionLedger(context.ledger);
    const seedStream = await collect(streamExecutions({ projectId, startDate: DAY, endDate: future }));
    expect(seedStream.map((record) => record.run_id)).toEqual(
      (await collect(context.ledger.streamExecutions({ projectId, start: DAY, end: future }))).map(
        (record) => record.run_id,
      ),
    );
    expect(await exportExecutionsToCSV(projectId, DAY, future)).toBe(
      await readAll(context.ledger.exportCsvStream({ projectId, start: DAY, end: future })),
    );
  });
});
