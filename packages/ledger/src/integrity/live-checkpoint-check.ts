import { queryCheckpoint, queryCheckpointHeads, queryEntryHashAt } from '../db/checkpoint-queries.js';
import type { Queryable } from '../db/database.js';
import { compareWithCommittedHead, failWithoutEntry } from '../format/anchor-check.js';
import { addProblem, type VerificationReport } from '../format/chain-verifier.js';
import { compareProjectIds, encodeHeadLeaf, parseCheckpointBody } from '../format/checkpoint-encoding.js';
import type { CheckpointCheck } from '../format/checkpoint-types.js';
import { verifyCheckpointNote } from '../format/checkpoint-verifier.js';
import { hashLeaf, merkleRoot } from '../format/merkle-tree.js';
import type { NoteVerifierKey } from '../format/signing-key.js';

/**
 * The online half of checkpoint verification: compares the newest stored checkpoint with the
 * live chain of one project and adds what it finds to the report. The stored heads are
 * re-hashed into the signed root, so editing them is caught too; with public keys the note's
 * signature is checked as well, which catches a rewritten note.
 */
export async function checkNewestCheckpoint(
  q: Queryable,
  report: VerificationReport,
  keys: NoteVerifierKey[] | null,
): Promise<CheckpointCheck | null> {
  const row = await queryCheckpoint(q, null);
  if (row === null) return null;
  const base = { seq: row.seq, tree_size: row.tree_size, head: null, entries_after_checkpoint: 0 };
  const signed = keys === null ? null : verifyCheckpointNote(row.note, keys);
  const signature = signed === null ? 'not_checked' : signed.ok ? 'valid' : 'invalid';
  const failed = (reason: string): CheckpointCheck => {
    failWithoutEntry(report, reason);
    return { ...base, ok: false, signature, reason };
  };
  if (signed !== null && !signed.ok) return failed(signed.reason);
  const body = parseCheckpointBody(row.note.slice(0, row.note.indexOf('\n\n') + 1));
  if (typeof body === 'string') return failed(`checkpoint ${row.seq}: ${body}`);
  if (body.seq !== row.seq || body.tree_size !== row.tree_size || body.root.toString('hex') !== row.root) {
    return failed(
      `checkpoint ${row.seq}: the stored columns differ from its signed note (checkpoint data was edited)`,
    );
  }
  const heads = (await queryCheckpointHeads(q, row.seq)).sort((a, b) =>
    compareProjectIds(a.project_id, b.project_id),
  );
  if (!merkleRoot(heads.map((head) => hashLeaf(encodeHeadLeaf(head)))).equals(body.root)) {
    return failed(
      `checkpoint ${row.seq}: the stored heads no longer hash to its signed root (checkpoint data was edited)`,
    );
  }
  const committed = heads.find((head) => head.project_id === report.project_id);
  if (committed === undefined) return { ...base, ok: true, signature, reason: null };
  const head = { seq: committed.seq, entry_hash: committed.entry_hash };
  const lastSeq = report.head?.seq ?? 0;
  const found = await queryEntryHashAt(q, report.project_id, committed.seq);
  const problem = compareWithCommittedHead(row.seq, head, lastSeq, found);
  if (problem !== null) {
    addProblem(report, problem.seq, problem.reason);
    return { ...base, head, ok: false, signature, reason: problem.reason };
  }
  return {
    ...base,
    head,
    ok: true,
    signature,
    reason: null,
    entries_after_checkpoint: lastSeq - committed.seq,
  };
}
