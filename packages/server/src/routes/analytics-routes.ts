import type { FastifyInstance } from 'fastify';
import { callerKey, dateOrUndefined, type ServerContext } from '../http/server-context.js';
import { requireProject } from '../keys/access-policy.js';
import {
  costFigureProperties,
  errorResponses,
  idSchema,
  projectParams,
  securedRoute,
  timeRangeProperties,
} from '../schemas/common-schemas.js';

interface SeriesQuery {
  bucket: 'hour' | 'day' | 'week';
  group_by?: 'agent' | 'user' | 'status' | 'none';
  start: string;
  end: string;
  time_zone?: string;
  agent_id?: string;
}

interface PercentileQuery {
  start?: string;
  end?: string;
  agent_id?: string;
}

const percentileSet = {
  type: 'object',
  required: ['p50', 'p95', 'p99'],
  properties: { p50: { type: 'number' }, p95: { type: 'number' }, p99: { type: 'number' } },
} as const;

const seriesSchema = {
  type: 'object',
  required: ['bucket', 'group_by', 'time_zone', 'points'],
  properties: {
    bucket: { type: 'string' },
    group_by: { type: 'string' },
    time_zone: { type: 'string' },
    points: {
      type: 'array',
      items: {
        type: 'object',
        required: ['bucket_start', 'bucket_local', 'key', 'count', 'total_cost'],
        properties: {
          bucket_start: { type: 'string', format: 'date-time' },
          bucket_local: { type: 'string' },
          key: { type: ['string', 'null'] },
          ...costFigureProperties,
        },
      },
    },
  },
} as const;

/** A project's cost over time and its cost and duration percentiles, over [start, end). */
export function registerAnalyticsRoutes(app: FastifyInstance, context: ServerContext): void {
  // Statistics may lag the primary: they read the read database (--read-url) when there is one.
  const ledger = context.reads;

  app.get<{ Params: { projectId: string }; Querystring: SeriesQuery }>(
    '/v1/projects/:projectId/timeseries',
    {
      config: { permission: 'read', readsMayLag: true },
      schema: {
        ...securedRoute,
        tags: ['statistics'],
        summary: "A project's cost per hour, day or week, optionally one series per agent, user or status",
        params: projectParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['bucket', 'start', 'end'],
          properties: {
            ...timeRangeProperties,
            bucket: { type: 'string', enum: ['hour', 'day', 'week'] },
            group_by: { type: 'string', enum: ['agent', 'user', 'status', 'none'], default: 'none' },
            time_zone: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
              description: 'IANA zone, default UTC.',
            },
            agent_id: idSchema,
          },
        },
        response: { 200: seriesSchema, ...errorResponses },
      },
    },
    async (request) => {
      requireProject(callerKey(request), request.params.projectId);
      const query = request.query;
      return ledger.getCostTimeSeries({
        projectId: request.params.projectId,
        bucket: query.bucket,
        groupBy: query.group_by ?? 'none',
        start: new Date(query.start),
        end: new Date(query.end),
        ...(query.time_zone === undefined ? {} : { timeZone: query.time_zone }),
        ...(query.agent_id === undefined ? {} : { agentId: query.agent_id }),
      });
    },
  );

  app.get<{ Params: { projectId: string }; Querystring: PercentileQuery }>(
    '/v1/projects/:projectId/percentiles',
    {
      config: { permission: 'read', readsMayLag: true },
      schema: {
        ...securedRoute,
        tags: ['statistics'],
        summary: "p50, p95 and p99 of a project's run cost and duration",
        params: projectParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...timeRangeProperties, agent_id: idSchema },
        },
        response: {
          200: {
            type: 'object',
            required: ['count', 'cost', 'duration_ms'],
            properties: { count: { type: 'integer' }, cost: percentileSet, duration_ms: percentileSet },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      requireProject(callerKey(request), request.params.projectId);
      const { start, end, agent_id: agentId } = request.query;
      const startDate = dateOrUndefined(start);
      const endDate = dateOrUndefined(end);
      return ledger.getExecutionPercentiles({
        projectId: request.params.projectId,
        ...(startDate === undefined ? {} : { start: startDate }),
        ...(endDate === undefined ? {} : { end: endDate }),
        ...(agentId === undefined ? {} : { agentId }),
      });
    },
  );
}
