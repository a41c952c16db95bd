import { LedgerError } from '../errors.js';

// SQLSTATE classes and codes grouped by what the caller should do about them.
const UNAVAILABLE_CLASSES = ['08', '53', '57'];
const UNAVAILABLE_CODES = new Set(['28000', '28P01', '3D000']);
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
]);
const PERMISSION_CODES = new Set(['42501', 'EL001']);
/** A write reached a server that takes none: a standby, or a primary being demoted. */
const READ_ONLY_SQL_TRANSACTION = '25006';
/** An append reached the shard a project was moved away from (migration 0024). */
export const PROJECT_SEALED = 'EL005';

/**
 * Turns a driver error into a LedgerError when its meaning is known (unreachable server,
 * refused privilege, append-only guard); anything else is returned unchanged so it surfaces.
 */
export function translateDatabaseError(error: unknown, where: string): unknown {
  if (error instanceof LedgerError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code !== 'string') {
    if (
      /Connection terminated|connect ECONNREFUSED|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
        message,
      )
    ) {
      return unavailable(where, message, error);
    }
    return error;
  }
  if (
    UNAVAILABLE_NODE_CODES.has(code) ||
    UNAVAILABLE_CODES.has(code) ||
    UNAVAILABLE_CLASSES.includes(code.slice(0, 2))
  ) {
    return unavailable(where, message, error);
  }
  if (code === READ_ONLY_SQL_TRANSACTION) {
    return new LedgerError(
      'DATABASE_UNAVAILABLE',
      `the database at ${where} takes no writes now (${message}): it is a standby, or a primary being ` +
        'demoted in a failover; send the call again (an append replays by run_id), and to follow a ' +
        'failover give every server with target_session_attrs=read-write (docs/scaling.md)',
      { cause: error, details: { sqlstate: code } },
    );
  }
  if (code === PROJECT_SEALED) {
    return new LedgerError(
      'DATABASE_UNAVAILABLE',
      `the database at ${where} refused the append: ${message}; append through the sharded ledger ` +
        '(createShardedLedger), which reads the new placement from the shard catalog and sends it there',
      { cause: error, details: { sqlstate: code } },
    );
  }
  if (code === '23505' && constraintOf(error) === 'executions_run_id_key') {
    // append_batch looks for a stored run_id among its own project's rows only; the same run_id
    // stored by another project is caught here, by the unique constraint, at the insert.
    return new LedgerError(
      'RUN_ID_CONFLICT',
      'this run_id is already recorded with different content (in another project); run ids are unique ' +
        'across the ledger and entries are never changed: use a new run_id (a UUID)',
      { field: 'run_id', cause: error, details: { sqlstate: code } },
    );
  }
  if (code === '23514' || code === '23502' || code === '22P05' || code === '22001') {
    // Input that passed configurable limits raised above the table's fixed backstops.
    return new LedgerError(
      'VALIDATION_FAILED',
      `the database refused the entry: ${message}; stay within the schema's bounds (docs/errors.md, "Limits")`,
      { cause: error, details: { sqlstate: code } },
    );
  }
  if (PERMISSION_CODES.has(code)) {
    const why =
      code === 'EL001' ? 'entries are never changed or removed' : 'the role in use lacks this privilege';
    return new LedgerError('PERMISSION_DENIED', `${message}; ${why}`, {
      cause: error,
      details: { sqlstate: code },
    });
  }
  return error;
}

/** The constraint a violation names: node-postgres and PGlite both carry it on the error. */
function constraintOf(error: unknown): string | undefined {
  const constraint = (error as { constraint?: unknown } | null)?.constraint;
  return typeof constraint === 'string' ? constraint : undefined;
}

function unavailable(where: string, message: string, cause: unknown): LedgerError {
  return new LedgerError(
    'DATABASE_UNAVAILABLE',
    `cannot use the database at ${where}: ${message}; check that the server runs and that the URL, user and password are right`,
    { cause },
  );
}
