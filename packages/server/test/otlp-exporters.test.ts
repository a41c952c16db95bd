import { otelRunId, PROJECT_ATTRIBUTE } from '@execution-ledger/server';
import { describeEachEngine, present } from '@execution-ledger/test-support';
import type { TypedStep } from 'execution-ledger';
import { expect, it } from 'vitest';
import {
  type Encoding,
  spanIdOf,
  startSpan,
  traceIdOf,
  tracerFor,
  useOtlpServer,
  waitForCleanedTrace,
  waitForRun,
} from './support/otlp-harness.js';

// Real OpenTelemetry SDK exporters (OTLP/HTTP protobuf and JSON) sending GenAI spans to the
// running service, one span per export as each ends, so batches arrive children first.

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);

describeEachEngine('OTLP ingest from the OpenTelemetry SDK exporters', (context) => {
  const harness = useOtlpServer(context);

  it.each(['protobuf', 'json'] as Encoding[])(
    'records an agent run from %s spans: steps, tokens counted once, exact cost, a sub-agent linked both ways',
    async (encoding) => {
      const project = context.project(`otel-${encoding}`);
      const key = await harness.key('ingest', [project]);
      const { tracer, provider } = tracerFor(harness, key, {
        'service.name': 'trip-planner',
        [PROJECT_ATTRIBUTE]: project,
      });
      const root = startSpan(tracer, 'invoke_agent planner', undefined, T0, {
        attributes: {
          'gen_ai.operation.name': 'invoke_agent',
          'gen_ai.agent.name': 'planner',
          'user.id': 'user-42',
          'gen_ai.input.messages': JSON.stringify([
            { role: 'user', parts: [{ type: 'text', content: 'Plan Lisbon' }] },
          ]),
          // A total the root repeats from its children: must not be counted again.
          'gen_ai.usage.input_tokens': 99_999,
          'gen_ai.usage.output_tokens': 99_999,
        },
      });
      // Current names, with cached input.
      const chat1 = startSpan(tracer, 'chat gpt-4o', root, T0 + 10, {
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': 'gpt-4o',
          'gen_ai.response.model': 'gpt-4o',
          'gen_ai.usage.input_tokens': 1_200,
          'gen_ai.usage.cache_read.input_tokens': 200,
          'gen_ai.usage.output_tokens': 300,
        },
      });
      chat1.end(T0 + 510);
      const tool = startSpan(tracer, 'execute_tool get_weather', root, T0 + 520, {
        attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'get_weather' },
      });
      tool.end(T0 + 600);
      // A nested agent: its own run, linked to the planner's.
      const sub = startSpan(tracer, 'invoke_agent researcher', root, T0 + 610, {
        attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'researcher' },
      });
      // Older names: gen_ai.system and prompt/completion tokens.
      const subChat = startSpan(tracer, 'chat gpt-4o-mini', sub, T0 + 620, {
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.system': 'openai',
          'gen_ai.request.model': 'gpt-4o-mini',
          'gen_ai.usage.prompt_tokens': 500,
          'gen_ai.usage.completion_tokens': 100,
        },
      });
      subChat.end(T0 + 900);
      sub.end(T0 + 950);
      root.setAttribute(
        'gen_ai.output.messages',
        JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: 'Day 1: Alfama' }] }]),
      );
      root.end(T0 + 1_000);
      await provider.forceFlush();
      await provider.shutdown();

      const traceId = traceIdOf(root);
      const planner = await waitForRun(context, otelRunId(traceId, spanIdOf(root)));
      const researcher = await waitForRun(context, otelRunId(traceId, spanIdOf(sub)));
      expect(planner).toMatchObject({
        project_id: project,
        user_id: 'user-42',
        agent_id: 'planner',
        parent_run_id: null,
        status: 'completed',
        input: { messages: [{ role: 'user', parts: [{ type: 'text', content: 'Plan Lisbon' }] }] },
        output: [{ role: 'assistant', parts: [{ type: 'text', content: 'Day 1: Alfama' }] }],
      });
      const steps = planner.execution_trace_json.steps as TypedStep[];
      expect(steps.map((step) => [step.kind, step.action])).toEqual([
        ['llm', 'chat gpt-4o'],
        ['tool', 'execute_tool get_weather'],
        ['agent', 'invoke_agent researcher'],
      ]);
      // gpt-4o: 1,000 fresh input x 250 + 200 cached x 125 + 300 output x 1,000 cents per million.
      expect(steps[0]).toMatchObject({
        model: 'gpt-4o',
        name: 'openai',
        tokens: { input: 1_200, output: 300, cached_input: 200 },
        cost: 0.575,
        started_ms: 10,
        duration_ms: 500,
        status: 'ok',
      });
      expect(steps[1]).toMatchObject({ name: 'get_weather', started_ms: 520, duration_ms: 80 });
      expect(steps[1]?.cost).toBeUndefined();
      expect(steps[2]).toMatchObject({ name: 'researcher', child_run_id: researcher.run_id });
      expect(planner.cost_json).toMatchObject({
        total: 0.575,
        breakdown: { tokens: 0.575 },
        pricing: { source: 'computed', price_table_version: 'default-2025-06' },
      });
      expect(planner.execution_trace_json).toMatchObject({ duration_ms: 1_000, tool_calls: 1 });

      expect(researcher).toMatchObject({
        agent_id: 'researcher',
        parent_run_id: planner.run_id,
        user_id: 'anonymous',
      });
      const subSteps = researcher.execution_trace_json.steps as TypedStep[];
      // gpt-4o-mini: 500 x 15 + 100 x 60 cents per million.
      expect(subSteps).toMatchObject([
        {
          kind: 'llm',
          model: 'gpt-4o-mini',
          tokens: { input: 500, output: 100, cached_input: 0 },
          cost: 0.0135,
        },
      ]);
      expect(researcher.cost_json.total).toBe(0.0135);
      await waitForCleanedTrace(harness.app, traceId);
    },
  );

  it('records a run once whatever the exporter resends: retries, duplicates and spans after it was recorded', async () => {
    const project = context.project('otel-retry');
    const key = await harness.key('ingest', [project]);
    const { tracer, provider } = tracerFor(harness, key, {
      'service.name': 'retrier',
      [PROJECT_ATTRIBUTE]: project,
    });
    const root = startSpan(tracer, 'invoke_agent retrier', undefined, T0, {
      attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'retrier' },
    });
    const chat = startSpan(tracer, 'chat', root, T0 + 1, {
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.usage.input_tokens': 10,
        'gen_ai.usage.output_tokens': 1,
      },
    });
    chat.end(T0 + 2);
    await provider.forceFlush();
    const traceId = traceIdOf(root);
    const runId = otelRunId(traceId, spanIdOf(root));
    // The same span ids again while the trace is open: an exporter's retry. The first copy stands.
    const body = await exportedJson(traceId, [spanIdOf(root), spanIdOf(chat)], project);
    const resend = () =>
      fetch(`${harness.url}/v1/traces`, {
        method: 'POST',
        headers: { authorization: key, 'content-type': 'application/json' },
        body: JSON.stringify({
          resourceSpans: [
            {
              ...body.resourceSpans[0],
              scopeSpans: [{ spans: body.resourceSpans[0]?.scopeSpans[0]?.spans.slice(1) }],
            },
          ],
        }),
      });
    expect((await resend()).status).toBe(200);
    root.end(T0 + 3);
    await provider.forceFlush();
    const recorded = await waitForRun(context, runId);
    // The step is the copy the SDK sent first, with its tokens; the resent copy had none.
    expect(recorded.execution_trace_json.steps).toMatchObject([
      { kind: 'llm', tokens: { input: 10, output: 1 } },
    ]);
    await waitForCleanedTrace(harness.app, traceId);
    // After it was recorded: the whole trace again is late and changes nothing.
    const late = await fetch(`${harness.url}/v1/traces`, {
      method: 'POST',
      headers: { authorization: key, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(late.status).toBe(200);
    await harness.app.otlpIngest.tick();
    const runs = await context.ledger.listExecutions({ projectId: project }, { limit: 10 });
    expect(runs.total).toBe(1);
    expect(runs.data[0]?.entry_hash).toBe(recorded.entry_hash);
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    expect(metrics).toMatch(/execution_ledger_otlp_spans_total\{outcome="late"\} [1-9]/);
    expect(metrics).toMatch(/execution_ledger_otlp_spans_total\{outcome="duplicate"\} [1-9]/);
    // What staging holds (shared by every server on this database, so only its presence is checked).
    expect(metrics).toMatch(/execution_ledger_otlp_staging\{measure="spans"\} \d+/);
    expect(await harness.app.otlpIngest.staging.traceSpans(traceId)).toEqual([]);
    await provider.shutdown();
  });

  it('maps span status and error.type: failed, aborted on cancellation; an explicit cost wins and is marked reported', async () => {
    const project = context.project('otel-status');
    const key = await harness.key('ingest', [project]);
    const { tracer, provider } = tracerFor(
      harness,
      key,
      { 'service.name': 'status-agent', [PROJECT_ATTRIBUTE]: project },
      'json',
    );
    const failed = startSpan(tracer, 'invoke_agent failing', undefined, T0, {
      attributes: { 'gen_ai.operation.name': 'invoke_agent', 'error.type': 'timeout' },
    });
    failed.setStatus({ code: 2, message: 'the model timed out after 30 s' });
    const reported = startSpan(tracer, 'chat claude', failed, T0 + 5, {
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.request.model': 'claude-sonnet-4',
        'gen_ai.usage.input_tokens': 1_000,
        'gen_ai.usage.output_tokens': 10,
        // Reported by the provider: wins over the table (which would say 0.315).
        'gen_ai.usage.cost': 0.0123456,
      },
    });
    reported.end(T0 + 50);
    failed.end(T0 + 60);
    const cancelled = startSpan(tracer, 'invoke_agent cancelled', undefined, T0, {
      attributes: { 'gen_ai.operation.name': 'invoke_agent', 'error.type': 'AbortError' },
    });
    cancelled.setStatus({ code: 2 });
    cancelled.end(T0 + 10);
    await provider.forceFlush();
    await provider.shutdown();

    const failedRun = await waitForRun(context, otelRunId(traceIdOf(failed), spanIdOf(failed)));
    expect(failedRun).toMatchObject({
      status: 'failed',
      error_message: 'the model timed out after 30 s',
      agent_id: 'status-agent',
    });
    expect(failedRun.execution_trace_json.steps).toMatchObject([
      { kind: 'llm', cost: 1.23456, cost_source: 'reported', tokens: { input: 1_000, output: 10 } },
    ]);
    expect(failedRun.cost_json).toMatchObject({
      total: 1.23456,
      breakdown: { tokens: 1.23456 },
      pricing: { source: 'reported', reported_steps: 1 },
    });
    const cancelledRun = await waitForRun(context, otelRunId(traceIdOf(cancelled), spanIdOf(cancelled)));
    expect(cancelledRun).toMatchObject({ status: 'aborted', error_message: 'error.type AbortError' });
  });
});

/** The OTLP/JSON of a trace's staged spans as an exporter would resend them (read back from staging). */
async function exportedJson(traceId: string, spanIds: string[], project: string) {
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'retrier' } },
            { key: PROJECT_ATTRIBUTE, value: { stringValue: project } },
          ],
        },
        scopeSpans: [
          {
            scope: { name: 'execution-ledger-test' },
            spans: spanIds.map((spanId, index) => ({
              traceId,
              spanId,
              ...(index === 0 ? {} : { parentSpanId: present(spanIds[0]) }),
              name: index === 0 ? 'invoke_agent retrier' : 'chat',
              kind: 1,
              startTimeUnixNano: String(BigInt(T0 + index) * 1_000_000n),
              endTimeUnixNano: String(BigInt(T0 + 3 - index) * 1_000_000n),
              attributes: [],
            })),
          },
        ],
      },
    ],
  };
}
