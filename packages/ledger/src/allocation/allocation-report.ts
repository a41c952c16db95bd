import assert from 'node:assert/strict';
import { DEFAULT_LIMITS } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import { LedgerError } from '../errors.js';
import { canonicalJson, hashCanonicalText } from '../format/canonical-json.js';
import { centsToMicros, decimalTextToMicros, microsToCents, microsToDecimalText } from '../money.js';
import type { JsonValue } from '../plain-json.js';
import { preview } from '../plain-json.js';
import {
  insertRuleSet,
  queryScopeUsage,
  type RuleSetRow,
  selectEffectiveRuleSet,
  selectRuleSet,
} from './allocation-queries.js';
import type {
  AllocationCostCenterTotal,
  AllocationLine,
  AllocationReport,
  AllocationReportOptions,
  AllocationRule,
  AllocationRuleSet,
  AllocationRuleSetInput,
  AllocationScope,
  AllocationSourceTotal,
} from './allocation-types.js';
import { splitExactly } from './exact-split.js';
import { checkRuleSet, PERCENT_UNITS, percentUnits } from './rule-set-input.js';

const HUNDRED_PERCENT = 100n * PERCENT_UNITS;

/** The SHA-256 (hex) of a checked rule set's canonical JSON, and that JSON. */
export function hashRuleSet(body: AllocationRuleSetInput): { text: string; hash: Buffer } {
  const text = canonicalJson(body as unknown as JsonValue);
  return { text, hash: hashCanonicalText(text) };
}

/** Checks, hashes and appends a rule set as the next version. */
export async function publishRuleSet(q: Queryable, input: unknown): Promise<AllocationRuleSet> {
  const body = checkRuleSet(input);
  const { text, hash } = hashRuleSet(body);
  const stored = await insertRuleSet(q, body.effective_from, text, hash);
  return {
    version: stored.version,
    effective_from: body.effective_from,
    hash: hash.toString('hex'),
    created_at: stored.created_at,
    rules: body.rules,
  };
}

/** A stored version, its hash checked against its content; the newest when `version` is undefined. */
export async function loadRuleSet(q: Queryable, version: number | undefined): Promise<AllocationRuleSet> {
  if (version !== undefined) requireVersion(version);
  const row =
    version === undefined ? await selectEffectiveRuleSet(q, '9999-12-31') : await selectRuleSet(q, version);
  if (row === undefined) {
    throw new LedgerError(
      'RULE_SET_NOT_FOUND',
      version === undefined
        ? 'no allocation rule set was published yet; publish one with publishAllocationRuleSet()'
        : `ruleSetVersion ${version}: no allocation rule set with this version was published; list the versions with listAllocationRuleSets()`,
      { field: 'ruleSetVersion' },
    );
  }
  return toRuleSet(row);
}

/** Turns a stored row into a rule set, refusing one whose content no longer matches its hash. */
export function toRuleSet(row: RuleSetRow): AllocationRuleSet {
  const body = row.body as unknown as AllocationRuleSetInput;
  const { hash } = hashRuleSet({ effective_from: row.effective_from, rules: body.rules });
  if (hash.toString('hex') !== row.body_hash || body.effective_from !== row.effective_from) {
    throw new LedgerError(
      'RULE_SET_MISMATCH',
      `allocation rule set version ${row.version} no longer matches its stored hash ${row.body_hash}: it was ` +
        'changed past the append-only guards; restore it from a backup or an export before reporting with it',
      { details: { version: row.version } },
    );
  }
  return {
    version: Number(row.version),
    effective_from: row.effective_from,
    hash: row.body_hash,
    created_at: row.created_at,
    rules: body.rules,
  };
}

function requireVersion(version: unknown): number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `ruleSetVersion must be a whole number of 1 or more; got ${preview(version)}`,
      { field: 'ruleSetVersion' },
    );
  }
  return version;
}

const PERIOD_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** A month YYYY-MM as the half-open UTC range [first day, first day of the next month). */
export function periodRange(period: unknown): { start: string; end: string; firstDay: string } {
  const match = typeof period === 'string' ? PERIOD_PATTERN.exec(period) : null;
  if (match === null) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `period must be a month written YYYY-MM, such as 2026-11; got ${preview(period)}`,
      { field: 'period' },
    );
  }
  const year = Number(match[1]);
  const month = Number(match[2]);
  const start = new Date(Date.UTC(year, month - 1, 1));
  const end = new Date(Date.UTC(year, month, 1));
  return { start: start.toISOString(), end: end.toISOString(), firstDay: start.toISOString().slice(0, 10) };
}

/** Applies one version of the rules to one month of runs; every split adds up to its source exactly. */
export async function buildAllocationReport(
  q: Queryable,
  options: AllocationReportOptions,
): Promise<AllocationReport> {
  if (typeof options !== 'object' || options === null) {
    throw new LedgerError('VALIDATION_FAILED', 'options must be an object such as { period: "2026-11" }', {
      field: 'options',
    });
  }
  const range = periodRange(options.period);
  let ruleSet: AllocationRuleSet;
  if (options.ruleSetVersion === undefined) {
    const row = await selectEffectiveRuleSet(q, range.firstDay);
    if (row === undefined) {
      throw new LedgerError(
        'RULE_SET_NOT_FOUND',
        `no allocation rule set is effective for the period ${options.period}: publish one with effective_from on or ` +
          `before ${range.firstDay}, or name a version with ruleSetVersion`,
        { field: 'period' },
      );
    }
    ruleSet = toRuleSet(row);
  } else {
    ruleSet = await loadRuleSet(q, requireVersion(options.ruleSetVersion));
  }
  const sources: AllocationSourceTotal[] = [];
  const lines: ExactLine[] = [];
  for (const rule of ruleSet.rules) {
    const applied = await applyRule(q, range, rule);
    sources.push(applied.source);
    lines.push(...applied.lines);
  }
  return {
    period: options.period,
    period_start: range.start,
    period_end: range.end,
    rule_set: { version: ruleSet.version, hash: ruleSet.hash, effective_from: ruleSet.effective_from },
    sources,
    lines: lines.map((exact) => exact.line),
    cost_centers: costCenterTotals(lines),
    totals: totalsOf(lines),
  };
}

/** A line with its amounts as exact micro-cents, so totals never add numbers. */
interface ExactLine {
  line: AllocationLine;
  effective: bigint;
  markup: bigint;
}

async function applyRule(
  q: Queryable,
  range: { start: string; end: string },
  rule: AllocationRule,
): Promise<{ source: AllocationSourceTotal; lines: ExactLine[] }> {
  const ruleScope = rule.scope ?? {};
  let amount: bigint;
  let runs: number | null = null;
  let sourceName: string;
  if ('part' in rule.source) {
    const usage = await queryScopeUsage(q, range, ruleScope, rule.source.part, false);
    amount = exactMicros(usage.part);
    runs = Number(usage.runs);
    sourceName = `part:${rule.source.part}`;
  } else {
    amount = centsToMicros(rule.source.amount, 'source.amount', DEFAULT_LIMITS.cost_cents_max);
    sourceName = `pool:${rule.source.pool}`;
  }
  const weights = await weighTargets(q, range, rule, ruleScope);
  const markupUnits =
    rule.markup_percent === undefined ? 0n : percentUnits(rule.markup_percent, 'markup_percent', 1_000);
  // Rounded half up once per source, then split like the source: both add up exactly.
  const markup = (amount * markupUnits + HUNDRED_PERCENT / 2n) / HUNDRED_PERCENT;
  const amounts = weights.map((weight) => weight.value);
  const shares = splitExactly(amount, amounts);
  const markups = splitExactly(markup, amounts);
  const basis = rule.basis ?? null;
  const lines = rule.targets.map((target, index): ExactLine => {
    const share = shares[index] ?? 0n;
    const extra = markups[index] ?? 0n;
    const line: AllocationLine = {
      rule_id: rule.id,
      source: sourceName,
      cost_center: target.cost_center,
      method: rule.method,
      basis,
      weight: weights[index]?.text ?? '0',
      effective_cost: microsToCents(share),
      markup: microsToCents(extra),
      billed_cost: microsToCents(share + extra),
    };
    return { line, effective: share, markup: extra };
  });
  return {
    source: {
      rule_id: rule.id,
      source: sourceName,
      method: rule.method,
      basis,
      amount: microsToCents(amount),
      markup: microsToCents(markup),
      runs,
    },
    lines,
  };
}

async function weighTargets(
  q: Queryable,
  range: { start: string; end: string },
  rule: AllocationRule,
  ruleScope: AllocationScope,
): Promise<{ value: bigint; text: string }[]> {
  if (rule.method === 'even') return rule.targets.map(() => ({ value: 1n, text: '1' }));
  if (rule.method === 'fixed') {
    return rule.targets.map((target) => {
      const units = percentUnits(target.percent, 'percent', 100);
      return { value: units, text: microsToDecimalText(units) };
    });
  }
  const weights: { value: bigint; text: string }[] = [];
  for (const target of rule.targets) {
    const usage = await queryScopeUsage(
      q,
      range,
      intersect(ruleScope, target.scope ?? {}),
      'total',
      rule.basis === 'tokens',
    );
    if (rule.basis === 'cost') {
      const micros = exactMicros(usage.cost);
      weights.push({ value: micros, text: microsToDecimalText(micros) });
    } else {
      // Whole tokens: a free-form step may carry a fraction, which weighs nothing.
      const count = BigInt((rule.basis === 'tokens' ? usage.tokens : usage.runs).split('.')[0] ?? '0');
      weights.push({ value: count, text: count.toString() });
    }
  }
  return weights;
}

/** Both scopes at once: a key given in both keeps only the ids in both (possibly none). */
function intersect(a: AllocationScope, b: AllocationScope): AllocationScope {
  const scope: AllocationScope = {};
  for (const key of ['project_id', 'agent_id', 'user_id'] as const) {
    const left = a[key];
    const right = b[key];
    if (left !== undefined && right !== undefined) scope[key] = left.filter((id) => right.includes(id));
    else if (left !== undefined || right !== undefined) scope[key] = (left ?? right) as string[];
  }
  return scope;
}

function exactMicros(text: string): bigint {
  const micros = decimalTextToMicros(text);
  assert(micros !== undefined, 'sums of amounts with six decimals have six decimals');
  return micros;
}

function costCenterTotals(lines: ExactLine[]): AllocationCostCenterTotal[] {
  const byCenter = new Map<string, ExactLine[]>();
  for (const exact of lines) {
    const center = exact.line.cost_center;
    byCenter.set(center, [...(byCenter.get(center) ?? []), exact]);
  }
  return [...byCenter.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([costCenter, centerLines]) => ({ cost_center: costCenter, ...totalsOf(centerLines) }));
}

/** Sums of lines, added as exact micro-cents. */
function totalsOf(lines: ExactLine[]): { effective_cost: number; markup: number; billed_cost: number } {
  let effective = 0n;
  let markup = 0n;
  for (const exact of lines) {
    effective += exact.effective;
    markup += exact.markup;
  }
  return {
    effective_cost: microsToCents(effective),
    markup: microsToCents(markup),
    billed_cost: microsToCents(effective + markup),
  };
}
