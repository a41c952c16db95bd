import { describeEachEngine } from '@execution-ledger/test-support';
import { describe, expect, it } from 'vitest';
import { DEMO_PROJECTS, syntheticRuns } from '../src/cli/synthetic-runs.js';

interface DemoStep {
  action: string;
  kind?: string;
  name?: string;
  model?: string;
  status?: string;
  error?: string;
  cost?: number;
  tokens?: { input: number; output: number };
}

const stepsOf = (run: ReturnType<typeof syntheticRuns>[number]) =>
  (run.execution_trace as { steps: DemoStep[] }).steps;
// Demo amounts are whole hundredths of a cent: compare them as integers.
const hundredths = (cents: number) => Math.round(cents * 100);

describe('the demo runs', () => {
  it('carry typed steps whose costs add up to each run total exactly', () => {
    const runs = syntheticRuns(300);
    for (const run of runs) {
      const steps = stepsOf(run);
      const total = (run.cost as { total: number }).total;
      expect(steps.every((step) => ['llm', 'tool', 'external'].includes(step.kind ?? ''))).toBe(true);
      expect(steps.reduce((sum, step) => sum + hundredths(step.cost ?? Number.NaN), 0)).toBe(
        hundredths(total),
      );
      // The planning call: the agent's model, with tokens; a failed run's last action failed.
      expect(steps[0]).toMatchObject({ kind: 'llm', action: 'plan', model: expect.any(String) });
      expect(steps[0]?.tokens?.input).toBeGreaterThan(0);
      const failedSteps = steps.filter((step) => step.status === 'error');
      expect(failedSteps.length).toBe(run.status === 'completed' ? 0 : 1);
    }
    // Four agents, four models, and external requests to a service in most runs.
    expect(new Set(runs.map((run) => stepsOf(run)[0]?.model)).size).toBe(4);
    expect(
      runs.filter((run) => stepsOf(run).some((step) => step.kind === 'external')).length,
    ).toBeGreaterThan(250);
  });

  it('are the same runs for the same count, so the demo replays', () => {
    expect(JSON.stringify(syntheticRuns(50))).toBe(JSON.stringify(syntheticRuns(50)));
    expect(syntheticRuns(50).map((run) => run.project_id)).toEqual(
      syntheticRuns(50).map((run) => run.project_id),
    );
    expect(new Set(syntheticRuns(200).map((run) => run.project_id))).toEqual(new Set(DEMO_PROJECTS));
  });
});

describeEachEngine('the demo runs in a ledger', (context) => {
  it('are accepted whole, and their cost by model and by tool adds up to their cost', async () => {
    const project = context.project('demo');
    const runs = syntheticRuns(120)
      .filter((run) => run.project_id === DEMO_PROJECTS[0])
      .map((run) => ({ ...run, project_id: project, run_id: `${project}-${run.run_id}` }));
    for (const result of await context.ledger.recordExecutions(runs)) expect(result.ok).toBe(true);
    const stats = await context.ledger.getProjectExecutionStats(project);
    expect(stats.total_executions).toBe(runs.length);
    const byModel = await context.ledger.getCostByModel({ projectId: project });
    const byTool = await context.ledger.getCostByTool({ projectId: project, limit: 3 });
    expect(byModel.top.map((group) => group.model).sort()).toEqual(
      ['claude-sonnet', 'gpt-4o', 'gpt-4o-mini', 'o3'].filter((model) =>
        runs.some((run) => stepsOf(run)[0]?.model === model),
      ),
    );
    expect(byTool.top).toHaveLength(3);
    expect(byTool.other?.steps).toBeGreaterThan(0);
    // Every step is a model call, a tool or an external request: the two views hold the whole cost.
    expect(hundredths(byModel.total.cost) + hundredths(byTool.total.cost)).toBe(hundredths(stats.total_cost));
  });
});
