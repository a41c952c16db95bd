/**
 * The one catalogue of error codes. Each code has a stable name, an HTTP status the server
 * uses, and a one-line meaning; docs/errors.md documents every entry with an example.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: {
    status: 400,
    meaning: 'A field of the input is missing, of the wrong type or out of bounds.',
  },
  COST_MISMATCH: { status: 400, meaning: 'The parts of cost.breakdown do not add up exactly to cost.total.' },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    meaning: 'A JSON field or the trace is larger than its configured limit.',
  },
  RUN_ID_CONFLICT: { status: 409, meaning: 'The run_id is already recorded with different content.' },
  NOT_FOUND: { status: 404, meaning: 'No execution with that run_id is visible to the caller.' },
  NOT_INITIALIZED: {
    status: 500,
    meaning: 'The functional API was used before initializeExecutionLedger().',
  },
  INVALID_CURSOR: { status: 400, meaning: 'A pagination cursor was not produced by this list.' },
  BUDGET_EXCEEDED: { status: 402, meaning: 'A charge would take a run past its hard budget.' },
  BUDGET_BLOCKED: {
    status: 402,
    meaning: 'A reservation would take a block budget past its limit for the period; nothing was held.',
  },
  BUDGET_NOT_FOUND: { status: 404, meaning: 'No budget with that id exists.' },
  RESERVATION_NOT_FOUND: { status: 404, meaning: 'No budget reservation with that id exists.' },
  RESERVATION_CLOSED: {
    status: 409,
    meaning: 'The reservation was already settled by another run or released.',
  },
  RESERVATION_MISMATCH: {
    status: 409,
    meaning:
      "The run's project, agent or user differ from the reservation's, or the run settles another reservation.",
  },
  EVENT_NOT_FOUND: { status: 404, meaning: 'No event with that id exists.' },
  PRICE_NOT_FOUND: {
    status: 400,
    meaning: 'The price table has no price for a model, tool or service, and no "*" fallback.',
  },
  TOO_MANY_RUNS: {
    status: 429,
    meaning: 'A cost manager holds its maximum of open runs; end finished runs with endExecution().',
  },
  PERMISSION_DENIED: { status: 403, meaning: 'The caller may not perform this operation.' },
  DATABASE_UNAVAILABLE: { status: 503, meaning: 'The database cannot be reached or refused the connection.' },
  DATABASE_LOCKED: { status: 503, meaning: 'Another process holds the embedded database folder.' },
  MIGRATION_FAILED: {
    status: 500,
    meaning: 'The schema could not be prepared, or a landed migration file changed.',
  },
  SCHEMA_OUT_OF_DATE: {
    status: 503,
    meaning:
      'The schema is behind this version and the connecting role cannot migrate it; run migrate as the owner.',
  },
  PRIVILEGED_ROLE: {
    status: 500,
    meaning:
      'The service would connect as a role that can switch the append-only guards off (owner, superuser, BYPASSRLS, CREATEROLE).',
  },
  LEDGER_CLOSED: { status: 503, meaning: 'The ledger was closed; no further operations are accepted.' },
  INVALID_KEY: {
    status: 400,
    meaning: 'A checkpoint signing key or public key is missing, unreadable or not in a known format.',
  },
  KEY_FILE_EXISTS: { status: 409, meaning: 'A key file already exists where a new key would be written.' },
  CHECKPOINT_NOT_FOUND: { status: 404, meaning: 'No checkpoint with that sequence number exists.' },
  PROOF_NOT_FOUND: {
    status: 404,
    meaning: 'The checkpoint holds no head of that project visible to the caller, so there is no proof.',
  },
  RULE_SET_NOT_FOUND: {
    status: 404,
    meaning: 'No allocation rule set with that version exists, or none is effective for the period.',
  },
  RULE_SET_MISMATCH: {
    status: 500,
    meaning: 'A stored allocation rule set no longer matches its hash: it was changed past the guards.',
  },
  REPLAY_MISMATCH: {
    status: 409,
    meaning: 'A replayed run made a call the recording does not hold at that position (or left one out).',
  },
  UNAUTHENTICATED: {
    status: 401,
    meaning: 'The HTTP request has no API key, or the key is unknown or revoked.',
  },
  API_KEY_NOT_FOUND: { status: 404, meaning: 'No API key with that id is visible to the caller.' },
  ROUTE_NOT_FOUND: { status: 404, meaning: 'No HTTP route answers this method and path.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'The HTTP request body is not application/json.' },
  RATE_LIMITED: { status: 429, meaning: 'The API key sent more requests than its rate limit allows.' },
  INGEST_BACKLOG: {
    status: 503,
    meaning: 'OTLP staging holds its maximum of spans while runs are assembled; retry after Retry-After.',
  },
  NOT_SHARDED: {
    status: 501,
    meaning:
      'A sharded service does not serve this: it needs one server holding every project, or a merge the shards cannot give exactly.',
  },
  INTERNAL_ERROR: {
    status: 500,
    meaning:
      'The server or a verification worker failed in a way it did not expect; the details are in its error log.',
  },
} as const;

export type LedgerErrorCode = keyof typeof ERROR_CODES;

export interface LedgerErrorOptions {
  /** The input field the error is about, as a path such as `cost.breakdown.tokens`. */
  field?: string;
  cause?: unknown;
  /** Structured facts for programs (never user payloads). */
  details?: Record<string, unknown>;
}

/** Every caller or operating error this package throws is a LedgerError with a stable `code`. */
export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  readonly code: LedgerErrorCode;
  readonly statusCode: number;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: LedgerErrorCode, message: string, options: LedgerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
    this.field = options.field;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, field: this.field, statusCode: this.statusCode };
  }
}

export function isLedgerError(value: unknown, code?: LedgerErrorCode): value is LedgerError {
  return value instanceof LedgerError && (code === undefined || value.code === code);
}

/** The NOT_FOUND of a run the caller asked for by run_id and cannot see (or that does not exist). */
export function runNotFound(runId: string): LedgerError {
  return new LedgerError('NOT_FOUND', `no execution with run_id ${JSON.stringify(runId)} is visible here`, {
    field: 'run_id',
  });
}
