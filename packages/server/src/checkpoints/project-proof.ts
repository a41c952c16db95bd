import {
  type Checkpoint,
  isLedgerError,
  type Ledger,
  LedgerError,
  type ProjectProof,
} from 'execution-ledger';

/**
 * A stored checkpoint by seq, or the newest. CHECKPOINT_NOT_FOUND says how to make one with
 * the command line and the service, which is what users of both meet first.
 */
export async function findCheckpoint(ledger: Ledger, seq?: number): Promise<Checkpoint> {
  try {
    return await ledger.getCheckpoint(seq);
  } catch (error) {
    if (!isLedgerError(error, 'CHECKPOINT_NOT_FOUND')) throw error;
    throw new LedgerError(
      'CHECKPOINT_NOT_FOUND',
      seq === undefined
        ? 'no checkpoint exists yet; make one with `execution-ledger checkpoint --private-key <file>`, ' +
            'or run `execution-ledger serve --checkpoint-key <file>`'
        : `checkpoint ${seq} does not exist; pass the seq of a stored checkpoint, or omit it for the newest`,
      { field: 'checkpoint', cause: error },
    );
  }
}

/**
 * The inclusion proof of a project's head in a checkpoint (default the newest). `visible`
 * false answers exactly as for a project the checkpoint does not hold, so a caller learns
 * nothing about projects it may not see.
 */
export async function requireProjectProof(
  ledger: Ledger,
  projectId: string,
  options: { checkpoint?: number; visible?: boolean } = {},
): Promise<ProjectProof> {
  const checkpoint = await findCheckpoint(ledger, options.checkpoint);
  const proof = options.visible === false ? null : await ledger.proveProject(projectId, checkpoint.seq);
  if (proof === null) {
    throw new LedgerError(
      'PROOF_NOT_FOUND',
      `checkpoint ${checkpoint.seq} holds no head of project ${JSON.stringify(projectId)} visible here: ` +
        'the project had no entry yet when it was made; make a new checkpoint after its first entry',
      { field: 'project_id' },
    );
  }
  return proof;
}
