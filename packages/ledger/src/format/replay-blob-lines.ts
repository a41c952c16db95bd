import { createHash } from 'node:crypto';

/**
 * A captured request or response carried in an NDJSON export (`exportStream('ndjson', { blobs:
 * true })`): one line `{"replay_blob": {…}}` after the entry it names. Content-addressed, so a
 * blob referenced by several entries is written once, naming the first of them.
 */
export interface ReplayBlobLine {
  /** The SHA-256 of the content, 64 lowercase hex digits: what the entry's steps hold in `io`. */
  hash: string;
  /** The entry the blob belongs to: its run id and seq in its project's chain. */
  run_id: string;
  seq: number;
  /** The content's length in bytes. */
  size: number;
  /** The content (canonical JSON of the redacted request or response, UTF-8), base64. */
  content_base64: string;
}

/** The key of an export line that carries a blob. */
export const REPLAY_BLOB_LINE_KEY = 'replay_blob';

const HEX_HASH = /^[0-9a-f]{64}$/;

/**
 * The blob hashes an entry's steps reference (`execution_trace_json.steps[i].io.request` and
 * `.response`), each once, in step order. Anything that is not a 64-hex-digit string is left out.
 */
export function stepBlobHashes(trace: unknown): string[] {
  const steps = isObject(trace) ? trace.steps : undefined;
  if (!Array.isArray(steps)) return [];
  const hashes = new Set<string>();
  for (const step of steps) {
    const io = isObject(step) ? step.io : undefined;
    if (!isObject(io)) continue;
    for (const key of ['request', 'response']) {
      const hash = io[key];
      if (typeof hash === 'string' && HEX_HASH.test(hash)) hashes.add(hash);
    }
  }
  return [...hashes];
}

/** One export line (ending in "\n") carrying a blob. */
export function replayBlobLine(hash: string, runId: string, seq: number, content: Uint8Array): string {
  const line: ReplayBlobLine = {
    hash,
    run_id: runId,
    seq,
    size: content.length,
    content_base64: Buffer.from(content.buffer, content.byteOffset, content.length).toString('base64'),
  };
  return `${JSON.stringify({ [REPLAY_BLOB_LINE_KEY]: line })}\n`;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A blob line's fields once they read well, with the content decoded; otherwise what is wrong. */
export function readReplayBlobLine(value: unknown): (ReplayBlobLine & { content: Buffer }) | string {
  if (!isObject(value)) return 'replay_blob must be an object';
  const { hash, run_id: runId, seq, size, content_base64: base64 } = value;
  if (typeof hash !== 'string' || !HEX_HASH.test(hash))
    return 'replay_blob.hash must be 64 lowercase hex digits';
  if (typeof runId !== 'string' || runId === '') return 'replay_blob.run_id must be a run id';
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return 'replay_blob.seq must be a whole number ≥ 1';
  if (!Number.isSafeInteger(size) || (size as number) < 0)
    return 'replay_blob.size must be a whole number ≥ 0';
  if (typeof base64 !== 'string' || !BASE64.test(base64))
    return 'replay_blob.content_base64 must be standard base64 (A-Z a-z 0-9 + /, padded with =)';
  const content = Buffer.from(base64, 'base64');
  if (content.length !== size)
    return `replay_blob ${hash}: size says ${size} bytes, the content holds ${content.length}`;
  return { hash, run_id: runId, seq: seq as number, size: size as number, content_base64: base64, content };
}

/**
 * Whether `content` is the blob `hash` names and an entry's steps reference it: the check an
 * offline verifier makes for each blob (verifyExport makes it for every blob line, after the entry
 * itself verified in its chain). Returns null when it holds, otherwise the reason.
 */
export function replayBlobProblem(
  entry: { run_id: string; seq: number; execution_trace_json: unknown },
  blob: { hash: string; content: Uint8Array },
): string | null {
  return blobProblem(
    { run_id: entry.run_id, seq: entry.seq, hashes: stepBlobHashes(entry.execution_trace_json) },
    blob,
  );
}

/** replayBlobProblem with the entry's referenced hashes already read. */
export function blobProblem(
  entry: { run_id: string; seq: number; hashes: readonly string[] },
  blob: { hash: string; content: Uint8Array },
): string | null {
  const actual = createHash('sha256').update(blob.content).digest('hex');
  if (actual !== blob.hash) {
    return `replay blob ${blob.hash}: its content hashes to ${actual}; the blob was changed`;
  }
  if (!entry.hashes.includes(blob.hash)) {
    return (
      `replay blob ${blob.hash}: entry seq ${entry.seq} (run ${entry.run_id}) references no such blob ` +
      'in its steps; the blob belongs to another entry'
    );
  }
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
