import type { LineageOptions } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { callerKey, type ServerContext } from '../http/server-context.js';
import { errorResponses, idSchema, securedRoute } from '../schemas/common-schemas.js';

// The library's bounds (docs/lineage.md); the library checks them again.
const DEPTH_MAX = 10_000;
const NODES_MAX = 100_000;

interface LineageQuery {
  max_depth?: number;
  max_nodes?: number;
}

const runParams = { type: 'object', required: ['runId'], properties: { runId: idSchema } } as const;
const maxDepth = {
  type: 'integer',
  minimum: 1,
  maximum: DEPTH_MAX,
  description: 'Parent links followed at most (default 1,000).',
} as const;
const maxNodes = {
  type: 'integer',
  minimum: 1,
  maximum: NODES_MAX,
  description: 'Runs in the answer at most (default 10,000).',
} as const;

const nullableText = { type: ['string', 'null'] } as const;
const nodeProperties = {
  run_id: { type: 'string' },
  recorded: {
    type: 'boolean',
    description: 'false: named as a parent, but not recorded or not visible to this key.',
  },
  parent_run_id: nullableText,
  project_id: nullableText,
  agent_id: nullableText,
  user_id: nullableText,
  status: { type: ['string', 'null'], enum: ['completed', 'failed', 'aborted', null] },
  created_at: nullableText,
  depth: { type: 'integer' },
  cost: { type: 'number', description: 'Cents, exact to the micro-cent.' },
} as const;
const nodeRequired = Object.keys(nodeProperties);
const cycleSchema = {
  type: ['array', 'null'],
  items: { type: 'string' },
  description: 'Runs whose parent links go round in a circle, each followed by its parent.',
} as const;

const treeSchema = {
  type: 'object',
  required: [
    'run_id',
    'root_run_id',
    'nodes',
    'node_count',
    'total_cost',
    'missing_parent',
    'cycle',
    'depth_exceeded',
    'nodes_exceeded',
    'complete',
  ],
  properties: {
    run_id: { type: 'string' },
    root_run_id: { type: 'string' },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        required: [...nodeRequired, 'subtree_cost', 'children'],
        properties: {
          ...nodeProperties,
          subtree_cost: { type: 'number', description: 'Cents: the run and every run below it.' },
          children: { type: 'array', items: { type: 'string' } },
        },
      },
    },
    node_count: { type: 'integer' },
    total_cost: { type: 'number' },
    missing_parent: nullableText,
    cycle: cycleSchema,
    depth_exceeded: { type: 'boolean' },
    nodes_exceeded: { type: 'boolean' },
    complete: { type: 'boolean', description: 'No bound was reached: every subtree cost is whole.' },
  },
} as const;

const ancestorsSchema = {
  type: 'object',
  required: ['run_id', 'ancestors', 'missing_parent', 'cycle', 'depth_exceeded'],
  properties: {
    run_id: { type: 'string' },
    ancestors: {
      type: 'array',
      items: { type: 'object', required: nodeRequired, properties: nodeProperties },
    },
    missing_parent: nullableText,
    cycle: cycleSchema,
    depth_exceeded: { type: 'boolean' },
  },
} as const;

/**
 * Run lineage: a run's tree, its ancestors and its descendants. A key bound to some projects sees
 * only their runs: a run elsewhere answers 404 like a missing one, and a parent elsewhere shows
 * as not recorded.
 */
export function registerLineageRoutes(app: FastifyInstance, context: ServerContext): void {
  const { ledger } = context;
  const routes = [
    ['tree', "A run's whole tree with every run's own and subtree cost", treeSchema],
    ['descendants', 'The runs a run triggered, as a tree rooted at it', treeSchema],
    ['ancestors', 'The runs above a run, parent first', ancestorsSchema],
  ] as const;
  for (const [name, summary, schema] of routes) {
    app.get<{ Params: { runId: string }; Querystring: LineageQuery }>(
      `/v1/runs/:runId/${name}`,
      {
        config: { permission: 'read' },
        schema: {
          ...securedRoute,
          tags: ['lineage'],
          summary,
          description: 'A run in a project the key is not bound to answers 404, exactly like a missing one.',
          params: runParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties:
              name === 'ancestors' ? { max_depth: maxDepth } : { max_depth: maxDepth, max_nodes: maxNodes },
          },
          response: { 200: schema, ...errorResponses },
        },
      },
      async (request) => {
        const options: LineageOptions = {};
        const projects = callerKey(request).projects;
        if (projects !== null) options.projects = projects;
        if (request.query.max_depth !== undefined) options.maxDepth = request.query.max_depth;
        if (request.query.max_nodes !== undefined) options.maxNodes = request.query.max_nodes;
        const { runId } = request.params;
        if (name === 'tree') return ledger.getRunTree(runId, options);
        if (name === 'descendants') return ledger.getDescendants(runId, options);
        return ledger.getAncestors(runId, options);
      },
    );
  }
}
