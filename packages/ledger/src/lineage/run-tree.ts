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
import { microsToCents } from '../money.js';
import { requireLimit, requireLookupId } from '../query/execution-filter.js';
import { type LineageRow, type LineageTuple, readLevels, readPath } from './lineage-queries.js';
import type { LineageNode, LineageOptions, RunAncestors, RunTree } from './lineage-types.js';
import { buildDown, parseTuples, textMicros, type WalkDown } from './tree-builder.js';

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
  const rootText = rows[0]?.level === 0 ? rows[0].runs : null;
  const root = rootText === null ? undefined : parseTuples(rootText)[0];
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

/** Reads the runs under `root` level by level in one round trip (see readLevels). */
async function walkDown(
  q: Queryable,
  root: LineageNode,
  rootCost: string,
  plan: LineagePlan,
): Promise<WalkDown> {
  return buildDown(root, rootCost, await readLevels(q, root.run_id, plan, false));
}

/** The root of a walk down; its cost is set with the subtree costs. */
function tupleToNode(run: LineageTuple, depth: number): LineageNode {
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
    cost: 0,
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
