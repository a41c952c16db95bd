import {
  type CheckpointRow,
  insertCheckpoint,
  lockCheckpoints,
  queryCheckpointHeads,
  queryCheckpointHistory,
  queryCurrentHeads,
  queryEntryHashes,
} from '../db/checkpoint-queries.js';
import type { Database, Queryable } from '../db/database.js';
import {
  compareProjectIds,
  encodeCheckpointLeaf,
  encodeHeadLeaf,
  FIRST_PREV_HASH,
  formatCheckpointBody,
  type ProjectHead,
} from '../format/checkpoint-encoding.js';
import type { Checkpoint, CheckpointResult, DivergedProject } from '../format/checkpoint-types.js';
import { hashLeaf, merkleRoot } from '../format/merkle-tree.js';
import { signNote } from '../format/signed-note.js';
import type { SigningKey } from '../format/signing-key.js';

export interface CheckpointWriteOptions {
  signingKey: SigningKey;
  /** Make no checkpoint when no head moved since the newest one (for periodic checkpoints). */
  onlyIfChanged?: boolean;
  /** The clock, in epoch milliseconds; tests pin it. */
  nowMs?: () => number;
}

/**
 * Builds, signs and stores the next checkpoint in one transaction under the checkpoint lock.
 * A project whose live chain lost the head the previous checkpoint committed to is not
 * re-signed: its old head is carried forward and it is reported as diverged.
 */
export async function writeCheckpoint(
  database: Database,
  options: CheckpointWriteOptions,
): Promise<CheckpointResult> {
  return database.transaction(async (tx) => {
    await lockCheckpoints(tx);
    const history = await queryCheckpointHistory(tx);
    const last = history[history.length - 1];
    const previous = last === undefined ? [] : await queryCheckpointHeads(tx, last.seq);
    const plan = await planHeads(tx, previous, await queryCurrentHeads(tx));
    if (options.onlyIfChanged === true && last !== undefined && plan.changed.length === 0) {
      return { created: false, checkpoint: toCheckpoint(last), heads_changed: 0, diverged: plan.diverged };
    }
    const seq = (last?.seq ?? 0) + 1;
    const createdAtMs = Math.max((options.nowMs ?? Date.now)(), last?.created_at_ms ?? 0);
    const root = merkleRoot(plan.heads.map((head) => hashLeaf(encodeHeadLeaf(head))));
    const prevHash = last === undefined ? FIRST_PREV_HASH : Buffer.from(last.checkpoint_hash, 'hex');
    const leafFields = { seq, createdAtMs, treeSize: plan.heads.length, root, prevHash };
    const logRoot = merkleRoot([
      ...history.map(checkpointLeafHash),
      hashLeaf(encodeCheckpointLeaf(leafFields)),
    ]);
    const origin = options.signingKey.name;
    const body = formatCheckpointBody({
      origin,
      tree_size: plan.heads.length,
      root,
      seq,
      created_at_ms: createdAtMs,
      prev_hash: prevHash,
      log_root: logRoot,
    });
    const note = signNote(body, options.signingKey);
    const checkpointHash = await insertCheckpoint(tx, {
      ...leafFields,
      logRoot,
      origin,
      keyId: options.signingKey.keyId,
      note,
      changedHeads: plan.changed,
    });
    const checkpoint: Checkpoint = {
      seq,
      created_at: new Date(createdAtMs).toISOString(),
      tree_size: plan.heads.length,
      root: root.toString('hex'),
      prev_hash: prevHash.toString('hex'),
      log_root: logRoot.toString('hex'),
      origin,
      key_id: options.signingKey.keyId,
      checkpoint_hash: checkpointHash,
      note,
    };
    return { created: true, checkpoint, heads_changed: plan.changed.length, diverged: plan.diverged };
  });
}

interface HeadPlan {
  /** Every head of the new checkpoint, in tree order. */
  heads: ProjectHead[];
  changed: ProjectHead[];
  diverged: DivergedProject[];
}

/**
 * Merges the previous checkpoint's heads with the live ones. A moved head is accepted only if
 * the live chain still holds the previous head at its seq with its hash (a truncated or
 * rewritten chain does not).
 */
async function planHeads(q: Queryable, previous: ProjectHead[], current: ProjectHead[]): Promise<HeadPlan> {
  const byProject = new Map(previous.map((head) => [head.project_id, head]));
  const live = new Map(current.map((head) => [head.project_id, head]));
  const moved = [...byProject.values()].filter((head) => !sameHead(head, live.get(head.project_id)));
  const stored = moved.length === 0 ? new Map<string, string | null>() : await queryEntryHashes(q, moved);
  const diverged: DivergedProject[] = [];
  for (const old of moved) {
    const found = stored.get(old.project_id) ?? null;
    if (found === old.entry_hash) continue;
    diverged.push({
      project_id: old.project_id,
      committed_head: { seq: old.seq, entry_hash: old.entry_hash },
      reason:
        found === null
          ? `entry ${old.seq}, the head of the previous checkpoint, is gone (the chain was truncated or deleted)`
          : `entry ${old.seq} no longer has the entry_hash the previous checkpoint committed to (the chain was rewritten)`,
    });
    live.delete(old.project_id);
  }
  const changed = [...live.values()].filter((head) => !sameHead(byProject.get(head.project_id), head));
  const merged = new Map(byProject);
  for (const head of changed) merged.set(head.project_id, head);
  const heads = [...merged.values()].sort((a, b) => compareProjectIds(a.project_id, b.project_id));
  return { heads, changed, diverged };
}

function sameHead(left: ProjectHead | undefined, right: ProjectHead | undefined): boolean {
  return (
    left !== undefined &&
    right !== undefined &&
    left.seq === right.seq &&
    left.entry_hash === right.entry_hash
  );
}

export function checkpointLeafHash(row: CheckpointRow): Buffer {
  return hashLeaf(
    encodeCheckpointLeaf({
      seq: row.seq,
      createdAtMs: row.created_at_ms,
      treeSize: row.tree_size,
      root: Buffer.from(row.root, 'hex'),
      prevHash: Buffer.from(row.prev_hash, 'hex'),
    }),
  );
}

export function toCheckpoint(row: CheckpointRow): Checkpoint {
  const { created_at_ms: _createdAtMs, ...checkpoint } = row;
  return checkpoint;
}
