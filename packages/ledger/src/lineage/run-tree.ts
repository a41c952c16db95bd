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
import { type LineageRow, readChildren, readRuns } from './lineage-queries.js';
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
  const start = await requireRun(q, runId, plan);
  const up = await walkUp(q, start, plan);
  const top = up.path[up.path.length - 1];
  assert(top !== undefined, 'a walk up starts at the run itself');
  const down =
    up.missingParent === null
      ? await walkDown(q, rowToNode(top, 0), rowMicros(top), plan)
      : await walkDown(q, placeholder(up.missingParent), 0n, plan);
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
  const row = await requireRun(q, runId, plan);
  const down = await walkDown(q, rowToNode(row, 0), rowMicros(row), plan);
  return { run_id: runId, root_run_id: runId, ...down, missing_parent: null };
}

/** The runs above one run, parent first. */
export async function queryAncestors(q: Queryable, runId: string, plan: LineagePlan): Promise<RunAncestors> {
  const start = await requireRun(q, runId, plan);
  const up = await walkUp(q, start, plan);
  return {
    run_id: runId,
    ancestors: up.path.slice(1).map((row, index) => rowToNode(row, index + 1)),
    missing_parent: up.missingParent,
    cycle: up.cycle,
    depth_exceeded: up.depthExceeded,
  };
}

async function requireRun(q: Queryable, runId: string, plan: LineagePlan): Promise<LineageRow> {
  const [row] = await readRuns(q, [runId], plan.projects);
  if (row === undefined) {
    throw new LedgerError('NOT_FOUND', `no execution with run_id ${JSON.stringify(runId)} is visible here`, {
      field: 'run_id',
    });
  }
  return row;
}

interface WalkUp {
  /** The run, then its parent, and so on. */
  path: LineageRow[];
  missingParent: string | null;
  cycle: string[] | null;
  depthExceeded: boolean;
}

/** Follows parent links one statement per link, each run at most once, at most maxDepth links. */
async function walkUp(q: Queryable, start: LineageRow, plan: LineagePlan): Promise<WalkUp> {
  const path = [start];
  const position = new Map([[start.run_id, 0]]);
  let current = start;
  while (current.parent_run_id !== null) {
    const parentId = current.parent_run_id;
    const seenAt = position.get(parentId);
    if (seenAt !== undefined) {
      return {
        path,
        missingParent: null,
        cycle: path.slice(seenAt).map((row) => row.run_id),
        depthExceeded: false,
      };
    }
    if (path.length > plan.maxDepth) return { path, missingParent: null, cycle: null, depthExceeded: true };
    const [parent] = await readRuns(q, [parentId], plan.projects);
    if (parent === undefined) return { path, missingParent: parentId, cycle: null, depthExceeded: false };
    position.set(parentId, path.length);
    path.push(parent);
    current = parent;
  }
  return { path, missingParent: null, cycle: null, depthExceeded: false };
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

/**
 * Reads the runs under `root` level by level, one statement per level (`parent_run_id = any(…)`).
 * A run has one parent, so the only run met twice is the root, when its own parent lies below it:
 * that closes a cycle, which is reported and not followed.
 */
async function walkDown(
  q: Queryable,
  root: LineageNode,
  rootMicros: bigint,
  plan: LineagePlan,
): Promise<WalkDown> {
  const nodes: RunTreeNode[] = [{ ...root, subtree_cost: 0, children: [] }];
  // One map of exact amounts: a node's own micro-cents, then, walking back, its subtree's.
  const byId = new Map<string, RunTreeNode>([[root.run_id, nodes[0] as RunTreeNode]]);
  const micros = new Map<string, bigint>([[root.run_id, rootMicros]]);
  let cycle: string[] | null = null;
  let depthExceeded = false;
  let nodesExceeded = false;
  let level = [root.run_id];
  for (let depth = 1; level.length > 0; depth += 1) {
    const room = plan.maxNodes - nodes.length;
    const stopHere = depth > plan.maxDepth || room === 0;
    // One more row than there is room for tells whether runs were left out; one more again
    // leaves room for the root, met again when a cycle closes.
    const rows = await readChildren(q, level, stopHere ? 2 : room + 2, plan.projects);
    const next: string[] = [];
    for (const row of rows) {
      if (byId.has(row.run_id)) {
        assert(row.run_id === root.run_id, 'only the root can be met twice: every run has one parent');
        cycle ??= cycleThrough(byId, row);
        continue;
      }
      if (stopHere || next.length === room) {
        if (depth > plan.maxDepth) depthExceeded = true;
        else nodesExceeded = true;
        break;
      }
      const parent = byId.get(row.parent_run_id ?? '');
      assert(parent !== undefined, 'a child read for a level names a run of that level');
      const node = rowToNode(row, depth) as RunTreeNode;
      node.subtree_cost = 0;
      node.children = [];
      parent.children.push(node.run_id);
      nodes.push(node);
      byId.set(node.run_id, node);
      micros.set(node.run_id, rowMicros(row));
      next.push(node.run_id);
    }
    if (stopHere) break;
    level = next;
  }
  // Children come after their parent in `nodes`, so one pass from the end sums every subtree.
  for (let index = nodes.length - 1; index >= 0; index -= 1) {
    const node = nodes[index] as RunTreeNode;
    const subtree = micros.get(node.run_id) ?? 0n;
    node.subtree_cost = microsToCents(subtree);
    if (index === 0 || node.parent_run_id === null) continue;
    micros.set(node.parent_run_id, (micros.get(node.parent_run_id) ?? 0n) + subtree);
  }
  const complete = !depthExceeded && !nodesExceeded;
  return {
    nodes,
    node_count: nodes.length,
    total_cost: nodes[0]?.subtree_cost ?? 0,
    cycle,
    depth_exceeded: depthExceeded,
    nodes_exceeded: nodesExceeded,
    complete,
  };
}

/** The runs of a cycle closed by `row` (the root met again): its parent, that run's parent, … up to the root. */
function cycleThrough(byId: Map<string, RunTreeNode>, row: LineageRow): string[] {
  const ids: string[] = [];
  let current = row.parent_run_id === null ? undefined : byId.get(row.parent_run_id);
  while (current !== undefined) {
    ids.push(current.run_id);
    if (current.depth === 0) break;
    current = current.parent_run_id === null ? undefined : byId.get(current.parent_run_id);
  }
  return ids;
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
    created_at: row.created_at,
    depth,
    cost: microsToCents(rowMicros(row)),
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

function rowMicros(row: LineageRow): bigint {
  const micros = decimalTextToMicros(row.cost);
  assert(micros !== undefined, 'cost_total is numeric(20,6)');
  return micros;
}
