import { STATUS_CODES } from 'node:http';
import { ERROR_CODES, isLedgerError, type LedgerErrorCode } from 'execution-ledger';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../bounds.js';

/** The body of every error answer. */
export interface ErrorBody {
  statusCode: number;
  code: LedgerErrorCode;
  error: string;
  message: string;
  field?: string;
}

interface AjvIssue {
  keyword: string;
  instancePath: string;
  parentSchema?: { description?: unknown };
  message?: string;
  params: Record<string, unknown>;
}

// Fastify's own errors with a meaning the catalogue already has.
const FASTIFY_CODES: Record<string, LedgerErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'VALIDATION_FAILED',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
};

/**
 * Maps any error to `{ statusCode, code, error, message }`. Caller errors keep their message;
 * anything unexpected becomes INTERNAL_ERROR with a fixed message, and only the log (at error
 * level) holds its stack. 4xx answers are logged at debug level, by code, never with payloads.
 */
export function toErrorBody(error: unknown, part?: string): ErrorBody {
  if (isLedgerError(error)) return body(error.code, error.message, error.field, error.statusCode);
  const fastifyError = error as Partial<FastifyError> & { validation?: AjvIssue[] };
  if (Array.isArray(fastifyError.validation)) return validationBody(fastifyError.validation, part);
  const mapped = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
  if (mapped !== undefined) return body(mapped, fastifyError.message ?? mapped);
  if (fastifyError.statusCode === 429) {
    return body('RATE_LIMITED', fastifyError.message ?? 'too many requests');
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return body('VALIDATION_FAILED', fastifyError.message ?? 'the request is malformed', undefined, status);
  }
  return body('INTERNAL_ERROR', 'the server failed unexpectedly; the error is in its log, retry later');
}

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const part = (error as { validationContext?: string }).validationContext;
  const answer = toErrorBody(error, part);
  if (answer.statusCode >= 500) request.log.error({ err: error, code: answer.code }, 'request failed');
  else request.log.debug({ code: answer.code }, 'request refused');
  // A 503 is temporary by definition (database down, frozen or closing): tell clients when
  // to come back, so their retries do not hammer a database that is recovering.
  if (answer.statusCode === 503) reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
  return reply.code(answer.statusCode).type('application/json').send(answer);
}

function validationBody(issues: AjvIssue[], part: string | undefined): ErrorBody {
  // For a value that may take several shapes, the issue that matters is the last (anyOf) one.
  const issue = issues.find((candidate) => candidate.keyword === 'anyOf') ?? issues[0];
  const path = (issue?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const named = issue?.params.missingProperty ?? issue?.params.additionalProperty;
  const base = part === undefined || part === 'body' ? '' : part;
  const field =
    [path, typeof named === 'string' ? named : ''].filter((piece) => piece !== '').join('.') ||
    base ||
    'body';
  let problem = issue?.message ?? 'is invalid';
  if (issue?.params.additionalProperty !== undefined) problem = 'is not a known field; remove it';
  if (issue?.keyword === 'anyOf') {
    const description = issue.parentSchema?.description;
    problem = `has the wrong shape${typeof description === 'string' ? `: ${description}` : ''}`;
  }
  const where = base === '' ? '' : `${base} `;
  return body('VALIDATION_FAILED', `${where}${field} ${problem}`, field);
}

function body(code: LedgerErrorCode, message: string, field?: string, status?: number): ErrorBody {
  const statusCode = status ?? ERROR_CODES[code].status;
  const answer: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
  if (field !== undefined) answer.field = field;
  return answer;
}
