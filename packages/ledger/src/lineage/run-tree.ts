import assert from 'node:assert/strict';
import {
  LINEAGE_DEPTH_DEFAULT,
  LINEAGE_DEPTH_MAX,
  LINEAGE_NODES_DEFAULT,
  LINEAGE_NODES_MAX,
  LINEAGE_PROJECTS_MAX,
} from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { LedgerError } from '../errors.js';
import { decimalTextToMicros, microsToCents } from '../money.js';
import { requireLimit, requireLookupId } from '../query/execution-filter.js';
import {
  type LineageLevelRow,
  type LineageRow,
  type LineageTuple,
  readLevels,
  readPath,
} from './lineage-queries.js';
import type { LineageNode, LineageOptions, RunAncestors, RunTree, RunTreeNode } from './lineage-types.js';

/** Lineage options once checked. */
export interface LineagePlan {
  maxDepth: number;
  maxNodes: number;
  projects: string[] | undefined;
}

/** Checks a lineage read's options (and its run id) before anything is read. */
export function planLineage(runId: unknown, options: LineageOptions | undefined): LineagePlan {
  requireLookupId(runId, 'runId');
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new LedgerError('VALIDATION_FAILED', 'lineage options must be an object such as { maxDepth: 50 }', {
      field: 'options',
    });
  }
  const maxDepth = requireLimit(options?.maxDepth, 'maxDepth', LINEAGE_DEPTH_DEFAULT, LINEAGE_DEPTH_MAX);
  const maxNodes = requireLimit(options?.maxNodes, 'maxNodes', LINEAGE_NODES_DEFAULT, LINEAGE_NODES_MAX);
  return { maxDepth, maxNodes, projects: requireProjects(options?.projects) };
}

function requireProjects(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > LINEAGE_PROJECTS_MAX) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `projects must be an array of at most ${LINEAGE_PROJECTS_MAX} project ids; leave it out to see every project`,
      { field: 'projects' },
    );
  }
  return value.map((project, index) => requireLookupId(project, `projects[${index}]`));
}

/** The tree a run belongs to: up to its root (or a missing parent), then every run below. */
export async function queryRunTree(q: Queryable, runId: string, plan: LineagePlan): Promise<RunTree> {
  const up = await walkUp(q, runId, plan);
  const top = up.path[up.path.length - 1];
  assert(top !== undefined, 'a walk up starts at the run itself');
  const down =
    up.missingParent === null
      ? await walkDown(q, rowToNode(top, 0), top.cost, plan)
      : await walkDown(q, placeholder(up.missingParent), '0', plan);
  const root = down.nodes[0];
  assert(root !== undefined, 'a tree holds its root');
  return {
    run_id: runId,
    root_run_id: root.run_id,
    nodes: down.nodes,
    node_count: down.node_count,
    total_cost: down.total_cost,
    missing_parent: up.missingParent,
    cycle: up.cycle ?? down.cycle,
    depth_exceeded: up.depthExceeded || down.depth_exceeded,
    nodes_exceeded: down.nodes_exceeded,
    complete: !up.depthExceeded && down.complete,
  };
}

/** The subtree under one run (the run itself as root). */
export async function queryDescendants(q: Queryable, runId: string, plan: LineagePlan): Promise<RunTree> {
  const rows = await readLevels(q, runId, plan, true);
  const root = rows[0]?.level === 0 ? rows[0].runs?.[0] : undefined;
  if (root === undefined) throw notFound(runId);
  const down = buildDown(tupleToNode(root, 0), root[6], rows);
  return { run_id: runId, root_run_id: runId, ...down, missing_parent: null };
}

/** The runs above one run, parent first. */
export async function queryAncestors(q: Queryable, runId: string, plan: LineagePlan): Promise<RunAncestors> {
  const up = await walkUp(q, runId, plan);
  return {
    run_id: runId,
    ancestors: up.path.slice(1).map((row, index) => rowToNode(row, index + 1)),
    missing_parent: up.missingParent,
    cycle: up.cycle,
    depth_exceeded: up.depthExceeded,
  };
}

function notFound(runId: string): LedgerError {
  return new LedgerError('NOT_FOUND', `no execution with run_id ${JSON.stringify(runId)} is visible here`, {
    field: 'run_id',
  });
}

interface WalkUp {
  /** The run, then its parent, and so on. */
  path: LineageRow[];
  missingParent: string | null;
  cycle: string[] | null;
  depthExceeded: boolean;
}

/**
 * Follows parent links, each run at most once, at most maxDepth links, in one round trip; why the
 * walk stopped is read from the path's last run, in the order the database's loop checks it.
 */
async function walkUp(q: Queryable, runId: string, plan: LineagePlan): Promise<WalkUp> {
  const path = await readPath(q, runId, plan.maxDepth, plan.projects);
  const last = path[path.length - 1];
  if (last === undefined) throw notFound(runId);
  const parentId = last.parent_run_id;
  if (parentId === null) return { path, missingParent: null, cycle: null, depthExceeded: false };
  const seenAt = path.findIndex((row) => row.run_id === parentId);
  if (seenAt !== -1) {
    return {
      path,
      missingParent: null,
      cycle: path.slice(seenAt).map((row) => row.run_id),
      depthExceeded: false,
    };
  }
  if (path.length > plan.maxDepth) return { path, missingParent: null, cycle: null, depthExceeded: true };
  return { path, missingParent: parentId, cycle: null, depthExceeded: false };
}

interface WalkDown {
  nodes: RunTreeNode[];
  node_count: number;
  total_cost: number;
  cycle: string[] | null;
  depth_exceeded: boolean;
  nodes_exceeded: boolean;
  complete: boolean;
}

/** Reads the runs under `root` level by level in one round trip (see readLevels). */
async function walkDown(
  q: Queryable,
  root: LineageNode,
  rootCost: string,
  plan: LineagePlan,
): Promise<WalkDown> {
  return buildDown(root, rootCost, await readLevels(q, root.run_id, plan, false));
}

/**
 * The tree from the database's levels, which come in order (each level oldest first). A run has
 * one parent, so the only run met twice is the root, when its own parent lies below it: that
 * closes a cycle, which is reported and not followed.
 */
function buildDown(root: LineageNode, rootCost: string, rows: readonly LineageLevelRow[]): WalkDown {
  const nodes: RunTreeNode[] = [{ ...root, subtree_cost: 0, children: [] }];
  const costs = [rootCost];
  const parents = [-1];
  const indexById = new Map([[root.run_id, 0]]);
  let cycleRun: LineageTuple | null = null;
  let depthExceeded = false;
  let nodesExceeded = false;
  for (const row of rows) {
    if (row.level === 0) continue;
    if (row.mark === 'depth') depthExceeded = true;
    else if (row.mark === 'nodes') nodesExceeded = true;
    else if (row.mark === 'cycle') cycleRun ??= row.runs?.[0] ?? null;
    else {
      for (const run of row.runs ?? []) {
        const parentIndex = indexById.get(run[1] ?? '');
        assert(parentIndex !== undefined, 'a run of a level names a run of the level above');
        const node = tupleToNode(run, row.level);
        (nodes[parentIndex] as RunTreeNode).children.push(node.run_id);
        indexById.set(node.run_id, nodes.length);
        nodes.push(node);
        costs.push(run[6]);
        parents.push(parentIndex);
      }
    }
  }
  sumSubtrees(nodes, costs, parents);
  const complete = !depthExceeded && !nodesExceeded;
  return {
    nodes,
    node_count: nodes.length,
    total_cost: nodes[0]?.subtree_cost ?? 0,
    cycle: cycleRun === null ? null : cycleThrough(nodes, indexById, cycleRun),
    depth_exceeded: depthExceeded,
    nodes_exceeded: nodesExceeded,
    complete,
  };
}

/**
 * Each node's own cost and its subtree's, exact to the micro-cent. Children come after their
 * parent, so one pass from the end sums every subtree. Amounts are integers of micro-cents: as
 * doubles while the whole tree stays below 2^53 (costs are never negative, so no partial sum is
 * larger than the root's, and a root sum that passed 2^53 cannot round back below it), otherwise
 * again as bigints. micros / 10^6 is the double nearest the decimal amount, as microsToCents gives.
 */
function sumSubtrees(nodes: RunTreeNode[], costs: readonly string[], parents: readonly number[]): void {
  const fast = new Float64Array(costs.length);
  let small = true;
  for (let index = 0; index < costs.length && small; index += 1) {
    const micros = smallMicros(costs[index] as string);
    if (micros === null) small = false;
    else fast[index] = micros;
  }
  if (small) {
    for (let index = 0; index < nodes.length; index += 1)
      (nodes[index] as RunTreeNode).cost = (fast[index] as number) / 1e6;
    for (let index = nodes.length - 1; index > 0; index -= 1) {
      fast[parents[index] as number] = (fast[parents[index] as number] as number) + (fast[index] as number);
    }
    if ((fast[0] as number) <= Number.MAX_SAFE_INTEGER) {
      for (let index = 0; index < nodes.length; index += 1) {
        (nodes[index] as RunTreeNode).subtree_cost = (fast[index] as number) / 1e6;
      }
      return;
    }
  }
  const exact = costs.map(textMicros);
  for (let index = 0; index < nodes.length; index += 1) {
    (nodes[index] as RunTreeNode).cost = microsToCents(exact[index] as bigint);
  }
  for (let index = nodes.length - 1; index > 0; index -= 1) {
    exact[parents[index] as number] = (exact[parents[index] as number] as bigint) + (exact[index] as bigint);
  }
  for (let index = 0; index < nodes.length; index += 1) {
    (nodes[index] as RunTreeNode).subtree_cost = microsToCents(exact[index] as bigint);
  }
}

/** Micro-cents of a numeric(20, 6) text below 10^9 cents as an exact double, else null. */
function smallMicros(cost: string): number | null {
  const dot = cost.indexOf('.');
  const whole = dot === -1 ? cost : cost.slice(0, dot);
  const fraction = dot === -1 ? '' : cost.slice(dot + 1);
  if (whole.length === 0 || whole.length > 9 || fraction.length > 6) return null;
  const micros = Number(whole) * 1e6 + (fraction === '' ? 0 : Number(fraction) * 10 ** (6 - fraction.length));
  return Number.isSafeInteger(micros) ? micros : null;
}

function textMicros(cost: string): bigint {
  const micros = decimalTextToMicros(cost);
  assert(micros !== undefined, 'cost_total is numeric(20,6)');
  return micros;
}

/** The runs of a cycle closed by `run` (the root met again): its parent, that run's parent, … up to the root. */
function cycleThrough(
  nodes: readonly RunTreeNode[],
  indexById: Map<string, number>,
  run: LineageTuple,
): string[] {
  const ids: string[] = [];
  const nodeOf = (runId: string | null) => {
    const index = runId === null ? undefined : indexById.get(runId);
    return index === undefined ? undefined : nodes[index];
  };
  let current = nodeOf(run[1]);
  while (current !== undefined) {
    ids.push(current.run_id);
    if (current.depth === 0) break;
    current = nodeOf(current.parent_run_id);
  }
  return ids;
}

function tupleToNode(run: LineageTuple, depth: number): RunTreeNode {
  return {
    run_id: run[0],
    recorded: true,
    parent_run_id: run[1],
    project_id: run[2],
    agent_id: run[3],
    user_id: run[4],
    status: run[5],
    created_at: new Date(run[7]).toISOString(),
    depth,
    // Set with the subtree costs.
    cost: 0,
    subtree_cost: 0,
    children: [],
  };
}

function rowToNode(row: LineageRow, depth: number): LineageNode {
  return {
    run_id: row.run_id,
    recorded: true,
    parent_run_id: row.parent_run_id,
    project_id: row.project_id,
    agent_id: row.agent_id,
    user_id: row.user_id,
    status: row.status,
    created_at: new Date(Number(row.created_ms)).toISOString(),
    depth,
    cost: microsToCents(textMicros(row.cost)),
  };
}

function placeholder(runId: string): LineageNode {
  return {
    run_id: runId,
    recorded: false,
    parent_run_id: null,
    project_id: null,
    agent_id: null,
    user_id: null,
    status: null,
    created_at: null,
    depth: 0,
    cost: 0,
  };
}
