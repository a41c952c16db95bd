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
  created_at: string;
}

const LINEAGE_COLUMNS = `e.run_id, e.parent_run_id, e.project_id, e.agent_id, e.user_id, e.status,
  e.cost_total::text as cost,
  to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at`;

// Lineage is walked one level per statement with an index lookup per id (unique run_id, and
// executions_parent_idx on parent_run_id), never with a recursive query over the entries: a
// sharded deployment runs each level on every shard and merges, which recursion cannot do.
const RUNS_BY_ID = namedSql(
  `select ${LINEAGE_COLUMNS} from execution_ledger.executions e where e.run_id = any($1::text[])`,
);
const RUNS_BY_ID_IN_PROJECTS = namedSql(
  `select ${LINEAGE_COLUMNS} from execution_ledger.executions e
   where e.run_id = any($1::text[]) and e.project_id = any($2::text[])`,
);
// A level is read unordered (a sort of thousands of rows was a third of the statement's time) and
// sorted here; only a level cut by the node bound is read again in order, so which runs are kept
// does not depend on the plan.
const CHILDREN = namedSql(
  `select ${LINEAGE_COLUMNS} from execution_ledger.executions e
   where e.parent_run_id = any($1::text[]) limit $2`,
);
const CHILDREN_IN_PROJECTS = namedSql(
  `select ${LINEAGE_COLUMNS} from execution_ledger.executions e
   where e.parent_run_id = any($1::text[]) and e.project_id = any($3::text[]) limit $2`,
);
const FIRST_CHILDREN = namedSql(
  `select ${LINEAGE_COLUMNS} from execution_ledger.executions e
   where e.parent_run_id = any($1::text[]) order by e.created_at, e.run_id collate "C" limit $2`,
);
const FIRST_CHILDREN_IN_PROJECTS = namedSql(
  `select ${LINEAGE_COLUMNS} from execution_ledger.executions e
   where e.parent_run_id = any($1::text[]) and e.project_id = any($3::text[])
   order by e.created_at, e.run_id collate "C" limit $2`,
);

/** Reads runs by id, limited to `projects` when given; missing and hidden ones are simply absent. */
export async function readRuns(
  q: Queryable,
  runIds: readonly string[],
  projects: readonly string[] | undefined,
): Promise<LineageRow[]> {
  if (runIds.length === 0) return [];
  return projects === undefined
    ? q.query<LineageRow>(RUNS_BY_ID, [runIds])
    : q.query<LineageRow>(RUNS_BY_ID_IN_PROJECTS, [runIds, projects]);
}

/** The runs naming any of `parentIds` as parent, oldest first (then by run id), the first `limit`. */
export async function readChildren(
  q: Queryable,
  parentIds: readonly string[],
  limit: number,
  projects: readonly string[] | undefined,
): Promise<LineageRow[]> {
  if (parentIds.length === 0) return [];
  const params = projects === undefined ? [parentIds, limit] : [parentIds, limit, projects];
  let rows = await q.query<LineageRow>(projects === undefined ? CHILDREN : CHILDREN_IN_PROJECTS, params);
  if (rows.length === limit) {
    rows = await q.query<LineageRow>(
      projects === undefined ? FIRST_CHILDREN : FIRST_CHILDREN_IN_PROJECTS,
      params,
    );
  }
  // created_at is fixed-width ISO text, so text order is time order.
  return rows.sort((a, b) => compareText(a.created_at, b.created_at) || compareText(a.run_id, b.run_id));
}

function compareText(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
