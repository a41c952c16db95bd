import assert from 'node:assert/strict';
import type { ExecutionStatus, StepCostOptions, StepKind } from 'execution-ledger';
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

const STEP_KIND_VALUES = ['llm', 'tool', 'external', 'agent', 'other'] as const;
const GROUPS_MAX = 1_000;

interface StepCostQuery {
  start?: string;
  end?: string;
  agent_id?: string;
  user_id?: string;
  status?: ExecutionStatus[];
  limit?: number;
  kind?: StepKind[];
}

interface StepSeriesQuery extends StepCostQuery {
  group_by: 'tool' | 'model';
  bucket: 'hour' | 'day' | 'week';
  time_zone?: string;
}

const filterProperties = {
  ...timeRangeProperties,
  agent_id: idSchema,
  user_id: idSchema,
  ...statusFilterProperty,
  limit: {
    type: 'integer',
    minimum: 1,
    maximum: GROUPS_MAX,
    default: 10,
    description: 'Groups listed one by one, costliest first; the rest are summed as other.',
  },
  kind: {
    type: 'array',
    items: { type: 'string', enum: STEP_KIND_VALUES },
    description: 'By tool only: the step kinds counted as tools (repeat it); default tool and external.',
  },
} as const;

const totalsProperties = {
  steps: { type: 'integer' },
  input_tokens: { type: 'integer' },
  output_tokens: { type: 'integer' },
  cached_input_tokens: { type: 'integer' },
  cost: { type: 'number', description: 'Cents, exact to the micro-cent.' },
} as const;
const totalsRequired = ['steps', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'cost'];

const breakdownSchema = {
  type: 'object',
  required: ['group_by', 'top', 'other', 'total'],
  properties: {
    group_by: { type: 'string', enum: ['tool', 'model'] },
    top: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kind', 'name', 'model', ...totalsRequired],
        properties: {
          kind: { type: ['string', 'null'] },
          name: { type: ['string', 'null'] },
          model: { type: ['string', 'null'] },
          ...totalsProperties,
        },
      },
    },
    other: {
      type: ['object', 'null'],
      required: ['groups', ...totalsRequired],
      properties: { groups: { type: 'integer' }, ...totalsProperties },
    },
    total: { type: 'object', required: totalsRequired, properties: totalsProperties },
  },
} as const;

const stepSeriesSchema = {
  type: 'object',
  required: ['group_by', 'bucket', 'time_zone', 'points'],
  properties: {
    group_by: { type: 'string' },
    bucket: { type: 'string' },
    time_zone: { type: 'string' },
    points: {
      type: 'array',
      items: {
        type: 'object',
        required: ['bucket_start', 'bucket_local', 'key', 'kind', ...totalsRequired],
        properties: {
          bucket_start: { type: 'string', format: 'date-time' },
          bucket_local: { type: 'string' },
          key: { type: ['string', 'null'] },
          kind: { type: ['string', 'null'] },
          ...totalsProperties,
        },
      },
    },
  },
} as const;

/** The library's options from a query: the project, the range and every given filter. */
function stepCostOptions(projectId: string, query: StepCostQuery): StepCostOptions {
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
    ...(query.kind === undefined || query.kind.length === 0 ? {} : { kinds: query.kind }),
  };
}

/** A project's step costs by tool and by model, as totals over [start, end) and as time series. */
export function registerStepCostRoutes(app: FastifyInstance, context: ServerContext): void {
  // Statistics may lag the primary: they read the read database (--read-url) when there is one.
  const ledger = context.reads;

  for (const groupBy of ['tool', 'model'] as const) {
    app.get<{ Params: { projectId: string }; Querystring: StepCostQuery }>(
      `/v1/projects/:projectId/costs/by-${groupBy}`,
      {
        config: { permission: 'read', readsMayLag: true },
        schema: {
          ...securedRoute,
          tags: ['statistics'],
          summary:
            groupBy === 'tool'
              ? "A project's step costs by tool (step kind and name): the costliest, then the rest as other"
              : "A project's step costs and tokens by model: the costliest, then the rest as other",
          params: projectParams,
          querystring: { type: 'object', additionalProperties: false, properties: filterProperties },
          response: { 200: breakdownSchema, ...errorResponses },
        },
      },
      async (request) => {
        requireProject(callerKey(request), request.params.projectId);
        const options = stepCostOptions(request.params.projectId, request.query);
        return groupBy === 'tool' ? ledger.getCostByTool(options) : ledger.getCostByModel(options);
      },
    );
  }

  app.get<{ Params: { projectId: string }; Querystring: StepSeriesQuery }>(
    '/v1/projects/:projectId/costs/timeseries',
    {
      config: { permission: 'read', readsMayLag: true },
      schema: {
        ...securedRoute,
        tags: ['statistics'],
        summary: "A project's step cost per hour, day or week, one series per top tool or model",
        params: projectParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['group_by', 'bucket', 'start', 'end'],
          properties: {
            ...filterProperties,
            group_by: { type: 'string', enum: ['tool', 'model'] },
            bucket: { type: 'string', enum: ['hour', 'day', 'week'] },
            time_zone: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
              description: 'IANA zone, default UTC.',
            },
          },
        },
        response: { 200: stepSeriesSchema, ...errorResponses },
      },
    },
    async (request) => {
      requireProject(callerKey(request), request.params.projectId);
      const query = request.query;
      assert(query.start !== undefined && query.end !== undefined, 'the route schema requires start and end');
      return ledger.getStepCostTimeSeries({
        ...stepCostOptions(request.params.projectId, query),
        groupBy: query.group_by,
        bucket: query.bucket,
        start: new Date(query.start),
        end: new Date(query.end),
        ...(query.time_zone === undefined ? {} : { timeZone: query.time_zone }),
      });
    },
  );
}
