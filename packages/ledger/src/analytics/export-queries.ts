import type { Queryable } from '../db/database.js';
import { filterClauses, whereSql } from '../db/execution-queries.js';
import type { ExecutionFilter } from '../types.js';

/**
 * Export reads are their own queries: every column arrives as text the export writes as it is
 * (JSON columns as jsonb text), so no JSON is parsed and serialised again in JS. Each row also
 * carries its exact keyset position (seq, and created_at to the microsecond with id).
 */
export type ExportFormat = 'csv' | 'ndjson';

interface KeysetColumns {
  k_seq: string;
  k_at: string;
  k_id: string;
}

/** The CSV columns in documented order (see CSV_COLUMNS), each as text or null. */
export interface CsvSourceRow extends KeysetColumns {
  seq: string;
  created_at: string;
  run_id: string;
  project_id: string;
  user_id: string;
  agent_id: string;
  parent_run_id: string | null;
  intent: string;
  status: string;
  error_message: string | null;
  cost_total: string | null;
  cost_tokens: string | null;
  cost_tool_calls: string | null;
  cost_external_requests: string | null;
  cost_penalties: string | null;
  duration_ms: string | null;
  steps: string;
  tool_calls: string | null;
  api_calls: string | null;
  id: string;
  entry_hash: string;
}

/** Every field of an ExecutionRecord, JSON fields as JSON text. */
export interface NdjsonSourceRow extends KeysetColumns {
  id: string;
  run_id: string;
  project_id: string;
  user_id: string;
  agent_id: string;
  parent_run_id: string | null;
  intent: string;
  input: string;
  output: string | null;
  cost_json: string;
  execution_trace_json: string;
  status: string;
  error_message: string | null;
  created_at: string;
  seq: string;
  hash_version: string;
  payload_hash: string;
  prev_hash: string;
  entry_hash: string;
}

const CREATED_AT_TEXT = `to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const KEYSET_COLUMNS = `e.seq::text as k_seq,
  to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as k_at, e.id::text as k_id`;

const COLUMNS: Record<ExportFormat, string> = {
  csv: `e.seq::text as seq, ${CREATED_AT_TEXT} as created_at, e.run_id, e.project_id, e.user_id,
    e.agent_id, e.parent_run_id, e.intent, e.status, e.error_message, e.cost_json ->> 'total' as cost_total,
    e.cost_json -> 'breakdown' ->> 'tokens' as cost_tokens,
    e.cost_json -> 'breakdown' ->> 'toolCalls' as cost_tool_calls,
    e.cost_json -> 'breakdown' ->> 'externalRequests' as cost_external_requests,
    e.cost_json -> 'breakdown' ->> 'penalties' as cost_penalties,
    e.execution_trace_json ->> 'duration_ms' as duration_ms,
    (case when jsonb_typeof(e.execution_trace_json -> 'steps') = 'array'
      then jsonb_array_length(e.execution_trace_json -> 'steps') else 0 end)::text as steps,
    e.execution_trace_json ->> 'tool_calls' as tool_calls, e.execution_trace_json ->> 'api_calls' as api_calls,
    e.id::text as id, encode(e.entry_hash, 'hex') as entry_hash, ${KEYSET_COLUMNS}`,
  ndjson: `e.id::text as id, e.run_id, e.project_id, e.user_id, e.agent_id, e.parent_run_id, e.intent,
    e.input::text as input, e.output::text as output, e.cost_json::text as cost_json,
    e.execution_trace_json::text as execution_trace_json, e.status, e.error_message,
    ${CREATED_AT_TEXT} as created_at, e.seq::text as seq, e.hash_version::text as hash_version,
    encode(e.payload_hash, 'hex') as payload_hash, encode(e.prev_hash, 'hex') as prev_hash,
    encode(e.entry_hash, 'hex') as entry_hash, ${KEYSET_COLUMNS}`,
};

/** Where the previous batch ended. */
export type ExportPosition = KeysetColumns;

/**
 * One batch of an export, oldest first: by seq within one project (the chain order, which an
 * offline verifier needs), by (created_at, id) otherwise.
 */
export async function queryExportBatch<Row extends KeysetColumns>(
  q: Queryable,
  format: ExportFormat,
  filter: ExecutionFilter,
  after: ExportPosition | null,
  limit: number,
): Promise<Row[]> {
  const params: unknown[] = [];
  const clauses = filterClauses(filter, params);
  const bySeq = filter.projectId !== undefined;
  if (after !== null) {
    if (bySeq) {
      params.push(after.k_seq);
      clauses.push(`e.seq > $${params.length}::bigint`);
    } else {
      params.push(after.k_at, after.k_id);
      clauses.push(`(e.created_at, e.id) > ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
  }
  params.push(limit);
  return q.query<Row>(
    `select ${COLUMNS[format]} from execution_ledger.executions e ${whereSql(clauses)}
     order by ${bySeq ? 'e.seq' : 'e.created_at, e.id'} limit $${params.length}`,
    params,
  );
}
