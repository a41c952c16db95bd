import assert from 'node:assert/strict';
import type { Ledger } from 'execution-ledger';
import type { OwnedSchema } from 'execution-ledger/database';
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

/**
 * The staging tables of OTLP ingest, in the service's own schema (sql/0002_otlp_staging.sql),
 * each statement one function of that migration.
 */
export class OtlpStaging {
  private readonly schema: OwnedSchema;

  constructor(ledger: Ledger) {
    this.schema = ledger.ownedSchema(API_KEY_MIGRATIONS);
  }

  /** Stores spans durably; returns once they are committed. */
  async stage(spans: readonly ProjectSpan[], keyId: string): Promise<StageResult> {
    const batch = spans.map(({ project_id, ...span }) => ({
      trace_id: span.trace_id,
      span_id: span.span_id,
      parent_span_id: span.parent_span_id,
      project_id,
      key_id: keyId,
      span,
    }));
    const rows = await this.schema.call<StageResult>('otlp_stage_spans', [JSON.stringify(batch)]);
    const row = rows[0];
    assert(row !== undefined, 'otlp_stage_spans answers one row');
    return row;
  }

  async readyTraces(graceMs: number, maxWaitMs: number, tracesMax: number): Promise<string[]> {
    const rows = await this.schema.call<{ otlp_ready_traces: string }>('otlp_ready_traces', [
      graceMs,
      maxWaitMs,
      tracesMax,
    ]);
    return rows.map((row) => row.otlp_ready_traces);
  }

  async traceSpans(traceId: string): Promise<ProjectSpan[]> {
    const rows = await this.schema.call<{ project_id: string; span: StagedSpan | string }>(
      'otlp_trace_spans',
      [traceId],
    );
    return rows.map((row) => ({
      ...((typeof row.span === 'string' ? JSON.parse(row.span) : row.span) as StagedSpan),
      project_id: row.project_id,
    }));
  }

  async finishTrace(traceId: string, runs: number): Promise<number> {
    const rows = await this.schema.call<{ otlp_finish_trace: number }>('otlp_finish_trace', [traceId, runs]);
    return rows[0]?.otlp_finish_trace ?? 0;
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
