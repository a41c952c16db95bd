import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import { beforeAll, expect, it } from 'vitest';

describeEachEngine('getExecutionByRunId with a project', (context) => {
  let project = '';
  let other = '';
  let runId = '';

  beforeAll(async () => {
    project = context.project();
    other = context.project();
    runId = (await context.ledger.recordExecution(makeExecution(project))).run_id;
    await context.ledger.recordExecution(makeExecution(other));
  });

  it('finds the run in its own project, as the lookup without a project does', async () => {
    const withProject = present(await context.ledger.getExecutionByRunId(runId, { projectId: project }));
    expect(withProject).toEqual(await context.ledger.getExecutionByRunId(runId));
    expect(withProject.project_id).toBe(project);
  });

  it('answers null when the run belongs to another project', async () => {
    expect(await context.ledger.getExecutionByRunId(runId, { projectId: other })).toBeNull();
  });

  it('refuses an empty project id, naming the field', async () => {
    const error = await expectLedgerError(
      context.ledger.getExecutionByRunId(runId, { projectId: '' }),
      'VALIDATION_FAILED',
      'projectId',
    );
    expect(error.message).toContain('non-empty string');
  });
});
