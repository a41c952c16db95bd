import { loadMigrations } from 'execution-ledger/database';
import type { FastifyInstance } from 'fastify';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../bounds.js';
import type { ServerContext } from '../http/server-context.js';

// Not ready is a 503 like any other: load balancers and clients may wait this long before asking again.
const RETRY_AFTER = String(UNAVAILABLE_RETRY_AFTER_SECONDS);

const readySchema = {
  type: 'object',
  required: ['ready'],
  properties: {
    ready: { type: 'boolean' },
    schema_version: { type: ['integer', 'null'] },
    expected_schema_version: { type: 'integer' },
    reason: { type: 'string' },
  },
} as const;

/** Liveness, readiness (database reachable, its schemas migrated), Prometheus metrics. All public. */
export function registerHealthRoutes(app: FastifyInstance, context: ServerContext): void {
  const expected = loadMigrations().then((files) => Math.max(0, ...files.map((file) => file.id)));
  // Awaited by every readiness check; this keeps a failure from being reported as unhandled first.
  expected.catch(() => undefined);

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'The process is up',
        response: {
          200: { type: 'object', required: ['status'], properties: { status: { type: 'string' } } },
        },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'The database answers and its schema is up to date',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (request, reply) => {
      const expectedVersion = await expected;
      try {
        // The ledger's schema first, then the service's own (its API keys): all must be current.
        const schemas = await context.ledger.operations.schemaStatus();
        const version = schemas[0]?.version ?? null;
        if (version === expectedVersion && schemas.every((schema) => schema.current))
          return { ready: true, schema_version: version, expected_schema_version: expectedVersion };
        return reply.code(503).header('retry-after', RETRY_AFTER).send({
          ready: false,
          schema_version: version,
          expected_schema_version: expectedVersion,
          reason: 'the database schema is not up to date; run `execution-ledger migrate`',
        });
      } catch (error) {
        request.log.warn({ code: (error as { code?: string }).code }, 'readiness check failed');
        return reply.code(503).header('retry-after', RETRY_AFTER).send({
          ready: false,
          expected_schema_version: expectedVersion,
          reason: 'the database cannot be reached or prepared',
        });
      }
    },
  );

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(context.metrics.registry.contentType).send(await context.metrics.text()),
  );
}
