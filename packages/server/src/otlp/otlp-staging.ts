import { AssertionError } from 'node:assert';
import type { Ledger } from 'execution-ledger';
import type { OwnedSchema } from 'execution-ledger/database';
import { OTLP_STAGE_GROUP_BYTES_MAX, OTLP_STAGE_GROUP_REQUESTS_MAX } from '../bounds.js';
import { API_KEY_MIGRATIONS } from '../keys/api-key-migrations.js';
import type { ProjectSpan, StagedSpan } from './otlp-span.js';

export interface StageResult {
  accepted: number;
  duplicates: number;
  /** Spans of a trace already recorded, left out. */
  late: number;
}

export interface StagingSize {
  spans: number;
  traces: number;
  bytes: number;
  oldestAgeMs: number;
  recordedTraces: number;
}

interface PendingStage {
  /** The export's spans as the JSON array otlp_stage_requests takes per export. */
  text: string;
  resolve: (result: StageResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The staging tables of OTLP ingest, in the service's own schema (sql/0002_otlp_staging.sql and
 * sql/0004_otlp_grouped_staging.sql), each statement one function of those migrations.
 *
 * Exports are staged in groups, as the ledger group-commits appends: while one staging statement
 * is in flight, the exports that arrive wait and then go together in the next one (one
 * statement, one commit, one connection), each answered with its own counts once that statement
 * has committed. If a group fails as a whole, its exports are staged one by one so that a
 * failing export fails alone.
 */
export class OtlpStaging {
  private readonly schema: OwnedSchema;
  private readonly queue: PendingStage[] = [];
  private draining = false;
  /** Staging statements run so far: each stages one group of exports. */
  statements = 0;

  constructor(ledger: Ledger) {
    this.schema = ledger.ownedSchema(API_KEY_MIGRATIONS);
  }

  /** Stores spans durably; returns once they are committed. */
  stage(spans: readonly ProjectSpan[], keyId: string): Promise<StageResult> {
    const rows = spans.map(({ project_id, ...span }) => ({
      trace_id: span.trace_id,
      span_id: span.span_id,
      parent_span_id: span.parent_span_id,
      project_id,
      key_id: keyId,
      span,
    }));
    const text = JSON.stringify(rows);
    return new Promise((resolve, reject) => {
      this.queue.push({ text, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        // Let exports already on their way join the first group.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.commit(takeGroup(this.queue));
    } finally {
      this.draining = false;
    }
  }

  private async commit(group: PendingStage[]): Promise<void> {
    let rows: (StageResult & { request: number })[];
    this.statements += 1;
    try {
      rows = await this.schema.call<StageResult & { request: number }>('otlp_stage_requests', [
        `[${group.map((pending) => pending.text).join(',')}]`,
      ]);
    } catch (error) {
      if (group.length > 1) {
        for (const pending of group) await this.commit([pending]);
        return;
      }
      group[0]?.reject(error);
      return;
    }
    group.forEach((pending, index) => {
      const row = rows[index];
      // otlp_stage_requests answers one row per export, in order: anything else is a broken invariant.
      if (row === undefined || row.request !== index + 1) {
        pending.reject(new AssertionError({ message: 'otlp_stage_requests answered out of step' }));
      } else {
        pending.resolve({ accepted: row.accepted, duplicates: row.duplicates, late: row.late });
      }
    });
  }

  async readyTraces(graceMs: number, maxWaitMs: number, tracesMax: number): Promise<string[]> {
    const rows = await this.schema.call<{ otlp_ready_traces: string }>('otlp_ready_traces', [
      graceMs,
      maxWaitMs,
      tracesMax,
    ]);
    return rows.map((row) => row.otlp_ready_traces);
  }

  /** Every staged span of each trace, by trace id (a trace with no spans left is absent). */
  async tracesSpans(traceIds: readonly string[]): Promise<Map<string, ProjectSpan[]>> {
    const rows = await this.schema.call<{ trace_id: string; project_id: string; span: StagedSpan | string }>(
      'otlp_traces_spans',
      [traceIds],
    );
    const byTrace = new Map<string, ProjectSpan[]>();
    for (const row of rows) {
      const span = {
        ...((typeof row.span === 'string' ? JSON.parse(row.span) : row.span) as StagedSpan),
        project_id: row.project_id,
      };
      const spans = byTrace.get(row.trace_id);
      if (spans === undefined) byTrace.set(row.trace_id, [span]);
      else spans.push(span);
    }
    return byTrace;
  }

  /** Every staged span of one trace. */
  async traceSpans(traceId: string): Promise<ProjectSpan[]> {
    return (await this.tracesSpans([traceId])).get(traceId) ?? [];
  }

  /** Remembers each trace as recorded with its number of runs and deletes its spans. */
  async finishTraces(traces: readonly { traceId: string; runs: number }[]): Promise<number> {
    if (traces.length === 0) return 0;
    const rows = await this.schema.call<{ otlp_finish_traces: number }>('otlp_finish_traces', [
      traces.map((trace) => trace.traceId),
      traces.map((trace) => trace.runs),
    ]);
    return rows[0]?.otlp_finish_traces ?? 0;
  }

  async size(): Promise<StagingSize> {
    const rows = await this.schema.call<Record<string, string | number>>('otlp_staging_size');
    const row = rows[0] ?? {};
    return {
      spans: Number(row.spans ?? 0),
      traces: Number(row.traces ?? 0),
      bytes: Number(row.bytes ?? 0),
      oldestAgeMs: Number(row.oldest_age_ms ?? 0),
      recordedTraces: Number(row.recorded_traces ?? 0),
    };
  }

  /** Forgets old recorded traces and drops spans that raced their trace's finish. */
  async clean(retentionMs: number): Promise<number> {
    const rows = await this.schema.call<{ otlp_clean_staging: number }>('otlp_clean_staging', [retentionMs]);
    return rows[0]?.otlp_clean_staging ?? 0;
  }
}

function takeGroup(queue: PendingStage[]): PendingStage[] {
  let bytes = 0;
  let count = 0;
  while (count < OTLP_STAGE_GROUP_REQUESTS_MAX) {
    const next = queue[count];
    if (next === undefined) break;
    if (count > 0 && bytes + next.text.length > OTLP_STAGE_GROUP_BYTES_MAX) break;
    bytes += next.text.length;
    count += 1;
  }
  return queue.splice(0, count);
}
