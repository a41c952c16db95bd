import type { FastifyInstance } from 'fastify';
import { KEY_NAME_CHARS_MAX, KEY_PROJECTS_MAX } from '../bounds.js';
import { callerKey, type ServerContext } from '../http/server-context.js';
import { KEY_ROLES, type KeyRole, requireGrantable } from '../keys/access-policy.js';
import { errorResponses, idSchema, securedRoute } from '../schemas/common-schemas.js';

const keyInfoProperties = {
  id: { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string', enum: [...KEY_ROLES] },
  projects: { type: ['array', 'null'], items: { type: 'string' }, description: 'null: every project.' },
  created_at: { type: 'string', format: 'date-time' },
  revoked_at: { type: ['string', 'null'], format: 'date-time' },
} as const;
const keyInfoRequired = ['id', 'name', 'role', 'projects', 'created_at', 'revoked_at'];
const keyInfoSchema = { type: 'object', required: keyInfoRequired, properties: keyInfoProperties } as const;

interface CreateKeyBody {
  name: string;
  role: KeyRole;
  projects: string[] | null;
}

/** API keys: created (the text shown once), listed, revoked. Admin keys only. */
export function registerKeyRoutes(app: FastifyInstance, context: ServerContext): void {
  registerCreateKeyRoute(app, context);
  registerListKeysRoute(app, context);
  registerRevokeKeyRoute(app, context);
}

function registerCreateKeyRoute(app: FastifyInstance, context: ServerContext): void {
  const { keys } = context;
  const route = { config: { permission: 'keys' as const } };
  app.post<{ Body: CreateKeyBody }>(
    '/v1/keys',
    {
      ...route,
      schema: {
        ...securedRoute,
        tags: ['keys'],
        summary: 'Create an API key; its text is in this answer only',
        body: {
          type: 'object',
          required: ['name', 'role', 'projects'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: KEY_NAME_CHARS_MAX },
            role: { type: 'string', enum: [...KEY_ROLES] },
            projects: {
              type: ['array', 'null'],
              items: idSchema,
              minItems: 1,
              maxItems: KEY_PROJECTS_MAX,
              description: 'The projects the key may touch; null for every project.',
            },
          },
        },
        response: {
          201: {
            type: 'object',
            required: [...keyInfoRequired, 'token'],
            properties: { ...keyInfoProperties, token: { type: 'string', description: 'Shown once.' } },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      requireGrantable(callerKey(request), request.body.projects);
      const created = await keys.create(request.body);
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );
}

function registerListKeysRoute(app: FastifyInstance, context: ServerContext): void {
  const { keys } = context;
  const route = { config: { permission: 'keys' as const } };
  app.get(
    '/v1/keys',
    {
      ...route,
      schema: {
        ...securedRoute,
        tags: ['keys'],
        summary: 'List the API keys this key can manage (never their secrets)',
        response: {
          200: {
            type: 'object',
            required: ['data'],
            properties: { data: { type: 'array', items: keyInfoSchema } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => ({ data: await keys.list(callerKey(request)) }),
  );
}

function registerRevokeKeyRoute(app: FastifyInstance, context: ServerContext): void {
  const { keys, authenticator } = context;
  const route = { config: { permission: 'keys' as const } };
  app.post<{ Params: { keyId: string } }>(
    '/v1/keys/:keyId/revoke',
    {
      ...route,
      schema: {
        ...securedRoute,
        tags: ['keys'],
        summary: 'Revoke an API key for good',
        params: { type: 'object', required: ['keyId'], properties: { keyId: idSchema } },
        response: { 200: keyInfoSchema, ...errorResponses },
      },
    },
    async (request) => {
      const revoked = await keys.revoke(request.params.keyId, callerKey(request));
      authenticator.forget(revoked.id);
      return revoked;
    },
  );
}
