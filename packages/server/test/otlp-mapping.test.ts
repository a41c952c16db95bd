import { randomBytes } from 'node:crypto';
import { ApiKeyStore, buildServer, otelRunId, PROJECT_ATTRIBUTE } from '@execution-ledger/server';
import { describeEachEngine, type EngineContext, present } from '@execution-ledger/test-support';
import type { TypedStep } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitForRun } from './support/otlp-harness.js';

// The mapping rules the SDK tests do not reach: OpenInference names, a lone model call as a run,
// a model without a price, a reported cost on a tool, a trace whose root never comes (maximum
// wait), and spans of another project that name a run's span as their parent. Staging is shared
// by every server on the database (other files' servers assemble too), so runs are waited for.

type Value = string | number | boolean;
interface SpanSpec {
  spanId?: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startMs: number;
  endMs: number;
  attributes?: Record<string, Value>;
  status?: { code: number; message?: string };
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

function anyValue(value: Value) {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
}

function exportOf(traceId: string, resource: Record<string, string>, spans: SpanSpec[]) {
  return {
    resourceSpans: [
      {
        resource: {
          attributes: Object.entries(resource).map(([key, value]) => ({ key, value: anyValue(value) })),
        },
        scopeSpans: [
          {
            spans: spans.map((span) => ({
              traceId,
              spanId: present(span.spanId),
              ...(span.parentSpanId === undefined ? {} : { parentSpanId: span.parentSpanId }),
              name: span.name,
              kind: span.kind ?? 1,
              startTimeUnixNano: String(BigInt(T0 + span.startMs) * 1_000_000n),
              endTimeUnixNano: String(BigInt(T0 + span.endMs) * 1_000_000n),
              attributes: Object.entries(span.attributes ?? {}).map(([key, value]) => ({
                key,
                value: anyValue(value),
              })),
              ...(span.status === undefined ? {} : { status: span.status }),
            })),
          },
        ],
      },
    ],
  };
}

describeEachEngine('OTLP span mapping', (context) => {
  const server = useServer(context, { graceMs: 0, maxWaitMs: 600_000 });
  const patient = useServer(context, { graceMs: 600_000, maxWaitMs: 300 });

  async function send(app: FastifyInstance, authorization: string, body: object) {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { authorization },
      payload: body,
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({});
  }

  it('reads OpenInference names: agent, LLM token counts with cache reads, tool, input and output values', async () => {
    const project = context.project('otel-openinference');
    const key = await server.key([project]);
    const [traceId, root, llm, tool] = [hex(16), hex(8), hex(8), hex(8)];
    await send(
      server.app,
      key,
      exportOf(traceId, { 'service.name': 'support-bot', [PROJECT_ATTRIBUTE]: project }, [
        {
          spanId: root,
          name: 'AgentExecutor',
          startMs: 0,
          endMs: 900,
          attributes: {
            'openinference.span.kind': 'AGENT',
            'input.value': '{"question":"refund?"}',
            'output.value': 'Refund issued.',
            'enduser.id': 'cust-9',
          },
        },
        {
          spanId: llm,
          parentSpanId: root,
          name: 'ChatOpenAI',
          startMs: 10,
          endMs: 400,
          attributes: {
            'openinference.span.kind': 'LLM',
            'llm.model_name': 'gpt-4.1-mini',
            'llm.provider': 'openai',
            'llm.token_count.prompt': 10_000,
            'llm.token_count.prompt_details.cache_read': 4_000,
            'llm.token_count.completion': 1_000,
          },
        },
        {
          spanId: tool,
          parentSpanId: root,
          name: 'refund',
          startMs: 410,
          endMs: 800,
          attributes: {
            'openinference.span.kind': 'TOOL',
            'tool.name': 'refund',
            'execution_ledger.cost_cents': 2.5,
          },
        },
      ]),
    );
    await server.app.otlpIngest.tick();
    const run = await waitForRun(context, otelRunId(traceId, root));
    expect(run).toMatchObject({
      agent_id: 'support-bot',
      user_id: 'cust-9',
      intent: 'AgentExecutor',
      input: { question: 'refund?' },
      output: 'Refund issued.',
    });
    // gpt-4.1-mini: 6,000 fresh x 40 + 4,000 cached x 10 + 1,000 x 160 = 440,000 micro-cents.
    expect(run.execution_trace_json.steps).toMatchObject([
      {
        kind: 'llm',
        name: 'openai',
        model: 'gpt-4.1-mini',
        tokens: { input: 10_000, cached_input: 4_000 },
        cost: 0.44,
      },
      { kind: 'tool', name: 'refund', cost: 2.5, cost_source: 'reported' },
    ]);
    expect(run.cost_json).toMatchObject({ total: 2.94, breakdown: { tokens: 0.44, toolCalls: 2.5 } });
  });

  it('makes a lone model call its own run and step; a model without a price keeps its tokens, estimated', async () => {
    const project = context.project('otel-lone');
    const key = await server.key([project]);
    const [traceId, span] = [hex(16), hex(8)];
    await send(
      server.app,
      key,
      exportOf(traceId, { 'service.name': 'batch-job' }, [
        {
          spanId: span,
          name: 'chat mystery-model',
          startMs: 0,
          endMs: 50,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.request.model': 'mystery-model',
            'gen_ai.usage.input_tokens': 100,
            'gen_ai.usage.output_tokens': 7,
          },
        },
      ]),
    );
    await server.app.otlpIngest.tick();
    const run = await waitForRun(context, otelRunId(traceId, span));
    expect(run).toMatchObject({ project_id: project, agent_id: 'batch-job', user_id: 'anonymous' });
    const steps = run.execution_trace_json.steps as TypedStep[];
    expect(steps).toMatchObject([{ kind: 'llm', model: 'mystery-model', tokens: { input: 100, output: 7 } }]);
    expect(steps[0]?.cost).toBeUndefined();
    expect(run.cost_json).toMatchObject({
      total: 0,
      pricing: {
        source: 'estimated',
        unpriced: [{ model: 'mystery-model', input_tokens: 100, output_tokens: 7 }],
      },
    });
  });

  it('records a trace whose root never arrives once the maximum wait has passed, from the spans it has', async () => {
    const project = context.project('otel-orphan');
    const key = await patient.key([project]);
    const [traceId, missingRoot, agent, chat] = [hex(16), hex(8), hex(8), hex(8)];
    await send(
      patient.app,
      key,
      exportOf(traceId, { 'service.name': 'worker' }, [
        {
          spanId: agent,
          parentSpanId: missingRoot,
          name: 'invoke_agent worker',
          startMs: 0,
          endMs: 20,
          attributes: { 'gen_ai.operation.name': 'invoke_agent' },
        },
        {
          spanId: chat,
          parentSpanId: agent,
          name: 'chat',
          startMs: 1,
          endMs: 19,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.request.model': 'gpt-4o',
            'gen_ai.usage.input_tokens': 4,
          },
        },
      ]),
    );
    // No root span: the grace period never starts; nothing is recorded before the maximum wait.
    await patient.app.otlpIngest.tick();
    expect(await context.ledger.getExecutionByRunId(otelRunId(traceId, agent))).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 400));
    await patient.app.otlpIngest.tick();
    const run = await waitForRun(context, otelRunId(traceId, agent));
    expect(run).toMatchObject({ agent_id: 'worker', parent_run_id: null });
    expect(run.execution_trace_json.steps).toMatchObject([
      { kind: 'llm', tokens: { input: 4, output: 0 }, cost: 0.001 },
    ]);
  });

  it('puts a span before the spans below it that start in the same millisecond, and an ended sibling first, whatever their ids', async () => {
    const project = context.project('otel-same-start');
    const key = await server.key([project]);
    const traceId = hex(16);
    // Ids chosen so that ordering ties by id would put each child before its parent, and the
    // call before the guard that ended in the millisecond both started in.
    const [root, turn, guard, chat, tool] = [
      'f'.repeat(16),
      'e'.repeat(16),
      '3'.repeat(16),
      '2'.repeat(16),
      '1'.repeat(16),
    ];
    await send(
      server.app,
      key,
      exportOf(traceId, { 'service.name': 'same-start', [PROJECT_ATTRIBUTE]: project }, [
        {
          spanId: chat,
          parentSpanId: turn,
          name: 'chat',
          startMs: 5,
          endMs: 8,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.request.model': 'gpt-4o',
            'gen_ai.usage.output_tokens': 10,
          },
        },
        {
          spanId: tool,
          parentSpanId: chat,
          name: 'execute_tool lookup',
          startMs: 5,
          endMs: 6,
          attributes: {
            'gen_ai.operation.name': 'execute_tool',
            'gen_ai.tool.name': 'lookup',
          },
        },
        { spanId: turn, parentSpanId: root, name: 'turn', startMs: 5, endMs: 9 },
        { spanId: guard, parentSpanId: turn, name: 'guardrail', startMs: 5, endMs: 5 },
        {
          spanId: root,
          name: 'invoke_agent same',
          startMs: 5,
          endMs: 10,
          attributes: {
            'gen_ai.operation.name': 'invoke_agent',
          },
        },
      ]),
    );
    await server.app.otlpIngest.tick();
    const run = await waitForRun(context, otelRunId(traceId, root));
    expect(
      run.execution_trace_json.steps.map((step) => (step as TypedStep & { span_id: string }).span_id),
    ).toEqual([turn, guard, chat, tool]);
  });

  it("never takes another project's spans as steps of a run, even when they name its span as their parent", async () => {
    const [projectA, projectB] = [context.project('otel-victim'), context.project('otel-intruder')];
    const [keyA, keyB] = [await patient.key([projectA]), await patient.key([projectB])];
    const [traceId, root, chat, injected] = [hex(16), hex(8), hex(8), hex(8)];
    // B's key sends a costly model call under A's run first.
    await send(
      patient.app,
      keyB,
      exportOf(traceId, { 'service.name': 'intruder' }, [
        {
          spanId: injected,
          parentSpanId: root,
          name: 'chat',
          startMs: 2,
          endMs: 3,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.request.model': 'claude-opus-4',
            'gen_ai.usage.output_tokens': 1_000_000,
          },
        },
      ]),
    );
    await send(
      patient.app,
      keyA,
      exportOf(traceId, { 'service.name': 'victim' }, [
        {
          spanId: root,
          name: 'invoke_agent victim',
          startMs: 0,
          endMs: 10,
          attributes: { 'gen_ai.operation.name': 'invoke_agent' },
        },
        {
          spanId: chat,
          parentSpanId: root,
          name: 'chat',
          startMs: 1,
          endMs: 9,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.request.model': 'gpt-4o',
            'gen_ai.usage.output_tokens': 10,
          },
        },
      ]),
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    await patient.app.otlpIngest.tick();
    const run = await waitForRun(context, otelRunId(traceId, root));
    expect(run.execution_trace_json.steps).toMatchObject([{ span_id: chat, cost: 0.01 }]);
    expect(run.cost_json.total).toBe(0.01);
    expect((await context.ledger.listExecutions({ projectId: projectB }, { limit: 1 })).total).toBe(0);
  });
});

function useServer(context: EngineContext, otlp: { graceMs: number; maxWaitMs: number }) {
  let app: FastifyInstance | undefined;
  beforeAll(async () => {
    app = await buildServer({ ledger: context.ledger, otlp: { ...otlp, assembler: false } });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });
  return {
    get app() {
      if (app === undefined) throw new Error('server used before beforeAll');
      return app;
    },
    async key(projects: string[]) {
      const created = await new ApiKeyStore(context.ledger).create({
        name: 'otlp mapping',
        role: 'ingest',
        projects,
      });
      return `Bearer ${created.token}`;
    },
  };
}
