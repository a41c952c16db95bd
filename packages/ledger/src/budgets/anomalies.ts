import type { Database } from '../db/database.js';
import { LedgerError } from '../errors.js';

/** How anomalies are detected (docs/alerts.md). */
export interface AnomalySettings {
  /** Off by default: appends pay nothing for detection until it is on. */
  enabled: boolean;
  /** Runs per (project, agent) the cost and duration scores look back on (default 50). */
  window_runs: number;
  /** A robust score above it is an anomaly (default 3.5). */
  threshold: number;
  /** Runs a window must hold before it scores (default 20). */
  min_sample: number;
  /** Days the daily spend is compared with (default 14). */
  daily_days: number;
  /** Days of history the daily check needs before it scores (default 7). */
  daily_min_days: number;
}

const LIMITS: Record<Exclude<keyof AnomalySettings, 'enabled' | 'threshold'>, [number, number]> = {
  window_runs: [5, 1_000],
  min_sample: [3, 1_000],
  daily_days: [3, 366],
  daily_min_days: [2, 366],
};

/** Anomaly detection per (project, agent), run by a trigger in each append's transaction. */
export class LedgerAnomalies {
  constructor(private readonly ready: () => Promise<Database>) {}

  async settings(): Promise<AnomalySettings> {
    const database = await this.ready();
    const [row] = await database.query<Record<string, unknown>>(
      'select enabled, window_runs, threshold, min_sample, daily_days, daily_min_days from execution_ledger.anomaly_settings',
    );
    return {
      enabled: row?.enabled === true,
      window_runs: Number(row?.window_runs),
      threshold: Number(row?.threshold),
      min_sample: Number(row?.min_sample),
      daily_days: Number(row?.daily_days),
      daily_min_days: Number(row?.daily_min_days),
    };
  }

  /** Changes the settings given and keeps the others; returns them all. */
  async configure(changes: Partial<AnomalySettings>): Promise<AnomalySettings> {
    if (changes === null || typeof changes !== 'object')
      fail('settings', 'must be an object such as { enabled: true }');
    const next = { ...(await this.settings()), ...changes };
    if (typeof next.enabled !== 'boolean') fail('enabled', 'must be true or false');
    if (
      typeof next.threshold !== 'number' ||
      !Number.isFinite(next.threshold) ||
      next.threshold <= 0 ||
      next.threshold > 100
    ) {
      fail('threshold', `must be a number above 0 and at most 100; got ${String(next.threshold)}`);
    }
    for (const [field, [min, max]] of Object.entries(LIMITS)) {
      const value = next[field as keyof typeof LIMITS];
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        fail(field, `must be a whole number from ${min} to ${max}; got ${String(value)}`);
      }
    }
    if (next.min_sample > next.window_runs)
      fail('min_sample', `must be at most window_runs (${next.window_runs})`);
    if (next.daily_min_days > next.daily_days)
      fail('daily_min_days', `must be at most daily_days (${next.daily_days})`);
    const database = await this.ready();
    await database.query('select execution_ledger.anomaly_configure($1, $2, $3, $4, $5, $6)', [
      next.enabled,
      next.window_runs,
      next.threshold,
      next.min_sample,
      next.daily_days,
      next.daily_min_days,
    ]);
    return this.settings();
  }
}

function fail(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}
