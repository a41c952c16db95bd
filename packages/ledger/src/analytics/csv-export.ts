import { stringify } from 'csv-stringify/sync';
import type { ExecutionRecord } from '../types.js';

/** The documented CSV columns (docs/api.md), in order; the header row is always written. */
export const CSV_COLUMNS = [
  'seq',
  'created_at',
  'run_id',
  'project_id',
  'user_id',
  'agent_id',
  'parent_run_id',
  'intent',
  'status',
  'error_message',
  'cost_total',
  'cost_tokens',
  'cost_tool_calls',
  'cost_external_requests',
  'cost_penalties',
  'duration_ms',
  'steps',
  'tool_calls',
  'api_calls',
  'id',
  'entry_hash',
] as const;

// A cell a spreadsheet would run as a formula starts with one of these characters.
const FORMULA_START = /^[=+\-@\t\r]/;

/** OWASP's advice for CSV injection: prefix a quote so the cell is shown as text. */
export function neutralizeFormula(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

export function recordToCsvRow(record: ExecutionRecord): (string | number)[] {
  const breakdown = record.cost_json.breakdown ?? {};
  const trace = record.execution_trace_json;
  const text = (value: string | null | undefined) => neutralizeFormula(value ?? '');
  const amount = (value: number | undefined) => (value === undefined ? '' : value);
  return [
    record.seq,
    record.created_at,
    text(record.run_id),
    text(record.project_id),
    text(record.user_id),
    text(record.agent_id),
    text(record.parent_run_id),
    text(record.intent),
    record.status,
    text(record.error_message),
    record.cost_json.total,
    amount(breakdown.tokens),
    amount(breakdown.toolCalls),
    amount(breakdown.externalRequests),
    amount(breakdown.penalties),
    trace.duration_ms,
    Array.isArray(trace.steps) ? trace.steps.length : 0,
    amount(trace.tool_calls),
    amount(trace.api_calls),
    record.id,
    record.entry_hash,
  ];
}

/** RFC 4180: CRLF line ends, fields quoted when they hold commas, quotes or line breaks. */
export function csvText(rows: (string | number)[][], withHeader: boolean): string {
  return stringify(withHeader ? [[...CSV_COLUMNS], ...rows] : rows, {
    record_delimiter: '\r\n',
    quoted_match: /\r/,
  });
}
