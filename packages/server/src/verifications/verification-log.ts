import assert from 'node:assert/strict';
import type { Ledger } from 'execution-ledger';
import type { OwnedSchema } from 'execution-ledger/database';
import type { VerificationReport } from 'execution-ledger/verify';
import { API_KEY_MIGRATIONS } from '../keys/api-key-migrations.js';

/** One verification of a project's chain, as recorded. */
export interface VerificationEntry {
  /** When it finished, ISO 8601 in UTC. */
  at: string;
  /** The name of the key that asked for it. */
  by: string;
  report: VerificationReport;
}

interface VerificationRow {
  project_id: string;
  verified_at: string;
  key_id: string;
  key_name: string;
  report: VerificationReport | string;
}

/**
 * The verifications run through the service (dashboard or API), kept in the service's schema
 * (sql/0003_chain_verifications.sql): the newest of each project survives a restart and is the
 * same in every process.
 */
export class VerificationLog {
  private readonly schema: OwnedSchema;

  constructor(ledger: Ledger) {
    this.schema = ledger.ownedSchema(API_KEY_MIGRATIONS);
  }

  async record(report: VerificationReport, by: { id: string; name: string }): Promise<VerificationEntry> {
    const rows = await this.schema.call<VerificationRow>('record_chain_verification', [
      by.id,
      by.name,
      JSON.stringify(report),
    ]);
    const row = rows[0];
    assert(row !== undefined, 'record_chain_verification answers one row');
    // The report as the library made it; the stored copy reads back the same.
    return { at: row.verified_at, by: row.key_name, report };
  }

  /** The newest verification of each given project that has one. */
  async latest(projectIds: readonly string[]): Promise<Map<string, VerificationEntry>> {
    if (projectIds.length === 0) return new Map();
    const rows = await this.schema.call<VerificationRow>('newest_chain_verifications', [[...projectIds]]);
    return new Map(rows.map((row) => [row.project_id, toEntry(row)]));
  }
}

function toEntry(row: VerificationRow): VerificationEntry {
  const report = typeof row.report === 'string' ? (JSON.parse(row.report) as VerificationReport) : row.report;
  return { at: row.verified_at, by: row.key_name, report };
}
