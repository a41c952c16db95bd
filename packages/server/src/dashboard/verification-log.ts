import type { VerificationReport } from 'execution-ledger/verify';

/** One verification of a project's chain, as the dashboard last saw it. */
export interface VerificationEntry {
  at: string;
  by: string;
  report: VerificationReport;
}

/**
 * The newest verification of each project run from this server process (dashboard or API
 * through it). The ledger does not store verifications, so a restart forgets them: the
 * integrity page says so, and a new verification takes one click.
 */
export class VerificationLog {
  private readonly entries = new Map<string, VerificationEntry>();

  record(report: VerificationReport, by: string): VerificationEntry {
    const entry = { at: new Date().toISOString(), by, report };
    this.entries.set(report.project_id, entry);
    return entry;
  }

  latest(projectId: string): VerificationEntry | undefined {
    return this.entries.get(projectId);
  }
}
