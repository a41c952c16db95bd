import type { JsonObject, JsonValue } from './plain-json.js';

export type ExecutionStatus = 'completed' | 'failed' | 'aborted';
export const EXECUTION_STATUSES: readonly ExecutionStatus[] = ['completed', 'failed', 'aborted'];

/** Cost parts in cents (up to six decimals). Parts other than these four are allowed too. */
export interface CostBreakdown {
  tokens?: number;
  toolCalls?: number;
  externalRequests?: number;
  penalties?: number;
  [part: string]: number | undefined;
}

/** How a cost was obtained: provenance kept beside the amounts. */
export interface CostPricing {
  source: 'reported' | 'computed' | 'estimated';
  price_table_version?: string;
  [key: string]: JsonValue | undefined;
}

export interface ExecutionCost {
  /** Total cost in cents. */
  total: number;
  breakdown: CostBreakdown;
  pricing?: CostPricing;
}

export interface ExecutionStep {
  timestamp?: string;
  action?: string;
  duration_ms?: number;
  result?: JsonValue;
  error?: string;
  [key: string]: unknown;
}

export interface ExecutionTrace {
  steps: ExecutionStep[];
  duration_ms: number;
  tool_calls?: number;
  api_calls?: number;
  [key: string]: unknown;
}

/** What a caller records: the seed's input shape, plus the optional parent run. */
export interface ExecutionInput {
  run_id: string;
  project_id: string;
  user_id: string;
  agent_id: string;
  parent_run_id?: string | null;
  intent: string;
  input: Record<string, unknown>;
  output?: unknown;
  /** Cents; a bare number is shorthand for `{ total: n, breakdown: {} }`. */
  cost: number | ExecutionCost;
  execution_trace: ExecutionTrace;
  status: ExecutionStatus;
  error_message?: string | null;
}

/** A stored entry: the seed's record plus its place in the project's hash chain. */
export interface ExecutionRecord {
  id: string;
  run_id: string;
  project_id: string;
  user_id: string;
  agent_id: string;
  parent_run_id: string | null;
  intent: string;
  input: Record<string, unknown>;
  output?: JsonValue;
  cost_json: ExecutionCost;
  execution_trace_json: ExecutionTrace;
  status: ExecutionStatus;
  error_message?: string;
  /** ISO 8601, UTC, millisecond precision; assigned by the database in chain order. */
  created_at: string;
  /** 1, 2, 3… per project, gapless, in commit order. */
  seq: number;
  hash_version: number;
  /** Lower-case hex SHA-256 digests. */
  payload_hash: string;
  prev_hash: string;
  entry_hash: string;
}

/** The result of an append: the stored record, and whether it was already there. */
export interface RecordedExecution extends ExecutionRecord {
  /** True when the same run_id with the same content was already recorded: nothing was appended. */
  replayed: boolean;
}

/** The validated, normalised content of one entry: exactly the fields that payload_hash covers. */
export interface EntryPayload {
  run_id: string;
  project_id: string;
  user_id: string;
  agent_id: string;
  parent_run_id: string | null;
  intent: string;
  input: JsonObject;
  output: JsonValue;
  cost_json: JsonObject;
  execution_trace_json: JsonObject;
  status: ExecutionStatus;
  error_message: string | null;
}

export interface CostStats {
  agent_id: string;
  project_id: string | null;
  count: number;
  total_cost: number;
  avg_cost: number;
  min_cost: number;
  max_cost: number;
}

export interface ExecutionStats {
  total_executions: number;
  successful: number;
  failed: number;
  aborted: number;
  total_cost: number;
  avg_cost: number;
  avg_duration_ms: number;
  by_agent: Record<string, { count: number; cost: number }>;
}

/**
 * Which runs a read covers: lists, pages, streams, exports, statistics and analytics all take
 * this one filter, and all check it here. Every field is optional; the dates form the half-open
 * range [start, end) on created_at, and either end may be left open.
 */
export interface ExecutionFilter {
  projectId?: string;
  agentId?: string;
  userId?: string;
  status?: ExecutionStatus | ExecutionStatus[];
  /** The run that triggered the runs; not a rollup dimension, so analytics refuse it. */
  parentRunId?: string;
  /** Inclusive lower bound on created_at. */
  start?: Date;
  /** Exclusive upper bound on created_at. */
  end?: Date;
}

/**
 * The seed's names for the range. The seed's functions take them, and so do the Ledger's
 * filter-taking methods whose first documentation named them; both turn them into `start` and
 * `end` before anything else reads the filter.
 */
export interface SeedDateRange {
  /** @deprecated Use `start`: the same inclusive lower bound on created_at. */
  startDate?: Date;
  /** @deprecated Use `end`: the same exclusive upper bound on created_at. */
  endDate?: Date;
}

/**
 * What streamExecutions and the streaming exports take: a filter, the seed's names for its range
 * (deprecated there, see SeedDateRange), and how many rows one keyset query fetches.
 */
export interface StreamOptions extends ExecutionFilter, SeedDateRange {
  /** Rows fetched per keyset query; memory stays bounded by this. */
  batchSize?: number;
}

/** What `exportStream` takes: the runs to export, and whether their replay blobs go along. */
export interface ExportOptions extends StreamOptions {
  /**
   * true: the captured requests and responses the exported entries' steps reference go into the
   * export too, each once, after the entries that reference it (NDJSON: `{"replay_blob": …}`
   * lines, checked offline by verifyExport). Default false: left out. A format that cannot carry
   * blobs (CSV) refuses true.
   */
  blobs?: boolean;
}

export interface PageOptions {
  limit?: number;
  /** Opaque cursor from a previous page's `next_cursor`. */
  cursor?: string | null;
  /** Offset paging as in the seed; ignored when a cursor is given. */
  offset?: number;
}

export interface Page<T> {
  data: T[];
  total: number;
  /** Pass as `cursor` to get the next page; null on the last page. */
  next_cursor: string | null;
}
