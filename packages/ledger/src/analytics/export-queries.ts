import assert from 'node:assert/strict';
import type { Queryable } from '../db/database.js';
import { toSafeNumber } from '../db/execution-queries.js';
import { type FilterScope, scopeClauses, whereSql } from '../query/execution-filter.js';
import { csvSelectList } from '../record-fields.js';

/**
 * Export reads are their own queries: every column arrives as text the export writes as it is
 * (JSON columns as jsonb text), so no JSON is parsed and serialised again in JS. Each row also
 * carries its keyset position: seq in chain order, created_at to the microsecond with id
 * otherwise (that to_char is paid only where the order needs it).
 */
export type ExportFormat = 'csv' | 'ndjson';

/** The order of an export: the chain (`seq`) within one project, `time` (created_at, id) otherwise. */
export type ExportOrder = 'seq' | 'time';

export interface ExportPosition {
  k_seq?: string;
  k_at?: string;
  k_id?: string;
}

/** The CSV columns in documented order (see CSV_COLUMNS), each as text or null. */
export interface CsvSourceRow extends ExportPosition {
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

/** One whole NDJSON line, built by the server (see NDJSON_LINE). */
export interface NdjsonSourceRow extends ExportPosition {
  line: string;
}

export type ExportRow = CsvSourceRow | NdjsonSourceRow;

const CREATED_AT_TEXT = `to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * One NDJSON line ending in "\n": a JSON object with exactly the fields and values of the
 * ExecutionRecord, in this key order, output and error_message left out when absent, JSON fields
 * as the stored jsonb text. It carries every hash and chain field, so an offline verifier can
 * re-derive each entry_hash. The server builds it: jsonb-to-text is most of an export's cost and
 * happens there anyway, and one text column costs Node about 8 µs a row less than 19 columns
 * parsed and joined in JS. PostgreSQL's to_json(text) escapes exactly as JSON.stringify does for
 * any text PostgreSQL can hold (`"`, `\`, \b \f \n \r \t, other controls as lower-case \u00xx,
 * nothing else), so the bytes are those of the JS-built line this replaced; a test compares them.
 * The large JSON texts sit near the top of a balanced tree of `||`: a left-deep chain copies each
 * once per later piece, which cost the server about 2 µs a row more.
 */
const LINE_HEAD = `'{"id":"' || e.id::text || '","run_id":' || to_json(e.run_id)::text
  || ',"project_id":' || to_json(e.project_id)::text || ',"user_id":' || to_json(e.user_id)::text
  || ',"agent_id":' || to_json(e.agent_id)::text
  || ',"parent_run_id":' || coalesce(to_json(e.parent_run_id)::text, 'null')
  || ',"intent":' || to_json(e.intent)::text`;
const LINE_TAIL = `',"status":' || to_json(e.status)::text
  || coalesce(',"error_message":' || to_json(e.error_message)::text, '')
  || ',"created_at":"' || ${CREATED_AT_TEXT} || '","seq":' || e.seq::text
  || ',"hash_version":' || e.hash_version::text || ',"payload_hash":"' || encode(e.payload_hash, 'hex')
  || '","prev_hash":"' || encode(e.prev_hash, 'hex') || '","entry_hash":"' || encode(e.entry_hash, 'hex')
  || E'"}\\n'`;
const NDJSON_LINE = `((${LINE_HEAD}) || (',"input":' || e.input::text))
  || ((coalesce(',"output":' || e.output::text, '') || (',"cost_json":' || e.cost_json::text))
  || ((',"execution_trace_json":' || e.execution_trace_json::text) || (${LINE_TAIL}))) as line`;

// CSV columns come from the record descriptor; the NDJSON line is written out above for speed,
// and record-fields.test.ts holds its keys to the descriptor.
const COLUMNS: Record<ExportFormat, string> = {
  csv: csvSelectList(),
  ndjson: NDJSON_LINE,
};

const KEYSET_COLUMNS: Record<ExportOrder, string> = {
  seq: 'e.seq::text as k_seq',
  time: `to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as k_at, e.id::text as k_id`,
};

/** The seq of a row read in chain order. */
export function exportRowSeq(row: ExportPosition): number {
  assert(row.k_seq !== undefined, 'a row read in chain order carries k_seq');
  return toSafeNumber(row.k_seq, 'seq');
}

/**
 * One keyset batch of an export, oldest first: by seq within one project (the chain order, which
 * an offline verifier needs), by (created_at, id) otherwise.
 */
export async function queryExportBatch<Row extends ExportRow>(
  q: Queryable,
  format: ExportFormat,
  scope: FilterScope,
  after: ExportPosition | null,
  limit: number,
): Promise<Row[]> {
  const params: unknown[] = [];
  const clauses = scopeClauses(scope, params);
  const order: ExportOrder = scope.projectId !== undefined ? 'seq' : 'time';
  if (after !== null) {
    if (order === 'seq') {
      params.push(after.k_seq);
      clauses.push(`e.seq > $${params.length}::bigint`);
    } else {
      params.push(after.k_at, after.k_id);
      clauses.push(`(e.created_at, e.id) > ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
  }
  params.push(limit);
  return q.query<Row>(
    `select ${COLUMNS[format]}, ${KEYSET_COLUMNS[order]} from execution_ledger.executions e
     ${whereSql(clauses)} order by ${order === 'seq' ? 'e.seq' : 'e.created_at, e.id'} limit $${params.length}`,
    params,
  );
}

/**
 * The rows of one project with afterSeq < seq <= lastSeq, in seq order: an index range scan
 * that does not depend on any other batch, so several run at once.
 */
export async function queryExportRange<Row extends ExportRow>(
  q: Queryable,
  format: ExportFormat,
  scope: FilterScope,
  afterSeq: number,
  lastSeq: number,
): Promise<Row[]> {
  const params: unknown[] = [];
  const clauses = scopeClauses(scope, params);
  params.push(afterSeq, lastSeq);
  clauses.push(`e.seq > $${params.length - 1}::bigint`, `e.seq <= $${params.length}::bigint`);
  return q.query<Row>(
    `select ${COLUMNS[format]}, ${KEYSET_COLUMNS.seq} from execution_ledger.executions e
     ${whereSql(clauses)} order by e.seq`,
    params,
  );
}

/** The highest seq of a project's chain now (0 when it has none), where a range export stops. */
export async function queryChainHead(q: Queryable, projectId: string): Promise<number> {
  const rows = await q.query<{ head_seq: string }>(
    `select coalesce(max(e.seq), 0)::text as head_seq from execution_ledger.executions e
     where e.project_id = $1`,
    [projectId],
  );
  return toSafeNumber(rows[0]?.head_seq ?? '0', 'head seq');
}
