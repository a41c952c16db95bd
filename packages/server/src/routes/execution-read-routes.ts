import type { ExecutionFilter, ExecutionStatus } from 'execution-ledger';
import { LedgerError } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { callerKey, dateOrUndefined, type ServerContext } from '../http/server-context.js';
import { coversProject, requireAllProjects, requireProject, soleProject } from '../keys/access-policy.js';
import {
  errorResponses,
  idSchema,
  pageProperties,
  projectParams,
  securedRoute,
  statusFilterProperty,
  timeRangeProperties,
} from '../schemas/common-schemas.js';
import { executionRecordSchema, pageSchema } from '../schemas/execution-schemas.js';

export interface ListQuery {
  status?: ExecutionStatus[];
  agent_id?: string;
  user_id?: string;
  project_id?: string;
  start?: string;
  end?: string;
  limit?: number;
  cursor?: string;
}

const filterProperties = {
  ...statusFilterProperty,
  user_id: idSchema,
  ...timeRangeProperties,
  ...pageProperties,
} as const;

/** Reads: one run by id, pages of a project's or an agent's runs, and failed runs. */
export function registerReadRoutes(app: FastifyInstance, context: ServerContext): void {
  registerGetRoute(app, context);
  registerProjectListRoute(app, context);
  registerAgentListRoute(app, context);
  registerFailedRoute(app, context);
}

function registerGetRoute(app: FastifyInstance, context: ServerContext): void {
  const { ledger } = context;
  const readRoute = { config: { permission: 'read' as const } };
  app.get<{ Params: { runId: string }; Querystring: { project_id?: string } }>(
    '/v1/executions/:runId',
    {
      ...readRoute,
      schema: {
        ...securedRoute,
        tags: ['executions'],
        summary: 'Get one execution by run id',
        description: 'A run in a project the key is not bound to answers 404, exactly like a missing one.',
        params: { type: 'object', required: ['runId'], properties: { runId: idSchema } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            project_id: {
              ...idSchema,
              description:
                "The run's project, when known: only a run of this project is found (one shard where projects are sharded).",
            },
          },
        },
        response: { 200: executionRecordSchema, ...errorResponses },
      },
    },
    async (request) => {
      // A key bound to one project can see no run of another: the lookup names that project.
      const projectId = request.query.project_id ?? soleProject(callerKey(request));
      const record = await ledger.getExecutionByRunId(
        request.params.runId,
        projectId === undefined ? {} : { projectId },
      );
      if (record === null || !coversProject(callerKey(request), record.project_id)) {
        throw new LedgerError(
          'NOT_FOUND',
          `no execution with run_id ${JSON.stringify(request.params.runId)} is visible to this key`,
          { field: 'run_id' },
        );
      }
      return record;
    },
  );
}

function registerProjectListRoute(app: FastifyInstance, context: ServerContext): void {
  // Lists may lag the primary: they read the read database (--read-url) when there is one.
  const ledger = context.reads;
  const readRoute = { config: { permission: 'read' as const, readsMayLag: true } };
  app.get<{ Params: { projectId: string }; Querystring: ListQuery }>(
    '/v1/projects/:projectId/executions',
    {
      ...readRoute,
      schema: {
        ...securedRoute,
        tags: ['executions'],
        summary: "List a project's executions, newest first",
        params: projectParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...filterProperties, agent_id: idSchema },
        },
        response: { 200: pageSchema, ...errorResponses },
      },
    },
    async (request) => {
      requireProject(callerKey(request), request.params.projectId);
      const filter = toFilter(request.query);
      filter.projectId = request.params.projectId;
      return ledger.listExecutions(filter, pageOf(request.query), 'seq');
    },
  );
}

function registerAgentListRoute(app: FastifyInstance, context: ServerContext): void {
  // Lists may lag the primary: they read the read database (--read-url) when there is one.
  const ledger = context.reads;
  const readRoute = { config: { permission: 'read' as const, readsMayLag: true } };
  app.get<{ Params: { agentId: string }; Querystring: ListQuery }>(
    '/v1/agents/:agentId/executions',
    {
      ...readRoute,
      schema: {
        ...securedRoute,
        tags: ['executions'],
        summary: "List an agent's executions, newest first",
        description: 'Without project_id this spans every project, which needs a key bound to all projects.',
        params: { type: 'object', required: ['agentId'], properties: { agentId: idSchema } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...filterProperties, project_id: idSchema },
        },
        response: { 200: pageSchema, ...errorResponses },
      },
    },
    async (request) => {
      const key = callerKey(request);
      const filter = toFilter(request.query);
      if (request.query.project_id === undefined) requireAllProjects(key, "listing an agent's runs");
      else {
        requireProject(key, request.query.project_id);
        filter.projectId = request.query.project_id;
      }
      filter.agentId = request.params.agentId;
      return ledger.listExecutions(filter, pageOf(request.query));
    },
  );
}

function registerFailedRoute(app: FastifyInstance, context: ServerContext): void {
  // Lists may lag the primary: they read the read database (--read-url) when there is one.
  const ledger = context.reads;
  const readRoute = { config: { permission: 'read' as const, readsMayLag: true } };
  app.get<{ Params: { projectId: string }; Querystring: { limit?: number } }>(
    '/v1/projects/:projectId/failed',
    {
      ...readRoute,
      schema: {
        ...securedRoute,
        tags: ['executions'],
        summary: "A project's failed and aborted executions, newest first",
        params: projectParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: pageProperties.limit },
        },
        response: {
          200: { type: 'object', required: ['data'], properties: { data: pageSchema.properties.data } },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      requireProject(callerKey(request), request.params.projectId);
      const data = await ledger.getFailedExecutions(request.params.projectId, request.query.limit ?? 50);
      return { data };
    },
  );
}

export function toFilter(query: ListQuery): ExecutionFilter {
  const filter: ExecutionFilter = {};
  if (query.status !== undefined && query.status.length > 0) filter.status = query.status;
  if (query.agent_id !== undefined) filter.agentId = query.agent_id;
  if (query.user_id !== undefined) filter.userId = query.user_id;
  const start = dateOrUndefined(query.start);
  const end = dateOrUndefined(query.end);
  if (start !== undefined) filter.start = start;
  if (end !== undefined) filter.end = end;
  return filter;
}

function pageOf(query: ListQuery): { limit?: number; cursor?: string } {
  const page: { limit?: number; cursor?: string } = {};
  if (query.limit !== undefined) page.limit = query.limit;
  if (query.cursor !== undefined) page.cursor = query.cursor;
  return page;
}
