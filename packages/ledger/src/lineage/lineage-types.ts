import type { ExecutionStatus } from '../types.js';

/** How far a lineage read may go; each is checked, with a clear error, before anything is read. */
export interface LineageOptions {
  /** Parent links followed at most, up and down (default 1,000, at most 10,000). */
  maxDepth?: number;
  /** Runs in one answer at most (default 10,000, at most 100,000). */
  maxNodes?: number;
  /**
   * Only runs of these projects are seen, as if the others did not exist (an API key bound to
   * some projects). A parent in another project then shows as missing. Leave it out to see every
   * project the reader may read.
   */
  projects?: readonly string[];
}

/** A run in a lineage answer; amounts are cents, exact to the micro-cent (summed as integers). */
export interface LineageNode {
  run_id: string;
  /**
   * false for a placeholder: some run names this id as its parent, but no run with it is recorded
   * (yet: children are often recorded before their parent) or visible to this reader.
   */
  recorded: boolean;
  parent_run_id: string | null;
  project_id: string | null;
  agent_id: string | null;
  user_id: string | null;
  status: ExecutionStatus | null;
  created_at: string | null;
  /** Parent links from the tree's root (0 for the root); in ancestors, links up from the run asked about. */
  depth: number;
  /** The run's own cost.total, 0 for a placeholder. */
  cost: number;
}

/** A node of a tree: its own cost plus its subtree's. */
export interface RunTreeNode extends LineageNode {
  /** The run's cost plus every descendant's in this answer (exact when the tree is complete). */
  subtree_cost: number;
  /** Run ids of its children in this answer, oldest first. */
  children: string[];
}

/** A run's whole tree, or the subtree under one run: nodes root first, level by level. */
export interface RunTree {
  /** The run asked about. */
  run_id: string;
  root_run_id: string;
  /** Root first, then each level, children oldest first. */
  nodes: RunTreeNode[];
  node_count: number;
  /** The root's subtree cost: what the whole task cost. */
  total_cost: number;
  /** The run id the top recorded run names as parent when no such run is recorded or visible. */
  missing_parent: string | null;
  /**
   * Runs whose parent links go round in a circle (possible because a parent may be named before it is
   * recorded): their run ids, from the first met walking up. Each link is followed once, never looped.
   */
  cycle: string[] | null;
  /** The walk stopped at maxDepth with runs below (or, walking up, a parent above) still unread. */
  depth_exceeded: boolean;
  /** The walk stopped at maxNodes with runs still unread. */
  nodes_exceeded: boolean;
  /** Every run linked to the root is in the answer, so every subtree cost is exact. */
  complete: boolean;
}

/** The runs above one run, its parent first. */
export interface RunAncestors {
  run_id: string;
  /** Parent first, depth 1, then its parent (depth 2)… */
  ancestors: LineageNode[];
  /** The parent run id named by the topmost run found, when that run is not recorded or not visible. */
  missing_parent: string | null;
  cycle: string[] | null;
  /** maxDepth was reached with a parent still above. */
  depth_exceeded: boolean;
}
