import type { ChainProblem, VerificationReport } from './chain-verifier.js';

/**
 * The one comparison both verifiers make: does the chain still hold the head a checkpoint
 * committed to? Returns the problem (with the first seq it concerns) or null.
 */
export function compareWithCommittedHead(
  checkpointSeq: number,
  committed: { seq: number; entry_hash: string },
  lastSeq: number,
  hashAtCommittedSeq: string | null,
): ChainProblem | null {
  if (hashAtCommittedSeq === null || lastSeq < committed.seq) {
    return {
      seq: lastSeq + 1,
      reason:
        `the chain ends at seq ${lastSeq} but checkpoint ${checkpointSeq} commits to seq ${committed.seq}: ` +
        `entries ${lastSeq + 1}..${committed.seq} are missing (the tail was cut)`,
    };
  }
  if (hashAtCommittedSeq !== committed.entry_hash) {
    return {
      seq: committed.seq,
      reason:
        `entry ${committed.seq} has another entry_hash than the head checkpoint ${checkpointSeq} commits to ` +
        '(the chain was rewritten at or before this entry)',
    };
  }
  return null;
}

/** Marks the report failed for a reason that concerns no single entry (a signature, a proof). */
export function failWithoutEntry(report: VerificationReport, reason: string): void {
  if (report.ok) {
    report.ok = false;
    report.reason = reason;
  }
}
