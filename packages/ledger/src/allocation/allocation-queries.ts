import assert from 'node:assert/strict';
import type { Queryable } from '../db/database.js';
import type { JsonObject } from '../plain-json.js';
import type { AllocationScope } from './allocation-types.js';

export interface RuleSetRow {
  version: number;
  effective_from: string;
  body: JsonObject;
  body_hash: string;
  created_at: string;
}

const RULE_SET_COLUMNS = `s.version, to_char(s.effective_from, 'YYYY-MM-DD') as effective_from, s.body,
  encode(s.body_hash, 'hex') as body_hash,
  to_char(s.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at`;

/** Appends a checked rule set through the database's append function; the version is the next one. */
export async function insertRuleSet(
  q: Queryable,
  effectiveFrom: string,
  bodyText: string,
  hash: Buffer,
): Promise<{ version: number; created_at: string }> {
  const rows = await q.query<{ r_version: number; r_created_at: string }>(
    'select * from execution_ledger.append_allocation_rule_set($1::date, $2::jsonb, $3::bytea)',
    [effectiveFrom, bodyText, hash],
  );
  const row = rows[0];
  assert(row !== undefined, 'append_allocation_rule_set returned no row');
  return { version: Number(row.r_version), created_at: row.r_created_at };
}

export async function selectRuleSet(q: Queryable, version: number): Promise<RuleSetRow | undefined> {
  const rows = await q.query<RuleSetRow>(
    `select ${RULE_SET_COLUMNS} from execution_ledger.allocation_rule_sets s where s.version = $1`,
    [version],
  );
  return rows[0];
}

/** The newest version in effect on `day` (YYYY-MM-DD). */
export async function selectEffectiveRuleSet(q: Queryable, day: string): Promise<RuleSetRow | undefined> {
  const rows = await q.query<RuleSetRow>(
    `select ${RULE_SET_COLUMNS} from execution_ledger.allocation_rule_sets s
     where s.effective_from <= $1::date order by s.version desc limit 1`,
    [day],
  );
  return rows[0];
}

export async function selectRuleSets(q: Queryable): Promise<RuleSetRow[]> {
  return q.query<RuleSetRow>(
    `select ${RULE_SET_COLUMNS} from execution_ledger.allocation_rule_sets s order by s.version`,
  );
}

/** Sums of the runs in one scope and range, as exact decimal text. */
export interface ScopeUsage {
  runs: string;
  cost: string;
  part: string;
  tokens: string;
}

const numberAt = (path: string) =>
  `case when jsonb_typeof(${path}) = 'number' then (${path})::text::numeric else 0 end`;

// A step's tokens are input plus output (cached_input is a part of input). Free-form steps may
// carry anything under these keys: only numbers count.
const STEP_TOKENS = `(select coalesce(sum(${numberAt("s -> 'tokens' -> 'input'")} + ${numberAt("s -> 'tokens' -> 'output'")}), 0)
  from jsonb_array_elements(case when jsonb_typeof(e.execution_trace_json -> 'steps') = 'array'
    then e.execution_trace_json -> 'steps' else '[]'::jsonb end) as s
  where jsonb_typeof(s) = 'object')`;

function usageSql(withTokens: boolean): string {
  return `select count(*)::text as runs, coalesce(sum(e.cost_total), 0)::text as cost,
      coalesce(sum(case when $6::text = 'total' then e.cost_total
        else ${numberAt("e.cost_json -> 'breakdown' -> $6::text")} end), 0)::text as part,
      ${withTokens ? `coalesce(sum(${STEP_TOKENS}), 0)::text` : `'0'`} as tokens
    from execution_ledger.executions e
    where e.created_at >= $1::timestamptz and e.created_at < $2::timestamptz
      and ($3::text[] is null or e.project_id = any($3::text[]))
      and ($4::text[] is null or e.agent_id = any($4::text[]))
      and ($5::text[] is null or e.user_id = any($5::text[]))`;
}

/** Runs, cost, one cost part and (when asked) step tokens of the runs in `scope` over [start, end). */
export async function queryScopeUsage(
  q: Queryable,
  range: { start: string; end: string },
  scope: AllocationScope,
  part: string,
  withTokens: boolean,
): Promise<ScopeUsage> {
  const rows = await q.query<ScopeUsage>(usageSql(withTokens), [
    range.start,
    range.end,
    scope.project_id ?? null,
    scope.agent_id ?? null,
    scope.user_id ?? null,
    part,
  ]);
  const row = rows[0];
  assert(row !== undefined, 'an aggregate returns one row');
  return row;
}
