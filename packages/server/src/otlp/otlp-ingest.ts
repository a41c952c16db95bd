import type { ExecutionInput, PriceTableInput } from 'execution-ledger';
import {
  DEFAULT_LIMITS,
  DEFAULT_PRICE_TABLE,
  isLedgerError,
  type Ledger,
  LedgerError,
  PriceTable,
} from 'execution-ledger';
import { requireId } from 'execution-ledger/validation';
import type { FastifyBaseLogger } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  OTLP_ASSEMBLY_TRACES_MAX,
  OTLP_GRACE_MS_DEFAULT,
  OTLP_IDLE_CHECK_TICKS,
  OTLP_MAX_WAIT_MS_DEFAULT,
  OTLP_RECORDED_RETENTION_MS,
  OTLP_STAGED_SPANS_MAX_DEFAULT,
  OTLP_TICK_MS_DEFAULT,
  OTLP_TRACES_PER_TICK,
  UNAVAILABLE_RETRY_AFTER_SECONDS,
} from '../bounds.js';
import type { ApiKeyPrincipal } from '../keys/access-policy.js';
import { coversProject, projectDenied } from '../keys/access-policy.js';
import type { DecodedResource, SpanRefusal } from './otlp-decode.js';
import { PROJECT_ATTRIBUTE, type ProjectSpan } from './otlp-span.js';
import { OtlpStaging, type StageResult } from './otlp-staging.js';
import { assembleTrace } from './run-assembly.js';

export interface OtlpOptions {
  /** Quiet time after a trace's root span arrived before its runs are assembled; default 30 s. */
  graceMs?: number | undefined;
  /** Longest a trace waits for its root span; default 10 minutes. */
  maxWaitMs?: number | undefined;
  /** How often the assembler looks for ready traces; default 1 s. */
  tickMs?: number;
  /** Spans staging may hold before exports are refused with 503; default 200,000. */
  stagedSpansMax?: number;
  /** The prices model calls are charged at; default the library's table. */
  prices?: PriceTable | PriceTableInput;
  /** false: this process stages spans but assembles nothing (another instance does); default true. */
  assembler?: boolean;
}

export interface IngestOutcome extends StageResult {
  refused: SpanRefusal[];
}

/**
 * OTLP ingest: checks and stages exported spans (durably, before the answer), and assembles
 * ready traces into runs recorded in the ledger, each exactly once.
 */
export class OtlpIngest {
  readonly staging: OtlpStaging;
  private readonly prices: PriceTable;
  private readonly graceMs: number;
  private readonly maxWaitMs: number;
  private readonly tickMs: number;
  private readonly stagedSpansMax: number;
  private readonly assemblerOn: boolean;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /**
   * Staging statements this process had run when the last tick saw staging empty (undefined
   * when it was not): nothing staged here since means ticks can skip the database.
   */
  private idleAt: number | undefined;
  private idleTicks = 0;
  private stagedSpans = 0;
  private readonly spansCounter: Counter;
  private readonly runsCounter: Counter;
  private readonly stagingGauge: Gauge;

  constructor(
    private readonly ledger: Ledger,
    registry: Registry,
    private readonly log: FastifyBaseLogger,
    options: OtlpOptions = {},
  ) {
    this.staging = new OtlpStaging(ledger);
    this.prices =
      options.prices === undefined ? DEFAULT_PRICE_TABLE : PriceTable.from(options.prices, 'otlp.prices');
    this.graceMs = requireMs(options.graceMs ?? OTLP_GRACE_MS_DEFAULT, 'otlp.graceMs');
    this.maxWaitMs = requireMs(options.maxWaitMs ?? OTLP_MAX_WAIT_MS_DEFAULT, 'otlp.maxWaitMs');
    this.tickMs = Math.max(10, requireMs(options.tickMs ?? OTLP_TICK_MS_DEFAULT, 'otlp.tickMs'));
    this.stagedSpansMax = requireMs(
      options.stagedSpansMax ?? OTLP_STAGED_SPANS_MAX_DEFAULT,
      'otlp.stagedSpansMax',
    );
    this.assemblerOn = options.assembler !== false;
    this.spansCounter = new Counter({
      name: 'execution_ledger_otlp_spans_total',
      help: 'Spans received on /v1/traces, by outcome: staged, duplicate, late (trace already recorded) or refused.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.runsCounter = new Counter({
      name: 'execution_ledger_otlp_runs_total',
      help: 'Runs assembled from staged spans, by outcome: created, replayed, conflict or refused.',
      labelNames: ['outcome'],
      registers: [registry],
    });
    const staging = this.staging;
    new Counter({
      name: 'execution_ledger_otlp_staging_statements_total',
      help:
        'Staging statements run by this process; each stages the group of exports that arrived while the ' +
        'previous one was in flight (exports / statements = exports per commit).',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(staging.statements);
      },
    });
    this.stagingGauge = new Gauge({
      name: 'execution_ledger_otlp_staging',
      help: 'What OTLP staging holds, as of the last assembler tick: spans, traces, bytes, oldest_age_seconds.',
      labelNames: ['measure'],
      registers: [registry],
    });
  }

  /**
   * Checks each resource's project, stages the spans that pass, and returns what became of
   * each. Refuses the whole export (503) while staging is full.
   */
  async ingest(resources: DecodedResource[], key: ApiKeyPrincipal): Promise<IngestOutcome> {
    if (this.stagedSpans >= this.stagedSpansMax) {
      throw new LedgerError(
        'INGEST_BACKLOG',
        `OTLP staging holds ${this.stagedSpans} spans, its maximum, while runs are assembled; ` +
          `retry after ${UNAVAILABLE_RETRY_AFTER_SECONDS} s (exporters retry a 503 by themselves)`,
        { details: { staged_spans: this.stagedSpans } },
      );
    }
    const refused: SpanRefusal[] = [];
    const accepted: ProjectSpan[] = [];
    for (const resource of resources) {
      refused.push(...resource.refused);
      let projectId: string;
      try {
        projectId = projectOf(resource, key);
      } catch (error) {
        if (!(error instanceof LedgerError)) throw error;
        for (const span of resource.spans) refused.push({ span: span.span_id, error });
        continue;
      }
      for (const span of resource.spans) accepted.push({ ...span, project_id: projectId });
    }
    this.spansCounter.inc({ outcome: 'refused' }, refused.length);
    if (accepted.length === 0) return { accepted: 0, duplicates: 0, late: 0, refused };
    const staged = await this.staging.stage(accepted, key.id);
    this.spansCounter.inc({ outcome: 'staged' }, staged.accepted);
    this.spansCounter.inc({ outcome: 'duplicate' }, staged.duplicates);
    this.spansCounter.inc({ outcome: 'late' }, staged.late);
    this.stagedSpans += staged.accepted;
    return { ...staged, refused };
  }

  /** Starts the assembler loop (a no-op when it is off). */
  start(): void {
    if (!this.assemblerOn || this.timer !== undefined || this.stopped) return;
    const loop = () => {
      this.running = this.tick()
        .then(() => undefined)
        .catch((error: unknown) => this.log.error({ err: error }, 'OTLP assembler tick failed'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(loop, this.tickMs);
        });
    };
    this.timer = setTimeout(loop, this.tickMs);
  }

  /** Stops the loop and waits for a tick in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
  }

  /** One pass: assemble every ready trace, then measure staging. Tests call it directly too. */
  async tick(): Promise<number> {
    // Idle: staging was empty and nothing was staged here since. Look now and then all the same,
    // for spans another instance staged and did not assemble (it stopped, or assembles nothing).
    const statements = this.staging.statements;
    if (this.idleAt === statements && ++this.idleTicks % OTLP_IDLE_CHECK_TICKS !== 0) return 0;
    let recorded = 0;
    for (;;) {
      const traces = await this.staging.readyTraces(this.graceMs, this.maxWaitMs, OTLP_TRACES_PER_TICK);
      // A group of traces at a time: one read, their appends group-committed, one finish.
      for (let start = 0; start < traces.length; start += OTLP_ASSEMBLY_TRACES_MAX) {
        if (this.stopped && recorded > 0) break;
        recorded += await this.assemble(traces.slice(start, start + OTLP_ASSEMBLY_TRACES_MAX));
      }
      if (traces.length < OTLP_TRACES_PER_TICK || this.stopped) break;
    }
    const late = await this.staging.clean(OTLP_RECORDED_RETENTION_MS);
    if (late > 0) this.spansCounter.inc({ outcome: 'late' }, late);
    const size = await this.staging.size();
    this.stagedSpans = size.spans;
    this.stagingGauge.set({ measure: 'spans' }, size.spans);
    this.stagingGauge.set({ measure: 'traces' }, size.traces);
    this.stagingGauge.set({ measure: 'bytes' }, size.bytes);
    this.stagingGauge.set({ measure: 'oldest_age_seconds' }, size.oldestAgeMs / 1000);
    this.stagingGauge.set({ measure: 'recorded_traces_remembered' }, size.recordedTraces);
    this.idleAt = size.spans === 0 ? statements : undefined;
    return recorded;
  }

  /**
   * Records the runs of a group of traces, then forgets their spans. A crash in between
   * assembles the same spans again into the same runs, which the ledger answers as replays.
   * Returns how many traces were finished.
   */
  private async assemble(traceIds: readonly string[]): Promise<number> {
    const spansByTrace = await this.staging.tracesSpans(traceIds);
    const runs: ExecutionInput[] = [];
    /** The trace of each run, by the run's index in runs. */
    const traceOfRun: string[] = [];
    const traces: { traceId: string; runs: number }[] = [];
    for (const traceId of traceIds) {
      const spans = spansByTrace.get(traceId) ?? [];
      let traceRuns: ExecutionInput[] = [];
      try {
        traceRuns = spans.length === 0 ? [] : assembleTrace(spans, this.prices);
      } catch (error) {
        if (!(error instanceof LedgerError)) throw error;
        this.log.warn({ code: error.code, trace_id: traceId }, `OTLP trace not assembled: ${error.message}`);
      }
      traces.push({ traceId, runs: traceRuns.length });
      for (const run of traceRuns) {
        runs.push(run);
        traceOfRun.push(traceId);
      }
    }
    const outcomes = await this.ledger.recordExecutions(runs);
    // Runs whose append failed for the database's sake: their traces keep their spans and are
    // assembled again on a later tick; the others are finished.
    const unfinished = new Set<string>();
    let failure: unknown;
    for (const outcome of outcomes) {
      if (outcome.ok) {
        this.runsCounter.inc({ outcome: outcome.record.replayed ? 'replayed' : 'created' });
      } else if (outcome.error.code === 'RUN_ID_CONFLICT') {
        // Recorded before with other spans (some arrived after a crash): the first record stands.
        this.runsCounter.inc({ outcome: 'conflict' });
      } else if (isLedgerError(outcome.error) && outcome.error.statusCode < 500) {
        this.runsCounter.inc({ outcome: 'refused' });
        this.log.warn(
          { code: outcome.error.code, run_id: runs[outcome.index]?.run_id },
          `OTLP run refused by the ledger: ${outcome.error.message}`,
        );
      } else {
        unfinished.add(traceOfRun[outcome.index] as string);
        failure ??= outcome.error;
      }
    }
    const finished = traces.filter((trace) => !unfinished.has(trace.traceId));
    await this.staging.finishTraces(finished);
    // The database is failing: the tick reports it, and the kept traces are tried again later.
    if (failure !== undefined) throw failure;
    return finished.length;
  }
}

/** The resource attribute, else the key's only project; the key must cover it. */
function projectOf(resource: DecodedResource, key: ApiKeyPrincipal): string {
  const named = resource.resource[PROJECT_ATTRIBUTE];
  let projectId: string;
  if (named !== undefined) {
    projectId = requireId(named, `resource.attributes["${PROJECT_ATTRIBUTE}"]`, DEFAULT_LIMITS);
  } else if (key.projects !== null && key.projects.length === 1 && key.projects[0] !== undefined) {
    projectId = key.projects[0];
  } else {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `the spans name no project: set the resource attribute ${PROJECT_ATTRIBUTE} ` +
        `(OTEL_RESOURCE_ATTRIBUTES=${PROJECT_ATTRIBUTE}=<project id>) or send them with a key bound to exactly one project`,
      { field: `resource.attributes["${PROJECT_ATTRIBUTE}"]` },
    );
  }
  if (!coversProject(key, projectId)) throw projectDenied(key, projectId);
  return projectId;
}

function requireMs(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} must be a whole number of zero or more; got ${value}`,
      {
        field,
      },
    );
  }
  return value;
}
