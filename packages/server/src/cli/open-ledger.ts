import { createLedger, type Ledger, type LedgerOptions } from 'execution-ledger';
import { DEFAULT_DATA_FOLDER } from 'execution-ledger/database';
import { API_KEY_MIGRATIONS } from '../keys/api-key-migrations.js';

export interface DatabaseOptions {
  database?: string;
  /** false with --no-prepared-statements */
  preparedStatements?: boolean;
  /** --database-reply-timeout-ms */
  databaseReplyTimeoutMs?: number;
  /** --database-connect-timeout-ms */
  databaseConnectTimeoutMs?: number;
}

/** --database, else DATABASE_URL, else the embedded folder ./.execution-ledger. */
export function databaseTarget(options: DatabaseOptions): string {
  return options.database ?? process.env.DATABASE_URL ?? DEFAULT_DATA_FOLDER;
}

/**
 * The ledger's options from the global flags: where it is, and whether to prepare statements.
 * The service's own migration set (its API keys) goes with the ledger's everywhere the CLI
 * migrates: `migrate`, `serve`, and any command's first use of a fresh embedded folder.
 */
export function ledgerOptions(options: DatabaseOptions): LedgerOptions {
  return {
    database: databaseTarget(options),
    migrationSets: [API_KEY_MIGRATIONS],
    ...(options.preparedStatements === false ? { preparedStatements: false } : {}),
    ...(options.databaseReplyTimeoutMs === undefined
      ? {}
      : { databaseReplyTimeoutMs: options.databaseReplyTimeoutMs }),
    ...(options.databaseConnectTimeoutMs === undefined
      ? {}
      : { databaseConnectTimeoutMs: options.databaseConnectTimeoutMs }),
  };
}

/** Opens the ledger (the schema is prepared on first use) and closes it when `work` is done. */
export async function withLedger<T>(
  options: DatabaseOptions,
  work: (ledger: Ledger) => Promise<T>,
): Promise<T> {
  const ledger = createLedger(ledgerOptions(options));
  try {
    await ledger.ready();
    return await work(ledger);
  } finally {
    await ledger.close();
  }
}
