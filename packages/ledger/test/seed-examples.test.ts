import { describeEachEngine } from '@execution-ledger/test-support';
import {
  exportExecutionsToCSV,
  getAgentCostStats,
  getExecutionLedger,
  getProjectExecutionStats,
  initializeExecutionLedger,
  recordExecution,
  streamExecutions,
} from 'execution-ledger';
import { beforeAll, expect, it } from 'vitest';

// The seed's seven examples, as written, with the import path adjusted and the Supabase client
// replaced by this engine's database. Each project id is fresh so the numbers are exact.
describeEachEngine('the seed examples', (context) => {
  let projectId = '';
  beforeAll(() => {
    projectId = context.project('proj-001');
    initializeExecutionLedger(context.ledger);
  });

  it('example 1 records a successful execution', async () => {
    const record = await recordExecution({
      run_id: `run-12345-abc-${projectId}`,
      project_id: projectId,
      user_id: 'user-001',
      agent_id: 'backend',
      intent: 'Deploy microservice to production',
      input: { service: 'user-api', version: 'v2.1.0', environment: 'production' },
      output: { deployed: true, url: 'https://user-api.example.com', instances: 3, health_check: 'passing' },
      cost: { total: 850, breakdown: { tokens: 300, toolCalls: 450, externalRequests: 100 } },
      execution_trace: {
        steps: [
          {
            timestamp: '2026-02-13T10:30:00Z',
            action: 'validate_service',
            duration_ms: 250,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T10:30:01Z',
            action: 'build_docker_image',
            duration_ms: 3000,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T10:30:05Z',
            action: 'push_to_registry',
            duration_ms: 1500,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T10:30:07Z',
            action: 'deploy_kubernetes',
            duration_ms: 2000,
            result: 'success',
          },
        ],
        duration_ms: 6750,
        tool_calls: 8,
        api_calls: 12,
      },
      status: 'completed',
    });
    expect(record.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(record.seq).toBe(1);
    expect(record.replayed).toBe(false);
    expect(record.cost_json).toEqual({
      total: 850,
      breakdown: { tokens: 300, toolCalls: 450, externalRequests: 100 },
    });
    expect(record.execution_trace_json.steps).toHaveLength(4);
    expect(record.output).toMatchObject({ instances: 3 });
  });

  it('example 2 records a failed execution with its error', async () => {
    const failedRecord = await recordExecution({
      run_id: `run-failed-001-${projectId}`,
      project_id: projectId,
      user_id: 'user-001',
      agent_id: 'database',
      intent: 'Migrate schema with data validation',
      input: { migration_id: 'migration-2026-02-001', tables: ['users', 'profiles', 'settings'] },
      cost: { total: 250, breakdown: { tokens: 100, toolCalls: 150 } },
      execution_trace: {
        steps: [
          {
            timestamp: '2026-02-13T11:00:00Z',
            action: 'backup_database',
            duration_ms: 5000,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T11:00:06Z',
            action: 'validate_and_migrate',
            duration_ms: 2000,
            error: 'Constraint violation on users.email UNIQUE index',
          },
        ],
        duration_ms: 7000,
      },
      status: 'failed',
      error_message:
        'Database migration failed: Constraint violation on users.email UNIQUE index. Changes rolled back.',
    });
    expect(failedRecord.status).toBe('failed');
    expect(failedRecord.output).toBeUndefined();
    expect(failedRecord.error_message).toContain('Constraint violation');
    expect(failedRecord.seq).toBe(2);
  });

  it('example 3 records an execution aborted by its cost limit', async () => {
    const abortedRecord = await recordExecution({
      run_id: `run-aborted-001-${projectId}`,
      project_id: projectId,
      user_id: 'user-001',
      agent_id: 'devops',
      intent: 'Full infrastructure audit and optimization',
      input: { audit_type: 'comprehensive', include_optimization: true },
      cost: { total: 10000, breakdown: { tokens: 4000, toolCalls: 4000, externalRequests: 2000 } },
      execution_trace: {
        steps: [
          {
            timestamp: '2026-02-13T12:00:00Z',
            action: 'audit_compute_resources',
            duration_ms: 3000,
            result: 'success',
          },
          {
            timestamp: '2026-02-13T12:00:04Z',
            action: 'audit_networking',
            duration_ms: 2000,
            result: 'success',
          },
        ],
        duration_ms: 5000,
        tool_calls: 12,
      },
      status: 'aborted',
      error_message: 'Execution aborted: Budget exceeded. Allocated: $50.00, Spent: $100.00',
    });
    expect(abortedRecord.status).toBe('aborted');
    expect(abortedRecord.cost_json.total).toBe(10000);
  });

  it('example 4 queries cost statistics for the last week', async () => {
    const stats = await getAgentCostStats(
      'backend',
      projectId,
      new Date(Date.now() - 7 * 24 * 60 * 60 * 1000),
      new Date(Date.now() + 1000),
    );
    expect(stats.count).toBe(1);
    expect(`$${(stats.total_cost / 100).toFixed(2)}`).toBe('$8.50');
    expect(`$${(stats.avg_cost / 100).toFixed(2)}`).toBe('$8.50');
    expect([stats.min_cost, stats.max_cost]).toEqual([850, 850]);
  });

  it('example 5 gives project analytics', async () => {
    const stats = await getProjectExecutionStats(projectId);
    expect(stats).toEqual({
      total_executions: 3,
      successful: 1,
      failed: 1,
      aborted: 1,
      total_cost: 11100,
      avg_cost: 3700,
      avg_duration_ms: 6250,
      by_agent: {
        backend: { count: 1, cost: 850 },
        database: { count: 1, cost: 250 },
        devops: { count: 1, cost: 10000 },
      },
    });
    expect(`${((stats.successful / stats.total_executions) * 100).toFixed(1)}%`).toBe('33.3%');
  });

  it('example 6 exports the last month as CSV', async () => {
    const csv = await exportExecutionsToCSV(
      projectId,
      new Date(Date.now() - 30 * 24 * 60 * 60 * 1000),
      new Date(Date.now() + 1000),
    );
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]?.startsWith('seq,created_at,run_id,project_id')).toBe(true);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toContain('run-aborted-001');
  });

  it('example 7 streams failed executions and adds their cost', async () => {
    let failureCount = 0;
    let totalCost = 0;
    for await (const execution of streamExecutions({ projectId, status: 'failed' })) {
      failureCount++;
      totalCost += execution.cost_json.total;
    }
    expect(failureCount).toBe(1);
    expect(`$${(totalCost / 100).toFixed(2)}`).toBe('$2.50');
  });

  it('the functional API uses the ledger it was initialised with', () => {
    expect(getExecutionLedger()).toBe(context.ledger);
  });
});
