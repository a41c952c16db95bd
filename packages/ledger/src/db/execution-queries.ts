import assert from 'node:assert';
import type { JsonValue } from '../plain-json.js';
import { recordSelectList } from '../record-fields.js';
import type { ExecutionRecord } from '../types.js';

/**
 * The columns of a record, cast so both engines return the same JS types: text for ids, times
 * (UTC, milliseconds), hashes (hex) and counters, parsed JSON for the JSON columns. Built once
 * from the record descriptor, so a new field is read wherever records are.
 */
export const RECORD_COLUMNS = recordSelectList();

/**
 * A row of RECORD_COLUMNS: the record's fields, with absent optional ones as null and seq as the
 * text both engines return for a bigint (a number where a caller casts it).
 */
export type ExecutionRow = Omit<ExecutionRecord, 'output' | 'error_message' | 'seq'> & {
  output: JsonValue | null;
  error_message: string | null;
  seq: string | number;
};

export function rowToRecord(row: ExecutionRow): ExecutionRecord {
  const record: ExecutionRecord = {
    id: row.id,
    run_id: row.run_id,
    project_id: row.project_id,
    user_id: row.user_id,
    agent_id: row.agent_id,
    parent_run_id: row.parent_run_id,
    intent: row.intent,
    input: row.input,
    cost_json: row.cost_json,
    execution_trace_json: row.execution_trace_json,
    status: row.status,
    created_at: row.created_at,
    seq: toSafeNumber(row.seq, 'seq'),
    hash_version: Number(row.hash_version),
    payload_hash: row.payload_hash,
    prev_hash: row.prev_hash,
    entry_hash: row.entry_hash,
  };
  if (row.output !== null) record.output = row.output;
  if (row.error_message !== null) record.error_message = row.error_message;
  return record;
}

export function toSafeNumber(value: string | number | bigint, what: string): number {
  const number = Number(value);
  // seq and durations come from the database; one beyond 2^53 is a broken invariant.
  assert(Number.isSafeInteger(number), `${what} ${String(value)} is beyond 2^53`);
  return number;
}
