import { Readable } from 'node:stream';
import { DEFAULT_EXPORT_FORMAT, exportFormat, exportFormats } from 'execution-ledger/export-formats';
import type { FastifyInstance } from 'fastify';
import {
  type ExportFormat,
  exportChunks,
  exportContentType,
  formatChoices,
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

/**
 * A project's executions in any registered export format (CSV, NDJSON, …), streamed oldest
 * first. The formats, their media types and file extensions are read from the library's
 * registry when the route is built.
 */
export function registerExportRoutes(app: FastifyInstance, context: ServerContext): void {
  const formats = exportFormats();
  app.get<{
    Params: { projectId: string };
    Querystring: ListQuery & { format?: ExportFormat; blobs?: boolean };
  }>(
    '/v1/projects/:projectId/export',
    {
      config: { permission: 'export', readsMayLag: true },
      schema: {
        ...securedRoute,
        tags: ['export'],
        summary: `Export a project's executions (${formatChoices((format) => format.label)}), streamed`,
        description:
          'CSV has a header and the documented columns; NDJSON has one full record per line, hashes included. ' +
          'With blobs=true (NDJSON only), the captured replay blobs the entries reference follow them as ' +
          '{"replay_blob": …} lines, each once; by default they are left out.',
        params: projectParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            format: {
              type: 'string',
              enum: formats.map((format) => format.name),
              default: DEFAULT_EXPORT_FORMAT,
            },
            blobs: {
              type: 'boolean',
              default: false,
              description: 'Include the replay blobs the exported entries reference (NDJSON only).',
            },
            ...statusFilterProperty,
            ...timeRangeProperties,
          },
        },
        response: {
          200: {
            description: 'The export, streamed.',
            content: Object.fromEntries(
              formats.map((format) => [format.mediaType, { schema: { type: 'string' } }]),
            ),
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      requireProject(callerKey(request), projectId);
      const format = exportFormat(request.query.format ?? DEFAULT_EXPORT_FORMAT);
      const filter = { ...toFilter(request.query), projectId };
      // exportChunks checks before the first byte: blobs with CSV is a 400, not a cut stream.
      const blobs = request.query.blobs === true;
      const stream = Readable.from(exportChunks(context.reads, filter, format.name, () => undefined, blobs));
      // A failure after the first bytes cannot change the status any more: log it, cut the stream.
      stream.on('error', (error) => request.log.error({ err: error }, 'export stream failed'));
      return reply
        .type(exportContentType(format))
        .header('content-disposition', `attachment; filename="executions.${format.extension}"`)
        .send(stream);
    },
  );
}
