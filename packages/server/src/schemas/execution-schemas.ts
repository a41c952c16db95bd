import { BATCH_ITEMS_MAX } from '../bounds.js';
import { errorBodySchema } from './common-schemas.js';

const jsonObject = { type: 'object', additionalProperties: true } as const;
const nullableText = { type: ['string', 'null'] } as const;
const statusSchema = { type: 'string', enum: ['completed', 'failed', 'aborted'] } as const;
const text = { type: 'string', minLength: 1 } as const;

const costObject = {
  type: 'object',
  required: ['total'],
  additionalProperties: false,
  properties: {
    total: { type: 'number', minimum: 0, description: 'Total cost in cents, up to six decimals.' },
    breakdown: {
      type: 'object',
      additionalProperties: { type: 'number', minimum: 0 },
      description: 'Parts in cents (tokens, toolCalls, externalRequests, penalties, …) summing to total.',
    },
    pricing: jsonObject,
  },
} as const;

const traceSchema = {
  type: 'object',
  required: ['steps', 'duration_ms'],
  additionalProperties: true,
  properties: {
    steps: { type: 'array', items: jsonObject },
    duration_ms: { type: 'number', minimum: 0 },
    tool_calls: { type: 'integer', minimum: 0 },
    api_calls: { type: 'integer', minimum: 0 },
  },
} as const;

/** What a caller records: the library's ExecutionInput. The ledger checks every bound. */
export const executionInputSchema = {
  type: 'object',
  required: [
    'run_id',
    'project_id',
    'user_id',
    'agent_id',
    'intent',
    'input',
    'cost',
    'execution_trace',
    'status',
  ],
  additionalProperties: false,
  properties: {
    run_id: { ...text, description: 'Chosen by the caller; the same run_id with the same content replays.' },
    project_id: text,
    user_id: text,
    agent_id: text,
    parent_run_id: { ...nullableText, description: 'The run that triggered this one.' },
    intent: text,
    input: jsonObject,
    output: { description: 'Any JSON value.' },
    cost: {
      anyOf: [{ type: 'number', minimum: 0 }, costObject],
      description: 'Cents; a bare number is shorthand for { total, breakdown: {} }.',
    },
    execution_trace: traceSchema,
    status: statusSchema,
    error_message: { ...nullableText, description: 'Required when status is failed or aborted.' },
  },
} as const;

const hex = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

/** A stored execution with its place in the project's hash chain. */
export const executionRecordSchema = {
  type: 'object',
  required: [
    'id',
    'run_id',
    'project_id',
    'user_id',
    'agent_id',
    'parent_run_id',
    'intent',
    'input',
    'cost_json',
    'execution_trace_json',
    'status',
    'created_at',
    'seq',
    'hash_version',
    'payload_hash',
    'prev_hash',
    'entry_hash',
  ],
  properties: {
    id: { type: 'string', format: 'uuid' },
    run_id: { type: 'string' },
    project_id: { type: 'string' },
    user_id: { type: 'string' },
    agent_id: { type: 'string' },
    parent_run_id: nullableText,
    intent: { type: 'string' },
    input: jsonObject,
    output: { description: 'Any JSON value; absent when none was recorded.' },
    cost_json: {
      type: 'object',
      required: ['total', 'breakdown'],
      additionalProperties: true,
      properties: {
        total: { type: 'number' },
        breakdown: { type: 'object', additionalProperties: { type: 'number' } },
        pricing: jsonObject,
      },
    },
    execution_trace_json: traceSchema,
    status: statusSchema,
    error_message: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    seq: { type: 'integer', minimum: 1 },
    hash_version: { type: 'integer' },
    payload_hash: hex,
    prev_hash: hex,
    entry_hash: hex,
  },
} as const;

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
