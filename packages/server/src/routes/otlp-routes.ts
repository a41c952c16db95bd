import type { FastifyInstance } from 'fastify';
import { OTLP_REFUSALS_NAMED_MAX } from '../bounds.js';
import { callerKey, type ServerContext } from '../http/server-context.js';
import {
  decodeExportRequest,
  encodeExportResponse,
  inflateBody,
  otlpEncoding,
  type SpanRefusal,
} from '../otlp/otlp-decode.js';
import { OtlpIngest, type OtlpOptions } from '../otlp/otlp-ingest.js';

export type { OtlpOptions };

import { PROJECT_ATTRIBUTE } from '../otlp/otlp-span.js';
import { errorResponses, securedRoute } from '../schemas/common-schemas.js';

const partialSuccessSchema = {
  type: 'object',
  description:
    'OTLP ExportTraceServiceResponse (in the encoding of the request). partialSuccess is present only when some spans were refused.',
  properties: {
    partialSuccess: {
      type: 'object',
      properties: {
        rejectedSpans: {
          type: 'string',
          description: 'How many spans were refused (int64 as text, as OTLP/JSON writes it).',
        },
        errorMessage: { type: 'string', description: 'Each refused span id (or position) and why.' },
      },
    },
  },
} as const;

/**
 * POST /v1/traces: OTLP/HTTP trace export (protobuf or JSON, optionally gzip) with an ingest
 * key. Spans are staged durably before the answer and assembled into runs later (docs/otel.md).
 */
export function registerOtlpRoutes(
  app: FastifyInstance,
  context: ServerContext,
  options: OtlpOptions = {},
): void {
  const ingest = new OtlpIngest(context.ledger, context.metrics.registry, app.log, options);
  app.addHook('onReady', async () => ingest.start());
  app.addHook('preClose', async () => ingest.stop());
  app.decorate('otlpIngest', ingest);
  app.register(async (scope) => {
    const bytesMax = scope.initialConfig.bodyLimit ?? 1024 * 1024;
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      ['application/x-protobuf', 'application/json'],
      { parseAs: 'buffer' },
      (_request, body, done) => done(null, body),
    );
    // Any other type is read like the others (within the body limit) and refused with a 415
    // that names the two encodings.
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      try {
        otlpEncoding(request.headers['content-type']);
        done(null, body);
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    scope.post<{ Body: Buffer }>(
      '/v1/traces',
      {
        config: { permission: 'append' },
        schema: {
          ...securedRoute,
          tags: ['opentelemetry'],
          summary: 'Receive spans by OTLP/HTTP',
          description:
            'An OTLP/HTTP ExportTraceServiceRequest, as application/x-protobuf or application/json, plain or ' +
            'gzip (content-encoding). Spans are stored before the answer and recorded as runs once their ' +
            'trace ended (docs/otel.md). The project is the resource attribute ' +
            `${PROJECT_ATTRIBUTE}, else the key's only project. Spans refused are counted and named in ` +
            'partialSuccess; when every span is refused the answer is the error of the first.',
          response: { 200: partialSuccessSchema, ...errorResponses },
        },
      },
      async (request, reply) => {
        const encoding = otlpEncoding(request.headers['content-type']);
        const body = inflateBody(
          request.body,
          request.headers['content-encoding'] as string | undefined,
          bytesMax,
        );
        const resources = await decodeExportRequest(body, encoding);
        const outcome = await ingest.ingest(resources, callerKey(request));
        const { refused } = outcome;
        if (refused.length > 0 && outcome.accepted + outcome.duplicates + outcome.late === 0) {
          throw (refused[0] as SpanRefusal).error;
        }
        const partial = refused.length === 0 ? undefined : partialSuccess(refused);
        const answer = await encodeExportResponse(encoding, partial);
        if (Buffer.isBuffer(answer)) {
          return reply.code(200).type('application/x-protobuf').send(answer);
        }
        return reply.code(200).type('application/json').send(answer);
      },
    );
  });
}

function partialSuccess(refused: SpanRefusal[]): { rejectedSpans: number; errorMessage: string } {
  const named = refused
    .slice(0, OTLP_REFUSALS_NAMED_MAX)
    .map((refusal) => `span ${refusal.span}: ${refusal.error.code}: ${refusal.error.message}`);
  const more = refused.length - named.length;
  return {
    rejectedSpans: refused.length,
    errorMessage: `${refused.length} span(s) refused; ${named.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** OTLP ingest of this server: staging and its assembler (tests drive `tick()`). */
    otlpIngest: OtlpIngest;
  }
}
