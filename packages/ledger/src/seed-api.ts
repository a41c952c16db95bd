import type { DatabaseTarget } from './db/open-database.js';
import { refuseSupabaseClient, type SupabaseClientLike } from './db/supabase-client.js';
import { LedgerError } from './errors.js';
import { createLedger, Ledger, type LedgerOptions } from './ledger.js';
import type { ExecutionInput, ExecutionRecord, PageOptions, StreamOptions } from './types.js';

/**
 * The seed's functional API over one process-wide ledger. `initializeExecutionLedger(client)`
 * is all a caller does before recording: the schema is prepared on first use.
 */
let current: Ledger | undefined;

/**
 * @deprecated A Supabase client reaches the project over HTTP and cannot run the ledger's
 * transactions: this call throws VALIDATION_FAILED. Pass the project's Postgres connection
 * string instead, its pooler on port 6543 with `{ preparedStatements: false }` (docs/supabase.md).
 */
export function initializeExecutionLedger(
  client: SupabaseClientLike,
  options?: Omit<LedgerOptions, 'database'>,
): never;
export function initializeExecutionLedger(
  client: DatabaseTarget | Ledger,
  options?: Omit<LedgerOptions, 'database'>,
): Ledger;
export function initializeExecutionLedger(
  client: DatabaseTarget | Ledger | SupabaseClientLike,
  options: Omit<LedgerOptions, 'database'> = {},
): Ledger {
  refuseSupabaseClient(client);
  current =
    client instanceof Ledger ? client : createLedger({ ...options, database: client as DatabaseTarget });
  return current;
}

/** The ledger set by initializeExecutionLedger; NOT_INITIALIZED before that. */
export function getExecutionLedger(): Ledger {
  if (current === undefined) {
    throw new LedgerError(
      'NOT_INITIALIZED',
      'the execution ledger is not initialised; call initializeExecutionLedger(client) first with a pg.Pool, ' +
        'a PGlite instance, a postgres:// URL, a folder path or "memory:"',
    );
  }
  return current;
}

export const recordExecution = (execution: ExecutionInput) => getExecutionLedger().recordExecution(execution);

export const getExecutionByRunId = (runId: string) => getExecutionLedger().getExecutionByRunId(runId);

export const listExecutionsByProject = (projectId: string, limit?: number | PageOptions, offset?: number) =>
  getExecutionLedger().listExecutionsByProject(projectId, limit, offset);

export const listExecutionsByAgent = (
  agentId: string,
  projectId?: string,
  limit?: number | PageOptions,
  offset?: number,
) => getExecutionLedger().listExecutionsByAgent(agentId, projectId, limit, offset);

export const getAgentCostStats = (agentId: string, projectId?: string, startDate?: Date, endDate?: Date) =>
  getExecutionLedger().getAgentCostStats(agentId, projectId, startDate, endDate);

export const getProjectExecutionStats = (projectId: string, startDate?: Date, endDate?: Date) =>
  getExecutionLedger().getProjectExecutionStats(projectId, startDate, endDate);

export const getFailedExecutions = (projectId?: string, limit?: number) =>
  getExecutionLedger().getFailedExecutions(projectId, limit);

/** The seed's filter: `startDate`/`endDate` name the range here, as the seed's functions do. */
export function streamExecutions(filter: StreamOptions): AsyncGenerator<ExecutionRecord> {
  // Resolve the ledger on first iteration, like the other functions resolve it on call.
  return (async function* () {
    yield* getExecutionLedger().streamExecutions(filter);
  })();
}

export const exportExecutionsToCSV = (projectId: string, startDate?: Date, endDate?: Date) =>
  getExecutionLedger().exportExecutionsToCSV(projectId, startDate, endDate);

export const verifyLedger = (projectId: string) => getExecutionLedger().verifyLedger(projectId);
