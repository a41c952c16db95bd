export type {
  AnalyticsFilter,
  CostByPart,
  CostTimeSeries,
  CostTimeSeriesOptions,
  CostTimeSeriesPoint,
  ExecutionPercentiles,
  PercentileSet,
  RollupMismatch,
  RollupRebuildReport,
  RollupVerificationReport,
  SeriesGroupBy,
  TimeBucket,
  TopRunsOptions,
  UserCost,
  UserCostOptions,
} from './analytics/analytics-types.js';
export { CSV_COLUMNS, neutralizeFormula } from './analytics/csv-export.js';
export type { LedgerLimits } from './bounds.js';
export { DEFAULT_LIMITS } from './bounds.js';
export {
  centsToMicros,
  decimalTextToMicros,
  microsToCents,
  microsToDecimalText,
} from './costs/money.js';
export type { AppendOutcome } from './db/append-queries.js';
export type {
  Database,
  EngineName,
  PGliteLike,
  PoolLike,
  Queryable,
  Session,
} from './db/database.js';
export type { Migration, MigrationReport } from './db/migrator.js';
export { loadMigrations, migrateDatabase } from './db/migrator.js';
export type { DatabaseTarget, OpenDatabaseOptions } from './db/open-database.js';
export { DEFAULT_DATA_FOLDER, openDatabase } from './db/open-database.js';
export type { LedgerErrorCode, LedgerErrorOptions } from './errors.js';
export { ERROR_CODES, isLedgerError, LedgerError } from './errors.js';
export type { ReadRunner } from './execution-reader.js';
export { ExecutionReader } from './execution-reader.js';
export { canonicalJson, computePayloadHash } from './integrity/canonical-json.js';
export type { ChainProblem, VerificationReport } from './integrity/chain-verifier.js';
export { computeEntryHash, genesisHash, HASH_VERSION } from './integrity/entry-hash.js';
export type { BatchItemResult, LedgerOptions, ReaderIdentity } from './ledger.js';
export { createLedger, Ledger } from './ledger.js';
export type { JsonObject, JsonValue } from './plain-json.js';
export { normalizeExecution } from './record.js';
export {
  exportExecutionsToCSV,
  getAgentCostStats,
  getExecutionByRunId,
  getExecutionLedger,
  getFailedExecutions,
  getProjectExecutionStats,
  initializeExecutionLedger,
  listExecutionsByAgent,
  listExecutionsByProject,
  recordExecution,
  streamExecutions,
  verifyLedger,
} from './seed-api.js';
export type {
  CostBreakdown,
  CostPricing,
  CostStats,
  EntryPayload,
  ExecutionCost,
  ExecutionFilter,
  ExecutionInput,
  ExecutionRecord,
  ExecutionStats,
  ExecutionStatus,
  ExecutionStep,
  ExecutionTrace,
  Page,
  PageOptions,
  RecordedExecution,
} from './types.js';
export { EXECUTION_STATUSES } from './types.js';
