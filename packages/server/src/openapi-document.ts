import type { SwaggerOptions } from '@fastify/swagger';

/** The frame of /openapi.json; the paths come from the route schemas. */
export function openApiDocument(): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Execution Ledger',
        version: '0.1.0',
        description:
          'A write-once, tamper-evident ledger of AI-agent executions. Send an API key as ' +
          '`Authorization: Bearer <key>`. Errors are `{ statusCode, code, error, message }`.',
      },
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'An API key from `execution-ledger keys create`.',
          },
        },
      },
      tags: [
        { name: 'executions', description: 'Record and read executions.' },
        { name: 'statistics', description: 'Counts and costs over a time range.' },
        { name: 'export', description: 'Bulk export.' },
        {
          name: 'integrity',
          description: 'Hash-chain verification, signed checkpoints and inclusion proofs.',
        },
        { name: 'keys', description: 'API keys (admin).' },
        { name: 'allocation', description: 'Cost allocation rule sets and reports.' },
        { name: 'lineage', description: 'Run trees: what a task cost, what a run triggered.' },
        { name: 'budgets', description: 'Budgets shared through the database, reservations and events.' },
        { name: 'webhooks', description: 'Webhook endpoints that events are delivered to (admin).' },
        { name: 'operations', description: 'Health and readiness.' },
      ],
    },
  };
}
