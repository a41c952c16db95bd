import {
  BUDGET_THRESHOLDS_MAX,
  DEFAULT_LIMITS,
  RESERVATION_TTL_MS_DEFAULT,
  RESERVATION_TTL_MS_MAX,
} from '../bounds.js';
import { LedgerError } from '../errors.js';
import { centsToMicros } from '../money.js';
import { requireId } from '../record.js';

export const BUDGET_PERIODS = ['day', 'week', 'month', 'total'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export const BUDGET_ACTIONS = ['warn', 'block'] as const;
export type BudgetAction = (typeof BUDGET_ACTIONS)[number];
export const DEFAULT_THRESHOLDS: readonly number[] = [50, 80, 100];

/** Whose runs a budget counts: every given id must match; at least one is given. */
export interface BudgetScope {
  project_id?: string | null;
  agent_id?: string | null;
  user_id?: string | null;
}

export interface BudgetDefinition extends BudgetScope {
  /** The budget's name, chosen by the caller; setting it again replaces the budget. */
  id: string;
  /** 'day', 'week' (from Monday), 'month' in `time_zone`, or 'total' (all time). */
  period: BudgetPeriod;
  /** An IANA time zone such as 'Europe/Paris'; default 'UTC'. */
  time_zone?: string;
  /** The limit per period in cents (up to six decimals). */
  limit_cents: number;
  /** Percentages of the limit whose crossing is an event; default [50, 80, 100]. */
  thresholds?: number[];
  /** 'block' refuses reservations past the limit; 'warn' only records events. Default 'block'. */
  action?: BudgetAction;
}

export interface CheckedBudget {
  id: string;
  project_id: string | null;
  agent_id: string | null;
  user_id: string | null;
  period: BudgetPeriod;
  time_zone: string;
  limit_micros: bigint;
  thresholds: number[];
  action: BudgetAction;
}

/** The identity of the work a reservation is for: the run will be recorded with these ids. */
export interface ReservationScope {
  project_id: string;
  agent_id: string;
  user_id: string;
}

export function checkBudget(input: unknown): CheckedBudget {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    fail('budget', 'must be an object such as { id, project_id, period: "day", limit_cents: 50000 }');
  }
  const budget = input as BudgetDefinition;
  const known = new Set([
    'id',
    'project_id',
    'agent_id',
    'user_id',
    'period',
    'time_zone',
    'limit_cents',
    'thresholds',
    'action',
  ]);
  for (const key of Object.keys(budget)) {
    if (!known.has(key)) fail(key, `is not a budget field; a budget has ${[...known].join(', ')}`);
  }
  const scope = {
    project_id: optionalId(budget.project_id, 'project_id'),
    agent_id: optionalId(budget.agent_id, 'agent_id'),
    user_id: optionalId(budget.user_id, 'user_id'),
  };
  if (scope.project_id === null && scope.agent_id === null && scope.user_id === null) {
    fail(
      'project_id',
      'or agent_id or user_id must be given: a budget counts the runs of a project, an agent, a user or a combination',
    );
  }
  if (!(BUDGET_PERIODS as readonly unknown[]).includes(budget.period)) {
    fail('period', `must be one of ${BUDGET_PERIODS.join(', ')}; got ${describe(budget.period)}`);
  }
  const action = budget.action ?? 'block';
  if (!(BUDGET_ACTIONS as readonly unknown[]).includes(action)) {
    fail('action', `must be 'warn' or 'block'; got ${describe(action)}`);
  }
  const limit = centsToMicros(budget.limit_cents, 'limit_cents', DEFAULT_LIMITS.cost_cents_max);
  if (limit === 0n) fail('limit_cents', 'must be more than zero; delete the budget to stop counting');
  return {
    id: requireId(budget.id, 'id', DEFAULT_LIMITS),
    ...scope,
    period: budget.period,
    time_zone: checkTimeZone(budget.time_zone ?? 'UTC'),
    limit_micros: limit,
    thresholds: checkThresholds(budget.thresholds ?? DEFAULT_THRESHOLDS),
    action,
  };
}

export function checkReservationScope(input: unknown): ReservationScope {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    fail('scope', 'must be an object { project_id, agent_id, user_id } naming the run the work will record');
  }
  const scope = input as Record<string, unknown>;
  return {
    project_id: requireId(scope.project_id, 'project_id', DEFAULT_LIMITS),
    agent_id: requireId(scope.agent_id, 'agent_id', DEFAULT_LIMITS),
    user_id: requireId(scope.user_id, 'user_id', DEFAULT_LIMITS),
  };
}

export function checkTtl(value: unknown): number {
  if (value === undefined) return RESERVATION_TTL_MS_DEFAULT;
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 1 ||
    value > RESERVATION_TTL_MS_MAX
  ) {
    fail(
      'ttl_ms',
      `must be a whole number of milliseconds from 1 to ${RESERVATION_TTL_MS_MAX}; got ${describe(value)}`,
    );
  }
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A reservation or event id: a UUID, refused with NOT_FOUND-style clarity before the database sees it. */
export function checkUuid(value: unknown, field: string): string {
  if (typeof value !== 'string' || !UUID.test(value)) {
    fail(field, `must be the id a reservation or event was given (a UUID); got ${describe(value)}`);
  }
  return value.toLowerCase();
}

function checkThresholds(value: unknown): number[] {
  if (!Array.isArray(value) || value.length > BUDGET_THRESHOLDS_MAX) {
    fail(
      'thresholds',
      `must be an array of at most ${BUDGET_THRESHOLDS_MAX} percentages such as [50, 80, 100]`,
    );
  }
  const seen = new Set<number>();
  for (const [index, item] of value.entries()) {
    if (typeof item !== 'number' || !Number.isSafeInteger(item) || item < 1 || item > 1000) {
      fail(`thresholds[${index}]`, `must be a whole percentage from 1 to 1000; got ${describe(item)}`);
    }
    if (seen.has(item)) fail(`thresholds[${index}]`, `repeats ${item}; list each percentage once`);
    seen.add(item);
  }
  return [...seen].sort((a, b) => a - b);
}

function checkTimeZone(value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > 64) {
    fail('time_zone', `must be an IANA time zone name such as 'Europe/Paris'; got ${describe(value)}`);
  }
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
  } catch {
    fail(
      'time_zone',
      `${JSON.stringify(value)} is not a known IANA time zone; use a name such as 'America/New_York' or 'UTC'`,
    );
  }
  return value;
}

function optionalId(value: unknown, field: string): string | null {
  return value == null ? null : requireId(value, field, DEFAULT_LIMITS);
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? typeof value;
}

function fail(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}
