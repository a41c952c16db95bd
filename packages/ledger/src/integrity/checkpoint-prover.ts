import { queryCheckpoint, queryCheckpointHeads, queryCheckpointHistory } from '../db/checkpoint-queries.js';
import type { Queryable } from '../db/database.js';
import { LedgerError } from '../errors.js';
import { compareProjectIds, encodeHeadLeaf } from '../format/checkpoint-encoding.js';
import type { Checkpoint, ConsistencyProof, ProjectProof } from '../format/checkpoint-types.js';
import { consistencyProof, hashLeaf, inclusionProof } from '../format/merkle-tree.js';
import { checkpointLeafHash, toCheckpoint } from './checkpoint-writer.js';

/** A checkpoint named by its sequence number or given whole; omitted means the newest. */
export type CheckpointRef = number | Pick<Checkpoint, 'seq'>;

/** The stored checkpoint `ref` names; CHECKPOINT_NOT_FOUND when there is none. */
export async function findCheckpoint(q: Queryable, ref?: CheckpointRef): Promise<Checkpoint> {
  const seq = ref === undefined ? null : requireSeq(ref);
  const row = await queryCheckpoint(q, seq);
  if (row === null) {
    throw new LedgerError(
      'CHECKPOINT_NOT_FOUND',
      seq === null
        ? 'no checkpoint exists yet; create one with ledger.createCheckpoint({ privateKey })'
        : `checkpoint ${seq} does not exist; pass the seq of a stored checkpoint, or omit it for the newest`,
      { field: 'checkpoint' },
    );
  }
  return toCheckpoint(row);
}

/**
 * The inclusion proof of `projectId`'s head in a checkpoint, or null when the project had no
 * entry yet at that checkpoint. The proof names no other project: only sibling hashes.
 */
export async function proveProjectHead(
  q: Queryable,
  projectId: string,
  ref?: CheckpointRef,
): Promise<ProjectProof | null> {
  const checkpoint = await findCheckpoint(q, ref);
  const heads = (await queryCheckpointHeads(q, checkpoint.seq)).sort((a, b) =>
    compareProjectIds(a.project_id, b.project_id),
  );
  const index = heads.findIndex((head) => head.project_id === projectId);
  const head = heads[index];
  if (head === undefined) return null;
  const path = inclusionProof(
    index,
    heads.map((item) => hashLeaf(encodeHeadLeaf(item))),
  );
  return {
    project_id: projectId,
    checkpoint_seq: checkpoint.seq,
    tree_size: heads.length,
    leaf_index: index,
    head: { seq: head.seq, entry_hash: head.entry_hash },
    path: path.map((node) => node.toString('hex')),
  };
}

/** The RFC 6962 consistency proof between the checkpoint logs of two checkpoints. */
export async function proveCheckpointConsistency(
  q: Queryable,
  older: CheckpointRef,
  newer: CheckpointRef,
): Promise<ConsistencyProof> {
  const olderSeq = (await findCheckpoint(q, older)).seq;
  const newerSeq = (await findCheckpoint(q, newer)).seq;
  if (olderSeq > newerSeq) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `older checkpoint ${olderSeq} comes after newer checkpoint ${newerSeq}; pass the earlier one first`,
      { field: 'older' },
    );
  }
  const leaves = (await queryCheckpointHistory(q, newerSeq)).map(checkpointLeafHash);
  return {
    older_seq: olderSeq,
    newer_seq: newerSeq,
    path: consistencyProof(olderSeq, leaves).map((node) => node.toString('hex')),
  };
}

function requireSeq(ref: CheckpointRef): number {
  const seq = typeof ref === 'number' ? ref : ref?.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `checkpoint must be a checkpoint or its seq (a whole number ≥ 1); got ${String(seq)}`,
      { field: 'checkpoint' },
    );
  }
  return seq;
}
