import { createHash } from 'node:crypto';
import { MERKLE_PROOF_NODES_MAX } from '../bounds.js';
import { type CheckpointBody, encodeHeadLeaf, parseCheckpointBody } from './checkpoint-encoding.js';
import type { ConsistencyProof, ProjectProof } from './checkpoint-types.js';
import { hashLeaf } from './merkle-tree.js';
import { type ProofCheck, verifyConsistency, verifyInclusion } from './merkle-verifier.js';
import { openNote } from './signed-note.js';
import { type NoteVerifierKey, parsePublicKeys } from './signing-key.js';

/** A checkpoint read back from a verified note. */
export interface VerifiedCheckpoint extends CheckpointBody {
  /** SHA-256 of the signed body: what the next checkpoint's prev line names. */
  checkpoint_hash: Buffer;
  key_id: string;
}

export type NoteCheck = { ok: true; checkpoint: VerifiedCheckpoint } | { ok: false; reason: string };

/**
 * Checks a checkpoint note's signature against the given public key(s) and reads its fields.
 * Needs no database. A malformed key is a caller error (INVALID_KEY); a bad note is a value.
 */
export function verifyCheckpointNote(text: unknown, publicKey: unknown): NoteCheck {
  const keys: NoteVerifierKey[] = parsePublicKeys(publicKey);
  const opened = openNote(text, keys);
  if (!opened.ok) return { ok: false, reason: `checkpoint note: ${opened.reason}` };
  const body = parseCheckpointBody(opened.body);
  if (typeof body === 'string') return { ok: false, reason: `checkpoint note: ${body}` };
  if (body.origin !== opened.signer.name) {
    return {
      ok: false,
      reason: `checkpoint note: origin ${body.origin} is not the signer ${opened.signer.name}`,
    };
  }
  const checkpointHash = createHash('sha256').update(opened.body, 'utf8').digest();
  return { ok: true, checkpoint: { ...body, checkpoint_hash: checkpointHash, key_id: opened.signer.keyId } };
}

/** Checks that a project's head is a leaf of a verified checkpoint's heads tree. */
export function verifyProjectProof(proof: unknown, checkpoint: VerifiedCheckpoint): ProofCheck {
  const shape = readProjectProof(proof);
  if (typeof shape === 'string') return { ok: false, reason: `inclusion proof: ${shape}` };
  if (shape.checkpoint_seq !== checkpoint.seq) {
    return {
      ok: false,
      reason: `inclusion proof is for checkpoint ${shape.checkpoint_seq}, not ${checkpoint.seq}`,
    };
  }
  if (shape.tree_size !== checkpoint.tree_size) {
    return {
      ok: false,
      reason: `inclusion proof is for a tree of ${shape.tree_size} heads, the checkpoint has ${checkpoint.tree_size}`,
    };
  }
  const leaf = hashLeaf(encodeHeadLeaf({ project_id: shape.project_id, ...shape.head }));
  const nodes = shape.path.map((node) => Buffer.from(node, 'hex'));
  // The signed size, not the proof's, decides the shape of the tree.
  const check = verifyInclusion(shape.leaf_index, checkpoint.tree_size, leaf, nodes, checkpoint.root);
  return check.ok ? check : { ok: false, reason: `inclusion proof: ${check.reason}` };
}

/**
 * Checks that the newer checkpoint's history contains the older checkpoint: both notes are
 * verified, then the consistency proof between their checkpoint logs.
 */
export function verifyConsistencyProof(
  olderNote: unknown,
  newerNote: unknown,
  proof: unknown,
  publicKey: unknown,
): ProofCheck {
  const older = verifyCheckpointNote(olderNote, publicKey);
  if (!older.ok) return { ok: false, reason: `older ${older.reason}` };
  const newer = verifyCheckpointNote(newerNote, publicKey);
  if (!newer.ok) return { ok: false, reason: `newer ${newer.reason}` };
  const shape = readConsistencyProof(proof);
  if (typeof shape === 'string') return { ok: false, reason: `consistency proof: ${shape}` };
  if (shape.older_seq !== older.checkpoint.seq || shape.newer_seq !== newer.checkpoint.seq) {
    return { ok: false, reason: 'consistency proof: its checkpoint numbers are not those of the notes' };
  }
  const a = older.checkpoint;
  const b = newer.checkpoint;
  if (b.seq === a.seq + 1 && !b.prev_hash.equals(a.checkpoint_hash)) {
    return { ok: false, reason: `checkpoint ${b.seq} does not name checkpoint ${a.seq} as its previous one` };
  }
  const nodes = shape.path.map((node) => Buffer.from(node, 'hex'));
  const check = verifyConsistency(a.seq, b.seq, a.log_root, b.log_root, nodes);
  // The signer put each checkpoint's own leaf last in its log, so a prefix means "contains it".
  return check.ok ? check : { ok: false, reason: `consistency proof: ${check.reason}` };
}

const HEX_HASH = /^[0-9a-f]{64}$/;

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function readPath(value: unknown): string[] | string {
  if (!Array.isArray(value) || value.length > MERKLE_PROOF_NODES_MAX) {
    return `path must be a list of at most ${MERKLE_PROOF_NODES_MAX} hashes`;
  }
  return value.every((node) => typeof node === 'string' && HEX_HASH.test(node))
    ? (value as string[])
    : 'every path node must be 64 lower-case hex digits';
}

/** Validates a proof read from a file: every field present and of the right type. */
export function readProjectProof(value: unknown): ProjectProof | string {
  const proof = value as Partial<ProjectProof> | null;
  if (typeof proof !== 'object' || proof === null) return 'must be an object';
  if (typeof proof.project_id !== 'string' || proof.project_id === '') return 'project_id must be a string';
  if (!isIndex(proof.checkpoint_seq) || !isIndex(proof.tree_size) || !isIndex(proof.leaf_index)) {
    return 'checkpoint_seq, tree_size and leaf_index must be whole numbers';
  }
  const head = proof.head;
  if (
    typeof head !== 'object' ||
    head === null ||
    !isIndex(head.seq) ||
    !HEX_HASH.test(String(head.entry_hash))
  ) {
    return 'head must be { seq, entry_hash }';
  }
  const path = readPath(proof.path);
  return typeof path === 'string' ? path : { ...(proof as ProjectProof), path };
}

function readConsistencyProof(value: unknown): ConsistencyProof | string {
  const proof = value as Partial<ConsistencyProof> | null;
  if (typeof proof !== 'object' || proof === null) return 'must be an object';
  if (!isIndex(proof.older_seq) || !isIndex(proof.newer_seq))
    return 'older_seq and newer_seq must be whole numbers';
  const path = readPath(proof.path);
  return typeof path === 'string' ? path : { ...(proof as ConsistencyProof), path };
}
