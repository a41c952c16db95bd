import { randomUUID } from 'node:crypto';

const AGENTS = ['backend', 'database', 'devops', 'frontend'];
const MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'o3',
  'claude-sonnet',
  'claude-haiku',
  'gemini-pro',
  'gemini-flash',
  'llama-70b',
];

/**
 * One run as the ingest benchmarks append it (bench/ingest.js, bench/shards.js): a deployment by
 * one of 4 agents for one of `users` users, a token and tool-call cost, a trace of four steps.
 * With `stepCosts` the steps are typed and carry the whole cost (two model calls share the
 * tokens' cost, two tool calls the tool calls'), as runs recorded through `ledger.run` do.
 */
export function makeRow(projectId, index, { users = 50, stepCosts = false } = {}) {
  const tokens = 100 + (index % 900);
  const tools = (index * 7) % 300;
  const freeSteps = () =>
    Array.from({ length: 4 }, (_, step) => ({
      timestamp: '2026-02-13T10:30:00Z',
      action: `step_${step}`,
      duration_ms: 250 * (step + 1),
      result: 'success',
    }));
  const typedSteps = () => {
    const model = MODELS[index % MODELS.length];
    const half = Math.floor(tokens / 2);
    const tool = (offset) => `tool-${(index + offset) % 20}`;
    return [
      {
        action: 'plan',
        kind: 'llm',
        model,
        duration_ms: 250,
        cost: half,
        tokens: { input: 800, output: 200 },
      },
      { action: 'deploy', kind: 'tool', name: tool(0), duration_ms: 500, cost: Math.floor(tools / 2) },
      {
        action: 'verify',
        kind: 'tool',
        name: tool(7),
        duration_ms: 750,
        cost: tools - Math.floor(tools / 2),
      },
      {
        action: 'report',
        kind: 'llm',
        model,
        duration_ms: 1000,
        cost: tokens - half,
        tokens: { input: 600, output: 300 },
      },
    ];
  };
  return {
    run_id: `run-${randomUUID()}`,
    project_id: projectId,
    user_id: `user-${index % users}`,
    agent_id: AGENTS[index % AGENTS.length],
    intent: 'Deploy microservice to production',
    input: { service: 'user-api', version: `v2.${index % 10}.0`, environment: 'production', replicas: 3 },
    output: { deployed: true, url: 'https://user-api.example.com', instances: 3 },
    cost: { total: tokens + tools, breakdown: { tokens, toolCalls: tools } },
    execution_trace: {
      steps: stepCosts ? typedSteps() : freeSteps(),
      duration_ms: 2500,
      tool_calls: 8,
    },
    status: 'completed',
  };
}
