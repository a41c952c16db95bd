import { setTimeout as delay } from 'node:timers/promises';
import { PROJECT_ATTRIBUTE } from '@execution-ledger/server';
import { describeEachEngine, type EngineContext, present } from '@execution-ledger/test-support';
import { context as otelContext, trace } from '@opentelemetry/api';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OpenAIInstrumentation } from '@traceloop/instrumentation-openai';
import type { TypedStep } from 'execution-ledger';
import OpenAI from 'openai';
import { expect, it } from 'vitest';
import { type FakeCompletion, type FakeOpenAI, startFakeOpenAI } from './support/fake-openai.js';
import { nodeProviderFor, useOtlpServer, waitForProjectRuns } from './support/otlp-harness.js';

const SPAN_GAP_MS = 100;

// OpenLLMetry's OpenAI instrumentation (the one Traceloop's node-server-sdk registers) on the
// real `openai` client, talking to a local fake of the chat-completions API. Its spans carry the
// GenAI names (gen_ai.operation.name chat, gen_ai.usage.input_tokens/output_tokens,
// gen_ai.request.model/response.model, gen_ai.input/output.messages). It reports no cached
// input tokens for chat completions, so every input token is priced at the uncached rate.

const SCRIPT: FakeCompletion[] = [
  { model: 'gpt-4o-mini', content: 'Paris.', usage: { input: 1_200, output: 30, cached: 200 } },
  {
    model: 'gpt-4o',
    toolCalls: [{ id: 'call-1', name: 'lookup_order', arguments: '{"order":"A-17"}' }],
    usage: { input: 900, output: 25 },
  },
  { model: 'gpt-4o', content: 'Order A-17 ships tomorrow.', usage: { input: 1_100, output: 40 } },
];

describeEachEngine('OTLP ingest from OpenLLMetry instrumentation of the OpenAI client', (context) => {
  const harness = useOtlpServer(context);

  it('records a lone chat completion as its own run, and calls inside an invoke_agent span as its steps', async () => {
    const project = context.project('otel-openllmetry');
    const key = await harness.key('ingest', [project]);
    const provider = nodeProviderFor(harness, key, {
      'service.name': 'support-bot',
      [PROJECT_ATTRIBUTE]: project,
    });
    provider.register();
    const instrumentation = new OpenAIInstrumentation({ traceContent: true });
    instrumentation.setTracerProvider(provider);
    instrumentation.manuallyInstrument(OpenAI);
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
  const lone = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Capital of France?' }],
  });
  expect(lone.choices[0]?.message.content).toBe('Paris.');

  const tracer = provider.getTracer('support-bot');
  const agent = tracer.startSpan('invoke_agent support', {
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'support',
      'user.id': 'customer-9',
    },
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
    tracer
      .startSpan('execute_tool lookup_order', {
        attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup_order' },
      })
      .end();
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
  const loneRun = present(runs.find((run) => run.user_id === 'anonymous'));
  expect(loneRun).toMatchObject({ agent_id: 'support-bot', intent: 'chat gpt-4o-mini' });
  // No cached count in the spans: 1,200 input x 15 + 30 output x 60 cents per million = 19,800 micro-cents.
  expect(loneRun.execution_trace_json.steps).toMatchObject([
    {
      kind: 'llm',
      model: 'gpt-4o-mini',
      tokens: { input: 1_200, output: 30, cached_input: 0 },
      cost: 0.0198,
    },
  ]);
  expect(loneRun.cost_json).toMatchObject({ total: 0.0198, pricing: { source: 'computed' } });
  // The captured prompt is the run's input.
  expect(JSON.stringify(loneRun.input)).toContain('Capital of France?');

  const agentRun = present(runs.find((run) => run.user_id === 'customer-9'));
  expect(agentRun).toMatchObject({ agent_id: 'support', status: 'completed', parent_run_id: null });
  const steps = agentRun.execution_trace_json.steps as TypedStep[];
  expect(steps.map((step) => step.kind)).toEqual(['llm', 'tool', 'llm']);
  // gpt-4o, cents per million: input 250, output 1,000.
  // Call 1: 900 x 250 + 25 x 1,000 = 250,000 micro-cents; call 2: 1,100 x 250 + 40 x 1,000 = 315,000.
  expect(steps[0]).toMatchObject({ model: 'gpt-4o', tokens: { input: 900, output: 25 }, cost: 0.25 });
  expect(steps[1]).toMatchObject({ name: 'lookup_order' });
  expect(steps[2]).toMatchObject({ tokens: { input: 1_100, output: 40 }, cost: 0.315 });
  expect(agentRun.cost_json).toMatchObject({ total: 0.565, breakdown: { tokens: 0.565 } });
  expect(fake.requests).toHaveLength(3);
}
