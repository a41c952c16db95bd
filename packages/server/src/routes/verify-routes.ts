import type { FastifyInstance } from 'fastify';
import { callerKey, type ServerContext } from '../http/server-context.js';
import { requireProject } from '../keys/access-policy.js';
import { checkpointCheckSchema } from '../schemas/checkpoint-schemas.js';
import { errorResponses, projectParams, securedRoute } from '../schemas/common-schemas.js';

const verificationSchema = {
  type: 'object',
  required: ['ok', 'project_id', 'entries_checked', 'head', 'first_bad_seq', 'reason', 'problems'],
  properties: {
    ok: { type: 'boolean' },
    project_id: { type: 'string' },
    entries_checked: { type: 'integer' },
    head: {
      type: ['object', 'null'],
      required: ['seq', 'entry_hash'],
      properties: { seq: { type: 'integer' }, entry_hash: { type: 'string' } },
    },
    first_bad_seq: { type: ['integer', 'null'] },
    reason: { type: ['string', 'null'] },
    problems: {
      type: 'array',
      items: {
        type: 'object',
        required: ['seq', 'reason'],
        properties: { seq: { type: 'integer' }, reason: { type: 'string' } },
      },
    },
    checkpoint: checkpointCheckSchema,
  },
} as const;

/** Re-derives every hash of a project's chain and reports the first bad entry. */
export function registerVerifyRoutes(app: FastifyInstance, context: ServerContext): void {
  app.post<{ Params: { projectId: string } }>(
    '/v1/projects/:projectId/verify',
    {
      config: { permission: 'verify' },
      schema: {
        ...securedRoute,
        tags: ['integrity'],
        summary: "Verify a project's hash chain",
        description:
          'A broken chain is an answer (ok: false, first_bad_seq, reason), not an error. The result is recorded as the ' +
          "project's last verification, which the dashboard's integrity page shows.",
        params: projectParams,
        response: { 200: verificationSchema, ...errorResponses },
      },
    },
    async (request) => {
      const key = callerKey(request);
      requireProject(key, request.params.projectId);
      const entry = await context.verifier.verify(request.params.projectId, key);
      return entry.report;
    },
  );
}
