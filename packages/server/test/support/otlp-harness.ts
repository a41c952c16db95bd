import { ApiKeyStore, buildServer, type KeyRole, type ServerOptions } from '@execution-ledger/server';
import type { EngineContext } from '@execution-ledger/test-support';
import {
  type Context,
  ROOT_CONTEXT,
  type Span,
  type SpanOptions,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { ExecutionRecord } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';

/** A listening server for real OTLP exporters, with a short grace period so tests do not wait 30 s. */
export interface OtlpHarness {
  readonly app: FastifyInstance;
  readonly url: string;
  key(role: KeyRole, projects: string[] | null): Promise<string>;
}

export function useOtlpServer(
  context: EngineContext,
  options: Omit<ServerOptions, 'ledger'> = {},
): OtlpHarness {
  let app: FastifyInstance | undefined;
  let url = '';
  beforeAll(async () => {
    app = await buildServer({
      ledger: context.ledger,
      rateLimit: false,
      ...options,
      otlp: { graceMs: 150, tickMs: 50, ...options.otlp },
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
  });
  return {
    get app() {
      if (app === undefined) throw new Error('server used before beforeAll');
      return app;
    },
    get url() {
      return url;
    },
    async key(role, projects) {
      const created = await new ApiKeyStore(context.ledger).create({ name: `otlp ${role}`, role, projects });
      return `Bearer ${created.token}`;
    },
  };
}

export type Encoding = 'protobuf' | 'json';

/** A tracer provider of one service exporting each span as it ends (many small, out-of-order batches). */
export function tracerFor(
  harness: OtlpHarness,
  authorization: string,
  resource: Record<string, string>,
  encoding: Encoding = 'protobuf',
  compression: 'gzip' | 'none' = 'gzip',
): { tracer: Tracer; provider: BasicTracerProvider; exporter: SpanExporter } {
  const config = {
    url: `${harness.url}/v1/traces`,
    headers: { authorization },
    compression: compression as never,
  };
  const exporter: SpanExporter =
    encoding === 'protobuf' ? new ProtoExporter(config) : new JsonExporter(config);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  return { tracer: provider.getTracer('execution-ledger-test', '1.0.0'), provider, exporter };
}

/**
 * A Node tracer provider of one service exporting each span as it ends by the OTLP protobuf
 * exporter (gzip). Its register() installs the AsyncLocalStorage context manager, through which
 * the spans of instrumented libraries find their parents.
 */
export function nodeProviderFor(
  harness: OtlpHarness,
  authorization: string,
  resource: Record<string, string>,
): NodeTracerProvider {
  return new NodeTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [
      new SimpleSpanProcessor(
        new ProtoExporter({
          url: `${harness.url}/v1/traces`,
          headers: { authorization },
          compression: 'gzip' as never,
        }),
      ),
    ],
  });
}

/** A span started at `startMs` under `parent` (a context or a span), ended by the caller. */
export function startSpan(
  tracer: Tracer,
  name: string,
  parent: Span | Context | undefined,
  startMs: number,
  options: SpanOptions = {},
): Span {
  const context =
    parent === undefined
      ? ROOT_CONTEXT
      : 'spanContext' in parent
        ? trace.setSpan(ROOT_CONTEXT, parent)
        : parent;
  return tracer.startSpan(name, { ...options, startTime: startMs }, context);
}

/** Polls the ledger until the run is recorded (the assembler works in the background). */
export async function waitForRun(
  context: EngineContext,
  runId: string,
  timeoutMs = 15_000,
): Promise<ExecutionRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = await context.ledger.getExecutionByRunId(runId);
    if (record !== null) return record;
    if (Date.now() > deadline) throw new Error(`run ${runId} was not recorded in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls the ledger until the project holds at least `count` runs; returns them (newest first). */
export async function waitForProjectRuns(
  context: EngineContext,
  projectId: string,
  count: number,
  timeoutMs = 15_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = await context.ledger.listExecutions({ projectId }, { limit: 100 });
    // The rows, not the total: the two are read by two statements, and a run committed between
    // them counts in the total without being in the page.
    if (page.data.length >= count) return page.data;
    if (Date.now() > deadline)
      throw new Error(`project ${projectId} has ${page.total} runs, expected ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until staging holds no span of the trace: its runs are recorded and it was cleaned. */
export async function waitForCleanedTrace(
  app: FastifyInstance,
  traceId: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await app.otlpIngest.staging.traceSpans(traceId)).length > 0) {
    if (Date.now() > deadline) throw new Error(`OTLP staging still holds spans of trace ${traceId}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function spanIdOf(span: Span): string {
  return span.spanContext().spanId;
}

export function traceIdOf(span: Span): string {
  return span.spanContext().traceId;
}
