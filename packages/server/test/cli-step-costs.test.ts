import { randomUUID } from 'node:crypto';
import { ENGINES, type EngineName, makeExecution } from '@execution-ledger/test-support';
import { describe, expect, it } from 'vitest';
import { useCliDatabase } from './support/cli-process.js';

const CLI_ENGINES: EngineName[] = ENGINES.includes('postgres') ? ['postgres'] : ['pglite'];

describe.each(CLI_ENGINES)('execution-ledger stats --by tool|model [%s]', (engine) => {
  const project = `proj-${randomUUID()}`;
  const cli = useCliDatabase(engine);

  it('prints step costs by tool and by model as tables and as JSON, and refuses another grouping', async () => {
    const run = makeExecution(project, {
      cost: 12.000001,
      execution_trace: {
        steps: [
          { action: 'deploy', kind: 'tool', name: 'deploy', duration_ms: 5, cost: 9 },
          {
            action: 'plan',
            kind: 'llm',
            model: 'gpt-4o',
            tokens: { input: 1200, output: 300 },
            duration_ms: 5,
            cost: 3.000001,
          },
        ],
        duration_ms: 10,
      },
    });
    expect((await cli(['record'], JSON.stringify(run))).code).toBe(0);
    const byTool = JSON.parse((await cli(['--json', 'stats', '--project', project, '--by', 'tool'])).stdout);
    expect(byTool.top).toMatchObject([{ kind: 'tool', name: 'deploy', steps: 1, cost: 9 }]);
    const byModel = JSON.parse(
      (await cli(['--json', 'stats', '--project', project, '--by', 'model'])).stdout,
    );
    expect(byModel.top).toMatchObject([{ model: 'gpt-4o', input_tokens: 1200, cost: 3.000001 }]);
    const table = await cli(['stats', '--project', project, '--by', 'model']);
    expect(table.stdout).toMatch(/^model\s+steps\s+input_tokens\s+output_tokens\s+cost/);
    expect(table.stdout).toContain('gpt-4o');
    const refused = await cli(['stats', '--project', project, '--by', 'agent']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/tool, model/);
  });
});
