export type {
  AnalyticsFilter,
  CostByPart,
  CostTimeSeries,
  CostTimeSeriesOptions,
  CostTimeSeriesPoint,
  ExecutionPercentiles,
  PercentileSet,
  RollupLevelReport,
  RollupMismatch,
  RollupRebuildReport,
  RollupVerificationReport,
  SeriesGroupBy,
  TimeBucket,
  TopRunsOptions,
  UserCost,
  UserCostOptions,
} from './analytics/analytics-types.js';
export { CSV_COLUMNS, csvText, neutralizeFormula } from './analytics/csv-export.js';
export type { ExecutionStreamSource, NdjsonExportOptions } from './analytics/ndjson-export.js';
export { exportExecutionsToNDJSON } from './analytics/ndjson-export.js';
export type { LedgerLimits } from './bounds.js';
export { CHAIN_READS_IN_FLIGHT_MAX, DEFAULT_LIMITS, PAGE_ROWS_DEFAULT, PAGE_ROWS_MAX } from './bounds.js';
export type { BudgetExceededDetails } from './costs/budget-exceeded-error.js';
export { BudgetExceededError } from './costs/budget-exceeded-error.js';
export type { CostManagerOptions, CreateExecutionOptions, TokenChargeOptions } from './costs/cost-manager.js';
export { CostManager, getCostManager, initializeCostManager } from './costs/cost-manager.js';
export type { CostMetrics } from './costs/cost-metrics.js';
export { TOKEN_ROUNDING_RULE } from './costs/cost-metrics.js';
export { DEFAULT_PRICE_TABLE, DEFAULT_PRICES } from './costs/default-prices.js';
export { reportedCost, toExecutionCost } from './costs/execution-cost.js';
export {
  centsToMicros,
  decimalTextToMicros,
  formatDollars,
  microsToCents,
  microsToDecimalText,
  priceByMillion,
} from './costs/money.js';
export type { PriceLookup } from './costs/price-table.js';
export { extendPriceTable, FALLBACK_PRICE_NAME, PriceTable } from './costs/price-table.js';
export { loadPriceTableFile } from './costs/price-table-file.js';
export type { ModelPrice, ModelPriceInput, PriceTableInput } from './costs/price-table-input.js';
export type { RunContextOptions } from './costs/run-context.js';
export { RunContext } from './costs/run-context.js';
export type { BudgetEnforcement, Reservation } from './costs/run-costs.js';
export type { RunOptions, RunRecorder, RunResult } from './costs/run-helper.js';
export { runExecution } from './costs/run-helper.js';
export type { AppendOutcome } from './db/append-queries.js';
export type { RangeReadWidth } from './db/batch-reads.js';
export type {
  Database,
  EngineName,
  PGliteLike,
  PoolLike,
  Queryable,
  Session,
  ThreadConnection,
} from './db/database.js';
export type { Migration, MigrationReport } from './db/migrator.js';
export { loadMigrations, migrateDatabase } from './db/migrator.js';
export type { DatabaseTarget, OpenDatabaseOptions } from './db/open-database.js';
export { DEFAULT_DATA_FOLDER, openDatabase } from './db/open-database.js';
export type { RoleReview } from './db/role-queries.js';
export { assertRuntimeRole, grantRuntimeRole, RUNTIME_MEMBERSHIPS, reviewRole } from './db/role-queries.js';
export type { LedgerErrorCode, LedgerErrorOptions } from './errors.js';
export { ERROR_CODES, isLedgerError, LedgerError } from './errors.js';
export type { ReadRunner } from './execution-reader.js';
export { ExecutionReader } from './execution-reader.js';
export { canonicalJson } from './integrity/canonical-json.js';
export type { ChainProblem, VerificationReport } from './integrity/chain-verifier.js';
export type { CheckpointBody, ProjectHead } from './integrity/checkpoint-encoding.js';
export {
  encodeCheckpointLeaf,
  encodeHeadLeaf,
  formatCheckpointBody,
  parseCheckpointBody,
} from './integrity/checkpoint-encoding.js';
export type { CheckpointRef } from './integrity/checkpoint-prover.js';
export type {
  Checkpoint,
  CheckpointCheck,
  CheckpointResult,
  ConsistencyProof,
  DivergedProject,
  ProjectProof,
} from './integrity/checkpoint-types.js';
export type { NoteCheck, VerifiedCheckpoint } from './integrity/checkpoint-verifier.js';
export {
  verifyCheckpointNote,
  verifyConsistencyProof,
  verifyProjectProof,
} from './integrity/checkpoint-verifier.js';
export { computeEntryHash, genesisHash } from './integrity/entry-hash.js';
export type { ExportVerificationInput, ExportVerificationReport } from './integrity/export-verifier.js';
export { verifyExport } from './integrity/export-verifier.js';
export {
  computePayloadHash,
  HASH_VERSION,
  HASH_VERSIONS,
  type HashVersion,
  payloadHashText,
} from './integrity/hash-versions.js';
export { canonicalJsonOfJsonbText } from './integrity/jsonb-canonical-json.js';
export { type JsonbInput, JsonNumberText, jsonbText, numericText } from './integrity/jsonb-text.js';
export type { KeyFilePaths, KeyFilesResult } from './integrity/key-files.js';
export {
  createSigningKeyFiles,
  loadPublicKeys,
  loadSigningKey,
  rotateSigningKeyFiles,
} from './integrity/key-files.js';
export {
  consistencyProof,
  emptyTreeRoot,
  hashChildren,
  hashLeaf,
  inclusionProof,
  merkleRoot,
} from './integrity/merkle-tree.js';
export type { ProofCheck } from './integrity/merkle-verifier.js';
export { verifyConsistency, verifyInclusion } from './integrity/merkle-verifier.js';
export { signNote } from './integrity/signed-note.js';
export type { GeneratedKey, NoteVerifierKey, SigningKey } from './integrity/signing-key.js';
export {
  DEFAULT_KEY_NAME,
  generateSigningKey,
  parsePublicKeys,
  parseSigningKey,
} from './integrity/signing-key.js';
export type {
  BatchItemResult,
  CreateCheckpointOptions,
  LedgerOptions,
  ReaderIdentity,
  VerifyLedgerOptions,
} from './ledger.js';
export { createLedger, Ledger } from './ledger.js';
export type { JsonObject, JsonValue } from './plain-json.js';
export { normalizeExecution, requireId } from './record.js';
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
