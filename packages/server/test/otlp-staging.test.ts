import { randomBytes } from 'node:crypto';
import { buildServer, type OtlpIngest, otelRunId } from '@execution-ledger/server';
import { describeEachEngine, present } from '@execution-ledger/test-support';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitForRun } from './support/otlp-harness.js';

// Staging in groups: exports that arrive while a staging statement is in flight go together in
// the next one, each answered with its own counts; a failing export fails alone. The assembler
// reads, records and finishes many traces per statement. Exports issued in the same turn of the
// event loop always form one group (the group starts on the next turn).

type ProjectSpan = Parameters<OtlpIngest['staging']['stage']>[0][number];

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const T0_NS = BigInt(Date.UTC(2026, 11, 6, 12, 0, 0)) * 1_000_000n;

function spanOf(
  project: string,
  traceId: string,
  spanId: string,
  options: { parent?: string; name?: string; startMs?: number; attributes?: ProjectSpan['attributes'] } = {},
): ProjectSpan {
  return {
    project_id: project,
    trace_id: traceId,
    span_id: spanId,
    parent_span_id: options.parent ?? null,
    name: options.name ?? 'span',
    kind: 1,
    start_ns: String(T0_NS + BigInt(options.startMs ?? 0) * 1_000_000n),
    end_ns: String(T0_NS + BigInt((options.startMs ?? 0) + 1) * 1_000_000n),
    attributes: options.attributes ?? {},
    status: { code: 0, message: '' },
    events: [],
    resource: { 'service.name': 'staging-test' },
    scope: { name: 'test', version: '1' },
  };
}

describeEachEngine('OTLP staging in groups', (context) => {
  let app: FastifyInstance;
  // No assembler loop: the tests tick it themselves.
  beforeAll(async () => {
    app = await buildServer({
      ledger: context.ledger,
      rateLimit: false,
      otlp: { assembler: false, graceMs: 0 },
    });
  });
  afterAll(async () => {
    await app.close();
  });

  it('stages exports that arrive together in one statement, each answered with its own counts', async () => {
    const staging = app.otlpIngest.staging;
    const project = context.project('otel-group');
    const [traceA, traceB, recordedTrace] = [hex(16), hex(16), hex(16)];
    const [a1, a2, b1, r1] = [hex(8), hex(8), hex(8), hex(8)];
    // A trace already recorded: its spans are late.
    await staging.stage([spanOf(project, recordedTrace, hex(8))], 'key-0');
    await staging.finishTraces([{ traceId: recordedTrace, runs: 0 }]);
    const before = staging.statements;
    const answers = await Promise.all([
      staging.stage([spanOf(project, traceA, a1), spanOf(project, traceA, a2, { name: 'first' })], 'key-1'),
      // a2 again (the first export of the group claims it) and a new span of trace B.
      staging.stage([spanOf(project, traceA, a2, { name: 'second' }), spanOf(project, traceB, b1)], 'key-2'),
      // b1 again, and a span of the recorded trace.
      staging.stage([spanOf(project, traceB, b1), spanOf(project, recordedTrace, r1)], 'key-3'),
      // a1 twice in one export, both already claimed.
      staging.stage([spanOf(project, traceA, a1), spanOf(project, traceA, a1)], 'key-4'),
    ]);
    expect(staging.statements - before).toBe(1);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain(`execution_ledger_otlp_staging_statements_total ${staging.statements}`);
    expect(answers).toEqual([
      { accepted: 2, duplicates: 0, late: 0 },
      { accepted: 1, duplicates: 1, late: 0 },
      { accepted: 0, duplicates: 1, late: 1 },
      { accepted: 0, duplicates: 2, late: 0 },
    ]);
    const spansA = await staging.traceSpans(traceA);
    expect(spansA.map((span) => span.span_id).sort()).toEqual([a1, a2].sort());
    expect(spansA.find((span) => span.span_id === a2)?.name).toBe('first');
    expect((await staging.traceSpans(traceB)).map((span) => span.span_id)).toEqual([b1]);
    expect(await staging.traceSpans(recordedTrace)).toEqual([]);
    // Sent again later, alone: every span is a duplicate now.
    expect(await staging.stage([spanOf(project, traceA, a1)], 'key-5')).toEqual({
      accepted: 0,
      duplicates: 1,
      late: 0,
    });
    await staging.finishTraces([
      { traceId: traceA, runs: 0 },
      { traceId: traceB, runs: 0 },
    ]);
  });

  it('fails only the export the database refuses; the others of its group are staged', async () => {
    const staging = app.otlpIngest.staging;
    const project = context.project('otel-group-fail');
    const [traceA, traceB] = [hex(16), hex(16)];
    const before = staging.statements;
    const answers = await Promise.allSettled([
      staging.stage([spanOf(project, traceA, hex(8))], 'key-1'),
      // A trace id the staging table's check refuses (the decoder never lets one through).
      staging.stage([spanOf(project, 'not-a-trace-id', hex(8))], 'key-2'),
      staging.stage([spanOf(project, traceB, hex(8)), spanOf(project, traceB, hex(8))], 'key-3'),
    ]);
    // The group's statement, then each export alone.
    expect(staging.statements - before).toBe(4);
    expect(answers[0]).toEqual({ status: 'fulfilled', value: { accepted: 1, duplicates: 0, late: 0 } });
    expect(answers[1]?.status).toBe('rejected');
    expect(String((answers[1] as PromiseRejectedResult).reason)).toMatch(/otlp_spans_trace_id_check/);
    expect(answers[2]).toEqual({ status: 'fulfilled', value: { accepted: 2, duplicates: 0, late: 0 } });
    expect(await staging.traceSpans(traceA)).toHaveLength(1);
    expect(await staging.traceSpans(traceB)).toHaveLength(2);
    await staging.finishTraces([
      { traceId: traceA, runs: 0 },
      { traceId: traceB, runs: 0 },
    ]);
  });

  it('takes a trace without invoke_agent once its root arrived and it was quiet for the grace period: one run at the root', async () => {
    const staging = app.otlpIngest.staging;
    const project = context.project('otel-rootless');
    const [traceId, root, chat, tool, late] = [hex(16), hex(8), hex(8), hex(8), hex(8)];
    const ready = async (graceMs: number) =>
      (await staging.readyTraces(graceMs, 600_000, 100_000)).includes(traceId);
    // Children first, as exporters send them (a span is exported when it ends).
    await staging.stage(
      [
        spanOf(project, traceId, chat, {
          parent: root,
          name: 'chat gpt-4o',
          startMs: 1,
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.request.model': 'gpt-4o',
            'gen_ai.usage.input_tokens': 1_000,
            'gen_ai.usage.output_tokens': 100,
          },
        }),
        spanOf(project, traceId, tool, {
          parent: root,
          name: 'execute_tool search',
          startMs: 2,
          attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' },
        }),
      ],
      'key-1',
    );
    // No root yet: not ready, whatever the grace period.
    expect(await ready(0)).toBe(false);
    await staging.stage([spanOf(project, traceId, root, { name: 'POST /ask' })], 'key-1');
    // The root's arrival starts the grace period.
    expect(await ready(60_000)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    // A span arriving after the root (another service's late batch) starts it again.
    await staging.stage(
      [spanOf(project, traceId, late, { parent: root, name: 'cache lookup', startMs: 3 })],
      'key-1',
    );
    expect(await ready(1_500)).toBe(false);
    // Other servers on this database may assemble the trace as soon as it is ready for them.
    const recordedElsewhere = async () =>
      (await context.ledger.getExecutionByRunId(otelRunId(traceId, root))) !== null;
    expect((await ready(0)) || (await recordedElsewhere())).toBe(true);
    await app.otlpIngest.tick();
    const run = await waitForRun(context, otelRunId(traceId, root));
    expect(run).toMatchObject({ project_id: project, agent_id: 'staging-test', intent: 'POST /ask' });
    expect(
      (run.execution_trace_json.steps as { kind: string; action: string }[]).map((step) => [
        step.kind,
        step.action,
      ]),
    ).toEqual([
      ['llm', 'chat gpt-4o'],
      ['tool', 'execute_tool search'],
      ['other', 'cache lookup'],
    ]);
    expect(run.cost_json.total).toBe(0.35);
    const listed = await context.ledger.listExecutions({ projectId: project }, { limit: 10 });
    expect(listed.total).toBe(1);
  });

  it('assembles more traces than one group holds in one tick: every run recorded once, staging cleared', async () => {
    const staging = app.otlpIngest.staging;
    const project = context.project('otel-many');
    const traces = Array.from({ length: 60 }, () => ({ traceId: hex(16), root: hex(8), chat: hex(8) }));
    await Promise.all(
      traces.map(({ traceId, root, chat }, index) =>
        staging.stage(
          [
            spanOf(project, traceId, root, {
              name: `invoke_agent agent-${index}`,
              attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': `agent-${index}` },
            }),
            spanOf(project, traceId, chat, {
              parent: root,
              name: 'chat',
              attributes: {
                'gen_ai.operation.name': 'chat',
                'gen_ai.request.model': 'gpt-4o',
                'gen_ai.usage.input_tokens': 1_000,
                'gen_ai.usage.output_tokens': 100,
              },
            }),
          ],
          'key-1',
        ),
      ),
    );
    // Other servers on this database may assemble some of these traces first: a run is then a replay.
    await app.otlpIngest.tick();
    for (const [index, { traceId, root }] of traces.entries()) {
      const run = await waitForRun(context, otelRunId(traceId, root));
      expect(run).toMatchObject({ project_id: project, agent_id: `agent-${index}` });
      // gpt-4o: 1,000 input tokens at $2.50/M and 100 output at $10/M = 0.35 cents.
      expect(run.cost_json.total).toBe(0.35);
      expect(await staging.traceSpans(traceId)).toEqual([]);
    }
    const listed = await context.ledger.listExecutions({ projectId: project }, { limit: 100 });
    expect(listed.total).toBe(traces.length);
    expect(present(listed.data[0]).execution_trace_json.steps).toHaveLength(1);
  });
});
