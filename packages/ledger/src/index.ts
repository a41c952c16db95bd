// The public entry point: what an application calls. docs/api.md lists every name exported
// here and from the subpaths (`execution-ledger/verify`, `/database`, `/validation`,
// `/record-fields`); everything else is internal.

export { ALLOCATION_CSV_COLUMNS, allocationReportToCsv } from './allocation/allocation-csv.js';
export type {
  AllocationBasis,
  AllocationCostCenterTotal,
  AllocationLine,
  AllocationMethod,
  AllocationReport,
  AllocationReportOptions,
  AllocationRule,
  AllocationRuleSet,
  AllocationRuleSetInput,
  AllocationScope,
  AllocationSource,
  AllocationSourceTotal,
  AllocationTarget,
} from './allocation/allocation-types.js';
export type {
  AnalyticsFilter,
  CostByPart,
  CostTimeSeries,
  CostTimeSeriesOptions,
  CostTimeSeriesPoint,
  ExecutionPercentiles,
  PercentileSet,
  RollupFoldReport,
  RollupLevelReport,
  RollupMismatch,
  RollupRebuildOptions,
  RollupRebuildReport,
  RollupTimeZone,
  RollupTimeZoneReport,
  RollupVerificationReport,
  SeriesGroupBy,
  TimeBucket,
  TopRunsOptions,
  UserCost,
  UserCostOptions,
} from './analytics/analytics-types.js';
export type { ExecutionStreamSource, NdjsonExportOptions } from './analytics/ndjson-export.js';
export { exportExecutionsToNDJSON } from './analytics/ndjson-export.js';
export type {
  StepCostBreakdown,
  StepCostGroup,
  StepCostGroupBy,
  StepCostOptions,
  StepCostTimeSeries,
  StepCostTimeSeriesOptions,
  StepCostTimeSeriesPoint,
  StepCostTotals,
} from './analytics/step-costs.js';
export type {
  StepRollupMismatch,
  StepRollupVerificationReport,
} from './analytics/step-rollup-maintenance.js';
export type { LedgerLimits } from './bounds.js';
export { DEFAULT_LIMITS, PAGE_ROWS_DEFAULT, PAGE_ROWS_MAX } from './bounds.js';
export type { AnomalySettings } from './budgets/anomalies.js';
export { LedgerAnomalies } from './budgets/anomalies.js';
export type {
  BudgetAction,
  BudgetDefinition,
  BudgetPeriod,
  BudgetScope,
  ReservationScope,
} from './budgets/budget-input.js';
export { BUDGET_ACTIONS, BUDGET_PERIODS } from './budgets/budget-input.js';
export type {
  Budget,
  BudgetReservation,
  BudgetStatus,
  ReservationRecord,
  ReservationState,
  ReservedBudget,
  ReserveOptions,
  SettledReservation,
  SettleOptions,
} from './budgets/budgets.js';
export { LedgerBudgets } from './budgets/budgets.js';
export type { EventListOptions, EventPage, EventResolution, LedgerEvent } from './budgets/events.js';
export { LedgerEvents } from './budgets/events.js';
export type { ClaimedWebhook, WebhookDefinition, WebhookEndpoint } from './budgets/webhooks.js';
export { LedgerWebhooks } from './budgets/webhooks.js';
export type { BudgetExceededDetails } from './costs/budget-exceeded-error.js';
export { BudgetExceededError } from './costs/budget-exceeded-error.js';
export type {
  CostManagerOptions,
  CreateExecutionOptions,
  DatabaseBudgets,
  ReservedExecutionOptions,
  TokenChargeOptions,
} from './costs/cost-manager.js';
export { CostManager, getCostManager, initializeCostManager } from './costs/cost-manager.js';
export type { CostMetrics } from './costs/cost-metrics.js';
export { DEFAULT_PRICE_TABLE, DEFAULT_PRICES } from './costs/default-prices.js';
export { reportedCost, toExecutionCost } from './costs/execution-cost.js';
export type { PriceLookup } from './costs/price-table.js';
export { extendPriceTable, PriceTable } from './costs/price-table.js';
export { loadPriceTableFile } from './costs/price-table-file.js';
export type { ModelPrice, ModelPriceInput, PriceTableInput } from './costs/price-table-input.js';
export { RunContext } from './costs/run-context.js';
export type { BudgetEnforcement, Reservation } from './costs/run-costs.js';
export type { RunOptions, RunResult } from './costs/run-helper.js';
export type { StepLabels } from './costs/step-attribution.js';
export { OUTSIDE_STEPS_ACTION } from './costs/step-attribution.js';
export type { PGliteLike, PoolLike } from './db/database.js';
export type { DatabaseTarget } from './db/open-database.js';
export type { ReadLag } from './db/read-lag-queries.js';
export type { LedgerErrorCode, LedgerErrorOptions } from './errors.js';
export { ERROR_CODES, isLedgerError, LedgerError } from './errors.js';
export { ExecutionReader } from './execution-reader.js';
export type { ChainProblem, VerificationReport } from './format/chain-verifier.js';
export type {
  Checkpoint,
  CheckpointCheck,
  CheckpointResult,
  ConsistencyProof,
  DivergedProject,
  ProjectProof,
} from './format/checkpoint-types.js';
export type { NoteVerifierKey, SigningKey } from './format/signing-key.js';
export type { CheckpointRef } from './integrity/checkpoint-prover.js';
export type { KeyFilePaths, KeyFilesResult } from './integrity/key-files.js';
export {
  createSigningKeyFiles,
  loadPublicKeys,
  loadSigningKey,
  rotateSigningKeyFiles,
} from './integrity/key-files.js';
export type {
  BatchItemResult,
  CreateCheckpointOptions,
  LedgerOptions,
  ReaderIdentity,
  VerifyLedgerOptions,
  VerifyProgress,
} from './ledger.js';
export { createLedger, Ledger } from './ledger.js';
export { LedgerOperations } from './ledger-operations.js';
export type {
  LineageNode,
  LineageOptions,
  RunAncestors,
  RunTree,
  RunTreeNode,
} from './lineage/lineage-types.js';
export type { JsonObject, JsonValue } from './plain-json.js';
export type { BlobReader } from './replay/blob-store.js';
export type { CaptureOptions, CaptureSite } from './replay/call-capture.js';
export type { ReplayCallDiff, ReplayDiff, ReplayOptions, ReplayResult } from './replay/replay-run.js';
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
  MoveProjectOptions,
  MoveReport,
  ShardCheckpoint,
  ShardCheckpointCheck,
  ShardedLedgerOptions,
  ShardedVerification,
} from './sharding/sharded-ledger.js';
export {
  createShardedLedger,
  migrateShardCatalog,
  SHARD_CATALOG_MIGRATION_SET,
  ShardedLedger,
} from './sharding/sharded-ledger.js';
export type { StepKind, StepStatus, StepTokens, TypedStep } from './step-shape.js';
export { isTypedStep, STEP_KINDS, STEP_STATUSES } from './step-shape.js';
export type {
  CostBreakdown,
  CostPricing,
  CostStats,
  ExecutionCost,
  ExecutionFilter,
  ExecutionInput,
  ExecutionRecord,
  ExecutionStats,
  ExecutionStatus,
  ExecutionStep,
  ExecutionTrace,
  ExportOptions,
  Page,
  PageOptions,
  RecordedExecution,
  SeedDateRange,
  StreamOptions,
} from './types.js';
export { EXECUTION_STATUSES } from './types.js';
