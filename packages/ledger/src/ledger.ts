import assert from 'node:assert/strict';
import { selectRuleSets } from './allocation/allocation-queries.js';
import {
  buildAllocationReport,
  loadRuleSet,
  publishRuleSet,
  toRuleSet,
} from './allocation/allocation-report.js';
import type {
  AllocationReport,
  AllocationReportOptions,
  AllocationRuleSet,
  AllocationRuleSetInput,
} from './allocation/allocation-types.js';
import type {
  RollupFoldReport,
  RollupRebuildOptions,
  RollupRebuildReport,
  RollupTimeZone,
  RollupTimeZoneReport,
  RollupVerificationReport,
} from './analytics/analytics-types.js';
import { foldRollups, RollupFolder, requireFoldDelay } from './analytics/rollup-fold.js';
import { markRowSecured } from './analytics/rollup-levels.js';
import { rebuildProjectRollups, verifyProjectRollups } from './analytics/rollup-maintenance.js';
import { addRollupTimeZone, listRollupTimeZones } from './analytics/rollup-zones.js';
import {
  type StepRollupVerificationReport,
  verifyProjectStepRollups,
  withStepVerification,
} from './analytics/step-rollup-maintenance.js';
import { CHAIN_READS_IN_FLIGHT_MAX, type LedgerLimits, resolveLimits } from './bounds.js';
import { LedgerAnomalies } from './budgets/anomalies.js';
import { LedgerBudgets } from './budgets/budgets.js';
import { LedgerEvents } from './budgets/events.js';
import { LedgerWebhooks } from './budgets/webhooks.js';
import type { RunContext } from './costs/run-context.js';
import { type RunOptions, type RunResult, runExecution } from './costs/run-helper.js';
import type { AppendResultRow } from './db/append-queries.js';
import { type Database, isPGliteLike } from './db/database.js';
import { MigrationSets } from './db/migration-sets.js';
import type { MigrationReport, MigrationSet } from './db/migrator.js';
import { type DatabaseTarget, openDatabase } from './db/open-database.js';
import { OwnedSchema } from './db/owned-schema.js';
import { measureReadLag, type ReadLag } from './db/read-lag-queries.js';
import { refuseSupabaseClient } from './db/supabase-client.js';
import { LedgerError } from './errors.js';
import { ExecutionReader, type ReadRunner, type RollupFolding } from './execution-reader.js';
import type { VerificationReport } from './format/chain-verifier.js';
import type {
  Checkpoint,
  CheckpointResult,
  ConsistencyProof,
  ProjectProof,
} from './format/checkpoint-types.js';
import { parsePublicKeys, resolveSigningKey, type SigningKey } from './format/signing-key.js';
import { GroupCommitter } from './group-commit.js';
import { scanProjectChain } from './integrity/chain-scan.js';
import {
  type CheckpointRef,
  findCheckpoint,
  proveCheckpointConsistency,
  proveProjectHead,
} from './integrity/checkpoint-prover.js';
import { writeCheckpoint } from './integrity/checkpoint-writer.js';
import { checkNewestCheckpoint } from './integrity/live-checkpoint-check.js';
import {
  progressReporter,
  requireProgressCallback,
  type VerifyProgress,
} from './integrity/verify-progress.js';
import { LedgerOperations } from './ledger-operations.js';
import type { JsonValue } from './plain-json.js';
import { requireLookupId } from './query/execution-filter.js';
import { prepareExecution, requireId } from './record.js';
import { BlobStore, readReplayBlobs } from './replay/blob-store.js';
import { type ReplayOptions, type ReplayResult, replayExecution } from './replay/replay-run.js';
import type { EntryPayload, ExecutionInput, RecordedExecution } from './types.js';

/** A postgres:// URL, or an object other than a PGlite instance (a pg.Pool). */
function isServerTarget(target: DatabaseTarget | undefined): boolean {
  if (typeof target === 'string') return /^postgres(ql)?:\/\//i.test(target.trim());
  if (target instanceof URL) return /^postgres(ql)?:$/i.test(target.protocol);
  return target !== undefined && !isPGliteLike(target);
}

/** A folder path, `memory:` or nothing (the default folder): an embedded database the ledger opens itself. */
function opensEmbedded(target: DatabaseTarget | undefined): boolean {
  return (
    target === undefined || ((typeof target === 'string' || target instanceof URL) && !isServerTarget(target))
  );
}

/** Refuses a read database that cannot be a standby of the ledger's database, before anything opens. */
function requireReadTarget(options: LedgerOptions): void {
  if (options.readDatabase === undefined) return;
  if (!isServerTarget(options.readDatabase)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'readDatabase must be a postgres:// URL or a pg.Pool of a PostgreSQL server (a standby of database, or ' +
        'database itself); an embedded database has no standby to read from',
      { field: 'readDatabase' },
    );
  }
  if (!isServerTarget(options.database)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'readDatabase needs database to be a PostgreSQL server too (a postgres:// URL or a pg.Pool): ' +
        'a standby follows a server, not an embedded database; drop readDatabase or point database at the primary',
      { field: 'readDatabase' },
    );
  }
}

/** Opens `readDatabase` with the ledger's pool and timeout options; it is never migrated. */
async function openReadDatabase(target: DatabaseTarget, options: LedgerOptions): Promise<Database> {
  const database = await openDatabase(target, {
    ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
    ...(options.preparedStatements === undefined ? {} : { preparedStatements: options.preparedStatements }),
    ...(options.databaseReplyTimeoutMs === undefined
      ? {}
      : { replyTimeoutMs: options.databaseReplyTimeoutMs }),
    ...(options.databaseConnectTimeoutMs === undefined
      ? {}
      : { connectTimeoutMs: options.databaseConnectTimeoutMs }),
  });
  if (database.engine !== 'postgres') {
    await database.close();
    throw new LedgerError(
      'VALIDATION_FAILED',
      'readDatabase must be a PostgreSQL server, not an embedded database',
      {
        field: 'readDatabase',
      },
    );
  }
  return database;
}

export interface LedgerOptions {
  /** Where the ledger lives; default the embedded folder `./.execution-ledger`. */
  database?: DatabaseTarget;
  /** Prepare the schema on first use (default true); false means the caller runs `migrate()`. */
  migrate?: boolean;
  /**
   * Migration sets of packages built on the ledger, each in its own schema, applied after the
   * ledger's own wherever the ledger's are (first use, `migrate()`); see `ownedSchema()`.
   */
  migrationSets?: readonly MigrationSet[];
  /** Overrides of the input bounds (docs/errors.md lists the defaults). */
  limits?: Partial<LedgerLimits>;
  /** Connections in the pool opened for a postgres:// URL. */
  poolSize?: number;
  /**
   * Keep hot reads as prepared statements on a PostgreSQL server (default true); turn off
   * behind a pooler in transaction mode that cannot keep them (PgBouncer before 1.21).
   */
  preparedStatements?: boolean;
  /**
   * PostgreSQL server only: silence on one statement, in ms, after which the ledger checks on a
   * new connection whether the server answers at all; if not, the call fails with
   * DATABASE_UNAVAILABLE instead of waiting forever (default 10,000). A busy server is waited for.
   */
  databaseReplyTimeoutMs?: number;
  /** PostgreSQL server only: the longest a connection may take to open or to come free, in ms (default 5,000). */
  databaseConnectTimeoutMs?: number;
  /**
   * A PostgreSQL server for reads that may lag the primary (`ledger.reads`: statistics, lists,
   * exports), usually a streaming standby of `database`; `readLag()` says how far behind it is.
   * It is never migrated or written to. Without it, `ledger.reads` reads `database`.
   */
  readDatabase?: DatabaseTarget;
  /**
   * How long after an append, at most, the ledger folds its project's runs into the rollup levels
   * in the background, in ms (default 1,000; docs/analytics.md, "When the levels are kept"). null:
   * no background fold, for bulk loads; every read still counts what is pending (it folds it), and
   * `foldRollups()` and `rebuildRollups()` fold on demand.
   */
  rollupFoldDelayMs?: number | null;
}

export type BatchItemResult =
  | { index: number; ok: true; record: RecordedExecution }
  | { index: number; ok: false; error: LedgerError };

export interface CreateCheckpointOptions {
  /** The signing key, or the text of its private key file. It is never written to the database. */
  privateKey: SigningKey | string;
  /** Make no checkpoint when no project's head moved since the newest one. */
  onlyIfChanged?: boolean;
}

export type { VerifyProgress };

export interface VerifyLedgerOptions {
  /** Public key file text (or keys): the newest checkpoint's signature is checked with it. */
  publicKey?: unknown;
  /**
   * Called once the chain's length is known and again after each batch of entries is checked,
   * in order, the last time with every entry checked. A throw stops the verification with it.
   */
  onProgress?: (progress: VerifyProgress) => void;
}

/** The identity a scoped reader acts as; `userId` is the `sub` of request.jwt.claims. */
export interface ReaderIdentity {
  userId: string;
}

/**
 * The ledger: append-only writes through the database's append function (with group commit),
 * the seed's reads, verification, and scoped readers.
 */
export class Ledger extends ExecutionReader {
  readonly limits: LedgerLimits;
  /** Readiness, the project list and role checks, for services run on the ledger. */
  readonly operations: LedgerOperations;
  /** Budgets shared through the database: define, reserve, settle, status (docs/budgets.md). */
  readonly budgets: LedgerBudgets;
  /** The append-only events table: budget thresholds, blocks, anomalies and their dismissal. */
  readonly events: LedgerEvents;
  /** Webhook endpoints, each reading the events from its own cursor (the service delivers). */
  readonly webhooks: LedgerWebhooks;
  /** Anomaly detection on run cost, duration and daily spend (docs/alerts.md). */
  readonly anomalies: LedgerAnomalies;
  /** The content-addressed store of captured requests and responses (docs/replay.md). */
  readonly blobs: BlobStore = new BlobStore(() => this.ready());
  private readonly opening: Promise<Database>;
  /** The read database, when one was given. */
  private readonly readOpening: Promise<Database> | undefined;
  /**
   * Reads that may lag the primary, on `readDatabase` when one was given (a standby), else on
   * the primary: statistics, lists, exports and time series. Reads that must see the caller's
   * own appends (a run just recorded, verification, lineage after an append) use the ledger's
   * own methods, which always read the primary. `readLag()` states how far behind these are.
   */
  readonly reads: ExecutionReader;
  /** The ledger's migration set and those of packages built on it. */
  private readonly migrations = new MigrationSets();
  private committer: GroupCommitter | undefined;
  /** The projects this ledger appended to and has not folded, folded shortly after the appends. */
  private readonly folder: RollupFolder;
  /**
   * An embedded database this ledger opened itself (a folder, under its lock, or memory): every
   * append to it goes through this ledger, so once what an earlier process left is folded
   * (`soleWriterFolded`), the folder's own list says what a read must fold.
   */
  private readonly soleWriter: boolean;
  private soleWriterFolded: Promise<unknown> | undefined;
  /** The last checked read found entries pending: while appends go on, reads fold first. */
  private foldFirst = false;
  private closed = false;

  constructor(private readonly options: LedgerOptions = {}) {
    const run: ReadRunner = async (fn) => fn(await this.ready());
    // Every reader folds on the primary, as the service: a standby cannot write, and a scoped
    // reader's role may not.
    const fold: RollupFolding = {
      beforeRead: (projectId) => this.beforeRollupRead(projectId),
      foldPending: (projectId) => this.foldPendingForRead(projectId),
    };
    // The service identity sees every entry, so a chain's seq ranges are dense: a server reads
    // several at once on separate connections; PGlite's one connection reads one after another.
    super(
      run,
      async () => ((await this.ready()).engine === 'postgres' ? CHAIN_READS_IN_FLIGHT_MAX : 1),
      (hashes) => readReplayBlobs(run, hashes),
      fold,
    );
    this.limits = resolveLimits(options.limits);
    // At once, not on first use: the call that passed the client is the one to correct.
    refuseSupabaseClient(options.database);
    requireReadTarget(options);
    this.folder = new RollupFolder(
      async (projectId) => foldRollups(await this.ready(), projectId),
      requireFoldDelay(options.rollupFoldDelayMs),
    );
    this.soleWriter = opensEmbedded(options.database);
    // Checked before the database is opened: a refused set must not leave a pool or a lock behind.
    for (const set of options.migrationSets ?? []) this.migrations.add(set);
    this.opening = openDatabase(options.database, {
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
      ...(options.preparedStatements === undefined ? {} : { preparedStatements: options.preparedStatements }),
      ...(options.databaseReplyTimeoutMs === undefined
        ? {}
        : { replyTimeoutMs: options.databaseReplyTimeoutMs }),
      ...(options.databaseConnectTimeoutMs === undefined
        ? {}
        : { connectTimeoutMs: options.databaseConnectTimeoutMs }),
    });
    // Open errors surface on first use; keep Node from reporting them as unhandled meanwhile.
    this.opening.catch(() => undefined);
    this.readOpening =
      options.readDatabase === undefined ? undefined : openReadDatabase(options.readDatabase, options);
    this.readOpening?.catch(() => undefined);
    this.reads =
      this.readOpening === undefined
        ? this
        : new ExecutionReader(
            async (fn) => fn(await this.readReady()),
            async () => CHAIN_READS_IN_FLIGHT_MAX,
            null,
            fold,
          );
    this.budgets = new LedgerBudgets(() => this.ready());
    this.events = new LedgerEvents(() => this.ready());
    this.webhooks = new LedgerWebhooks(() => this.ready());
    this.anomalies = new LedgerAnomalies(() => this.ready());
    this.operations = new LedgerOperations({
      ready: () => this.ready(),
      opened: () => this.opened(),
      migrationSets: () => this.migrations.all(),
    });
  }

  /** Opens the database and, unless turned off, applies pending migrations. Safe to call often. */
  async ready(): Promise<Database> {
    const database = await this.opened();
    if (this.options.migrate !== false) await this.migrations.prepare(database);
    return database;
  }

  /**
   * Where `reads` are served from and how far they lag the primary, measured now: 0 on the
   * primary (also when no read database was given), and on a standby the age of the newest
   * commit it has not caught up with (0 when it has replayed all it received).
   */
  async readLag(): Promise<ReadLag> {
    if (this.readOpening === undefined) {
      return { source: 'primary', lag_ms: 0, measured_at: new Date().toISOString() };
    }
    return measureReadLag(await this.readReady());
  }

  private async readReady(): Promise<Database> {
    await this.opened();
    return this.readOpening ?? this.ready();
  }

  /** Applies pending migrations now, the ledger's then every added set's, and says what it did. */
  async migrate(): Promise<MigrationReport> {
    return this.migrations.migrate(await this.opening);
  }

  /**
   * The schema of a package built on the ledger: its migration set is added to this ledger
   * (applied with the ledger's, on first use and by `migrate()`), and its tables are reached
   * only through the functions those migrations define (`call(name, args)`), never with SQL
   * written outside migration files. The same schema must always come with the same folder.
   */
  ownedSchema(set: MigrationSet): OwnedSchema {
    return new OwnedSchema(this.migrations.add(set), () => this.ready());
  }

  /**
   * Appends one execution. The same run_id with the same content returns the stored record
   * with `replayed: true` and appends nothing; different content throws RUN_ID_CONFLICT.
   */
  async recordExecution(execution: ExecutionInput): Promise<RecordedExecution> {
    // Validate and serialise now: later changes by the caller cannot reach the ledger. The
    // database derives the payload hash from what it stores (hash version 2).
    const { payload, text } = prepareExecution(execution, this.limits);
    const database = await this.ready();
    this.committer ??= new GroupCommitter(database);
    const row = await this.committer.submit(payload.project_id, text);
    this.folder.noteAppend(payload.project_id);
    return toRecorded(payload, row);
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
   * Re-derives every hash of a project's chain and compares it with the newest checkpoint (a
   * cut tail or a rewritten chain shows only there); reports the first bad seq and why.
   */
  async verifyLedger(projectId: string, options: VerifyLedgerOptions = {}): Promise<VerificationReport> {
    requireLookupId(projectId, 'projectId');
    const keys = options.publicKey === undefined ? null : parsePublicKeys(options.publicKey);
    const onProgress = requireProgressCallback(options.onProgress);
    const database = await this.ready();
    const report = await scanProjectChain(
      database,
      projectId,
      onProgress === undefined ? undefined : await progressReporter(database, projectId, onProgress),
    );
    report.checkpoint = await checkNewestCheckpoint(database, report, keys);
    return report;
  }

  /** Signs and stores the next checkpoint over every project's head (docs/security.md). */
  async createCheckpoint(options: CreateCheckpointOptions): Promise<CheckpointResult> {
    const signingKey = resolveSigningKey(options?.privateKey);
    return writeCheckpoint(await this.ready(), { signingKey, onlyIfChanged: options.onlyIfChanged === true });
  }

  /** A stored checkpoint by seq, or the newest when seq is omitted; CHECKPOINT_NOT_FOUND otherwise. */
  async getCheckpoint(seq?: number): Promise<Checkpoint> {
    return findCheckpoint(await this.ready(), seq);
  }

  /** The inclusion proof of a project's head in a checkpoint (default the newest); null if not covered. */
  async proveProject(projectId: string, checkpoint?: CheckpointRef): Promise<ProjectProof | null> {
    requireLookupId(projectId, 'projectId');
    return proveProjectHead(await this.ready(), projectId, checkpoint);
  }

  /** The proof that the newer checkpoint's history contains the older checkpoint. */
  async proveConsistency(older: CheckpointRef, newer: CheckpointRef): Promise<ConsistencyProof> {
    return proveCheckpointConsistency(await this.ready(), older, newer);
  }

  /**
   * Recomputes every rollup level of a project, and its daily step rollups, from its entries and
   * reports any disagreement; `ok` only when both agree (`steps` is the step level's own report).
   */
  async verifyRollups(
    projectId: string,
  ): Promise<RollupVerificationReport & { steps: StepRollupVerificationReport }> {
    requireId(projectId, 'projectId', this.limits);
    const database = await this.ready();
    await foldRollups(database, projectId);
    const report = await verifyProjectRollups(database, projectId);
    return withStepVerification(report, await verifyProjectStepRollups(database, projectId));
  }

  /**
   * Recreates every rollup level and the daily step rollups of one project, or of every project,
   * from the entries, project by project (`onProject` reports each one done: a rebuild of millions
   * of runs takes long).
   */
  async rebuildRollups(projectId?: string, options: RollupRebuildOptions = {}): Promise<RollupRebuildReport> {
    if (projectId !== undefined) requireId(projectId, 'projectId', this.limits);
    return rebuildProjectRollups(await this.ready(), projectId, options);
  }

  /**
   * Adds the entries appended since the last fold to every rollup level, zone day and step level,
   * of one project or of every project (docs/analytics.md, "When the levels are kept"). Appends
   * leave this to a fold within a second; every statistic folds what is pending when it finds any,
   * so call this only before reading the rollup tables with SQL of your own.
   */
  async foldRollups(projectId?: string): Promise<RollupFoldReport> {
    if (projectId !== undefined) requireId(projectId, 'projectId', this.limits);
    return this.foldCovering(projectId);
  }

  /** A fold that covers this ledger's own appends too: their background fold has nothing left to do. */
  private async foldCovering(projectId: string | undefined): Promise<RollupFoldReport> {
    const database = await this.ready();
    return this.folder.covering(projectId, () => foldRollups(database, projectId));
  }

  /**
   * Before a read of the rollup levels (docs/analytics.md, "When the levels are kept"). On an
   * embedded database this ledger opened, it folds what an earlier process left once, and then
   * only what it appended itself and has not folded yet: no other writer exists. On a server,
   * or a PGlite instance passed in, others may have appended: the read checks in its own
   * statements whether anything is pending (one round trip when nothing is), unless this ledger
   * appended since its last fold or the last read found entries pending, when it folds first.
   */
  private async beforeRollupRead(projectId: string | undefined): Promise<'folded' | 'check'> {
    const database = await this.ready();
    if (this.soleWriter) {
      this.soleWriterFolded ??= foldRollups(database, undefined).catch((error: unknown) => {
        this.soleWriterFolded = undefined;
        throw error;
      });
      await this.soleWriterFolded;
      if (this.folder.hasPending(projectId)) await this.folder.foldNow(projectId);
      return 'folded';
    }
    if (!this.foldFirst && !this.folder.hasPending(projectId)) return 'check';
    const folded = await this.foldCovering(projectId);
    // Appends have gone quiet: later reads check again instead of folding first.
    if (folded.entries === 0) this.foldFirst = false;
    return 'folded';
  }

  /** A checked read found entries pending: fold them, and fold before the next reads. */
  private async foldPendingForRead(projectId: string | undefined): Promise<void> {
    this.foldFirst = true;
    await this.foldCovering(projectId);
  }

  /**
   * Keeps a project's days in a time zone, so its daily and weekly series in that zone read one
   * row per agent and local day (docs/analytics.md, "Days in your time zone"). Fills the days from
   * the entries in one transaction under the project's append lock. Adding a zone already kept
   * fills it again.
   */
  async addRollupTimeZone(projectId: string, timeZone: string): Promise<RollupTimeZoneReport> {
    requireId(projectId, 'projectId', this.limits);
    return addRollupTimeZone(await this.ready(), projectId, timeZone);
  }

  /** The zones whose days are kept, of one project or of every project. */
  async listRollupTimeZones(projectId?: string): Promise<RollupTimeZone[]> {
    if (projectId !== undefined) requireId(projectId, 'projectId', this.limits);
    return listRollupTimeZones(await this.ready(), projectId);
  }

  /**
   * Checks a cost allocation rule set, hashes its canonical JSON and appends it as the next
   * version (docs/allocation.md). Versions are never changed: publish a new one instead.
   */
  async publishAllocationRuleSet(ruleSet: AllocationRuleSetInput): Promise<AllocationRuleSet> {
    const database = await this.ready();
    return publishRuleSet(database, ruleSet);
  }

  /** One published rule set version (the newest when omitted), its hash checked; RULE_SET_NOT_FOUND otherwise. */
  async getAllocationRuleSet(version?: number): Promise<AllocationRuleSet> {
    return loadRuleSet(await this.ready(), version);
  }

  /** Every published rule set version, oldest first, each hash checked. */
  async listAllocationRuleSets(): Promise<AllocationRuleSet[]> {
    return (await selectRuleSets(await this.ready())).map(toRuleSet);
  }

  /**
   * Splits a month's costs by a rule set version (by default the newest effective on the month's
   * first day): every split adds up exactly to its source, and the report names the version and hash.
   */
  async getAllocationReport(options: AllocationReportOptions): Promise<AllocationReport> {
    return buildAllocationReport(await this.ready(), options);
  }

  /** A reader that sees only what `userId` may see: their own runs and their projects' runs. */
  as(identity: ReaderIdentity): ExecutionReader {
    const userId = requireLookupId(identity?.userId, 'userId');
    // Blobs are read with the service identity, but only those the entries this reader sees
    // reference: the reader role itself has no access to the blob store.
    return new ExecutionReader(
      async (fn) => {
        const database = await this.ready();
        return database.transaction(async (tx) => {
          // The policies read only the claims: the user's projects are resolved here, as the
          // service, in the same transaction, and passed in them (ledger_projects).
          await tx.query(
            `select set_config('request.jwt.claims', jsonb_build_object('sub', $1::text, 'role', 'authenticated',
               'ledger_projects', coalesce((select jsonb_agg(m.project_id order by m.project_id)
                 from execution_ledger.project_members m where m.user_id = $1::text), '[]'::jsonb))::text, true)`,
            [userId],
          );
          await tx.query('set local role execution_ledger_reader');
          return fn(markRowSecured(tx));
        });
      },
      undefined,
      (hashes) => this.blobs.read(hashes),
      {
        beforeRead: (projectId) => this.beforeRollupRead(projectId),
        foldPending: (projectId) => this.foldPendingForRead(projectId),
      },
    );
  }

  /** Lets `userId` read every run of `projectId` through scoped readers. */
  async addProjectMember(projectId: string, userId: string): Promise<void> {
    requireId(projectId, 'projectId', this.limits);
    requireId(userId, 'userId', this.limits);
    const database = await this.ready();
    await database.query(
      `insert into execution_ledger.project_members (project_id, user_id) values ($1, $2)
       on conflict (project_id, user_id) do nothing`,
      [projectId, userId],
    );
  }

  async removeProjectMember(projectId: string, userId: string): Promise<void> {
    const database = await this.ready();
    await database.query(
      'delete from execution_ledger.project_members where project_id = $1 and user_id = $2',
      [projectId, userId],
    );
  }

  /**
   * The underlying database, for tests and benchmarks that look past the ledger. Services use
   * `operations` and `ownedSchema()` instead: their SQL stays in migration files.
   */
  database(): Promise<Database> {
    return this.ready();
  }

  private async opened(): Promise<Database> {
    if (this.closed)
      throw new LedgerError('LEDGER_CLOSED', 'this ledger was closed; create a new one with createLedger()');
    return this.opening;
  }

  /** Waits for in-flight appends, then releases the database (and the folder lock). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.committer?.idle();
    await this.folder.close();
    this.closed = true;
    const database = await this.opening.catch(() => undefined);
    await database?.close();
    const readDatabase = await this.readOpening?.catch(() => undefined);
    await readDatabase?.close();
  }

  /**
   * Runs `fn` as one execution: steps and charges go through `ctx`, and exactly one record is
   * appended at the end, completed, failed or aborted (docs/costs.md).
   */
  run<T>(options: RunOptions, fn: (ctx: RunContext) => T | Promise<T>): Promise<RunResult<T>> {
    return runExecution(this, options, fn);
  }

  /**
   * Runs `agentFn` again against a run recorded with capture: in lockdown every call is served
   * from the recording and must match it; a fork goes live from `fromCall` and is recorded as a
   * new run linked to the original. Returns the output and a diff of calls, output and cost.
   */
  replayRun<T>(
    runId: string,
    agentFn: (ctx: RunContext, input: Record<string, unknown>) => T | Promise<T>,
    options?: ReplayOptions,
  ): Promise<ReplayResult<T>> {
    return replayExecution(this, runId, agentFn, options);
  }

  /** A captured request or response by its SHA-256 (hex), or null when the store has none. */
  async getReplayBlob(hash: string): Promise<JsonValue | null> {
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `hash must be 64 lowercase hex digits; got ${JSON.stringify(hash)}`,
        {
          field: 'hash',
        },
      );
    }
    return this.blobs.get(hash);
  }
}

export function createLedger(options: LedgerOptions = {}): Ledger {
  return new Ledger(options);
}

function toRecorded(payload: EntryPayload, row: AppendResultRow): RecordedExecution {
  if (row.r_outcome === 'conflict') {
    throw new LedgerError(
      'RUN_ID_CONFLICT',
      `run_id ${JSON.stringify(payload.run_id)} is already recorded with different content; ` +
        'entries are never changed: use a new run_id (and parent_run_id to link the runs)',
      { field: 'run_id' },
    );
  }
  const { r_id: id, r_created_at: createdAt, r_payload_hash, r_prev_hash, r_entry_hash } = row;
  assert(
    id !== null &&
      createdAt !== null &&
      r_payload_hash !== null &&
      r_prev_hash !== null &&
      r_entry_hash !== null,
    'append_batch returns every column of a created or replayed entry',
  );
  const record: RecordedExecution = {
    id,
    run_id: payload.run_id,
    project_id: payload.project_id,
    user_id: payload.user_id,
    agent_id: payload.agent_id,
    parent_run_id: payload.parent_run_id,
    intent: payload.intent,
    input: payload.input,
    cost_json: payload.cost_json as unknown as RecordedExecution['cost_json'],
    execution_trace_json:
      payload.execution_trace_json as unknown as RecordedExecution['execution_trace_json'],
    status: payload.status,
    created_at: createdAt,
    seq: Number(row.r_seq),
    hash_version: Number(row.r_hash_version),
    payload_hash: r_payload_hash,
    prev_hash: r_prev_hash,
    entry_hash: r_entry_hash,
    replayed: row.r_outcome === 'replayed',
  };
  if (payload.output !== null) record.output = payload.output;
  if (payload.error_message !== null) record.error_message = payload.error_message;
  return record;
}
