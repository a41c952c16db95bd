import { ERROR_CODES, PAGE_ROWS_DEFAULT, PAGE_ROWS_MAX } from 'execution-ledger';
import { CURSOR_CHARS_MAX, URL_PARAM_CHARS_MAX } from '../bounds.js';
import { LEDGER_ID_MARK } from '../http/url-id-guard.js';

/**
 * Schemas shared by several routes. They validate requests, shape responses (Fastify
 * serialises answers by them, so every field of a record must be declared or allowed) and
 * become /openapi.json.
 */
export const errorBodySchema = {
  type: 'object',
  description: 'Every error answer: the HTTP status, a stable code, the reason phrase and a message.',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string', enum: Object.keys(ERROR_CODES) },
    error: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string', description: 'The input field the error is about, when there is one.' },
  },
} as const;

export const errorResponses = {
  '4xx': errorBodySchema,
  '5xx': errorBodySchema,
} as const;

export const securedRoute = { security: [{ apiKey: [] }] } as const;

const isoTime = {
  type: 'string',
  format: 'date-time',
  description: 'ISO 8601 time, e.g. 2026-02-13T00:00:00Z.',
} as const;

/** `start` is inclusive, `end` exclusive: the range [start, end). */
export const timeRangeProperties = {
  start: { ...isoTime, description: 'Only runs recorded at or after this time (inclusive).' },
  end: { ...isoTime, description: 'Only runs recorded before this time (exclusive).' },
} as const;

export const pageProperties = {
  limit: { type: 'integer', minimum: 1, maximum: PAGE_ROWS_MAX, default: PAGE_ROWS_DEFAULT },
  cursor: {
    type: 'string',
    minLength: 1,
    maxLength: CURSOR_CHARS_MAX,
    description: 'The next_cursor of the previous page, unchanged.',
  },
} as const;

export const statusFilterProperty = {
  status: {
    type: 'array',
    items: { type: 'string', enum: ['completed', 'failed', 'aborted'] },
    description: 'Repeat to match several statuses: ?status=failed&status=aborted.',
  },
} as const;

/**
 * A run, project, user, agent or key id. The mark makes the URL id guard check path and query
 * values with the library's own id rules (see url-id-guard.ts); the length here is only a
 * first, cheap bound.
 */
export const idSchema = {
  type: 'string',
  minLength: 1,
  maxLength: URL_PARAM_CHARS_MAX,
  [LEDGER_ID_MARK]: true,
} as const;

export const projectParams = {
  type: 'object',
  required: ['projectId'],
  properties: { projectId: idSchema },
} as const;

/** Count and cost figures (cents) shared by agent statistics and time-series points. */
export const costFigureProperties = {
  count: { type: 'integer' },
  total_cost: { type: 'number', description: 'Cents.' },
  avg_cost: { type: 'number' },
  min_cost: { type: 'number' },
  max_cost: { type: 'number' },
} as const;
