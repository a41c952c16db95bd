import { createLedger, DEFAULT_DATA_FOLDER, type Ledger } from 'execution-ledger';

export interface DatabaseOptions {
  database?: string;
}

/** --database, else DATABASE_URL, else the embedded folder ./.execution-ledger. */
export function databaseTarget(options: DatabaseOptions): string {
  return options.database ?? process.env.DATABASE_URL ?? DEFAULT_DATA_FOLDER;
}

/** Opens the ledger (the schema is prepared on first use) and closes it when `work` is done. */
export async function withLedger<T>(
  options: DatabaseOptions,
  work: (ledger: Ledger) => Promise<T>,
): Promise<T> {
  const ledger = createLedger({ database: databaseTarget(options) });
  try {
    await ledger.ready();
    return await work(ledger);
  } finally {
    await ledger.close();
  }
}
