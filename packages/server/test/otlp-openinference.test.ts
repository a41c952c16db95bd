import { setTimeout as delay } from 'node:timers/promises';
import { OpenAIInstrumentation } from '@arizeai/openinference-instrumentation-openai';
import { PROJECT_ATTRIBUTE } from '@execution-ledger/server';
import { describeEachEngine, type EngineContext, present } from '@execution-ledger/test-support';
import { context as otelContext, trace } from '@opentelemetry/api';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { TypedStep } from 'execution-ledger';
import OpenAI from 'openai';
import { expect, it } from 'vitest';
import { type FakeCompletion, type FakeOpenAI, startFakeOpenAI } from './support/fake-openai.js';
import {
  nodeProviderFor,
  type OtlpHarness,
  useOtlpServer,
  waitForProjectRuns,
} from './support/otlp-harness.js';

const SPAN_GAP_MS = 100;

// OpenInference's OpenAI instrumentation (Phoenix's) on the real `openai` client, talking to a
// local fake of the chat-completions API: the spans it makes (openinference.span.kind LLM,
// llm.token_count.*, llm.model_name) are exported by the OTLP exporter and recorded as runs.

function instrumented(harness: OtlpHarness, authorization: string, resource: Record<string, string>) {
  const provider = nodeProviderFor(harness, authorization, resource);
  provider.register();
  const instrumentation = new OpenAIInstrumentation({ tracerProvider: provider });
  // The OpenAI class, which carries itself as `.OpenAI` as the instrumentation expects of the module.
  instrumentation.manuallyInstrument(OpenAI);
  return { provider, instrumentation };
}

const SCRIPT: FakeCompletion[] = [
  { model: 'gpt-4o-mini', content: 'Paris.', usage: { input: 1_200, output: 30, cached: 200 } },
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

describeEachEngine('OTLP ingest from OpenInference instrumentation of the OpenAI client', (context) => {
  const harness = useOtlpServer(context);
  it('records a lone chat completion as its own run, and an agent span around calls as one run with a step per call', async () => {
    const project = context.project('otel-openinference');
    const key = await harness.key('ingest', [project]);
    const { provider, instrumentation } = instrumented(harness, key, {
      'service.name': 'support-bot',
      [PROJECT_ATTRIBUTE]: project,
    });
    const fake = await startFakeOpenAI(SCRIPT);
    try {
      await exercise(context, fake, provider, project);
    } finally {
      instrumentation.disable();
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
  const client = new OpenAI({ apiKey: 'test-key', baseURL: fake.baseURL });

  // A call with no span around it: the trace's root is the LLM span, which becomes the run.
  const lone = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Capital of France?' }],
  });
  expect(lone.choices[0]?.message.content).toBe('Paris.');

  // An agent span (OpenInference kind AGENT) around a tool-calling exchange.
  const tracer = provider.getTracer('support-bot');
  const agent = tracer.startSpan('support-agent', {
    attributes: { 'openinference.span.kind': 'AGENT', 'user.id': 'customer-9' },
  });
  await otelContext.with(trace.setSpan(otelContext.active(), agent), async () => {
    const first = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Where is order A-17?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'lookup_order',
            parameters: { type: 'object', properties: { order: { type: 'string' } } },
          },
        },
      ],
    });
    const call = present(first.choices[0]?.message.tool_calls?.[0]);
    // The instrumentation times its spans on its own clock, which can stand some milliseconds
    // from the SDK's clock for the manual span: the tool takes time, as a real one does, so the
    // steps' order is the order they ran in whatever the clocks' offset.
    await delay(SPAN_GAP_MS);
    const toolSpan = tracer.startSpan('lookup_order', {
      attributes: { 'openinference.span.kind': 'TOOL', 'tool.name': 'lookup_order' },
    });
    toolSpan.end();
    await delay(SPAN_GAP_MS);
    await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'Where is order A-17?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"ships":"tomorrow"}' },
      ],
    });
  });
  agent.end();
  await provider.forceFlush();

  const runs = await waitForProjectRuns(context, project, 2);
  expect(runs).toHaveLength(2);
  const loneRun = present(runs.find((run) => run.agent_id === 'support-bot' && run.user_id === 'anonymous'));
  const loneSteps = loneRun.execution_trace_json.steps as TypedStep[];
  // gpt-4o-mini, cents per million: 1,000 input x 15 + 200 cached x 7.5 + 30 output x 60 = 18,300 micro-cents.
  expect(loneSteps).toMatchObject([
    {
      kind: 'llm',
      model: 'gpt-4o-mini',
      tokens: { input: 1_200, output: 30, cached_input: 200 },
      cost: 0.0183,
    },
  ]);
  expect(loneRun.cost_json).toMatchObject({ total: 0.0183, pricing: { source: 'computed' } });

  const agentRun = present(runs.find((run) => run.user_id === 'customer-9'));
  expect(agentRun).toMatchObject({ intent: 'support-agent', status: 'completed', parent_run_id: null });
  const steps = agentRun.execution_trace_json.steps as TypedStep[];
  expect(steps.map((step) => step.kind)).toEqual(['llm', 'tool', 'llm']);
  // gpt-4o, cents per million: input 250, cached 125, output 1,000.
  // Call 1: 900 x 250 + 25 x 1,000 = 250,000 micro-cents; call 2: 1,000 x 250 + 100 x 125 + 40 x 1,000 = 302,500.
  expect(steps[0]).toMatchObject({
    model: 'gpt-4o',
    tokens: { input: 900, output: 25, cached_input: 0 },
    cost: 0.25,
  });
  expect(steps[1]).toMatchObject({ name: 'lookup_order' });
  expect(steps[2]).toMatchObject({ tokens: { input: 1_100, output: 40, cached_input: 100 }, cost: 0.3025 });
  expect(agentRun.cost_json).toMatchObject({ total: 0.5525, breakdown: { tokens: 0.5525 } });
  expect(agentRun.execution_trace_json.tool_calls).toBe(1);
  expect(fake.requests).toHaveLength(3);
}
