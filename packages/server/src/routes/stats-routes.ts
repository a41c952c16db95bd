import type { FastifyInstance } from 'fastify';
import { callerKey, dateOrUndefined, type ServerContext } from '../http/server-context.js';
import { requireAllProjects, requireProject } from '../keys/access-policy.js';
import {
  costFigureProperties,
  errorResponses,
  idSchema,
  projectParams,
  securedRoute,
  timeRangeProperties,
} from '../schemas/common-schemas.js';

interface RangeQuery {
  start?: string;
  end?: string;
  project_id?: string;
}

const projectStatsSchema = {
  type: 'object',
  required: [
    'total_executions',
    'successful',
    'failed',
    'aborted',
    'total_cost',
    'avg_cost',
    'avg_duration_ms',
    'by_agent',
  ],
  properties: {
    total_executions: { type: 'integer' },
    successful: { type: 'integer' },
    failed: { type: 'integer' },
    aborted: { type: 'integer' },
    total_cost: { type: 'number', description: 'Cents.' },
    avg_cost: { type: 'number', description: 'Cents, rounded to six decimals.' },
    avg_duration_ms: { type: 'number' },
    by_agent: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['count', 'cost'],
        properties: { count: { type: 'integer' }, cost: { type: 'number' } },
      },
    },
  },
} as const;

const agentStatsSchema = {
  type: 'object',
  required: ['agent_id', 'project_id', 'count', 'total_cost', 'avg_cost', 'min_cost', 'max_cost'],
  properties: {
    agent_id: { type: 'string' },
    project_id: { type: ['string', 'null'] },
    ...costFigureProperties,
  },
} as const;

/** Statistics over [start, end): a project's counts and costs, an agent's cost figures. */
export function registerStatsRoutes(app: FastifyInstance, context: ServerContext): void {
  // Statistics may lag the primary: they read the read database (--read-url) when there is one.
  const ledger = context.reads;

  app.get<{ Params: { projectId: string }; Querystring: RangeQuery }>(
    '/v1/projects/:projectId/stats',
    {
      config: { permission: 'read', readsMayLag: true },
      schema: {
        ...securedRoute,
        tags: ['statistics'],
        summary: "A project's execution statistics",
        params: projectParams,
        querystring: { type: 'object', additionalProperties: false, properties: timeRangeProperties },
        response: { 200: projectStatsSchema, ...errorResponses },
      },
    },
    async (request) => {
      requireProject(callerKey(request), request.params.projectId);
      const { start, end } = request.query;
      return ledger.getProjectExecutionStats(
        request.params.projectId,
        dateOrUndefined(start),
        dateOrUndefined(end),
      );
    },
  );

  app.get<{ Params: { agentId: string }; Querystring: RangeQuery }>(
    '/v1/agents/:agentId/stats',
    {
      config: { permission: 'read', readsMayLag: true },
      schema: {
        ...securedRoute,
        tags: ['statistics'],
        summary: "An agent's cost statistics, in one project or all",
        params: { type: 'object', required: ['agentId'], properties: { agentId: idSchema } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...timeRangeProperties, project_id: idSchema },
        },
        response: { 200: agentStatsSchema, ...errorResponses },
      },
    },
    async (request) => {
      const key = callerKey(request);
      const { start, end, project_id: projectId } = request.query;
      if (projectId === undefined) requireAllProjects(key, "an agent's statistics");
      else requireProject(key, projectId);
      return ledger.getAgentCostStats(
        request.params.agentId,
        projectId,
        dateOrUndefined(start),
        dateOrUndefined(end),
      );
    },
  );
}
