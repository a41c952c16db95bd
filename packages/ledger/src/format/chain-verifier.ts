import { VERIFY_PROBLEMS_MAX } from '../bounds.js';
import type { EntryPayload, ExecutionRecord } from '../types.js';
import { payloadOf } from './canonical-json.js';
import type { CheckpointCheck } from './checkpoint-types.js';
import { computeEntryHash, genesisHash } from './entry-hash.js';
import { computePayloadHash, type HashVersion, isHashVersion } from './hash-versions.js';

export interface ChainProblem {
  seq: number;
  reason: string;
}

export interface VerificationReport {
  ok: boolean;
  project_id: string;
  entries_checked: number;
  /** The last entry read: what a checkpoint would commit to. */
  head: { seq: number; entry_hash: string } | null;
  first_bad_seq: number | null;
  reason: string | null;
  /** Up to VERIFY_PROBLEMS_MAX problems, in chain order. */
  problems: ChainProblem[];
  /** The comparison with the newest signed checkpoint; null when none exists. */
  checkpoint?: CheckpointCheck | null;
}

/** What the verifier keeps between entries: the previous link (as lower-case hex) and time. */
export interface ChainState {
  expectedSeq: number;
  prevHashHex: string;
  prevCreatedAtMs: number;
}

export function initialChainState(projectId: string): ChainState {
  return {
    expectedSeq: 1,
    prevHashHex: genesisHash(projectId).toString('hex'),
    prevCreatedAtMs: Number.NEGATIVE_INFINITY,
  };
}

/** The stored fields that place an entry in its chain. */
export type ChainFields = Pick<
  ExecutionRecord,
  'project_id' | 'seq' | 'created_at' | 'hash_version' | 'payload_hash' | 'prev_hash' | 'entry_hash'
>;

/** Hashes re-derived from an entry's stored content (payload) and stored chain fields (entry), hex. */
export interface DerivedHashes {
  payloadHash: string;
  entryHash: string;
}

/**
 * Checks one entry against the chain so far and returns its problems (empty when sound). The
 * state then moves to this entry's stored values, so one bad entry is reported once and the
 * entries after it are still checked against what is stored.
 */
export function checkEntry(
  state: ChainState,
  record: ExecutionRecord,
  /**
   * The same entry read again more exactly (numbers as written), asked for only when its
   * payload hash does not match as read: exactness costs a second parse, which most entries
   * never need.
   */
  readExactly?: () => ExecutionRecord,
): string[] {
  // An unknown version derives nothing: checkChainLinks names the version as the problem.
  const version = record.hash_version;
  if (!isHashVersion(version)) return checkChainLinks(state, record, UNDERIVED);
  const payloadHashOf = (read: ExecutionRecord) =>
    computePayloadHash(payloadFromRecord(read), version).toString('hex');
  let payloadHash = payloadHashOf(record);
  if (payloadHash !== record.payload_hash && readExactly !== undefined)
    payloadHash = payloadHashOf(readExactly());
  return checkChainLinks(state, record, { payloadHash, entryHash: storedEntryHash(record).toString('hex') });
}

/** What an entry of an unknown hash version re-derives to: nothing, so nothing matches. */
export const UNDERIVED: DerivedHashes = { payloadHash: '', entryHash: '' };

/**
 * The entry_hash that an entry's stored version, seq, created_at, payload_hash and prev_hash
 * give; the caller has checked that the version is known.
 */
export function storedEntryHash(fields: ChainFields): Buffer {
  return computeEntryHash({
    projectId: fields.project_id,
    hashVersion: fields.hash_version as HashVersion,
    seq: fields.seq,
    createdAtMs: Date.parse(fields.created_at),
    payloadHash: Buffer.from(fields.payload_hash, 'hex'),
    prevHash: Buffer.from(fields.prev_hash, 'hex'),
  });
}

/** checkEntry with the hashes already derived (by a worker thread, for instance). */
export function checkChainLinks(
  state: ChainState,
  record: ChainFields,
  derived: DerivedHashes,
  createdAtMs = Date.parse(record.created_at),
): string[] {
  const problems: string[] = [];
  if (record.seq !== state.expectedSeq) {
    problems.push(
      record.seq > state.expectedSeq
        ? `entries ${state.expectedSeq}..${record.seq - 1} are missing (seq jumps from ${state.expectedSeq - 1} to ${record.seq})`
        : `seq ${record.seq} is out of order (expected ${state.expectedSeq})`,
    );
  }
  if (!isHashVersion(record.hash_version)) problems.push(`unknown hash_version ${record.hash_version}`);
  if (record.prev_hash !== state.prevHashHex) {
    problems.push('prev_hash does not match the previous entry_hash (the chain is broken or reordered)');
  }
  if (derived.payloadHash !== record.payload_hash) {
    problems.push(
      'payload_hash does not match the stored content (content was changed after it was recorded)',
    );
  }
  if (createdAtMs < state.prevCreatedAtMs) problems.push('created_at is earlier than the previous entry');
  if (derived.entryHash !== record.entry_hash) {
    problems.push('entry_hash does not match seq, created_at, payload_hash and prev_hash');
  }
  advanceChainState(state, record, createdAtMs);
  return problems;
}

/** Moves the state past an entry: to its stored seq, entry_hash and created_at, whatever they are. */
export function advanceChainState(
  state: ChainState,
  record: ChainFields,
  createdAtMs = Date.parse(record.created_at),
): void {
  state.expectedSeq = record.seq + 1;
  state.prevHashHex = hexAsBytesRead(record.entry_hash);
  state.prevCreatedAtMs = createdAtMs;
}

// Even-length lower-case hex: what encode(…, 'hex') writes, and what reads back unchanged.
const CANONICAL_HEX = /^(?:[0-9a-f]{2})*$/;

/**
 * Hex as Buffer.from(hex, 'hex').toString('hex') gives it back (lower case, cut at the first
 * character that is not hex): the stored hash as the next entry's prev_hash is compared with
 * it. Stored hashes are already in that form, so the round trip is skipped for them.
 */
function hexAsBytesRead(hex: string): string {
  return CANONICAL_HEX.test(hex) ? hex : Buffer.from(hex, 'hex').toString('hex');
}

/** Rebuilds the hashed content of a stored record, absent values as null. */
export function payloadFromRecord(record: ExecutionRecord): EntryPayload {
  const stored = record as unknown as EntryPayload;
  return payloadOf({ ...stored, output: record.output ?? null, error_message: record.error_message ?? null });
}

export function addProblem(report: VerificationReport, seq: number, reason: string): void {
  if (report.ok) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.reason = reason;
  }
  if (report.problems.length < VERIFY_PROBLEMS_MAX) report.problems.push({ seq, reason });
}
