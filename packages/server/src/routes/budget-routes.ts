import {
  BUDGET_ACTIONS,
  BUDGET_PERIODS,
  type BudgetDefinition,
  type BudgetStatus,
  LedgerError,
} from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { callerKey, type ServerContext } from '../http/server-context.js';
import {
  type ApiKeyPrincipal,
  coversProject,
  requireAllProjects,
  requireProject,
} from '../keys/access-policy.js';
import { errorResponses, idSchema, securedRoute } from '../schemas/common-schemas.js';

const nullableId = { anyOf: [idSchema, { type: 'null' }] } as const;
const nullableText = { type: ['string', 'null'] } as const;
const cents = { type: 'number', description: 'Cents, exact to the micro-cent.' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;

const budgetProperties = {
  id: { type: 'string' },
  project_id: nullableText,
  agent_id: nullableText,
  user_id: nullableText,
  period: { type: 'string', enum: BUDGET_PERIODS },
  time_zone: { type: 'string' },
  limit_cents: cents,
  thresholds: { type: 'array', items: { type: 'integer' } },
  action: { type: 'string', enum: BUDGET_ACTIONS },
  created_at: { type: 'string' },
  updated_at: { type: 'string' },
  period_start: { ...nullableText, description: 'Start of the current period; null for a total budget.' },
  spent_cents: { ...cents, description: 'What the recorded runs in scope cost this period.' },
  runs: { type: 'integer' },
  held_cents: { ...cents, description: 'What live reservations hold.' },
  remaining_cents: cents,
} as const;
const budgetStatusSchema = {
  type: 'object',
  required: Object.keys(budgetProperties),
  properties: budgetProperties,
} as const;

const reservationSchema = {
  type: 'object',
  required: ['id', 'estimated_cents', 'expires_at', 'scope', 'budgets'],
  properties: {
    id: uuid,
    estimated_cents: cents,
    expires_at: { type: 'string' },
    scope: {
      type: 'object',
      properties: {
        project_id: { type: 'string' },
        agent_id: { type: 'string' },
        user_id: { type: 'string' },
      },
    },
    budgets: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          budget_id: { type: 'string' },
          action: { type: 'string' },
          limit_cents: cents,
          spent_cents: cents,
          held_cents: cents,
        },
      },
    },
  },
} as const;

const eventSchema = {
  type: 'object',
  required: ['seq', 'id', 'type', 'payload', 'created_at'],
  properties: {
    seq: { type: 'integer' },
    id: uuid,
    type: { type: 'string' },
    project_id: nullableText,
    agent_id: nullableText,
    user_id: nullableText,
    run_id: nullableText,
    budget_id: nullableText,
    payload: { type: 'object', additionalProperties: true },
    created_at: { type: 'string' },
  },
} as const;

interface BudgetBody extends Omit<BudgetDefinition, 'id'> {}
interface ReserveBody {
  project_id: string;
  agent_id: string;
  user_id: string;
  estimated_cents: number;
  ttl_ms?: number;
}

/** Budgets (admin defines, any reader sees those of its projects), reservations (ingest) and events. */
export function registerBudgetRoutes(app: FastifyInstance, context: ServerContext): void {
  const { ledger } = context;
  const budgetParams = {
    type: 'object',
    required: ['budgetId'],
    properties: { budgetId: idSchema },
  } as const;
  const reservationParams = {
    type: 'object',
    required: ['reservationId'],
    properties: { reservationId: { type: 'string', minLength: 1, maxLength: 64 } },
  } as const;

  app.put<{ Params: { budgetId: string }; Body: BudgetBody }>(
    '/v1/budgets/:budgetId',
    {
      config: { permission: 'budgets' },
      schema: {
        ...securedRoute,
        tags: ['budgets'],
        summary: 'Create or replace a budget; its spend is derived from the runs already recorded',
        params: budgetParams,
        body: {
          type: 'object',
          required: ['period', 'limit_cents'],
          properties: {
            project_id: nullableId,
            agent_id: nullableId,
            user_id: nullableId,
            period: { type: 'string', enum: BUDGET_PERIODS },
            time_zone: { type: 'string', minLength: 1, maxLength: 64 },
            limit_cents: { type: 'number' },
            thresholds: { type: 'array', maxItems: 10, items: { type: 'integer' } },
            action: { type: 'string', enum: BUDGET_ACTIONS },
          },
        },
        response: { 200: budgetStatusSchema, ...errorResponses },
      },
    },
    async (request) => {
      const key = callerKey(request);
      const projectId = request.body.project_id ?? null;
      if (projectId === null) requireAllProjects(key, 'a budget across projects');
      else requireProject(key, projectId);
      await refuseForeignBudget(ledger, key, request.params.budgetId);
      return ledger.budgets.set({ ...request.body, id: request.params.budgetId });
    },
  );

  app.get(
    '/v1/budgets',
    {
      config: { permission: 'read' },
      schema: {
        ...securedRoute,
        tags: ['budgets'],
        summary: "Every budget the key's projects hold, with its current period's spend and holds",
        response: {
          200: {
            type: 'object',
            required: ['budgets'],
            properties: { budgets: { type: 'array', items: budgetStatusSchema } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const key = callerKey(request);
      const budgets = (await ledger.budgets.statuses()).filter((budget) => covers(key, budget));
      return { budgets };
    },
  );

  app.get<{ Params: { budgetId: string } }>(
    '/v1/budgets/:budgetId',
    {
      config: { permission: 'read' },
      schema: {
        ...securedRoute,
        tags: ['budgets'],
        summary: "One budget's current period: spent, held and remaining",
        params: budgetParams,
        response: { 200: budgetStatusSchema, ...errorResponses },
      },
    },
    async (request) => visibleBudget(ledger, callerKey(request), request.params.budgetId),
  );

  app.post<{ Body: ReserveBody }>(
    '/v1/budgets/reservations',
    {
      config: { permission: 'append' },
      schema: {
        ...securedRoute,
        tags: ['budgets'],
        summary:
          'Hold an estimated cost against every budget of a run scope before the work (402 BUDGET_BLOCKED)',
        body: {
          type: 'object',
          required: ['project_id', 'agent_id', 'user_id', 'estimated_cents'],
          additionalProperties: false,
          properties: {
            project_id: idSchema,
            agent_id: idSchema,
            user_id: idSchema,
            estimated_cents: { type: 'number' },
            ttl_ms: { type: 'integer' },
          },
        },
        response: { 201: reservationSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { project_id, agent_id, user_id, estimated_cents, ttl_ms } = request.body;
      requireProject(callerKey(request), project_id);
      const reservation = await ledger.budgets.reserve(
        { project_id, agent_id, user_id },
        estimated_cents,
        ttl_ms === undefined ? {} : { ttl_ms },
      );
      return reply.code(201).send(reservation);
    },
  );

  app.post<{ Params: { reservationId: string }; Body: { run_id: string; actual_cents?: number } }>(
    '/v1/budgets/reservations/:reservationId/settle',
    {
      config: { permission: 'append' },
      schema: {
        ...securedRoute,
        tags: ['budgets'],
        summary: 'Settle a reservation with the recorded run it paid for (its exact cost_total)',
        params: reservationParams,
        body: {
          type: 'object',
          required: ['run_id'],
          additionalProperties: false,
          properties: { run_id: idSchema, actual_cents: { type: 'number' } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              reservation_id: uuid,
              run_id: { type: 'string' },
              estimated_cents: cents,
              actual_cents: cents,
              expired: { type: 'boolean' },
              replayed: { type: 'boolean' },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      await requireReservation(ledger, callerKey(request), request.params.reservationId);
      const { run_id, actual_cents } = request.body;
      return ledger.budgets.settle(request.params.reservationId, {
        run_id,
        ...(actual_cents === undefined ? {} : { actual_cents }),
      });
    },
  );

  app.post<{ Params: { reservationId: string } }>(
    '/v1/budgets/reservations/:reservationId/release',
    {
      config: { permission: 'append' },
      schema: {
        ...securedRoute,
        tags: ['budgets'],
        summary: 'Give a reservation back without a run (the work was not done)',
        params: reservationParams,
        response: {
          200: { type: 'object', properties: { reservation_id: uuid, state: { type: 'string' } } },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      await requireReservation(ledger, callerKey(request), request.params.reservationId);
      await ledger.budgets.release(request.params.reservationId);
      return { reservation_id: request.params.reservationId, state: 'released' };
    },
  );

  app.get<{ Querystring: { cursor?: string; limit?: number; type?: string; project_id?: string } }>(
    '/v1/events',
    {
      config: { permission: 'read' },
      schema: {
        ...securedRoute,
        tags: ['budgets'],
        summary:
          'Events in commit order (budget thresholds, blocks, anomalies, dismissals), read on with next_cursor',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            cursor: { type: 'string', minLength: 1, maxLength: 40 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            type: { type: 'string', minLength: 1, maxLength: 200 },
            project_id: idSchema,
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['events', 'next_cursor'],
            properties: { events: { type: 'array', items: eventSchema }, next_cursor: { type: 'string' } },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const key = callerKey(request);
      const { project_id, ...rest } = request.query;
      if (project_id === undefined) requireAllProjects(key, 'reading events');
      else requireProject(key, project_id);
      return ledger.events.list({ ...rest, ...(project_id === undefined ? {} : { project_id }) });
    },
  );
}

function covers(key: ApiKeyPrincipal, budget: { project_id: string | null }): boolean {
  return key.projects === null || (budget.project_id !== null && coversProject(key, budget.project_id));
}

/** A budget outside the key's projects answers exactly like a missing one. */
async function visibleBudget(
  ledger: ServerContext['ledger'],
  key: ApiKeyPrincipal,
  id: string,
): Promise<BudgetStatus> {
  const budget = await ledger.budgets.status(id);
  if (!covers(key, budget)) {
    throw new LedgerError(
      'BUDGET_NOT_FOUND',
      `budget_id ${JSON.stringify(id)} names no budget; list the budgets`,
      {
        field: 'budget_id',
      },
    );
  }
  return budget;
}

/** Replacing a budget of another project is refused as that project would be. */
async function refuseForeignBudget(
  ledger: ServerContext['ledger'],
  key: ApiKeyPrincipal,
  id: string,
): Promise<void> {
  const budget = await ledger.budgets.status(id).catch((error: unknown) => {
    if (error instanceof LedgerError && error.code === 'BUDGET_NOT_FOUND') return null;
    throw error;
  });
  if (budget !== null && !covers(key, budget)) {
    throw new LedgerError(
      'PERMISSION_DENIED',
      `API key ${key.id} may not replace budget ${JSON.stringify(id)}`,
      {
        field: 'budget_id',
      },
    );
  }
}

/** A reservation of a project the key is not bound to answers exactly like a missing one. */
async function requireReservation(
  ledger: ServerContext['ledger'],
  key: ApiKeyPrincipal,
  id: string,
): Promise<void> {
  const reservation = await ledger.budgets.reservation(id);
  if (!coversProject(key, reservation.project_id)) {
    throw new LedgerError(
      'RESERVATION_NOT_FOUND',
      `reservation_id ${id} names no budget reservation; use the id reserve() returned`,
      {
        field: 'reservation_id',
      },
    );
  }
}
