import { OpenAIAgentsInstrumentation } from '@arizeai/openinference-instrumentation-openai-agents';
import { PROJECT_ATTRIBUTE } from '@execution-ledger/server';
import { describeEachEngine, type EngineContext, present } from '@execution-ledger/test-support';
import * as agents from '@openai/agents';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { TypedStep } from 'execution-ledger';
import { expect, it } from 'vitest';
import { type FakeCompletion, type FakeOpenAI, startFakeOpenAI } from './support/fake-openai.js';
import { nodeProviderFor, useOtlpServer, waitForProjectRuns } from './support/otlp-harness.js';

// The OpenAI Agents SDK (@openai/agents) running a tool-calling agent against a local fake of the
// chat-completions API, its own tracing bridged to OpenTelemetry by OpenInference's processor
// (@arizeai/openinference-instrumentation-openai-agents) and exported by OTLP: the agent span
// becomes a run, each model call and the tool call its steps.

const SCRIPT: FakeCompletion[] = [
  {
    model: 'gpt-4o',
    toolCalls: [{ id: 'call-1', name: 'lookup_order', arguments: '{"order":"A-17"}' }],
    usage: { input: 900, output: 25 },
  },
  {
    model: 'gpt-4o',
    content: 'Order A-17 ships tomorrow.',
    usage: { input: 1_100, output: 40, cached: 100 },
  },
];

describeEachEngine('OTLP ingest from the OpenAI Agents SDK through OpenInference', (context) => {
  const harness = useOtlpServer(context);

  it('records an agent run: a step per model call and the tool, tokens, exact cost', async () => {
    const project = context.project('otel-openai-agents');
    const key = await harness.key('ingest', [project]);
    const provider = nodeProviderFor(harness, key, {
      'service.name': 'support-app',
      [PROJECT_ATTRIBUTE]: project,
    });
    provider.register();
    // The SDK turns its tracing off by default when NODE_ENV is test.
    agents.setTracingDisabled(false);
    // Exclusive: the OpenInference processor replaces the SDK's exporter to OpenAI's platform.
    const instrumentation = new OpenAIAgentsInstrumentation({ tracerProvider: provider });
    instrumentation.manuallyInstrument(agents);
    const fake = await startFakeOpenAI(SCRIPT);
    try {
      await exercise(context, fake, provider, project);
    } finally {
      instrumentation.uninstrument();
      await provider.shutdown();
      await fake.close();
    }
  });
});

async function exercise(
  context: EngineContext,
  fake: FakeOpenAI,
  provider: NodeTracerProvider,
  project: string,
) {
  const lookupOrder = agents.tool({
    name: 'lookup_order',
    description: 'When an order ships',
    parameters: {
      type: 'object',
      properties: { order: { type: 'string' } },
      required: ['order'],
      additionalProperties: false,
    },
    strict: true,
    execute: async (input) => ({ order: (input as { order: string }).order, ships: 'tomorrow' }),
  });
  const agent = new agents.Agent({
    name: 'support',
    instructions: 'Answer questions about orders.',
    model: 'gpt-4o',
    tools: [lookupOrder],
  });
  const runner = new agents.Runner({
    modelProvider: new agents.OpenAIProvider({
      apiKey: 'test-key',
      baseURL: fake.baseURL,
      useResponses: false,
    }),
    workflowName: 'support-workflow',
  });
  const result = await runner.run(agent, 'Where is order A-17?');
  expect(result.finalOutput).toBe('Order A-17 ships tomorrow.');
  await agents.getGlobalTraceProvider().forceFlush();
  await provider.forceFlush();

  // OpenInference makes the SDK's trace (the workflow) an AGENT span too, at the root: it is a
  // run of its own, parent of the agent's run, which holds the model calls and the tool.
  const runs = await waitForProjectRuns(context, project, 2);
  expect(runs).toHaveLength(2);
  const workflow = present(runs.find((run) => run.parent_run_id === null));
  const run = present(runs.find((run) => run.parent_run_id !== null));
  expect(workflow).toMatchObject({
    intent: 'support-workflow',
    agent_id: 'support-app',
    status: 'completed',
  });
  expect(workflow.cost_json.total).toBe(0);
  expect(workflow.execution_trace_json.steps).toContainEqual(
    expect.objectContaining({ kind: 'agent', action: 'support', child_run_id: run.run_id }),
  );
  expect(run).toMatchObject({
    agent_id: 'support',
    intent: 'support',
    status: 'completed',
    parent_run_id: workflow.run_id,
  });
  const steps = run.execution_trace_json.steps as TypedStep[];
  // The SDK's turn spans (CHAIN) are steps of kind other, without cost.
  expect(
    steps.map((step) => [step.kind, step.action]),
    JSON.stringify(runs, null, 1),
  ).toEqual([
    ['other', 'turn'],
    ['llm', 'generation'],
    ['tool', 'lookup_order'],
    ['other', 'turn'],
    ['llm', 'generation'],
  ]);
  const [first, tool, second] = steps.filter((step) => step.kind !== 'other');
  // gpt-4o, cents per million: input 250, cached 125, output 1,000.
  // Call 1: 900 x 250 + 25 x 1,000 = 250,000 micro-cents; call 2: 1,000 x 250 + 100 x 125 + 40 x 1,000 = 302,500.
  expect(first).toMatchObject({
    model: 'gpt-4o',
    tokens: { input: 900, output: 25, cached_input: 0 },
    cost: 0.25,
  });
  expect(tool).toMatchObject({ name: 'lookup_order' });
  expect(second).toMatchObject({ tokens: { input: 1_100, output: 40, cached_input: 100 }, cost: 0.3025 });
  expect(run.cost_json).toMatchObject({ total: 0.5525, breakdown: { tokens: 0.5525 } });
  expect(run.execution_trace_json.tool_calls).toBe(1);
  expect(fake.requests).toHaveLength(2);
}
