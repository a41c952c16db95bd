import type { Ledger } from 'execution-ledger';
import type { NoteVerifierKey } from 'execution-ledger/verify';
import { type VerificationEntry, VerificationLog } from './verification-log.js';

/** How far a running verification of a project has come. */
export interface RunningVerification {
  project_id: string;
  /** When it started, ISO 8601 in UTC. */
  started_at: string;
  /** The name of the key that started it. */
  by: string;
  entries_checked: number;
  entries_total: number;
  /** Requests waiting for its answer: the one that started it and those that joined it since. */
  requests: number;
}

interface Running {
  progress: RunningVerification;
  done: Promise<VerificationEntry>;
}

/**
 * Verifies projects' chains for the service and records each result in the verification log.
 * While one runs, its progress can be read by project, and a second request for the same
 * project (with the same public keys or none) waits for it instead of reading the chain again.
 * Progress lives in this process; the results are in the database.
 */
export class ProjectVerifier {
  readonly log: VerificationLog;
  private readonly running = new Map<string, Running>();

  constructor(private readonly ledger: Ledger) {
    this.log = new VerificationLog(ledger);
  }

  /** Verifies the project now, or joins the verification already running, and records it. */
  verify(
    projectId: string,
    by: { id: string; name: string },
    publicKeys?: readonly NoteVerifierKey[],
  ): Promise<VerificationEntry> {
    const slot = `${publicKeys === undefined ? 'unsigned' : 'signed'}:${projectId}`;
    const joined = this.running.get(slot);
    if (joined !== undefined) {
      joined.progress.requests += 1;
      return joined.done;
    }
    const progress: RunningVerification = {
      project_id: projectId,
      started_at: new Date().toISOString(),
      by: by.name,
      entries_checked: 0,
      entries_total: 0,
      requests: 1,
    };
    const done = (async () => {
      try {
        const report = await this.ledger.verifyLedger(projectId, {
          ...(publicKeys === undefined ? {} : { publicKey: [...publicKeys] }),
          onProgress: (step) => {
            progress.entries_checked = step.entries_checked;
            progress.entries_total = step.entries_total;
          },
        });
        return await this.log.record(report, by);
      } finally {
        this.running.delete(slot);
      }
    })();
    this.running.set(slot, { progress, done });
    return done;
  }

  /** The verification of the project running in this process, if one is. */
  progress(projectId: string): RunningVerification | undefined {
    for (const slot of ['signed', 'unsigned']) {
      const running = this.running.get(`${slot}:${projectId}`);
      if (running !== undefined) return { ...running.progress };
    }
    return undefined;
  }
}
