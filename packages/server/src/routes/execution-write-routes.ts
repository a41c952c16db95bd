import assert from 'node:assert/strict';
import { type ExecutionInput, isLedgerError, type LedgerError } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { toErrorBody } from '../http/error-reply.js';
import { callerKey, type ServerContext } from '../http/server-context.js';
import { buildValidatorCompiler } from '../http/validator-compiler.js';
import { type ApiKeyPrincipal, coversProject, projectDenied, requireProject } from '../keys/access-policy.js';
import { errorResponses, securedRoute } from '../schemas/common-schemas.js';
import {
  batchEnvelopeSchema,
  batchRequestSchema,
  batchResponseSchema,
  executionInputSchema,
  recordedExecutionSchema,
} from '../schemas/execution-schemas.js';

interface BatchBody {
  executions: unknown[];
}

/** Appends: one execution (201 created, 200 replayed, 409 conflict) or a batch with a result per item. */
export function registerWriteRoutes(app: FastifyInstance, context: ServerContext): void {
  const { ledger, metrics } = context;

  app.post<{ Body: ExecutionInput }>(
    '/v1/executions',
    {
      config: { permission: 'append' },
      schema: {
        ...securedRoute,
        tags: ['executions'],
        summary: 'Record one execution',
        description: 'Appends once. The same run_id and content again answers 200 with the stored record.',
        body: executionInputSchema,
        response: { 200: recordedExecutionSchema, 201: recordedExecutionSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      requireProject(callerKey(request), request.body.project_id);
      try {
        const record = await ledger.recordExecution(request.body);
        metrics.countAppend(record.replayed ? 'replayed' : 'created');
        return reply.code(record.replayed ? 200 : 201).send(record);
      } catch (error) {
        if (isLedgerError(error, 'RUN_ID_CONFLICT')) metrics.countAppend('conflict');
        throw error;
      }
    },
  );

  const envelopeCompiler = buildValidatorCompiler();
  app.post<{ Body: BatchBody }>(
    '/v1/executions/batch',
    {
      config: { permission: 'append' },
      // The documented schema types every item; only the envelope is enforced here, so that one
      // bad item gets its own error and the others are still recorded.
      validatorCompiler: (route) => envelopeCompiler({ ...route, schema: batchEnvelopeSchema }),
      schema: {
        ...securedRoute,
        tags: ['executions'],
        summary: 'Record up to 1,000 executions',
        description: 'Each item is recorded or refused on its own; results come back in request order.',
        body: batchRequestSchema,
        response: { 200: batchResponseSchema, ...errorResponses },
      },
    },
    async (request) => recordBatch(context, callerKey(request), request.body.executions),
  );
}

async function recordBatch(context: ServerContext, key: ApiKeyPrincipal, items: unknown[]) {
  const allowed: { index: number; item: ExecutionInput }[] = [];
  const results: Record<string, unknown>[] = new Array(items.length);
  items.forEach((item, index) => {
    const projectId = (item as { project_id?: unknown } | null)?.project_id;
    if (typeof projectId === 'string' && !coversProject(key, projectId)) {
      results[index] = errorResult(context, index, projectDenied(key, projectId));
    } else {
      allowed.push({ index, item: item as ExecutionInput });
    }
  });
  const outcomes = await context.ledger.recordExecutions(allowed.map((entry) => entry.item));
  for (const outcome of outcomes) {
    const entry = allowed[outcome.index];
    assert(entry !== undefined, 'recordExecutions answers each input by its index');
    const index = entry.index;
    if (outcome.ok) {
      const kind = outcome.record.replayed ? 'replayed' : 'created';
      context.metrics.countAppend(kind);
      results[index] = { index, outcome: kind, record: outcome.record };
    } else {
      if (outcome.error.code === 'RUN_ID_CONFLICT') context.metrics.countAppend('conflict');
      results[index] = errorResult(context, index, outcome.error);
    }
  }
  const count = (kind: string) => results.filter((result) => result.outcome === kind).length;
  return { created: count('created'), replayed: count('replayed'), failed: count('error'), results };
}

function errorResult(context: ServerContext, index: number, error: LedgerError): Record<string, unknown> {
  context.metrics.countRejection(error.code);
  return { index, outcome: 'error', error: toErrorBody(error) };
}
