import type { Ledger, StepCostBreakdown, StepCostGroupBy, StepCostOptions } from 'execution-ledger';
import { dollars, printJson, printTable } from '../cli-output.js';

export interface StepCostCommandOptions {
  project?: string;
  agent?: string;
  since?: Date;
  until?: Date;
  limit?: number;
}

/** `stats --by tool|model`: the costliest tools or models of the scope, then the rest as other. */
export async function printStepCosts(
  ledger: Ledger,
  groupBy: StepCostGroupBy,
  options: StepCostCommandOptions,
  json: boolean,
): Promise<void> {
  const query: StepCostOptions = {};
  if (options.project !== undefined) query.projectId = options.project;
  if (options.agent !== undefined) query.agentId = options.agent;
  if (options.since !== undefined) query.start = options.since;
  if (options.until !== undefined) query.end = options.until;
  if (options.limit !== undefined) query.limit = options.limit;
  const breakdown =
    groupBy === 'tool' ? await ledger.getCostByTool(query) : await ledger.getCostByModel(query);
  if (json) return printJson(breakdown);
  printTable(stepCostRows(breakdown), [
    groupBy === 'tool' ? 'tool' : 'model',
    ...(groupBy === 'tool' ? ['kind'] : []),
    'steps',
    'input_tokens',
    'output_tokens',
    'cost',
  ]);
}

function stepCostRows(breakdown: StepCostBreakdown): Record<string, string | number>[] {
  const label = breakdown.group_by === 'tool' ? 'tool' : 'model';
  const rows: Record<string, string | number>[] = breakdown.top.map((group) => ({
    [label]: (breakdown.group_by === 'tool' ? group.name : group.model) ?? '(unnamed)',
    kind: group.kind ?? '',
    steps: group.steps,
    input_tokens: group.input_tokens,
    output_tokens: group.output_tokens,
    cost: dollars(group.cost),
  }));
  const { other, total } = breakdown;
  if (other !== null) {
    rows.push({
      [label]: `(${other.groups} other)`,
      kind: '',
      steps: other.steps,
      input_tokens: other.input_tokens,
      output_tokens: other.output_tokens,
      cost: dollars(other.cost),
    });
  }
  if (rows.length > 0) {
    rows.push({
      [label]: '(total)',
      kind: '',
      steps: total.steps,
      input_tokens: total.input_tokens,
      output_tokens: total.output_tokens,
      cost: dollars(total.cost),
    });
  }
  return rows;
}
