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

/** One place where the rollups disagree with the entries they summarise. */
export interface RollupMismatch {
  hour: string;
  agent_id: string;
  user_id: string;
  status: string;
  reason: string;
}

export interface RollupVerificationReport {
  ok: boolean;
  project_id: string;
  /** Rollup groups (project, hour, agent, user, status) compared. */
  groups_checked: number;
  /** Up to a bounded number of disagreements, oldest hour first. */
  mismatches: RollupMismatch[];
}

export interface RollupRebuildReport {
  projects: number;
  groups: number;
}
