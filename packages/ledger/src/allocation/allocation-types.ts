/** Which runs a rule (or a proportional target) covers; each list matches any of its ids, and all given lists must match. */
export interface AllocationScope {
  project_id?: string[];
  agent_id?: string[];
  user_id?: string[];
}

/**
 * What a rule splits: a part of the cost of the runs in its scope over the period (`total`, or a
 * `cost.breakdown` key such as `tokens`), or a shared pool with its own amount per period, in cents.
 */
export type AllocationSource = { part: string } | { pool: string; amount: number };

export type AllocationMethod = 'even' | 'fixed' | 'proportional';
export type AllocationBasis = 'cost' | 'tokens' | 'runs';

export interface AllocationTarget {
  /** The cost center charged. */
  cost_center: string;
  /** `fixed` only: this target's share in percent (up to six decimals; the shares add up to exactly 100). */
  percent?: number;
  /** `proportional` only: the runs whose cost, tokens or count weigh this target (within the rule's scope). */
  scope?: AllocationScope;
}

export interface AllocationRule {
  /** Unique within the rule set; names the rule in reports (AllocatedMethodId). */
  id: string;
  scope?: AllocationScope;
  source: AllocationSource;
  method: AllocationMethod;
  /** `proportional` only: what weighs each target. */
  basis?: AllocationBasis;
  targets: AllocationTarget[];
  /** Charged on top of the split, in percent (0 to 1,000, up to six decimals); default 0. */
  markup_percent?: number;
}

export interface AllocationRuleSetInput {
  /** The first day (UTC, YYYY-MM-DD) of the periods this version applies to when none is named. */
  effective_from: string;
  rules: AllocationRule[];
}

/** A published version: what was checked and stored, with the SHA-256 of its canonical JSON. */
export interface AllocationRuleSet {
  version: number;
  effective_from: string;
  /** Hex SHA-256 of the canonical JSON (RFC 8785) of `{ effective_from, rules }`. */
  hash: string;
  created_at: string;
  rules: AllocationRule[];
}

export interface AllocationReportOptions {
  /** A calendar month in UTC, YYYY-MM. */
  period: string;
  /** The version to apply; default the newest whose effective_from is on or before the period's first day. */
  ruleSetVersion?: number;
}

/** What one rule split: the source amount, its markup, and how many runs it came from. */
export interface AllocationSourceTotal {
  rule_id: string;
  /** `part:<name>` or `pool:<name>`. */
  source: string;
  method: AllocationMethod;
  basis: AllocationBasis | null;
  /** Cents split (the EffectiveCost lines of this rule add up to it exactly). */
  amount: number;
  /** Cents of markup (the markup of this rule's lines adds up to it exactly). */
  markup: number;
  /** Runs in the rule's scope in the period; null for a pool. */
  runs: number | null;
}

/** One cost center's share of one rule's source. */
export interface AllocationLine {
  rule_id: string;
  source: string;
  cost_center: string;
  method: AllocationMethod;
  basis: AllocationBasis | null;
  /** The weight the split used for this target, as exact decimal text (percent, cents, tokens, runs, or 1). */
  weight: string;
  /** Its share of the source, in cents. */
  effective_cost: number;
  /** Its share of the markup, in cents. */
  markup: number;
  /** What the cost center is charged: effective_cost plus markup. */
  billed_cost: number;
}

export interface AllocationCostCenterTotal {
  cost_center: string;
  effective_cost: number;
  markup: number;
  billed_cost: number;
}

export interface AllocationReport {
  period: string;
  /** ISO 8601 UTC, inclusive. */
  period_start: string;
  /** ISO 8601 UTC, exclusive. */
  period_end: string;
  rule_set: { version: number; hash: string; effective_from: string };
  sources: AllocationSourceTotal[];
  lines: AllocationLine[];
  cost_centers: AllocationCostCenterTotal[];
  totals: { effective_cost: number; markup: number; billed_cost: number };
}
