import type { Queryable } from './database.js';

/** A project that has entries, and how many it has. */
export interface ProjectSummary {
  project_id: string;
  entries: number;
}

/**
 * Every project with at least one entry, by id, with its number of entries (verifying every
 * project sizes its progress by them). As seen by `database`'s role: everything for the service.
 */
export async function listProjectSummaries(database: Queryable): Promise<ProjectSummary[]> {
  const rows = await database.query<ProjectSummary>(
    `select project_id, count(*)::integer as entries from execution_ledger.executions
     group by project_id order by project_id`,
  );
  return rows.map((row) => ({ project_id: row.project_id, entries: Number(row.entries) }));
}
