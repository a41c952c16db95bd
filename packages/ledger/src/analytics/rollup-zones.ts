import type { Queryable } from '../db/database.js';
import { LedgerError } from '../errors.js';
import type { RollupTimeZone, RollupTimeZoneReport } from './analytics-types.js';
import { requireTimeZone, unknownZoneError } from './series-window.js';

/**
 * Keeps a project's days in a time zone (sql/0029_zone_day_level.sql): lists the zone and fills
 * its days from the project's entries, in one transaction under the project's append lock (its
 * appends wait for it; every later one keeps the zone's days). Adding a zone already kept fills
 * it again, which repairs it.
 */
export async function addRollupTimeZone(
  q: Queryable,
  projectId: string,
  timeZone: string,
): Promise<RollupTimeZoneReport> {
  requireTimeZone(timeZone);
  if (timeZone === 'UTC') {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'timeZone UTC needs no days of its own: the UTC day level is always kept; add a zone such as "Asia/Kolkata"',
      { field: 'timeZone' },
    );
  }
  try {
    const rows = await q.query<{ groups: string | number }>(
      'select execution_ledger.add_rollup_time_zone($1, $2) as groups',
      [projectId, timeZone],
    );
    return { project_id: projectId, time_zone: timeZone, groups: Number(rows[0]?.groups ?? 0) };
  } catch (error) {
    throw unknownZoneError(error);
  }
}

/** The zones whose days are kept, of one project or of every project, in the order they were added. */
export async function listRollupTimeZones(
  q: Queryable,
  projectId: string | undefined,
): Promise<RollupTimeZone[]> {
  return q.query<RollupTimeZone>(
    `select z.project_id, z.time_zone,
       to_char(z.added_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as added_at
     from execution_ledger.rollup_time_zones z
     where $1::text is null or z.project_id = $1
     order by z.zone_id`,
    [projectId ?? null],
  );
}
