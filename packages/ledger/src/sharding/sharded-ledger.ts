import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type {
  AnalyticsFilter,
  CostByPart,
  CostTimeSeries,
  CostTimeSeriesOptions,
  CostTimeSeriesPoint,
  ExecutionPercentiles,
  UserCost,
  UserCostOptions,
} from '../analytics/analytics-types.js';
import { addRollupTimeZone, listRollupTimeZones } from '../analytics/rollup-zones.js';
import { PAGE_ROWS_MAX, resolveLimits, TIME_SERIES_POINTS_MAX, USER_COSTS_DEFAULT } from '../bounds.js';
import type { Database, Queryable } from '../db/database.js';
import { PROJECT_SEALED } from '../db/database-errors.js';
import { type MigrationReport, type MigrationSet, migrateDatabase } from '../db/migrator.js';
import { openDatabase } from '../db/open-database.js';
import type { ProjectSummary } from '../db/project-queries.js';
import { LedgerError, runNotFound } from '../errors.js';
import type { VerificationReport } from '../format/chain-verifier.js';
import {
  compareProjectIds,
  encodeCheckpointLeaf,
  encodeHeadLeaf,
  FIRST_PREV_HASH,
  formatCheckpointBody,
} from '../format/checkpoint-encoding.js';
import { hashLeaf, merkleRoot } from '../format/merkle-tree.js';
import { openNote, signNote } from '../format/signed-note.js';
import { parsePublicKeys, resolveSigningKey, type SigningKey } from '../format/signing-key.js';
import {
  type BatchItemResult,
  createLedger,
  type Ledger,
  type LedgerOptions,
  type VerifyLedgerOptions,
} from '../ledger.js';
import { requireLimit, requireLookupId } from '../query/execution-filter.js';
import { prepareExecution } from '../record.js';
import type {
  CostStats,
  ExecutionInput,
  ExecutionRecord,
  ExecutionStats,
  RecordedExecution,
} from '../types.js';
import {
  insertShard,
  insertShardCheckpoint,
  lockPlacement,
  lockShardCheckpoints,
  type PlacementRow,
  type ShardCheckpointRow,
  type ShardHead,
  type ShardRow,
  selectLeftCopyShards,
  selectPlacement,
  selectPlacements,
  selectShardCheckpoints,
  selectShards,
  shardFor,
  switchPlacement,
} from './catalog-queries.js';
import { type ProjectHold, type ProjectRouting, projectLedger } from './project-ledger.js';
import {
  entryHashAt,
  exportEntries,
  importEntries,
  projectHead,
  projectSeal,
  sealProject,
  unsealProject,
} from './shard-queries.js';

/** The catalog's own migration set (applied by a superuser: PL/Proxy is an untrusted language). */
export const SHARD_CATALOG_MIGRATION_SET: MigrationSet = Object.freeze({
  schema: 'execution_ledger_shards',
  folder: fileURLToPath(new URL('../../sql/shards/', import.meta.url)),
});

/** Entries copied per statement when a project moves. */
const MOVE_BATCH_DEFAULT = 2_000;
const MOVE_BATCH_MAX = 50_000;
/**
 * How long an append refused by a sealed shard keeps re-reading the placement: a move holds the
 * catalog's placement of the project only for its last copy and switch (well under a second).
 */
const MOVED_RETRY_MS = 30_000;

export interface ShardedLedgerOptions
  extends Pick<LedgerOptions, 'limits' | 'poolSize' | 'migrate' | 'databaseConnectTimeoutMs'> {
  /** The catalog database: placement, shards, sharded checkpoints, and the routed append_batch. */
  catalog: string | URL;
  /** Every shard's ledger by the name the catalog gives it (a postgres:// URL each). */
  shards: Readonly<Record<string, string | URL>>;
}

export interface ShardedVerification {
  ok: boolean;
  projects: number;
  entries: number;
  /** Per project, only those that failed. */
  failures: { project_id: string; shard: string; report: VerificationReport }[];
}

export interface MoveProjectOptions {
  /** Entries per copy statement (default 2,000). */
  batchSize?: number;
  /** Called after each copied batch. */
  onProgress?: (copied: number) => void;
}

export interface MoveReport {
  project_id: string;
  from: string;
  to: string;
  /** Entries copied to the target (0 when the project had none). */
  entries: number;
  /** How long appends to the project waited: the final copy and the switch, in ms. */
  paused_ms: number;
}

export interface ShardCheckpoint {
  seq: number;
  created_at: string;
  tree_size: number;
  root: string;
  prev_hash: string;
  log_root: string;
  checkpoint_hash: string;
  origin: string;
  key_id: string;
  note: string;
  heads: ShardHead[];
}

export interface ShardCheckpointCheck {
  ok: boolean;
  seq: number;
  /** What failed, when not ok. */
  problems: string[];
}

/**
 * A ledger sharded by project over several PostgreSQL servers (docs/scaling.md). Appends go
 * through the catalog's PL/Proxy `append_batch`, which places a new project on a shard and runs
 * the shard's own append function there, with this library's group commit in front of it.
 * Project-scoped reads go to the shard that holds the project (`forProject`); cross-project
 * statistics ask every shard and merge (counts, sums, min and max exactly); checkpoints are signed
 * over every shard's heads and kept in the catalog; a project moves with `moveProject`.
 */
export class ShardedLedger {
  private readonly ledgers = new Map<string, Ledger>();
  private readonly catalog: Promise<Database>;
  private readonly limits: ReturnType<typeof resolveLimits>;
  /** project → the name of its shard, read from the catalog once per project (placing it if new). */
  private readonly placements = new Map<string, Promise<string>>();
  private checked: Promise<ShardRow[]> | undefined;

  constructor(options: ShardedLedgerOptions) {
    if (options === null || typeof options !== 'object')
      throw new LedgerError('VALIDATION_FAILED', 'options must be an object with catalog and shards', {
        field: 'options',
      });
    if (typeof options.catalog !== 'string' && !(options.catalog instanceof URL))
      throw new LedgerError('VALIDATION_FAILED', 'catalog must be the postgres:// URL of the shard catalog', {
        field: 'catalog',
      });
    const names =
      options.shards === null || typeof options.shards !== 'object' ? [] : Object.keys(options.shards);
    if (names.length === 0)
      throw new LedgerError('VALIDATION_FAILED', 'shards must name at least one shard: { name: url }', {
        field: 'shards',
      });
    const common: LedgerOptions = {
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
      ...(options.databaseConnectTimeoutMs === undefined
        ? {}
        : { databaseConnectTimeoutMs: options.databaseConnectTimeoutMs }),
    };
    for (const name of names) {
      const url = options.shards[name];
      if (typeof url !== 'string' && !(url instanceof URL))
        throw new LedgerError(
          'VALIDATION_FAILED',
          `shards.${name} must be the postgres:// URL of that shard`,
          {
            field: `shards.${name}`,
          },
        );
      this.ledgers.set(
        name,
        createLedger({ ...common, database: url, ...(options.migrate === false ? { migrate: false } : {}) }),
      );
    }
    this.limits = resolveLimits(options.limits);
    this.catalog = openDatabase(options.catalog, {
      ...(options.databaseConnectTimeoutMs === undefined
        ? {}
        : { connectTimeoutMs: options.databaseConnectTimeoutMs }),
      poolSize: 4,
    });
    this.catalog.catch(() => undefined);
  }

  /** Checks the catalog's shards against `options.shards` and prepares every shard. */
  async ready(): Promise<void> {
    await this.shardList();
    await Promise.all([...this.ledgers.values()].map((ledger) => ledger.ready()));
  }

  /** The shards the catalog knows, in order; each must be in `options.shards`. */
  async shardList(): Promise<ShardRow[]> {
    this.checked ??= (async () => {
      const rows = await selectShards(await this.catalog);
      const missing = rows.filter((row) => !this.ledgers.has(row.name)).map((row) => row.name);
      if (missing.length > 0)
        throw new LedgerError(
          'VALIDATION_FAILED',
          `the catalog has shard(s) ${missing.join(', ')} that shards does not name; give each its URL`,
          { field: 'shards' },
        );
      return rows;
    })();
    this.checked.catch(() => {
      this.checked = undefined;
    });
    return this.checked;
  }

  /** The shard ledger by name (migrations, operations, every read of its own projects). */
  shard(name: string): Ledger {
    const ledger = this.ledgers.get(name);
    if (ledger === undefined)
      throw new LedgerError('VALIDATION_FAILED', `there is no shard ${JSON.stringify(name)} in shards`, {
        field: 'shard',
      });
    return ledger;
  }

  /**
   * Appends one execution on its project's shard, straight to that shard's append function with
   * its group commit. The placement is read from the catalog once per project (placing a new
   * project there) and cached; a shard the project was moved away from refuses the append, and
   * then the placement is read again and the append sent to the shard that holds the project now.
   */
  async recordExecution(execution: ExecutionInput): Promise<RecordedExecution> {
    const projectId = this.projectOf(execution);
    const deadline = Date.now() + MOVED_RETRY_MS;
    for (let attempt = 0; ; attempt += 1) {
      const placement = this.placementOf(projectId);
      const name = await placement;
      try {
        return await this.shard(name).recordExecution(execution);
      } catch (error) {
        if (!isProjectSealed(error)) throw namedShardError(error, name);
        if (Date.now() >= deadline)
          throw new LedgerError(
            'DATABASE_UNAVAILABLE',
            `shard ${name} refused the append because project ${projectId} moved away, and the catalog ` +
              `still placed it there after ${MOVED_RETRY_MS / 1000} s; finish the move (run it again) and send the run again`,
            { cause: error, details: { shard: name, project_id: projectId } },
          );
        // A stale placement: read it again (every caller of this project shares the one read).
        if (this.placements.get(projectId) === placement) this.placements.delete(projectId);
        if (attempt > 0) await sleep(Math.min(5 * 2 ** attempt, 200));
      }
    }
  }

  /** Appends many executions; each gets its own result, and a bad one does not stop the rest. */
  async recordExecutions(executions: ExecutionInput[]): Promise<BatchItemResult[]> {
    const settled = await Promise.allSettled(executions.map((execution) => this.recordExecution(execution)));
    return settled.map((outcome, index) => {
      if (outcome.status === 'fulfilled') return { index, ok: true, record: outcome.value };
      if (outcome.reason instanceof LedgerError) return { index, ok: false, error: outcome.reason };
      throw outcome.reason;
    });
  }

  /**
   * The project of an execution about to be appended. The first append of a project in this
   * process is validated whole before the catalog places the project (no placement for a run
   * the ledger would refuse); later ones are validated by the shard's ledger, as always.
   */
  private projectOf(execution: ExecutionInput): string {
    const projectId = (execution as { project_id?: unknown } | null)?.project_id;
    if (typeof projectId === 'string' && this.placements.has(projectId)) return projectId;
    return prepareExecution(execution, this.limits).payload.project_id;
  }

  private placementOf(projectId: string): Promise<string> {
    let placement = this.placements.get(projectId);
    if (placement === undefined) {
      placement = (async () => {
        const position = await catalogCall(async () => shardFor(await this.catalog, projectId));
        const shards = await this.shardList();
        if (shards.some((shard) => shard.position === position)) return this.nameOf(position, shards);
        // A shard added since the list was read.
        this.checked = undefined;
        return this.nameOf(position, await this.shardList());
      })();
      this.placements.set(projectId, placement);
      const current = placement;
      placement.catch(() => {
        if (this.placements.get(projectId) === current) this.placements.delete(projectId);
      });
    }
    return placement;
  }

  /** The name of the shard that holds the project, or null if it was never appended to. */
  async shardOf(projectId: string): Promise<string | null> {
    requireLookupId(projectId, 'projectId');
    const position = await catalogCall(async () => selectPlacement(await this.catalog, projectId));
    if (position === null) return null;
    return this.nameOf(position, await this.shardList());
  }

  /**
   * The ledger of the shard that holds the project, for every read of that project
   * (lists, pages, streams, exports, statistics, percentiles, lineage, verification), routed by
   * the cached placement the appends use: the catalog is asked once per project and process.
   * Each call checks the shard's seal of the project before and after it runs; a project moved
   * away since is read again from the catalog and the call runs on its new shard, so a stale
   * placement never answers a partial chain (a stream that a move overtakes fails: read it again).
   * A project never appended to reads as empty from the first shard.
   */
  async forProject(projectId: string): Promise<Ledger> {
    requireLookupId(projectId, 'projectId');
    let current = (await this.holdProject(projectId)).name;
    const routing: ProjectRouting = {
      projectId,
      current: () => this.shard(current),
      hold: async () => {
        const hold = await this.holdProject(projectId);
        current = hold.name;
        return hold;
      },
      run: async (call) =>
        this.onProject(projectId, (ledger, name) => {
          current = name;
          return call(ledger);
        }),
    };
    return projectLedger(routing);
  }

  /**
   * The placement a read uses: the one cached for appends, or else the catalog's (then cached);
   * null for a project never placed (not cached: it may be placed any time).
   */
  private async readPlacement(
    projectId: string,
  ): Promise<{ name: string | null; entry: Promise<string> | undefined }> {
    const cached = this.placements.get(projectId);
    if (cached !== undefined) return { name: await cached, entry: cached };
    const position = await catalogCall(async () => selectPlacement(await this.catalog, projectId));
    if (position === null) return { name: null, entry: undefined };
    let shards = await this.shardList();
    if (!shards.some((shard) => shard.position === position)) {
      // A shard added since the list was read.
      this.checked = undefined;
      shards = await this.shardList();
    }
    const name = this.nameOf(position, shards);
    if (!this.placements.has(projectId)) this.placements.set(projectId, Promise.resolve(name));
    return { name, entry: this.placements.get(projectId) };
  }

  /**
   * A shard that holds the project now, from the cached placement: its seal of the project is
   * checked (one index probe), and a sealed shard (the project moved away) sends the read to
   * the catalog's placement again, waiting out a move's switch.
   */
  private async holdProject(
    projectId: string,
  ): Promise<ProjectHold & { entry: Promise<string> | undefined }> {
    const deadline = Date.now() + MOVED_RETRY_MS;
    for (let attempt = 0; ; attempt += 1) {
      const placed = await this.readPlacement(projectId);
      const name = placed.name ?? (await this.firstShard());
      const ledger = this.shard(name);
      const db = await onShard(name, () => ledger.database());
      const sealed = await onShard(name, () => projectSeal(db, projectId));
      if (sealed === null)
        return {
          name,
          ledger,
          entry: placed.entry,
          stillHeld: async () => (await onShard(name, () => projectSeal(db, projectId))) === null,
        };
      this.forgetPlacement(projectId, placed.entry);
      if (Date.now() >= deadline) throw movedTooLong(name, projectId);
      if (attempt > 0) await sleep(Math.min(5 * 2 ** attempt, 200));
    }
  }

  /**
   * Runs a read of one project on the shard that holds it (naming that shard if it is
   * unreachable). The shard's seal of the project is checked before and after the read: a read
   * that a move overtook is run again on the project's new shard, so it never answers from a
   * copy the project left.
   */
  private async onProject<T>(
    projectId: string,
    read: (ledger: Ledger, shard: string) => Promise<T>,
  ): Promise<T> {
    requireLookupId(projectId, 'projectId');
    const deadline = Date.now() + MOVED_RETRY_MS;
    for (let attempt = 0; ; attempt += 1) {
      const hold = await this.holdProject(projectId);
      let answer: { value: T } | undefined;
      try {
        const value = await onShard(hold.name, () => read(hold.ledger, hold.name));
        if (await hold.stillHeld()) answer = { value };
      } catch (error) {
        // A write through the project's ledger that a sealed shard refused goes the same way, and
        // so does an error (NOT_FOUND…) from a shard the project left while it was asked.
        if (!isProjectSealed(error) && (await hold.stillHeld().catch(() => true))) throw error;
      }
      if (answer !== undefined) return answer.value;
      this.forgetPlacement(projectId, hold.entry);
      if (Date.now() >= deadline) throw movedTooLong(hold.name, projectId);
      if (attempt > 0) await sleep(Math.min(5 * 2 ** attempt, 200));
    }
  }

  /** Drops a cached placement found stale (unless another read already replaced it). */
  private forgetPlacement(projectId: string, entry: Promise<string> | undefined): void {
    if (entry !== undefined && this.placements.get(projectId) === entry) this.placements.delete(projectId);
  }

  private async firstShard(): Promise<string> {
    const name = (await this.shardList())[0]?.name;
    if (name === undefined)
      throw new LedgerError('VALIDATION_FAILED', 'the catalog has no shard', { field: 'shards' });
    return name;
  }

  /**
   * By project (one shard, by the cached placement), or without one asked of every shard, each
   * answer kept only from a shard that has not sealed the run's project (the one that holds it).
   */
  async getExecutionByRunId(
    runId: string,
    options: { projectId?: string } = {},
  ): Promise<ExecutionRecord | null> {
    const projectId = options.projectId;
    if (projectId !== undefined) {
      return this.onProject(projectId, (ledger) => ledger.getExecutionByRunId(runId, { projectId }));
    }
    // Without the catalog: a run found on a shard counts if that shard has not sealed its
    // project (a copy a move left behind is sealed; the shard that holds it is not).
    const found = await Promise.all(
      (await this.shardList()).map((shard) =>
        onShard(shard.name, async () => {
          const ledger = this.shard(shard.name);
          const record = await ledger.getExecutionByRunId(runId);
          if (record === null) return null;
          return (await projectSeal(await ledger.database(), record.project_id)) === null ? record : null;
        }),
      ),
    );
    return found.find((record) => record !== null) ?? null;
  }

  /** Like getExecutionByRunId, but a run no shard holds is a NOT_FOUND error. */
  async requireExecution(runId: string): Promise<ExecutionRecord> {
    const record = await this.getExecutionByRunId(runId);
    if (record === null) throw runNotFound(runId);
    return record;
  }

  async getProjectExecutionStats(
    projectId: string,
    startDate?: Date,
    endDate?: Date,
  ): Promise<ExecutionStats> {
    return this.onProject(projectId, (ledger) =>
      ledger.getProjectExecutionStats(projectId, startDate, endDate),
    );
  }

  async verifyLedger(projectId: string, options: VerifyLedgerOptions = {}): Promise<VerificationReport> {
    return this.onProject(projectId, (ledger) => ledger.verifyLedger(projectId, options));
  }

  /** Every placed project with its entries, each counted on the shard that holds it. */
  async listProjects(): Promise<(ProjectSummary & { shard: string })[]> {
    const owned = await this.ownership();
    const lists = await Promise.all(
      owned.shards.map((shard) =>
        onShard(shard.name, async () =>
          (await this.shard(shard.name).operations.listProjects())
            .filter((project) => owned.placed.get(project.project_id) === shard.position)
            .map((project) => ({ ...project, shard: shard.name })),
        ),
      ),
    );
    return lists.flat().sort((a, b) => compareProjectIds(a.project_id, b.project_id));
  }

  /** Re-derives every chain on the shard that holds it (`verify --all` across shards). */
  async verifyAll(options: VerifyLedgerOptions = {}): Promise<ShardedVerification> {
    const projects = await this.listProjects();
    const result: ShardedVerification = { ok: true, projects: 0, entries: 0, failures: [] };
    for (const project of projects) {
      const report = await onShard(project.shard, () =>
        this.shard(project.shard).verifyLedger(project.project_id, options),
      );
      result.projects += 1;
      result.entries += report.entries_checked;
      if (!report.ok) {
        result.ok = false;
        result.failures.push({ project_id: project.project_id, shard: project.shard, report });
      }
    }
    return result;
  }

  /**
   * count, total, average, minimum and maximum cost of an agent's runs over every shard (or one
   * project's shard): counts and sums add up, min and max of the shards that had runs, and the
   * average is the merged total over the merged count, rounded to 6 places as one server rounds.
   */
  async getAgentCostStats(
    agentId: string,
    projectId?: string,
    startDate?: Date,
    endDate?: Date,
  ): Promise<CostStats> {
    if (projectId !== undefined)
      return this.onProject(projectId, (ledger) =>
        ledger.getAgentCostStats(agentId, projectId, startDate, endDate),
      );
    const parts = await this.acrossShards((ledger, project) =>
      ledger.getAgentCostStats(agentId, project, startDate, endDate),
    );
    const withRuns = parts.filter((part) => part.count > 0);
    const count = withRuns.reduce((sum, part) => sum + part.count, 0);
    const total = sumMicros(withRuns.map((part) => part.total_cost));
    return {
      agent_id: agentId,
      project_id: null,
      count,
      total_cost: fromMicros(total),
      avg_cost: count === 0 ? 0 : fromMicros(divideRounded(total, BigInt(count))),
      min_cost: withRuns.length === 0 ? 0 : Math.min(...withRuns.map((part) => part.min_cost)),
      max_cost: withRuns.length === 0 ? 0 : Math.max(...withRuns.map((part) => part.max_cost)),
    };
  }

  /** Cost by breakdown part over every shard (exact sums), or over one project's shard. */
  async getCostByPart(filter: AnalyticsFilter = {}): Promise<CostByPart> {
    if (filter.projectId !== undefined)
      return this.onProject(filter.projectId, (ledger) => ledger.getCostByPart(filter));
    const parts = await this.acrossShards((ledger, projectId) =>
      ledger.getCostByPart(projectId === undefined ? filter : { ...filter, projectId }),
    );
    const names = new Set(parts.flatMap((part) => Object.keys(part.parts)));
    const merged: Record<string, number> = {};
    for (const name of [...names].sort())
      merged[name] = fromMicros(sumMicros(parts.map((part) => part.parts[name] ?? 0)));
    return {
      count: parts.reduce((sum, part) => sum + part.count, 0),
      total_cost: fromMicros(sumMicros(parts.map((part) => part.total_cost))),
      parts: merged,
      unattributed_cost: fromMicros(sumMicros(parts.map((part) => part.unattributed_cost))),
    };
  }

  /**
   * Users by cost over every shard (or one project's shard), highest first, ties by user id:
   * each user's counts and costs added over the shards exactly, the average the merged total
   * over the merged count. Exact while no shard has more than PAGE_ROWS_MAX (1,000) users in the
   * scope; past that the merge would miss amounts, so it is refused (filter by project).
   */
  async getCostByUser(options: UserCostOptions = {}): Promise<UserCost[]> {
    if (options.projectId !== undefined)
      return this.onProject(options.projectId, (ledger) => ledger.getCostByUser(options));
    const limit = requireLimit(options.limit, 'limit', USER_COSTS_DEFAULT, PAGE_ROWS_MAX);
    const parts = await this.acrossShards((ledger, projectId) =>
      ledger.getCostByUser({
        ...options,
        ...(projectId === undefined ? {} : { projectId }),
        limit: PAGE_ROWS_MAX,
      }),
    );
    if (parts.some((part) => part.length >= PAGE_ROWS_MAX))
      throw new LedgerError(
        'VALIDATION_FAILED',
        `a shard has ${PAGE_ROWS_MAX} or more users in this scope, so cost by user cannot be merged exactly ` +
          'across shards; give projectId (one shard) or a narrower range',
        { field: 'projectId' },
      );
    const users = new Map<string, { count: number; total: bigint }>();
    for (const row of parts.flat()) {
      const user = users.get(row.user_id) ?? { count: 0, total: 0n };
      user.count += row.count;
      user.total += toMicros(row.total_cost);
      users.set(row.user_id, user);
    }
    return [...users]
      .map(([user_id, user]) => ({ user_id, ...user }))
      .sort((a, b) =>
        a.total === b.total ? compareProjectIds(a.user_id, b.user_id) : a.total > b.total ? -1 : 1,
      )
      .slice(0, limit)
      .map((user) => ({
        user_id: user.user_id,
        count: user.count,
        total_cost: fromMicros(user.total),
        avg_cost: fromMicros(divideRounded(user.total, BigInt(user.count))),
      }));
  }

  /**
   * A cost time series over every shard (or one project's shard): every shard answers the same
   * buckets, and each bucket and series is merged exactly (counts and costs added, min of the
   * shards' minimums and max of their maximums among those with runs, the average the merged
   * total over the merged count, rounded to 6 places as one server rounds).
   */
  async getCostTimeSeries(options: CostTimeSeriesOptions): Promise<CostTimeSeries> {
    if (options?.projectId !== undefined)
      return this.onProject(options.projectId, (ledger) => ledger.getCostTimeSeries(options));
    const parts = await this.acrossShards((ledger, projectId) =>
      ledger.getCostTimeSeries(projectId === undefined ? options : { ...options, projectId }),
    );
    const first = parts[0];
    if (first === undefined)
      throw new LedgerError('VALIDATION_FAILED', 'the catalog has no shard', { field: 'shards' });
    const merged = new Map<
      string,
      { point: CostTimeSeriesPoint; total: bigint; min?: number; max?: number }
    >();
    const buckets = new Map<string, string>();
    const keys = new Set<string | null>();
    for (const point of parts.flatMap((part) => part.points)) {
      buckets.set(point.bucket_local, point.bucket_start);
      keys.add(point.key);
      const id = `${point.bucket_local}\u0000${point.key ?? ''}`;
      const entry = merged.get(id) ?? { point: { ...point, count: 0 }, total: 0n };
      entry.point.count += point.count;
      entry.total += toMicros(point.total_cost);
      if (point.count > 0) {
        entry.min = Math.min(entry.min ?? point.min_cost, point.min_cost);
        entry.max = Math.max(entry.max ?? point.max_cost, point.max_cost);
      }
      merged.set(id, entry);
    }
    const keyList = [...keys].sort((a, b) => (a === null || b === null ? 0 : compareProjectIds(a, b)));
    if (buckets.size * keyList.length > TIME_SERIES_POINTS_MAX)
      throw new LedgerError(
        'VALIDATION_FAILED',
        `the merged series would have ${buckets.size * keyList.length} points, more than ${TIME_SERIES_POINTS_MAX}; ` +
          'narrow the range, use a coarser bucket, filter by project or agent, or group by fewer values',
        { field: 'groupBy' },
      );
    const points: CostTimeSeriesPoint[] = [];
    for (const [local, start] of [...buckets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const key of keyList) {
        const entry = merged.get(`${local}\u0000${key ?? ''}`);
        const count = entry?.point.count ?? 0;
        const total = entry?.total ?? 0n;
        points.push({
          bucket_start: start,
          bucket_local: local,
          key,
          count,
          total_cost: fromMicros(total),
          avg_cost: count === 0 ? 0 : fromMicros(divideRounded(total, BigInt(count))),
          min_cost: entry?.min ?? 0,
          max_cost: entry?.max ?? 0,
        });
      }
    }
    return { bucket: first.bucket, group_by: first.group_by, time_zone: first.time_zone, points };
  }

  /**
   * Nearest-rank percentiles of one project, exact, from its shard. Across projects they are
   * not merged (a nearest-rank percentile needs every value, which no shard's answer carries):
   * without `projectId` this is refused.
   */
  async getExecutionPercentiles(filter: AnalyticsFilter): Promise<ExecutionPercentiles> {
    if (filter?.projectId === undefined)
      throw new LedgerError(
        'VALIDATION_FAILED',
        'percentiles are not merged across shards (a nearest-rank percentile needs every value); ' +
          'give projectId: the percentiles of one project are exact, read on its shard',
        { field: 'projectId' },
      );
    return this.onProject(filter.projectId, (ledger) => ledger.getExecutionPercentiles(filter));
  }

  /** Failed and aborted runs over every shard, newest first (each shard's newest, merged). */
  async getFailedExecutions(projectId?: string, limit = 50): Promise<ExecutionRecord[]> {
    if (projectId !== undefined)
      return this.onProject(projectId, (ledger) => ledger.getFailedExecutions(projectId, limit));
    const parts = await this.acrossShards((ledger, project) => ledger.getFailedExecutions(project, limit));
    return parts
      .flat()
      .sort((a, b) =>
        a.created_at === b.created_at
          ? compareProjectIds(a.run_id, b.run_id)
          : a.created_at < b.created_at
            ? 1
            : -1,
      )
      .slice(0, limit);
  }

  /**
   * Adds a shard to the catalog (administrator): `connstr` is what PL/Proxy opens (libpq
   * key=value form with the shard's runtime role); `options.shards` must already name it.
   * Placed projects stay where they are; new projects are spread over every shard that takes them.
   */
  async addShard(
    name: string,
    connstr: string,
    options: { takesNewProjects?: boolean } = {},
  ): Promise<number> {
    this.shard(name);
    if (typeof connstr !== 'string' || connstr.trim() === '')
      throw new LedgerError(
        'VALIDATION_FAILED',
        'connstr must be the libpq connect string PL/Proxy opens for the shard',
        {
          field: 'connstr',
        },
      );
    const position = await insertShard(await this.catalog, name, connstr, options.takesNewProjects !== false);
    this.checked = undefined;
    return position;
  }

  /**
   * Moves a project to another shard: copies its entries while appends go on (the target's
   * import re-derives every hash and link), verifies the copied chain on the target, then holds
   * the project's placement row (appends to this project wait, others do not), copies what was
   * appended meanwhile, checks both heads agree and switches. The source keeps its copy (entries
   * are never deleted); cross-project reads leave it out. The connecting role on the target needs
   * `execution_ledger_importer`, on the catalog `execution_ledger_shard_admin`.
   */
  async moveProject(projectId: string, to: string, options: MoveProjectOptions = {}): Promise<MoveReport> {
    requireLookupId(projectId, 'projectId');
    const batchSize = options.batchSize ?? MOVE_BATCH_DEFAULT;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MOVE_BATCH_MAX)
      throw new LedgerError(
        'VALIDATION_FAILED',
        `batchSize must be a whole number from 1 to ${MOVE_BATCH_MAX}`,
        {
          field: 'batchSize',
        },
      );
    const target = this.shard(to);
    const shards = await this.shardList();
    const targetRow = shards.find((shard) => shard.name === to);
    if (targetRow === undefined)
      throw new LedgerError(
        'VALIDATION_FAILED',
        `shard ${to} is not in the catalog; add it with addShard first`,
        {
          field: 'to',
        },
      );
    const fromName = await this.shardOf(projectId);
    if (fromName === to)
      throw new LedgerError('VALIDATION_FAILED', `project ${projectId} is already on shard ${to}`, {
        field: 'to',
      });
    const targetDb = await target.database();
    let copied = 0;
    const copy = async (sourceDb: Queryable): Promise<void> => {
      const head = await projectHead(targetDb, projectId);
      let after = head?.seq ?? 0;
      for (;;) {
        const batch = await exportEntries(sourceDb, projectId, after, batchSize);
        if (batch.count === 0) return;
        await importEntries(targetDb, projectId, batch.text);
        after = batch.lastSeq;
        copied += batch.count;
        options.onProgress?.(copied);
      }
    };
    if (fromName !== null) {
      const sourceDb = await this.shard(fromName).database();
      // The zones the project keeps its days in go with it: kept on the target before the copy,
      // their days fill as the entries arrive.
      for (const zone of await listRollupTimeZones(sourceDb, projectId)) {
        await addRollupTimeZone(targetDb, projectId, zone.time_zone);
      }
      await copy(sourceDb);
      const report = await target.verifyLedger(projectId);
      if (!report.ok)
        throw new LedgerError(
          'VALIDATION_FAILED',
          `the copy of ${projectId} on ${to} does not verify at seq ${report.first_bad_seq}: ${report.reason}; placement unchanged`,
          { field: 'projectId' },
        );
    }
    const catalog = await this.catalog;
    const started = Date.now();
    const from = await catalog.transaction(async (tx) => {
      // Appends routed through the catalog's PL/Proxy append_batch wait here for the switch.
      const position = await lockPlacement(tx, projectId);
      const name = this.nameOf(position, shards);
      if (name === to) return name;
      const sourceDb = await this.shard(name).database();
      // Sealed under the project's append lock on the source: running appends finish first,
      // later ones wait, and once this commits the source refuses them (they re-read the
      // placement, which waits for this catalog transaction).
      await sourceDb.transaction(async (sourceTx) => {
        const sourceHead = await sealProject(sourceTx, projectId, to);
        await copy(sourceTx);
        const targetHead = await projectHead(targetDb, projectId);
        if (sourceHead?.seq !== targetHead?.seq || sourceHead?.entry_hash !== targetHead?.entry_hash)
          throw new LedgerError(
            'VALIDATION_FAILED',
            `the heads of ${projectId} differ after the copy (${name}: ${sourceHead?.seq ?? 0}, ${to}: ${targetHead?.seq ?? 0}); placement unchanged`,
            { field: 'projectId' },
          );
      });
      // A project coming back to a shard it left earlier was sealed there.
      await unsealProject(targetDb, projectId);
      await switchPlacement(tx, projectId, position, targetRow.position);
      return name;
    });
    this.placements.set(projectId, Promise.resolve(to));
    return { project_id: projectId, from, to, entries: copied, paused_ms: Date.now() - started };
  }

  /**
   * Signs the next checkpoint over every placed project's head on its shard, kept in the catalog.
   * A head that moved since the previous checkpoint must still hold the previous head at its seq.
   */
  async createCheckpoint(options: {
    privateKey: SigningKey | string;
    onlyIfChanged?: boolean;
  }): Promise<{ created: boolean; checkpoint: ShardCheckpoint }> {
    const signingKey = resolveSigningKey(options?.privateKey);
    const owned = await this.ownership();
    const heads = (
      await Promise.all(
        owned.shards.map((shard) =>
          onShard(shard.name, async () => {
            const list = await this.shard(shard.name).operations.listProjects();
            const db = await this.shard(shard.name).database();
            const mine = list.filter((project) => owned.placed.get(project.project_id) === shard.position);
            return Promise.all(
              mine.map(async (project) => {
                const head = await projectHead(db, project.project_id);
                return {
                  project_id: project.project_id,
                  seq: head?.seq ?? 0,
                  entry_hash: head?.entry_hash ?? '',
                  shard: shard.name,
                };
              }),
            );
          }),
        ),
      )
    )
      .flat()
      .filter((head) => head.seq > 0)
      .sort((a, b) => compareProjectIds(a.project_id, b.project_id));
    const catalog = await this.catalog;
    return catalog.transaction(async (tx) => {
      await lockShardCheckpoints(tx);
      const history = await selectShardCheckpoints(tx);
      const last = history[history.length - 1];
      if (options.onlyIfChanged === true && last !== undefined && sameHeads(last.heads, heads))
        return { created: false, checkpoint: toShardCheckpoint(last) };
      const root = merkleRoot(heads.map((head) => hashLeaf(encodeHeadLeaf(head))));
      const seq = (last?.seq ?? 0) + 1;
      const createdAtMs = Math.max(Date.now(), last?.created_at_ms ?? 0);
      const prevHash = last === undefined ? FIRST_PREV_HASH : Buffer.from(last.checkpoint_hash, 'hex');
      const leaf = { seq, createdAtMs, treeSize: heads.length, root, prevHash };
      const logRoot = merkleRoot([...history.map(historyLeafHash), hashLeaf(encodeCheckpointLeaf(leaf))]);
      const body = formatCheckpointBody({
        origin: signingKey.name,
        tree_size: heads.length,
        root,
        seq,
        created_at_ms: createdAtMs,
        prev_hash: prevHash,
        log_root: logRoot,
      });
      const note = signNote(body, signingKey);
      const row: ShardCheckpointRow = {
        seq,
        created_at_ms: createdAtMs,
        tree_size: heads.length,
        root: root.toString('hex'),
        prev_hash: prevHash.toString('hex'),
        log_root: logRoot.toString('hex'),
        checkpoint_hash: createHash('sha256').update(note, 'utf8').digest('hex'),
        origin: signingKey.name,
        key_id: signingKey.keyId,
        note,
        heads,
      };
      await insertShardCheckpoint(tx, row);
      return { created: true, checkpoint: toShardCheckpoint(row) };
    });
  }

  /**
   * Checks a sharded checkpoint (default the newest): its signature, that its root is the tree
   * of its heads, and that every head is still stored, with that hash, on the shard holding the
   * project now (a moved project's chain is the same entries).
   */
  async verifyCheckpoint(publicKey: unknown, seq?: number): Promise<ShardCheckpointCheck> {
    const keys = parsePublicKeys(publicKey);
    const history = await selectShardCheckpoints(await this.catalog);
    const row = seq === undefined ? history[history.length - 1] : history.find((item) => item.seq === seq);
    if (row === undefined)
      throw new LedgerError(
        'CHECKPOINT_NOT_FOUND',
        seq === undefined ? 'the catalog has no checkpoint yet' : `no sharded checkpoint ${seq}`,
      );
    const problems: string[] = [];
    const opened = openNote(row.note, keys);
    if (!opened.ok) problems.push(`signature: ${opened.reason}`);
    const root = merkleRoot(row.heads.map((head) => hashLeaf(encodeHeadLeaf(head)))).toString('hex');
    if (root !== row.root) problems.push('the heads do not make the signed root');
    if (opened.ok && !opened.body.includes(Buffer.from(row.root, 'hex').toString('base64')))
      problems.push('the signed note names another root');
    for (const head of row.heads) {
      const stored = await this.onProject(head.project_id, async (ledger) =>
        entryHashAt(await ledger.database(), head.project_id, head.seq),
      );
      if (stored !== head.entry_hash)
        problems.push(
          `${head.project_id}: seq ${head.seq} ${stored === null ? 'is gone' : 'has another hash'}`,
        );
    }
    return { ok: problems.length === 0, seq: row.seq, problems };
  }

  async close(): Promise<void> {
    await Promise.allSettled([
      ...[...this.ledgers.values()].map((ledger) => ledger.close()),
      this.catalog.then((db) => db.close()),
    ]);
  }

  /** Shards in order with the placement of every project. */
  private async ownership(): Promise<{ shards: ShardRow[]; placed: Map<string, number>; left: Set<number> }> {
    const [shards, placements, left] = await catalogCall(async () => {
      const catalog = await this.catalog;
      return Promise.all([this.shardList(), selectPlacements(catalog), selectLeftCopyShards(catalog)]);
    });
    return {
      shards,
      placed: new Map(placements.map((row: PlacementRow) => [row.project_id, row.shard])),
      left,
    };
  }

  /**
   * Runs a cross-project read on every shard: once over the whole shard, or, on a shard that
   * keeps copies of projects moved away, once per project it holds (the copies are left out).
   */
  private async acrossShards<T>(
    read: (ledger: Ledger, projectId: string | undefined) => Promise<T>,
  ): Promise<T[]> {
    const owned = await this.ownership();
    const parts = await Promise.all(
      owned.shards.map((shard) =>
        onShard(shard.name, async () => {
          const ledger = this.shard(shard.name);
          if (!owned.left.has(shard.position)) return [await read(ledger, undefined)];
          const mine = [...owned.placed]
            .filter(([, position]) => position === shard.position)
            .map(([project]) => project);
          return Promise.all(mine.map((project) => read(ledger, project)));
        }),
      ),
    );
    return parts.flat();
  }

  private nameOf(position: number, shards: ShardRow[]): string {
    const found = shards.find((shard) => shard.position === position);
    if (found !== undefined) return found.name;
    throw new LedgerError(
      'VALIDATION_FAILED',
      `the catalog places a project on shard ${position}, which it does not list`,
      {
        field: 'shards',
      },
    );
  }
}

export function createShardedLedger(options: ShardedLedgerOptions): ShardedLedger {
  return new ShardedLedger(options);
}

/** Applies the catalog's migration set (connect as a superuser: PL/Proxy is untrusted). */
export async function migrateShardCatalog(catalog: string | URL): Promise<MigrationReport> {
  const database = await openDatabase(catalog, { poolSize: 1 });
  try {
    return await migrateDatabase(database, undefined, SHARD_CATALOG_MIGRATION_SET);
  } finally {
    await database.close();
  }
}

function toShardCheckpoint(row: ShardCheckpointRow): ShardCheckpoint {
  const { created_at_ms, ...rest } = row;
  return { ...rest, created_at: new Date(created_at_ms).toISOString() };
}

function historyLeafHash(row: ShardCheckpointRow): Buffer {
  return hashLeaf(
    encodeCheckpointLeaf({
      seq: row.seq,
      createdAtMs: row.created_at_ms,
      treeSize: row.tree_size,
      root: Buffer.from(row.root, 'hex'),
      prevHash: Buffer.from(row.prev_hash, 'hex'),
    }),
  );
}

function sameHeads(left: ShardHead[], right: ShardHead[]): boolean {
  return (
    left.length === right.length &&
    left.every(
      (head, index) =>
        head.project_id === right[index]?.project_id &&
        head.seq === right[index]?.seq &&
        head.entry_hash === right[index]?.entry_hash,
    )
  );
}

/** Cents with up to 6 decimals as whole micro-cents, so sums over shards are exact. */
function sumMicros(values: number[]): bigint {
  return values.reduce((sum, value) => sum + toMicros(value), 0n);
}

function toMicros(value: number): bigint {
  return BigInt(Math.round(value * 1_000_000));
}

function fromMicros(micros: bigint): number {
  return Number(micros) / 1_000_000;
}

/** Rounded half away from zero, as PostgreSQL's round(numeric). */
function divideRounded(total: bigint, count: bigint): bigint {
  const quotient = total / count;
  const remainder = total % count;
  return remainder * 2n >= count ? quotient + 1n : quotient;
}

function movedTooLong(shard: string, projectId: string): LedgerError {
  return new LedgerError(
    'DATABASE_UNAVAILABLE',
    `shard ${shard} sealed project ${projectId} (it moved away), and the catalog still placed it there after ` +
      `${MOVED_RETRY_MS / 1000} s; finish the move (run it again) and read again`,
    { details: { shard, project_id: projectId } },
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isProjectSealed(error: unknown): boolean {
  return error instanceof LedgerError && error.details?.sqlstate === PROJECT_SEALED;
}

/** An unreachable shard, named: the caller learns which server is down (others keep working). */
function namedShardError(error: unknown, shard: string): unknown {
  if (!(error instanceof LedgerError) || error.code !== 'DATABASE_UNAVAILABLE') return error;
  if (error.details?.shard !== undefined) return error;
  return new LedgerError(
    'DATABASE_UNAVAILABLE',
    `shard ${shard} is unavailable: ${error.message}; projects placed on other shards are not affected`,
    { cause: error, details: { ...error.details, shard } },
  );
}

/** Runs a call on one shard, naming the shard if its server cannot be reached. */
async function onShard<T>(shard: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw namedShardError(error, shard);
  }
}

/** The catalog's own failures, named as the catalog's. */
async function catalogCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 'EL004')
      throw new LedgerError(
        'VALIDATION_FAILED',
        'no shard takes new projects, so a new project cannot be placed; add a shard (addShard) or let one take new projects again',
        { field: 'shards', cause: error },
      );
    if (!(error instanceof LedgerError) || error.code !== 'DATABASE_UNAVAILABLE') throw error;
    throw new LedgerError(
      'DATABASE_UNAVAILABLE',
      `the shard catalog is unavailable: ${error.message}; no project can be placed or moved until it answers`,
      { cause: error, details: { ...error.details, shard: 'catalog' } },
    );
  }
}
