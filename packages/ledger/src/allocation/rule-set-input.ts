import {
  ALLOCATION_MARKUP_PERCENT_MAX,
  ALLOCATION_NAME_CHARS_MAX,
  ALLOCATION_RULES_MAX,
  ALLOCATION_SCOPE_IDS_MAX,
  ALLOCATION_TARGETS_MAX,
  DEFAULT_LIMITS,
} from '../bounds.js';
import { LedgerError } from '../errors.js';
import { centsToMicros, decimalTextToMicros } from '../money.js';
import { assertJsonText, preview } from '../plain-json.js';
import type {
  AllocationBasis,
  AllocationMethod,
  AllocationRule,
  AllocationRuleSetInput,
  AllocationScope,
  AllocationSource,
  AllocationTarget,
} from './allocation-types.js';

const METHODS: readonly AllocationMethod[] = ['even', 'fixed', 'proportional'];
const BASES: readonly AllocationBasis[] = ['cost', 'tokens', 'runs'];
const SCOPE_KEYS = ['project_id', 'agent_id', 'user_id'] as const;
/** Percentages are exact to six decimals: 100% is 100,000,000 of these units. */
export const PERCENT_UNITS = 1_000_000n;
const HUNDRED_PERCENT = 100n * PERCENT_UNITS;

function fail(field: string, message: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${message}`, { field });
}

function requireObject(value: unknown, field: string, example: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(field, `must be an object such as ${example}; got ${preview(value)}`);
  }
  return value as Record<string, unknown>;
}

function refuseUnknownKeys(value: Record<string, unknown>, field: string, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) fail(`${field}.${key}`, `is not a known key; use only ${known.join(', ')}`);
  }
}

function requireName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > ALLOCATION_NAME_CHARS_MAX) {
    fail(field, `must be text of 1 to ${ALLOCATION_NAME_CHARS_MAX} characters; got ${preview(value)}`);
  }
  assertJsonText(value, field);
  return value;
}

function requireArray(value: unknown, field: string, max: number, min = 1): unknown[] {
  if (!Array.isArray(value) || value.length < min || value.length > max) {
    fail(field, `must be a list of ${min} to ${max} items; got ${preview(value)}`);
  }
  return value;
}

/** A percentage as exact units of 10^-6 percent, from 0 to `max` percent. */
export function percentUnits(value: unknown, field: string, max: number): bigint {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    fail(field, `must be a number of percent from 0 to ${max}; got ${preview(value)}`);
  }
  const units = decimalTextToMicros(String(value));
  if (units === undefined) fail(field, `has more than six decimal places (${value}); round it`);
  return units;
}

function checkScope(value: unknown, field: string): AllocationScope {
  const scope = requireObject(value, field, '{ "project_id": ["proj-001"] }');
  refuseUnknownKeys(scope, field, SCOPE_KEYS);
  const checked: AllocationScope = {};
  for (const key of SCOPE_KEYS) {
    if (scope[key] === undefined) continue;
    const ids = requireArray(scope[key], `${field}.${key}`, ALLOCATION_SCOPE_IDS_MAX);
    checked[key] = ids.map((id, index) => requireName(id, `${field}.${key}[${index}]`));
  }
  if (Object.keys(checked).length === 0) {
    fail(field, 'names no project_id, agent_id or user_id; leave the scope out to cover every run');
  }
  return checked;
}

function checkSource(value: unknown, field: string): AllocationSource {
  const source = requireObject(
    value,
    field,
    '{ "part": "tokens" } or { "pool": "platform", "amount": 50000 }',
  );
  if ('part' in source) {
    refuseUnknownKeys(source, field, ['part']);
    return { part: requireName(source.part, `${field}.part`) };
  }
  if ('pool' in source) {
    refuseUnknownKeys(source, field, ['pool', 'amount']);
    const pool = requireName(source.pool, `${field}.pool`);
    centsToMicros(source.amount, `${field}.amount`, DEFAULT_LIMITS.cost_cents_max);
    return { pool, amount: source.amount as number };
  }
  return fail(
    field,
    'must name a cost part ({ "part": "total" }) or a pool ({ "pool": "name", "amount": cents })',
  );
}

function checkTarget(value: unknown, field: string, method: AllocationMethod): AllocationTarget {
  const target = requireObject(value, field, '{ "cost_center": "cc-research" }');
  refuseUnknownKeys(target, field, ['cost_center', 'percent', 'scope']);
  const checked: AllocationTarget = { cost_center: requireName(target.cost_center, `${field}.cost_center`) };
  if (method === 'fixed') {
    if (target.percent === undefined) fail(`${field}.percent`, 'is required by the fixed method');
    percentUnits(target.percent, `${field}.percent`, 100);
    checked.percent = target.percent as number;
  } else if (target.percent !== undefined) {
    fail(`${field}.percent`, `belongs to the fixed method only, not ${method}`);
  }
  if (method === 'proportional') {
    if (target.scope === undefined)
      fail(`${field}.scope`, 'is required by the proportional method: it says which runs weigh this target');
    checked.scope = checkScope(target.scope, `${field}.scope`);
  } else if (target.scope !== undefined) {
    fail(`${field}.scope`, `belongs to the proportional method only, not ${method}`);
  }
  return checked;
}

function checkRule(value: unknown, field: string): AllocationRule {
  const rule = requireObject(
    value,
    field,
    '{ "id": "shared-platform", "source": …, "method": "even", "targets": […] }',
  );
  refuseUnknownKeys(rule, field, ['id', 'scope', 'source', 'method', 'basis', 'targets', 'markup_percent']);
  const id = requireName(rule.id, `${field}.id`);
  if (!METHODS.includes(rule.method as AllocationMethod)) {
    fail(`${field}.method`, `must be one of ${METHODS.join(', ')}; got ${preview(rule.method)}`);
  }
  const method = rule.method as AllocationMethod;
  const checked: AllocationRule = {
    id,
    source: checkSource(rule.source, `${field}.source`),
    method,
    targets: [],
  };
  if (rule.scope !== undefined) checked.scope = checkScope(rule.scope, `${field}.scope`);
  if (method === 'proportional') {
    if (!BASES.includes(rule.basis as AllocationBasis)) {
      fail(
        `${field}.basis`,
        `must be one of ${BASES.join(', ')} for the proportional method; got ${preview(rule.basis)}`,
      );
    }
    checked.basis = rule.basis as AllocationBasis;
  } else if (rule.basis !== undefined) {
    fail(`${field}.basis`, `belongs to the proportional method only, not ${method}`);
  }
  const targets = requireArray(rule.targets, `${field}.targets`, ALLOCATION_TARGETS_MAX);
  checked.targets = targets.map((target, index) => checkTarget(target, `${field}.targets[${index}]`, method));
  const centers = new Set<string>();
  checked.targets.forEach((target, index) => {
    if (centers.has(target.cost_center)) {
      fail(
        `${field}.targets[${index}].cost_center`,
        `repeats ${JSON.stringify(target.cost_center)}; name each cost center once per rule`,
      );
    }
    centers.add(target.cost_center);
  });
  if (method === 'fixed') {
    const sum = checked.targets.reduce(
      (total, target) => total + percentUnits(target.percent, 'percent', 100),
      0n,
    );
    if (sum !== HUNDRED_PERCENT) {
      fail(
        `${field}.targets`,
        `percentages add up to ${Number(sum) / Number(PERCENT_UNITS)}, not exactly 100; adjust them`,
      );
    }
  }
  if (rule.markup_percent !== undefined) {
    percentUnits(rule.markup_percent, `${field}.markup_percent`, ALLOCATION_MARKUP_PERCENT_MAX);
    checked.markup_percent = rule.markup_percent as number;
  }
  return checked;
}

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A calendar date YYYY-MM-DD that exists. */
export function requireDateText(value: unknown, field: string): string {
  const match = typeof value === 'string' ? DATE_PATTERN.exec(value) : null;
  const date = match === null ? null : new Date(`${value as string}T00:00:00Z`);
  if (date === null || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value) {
    fail(field, `must be a date written YYYY-MM-DD, such as 2026-11-01; got ${preview(value)}`);
  }
  return value as string;
}

/**
 * Checks a rule set and returns it normalised: only known keys, in a fresh object, so what is
 * stored and hashed is exactly what was checked. Every problem is VALIDATION_FAILED naming the field.
 */
export function checkRuleSet(input: unknown): AllocationRuleSetInput {
  const given = requireObject(input, 'ruleSet', '{ "effective_from": "2026-11-01", "rules": […] }');
  refuseUnknownKeys(given, 'ruleSet', ['effective_from', 'rules']);
  const effectiveFrom = requireDateText(given.effective_from, 'effective_from');
  const rules = requireArray(given.rules, 'rules', ALLOCATION_RULES_MAX).map((rule, index) =>
    checkRule(rule, `rules[${index}]`),
  );
  const ids = new Set<string>();
  rules.forEach((rule, index) => {
    if (ids.has(rule.id))
      fail(`rules[${index}].id`, `repeats ${JSON.stringify(rule.id)}; give each rule its own id`);
    ids.add(rule.id);
  });
  return { effective_from: effectiveFrom, rules };
}
