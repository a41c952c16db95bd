import { LedgerError } from '../errors.js';
import { CSV_EXPORT } from './csv-export.js';
import { NDJSON_EXPORT } from './ndjson-export.js';

/**
 * An export format: everything the reader's stream, the HTTP route and the CLI need to offer it.
 * A format is one module that builds one of these; registering it (the list below, or
 * registerExportFormat) is all that makes it an export everywhere.
 */
export interface ExportFormatDefinition<Row extends object = object> {
  /** What callers pass: `exportStream(name)`, `?format=` on the HTTP route, `--format` in the CLI. */
  readonly name: string;
  /** How help texts and /openapi.json name it ("CSV"). */
  readonly label: string;
  /** The media type without parameters; every export is UTF-8, and the server says so. */
  readonly mediaType: string;
  /** The file name extension, without the dot. */
  readonly extension: string;
  /**
   * The select list of one row over `execution_ledger.executions e`: every column as text or null
   * (JSON columns as jsonb text), so nothing is parsed in JS. The reader adds the keyset columns
   * `k_seq`, `k_at` and `k_id`; the list must not use those names.
   */
  readonly selectList: string;
  /** Written first, even when no run matches (CSV's header); '' for none. */
  readonly preamble: string;
  /** A batch of rows, oldest first, as the text that follows everything before it. */
  encodeBatch(rows: readonly Row[]): string | Buffer;
  /**
   * Captured replay blobs as text that follows the batch whose entries reference them (an export
   * with `blobs: true`). A format without it cannot carry blobs, and such an export is refused.
   */
  encodeBlobs?(blobs: readonly ExportBlob[]): string | Buffer;
}

/** A replay blob in an export: its SHA-256, the first exported entry that references it, its bytes. */
export interface ExportBlob {
  hash: string;
  run_id: string;
  seq: number;
  content: Buffer;
}

/** The format the HTTP route and the CLI use when none is asked for. */
export const DEFAULT_EXPORT_FORMAT = 'ndjson';

const FORMATS = new Map<string, ExportFormatDefinition>();

const NAME_RULE = /^[a-z][a-z0-9-]{0,31}$/;
const MEDIA_TYPE_RULE = /^[a-z]+\/[a-z0-9.+-]+$/;

/**
 * Makes a format an export everywhere: readers' `exportStream`, and the HTTP route and CLI built
 * after this call. Returns a function that takes it back out (for tests). A name already taken,
 * or a name, extension or media type that could not go into a URL, file name or header, is
 * refused.
 */
export function registerExportFormat<Row extends object>(format: ExportFormatDefinition<Row>): () => void {
  requireMatch(format.name, NAME_RULE, 'name', 'lower-case letters, digits and "-", starting with a letter');
  requireMatch(format.extension, NAME_RULE, 'extension', 'lower-case letters, digits and "-", no dot');
  requireMatch(format.mediaType, MEDIA_TYPE_RULE, 'mediaType', 'type/subtype in lower case, no parameters');
  if (FORMATS.has(format.name)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `export format ${JSON.stringify(format.name)} is already registered; choose another name`,
      { field: 'name' },
    );
  }
  const stored = format as ExportFormatDefinition;
  FORMATS.set(format.name, stored);
  return () => {
    if (FORMATS.get(format.name) === stored) FORMATS.delete(format.name);
  };
}

function requireMatch(value: unknown, rule: RegExp, field: string, how: string): void {
  if (typeof value !== 'string' || !rule.test(value)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `export format ${field} ${JSON.stringify(value)} is not valid: use ${how}`,
      { field },
    );
  }
}

/** Every registered format, in registration order (the built-in ones first). */
export function exportFormats(): readonly ExportFormatDefinition[] {
  return [...FORMATS.values()];
}

/** The names of every registered format, in registration order. */
export function exportFormatNames(): string[] {
  return [...FORMATS.keys()];
}

/** The registered format of this name; any other name is a VALIDATION_FAILED naming the choices. */
export function exportFormat(name: string): ExportFormatDefinition {
  const format = typeof name === 'string' ? FORMATS.get(name) : undefined;
  if (format === undefined) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `format ${JSON.stringify(name)} is not an export format; use one of ${exportFormatNames().join(', ')}`,
      { field: 'format' },
    );
  }
  return format;
}

// The built-in formats. A new one is a module like csv-export.ts and a line here.
registerExportFormat(CSV_EXPORT);
registerExportFormat(NDJSON_EXPORT);
