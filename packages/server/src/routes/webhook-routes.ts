import { randomBytes } from 'node:crypto';
import { LedgerError, type WebhookEndpoint } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { callerKey, type ServerContext } from '../http/server-context.js';
import {
  type ApiKeyPrincipal,
  coversProject,
  requireAllProjects,
  requireProject,
} from '../keys/access-policy.js';
import { errorResponses, idSchema, securedRoute } from '../schemas/common-schemas.js';

const nullableText = { type: ['string', 'null'] } as const;

const endpointProperties = {
  id: { type: 'string' },
  url: { type: 'string' },
  project_id: { ...nullableText, description: "Only this project's events; null: every event." },
  cursor_seq: {
    type: 'integer',
    description: 'The seq of the last event delivered (or skipped at creation).',
  },
  attempts: { type: 'integer', description: 'Failed deliveries since the last success.' },
  next_attempt_at: { ...nullableText, description: 'When a failed delivery is tried again.' },
  last_error: nullableText,
  delivered: { type: 'integer' },
} as const;
const endpointSchema = {
  type: 'object',
  required: Object.keys(endpointProperties),
  properties: endpointProperties,
} as const;
const createdSchema = {
  type: 'object',
  required: [...Object.keys(endpointProperties), 'secret'],
  properties: {
    ...endpointProperties,
    secret: {
      type: 'string',
      description:
        'The HMAC-SHA256 key deliveries are signed with. Shown in this answer only: no later answer returns it.',
    },
  },
} as const;

interface WebhookBody {
  url: string;
  secret?: string;
  project_id?: string | null;
  from_seq?: number;
}

/** The secret made for an endpoint created without one: 32 random bytes, hex. */
function newSecret(): string {
  return randomBytes(32).toString('hex');
}

/**
 * Webhook endpoints (docs/alerts.md, "Webhooks over HTTP"): admin keys with the `budgets`
 * permission create, replace, read and delete them within their projects. An endpoint of every
 * project needs a key of every project. The secret is answered once, when it is set.
 */
export function registerWebhookRoutes(app: FastifyInstance, context: ServerContext): void {
  const { ledger } = context;
  const webhookParams = {
    type: 'object',
    required: ['webhookId'],
    properties: { webhookId: idSchema },
  } as const;

  app.put<{ Params: { webhookId: string }; Body: WebhookBody }>(
    '/v1/webhooks/:webhookId',
    {
      config: { permission: 'budgets' },
      schema: {
        ...securedRoute,
        tags: ['webhooks'],
        summary:
          'Create or replace a webhook endpoint; the answer holds its signing secret, which no later answer shows',
        params: webhookParams,
        body: {
          type: 'object',
          required: ['url'],
          additionalProperties: false,
          properties: {
            url: { type: 'string', minLength: 1, maxLength: 2000 },
            secret: {
              type: 'string',
              description: '16 to 200 characters; a new random one (64 hex digits) when absent.',
            },
            project_id: { anyOf: [idSchema, { type: 'null' }] },
            from_seq: {
              type: 'integer',
              minimum: 0,
              description: 'A new endpoint starts after this event seq; default after the newest event.',
            },
          },
        },
        response: { 200: createdSchema, ...errorResponses },
      },
    },
    async (request) => {
      const key = callerKey(request);
      const projectId = request.body.project_id ?? null;
      if (projectId === null) requireAllProjects(key, 'a webhook for every project');
      else requireProject(key, projectId);
      await refuseForeignWebhook(ledger, key, request.params.webhookId);
      const secret = request.body.secret ?? newSecret();
      const { from_seq, url } = request.body;
      const endpoint = await ledger.webhooks.set({
        id: request.params.webhookId,
        url,
        secret,
        project_id: projectId,
        ...(from_seq === undefined ? {} : { from_seq }),
      });
      return { ...endpoint, secret };
    },
  );

  app.get(
    '/v1/webhooks',
    {
      config: { permission: 'budgets' },
      schema: {
        ...securedRoute,
        tags: ['webhooks'],
        summary: "The webhook endpoints of the key's projects, with their delivery state (never a secret)",
        response: {
          200: {
            type: 'object',
            required: ['webhooks'],
            properties: { webhooks: { type: 'array', items: endpointSchema } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const key = callerKey(request);
      const webhooks = (await ledger.webhooks.list()).filter((endpoint) => covers(key, endpoint));
      return { webhooks };
    },
  );

  app.get<{ Params: { webhookId: string } }>(
    '/v1/webhooks/:webhookId',
    {
      config: { permission: 'budgets' },
      schema: {
        ...securedRoute,
        tags: ['webhooks'],
        summary: "One webhook endpoint's delivery state (never its secret)",
        params: webhookParams,
        response: { 200: endpointSchema, ...errorResponses },
      },
    },
    async (request) => visibleWebhook(ledger, callerKey(request), request.params.webhookId),
  );

  app.delete<{ Params: { webhookId: string } }>(
    '/v1/webhooks/:webhookId',
    {
      config: { permission: 'budgets' },
      schema: {
        ...securedRoute,
        tags: ['webhooks'],
        summary: 'Delete a webhook endpoint: nothing more is delivered to it (the events themselves stay)',
        params: webhookParams,
        response: {
          200: {
            type: 'object',
            required: ['id', 'deleted'],
            properties: { id: { type: 'string' }, deleted: { type: 'boolean', const: true } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { webhookId } = request.params;
      await visibleWebhook(ledger, callerKey(request), webhookId);
      // Deleted meanwhile by another caller: it answers as a missing endpoint would.
      if (!(await ledger.webhooks.delete(webhookId))) throw webhookNotFound(webhookId);
      return { id: webhookId, deleted: true };
    },
  );
}

function covers(key: ApiKeyPrincipal, endpoint: { project_id: string | null }): boolean {
  return key.projects === null || (endpoint.project_id !== null && coversProject(key, endpoint.project_id));
}

function webhookNotFound(id: string): LedgerError {
  return new LedgerError(
    'NOT_FOUND',
    `webhook_id ${JSON.stringify(id)} names no webhook endpoint; list them with GET /v1/webhooks`,
    { field: 'webhook_id' },
  );
}

/** An endpoint outside the key's projects answers exactly like a missing one. */
async function visibleWebhook(
  ledger: ServerContext['ledger'],
  key: ApiKeyPrincipal,
  id: string,
): Promise<WebhookEndpoint> {
  const endpoint = await ledger.webhooks.get(id);
  if (!covers(key, endpoint)) throw webhookNotFound(id);
  return endpoint;
}

/** Replacing an endpoint of another project is refused as that project would be. */
async function refuseForeignWebhook(
  ledger: ServerContext['ledger'],
  key: ApiKeyPrincipal,
  id: string,
): Promise<void> {
  const endpoint = await ledger.webhooks.get(id).catch((error: unknown) => {
    if (error instanceof LedgerError && error.code === 'NOT_FOUND') return null;
    throw error;
  });
  if (endpoint !== null && !covers(key, endpoint)) {
    throw new LedgerError(
      'PERMISSION_DENIED',
      `API key ${key.id} may not replace webhook ${JSON.stringify(id)}`,
      {
        field: 'webhook_id',
      },
    );
  }
}
