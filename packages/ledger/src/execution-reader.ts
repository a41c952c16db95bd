import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import type {
  AnalyticsFilter,
  CostByPart,
  CostTimeSeries,
  CostTimeSeriesOptions,
  ExecutionPercentiles,
  TopRunsOptions,
  UserCost,
  UserCostOptions,
} from './analytics/analytics-types.js';
import { queryCostByPart, queryCostByUser } from './analytics/cost-breakdown.js';
import { countRuns, queryAgentCostStats, queryProjectStats } from './analytics/execution-stats.js';
import { type ExportFormatDefinition, exportFormat, exportFormats } from './analytics/export-formats.js';
import { createExportStream } from './analytics/export-streams.js';
import { queryPercentiles } from './analytics/percentiles.js';
import { checkingPending, type PendingCheck } from './analytics/rollup-fold.js';
import {
  queryStepCosts,
  queryStepCostTimeSeries,
  type StepCostBreakdown,
  type StepCostOptions,
  type StepCostTimeSeries,
  type StepCostTimeSeriesOptions,
} from './analytics/step-costs.js';
import { queryCostTimeSeries } from './analytics/time-series.js';
import { queryMostExpensiveRuns } from './analytics/top-runs.js';
import { EXPORT_BATCH_ROWS_DEFAULT, STREAM_BATCH_ROWS_DEFAULT, STREAM_BATCH_ROWS_MAX } from './bounds.js';
import { keysetBatches, type RangeReadWidth } from './db/batch-reads.js';
import type { Queryable } from './db/database.js';
import { type ExecutionRow, RECORD_COLUMNS, rowToRecord } from './db/execution-queries.js';
import { namedSql } from './db/named-sql.js';
import { encodeCursor, type Ordering, queryBatch, queryPage, toPageOptions } from './db/page-queries.js';
import { LedgerError, runNotFound } from './errors.js';
import type { LineageOptions, RunAncestors, RunTree } from './lineage/lineage-types.js';
import { planLineage, queryAncestors, queryDescendants, queryRunTree } from './lineage/run-tree.js';
import {
  type ExecutionFilter,
  type FilterScope,
  fromSeedDates,
  requireLimit,
  requireLookupId,
  type SeedDateRange,
  seedRange,
  toFilterScope,
} from './query/execution-filter.js';
import type { BlobReader } from './replay/blob-store.js';
import type {
  CostStats,
  ExecutionRecord,
  ExecutionStats,
  ExecutionStatus,
  ExportOptions,
  Page,
  PageOptions,
  StreamOptions,
} from './types.js';

/** A project id that can be sent to the database as it is, to fold its project before a read. */
function foldable(projectId: unknown): projectId is string {
  return typeof projectId === 'string' && !projectId.includes('\u0000') && projectId.isWellFormed();
}

/**
 * How a read of the rollup levels gets every entry acknowledged before it (docs/analytics.md,
 * "When the levels are kept"), for one project or for every project when none is named.
 */
export interface RollupFolding {
  /**
   * Before the read: 'folded' when nothing can be pending any more (it folded, or knows there
   * was nothing to fold), 'check' when the read should check in its own statements instead.
   */
  beforeRead(projectId: string | undefined): Promise<'folded' | 'check'>;
  /** A checked read found entries pending, or could not tell: fold them before it reads again. */
  foldPending(projectId: string | undefined): Promise<void>;
}

/** Runs a read with the right identity: the whole ledger, or one user under row level security. */
export type ReadRunner = <T>(fn: (q: Queryable) => Promise<T>) => Promise<T>;

const FAILED_STATUSES: ExecutionStatus[] = ['failed', 'aborted'];

/**
 * Every read of the seed's API. The Ledger reads with the service identity; `ledger.as()`
 * gives a reader whose queries run as the non-superuser reader role, so the database's RLS
 * policy, not a WHERE clause, decides which rows a user sees.
 */
const GET_BY_RUN_ID = namedSql(
  `select ${RECORD_COLUMNS} from execution_ledger.executions e where e.run_id = $1`,
);
/** The same lookup within one project: where projects are sharded, it reads one shard only. */
const GET_BY_PROJECT_RUN_ID = namedSql(
  `select ${RECORD_COLUMNS} from execution_ledger.executions e where e.project_id = $2 and e.run_id = $1`,
);

export class ExecutionReader {
  /**
   * `rangeReadWidth` says how many seq ranges of one chain may be read at once; the default,
   * null, reads by keyset only (a scoped reader: under row level security a range may hold few
   * visible rows, and finding the chain's head would scan past every hidden one).
   */
  constructor(
    protected readonly runRead: ReadRunner,
    private readonly rangeReadWidth: RangeReadWidth = async () => null,
    private readonly readBlobs: BlobReader | null = null,
    private readonly foldBeforeRead: RollupFolding | null = null,
  ) {}

  /**
   * A read of the rollup levels that holds every run acknowledged before it: folded first, or
   * checked in its own statements for entries past the fold (those of `projectId` when the read
   * names one, else every project's) and folded and read again only when it finds some. A
   * project id the database could not even take (not a string, a NUL, a lone surrogate) folds
   * nothing: the read itself reports what is wrong.
   */
  private async rollupRead<T>(projectId: unknown, fn: (q: Queryable) => Promise<T>): Promise<T> {
    const folding = this.foldBeforeRead;
    if (folding === null) return this.runRead(fn);
    let scope: string | undefined;
    if (projectId === undefined || projectId === null) scope = undefined;
    else if (foldable(projectId)) scope = projectId;
    else return this.runRead(fn);
    if ((await folding.beforeRead(scope)) === 'folded') return this.runRead(fn);
    // One round trip when nothing is pending: each statement says whether it read with entries
    // past a mark, and only then is the read folded and repeated.
    const check: PendingCheck = { pending: false };
    const answer = await this.runRead((q) => fn(checkingPending(q, scope, check)));
    if (!check.pending) return answer;
    await folding.foldPending(scope);
    return this.runRead(fn);
  }

  /**
   * The execution with this run id, or null when there is none (or the caller may not see it).
   * With `projectId`, only a run of that project is found: a caller that knows the project
   * says so, and a deployment sharded by project then asks one shard instead of all.
   */
  async getExecutionByRunId(
    runId: string,
    options: { projectId?: string } = {},
  ): Promise<ExecutionRecord | null> {
    requireLookupId(runId, 'runId');
    const { projectId } = options;
    if (projectId !== undefined) requireLookupId(projectId, 'projectId');
    const rows = await this.runRead((q) =>
      projectId === undefined
        ? q.query<ExecutionRow>(GET_BY_RUN_ID, [runId])
        : q.query<ExecutionRow>(GET_BY_PROJECT_RUN_ID, [runId, projectId]),
    );
    return rows[0] === undefined ? null : rowToRecord(rows[0]);
  }

  /** Like getExecutionByRunId, but a missing run is a NOT_FOUND error. */
  async requireExecution(runId: string): Promise<ExecutionRecord> {
    const record = await this.getExecutionByRunId(runId);
    if (record === null) throw runNotFound(runId);
    return record;
  }

  /**
   * The whole tree a run belongs to: up from the run to its root (or to a parent named but not
   * recorded, shown as a placeholder node), then every run below, level by level, each with its
   * own cost and its subtree's, exact to the micro-cent. Cycles and limits are reported, never
   * looped on (docs/lineage.md).
   */
  async getRunTree(runId: string, options?: LineageOptions): Promise<RunTree> {
    const plan = planLineage(runId, options);
    return this.runRead((q) => queryRunTree(q, runId, plan));
  }

  /** The runs above a run, parent first, at most maxDepth of them. */
  async getAncestors(runId: string, options?: LineageOptions): Promise<RunAncestors> {
    const plan = planLineage(runId, options);
    return this.runRead((q) => queryAncestors(q, runId, plan));
  }

  /** The subtree under a run (the run as root), with the same limits and reports as getRunTree. */
  async getDescendants(runId: string, options?: LineageOptions): Promise<RunTree> {
    const plan = planLineage(runId, options);
    return this.runRead((q) => queryDescendants(q, runId, plan));
  }

  /** Newest first by seq. `(projectId, limit, offset)` as in the seed, or `(projectId, { limit, cursor })`. */
  listExecutionsByProject(
    projectId: string,
    limitOrOptions?: number | PageOptions,
    offset?: number,
  ): Promise<Page<ExecutionRecord>> {
    return this.listExecutions({ projectId }, toPageOptions(limitOrOptions, offset), 'seq');
  }

  /** Newest first by time, optionally within one project. */
  listExecutionsByAgent(
    agentId: string,
    projectId?: string,
    limitOrOptions?: number | PageOptions,
    offset?: number,
  ): Promise<Page<ExecutionRecord>> {
    const filter: ExecutionFilter = projectId === undefined ? { agentId } : { agentId, projectId };
    return this.listExecutions(filter, toPageOptions(limitOrOptions, offset));
  }

  /**
   * Any filter, newest first, by offset or cursor. The range is `start`/`end`; the seed's
   * `startDate`/`endDate` are still read (deprecated).
   */
  async listExecutions(
    filter: ExecutionFilter & SeedDateRange,
    page: PageOptions = {},
    ordering?: Ordering,
  ): Promise<Page<ExecutionRecord>> {
    const scope = toFilterScope(fromSeedDates(filter));
    const order = ordering ?? 'time';
    return this.rollupRead(scope.projectId, (q) => queryPage(q, scope, order, page, countRuns));
  }

  /** Failed and aborted runs, newest first. */
  async getFailedExecutions(projectId?: string, limit = 50): Promise<ExecutionRecord[]> {
    const filter: ExecutionFilter = { status: FAILED_STATUSES };
    if (projectId !== undefined) filter.projectId = projectId;
    const page = await this.listExecutions(filter, { limit });
    return page.data;
  }

  /** count, total, average, minimum and maximum cost in cents over [startDate, endDate). */
  async getAgentCostStats(
    agentId: string,
    projectId?: string,
    startDate?: Date,
    endDate?: Date,
  ): Promise<CostStats> {
    const range = seedRange(startDate, endDate);
    return this.rollupRead(projectId, (q) => queryAgentCostStats(q, agentId, projectId, range));
  }

  async getProjectExecutionStats(
    projectId: string,
    startDate?: Date,
    endDate?: Date,
  ): Promise<ExecutionStats> {
    const range = seedRange(startDate, endDate);
    return this.rollupRead(projectId, (q) => queryProjectStats(q, projectId, range));
  }

  /**
   * Every matching execution, oldest first, fetched in keyset batches of `batchSize`, one batch
   * read ahead: memory stays bounded and no transaction is held open between batches.
   */
  async *streamExecutions(given: StreamOptions = {}): AsyncGenerator<ExecutionRecord> {
    const batchSize = requireLimit(
      given.batchSize,
      'batchSize',
      STREAM_BATCH_ROWS_DEFAULT,
      STREAM_BATCH_ROWS_MAX,
    );
    // Checked once, up front: a caller that changes its filter object mid-stream changes nothing.
    const scope = toFilterScope(fromSeedDates(given));
    const ordering: Ordering = scope.projectId === undefined ? 'time' : 'seq';
    // By keyset, one batch ahead, also over a whole chain: parsing records is Node's work, and
    // reading several ranges at once only made Node parse them at once (more CPU, more memory).
    const batches = keysetBatches<ExecutionRecord, ExecutionRecord>(
      (last) =>
        this.runRead((q) =>
          queryBatch(
            q,
            scope,
            ordering,
            'asc',
            last === null ? null : encodeCursor(ordering, last),
            batchSize,
          ),
        ),
      (record) => record,
      batchSize,
    );
    for await (const batch of batches) yield* batch;
  }

  /** p50, p95 and p99 of cost and duration over the runs of a filter, exact (nearest rank). */
  getExecutionPercentiles(filter?: AnalyticsFilter): Promise<ExecutionPercentiles> {
    return this.runRead((q) => queryPercentiles(q, filter));
  }

  /** Cost per hour, day or week (in a time zone), as one series or one per agent, user or status. */
  getCostTimeSeries(options: CostTimeSeriesOptions): Promise<CostTimeSeries> {
    return this.rollupRead(options?.projectId, (q) => queryCostTimeSeries(q, options));
  }

  /** Cost split by breakdown part (tokens, toolCalls, externalRequests, penalties and any other). */
  getCostByPart(filter?: AnalyticsFilter): Promise<CostByPart> {
    return this.rollupRead(filter?.projectId, (q) => queryCostByPart(q, filter));
  }

  /** Users by cost, highest first. */
  getCostByUser(options?: UserCostOptions): Promise<UserCost[]> {
    return this.rollupRead(options?.projectId, (q) => queryCostByUser(q, options));
  }

  /** Cost of typed steps by tool (step kind and name), the costliest `limit` and the rest as other. */
  getCostByTool(options?: StepCostOptions): Promise<StepCostBreakdown> {
    return this.rollupRead(options?.projectId, (q) => queryStepCosts(q, 'tool', options));
  }

  /** Cost and tokens of typed steps by model, the costliest `limit` and the rest as other. */
  getCostByModel(options?: StepCostOptions): Promise<StepCostBreakdown> {
    return this.rollupRead(options?.projectId, (q) => queryStepCosts(q, 'model', options));
  }

  /** Step cost per hour, day or week (in a time zone), one series per top tool or model. */
  getStepCostTimeSeries(options: StepCostTimeSeriesOptions): Promise<StepCostTimeSeries> {
    return this.rollupRead(options?.projectId, (q) => queryStepCostTimeSeries(q, options));
  }

  /** The most expensive runs, highest cost first. */
  getMostExpensiveRuns(options?: TopRunsOptions): Promise<ExecutionRecord[]> {
    return this.runRead((q) => queryMostExpensiveRuns(q, options));
  }

  /**
   * Matching runs in a registered export format (`exportFormatNames()` of
   * `execution-ledger/export-formats`: csv, ndjson and any registered since) as a UTF-8 byte
   * stream with back-pressure; with `blobs: true`, the replay blobs their steps reference too.
   * An unknown format, filter or batch size, or blobs a format cannot carry, throws here, before
   * a stream exists.
   */
  exportStream(format: string, options: ExportOptions = {}): Readable {
    const definition = exportFormat(format);
    const { blobs, ...streamOptions } = options ?? {};
    const { scope, batchSize } = exportPlan(streamOptions);
    const readBlobs = requireBlobs(blobs, definition, this.readBlobs);
    return createExportStream(this.runRead, definition, scope, batchSize, this.rangeReadWidth, readBlobs);
  }

  /** Matching runs as an RFC 4180 CSV byte stream (header first), with back-pressure. */
  exportCsvStream(options: StreamOptions = {}): Readable {
    return this.exportStream('csv', options);
  }

  /** Matching runs as NDJSON, one ExecutionRecord per line with every hash, with back-pressure. */
  exportNdjsonStream(options: StreamOptions = {}): Readable {
    return this.exportStream('ndjson', options);
  }

  /** The project's executions over [startDate, endDate) as one RFC 4180 CSV text, header first. */
  async exportExecutionsToCSV(projectId: string, startDate?: Date, endDate?: Date): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.exportCsvStream({ ...seedRange(startDate, endDate), projectId })) {
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}

/** The blob reader an export with `blobs` uses, or null; a format that cannot carry blobs is refused. */
function requireBlobs(
  blobs: unknown,
  format: ExportFormatDefinition,
  readBlobs: BlobReader | null,
): BlobReader | null {
  if (blobs === undefined || blobs === false) return null;
  if (blobs !== true) {
    throw new LedgerError('VALIDATION_FAILED', `blobs must be true or false; got ${JSON.stringify(blobs)}`, {
      field: 'blobs',
    });
  }
  if (format.encodeBlobs === undefined) {
    const carriers = exportFormats()
      .filter((candidate) => candidate.encodeBlobs !== undefined)
      .map((candidate) => candidate.name);
    throw new LedgerError(
      'VALIDATION_FAILED',
      `format ${format.name} cannot carry replay blobs; export as ${carriers.join(' or ')}, or leave blobs out`,
      { field: 'blobs' },
    );
  }
  assert(readBlobs !== null, 'every reader a ledger hands out can read blobs');
  return readBlobs;
}

/** An export's batch size and scope, checked before a stream exists so a bad one throws here. */
function exportPlan(options: StreamOptions): { scope: FilterScope; batchSize: number } {
  const batchSize = requireLimit(
    options.batchSize,
    'batchSize',
    EXPORT_BATCH_ROWS_DEFAULT,
    STREAM_BATCH_ROWS_MAX,
  );
  return { scope: toFilterScope(fromSeedDates(options)), batchSize };
}
