import type { ExecutionStatus, TopRunsOptions } from 'execution-ledger';
import { PAGE_ROWS_MAX } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { callerKey, dateOrUndefined, type ServerContext } from '../http/server-context.js';
import { requireProject } from '../keys/access-policy.js';
import {
  errorResponses,
  idSchema,
  projectParams,
  securedRoute,
  statusFilterProperty,
  timeRangeProperties,
} from '../schemas/common-schemas.js';
import { executionRecordSchema } from '../schemas/execution-schemas.js';

/** How many users or runs an answer lists when no limit is given (the library's own defaults). */
const USERS_DEFAULT = 100;
const RUNS_DEFAULT = 10;

interface RankingQuery {
  start?: string;
  end?: string;
  agent_id?: string;
  user_id?: string;
  status?: ExecutionStatus[];
  limit?: number;
}

function rankingQuerystring(limitDefault: number, what: string) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...timeRangeProperties,
      agent_id: idSchema,
      user_id: idSchema,
      ...statusFilterProperty,
      limit: {
        type: 'integer',
        minimum: 1,
        maximum: PAGE_ROWS_MAX,
        default: limitDefault,
        description: `How many ${what}, costliest first.`,
      },
    },
  } as const;
}

const userCostsSchema = {
  type: 'object',
  required: ['data'],
  properties: {
    data: {
      type: 'array',
      items: {
        type: 'object',
        required: ['user_id', 'count', 'total_cost', 'avg_cost'],
        properties: {
          user_id: { type: 'string' },
          count: { type: 'integer' },
          total_cost: { type: 'number', description: 'Cents, exact to the micro-cent.' },
          avg_cost: { type: 'number', description: 'Cents, rounded to six decimals.' },
        },
      },
    },
  },
} as const;

const topRunsSchema = {
  type: 'object',
  required: ['data'],
  properties: { data: { type: 'array', items: executionRecordSchema } },
} as const;

/** The library's filter from a query: the project, the range and every given filter. */
function rankingFilter(projectId: string, query: RankingQuery): TopRunsOptions {
  const start = dateOrUndefined(query.start);
  const end = dateOrUndefined(query.end);
  return {
    projectId,
    ...(start === undefined ? {} : { start }),
    ...(end === undefined ? {} : { end }),
    ...(query.agent_id === undefined ? {} : { agentId: query.agent_id }),
    ...(query.user_id === undefined ? {} : { userId: query.user_id }),
    ...(query.status === undefined || query.status.length === 0 ? {} : { status: query.status }),
    ...(query.limit === undefined ? {} : { limit: query.limit }),
  };
}

/** A project's costliest users and costliest runs over [start, end), for a filter. */
export function registerCostRankingRoutes(app: FastifyInstance, context: ServerContext): void {
  const { ledger } = context;

  app.get<{ Params: { projectId: string }; Querystring: RankingQuery }>(
    '/v1/projects/:projectId/costs/by-user',
    {
      config: { permission: 'read' },
      schema: {
        ...securedRoute,
        tags: ['statistics'],
        summary: "A project's users by run cost, costliest first (ties by user id)",
        params: projectParams,
        querystring: rankingQuerystring(USERS_DEFAULT, 'users'),
        response: { 200: userCostsSchema, ...errorResponses },
      },
    },
    async (request) => {
      requireProject(callerKey(request), request.params.projectId);
      return { data: await ledger.getCostByUser(rankingFilter(request.params.projectId, request.query)) };
    },
  );

  app.get<{ Params: { projectId: string }; Querystring: RankingQuery }>(
    '/v1/projects/:projectId/costs/top-runs',
    {
      config: { permission: 'read' },
      schema: {
        ...securedRoute,
        tags: ['statistics'],
        summary: "A project's most expensive runs, costliest first (ties: newest first)",
        params: projectParams,
        querystring: rankingQuerystring(RUNS_DEFAULT, 'runs'),
        response: { 200: topRunsSchema, ...errorResponses },
      },
    },
    async (request) => {
      requireProject(callerKey(request), request.params.projectId);
      return {
        data: await ledger.getMostExpensiveRuns(rankingFilter(request.params.projectId, request.query)),
      };
    },
  );
}
