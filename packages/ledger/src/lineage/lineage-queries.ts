import type { Queryable } from '../db/database.js';
import { namedSql } from '../db/named-sql.js';
import type { ExecutionStatus } from '../types.js';

/** The columns a lineage walk reads: never the JSON content, only what a tree shows. */
export interface LineageRow {
  run_id: string;
  parent_run_id: string | null;
  project_id: string;
  agent_id: string;
  user_id: string;
  status: ExecutionStatus;
  cost: string;
  /** created_at as milliseconds since the epoch (bigint text). */
  created_ms: string;
}

/** A run as a JSON level returns it: [run_id, parent_run_id, project_id, agent_id, user_id, status, cost, created_ms]. */
export type LineageTuple = [string, string | null, string, string, string, ExecutionStatus, string, number];

/**
 * A level of a walk down (sql/0025_lineage_down_text.sql): its runs, the root met again, or a
 * bound that cut runs off.
 */
export interface LineageLevelRow {
  level: number;
  /**
   * null: `runs` is one line per run, fields separated by tabs in LineageTuple's order; 'json':
   * `runs` is LineageTuples separated by commas (the root's level, and a level whose texts hold a
   * tab or a newline); 'cycle': the root met again, `runs` the run above it; 'depth'/'nodes': a
   * bound left runs of the level unread.
   */
  mark: null | 'json' | 'cycle' | 'depth' | 'nodes';
  /** The level's runs, oldest first (then by run id in byte order); null for a bound. */
  runs: string | null;
}

// Both walks run in the database, one round trip each (sql/0019_run_links.sql, lineage_down as
// replaced by sql/0025_lineage_down_text.sql): the walk up is a loop of lookups by run id over
// the entries, the walk down one statement per level over run_links, a narrow copy of the parent
// links with a covering index, each level returned as one text. Neither is a recursive query
// over the entries, which a deployment sharded by project could not run.
const WALK_UP = namedSql('select * from execution_ledger.lineage_up($1, $2, $3::text[])');
const WALK_DOWN = namedSql('select * from execution_ledger.lineage_down($1, $2, $3, $4::text[], $5)');

/**
 * The run, then its parent, and so on: stops at a run without parent, a parent already on the
 * path, a parent not recorded or not visible, or when the path holds more than `maxDepth` links'
 * worth of runs with a parent still above. Empty when the run itself is not visible.
 */
export async function readPath(
  q: Queryable,
  runId: string,
  maxDepth: number,
  projects: readonly string[] | undefined,
): Promise<LineageRow[]> {
  return q.query<LineageRow>(WALK_UP, [runId, maxDepth, projects ?? null]);
}

/**
 * The runs under `rootId` by level (0 is the root itself when recorded and visible), with the
 * marks of sql/0025_lineage_down_text.sql's lineage_down. With `requireRoot` and no visible root, empty.
 */
export async function readLevels(
  q: Queryable,
  rootId: string,
  bounds: { maxDepth: number; maxNodes: number; projects: readonly string[] | undefined },
  requireRoot: boolean,
): Promise<LineageLevelRow[]> {
  return q.query<LineageLevelRow>(WALK_DOWN, [
    rootId,
    bounds.maxDepth,
    bounds.maxNodes,
    bounds.projects ?? null,
    requireRoot,
  ]);
}
