import assert from 'node:assert/strict';
import { decimalTextToMicros, microsToCents } from '../money.js';
import type { ExecutionStatus } from '../types.js';
import type { LineageLevelRow, LineageTuple } from './lineage-queries.js';
import type { LineageNode, RunTreeNode } from './lineage-types.js';

/** A tree as the walk down built it, before the walk up's reports are added. */
export interface WalkDown {
  nodes: RunTreeNode[];
  node_count: number;
  total_cost: number;
  cycle: string[] | null;
  depth_exceeded: boolean;
  nodes_exceeded: boolean;
  complete: boolean;
}

const STATUSES: Record<string, ExecutionStatus> = {
  completed: 'completed',
  failed: 'failed',
  aborted: 'aborted',
};

/**
 * The tree from the database's levels, which come in order (each level oldest first). A run has
 * one parent, so the only run met twice is the root, when its own parent lies below it: the
 * database reports that as a cycle and does not follow it.
 */
export function buildDown(root: LineageNode, rootCost: string, rows: readonly LineageLevelRow[]): WalkDown {
  const tree = new TreeBuilder(root, rootCost);
  let cycleParent: string | null = null;
  let depthExceeded = false;
  let nodesExceeded = false;
  for (const row of rows) {
    if (row.level === 0) continue;
    if (row.mark === 'depth') depthExceeded = true;
    else if (row.mark === 'nodes') nodesExceeded = true;
    else if (row.mark === 'cycle') cycleParent ??= row.runs;
    else if (row.runs !== null) {
      if (row.mark === 'json') tree.addTuples(parseTuples(row.runs), row.level);
      else tree.addLines(row.runs, row.level);
    }
  }
  const nodes = tree.finish();
  const complete = !depthExceeded && !nodesExceeded;
  return {
    nodes,
    node_count: nodes.length,
    total_cost: nodes[0]?.subtree_cost ?? 0,
    cycle: cycleParent === null ? null : tree.pathUp(cycleParent),
    depth_exceeded: depthExceeded,
    nodes_exceeded: nodesExceeded,
    complete,
  };
}

/** Runs given as LineageTuples separated by commas (a 'json' level). */
export function parseTuples(text: string): LineageTuple[] {
  return JSON.parse(`[${text}]`) as LineageTuple[];
}

/**
 * Nodes in the order they come (root, then each level oldest first), each child linked to its
 * parent by index: a parent always comes before its children, so subtree costs are one pass
 * from the end.
 */
class TreeBuilder {
  private readonly nodes: RunTreeNode[];
  private readonly costs: string[];
  private readonly parents: number[] = [-1];
  private readonly indexById: Map<string, number>;

  constructor(root: LineageNode, rootCost: string) {
    this.nodes = [{ ...root, subtree_cost: 0, children: [] }];
    this.costs = [rootCost];
    this.indexById = new Map([[root.run_id, 0]]);
  }

  /**
   * One run per line, its fields separated by tabs (the database checked that every tab and
   * newline is a separator): read in place with indexOf, no array per run.
   */
  addLines(text: string, depth: number): void {
    const end = text.length;
    let start = 0;
    while (start < end) {
      let lineEnd = text.indexOf('\n', start);
      if (lineEnd === -1) lineEnd = end;
      const t1 = nextTab(text, start, lineEnd);
      const t2 = nextTab(text, t1 + 1, lineEnd);
      const t3 = nextTab(text, t2 + 1, lineEnd);
      const t4 = nextTab(text, t3 + 1, lineEnd);
      const t5 = nextTab(text, t4 + 1, lineEnd);
      const t6 = nextTab(text, t5 + 1, lineEnd);
      const t7 = nextTab(text, t6 + 1, lineEnd);
      const status = STATUSES[text.slice(t5 + 1, t6)];
      const createdMs = Number(text.slice(t7 + 1, lineEnd));
      assert(
        status !== undefined && Number.isSafeInteger(createdMs),
        'a lineage line ends in status, cost, time',
      );
      this.add(
        text.slice(start, t1),
        text.slice(t1 + 1, t2),
        text.slice(t2 + 1, t3),
        text.slice(t3 + 1, t4),
        text.slice(t4 + 1, t5),
        status,
        text.slice(t6 + 1, t7),
        createdMs,
        depth,
      );
      start = lineEnd + 1;
    }
  }

  addTuples(runs: readonly LineageTuple[], depth: number): void {
    for (const run of runs) {
      assert(run[1] !== null, 'a run below the root names its parent');
      this.add(run[0], run[1], run[2], run[3], run[4], run[5], run[6], run[7], depth);
    }
  }

  private add(
    runId: string,
    parentId: string,
    projectId: string,
    agentId: string,
    userId: string,
    status: ExecutionStatus,
    cost: string,
    createdMs: number,
    depth: number,
  ): void {
    const parentIndex = this.indexById.get(parentId);
    assert(parentIndex !== undefined, 'a run of a level names a run of the level above');
    const parent = this.nodes[parentIndex] as RunTreeNode;
    parent.children.push(runId);
    this.indexById.set(runId, this.nodes.length);
    this.nodes.push({
      run_id: runId,
      recorded: true,
      // The parent's own string: the same text, kept once.
      parent_run_id: parent.run_id,
      project_id: projectId,
      agent_id: agentId,
      user_id: userId,
      status,
      created_at: new Date(createdMs).toISOString(),
      depth,
      // Set with the subtree costs.
      cost: 0,
      subtree_cost: 0,
      children: [],
    });
    this.costs.push(cost);
    this.parents.push(parentIndex);
  }

  finish(): RunTreeNode[] {
    sumSubtrees(this.nodes, this.costs, this.parents);
    return this.nodes;
  }

  /** The runs from `runId` up to the root: the cycle closed when the root is met again under `runId`. */
  pathUp(runId: string): string[] {
    const ids: string[] = [];
    let index = this.indexById.get(runId);
    while (index !== undefined && index !== -1) {
      ids.push((this.nodes[index] as RunTreeNode).run_id);
      index = this.parents[index];
    }
    return ids;
  }
}

function nextTab(text: string, from: number, lineEnd: number): number {
  const tab = text.indexOf('\t', from);
  assert(tab !== -1 && tab < lineEnd, 'a lineage line has eight fields');
  return tab;
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

/** Exact micro-cents of a cost text (numeric(20, 6)). */
export function textMicros(cost: string): bigint {
  const micros = decimalTextToMicros(cost);
  assert(micros !== undefined, 'cost_total is numeric(20,6)');
  return micros;
}
