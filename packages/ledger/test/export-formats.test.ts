import {
  describeEachEngine,
  expectLedgerErrorSync,
  makeExecution,
  readAll,
} from '@execution-ledger/test-support';
import type { ExecutionRecord } from 'execution-ledger';
import {
  DEFAULT_EXPORT_FORMAT,
  type ExportFormatDefinition,
  exportFormat,
  exportFormatNames,
  exportFormats,
  registerExportFormat,
} from 'execution-ledger/export-formats';
import { CSV_COLUMNS } from 'execution-ledger/record-fields';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface TsvRow {
  seq: string;
  status: string;
  entry_hash: string;
}

/** A format that exists only in this test: the reader must offer it with no other change. */
const TSV: ExportFormatDefinition<TsvRow> = {
  name: 'test-tsv',
  label: 'TSV',
  mediaType: 'text/tab-separated-values',
  extension: 'tsv',
  selectList: `e.seq::text as seq, e.status, encode(e.entry_hash, 'hex') as entry_hash`,
  preamble: 'seq\tstatus\tentry_hash\n',
  encodeBatch: (rows) => rows.map((row) => `${row.seq}\t${row.status}\t${row.entry_hash}\n`).join(''),
};

describe('the export format registry', () => {
  it('holds the built-in formats, CSV first, NDJSON the default', () => {
    expect(exportFormatNames()).toEqual(['csv', 'ndjson']);
    expect(DEFAULT_EXPORT_FORMAT).toBe('ndjson');
    expect(exportFormats().map(({ name, mediaType, extension }) => ({ name, mediaType, extension }))).toEqual(
      [
        { name: 'csv', mediaType: 'text/csv', extension: 'csv' },
        { name: 'ndjson', mediaType: 'application/x-ndjson', extension: 'ndjson' },
      ],
    );
    expect(exportFormat('csv').preamble).toBe(`${CSV_COLUMNS.join(',')}\r\n`);
    expect(exportFormat('ndjson').preamble).toBe('');
  });

  it('refuses an unknown format, naming the choices', () => {
    const error = expectLedgerErrorSync(() => exportFormat('xml'), 'VALIDATION_FAILED');
    expect(error.field).toBe('format');
    expect(error.message).toBe('format "xml" is not an export format; use one of csv, ndjson');
  });

  it('refuses a name taken, and a name, extension or media type unfit for a URL, file or header', () => {
    for (const [change, field] of [
      [{ name: 'csv' }, 'name'],
      [{ name: 'Tsv' }, 'name'],
      [{ name: 'a b' }, 'name'],
      [{ name: '' }, 'name'],
      [{ extension: '.tsv' }, 'extension'],
      [{ extension: 'ts"v' }, 'extension'],
      [{ mediaType: 'text/tsv; charset=utf-8' }, 'mediaType'],
      [{ mediaType: 'text\r\nx-evil: 1' }, 'mediaType'],
    ] as const) {
      const error = expectLedgerErrorSync(
        () => registerExportFormat({ ...TSV, ...change }),
        'VALIDATION_FAILED',
      );
      expect(error.field).toBe(field);
    }
    expect(exportFormatNames()).toEqual(['csv', 'ndjson']);
  });
});

describeEachEngine('a registered export format', (context) => {
  const projectId = context.project('format');
  let unregister: () => void = () => undefined;
  const records: ExecutionRecord[] = [];

  beforeAll(async () => {
    unregister = registerExportFormat(TSV);
    const statuses = ['completed', 'failed', 'completed', 'aborted', 'completed'] as const;
    await context.ledger.recordExecutions(
      statuses.map((status) =>
        makeExecution(projectId, status === 'completed' ? { status } : { status, error_message: 'no' }),
      ),
    );
    for await (const record of context.ledger.streamExecutions({ projectId })) records.push(record);
  });
  afterAll(() => unregister());

  const expected = (kept: ExecutionRecord[]) =>
    TSV.preamble + kept.map((r) => `${r.seq}\t${r.status}\t${r.entry_hash}\n`).join('');

  it('is listed after the built-in ones', () => {
    expect(exportFormatNames()).toEqual(['csv', 'ndjson', 'test-tsv']);
    expect(exportFormat('test-tsv')).toBe(TSV);
  });

  it('streams a whole chain (seq ranges) and a narrower filter (keyset) in its own text', async () => {
    for (const batchSize of [1, 2, 10]) {
      expect(await readAll(context.ledger.exportStream('test-tsv', { projectId, batchSize }))).toBe(
        expected(records),
      );
    }
    const failed = await readAll(
      context.ledger.exportStream('test-tsv', { projectId, status: ['failed', 'aborted'], batchSize: 1 }),
    );
    expect(failed).toBe(expected(records.filter((r) => r.status !== 'completed')));
  });

  it('writes its preamble alone when nothing matches, and goes through a scoped reader', async () => {
    expect(
      await readAll(context.ledger.exportStream('test-tsv', { projectId: context.project('none') })),
    ).toBe(TSV.preamble);
    const scoped = context.ledger.as({ userId: 'nobody-here' });
    expect(await readAll(scoped.exportStream('test-tsv', { projectId }))).toBe(TSV.preamble);
  });

  it('leaves the built-in streams as they were: exportCsvStream is exportStream("csv")', async () => {
    expect(await readAll(context.ledger.exportStream('csv', { projectId }))).toBe(
      await readAll(context.ledger.exportCsvStream({ projectId })),
    );
    expect(await readAll(context.ledger.exportStream('ndjson', { projectId }))).toBe(
      await readAll(context.ledger.exportNdjsonStream({ projectId })),
    );
  });

  it('is gone once taken back out, and an unknown format throws before a stream exists', () => {
    unregister();
    const error = expectLedgerErrorSync(
      () => context.ledger.exportStream('test-tsv', { projectId }),
      'VALIDATION_FAILED',
    );
    expect(error.field).toBe('format');
    expect(exportFormatNames()).toEqual(['csv', 'ndjson']);
    unregister = registerExportFormat(TSV);
  });
});
