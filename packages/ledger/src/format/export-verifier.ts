import { parse as parseLossless } from 'lossless-json';
import { NDJSON_LINE_BYTES_MAX } from '../bounds.js';
import { EXECUTION_STATUSES, type ExecutionRecord } from '../types.js';
import { compareWithCommittedHead, failWithoutEntry } from './anchor-check.js';
import {
  addProblem,
  type ChainState,
  checkEntry,
  initialChainState,
  type VerificationReport,
} from './chain-verifier.js';
import type { CheckpointCheck, ProjectProof } from './checkpoint-types.js';
import {
  type NoteCheck,
  readProjectProof,
  verifyCheckpointNote,
  verifyProjectProof,
} from './checkpoint-verifier.js';
import { JsonNumberText } from './jsonb-text.js';
import { type ExportLines, splitExportLines } from './ndjson-lines.js';
import {
  blobProblem,
  REPLAY_BLOB_LINE_KEY,
  readReplayBlobLine,
  stepBlobHashes,
} from './replay-blob-lines.js';
import { parsePublicKeys } from './signing-key.js';

export interface ExportVerificationInput {
  /**
   * The export: its whole text, its lines in order, or a readable stream of the file (e.g.
   * fs.createReadStream), which is split into lines here.
   */
  ndjson: ExportLines;
  /** A signed checkpoint note kept outside the database. Without it, tail truncation and a
   * rewrite with fresh hashes cannot be seen. */
  checkpoint?: string;
  /** The public key file's text (or parsed keys) that checks the note's signature. */
  publicKey?: unknown;
  /** The project's inclusion proof, when the export does not carry it as its first line. */
  proof?: ProjectProof;
}

export interface ExportVerificationReport extends VerificationReport {
  lines_read: number;
  /** The line of the first problem that concerns an entry. */
  first_bad_line: number | null;
  checkpoint: CheckpointCheck | null;
  /** Blob lines whose content hashes to their hash and that a verified entry's steps reference. */
  blobs_checked: number;
  /** Distinct blob hashes the entries' steps reference (the export may or may not carry them). */
  blobs_referenced: number;
  /** Of those, how many no blob line carries (an export made without blobs carries none). */
  blobs_not_included: number;
}

/** What a blob line is checked against: an entry read earlier that references blobs. */
interface BlobEntry {
  run_id: string;
  seq: number;
  hashes: string[];
  /** The entry verified in the chain (no problem found for it). */
  verified: boolean;
}

interface Walk {
  report: ExportVerificationReport;
  state: ChainState | null;
  proof: unknown;
  /** The proof once it reads well: its head is the entry to compare while streaming. */
  committed: ProjectProof | null;
  lastSeq: number;
  hashAtCommitted: string | null;
  /** Entries that reference blobs, by seq: only these are kept, for the blob lines after them. */
  blobEntries: Map<number, BlobEntry>;
  referenced: Set<string>;
  /** The hashes blob lines claim to carry, good or bad. */
  carried: Set<string>;
}

/**
 * The offline verifier: needs no database. Recomputes every payload and entry hash and the
 * chain links from an NDJSON export, then checks the signed checkpoint, the project's inclusion
 * proof and that the chain still holds the committed head. Never throws on bad data; a
 * malformed public key is the caller's error (INVALID_KEY).
 */
export async function verifyExport(input: ExportVerificationInput): Promise<ExportVerificationReport> {
  const keys = input.checkpoint === undefined ? null : parsePublicKeys(input.publicKey);
  const note = keys === null ? null : verifyCheckpointNote(input.checkpoint, keys);
  const walk: Walk = {
    report: {
      ok: true,
      project_id: input.proof?.project_id ?? '',
      entries_checked: 0,
      head: null,
      first_bad_seq: null,
      reason: null,
      problems: [],
      lines_read: 0,
      first_bad_line: null,
      checkpoint: null,
      blobs_checked: 0,
      blobs_referenced: 0,
      blobs_not_included: 0,
    },
    state: null,
    proof: input.proof,
    committed: readProjectProofOrNull(input.proof),
    lastSeq: 0,
    hashAtCommitted: null,
    blobEntries: new Map(),
    referenced: new Set(),
    carried: new Set(),
  };
  for await (const line of splitExportLines(input.ndjson)) {
    walk.report.lines_read += 1;
    readLine(walk, line);
  }
  walk.report.blobs_referenced = walk.referenced.size;
  for (const hash of walk.referenced) if (!walk.carried.has(hash)) walk.report.blobs_not_included += 1;
  if (note !== null) walk.report.checkpoint = finishCheckpoint(walk, note);
  return walk.report;
}

function readLine(walk: Walk, line: string): void {
  const problem = readLineOrProblem(walk, line);
  if (problem !== null) lineProblem(walk, problem.seq, `line ${walk.report.lines_read}: ${problem.reason}`);
}

/** Reads one line into the walk; returns what is wrong with it, or null. */
function readLineOrProblem(walk: Walk, line: string): { seq: number; reason: string } | null {
  const expectedSeq = walk.lastSeq + 1;
  if (line.trim() === '') return null;
  if (line.length > NDJSON_LINE_BYTES_MAX) return { seq: expectedSeq, reason: 'the line is too long' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { seq: expectedSeq, reason: 'not valid JSON' };
  }
  if (typeof value === 'object' && value !== null && 'inclusion_proof' in value) {
    if (walk.state !== null)
      return { seq: expectedSeq, reason: 'the inclusion proof must come before the entries' };
    walk.proof = (value as { inclusion_proof: unknown }).inclusion_proof;
    walk.committed = readProjectProofOrNull(walk.proof);
    return null;
  }
  if (typeof value === 'object' && value !== null && REPLAY_BLOB_LINE_KEY in value) {
    const problem = checkBlobLine(walk, (value as Record<string, unknown>)[REPLAY_BLOB_LINE_KEY]);
    // Like an entry's own problems, a blob's is reported without the line prefix (the report
    // names the line); a line that does not read as a blob is reported like any bad line.
    if (problem !== null && problem.own) lineProblem(walk, problem.seq, problem.reason);
    return problem === null || problem.own ? null : problem;
  }
  const record = readRecord(value);
  if (typeof record === 'string') return { seq: expectedSeq, reason: record };
  if (walk.state === null) {
    walk.report.project_id = record.project_id;
    walk.state = initialChainState(record.project_id);
  }
  if (record.project_id !== walk.report.project_id) {
    return {
      seq: record.seq,
      reason: `belongs to project ${record.project_id}, not ${walk.report.project_id}`,
    };
  }
  // Version 2 hashes numbers as the database printed them; only where the doubles JSON.parse
  // gave do not reproduce the hash is the line read again with its numbers as written.
  const readExactly = record.hash_version === 2 ? () => withWrittenNumbers(record, line) : undefined;
  const problems = checkEntry(walk.state, record, readExactly);
  for (const reason of problems) lineProblem(walk, record.seq, reason);
  const hashes = stepBlobHashes(record.execution_trace_json);
  if (hashes.length > 0) {
    const entry = { run_id: record.run_id, seq: record.seq, hashes, verified: problems.length === 0 };
    walk.blobEntries.set(record.seq, entry);
    for (const hash of hashes) walk.referenced.add(hash);
  }
  walk.report.entries_checked += 1;
  walk.report.head = { seq: record.seq, entry_hash: record.entry_hash };
  walk.lastSeq = record.seq;
  if (record.seq === walk.committed?.head.seq) walk.hashAtCommitted = record.entry_hash;
  return null;
}

/**
 * A blob line: its content must hash to its hash, and the entry it names (read before it, and
 * verified in the chain) must reference that hash in its steps. Then the chain, and the signed
 * checkpoint over it, cover the blob too.
 */
function checkBlobLine(walk: Walk, value: unknown): { seq: number; reason: string; own: boolean } | null {
  const blob = readReplayBlobLine(value);
  if (typeof blob === 'string') return { seq: walk.lastSeq + 1, reason: blob, own: false };
  walk.carried.add(blob.hash);
  const failed = (reason: string) => ({ seq: blob.seq, reason, own: true });
  const entry = walk.blobEntries.get(blob.seq);
  if (entry === undefined) {
    const reason =
      blob.seq <= walk.lastSeq
        ? `replay blob ${blob.hash}: entry seq ${blob.seq} references no blob in its steps; the blob belongs to another entry`
        : `replay blob ${blob.hash} names entry seq ${blob.seq}, which does not come before it in the export`;
    return failed(reason);
  }
  if (entry.run_id !== blob.run_id) {
    return failed(
      `replay blob ${blob.hash} names run ${blob.run_id}, but entry seq ${blob.seq} is run ${entry.run_id}`,
    );
  }
  const problem = blobProblem(entry, blob);
  if (problem !== null) return failed(problem);
  if (!entry.verified) {
    return failed(
      `replay blob ${blob.hash}: entry seq ${blob.seq} did not verify, so nothing proves the blob`,
    );
  }
  walk.report.blobs_checked += 1;
  return null;
}

/**
 * The line's JSON fields read again with every number kept as written, for version 2, which
 * hashes numbers as the database printed them and a double may not hold (1.50, 12345678901234567891).
 */
function withWrittenNumbers(record: ExecutionRecord, line: string): ExecutionRecord {
  let exact: Record<string, unknown>;
  try {
    exact = parseLossless(line, null, (text) => new JsonNumberText(text)) as Record<string, unknown>;
  } catch {
    // JSON.parse read the line; a stricter parser's refusal (a duplicate key) leaves that reading.
    return record;
  }
  const exactRecord: ExecutionRecord = {
    ...record,
    input: exact.input as ExecutionRecord['input'],
    cost_json: exact.cost_json as ExecutionRecord['cost_json'],
    execution_trace_json: exact.execution_trace_json as ExecutionRecord['execution_trace_json'],
  };
  if (exact.output !== undefined) exactRecord.output = exact.output as NonNullable<ExecutionRecord['output']>;
  return exactRecord;
}

function readProjectProofOrNull(value: unknown): ProjectProof | null {
  const proof = readProjectProof(value);
  return typeof proof === 'string' ? null : proof;
}

function lineProblem(walk: Walk, seq: number, reason: string): void {
  if (walk.report.first_bad_line === null) walk.report.first_bad_line = walk.report.lines_read;
  addProblem(walk.report, seq, reason);
}

function finishCheckpoint(walk: Walk, note: NoteCheck): CheckpointCheck {
  const { report } = walk;
  if (!note.ok) {
    failWithoutEntry(report, note.reason);
    return {
      ok: false,
      seq: 0,
      tree_size: 0,
      head: null,
      signature: 'invalid',
      reason: note.reason,
      entries_after_checkpoint: 0,
    };
  }
  const checkpoint = note.checkpoint;
  const base = { seq: checkpoint.seq, tree_size: checkpoint.tree_size, signature: 'valid' as const };
  const proof = readProjectProof(walk.proof);
  const failed = (reason: string, head: CheckpointCheck['head'] = null): CheckpointCheck => {
    failWithoutEntry(report, reason);
    return { ...base, ok: false, head, reason, entries_after_checkpoint: 0 };
  };
  if (walk.proof === undefined)
    return failed(`no inclusion proof for project ${report.project_id} in checkpoint ${checkpoint.seq}`);
  if (typeof proof === 'string') return failed(`inclusion proof: ${proof}`);
  if (report.entries_checked > 0 && proof.project_id !== report.project_id) {
    return failed(
      `the inclusion proof is for project ${proof.project_id}, the export is of ${report.project_id}`,
    );
  }
  const check = verifyProjectProof(proof, checkpoint);
  if (!check.ok) return failed(check.reason, proof.head);
  const problem = compareWithCommittedHead(checkpoint.seq, proof.head, walk.lastSeq, walk.hashAtCommitted);
  if (problem !== null) {
    addProblem(report, problem.seq, problem.reason);
    return { ...base, ok: false, head: proof.head, reason: problem.reason, entries_after_checkpoint: 0 };
  }
  return {
    ...base,
    ok: true,
    head: proof.head,
    reason: null,
    entries_after_checkpoint: walk.lastSeq - proof.head.seq,
  };
}

const HEX_HASH = /^[0-9a-f]{64}$/;
const TEXT_FIELDS = ['id', 'run_id', 'project_id', 'user_id', 'agent_id', 'intent', 'created_at'] as const;

/** Checks that a parsed line has every field of an entry with the right type. */
function readRecord(value: unknown): ExecutionRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object';
  const record = value as Record<string, unknown>;
  for (const field of TEXT_FIELDS) {
    if (typeof record[field] !== 'string') return `${field} must be a string`;
  }
  if (Number.isNaN(Date.parse(record.created_at as string))) return 'created_at must be a time';
  if (!Number.isSafeInteger(record.seq) || (record.seq as number) < 1)
    return 'seq must be a whole number ≥ 1';
  if (!Number.isSafeInteger(record.hash_version)) return 'hash_version must be a whole number';
  for (const field of ['payload_hash', 'prev_hash', 'entry_hash']) {
    if (typeof record[field] !== 'string' || !HEX_HASH.test(record[field] as string))
      return `${field} must be 64 hex digits`;
  }
  for (const field of ['input', 'cost_json', 'execution_trace_json']) {
    const json = record[field];
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return `${field} must be an object`;
  }
  if (!(EXECUTION_STATUSES as readonly unknown[]).includes(record.status))
    return 'status is not a known status';
  for (const field of ['parent_run_id', 'error_message']) {
    if (record[field] !== null && record[field] !== undefined && typeof record[field] !== 'string') {
      return `${field} must be a string or null`;
    }
  }
  const { output, error_message, ...rest } = record;
  const typed = { ...rest, parent_run_id: record.parent_run_id ?? null } as unknown as ExecutionRecord;
  if (output !== null && output !== undefined)
    typed.output = output as NonNullable<ExecutionRecord['output']>;
  if (typeof error_message === 'string') typed.error_message = error_message;
  return typed;
}
