import assert from 'node:assert/strict';
import type { ProjectProof } from '../format/checkpoint-types.js';
import { replayBlobLine, stepBlobHashes } from '../format/replay-blob-lines.js';
import type { BlobReader } from '../replay/blob-store.js';
import type { ExecutionFilter, ExecutionRecord } from '../types.js';
import type { ExportFormatDefinition } from './export-formats.js';
import type { ExportPosition } from './export-queries.js';

/** Anything that streams executions oldest first: a Ledger, or a scoped reader from ledger.as(). */
export interface ExecutionStreamSource {
  streamExecutions(filter: ExecutionFilter): AsyncGenerator<ExecutionRecord>;
}

export interface NdjsonExportOptions {
  /** Written first as `{"inclusion_proof": …}`, so an offline verifier can anchor the chain. */
  proof?: ProjectProof | null;
  /**
   * Where to read the captured replay blobs the entries' steps reference (`ledger.readReplayBlobs`):
   * each is written once, as a `{"replay_blob": …}` line after the entries that reference it.
   * Leave it out to leave the blobs out.
   */
  blobs?: BlobReader;
}

/** Entries whose blobs are read together, in an export with blobs. */
const BLOB_GROUP_ENTRIES = 200;

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
  const readBlobs = options.blobs;
  const written = new Set<string>();
  let pending: { hash: string; run_id: string; seq: number }[] = [];
  let entries = 0;
  for await (const record of source.streamExecutions({ projectId })) {
    yield `${JSON.stringify(recordToNdjsonObject(record))}\n`;
    if (readBlobs === undefined) continue;
    for (const hash of stepBlobHashes(record.execution_trace_json)) {
      if (written.has(hash)) continue;
      written.add(hash);
      pending.push({ hash, run_id: record.run_id, seq: record.seq });
    }
    entries += 1;
    if (entries % BLOB_GROUP_ENTRIES === 0 && pending.length > 0) {
      yield* blobLines(readBlobs, pending);
      pending = [];
    }
  }
  if (readBlobs !== undefined && pending.length > 0) yield* blobLines(readBlobs, pending);
}

async function* blobLines(
  readBlobs: BlobReader,
  wanted: readonly { hash: string; run_id: string; seq: number }[],
): AsyncGenerator<string> {
  for await (const found of readBlobs(wanted.map((blob) => blob.hash))) {
    for (const blob of wanted) {
      const content = found.get(blob.hash);
      if (content !== undefined) yield replayBlobLine(blob.hash, blob.run_id, blob.seq, content);
    }
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

const CREATED_AT_TEXT = `to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * One NDJSON line ending in "\n": a JSON object with exactly the fields and values of the
 * ExecutionRecord, in this key order, output and error_message left out when absent, JSON fields
 * as the stored jsonb text. It carries every hash and chain field, so an offline verifier can
 * re-derive each entry_hash. The server builds it: jsonb-to-text is most of an export's cost and
 * happens there anyway, and one text column costs Node about 8 µs a row less than 19 columns
 * parsed and joined in JS. PostgreSQL's to_json(text) escapes exactly as JSON.stringify does for
 * any text PostgreSQL can hold (`"`, `\`, \b \f \n \r \t, other controls as lower-case \u00xx,
 * nothing else), so the bytes are those of the JS-built line this replaced; a test compares them.
 * The large JSON texts sit near the top of a balanced tree of `||`: a left-deep chain copies each
 * once per later piece, which cost the server about 2 µs a row more.
 */
const LINE_HEAD = `'{"id":"' || e.id::text || '","run_id":' || to_json(e.run_id)::text
  || ',"project_id":' || to_json(e.project_id)::text || ',"user_id":' || to_json(e.user_id)::text
  || ',"agent_id":' || to_json(e.agent_id)::text
  || ',"parent_run_id":' || coalesce(to_json(e.parent_run_id)::text, 'null')
  || ',"intent":' || to_json(e.intent)::text`;
const LINE_TAIL = `',"status":' || to_json(e.status)::text
  || coalesce(',"error_message":' || to_json(e.error_message)::text, '')
  || ',"created_at":"' || ${CREATED_AT_TEXT} || '","seq":' || e.seq::text
  || ',"hash_version":' || e.hash_version::text || ',"payload_hash":"' || encode(e.payload_hash, 'hex')
  || '","prev_hash":"' || encode(e.prev_hash, 'hex') || '","entry_hash":"' || encode(e.entry_hash, 'hex')
  || E'"}\\n'`;
const NDJSON_LINE = `((${LINE_HEAD}) || (',"input":' || e.input::text))
  || ((coalesce(',"output":' || e.output::text, '') || (',"cost_json":' || e.cost_json::text))
  || ((',"execution_trace_json":' || e.execution_trace_json::text) || (${LINE_TAIL}))) as line`;

/** One whole NDJSON line, built by the database (see NDJSON_LINE). */
interface NdjsonSourceRow extends ExportPosition {
  line: string;
}

/**
 * A batch's lines as one UTF-8 buffer, each line encoded straight into place: joining them into
 * one string first and letting the stream encode that cost about twice as much CPU per row.
 */
function linesToBytes(rows: readonly NdjsonSourceRow[]): Buffer {
  let size = 0;
  for (const row of rows) size += Buffer.byteLength(row.line, 'utf8');
  const bytes = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const row of rows) offset += bytes.write(row.line, offset, 'utf8');
  // allocUnsafe leaves old memory in the buffer: every byte of it must have been written.
  assert.equal(offset, size);
  return bytes;
}

/**
 * NDJSON streamed from the database: one ExecutionRecord per line with every hash (record-fields
 * .test.ts holds each line's keys to the descriptor). Nothing precedes the first line, so an
 * export with no run is empty.
 */
export const NDJSON_EXPORT: ExportFormatDefinition<NdjsonSourceRow> = {
  name: 'ndjson',
  label: 'NDJSON',
  mediaType: 'application/x-ndjson',
  extension: 'ndjson',
  selectList: NDJSON_LINE,
  preamble: '',
  encodeBatch: linesToBytes,
  encodeBlobs: (blobs) =>
    blobs.map((blob) => replayBlobLine(blob.hash, blob.run_id, blob.seq, blob.content)).join(''),
};
