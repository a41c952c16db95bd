import assert from 'node:assert/strict';
import type { Queryable } from '../db/database.js';

/** A key a rollup level may group by, besides the project and the period. */
export type RollupKey = 'agent_id' | 'user_id' | 'status';
export type RollupPeriod = 'hour' | 'day' | 'month' | 'year';

/** One rollup table: its UTC period, the keys it groups by, and the name reports give it. */
export interface RollupLevel {
  name: string;
  table: string;
  period: RollupPeriod;
  keys: readonly RollupKey[];
  /**
   * Whether its rows count each status apart (completed_count, failed_count, aborted_count)
   * without status as a key: enough for status counts and for counting runs of some statuses,
   * not for any other measure of some statuses.
   */
  statusCounts: boolean;
  /**
   * Cut at the local midnights of each zone its project keeps (rollup_time_zones) rather than on
   * the UTC clock, with the zone as a key (ZONE_DAY_LEVEL); never one of ROLLUP_LEVELS, whose
   * covers are cut on the UTC clock.
   */
  zoned?: true;
}

/**
 * Every level (sql/0008_rollup_levels.sql, reshaped by 0016_status_count_levels.sql; the year
 * level from 0028_year_level.sql), each period's levels in order of preference: fewer keys means
 * fewer rows per period, so a query reads the first level of a period that holds what it needs. All levels hold the same measures
 * over all their runs; the agent-keyed levels add a count per status.
 */
export const ROLLUP_LEVELS: readonly RollupLevel[] = [
  { name: 'hour', table: 'execution_rollups_hour', period: 'hour', keys: ['agent_id'], statusCounts: true },
  {
    name: 'hour_user',
    table: 'execution_rollups',
    period: 'hour',
    keys: ['agent_id', 'user_id', 'status'],
    statusCounts: false,
  },
  { name: 'day', table: 'execution_rollups_day', period: 'day', keys: ['agent_id'], statusCounts: true },
  {
    name: 'day_user',
    table: 'execution_rollups_day_user',
    period: 'day',
    keys: ['agent_id', 'user_id', 'status'],
    statusCounts: false,
  },
  {
    name: 'month',
    table: 'execution_rollups_month',
    period: 'month',
    keys: ['agent_id'],
    statusCounts: true,
  },
  {
    name: 'month_user',
    table: 'execution_rollups_month_user',
    period: 'month',
    keys: ['user_id'],
    statusCounts: false,
  },
  { name: 'year', table: 'execution_rollups_year', period: 'year', keys: ['agent_id'], statusCounts: true },
];

/**
 * Days in the zones a project reports in (sql/0029_zone_day_level.sql): per project, zone, local
 * day (its first instant) and agent, with a count per status, as the day level. The project's
 * daily and weekly series in such a zone read their whole local days here (rollup-source.ts).
 */
export const ZONE_DAY_LEVEL: RollupLevel = {
  name: 'zone_day',
  table: 'execution_rollups_zone_day',
  period: 'day',
  keys: ['agent_id'],
  statusCounts: true,
  zoned: true,
};

/** What a query needs of a level. */
export interface LevelNeeds {
  /** Keys it groups or filters by (status here: every measure of some statuses). */
  keys: ReadonlySet<RollupKey>;
  /** Counts per status: a status key or the per-status count columns both give them. */
  statusCounts: boolean;
}

export function holds(level: RollupLevel, needs: LevelNeeds): boolean {
  return (
    [...needs.keys].every((key) => level.keys.includes(key)) &&
    (!needs.statusCounts || level.statusCounts || level.keys.includes('status'))
  );
}

/** The first level of a period that holds what a query needs; none when no level does. */
export function levelFor(period: RollupPeriod, needs: LevelNeeds): RollupLevel | undefined {
  return ROLLUP_LEVELS.find((level) => level.period === period && holds(level, needs));
}

/** The level of a period that a caller knows exists (the user-keyed day and hour levels hold every key). */
export function requireLevel(period: RollupPeriod, needs: LevelNeeds): RollupLevel {
  const level = levelFor(period, needs);
  assert(
    level !== undefined,
    `a ${period} level holds the keys ${[...needs.keys].join(', ')}${needs.statusCounts ? ' and status counts' : ''}`,
  );
  return level;
}

// Reads that run under row level security as one user (ledger.as()): the levels without a user
// key show such a reader only the projects they are a member of, so their reads use the levels
// keyed by user, whose policies mirror the entries' exactly.
const ROW_SECURED_READS = new WeakSet<Queryable>();

/** Marks a connection whose reads row level security narrows to one user's view. */
export function markRowSecured(q: Queryable): Queryable {
  ROW_SECURED_READS.add(q);
  return q;
}

export function isRowSecured(q: Queryable): boolean {
  return ROW_SECURED_READS.has(q);
}
