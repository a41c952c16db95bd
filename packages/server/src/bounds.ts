/**
 * The service's limits, units last in the name. Each default can be overridden through
 * buildServer() options or the `serve` command's flags.
 */

/** Largest request body accepted; a bigger one is refused with 413 before it is parsed. */
export const BODY_BYTES_MAX_DEFAULT = 8 * 1024 * 1024;
/** Executions one batch request may carry. */
export const BATCH_ITEMS_MAX = 1_000;
/** Requests one API key may send per rate-limit window. */
export const RATE_LIMIT_REQUESTS_MAX_DEFAULT = 60_000;
export const RATE_LIMIT_WINDOW_MS_DEFAULT = 60_000;
/**
 * How long a looked-up key is trusted without asking the database again. A revocation made
 * through this server applies at once; one made by another process applies within this time.
 */
export const KEY_CACHE_TTL_MS_DEFAULT = 5_000;
/** Keys whose lookups are cached at once; the oldest entry is dropped beyond this. */
export const KEY_CACHE_ENTRIES_MAX = 10_000;
/** Projects one API key may be bound to. */
export const KEY_PROJECTS_MAX = 1_000;
export const KEY_NAME_CHARS_MAX = 200;
/**
 * Characters of an id in a URL path or query: a first, cheap bound (the library's id rules
 * follow), and the router's longest path parameter so client-chosen run ids are never cut.
 */
export const URL_PARAM_CHARS_MAX = 1_024;
/** Characters of a pagination cursor in a query; a real one is under a hundred. */
export const CURSOR_CHARS_MAX = 1_000;
/** How often CLI progress is redrawn on a terminal, and written as a line elsewhere. */
export const PROGRESS_REDRAW_MS = 200;
export const PROGRESS_LINE_MS = 2_000;
/** Runs the demo command records per batch. */
export const DEMO_BATCH_RUNS = 500;
/** Rows written per chunk of a CSV or NDJSON export stream. */
export const EXPORT_CHUNK_ROWS = 200;
/** How long a graceful shutdown waits for in-flight requests before it gives up. */
export const SHUTDOWN_GRACE_MS_DEFAULT = 30_000;
/** How often the service looks for moved heads and signs a checkpoint when it finds some. */
export const CHECKPOINT_INTERVAL_MS_DEFAULT = 60_000;
/** At least one checkpoint a day: a longer interval would leave a day of entries unanchored. */
export const CHECKPOINT_INTERVAL_MS_MAX = 24 * 60 * 60 * 1000;
/** Largest key file or checkpoint note the CLI reads into memory; real ones are under 1 KiB. */
export const SMALL_INPUT_FILE_BYTES_MAX = 1024 * 1024;
/**
 * Seconds a client is asked to wait (Retry-After) before retrying a 503: long enough for a
 * database fail-over or restart to make progress, short enough not to stall a batch job.
 */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;
/**
 * Time a client has to send a whole request, headers and body. A body that never finishes
 * (Content-Length 1000, 10 bytes sent) is answered 408 and its socket closed after this.
 * Handlers are not limited by it: it covers receiving, not answering.
 */
export const REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
/** Time a client has to send its request headers; at most the request timeout. */
export const HEADERS_TIMEOUT_MS_DEFAULT = 10_000;
/**
 * A socket with no bytes in either direction for this long is destroyed. Generous, because a
 * long handler (verifying millions of entries) sends nothing until it answers.
 */
export const CONNECTION_TIMEOUT_MS_DEFAULT = 300_000;
/**
 * How long an idle keep-alive socket stays open between requests. Longer than the 60 s idle
 * timeout of common load balancers, so the balancer closes first and never sends a request on
 * a socket this server is closing.
 */
export const KEEP_ALIVE_TIMEOUT_MS_DEFAULT = 72_000;
/**
 * Node checks request and header timeouts only every so often (30 s by default), so a 10 s
 * timeout could hold a socket 40 s. Checked at least this often (more often for shorter timeouts).
 */
export const TIMEOUT_CHECK_INTERVAL_MS_MAX = 1_000;
/**
 * OTLP ingest (POST /v1/traces). A run is assembled once its trace's root span arrived and the
 * trace was quiet for the grace period, or at the latest this long after its first span.
 */
export const OTLP_GRACE_MS_DEFAULT = 30_000;
export const OTLP_MAX_WAIT_MS_DEFAULT = 10 * 60 * 1000;
/** How often the assembler looks for ready traces while staging holds spans. */
export const OTLP_TICK_MS_DEFAULT = 1_000;
/** Traces read per query of ready traces. */
export const OTLP_TRACES_PER_TICK = 100;
/**
 * Traces assembled together: their spans read by one query, their runs appended together (the
 * ledger group-commits them) and their staging cleared by one statement. One group at a time,
 * so the assembler holds few connections and exports keep theirs.
 */
export const OTLP_ASSEMBLY_TRACES_MAX = 25;
/**
 * Exports staged by one statement (those that arrived while the previous one was in flight),
 * and the most JSON text one statement carries; a single larger export still goes alone.
 */
export const OTLP_STAGE_GROUP_REQUESTS_MAX = 64;
export const OTLP_STAGE_GROUP_BYTES_MAX = 8 * 1024 * 1024;
/** While this process has staged nothing and saw staging empty, it looks only every this many ticks. */
export const OTLP_IDLE_CHECK_TICKS = 30;
/**
 * Spans staging may hold; beyond it exports are refused with 503 and Retry-After until the
 * assembler catches up (checked against the size read on each tick).
 */
export const OTLP_STAGED_SPANS_MAX_DEFAULT = 200_000;
/** How long a recorded trace id is remembered, so a late span of it is not assembled twice. */
export const OTLP_RECORDED_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Characters of captured messages kept per run input or output; longer ones are replaced by their size. */
export const OTLP_MESSAGE_CHARS_MAX = 256 * 1024;
/** Refused spans named in one partial-success message. */
export const OTLP_REFUSALS_NAMED_MAX = 20;
/**
 * How long a dashboard session lasts after sign-in. The key is looked up again on every page,
 * so a revoked key loses its session at once; this bounds a session whose cookie was copied.
 */
export const DASHBOARD_SESSION_TTL_MS_DEFAULT = 12 * 60 * 60 * 1000;
/** Runs per page of the dashboard's run list, and per page of a run's children. */
export const DASHBOARD_PAGE_ROWS = 50;
/** Rows of each "most expensive" list on the overview, and agents on the agents page. */
export const DASHBOARD_TOP_ROWS = 10;
/** Failed runs read to group by error message on the failures page. */
export const DASHBOARD_FAILURES_READ_MAX = 500;
/** Largest sign-in form body; a real one (a key and a return path) is under a kilobyte. */
export const DASHBOARD_FORM_BYTES_MAX = 4 * 1024;
/**
 * Runs of a run's tree shown on its page (read with getRunTree's maxNodes), and the parent links
 * followed up and down (maxDepth); a larger tree shows its first levels and says so.
 */
export const DASHBOARD_RUN_TREE_NODES_MAX = 200;
export const DASHBOARD_RUN_TREE_DEPTH_MAX = 50;
/** Steps drawn in a run's waterfall; a longer trace shows its first ones and says so. */
export const DASHBOARD_WATERFALL_STEPS_MAX = 500;
/** Signed-out sessions remembered until they expire; beyond this the oldest is forgotten first. */
export const DASHBOARD_SIGNED_OUT_MAX = 100_000;
/**
 * How long the dashboard reuses the list of projects (a count over every entry): a new project
 * shows in the project menu of keys bound to every project within this time.
 */
export const DASHBOARD_PROJECT_LIST_TTL_MS = 30_000;
/**
 * How long a measurement of the read database's lag (`--read-url`) is reused: read answers state
 * it, and one measurement per second serves them all.
 */
export const READ_LAG_MEASURE_MS = 1_000;
