import { fileURLToPath } from 'node:url';
import type { MigrationSet } from 'execution-ledger/database';

/**
 * The service's own tables (its API keys), in their own schema, created by the numbered files of
 * this package's `sql/` folder and applied after the ledger's migrations by the same `migrate`
 * (docs/architecture.md, "Who owns which tables").
 */
export const API_KEY_MIGRATIONS: MigrationSet = Object.freeze({
  schema: 'execution_ledger_keys',
  folder: fileURLToPath(new URL('../../sql/', import.meta.url)),
});
