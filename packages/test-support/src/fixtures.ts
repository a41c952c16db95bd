import { randomUUID } from 'node:crypto';
import type { ExecutionInput } from 'execution-ledger';

/** A valid execution with every required field; override what a test is about. */
export function makeExecution(projectId: string, overrides: Partial<ExecutionInput> = {}): ExecutionInput {
  return {
    run_id: `run-${randomUUID()}`,
    project_id: projectId,
    user_id: 'user-001',
    agent_id: 'backend',
    intent: 'Deploy microservice to production',
    input: { service: 'user-api', version: 'v2.1.0' },
    output: { deployed: true },
    cost: { total: 850, breakdown: { tokens: 300, toolCalls: 450, externalRequests: 100 } },
    execution_trace: {
      steps: [
        {
          timestamp: '2026-02-13T10:30:00Z',
          action: 'validate_service',
          duration_ms: 250,
          result: 'success',
        },
      ],
      duration_ms: 250,
    },
    status: 'completed',
    ...overrides,
  };
}
