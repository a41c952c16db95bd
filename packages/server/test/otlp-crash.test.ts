import { randomBytes } from 'node:crypto';
import { otelRunId, PROJECT_ATTRIBUTE } from '@execution-ledger/server';
import { describeEachEngine } from '@execution-ledger/test-support';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { ExecutionRecord, TypedStep } from 'execution-ledger';
import { expect, it } from 'vitest';
import { cliDatabase, type RunningServer, SERVE_PROCESS_TEST_MS, startServe } from './support/cli-process.js';

// The service process killed (SIGKILL, no shutdown) between two batches of one trace: what it
// acknowledged was staged durably, so after a restart the trace is recorded once and complete.

/** Sends to whichever server is up now: one exporter for the whole trace, as an SDK would have. */
class SwitchableExporter implements SpanExporter {
  current: OTLPTraceExporter | undefined;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (this.current === undefined) throw new Error('no server to export to');
    this.current.export(spans, done);
  }
  async shutdown(): Promise<void> {
    await this.current?.shutdown();
  }
  async forceFlush(): Promise<void> {
    await this.current?.forceFlush();
  }
}

describeEachEngine('OTLP ingest across a crash of the service', (context) => {
  it(
    'records the trace once and complete when the service is killed between its two batches and restarted',
    async () => {
      const database = await cliDatabase(context.engine);
      const adminKey = `otlp-crash-${randomBytes(24).toString('hex')}`;
      const authorization = `Bearer ${adminKey}`;
      const start = () =>
        startServe(['--database', database.target], { EXECUTION_LEDGER_ADMIN_KEY: adminKey }, [
          '--otlp-grace',
          '200',
        ]);
      const project = context.project('otel-crash');
      const switchable = new SwitchableExporter();
      const useServer = (server: RunningServer) => {
        switchable.current = new OTLPTraceExporter({
          url: `${server.url}/v1/traces`,
          headers: { authorization },
        });
      };
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': 'crash-agent', [PROJECT_ATTRIBUTE]: project }),
        spanProcessors: [new SimpleSpanProcessor(switchable)],
      });
      const tracer = provider.getTracer('crash');
      let server = await start();
      try {
        useServer(server);
        const root = tracer.startSpan('invoke_agent crash-agent', {
          attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'crash-agent' },
        });
        const inRoot = trace.setSpan(ROOT_CONTEXT, root);
        // Start times given: the SDK takes a span's start from Date.now(), so two spans begun in the
        // same millisecond tie and the assembly orders them by span id.
        const begun = Date.now();
        const chat = tracer.startSpan(
          'chat gpt-4o',
          {
            startTime: begun + 1,
            attributes: {
              'gen_ai.operation.name': 'chat',
              'gen_ai.request.model': 'gpt-4o',
              'gen_ai.usage.input_tokens': 4_000,
              'gen_ai.usage.output_tokens': 1_000,
            },
          },
          inRoot,
        );
        chat.end(begun + 5);
        const tool = tracer.startSpan(
          'execute_tool search',
          {
            startTime: begun + 6,
            attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search' },
          },
          inRoot,
        );
        tool.end(begun + 8);
        // First batch acknowledged: then the process dies without a chance to clean up.
        await provider.forceFlush();
        server.child.kill('SIGKILL');
        await server.exited;

        server = await start();
        useServer(server);
        root.end();
        await provider.forceFlush();
        const runId = otelRunId(root.spanContext().traceId, root.spanContext().spanId);
        const run = await waitForRun(server.url, authorization, runId);
        expect(run).toMatchObject({ agent_id: 'crash-agent', project_id: project, status: 'completed' });
        expect(
          (run.execution_trace_json.steps as TypedStep[]).map((step) => [step.kind, step.action]),
        ).toEqual([
          ['llm', 'chat gpt-4o'],
          ['tool', 'execute_tool search'],
        ]);
        // gpt-4o: 4,000 x 250 + 1,000 x 1,000 cents per million.
        expect(run.cost_json.total).toBe(2);

        // The exporter resends the first batch (it never saw the answer, say): nothing changes.
        const again = new OTLPTraceExporter({ url: `${server.url}/v1/traces`, headers: { authorization } });
        await new Promise<void>((resolve) =>
          again.export([chat as unknown as ReadableSpan], () => resolve()),
        );
        await new Promise((resolve) => setTimeout(resolve, 600));
        const list = await fetch(`${server.url}/v1/projects/${project}/executions`, {
          headers: { authorization },
        });
        const page = (await list.json()) as { total: number; data: ExecutionRecord[] };
        expect(page.total).toBe(1);
        expect(page.data[0]?.entry_hash).toBe(run.entry_hash);
      } finally {
        await provider.shutdown();
        server.child.kill('SIGTERM');
        await server.exited;
        await database.cleanup();
      }
    },
    SERVE_PROCESS_TEST_MS,
  );
});

async function waitForRun(url: string, authorization: string, runId: string): Promise<ExecutionRecord> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const response = await fetch(`${url}/v1/executions/${runId}`, { headers: { authorization } });
    if (response.status === 200) return (await response.json()) as ExecutionRecord;
    if (Date.now() > deadline) throw new Error(`run ${runId} was not recorded: ${response.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
