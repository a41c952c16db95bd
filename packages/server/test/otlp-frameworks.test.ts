import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { otelRunId, PROJECT_ATTRIBUTE } from '@execution-ledger/server';
import { describeEachEngine, present } from '@execution-ledger/test-support';
import { context as otelContext, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { generateText, jsonSchema, stepCountIs, tool } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import type { TypedStep } from 'execution-ledger';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  nodeProviderFor,
  useOtlpServer,
  waitForCleanedTrace,
  waitForProjectRuns,
  waitForRun,
} from './support/otlp-harness.js';

// Real frameworks emitting spans: the Vercel AI SDK running a tool-calling agent with telemetry
// on, and two services whose agents call each other with W3C trace context propagation.

let global: NodeTracerProvider | undefined;
beforeAll(() => {
  // The SDK's Node provider registers the AsyncLocalStorage context manager, through which the
  // AI SDK's spans find their parents.
  global = new NodeTracerProvider();
  global.register();
});
afterAll(async () => {
  await global?.shutdown();
});

const usage = (input: number, cached: number, output: number) => ({
  inputTokens: { total: input, noCache: input - cached, cacheRead: cached, cacheWrite: undefined },
  outputTokens: { total: output, text: output, reasoning: undefined },
});

describeEachEngine('OTLP ingest from agent frameworks', (context) => {
  const harness = useOtlpServer(context);

  it('records a Vercel AI SDK tool-calling agent: one llm step per model call, the tool, tokens once, exact cost', async () => {
    const project = context.project('otel-vercel');
    const key = await harness.key('ingest', [project]);
    const provider = nodeProviderFor(harness, key, {
      'service.name': 'weather-app',
      [PROJECT_ATTRIBUTE]: project,
    });
    const model = new MockLanguageModelV3({
      provider: 'openai',
      modelId: 'gpt-4o-mini',
      doGenerate: [
        {
          content: [
            { type: 'tool-call', toolCallId: 'call-1', toolName: 'weather', input: '{"city":"Lisbon"}' },
          ],
          finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
          usage: usage(800, 300, 40),
          warnings: [],
        },
        {
          content: [{ type: 'text', text: 'It is 21 °C in Lisbon.' }],
          finishReason: { unified: 'stop', raw: 'stop' },
          usage: usage(1_000, 0, 120),
          warnings: [],
        },
      ],
    });
    const result = await generateText({
      model,
      prompt: 'What is the weather in Lisbon?',
      tools: {
        weather: tool({
          description: 'The temperature in a city',
          inputSchema: jsonSchema<{ city: string }>({
            type: 'object',
            properties: { city: { type: 'string' } },
            required: ['city'],
          }),
          execute: async ({ city }) => ({ city, celsius: 21 }),
        }),
      },
      stopWhen: stepCountIs(5),
      experimental_telemetry: {
        isEnabled: true,
        tracer: provider.getTracer('ai'),
        functionId: 'weather-agent',
        metadata: { userId: 'user-7' },
      },
    });
    expect(result.text).toBe('It is 21 °C in Lisbon.');
    await provider.forceFlush();
    const runs = await waitForProjectRuns(context, project, 1);
    const run = present(runs[0]);
    expect(run).toMatchObject({
      agent_id: 'weather-agent',
      user_id: 'user-7',
      status: 'completed',
      output: 'It is 21 °C in Lisbon.',
      parent_run_id: null,
    });
    const steps = run.execution_trace_json.steps as TypedStep[];
    expect(steps.map((step) => [step.kind, step.action])).toEqual([
      ['llm', 'ai.generateText.doGenerate'],
      ['tool', 'ai.toolCall'],
      ['llm', 'ai.generateText.doGenerate'],
    ]);
    // gpt-4o-mini, cents per million: input 15, cached input 7.5, output 60.
    // Call 1: 500 x 15 + 300 x 7.5 + 40 x 60 = 12,150 micro-cents; call 2: 1,000 x 15 + 120 x 60 = 22,200.
    expect(steps[0]).toMatchObject({
      model: 'gpt-4o-mini',
      tokens: { input: 800, output: 40, cached_input: 300 },
      cost: 0.01215,
    });
    expect(steps[1]).toMatchObject({ name: 'weather' });
    expect(steps[2]).toMatchObject({ tokens: { input: 1_000, output: 120, cached_input: 0 }, cost: 0.0222 });
    expect(run.cost_json).toMatchObject({ total: 0.03435, breakdown: { tokens: 0.03435 } });
    expect(run.cost_json.pricing).toMatchObject({
      source: 'computed',
      models: { 'gpt-4o-mini': { input_tokens: 1_800, cached_input_tokens: 300, output_tokens: 160 } },
    });
    expect(run.execution_trace_json.tool_calls).toBe(1);
    await provider.shutdown();
  });

  it('links the runs of two services whose agents call each other through W3C trace context', async () => {
    const [projectA, projectB] = [context.project('otel-planner'), context.project('otel-researcher')];
    // Keys bound to one project each: the spans need no project attribute.
    const keyA = await harness.key('ingest', [projectA]);
    const keyB = await harness.key('ingest', [projectB]);
    const providerA = nodeProviderFor(harness, keyA, { 'service.name': 'planner-service' });
    const providerB = nodeProviderFor(harness, keyB, { 'service.name': 'researcher-service' });
    const propagator = new W3CTraceContextPropagator();
    propagation.setGlobalPropagator(propagator);

    // Service B: an HTTP endpoint whose agent continues the caller's trace.
    const tracerB = providerB.getTracer('researcher');
    const serviceB = createServer((request, response) => {
      const parent = propagation.extract(ROOT_CONTEXT, request.headers as IncomingHttpHeaders);
      const agent = tracerB.startSpan(
        'invoke_agent researcher',
        { attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'researcher' } },
        parent,
      );
      const chat = tracerB.startSpan(
        'chat claude-3-5-haiku',
        {
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.provider.name': 'anthropic',
            'gen_ai.request.model': 'claude-3-5-haiku',
            'gen_ai.usage.input_tokens': 2_000,
            'gen_ai.usage.output_tokens': 500,
          },
        },
        trace.setSpan(parent, agent),
      );
      chat.end();
      agent.end();
      void providerB.forceFlush().then(() => response.end('found 3 sources'));
    });
    await new Promise<void>((resolve) => serviceB.listen(0, '127.0.0.1', resolve));
    const urlB = `http://127.0.0.1:${(serviceB.address() as AddressInfo).port}/research`;

    // Service A: its agent calls B as a tool, passing its trace context in the headers.
    const tracerA = providerA.getTracer('planner');
    const root = tracerA.startSpan('invoke_agent planner', {
      attributes: {
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.agent.name': 'planner',
        'enduser.id': 'ana',
      },
    });
    const rootContext = trace.setSpan(ROOT_CONTEXT, root);
    const toolSpan = tracerA.startSpan(
      'execute_tool ask_researcher',
      { attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'ask_researcher' } },
      rootContext,
    );
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(otelContext.active(), toolSpan), headers);
    expect(headers.traceparent).toMatch(/^00-/);
    expect(await (await fetch(urlB, { headers })).text()).toBe('found 3 sources');
    toolSpan.end();
    const chatA = tracerA.startSpan(
      'chat gpt-4.1',
      {
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.request.model': 'gpt-4.1',
          'gen_ai.usage.input_tokens': 3_000,
          'gen_ai.usage.cache_read.input_tokens': 1_000,
          'gen_ai.usage.output_tokens': 250,
        },
      },
      rootContext,
    );
    chatA.end();
    root.end();
    await providerA.forceFlush();
    await new Promise((resolve) => serviceB.close(resolve));

    const traceId = root.spanContext().traceId;
    const planner = await waitForRun(context, otelRunId(traceId, root.spanContext().spanId));
    const [research] = await waitForProjectRuns(context, projectB, 1);
    const researcher = present(research);
    expect(planner).toMatchObject({
      project_id: projectA,
      agent_id: 'planner',
      user_id: 'ana',
      parent_run_id: null,
    });
    expect(researcher).toMatchObject({
      project_id: projectB,
      agent_id: 'researcher',
      parent_run_id: planner.run_id,
    });
    const steps = planner.execution_trace_json.steps as TypedStep[];
    expect(steps.map((step) => [step.kind, step.name])).toEqual([
      ['tool', 'ask_researcher'],
      ['agent', 'researcher'],
      ['llm', undefined],
    ]);
    expect(steps[1]).toMatchObject({ child_run_id: researcher.run_id, service: 'researcher-service' });
    // gpt-4.1: 2,000 fresh x 200 + 1,000 cached x 50 + 250 x 800 = 650,000 micro-cents.
    expect(steps[2]).toMatchObject({ model: 'gpt-4.1', cost: 0.65 });
    expect(planner.cost_json.total).toBe(0.65);
    // claude-3-5-haiku: 2,000 x 80 + 500 x 400 = 360,000 micro-cents, in B's run only.
    expect(researcher.execution_trace_json.steps).toMatchObject([
      { kind: 'llm', name: 'anthropic', model: 'claude-3-5-haiku', cost: 0.36 },
    ]);
    expect(researcher.cost_json.total).toBe(0.36);
    await waitForCleanedTrace(harness.app, traceId);
    await providerA.shutdown();
    await providerB.shutdown();
  });
});
