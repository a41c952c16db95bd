import type { FastifyInstance } from 'fastify';
import { findCheckpoint, requireProjectProof } from '../checkpoints/project-proof.js';
import { callerKey, type ServerContext } from '../http/server-context.js';
import { coversProject } from '../keys/access-policy.js';
import { checkpointSchema, projectProofSchema } from '../schemas/checkpoint-schemas.js';
import { errorResponses, projectParams, securedRoute } from '../schemas/common-schemas.js';

const checkpointSeq = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const readRoute = { config: { permission: 'read' as const } };

/**
 * Signed checkpoints and inclusion proofs, for auditors and tenants who keep their own copies.
 * Notes name no project, so any read key may fetch them; a proof is scoped to the key's projects.
 */
export function registerCheckpointRoutes(app: FastifyInstance, context: ServerContext): void {
  registerCheckpointReadRoutes(app, context);
  registerProofRoute(app, context);
}

function registerCheckpointReadRoutes(app: FastifyInstance, context: ServerContext): void {
  const schema = {
    ...securedRoute,
    tags: ['integrity'],
    response: { 200: checkpointSchema, ...errorResponses },
  };
  app.get(
    '/v1/checkpoints/latest',
    { ...readRoute, schema: { ...schema, summary: 'The newest signed checkpoint, with its note' } },
    async () => findCheckpoint(context.ledger),
  );
  app.get<{ Params: { seq: number } }>(
    '/v1/checkpoints/:seq',
    {
      ...readRoute,
      schema: {
        ...schema,
        summary: 'One signed checkpoint by its sequence number, with its note',
        params: { type: 'object', required: ['seq'], properties: { seq: checkpointSeq } },
      },
    },
    async (request) => findCheckpoint(context.ledger, request.params.seq),
  );
}

function registerProofRoute(app: FastifyInstance, context: ServerContext): void {
  app.get<{ Params: { projectId: string }; Querystring: { checkpoint?: number } }>(
    '/v1/projects/:projectId/proof',
    {
      ...readRoute,
      schema: {
        ...securedRoute,
        tags: ['integrity'],
        summary: "The inclusion proof of a project's head in a signed checkpoint",
        description:
          'Checks offline with the note of checkpoint `checkpoint_seq` (GET /v1/checkpoints/{seq}). A project ' +
          'the key is not bound to answers 404 PROOF_NOT_FOUND, exactly like a project the checkpoint does not hold.',
        params: projectParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            checkpoint: {
              ...checkpointSeq,
              description: 'The checkpoint to prove against; default the newest.',
            },
          },
        },
        response: { 200: projectProofSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { projectId } = request.params;
      const options: { checkpoint?: number; visible: boolean } = {
        visible: coversProject(callerKey(request), projectId),
      };
      if (request.query.checkpoint !== undefined) options.checkpoint = request.query.checkpoint;
      return requireProjectProof(context.ledger, projectId, options);
    },
  );
}
