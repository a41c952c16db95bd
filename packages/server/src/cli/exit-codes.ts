import { isLedgerError } from 'execution-ledger';

/** The CLI's exit codes, documented in docs/cli.md; scripts may rely on them. */
export const EXIT_CODES = {
  /** Everything asked was done. */
  OK: 0,
  /** An unexpected failure; the message says what happened. */
  FAILURE: 1,
  /** The command line is wrong: unknown command or option, missing or bad argument. */
  USAGE: 2,
  /** The ledger refused some input (validation, cost mismatch, run id conflict, too large). */
  REFUSED: 3,
  /** The run or key asked for does not exist. */
  NOT_FOUND: 4,
  /** A verified chain is broken. */
  CHAIN_BROKEN: 5,
  /** The database cannot be used: unreachable, locked by another process, or not migratable. */
  DATABASE: 6,
} as const;

export function exitCodeFor(error: unknown): number {
  if (!isLedgerError(error)) return EXIT_CODES.FAILURE;
  if (error.code === 'NOT_FOUND' || error.code === 'API_KEY_NOT_FOUND') return EXIT_CODES.NOT_FOUND;
  if (error.statusCode >= 500) return EXIT_CODES.DATABASE;
  return EXIT_CODES.REFUSED;
}
