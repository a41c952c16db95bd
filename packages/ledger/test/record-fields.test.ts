import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describeEachEngine, makeExecution, readAll } from '@execution-ledger/test-support';
import { parse } from 'csv-parse/sync';
import {
  type ExecutionRecord,
  exportExecutionsToNDJSON,
  type JsonValue,
  type RecordedExecution,
} from 'execution-ledger';
import {
  CHAIN_FIELDS,
  CSV_COLUMNS,
  CSV_COLUMNS as DESCRIPTOR_CSV_COLUMNS,
  NDJSON_OBJECT_KEYS,
  PAYLOAD_FIELDS,
  PAYLOAD_KEYS_V1,
  PAYLOAD_KEYS_V2,
  RECORD_FIELDS,
  type RecordFieldName,
} from 'execution-ledger/record-fields';
import { canonicalJson, type JsonbInput, jsonbText } from 'execution-ledger/verify';
import { beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { insertHistoricalRuns } from './support/historical-runs.js';

const FIELD_NAMES: readonly string[] = RECORD_FIELDS.map((field) => field.name);

/** The keys a streamed NDJSON line has by the descriptor: every field in order, less those absent when null. */
function expectedKeys(record: ExecutionRecord): string[] {
  const values = record as unknown as Record<string, unknown>;
  return RECORD_FIELDS.filter((field) => field.presence === 'always' || values[field.name] != null).map(
    (field) => field.name,
  );
}

/**
 * The keys of a record object in memory: the fields always present in the descriptor's order,
 * then `between` (an append's replayed), then the optional fields a record has, as the mappers
 * set them only when present.
 */
function objectKeys(record: ExecutionRecord, between: string[] = []): string[] {
  const always: string[] = RECORD_FIELDS.filter((field) => field.presence === 'always').map(
    (field) => field.name,
  );
  const present = expectedKeys(record).filter((name) => !always.includes(name));
  return [...always, ...between, ...present];
}

/** The hashed payload of a record, built only from the descriptor's hashed fields. */
function payloadByDescriptor(record: ExecutionRecord): Record<string, unknown> {
  const values = record as unknown as Record<string, unknown>;
  return Object.fromEntries(PAYLOAD_FIELDS.map((field) => [field.name, values[field.name] ?? null]));
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

describe('the record descriptor', () => {
  it('names exactly the keys of ExecutionRecord', () => {
    expectTypeOf<RecordFieldName>().toEqualTypeOf<keyof ExecutionRecord>();
    expect(new Set(FIELD_NAMES).size).toBe(FIELD_NAMES.length);
  });

  it('gives every content field an input name and every chain field none', () => {
    expect(CHAIN_FIELDS.map((field) => field.name)).toEqual([
      'id',
      'created_at',
      'seq',
      'hash_version',
      'payload_hash',
      'prev_hash',
      'entry_hash',
    ]);
    expect(PAYLOAD_FIELDS.every((field) => field.input !== null)).toBe(true);
  });

  it('orders payload keys as RFC 8785 (version 1) and as jsonb (version 2) write them', () => {
    // Distinct values in the record's order, so the writers alone decide the key order.
    const payload = Object.fromEntries(PAYLOAD_FIELDS.map((field, index) => [field.name, `v${index}`]));
    expect(Object.keys(JSON.parse(canonicalJson(payload as JsonValue)))).toEqual(PAYLOAD_KEYS_V1);
    expect(Object.keys(JSON.parse(jsonbText(payload as JsonbInput)))).toEqual(PAYLOAD_KEYS_V2);
    expect(PAYLOAD_KEYS_V2.slice(0, 3)).toEqual(['input', 'intent', 'output']);
  });

  it('is where the public CSV_COLUMNS come from', () => {
    expect(CSV_COLUMNS).toBe(DESCRIPTOR_CSV_COLUMNS);
  });
});

describeEachEngine('consumers of the record descriptor', (context) => {
  const projectId = context.project('record-fields');
  const recorded: RecordedExecution[] = [];
  beforeAll(async () => {
    recorded.push(
      await context.ledger.recordExecution(makeExecution(projectId, { output: undefined })),
      await context.ledger.recordExecution(
        makeExecution(projectId, { status: 'failed', error_message: 'timed out', parent_run_id: 'run-0' }),
      ),
    );
  });

  it('return appended records with the descriptor keys in its order, plus replayed', () => {
    for (const record of recorded) expect(Object.keys(record)).toEqual(objectKeys(record, ['replayed']));
    expect(Object.keys(recorded[0] ?? {})).not.toContain('output');
  });

  it('read records back with the descriptor keys in its order', async () => {
    for (const record of recorded) {
      const read = await context.ledger.getExecutionByRunId(record.run_id);
      expect(read).not.toBeNull();
      expect(Object.keys(read ?? {})).toEqual(objectKeys(record));
      const { replayed: _replayed, ...stored } = record;
      expect(read).toEqual(stored);
    }
  });

  it('hash exactly the descriptor payload fields, in version 2 and in version 1', async () => {
    for (const record of recorded) {
      expect(record.hash_version).toBe(2);
      expect(record.payload_hash).toBe(sha256Hex(jsonbText(payloadByDescriptor(record) as JsonbInput)));
    }
    const historical = context.project('record-fields-v1');
    await insertHistoricalRuns(context, historical, [{ createdAt: new Date('2026-01-01T00:00:00Z') }]);
    const [v1] = (await context.ledger.listExecutionsByProject(historical)).data;
    assert(v1 !== undefined, 'the historical run was inserted');
    expect(v1.hash_version).toBe(1);
    expect(v1.payload_hash).toBe(sha256Hex(canonicalJson(payloadByDescriptor(v1) as JsonValue)));
    // The verifiers re-derive both versions through their hand-written payload templates.
    expect((await context.ledger.verifyLedger(projectId)).ok).toBe(true);
    expect((await context.ledger.verifyLedger(historical)).ok).toBe(true);
  });

  it('stream NDJSON lines with the descriptor keys in its order', async () => {
    const text = await readAll(context.ledger.exportNdjsonStream({ projectId }));
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(recorded.length);
    lines.forEach((line, index) => {
      const record = recorded[index] as ExecutionRecord;
      expect(Object.keys(JSON.parse(line))).toEqual(expectedKeys(record));
    });
  });

  it('write exportExecutionsToNDJSON objects with seq first and every field present', async () => {
    for await (const line of exportExecutionsToNDJSON(context.ledger, projectId)) {
      expect(Object.keys(JSON.parse(line))).toEqual(NDJSON_OBJECT_KEYS);
    }
  });

  it('write each CSV cell of a record field under its own header', async () => {
    const text = await readAll(context.ledger.exportCsvStream({ projectId }));
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0] ?? {})).toEqual([...DESCRIPTOR_CSV_COLUMNS]);
    rows.forEach((row, index) => {
      const record = recorded[index] as unknown as Record<string, unknown>;
      for (const name of DESCRIPTOR_CSV_COLUMNS) {
        if (!FIELD_NAMES.includes(name)) continue;
        expect(row[name], name).toBe(record[name] == null ? '' : String(record[name]));
      }
    });
  });
});
