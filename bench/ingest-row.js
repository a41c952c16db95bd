import { randomUUID } from 'node:crypto';

/**
 * One run as the ingest benchmarks append it (bench/ingest.js, bench/shards.js): a deployment by
 * one of 4 agents for one of 50 users, a token and tool-call cost, a trace of four steps.
 */
export function makeRow(projectId, index) {
  const tokens = 100 + (index % 900);
  const tools = (index * 7) % 300;
  return {
    run_id: `run-${randomUUID()}`,
    project_id: projectId,
    user_id: `user-${index % 50}`,
    agent_id: ['backend', 'database', 'devops', 'frontend'][index % 4],
    intent: 'Deploy microservice to production',
    input: { service: 'user-api', version: `v2.${index % 10}.0`, environment: 'production', replicas: 3 },
    output: { deployed: true, url: 'https://user-api.example.com', instances: 3 },
    cost: { total: tokens + tools, breakdown: { tokens, toolCalls: tools } },
    execution_trace: {
      steps: Array.from({ length: 4 }, (_, step) => ({
        timestamp: '2026-02-13T10:30:00Z',
        action: `step_${step}`,
        duration_ms: 250 * (step + 1),
        result: 'success',
      })),
      duration_ms: 2500,
      tool_calls: 8,
    },
    status: 'completed',
  };
}
