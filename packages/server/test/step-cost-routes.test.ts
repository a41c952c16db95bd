import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { beforeAll, expect, it } from 'vitest';
import { useServer } from './support/server-harness.js';

const step = (name: string, kind: string, cost: number, model?: string) => ({
  action: name,
  kind,
  name,
  ...(model === undefined ? {} : { model, tokens: { input: 100, output: 10, cached_input: 0 } }),
  duration_ms: 5,
  cost,
});

describeEachEngine('HTTP step costs by tool and by model', (context) => {
  const server = useServer(context);
  let project = '';
  let reader = { authorization: '', id: '' };

  beforeAll(async () => {
    project = context.project();
    await context.ledger.recordExecution(
      makeExecution(project, {
        cost: 10.5,
        execution_trace: {
          steps: [step('deploy', 'tool', 7), step('plan', 'llm', 3.5, 'gpt-4o')],
          duration_ms: 10,
        },
      }),
    );
    await context.ledger.recordExecution(
      makeExecution(project, {
        agent_id: 'ops',
        status: 'failed',
        error_message: 'boom',
        cost: 2,
        execution_trace: { steps: [step('stripe', 'external', 2)], duration_ms: 10 },
      }),
    );
    reader = await server.key('read', [project]);
  });

  const get = (url: string) =>
    server.send({ method: 'GET', url, headers: { authorization: reader.authorization } });

  it('answers cost by tool and by model as the library does, with filters', async () => {
    const byTool = await get(`/v1/projects/${project}/costs/by-tool`);
    expect(byTool.statusCode).toBe(200);
    expect(byTool.json()).toEqual(await context.ledger.getCostByTool({ projectId: project }));
    expect(byTool.json().top.map((group: { name: string }) => group.name)).toEqual(['deploy', 'stripe']);
    const failedOnly = (await get(`/v1/projects/${project}/costs/by-tool?status=failed&limit=1`)).json();
    expect(failedOnly.top).toMatchObject([{ kind: 'external', name: 'stripe', cost: 2 }]);
    const llm = (await get(`/v1/projects/${project}/costs/by-tool?kind=llm`)).json();
    expect(llm.top).toMatchObject([{ kind: 'llm', name: 'plan', cost: 3.5 }]);
    const byModel = (await get(`/v1/projects/${project}/costs/by-model?agent_id=backend`)).json();
    expect(byModel.top).toMatchObject([{ model: 'gpt-4o', steps: 1, input_tokens: 100, cost: 3.5 }]);
  });

  it('answers a time series by tool or model, and refuses a bad group', async () => {
    const start = new Date(Date.now() - 86_400_000).toISOString();
    const end = new Date(Date.now() + 3_600_000).toISOString();
    const series = await get(
      `/v1/projects/${project}/costs/timeseries?group_by=model&bucket=day&start=${start}&end=${end}&time_zone=Asia/Kolkata`,
    );
    expect(series.statusCode).toBe(200);
    const points = series.json().points.filter((point: { steps: number }) => point.steps > 0);
    expect(points).toMatchObject([{ key: 'gpt-4o', cost: 3.5 }]);
    const bad = await get(
      `/v1/projects/${project}/costs/timeseries?group_by=agent&bucket=day&start=${start}&end=${end}`,
    );
    expect(bad.statusCode).toBe(400);
  });
});
