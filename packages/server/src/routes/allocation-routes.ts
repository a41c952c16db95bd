import {
  type AllocationReportOptions,
  type AllocationRuleSetInput,
  allocationReportToCsv,
} from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { callerKey, type ServerContext } from '../http/server-context.js';
import { requireAllProjects } from '../keys/access-policy.js';
import { errorResponses, securedRoute } from '../schemas/common-schemas.js';

interface ReportQuery {
  period: string;
  rule_set_version?: number;
  format?: 'json' | 'csv';
}

const cents = { type: 'number', description: 'Cents, exact to the micro-cent.' } as const;
const nullableText = { type: ['string', 'null'] } as const;
const openObject = { type: 'object', additionalProperties: true } as const;

const ruleSetSchema = {
  type: 'object',
  required: ['version', 'effective_from', 'hash', 'created_at', 'rules'],
  properties: {
    version: { type: 'integer' },
    effective_from: { type: 'string' },
    hash: { type: 'string', description: 'Hex SHA-256 of the canonical JSON of { effective_from, rules }.' },
    created_at: { type: 'string' },
    rules: { type: 'array', items: openObject },
  },
} as const;

const totals = {
  effective_cost: cents,
  markup: cents,
  billed_cost: cents,
} as const;

const reportSchema = {
  type: 'object',
  required: [
    'period',
    'period_start',
    'period_end',
    'rule_set',
    'sources',
    'lines',
    'cost_centers',
    'totals',
  ],
  properties: {
    period: { type: 'string' },
    period_start: { type: 'string' },
    period_end: { type: 'string' },
    rule_set: {
      type: 'object',
      required: ['version', 'hash', 'effective_from'],
      properties: {
        version: { type: 'integer' },
        hash: { type: 'string' },
        effective_from: { type: 'string' },
      },
    },
    sources: {
      type: 'array',
      items: {
        type: 'object',
        required: ['rule_id', 'source', 'method', 'basis', 'amount', 'markup', 'runs'],
        properties: {
          rule_id: { type: 'string' },
          source: { type: 'string' },
          method: { type: 'string' },
          basis: nullableText,
          amount: cents,
          markup: cents,
          runs: { type: ['integer', 'null'] },
        },
      },
    },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        required: ['rule_id', 'source', 'cost_center', 'method', 'basis', 'weight', ...Object.keys(totals)],
        properties: {
          rule_id: { type: 'string' },
          source: { type: 'string' },
          cost_center: { type: 'string' },
          method: { type: 'string' },
          basis: nullableText,
          weight: { type: 'string' },
          ...totals,
        },
      },
    },
    cost_centers: {
      type: 'array',
      items: {
        type: 'object',
        required: ['cost_center', ...Object.keys(totals)],
        properties: { cost_center: { type: 'string' }, ...totals },
      },
    },
    totals: { type: 'object', required: Object.keys(totals), properties: totals },
  },
} as const;

/**
 * Cost allocation (docs/allocation.md): a month's report, as JSON or FOCUS-style CSV, and
 * publishing a rule set version. Both span every project, so both need a key bound to all.
 */
export function registerAllocationRoutes(app: FastifyInstance, context: ServerContext): void {
  const { ledger } = context;
  app.get<{ Querystring: ReportQuery }>(
    '/v1/allocation/report',
    {
      config: { permission: 'read' },
      schema: {
        ...securedRoute,
        tags: ['allocation'],
        summary: "A month's costs split by an allocation rule set version, exactly",
        description: 'Spans every project, so it needs a key bound to every project.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['period'],
          properties: {
            period: { type: 'string', pattern: '^\\d{4}-\\d{2}$', description: 'A UTC month, YYYY-MM.' },
            rule_set_version: { type: 'integer', minimum: 1 },
            format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
          },
        },
        response: {
          200: {
            description: 'The report.',
            content: {
              'application/json': { schema: reportSchema },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      requireAllProjects(callerKey(request), 'an allocation report');
      const options: AllocationReportOptions = { period: request.query.period };
      if (request.query.rule_set_version !== undefined)
        options.ruleSetVersion = request.query.rule_set_version;
      const report = await ledger.getAllocationReport(options);
      if (request.query.format !== 'csv') return reply.type('application/json').send(report);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="allocation-${report.period}.csv"`)
        .send(allocationReportToCsv(report));
    },
  );
  app.post<{ Body: AllocationRuleSetInput }>(
    '/v1/allocation/rule-sets',
    {
      config: { permission: 'allocate' },
      schema: {
        ...securedRoute,
        tags: ['allocation'],
        summary: 'Publish an allocation rule set as the next version',
        description:
          'Checked by the library (docs/allocation.md); needs an admin key bound to every project.',
        body: openObject,
        response: { 201: ruleSetSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      requireAllProjects(callerKey(request), 'publishing an allocation rule set');
      const published = await ledger.publishAllocationRuleSet(request.body);
      return reply.code(201).send(published);
    },
  );
}
