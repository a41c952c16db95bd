import { LedgerError } from '../errors.js';
import { assertJsonText, preview } from '../plain-json.js';
import {
  EXECUTION_STATUSES,
  type ExecutionFilter,
  type ExecutionStatus,
  type SeedDateRange,
} from '../types.js';

export type { ExecutionFilter, SeedDateRange };

/** A filter checked once: ids and statuses as given, the range as timestamptz text. */
export interface FilterScope {
  projectId: string | undefined;
  agentId: string | undefined;
  userId: string | undefined;
  parentRunId: string | undefined;
  statuses: ExecutionStatus[] | undefined;
  /** ISO 8601, or '-infinity' when the range is open below. */
  start: string;
  /** ISO 8601, or 'infinity' when the range is open above. */
  end: string;
}

export interface ScopeRules {
  /** Analytics read the hourly rollups, which have no parent run: they refuse a parentRunId. */
  parentRunId: 'accept' | 'refuse';
}

const OPEN_START = '-infinity';
const OPEN_END = 'infinity';

/**
 * Checks a filter and returns its scope, or throws VALIDATION_FAILED naming the field. Ids in a
 * filter obey the lookup rule (non-empty, no NUL or lone surrogate, no length limit, so ids
 * stored before a limit existed can still be found). A range whose end is not after its start
 * is valid and matches nothing, as the half-open range [start, end) says.
 */
export function toFilterScope(
  filter: ExecutionFilter | undefined,
  rules: ScopeRules = { parentRunId: 'accept' },
): FilterScope {
  if (filter !== undefined && (typeof filter !== 'object' || filter === null || Array.isArray(filter))) {
    throw new LedgerError('VALIDATION_FAILED', 'the filter must be an object such as { projectId }', {
      field: 'filter',
    });
  }
  const given: ExecutionFilter = filter ?? {};
  if (rules.parentRunId === 'refuse' && given.parentRunId !== undefined) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'parentRunId is not an analytics filter: analytics read hourly rollups by project, agent, user and ' +
        'status; list the runs with listExecutions({ parentRunId }) instead',
      { field: 'parentRunId' },
    );
  }
  const projectId = optionalId(given.projectId, 'projectId');
  const agentId = optionalId(given.agentId, 'agentId');
  const userId = optionalId(given.userId, 'userId');
  const parentRunId = optionalId(given.parentRunId, 'parentRunId');
  const statuses = given.status === undefined ? undefined : requireStatuses(given.status);
  const start = given.start === undefined ? undefined : requireDate(given.start, 'start');
  const end = given.end === undefined ? undefined : requireDate(given.end, 'end');
  return {
    projectId,
    agentId,
    userId,
    parentRunId,
    statuses,
    start: start === undefined ? OPEN_START : start.toISOString(),
    end: end === undefined ? OPEN_END : end.toISOString(),
  };
}

/**
 * `where` clauses over the entries (alias `e`) for a scope; values always travel as parameters.
 * An open end of the range adds no clause.
 */
export function scopeClauses(scope: FilterScope, params: unknown[]): string[] {
  const clauses: string[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    clauses.push(sql.replace('?', `$${params.length}`));
  };
  if (scope.projectId !== undefined) add('e.project_id = ?', scope.projectId);
  if (scope.agentId !== undefined) add('e.agent_id = ?', scope.agentId);
  if (scope.userId !== undefined) add('e.user_id = ?', scope.userId);
  if (scope.parentRunId !== undefined) add('e.parent_run_id = ?', scope.parentRunId);
  if (scope.statuses !== undefined) add('e.status = any(?::text[])', scope.statuses);
  if (scope.start !== OPEN_START) add('e.created_at >= ?::timestamptz', scope.start);
  if (scope.end !== OPEN_END) add('e.created_at < ?::timestamptz', scope.end);
  return clauses;
}

export function whereSql(clauses: string[]): string {
  return clauses.length === 0 ? '' : `where ${clauses.join(' and ')}`;
}

/** True when the scope keeps every entry of its project: no field but the project is set. */
export function isWholeProject(scope: FilterScope): boolean {
  return (
    scope.agentId === undefined &&
    scope.userId === undefined &&
    scope.parentRunId === undefined &&
    scope.statuses === undefined &&
    scope.start === OPEN_START &&
    scope.end === OPEN_END
  );
}

/**
 * Turns the seed's `startDate`/`endDate` into `start`/`end`, checking each under the name the
 * caller used. Giving both names for one bound is refused: the two could disagree.
 */
export function fromSeedDates(filter: ExecutionFilter & SeedDateRange): ExecutionFilter {
  if (typeof filter !== 'object' || filter === null) return filter;
  const { startDate, endDate, ...rest } = filter;
  if (startDate === undefined && endDate === undefined) return filter;
  const result: ExecutionFilter = rest;
  if (startDate !== undefined) {
    refuseBoth(result.start, 'start', 'startDate');
    result.start = requireDate(startDate, 'startDate');
  }
  if (endDate !== undefined) {
    refuseBoth(result.end, 'end', 'endDate');
    result.end = requireDate(endDate, 'endDate');
  }
  return result;
}

/** The seed's positional `(startDate?, endDate?)` as a filter's range. */
export function seedRange(startDate: Date | undefined, endDate: Date | undefined): ExecutionFilter {
  return fromSeedDates({
    ...(startDate === undefined ? {} : { startDate }),
    ...(endDate === undefined ? {} : { endDate }),
  });
}

function refuseBoth(current: unknown, name: string, seedName: string): void {
  if (current === undefined) return;
  throw new LedgerError(
    'VALIDATION_FAILED',
    `${seedName} and ${name} name the same bound; give only ${name} (${seedName} is its older name)`,
    { field: seedName },
  );
}

/** A valid Date, or VALIDATION_FAILED naming the field. */
export function requireDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new LedgerError('VALIDATION_FAILED', `${field} must be a valid Date; got ${String(value)}`, {
      field,
    });
  }
  return value;
}

function optionalId(value: unknown, field: string): string | undefined {
  return value === undefined ? undefined : requireLookupId(value, field);
}

function requireStatuses(value: unknown): ExecutionStatus[] {
  const list: unknown[] = Array.isArray(value) ? value : [value];
  const statuses: ExecutionStatus[] = [];
  for (const status of list) {
    const known = EXECUTION_STATUSES.find((name) => name === status);
    if (known === undefined) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `status must be one of ${EXECUTION_STATUSES.join(', ')}; got ${JSON.stringify(status)}`,
        { field: 'status' },
      );
    }
    statuses.push(known);
  }
  return statuses;
}

/** A count such as a page size or a batch size: a whole number from 1 to `max`, or `fallback`. */
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

/**
 * An identifier to look up (a filter, a run id to get): a non-empty string that PostgreSQL can
 * compare, so no NUL and no lone surrogate, which would otherwise fail in the database as an
 * internal error. Other rules of stored ids are not applied: an id that breaks them (or is
 * longer than this ledger stores) is simply not found, and rows written outside the library
 * stay reachable.
 */
export function requireLookupId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new LedgerError('VALIDATION_FAILED', `${field} must be a non-empty string; got ${preview(value)}`, {
      field,
    });
  }
  assertJsonText(value, field);
  return value;
}
