import type { ProjectProof } from '../format/checkpoint-types.js';
import type { ExecutionFilter, ExecutionRecord } from '../types.js';

/** Anything that streams executions oldest first: a Ledger, or a scoped reader from ledger.as(). */
export interface ExecutionStreamSource {
  streamExecutions(filter: ExecutionFilter): AsyncGenerator<ExecutionRecord>;
}

export interface NdjsonExportOptions {
  /** Written first as `{"inclusion_proof": …}`, so an offline verifier can anchor the chain. */
  proof?: ProjectProof | null;
}

/**
 * A project's whole chain as NDJSON lines (each ends in "\n"): one object per entry with every
 * field and hash, absent values as null, in seq order. Streams in bounded batches, so a chain of
 * any length is exported in constant memory; verifyExport() checks the result offline.
 */
export async function* exportExecutionsToNDJSON(
  source: ExecutionStreamSource,
  projectId: string,
  options: NdjsonExportOptions = {},
): AsyncGenerator<string> {
  if (options.proof != null) yield `${JSON.stringify({ inclusion_proof: options.proof })}\n`;
  for await (const record of source.streamExecutions({ projectId })) {
    yield `${JSON.stringify(recordToNdjsonObject(record))}\n`;
  }
}

/** Fixed key order, every field present, so two exports of the same chain are byte-identical. */
export function recordToNdjsonObject(record: ExecutionRecord): Record<string, unknown> {
  return {
    seq: record.seq,
    id: record.id,
    run_id: record.run_id,
    project_id: record.project_id,
    user_id: record.user_id,
    agent_id: record.agent_id,
    parent_run_id: record.parent_run_id,
    intent: record.intent,
    input: record.input,
    output: record.output ?? null,
    cost_json: record.cost_json,
    execution_trace_json: record.execution_trace_json,
    status: record.status,
    error_message: record.error_message ?? null,
    created_at: record.created_at,
    hash_version: record.hash_version,
    payload_hash: record.payload_hash,
    prev_hash: record.prev_hash,
    entry_hash: record.entry_hash,
  };
}
