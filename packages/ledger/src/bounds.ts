import { LedgerError } from './errors.js';

/**
 * Every limit in one place, units last in the name. Each can be overridden per ledger through
 * `createLedger({ limits })`; these are the defaults documented in docs/errors.md.
 */
export interface LedgerLimits {
  id_chars_max: number;
  intent_chars_max: number;
  error_message_chars_max: number;
  json_field_bytes_max: number;
  json_depth_max: number;
  trace_steps_max: number;
  breakdown_parts_max: number;
  cost_cents_max: number;
}

export const DEFAULT_LIMITS: Readonly<LedgerLimits> = Object.freeze({
  id_chars_max: 200,
  intent_chars_max: 2_000,
  error_message_chars_max: 10_000,
  json_field_bytes_max: 1024 * 1024,
  json_depth_max: 64,
  trace_steps_max: 10_000,
  breakdown_parts_max: 32,
  // numeric(20,6) holds 14 integer digits; keep a margin so sums of a few runs still fit.
  cost_cents_max: 1_000_000_000_000,
});

/** How long a budget reservation holds when the caller gives no time to live, in ms (5 minutes). */
export const RESERVATION_TTL_MS_DEFAULT = 300_000;
/** The longest a budget reservation may hold, in ms (one day): a crashed worker frees its hold by then. */
export const RESERVATION_TTL_MS_MAX = 86_400_000;
/** Thresholds one budget may have. */
export const BUDGET_THRESHOLDS_MAX = 10;
/** Events per page when the caller gives no limit. */
export const EVENT_PAGE_ROWS_DEFAULT = 100;

/** Rows per list page when the caller gives no limit, and the most a page may hold. */
export const PAGE_ROWS_DEFAULT = 50;
export const PAGE_ROWS_MAX = 1_000;
/** Rows fetched per keyset batch while streaming. */
export const STREAM_BATCH_ROWS_DEFAULT = 500;
/** The largest batchSize a stream or an export accepts: ten pages, to bound memory per batch. */
export const STREAM_BATCH_ROWS_MAX = PAGE_ROWS_MAX * 10;
/** Buckets one time series may span (5,000 hours is about 208 days; 5,000 days about 13 years). */
export const TIME_SERIES_BUCKETS_MAX = 5_000;
/** Points (buckets times series) one time series may return before the caller must narrow it. */
export const TIME_SERIES_POINTS_MAX = 100_000;
/** Most expensive runs returned when no limit is given. */
export const TOP_RUNS_DEFAULT = 10;
/** Users in a cost-by-user answer when no limit is given; PAGE_ROWS_MAX is the most. */
export const USER_COSTS_DEFAULT = 100;
/**
 * How long after an append its project's rollups are folded in the background, at most (reads
 * fold whatever is pending before they read, whatever this is).
 */
export const ROLLUP_FOLD_DELAY_MS = 1000;
/** The longest `rollupFoldDelayMs` a ledger takes: levels a minute behind are a read's work. */
export const ROLLUP_FOLD_DELAY_MS_MAX = 60_000;
/** Disagreements a rollup verification lists before it stops collecting them. */
export const ROLLUP_MISMATCHES_MAX = 100;
/** Server memory (work_mem) for each of the two sorts of a percentile query, in megabytes. */
export const PERCENTILE_SORT_MEMORY_MB = 64;
/** Rows fetched per query while exporting; reads run ahead while a batch is written. */
export const EXPORT_BATCH_ROWS_DEFAULT = 1_000;
/** Bytes an export stream buffers ahead of its reader before it stops asking the database for more. */
export const EXPORT_BUFFER_BYTES = 256 * 1024;
/** Blob bytes an export with replay blobs reads in one query (a larger blob is read alone). */
export const EXPORT_BLOB_READ_BYTES = 8 * 1024 * 1024;
/**
 * Seq ranges a PostgreSQL server reads at once for one project's export: the server's
 * jsonb-to-text output is most of an export's cost, and three reads keep two cores busy while one
 * result travels. Each holds a pool connection while it runs; PGlite has one and reads one.
 */
export const CHAIN_READS_IN_FLIGHT_MAX = 3;
/**
 * How long a PostgreSQL server may stay silent on one statement before the ledger asks whether
 * it still answers at all (a second connection runs `select 1`). A busy server that answers the
 * probe is waited for again, so long statements (a rollup rebuild) are never cut; a frozen one
 * fails the call with DATABASE_UNAVAILABLE after about this plus the connect timeout.
 */
export const DATABASE_REPLY_TIMEOUT_MS_DEFAULT = 10_000;
/** How long opening a connection to a PostgreSQL server (or taking one from the pool) may take. */
export const DATABASE_CONNECT_TIMEOUT_MS_DEFAULT = 5_000;
/** Entries per keyset batch of a chain scan: a unit of work for one hashing thread. */
export const CHAIN_BATCH_ROWS = 1_000;
/** Problems a chain verification lists before it stops collecting them (it still counts entries). */
export const VERIFY_PROBLEMS_MAX = 100;
/**
 * Hashing threads of a verification. Without a connection string the threads only hash rows read
 * here, so every core gets one; with one, each thread also reads its own batches and waits on the
 * server part of the time, so one more than the cores keeps them busy (measured on 2 cores,
 * 507,014 entries: 2 threads 38.7-38.9k entries/s, 3 threads 44.8-45.3k, 4 threads 42.5k).
 */
export const REHASH_WORKERS_MAX = 4;
/** How long a hashing thread may take to close its connection before it is stopped. */
export const REHASH_WORKER_CLOSE_MS_MAX = 2_000;
/** Object shapes (key lists) whose sorted order canonical JSON keeps; stored content decides how many exist. */
export const CANONICAL_SHAPES_MAX = 10_000;
/**
 * Nesting the jsonb text scanner follows before it hands a text to the general path: stored
 * content is validated to 64 levels, so deeper text is rare and better served by JSON.parse
 * than by a deeper recursion.
 */
export const JSONB_SCAN_DEPTH_MAX = 128;
/** Characters of a signing key's name. */
export const SIGNING_KEY_NAME_CHARS_MAX = 200;
/**
 * An embedded database folder's lock older than FOLDER_LOCK_STALE_MS without a heartbeat may be
 * taken over even when its owner cannot be checked (another host sharing the folder, or a lock
 * without an owner record); its owner renews it every FOLDER_LOCK_HEARTBEAT_MS.
 */
export const FOLDER_LOCK_STALE_MS = 30_000;
export const FOLDER_LOCK_HEARTBEAT_MS = 10_000;
/** Lock take-overs tried before giving up: each retry means another process raced for the folder. */
export const FOLDER_LOCK_ATTEMPTS_MAX = 3;
/** Statement texts given a prepared-statement name; the library's hot reads need a few hundred. */
export const NAMED_STATEMENTS_MAX = 1_000;
/** Appends coalesced into one transaction by group commit. */
export const GROUP_COMMIT_ENTRIES_MAX = 500;
/** Serialised bytes one group-commit batch may carry before it is split. */
export const GROUP_COMMIT_BYTES_MAX = 8 * 1024 * 1024;

export function resolveLimits(overrides: Partial<LedgerLimits> | undefined): LedgerLimits {
  const limits = { ...DEFAULT_LIMITS };
  if (overrides === undefined) return limits;
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof LedgerLimits)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `limits.${key} must be a whole number of 1 or more; got ${String(value)}; leave it out for the default ${DEFAULT_LIMITS[key]}`,
        { field: `limits.${key}` },
      );
    }
    limits[key] = value;
  }
  return limits;
}

/**
 * Cost accounting bounds. A run's money stays below 10^15 micro-cents ($10M) so that every
 * amount has at most 15 significant digits and survives the trip through a JS number exactly.
 */
export const RUN_COST_MICRO_CENTS_MAX = 999_999_999_999_999n;
/** Tokens in one charge; more is a unit mistake (a count of characters or bytes, not tokens). */
export const CHARGE_TOKENS_MAX = 1_000_000_000_000;
/** Requests or calls counted by one charge. */
export const CHARGE_REQUESTS_MAX = 1_000_000_000;
/** Distinct models, tools, services and penalty reasons per run: bounds the stored provenance. */
export const RUN_PRICED_NAMES_MAX = 1_000;
/** Runs a cost manager keeps open at once; finished runs are released with endExecution(). */
export const COST_RUNS_OPEN_MAX = 100_000;
/** Entries (models, tools and services together) in one price table. */
export const PRICE_TABLE_ENTRIES_MAX = 10_000;
/** Size of a price table file read from disk. */
export const PRICE_TABLE_FILE_BYTES_MAX = 1024 * 1024;
/** Characters of a penalty reason and of a step's action name. */
export const PENALTY_REASON_CHARS_MAX = 500;
export const STEP_ACTION_CHARS_MAX = 200;
/** Characters of a step's error in the trace; the run's own error_message has its own limit. */
export const STEP_ERROR_CHARS_MAX = 2_000;
/** Largest checkpoint note accepted: a real one is under 1 KiB; this bounds parsing of untrusted text. */
export const CHECKPOINT_NOTE_BYTES_MAX = 64 * 1024;
/** Signature lines read from one note, as the signed-note reference implementation caps them. */
export const NOTE_SIGNATURES_MAX = 100;
/** Nodes in one Merkle proof: a tree of 2^63 leaves needs 63, so more is never legitimate. */
export const MERKLE_PROOF_NODES_MAX = 64;
/** Longest NDJSON line the offline verifier reads: three 1 MiB JSON fields plus the rest. */
export const NDJSON_LINE_BYTES_MAX = 16 * 1024 * 1024;
/**
 * Lineage walks (getRunTree, getAncestors, getDescendants) read one level per query. Depth is the
 * number of parent links followed; a walk that would go deeper stops and says so. Nodes bound the
 * memory and the answer of one tree.
 */
export const LINEAGE_DEPTH_DEFAULT = 1_000;
export const LINEAGE_DEPTH_MAX = 10_000;
export const LINEAGE_NODES_DEFAULT = 10_000;
export const LINEAGE_NODES_MAX = 100_000;
/** Projects a lineage read may be limited to (an API key's projects). */
export const LINEAGE_PROJECTS_MAX = 1_000;
/** Allocation rule sets: rules per set, targets per rule, ids per scope list, characters of a name. */
export const ALLOCATION_RULES_MAX = 200;
export const ALLOCATION_TARGETS_MAX = 200;
export const ALLOCATION_SCOPE_IDS_MAX = 1_000;
export const ALLOCATION_NAME_CHARS_MAX = 200;
/** The largest markup, in percent. */
export const ALLOCATION_MARKUP_PERCENT_MAX = 1_000;
/** Bytes of one captured request or response (its canonical JSON after redaction), by default and at most. */
export const REPLAY_BLOB_BYTES_DEFAULT = 1024 * 1024;
export const REPLAY_BLOB_BYTES_MAX = 16 * 1024 * 1024;
