import { toIsoDate } from '../db/execution-queries.js';
import { LedgerError } from '../errors.js';
import { requireLookupId } from '../record.js';
import { EXECUTION_STATUSES, type ExecutionFilter, type ExecutionStatus } from '../types.js';
import type { AnalyticsFilter } from './analytics-types.js';

/**
 * A validated analytics filter: the rollup dimensions and the range [start, end) as timestamptz
 * text, with open ends as PostgreSQL's '-infinity' and 'infinity' so every query keeps the
 * same shape (and the same index range scans) whether or not a bound was given.
 */
export interface AnalyticsScope {
  projectId: string | undefined;
  agentId: string | undefined;
  userId: string | undefined;
  statuses: ExecutionStatus[] | undefined;
  start: string;
  end: string;
}

export function toAnalyticsScope(filter: AnalyticsFilter | undefined): AnalyticsScope {
  if (filter !== undefined && (typeof filter !== 'object' || filter === null)) {
    throw new LedgerError('VALIDATION_FAILED', 'the filter must be an object such as { projectId }', {
      field: 'filter',
    });
  }
  const given = filter ?? {};
  return {
    projectId: optionalId(given.projectId, 'projectId'),
    agentId: optionalId(given.agentId, 'agentId'),
    userId: optionalId(given.userId, 'userId'),
    statuses: given.status === undefined ? undefined : requireStatuses(given.status),
    start: given.start === undefined ? '-infinity' : toIsoDate(given.start, 'start'),
    end: given.end === undefined ? 'infinity' : toIsoDate(given.end, 'end'),
  };
}

/** The seed's filters say startDate/endDate; the analytics filters say start/end. */
export function scopeOfExecutionFilter(filter: ExecutionFilter): AnalyticsScope {
  const analytics: AnalyticsFilter = {};
  if (filter.projectId !== undefined) analytics.projectId = filter.projectId;
  if (filter.agentId !== undefined) analytics.agentId = filter.agentId;
  if (filter.userId !== undefined) analytics.userId = filter.userId;
  if (filter.status !== undefined) analytics.status = filter.status;
  if (filter.startDate !== undefined) analytics.start = requireDate(filter.startDate, 'startDate');
  if (filter.endDate !== undefined) analytics.end = requireDate(filter.endDate, 'endDate');
  return toAnalyticsScope(analytics);
}

/** A limit such as a top-N size: a whole number from 1 to `max`, or `fallback` when absent. */
export function requireLimit(value: unknown, field: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} must be a whole number from 1 to ${max}; got ${String(value)}`,
      { field },
    );
  }
  return value;
}

function requireDate(value: unknown, field: string): Date {
  toIsoDate(value, field);
  return value as Date;
}

function optionalId(value: unknown, field: string): string | undefined {
  return value === undefined ? undefined : requireLookupId(value, field);
}

function requireStatuses(value: unknown): ExecutionStatus[] {
  const list = Array.isArray(value) ? value : [value];
  for (const status of list) {
    if (!(EXECUTION_STATUSES as readonly unknown[]).includes(status)) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `status must be one of ${EXECUTION_STATUSES.join(', ')}; got ${JSON.stringify(status)}`,
        { field: 'status' },
      );
    }
  }
  return list as ExecutionStatus[];
}

/** `where` clauses over the entries (alias `e`) for a scope; values always travel as parameters. */
export function entryClauses(scope: AnalyticsScope, params: unknown[]): string[] {
  const add = (sql: string, value: unknown) => {
    params.push(value);
    return sql.replace('?', `$${params.length}`);
  };
  const clauses: string[] = [];
  if (scope.projectId !== undefined) clauses.push(add('e.project_id = ?', scope.projectId));
  if (scope.agentId !== undefined) clauses.push(add('e.agent_id = ?', scope.agentId));
  if (scope.userId !== undefined) clauses.push(add('e.user_id = ?', scope.userId));
  if (scope.statuses !== undefined) clauses.push(add('e.status = any(?::text[])', scope.statuses));
  clauses.push(add('e.created_at >= ?::timestamptz', scope.start));
  clauses.push(add('e.created_at < ?::timestamptz', scope.end));
  return clauses;
}
