import { CSV_COLUMNS, type CsvColumn, csvSelectList } from '../record-fields.js';
import type { ExportFormatDefinition } from './export-formats.js';
import type { ExportPosition } from './export-queries.js';

// The documented CSV columns live in the record descriptor, beside the fields they show.
export { CSV_COLUMNS };

/** A row of the CSV select list: every column of CSV_COLUMNS as text or null. */
export type CsvSourceRow = ExportPosition & { readonly [Column in CsvColumn]: string | null };

// A cell a spreadsheet would run as a formula starts with one of these characters.
const FORMULA_START = /^[=+\-@\t\r]/;

/** OWASP's advice for CSV injection: prefix a quote so the cell is shown as text. */
export function neutralizeFormula(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/**
 * One CSV record from an export row, in CSV_COLUMNS order (written out: it runs once per row;
 * record-fields.test.ts holds it to the header). Every cell is neutralised, amounts
 * included: they are copied from the stored JSON, so only validation stands between a writer
 * that bypassed the library and a cell such as "=HYPERLINK(…)".
 */
export function csvCells(row: CsvSourceRow): string[] {
  const cell = (value: string | null) => (value === null ? '' : neutralizeFormula(value));
  return [
    cell(row.seq),
    cell(row.created_at),
    cell(row.run_id),
    cell(row.project_id),
    cell(row.user_id),
    cell(row.agent_id),
    cell(row.parent_run_id),
    cell(row.intent),
    cell(row.status),
    cell(row.error_message),
    cell(row.cost_total),
    cell(row.cost_tokens),
    cell(row.cost_tool_calls),
    cell(row.cost_external_requests),
    cell(row.cost_penalties),
    cell(row.duration_ms),
    cell(row.steps),
    cell(row.tool_calls),
    cell(row.api_calls),
    cell(row.id),
    cell(row.entry_hash),
  ];
}

// RFC 4180 quotes a field that holds a comma, a double quote or a line break (CR or LF).
const NEEDS_QUOTES = /[",\r\n]/;

function csvField(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * RFC 4180 records with CRLF line ends. Written here rather than with a CSV library: the rule is
 * five lines, the test suite reads the output back with csv-parse, and a general-purpose
 * stringifier cost about 70 µs per 21-cell row, which alone capped exports near 15,000 rows/s.
 */
export function csvText(rows: readonly string[][], withHeader: boolean): string {
  let text = withHeader ? `${CSV_COLUMNS.join(',')}\r\n` : '';
  for (const row of rows) text += `${row.map(csvField).join(',')}\r\n`;
  return text;
}

/**
 * RFC 4180 CSV with the documented columns (record-fields.ts), always starting with its header,
 * even when no run matches. The columns come from the record descriptor.
 */
export const CSV_EXPORT: ExportFormatDefinition<CsvSourceRow> = {
  name: 'csv',
  label: 'CSV',
  mediaType: 'text/csv',
  extension: 'csv',
  selectList: csvSelectList(),
  preamble: csvText([], true),
  encodeBatch: (rows) => csvText(rows.map(csvCells), false),
};
