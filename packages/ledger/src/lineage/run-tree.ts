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
import { type LineageLevelRow, type LineageRow, readLevels, readPath } from './lineage-queries.js';
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
  const rows = await readLevels(q, runId, plan, true);
  const root = rows[0];
  if (root === undefined || root.level !== 0) throw notFound(runId);
  const rootRow = root as LineageRow;
  const down = buildDown(rowToNode(rootRow, 0), rowMicros(rootRow), rows);
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
  rootMicros: bigint,
  plan: LineagePlan,
): Promise<WalkDown> {
  return buildDown(root, rootMicros, await readLevels(q, root.run_id, plan, false));
}

/**
 * The tree from the database's levels. A run has one parent, so the only run met twice is the
 * root, when its own parent lies below it: that closes a cycle, which is reported and not followed.
 * Each level is put in order here (created_at, then run id): sorting in the database was a third
 * of a level's time.
 */
function buildDown(root: LineageNode, rootMicros: bigint, rows: readonly LineageLevelRow[]): WalkDown {
  const nodes: RunTreeNode[] = [{ ...root, subtree_cost: 0, children: [] }];
  // One map of exact amounts: a node's own micro-cents, then, walking back, its subtree's.
  const byId = new Map<string, RunTreeNode>([[root.run_id, nodes[0] as RunTreeNode]]);
  const micros = new Map<string, bigint>([[root.run_id, rootMicros]]);
  let cycleRow: LineageRow | null = null;
  let depthExceeded = false;
  let nodesExceeded = false;
  const levels: LineageRow[][] = [];
  for (const row of rows) {
    if (row.level === 0) continue;
    if (row.mark === 'depth') depthExceeded = true;
    else if (row.mark === 'nodes') nodesExceeded = true;
    else if (row.mark === 'cycle') cycleRow ??= row as LineageRow;
    else {
      let level = levels[row.level - 1];
      if (level === undefined) {
        level = [];
        levels[row.level - 1] = level;
      }
      level.push(row as LineageRow);
    }
  }
  for (const [index, level] of levels.entries()) {
    assert(level !== undefined, 'levels are consecutive');
    level.sort((a, b) => Number(a.created_ms) - Number(b.created_ms) || compareText(a.run_id, b.run_id));
    for (const row of level) {
      const parent = byId.get(row.parent_run_id ?? '');
      assert(parent !== undefined, 'a child read for a level names a run of the level above');
      const node = rowToNode(row, index + 1) as RunTreeNode;
      node.subtree_cost = 0;
      node.children = [];
      parent.children.push(node.run_id);
      nodes.push(node);
      byId.set(node.run_id, node);
      micros.set(node.run_id, rowMicros(row));
    }
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
    cycle: cycleRow === null ? null : cycleThrough(byId, cycleRow),
    depth_exceeded: depthExceeded,
    nodes_exceeded: nodesExceeded,
    complete,
  };
}

function compareText(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
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
    created_at: new Date(Number(row.created_ms)).toISOString(),
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
