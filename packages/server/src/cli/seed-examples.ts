import type { ExecutionInput } from 'execution-ledger';

/**
 * The three example runs of the original specification, word for word (the project id is
 * theirs: proj-001). Run ids are fixed, so recording them again replays.
 */
export function seedExamples(): ExecutionInput[] {
  return [
    {
      run_id: 'run-12345-abc',
      project_id: 'proj-001',
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
    },
    {
      run_id: 'run-failed-001',
      project_id: 'proj-001',
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
    },
    {
      run_id: 'run-aborted-001',
      project_id: 'proj-001',
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
    },
  ];
}
