import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import {
  EXPORT_CONTENT_TYPES,
  EXPORT_FORMATS,
  type ExportFormat,
  exportChunks,
} from '../export/export-stream.js';
import { callerKey, type ServerContext } from '../http/server-context.js';
import { requireProject } from '../keys/access-policy.js';
import {
  errorResponses,
  projectParams,
  securedRoute,
  statusFilterProperty,
  timeRangeProperties,
} from '../schemas/common-schemas.js';
import { type ListQuery, toFilter } from './execution-read-routes.js';

/** A project's executions as CSV or NDJSON, streamed oldest first. */
export function registerExportRoutes(app: FastifyInstance, context: ServerContext): void {
  app.get<{ Params: { projectId: string }; Querystring: ListQuery & { format?: ExportFormat } }>(
    '/v1/projects/:projectId/export',
    {
      config: { permission: 'export' },
      schema: {
        ...securedRoute,
        tags: ['export'],
        summary: "Export a project's executions (CSV or NDJSON), streamed",
        description:
          'CSV has a header and the documented columns; NDJSON has one full record per line, hashes included.',
        params: projectParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            format: { type: 'string', enum: [...EXPORT_FORMATS], default: 'ndjson' },
            ...statusFilterProperty,
            ...timeRangeProperties,
          },
        },
        response: {
          200: {
            description: 'The export, streamed.',
            content: {
              'text/csv': { schema: { type: 'string' } },
              'application/x-ndjson': { schema: { type: 'string' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      requireProject(callerKey(request), projectId);
      const format = request.query.format ?? 'ndjson';
      const filter = { ...toFilter(request.query), projectId };
      const stream = Readable.from(exportChunks(context.ledger, filter, format));
      // A failure after the first bytes cannot change the status any more: log it, cut the stream.
      stream.on('error', (error) => request.log.error({ err: error }, 'export stream failed'));
      const extension = format === 'csv' ? 'csv' : 'ndjson';
      return reply
        .type(EXPORT_CONTENT_TYPES[format])
        .header('content-disposition', `attachment; filename="executions.${extension}"`)
        .send(stream);
    },
  );
}
