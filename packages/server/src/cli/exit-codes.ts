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
  /** The run, key, checkpoint or proof asked for does not exist. */
  NOT_FOUND: 4,
  /** A verified chain or export is broken, or a checkpoint found a chain that lost its committed head. */
  CHAIN_BROKEN: 5,
  /** The database cannot be used: unreachable, locked by another process, or not migratable. */
  DATABASE: 6,
  /** `rollups verify` found a level that disagrees with the entries (`rollups rebuild` repairs it). */
  ROLLUPS_DISAGREE: 7,
} as const;

const NOT_FOUND_CODES: ReadonlySet<string> = new Set([
  'NOT_FOUND',
  'API_KEY_NOT_FOUND',
  'CHECKPOINT_NOT_FOUND',
  'PROOF_NOT_FOUND',
]);

export function exitCodeFor(error: unknown): number {
  if (!isLedgerError(error)) return EXIT_CODES.FAILURE;
  if (NOT_FOUND_CODES.has(error.code)) return EXIT_CODES.NOT_FOUND;
  if (error.statusCode >= 500) return EXIT_CODES.DATABASE;
  return EXIT_CODES.REFUSED;
}
