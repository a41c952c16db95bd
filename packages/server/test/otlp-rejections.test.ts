import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import {
  ApiKeyStore,
  buildServer,
  decodeExportResponse,
  type KeyRole,
  otelRunId,
  PROJECT_ATTRIBUTE,
  type ServerOptions,
} from '@execution-ledger/server';
import { describeEachEngine, type EngineContext } from '@execution-ledger/test-support';
import type { FastifyInstance, InjectOptions } from 'fastify';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForRun } from './support/otlp-harness.js';

// Every way POST /v1/traces refuses an export, each with its code and a message that says what
// to do, and each leaving the ledger and the staging tables as they were.

interface SpanSpec {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function resourceSpans(project: string | undefined, spans: SpanSpec[]) {
  const now = BigInt(Date.now()) * 1_000_000n;
  return {
    resource: {
      attributes: [
        { key: 'service.name', value: { stringValue: 'refusals' } },
        ...(project === undefined ? [] : [{ key: PROJECT_ATTRIBUTE, value: { stringValue: project } }]),
      ],
    },
    scopeSpans: [
      {
        scope: { name: 'refusals' },
        spans: spans.map((spec) => ({
          traceId: spec.traceId ?? hex(16),
          spanId: spec.spanId ?? hex(8),
          ...(spec.parentSpanId === undefined ? {} : { parentSpanId: spec.parentSpanId }),
          name: spec.name ?? 'invoke_agent refusals',
          kind: 1,
          startTimeUnixNano: String(now),
          endTimeUnixNano: String(now + 5_000_000n),
          attributes: [{ key: 'gen_ai.operation.name', value: { stringValue: 'invoke_agent' } }],
        })),
      },
    ],
  };
}

const exportOf = (...resources: ReturnType<typeof resourceSpans>[]) => ({ resourceSpans: resources });

describeEachEngine('POST /v1/traces refusals', (context) => {
  const server = useServer(context, { otlp: { graceMs: 0, assembler: false } });
  const [projectA, projectB] = [context.project('otlp-refuse-a'), context.project('otlp-refuse-b')];

  /** Sends, then checks that nothing was staged or recorded for either project. */
  async function refused(request: InjectOptions, status: number, code: string, message: RegExp) {
    const before = await stagedHere(server.app);
    const response = await server.app.inject({ method: 'POST', url: '/v1/traces', ...request });
    expect(response.json(), response.body).toMatchObject({ statusCode: status, code });
    expect(response.statusCode).toBe(status);
    expect(response.json().message).toMatch(message);
    expect(await stagedHere(server.app)).toBe(before);
    await server.app.otlpIngest.tick();
    for (const project of [projectA, projectB]) {
      expect((await context.ledger.listExecutions({ projectId: project }, { limit: 1 })).total).toBe(0);
    }
    return response;
  }

  it('refuses a content type that is not OTLP (415), naming both encodings', async () => {
    const authorization = await server.key('ingest', [projectA]);
    await refused(
      { headers: { authorization, 'content-type': 'text/plain' }, payload: 'hello' },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /application\/x-protobuf.*application\/json/,
    );
  });

  it('refuses bytes that are not an ExportTraceServiceRequest (400), and JSON that does not parse', async () => {
    const authorization = await server.key('ingest', [projectA]);
    await refused(
      {
        headers: { authorization, 'content-type': 'application/x-protobuf' },
        payload: Buffer.from('this is not a protobuf message'),
      },
      400,
      'VALIDATION_FAILED',
      /not an OTLP ExportTraceServiceRequest in protobuf/,
    );
    await refused(
      { headers: { authorization, 'content-type': 'application/json' }, payload: '{"resourceSpans": [' },
      400,
      'VALIDATION_FAILED',
      /not valid JSON/,
    );
    await refused(
      {
        headers: { authorization, 'content-type': 'application/json', 'content-encoding': 'gzip' },
        payload: Buffer.from('not gzip'),
      },
      400,
      'VALIDATION_FAILED',
      /does not inflate/,
    );
    await refused(
      {
        headers: { authorization, 'content-type': 'application/json', 'content-encoding': 'br' },
        payload: Buffer.from('{}'),
      },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /content-encoding "br" is not supported/,
    );
  });

  it('refuses an unknown or missing key (401) and a read key (403)', async () => {
    const body = exportOf(resourceSpans(projectA, [{}]));
    await refused({ headers: {}, payload: body }, 401, 'UNAUTHENTICATED', /API key/);
    await refused(
      { headers: { authorization: 'Bearer elk_nothing_like_a_key' }, payload: body },
      401,
      'UNAUTHENTICATED',
      /API key/,
    );
    const read = await server.key('read', [projectA]);
    await refused({ headers: { authorization: read }, payload: body }, 403, 'PERMISSION_DENIED', /role read/);
  });

  it('refuses spans of a project the key is not bound to (403), and spans naming no project when the key has several (400)', async () => {
    const keyOfB = await server.key('ingest', [projectB]);
    await refused(
      { headers: { authorization: keyOfB }, payload: exportOf(resourceSpans(projectA, [{}])) },
      403,
      'PERMISSION_DENIED',
      /not bound to project/,
    );
    const keyOfBoth = await server.key('ingest', [projectA, projectB]);
    await refused(
      { headers: { authorization: keyOfBoth }, payload: exportOf(resourceSpans(undefined, [{}])) },
      400,
      'VALIDATION_FAILED',
      /name no project: set the resource attribute execution_ledger\.project/,
    );
    const keyOfAll = await server.key('ingest', null);
    await refused(
      { headers: { authorization: keyOfAll }, payload: exportOf(resourceSpans(undefined, [{}])) },
      400,
      'VALIDATION_FAILED',
      /exactly one project/,
    );
  });

  it('answers a partial success that counts and names each refused span, and stages the others', async () => {
    const keyOfBoth = await server.key('ingest', [projectA, projectB]);
    const good = { traceId: hex(16), spanId: hex(8) };
    const badId = { spanId: hex(8), traceId: 'abc' };
    const noProject = { spanId: hex(8) };
    const response = await server.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { authorization: keyOfBoth },
      payload: exportOf(resourceSpans(projectA, [good, badId]), resourceSpans(undefined, [noProject])),
    });
    expect(response.statusCode).toBe(200);
    const partial = response.json().partialSuccess;
    expect(partial.rejectedSpans).toBe('2');
    expect(partial.errorMessage).toContain(`span ${badId.spanId}: VALIDATION_FAILED`);
    expect(partial.errorMessage).toContain('traceId must be 16 bytes');
    expect(partial.errorMessage).toContain(`span ${noProject.spanId}: VALIDATION_FAILED`);
    expect(partial.errorMessage).toContain(PROJECT_ATTRIBUTE);
    // The span that passed is recorded as its run once assembled.
    await server.app.otlpIngest.tick();
    await waitForRun(context, otelRunId(good.traceId, good.spanId));
    const runs = await context.ledger.listExecutions({ projectId: projectA }, { limit: 10 });
    expect(runs.data.map((run) => run.run_id)).toEqual([otelRunId(good.traceId, good.spanId)]);
    await expectNoRunsLeft(context, projectB);
  });

  it('answers in protobuf to a protobuf export, with the partial success as OTLP defines it', async () => {
    const keyOfA = await server.key('ingest', [projectA]);
    const request = root.lookupType('opentelemetry.proto.ExportTraceServiceRequest');
    const spanId = hex(8);
    const body = request
      .encode(
        request.fromObject({
          resourceSpans: [
            {
              resource: { attributes: [{ key: PROJECT_ATTRIBUTE, value: { stringValue: projectA } }] },
              scopeSpans: [
                {
                  spans: [
                    {
                      traceId: Buffer.alloc(16),
                      spanId: Buffer.from(spanId, 'hex'),
                      name: 'all-zero trace id',
                      startTimeUnixNano: 1,
                      endTimeUnixNano: 2,
                    },
                    {
                      traceId: randomBytes(16),
                      spanId: randomBytes(8),
                      name: 'fine',
                      startTimeUnixNano: 1,
                      endTimeUnixNano: 2,
                    },
                  ],
                },
              ],
            },
          ],
        }),
      )
      .finish();
    const response = await server.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: {
        authorization: keyOfA,
        'content-type': 'application/x-protobuf',
        'content-encoding': 'gzip',
      },
      payload: gzipSync(body),
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-protobuf');
    const partial = await decodeExportResponse(response.rawPayload);
    expect(partial.rejectedSpans).toBe(1);
    expect(partial.errorMessage).toContain(`span ${spanId}: VALIDATION_FAILED`);
    expect(partial.errorMessage).toContain('not all zero');
    await server.app.otlpIngest.tick();
  });

  describe('limits', () => {
    const small = useServer(context, { bodyLimitBytes: 4_096, otlp: { assembler: false } });
    const full = useServer(context, { otlp: { stagedSpansMax: 0, assembler: false } });
    const limited = useServer(context, {
      rateLimit: { requestsMax: 1, windowMs: 60_000 },
      otlp: { graceMs: 0, assembler: false },
    });

    it('refuses a body over the limit, or a gzip body that inflates past it (413)', async () => {
      const authorization = await small.key('ingest', [projectA]);
      const big = JSON.stringify(
        exportOf(
          resourceSpans(
            projectA,
            Array.from({ length: 40 }, () => ({})),
          ),
        ),
      );
      expect(big.length).toBeGreaterThan(4_096);
      for (const request of [
        { headers: { authorization, 'content-type': 'application/json' }, payload: big },
        {
          headers: { authorization, 'content-type': 'application/json', 'content-encoding': 'gzip' },
          payload: gzipSync(big),
        },
      ]) {
        const response = await small.app.inject({ method: 'POST', url: '/v1/traces', ...request });
        expect(response.statusCode).toBe(413);
        expect(response.json().code).toBe('PAYLOAD_TOO_LARGE');
      }
      expect(await stagedHere(small.app)).toBe(0);
    });

    it('asks exporters to retry later while staging is full (503 with Retry-After)', async () => {
      const authorization = await full.key('ingest', [projectA]);
      const response = await full.app.inject({
        method: 'POST',
        url: '/v1/traces',
        headers: { authorization },
        payload: exportOf(resourceSpans(projectA, [{}])),
      });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ code: 'INGEST_BACKLOG' });
      expect(response.json().message).toMatch(/retry after/);
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    });

    it('answers 429 with Retry-After past the rate limit', async () => {
      const authorization = await limited.key('ingest', [projectA]);
      const span = { traceId: hex(16), spanId: hex(8), name: 'rate limited' };
      const send = () =>
        limited.app.inject({
          method: 'POST',
          url: '/v1/traces',
          headers: { authorization },
          payload: exportOf(resourceSpans(projectA, [span])),
        });
      expect((await send()).statusCode).toBe(200);
      const second = await send();
      expect(second.statusCode).toBe(429);
      expect(second.json().code).toBe('RATE_LIMITED');
      expect(Number(second.headers['retry-after'])).toBeGreaterThan(0);
      // The accepted span is recorded like any other.
      await limited.app.otlpIngest.tick();
      await waitForRun(context, otelRunId(span.traceId, span.spanId));
    });
  });
});

const root = protobuf.loadSync(fileURLToPath(new URL('../proto/otlp-trace.proto', import.meta.url)));

/**
 * Spans this server staged, from its own metrics: staging itself is shared by every server on
 * the database, and other files' servers stage and assemble at the same time.
 */
async function stagedHere(app: FastifyInstance): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  return Number(/execution_ledger_otlp_spans_total\{outcome="staged"\} (\d+)/.exec(text)?.[1] ?? 0);
}

async function expectNoRunsLeft(context: EngineContext, projectId: string) {
  expect((await context.ledger.listExecutions({ projectId }, { limit: 1 })).total).toBe(0);
}

function useServer(context: EngineContext, options: Omit<ServerOptions, 'ledger'>) {
  let app: FastifyInstance | undefined;
  beforeAll(async () => {
    app = await buildServer({ ledger: context.ledger, ...options });
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
    async key(role: KeyRole, projects: string[] | null) {
      const created = await new ApiKeyStore(context.ledger).create({ name: `otlp ${role}`, role, projects });
      return `Bearer ${created.token}`;
    },
  };
}
