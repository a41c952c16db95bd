import { type JsonSchema, RECORD_FIELDS, type RecordField } from 'execution-ledger/record-fields';
import { BATCH_ITEMS_MAX } from '../bounds.js';
import { errorBodySchema } from './common-schemas.js';

const nullableText = { type: ['string', 'null'] } as const;

/** The fields that are part of an input, each under its input name. */
const INPUT_FIELDS = (RECORD_FIELDS as readonly RecordField[]).filter(
  (field): field is RecordField & { input: string; inputSchema: JsonSchema } =>
    field.input !== null && field.inputSchema !== null,
);

/**
 * What a caller records: the library's ExecutionInput, built from the record descriptor so the
 * schema and /openapi.json name every field the ledger accepts. The ledger checks every bound.
 */
export const executionInputSchema = {
  type: 'object',
  required: INPUT_FIELDS.filter((field) => field.inputRequired).map((field) => field.input),
  additionalProperties: false,
  properties: Object.fromEntries(INPUT_FIELDS.map((field) => [field.input, field.inputSchema])),
};

/** A stored execution with its place in the project's hash chain, from the record descriptor. */
export const executionRecordSchema = {
  type: 'object',
  required: RECORD_FIELDS.filter((field) => field.presence === 'always').map((field) => field.name),
  properties: Object.fromEntries(RECORD_FIELDS.map((field) => [field.name, field.schema])),
};

export const recordedExecutionSchema = {
  ...executionRecordSchema,
  required: [...executionRecordSchema.required, 'replayed'],
  properties: {
    ...executionRecordSchema.properties,
    replayed: {
      type: 'boolean',
      description: 'True when this run_id was already recorded with this content.',
    },
  },
} as const;

export const batchRequestSchema = {
  type: 'object',
  required: ['executions'],
  additionalProperties: false,
  properties: {
    executions: { type: 'array', minItems: 1, maxItems: BATCH_ITEMS_MAX, items: executionInputSchema },
  },
} as const;

/** What the batch route checks itself: the envelope; each item is judged by the ledger, alone. */
export const batchEnvelopeSchema = {
  ...batchRequestSchema,
  properties: { executions: { ...batchRequestSchema.properties.executions, items: {} } },
} as const;

export const batchResponseSchema = {
  type: 'object',
  required: ['created', 'replayed', 'failed', 'results'],
  properties: {
    created: { type: 'integer' },
    replayed: { type: 'integer' },
    failed: { type: 'integer' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['index', 'outcome'],
        properties: {
          index: { type: 'integer', description: 'Position of the item in the request.' },
          outcome: { type: 'string', enum: ['created', 'replayed', 'error'] },
          record: recordedExecutionSchema,
          error: errorBodySchema,
        },
      },
    },
  },
} as const;

export const pageSchema = {
  type: 'object',
  required: ['data', 'total', 'next_cursor'],
  properties: {
    data: { type: 'array', items: executionRecordSchema },
    total: { type: 'integer', description: 'Runs matching the filter, over all pages.' },
    next_cursor: { ...nullableText, description: 'Pass as cursor for the next page; null on the last.' },
  },
} as const;
