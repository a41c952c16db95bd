import type { ExecutionFilter } from '../query/execution-filter.js';

/**
 * Which runs an analytics call covers: the execution filter without its parent run, which the
 * hourly rollups do not keep. Dates form the half-open range [start, end).
 */
export type AnalyticsFilter = Omit<ExecutionFilter, 'parentRunId'>;

export type TimeBucket = 'hour' | 'day' | 'week';
export type SeriesGroupBy = 'agent' | 'user' | 'status' | 'none';

export interface CostTimeSeriesOptions extends AnalyticsFilter {
  bucket: TimeBucket;
  /** One series per agent, user or status; 'none' (the default) gives one series. */
  groupBy?: SeriesGroupBy;
  start: Date;
  end: Date;
  /** IANA time zone whose wall clock cuts days and weeks (weeks start on Monday); default 'UTC'. */
  timeZone?: string;
}

/** One bucket of one series; a bucket without runs has count 0 and costs 0. */
export interface CostTimeSeriesPoint {
  /** The instant the bucket starts, ISO 8601 in UTC. */
  bucket_start: string;
  /** The same start on the wall clock of the time zone, `YYYY-MM-DDTHH:MM:SS`. */
  bucket_local: string;
  /** The agent, user or status of the series; null when groupBy is 'none'. */
  key: string | null;
  count: number;
  total_cost: number;
  avg_cost: number;
  min_cost: number;
  max_cost: number;
}

export interface CostTimeSeries {
  bucket: TimeBucket;
  group_by: SeriesGroupBy;
  time_zone: string;
  /** Bucket by bucket, then key by key; every series has every bucket of the range. */
  points: CostTimeSeriesPoint[];
}

export interface PercentileSet {
  p50: number;
  p95: number;
  p99: number;
}

/** Nearest-rank percentiles (PostgreSQL percentile_disc): each one is a value some run had. */
export interface ExecutionPercentiles {
  count: number;
  cost: PercentileSet;
  duration_ms: PercentileSet;
}

export interface CostByPart {
  count: number;
  total_cost: number;
  /** Sum of each breakdown part in cents; the four known parts are always present. */
  parts: Record<string, number>;
  /** Cost of runs recorded without a breakdown: total_cost minus the sum of the parts. */
  unattributed_cost: number;
}

export interface UserCost {
  user_id: string;
  count: number;
  total_cost: number;
  avg_cost: number;
}

export interface TopRunsOptions extends AnalyticsFilter {
  /** How many runs, most expensive first; default 10. */
  limit?: number;
}

export interface UserCostOptions extends AnalyticsFilter {
  /** How many users, highest cost first; default 100. */
  limit?: number;
}

/** One place where a rollup level disagrees with the entries it summarises. */
export interface RollupMismatch {
  /** The level: hour, hour_user, day, day_user, month, month_user or year (docs/analytics.md). */
  level: string;
  /** The start of the level's UTC period (hour, day, month or year), ISO 8601. */
  period_start: string;
  /** The group's keys; null for a key the level does not hold. */
  agent_id: string | null;
  user_id: string | null;
  status: string | null;
  reason: string;
}

/** How one level of one project compared with its entries. */
export interface RollupLevelReport {
  level: string;
  ok: boolean;
  groups_checked: number;
}

export interface RollupVerificationReport {
  ok: boolean;
  project_id: string;
  /** Rollup groups compared, every level together. */
  groups_checked: number;
  /** Every level, finest first, with its own verdict. */
  levels: RollupLevelReport[];
  /** Up to a bounded number of disagreements per level, each naming its level, oldest period first. */
  mismatches: RollupMismatch[];
}

/** What `foldRollups` did: the projects that had entries pending, and how many it folded. */
export interface RollupFoldReport {
  projects: number;
  entries: number;
}

export interface RollupRebuildReport {
  projects: number;
  /** Groups written, every run level together. */
  groups: number;
  /** Groups written per run level. */
  levels: Record<string, number>;
  /** Groups written to the daily step rollups. */
  step_groups: number;
}

/** Options of `rebuildRollups`. */
export interface RollupRebuildOptions {
  /** Called after each project's levels are rewritten: how many are done, of how many. */
  onProject?: (done: number, total: number) => void;
}

/** A zone whose days a project keeps (addRollupTimeZone). */
export interface RollupTimeZone {
  project_id: string;
  time_zone: string;
  added_at: string;
}

/** What adding a zone did: the project's day groups written in that zone. */
export interface RollupTimeZoneReport {
  project_id: string;
  time_zone: string;
  groups: number;
}
