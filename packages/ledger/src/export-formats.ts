// `execution-ledger/export-formats`: the export formats a reader's `exportStream` offers, and
// the HTTP route and CLI with it, each with its media type and file extension; and the way to
// add one (docs/api.md, "Export formats").
export type { ExportBlob, ExportFormatDefinition } from './analytics/export-formats.js';
export {
  DEFAULT_EXPORT_FORMAT,
  exportFormat,
  exportFormatNames,
  exportFormats,
  registerExportFormat,
} from './analytics/export-formats.js';
